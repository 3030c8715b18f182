"""Vertex AI Experiments (optional): params, final metrics, and the per-epoch history as time series.

The calls are planned from training_metrics.json as plain data (`plan`), then sent through the
Vertex AI SDK (`send`). A missing backing TensorBoard, which the SDK reports only when the first
time series is logged, becomes an error that says what to do and fails the step; it never turns
into a silent skip.

Where the SDK would guess, this module decides and says so: the project and region are the
pipeline run's own unless given (the SDK alone falls back to us-central1); with no TensorBoard
given or attached to the experiment, the SDK uses the project's default TensorBoard and creates
one if there is none, which is announced in the step's log; and a run name that already exists
(a retried publish task) is resumed, logging only the epochs it lacks, instead of failing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from recs_pipeline.core import progress
from recs_pipeline.core.errors import UserError
from recs_pipeline.training.scalars import epoch_scalars

RUN_NAME_LIMIT = 128


class ExperimentError(UserError, RuntimeError):
    """The run could not be logged to Vertex AI Experiments; the message names the experiment."""


@dataclass(frozen=True)
class ExperimentLog:
    """Everything one pipeline run logs to an experiment."""

    experiment: str
    run: str
    params: dict[str, float | int | str]
    summary_metrics: dict[str, float]
    time_series: list[tuple[int, dict[str, float]]] = field(default_factory=list)


def run_name(run_id: str) -> str:
    """Experiment run names allow lowercase letters, digits and hyphens."""
    name = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-")
    return (name or "run")[:RUN_NAME_LIMIT]


def plan(document: dict[str, Any], experiment: str) -> ExperimentLog:
    """The calls for one run, from its final training_metrics.json."""
    params = {k: (str(v) if isinstance(v, bool) or not isinstance(v, (int, float, str)) else v) for k, v in document["params"].items()}
    summary = {k: v for k, v in document["final_metrics"].items() if v is not None}
    for baseline, figures in document.get("baselines", {}).items():
        summary.update({f"{baseline}_{k}": v for k, v in figures.items() if v is not None})
    series = [(epoch, epoch_scalars(document, index)) for index, epoch in enumerate(document["epochs"])]
    return ExperimentLog(experiment=experiment, run=run_name(document["run_id"]), params=params, summary_metrics=summary,
                         time_series=series)


REGION_VARIABLES = ("GOOGLE_CLOUD_REGION", "CLOUD_ML_REGION")  # what the SDK itself reads before its us-central1 default


def resolved(given: str, run_value: str) -> str:
    """`given`, else the pipeline run's value (a Vertex placeholder; left unresolved by a local run)."""
    from recs_pipeline.vertex.placeholders import resolved as filled_in

    return given or filled_in(run_value)


def region(location: str, run_location: str = "", environ: Mapping[str, str] = os.environ) -> str:
    """The experiment's region: the given one, the pipeline run's, or the environment's; never the
    SDK's silent us-central1, which would put the experiment in another region than the run."""
    found = resolved(location, run_location) or next((environ[name] for name in REGION_VARIABLES if environ.get(name)), "")
    if not found:
        raise ExperimentError("Vertex AI Experiments needs a region: set the location parameter (--location), e.g. europe-west4")
    return found


def send(log: ExperimentLog, project: str = "", location: str = "", tensorboard: str = "", sdk: Any = None) -> None:
    """Log through the Vertex AI SDK (`google.cloud.aiplatform`, or an object with its interface)."""
    if sdk is None:
        from google.cloud import aiplatform as sdk
    project = project or None
    existing = sdk.Experiment.get(log.experiment, project=project, location=location)
    tensorboard = tensorboard or (existing.backing_tensorboard_resource_name if existing is not None else "") or ""
    if not tensorboard:
        progress.report(f"publish-metrics: experiment {log.experiment!r} has no TensorBoard for its time series; the Vertex AI SDK uses "
                        f"the project's default TensorBoard in {location}, and creates one if there is none "
                        "(set experiment_tensorboard to choose one)")
    sdk.init(project=project, location=location, experiment=log.experiment, experiment_tensorboard=tensorboard or None)
    earlier = sdk.ExperimentRun.get(log.run, experiment=log.experiment, project=project, location=location)
    logged = _logged_steps(earlier) if earlier is not None else set()
    if earlier is not None:
        progress.report(f"publish-metrics: experiment run {log.run!r} exists (a retried task): resuming it, "
                        f"{len(logged)} epoch(s) already logged")
    sdk.start_run(run=log.run, resume=earlier is not None)
    try:
        sdk.log_params(log.params)
        sdk.log_metrics(log.summary_metrics)
        for step, metrics in log.time_series:
            if step in logged:
                continue
            try:
                sdk.log_time_series_metrics(metrics, step=step)
            except RuntimeError as error:
                if "tensorboard" in str(error).lower():
                    raise ExperimentError(
                        f"experiment {log.experiment!r} has no backing Vertex AI TensorBoard, so the per-epoch history "
                        "cannot be logged as time series: create a TensorBoard and pass it as experiment_tensorboard "
                        f"(--experiment-tensorboard), or give the experiment one. ({error})"
                    ) from error
                raise
    finally:
        sdk.end_run()


def _logged_steps(run: Any) -> set[int]:
    """The steps an existing run's time series already hold (none when it has no time series yet)."""
    frame = run.get_time_series_data_frame()
    return set() if frame is None or frame.empty or "step" not in frame else {int(step) for step in frame["step"]}
