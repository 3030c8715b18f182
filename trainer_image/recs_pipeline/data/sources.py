"""Where interaction data comes from: one file, a glob or a folder of CSV or Parquet, local or gs://,
and what identifies its current version (the fingerprint data_prep's cache key holds).

gs:// objects are copied to a local scratch folder through google-cloud-storage (which honours
the emulator and the retry policy of `storage`), then read like local files. A BigQuery table
(bq://) is read elsewhere (data/bigquery.py); here only its metadata is looked at.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from recs_pipeline.core import storage
from recs_pipeline.core.errors import UserError

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")


class SourceError(UserError, ValueError):
    """The input cannot be found or mixes formats; the message names the URI."""


@dataclass(frozen=True)
class Source:
    """Local files of one format, and the URI the user gave (for messages)."""

    uri: str
    files: list[str]
    format: str  # "csv" or "parquet"


def _format_of(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if lower.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def _is_glob(uri: str) -> bool:
    return any(char in uri for char in "*?[")


def resolve(uri: str, scratch: str) -> Source:
    """The data files behind `uri`; gs:// ones are downloaded into `scratch`."""
    names = _gcs_files(uri, scratch) if storage.is_gcs(uri) else _local_files(uri)
    formats = {_format_of(name) for name in names}
    if None in formats:
        unknown = next(name for name in names if _format_of(name) is None)
        raise SourceError(f"{uri}: cannot tell the format of {unknown}; name files *.csv or *.parquet")
    if len(formats) > 1:
        raise SourceError(f"{uri}: mixes CSV and Parquet files; point at one format")
    return Source(uri=uri, files=names, format=formats.pop())


def _local_files(uri: str) -> list[str]:
    path = Path(uri)
    if _is_glob(uri):
        names = sorted(name for name in glob.glob(uri) if Path(name).is_file())
    elif path.is_dir():
        names = sorted(str(p) for p in path.rglob("*") if p.is_file() and _format_of(p.name) and not p.name.startswith("."))
    elif path.is_file():
        names = [str(path)]
    else:
        raise SourceError(f"input not found: {uri}")
    if not names:
        raise SourceError(f"input not found: no CSV or Parquet files match {uri}")
    return names


def _gcs_blobs(uri: str) -> list:
    """The objects behind a gs:// file, glob or prefix, sorted by name."""
    from google.api_core import exceptions

    location = storage.parse_gcs(uri)
    pattern = location.name if _is_glob(location.name) else None
    prefix = location.name.split("*")[0].split("?")[0].split("[")[0] if pattern else location.name
    try:
        blobs = list(storage.gcs_client().list_blobs(location.bucket, prefix=prefix, retry=storage.upload_retry()))
    except exceptions.NotFound as error:
        raise SourceError(f"input not found: {uri} (no such bucket)") from error
    except exceptions.GoogleAPICallError as error:
        raise SourceError(f"cannot list {uri}: {error}") from error
    if pattern:
        chosen = [b for b in blobs if fnmatch.fnmatchcase(b.name, pattern)]
    else:
        exact = [b for b in blobs if b.name == prefix]
        folder = prefix.rstrip("/") + "/"
        chosen = exact or [b for b in blobs if b.name.startswith(folder) and _format_of(b.name)]
    chosen = [b for b in chosen if not b.name.endswith("/")]
    if not chosen:
        raise SourceError(f"input not found: {uri}")
    return sorted(chosen, key=lambda b: b.name)


def _gcs_files(uri: str, scratch: str) -> list[str]:
    """Objects behind a gs:// file, glob or prefix, copied locally (their order kept)."""
    bucket = storage.parse_gcs(uri).bucket
    names = []
    for index, blob in enumerate(_gcs_blobs(uri)):
        target = Path(scratch) / f"{index:05d}-{Path(blob.name).name}"
        target.write_bytes(storage.read_bytes(f"gs://{bucket}/{blob.name}"))
        names.append(str(target))
    return names


def versions(uri: str) -> list[dict]:
    """Each file behind `uri` with what changes when its content does, without reading it:
    name, size and generation for gs:// objects (a rewrite gets a new generation), name, size and
    modification time (ns) for local files."""
    if storage.is_gcs(uri):
        bucket = storage.parse_gcs(uri).bucket
        return [{"name": f"gs://{bucket}/{b.name}", "size": b.size, "generation": b.generation} for b in _gcs_blobs(uri)]
    return [{"name": name, "size": (stat := Path(name).stat()).st_size, "mtime_ns": stat.st_mtime_ns} for name in _local_files(uri)]


def table_version(uri: str) -> dict:
    """What changes when a BigQuery table's rows do, from its metadata alone (no query, no read):
    last modified time, rows and bytes, and the streaming buffer's estimate (rows streamed in are
    counted there before they reach num_rows). `stable` is false for a view or an external table,
    whose metadata does not change when the data behind it does."""
    from recs_pipeline.data import bigquery

    ref = bigquery.parse_table(uri)
    client, _ = bigquery.clients(ref.project)
    try:
        table = client.get_table(f"{ref.project}.{ref.dataset}.{ref.table}")
    except bigquery.api_errors() as error:
        raise bigquery.fail(error, ref.uri) from error
    buffer = table.streaming_buffer
    version = {
        "name": ref.uri,
        "type": table.table_type,
        "modified": table.modified.isoformat() if table.modified else "",
        "rows": table.num_rows,
        "bytes": table.num_bytes,
        "streaming_rows": buffer.estimated_rows if buffer else 0,
        "streaming_oldest": buffer.oldest_entry_time.isoformat() if buffer and buffer.oldest_entry_time else "",
    }
    return {**version, "stable": table.table_type in STABLE_TABLE_TYPES and table.modified is not None}


STABLE_TABLE_TYPES = ("TABLE", "SNAPSHOT")  # their metadata changes with their rows; views and external tables' does not


def fingerprint(uri: str, query: str = "", run: str = "", tables: tuple[str, ...] = ()) -> str:
    """A short digest of what the input is right now: equal while it is unchanged, different once
    a file is added, removed or rewritten, or a table's rows change. Empty for the embedded
    synthetic data (its parameters determine it). `tables`: the customers and products tables'
    files (empty ones ignored), part of the digest when given.

    A query's result, a view's or an external table's cannot be told from metadata, so their
    fingerprint is unique to `run` (the pipeline job; a fresh id when empty): data_prep is never
    reused for them, and a weekly schedule always reads this week's rows."""
    from recs_pipeline.data import bigquery

    if query:
        return _per_run(f"query {hashlib.sha256(query.encode()).hexdigest()[:12]}", run)
    if not uri:
        return ""
    if bigquery.is_bigquery(uri):
        version = table_version(uri)
        if not version["stable"]:
            return _per_run(f"{version['type'].lower()} {uri}", run)
        listing = [version]
    else:
        listing = versions(uri)
    listing += [entry for table in tables if table and not bigquery.is_bigquery(table) for entry in versions(table)]
    digest = hashlib.sha256(json.dumps(listing, sort_keys=True).encode()).hexdigest()
    return f"sha256:{digest[:32]}"


def _per_run(what: str, run: str) -> str:
    """A fingerprint that never repeats across runs, saying why."""
    return f"uncached {what}, run {run or uuid.uuid4().hex}"
