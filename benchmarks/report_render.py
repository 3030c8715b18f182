"""What the HTML report of a 10-epoch run costs to render (matplotlib SVG charts), against a 2 s budget.

Builds a 10-epoch history through the real collector, with the default trainer's histogram bins
(30 weight bins, the symmetric-log gradient edges), two baselines and data stats, then renders
`report.html_report` several times in this process (the first render also pays matplotlib's
start-up, and is left out). Prints the wall and CPU seconds of each render, the page size, and the
ratio of the median CPU time to the budget: on the shared 2-core development machine, wall time
mostly measures the other processes. Usage: python benchmarks/report_render.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
from recs_pipeline.core import metric_keys
from recs_pipeline.core.config import RECALL_KS, TrainConfig
from recs_pipeline.model.gradient_stats import symlog_edges
from recs_pipeline.steps.publish import final_document
from recs_pipeline.tracking import report
from recs_pipeline.tracking.collector import MetricsCollector, weight_bin_edges, weight_statistics

BUDGET_S = 2.0


def history(epochs: int, bins: int, seed: int = 0) -> dict:
    """A history shaped like the trainer's, with values that drift over epochs as training's do."""
    rng = np.random.default_rng(seed)
    collector = MetricsCollector("benchmark-run", {"epochs": epochs, "early_stopping_patience": 1})
    grad_edges = symlog_edges()
    weight_edges = {tower: weight_bin_edges(rng.normal(0, 0.05, 5000), bins) for tower in ("query", "candidate")}
    for epoch in range(epochs):
        gradients = {}
        for tower in ("query", "candidate"):
            sample = rng.normal(0, 10.0 ** -(3 + epoch / 5), 5000)
            counts, _ = np.histogram(np.clip(sample, grad_edges[0], grad_edges[-1]), bins=grad_edges)
            gradients[tower] = {"mean": float(sample.mean()), "std": float(sample.std()), "min": float(sample.min()),
                                "max": float(sample.max()), "norm": float(np.linalg.norm(sample)), "histogram": counts.tolist()}
        gradients["total_norm"] = float(np.hypot(gradients["query"]["norm"], gradients["candidate"]["norm"]))
        weights = {tower: weight_statistics(rng.normal(0, 0.05 * (1 + epoch / 10), 5000), weight_edges[tower])
                   for tower in ("query", "candidate")}
        loss = 6.5 - np.log1p(epoch) / 2
        collector.log_epoch(epoch, {"loss": loss, "val_loss": loss + 0.3, "total_loss": loss + 0.02, "val_total_loss": loss + 0.32,
                                    "regularization_loss": 0.02, "val_regularization_loss": 0.02},
                            20.0 if epoch == 0 else 2.0, gradients, weights, weight_edges, grad_edges)
    collector.set_final_metrics({metric_keys.BEST_EPOCH: epochs - 1, metric_keys.BEST_VAL_LOSS: loss + 0.3})
    return json.loads(collector.serialise())


def figures(scale: float) -> dict:
    return {**{metric_keys.recall(k): scale * (0.3 + k / 200) for k in RECALL_KS},
            **{metric_keys.ndcg(k): scale * (0.2 + k / 400) for k in RECALL_KS}, metric_keys.MRR: scale * 0.25}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="Tiny sizes: checks the script still runs (CI), measures nothing.")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    epochs, repeats = (2, 1) if args.smoke else (10, args.repeats)
    evaluation = {"model": {"loss": 6.0, **figures(1.0)}, "baselines": {"popularity": figures(0.5), "repeat_purchase": figures(0.95)}}
    document = final_document(history(epochs, TrainConfig().histogram_bins), evaluation,
                              {"source": "benchmark", "users": 5000, "items": 2000, "rows_in": 200000})
    walls, cpus = [], []
    for index in range(repeats + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        page = report.html_report(document)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"render {index}{' (with matplotlib start-up)' if index == 0 else ''}: "
              f"{wall:.2f} s wall, {cpu:.2f} s CPU, {len(page) // 1024} KB")
        if index:
            walls.append(wall)
            cpus.append(cpu)
    print(f"epochs: {epochs}, median wall {statistics.median(walls):.2f} s, median CPU {statistics.median(cpus):.2f} s, "
          f"budget {BUDGET_S} s")
    print(f"render_cpu_vs_budget: {statistics.median(cpus) / BUDGET_S:.2f}")


if __name__ == "__main__":
    main()
