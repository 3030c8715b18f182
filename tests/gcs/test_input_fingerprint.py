"""A weekly schedule on gs://.../orders-*.csv: the fingerprint data_prep is cached on changes when
an object is rewritten or added (new generation, size), stays the same when nothing changed, and
the two runs' prepared data differ. Against fake-gcs-server; kfp.local has no cache, so the cache
key itself is checked on the compiled YAML (tests/compile/test_compile.py)."""

import io

import pandas as pd
from kfp import dsl
from recs_pipeline.components.data_prep import data_prep
from recs_pipeline.components.input_fingerprint import input_fingerprint
from recs_pipeline.core import storage
from recs_pipeline.data import sources


def orders(rows: range) -> bytes:
    frame = pd.DataFrame({"customer_id": [f"C{i % 7}" for i in rows], "product_id": [f"P{i % 5}" for i in rows],
                          "timestamp": [f"2025-01-{1 + i // 3600:02d}T00:{i // 60 % 60:02d}:{i % 60:02d}" for i in rows]})
    buffer = io.BytesIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue()


def prepare(tmp_path, name: str, uri: str) -> dict:
    """One run of the data_prep component body, keyed as the pipeline keys it."""
    stats = dsl.Metrics(uri=str(tmp_path / name / "data_stats"))
    prepared = dsl.Dataset(uri=str(tmp_path / name / "prepared_data"))
    data_prep(prepared, stats, input_uri=uri, input_fingerprint=input_fingerprint(uri))
    return {"stats": stats.metadata, "fingerprint": prepared.metadata["input_fingerprint"]}


def test_a_rewritten_or_added_object_changes_the_key_and_the_prepared_data(bucket, tmp_path):
    uri = f"gs://{bucket}/exports/orders-*.csv"
    storage.write_bytes(f"gs://{bucket}/exports/orders-1.csv", orders(range(300)), "text/csv")
    week1 = prepare(tmp_path, "week1", uri)
    assert input_fingerprint(uri) == week1["fingerprint"]  # nothing changed: same key, a cache hit on Vertex

    storage.write_bytes(f"gs://{bucket}/exports/orders-1.csv", orders(range(500)), "text/csv")  # the export was rewritten
    week2 = prepare(tmp_path, "week2", uri)
    assert week2["fingerprint"] != week1["fingerprint"]
    assert (week1["stats"]["rows_in"], week2["stats"]["rows_in"]) == (300.0, 500.0)

    storage.write_bytes(f"gs://{bucket}/exports/orders-2.csv", orders(range(500, 900)), "text/csv")  # a new week's file
    week3 = prepare(tmp_path, "week3", uri)
    assert len({week1["fingerprint"], week2["fingerprint"], week3["fingerprint"]}) == 3
    assert week3["stats"]["rows_in"] == 900.0


def test_the_fingerprint_is_made_of_generations_and_sizes_not_content(bucket):
    """Listing only (no download): the same bytes written again are a new generation, so a new key."""
    uri = f"gs://{bucket}/orders.csv"
    storage.write_bytes(uri, orders(range(100)), "text/csv")
    first = sources.versions(uri)
    assert [(v["name"], v["size"]) for v in first] == [(uri, len(orders(range(100))))]
    storage.write_bytes(uri, orders(range(100)), "text/csv")
    second = sources.versions(uri)
    assert second[0]["generation"] != first[0]["generation"]
    assert sources.fingerprint(uri) != sources.fingerprint("") == ""
