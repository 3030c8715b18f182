"""A new customer's or product's raw feature values as the towers' indices, as data prep made them.

A categorical value is its position in the training vocabulary (0: empty, or not seen in
training); a number falls in the training buckets (data.numeric_features) and takes that bucket's
index (0: missing, or a bucket no training row filled). model_info.json keeps each feature's
vocabulary and bucket edges, so the served model and a product table are encoded without the
prepared data. NumPy (a product table) and TensorFlow (the served `new_customer` signature) side
by side, so they stay one mapping.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recs_pipeline.core.errors import DataError
from recs_pipeline.core.tf_runtime import tf
from recs_pipeline.data import numeric_features
from recs_pipeline.data.identifiers import MISSING
from recs_pipeline.data.prepared_data import BUCKET_EDGES, NUMERIC_FEATURES

NUMERIC, CATEGORICAL = "numeric", "categorical"


@dataclass(frozen=True)
class Encoding:
    """One feature's training vocabulary (index i's value; 0 is empty or unseen) and, for a number,
    its bucket edges (None where the data was prepared before edges were kept)."""

    values: tuple[str, ...]
    numeric: bool = False
    edges: tuple[float, ...] | None = None

    @property
    def usable(self) -> bool:
        """A value can be encoded: a category, or a number with its edges."""
        return not self.numeric or self.edges is not None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": NUMERIC if self.numeric else CATEGORICAL, "values": list(self.values),
                "edges": None if self.edges is None else list(self.edges)}

    def bucket_indices(self) -> np.ndarray:
        """(buckets,) int32: each training bucket's index in the vocabulary (0: no training row in it)."""
        position = {value: index for index, value in enumerate(self.values)}
        return np.array([position.get(label, 0) for label in numeric_features.labels(np.asarray(self.edges, np.float64))], np.int32)


def from_vocabularies(vocabularies: dict[str, Any], kind: str) -> dict[str, Encoding]:
    """Every feature of `kind` ("user" or "item") from the prepared vocabularies."""
    numeric = set(vocabularies.get(NUMERIC_FEATURES, []))
    edges = vocabularies.get(BUCKET_EDGES, {})
    return {name: Encoding(tuple(values), name in numeric, tuple(edges[name]) if name in edges else None)
            for name, values in vocabularies[f"{kind}_features"].items()}


def from_dict(saved: dict[str, dict[str, Any]]) -> dict[str, Encoding]:
    """The encodings model_info.json holds (as_dict per feature)."""
    return {name: Encoding(tuple(entry["values"]), entry["kind"] == NUMERIC, None if entry["edges"] is None else tuple(entry["edges"]))
            for name, entry in saved.items()}


def tower_features(inputs: Sequence[str], id_input: str) -> list[str]:
    """The features a tower reads, by name, from its input names (`<feature>_idx`)."""
    return [name.removesuffix("_idx") for name in inputs if name.endswith("_idx") and name != id_input]


def require_usable(name: str, encoding: Encoding) -> None:
    if not encoding.usable:
        raise DataError(f"numeric feature {name!r}: this model's data was prepared before bucket edges were kept; "
                        "prepare the data and train again to encode new values")


# --- NumPy: a column of a table (a product table).


def indices(encoding: Encoding, texts: Sequence[str], column: str, source: str) -> np.ndarray:
    """(rows,) int32 indices of one column's text values; a number that is not one stops, naming the row and value."""
    require_usable(column, encoding)
    texts = [str(text) for text in texts]
    if not encoding.numeric:
        position = {value: index for index, value in enumerate(encoding.values)}
        return np.array([position.get(text, 0) if text else 0 for text in texts], np.int32)
    stripped = pd.Series(texts, dtype=object).str.strip()
    numbers = pd.to_numeric(stripped, errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(np.isnan(numbers) & (stripped != "").to_numpy())
    if len(bad):
        row = int(bad[0])
        raise DataError(f"{source}: column {column!r}, row {row + 1}: {texts[row]!r} is not a number "
                        f"({len(bad):,} such row(s)); a numeric feature needs numbers, or leave the value empty")
    codes = numeric_features.codes(numbers, np.asarray(encoding.edges, np.float64))
    return np.where(codes == MISSING, 0, encoding.bucket_indices()[np.maximum(codes, 0)]).astype(np.int32)


# --- TensorFlow: the served signature's string inputs.


class Lookup(tf.Module):
    """One feature's text values to indices in the graph: a hash table of the vocabulary (default 0),
    or the bucket edges and each bucket's index. A value that is not a number fails the request."""

    def __init__(self, encoding: Encoding, name: str):
        super().__init__(name=input_name(name))
        require_usable(name, encoding)
        self.numeric = encoding.numeric
        if self.numeric:
            self.edges = tf.constant(np.asarray(encoding.edges, np.float64).reshape(1, -1))
            self.bucket_index = tf.constant(encoding.bucket_indices())
        else:
            known = list(encoding.values[1:])  # index 0, the empty value, is the default
            self.table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(tf.constant(known, tf.string), tf.range(1, len(known) + 1, dtype=tf.int32)),
                default_value=0,
            )

    def __call__(self, texts: tf.Tensor) -> tf.Tensor:
        if not self.numeric:
            return self.table.lookup(texts)
        stripped = tf.strings.strip(texts)
        blank = tf.equal(stripped, "")
        numbers = tf.strings.to_number(tf.where(blank, tf.constant("nan"), stripped), tf.float64)
        codes = tf.searchsorted(self.edges, numbers[None, :], side="right")[0]
        return tf.where(tf.math.is_finite(numbers), tf.gather(self.bucket_index, codes), 0)


def input_name(feature: str) -> str:
    """The signature input for a feature: its name, with characters a TensorFlow name may not hold as `_`."""
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", feature)
    return name if re.match(r"[A-Za-z0-9.]", name) else f"f{name}"
