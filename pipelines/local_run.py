"""Run the compiled pipeline on this machine with kfp.local (SubprocessRunner, no Docker).

The pipeline YAML is compiled first and loaded back, so the local run executes a real pipeline
spec, task by task, each in its own process in the current environment. It is the Vertex spec
with one difference: the train step runs in its task (trainer "task") instead of as a Vertex AI
CustomJob, which needs Vertex AI.

What can be checked before a task starts is checked first (the settings, the metrics URI, a local
input's files and columns), so those mistakes cost no pipeline. While the tasks run, the console
shows their progress lines and the whole log goes to `run-local.log` in the output folder
(run_log); a failed run ends with the failed task's cause.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from recs_pipeline.core import storage
from recs_pipeline.core.config import PrepConfig, TrainConfig
from recs_pipeline.core.errors import UserError
from recs_pipeline.core.progress import console_lines
from recs_pipeline.pipelines import run_log
from recs_pipeline.pipelines.pipeline import compile_pipeline
from recs_pipeline.pipelines.run_folders import KEEP_RUNS, prune_runs
from recs_pipeline.steps import prep
from recs_pipeline.training.preemption import sigterm_forwarded

COPIED_FILES = {
    "training_metrics.json": ("publish-metrics", "training_metrics", None),
    "training_status.json": ("train", "training_log", "training_status.json"),
    "report.html": ("publish-metrics", "report", None),
}
MANIFEST_FILE = "run_manifest.json"


class LocalRunError(UserError, RuntimeError):
    """A task of the local run failed; the message names it."""


@dataclass(frozen=True)
class LocalRunResult:
    output_dir: Path
    run_dir: Path
    artifacts: dict[str, str]
    training_metrics: dict[str, Any]
    log_file: Path
    pruned: str  # what was removed from pipeline_root/, as a line to show ("" when nothing was)


def check_arguments(arguments: dict[str, Any]) -> None:
    """The run's settings, metrics URI and local input, checked here rather than in a failed task."""
    TrainConfig(**{f.name: arguments[f.name] for f in fields(TrainConfig) if f.name in arguments})
    if arguments.get("metrics_uri"):
        storage.check_uri(arguments["metrics_uri"])
    prep.check(arguments.get("input_uri", ""), {f.name: arguments[f.name] for f in fields(PrepConfig) if f.name in arguments})


def run_local(output_dir: str, arguments: dict[str, Any], verbose: bool = False, keep_runs: int = KEEP_RUNS) -> LocalRunResult:
    """Check, compile, run every task, copy the main files into `output_dir` and write the manifest;
    then keep only the newest `keep_runs` run folders of pipeline_root/ (0: all), saying so."""
    from kfp import components, local

    check_arguments(arguments)
    out = Path(output_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    pipeline_root = out / "pipeline_root"
    with run_log.capture(out, verbose) as stream:
        started = f"running the pipeline with kfp.local; full log: {out / run_log.LOG_FILE}"
        stream.console.write("".join(f"{line}\n" for line in console_lines(started)))
        yaml_path = compile_pipeline(str(out / "pipeline.yaml"), trainer="task")
        local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(pipeline_root), raise_on_error=True)
        pipeline = components.load_component_from_file(yaml_path)
        before = set(pipeline_root.glob("*")) if pipeline_root.exists() else set()
        with warnings.catch_warnings(), sigterm_forwarded() as sigterm:  # SIGTERM: the tasks flush their status, then stop
            # kfp.local warns when an image name lacks "python"; tasks run in this environment anyway.
            warnings.filterwarnings("ignore", message=".*non-Python base image.*")
            warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
            try:
                pipeline(**arguments)
            except RuntimeError as error:
                stream.close_line()
                sigterm.raise_if_received()
                if pruned := prune_runs(pipeline_root, keep_runs):
                    stream.console.write("".join(f"{line}\n" for line in console_lines(pruned)))  # the cause stays the last line
                raise LocalRunError(_cause(error, stream, out / run_log.LOG_FILE)) from error
    run_dir = _new_run_dir(pipeline_root, before)
    artifacts = _collect_artifacts(run_dir)
    for name, (task, output, inner) in COPIED_FILES.items():
        source = Path(artifacts[f"{task}.{output}"])
        if inner:
            source = source / inner
        shutil.copyfile(source, out / name)
    artifacts["pipeline_yaml"] = yaml_path
    (out / MANIFEST_FILE).write_text(json.dumps({"run_dir": str(run_dir), "artifacts": artifacts}, indent=1))
    metrics = json.loads((out / "training_metrics.json").read_text())
    return LocalRunResult(output_dir=out, run_dir=run_dir, artifacts=artifacts, training_metrics=metrics, log_file=out / run_log.LOG_FILE,
                          pruned=prune_runs(pipeline_root, keep_runs))



def _cause(error: RuntimeError, stream: run_log.RunLog, log_file: Path) -> str:
    """The failed task's own one-line cause when it gave one, else kfp's message; and where the rest is."""
    if stream.failures:
        return stream.failures[-1]
    message = run_log.plain(str(error))
    return f"{message} (the task's output is in {log_file})"


def serving_model_dir(folder: str) -> str:
    """A retrieval model folder as given, or the one a run-local output folder's manifest names."""
    return run_artifact(folder, "train.serving_model") or folder


def run_artifact(folder: str, name: str) -> str | None:
    """The artifact `name` ('<task>.<output>', e.g. train.model) a run-local output folder's manifest names; None for another folder."""
    manifest = Path(folder) / MANIFEST_FILE
    if manifest.exists():
        return json.loads(manifest.read_text())["artifacts"][name]
    return None


def _new_run_dir(pipeline_root: Path, before: set[Path]) -> Path:
    created = sorted(set(pipeline_root.glob("*")) - before, key=lambda p: p.stat().st_mtime)
    if not created:
        raise LocalRunError(f"the local run wrote nothing under {pipeline_root}")
    return created[-1]


def _collect_artifacts(run_dir: Path) -> dict[str, str]:
    """Every output artifact of the run, '<task>.<output>' → local path, from each task's executor
    output. Metrics artifacts live only as metadata; they are written out as JSON at their path so
    every entry of the manifest is a file that can be opened."""
    artifacts = {}
    for output_file in sorted(run_dir.glob("*/executor_output.json")):
        task = output_file.parent.name
        for name, entry in json.loads(output_file.read_text()).get("artifacts", {}).items():
            for artifact in entry["artifacts"]:
                path = Path(artifact["uri"])
                if not path.exists():
                    path.write_text(json.dumps(artifact.get("metadata", {}), indent=1))
                artifacts[f"{task}.{name}"] = str(path)
    return artifacts
