"""The Model Registry entry: valid labels linking the run, a description that is safe JSON text."""

import json
import re

from recs_pipeline.evaluation import ranking
from recs_pipeline.steps.publish import final_document
from recs_pipeline.tracking.collector import empty_history
from recs_pipeline.vertex.registry import label_value, registry_entry

LABEL = re.compile(r"^[a-z0-9_-]{0,63}$")


def published(recall_at_10: float, recall_at_100: float) -> dict:
    """A training_metrics.json as publish_metrics writes it, from an evaluate-step result whose
    figures are named by the ranker itself (not by this test)."""
    import numpy as np

    # ranks chosen so that recall@10 and @100 are the given shares of 100 rows
    ranks = np.array([0] * round(recall_at_10 * 100) + [50] * round((recall_at_100 - recall_at_10) * 100)
                     + [5000] * (100 - round(recall_at_100 * 100)))
    figures = ranking.ranking_metrics(ranks).values
    evaluation = {"model": {"loss": 1.0, **figures}, "baselines": {"popularity": figures}}
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


def test_the_component_reads_the_published_history(tmp_path):
    from kfp import dsl
    from recs_pipeline.components.registry_entry import registry_entry as component

    history = tmp_path / "training_metrics"
    history.write_text(json.dumps(published(0.3, 0.6)))
    display_name, description, labels = component(dsl.Artifact(uri=str(history)), "shop-recs", "", "job-42", "")
    assert display_name == "shop-recs"
    assert f"training_metrics.json: {history}" in description and "recall@100 0.6000" in description
    assert labels == {"source": "recs-pipeline", "run-id": "r1", "pipeline-job": "job-42"}
