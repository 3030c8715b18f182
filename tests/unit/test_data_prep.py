"""data_prep on small hand-made tables and files: splits, cleaning, and one test per bad input."""

import json
import math

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from recs_pipeline.core.config import PrepConfig
from recs_pipeline.core.errors import ConfigError
from recs_pipeline.data import numeric_features, prepare, prepared_data, split_files, splits, timestamps
from recs_pipeline.data.kept_rows import Rows
from recs_pipeline.data.timestamps import NO_TIME
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
    tmp_path.mkdir(parents=True, exist_ok=True)
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
    assert stats["train_rows"] + stats["val_rows"] + stats["test_rows"] == 240
    assert prepared.vocabularies["user_id"] == [f"U{i}" for i in range(6)]
    assert list(train.columns) == ["timestamp", "user_idx", "item_idx"]  # indices only: the vocabularies name them
    assert (prepared.users["user_id"].tolist()) == prepared.vocabularies["user_id"]


def reference_split(times: np.ndarray, keep: np.ndarray, config: PrepConfig) -> list[np.ndarray]:
    """Each split's rows by the definition: test from the test cut (--test-start, or the kept times'
    1 - test_fraction quantile_disc), validation from the same quantile of the times before it."""
    kept = np.sort(times[keep])

    def position(fraction: float, count: int) -> int:  # SQL's quantile_disc
        return max(math.ceil(fraction * count) - 1, 0)

    test_cut = (int(np.datetime64(config.test_start, "us").astype(np.int64)) if config.test_start
                else kept[position(1 - config.test_fraction, len(kept))])
    earlier = kept[kept < test_cut]
    val_cut = earlier[position(1 - config.val_fraction, len(earlier))]
    label = np.where(times >= test_cut, 2, np.where(times >= val_cut, 1, 0))
    return [np.flatnonzero(keep & (label == split)) for split in splits.SPLIT_ORDER]


@pytest.mark.parametrize("order", ["in order", "in order, dropped rows too", "only the kept rows in order", "shuffled"])
@pytest.mark.parametrize("test_start", ["", "2025-03-01"])
def test_temporal_split_rows_match_their_definition_in_every_order(order, test_start):
    """The split finds its cuts by bisection when the times are in order, by partition otherwise: each
    way gives the rows the definition gives, ties at a cut included."""
    rng = np.random.default_rng(len(order) + len(test_start))
    count = 5000
    times = np.sort(rng.integers(0, 120, count)) * 86_400_000_000 + int(np.datetime64("2025-01-01", "us").astype(np.int64))
    keep = rng.random(count) < 0.9
    if order == "in order":
        keep[:] = True
    if order == "only the kept rows in order":
        times[~keep] = NO_TIME  # a time that did not parse, on a row the filter drops
    if order == "shuffled":
        times = rng.permutation(times)
    config = PrepConfig(user_features=(), item_features=(), test_fraction=0.15, val_fraction=0.2, test_start=test_start)
    codes = np.zeros(count, np.intp)
    rows = Rows(codes, codes, times, {}, {}, {}, None if keep.all() else keep)
    parts = splits.split_rows(prepare.connect(), rows, np.array(["u"], object), np.array(["i"], object), config, "orders.csv")
    for split, expected in zip(splits.SPLIT_ORDER, reference_split(times, keep, config), strict=True):
        assert parts.size(split) == len(expected) > 0
        np.testing.assert_array_equal(parts.positions(split), expected)


@pytest.mark.parametrize("block", [2, 3, 4])
def test_times_out_of_order_are_told_at_every_block_boundary(block):
    times = np.arange(10)
    assert splits.in_order(times, block) and splits.in_order(times[:1], block) and splits.in_order(times[:0], block)
    for position in range(len(times) - 1):  # one swapped pair, inside a block or across two
        swapped = times.copy()
        swapped[[position, position + 1]] = swapped[[position + 1, position]]
        assert not splits.in_order(swapped, block), position


def test_test_start_date_and_random_split(tmp_path):
    by_date = prepare_rows(tmp_path, grid(), PrepConfig(user_features=(), item_features=(), test_start="2025-02-10"))
    assert by_date.splits["test"]["timestamp"].min() >= pd.Timestamp("2025-02-10")
    assert by_date.splits["train"]["timestamp"].max() < pd.Timestamp("2025-02-10")
    random_config = PrepConfig(user_features=(), item_features=(), split="random", seed=3, test_fraction=0.2)
    first = prepare_rows(tmp_path / "a", grid(), random_config)
    again = prepare_rows(tmp_path / "b", grid(), random_config)
    pd.testing.assert_frame_equal(first.splits["test"], again.splits["test"])  # seeded: same rows
    assert 20 <= len(first.splits["test"]) <= 75


def test_cold_start_rows_are_kept_counted_and_indexed_after_the_known_ones(tmp_path):
    late = pd.DataFrame([("NEWUSER", "I1", "2025-03-01 00:00:00", 1), ("U1", "NEWITEM", "2025-03-01 00:00:01", 1)], columns=grid().columns)
    prepared = prepare_rows(tmp_path, pd.concat([grid(), late], ignore_index=True))
    assert prepared.stats["test_rows_new_customer"] == 1 and prepared.stats["test_rows_new_product"] == 1
    assert prepared.stats["val_rows_new_customer"] == 0
    assert prepared.known_users == 6 and prepared.vocabularies["user_id"][-1] == "NEWUSER"
    assert prepared.known_items == 5 and prepared.vocabularies["item_id"][5:] == ["NEWITEM"]
    test = prepared.splits["test"]
    test_users = [prepared.vocabularies["user_id"][index] for index in test["user_idx"]]
    assert {"NEWUSER", "U1"} <= set(test_users)
    assert test.loc[[user == "NEWUSER" for user in test_users], "user_idx"].tolist() == [6]
    assert prepared.stats["users"] == 7 and prepared.stats["users_in_training"] == 6


def test_features_of_a_new_customer_come_from_their_first_row(tmp_path):
    frame = grid()
    frame["segment"] = "retail"
    late = pd.DataFrame([("NEWUSER", "I1", "2025-03-02 00:00:00", 1, "retail"), ("NEWUSER", "I2", "2025-03-01 00:00:00", 1, "wholesale")],
                        columns=frame.columns)
    frame.loc[frame["customer_id"] == "U0", "segment"] = "wholesale"
    prepared = prepare_rows(tmp_path, pd.concat([frame, late], ignore_index=True), PrepConfig(user_features=("segment",), item_features=()))
    values = prepared.vocabularies["user_features"]["segment"]
    users = prepared.users.set_index("user_id")
    assert values[users.loc["NEWUSER", "segment_idx"]] == "wholesale"  # its first row, not its last
    assert values[users.loc["U1", "segment_idx"]] == "retail"


def test_entity_tables_hold_their_own_index_and_id_plainly_and_features_by_dictionary(tmp_path):
    """An index or id is distinct per row, so a dictionary would only be built to be dropped; a
    feature's values, a text feature's words among them, repeat."""
    frame = grid()
    frame["segment"] = np.where(frame["customer_id"] == "U0", "wholesale", "retail")
    frame["description"] = "fresh green tea"
    prepare_rows(tmp_path, frame, PrepConfig(user_features=("segment",), item_features=(), item_text_features=("description",)))
    expected = {"user": {"user_idx": False, "user_id": False, "segment_idx": True},
                "item": {"item_idx": False, "item_id": False, "description_tokens.list.element": True}}
    for kind, columns in expected.items():
        chunks = pq.ParquetFile(tmp_path / "out" / f"{kind}s.parquet").metadata.row_group(0)
        encodings = {chunks.column(i).path_in_schema: chunks.column(i).encodings for i in range(chunks.num_columns)}
        assert {name: "RLE_DICTIONARY" in used or "PLAIN_DICTIONARY" in used for name, used in encodings.items()} == columns


def test_numeric_features_are_bucketised_by_training_quantiles(tmp_path):
    frame = grid()
    frame["price"] = [f"{(i % 50) * 1.5:.2f}" for i in range(len(frame))]
    frame.loc[3, "price"] = ""
    prepared = prepare_rows(tmp_path, frame, PrepConfig(user_features=(), item_features=(), item_numeric_features=("price",)))
    labels = prepared.vocabularies["item_features"]["price"]
    assert labels[0] == "" and labels[1].startswith("< ") and labels[-1].startswith(">= ") and len(labels) == 11
    train = prepared.splits["train"]
    assert train["price_idx"].between(0, 10).all() and (train["price_idx"] == 0).sum() == 1
    assert sorted(set(train["price_idx"])) == list(range(11))
    raw = frame.set_index(["customer_id", "timestamp"])["price"]
    users = [prepared.vocabularies["user_id"][index] for index in train["user_idx"]]
    prices = [float(raw[(u, str(t))]) for u, t in zip(users, train["timestamp"]) if raw[(u, str(t))]]
    buckets = [i for i, (u, t) in zip(train["price_idx"], zip(users, train["timestamp"])) if raw[(u, str(t))]]
    order = sorted(zip(prices, buckets))
    assert [b for _, b in order] == sorted(b for _, b in order)  # higher prices, higher buckets
    assert "price_idx" in prepared.items.columns


def test_a_numeric_feature_that_is_not_a_number_is_named(tmp_path):
    frame = grid()
    frame["price"] = "1.5"
    frame.loc[7, "price"] = "twelve"
    message = bad(tmp_path, frame, PrepConfig(user_features=(), item_features=(), item_numeric_features=("price",)))
    assert message == (f"{tmp_path / 'orders.csv'}: column 'price', row 8: 'twelve' is not a number (1 such row(s)); "
                       "a numeric feature needs numbers, or leave the value empty")


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


def test_a_test_start_after_the_data_names_the_date_and_the_last_purchase(tmp_path):
    config = PrepConfig(user_features=(), item_features=(), test_start="2030-01-01")
    message = bad(tmp_path, grid(), config)
    assert message.startswith(f"{tmp_path / 'orders.csv'}: no purchase on or after --test-start 2030-01-01")
    assert "the data runs from 2025-01-01 to 2025-02-12" in message and "fraction" not in message.replace("leave --test-start", "")
    fixed = prepare_csv(tmp_path / "fixed", grid(), PrepConfig(user_features=(), item_features=(), test_start="2025-02-10"))
    assert fixed.stats["test_rows"] > 0


def test_a_test_start_before_the_data_names_the_date(tmp_path):
    message = bad(tmp_path, grid(), PrepConfig(user_features=(), item_features=(), test_start="2020-01-01"))
    assert "no purchase before --test-start 2020-01-01" in message and "2025-01-01 to 2025-02-12" in message


def test_one_time_for_every_purchase_asks_for_a_random_split(tmp_path):
    frame = grid()
    frame["timestamp"] = "2025-01-01 00:00:00"
    message = bad(tmp_path, frame)
    assert "every purchase has the same time (2025-01-01T00:00:00)" in message and "--split random" in message
    assert prepare_csv(tmp_path / "fixed", frame, PrepConfig(user_features=(), item_features=(), split="random")).stats["test_rows"] > 0


def test_customers_who_each_buy_once_are_named_as_the_cause(tmp_path):
    frame = grid()
    frame["customer_id"] = [f"ORDER{i}" for i in range(len(frame))]  # an order id given as the customer
    message = bad(tmp_path, frame)
    assert message.startswith(f"{tmp_path / 'orders.csv'}: every customer in column 'customer_id' has a single purchase (240 rows)")
    assert "--user-column" in message and "fraction" not in message


def test_a_test_split_of_only_new_customers_is_evaluated(tmp_path):
    # The last tenth of purchases by time (the test split) is all by customers never seen before.
    late = pd.DataFrame([(f"NEW{i}", "I1", f"2025-03-{1 + i:02d} 00:00:00", 1) for i in range(27)], columns=grid().columns)
    prepared = prepare_rows(tmp_path, pd.concat([grid(), late], ignore_index=True))
    assert prepared.stats["test_rows"] == prepared.stats["test_rows_new_customer"] == 27

def test_stats_are_json_and_complete(tmp_path):
    stats = prepare_rows(tmp_path, grid()).stats
    json.dumps(stats)
    assert {"rows_in", "rows_filtered_out", "rows_dropped_null_user", "rows_dropped_null_item", "rows_dropped_duplicate",
            "users", "items", "date_min", "date_max", "density"} <= set(stats)


def test_stats_name_a_local_input_without_its_folders(tmp_path):
    prepared = prepare_csv(tmp_path, grid())
    assert prepared.stats["source"] == "orders.csv (local)"
    assert prepare.public_source("gs://bucket/exports/*.csv") == "gs://bucket/exports/*.csv"


# --- timestamps as people have them ---------------------------------------------------------------

EPOCH_S = 881250949  # 1997-12-04 15:55:49 UTC


def with_times(values) -> pd.DataFrame:
    """grid() with its timestamp column replaced, value for value (the list is repeated to fit)."""
    frame = grid()
    frame["timestamp"] = [values[i % len(values)] for i in range(len(frame))]
    return frame


def first_train_time(prepared) -> pd.Timestamp:
    return prepared.splits["train"]["timestamp"].min()


@pytest.mark.parametrize("values, read_as", [
    ([EPOCH_S + 3600 * i for i in range(240)], "epoch_s"),
    ([(EPOCH_S + 3600 * i) * 1000 for i in range(240)], "epoch_ms"),
    ([str(EPOCH_S + 3600 * i) for i in range(240)], "epoch_s"),  # a text column of epochs (Parquet strings)
])
def test_integer_epochs_are_detected_by_size(tmp_path, values, read_as):
    prepared = prepare_rows(tmp_path, with_times(values))
    assert first_train_time(prepared) == pd.Timestamp("1997-12-04 15:55:49")
    assert prepared.stats["timestamps_read_as"] == read_as
    assert prepared.stats["date_max"] == (pd.Timestamp("1997-12-04 15:55:49") + pd.Timedelta(hours=239)).isoformat()


def test_epochs_in_a_csv_and_named_with_timestamp_format(tmp_path):
    frame = with_times([(EPOCH_S + 60 * i) * 1000 for i in range(240)])
    assert first_train_time(prepare_csv(tmp_path / "a", frame)) == pd.Timestamp("1997-12-04 15:55:49")
    named = PrepConfig(user_features=(), item_features=(), timestamp_format="epoch_ms")
    assert first_train_time(prepare_csv(tmp_path / "b", frame, named)) == pd.Timestamp("1997-12-04 15:55:49")
    as_seconds = PrepConfig(user_features=(), item_features=(), timestamp_format="epoch_s")  # ms read as s: past the year 9999
    assert "cannot parse timestamp '881250949000'" in bad(tmp_path / "c", frame, as_seconds)


def test_a_stray_word_among_epochs_is_the_row_reported(tmp_path):
    frame = with_times([EPOCH_S + i for i in range(240)])
    frame["timestamp"] = frame["timestamp"].astype(str)
    frame.loc[7, "timestamp"] = "yesterday"
    assert "column 'timestamp', row 8: cannot parse timestamp 'yesterday'" in bad(tmp_path, frame)


def test_numbers_too_large_for_seconds_or_milliseconds_are_refused(tmp_path):
    message = bad(tmp_path, with_times([(EPOCH_S + i) * 1_000_000 for i in range(240)]))
    assert "column 'timestamp' holds numbers up to 8.81251e+14, too large for epoch seconds or milliseconds" in message


def test_yyyymmdd_integers_are_dates_not_1970(tmp_path):
    prepared = prepare_csv(tmp_path, with_times([20250101 + d for d in range(28)]))
    assert first_train_time(prepared) == pd.Timestamp("2025-01-01")
    assert prepared.stats["timestamps_read_as"] == "%Y%m%d"


def test_iso_with_time_zones_becomes_utc(tmp_path):
    # naive and zoned text in one column (pyarrow cannot type it: DuckDB parses it, naive as UTC)
    forms = ("T10:00:00+02:00", " 10:00:00", "T09:30:00Z", "T12:00:00-05:00")
    values = [f"2025-01-{d:02d}{form}" for d in range(1, 29) for form in forms]
    prepared = prepare_csv(tmp_path / "mixed", with_times(values))
    times = pd.concat([prepared.splits[s]["timestamp"] for s in prepared_data.SPLITS])
    assert {(t.hour, t.minute) for t in times} == {(8, 0), (10, 0), (9, 30), (17, 0)}
    assert prepared.stats["timestamps_read_as"] == "text (ISO or a common format)"
    # one zone throughout (pyarrow types it) and a strptime format with %z
    zoned = prepare_csv(tmp_path / "zoned", with_times([f"2025-01-{1 + d:02d}T10:00:00+02:00" for d in range(20)]))
    assert first_train_time(zoned) == pd.Timestamp("2025-01-01 08:00")
    formatted = PrepConfig(user_features=(), item_features=(), timestamp_format="%d/%m/%Y %H:%M %z")
    prepared = prepare_csv(tmp_path / "format", with_times([f"{1 + d:02d}/01/2025 10:00 +0100" for d in range(20)]), formatted)
    assert first_train_time(prepared) == pd.Timestamp("2025-01-01 09:00")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_format_given_decides_what_iso_looking_text_means(tmp_path, suffix):
    # Valid ISO dates all: the CSV reader would type them as such; under %Y-%d-%m they are March 1st to 12th.
    frame = with_times([f"2025-{1 + d % 12:02d}-03" for d in range(240)])
    path = tmp_path / f"orders{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    formatted = prep.run(str(tmp_path / "out"), str(path), {**PLAIN.__dict__, "timestamp_format": "%Y-%d-%m"}, {})
    assert (formatted["date_min"], formatted["date_max"], formatted["timestamps_read_as"]) == \
        ("2025-03-01T00:00:00", "2025-03-12T00:00:00", "%Y-%d-%m")
    as_iso = prep.run(str(tmp_path / "iso"), str(path), {**PLAIN.__dict__}, {})
    assert (as_iso["date_min"], as_iso["date_max"]) == ("2025-01-03T00:00:00", "2025-12-03T00:00:00")


def test_a_format_that_does_not_fit_is_named_with_the_value(tmp_path):
    frame = with_times([f"{1 + d % 28:02d}/01/2025" for d in range(240)])
    frame.loc[5, "timestamp"] = "31/02/2025"
    message = bad(tmp_path, frame, PrepConfig(user_features=(), item_features=(), timestamp_format="%d/%m/%Y"))
    assert message.endswith("column 'timestamp', row 6: cannot parse timestamp '31/02/2025' with --timestamp-format '%d/%m/%Y'")


@pytest.mark.parametrize("settings, expected", [
    ({"timestamp_format": "banana"}, "timestamp_format='banana' is neither a strptime format (such as %d/%m/%Y %H:%M) nor epoch_s"),
    ({"test_start": "31/12/2024"}, "test_start='31/12/2024' is not a date: give it as YYYY-MM-DD, or YYYY-MM-DD HH:MM[:SS]"),
    ({"test_start": "2024-02-30"}, "test_start='2024-02-30' is not a date"),
    ({"encoding": "klingon"}, "encoding='klingon' is not a text encoding Python knows; e.g. utf-8, latin-1 or cp1252"),
])
def test_settings_that_cannot_work_stop_before_any_data_is_read(settings, expected):
    with pytest.raises(ConfigError) as raised:
        PrepConfig(**settings)
    assert expected in str(raised.value)


def test_date_only_strings(tmp_path):
    prepared = prepare_csv(tmp_path, with_times([f"2025-02-{1 + d:02d}" for d in range(28)] + ["2025/03/01"]))
    assert first_train_time(prepared) == pd.Timestamp("2025-02-01")


def test_naive_times_are_utc_whatever_the_machines_zone(tmp_path, monkeypatch):
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        days = range(1, 29)
        values = [f"2025-01-{d:02d} 10:00:00" for d in days] + [f"2025-01-{d:02d}T12:00:00+02:00" for d in days]
        prepared = prepare_csv(tmp_path, with_times(values))
        times = set(pd.concat([prepared.splits[s]["timestamp"] for s in prepared_data.SPLITS]))
        assert {t.hour for t in times} == {10}
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_parquet_timestamp_and_date_columns(tmp_path):
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = grid()
    start = datetime.datetime(2025, 1, 1, 10, tzinfo=datetime.UTC)
    columns = {
        "zoned": pa.array([start + datetime.timedelta(hours=i) for i in range(len(frame))], pa.timestamp("ms", tz="Europe/Berlin")),
        "date": pa.array([datetime.date(2025, 1, 1) + datetime.timedelta(days=i // 6) for i in range(len(frame))], pa.date32()),
        "epoch_ms": pa.array([(EPOCH_S + i) * 1000 for i in range(len(frame))], pa.int64()),
    }
    expected = {"zoned": pd.Timestamp("2025-01-01 10:00"), "date": pd.Timestamp("2025-01-01"),
                "epoch_ms": pd.Timestamp("1997-12-04 15:55:49")}
    for name, times in columns.items():
        folder = tmp_path / name
        folder.mkdir()
        pq.write_table(pa.table({"customer_id": frame["customer_id"], "product_id": frame["product_id"], "timestamp": times}),
                       folder / "o.parquet")
        prep.run(str(folder / "out"), str(folder / "o.parquet"), {**PLAIN.__dict__}, {})
        assert first_train_time(prepared_data.load(str(folder / "out"))) == expected[name], name


@pytest.mark.parametrize("unit, scale", [("s", 10**6), ("ms", 10**3), ("us", 1)])
def test_typed_times_in_many_chunks_are_epoch_microseconds(unit, scale):
    import pyarrow as pa

    stored = [0, 1_700_000_000, -5, 7, 253_402_300_799]
    kind = pa.timestamp(unit, tz="Europe/Berlin")  # the stored integers are UTC whatever the zone
    column = pa.chunked_array([pa.array(stored[:2], kind), pa.array([], kind), pa.array(stored[2:3], kind), pa.array(stored[3:], kind)])
    parsed = timestamps.parse(None, pa.table({"t": column}), "t", "", "orders.parquet")
    assert parsed.micros.tolist() == [value * scale for value in stored]


def test_an_empty_file_says_it_is_empty(tmp_path):
    (tmp_path / "orders.csv").write_text("")
    with pytest.raises(prepare.DataError, match=r"orders.csv: the file is empty$"):
        prep.run(str(tmp_path / "out"), str(tmp_path / "orders.csv"), {**PLAIN.__dict__}, {})
    with pytest.raises(prepare.DataError, match=r"orders.csv: the file is empty$"):
        prep.check(str(tmp_path / "orders.csv"), {**PLAIN.__dict__})


def test_a_header_without_rows(tmp_path):
    (tmp_path / "orders.csv").write_text("customer_id,product_id,timestamp\n")
    with pytest.raises(prepare.DataError, match=r"orders.csv: no rows, only the header \(customer_id, product_id, timestamp\)"):
        prep.run(str(tmp_path / "out"), str(tmp_path / "orders.csv"), {**PLAIN.__dict__}, {})


def test_the_check_before_a_pipeline_reads_headers_only(tmp_path):
    path = tmp_path / "orders.csv"
    grid().drop(columns=["product_id"]).to_csv(path, index=False, sep=";")
    with pytest.raises(prepare.DataError, match="missing column\\(s\\) product_id; columns found: customer_id, timestamp, quantity"):
        prep.check(str(path), {**PLAIN.__dict__})
    grid().to_csv(path, index=False)
    prep.check(str(path), {**PLAIN.__dict__})  # all there: no error
    with pytest.raises(prepare.DataError, match="input not found"):
        prep.check(str(tmp_path / "nope.csv"), {**PLAIN.__dict__})
    with pytest.raises(Exception, match="unsupported URI 's3://bucket/orders.csv'"):
        prep.check("s3://bucket/orders.csv", {**PLAIN.__dict__})


def test_text_features_become_words_of_a_training_vocabulary(tmp_path):
    frame = grid()
    descriptions = {"I0": "Green Tea, 500g", "I1": "green tea bags", "I2": "Black coffee", "I3": "coffee beans", "I4": ""}
    frame["description"] = frame["product_id"].map(descriptions)
    late = pd.DataFrame([("U1", "NEWITEM", "2025-03-01 00:00:00", 1, "decaf coffee capsules")], columns=frame.columns)
    prepared = prepare_rows(tmp_path, pd.concat([frame, late], ignore_index=True),
                            PrepConfig(user_features=(), item_features=(), item_text_features=("description",)))
    words = prepared.vocabularies["item_text_features"]["description"]
    assert sorted(words) == ["coffee", "green", "tea"]  # in two training texts or more; "decaf" comes later, "500g" once
    tokens = prepared_data.entity_input(prepared.items, "description_tokens")
    assert tokens.shape == (6, 16) and "description_tokens" not in prepared.splits["train"]
    items = prepared.items["item_id"].tolist()
    assert sorted(words[t - 1] for t in tokens[items.index("I0")] if t) == ["green", "tea"]
    assert [words[t - 1] for t in tokens[items.index("NEWITEM")] if t] == ["coffee"]  # a new product's words, known ones only
    assert not tokens[items.index("I4")].any()
    assert prepared.text_features("item") == {"description": 4}


def test_bucket_labels_are_distinct_however_close_the_edges():
    edges = np.array([12345670.0, 12345671.0, 12345672.5])
    labels = numeric_features.labels(edges)
    assert len(set(labels)) == len(labels) == 4 and labels[0] == "< 12345670"


def test_a_missing_numeric_or_text_column_is_named(tmp_path):
    for option in ("item_numeric_features", "item_text_features"):
        message = bad(tmp_path / option, grid(), PrepConfig(user_features=(), item_features=(), **{option: ("price",)}))
        assert "missing column(s) price; columns found: customer_id, product_id, timestamp, quantity" in message


def test_a_large_split_written_as_shards_reads_back_as_one_file(tmp_path, monkeypatch):
    frame = grid()
    frame["segment"] = frame["customer_id"].map(lambda user: "retail" if user < "U3" else "wholesale")
    config = PrepConfig(user_features=("segment",), item_features=())
    whole = prepare_rows(tmp_path / "whole", frame, config)
    monkeypatch.setattr(split_files, "SHARD_ROWS", 50)
    monkeypatch.setattr(split_files.os, "cpu_count", lambda: 3)
    (tmp_path / "sharded" / "out").mkdir(parents=True)
    (tmp_path / "sharded" / "out" / "train.parquet").write_text("a file an earlier run left")
    sharded = prepare_rows(tmp_path / "sharded", frame, config)
    assert sorted(p.name for p in (tmp_path / "sharded" / "out" / "train.parquet").iterdir()) == [f"part-00{i}.parquet" for i in range(3)]
    assert not (tmp_path / "sharded" / "out" / "val.parquet").is_dir()  # a small split stays one file
    for name in prepared_data.SPLITS:
        pd.testing.assert_frame_equal(whole.splits[name], sharded.splits[name])
    pd.testing.assert_frame_equal(whole.users, sharded.users)
    assert whole.vocabularies == sharded.vocabularies and whole.stats == sharded.stats
    monkeypatch.setattr(split_files, "SHARD_ROWS", 1 << 21)
    again = prepare_rows(tmp_path / "sharded", frame, config)  # into the same folder: the shards give way to one file
    assert (tmp_path / "sharded" / "out" / "train.parquet").is_file()
    pd.testing.assert_frame_equal(whole.splits["train"], again.splits["train"])
