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
buys new. Products are ranked by the blend (blend.py), which scores repeats by recency instead.
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
