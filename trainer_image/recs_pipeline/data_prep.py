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


def _prepare(con, table: str, config: PrepConfig, output_dir: str, source: str) -> dict[str, Any]:
    import duckdb

    columns = [row[0] for row in con.execute(f"DESCRIBE {table}").fetchall()]
    _require_columns(columns, config, source)
    stats: dict[str, Any] = {"source": source}
    try:
        stats["rows_in"] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        _clean(con, table, config, source, stats)
        _split(con, config, source, stats)
        vocabularies = _vocabularies(con, config, source)
        _index_and_write(con, config, output_dir, stats, vocabularies)
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


def _id_sql(column: str) -> str:
    """Ids as trimmed strings, integer-like floats without their '.0'; empty means missing."""
    return f"nullif(regexp_replace(trim(CAST({_q(column)} AS VARCHAR)), '^(-?[0-9]+)\\.0+$', '\\1'), '')"


def _time_sql(column: str, config: PrepConfig, typed: bool) -> str:
    if typed:
        return f"CAST({_q(column)} AS TIMESTAMP)"
    formats = [config.timestamp_format] if config.timestamp_format else list(TIMESTAMP_FORMATS)
    text = f"trim(CAST({_q(column)} AS VARCHAR))"
    return f"coalesce(TRY_CAST({text} AS TIMESTAMP), try_strptime({text}, [{', '.join(map(_lit, formats))}]))"


def _clean(con, table: str, config: PrepConfig, source: str, stats: dict[str, Any]) -> None:
    """One pass over the input: filter, normalise ids, parse time, keep only the columns used."""
    features = [*config.user_features, *config.item_features]
    types = dict((row[0], row[1]) for row in con.execute(f"DESCRIBE {table}").fetchall())
    time_column = config.timestamp_column
    typed_time = bool(time_column) and (types[time_column].startswith("TIMESTAMP") or types[time_column] == "DATE")
    time_select = _time_sql(time_column, config, typed_time) if time_column else "CAST(NULL AS TIMESTAMP)"
    raw_time = f"CAST({_q(time_column)} AS VARCHAR)" if time_column else "NULL"
    feature_select = "".join(f", coalesce(CAST({_q(name)} AS VARCHAR), '') AS {_q(name)}" for name in features)
    where = f"WHERE ({config.where})" if config.where else ""
    import duckdb

    try:
        con.execute(
            f"CREATE TABLE filtered AS SELECT {_id_sql(config.user_column)} AS user_id, {_id_sql(config.item_column)} AS item_id, "
            f"{time_select} AS timestamp, {raw_time} AS raw_time{feature_select} FROM {table} {where}"
        )
    except duckdb.Error as error:
        if config.where:  # most likely the user's condition: name it
            raise DataError(f"{source}: cannot apply --where {config.where!r}: {_first_line(error)}") from error
        raise
    stats["rows_filtered_out"] = stats["rows_in"] - con.execute("SELECT count(*) FROM filtered").fetchone()[0]
    counts = con.execute(
        "SELECT count(*) FILTER (WHERE user_id IS NULL), count(*) FILTER (WHERE user_id IS NOT NULL AND item_id IS NULL), "
        "count(*) FILTER (WHERE user_id IS NOT NULL AND item_id IS NOT NULL) FROM filtered"
    ).fetchone()
    stats["rows_dropped_null_user"], stats["rows_dropped_null_item"], kept = counts
    if kept == 0:
        raise DataError(f"{source}: no rows left after filtering and dropping rows with an empty user or item")
    if time_column:
        _check_times(con, table, config, source)
    dedupe = "QUALIFY row_number() OVER (PARTITION BY user_id, item_id ORDER BY timestamp) = 1" if config.dedupe else ""
    columns = ", ".join(["user_id", "item_id", "timestamp", *map(_q, features)])
    con.execute(f"CREATE TABLE clean AS SELECT {columns} FROM filtered WHERE user_id IS NOT NULL AND item_id IS NOT NULL {dedupe}")
    con.execute("DROP TABLE filtered")
    stats["rows_dropped_duplicate"] = kept - con.execute("SELECT count(*) FROM clean").fetchone()[0]


def _check_times(con, table: str, config: PrepConfig, source: str) -> None:
    """An unparseable timestamp stops the run, showing its value and its row in the input."""
    bad = con.execute("SELECT raw_time FROM filtered WHERE timestamp IS NULL AND user_id IS NOT NULL AND item_id IS NOT NULL LIMIT 1").fetchone()
    if bad is None:
        return
    value = bad[0]
    row = con.execute(
        f"SELECT n FROM (SELECT row_number() OVER () AS n, CAST({_q(config.timestamp_column)} AS VARCHAR) AS v FROM {table}) "
        f"WHERE v IS NOT DISTINCT FROM {('NULL' if value is None else _lit(value))} LIMIT 1"
    ).fetchone()
    where = f"row {row[0]}" if row else "a row"
    shown = "an empty value" if value is None or not value.strip() else repr(value)
    hint = "" if config.timestamp_format else " (pass --timestamp-format, e.g. '%d/%m/%Y %H:%M')"
    raise DataError(f"{source}: column {config.timestamp_column!r}, {where}: cannot parse timestamp {shown}{hint}")


def _split(con, config: PrepConfig, source: str, stats: dict[str, Any]) -> None:
    """Temporal (by --test-start, or the time quantile of --test-fraction; validation is the end of
    train by time) or random (seeded, by a hash of the row, so it is the same on every machine)."""
    if config.split == "random" or not config.timestamp_column:
        draw = f"hash(user_id, item_id, coalesce(CAST(timestamp AS VARCHAR), ''), {int(config.seed)}) % 1000000 / 1000000.0"
        val_bound = config.test_fraction + config.val_fraction * (1 - config.test_fraction)
        con.execute(f"CREATE TABLE labelled AS SELECT *, {draw} < {config.test_fraction} AS is_test, {draw} < {val_bound} AS is_val FROM clean")
    else:
        cutoff = f"{_lit(config.test_start)}::TIMESTAMP" if config.test_start else f"(SELECT quantile_disc(timestamp, {1 - config.test_fraction}) FROM clean)"
        con.execute(f"CREATE TABLE flagged AS SELECT *, timestamp >= {cutoff} AS is_test FROM clean")
        val_cut = f"(SELECT quantile_disc(timestamp, {1 - config.val_fraction}) FROM flagged WHERE NOT is_test)"
        con.execute(f"CREATE TABLE labelled AS SELECT *, timestamp >= {val_cut} AS is_val FROM flagged")
        con.execute("DROP TABLE flagged")
    con.execute(
        "CREATE TABLE part AS SELECT * EXCLUDE (is_test, is_val), "
        "CASE WHEN is_test THEN 'test' WHEN is_val THEN 'val' ELSE 'train' END AS split FROM labelled"
    )
    con.execute("DROP TABLE labelled")
    con.execute("DROP TABLE clean")
    if con.execute("SELECT count(*) FROM part WHERE split = 'train'").fetchone()[0] == 0:
        raise DataError(f"{source}: the training split is empty; is --test-start before all the data?")


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


def _index_and_write(con, config: PrepConfig, output_dir: str, stats: dict[str, Any], vocabularies: dict[str, Any]) -> None:
    """Join indices, drop cold-start rows (counted), write splits and entity tables as Parquet."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    features = {**vocabularies["user_features"], **vocabularies["item_features"]}
    feature_columns = "".join(f", {_q(name)}" for name in features)
    feature_indices = "".join(f", {_feature_index_sql(name, vocab)}" for name, vocab in features.items())
    con.execute(
        f"CREATE TABLE indexed AS SELECT p.split, p.user_id, p.item_id, p.timestamp{feature_columns}, u.user_idx, i.item_idx{feature_indices} "
        "FROM part p JOIN users u USING (user_id) JOIN items i USING (item_id)"
    )
    kept = dict(con.execute("SELECT split, count(*) FROM indexed GROUP BY split").fetchall())
    total = dict(con.execute("SELECT split, count(*) FROM part GROUP BY split").fetchall())
    for name in ("val", "test"):
        stats[f"{name}_rows_dropped_cold_start"] = total.get(name, 0) - kept.get(name, 0)
        if kept.get(name, 0) == 0:
            raise DataError(f"{stats['source']}: the {name} split is empty after dropping cold-start rows; use more data or a larger {name} fraction")
    for name in SPLITS:
        con.execute(f"COPY (SELECT * EXCLUDE (split) FROM indexed WHERE split = '{name}' ORDER BY timestamp, user_idx) "
                    f"TO {_lit(str(out / f'{name}.parquet'))} (FORMAT parquet)")
        stats[f"{name}_rows"] = kept.get(name, 0)
    _write_entities(con, "user", vocabularies["user_features"], out)
    _write_entities(con, "item", vocabularies["item_features"], out)
    summary = con.execute("SELECT min(timestamp), max(timestamp), min(timestamp) FILTER (WHERE split = 'test') FROM indexed").fetchone()
    stats.update(
        {
            "users": len(vocabularies["user_id"]),
            "items": len(vocabularies["item_id"]),
            "density": stats["train_rows"] / float(len(vocabularies["user_id"]) * len(vocabularies["item_id"])),
            "date_min": summary[0].isoformat() if summary[0] else None,
            "date_max": summary[1].isoformat() if summary[1] else None,
            "test_start": summary[2].isoformat() if summary[2] else None,
        }
    )


def _write_entities(con, kind: str, features: dict[str, list[str]], out: Path) -> None:
    """One row per user or item: its latest feature indices in training (0 when it has none)."""
    index, ident = f"{kind}_idx", f"{kind}_id"
    columns = [_q(f"{name}_idx") for name in features]
    latest = "".join(f", arg_max({c}, timestamp) AS {c}" for c in columns)
    chosen = "".join(f", CAST(coalesce(l.{c}, 0) AS INTEGER) AS {c}" for c in columns)
    con.execute(
        f"COPY (SELECT e.{index}, e.{ident}{chosen} FROM {kind}s e "
        f"LEFT JOIN (SELECT {index}{latest} FROM indexed WHERE split = 'train' GROUP BY {index}) l USING ({index}) "
        f"ORDER BY e.{index}) TO {_lit(str(out / f'{kind}s.parquet'))} (FORMAT parquet)"
    )


def load(folder: str) -> PreparedData:
    """Read back what the prepare functions wrote."""
    src = Path(folder)
    return PreparedData(
        splits={name: pd.read_parquet(src / f"{name}.parquet") for name in SPLITS},
        users=pd.read_parquet(src / "users.parquet"),
        items=pd.read_parquet(src / "items.parquet"),
        vocabularies=json.loads((src / VOCAB_FILE).read_text()),
        stats=json.loads((src / STATS_FILE).read_text()),
    )
