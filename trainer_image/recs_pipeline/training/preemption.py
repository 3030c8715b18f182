"""SIGTERM as an exception: what Vertex AI (and Kubernetes) send before taking a worker away.

The handler raises `Preempted` in the main thread between two Python steps of the fit loop, so
the epoch in flight is abandoned and the train step records the finished epochs and the status
`failed`, reason `preempted`, then exits non-zero: Vertex restarts the task, which resumes.
It derives from BaseException so no `except Exception` on the way (storage retries, Keras) can
turn it into an ordinary error.

A process that runs the steps as child processes (run-local, through kfp.local) passes SIGTERM
on to them and waits until they exit (`sigterm_forwarded`): exiting at once would leave the train
task, which may still be writing its status to gs://, orphaned and unheard, or unsignalled and
training on.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children first), from /proc: kfp.local starts a task as a shell
    whose child is the Python process that trains."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process ended meanwhile
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, frontier = [], [pid]
    while frontier:
        children = [child for parent in frontier for child in parents.get(parent, [])]
        found += children
        frontier = children
    return found


class Forwarding:
    """What `sigterm_forwarded` saw: whether SIGTERM came, and to which processes it was passed."""

    def __init__(self) -> None:
        self.received = False
        self.forwarded_to: list[int] = []

    def handle(self, signum: int, frame) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one stop is enough; the children are flushing
        self.received = True
        self.forwarded_to = descendants(os.getpid())
        for pid in self.forwarded_to:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if not self.forwarded_to:  # between two tasks: nothing to wait for
            raise Preempted(f"received {signal.Signals(signum).name}")

    def raise_if_received(self) -> None:
        """Call where a task's failure is reported: a task stopped by SIGTERM is a preemption, not an error."""
        if self.received:
            raise Preempted("received SIGTERM")


@contextmanager
def sigterm_forwarded() -> Iterator[Forwarding]:
    """Within the block SIGTERM is passed on to this process's child processes, and the block
    goes on until they exit (raising Preempted at once when there is none); the caller turns the
    failed task that follows into Preempted with `raise_if_received`."""
    forwarding = Forwarding()
    if threading.current_thread() is not threading.main_thread():
        yield forwarding
        return
    previous = signal.signal(signal.SIGTERM, forwarding.handle)
    try:
        yield forwarding
    finally:
        signal.signal(signal.SIGTERM, previous)
