"""Real processes against the GCS emulator: the history grows per epoch, survives kill -9, resumes."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from recs_pipeline.core import storage
from recs_pipeline.tracking.reader import load_training_metrics

pytestmark = pytest.mark.slow


def train_process(prepared_dir, tmp_path, uri, run_id, epochs, tag):
    command = [
        sys.executable, "-m", "recs_pipeline.cli", "train", "--prepared-dir", prepared_dir,
        "--model-dir", str(tmp_path / f"model-{tag}"), "--training-log-dir", str(tmp_path / f"history-{tag}"),
        "--metrics-uri", uri, "--run-id", run_id, "--epochs", str(epochs), "--batch-size", "256", "--embedding-dim", "8",
        "--early-stopping-patience", "0",  # runs every epoch asked for, until killed
    ]
    with open(tmp_path / f"{tag}.log", "wb") as log:  # the child writes through its own copy of the handle
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))


def epochs_at(uri):
    try:
        return len(json.loads(storage.read_bytes(f"{uri}/training_metrics.json"))["epochs"])
    except (FileNotFoundError, ValueError):
        return 0


def test_history_grows_survives_kill_9_and_resumes_without_gaps(bucket, prepared_dir, tmp_path):
    uri = f"gs://{bucket}/runs/crash"
    process = train_process(prepared_dir, tmp_path, uri, "crash-run", epochs=400, tag="first")
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        count = epochs_at(uri)
        if count and (not seen or count != seen[-1]):
            seen.append(count)
        if len(seen) >= 3:
            break
        time.sleep(0.05)
    assert process.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert seen == sorted(seen) and len(set(seen)) >= 3  # observed growing while it ran

    survived = load_training_metrics(uri)  # valid after the kill
    status = json.loads(storage.read_bytes(f"{uri}/training_status.json"))
    assert status["stage"] == "training"
    assert status["epochs_done"] in (len(survived.epochs), len(survived.epochs) - 1)
    assert len(survived.epochs) >= seen[-1]

    total = len(survived.epochs) + 3
    resumed = train_process(prepared_dir, tmp_path, uri, "crash-run", epochs=total, tag="second")
    assert resumed.wait(timeout=180) == 0, (tmp_path / "second.log").read_text()[-3000:]
    final = load_training_metrics(uri)
    assert final.epochs == list(range(total))  # every epoch exactly once
    assert len(final.loss["loss"]) == total and None not in final.loss["loss"]
    assert json.loads(storage.read_bytes(f"{uri}/training_status.json"))["stage"] == "completed"
    assert "resuming run crash-run after" in (tmp_path / "second.log").read_text()


def test_a_different_model_shape_is_not_resumed(bucket, prepared_dir, tmp_path):
    uri = f"gs://{bucket}/runs/shape"
    first = train_process(prepared_dir, tmp_path, uri, "shape-run", epochs=1, tag="a")
    assert first.wait(timeout=120) == 0
    command = [sys.executable, "-m", "recs_pipeline.cli", "train", "--prepared-dir", prepared_dir, "--model-dir", str(tmp_path / "m"),
               "--training-log-dir", str(tmp_path / "h"), "--metrics-uri", uri, "--run-id", "shape-run", "--epochs", "2",
               "--batch-size", "256", "--embedding-dim", "16", "--early-stopping-patience", "0"]
    result = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), timeout=120, check=False)
    assert result.returncode == 1
    assert "parameters differ from the saved run: embedding_dim" in result.stderr
    status = json.loads(storage.read_bytes(f"{uri}/training_status.json"))
    assert status["stage"] == "failed" and "embedding_dim" in status["error"]
    assert load_training_metrics(uri).epochs == [0]  # the saved history is untouched
