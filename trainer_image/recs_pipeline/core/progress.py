"""The lines a person reads while the pipeline runs: one per step, one per epoch, and a failed task's cause.

Tasks run in their own processes (kfp.local, Vertex AI), so these lines travel in the task's log
among everything else the libraries print. Each carries a marker: `run-local` shows the marked
lines and keeps the rest in its log file; on Vertex they read as plain log lines.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

from recs_pipeline.core.errors import UserError

MARKER = "[progress] "
FAILURE_MARKER = "[failed] "

log = logging.getLogger("recs_pipeline.progress")


def report(message: str) -> None:
    """One progress line (a step's summary, an epoch)."""
    log.info("%s%s", MARKER, message)


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
