"""train_job_spec: the worker pools and labels of the train CustomJob, and the folder it writes."""

from typing import NamedTuple

from kfp.dsl import Artifact, Dataset, Input, Output


def train_job_spec(
    prepared_data: Input[Dataset],
    job_dir: Output[Artifact],
    trainer_image: str,
    epochs: int = 10,
    batch_size: int = 1024,
    learning_rate: float = 0.005,
    optimizer: str = "adam",
    embedding_dim: int = 64,
    feature_embedding_dim: int = 16,
    l2_regularization: float = 0.0001,
    temperature: float = 0.1,
    remove_accidental_hits: bool = True,
    logq_correction: bool = True,
    histogram_bins: int = 30,
    id_dropout: float = 0.3,
    history_length: int = 100,
    pool_history: bool = False,
    buy_again: bool = True,
    early_stopping_patience: int = 1,
    exclude_seen: str = "auto",
    baseline_half_life_days: float = 90.0,
    seed: int = 42,
    metrics_uri: str = "",
    run_id: str = "",
    pipeline_job_name: str = "",
    machine_type: str = "n1-standard-8",
    accelerator_type: str = "",
    accelerator_count: int = 0,
    replica_count: int = 1,
) -> NamedTuple("TrainJobSpec", [("worker_pool_specs", list), ("labels", dict), ("base_output_directory", str)]):
    """Run-time parameters in, worker_pool_specs and labels out (KFP cannot place pipeline
    parameters inside worker_pool_specs, kubeflow/pipelines #11504). The job writes into
    `job_dir` (under the pipeline root, mounted at /gcs/ in the job); train_outputs publishes
    its sub-folders as the model artifacts once the job has finished, so nothing here claims
    what the training will produce. Accelerators with a CPU trainer image are refused here.

    Args:
        prepared_data: Prepared splits, vocabularies and stats (from data_prep).
        job_dir: Folder the CustomJob writes into: model/, serving_model/, training_log/ (published by train_outputs).
        trainer_image: Image every training replica runs.
        epochs: Most epochs to train; early stopping usually stops sooner.
        batch_size: Training examples per batch (the in-batch softmax uses the others as negatives).
        learning_rate: Optimizer learning rate.
        optimizer: Optimizer: adam, lazy_adam (Adam moving only the embedding rows a batch uses), adagrad or sgd.
        embedding_dim: Size of the customer and product embeddings the towers output.
        feature_embedding_dim: Size of each categorical feature's embedding inside a tower.
        l2_regularization: L2 penalty on the id embedding rows each batch uses, and on the projections.
        temperature: Softmax temperature of the retrieval logits (dot product / temperature).
        remove_accidental_hits: Drop in-batch negatives that are the positive product itself.
        logq_correction: Correct the in-batch softmax for popular products appearing often as negatives (logQ).
        histogram_bins: Bins of the weight and gradient histograms in training_metrics.json.
        id_dropout: Share of training rows that use the new-id embedding instead of their own id, so customers and products first
            seen after training are scored from their features. 0: off.
        history_length: Recent purchases per customer the model reads (buy-again mixture, pooling). 0: none.
        pool_history: The customer tower adds the mean product embedding of the recent purchases.
        buy_again: Train with a learned repeat-purchase term mixed into the scores of the customer's recent purchases;
            the trained mixture is then one of the two score forms validation chooses between.
        early_stopping_patience: Stop after this many epochs without a lower validation loss, keeping the best epoch. 0: off.
        exclude_seen: Never recommend products the customer bought before: auto (when under 1% of training purchases are
            repeats), true or false.
        baseline_half_life_days: Half-life in days of the recency-weighted baselines (recency_repeat, item_knn) and of the
            repeat and item-kNN terms of the model's blend.
        seed: Seed of the split, the synthetic data and training.
        metrics_uri: Also write training_metrics.json, the status and checkpoints here (gs:// or a folder); {run_id} becomes the
            run id, so a schedule gives each run its own folder. Empty: only the pipeline's artifacts.
        run_id: Identifies the run in its training log and the sink claim. Empty: the pipeline job name.
        pipeline_job_name: The pipeline job's name (the default run id).
        machine_type: Machine of each training replica (CustomJob), e.g. n1-standard-8 or g2-standard-8.
        accelerator_type: GPU per replica, e.g. NVIDIA_L4 (needs the -gpu trainer image). Empty: none.
        accelerator_count: GPUs per replica; 0 with no accelerator_type.
        replica_count: Training replicas: 1, or more for MultiWorkerMirroredStrategy.
    """
    import collections

    from recs_pipeline.core.config import TrainConfig
    from recs_pipeline.vertex import custom_job, lineage

    config = TrainConfig.from_settings(locals())
    run, run_metrics_uri = lineage.resolve_run(run_id, pipeline_job_name, metrics_uri)
    arguments = custom_job.train_arguments(
        prepared_dir=prepared_data.path,
        model_dir=lineage.job_folder(job_dir.path, "model"),
        training_log_dir=lineage.job_folder(job_dir.path, "training_log"),
        serving_dir=lineage.job_folder(job_dir.path, "serving_model"),
        config=config,
        run_id=run,
        metrics_uri=run_metrics_uri,
    )
    specs = custom_job.worker_pool_specs(trainer_image, arguments, machine_type, accelerator_type, accelerator_count, replica_count)
    job_dir.metadata.update({"run_id": run, "machine_type": machine_type, "replica_count": replica_count})
    outputs = collections.namedtuple("TrainJobSpec", ["worker_pool_specs", "labels", "base_output_directory"])
    return outputs(specs, custom_job.job_labels(run, pipeline_job_name), custom_job.base_output_directory(job_dir.uri))
