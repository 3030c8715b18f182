"""Each customer's recent products, as a fixed-width integer matrix the customer tower pools.

In B2B data what a customer bought before predicts what they buy next. A training row sees the
customer's last `length` training purchases strictly before its own timestamp (lines of the same
order are not each other's history). Validation and test rows, the evaluation and the served
model see the last `length` training purchases of the customer: what is known when training ends.
Entries are item index + 1; 0 pads rows with a shorter history.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PAD = 0


def row_histories(train: pd.DataFrame, length: int) -> np.ndarray:
    """(rows, length) int32, aligned with `train`'s row order: the earlier purchases of each row's
    customer, most recent last, strictly before the row's timestamp."""
    users = train["user_idx"].to_numpy()
    items = train["item_idx"].to_numpy().astype(np.int32) + 1
    times = train["timestamp"].to_numpy()
    order = np.lexsort((np.arange(len(train)), times, users))  # by customer, then time
    sorted_users, sorted_items, sorted_times = users[order], items[order], times[order]
    result = np.full((len(train), length), PAD, dtype=np.int32)
    for back in range(1, length + 1):
        # Column length - back holds the purchase `back` positions earlier in the customer's sequence.
        earlier = np.arange(len(train)) - back
        valid = earlier >= 0
        safe = np.where(valid, earlier, 0)
        valid &= (sorted_users[safe] == sorted_users) & (sorted_times[safe] < sorted_times)
        result[order, length - back] = np.where(valid, sorted_items[safe], PAD)
    return _left_aligned(result)


def user_histories(train: pd.DataFrame, num_users: int, length: int) -> np.ndarray:
    """(num_users, length) int32: each customer's last `length` training purchases, most recent last."""
    users = train["user_idx"].to_numpy()
    items = train["item_idx"].to_numpy().astype(np.int32) + 1
    order = np.lexsort((np.arange(len(train)), train["timestamp"].to_numpy(), users))
    sorted_users, sorted_items = users[order], items[order]
    ends = np.searchsorted(sorted_users, np.arange(num_users), side="right")
    starts = np.searchsorted(sorted_users, np.arange(num_users), side="left")
    result = np.full((num_users, length), PAD, dtype=np.int32)
    for back in range(1, length + 1):
        position = ends - back
        valid = position >= starts
        result[:, length - back] = np.where(valid, sorted_items[np.maximum(position, 0)], PAD)
    return _left_aligned(result)


def _left_aligned(matrix: np.ndarray) -> np.ndarray:
    """Padding moved to the end of each row (the pooling ignores it; a fixed layout helps tests)."""
    keys = (matrix == PAD).astype(np.int8)
    order = np.argsort(keys, axis=1, kind="stable")
    return np.take_along_axis(matrix, order, axis=1)
