"""Every metric name the product writes or reads, built and parsed in one place.

The evaluate step names its figures `recall_at_10`, `ndcg_at_10`, `coverage_at_10`, `mrr`,
`loss`; the published document puts them in `final_metrics` and `baselines` with a `test_`
prefix (and in `segments`, per test segment); the Vertex console gets `<baseline>_recall_at_10`,
`<segment>_recall_at_10` and `<segment>_<baseline>_recall_at_10`. The code reads them from here rather
than spelling them (tests/unit/test_metric_keys_spelled_once.py checks the steps, lineage and the ranker).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TEST_PREFIX = "test_"
# Shown beside the baselines but a part of the model (its towers' softmax alone), so never a bar the
# model is judged against (the registry gate, "model above every baseline").
TOWERS_ONLY = "towers_only"
MODEL_PARTS = (TOWERS_ONLY,)
MRR = "mrr"
LOSS = "loss"
COVERAGE_KS = (10, 100)
_AT_K = re.compile(r"^(?P<test>test_)?(?P<metric>[a-z]+)_at_(?P<k>\d+)$")


def recall(k: int) -> str:
    return f"recall_at_{k}"


def ndcg(k: int) -> str:
    return f"ndcg_at_{k}"


def coverage(k: int) -> str:
    return f"coverage_at_{k}"


def on_test(name: str) -> str:
    """The name of an evaluate-step figure in the published document (`recall_at_10` → `test_recall_at_10`)."""
    return TEST_PREFIX + name


def test_recall(k: int) -> str:
    return on_test(recall(k))


def baseline_scalar(baseline: str, name: str) -> str:
    """A baseline's figure as one flat Vertex metric: `repeat_purchase_recall_at_10`."""
    return f"{baseline}_{name.removeprefix(TEST_PREFIX)}"


def segment_scalar(segment: str, name: str, baseline: str = "") -> str:
    """A segment's figure (evaluation.segments) as one flat Vertex metric, named apart from the
    all-rows one: the model's `new_customer_recall_at_10`, a baseline's `new_customer_popularity_recall_at_10`."""
    return f"{segment}_{baseline_scalar(baseline, name) if baseline else name.removeprefix(TEST_PREFIX)}"


@dataclass(frozen=True)
class AtK:
    """A parsed `<metric>_at_<k>` name, with or without the `test_` prefix."""

    metric: str
    k: int
    on_test: bool


def parse(name: str) -> AtK | None:
    """`test_recall_at_10` → AtK('recall', 10, True); None for names without an @K."""
    match = _AT_K.match(name)
    if match is None:
        return None
    return AtK(match["metric"], int(match["k"]), bool(match["test"]))


def label(name: str) -> str:
    """How a person reads the name: `test_recall_at_10` → `recall@10`."""
    parsed = parse(name)
    return f"{parsed.metric}@{parsed.k}" if parsed else name.removeprefix(TEST_PREFIX)


def recall_label(k: int) -> str:
    """The column heading every view uses for recall at K."""
    return f"recall@{k}"


# Epochs: `epochs` and these two figures of final_metrics are 0-based indices into the per-epoch
# lists of training_metrics.json; every line a person reads counts from 1 (epoch_label).
BEST_EPOCH = "best_epoch"  # the epoch with the lowest validation loss
KEPT_EPOCH = "kept_epoch"  # the epoch whose weights the exported model holds

# The fit of the model's score (model/score_fit.py), in final_metrics: 1 when it ranks by the trained
# mixture, else 0 and the blend's weights (the towers' also for new customers and new products) and
# repeat half-life (0: by count); and the chosen form's mean validation recall@K over that of the
# best baseline form on validation.
SCORES_BY_MIXTURE = "scores_by_mixture"
BLEND_TOWERS_WEIGHT = "blend_towers_weight"
BLEND_NEW_CUSTOMER_TOWERS_WEIGHT = "blend_towers_weight_new_customers"
BLEND_NEW_PRODUCT_TOWERS_WEIGHT = "blend_towers_weight_new_products"
BLEND_KNN_WEIGHT = "blend_knn_weight"
BLEND_REPEAT_HALF_LIFE = "blend_repeat_half_life_days"
BLEND_VALIDATION_GAIN = "blend_validation_gain"


def epoch_label(index: int, total: int | None = None) -> str:
    """How a person reads a 0-based epoch index: `epoch 2 of 3` (or `epoch 2`)."""
    return f"epoch {index + 1}" + (f" of {total}" if total else "")
BEST_VAL_LOSS = "best_val_loss"
FINAL_LOSS = "final_loss"
FINAL_VAL_LOSS = "final_val_loss"


def sort_key(name: str) -> tuple[str, int]:
    """Orders names by metric, then by K as a number: `recall_at_5` before `recall_at_10` and `_at_100`."""
    parsed = parse(name)
    if parsed is None:
        return (name, -1)
    return ((TEST_PREFIX if parsed.on_test else "") + parsed.metric, parsed.k)
