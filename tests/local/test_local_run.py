"""The whole pipeline through kfp.local (SubprocessRunner), as `recs-pipeline run-local` runs it."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from recs_pipeline.cli import main
from recs_pipeline.metrics_schema import validate

pytestmark = pytest.mark.slow

TINY_ARGS = ["--epochs", "2", "--batch-size", "256", "--synthetic-purchases", "4000", "--synthetic-customers", "150", "--synthetic-products", "80"]


def test_run_local_writes_every_file_and_a_valid_history(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run-local", "--output-dir", str(out), *TINY_ARGS, "--metrics-uri", str(tmp_path / "sink")])
    assert result.exit_code == 0, result.output
    for name in ("training_metrics.json", "training_status.json", "report.html", "run_manifest.json"):
        assert (out / name).is_file(), name
    document = json.loads((out / "training_metrics.json").read_text())
    validate(document)
    assert document["epochs"] == [0, 1]
    for k in (5, 10, 50, 100):
        assert 0.0 <= document["final_metrics"][f"test_recall_at_{k}"] <= 1.0
        assert f"test_recall_at_{k}" in document["baselines"]["repeat_purchase"]
    assert document["final_metrics"]["test_recall_at_100"] >= document["final_metrics"]["test_recall_at_5"]
    assert json.loads((out / "training_status.json").read_text())["stage"] == "completed"

    # The retrieval model is there to try; the registry upload stayed off.
    manifest = json.loads((out / "run_manifest.json").read_text())
    assert (Path(manifest["artifacts"]["train.serving_model"]) / "saved_model.pb").is_file()
    assert not any(name.startswith(("registry-entry", "model-upload")) for name in manifest["artifacts"])
    customer = json.loads((Path(manifest["artifacts"]["data-prep.prepared_data"]) / "vocabularies.json").read_text())["user_id"][0]
    answer = CliRunner().invoke(main, ["recommend", "--model", str(out), "--customer", customer, "--customer", "nobody", "-k", "3"])
    assert answer.exit_code == 0, answer.output
    assert f"customer {customer}: top 3" in answer.output
    assert "customer nobody is not in the training data; popularity fallback" in answer.output
    assert len([line for line in answer.output.splitlines() if line.startswith("    ")]) == 6
    manifest = json.loads((out / "run_manifest.json").read_text())["artifacts"]
    expected = {"data-prep.prepared_data", "data-prep.data_stats", "train.model", "train.training_history", "evaluate.evaluation",
                "publish-metrics.training_metrics", "publish-metrics.metrics", "publish-metrics.summary", "publish-metrics.report"}
    assert expected <= set(manifest)
    assert all(Path(path).exists() for path in manifest.values())
    # the metrics URI got the final history too, the same bytes as the artifact
    assert (tmp_path / "sink" / "training_metrics.json").read_bytes() == (out / "training_metrics.json").read_bytes()
    assert "recall@10" in result.output and "repeat_purchase" in result.output


def test_a_failing_step_fails_the_command(tmp_path):
    result = CliRunner().invoke(main, ["run-local", "--output-dir", str(tmp_path / "run"), *TINY_ARGS, "--input", str(tmp_path / "missing.csv")])
    assert result.exit_code != 0
    assert "data-prep" in result.output or "data_prep" in result.output
    assert not (tmp_path / "run" / "training_metrics.json").exists()
