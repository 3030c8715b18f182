"""The simple recommenders every model is measured against, scored by the evaluate step's ranker.

Each one sees the same purchase history as the model (every purchase before the test period:
train + validation). Each scores a product by a weight plus its popularity, the product's count
over one more than the top product's (below 1, with the item index breaking ties), so no two
products share a score and "strictly above" and "at or above" rank the same. A weight of a whole
purchase puts a product above every product the customer never bought; smaller weights (an old
purchase, a weak similarity) mix with popularity:

- popularity: the most bought products, the same list for everyone;
- repeat purchase: the customer's own products by how often they bought them, then popularity;
- recency-weighted repeat: the same with each purchase weighted 0.5 ** (age / half-life), so
  last month's products come before last year's and a long-ago one-off can fall below a
  best-seller;
- item-kNN: products like the ones the customer bought (summed cosine similarities of their buyer
  sets, each purchase weighted by its recency), then popularity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from recs_pipeline.data.prepared_data import PreparedData
from recs_pipeline.evaluation.ranking import ScoreFn

SECONDS_PER_DAY = 86_400.0
KNN_NEIGHBOURS = 100  # per product: the most similar products kept (a sparse similarity matrix)
NAMES = ("popularity", "repeat_purchase", "recency_repeat", "item_knn")


@dataclass(frozen=True)
class PurchaseHistory:
    """The purchases a scorer may know: (user, item, day) triples, and "now", the day after which
    predictions are scored (the last day of the history)."""

    users: np.ndarray
    items: np.ndarray
    days: np.ndarray  # float days since the epoch; zeros when the data has no timestamps
    num_users: int
    num_items: int

    @property
    def now(self) -> float:
        return float(self.days.max()) if len(self.days) else 0.0

    @classmethod
    def from_rows(cls, rows: pd.DataFrame, num_users: int, num_items: int) -> "PurchaseHistory":
        times = rows["timestamp"] if "timestamp" in rows else pd.Series([], dtype="datetime64[us]")
        timed = len(times) == len(rows) > 0 and bool(times.notna().all())
        days = times.to_numpy().astype("datetime64[s]").astype(np.int64) / SECONDS_PER_DAY if timed else np.zeros(len(rows))
        return cls(rows["user_idx"].to_numpy(np.int64), rows["item_idx"].to_numpy(np.int64), days.astype(np.float64), num_users, num_items)

    @classmethod
    def of_splits(cls, prepared: PreparedData, splits: tuple[str, ...]) -> "PurchaseHistory":
        """The purchases in `splits` (data.history's TRAINING, BEFORE_TEST, EVERYTHING)."""
        rows = pd.concat([prepared.splits[name] for name in splits], ignore_index=True)
        return cls.from_rows(rows, len(prepared.users), len(prepared.items))

    def decayed(self, half_life_days: float) -> np.ndarray:
        """Each purchase's weight 0.5 ** (age in days / half-life); all 1 with no timestamps or half-life 0."""
        if half_life_days <= 0:
            return np.ones(len(self.users))
        return np.power(0.5, (self.now - self.days) / half_life_days)

    def matrix(self, weights: np.ndarray | None = None) -> sparse.csr_matrix:
        """(users, items) sums of the purchase weights (counts when None)."""
        values = np.ones(len(self.users)) if weights is None else weights
        return sparse.csr_matrix((values, (self.users, self.items)), shape=(self.num_users, self.num_items))


def popularity_scores(history: PurchaseHistory) -> np.ndarray:
    """Purchase counts, ties broken by item index (lower first), all in [0, 1)."""
    counts = np.bincount(history.items, minlength=history.num_items).astype(np.float64)
    order = counts + (history.num_items - np.arange(history.num_items)) / (history.num_items + 1.0)
    return order / (order.max() + 1.0)


def popularity_scorer(history: PurchaseHistory) -> ScoreFn:
    popularity = popularity_scores(history)

    def score(users: np.ndarray, low: int, high: int) -> np.ndarray:
        return np.broadcast_to(popularity[low:high], (len(users), high - low))

    return score


def plus_popularity(weights: sparse.csr_matrix, history: PurchaseHistory) -> ScoreFn:
    """Each product's weight for the customer plus its popularity (in [0, 1))."""
    popularity = popularity_scores(history)
    weights = weights.tocsr()

    def score(users: np.ndarray, low: int, high: int) -> np.ndarray:
        return weights[users][:, low:high].toarray() + popularity[low:high]

    return score


def repeat_purchase_scorer(history: PurchaseHistory) -> ScoreFn:
    """Buy again: the customer's own products by count, then the popular ones."""
    return plus_popularity(history.matrix(), history)


def recency_repeat_scorer(history: PurchaseHistory, half_life_days: float) -> ScoreFn:
    """Buy again, recent first: counts decayed with the purchases' age, then popularity."""
    return plus_popularity(history.matrix(history.decayed(half_life_days)), history)


def item_similarities(history: PurchaseHistory, neighbours: int = KNN_NEIGHBOURS) -> sparse.csr_matrix:
    """(items, items) cosine similarity of the products' buyer sets, each row cut to its
    `neighbours` largest entries, the diagonal left out."""
    bought = history.matrix()
    bought.data[:] = 1.0
    together = (bought.T @ bought).tocsr()
    norms = np.sqrt(np.asarray(together.diagonal(), np.float64))
    together.setdiag(0.0)
    together.eliminate_zeros()
    rows = np.repeat(np.arange(together.shape[0]), np.diff(together.indptr))
    together.data = together.data / (norms[rows] * norms[together.indices])
    return _top_per_row(together, neighbours)


def _top_per_row(matrix: sparse.csr_matrix, keep: int) -> sparse.csr_matrix:
    """The `keep` largest entries of each row (ties: the lower column)."""
    lengths = np.diff(matrix.indptr)
    if lengths.max(initial=0) <= keep:
        return matrix
    rows = np.repeat(np.arange(matrix.shape[0]), lengths)
    order = np.lexsort((matrix.indices, -matrix.data, rows))
    rank = np.arange(len(order)) - matrix.indptr[rows[order]]
    chosen = order[rank < keep]
    return sparse.csr_matrix((matrix.data[chosen], (rows[chosen], matrix.indices[chosen])), shape=matrix.shape)


def similarity_scorer(history: PurchaseHistory, half_life_days: float, neighbours: int = KNN_NEIGHBOURS) -> ScoreFn:
    """Each product's summed similarity to the customer's purchases, each weighted by its recency.
    The similarity matrix is built at the first call, so a scorer never called costs nothing."""
    weights = history.matrix(history.decayed(half_life_days))
    built: list[sparse.csc_matrix] = []

    def score(users: np.ndarray, low: int, high: int) -> np.ndarray:
        if not built:
            built.append(item_similarities(history, neighbours).tocsc())
        return (weights[users] @ built[0][:, low:high]).toarray()

    return score


def item_knn_scorer(history: PurchaseHistory, half_life_days: float, neighbours: int = KNN_NEIGHBOURS) -> ScoreFn:
    """Products similar to the customer's (recency-weighted) purchases, then popularity."""
    similarity = similarity_scorer(history, half_life_days, neighbours)
    popularity = popularity_scores(history)

    def score(users: np.ndarray, low: int, high: int) -> np.ndarray:
        return similarity(users, low, high) + popularity[low:high]

    return score


def scorers(history: PurchaseHistory, half_life_days: float) -> dict[str, ScoreFn]:
    """Every baseline, by the name it has in training_metrics.json's `baselines`."""
    return {
        "popularity": popularity_scorer(history),
        "repeat_purchase": repeat_purchase_scorer(history),
        "recency_repeat": recency_repeat_scorer(history, half_life_days),
        "item_knn": item_knn_scorer(history, half_life_days),
    }
