"""A self-contained HTML report and a Markdown summary of one run's training_metrics.json.

Charts are inline SVG drawn here: no script, style sheet or font is loaded from anywhere, so the
report renders in the Vertex console's viewer and offline. Every string that came from data or
parameters passes through `html.escape`.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any, Sequence

from recs_pipeline.core import metric_keys
from recs_pipeline.core.config import RECALL_KS

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
WIDTH, HEIGHT, PAD = 520, 260, 48


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


def line_chart(title: str, series: dict[str, Sequence[Any]], x_label: str = "epoch") -> str:
    """Lines over epochs; None (a non-finite value) breaks a line rather than inventing a point."""
    values = [v for s in series.values() for v in _finite(s)]
    length = max((len(s) for s in series.values()), default=0)
    if not values or length == 0:
        return f'<figure><figcaption>{escape(title)}</figcaption><p class="empty">no data</p></figure>'
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 0.5, high + 0.5
    span_x = max(length - 1, 1)

    def point(index: int, value: float) -> str:
        x = PAD + (WIDTH - 2 * PAD) * index / span_x
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * (value - low) / (high - low)
        return f"{x:.1f},{y:.1f}"

    parts = [_axes(low, high, length, x_label)]
    for colour, (name, data) in zip(PALETTE * 3, series.items()):
        segment: list[str] = []
        segments = []
        for index, value in enumerate(data):
            if isinstance(value, (int, float)) and math.isfinite(value):
                segment.append(point(index, float(value)))
            elif segment:
                segments.append(segment)
                segment = []
        segments.append(segment)
        for seg in segments:
            if len(seg) == 1:
                x, y = seg[0].split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}"/>')
            elif seg:
                parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(seg)}"/>')
    return _figure(title, parts, list(series))


def _axes(low: float, high: float, length: int, x_label: str, x_ticks: bool = True) -> str:
    bottom, right = HEIGHT - PAD, WIDTH - PAD
    ticks = []
    for i in range(5):
        value = low + (high - low) * i / 4
        y = bottom - (HEIGHT - 2 * PAD) * i / 4
        ticks.append(f'<text x="{PAD - 4}" y="{y + 4:.1f}" text-anchor="end">{value:.3g}</text>')
        ticks.append(f'<line x1="{PAD}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
    if x_ticks:
        ticks.append(f'<text x="{PAD}" y="{bottom + 16}">0</text><text x="{right}" y="{bottom + 16}" text-anchor="end">{length - 1}</text>')
    ticks.append(f'<text x="{WIDTH / 2}" y="{HEIGHT - 8}" text-anchor="middle">{escape(x_label)}</text>')
    ticks.append(f'<path d="M{PAD},{PAD} V{bottom} H{right}" fill="none" stroke="#555"/>')
    return "".join(ticks)


def _figure(title: str, parts: list[str], legend: list[str]) -> str:
    keys = "".join(
        f'<span class="key"><i style="background:{colour}"></i>{escape(name)}</span>' for colour, name in zip(PALETTE * 3, legend)
    )
    svg = f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img">{"".join(parts)}</svg>'
    return f"<figure><figcaption>{escape(title)}</figcaption>{svg}<div>{keys}</div></figure>"


def heatmap(title: str, histogram: dict[str, Any]) -> str:
    """Histogram counts over epochs: one row per epoch, one cell per bin, darker = more values."""
    counts = histogram.get("counts") or []
    edges = histogram.get("bin_edges") or []
    if not counts or len(edges) < 2:
        return f'<figure><figcaption>{escape(title)}</figcaption><p class="empty">no data</p></figure>'
    bins = len(edges) - 1
    cell_w = (WIDTH - 2 * PAD) / bins
    cell_h = min(24.0, (HEIGHT - 2 * PAD) / len(counts))
    parts = []
    for row, row_counts in enumerate(counts):
        peak = max(row_counts) or 1
        for column, count in enumerate(row_counts):
            shade = 1.0 - 0.9 * math.sqrt(count / peak)
            colour = f"rgb({int(255 * shade)},{int(255 * shade)},255)"
            parts.append(
                f'<rect x="{PAD + column * cell_w:.1f}" y="{PAD + row * cell_h:.1f}" width="{cell_w + 0.3:.1f}" '
                f'height="{cell_h + 0.3:.1f}" fill="{colour}"><title>epoch {row}, [{edges[column]:.3g}, {edges[column + 1]:.3g}): {count}</title></rect>'
            )
    bottom = PAD + len(counts) * cell_h
    parts.append(f'<text x="{PAD}" y="{bottom + 16:.1f}">{edges[0]:.3g}</text>')
    parts.append(f'<text x="{WIDTH - PAD}" y="{bottom + 16:.1f}" text-anchor="end">{edges[-1]:.3g}</text>')
    parts.append(f'<text x="{PAD - 4}" y="{PAD + 10}" text-anchor="end">epoch 0</text>')
    parts.append(f'<text x="{PAD - 4}" y="{bottom:.1f}" text-anchor="end">{len(counts) - 1}</text>')
    return _figure(title, parts, [])


def bar_chart(title: str, groups: dict[str, dict[str, Any]], keys: Sequence[str]) -> str:
    """Grouped bars: for each key (recall@K), one bar per series (model, baselines)."""
    values = [v for g in groups.values() for v in _finite([g.get(k) for k in keys])]
    high = max(values, default=0.0) or 1.0
    slot = (WIDTH - 2 * PAD) / max(len(keys), 1)
    bar = slot * 0.8 / max(len(groups), 1)
    parts = [_axes(0.0, high, 1, "", x_ticks=False)]
    for k_index, key in enumerate(keys):
        x0 = PAD + slot * k_index + slot * 0.1
        parts.append(f'<text x="{x0 + slot * 0.4:.1f}" y="{HEIGHT - PAD + 16}" text-anchor="middle">{escape(key)}</text>')
        for g_index, (colour, figures) in enumerate(zip(PALETTE * 3, groups.values())):
            value = figures.get(key)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            h = (HEIGHT - 2 * PAD) * value / high
            parts.append(
                f'<rect x="{x0 + g_index * bar:.1f}" y="{HEIGHT - PAD - h:.1f}" width="{bar - 1:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(key)}: {value:.4f}</title></rect>"
            )
    return _figure(title, parts, list(groups))


def recall_table_rows(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Model and baselines, keyed by recall@K label: the one comparison every view shows."""
    rows = {"model": {metric_keys.recall_label(k): document["final_metrics"].get(metric_keys.test_recall(k)) for k in RECALL_KS}}
    for name, figures in document.get("baselines", {}).items():
        rows[name] = {metric_keys.recall_label(k): figures.get(metric_keys.test_recall(k)) for k in RECALL_KS}
    return rows


def _table(rows: dict[str, dict[str, Any]], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in ("", *columns))
    body = "".join(
        "<tr><th>" + escape(str(name)) + "</th>" + "".join(f"<td>{_fmt(values.get(c))}</td>" for c in columns) + "</tr>"
        for name, values in rows.items()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pairs(mapping: dict[str, Any]) -> str:
    body = "".join(f"<tr><th>{escape(str(k))}</th><td>{_fmt(v)}</td></tr>" for k, v in mapping.items())
    return f"<table><tbody>{body}</tbody></table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return escape(f"{value:.4g}")
    if value is None:
        return "—"
    return escape(str(value))


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1150px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
figure{display:inline-block;margin:8px 16px 8px 0;vertical-align:top}figcaption{font-weight:600;margin-bottom:4px}
svg text{font-size:11px;fill:#444}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}th{text-align:left;background:#f6f6f6}
.key{margin-right:12px;font-size:12px}.key i{display:inline-block;width:10px;height:10px;margin-right:4px}
.warn{color:#b00;font-weight:600}.empty{color:#888}
"""


def html_report(document: dict[str, Any]) -> str:
    """The whole report as one HTML string."""
    loss, gradient = document["loss"], document["gradient"]
    recall_rows = recall_table_rows(document)
    verdict = _verdict(recall_rows)
    sections = [
        f"<h1>Two-tower training report — run {escape(str(document['run_id']))}</h1>",
        f"<p>Saved {escape(str(document['saved_at']))}; {len(document['epochs'])} epoch(s).</p>",
        "<h2>Recall@K: model and baselines</h2>",
        verdict,
        _table(recall_rows, [metric_keys.recall_label(k) for k in RECALL_KS]),
        bar_chart("Recall@K on the test split", recall_rows, [metric_keys.recall_label(k) for k in RECALL_KS]),
        "<h2>Loss</h2>",
        line_chart("Train and validation loss", {"loss": loss["loss"], "val_loss": loss["val_loss"]}),
        line_chart("Regularization loss", {"train": loss["regularization_loss"], "val": loss["val_regularization_loss"]}),
        "<h2>Gradients and weights</h2>",
        line_chart("Mean gradient norm per step", {k: gradient[k] for k in ("total", "query", "candidate")}),
        line_chart(
            "Weight spread per tower (std)",
            {f"{tower} std": document["weight_stats"][tower]["std"] for tower in ("query", "candidate")},
        ),
    ]
    for kind in ("weight_stats", "gradient_stats"):
        for tower in ("query", "candidate"):
            label = "Weights" if kind == "weight_stats" else "Gradients (symmetric log bins)"
            sections.append(heatmap(f"{label} histogram over epochs — {tower} tower", document[kind][tower]["histogram"]))
    sections += [
        "<h2>Final metrics</h2>",
        _pairs(document["final_metrics"]),
        "<h2>Data</h2>",
        _pairs(document.get("data_stats", {})),
        "<h2>Parameters</h2>",
        _pairs(document["params"]),
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Training report {escape(str(document['run_id']))}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(sections)}</body></html>"
    )


def _verdict(rows: dict[str, dict[str, Any]], key: str = metric_keys.recall_label(10)) -> str:
    model = rows["model"].get(key)
    lines = []
    for name, figures in rows.items():
        if name == "model" or model is None or figures.get(key) is None:
            continue
        if model > figures[key]:
            lines.append(f"<p>The model beats {escape(name)} at {key} ({model:.4f} vs {figures[key]:.4f}).</p>")
        else:
            lines.append(f'<p class="warn">The model does not beat {escape(name)} at {key} ({model:.4f} vs {figures[key]:.4f}).</p>')
    return "".join(lines)


def markdown_summary(document: dict[str, Any]) -> str:
    """A short Markdown summary: recall of model and baselines side by side, and the final losses."""
    rows = recall_table_rows(document)
    header = "| | " + " | ".join(metric_keys.recall_label(k) for k in RECALL_KS) + " |\n|---|" + "---|" * len(RECALL_KS) + "\n"
    body = "".join(
        f"| {name} | " + " | ".join(_md(v) for v in figures.values()) + " |\n" for name, figures in rows.items()
    )
    final = document["final_metrics"]
    return (
        f"# Run {document['run_id']}\n\n{len(document['epochs'])} epoch(s); final loss {_md(final.get('final_loss'))}, "
        f"val loss {_md(final.get('final_val_loss'))}, test loss {_md(final.get('test_loss'))}.\n\n" + header + body
    )


def _md(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "—"
