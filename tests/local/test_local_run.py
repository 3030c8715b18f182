"""The whole pipeline through kfp.local (SubprocessRunner), run as a user runs it: `recs-pipeline
run-local` in its own process. Its environment carries planted credentials, so the same run also
shows that none of them, and no local path of the user, reaches the YAML, the logs or the artifacts;
and a sitecustomize module on its PYTHONPATH lists the files each of its processes imported."""

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner
from packaging.utils import canonicalize_name
from recs_pipeline.cli import main
from recs_pipeline.core import metric_keys
from recs_pipeline.tracking.schema import validate

pytestmark = pytest.mark.slow

TINY_ARGS = ["--epochs", "2", "--batch-size", "256",
             "--synthetic-purchases", "4000", "--synthetic-customers", "150", "--synthetic-products", "80"]
FAKE_TOKEN = "ya29.planted-access-token-3f9a1c"
FAKE_KEY = "-----BEGIN PRIVATE KEY-----\nMIIplantedKEYmaterial0417\n-----END PRIVATE KEY-----\n"
# What leaves the machine: the history, its status, report, summary, evaluation, stats, model metadata.
SHIPPED = ("training_metrics.json", "training_status.json", "report.html", "pipeline.yaml")
# Run at start-up by every Python process of the run (the CLI and each task): at exit, the files of
# the modules it imported, as JSON in $IMPORTED_FILES_DIR.
LIST_IMPORTS = """
import atexit, json, os, sys
def _list_imports():
    files = sorted({os.path.normpath(m.__file__) for m in list(sys.modules.values()) if getattr(m, "__file__", None)})
    with open(os.path.join(os.environ["IMPORTED_FILES_DIR"], f"{os.getpid()}.json"), "w") as handle:
        json.dump({"argv": sys.argv, "files": files}, handle)
atexit.register(_list_imports)
"""
SHIPPED_IN_ROOT = ("evaluation.json", "data_stats.json", "data_stats", "model_info.json", "retrieval_info.json", "summary", "metrics")


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("local")
    home = base / "home" / "alice"
    home.mkdir(parents=True)
    key_file = home / "service-account.json"
    key_file.write_text(json.dumps({"type": "service_account", "private_key": FAKE_KEY,
                                    "client_email": "svc@example.iam.gserviceaccount.com"}))
    imports = base / "imports"
    (imports / "site").mkdir(parents=True)
    (imports / "site" / "sitecustomize.py").write_text(LIST_IMPORTS)
    env = {**os.environ, "HOME": str(home), "GOOGLE_APPLICATION_CREDENTIALS": str(key_file), "CLOUDSDK_AUTH_ACCESS_TOKEN": FAKE_TOKEN,
           "RECS_API_TOKEN": FAKE_TOKEN, "IMPORTED_FILES_DIR": str(imports),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(imports / "site"), os.environ.get("PYTHONPATH")]))}
    out = base / "run"
    # {run_id}: train and publish must both resolve it to the same folder (the pipeline job name).
    command = [sys.executable, "-m", "recs_pipeline.cli", "run-local", "--output-dir", str(out), *TINY_ARGS,
               "--metrics-uri", str(base / "sink" / "{run_id}")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    return {"out": out, "base": base, "home": home, "key_file": key_file, "result": done, "imports": imports}


def manifest_of(out: Path) -> dict[str, str]:
    return json.loads((out / "run_manifest.json").read_text())["artifacts"]


def test_run_local_writes_every_file_and_a_valid_history(local_run):
    out, result = local_run["out"], local_run["result"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for name in ("training_metrics.json", "training_status.json", "report.html", "run_manifest.json"):
        assert (out / name).is_file(), name
    document = json.loads((out / "training_metrics.json").read_text())
    validate(document)
    assert document["epochs"] == [0, 1]
    # The published figures are the evaluate step's, the model's and every baseline's, key for key.
    evaluation = json.loads(Path(manifest_of(out)["evaluate.evaluation"], "evaluation.json").read_text())
    for name, value in evaluation["model"].items():
        assert document["final_metrics"][metric_keys.on_test(name)] == value
    for baseline, figures in evaluation["baselines"].items():
        assert document["baselines"][baseline] == {metric_keys.on_test(name): value for name, value in figures.items()}
    recall = [document["final_metrics"][metric_keys.test_recall(k)] for k in (5, 10, 50, 100)]
    assert recall == sorted(recall) and recall[-1] > 0  # a trained model ranks some purchases in its top 100
    assert json.loads((out / "training_status.json").read_text())["stage"] == "completed"
    manifest = manifest_of(out)
    expected = {"data-prep.prepared_data", "data-prep.data_stats", "train.model", "train.training_log", "evaluate.evaluation",
                "publish-metrics.training_metrics", "publish-metrics.metrics", "publish-metrics.summary", "publish-metrics.report",
                "train.serving_model"}
    assert expected <= set(manifest)
    assert all(Path(path).exists() for path in manifest.values())
    # the metrics URI got the final history too, the same bytes as the artifact, in the run's own folder
    (run_folder,) = (local_run["base"] / "sink").iterdir()
    assert run_folder.name == document["run_id"] and run_folder.name.startswith("two-tower-retrieval-")
    assert (run_folder / "training_metrics.json").read_bytes() == (out / "training_metrics.json").read_bytes()
    assert json.loads((run_folder / "training_status.json").read_text())["stage"] == "completed"
    assert "recall@10" in result.stdout and "repeat_purchase" in result.stdout


def test_the_console_gets_one_line_per_step_and_epoch_and_the_log_file_the_rest(local_run):
    out, result = local_run["out"], local_run["result"]
    lines = result.stdout.splitlines()
    steps = [line.split(":")[0] for line in lines if line.startswith(("data-prep:", "train:", "evaluate:", "publish-metrics:"))]
    assert steps == ["data-prep", "train", "train", "evaluate", "publish-metrics"]  # train: its start and its outcome
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert epochs[0].startswith("epoch 1 of 2: loss ") and "ETA" in epochs[0] and epochs[-1].startswith("epoch 2 of 2: ")
    assert any("kept the weights of epoch" in line for line in lines)
    assert len([line for line in lines if not line.startswith(" ")]) < 30, result.stdout  # indented: a wrapped line's rest, a file
    assert max(len(line) for line in lines) <= 120, result.stdout  # long lines wrap at a clause
    for noise in ("KFP Executor", "executor_input", "E0000", "cuInit", "Traceback"):
        assert noise not in result.stdout + result.stderr, noise
    log = (out / "run-local.log").read_text()
    assert "executor_input" in log and "[progress] epoch 1 of 2" in log
    assert "run-local.log" in result.stdout


def test_the_retrieval_model_answers_and_the_registry_upload_stayed_off(local_run):
    out = local_run["out"]
    manifest = json.loads((out / "run_manifest.json").read_text())["artifacts"]
    assert (Path(manifest["train.serving_model"]) / "saved_model.pb").is_file()
    assert not any(name.startswith(("registry-entry", "model-upload")) for name in manifest)
    customer = json.loads((Path(manifest["data-prep.prepared_data"]) / "vocabularies.json").read_text())["user_id"][0]
    answer = CliRunner().invoke(main, ["recommend", "--model", str(out), "--customer", customer, "--customer", "nobody", "-k", "3"])
    assert answer.exit_code == 0, answer.output
    assert f"customer {customer}: top 3" in answer.output
    assert "customer nobody is not in the training data; popularity fallback" in answer.output
    assert len([line for line in answer.output.splitlines() if line.startswith("    ")]) == 6


def test_every_process_imports_only_what_the_readme_install_brings(local_run, readme_install):
    """The run works where only `pip install -e ".[train]"` ran (the README, the image): each of its
    processes imports modules of the base install and the train extra only, none that the test
    extra alone brings (TensorFlow 2.21 stopped bringing tensorboard, which tf.summary needs)."""
    owner = {}
    for distribution in metadata.distributions():
        for file in distribution.files or ():
            owner[os.path.normpath(distribution.locate_file(file))] = distribution.metadata["Name"]
    processes = [json.loads(path.read_text()) for path in local_run["imports"].glob("*.json")]
    trained = [process for process in processes if any("/tensorflow/" in file for file in process["files"])]
    assert len(processes) >= 5 and trained, [process["argv"] for process in processes]  # the CLI and its tasks, one of them training
    tensorflow = next(file for file in trained[0]["files"] if file.endswith("/tensorflow/__init__.py"))
    assert owner[tensorflow] == "tensorflow"  # the files map to their distributions: the check below sees them
    outside = {}
    for process in processes:
        for file in process["files"]:
            name = owner.get(file)
            if name is not None and canonicalize_name(name) not in readme_install:
                outside.setdefault(name, file)
    assert not outside, f"imported, but not brought by the README's install: {outside}"


def text_files(folder: Path):
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix not in (".pb", ".parquet") and "variables" not in path.parts:
            yield path, path.read_bytes().decode("utf-8", errors="replace")


def test_no_credentials_anywhere_and_no_local_paths_in_what_is_shipped(local_run):
    out, result, home = local_run["out"], local_run["result"], local_run["home"]
    secrets = [FAKE_TOKEN, "MIIplantedKEYmaterial0417", "BEGIN PRIVATE KEY", str(local_run["key_file"]), "service-account.json"]
    logs = result.stdout + result.stderr
    for secret in secrets:
        assert secret not in logs, f"{secret!r} in the logs"
        for path, text in text_files(local_run["base"] / "run"):
            assert secret not in text, f"{secret!r} in {path}"
        for path, text in text_files(local_run["base"] / "sink"):
            assert secret not in text, f"{secret!r} in {path}"
    shipped = [out / name for name in SHIPPED]
    shipped += [p for p in (out / "pipeline_root").rglob("*") if p.is_file() and p.name in SHIPPED_IN_ROOT]
    assert len(shipped) >= len(SHIPPED) + 5
    for path in shipped:
        text = path.read_text()
        for private in (str(home), str(local_run["base"]), str(Path.cwd())):
            assert private not in text, f"{private!r} in {path}"


def test_a_failing_step_ends_the_command_with_its_cause(tmp_path):
    """A bad value the check before the run cannot see (it reads headers only) fails the data-prep
    task; the command's last line is that task's DataError, exit code 1, the traceback in the log."""
    orders = tmp_path / "orders.csv"
    rows = [f"C{i % 7},P{i % 5},{881250949 + 3600 * i}" for i in range(60)]
    rows[41] = "C1,P2,yesterday"
    orders.write_text("customer_id,product_id,timestamp\n" + "\n".join(rows) + "\n")
    command = [sys.executable, "-m", "recs_pipeline.cli", "run-local", "--output-dir", str(tmp_path / "run"), *TINY_ARGS,
               "--input", str(orders)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (f"Error: {orders}: column 'timestamp', row 42: cannot parse timestamp 'yesterday' "
                                                       "(pass --timestamp-format: a strptime format such as '%d/%m/%Y %H:%M', "
                                                       "or epoch_s, epoch_ms)")
    assert len((result.stdout + result.stderr).splitlines()) <= 3, result.stdout + result.stderr
    assert "Traceback" in (tmp_path / "run" / "run-local.log").read_text()
    assert not (tmp_path / "run" / "training_metrics.json").exists()
