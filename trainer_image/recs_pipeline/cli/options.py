"""The command-line options that mirror the config classes: their defaults are read from there."""

from __future__ import annotations

import click

from recs_pipeline.core.config import ENGINES, EXCLUDE_SEEN_CHOICES, OPTIMIZERS, SPLIT_KINDS, PrepConfig, TrainConfig

_PREP = PrepConfig()

DATA_OPTIONS = [
    click.option("--input", "input_uri", default="", help="CSV or Parquet: a file, glob or folder, local or gs://; or a BigQuery table bq://project.dataset.table. Default: the embedded synthetic data."),
    click.option("--user-column", default=_PREP.user_column, show_default=True),
    click.option("--item-column", default=_PREP.item_column, show_default=True),
    click.option("--timestamp-column", default=_PREP.timestamp_column, show_default=True, help="Empty: no timestamps (random split)."),
    click.option("--user-features", default=",".join(_PREP.user_features), help="Comma-separated customer feature columns (default: none)."),
    click.option("--item-features", default=",".join(_PREP.item_features), help="Comma-separated product feature columns (default: none)."),
    click.option("--where", default=_PREP.where, help='SQL condition rows must meet, e.g. "Quantity > 0".'),
    click.option("--dedupe/--no-dedupe", default=_PREP.dedupe, help="Keep only the first purchase of each customer-product pair."),
    click.option("--split", type=click.Choice(SPLIT_KINDS), default=_PREP.split, show_default=True),
    click.option("--test-start", default=_PREP.test_start, help="Date from which rows are the test split (temporal)."),
    click.option("--test-fraction", type=float, default=_PREP.test_fraction, show_default=True),
    click.option("--val-fraction", type=float, default=_PREP.val_fraction, show_default=True),
    click.option("--timestamp-format", default=_PREP.timestamp_format, help="strptime format of the timestamp column, e.g. '%m/%d/%Y %H:%M'."),
    click.option("--delimiter", default=_PREP.delimiter, help="CSV delimiter (default: detected)."),
    click.option("--encoding", default=_PREP.encoding, show_default=True, help="CSV text encoding, e.g. latin-1."),
    click.option("--query", default=_PREP.query, help='A BigQuery SELECT to read instead of --input, e.g. "SELECT * FROM `p.d.orders`".'),
    click.option("--bq-staging-dataset", default=_PREP.bq_staging_dataset, help="project.dataset for query results and BigQuery-engine tables (expire after a day)."),
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


TRAIN_OPTIONS = [
    click.option("--epochs", type=int, default=TrainConfig.epochs, show_default=True),
    click.option("--batch-size", type=int, default=TrainConfig.batch_size, show_default=True),
    click.option("--learning-rate", type=float, default=TrainConfig.learning_rate, show_default=True),
    click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=TrainConfig.optimizer, show_default=True),
    click.option("--embedding-dim", type=int, default=TrainConfig.embedding_dim, show_default=True),
    click.option("--feature-embedding-dim", type=int, default=TrainConfig.feature_embedding_dim, show_default=True),
    click.option("--l2-regularization", type=float, default=TrainConfig.l2_regularization, show_default=True),
    click.option("--temperature", type=float, default=TrainConfig.temperature, show_default=True),
    click.option("--remove-accidental-hits/--no-remove-accidental-hits", default=TrainConfig.remove_accidental_hits, show_default=True),
    click.option("--logq-correction/--no-logq-correction", default=TrainConfig.logq_correction, show_default=True),
    click.option("--histogram-bins", type=int, default=TrainConfig.histogram_bins, show_default=True),
    click.option("--history-length", type=int, default=TrainConfig.history_length, show_default=True,
                 help="Recent purchases per customer the model reads (buy-again mixture, pooling); 0: none."),
    click.option("--pool-history/--no-pool-history", default=TrainConfig.pool_history, show_default=True,
                 help="The customer tower adds the mean product embedding of the recent purchases."),
    click.option("--buy-again/--no-buy-again", default=TrainConfig.buy_again, show_default=True,
                 help="Train with a learned repeat-purchase term mixed into the recent purchases' scores; the trained mixture is one of the score forms validation chooses from."),
    click.option("--early-stopping-patience", type=int, default=TrainConfig.early_stopping_patience, show_default=True,
                 help="Stop after this many epochs without a lower validation loss, keeping the best epoch; 0: off."),
    click.option("--exclude-seen", type=click.Choice(EXCLUDE_SEEN_CHOICES), default=TrainConfig.exclude_seen, show_default=True,
                 help="Never recommend products the customer bought; auto: when under 1% of training purchases are repeats."),
    click.option("--baseline-half-life-days", type=float, default=TrainConfig.baseline_half_life_days, show_default=True,
                 help="The recency-weighted baselines and the model's blend halve a purchase's weight every this many days."),
    click.option("--seed", type=int, default=TrainConfig.seed, show_default=True),
]


train_options = with_options(TRAIN_OPTIONS)  # every TrainConfig field as a flag (a compile test keeps the two in step)
