"""SIGTERM as an exception: what Vertex AI (and Kubernetes) send before taking a worker away.

The handler raises `Preempted` in the main thread between two Python steps of the fit loop, so
the epoch in flight is abandoned and the train step records the finished epochs and the status
`failed`, reason `preempted`, then exits non-zero: Vertex restarts the task, which resumes.
It derives from BaseException so no `except Exception` on the way (storage retries, Keras) can
turn it into an ordinary error.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class Preempted(BaseException):
    """The process was asked to stop (SIGTERM)."""


def _raise_preempted(signum: int, frame) -> None:
    # Further SIGTERMs must not interrupt the flush that this exception triggers.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Preempted(f"received {signal.Signals(signum).name}")


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block SIGTERM raises Preempted; outside, the previous handler is back. Signal
    handlers belong to the main thread, so elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_preempted)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
