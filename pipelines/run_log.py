"""What `run-local` shows while kfp.local runs: the progress lines on the console, everything in a log file.

kfp.local prints each task's output (its executor JSON, TensorFlow's messages, our log) and its
own lines through Python's `sys.stdout`, so the run's streams are replaced by a RunLog while the
pipeline runs. Every line goes to the log file in the output folder; the console gets the lines
the steps mark as progress (all of them with `--verbose`), wrapped to progress.CONSOLE_WIDTH. The last failure line a task marked
is kept: it is the cause the command ends with.
"""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import TextIO

from recs_pipeline.core.progress import FAILURE_MARKER, MARKER, console_lines

LOG_FILE = "run-local.log"
_COLOURS = re.compile(r"\x1b\[[0-9;]*m")


def plain(text: str) -> str:
    """Text without the terminal colours kfp.local puts into its messages."""
    return _COLOURS.sub("", text)


class RunLog(io.TextIOBase):
    """A text stream that writes every line to `log` and the progress lines (or, verbose, every line) to `console`."""

    def __init__(self, log: TextIO, console: TextIO, verbose: bool):
        super().__init__()
        self.log, self.console, self.verbose = log, console, verbose
        self.failures: list[str] = []
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.log.write(text)
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._line(line)
        return len(text)

    def flush(self) -> None:
        self.log.flush()
        self.console.flush()

    def _line(self, line: str) -> None:
        text = plain(line)
        if FAILURE_MARKER in text:
            self.failures.append(text.split(FAILURE_MARKER, 1)[1].strip())
        if self.verbose:
            self.console.write(line + "\n")
        elif MARKER in text:
            self.console.write("".join(line + "\n" for line in console_lines(text.split(MARKER, 1)[1].rstrip())))

    def close_line(self) -> None:
        """A last line without its newline."""
        if self._pending:
            self._line(self._pending)
            self._pending = ""


@contextmanager
def capture(output_dir: Path, verbose: bool) -> Iterator[RunLog]:
    """sys.stdout, sys.stderr and the root logger's output into a RunLog on `output_dir`/run-local.log
    while the block runs (kfp.local logs between tasks through the root logger)."""
    console = sys.stdout
    root = logging.getLogger()
    handlers = root.handlers[:]
    with open(output_dir / LOG_FILE, "w", encoding="utf-8", errors="replace") as log:
        stream = RunLog(log, console, verbose)
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root.handlers = [handler]
        try:
            with redirect_stdout(stream), redirect_stderr(stream):
                yield stream
        finally:
            root.handlers = handlers
            stream.close_line()
            stream.flush()
