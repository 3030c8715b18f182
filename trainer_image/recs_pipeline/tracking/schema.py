"""The training_metrics.json contract: JSON Schema validation, per-epoch length checks, strict JSON."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from recs_pipeline.core.errors import UserError

SCHEMA_VERSION = 1
SCHEMA_FILE = "training_metrics.schema.json"
TOWERS = ("query", "candidate")


class MetricsValidationError(UserError, ValueError):
    """A training_metrics document that breaks the contract; names the first bad field."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON Schema shipped in the package."""
    return json.loads(resources.files("recs_pipeline.tracking").joinpath(SCHEMA_FILE).read_text())


def validate(document: Any) -> None:
    """Raise MetricsValidationError naming the first field that breaks the schema or the epoch count."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(document), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        first = errors[0]
        raise MetricsValidationError(_field(first.absolute_path), first.message)
    _check_epoch_lengths(document)


def _field(path: Any) -> str:
    parts = [f"[{p}]" if isinstance(p, int) else str(p) for p in path]
    return ".".join(parts).replace(".[", "[") or "(document)"


def _check_epoch_lengths(document: dict[str, Any]) -> None:
    """Every per-epoch series has one entry per epoch; epochs are 0..n-1 with none repeated or missing."""
    epochs = document["epochs"]
    if epochs != list(range(len(epochs))):
        raise MetricsValidationError("epochs", f"must be 0..{len(epochs) - 1} in order, got {epochs}")
    expected = len(epochs)
    series = {"epoch_seconds": document["epoch_seconds"]}
    for group in ("loss", "gradient"):
        series.update({f"{group}.{k}": v for k, v in document[group].items()})
    for group in ("weight_stats", "gradient_stats"):
        for tower in TOWERS:
            for key, value in document[group][tower].items():
                if key == "histogram":
                    series[f"{group}.{tower}.histogram.counts"] = value["counts"]
                    bins = len(value["bin_edges"]) - 1
                    for index, counts in enumerate(value["counts"]):
                        if len(counts) != bins:
                            raise MetricsValidationError(
                                f"{group}.{tower}.histogram.counts[{index}]", f"has {len(counts)} bins, bin_edges define {bins}"
                            )
                else:
                    series[f"{group}.{tower}.{key}"] = value
    for name, values in series.items():
        if len(values) != expected:
            raise MetricsValidationError(name, f"has {len(values)} entries for {expected} epochs")


def to_plain(document: Any) -> tuple[Any, int]:
    """Plain JSON values: NaN/Inf become None (and are counted), numpy types become Python ones."""
    counter = [0]
    return _plain(document, counter), counter[0]


def encode(document: Any) -> bytes:
    """Strict JSON bytes (no NaN tokens: a plain json.load in any language reads them)."""
    return json.dumps(document, allow_nan=False, indent=1).encode("utf-8")


def _plain(value: Any, counter: list[int]) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v, counter) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v, counter) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isfinite(number):
            return number
        counter[0] += 1
        return None
    return value
