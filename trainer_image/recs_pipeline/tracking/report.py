"""A self-contained HTML report and a Markdown summary of one run's training_metrics.json.

Charts come from `tracking.plots` (matplotlib's SVG backend) and are inlined: no script, style
sheet, font or image is loaded from anywhere, so the report renders in the Vertex console's viewer
and offline. Every string from data or parameters is HTML-escaped here, or XML-escaped by
matplotlib's SVG writer inside a chart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

from recs_pipeline.core import metric_keys
from recs_pipeline.evaluation import output
from recs_pipeline.tracking import plots, tables
from recs_pipeline.tracking.tables import recall_table_rows  # noqa: F401  (still importable from here, where the CLI used to find it)

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:20px 28px;color:#222;max-width:1240px}
h1{font-size:21px;margin:0 0 6px}h2{font-size:16px;margin:26px 0 8px;border-bottom:1px solid #ddd;padding-bottom:3px}
p{margin:4px 0}.grid{display:grid;grid-template-columns:repeat(3,1fr);gap:10px 18px;align-items:start}
.grid.two{grid-template-columns:repeat(2,1fr)}@media (max-width:900px){.grid,.grid.two{grid-template-columns:1fr}}
figure{margin:0}svg.chart{width:100%;height:auto;display:block}
table{border-collapse:collapse;margin:6px 0;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{text-align:left;background:#f6f6f6;font-weight:600}thead th{text-align:right}thead th:first-child{text-align:left}
.warn{color:#a00;font-weight:600}.ok{color:#176117}.empty{color:#888}.muted{color:#666;font-size:13px}
.columns{display:flex;flex-wrap:wrap;gap:8px 32px;align-items:flex-start}
"""


def page(title: str, body: Sequence[str], extra_style: str = "") -> str:
    """One HTML document; `title` is escaped here, `body` must already be."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}{extra_style}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )


def figure(chart: plots.Chart) -> str:
    return f"<figure>{plots.to_svg(chart)}</figure>"


def grid(charts: Sequence[plots.Chart], columns: int = 3) -> str:
    """Charts in rows of three (or two, for the wide ones), each scaled to its column."""
    css = "grid" if columns == 3 else "grid two"
    return f'<div class="{css}">' + "".join(figure(chart) for chart in charts) + "</div>"


def table(rows: Mapping[str, Mapping[str, Any]], columns: Sequence[str], headings: Sequence[str] | None = None) -> str:
    """Rows of figures; `columns` are the keys, `headings` what the header shows."""
    head = "".join(f"<th>{escape(h)}</th>" for h in ("", *(headings or columns)))
    body = "".join(
        "<tr><th>" + escape(str(name)) + "</th>" + "".join(f"<td>{escape(tables.fmt(values.get(c)))}</td>" for c in columns) + "</tr>"
        for name, values in rows.items()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def pairs(mapping: Mapping[str, Any], order: Sequence[str] | None = None,
          text: Callable[[str, Any], str] = lambda name, value: tables.fmt(value)) -> str:
    names = order if order is not None else list(mapping)
    body = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(text(k, mapping[k]))}</td></tr>" for k in names)
    return f"<table><tbody>{body}</tbody></table>"


def warnings(lines: Sequence[str]) -> str:
    return "".join(f'<p class="warn">{escape(line)}</p>' for line in lines)


def verdicts(document: Mapping[str, Any], k: int = 10) -> list[tuple[bool, str]]:
    """(model wins, sentence) for each baseline at recall@k."""
    key = metric_keys.test_recall(k)
    rows = tables.method_rows(document, [key])
    model = rows.pop(tables.MODEL)[key]
    out = []
    for found in output.comparisons({key: model}, rows, [key]):  # decided there, for every view
        verb = "beats" if found.beats else "does not beat"
        figures = f"({found.model:.4f} vs {found.other:.4f})"
        out.append((found.beats, f"The model {verb} {found.baseline} at {metric_keys.recall_label(k)} {figures}."))
    return out


def _verdict_html(document: Mapping[str, Any]) -> str:
    return "".join(f'<p class="{"ok" if wins else "warn"}">{escape(text)}</p>' for wins, text in verdicts(document))


def _segments_html(document: Mapping[str, Any]) -> str:
    """The by-segment tables side by side, each under its row count and description; nothing for a
    document from before segments were measured."""
    found = tables.segment_tables(document)
    if not found:
        return ""
    names = tables.segment_metric_names()
    blocks = "".join(
        f"<div><h3>{escape(tables.segment_heading(document, segment))}</h3>"
        + table(rows, names, [metric_keys.label(n) for n in names]) + "</div>"
        for segment, rows in found.items()
    )
    return (f'<h2>Test metrics by segment</h2><p class="muted">{escape(tables.SEGMENT_NOTE.capitalize())}.</p>'
            f'<div class="columns">{blocks}</div>')


def html_report(document: Mapping[str, Any]) -> str:
    """The whole report as one HTML string."""
    run_id = str(document["run_id"])
    names = tables.test_metric_names()
    kept = tables.kept_epoch(document)
    non_finite = document.get("non_finite_values", 0)
    final = document["final_metrics"]
    body = [
        f"<h1>Two-tower training report: run {escape(run_id)}</h1>",
        f'<p class="muted">Saved {escape(str(document["saved_at"]))}. {escape(tables.epochs_sentence(document))}</p>',
    ]
    if non_finite:
        body.append(warnings([f"{non_finite} non-finite value(s) (NaN or infinity) were recorded; they are gaps in the charts."]))
    body += [
        "<h2>Test metrics: model and baselines</h2>",
        warnings(tables.catalog_warnings(document)),
        _verdict_html(document),
        table(tables.method_rows(document, names), names, [metric_keys.label(n) for n in names]),
        grid([
            plots.test_metric_bars(document, "recall"),
            plots.test_metric_bars(document, "ndcg"),
        ], columns=2),
        _segments_html(document),
        "<h2>Training</h2>",
        grid([
            plots.losses(document, kept),
            plots.epoch_seconds(document),
            plots.gradient_norms(document),
            plots.regularization(document),
            plots.weight_spread(document),
            plots.weight_range(document),
        ]),
        "<h2>Weight and gradient histograms</h2>",
        ('<p class="muted">Each row is an epoch; colour is the share of that epoch\'s values in the bin. Gradient bins are '
         "one per decade of magnitude on each side of zero (a symmetric-log axis).</p>"),
        grid(plots.histogram_heatmaps(document), columns=2),
        '<h2>Run</h2><div class="columns">',
        "<div><h3>Final metrics</h3>"
        + pairs(final, tables.ordered(final), lambda name, value: tables.final_metric_text(name, value, final)) + "</div>",
        "<div><h3>Data</h3>" + pairs(document.get("data_stats", {})) + "</div>",
        "<div><h3>Parameters</h3>" + pairs(document["params"], sorted(document["params"]), lambda name, value: tables.param_text(value))
        + "</div></div>",
    ]
    return page(f"Training report {run_id}", body, "h3{font-size:14px;margin:8px 0 2px}")


def markdown_summary(document: Mapping[str, Any]) -> str:
    """A short Markdown summary: test metrics of model and baselines side by side, the epochs and
    the final losses, and any warning."""
    names = tables.test_metric_names()
    rows = tables.method_rows(document, names)
    header = "| | " + " | ".join(metric_keys.label(n) for n in names) + " |\n|---|" + "---|" * len(names) + "\n"
    body = "".join(f"| {escape(name)} | " + " | ".join(_md(v) for v in figures.values()) + " |\n" for name, figures in rows.items())
    final = document["final_metrics"]
    notes = "".join(f"\n**Warning:** {line}\n" for line in tables.catalog_warnings(document))
    return (
        f"# Run {escape(str(document['run_id']))}\n\n{tables.epochs_sentence(document)} "
        f"Final loss {_md(final.get(metric_keys.FINAL_LOSS))}, val loss {_md(final.get(metric_keys.FINAL_VAL_LOSS))}, "
        f"test loss {_md(final.get(metric_keys.on_test(metric_keys.LOSS)))}.\n\n"
        + header + body + notes + _segments_markdown(document)
    )


def _segments_markdown(document: Mapping[str, Any]) -> str:
    """One table per segment under its row count and description; nothing without segments."""
    found = tables.segment_tables(document)
    if not found:
        return ""
    names = tables.segment_metric_names()
    header = "| | " + " | ".join(metric_keys.label(n) for n in names) + " |\n|---|" + "---|" * len(names) + "\n"
    parts = [f"\n## Test metrics by segment\n\n{tables.SEGMENT_NOTE.capitalize()}.\n"]
    for segment, rows in found.items():
        body = "".join(f"| {escape(name)} | " + " | ".join(_md(v) for v in figures.values()) + " |\n" for name, figures in rows.items())
        parts.append(f"\n**{escape(tables.segment_heading(document, segment))}**\n\n" + header + body)
    return "".join(parts)


def _md(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "—"
