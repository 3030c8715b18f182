"""Interaction files (or a data frame) into one Arrow table, the input of data prep.

CSV goes through pyarrow's multi-threaded reader, with the id and feature columns read as text
(ids are strings: "007" stays "007"), dictionary-encoded as they are read (data prep needs their
distinct values and a code per row, not 10M strings), and everything else typed by pyarrow (ISO
times become timestamps there); columns neither configured nor named by --where are not
converted. A file pyarrow cannot read cleanly (a type that changes deep in the file, a bad byte,
a ragged row, a duplicated or empty header) is read by DuckDB's CSV reader instead, which samples
the file, widens types and gives the error messages users see. Parquet is read by DuckDB, with
files united by column name.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import logging

import pyarrow as pa

from recs_pipeline.core.config import EPOCH_FORMATS, PrepConfig
from recs_pipeline.core.errors import UserError

SNIFF_BYTES = 1 << 16
BLOCK_BYTES = 1 << 22  # the CSV reader's unit of work: each block's id columns get their own dictionary (data.identifiers maps each)
TEXT_CODES = pa.dictionary(pa.int32(), pa.string())  # how the CSV reader gives id and feature columns
DELIMITERS = ",;\t|"

log = logging.getLogger(__name__)


class ReadError(UserError, ValueError):
    """The input cannot be read; the message names the file and says why."""


def sql_literal(value: str) -> str:
    """A quoted SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0]


def encoding_hint(error: BaseException, config: PrepConfig) -> str:
    text = str(error).lower()
    if "unicode" in text or "utf-8" in text or "utf8" in text or "encoding" in text:
        return f" (the file is not {config.encoding} text: pass --encoding, e.g. latin-1)"
    return ""


def text_columns(config: PrepConfig) -> list[str]:
    """Columns read as text whatever they look like: the ids and the features (a numeric feature's
    bad value is then reported by row, data.numeric_features, not as a CSV type error)."""
    return [config.user_column, config.item_column, *config.purchase_features]


def time_as_text(config: PrepConfig) -> bool:
    """Whether the timestamp column is read as text: with a strptime format given, the format
    decides what a value means, not the CSV reader's guess (which takes 2024-01-02 as ISO)."""
    return bool(config.timestamp_format) and config.timestamp_format not in EPOCH_FORMATS


def read_frame(frame, connection) -> pa.Table:
    """An in-memory pandas table, converted by DuckDB (which types mixed object columns as text)."""
    connection.register("input_frame", frame)
    return connection.sql("SELECT * FROM input_frame").to_arrow_table()


def _opener(path: str):
    return gzip.open if path.endswith(".gz") else open


def check_not_empty(path: str) -> None:
    """An empty file says so (the readers would report a missing header or a schema error)."""
    try:
        with _opener(path)(path, "rb") as handle:
            empty = not handle.read(1)
    except (OSError, EOFError) as error:
        raise ReadError(f"cannot read {path}: {first_line(error)}") from error
    if empty:
        raise ReadError(f"{path}: the file is empty")


# Bytes that no text file holds (C0 controls other than tab, newlines, form feed and escape).
BINARY_BYTES = bytes(sorted(set(range(32)) - {9, 10, 11, 12, 13, 27}))
BINARY_SHARE = 0.01  # of the sample: more than this many control bytes is not text with a stray one
WIDE_ENCODINGS = ("utf-16", "utf16", "utf-32", "utf32", "ucs-2", "ucs2")  # text whose every other byte may be 0


def check_text(path: str, config: PrepConfig) -> None:
    """A CSV file must be text: random bytes or a spreadsheet saved under a .csv name say so in one
    line, instead of an encoding error whose suggested fix then prints binary as column names."""
    try:
        with _opener(path)(path, "rb") as handle:
            sample = handle.read(SNIFF_BYTES)
    except (OSError, EOFError) as error:
        raise ReadError(f"cannot read {path}: {first_line(error)}") from error
    if config.encoding.lower().replace("_", "-").startswith(WIDE_ENCODINGS):
        return
    nul = sample.find(b"\0")
    controls = len(sample) - len(sample.translate(None, BINARY_BYTES))
    if nul >= 0 or controls > BINARY_SHARE * len(sample):
        offset = nul if nul >= 0 else next(i for i, byte in enumerate(sample) if byte in BINARY_BYTES)
        where = " of its gzip content" if path.endswith(".gz") else ""
        raise ReadError(f"{path} does not look like a text CSV file (binary bytes at offset {offset}{where}); "
                        "give a CSV text file, or Parquet under a .parquet name")


def column_names(files: list[str], file_format: str, config: PrepConfig) -> list[str]:
    """The columns the files will have once read (united by name), from their headers alone: what
    `run-local` checks before the pipeline starts."""
    import pyarrow.parquet as pq

    names: list[str] = []
    for path in files:
        check_not_empty(path)
        if file_format == "parquet":
            try:
                header = pq.read_schema(path).names
            except (pa.ArrowInvalid, OSError) as error:
                raise ReadError(f"cannot read {path}: {first_line(error)}") from error
        else:
            check_text(path, config)
            header = _csv_header(path, config)
        names += [name for name in header if name not in names]
    return names


def _csv_header(path: str, config: PrepConfig) -> list[str]:
    encoding = "utf-8-sig" if config.encoding.lower().replace("_", "-") in ("utf-8", "utf8") else config.encoding
    delimiter = config.delimiter or sniff_delimiter(path, config.encoding)
    try:
        with _opener(path)(path, "rt", encoding=encoding, newline="") as handle:
            if len(delimiter) != 1:  # csv reads one-character delimiters only
                return handle.readline().rstrip("\r\n").split(delimiter)
            return next(csv.reader(handle, delimiter=delimiter), [])
    except (UnicodeError, LookupError, csv.Error, OSError, EOFError) as error:
        raise ReadError(f"cannot read {path}: {first_line(error)}{encoding_hint(error, config)}") from error


def read_files(files: list[str], file_format: str, config: PrepConfig, source: str, connection) -> pa.Table:
    """All files as one table (CSV: pyarrow where it reads the file cleanly, else DuckDB)."""
    for path in files:
        check_not_empty(path)
        if file_format == "csv":
            check_text(path, config)
    if file_format == "csv":
        fast = _read_csv_pyarrow(files, config)
        if fast is not None:
            return fast
    listing = "[" + ", ".join(sql_literal(f) for f in files) + "]"
    if file_format == "parquet":
        reader = f"read_parquet({listing}, union_by_name = true)"
    else:
        options = ["header = true", f"encoding = {sql_literal(config.encoding)}", "sample_size = 100000"]
        if config.delimiter:
            options.append(f"delim = {sql_literal(config.delimiter)}")
        if time_as_text(config) and all(config.timestamp_column in _csv_header(path, config) for path in files):
            options.append(f"types = {{{sql_literal(config.timestamp_column)}: 'VARCHAR'}}")
        reader = f"read_csv({listing}, {', '.join(options)})"
    import duckdb

    try:
        return connection.sql(f"SELECT * FROM {reader}").to_arrow_table()
    except duckdb.Error as error:
        raise ReadError(f"cannot read {source}: {first_line(error)}{encoding_hint(error, config)}") from error


def _read_csv_pyarrow(files: list[str], config: PrepConfig) -> pa.Table | None:
    """The files read by pyarrow, or None when any of them is not plain enough for it."""
    import pyarrow.csv as pacsv

    tables = []
    for path in files:
        delimiter = config.delimiter or sniff_delimiter(path, config.encoding)
        if len(delimiter) != 1:
            return None
        try:
            header = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(encoding=config.encoding, block_size=SNIFF_BYTES),
                parse_options=pacsv.ParseOptions(delimiter=delimiter),
            ).schema.names
            if len(set(header)) != len(header) or "" in header:
                return None
            wanted = {name: TEXT_CODES for name in text_columns(config) if name in header}
            if time_as_text(config) and config.timestamp_column in header:
                wanted[config.timestamp_column] = pa.string()
            with _csv_source(path) as source:
                table = pacsv.read_csv(
                    source,
                    read_options=pacsv.ReadOptions(encoding=config.encoding, block_size=BLOCK_BYTES),
                    parse_options=pacsv.ParseOptions(delimiter=delimiter),
                    convert_options=pacsv.ConvertOptions(column_types=wanted, include_columns=needed_columns(header, config)),
                )
            tables.append(_in_header_order(table, header))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, UnicodeError, LookupError) as error:
            log.info("%s: pyarrow cannot read it (%s); reading with DuckDB", path, first_line(error))
            return None
    try:
        return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        log.info("the files' columns do not unite (%s); reading with DuckDB", first_line(error))
        return None


def _csv_source(path: str):
    """The file as pyarrow's CSV reader takes it: memory-mapped when it is not compressed, so the
    reader parses the page cache in place instead of copying each block into fresh memory first."""
    if not path.endswith(".gz"):  # pyarrow decompresses a .gz by its name
        try:
            return pa.memory_map(path)
        except OSError:  # a file system that cannot map files: read it as a stream
            pass
    return contextlib.nullcontext(path)


def needed_columns(header: list[str], config: PrepConfig) -> list[str]:
    """The columns data prep uses: the configured ones and any that --where may name (a header name
    found in its text, ignoring case as SQL does). Every column when --where could reach columns
    without naming them (`*`, COLUMNS(...))."""
    where = config.where.lower()
    if "*" in where or "columns(" in where.replace(" ", ""):
        return header
    configured = {config.user_column, config.item_column, config.timestamp_column, *config.purchase_features}
    named = [name for name in header if where and (name.lower() in where or name.lower().replace('"', '""') in where)]
    return [name for name in header if name in configured or name in named]


def _in_header_order(table: pa.Table, header: list[str]) -> pa.Table:
    """The table with every header column, in header order: the ones not read are null columns (no
    buffers), so messages still list the file's columns."""
    if table.num_columns == len(header):
        return table
    return pa.table([table[name] if name in table.column_names else pa.nulls(table.num_rows) for name in header], names=header)


def sniff_delimiter(path: str, encoding: str) -> str:
    """The delimiter of a CSV file, guessed from its first 64 KiB (',' when unclear)."""
    try:
        with _opener(path)(path, "rb") as handle:
            sample = handle.read(SNIFF_BYTES).decode(encoding, errors="replace")
        return csv.Sniffer().sniff(sample.rsplit("\n", 1)[0] if "\n" in sample else sample, delimiters=DELIMITERS).delimiter
    except (csv.Error, OSError, LookupError, EOFError):
        return ","
