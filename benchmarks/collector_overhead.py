"""Wall time of the same fit with and without the metrics collector, side by side in one run.

"without": the two-tower model with no gradient statistics and no callback.
"collector": on-device gradient statistics in the train step, weight statistics and a flush of
history + status to a local folder after every epoch.
"collector+checkpoint": the same plus the per-epoch model/optimizer checkpoint used to resume.
Each variant runs REPEATS times, interleaved, on the embedded default data. The ratio compares
the fastest run of each (the least disturbed by anything else on the machine); medians are
printed beside it.
Usage: python benchmarks/collector_overhead.py [--epochs 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from recs_pipeline.core.config import TrainConfig
from recs_pipeline.core.tf_runtime import keras, tf
from recs_pipeline.data import prepare, prepared_data, synthetic
from recs_pipeline.steps import train
from recs_pipeline.tracking.collector import MetricsCollector
from recs_pipeline.tracking.sink import MetricsSink
from recs_pipeline.training import resume
from recs_pipeline.training.callbacks import MetricsCallback


def fit_once(prepared: prepared_data.PreparedData, config: TrainConfig, variant: str) -> float:
    keras.utils.set_random_seed(config.seed)
    model = train.build_model(prepared, config, collect_gradients=variant != "without")
    data = train.make_dataset(train.model_inputs("train", prepared, config), config.batch_size, config.seed, True)
    val = train.make_dataset(train.model_inputs("val", prepared, config), config.batch_size, config.seed, False)
    callbacks = []
    with tempfile.TemporaryDirectory() as folder:
        if variant != "without":
            sink = MetricsSink([folder], run_id="bench", epochs_total=config.epochs)
            sink.probe()
            save = None
            if variant == "collector+checkpoint":
                checkpoint = tf.train.Checkpoint(query_tower=model.query_tower, candidate_tower=model.candidate_tower,
                                                 optimizer=model.optimizer)
                save = lambda done: resume.save_checkpoint(folder, checkpoint, done)
            callbacks.append(MetricsCallback(MetricsCollector("bench", config.as_params()), sink, config.histogram_bins, save))
        started = time.perf_counter()
        model.fit(data, validation_data=val, epochs=config.epochs, verbose=0, callbacks=callbacks)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="Tiny sizes: checks the script still runs (CI), measures nothing.")
    args = parser.parse_args()
    tiny = synthetic.SyntheticConfig(num_purchases=3000, num_customers=120, num_products=60)
    data = synthetic.generate(tiny if args.smoke else synthetic.SyntheticConfig())
    if args.smoke:
        args.epochs, args.repeats = 1, 1
    with tempfile.TemporaryDirectory() as folder:
        prepare.prepare_frame(data.purchases, synthetic.prep_config(), folder, "synthetic")
        prepared = prepared_data.load(folder)
    config = TrainConfig(epochs=args.epochs)
    variants = ("without", "collector", "collector+checkpoint")
    times: dict[str, list[float]] = {v: [] for v in variants}
    if not args.smoke:
        fit_once(prepared, config, "without")  # warm-up: first-use costs (tracing, allocator) paid by nobody
    for _ in range(args.repeats):
        for variant in variants:
            times[variant].append(fit_once(prepared, config, variant))
    print(f"rows: {len(prepared.splits['train'])} train, epochs: {args.epochs}, repeats: {args.repeats}")
    for variant in variants:
        runs = ", ".join(f"{t:.2f}" for t in times[variant])
        print(f"{variant:22s} min {min(times[variant]):6.2f} s  median {statistics.median(times[variant]):6.2f} s  runs {runs}")
    for variant in variants[1:]:
        best = min(times[variant]) / min(times["without"])
        typical = statistics.median(times[variant]) / statistics.median(times["without"])
        print(f"overhead_ratio[{variant}]: {best:.3f} (medians: {typical:.3f})")


if __name__ == "__main__":
    main()
