"""Purchase windows: each customer's recent products, as a fixed-width integer matrix the customer
tower reads (its `history` input) and the buy-again mixture counts.

In B2B data what a customer bought before predicts what they buy next. A training row sees the
customer's last `length` training purchases strictly before its own timestamp (lines of the same
order are not each other's history). Validation rows see the customer's last training purchases;
the evaluation of the test split sees every purchase before the test period (train + validation),
and the served model every purchase in the data.
Entries are item index + 1; 0 pads rows with a shorter history.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recs_pipeline.data.prepared_data import PreparedData

PAD = 0


def row_windows(train: pd.DataFrame, length: int) -> np.ndarray:
    """(rows, length) int32, aligned with `train`'s row order: the earlier purchases of each row's
    customer, oldest first and most recent last, strictly before the row's timestamp, padded at the end."""
    users = train["user_idx"].to_numpy()
    items = train["item_idx"].to_numpy().astype(np.int32) + 1
    times = train["timestamp"].to_numpy()
    order = np.lexsort((np.arange(len(train)), times, users))  # by customer, then time
    sorted_users, sorted_items, sorted_times = users[order], items[order], times[order]
    positions = np.arange(len(train))
    # First position of each row's customer, and of its (customer, time) group: the purchases
    # strictly before a row end just before its group starts.
    new_user = np.r_[True, sorted_users[1:] != sorted_users[:-1]]
    new_group = new_user | np.r_[True, sorted_times[1:] != sorted_times[:-1]]
    user_start = np.maximum.accumulate(np.where(new_user, positions, 0))
    group_start = np.maximum.accumulate(np.where(new_group, positions, 0))
    result = np.full((len(train), length), PAD, dtype=np.int32)
    result[order] = _windows(sorted_items, user_start, group_start, length)
    return result


def user_windows(train: pd.DataFrame, num_users: int, length: int) -> np.ndarray:
    """(num_users, length) int32: each customer's last `length` training purchases, oldest first
    and most recent last, padded at the end."""
    users = train["user_idx"].to_numpy()
    items = train["item_idx"].to_numpy().astype(np.int32) + 1
    order = np.lexsort((np.arange(len(train)), train["timestamp"].to_numpy(), users))
    sorted_users, sorted_items = users[order], items[order]
    starts = np.searchsorted(sorted_users, np.arange(num_users), side="left")
    ends = np.searchsorted(sorted_users, np.arange(num_users), side="right")
    return _windows(sorted_items, starts, ends, length)


def _windows(sorted_items: np.ndarray, starts: np.ndarray, ends: np.ndarray, length: int) -> np.ndarray:
    """Row r: the last `length` of sorted_items[starts[r]:ends[r]], left-aligned, PAD after."""
    available = np.minimum(ends - starts, length)
    first = ends - available
    result = np.full((len(starts), length), PAD, dtype=np.int32)
    for column in range(length):
        valid = column < available
        result[valid, column] = sorted_items[first[valid] + column]
    return result


TRAINING = ("train",)
BEFORE_TEST = ("train", "val")  # what evaluation knows: every purchase before the test period
EVERYTHING = ("train", "val", "test")  # what the served model knows: every purchase in the data


TOWER_INPUT = "history"  # the customer tower's input name for the purchase windows (kept: exported models read it)


def customer_windows(prepared: PreparedData, length: int, splits: tuple[str, ...] = TRAINING) -> dict[str, np.ndarray]:
    """The customer tower's purchase-window input for every customer (row i is customer i): their
    last `length` purchases in `splits`. Empty when the model reads no window."""
    if not length:
        return {}
    rows = pd.concat([prepared.splits[name] for name in splits], ignore_index=True) if len(splits) > 1 else prepared.splits[splits[0]]
    return {TOWER_INPUT: user_windows(rows, len(prepared.users), length)}
