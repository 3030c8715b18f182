"""Timestamps as people have them, to epoch microseconds (UTC).

- typed columns: Parquet timestamp (with or without a time zone) and date columns, and CSV text
  that pyarrow types as such (ISO dates and times; not with a strptime format given, whose
  column is read as text);
- text: the strptime format given, first (`2024-01-02` under `%Y-%d-%m` is February 1st), then
  ISO; without one, ISO with or without a time zone (`2025-03-01T10:00:00+02:00` is 08:00 UTC),
  date only, then a few common formats;
- numbers: epoch seconds or milliseconds, told apart by size (below 1e11 seconds: up to the year
  5138; 1e11 milliseconds is 1973), or named with `epoch_s` / `epoch_ms`; integers that are all
  valid YYYYMMDD dates (20250301) are read as dates, since as epoch seconds they would all fall
  in 1970.

Naive times are taken as UTC. A value that does not parse becomes NO_TIME; data prep reports the
first such row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recs_pipeline.core.config import EPOCH_FORMATS
from recs_pipeline.core.errors import DataError

EPOCH_MICROS = dict(zip(EPOCH_FORMATS, (1_000_000, 1_000), strict=True))  # microseconds per second, per millisecond
COMMON_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d", "%m/%d/%Y %H:%M",
                  "%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y")
NO_TIME = np.iinfo(np.int64).min  # NaT as int64
SECONDS_BELOW = 1e11
MILLISECONDS_BELOW = 1e14
FIRST_MICROS, LAST_MICROS = -62135596800 * 10**6, 253402300799 * 10**6  # years 1 to 9999 (BigQuery's TIMESTAMP range too)
_YYYYMMDD = (19000101, 21001231)


@dataclass(frozen=True)
class ParsedTimes:
    micros: np.ndarray  # int64 epoch microseconds, NO_TIME where a value does not parse
    read_as: str  # how the values were read, for the data stats: "epoch_s", "%Y%m%d", "timestamp[us, tz=UTC] column", ...


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def parse(con, table: pa.Table, column: str, timestamp_format: str, source: str) -> ParsedTimes:
    """The column `column` of `table` (registered in `con` as input_table, its TimeZone UTC) as times."""
    values = table[column]
    if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
        return ParsedTimes(_typed(values), f"{values.type} column")
    if timestamp_format in EPOCH_FORMATS:
        return ParsedTimes(_from_epoch(_numbers(con, values, column), EPOCH_MICROS[timestamp_format]), timestamp_format)
    if not timestamp_format and (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)):
        return _detected(_numbers(con, values, column), column, source)
    micros = _from_text(con, column, timestamp_format)
    if not timestamp_format and (micros == NO_TIME).any():
        # Text that is numbers (a text column of epochs, or one a stray word made text): read as
        # numbers when more values are numbers than dates, so the row reported is the odd one.
        numbers = _numbers(con, values, column)
        if np.isfinite(numbers).sum() > (micros != NO_TIME).sum():
            return _detected(numbers, column, source)
    return ParsedTimes(micros, timestamp_format or "text (ISO or a common format)")


_MICROS_PER = {"s": 1_000_000, "ms": 1_000, "us": 1}


def _typed(values: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_timestamp(values.type) and values.type.unit in _MICROS_PER and not values.null_count and len(values):
        # The stored integers (UTC, whatever the zone), scaled chunk by chunk into one NumPy array:
        # one pass, not a cast per step, and no concatenated copy first.
        stored = values.cast(pa.int64())
        scale = _MICROS_PER[values.type.unit]
        bounds = pc.min_max(stored)
        if -(2**63) // scale < bounds["min"].as_py() and bounds["max"].as_py() < 2**63 // scale:  # else the cast below names the overflow
            micros = np.empty(len(stored), np.int64)
            position = 0
            for chunk in stored.chunks:
                np.multiply(chunk.to_numpy(), scale, out=micros[position:position + len(chunk)])
                position += len(chunk)
            return micros
    if pa.types.is_timestamp(values.type) and values.type.tz is not None:
        values = values.cast(pa.timestamp(values.type.unit))  # the UTC wall time the values hold
    return values.cast(pa.timestamp("us")).cast(pa.int64()).fill_null(NO_TIME).to_numpy()


def _numbers(con, values: pa.ChunkedArray, column: str) -> np.ndarray:
    """float64 per row, NaN where the value is empty or not a number."""
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        return values.cast(pa.float64()).fill_null(np.nan).to_numpy()
    result = con.sql(f"SELECT TRY_CAST(trim(CAST({_q(column)} AS VARCHAR)) AS DOUBLE) AS n FROM input_table").to_arrow_table()["n"]
    return result.fill_null(np.nan).to_numpy()


def _from_epoch(numbers: np.ndarray, micros_per_unit: int) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = numbers * micros_per_unit
        valid = np.isfinite(scaled) & (scaled >= FIRST_MICROS) & (scaled <= LAST_MICROS)
        return np.where(valid, np.round(np.where(valid, scaled, 0)).astype(np.int64), NO_TIME)


def _detected(numbers: np.ndarray, column: str, source: str) -> ParsedTimes:
    """Numbers read as YYYYMMDD dates, epoch seconds or epoch milliseconds, whichever they can be."""
    finite = numbers[np.isfinite(numbers)]
    if len(finite) == 0:
        return ParsedTimes(np.full(len(numbers), NO_TIME, np.int64), "epoch_s")
    if _all_dates(finite):
        text = pd.Series(np.where(np.isfinite(numbers), numbers, 0).astype(np.int64).astype(str))
        parsed = pd.to_datetime(text, format="%Y%m%d", errors="coerce").to_numpy("datetime64[us]").astype(np.int64)
        return ParsedTimes(np.where(np.isfinite(numbers), parsed, NO_TIME), "%Y%m%d")
    largest = float(np.abs(finite).max())
    if largest < SECONDS_BELOW:
        return ParsedTimes(_from_epoch(numbers, EPOCH_MICROS["epoch_s"]), "epoch_s")
    if largest < MILLISECONDS_BELOW:
        return ParsedTimes(_from_epoch(numbers, EPOCH_MICROS["epoch_ms"]), "epoch_ms")
    raise DataError(f"{source}: column {column!r} holds numbers up to {largest:.6g}, too large for epoch seconds or milliseconds "
                    "(microseconds?); convert them to seconds, or pass --timestamp-format")


def _all_dates(values: np.ndarray) -> bool:
    if not ((values == np.floor(values)) & (values >= _YYYYMMDD[0]) & (values <= _YYYYMMDD[1])).all():
        return False
    days = values.astype(np.int64)
    month, day = days // 100 % 100, days % 100
    return bool(((month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)).all())


def _from_text(con, column: str, timestamp_format: str) -> np.ndarray:
    """Text parsed by DuckDB: the given format first, then ISO (with a time zone it is converted to
    UTC); without a format, ISO first, then the common formats."""
    text = f"trim(CAST({_q(column)} AS VARCHAR))"
    formats = [timestamp_format] if timestamp_format else list(COMMON_FORMATS)
    zoned = [f for f in formats if "%z" in f or "%Z" in f]
    plain = [f for f in formats if f not in zoned]
    parts = [f"try_strptime({text}, [{', '.join(map(_literal, plain))}])"] if plain else []
    parts += [f"timezone('UTC', try_strptime({text}, {_literal(f)}))" for f in zoned]
    iso = f"timezone('UTC', TRY_CAST({text} AS TIMESTAMPTZ))"
    parts = [*parts, iso] if timestamp_format else [iso, *parts]
    parsed = con.sql(f"SELECT coalesce({', '.join(parts)}) AS t FROM input_table").to_arrow_table()["t"]
    return parsed.cast(pa.timestamp("us")).cast(pa.int64()).fill_null(NO_TIME).to_numpy()
