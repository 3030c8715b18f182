"""The compiled pipeline YAML: tasks wired in order, one pinned trainer image everywhere, the train
step as a Vertex AI CustomJob with run-time machine parameters (or in its task, for local runs)."""

import yaml
from click.testing import CliRunner
from recs_pipeline import __version__
from recs_pipeline.cli import main
from recs_pipeline.core.config import TrainConfig
from recs_pipeline.vertex.image import TRAINER_IMAGE


def compile_with(tmp_path, *extra):
    output = tmp_path / "pipeline.yaml"
    result = CliRunner().invoke(main, ["compile", "--output", str(output), *extra])
    assert result.exit_code == 0, result.output
    return yaml.safe_load(output.read_text())


def test_tasks_in_order_with_the_train_step_as_a_custom_job(tmp_path):
    spec = compile_with(tmp_path)
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"data-prep", "train-job-spec", "custom-training-job", "evaluate", "publish-metrics", "condition-1"}
    assert "dependentTasks" not in tasks["data-prep"]
    assert tasks["data-prep"]["cachingOptions"] == {"enableCache": True}  # cached on its inputs and parameters
    assert tasks["train-job-spec"]["dependentTasks"] == ["data-prep"]
    assert tasks["custom-training-job"]["dependentTasks"] == ["train-job-spec"]
    assert set(tasks["evaluate"]["dependentTasks"]) == {"data-prep", "train-job-spec", "custom-training-job"}
    assert set(tasks["publish-metrics"]["dependentTasks"]) == {"data-prep", "train-job-spec", "evaluate"}
    for name in ("train-job-spec", "custom-training-job"):
        assert tasks[name]["cachingOptions"] == {}  # training is never served from cache


def test_machine_gpus_replicas_and_spot_are_run_time_parameters(tmp_path):
    """Not baked into worker_pool_specs at compile time (kubeflow/pipelines #11504): the spec step
    reads them as inputs and hands its output to CustomTrainingJobOp."""
    spec = compile_with(tmp_path)
    tasks = spec["root"]["dag"]["tasks"]
    spec_inputs = tasks["train-job-spec"]["inputs"]["parameters"]
    for name in ("machine_type", "accelerator_type", "accelerator_count", "replica_count"):
        assert spec_inputs[name] == {"componentInputParameter": name}
    job = tasks["custom-training-job"]["inputs"]["parameters"]
    assert job["worker_pool_specs"] == {"taskOutputParameter": {"outputParameterKey": "Output", "producerTask": "train-job-spec"}}
    assert job["strategy"] == {"componentInputParameter": "scheduling_strategy"}
    assert job["restart_job_on_worker_restart"]["runtimeValue"]["constant"] is True
    assert spec_inputs["trainer_image"]["runtimeValue"]["constant"] == TRAINER_IMAGE
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["replica_count"]["defaultValue"] == 1 and parameters["scheduling_strategy"]["defaultValue"] == "STANDARD"


def test_the_local_variant_trains_in_its_task(tmp_path):
    spec = compile_with(tmp_path, "--trainer", "task")
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"data-prep", "train", "evaluate", "publish-metrics", "condition-1"}
    assert tasks["train"]["cachingOptions"] == {}
    assert set(tasks["evaluate"]["dependentTasks"]) == {"data-prep", "train"}


def test_every_training_setting_is_a_flag_and_a_pipeline_parameter(tmp_path):
    """Hyper-parameters are the same everywhere: `train` and `run-local` flags, pipeline
    parameters, and the inputs of both train components (in-task and CustomJob spec)."""
    import dataclasses

    from recs_pipeline.core.config import TrainConfig

    settings = {f.name for f in dataclasses.fields(TrainConfig)}
    for command in ("train", "run-local"):
        flags = {p.name for p in main.commands[command].params}
        assert settings <= flags, settings - flags
    spec = compile_with(tmp_path)
    assert settings <= set(spec["root"]["inputDefinitions"]["parameters"])
    job_inputs = spec["root"]["dag"]["tasks"]["train-job-spec"]["inputs"]["parameters"]
    assert all(job_inputs[name] == {"componentInputParameter": name} for name in settings)
    local = compile_with(tmp_path, "--trainer", "task")["root"]["dag"]["tasks"]["train"]["inputs"]["parameters"]
    assert all(local[name] == {"componentInputParameter": name} for name in settings)


def test_one_pinned_image_in_every_executor(tmp_path):
    spec = compile_with(tmp_path)
    executors = spec["deploymentSpec"]["executors"]
    images = {name: executor["container"]["image"] for name, executor in executors.items()}
    for gcpc in ("exec-model-upload", "exec-custom-training-job"):
        assert images.pop(gcpc).startswith("gcr.io/ml-pipeline/google-cloud-pipeline-components:")
    assert len(images) == 5 and set(images.values()) == {TRAINER_IMAGE}
    assert TRAINER_IMAGE.endswith(f":{__version__}") and "latest" not in TRAINER_IMAGE
    for executor in executors.values():
        assert "pip install" not in " ".join(executor["container"]["command"])  # the image carries everything


def test_image_override(tmp_path):
    spec = compile_with(tmp_path, "--image", "example.com/team/trainer:1.2.3")
    gcpc = ("exec-model-upload", "exec-custom-training-job")
    images = {n: e["container"]["image"] for n, e in spec["deploymentSpec"]["executors"].items() if n not in gcpc}
    assert set(images.values()) == {"example.com/team/trainer:1.2.3"}


def test_pipeline_parameters_cover_data_and_training(tmp_path):
    parameters = compile_with(tmp_path)["root"]["inputDefinitions"]["parameters"]
    assert {"input_uri", "epochs", "batch_size", "learning_rate", "seed", "metrics_uri", "run_id"} <= set(parameters)
    assert parameters["epochs"]["defaultValue"] == TrainConfig().epochs


def test_data_options_are_the_same_everywhere(tmp_path):
    """Every PrepConfig setting is a pipeline parameter and a flag of both `prepare` and `run-local`."""
    import dataclasses

    from recs_pipeline.core.config import PrepConfig

    settings = {f.name for f in dataclasses.fields(PrepConfig)}
    parameters = set(compile_with(tmp_path)["root"]["inputDefinitions"]["parameters"])
    assert settings <= parameters
    for command in ("prepare", "run-local"):
        flags = {p.name for p in main.commands[command].params}
        assert settings <= flags | {"seed"}, settings - flags
        assert "input_uri" in flags


def test_pipeline_defaults_equal_the_config_defaults(tmp_path):
    """KFP needs literal defaults in the signatures; they must not drift from the config classes."""
    import dataclasses

    from recs_pipeline.core.config import PrepConfig, TrainConfig

    parameters = compile_with(tmp_path)["root"]["inputDefinitions"]["parameters"]
    for config in (PrepConfig(), TrainConfig()):
        for field in dataclasses.fields(config):
            if field.name in parameters and "defaultValue" in parameters[field.name]:
                expected = getattr(config, field.name)
                if isinstance(expected, tuple):
                    expected = ",".join(expected)
                assert parameters[field.name]["defaultValue"] == expected, field.name


def test_model_upload_runs_only_when_asked_with_the_trained_serving_model(tmp_path):
    from recs_pipeline.vertex.registry import DEFAULT_SERVING_IMAGE

    spec = compile_with(tmp_path)
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["register_model"]["defaultValue"] is False
    assert parameters["serving_image"]["defaultValue"] == DEFAULT_SERVING_IMAGE
    condition = spec["root"]["dag"]["tasks"]["condition-1"]
    assert condition["triggerPolicy"]["condition"] == "inputs.parameter_values['pipelinechannel--register_model'] == true"
    assert condition["inputs"]["artifacts"]["pipelinechannel--train-job-spec-serving_model"]["taskOutputArtifact"] == {
        "outputArtifactKey": "serving_model", "producerTask": "train-job-spec"}
    inner = spec["components"]["comp-condition-1"]["dag"]["tasks"]
    upload = inner["model-upload"]
    assert upload["inputs"]["artifacts"]["unmanaged_container_model"]["componentInputArtifact"] == "pipelinechannel--train-job-spec-serving_model"
    for name in ("display_name", "description", "labels"):
        assert upload["inputs"]["parameters"][name]["taskOutputParameter"] == {"outputParameterKey": name, "producerTask": "registry-entry"}
    assert upload["inputs"]["parameters"]["location"]["runtimeValue"]["constant"] == "{{$.pipeline_google_cloud_location}}"
    entry = inner["registry-entry"]["inputs"]["artifacts"]["training_metrics"]["componentInputArtifact"]
    assert entry == "pipelinechannel--publish-metrics-training_metrics"  # registered only after publish
    for component in ("comp-train-job-spec",):
        inputs = spec["components"][component]["inputDefinitions"]["parameters"]
        assert inputs["serving_image"]["defaultValue"] == DEFAULT_SERVING_IMAGE
        outputs = spec["components"][component]["outputDefinitions"]["artifacts"]
        assert outputs["serving_model"]["artifactType"]["schemaTitle"] == "google.UnmanagedContainerModel"
    local = compile_with(tmp_path, "--trainer", "task")["components"]["comp-train"]
    assert local["inputDefinitions"]["parameters"]["serving_image"]["defaultValue"] == DEFAULT_SERVING_IMAGE


def test_component_defaults_equal_the_config_defaults():
    """The train components' signatures repeat every TrainConfig default for KFP; they must not drift."""
    import dataclasses
    import inspect

    from recs_pipeline.components.train import train
    from recs_pipeline.components.train_job_spec import train_job_spec

    for component in (train, train_job_spec):
        parameters = inspect.signature(component).parameters
        for field in dataclasses.fields(TrainConfig):
            assert parameters[field.name].default == field.default, (component.__name__, field.name)
