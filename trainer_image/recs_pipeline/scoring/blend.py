"""The blend as a score form, in NumPy (evaluate, the fit, the baselines) and TensorFlow (the
served model), side by side so they stay one function:

    blend = w_repeat * repeat + w_popularity * popularity + w_towers * towers + w_knn * knn
            (+ w_ease * ease + w_group * group popularity + w_category * category affinity: baselines only)

(the terms: terms.py). The model's blend has its weights fitted on validation (model.score_fit),
w_towers three times: for a customer's products with purchases, for a customer with no purchase
yet (no repeat or kNN term: only the towers' weight against popularity orders their list), and for
products nobody bought yet (no popularity, repeat or kNN term: only that weight sets how far up the
towers lift them). The baselines are blends with fixed weights (forms.baselines). A weight of 0 is a
term not computed. The repeat term's half-life is the form's; the kNN term's is the run's
`baseline_half_life_days`, that of the baselines.

A product with no purchase can be ranked only through features: where the new products' towers
weight (and category affinity's) is 0, such products score -inf and count as misses
(evaluation.ranking), in NumPy and in TensorFlow alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

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
    popularity: float = 1.0
    towers_new_customers: float = 0.0  # w_towers for a customer with no purchase yet
    towers_new_products: float = 0.0  # w_towers for a product nobody bought yet (any customer)
    ease: float = 0.0
    group_popularity: float = 0.0
    category_affinity: float = 0.0

    @property
    def uses_knn(self) -> bool:
        return self.knn != 0

    @property
    def baseline_only(self) -> bool:
        """Uses a term the served model does not compute (EASE, the cold-start baselines')."""
        return bool(self.ease or self.group_popularity or self.category_affinity)

    def as_dict(self) -> dict[str, float | str]:
        return {"form": NAME, **{name: float(value) for name, value in asdict(self).items()}}


def scorer(form: Blend, terms: Terms) -> ScoreFn:
    """The NumPy score, block by block of the catalog."""
    uses_towers = bool(form.towers or form.towers_new_customers or form.towers_new_products)
    if uses_towers and terms.towers is None:
        raise ValueError(f"{form}: a blend with a towers weight needs the model's towers")
    popularity = terms.popularity()
    weighted: list[tuple[float, ScoreFn]] = []
    if form.repeat:
        weighted.append((form.repeat, terms.repeat(form.repeat_half_life_days)))
    for weight, term in ((form.knn, "knn"), (form.ease, "ease"), (form.group_popularity, "group_popularity"),
                         (form.category_affinity, "category_affinity")):
        if weight:
            weighted.append((weight, getattr(terms, term)()))
    towers = terms.towers if uses_towers else None
    bought_users, bought_items = terms.purchases.bought_users(), terms.purchases.bought_items()
    ranks_unbought = bool(form.towers_new_products or form.category_affinity)

    def score(users: np.ndarray, low: int, high: int) -> np.ndarray:
        # Summed in place, term by term in the formula's order: a block is millions of scores.
        total = form.popularity * np.asarray(popularity(users, low, high), dtype=np.float64)  # a new array: summed into below
        for weight, term in weighted:
            total += weight * term(users, low, high)
        unbought = np.flatnonzero(~bought_items[low:high])
        if towers is not None:
            towers_term = towers(users, low, high)
            new_products = towers_term[:, unbought] * form.towers_new_products
            towers_term *= np.where(bought_users[users], form.towers, form.towers_new_customers)[:, None]
            towers_term[:, unbought] = new_products
            total += towers_term
        if not ranks_unbought:  # a product with no purchase: only features rank it
            total[:, unbought] = -np.inf
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
    bought: np.ndarray  # (products,) bool: bought at least once (the others only the towers rank)
    neighbours: np.ndarray  # (products, width) int32
    similarities: np.ndarray  # (products, width) float32

    def with_new_products(self, count: int) -> ServingTables:
        """The tables of a catalog with `count` products appended that nobody bought: popularity 0,
        not bought (only the towers rank them), no neighbours; every other product's terms as they were."""
        return replace(self, popularity=np.append(self.popularity, np.zeros(count, np.float32)),
                       bought=np.append(self.bought, np.zeros(count, bool)),
                       neighbours=np.vstack([self.neighbours, np.zeros((count, self.neighbours.shape[1]), np.int32)]),
                       similarities=np.vstack([self.similarities, np.zeros((count, self.similarities.shape[1]), np.float32)]))


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
                         recency.data.astype(np.float32), purchases.popularity().astype(np.float32), purchases.bought_items(), nearest,
                         similarities)


def serve_scores(form: Blend, logits: tf.Tensor, popularity: tf.Tensor, bought: tf.Tensor, has_purchases: tf.Tensor, rows: tf.Tensor,
                 items: tf.Tensor, repeat: tf.Tensor, recency: tf.Tensor, neighbours: tf.Tensor | None = None,
                 weighted_similarities: tf.Tensor | None = None) -> tf.Tensor:
    """The TensorFlow score over the whole catalog for a batch of customers: `logits` (customers,
    products) of the towers; `bought` (products,) and `has_purchases` (customers,) say who and what
    has purchases; the customers' purchases as (row, product) pairs `rows`, `items` with their
    repeat and kNN weights `repeat`, `recency` (ServingTables' columns); each purchased product's
    `neighbours` and similarities times the kNN weight, when the form uses kNN."""
    if form.baseline_only:
        raise ValueError(f"{form}: EASE and the cold-start terms are baselines; the served model does not compute them")
    towers = tf.exp(logits - tf.reduce_max(logits, axis=1, keepdims=True))
    by_customer = tf.where(has_purchases, tf.constant(form.towers, tf.float32), tf.constant(form.towers_new_customers, tf.float32))
    weights = tf.where(bought[None, :], by_customer[:, None], tf.constant(form.towers_new_products, tf.float32))
    scores = tf.constant(form.popularity, tf.float32) * popularity[None, :] + weights * towers
    if not form.towers_new_products:
        scores = tf.where(bought[None, :], scores, tf.constant(float("-inf"), tf.float32))
    if form.repeat:
        scores = tf.tensor_scatter_nd_add(scores, tf.stack([rows, items], axis=1), tf.constant(form.repeat, tf.float32) * repeat)
    if form.uses_knn:
        nearest = tf.gather(neighbours, items)  # (purchases, width)
        width = tf.shape(nearest)[1]
        at = tf.stack([tf.repeat(rows, width), tf.reshape(nearest, [-1])], axis=1)
        scores = tf.tensor_scatter_nd_add(scores, at, tf.reshape(tf.gather(weighted_similarities, items) * recency[:, None], [-1]))
    return scores
