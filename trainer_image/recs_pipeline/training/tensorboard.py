"""TensorBoard event files, one point per finished epoch, where Vertex AI's TensorBoard looks.

A CustomJob with `tensorboard` and `base_output_directory` set gets AIP_TENSORBOARD_LOG_DIR (a
gs:// folder under the base output directory) and uploads what appears there to the TensorBoard
instance while it runs: the console's live training curves. Without it the events go beside the
history (`<history folder>/tensorboard`), for `tensorboard --logdir`. Events are written to a local
folder and, for a gs:// target, copied there through google-cloud-storage after every epoch (the
path the rest of the package writes GCS by). A failed write fails the step, like the history's.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from recs_pipeline.core import storage
from recs_pipeline.core.tf_runtime import keras, tf
from recs_pipeline.tracking.collector import MetricsCollector
from recs_pipeline.training.scalars import epoch_scalars

LOG_DIR_ENV = "AIP_TENSORBOARD_LOG_DIR"
FOLDER = "tensorboard"


def log_dir(training_log_dir: str, chief: bool = True, environ: Mapping[str, str] = os.environ) -> str:
    """Where the events go: Vertex AI's TensorBoard folder when the job has one (the chief only:
    every replica gets the variable), else beside the training log."""
    return (chief and environ.get(LOG_DIR_ENV)) or storage.join(training_log_dir, FOLDER)


class EpochSummaries(keras.callbacks.Callback):
    """After each epoch (and after the metrics callback recorded it), the epoch's scalars from the
    history, at step = the epoch number the history gives it (so a resumed run continues the curves)."""

    def __init__(self, collector: MetricsCollector, target: str):
        super().__init__()
        self.collector = collector
        self.target = target
        self._local = tempfile.mkdtemp(prefix="recs-tensorboard-") if storage.is_gcs(target) else target
        self._writer = None

    def on_epoch_end(self, epoch, logs=None) -> None:
        history = self.collector.history
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self._local)
        index = len(history["epochs"]) - 1
        with self._writer.as_default():
            for name, value in epoch_scalars(history, index).items():
                tf.summary.scalar(name, value, step=history["epochs"][index])
        self._writer.flush()
        if self._local != self.target:
            for path in sorted(Path(self._local).iterdir()):
                storage.write_bytes(storage.join(self.target, path.name), path.read_bytes(), content_type="application/octet-stream")

    def on_train_end(self, logs=None) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._local != self.target:
            shutil.rmtree(self._local, ignore_errors=True)
