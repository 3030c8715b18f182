"""One train step of the two towers on two logical CPUs under MirroredStrategy, against the step
its loss scaling promises, computed on one device from the same two halves of the batch; prints the
largest difference of any weight. Run in its own process: the logical CPUs must exist before
TensorFlow starts."""

import numpy as np
from recs_pipeline.core.config import TrainConfig
from recs_pipeline.core.tf_runtime import keras, tf
from recs_pipeline.model.towers import TwoTowerModel, build_tower

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
tf.config.set_visible_devices([], "GPU")  # both models on the CPUs: a GPU's TF32 matmuls would differ beyond the tolerance

IDS, BATCH = 20, 8
# A large penalty, so scaling the id rows' penalty wrongly moves the weights far beyond float error.
CONFIG = TrainConfig(l2_regularization=0.5, embedding_dim=4, id_dropout=0.0, buy_again=False, history_length=0,
                     remove_accidental_hits=False, logq_correction=False)
# The two replicas' halves use different customers and products: each replica penalises its own rows.
BATCH_FEATURES = {"user_idx": np.arange(BATCH, dtype=np.int32), "item_idx": np.arange(BATCH, dtype=np.int32) + 3}


def model_in(strategy: tf.distribute.Strategy) -> TwoTowerModel:
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = TwoTowerModel(build_tower("query_tower", "user_idx", IDS, {}, CONFIG),
                              build_tower("candidate_tower", "item_idx", IDS, {}, CONFIG), CONFIG, IDS, collect_gradients=False)
        model.compile(optimizer=keras.optimizers.SGD(1.0))
    return model


def promised_step(model: TwoTowerModel) -> None:
    """The mean of every example's loss over the global batch, the projections' L2 once, and the L2
    of each half's id rows (each row once per half), as two replicas would add them; one SGD step.
    The penalties are written out here, not read from the layers' losses."""
    variables = [*model.query_tower.trainable_variables, *model.candidate_tower.trainable_variables]
    tables = {name: model.get_layer(tower).get_layer(f"{name}_embedding").embeddings
              for name, tower in (("user_idx", "query_tower"), ("item_idx", "candidate_tower"))}
    kernels = [model.get_layer(tower).get_layer("projection").kernel for tower in ("query_tower", "candidate_tower")]
    with tf.GradientTape() as tape:
        total = CONFIG.l2_regularization * tf.add_n([tf.reduce_sum(tf.square(kernel)) for kernel in kernels])
        for half in (slice(0, BATCH // 2), slice(BATCH // 2, BATCH)):
            features = {name: values[half] for name, values in BATCH_FEATURES.items()}
            total += tf.reduce_sum(model.compute_loss(features, training=True)) / BATCH
            for name, table in tables.items():
                total += CONFIG.l2_regularization * tf.reduce_sum(tf.square(tf.gather(table, np.unique(features[name]))))
    for variable, gradient in zip(variables, tape.gradient(total, variables)):
        variable.assign_sub(tf.convert_to_tensor(gradient))


def trainable(model: TwoTowerModel) -> list[np.ndarray]:
    return [variable.numpy() for variable in (*model.query_tower.trainable_variables, *model.candidate_tower.trainable_variables)]


mirrored = model_in(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
assert mirrored.distribute_strategy.num_replicas_in_sync == 2
single = model_in(tf.distribute.get_strategy())
start = trainable(single)
for mirrored_weights, single_weights in zip(trainable(mirrored), start):
    np.testing.assert_array_equal(mirrored_weights, single_weights)
mirrored.fit(tf.data.Dataset.from_tensor_slices(BATCH_FEATURES).batch(BATCH), epochs=1, verbose=0)
promised_step(single)
difference = max(float(np.abs(a - b).max()) for a, b in zip(trainable(mirrored), trainable(single)))
moved = max(float(np.abs(a - b).max()) for a, b in zip(trainable(mirrored), start))
print(f"largest_difference {difference:.3g} moved {moved:.3g}")
