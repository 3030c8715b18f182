"""New products served without retraining: the serving export again, with a product table.

A B2B catalog launches products every week. The table (CSV: the product id column and the product
feature columns the towers read; categories as text, numbers as numbers) lists the catalog's
products; those not in the model's catalog are appended to it, each embedded by the product tower
from its features with the new-id row (model.towers), as a product nobody bought: popularity 0, no
neighbours, ranked only through the towers (scoring.blend). Products already in the catalog keep
their index, embedding and every term. The rest of the export is the train step's (model.trained):
the towers, model_info.json and the prepared data it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from recs_pipeline.core.errors import DataError
from recs_pipeline.data import identifiers, prepared_data
from recs_pipeline.model import feature_values, trained
from recs_pipeline.scoring.blend import Blend

ID_COLUMN = "product_id"


@dataclass(frozen=True)
class Export:
    """What export wrote: products added to the catalog, products of the table already in it, the
    catalog's size, and whether the score form ranks the added ones (a blend whose towers weight for
    new products is 0 scores a product nobody bought -inf for everyone)."""

    added: int
    already_in_catalog: int
    products: int
    ranked: bool = True


def read(path: str, id_column: str, encodings: dict[str, feature_values.Encoding]) -> pd.DataFrame:
    """item_id and `<feature>_idx` per row of the table, the values encoded as data prep did; a
    missing column, a blank or repeated id, or a number that is not one stops, naming it."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty file; give a CSV with a header ({id_column}, {', '.join(encodings)})") from None
    needed = [id_column, *encodings]
    missing = [name for name in needed if name not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns))
        hint = "; give --product-column if its product ids are in another column" if missing[0] == id_column else ""
        raise DataError(f"{path}: no column {missing[0]!r} (the table needs {', '.join(needed)}; found {found}){hint}")
    if not len(frame):
        raise DataError(f"{path}: no rows, only the header ({', '.join(map(str, frame.columns))})")
    ids = np.asarray(identifiers.id_texts(pa.array(frame[id_column].tolist(), pa.string())).to_pylist(), dtype=object)
    blank = np.flatnonzero(pd.isna(ids))
    if len(blank):
        raise DataError(f"{path}: column {id_column!r}, row {blank[0] + 1}: no product id")
    repeated = pd.Series(ids).duplicated().to_numpy()
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0])
        raise DataError(f"{path}: column {id_column!r}, row {row + 1}: product {ids[row]!r} is listed twice")
    columns = {"item_id": ids.astype(str)}
    for name, encoding in encodings.items():
        columns[f"{name}_idx"] = feature_values.indices(encoding, frame[name].tolist(), name, path)
    return pd.DataFrame(columns)


def export(model_dir: str, prepared_dir: str, products: str, output: str, id_column: str = ID_COLUMN) -> Export:
    """The retrieval SavedModel in `output` with the table's new products appended to the catalog."""
    info = trained.model_info(model_dir)
    encodings = trained.feature_encodings(info, "item")
    read_by_towers = feature_values.tower_features(info["candidate_inputs"], "item_idx")
    suffix = prepared_data.TOKENS_SUFFIX
    texts = [name.removesuffix(suffix) for name in info["candidate_inputs"] if name.endswith(suffix)]
    if texts:
        raise DataError(f"{model_dir}: the product tower reads text feature(s) {', '.join(texts)}, which a product table cannot "
                        "add yet; prepare the data with the new products and train again")
    unknown = [name for name in read_by_towers if name not in encodings]
    if unknown:
        raise DataError(f"{model_dir}: model_info.json has no encoding of product feature {unknown[0]!r}; "
                        "train again with this version to add products")
    table = read(products, id_column, {name: encodings[name] for name in read_by_towers})
    prepared = prepared_data.load(prepared_dir)
    if len(prepared.items) != info["num_items"]:
        raise DataError(f"{prepared_dir}: {len(prepared.items)} products, but the model at {model_dir} was trained on "
                        f"{info['num_items']}; give the prepared data it was trained on")
    new = table[~table["item_id"].isin(set(prepared.items["item_id"]))]
    Path(output).mkdir(parents=True, exist_ok=True)
    added = trained.export_serving(trained.load_towers(model_dir), prepared, info, output, new_products=new)
    form = trained.score_form(info)
    ranked = not isinstance(form, Blend) or bool(form.towers_new_products)
    return Export(added, len(table) - added, len(prepared.items) + added, ranked)
