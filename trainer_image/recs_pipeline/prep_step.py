"""The data_prep step's body: pick the source (a file or the embedded synthetic data), prepare, save."""

from __future__ import annotations

import io
import logging
from typing import Any

import pandas as pd

from recs_pipeline import data_prep, storage, synthetic
from recs_pipeline.config import PrepConfig, split_list

log = logging.getLogger(__name__)
SYNTHETIC_SOURCE = "embedded synthetic B2B purchases"


def run(output_dir: str, input_uri: str, prep_settings: dict[str, Any], synthetic_settings: dict[str, Any]) -> dict[str, Any]:
    """Prepare `input_uri`, or the synthetic default when it is empty; returns the data stats."""
    settings = dict(prep_settings)
    for key in ("user_features", "item_features"):
        if isinstance(settings.get(key), str):
            settings[key] = split_list(settings[key])
    config = PrepConfig(**settings)
    if input_uri:
        frame, source = load_input(input_uri), input_uri
    else:
        config = PrepConfig(**{**settings, **_synthetic_columns()})
        frame = synthetic.generate(synthetic.SyntheticConfig(**synthetic_settings)).purchases
        source = f"{SYNTHETIC_SOURCE} (seed {synthetic_settings.get('seed')})"
    log.info("preparing %d rows from %s", len(frame), source)
    prepared = data_prep.prepare(frame, config, source)
    data_prep.save(prepared, output_dir)
    return prepared.stats


def load_input(uri: str) -> pd.DataFrame:
    """One CSV or Parquet file, local or gs://."""
    if not storage.is_gcs(uri):
        return data_prep.read_interactions(uri)
    try:
        payload = storage.read_bytes(uri)
    except FileNotFoundError as error:
        raise data_prep.DataError(f"input not found: {uri}") from error
    try:
        if uri.lower().endswith((".parquet", ".pq")):
            return pd.read_parquet(io.BytesIO(payload))
        return pd.read_csv(io.BytesIO(payload), dtype=str)
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise data_prep.DataError(f"cannot read {uri}: {error}") from error


def _synthetic_columns() -> dict[str, Any]:
    return {
        "user_column": "customer_id",
        "item_column": "product_id",
        "timestamp_column": "timestamp",
        "user_features": ("segment", "country"),
        "item_features": ("category", "price_band"),
    }


def numeric_stats(stats: dict[str, Any]) -> dict[str, float]:
    """The numeric data stats, for a dsl.Metrics output (strings such as dates stay in the JSON)."""
    return {key: float(value) for key, value in stats.items() if isinstance(value, (int, float)) and not isinstance(value, bool)}
