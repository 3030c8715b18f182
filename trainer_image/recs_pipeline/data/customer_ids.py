"""A file of customer ids for `recommend`: one id per line, or a CSV with a column of them.

Read before TensorFlow starts, so a bad file costs a second, not the model's start-up. A file is
a CSV when its first line holds the id column's name (alone or among other columns); otherwise
every non-blank line is one id, as written (surrounding spaces trimmed).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from recs_pipeline.core.errors import UserError
from recs_pipeline.data import table_reader

DEFAULT_COLUMN = "customer_id"


class CustomerFileError(UserError, ValueError):
    """The customers file cannot be read; the message names it and says why."""


def read(path: str, column: str = DEFAULT_COLUMN) -> list[str]:
    """The ids in `path`, in file order (repeats kept: each gets its answer)."""
    file = Path(path)
    if not file.is_file():
        raise CustomerFileError(f"customers file not found: {path}")
    data = file.read_bytes()
    if (nul := data.find(b"\0")) >= 0:
        raise CustomerFileError(f"{path} does not look like a text file (binary bytes at offset {nul}); "
                                f"give one customer id per line, or a CSV with a {column} column")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CustomerFileError(f"{path}: not UTF-8 text (byte {error.start}); save it as UTF-8") from error
    lines = text.splitlines()
    first = lines[0] if lines else ""
    delimiter = table_reader.DELIMITERS[0]
    for candidate in table_reader.DELIMITERS:
        if candidate in first:
            delimiter = candidate
            break
    header = [name.strip() for name in next(csv.reader([first], delimiter=delimiter), [])]
    if column in header:
        position = header.index(column)
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))[1:]
        ids = [row[position].strip() for row in rows if len(row) > position and row[position].strip()]
    elif len(header) > 1:
        raise CustomerFileError(f"{path}: no column {column!r}; columns found: {', '.join(header)} "
                                "(pass --customer-column, or give one id per line)")
    else:
        ids = [line.strip() for line in lines if line.strip()]
    if not ids:
        raise CustomerFileError(f"{path}: no customer ids in it")
    return ids
