"""The data_prep step's body: pick the source (files or the embedded synthetic data), prepare, save."""

from __future__ import annotations

import logging
import tempfile
from typing import Any

from recs_pipeline.core.config import PrepConfig, split_list
from recs_pipeline.data import prepare, sources, synthetic

log = logging.getLogger(__name__)
SYNTHETIC_SOURCE = "embedded synthetic B2B purchases"


def prep_config(settings: dict[str, Any]) -> PrepConfig:
    """A PrepConfig from flat settings (feature lists may be 'a,b' strings, as pipeline parameters are)."""
    values = dict(settings)
    for key in ("user_features", "item_features"):
        if isinstance(values.get(key), str):
            values[key] = split_list(values[key])
    return PrepConfig(**values)


def run(output_dir: str, input_uri: str, prep_settings: dict[str, Any], synthetic_settings: dict[str, Any]) -> dict[str, Any]:
    """Prepare `input_uri`, or the synthetic default when it is empty; returns the data stats."""
    config = prep_config(prep_settings)
    if not input_uri:
        config = prep_config({**prep_settings, **synthetic.PREP_COLUMNS})
        frame = synthetic.generate(synthetic.SyntheticConfig(**synthetic_settings)).purchases
        source = f"{SYNTHETIC_SOURCE} (seed {synthetic_settings.get('seed')})"
        log.info("preparing %d rows from %s", len(frame), source)
        return prepare.prepare_frame(frame, config, output_dir, source)
    with tempfile.TemporaryDirectory(prefix="recs-input-") as scratch:
        try:
            files = sources.resolve(input_uri, scratch)
        except sources.SourceError as error:
            raise prepare.DataError(str(error)) from error
        log.info("preparing %d %s file(s) from %s", len(files.files), files.format, input_uri)
        return prepare.prepare_files(files.files, files.format, config, output_dir, input_uri)


def numeric_stats(stats: dict[str, Any]) -> dict[str, float]:
    """The numeric data stats, for a dsl.Metrics output (strings such as dates stay in the JSON)."""
    return {key: float(value) for key, value in stats.items() if isinstance(value, (int, float)) and not isinstance(value, bool)}
