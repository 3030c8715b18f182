"""The two-tower retrieval model: customer (query) tower × product (candidate) tower on TFRS."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recs_pipeline.core.config import TrainConfig
from recs_pipeline.core.tf_runtime import keras, tf, tfrs
from recs_pipeline.data.prepared_data import TOKENS_SUFFIX
from recs_pipeline.data.text_features import TOKENS
from recs_pipeline.model import buy_again
from recs_pipeline.model.fused_adam import FusedAdam
from recs_pipeline.model.gradient_stats import GradientStatistics
from recs_pipeline.model.lazy_adam import LazyAdam
from recs_pipeline.scoring import mixture


class PooledProducts(keras.layers.Layer):
    """The mean of the product tower's own embeddings of a customer's recent products, scaled by a
    learned weight and added to the customer embedding.

    Because the pooled vectors live in the product tower's space, a product's score gets a term
    from its similarity to each recent purchase, including itself, inside the dot product an ANN
    index computes. Off by default: the buy-again mixture (scoring/mixture.py) models repeats exactly and
    measured better (README, "Measured").
    `item_features` holds each product's feature indices (row i is item i), so the history is
    just item indices. Entries are item index + 1; 0 pads.
    """

    def __init__(self, product_tower: keras.Model, item_features: dict[str, np.ndarray], **kwargs):
        super().__init__(**kwargs)
        self.product_tower = product_tower
        self.feature_tables = {name: tf.constant(values, dtype=tf.int32) for name, values in item_features.items()}

    def build(self, input_shape) -> None:
        self.history_weight = self.add_weight(name="history_weight", shape=(), initializer="ones")
        super().build(input_shape)

    def call(self, history: tf.Tensor) -> tf.Tensor:
        flat = tf.reshape(history, [-1])
        items = tf.maximum(flat - 1, 0)
        inputs = {"item_idx": items, **{name: tf.gather(table, items) for name, table in self.feature_tables.items()}}
        embedded = tf.reshape(self.product_tower(inputs), [tf.shape(history)[0], tf.shape(history)[1], -1])
        mask = tf.cast(history > 0, embedded.dtype)[:, :, None]
        mean = tf.reduce_sum(embedded * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
        return self.history_weight * mean


@keras.saving.register_keras_serializable(package="recs_pipeline")
class RowL2Embedding(keras.layers.Embedding):
    """An embedding whose L2 penalty covers the rows a training batch looks up, each once.

    Keras's `embeddings_regularizer` penalises the whole table, which makes the table's gradient
    dense: every step then updates every row of the catalog (on Ta-Feng the train step took 1.7x
    as long with Adam, 2.3x with lazy Adam; benchmarks/optimizer_step.py). Here the gradient stays
    sparse, and a row is held back when it is used. A training-time term (the loss is added when
    called with training=True), so building the tower, validation and serving compute nothing for it.
    """

    def __init__(self, input_dim: int, output_dim: int, row_l2: float = 0.0, **kwargs):
        super().__init__(input_dim, output_dim, **kwargs)
        self.row_l2 = row_l2

    def call(self, inputs: tf.Tensor, training: bool | None = None) -> tf.Tensor:
        rows = super().call(inputs)
        if self.row_l2 and training:
            # Each lookup weighted by 1 / how often its row is looked up in this batch: each row once,
            # through the lookup itself, so the gradient keeps its shape (one slice per lookup).
            _, position, repeats = tf.unique_with_counts(tf.reshape(inputs, [-1]))
            once = 1.0 / tf.cast(tf.gather(repeats, position), rows.dtype)
            squares = tf.reduce_sum(tf.reshape(tf.square(rows), [tf.size(inputs), -1]), axis=1)
            self.add_loss(self.row_l2 * tf.reduce_sum(squares * once))
        return rows

    def get_config(self) -> dict:
        return {**super().get_config(), "row_l2": self.row_l2}


def build_tower(
    name: str,
    id_feature: str,
    known_ids: int,
    features: dict[str, int],
    config: TrainConfig,
    history_of: PooledProducts | None = None,
    texts: dict[str, int] | None = None,
) -> keras.Model:
    """A functional tower: id embedding + one small embedding per feature, projected to the shared
    embedding size (+ for the customer tower, the pooled product-tower embeddings of its recent
    products, `history_of`; and per text feature in `texts`, the mean embedding of its words).
    Inputs are integer indices made by data prep (no string lookups in the train step). Ids from
    `known_ids` on (first seen after training) share one more embedding row, the one id dropout
    trains (TwoTowerModel), so a new customer or product is embedded by its features. Functional,
    so it saves and loads as a standalone SavedModel."""
    regularizer = keras.regularizers.l2(config.l2_regularization) if config.l2_regularization else None
    inputs = {id_feature: keras.Input(shape=(), dtype=tf.int32, name=id_feature)}
    embedded = [
        RowL2Embedding(known_ids + 1, config.embedding_dim, row_l2=config.l2_regularization,
                       name=f"{id_feature}_embedding")(tf.minimum(inputs[id_feature], known_ids))
    ]
    for feature, vocabulary_size in features.items():
        key = f"{feature}_idx"
        inputs[key] = keras.Input(shape=(), dtype=tf.int32, name=key)
        embedded.append(keras.layers.Embedding(vocabulary_size, config.feature_embedding_dim, name=f"{feature}_embedding")(inputs[key]))
    for feature, vocabulary_size in (texts or {}).items():
        key = feature + TOKENS_SUFFIX
        inputs[key] = keras.Input(shape=(TOKENS,), dtype=tf.int32, name=key)
        words = keras.layers.Embedding(vocabulary_size, config.feature_embedding_dim, name=f"{feature}_words")(inputs[key])
        present = tf.cast(inputs[key] > 0, tf.float32)[:, :, None]  # padding adds nothing; a text with no known word embeds as 0
        embedded.append(tf.reduce_sum(words * present, axis=1) / tf.maximum(tf.reduce_sum(present, axis=1), 1.0))
    joined = keras.layers.Concatenate(name="features")(embedded) if len(embedded) > 1 else embedded[0]
    output = keras.layers.Dense(config.embedding_dim, kernel_regularizer=regularizer, name="projection")(joined)
    if history_of is not None:
        inputs["history"] = keras.Input(shape=(config.history_length,), dtype=tf.int32, name="history")
        output = keras.layers.Add(name="with_history")([output, history_of(inputs["history"])])
    return keras.Model(inputs=inputs, outputs=output, name=name)


def in_batch_losses(query: tf.Tensor, candidate: tf.Tensor, candidate_ids: tf.Tensor, sampling_probability: tf.Tensor | None,
                    temperature: float, remove_accidental_hits: bool,
                    adjust_logits: Callable[[tf.Tensor], tf.Tensor] | None = None) -> tf.Tensor:
    """Per-example in-batch softmax losses, the steps of TFRS's Retrieval task (its layers for the
    logQ correction and accidental hits); `adjust_logits` (the buy-again mixture) rewrites the
    batch's logits before the correction. Per example, so the caller averages over the global
    batch (TFRS sums): losses comparable across batch sizes, and correct under a distribution
    strategy."""
    scores = tf.linalg.matmul(query, candidate, transpose_b=True)
    labels = tf.eye(tf.shape(scores)[0], tf.shape(scores)[1])
    scores = scores / temperature
    if adjust_logits is not None:
        scores = adjust_logits(scores)
    if sampling_probability is not None:
        scores = tfrs.layers.loss.SamplingProbablityCorrection()(scores, sampling_probability)
    if remove_accidental_hits:
        scores = tfrs.layers.loss.RemoveAccidentalHits()(labels, scores, candidate_ids)
    return keras.losses.categorical_crossentropy(labels, scores, from_logits=True)


class TwoTowerModel(tfrs.Model):
    """In-batch softmax retrieval; the train step also feeds the on-device gradient statistics."""

    def __init__(self, query_tower: keras.Model, candidate_tower: keras.Model, config: TrainConfig, num_items: int,
                 collect_gradients: bool = True):
        super().__init__()
        self.query_tower = query_tower
        self.candidate_tower = candidate_tower
        self.temperature = config.temperature
        self.remove_accidental_hits = config.remove_accidental_hits
        self.id_dropout = config.id_dropout
        self.gradient_statistics = GradientStatistics() if collect_gradients else None
        self.num_items = num_items  # the whole catalog's, new products included: purchase windows index it
        self.buy_again = None
        if config.buy_again and config.history_length:
            self.buy_again = buy_again.BuyAgain(name="buy_again")
            self.buy_again.build(None)  # now, inside the strategy scope the model is built in
        # Mean trackers, so epoch logs are epoch averages (a raw tensor would be the last batch's).
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.regularization_tracker = keras.metrics.Mean(name="regularization_loss")
        self.total_tracker = keras.metrics.Mean(name="total_loss")

    def tower_variables(self) -> tuple[list[tf.Variable], list[tf.Variable]]:
        """Each trainable variable once: the customer side's own (tower and buy-again weights), then
        the product tower's (which the customer tower also uses when it pools the history), so
        nothing is updated twice."""
        candidate = self.candidate_tower.trainable_variables
        shared = {v.ref() for v in candidate}
        query = [v for v in self.query_tower.trainable_variables if v.ref() not in shared]
        if self.buy_again is not None:  # a customer-side term: it reads the customer's history
            query += self.buy_again.trainable_variables
        return query, candidate

    def compute_loss(self, features: dict, training: bool = False) -> tf.Tensor:
        """Per-example in-batch softmax losses of this replica's share of the batch. In training,
        id dropout gives a share of the rows the new-id embedding instead of their own, so that row
        and the features learn to stand for an id the towers have not seen (a new customer or product)."""
        query_inputs = {k: features[k] for k in self.query_tower.input}
        candidate_inputs = {k: features[k] for k in self.candidate_tower.input}
        if training and self.id_dropout:
            query_inputs["user_idx"] = self._drop_ids(query_inputs["user_idx"], new_id_index(self.query_tower, "user_idx"))
            candidate_inputs["item_idx"] = self._drop_ids(candidate_inputs["item_idx"], new_id_index(self.candidate_tower, "item_idx"))
        query = self.query_tower(query_inputs, training=training)
        candidate = self.candidate_tower(candidate_inputs, training=training)
        if self.buy_again is not None:
            history = features["history"]
            counts = mixture.batch_counts(history, features["item_idx"], self.num_items)
            totals = mixture.window_sizes(history)
            return in_batch_losses(query, candidate, features["item_idx"], features.get("item_probability"), self.temperature,
                                   self.remove_accidental_hits, lambda logits: self.buy_again(logits, counts, totals))
        return in_batch_losses(query, candidate, features["item_idx"], features.get("item_probability"), self.temperature,
                               self.remove_accidental_hits)

    def _row_l2_layers(self) -> list[RowL2Embedding]:
        return [layer for tower in (self.query_tower, self.candidate_tower) for layer in tower.layers if isinstance(layer, RowL2Embedding)]

    def _drop_ids(self, ids: tf.Tensor, new_id: int) -> tf.Tensor:
        """Each id replaced by the new-id row with probability id_dropout."""
        return tf.where(tf.random.uniform(tf.shape(ids)) < self.id_dropout, tf.cast(new_id, ids.dtype), ids)

    def train_step(self, features: dict) -> dict:
        query_variables, candidate_variables = self.tower_variables()
        with tf.GradientTape() as tape:
            per_example = self.compute_loss(features, training=True)
            regularization_loss = tf.add_n(self.losses) if self.losses else tf.constant(0.0)
            rows = [loss for layer in self._row_l2_layers() for loss in layer.losses]
            own_rows = tf.add_n(rows) if rows else tf.constant(0.0)
            # Divided by the global batch, and the weights' penalty by the replica count: the
            # optimizer sums the replicas' gradients, so the total is the gradient of the mean. The
            # id rows' penalty covers the rows this replica's share used, so it is summed, not divided:
            # a row in several replicas' shares (a popular product) is penalised once by each.
            scaled = (tf.nn.compute_average_loss(per_example) + tf.nn.scale_regularization_loss(regularization_loss - own_rows)
                      + own_rows)
        gradients = tape.gradient(scaled, query_variables + candidate_variables)
        self.optimizer.apply_gradients(zip(gradients, query_variables + candidate_variables))
        if self.gradient_statistics is not None:
            split = len(query_variables)
            self.gradient_statistics.update(gradients[:split], gradients[split:])
        return self._track(tf.reduce_mean(per_example), regularization_loss)

    def test_step(self, features: dict) -> dict:
        loss = tf.reduce_mean(self.compute_loss(features, training=False))
        regularization_loss = tf.add_n(self.losses) if self.losses else tf.constant(0.0)
        return self._track(loss, regularization_loss)

    def _track(self, loss: tf.Tensor, regularization_loss: tf.Tensor) -> dict:
        self.loss_tracker.update_state(loss)
        self.regularization_tracker.update_state(regularization_loss)
        self.total_tracker.update_state(loss + regularization_loss)
        return {tracker.name: tracker.result() for tracker in (self.loss_tracker, self.regularization_tracker, self.total_tracker)}


def new_id_index(tower: keras.Model, id_feature: str) -> int:
    """The id embedding row every id first seen after training shares (the ids from it on map to it)."""
    return tower.get_layer(f"{id_feature}_embedding").input_dim - 1


def make_optimizer(config: TrainConfig) -> keras.optimizers.Optimizer:
    """The optimizer named in the config (Adagrad is what the TFRS tutorials use)."""
    optimizers = {
        "adagrad": keras.optimizers.Adagrad,
        "adam": FusedAdam,
        "lazy_adam": LazyAdam,
        "sgd": keras.optimizers.SGD,
    }
    return optimizers[config.optimizer](learning_rate=config.learning_rate)
