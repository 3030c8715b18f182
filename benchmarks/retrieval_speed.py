"""Top-100 for 10k customers over a 100k-product catalog: the exported retrieval SavedModel against
the evaluate step's NumPy ranking of the same blended score (scoring.blend.scorer + ranking.top_k), each
customer with 20 purchases over a year, both blend weights non-zero.

Both answer the same customers in the same batches; the script checks they return the same lists
(up to float32 ties), then prints both times and the ratio.
Usage: python benchmarks/retrieval_speed.py [--customers 10000] [--products 100000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import pandas as pd
from recs_pipeline.core.config import TrainConfig
from recs_pipeline.core.tf_runtime import tf
from recs_pipeline.evaluation import ranking
from recs_pipeline.model import retrieval
from recs_pipeline.model.towers import build_tower
from recs_pipeline.scoring import blend
from recs_pipeline.scoring.blend import Blend
from recs_pipeline.scoring.purchases import Purchases
from recs_pipeline.scoring.terms import Terms, TowerScores

K = 100
PURCHASES_PER_CUSTOMER = 20
WEIGHTS = Blend(towers=0.3, knn=0.03, repeat_half_life_days=30.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--smoke", action="store_true", help="Tiny sizes: checks the script still runs (CI), measures nothing.")
    args = parser.parse_args()
    if args.smoke:
        args.customers, args.products, args.batch = 300, 500, 100
    rng = np.random.default_rng(0)
    config = TrainConfig(embedding_dim=64)
    query_tower = build_tower("query_tower", "user_idx", args.customers, {}, config)
    users = pd.DataFrame({"user_idx": np.arange(args.customers, dtype=np.int32), "user_id": [f"C{i:07d}" for i in range(args.customers)]})
    items = pd.DataFrame({"item_idx": np.arange(args.products, dtype=np.int32), "item_id": [f"P{i:07d}" for i in range(args.products)]})
    item_embeddings = rng.normal(size=(args.products, config.embedding_dim)).astype(np.float32)
    popularity = rng.random(args.products).astype(np.float32)
    customer_ids = users["user_id"].tolist()
    purchases = args.customers * PURCHASES_PER_CUSTOMER
    days = pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.uniform(0, 365, purchases), unit="D")
    rows = pd.DataFrame({"user_idx": np.repeat(np.arange(args.customers), PURCHASES_PER_CUSTOMER),
                         "item_idx": rng.integers(0, args.products, purchases), "timestamp": days})
    known = Purchases(rows, args.customers, args.products)
    half_life = TrainConfig().baseline_half_life_days

    with tempfile.TemporaryDirectory() as folder:
        retrieval.export(folder, query_tower, users["user_id"].to_numpy(str), {"user_idx": users["user_idx"].to_numpy()}, items,
                         item_embeddings, popularity, k=K, tables=blend.serving_tables(known, WEIGHTS.repeat_half_life_days, half_life),
                         form=WEIGHTS,
                         temperature=config.temperature)
        serve = retrieval.load(folder)
        serve(customer_id=tf.constant(customer_ids[: args.batch]))  # warm-up: first call traces
        started = time.perf_counter()
        served = [serve(customer_id=tf.constant(customer_ids[s : s + args.batch]))["product_ids"].numpy()
                  for s in range(0, args.customers, args.batch)]
        exported_s = time.perf_counter() - started

    user_embeddings = query_tower.predict({"user_idx": users["user_idx"].to_numpy()}, batch_size=8192, verbose=0)
    score = blend.scorer(WEIGHTS, Terms(known, half_life, TowerScores(user_embeddings, item_embeddings, config.temperature)))
    started = time.perf_counter()
    floor = [ranking.top_k(score, np.arange(s, min(s + args.batch, args.customers)), args.products, K)[0]
             for s in range(0, args.customers, args.batch)]
    numpy_s = time.perf_counter() - started

    served_idx = np.concatenate([np.char.lstrip(b.astype(str), "P").astype(np.int64) for b in served])
    overlap = np.mean([len(np.intersect1d(a, b)) / K for a, b in zip(served_idx, np.concatenate(floor))])
    print(f"customers: {args.customers}, catalog: {args.products} products, dimension {config.embedding_dim}, top-{K}, "
          f"batches of {args.batch}")
    print(f"same_products_share: {overlap:.5f}")
    print(f"exported_model_s: {exported_s:.2f}  numpy_evaluate_ranking_s: {numpy_s:.2f}")
    print(f"customers_per_s: exported {args.customers / exported_s:.0f}, numpy {args.customers / numpy_s:.0f}")
    print(f"exported_vs_numpy_time_ratio: {exported_s / numpy_s:.2f}")


if __name__ == "__main__":
    main()
