"""train: the two-tower model, its exported towers, and its training history written as it goes."""

from google_cloud_pipeline_components.types.artifact_types import UnmanagedContainerModel
from kfp.dsl import Artifact, Dataset, Input, Model, Output


def train(
    prepared_data: Input[Dataset],
    model: Output[Model],
    training_log: Output[Artifact],
    serving_model: Output[UnmanagedContainerModel],
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
    serving_image: str = "",
):
    """Fit and export in this task; training_metrics.json and training_status.json are flushed
    every epoch. The artifacts' metadata is read back from the finished run (as train_outputs
    does after a CustomJob), so both trainers say the same.

    Args:
        prepared_data: Prepared splits, vocabularies and stats (from data_prep).
        model: The trained towers (query_tower/, candidate_tower/ SavedModels) and product_embeddings.parquet.
        training_log: training_metrics.json and training_status.json, rewritten after every epoch.
        serving_model: Retrieval SavedModel (customer id -> top-100 product ids), ready for the Model Registry.
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
        serving_image: Prediction container the registered model is served with (TensorFlow Serving). Empty: Vertex AI's
            prebuilt TensorFlow 2.15 CPU container from the registry nearest the run's region (us-, europe- or asia-docker.pkg.dev).
    """
    from recs_pipeline.core import progress
    from recs_pipeline.core.config import TrainConfig
    from recs_pipeline.steps import train as trainer
    from recs_pipeline.vertex import lineage, registry

    with progress.task("train"):
        config = TrainConfig.from_settings(locals())
        run, run_metrics_uri = lineage.resolve_run(run_id, pipeline_job_name, metrics_uri)
        trainer.run(
            prepared_dir=prepared_data.path,
            model_dir=model.path,
            training_log_dir=training_log.path,
            config=config,
            run_id=run,
            metrics_uri=run_metrics_uri,
            serving_dir=serving_model.path,
        )
        metadata = lineage.run_metadata(training_log.path)
        for output in (model, serving_model, training_log):
            output.metadata.update(metadata)
        serving_model.metadata["containerSpec"] = {"imageUri": registry.serving_image(serving_image)}  # a local run: no region
