"""train_outputs: the CustomJob's folders as the run's model, serving model and training history."""

from google_cloud_pipeline_components.types.artifact_types import UnmanagedContainerModel
from kfp.dsl import Artifact, Input, Model, Output


def train_outputs(
    job_dir: Input[Artifact],
    model: Output[Model],
    serving_model: Output[UnmanagedContainerModel],
    training_log: Output[Artifact],
    serving_image: str = "",
    run_location: str = "",
):
    """Runs after the train CustomJob and publishes what it wrote: each artifact's URI is set to
    the job's folder (nothing is copied), its metadata read from the run's own status and history
    (epochs run, best epoch, losses). A job that did not complete fails this step, naming why.

    Args:
        job_dir: The folder the train CustomJob wrote (from train_job_spec).
        model: The job's model/ folder, with the run's epochs and best epoch in its metadata.
        serving_model: The job's serving_model/ folder: the retrieval SavedModel, typed for ModelUploadOp.
        training_log: The job's training_log/ folder: training_metrics.json and training_status.json.
        serving_image: Prediction container the registered model is served with (TensorFlow Serving). Empty: Vertex AI's
            prebuilt TensorFlow 2.15 CPU container from the registry nearest the run's region (us-, europe- or asia-docker.pkg.dev).
        run_location: The pipeline run's region (Vertex fills it in): where the default serving container is pulled from.
    """
    from recs_pipeline.vertex import lineage, placeholders, registry

    metadata = lineage.run_metadata(lineage.job_folder(job_dir.path, "training_log"))
    for name, output in (("model", model), ("serving_model", serving_model), ("training_log", training_log)):
        output.uri = lineage.job_folder(job_dir.uri, name)
        output.metadata.update(metadata)
    serving_model.metadata["containerSpec"] = {"imageUri": registry.serving_image(serving_image, placeholders.resolved(run_location))}
