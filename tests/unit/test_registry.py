"""The Model Registry entry: valid labels linking the run, a description that is safe JSON text."""

import json
import re

from recs_pipeline.vertex.registry import label_value, registry_entry

LABEL = re.compile(r"^[a-z0-9_-]{0,63}$")


def test_labels_are_valid_and_link_the_run():
    entry = registry_entry("Two Tower", "Run #7 (Nightly)", "two-tower-retrieval-20261123" + "x" * 60,
                           "gs://bucket/root/publish-metrics/training_metrics", "gs://bucket/metrics/run7", {})
    assert entry["labels"]["run-id"] == "run--7--nightly-"
    assert entry["labels"]["source"] == "recs-pipeline"
    assert all(LABEL.match(value) for value in entry["labels"].values())
    assert entry["labels"]["pipeline-job"].startswith("two-tower-retrieval-20261123")


def test_description_points_to_the_history_and_quotes_recall():
    entry = registry_entry("m", "r1", "job-1", "gs://b/root/training_metrics", "gs://b/metrics/r1",
                           {"recall_at_10": 0.25519, "recall_at_100": 0.5635})
    assert "training_metrics.json: gs://b/root/training_metrics" in entry["description"]
    assert "copy at gs://b/metrics/r1" in entry["description"]
    assert "recall@10 0.2552" in entry["description"] and "recall@100 0.5635" in entry["description"]


def test_quotes_cannot_break_the_upload_payload():
    """ModelUploadOp pastes display name and description into a JSON string without escaping."""
    entry = registry_entry('my "model" \\ x', 'run"}, "labels": {"evil', "", "gs://b/t", "", {})
    payload = '{"display_name": "' + entry["display_name"] + '", "description": "' + entry["description"] + '"}'
    assert json.loads(payload)["description"] == entry["description"]
    assert label_value("ÄBC/def") == "-bc-def"


def test_the_component_reads_the_published_history(tmp_path):
    from kfp import dsl
    from recs_pipeline.components.registry_entry import registry_entry as component

    history = tmp_path / "training_metrics"
    history.write_text(json.dumps({"final_metrics": {"recall_at_10": 0.3, "recall_at_100": 0.6}}))
    display_name, description, labels = component(dsl.Artifact(uri=str(history)), "shop-recs", "", "job-42", "")
    assert display_name == "shop-recs"
    assert f"training_metrics.json: {history}" in description and "recall@100 0.6000" in description
    assert labels == {"source": "recs-pipeline", "run-id": "job-42", "pipeline-job": "job-42"}
