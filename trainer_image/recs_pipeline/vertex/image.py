"""The trainer images every pipeline task runs, tagged with the package version (never `latest`).

Two variants from one Dockerfile (`--build-arg VARIANT=cpu|gpu`): the CPU image, and the GPU
image (TensorFlow's CUDA libraries added) whose tag ends in `-gpu`. A run that asks for
accelerators must use an image whose tag ends in `-gpu`; anything else is refused before
submission and again by the train job spec at run time (a CPU image on a GPU machine would
train on the CPU and bill the GPU).
"""

from recs_pipeline import __version__

IMAGE_REPOSITORY = "europe-docker.pkg.dev/recs-pipeline/recs/recs-pipeline-trainer"
GPU_TAG_SUFFIX = "-gpu"
TRAINER_IMAGE = f"{IMAGE_REPOSITORY}:{__version__}"
TRAINER_GPU_IMAGE = f"{IMAGE_REPOSITORY}:{__version__}{GPU_TAG_SUFFIX}"


def is_gpu_image(image: str) -> bool:
    """Whether `image` is a GPU build: its tag (after the last ':' past any registry port) ends in -gpu."""
    name = image.rsplit("/", 1)[-1]
    return ":" in name and name.rsplit(":", 1)[1].endswith(GPU_TAG_SUFFIX)
