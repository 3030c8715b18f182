"""What can be checked of the trainer image without a Docker engine."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_runtime_dependency_is_pinned_for_the_image():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in (ROOT / "trainer_image" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pins, f"{name} is a dependency but not pinned in trainer_image/constraints.txt"


def test_dockerfile_installs_the_package_as_non_root_with_legacy_keras():
    dockerfile = (ROOT / "trainer_image" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim", dockerfile, re.M)  # an exact base version
    assert "pip install -c trainer_image/constraints.txt" in dockerfile
    assert "TF_USE_LEGACY_KERAS=1" in dockerfile
    assert re.search(r"^USER 10001$", dockerfile, re.M)
    for folder in ("trainer_image/recs_pipeline", "components", "pipelines"):
        assert f"COPY {folder} {folder}" in dockerfile
    assert "pip install -U" not in dockerfile and ":latest" not in dockerfile


def test_cloud_build_tests_compiles_against_its_own_image_and_uploads_the_template():
    import yaml

    build = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    steps = {step["id"]: step for step in build["steps"]}
    assert list(steps) == ["build", "version-matches", "unit-tests-in-image", "compile", "upload-template"]
    image = "${_REGION}-docker.pkg.dev/${PROJECT_ID}/${_REPOSITORY}/recs-pipeline-trainer:${SHORT_SHA}"
    assert image in steps["build"]["args"] and image.replace("${SHORT_SHA}", "${_VERSION}") in steps["build"]["args"]
    for later in ("version-matches", "unit-tests-in-image", "compile", "upload-template"):
        assert steps[later]["name"] == image  # each later step runs inside the image just built
    assert steps["compile"]["args"][-2:] == ["--image", image]
    upload = steps["upload-template"]["args"]
    assert upload[:2] == ["upload-template", "/workspace/two_tower_pipeline.yaml"]
    assert upload[upload.index("--repository") + 1] == "${_KFP_REPOSITORY}" and "${SHORT_SHA}" in upload
    assert set(build["substitutions"]) == {"_REGION", "_REPOSITORY", "_KFP_REPOSITORY", "_VERSION", "_VARIANT"}


def test_hadolint_finds_nothing():
    import shutil
    import subprocess
    import sys

    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, "--no-color", str(ROOT / "trainer_image" / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
