"""A customers or products table of its own (--users-input, --items-input): that side's features come from it, and every id
it lists joins the catalog, bought or not.

A B2B catalog keeps its products (and a CRM its accounts) apart from the orders, and lists products nobody has bought
yet: launches. Given such a table, data prep joins its feature columns onto each purchase row by id (the purchases' own
columns of those names are not read), so training, the splits and the entity tables see one value per customer or
product, the table's. Once the purchases are prepared, the table's ids that no kept purchase names are appended to the
catalog after every bought one, their features encoded as training encoded them (vocabularies, bucket edges, words):
evaluation ranks them and the serving export covers them, the towers embedding each with the new-id row and its
features, as a product first bought after training.

The table's id column has the purchases' name (--user-column / --item-column), normalised as they are
(data.identifiers); it is read as --input is (CSV or Parquet, a file, glob or folder, local or gs://, with --delimiter and
--encoding). A blank or repeated id, a missing feature column or a number that is not one stops, naming the file, the
column and the row. So does a customer or product bought in training that the table lacks, naming the first: training
would learn it without features while the table is meant to list them all, and most often the table is an older export
or spells ids differently (an SKU against an internal id), which a silent fallback would hide. One first bought after
training and missing from the table (a launch newer than the table's export) keeps no feature values, as a missing value
does, and is counted in the data stats (`items_not_in_table`), as the catalog's products never bought are
(`items_never_bought`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from recs_pipeline.core import storage
from recs_pipeline.core.config import PrepConfig
from recs_pipeline.core.errors import DataError
from recs_pipeline.data import identifiers, numeric_features, sources, table_reader, text_features
from recs_pipeline.data.identifiers import MISSING
from recs_pipeline.data.prepared_data import (
    BUCKET_EDGES,
    KNOWN_ITEMS,
    KNOWN_USERS,
    NUMERIC_FEATURES,
    TEXT_FEATURES,
    TOKENS_SUFFIX,
    write_entity_table,
)

KINDS = ("user", "item")
OPTIONS = {"user": "--users-input", "item": "--items-input"}
NOUNS = {"user": "customer", "item": "product"}
KNOWN = {"user": KNOWN_USERS, "item": KNOWN_ITEMS}
NEVER_BOUGHT = {"user": "users_never_buying", "item": "items_never_bought"}  # data stats: the table's ids with no kept purchase
NOT_IN_TABLE = {"user": "users_not_in_table", "item": "items_not_in_table"}  # first bought after training, missing from the table


def id_column(config: PrepConfig, kind: str) -> str:
    return config.user_column if kind == "user" else config.item_column


def features(config: PrepConfig, kind: str) -> tuple[str, ...]:
    return config.all_user_features if kind == "user" else config.all_item_features


def _reading_config(config: PrepConfig, kind: str) -> PrepConfig:
    """The settings that read a table as --input is read: its id and feature columns as text, nothing else."""
    named = {f"{kind}_features": getattr(config, f"{kind}_features"),
             f"{kind}_numeric_features": getattr(config, f"{kind}_numeric_features"),
             f"{kind}_text_features": getattr(config, f"{kind}_text_features")}
    return PrepConfig(user_column=config.user_column, item_column=config.item_column, timestamp_column="", delimiter=config.delimiter,
                      encoding=config.encoding, **named)


def _require_columns(columns: list[str], config: PrepConfig, kind: str, source: str) -> None:
    wanted = [id_column(config, kind), *features(config, kind)]
    missing = [name for name in wanted if name not in columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)} (the {OPTIONS[kind]} table needs {', '.join(wanted)}); "
                        f"columns found: {', '.join(columns) or '(none)'}")


def _resolve(uri: str, kind: str, scratch: str) -> sources.Source:
    if uri.startswith("bq://"):
        raise DataError(f"{OPTIONS[kind]} {uri}: a BigQuery table cannot be read as a {NOUNS[kind]}s table; "
                        "export it as CSV or Parquet (gs://) and give that")
    try:
        return sources.resolve(storage.check_uri(uri), scratch)
    except (sources.SourceError, storage.StorageError) as error:
        raise DataError(f"{OPTIONS[kind]}: {error}") from error


def check(config: PrepConfig, own_purchases: bool) -> None:
    """What can be checked before a pipeline starts: tables come with purchases of the user's own, and a local table's
    header has the columns (gs:// tables are read by the step itself, with the run's credentials)."""
    for kind in KINDS:
        uri = config.entity_input(kind)
        if not uri:
            continue
        if not own_purchases:
            raise DataError(f"{OPTIONS[kind]} needs purchases of your own (--input or --query): the embedded synthetic data "
                            f"has its own {NOUNS[kind]}s")
        source = _resolve(uri, kind, "") if not storage.is_gcs(uri) else None
        if source is not None:
            try:
                names = table_reader.column_names(source.files, source.format, _reading_config(config, kind))
            except table_reader.ReadError as error:
                raise DataError(str(error)) from error
            _require_columns(names, config, kind, uri)


@dataclass(frozen=True)
class EntityTable:
    """One side's table, read and checked: each row's id (normalised, distinct) and its feature columns, numbers as
    float64 (NaN: missing)."""

    kind: str
    source: str  # the path or URI as given, for messages
    ids: pd.Index  # of str, one per row
    columns: pa.Table


def read(config: PrepConfig, kind: str) -> EntityTable:
    """The `kind` table of `config`, stopping on a missing column, no rows, a blank or repeated id, or a number that is not one."""
    import duckdb

    uri = config.entity_input(kind)
    reading = _reading_config(config, kind)
    with tempfile.TemporaryDirectory(prefix="recs-table-") as scratch:
        source = _resolve(uri, kind, scratch)
        try:
            with duckdb.connect() as connection:
                table = table_reader.read_files(source.files, source.format, reading, uri, connection)
        except table_reader.ReadError as error:
            raise DataError(str(error)) from error
    _require_columns(table.column_names, config, kind, uri)
    if table.num_rows == 0:
        raise DataError(f"{uri}: no rows, only the header ({', '.join(table.column_names)})")
    column = id_column(config, kind)
    encoded = identifiers.encode(table[column])
    blank = np.flatnonzero(encoded.codes == MISSING)
    if len(blank):
        raise DataError(f"{uri}: column {column!r}, row {blank[0] + 1}: no {NOUNS[kind]} id")
    _, first = np.unique(encoded.codes, return_index=True)
    if len(first) < table.num_rows:
        repeated = np.ones(table.num_rows, bool)
        repeated[first] = False
        row = int(np.argmax(repeated))
        earlier = int(np.argmax(encoded.codes == encoded.codes[row]))
        raise DataError(f"{uri}: column {column!r}, row {row + 1}: {NOUNS[kind]} {encoded.labels[encoded.codes[row]]!r} is listed "
                        f"twice (first at row {earlier + 1}); give one row per {NOUNS[kind]}")
    numeric = getattr(config, f"{kind}_numeric_features")
    columns = {name: (pa.chunked_array([pa.array(numeric_features.parse(table[name], name, uri))]) if name in numeric else table[name])
               for name in features(config, kind)}
    return EntityTable(kind, uri, pd.Index(encoded.labels[encoded.codes]), pa.table(columns))


class EntityTables:
    """The --users-input / --items-input tables of one data prep run: read, joined onto the purchases, then their ids that
    no kept purchase names appended to the prepared catalog."""

    def __init__(self, config: PrepConfig) -> None:
        self.config = config
        self.tables = {kind: read(config, kind) for kind in KINDS if config.entity_input(kind)}
        self._unlisted: dict[str, dict[str, int]] = {}  # kind -> {purchased id the table lacks: its first row}

    def attach(self, purchases: pa.Table) -> pa.Table:
        """The purchases with each table's feature columns in place of their own, looked up by id: a purchase whose id the
        table lacks gets nulls (which `complete` judges once the split says whether it was bought in training)."""
        for kind, entity in self.tables.items():
            encoded = identifiers.encode(purchases[id_column(self.config, kind)])
            lookup = np.append(entity.ids.get_indexer(pd.Index(encoded.labels, dtype=object)), -1)  # label code -> table row
            rows = lookup[encoded.codes]  # MISSING (-1) reads the last slot: no row
            unlisted = np.flatnonzero((rows < 0) & (encoded.codes != MISSING))
            codes, first = np.unique(encoded.codes[unlisted], return_index=True)
            self._unlisted[kind] = dict(zip(encoded.labels[codes].tolist(), unlisted[first].tolist(), strict=True))
            take = pa.array(np.maximum(rows, 0), mask=rows < 0)
            joined = {name: column.take(take) for name, column in zip(entity.columns.column_names, entity.columns.columns, strict=True)}
            kept = [name for name in purchases.column_names if name not in joined]
            purchases = pa.table([*(purchases[name] for name in kept), *joined.values()], names=[*kept, *joined])
        return purchases

    def complete(self, output_dir: str, vocabularies: dict[str, Any], stats: dict[str, Any], source: str) -> None:
        """Stop on an id bought in training that its table lacks; append each table's ids that no kept purchase names to the
        vocabularies and the entity tables (after every bought one, sorted by text), and count both kinds in `stats`."""
        for kind, entity in self.tables.items():
            ids: list[str] = vocabularies[f"{kind}_id"]
            known = set(ids[:vocabularies[KNOWN[kind]]])
            unlisted = self._unlisted.get(kind, {})
            trained = sorted((row, label) for label, row in unlisted.items() if label in known)
            if trained:
                row, label = trained[0]
                raise DataError(f"{source}: {len(trained):,} {NOUNS[kind]}(s) bought in training are not in {entity.source} "
                                f"({OPTIONS[kind]}), the first {label!r} at row {row + 1}; list every {NOUNS[kind]} in the table "
                                "(its feature values may be empty), or check that both name the same ids")
            listed = set(ids)
            stats[NOT_IN_TABLE[kind]] = sum(1 for label in unlisted if label in listed)
            new = sorted(label for label in entity.ids if label not in listed)
            if new:
                _append(Path(output_dir, f"{kind}s.parquet"), kind, entity, new, len(ids), vocabularies)
            ids.extend(new)
            stats[f"{kind}s"] = len(ids)
            stats[NEVER_BOUGHT[kind]] = len(new)


def _append(path: Path, kind: str, entity: EntityTable, new: list[str], first_index: int, vocabularies: dict[str, Any]) -> None:
    """Rows for the `new` ids (indices from `first_index` on) appended to the prepared entity table at `path`, each
    column encoded as data prep encoded the bought ones."""
    import pyarrow.parquet as pq

    existing = pq.read_table(path)
    rows = pa.array(entity.ids.get_indexer(pd.Index(new, dtype=object)))
    values = entity.columns.take(rows)
    columns: dict[str, pa.Array] = {}
    for name in existing.column_names:
        if name == f"{kind}_idx":
            columns[name] = pa.array(np.arange(first_index, first_index + len(new), dtype=np.int32))
        elif name == f"{kind}_id":
            columns[name] = pa.array(new, pa.string())
        elif name.endswith(TOKENS_SUFFIX):
            feature = name.removesuffix(TOKENS_SUFFIX)
            tokens = _tokens(values[feature], vocabularies[TEXT_FEATURES[kind]][feature])
            columns[name] = pa.FixedSizeListArray.from_arrays(pa.array(tokens.ravel()), text_features.TOKENS)
        else:
            feature = name.removesuffix("_idx")
            columns[name] = pa.array(_indices(values[feature], feature, vocabularies[f"{kind}_features"][feature], vocabularies))
    added = pa.table(columns).cast(existing.schema)
    write_entity_table(pa.concat_tables([existing, added]), path)


def _indices(column: pa.ChunkedArray, name: str, values: list[str], vocabularies: dict[str, Any]) -> np.ndarray:
    """Each row's index in the feature's training vocabulary (0: empty, missing or unseen in training); a number by the
    training bucket it falls in (data.numeric_features)."""
    position = {value: index for index, value in enumerate(values)}
    if name in vocabularies.get(NUMERIC_FEATURES, []):
        edges = np.asarray(vocabularies[BUCKET_EDGES][name], np.float64)
        bucket_index = np.array([position.get(label, 0) for label in numeric_features.labels(edges)], np.int32)
        codes = numeric_features.codes(column.to_numpy().astype(np.float64), edges)
        return np.where(codes == MISSING, 0, bucket_index[np.maximum(codes, 0)]).astype(np.int32)
    encoded = identifiers.encode(column, False)
    label_index = np.array([*(position.get(label, 0) for label in encoded.labels), 0], np.int32)  # the last slot: MISSING
    return label_index[encoded.codes]


def _tokens(column: pa.ChunkedArray, words: list[str]) -> np.ndarray:
    """(rows, TOKENS) int32: each row's known words (data.text_features); none for a missing text."""
    encoded = identifiers.encode(column, False)
    matrix = np.vstack([text_features.token_matrix(encoded.labels, words), np.zeros((1, text_features.TOKENS), np.int32)])
    return matrix[encoded.codes]
