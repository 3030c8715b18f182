"""data_prep on small hand-made tables and files: splits, cleaning, and one test per bad input."""

import json

import pandas as pd
import pytest
from recs_pipeline.core.config import PrepConfig
from recs_pipeline.data import prepare, prepared_data
from recs_pipeline.steps import prep

PLAIN = PrepConfig(user_features=(), item_features=())


def grid(users=6, items=5, days=40) -> pd.DataFrame:
    """Every user buys every item over time: no cold start unless a test adds some."""
    rows = []
    for day in range(days):
        for u in range(users):
            rows.append((f"U{u}", f"I{(u + day) % items}", f"2025-{1 + day // 28:02d}-{1 + day % 28:02d} {u:02d}:00:00", 1 + (u + day) % 3))
    return pd.DataFrame(rows, columns=["customer_id", "product_id", "timestamp", "quantity"])


def prepare_rows(tmp_path, frame, config=PLAIN) -> prepared_data.PreparedData:
    prepare.prepare_frame(frame, config, str(tmp_path / "out"), "orders.csv")
    return prepared_data.load(str(tmp_path / "out"))


def prepare_csv(tmp_path, frame, config=PLAIN, **csv) -> prepared_data.PreparedData:
    path = tmp_path / "orders.csv"
    frame.to_csv(path, index=False, **csv)
    prep.run(str(tmp_path / "out"), str(path), {**config.__dict__}, {})
    return prepared_data.load(str(tmp_path / "out"))


def test_split_is_temporal_and_counts_add_up(tmp_path):
    prepared = prepare_rows(tmp_path, grid())
    train, val, test = (prepared.splits[s] for s in prepared_data.SPLITS)
    assert train["timestamp"].max() <= val["timestamp"].min()
    assert val["timestamp"].max() <= test["timestamp"].min()
    stats = prepared.stats
    assert stats["rows_in"] == 240
    assert stats["train_rows"] + stats["val_rows"] + stats["test_rows"] + stats["val_rows_dropped_cold_start"] + stats["test_rows_dropped_cold_start"] == 240
    assert prepared.vocabularies["user_id"] == [f"U{i}" for i in range(6)]
    assert list(train.columns[:4]) == ["user_id", "item_id", "timestamp", "user_idx"]
    assert (prepared.users["user_id"].tolist()) == prepared.vocabularies["user_id"]


def test_test_start_date_and_random_split(tmp_path):
    by_date = prepare_rows(tmp_path, grid(), PrepConfig(user_features=(), item_features=(), test_start="2025-02-10"))
    assert by_date.splits["test"]["timestamp"].min() >= pd.Timestamp("2025-02-10")
    assert by_date.splits["train"]["timestamp"].max() < pd.Timestamp("2025-02-10")
    random_config = PrepConfig(user_features=(), item_features=(), split="random", seed=3, test_fraction=0.2)
    first = prepare_rows(tmp_path / "a", grid(), random_config)
    again = prepare_rows(tmp_path / "b", grid(), random_config)
    pd.testing.assert_frame_equal(first.splits["test"], again.splits["test"])  # seeded: same rows
    assert 20 <= len(first.splits["test"]) + first.stats["test_rows_dropped_cold_start"] <= 75


def test_cold_start_rows_are_dropped_and_counted(tmp_path):
    late = pd.DataFrame([("NEWUSER", "I1", "2025-03-01 00:00:00", 1), ("U1", "NEWITEM", "2025-03-01 00:00:01", 1)], columns=grid().columns)
    prepared = prepare_rows(tmp_path, pd.concat([grid(), late], ignore_index=True))
    assert prepared.stats["test_rows_dropped_cold_start"] == 2
    assert "NEWUSER" not in set(prepared.splits["test"]["user_id"])


def test_integer_like_float_ids_are_one_customer(tmp_path):
    frame = grid()
    frame["customer_id"] = frame["customer_id"].str[1:]  # "0".."5"
    frame.loc[frame.index % 2 == 0, "customer_id"] = frame["customer_id"] + ".0"
    frame.loc[3, "customer_id"] = " 3 "
    prepared = prepare_rows(tmp_path, frame)
    assert prepared.vocabularies["user_id"] == ["0", "1", "2", "3", "4", "5"]


def test_null_ids_are_dropped_and_counted_and_repeats_kept_unless_dedupe(tmp_path):
    frame = grid()
    frame.loc[0, "customer_id"] = None
    frame.loc[1, "product_id"] = ""
    prepared = prepare_rows(tmp_path, frame)
    assert prepared.stats["rows_dropped_null_user"] == 1 and prepared.stats["rows_dropped_null_item"] == 1
    kept = sum(prepared.stats[f"{s}_rows"] for s in prepared_data.SPLITS)
    deduped = prepare_rows(tmp_path / "d", frame, PrepConfig(user_features=(), item_features=(), dedupe=True))
    assert deduped.stats["rows_dropped_duplicate"] == 238 - 30  # 6 users x 5 items remain
    assert sum(deduped.stats[f"{s}_rows"] for s in prepared_data.SPLITS) < kept


def test_where_filter_and_csv_with_features(tmp_path):
    frame = grid()
    frame["segment"] = ["retail" if i % 2 else "wholesale" for i in range(len(frame))]
    config = PrepConfig(user_features=("segment",), item_features=(), where="quantity > 1")
    prepared = prepare_csv(tmp_path, frame, config)
    assert prepared.stats["rows_filtered_out"] == int((frame["quantity"] <= 1).sum())
    assert prepared.vocabularies["user_features"]["segment"] == ["", "retail", "wholesale"]
    assert set(prepared.users["segment_idx"]) <= {1, 2}


def test_a_folder_of_parquet_files(tmp_path):
    frame = grid()
    (tmp_path / "in").mkdir()
    frame.iloc[:120].to_parquet(tmp_path / "in" / "part-0.parquet")
    frame.iloc[120:].to_parquet(tmp_path / "in" / "part-1.parquet")
    prep.run(str(tmp_path / "out"), str(tmp_path / "in"), {**PLAIN.__dict__}, {})
    assert prepared_data.load(str(tmp_path / "out")).stats["rows_in"] == 240


# --- bad input: one test each, a clear DataError, never a traceback from deep inside -------------


def bad(tmp_path, frame, config=PLAIN, **csv):
    with pytest.raises(prepare.DataError) as caught:
        prepare_csv(tmp_path, frame, config, **csv)
    return str(caught.value)


def test_missing_file(tmp_path):
    with pytest.raises(prepare.DataError, match="input not found: .*nope.csv"):
        prep.run(str(tmp_path / "out"), str(tmp_path / "nope.csv"), {**PLAIN.__dict__}, {})


def test_missing_column_is_named_with_the_columns_found(tmp_path):
    message = bad(tmp_path, grid().drop(columns=["timestamp"]))
    assert "missing column(s) timestamp; columns found: customer_id, product_id, quantity" in message


def test_nothing_left_after_filtering(tmp_path):
    assert "no rows left after filtering" in bad(tmp_path, grid(), PrepConfig(user_features=(), item_features=(), where="quantity > 100"))


def test_bad_where_condition_is_named(tmp_path):
    assert "cannot apply --where 'qty > 1'" in bad(tmp_path, grid(), PrepConfig(user_features=(), item_features=(), where="qty > 1"))


def test_a_single_user(tmp_path):
    assert "training split has 1 user(s)" in bad(tmp_path, grid(users=1))


def test_unparseable_timestamp_shows_the_row(tmp_path):
    frame = grid()
    frame.loc[5, "timestamp"] = "not a date"
    assert "column 'timestamp', row 6: cannot parse timestamp 'not a date'" in bad(tmp_path, frame)


def test_wrong_delimiter(tmp_path):
    message = bad(tmp_path, grid(), PrepConfig(user_features=(), item_features=(), delimiter=","), sep=";")
    assert "missing column(s) customer_id" in message and "is --delimiter wrong?" in message


def test_detected_delimiter_needs_no_flag(tmp_path):
    assert prepare_csv(tmp_path, grid(), sep=";").stats["rows_in"] == 240


def test_wrong_encoding(tmp_path):
    frame = grid()
    frame.loc[0, "customer_id"] = "Müller GmbH"
    message = bad(tmp_path, frame, encoding="latin-1")
    assert "orders.csv" in message and "--encoding" in message


def test_empty_test_split(tmp_path):
    frame = grid()
    config = PrepConfig(user_features=(), item_features=(), test_start="2030-01-01")
    assert "the test split is empty" in bad(tmp_path, frame, config)


def test_stats_are_json_and_complete(tmp_path):
    stats = prepare_rows(tmp_path, grid()).stats
    json.dumps(stats)
    assert {"rows_in", "rows_filtered_out", "rows_dropped_null_user", "rows_dropped_null_item", "rows_dropped_duplicate",
            "users", "items", "date_min", "date_max", "density"} <= set(stats)


def test_stats_name_a_local_input_without_its_folders(tmp_path):
    prepared = prepare_csv(tmp_path, grid())
    assert prepared.stats["source"] == "orders.csv (local)"
    assert prepare.public_source("gs://bucket/exports/*.csv") == "gs://bucket/exports/*.csv"
