"""Submit or schedule the compiled pipeline on Vertex AI Pipelines, from the CLI or a notebook.

The request is an `aiplatform.PipelineJob` built from the compiled YAML (or a template URL in
Artifact Registry); a dry run builds the same object offline and returns what would be sent,
creating nothing. Parameter values given as text (`epochs=3`) are typed by the template's own
parameter declarations, so a typo in a name or a value is an error before anything is sent: the
SDK passes values through unchanged for pipeline schemas above 2.0.0, and Vertex AI refuses a
string for an integer parameter (kubeflow/pipelines #9228). A template URL is fetched once, here
(also in a dry run), so the values are typed by the very spec that is submitted.
"""

from __future__ import annotations

import json
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recs_pipeline import __version__
from recs_pipeline.core.errors import UserError

CONSOLE_URL = "https://console.cloud.google.com/vertex-ai/locations/{region}/pipelines/runs/{job_id}?project={project}"
TEMPLATE_URL = re.compile(r"^https://")
ARTIFACT_REGISTRY_URL = re.compile(r"^https://[\w-]+-kfp\.pkg\.dev/", re.IGNORECASE)  # the SDK's own test for a token
DISPLAY_NAME = "two-tower-retrieval"
FAILURE_POLICIES = ("fast", "slow")
NETWORK = re.compile(r"^projects/[^/]+/global/networks/[^/]+$")
KMS_KEY = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")


class SubmitError(UserError, ValueError):
    """The submission is wrong before it reaches Vertex AI; the message names the parameter."""


class SubmitWarning(UserWarning):
    """A run that will be submitted, but is likely to fail or surprise on Vertex AI."""


class ScheduleWarning(SubmitWarning):
    """A schedule that will be created, but whose second run would fail or surprise."""


@dataclass(frozen=True)
class JobSettings:
    """Everything a pipeline run on Vertex AI is made from."""

    project: str
    region: str
    pipeline_root: str
    template: str = ""  # compiled YAML path or https:// template URL; empty: compile now
    image: str = ""  # with no template: the trainer image to compile against (default: pinned)
    parameters: dict[str, Any] = field(default_factory=dict)
    service_account: str = ""
    experiment: str = ""
    display_name: str = ""  # empty: DISPLAY_NAME
    labels: dict[str, str] = field(default_factory=dict)
    # False: no task is cached. True or None: each task's own setting (data_prep keyed on the input's
    # fingerprint, evaluate; never training, publishing or a query's prep). True is not handed to the
    # SDK, which would force caching on for every task, the uncached ones too.
    enable_caching: bool | None = None
    network: str = ""  # VPC to peer the run and its CustomJob with: projects/NUMBER/global/networks/NAME
    encryption_spec_key_name: str = ""  # CMEK for the run, its CustomJob and the registered model
    failure_policy: str = ""  # "fast": stop scheduling tasks after the first failure; "slow" (Vertex's default): finish what can run

    def __post_init__(self) -> None:
        for name in ("project", "region"):
            if not getattr(self, name):
                raise SubmitError(f"--{name} is required")
        if not self.pipeline_root.startswith("gs://"):
            raise SubmitError(f"--pipeline-root must be a gs:// folder, got {self.pipeline_root!r}")
        if self.network and not NETWORK.match(self.network):
            raise SubmitError(f"--network {self.network!r}: expected projects/PROJECT_NUMBER/global/networks/NAME")
        if self.encryption_spec_key_name and not KMS_KEY.match(self.encryption_spec_key_name):
            raise SubmitError(f"--encryption-spec-key-name {self.encryption_spec_key_name!r}: "
                              "expected projects/P/locations/L/keyRings/R/cryptoKeys/K")
        if self.failure_policy and self.failure_policy not in FAILURE_POLICIES:
            raise SubmitError(f"--failure-policy {self.failure_policy!r}: use one of {', '.join(FAILURE_POLICIES)}")

    @property
    def run_display_name(self) -> str:
        return self.display_name or DISPLAY_NAME


def parse_assignments(pairs: list[str] | tuple[str, ...], what: str = "--param") -> dict[str, str]:
    """['a=1', 'b=x'] -> {'a': '1', 'b': 'x'}; an item without '=' is an error naming it."""
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SubmitError(f"{what} {pair!r}: expected NAME=VALUE")
        values[name.strip()] = value
    return values


def load_template(template: str, credentials=None) -> dict[str, Any]:
    """The compiled spec of a local YAML file or a template URL. A URL is read as the SDK reads it:
    with a bearer token for Artifact Registry (`credentials`, else the environment's), plain for
    any other https:// address."""
    import yaml

    if not TEMPLATE_URL.match(template):
        return yaml.safe_load(Path(template).read_text())
    return yaml.safe_load(_fetch(template, credentials))


def _fetch(url: str, credentials=None) -> bytes:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url)
    if ARTIFACT_REGISTRY_URL.match(url):
        token = _token(url, credentials)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        why = {401: "not authenticated", 403: "permission denied: the submitting account needs roles/artifactregistry.reader "
               "on the repository", 404: "no such package, version or tag"}.get(error.code, error.reason)
        raise SubmitError(f"template {url}: HTTP {error.code} ({why})") from error
    except (urllib.error.URLError, OSError) as error:
        raise SubmitError(f"template {url}: cannot be read ({getattr(error, 'reason', error)})") from error


def _token(url: str, credentials=None) -> str:
    import google.auth
    import google.auth.transport.requests
    from google.auth.exceptions import DefaultCredentialsError, RefreshError

    from recs_pipeline.core.progress import one_line

    try:
        if credentials is None:
            credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        if not credentials.valid:
            credentials.refresh(google.auth.transport.requests.Request())
    except (DefaultCredentialsError, RefreshError) as error:
        raise SubmitError(f"template {url}: reading it needs Google credentials "
                          f"(gcloud auth application-default login): {one_line(error)}") from error
    return credentials.token or ""


def template_parameters(spec: dict[str, Any]) -> dict[str, str]:
    """Parameter name -> declared type (STRING, NUMBER_INTEGER, NUMBER_DOUBLE, BOOLEAN, ...)."""
    declared = spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
    return {name: entry.get("parameterType", "STRING") for name, entry in declared.items()}


def typed_parameters(raw: dict[str, Any], declared: dict[str, str]) -> dict[str, Any]:
    """Values typed by the template; unknown names and unparseable values are refused by name."""
    typed = {}
    for name, value in raw.items():
        if name not in declared:
            raise SubmitError(f"unknown pipeline parameter {name!r}; the template has: {', '.join(sorted(declared))}")
        typed[name] = _typed(name, value, declared[name])
    return typed


def _typed(name: str, value: Any, kind: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if kind == "NUMBER_INTEGER":
            return int(value)
        if kind == "NUMBER_DOUBLE":
            return float(value)
    except ValueError as error:
        raise SubmitError(f"pipeline parameter {name}={value!r}: not {'an integer' if kind == 'NUMBER_INTEGER' else 'a number'}") from error
    if kind == "BOOLEAN":
        if value.lower() not in ("true", "false"):
            raise SubmitError(f"pipeline parameter {name}={value!r}: use true or false")
        return value.lower() == "true"
    return value


def _labels(settings: JobSettings) -> dict[str, str]:
    return {"recs-pipeline": __version__.replace(".", "-"), **settings.labels}


def wants_accelerators(parameters: dict[str, Any]) -> bool:
    """Whether the run's parameters ask for GPUs (accelerator_type or a positive accelerator_count)."""
    count = parameters.get("accelerator_count", 0)
    return bool(parameters.get("accelerator_type")) or (str(count).strip() not in ("", "0"))


def _template(settings: JobSettings, scratch: str) -> str:
    from recs_pipeline.vertex.image import TRAINER_GPU_IMAGE, TRAINER_IMAGE

    if settings.template:
        if not TEMPLATE_URL.match(settings.template) and not Path(settings.template).is_file():
            raise SubmitError(f"template {settings.template!r}: no such file")
        return settings.template
    from recs_pipeline.pipelines.pipeline import compile_pipeline

    default = TRAINER_GPU_IMAGE if wants_accelerators(settings.parameters) else TRAINER_IMAGE
    return compile_pipeline(str(Path(scratch) / "pipeline.yaml"), settings.image or default)


def trainer_image_of(spec: dict[str, Any]) -> str:
    """The image the train CustomJob's replicas run, as compiled into the template ('' if it has none)."""
    task = spec.get("root", {}).get("dag", {}).get("tasks", {}).get("train-job-spec", {})
    return task.get("inputs", {}).get("parameters", {}).get("trainer_image", {}).get("runtimeValue", {}).get("constant", "")


def image_warnings(spec: dict[str, Any]) -> list[str]:
    """What is wrong with the template's trainer image (image.image_warning)."""
    from recs_pipeline.vertex.image import image_warning

    warning = image_warning(trainer_image_of(spec))
    return [warning] if warning else []


def check_accelerators(spec: dict[str, Any], parameters: dict[str, Any]) -> None:
    """Refuse GPUs for a template whose trainer image is the CPU build, before anything is sent."""
    from recs_pipeline.vertex.image import TRAINER_GPU_IMAGE, is_gpu_image

    image = trainer_image_of(spec)
    if image and wants_accelerators(parameters) and not is_gpu_image(image):
        raise SubmitError(f"accelerator_type/accelerator_count ask for GPUs, but the template's trainer image {image} is the CPU build; "
                          f"compile or submit with --image {TRAINER_GPU_IMAGE} (a tag ending in -gpu)")


def build_job(settings: JobSettings, template: str, credentials=None, template_credentials=None):
    """The PipelineJob Vertex AI would get (nothing is created to build it). A template URL is
    fetched once (with `template_credentials`) and the job built from that copy, so the values are
    typed by the spec that is sent; the job still names the URL, as the SDK does."""
    from google.cloud import aiplatform

    spec = load_template(template, template_credentials)
    parameters = typed_parameters(settings.parameters, template_parameters(spec))
    check_accelerators(spec, parameters)
    for message in image_warnings(spec):
        warnings.warn(message, SubmitWarning, stacklevel=3)
    with tempfile.TemporaryDirectory(prefix="recs-template-") as scratch:
        local = template
        if TEMPLATE_URL.match(template):
            local = str(Path(scratch) / "pipeline.json")
            Path(local).write_text(json.dumps(spec))
        job = aiplatform.PipelineJob(
            display_name=settings.run_display_name,
            template_path=local,
            pipeline_root=settings.pipeline_root,
            parameter_values=parameters,
            enable_caching=False if settings.enable_caching is False else None,
            labels=_labels(settings),
            project=settings.project,
            location=settings.region,
            credentials=credentials,
            encryption_spec_key_name=settings.encryption_spec_key_name or None,
            failure_policy=settings.failure_policy or None,
        )
    if local != template:
        job._gca_resource.template_uri = template  # what the SDK sets for a template URL it fetched itself
    return job


def job_request(job, settings: JobSettings) -> dict[str, Any]:
    """The create request as JSON: the job resource (with the service account that submit sets)."""
    from google.protobuf import json_format

    resource = json_format.MessageToDict(job._gca_resource._pb)
    declared = template_parameters(resource["pipelineSpec"])
    values = resource.get("runtimeConfig", {}).get("parameterValues", {})
    # A protobuf Value holds every number as a double: show an integer parameter as the integer it is.
    values.update({name: int(value) for name, value in values.items()
                   if declared.get(name) == "NUMBER_INTEGER" and isinstance(value, float) and value.is_integer()})
    resource["pipelineSpec"] = spec_summary(resource["pipelineSpec"])
    return _create_request(settings, resource, pipelineJobId=job.job_id, consoleUrl=console_url(settings, job.job_id))


def _create_request(settings: JobSettings, resource: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The create request around a job resource: what submit adds to the resource (service account,
    network) and beside it (parent, experiment)."""
    if settings.service_account:
        resource["serviceAccount"] = settings.service_account
    if settings.network:
        resource["network"] = settings.network
    request = {"parent": f"projects/{settings.project}/locations/{settings.region}", **fields, "pipelineJob": resource}
    if settings.experiment:
        request["experiment"] = settings.experiment
    return request


def spec_summary(spec: dict[str, Any]) -> dict[str, Any]:
    """The compiled spec, shortened for reading: name, versions, tasks and the images they run
    (the full spec is the template itself)."""
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    return {
        "pipelineInfo": spec.get("pipelineInfo"),
        "schemaVersion": spec.get("schemaVersion"),
        "sdkVersion": spec.get("sdkVersion"),
        "tasks": sorted(spec.get("root", {}).get("dag", {}).get("tasks", {})),
        "cached": sorted(name for name, task in spec.get("root", {}).get("dag", {}).get("tasks", {}).items()
                         if task.get("cachingOptions", {}).get("enableCache")),
        "images": sorted({e["container"]["image"] for e in executors.values() if "container" in e}),  # an importer has none
    }


def console_url(settings: JobSettings, job_id: str) -> str:
    return CONSOLE_URL.format(region=settings.region, job_id=job_id, project=settings.project)


def _offline_credentials():
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()


def submit_pipeline(settings: JobSettings, wait: bool = False, dry_run: bool = False, credentials=None):
    """Submit a pipeline run; returns the PipelineJob (or, for a dry run, the request as a dict).

    From a notebook: `submit_pipeline(JobSettings(project=..., region=..., pipeline_root="gs://...",
    parameters={"epochs": 10}))`.
    """
    with tempfile.TemporaryDirectory(prefix="recs-submit-") as scratch:
        template = _template(settings, scratch)
        job = build_job(settings, template, credentials or (_offline_credentials() if dry_run else None), credentials)
    if dry_run:
        return job_request(job, settings)
    job.submit(service_account=settings.service_account or None, network=settings.network or None, experiment=settings.experiment or None)
    if wait:
        job.wait()
    return job


def schedule_pipeline(
    settings: JobSettings,
    cron: str,
    schedule_name: str = "",
    max_concurrent_runs: int = 1,
    max_runs: int | None = None,
    start_time: str = "",
    end_time: str = "",
    dry_run: bool = False,
    credentials=None,
):
    """Create a Vertex AI pipeline schedule (cron, optionally `TZ=Europe/Berlin 0 3 * * 1`); returns
    the PipelineJobSchedule, or for a dry run the schedule request as a dict."""
    if len(cron.split()) < 5:
        raise SubmitError(f"--cron {cron!r}: expected five fields, e.g. '0 3 * * 1' (optionally prefixed TZ=Area/City)")
    if settings.experiment:
        raise SubmitError("--experiment applies to one submitted run; a schedule cannot carry it")
    for message in schedule_warnings(settings):
        warnings.warn(message, ScheduleWarning, stacklevel=2)
    name = schedule_name or f"{settings.run_display_name} schedule"
    with tempfile.TemporaryDirectory(prefix="recs-schedule-") as scratch:
        template = _template(settings, scratch)
        job = build_job(settings, template, credentials or (_offline_credentials() if dry_run else None), credentials)
    if not dry_run:
        return job.create_schedule(
            cron=cron,
            display_name=name,
            max_concurrent_run_count=max_concurrent_runs,
            max_run_count=max_runs,
            start_time=start_time or None,
            end_time=end_time or None,
            service_account=settings.service_account or None,
            network=settings.network or None,
        )
    # Each scheduled run gets its own job id when it starts: the one built here names no run.
    run_request = {key: value for key, value in job_request(job, settings).items() if key not in ("pipelineJobId", "consoleUrl")}
    request = {"displayName": name, "cron": cron, "maxConcurrentRunCount": max_concurrent_runs, "createPipelineJobRequest": run_request}
    if max_runs:
        request["maxRunCount"] = max_runs
    for key, value in (("startTime", start_time), ("endTime", end_time)):
        if value:
            request[key] = value
    return request


def schedule_warnings(settings: JobSettings) -> list[str]:
    """What would make a schedule's later runs fail: a fixed metrics_uri belongs to the first run
    that writes there (its sink claim), so every later run would be refused before training."""
    from recs_pipeline.tracking.sink import RUN_ID_FIELD

    metrics_uri = str(settings.parameters.get("metrics_uri", ""))
    if metrics_uri and RUN_ID_FIELD not in metrics_uri:
        return [(f"metrics_uri={metrics_uri!r} has no {RUN_ID_FIELD}: the first scheduled run claims that folder and every later run "
                 f"is refused before training; use e.g. {metrics_uri.rstrip('/')}/{RUN_ID_FIELD}")]
    return []
