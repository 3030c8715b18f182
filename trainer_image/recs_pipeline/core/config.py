"""Declarative settings of each step; the pipeline parameters, CLI flags and `params` all come from here.

The training settings are written once: the TrainConfig fields (name, type, default) and
TRAIN_HELP (what each means). The CLI flags and the CustomJob's arguments are made from them; KFP
needs literal signatures and docstrings, so the train components and the pipeline write them out,
and tests/compile/test_settings.py checks each against these, naming the field that differs. The
data settings likewise: PrepConfig's fields and PREP_HELP, written out by the data_prep component,
the input fingerprint and the pipeline.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from typing import Any

from recs_pipeline.core.errors import ConfigError

OPTIMIZERS = ("adagrad", "adam", "lazy_adam", "sgd")
RECALL_KS = (5, 10, 50, 100)
SPLIT_KINDS = ("temporal", "random")
EXCLUDE_SEEN_CHOICES = ("auto", "true", "false")
EXCLUDE_SEEN_BELOW = 0.01  # share of repeat purchases under which "auto" excludes seen products
ENGINES = ("auto", "local", "bigquery")
EPOCH_FORMATS = ("epoch_s", "epoch_ms")  # timestamp_format's names for epoch seconds and milliseconds (data.timestamps reads them)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?")  # what test_start takes, in both engines
# Rows above which `engine=auto` prepares a BigQuery table inside BigQuery instead of in the
# step's one process. Measured (benchmarks/prep_scale.py, 6 columns, 2 of them read): peak memory
# 2.0 GB at 10M rows, 9.0 GB at 50M, so about 45M rows fill 8 GB; 30M leaves room for wider tables.
LOCAL_MAX_ROWS = 30_000_000


@dataclass(frozen=True)
class PrepConfig:
    """How to read, clean and split an interaction table."""

    user_column: str = "customer_id"
    item_column: str = "product_id"
    timestamp_column: str = "timestamp"
    user_features: tuple[str, ...] = ()  # your own data has none unless named; the embedded data names its own
    item_features: tuple[str, ...] = ()
    user_numeric_features: tuple[str, ...] = ()  # numbers (an account's size), bucketised by training quantiles
    item_numeric_features: tuple[str, ...] = ()  # e.g. a price
    user_text_features: tuple[str, ...] = ()  # words (a trade, a company description), pooled in the tower
    item_text_features: tuple[str, ...] = ()  # e.g. a product description
    # A customers or products table (CSV or Parquet, data.entity_tables): that side's features come from it, and its ids
    # join the catalog even when nobody bought them. Empty: the features come from the purchase rows.
    users_input: str = ""
    items_input: str = ""
    test_fraction: float = 0.1
    val_fraction: float = 0.1
    seed: int = 42
    split: str = "temporal"  # or "random"
    test_start: str = ""  # a date: rows from then on are the test split (temporal only)
    where: str = ""  # a SQL condition rows must meet, e.g. "Quantity > 0"
    dedupe: bool = False  # keep only the first purchase of each (user, item)
    timestamp_format: str = ""  # strptime format; empty: ISO and common formats are tried
    delimiter: str = ""  # CSV delimiter; empty: detected
    encoding: str = "utf-8"
    query: str = ""  # a BigQuery SELECT to read instead of --input
    bq_staging_dataset: str = ""  # project.dataset for query results and BigQuery-engine tables (they expire after a day)
    engine: str = "auto"  # where a BigQuery source is cleaned and split: local (this process), bigquery, or auto (by size)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ConfigError(f"engine={self.engine!r} must be one of {', '.join(ENGINES)}")
        for name in ("test_fraction", "val_fraction"):
            value = getattr(self, name)
            if not 0.0 < value < 0.5:
                raise ConfigError(f"{name}={value} must be above 0 and below 0.5")
        if self.split not in SPLIT_KINDS:
            raise ConfigError(f"split={self.split!r} must be one of {', '.join(SPLIT_KINDS)}")
        if self.test_start and (self.split != "temporal" or not self.timestamp_column):
            raise ConfigError("test_start needs a temporal split and a timestamp column")
        if self.test_start and not _is_iso_date(self.test_start):
            raise ConfigError(f"test_start={self.test_start!r} is not a date: give it as YYYY-MM-DD, or YYYY-MM-DD HH:MM[:SS]")
        if self.timestamp_format and self.timestamp_format not in EPOCH_FORMATS and "%" not in self.timestamp_format:
            raise ConfigError(f"timestamp_format={self.timestamp_format!r} is neither a strptime format (such as %d/%m/%Y %H:%M) "
                              f"nor {' or '.join(EPOCH_FORMATS)}")
        try:
            "".encode(self.encoding)  # a LookupError too for a codec that is not a text encoding (rot13, base64)
        except LookupError:
            raise ConfigError(f"encoding={self.encoding!r} is not a text encoding Python knows; e.g. utf-8, latin-1 or cp1252") from None
        if ";" in self.where:
            raise ConfigError(f"where={self.where!r}: one condition, no ';'")
        named = [*self.all_user_features, *self.all_item_features]
        if len(set(named)) < len(named):
            twice = sorted({name for name in named if named.count(name) > 1})
            raise ConfigError(f"feature column(s) {', '.join(twice)} named more than once among the feature options")

    def indexed_features(self, kind: str) -> tuple[str, ...]:
        """The "user" or "item" features that become one index per row: categorical, then bucketised numbers."""
        if kind == "user":
            return (*self.user_features, *self.user_numeric_features)
        return (*self.item_features, *self.item_numeric_features)

    def entity_input(self, kind: str) -> str:
        """The "user" or "item" table that holds that side's features ("" when they come from the purchase rows)."""
        return self.users_input if kind == "user" else self.items_input

    @property
    def purchase_features(self) -> tuple[str, ...]:
        """The feature columns read from the purchase rows: those of a side without a table of its own."""
        return (*(() if self.users_input else self.all_user_features), *(() if self.items_input else self.all_item_features))

    @property
    def all_user_features(self) -> tuple[str, ...]:
        """Every customer feature column, categorical then numeric (the towers' input order)."""
        return (*self.user_features, *self.user_numeric_features, *self.user_text_features)

    @property
    def all_item_features(self) -> tuple[str, ...]:
        return (*self.item_features, *self.item_numeric_features, *self.item_text_features)


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run, the model's hyper-parameters and how it is evaluated; all land in `params`."""

    # Defaults measured on the embedded data (README, "Measured"): larger batches cost more
    # per example on CPU (the in-batch logits grow with the square of the batch); Adam at 5e-3
    # learns in an epoch where Adagrad needs many; with the buy-again mixture, validation loss is
    # lowest after the first epochs (the customer embeddings then start memorising what the
    # repeat term already knows), so `epochs` is a ceiling and early stopping picks the epoch.
    epochs: int = 10
    batch_size: int = 1024
    learning_rate: float = 0.005
    optimizer: str = "adam"
    embedding_dim: int = 64
    feature_embedding_dim: int = 16
    l2_regularization: float = 0.0001
    temperature: float = 0.1
    remove_accidental_hits: bool = True
    logq_correction: bool = True
    histogram_bins: int = 30
    # Share of training rows whose customer and product ids are swapped for the new-id embedding, so
    # it and the features learn to embed customers and products first seen after training. On Ta-Feng
    # (one seed, docs/measured.md) 0.3 put new customers' recall@10 above every baseline's (0.1: below
    # group popularity) and let the towers alone reach new products at @100, at the same overall recall.
    id_dropout: float = 0.3
    history_length: int = 100  # recent purchases per customer the model reads; 0: none
    pool_history: bool = False  # the customer tower adds the mean product embedding of those purchases
    # train with a learned repeat-purchase term mixed into those purchases' scores (scoring/mixture.py);
    # a score form too (model/score_fit.py)
    buy_again: bool = True
    early_stopping_patience: int = 1  # epochs without a lower validation loss before stopping (best epoch kept); 0: off
    # Recommend only products the customer never bought: "auto" does so when under 1% of the
    # training purchases repeat an earlier one (films, books), "true"/"false" force it. The train
    # step resolves "auto" and `params` records the resolved boolean.
    exclude_seen: str | bool = "auto"
    # The recency-weighted baselines and the blend's repeat and kNN terms: a purchase's weight halves every N days.
    baseline_half_life_days: float = 90.0
    seed: int = 42

    def __post_init__(self) -> None:
        choice = str(self.exclude_seen).lower()
        if choice not in EXCLUDE_SEEN_CHOICES:
            raise ConfigError(f"exclude_seen={self.exclude_seen!r} must be one of {', '.join(EXCLUDE_SEEN_CHOICES)}")
        object.__setattr__(self, "exclude_seen", choice)
        if self.baseline_half_life_days <= 0:
            raise ConfigError(f"baseline_half_life_days={self.baseline_half_life_days} must be positive")
        if self.history_length < 0:
            raise ConfigError(f"history_length={self.history_length} must be >= 0")
        if self.early_stopping_patience < 0:
            raise ConfigError(f"early_stopping_patience={self.early_stopping_patience} must be >= 0")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer={self.optimizer!r} must be one of {OPTIMIZERS}")
        for name in ("epochs", "batch_size", "embedding_dim", "feature_embedding_dim", "histogram_bins"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be at least 1")
        for name in ("learning_rate", "temperature"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be positive")
        if not 0 <= self.id_dropout < 1:
            raise ConfigError(f"id_dropout={self.id_dropout} must be in [0, 1)")
        if self.l2_regularization < 0:
            raise ConfigError(f"l2_regularization={self.l2_regularization} must be >= 0")

    def as_params(self) -> dict[str, Any]:
        """The `params` block of training_metrics.json (a resolved exclude_seen as a boolean)."""
        params = asdict(self)
        if self.exclude_seen != "auto":
            params["exclude_seen"] = self.exclude_seen == "true"
        return params

    def resolved(self, training_repeat_share: float) -> TrainConfig:
        """The config with exclude_seen decided: "auto" excludes the products a customer bought
        when fewer than EXCLUDE_SEEN_BELOW of the training purchases repeat an earlier one."""
        if self.exclude_seen != "auto":
            return self
        return replace(self, exclude_seen="true" if training_repeat_share < EXCLUDE_SEEN_BELOW else "false")

    @property
    def excludes_seen(self) -> bool:
        if self.exclude_seen == "auto":
            raise ConfigError("exclude_seen is still 'auto': resolve it against the training data first")
        return self.exclude_seen == "true"

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> TrainConfig:
        """The config from a mapping holding (at least) every field, e.g. a component's `locals()`:
        KFP needs each parameter written out in the signature, the body need not repeat them."""
        return cls(**{f.name: settings[f.name] for f in fields(cls)})


TRAIN_HELP: dict[str, str] = {
    "epochs": "Most epochs to train; early stopping usually stops sooner.",
    "batch_size": "Training examples per batch (the in-batch softmax uses the others as negatives).",
    "learning_rate": "Optimizer learning rate.",
    "optimizer": "Optimizer: adam, lazy_adam (Adam moving only the embedding rows a batch uses), adagrad or sgd.",
    "embedding_dim": "Size of the customer and product embeddings the towers output.",
    "feature_embedding_dim": "Size of each categorical feature's embedding inside a tower.",
    "l2_regularization": "L2 penalty on the id embedding rows each batch uses, and on the projections.",
    "temperature": "Softmax temperature of the retrieval logits (dot product / temperature).",
    "remove_accidental_hits": "Drop in-batch negatives that are the positive product itself.",
    "logq_correction": "Correct the in-batch softmax for popular products appearing often as negatives (logQ).",
    "histogram_bins": "Bins of the weight and gradient histograms in training_metrics.json.",
    "id_dropout": "Share of training rows that use the new-id embedding instead of their own id, so customers and products first "
                  "seen after training are scored from their features. 0: off.",
    "history_length": "Recent purchases per customer the model reads (buy-again mixture, pooling). 0: none.",
    "pool_history": "The customer tower adds the mean product embedding of the recent purchases.",
    "buy_again": "Train with a learned repeat-purchase term mixed into the scores of the customer's recent purchases; the trained "
                 "mixture is then one of the two score forms validation chooses between.",
    "early_stopping_patience": "Stop after this many epochs without a lower validation loss, keeping the best epoch. 0: off.",
    "exclude_seen": "Never recommend products the customer bought before: auto (when under 1% of training purchases are repeats), "
                    "true or false.",
    "baseline_half_life_days": "Half-life in days of the recency-weighted baselines (recency_repeat, item_knn) and of the repeat and "
                               "item-kNN terms of the model's blend.",
    "seed": "Seed of the split, the synthetic data and training.",
}
# What each data setting means: the CLI's help, and (written out, as KFP needs) the data_prep component's,
# the input fingerprint's and the pipeline's Args.
PREP_HELP: dict[str, str] = {
    "user_column": "Column holding the customer id.",
    "item_column": "Column holding the product id.",
    "timestamp_column": "Column holding the purchase time. Empty: no timestamps (random split).",
    "user_features": "Comma-separated customer feature columns (categorical), e.g. segment,country. Empty: none.",
    "item_features": "Comma-separated product feature columns (categorical), e.g. category. Empty: none.",
    "user_numeric_features": "Comma-separated numeric customer feature columns, e.g. employees; bucketised by "
                             "the training split's quantiles. Empty: none.",
    "item_numeric_features": "Comma-separated numeric product feature columns, e.g. price; bucketised by the "
                             "training split's quantiles. Empty: none.",
    "user_text_features": "Comma-separated customer text columns, e.g. trade; their words are pooled in the "
                          "customer tower. Empty: none.",
    "item_text_features": "Comma-separated product text columns, e.g. description; their words are pooled in "
                          "the product tower. Empty: none.",
    "users_input": "A customers table, CSV or Parquet (a file, glob or folder, local or gs://): the customer id"
                   " column (user_column) and the customer feature columns, which then come from it instead of "
                   "the purchase rows; its customers with no purchase join the catalog. A customer buying in "
                   "training but missing from it stops data prep; one first buying after training has no "
                   "feature values. Empty: the features come from the purchase rows.",
    "items_input": "A products table, CSV or Parquet (a file, glob or folder, local or gs://): the product id "
                   "column (item_column) and the product feature columns, which then come from it instead of "
                   "the purchase rows; its products nobody bought join the catalog, embedded by the towers from"
                   " their features. A product bought in training but missing from it stops data prep; one "
                   "first bought after training has no feature values. Empty: the features come from the "
                   "purchase rows.",
    "test_fraction": "Share of rows in the test split, above 0 and below 0.5.",
    "val_fraction": "Share of rows in the validation split, taken from the end of train by time; above 0 and below 0.5.",
    "seed": TRAIN_HELP["seed"],
    "split": "How to split train/validation/test: temporal (by time) or random.",
    "test_start": "Date from which rows are the test split (temporal split only). Empty: the last test_fraction"
                  " of rows by time.",
    "where": 'SQL condition rows must meet, e.g. "Quantity > 0". Empty: keep every row.',
    "dedupe": "Keep only the first purchase of each customer-product pair (repeat purchases are kept by "
              "default; they carry signal in B2B).",
    "timestamp_format": "strptime format of the timestamp column, e.g. %m/%d/%Y %H:%M. Empty: ISO and common "
                        "formats are tried.",
    "delimiter": "CSV delimiter. Empty: detected.",
    "encoding": "CSV text encoding, e.g. utf-8 or latin-1.",
    "query": "BigQuery SQL whose result is the interactions (instead of input_uri). Empty: read input_uri.",
    "bq_staging_dataset": "BigQuery dataset (project.dataset) where a query's result is written as a table that"
                          " expires after a day. Empty: the query's own result table.",
    "engine": "Where data prep runs: local (this step's process), bigquery (SQL in BigQuery, splits exported as"
              " Parquet to GCS) or auto (bigquery for BigQuery tables above 30M rows).",
}
# The embedded synthetic data's size when no input is given (data.synthetic.SyntheticConfig's
# defaults): pipeline parameters, written out by the data_prep component and the pipeline, and run-local's flags.
SYNTHETIC_SIZES: dict[str, int] = {"synthetic_purchases": 200_000, "synthetic_customers": 5_000, "synthetic_products": 2_000}
SYNTHETIC_HELP: dict[str, str] = {name: f"With no input_uri: {name.removeprefix('synthetic_')} in the embedded synthetic data."
                                  for name in SYNTHETIC_SIZES}
# The choices of the settings that have a fixed set of values (CLI choices, checked in __post_init__).
TRAIN_CHOICES: dict[str, tuple[str, ...]] = {"optimizer": OPTIMIZERS, "exclude_seen": EXCLUDE_SEEN_CHOICES}
# Where a training run writes and what it is called: the settings next to TrainConfig every trainer takes.
RUN_HELP: dict[str, str] = {
    "metrics_uri": "Also write training_metrics.json, the status and checkpoints here (gs:// or a folder); {run_id} becomes the "
                   "run id, so a schedule gives each run its own folder. Empty: only the pipeline's artifacts.",
    "run_id": "Identifies the run in its training log and the sink claim. Empty: the pipeline job name.",
}
DEFAULT_RUN_ID = "local"  # a run given neither a run id nor a pipeline job name (a direct call of a component)


def _is_iso_date(text: str) -> bool:
    """A date, or a date and time, as both engines read it (DuckDB's and BigQuery's TIMESTAMP of the text)."""
    if not ISO_DATE.fullmatch(text):
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:  # the right shape, not a day of the calendar (2024-02-30)
        return False
    return True


def resolve_run_id(run_id: str, pipeline_job_name: str = "") -> str:
    """The run's id: the one given, else the pipeline job's name, else DEFAULT_RUN_ID. Every trainer and
    component that names the run calls this, so they agree."""
    return run_id or pipeline_job_name or DEFAULT_RUN_ID


def train_fields() -> tuple[str, ...]:
    """The TrainConfig field names, in declaration order (the CLI's, the CustomJob's and the signatures' order)."""
    return tuple(f.name for f in fields(TrainConfig))


def split_list(text: str) -> tuple[str, ...]:
    """'a, b' -> ('a', 'b'); '' -> ()."""
    return tuple(part.strip() for part in text.split(",") if part.strip())

