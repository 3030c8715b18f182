"""The evaluate step's output folder: one evaluation.json with the model's and the baselines' figures.

The evaluate step writes it; publish_metrics reads it. Figures are named by core.metric_keys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recs_pipeline.core import metric_keys

EVALUATION_FILE = "evaluation.json"


def write(output_dir: str, result: dict[str, Any]) -> None:
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / EVALUATION_FILE).write_text(json.dumps(result, indent=1))


def read(evaluation_dir: str) -> dict[str, Any]:
    return json.loads((Path(evaluation_dir) / EVALUATION_FILE).read_text())


def verdict(result: dict[str, Any], ks: tuple[int, ...] = (10, 100)) -> str:
    """One line a person reads: the model beats every baseline at recall@K for each K, or which
    baselines it does not beat, plainly."""
    losses = []
    for k in ks:
        key = metric_keys.recall(k)
        beaten_by = [f"{name} ({figures[key]:.4f})" for name, figures in result["baselines"].items() if figures[key] >= result["model"][key]]
        if beaten_by:
            losses.append(f"at recall@{k} (model {result['model'][key]:.4f}): {', '.join(beaten_by)}")
    if not losses:
        return f"the model beats every baseline at {' and '.join(f'recall@{k}' for k in ks)}"
    return "MODEL DOES NOT BEAT " + "; ".join(losses)
