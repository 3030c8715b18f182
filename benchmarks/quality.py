"""Recall of the default model beside every baseline, over several training seeds, on any data.

With no --input, the embedded synthetic data, with its ceiling: the catalog ranked for each test
customer by the generator's true purchase probability given what the model knows
(repeat_probability x the customer's share of purchases before the test period + (1 -
repeat_probability) x the true new-purchase probability). With --input (CSV or Parquet, e.g.
tafeng.csv.gz, built by benchmarks/tafeng.py) the data is prepared as the pipeline's data_prep step prepares it.
Data prep runs once; each seed trains and evaluates with the default settings, as `run-local`
does, through the evaluate step itself (same test rows, same catalog, same ranker, same history).
Usage:
  python benchmarks/quality.py [--seeds 42,1,2]
  python benchmarks/quality.py --input tafeng.csv.gz --test-start 2001-02-01 [--seeds 42,1,2] [--optimizer lazy_adam]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from recs_pipeline.core import metric_keys
from recs_pipeline.core.config import OPTIMIZERS, RECALL_KS, TrainConfig
from recs_pipeline.data import prepared_data, purchase_windows, synthetic
from recs_pipeline.evaluation import output, ranking, segments
from recs_pipeline.scoring import forms
from recs_pipeline.steps import evaluate, prep, train

SMOKE = synthetic.SyntheticConfig(num_purchases=3000, num_customers=120, num_products=60)


def ceiling_scorer(data: synthetic.SyntheticData, prepared: prepared_data.PreparedData) -> ranking.ScoreFn:
    truth = data.truth
    generator_item = prepared.items["item_id"].str[1:].astype(int).to_numpy()
    generator_user = prepared.users["user_id"].str[1:].astype(int).to_numpy()
    known = np.concatenate([prepared.splits[name][["user_idx", "item_idx"]].to_numpy() for name in purchase_windows.BEFORE_TEST])
    counts = np.zeros((len(prepared.users), len(prepared.items)), dtype=np.float32)
    np.add.at(counts, (known[:, 0], known[:, 1]), 1.0)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)

    def score(users: np.ndarray, low: int, high: int) -> np.ndarray:
        fresh = truth.new_purchase_probabilities(generator_user[users])[:, generator_item[low:high]]
        return truth.repeat_probability * shares[users, low:high] + (1.0 - truth.repeat_probability) * fresh

    return score


def _figure(value: float | None) -> str:
    """3 decimals; a non-finite figure is null in training_metrics.json and shows as a dash."""
    return "-" if value is None else f"{value:.3f}"


def prepare_data(args: argparse.Namespace, folder: str) -> tuple[dict, synthetic.SyntheticData | None]:
    settings = {"test_start": args.test_start, "user_column": args.user_column, "item_column": args.item_column,
                "timestamp_column": args.timestamp_column, "user_features": args.user_features, "item_features": args.item_features,
                "user_numeric_features": args.user_numeric_features, "item_numeric_features": args.item_numeric_features}
    if args.input:
        return prep.run(folder, args.input, settings, {}), None
    data = synthetic.generate(SMOKE if args.smoke else synthetic.SyntheticConfig())
    from recs_pipeline.data import prepare

    return prepare.prepare_frame(data.purchases, synthetic.prep_config(test_start=args.test_start), folder, "synthetic"), data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", default="", help="CSV or Parquet interactions (default: the embedded synthetic data).")
    parser.add_argument("--test-start", default="", help="Temporal split: rows from this date on are the test split.")
    parser.add_argument("--user-column", default="customer_id")
    parser.add_argument("--item-column", default="product_id")
    parser.add_argument("--timestamp-column", default="timestamp")
    parser.add_argument("--user-features", default="", help="Categorical customer features, e.g. age_group,pin_code (Ta-Feng).")
    parser.add_argument("--item-features", default="", help="Categorical product features, e.g. product_subclass (Ta-Feng).")
    parser.add_argument("--user-numeric-features", default="")
    parser.add_argument("--item-numeric-features", default="", help="Numeric product features, e.g. sales_price (Ta-Feng).")
    parser.add_argument("--id-dropout", type=float, default=TrainConfig().id_dropout)
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=TrainConfig().optimizer)
    parser.add_argument("--seeds", default="42", help="Training seeds, comma-separated, e.g. 42,1,2.")
    parser.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    parser.add_argument("--smoke", action="store_true", help="Tiny sizes: checks the script still runs (CI), measures nothing.")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    if args.smoke:
        args.epochs, seeds = 1, seeds[:1]
    results, runs = [], []
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        stats, data = prepare_data(args, f"{folder}/prepared")
        prep_s = time.perf_counter() - started
        prepared = prepared_data.load(f"{folder}/prepared")
        for seed in seeds:
            out = f"{folder}/seed-{seed}"
            started = time.perf_counter()
            config = TrainConfig(epochs=args.epochs, seed=seed, id_dropout=args.id_dropout, optimizer=args.optimizer)
            train.run(f"{folder}/prepared", f"{out}/model", f"{out}/history", config, run_id=f"quality-{seed}")
            results.append(evaluate.run(f"{folder}/prepared", f"{out}/model", f"{out}/history/training_metrics.json", f"{out}/evaluation"))
            document = json.loads(Path(f"{out}/history/training_metrics.json").read_text())
            runs.append((seed, len(document["epochs"]), document["final_metrics"], time.perf_counter() - started))
    first = results[0]
    print(f"data: {stats['source']}, train/val/test rows {stats['train_rows']}/{stats['val_rows']}/{stats['test_rows']}, "
          f"catalog {first['catalog_size']}, exclude_seen {first['exclude_seen']}, prepare {prep_s:.0f} s")
    for seed, epochs, final, seconds in runs:
        form = ("the trained mixture" if final[metric_keys.SCORES_BY_MIXTURE] else
                f"the blend, towers {final[metric_keys.BLEND_TOWERS_WEIGHT]:g}, item-kNN {final[metric_keys.BLEND_KNN_WEIGHT]:g}")
        print(f"seed {seed}: trained {epochs} epoch(s), kept epoch {final[metric_keys.KEPT_EPOCH] + 1} (1-based); scores by {form}, "
              f"validation gain {_figure(final[metric_keys.BLEND_VALIDATION_GAIN])}; train + evaluate {seconds:.0f} s")
    extra = {"ceiling": ranking.evaluate_scorer(ceiling_scorer(data, prepared), prepared.splits["test"], len(prepared.items)).values} \
        if data is not None else {}
    print("all test rows:")
    print_table(method_rows(results, "model", "baselines", extra))
    print_ratios(results, lambda result: result)
    for segment in output.segment_figures(first):
        print(f"{segment}: {first['segments'][segment]['rows']:,} rows ({segments.DESCRIPTIONS.get(segment, '')})")
        print_table(method_rows([r["segments"][segment] for r in results], "model", "baselines", {}))
        print_ratios(results, lambda result, s=segment: result["segments"][s], f"{segment}_")


def method_rows(results: list[dict], model: str, baselines: str, extra: dict) -> dict[str, list[dict]]:
    """Each method's figures per seed: the model's and the towers' alone differ by seed, the other baselines do not."""
    rows = {"model": [r[model] for r in results]}
    for name in results[0][baselines]:
        rows[name] = [r[baselines][name] for r in results] if name == forms.TOWERS_ONLY else [results[0][baselines][name]]
    return {**rows, **{name: [figures] for name, figures in extra.items()}}


def print_table(rows: dict[str, list[dict]]) -> None:
    print(f"{'':18s}" + "".join(f"{metric_keys.recall_label(k):>16s}" for k in RECALL_KS) + f"{'ndcg@10':>16s}")
    for name, figures in rows.items():
        cells = []
        for key in [*(metric_keys.recall(k) for k in RECALL_KS), metric_keys.ndcg(10)]:
            values = [f[key] for f in figures]
            cells.append(f"{statistics.mean(values):.4f}" + (f"±{(max(values) - min(values)) / 2:.4f}" if len(values) > 1 else ""))
        print(f"{name:18s}" + "".join(f"{c:>16s}" for c in cells))


def print_ratios(results: list[dict], part, prefix: str = "") -> None:
    """The model against every baseline (the towers alone are the model's own part, not one) at @10 and @100."""
    first = part(results[0])
    baselines = {name: figures for name, figures in first["baselines"].items() if name != forms.TOWERS_ONLY}
    for k in (10, 100):
        key = metric_keys.recall(k)
        model = [part(r)["model"][key] for r in results]
        best = max(baselines, key=lambda name: baselines[name][key])
        top = baselines[best][key]
        if not top:
            print(f"{prefix}model_vs_best_baseline_at_{k}: - (every baseline 0)")
            continue
        print(f"{prefix}model_vs_best_baseline_at_{k}: {statistics.mean(model) / top:.3f} ({best}; "
              f"seeds {min(model) / top:.3f} to {max(model) / top:.3f})")

if __name__ == "__main__":
    main()
