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
    assert set(tasks) == {"data-prep", "train", "evaluate", "publish-metrics"}
    assert "dependentTasks" not in tasks["data-prep"]
    assert tasks["train"]["dependentTasks"] == ["data-prep"]
    assert set(tasks["evaluate"]["dependentTasks"]) == {"data-prep", "train"}
    assert set(tasks["publish-metrics"]["dependentTasks"]) == {"data-prep", "train", "evaluate"}
    assert tasks["train"]["cachingOptions"] == {}  # train is never served from cache


def test_one_pinned_image_in_every_executor(tmp_path):
    spec = compile_with(tmp_path)
    executors = spec["deploymentSpec"]["executors"]
    images = {executor["container"]["image"] for executor in executors.values()}
    assert len(executors) == 4 and images == {TRAINER_IMAGE}
    assert TRAINER_IMAGE.endswith(f":{__version__}") and "latest" not in TRAINER_IMAGE
    for executor in executors.values():
        assert "pip install" not in " ".join(executor["container"]["command"])  # the image carries everything


def test_image_override(tmp_path):
    spec = compile_with(tmp_path, "--image", "example.com/team/trainer:1.2.3")
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {"example.com/team/trainer:1.2.3"}


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
