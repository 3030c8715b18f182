"""The evaluate step's body: the model and the baselines on the same test split, by the same ranker."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from recs_pipeline.core import metric_keys, progress
from recs_pipeline.core.config import RECALL_KS, TrainConfig
from recs_pipeline.core.tf_runtime import tf
from recs_pipeline.data import prepared_data, purchase_windows
from recs_pipeline.evaluation import output, ranking, segments
from recs_pipeline.model import trained
from recs_pipeline.model.towers import in_batch_losses
from recs_pipeline.scoring import forms, mixture
from recs_pipeline.scoring.purchases import Purchases
from recs_pipeline.scoring.terms import Terms

log = logging.getLogger(__name__)


def in_batch_test_loss(user_embeddings: np.ndarray, item_embeddings: np.ndarray, prepared: prepared_data.PreparedData,
                       params: dict[str, Any], windows: np.ndarray | None = None, buy_again: mixture.Mixture | None = None) -> float:
    """The training objective (in-batch softmax, same batch size and temperature, the buy-again
    mixture when the model has one) on the test split."""
    config = TrainConfig(**params)
    test = prepared.splits["test"]
    users = test["user_idx"].to_numpy()
    items = test["item_idx"].to_numpy()
    probabilities = prepared_data.item_probabilities(prepared)[items] if config.logq_correction else None
    losses, weights = [], []
    for start in range(0, len(test), config.batch_size):
        stop = start + config.batch_size
        query = tf.constant(user_embeddings[users[start:stop]])
        candidate = tf.constant(item_embeddings[items[start:stop]])
        adjust = None
        if buy_again is not None:
            rows = tf.constant(windows[users[start:stop]])
            counts = mixture.batch_counts(rows, tf.constant(items[start:stop]), len(item_embeddings))
            totals = mixture.window_sizes(rows)
            adjust = lambda logits, c=counts, t=totals: mixture.mix(logits, c, t, buy_again.bought, buy_again.share)
        per_example = in_batch_losses(query, candidate, tf.constant(items[start:stop]),
                                      None if probabilities is None else tf.constant(probabilities[start:stop]),
                                      config.temperature, config.remove_accidental_hits, adjust)
        loss = tf.reduce_mean(per_example)
        losses.append(float(loss))
        weights.append(len(users[start:stop]))
    return float(np.average(losses, weights=weights))


def run(prepared_dir: str, model_dir: str, training_log_file: str, output_dir: str) -> dict[str, Any]:
    """Writes evaluation.json: model metrics, baseline metrics, test loss; returns the same dict."""
    started = time.perf_counter()
    prepared = prepared_data.load(prepared_dir)
    info = trained.model_info(model_dir)
    params = json.loads(Path(training_log_file).read_text())["params"]  # the run's training log: its settings
    # A no-op for params the train step resolved; training logs from before exclude_seen get it here.
    config = TrainConfig(**params).resolved(prepared_data.repeat_share(prepared.splits["train"]))
    towers = trained.load_towers(model_dir)
    num_items = len(prepared.items)
    test = prepared.splits["test"]
    known = Purchases.of_splits(prepared, purchase_windows.BEFORE_TEST)  # every scorer's purchases: each view built once
    terms = trained.scoring_terms(known, prepared, towers, info)
    # The model's terms serve the baselines too, unless their kNN half-life differs.
    same_knn = info["knn_half_life_days"] == config.baseline_half_life_days
    baseline_terms = terms if same_knn else Terms(known, config.baseline_half_life_days, terms.towers, 0, terms.user_groups,
                                                  terms.item_categories)
    baselines = forms.scorable_baselines(config.baseline_half_life_days, baseline_terms)
    scorers = {output.MODEL: forms.scorer(trained.score_form(info), terms),
               **{name: forms.scorer(form, baseline_terms) for name, form in baselines.items()}}
    if config.excludes_seen:  # the same for the model and every baseline, as the served model does
        scorers = {name: ranking.excluding(score, known.counts()) for name, score in scorers.items()}
    users, items = test["user_idx"].to_numpy(np.int64), test["item_idx"].to_numpy(np.int64)
    groups = segments.masks(users, items, known.bought_users(), known.bought_items())
    measured = {}
    for name, score in scorers.items():
        measured[name] = ranking.evaluate_scorer(score, test, num_items, groups)
        log.info("evaluate: %s ranked (%s)", name, progress.duration(time.perf_counter() - started))
    model_metrics = measured.pop(output.MODEL)
    result = {
        "test_rows": len(test),
        "catalog_size": num_items,
        "ks": list(RECALL_KS),
        "exclude_seen": config.excludes_seen,
        output.MODEL: {"loss": in_batch_test_loss(terms.towers.user_embeddings, terms.towers.item_embeddings, prepared, params,
                                                  known.windows(info["history_length"]) if info["history_length"] else None,
                                                  mixture.Mixture(*info["buy_again"]) if info["buy_again"] else None),
                       **model_metrics.values},
        output.BASELINES: {name: figures.values for name, figures in measured.items()},
        output.SEGMENTS: {segment: {segments.ROWS: int(groups[segment].sum()), output.MODEL: model_metrics.groups[segment],
                                    output.BASELINES: {name: figures.groups[segment] for name, figures in measured.items()}}
                          for segment in segments.SEGMENTS if segment in model_metrics.groups},
    }
    output.write(output_dir, result)
    log.info("evaluate: purchase views built: %s", ", ".join(f"{name} {count}" for name, count in sorted(known.built.items())))
    progress.report(f"evaluate: {summary(result)} ({progress.duration(time.perf_counter() - started)})")
    return result


def summary(result: dict[str, Any], k: int = 10) -> str:
    """recall@k of the model beside the baselines, in one line; says when the catalog is too small
    for the largest K, and plainly which baselines the model does not beat."""
    key = metric_keys.recall(k)
    baselines = ", ".join(f"{name} {figures[key]:.4f}" for name, figures in result["baselines"].items())
    line = (f"{metric_keys.recall_label(k)} {result['model'][key]:.4f} (baselines: {baselines}) on {result['test_rows']:,} test rows, "
            f"{result['catalog_size']:,} products")
    too_large = [K for K in result["ks"] if K >= result["catalog_size"]]
    if too_large:
        shown = ", ".join(metric_keys.recall_label(K) for K in too_large) + (" is" if len(too_large) == 1 else " are")
        line += f"; the catalog has only {result['catalog_size']:,} products, so {shown} 1 for every method"
    compared = tuple(K for K in output.VERDICT_KS if K < result["catalog_size"])  # a K every method reaches compares nothing
    return f"{line}; {output.verdict(result, compared)}" if compared else line

