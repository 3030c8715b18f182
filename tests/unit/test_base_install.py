"""The base install is for notebooks: compiling, submitting and scheduling load no TensorFlow,
TFRS or DuckDB, and the packages that bring them are only in the `train` extra."""

import subprocess
import sys
import tomllib
from pathlib import Path

from click.testing import CliRunner
from recs_pipeline.cli import main

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("tensorflow", "tensorflow-recommenders", "tf-keras", "duckdb")


def test_the_heavy_packages_are_only_in_the_train_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {requirement.split("=")[0].split("<")[0].split(">")[0] for requirement in project["dependencies"]}
    assert names.isdisjoint(HEAVY)
    train = {requirement.split("=")[0].split("<")[0].split(">")[0] for requirement in project["optional-dependencies"]["train"]}
    assert set(HEAVY) <= train


def test_submitting_and_scheduling_load_no_training_stack(tmp_path):
    code = f"""
import sys
from recs_pipeline.cli import main
common = ["--project", "p", "--region", "europe-west4", "--pipeline-root", "gs://b/r", "--dry-run", "--param", "epochs=3"]
for command in (["submit", *common], ["schedule", *common, "--cron", "0 3 * * 1"], ["compile", "--output", {str(tmp_path / "p.yaml")!r}]):
    try:
        main(command, standalone_mode=False)
    except SystemExit as stop:
        assert not stop.code, stop
loaded = sorted(name for name in ("tensorflow", "tensorflow_recommenders", "tf_keras", "duckdb") if name in sys.modules)
sys.exit(f"loaded: {{loaded}}" if loaded else 0)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_a_training_command_without_the_extra_says_what_to_install(monkeypatch, tmp_path):
    from recs_pipeline.core import extras

    real = extras.importlib.util.find_spec
    monkeypatch.setattr(extras.importlib.util, "find_spec", lambda name: None if name in ("tensorflow", "duckdb") else real(name))
    result = CliRunner().invoke(main, ["run-local", "--output-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: run-local needs the train extra (missing: tensorflow, duckdb): "
                                     "pip install 'recs-pipeline[train]'")
