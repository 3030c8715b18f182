"""The score forms, one type each: `Blend` (blend.py) and `Mixture` (mixture.py), and the baselines
every model is measured against, as blends with fixed weights of the same terms.

Each baseline sees the same purchases as the model (every purchase before the test period). Each
scores a product by a weight plus its popularity (below 1, with the item index breaking ties), so
no two products share a score and "strictly above" and "at or above" rank the same. A weight of a
whole purchase puts a product above every product the customer never bought; smaller weights (an
old purchase, a weak similarity) mix with popularity:

- popularity: the most bought products, the same list for everyone;
- repeat purchase: the customer's own products by how often they bought them, then popularity;
- recency-weighted repeat: the same with each purchase weighted 0.5 ** (age / half-life), so
  last month's products come before last year's and a long-ago one-off can fall below a
  best-seller;
- item-kNN: products like the ones the customer bought (summed cosine similarities of their buyer
  sets, each purchase weighted by its recency), then popularity;
- EASE: the closed-form item-to-item model (scoring.ease), ties by popularity;
- group popularity and category affinity, the cold-start baselines (scoring.cold_start), where the
  data has categorical customer or product features, ties by popularity;
- towers only: the model's towers' softmax alone, no repeat or kNN term: not a baseline but the
  model's own part, shown beside them so what the towers contribute is visible.

Only the towers and category affinity can rank a product nobody bought yet: every other baseline
scores it -inf, a miss (blend.py).
"""

from __future__ import annotations

from typing import Any

from recs_pipeline.core import metric_keys
from recs_pipeline.scoring import blend, mixture
from recs_pipeline.scoring.blend import Blend
from recs_pipeline.scoring.mixture import Mixture
from recs_pipeline.scoring.terms import ScoreFn, Terms, embedding_scorer

Form = Blend | Mixture
TOWERS_ONLY = metric_keys.TOWERS_ONLY
BASELINE_NAMES = ("popularity", "repeat_purchase", "recency_repeat", "item_knn", "ease", "group_popularity", "category_affinity",
                  TOWERS_ONLY)
TIE_BREAK = 1e-6  # popularity's weight where it only breaks ties (its scores are in [0, 1), the others' steps larger)


def baselines(half_life_days: float) -> dict[str, Blend]:
    """Every baseline, by the name it has in training_metrics.json's `baselines`; the item-kNN
    weights are the Terms' kNN half-life (the run's baseline_half_life_days)."""
    forms = {
        "popularity": Blend(repeat=0.0),
        "repeat_purchase": Blend(repeat_half_life_days=0.0),
        "recency_repeat": Blend(repeat_half_life_days=half_life_days),
        "item_knn": Blend(knn=1.0, repeat=0.0),
        "ease": Blend(ease=1.0, repeat=0.0, popularity=TIE_BREAK),
        "group_popularity": Blend(group_popularity=1.0, repeat=0.0, popularity=TIE_BREAK),
        "category_affinity": Blend(category_affinity=1.0, repeat=0.0, popularity=TIE_BREAK),
        TOWERS_ONLY: Blend(towers=1.0, towers_new_customers=1.0, towers_new_products=1.0, repeat=0.0, popularity=TIE_BREAK),
    }
    assert tuple(forms) == BASELINE_NAMES
    return forms


def scorable_baselines(half_life_days: float, terms: Terms) -> dict[str, Blend]:
    """The baselines these terms can score: the cold-start ones where the data has their features,
    towers only where there are towers."""
    needs = {"group_popularity": terms.user_groups is not None, "category_affinity": terms.item_categories is not None,
             TOWERS_ONLY: terms.towers is not None}
    return {name: form for name, form in baselines(half_life_days).items() if needs.get(name, True)}


def scorer(form: Form, terms: Terms) -> ScoreFn:
    """The form's NumPy score over these terms."""
    if isinstance(form, Blend):
        return blend.scorer(form, terms)
    if terms.towers is None:
        raise ValueError(f"{form}: the mixture needs the model's towers")
    towers = terms.towers
    return mixture.scorer(embedding_scorer(towers.user_embeddings, towers.item_embeddings), terms.window_counts(), form, towers.temperature)


def from_dict(saved: dict[str, Any]) -> Form:
    """The form model_info.json and retrieval_info.json hold (as_dict)."""
    fields = {name: value for name, value in saved.items() if name != "form"}
    if saved.get("form") == blend.NAME:
        return Blend(**fields)
    if saved.get("form") == mixture.NAME:
        return Mixture(**fields)
    raise ValueError(f"score form {saved!r}: 'form' must be {blend.NAME!r} or {mixture.NAME!r}")
