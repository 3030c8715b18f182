"""Keras's Adam, each variable's update done by TensorFlow's fused Adam kernel.

Keras's Adam writes the update as a dozen tensor operations, each a pass over the whole variable
with its own temporary; for an embedding table that is every row of the catalog at every step
(Adam decays the moments of rows a batch did not use too). TensorFlow's ResourceApplyAdam does the
same arithmetic (Keras's formula: alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t), epsilon added
to sqrt(v)) in one pass; an embedding's sparse gradient is scattered into a dense one first, which
is what Keras's scatter_add into the decayed moments amounts to. Same slots, same checkpoints.
"""

from __future__ import annotations

from recs_pipeline.core.tf_runtime import keras, tf


class FusedAdam(keras.optimizers.Adam):
    """keras.optimizers.Adam, its update one fused kernel per variable (Keras's own update with
    amsgrad or adaptive_epsilon, which the kernel does not compute)."""

    def update_step(self, gradient, variable):
        if self.amsgrad or self.adaptive_epsilon:
            return super().update_step(gradient, variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        key = self._var_key(variable)
        m, v = self._momentums[self._index_dict[key]], self._velocities[self._index_dict[key]]
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.convert_to_tensor(gradient)  # rows summed, untouched rows 0
        return tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=m.handle, v=v.handle, beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(self.learning_rate, dtype), beta1=beta_1, beta2=beta_2, epsilon=tf.cast(self.epsilon, dtype), grad=gradient,
        )
