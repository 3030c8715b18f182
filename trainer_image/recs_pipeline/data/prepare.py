"""Interaction table in, clean integer-indexed splits and vocabularies out.

The input becomes one Arrow table (table_reader). Ids are hash-encoded once and normalised per
distinct value ("17850.0" == "17850"; identifiers); the user's --where condition and timestamp
parsing run in DuckDB over that table without copying it; cleaning, splitting and the
vocabularies are vectorised NumPy over integer codes; each split is written as Parquet by
pyarrow. Validation and test rows whose user or item is unseen in training are dropped and
counted: cold start is reported, never mixed into recall.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from recs_pipeline.core.config import PrepConfig
from recs_pipeline.core.errors import DataError
from recs_pipeline.data import identifiers, table_reader, timestamps
from recs_pipeline.data.identifiers import MISSING, EncodedColumn
from recs_pipeline.data.prepared_data import SPLITS, STATS_FILE, VOCAB_FILE
from recs_pipeline.data.timestamps import NO_TIME

TRAIN, VAL, TEST = 0, 1, 2
USER, ITEM, TIME = "user_id", "item_id", "timestamp"
MEMORY_LIMIT = "3GB"
DICTIONARY_PAGE_BYTES = 64 << 20  # a whole vocabulary fits one dictionary page
ROW_GROUP_ROWS = 1 << 23  # each row group repeats the vocabularies' dictionary pages: few, large ones


def connect():
    """An in-memory DuckDB bounded in memory (it spills to disk beyond); it keeps row order, which
    the per-row columns it computes rely on. Its time zone is UTC, whatever the machine's: naive
    times are UTC, zoned ones are converted to it."""
    import duckdb

    connection = duckdb.connect(config={"memory_limit": MEMORY_LIMIT})
    connection.execute("SET TimeZone = 'UTC'")  # after connecting: the setting needs the ICU extension loaded
    return connection


class _LazyConnection:
    """connect()'s DuckDB, made (with the tables registered so far) on first use: a CSV with ISO
    times and no --where or --test-start needs no SQL, so it does not pay DuckDB's start-up."""

    def __init__(self, early: bool = False) -> None:
        self._connection = None
        self._tables: dict[str, pa.Table] = {}
        self._early: Future | None = None
        if early:  # SQL will run: start DuckDB beside the file read, which releases the GIL
            pool = ThreadPoolExecutor(max_workers=1)
            self._early = pool.submit(connect)
            pool.shutdown(wait=False)

    def register(self, name: str, table: pa.Table) -> None:
        self._tables[name] = table
        if self._connection is not None:
            self._connection.register(name, table)

    def __getattr__(self, name: str) -> Any:
        if self._connection is None:
            self._connection = self._early.result() if self._early is not None else connect()
            for table_name, table in self._tables.items():
                self._connection.register(table_name, table)
        return getattr(self._connection, name)


def _sql_errors() -> tuple[type[BaseException], ...]:
    """duckdb.Error once DuckDB is loaded; nothing before (no SQL ran, so none failed)."""
    duckdb = sys.modules.get("duckdb")
    return (duckdb.Error,) if duckdb is not None else ()


def prepare_frame(frame: pd.DataFrame, config: PrepConfig, output_dir: str, source: str = "<data frame>") -> dict[str, Any]:
    """Prepare an in-memory table (the embedded synthetic data, or tests)."""
    import duckdb

    con = connect()
    try:
        table = table_reader.read_frame(frame, con)
    except duckdb.Error as error:
        raise DataError(f"cannot read {source}: {table_reader.first_line(error)}") from error
    return _prepare(con, table, config, output_dir, source)


def prepare_files(files: list[str], file_format: str, config: PrepConfig, output_dir: str, source: str) -> dict[str, Any]:
    """Prepare CSV or Parquet files (already local)."""
    con = _LazyConnection(early=bool(config.where or config.test_start) or file_format == "parquet")
    try:
        table = table_reader.read_files(files, file_format, config, source, con)
    except table_reader.ReadError as error:
        raise DataError(str(error)) from error
    return _prepare(con, table, config, output_dir, source)


def prepare_table(table: pa.Table, config: PrepConfig, output_dir: str, source: str) -> dict[str, Any]:
    """Prepare an Arrow table already read (a BigQuery read)."""
    return _prepare(_LazyConnection(), table, config, output_dir, source)


def public_source(source: str) -> str:
    """How the stats (and so the published history) name the input: a gs:// URI as given, a local
    path by its last part only, so no user's folder names leave the machine. Errors still show
    the full path, to the user who gave it."""
    if "://" in source or "/" not in source:
        return source
    return f"{Path(source).name} (local)"


@dataclass(frozen=True)
class _Rows:
    """The kept rows, as codes: users and items index their labels; times are epoch microseconds
    (None without a timestamp column); features[name] indexes that feature's labels."""

    users: np.ndarray
    items: np.ndarray
    times: np.ndarray | None
    features: dict[str, np.ndarray]


def _prepare(con, table: pa.Table, config: PrepConfig, output_dir: str, source: str) -> dict[str, Any]:
    require_columns(table.column_names, config, source)
    if table.num_rows == 0:
        raise DataError(f"{source}: no rows, only the header ({', '.join(table.column_names)})")
    stats: dict[str, Any] = {"source": public_source(source)}
    con.register("input_table", table)
    try:
        columns = _read_columns(con, table, config, source)
        users, items, features = columns.users, columns.items, columns.features
        if columns.times is not None:
            stats["timestamps_read_as"] = columns.times.read_as
        rows = _clean(table, config, source, stats, columns)
        labels = _label_splits(con, rows, users.labels, items.labels, config, source)
        vocabularies, maps = _vocabularies(rows, labels, users, items, features, config, source)
        _require_evaluable(rows, labels, maps, users, config, source)
        _write(rows, labels, maps, vocabularies, features, config, output_dir, stats)
    except _sql_errors() as error:  # evaluated when an exception arrives, so after any SQL ran
        raise DataError(f"{source}: {table_reader.first_line(error)}{table_reader.encoding_hint(error, config)}") from error
    Path(output_dir, VOCAB_FILE).write_text(json.dumps(vocabularies))
    Path(output_dir, STATS_FILE).write_text(json.dumps(stats, indent=2))
    return stats


@dataclass(frozen=True)
class _Columns:
    """Every input row, reduced to what data prep needs."""

    users: EncodedColumn
    items: EncodedColumn
    features: dict[str, EncodedColumn]
    passes: np.ndarray  # the --where condition
    times: timestamps.ParsedTimes | None  # None without a timestamp column


def _read_columns(con, table: pa.Table, config: PrepConfig, source: str) -> _Columns:
    """Ids and features encoded while DuckDB evaluates --where and parses time, side by side
    (pyarrow's hashing and DuckDB both release the GIL)."""
    names = (*config.user_features, *config.item_features)

    def sql_columns() -> tuple[np.ndarray, timestamps.ParsedTimes | None]:
        times = timestamps.parse(con, table, config.timestamp_column, config.timestamp_format, source) if config.timestamp_column else None
        return _passes(con, table, config, source), times

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        from_sql = pool.submit(sql_columns)
        users = pool.submit(identifiers.encode, table[config.user_column])
        items = pool.submit(identifiers.encode, table[config.item_column])
        features = {name: pool.submit(identifiers.encode, table[name], False) for name in names}
        passes, times = from_sql.result()
        return _Columns(users.result(), items.result(), {name: future.result() for name, future in features.items()}, passes, times)


def require_columns(columns: list[str], config: PrepConfig, source: str) -> None:
    """Stop, naming what is missing and what was found, unless every configured column is there once."""
    wanted = [config.user_column, config.item_column, *([config.timestamp_column] if config.timestamp_column else []),
              *config.user_features, *config.item_features]
    missing = [name for name in wanted if name not in columns]
    if missing:
        found = ", ".join(columns) or "(none)"
        hint = ""
        if len(columns) == 1 and any(sep in columns[0] for sep in (";", "\t", "|", ",")):
            hint = " (one column whose name contains a separator: is --delimiter wrong?)"
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}; columns found: {found}{hint}")
    duplicated = sorted({name for name in wanted if columns.count(name) > 1})
    if duplicated:
        raise DataError(f"{source}: column(s) {', '.join(duplicated)} appear more than once; columns found: {', '.join(columns)}")


def _passes(con, table: pa.Table, config: PrepConfig, source: str) -> np.ndarray:
    """The user's --where condition per row (a row where it is NULL does not pass)."""
    if not config.where:
        return np.ones(table.num_rows, dtype=bool)
    import duckdb

    try:
        result = con.sql(f"SELECT coalesce(({config.where}), false) AS passes FROM input_table").to_arrow_table()["passes"]
    except duckdb.Error as error:
        raise DataError(f"{source}: cannot apply --where {config.where!r}: {table_reader.first_line(error)}") from error
    return result.to_numpy(zero_copy_only=False).astype(bool)


def _clean(table: pa.Table, config: PrepConfig, source: str, stats: dict[str, Any], columns: _Columns) -> _Rows:
    """Rows that pass the filter with a user and an item (and, with --dedupe, the first purchase
    of each pair); every dropped row is counted by reason."""
    passes, users, items = columns.passes, columns.users, columns.items
    times = columns.times.micros if columns.times is not None else None
    has_user, has_item = users.codes != MISSING, items.codes != MISSING
    keep = passes & has_user & has_item
    stats.update(
        rows_in=int(table.num_rows),
        rows_filtered_out=int((~passes).sum()),
        rows_dropped_null_user=int((passes & ~has_user).sum()),
        rows_dropped_null_item=int((passes & has_user & ~has_item).sum()),
    )
    kept = int(keep.sum())
    if kept == 0:
        raise DataError(f"{source}: no rows left after filtering and dropping rows with an empty user or item")
    if times is not None and (bad := keep & (times == NO_TIME)).any():
        _report_bad_time(table, config, source, int(np.argmax(bad)))
    if kept == table.num_rows and not config.dedupe:  # every row kept (a clean log): no copies
        stats["rows_dropped_duplicate"] = 0
        return _Rows(users.codes, items.codes, times, {name: column.codes for name, column in columns.features.items()})
    rows = np.flatnonzero(keep)
    if config.dedupe:
        rows = _first_of_each_pair(rows, users.codes, items.codes, times)
    stats["rows_dropped_duplicate"] = kept - len(rows)
    return _Rows(
        users=users.codes[rows],
        items=items.codes[rows],
        times=None if times is None else times[rows],
        features={name: column.codes[rows] for name, column in columns.features.items()},
    )


def _first_of_each_pair(rows: np.ndarray, users: np.ndarray, items: np.ndarray, times: np.ndarray | None) -> np.ndarray:
    """The earliest row of each (user, item) pair (ties: the first in the file), in file order."""
    when = times[rows] if times is not None else np.zeros(len(rows), np.int64)
    order = np.lexsort((when, items[rows], users[rows]))
    pair_user, pair_item = users[rows][order], items[rows][order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (pair_user[1:] != pair_user[:-1]) | (pair_item[1:] != pair_item[:-1])
    return np.sort(rows[order[first]])


def _report_bad_time(table: pa.Table, config: PrepConfig, source: str, row: int) -> None:
    """Stop at the first kept row whose timestamp does not parse, showing its value and row."""
    value = table[config.timestamp_column][row].as_py()
    shown = "an empty value" if value is None or not str(value).strip() else repr(str(value))
    hint = "" if config.timestamp_format else " (pass --timestamp-format: a strptime format such as '%d/%m/%Y %H:%M', or epoch_s, epoch_ms)"
    raise DataError(f"{source}: column {config.timestamp_column!r}, row {row + 1}: cannot parse timestamp {shown}{hint}")


def quantile_disc(values: np.ndarray, fraction: float) -> int:
    """The value at the `fraction` quantile, an element of `values` (SQL quantile_disc)."""
    position = max(math.ceil(fraction * len(values)) - 1, 0)
    if len(values) > 1 and bool((values[1:] >= values[:-1]).all()):  # a log in time order: no partition (a copy and a pass)
        return int(values[position])
    return int(np.partition(values, position)[position])


def _label_splits(con, rows: _Rows, user_labels: np.ndarray, item_labels: np.ndarray, config: PrepConfig, source: str) -> np.ndarray:
    """TRAIN/VAL/TEST per kept row. Temporal: test from --test-start or the time quantile of
    --test-fraction, validation the end of train by time. Random: a seeded hash of the row's user,
    item and time, so a row lands in the same split on every machine and in every file order."""
    if config.split == "random" or rows.times is None:
        draw = (_row_hash(rows, user_labels, item_labels, config.seed) % np.uint64(1_000_000)) / 1_000_000.0
        val_bound = config.test_fraction + config.val_fraction * (1 - config.test_fraction)
        labels = np.where(draw < config.test_fraction, TEST, np.where(draw < val_bound, VAL, TRAIN)).astype(np.int8)
    else:
        if config.test_start:
            start = con.execute("SELECT CAST(CAST($1 AS TIMESTAMP) AS VARCHAR)", [config.test_start]).fetchall()[0][0]
            test_cut = int(np.datetime64(start, "us").astype(np.int64))
        else:
            test_cut = quantile_disc(rows.times, 1 - config.test_fraction)
        before = rows.times[rows.times < test_cut]
        _require_purchases_both_sides(rows.times, len(before), config, source)
        val_cut = quantile_disc(before, 1 - config.val_fraction)  # below test_cut: `before` is not empty
        # TRAIN 0, VAL 1, TEST 2 as the count of cuts reached, in int8 throughout (no 10M-row int64 temporaries).
        labels = (rows.times >= val_cut).view(np.int8)
        labels += rows.times >= test_cut
    if not (labels == TRAIN).any():
        raise DataError(f"{source}: the training split is empty")
    return labels


def _require_purchases_both_sides(times: np.ndarray, before: int, config: PrepConfig, source: str) -> None:
    """A --test-start outside the data leaves the test or the training split with nothing: say
    so by the date, with the data's own range, since the fractions play no part then. Without
    one, only a time column with one value leaves training empty."""
    first, last = _iso(times.min())[:10], _iso(times.max())[:10]
    if not config.test_start:
        if before == 0:  # the test fraction's cut is the earliest time: every purchase has it
            raise DataError(f"{source}: every purchase has the same time ({_iso(times.min())}), so a split by time leaves nothing "
                            "to train on; use --split random, or a timestamp column that varies")
        return
    if before == len(times):
        raise DataError(f"{source}: no purchase on or after --test-start {config.test_start}: the data runs from {first} to {last}; "
                        "give a date within that range, or leave --test-start out to test on the last "
                        f"{config.test_fraction:.0%} of purchases by time")
    if before == 0:
        raise DataError(f"{source}: no purchase before --test-start {config.test_start}, so nothing to train on: the data runs from "
                        f"{first} to {last}; give a date within that range")


def _require_evaluable(rows: _Rows, labels: np.ndarray, maps: _IndexMaps, users: EncodedColumn, config: PrepConfig,
                       source: str) -> None:
    """Validation and test keep only customers and products seen in training; when nothing is
    left, name the cause the user can act on (single-purchase ids, or where the split falls)."""
    known = (maps.users[rows.users] != MISSING) & (maps.items[rows.items] != MISSING)
    for split, name in ((VAL, "validation"), (TEST, "test")):
        in_split = labels == split
        if (in_split & known).any():
            continue
        purchases = np.bincount(rows.users, minlength=len(users.labels))
        if purchases.max() <= 1:
            raise DataError(f"{source}: every customer in column {config.user_column!r} has a single purchase ({len(rows.users):,} rows), "
                            f"so no {name} purchase is by a customer seen in training; the model learns from customers who buy more "
                            "than once: is --user-column the customer, not an order or row id?")
        flag, fraction = ("--val-fraction", config.val_fraction) if split == VAL else ("--test-fraction", config.test_fraction)
        fix = "an earlier --test-start" if split == TEST and config.test_start else f"a larger {flag} (now {fraction})"
        if not in_split.any():
            raise DataError(f"{source}: the {name} split is empty: {len(labels):,} rows are too few for {flag} {fraction}; "
                            f"use {fix} or more data")
        raise DataError(f"{source}: all {int(in_split.sum()):,} rows of the {name} split are by customers or of products with no "
                        f"purchase in training, which cannot be scored; {fix} takes in purchases by known customers")


def _label_hashes(labels: np.ndarray) -> np.ndarray:
    """A stable 64-bit hash of each label's text."""
    return np.array([int.from_bytes(hashlib.blake2b(str(label).encode(), digest_size=8).digest(), "little") for label in labels],
                    dtype=np.uint64)


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit moves every output bit."""
    with np.errstate(over="ignore"):
        values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return values ^ (values >> np.uint64(31))


def _row_hash(rows: _Rows, user_labels: np.ndarray, item_labels: np.ndarray, seed: int) -> np.ndarray:
    """A 64-bit hash per row from its user's and item's text and its time (not from codes, which
    depend on what else is in the file)."""
    times = rows.times.astype(np.uint64) if rows.times is not None else np.zeros(len(rows.users), np.uint64)
    value = _mix(times ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF))
    value = _mix(value ^ _label_hashes(item_labels)[rows.items])
    return _mix(value ^ _label_hashes(user_labels)[rows.users])


@dataclass(frozen=True)
class _IndexMaps:
    """Code -> training index (MISSING: unseen in training) for users and items; code -> feature
    index (0: empty or unseen) per feature."""

    users: np.ndarray
    items: np.ndarray
    features: dict[str, np.ndarray]


def _index_map(codes_in_train: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes seen in training, in code (= label) order, and the code -> index map."""
    seen = np.flatnonzero(np.bincount(codes_in_train, minlength=size) > 0) if size else np.zeros(0, np.int64)
    mapping = np.full(size, MISSING, np.int32)
    mapping[seen] = np.arange(len(seen), dtype=np.int32)
    return seen, mapping


def _vocabularies(rows: _Rows, labels: np.ndarray, users: EncodedColumn, items: EncodedColumn, features: dict[str, EncodedColumn],
                  config: PrepConfig, source: str) -> tuple[dict[str, Any], _IndexMaps]:
    """Users, items and feature values seen in training, each sorted by its text."""
    train = labels == TRAIN
    user_codes, user_map = _index_map(rows.users[train], len(users.labels))
    item_codes, item_map = _index_map(rows.items[train], len(items.labels))
    if len(user_codes) < 2 or len(item_codes) < 2:
        raise DataError(f"{source}: training split has {len(user_codes)} user(s) and {len(item_codes)} item(s); "
                        "a retrieval model needs at least 2 of each")
    feature_vocabularies, feature_maps = {}, {}
    for name, column in features.items():
        codes = rows.features[name][train]
        seen, _ = _index_map(codes[codes != MISSING], len(column.labels))
        seen = seen[column.labels[seen] != ""]
        mapping = np.zeros(len(column.labels) + 1, np.int32)  # the last slot: MISSING
        mapping[seen] = np.arange(1, len(seen) + 1, dtype=np.int32)  # index 0: empty or unseen
        feature_vocabularies[name] = ["", *column.labels[seen].tolist()]
        feature_maps[name] = mapping
    vocabularies = {
        "user_id": users.labels[user_codes].tolist(),
        "item_id": items.labels[item_codes].tolist(),
        "user_features": {name: feature_vocabularies[name] for name in config.user_features},
        "item_features": {name: feature_vocabularies[name] for name in config.item_features},
    }
    return vocabularies, _IndexMaps(user_map, item_map, feature_maps)


def _feature_indices(maps: _IndexMaps, name: str, codes: np.ndarray) -> np.ndarray:
    return maps.features[name][codes]  # MISSING (-1) reads the last slot, 0


def _write(rows: _Rows, labels: np.ndarray, maps: _IndexMaps, vocabularies: dict[str, Any], features: dict[str, EncodedColumn],
           config: PrepConfig, output_dir: str, stats: dict[str, Any]) -> None:
    """Per split: the indices joined (rows with a user or item unseen in training dropped and
    counted), written as Parquet; then the entity tables and the remaining stats."""
    import pyarrow.parquet as pq

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    user_index, item_index = maps.users[rows.users], maps.items[rows.items]
    user_ids, item_ids = pa.array(vocabularies["user_id"], pa.string()), pa.array(vocabularies["item_id"], pa.string())
    feature_text = {name: pa.array([*column.labels.tolist(), ""], pa.string()) for name, column in features.items()}
    text_columns = [USER, ITEM, *features]
    tables: dict[str, pa.Table] = {}
    for split, name in enumerate(SPLITS):
        in_split = labels == split
        chosen = in_split & (user_index != MISSING) & (item_index != MISSING)
        count = int(chosen.sum())
        stats[f"{name}_rows"] = count
        if name != "train":
            stats[f"{name}_rows_dropped_cold_start"] = int(in_split.sum()) - count
        users, items = user_index[chosen], item_index[chosen]
        # Text columns go out as dictionary arrays (indices + the vocabulary): the writer emits
        # dictionary pages as they are, instead of hashing millions of strings again.
        columns: dict[str, pa.Array] = {
            USER: pa.DictionaryArray.from_arrays(pa.array(users), user_ids),
            ITEM: pa.DictionaryArray.from_arrays(pa.array(items), item_ids),
            TIME: pa.array(rows.times[chosen], pa.timestamp("us")) if rows.times is not None else pa.nulls(count, pa.timestamp("us")),
        }
        for feature in features:
            codes = rows.features[feature][chosen]
            columns[feature] = pa.DictionaryArray.from_arrays(pa.array(np.where(codes == MISSING, len(feature_text[feature]) - 1, codes)),
                                                              feature_text[feature])
        columns["user_idx"], columns["item_idx"] = pa.array(users), pa.array(items)
        for feature in features:
            columns[f"{feature}_idx"] = pa.array(_feature_indices(maps, feature, rows.features[feature][chosen]))
        tables[name] = pa.table(columns)

    def write(name: str) -> None:
        table = tables[name]
        pq.write_table(
            table,
            out / f"{name}.parquet",
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

    train = labels == TRAIN
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # the writer releases the GIL
        writes = [pool.submit(write, name) for name in SPLITS]
        # The entity tables meanwhile (train.parquet, the longest write, runs beside them).
        _write_entities("user", user_index, train, rows, maps, vocabularies["user_id"], config.user_features, out)
        _write_entities("item", item_index, train, rows, maps, vocabularies["item_id"], config.item_features, out)
        for written in writes:
            written.result()
    times = rows.times
    stats.update(
        users=len(vocabularies["user_id"]),
        items=len(vocabularies["item_id"]),
        density=stats["train_rows"] / float(len(vocabularies["user_id"]) * len(vocabularies["item_id"])),
        date_min=_iso(times.min()) if times is not None else None,
        date_max=_iso(times.max()) if times is not None else None,
        test_start=_iso(times[labels == TEST].min()) if times is not None and (labels == TEST).any() else None,
    )


def _iso(microseconds: int) -> str:
    return np.datetime64(int(microseconds), "us").astype(object).isoformat()


def _write_entities(kind: str, index: np.ndarray, train: np.ndarray, rows: _Rows, maps: _IndexMaps, ids: list[str],
                    features: tuple[str, ...], out: Path) -> None:
    """One row per user or item: its latest feature values in training, as indices (0 when none)."""
    import pyarrow.parquet as pq

    columns: dict[str, Any] = {f"{kind}_idx": pa.array(np.arange(len(ids), dtype=np.int32)), f"{kind}_id": pa.array(ids, pa.string())}
    if features:
        # The latest training row of each entity (ties: the last in the file), without a sort.
        positions = np.flatnonzero(train)
        entity = index[positions]
        when = rows.times[positions] if rows.times is not None else np.zeros(len(positions), np.int64)
        newest = np.full(len(ids), NO_TIME, np.int64)
        np.maximum.at(newest, entity, when)
        at_newest = when == newest[entity]
        latest = np.full(len(ids), -1, np.int64)
        np.maximum.at(latest, entity[at_newest], positions[at_newest])
        for feature in features:
            codes = np.where(latest >= 0, rows.features[feature][np.maximum(latest, 0)], MISSING)
            columns[f"{feature}_idx"] = pa.array(_feature_indices(maps, feature, codes))
    pq.write_table(pa.table(columns), out / f"{kind}s.parquet")
