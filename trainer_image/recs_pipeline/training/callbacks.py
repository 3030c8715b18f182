"""The train step's Keras callbacks: the one that feeds the collector once per epoch and flushes it to
the sink, and early stopping that survives a resume."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from recs_pipeline.core import metric_keys, progress
from recs_pipeline.core.errors import ConfigError
from recs_pipeline.core.tf_runtime import keras
from recs_pipeline.tracking.collector import MetricsCollector, weight_bin_edges, weight_statistics
from recs_pipeline.tracking.schema import TOWERS
from recs_pipeline.tracking.sink import MetricsSink

log = logging.getLogger(__name__)


def tower_weights(variables: list) -> np.ndarray:
    """All trainable weights of a tower as one flat vector (a host copy, once per epoch)."""
    return np.concatenate([np.ravel(w.numpy()) for w in variables])


class MetricsCallback(keras.callbacks.Callback):
    """At each epoch end: read the on-device gradient statistics, compute weight statistics, append
    the epoch to the history and flush history + status. Nothing happens per batch."""

    def __init__(
        self,
        collector: MetricsCollector,
        sink: MetricsSink,
        histogram_bins: int,
        save_checkpoint: Callable[[int], None] | None = None,
        early_stopping: bool = False,
    ):
        super().__init__()
        self.collector = collector
        self.sink = sink
        self.histogram_bins = histogram_bins
        self.save_checkpoint = save_checkpoint
        self.early_stopping = early_stopping
        self._epoch_started = 0.0
        self._seconds: list[float] = []  # this process's epochs, the first with its start-up

    def on_train_begin(self, logs=None) -> None:
        self.sink.flush(self.collector.serialise(), "training", self.collector.epochs_done)

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None) -> None:
        seconds = time.perf_counter() - self._epoch_started
        require_finite_losses(epoch, self.sink.epochs_total, logs or {}, self.collector.history["params"])
        model = self.model
        towers = dict(zip(("query", "candidate"), model.tower_variables()))
        values = {name: tower_weights(towers[name]) for name in TOWERS}
        edges = {}
        for name in TOWERS:
            existing = self.collector.history["weight_stats"][name]["histogram"]["bin_edges"]
            edges[name] = existing or weight_bin_edges(values[name], self.histogram_bins)
        weights = {name: weight_statistics(values[name], edges[name]) for name in TOWERS}
        gradients = model.gradient_statistics.read_and_reset()
        self.collector.log_epoch(
            epoch=epoch,
            logs={k: float(v) for k, v in (logs or {}).items()},
            seconds=seconds,
            gradients=gradients,
            weights=weights,
            weight_edges=edges,
            gradient_edges=model.gradient_statistics.bin_edges,
        )
        # History, then checkpoint, then status: the status never claims an epoch the checkpoint lacks.
        done = self.collector.epochs_done
        self.sink.write_history(self.collector.serialise())
        if self.save_checkpoint is not None:
            self.save_checkpoint(done)
        self.sink.write_status(self.sink.status("training", done))
        self._seconds.append(seconds)
        progress.report(epoch_line(epoch, self.sink.epochs_total, logs or {}, seconds, self.early_stopping, self._seconds[1:]))


def require_finite_losses(epoch: int, epochs_total: int, logs: dict, params: dict) -> None:
    """Stop a diverged run at the epoch it diverged in, saying what to change: its weights are NaN or
    infinite from then on, so every later epoch, the score fit and the evaluation would be noise."""
    for name in ("loss", "val_loss"):
        if name in logs and not math.isfinite(float(logs[name])):
            raise ConfigError(f"training diverged: {name} is {float(logs[name])} in {metric_keys.epoch_label(epoch, epochs_total)}; "
                              f"start a new run with a lower learning_rate (now {params['learning_rate']:g}) or a higher "
                              f"temperature (now {params['temperature']:g})")


def epoch_line(epoch: int, epochs_total: int, logs: dict, seconds: float, early_stopping: bool,
               later_seconds: Sequence[float] = ()) -> str:
    """'epoch 2 of 10: loss 5.3100, val_loss 5.4100, 15.9 s; ETA 2 min 07 s for up to 8 more'. The
    ETA is the mean time of this process's epochs after its first (`later_seconds`) for each epoch
    left: the first epoch also traces and compiles the model, so it has none (early stopping may
    end sooner)."""
    left = epochs_total - epoch - 1
    figures = ", ".join(f"{name} {logs[name]:.4f}" for name in ("loss", "val_loss") if name in logs)
    line = f"{metric_keys.epoch_label(epoch, epochs_total)}: {figures}, {progress.duration(seconds)}"
    if left > 0 and later_seconds:
        eta = sum(later_seconds) / len(later_seconds) * left
        line += f"; ETA {progress.duration(eta)} for {'up to ' if early_stopping else ''}{left} more"
    elif left > 0:
        line += " with start-up; ETA after the next epoch"
    return line


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Early stopping on validation loss, keeping the best epoch's weights, that starts from the
    finished epochs' validation losses on a resumed run, so a killed and resumed run stops at the
    same epoch as one never interrupted. The checkpoint holds the last finished epoch only: when
    that was the best, its weights are the ones kept; when an earlier epoch was (possible only with
    patience above 1), the best of the epochs this process trains is kept instead."""

    def __init__(self, patience: int, finished_val_losses: list[float | None]):
        super().__init__(monitor="val_loss", patience=patience, restore_best_weights=True)
        self.finished_val_losses = finished_val_losses

    def on_train_begin(self, logs=None) -> None:
        super().on_train_begin(logs)
        losses = [np.inf if value is None or not np.isfinite(value) else value for value in self.finished_val_losses]
        if not losses:
            return
        best = int(np.argmin(losses))
        self.best, self.best_epoch = losses[best], best
        self.wait = len(losses) - 1 - best
        if self.wait == 0:
            self.best_weights = self.model.get_weights()
