"""Reading a training_metrics.json back, for any program that consumes the file, notebooks and the CLI.

A URI may be the file itself under any name (the pipeline's `training_metrics` artifact is an
object called `training_metrics`, no suffix), or a folder or gs:// prefix holding one (the
`--metrics-uri`). The notebook views are the report's own: frames for pandas, and the report's
matplotlib charts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recs_pipeline.core import storage
from recs_pipeline.evaluation import output
from recs_pipeline.evaluation.segments import ROWS
from recs_pipeline.tracking.schema import TOWERS, MetricsValidationError, validate
from recs_pipeline.tracking.sink import METRICS_FILE

if TYPE_CHECKING:
    import pandas as pd

    from recs_pipeline.tracking.plots import Chart

MAX_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class TrainingMetrics:
    """A validated history; `raw` is exactly the JSON object, for code that wants the dict.

    Frames and charts number epochs from 1, as the training log and the report do; `epochs` and
    final_metrics' `best_epoch` are the JSON's 0-based indexes.
    """

    raw: dict[str, Any]
    uri: str = ""  # where it was read from

    @property
    def run_id(self) -> str:
        return self.raw["run_id"]

    @property
    def epochs(self) -> list[int]:
        return list(self.raw["epochs"])

    @property
    def loss(self) -> dict[str, list[float | None]]:
        return self.raw["loss"]

    @property
    def final_metrics(self) -> dict[str, float | None]:
        return self.raw["final_metrics"]

    @property
    def baselines(self) -> dict[str, dict[str, float | None]]:
        return self.raw.get("baselines", {})

    @property
    def segments(self) -> dict[str, dict[str, Any]]:
        """Test figures per segment of the test rows ({segment: {rows, model, baselines}}, named as in
        final_metrics), in evaluation.segments' order; empty for a file from before segments were measured."""
        return output.segment_figures(self.raw)

    @property
    def segment_rows(self) -> dict[str, int]:
        """Each segment's test row count."""
        return {segment: figures[ROWS] for segment, figures in self.segments.items()}

    @property
    def params(self) -> dict[str, Any]:
        return self.raw["params"]

    @property
    def data_stats(self) -> dict[str, Any]:
        return self.raw.get("data_stats", {})

    @property
    def kept_epoch(self) -> int | None:
        """The epoch (1-based) whose weights the model has; None before training finished."""
        from recs_pipeline.tracking.tables import kept_epoch

        return kept_epoch(self.raw)

    # --- frames --------------------------------------------------------------------------

    def losses_frame(self) -> pd.DataFrame:
        """One row per epoch (index `epoch`, from 1): every loss series and the epoch's seconds.
        Non-finite values (null in the JSON) are NaN."""
        import pandas as pd

        columns = {name: _floats(series) for name, series in self.loss.items()}
        columns["epoch_seconds"] = _floats(self.raw["epoch_seconds"])
        return pd.DataFrame(columns, index=pd.RangeIndex(1, len(self.epochs) + 1, name="epoch"))

    def epoch_stats_frame(self) -> pd.DataFrame:
        """One row per epoch: gradient norms and each tower's weight and gradient mean/std/min/max."""
        import pandas as pd

        columns = {f"gradient_norm_{name}": _floats(series) for name, series in self.raw["gradient"].items()}
        for kind, prefix in (("weight_stats", "weight"), ("gradient_stats", "gradient")):
            for tower in TOWERS:
                for stat, series in self.raw[kind][tower].items():
                    if stat != "histogram":
                        columns[f"{prefix}_{stat}_{tower}"] = _floats(series)
        return pd.DataFrame(columns, index=pd.RangeIndex(1, len(self.epochs) + 1, name="epoch"))

    def final_metrics_frame(self) -> pd.DataFrame:
        """The final metrics with the baselines beside them: one row per metric (final_metrics'
        names, in K order), one column per method (`model`, then each baseline). A figure a
        method does not have (a baseline has no training loss) is NaN."""
        import pandas as pd

        from recs_pipeline.tracking.tables import MODEL, ordered

        names = ordered({*self.final_metrics, *(name for figures in self.baselines.values() for name in figures)})
        methods = {MODEL: self.final_metrics, **self.baselines}
        data = {method: [_float(figures.get(name)) for name in names] for method, figures in methods.items()}
        return pd.DataFrame(data, index=pd.Index(names, name="metric"))

    def segments_frame(self) -> pd.DataFrame:
        """final_metrics_frame's test figures per segment: one row per (segment, metric), one column
        per method (`model`, then each baseline any segment has); NaN where a method has no figure
        there. Empty for a file from before segments were measured."""
        import pandas as pd

        from recs_pipeline.tracking.tables import MODEL, ordered

        methods = {MODEL: None} | {baseline: None for figures in self.segments.values() for baseline in figures.get(output.BASELINES, {})}
        index, data = [], {method: [] for method in methods}
        for segment, figures in self.segments.items():
            by_method = {MODEL: figures.get(output.MODEL, {}), **figures.get(output.BASELINES, {})}
            for name in ordered({name for values in by_method.values() for name in values}):
                index.append((segment, name))
                for method in methods:
                    data[method].append(_float(by_method.get(method, {}).get(name)))
        return pd.DataFrame(data, index=pd.MultiIndex.from_tuples(index, names=["segment", "metric"]))

    # --- charts: the report's own figures, for a notebook ------------------------------------

    def plot_losses(self) -> Chart:
        """Train and validation loss over epochs, the kept epoch marked."""
        from recs_pipeline.tracking import plots

        return plots.losses(self.raw, self.kept_epoch)

    def plot_epoch_seconds(self) -> Chart:
        from recs_pipeline.tracking import plots

        return plots.epoch_seconds(self.raw)

    def plot_gradient_norms(self) -> Chart:
        from recs_pipeline.tracking import plots

        return plots.gradient_norms(self.raw)

    def plot_weight_spread(self) -> Chart:
        from recs_pipeline.tracking import plots

        return plots.weight_spread(self.raw)

    def plot_histograms(self, kind: str = "gradient_stats", tower: str = "query") -> Chart:
        """One tower's weight (`weight_stats`) or gradient (`gradient_stats`) histograms over epochs."""
        from recs_pipeline.tracking import plots

        if kind not in ("weight_stats", "gradient_stats") or tower not in TOWERS:
            raise ValueError(f"kind must be weight_stats or gradient_stats and tower one of {TOWERS}, got {kind!r}, {tower!r}")
        label = "Weights" if kind == "weight_stats" else "Gradients"
        return plots.heatmap(f"{label} over epochs: {tower} tower", self.raw[kind][tower]["histogram"])

    def plot_recall(self) -> Chart:
        """Test recall@K of the model beside the baselines."""
        from recs_pipeline.tracking import plots

        return plots.test_metric_bars(self.raw, "recall")

    def plot_ndcg(self) -> Chart:
        from recs_pipeline.tracking import plots

        return plots.test_metric_bars(self.raw, "ndcg")


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _floats(series: list[Any]) -> list[float]:
    return [_float(value) for value in series]


def _locate(uri: str) -> tuple[str, int]:
    """The file a URI means and its size: the object or file itself when one has that name, else
    the training_metrics.json inside the folder or prefix. Sizes are read before any content."""
    if storage.is_gcs(uri):
        if not uri.endswith("/") and storage.parse_gcs(uri).name:
            try:
                return uri, storage.size(uri)
            except FileNotFoundError:
                pass
        inside = storage.join(uri, METRICS_FILE)
    else:
        if not Path(uri).is_dir():
            return uri, storage.size(uri)
        inside = storage.join(uri, METRICS_FILE)
    try:
        return inside, storage.size(inside)
    except FileNotFoundError:
        raise FileNotFoundError(f"no training metrics at {uri}: neither a file by that name nor a folder holding {METRICS_FILE}") from None


def resolve(uri: str) -> str:
    """Where the training_metrics.json that `uri` means is (see `_locate`)."""
    return _locate(storage.check_uri(uri))[0]


def load_training_metrics(uri: str) -> TrainingMetrics:
    """Read and validate; a broken file raises MetricsValidationError naming the first bad field."""
    location, size = _locate(storage.check_uri(uri))
    if size > MAX_BYTES:  # checked before reading: a huge object is never loaded
        raise MetricsValidationError("(document)", f"{location} is {size} bytes, over the {MAX_BYTES} limit")
    payload = storage.read_bytes(location)
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MetricsValidationError("(document)", f"{location} is not valid JSON: {error}") from error
    validate(document)
    return TrainingMetrics(document, location)
