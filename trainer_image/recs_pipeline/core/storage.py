"""Whole-object reads and writes to a local folder or gs://, the only I/O path for metrics and status.

Local writes go to a temporary file then `os.replace`, so a reader never sees half a file. GCS
writes are one single-shot upload (an object appears whole or not at all) through
google-cloud-storage, which honours STORAGE_EMULATOR_HOST, unlike tf.io.gfile.

Retry policy, made explicit: google-cloud-storage retries uploads by default only when they are
conditional on a generation (its ConditionalRetryPolicy); an unconditional overwrite of our own
history object is idempotent, so we always retry it on 408/429/5xx and connection errors, with
exponential backoff (1 s doubling to 16 s) inside a 120 s deadline, then raise.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from recs_pipeline.core.errors import UserError

if TYPE_CHECKING:
    from google.cloud import storage as gcs

GCS_SCHEME = "gs://"
RETRY_INITIAL_S = 1.0
RETRY_MAXIMUM_S = 16.0
RETRY_DEADLINE_S = 120.0


class StorageError(UserError, RuntimeError):
    """A read or write that could not be done; the message names the URI."""


@dataclass(frozen=True)
class GcsLocation:
    bucket: str
    name: str


def is_gcs(uri: str) -> bool:
    return uri.startswith(GCS_SCHEME)


def parse_gcs(uri: str) -> GcsLocation:
    """Split gs://bucket/name; a URI with no bucket is an error that names it."""
    rest = uri[len(GCS_SCHEME) :]
    bucket, _, name = rest.partition("/")
    if not bucket:
        raise StorageError(f"not a gs:// URI with a bucket: {uri!r}")
    return GcsLocation(bucket=bucket, name=name)


def check_uri(uri: str) -> str:
    """Accept gs:// URIs and local paths only; any other scheme (http://, s3://, ...) is refused."""
    if is_gcs(uri):
        parse_gcs(uri)
        return uri
    if "://" in uri:
        raise StorageError(f"unsupported URI {uri!r}: use gs://bucket/prefix or a local folder")
    return uri


def join(base: str, *parts: str) -> str:
    """Join path parts onto a gs:// or local base."""
    if is_gcs(base):
        return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])
    return str(Path(base, *parts))


def write_bytes(uri: str, data: bytes, content_type: str = "application/json") -> None:
    """Write one whole object, replacing what was there."""
    check_uri(uri)
    if is_gcs(uri):
        _gcs_write(uri, data, content_type)
    else:
        _local_write(Path(uri), data)


def create_exclusive(uri: str, data: bytes) -> bool:
    """Create the object only if nothing is there; False if something already is. Atomic on both
    backends (GCS: the precondition ifGenerationMatch=0; local: O_CREAT | O_EXCL), so of two
    writers racing for the same name exactly one gets True."""
    check_uri(uri)
    if is_gcs(uri):
        return _gcs_create_exclusive(uri, data)
    path = Path(uri)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    except OSError as error:
        raise StorageError(f"cannot create {path}: {error}") from error
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    return True


def read_bytes(uri: str) -> bytes:
    """Read one whole object; a missing one raises FileNotFoundError naming the URI."""
    check_uri(uri)
    if is_gcs(uri):
        return _gcs_read(uri)
    path = Path(uri)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {uri}")
    return path.read_bytes()


def size(uri: str) -> int:
    """Bytes in one object or file, without reading it; a missing one raises FileNotFoundError."""
    check_uri(uri)
    if not is_gcs(uri):
        path = Path(uri)
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {uri}")
        return path.stat().st_size
    from google.api_core import exceptions

    location = parse_gcs(uri)
    try:
        blob = gcs_client().bucket(location.bucket).get_blob(location.name, retry=upload_retry())
    except exceptions.GoogleAPICallError as error:
        raise StorageError(f"cannot read {uri}: {error}") from error
    if blob is None:
        raise FileNotFoundError(f"no such object: {uri}")
    return int(blob.size)


def delete(uri: str) -> None:
    """Remove one object or file; one that is already gone is fine (deletion is for housekeeping)."""
    check_uri(uri)
    if not is_gcs(uri):
        Path(uri).unlink(missing_ok=True)
        return
    from google.api_core import exceptions

    location = parse_gcs(uri)
    try:
        gcs_client().bucket(location.bucket).blob(location.name).delete(retry=upload_retry())
    except exceptions.NotFound:
        return
    except exceptions.GoogleAPICallError as error:
        raise StorageError(f"cannot delete {uri}: {error}") from error


def _local_write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as error:
        raise StorageError(f"cannot write {path}: {error}") from error


def upload_retry():
    """The retry used for every GCS call of ours (see module docstring)."""
    from google.cloud.storage.retry import DEFAULT_RETRY  # the client's own predicate: 408/429/5xx, connection errors

    return DEFAULT_RETRY.with_delay(initial=RETRY_INITIAL_S, maximum=RETRY_MAXIMUM_S, multiplier=2.0).with_timeout(RETRY_DEADLINE_S)


def _gcs_write(uri: str, data: bytes, content_type: str) -> None:
    from google.api_core import exceptions

    location = parse_gcs(uri)
    blob = gcs_client().bucket(location.bucket).blob(location.name)
    try:
        # Below the resumable threshold the client sends one multipart request: the object
        # appears whole or not at all.
        blob.upload_from_string(data, content_type=content_type, retry=upload_retry())
    except exceptions.GoogleAPICallError as error:
        raise StorageError(f"cannot write {uri}: {error}") from error
    except Exception as error:  # transport errors that outlived the retry deadline
        raise StorageError(f"cannot write {uri}: {type(error).__name__}: {error}") from error


def _gcs_create_exclusive(uri: str, data: bytes) -> bool:
    from google.api_core import exceptions

    location = parse_gcs(uri)
    blob = gcs_client().bucket(location.bucket).blob(location.name)
    try:
        # A conditional upload is safe to retry: a retry after a lost response gets 412, and the
        # caller reads back what is there.
        blob.upload_from_string(data, content_type="application/json", if_generation_match=0, retry=upload_retry())
    except exceptions.PreconditionFailed:
        return False
    except exceptions.GoogleAPICallError as error:
        raise StorageError(f"cannot create {uri}: {error}") from error
    except Exception as error:  # transport errors that outlived the retry deadline
        raise StorageError(f"cannot create {uri}: {type(error).__name__}: {error}") from error
    return True


def _gcs_read(uri: str) -> bytes:
    from google.api_core import exceptions

    location = parse_gcs(uri)
    blob = gcs_client().bucket(location.bucket).blob(location.name)
    try:
        return blob.download_as_bytes(retry=upload_retry())
    except exceptions.NotFound as error:
        raise FileNotFoundError(f"no such object: {uri}") from error
    except exceptions.GoogleAPICallError as error:
        raise StorageError(f"cannot read {uri}: {error}") from error


@lru_cache(maxsize=1)
def gcs_client() -> gcs.Client:
    """One client per process, made on first use (never at import: no credentials lookup then).

    Against an emulator (STORAGE_EMULATOR_HOST set) no credentials exist, so anonymous ones are used.
    """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        return storage.Client(project="emulator", credentials=AnonymousCredentials())
    return storage.Client()
