"""Our blocked brute-force recall@K against TFRS FactorizedTopK: same model, same test rows, one run.

Trains the default model for one epoch on the embedded default data, embeds every customer and
product once, then times (a) `ranking.positive_ranks` + `ranking_metrics` and (b) TFRS
`FactorizedTopK` (streaming index over the catalog, id-based, test rows in batches of 4096, as
`model.evaluate` would feed it). Prints both recall sets, their largest difference, and the ratio.
Usage: python benchmarks/evaluate_speed.py
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from recs_pipeline.core import metric_keys
from recs_pipeline.core.config import RECALL_KS, TrainConfig
from recs_pipeline.core.tf_runtime import tf, tfrs
from recs_pipeline.data import prepare, prepared_data, purchase_windows, synthetic
from recs_pipeline.evaluation import ranking
from recs_pipeline.model import trained
from recs_pipeline.scoring.terms import embedding_scorer
from recs_pipeline.steps import train


def tfrs_recall(user_embeddings: np.ndarray, item_embeddings: np.ndarray, users: np.ndarray, items: np.ndarray) -> dict[int, float]:
    candidates = tf.data.Dataset.from_tensor_slices((np.arange(len(item_embeddings)), item_embeddings)).batch(128)
    metric = tfrs.metrics.FactorizedTopK(candidates=candidates, ks=RECALL_KS)
    for start in range(0, len(users), 4096):
        rows = slice(start, start + 4096)
        metric.update_state(
            tf.constant(user_embeddings[users[rows]]), tf.constant(item_embeddings[items[rows]]),
            true_candidate_ids=tf.constant(items[rows]),
        )
    return {k: float(v) for k, v in zip(RECALL_KS, metric.result())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="Tiny sizes: checks the script still runs (CI), measures nothing.")
    args = parser.parse_args()
    tiny = synthetic.SyntheticConfig(num_purchases=3000, num_customers=120, num_products=60)
    data = synthetic.generate(tiny if args.smoke else synthetic.SyntheticConfig())
    with tempfile.TemporaryDirectory() as folder:
        prepare.prepare_frame(data.purchases, synthetic.prep_config(), f"{folder}/prepared", "synthetic")
        prepared = prepared_data.load(f"{folder}/prepared")
        train.run(f"{folder}/prepared", f"{folder}/model", f"{folder}/history", TrainConfig(epochs=1), run_id="bench")
        query, candidate = trained.load_towers(f"{folder}/model")
        info = trained.model_info(f"{folder}/model")
    windows = purchase_windows.customer_windows(prepared, info["history_length"])
    user_embeddings = trained.embed_entities(query, prepared.users, info["query_inputs"], windows)
    item_embeddings = trained.embed_entities(candidate, prepared.items, info["candidate_inputs"])
    test = prepared.splits["test"]
    users = test["user_idx"].to_numpy(np.int64)
    items = test["item_idx"].to_numpy(np.int64)

    started = time.perf_counter()
    ranks = ranking.positive_ranks(embedding_scorer(user_embeddings, item_embeddings), users, items, len(item_embeddings))
    ours = ranking.ranking_metrics(ranks).values
    ours_s = time.perf_counter() - started

    started = time.perf_counter()
    theirs = tfrs_recall(user_embeddings, item_embeddings, users, items)
    tfrs_s = time.perf_counter() - started

    print(f"test rows: {len(users)}, catalog: {len(item_embeddings)} products")
    print("recall@K  " + "  ".join(f"@{k}: ours {ours[metric_keys.recall(k)]:.6f} tfrs {theirs[k]:.6f}" for k in RECALL_KS))
    print(f"max_abs_difference: {max(abs(ours[metric_keys.recall(k)] - theirs[k]) for k in RECALL_KS):.2e}")
    print(f"ours_s: {ours_s:.2f}  tfrs_factorized_top_k_s: {tfrs_s:.2f}")
    print(f"speedup_ratio: {tfrs_s / ours_s:.2f}")


if __name__ == "__main__":
    main()
