"""EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019): a closed-form
linear item-to-item model, the baseline a two-tower model has to beat where purchases rarely repeat.

    P = (XᵀX + λI)⁻¹,  B = I − P / diag(P)  (so diag(B) = 0),  score(u, ·) = X_u B

X is the customers' "bought" matrix (0/1). The inverse costs the cube of the products it covers, so
EASE covers the MAX_PRODUCTS most bought ones (a Cholesky factorisation of that size); the others get an
EASE score of 0 (covered products may score below that: EASE's weights can be negative), ties
broken by popularity (the blend adds it with a tiny weight).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from scipy import sparse

MAX_PRODUCTS = 10_000
L2 = 500.0  # λ, the value Steck reports for MovieLens-20M and Netflix


class Ease:
    """The item-item weights over the most bought products; score blocks of the whole catalog."""

    def __init__(self, counts: sparse.csr_matrix, max_products: int = MAX_PRODUCTS, l2: float = L2):
        bought = counts.copy().tocsc()
        bought.data[:] = 1.0
        buyers = np.asarray(bought.sum(axis=0)).ravel()
        order = np.lexsort((np.arange(len(buyers)), -buyers))
        self.covered = np.sort(order[: min(max_products, int((buyers > 0).sum()))])
        self.bought = bought[:, self.covered].tocsr().astype(np.float32)
        gram = (self.bought.T @ self.bought).toarray()
        gram[np.diag_indices_from(gram)] += l2
        inverse = scipy.linalg.cho_solve(scipy.linalg.cho_factor(gram, check_finite=False), np.eye(len(gram), dtype=np.float32),
                                         check_finite=False)
        # Row-major: LAPACK's column-major result would be copied by SciPy at every sparse product.
        self.weights = np.ascontiguousarray(-inverse / np.diag(inverse)[None, :], dtype=np.float32)
        np.fill_diagonal(self.weights, 0.0)

    def __call__(self, users: np.ndarray, low: int, high: int) -> np.ndarray:
        out = np.zeros((len(users), high - low))
        inside = (self.covered >= low) & (self.covered < high)
        if inside.any():
            # Every covered column at once: selecting the block's columns of the weights first would
            # copy the (covered, covered) matrix for every block of customers.
            scores = self.bought[users] @ self.weights
            out[:, self.covered[inside] - low] = scores[:, inside]
        return out
