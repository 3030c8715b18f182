"""The train step's body: probe the sink, fit the two towers with the collector, export, finish."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recs_pipeline.core import metric_keys, progress
from recs_pipeline.core.config import TrainConfig
from recs_pipeline.core.tf_runtime import keras, tf
from recs_pipeline.data import prepared_data, purchase_windows
from recs_pipeline.model import score_fit, trained
from recs_pipeline.model.towers import PooledProducts, TwoTowerModel, build_tower, make_optimizer
from recs_pipeline.scoring import forms
from recs_pipeline.scoring.blend import Blend
from recs_pipeline.scoring.mixture import Mixture
from recs_pipeline.scoring.purchases import Purchases
from recs_pipeline.tracking.collector import MetricsCollector
from recs_pipeline.tracking.sink import MetricsSink, expand_metrics_uri
from recs_pipeline.training import distribution, resume, tensorboard
from recs_pipeline.training.callbacks import MetricsCallback, ResumableEarlyStopping
from recs_pipeline.training.preemption import Preempted, sigterm_raises

log = logging.getLogger(__name__)
PREFETCH_BATCHES = 2  # batches gathered ahead of the train step


@dataclass(frozen=True)
class TrainResult:
    epochs_done: int
    final_loss: float
    final_val_loss: float


def run(
    prepared_dir: str,
    model_dir: str,
    training_log_dir: str,
    config: TrainConfig,
    run_id: str,
    metrics_uri: str = "",
    serving_dir: str = "",
) -> TrainResult:
    """Train and export; the training log reaches every sink target each epoch, or the step fails.

    A run whose id already has a training log and checkpoint at the durable target (the metrics URI,
    else the artifact folder, which a restarted Vertex worker gets back) continues from there.
    `{run_id}` in the metrics URI is replaced by the run id. `serving_dir` (default: `<model_dir>/retrieval`) gets the
    retrieval SavedModel. In a cluster (TF_CONFIG) every worker trains, and only the chief writes (distribution.py).
    """
    cluster = distribution.from_environment()
    metrics_uri = expand_metrics_uri(metrics_uri, run_id)
    durable = metrics_uri or training_log_dir
    serving_dir = serving_dir or str(Path(model_dir) / trained.RETRIEVAL_DIR)
    if cluster.is_chief:
        outputs = _Outputs(model_dir, serving_dir, [training_log_dir, metrics_uri], durable)
        return _train(prepared_dir, outputs, durable, config, run_id, cluster)
    with tempfile.TemporaryDirectory(prefix="recs-worker-") as scratch:
        log.info("%s of %d workers: the chief writes the training log, status, checkpoints and model; this one a temporary folder",
                 cluster.task, cluster.workers)
        outputs = _Outputs(f"{scratch}/model", f"{scratch}/serving", [f"{scratch}/history"], f"{scratch}/history")
        return _train(prepared_dir, outputs, durable, config, run_id, cluster)


@dataclass(frozen=True)
class _Outputs:
    """Where one process writes: the real targets for the chief, a temporary folder for the others."""

    model_dir: str
    serving_dir: str
    sink_targets: list[str]
    checkpoint_target: str


def _train(prepared_dir: str, outputs: _Outputs, durable: str, config: TrainConfig, run_id: str,
           cluster: distribution.Cluster) -> TrainResult:
    sink = MetricsSink(outputs.sink_targets, run_id=run_id, epochs_total=config.epochs, writer=cluster.task)
    sink.probe()
    collector: MetricsCollector | None = None  # built once the config is resolved and any earlier training log read
    with sigterm_raises():
        try:
            prepared = prepared_data.load(prepared_dir)
            config = config.resolved(prepared_data.repeat_share(prepared.splits["train"]))
            resume_point = resume.find_resume_point(durable, run_id, config.as_params())
            # `epochs` may have grown since the earlier run
            resumed = {**resume_point.history, "params": config.as_params()} if resume_point is not None else None
            collector = MetricsCollector(run_id, config.as_params(), history=resumed)
            checkpoints = _Checkpoints(read_from=durable if resume_point is not None else "", write_to=outputs.checkpoint_target)
            started = time.perf_counter()
            model, kept_epoch = _fit(prepared, config, collector, sink, checkpoints, cluster.strategy,
                                     tensorboard.log_dir(outputs.sink_targets[0], cluster.is_chief))
            fitted = fit_score_form(model, prepared, config)
            trained.write(model, prepared, config, outputs.model_dir, outputs.serving_dir, fitted.form)
            final = _final_losses(collector.history["loss"], kept_epoch)
            collector.set_final_metrics({**final, **form_figures(fitted)})
            sink.flush(collector.serialise(), "completed", collector.epochs_done)
        except BaseException as error:
            reason = "preempted" if isinstance(error, Preempted) else "error"
            # The finished epochs' training log once more (a no-op rewrite unless the failure cut an
            # epoch-end flush short); never when nothing was trained: a refused resume keeps its file.
            done = collector.epochs_done if collector is not None else 0
            finished = collector.serialise() if collector is not None and done else None
            sink.record_failure(done, error, reason, finished)
            if reason == "preempted":
                log.error("preempted after %d finished epoch(s); training log and status flushed", done)
            raise
    progress.report(f"train: {outcome(collector.epochs_done, config, final)}; {form_outcome(fitted)} "
                    f"({progress.duration(time.perf_counter() - started)})")
    return TrainResult(collector.epochs_done, final[metric_keys.FINAL_LOSS], final[metric_keys.FINAL_VAL_LOSS])


def fit_score_form(model: TwoTowerModel, prepared: prepared_data.PreparedData, config: TrainConfig) -> score_fit.FormFit:
    """The score form (model.score_fit), fitted on the validation purchases with the training split as the known purchases."""
    info = trained.describe(model, prepared, config)
    known = Purchases.of_splits(prepared, purchase_windows.TRAINING)
    towers = (model.query_tower, model.candidate_tower)
    terms = trained.scoring_terms(known, prepared, towers, info)
    val = prepared.splits["val"]
    trained_mixture = Mixture(*info["buy_again"]) if info["buy_again"] else None
    launched = np.zeros(len(prepared.items), bool)  # the products that exist by validation's end: bought by then
    for split in purchase_windows.BEFORE_TEST:
        launched[prepared.splits[split]["item_idx"].to_numpy()] = True
    return score_fit.fit(terms, config.baseline_half_life_days, val["user_idx"].to_numpy(np.int64), val["item_idx"].to_numpy(np.int64),
                         len(prepared.items), known.counts() if config.excludes_seen else None, config.seed,
                         (trained_mixture, forms.scorer(trained_mixture, terms)) if trained_mixture else None, launched,
                         trained.features_only_towers(towers, prepared, info, terms))


def form_figures(fitted: score_fit.FormFit) -> dict[str, float]:
    """The fit's figures for final_metrics (a mixture has no blend weights: 0)."""
    form = fitted.form if isinstance(fitted.form, Blend) else Blend(0.0, 0.0, 0.0)
    return {metric_keys.BLEND_TOWERS_WEIGHT: form.towers, metric_keys.BLEND_NEW_CUSTOMER_TOWERS_WEIGHT: form.towers_new_customers,
            metric_keys.BLEND_NEW_PRODUCT_TOWERS_WEIGHT: form.towers_new_products,
            metric_keys.BLEND_KNN_WEIGHT: form.knn, metric_keys.BLEND_REPEAT_HALF_LIFE: form.repeat_half_life_days,
            metric_keys.BLEND_VALIDATION_GAIN: fitted.gain, metric_keys.SCORES_BY_MIXTURE: float(isinstance(fitted.form, Mixture))}


def form_outcome(fitted: score_fit.FormFit) -> str:
    """The chosen form and how it compares on validation with the best baseline form there, as a person reads it."""
    if isinstance(fitted.form, Mixture):
        form = "scores by the trained buy-again mixture"
    else:
        half_life = fitted.form.repeat_half_life_days
        repeat = f"{half_life:g}-day half-life" if half_life else "by count"
        kept = f"as {fitted.kept_rival} for customers with purchases" if fitted.kept_rival else \
            f"by the blend: towers {fitted.form.towers:g}, item-kNN {fitted.form.knn:g}, repeats {repeat}"
        form = (f"scores {kept}; towers {fitted.form.towers_new_customers:g} for new customers, "
                f"{fitted.form.towers_new_products:g} for new products")
    ratio = f"{fitted.gain:.3f}x"
    if fitted.gain < 1:
        verdict = f"below {fitted.rival} there: {ratio} its mean validation recall"
    elif fitted.kept_rival and fitted.gain == 1:
        verdict = f"no blend or mixture beat {fitted.rival} on validation"
    else:
        verdict = f"mean validation recall {ratio} the best baseline there, {fitted.rival}"
    return f"{form} ({verdict}; {fitted.customers:,} customers)"


def _final_losses(losses: dict[str, list], kept_epoch: int) -> dict[str, float]:
    """Last epoch's losses, the epoch with the lowest validation loss, and the epoch whose weights
    the model holds (0-based, as `epochs`)."""
    val = [v if v is not None else float("inf") for v in losses["val_loss"]]
    best = min(range(len(val)), key=val.__getitem__)
    return {metric_keys.FINAL_LOSS: losses["loss"][-1], metric_keys.FINAL_VAL_LOSS: losses["val_loss"][-1], metric_keys.BEST_EPOCH: best,
            metric_keys.BEST_VAL_LOSS: losses["val_loss"][best], metric_keys.KEPT_EPOCH: kept_epoch}


def outcome(epochs_done: int, config: TrainConfig, final: dict[str, float]) -> str:
    """Which epochs ran and whose weights were kept, as a person reads it (epochs counted from 1)."""
    kept = final[metric_keys.KEPT_EPOCH]
    stopped = config.early_stopping_patience and epochs_done < config.epochs
    ran = (f"early stopping after {metric_keys.epoch_label(epochs_done - 1, config.epochs)} (validation loss not lower for "
           f"{config.early_stopping_patience} epoch(s))" if stopped else f"{epochs_done} of {config.epochs} epoch(s)")
    val_loss = final[metric_keys.BEST_VAL_LOSS] if kept == final[metric_keys.BEST_EPOCH] else None
    reason = "the lowest validation loss" if val_loss is not None else "the last"
    figure = f", val_loss {val_loss:.4f}" if val_loss is not None else ""
    return f"{ran}; kept the weights of {metric_keys.epoch_label(kept)} ({reason}{figure})"


@dataclass(frozen=True)
class _Checkpoints:
    read_from: str  # empty: a fresh run
    write_to: str


def model_inputs(split_name: str, prepared: prepared_data.PreparedData, config: TrainConfig) -> dict[str, np.ndarray]:
    """The integer columns both towers read, as int32 arrays, each row's recent products when the
    customer tower pools them, and (for the logQ correction of in-batch negatives) each row's item
    sampling probability, its share of training purchases."""
    split = prepared.splits[split_name]
    names = ["user_idx", "item_idx", *(f"{f}_idx" for f in prepared.user_features + prepared.item_features)]
    columns = {name: split[name].to_numpy(np.int32) for name in names}
    for kind in ("user", "item"):  # words are per customer or product: gathered from the entity tables
        table = prepared.users if kind == "user" else prepared.items
        for feature in prepared.text_features(kind):
            name = feature + prepared_data.TOKENS_SUFFIX
            columns[name] = prepared_data.entity_input(table, name)[columns[f"{kind}_idx"]]
    if config.history_length:
        if split_name == "train":
            columns[purchase_windows.TOWER_INPUT] = purchase_windows.row_windows(split, config.history_length)
        else:
            windows = purchase_windows.customer_windows(prepared, config.history_length)[purchase_windows.TOWER_INPUT]
            columns[purchase_windows.TOWER_INPUT] = windows[columns["user_idx"]]
    if config.logq_correction:
        columns["item_probability"] = prepared_data.item_probabilities(prepared)[columns["item_idx"]]
    return columns


def make_dataset(columns: dict[str, np.ndarray], batch_size: int, seed: int, shuffle: bool) -> tf.data.Dataset:
    """Shuffle row indices, batch them, gather whole batches: no per-example Python or string work.

    tf.data's autotuning is off: its model thread sleeps for a period that doubles as an iterator
    runs, and an iterator's destructor waits for it to wake, which on Ta-Feng cost about 10 s at the
    end of each fit. Gathering a batch is cheap next to the train step, so the parallelism (one call
    per CPU) and two batches prefetched need no tuning."""
    tensors = {name: tf.constant(values) for name, values in columns.items()}
    rows = len(next(iter(columns.values())))
    indices = tf.data.Dataset.range(rows)
    if shuffle:
        indices = indices.shuffle(rows, seed=seed, reshuffle_each_iteration=True)
    options = tf.data.Options()
    options.autotune.enabled = False
    return (
        indices.batch(batch_size)
        .map(lambda idx: {name: tf.gather(t, idx) for name, t in tensors.items()}, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(PREFETCH_BATCHES)
        .with_options(options)
    )


def build_model(prepared: prepared_data.PreparedData, config: TrainConfig, collect_gradients: bool = True) -> TwoTowerModel:
    """The two towers, compiled; call inside the strategy's scope when there is one."""
    vocab = prepared.vocabularies
    candidate = build_tower("candidate_tower", "item_idx", prepared.known_items, {f: len(v) for f, v in vocab["item_features"].items()},
                            config, texts=prepared.text_features("item"))
    history_of = None
    if config.history_length and config.pool_history:
        item_features = {name: prepared_data.entity_input(prepared.items, name) for name in candidate.input if name != "item_idx"}
        history_of = PooledProducts(candidate, item_features, name="history_pooling")
    query = build_tower("query_tower", "user_idx", prepared.known_users, {f: len(v) for f, v in vocab["user_features"].items()},
                        config, history_of, texts=prepared.text_features("user"))
    model = TwoTowerModel(query, candidate, config, len(prepared.items), collect_gradients=collect_gradients)
    model.compile(optimizer=make_optimizer(config))
    return model


def _fit(
    prepared: prepared_data.PreparedData,
    config: TrainConfig,
    collector: MetricsCollector,
    sink: MetricsSink,
    checkpoints: _Checkpoints,
    strategy: tf.distribute.Strategy,
    events_dir: str = "",
) -> tuple[TwoTowerModel, int]:
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        model = build_model(prepared, config)
        parts = {"buy_again": model.buy_again} if model.buy_again is not None else {}
        checkpoint = tf.train.Checkpoint(query_tower=model.query_tower, candidate_tower=model.candidate_tower,
                                         optimizer=model.optimizer, **parts)
        if checkpoints.read_from:
            # Create the optimizer's slots now (same variable order as the train step), so the restore
            # fills them at once rather than deferred to a first step after the files are gone.
            model.optimizer.build([v for tower in model.tower_variables() for v in tower])
            resume.restore_checkpoint(checkpoints.read_from, checkpoint)
            log.info("resuming run %s after %d finished epoch(s)", collector.history["run_id"], collector.epochs_done)
    train = make_dataset(model_inputs("train", prepared, config), config.batch_size, config.seed, shuffle=True)
    val = make_dataset(model_inputs("val", prepared, config), config.batch_size, config.seed, shuffle=False)
    progress.report(f"train: {len(prepared.splits['train']):,} rows, validating on {len(prepared.splits['val']):,}; "
                    f"{'resuming after ' + str(collector.epochs_done) + ' finished, ' if collector.epochs_done else ''}"
                    f"up to {config.epochs} epoch(s) on {_devices(strategy)}")
    callbacks: list[keras.callbacks.Callback] = [
        MetricsCallback(collector, sink, config.histogram_bins, lambda done: resume.save_checkpoint(checkpoints.write_to, checkpoint, done),
                        early_stopping=bool(config.early_stopping_patience))
    ]
    stopping = None
    if config.early_stopping_patience:
        # After the metrics callback, so the last epoch is recorded before training stops; the
        # exported towers are the best epoch's.
        stopping = ResumableEarlyStopping(config.early_stopping_patience, list(collector.history["loss"]["val_loss"]))
        callbacks.append(stopping)
    if events_dir:  # after the metrics callback: it writes the epoch the history just recorded
        callbacks.append(tensorboard.EpochSummaries(collector, events_dir))
    model.fit(train, validation_data=val, epochs=config.epochs, initial_epoch=collector.epochs_done, verbose=0, callbacks=callbacks)
    # Early stopping puts back the best weights it saw when training ends; without it (or before
    # it saw any) the model holds the last epoch's.
    kept = stopping.best_epoch if stopping is not None and stopping.best_weights is not None else collector.epochs_done - 1
    return model, kept


def _devices(strategy: tf.distribute.Strategy) -> str:
    """What trains, so a GPU that failed to start shows as 'CPU' here (TensorFlow's C++ log is quiet)."""
    gpus = len(tf.config.list_logical_devices("GPU"))
    replicas = strategy.num_replicas_in_sync
    where = f"{gpus} GPU(s)" if gpus else "CPU"
    return where + (f", {replicas} replicas" if replicas > 1 else "")
