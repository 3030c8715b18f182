"""Interaction table in, clean integer-indexed splits and vocabularies out.

Ids are strings ("17850.0" and "17850" are one customer); the split is temporal so the test set
is the future; validation and test rows whose user or item is unseen in training are dropped
and counted (cold start is reported, never mixed into recall).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recs_pipeline.config import PrepConfig

SPLITS = ("train", "val", "test")
USER, ITEM, TIME = "user_id", "item_id", "timestamp"
STATS_FILE = "data_stats.json"
VOCAB_FILE = "vocabularies.json"


class DataError(ValueError):
    """Bad input data; the message names the file, column, row or value."""


@dataclass(frozen=True)
class PreparedData:
    """What train and evaluate read back from the prepared folder."""

    splits: dict[str, pd.DataFrame]
    users: pd.DataFrame  # user_idx, user_id, <feature>_idx per user feature
    items: pd.DataFrame  # item_idx, item_id, <feature>_idx per item feature
    vocabularies: dict[str, Any]
    stats: dict[str, Any]

    @property
    def user_features(self) -> list[str]:
        return list(self.vocabularies["user_features"])

    @property
    def item_features(self) -> list[str]:
        return list(self.vocabularies["item_features"])


def read_interactions(path: str) -> pd.DataFrame:
    """Read one CSV or Parquet file; a missing or unreadable file is a DataError naming it."""
    source = Path(path)
    if not source.exists():
        raise DataError(f"input not found: {path}")
    try:
        if source.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(source)
        return pd.read_csv(source, dtype=str, keep_default_na=True)
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read {path}: {error}") from error


def prepare(frame: pd.DataFrame, config: PrepConfig, source: str = "<input>") -> PreparedData:
    """Clean, split by time, index ids and features; every dropped row is counted in the stats."""
    _require_columns(frame, config, source)
    stats: dict[str, Any] = {"source": source, "rows_in": int(len(frame))}
    frame = _normalise(frame, config, source, stats)
    train, val, test = _temporal_split(frame, config)
    user_vocab = np.sort(train[USER].unique())
    item_vocab = np.sort(train[ITEM].unique())
    if len(user_vocab) < 2 or len(item_vocab) < 2:
        raise DataError(
            f"{source}: training split has {len(user_vocab)} user(s) and {len(item_vocab)} item(s); "
            "a retrieval model needs at least 2 of each"
        )
    val, stats["val_rows_dropped_cold_start"] = _drop_cold_start(val, user_vocab, item_vocab)
    test, stats["test_rows_dropped_cold_start"] = _drop_cold_start(test, user_vocab, item_vocab)
    if test.empty:
        raise DataError(f"{source}: the test split is empty after dropping cold-start rows; use more data or a larger test fraction")
    if val.empty:
        raise DataError(f"{source}: the validation split is empty after dropping cold-start rows")

    vocabularies = {
        "user_id": user_vocab.tolist(),
        "item_id": item_vocab.tolist(),
        "user_features": {name: _feature_vocab(train[name]) for name in config.user_features},
        "item_features": {name: _feature_vocab(train[name]) for name in config.item_features},
    }
    splits = {
        name: _index(split, user_vocab, item_vocab, vocabularies)
        for name, split in zip(SPLITS, (train, val, test))
    }
    users = _entity_table(splits["train"], "user", vocabularies["user_features"], len(user_vocab), user_vocab)
    items = _entity_table(splits["train"], "item", vocabularies["item_features"], len(item_vocab), item_vocab)
    stats.update(_summary(splits, len(user_vocab), len(item_vocab)))
    return PreparedData(splits=splits, users=users, items=items, vocabularies=vocabularies, stats=stats)


def save(prepared: PreparedData, folder: str) -> None:
    """Write splits and entity tables as Parquet, vocabularies and stats as JSON."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name, split in prepared.splits.items():
        split.to_parquet(out / f"{name}.parquet", index=False)
    prepared.users.to_parquet(out / "users.parquet", index=False)
    prepared.items.to_parquet(out / "items.parquet", index=False)
    (out / VOCAB_FILE).write_text(json.dumps(prepared.vocabularies))
    (out / STATS_FILE).write_text(json.dumps(prepared.stats, indent=2))


def load(folder: str) -> PreparedData:
    """Read back what `save` wrote."""
    src = Path(folder)
    return PreparedData(
        splits={name: pd.read_parquet(src / f"{name}.parquet") for name in SPLITS},
        users=pd.read_parquet(src / "users.parquet"),
        items=pd.read_parquet(src / "items.parquet"),
        vocabularies=json.loads((src / VOCAB_FILE).read_text()),
        stats=json.loads((src / STATS_FILE).read_text()),
    )


def normalise_ids(values: pd.Series) -> pd.Series:
    """Ids as strings; integer-like floats lose their '.0' so '17850.0' == '17850'."""
    text = values.astype("string").str.strip()
    return text.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)


def _require_columns(frame: pd.DataFrame, config: PrepConfig, source: str) -> None:
    wanted = [config.user_column, config.item_column, config.timestamp_column, *config.user_features, *config.item_features]
    missing = [name for name in wanted if name not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns)) or "(none)"
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}; columns found: {found}")


def _normalise(frame: pd.DataFrame, config: PrepConfig, source: str, stats: dict[str, Any]) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            USER: normalise_ids(frame[config.user_column]),
            ITEM: normalise_ids(frame[config.item_column]),
            TIME: _parse_time(frame[config.timestamp_column], config.timestamp_column, source),
        }
    )
    for name in (*config.user_features, *config.item_features):
        out[name] = frame[name].astype("string").fillna("")
    empty_user = out[USER].isna() | (out[USER] == "")
    empty_item = out[ITEM].isna() | (out[ITEM] == "")
    stats["rows_dropped_null_user"] = int(empty_user.sum())
    stats["rows_dropped_null_item"] = int((empty_item & ~empty_user).sum())
    out = out[~(empty_user | empty_item)]
    if out.empty:
        raise DataError(f"{source}: no rows left after dropping rows with an empty user or item")
    out[USER] = out[USER].astype(str)
    out[ITEM] = out[ITEM].astype(str)
    return out.sort_values(TIME, kind="stable").reset_index(drop=True)


def _parse_time(values: pd.Series, column: str, source: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = values
    else:
        parsed = pd.to_datetime(values, errors="coerce", utc=False, format="mixed")
    bad = parsed.isna() & values.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{source}: column {column!r}, row {row + 1}: cannot parse timestamp {values.iloc[row]!r}")
    if parsed.isna().any():
        row = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise DataError(f"{source}: column {column!r}, row {row + 1}: empty timestamp")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed.astype("datetime64[us]")


def _temporal_split(frame: pd.DataFrame, config: PrepConfig) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Rows are time-sorted: the last test_fraction is test, the last val_fraction of the rest is val."""
    test_start = int(round(len(frame) * (1.0 - config.test_fraction)))
    rest, test = frame.iloc[:test_start], frame.iloc[test_start:]
    val_start = int(round(len(rest) * (1.0 - config.val_fraction)))
    return rest.iloc[:val_start], rest.iloc[val_start:], test


def _drop_cold_start(split: pd.DataFrame, users: np.ndarray, items: np.ndarray) -> tuple[pd.DataFrame, int]:
    known = split[USER].isin(users) & split[ITEM].isin(items)
    return split[known], int((~known).sum())


def _feature_vocab(values: pd.Series) -> list[str]:
    """Index 0 is reserved for empty or unseen values."""
    seen = sorted(value for value in values.unique() if value != "")
    return ["", *seen]


def _index(split: pd.DataFrame, users: np.ndarray, items: np.ndarray, vocabularies: dict[str, Any]) -> pd.DataFrame:
    out = split.reset_index(drop=True).copy()
    out["user_idx"] = np.searchsorted(users, out[USER].to_numpy()).astype(np.int32)
    out["item_idx"] = np.searchsorted(items, out[ITEM].to_numpy()).astype(np.int32)
    for group in ("user_features", "item_features"):
        for name, vocab in vocabularies[group].items():
            lookup = {value: index for index, value in enumerate(vocab)}
            out[f"{name}_idx"] = out[name].map(lookup).fillna(0).astype(np.int32)
    return out


def _entity_table(train: pd.DataFrame, kind: str, features: dict[str, list[str]], size: int, ids: np.ndarray) -> pd.DataFrame:
    """One row per user or item: its latest feature values in training."""
    index_column = f"{kind}_idx"
    table = pd.DataFrame({index_column: np.arange(size, dtype=np.int32), f"{kind}_id": ids})
    if features:
        latest = train.groupby(index_column, sort=True)[[f"{name}_idx" for name in features]].last()
        table = table.join(latest, on=index_column)
    return table


def _summary(splits: dict[str, pd.DataFrame], num_users: int, num_items: int) -> dict[str, Any]:
    rows = {f"{name}_rows": int(len(split)) for name, split in splits.items()}
    all_times = pd.concat([split[TIME] for split in splits.values()])
    return {
        **rows,
        "users": num_users,
        "items": num_items,
        "density": rows["train_rows"] / float(num_users * num_items),
        "date_min": all_times.min().isoformat(),
        "date_max": all_times.max().isoformat(),
        "test_start": splits["test"][TIME].min().isoformat(),
    }
