"""Vertex AI Experiments: the calls a run makes (the API itself cannot be reached here)."""

import json

import pytest
from recs_pipeline.tracking.collector import MetricsCollector
from recs_pipeline.vertex import experiments


class RecordingSdk:
    """Stands where `google.cloud.aiplatform` stands and records each call with its arguments; the
    experiment and run lookups answer from what the test says exists."""

    def __init__(self, fail_time_series: str | None = None, backing_tensorboard: str | None = None, logged_steps=None):
        self.calls = []
        self.fail_time_series = fail_time_series
        sdk = self

        class Experiment:
            backing_tensorboard_resource_name = backing_tensorboard

            @staticmethod
            def get(name, **kwargs):
                sdk.calls.append(("Experiment.get", (name,), kwargs))
                return Experiment if backing_tensorboard is not None else None

        class ExperimentRun:
            @staticmethod
            def get(name, **kwargs):
                sdk.calls.append(("ExperimentRun.get", (name,), kwargs))
                return ExperimentRun if logged_steps is not None else None

            @staticmethod
            def get_time_series_data_frame():
                import pandas as pd

                return pd.DataFrame({"run_name": ["r"] * len(logged_steps), "step": logged_steps, "loss": [1.0] * len(logged_steps)})

        self.Experiment, self.ExperimentRun = Experiment, ExperimentRun

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            if name == "log_time_series_metrics" and self.fail_time_series:
                raise RuntimeError(self.fail_time_series)

        return call

    def names(self):
        return [name for name, _, _ in self.calls]


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
    calls = [(name, args, kwargs) for name, args, kwargs in sdk.calls if not name.endswith(".get")]
    assert [name for name, _, _ in calls] == ["init", "start_run", "log_params", "log_metrics", "log_time_series_metrics",
                                              "log_time_series_metrics", "end_run"]
    assert calls[0][2] == {"project": "p", "location": "europe-west4", "experiment": "b2b-recs", "experiment_tensorboard": "tb/1"}
    assert calls[1][2] == {"run": "two-tower-run-7", "resume": False}
    assert calls[2][1][0] == {"epochs": 2, "remove_accidental_hits": "True", "optimizer": "adam"}
    assert calls[3][1][0] == {"test_recall_at_10": 0.25, "popularity_test_recall_at_10": 0.1}
    first_point = calls[4]
    assert first_point[2] == {"step": 0}
    assert first_point[1][0]["loss"] == 3.0 and first_point[1][0]["val_loss"] == 2.0
    assert first_point[1][0]["gradient_norm_total"] == 2.8 and "weight_std_query" in first_point[1][0]
    assert calls[5][1][0]["loss"] == 2.0 and calls[5][2] == {"step": 1}
    lookup = ("ExperimentRun.get", ("two-tower-run-7",), {"experiment": "b2b-recs", "project": "p", "location": "europe-west4"})
    assert lookup in sdk.calls


def test_missing_backing_tensorboard_is_a_clear_error(document):
    sdk = RecordingSdk(fail_time_series="Please set this experiment run with backing tensorboard resource to use log_time_series_metrics.")
    with pytest.raises(experiments.ExperimentError, match="experiment 'b2b-recs' has no backing Vertex AI TensorBoard"):
        experiments.send(experiments.plan(document, "b2b-recs"), location="europe-west4", sdk=sdk)
    assert sdk.calls[-1][0] == "end_run"


def test_a_retried_task_resumes_the_run_and_logs_only_the_missing_epochs(document, caplog):
    sdk = RecordingSdk(backing_tensorboard="projects/p/locations/europe-west4/tensorboards/7", logged_steps=[0])
    caplog.set_level("INFO")
    experiments.send(experiments.plan(document, "b2b-recs"), location="europe-west4", sdk=sdk)
    start = next(call for call in sdk.calls if call[0] == "start_run")
    assert start[2] == {"run": "two-tower-run-7", "resume": True}
    assert [kwargs["step"] for name, _, kwargs in sdk.calls if name == "log_time_series_metrics"] == [1]
    assert "experiment run 'two-tower-run-7' exists (a retried task): resuming it, 1 epoch(s) already logged" in caplog.text
    init = next(call for call in sdk.calls if call[0] == "init")  # the experiment's own TensorBoard, so the SDK looks up no default
    assert init[2]["experiment_tensorboard"] == "projects/p/locations/europe-west4/tensorboards/7"


def test_using_the_default_tensorboard_is_announced(document, caplog):
    sdk = RecordingSdk()  # a new experiment, no TensorBoard given
    caplog.set_level("INFO")
    experiments.send(experiments.plan(document, "b2b-recs"), location="europe-west4", sdk=sdk)
    out = caplog.text
    assert "experiment 'b2b-recs' has no TensorBoard for its time series" in out
    assert "default TensorBoard in europe-west4, and creates one if there is none" in out


def test_the_region_is_the_run_s_unless_given_and_never_guessed():
    assert experiments.region("", "europe-west4", environ={}) == "europe-west4"
    assert experiments.region("us-east1", "europe-west4", environ={}) == "us-east1"
    assert experiments.region("", "{{$.pipeline_google_cloud_location}}", environ={"CLOUD_ML_REGION": "asia-east1"}) == "asia-east1"
    with pytest.raises(experiments.ExperimentError, match="needs a region: set the location parameter"):
        experiments.region("", "{{$.pipeline_google_cloud_location}}", environ={})
    assert experiments.resolved("", "{{$.pipeline_google_cloud_project_id}}") == "" and experiments.resolved("", "shop") == "shop"
