"""The data_prep step's body: pick the source (files, BigQuery or the embedded synthetic data) and
the engine (this process, or SQL inside BigQuery for a table too large for it), prepare, save."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from typing import Any

from recs_pipeline.core import memory_pages, progress, storage
from recs_pipeline.core.config import LOCAL_MAX_ROWS, PrepConfig, split_list
from recs_pipeline.data import bigquery, bigquery_prep, entity_tables, prepare, prepared_data, sources, synthetic, table_reader

log = logging.getLogger(__name__)
SYNTHETIC_SOURCE = "embedded synthetic B2B purchases"


def prep_config(settings: dict[str, Any]) -> PrepConfig:
    """A PrepConfig from flat settings (feature lists may be 'a,b' strings, as pipeline parameters are)."""
    values = dict(settings)
    for key in ("user_features", "item_features", "user_numeric_features", "item_numeric_features", "user_text_features",
                "item_text_features"):
        if isinstance(values.get(key), str):
            values[key] = split_list(values[key])
    return PrepConfig(**values)


def run(output_dir: str, input_uri: str, prep_settings: dict[str, Any], synthetic_settings: dict[str, Any],
        output_uri: str = "") -> dict[str, Any]:
    """Prepare `input_uri` (or the query), or the synthetic default when both are empty; returns the
    data stats. `output_uri` is the output folder's own URI (gs:// on Vertex), where the BigQuery
    engine exports the splits unless bq_export_uri says otherwise."""
    started = time.perf_counter()
    config = prep_config(prep_settings)
    entity_tables.check(config, own_purchases=bool(input_uri or config.query))
    with memory_pages.regular_pages():
        stats = _prepare(output_dir, output_uri, input_uri, config, prep_settings, synthetic_settings)
    progress.report(f"data-prep: {summary(stats)} ({progress.duration(time.perf_counter() - started)})")
    return stats


def _prepare(output_dir: str, output_uri: str, input_uri: str, config: PrepConfig, prep_settings: dict[str, Any],
             synthetic_settings: dict[str, Any]) -> dict[str, Any]:
    """The data stats of `input_uri` (or the query, or the synthetic data) prepared into `output_dir`."""
    if config.query or bigquery.is_bigquery(input_uri):
        return _from_bigquery(output_dir, output_uri, input_uri, config)
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


def summary(stats: dict[str, Any]) -> str:
    """The data stats in one line a person reads."""
    dropped = stats["rows_in"] - stats["train_rows"] - stats["val_rows"] - stats["test_rows"]
    dates = f", {stats['date_min'][:10]} to {stats['date_max'][:10]}" if stats.get("date_min") else ""
    customers, products = (f"{stats[f'{kind}s']:,} {noun}" + (f" ({stats[key]:,} {never})" if stats.get(key) else "")
                           for kind, noun, never in (("user", "customers", "never buying"), ("item", "products", "never bought"))
                           for key in (entity_tables.NEVER_BOUGHT[kind],))
    return (f"{stats['rows_in']:,} rows from {stats['source']}{dates}: {customers}, {products}; "
            f"train/val/test {stats['train_rows']:,}/{stats['val_rows']:,}/{stats['test_rows']:,} rows, {dropped:,} dropped")


def check(input_uri: str, prep_settings: dict[str, Any]) -> None:
    """What can be checked before a pipeline starts, each failure a one-line UserError: the
    settings, the URI's scheme, and for local input that the files exist, are not empty and have
    the columns. gs:// input is listed by the step itself (that needs the run's credentials)."""
    config = prep_config(prep_settings)
    entity_tables.check(config, own_purchases=bool(input_uri or config.query))
    if not input_uri or storage.is_gcs(storage.check_uri(input_uri)):
        return
    try:
        files = sources.resolve(input_uri, scratch="")
        names = table_reader.column_names(files.files, files.format, config)
    except (sources.SourceError, table_reader.ReadError) as error:
        raise prepare.DataError(str(error)) from error
    prepare.require_columns(names, config, input_uri)


def _from_bigquery(output_dir: str, output_uri: str, input_uri: str, config: PrepConfig) -> dict[str, Any]:
    """A BigQuery table or query: prepared inside BigQuery (engine bigquery, or auto above
    LOCAL_MAX_ROWS rows), or read through the Storage Read API and prepared here."""
    engine = config.engine
    if engine == "auto":
        rows = 0 if config.query else bigquery.table_rows(bigquery.parse_table(input_uri))
        engine = "bigquery" if rows > LOCAL_MAX_ROWS else "local"
        log.info("engine auto: %s (%d rows, limit of this process %d)", engine, rows, LOCAL_MAX_ROWS)
    if engine == "bigquery":
        return bigquery_prep.run(input_uri, config, output_dir, output_uri)
    result, source = bigquery.read(input_uri, config)
    log.info("read %d rows (%d bytes scanned) from %s", result.table.num_rows, result.bytes_scanned, source)
    # --where already ran in BigQuery; the rest runs here.
    stats = prepare.prepare_table(result.table, dataclasses.replace(config, where="", query=""), output_dir, source)
    stats.update(rows_in=result.rows_in, rows_filtered_out=result.rows_in - result.table.num_rows, **bigquery.stats_of(result))
    prepared_data.write_stats(output_dir, stats)
    return stats


def numeric_stats(stats: dict[str, Any]) -> dict[str, float]:
    """The numeric data stats, for a dsl.Metrics output (strings such as dates stay in the JSON)."""
    return {key: float(value) for key, value in stats.items() if isinstance(value, (int, float)) and not isinstance(value, bool)}
