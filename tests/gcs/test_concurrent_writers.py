"""Two train processes, different run ids, one metrics URI on the GCS emulator: exactly one trains."""

import json
import os
import subprocess
import sys

import pytest
from recs_pipeline.core import storage
from recs_pipeline.tracking.reader import load_training_metrics

pytestmark = pytest.mark.slow


def test_create_exclusive_on_gcs_uses_the_generation_precondition(bucket):
    uri = f"gs://{bucket}/claims/claim.json"
    assert storage.create_exclusive(uri, b'{"run_id": "a"}') is True
    assert storage.create_exclusive(uri, b'{"run_id": "b"}') is False
    assert json.loads(storage.read_bytes(uri))["run_id"] == "a"


def test_simultaneous_runs_one_wins_the_other_is_refused_before_training(bucket, prepared_dir, tmp_path):
    uri = f"gs://{bucket}/runs/shared"
    processes = {}
    for run_id in ("run-a", "run-b"):
        command = [
            sys.executable, "-m", "recs_pipeline.cli", "train", "--prepared-dir", prepared_dir,
            "--model-dir", str(tmp_path / f"model-{run_id}"), "--training-log-dir", str(tmp_path / f"history-{run_id}"),
            "--metrics-uri", uri, "--run-id", run_id, "--epochs", "2", "--batch-size", "256", "--embedding-dim", "8",
        ]
        processes[run_id] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
    results = {run_id: (process.wait(timeout=240), process.stdout.read()) for run_id, process in processes.items()}
    winners = [run_id for run_id, (code, _) in results.items() if code == 0]
    assert len(winners) == 1, results
    winner = winners[0]
    loser = "run-b" if winner == "run-a" else "run-a"
    code, output = results[loser]
    assert code == 1 and f"belongs to run '{winner}'" in output
    assert "epoch 1/2" not in output  # refused before training
    history = load_training_metrics(uri)
    assert history.run_id == winner and history.epochs == [0, 1]
    status = json.loads(storage.read_bytes(f"{uri}/training_status.json"))
    assert status["run_id"] == winner and status["stage"] == "completed"
