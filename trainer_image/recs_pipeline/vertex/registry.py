"""What a Vertex AI Model Registry entry says about a trained model: a name, labels that link it to
its run, and a description that points to its training_metrics.json.

Labels allow only lowercase letters, digits, '_' and '-' (63 characters), so a gs:// URI cannot
be one; it goes in the description. The upload component pastes the description into a JSON
string unescaped, so quotes and backslashes are removed from it here.
"""

from __future__ import annotations

import re
from typing import Any

from recs_pipeline.core import metric_keys

# The newest TensorFlow serving image google-cloud-aiplatform lists; the retrieval signature uses
# only core ops (hash table lookup, gather, matmul, top_k) that it runs.
DEFAULT_SERVING_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
LABEL_LENGTH = 63


def label_value(text: str) -> str:
    """`text` as a valid label value: lowercase, other characters as '-', at most 63 characters."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:LABEL_LENGTH]


def registry_entry(
    display_name: str,
    run_id: str,
    pipeline_job_name: str,
    training_metrics_uri: str,
    metrics_uri: str,
    final_metrics: dict[str, Any],
) -> dict[str, Any]:
    """display_name, description and labels for ModelUploadOp."""
    recall = ", ".join(
        f"{metric_keys.label(name)} {final_metrics[name]:.4f}"
        for name in (metric_keys.test_recall(10), metric_keys.test_recall(100))
        if final_metrics.get(name) is not None
    )
    parts = [
        f"Two-tower retrieval model (customer id -> top-K product ids, scores) of run {run_id}",
        f"pipeline job {pipeline_job_name}" if pipeline_job_name else "",
        f"training_metrics.json: {training_metrics_uri}",
        f"copy at {metrics_uri}" if metrics_uri else "",
        f"test {recall}" if recall else "",
    ]
    description = "; ".join(part for part in parts if part)
    labels = {"source": "recs-pipeline", "run-id": label_value(run_id)}
    if pipeline_job_name:
        labels["pipeline-job"] = label_value(pipeline_job_name)
    return {
        "display_name": display_name.replace('"', "").replace("\\", "")[:128],
        "description": description.replace('"', "").replace("\\", ""),
        "labels": labels,
    }
