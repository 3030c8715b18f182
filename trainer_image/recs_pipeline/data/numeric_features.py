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
        raise DataError(f"{source}: column {name!r}, row {row + 1}: {text[row].as_py()!r} is not a number "
                        f"({len(bad):,} such row(s)); a numeric feature needs numbers, or leave the value empty") from None


def edges(values: np.ndarray, train: np.ndarray) -> np.ndarray:
    """The bucket edges: quantiles of the finite values where `train` is True (none without such values)."""
    known = values[train & np.isfinite(values)]
    return np.unique(np.quantile(known, np.linspace(0, 1, BUCKETS + 1)[1:-1])) if len(known) else np.zeros(0)


def codes(values: np.ndarray, bucket_edges: np.ndarray) -> np.ndarray:
    """Each value's bucket, 0..len(edges) (MISSING where the value is missing)."""
    found = np.searchsorted(bucket_edges, values, side="right").astype(np.int32)
    found[~np.isfinite(values)] = MISSING
    return found


def labels(bucket_edges: np.ndarray) -> list[str]:
    """One label per bucket that says its range."""
    bounds = [f"{edge:.6g}" for edge in bucket_edges]
    if not bounds:
        return ["any"]
    return [f"< {bounds[0]}", *(f"{low} to {high}" for low, high in itertools.pairwise(bounds)), f">= {bounds[-1]}"]


def bucketise(values: np.ndarray, train: np.ndarray) -> tuple[EncodedColumn, np.ndarray]:
    """Codes 0..n-1 by the quantile edges of the training values (MISSING where the value is
    missing) with one label per bucket, and the edges, which the model keeps to bucketise a new
    customer's or product's value as training did."""
    bucket_edges = edges(values, train)
    return EncodedColumn(codes(values, bucket_edges), np.array(labels(bucket_edges), dtype=object)), bucket_edges
