"""The command-line options that mirror the config classes: their defaults are read from there."""

from __future__ import annotations

import dataclasses

import click

from recs_pipeline.core.config import ENGINES, SPLIT_KINDS, TRAIN_CHOICES, TRAIN_HELP, PrepConfig, TrainConfig

_PREP = PrepConfig()

DATA_OPTIONS = [
    click.option("--input", "input_uri", default="", help="CSV or Parquet: a file, glob or folder, local or gs://; or a BigQuery "
                                                          "table bq://project.dataset.table. Default: the embedded synthetic data."),
    click.option("--user-column", default=_PREP.user_column, show_default=True),
    click.option("--item-column", default=_PREP.item_column, show_default=True),
    click.option("--timestamp-column", default=_PREP.timestamp_column, show_default=True, help="Empty: no timestamps (random split)."),
    click.option("--user-features", default=",".join(_PREP.user_features),
                 help="Comma-separated customer feature columns (default: none)."),
    click.option("--item-features", default=",".join(_PREP.item_features),
                 help="Comma-separated product feature columns (default: none)."),
    click.option("--user-numeric-features", default="",
                 help="Comma-separated numeric customer feature columns, bucketised (default: none)."),
    click.option("--item-numeric-features", default="",
                 help="Comma-separated numeric product feature columns, e.g. price (default: none)."),
    click.option("--user-text-features", default="", help="Comma-separated customer text columns, e.g. trade (default: none)."),
    click.option("--item-text-features", default="", help="Comma-separated product text columns, e.g. description (default: none)."),
    click.option("--users-input", default=_PREP.users_input,
                 help="A customers table (CSV or Parquet, as --input): the id column (--user-column) and the --user-*-features "
                      "columns, which then come from it, not the purchases; its customers who never bought join the catalog. "
                      "A customer buying in training but missing from it is an error; one first buying later has no feature values."),
    click.option("--items-input", default=_PREP.items_input,
                 help="A products table (CSV or Parquet, as --input): the id column (--item-column) and the --item-*-features "
                      "columns, which then come from it, not the purchases; its products nobody bought join the catalog, "
                      "embedded by the towers from their features. A product bought in training but missing from it is an "
                      "error; one first bought later has no feature values."),
    click.option("--where", default=_PREP.where, help='SQL condition rows must meet, e.g. "Quantity > 0".'),
    click.option("--dedupe/--no-dedupe", default=_PREP.dedupe, help="Keep only the first purchase of each customer-product pair."),
    click.option("--split", type=click.Choice(SPLIT_KINDS), default=_PREP.split, show_default=True),
    click.option("--test-start", default=_PREP.test_start, help="Date from which rows are the test split (temporal)."),
    click.option("--test-fraction", type=float, default=_PREP.test_fraction, show_default=True),
    click.option("--val-fraction", type=float, default=_PREP.val_fraction, show_default=True),
    click.option("--timestamp-format", default=_PREP.timestamp_format,
                 help="strptime format of the timestamp column, e.g. '%m/%d/%Y %H:%M'."),
    click.option("--delimiter", default=_PREP.delimiter, help="CSV delimiter (default: detected)."),
    click.option("--encoding", default=_PREP.encoding, show_default=True, help="CSV text encoding, e.g. latin-1."),
    click.option("--query", default=_PREP.query, help='A BigQuery SELECT to read instead of --input, e.g. "SELECT * FROM `p.d.orders`".'),
    click.option("--bq-staging-dataset", default=_PREP.bq_staging_dataset,
                 help="project.dataset for query results and BigQuery-engine tables (expire after a day)."),
    click.option("--engine", type=click.Choice(ENGINES), default=_PREP.engine, show_default=True,
                 help="Where a BigQuery source is cleaned and split: this process, BigQuery (SQL), or by size."),
]


def with_options(options: list):
    """A decorator applying click options in the order listed (click applies the last one first)."""

    def apply(command):
        for option in reversed(options):
            command = option(command)
        return command

    return apply


data_options = with_options(DATA_OPTIONS)  # the same on `prepare` and `run-local` (and as pipeline parameters)


def _train_option(field: dataclasses.Field):
    """The flag of one TrainConfig field: --name VALUE, or --name/--no-name for a boolean; its
    default, type and help from the config (TRAIN_HELP, TRAIN_CHOICES)."""
    flag = "--" + field.name.replace("_", "-")
    common = {"default": field.default, "show_default": True, "help": TRAIN_HELP[field.name]}
    if isinstance(field.default, bool):
        return click.option(f"{flag}/--no-{flag[2:]}", **common)
    kind = click.Choice(TRAIN_CHOICES[field.name]) if field.name in TRAIN_CHOICES else type(field.default)
    return click.option(flag, type=kind, **common)


TRAIN_OPTIONS = [_train_option(field) for field in dataclasses.fields(TrainConfig)]


train_options = with_options(TRAIN_OPTIONS)  # every TrainConfig field as a flag, made from the field
