"""What can be checked of the trainer image without a Docker engine."""

import re
from pathlib import Path

from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


# Not pinned: the package itself (installed from the copied source), and pip's own tools, which the
# base image has and `pip freeze` leaves out.
NOT_PINNED = {"recs-pipeline", "setuptools", "wheel", "pip"}


def test_every_runtime_dependency_is_pinned_for_the_image(readme_install):
    """Everything the train extra brings, down to the dependencies of dependencies, at one version:
    one left out would be installed at whatever version pip picks the day the image is built."""
    pins = {canonicalize_name(line.partition("==")[0])
            for line in (ROOT / "trainer_image" / "constraints.txt").read_text().splitlines() if line and not line.startswith("#")}
    missing = sorted(readme_install - NOT_PINNED - pins)
    assert not missing, f"brought by .[train] but not pinned in trainer_image/constraints.txt: {missing}"


def test_dockerfile_installs_the_package_as_non_root_with_legacy_keras():
    dockerfile = (ROOT / "trainer_image" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:\d+\.\d+\.\d+-slim", dockerfile, re.MULTILINE)  # an exact base version
    assert "pip install -c trainer_image/constraints.txt" in dockerfile
    assert "TF_USE_LEGACY_KERAS=1" in dockerfile
    assert re.search(r"^USER 10001$", dockerfile, re.MULTILINE)
    for folder in ("trainer_image/recs_pipeline", "components", "pipelines"):
        assert f"COPY {folder} {folder}" in dockerfile
    assert "pip install -U" not in dockerfile and ":latest" not in dockerfile


def test_cloud_build_tests_compiles_against_its_own_image_and_uploads_the_template():
    import yaml

    build = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    steps = {step["id"]: step for step in build["steps"]}
    assert list(steps) == ["build", "out-folder", "version-matches", "unit-tests-in-image", "compile", "push", "upload-template"]
    image = "${_IMAGE}:${BUILD_ID}-${_VARIANT}"
    assert build["substitutions"]["_IMAGE"] == "${_REGION}-docker.pkg.dev/${PROJECT_ID}/${_REPOSITORY}/recs-pipeline-trainer"
    assert f"-t {image}" in steps["build"]["args"][-1] and "-t ${_IMAGE}:$$release" in steps["build"]["args"][-1]
    for later in ("version-matches", "unit-tests-in-image", "compile", "upload-template"):
        assert steps[later]["name"] == image  # each later step runs inside the image just built
    assert steps["compile"]["args"][-2:] == ["--image", image]
    assert f"docker push {image}" in steps["push"]["args"][-1]
    upload = steps["upload-template"]["args"][-1]
    assert "recs-pipeline upload-template /workspace/out/two_tower_pipeline.yaml" in upload and "--repository ${_KFP_REPOSITORY}" in upload
    assert "--variant ${_VARIANT}" in upload
    assert set(build["substitutions"]) == {"_REGION", "_REPOSITORY", "_KFP_REPOSITORY", "_VERSION", "_VARIANT", "_IMAGE"}
    # the image's steps run as its non-root user: they write only to /workspace/out, which the root step makes theirs
    uid = re.search(r"^USER (\d+)$", (ROOT / "trainer_image" / "Dockerfile").read_text(), re.MULTILINE).group(1)
    assert f"install -d -o {uid} -g {uid} -m 0755 /workspace/out" in steps["out-folder"]["args"][-1]
    for later in ("unit-tests-in-image", "compile", "upload-template"):
        assert steps[later]["env"] == ["HOME=/tmp"] and "--user" not in yaml.safe_dump(steps[later])
    assert build["artifacts"]["objects"]["paths"] == ["out/two_tower_pipeline.yaml"]


def test_cloud_build_works_by_hand_where_short_sha_is_empty():
    """$SHORT_SHA is set only for triggered builds: nothing that must exist (an image tag, the
    artifacts folder) may depend on it, and the template tag it gives is added only when set."""
    import yaml

    text = (ROOT / "cloudbuild.yaml").read_text()
    build = yaml.safe_load(text)
    steps = {step["id"]: step for step in build["steps"]}
    for step in build["steps"]:
        if step["id"] != "upload-template":
            assert "SHORT_SHA" not in yaml.safe_dump(step), step["id"]
    assert 'if [ -n "${SHORT_SHA}" ]; then tags+=(--tag "${SHORT_SHA}$$suffix"); fi' in steps["upload-template"]["args"][-1]
    assert "SHORT_SHA" not in yaml.safe_dump(build["images"]) + build["artifacts"]["objects"]["location"]
    # the artifacts bucket is the one docs/vertex.md creates (step 2: gs://PROJECT-recs)
    assert build["artifacts"]["objects"]["location"].startswith("gs://${PROJECT_ID}-recs/")
    guide = (ROOT / "docs" / "vertex.md").read_text()
    assert "gcloud storage buckets create gs://PROJECT-recs" in guide


def test_the_image_names_say_cpu_and_gpu_as_cloud_build_tags_them():
    from recs_pipeline import __version__
    from recs_pipeline.vertex.image import TRAINER_GPU_IMAGE, TRAINER_IMAGE, is_gpu_image

    assert TRAINER_IMAGE.endswith(f":{__version__}") and TRAINER_GPU_IMAGE == TRAINER_IMAGE + "-gpu"
    assert is_gpu_image("${_IMAGE}:${BUILD_ID}-gpu".replace("${_IMAGE}", "r/t").replace("${BUILD_ID}", "b1"))
    assert not is_gpu_image("r/t:b1-cpu")
    build = (ROOT / "cloudbuild.yaml").read_text()
    assert 'gpu) release="${_VERSION}-gpu"' in build and 'cpu) release="${_VERSION}"' in build


def test_hadolint_finds_nothing():
    import shutil
    import subprocess
    import sys

    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, "--no-color", str(ROOT / "trainer_image" / "Dockerfile")], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def cloud_build_scripts(substitutions: dict) -> dict:
    """The bash steps of cloudbuild.yaml as Cloud Build would hand them to bash: substitutions
    replaced, `$$` unescaped (a missing built-in becomes empty, as Cloud Build documents)."""
    import yaml

    build = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    scripts = {}
    for step in build["steps"]:
        # test_cloud_build_non_root.py runs the other two, as Cloud Build would
        if step.get("entrypoint") == "bash" and step["id"] not in ("unit-tests-in-image", "out-folder"):
            text = step["args"][-1].replace("$$", "\0")
            text = re.sub(r"\$\{(\w+)\}", lambda m: substitutions.get(m.group(1), ""), text).replace("\0", "$")
            text = text.replace("docker ", "echo docker ")
            scripts[step["id"]] = text.replace("recs-pipeline upload-template", "echo recs-pipeline upload-template")
    return scripts


def test_the_cloud_build_scripts_run_by_hand_and_from_a_trigger_for_both_variants():
    import subprocess

    base = {"_REGION": "europe-west4", "_REPOSITORY": "recs", "_KFP_REPOSITORY": "recs-pipelines", "_VERSION": "0.1.0",
            "PROJECT_ID": "shop", "BUILD_ID": "b-1", "_IMAGE": "r/recs-pipeline-trainer"}
    seen = {}
    for variant, short_sha in (("cpu", ""), ("gpu", "abc1234")):
        for step, script in cloud_build_scripts({**base, "_VARIANT": variant, "SHORT_SHA": short_sha}).items():
            result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
            assert result.returncode == 0, (variant, step, result.stderr)
            seen[variant, step] = result.stdout
    assert "-t r/recs-pipeline-trainer:b-1-cpu -t r/recs-pipeline-trainer:0.1.0 " in seen["cpu", "build"]
    assert "-t r/recs-pipeline-trainer:b-1-gpu -t r/recs-pipeline-trainer:0.1.0-gpu " in seen["gpu", "build"]
    # by hand: no empty tag
    assert seen["cpu", "upload-template"].split("--variant cpu ")[1].split() == ["--tag", "latest", "--tag", "build-b-1"]
    assert "--tag abc1234-gpu" in seen["gpu", "upload-template"] and "--tag latest-gpu" in seen["gpu", "upload-template"]
    bad = cloud_build_scripts({**base, "_VARIANT": "tpu"})["build"]
    assert subprocess.run(["bash", "-c", bad], capture_output=True, check=False).returncode == 1


def test_the_gpu_image_pins_every_cuda_wheel_tensorflow_asks_for():
    """tensorflow[and-cuda] gives ranges (cuDNN <10, ...): each is pinned in constraints-gpu.txt,
    within TensorFlow's own range, so every GPU build gets the same CUDA libraries."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    pins = {}
    for line in (ROOT / "trainer_image" / "constraints-gpu.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name] = version
    extra = [Requirement(text) for text in requires("tensorflow") if 'extra == "and-cuda"' in text]
    assert extra and {r.name for r in extra} == set(pins)
    for requirement in extra:
        assert requirement.specifier.contains(pins[requirement.name]), (requirement, pins[requirement.name])
    dockerfile = (ROOT / "trainer_image" / "Dockerfile").read_text()
    assert '-c trainer_image/constraints-gpu.txt "tensorflow[and-cuda]==2.21.0"' in dockerfile
    assert "constraints-gpu.txt" in dockerfile.split("COPY trainer_image/constraints.txt", 1)[1].splitlines()[0]
