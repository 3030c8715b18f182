"""Every chart of a training_metrics.json, drawn once with matplotlib: the HTML report and the
comparison page inline them as SVG, a notebook gets the same figures from the reader.

No pyplot: figures are plain `Figure` objects rendered by matplotlib's SVG backend, so nothing
depends on a display, on the process's global backend or on state left by another chart. Text
is written as SVG <text> (no glyph outlines, small files), which matplotlib's SVG writer escapes;
mathtext is off, so a `$` in a run id stays a `$`.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullLocator

from recs_pipeline.core import metric_keys
from recs_pipeline.core.config import RECALL_KS
from recs_pipeline.tracking import tables
from recs_pipeline.tracking.schema import TOWERS

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
WIDTH, WIDE, HEIGHT = 4.6, 6.0, 2.9  # inches (three or two to a row); the page scales each SVG to its column
RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "recs-pipeline",  # ids from content alone: the same document gives the same SVG
    "text.parse_math": False,
    "font.size": 8.5,
    "font.family": "sans-serif",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e8e8e8",
    "axes.axisbelow": True,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titley": 1.0,  # a fixed title place: matplotlib otherwise measures every tick label to move it
    "legend.fontsize": 8,
    "legend.frameon": True,
    "legend.framealpha": 0.85,
    "legend.edgecolor": "none",
}
_SVG_START = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)
_SVG_SIZE = re.compile(r'\s(width|height)="[^"]*"')
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)


class Chart(Figure):
    """A matplotlib Figure that a notebook shows as the report's own SVG, with or without pyplot."""

    def _repr_svg_(self) -> str:
        return to_svg(self)


def new_chart(title: str, width: float = WIDTH, height: float = HEIGHT, right: float = 0.15) -> tuple[Chart, Any]:
    """A figure with one axes and fixed margins in inches (room for tick labels, axis labels and
    the title). Fixed margins, not matplotlib's layout engines: those redraw every figure several
    times, which tripled the report's rendering time."""
    with matplotlib.rc_context(RC):
        chart = Chart(figsize=(width, height))
        chart.subplots_adjust(left=0.72 / width, right=1 - right / width, bottom=0.5 / height, top=1 - 0.3 / height)
        ax = chart.add_subplot()
        ax.set_title(title, loc="left")
    return chart, ax


def short(name: str, limit: int = 32) -> str:
    """A legend entry: long names lose their middle (run ids differ at the end: a timestamp, a
    suffix); the page's tables show them whole. A leading '_' would hide the entry (matplotlib's
    no-legend mark), so such a name gets a space in front."""
    if len(name) > limit:
        head = (limit - 1) // 2
        name = name[:head] + "…" + name[-(limit - 1 - head):]
    return " " + name if name.startswith("_") else name


def to_svg(chart: Figure) -> str:
    """The figure as an <svg> element to inline in HTML: no XML prolog, no DOCTYPE (whose URL a
    browser would never load, but which has no place inside HTML), no metadata, sized by CSS."""
    buffer = io.StringIO()
    with matplotlib.rc_context(RC):
        FigureCanvasSVG(chart).print_svg(buffer, metadata={"Date": None, "Creator": None})
    svg = _METADATA.sub("", _SVG_START.sub("", buffer.getvalue(), count=1), count=1)
    opening_end = svg.index(">")
    return _SVG_SIZE.sub("", svg[:opening_end]) + ' class="chart" role="img"' + svg[opening_end:]


def values(series: Sequence[Any]) -> np.ndarray:
    """A series as floats, None (a non-finite value in the JSON) as NaN: a gap, never a made-up point."""
    return np.array([float(v) if isinstance(v, (int, float)) and math.isfinite(v) else np.nan for v in series], dtype=float)


def _epoch_axis(ax: Any, count: int) -> None:
    """Epochs are numbered from 1, as people count them and as the training log does; ticks are
    whole epochs only, and a single epoch still gets an axis around it."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel("epoch")
    ax.set_xlim(0.5, max(count, 1) + 0.5)


def _plain_y(ax: Any) -> None:
    """A few round tick values, each written in full (no offset such as '+5.3' above the axis)."""
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.ticklabel_format(axis="y", useOffset=False)


def epoch_lines(ax: Any, series: Mapping[str, Sequence[Any]]) -> None:
    """One line per series over epochs 1..n, every epoch marked (a one-epoch run is a visible point)."""
    count = max((len(s) for s in series.values()), default=0)
    for colour, (name, data) in zip(PALETTE * 4, series.items()):
        y = values(data)
        ax.plot(np.arange(1, len(y) + 1), y, marker="o", markersize=3.5, linewidth=1.6, color=colour, label=short(name))
    _epoch_axis(ax, count)
    _plain_y(ax)


def _no_data(ax: Any, what: str = "no data") -> None:
    ax.text(0.5, 0.5, what, transform=ax.transAxes, ha="center", va="center", color="#888")
    ax.set_xticks([])
    ax.set_yticks([])


def line_chart(title: str, series: Mapping[str, Sequence[Any]], y_label: str = "", kept_epoch: int | None = None) -> Chart:
    """Series over epochs; `kept_epoch` (1-based) draws the epoch whose weights the model kept."""
    chart, ax = new_chart(title)
    if not any(np.isfinite(values(s)).any() for s in series.values()):
        _no_data(ax)
        return chart
    with matplotlib.rc_context(RC):
        epoch_lines(ax, series)
        if kept_epoch is not None:
            ax.axvline(kept_epoch, color="#555", linestyle=":", linewidth=1.2, label=f"kept: epoch {kept_epoch}")
        ax.legend(loc="best")
        ax.set_ylabel(y_label)
    return chart


def losses(document: Mapping[str, Any], kept_epoch: int | None = None) -> Chart:
    loss = document["loss"]
    return line_chart("Train and validation loss", {"train": loss["loss"], "validation": loss["val_loss"]}, "loss", kept_epoch)


def regularization(document: Mapping[str, Any]) -> Chart:
    loss = document["loss"]
    return line_chart("Regularization loss", {"train": loss["regularization_loss"], "validation": loss["val_regularization_loss"]})


def gradient_norms(document: Mapping[str, Any]) -> Chart:
    gradient = document["gradient"]
    return line_chart("Mean gradient norm per step", {name: gradient[name] for name in ("total", *TOWERS)}, "L2 norm")


def weight_spread(document: Mapping[str, Any]) -> Chart:
    stats = document["weight_stats"]
    return line_chart("Weight spread per tower", {f"{tower} tower": stats[tower]["std"] for tower in TOWERS}, "std of weights")


def weight_range(document: Mapping[str, Any]) -> Chart:
    """Smallest to largest weight per tower, as a band: embeddings that keep growing show here first."""
    stats = document["weight_stats"]
    chart, ax = new_chart("Weight range (min to max)")
    if not any(np.isfinite(values(stats[tower][end])).any() for tower in TOWERS for end in ("min", "max")):
        _no_data(ax)
        return chart
    with matplotlib.rc_context(RC):
        for colour, tower in zip(PALETTE, TOWERS):
            low, high = values(stats[tower]["min"]), values(stats[tower]["max"])
            x = np.arange(1, len(low) + 1)
            ax.fill_between(x, low, high, color=colour, alpha=0.15, linewidth=0)
            ax.plot(x, high, marker="o", markersize=3.5, linewidth=1.4, color=colour, label=tower)
            ax.plot(x, low, marker="o", markersize=3.5, linewidth=1.4, color=colour)
        _epoch_axis(ax, len(document["epochs"]))
        low, high = ax.get_ylim()
        ax.set_ylim(low, high + 0.3 * (high - low))  # headroom for the legend: the bands fill the rest
        _plain_y(ax)
        ax.legend(loc="upper left", ncols=2)
    return chart


def epoch_seconds(document: Mapping[str, Any]) -> Chart:
    """Wall time of each epoch (the first one includes tracing and compilation)."""
    seconds = values(document["epoch_seconds"])
    chart, ax = new_chart(f"Seconds per epoch (total {np.nansum(seconds):.1f} s)")
    if not np.isfinite(seconds).any():
        _no_data(ax)
        return chart
    with matplotlib.rc_context(RC):
        ax.bar(np.arange(1, len(seconds) + 1), np.nan_to_num(seconds), color=PALETTE[0], width=0.7)
        _epoch_axis(ax, len(seconds))
        _plain_y(ax)
        ax.set_ylabel("seconds")
    return chart


def heatmap(title: str, histogram: Mapping[str, Any]) -> Chart:
    """Histogram counts over epochs: one row per epoch (1 at the top), x the value, colour the share
    of that epoch's values in each bin. Log-spaced edges (gradients) get a symmetric-log axis."""
    counts = np.asarray(histogram.get("counts") or [], dtype=float)
    edges = np.asarray(histogram.get("bin_edges") or [], dtype=float)
    chart, ax = new_chart(title, width=WIDE, height=HEIGHT * 0.9, right=0.85)
    if counts.size == 0 or len(edges) < 2:
        _no_data(ax)
        return chart
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    epochs = len(counts)
    with matplotlib.rc_context(RC):
        mesh = ax.pcolormesh(edges, np.arange(0.5, epochs + 1), share, cmap="Blues", shading="flat",
                             norm=PowerNorm(gamma=0.5, vmin=0.0, vmax=max(float(share.max()), 1e-12)))
        widths = np.diff(edges)
        ax.set_xlim(edges[0], edges[-1])
        if not np.allclose(widths, widths[0], rtol=1e-6) and (edges > 0).any():
            _symlog_axis(ax, edges)
        ax.set_ylim(epochs + 0.5, 0.5)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1, nbins=min(epochs, 10)))
        ax.set_ylabel("epoch")
        ax.set_xlabel("value")
        ax.grid(False)
        bar = chart.colorbar(mesh, ax=ax, pad=0.015, fraction=0.05)
        bar.set_label("share of the epoch's values")
    return chart


def _symlog_axis(ax: Any, edges: np.ndarray) -> None:
    """A symmetric-log x axis labelled at a few whole decades each side of zero (matplotlib's own
    labels for it are mathtext, which stays off here)."""
    positive = edges[edges > 0]
    ax.set_xscale("symlog", linthresh=float(positive.min()))
    decades = np.arange(math.ceil(math.log10(positive.min()) - 1e-9), math.floor(math.log10(positive.max()) + 1e-9) + 1)
    chosen = decades[::-1][:: max(1, math.ceil(len(decades) / 3))][::-1]
    ticks = [-(10.0 ** d) for d in chosen[::-1]] + [0.0] + [10.0 ** d for d in chosen]
    ax.set_xticks(ticks, [_decade(t) for t in ticks])
    ax.xaxis.set_minor_locator(NullLocator())


def _decade(value: float) -> str:
    if value == 0:
        return "0"
    exponent = round(math.log10(abs(value)))
    text = {0: "1", 1: "10", 2: "100"}.get(exponent, f"1e{exponent}")
    return ("−" if value < 0 else "") + text


def histogram_heatmaps(document: Mapping[str, Any]) -> list[Chart]:
    """Weights, then gradients, of each tower."""
    charts = []
    for kind, label in (("weight_stats", "Weights"), ("gradient_stats", "Gradients")):
        for tower in TOWERS:
            charts.append(heatmap(f"{label} over epochs: {tower} tower", document[kind][tower]["histogram"]))
    return charts


def grouped_bars(title: str, groups: Mapping[str, Mapping[str, Any]], keys: Sequence[str], y_label: str = "",
                 width: float = WIDE) -> Chart:
    """For each key (recall@K), one bar per group (model, baselines, or runs), its value on top."""
    chart, ax = new_chart(title, width=width)
    figures = [[values([group.get(key)])[0] for key in keys] for group in groups.values()]
    if not np.isfinite(np.array(figures, dtype=float)).any():
        _no_data(ax)
        return chart
    slot = 0.8 / max(len(groups), 1)
    with matplotlib.rc_context(RC):
        for index, (colour, name, heights) in enumerate(zip(PALETTE * 4, groups, figures)):
            positions = np.arange(len(keys)) + (index - (len(groups) - 1) / 2) * slot
            bars = ax.bar(positions, np.nan_to_num(heights), slot * 0.95, color=colour, label=short(name))
            if len(groups) * len(keys) <= 16:
                ax.bar_label(bars, labels=[f"{h:.2f}" if np.isfinite(h) else "—" for h in heights], fontsize=6.5, padding=1)
        ax.set_xticks(np.arange(len(keys)), list(keys))
        ax.grid(False, axis="x")
        columns = min(len(groups), 3 if width >= WIDE else 1)
        legend_rows = math.ceil(len(groups) / columns)
        ax.set_ylim(0, max(1e-9, float(np.nanmax(np.array(figures, dtype=float)))) * (1.15 + 0.1 * legend_rows))  # room for the legend
        _plain_y(ax)
        ax.set_ylabel(y_label)
        ax.legend(loc="upper left", ncols=columns)
    return chart


def test_metric_bars(document: Mapping[str, Any], metric: str = "recall") -> Chart:
    """Test recall@K (or NDCG@K: `metric="ndcg"`) of the model beside every baseline."""
    name = {"recall": metric_keys.recall, "ndcg": metric_keys.ndcg}[metric]
    keys = [metric_keys.on_test(name(k)) for k in RECALL_KS]
    rows = {method: {metric_keys.label(key): value for key, value in figures.items()}
            for method, figures in tables.method_rows(document, keys).items()}
    title = {"recall": "Recall@K", "ndcg": "NDCG@K"}[metric]
    return grouped_bars(f"{title} on the test split", rows, [metric_keys.label(key) for key in keys], title.split("@")[0])
