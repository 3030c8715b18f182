"""The lines a person reads while the pipeline runs: one per step, one per epoch, and a failed task's cause.

Tasks run in their own processes (kfp.local, Vertex AI), so these lines travel in the task's log
among everything else the libraries print. Each carries a marker: `run-local` shows the marked
lines and keeps the rest in its log file; on Vertex they read as plain log lines.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from recs_pipeline.core.errors import UserError

MARKER = "[progress] "
FAILURE_MARKER = "[failed] "

log = logging.getLogger("recs_pipeline.progress")


def report(message: str) -> None:
    """One progress line (a step's summary, an epoch)."""
    log.info("%s%s", MARKER, message)


CONSOLE_WIDTH = 120  # the longest line a console shows; a longer progress line is wrapped (the log keeps it whole)
_BREAKS = ("; ", ", ", " ")  # where a line is wrapped, the first that fits


def console_lines(message: str, width: int = CONSOLE_WIDTH, indent: str | None = None) -> list[str]:
    """A progress line as the console shows it: wrapped at a clause (`; `, then `, `, then a space)
    into lines of at most `width`, the continuations indented by `indent`, by default under the
    text after `step: `."""
    if indent is None:
        head = message.find(": ")
        indent = " " * (head + 2 if 0 < head < 30 else 2)
    lines, rest = [], message
    while len(rest) > width:
        cut = _cut(rest, width, len(indent) + 1)
        if cut is None:  # one word longer than the width (a path): left whole
            break
        at, sep = cut
        lines.append(rest[:at + len(sep)].rstrip())
        rest = indent + rest[at + len(sep):]
    return [*lines, rest]


def _cut(text: str, width: int, start: int) -> tuple[int, str] | None:
    """Where to wrap `text` so its first line fits `width`: the last clause break that fits."""
    for sep in _BREAKS:
        at = text.rfind(sep, start, width + 1)
        if at > start:
            return at, sep
    return None


class ConsoleHandler(logging.Handler):
    """For a step run straight from the CLI (`prepare`): the progress lines as run-local shows them
    (no time, level or marker) and warnings; the steps' and libraries' other INFO lines stay out.
    It writes to the sys.stdout of the moment, so a redirected stream (click's test runner) gets it."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(MARKER):
            sys.stdout.write("".join(line + "\n" for line in console_lines(message[len(MARKER):])))
        elif record.levelno >= logging.WARNING and not message.startswith(FAILURE_MARKER):  # a failure: the CLI's Error line says it
            sys.stdout.write(f"{record.levelname.lower()}: {message}\n")


def to_console() -> None:
    """The root logger's output becomes ConsoleHandler's, for the rest of the process."""
    root = logging.getLogger()
    root.handlers = [ConsoleHandler()]
    root.setLevel(logging.INFO)


def one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextmanager
def task(name: str) -> Iterator[None]:
    """Around a pipeline task's body: a failure is logged as one marked line, the cause a person
    reads (a UserError's message; for anything else the task, the type and the message), then
    re-raised, so the task fails and its traceback stays in the log."""
    try:
        yield
    except UserError as error:
        log.error("%s%s", FAILURE_MARKER, one_line(error))
        raise
    except Exception as error:
        log.error("%s%s failed: %s: %s", FAILURE_MARKER, name, type(error).__name__, one_line(error))
        raise


def duration(seconds: float) -> str:
    """'8.2 s', '2 min 07 s', '1 h 03 min': how long, as a person reads it."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
