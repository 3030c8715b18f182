"""Where interaction data comes from: one file, a glob or a folder of CSV or Parquet, local or gs://.

gs:// objects are copied to a local scratch folder through google-cloud-storage (which honours
the emulator and the retry policy of `storage`), then read like local files.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import json
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


def fingerprint(uri: str) -> str:
    """A short digest of `versions(uri)`: equal while the files are unchanged, different once one
    is added, removed or rewritten. Empty for an empty URI (the embedded synthetic data, which
    its parameters determine)."""
    if not uri:
        return ""
    digest = hashlib.sha256(json.dumps(versions(uri), sort_keys=True).encode()).hexdigest()
    return f"sha256:{digest[:32]}"
