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


def image_warning(image: str) -> str:
    """The package's built-in image name lies in a project the user does not own, and Vertex AI
    pulls task images with the user's project's service agent: such a run fails at its first task
    unless that project lets the agent read it ('' for any other image)."""
    if image.startswith(IMAGE_REPOSITORY + ":"):
        return (f"the trainer image {image} is the package's built-in name, in a project you do not own: build the image into your "
                "own Artifact Registry (cloudbuild.yaml, docs/vertex.md step 5) and pass --image, "
                "or --template with a template built there")
    return ""
