"""A real BigQuery emulator (bqemulator: REST + Storage Read API) on 127.0.0.1, in its own venv.

The venv (.venv-bq at the repository root) is created on first use from
emulator-requirements.txt; DuckDB's spatial extension, which bqemulator loads at start and DuckDB
cannot download here, is placed in the extension folder of a HOME of the emulator's own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-bq"
REQUIREMENTS = Path(__file__).with_name("emulator-requirements.txt")
PROJECT = "test-project"


@dataclass(frozen=True)
class Emulator:
    project: str
    rest: str  # http://127.0.0.1:port
    grpc: str  # 127.0.0.1:port
    gcs_root: Path  # where the emulator puts what EXPORT DATA writes to gs://bucket/...

    def client(self):
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        return bigquery.Client(project=self.project, credentials=AnonymousCredentials(), client_options={"api_endpoint": self.rest})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _emulator_venv() -> Path:
    """The emulator's venv, installed once (pinned) when missing or out of date."""
    marker = VENV / "requirements.installed"
    binary = VENV / "bin" / "bqemulator"
    if binary.exists() and marker.exists() and marker.read_text() == REQUIREMENTS.read_text():
        return binary
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "-r", str(REQUIREMENTS)], check=True)
    marker.write_text(REQUIREMENTS.read_text())
    return binary


def _home_with_spatial(home: Path) -> Path:
    found = sorted(VENV.glob("lib/python*/site-packages/duckdb_extension_spatial/extensions/*/spatial.duckdb_extension"))
    if not found:
        raise RuntimeError("duckdb-extension-spatial is not installed in .venv-bq")
    version = found[0].parent.name  # e.g. v1.5.5
    target = home / ".duckdb" / "extensions" / version / "linux_amd64"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(found[0], target / found[0].name)
    return home


@pytest.fixture(scope="session")
def bq_emulator(tmp_path_factory):
    binary = _emulator_venv()
    root = tmp_path_factory.mktemp("bq")
    home = _home_with_spatial(root / "home")
    gcs_root = root / "gcs"
    gcs_root.mkdir()
    rest_port, grpc_port = _free_port(), _free_port()
    env = {**os.environ, "HOME": str(home), "BQEMU_GCS_LOCAL_ROOT": str(gcs_root)}
    with open(root / "emulator.log", "wb") as log:  # the emulator writes through its own copy of the handle
        process = subprocess.Popen(
            [str(binary), "start", "--rest-port", str(rest_port), "--grpc-port", str(grpc_port), "--project", PROJECT,
             "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    rest = f"http://127.0.0.1:{rest_port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{rest}/bigquery/v2/projects/{PROJECT}/datasets", timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"bqemulator did not start; see {root / 'emulator.log'}")
            time.sleep(0.2)
    saved = {name: os.environ.get(name) for name in ("BIGQUERY_EMULATOR_HOST", "BIGQUERY_STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT")}
    os.environ.update(BIGQUERY_EMULATOR_HOST=rest, BIGQUERY_STORAGE_EMULATOR_HOST=f"127.0.0.1:{grpc_port}", GOOGLE_CLOUD_PROJECT=PROJECT)
    yield Emulator(PROJECT, rest, f"127.0.0.1:{grpc_port}", gcs_root)
    process.terminate()
    process.wait(timeout=10)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
