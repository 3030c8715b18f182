"""The command-line options that mirror the config classes: their defaults are read from there."""

from __future__ import annotations

import dataclasses
import re

import click

from recs_pipeline.core.config import (
    ENGINES,
    PREP_HELP,
    RUN_HELP,
    SPLIT_KINDS,
    SYNTHETIC_HELP,
    SYNTHETIC_SIZES,
    TRAIN_CHOICES,
    TRAIN_HELP,
    PrepConfig,
    TrainConfig,
)

_PREP = PrepConfig()
FLAG_OF = {"input_uri": "--input"}  # the settings whose flag is not their name with dashes
_SETTINGS = "|".join(sorted({field.name for config in (PrepConfig, TrainConfig) for field in dataclasses.fields(config)}
                            | set(RUN_HELP) | set(SYNTHETIC_SIZES) | set(FLAG_OF), key=len, reverse=True))
# In help, a setting named in prose: one with an underscore (a setting such as `split` is also a
# plain word), not part of a path, placeholder or longer name.
_NAMED = re.compile(rf"(?<![\w/{{.-])({_SETTINGS})(?![\w/}}])")
_LEADING = re.compile(rf"({_SETTINGS})(=| )")  # what a settings error starts with: `batch_size=0 must ...`, `test_start needs ...`


def flag(setting: str) -> str:
    """The command-line flag of a setting."""
    return FLAG_OF.get(setting, "--" + setting.replace("_", "-"))


def help_text(text: str) -> str:
    """A setting's help in the command line's terms: the other settings it names, as their flags."""
    return _NAMED.sub(lambda match: flag(match.group(1)) if "_" in match.group(1) else match.group(1), text)


def error_text(message: str) -> str:
    """A settings error in the command line's terms: the setting it starts with as its flag
    (`batch_size=0 must be at least 1` reads `--batch-size 0 must be at least 1`); the value and
    the rest as they are."""
    match = _LEADING.match(message)
    return f"{flag(match.group(1))} {message[match.end():]}" if match else message


def _text_option(name: str):
    """The flag of a data setting given as text: its default (a list of columns comma-separated) and its help."""
    value = getattr(_PREP, name)
    default = ",".join(value) if isinstance(value, tuple) else value
    return click.option(flag(name), default=default, show_default=bool(default), help=help_text(PREP_HELP[name]))


DATA_OPTIONS = [
    click.option("--input", "input_uri", default="", help="CSV or Parquet: a file, glob or folder, local or gs://; or a BigQuery "
                                                          "table bq://project.dataset.table. Default: the embedded synthetic data."),
    *map(_text_option, ("user_column", "item_column", "timestamp_column", "user_features", "item_features", "user_numeric_features",
                        "item_numeric_features", "user_text_features", "item_text_features", "users_input", "items_input", "where")),
    click.option("--dedupe/--no-dedupe", default=_PREP.dedupe, help=help_text(PREP_HELP["dedupe"])),
    click.option("--split", type=click.Choice(SPLIT_KINDS), default=_PREP.split, show_default=True, help=help_text(PREP_HELP["split"])),
    _text_option("test_start"),
    click.option("--test-fraction", type=float, default=_PREP.test_fraction, show_default=True, help=help_text(PREP_HELP["test_fraction"])),
    click.option("--val-fraction", type=float, default=_PREP.val_fraction, show_default=True, help=help_text(PREP_HELP["val_fraction"])),
    *map(_text_option, ("timestamp_format", "delimiter", "encoding", "query", "bq_staging_dataset")),
    click.option("--engine", type=click.Choice(ENGINES), default=_PREP.engine, show_default=True, help=help_text(PREP_HELP["engine"])),
]


SYNTHETIC_OPTIONS = [click.option(flag(name), type=click.IntRange(min=1), default=size, show_default=True,
                                   help=help_text(SYNTHETIC_HELP[name])) for name, size in SYNTHETIC_SIZES.items()]


def with_options(options: list):
    """A decorator applying click options in the order listed (click applies the last one first)."""

    def apply(command):
        for option in reversed(options):
            command = option(command)
        return command

    return apply


data_options = with_options(DATA_OPTIONS)  # the same on `prepare` and `run-local` (and as pipeline parameters)
synthetic_options = with_options(SYNTHETIC_OPTIONS)


def _train_option(field: dataclasses.Field):
    """The flag of one TrainConfig field: --name VALUE, or --name/--no-name for a boolean; its
    default, type and help from the config (TRAIN_HELP, TRAIN_CHOICES)."""
    name = flag(field.name)
    common = {"default": field.default, "show_default": True, "help": help_text(TRAIN_HELP[field.name])}
    if isinstance(field.default, bool):
        return click.option(f"{name}/--no-{name[2:]}", **common)
    kind = click.Choice(TRAIN_CHOICES[field.name]) if field.name in TRAIN_CHOICES else type(field.default)
    return click.option(name, type=kind, **common)


TRAIN_OPTIONS = [_train_option(field) for field in dataclasses.fields(TrainConfig)]


train_options = with_options(TRAIN_OPTIONS)  # every TrainConfig field as a flag, made from the field
