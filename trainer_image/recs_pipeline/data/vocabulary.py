"""The vocabularies of prepared data: every customer and product, and each feature's values and words.

Customers and products seen in training come first (the towers' id embeddings cover those; a later
one is embedded from its features alone, model.towers), each part sorted by text; a feature's
values are those seen in training, sorted by text (numeric buckets in their order), index 0 for an
empty or unseen value. All of it from per-split counts of the codes, not from the rows again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from recs_pipeline.core.config import PrepConfig
from recs_pipeline.core.errors import DataError
from recs_pipeline.data import text_features
from recs_pipeline.data.identifiers import MISSING, EncodedColumn
from recs_pipeline.data.kept_rows import Rows
from recs_pipeline.data.prepared_data import KNOWN_ITEMS, KNOWN_USERS, NUMERIC_FEATURES, TEXT_FEATURES
from recs_pipeline.data.splits import TRAIN, SplitRows


@dataclass(frozen=True)
class IndexMaps:
    """Code -> index for users and items (those seen in training first: indices below
    known_users / known_items); code -> feature index (0: empty or unseen in training) per feature."""

    users: np.ndarray
    items: np.ndarray
    features: dict[str, np.ndarray]
    known_users: int
    known_items: int
    user_codes: np.ndarray  # index -> code, the inverse of `users`
    item_codes: np.ndarray

    def feature_indices(self, name: str, codes: np.ndarray) -> np.ndarray:
        return self.features[name][codes]  # MISSING (-1) reads the last slot, 0


def index_map(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """From (split, code) row counts: every code present, those in training first, each part in
    code (= label) order; the code -> index map; and how many were in training."""
    size = counts.shape[1]
    if not size:
        return np.zeros(0, np.int64), np.zeros(0, np.int32), 0
    trained = counts[TRAIN] > 0
    present = counts.any(axis=0)
    order = np.concatenate([np.flatnonzero(trained), np.flatnonzero(present & ~trained)])
    mapping = np.full(size, MISSING, np.int32)
    mapping[order] = np.arange(len(order), dtype=np.int32)
    return order, mapping, int(trained.sum())


def build(train_features: dict[str, np.ndarray], user_counts: np.ndarray, item_counts: np.ndarray, users: EncodedColumn,
          items: EncodedColumn, features: dict[str, EncodedColumn], config: PrepConfig, source: str) -> tuple[dict[str, Any], IndexMaps]:
    """Every user and item, those seen in training first (each part sorted by text); feature values
    seen in training, sorted by text (numeric buckets in their order). `train_features`: each
    feature's codes on the training rows."""
    user_codes, user_map, known_users = index_map(user_counts)
    item_codes, item_map, known_items = index_map(item_counts)
    if known_users < 2 or known_items < 2:
        raise DataError(f"{source}: training split has {known_users} user(s) and {known_items} item(s); "
                        "a retrieval model needs at least 2 of each")
    feature_vocabularies, feature_maps = {}, {}
    for name, column in features.items():
        if column.complete:  # no MISSING code: counted as they are
            seen = np.flatnonzero(np.bincount(train_features[name], minlength=len(column.labels)))
        else:  # shifted by one so MISSING (-1) counts in slot 0, which is then dropped: no filtered copy
            seen = np.flatnonzero(np.bincount(train_features[name] + 1, minlength=len(column.labels) + 1)[1:] > 0)
        seen = seen[column.labels[seen] != ""]
        mapping = np.zeros(len(column.labels) + 1, np.int32)  # the last slot: MISSING
        mapping[seen] = np.arange(1, len(seen) + 1, dtype=np.int32)  # index 0: empty or unseen
        feature_vocabularies[name] = ["", *column.labels[seen].tolist()]
        feature_maps[name] = mapping
    vocabularies = {
        "user_id": users.labels[user_codes].tolist(),
        "item_id": items.labels[item_codes].tolist(),
        KNOWN_USERS: known_users,
        KNOWN_ITEMS: known_items,
        NUMERIC_FEATURES: [*config.user_numeric_features, *config.item_numeric_features],
        "user_features": {name: feature_vocabularies[name] for name in config.indexed_features("user")},
        "item_features": {name: feature_vocabularies[name] for name in config.indexed_features("item")},
    }
    return vocabularies, IndexMaps(user_map, item_map, feature_maps, known_users, known_items, user_codes, item_codes)


def text_vocabularies(rows: Rows, parts: SplitRows, texts: dict[str, EncodedColumn], config: PrepConfig,
                      vocabularies: dict[str, Any]) -> dict[str, np.ndarray]:
    """Each text feature's words from its training texts (into `vocabularies`), and its token matrix: row c holds the
    words of distinct text c (data.text_features)."""
    matrices = {}
    for kind, names in (("user", config.user_text_features), ("item", config.item_text_features)):
        vocabularies[TEXT_FEATURES[kind]] = {}
        for name in names:
            codes = parts.take(rows.texts[name], TRAIN)
            words = text_features.vocabulary(texts[name].labels[np.unique(codes[codes != MISSING])])
            vocabularies[TEXT_FEATURES[kind]][name] = words
            # The last row, for MISSING (-1): no words.
            matrices[name] = np.vstack([text_features.token_matrix(texts[name].labels, words), np.zeros((1, text_features.TOKENS),
                                                                                                         np.int32)])
    return matrices
