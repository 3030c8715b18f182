"""What Vertex AI reads from the compiled YAML beyond the tasks themselves: machine resources of the
heavy lightweight tasks, retries, the train CustomJob's TensorBoard, and which tasks a run caches
(a query source is never reused: its fingerprint is unique to the pipeline job)."""

from click.testing import CliRunner
from recs_pipeline.cli import main
from recs_pipeline.pipelines.pipeline import PUBLISH_RETRIES, TRAIN_RETRIES


def compiled(tmp_path, *extra):
    import yaml

    output = tmp_path / "pipeline.yaml"
    result = CliRunner().invoke(main, ["compile", "--output", str(output), *extra])
    assert result.exit_code == 0, result.output
    return yaml.safe_load(output.read_text())


def test_data_prep_and_evaluate_ask_for_a_bigger_machine_through_run_time_parameters(tmp_path):
    spec = compiled(tmp_path)
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    executors = spec["deploymentSpec"]["executors"]
    for task in ("data_prep", "evaluate"):
        assert parameters[f"{task}_cpu_limit"]["defaultValue"] == "8" and parameters[f"{task}_memory_limit"]["defaultValue"] == "32G"
        resources = executors[f"exec-{task.replace('_', '-')}"]["container"]["resources"]
        assert resources == {"resourceCpuLimit": f"{{{{$.inputs.parameters['pipelinechannel--{task}_cpu_limit']}}}}",
                             "resourceMemoryLimit": f"{{{{$.inputs.parameters['pipelinechannel--{task}_memory_limit']}}}}"}
        inputs = spec["root"]["dag"]["tasks"][task.replace("_", "-")]["inputs"]["parameters"]
        assert inputs[f"pipelinechannel--{task}_cpu_limit"] == {"componentInputParameter": f"{task}_cpu_limit"}
    lightweight = ("exec-input-fingerprint", "exec-train-job-spec", "exec-train-outputs", "exec-publish-metrics", "exec-registry-entry")
    assert not any("resources" in executors[name]["container"] for name in lightweight)  # Vertex's default machine is plenty


def test_the_training_job_and_publish_are_retried(tmp_path):
    tasks = compiled(tmp_path)["root"]["dag"]["tasks"]
    assert tasks["custom-training-job"]["retryPolicy"] == {"maxRetryCount": TRAIN_RETRIES, "backoffDuration": "60s", "backoffFactor": 2.0,
                                                           "backoffMaxDuration": "3600s"}
    assert TRAIN_RETRIES >= 1 and tasks["publish-metrics"]["retryPolicy"]["maxRetryCount"] == PUBLISH_RETRIES
    assert "retryPolicy" not in tasks["data-prep"]  # a data error would only fail again


def test_the_custom_job_streams_to_a_tensorboard_when_one_is_given(tmp_path):
    spec = compiled(tmp_path)
    assert spec["root"]["inputDefinitions"]["parameters"]["tensorboard"]["defaultValue"] == ""
    job = spec["root"]["dag"]["tasks"]["custom-training-job"]["inputs"]["parameters"]
    assert job["tensorboard"] == {"componentInputParameter": "tensorboard"}
    assert job["base_output_directory"] == {"taskOutputParameter": {"outputParameterKey": "base_output_directory",
                                                                    "producerTask": "train-job-spec"}}
    # GCPC's launcher places both in the CustomJob's job_spec
    payload = " ".join(spec["deploymentSpec"]["executors"]["exec-custom-training-job"]["container"]["args"])
    assert '"tensorboard": "{{$.inputs.parameters[\'tensorboard\']}}"' in payload
    assert '"base_output_directory": {"output_uri_prefix": "{{$.inputs.parameters[\'base_output_directory\']}}"}' in payload


def test_the_job_output_directory_lies_in_the_job_folder():
    from recs_pipeline.vertex.custom_job import base_output_directory

    assert base_output_directory("gs://b/root/123/train-job-spec/job_dir/") == "gs://b/root/123/train-job-spec/job_dir/vertex"


def test_a_query_source_is_fingerprinted_per_pipeline_job(tmp_path):
    """data_prep stays cacheable for files and tables; with `query` its fingerprint input carries the
    pipeline job name, so no two runs share a cache key (tests/bigquery/test_bigquery_fingerprint.py)."""
    tasks = compiled(tmp_path)["root"]["dag"]["tasks"]
    fingerprint = tasks["input-fingerprint"]
    assert fingerprint["cachingOptions"] == {}
    assert fingerprint["inputs"]["parameters"] == {"input_uri": {"componentInputParameter": "input_uri"},
                                                   "query": {"componentInputParameter": "query"},
                                                   "pipeline_job_name": {"runtimeValue": {"constant": "{{$.pipeline_job_name}}"}},
                                                   # the customers and products tables' files are part of the fingerprint
                                                   "users_input": {"componentInputParameter": "users_input"},
                                                   "items_input": {"componentInputParameter": "items_input"}}
    assert tasks["data-prep"]["cachingOptions"] == {"enableCache": True}


def test_publish_gets_the_run_s_project_and_region_on_vertex_only(tmp_path):
    """Experiments go to the run's project and region when none is given; the in-task variant (the
    local run) leaves them out, since kfp.local takes any {{$...}} input for one of its own placeholders."""
    from recs_pipeline.vertex import placeholders

    vertex = compiled(tmp_path)["root"]["dag"]["tasks"]["publish-metrics"]["inputs"]["parameters"]
    assert vertex["run_project"]["runtimeValue"]["constant"] == placeholders.PROJECT == "{{$.pipeline_google_cloud_project_id}}"
    assert vertex["run_location"]["runtimeValue"]["constant"] == placeholders.LOCATION
    local = compiled(tmp_path, "--trainer", "task")["root"]["dag"]["tasks"]["publish-metrics"]["inputs"]["parameters"]
    assert "run_project" not in local and "run_location" not in local
