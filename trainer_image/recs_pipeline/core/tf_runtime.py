"""The one place TensorFlow is imported: TFRS needs Keras 2 (tf-keras), chosen before the first import.

TensorFlow >= 2.16 binds `tf.keras` to Keras 3, on which TFRS fails (tensorflow/recommenders
#712). `TF_USE_LEGACY_KERAS=1` must be set before TensorFlow is first imported; the image sets
it in its ENV, and importing this module sets it for local runs and notebooks. If TensorFlow was
already imported with Keras 3 we stop with a message saying what to do, rather than train wrongly.

TensorFlow's C++ log is quiet by default (`TF_CPP_MIN_LOG_LEVEL=3`: a CPU machine otherwise
prints CUDA errors such as `failed call to cuInit` on every start; Python errors are unaffected
and the train step's own line names the devices it uses). A user's own setting wins. The lines
TensorFlow writes while it loads, before its logging is set up, ignore that setting
(tensorflow/tensorflow#100442), so they are held back during the import and only those at or
above the level are written out.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

DEFAULT_LOG_LEVEL = "3"  # 0: everything, 1: no INFO, 2: no WARNING, 3: no ERROR
_LEVELS = {"I": 0, "W": 1, "E": 2, "F": 3}
# absl ("I0000 00:00:1758131045.203198 3722035 port.cc:153] ...") and tsl
# ("2025-09-17 14:44:05.157831: I external/...") line starts, and absl's banner about itself.
_NATIVE_LINE = re.compile(r"^(?:(?P<absl>[IWEF])\d{4} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: (?P<tsl>[IWEF]) )")
_BANNER = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def _min_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def shown_lines(text: str, min_level: int) -> list[str]:
    """The lines of what was written while TensorFlow loaded that are at or above the level: a
    native log line by its level letter, the lines after it with it (a message may span lines),
    anything before the first native line kept."""
    kept, showing = [], True
    for line in text.splitlines(keepends=True):
        match = _NATIVE_LINE.match(line)
        if line.startswith(_BANNER):
            showing = min_level < 1
        elif match is not None:
            showing = _LEVELS[match["absl"] or match["tsl"]] >= min_level
        if showing:
            kept.append(line)
    return kept


@contextmanager
def _native_log_filtered() -> Iterator[None]:
    """Hold back what is written to file descriptor 2 meanwhile; then write out the lines `shown` keeps."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable descriptor 2: nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            held.seek(0)
            kept = shown_lines(held.read().decode(errors="replace"), _min_level())
            if kept:
                os.write(2, "".join(kept).encode())


if "tensorflow" not in sys.modules:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", DEFAULT_LOG_LEVEL)
    with _native_log_filtered():
        import tensorflow  # noqa: F401

import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras as keras

if not tf.keras.__name__.startswith("tf_keras"):
    raise ImportError(
        f"tf.keras is {tf.keras.__name__} (Keras 3); TFRS needs Keras 2 (tf-keras). Set TF_USE_LEGACY_KERAS=1 "
        "before TensorFlow is first imported (in a notebook: restart the kernel, set it first)."
    )

__all__ = ["keras", "tf", "tfrs"]
