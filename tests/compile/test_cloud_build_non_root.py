"""cloudbuild.yaml's steps that run the trainer image, run the way Cloud Build runs them: as the
image's non-root user, in a root-owned workspace holding the sources, with a HOME it cannot write
(Cloud Build's /builder/home; GoogleCloudPlatform/cloud-builders#927). The root step that makes
their output folder runs as root. This machine's Python stands in for the image's (the image
installs the same package and pins): the system's interpreter of the same Python version, seeing
this environment's packages, since this environment's own interpreter may live where the user
cannot reach. The template upload goes to a local stand-in of Artifact Registry. Needs root (to
create the user and switch to it); skipped otherwise, as inside the image."""

from __future__ import annotations

import email.parser
import email.policy
import os
import pwd
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SUBSTITUTIONS = {"_REGION": "europe-west4", "_REPOSITORY": "recs", "_KFP_REPOSITORY": "recs-pipelines", "_VERSION": "0.1.0",
                 "_VARIANT": "cpu", "PROJECT_ID": "shop", "BUILD_ID": "b-1", "SHORT_SHA": "", "_IMAGE": "r/recs-pipeline-trainer"}

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create the image's user and switch to it")]


def substitute(text: str) -> str:
    """As Cloud Build hands a step its arguments: ${NAME} replaced, `$$` unescaped to `$`."""
    text = text.replace("$$", "\0")
    return re.sub(r"\$\{(\w+)\}", lambda m: SUBSTITUTIONS.get(m.group(1), ""), text).replace("\0", "$")


def image_user() -> tuple[int, str]:
    """The uid the Dockerfile's USER names, and the ENV it sets (as NAME=VALUE lines)."""
    dockerfile = (ROOT / "trainer_image" / "Dockerfile").read_text()
    uid = int(re.search(r"^USER (\d+)$", dockerfile, re.MULTILINE).group(1))
    env_block = re.search(r"^ENV (.+?)(?<!\\)$", dockerfile, re.MULTILINE | re.DOTALL).group(1)
    return uid, env_block.replace("\\\n", " ")


def ensure_user(uid: int) -> pwd.struct_passwd:
    """A user with the image's uid, as `useradd --uid` makes it in the image (kept afterwards: harmless, reused)."""
    try:
        return pwd.getpwuid(uid)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--uid", str(uid), "--user-group", "--shell", "/usr/sbin/nologin", "recs-build"],
                       check=True)
        return pwd.getpwuid(uid)


def image_python(folder: Path) -> Path:
    """A bin folder with `python`, `pip` and `recs-pipeline` that any user can run: a venv of the
    system's python of this version, whose site folder adds this environment's packages."""
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.exists():
        pytest.skip(f"no {system} to run as another user")
    subprocess.run([str(system), "-m", "venv", "--without-pip", str(folder)], check=True)
    site = next(folder.glob("lib/python*/site-packages"))
    (site / "recs-environment.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    entry_points = {"recs-pipeline": "from recs_pipeline.cli import main\nmain()", "pip": "from pip._internal.cli.main import main\nmain()"}
    for name, code in entry_points.items():
        script = folder / "bin" / name
        script.write_text(f"#!{folder / 'bin' / 'python'}\nimport sys\n{code}\n")
        script.chmod(0o755)
    return folder / "bin"


@pytest.fixture
def workspace():
    """/workspace as Cloud Build makes it: root-owned, the sources copied in; and a root-owned HOME."""
    top = Path(tempfile.mkdtemp(prefix="recs-cloud-build-"))
    top.chmod(0o755)
    space, home = top / "workspace", top / "builder-home"
    python_bin = image_python(top / "image-python")
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (space / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, space / name)
    home.mkdir()
    for folder in (space, home, *space.rglob("*"), *top.glob("image-python/**")):
        if folder.is_dir():
            folder.chmod(0o755)
    yield space, home, python_bin
    shutil.rmtree(top, ignore_errors=True)


def test_the_image_steps_pass_as_the_non_root_user_in_a_root_owned_workspace(workspace, http_stand_in):
    space, home, python_bin = workspace
    uid, image_env = image_user()
    user = ensure_user(uid)
    uploads = []

    def registry(method, path, headers, body):
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
            f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode() + body)
        uploads.append({part.get_param("name", header="content-disposition"): part.get_content() for part in message.iter_parts()})
        return b"two-tower-retrieval/sha256:0123abcd", "text/plain"

    host = http_stand_in(registry)
    build = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    image = substitute("${_IMAGE}:${BUILD_ID}-${_VARIANT}")
    # what the image sets, plus how this machine reaches a package index (Cloud Build's steps reach PyPI directly)
    network = {key: value for key, value in os.environ.items() if key.startswith("PIP_") or "PROXY" in key.upper()
               or key in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE")}
    base_env = {**network, **dict(pair.split("=", 1) for pair in image_env.split()),
                "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home)}
    ran = []
    for step in build["steps"]:
        in_image = substitute(step["name"]) == image
        if not in_image and step["id"] != "out-folder":
            continue  # docker build / push: need a Docker engine
        command = [substitute(step.get("entrypoint", ""))] + [substitute(arg) for arg in step.get("args", [])]
        command = [part.replace("/workspace", str(space)) for part in command]
        if step["id"] == "upload-template":
            command = [part.replace("recs-pipeline upload-template", f"recs-pipeline upload-template --host {host}") for part in command]
        env = {**base_env, **dict(pair.split("=", 1) for pair in step.get("env", []))}
        as_user = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"] if in_image else []
        result = subprocess.run([*as_user, *command], cwd=space, env=env, capture_output=True, text=True, timeout=1800, check=False)
        failures = [line for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR", "E "))][:40]
        assert result.returncode == 0, (step["id"], failures, result.stdout[-4000:], result.stderr[-4000:])
        ran.append(step["id"])
    assert ran == ["out-folder", "version-matches", "unit-tests-in-image", "compile", "upload-template"]
    compiled = space / "out" / "two_tower_pipeline.yaml"
    assert compiled.stat().st_uid == uid and image in compiled.read_text()
    assert all((space / path).is_file() for path in build["artifacts"]["objects"]["paths"])  # what Cloud Build keeps
    (upload,) = uploads
    assert upload["tags"] == "v0.1.0,latest,build-b-1"
    # nothing but the output folder was written: the workspace and HOME stay as they were
    assert {p.name for p in home.iterdir()} == set()
    assert not [p for p in space.rglob("*") if p.stat().st_uid == uid and not p.is_relative_to(space / "out")]
