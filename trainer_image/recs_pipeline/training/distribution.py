"""Which tf.distribute strategy the trainer uses, and whether this process is the one that writes.

Picked from the environment, the way Vertex AI sets it up: several workers in `TF_CONFIG` (a
CustomJob with more than one replica) → MultiWorkerMirroredStrategy; several local GPUs →
MirroredStrategy; otherwise the default strategy. In a cluster only the chief (task `chief`, or
worker 0 when there is no chief) writes the history, status, checkpoints and the model; the
others run the same code against a temporary folder (saving under MultiWorkerMirroredStrategy
takes every worker) that is deleted at the end.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from recs_pipeline.core.errors import ConfigError
from recs_pipeline.core.tf_runtime import tf


@dataclass(frozen=True)
class Cluster:
    strategy: tf.distribute.Strategy
    is_chief: bool
    task: str  # "chief:0", "worker:1", or "single"
    workers: int


def cluster_spec(tf_config: str) -> tuple[dict, dict]:
    """(cluster, task) from a TF_CONFIG value; empty when unset. A malformed value is an error."""
    if not tf_config:
        return {}, {}
    try:
        parsed = json.loads(tf_config)
    except json.JSONDecodeError as error:
        raise ConfigError(f"TF_CONFIG is not valid JSON: {error}") from error
    return parsed.get("cluster", {}), parsed.get("task", {})


def is_chief(cluster: dict, task: dict) -> bool:
    kind, index = task.get("type", "chief"), int(task.get("index", 0))
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)


def from_environment() -> Cluster:
    """Call before any other TensorFlow op: MultiWorkerMirroredStrategy must come first."""
    cluster, task = cluster_spec(os.environ.get("TF_CONFIG", ""))
    workers = sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))
    if workers > 1:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        return Cluster(strategy, is_chief(cluster, task), f"{task.get('type')}:{task.get('index', 0)}", workers)
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return Cluster(tf.distribute.MirroredStrategy(), True, "single", 1)
    return Cluster(tf.distribute.get_strategy(), True, "single", 1)
