"""Gradient statistics accumulated on the device inside the train step: no second pass, no host sync.

Each step adds its gradients' count, sum, sum of squares, min, max, global norm and histogram
counts into non-trainable variables; the host reads them once per epoch and resets them.
Embedding gradients arrive as IndexedSlices: their statistics cover the rows the batch touched
(a dense gradient would be mostly the zeros of rows it did not touch). Histogram counts come
from a fixed 1-in-17 sample of each step's values (see `GradientAccumulator.update`).
"""

from __future__ import annotations

import math

import numpy as np

from recs_pipeline.core.tf_runtime import tf

HISTOGRAM_STRIDE = 17


def symlog_edges(smallest: float = 1e-9, largest: float = 10.0, per_decade: int = 1) -> list[float]:
    """Bin edges symmetric about zero, one bin per decade of magnitude: gradients span many scales."""
    decades = round(math.log10(largest / smallest))
    magnitudes = np.logspace(np.log10(smallest), np.log10(largest), decades * per_decade + 1)
    return [float(x) for x in np.concatenate([-magnitudes[::-1], magnitudes])]


def _values(gradients: list) -> list[tf.Tensor]:
    """Each gradient as a flat float32 tensor."""
    out = []
    for gradient in gradients:
        if gradient is None:
            continue
        values = gradient.values if isinstance(gradient, tf.IndexedSlices) else gradient
        out.append(tf.reshape(tf.cast(values, tf.float32), [-1]))
    return out


@tf.function(jit_compile=True)
def _step_statistics(values: list, inner_edges: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """One step's [count, sum, sum of squares, norm, 1], [-min, max] and histogram counts.

    Compiled with XLA, so the reductions fuse into a few passes over the values instead of dozens
    of small kernels (at this size the kernel count, not the arithmetic, is the cost).
    """
    size = tf.cast(tf.add_n([tf.size(v) for v in values]), tf.float32)
    squares = tf.add_n([tf.reduce_sum(v * v) for v in values])
    total = tf.add_n([tf.reduce_sum(v) for v in values])
    moments = tf.stack([size, total, squares, tf.sqrt(squares), 1.0])
    lowest = tf.reduce_max(tf.stack([-tf.reduce_min(v) for v in values]))
    highest = tf.reduce_max(tf.stack([tf.reduce_max(v) for v in values]))
    sample = tf.concat([v[::HISTOGRAM_STRIDE] for v in values], axis=0)
    buckets = tf.reduce_sum(tf.cast(sample[:, None] >= inner_edges[None, :], tf.int32), axis=1)
    counts = tf.reduce_sum(tf.one_hot(buckets, tf.size(inner_edges) + 1, dtype=tf.int64), axis=0)
    return moments, tf.stack([lowest, highest]), counts


class GradientAccumulator:
    """Running statistics of one tower's gradients over the current epoch, in three variables.

    `moments` holds [count, sum, sum of squares, sum of per-step norms, steps] (float64, so a
    long epoch does not lose precision); `extremes` holds [-min, max]; `histogram` the counts.
    Few variables means few ops per step: at this size the op count, not the arithmetic, is the cost.
    """

    def __init__(self, name: str, bin_edges: list[float]):
        self.name = name
        self.bin_edges = list(bin_edges)
        self._inner_edges = self.bin_edges[1:-1]
        # Under a distribution strategy each replica's step updates these; the first replica's
        # share of the batch stands for the step (a sample, like the histogram's stride).
        first = tf.VariableAggregation.ONLY_FIRST_REPLICA
        self.moments = tf.Variable(tf.zeros([5], tf.float64), trainable=False, name=f"{name}_moments", aggregation=first)
        self.extremes = tf.Variable(tf.fill([2], -np.inf), trainable=False, dtype=tf.float32, name=f"{name}_extremes",
                                    aggregation=first)
        self.histogram = tf.Variable(tf.zeros([len(self.bin_edges) - 1], tf.int64), trainable=False, name=f"{name}_histogram",
                                     aggregation=first)

    def update(self, gradients: list) -> tf.Tensor:
        """Add one step's gradients; returns the step's global norm of this tower.

        Per tensor: sum, sum of squares (a dot product), min and max, with no concatenated copy;
        the norm comes from the sum of squares. The histogram takes every HISTOGRAM_STRIDE-th value (a
        prime stride, so it walks across embedding columns): bucketing every value would cost
        more than the rest of the statistics together, and a 1-in-17 sample keeps the shape.
        """
        moments, extremes, counts = _step_statistics(_values(gradients), tf.constant(self._inner_edges, tf.float32))
        self.moments.assign_add(tf.cast(moments, tf.float64))
        self.extremes.assign(tf.maximum(self.extremes, extremes))
        self.histogram.assign_add(counts)
        return moments[3]

    def read_and_reset(self) -> dict:
        """The epoch's statistics (one host read), then zero the accumulators for the next epoch."""
        count, total, total_squares, norm_total, steps = self.moments.numpy().tolist()
        negative_min, maximum = self.extremes.numpy().tolist()
        nan = float("nan")
        mean = total / count if count else nan
        variance = total_squares / count - mean * mean if count else nan
        result = {
            "mean": mean,
            "std": float(np.sqrt(max(variance, 0.0))) if count else nan,
            "min": -negative_min if count else nan,
            "max": maximum if count else nan,
            "norm": norm_total / steps if steps else nan,
            "histogram": self.histogram.numpy().tolist(),
        }
        self.moments.assign(tf.zeros_like(self.moments))
        self.extremes.assign(tf.fill([2], -np.inf))
        self.histogram.assign(tf.zeros_like(self.histogram))
        return result


class GradientStatistics:
    """Both towers' accumulators plus the mean global norm of all gradients per step."""

    def __init__(self, bin_edges: list[float] | None = None):
        self.bin_edges = bin_edges or symlog_edges()
        self.towers = {name: GradientAccumulator(name, self.bin_edges) for name in ("query", "candidate")}
        first = tf.VariableAggregation.ONLY_FIRST_REPLICA
        self.total_norm = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="total_norm_sum", aggregation=first)
        self.steps = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="total_norm_steps", aggregation=first)

    def update(self, query_gradients: list, candidate_gradients: list) -> None:
        query_norm = self.towers["query"].update(query_gradients)
        candidate_norm = self.towers["candidate"].update(candidate_gradients)
        self.total_norm.assign_add(tf.cast(tf.sqrt(query_norm**2 + candidate_norm**2), tf.float64))
        self.steps.assign_add(1.0)

    def read_and_reset(self) -> dict:
        steps = float(self.steps.numpy())
        result = {name: tower.read_and_reset() for name, tower in self.towers.items()}
        result["total_norm"] = float(self.total_norm.numpy()) / steps if steps else float("nan")
        self.total_norm.assign(0.0)
        self.steps.assign(0.0)
        return result
