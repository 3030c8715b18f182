"""The purchases a step's scorers may know, with every view of them built once and kept.

One step (train's fit, evaluate, the export) builds one `Purchases` for the splits it may know
and hands it to every scorer: the count matrix (also the "bought before" matrix exclude_seen
reads), the recency-decayed matrices by half-life, popularity, the item similarity and the
customers' purchase windows are each built at their first use and then shared. `built` counts
the builds, so a step can show that nothing was built twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from recs_pipeline.data import purchase_windows
from recs_pipeline.data.prepared_data import PreparedData

SECONDS_PER_DAY = 86_400.0
KNN_NEIGHBOURS = 100  # per product: the most similar products kept (a sparse similarity matrix)


class Purchases:
    """(user, item, day) triples and "now", the day after which predictions are scored (the last
    day of these purchases); the rows are kept for the purchase windows."""

    def __init__(self, rows: pd.DataFrame, num_users: int, num_items: int):
        times = rows["timestamp"] if "timestamp" in rows else pd.Series([], dtype="datetime64[us]")
        timed = len(times) == len(rows) > 0 and bool(times.notna().all())
        days = times.to_numpy().astype("datetime64[s]").astype(np.int64) / SECONDS_PER_DAY if timed else np.zeros(len(rows))
        self.rows = rows
        self.users = rows["user_idx"].to_numpy(np.int64)
        self.items = rows["item_idx"].to_numpy(np.int64)
        self.days = np.asarray(days, np.float64)  # float days since the epoch; zeros when the data has no timestamps
        self.num_users, self.num_items = num_users, num_items
        self.built: Counter[str] = Counter()  # view name -> times built (1 each, or the cache is bypassed)
        self._views: dict[Any, Any] = {}

    @classmethod
    def of_splits(cls, prepared: PreparedData, splits: tuple[str, ...]) -> Purchases:
        """The purchases in `splits` (purchase_windows.TRAINING, BEFORE_TEST, EVERYTHING)."""
        rows = pd.concat([prepared.splits[name] for name in splits], ignore_index=True) if len(splits) > 1 else prepared.splits[splits[0]]
        return cls(rows, len(prepared.users), len(prepared.items))

    @property
    def now(self) -> float:
        return float(self.days.max()) if len(self.days) else 0.0

    def _view(self, name: str, key: Any, build: Callable[[], Any]) -> Any:
        if (name, key) not in self._views:
            self._views[(name, key)] = build()
            self.built[name] += 1
        return self._views[(name, key)]

    def decay(self, half_life_days: float) -> np.ndarray:
        """Each purchase's weight 0.5 ** (age in days / half-life); all 1 with no timestamps or half-life 0."""
        if half_life_days <= 0:
            return np.ones(len(self.users))
        return np.power(0.5, (self.now - self.days) / half_life_days)

    def _matrix(self, values: np.ndarray) -> sparse.csr_matrix:
        return sparse.csr_matrix((values, (self.users, self.items)), shape=(self.num_users, self.num_items))

    def counts(self) -> sparse.csr_matrix:
        """(users, items) purchase counts; non-zero where bought (the matrix exclude_seen reads). Shared: never modify it."""
        return self._view("matrix", None, lambda: self._matrix(np.ones(len(self.users))))

    def decayed(self, half_life_days: float) -> sparse.csr_matrix:
        """(users, items) sums of the purchases' decay weights; the counts for half-life 0. Shared: never modify it."""
        if half_life_days <= 0:
            return self.counts()
        return self._view("decayed matrix", float(half_life_days), lambda: self._matrix(self.decay(half_life_days)))

    def bought_items(self) -> np.ndarray:
        """(items,) bool: products with a purchase here; the others only features can rank."""
        return self._view("bought items", None, lambda: np.bincount(self.items, minlength=self.num_items) > 0)

    def bought_users(self) -> np.ndarray:
        """(users,) bool: customers with a purchase here; the others are new to these purchases."""
        return self._view("bought users", None, lambda: np.bincount(self.users, minlength=self.num_users) > 0)

    def ease(self):
        """The EASE item-item weights over these purchases (scoring.ease), fitted once."""
        from recs_pipeline.scoring.ease import Ease

        return self._view("ease", None, lambda: Ease(self.counts()))

    def popularity(self) -> np.ndarray:
        """Purchase counts, ties broken by item index (lower first), all in [0, 1)."""
        return self._view("popularity", None, lambda: popularity_scores(self.items, self.num_items))

    def similarity(self, neighbours: int = KNN_NEIGHBOURS) -> sparse.csr_matrix:
        """(items, items) cosine similarity of the products' buyer sets (item_similarities)."""
        return self._view("similarity", neighbours, lambda: item_similarities(self.counts(), neighbours))

    def windows(self, length: int) -> np.ndarray:
        """(users, length) int32: each customer's last `length` of these purchases (data.purchase_windows)."""
        return self._view("windows", length, lambda: purchase_windows.user_windows(self.rows, self.num_users, length))


def popularity_scores(items: np.ndarray, num_items: int) -> np.ndarray:
    """Purchase counts, ties broken by item index (lower first), all in [0, 1): a product's count
    over one more than the top product's, so no two products share a score."""
    counts = np.bincount(items, minlength=num_items).astype(np.float64)
    order = counts + (num_items - np.arange(num_items)) / (num_items + 1.0)
    return order / (order.max() + 1.0)


def item_similarities(counts: sparse.csr_matrix, neighbours: int = KNN_NEIGHBOURS) -> sparse.csr_matrix:
    """(items, items) cosine similarity of the products' buyer sets (from the (users, items)
    purchase counts), each row cut to its `neighbours` largest entries, the diagonal left out."""
    bought = counts.copy()
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
