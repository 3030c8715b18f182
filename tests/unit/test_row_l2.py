"""The id embeddings' L2 penalty covers the rows a batch uses, each once, and keeps their gradient sparse."""

import numpy as np
from recs_pipeline.core.config import TrainConfig
from recs_pipeline.core.tf_runtime import keras, tf
from recs_pipeline.model.towers import RowL2Embedding, build_tower


def test_penalty_is_the_l2_of_each_used_row_once_and_its_gradient_touches_only_those_rows():
    layer = RowL2Embedding(6, 3, row_l2=0.5)
    layer.build(None)
    table = np.arange(18, dtype=np.float32).reshape(6, 3) / 10
    layer.embeddings.assign(table)
    ids = tf.constant([4, 1, 4, 4, 0])  # row 4 three times
    layer(ids)
    assert layer.losses == []  # outside training: nothing to compute
    with tf.GradientTape() as tape:
        layer(ids, training=True)
        (penalty,) = layer.losses
    expected = 0.5 * sum(float(np.sum(table[row] ** 2)) for row in (0, 1, 4))
    np.testing.assert_allclose(float(penalty), expected, rtol=1e-6)
    gradient = tape.gradient(penalty, layer.embeddings)
    assert isinstance(gradient, tf.IndexedSlices)  # sparse: the optimizer moves the used rows only
    assert gradient.values.shape[0] == 5  # one slice per lookup, as the lookup's own gradient
    dense = tf.convert_to_tensor(gradient).numpy()
    np.testing.assert_allclose(dense[[0, 1, 4]], 2 * 0.5 * table[[0, 1, 4]], rtol=1e-6)  # each used row once
    np.testing.assert_array_equal(dense[[2, 3, 5]], 0.0)


def test_a_tower_with_l2_has_sparse_id_gradients_and_reloads_from_its_saved_model(tmp_path):
    config = TrainConfig(l2_regularization=1e-3)
    tower = build_tower("query_tower", "user_idx", 50, {"segment": 4}, config)
    inputs = {"user_idx": tf.constant([3, 7, 3, 60]), "segment_idx": tf.constant([0, 1, 2, 3])}  # 60: an id first seen later
    table = tower.get_layer("user_idx_embedding").embeddings
    float(tf.add_n(tower.losses))  # as built: only the projection's penalty, nothing left over from building the graph
    with tf.GradientTape() as tape:
        output = tower(inputs, training=True)
        loss = tf.reduce_sum(output) + tf.add_n(tower.losses)
    assert isinstance(tape.gradient(loss, table), tf.IndexedSlices)
    tower.save(str(tmp_path / "tower"), include_optimizer=False)
    loaded = keras.models.load_model(str(tmp_path / "tower"), compile=False)
    np.testing.assert_allclose(loaded(inputs).numpy(), output.numpy(), rtol=1e-6)
    assert loaded.get_layer("user_idx_embedding").row_l2 == 1e-3
