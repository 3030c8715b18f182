"""train: the two-tower model, its exported towers, and its training history written as it goes."""

from google_cloud_pipeline_components.types.artifact_types import UnmanagedContainerModel
from kfp.dsl import Artifact, Dataset, Input, Model, Output


def train(
    prepared_data: Input[Dataset],
    model: Output[Model],
    training_history: Output[Artifact],
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
    history_length: int = 100,
    pool_history: bool = False,
    buy_again: bool = True,
    early_stopping_patience: int = 1,
    seed: int = 42,
    metrics_uri: str = "",
    run_id: str = "",
    pipeline_job_name: str = "",
    serving_image: str = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest",
):
    """Fit and export; training_metrics.json and training_status.json are flushed every epoch.
    serving_model is the retrieval SavedModel, ready for ModelUploadOp with `serving_image`."""
    from recs_pipeline.core import progress
    from recs_pipeline.core.config import TrainConfig
    from recs_pipeline.steps import train as trainer

    with progress.task("train"):
        config = TrainConfig.from_settings(locals())
        result = trainer.run(
            prepared_dir=prepared_data.path,
            model_dir=model.path,
            history_dir=training_history.path,
            config=config,
            run_id=run_id or pipeline_job_name or "local",
            metrics_uri=metrics_uri,
            serving_dir=serving_model.path,
        )
        serving_model.metadata["containerSpec"] = {"imageUri": serving_image}
        model.metadata.update({"framework": "tensorflow-recommenders", "epochs": result.epochs_done})
        training_history.metadata.update({"epochs_done": result.epochs_done, "final_loss": result.final_loss})
