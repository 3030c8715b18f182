"""The terms every score form adds up, as NumPy score functions over blocks of the catalog.

A score function maps (customers, first product, end product) to a (customers, products) block of
scores, so a ranker can walk catalogs of millions of products in bounded memory. The terms read
one `Purchases` (each matrix built once, shared by every form a step scores) and, for the model,
the towers' embeddings:

- repeat: the customer's purchases of the product, each weighted 0.5 ** (age / half-life);
- popularity: the product's purchase count scaled into [0, 1) (purchases.popularity_scores);
- towers: exp(logit - the customer's top logit), the towers' softmax over the catalog relative to
  the customer's top product, in (0, 1]: a per-customer scale the other terms can be added to;
- knn: the summed item similarity to the customer's purchases, each weighted by its recency;
- ease: EASE's item-to-item scores (scoring.ease), a baseline's;
- group popularity and category affinity: the cold-start baselines' (scoring.cold_start), from the
  customers' and products' categorical features;
- the purchase windows' counts, which the trained buy-again mixture (mixture.py) reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import sparse

from recs_pipeline.scoring.purchases import Purchases

# scores(rows_users, candidate_start, candidate_stop) -> (rows, stop - start) float scores
ScoreFn = Callable[[np.ndarray, int, int], np.ndarray]

ROW_BLOCK = 1024
CANDIDATE_BLOCK = 16384


def embedding_scorer(user_embeddings: np.ndarray, item_embeddings: np.ndarray) -> ScoreFn:
    """Dot-product scores of the two towers' outputs."""

    def score(users: np.ndarray, low: int, high: int) -> np.ndarray:
        return user_embeddings[users] @ item_embeddings[low:high].T

    return score


class TowerScores:
    """towers(u, i) = exp(logit - the customer's top logit), logit = dot product / temperature."""

    def __init__(self, user_embeddings: np.ndarray, item_embeddings: np.ndarray, temperature: float):
        self.user_embeddings, self.item_embeddings, self.temperature = user_embeddings, item_embeddings, temperature
        self._top = np.full(len(user_embeddings), np.nan)

    def top_logits(self, users: np.ndarray) -> np.ndarray:
        missing = np.unique(users[np.isnan(self._top[users])])
        for start in range(0, len(missing), ROW_BLOCK):
            block = missing[start : start + ROW_BLOCK]
            best = np.full(len(block), -np.inf)
            for low in range(0, len(self.item_embeddings), CANDIDATE_BLOCK):
                best = np.maximum(best, self.logits(block, low, low + CANDIDATE_BLOCK).max(axis=1))
            self._top[block] = best
        return self._top[users]

    def logits(self, users: np.ndarray, low: int, high: int) -> np.ndarray:
        return (self.user_embeddings[users] @ self.item_embeddings[low:high].T).astype(np.float64) / self.temperature

    def __call__(self, users: np.ndarray, low: int, high: int) -> np.ndarray:
        return np.exp(self.logits(users, low, high) - self.top_logits(users)[:, None])


class Terms:
    """The terms for customers whose purchases so far are `purchases`; `towers` only for a trained
    model (the baselines need none), `window_length` the purchase windows the mixture counts;
    `user_groups` (a group per customer, by their categorical features) and `item_categories` (a
    category per product) where the data has such features, for the cold-start baselines."""

    def __init__(self, purchases: Purchases, knn_half_life_days: float, towers: TowerScores | None = None, window_length: int = 0,
                 user_groups: np.ndarray | None = None, item_categories: np.ndarray | None = None):
        self.purchases, self.knn_half_life_days = purchases, knn_half_life_days
        self.towers, self.window_length = towers, window_length
        self.user_groups, self.item_categories = user_groups, item_categories
        self._similarity: list[sparse.csc_matrix] = []
        self._counts: list[Any] = []
        self._cold: dict[str, ScoreFn] = {}

    def ease(self) -> ScoreFn:
        return self.purchases.ease()

    def group_popularity(self) -> ScoreFn:
        from recs_pipeline.scoring.cold_start import GroupPopularity

        if self.user_groups is None:
            raise ValueError("group popularity needs categorical customer features")
        if "group" not in self._cold:
            self._cold["group"] = GroupPopularity(self.purchases, self.user_groups)
        return self._cold["group"]

    def category_affinity(self) -> ScoreFn:
        from recs_pipeline.scoring.cold_start import CategoryAffinity

        if self.item_categories is None:
            raise ValueError("category affinity needs a categorical product feature")
        if "category" not in self._cold:
            self._cold["category"] = CategoryAffinity(self.purchases, self.item_categories, self.user_groups)
        return self._cold["category"]

    def window_counts(self):
        """The purchase windows as a mixture.CountTable, built at the first call."""
        from recs_pipeline.scoring.mixture import CountTable  # mixture imports this module

        if not self._counts:
            self._counts.append(CountTable(self.purchases.windows(self.window_length)))
        return self._counts[0]

    def repeat(self, half_life_days: float) -> ScoreFn:
        repeat = self.purchases.decayed(half_life_days)
        return lambda users, low, high: repeat[users][:, low:high].toarray()

    def popularity(self) -> ScoreFn:
        popularity = self.purchases.popularity()
        return lambda users, low, high: np.broadcast_to(popularity[low:high], (len(users), high - low))

    def knn(self) -> ScoreFn:
        """The similarity matrix is built at the first call, so a knn term never scored costs nothing."""
        weights = self.purchases.decayed(self.knn_half_life_days)

        def score(users: np.ndarray, low: int, high: int) -> np.ndarray:
            if not self._similarity:
                self._similarity.append(self.purchases.similarity().tocsc())
            return (weights[users] @ self._similarity[0][:, low:high]).toarray()

        return score
