"""One training step's optimizer update: Keras's Adam against the fused Adam the trainer uses for
`adam` (model/fused_adam.py) and lazy Adam (model/lazy_adam.py), on the gradients of a real batch of
the default model, side by side in one process; then the whole train step (model.train_step:
forward, backward, update, gradient statistics) with `adam` and `lazy_adam`, with the id embeddings'
L2 on the rows the batch uses (model.towers.RowL2Embedding) and on the whole tables (what Keras's
`embeddings_regularizer` does: the tables' gradients turn dense).

Builds the default model on the prepared data (the embedded data, or `--prepared-dir`, e.g. Ta-Feng
with its features), computes one batch's gradients, then times each optimizer applying them
(`--repeats` times each, alternated in rounds, the median of each kept) and, for scale, the
batch's forward and backward pass.
Usage: python benchmarks/optimizer_step.py [--prepared-dir FOLDER] [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace

from recs_pipeline.core.config import TrainConfig
from recs_pipeline.core.tf_runtime import keras, tf
from recs_pipeline.data import prepare, prepared_data, synthetic
from recs_pipeline.model.fused_adam import FusedAdam
from recs_pipeline.model.lazy_adam import LazyAdam
from recs_pipeline.steps import train


def timed(function, repeats: int) -> float:
    """Median milliseconds of one call (after a first call that traces it)."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prepared-dir", default="", help="A folder `recs-pipeline prepare` wrote; default: the embedded data.")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--smoke", action="store_true", help="Tiny sizes: checks the script still runs (CI), measures nothing.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.prepared_dir:
            folder = args.prepared_dir
        else:
            tiny = synthetic.SyntheticConfig(num_purchases=3000, num_customers=120, num_products=60)
            data = synthetic.generate(tiny if args.smoke else synthetic.SyntheticConfig())
            prepare.prepare_frame(data.purchases, synthetic.prep_config(), folder, "synthetic")
        prepared = prepared_data.load(folder)
        config = TrainConfig()
        keras.utils.set_random_seed(config.seed)
        model = train.build_model(prepared, config)
        batch = next(iter(train.make_dataset(train.model_inputs("train", prepared, config), config.batch_size, config.seed, True)))
        step_times = train_steps(prepared, config, batch, 2 if args.smoke else args.repeats)
    query, candidate = model.tower_variables()
    variables = query + candidate

    @tf.function
    def gradients():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.compute_loss(batch, training=True))
        return tape.gradient(loss, variables)

    computed = gradients()
    rate = config.learning_rate
    optimizers = {"keras_adam": keras.optimizers.Adam(learning_rate=rate), "fused_adam": FusedAdam(learning_rate=rate),
                  "lazy_adam": LazyAdam(learning_rate=rate)}
    steps = {}
    for name, optimizer in optimizers.items():
        optimizer.build(variables)
        steps[name] = tf.function(lambda o=optimizer: o.apply_gradients(zip(computed, variables)))
    repeats = 2 if args.smoke else args.repeats
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(3):  # rounds, alternated: a slow moment of the machine hits both
        for name, step in steps.items():
            times[name].append(timed(step, repeats))
    tables = [f"{v.name} {tuple(v.shape)}" for v, g in zip(variables, computed) if isinstance(g, tf.IndexedSlices)]
    print(f"embedding tables: {', '.join(tables)}; batch {config.batch_size}")
    print(f"forward_and_backward_ms: {timed(gradients, repeats):.1f}")
    for name, values in times.items():
        print(f"{name}_apply_ms: {min(values):.1f} (rounds {', '.join(f'{v:.1f}' for v in values)})")
    print(f"keras_adam_vs_fused_adam_ratio: {min(times['keras_adam']) / min(times['fused_adam']):.2f}")
    print(f"keras_adam_vs_lazy_adam_ratio: {min(times['keras_adam']) / min(times['lazy_adam']):.2f}")
    for name, values in step_times.items():
        print(f"train_step_ms {name}: {min(values):.1f} (rounds {', '.join(f'{v:.1f}' for v in values)})")
    for optimizer in ("adam", "lazy_adam"):
        ratio = min(step_times[f"{optimizer}, L2 on whole tables"]) / min(step_times[f"{optimizer}, L2 on used rows"])
        print(f"train_step_whole_tables_vs_used_rows_ratio {optimizer}: {ratio:.2f}")


def train_steps(prepared: prepared_data.PreparedData, config: TrainConfig, batch: dict, repeats: int) -> dict[str, list[float]]:
    """Milliseconds of model.train_step on `batch` for each optimizer, with the id L2 on the used rows
    (the model as built) and on the whole tables; alternated in 3 rounds."""
    steps = {}
    for optimizer in ("adam", "lazy_adam"):
        for whole_tables in (False, True):
            keras.utils.set_random_seed(config.seed)
            model = train.build_model(prepared, replace(config, optimizer=optimizer))
            if whole_tables:  # Keras's embeddings_regularizer: the penalty on every row of each id table
                for tower, id_feature in ((model.query_tower, "user_idx"), (model.candidate_tower, "item_idx")):
                    layer = tower.get_layer(f"{id_feature}_embedding")
                    layer.row_l2 = 0.0
                    layer.add_loss(lambda table=layer.embeddings: config.l2_regularization * tf.reduce_sum(tf.square(table)))
            name = f"{optimizer}, L2 on {'whole tables' if whole_tables else 'used rows'}"
            step = tf.function(model.train_step)
            steps[name] = lambda step=step: float(step(batch)["loss"])
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(3):
        for name, step in steps.items():
            times[name].append(timed(step, repeats))
    return times


if __name__ == "__main__":
    main()
