"""The publish_metrics step's body: merge history and evaluation into the final training_metrics.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recs_pipeline.core import metric_keys, progress, storage
from recs_pipeline.data import prepared_data
from recs_pipeline.evaluation import output, segments
from recs_pipeline.tracking import report
from recs_pipeline.tracking.collector import MetricsCollector
from recs_pipeline.tracking.sink import METRICS_FILE, expand_metrics_uri
from recs_pipeline.vertex import experiments


def final_document(history: dict[str, Any], evaluation: dict[str, Any], data_stats: dict[str, Any]) -> dict[str, Any]:
    """The history with test figures in final_metrics, the baselines beside them, the same per test
    segment (when the evaluation measured segments), and the data stats."""
    document = dict(history)
    document["final_metrics"] = {**history["final_metrics"], **_on_test(evaluation[output.MODEL])}
    document[output.BASELINES] = _baselines_on_test(evaluation[output.BASELINES])
    found = output.segment_figures(evaluation)
    if found:
        document[output.SEGMENTS] = {
            name: {segments.ROWS: figures[segments.ROWS], output.MODEL: _on_test(figures[output.MODEL]),
                   output.BASELINES: _baselines_on_test(figures.get(output.BASELINES, {}))}
            for name, figures in found.items()
        }
    document["data_stats"] = data_stats
    return document


def _on_test(figures: dict[str, Any]) -> dict[str, Any]:
    """Evaluate's names as the published document spells them (`recall_at_10` → `test_recall_at_10`)."""
    return {metric_keys.on_test(name): value for name, value in figures.items()}


def _baselines_on_test(baselines: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: _on_test(figures) for name, figures in baselines.items()}


def run(
    prepared_dir: str,
    training_log_dir: str,
    evaluation_dir: str,
    training_metrics_path: str,
    summary_path: str,
    report_path: str,
    metrics_uri: str = "",
    experiment: str = "",
    experiment_tensorboard: str = "",
    project: str = "",
    location: str = "",
    run_project: str = "",
    run_location: str = "",
) -> dict[str, Any]:
    """Write the final JSON (artifact and metrics URI), the Markdown summary and the HTML report;
    with `experiment`, also log the run to Vertex AI Experiments, in the given project and region
    or else the pipeline run's (`run_project`, `run_location`)."""
    history = json.loads((Path(training_log_dir) / METRICS_FILE).read_text())
    evaluation = output.read(evaluation_dir)
    data_stats = prepared_data.read_stats(prepared_dir)
    collector = MetricsCollector(history["run_id"], history["params"], history=final_document(history, evaluation, data_stats))
    payload = collector.serialise()
    storage.write_bytes(training_metrics_path, payload)
    if metrics_uri:
        target = storage.check_uri(expand_metrics_uri(metrics_uri, history["run_id"]))
        storage.write_bytes(storage.join(target, METRICS_FILE), payload)
    final = json.loads(payload)
    storage.write_bytes(summary_path, report.markdown_summary(final).encode(), content_type="text/markdown")
    storage.write_bytes(report_path, report.html_report(final).encode(), content_type="text/html")
    if experiment:
        experiments.send(experiments.plan(final, experiment), experiments.resolved(project, run_project),
                         experiments.region(location, run_location), experiment_tensorboard)
    copies = f", a copy at {expand_metrics_uri(metrics_uri, history['run_id'])}" if metrics_uri else ""
    logged = f", logged to experiment {experiment}" if experiment else ""
    progress.report(f"publish-metrics: training_metrics.json, report and summary of run {history['run_id']}{copies}{logged}")
    return final


def scalar_metrics(document: dict[str, Any]) -> dict[str, float]:
    """What the Vertex console shows and compares across runs: final metrics, baseline recall, and
    each test segment's recall of the model and the baselines (flat names: the console has no nesting)."""
    scalars = {name: value for name, value in document["final_metrics"].items() if value is not None}
    for baseline, figures in document.get(output.BASELINES, {}).items():
        scalars.update({metric_keys.baseline_scalar(baseline, name): value for name, value in _recalls(figures)})
    for segment, found in output.segment_figures(document).items():
        scalars.update({metric_keys.segment_scalar(segment, name): value for name, value in _recalls(found.get(output.MODEL, {}))})
        for baseline, figures in found.get(output.BASELINES, {}).items():
            scalars.update({metric_keys.segment_scalar(segment, name, baseline): value for name, value in _recalls(figures)})
    return scalars


def _recalls(figures: dict[str, Any]) -> list[tuple[str, float]]:
    """The recall@K figures among `figures` that were measured (a non-finite one is null)."""
    return [(name, value) for name, value in figures.items()
            if value is not None and (parsed := metric_keys.parse(name)) is not None and parsed.metric == "recall"]
