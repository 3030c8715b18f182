import numpy as np
import pytest
from recs_pipeline.core.tf_runtime import tf
from recs_pipeline.model.gradient_stats import GradientAccumulator, GradientStatistics, symlog_edges


def test_statistics_of_hand_computed_gradients():
    edges = [-10.0, -1.0, 0.0, 1.0, 10.0]
    accumulator = GradientAccumulator("t", edges)
    accumulator.update([tf.constant([[1.0, -2.0]]), None])
    accumulator.update([tf.constant([[3.0, 0.5]])])
    result = accumulator.read_and_reset()
    values = np.array([1.0, -2.0, 3.0, 0.5])
    assert result["mean"] == pytest.approx(values.mean())
    assert result["std"] == pytest.approx(values.std())
    assert (result["min"], result["max"]) == (-2.0, 3.0)
    assert result["norm"] == pytest.approx((np.sqrt(5.0) + np.sqrt(9.25)) / 2)
    assert result["histogram"] == [0, 0, 0, 2]  # the 1-in-17 sample: first value of each tensor, 1 and 3
    again = accumulator.read_and_reset()
    assert again["histogram"] == [0, 0, 0, 0] and np.isnan(again["mean"])


def test_histogram_samples_every_17th_value_of_each_tensor():
    accumulator = GradientAccumulator("t", [-1.0, 0.0, 1.0])
    values = np.where(np.arange(170) % 17 == 0, -0.5, 0.5).astype(np.float32)  # sampled values are negative
    accumulator.update([tf.constant(values), tf.constant(values[:20])])
    result = accumulator.read_and_reset()
    assert result["histogram"] == [10 + 2, 0]
    assert result["mean"] == pytest.approx(np.concatenate([values, values[:20]]).mean())  # moments use every value


def test_embedding_gradients_use_the_touched_rows():
    accumulator = GradientAccumulator("t", [-1.0, 0.0, 1.0])
    sparse = tf.IndexedSlices(values=tf.constant([[0.5, 0.5]]), indices=tf.constant([3]), dense_shape=tf.constant([100, 2]))
    accumulator.update([sparse])
    result = accumulator.read_and_reset()
    assert result["mean"] == 0.5 and sum(result["histogram"]) == 1


def test_total_norm_combines_towers():
    stats = GradientStatistics([-1.0, 0.0, 1.0])
    stats.update([tf.constant([3.0])], [tf.constant([4.0])])
    result = stats.read_and_reset()
    assert result["total_norm"] == pytest.approx(5.0)
    assert result["query"]["norm"] == pytest.approx(3.0)


def test_symlog_edges_are_symmetric_and_sorted():
    edges = symlog_edges(1e-3, 1.0)
    assert edges == sorted(edges) and edges[0] == -edges[-1] == -1.0 and len(edges) == 8
