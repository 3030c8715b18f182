"""registry_entry: the name, labels and description the Model Registry upload gets."""

from typing import NamedTuple

from kfp.dsl import Artifact, Input


def registry_entry(
    training_metrics: Input[Artifact],
    display_name: str = "two-tower-retrieval",
    run_id: str = "",
    pipeline_job_name: str = "",
    metrics_uri: str = "",
) -> NamedTuple("RegistryEntry", [("display_name", str), ("description", str), ("labels", dict)]):
    """Reads the published history, so the entry links to it and quotes its test recall."""
    import collections
    import json

    from recs_pipeline.tracking.sink import expand_metrics_uri
    from recs_pipeline.vertex.registry import registry_entry as build_entry

    with open(training_metrics.path) as handle:
        history = json.load(handle)
    entry = build_entry(display_name, history.get("run_id") or run_id or pipeline_job_name, pipeline_job_name, training_metrics.uri,
                        expand_metrics_uri(metrics_uri, history.get("run_id", "")), history.get("final_metrics", {}))
    outputs = collections.namedtuple("RegistryEntry", ["display_name", "description", "labels"])
    return outputs(entry["display_name"], entry["description"], entry["labels"])
