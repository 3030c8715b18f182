"""MetricsCollector: the in-memory training history, in the layout of training_metrics.json."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from recs_pipeline.tracking.schema import SCHEMA_VERSION, TOWERS, encode, to_plain, validate

LOSS_KEYS = ("loss", "val_loss", "total_loss", "val_total_loss", "regularization_loss", "val_regularization_loss")
STAT_KEYS = ("mean", "std", "min", "max")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def empty_history(run_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """A history with no epochs yet: valid against the schema from the start."""

    def tower(extra: tuple[str, ...] = ()) -> dict[str, Any]:
        return {**{key: [] for key in (*STAT_KEYS, *extra)}, "histogram": {"bin_edges": [], "counts": []}}

    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "saved_at": utc_now(),
        "available": True,
        "epochs": [],
        "epoch_seconds": [],
        "loss": {key: [] for key in LOSS_KEYS},
        "gradient": {"total": [], "query": [], "candidate": []},
        "weight_stats": {name: tower() for name in TOWERS},
        "gradient_stats": {name: tower(("norm",)) for name in TOWERS},
        "final_metrics": {},
        "params": dict(params),
        "non_finite_values": 0,
    }


def weight_statistics(values: np.ndarray, bin_edges: list[float]) -> dict[str, Any]:
    """Mean/std/min/max and histogram counts of a tower's weights (values outside fall in the end bins)."""
    clipped = np.clip(values, bin_edges[0], bin_edges[-1])
    counts, _ = np.histogram(clipped, bins=np.asarray(bin_edges))
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
        "histogram": counts.tolist(),
    }


def weight_bin_edges(values: np.ndarray, bins: int) -> list[float]:
    """Fixed edges for a whole run, set at the first epoch: ±1.5× the largest weight, so growth shows."""
    limit = float(np.abs(values).max()) * 1.5 or 1.0
    return np.linspace(-limit, limit, bins + 1).tolist()


class MetricsCollector:
    """Holds the history in memory; callbacks append an epoch, the sink serialises it.

    No I/O here: flushing is the sink's job, once per epoch, outside the batch loop.
    """

    def __init__(self, run_id: str, params: dict[str, Any], history: dict[str, Any] | None = None):
        self.history = history if history is not None else empty_history(run_id, params)
        # A history read back from JSON already holds its NaN/Inf as null: keep their count.
        self._earlier_non_finite = int(self.history.get("non_finite_values", 0)) if history is not None else 0

    @property
    def epochs_done(self) -> int:
        return len(self.history["epochs"])

    def log_epoch(
        self,
        epoch: int,
        logs: dict[str, float],
        seconds: float,
        gradients: dict[str, Any],
        weights: dict[str, dict[str, Any]],
        weight_edges: dict[str, list[float]],
        gradient_edges: list[float],
    ) -> None:
        """Append one finished epoch; epochs must arrive in order, none twice."""
        if epoch != self.epochs_done:
            raise ValueError(f"epoch {epoch} logged after {self.epochs_done} epoch(s): history would gain a gap or a duplicate")
        history = self.history
        history["epochs"].append(epoch)
        history["epoch_seconds"].append(seconds)
        for key in LOSS_KEYS:
            history["loss"][key].append(logs.get(key, float("nan")))
        history["gradient"]["total"].append(gradients["total_norm"])
        for tower in TOWERS:
            history["gradient"][tower].append(gradients[tower]["norm"])
            gradient_block = history["gradient_stats"][tower]
            for key in (*STAT_KEYS, "norm"):
                gradient_block[key].append(gradients[tower][key])
            gradient_block["histogram"]["bin_edges"] = gradient_edges
            gradient_block["histogram"]["counts"].append(gradients[tower]["histogram"])
            weight_block = history["weight_stats"][tower]
            for key in STAT_KEYS:
                weight_block[key].append(weights[tower][key])
            weight_block["histogram"]["bin_edges"] = weight_edges[tower]
            weight_block["histogram"]["counts"].append(weights[tower]["histogram"])

    def set_final_metrics(self, metrics: dict[str, float]) -> None:
        self.history["final_metrics"].update(metrics)

    def serialise(self) -> bytes:
        """Stamp, sanitise and validate; what is returned is exactly what a reader will load."""
        self.history["saved_at"] = utc_now()
        clean, non_finite = to_plain(self.history)
        clean["non_finite_values"] = self._earlier_non_finite + non_finite
        validate(clean)
        return encode(clean)
