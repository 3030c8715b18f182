"""Recall of the default model beside the baselines and the ceiling, on the embedded data.

The ceiling ranks the catalog for each test customer by the generator's true purchase
probability given what the model was trained on: repeat_probability × the customer's share of
training purchases of each product + (1 - repeat_probability) × the true new-purchase
probability from the planted latents and popularity. No model can beat that ranking in
expectation with the same information, so `model / ceiling` says how much of the learnable signal
the model captures. Everything goes through the evaluate step's ranker (same test rows, same
catalog); the model is trained with the default settings, as `run-local` trains it.
Usage: python benchmarks/quality.py [--epochs N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from recs_pipeline.core import metric_keys
from recs_pipeline.core.config import RECALL_KS, TrainConfig
from recs_pipeline.data import prepare, prepared_data, synthetic
from recs_pipeline.evaluation import ranking
from recs_pipeline.steps import evaluate, train


def ceiling_scorer(data: synthetic.SyntheticData, prepared: prepared_data.PreparedData) -> ranking.ScoreFn:
    truth = data.truth
    generator_item = prepared.items["item_id"].str[1:].astype(int).to_numpy()
    generator_user = prepared.users["user_id"].str[1:].astype(int).to_numpy()
    train_rows = prepared.splits["train"]
    counts = np.zeros((len(prepared.users), len(prepared.items)), dtype=np.float32)
    np.add.at(counts, (train_rows["user_idx"].to_numpy(), train_rows["item_idx"].to_numpy()), 1.0)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)

    def score(users: np.ndarray, low: int, high: int) -> np.ndarray:
        fresh = truth.new_purchase_probabilities(generator_user[users])[:, generator_item[low:high]]
        return truth.repeat_probability * shares[users, low:high] + (1.0 - truth.repeat_probability) * fresh

    return score


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    parser.add_argument("--smoke", action="store_true", help="Tiny sizes: checks the script still runs (CI), measures nothing.")
    args = parser.parse_args()
    data = synthetic.generate(synthetic.SyntheticConfig(num_purchases=3000, num_customers=120, num_products=60) if args.smoke
                              else synthetic.SyntheticConfig())
    if args.smoke:
        args.epochs = 1
    with tempfile.TemporaryDirectory() as folder:
        prepare.prepare_frame(data.purchases, synthetic.prep_config(), f"{folder}/prepared", "synthetic")
        prepared = prepared_data.load(f"{folder}/prepared")
        train.run(f"{folder}/prepared", f"{folder}/model", f"{folder}/history", TrainConfig(epochs=args.epochs), run_id="quality")
        result = evaluate.run(f"{folder}/prepared", f"{folder}/model", f"{folder}/history/training_metrics.json", f"{folder}/evaluation")
        history = json.loads(Path(f"{folder}/history/training_metrics.json").read_text())
    ceiling = ranking.evaluate_scorer(ceiling_scorer(data, prepared), prepared.splits["test"], len(prepared.items)).values
    rows = {"model": result["model"], **result["baselines"], "ceiling": ceiling}
    print(f"test rows: {result['test_rows']}, catalog: {result['catalog_size']}, epochs: up to {args.epochs}, "
          f"trained {len(history['epochs'])}, best_epoch {history['final_metrics']['best_epoch']} (0-based, kept by early stopping)")
    print(f"{'':18s}" + "".join(f"{metric_keys.recall_label(k):>12s}" for k in RECALL_KS))
    for name, values in rows.items():
        print(f"{name:18s}" + "".join(f"{values[metric_keys.recall(k)]:12.4f}" for k in RECALL_KS))
    for k in (10, 100):
        key = metric_keys.recall(k)
        print(f"model_vs_ceiling_at_{k}: {result['model'][key] / ceiling[key]:.3f}   "
              f"model_vs_repeat_at_{k}: {result['model'][key] / result['baselines']['repeat_purchase'][key]:.3f}   "
              f"model_vs_popularity_at_{k}: {result['model'][key] / result['baselines']['popularity'][key]:.3f}")


if __name__ == "__main__":
    main()
