"""Where the history and status go: every target gets both files, each epoch, or the run fails.

Targets are the train step's artifact folder and, when given, the user's metrics URI (gs:// or a
local folder). Before training the sink is probed: status `initializing` is written and read
back, so a missing bucket or a missing permission stops the step in seconds, not after an hour.

A target belongs to one run id: the first run claims it by creating `run_claim.json` atomically
(create-if-absent). A run with another id pointed at the same target is refused before it writes
anything there; a rerun with the same id (a resume) passes.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from recs_pipeline.core import storage
from recs_pipeline.core.errors import UserError
from recs_pipeline.tracking.collector import utc_now

METRICS_FILE = "training_metrics.json"
STATUS_FILE = "training_status.json"
CLAIM_FILE = "run_claim.json"
STAGES = ("initializing", "training", "completed", "failed")

log = logging.getLogger(__name__)


RUN_ID_FIELD = "{run_id}"


def expand_metrics_uri(uri: str, run_id: str) -> str:
    """`{run_id}` in a metrics URI becomes the run's id (characters other than letters, digits,
    '.', '_' and '-' as '-'), so one setting, e.g. in a schedule, gives every run its own folder."""
    return uri.replace(RUN_ID_FIELD, re.sub(r"[^A-Za-z0-9._-]", "-", run_id)) if uri else uri


class SinkUnwritableError(UserError, RuntimeError):
    """The metrics sink cannot be written or read back: training must not start."""


class SinkClaimedError(SinkUnwritableError):
    """Another run id already writes to this target: its history must not be overwritten."""


@dataclass
class MetricsSink:
    """Writes training_metrics.json and training_status.json under every target folder."""

    targets: list[str]
    run_id: str
    epochs_total: int
    writer: str = "single"  # the process that writes: "single", or the cluster task ("chief:0")
    started_at: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        self.targets = [storage.check_uri(target) for target in self.targets if target]
        if not self.targets:
            raise ValueError("a metrics sink needs at least one target")

    def status(self, stage: str, epochs_done: int, error: str | None = None, reason: str | None = None) -> dict[str, Any]:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}")
        return {
            "run_id": self.run_id,
            "stage": stage,
            "epochs_done": epochs_done,
            "epochs_total": self.epochs_total,
            "error": error,
            "reason": reason,
            "writer": self.writer,
            "started_at": self.started_at,
            "updated_at": utc_now(),
        }

    def claim(self, target: str) -> None:
        """Make `target` this run's, or raise if another run id holds it."""
        uri = storage.join(target, CLAIM_FILE)
        claim = {"run_id": self.run_id, "claimed_at": utc_now()}
        try:
            if storage.create_exclusive(uri, json.dumps(claim).encode()):
                return
            holder = json.loads(storage.read_bytes(uri))
        except (storage.StorageError, OSError, ValueError) as error:
            raise SinkUnwritableError(f"metrics sink {target} is not writable: {error}") from error
        if holder.get("run_id") != self.run_id:
            raise SinkClaimedError(
                f"metrics sink {target} belongs to run {holder.get('run_id')!r} (claimed {holder.get('claimed_at')}); "
                f"run {self.run_id!r} will not overwrite it: give another --metrics-uri, or the same --run-id to resume"
            )

    def probe(self) -> None:
        """Claim every target, write status `initializing` and read it back; raise naming the URI if not."""
        expected = self.status("initializing", 0)
        for target in self.targets:
            self.claim(target)
        for target in self.targets:
            uri = storage.join(target, STATUS_FILE)
            try:
                storage.write_bytes(uri, json.dumps(expected).encode())
                read_back = json.loads(storage.read_bytes(uri))
            except (storage.StorageError, OSError, ValueError) as error:
                raise SinkUnwritableError(f"metrics sink {target} is not writable: {error}") from error
            if read_back.get("run_id") != self.run_id or read_back.get("stage") != "initializing":
                raise SinkUnwritableError(f"metrics sink {target}: status read back differs from what was written")
            log.info("metrics sink ready: %s", target)

    def write_history(self, payload: bytes) -> None:
        for target in self.targets:
            storage.write_bytes(storage.join(target, METRICS_FILE), payload)

    def write_status(self, status: dict[str, Any]) -> None:
        for target in self.targets:
            storage.write_bytes(storage.join(target, STATUS_FILE), json.dumps(status, indent=1).encode())

    def flush(self, payload: bytes, stage: str, epochs_done: int) -> None:
        """One object write for the training log, one for the status, per target."""
        self.write_history(payload)
        self.write_status(self.status(stage, epochs_done))

    def record_failure(self, epochs_done: int, error: BaseException, reason: str = "error", history: bytes | None = None) -> None:
        """Best effort to say why the run failed (and to write the finished epochs' history once
        more); the original error is raised by the caller anyway."""
        message = f"{type(error).__name__}: {error}"
        for target in self.targets:
            uri = storage.join(target, STATUS_FILE)
            try:
                if history is not None:
                    storage.write_bytes(storage.join(target, METRICS_FILE), history)
                storage.write_bytes(uri, json.dumps(self.status("failed", epochs_done, message, reason), indent=1).encode())
            except (storage.StorageError, OSError) as write_error:
                # The run is already failing with `error`; this one is logged, and the caller re-raises.
                log.error("could not record failure status at %s: %s", uri, write_error)
