"""The training settings are declared once (core.config: TrainConfig's fields and TRAIN_HELP); KFP
needs literal signatures and docstrings, so each place that writes them out is checked against
that declaration here, the message naming the field and the place."""

import ast
from dataclasses import fields
from pathlib import Path

import docstring_parser
import pytest
from click.testing import CliRunner
from recs_pipeline.cli import options
from recs_pipeline.core.config import RUN_HELP, TRAIN_HELP, TrainConfig, train_fields
from recs_pipeline.vertex.custom_job import train_arguments

ROOT = Path(__file__).resolve().parents[2]
# (file, function): every place whose signature spells out the training settings
SIGNATURES = [("components/train.py", "train"), ("components/train_job_spec.py", "train_job_spec"),
              ("pipelines/pipeline.py", "two_tower_pipeline")]


def signature(relative: str, name: str) -> tuple[dict[str, tuple[str, object]], dict[str, str]]:
    """{parameter: (annotation, default)} and {parameter: docstring description} of a function in a file."""
    tree = ast.parse((ROOT / relative).read_text())
    [function] = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == name]
    arguments = function.args.args
    defaults = [None] * (len(arguments) - len(function.args.defaults)) + function.args.defaults
    parameters = {arg.arg: (ast.unparse(arg.annotation), ast.literal_eval(default) if default is not None and not isinstance(
        default, (ast.Name, ast.Attribute)) else default) for arg, default in zip(arguments, defaults)}
    described = {p.arg_name: " ".join(p.description.split()) for p in docstring_parser.parse(ast.get_docstring(function)).params}
    return parameters, described


def test_every_training_setting_has_one_help_text():
    assert set(TRAIN_HELP) == set(train_fields())


@pytest.mark.parametrize("relative, name", SIGNATURES, ids=[name for _, name in SIGNATURES])
def test_each_signature_spells_every_training_setting_as_declared(relative, name):
    parameters, described = signature(relative, name)
    wrong = []
    for field in fields(TrainConfig):
        if field.name not in parameters:
            wrong.append(f"{relative}:{name} lacks the setting {field.name}")
            continue
        annotation, default = parameters[field.name]
        if annotation != type(field.default).__name__ or default != field.default or type(default) is not type(field.default):
            declared = f"{type(field.default).__name__} = {field.default!r}"
            wrong.append(f"{relative}:{name} {field.name}: {annotation} = {default!r}, declared {declared}")
        if described.get(field.name) != TRAIN_HELP[field.name]:
            wrong.append(f"{relative}:{name} {field.name}: described {described.get(field.name)!r}, declared {TRAIN_HELP[field.name]!r}")
    for setting, text in RUN_HELP.items():
        if described.get(setting) != text:
            wrong.append(f"{relative}:{name} {setting}: described {described.get(setting)!r}, declared {text!r}")
    assert wrong == []


def test_the_custom_job_arguments_parse_back_to_the_same_config(tmp_path):
    import click

    config = TrainConfig(epochs=3, learning_rate=0.01, pool_history=True, buy_again=False, exclude_seen="true", optimizer="sgd")
    seen = {}

    @click.command()
    @click.option("--prepared-dir")
    @click.option("--model-dir")
    @click.option("--training-log-dir")
    @click.option("--serving-dir")
    @click.option("--run-id")
    @click.option("--metrics-uri")
    @options.train_options
    def command(**values):
        seen.update(values)

    arguments = train_arguments(str(tmp_path), "m", "h", "s", config, "run-7", "gs://b/metrics")
    result = CliRunner().invoke(command, arguments)
    assert result.exit_code == 0, result.output
    assert TrainConfig.from_settings(seen) == config


def test_the_data_settings_are_described_as_declared_wherever_kfp_needs_them_written_out():
    """KFP needs literal docstrings, so the data_prep component, the input fingerprint and the pipeline each
    write the data settings' Args out: each reads as PREP_HELP declares it."""
    from recs_pipeline.core.config import PREP_HELP, SYNTHETIC_HELP, SYNTHETIC_SIZES, PrepConfig

    assert set(PREP_HELP) == {field.name for field in fields(PrepConfig)}
    places = [("components/data_prep.py", "data_prep"), ("components/input_fingerprint.py", "input_fingerprint"),
              ("pipelines/pipeline.py", "two_tower_pipeline")]
    wrong = []
    for relative, name in places:
        parameters, described = signature(relative, name)
        for field in fields(PrepConfig):
            if field.name in described and described[field.name] != PREP_HELP[field.name]:
                wrong.append(f"{relative}:{name} {field.name}: described {described[field.name]!r}, declared {PREP_HELP[field.name]!r}")
        for setting, size in SYNTHETIC_SIZES.items() if "synthetic_purchases" in parameters else ():
            if parameters[setting] != ("int", size) or described.get(setting) != SYNTHETIC_HELP[setting]:
                wrong.append(f"{relative}:{name} {setting}: {parameters[setting]}, {described.get(setting)!r}")
    assert wrong == []


@pytest.mark.parametrize("command, settings", [("train", "training"), ("run-local", "training"), ("prepare", "data"),
                                               ("run-local", "data")])
def test_the_cli_flags_are_the_fields(command, settings):
    from recs_pipeline.cli.commands import main
    from recs_pipeline.cli.options import help_text
    from recs_pipeline.core.config import PREP_HELP, PrepConfig

    config, helps = (TrainConfig, TRAIN_HELP) if settings == "training" else (PrepConfig, PREP_HELP)
    flags = {parameter.name: parameter for parameter in main.commands[command].params}
    for field in fields(config):
        if config is PrepConfig and field.name == "seed":  # the training settings' flag (TRAIN_HELP), one seed for both
            continue
        assert field.name in flags, f"recs-pipeline {command} lacks --{field.name.replace('_', '-')}"
        default = ",".join(field.default) if isinstance(field.default, tuple) else field.default
        assert flags[field.name].default == default and flags[field.name].help == help_text(helps[field.name]), field.name
