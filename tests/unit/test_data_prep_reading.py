"""The fast CSV path of data prep gives what the general one gives: ids dictionary-encoded as they
are read, columns nobody uses left unconverted, DuckDB started only when SQL runs."""

import itertools
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from recs_pipeline.core.config import PrepConfig
from recs_pipeline.data import identifiers, prepare, prepared_data, table_reader
from recs_pipeline.steps import prep


def orders(rows: int = 240) -> pd.DataFrame:
    """Ids as a spreadsheet leaves them (17850.0 beside 17850, a zero-padded code, blanks), a column
    no setting names, and quantities for --where."""
    users = ["17850.0", "17850", "007", "7", " 12 ", "U5", ""]
    return pd.DataFrame({
        "Note": [f"n{i}" for i in range(rows)],
        "customer_id": [users[i % len(users)] for i in range(rows)],
        "product_id": [f"I{(i * 7) % 9}" for i in range(rows)],
        "timestamp": pd.date_range("2025-01-01", periods=rows, freq="h").strftime("%Y-%m-%d %H:%M:%S"),
        "Quantity": [1 + i % 4 for i in range(rows)],
    })


def prepared_both_ways(tmp_path, config: PrepConfig) -> tuple[prepared_data.PreparedData, prepared_data.PreparedData]:
    frame = orders()
    frame.to_csv(tmp_path / "orders.csv", index=False)
    prep.run(str(tmp_path / "csv"), str(tmp_path / "orders.csv"), {**config.__dict__}, {})
    prepare.prepare_frame(frame.astype({"customer_id": object}), config, str(tmp_path / "frame"), "orders.csv")
    return prepared_data.load(str(tmp_path / "csv")), prepared_data.load(str(tmp_path / "frame"))


@pytest.mark.parametrize("where", ["", "quantity > 1", '"Quantity" > 1'])
def test_the_csv_path_prepares_what_the_frame_path_does(tmp_path, where):
    config = PrepConfig(user_features=(), item_features=(), where=where)
    from_csv, from_frame = prepared_both_ways(tmp_path, config)
    assert from_csv.vocabularies == from_frame.vocabularies
    assert from_csv.vocabularies["user_id"] == ["007", "12", "17850", "7", "U5"]  # 17850.0 is 17850; 007 is not 7
    for name in prepared_data.SPLITS:
        pd.testing.assert_frame_equal(from_csv.splits[name], from_frame.splits[name])
    differ = {"source", "timestamps_read_as"}  # how the input is named, and typed by the CSV reader or as text
    assert {key: value for key, value in from_csv.stats.items() if key not in differ} == \
        {key: value for key, value in from_frame.stats.items() if key not in differ}


def test_columns_not_needed_are_not_converted_but_still_listed(tmp_path):
    orders().to_csv(tmp_path / "orders.csv", index=False)
    config = PrepConfig(user_features=(), item_features=(), where="quantity > 1")
    header = ["Note", "customer_id", "product_id", "timestamp", "Quantity"]
    assert table_reader.needed_columns(header, config) == ["customer_id", "product_id", "timestamp", "Quantity"]
    assert table_reader.needed_columns(header, PrepConfig(where="COLUMNS('Q.*') > 1")) == header
    table = table_reader.read_files([str(tmp_path / "orders.csv")], "csv", config, "orders.csv", None)
    assert table.column_names == header
    assert pa.types.is_null(table["Note"].type) and pa.types.is_dictionary(table["customer_id"].type)


def test_dictionary_chunks_encode_as_the_plain_column_does():
    values = ["b", "17850.0", None, "a", "17850", "", "b", " a "]
    plain = identifiers.encode(pa.chunked_array([values[:3], values[3:]]))
    chunks = pa.chunked_array([pa.array(values[:3]).dictionary_encode(), pa.array(values[3:]).dictionary_encode()])
    encoded = identifiers.encode(chunks)
    assert np.array_equal(encoded.codes, plain.codes) and encoded.labels.tolist() == plain.labels.tolist() == ["17850", "a", "b"]


def reference_label(value: str | None) -> str | None:
    """The id rules, one value at a time: trimmed, blank is missing, 17850.0 is 17850."""
    text = None if value is None else value.strip()
    if text and re.fullmatch(r"-?[0-9]+\.0+", text):
        text = text.split(".")[0]
    return text or None


def dictionary_chunk(piece: list[str | None], dictionary: list[str | None], null_entry: bool) -> pa.DictionaryArray:
    """`piece` as indices into `dictionary`; a None is a null index, or with `null_entry`, an index to a null entry."""
    entries = [*dictionary, None] if null_entry else dictionary
    indices = [entries.index(value) if value is not None or null_entry else None for value in piece]
    return pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), pa.array(entries, pa.string()))


@pytest.mark.parametrize("seed", range(4))
def test_many_chunks_each_with_its_own_dictionary_encode_by_the_id_rules(seed):
    """As the CSV reader gives a large file: one dictionary per block, each listing only that
    block's values; here also null entries, blocks sharing one dictionary, and an empty block whose
    dictionary lists a value no row has (a label all the same, as any unused entry is)."""
    rng = np.random.default_rng(seed)
    pool = ["17850.0", "17850", "007", "7", " 12 ", "12.00", "U5", "", " ", None, *(f"C{i}" for i in range(40))]
    values = [pool[i] for i in rng.integers(0, len(pool), 3000)]
    cuts = [0, *sorted(rng.choice(np.arange(1, len(values)), 24, replace=False).tolist()), len(values)]
    pieces = [values[start:stop] for start, stop in itertools.pairwise(cuts)]
    pieces.insert(3, [])
    chunks = [dictionary_chunk(piece, sorted({value for value in piece if value is not None}), null_entry=number % 2 == 0)
              for number, piece in enumerate(pieces)]
    shared = sorted({value for value in pieces[5] + pieces[6] if value is not None})
    chunks[5], chunks[6] = (dictionary_chunk(pieces[number], shared, null_entry=False) for number in (5, 6))
    chunks[6] = pa.DictionaryArray.from_arrays(chunks[6].indices, chunks[5].dictionary)  # the very same dictionary
    chunks[3] = dictionary_chunk([], [" Z9 "], null_entry=False)
    encoded = identifiers.encode(pa.chunked_array(chunks))
    labels = sorted({label for chunk in chunks for value in chunk.dictionary.to_pylist() if (label := reference_label(value)) is not None})
    assert "Z9" in labels and "Z9" not in {reference_label(value) for value in values}
    expected = [identifiers.MISSING if reference_label(value) is None else labels.index(reference_label(value)) for value in values]
    assert encoded.labels.tolist() == labels
    assert encoded.codes.tolist() == expected
    assert encoded.complete is False and identifiers.MISSING in expected
    valid = [[value for value in piece if reference_label(value)] for piece in pieces]
    complete = identifiers.encode(pa.chunked_array([dictionary_chunk(piece, sorted(set(piece)), null_entry=False) for piece in valid]))
    assert complete.complete is True and (complete.codes >= 0).all()


@pytest.mark.parametrize("values, complete", [
    (["b", "17850.0", "a"], True),
    (["b", None, "a"], False),  # a null row
    (["b", "", "a"], False),  # a blank: no id
    (["b", " ", "a"], False),  # blank once trimmed
])
def test_a_column_is_complete_only_when_no_row_is_missing(values, complete):
    for column in (pa.chunked_array([values[:1], values[1:]]), pa.chunked_array([pa.array(values).dictionary_encode()])):
        encoded = identifiers.encode(column)
        assert encoded.complete is complete
        assert bool((encoded.codes != identifiers.MISSING).all()) is complete


def test_a_plain_csv_needs_no_duckdb(tmp_path):
    orders().to_csv(tmp_path / "orders.csv", index=False)
    code = ("import sys; from recs_pipeline.steps import prep; "
            f"prep.run({str(tmp_path / 'out')!r}, {str(tmp_path / 'orders.csv')!r}, {{'user_features': '', 'item_features': ''}}, {{}}); "
            "print('duckdb' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip().endswith("False")
