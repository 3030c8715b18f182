"""Resuming a run: model and optimizer checkpoints beside the training log, and where to pick up.

Per epoch the callback writes the history, then the checkpoint, then the status. A kill between
those writes leaves the history at most one epoch ahead of the checkpoint; resuming takes the
smaller of the two and truncates the history to it, so no epoch is duplicated or missing.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recs_pipeline.core import storage
from recs_pipeline.core.errors import ConfigError
from recs_pipeline.core.tf_runtime import tf
from recs_pipeline.tracking.schema import validate
from recs_pipeline.tracking.sink import METRICS_FILE

CHECKPOINT_DIR = "checkpoint"
LATEST_FILE = "latest.json"
PREFIX = "ckpt"
# Parameters that may change between a run and its resumption (the rest shape the model).
RESUMABLE_CHANGES = frozenset({"epochs"})


@dataclass(frozen=True)
class ResumePoint:
    """A finished-epoch count with the history up to it."""

    epochs_done: int
    history: dict[str, Any]


CHECKPOINT_FILES = (PREFIX + ".index", PREFIX + ".data-00000-of-00001")


def _epoch_folder(epochs_done: int) -> str:
    return f"epoch-{epochs_done:05d}"


def save_checkpoint(target: str, checkpoint: tf.train.Checkpoint, epochs_done: int) -> None:
    """Write model + optimizer state into a folder of its own, then point `latest.json` at it.

    A kill mid-write leaves `latest.json` on the previous, complete folder (files of one checkpoint
    are never mixed with another's). The folder two epochs back is then removed.
    """
    folder = _epoch_folder(epochs_done)
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint.write(str(Path(scratch) / PREFIX))
        for name in CHECKPOINT_FILES:
            data = (Path(scratch) / name).read_bytes()
            storage.write_bytes(storage.join(target, CHECKPOINT_DIR, folder, name), data, "application/octet-stream")
    latest = {"epochs_done": epochs_done, "folder": folder}
    storage.write_bytes(storage.join(target, CHECKPOINT_DIR, LATEST_FILE), json.dumps(latest).encode())
    if epochs_done >= 2:
        for name in CHECKPOINT_FILES:
            storage.delete(storage.join(target, CHECKPOINT_DIR, _epoch_folder(epochs_done - 2), name))


def _latest(target: str) -> dict[str, Any] | None:
    try:
        return json.loads(storage.read_bytes(storage.join(target, CHECKPOINT_DIR, LATEST_FILE)))
    except FileNotFoundError:
        return None


def checkpoint_epochs(target: str) -> int | None:
    latest = _latest(target)
    return None if latest is None else int(latest["epochs_done"])


def restore_checkpoint(target: str, checkpoint: tf.train.Checkpoint) -> None:
    """Download the latest complete checkpoint and restore model and optimizer state from it."""
    latest = _latest(target)
    if latest is None:
        raise FileNotFoundError(f"no checkpoint under {storage.join(target, CHECKPOINT_DIR)}")
    with tempfile.TemporaryDirectory() as scratch:
        for name in CHECKPOINT_FILES:
            (Path(scratch) / name).write_bytes(storage.read_bytes(storage.join(target, CHECKPOINT_DIR, latest["folder"], name)))
        checkpoint.read(str(Path(scratch) / PREFIX)).assert_consumed()


def find_resume_point(target: str, run_id: str, params: dict[str, Any]) -> ResumePoint | None:
    """The point to continue this run from, or None to start fresh.

    Only the same run id resumes; a history whose parameters shaped a different model is refused.
    """
    try:
        history = json.loads(storage.read_bytes(storage.join(target, METRICS_FILE)))
    except FileNotFoundError:
        return None
    if history.get("run_id") != run_id:
        return None
    validate(history)
    changed = sorted(k for k in set(params) | set(history["params"])
                     if params.get(k) != history["params"].get(k) and k not in RESUMABLE_CHANGES)
    if changed:
        raise ConfigError(f"cannot resume run {run_id!r} at {target}: parameters differ from the saved run: {', '.join(changed)}")
    saved = checkpoint_epochs(target)
    if saved is None:
        return None
    done = min(saved, len(history["epochs"]))
    return ResumePoint(epochs_done=done, history=truncate(history, done))


def truncate(history: dict[str, Any], epochs: int) -> dict[str, Any]:
    """The history cut to its first `epochs` epochs, final metrics cleared (they belong to the end)."""
    cut = json.loads(json.dumps(history))

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (v if k == "bin_edges" else walk(v)) for k, v in node.items()}
        if isinstance(node, list):
            return node[:epochs]
        return node

    for key in ("epochs", "epoch_seconds", "loss", "gradient", "weight_stats", "gradient_stats"):
        cut[key] = walk(cut[key])
    cut["final_metrics"] = {}
    return cut
