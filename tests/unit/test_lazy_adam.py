"""Lazy Adam: an embedding's rows move only when a batch uses them, and then as Adam moves them."""

import numpy as np
from recs_pipeline.core.tf_runtime import tf
from recs_pipeline.model.lazy_adam import LazyAdam


def adam_row(gradients: list[np.ndarray], rate: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7):
    """The total move of one row that Adam makes over these gradients, one per step (Keras's formula)."""
    m = v = np.zeros_like(gradients[0])
    moved = np.zeros_like(gradients[0])
    for step, gradient in enumerate(gradients, start=1):
        m = beta_1 * m + (1 - beta_1) * gradient
        v = beta_2 * v + (1 - beta_2) * gradient**2
        moved -= rate * np.sqrt(1 - beta_2**step) / (1 - beta_1**step) * m / (np.sqrt(v) + epsilon)
    return moved


def test_rows_a_batch_does_not_use_stay_and_used_rows_move_as_adam_moves_them():
    table = tf.Variable(np.zeros((5, 3), np.float32))
    dense = tf.Variable(np.zeros(3, np.float32))
    optimizer = LazyAdam(learning_rate=0.1)
    steps = [  # (rows used, their gradients, the dense weight's gradient)
        ([0, 2], np.array([[1.0, -2.0, 0.5], [0.3, 0.3, -1.0]]), np.array([1.0, 0.0, -1.0])),
        ([2, 2, 4], np.array([[0.5, 0.5, 0.5], [0.5, -1.0, 0.0], [2.0, 1.0, -3.0]]), np.array([0.5, 0.5, 0.5])),
    ]

    @tf.function
    def apply(rows, values, dense_gradient):
        sparse = tf.IndexedSlices(values, rows, tf.constant([5, 3]))
        optimizer.apply_gradients([(sparse, table), (dense_gradient, dense)])

    before_second = None
    for number, (rows, values, dense_gradient) in enumerate(steps):
        apply(tf.constant(rows), tf.constant(values, tf.float32), tf.constant(dense_gradient, tf.float32))
        if number == 0:
            before_second = table.numpy().copy()
    after = table.numpy()
    np.testing.assert_array_equal(after[0], before_second[0])  # row 0: used in step 1 only, so it did not move in step 2
    np.testing.assert_array_equal(after[[1, 3]], 0.0)  # never used
    # Row 2 was used in both steps (twice in step 2: summed), row 4 in the second only: Adam's moves on their own gradients.
    np.testing.assert_allclose(after[2], adam_row([values_of(steps[0], 2), values_of(steps[1], 2)]), rtol=1e-4)
    # A row's step count is the optimizer's: row 4's first use is at step 2, so its bias correction is step 2's.
    m, v = 0.1 * values_of(steps[1], 4), 0.001 * values_of(steps[1], 4) ** 2
    np.testing.assert_allclose(after[4], -0.1 * np.sqrt(1 - 0.999**2) / (1 - 0.9**2) * m / (np.sqrt(v) + 1e-7), rtol=1e-4)
    np.testing.assert_allclose(dense.numpy(), adam_row([steps[0][2], steps[1][2]]), rtol=1e-4)  # dense weights: Keras's Adam


def values_of(step: tuple, row: int) -> np.ndarray:
    rows, values, _ = step
    return sum((values[i] for i, used in enumerate(rows) if used == row), np.zeros(3))
