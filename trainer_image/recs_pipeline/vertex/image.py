"""The one trainer image every pipeline task runs, tagged with the package version (never `latest`)."""

from recs_pipeline import __version__

IMAGE_REPOSITORY = "europe-docker.pkg.dev/recs-pipeline/recs/recs-pipeline-trainer"
TRAINER_IMAGE = f"{IMAGE_REPOSITORY}:{__version__}"
