"""SIGTERM mid-training (a Vertex preemption), with a real process and the GCS emulator."""

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
from recs_pipeline.cli import PREEMPTED_EXIT_CODE
from recs_pipeline.core import storage
from recs_pipeline.tracking.reader import load_training_metrics

from .fault_proxy import FaultProxy
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


@contextmanager
def cpu_busy():
    """A process spinning on a core beside the run, as other jobs on a shared machine do."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


@pytest.mark.parametrize("step, signalled", [("run-local", "it"), ("run-local", "its process group"), ("train", "it")])
def test_sigterm_gs_status_under_load(gcs_emulator, bucket, prepared_dir, tmp_path, step, signalled):
    """SIGTERM to `train`, or to run-local, which runs the train step as a child process
    (kfp.local), or to all of them as a terminal or a container runtime sends it: the train step
    gets it and the status is written before the command exits, here through a slow link to GCS
    and with a core kept busy."""
    uri = f"gs://{bucket}/runs/local-preempted"
    tiny = ["--epochs", "400", "--early-stopping-patience", "0", "--batch-size", "256", "--metrics-uri", uri, "--run-id", "spot"]
    if step == "run-local":
        command = [sys.executable, "-m", "recs_pipeline.cli", "run-local", "--output-dir", str(tmp_path / "run"), *tiny,
                   "--synthetic-purchases", "4000", "--synthetic-customers", "150", "--synthetic-products", "80"]
    else:
        command = [sys.executable, "-m", "recs_pipeline.cli", "train", "--prepared-dir", prepared_dir,
                   "--model-dir", str(tmp_path / "model"), "--training-log-dir", str(tmp_path / "history"), "--embedding-dim", "8", *tiny]
    with FaultProxy(gcs_emulator, latency_s=0.3) as proxy, cpu_busy(), open(tmp_path / "out.log", "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "STORAGE_EMULATOR_HOST": proxy.url},
                                   start_new_session=True)
        try:
            deadline = time.monotonic() + 400
            while epochs_at(uri) < 1 and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.1)
            assert process.poll() is None, (tmp_path / "out.log").read_text()[-3000:]
            if signalled == "it":
                process.send_signal(signal.SIGTERM)
            else:
                os.killpg(process.pid, signal.SIGTERM)
            code = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        status = json.loads(storage.read_bytes(f"{uri}/training_status.json"))  # read once the process is gone
    output = (tmp_path / "out.log").read_text()
    assert status["stage"] == "failed" and status["reason"] == "preempted", (status, output[-3000:])
    assert code == PREEMPTED_EXIT_CODE, output[-3000:]
    assert "Preempted: received SIGTERM" in status["error"]
    assert status["epochs_done"] == len(load_training_metrics(uri).epochs) >= 1
    assert "rerun with the same --run-id to resume" in output
