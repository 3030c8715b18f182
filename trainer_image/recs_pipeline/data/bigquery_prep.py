"""Data prep inside BigQuery, for a table larger than the step's one process can hold.

The same steps as data/prepare.py, as SQL that BigQuery runs distributed: normalise ids, parse time
and numeric features (one scan of the source, with --where), drop rows without a user or item,
--dedupe, the split cut-offs (APPROX_QUANTILES over the time column; a seeded FARM_FINGERPRINT for a
random split), the bucket edges of numeric features, the vocabularies (every customer and product,
those seen in training first; feature values seen in training) and each entity's features.
Intermediate tables go to `bq_staging_dataset` and expire after a day. The three splits leave
BigQuery as Parquet by EXPORT DATA straight into the output folder's gs:// URI (on Vertex the
artifact's own, mounted at /gcs/), so they never pass through this process; the small parts
(vocabularies, users, items, stats) come back through the Storage Read API and are written here.

The prepared folder is the local engine's, key for key and index for index: the same rows kept and
counted, vocabulary order, stats, error messages and bucket edges (numeric_features.edges from the
sorted training values at a few positions, found by a running count over the distinct values: exact,
where APPROX_QUANTILES would move edges and so buckets). Where the local engine goes by the order of
rows in the file, which a table does not have, this one cannot follow it: of a pair's first
purchases at the same time --dedupe keeps any one, an entity's features come from the row whose
feature values sort last among its rows at the chosen time, and a value that is not a number is
shown by its text (the least such) and count, not its row. The time cut-offs are APPROX_QUANTILES
(0.1% of the rows) and a random split hashes rows with FARM_FINGERPRINT, so on large data rows near
a cut-off, and any row of a random split, may land in another split than the local engine's.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from recs_pipeline.core.config import PrepConfig
from recs_pipeline.core.errors import DataError
from recs_pipeline.data import bigquery, numeric_features, splits
from recs_pipeline.data.bigquery import TableRef, quote, string_literal
from recs_pipeline.data.bigquery_values import Feature, buckets_sql, id_sql, not_a_number_sql, number_sql, time_sql
from recs_pipeline.data.prepared_data import (
    BUCKET_EDGES,
    KNOWN_ITEMS,
    KNOWN_USERS,
    NUMERIC_FEATURES,
    SPLITS,
    STATS_FILE,
    TEXT_FEATURES,
    VOCAB_FILE,
    new_rows_stats,
    write_entity_table,
)
from recs_pipeline.data.splits import TEST, TRAIN, VAL

QUANTILE_BUCKETS = 1000  # APPROX_QUANTILES resolution of the split cut-offs: 0.1% of the rows
GCS_MOUNT = "/gcs/"  # Vertex AI mounts gs://bucket/... at /gcs/bucket/...


def gcs_uri_of(output_dir: str, output_uri: str) -> str:
    """The gs:// URI of the output folder: the artifact's URI, or a /gcs/ mount path's."""
    if output_uri.startswith("gs://"):
        return output_uri.rstrip("/")
    if output_dir.startswith(GCS_MOUNT):
        return "gs://" + output_dir[len(GCS_MOUNT):].rstrip("/")
    raise DataError(f"engine bigquery exports the splits to GCS, but the output folder {output_dir} is not on gs:// "
                    "(run on Vertex AI, give an output folder under /gcs/BUCKET/ mounted by Cloud Storage FUSE, or --engine local)")


TIME_TYPES = ("TIMESTAMP", "DATETIME", "DATE")  # a time column of these types needs no --timestamp-format


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
        self.categorical = [*config.user_features, *config.item_features]
        self.numeric = [*config.user_numeric_features, *config.item_numeric_features]
        self.features: dict[str, Feature] = {}  # every feature, once its vocabulary is known
        self.time = time_sql(config, self.time_is_typed())  # the time column as a TIMESTAMP

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

    def time_is_typed(self) -> bool:
        """Whether the source's time column is a TIMESTAMP, DATETIME or DATE, which is read as it is
        whatever --timestamp-format says, as the local engine reads a typed column (a dry run: no
        bytes scanned)."""
        if not self.config.timestamp_column:
            return False
        from google.cloud.bigquery import QueryJobConfig

        try:
            job = self.client.query(f"SELECT {quote(self.config.timestamp_column)} FROM {self.source_sql}",
                                    job_config=QueryJobConfig(dry_run=True))
        except bigquery.api_errors() as error:
            raise bigquery.fail(error, self.source) from error
        return bool(job.schema) and job.schema[0].field_type in TIME_TYPES

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
    texts = [*config.user_text_features, *config.item_text_features]
    if texts:
        raise DataError(f"engine bigquery does not prepare text features ({', '.join(texts)}); use --engine local, which reads the "
                        "table through the Storage Read API")
    tables = [option for kind, option in (("user", "--users-input"), ("item", "--items-input")) if config.entity_input(kind)]
    if tables:
        raise DataError(f"engine bigquery does not read a customers or products table ({', '.join(tables)}); use --engine local, "
                        "which reads the table through the Storage Read API")
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
    rows = {row["split"]: row["n"] for row in job.run(f"SELECT split, COUNT(*) AS n FROM {labelled} GROUP BY split")}
    if not rows.get(TRAIN):
        raise DataError(f"{source}: the training split is empty")
    for name in job.numeric:
        job.features[name] = _numeric_feature(job, labelled, name)
    vocabularies, most_purchases = _vocabularies(job, labelled)
    _require_evaluable(job, rows, most_purchases)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats.update({f"{name}_rows": rows.get(split, 0) for split, name in enumerate(SPLITS)})
    stats.update(_new_rows(job, labelled))
    _export_splits(job, labelled, export_uri)
    _entities(job, labelled, out)
    _summary(job, labelled, stats, vocabularies)
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
    """One scan of the source: normalised ids, parsed time, features as text, numeric features as
    numbers, --where; then the kept rows (and, with --dedupe, each pair's first purchase). Every
    dropped row is counted; a numeric value that is not a number stops here, as the local engine
    stops on one in any row."""
    config = job.config
    features = "".join(f", IFNULL(CAST({quote(name)} AS STRING), '') AS {quote(name)}" for name in job.categorical)
    numbers = "".join(f", {number_sql(name)} AS {quote(name)}, {not_a_number_sql(name)} AS bad{n}" for n, name in enumerate(job.numeric))
    where = f"COALESCE(({config.where}), FALSE)" if config.where else "TRUE"
    rows = job.create("rows", f"SELECT {id_sql(config.user_column)} AS user_id, {id_sql(config.item_column)} AS item_id, "
                              f"{job.time} AS `timestamp`{features}{numbers}, {where} AS passes FROM {job.source_sql}")
    has_both = "passes AND user_id IS NOT NULL AND item_id IS NOT NULL"
    bad = "".join(f", COUNTIF(bad{n} IS NOT NULL) AS bad{n}, MIN(bad{n}) AS bad_value{n}" for n in range(len(job.numeric)))
    counts = job.run(f"SELECT COUNT(*) AS rows_in, COUNTIF(NOT passes) AS filtered, COUNTIF(passes AND user_id IS NULL) AS null_user, "
                     f"COUNTIF(passes AND user_id IS NOT NULL AND item_id IS NULL) AS null_item, COUNTIF({has_both}) AS kept, "
                     f"COUNTIF({has_both} AND `timestamp` IS NULL) AS bad_time{bad} FROM {rows}")[0]
    for n, name in enumerate(job.numeric):
        if counts[f"bad{n}"]:
            raise numeric_features.not_a_number(job.source, name, counts[f"bad_value{n}"], counts[f"bad{n}"])
    stats.update(rows_in=counts["rows_in"], rows_filtered_out=counts["filtered"], rows_dropped_null_user=counts["null_user"],
                 rows_dropped_null_item=counts["null_item"])
    if counts["kept"] == 0:
        raise DataError(f"{job.source}: no rows left after filtering and dropping rows with an empty user or item")
    if config.timestamp_column and counts["bad_time"]:
        _report_bad_time(job, counts["bad_time"])
    dedupe = " QUALIFY ROW_NUMBER() OVER (PARTITION BY user_id, item_id ORDER BY `timestamp`) = 1" if config.dedupe else ""
    flags = "".join(f", bad{n}" for n in range(len(job.numeric)))
    kept = job.create("kept", f"SELECT * EXCEPT (passes{flags}) FROM {rows} WHERE {has_both}{dedupe}")
    left = job.run(f"SELECT COUNT(*) AS n FROM {kept}")[0]["n"] if config.dedupe else counts["kept"]
    stats["rows_dropped_duplicate"] = counts["kept"] - left
    return kept


def _report_bad_time(job: _Run, count: int) -> None:
    """Stop on a timestamp that does not parse, showing one such value."""
    config = job.config
    where = f"COALESCE(({config.where}), FALSE) AND " if config.where else ""
    value = job.run(f"SELECT CAST({quote(config.timestamp_column)} AS STRING) AS value FROM {job.source_sql} WHERE {where}"
                    f"{id_sql(config.user_column)} IS NOT NULL AND {id_sql(config.item_column)} IS NOT NULL "
                    f"AND {job.time} IS NULL LIMIT 1")[0]["value"]
    shown = "an empty value" if value is None or not str(value).strip() else repr(str(value))
    hint = (f" with --timestamp-format {config.timestamp_format!r}" if config.timestamp_format else
            " (pass --timestamp-format, e.g. '%d/%m/%Y %H:%M')")
    raise DataError(f"{job.source}: column {config.timestamp_column!r}: cannot parse timestamp {shown} ({count} row(s)){hint}")


def _split_sql(job: _Run, kept: str) -> str:
    """TRAIN, VAL or TEST (prepare's split numbers) per row. Temporal: test from --test-start or the
    (1 - test_fraction) time quantile, validation the end of train by time. Random: a seeded hash
    of the row's texts."""
    config = job.config
    if config.split == "random" or not config.timestamp_column:
        text = f"CONCAT(user_id, '|', item_id, '|', IFNULL(CAST(UNIX_MICROS(`timestamp`) AS STRING), ''), '|', '{config.seed}')"
        draw = f"MOD(ABS(FARM_FINGERPRINT({text})), 1000000) / 1000000"
        val_bound = config.test_fraction + config.val_fraction * (1 - config.test_fraction)
        return f"CASE WHEN {draw} < {config.test_fraction} THEN {TEST} WHEN {draw} < {val_bound} THEN {VAL} ELSE {TRAIN} END"

    def quantile(fraction: float, condition: str = "TRUE") -> int | None:
        offset = min(max(round(fraction * QUANTILE_BUCKETS), 0), QUANTILE_BUCKETS)
        return job.run(f"SELECT UNIX_MICROS(APPROX_QUANTILES(`timestamp`, {QUANTILE_BUCKETS})[OFFSET({offset})]) AS cut "
                       f"FROM {kept} WHERE {condition}")[0]["cut"]

    if config.test_start:
        test_cut = job.run(f"SELECT UNIX_MICROS(TIMESTAMP({string_literal(config.test_start)})) AS cut")[0]["cut"]
    else:
        test_cut = quantile(1 - config.test_fraction)
    side = job.run(f"SELECT UNIX_MICROS(MIN(`timestamp`)) AS earliest, UNIX_MICROS(MAX(`timestamp`)) AS latest, "
                   f"COUNTIF(`timestamp` < TIMESTAMP_MICROS({test_cut})) AS before, COUNT(*) AS total FROM {kept}")[0]
    splits.require_purchases_both_sides(side["earliest"], side["latest"], side["before"], side["total"], config, job.source)
    val_cut = quantile(1 - config.val_fraction, f"`timestamp` < TIMESTAMP_MICROS({test_cut})")
    return (f"CASE WHEN `timestamp` >= TIMESTAMP_MICROS({test_cut}) THEN {TEST} "
            f"WHEN `timestamp` >= TIMESTAMP_MICROS({val_cut}) THEN {VAL} ELSE {TRAIN} END")


def _numeric_feature(job: _Run, labelled: str, name: str) -> Feature:
    """A numeric feature's buckets: the edges from the training values at numeric_features'
    positions (each distinct value with the range of sorted positions it holds, read back exactly
    by the Storage Read API), and the vocabulary of the buckets that hold a training value."""
    number = len(job.features)
    values = f"SELECT {quote(name)} AS value FROM {labelled} WHERE split = {TRAIN} AND {quote(name)} IS NOT NULL"
    count = job.run(f"SELECT COUNT(*) AS n FROM ({values})")[0]["n"]
    at: dict[int, float] = {}
    if count:
        positions = ", ".join(str(position) for position in numeric_features.edge_positions(count).tolist())
        running = "SUM(n) OVER (ORDER BY value ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"  # values are distinct
        distinct = (f"SELECT value, {running} - n AS first, {running} AS after "
                    f"FROM (SELECT value, COUNT(*) AS n FROM ({values}) GROUP BY value)")
        job.create(f"edges{number}", f"SELECT position, value FROM ({distinct}) JOIN UNNEST([{positions}]) AS position "
                                     "ON position >= first AND position < after")
        found = job.read(f"edges{number}")
        at = dict(zip(found["position"].to_pylist(), found["value"].to_pylist(), strict=True))
    edges = [float(edge) for edge in numeric_features.edges(count, at)]
    labels = numeric_features.labels(edges)
    bucket = buckets_sql("value", edges, [str(code) for code in range(len(labels))], "NULL")
    seen = sorted(row["code"] for row in job.run(f"SELECT DISTINCT {bucket} AS code FROM ({values})"))
    indices = [0] * len(labels)
    for index, code in enumerate(seen, start=1):
        indices[code] = index
    return Feature(name, ["", *(labels[code] for code in seen)], edges=tuple(edges), bucket_indices=tuple(indices))


def _vocabularies(job: _Run, labelled: str) -> tuple[dict[str, Any], int]:
    """Every user and item, those seen in training first, each part sorted by text (index =
    position); categorical feature values seen in training, sorted by text (0: empty or unseen);
    and the most purchases of one customer."""
    vocabularies: dict[str, Any] = {}
    known: dict[str, int] = {}
    most_purchases = 0
    for kind in ("user", "item"):
        job.create(f"{kind}s", f"SELECT {kind}_id, ROW_NUMBER() OVER (ORDER BY IF(first_split = {TRAIN}, 0, 1), {kind}_id) - 1 "
                               f"AS {kind}_idx, first_split, purchases FROM (SELECT {kind}_id, MIN(split) AS first_split, "
                               f"COUNT(*) AS purchases FROM {labelled} GROUP BY {kind}_id)")
        table = job.read(f"{kind}s").sort_by(f"{kind}_idx")
        vocabularies[f"{kind}_id"] = table[f"{kind}_id"].to_pylist()
        known[kind] = sum(first == TRAIN for first in table["first_split"].to_pylist())
        if kind == "user":
            most_purchases = max(table["purchases"].to_pylist(), default=0)
    if known["user"] < 2 or known["item"] < 2:
        raise DataError(f"{job.source}: training split has {known['user']} user(s) and {known['item']} item(s); "
                        "a retrieval model needs at least 2 of each")
    for number, name in enumerate(job.categorical):
        table = job.create(f"feature{number}", f"SELECT value, ROW_NUMBER() OVER (ORDER BY value) AS idx FROM "
                                               f"(SELECT DISTINCT {quote(name)} AS value FROM {labelled} "
                                               f"WHERE split = {TRAIN} AND {quote(name)} != '')")
        values = ["", *job.read(f"feature{number}").sort_by("idx")["value"].to_pylist()]
        job.features[name] = Feature(name, values, table=table, alias=f"v{number}")
    config = job.config
    vocabularies.update({
        KNOWN_USERS: known["user"],
        KNOWN_ITEMS: known["item"],
        NUMERIC_FEATURES: job.numeric,
        BUCKET_EDGES: {name: list(job.features[name].edges) for name in job.numeric},
        **{key: {} for key in TEXT_FEATURES.values()},  # text features are refused above
        "user_features": {name: job.features[name].vocabulary for name in config.indexed_features("user")},
        "item_features": {name: job.features[name].vocabulary for name in config.indexed_features("item")},
    })
    return vocabularies, most_purchases


def _require_evaluable(job: _Run, rows: dict[int, int], most_purchases: int) -> None:
    """The local engine's checks, with its messages: some customer buys more than once, and
    validation and test have rows."""
    total = sum(rows.values())
    if most_purchases <= 1:
        raise splits.single_purchase_error(job.config, job.source, total)
    for split in (VAL, TEST):
        if not rows.get(split):
            raise splits.empty_split_error(split, job.config, job.source, total)


def _new_rows(job: _Run, labelled: str) -> dict[str, int]:
    """Validation and test rows by customers, or of products, with no purchase before that split
    (their first purchase is in it): the cold-start rows."""
    users, items = job.table("users").sql, job.table("items").sql
    counts = {row["split"]: row for row in job.run(
        f"SELECT l.split, COUNTIF(u.first_split = l.split) AS new_customer, COUNTIF(i.first_split = l.split) AS new_product "
        f"FROM {labelled} l JOIN {users} u USING (user_id) JOIN {items} i USING (item_id) WHERE l.split != {TRAIN} GROUP BY l.split")}
    stats: dict[str, int] = {}
    for split in (VAL, TEST):
        row = counts.get(split, {"new_customer": 0, "new_product": 0})
        stats.update(new_rows_stats(SPLITS[split], row["new_customer"], row["new_product"]))
    return stats


def _feature_indices(job: _Run, names: list[str], row: str) -> tuple[str, str]:
    """The index columns of features `names` read off `row`, and the joins they need."""
    features = [job.features[name] for name in names]
    columns = "".join(f", {feature.index(row)} AS {quote(feature.name + '_idx')}" for feature in features)
    return columns, "".join(feature.join(row) for feature in features)


def _export_splits(job: _Run, labelled: str, export_uri: str) -> None:
    """Each split as Parquet shards in <output>/<split>.parquet/, every row kept: time and indices
    (users.parquet, items.parquet and vocabularies.json map each index back to its id or value)."""
    users, items = job.table("users").sql, job.table("items").sql
    indices, joins = _feature_indices(job, [*job.categorical, *job.numeric], "l")
    for split, name in enumerate(SPLITS):
        job.run(f"EXPORT DATA OPTIONS (uri = '{export_uri}/{name}.parquet/*.parquet', format = 'PARQUET', overwrite = true) AS "
                f"SELECT l.`timestamp`, u.user_idx, i.item_idx{indices} FROM {labelled} l "
                f"JOIN {users} u USING (user_id) JOIN {items} i USING (item_id){joins} WHERE l.split = {split}")


def _entities(job: _Run, labelled: str, out: Path) -> None:
    """users.parquet and items.parquet: each entity's feature values as indices, from its latest
    training row, or for one first seen after training from its earliest row."""
    config = job.config
    for kind, features in (("user", config.all_user_features), ("item", config.all_item_features)):
        vocabulary = job.table(f"{kind}s").sql
        if features:
            columns, joins = _feature_indices(job, list(features), "chosen")
            ties = ", ".join(f"{quote(name)} DESC" for name in features)
            chosen = (f"(SELECT * FROM {labelled} WHERE TRUE QUALIFY ROW_NUMBER() OVER (PARTITION BY {kind}_id ORDER BY "
                      f"IF(split = {TRAIN}, 0, 1), IF(split = {TRAIN}, -UNIX_MICROS(`timestamp`), UNIX_MICROS(`timestamp`)), {ties}) = 1)")
            job.create(f"{kind}_entities", f"SELECT e.{kind}_idx, e.{kind}_id{columns} FROM {vocabulary} e "
                                           f"LEFT JOIN {chosen} chosen USING ({kind}_id){joins}")
        else:
            job.create(f"{kind}_entities", f"SELECT {kind}_idx, {kind}_id FROM {vocabulary}")
        table = job.read(f"{kind}_entities").sort_by(f"{kind}_idx")
        write_entity_table(table, out / f"{kind}s.parquet")


def _summary(job: _Run, labelled: str, stats: dict[str, Any], vocabularies: dict[str, Any]) -> None:
    """The counts of customers and products (everyone, and those in training), density over those in training, the dates."""
    row = job.run(f"SELECT UNIX_MICROS(MIN(`timestamp`)) AS date_min, UNIX_MICROS(MAX(`timestamp`)) AS date_max, "
                  f"UNIX_MICROS(MIN(IF(split = {TEST}, `timestamp`, NULL))) AS test_start FROM {labelled}")[0]
    known_users, known_items = vocabularies[KNOWN_USERS], vocabularies[KNOWN_ITEMS]
    stats.update({"users": len(vocabularies["user_id"]), "items": len(vocabularies["item_id"]), KNOWN_USERS: known_users,
                  KNOWN_ITEMS: known_items, "density": stats["train_rows"] / float(known_users * known_items)})
    for key in ("date_min", "date_max", "test_start"):
        stats[key] = splits.iso(row[key]) if job.config.timestamp_column and row[key] is not None else None
