"""BigQuery as a source, against bqemulator on 127.0.0.1: the Storage Read path prepared here, the
SQL path prepared inside BigQuery (EXPORT DATA into the output folder), and the one-line errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from google.cloud import bigquery as bq
from recs_pipeline.cli import main
from recs_pipeline.core.config import PrepConfig
from recs_pipeline.core.errors import DataError
from recs_pipeline.data import bigquery, bigquery_prep, prepared_data
from recs_pipeline.steps import prep

TABLE = "bq://test-project.shop.orders"
SETTINGS = dict(timestamp_column="ts", where="qty > 0", user_features="country", item_features="category")


@pytest.fixture(scope="module")
def orders(bq_emulator) -> list[dict]:
    """300 invoice lines in shop.orders (ids as Excel leaves them: '7.0'), some returns (qty <= 0),
    repeat purchases, a price (some missing), and one column data prep never reads; then, in the
    last hours (the test period), a customer and a product that nobody bought before."""
    rng = np.random.default_rng(3)
    rows = [dict(customer_id=f"{rng.integers(0, 25)}.0", product_id=f"P{rng.integers(0, 18)}", hour=k, qty=int(rng.integers(-1, 6)),
                 price=None if k % 7 == 0 else round(float(rng.gamma(2.0, 5.0)), 2), country=["DE", "PL", "FR"][k % 3],
                 category=f"cat{k % 4}", note="x" * 40) for k in range(300)]
    late = [("99.0", "P3", 1.5), ("99.0", "P5", None), ("3.0", "P99", 250.0), ("4.0", "P99", 240.0), ("99.0", "P99", 245.5)]
    rows += [dict(customer_id=customer, product_id=product, hour=300 + k, qty=1, price=price, country="NL", category="cat9", note="")
             for k, (customer, product, price) in enumerate(late)]
    client = bq_emulator.client()
    client.create_dataset("shop")
    client.create_dataset("staging")
    schema = [bq.SchemaField(name, kind) for name, kind in (("customer_id", "STRING"), ("product_id", "STRING"), ("ts", "TIMESTAMP"),
                                                           ("qty", "INT64"), ("price", "FLOAT64"), ("country", "STRING"),
                                                           ("category", "STRING"), ("note", "STRING"))]
    client.create_table(bq.Table("test-project.shop.orders", schema=schema))
    for r in rows:
        r["ts"] = str(np.datetime64("2024-01-01T00:00:00") + np.timedelta64(r.pop("hour"), "h")).replace("T", " ")
    assert not client.insert_rows_json("test-project.shop.orders", rows)  # streaming inserts (the emulator has no load jobs)
    return rows


def _csv(path, rows) -> str:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def _rows(folder: str) -> dict[str, set]:
    """Each split's rows, every column (in name order)."""
    data = prepared_data.load(folder)
    return {name: set(split[sorted(split.columns)].itertuples(index=False, name=None)) for name, split in data.splits.items()}


def test_a_table_read_carries_only_the_needed_columns_of_the_rows_that_pass(orders):
    config = PrepConfig(timestamp_column="ts", where="qty > 0", user_features=("country",))
    result = bigquery.read_table(bigquery.parse_table(TABLE), config)
    assert result.table.column_names == ["customer_id", "product_id", "ts", "country"]  # no qty, category, note
    assert result.table.num_rows == sum(r["qty"] > 0 for r in orders)
    assert result.rows_in == len(orders)
    assert result.bytes_scanned > 0


def test_a_table_prepares_as_the_same_rows_read_from_a_csv(orders, tmp_path):
    from_bq = prep.run(str(tmp_path / "bq"), TABLE, {**SETTINGS, "engine": "local"}, {})
    from_csv = prep.run(str(tmp_path / "csv"), _csv(tmp_path / "orders.csv", orders), SETTINGS, {})
    assert from_bq.pop("bigquery_bytes_scanned") > 0
    assert from_bq.pop("source") == TABLE
    from_csv.pop("source")
    # how the time column was read says what the source held: a TIMESTAMP column, or text in a CSV
    assert from_bq.pop("timestamps_read_as").startswith("timestamp[") and from_csv.pop("timestamps_read_as")
    assert from_bq == from_csv
    assert from_bq["rows_filtered_out"] == sum(r["qty"] <= 0 for r in orders) > 0
    assert _rows(str(tmp_path / "bq")) == _rows(str(tmp_path / "csv"))
    assert json.loads((tmp_path / "bq" / "data_stats.json").read_text())["bigquery_bytes_scanned"] > 0


def test_a_query_goes_through_a_staging_table(orders, tmp_path):
    settings = {**SETTINGS, "query": "SELECT * FROM `test-project.shop.orders` WHERE country != 'FR'",
                "bq_staging_dataset": "test-project.staging"}
    stats = prep.run(str(tmp_path / "q"), "", settings, {})
    assert stats["source"].startswith("BigQuery query ")
    assert stats["rows_in"] == sum(r["qty"] > 0 and r["country"] != "FR" for r in orders)
    assert prepared_data.load(str(tmp_path / "q")).vocabularies["user_features"]["country"] == ["", "DE", "PL"]


def test_the_bigquery_engine_prepares_what_the_local_engine_does(orders, bq_emulator, tmp_path):
    """The SQL path (cleaning, dedupe, cut-offs, bucket edges, vocabularies in BigQuery; splits by
    EXPORT DATA into the output folder's gs:// URI, which the emulator maps to a local folder as
    Vertex's /gcs/ mount does) gives the local path's rows, indices, vocabularies and stats: the
    cold-start rows kept and counted, the new customer and product indexed after the known ones
    with the features of their first row, the price bucketised by the same edges."""
    settings = {**SETTINGS, "item_numeric_features": "price", "dedupe": True, "bq_staging_dataset": "test-project.staging"}
    out = bq_emulator.gcs_root / "bucket" / "run-1" / "prepared"
    in_bq = prep.run(str(out), TABLE, {**settings, "engine": "bigquery"}, {}, output_uri="gs://bucket/run-1/prepared")
    local = prep.run(str(tmp_path / "local"), TABLE, {**settings, "engine": "local"}, {})
    assert min(p.name for p in (out / "train.parquet").iterdir()).endswith(".parquet")
    assert in_bq.pop("engine") == "bigquery"
    in_bq.pop("bigquery_bytes_scanned"), local.pop("bigquery_bytes_scanned")
    local.pop("timestamps_read_as")  # the SQL engine parses time inside BigQuery and does not report how
    assert in_bq == local
    assert in_bq["rows_dropped_duplicate"] > 0
    assert _rows(str(out)) == _rows(str(tmp_path / "local"))
    ours, theirs = prepared_data.load(str(out)), prepared_data.load(str(tmp_path / "local"))
    assert ours.vocabularies == theirs.vocabularies
    assert ours.users.equals(theirs.users) and ours.items.equals(theirs.items)
    assert in_bq["test_rows_new_customer"] == 3 and in_bq["test_rows_new_product"] == 3  # 99 and P99: every row kept
    assert in_bq["users"] == in_bq["users_in_training"] + 1 and in_bq["items"] == in_bq["items_in_training"] + 1
    assert ours.vocabularies["user_id"][-1] == "99" and ours.vocabularies["item_id"][-1] == "P99"
    assert ours.users["country_idx"].iloc[-1] == 0 and ours.items["category_idx"].iloc[-1] == 0  # NL, cat9: not in training
    prices = ours.vocabularies["item_features"]["price"]
    assert len(prices) > 5 and prices[1].startswith("< ") and prices[-1].startswith(">= ")
    assert ours.items["price_idx"].iloc[-1] == len(prices) - 1  # P99's first price, 250, is in the top bucket
    test = ours.splits["test"]
    p99 = ours.vocabularies["item_id"].index("P99")
    assert (test.loc[test.item_idx == p99, "price_idx"] == len(prices) - 1).all() and (test["price_idx"] > 0).sum() > 0


def test_a_price_that_is_not_a_number_stops_the_bigquery_engine_naming_it(orders, bq_emulator):
    query = ("SELECT customer_id, product_id, ts, IF(qty = 3, ' 1,5 ', IF(qty = 2, '', CAST(price AS STRING))) AS price "
             "FROM `test-project.shop.orders`")
    settings = {"timestamp_column": "ts", "item_numeric_features": "price", "query": query, "bq_staging_dataset": "test-project.staging",
                "engine": "bigquery"}
    count = sum(r["qty"] == 3 for r in orders)
    with pytest.raises(DataError, match=rf"column 'price': '1,5' is not a number \({count} such row\(s\)\); a numeric feature needs"):
        prep.run(str(bq_emulator.gcs_root / "bucket" / "nan"), "", settings, {}, output_uri="gs://bucket/nan")


@pytest.mark.parametrize("args, expected", [
    (["--input", "bq://test-project.shop.missing"], "input not found: bq://test-project.shop.missing (Not found: "),
    (["--input", TABLE, "--item-column", "sku"],
     "bq://test-project.shop.orders: missing column(s) sku; columns found: customer_id, product_id, ts"),
    (["--query", "SELECT * FROM `bad!project.shop.orders`"], "permission denied (Access Denied: "),
    (["--input", TABLE, "--engine", "bigquery"], "engine bigquery exports the splits to GCS, but the output folder "),
])
def test_bigquery_errors_are_one_line(orders, tmp_path, args, expected):
    result = CliRunner().invoke(main, ["prepare", "--output-dir", str(tmp_path / "out"), "--timestamp-column", "ts", *args])
    assert result.exit_code == 1, result.output
    assert expected in result.output and len(result.output.strip().splitlines()) == 1, result.output


def test_an_unparseable_time_stops_the_bigquery_engine_naming_the_value(orders, bq_emulator):
    query = "SELECT customer_id, product_id, IF(qty = 3, 'soon', CAST(ts AS STRING)) AS ts, qty FROM `test-project.shop.orders`"
    settings = {"timestamp_column": "ts", "query": query, "bq_staging_dataset": "test-project.staging", "engine": "bigquery"}
    with pytest.raises(DataError, match=r"column 'ts': cannot parse timestamp 'soon' \(\d+ row\(s\)\)"):
        prep.run(str(bq_emulator.gcs_root / "bucket" / "bad"), "", settings, {}, output_uri="gs://bucket/bad")


def test_names_and_the_engine_output_folder():
    assert bigquery.parse_table("bq://my-project.shop.orders") == bigquery.TableRef("my-project", "shop", "orders")
    with pytest.raises(bigquery.BigQueryError, match="expected bq://project.dataset.table"):
        bigquery.parse_table("bq://shop.orders")
    assert bigquery_prep.gcs_uri_of("/gcs/bucket/root/prepared", "") == "gs://bucket/root/prepared"
    assert bigquery_prep.gcs_uri_of("/tmp/x", "gs://bucket/a/") == "gs://bucket/a"
    with pytest.raises(DataError, match="is not on gs://"):
        bigquery_prep.gcs_uri_of("/tmp/x", "/tmp/x")


def test_auto_prepares_a_table_above_the_limit_inside_bigquery(orders, tmp_path, monkeypatch):
    monkeypatch.setattr(prep, "LOCAL_MAX_ROWS", len(orders) - 1)
    with pytest.raises(DataError, match="engine bigquery exports the splits to GCS"):
        prep.run(str(tmp_path / "out"), TABLE, SETTINGS, {})
    monkeypatch.setattr(prep, "LOCAL_MAX_ROWS", len(orders))
    assert "engine" not in prep.run(str(tmp_path / "out"), TABLE, SETTINGS, {})


FEW = "SELECT * FROM `test-project.shop.orders` WHERE customer_id IN ('3.0', '4.0', '5.0')"


@pytest.mark.parametrize("settings, expected", [
    ({"test_start": "2030-01-01"}, "no purchase on or after --test-start 2030-01-01: the data runs from 2024-01-01 to 2024-01-13"),
    ({"test_start": "2020-01-01"}, "no purchase before --test-start 2020-01-01, so nothing to train on"),
    ({"query": "SELECT *, CONCAT(customer_id, CAST(ts AS STRING)) AS buyer FROM `test-project.shop.orders`", "user_column": "buyer"},
     "every customer in column 'buyer' has a single purchase"),
    # a random split hashes rows differently in each engine: with this seed, neither puts a row in test
    ({"query": FEW, "split": "random", "test_fraction": 0.01, "seed": 5}, "the test split is empty: 32 rows are too few for"),
])
def test_both_engines_stop_with_the_same_message(orders, bq_emulator, settings, expected):
    settings = {"timestamp_column": "ts", "where": "qty > 0", "bq_staging_dataset": "test-project.staging", **settings}
    source = "" if "query" in settings else TABLE
    messages = []
    for engine in ("local", "bigquery"):
        with pytest.raises(DataError) as raised:
            prep.run(str(bq_emulator.gcs_root / "bucket" / engine), source, {**settings, "engine": engine}, {}, output_uri=f"gs://bucket/{engine}")
        messages.append(str(raised.value))
    assert expected in messages[0] and messages[0] == messages[1]


@pytest.mark.parametrize("as_text, timestamp_format", [
    ("FORMAT_TIMESTAMP('%Y-%d-%m %H:%M', ts)", "%Y-%d-%m %H:%M"),  # ISO-looking text that only the format reads right
    ("CAST(UNIX_SECONDS(ts) AS STRING)", "epoch_s"),
    ("UNIX_MILLIS(ts)", "epoch_ms"),
    ("ts", "epoch_s"),  # a TIMESTAMP column is read as it is, whatever the format says
    ("ts", "%Y-%d-%m %H:%M:%S"),
])
def test_both_engines_read_times_by_the_format_given(orders, bq_emulator, as_text, timestamp_format):
    typed = prep.run(str(bq_emulator.gcs_root / "bucket" / "typed"), TABLE, {"timestamp_column": "ts", "engine": "local"}, {})
    query = f"SELECT customer_id, product_id, {as_text} AS ts FROM `test-project.shop.orders`"
    settings = {"timestamp_column": "ts", "query": query, "bq_staging_dataset": "test-project.staging",
                "timestamp_format": timestamp_format}
    for engine in ("local", "bigquery"):
        stats = prep.run(str(bq_emulator.gcs_root / "bucket" / engine), "", {**settings, "engine": engine}, {},
                         output_uri=f"gs://bucket/{engine}")
        assert [stats[key] for key in ("date_min", "date_max", "test_start", "train_rows")] == \
            [typed[key] for key in ("date_min", "date_max", "test_start", "train_rows")], engine
