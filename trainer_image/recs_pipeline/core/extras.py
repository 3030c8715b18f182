"""The optional `train` extra: what preparing data and training need beyond the base install.

A notebook kernel installs the base package to submit, schedule and read metrics; a command that
prepares or trains there stops with one line saying what to install, not an ImportError deep in
a task.
"""

from __future__ import annotations

import importlib.util

from recs_pipeline.core.errors import UserError

TRAIN_MODULES = ("tensorflow", "tf_keras", "tensorflow_recommenders", "duckdb")


class MissingExtraError(UserError, ImportError):
    """A command needs the `train` extra, which is not installed; the message says how to get it."""


def require_train_extra(what: str) -> None:
    """Raise MissingExtraError naming `what` and the missing modules unless the train extra is installed."""
    missing = [name for name in TRAIN_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(f"{what} needs the train extra (missing: {', '.join(missing)}): pip install 'recs-pipeline[train]'")
