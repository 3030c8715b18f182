"""The buy-again term as a trainable layer: the mixture's two weights (scoring/mixture.py holds
the mixture itself, in NumPy and TensorFlow), trained jointly with the towers on the same in-batch
softmax (model.towers.in_batch_losses mixes them into the batch's logits).

A mixture, not an additive bonus: among products bought before, the share alone orders them, as
the repeat probability says, rather than the share times the towers' score. The mixture is the
training objective (and the evaluate step's test loss): it leaves the towers to learn what the
customer buys new. Ranking by it is one of the score forms the train step chooses between on
validation (model.score_fit); the evaluate step and the served model then score with it.
"""

from __future__ import annotations

from recs_pipeline.core.tf_runtime import keras, tf
from recs_pipeline.scoring.mixture import mix


class BuyAgain(keras.layers.Layer):
    """The two weights; `call` mixes the repeat term into a batch's or the catalog's logits."""

    def build(self, input_shape) -> None:
        self.bought = self.add_weight(name="bought", shape=(), initializer="zeros")
        # 1: the repeat probability proportional to the share, as in the mixture's own form.
        self.share = self.add_weight(name="share", shape=(), initializer="ones")
        super().build(input_shape)

    def call(self, logits: tf.Tensor, counts: tf.Tensor, totals: tf.Tensor) -> tf.Tensor:
        return mix(logits, counts, totals, self.bought, self.share)
