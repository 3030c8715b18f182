"""Several runs side by side: the data each was trained and tested on, params and final metrics
with differences marked, curves overlaid.

Runs on different data (another file, another synthetic seed, another split) have test figures
that do not compare: that is said first and loudly, not left to a row in the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from recs_pipeline.core import metric_keys
from recs_pipeline.core.config import RECALL_KS
from recs_pipeline.evaluation import output
from recs_pipeline.evaluation.segments import ROWS
from recs_pipeline.tracking import plots, tables
from recs_pipeline.tracking.reader import TrainingMetrics
from recs_pipeline.tracking.report import grid, page

DIFFERS = "*"
SECTIONS = ("data", "param", "metric", "baseline", "segment")


@dataclass(frozen=True)
class Row:
    section: str  # one of SECTIONS
    name: str
    values: list[Any]
    shown: list[str]  # each value as a person reads it (epochs from 1, figures at tables.DECIMALS decimals)

    @property
    def label(self) -> str:
        """How the table names the row: `data source`, `param epochs`, `test_recall_at_10`, `popularity recall@10`,
        `new_customer popularity recall@10`."""
        return f"{self.section} {self.name}" if self.section in ("data", "param") else self.name

    @property
    def differs(self) -> bool:
        return len({repr(v) for v in self.values}) > 1


@dataclass(frozen=True)
class DataCheck:
    """Whether every run saw the same data: same source and the same data stats."""

    same: bool
    differing: list[str]  # data stats (and `source`) whose values differ
    without_stats: list[str]  # runs that recorded no data stats (cannot be checked)

    def message(self) -> str:
        if self.without_stats:
            return (f"Cannot tell whether these runs used the same data: {', '.join(self.without_stats)} recorded no data stats. "
                    "Their test figures may not compare.")
        if not self.same:
            return (f"These runs were NOT trained and tested on the same data (they differ in {', '.join(self.differing)}): "
                    "their test figures do not compare.")
        return "All runs used the same data (same source and data stats)."


def labels(runs: Sequence[TrainingMetrics]) -> list[str]:
    """Run ids, made unique (the same run id twice gets #2)."""
    out: list[str] = []
    for run in runs:
        label = run.run_id
        while label in out:
            label = f"{run.run_id}#{len(out) + 1}"
        out.append(label)
    return out


def data_check(runs: Sequence[TrainingMetrics]) -> DataCheck:
    names = labels(runs)
    without = [name for name, run in zip(names, runs) if not run.data_stats]
    keys = sorted({key for run in runs for key in run.data_stats}, key=lambda k: (k != "source", k))
    differing = [key for key in keys if len({repr(run.data_stats.get(key)) for run in runs}) > 1]
    return DataCheck(same=not differing and not without, differing=differing, without_stats=without)


def comparison_rows(runs: Sequence[TrainingMetrics]) -> list[Row]:
    """Data source and stats, every param, every final metric (in K order), every baseline figure,
    and per test segment its row count and the by-segment figures of the model and each baseline."""
    def row(section: str, name: str, values: list[Any], text=lambda value, run: tables.fmt(value)) -> Row:
        return Row(section, name, values, [text(value, run) for value, run in zip(values, runs)])

    rows = [row("data", key, [run.data_stats.get(key) for run in runs])
            for key in sorted({key for run in runs for key in run.data_stats}, key=lambda k: (k != "source", k))]
    rows += [row("param", name, [run.params.get(name) for run in runs], lambda value, run: tables.param_text(value))
             for name in sorted({n for run in runs for n in run.params})]
    rows += [row("metric", name, [run.final_metrics.get(name) for run in runs],
                 lambda value, run, name=name: tables.final_metric_text(name, value, run.final_metrics))
             for name in tables.ordered({n for run in runs for n in run.final_metrics})]
    for baseline in sorted({name for run in runs for name in run.baselines}):
        figures = tables.ordered({n for run in runs for n in run.baselines.get(baseline, {})})
        rows += [row("baseline", f"{baseline} {metric_keys.label(name)}", [run.baselines.get(baseline, {}).get(name) for run in runs])
                 for name in figures]
    for segment in output.ordered_segments(name for run in runs for name in run.segments):
        found = [run.segments.get(segment, {}) for run in runs]
        rows.append(row("segment", f"{segment} rows", [figures.get(ROWS) for figures in found]))
        baselines = sorted({name for figures in found for name in figures.get(output.BASELINES, {})})
        for method in [tables.MODEL, *baselines]:
            values = [figures.get(output.MODEL, {}) if method == tables.MODEL else figures.get(output.BASELINES, {}).get(method, {})
                      for figures in found]
            rows += [row("segment", f"{segment} {method} {metric_keys.label(name)}", [figures.get(name) for figures in values])
                     for name in tables.segment_metric_names()]
    return rows


CELL_WIDTH = 24  # a longer value (a source path) loses its middle in the text table; the HTML page shows it whole


def comparison_text(runs: Sequence[TrainingMetrics]) -> str:
    """A plain-text table under the data verdict; rows whose values differ start with '*'. Columns
    are headed `run 1`, `run 2`, ... with the run ids listed above, so three runs fit in 120
    characters whatever their ids."""
    names = labels(runs)
    rows = comparison_rows(runs)
    check = data_check(runs)
    name_width = max([len(row.label) for row in rows] + [10]) + 2
    headings = [f"run {index}" for index in range(1, len(runs) + 1)]
    cells = [[plots.short(text, CELL_WIDTH).strip() for text in row.shown] for row in rows]
    widths = [max([len(heading), *(len(row[i]) for row in cells)]) + 2 for i, heading in enumerate(headings)]
    lines = [("" if check.same else "WARNING: ") + check.message(), ""]
    lines += [f"{heading}: {name}" for heading, name in zip(headings, names)]
    lines.append("")
    lines.append(" " * (name_width + 2) + "".join(heading.rjust(w) for heading, w in zip(headings, widths)))
    for row, texts in zip(rows, cells):
        mark = DIFFERS if row.differs else " "
        lines.append(f"{mark} {row.label.ljust(name_width)}" + "".join(text.rjust(w) for text, w in zip(texts, widths)))
    lines.append(f"\n{DIFFERS} = differs between runs")
    return "\n".join(lines)


def comparison_html(runs: Sequence[TrainingMetrics]) -> str:
    """Self-contained HTML: the data verdict, the table with differences highlighted, loss curves
    overlaid (every epoch marked, so a one-epoch run shows), recall bars per run."""
    names = labels(runs)
    check = data_check(runs)
    head = "".join(f"<th>{escape(name)}</th>" for name in names)
    body = []
    section = None
    for row in comparison_rows(runs):
        if row.section != section:
            section = row.section
            body.append(f'<tr class="section"><th colspan="{len(names) + 1}">{escape(section)}</th></tr>')
        css = "" if not row.differs else ("data-diff diff" if row.section == "data" else "diff")
        body.append(f'<tr class="{css}"><th>{escape(row.name)}</th>' + "".join(f"<td>{escape(text)}</td>" for text in row.shown) + "</tr>")
    recall = {name: {metric_keys.recall_label(k): run.final_metrics.get(metric_keys.test_recall(k)) for k in RECALL_KS}
              for name, run in zip(names, runs)}
    charts = [
        plots.line_chart("Training loss", {name: run.loss["loss"] for name, run in zip(names, runs)}, "loss"),
        plots.line_chart("Validation loss", {name: run.loss["val_loss"] for name, run in zip(names, runs)}, "loss"),
        plots.grouped_bars("Test recall@K", recall, [metric_keys.recall_label(k) for k in RECALL_KS], "recall", width=plots.WIDTH),
    ]
    verdict = f'<p class="{"ok" if check.same else "warn banner"}">{escape(check.message())}</p>'
    style = ("tr.diff th,tr.diff td{background:#fff3cd}tr.data-diff th,tr.data-diff td{background:#f8d7da}"
             "tr.section th{background:#e9ecef;text-transform:uppercase;font-size:11px;letter-spacing:.05em}"
             ".banner{border:2px solid #a00;background:#fdecea;padding:8px 12px;margin:8px 0}")
    return page("Run comparison", [
        "<h1>Run comparison</h1>",
        verdict,
        grid(charts),
        "<p>Highlighted rows differ between runs (data rows in red).</p>",
        f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>",
    ], style)
