"""Interaction table in, clean integer-indexed splits and vocabularies out.

The input becomes one Arrow table (table_reader). Ids are hash-encoded once and normalised per
distinct value ("17850.0" == "17850"; identifiers); the user's --where condition and timestamp
parsing run in DuckDB over that table without copying it; cleaning, splitting and the
vocabularies are vectorised NumPy over integer codes; each split is written as Parquet by
pyarrow. Every row is kept: validation and test rows by customers or of products unseen before
them are counted (the data stats) and evaluated as their own segments (evaluation.segments). The
vocabularies list every customer and product, those seen in training first: the towers' id
embeddings cover those, and a later id is embedded from its features alone (model.towers).
"""

from __future__ import annotations

import json
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
from recs_pipeline.data import identifiers, numeric_features, splits, table_reader, text_features, timestamps
from recs_pipeline.data.entity_tables import EntityTables
from recs_pipeline.data.identifiers import MISSING, EncodedColumn
from recs_pipeline.data.prepared_data import (
    BUCKET_EDGES,
    KNOWN_ITEMS,
    KNOWN_USERS,
    NUMERIC_FEATURES,
    SPLITS,
    STATS_FILE,
    TEXT_FEATURES,
    TOKENS_SUFFIX,
    VOCAB_FILE,
    new_rows_stats,
)
from recs_pipeline.data.splits import TEST, TRAIN, VAL, iso
from recs_pipeline.data.timestamps import NO_TIME

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
    (None without a timestamp column); features[name] indexes that feature's labels; numbers[name]
    a numeric feature's values (NaN: missing), bucketised into `features` once the splits are known."""

    users: np.ndarray
    items: np.ndarray
    times: np.ndarray | None
    features: dict[str, np.ndarray]
    numbers: dict[str, np.ndarray]
    texts: dict[str, np.ndarray]  # a text feature's code per row (its labels: the distinct texts)


def _prepare(con, table: pa.Table, config: PrepConfig, output_dir: str, source: str) -> dict[str, Any]:
    require_columns(table.column_names, config, source)
    if table.num_rows == 0:
        raise DataError(f"{source}: no rows, only the header ({', '.join(table.column_names)})")
    entity_tables = EntityTables(config)  # --users-input / --items-input: those features from the tables, their ids in the catalog
    table = entity_tables.attach(table)
    stats: dict[str, Any] = {"source": public_source(source)}
    con.register("input_table", table)
    try:
        columns = _read_columns(con, table, config, source)
        users, items, features = columns.users, columns.items, dict(columns.features)
        numbers = {name: numeric_features.parse(table[name], name, source) for name in (*config.user_numeric_features,
                                                                                          *config.item_numeric_features)}
        texts = {name: identifiers.encode(table[name], False) for name in (*config.user_text_features, *config.item_text_features)}
        if columns.times is not None:
            stats["timestamps_read_as"] = columns.times.read_as
        rows = _clean(table, config, source, stats, columns, numbers, {name: text.codes for name, text in texts.items()})
        labels = splits.label_splits(con, rows.users, rows.items, rows.times, users.labels, items.labels, config, source)
        bucket_edges = {}
        for name, values in rows.numbers.items():
            features[name], bucket_edges[name] = numeric_features.bucketise(values, labels == TRAIN)
            rows.features[name] = features[name].codes
        vocabularies, maps = _vocabularies(rows, labels, users, items, features, config, source)
        tokens = _text_vocabularies(rows, labels, texts, config, vocabularies)
        vocabularies[BUCKET_EDGES] = {name: edges.tolist() for name, edges in bucket_edges.items()}
        splits.require_evaluable(rows.users, len(users.labels), labels, config, source)
        _write(rows, labels, maps, vocabularies, features, tokens, config, output_dir, stats)
    except _sql_errors() as error:  # evaluated when an exception arrives, so after any SQL ran
        raise DataError(f"{source}: {table_reader.first_line(error)}{table_reader.encoding_hint(error, config)}") from error
    entity_tables.complete(output_dir, vocabularies, stats, source)
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
              *config.purchase_features]
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


def _clean(table: pa.Table, config: PrepConfig, source: str, stats: dict[str, Any], columns: _Columns,
           numbers: dict[str, np.ndarray], texts: dict[str, np.ndarray]) -> _Rows:
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
        return _Rows(users.codes, items.codes, times, {name: column.codes for name, column in columns.features.items()}, numbers, texts)
    rows = np.flatnonzero(keep)
    if config.dedupe:
        rows = _first_of_each_pair(rows, users.codes, items.codes, times)
    stats["rows_dropped_duplicate"] = kept - len(rows)
    return _Rows(
        users=users.codes[rows],
        items=items.codes[rows],
        times=None if times is None else times[rows],
        features={name: column.codes[rows] for name, column in columns.features.items()},
        numbers={name: values[rows] for name, values in numbers.items()},
        texts={name: codes[rows] for name, codes in texts.items()},
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


@dataclass(frozen=True)
class _IndexMaps:
    """Code -> index for users and items (those seen in training first: indices below
    known_users / known_items); code -> feature index (0: empty or unseen in training) per feature."""

    users: np.ndarray
    items: np.ndarray
    features: dict[str, np.ndarray]
    known_users: int
    known_items: int


def _index_map(codes: np.ndarray, in_train: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Every code present, those in training first, each part in code (= label) order; the
    code -> index map; and how many were in training."""
    if not size:
        return np.zeros(0, np.int64), np.zeros(0, np.int32), 0
    trained = np.bincount(codes[in_train], minlength=size) > 0
    present = np.bincount(codes, minlength=size) > 0
    order = np.concatenate([np.flatnonzero(trained), np.flatnonzero(present & ~trained)])
    mapping = np.full(size, MISSING, np.int32)
    mapping[order] = np.arange(len(order), dtype=np.int32)
    return order, mapping, int(trained.sum())


def _vocabularies(rows: _Rows, labels: np.ndarray, users: EncodedColumn, items: EncodedColumn, features: dict[str, EncodedColumn],
                  config: PrepConfig, source: str) -> tuple[dict[str, Any], _IndexMaps]:
    """Every user and item, those seen in training first (each part sorted by text); feature values
    seen in training, sorted by text (numeric buckets in their order)."""
    train = labels == TRAIN
    user_codes, user_map, known_users = _index_map(rows.users, train, len(users.labels))
    item_codes, item_map, known_items = _index_map(rows.items, train, len(items.labels))
    if known_users < 2 or known_items < 2:
        raise DataError(f"{source}: training split has {known_users} user(s) and {known_items} item(s); "
                        "a retrieval model needs at least 2 of each")
    feature_vocabularies, feature_maps = {}, {}
    for name, column in features.items():
        codes = rows.features[name][train]
        seen = np.flatnonzero(np.bincount(codes[codes != MISSING], minlength=len(column.labels)) > 0)
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
    return vocabularies, _IndexMaps(user_map, item_map, feature_maps, known_users, known_items)


def _text_vocabularies(rows: _Rows, labels: np.ndarray, texts: dict[str, EncodedColumn], config: PrepConfig,
                       vocabularies: dict[str, Any]) -> dict[str, np.ndarray]:
    """Each text feature's words from its training texts (into `vocabularies`), and its token matrix: row c holds the
    words of distinct text c (data.text_features)."""
    matrices = {}
    for kind, names in (("user", config.user_text_features), ("item", config.item_text_features)):
        vocabularies[TEXT_FEATURES[kind]] = {}
        for name in names:
            codes = rows.texts[name][labels == TRAIN]
            words = text_features.vocabulary(texts[name].labels[np.unique(codes[codes != MISSING])])
            vocabularies[TEXT_FEATURES[kind]][name] = words
            # The last row, for MISSING (-1): no words.
            matrices[name] = np.vstack([text_features.token_matrix(texts[name].labels, words), np.zeros((1, text_features.TOKENS),
                                                                                                         np.int32)])
    return matrices


def _feature_indices(maps: _IndexMaps, name: str, codes: np.ndarray) -> np.ndarray:
    return maps.features[name][codes]  # MISSING (-1) reads the last slot, 0


def _write(rows: _Rows, labels: np.ndarray, maps: _IndexMaps, vocabularies: dict[str, Any], features: dict[str, EncodedColumn],
           tokens: dict[str, np.ndarray], config: PrepConfig, output_dir: str, stats: dict[str, Any]) -> None:
    """Per split: the indices joined, written as Parquet; then the entity tables and the remaining
    stats, which count the validation and test rows by customers or of products new to them."""
    import pyarrow.parquet as pq

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    user_index, item_index = maps.users[rows.users], maps.items[rows.items]
    user_ids, item_ids = pa.array(vocabularies["user_id"], pa.string()), pa.array(vocabularies["item_id"], pa.string())
    feature_text = {name: pa.array([*column.labels.tolist(), ""], pa.string()) for name, column in features.items()}
    text_columns = [USER, ITEM, *features]
    tables: dict[str, pa.Table] = {}
    stats.update(_new_rows(labels, user_index, item_index, len(vocabularies["user_id"]), len(vocabularies["item_id"])))
    for split, name in enumerate(SPLITS):
        chosen = labels == split
        count = int(chosen.sum())
        stats[f"{name}_rows"] = count
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
        for kind, index in (("user", user_index), ("item", item_index)):
            texts = {name: tokens[name] for name in vocabularies[TEXT_FEATURES[kind]]}
            _write_entities(kind, index, train, rows, maps, vocabularies[f"{kind}_id"], config.indexed_features(kind), texts, out)
        for written in writes:
            written.result()
    times = rows.times
    stats.update(
        users=len(vocabularies["user_id"]),
        items=len(vocabularies["item_id"]),
        **{KNOWN_USERS: maps.known_users, KNOWN_ITEMS: maps.known_items},
        density=stats["train_rows"] / float(maps.known_users * maps.known_items),
        date_min=iso(times.min()) if times is not None else None,
        date_max=iso(times.max()) if times is not None else None,
        test_start=iso(times[labels == TEST].min()) if times is not None and (labels == TEST).any() else None,
    )


def _new_rows(labels: np.ndarray, users: np.ndarray, items: np.ndarray, num_users: int, num_items: int) -> dict[str, int]:
    """Validation and test rows by customers, or of products, with no purchase before that split
    (training for validation; training and validation for test): the cold-start rows."""
    counts = {}
    for split, name in ((VAL, "val"), (TEST, "test")):
        before, rows = labels < split, labels == split
        bought_user = np.bincount(users[before], minlength=num_users) > 0
        bought_item = np.bincount(items[before], minlength=num_items) > 0
        counts.update(new_rows_stats(name, int((rows & ~bought_user[users]).sum()), int((rows & ~bought_item[items]).sum())))
    return counts


def _write_entities(kind: str, index: np.ndarray, train: np.ndarray, rows: _Rows, maps: _IndexMaps, ids: list[str],
                    features: tuple[str, ...], texts: dict[str, np.ndarray], out: Path) -> None:
    """One row per user or item: its feature values as indices (0 when none) and its texts' words
    (`texts`: each text feature's token matrix by text code), from its latest training row, or for
    one first seen after training from its first row (what a catalog or an account knows when it
    starts buying)."""
    import pyarrow.parquet as pq

    columns: dict[str, Any] = {f"{kind}_idx": pa.array(np.arange(len(ids), dtype=np.int32)), f"{kind}_id": pa.array(ids, pa.string())}
    if features or texts:
        latest = _extreme_rows(np.flatnonzero(train), index, rows.times, len(ids), latest=True)
        first = _extreme_rows(np.flatnonzero(~train), index, rows.times, len(ids), latest=False)
        chosen = np.where(latest >= 0, latest, first)
        for feature in features:
            codes = np.where(chosen >= 0, rows.features[feature][np.maximum(chosen, 0)], MISSING)
            columns[f"{feature}_idx"] = pa.array(_feature_indices(maps, feature, codes))
        for feature, matrix in texts.items():
            codes = np.where(chosen >= 0, rows.texts[feature][np.maximum(chosen, 0)], MISSING)
            columns[feature + TOKENS_SUFFIX] = pa.FixedSizeListArray.from_arrays(pa.array(matrix[codes].ravel()), text_features.TOKENS)
    pq.write_table(pa.table(columns), out / f"{kind}s.parquet")


def _extreme_rows(positions: np.ndarray, index: np.ndarray, times: np.ndarray | None, size: int, latest: bool) -> np.ndarray:
    """Per entity, the row among `positions` with the latest (ties: the last in the file) or the
    earliest time (ties: the first); -1 for an entity with none. No sort."""
    entity = index[positions]
    when = times[positions] if times is not None else np.zeros(len(positions), np.int64)
    sign = 1 if latest else -1  # the earliest is the latest of the negated times and positions
    extreme = np.full(size, NO_TIME, np.int64)
    np.maximum.at(extreme, entity, sign * when)
    at_extreme = sign * when == extreme[entity]
    chosen = np.full(size, NO_TIME, np.int64)
    np.maximum.at(chosen, entity[at_extreme], sign * positions[at_extreme])
    return np.where(chosen == NO_TIME, -1, sign * chosen)
