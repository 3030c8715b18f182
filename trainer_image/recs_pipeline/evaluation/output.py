"""The evaluate step's output folder: one evaluation.json with the model's and the baselines' figures.

The evaluate step writes it; publish_metrics reads it. Figures are named by core.metric_keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recs_pipeline.core import metric_keys
from recs_pipeline.evaluation import segments

EVALUATION_FILE = "evaluation.json"
# Its keys, which the published training_metrics.json keeps: the model's figures, each baseline's, and
# the same per test segment (evaluation.segments: {segment: {ROWS: n, MODEL: ..., BASELINES: ...}};
# a segment without rows is absent, and so is the key in files from before segments were measured).
MODEL = "model"
BASELINES = "baselines"
SEGMENTS = "segments"


def write(output_dir: str, result: dict[str, Any]) -> None:
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / EVALUATION_FILE).write_text(json.dumps(result, indent=1))


def read(evaluation_dir: str) -> dict[str, Any]:
    return json.loads((Path(evaluation_dir) / EVALUATION_FILE).read_text())


def segment_figures(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The per-segment figures of an evaluation.json or a published document, in evaluation.segments'
    order (any other name after); empty for a file from before segments were measured."""
    found = document.get(SEGMENTS) or {}
    return {name: found[name] for name in ordered_segments(found)}


def ordered_segments(names: Iterable[str]) -> list[str]:
    """Segment names in evaluation.segments' order, any other name after them."""
    order = {name: index for index, name in enumerate(segments.SEGMENTS)}
    return sorted(set(names), key=lambda name: (order.get(name, len(order)), name))


@dataclass(frozen=True)
class Comparison:
    """The model's figure beside one baseline's. "Beats" is strictly above: a tie does not beat."""

    baseline: str
    metric: str
    model: float
    other: float

    @property
    def beats(self) -> bool:
        return self.model > self.other

    def sentence(self) -> str:
        """e.g. "model below repeat_purchase at recall@10: 0.3588 vs 0.4252"."""
        where = "above" if self.beats else "level with" if self.model == self.other else "below"
        return f"model {where} {self.baseline} at {metric_keys.label(self.metric)}: {self.model:.4f} vs {self.other:.4f}"


def comparisons(model: dict[str, Any], baselines: dict[str, dict[str, Any]], metrics: list[str]) -> list[Comparison]:
    """Does the model beat the baselines? Decided here for the evaluate step's line, the report and
    the registry's quality gate: each of `metrics` (evaluate's names or the published `test_`
    ones) of the model beside each baseline's, in the baselines' order; a figure missing on either side
    is no comparison, and the model's own parts (metric_keys.MODEL_PARTS: its towers alone) are none."""
    return [Comparison(name, metric, model[metric], figures[metric]) for metric in metrics for name, figures in baselines.items()
            if model.get(metric) is not None and figures.get(metric) is not None and name not in metric_keys.MODEL_PARTS]


VERDICT_KS = (10, 100)  # the cut-offs the one-line verdict compares at


def verdict(result: dict[str, Any], ks: tuple[int, ...] = VERDICT_KS) -> str:
    """One line a person reads: the model above every baseline at recall@K for each K, or each
    baseline it is below or level with."""
    found = comparisons(result["model"], result["baselines"], [metric_keys.recall(k) for k in ks])
    losses = [comparison.sentence() for comparison in found if not comparison.beats]
    if not losses:
        return f"model above every baseline at {' and '.join(metric_keys.recall_label(k) for k in ks)}"
    return "; ".join(losses)
