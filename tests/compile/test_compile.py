"""The compiled pipeline YAML: tasks wired in order, one pinned trainer image everywhere, the train
step as a Vertex AI CustomJob with run-time machine parameters (or in its task, for local runs)."""

from pathlib import Path

import yaml
from click.testing import CliRunner
from recs_pipeline import __version__
from recs_pipeline.cli import main
from recs_pipeline.core.config import TrainConfig
from recs_pipeline.vertex.image import TRAINER_IMAGE

ROOT = Path(__file__).resolve().parents[2]


def compile_with(tmp_path, *extra):
    output = tmp_path / "pipeline.yaml"
    result = CliRunner().invoke(main, ["compile", "--output", str(output), *extra])
    assert result.exit_code == 0, result.output
    return yaml.safe_load(output.read_text())


def test_tasks_in_order_with_the_train_step_as_a_custom_job(tmp_path):
    spec = compile_with(tmp_path)
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"input-fingerprint", "data-prep", "train-job-spec", "custom-training-job", "train-outputs", "evaluate",
                          "publish-metrics", "condition-1"}
    assert "dependentTasks" not in tasks["input-fingerprint"]
    assert tasks["data-prep"]["dependentTasks"] == ["input-fingerprint"]
    assert tasks["train-job-spec"]["dependentTasks"] == ["data-prep"]
    assert tasks["custom-training-job"]["dependentTasks"] == ["train-job-spec"]
    assert set(tasks["train-outputs"]["dependentTasks"]) == {"train-job-spec", "custom-training-job"}
    assert set(tasks["evaluate"]["dependentTasks"]) == {"data-prep", "train-outputs"}
    assert set(tasks["publish-metrics"]["dependentTasks"]) == {"data-prep", "train-outputs", "evaluate"}


def test_changed_input_files_are_prepared_again_and_unchanged_ones_come_from_cache(tmp_path):
    """Vertex's cache key is a task's inputs. data_prep is cached, and one of its inputs is the
    fingerprint of the input files from a task that is never cached, so a scheduled run on
    rewritten files has a new key (tests/gcs/test_gcs_input.py shows the fingerprint changes).
    Steps with effects outside the pipeline root (publish, registry) and training never cache."""
    spec = compile_with(tmp_path)
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["input-fingerprint"]["cachingOptions"] == {}
    assert tasks["input-fingerprint"]["inputs"]["parameters"]["input_uri"] == {"componentInputParameter": "input_uri"}
    assert tasks["data-prep"]["cachingOptions"] == {"enableCache": True}
    assert tasks["data-prep"]["inputs"]["parameters"]["input_fingerprint"] == {
        "taskOutputParameter": {"outputParameterKey": "Output", "producerTask": "input-fingerprint"}}
    assert tasks["evaluate"]["cachingOptions"] == {"enableCache": True}  # a pure function of new artifacts
    for name in ("train-job-spec", "custom-training-job", "train-outputs", "publish-metrics"):
        assert tasks[name]["cachingOptions"] == {}, name
    inner = spec["components"]["comp-condition-1"]["dag"]["tasks"]
    assert inner["registry-entry"]["cachingOptions"] == {}


def test_lineage_starts_at_the_task_that_trained(tmp_path):
    """The model, serving model and history are outputs of train_outputs, which runs after the
    CustomJob and reads their metadata from the finished run; train_job_spec, which runs before
    training, produces only the job folder."""
    spec = compile_with(tmp_path)
    tasks = spec["root"]["dag"]["tasks"]
    assert set(spec["components"]["comp-train-job-spec"]["outputDefinitions"]["artifacts"]) == {"job_dir"}
    outputs = spec["components"]["comp-train-outputs"]["outputDefinitions"]["artifacts"]
    assert set(outputs) == {"model", "serving_model", "training_log"}
    assert outputs["serving_model"]["artifactType"]["schemaTitle"] == "google.UnmanagedContainerModel"
    assert tasks["train-outputs"]["inputs"]["artifacts"]["job_dir"] == {
        "taskOutputArtifact": {"outputArtifactKey": "job_dir", "producerTask": "train-job-spec"}}
    for consumer, name in (("evaluate", "model"), ("evaluate", "training_log"), ("publish-metrics", "training_log")):
        assert tasks[consumer]["inputs"]["artifacts"][name] == {
            "taskOutputArtifact": {"outputArtifactKey": name, "producerTask": "train-outputs"}}
    condition = spec["root"]["dag"]["tasks"]["condition-1"]["inputs"]["artifacts"]
    assert condition["pipelinechannel--train-outputs-serving_model"]["taskOutputArtifact"]["producerTask"] == "train-outputs"


# (component, parameter): a pipeline parameter a component uses for something else than the pipeline's description says
OWN_WORDS = {("comp-registry-entry", "metrics_uri")}  # the entry only links to where the training log was written


def test_every_parameter_and_input_has_a_description(tmp_path):
    """The console shows these; the same pipeline parameter reads the same in every component."""
    for trainer in ("custom-job", "task"):
        spec = compile_with(tmp_path, "--trainer", trainer)
        pipeline = spec["root"]["inputDefinitions"]["parameters"]
        assert [name for name, entry in pipeline.items() if not entry.get("description")] == []
        for component, body in spec["components"].items():
            if component.startswith(("comp-condition", "comp-importer")):
                continue  # made by the compiler: channels of the parameters above
            inputs = body.get("inputDefinitions", {})
            entries = {**inputs.get("parameters", {}), **inputs.get("artifacts", {})}
            assert [name for name, entry in entries.items() if not entry.get("description")] == [], component
            if component.startswith(("comp-custom-training-job", "comp-model-upload")):
                continue  # GCPC's own descriptions
            for name, entry in inputs.get("parameters", {}).items():
                if name in pipeline and (component, name) not in OWN_WORDS:
                    assert entry["description"].split() == pipeline[name]["description"].split(), (component, name)
        # one line each: the console would show a wrapped docstring's breaks mid-sentence
        described = [entry["description"] for body in (spec["root"], *spec["components"].values())
                     for side in ("inputDefinitions", "outputDefinitions") for kind in ("parameters", "artifacts")
                     for entry in body.get(side, {}).get(kind, {}).values() if "description" in entry]
        assert len(described) > 100 and [text for text in described if "\n" in text or "  " in text] == []


def test_machine_gpus_replicas_and_spot_are_run_time_parameters(tmp_path):
    """Not baked into worker_pool_specs at compile time (kubeflow/pipelines #11504): the spec step
    reads them as inputs and hands its output to CustomTrainingJobOp."""
    spec = compile_with(tmp_path)
    tasks = spec["root"]["dag"]["tasks"]
    spec_inputs = tasks["train-job-spec"]["inputs"]["parameters"]
    for name in ("machine_type", "accelerator_type", "accelerator_count", "replica_count"):
        assert spec_inputs[name] == {"componentInputParameter": name}
    job = tasks["custom-training-job"]["inputs"]["parameters"]
    assert job["worker_pool_specs"] == {
        "taskOutputParameter": {"outputParameterKey": "worker_pool_specs", "producerTask": "train-job-spec"}}
    assert job["strategy"] == {"componentInputParameter": "scheduling_strategy"}
    assert job["restart_job_on_worker_restart"]["runtimeValue"]["constant"] is True
    assert spec_inputs["trainer_image"]["runtimeValue"]["constant"] == TRAINER_IMAGE
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["replica_count"]["defaultValue"] == 1 and parameters["scheduling_strategy"]["defaultValue"] == "STANDARD"


def test_the_local_variant_trains_in_its_task(tmp_path):
    spec = compile_with(tmp_path, "--trainer", "task")
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"input-fingerprint", "data-prep", "train", "evaluate", "publish-metrics", "condition-1"}
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
    images = {name: executor["container"]["image"] for name, executor in executors.items() if "container" in executor}
    for gcpc in ("exec-model-upload", "exec-model-upload-2", "exec-custom-training-job"):
        assert images.pop(gcpc).startswith("gcr.io/ml-pipeline/google-cloud-pipeline-components:")
    assert len(images) == 7 and set(images.values()) == {TRAINER_IMAGE}
    assert TRAINER_IMAGE.endswith(f":{__version__}") and "latest" not in TRAINER_IMAGE
    for executor in executors.values():
        assert "pip install" not in " ".join(executor.get("container", {}).get("command", []))  # the image carries everything


def test_image_override(tmp_path):
    spec = compile_with(tmp_path, "--image", "example.com/team/trainer:1.2.3")
    gcpc = ("exec-model-upload", "exec-model-upload-2", "exec-custom-training-job", "exec-importer")
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


def test_model_upload_runs_only_when_asked_and_when_the_model_passes_the_gate(tmp_path):
    from recs_pipeline.vertex.registry import DEFAULT_SERVING_IMAGE

    spec = compile_with(tmp_path)
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["register_model"]["defaultValue"] is False
    assert parameters["require_beating_baselines"]["defaultValue"] is True and parameters["parent_model"]["defaultValue"] == ""
    assert parameters["serving_image"]["defaultValue"] == DEFAULT_SERVING_IMAGE
    condition = spec["root"]["dag"]["tasks"]["condition-1"]
    assert condition["triggerPolicy"]["condition"] == "inputs.parameter_values['pipelinechannel--register_model'] == true"
    components = spec["components"]
    inner = components["comp-condition-1"]["dag"]["tasks"]
    entry = inner["registry-entry"]["inputs"]["artifacts"]
    assert entry["training_metrics"]["componentInputArtifact"] == "pipelinechannel--publish-metrics-training_metrics"  # only after publish
    assert entry["serving_model"]["componentInputArtifact"] == "pipelinechannel--train-outputs-serving_model"
    assert inner["condition-2"]["triggerPolicy"]["condition"] == (
        "inputs.parameter_values['pipelinechannel--registry-entry-register'] == true")
    branches = components["comp-condition-branches-3"]["dag"]["tasks"]
    assert branches["condition-4"]["triggerPolicy"]["condition"] == "inputs.parameter_values['pipelinechannel--parent_model'] == ''"
    new_model = components["comp-condition-4"]["dag"]["tasks"]["model-upload"]
    new_version = components["comp-condition-5"]["dag"]["tasks"]
    for upload in (new_model, new_version["model-upload-2"]):
        assert upload["inputs"]["artifacts"]["unmanaged_container_model"]["componentInputArtifact"] == (
            "pipelinechannel--registry-entry-registered_model")
        for name in ("display_name", "description", "labels", "version_aliases"):
            assert upload["inputs"]["parameters"][name]["componentInputParameter"] == f"pipelinechannel--registry-entry-{name}"
        assert upload["inputs"]["parameters"]["location"]["runtimeValue"]["constant"] == "{{$.pipeline_google_cloud_location}}"
        assert upload["inputs"]["parameters"]["encryption_spec_key_name"]["runtimeValue"]["constant"] == (
            "{{$.pipeline_encryption_key_name}}")
    assert "parent_model" not in new_model["inputs"]["artifacts"]
    assert new_version["model-upload-2"]["inputs"]["artifacts"]["parent_model"]["taskOutputArtifact"]["producerTask"] == "importer"
    importer = spec["deploymentSpec"]["executors"]["exec-importer"]["importer"]
    assert importer["typeSchema"]["schemaTitle"] == "google.VertexModel"
    assert importer["metadata"] == {"resourceName": "{{$.inputs.parameters['metadata']}}"}  # what ModelUploadOp reads
    assert new_version["importer"]["inputs"]["parameters"]["metadata"] == {"componentInputParameter": "pipelinechannel--parent_model"}
    assert components["comp-train-outputs"]["inputDefinitions"]["parameters"]["serving_image"]["defaultValue"] == DEFAULT_SERVING_IMAGE
    local = compile_with(tmp_path, "--trainer", "task")["components"]["comp-train"]
    assert local["inputDefinitions"]["parameters"]["serving_image"]["defaultValue"] == DEFAULT_SERVING_IMAGE


def test_the_custom_job_gets_network_key_service_account_and_labels_from_the_run(tmp_path):
    """Vertex fills these placeholders from the PipelineJob (submit --network, --encryption-spec-key-name,
    --service-account); the labels come from train_job_spec. The strings are GCPC's own."""
    from google_cloud_pipeline_components import _placeholders as gcpc
    from recs_pipeline.vertex import placeholders

    assert (placeholders.LOCATION, placeholders.SERVICE_ACCOUNT, placeholders.NETWORK, placeholders.ENCRYPTION_KEY_NAME) == (
        gcpc.LOCATION_PLACEHOLDER, gcpc.SERVICE_ACCOUNT_PLACEHOLDER, gcpc.NETWORK_PLACEHOLDER,
        gcpc.ENCRYPTION_SPEC_KMS_KEY_NAME_PLACEHOLDER)
    job = compile_with(tmp_path)["root"]["dag"]["tasks"]["custom-training-job"]["inputs"]["parameters"]
    for name, value in (("network", placeholders.NETWORK), ("encryption_spec_key_name", placeholders.ENCRYPTION_KEY_NAME),
                        ("service_account", placeholders.SERVICE_ACCOUNT), ("location", placeholders.LOCATION)):
        assert job[name]["runtimeValue"]["constant"] == value, name
    assert job["labels"] == {"taskOutputParameter": {"outputParameterKey": "labels", "producerTask": "train-job-spec"}}
    sources = [path.read_text() for folder in ("pipelines", "components") for path in (ROOT / folder).glob("*.py")]
    assert not any("_placeholders" in text for text in sources)  # GCPC's private module


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
