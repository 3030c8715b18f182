"""Peak memory of the train step at scale: 2M purchases, 50k customers, 100k products (synthetic),
prepared then trained for one epoch with the full metrics collector, checkpoints and the exports
(towers, product embeddings, retrieval SavedModel), each step in its own process, as the pipeline
runs them. Prints each step's peak resident memory (ru_maxrss) and wall time against the 8 GB budget.
Usage: python benchmarks/train_memory.py [--purchases 2000000] [--customers 50000] [--products 100000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_GB = 8.0


def peak_of(command: list[str], log: Path) -> tuple[float, float]:
    """(peak resident GB, wall seconds) of one child process; its output goes to `log`."""
    started = time.perf_counter()
    with open(log, "wb") as output:
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[1]} failed:\n{log.read_text()[-3000:]}")
    return usage.ru_maxrss / 1024 / 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--purchases", type=int, default=2_000_000)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--smoke", action="store_true", help="Tiny sizes: checks the script still runs (CI), measures nothing.")
    args = parser.parse_args()
    if args.smoke:
        args.purchases, args.customers, args.products = 3000, 120, 60
    cli = str(Path(sys.executable).parent / "recs-pipeline")
    with tempfile.TemporaryDirectory() as folder:
        script = (
            "from recs_pipeline.data import synthetic;"
            f"synthetic.generate(synthetic.SyntheticConfig(num_purchases={args.purchases}, num_customers={args.customers}, "
            f"num_products={args.products})).purchases.to_parquet('{folder}/purchases.parquet')"
        )
        subprocess.run([sys.executable, "-c", script], check=True)
        prepare_gb, prepare_s = peak_of([cli, "prepare", "--input", f"{folder}/purchases.parquet", "--output-dir", f"{folder}/prepared",
                                         "--user-features", "segment,country", "--item-features", "category,price_band"],
                                        Path(folder) / "prepare.log")
        train_gb, train_s = peak_of([cli, "train", "--prepared-dir", f"{folder}/prepared", "--model-dir", f"{folder}/model",
                                     "--training-log-dir", f"{folder}/history", "--run-id", "memory", "--epochs", "1"],
                                    Path(folder) / "train.log")
        if not (Path(folder) / "model" / "retrieval" / "saved_model.pb").exists():
            raise SystemExit("the train step wrote no retrieval model")
    print(f"purchases: {args.purchases}, customers: {args.customers}, products: {args.products}, 1 epoch")
    print(f"prepare  peak_rss_gb: {prepare_gb:.2f}  wall_s: {prepare_s:.1f}")
    print(f"train    peak_rss_gb: {train_gb:.2f}  wall_s: {train_s:.1f}")
    print(f"train_peak_vs_budget: {train_gb / BUDGET_GB:.2f} of {BUDGET_GB:.0f} GB")


if __name__ == "__main__":
    main()
