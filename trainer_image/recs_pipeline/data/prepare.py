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
from recs_pipeline.data import identifiers, numeric_features, split_files, splits, table_reader, timestamps, vocabulary
from recs_pipeline.data.entity_tables import EntityTables
from recs_pipeline.data.identifiers import MISSING, EncodedColumn
from recs_pipeline.data.kept_rows import Rows
from recs_pipeline.data.prepared_data import BUCKET_EDGES, STATS_FILE, VOCAB_FILE
from recs_pipeline.data.splits import SPLIT_ORDER, TRAIN
from recs_pipeline.data.timestamps import NO_TIME

MEMORY_LIMIT = "3GB"


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
        parts = splits.split_rows(con, rows, users.labels, items.labels, config, source)
        bucket_edges = {}
        for name, values in rows.numbers.items():
            features[name], bucket_edges[name] = numeric_features.bucketise(values, parts.take(values, TRAIN))
            rows.features[name] = features[name].codes
        # Each split's id codes (and their row counts) and times, and each feature's training codes
        # (its vocabulary's), taken side by side: NumPy's gathers release the GIL. A feature's codes
        # per split are taken again by each shard's writer, and freed with it.
        with ThreadPoolExecutor(max_workers=max(3, os.cpu_count() or 1)) as pool:
            user_job, item_job = (pool.submit(_by_split, parts, values, len(labels)) for values, labels in ((rows.users, users.labels),
                                                                                                            (rows.items, items.labels)))
            time_job = pool.submit(_by_split, parts, rows.times) if rows.times is not None else None
            feature_jobs = {name: pool.submit(parts.take, values, TRAIN) for name, values in rows.features.items()}
            (user_codes, user_counts), (item_codes, item_counts) = user_job.result(), item_job.result()
            split_times = time_job.result()[0] if time_job is not None else None
            train_features = {name: job.result() for name, job in feature_jobs.items()}
        codes, counts = {"user": user_codes, "item": item_codes}, {"user": user_counts, "item": item_counts}
        vocabularies, maps = vocabulary.build(train_features, counts["user"], counts["item"], users, items, features, config, source)
        del train_features
        tokens = vocabulary.text_vocabularies(rows, parts, texts, config, vocabularies)
        vocabularies[BUCKET_EDGES] = {name: edges.tolist() for name, edges in bucket_edges.items()}
        splits.require_evaluable(counts["user"], config, source)
        split_files.write(rows, parts, codes, split_times, counts, maps, vocabularies, tokens, config, output_dir, stats)
    except _sql_errors() as error:  # evaluated when an exception arrives, so after any SQL ran
        raise DataError(f"{source}: {table_reader.first_line(error)}{table_reader.encoding_hint(error, config)}") from error
    entity_tables.complete(output_dir, vocabularies, stats, source)
    Path(output_dir, VOCAB_FILE).write_text(json.dumps(vocabularies))
    Path(output_dir, STATS_FILE).write_text(json.dumps(stats, indent=2))
    return stats


def _by_split(parts: splits.SplitRows, values: np.ndarray, labels: int | None = None) -> tuple[tuple[np.ndarray, ...], np.ndarray | None]:
    """Each split's `values`; for codes of `labels` distinct labels, also how many rows of each split hold each (splits.counts)."""
    taken = tuple(parts.take(values, split) for split in SPLIT_ORDER)
    return taken, splits.counts(taken, labels) if labels is not None else None


@dataclass(frozen=True)
class _Columns:
    """Every input row, reduced to what data prep needs."""

    users: EncodedColumn
    items: EncodedColumn
    features: dict[str, EncodedColumn]
    passes: np.ndarray | None  # the --where condition (None without one)
    times: timestamps.ParsedTimes | None  # None without a timestamp column


def _read_columns(con, table: pa.Table, config: PrepConfig, source: str) -> _Columns:
    """Ids and features encoded while DuckDB evaluates --where and parses time, side by side
    (pyarrow's hashing and DuckDB both release the GIL)."""
    names = (*config.user_features, *config.item_features)

    def sql_columns() -> tuple[np.ndarray | None, timestamps.ParsedTimes | None]:
        times = timestamps.parse(con, table, config.timestamp_column, config.timestamp_format, source) if config.timestamp_column else None
        return _passes(con, table, config, source), times

    # At least three threads, more than two cores: one per core would run the users' and items'
    # encodings one after the other behind the time parse. More columns than threads queue.
    with ThreadPoolExecutor(max_workers=max(3, os.cpu_count() or 1)) as pool:
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


def _passes(con, table: pa.Table, config: PrepConfig, source: str) -> np.ndarray | None:
    """The user's --where condition per row (a row where it is NULL does not pass); None without one."""
    if not config.where:
        return None
    import duckdb

    try:
        result = con.sql(f"SELECT coalesce(({config.where}), false) AS passes FROM input_table").to_arrow_table()["passes"]
    except duckdb.Error as error:
        raise DataError(f"{source}: cannot apply --where {config.where!r}: {table_reader.first_line(error)}") from error
    return result.to_numpy(zero_copy_only=False).astype(bool, copy=False)


def _clean(table: pa.Table, config: PrepConfig, source: str, stats: dict[str, Any], columns: _Columns,
           numbers: dict[str, np.ndarray], texts: dict[str, np.ndarray]) -> Rows:
    """Which rows to keep: those that pass the filter with a user and an item (and, with --dedupe,
    the first purchase of each pair); every dropped row is counted by reason."""
    passes, users, items = columns.passes, columns.users, columns.items
    times = columns.times.micros if columns.times is not None else None
    stats.update(rows_in=int(table.num_rows))
    if passes is None and users.complete and items.complete:  # no --where, no empty id: every row passes (no pass over them)
        keep = None
        stats.update(rows_filtered_out=0, rows_dropped_null_user=0, rows_dropped_null_item=0)
    else:  # a row is dropped for the first of these reasons it meets; a complete id column drops none (no pass over it)
        keep = np.ones(table.num_rows, dtype=bool) if passes is None else passes
        stats["rows_filtered_out"] = table.num_rows - int(np.count_nonzero(keep))
        for kind, column in (("user", users), ("item", items)):
            dropped = 0
            if not column.complete:
                has_id = column.codes != MISSING
                dropped = int(np.count_nonzero(keep & ~has_id))
                keep = keep & has_id
            stats[f"rows_dropped_null_{kind}"] = dropped
    kept = table.num_rows if keep is None else int(np.count_nonzero(keep))
    if kept == 0:
        raise DataError(f"{source}: no rows left after filtering and dropping rows with an empty user or item")
    # NO_TIME is the smallest int64: one reduction tells whether any time failed to parse, before looking for the first kept one.
    if (times is not None and len(times) and times.min() == NO_TIME
            and (bad := (times == NO_TIME) if keep is None else keep & (times == NO_TIME)).any()):
        _report_bad_time(table, config, source, int(np.argmax(bad)))
    features = {name: column.codes for name, column in columns.features.items()}
    if kept == table.num_rows and not config.dedupe:  # every row kept (a clean log)
        stats["rows_dropped_duplicate"] = 0
        return Rows(users.codes, items.codes, times, features, numbers, texts, None)
    if config.dedupe:
        rows = _first_of_each_pair(np.arange(table.num_rows) if keep is None else np.flatnonzero(keep), users.codes, items.codes, times)
        keep = np.zeros(table.num_rows, dtype=bool)
        keep[rows] = True
    stats["rows_dropped_duplicate"] = kept - int(np.count_nonzero(keep))
    return Rows(users.codes, items.codes, times, features, numbers, texts, keep)


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
    hint = (f" with --timestamp-format {config.timestamp_format!r}" if config.timestamp_format else
            " (pass --timestamp-format: a strptime format such as '%d/%m/%Y %H:%M', or epoch_s, epoch_ms)")
    raise DataError(f"{source}: column {config.timestamp_column!r}, row {row + 1}: cannot parse timestamp {shown}{hint}")
