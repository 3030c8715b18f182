"""Top-100 for 10k customers over a 100k-product catalog: the exported retrieval SavedModel against
a NumPy brute force on the same embeddings (the floor: one matmul + argpartition per batch).

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
from recs_pipeline.model import retrieval
from recs_pipeline.model.towers import build_tower

K = 100


def numpy_top_k(user_embeddings: np.ndarray, item_embeddings: np.ndarray, k: int) -> np.ndarray:
    scores = user_embeddings @ item_embeddings.T
    best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1)
    return np.take_along_axis(best, order, axis=1)


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

    with tempfile.TemporaryDirectory() as folder:
        retrieval.export(folder, query_tower, users["user_id"].to_numpy(str), {"user_idx": users["user_idx"].to_numpy()}, items,
                         item_embeddings, popularity, k=K)
        serve = retrieval.load(folder)
        serve(customer_id=tf.constant(customer_ids[: args.batch]))  # warm-up: first call traces
        started = time.perf_counter()
        served = [serve(customer_id=tf.constant(customer_ids[s : s + args.batch]))["product_ids"].numpy() for s in range(0, args.customers, args.batch)]
        exported_s = time.perf_counter() - started

    user_embeddings = query_tower.predict({"user_idx": users["user_idx"].to_numpy()}, batch_size=8192, verbose=0)
    numpy_top_k(user_embeddings[: args.batch], item_embeddings, K)  # warm-up
    started = time.perf_counter()
    floor = [numpy_top_k(user_embeddings[s : s + args.batch], item_embeddings, K) for s in range(0, args.customers, args.batch)]
    numpy_s = time.perf_counter() - started

    served_idx = np.concatenate([np.char.lstrip(b.astype(str), "P").astype(np.int64) for b in served])
    overlap = np.mean([len(np.intersect1d(a, b)) / K for a, b in zip(served_idx, np.concatenate(floor))])
    print(f"customers: {args.customers}, catalog: {args.products} products, dimension {config.embedding_dim}, top-{K}, batches of {args.batch}")
    print(f"same_products_share: {overlap:.5f}")
    print(f"exported_model_s: {exported_s:.2f}  numpy_brute_force_s: {numpy_s:.2f}")
    print(f"customers_per_s: exported {args.customers / exported_s:.0f}, numpy {args.customers / numpy_s:.0f}")
    print(f"exported_vs_numpy_time_ratio: {exported_s / numpy_s:.2f}")


if __name__ == "__main__":
    main()
