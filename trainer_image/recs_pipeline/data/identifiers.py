"""Id columns as integer codes over normalised string labels, worked out once per distinct value.

Ids are strings; an integer-like float ("17850.0", or 17850.0 in a numeric column, as a
spreadsheet export leaves customer numbers) is the same id as the integer; blanks, NaN and nulls
are missing. A column is hash-encoded once (pyarrow), and the rules run on its distinct values
only, so a 10M-row column with 200k customers costs one hash pass, not 10M string edits; a
column that arrives dictionary-encoded (the CSV reader encodes ids while it reads) is not hashed
again: its chunks' dictionaries are merged, and each chunk's indices read through its own map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MISSING = -1
INTEGER_LIKE = r"^(-?[0-9]+)\.0+$"


@dataclass(frozen=True)
class EncodedColumn:
    """codes[row] indexes labels (sorted, so code order is label order); MISSING where the row has no usable value."""

    codes: np.ndarray  # intp, NumPy's index type: used as an index (bincount, gathers) without a converted copy each time
    labels: np.ndarray  # object array of str, each distinct (a dictionary column's unused entries included: no row's code)
    complete: bool = False  # True: no row is MISSING, known from the dictionary without a pass over the rows (False: not known)


def encode(column: pa.ChunkedArray | pa.Array, normalise_ids: bool = True) -> EncodedColumn:
    """Codes and labels of a column; `normalise_ids` applies the id rules (features keep their text)."""
    if isinstance(column, pa.Array):
        column = pa.chunked_array([column])
    if len(column) == 0:
        return EncodedColumn(np.zeros(0, np.intp), np.array([], dtype=object))
    chunks = _dictionary_chunks(column)
    entries, starts = _dictionary_entries(chunks)
    # Each chunk's dictionary lists its own distinct values (the CSV reader encodes block by block):
    # those are hashed once more into the distinct values of the column, and the rules run on these.
    distinct = pc.dictionary_encode(entries)
    texts = id_texts(distinct.dictionary) if normalise_ids else feature_texts(distinct.dictionary)
    # Distinct raw values may share a label ("17850" and "17850.0"): merge them, then sort.
    merged = pc.dictionary_encode(texts)
    unique = merged.dictionary
    order = pc.array_sort_indices(unique).to_numpy()
    rank = np.empty(len(order) + 1, np.intp)  # its last slot, read by index MISSING (-1): MISSING
    rank[order] = np.arange(len(order))
    rank[-1] = MISSING
    labels = unique.take(pa.array(order)).to_numpy(zero_copy_only=False).astype(object)
    # dictionary entry -> label code, by way of its distinct value and that value's label (a null on either way: MISSING)
    label_of_value = np.append(np.take(rank, _codes(merged.indices), mode="wrap"), MISSING)
    label_of_entry = np.take(label_of_value, _codes(distinct.indices), mode="wrap")
    nulls = any(chunk.indices.null_count for chunk in chunks)
    return EncodedColumn(_row_codes(chunks, starts, label_of_entry), labels, complete=not nulls and bool((label_of_entry != MISSING).all()))


def _dictionary_chunks(column: pa.ChunkedArray) -> list[pa.DictionaryArray]:
    """The column's chunks as dictionary arrays: as they are when the reader encoded them, else
    hash-encoded here (its chunks then share one dictionary)."""
    return (column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)).chunks


def _dictionary_entries(chunks: list[pa.DictionaryArray]) -> tuple[pa.Array, list[int]]:
    """Every chunk's dictionary end to end (one shared by consecutive chunks once), and where each
    chunk's dictionary starts in it."""
    dictionaries: list[pa.Array] = []
    starts: list[int] = []
    size = 0
    for chunk in chunks:
        if not dictionaries or not chunk.dictionary.equals(dictionaries[-1]):
            dictionaries.append(chunk.dictionary)
            size += len(chunk.dictionary)
        starts.append(size - len(dictionaries[-1]))
    return (pa.concat_arrays(dictionaries) if len(dictionaries) > 1 else dictionaries[0]), starts


def _codes(indices: pa.Array) -> np.ndarray:
    """Dictionary indices as NumPy, MISSING (-1) where null."""
    if indices.null_count:
        indices = indices.fill_null(MISSING)
    return indices.to_numpy(zero_copy_only=False)


def _row_codes(chunks: list[pa.DictionaryArray], starts: list[int], label_of_entry: np.ndarray) -> np.ndarray:
    """Each row's label code: its chunk's slice of `label_of_entry` at its dictionary index (a null
    row reads the slice's appended MISSING). One gather per chunk straight into the result, the
    10M-row path; the chunks' indices are not rewritten to one dictionary first."""
    out = np.empty(sum(len(chunk) for chunk in chunks), np.intp)
    position, entries, table = 0, None, label_of_entry
    for chunk, start in zip(chunks, starts, strict=True):
        if (start, len(chunk.dictionary)) != entries:  # chunks sharing a dictionary share its map
            entries = (start, len(chunk.dictionary))
            table = np.append(label_of_entry[start:start + len(chunk.dictionary)], MISSING)
        length = len(chunk)
        # mode wrap: index -1 reads the last slot (and an unbuffered output, unlike mode raise)
        np.take(table, _codes(chunk.indices), out=out[position:position + length], mode="wrap")
        position += length
    return out


def id_texts(values: pa.Array) -> pa.Array:
    """The normalised id of each distinct value (null: missing)."""
    kind = values.type
    if pa.types.is_integer(kind):
        return values.cast(pa.string())
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return pa.array([_number_text(v) for v in values.to_pylist()], pa.string())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = pc.utf8_trim_whitespace(values.cast(pa.string()))
        text = pc.replace_substring_regex(text, pattern=INTEGER_LIKE, replacement=r"\1")
        return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    return pa.array([None if v is None else (str(v).strip() or None) for v in values.to_pylist()], pa.string())


def feature_texts(values: pa.Array) -> pa.Array:
    """A feature's distinct values as text; missing stays missing."""
    if pa.types.is_string(values.type):
        return values
    if pa.types.is_large_string(values.type):
        return values.cast(pa.string())
    return pa.array([None if v is None else str(v) for v in values.to_pylist()], pa.string())


def _number_text(value) -> str | None:
    if value is None:
        return None
    number = float(value)
    if math.isnan(number):
        return None
    if math.isfinite(number) and number == math.trunc(number) and abs(number) < 1e15:
        return str(int(number))
    return str(value)
