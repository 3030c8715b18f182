"""The compiled pipeline YAML: four tasks wired in order, one pinned image everywhere."""

import yaml
from click.testing import CliRunner

from recs_pipeline import __version__
from recs_pipeline.cli import main
from recs_pipeline.image import TRAINER_IMAGE


def compile_with(tmp_path, *extra):
    output = tmp_path / "pipeline.yaml"
    result = CliRunner().invoke(main, ["compile", "--output", str(output), *extra])
    assert result.exit_code == 0, result.output
    return yaml.safe_load(output.read_text())


def test_four_tasks_in_order(tmp_path):
    spec = compile_with(tmp_path)
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"data-prep", "train", "evaluate", "publish-metrics", "condition-1"}
    assert "dependentTasks" not in tasks["data-prep"]
    assert tasks["train"]["dependentTasks"] == ["data-prep"]
    assert set(tasks["evaluate"]["dependentTasks"]) == {"data-prep", "train"}
    assert set(tasks["publish-metrics"]["dependentTasks"]) == {"data-prep", "train", "evaluate"}
    assert tasks["train"]["cachingOptions"] == {}  # train is never served from cache


def test_one_pinned_image_in_every_executor(tmp_path):
    spec = compile_with(tmp_path)
    executors = spec["deploymentSpec"]["executors"]
    images = {name: executor["container"]["image"] for name, executor in executors.items()}
    upload_image = images.pop("exec-model-upload")
    assert upload_image.startswith("gcr.io/ml-pipeline/google-cloud-pipeline-components:")
    assert len(images) == 5 and set(images.values()) == {TRAINER_IMAGE}
    assert TRAINER_IMAGE.endswith(f":{__version__}") and "latest" not in TRAINER_IMAGE
    for executor in executors.values():
        assert "pip install" not in " ".join(executor["container"]["command"])  # the image carries everything


def test_image_override(tmp_path):
    spec = compile_with(tmp_path, "--image", "example.com/team/trainer:1.2.3")
    images = {n: e["container"]["image"] for n, e in spec["deploymentSpec"]["executors"].items() if n != "exec-model-upload"}
    assert set(images.values()) == {"example.com/team/trainer:1.2.3"}


def test_pipeline_parameters_cover_data_and_training(tmp_path):
    parameters = compile_with(tmp_path)["root"]["inputDefinitions"]["parameters"]
    assert {"input_uri", "epochs", "batch_size", "learning_rate", "seed", "metrics_uri", "run_id"} <= set(parameters)
    assert parameters["epochs"]["defaultValue"] == 5


def test_data_options_are_the_same_everywhere(tmp_path):
    """Every PrepConfig setting is a pipeline parameter and a flag of both `prepare` and `run-local`."""
    import dataclasses

    from recs_pipeline.config import PrepConfig

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

    from recs_pipeline.config import PrepConfig, TrainConfig

    parameters = compile_with(tmp_path)["root"]["inputDefinitions"]["parameters"]
    for config in (PrepConfig(), TrainConfig()):
        for field in dataclasses.fields(config):
            if field.name in parameters and "defaultValue" in parameters[field.name]:
                expected = getattr(config, field.name)
                if isinstance(expected, tuple):
                    expected = ",".join(expected)
                assert parameters[field.name]["defaultValue"] == expected, field.name


def test_model_upload_runs_only_when_asked_with_the_trained_serving_model(tmp_path):
    from recs_pipeline.registry import DEFAULT_SERVING_IMAGE

    spec = compile_with(tmp_path)
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert parameters["register_model"]["defaultValue"] is False
    assert parameters["serving_image"]["defaultValue"] == DEFAULT_SERVING_IMAGE
    condition = spec["root"]["dag"]["tasks"]["condition-1"]
    assert condition["triggerPolicy"]["condition"] == "inputs.parameter_values['pipelinechannel--register_model'] == true"
    assert condition["inputs"]["artifacts"]["pipelinechannel--train-serving_model"]["taskOutputArtifact"] == {
        "outputArtifactKey": "serving_model", "producerTask": "train"}
    inner = spec["components"]["comp-condition-1"]["dag"]["tasks"]
    upload = inner["model-upload"]
    assert upload["inputs"]["artifacts"]["unmanaged_container_model"]["componentInputArtifact"] == "pipelinechannel--train-serving_model"
    for name in ("display_name", "description", "labels"):
        assert upload["inputs"]["parameters"][name]["taskOutputParameter"] == {"outputParameterKey": name, "producerTask": "registry-entry"}
    assert upload["inputs"]["parameters"]["location"]["runtimeValue"]["constant"] == "{{$.pipeline_google_cloud_location}}"
    entry = inner["registry-entry"]["inputs"]["artifacts"]["training_metrics"]["componentInputArtifact"]
    assert entry == "pipelinechannel--publish-metrics-training_metrics"  # registered only after publish
    train_inputs = spec["components"]["comp-train"]["inputDefinitions"]["parameters"]
    assert train_inputs["serving_image"]["defaultValue"] == DEFAULT_SERVING_IMAGE
    assert spec["components"]["comp-train"]["outputDefinitions"]["artifacts"]["serving_model"]["artifactType"]["schemaTitle"] == "google.UnmanagedContainerModel"
