"""Test rows by what the history before the test period knows of them, so recall is shown for every
row (the headline) and for the rows a lookup table cannot answer.

- known: a customer with a purchase before the test period, of a product with one;
- new_customer: a customer with no purchase before the test period (whatever the product);
- new_product: a product nobody bought before the test period (whatever the customer).

A row by a new customer of a new product is in both new segments, so the segments' rows can add
up to more than the test split's. A method that cannot rank a product (no purchase of it, no
features) scores it -inf and counts a miss there (evaluation.ranking).
"""

from __future__ import annotations

import numpy as np

KNOWN = "known"
NEW_CUSTOMER = "new_customer"
NEW_PRODUCT = "new_product"
SEGMENTS = (KNOWN, NEW_CUSTOMER, NEW_PRODUCT)
ROWS = "rows"  # each segment's row count, beside its methods' figures
DESCRIPTIONS = {
    KNOWN: "customer and product bought before",
    NEW_CUSTOMER: "customer with no earlier purchase",
    NEW_PRODUCT: "product never bought before",
}


def masks(users: np.ndarray, items: np.ndarray, known_users: np.ndarray, known_items: np.ndarray) -> dict[str, np.ndarray]:
    """Each segment's rows as a boolean mask over (users, items); `known_users`/`known_items` are
    boolean per index: True where the history before the test period has a purchase."""
    new_customer = ~known_users[users]
    new_product = ~known_items[items]
    return {KNOWN: ~new_customer & ~new_product, NEW_CUSTOMER: new_customer, NEW_PRODUCT: new_product}
