"""Training through a proxy that answers uploads with 429, 503 and connection resets."""

import json
import os

import pytest
from recs_pipeline.core import storage
from recs_pipeline.steps import train
from recs_pipeline.tracking.reader import load_training_metrics

from .fault_proxy import FaultProxy

pytestmark = pytest.mark.slow


@pytest.fixture
def through_proxy(gcs_emulator):
    """Point the storage client at a fault proxy for one test; restore it afterwards."""
    proxies = []

    def start(**settings) -> FaultProxy:
        proxy = FaultProxy(gcs_emulator, **settings).__enter__()
        proxies.append(proxy)
        os.environ["STORAGE_EMULATOR_HOST"] = proxy.url
        storage.gcs_client.cache_clear()
        return proxy

    yield start
    os.environ["STORAGE_EMULATOR_HOST"] = gcs_emulator
    storage.gcs_client.cache_clear()
    for proxy in proxies:
        proxy.__exit__()


def test_transient_faults_are_retried_and_the_history_is_complete(tiny_training, bucket, prepared_dir, tmp_path, through_proxy):
    proxy = through_proxy(faults=["429", "503", "reset"] * 2)
    uri = f"gs://{bucket}/runs/flaky"
    result = train.run(prepared_dir, str(tmp_path / "model"), str(tmp_path / "history"), tiny_training(epochs=2), run_id="flaky",
                       metrics_uri=uri)
    assert proxy.injected == ["429", "503", "reset"] * 2  # every fault was met, and outlived
    assert result.epochs_done == 2
    history = load_training_metrics(uri)
    assert history.epochs == [0, 1] and history.final_metrics["final_loss"] is not None
    assert json.loads(storage.read_bytes(f"{uri}/training_status.json"))["stage"] == "completed"


def test_a_permanent_failure_fails_the_step_and_the_status_says_why(tiny_training, bucket, prepared_dir, tmp_path, through_proxy):
    uri = f"gs://{bucket}/runs/denied"
    # The history object is refused for good (its name is in the upload's metadata part); the
    # status object still goes through, so it can say why.
    proxy = through_proxy(refuse='"name": "runs/denied/training_metrics.json"')
    with pytest.raises(storage.StorageError, match=f"cannot write {uri}/training_metrics.json"):
        train.run(prepared_dir, str(tmp_path / "model"), str(tmp_path / "history"), tiny_training(epochs=2), run_id="denied",
                  metrics_uri=uri)
    assert proxy.refused >= 1
    for status in (json.loads((tmp_path / "history" / "training_status.json").read_text()),
                   json.loads(storage.read_bytes(f"{uri}/training_status.json"))):
        assert status["stage"] == "failed" and status["reason"] == "error"
        assert "403" in status["error"] and f"{uri}/training_metrics.json" in status["error"]
    assert not (tmp_path / "model").exists()  # never a finished model without its metrics
