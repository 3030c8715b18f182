"""What the console's lineage graph says about a trained model: artifact metadata read from the
run's own files after training, never the settings it started with.

With the train step as a CustomJob, the job writes into one folder reserved by `train_job_spec`
(`JOB_FOLDERS` below); after the job, `train_outputs` publishes those folders as the `model`,
`serving_model` and `training_log` artifacts (their URIs set to the folders, no copy), with
this metadata. The in-task trainer uses the same function, so both modes say the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recs_pipeline.core import metric_keys
from recs_pipeline.core.config import resolve_run_id
from recs_pipeline.core.errors import UserError
from recs_pipeline.tracking.sink import METRICS_FILE, STATUS_FILE, expand_metrics_uri

# output name -> sub-folder of the job folder the CustomJob writes
JOB_FOLDERS = {"model": "model", "serving_model": "serving_model", "training_log": "training_log"}
FRAMEWORK = "tensorflow-recommenders"


class TrainingNotFinishedError(UserError, RuntimeError):
    """The job folder holds no completed training; the message names the folder and the stage."""


def job_folder(job_dir: str, output: str) -> str:
    """The sub-folder of `job_dir` (a local or /gcs/ path, or a gs:// URI) that holds `output`."""
    return job_dir.rstrip("/") + "/" + JOB_FOLDERS[output]


def run_metadata(training_log_dir: str) -> dict[str, Any]:
    """Epochs run and planned, the best epoch and losses, from training_status.json and
    training_metrics.json; refuses a history whose status is not `completed`."""
    folder = Path(training_log_dir)
    try:
        status = json.loads((folder / STATUS_FILE).read_text())
        history = json.loads((folder / METRICS_FILE).read_text())
    except FileNotFoundError as error:
        raise TrainingNotFinishedError(f"{folder}: no training history ({error.filename} is missing); "
                                       "the train job wrote nothing here") from error
    if status.get("stage") != "completed":
        raise TrainingNotFinishedError(f"{folder / STATUS_FILE}: stage {status.get('stage')!r}, "
                                       f"not 'completed' ({status.get('error') or 'no error recorded'})")
    final = history.get("final_metrics", {})
    metadata = {
        "framework": FRAMEWORK,
        "run_id": history.get("run_id", ""),
        "epochs_run": status.get("epochs_done"),
        "epochs_max": status.get("epochs_total"),
        **{name: final.get(name) for name in (metric_keys.BEST_EPOCH, metric_keys.BEST_VAL_LOSS, metric_keys.FINAL_LOSS,
                                                 metric_keys.FINAL_VAL_LOSS)},
    }
    return {key: value for key, value in metadata.items() if value is not None}


def resolve_run(run_id: str, pipeline_job_name: str, metrics_uri: str) -> tuple[str, str]:
    """The run's id (config.resolve_run_id) and its metrics URI with `{run_id}` replaced: resolved
    here once for every component that names the run or writes to its sink."""
    run = resolve_run_id(run_id, pipeline_job_name)
    return run, expand_metrics_uri(metrics_uri, run)
