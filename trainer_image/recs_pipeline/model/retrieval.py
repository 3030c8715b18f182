"""The serving export: customer id in, top-K product ids and scores out, in one SavedModel.

The query tower and the whole catalog's embeddings are saved together, so a TF Serving container
(Vertex AI prediction, or `recommend` here) answers with no other file. Scoring is exact: the
model's score in the form the train step chose (model.score_fit), by that form's TensorFlow version
(scoring/blend.py, scoring/mixture.py, each beside its NumPy version that evaluate ranks by): the
trained buy-again mixture over the customer's purchase window, or the blend of the customer's
recency-weighted purchases, popularity, the towers' softmax and item-kNN with the fitted weights;
for every product, then top-K. Customer
features and purchases are looked up from the data by id, so the request carries only the id; the
recency weights are those of the day the model was exported. An id never seen in training gets the
most popular products, and `known_customer` says so.

ScaNN is not offered: its TensorFlow op is built for one TensorFlow minor version (scann 1.4.2
needs tensorflow 2.20) and fails to load on the 2.21 this package pins (README, "Serving the model").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recs_pipeline.core.errors import UserError
from recs_pipeline.core.tf_runtime import keras, tf
from recs_pipeline.scoring import blend, mixture
from recs_pipeline.scoring.blend import ServingTables
from recs_pipeline.scoring.forms import Form

SERVING_TOP_K = 100
SIGNATURE = "serving_default"
EMBEDDINGS_FILE = "product_embeddings.parquet"
INFO_FILE = "retrieval_info.json"


class RetrievalModule(tf.Module):
    """Holds the query tower, the customer table and the catalog; `serve` is the signature.
    Row i of `customer_ids` and `customer_inputs` is customer index i, row i of `product_ids` and
    `item_embeddings` item index i (data_prep.load's order)."""

    def __init__(
        self,
        query_tower: keras.Model,
        customer_ids: np.ndarray,
        customer_inputs: dict[str, np.ndarray],
        product_ids: np.ndarray,
        item_embeddings: np.ndarray,
        fallback_shares: np.ndarray,
        k: int,
        tables: ServingTables,
        form: Form,
        temperature: float,
        exclude_seen: bool = False,
        windows: np.ndarray | None = None,
    ):
        super().__init__()
        self.query_tower = query_tower
        self.k = min(k, len(product_ids))
        self.customer_index = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(customer_ids.astype(str)), tf.constant(np.arange(len(customer_ids), dtype=np.int32))
            ),
            default_value=-1,
        )
        # Per-customer inputs (feature indices, recent products), gathered by customer index.
        self.customer_features = {
            name: tf.Variable(customer_inputs[name], trainable=False, name=name) for name in query_tower.input if name != "user_idx"
        }
        # Variables, not constants: large catalogs go to the variables file, not the graph proto.
        self.item_embeddings = tf.Variable(item_embeddings.astype(np.float32), trainable=False, name="item_embeddings")
        self.product_ids = tf.Variable(product_ids.astype(str), trainable=False, name="product_ids")
        # The blend's terms (scoring/blend.py): each customer's products as CSR with their recency-weighted
        # counts, popularity, each product's neighbours; the kNN tables only when their weight is not 0.
        self.purchase_splits = tf.Variable(tables.row_splits, trainable=False, name="purchase_row_splits")
        self.purchase_items = tf.Variable(tables.items, trainable=False, name="purchase_items")
        self.purchase_repeat = tf.Variable(tables.repeat, trainable=False, name="purchase_repeat")
        self.purchase_recency = tf.Variable(tables.recency, trainable=False, name="purchase_recency")
        self.popularity = tf.Variable(tables.popularity, trainable=False, name="popularity")
        self.bought = tf.Variable(tables.bought, trainable=False, name="bought")
        self.form = form
        self.neighbours = self.similarities = None
        if form.uses_knn:
            self.neighbours = tf.Variable(tables.neighbours, trainable=False, name="neighbours")
            self.similarities = tf.Variable(tables.similarities * np.float32(form.knn), trainable=False, name="weighted_similarities")
        # The mixture form (scoring/mixture.py): each customer's purchase window and the two trained weights.
        self.mixture = isinstance(form, mixture.Mixture)
        if self.mixture:
            self.windows = tf.Variable(windows.astype(np.int32), trainable=False, name="buy_again_history")
            self.buy_again_weights = tf.Variable(np.asarray([form.bought, form.share], np.float32), trainable=False,
                                                 name="buy_again_weights")
        self.temperature = tf.constant(temperature, tf.float32)
        self.exclude_seen = exclude_seen  # leave out every product the customer bought
        order = np.lexsort((np.arange(len(fallback_shares)), -fallback_shares))[: self.k]
        self.fallback_ids = tf.Variable(product_ids[order].astype(str), trainable=False, name="fallback_ids")
        self.fallback_scores = tf.Variable(fallback_shares[order].astype(np.float32), trainable=False, name="fallback_scores")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="customer_id")])
    def serve(self, customer_id: tf.Tensor) -> dict[str, tf.Tensor]:
        index = self.customer_index.lookup(customer_id)
        known = index >= 0
        safe = tf.maximum(index, 0)
        inputs = {"user_idx": safe, **{name: tf.gather(table, safe) for name, table in self.customer_features.items()}}
        queries = self.query_tower(inputs, training=False)
        logits = tf.matmul(queries, self.item_embeddings, transpose_b=True) / self.temperature
        positions = tf.ragged.range(tf.gather(self.purchase_splits, safe), tf.gather(self.purchase_splits, safe + 1))
        rows = tf.cast(positions.value_rowids(), tf.int32)
        items = tf.gather(self.purchase_items, positions.flat_values)
        if self.mixture:
            scores = mixture.serve_scores(self.form, logits, tf.gather(self.windows, safe), self.buy_again_weights)
        else:
            repeat = tf.gather(self.purchase_repeat, positions.flat_values)
            recency = tf.gather(self.purchase_recency, positions.flat_values)
            has_purchases = tf.gather(self.purchase_splits, safe + 1) > tf.gather(self.purchase_splits, safe)
            scores = blend.serve_scores(self.form, logits, self.popularity, self.bought, has_purchases, rows, items, repeat, recency,
                                        self.neighbours, self.similarities)
        if self.exclude_seen:
            bought = tf.stack([rows, items], axis=1)
            scores = tf.tensor_scatter_nd_update(scores, bought, tf.fill(tf.shape(bought)[:1], float("-inf")))
        top_scores, top_indices = tf.math.top_k(scores, k=self.k)
        rows = tf.shape(customer_id)[0]
        fallback_ids = tf.tile(self.fallback_ids[None, :], [rows, 1])
        fallback_scores = tf.tile(self.fallback_scores[None, :], [rows, 1])
        return {
            "product_ids": tf.where(known[:, None], tf.gather(self.product_ids, top_indices), fallback_ids),
            "scores": tf.where(known[:, None], top_scores, fallback_scores),
            "known_customer": known,
        }


def export(
    serving_dir: str,
    query_tower: keras.Model,
    customer_ids: np.ndarray,
    customer_inputs: dict[str, np.ndarray],
    items: pd.DataFrame,
    item_embeddings: np.ndarray,
    fallback_shares: np.ndarray,
    k: int = SERVING_TOP_K,
    *,
    tables: ServingTables,
    form: Form,
    temperature: float,
    exclude_seen: bool = False,
    windows: np.ndarray | None = None,
) -> None:
    """Write the retrieval SavedModel with one `serving_default` signature, and what it was built
    from. `exclude_seen` leaves out the products a customer bought; `windows` (each customer's
    purchase window) serve the mixture form."""
    module = RetrievalModule(query_tower, customer_ids, customer_inputs, items["item_id"].to_numpy(str), item_embeddings,
                             fallback_shares, k, tables, form, temperature, exclude_seen, windows)
    tf.saved_model.save(module, serving_dir, signatures={SIGNATURE: module.serve})
    info = {"top_k": module.k, "customers": len(customer_ids), "products": len(items), "dimension": int(item_embeddings.shape[1]),
            "score_form": form.as_dict(), "exclude_seen": exclude_seen}
    (Path(serving_dir) / INFO_FILE).write_text(json.dumps(info, indent=1))


def write_product_embeddings(path: str, items: pd.DataFrame, item_embeddings: np.ndarray) -> None:
    """Parquet, one row per product: product_id and its candidate-tower vector (for any ANN index)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    vectors = pa.FixedSizeListArray.from_arrays(pa.array(item_embeddings.astype(np.float32).ravel()), item_embeddings.shape[1])
    pq.write_table(pa.table({"product_id": pa.array(items["item_id"].to_numpy(str)), "embedding": vectors}), path)


@dataclass(frozen=True)
class Recommendations:
    customer_id: str
    known_customer: bool  # False: the list is the popularity fallback
    product_ids: list[str]
    scores: list[float]


class RetrievalModelError(UserError, ValueError):
    """The folder is not a retrieval model this package exported."""


def load(serving_dir: str):
    """The `serving_default` function of an exported retrieval model."""
    if not (Path(serving_dir) / "saved_model.pb").exists():
        raise RetrievalModelError(f"{serving_dir}: no saved_model.pb; give the serving_model folder of a train step")
    return tf.saved_model.load(serving_dir).signatures[SIGNATURE]


def recommend(serving_fn, customer_ids: list[str], k: int) -> list[Recommendations]:
    """Top-k for each customer through the exported signature."""
    output = serving_fn(customer_id=tf.constant(customer_ids, dtype=tf.string))
    available = int(output["product_ids"].shape[1])
    if not 1 <= k <= available:
        raise RetrievalModelError(f"k={k}: this model returns between 1 and {available} products")
    ids = output["product_ids"].numpy()[:, :k]
    scores = output["scores"].numpy()[:, :k]
    known = output["known_customer"].numpy()
    return [
        Recommendations(customer, bool(known[row]), [value.decode() for value in ids[row]], [float(v) for v in scores[row]])
        for row, customer in enumerate(customer_ids)
    ]
