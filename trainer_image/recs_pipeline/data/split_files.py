"""The prepared splits as Parquet files, the user and item tables, and the stats they give.

A split holds indices and times only. Each shard is gathered from the kept rows' codes and
written by a writer thread (NumPy's gathers and pyarrow's Parquet writer release the GIL), train
first; a split too large for one writer to keep pace (train, at millions of rows) goes out as one
shard per core. The entity tables are built meanwhile, so every core works until the end.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from recs_pipeline.core.config import PrepConfig
from recs_pipeline.data import text_features
from recs_pipeline.data.identifiers import MISSING
from recs_pipeline.data.kept_rows import Rows
from recs_pipeline.data.prepared_data import (
    KNOWN_ITEMS,
    KNOWN_USERS,
    SPLITS,
    TEXT_FEATURES,
    TOKENS_SUFFIX,
    new_rows_stats,
    write_entity_table,
)
from recs_pipeline.data.splits import TEST, TRAIN, VAL, SplitRows, in_order, iso
from recs_pipeline.data.timestamps import NO_TIME
from recs_pipeline.data.vocabulary import IndexMaps

TIME = "timestamp"
ROW_GROUP_ROWS = 1 << 23  # the steps read whole files: few, large row groups
SHARD_ROWS = 1 << 21  # a split of more rows is written as shards, one per core


def write(rows: Rows, parts: SplitRows, codes: dict[str, tuple[np.ndarray, ...]], times: tuple[np.ndarray, ...] | None,
          counts: dict[str, np.ndarray], maps: IndexMaps, vocabularies: dict[str, Any], tokens: dict[str, np.ndarray], config: PrepConfig,
          output_dir: str, stats: dict[str, Any]) -> None:
    """Per split: the indices joined, written as Parquet; then the entity tables and the remaining
    stats, which count the validation and test rows by customers or of products new to them
    (`codes`, `times` and `counts`: each split's "user" and "item" codes, its times (None without a
    time column), and rows per split and code)."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats.update(new_rows(counts["user"], counts["item"]))
    for split, name in enumerate(SPLITS):
        stats[f"{name}_rows"] = parts.size(split)
    workers = os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        writes = []  # per split, its shards' writes, each giving its rows' earliest and latest time
        for split, name in enumerate(SPLITS):  # train first: its write is the longest
            writes.append([pool.submit(_write_shard, rows, parts, split, span, codes, times, maps, path)
                           for span, path in _shards(parts.size(split), out / f"{name}.parquet", workers)])
        for kind in ("user", "item"):
            texts = {name: tokens[name] for name in vocabularies[TEXT_FEATURES[kind]]}
            _write_entities(kind, codes[kind], times, parts, rows, maps, vocabularies[f"{kind}_id"], config.indexed_features(kind), texts,
                            out)
        spans = [[written.result() for written in split] for split in writes]
    kept = [span for split in spans for span in split if span is not None]  # the kept rows' earliest and latest times
    tested = [span for span in spans[TEST] if span is not None]
    stats.update(
        users=len(vocabularies["user_id"]),
        items=len(vocabularies["item_id"]),
        **{KNOWN_USERS: maps.known_users, KNOWN_ITEMS: maps.known_items},
        density=stats["train_rows"] / float(maps.known_users * maps.known_items),
        date_min=iso(min(first for first, _ in kept)) if kept else None,
        date_max=iso(max(last for _, last in kept)) if kept else None,
        test_start=iso(min(first for first, _ in tested)) if tested else None,
    )


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


def _shards(rows: int, path: Path, workers: int) -> list[tuple[slice, Path]]:
    """Where each range of a split's `rows` goes: the file `path`, or for a split of more than
    SHARD_ROWS rows, a folder of that name with one shard per worker, written side by side (the
    readers take either, as they take the BigQuery engine's exported shards). Whatever an earlier
    run left there goes first."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    if rows <= SHARD_ROWS or workers < 2:
        return [(slice(0, rows), path)]
    path.mkdir()
    step = -(-rows // workers)
    return [(slice(start, start + step), path / f"part-{number:03d}.parquet") for number, start in enumerate(range(0, rows, step))]


def _write_shard(rows: Rows, parts: SplitRows, split: int, span: slice, codes: dict[str, tuple[np.ndarray, ...]],
                 split_times: tuple[np.ndarray, ...] | None, maps: IndexMaps, path: Path) -> tuple[int, int] | None:
    """Rows `span` of a split gathered and written; returns their earliest and latest time (None
    without times or rows)."""
    import pyarrow.parquet as pq

    users, items = maps.users[codes["user"][split][span]], maps.items[codes["item"][split][span]]
    times = split_times[split][span] if split_times is not None else None
    table: dict[str, pa.Array] = {
        TIME: pa.array(times, pa.timestamp("us")) if times is not None else pa.nulls(len(users), pa.timestamp("us")),
        "user_idx": pa.array(users),
        "item_idx": pa.array(items),
    }
    for feature, feature_codes in rows.features.items():
        table[f"{feature}_idx"] = pa.array(maps.feature_indices(feature, parts.take(feature_codes, split, span)))
    # Ids and feature values are not repeated per row: users.parquet, items.parquet and
    # vocabularies.json map each index back. Columns without nulls are declared so (Parquet
    # REQUIRED): the writer then computes and encodes no definition levels, a fifth of its time.
    schema = pa.schema([pa.field(name, values.type, nullable=values.null_count > 0) for name, values in table.items()])
    pq.write_table(
        pa.table(list(table.values()), schema=schema),
        path,
        use_dictionary=False,
        store_schema=False,
        # Indices and times as deltas, uncompressed: smaller than snappy over plain values and half
        # the CPU (snappy was the writer's largest cost).
        column_encoding=dict.fromkeys(table, "DELTA_BINARY_PACKED"),
        compression="none",
        row_group_size=ROW_GROUP_ROWS,
        write_statistics=[TIME],  # a time range lets a reader skip by date; an index column's min and max help nobody
    )
    return (int(times.min()), int(times.max())) if times is not None and len(times) else None


def _write_entities(kind: str, codes: tuple[np.ndarray, ...], times: tuple[np.ndarray, ...] | None, parts: SplitRows, rows: Rows,
                    maps: IndexMaps, ids: list[str], features: tuple[str, ...], texts: dict[str, np.ndarray], out: Path) -> None:
    """One row per user or item: its feature values as indices (0 when none) and its texts' words
    (`texts`: each text feature's token matrix by text code), from its latest training row, or for
    one first seen after training from its first row (what a catalog or an account knows when it
    starts buying). `codes`: each split's user or item codes."""
    table: dict[str, Any] = {f"{kind}_idx": pa.array(np.arange(len(ids), dtype=np.int32)), f"{kind}_id": pa.array(ids, pa.string())}
    if features or texts:
        code_count, order = (len(maps.users), maps.user_codes) if kind == "user" else (len(maps.items), maps.item_codes)
        latest = _extreme_rows(parts.positions(TRAIN), codes[TRAIN], None if times is None else times[TRAIN], code_count, latest=True)
        first = _extreme_rows(np.concatenate([parts.positions(VAL), parts.positions(TEST)]), np.concatenate([codes[VAL], codes[TEST]]),
                              None if times is None else np.concatenate([times[VAL], times[TEST]]), code_count, latest=False)
        chosen = np.where(latest >= 0, latest, first)[order]  # by code, then in index order
        for feature in features:
            values = np.where(chosen >= 0, rows.features[feature][np.maximum(chosen, 0)], MISSING)
            table[f"{feature}_idx"] = pa.array(maps.feature_indices(feature, values))
        for feature, matrix in texts.items():
            values = np.where(chosen >= 0, rows.texts[feature][np.maximum(chosen, 0)], MISSING)
            table[feature + TOKENS_SUFFIX] = pa.FixedSizeListArray.from_arrays(pa.array(matrix[values].ravel()), text_features.TOKENS)
    write_entity_table(pa.table(table), out / f"{kind}s.parquet")


def _extreme_rows(positions: np.ndarray, entity: np.ndarray, when: np.ndarray | None, size: int, latest: bool) -> np.ndarray:
    """Per entity (code), the row among `positions` (`entity` and `when`: its entity and time) with the
    latest time (ties: the last in the file) or the earliest (ties: the first); -1 for an entity
    with none. No sort; without times, or when they run in file order, that is simply the
    entity's last (first) row."""
    sign = 1 if latest else -1  # the earliest row is the latest of the negated positions
    chosen = np.full(size, NO_TIME, np.int64)
    if when is None or (in_order(when) and in_order(positions)):
        np.maximum.at(chosen, entity, positions if latest else -positions)
    else:
        extreme = np.full(size, NO_TIME if latest else np.iinfo(np.int64).max, np.int64)
        (np.maximum if latest else np.minimum).at(extreme, entity, when)
        at_extreme = np.flatnonzero(when == extreme[entity])  # one row per entity, and ties: a small set
        np.maximum.at(chosen, entity[at_extreme], sign * positions[at_extreme])
    return np.where(chosen == NO_TIME, -1, sign * chosen)
