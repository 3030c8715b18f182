"""Publishing the compiled pipeline as a versioned template in Artifact Registry (KFP format), so
the Vertex AI console, schedules and `submit --template URL` run exactly what was built."""

from __future__ import annotations

import re
from pathlib import Path

from recs_pipeline import __version__
from recs_pipeline.core.errors import UserError

TAG = re.compile(r"^[a-zA-Z0-9._~:@-]+$")  # Artifact Registry tag characters
HOST = "https://{region}-kfp.pkg.dev/{project}/{repository}"


class TemplateError(UserError, ValueError):
    """The template or its tags cannot be uploaded as given; the message names which."""


def registry_host(region: str, project: str, repository: str) -> str:
    return HOST.format(region=region, project=project, repository=repository)


def release_tags(extra: list[str] | tuple[str, ...] = (), variant: str = "cpu") -> list[str]:
    """`v<package version>` (`v<version>-gpu` for a template compiled against the GPU image) plus
    any given (the commit, `latest`), each checked for AR's characters."""
    from recs_pipeline.vertex.image import GPU_TAG_SUFFIX

    if variant not in ("cpu", "gpu"):
        raise TemplateError(f"variant {variant!r}: use cpu or gpu")
    tags = [f"v{__version__}" + (GPU_TAG_SUFFIX if variant == "gpu" else ""), *extra]
    for tag in tags:
        if not TAG.match(tag) or tag.startswith("sha256:"):
            raise TemplateError(f"tag {tag!r}: use letters, digits and - . _ ~ : @ (and not sha256:)")
    return list(dict.fromkeys(tags))


def upload_template(template: str, host: str, tags: list[str], auth=None) -> tuple[str, str]:
    """Upload the YAML; returns (package name, version digest). On an Artifact Registry host the
    client authenticates with the environment's credentials (Cloud Build's service account)."""
    from kfp.registry import RegistryClient

    if not Path(template).is_file():
        raise TemplateError(f"template {template!r}: no such file")
    return RegistryClient(host=host, auth=auth).upload_pipeline(file_name=template, tags=tags)
