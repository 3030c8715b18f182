"""The per-epoch scalars of a training history, one dict per epoch: what TensorBoard's curves and
Vertex AI Experiments' time series show, named the same in both."""

from __future__ import annotations

import math
from typing import Any

from recs_pipeline.tracking.schema import TOWERS


def epoch_scalars(history: dict[str, Any], index: int) -> dict[str, float]:
    """Losses, gradient norms and each tower's weight spread of the `index`-th recorded epoch;
    values the history lacks (None, NaN) are left out rather than drawn as zero."""
    point = {name: values[index] for name, values in history["loss"].items()}
    point.update({f"gradient_norm_{name}": values[index] for name, values in history["gradient"].items()})
    for tower in TOWERS:
        point[f"weight_std_{tower}"] = history["weight_stats"][tower]["std"][index]
    point["epoch_seconds"] = history["epoch_seconds"][index]
    return {name: float(value) for name, value in point.items() if value is not None and math.isfinite(value)}
