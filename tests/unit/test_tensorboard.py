"""The train step's TensorBoard events: one point per epoch, beside the training log or in Vertex AI's
AIP_TENSORBOARD_LOG_DIR, read back with TensorBoard's own EventAccumulator (the reader behind
`tensorboard --logdir` and Vertex AI's uploader): every scalar equals the history's."""

import json
from pathlib import Path

import numpy as np
import pytest
from recs_pipeline.steps import train
from recs_pipeline.training import tensorboard
from recs_pipeline.training.scalars import epoch_scalars


def read_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] from every event file in `folder`."""
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator
    from tensorboard.util import tensor_util

    accumulator = EventAccumulator(str(folder), size_guidance={TENSORS: 0})
    accumulator.Reload()
    return {tag: [(event.step, float(tensor_util.make_ndarray(event.tensor_proto))) for event in accumulator.Tensors(tag)]
            for tag in accumulator.Tags()["tensors"]}


def expected(history: dict) -> dict[str, list[tuple[int, float]]]:
    points: dict[str, list[tuple[int, float]]] = {}
    for index, epoch in enumerate(history["epochs"]):
        for name, value in epoch_scalars(history, index).items():
            points.setdefault(name, []).append((epoch, value))
    return points


def assert_same(read: dict, history: dict) -> None:
    want = expected(history)
    assert set(read) == set(want) and {"loss", "val_loss", "gradient_norm_query", "weight_std_candidate"} <= set(read)
    for tag, points in want.items():
        assert [step for step, _ in read[tag]] == [step for step, _ in points], tag
        np.testing.assert_allclose([v for _, v in read[tag]], [v for _, v in points], rtol=1e-6, err_msg=tag)  # float32 in the event


def test_events_beside_the_history_hold_each_epoch_as_the_history_does(tiny_training, prepared_dir, tmp_path, monkeypatch):
    monkeypatch.delenv(tensorboard.LOG_DIR_ENV, raising=False)
    train.run(prepared_dir, str(tmp_path / "model"), str(tmp_path / "history"), tiny_training(epochs=3, early_stopping_patience=0),
              run_id="tb")
    history = json.loads((tmp_path / "history" / "training_metrics.json").read_text())
    assert history["epochs"] == [0, 1, 2]
    read = read_scalars(tmp_path / "history" / tensorboard.FOLDER)
    assert_same(read, history)


def test_on_vertex_the_events_go_to_aip_tensorboard_log_dir(tiny_training, prepared_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(tensorboard.LOG_DIR_ENV, str(tmp_path / "vertex" / "logs"))
    train.run(prepared_dir, str(tmp_path / "model"), str(tmp_path / "history"), tiny_training(epochs=2, early_stopping_patience=0),
              run_id="tb-vertex")
    assert not (tmp_path / "history" / tensorboard.FOLDER).exists()
    history = json.loads((tmp_path / "history" / "training_metrics.json").read_text())
    assert_same(read_scalars(tmp_path / "vertex" / "logs"), history)


def test_only_the_chief_writes_to_the_job_s_tensorboard_folder():
    environ = {tensorboard.LOG_DIR_ENV: "gs://b/job/vertex/logs/"}
    assert tensorboard.log_dir("/gcs/b/job/training_log", chief=True, environ=environ) == "gs://b/job/vertex/logs/"
    assert tensorboard.log_dir("/tmp/worker/history", chief=False, environ=environ) == str(Path("/tmp/worker/history/tensorboard"))
    assert tensorboard.log_dir("gs://b/h", environ={}) == "gs://b/h/tensorboard"


@pytest.mark.parametrize("value", [None, float("nan")])
def test_a_value_the_history_lacks_is_not_drawn(value):
    history = {"loss": {"loss": [1.0], "val_loss": [value]}, "gradient": {"total": [2.0]}, "epoch_seconds": [0.5],
               "weight_stats": {"query": {"std": [0.1]}, "candidate": {"std": [0.2]}}}
    assert epoch_scalars(history, 0) == {"loss": 1.0, "gradient_norm_total": 2.0, "weight_std_query": 0.1, "weight_std_candidate": 0.2,
                                         "epoch_seconds": 0.5}


def test_events_reach_a_gs_log_dir_each_epoch(bucket, tiny_training, prepared_dir, tmp_path, monkeypatch):
    """On Vertex AI the folder is gs://, watched by Vertex's uploader: the files get there through
    google-cloud-storage (here fake-gcs-server) and read back as the history's scalars."""
    from recs_pipeline.core import storage

    monkeypatch.setenv(tensorboard.LOG_DIR_ENV, f"gs://{bucket}/job/vertex/logs/")
    train.run(prepared_dir, str(tmp_path / "model"), str(tmp_path / "history"), tiny_training(epochs=2, early_stopping_patience=0),
              run_id="tb-gcs")
    blobs = list(storage.gcs_client().list_blobs(bucket, prefix="job/vertex/logs/"))
    assert blobs and all(Path(b.name).name.startswith("events.out.tfevents.") for b in blobs)
    local = tmp_path / "downloaded"
    local.mkdir()
    for blob in blobs:
        (local / Path(blob.name).name).write_bytes(blob.download_as_bytes())
    assert_same(read_scalars(local), json.loads((tmp_path / "history" / "training_metrics.json").read_text()))
