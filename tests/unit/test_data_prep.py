import pandas as pd
import pytest

from recs_pipeline import data_prep
from recs_pipeline.config import PrepConfig

PLAIN = PrepConfig(user_features=(), item_features=())


def frame(rows):
    return pd.DataFrame(rows, columns=["customer_id", "product_id", "timestamp"])


def grid(users=6, items=5, days=40):
    """Every user buys every item over time: no cold start unless a test adds it."""
    rows = []
    for day in range(days):
        for u in range(users):
            rows.append((f"U{u}", f"I{(u + day) % items}", f"2025-01-{1 + day % 28:02d}T{day // 28:02d}:{u:02d}:00"))
    return frame(rows)


def test_split_is_temporal_and_counts_add_up():
    prepared = data_prep.prepare(grid(), PLAIN, "grid.csv")
    train, val, test = (prepared.splits[s] for s in data_prep.SPLITS)
    assert train["timestamp"].max() <= val["timestamp"].min()
    assert val["timestamp"].max() <= test["timestamp"].min()
    stats = prepared.stats
    assert stats["rows_in"] == 240
    assert stats["train_rows"] + stats["val_rows"] + stats["test_rows"] + stats["val_rows_dropped_cold_start"] + stats["test_rows_dropped_cold_start"] == 240
    assert prepared.vocabularies["user_id"] == [f"U{i}" for i in range(6)]


def test_cold_start_rows_are_dropped_and_counted():
    data = grid()
    late = frame([("NEWUSER", "I1", "2025-03-01T00:00:00"), ("U1", "NEWITEM", "2025-03-01T00:00:01")])
    prepared = data_prep.prepare(pd.concat([data, late], ignore_index=True), PLAIN, "x")
    assert prepared.stats["test_rows_dropped_cold_start"] == 2
    assert "NEWUSER" not in set(prepared.splits["test"]["user_id"])


def test_integer_like_float_ids_are_one_customer():
    ids = pd.Series(["17850.0", "17850", " 17850 ", "A-1", None])
    assert data_prep.normalise_ids(ids).tolist()[:4] == ["17850", "17850", "17850", "A-1"]


def test_null_ids_are_dropped_and_counted():
    data = grid()
    data.loc[0, "customer_id"] = None
    data.loc[1, "product_id"] = ""
    prepared = data_prep.prepare(data, PLAIN, "x")
    assert prepared.stats["rows_dropped_null_user"] == 1
    assert prepared.stats["rows_dropped_null_item"] == 1


def test_missing_column_is_named_with_the_columns_found():
    with pytest.raises(data_prep.DataError, match=r"missing column\(s\) timestamp; columns found: customer_id, product_id"):
        data_prep.prepare(grid().drop(columns=["timestamp"]), PLAIN, "orders.csv")


def test_unparseable_timestamp_shows_the_row():
    data = grid()
    data.loc[5, "timestamp"] = "not a date"
    with pytest.raises(data_prep.DataError, match=r"row 6: cannot parse timestamp 'not a date'"):
        data_prep.prepare(data, PLAIN, "orders.csv")


def test_single_user_is_refused():
    data = grid(users=1)
    with pytest.raises(data_prep.DataError, match="at least 2"):
        data_prep.prepare(data, PLAIN, "one.csv")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(data_prep.DataError, match="input not found: .*nope.csv"):
        data_prep.read_interactions(str(tmp_path / "nope.csv"))


def test_save_and_load_round_trip(tmp_path, tiny_data):
    prepared = data_prep.prepare(tiny_data.purchases, PrepConfig(), "tiny")
    data_prep.save(prepared, str(tmp_path))
    loaded = data_prep.load(str(tmp_path))
    assert loaded.stats == prepared.stats
    pd.testing.assert_frame_equal(loaded.splits["test"], prepared.splits["test"], check_dtype=False)
    assert loaded.user_features == ["segment", "country"]
    assert len(loaded.items) == len(loaded.vocabularies["item_id"])
