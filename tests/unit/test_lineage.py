"""The CustomJob path without Vertex: train_job_spec's arguments run through `recs-pipeline train`
(what every replica runs), then train_outputs publishes the job's folders, with metadata from
the finished run rather than from the settings it started with."""

import json

import pytest
from click.testing import CliRunner
from google_cloud_pipeline_components.types.artifact_types import UnmanagedContainerModel
from kfp import dsl
from recs_pipeline.cli import main
from recs_pipeline.components.train_job_spec import train_job_spec
from recs_pipeline.components.train_outputs import train_outputs
from recs_pipeline.vertex.lineage import TrainingNotFinishedError

TINY = dict(batch_size=256, embedding_dim=8, feature_embedding_dim=4, histogram_bins=10)


def spec_and_outputs(tmp_path):
    return (dsl.Artifact(uri=str(tmp_path / "job")), dsl.Model(uri=str(tmp_path / "reserved" / "model")),
            UnmanagedContainerModel(uri=str(tmp_path / "reserved" / "serving_model")),
            dsl.Artifact(uri=str(tmp_path / "reserved" / "history")))


def test_the_artifacts_point_at_what_the_job_wrote_with_the_runs_own_figures(prepared_dir, tmp_path):
    job_dir, model, serving, history = spec_and_outputs(tmp_path)
    specs, labels, base_output = train_job_spec(dsl.Dataset(uri=prepared_dir), job_dir, "img:1-gpu", epochs=3, early_stopping_patience=1,
                                                learning_rate=0.05, run_id="weekly-7", pipeline_job_name="two-tower-retrieval-20261202",
                                                **TINY)
    assert base_output == str(tmp_path / "job") + "/vertex"  # the CustomJob's base_output_directory, in the job's folder
    assert labels == {"source": "recs-pipeline", "run-id": "weekly-7", "pipeline-job": "two-tower-retrieval-20261202"}
    trained = CliRunner().invoke(main, ["train", *specs[0]["container_spec"]["args"]])
    assert trained.exit_code == 0, trained.output

    train_outputs(job_dir, model, serving, history, serving_image="tf-serving:2")
    status = json.loads((tmp_path / "job" / "training_log" / "training_status.json").read_text())
    document = json.loads((tmp_path / "job" / "training_log" / "training_metrics.json").read_text())
    for name, artifact in (("model", model), ("serving_model", serving), ("training_log", history)):
        assert artifact.uri == str(tmp_path / "job" / name)  # no copy: the folder the job wrote
        assert artifact.metadata["epochs_run"] == status["epochs_done"] == len(document["epochs"])
        assert artifact.metadata["epochs_max"] == 3
        assert artifact.metadata["best_epoch"] == document["final_metrics"]["best_epoch"]
        assert artifact.metadata["run_id"] == "weekly-7"
    assert (tmp_path / "job" / "serving_model" / "saved_model.pb").exists()
    assert serving.metadata["containerSpec"] == {"imageUri": "tf-serving:2"}


def test_a_job_that_did_not_complete_fails_the_step_naming_why(tmp_path):
    job_dir, model, serving, history = spec_and_outputs(tmp_path)
    with pytest.raises(TrainingNotFinishedError, match="no training history"):
        train_outputs(job_dir, model, serving, history)
    folder = tmp_path / "job" / "training_log"
    folder.mkdir(parents=True)
    (folder / "training_metrics.json").write_text("{}")
    (folder / "training_status.json").write_text(json.dumps({"stage": "failed", "error": "preempted after 2 epochs"}))
    with pytest.raises(TrainingNotFinishedError, match="stage 'failed', not 'completed' \\(preempted after 2 epochs\\)"):
        train_outputs(job_dir, model, serving, history)


def test_job_folders_keep_gcs_uris_intact():
    from recs_pipeline.vertex.lineage import job_folder

    assert job_folder("gs://b/root/123/train-job-spec/job_dir", "model") == "gs://b/root/123/train-job-spec/job_dir/model"
    assert job_folder("/gcs/b/root/job_dir/", "serving_model") == "/gcs/b/root/job_dir/serving_model"
