"""Two workers as two local processes with TF_CONFIG on 127.0.0.1 (as a Vertex AI CustomJob with
two replicas runs them): MultiWorkerMirroredStrategy, the history complete, written by the chief."""

import json
import os
import socket
import subprocess
import sys

import pytest

from recs_pipeline.reader import load_training_metrics

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_workers_train_together_and_only_the_chief_writes(prepared_dir, tmp_path):
    cluster = {"chief": [f"127.0.0.1:{free_port()}"], "worker": [f"127.0.0.1:{free_port()}"]}
    # Same arguments for every replica, as Vertex gives them: one model dir, one metrics URI.
    command = [sys.executable, "-m", "recs_pipeline.cli", "train", "--prepared-dir", prepared_dir, "--model-dir", str(tmp_path / "model"),
               "--history-dir", str(tmp_path / "history"), "--metrics-uri", str(tmp_path / "metrics"), "--run-id", "two-workers",
               "--epochs", "2", "--batch-size", "256", "--embedding-dim", "8"]
    processes = {}
    for kind in ("chief", "worker"):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": kind, "index": 0}}), "CUDA_VISIBLE_DEVICES": ""}
        processes[kind] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    logs = {kind: process.communicate(timeout=400)[0] for kind, process in processes.items()}
    for kind, process in processes.items():
        assert process.returncode == 0, f"{kind}:\n{logs[kind][-4000:]}"

    assert "(2 replica(s))" in logs["chief"] and "(2 replica(s))" in logs["worker"]  # one synchronous strategy
    assert "worker:0 of 2 workers: the chief writes" in logs["worker"]
    history = load_training_metrics(str(tmp_path / "metrics"))
    assert history.epochs == [0, 1] and None not in history.loss["loss"]
    assert history.raw["gradient_stats"]["query"]["norm"][0] > 0
    for target in ("metrics", "history"):
        status = json.loads((tmp_path / target / "training_status.json").read_text())
        assert status["stage"] == "completed" and status["writer"] == "chief:0"
    assert (tmp_path / "model" / "retrieval" / "saved_model.pb").is_file()
    assert load_training_metrics(str(tmp_path / "history")).raw == history.raw  # one writer, one history
