"""train_job_spec: the worker pools of the train CustomJob, and the artifacts it will fill."""

from google_cloud_pipeline_components.types.artifact_types import UnmanagedContainerModel
from kfp.dsl import Artifact, Dataset, Input, Model, Output


def train_job_spec(
    prepared_data: Input[Dataset],
    model: Output[Model],
    training_history: Output[Artifact],
    serving_model: Output[UnmanagedContainerModel],
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
    serving_image: str = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest",
    machine_type: str = "n1-standard-8",
    accelerator_type: str = "",
    accelerator_count: int = 0,
    replica_count: int = 1,
) -> list:
    """Run-time parameters in, worker_pool_specs out. The output artifacts' folders (under the
    pipeline root, mounted at /gcs/ in the job) are where the CustomJob writes; evaluate and
    publish read them after it."""
    from recs_pipeline.core.config import TrainConfig
    from recs_pipeline.vertex import custom_job

    config = TrainConfig.from_settings(locals())
    arguments = custom_job.train_arguments(
        prepared_dir=prepared_data.path,
        model_dir=model.path,
        history_dir=training_history.path,
        serving_dir=serving_model.path,
        config=config,
        run_id=run_id or pipeline_job_name or "vertex",
        metrics_uri=metrics_uri,
    )
    serving_model.metadata["containerSpec"] = {"imageUri": serving_image}
    model.metadata.update({"framework": "tensorflow-recommenders", "epochs": epochs})
    return custom_job.worker_pool_specs(trainer_image, arguments, machine_type, accelerator_type, accelerator_count, replica_count)
