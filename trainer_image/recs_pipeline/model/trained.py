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
from recs_pipeline.data import history, prepared_data
from recs_pipeline.evaluation import ranking
from recs_pipeline.evaluation.baselines import PurchaseHistory
from recs_pipeline.model import blend, buy_again, retrieval
from recs_pipeline.model.towers import TwoTowerModel

QUERY_TOWER_DIR = "query_tower"
CANDIDATE_TOWER_DIR = "candidate_tower"
RETRIEVAL_DIR = "retrieval"
MODEL_INFO_FILE = "model_info.json"


def write(model: TwoTowerModel, prepared: prepared_data.PreparedData, config: TrainConfig, model_dir: str, serving_dir: str,
          weights: blend.BlendWeights) -> None:
    """Each tower as its own SavedModel, the product embeddings, what a reader needs to feed the
    towers and score as the model does (the blend's weights), and the retrieval SavedModel
    (customer id → top-K products) for serving."""
    out = Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.query_tower.save(str(out / QUERY_TOWER_DIR), include_optimizer=False)
    model.candidate_tower.save(str(out / CANDIDATE_TOWER_DIR), include_optimizer=False)
    info = {**describe(model, prepared, config), "blend": weights.as_dict()}
    candidate_inputs = info["candidate_inputs"]
    (out / MODEL_INFO_FILE).write_text(json.dumps(info, indent=1))
    item_embeddings = embed_entities(model.candidate_tower, prepared.items, candidate_inputs)
    retrieval.write_product_embeddings(str(out / retrieval.EMBEDDINGS_FILE), prepared.items, item_embeddings)
    customers = {name: prepared.users[name].to_numpy(np.int32) for name in info["query_inputs"] if name in prepared.users}
    histories = history.customer_history(prepared, config.history_length, history.EVERYTHING)  # serving knows every purchase
    customers.update(histories)
    everything = PurchaseHistory.of_splits(prepared, history.EVERYTHING)
    retrieval.export(serving_dir, model.query_tower, prepared.users["user_id"].to_numpy(str), customers, prepared.items,
                     item_embeddings, prepared_data.item_probabilities(prepared),
                     tables=blend.serving_tables(everything, weights.repeat_half_life_days, config.baseline_half_life_days, weights.uses_knn),
                     weights=weights,
                     temperature=config.temperature, exclude_seen=config.excludes_seen, history=histories.get("history"),
                     buy_again_weights=tuple(info["buy_again"]) if info["buy_again"] else None)


def describe(model: TwoTowerModel, prepared: prepared_data.PreparedData, config: TrainConfig) -> dict[str, Any]:
    """model_info.json but the blend's weights: how to feed the towers and score as the model does."""
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
    }


def scoring_terms(prepared: prepared_data.PreparedData, towers: tuple[keras.Model, keras.Model], info: dict[str, Any],
                  splits: tuple[str, ...], repeat_half_life_days: float) -> dict[str, Any]:
    """The blend's terms (blend.terms) for customers whose purchases so far are those in `splits`
    (history.TRAINING when fitting the weights, BEFORE_TEST in evaluate, EVERYTHING as served)."""
    query, candidate = towers
    histories = history.customer_history(prepared, info["history_length"], splits)
    user_embeddings = embed_entities(query, prepared.users, info["query_inputs"], histories)
    item_embeddings = embed_entities(candidate, prepared.items, info["candidate_inputs"])
    known = PurchaseHistory.of_splits(prepared, splits)
    mixture = None
    if info["buy_again"]:  # the trained mixture over each customer's last history_length purchases
        mixture = buy_again.scorer(ranking.embedding_scorer(user_embeddings, item_embeddings), buy_again.CountTable(histories["history"]),
                                   tuple(info["buy_again"]), info["temperature"])
    return blend.terms(known, repeat_half_life_days, info["knn_half_life_days"], user_embeddings, item_embeddings, info["temperature"],
                       mixture)


def embed_entities(tower: keras.Model, table: pd.DataFrame, inputs: list[str], extra: dict[str, np.ndarray] | None = None,
                   batch_size: int = 8192) -> np.ndarray:
    """Run a tower over every row of an entity table (all users or the whole catalog); `extra`
    holds inputs that are not table columns (the customers' `history`)."""
    extra = extra or {}
    columns = {name: extra[name] if name in extra else table[name].to_numpy(np.int32) for name in inputs}
    return tower.predict(columns, batch_size=batch_size, verbose=0).astype(np.float32)


def model_info(model_dir: str) -> dict[str, Any]:
    return json.loads((Path(model_dir) / MODEL_INFO_FILE).read_text())


def blend_weights(info: dict[str, Any]) -> blend.BlendWeights:
    return blend.BlendWeights(**info["blend"])


def load_towers(model_dir: str) -> tuple[keras.Model, keras.Model]:
    """The exported towers, ready to embed users and items."""
    base = Path(model_dir)
    query = keras.models.load_model(str(base / QUERY_TOWER_DIR), compile=False)
    candidate = keras.models.load_model(str(base / CANDIDATE_TOWER_DIR), compile=False)
    return query, candidate
