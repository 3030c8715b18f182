"""Worker pool specs from run-time parameters, and the train arguments they carry."""

import pytest
from recs_pipeline.cli import main
from recs_pipeline.core.config import TrainConfig
from recs_pipeline.vertex.custom_job import CustomJobSpecError, train_arguments, worker_pool_specs

CONFIG = TrainConfig(epochs=7, batch_size=4096, learning_rate=0.01, optimizer="adagrad", remove_accidental_hits=False,
                     l2_regularization=1e-5)


def test_the_arguments_parse_back_to_the_same_config(tmp_path):
    arguments = train_arguments(str(tmp_path), "/gcs/b/model", "/gcs/b/hist", "/gcs/b/serving", CONFIG, "run-7", "gs://b/metrics")
    context = main.commands["train"].make_context("train", list(arguments))
    paths = ("prepared_dir", "model_dir", "training_log_dir", "serving_dir", "metrics_uri", "run_id")
    settings = {k: v for k, v in context.params.items() if k not in paths}
    assert TrainConfig(**settings) == CONFIG
    assert context.params["metrics_uri"] == "gs://b/metrics" and context.params["serving_dir"] == "/gcs/b/serving"


def test_gpus_and_replicas_make_a_chief_pool_and_a_worker_pool():
    specs = worker_pool_specs("img:1-gpu", ["--epochs", "2"], "a2-highgpu-1g", "NVIDIA_TESLA_A100", 1, replica_count=3)
    assert [pool["replica_count"] for pool in specs] == [1, 2]
    for pool in specs:
        assert pool["machine_spec"] == {"machine_type": "a2-highgpu-1g", "accelerator_type": "NVIDIA_TESLA_A100", "accelerator_count": 1}
        assert pool["container_spec"] == {"image_uri": "img:1-gpu", "command": ["recs-pipeline", "train"], "args": ["--epochs", "2"]}
    assert worker_pool_specs("img:1", [], "n1-standard-8")[0]["machine_spec"] == {"machine_type": "n1-standard-8"}


@pytest.mark.parametrize("settings, message", [
    (dict(accelerator_type="NVIDIA_L4", accelerator_count=0), "go together"),
    (dict(accelerator_type="", accelerator_count=2), "go together"),
    (dict(replica_count=0), "replica_count=0 must be at least 1"),
])
def test_impossible_machines_are_refused_by_name(settings, message):
    with pytest.raises(CustomJobSpecError, match=message):
        worker_pool_specs("img:1", [], "g2-standard-8", **settings)


def test_accelerators_on_the_cpu_image_are_refused_at_run_time():
    """A console or scheduled run does not pass through `submit`: the spec step refuses too."""
    from recs_pipeline.vertex.image import TRAINER_GPU_IMAGE, TRAINER_IMAGE, is_gpu_image

    with pytest.raises(CustomJobSpecError, match=f"needs the GPU trainer image .*--image {TRAINER_GPU_IMAGE}"):
        worker_pool_specs(TRAINER_IMAGE, [], "g2-standard-8", "NVIDIA_L4", 1)
    assert worker_pool_specs(TRAINER_GPU_IMAGE, [], "g2-standard-8", "NVIDIA_L4", 1)[0]["machine_spec"]["accelerator_count"] == 1
    assert is_gpu_image(TRAINER_GPU_IMAGE) and not is_gpu_image(TRAINER_IMAGE)
    assert not is_gpu_image("localhost:5000/trainer") and is_gpu_image("localhost:5000/trainer:2-gpu")
