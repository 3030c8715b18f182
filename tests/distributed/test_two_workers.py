"""The train CustomJob as Vertex AI would run it with replica_count=2, emulated with local
processes: the worker pool specs come from the pipeline's train_job_spec step, each replica runs
the spec's command and arguments with the TF_CONFIG Vertex sets (chief in pool 0, worker in pool
1, on 127.0.0.1). MultiWorkerMirroredStrategy trains; the chief alone fills the job folder, which
train_outputs then publishes as the model artifacts."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from google_cloud_pipeline_components.types.artifact_types import UnmanagedContainerModel
from kfp import dsl
from recs_pipeline.components.train_job_spec import train_job_spec
from recs_pipeline.components.train_outputs import train_outputs
from recs_pipeline.steps import evaluate
from recs_pipeline.tracking.reader import load_training_metrics

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_replicas_train_together_and_only_the_chief_writes(prepared_dir, tmp_path):
    job_dir = dsl.Artifact(uri=str(tmp_path / "job"))
    model, history, serving = (tmp_path / "job" / "model", tmp_path / "job" / "training_log", tmp_path / "job" / "serving_model")
    specs, *_ = train_job_spec(
        prepared_data=dsl.Dataset(uri=prepared_dir), job_dir=job_dir, trainer_image="example.com/trainer:1", epochs=2, batch_size=256,
        embedding_dim=8, metrics_uri=str(tmp_path / "metrics"), run_id="two-workers", replica_count=2,
    )
    assert [pool["replica_count"] for pool in specs] == [1, 1]
    cluster = {"chief": [f"127.0.0.1:{free_port()}"], "worker": [f"127.0.0.1:{free_port()}"]}
    processes = {}
    for pool, kind in zip(specs, ("chief", "worker")):
        container = pool["container_spec"]
        command = [str(Path(sys.executable).parent / container["command"][0]), *container["command"][1:], *container["args"]]
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": kind, "index": 0}})}
        processes[kind] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    logs = {kind: process.communicate(timeout=400)[0] for kind, process in processes.items()}
    for kind, process in processes.items():
        assert process.returncode == 0, f"{kind}:\n{logs[kind][-4000:]}"

    assert ", 2 replicas" in logs["chief"] and ", 2 replicas" in logs["worker"]  # one synchronous strategy
    assert "worker:0 of 2 workers: the chief writes" in logs["worker"]
    written = load_training_metrics(str(tmp_path / "metrics"))
    assert written.epochs == [0, 1] and None not in written.loss["loss"]
    assert written.raw["gradient_stats"]["query"]["norm"][0] > 0
    for target in (tmp_path / "metrics", history):
        status = json.loads((target / "training_status.json").read_text())
        assert status["stage"] == "completed" and status["writer"] == "chief:0"
    assert load_training_metrics(str(history)).raw == written.raw  # one writer, one history
    assert (serving / "saved_model.pb").is_file()
    # What the pipeline's train_outputs and evaluate steps read after the CustomJob, they find.
    outputs = (dsl.Model(uri=str(tmp_path / "m")), UnmanagedContainerModel(uri=str(tmp_path / "s")), dsl.Artifact(uri=str(tmp_path / "h")))
    train_outputs(job_dir, *outputs)
    assert [artifact.uri for artifact in outputs] == [str(model), str(serving), str(history)]
    assert outputs[0].metadata["epochs_run"] == 2
    result = evaluate.run(prepared_dir, outputs[0].path, str(history / "training_metrics.json"), str(tmp_path / "evaluation"))
    assert 0.0 < result["model"]["recall_at_100"] <= 1.0
