"""registry_entry: the quality gate, and the name, labels, aliases and description of the upload."""

from typing import NamedTuple

from google_cloud_pipeline_components.types.artifact_types import UnmanagedContainerModel
from kfp.dsl import Artifact, Input, Markdown, Output


def registry_entry(
    training_metrics: Input[Artifact],
    serving_model: Input[UnmanagedContainerModel],
    registered_model: Output[UnmanagedContainerModel],
    decision: Output[Markdown],
    display_name: str = "two-tower-retrieval",
    run_id: str = "",
    pipeline_job_name: str = "",
    metrics_uri: str = "",
    parent_model: str = "",
    model_version_aliases: str = "",
    require_beating_baselines: bool = True,
) -> NamedTuple("RegistryEntry", [("register", bool), ("display_name", str), ("description", str), ("labels", dict),
                                  ("version_aliases", list)]):
    """Reads the published history, so the entry links to it and quotes its test recall, and
    decides whether the model may be registered: only when it beats every baseline, unless
    require_beating_baselines is false. `decision` says which and why. `registered_model` is the
    serving model with the run's figures added to its metadata, for the upload's lineage.

    Args:
        training_metrics: The published training_metrics.json (from publish_metrics).
        serving_model: The trained retrieval model to register.
        registered_model: The same model (same URI) with the run's test recall and the gate's verdict in its metadata; what the
            upload gets.
        decision: Markdown: whether the model was registered, and why.
        display_name: Display name of the model in the Model Registry.
        run_id: Identifies the run in its training log and the sink claim. Empty: the pipeline job name.
        pipeline_job_name: The pipeline job's name (the default run id).
        metrics_uri: Where the run's training_metrics.json was also written ({run_id} becomes the run id); the entry links to it.
            Empty: only the pipeline's artifacts.
        parent_model: Model Registry model to add this run as a new version of (projects/P/locations/L/models/ID). Empty: a new
            model.
        model_version_aliases: Comma-separated aliases for the new model version, e.g. champion; run-<run id> is always added.
        require_beating_baselines: Register only a model whose test recall@10 and @100 beat every baseline's; false: register
            anyway.
    """
    import collections
    import json

    from recs_pipeline.vertex import lineage, registry

    with open(training_metrics.path) as handle:
        history = json.load(handle)
    run, run_metrics_uri = lineage.resolve_run(history.get("run_id") or run_id, pipeline_job_name, metrics_uri)
    final_metrics = history.get("final_metrics", {})
    entry = registry.registry_entry(display_name, run, pipeline_job_name, training_metrics.uri, run_metrics_uri, final_metrics)
    aliases = registry.version_aliases(model_version_aliases, run)
    passes, why = registry.quality_gate(final_metrics, history.get("baselines", {}))
    register, sentence = registry.decision(passes, why, require_beating_baselines)
    print(sentence)
    with open(decision.path, "w") as handle:
        handle.write(registry.decision_markdown(sentence, entry["display_name"], parent_model, aliases))
    registered_model.uri = serving_model.uri
    registered_model.metadata.update({**serving_model.metadata, **registry.gate_figures(final_metrics), "beats_baselines": passes})
    outputs = collections.namedtuple("RegistryEntry", ["register", "display_name", "description", "labels", "version_aliases"])
    return outputs(register, entry["display_name"], entry["description"], entry["labels"], aliases)
