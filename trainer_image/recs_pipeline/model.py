"""The two-tower retrieval model: customer (query) tower × product (candidate) tower on TFRS."""

from __future__ import annotations

from recs_pipeline.config import TrainConfig
from recs_pipeline.gradient_stats import GradientStatistics
from recs_pipeline.tf_runtime import keras, tf, tfrs


class MaskedMeanPooling(keras.layers.Layer):
    """Mean of the embeddings of the non-padding entries (index 0 pads); zeros for an empty history."""

    def call(self, embedded: tf.Tensor, indices: tf.Tensor) -> tf.Tensor:
        mask = tf.cast(indices > 0, embedded.dtype)[:, :, None]
        return tf.reduce_sum(embedded * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)


def build_tower(
    name: str,
    id_feature: str,
    num_ids: int,
    features: dict[str, int],
    config: TrainConfig,
    history_items: int = 0,
) -> keras.Model:
    """A functional tower: id embedding + one small embedding per categorical feature (+ for the
    customer tower, the mean embedding of its recent products when `history_items` is the catalog
    size), projected to the shared embedding size. Inputs are integer indices made by data prep (no
    string lookups in the train step). Functional, so it saves and loads as a standalone SavedModel."""
    regularizer = keras.regularizers.l2(config.l2_regularization) if config.l2_regularization else None
    inputs = {id_feature: keras.Input(shape=(), dtype=tf.int32, name=id_feature)}
    embedded = [
        keras.layers.Embedding(num_ids, config.embedding_dim, embeddings_regularizer=regularizer, name=f"{id_feature}_embedding")(
            inputs[id_feature]
        )
    ]
    for feature, vocabulary_size in features.items():
        key = f"{feature}_idx"
        inputs[key] = keras.Input(shape=(), dtype=tf.int32, name=key)
        embedded.append(keras.layers.Embedding(vocabulary_size, config.feature_embedding_dim, name=f"{feature}_embedding")(inputs[key]))
    if history_items and config.history_length:
        inputs["history"] = keras.Input(shape=(config.history_length,), dtype=tf.int32, name="history")
        products = keras.layers.Embedding(history_items + 1, config.embedding_dim, embeddings_regularizer=regularizer, name="history_embedding")
        embedded.append(MaskedMeanPooling(name="history_pooling")(products(inputs["history"]), inputs["history"]))
    joined = keras.layers.Concatenate(name="features")(embedded) if len(embedded) > 1 else embedded[0]
    output = keras.layers.Dense(config.embedding_dim, kernel_regularizer=regularizer, name="projection")(joined)
    return keras.Model(inputs=inputs, outputs=output, name=name)


class TwoTowerModel(tfrs.Model):
    """In-batch softmax retrieval; the train step also feeds the on-device gradient statistics."""

    def __init__(self, query_tower: keras.Model, candidate_tower: keras.Model, config: TrainConfig, collect_gradients: bool = True):
        super().__init__()
        self.query_tower = query_tower
        self.candidate_tower = candidate_tower
        # Per-example losses, averaged here over the global batch (TFRS defaults to a sum): losses
        # comparable across batch sizes, and correct under a distribution strategy.
        self.task = tfrs.tasks.Retrieval(
            loss=keras.losses.CategoricalCrossentropy(from_logits=True, reduction="none"),
            temperature=config.temperature,
            remove_accidental_hits=config.remove_accidental_hits,
        )
        self.gradient_statistics = GradientStatistics() if collect_gradients else None
        # Mean trackers, so epoch logs are epoch averages (a raw tensor would be the last batch's).
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.regularization_tracker = keras.metrics.Mean(name="regularization_loss")
        self.total_tracker = keras.metrics.Mean(name="total_loss")

    def compute_loss(self, features: dict, training: bool = False) -> tf.Tensor:
        """Per-example in-batch softmax losses of this replica's share of the batch."""
        query = self.query_tower({k: features[k] for k in self.query_tower.input})
        candidate = self.candidate_tower({k: features[k] for k in self.candidate_tower.input})
        return self.task(
            query,
            candidate,
            candidate_ids=features["item_idx"],
            candidate_sampling_probability=features.get("item_probability"),
            compute_metrics=False,
        )

    def train_step(self, features: dict) -> dict:
        query_variables = self.query_tower.trainable_variables
        candidate_variables = self.candidate_tower.trainable_variables
        with tf.GradientTape() as tape:
            per_example = self.compute_loss(features, training=True)
            regularization_loss = tf.add_n(self.losses) if self.losses else tf.constant(0.0)
            # Divided by the global batch (and the regularisation by the replica count): the
            # optimizer sums the replicas' gradients, so the total is the gradient of the mean.
            scaled = tf.nn.compute_average_loss(per_example) + tf.nn.scale_regularization_loss(regularization_loss)
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


def make_optimizer(config: TrainConfig) -> keras.optimizers.Optimizer:
    """The optimizer named in the config (Adagrad is what the TFRS tutorials use)."""
    optimizers = {
        "adagrad": keras.optimizers.Adagrad,
        "adam": keras.optimizers.Adam,
        "sgd": keras.optimizers.SGD,
    }
    return optimizers[config.optimizer](learning_rate=config.learning_rate)
