"""Purchase windows: strictly earlier purchases of the same customer, padded with 0."""

import numpy as np
import pandas as pd
from recs_pipeline.data.purchase_windows import row_windows, user_windows


def purchases() -> pd.DataFrame:
    # customer 0: items 5, 6 (same order, same time), then 7; customer 1: item 2 then 3.
    return pd.DataFrame({
        "user_idx": [1, 0, 0, 1, 0],
        "item_idx": [2, 5, 6, 3, 7],
        "timestamp": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-02", "2025-01-03", "2025-01-05"]),
    })


def test_a_row_sees_only_strictly_earlier_purchases_of_its_customer():
    rows = row_windows(purchases(), length=3)
    # entries are item index + 1; the two lines of customer 0's first order do not see each other
    assert rows.tolist() == [[0, 0, 0], [0, 0, 0], [0, 0, 0], [3, 0, 0], [6, 7, 0]]


def test_the_window_is_cut_to_the_most_recent():
    rows = row_windows(purchases(), length=1)
    assert rows[:, 0].tolist() == [0, 0, 0, 3, 7]  # customer 0's last row keeps the latest of 5, 6 by row order


def test_customers_get_their_last_training_purchases():
    users = user_windows(purchases(), num_users=3, length=2)
    assert users.tolist() == [[7, 8], [3, 4], [0, 0]]
    assert users.dtype == np.int32
