"""The Model Registry entry: valid labels linking the run, a description that is safe JSON text."""

import json
import re

import pytest
from recs_pipeline.evaluation import ranking
from recs_pipeline.steps.publish import final_document
from recs_pipeline.tracking.collector import empty_history
from recs_pipeline.vertex.registry import label_value, registry_entry

LABEL = re.compile(r"^[a-z0-9_-]{0,63}$")


def figures(recall_at_10: float, recall_at_100: float) -> dict:
    """Ranker figures whose recall@10 and @100 are the given shares of 100 rows (named by the ranker itself)."""
    import numpy as np

    ranks = np.array([0] * round(recall_at_10 * 100) + [50] * round((recall_at_100 - recall_at_10) * 100)
                     + [5000] * (100 - round(recall_at_100 * 100)))
    return ranking.ranking_metrics(ranks).values


def published(recall_at_10: float, recall_at_100: float, popularity=(0.1, 0.3), repeat_purchase=(0.2, 0.5)) -> dict:
    """A training_metrics.json as publish_metrics writes it, from an evaluate-step result."""
    evaluation = {"model": {"loss": 1.0, **figures(recall_at_10, recall_at_100)},
                  "baselines": {"popularity": figures(*popularity), "repeat_purchase": figures(*repeat_purchase)}}
    return final_document(empty_history("r1", {}), evaluation, {"source": "orders.csv (local)"})


def test_labels_are_valid_and_link_the_run():
    entry = registry_entry("Two Tower", "Run #7 (Nightly)", "two-tower-retrieval-20261123" + "x" * 60,
                           "gs://bucket/root/publish-metrics/training_metrics", "gs://bucket/metrics/run7", {})
    assert entry["labels"]["run-id"] == "run--7--nightly-"
    assert entry["labels"]["source"] == "recs-pipeline"
    assert all(LABEL.match(value) for value in entry["labels"].values())
    assert entry["labels"]["pipeline-job"].startswith("two-tower-retrieval-20261123")


def test_description_points_to_the_history_and_quotes_recall():
    entry = registry_entry("m", "r1", "job-1", "gs://b/root/training_metrics", "gs://b/metrics/r1",
                           published(0.26, 0.56)["final_metrics"])
    assert "training_metrics.json: gs://b/root/training_metrics" in entry["description"]
    assert "copy at gs://b/metrics/r1" in entry["description"]
    assert "recall@10 0.2600" in entry["description"] and "recall@100 0.5600" in entry["description"]


def test_quotes_cannot_break_the_upload_payload():
    """ModelUploadOp pastes display name and description into a JSON string without escaping."""
    entry = registry_entry('my "model" \\ x', 'run"}, "labels": {"evil', "", "gs://b/t", "", {})
    payload = '{"display_name": "' + entry["display_name"] + '", "description": "' + entry["description"] + '"}'
    assert json.loads(payload)["description"] == entry["description"]
    assert label_value("ÄBC/def") == "-bc-def"


def run_component(tmp_path, document: dict, **settings):
    from google_cloud_pipeline_components.types.artifact_types import UnmanagedContainerModel
    from kfp import dsl
    from recs_pipeline.components.registry_entry import registry_entry as component

    history = tmp_path / "training_metrics"
    history.write_text(json.dumps(document))
    serving = UnmanagedContainerModel(uri="gs://b/root/train-outputs/serving_model",
                                      metadata={"containerSpec": {"imageUri": "tf-serving:1"}})
    registered = UnmanagedContainerModel(uri=str(tmp_path / "registered_model"))
    decision = dsl.Markdown(uri=str(tmp_path / "decision.md"))
    result = component(dsl.Artifact(uri=str(history)), serving, registered, decision, "shop-recs", "", "job-42", "", **settings)
    return result, registered, (tmp_path / "decision.md").read_text(), str(history)


def test_the_component_reads_the_published_history(tmp_path):
    (register, display_name, description, labels, aliases), registered, decision, history = run_component(
        tmp_path, published(0.3, 0.6), model_version_aliases="champion")
    assert register is True and display_name == "shop-recs"
    assert f"training_metrics.json: {history}" in description and "recall@100 0.6000" in description
    assert labels == {"source": "recs-pipeline", "run-id": "r1", "pipeline-job": "job-42"}
    assert aliases == ["champion", "run-r1"]
    # the upload gets the trained folder itself, with the run's figures beside its serving container
    assert registered.uri == "gs://b/root/train-outputs/serving_model"
    assert registered.metadata == {"containerSpec": {"imageUri": "tf-serving:1"}, "test_recall_at_10": 0.3, "test_recall_at_100": 0.6,
                                   "beats_baselines": True}
    assert ("Registered: the model beats every baseline: recall@10 0.3000 vs popularity 0.1000; "
            "recall@10 0.3000 vs repeat_purchase 0.2000") in decision


def test_a_model_that_does_not_beat_every_baseline_is_not_registered_and_the_summary_says_why(tmp_path):
    (register, *_), registered, decision, _ = run_component(tmp_path, published(0.3, 0.45))  # repeat purchase has 0.5 at @100
    assert register is False and registered.metadata["beats_baselines"] is False
    assert "Not registered: the model does not beat every baseline: recall@100 0.4500 vs repeat_purchase 0.5000" in decision
    assert "Set require_beating_baselines=false to register it anyway" in decision
    (register, *_), _, decision, _ = run_component(tmp_path, published(0.3, 0.45), require_beating_baselines=False)
    assert register is True and decision.startswith("# Model Registry\n\nRegistered although the model does not beat")


def test_a_tie_is_not_a_win_and_missing_figures_fail_the_gate():
    from recs_pipeline.vertex.registry import quality_gate

    document = published(0.2, 0.6)  # equal to repeat purchase at @10
    passes, why = quality_gate(document["final_metrics"], document["baselines"])
    assert not passes and "recall@10 0.2000 vs repeat_purchase 0.2000" in why
    passes, why = quality_gate({}, document["baselines"])
    assert not passes and "no recall@10 in the published metrics" in why
    assert quality_gate(document["final_metrics"], {}) == (
        False, "does not beat every baseline: no baselines in the published metrics to compare with")


def test_version_aliases_are_checked_and_name_the_run():
    from recs_pipeline.vertex.registry import RegistryError, version_aliases

    assert version_aliases("champion, weekly", "Run_7") == ["champion", "weekly", "run-run-7"]
    with pytest.raises(RegistryError, match="model_version_aliases: 'Champion' is not a valid alias"):
        version_aliases("Champion", "r1")


def test_the_default_serving_container_comes_from_the_registry_nearest_the_run():
    from recs_pipeline.vertex.registry import SERVING_TENSORFLOW, serving_image

    assert SERVING_TENSORFLOW == "2.15"
    assert serving_image("", "europe-west4") == "europe-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
    assert serving_image("", "asia-northeast1") == serving_image("", "australia-southeast1") == (
        "asia-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest")
    assert serving_image("", "us-central1") == serving_image("", "") == "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
    assert serving_image("europe-docker.pkg.dev/p/r/own:1", "us-central1") == "europe-docker.pkg.dev/p/r/own:1"
