"""Training throughput (examples/s) of this trainer against a plain TFRS basic-retrieval-tutorial
two-tower on the same data and epochs, side by side in one run.

"tutorial": string ids through StringLookup + Embedding (dim 32) in each tower, Adagrad 0.1,
  batch 8192, `shuffle(100_000).batch(8192).cache()`, tfrs.tasks.Retrieval with no metrics.
"ours": the default TrainConfig (integer ids from data prep, features, logQ correction, batch
  1024, Adam) with the whole metrics collector (on-device gradient statistics, weight statistics,
  history + status flushed every epoch) and per-epoch checkpoints, as the train step runs it.
Both fit on the training split of the embedded default data (or of `--prepared-dir`, e.g. Ta-Feng
prepared with its categorical and numeric features); each variant runs `--repeats` times,
interleaved, and the fastest fit of each is compared (validation excluded from both).
Usage: python benchmarks/train_throughput.py [--epochs 3] [--repeats 2] [--prepared-dir FOLDER]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from recs_pipeline.core.config import TrainConfig
from recs_pipeline.core.tf_runtime import keras, tf, tfrs
from recs_pipeline.data import prepare, prepared_data, synthetic
from recs_pipeline.steps import train
from recs_pipeline.tracking.collector import MetricsCollector
from recs_pipeline.tracking.sink import MetricsSink
from recs_pipeline.training import resume
from recs_pipeline.training.callbacks import MetricsCallback


class TutorialModel(tfrs.Model):
    """The TFRS basic retrieval tutorial's model, with no metrics."""

    def __init__(self, user_ids: np.ndarray, item_ids: np.ndarray, dimension: int = 32):
        super().__init__()
        self.user_model = keras.Sequential([keras.layers.StringLookup(vocabulary=user_ids, mask_token=None),
                                            keras.layers.Embedding(len(user_ids) + 1, dimension)])
        self.item_model = keras.Sequential([keras.layers.StringLookup(vocabulary=item_ids, mask_token=None),
                                            keras.layers.Embedding(len(item_ids) + 1, dimension)])
        self.task = tfrs.tasks.Retrieval()

    def compute_loss(self, features, training=False):
        return self.task(self.user_model(features["user_id"]), self.item_model(features["item_id"]))


def fit_tutorial(prepared: prepared_data.PreparedData, epochs: int) -> float:
    keras.utils.set_random_seed(42)
    rows = prepared.splits["train"]
    user_ids, item_ids = prepared.users["user_id"].to_numpy(str), prepared.items["item_id"].to_numpy(str)  # row i: index i
    data = tf.data.Dataset.from_tensor_slices({"user_id": user_ids[rows["user_idx"]], "item_id": item_ids[rows["item_idx"]]})
    cached = data.shuffle(100_000, seed=42).batch(8192).cache()
    model = TutorialModel(user_ids, item_ids)
    model.compile(optimizer=keras.optimizers.Adagrad(learning_rate=0.1))
    started = time.perf_counter()
    model.fit(cached, epochs=epochs, verbose=0)
    return time.perf_counter() - started


def fit_ours(prepared: prepared_data.PreparedData, epochs: int) -> float:
    config = TrainConfig(epochs=epochs)
    keras.utils.set_random_seed(config.seed)
    model = train.build_model(prepared, config)
    data = train.make_dataset(train.model_inputs("train", prepared, config), config.batch_size, config.seed, True)
    with tempfile.TemporaryDirectory() as folder:
        sink = MetricsSink([folder], run_id="bench", epochs_total=epochs)
        sink.probe()
        checkpoint = tf.train.Checkpoint(query_tower=model.query_tower, candidate_tower=model.candidate_tower, optimizer=model.optimizer)
        callback = MetricsCallback(MetricsCollector("bench", config.as_params()), sink, config.histogram_bins,
                                   lambda done: resume.save_checkpoint(folder, checkpoint, done))
        started = time.perf_counter()
        model.fit(data, epochs=epochs, verbose=0, callbacks=[callback])
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--prepared-dir", default="",
                        help="A folder `recs-pipeline prepare` wrote (e.g. Ta-Feng with its features); default: the embedded data.")
    parser.add_argument("--smoke", action="store_true", help="Tiny sizes: checks the script still runs (CI), measures nothing.")
    args = parser.parse_args()
    if args.smoke:
        args.epochs, args.repeats = 1, 1
    if args.prepared_dir:
        prepared = prepared_data.load(args.prepared_dir)
    else:
        tiny = synthetic.SyntheticConfig(num_purchases=3000, num_customers=120, num_products=60)
        data = synthetic.generate(tiny if args.smoke else synthetic.SyntheticConfig())
        with tempfile.TemporaryDirectory() as folder:
            prepare.prepare_frame(data.purchases, synthetic.prep_config(), folder, "synthetic")
            prepared = prepared_data.load(folder)
    features = [*prepared.user_features, *prepared.item_features, *prepared.text_features("user"), *prepared.text_features("item")]
    print(f"features of ours: {', '.join(features) or 'none'}")
    examples = len(prepared.splits["train"]) * args.epochs
    times: dict[str, list[float]] = {"tutorial": [], "ours": []}
    for _ in range(args.repeats):
        times["tutorial"].append(fit_tutorial(prepared, args.epochs))
        times["ours"].append(fit_ours(prepared, args.epochs))
    print(f"training rows: {len(prepared.splits['train'])}, epochs: {args.epochs}, repeats: {args.repeats} (fastest kept)")
    for name, seconds in times.items():
        print(f"{name:9s} fit_s: {min(seconds):6.2f}  examples_per_s: {examples / min(seconds):9.0f}  "
              f"all: {[round(s, 2) for s in seconds]}")
    print(f"throughput_ratio: {min(times['tutorial']) / min(times['ours']):.2f}")


if __name__ == "__main__":
    main()
