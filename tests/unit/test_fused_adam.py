"""The fused Adam moves every weight as Keras's Adam does, for dense and for sparse (embedding) gradients."""

import numpy as np
from recs_pipeline.core.tf_runtime import keras, tf
from recs_pipeline.model.fused_adam import FusedAdam

INITIAL = np.linspace(-1, 1, 24, dtype=np.float32).reshape(8, 3)


def run(optimizer: keras.optimizers.Optimizer, steps: list) -> tuple[np.ndarray, np.ndarray]:
    table = tf.Variable(INITIAL)
    dense = tf.Variable(np.ones(3, np.float32))

    @tf.function
    def apply(rows, values, dense_gradient):
        optimizer.apply_gradients([(tf.IndexedSlices(values, rows, tf.constant([8, 3])), table), (dense_gradient, dense)])

    for rows, values, dense_gradient in steps:
        apply(tf.constant(rows), tf.constant(values, tf.float32), tf.constant(dense_gradient, tf.float32))
    return table.numpy(), dense.numpy()


def test_moves_like_keras_adam_including_rows_a_step_did_not_use():
    rng = np.random.default_rng(3)
    steps = [(rows, rng.normal(size=(len(rows), 3)), rng.normal(size=3)) for rows in ([0, 2], [2, 2, 5], [7], [1, 2, 3, 4])]
    fused_table, fused_dense = run(FusedAdam(learning_rate=0.05), steps)
    keras_table, keras_dense = run(keras.optimizers.Adam(learning_rate=0.05), steps)
    np.testing.assert_allclose(fused_table, keras_table, rtol=1e-5, atol=1e-6)  # row 0 keeps moving after step 1, as in Keras
    np.testing.assert_allclose(fused_dense, keras_dense, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(fused_table[6], INITIAL[6])  # never used: never moved
    assert not np.allclose(fused_table[0], INITIAL[0])
