"""The train step as a Vertex AI CustomJob: worker pool specs built at run time from pipeline
parameters (machine, accelerators, replicas), so the console form and schedules can set them.

KFP does not substitute pipeline parameters placed inside `worker_pool_specs`
(kubeflow/pipelines #11504) and `create_custom_training_job_from_component` fixes them at compile
time; so a small step builds the specs from its inputs and hands them to GCPC's
CustomTrainingJobOp. Every replica runs `recs-pipeline train` with the same arguments; the
trainer picks MultiWorkerMirroredStrategy from the TF_CONFIG Vertex sets (distribution.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from recs_pipeline.core.config import TrainConfig
from recs_pipeline.core.errors import UserError
from recs_pipeline.vertex.image import TRAINER_GPU_IMAGE, is_gpu_image
from recs_pipeline.vertex.registry import label_value

BOOT_DISK_GB = 100
VERTEX_OUTPUT_FOLDER = "vertex"  # the job's base_output_directory, beside model/, serving_model/, training_log/


class CustomJobSpecError(UserError, ValueError):
    """The machine settings cannot make a valid CustomJob; the message names the parameter."""


def train_arguments(
    prepared_dir: str,
    model_dir: str,
    training_log_dir: str,
    serving_dir: str,
    config: TrainConfig,
    run_id: str,
    metrics_uri: str = "",
) -> list[str]:
    """The `recs-pipeline train` command line every replica runs."""
    arguments = ["--prepared-dir", prepared_dir, "--model-dir", model_dir, "--training-log-dir", training_log_dir,
                 "--serving-dir", serving_dir, "--run-id", run_id]
    if metrics_uri:
        arguments += ["--metrics-uri", metrics_uri]
    for name, value in dataclasses.asdict(config).items():  # as set (exclude_seen 'auto' stays a choice, not a bool)
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            arguments.append(flag if value else f"--no-{name.replace('_', '-')}")
        else:
            arguments += [flag, str(value)]
    return arguments


def worker_pool_specs(
    image: str,
    arguments: list[str],
    machine_type: str,
    accelerator_type: str = "",
    accelerator_count: int = 0,
    replica_count: int = 1,
) -> list[dict[str, Any]]:
    """Pool 0 is the chief (one replica); pool 1, when replica_count > 1, the other workers."""
    if replica_count < 1:
        raise CustomJobSpecError(f"replica_count={replica_count} must be at least 1")
    if bool(accelerator_type) != (accelerator_count > 0):
        raise CustomJobSpecError(
            f"accelerator_type={accelerator_type!r} and accelerator_count={accelerator_count} go together: give both or neither"
        )
    if not machine_type:
        raise CustomJobSpecError("machine_type is required, e.g. n1-standard-8")
    if accelerator_type and not is_gpu_image(image):
        raise CustomJobSpecError(
            f"accelerator_type={accelerator_type!r} needs the GPU trainer image (tag ending in -gpu, e.g. {TRAINER_GPU_IMAGE}); "
            f"this pipeline was compiled with {image}: compile or submit with --image {TRAINER_GPU_IMAGE}"
        )
    machine: dict[str, Any] = {"machine_type": machine_type}
    if accelerator_type:
        machine.update(accelerator_type=accelerator_type, accelerator_count=accelerator_count)
    chief = {
        "machine_spec": machine,
        "replica_count": 1,
        "container_spec": {"image_uri": image, "command": ["recs-pipeline", "train"], "args": list(arguments)},
        "disk_spec": {"boot_disk_type": "pd-ssd", "boot_disk_size_gb": BOOT_DISK_GB},
    }
    specs = [chief]
    if replica_count > 1:
        specs.append({**chief, "replica_count": replica_count - 1})
    return specs


def job_labels(run_id: str, pipeline_job_name: str) -> dict[str, str]:
    """Labels on the CustomJob, so billing and the Custom jobs list can tell which run it trained."""
    labels = {"source": "recs-pipeline", "run-id": label_value(run_id)}
    if pipeline_job_name:
        labels["pipeline-job"] = label_value(pipeline_job_name)
    return labels


def base_output_directory(job_dir_uri: str) -> str:
    """The CustomJob's base output directory, inside the job's own folder: Vertex AI puts
    AIP_TENSORBOARD_LOG_DIR (`<it>/logs/`) under it, and needs it set when the job has a TensorBoard."""
    return job_dir_uri.rstrip("/") + "/" + VERTEX_OUTPUT_FOLDER
