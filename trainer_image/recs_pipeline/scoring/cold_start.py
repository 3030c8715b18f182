"""The cold-start baselines' terms: what a lookup table can do for a new customer or a new product
when the data has features, the bar the towers have to clear there.

- group popularity: the products most bought by customers with the same feature values (every
  categorical customer feature); a new customer gets their group's best-sellers, not everyone's;
- category affinity: P(category | customer) x P(product | category), Laplace-smoothed, the category
  being the first categorical product feature. A product nobody bought yet gets its category's
  smoothed share, so a customer who buys in that category sees it; a new customer's category shares
  are their group's (or everyone's, without customer features).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from recs_pipeline.scoring.purchases import Purchases

SMOOTHING = 1.0  # α in (n_i + α) / (n_c + α size_c), and the weight of the backoff in P(category | customer)


def _group_sums(matrix: sparse.csr_matrix, groups: np.ndarray) -> sparse.csr_matrix:
    """Rows of `matrix` summed by group: (groups, columns)."""
    membership = sparse.csr_matrix((np.ones(len(groups)), (groups, np.arange(len(groups)))), shape=(int(groups.max()) + 1, len(groups)))
    return (membership @ matrix).tocsr()


class GroupPopularity:
    """Purchase counts within the customer's group, scaled into [0, 1) per group."""

    def __init__(self, purchases: Purchases, user_groups: np.ndarray):
        self.user_groups = user_groups
        counts = _group_sums(purchases.counts(), user_groups)
        top = np.asarray(counts.max(axis=1).todense()).ravel()
        self.counts = sparse.diags(1.0 / (top + 1.0)) @ counts
        self.counts = self.counts.tocsr()

    def __call__(self, users: np.ndarray, low: int, high: int) -> np.ndarray:
        return self.counts[self.user_groups[users]][:, low:high].toarray()


class CategoryAffinity:
    """P(category | customer) x P(product | category), smoothed (module docstring)."""

    def __init__(self, purchases: Purchases, item_categories: np.ndarray, user_groups: np.ndarray | None):
        self.item_categories = item_categories
        categories = int(item_categories.max()) + 1
        counts = np.bincount(purchases.items, minlength=purchases.num_items).astype(np.float64)
        per_category = np.bincount(item_categories, weights=counts, minlength=categories)
        size = np.bincount(item_categories, minlength=categories).astype(np.float64)
        self.product_share = (counts + SMOOTHING) / (per_category[item_categories] + SMOOTHING * size[item_categories])
        to_category = sparse.csr_matrix((np.ones(len(item_categories)), (np.arange(len(item_categories)), item_categories)),
                                        shape=(len(item_categories), categories))
        self.by_customer = (purchases.counts() @ to_category).tocsr()  # (users, categories) purchase counts
        everyone = (per_category + SMOOTHING) / (per_category.sum() + SMOOTHING * categories)
        if user_groups is None:
            self.prior_of_group, self.user_groups = everyone[None, :], np.zeros(purchases.num_users, np.int64)
        else:
            by_group = _group_sums(self.by_customer, user_groups).toarray()
            self.prior_of_group = (by_group + SMOOTHING * everyone) / (by_group.sum(axis=1, keepdims=True) + SMOOTHING)
            self.user_groups = user_groups

    def __call__(self, users: np.ndarray, low: int, high: int) -> np.ndarray:
        own = self.by_customer[users].toarray()
        shares = (own + SMOOTHING * self.prior_of_group[self.user_groups[users]]) / (own.sum(axis=1, keepdims=True) + SMOOTHING)
        return shares[:, self.item_categories[low:high]] * self.product_share[low:high]
