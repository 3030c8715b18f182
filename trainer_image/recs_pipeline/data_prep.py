"""Interaction table in, clean integer-indexed splits and vocabularies out, in one DuckDB pass.

The file is read once into a narrow table (ids as strings, "17850.0" == "17850", timestamps
parsed, the user's row filter applied); splits, vocabularies and entity tables are SQL over that
table, written straight to Parquet. Validation and test rows whose user or item is unseen in
training are dropped and counted: cold start is reported, never mixed into recall.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recs_pipeline.config import PrepConfig

SPLITS = ("train", "val", "test")
USER, ITEM, TIME = "user_id", "item_id", "timestamp"
STATS_FILE = "data_stats.json"
VOCAB_FILE = "vocabularies.json"
TIMESTAMP_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y")
MEMORY_LIMIT = "3GB"


class DataError(ValueError):
    """Bad input data; the message names the file, column, row or value."""


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


def connect():
    """An in-memory DuckDB bounded in memory (it spills to disk beyond) and in threads."""
    import duckdb

    return duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "preserve_insertion_order": False})


def _q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    """A quoted SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def prepare_frame(frame: pd.DataFrame, config: PrepConfig, output_dir: str, source: str = "<data frame>") -> dict[str, Any]:
    """Prepare an in-memory table (the embedded synthetic data, or tests)."""
    con = connect()
    con.register("input_frame", frame)
    return _prepare(con, "input_frame", config, output_dir, source)


def prepare_files(files: list[str], file_format: str, config: PrepConfig, output_dir: str, source: str) -> dict[str, Any]:
    """Prepare CSV or Parquet files (already local)."""
    import duckdb

    con = connect()
    listing = "[" + ", ".join(_lit(f) for f in files) + "]"
    if file_format == "parquet":
        reader = f"read_parquet({listing}, union_by_name = true)"
    else:
        options = ["header = true", f"encoding = {_lit(config.encoding)}", "sample_size = 100000"]
        if config.delimiter:
            options.append(f"delim = {_lit(config.delimiter)}")
        reader = f"read_csv({listing}, {', '.join(options)})"
    try:
        con.execute(f"CREATE VIEW input_files AS SELECT * FROM {reader}")
        con.execute("SELECT * FROM input_files LIMIT 0")
    except duckdb.Error as error:
        raise DataError(f"cannot read {source}: {_first_line(error)}{_encoding_hint(error, config)}") from error
    return _prepare(con, "input_files", config, output_dir, source)


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0]


def _encoding_hint(error: BaseException, config: PrepConfig) -> str:
    text = str(error).lower()
    if "unicode" in text or "utf-8" in text or "encoding" in text:
        return f" (the file is not {config.encoding} text: pass --encoding, e.g. latin-1)"
    return ""


def public_source(source: str) -> str:
    """How the stats (and so the published history) name the input: a gs:// URI as given, a local
    path by its last part only, so no user's folder names leave the machine. Errors still show
    the full path, to the user who gave it."""
    if "://" in source or "/" not in source:
        return source
    return f"{Path(source).name} (local)"


def _prepare(con, table: str, config: PrepConfig, output_dir: str, source: str) -> dict[str, Any]:
    import duckdb

    types = {row[0]: row[1] for row in con.execute(f"DESCRIBE {table}").fetchall()}
    _require_columns(list(types), config, source)
    stats: dict[str, Any] = {"source": public_source(source)}
    try:
        _load(con, table, types, config, source, stats)
        _label_splits(con, config, source)
        vocabularies = _vocabularies(con, config, source)
        _write(con, config, output_dir, stats, vocabularies)
    except duckdb.Error as error:
        raise DataError(f"{source}: {_first_line(error)}{_encoding_hint(error, config)}") from error
    Path(output_dir, VOCAB_FILE).write_text(json.dumps(vocabularies))
    Path(output_dir, STATS_FILE).write_text(json.dumps(stats, indent=2))
    return stats


def _require_columns(columns: list[str], config: PrepConfig, source: str) -> None:
    wanted = [config.user_column, config.item_column, *([config.timestamp_column] if config.timestamp_column else []),
              *config.user_features, *config.item_features]
    missing = [name for name in wanted if name not in columns]
    if missing:
        found = ", ".join(columns) or "(none)"
        hint = ""
        if len(columns) == 1 and any(sep in columns[0] for sep in (";", "\t", "|", ",")):
            hint = " (one column whose name contains a separator: is --delimiter wrong?)"
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}; columns found: {found}{hint}")


INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")


def _id_sql(column: str, column_type: str) -> str:
    """Ids as trimmed strings; integer-like floats lose their '.0' ("17850.0" == "17850"); empty is missing.

    Chosen by the column's type, so the common cases need no regular expression per row."""
    value = _q(column)
    if column_type in INTEGER_TYPES:
        return f"CAST({value} AS VARCHAR)"
    if column_type in ("DOUBLE", "FLOAT") or column_type.startswith("DECIMAL"):
        return (f"CASE WHEN {value} = trunc({value}) AND abs({value}) < 1e15 THEN CAST(CAST({value} AS BIGINT) AS VARCHAR) "
                f"ELSE CAST({value} AS VARCHAR) END")
    text = f"trim(CAST({value} AS VARCHAR))"
    return f"nullif(CASE WHEN contains({text}, '.') THEN regexp_replace({text}, '^(-?[0-9]+)\\.0+$', '\\1') ELSE {text} END, '')"


def _time_sql(column: str, column_type: str, config: PrepConfig) -> str:
    if column_type.startswith("TIMESTAMP") or column_type == "DATE":
        return f"CAST({_q(column)} AS TIMESTAMP)"
    formats = [config.timestamp_format] if config.timestamp_format else list(TIMESTAMP_FORMATS)
    text = f"trim(CAST({_q(column)} AS VARCHAR))"
    return f"coalesce(TRY_CAST({text} AS TIMESTAMP), try_strptime({text}, [{', '.join(map(_lit, formats))}]))"


def _load(con, table: str, types: dict[str, str], config: PrepConfig, source: str, stats: dict[str, Any]) -> None:
    """The one pass over the input: ids normalised, time parsed, the user's filter as a flag, only
    the columns used kept. Everything after works on this narrow table."""
    import duckdb

    features = [*config.user_features, *config.item_features]
    time_sql = _time_sql(config.timestamp_column, types[config.timestamp_column], config) if config.timestamp_column else "CAST(NULL AS TIMESTAMP)"
    feature_sql = "".join(f", coalesce(CAST({_q(name)} AS VARCHAR), '') AS {_q(name)}" for name in features)
    passes = f"coalesce(({config.where}), false)" if config.where else "true"
    try:
        con.execute(
            f"CREATE TABLE loaded AS SELECT {_id_sql(config.user_column, types[config.user_column])} AS user_id, "
            f"{_id_sql(config.item_column, types[config.item_column])} AS item_id, {time_sql} AS timestamp{feature_sql}, "
            f"{passes} AS passes FROM {table}"
        )
    except duckdb.Error as error:
        if config.where:  # most likely the user's condition: name it
            raise DataError(f"{source}: cannot apply --where {config.where!r}: {_first_line(error)}") from error
        raise
    rows_in, filtered_out, null_user, null_item, bad_time = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE NOT passes), count(*) FILTER (WHERE passes AND user_id IS NULL), "
        "count(*) FILTER (WHERE passes AND user_id IS NOT NULL AND item_id IS NULL), "
        "count(*) FILTER (WHERE passes AND user_id IS NOT NULL AND item_id IS NOT NULL AND timestamp IS NULL) FROM loaded"
    ).fetchone()
    stats.update(rows_in=rows_in, rows_filtered_out=filtered_out, rows_dropped_null_user=null_user, rows_dropped_null_item=null_item)
    kept = rows_in - filtered_out - null_user - null_item
    if kept == 0:
        raise DataError(f"{source}: no rows left after filtering and dropping rows with an empty user or item")
    if config.timestamp_column and bad_time:
        _report_bad_time(con, table, types, config, source)
    keep = "passes AND user_id IS NOT NULL AND item_id IS NOT NULL"
    if config.dedupe:
        dedupe = "QUALIFY row_number() OVER (PARTITION BY user_id, item_id ORDER BY timestamp) = 1"
        con.execute(f"CREATE TABLE clean AS SELECT * EXCLUDE (passes) FROM loaded WHERE {keep} {dedupe}")
        con.execute("DROP TABLE loaded")
    else:  # a view: the rows are labelled in the same pass that filters them
        con.execute(f"CREATE VIEW clean AS SELECT * EXCLUDE (passes) FROM loaded WHERE {keep}")
    stats["rows_dropped_duplicate"] = kept - con.execute("SELECT count(*) FROM clean").fetchone()[0]


def _report_bad_time(con, table: str, types: dict[str, str], config: PrepConfig, source: str) -> None:
    """Find the first unparseable timestamp in the input and stop, showing its value and row."""
    column = config.timestamp_column
    row = con.execute(
        f"SELECT n, raw FROM (SELECT row_number() OVER () AS n, CAST({_q(column)} AS VARCHAR) AS raw, "
        f"{_time_sql(column, types[column], config)} AS parsed FROM {table}) WHERE parsed IS NULL ORDER BY n LIMIT 1"
    ).fetchone()
    where, value = (f"row {row[0]}", row[1]) if row else ("a row", None)
    shown = "an empty value" if value is None or not value.strip() else repr(value)
    hint = "" if config.timestamp_format else " (pass --timestamp-format, e.g. '%d/%m/%Y %H:%M')"
    raise DataError(f"{source}: column {column!r}, {where}: cannot parse timestamp {shown}{hint}")


def _label_splits(con, config: PrepConfig, source: str) -> None:
    """Temporal (by --test-start, or the time quantile of --test-fraction; validation is the end of
    train by time) or random (seeded, by a hash of the row, so it is the same on every machine).
    Cut-offs are computed first, then every row is labelled in one pass."""
    if config.split == "random" or not config.timestamp_column:
        draw = f"(hash(user_id, item_id, coalesce(CAST(timestamp AS VARCHAR), ''), {int(config.seed)}) % 1000000) / 1000000.0"
        val_bound = config.test_fraction + config.val_fraction * (1 - config.test_fraction)
        label = f"CASE WHEN {draw} < {config.test_fraction} THEN 'test' WHEN {draw} < {val_bound} THEN 'val' ELSE 'train' END"
    else:
        if config.test_start:
            test_cut = con.execute(f"SELECT {_lit(config.test_start)}::TIMESTAMP").fetchone()[0]
        else:
            test_cut = con.execute(f"SELECT quantile_disc(timestamp, {1 - config.test_fraction}) FROM clean").fetchone()[0]
        val_cut = con.execute(f"SELECT quantile_disc(timestamp, {1 - config.val_fraction}) FROM clean WHERE timestamp < $1", [test_cut]).fetchone()[0]
        if val_cut is None:
            raise DataError(f"{source}: the training split is empty; is --test-start before all the data?")
        label = f"CASE WHEN timestamp >= {_lit(str(test_cut))}::TIMESTAMP THEN 'test' WHEN timestamp >= {_lit(str(val_cut))}::TIMESTAMP THEN 'val' ELSE 'train' END"
    con.execute(f"CREATE TABLE part AS SELECT *, {label} AS split FROM clean")
    kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = 'clean'").fetchone()[0]
    con.execute("DROP VIEW clean" if kind == "VIEW" else "DROP TABLE clean")
    con.execute("DROP TABLE IF EXISTS loaded")
    if con.execute("SELECT count(*) FROM part WHERE split = 'train'").fetchone()[0] == 0:
        raise DataError(f"{source}: the training split is empty")


def _vocabularies(con, config: PrepConfig, source: str) -> dict[str, Any]:
    con.execute("CREATE TABLE users AS SELECT user_id, CAST(row_number() OVER (ORDER BY user_id) - 1 AS INTEGER) AS user_idx "
                "FROM (SELECT DISTINCT user_id FROM part WHERE split = 'train')")
    con.execute("CREATE TABLE items AS SELECT item_id, CAST(row_number() OVER (ORDER BY item_id) - 1 AS INTEGER) AS item_idx "
                "FROM (SELECT DISTINCT item_id FROM part WHERE split = 'train')")
    users = [row[0] for row in con.execute("SELECT user_id FROM users ORDER BY user_idx").fetchall()]
    items = [row[0] for row in con.execute("SELECT item_id FROM items ORDER BY item_idx").fetchall()]
    if len(users) < 2 or len(items) < 2:
        raise DataError(f"{source}: training split has {len(users)} user(s) and {len(items)} item(s); a retrieval model needs at least 2 of each")

    def feature_vocab(name: str) -> list[str]:
        values = con.execute(f"SELECT DISTINCT {_q(name)} FROM part WHERE split = 'train' AND {_q(name)} <> '' ORDER BY 1").fetchall()
        return ["", *(row[0] for row in values)]  # index 0: empty or unseen

    return {
        "user_id": users,
        "item_id": items,
        "user_features": {name: feature_vocab(name) for name in config.user_features},
        "item_features": {name: feature_vocab(name) for name in config.item_features},
    }


def _feature_index_sql(name: str, vocab: list[str]) -> str:
    lookup = f"list_position([{', '.join(map(_lit, vocab[1:]))}]::VARCHAR[], {_q(name)})" if len(vocab) > 1 else "NULL"
    return f"CAST(coalesce({lookup}, 0) AS INTEGER) AS {_q(name + '_idx')}"


def _write(con, config: PrepConfig, output_dir: str, stats: dict[str, Any], vocabularies: dict[str, Any]) -> None:
    """Per split: join the indices (inner joins drop cold-start rows, counted) and write Parquet.

    Row order in the files is whatever the threads produced (keeping insertion order costs a third
    of the run); `load` puts rows in a canonical order."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    features = {**vocabularies["user_features"], **vocabularies["item_features"]}
    feature_columns = "".join(f", p.{_q(name)}" for name in features)
    feature_indices = "".join(f", {_feature_index_sql(name, vocab)}" for name, vocab in features.items())
    totals = dict(con.execute("SELECT split, count(*) FROM part GROUP BY split").fetchall())
    for name in SPLITS:
        written = con.execute(
            f"COPY (SELECT p.user_id, p.item_id, p.timestamp{feature_columns}, u.user_idx, i.item_idx{feature_indices} "
            f"FROM part p JOIN users u USING (user_id) JOIN items i USING (item_id) WHERE p.split = '{name}') "
            f"TO {_lit(str(out / f'{name}.parquet'))} (FORMAT parquet)"
        ).fetchone()[0]
        stats[f"{name}_rows"] = written
        if name != "train":
            stats[f"{name}_rows_dropped_cold_start"] = totals.get(name, 0) - written
            if written == 0:
                raise DataError(f"{stats['source']}: the {name} split is empty after dropping cold-start rows; use more data or a larger {name} fraction")
    _write_entities(con, "user", vocabularies["user_features"], out)
    _write_entities(con, "item", vocabularies["item_features"], out)
    low, high, test_start = con.execute("SELECT min(timestamp), max(timestamp), min(timestamp) FILTER (WHERE split = 'test') FROM part").fetchone()
    stats.update(
        users=len(vocabularies["user_id"]),
        items=len(vocabularies["item_id"]),
        density=stats["train_rows"] / float(len(vocabularies["user_id"]) * len(vocabularies["item_id"])),
        date_min=low.isoformat() if low else None,
        date_max=high.isoformat() if high else None,
        test_start=test_start.isoformat() if test_start else None,
    )


def _write_entities(con, kind: str, features: dict[str, list[str]], out: Path) -> None:
    """One row per user or item: its latest feature values in training, as indices (0 when none)."""
    index, ident = f"{kind}_idx", f"{kind}_id"
    latest = "".join(f", arg_max({_q(name)}, timestamp) AS {_q(name)}" for name in features)
    indices = "".join(f", {_feature_index_sql(name, vocab)}" for name, vocab in features.items())
    con.execute(
        f"COPY (SELECT e.{index}, e.{ident}{indices} FROM {kind}s e "
        f"LEFT JOIN (SELECT {ident}{latest} FROM part WHERE split = 'train' GROUP BY {ident}) l USING ({ident}) "
        f"ORDER BY e.{index}) TO {_lit(str(out / f'{kind}s.parquet'))} (FORMAT parquet)"
    )


def _in_canonical_order(split: pd.DataFrame) -> pd.DataFrame:
    """Rows by (timestamp, user, item): the files' row order depends on DuckDB's threads, and the
    trainer's seeded shuffle must see the same order every time to give the same model."""
    keys = [split["item_idx"].to_numpy(), split["user_idx"].to_numpy()]
    if split["timestamp"].notna().all():
        keys.append(split["timestamp"].to_numpy())
    return split.take(np.lexsort(keys)).reset_index(drop=True)


def _entity_table(path: Path, index: str) -> pd.DataFrame:
    """Users or items with row i holding index i, which every embedding lookup relies on."""
    table = pd.read_parquet(path).sort_values(index, ignore_index=True)
    if not np.array_equal(table[index].to_numpy(), np.arange(len(table))):
        raise DataError(f"{path}: column {index} is not 0..{len(table) - 1}; the prepared folder is damaged")
    return table


def load(folder: str) -> PreparedData:
    """Read back what the prepare functions wrote, in canonical row order."""
    src = Path(folder)
    return PreparedData(
        splits={name: _in_canonical_order(pd.read_parquet(src / f"{name}.parquet")) for name in SPLITS},
        users=_entity_table(src / "users.parquet", "user_idx"),
        items=_entity_table(src / "items.parquet", "item_idx"),
        vocabularies=json.loads((src / VOCAB_FILE).read_text()),
        stats=json.loads((src / STATS_FILE).read_text()),
    )
