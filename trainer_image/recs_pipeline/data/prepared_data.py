"""The prepared-data folder: train/val/test Parquet, the user and item tables, vocabularies and stats.

The data_prep step writes it (data/prepare.py, with the names here); train and evaluate read it
back with `load`. One module names every file, so no step needs another step to find them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from recs_pipeline.core.errors import DataError

SPLITS = ("train", "val", "test")
STATS_FILE = "data_stats.json"
VOCAB_FILE = "vocabularies.json"
# vocabularies.json: how many of the listed customers and products come first as the ones seen in
# training (the towers' id embeddings); the rest first bought later, known by their features only.
KNOWN_USERS = "users_in_training"
KNOWN_ITEMS = "items_in_training"
NUMERIC_FEATURES = "numeric_features"  # vocabularies.json: the features that are bucketised numbers, not categories
BUCKET_EDGES = "bucket_edges"  # vocabularies.json: each numeric feature's bucket edges, to bucketise a value as training did
# vocabularies.json: {feature: its words} of the customers' and the products' text features (data.text_features);
# the entity tables hold each one's words as `<feature>_tokens`, the splits nothing.
TEXT_FEATURES = {"user": "user_text_features", "item": "item_text_features"}
TOKENS_SUFFIX = "_tokens"


def new_rows_stats(split: str, new_customer: int, new_product: int) -> dict[str, int]:
    """The data stats of a validation or test split's rows by customers, or of products, with no
    purchase before that split (the cold-start rows evaluation scores as their own segments)."""
    return {f"{split}_rows_new_customer": new_customer, f"{split}_rows_new_product": new_product}


@dataclass(frozen=True)
class PreparedData:
    """What train and evaluate read back from the prepared folder."""

    splits: dict[str, pd.DataFrame]
    users: pd.DataFrame  # user_idx, user_id, <feature>_idx per user feature
    items: pd.DataFrame  # item_idx, item_id, <feature>_idx per item feature
    vocabularies: dict[str, Any]
    stats: dict[str, Any]

    @property
    def user_features(self) -> list[str]:
        return list(self.vocabularies["user_features"])

    @property
    def item_features(self) -> list[str]:
        return list(self.vocabularies["item_features"])

    def text_features(self, kind: str) -> dict[str, int]:
        """The text features of "user" or "item", each with its token index range (words + 1: 0 pads)."""
        return {name: len(words) + 1 for name, words in self.vocabularies.get(TEXT_FEATURES[kind], {}).items()}

    def categorical(self, kind: str) -> list[str]:
        """The categorical features of "user" or "item" (not the bucketised numbers)."""
        numeric = set(self.vocabularies.get(NUMERIC_FEATURES, []))
        return [name for name in self.vocabularies[f"{kind}_features"] if name not in numeric]

    def user_groups(self) -> np.ndarray | None:
        """A group per customer: customers with the same categorical feature values share one; None without such features."""
        names = self.categorical("user")
        if not names:
            return None
        values = self.users[[f"{name}_idx" for name in names]].to_numpy(np.int64)
        return np.unique(values, axis=0, return_inverse=True)[1].ravel().astype(np.int64)

    def item_categories(self) -> np.ndarray | None:
        """Each product's value of the first categorical product feature (0: none); None without one."""
        names = self.categorical("item")
        return self.items[f"{names[0]}_idx"].to_numpy(np.int64) if names else None

    @property
    def known_users(self) -> int:
        """Customers with an id embedding (seen in training): indices 0 to known_users - 1."""
        return int(self.vocabularies.get(KNOWN_USERS, len(self.vocabularies["user_id"])))

    @property
    def known_items(self) -> int:
        return int(self.vocabularies.get(KNOWN_ITEMS, len(self.vocabularies["item_id"])))


def _read(path: Path) -> pd.DataFrame:
    """One Parquet file, or a folder of shards (a split BigQuery exported, or a large one written
    here, data.split_files), in the one set of dtypes the steps expect: indices int32, times naive UTC."""
    table = pd.read_parquet(path)
    for column in table.columns:
        if column.endswith("_idx"):
            table[column] = table[column].astype(np.int32)
        elif isinstance(table[column].dtype, pd.DatetimeTZDtype):
            table[column] = table[column].dt.tz_convert(None)
    return table


def _in_canonical_order(split: pd.DataFrame) -> pd.DataFrame:
    """Rows by (timestamp, user, item): the files' row order depends on DuckDB's threads, and the
    trainer's seeded shuffle must see the same order every time to give the same model."""
    keys = [split["item_idx"].to_numpy(), split["user_idx"].to_numpy()]
    if split["timestamp"].notna().all():
        keys.append(split["timestamp"].to_numpy())
    return split.take(np.lexsort(keys)).reset_index(drop=True)


def _entity_table(path: Path, index: str) -> pd.DataFrame:
    """Users or items with row i holding index i, which every embedding lookup relies on."""
    table = _read(path).sort_values(index, ignore_index=True)
    if not np.array_equal(table[index].to_numpy(), np.arange(len(table))):
        raise DataError(f"{path}: column {index} is not 0..{len(table) - 1}; the prepared folder is damaged")
    return table


def load(folder: str) -> PreparedData:
    """Read back what the prepare functions wrote, in canonical row order."""
    src = Path(folder)
    return PreparedData(
        splits={name: _in_canonical_order(_read(src / f"{name}.parquet")) for name in SPLITS},
        users=_entity_table(src / "users.parquet", "user_idx"),
        items=_entity_table(src / "items.parquet", "item_idx"),
        vocabularies=json.loads((src / VOCAB_FILE).read_text()),
        stats=json.loads((src / STATS_FILE).read_text()),
    )


def read_stats(folder: str) -> dict[str, Any]:
    """The data stats alone, without reading the splits."""
    return json.loads((Path(folder) / STATS_FILE).read_text())


def write_entity_table(table: pa.Table, path: Path) -> None:
    """users.parquet or items.parquet (a pyarrow table: the index, the id, then any features). The
    index and id are distinct per row, so only the features are dictionary-encoded: for the others
    the writer would hash every value only to fall back to plain, in memory Arrow takes from its
    own allocator's huge pages (core/memory_pages.py). The writer names a column by its leaf: a
    text feature's words (a list per row) are `<name>.list.element` in Parquet's nested layout."""
    import pyarrow.parquet as pq

    def leaf(field: pa.Field) -> str:
        nested = pa.types.is_list(field.type) or pa.types.is_fixed_size_list(field.type) or pa.types.is_large_list(field.type)
        return f"{field.name}.list.element" if nested else field.name

    pq.write_table(table, path, use_dictionary=[leaf(field) for field in table.schema][2:] or False)


def write_stats(folder: str, stats: dict[str, Any]) -> None:
    """(Re)write the data stats, e.g. with what the source itself reported (a BigQuery read's cost)."""
    (Path(folder) / STATS_FILE).write_text(json.dumps(stats, indent=2))


def entity_input(table: pd.DataFrame, name: str) -> np.ndarray:
    """An entity table's tower input as int32: one index per row, or (rows, tokens) for a text feature."""
    column = table[name]
    if name.endswith(TOKENS_SUFFIX):
        return np.stack(column.to_numpy()).astype(np.int32) if len(column) else np.zeros((0, 0), np.int32)
    return column.to_numpy(np.int32)


def purchase_shares(prepared: PreparedData) -> np.ndarray:
    """Each item's share of training rows (0 for one first bought later)."""
    counts = np.bincount(prepared.splits["train"]["item_idx"].to_numpy(), minlength=len(prepared.items))
    return (counts / counts.sum()).astype(np.float32)


def item_probabilities(prepared: PreparedData) -> np.ndarray:
    """How often each item appears as an in-batch negative: its share of training rows, as if a
    product nobody bought in training had been bought once (a share of 0 would add -log(1e-6) to
    its logit in the logQ correction, making it a strong negative in every validation and test batch)."""
    counts = np.maximum(np.bincount(prepared.splits["train"]["item_idx"].to_numpy(), minlength=len(prepared.items)), 1)
    return (counts / counts.sum()).astype(np.float32)


def repeat_share(split: pd.DataFrame) -> float:
    """Share of a split's purchases that repeat an earlier purchase of the same customer and product."""
    if not len(split):
        return 0.0
    pairs = split["user_idx"].to_numpy(np.int64) * (int(split["item_idx"].max()) + 1) + split["item_idx"].to_numpy(np.int64)
    return 1.0 - len(np.unique(pairs)) / len(pairs)
