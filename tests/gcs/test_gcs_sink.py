"""The metrics sink and reader against a real GCS JSON API (fake-gcs-server on 127.0.0.1)."""

import json
import time

import pytest
from recs_pipeline.core import storage
from recs_pipeline.steps import train
from recs_pipeline.tracking.reader import load_training_metrics
from recs_pipeline.tracking.schema import MetricsValidationError
from recs_pipeline.tracking.sink import MetricsSink, SinkUnwritableError


def test_round_trip_and_overwrite(bucket):
    uri = f"gs://{bucket}/a/b.json"
    storage.write_bytes(uri, b"one")
    storage.write_bytes(uri, b"two")
    assert storage.read_bytes(uri) == b"two"
    with pytest.raises(FileNotFoundError, match=f"gs://{bucket}/a/missing"):
        storage.read_bytes(f"gs://{bucket}/a/missing")


def test_training_writes_history_and_status_to_gcs(tiny_training, bucket, prepared_dir, tmp_path):
    uri = f"gs://{bucket}/runs/r1"
    train.run(prepared_dir, str(tmp_path / "model"), str(tmp_path / "history"), tiny_training(epochs=3, early_stopping_patience=0),
              run_id="r1", metrics_uri=uri)
    metrics = load_training_metrics(uri)
    assert metrics.run_id == "r1" and metrics.epochs == [0, 1, 2]
    status = json.loads(storage.read_bytes(f"{uri}/training_status.json"))
    assert status["stage"] == "completed" and status["epochs_done"] == 3
    assert storage.read_bytes(f"{uri}/training_metrics.json") == (tmp_path / "history" / "training_metrics.json").read_bytes()


def test_missing_bucket_fails_within_seconds_naming_the_uri(tiny_training, gcs_emulator, prepared_dir, tmp_path):
    started = time.monotonic()
    with pytest.raises(SinkUnwritableError, match="gs://no-such-bucket/run is not writable"):
        train.run(prepared_dir, str(tmp_path / "model"), str(tmp_path / "history"), tiny_training(epochs=3, early_stopping_patience=0),
                  run_id="x", metrics_uri="gs://no-such-bucket/run")
    assert time.monotonic() - started < 10
    assert not (tmp_path / "model").exists()


def test_probe_reads_back_what_it_wrote(bucket):
    sink = MetricsSink([f"gs://{bucket}/p"], run_id="probe", epochs_total=1)
    sink.probe()
    assert json.loads(storage.read_bytes(f"gs://{bucket}/p/training_status.json"))["stage"] == "initializing"


def test_broken_file_is_rejected_naming_the_field(bucket):
    storage.write_bytes(f"gs://{bucket}/bad/training_metrics.json", json.dumps({"schema_version": 1}).encode())
    with pytest.raises(MetricsValidationError, match="run_id"):
        load_training_metrics(f"gs://{bucket}/bad")
    storage.write_bytes(f"gs://{bucket}/bad2/training_metrics.json", b"{not json")
    with pytest.raises(MetricsValidationError, match="not valid JSON"):
        load_training_metrics(f"gs://{bucket}/bad2/training_metrics.json")
