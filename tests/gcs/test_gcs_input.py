"""data_prep reading its input from gs:// (one object, a glob, a prefix) on the GCS emulator."""

import io

import pandas as pd
import pytest
from recs_pipeline.core import storage
from recs_pipeline.core.config import PrepConfig
from recs_pipeline.data import prepare, prepared_data
from recs_pipeline.steps import prep

PLAIN = {**PrepConfig(user_features=(), item_features=()).__dict__}


def orders(rows: range) -> bytes:
    frame = pd.DataFrame(
        {"customer_id": [f"C{i % 7}" for i in rows], "product_id": [f"P{i % 5}" for i in rows],
         "timestamp": [f"2025-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}" for i in rows]}
    )
    buffer = io.BytesIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue()


@pytest.mark.parametrize("pattern", ["one", "glob", "prefix"])
def test_gcs_inputs(bucket, tmp_path, pattern):
    storage.write_bytes(f"gs://{bucket}/exports/orders-1.csv", orders(range(300)), "text/csv")
    storage.write_bytes(f"gs://{bucket}/exports/orders-2.csv", orders(range(300, 700)), "text/csv")
    uri = {
        "one": f"gs://{bucket}/exports/orders-1.csv",
        "glob": f"gs://{bucket}/exports/orders-*.csv",
        "prefix": f"gs://{bucket}/exports",
    }[pattern]
    stats = prep.run(str(tmp_path / "out"), uri, PLAIN, {})
    assert stats["rows_in"] == (300 if pattern == "one" else 700)
    assert prepared_data.load(str(tmp_path / "out")).vocabularies["user_id"] == [f"C{i}" for i in range(7)]


def test_missing_gcs_input_is_named(bucket, tmp_path):
    with pytest.raises(prepare.DataError, match=f"input not found: gs://{bucket}/nothing-here"):
        prep.run(str(tmp_path / "out"), f"gs://{bucket}/nothing-here", PLAIN, {})
