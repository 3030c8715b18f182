"""Id columns as integer codes over normalised string labels, worked out once per distinct value.

Ids are strings; an integer-like float ("17850.0", or 17850.0 in a numeric column, as a
spreadsheet export leaves customer numbers) is the same id as the integer; blanks, NaN and nulls
are missing. A column is hash-encoded once (pyarrow), and the rules run on its distinct values
only, so a 10M-row column with 200k customers costs one hash pass, not 10M string edits; a
column that arrives dictionary-encoded (the CSV reader encodes ids while it reads) is not hashed
again: its chunks' dictionaries are merged and its indices remapped.
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
    encoded = _dictionary_encoded(column)
    dictionary = encoded.chunk(0).dictionary  # one dictionary shared by all chunks
    texts = id_texts(dictionary) if normalise_ids else feature_texts(dictionary)
    # Distinct raw values may share a label ("17850" and "17850.0"): merge them, then sort.
    merged = pc.dictionary_encode(texts)
    unique = merged.dictionary
    order = pc.array_sort_indices(unique).to_numpy()
    rank = np.empty(len(order), np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    labels = unique.take(pa.array(order)).to_numpy(zero_copy_only=False).astype(object)
    merged_index = merged.indices.fill_null(MISSING).to_numpy().astype(np.int32, copy=False)
    # raw dictionary index -> label code; its last slot (index MISSING = -1) is a null row's.
    remap = np.append(np.where(merged_index == MISSING, MISSING, rank[np.maximum(merged_index, 0)] if len(rank) else MISSING),
                      MISSING).astype(np.intp)
    nulls = any(chunk.indices.null_count for chunk in encoded.chunks)
    return EncodedColumn(_row_codes(encoded, remap), labels, complete=not nulls and bool((remap[:-1] != MISSING).all()))


def _dictionary_encoded(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """The column as dictionary chunks sharing one dictionary. Already dictionary-encoded: only
    the chunks' small dictionaries are hashed (unify), not every row again."""
    return column.unify_dictionaries() if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)


def _row_codes(encoded: pa.ChunkedArray, remap: np.ndarray) -> np.ndarray:
    """Each row's code, remap[dictionary index] (a null row reads remap's last slot, MISSING):
    one gather per chunk straight into the result, the 10M-row path."""
    out = np.empty(len(encoded), np.intp)
    position = 0
    for chunk in encoded.chunks:
        indices = chunk.indices
        length = len(indices)
        if indices.null_count:
            indices = indices.fill_null(MISSING)
        # mode wrap: index -1 reads the last slot (and an unbuffered output, unlike mode raise)
        np.take(remap, indices.to_numpy(zero_copy_only=False), out=out[position:position + length], mode="wrap")
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
