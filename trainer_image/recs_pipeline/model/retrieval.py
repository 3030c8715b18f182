"""The serving export: customer id in, top-K product ids and scores out, in one SavedModel.

The query tower and the whole catalog's embeddings are saved together, so a TF Serving container
(Vertex AI prediction, or `recommend` here) answers with no other file. Scoring is exact: the
model's score in the form the train step chose (model.score_fit), by that form's TensorFlow version
(scoring/blend.py, scoring/mixture.py, each beside its NumPy version that evaluate ranks by): the
trained buy-again mixture over the customer's purchase window, or the blend of the customer's
recency-weighted purchases, popularity, the towers' softmax and item-kNN with the fitted weights;
for every product, then top-K. Customer
features and purchases are looked up from the data by id, so the request carries only the id; the
recency weights are those of the day the model was exported. An id that is not in the data gets
the most popular products, and `known_customer` says so.

A second signature, `new_customer`, scores a customer who is not in the data from their feature
values (one string input per customer feature the towers read; model.feature_values maps them to
indices as data prep did, an unseen value to 0): the towers embed them with the new-id row and an
empty purchase window, and the form scores them as a customer with no purchase.

ScaNN is not offered: its TensorFlow op is built for one TensorFlow minor version (scann 1.4.2
needs tensorflow 2.20) and fails to load on the 2.21 this package pins (README, "Serving the model").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recs_pipeline.core.errors import UserError
from recs_pipeline.core.tf_runtime import keras, tf
from recs_pipeline.data.prepared_data import TOKENS_SUFFIX
from recs_pipeline.model import feature_values
from recs_pipeline.model.feature_values import Encoding
from recs_pipeline.model.towers import new_id_index
from recs_pipeline.scoring import blend, mixture
from recs_pipeline.scoring.blend import ServingTables
from recs_pipeline.scoring.forms import Form

SERVING_TOP_K = 100
SIGNATURE = "serving_default"
NEW_CUSTOMER_SIGNATURE = "new_customer"
EMBEDDINGS_FILE = "product_embeddings.parquet"
INFO_FILE = "retrieval_info.json"
NEW_CUSTOMER_INPUTS = "new_customer_inputs"  # retrieval_info.json: customer feature -> its signature input and kind


class RetrievalModule(tf.Module):
    """Holds the query tower, the customer table and the catalog; `serve` is the signature, and
    `new_customer` where every customer feature the towers read can be encoded (`customer_encodings`).
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
        customer_encodings: dict[str, Encoding] | None = None,
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
        self.new_customer_features = self._new_customer_lookups(customer_encodings or {})
        if self.new_customer_features is not None:
            self.new_id = tf.constant(new_id_index(query_tower, "user_idx"), tf.int32)
            specs = [tf.TensorSpec([None], tf.string, name=feature_values.input_name(name)) for name in self.new_customer_features]
            self.new_customer = tf.function(self._new_customer, input_signature=specs)

    def _new_customer_lookups(self, encodings: dict[str, Encoding]) -> dict[str, feature_values.Lookup] | None:
        """A lookup per customer feature the towers read, by feature name; None (no `new_customer`
        signature) when the towers read none or one cannot be encoded (a number without its edges, or
        a text: its words are not tokenised in the graph)."""
        names = feature_values.tower_features(list(self.query_tower.input), "user_idx")
        if any(name.endswith(TOKENS_SUFFIX) for name in self.query_tower.input):
            return None
        if not names or any(name not in encodings or not encodings[name].usable for name in names):
            return None
        return {name: feature_values.Lookup(encodings[name], name) for name in names}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="customer_id")])
    def serve(self, customer_id: tf.Tensor) -> dict[str, tf.Tensor]:
        index = self.customer_index.lookup(customer_id)
        known = index >= 0
        safe = tf.maximum(index, 0)
        inputs = {"user_idx": safe, **{name: tf.gather(table, safe) for name, table in self.customer_features.items()}}
        positions = tf.ragged.range(tf.gather(self.purchase_splits, safe), tf.gather(self.purchase_splits, safe + 1))
        purchases = _Purchases(
            rows=tf.cast(positions.value_rowids(), tf.int32),
            items=tf.gather(self.purchase_items, positions.flat_values),
            repeat=tf.gather(self.purchase_repeat, positions.flat_values),
            recency=tf.gather(self.purchase_recency, positions.flat_values),
            has_purchases=tf.gather(self.purchase_splits, safe + 1) > tf.gather(self.purchase_splits, safe),
            windows=tf.gather(self.windows, safe) if self.mixture else None,
        )
        top_scores, top_indices = self._top_k(inputs, purchases)
        rows = tf.shape(customer_id)[0]
        fallback_ids = tf.tile(self.fallback_ids[None, :], [rows, 1])
        fallback_scores = tf.tile(self.fallback_scores[None, :], [rows, 1])
        return {
            "product_ids": tf.where(known[:, None], tf.gather(self.product_ids, top_indices), fallback_ids),
            "scores": tf.where(known[:, None], top_scores, fallback_scores),
            "known_customer": known,
        }

    def _new_customer(self, *values: tf.Tensor) -> dict[str, tf.Tensor]:
        """Customers not in the data, from their feature values (one string tensor per feature, in
        `new_customer_features`' order): the new-id row, an empty purchase window, no purchase."""
        rows = tf.shape(values[0])[0]
        inputs = {"user_idx": tf.fill([rows], self.new_id)}
        for (name, lookup), texts in zip(self.new_customer_features.items(), values):
            inputs[f"{name}_idx"] = lookup(texts)
        if "history" in self.customer_features:
            inputs["history"] = tf.zeros([rows, self.customer_features["history"].shape[1]], tf.int32)
        none_int, none_float = tf.zeros([0], tf.int32), tf.zeros([0], tf.float32)
        windows = tf.zeros([rows, self.windows.shape[1]], tf.int32) if self.mixture else None
        purchases = _Purchases(none_int, none_int, none_float, none_float, tf.zeros([rows], tf.bool), windows)
        top_scores, top_indices = self._top_k(inputs, purchases)
        return {"product_ids": tf.gather(self.product_ids, top_indices), "scores": top_scores}

    def _top_k(self, inputs: dict[str, tf.Tensor], purchases: _Purchases) -> tuple[tf.Tensor, tf.Tensor]:
        """The form's scores of the whole catalog for these tower inputs and purchases, then top-K."""
        queries = self.query_tower(inputs, training=False)
        logits = tf.matmul(queries, self.item_embeddings, transpose_b=True) / self.temperature
        rows, items = purchases.rows, purchases.items
        if self.mixture:
            scores = mixture.serve_scores(self.form, logits, purchases.windows, self.buy_again_weights)
        else:
            scores = blend.serve_scores(self.form, logits, self.popularity, self.bought, purchases.has_purchases, rows, items,
                                        purchases.repeat, purchases.recency, self.neighbours, self.similarities)
        if self.exclude_seen:
            bought = tf.stack([rows, items], axis=1)
            scores = tf.tensor_scatter_nd_update(scores, bought, tf.fill(tf.shape(bought)[:1], float("-inf")))
        return tf.math.top_k(scores, k=self.k)


@dataclass(frozen=True)
class _Purchases:
    """A batch of customers' purchases as the forms read them: (row, product) pairs with their repeat
    and kNN weights, who has any, and the purchase windows (the mixture's; None for the blend)."""

    rows: tf.Tensor
    items: tf.Tensor
    repeat: tf.Tensor
    recency: tf.Tensor
    has_purchases: tf.Tensor
    windows: tf.Tensor | None


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
    customer_encodings: dict[str, Encoding] | None = None,
    added_products: int = 0,
) -> None:
    """Write the retrieval SavedModel with its `serving_default` signature (and `new_customer`, where
    `customer_encodings` can encode every customer feature the towers read), and what it was built
    from. `exclude_seen` leaves out the products a customer bought; `windows` (each customer's
    purchase window) serve the mixture form; `added_products`: the catalog's last rows, added after training."""
    module = RetrievalModule(query_tower, customer_ids, customer_inputs, items["item_id"].to_numpy(str), item_embeddings,
                             fallback_shares, k, tables, form, temperature, exclude_seen, windows, customer_encodings)
    signatures = {SIGNATURE: module.serve}
    new_customer_inputs = {}
    if module.new_customer_features is not None:
        signatures[NEW_CUSTOMER_SIGNATURE] = module.new_customer
        new_customer_inputs = {name: {"input": feature_values.input_name(name), "kind": customer_encodings[name].as_dict()["kind"]}
                               for name in module.new_customer_features}
    tf.saved_model.save(module, serving_dir, signatures=signatures)
    info = {"top_k": module.k, "customers": len(customer_ids), "products": len(items), "products_added_after_training": added_products,
            "dimension": int(item_embeddings.shape[1]), "score_form": form.as_dict(), "exclude_seen": exclude_seen,
            NEW_CUSTOMER_INPUTS: new_customer_inputs}
    (Path(serving_dir) / INFO_FILE).write_text(json.dumps(info, indent=1))


def write_product_embeddings(path: str, items: pd.DataFrame, item_embeddings: np.ndarray) -> None:
    """Parquet, one row per product: product_id and its candidate-tower vector (for any ANN index)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    vectors = pa.FixedSizeListArray.from_arrays(pa.array(item_embeddings.astype(np.float32).ravel()), item_embeddings.shape[1])
    pq.write_table(pa.table({"product_id": pa.array(items["item_id"].to_numpy(str)), "embedding": vectors}), path)


def _first_k(output: dict[str, tf.Tensor], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first k product ids and scores of a signature's answer; a k beyond its list stops."""
    available = int(output["product_ids"].shape[1])
    if not 1 <= k <= available:
        raise RetrievalModelError(f"k={k}: this model returns between 1 and {available} products")
    return output["product_ids"].numpy()[:, :k], output["scores"].numpy()[:, :k]


@dataclass(frozen=True)
class Recommendations:
    """A customer's list: the products the model can rank (score above -inf), best first, at most k."""

    customer_id: str
    known_customer: bool  # False: the list is the popularity fallback, or the new customer's (from_features)
    product_ids: list[str]
    scores: list[float]
    from_features: bool = False  # a new customer scored from their feature values (customer_id names them)

    @classmethod
    def ranked(cls, customer_id: str, known_customer: bool, ids: np.ndarray, scores: np.ndarray,
               from_features: bool = False) -> Recommendations:
        """From a row of the signature's answer, without the products scored -inf (nobody bought them and the
        score form gives them no towers weight): they are not recommendations, as evaluate never shows them."""
        ranked = scores > -np.inf
        return cls(customer_id, known_customer, [value.decode() for value in ids[ranked]], [float(v) for v in scores[ranked]],
                   from_features)


class RetrievalModelError(UserError, ValueError):
    """The folder is not a retrieval model this package exported."""


def load(serving_dir: str, signature: str = SIGNATURE):
    """A signature's function of an exported retrieval model (`serving_default`: by customer id)."""
    if not (Path(serving_dir) / "saved_model.pb").exists():
        raise RetrievalModelError(f"{serving_dir}: no saved_model.pb; give the serving_model folder of a train step")
    signatures = tf.saved_model.load(serving_dir).signatures
    if signature not in signatures:
        raise RetrievalModelError(f"{serving_dir}: no {signature!r} signature (this model has {', '.join(signatures)}); a model serves "
                                  "new customers when its towers read customer features (categories or numbers, not texts), "
                                  "exported by this version or later")
    return signatures[signature]


@dataclass(frozen=True)
class NewCustomerModel:
    """The `new_customer` function and, per customer feature it reads, its input name and kind."""

    function: Any
    inputs: dict[str, dict[str, str]]


def load_new_customer(serving_dir: str) -> NewCustomerModel:
    function = load(serving_dir, NEW_CUSTOMER_SIGNATURE)
    return NewCustomerModel(function, json.loads((Path(serving_dir) / INFO_FILE).read_text())[NEW_CUSTOMER_INPUTS])


def recommend(serving_fn, customer_ids: list[str], k: int) -> list[Recommendations]:
    """Top-k for each customer through the exported signature."""
    output = serving_fn(customer_id=tf.constant(customer_ids, dtype=tf.string))
    ids, scores = _first_k(output, k)
    known = output["known_customer"].numpy()
    return [Recommendations.ranked(customer, bool(known[row]), ids[row], scores[row]) for row, customer in enumerate(customer_ids)]


def recommend_new(model: NewCustomerModel, customers: list[dict[str, str]], k: int) -> list[Recommendations]:
    """Top-k for each new customer, given as feature name -> value (a feature not given: empty, as
    missing in the data), through the `new_customer` signature. A feature the model does not read,
    or a numeric one that is not a number, stops naming it."""
    for features in customers:
        for name, value in features.items():
            if name not in model.inputs:
                raise RetrievalModelError(f"customer feature {name!r}: the model does not read it; it reads {', '.join(model.inputs)}")
            if model.inputs[name]["kind"] == feature_values.NUMERIC and value.strip() and not _is_number(value):
                raise RetrievalModelError(f"customer feature {name!r}: {value!r} is not a number")
    inputs = {entry["input"]: tf.constant([features.get(name, "") for features in customers], tf.string)
              for name, entry in model.inputs.items()}
    output = model.function(**inputs)
    ids, scores = _first_k(output, k)
    return [Recommendations.ranked(describe_features(features), False, ids[row], scores[row], from_features=True)
            for row, features in enumerate(customers)]


def describe_features(features: dict[str, str]) -> str:
    """A new customer as the command line names them: name=value,name=value."""
    return ",".join(f"{name}={value}" for name, value in features.items())


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
