"""The prepared splits as Parquet files, the user and item tables, and the stats they give.

Each split's table is built from the kept rows' codes and handed to the writer threads as soon
as it is ready (pyarrow's Parquet writer releases the GIL), train first; a split too large for one
writer to keep pace (train, at millions of rows) goes out as one shard per core. The other splits'
tables and the entity tables are built meanwhile, so every core writes until the end.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from recs_pipeline.core.config import PrepConfig
from recs_pipeline.data import text_features
from recs_pipeline.data.identifiers import MISSING, EncodedColumn
from recs_pipeline.data.kept_rows import Rows
from recs_pipeline.data.prepared_data import KNOWN_ITEMS, KNOWN_USERS, SPLITS, TEXT_FEATURES, TOKENS_SUFFIX, new_rows_stats
from recs_pipeline.data.splits import TEST, TRAIN, VAL, SplitRows, iso
from recs_pipeline.data.timestamps import NO_TIME
from recs_pipeline.data.vocabulary import IndexMaps

USER, ITEM, TIME = "user_id", "item_id", "timestamp"
DICTIONARY_PAGE_BYTES = 64 << 20  # a whole vocabulary fits one dictionary page
ROW_GROUP_ROWS = 1 << 23  # each row group repeats the vocabularies' dictionary pages: few, large ones
SHARD_ROWS = 1 << 21  # a split of more rows is written as shards, one per core (each repeats the dictionary pages)


def write(rows: Rows, parts: SplitRows, codes: dict[str, tuple[np.ndarray, ...]], counts: dict[str, np.ndarray], maps: IndexMaps,
          vocabularies: dict[str, Any], features: dict[str, EncodedColumn], tokens: dict[str, np.ndarray], config: PrepConfig,
          output_dir: str, stats: dict[str, Any]) -> None:
    """Per split: the indices joined, written as Parquet; then the entity tables and the remaining
    stats, which count the validation and test rows by customers or of products new to them
    (`codes` and `counts`: each split's "user" and "item" codes, and rows per split and code)."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats.update(new_rows(counts["user"], counts["item"]))
    for split, name in enumerate(SPLITS):
        stats[f"{name}_rows"] = parts.size(split)
    text = _TextColumns(vocabularies, features)
    columns = []  # per split: user and item indices, times
    workers = os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        writes = []
        for split, name in enumerate(SPLITS):  # train first: its write is the longest
            columns.append(_SplitColumns(maps.users[codes["user"][split]], maps.items[codes["item"][split]],
                                         parts.take(rows.times, split) if rows.times is not None else None))
            shards = _shards(_split_table(rows, parts, split, columns[split], maps, text), out / f"{name}.parquet", workers)
            writes += [pool.submit(_write_split, shard, path, text.names) for shard, path in shards]
        for kind in ("user", "item"):
            texts = {name: tokens[name] for name in vocabularies[TEXT_FEATURES[kind]]}
            _write_entities(kind, codes[kind], columns, parts, rows, maps, vocabularies[f"{kind}_id"], config.indexed_features(kind), texts,
                            out)
        for written in writes:
            written.result()
    times = [split.times for split in columns if split.times is not None and len(split.times)]  # the kept rows' times
    test_times = columns[TEST].times
    stats.update(
        users=len(vocabularies["user_id"]),
        items=len(vocabularies["item_id"]),
        **{KNOWN_USERS: maps.known_users, KNOWN_ITEMS: maps.known_items},
        density=stats["train_rows"] / float(maps.known_users * maps.known_items),
        date_min=iso(min(split.min() for split in times)) if times else None,
        date_max=iso(max(split.max() for split in times)) if times else None,
        test_start=iso(test_times.min()) if test_times is not None and len(test_times) else None,
    )


@dataclass(frozen=True)
class _SplitColumns:
    """One split's user and item indices and times (None without a timestamp column)."""

    users: np.ndarray
    items: np.ndarray
    times: np.ndarray | None


def new_rows(user_counts: np.ndarray, item_counts: np.ndarray) -> dict[str, int]:
    """Validation and test rows by customers, or of products, with no purchase before that split
    (training for validation; training and validation for test): the cold-start rows, from the
    (split, code) row counts."""
    counts = {}
    for split, name in ((VAL, "val"), (TEST, "test")):
        new_user = ~user_counts[:split].any(axis=0)
        new_item = ~item_counts[:split].any(axis=0)
        counts.update(new_rows_stats(name, int(user_counts[split][new_user].sum()), int(item_counts[split][new_item].sum())))
    return counts


class _TextColumns:
    """The text columns' dictionaries: the id vocabularies, and each feature's labels with "" last (for MISSING)."""

    def __init__(self, vocabularies: dict[str, Any], features: dict[str, EncodedColumn]) -> None:
        self.users = pa.array(vocabularies["user_id"], pa.string())
        self.items = pa.array(vocabularies["item_id"], pa.string())
        self.features = {name: pa.array([*column.labels.tolist(), ""], pa.string()) for name, column in features.items()}
        self.names = [USER, ITEM, *features]


def _split_table(rows: Rows, parts: SplitRows, split: int, columns: _SplitColumns, maps: IndexMaps, text: _TextColumns) -> pa.Table:
    """One split's rows: ids, time and features as text, then their indices."""
    users, items, times = columns.users, columns.items, columns.times
    # Text columns go out as dictionary arrays (indices + the vocabulary): the writer emits
    # dictionary pages as they are, instead of hashing millions of strings again. The indices are
    # in range by construction (a kept row's index, or a code's slot), so they are not checked
    # again (safe=False): a bounds check of every row showed in profiles of this step.
    table: dict[str, pa.Array] = {
        USER: pa.DictionaryArray.from_arrays(pa.array(users), text.users, safe=False),
        ITEM: pa.DictionaryArray.from_arrays(pa.array(items), text.items, safe=False),
        TIME: pa.array(times, pa.timestamp("us")) if times is not None else pa.nulls(len(users), pa.timestamp("us")),
    }
    codes = {feature: parts.take(rows.features[feature], split) for feature in text.features}
    for feature, labels in text.features.items():
        text_index = np.arange(len(labels), dtype=np.int32)  # code -> dictionary index; MISSING (-1) reads the last, ""
        table[feature] = pa.DictionaryArray.from_arrays(pa.array(text_index[codes[feature]]), labels, safe=False)
    table["user_idx"], table["item_idx"] = pa.array(users), pa.array(items)
    for feature in text.features:
        table[f"{feature}_idx"] = pa.array(maps.feature_indices(feature, codes[feature]))
    # Columns without nulls are declared so (Parquet REQUIRED): the writer then computes and
    # encodes no definition levels, a fifth of its time; the values read back the same.
    schema = pa.schema([pa.field(name, values.type, nullable=values.null_count > 0) for name, values in table.items()])
    return pa.table(list(table.values()), schema=schema)


def _shards(table: pa.Table, path: Path, workers: int) -> list[tuple[pa.Table, Path]]:
    """Where each part of a split's table goes: the file `path`, or for a split of more than
    SHARD_ROWS rows, a folder of that name with one shard per worker, written side by side (the
    readers take either, as they take the BigQuery engine's exported shards). Whatever an earlier
    run left there goes first."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    if table.num_rows <= SHARD_ROWS or workers < 2:
        return [(table, path)]
    path.mkdir()
    step = -(-table.num_rows // workers)
    return [(table.slice(start, step), path / f"part-{number:03d}.parquet") for number, start in enumerate(range(0, table.num_rows, step))]


def _write_split(table: pa.Table, path: Path, text_columns: list[str]) -> None:
    import pyarrow.parquet as pq

    pq.write_table(
        table,
        path,
        use_dictionary=text_columns,
        dictionary_pagesize_limit=DICTIONARY_PAGE_BYTES,
        # Min/max statistics of text columns cost more than writing them, and no reader uses them.
        write_statistics=[c for c in table.column_names if c not in text_columns],
        store_schema=False,  # read back as plain strings, not categoricals
        # Indices and times as deltas, uncompressed: smaller than snappy over plain values and half
        # the CPU (snappy was the writer's largest cost); the dictionary columns are compact already.
        column_encoding={c: "DELTA_BINARY_PACKED" for c in table.column_names if c not in text_columns},
        compression="none",
        row_group_size=ROW_GROUP_ROWS,
    )


def _write_entities(kind: str, codes: tuple[np.ndarray, ...], columns: list[_SplitColumns], parts: SplitRows, rows: Rows, maps: IndexMaps,
                    ids: list[str], features: tuple[str, ...], texts: dict[str, np.ndarray], out: Path) -> None:
    """One row per user or item: its feature values as indices (0 when none) and its texts' words
    (`texts`: each text feature's token matrix by text code), from its latest training row, or for
    one first seen after training from its first row (what a catalog or an account knows when it
    starts buying). `codes`: each split's user or item codes."""
    import pyarrow.parquet as pq

    table: dict[str, Any] = {f"{kind}_idx": pa.array(np.arange(len(ids), dtype=np.int32)), f"{kind}_id": pa.array(ids, pa.string())}
    if features or texts:
        code_count, order = (len(maps.users), maps.user_codes) if kind == "user" else (len(maps.items), maps.item_codes)
        times = [split.times for split in columns]
        latest = _extreme_rows(parts.positions(TRAIN), codes[TRAIN], times[TRAIN], code_count, latest=True)
        first = _extreme_rows(np.concatenate([parts.positions(VAL), parts.positions(TEST)]), np.concatenate([codes[VAL], codes[TEST]]),
                              None if times[TRAIN] is None else np.concatenate([times[VAL], times[TEST]]), code_count, latest=False)
        chosen = np.where(latest >= 0, latest, first)[order]  # by code, then in index order
        for feature in features:
            values = np.where(chosen >= 0, rows.features[feature][np.maximum(chosen, 0)], MISSING)
            table[f"{feature}_idx"] = pa.array(maps.feature_indices(feature, values))
        for feature, matrix in texts.items():
            values = np.where(chosen >= 0, rows.texts[feature][np.maximum(chosen, 0)], MISSING)
            table[feature + TOKENS_SUFFIX] = pa.FixedSizeListArray.from_arrays(pa.array(matrix[values].ravel()), text_features.TOKENS)
    pq.write_table(pa.table(table), out / f"{kind}s.parquet")


def _extreme_rows(positions: np.ndarray, entity: np.ndarray, when: np.ndarray | None, size: int, latest: bool) -> np.ndarray:
    """Per entity (code), the row among `positions` (`entity` and `when`: its entity and time) with the
    latest time (ties: the last in the file) or the earliest (ties: the first); -1 for an entity
    with none. No sort; without times, or when they run in file order, that is simply the
    entity's last (first) row."""
    sign = 1 if latest else -1  # the earliest is the latest of the negated times and positions
    chosen = np.full(size, NO_TIME, np.int64)
    if when is None or bool((positions[1:] > positions[:-1]).all() and (when[1:] >= when[:-1]).all()):
        np.maximum.at(chosen, entity, positions if latest else -positions)
    else:
        signed = when if latest else -when
        extreme = np.full(size, NO_TIME, np.int64)
        np.maximum.at(extreme, entity, signed)
        at_extreme = signed == np.take(extreme, entity)
        np.maximum.at(chosen, entity[at_extreme], positions[at_extreme] if latest else -positions[at_extreme])
    return np.where(chosen == NO_TIME, -1, sign * chosen)
