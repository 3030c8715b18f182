"""What a Vertex AI Model Registry entry says about a trained model: a name, labels that link it to
its run, a description that points to its training_metrics.json, the version aliases, and
whether it may be registered at all (the quality gate: it must beat every baseline).

Labels allow only lowercase letters, digits, '_' and '-' (63 characters), so a gs:// URI cannot
be one; it goes in the description. The upload component pastes the description into a JSON
string unescaped, so quotes and backslashes are removed from it here.
"""

from __future__ import annotations

import re
from typing import Any

from recs_pipeline.core import metric_keys
from recs_pipeline.core.errors import UserError
from recs_pipeline.evaluation import output

# The newest prebuilt TensorFlow prediction container google-cloud-aiplatform lists. The model is
# exported with a newer TensorFlow; tests/serving/test_tf215_serving.py loads and calls it in this one.
SERVING_TENSORFLOW = "2.15"
SERVING_IMAGE = "{registry}-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.{version}:latest"
DEFAULT_SERVING_IMAGE = ""  # empty: SERVING_IMAGE from the registry nearest the run's region (serving_image)
LABEL_LENGTH = 63
GATE_KS = (10, 100)  # the model's test recall at these K must beat every baseline's
ALIAS = re.compile(r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]$")  # Vertex AI's version alias format


class RegistryError(UserError, ValueError):
    """A registry setting cannot be used as given; the message names it."""


def serving_image(given: str, location: str = "") -> str:
    """`given`, else Vertex AI's prebuilt TensorFlow container from the one of its three registries
    (us, europe, asia) nearest the run's `location`, rather than always the us one."""
    if given:
        return given
    registry = "europe" if location.startswith("europe-") else "asia" if location.startswith(("asia-", "australia-")) else "us"
    return SERVING_IMAGE.format(registry=registry, version=SERVING_TENSORFLOW.replace(".", "-"))


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


def quality_gate(final_metrics: dict[str, Any], baselines: dict[str, dict[str, Any]]) -> tuple[bool, str]:
    """(passes, why): the model passes when its test recall at each of GATE_KS is strictly above
    every baseline's; `why` names each comparison that failed, or says what it beat."""
    names = [metric_keys.test_recall(k) for k in GATE_KS]
    failures = [f"no {metric_keys.label(name)} in the published metrics" for name in names if final_metrics.get(name) is None]
    found = output.comparisons(final_metrics, dict(sorted(baselines.items())), names)
    passed = [f"{metric_keys.label(c.metric)} {c.model:.4f} vs {c.baseline} {c.other:.4f}" for c in found if c.beats]
    failures += [f"{metric_keys.label(c.metric)} {c.model:.4f} vs {c.baseline} {c.other:.4f}" for c in found if not c.beats]
    if not baselines:
        failures.append("no baselines in the published metrics to compare with")
    if failures:
        return False, "does not beat every baseline: " + "; ".join(failures)
    return True, "beats every baseline: " + "; ".join(passed)


def version_aliases(text: str, run_id: str) -> list[str]:
    """The aliases of the new model version: those given ('champion,weekly') plus `run-<run id>`,
    so a version can be found by its run; each checked against Vertex AI's alias format."""
    aliases = [part.strip() for part in text.split(",") if part.strip()]
    for alias in aliases:
        if not ALIAS.match(alias):
            raise RegistryError(f"model_version_aliases: {alias!r} is not a valid alias "
                                "(a lowercase letter first, then letters, digits, '-')")
    run_alias = ("run-" + label_value(run_id).replace("_", "-")).rstrip("-")[:128]
    if ALIAS.match(run_alias) and run_alias not in aliases:
        aliases.append(run_alias)
    return aliases


def decision(passes: bool, why: str, required: bool) -> tuple[bool, str]:
    """(register, sentence): registered when the model passes the gate or the gate is not required."""
    if passes:
        return True, f"Registered: the model {why}."
    if not required:
        return True, f"Registered although the model {why} (require_beating_baselines=false)."
    return False, f"Not registered: the model {why}. Set require_beating_baselines=false to register it anyway."


def decision_markdown(sentence: str, display_name: str, parent_model: str, aliases: list[str]) -> str:
    """The registry_entry step's summary: the decision and why, and where the version goes."""
    target = f"a new version of `{parent_model}`" if parent_model else f"the model `{display_name}` (a new model)"
    return f"# Model Registry\n\n{sentence}\n\nTarget: {target}; version aliases: {', '.join(f'`{a}`' for a in aliases) or 'none'}.\n"


def gate_figures(final_metrics: dict[str, Any]) -> dict[str, float]:
    """The test figures the gate compares, for the registered model's metadata."""
    names = (metric_keys.test_recall(k) for k in GATE_KS)
    return {name: final_metrics[name] for name in names if final_metrics.get(name) is not None}
