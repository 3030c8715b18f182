"""The buy-again term: a learned repeat-purchase probability mixed into the towers' scores.

In B2B data most orders repeat earlier ones, and a low-dimensional dot product cannot say "this
customer bought exactly these 30 of 100,000 products" (the README's "Measured" has the
measurements). So the model is a two-way mixture, as in repeat-explore recommenders: the
customer either buys again, a product in proportion to its share of their last
`history_length` purchases, or explores, by the towers' softmax. In logits,

    logit = log(exp(dot / temperature) + [n > 0] * exp(w_bought) * (n / total) ** w_share),

n being how often the customer bought the product among those purchases (total of them). The
two weights train jointly with the towers on the same in-batch softmax (model.in_batch_losses
mixes them into the batch's logits); w_share = 1 is the plain mixture. A mixture, not an
additive bonus: among products bought before, the share alone orders them, as the repeat
probability says, rather than the share times the towers' score. The mixture is the training
objective (and the evaluate step's test loss): it leaves the towers to learn what the customer
buys new. Ranking by it is one of the two forms the train step chooses between on validation
(blend.py); the evaluate step and the served model then score with this same function.
"""

from __future__ import annotations

import numpy as np

from recs_pipeline.core.tf_runtime import keras, tf


class BuyAgain(keras.layers.Layer):
    """The two weights; `call` mixes the repeat term into a batch's or the catalog's logits."""

    def build(self, input_shape) -> None:
        self.bought = self.add_weight(name="bought", shape=(), initializer="zeros")
        # 1: the repeat probability proportional to the share, as in the mixture's own form.
        self.share = self.add_weight(name="share", shape=(), initializer="ones")
        super().build(input_shape)

    def call(self, logits: tf.Tensor, counts: tf.Tensor, totals: tf.Tensor) -> tf.Tensor:
        return mix(logits, counts, totals, self.bought, self.share)


def mix(logits, counts, totals, bought, share):
    """The towers' logits (dot products / temperature) of products the customer bought, mixed with
    the repeat term: log(exp(logit) + exp(w_bought) * (n / total) ** w_share). Products never bought
    keep their logit. Shapes (customers, products), (customers, products), (customers,); NumPy
    arrays or TF tensors."""
    if isinstance(logits, np.ndarray):
        shares = counts / np.maximum(totals, 1.0)[:, None]
        repeat = bought + share * np.log(np.maximum(shares, 1e-12))
        return np.where(counts > 0, np.logaddexp(logits, repeat), logits)
    shares = counts / tf.maximum(totals, 1.0)[:, None]
    repeat = bought + share * tf.math.log(tf.maximum(shares, 1e-12))
    larger = tf.maximum(logits, repeat)
    mixed = larger + tf.math.log1p(tf.exp(-tf.abs(logits - repeat)))
    return tf.where(counts > 0, mixed, logits)


def window_sizes(history) -> tf.Tensor:
    """(customers,) float32: purchases in each history row (entries that are not padding)."""
    return tf.reduce_sum(tf.cast(history > 0, tf.float32), axis=1)


def batch_counts(history: tf.Tensor, items: tf.Tensor, num_items: tf.Tensor | int) -> tf.Tensor:
    """(customers, candidates) float32: how often each row's history (item index + 1, 0 pads)
    holds each candidate item index. Linear in the window, not customers x window x candidates:
    each history entry is mapped to its column among the batch's distinct items and counted."""
    distinct, column = tf.unique(tf.cast(items, tf.int32))
    # slot[i + 1] = position of item i among the distinct candidates, -1 when not a candidate.
    slot = tf.tensor_scatter_nd_update(-tf.ones(tf.reshape(num_items + 1, [1]), tf.int32), distinct[:, None] + 1,
                                       tf.range(tf.size(distinct), dtype=tf.int32))
    slots = tf.gather(slot, tf.cast(history, tf.int32))  # (customers, window); padding maps to slot[0] = -1
    found = tf.where(slots >= 0)
    per_distinct = tf.tensor_scatter_nd_add(
        tf.zeros(tf.stack([tf.shape(history)[0], tf.size(distinct)])),
        tf.stack([tf.cast(found[:, 0], tf.int32), tf.gather_nd(slots, found)], axis=1),
        tf.ones(tf.shape(found)[:1]),
    )
    return tf.gather(per_distinct, column, axis=1)


def catalog_counts(history: tf.Tensor, num_items: int) -> tf.Tensor:
    """(customers, num_items) float32: each row's purchase counts over the whole catalog."""
    rows = tf.shape(history)[0]
    length = tf.shape(history)[1]
    row_index = tf.repeat(tf.range(rows), length)
    flat = tf.reshape(history, [-1])
    indices = tf.stack([row_index, tf.maximum(flat - 1, 0)], axis=1)
    updates = tf.cast(flat > 0, tf.float32)
    return tf.tensor_scatter_nd_add(tf.zeros(tf.stack([rows, num_items])), indices, updates)


class CountTable:
    """Each customer's purchase counts from the history matrix (row i: customer i), for scoring
    blocks of the catalog in NumPy."""

    def __init__(self, history: np.ndarray):
        self.totals = (history > 0).sum(axis=1).astype(np.float64)
        users, positions = np.nonzero(history)
        keys = users.astype(np.int64) * (int(history.max()) + 1) + history[users, positions]
        unique, counts = np.unique(keys, return_counts=True)
        width = int(history.max()) + 1
        self.users = (unique // width).astype(np.int64)
        self.items = (unique % width - 1).astype(np.int64)
        self.counts = counts.astype(np.float64)
        self.starts = np.searchsorted(self.users, np.arange(len(history) + 1))

    def block(self, users: np.ndarray, low: int, high: int) -> np.ndarray:
        """(len(users), high - low) counts."""
        out = np.zeros((len(users), high - low))
        for row, user in enumerate(users):
            start, stop = self.starts[user], self.starts[user + 1]
            items = self.items[start:stop]
            inside = (items >= low) & (items < high)
            out[row, items[inside] - low] = self.counts[start:stop][inside]
        return out


def scorer(base, table: CountTable, weights: tuple[float, float], temperature: float):
    """An evaluation ScoreFn: `base` (the towers' dot products) over the temperature, mixed with
    the repeat term."""

    def score(users: np.ndarray, low: int, high: int) -> np.ndarray:
        return mix(base(users, low, high) / temperature, table.block(users, low, high), table.totals[users], *weights)

    return score
