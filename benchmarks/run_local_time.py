"""Wall time of `recs-pipeline run-local` against its budget: 3 minutes on the embedded default
data, 6 on a file of real data (e.g. Ta-Feng's 818k rows).

Runs the real command in a subprocess (fresh interpreter, as a user would) and reads the epoch
timings back from the run's training_metrics.json. Usage:
  python benchmarks/run_local_time.py
  python benchmarks/run_local_time.py --input tafeng.csv.gz --test-start 2001-02-01 [-- --user-features age_group,pin_code ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recs_pipeline.core import metric_keys

BUDGET_S = 180.0  # the embedded default data
INPUT_BUDGET_S = 360.0  # a file of real data the size of Ta-Feng


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", default="", help="CSV or Parquet interactions (default: the embedded synthetic data).")
    parser.add_argument("--test-start", default="", help="Temporal split: rows from this date on are the test split.")
    parser.add_argument("--smoke", action="store_true", help="Tiny sizes: checks the script still runs (CI), measures nothing.")
    parser.add_argument("pass_through", nargs="*", help="More run-local options after --, e.g. -- --user-features age_group,pin_code")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="run-local-bench-"))
    command = [str(Path(sys.executable).with_name("recs-pipeline")), "run-local", "--output-dir", str(out)]
    if args.input:
        command += ["--input", str(Path(args.input).resolve())] + (["--test-start", args.test_start] if args.test_start else [])
    command += args.pass_through
    budget = INPUT_BUDGET_S if args.input else BUDGET_S
    if args.smoke:
        command += ["--epochs", "1", "--synthetic-purchases", "3000", "--synthetic-customers", "120", "--synthetic-products", "60"]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    load_after = os.getloadavg()
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout[-4000:] + completed.stderr[-4000:])
        raise SystemExit(f"run-local failed with exit code {completed.returncode}")
    history = json.loads((out / "training_metrics.json").read_text())
    epochs = history["epoch_seconds"]
    final = history["final_metrics"]
    print(f"rows: {history['data_stats']['rows_in']}, epochs: {len(epochs)}")
    print(f"run_local_wall_s: {wall:.1f} (load average {load_before:.2f} before; {load_after[0]:.2f} / {load_after[1]:.2f} "
          f"over the last 1 / 5 minutes at the end)")
    print(f"training_epochs_s: {sum(epochs):.1f} ({', '.join(f'{s:.1f}' for s in epochs)})")
    print(f"model            recall@10 {final[metric_keys.test_recall(10)]:.4f}  recall@100 {final[metric_keys.test_recall(100)]:.4f}")
    for name, figures in history["baselines"].items():
        print(f"{name:16s} recall@10 {figures[metric_keys.test_recall(10)]:.4f}  recall@100 {figures[metric_keys.test_recall(100)]:.4f}")
    print(f"budget_ratio: {wall / budget:.2f} (wall / {budget:.0f} s)")
    shutil.rmtree(out)


if __name__ == "__main__":
    main()
