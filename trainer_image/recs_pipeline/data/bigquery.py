"""BigQuery as a source: a table (`bq://project.dataset.table`) or a query, read into one Arrow table.

Only the columns data prep needs travel, and `--where` is evaluated by BigQuery: for a table, both
go into a Storage Read API session (selected_fields, row_restriction), so no query job runs and
nothing but those columns of the matching rows is read; for a query, the query is wrapped in
`SELECT <columns> FROM (<query>) WHERE <where>`, its result written to a table (the staging
dataset's, or the query's own anonymous one), and that table read through the Storage Read API.
Arrow record batches come back stream by stream, never row by row.

Both clients honour emulators the way google-cloud-storage honours STORAGE_EMULATOR_HOST:
BIGQUERY_EMULATOR_HOST (REST, e.g. http://127.0.0.1:9050) and BIGQUERY_STORAGE_EMULATOR_HOST
(gRPC host:port), with anonymous credentials.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from recs_pipeline.core.config import PrepConfig
from recs_pipeline.core.errors import DataError, UserError

SCHEME = "bq://"
REST_EMULATOR = "BIGQUERY_EMULATOR_HOST"
STORAGE_EMULATOR = "BIGQUERY_STORAGE_EMULATOR_HOST"
MAX_STREAMS = 8  # parallel read streams asked for; BigQuery may give fewer
STAGING_EXPIRATION_HOURS = 24
_NAME = re.compile(r"^[A-Za-z0-9_.:-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_$-]+$")


class BigQueryError(UserError, ValueError):
    """A table, column or permission problem in BigQuery; the message names the table or query."""


@dataclass(frozen=True)
class TableRef:
    project: str
    dataset: str
    table: str

    @property
    def sql(self) -> str:
        return f"`{self.project}.{self.dataset}.{self.table}`"

    @property
    def uri(self) -> str:
        return f"{SCHEME}{self.project}.{self.dataset}.{self.table}"

    @property
    def storage_path(self) -> str:
        return f"projects/{self.project}/datasets/{self.dataset}/tables/{self.table}"


@dataclass(frozen=True)
class ReadResult:
    """The rows read and what BigQuery says it cost."""

    table: pa.Table
    rows_in: int  # rows of the source before --where (a query: its rows after --where)
    bytes_scanned: int  # billed scan: the query's total_bytes_processed, or the read session's estimate


def is_bigquery(uri: str) -> bool:
    return uri.startswith(SCHEME)


def parse_table(uri: str) -> TableRef:
    """`bq://project.dataset.table` (or `project.dataset.table`) into its three parts."""
    name = uri[len(SCHEME):] if is_bigquery(uri) else uri
    if not _NAME.match(name):
        raise BigQueryError(f"{uri}: expected bq://project.dataset.table")
    project, dataset, table = name.rsplit(".", 2)
    return TableRef(project, dataset, table)


def query_source(query: str) -> str:
    """How messages and the stats name a query: short and stable, never the full text."""
    return f"BigQuery query {hashlib.sha256(query.encode()).hexdigest()[:12]}"


def clients(project: str | None):
    """A BigQuery REST client and a Storage Read client, pointed at the emulators when set."""
    from google.cloud import bigquery, bigquery_storage_v1

    rest, grpc_host = os.environ.get(REST_EMULATOR), os.environ.get(STORAGE_EMULATOR)
    if rest or grpc_host:
        from google.auth.credentials import AnonymousCredentials

        if not (rest and grpc_host):
            raise BigQueryError(f"set both {REST_EMULATOR} and {STORAGE_EMULATOR} to use a BigQuery emulator")
        import grpc
        from google.cloud.bigquery_storage_v1.services.big_query_read.transports import BigQueryReadGrpcTransport

        client = bigquery.Client(project=project, credentials=AnonymousCredentials(), client_options={"api_endpoint": rest})
        transport = BigQueryReadGrpcTransport(channel=grpc.insecure_channel(grpc_host))
        return client, bigquery_storage_v1.BigQueryReadClient(transport=transport)
    return bigquery.Client(project=project), bigquery_storage_v1.BigQueryReadClient()


def needed_columns(config: PrepConfig) -> list[str]:
    """The columns data prep reads, in order, each once."""
    names = [config.user_column, config.item_column, *([config.timestamp_column] if config.timestamp_column else []),
             *config.purchase_features]
    return list(dict.fromkeys(names))


def quote(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def string_literal(value: str) -> str:
    """A BigQuery string literal of any text: quotes, backslashes and line breaks escaped."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return "'" + escaped + "'"


def fail(error: Exception, where: str, exists: bool = False) -> BigQueryError:
    """One line for a BigQuery API error: what failed, where, and BigQuery's own reason (`exists`:
    the table is known to exist, so a 404 is about something else, such as a bad --where)."""
    from google.api_core import exceptions

    details = getattr(error, "errors", None) or []
    text = details[0].get("message") if details and isinstance(details[0], dict) else None
    text = str(text or getattr(error, "message", None) or error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    if isinstance(error, exceptions.NotFound) and not exists:
        return BigQueryError(f"input not found: {where} ({first})")
    if isinstance(error, (exceptions.Forbidden, exceptions.PermissionDenied, exceptions.Unauthorized)):
        return BigQueryError(f"{where}: permission denied ({first}); the run's account needs roles/bigquery.dataViewer "
                             "on the data, roles/bigquery.readSessionUser and roles/bigquery.jobUser on the project")
    return BigQueryError(f"{where}: {first}")


def api_errors() -> tuple[type[Exception], ...]:
    from google.api_core import exceptions

    return (exceptions.GoogleAPICallError, exceptions.RetryError)


def read_table(ref: TableRef, config: PrepConfig) -> ReadResult:
    """The needed columns of a table's rows that pass --where, through one Storage Read session."""
    client, reader = clients(ref.project)
    try:
        table = client.get_table(f"{ref.project}.{ref.dataset}.{ref.table}")
    except api_errors() as error:
        raise fail(error, ref.uri) from error
    found = [field.name for field in table.schema]
    missing = [name for name in needed_columns(config) if name not in found]
    if missing:
        raise DataError(f"{ref.uri}: missing column(s) {', '.join(missing)}; columns found: {', '.join(found) or '(none)'}")
    try:
        arrow, scanned = storage_read(reader, ref, needed_columns(config), config.where)
    except api_errors() as error:
        raise fail(error, ref.uri + (f" with --where {config.where!r}" if config.where else ""), exists=True) from error
    # num_rows leaves out rows still in the streaming buffer: never count fewer rows in than were read.
    rows_in = max(int(table.num_rows or 0), arrow.num_rows) if config.where else arrow.num_rows
    return ReadResult(arrow, rows_in, scanned)


def storage_read(reader, ref: TableRef, columns: list[str], where: str = "") -> tuple[pa.Table, int]:
    """Every stream of one read session, as Arrow record batches, the streams read side by side."""
    from google.cloud.bigquery_storage_v1 import types

    options = types.ReadSession.TableReadOptions(selected_fields=columns, row_restriction=where)
    session = reader.create_read_session(
        parent=f"projects/{ref.project}",
        read_session=types.ReadSession(table=ref.storage_path, data_format=types.DataFormat.ARROW, read_options=options),
        max_stream_count=MAX_STREAMS,
    )
    schema = pa.ipc.read_schema(pa.py_buffer(session.arrow_schema.serialized_schema))

    def read_stream(name: str) -> list[pa.RecordBatch]:
        return [pa.ipc.read_record_batch(pa.py_buffer(response.arrow_record_batch.serialized_record_batch), schema)
                for response in reader.read_rows(name) if response.row_count]

    with ThreadPoolExecutor(max_workers=max(len(session.streams), 1)) as pool:  # gRPC reads release the GIL
        batches = [batch for part in pool.map(read_stream, [stream.name for stream in session.streams]) for batch in part]
    return pa.Table.from_batches(batches, schema=schema), int(session.estimated_total_bytes_scanned)


def read_query(query: str, config: PrepConfig) -> ReadResult:
    """The needed columns of a query's rows that pass --where; the result is written to a table
    (in `bq_staging_dataset` when set, by CREATE TABLE AS, expiring after a day; else the query's
    own anonymous result table) and read through the Storage Read API."""
    source = query_source(query)
    staging = parse_dataset(config.bq_staging_dataset) if config.bq_staging_dataset else None
    client, reader = clients(staging[0] if staging else None)
    columns = ", ".join(quote(name) for name in needed_columns(config))
    sql = f"SELECT {columns} FROM ({query.strip().rstrip(';')})" + (f" WHERE {config.where}" if config.where else "")
    ref = TableRef(*staging, f"recs_query_{uuid.uuid4().hex[:16]}") if staging else None
    if ref:
        sql = f"CREATE TABLE {ref.sql} OPTIONS ({expiration_option()}) AS {sql}"
    try:
        job = client.query(sql)
        job.result()
        if ref is None:
            ref = TableRef(job.destination.project, job.destination.dataset_id, job.destination.table_id)
        arrow, _ = storage_read(reader, ref, needed_columns(config))
    except api_errors() as error:
        raise fail(error, source) from error
    return ReadResult(arrow, arrow.num_rows, int(job.total_bytes_processed or 0))


def parse_dataset(name: str) -> tuple[str, str]:
    """`project.dataset` into its parts."""
    parts = name.removeprefix(SCHEME).split(".")
    if len(parts) != 2 or not all(parts):
        raise BigQueryError(f"bq_staging_dataset={name!r}: expected project.dataset")
    return parts[0], parts[1]


def expiration_option() -> str:
    """Staging tables delete themselves: BigQuery drops them after STAGING_EXPIRATION_HOURS."""
    return f"expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL {STAGING_EXPIRATION_HOURS} HOUR)"


def read(input_uri: str, config: PrepConfig) -> tuple[ReadResult, str]:
    """A table or query read, and how to name it in messages and stats."""
    if config.query:
        if input_uri:
            raise BigQueryError(f"give either --input ({input_uri}) or --query, not both")
        return read_query(config.query, config), query_source(config.query)
    ref = parse_table(input_uri)
    return read_table(ref, config), ref.uri


def stats_of(result: ReadResult) -> dict[str, Any]:
    """What the data stats add for a BigQuery read: the bytes it scanned (its cost)."""
    return {"bigquery_bytes_scanned": result.bytes_scanned}


def table_rows(ref: TableRef) -> int:
    """A table's row count from its metadata (free: no scan)."""
    client, _ = clients(ref.project)
    try:
        return int(client.get_table(f"{ref.project}.{ref.dataset}.{ref.table}").num_rows or 0)
    except api_errors() as error:
        raise fail(error, ref.uri) from error
