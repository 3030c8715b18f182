"""load_training_metrics against a real GCS JSON API (fake-gcs-server on 127.0.0.1): the pipeline's
training_metrics artifact by its own URI (an object with no suffix), and a --metrics-uri prefix."""

import pytest
from recs_pipeline.core import storage
from recs_pipeline.tracking.collector import MetricsCollector
from recs_pipeline.tracking.reader import load_training_metrics


def history(one_epoch) -> bytes:
    collector = MetricsCollector("gcs-reader", {"epochs": 2})
    one_epoch(collector, 0, loss=3.0)
    one_epoch(collector, 1, loss=2.0)
    return collector.serialise()


def test_the_artifact_object_is_read_by_its_own_uri(bucket, one_epoch):
    artifact = f"gs://{bucket}/root/123/two-tower-retrieval-20260101/publish-metrics_456/training_metrics"
    storage.write_bytes(artifact, history(one_epoch))
    metrics = load_training_metrics(artifact)
    assert metrics.run_id == "gcs-reader" and metrics.uri == artifact
    assert list(metrics.losses_frame()["loss"]) == [3.0, 2.0]


def test_a_prefix_means_the_file_inside_and_nothing_there_is_named(bucket, one_epoch):
    storage.write_bytes(f"gs://{bucket}/metrics/r1/training_metrics.json", history(one_epoch))
    for uri in (f"gs://{bucket}/metrics/r1", f"gs://{bucket}/metrics/r1/"):
        assert load_training_metrics(uri).uri == f"gs://{bucket}/metrics/r1/training_metrics.json"
    with pytest.raises(FileNotFoundError, match=f"no training metrics at gs://{bucket}/metrics/r2: neither"):
        load_training_metrics(f"gs://{bucket}/metrics/r2")
