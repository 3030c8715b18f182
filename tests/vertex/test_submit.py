"""Submission and scheduling: the requests the Vertex AI SDK sends, recorded by a local stand-in of
the Vertex AI REST API on 127.0.0.1 (the real API cannot be reached here), and the dry runs.
Before submitting, the SDK checks that the pipeline root's bucket exists: that check goes to the
GCS emulator."""

import json

import pytest
from click.testing import CliRunner
from google.auth.credentials import AnonymousCredentials
from recs_pipeline.cli import main
from recs_pipeline.vertex.submit import JobSettings, SubmitError, schedule_pipeline, submit_pipeline

SETTINGS = dict(project="shop-ml", region="europe-west4", pipeline_root="gs://shop-ml-pipelines/root")
SA = "pipelines@shop-ml.iam.gserviceaccount.com"


@pytest.fixture
def vertex_api(monkeypatch, http_stand_in):
    """Answers every create with the resource it was given (plus a name), and records the request."""
    from google.cloud import aiplatform

    seen = []

    def answer(method, path, headers, raw):
        body = json.loads(raw or b"{}")
        seen.append({"method": method, "path": path, "body": body})
        kind = "schedules" if "/schedules" in path else "pipelineJobs"
        return json.dumps({**body, "name": f"projects/123/locations/europe-west4/{kind}/42"}).encode(), "application/json"

    url = http_stand_in(answer)
    monkeypatch.setattr(aiplatform.initializer.global_config, "_api_endpoint", url)
    monkeypatch.setattr(aiplatform.initializer.global_config, "_api_transport", "rest")
    return seen


def test_submit_sends_the_compiled_pipeline_with_typed_parameters(vertex_api, bucket):
    settings = JobSettings(**{**SETTINGS, "pipeline_root": f"gs://{bucket}/root"},
                           parameters={"epochs": "3", "learning_rate": "0.01", "register_model": "true"},
                           service_account=SA, labels={"team": "recs"})
    job = submit_pipeline(settings, credentials=AnonymousCredentials())
    assert len(vertex_api) == 1
    request = vertex_api[0]
    assert request["path"].startswith(f"/v1/projects/shop-ml/locations/europe-west4/pipelineJobs?pipelineJobId={job.job_id}")
    body = request["body"]
    assert body["serviceAccount"] == SA
    assert body["labels"] == {"recs-pipeline": "0-1-0", "team": "recs"}
    assert body["runtimeConfig"] == {"gcsOutputDirectory": f"gs://{bucket}/root",
                                     "parameterValues": {"epochs": 3, "learning_rate": 0.01, "register_model": True}}
    assert body["pipelineSpec"]["pipelineInfo"]["name"] == "two-tower-retrieval"
    images = {e["container"]["image"] for e in body["pipelineSpec"]["deploymentSpec"]["executors"].values() if "container" in e}
    assert "europe-docker.pkg.dev/recs-pipeline/recs/recs-pipeline-trainer:0.1.0" in images
    tasks = body["pipelineSpec"]["root"]["dag"]["tasks"]
    assert tasks["data-prep"]["cachingOptions"] == {"enableCache": True} and tasks["input-fingerprint"].get("cachingOptions", {}) == {}


NETWORK = "projects/123456/global/networks/shop-vpc"
KEY = "projects/shop-ml/locations/europe-west4/keyRings/recs/cryptoKeys/pipelines"


def test_enterprise_settings_reach_the_request(vertex_api, bucket):
    """Network and CMEK on the job (the compiled CustomJob and upload read them through Vertex's
    placeholders), the failure policy, and caching forced off for every task."""
    settings = JobSettings(**{**SETTINGS, "pipeline_root": f"gs://{bucket}/root"}, service_account=SA, network=NETWORK,
                           encryption_spec_key_name=KEY, failure_policy="fast", enable_caching=False)
    submit_pipeline(settings, credentials=AnonymousCredentials())
    body = vertex_api[0]["body"]
    assert body["network"] == NETWORK
    assert body["encryptionSpec"] == {"kmsKeyName": KEY}
    from google.cloud.aiplatform_v1.types import PipelineFailurePolicy

    # the REST transport sends enums as their numbers
    assert body["runtimeConfig"]["failurePolicy"] == PipelineFailurePolicy.PIPELINE_FAILURE_POLICY_FAIL_FAST.value
    tasks = body["pipelineSpec"]["root"]["dag"]["tasks"]
    assert not any(task.get("cachingOptions", {}).get("enableCache") for task in tasks.values())
    job = tasks["custom-training-job"]["inputs"]["parameters"]
    assert job["network"]["runtimeValue"]["constant"] == "{{$.pipeline_network}}"
    assert job["encryption_spec_key_name"]["runtimeValue"]["constant"] == "{{$.pipeline_encryption_key_name}}"


def test_schedule_carries_the_network_and_key(vertex_api):
    settings = JobSettings(**SETTINGS, network=NETWORK, encryption_spec_key_name=KEY, parameters={"metrics_uri": "gs://b/m/{run_id}"})
    schedule_pipeline(settings, "0 3 * * 1", credentials=AnonymousCredentials())
    job = vertex_api[0]["body"]["createPipelineJobRequest"]["pipelineJob"]
    assert job["network"] == NETWORK and job["encryptionSpec"] == {"kmsKeyName": KEY}


def test_schedule_warns_when_every_run_would_share_one_metrics_folder(vertex_api):
    args = ["schedule", "--project", "p", "--region", "europe-west4", "--pipeline-root", "gs://b/r", "--cron", "0 3 * * 1", "--dry-run",
            "--image", "europe-west4-docker.pkg.dev/p/recs/recs-pipeline-trainer:0.1.0"]
    fixed = CliRunner().invoke(main, [*args, "--param", "metrics_uri=gs://b/metrics/weekly"])
    assert fixed.exit_code == 0, fixed.output
    assert "warning: metrics_uri='gs://b/metrics/weekly' has no {run_id}" in fixed.stderr
    assert "gs://b/metrics/weekly/{run_id}" in fixed.stderr
    per_run = CliRunner().invoke(main, [*args, "--param", "metrics_uri=gs://b/metrics/{run_id}"])
    assert per_run.exit_code == 0 and "warning" not in per_run.stderr
    assert vertex_api == []


def test_gpus_choose_the_gpu_image_or_are_refused_on_a_cpu_template(vertex_api, tmp_path):
    from recs_pipeline.vertex.image import TRAINER_GPU_IMAGE, TRAINER_IMAGE

    gpus = {"machine_type": "g2-standard-8", "accelerator_type": "NVIDIA_L4", "accelerator_count": "1"}
    request = submit_pipeline(JobSettings(**SETTINGS, parameters=gpus), dry_run=True)
    assert TRAINER_GPU_IMAGE in request["pipelineJob"]["pipelineSpec"]["images"]
    assert TRAINER_IMAGE not in request["pipelineJob"]["pipelineSpec"]["images"]
    template = tmp_path / "cpu.yaml"
    assert CliRunner().invoke(main, ["compile", "--output", str(template)]).exit_code == 0
    refused = CliRunner().invoke(main, ["submit", "--project", "p", "--region", "europe-west4", "--pipeline-root", "gs://b/r",
                                        "--template", str(template),
                                        "--param", "accelerator_type=NVIDIA_L4", "--param", "accelerator_count=1"])
    assert refused.exit_code == 1 and f"the template's trainer image {TRAINER_IMAGE} is the CPU build" in refused.output, refused.output
    assert f"--image {TRAINER_GPU_IMAGE}" in refused.output
    assert vertex_api == []


def test_schedule_sends_cron_limits_and_the_run_request(vertex_api):
    settings = JobSettings(**SETTINGS, parameters={"epochs": "8"}, service_account=SA)
    schedule_pipeline(settings, "TZ=Europe/Berlin 0 3 * * 1", schedule_name="weekly retrain", max_concurrent_runs=1,
                      credentials=AnonymousCredentials())
    request = vertex_api[0]
    assert request["path"].startswith("/v1/projects/shop-ml/locations/europe-west4/schedules")
    body = request["body"]
    assert body["cron"] == "TZ=Europe/Berlin 0 3 * * 1" and body["displayName"] == "weekly retrain"
    assert body["maxConcurrentRunCount"] == "1"
    run = body["createPipelineJobRequest"]
    assert run["parent"] == "projects/shop-ml/locations/europe-west4"
    assert run["pipelineJob"]["serviceAccount"] == SA
    assert run["pipelineJob"]["runtimeConfig"]["parameterValues"] == {"epochs": 8}


def test_dry_run_prints_the_request_and_calls_nothing(vertex_api, tmp_path):
    template = tmp_path / "pipeline.yaml"
    assert CliRunner().invoke(main, ["compile", "--output", str(template), "--image", "example.com/t:9"]).exit_code == 0
    args = ["--project", "shop-ml", "--region", "europe-west4", "--pipeline-root", "gs://shop-ml-pipelines/root",
            "--template", str(template), "--param", "epochs=3", "--service-account", SA, "--dry-run"]
    submitted = CliRunner().invoke(main, ["submit", *args, "--experiment", "nightly"])
    assert submitted.exit_code == 0, submitted.output
    request = json.loads(submitted.output)
    assert request["pipelineJob"]["runtimeConfig"]["parameterValues"] == {"epochs": 3}
    assert request["pipelineJob"]["serviceAccount"] == SA and request["experiment"] == "nightly"
    assert request["pipelineJob"]["pipelineSpec"]["cached"] == ["data-prep", "evaluate"]
    uncached = CliRunner().invoke(main, ["submit", *args, "--no-enable-caching"])
    assert json.loads(uncached.output)["pipelineJob"]["pipelineSpec"]["cached"] == []
    assert request["pipelineJob"]["pipelineSpec"]["images"] == [
        "example.com/t:9", "gcr.io/ml-pipeline/google-cloud-pipeline-components:2.22.0"]
    assert request["consoleUrl"].startswith("https://console.cloud.google.com/vertex-ai/locations/europe-west4/pipelines/runs/two-tower-retrieval-")
    scheduled = CliRunner().invoke(main, ["schedule", *args, "--cron", "0 3 * * 1"])
    assert scheduled.exit_code == 0, scheduled.output
    schedule = json.loads(scheduled.output)
    assert schedule["cron"] == "0 3 * * 1"
    # a schedule's runs get their ids when they start: the dry run names no run and no console page
    assert "pipelineJobId" not in schedule["createPipelineJobRequest"] and "consoleUrl" not in schedule["createPipelineJobRequest"]
    assert "runs/" not in scheduled.output
    assert vertex_api == []  # nothing was sent


@pytest.mark.parametrize("params, message", [
    (["epoch=3"], "unknown pipeline parameter 'epoch'; the template has: accelerator_count"),
    (["epochs=three"], "pipeline parameter epochs='three': not an integer"),
    (["learning_rate=fast"], "pipeline parameter learning_rate='fast': not a number"),
    (["register_model=yes"], "register_model='yes': use true or false"),
    (["epochs"], "--param 'epochs': expected NAME=VALUE"),
])
def test_bad_parameters_are_refused_before_anything_is_sent(vertex_api, params, message):
    args = ["submit", "--project", "p", "--region", "r", "--pipeline-root", "gs://b/r", "--dry-run"]
    for param in params:
        args += ["--param", param]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and message in result.output, result.output
    assert vertex_api == []


def test_settings_are_checked():
    with pytest.raises(SubmitError, match="--pipeline-root must be a gs:// folder"):
        JobSettings(project="p", region="r", pipeline_root="/tmp/root")
    with pytest.raises(SubmitError, match="expected five fields"):
        schedule_pipeline(JobSettings(**SETTINGS), "daily", dry_run=True)
    with pytest.raises(SubmitError, match="--network 'shop-vpc': expected projects/PROJECT_NUMBER/global/networks/NAME"):
        JobSettings(**SETTINGS, network="shop-vpc")
    with pytest.raises(SubmitError, match="--encryption-spec-key-name 'my-key'"):
        JobSettings(**SETTINGS, encryption_spec_key_name="my-key")


def test_the_built_in_image_name_is_warned_about(vertex_api):
    """It lies in a project the user does not own, and Vertex pulls it with the user's service agent."""
    from recs_pipeline.vertex.image import TRAINER_IMAGE

    args = ["--project", "p", "--region", "europe-west4", "--pipeline-root", "gs://b/r", "--dry-run"]
    built_in = CliRunner().invoke(main, ["submit", *args])
    assert built_in.exit_code == 0 and f"warning: the trainer image {TRAINER_IMAGE} is the package's built-in name" in built_in.stderr
    own = CliRunner().invoke(main, ["submit", *args, "--image", "europe-west4-docker.pkg.dev/p/recs/recs-pipeline-trainer:0.1.0"])
    assert own.exit_code == 0 and "warning" not in own.stderr
    assert vertex_api == []


def test_compiling_with_the_built_in_image_name_warns_too(tmp_path):
    from recs_pipeline.vertex.image import TRAINER_IMAGE

    for trainer in ("custom-job", "task"):
        built_in = CliRunner().invoke(main, ["compile", "--output", str(tmp_path / "p.yaml"), "--trainer", trainer])
        assert built_in.exit_code == 0 and f"warning: the trainer image {TRAINER_IMAGE} is the package's built-in name" in built_in.stderr
    own = CliRunner().invoke(main, ["compile", "--output", str(tmp_path / "p.yaml"), "--image", "europe-west4-docker.pkg.dev/p/r/t:1"])
    assert own.exit_code == 0 and "warning" not in own.stderr
