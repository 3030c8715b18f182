"""BigQuery SQL for one value of a row: an id normalised, a time or a number parsed, a numeric
feature's bucket, a feature's text and vocabulary index; the expressions data/bigquery_prep.py
builds its queries from, each the SQL twin of what the local engine does with pyarrow and NumPy
(identifiers, timestamps, numeric_features)."""

from __future__ import annotations

from dataclasses import dataclass

from recs_pipeline.core.config import PrepConfig
from recs_pipeline.data.bigquery import quote, string_literal
from recs_pipeline.data.identifiers import INTEGER_LIKE  # "17850.0" is the id "17850", in both engines
from recs_pipeline.data.timestamps import EPOCH_MICROS, FIRST_MICROS, LAST_MICROS


def id_sql(column: str) -> str:
    """An id as normalised text: trimmed, integer-like floats as integers, blank = NULL."""
    return f"NULLIF(REGEXP_REPLACE(TRIM(CAST({quote(column)} AS STRING)), r'{INTEGER_LIKE}', r'\\1'), '')"


def time_sql(config: PrepConfig, typed: bool) -> str:
    """The timestamp column as a TIMESTAMP (NULL: none, or a value that does not parse), as the local
    engine reads it (timestamps): a `typed` column (TIMESTAMP, DATETIME, DATE) as it is; else epoch
    numbers by the unit named, text by the strptime format given first, then as ISO."""
    if not config.timestamp_column:
        return "CAST(NULL AS TIMESTAMP)"
    column = quote(config.timestamp_column)
    if typed or not config.timestamp_format:
        return f"SAFE_CAST({column} AS TIMESTAMP)"
    if config.timestamp_format in EPOCH_MICROS:
        micros = f"ROUND(SAFE_CAST(TRIM(CAST({column} AS STRING)) AS FLOAT64) * {EPOCH_MICROS[config.timestamp_format]})"
        return f"IF({micros} BETWEEN {FIRST_MICROS} AND {LAST_MICROS}, TIMESTAMP_MICROS(CAST({micros} AS INT64)), NULL)"
    return (f"COALESCE(SAFE.PARSE_TIMESTAMP({string_literal(config.timestamp_format)}, TRIM(CAST({column} AS STRING))), "
            f"SAFE_CAST({column} AS TIMESTAMP))")


def _parsed_sql(column: str) -> str:
    """A numeric feature's value as FLOAT64: a number column as it is, text trimmed and parsed (NULL: blank or not a number)."""
    return f"COALESCE(SAFE_CAST({quote(column)} AS FLOAT64), SAFE_CAST({_text_sql(column)} AS FLOAT64))"


def number_sql(column: str) -> str:
    """The value the buckets see: NULL (missing) also for NaN and infinity, as numeric_features.parse and bucketise read them."""
    return f"IF(IS_NAN({_parsed_sql(column)}) OR IS_INF({_parsed_sql(column)}), NULL, {_parsed_sql(column)})"


def not_a_number_sql(column: str) -> str:
    """The text of a value that is there but does not parse as a number; NULL otherwise."""
    return f"IF({_parsed_sql(column)} IS NULL, {_text_sql(column)}, NULL)"


def _text_sql(column: str) -> str:
    """A value as trimmed text, NULL where blank (the text a numeric feature is parsed from)."""
    return f"NULLIF(TRIM(CAST({quote(column)} AS STRING)), '')"


def buckets_sql(value: str, edges: list[float], outputs: list[str], missing: str) -> str:
    """outputs[bucket] of a number by its bucket edges (a value on an edge is in the bucket above,
    as numeric_features.bucketise's searchsorted side="right"); `missing` for NULL."""
    above = "".join(f" WHEN {value} >= CAST('{edge!r}' AS FLOAT64) THEN {outputs[k + 1]}" for k, edge in reversed(list(enumerate(edges))))
    return f"CASE WHEN {value} IS NULL THEN {missing}{above} ELSE {outputs[0]} END"


@dataclass(frozen=True)
class Feature:
    """How one feature's vocabulary index is read off a row of the labelled table: a categorical
    feature's by a join on its vocabulary table, a numeric one's by its bucket edges."""

    name: str
    vocabulary: list[str]  # "", then the values seen in training (index = position)
    table: str = ""  # a categorical feature's vocabulary table (value, idx), joined as `alias`
    alias: str = ""
    edges: tuple[float, ...] = ()  # a numeric feature's bucket edges,
    bucket_indices: tuple[int, ...] = ()  # and each bucket's vocabulary index (0: no training row in that bucket)

    def index(self, row: str) -> str:
        if self.table:
            return f"IFNULL({self.alias}.idx, 0)"
        return buckets_sql(f"{row}.{quote(self.name)}", list(self.edges), [str(index) for index in self.bucket_indices], "0")

    def join(self, row: str) -> str:
        return f" LEFT JOIN {self.table} {self.alias} ON {self.alias}.value = {row}.{quote(self.name)}" if self.table else ""
