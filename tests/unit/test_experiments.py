"""Vertex AI Experiments: the calls a run makes (the API itself cannot be reached here)."""

import json

import pytest
from recs_pipeline.tracking.collector import MetricsCollector
from recs_pipeline.vertex import experiments


class RecordingSdk:
    """Stands where `google.cloud.aiplatform` stands and records each call with its arguments."""

    def __init__(self, fail_time_series: str | None = None):
        self.calls = []
        self.fail_time_series = fail_time_series

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            if name == "log_time_series_metrics" and self.fail_time_series:
                raise RuntimeError(self.fail_time_series)

        return call


@pytest.fixture
def document(one_epoch):
    collector = MetricsCollector("Two-Tower_Run 7", {"epochs": 2, "remove_accidental_hits": True, "optimizer": "adam"})
    one_epoch(collector, 0, loss=3.0)
    one_epoch(collector, 1, loss=2.0)
    collector.set_final_metrics({"test_recall_at_10": 0.25, "test_loss": None})
    final = json.loads(collector.serialise())
    final["baselines"] = {"popularity": {"test_recall_at_10": 0.1}}
    return final


def test_requests_carry_params_summary_and_one_time_series_point_per_epoch(document):
    sdk = RecordingSdk()
    experiments.send(experiments.plan(document, "b2b-recs"), project="p", location="europe-west4", tensorboard="tb/1", sdk=sdk)
    names = [name for name, _, _ in sdk.calls]
    assert names == ["init", "start_run", "log_params", "log_metrics", "log_time_series_metrics", "log_time_series_metrics", "end_run"]
    assert sdk.calls[0][2] == {"project": "p", "location": "europe-west4", "experiment": "b2b-recs", "experiment_tensorboard": "tb/1"}
    assert sdk.calls[1][2] == {"run": "two-tower-run-7", "resume": False}
    assert sdk.calls[2][1][0] == {"epochs": 2, "remove_accidental_hits": "True", "optimizer": "adam"}
    assert sdk.calls[3][1][0] == {"test_recall_at_10": 0.25, "popularity_test_recall_at_10": 0.1}
    first_point = sdk.calls[4]
    assert first_point[2] == {"step": 0}
    assert first_point[1][0]["loss"] == 3.0 and first_point[1][0]["val_loss"] == 2.0
    assert first_point[1][0]["gradient_norm_total"] == 2.8 and "weight_std_query" in first_point[1][0]
    assert sdk.calls[5][1][0]["loss"] == 2.0 and sdk.calls[5][2] == {"step": 1}


def test_missing_backing_tensorboard_is_a_clear_error(document):
    sdk = RecordingSdk(fail_time_series="Please set this experiment run with backing tensorboard resource to use log_time_series_metrics.")
    with pytest.raises(experiments.ExperimentError, match="experiment 'b2b-recs' has no backing Vertex AI TensorBoard"):
        experiments.send(experiments.plan(document, "b2b-recs"), sdk=sdk)
    assert sdk.calls[-1][0] == "end_run"
