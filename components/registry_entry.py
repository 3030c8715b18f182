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

    from recs_pipeline.registry import registry_entry as build_entry

    with open(training_metrics.path) as handle:
        final_metrics = json.load(handle).get("final_metrics", {})
    entry = build_entry(display_name, run_id or pipeline_job_name, pipeline_job_name, training_metrics.uri, metrics_uri, final_metrics)
    outputs = collections.namedtuple("RegistryEntry", ["display_name", "description", "labels"])
    return outputs(entry["display_name"], entry["description"], entry["labels"])
