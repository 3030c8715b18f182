"""The fingerprint data_prep is cached on, for BigQuery sources, against bqemulator: a table's comes
from its metadata (last modified, rows, streaming buffer) and changes when a row is added; a
query's (and a view's) is unique to the pipeline job, so its result is never reused."""

from __future__ import annotations

import pytest
from google.cloud import bigquery as bq
from recs_pipeline.components.input_fingerprint import input_fingerprint
from recs_pipeline.data import sources
from recs_pipeline.data.bigquery import BigQueryError

TABLE = "test-project.weekly.orders"


@pytest.fixture(scope="module")
def table(bq_emulator) -> str:
    client = bq_emulator.client()
    client.create_dataset("weekly")
    schema = [bq.SchemaField("customer_id", "STRING"), bq.SchemaField("product_id", "STRING"), bq.SchemaField("ts", "TIMESTAMP")]
    client.create_table(bq.Table(TABLE, schema=schema))
    assert not client.insert_rows_json(TABLE, [{"customer_id": "C1", "product_id": "P1", "ts": "2024-01-01 00:00:00"}])
    return f"bq://{TABLE}"


def test_a_table_fingerprint_comes_from_its_metadata_and_changes_when_a_row_is_added(table, bq_emulator):
    before = input_fingerprint(table, pipeline_job_name="run-1")
    assert before.startswith("sha256:")
    assert input_fingerprint(table, pipeline_job_name="run-2") == before  # unchanged table: the same key, a cache hit
    version = sources.table_version(table)
    assert version["type"] == "TABLE" and version["stable"] and version["modified"]
    assert version["rows"] + version["streaming_rows"] >= 1
    assert not bq_emulator.client().insert_rows_json(TABLE, [{"customer_id": "C2", "product_id": "P2", "ts": "2024-01-02 00:00:00"}])
    after = input_fingerprint(table, pipeline_job_name="run-3")
    assert after != before
    assert input_fingerprint(table, pipeline_job_name="run-4") == after


def test_a_query_is_never_reused(table):
    query = f"SELECT * FROM `{TABLE}`"
    first = input_fingerprint(query=query, pipeline_job_name="two-tower-retrieval-20260101")
    second = input_fingerprint(query=query, pipeline_job_name="two-tower-retrieval-20260108")
    assert first != second and "uncached query" in first and first.endswith("run two-tower-retrieval-20260101")
    assert input_fingerprint(table, query=query) != input_fingerprint(table, query=query)  # no job name: a fresh id each call


def test_a_view_is_read_fresh_every_run(table, bq_emulator):
    """A view's metadata does not change when the rows behind it do."""
    view = bq.Table("test-project.weekly.recent")
    view.view_query = f"SELECT * FROM `{TABLE}`"
    bq_emulator.client().create_table(view)
    uri = "bq://test-project.weekly.recent"
    assert sources.table_version(uri)["stable"] is False
    assert input_fingerprint(uri, pipeline_job_name="a") != input_fingerprint(uri, pipeline_job_name="b")


def test_a_missing_table_is_named(table):
    with pytest.raises(BigQueryError, match="input not found: bq://test-project.weekly.nope"):
        input_fingerprint("bq://test-project.weekly.nope")
