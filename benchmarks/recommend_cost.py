"""What a `recommend` call costs: TensorFlow start-up and the model load, against each customer.

Trains a small model on the synthetic data (1 epoch), then times, each in a fresh process as a
user runs it: `recommend --customer ID` (one customer: nearly all start-up) and `recommend
--customers-file FILE` with N customers (start-up once, then N answers). Prints both, the cost
per further customer, and the ratio of one call for N customers to N one-customer calls, with
the load average (the machine may be shared).
Usage: python benchmarks/recommend_cost.py [--customers 1000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recs_pipeline.core.config import TrainConfig
from recs_pipeline.data import prepare, prepared_data, synthetic


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def timed_call(arguments: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "recs_pipeline.cli", "recommend", *arguments], capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1000, help="Customers in the file call.")
    parser.add_argument("--repeat", type=int, default=2, help="Calls of each kind; the best of each is compared.")
    parser.add_argument("--smoke", action="store_true", help="Tiny sizes: checks the script still runs (CI), measures nothing.")
    args = parser.parse_args()
    data = synthetic.SyntheticConfig(num_purchases=20_000, num_customers=1_000, num_products=300, seed=7)
    if args.smoke:
        args.customers, args.repeat = 20, 1
        data = synthetic.SyntheticConfig(num_purchases=3_000, num_customers=100, num_products=60, seed=7)
    from recs_pipeline.steps import train

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        prepare.prepare_frame(synthetic.generate(data).purchases, synthetic.prep_config(), str(folder / "prepared"), "synthetic")
        config = TrainConfig(epochs=1, batch_size=256, embedding_dim=16, early_stopping_patience=0)
        train.run(str(folder / "prepared"), str(folder / "model"), str(folder / "history"), config, run_id="cost",
                  serving_dir=str(folder / "serving"))
        users = prepared_data.load(str(folder / "prepared")).users["user_id"].tolist()
        wanted = [users[i % len(users)] for i in range(args.customers)]
        (folder / "customers.txt").write_text("\n".join(wanted) + "\n")
        load_before = load_average()
        one, many = [], []
        for _ in range(args.repeat):  # alternated: a slow spell of the machine hits both kinds alike
            one.append(timed_call(["--model", str(folder / "serving"), "--customer", wanted[0]]))
            many.append(timed_call(["--model", str(folder / "serving"), "--customers-file", str(folder / "customers.txt"),
                                    "--output-format", "csv"]))
    single, batch = min(one), min(many)
    per_customer_ms = max(batch - single, 0.0) / max(args.customers - 1, 1) * 1000
    print(f"load average {load_before} before, {load_average()} after")
    print(f"one customer per call: {single:.2f} s (best of {', '.join(f'{t:.2f}' for t in one)}): "
          "TensorFlow start-up, model load, one answer")
    print(f"{args.customers} customers in one call (--customers-file): {batch:.2f} s (best of {', '.join(f'{t:.2f}' for t in many)})")
    print(f"per further customer: {per_customer_ms:.2f} ms")
    print(f"file_vs_separate_calls_ratio: {batch / (single * args.customers):.4f} "
          f"({args.customers} customers: one call {batch:.1f} s, {args.customers} calls about {single * args.customers:.0f} s)")


if __name__ == "__main__":
    main()
