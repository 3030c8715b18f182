"""Numeric features (a price, a quantity, a company's size) as buckets the towers embed like a category.

Buckets are quantiles of the training rows' values, so a long-tailed price spreads over every
bucket instead of a few outliers setting the scale (what normalising by mean and deviation does);
a value outside the training range falls in the first or last bucket. Bucket 0 is a missing value.
The buckets then travel as one more categorical feature: one code per row, labels that say the range.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recs_pipeline.core.errors import DataError
from recs_pipeline.data.identifiers import MISSING, EncodedColumn

BUCKETS = 10
FRACTIONS = np.linspace(0, 1, BUCKETS + 1)[1:-1]  # the quantiles that are bucket edges


def parse(column: pa.ChunkedArray, name: str, source: str) -> np.ndarray:
    """float64 per row, NaN where the value is missing (null or blank); a value that is not a
    number stops data prep naming the column, row and value."""
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_decimal(column.type):
        return column.cast(pa.float64()).to_numpy().astype(np.float64, copy=False)
    text = pc.utf8_trim_whitespace(column.cast(pa.string()))
    blank = pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)
    try:
        values = pc.cast(pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text), pa.float64())
        return values.to_numpy().astype(np.float64, copy=False)
    except pa.ArrowInvalid:
        parsed = pd.to_numeric(pd.Series(text.to_numpy(zero_copy_only=False)), errors="coerce").to_numpy(np.float64)
        bad = np.flatnonzero(np.isnan(parsed) & ~blank)
        row = int(bad[0])
        raise not_a_number(source, name, text[row].as_py(), len(bad), row) from None


def edge_positions(count: int) -> np.ndarray:
    """The positions, in the sorted order of `count` training values, whose values set the bucket
    edges: an engine that cannot hold the values (BigQuery) looks up only these."""
    below = np.floor((count - 1) * FRACTIONS).astype(np.int64)
    return np.unique(np.concatenate([below, np.minimum(below + 1, count - 1)])) if count else np.zeros(0, np.int64)


def edges(count: int, values_at: dict[int, float]) -> np.ndarray:
    """The distinct bucket edges: each of FRACTIONS' quantiles of `count` values, interpolated
    linearly between the sorted values around it (numpy's default quantile), from `values_at`
    (position -> value, at edge_positions), so both engines compute the same edges."""
    if not count:
        return np.zeros(0)
    virtual = (count - 1) * FRACTIONS
    below = np.floor(virtual).astype(np.int64)
    low = np.array([values_at[int(p)] for p in below], np.float64)
    high = np.array([values_at[int(p)] for p in np.minimum(below + 1, count - 1)], np.float64)
    weight, step = virtual - below, high - low
    return np.unique(np.where(weight >= 0.5, high - step * (1 - weight), low + step * weight))  # numpy's own rounding


def training_edges(train_values: np.ndarray) -> np.ndarray:
    """The bucket edges of the finite training values (none without such values)."""
    known = train_values[np.isfinite(train_values)]
    positions = edge_positions(len(known))
    sorted_at = np.partition(known, positions)[positions] if len(known) else np.zeros(0)
    return edges(len(known), dict(zip(positions.tolist(), sorted_at.tolist(), strict=True)))


def codes(values: np.ndarray, bucket_edges: np.ndarray) -> np.ndarray:
    """Each value's bucket, 0..len(edges) (MISSING where the value is missing)."""
    found = np.searchsorted(bucket_edges, values, side="right").astype(np.int32)
    found[~np.isfinite(values)] = MISSING
    return found


def labels(bucket_edges: np.ndarray) -> list[str]:
    """One label per bucket that says its range: "< 1.5", "1.5 to 3", ">= 9" ("any" without edges);
    6 significant digits, more where two edges would read the same (labels name buckets: each once)."""
    if not len(bucket_edges):
        return ["any"]
    for digits in (6, 10, 17):  # distinct float64 edges always differ at 17
        bounds = [f"{edge:.{digits}g}" for edge in bucket_edges]
        if len(set(bounds)) == len(bounds):
            break
    return [f"< {bounds[0]}", *(f"{low} to {high}" for low, high in itertools.pairwise(bounds)), f">= {bounds[-1]}"]


def bucketise(values: np.ndarray, train_values: np.ndarray) -> tuple[EncodedColumn, np.ndarray]:
    """Codes 0..n-1 by the quantile edges of the training values (MISSING where the value is
    missing) with one label per bucket, and the edges, which the model keeps to bucketise a new
    customer's or product's value as training did."""
    bucket_edges = training_edges(train_values)
    return EncodedColumn(codes(values, bucket_edges), np.array(labels(bucket_edges), dtype=object)), bucket_edges


def not_a_number(source: str, name: str, value: str, count: int, row: int | None = None) -> DataError:
    """The error for a numeric feature's value that is not a number (`row`: 0-based, where known)."""
    where = f", row {row + 1}" if row is not None else ""
    return DataError(f"{source}: column {name!r}{where}: {value!r} is not a number ({count:,} such row(s)); "
                     "a numeric feature needs numbers, or leave the value empty")
