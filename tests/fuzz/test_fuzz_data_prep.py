"""Random CSV and Parquet content into data prep: a result or a clear DataError, nothing else.

"Nothing else" means no other exception type (a traceback for the user), no hang (each example
has a deadline) and no empty model (a result always has two or more users and items in train
and non-empty validation and test splits).
"""

import csv
import io
import math
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recs_pipeline.data import prepare, prepared_data
from recs_pipeline.steps import prep

COLUMN_NAMES = ["customer_id", "product_id", "timestamp", "quantity", "segment", "category", "", "Kundennummer", "商品", "customer_id"]
FUZZ = settings(max_examples=60, deadline=timedelta(seconds=20), suppress_health_check=[HealthCheck.too_slow], derandomize=True)

ids = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["17850", "17850.0", "1.7850e4", " 42 ", "NaN", "null", "", "0x1F"]),
    st.text(min_size=0, max_size=12),
    st.sampled_from(["C1", "C2", "C3", "P1", "P2", "P3"]),  # repeats, so some inputs are trainable
)
timestamps = st.one_of(
    st.datetimes(min_value=pd.Timestamp("1990-01-01").to_pydatetime(), max_value=pd.Timestamp("2100-01-01").to_pydatetime()).map(str),
    st.sampled_from(["", "NaN", "NaT", "2025-13-45", "31/12/2024", "yesterday", "2025-01-01T00:00:00Z", "1700000000"]),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)
cells = st.one_of(ids, timestamps, st.floats(allow_nan=True, allow_infinity=True).map(str))


def check_outcome(path: Path, settings_: dict) -> None:
    with tempfile.TemporaryDirectory() as out:
        try:
            prep.run(out, str(path), settings_, {})
        except prepare.DataError as error:
            message = str(error)
            assert message and "Traceback" not in message
            assert path.name in message or str(path.parent) in message, message
            return
        prepared = prepared_data.load(out)
        assert len(prepared.users) >= 2 and len(prepared.items) >= 2
        for split in prepared_data.SPLITS:
            assert len(prepared.splits[split]) > 0, split
        assert prepared.splits["train"]["user_idx"].max() < len(prepared.users)


settings_choices = st.sampled_from([
    {"user_features": "", "item_features": ""},
    {"user_features": "segment", "item_features": "category"},
    {"user_features": "", "item_features": "", "timestamp_column": "", "split": "random"},
    {"user_features": "", "item_features": "", "dedupe": True, "where": "quantity > 0"},
])


@st.composite
def purchase_tables(draw) -> list[list[str]]:
    """A plausible purchase table (header + rows) with random damage: unicode and huge ids, bad or
    missing timestamps, empty cells, a renamed or duplicated header. Some come out trainable."""
    users = draw(st.lists(ids, min_size=1, max_size=8, unique=True))
    items = draw(st.lists(ids, min_size=1, max_size=8, unique=True))
    start = pd.Timestamp("2024-01-01").to_pydatetime()
    header = ["customer_id", "product_id", "timestamp", "quantity", "segment", "category"]
    rows = [
        [draw(st.sampled_from(users)), draw(st.sampled_from(items)), str(start + timedelta(hours=draw(st.integers(0, 24 * 365)))),
         str(draw(st.integers(-2, 5))), draw(st.sampled_from(["smb", "enterprise", ""])), draw(st.sampled_from(["a", "b", "ü"]))]
        for _ in range(draw(st.integers(0, 150)))
    ]
    for _ in range(draw(st.integers(0, 4))):  # damaged cells
        if rows:
            rows[draw(st.integers(0, len(rows) - 1))][draw(st.integers(0, len(header) - 1))] = draw(cells)
    if draw(st.integers(0, 5)) == 0:  # a header renamed, or duplicated
        header[draw(st.integers(0, len(header) - 1))] = draw(st.sampled_from(COLUMN_NAMES))
    return [header, *rows]


@FUZZ
@given(table=purchase_tables(), delimiter=st.sampled_from([",", ";", "\t", "|"]), settings_=settings_choices)
def test_damaged_purchase_csv_gives_a_result_or_a_clear_error(table, delimiter, settings_):
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(table)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8")
        check_outcome(path, settings_)


@FUZZ
@given(
    header=st.lists(st.sampled_from(COLUMN_NAMES), min_size=1, max_size=6),
    rows=st.lists(st.lists(cells, min_size=0, max_size=7), min_size=0, max_size=40),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    settings_=settings_choices,
)
def test_random_csv_gives_a_result_or_a_clear_error(header, rows, delimiter, settings_):
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8")
        check_outcome(path, settings_)


@FUZZ
@given(raw=st.binary(max_size=400), settings_=settings_choices)
def test_random_bytes_as_csv_give_a_clear_error(raw, settings_):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.csv"
        path.write_bytes(b"customer_id,product_id,timestamp\n" + raw)
        check_outcome(path, settings_)


def column(kind: str, values: list, n: int):
    if kind == "int":
        return pd.array([v if isinstance(v, int) and abs(v) < 2**62 else None for v in values[:n]] + [None] * (n - len(values)),
                        dtype="Int64")
    if kind == "float":
        return np.array([float(v) if isinstance(v, (int, float)) else math.nan for v in values[:n]] + [math.nan] * (n - len(values)))
    if kind == "null":
        return pd.array([None] * n, dtype="string")
    if kind == "bool":
        return np.array([bool(v) for v in values[:n]] + [False] * (n - len(values)))
    if kind == "datetime":
        return pd.to_datetime(pd.Series(np.arange(n, dtype=np.int64)), unit="D", origin="2024-01-01")
    return pd.array([None if v is None else str(v) for v in values[:n]] + [None] * (n - len(values)), dtype="string")


@FUZZ
@given(
    kinds=st.fixed_dictionaries({
        name: st.sampled_from(["string", "int", "float", "null", "bool", "datetime"])
        for name in ("customer_id", "product_id", "timestamp")
    }),
    values=st.lists(st.one_of(st.none(), st.integers(), st.floats(), ids), min_size=0, max_size=60),
    rows=st.integers(min_value=0, max_value=60),
    settings_=settings_choices,
)
def test_random_parquet_gives_a_result_or_a_clear_error(kinds, values, rows, settings_):
    frame = pd.DataFrame({name: column(kind, values, rows) for name, kind in kinds.items()})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orders.parquet"
        frame.to_parquet(path)
        check_outcome(path, settings_)
