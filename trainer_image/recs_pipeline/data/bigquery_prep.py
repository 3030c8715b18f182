"""Data prep inside BigQuery, for a table larger than the step's one process can hold.

The same steps as data/prepare.py, as SQL that BigQuery runs distributed: normalise ids and parse
time (one scan of the source, with --where), drop rows without a user or item, --dedupe, the split
cut-offs (APPROX_QUANTILES over the time column; a seeded FARM_FINGERPRINT for a random split),
the vocabularies (ids and feature values seen in training, sorted by text) and each entity's
latest features. Intermediate tables go to `bq_staging_dataset` and expire after a day. The three
splits leave BigQuery as Parquet by EXPORT DATA straight into the output folder's gs:// URI (on
Vertex the artifact's own, mounted at /gcs/), so they never pass through this process; the small
parts (vocabularies, users, items, stats) come back through the Storage Read API and are written here.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from recs_pipeline.core.config import PrepConfig
from recs_pipeline.core.errors import DataError
from recs_pipeline.data import bigquery
from recs_pipeline.data.bigquery import TableRef, quote
from recs_pipeline.data.prepared_data import SPLITS, STATS_FILE, VOCAB_FILE

QUANTILE_BUCKETS = 1000  # APPROX_QUANTILES resolution of the split cut-offs: 0.1% of the rows
INTEGER_LIKE = r"^(-?[0-9]+)\.0+$"  # "17850.0" is the id "17850" (as identifiers.INTEGER_LIKE)
GCS_MOUNT = "/gcs/"  # Vertex AI mounts gs://bucket/... at /gcs/bucket/...


def gcs_uri_of(output_dir: str, output_uri: str) -> str:
    """The gs:// URI of the output folder: the artifact's URI, or a /gcs/ mount path's."""
    if output_uri.startswith("gs://"):
        return output_uri.rstrip("/")
    if output_dir.startswith(GCS_MOUNT):
        return "gs://" + output_dir[len(GCS_MOUNT):].rstrip("/")
    raise DataError(f"engine bigquery exports the splits to GCS, but the output folder {output_dir} is not on gs:// "
                    "(run on Vertex AI, give an output folder under /gcs/BUCKET/ mounted by Cloud Storage FUSE, or --engine local)")


def _id_sql(column: str) -> str:
    """An id as normalised text: trimmed, integer-like floats as integers, blank = NULL."""
    return f"NULLIF(REGEXP_REPLACE(TRIM(CAST({quote(column)} AS STRING)), r'{INTEGER_LIKE}', r'\\1'), '')"


def _time_sql(config: PrepConfig) -> str:
    if not config.timestamp_column:
        return "CAST(NULL AS TIMESTAMP)"
    column = quote(config.timestamp_column)
    if config.timestamp_format:
        return f"COALESCE(SAFE_CAST({column} AS TIMESTAMP), SAFE.PARSE_TIMESTAMP('{config.timestamp_format}', CAST({column} AS STRING)))"
    return f"SAFE_CAST({column} AS TIMESTAMP)"


class _Run:
    """One prep run's tables and the bytes its jobs scanned."""

    def __init__(self, config: PrepConfig, source_sql: str, source: str):
        if not config.bq_staging_dataset:
            raise DataError(f"{source}: engine bigquery needs --bq-staging-dataset project.dataset for its tables (or --engine local)")
        project, dataset = bigquery.parse_dataset(config.bq_staging_dataset)
        self.client, self.reader = bigquery.clients(project)
        self.config, self.source_sql, self.source = config, source_sql, source
        self.prefix = f"recs_prep_{uuid.uuid4().hex[:12]}"
        self.project, self.dataset = project, dataset
        self.bytes_scanned = 0
        self.features = [*config.user_features, *config.item_features]

    def table(self, name: str) -> TableRef:
        return TableRef(self.project, self.dataset, f"{self.prefix}_{name}")

    def run(self, sql: str) -> list[dict[str, Any]]:
        try:
            job = self.client.query(sql)
            rows = [dict(row.items()) for row in job.result()]
        except bigquery.api_errors() as error:
            raise bigquery.fail(error, self.source) from error
        self.bytes_scanned += int(job.total_bytes_processed or 0)
        return rows

    def create(self, name: str, select: str) -> str:
        ref = self.table(name)
        self.run(f"CREATE TABLE {ref.sql} OPTIONS ({bigquery.expiration_option()}) AS {select}")
        return ref.sql

    def read(self, name: str):
        try:
            arrow, _ = bigquery.storage_read(self.reader, self.table(name), [])
        except bigquery.api_errors() as error:
            raise bigquery.fail(error, self.source) from error
        return arrow


def run(input_uri: str, config: PrepConfig, output_dir: str, output_uri: str) -> dict[str, Any]:
    """Prepare a BigQuery table or query inside BigQuery; returns the data stats."""
    export_uri = gcs_uri_of(output_dir, output_uri)
    if config.query:
        source, source_sql = bigquery.query_source(config.query), f"({config.query.strip().rstrip(';')})"
    else:
        ref = bigquery.parse_table(input_uri)
        source, source_sql = ref.uri, ref.sql
        _require_columns(ref, config)
    job = _Run(config, source_sql, source)
    stats: dict[str, Any] = {"source": source, "engine": "bigquery"}
    kept = _clean(job, stats)
    labelled = job.create("labelled", f"SELECT *, {_split_sql(job, kept)} AS split FROM {kept}")
    vocabularies = _vocabularies(job, labelled)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    _export_splits(job, labelled, export_uri, stats)
    _entities(job, labelled, out)
    _summary(job, labelled, stats, len(vocabularies["user_id"]), len(vocabularies["item_id"]))
    stats["bigquery_bytes_scanned"] = job.bytes_scanned
    (out / VOCAB_FILE).write_text(json.dumps(vocabularies))
    (out / STATS_FILE).write_text(json.dumps(stats, indent=2))
    return stats


def _require_columns(ref: TableRef, config: PrepConfig) -> None:
    client, _ = bigquery.clients(ref.project)
    try:
        found = [field.name for field in client.get_table(f"{ref.project}.{ref.dataset}.{ref.table}").schema]
    except bigquery.api_errors() as error:
        raise bigquery.fail(error, ref.uri) from error
    missing = [name for name in bigquery.needed_columns(config) if name not in found]
    if missing:
        raise DataError(f"{ref.uri}: missing column(s) {', '.join(missing)}; columns found: {', '.join(found) or '(none)'}")


def _clean(job: _Run, stats: dict[str, Any]) -> str:
    """One scan of the source: normalised ids, parsed time, features as text, --where; then the
    kept rows (and, with --dedupe, each pair's first purchase). Every dropped row is counted."""
    config = job.config
    features = "".join(f", IFNULL(CAST({quote(name)} AS STRING), '') AS {quote(name)}" for name in job.features)
    where = f"COALESCE(({config.where}), FALSE)" if config.where else "TRUE"
    rows = job.create("rows", f"SELECT {_id_sql(config.user_column)} AS user_id, {_id_sql(config.item_column)} AS item_id, "
                              f"{_time_sql(config)} AS `timestamp`{features}, {where} AS passes FROM {job.source_sql}")
    has_both = "passes AND user_id IS NOT NULL AND item_id IS NOT NULL"
    counts = job.run(f"SELECT COUNT(*) AS rows_in, COUNTIF(NOT passes) AS filtered, COUNTIF(passes AND user_id IS NULL) AS null_user, "
                     f"COUNTIF(passes AND user_id IS NOT NULL AND item_id IS NULL) AS null_item, COUNTIF({has_both}) AS kept, "
                     f"COUNTIF({has_both} AND `timestamp` IS NULL) AS bad_time FROM {rows}")[0]
    stats.update(rows_in=counts["rows_in"], rows_filtered_out=counts["filtered"], rows_dropped_null_user=counts["null_user"],
                 rows_dropped_null_item=counts["null_item"])
    if counts["kept"] == 0:
        raise DataError(f"{job.source}: no rows left after filtering and dropping rows with an empty user or item")
    if config.timestamp_column and counts["bad_time"]:
        _report_bad_time(job, counts["bad_time"])
    dedupe = " QUALIFY ROW_NUMBER() OVER (PARTITION BY user_id, item_id ORDER BY `timestamp`) = 1" if config.dedupe else ""
    kept = job.create("kept", f"SELECT * EXCEPT (passes) FROM {rows} WHERE {has_both}{dedupe}")
    left = job.run(f"SELECT COUNT(*) AS n FROM {kept}")[0]["n"] if config.dedupe else counts["kept"]
    stats["rows_dropped_duplicate"] = counts["kept"] - left
    return kept


def _report_bad_time(job: _Run, count: int) -> None:
    """Stop on a timestamp that does not parse, showing one such value."""
    config = job.config
    where = f"COALESCE(({config.where}), FALSE) AND " if config.where else ""
    value = job.run(f"SELECT CAST({quote(config.timestamp_column)} AS STRING) AS value FROM {job.source_sql} WHERE {where}"
                    f"{_id_sql(config.user_column)} IS NOT NULL AND {_id_sql(config.item_column)} IS NOT NULL "
                    f"AND {_time_sql(config)} IS NULL LIMIT 1")[0]["value"]
    shown = "an empty value" if value is None or not str(value).strip() else repr(str(value))
    hint = "" if config.timestamp_format else " (pass --timestamp-format, e.g. '%d/%m/%Y %H:%M')"
    raise DataError(f"{job.source}: column {config.timestamp_column!r}: cannot parse timestamp {shown} ({count} row(s)){hint}")


def _split_sql(job: _Run, kept: str) -> str:
    """'train', 'val' or 'test' per row. Temporal: test from --test-start or the (1 - test_fraction)
    time quantile, validation the end of train by time. Random: a seeded hash of the row's texts."""
    config = job.config
    if config.split == "random" or not config.timestamp_column:
        text = f"CONCAT(user_id, '|', item_id, '|', IFNULL(CAST(UNIX_MICROS(`timestamp`) AS STRING), ''), '|', '{config.seed}')"
        draw = f"MOD(ABS(FARM_FINGERPRINT({text})), 1000000) / 1000000"
        val_bound = config.test_fraction + config.val_fraction * (1 - config.test_fraction)
        return f"CASE WHEN {draw} < {config.test_fraction} THEN 'test' WHEN {draw} < {val_bound} THEN 'val' ELSE 'train' END"

    def quantile(fraction: float, condition: str = "TRUE") -> int | None:
        offset = min(max(round(fraction * QUANTILE_BUCKETS), 0), QUANTILE_BUCKETS)
        return job.run(f"SELECT UNIX_MICROS(APPROX_QUANTILES(`timestamp`, {QUANTILE_BUCKETS})[OFFSET({offset})]) AS cut "
                       f"FROM {kept} WHERE {condition}")[0]["cut"]

    if config.test_start:
        test_cut = job.run(f"SELECT UNIX_MICROS(TIMESTAMP('{config.test_start}')) AS cut")[0]["cut"]
    else:
        test_cut = quantile(1 - config.test_fraction)
    val_cut = quantile(1 - config.val_fraction, f"`timestamp` < TIMESTAMP_MICROS({test_cut})")
    if val_cut is None:
        raise DataError(f"{job.source}: the training split is empty; is --test-start before all the data?")
    return (f"CASE WHEN `timestamp` >= TIMESTAMP_MICROS({test_cut}) THEN 'test' "
            f"WHEN `timestamp` >= TIMESTAMP_MICROS({val_cut}) THEN 'val' ELSE 'train' END")


def _vocabularies(job: _Run, labelled: str) -> dict[str, Any]:
    """Ids and feature values seen in training, sorted by text (index = position; features: 0 is empty or unseen)."""
    vocabularies: dict[str, Any] = {}
    for kind in ("user", "item"):
        job.create(f"{kind}s", f"SELECT {kind}_id, ROW_NUMBER() OVER (ORDER BY {kind}_id) - 1 AS {kind}_idx "
                                       f"FROM (SELECT DISTINCT {kind}_id FROM {labelled} WHERE split = 'train')")
        ids = job.read(f"{kind}s").sort_by(f"{kind}_idx")[f"{kind}_id"].to_pylist()
        vocabularies[f"{kind}_id"] = ids
    if len(vocabularies["user_id"]) < 2 or len(vocabularies["item_id"]) < 2:
        raise DataError(f"{job.source}: training split has {len(vocabularies['user_id'])} user(s) and "
                        f"{len(vocabularies['item_id'])} item(s); a retrieval model needs at least 2 of each")
    values: dict[str, list[str]] = {}
    for number, name in enumerate(job.features):
        job.create(f"feature{number}", f"SELECT value, ROW_NUMBER() OVER (ORDER BY value) AS idx FROM "
                                       f"(SELECT DISTINCT {quote(name)} AS value FROM {labelled} "
                                       f"WHERE split = 'train' AND {quote(name)} != '')")
        values[name] = ["", *job.read(f"feature{number}").sort_by("idx")["value"].to_pylist()]
    vocabularies["user_features"] = {name: values[name] for name in job.config.user_features}
    vocabularies["item_features"] = {name: values[name] for name in job.config.item_features}
    return vocabularies


def _feature_joins(job: _Run, alias: str) -> tuple[str, str]:
    """The feature index columns and their LEFT JOINs onto the feature vocabularies."""
    columns = "".join(f", IFNULL(v{n}.idx, 0) AS {quote(name + '_idx')}" for n, name in enumerate(job.features))
    joins = "".join(f" LEFT JOIN {job.table(f'feature{n}').sql} v{n} ON v{n}.value = {alias}.{quote(name)}"
                    for n, name in enumerate(job.features))
    return columns, joins


def _export_splits(job: _Run, labelled: str, export_uri: str, stats: dict[str, Any]) -> None:
    """Each split as Parquet shards in <output>/<split>.parquet/ (cold-start rows dropped and counted)."""
    users, items = job.table("users").sql, job.table("items").sql
    counts = {row["split"]: row for row in job.run(
        f"SELECT split, COUNT(*) AS n, COUNTIF(u.user_id IS NULL OR i.item_id IS NULL) AS cold FROM {labelled} l "
        f"LEFT JOIN {users} u USING (user_id) LEFT JOIN {items} i USING (item_id) GROUP BY split")}
    for name in SPLITS:
        row = counts.get(name, {"n": 0, "cold": 0})
        stats[f"{name}_rows"] = row["n"] - row["cold"]
        if name != "train":
            stats[f"{name}_rows_dropped_cold_start"] = row["cold"]
            if stats[f"{name}_rows"] == 0:
                raise DataError(f"{job.source}: the {name} split is empty after dropping cold-start rows; "
                                f"use more data or a larger {name} fraction")
    if stats["train_rows"] == 0:
        raise DataError(f"{job.source}: the training split is empty")
    feature_columns, joins = _feature_joins(job, "l")
    texts = "".join(f", l.{quote(name)}" for name in job.features)
    for name in SPLITS:
        job.run(f"EXPORT DATA OPTIONS (uri = '{export_uri}/{name}.parquet/*.parquet', format = 'PARQUET', overwrite = true) AS "
                f"SELECT l.user_id, l.item_id, l.`timestamp`{texts}, u.user_idx, i.item_idx{feature_columns} FROM {labelled} l "
                f"JOIN {users} u USING (user_id) JOIN {items} i USING (item_id){joins} WHERE l.split = '{name}'")


def _entities(job: _Run, labelled: str, out: Path) -> None:
    """users.parquet and items.parquet: each entity's latest training feature values, as indices."""
    config = job.config
    for kind, features in (("user", config.user_features), ("item", config.item_features)):
        vocabulary = job.table(f"{kind}s").sql
        if features:
            numbered = [(job.features.index(name), name) for name in features]
            columns = "".join(f", IFNULL(v{n}.idx, 0) AS {quote(name + '_idx')}" for n, name in numbered)
            joins = "".join(f" LEFT JOIN {job.table(f'feature{n}').sql} v{n} ON v{n}.value = latest.{quote(name)}" for n, name in numbered)
            latest = (f"(SELECT * FROM {labelled} WHERE split = 'train' QUALIFY ROW_NUMBER() OVER "
                      f"(PARTITION BY {kind}_id ORDER BY `timestamp` DESC, {', '.join(quote(n) for _, n in numbered)} DESC) = 1)")
            job.create(f"{kind}_entities", f"SELECT e.{kind}_idx, e.{kind}_id{columns} FROM {vocabulary} e "
                                           f"LEFT JOIN {latest} latest USING ({kind}_id){joins}")
        else:
            job.create(f"{kind}_entities", f"SELECT {kind}_idx, {kind}_id FROM {vocabulary}")
        table = job.read(f"{kind}_entities").sort_by(f"{kind}_idx")
        pq.write_table(table, out / f"{kind}s.parquet")


def _summary(job: _Run, labelled: str, stats: dict[str, Any], users: int, items: int) -> None:
    row = job.run(f"SELECT CAST(MIN(`timestamp`) AS STRING) AS date_min, CAST(MAX(`timestamp`) AS STRING) AS date_max, "
                  f"CAST(MIN(IF(split = 'test', `timestamp`, NULL)) AS STRING) AS test_start FROM {labelled}")[0]
    stats.update(users=users, items=items, density=stats["train_rows"] / float(users * items))
    for key in ("date_min", "date_max", "test_start"):
        value = row[key] if job.config.timestamp_column else None
        stats[key] = value.replace(" ", "T").removesuffix("+00").removesuffix("+00:00") if value else None
