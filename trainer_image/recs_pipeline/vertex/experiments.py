"""Vertex AI Experiments (optional): params, final metrics, and the per-epoch history as time series.

The calls are planned from training_metrics.json as plain data (`plan`), then sent through the
Vertex AI SDK (`send`). A missing backing TensorBoard, which the SDK reports only when the first
time series is logged, becomes an error that says what to do and fails the step; it never turns
into a silent skip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from recs_pipeline.core.errors import UserError
from recs_pipeline.tracking.schema import TOWERS

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
    series = []
    for index, epoch in enumerate(document["epochs"]):
        point = {name: values[index] for name, values in document["loss"].items()}
        point.update({f"gradient_norm_{name}": values[index] for name, values in document["gradient"].items()})
        for tower in TOWERS:
            point[f"weight_std_{tower}"] = document["weight_stats"][tower]["std"][index]
        series.append((epoch, {k: v for k, v in point.items() if v is not None}))
    return ExperimentLog(experiment=experiment, run=run_name(document["run_id"]), params=params, summary_metrics=summary, time_series=series)


def send(log: ExperimentLog, project: str = "", location: str = "", tensorboard: str = "", sdk: Any = None) -> None:
    """Log through the Vertex AI SDK (`google.cloud.aiplatform`, or an object with its interface)."""
    if sdk is None:
        from google.cloud import aiplatform as sdk
    sdk.init(
        project=project or None,
        location=location or None,
        experiment=log.experiment,
        experiment_tensorboard=tensorboard or None,
    )
    sdk.start_run(run=log.run, resume=False)
    try:
        sdk.log_params(log.params)
        sdk.log_metrics(log.summary_metrics)
        for step, metrics in log.time_series:
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
