"""Reading a training_metrics.json back, for the web app, notebooks and the CLI."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from recs_pipeline.core import storage
from recs_pipeline.tracking.schema import MetricsValidationError, validate
from recs_pipeline.tracking.sink import METRICS_FILE

MAX_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class TrainingMetrics:
    """A validated history; `raw` is exactly the JSON object, for code that wants the dict."""

    raw: dict[str, Any]

    @property
    def run_id(self) -> str:
        return self.raw["run_id"]

    @property
    def epochs(self) -> list[int]:
        return list(self.raw["epochs"])

    @property
    def loss(self) -> dict[str, list[float | None]]:
        return self.raw["loss"]

    @property
    def final_metrics(self) -> dict[str, float | None]:
        return self.raw["final_metrics"]

    @property
    def baselines(self) -> dict[str, dict[str, float | None]]:
        return self.raw.get("baselines", {})

    @property
    def params(self) -> dict[str, Any]:
        return self.raw["params"]


def resolve(uri: str) -> str:
    """A folder (local or gs:// prefix) means the training_metrics.json inside it."""
    if uri.endswith(".json") or (not storage.is_gcs(uri) and not _is_local_dir(uri)):
        return uri
    return storage.join(uri, METRICS_FILE)


def _is_local_dir(uri: str) -> bool:
    from pathlib import Path

    return Path(uri).is_dir()


def load_training_metrics(uri: str) -> TrainingMetrics:
    """Read and validate; a broken file raises MetricsValidationError naming the first bad field."""
    location = resolve(storage.check_uri(uri))
    size = storage.size(location)  # checked before reading: a huge object is never loaded
    if size > MAX_BYTES:
        raise MetricsValidationError("(document)", f"{location} is {size} bytes, over the {MAX_BYTES} limit")
    payload = storage.read_bytes(location)
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MetricsValidationError("(document)", f"{location} is not valid JSON: {error}") from error
    validate(document)
    return TrainingMetrics(document)
