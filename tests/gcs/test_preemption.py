"""SIGTERM mid-training (a Vertex preemption), with a real process and the GCS emulator."""

import json
import signal
import time

import pytest
from recs_pipeline.cli import PREEMPTED_EXIT_CODE
from recs_pipeline.core import storage
from recs_pipeline.tracking.reader import load_training_metrics

from .test_kill_and_resume import epochs_at, train_process

pytestmark = pytest.mark.slow
FLUSH_BUDGET_S = 5.0


def test_sigterm_flushes_status_preempted_within_5_s_and_the_rerun_resumes(bucket, prepared_dir, tmp_path):
    uri = f"gs://{bucket}/runs/preempted"
    process = train_process(prepared_dir, tmp_path, uri, "spot-run", epochs=400, tag="first")
    deadline = time.monotonic() + 120
    while epochs_at(uri) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, (tmp_path / "first.log").read_text()[-3000:]

    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=30)
    took = time.monotonic() - signalled
    log = (tmp_path / "first.log").read_text()
    assert code == PREEMPTED_EXIT_CODE, log[-3000:]
    assert took < FLUSH_BUDGET_S, f"{took:.1f} s from SIGTERM to exit"

    history = load_training_metrics(uri)
    status = json.loads(storage.read_bytes(f"{uri}/training_status.json"))
    assert status["stage"] == "failed" and status["reason"] == "preempted"
    assert "Preempted: received SIGTERM" in status["error"]
    assert status["epochs_done"] == len(history.epochs) >= 2
    assert history.epochs == list(range(len(history.epochs)))
    local = json.loads((tmp_path / "history-first" / "training_status.json").read_text())
    assert local["reason"] == "preempted"  # every target got it
    assert "rerun with the same --run-id to resume" in log

    total = len(history.epochs) + 2
    resumed = train_process(prepared_dir, tmp_path, uri, "spot-run", epochs=total, tag="second")
    assert resumed.wait(timeout=180) == 0, (tmp_path / "second.log").read_text()[-3000:]
    assert load_training_metrics(uri).epochs == list(range(total))
    assert json.loads(storage.read_bytes(f"{uri}/training_status.json"))["stage"] == "completed"
