"""Gradient statistics accumulated on the device inside the train step: no second pass, no host sync.

Each step adds its gradients' count, sum, sum of squares, min, max, global norm and histogram
counts into non-trainable variables; the host reads them once per epoch and resets them.
Embedding gradients arrive as IndexedSlices: their statistics cover the rows the batch touched
(a dense gradient would be mostly the zeros of rows it did not touch). Histogram counts come
from a fixed 1-in-17 sample of each step's values (see `GradientAccumulator.update`).
"""

from __future__ import annotations

import numpy as np

from recs_pipeline.tf_runtime import tf

HISTOGRAM_STRIDE = 17


def symlog_edges(smallest: float = 1e-9, largest: float = 10.0, per_decade: int = 1) -> list[float]:
    """Bin edges symmetric about zero, one bin per decade of magnitude: gradients span many scales."""
    decades = int(round(np.log10(largest / smallest)))
    magnitudes = np.logspace(np.log10(smallest), np.log10(largest), decades * per_decade + 1)
    return [float(x) for x in np.concatenate([-magnitudes[::-1], magnitudes])]


def _values(gradients: list) -> list[tf.Tensor]:
    """Each gradient as a flat float32 tensor (reshape is free: no concatenated copy is made)."""
    out = []
    for gradient in gradients:
        if gradient is None:
            continue
        values = gradient.values if isinstance(gradient, tf.IndexedSlices) else gradient
        out.append(tf.reshape(tf.cast(values, tf.float32), [-1]))
    return out


class GradientAccumulator:
    """Running statistics of one tower's gradients over the current epoch."""

    def __init__(self, name: str, bin_edges: list[float]):
        self.name = name
        self.bin_edges = list(bin_edges)
        self._inner_edges = self.bin_edges[1:-1]
        bins = len(self.bin_edges) - 1

        def variable(value, dtype, suffix):
            return tf.Variable(value, dtype=dtype, trainable=False, name=f"{name}_{suffix}")

        self.count = variable(0.0, tf.float64, "count")
        self.total = variable(0.0, tf.float64, "sum")
        self.total_squares = variable(0.0, tf.float64, "sum_squares")
        self.minimum = variable(np.inf, tf.float32, "min")
        self.maximum = variable(-np.inf, tf.float32, "max")
        self.norm_total = variable(0.0, tf.float64, "norm_sum")
        self.steps = variable(0.0, tf.float64, "steps")
        self.histogram = variable(tf.zeros([bins], tf.int64), tf.int64, "histogram")

    def update(self, gradients: list) -> tf.Tensor:
        """Add one step's gradients; returns the step's global norm of this tower.

        Per tensor, four float32 reductions (sum, sum of squares, min, max); the norm comes from
        the sum of squares. The histogram takes every HISTOGRAM_STRIDE-th value of each tensor
        (a prime stride, so it walks across embedding columns): bucketing every value would cost
        more than the rest of the statistics together, and a 1-in-17 sample keeps the shape.
        """
        values = _values(gradients)
        step_sum = tf.add_n([tf.reduce_sum(v) for v in values])
        step_squares = tf.add_n([tf.tensordot(v, v, 1) for v in values])
        step_min = tf.reduce_min(tf.stack([tf.reduce_min(v) for v in values]))
        step_max = tf.reduce_max(tf.stack([tf.reduce_max(v) for v in values]))
        size = tf.add_n([tf.size(v) for v in values])
        norm = tf.sqrt(step_squares)
        self.count.assign_add(tf.cast(size, tf.float64))
        self.total.assign_add(tf.cast(step_sum, tf.float64))
        self.total_squares.assign_add(tf.cast(step_squares, tf.float64))
        self.minimum.assign(tf.minimum(self.minimum, step_min))
        self.maximum.assign(tf.maximum(self.maximum, step_max))
        self.norm_total.assign_add(tf.cast(norm, tf.float64))
        self.steps.assign_add(1.0)
        sample = tf.concat([v[::HISTOGRAM_STRIDE] for v in values], axis=0)
        buckets = tf.raw_ops.Bucketize(input=sample, boundaries=self._inner_edges)
        bins = len(self.bin_edges) - 1
        self.histogram.assign_add(tf.math.bincount(buckets, minlength=bins, maxlength=bins, dtype=tf.int64))
        return norm

    def read_and_reset(self) -> dict:
        """The epoch's statistics (one host read), then zero the accumulators for the next epoch."""
        count = float(self.count.numpy())
        steps = float(self.steps.numpy())
        mean = float(self.total.numpy()) / count if count else float("nan")
        variance = float(self.total_squares.numpy()) / count - mean * mean if count else float("nan")
        result = {
            "mean": mean,
            "std": float(np.sqrt(max(variance, 0.0))) if count else float("nan"),
            "min": float(self.minimum.numpy()) if count else float("nan"),
            "max": float(self.maximum.numpy()) if count else float("nan"),
            "norm": float(self.norm_total.numpy()) / steps if steps else float("nan"),
            "histogram": self.histogram.numpy().tolist(),
        }
        for variable, value in (
            (self.count, 0.0), (self.total, 0.0), (self.total_squares, 0.0), (self.norm_total, 0.0),
            (self.steps, 0.0), (self.minimum, np.inf), (self.maximum, -np.inf),
        ):
            variable.assign(value)
        self.histogram.assign(tf.zeros_like(self.histogram))
        return result


class GradientStatistics:
    """Both towers' accumulators plus the mean global norm of all gradients per step."""

    def __init__(self, bin_edges: list[float] | None = None):
        self.bin_edges = bin_edges or symlog_edges()
        self.towers = {name: GradientAccumulator(name, self.bin_edges) for name in ("query", "candidate")}
        self.total_norm = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="total_norm_sum")
        self.steps = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="total_norm_steps")

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
