"""The trained-model folder: the two towers as SavedModels, model_info.json, the product embeddings,
and the retrieval SavedModel for serving. The train step writes it; evaluate and readers load it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recs_pipeline.core.config import TrainConfig
from recs_pipeline.core.tf_runtime import keras
from recs_pipeline.data import prepared_data, purchase_windows
from recs_pipeline.model import feature_values, retrieval
from recs_pipeline.model.towers import TwoTowerModel, new_id_index
from recs_pipeline.scoring import blend, forms
from recs_pipeline.scoring.forms import Form
from recs_pipeline.scoring.purchases import Purchases
from recs_pipeline.scoring.terms import Terms, TowerScores

QUERY_TOWER_DIR = "query_tower"
CANDIDATE_TOWER_DIR = "candidate_tower"
RETRIEVAL_DIR = "retrieval"
MODEL_INFO_FILE = "model_info.json"
SCORE_FORM = "score_form"  # model_info.json's key for the form the model scores by (scoring.forms)
FEATURES = "features"  # model_info.json: per "user" and "item" feature, its vocabulary and bucket edges (model.feature_values)


def write(model: TwoTowerModel, prepared: prepared_data.PreparedData, config: TrainConfig, model_dir: str, serving_dir: str,
          form: Form) -> None:
    """Each tower as its own SavedModel, the product embeddings, what a reader needs to feed the
    towers and score as the model does (its score form, each feature's encoding), and the retrieval
    SavedModel (customer id → top-K products) for serving, which knows every purchase in the data."""
    out = Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.query_tower.save(str(out / QUERY_TOWER_DIR), include_optimizer=False)
    model.candidate_tower.save(str(out / CANDIDATE_TOWER_DIR), include_optimizer=False)
    info = {**describe(model, prepared, config), SCORE_FORM: form.as_dict()}
    (out / MODEL_INFO_FILE).write_text(json.dumps(info, indent=1))
    item_embeddings = embed_entities(model.candidate_tower, prepared.items, info["candidate_inputs"])
    retrieval.write_product_embeddings(str(out / retrieval.EMBEDDINGS_FILE), prepared.items, item_embeddings)
    export_serving((model.query_tower, model.candidate_tower), prepared, info, serving_dir, item_embeddings=item_embeddings)


def export_serving(towers: tuple[keras.Model, keras.Model], prepared: prepared_data.PreparedData, info: dict[str, Any], serving_dir: str,
                   new_products: pd.DataFrame | None = None, item_embeddings: np.ndarray | None = None) -> int:
    """The retrieval SavedModel, from the towers, model_info.json and the prepared data (it knows
    every purchase in it). `new_products` (item_id and the product tower's feature indices) are
    appended to the catalog with no purchases: the product tower embeds each with the new-id row
    and its features, and every other product's terms stay as they were. Returns how many were added."""
    query, candidate = towers
    form = score_form(info)
    catalog = prepared.items
    if new_products is not None and len(new_products):
        appended = new_products.assign(item_idx=np.arange(len(catalog), len(catalog) + len(new_products), dtype=np.int32))
        catalog = pd.concat([catalog, appended.reindex(columns=catalog.columns, fill_value=0)], ignore_index=True)
        item_embeddings = None
    added = len(catalog) - len(prepared.items)
    if item_embeddings is None:
        item_embeddings = embed_entities(candidate, catalog, info["candidate_inputs"])
    customers = {name: prepared_data.entity_input(prepared.users, name) for name in info["query_inputs"] if name in prepared.users}
    everything = Purchases.of_splits(prepared, purchase_windows.EVERYTHING)
    length = info["history_length"]
    windows = everything.windows(length) if length else None
    if windows is not None:
        customers[purchase_windows.TOWER_INPUT] = windows
    repeat_half_life = form.repeat_half_life_days if isinstance(form, blend.Blend) else 0.0  # the mixture reads only the purchases
    tables = blend.serving_tables(everything, repeat_half_life, info["knn_half_life_days"], form.uses_knn).with_new_products(added)
    retrieval.export(serving_dir, query, prepared.users["user_id"].to_numpy(str), customers, catalog, item_embeddings,
                     np.append(prepared_data.purchase_shares(prepared), np.zeros(added, np.float32)), tables=tables, form=form,
                     temperature=info["temperature"], exclude_seen=info["exclude_seen"], windows=windows,
                     customer_encodings=feature_encodings(info, "user"), added_products=added)
    return added


def describe(model: TwoTowerModel, prepared: prepared_data.PreparedData, config: TrainConfig) -> dict[str, Any]:
    """model_info.json but the score form: how to feed the towers and score as the model does, and
    how a new customer's or product's raw feature values become the towers' indices."""
    return {
        "query_inputs": sorted(model.query_tower.input.keys()),
        "candidate_inputs": sorted(model.candidate_tower.input.keys()),
        "num_users": len(prepared.vocabularies["user_id"]),
        "num_items": len(prepared.vocabularies["item_id"]),
        "history_length": config.history_length,
        "temperature": config.temperature,  # logits are dot products / temperature
        "buy_again": [float(model.buy_again.bought.numpy()), float(model.buy_again.share.numpy())] if model.buy_again is not None else None,
        "exclude_seen": config.excludes_seen,
        "knn_half_life_days": config.baseline_half_life_days,
        FEATURES: {kind: {name: encoding.as_dict() for name, encoding in feature_values.from_vocabularies(prepared.vocabularies,
                                                                                                           kind).items()}
                   for kind in ("user", "item")},
    }


def feature_encodings(info: dict[str, Any], kind: str) -> dict[str, feature_values.Encoding]:
    """The encodings of the "user" or "item" features model_info.json holds (none in a model from before it held them)."""
    return feature_values.from_dict(info.get(FEATURES, {}).get(kind, {}))


def scoring_terms(purchases: Purchases, prepared: prepared_data.PreparedData, towers: tuple[keras.Model, keras.Model],
                  info: dict[str, Any]) -> Terms:
    """The model's terms for customers whose purchases so far are `purchases` (of the splits
    purchase_windows.TRAINING when fitting the form, BEFORE_TEST in evaluate, EVERYTHING as served):
    the towers embed every customer with their purchase window from those purchases."""
    query, candidate = towers
    length = info["history_length"]
    windows = {purchase_windows.TOWER_INPUT: purchases.windows(length)} if length else {}
    user_embeddings = embed_entities(query, prepared.users, info["query_inputs"], windows)
    item_embeddings = embed_entities(candidate, prepared.items, info["candidate_inputs"])
    return Terms(purchases, info["knn_half_life_days"], TowerScores(user_embeddings, item_embeddings, info["temperature"]), length,
                 prepared.user_groups(), prepared.item_categories())


def features_only_towers(towers: tuple[keras.Model, keras.Model], prepared: prepared_data.PreparedData, info: dict[str, Any],
                         terms: Terms) -> TowerScores:
    """The towers' term with every customer embedded as a new customer is: the new-id row, their
    features and no purchase window. The score fit scores regular customers so too, to learn how far
    a customer's features alone can be trusted from many more customers than validation's new ones."""
    query = towers[0]
    as_new = prepared.users.assign(user_idx=new_id_index(query, "user_idx"))
    length = info["history_length"]
    empty = {purchase_windows.TOWER_INPUT: np.zeros((len(as_new), length), np.int32)} if length else {}
    return TowerScores(embed_entities(query, as_new, info["query_inputs"], empty), terms.towers.item_embeddings, info["temperature"])


def embed_entities(tower: keras.Model, table: pd.DataFrame, inputs: list[str], extra: dict[str, np.ndarray] | None = None,
                   batch_size: int = 8192) -> np.ndarray:
    """Run a tower over every row of an entity table (all users or the whole catalog); `extra`
    holds inputs that are not table columns (the customers' `history`)."""
    extra = extra or {}
    columns = {name: extra[name] if name in extra else prepared_data.entity_input(table, name) for name in inputs}
    return tower.predict(columns, batch_size=batch_size, verbose=0).astype(np.float32)


def model_info(model_dir: str) -> dict[str, Any]:
    return json.loads((Path(model_dir) / MODEL_INFO_FILE).read_text())


def score_form(info: dict[str, Any]) -> Form:
    """The form the train step chose, from model_info.json."""
    return forms.from_dict(info[SCORE_FORM])


def load_towers(model_dir: str) -> tuple[keras.Model, keras.Model]:
    """The exported towers, ready to embed users and items."""
    base = Path(model_dir)
    query = keras.models.load_model(str(base / QUERY_TOWER_DIR), compile=False)
    candidate = keras.models.load_model(str(base / CANDIDATE_TOWER_DIR), compile=False)
    return query, candidate
