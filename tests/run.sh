#!/usr/bin/env bash
# Everything the test suite needs on a fresh machine (Python 3.11 + pip), then the linter and the suite itself.
# Debian's chromium is installed for the browser tests when it is missing (needs root or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  as_root=""
  [ "$(id -u)" = 0 ] || as_root="sudo"
  $as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq chromium >/dev/null
fi
python3 -m venv .venv
.venv/bin/pip install -q -e ".[train,test]"
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
