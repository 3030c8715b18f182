"""data_prep at scale: purchase CSVs of 10M and 50M rows prepared in one process, against pyarrow reading them.

For each size and shape, writes a synthetic CSV, then, each in a fresh process, times (a)
`pyarrow.csv.read_csv` of the file, with pyarrow's default allocator and with the system one
that data prep uses (core/memory_pages.py; the default's huge pages make its time swing from run
to run on some machines), and (b) `prep.run` on it (read, clean, temporal split, vocabularies,
entity tables, Parquet out), and reports the wall times, the ratio of prepare's to the fastest
read of either kind, each process's peak resident memory, the load average, and the rows per GB
of peak memory: where the one-process path stops fitting the data_prep machine
(MEMORY_BUDGET_GB), past which the BigQuery engine (data/bigquery_prep.py) runs the same steps as SQL.
Shapes: `invoice`, invoice lines as a retail export has them (~53 bytes a row: ids as
integer-like floats, a country, `--where "Quantity > 0"`); `iso`, the plainest purchase log
(user, item, ISO text time `2024-01-01 00:00:00`, ~34 bytes a row).
`--huge-pages` also times prepare with NumPy's and Arrow's default allocation left on (huge-page
advice and mimalloc; core/memory_pages.py turns both off during data prep), alternated with the other runs.
Usage: python benchmarks/prep_scale.py [--rows 10000000 50000000] [--shapes invoice iso] [--keep FOLDER] [--repeat 3] [--huge-pages]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from recs_pipeline.core.config import LOCAL_MAX_ROWS

PYARROW_READ = """
import resource, time, pyarrow as pa, pyarrow.csv as pacsv
if {system_allocator!r}:
    pa.set_memory_pool(pa.system_memory_pool())
started = time.perf_counter()
table = pacsv.read_csv({path!r})
print({{"wall_s": time.perf_counter() - started, "rows": table.num_rows,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}})
"""

SETTINGS = {
    "invoice": dict(user_column="CustomerID", item_column="StockCode", timestamp_column="InvoiceDate", user_features="Country",
                    item_features="", where="Quantity > 0"),
    "iso": dict(user_column="user", item_column="item", timestamp_column="timestamp", user_features="", item_features="", where=""),
}

PREPARE = """
import contextlib, resource, time
from recs_pipeline.core import memory_pages
from recs_pipeline.steps import prep
if {huge_pages!r}:  # the variant that keeps NumPy's and Arrow's defaults, as before data prep changed them
    memory_pages.regular_pages = contextlib.nullcontext
settings = {settings!r}
started = time.perf_counter()
stats = prep.run({out!r}, {path!r}, settings, {{}})
print({{"wall_s": time.perf_counter() - started, "rows": stats["rows_in"], "train_rows": stats["train_rows"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}})
"""


def write_csv(path: Path, rows: int, shape: str, seed: int = 7) -> None:
    (write_invoice_csv if shape == "invoice" else write_iso_csv)(path, rows, seed)


def write_iso_csv(path: Path, rows: int, seed: int) -> None:
    """user, item, timestamp: integer ids and ISO times, unquoted, sorted by time as a log is."""
    rng = np.random.default_rng(seed)
    chunk = 2_000_000
    schema = pa.schema([("user", pa.string()), ("item", pa.string()), ("timestamp", pa.string())])
    with pacsv.CSVWriter(str(path), schema, write_options=pacsv.WriteOptions(quoting_style="none")) as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            year = 365 * 86400
            seconds = np.sort(rng.integers(year * start // rows, year * (start + n) // rows + 1, n)) + 1_704_067_200
            dates = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
            writer.write_table(pa.table({
                "user": pa.array((rng.zipf(1.3, n) % 200_000).astype(str)),
                "item": pa.array((rng.zipf(1.2, n) % 50_000).astype(str)),
                "timestamp": pa.array(np.char.replace(dates, "T", " ")),
            }))


def write_invoice_csv(path: Path, rows: int, seed: int) -> None:
    """Invoice lines in the shape of a retail export (ids as integer-like floats, as Excel leaves them)."""
    rng = np.random.default_rng(seed)
    chunk = 2_000_000
    schema = pa.schema([("InvoiceNo", pa.int64()), ("StockCode", pa.string()), ("Quantity", pa.int64()),
                        ("InvoiceDate", pa.string()), ("CustomerID", pa.string()), ("Country", pa.string())])
    with pacsv.CSVWriter(str(path), schema) as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            customers = rng.zipf(1.3, n) % 200_000
            products = rng.zipf(1.2, n) % 50_000
            seconds = np.sort(rng.integers(0, 365 * 86400, n)) + 1_704_067_200
            dates = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
            writer.write_table(pa.table({
                "InvoiceNo": np.arange(start, start + n),
                "StockCode": pa.array(np.char.add("SKU", products.astype(str))),
                "Quantity": rng.integers(-2, 50, n),
                "InvoiceDate": pa.array(np.char.replace(dates, "T", " ")),
                "CustomerID": pa.array(np.char.add(customers.astype(str), ".0")),
                "Country": pa.array(np.array(["DE", "PL", "FR", "NL", "GB"])[customers % 5]),
            }))


MEMORY_BUDGET_GB = 8  # the data_prep task's machine (as train_memory.py's budget)


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def measure(code: str) -> dict:
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(completed.stderr[-3000:])
    return eval(completed.stdout.strip().splitlines()[-1])  # our own child's dict literal


def _walls(runs: list[dict]) -> str:
    return ", ".join(f"{run['wall_s']:.2f}" for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000_000, 50_000_000])
    parser.add_argument("--shapes", nargs="+", choices=sorted(SETTINGS), default=["invoice", "iso"])
    parser.add_argument("--keep", default="", help="Reuse or keep the CSVs in this folder (as <shape>-<rows>.csv).")
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each, alternated; the best of each is compared.")
    parser.add_argument("--huge-pages", action="store_true",
                        help="Also time prepare with NumPy's and Arrow's default allocation (alternated), and print the ratio.")
    parser.add_argument("--smoke", action="store_true", help="Tiny sizes: checks the script still runs (CI), measures nothing.")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.repeat, args.huge_pages = [20_000], 1, True
    ratios, rows_per_gb = [], []
    for rows in args.rows:
        for shape in args.shapes:
            with tempfile.TemporaryDirectory() as scratch:
                folder = Path(args.keep or scratch)
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"{shape}-{rows}.csv"
                if not path.exists():
                    write_csv(path, rows, shape)
                size_mb = path.stat().st_size / 1e6
                load_before = load_average()
                # Alternated, best of --repeat each: other jobs on the machine slow one run, not the best one.
                pyarrow_runs, system_runs, prepare_runs, huge_runs = [], [], [], []
                variants = [(False, prepare_runs)] + ([(True, huge_runs)] if args.huge_pages else [])
                for _ in range(args.repeat):
                    pyarrow_runs.append(measure(PYARROW_READ.format(path=str(path), system_allocator=False)))
                    system_runs.append(measure(PYARROW_READ.format(path=str(path), system_allocator=True)))
                    for huge_pages, runs in variants:
                        runs.append(measure(PREPARE.format(path=str(path), out=str(Path(scratch) / "prepared"), settings=SETTINGS[shape],
                                                           huge_pages=huge_pages)))
                pyarrow_run = min(pyarrow_runs, key=lambda run: run["wall_s"])
                system_run = min(system_runs, key=lambda run: run["wall_s"])
                prepare_run = min(prepare_runs, key=lambda run: run["wall_s"])
            read_s = min(pyarrow_run["wall_s"], system_run["wall_s"])
            ratio = prepare_run["wall_s"] / read_s
            ratios.append(ratio)
            rows_per_gb.append(rows / (prepare_run["peak_rss_mb"] / 1024))
            print(f"csv ({shape}): {rows} rows, {size_mb:.0f} MB; load average {load_before} before, {load_average()} after")
            print(f"  pyarrow_read_s: {pyarrow_run['wall_s']:.2f} (best of {_walls(pyarrow_runs)})  "
                  f"peak_rss_mb: {pyarrow_run['peak_rss_mb']:.0f}")
            print(f"  pyarrow_read_system_allocator_s: {system_run['wall_s']:.2f} (best of {_walls(system_runs)})  "
                  f"peak_rss_mb: {system_run['peak_rss_mb']:.0f}")
            print(f"  prepare_s: {prepare_run['wall_s']:.2f} (best of {_walls(prepare_runs)})  "
                  f"peak_rss_mb: {prepare_run['peak_rss_mb']:.0f}  "
                  f"train_rows: {prepare_run['train_rows']}")
            print(f"  ratio: {ratio:.2f} (prepare / the fastest pyarrow read, {read_s:.2f} s); "
                  f"{rows_per_gb[-1] / 1e6:.2f}M rows per GB of peak memory")
            if huge_runs:
                huge_run = min(huge_runs, key=lambda run: run["wall_s"])
                print(f"  prepare_with_default_allocation_s: {huge_run['wall_s']:.2f} (best of {_walls(huge_runs)}); "
                      f"default_vs_regular_allocation_ratio: {huge_run['wall_s'] / prepare_run['wall_s']:.2f}")
    print(f"time_ratio: {max(ratios):.2f} (prepare / the fastest pyarrow read, the worst size and shape)")
    fits = min(rows_per_gb) * MEMORY_BUDGET_GB
    print(f"one_process_limit_rows: {fits / 1e6:.0f}M in {MEMORY_BUDGET_GB} GB "
          f"(engine=auto moves to BigQuery above {LOCAL_MAX_ROWS / 1e6:.0f}M)")
    print(json.dumps({"time_ratio": round(max(ratios), 2), "one_process_limit_rows": int(fits)}))


if __name__ == "__main__":
    main()
