"""The trained buy-again mixture as a score form, in NumPy (evaluate, the fit) and TensorFlow
(training's in-batch logits, the served model), side by side so they stay one function.

In B2B data most orders repeat earlier ones, and a low-dimensional dot product cannot say "this
customer bought exactly these 30 of 100,000 products". So the model is a two-way mixture, as in
repeat-explore recommenders: the customer either buys again, a product in proportion to its share
of their purchase window (their last `history_length` purchases), or explores, by the towers'
softmax. In logits,

    logit = log(exp(dot / temperature) + [n > 0] * exp(w_bought) * (n / total) ** w_share),

n being how often the customer bought the product in the window (total purchases in it). The two
weights train with the towers (model.buy_again); w_share = 1 is the plain mixture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recs_pipeline.core.tf_runtime import tf
from recs_pipeline.scoring.terms import ScoreFn

NAME = "mixture"


@dataclass(frozen=True)
class Mixture:
    """Rank by the trained mixture with these two weights (w_bought, w_share)."""

    bought: float
    share: float

    @property
    def uses_knn(self) -> bool:
        return False

    def as_dict(self) -> dict[str, float | str]:
        return {"form": NAME, "bought": self.bought, "share": self.share}


def mix(logits, counts, totals, bought, share):
    """The towers' logits (dot products / temperature) of products the customer bought, mixed with
    the repeat term: log(exp(logit) + exp(w_bought) * (n / total) ** w_share). Products never bought
    keep their logit. Shapes (customers, products), (customers, products), (customers,); NumPy
    arrays or TF tensors."""
    if isinstance(logits, np.ndarray):
        shares = counts / np.maximum(totals, 1.0)[:, None]
        repeat = bought + share * np.log(np.maximum(shares, 1e-12))
        return np.where(counts > 0, np.logaddexp(logits, repeat), logits)
    # Only where the customer bought the product (a few entries of a batch's or the catalog's
    # logits): computed there and written back, instead of a dozen passes over every entry and
    # their gradients.
    where = tf.where(counts > 0)
    at = tf.gather_nd(logits, where)
    shares = tf.gather_nd(counts, where) / tf.maximum(tf.gather(totals, where[:, 0]), 1.0)
    repeat = bought + share * tf.math.log(tf.maximum(shares, 1e-12))
    mixed = tf.maximum(at, repeat) + tf.math.log1p(tf.exp(-tf.abs(at - repeat)))
    return tf.tensor_scatter_nd_update(logits, where, mixed)


# --- NumPy: counts of each customer's purchase window, block by block of the catalog.


class CountTable:
    """Each customer's purchase counts from the purchase windows (row i: customer i), for scoring
    blocks of the catalog in NumPy."""

    def __init__(self, windows: np.ndarray):
        self.totals = (windows > 0).sum(axis=1).astype(np.float64)
        users, positions = np.nonzero(windows)
        keys = users.astype(np.int64) * (int(windows.max()) + 1) + windows[users, positions]
        unique, counts = np.unique(keys, return_counts=True)
        width = int(windows.max()) + 1
        self.users = (unique // width).astype(np.int64)
        self.items = (unique % width - 1).astype(np.int64)
        self.counts = counts.astype(np.float64)
        self.starts = np.searchsorted(self.users, np.arange(len(windows) + 1))

    def block(self, users: np.ndarray, low: int, high: int) -> np.ndarray:
        """(len(users), high - low) counts."""
        out = np.zeros((len(users), high - low))
        for row, user in enumerate(users):
            start, stop = self.starts[user], self.starts[user + 1]
            items = self.items[start:stop]
            inside = (items >= low) & (items < high)
            out[row, items[inside] - low] = self.counts[start:stop][inside]
        return out


def scorer(base: ScoreFn, table: CountTable, form: Mixture, temperature: float) -> ScoreFn:
    """The NumPy score: `base` (the towers' dot products) over the temperature, mixed with the repeat term."""

    def score(users: np.ndarray, low: int, high: int) -> np.ndarray:
        return mix(base(users, low, high) / temperature, table.block(users, low, high), table.totals[users], form.bought, form.share)

    return score


# --- TensorFlow: the same counts for a batch's candidates (training) or the whole catalog (serving).


def window_sizes(windows) -> tf.Tensor:
    """(customers,) float32: purchases in each window row (entries that are not padding)."""
    return tf.reduce_sum(tf.cast(windows > 0, tf.float32), axis=1)


def batch_counts(windows: tf.Tensor, items: tf.Tensor, num_items: tf.Tensor | int) -> tf.Tensor:
    """(customers, candidates) float32: how often each row's window (item index + 1, 0 pads)
    holds each candidate item index. Linear in the window, not customers x window x candidates:
    each window entry is mapped to its column among the batch's distinct items and counted."""
    distinct, column = tf.unique(tf.cast(items, tf.int32))
    # slot[i + 1] = position of item i among the distinct candidates, -1 when not a candidate.
    slot = tf.tensor_scatter_nd_update(-tf.ones(tf.reshape(num_items + 1, [1]), tf.int32), distinct[:, None] + 1,
                                       tf.range(tf.size(distinct), dtype=tf.int32))
    slots = tf.gather(slot, tf.cast(windows, tf.int32))  # (customers, window); padding maps to slot[0] = -1
    found = tf.where(slots >= 0)
    per_distinct = tf.tensor_scatter_nd_add(
        tf.zeros(tf.stack([tf.shape(windows)[0], tf.size(distinct)])),
        tf.stack([tf.cast(found[:, 0], tf.int32), tf.gather_nd(slots, found)], axis=1),
        tf.ones(tf.shape(found)[:1]),
    )
    return tf.gather(per_distinct, column, axis=1)


def catalog_counts(windows: tf.Tensor, num_items: int) -> tf.Tensor:
    """(customers, num_items) float32: each row's purchase counts over the whole catalog."""
    rows = tf.shape(windows)[0]
    length = tf.shape(windows)[1]
    row_index = tf.repeat(tf.range(rows), length)
    flat = tf.reshape(windows, [-1])
    indices = tf.stack([row_index, tf.maximum(flat - 1, 0)], axis=1)
    updates = tf.cast(flat > 0, tf.float32)
    return tf.tensor_scatter_nd_add(tf.zeros(tf.stack([rows, num_items])), indices, updates)


def serve_scores(form: Mixture, logits: tf.Tensor, windows: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """The TensorFlow score over the whole catalog: `logits` (customers, products) of the towers,
    `windows` the customers' purchase windows, `weights` the form's (w_bought, w_share) as a variable."""
    counts = catalog_counts(windows, tf.shape(logits)[1])
    return mix(logits, counts, window_sizes(windows), weights[0], weights[1])
