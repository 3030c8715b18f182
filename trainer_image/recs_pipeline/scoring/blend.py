"""The blend as a score form, in NumPy (evaluate, the fit, the baselines) and TensorFlow (the
served model), side by side so they stay one function:

    blend = w_repeat * repeat + popularity + w_towers * towers + w_knn * knn

(the terms: terms.py). The model's blend has w_repeat 1 and its other weights fitted on
validation (model.score_fit); the baselines are blends with fixed weights (forms.baselines). A
weight of 0 is a term not computed. The repeat term's half-life is the form's; the kNN term's is
the run's `baseline_half_life_days`, that of the baselines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from recs_pipeline.core.tf_runtime import tf
from recs_pipeline.scoring.purchases import Purchases
from recs_pipeline.scoring.terms import ScoreFn, Terms

NAME = "blend"


@dataclass(frozen=True)
class Blend:
    """The blend's weights, and the repeat term's half-life (0: by count)."""

    towers: float = 0.0
    knn: float = 0.0
    repeat_half_life_days: float = 0.0
    repeat: float = 1.0

    @property
    def uses_knn(self) -> bool:
        return self.knn != 0

    def as_dict(self) -> dict[str, float | str]:
        return {"form": NAME, "towers": self.towers, "knn": self.knn, "repeat_half_life_days": self.repeat_half_life_days,
                "repeat": self.repeat}


def scorer(form: Blend, terms: Terms) -> ScoreFn:
    """The NumPy score, block by block of the catalog."""
    popularity = terms.popularity()
    repeat = terms.repeat(form.repeat_half_life_days) if form.repeat else None
    towers = terms.towers if form.towers else None
    if form.towers and towers is None:
        raise ValueError(f"{form}: a blend with a towers weight needs the model's towers")
    knn = terms.knn() if form.knn else None

    def score(users: np.ndarray, low: int, high: int) -> np.ndarray:
        total = popularity(users, low, high)
        if repeat is not None:
            total = form.repeat * repeat(users, low, high) + total
        if towers is not None:
            total = total + form.towers * towers(users, low, high)
        if knn is not None:
            total = total + form.knn * knn(users, low, high)
        return total

    return score


@dataclass(frozen=True)
class ServingTables:
    """What the served model needs to compute every term but the towers' in TensorFlow: each
    customer's products (CSR) with their recency-weighted counts, popularity, and each product's
    nearest products with their similarities (padded with product 0 at similarity 0)."""

    row_splits: np.ndarray  # (customers + 1,) int64
    items: np.ndarray  # int32: the products each customer bought, once each
    repeat: np.ndarray  # float32, aligned with items: the repeat term's weights
    recency: np.ndarray  # float32, aligned with items: the kNN term's weights
    popularity: np.ndarray  # (products,) float32
    neighbours: np.ndarray  # (products, width) int32
    similarities: np.ndarray  # (products, width) float32


def serving_tables(purchases: Purchases, repeat_half_life_days: float, knn_half_life_days: float, neighbours: bool = True) -> ServingTables:
    """The tables from these purchases; `neighbours` False leaves the kNN tables empty (a weight of 0 needs none)."""
    repeat = purchases.decayed(repeat_half_life_days)  # explicit zeros (a weight that underflowed) stay: they are still purchases
    recency = purchases.decayed(knn_half_life_days)
    assert np.array_equal(repeat.indices, recency.indices) and np.array_equal(repeat.indptr, recency.indptr)
    num_items = purchases.num_items
    similar = purchases.similarity() if neighbours else sparse.csr_matrix((num_items, num_items))
    lengths = np.diff(similar.indptr)
    width = max(int(lengths.max(initial=0)), 1)
    rows = np.repeat(np.arange(similar.shape[0]), lengths)
    slots = np.arange(len(similar.indices)) - similar.indptr[rows]
    nearest = np.zeros((similar.shape[0], width), np.int32)
    similarities = np.zeros((similar.shape[0], width), np.float32)
    nearest[rows, slots] = similar.indices
    similarities[rows, slots] = similar.data
    return ServingTables(repeat.indptr.astype(np.int64), repeat.indices.astype(np.int32), repeat.data.astype(np.float32),
                         recency.data.astype(np.float32), purchases.popularity().astype(np.float32), nearest, similarities)


def serve_scores(form: Blend, logits: tf.Tensor, popularity: tf.Tensor, rows: tf.Tensor, items: tf.Tensor, repeat: tf.Tensor,
                 recency: tf.Tensor, neighbours: tf.Tensor | None = None, weighted_similarities: tf.Tensor | None = None) -> tf.Tensor:
    """The TensorFlow score over the whole catalog for a batch of customers: `logits` (customers,
    products) of the towers; the customers' purchases as (row, product) pairs `rows`, `items` with
    their repeat and kNN weights `repeat`, `recency` (ServingTables' columns); each purchased
    product's `neighbours` and similarities times the kNN weight, when the form uses kNN."""
    towers = tf.exp(logits - tf.reduce_max(logits, axis=1, keepdims=True))
    scores = popularity[None, :] + tf.constant(form.towers, tf.float32) * towers
    if form.repeat:
        scores = tf.tensor_scatter_nd_add(scores, tf.stack([rows, items], axis=1), tf.constant(form.repeat, tf.float32) * repeat)
    if form.uses_knn:
        nearest = tf.gather(neighbours, items)  # (purchases, width)
        width = tf.shape(nearest)[1]
        at = tf.stack([tf.repeat(rows, width), tf.reshape(nearest, [-1])], axis=1)
        scores = tf.tensor_scatter_nd_add(scores, at, tf.reshape(tf.gather(weighted_similarities, items) * recency[:, None], [-1]))
    return scores
