"""Several runs side by side: params and final metrics with differences marked, curves overlaid."""

from __future__ import annotations

from html import escape
from typing import Any, Sequence

from recs_pipeline.core import metric_keys
from recs_pipeline.core.config import RECALL_KS
from recs_pipeline.tracking.reader import TrainingMetrics
from recs_pipeline.tracking.report import STYLE, bar_chart, line_chart

DIFFERS = "*"


def _labels(runs: Sequence[TrainingMetrics]) -> list[str]:
    """Run ids, made unique (the same run id twice gets #2)."""
    labels: list[str] = []
    for run in runs:
        label = run.run_id
        while label in labels:
            label = f"{run.run_id}#{len(labels) + 1}"
        labels.append(label)
    return labels


def comparison_rows(runs: Sequence[TrainingMetrics]) -> list[tuple[str, list[Any], bool]]:
    """(name, value per run, differs) for every param, then every final metric and baseline recall."""
    rows: list[tuple[str, list[Any], bool]] = []
    param_names = sorted({name for run in runs for name in run.params})
    for name in param_names:
        values = [run.params.get(name) for run in runs]
        rows.append((f"param {name}", values, len({repr(v) for v in values}) > 1))
    metric_names = sorted({name for run in runs for name in run.final_metrics})
    for name in metric_names:
        values = [run.final_metrics.get(name) for run in runs]
        rows.append((name, values, len({repr(v) for v in values}) > 1))
    baseline_names = sorted({name for run in runs for name in run.baselines})
    for baseline in baseline_names:
        for k in RECALL_KS:
            values = [run.baselines.get(baseline, {}).get(metric_keys.test_recall(k)) for run in runs]
            rows.append((f"{baseline} {metric_keys.recall_label(k)}", values, len({repr(v) for v in values}) > 1))
    return rows


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def comparison_text(runs: Sequence[TrainingMetrics]) -> str:
    """A plain-text table; rows whose values differ between runs start with '*'."""
    labels = _labels(runs)
    rows = comparison_rows(runs)
    name_width = max([len(name) for name, _, _ in rows] + [10]) + 2
    widths = [max(len(label), 10) + 2 for label in labels]
    lines = [" " * (name_width + 2) + "".join(label.rjust(w) for label, w in zip(labels, widths))]
    for name, values, differs in rows:
        mark = DIFFERS if differs else " "
        lines.append(f"{mark} {name.ljust(name_width)}" + "".join(_cell(v).rjust(w) for v, w in zip(values, widths)))
    lines.append(f"\n{DIFFERS} = differs between runs")
    return "\n".join(lines)


def comparison_html(runs: Sequence[TrainingMetrics]) -> str:
    """Self-contained HTML: the table with differences highlighted, loss curves overlaid, recall bars."""
    labels = _labels(runs)
    head = "".join(f"<th>{escape(label)}</th>" for label in labels)
    body = "".join(
        f'<tr class="{"diff" if differs else ""}"><th>{escape(name)}</th>'
        + "".join(f"<td>{escape(_cell(v))}</td>" for v in values)
        + "</tr>"
        for name, values, differs in comparison_rows(runs)
    )
    recall = {label: {metric_keys.recall_label(k): run.final_metrics.get(metric_keys.test_recall(k)) for k in RECALL_KS} for label, run in zip(labels, runs)}
    charts = [
        line_chart("Training loss", {label: run.loss["loss"] for label, run in zip(labels, runs)}),
        line_chart("Validation loss", {label: run.loss["val_loss"] for label, run in zip(labels, runs)}),
        bar_chart("Test recall@K", recall, [metric_keys.recall_label(k) for k in RECALL_KS]),
    ]
    style = STYLE + "tr.diff th,tr.diff td{background:#fff3cd}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Run comparison</title>'
        f"<style>{style}</style></head><body><h1>Run comparison</h1>"
        f"<p>Highlighted rows differ between runs.</p><table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"{''.join(charts)}</body></html>"
    )
