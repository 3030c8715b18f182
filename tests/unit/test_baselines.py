"""The baselines on tiny hand-computed histories: recency order, cosine similarities, popularity
tie-breaks, exclusion of seen products, and the repeat share that decides exclude_seen=auto."""

import numpy as np
import pandas as pd
import pytest
from recs_pipeline.core.config import TrainConfig
from recs_pipeline.data.prepared_data import repeat_share
from recs_pipeline.evaluation import ranking
from recs_pipeline.scoring import forms
from recs_pipeline.scoring.purchases import Purchases
from recs_pipeline.scoring.terms import Terms

DAY = pd.Timedelta(days=1)
T0 = pd.Timestamp("2026-01-01")


def purchases(rows: list[tuple[int, int, int]], users: int = 3, items: int = 4) -> Purchases:
    """rows: (user, item, day offset from T0)."""
    frame = pd.DataFrame({"user_idx": [r[0] for r in rows], "item_idx": [r[1] for r in rows],
                          "timestamp": [T0 + r[2] * DAY for r in rows]})
    return Purchases(frame, users, items)


def baseline(name: str, known: Purchases, half_life_days: float = 90.0):
    """The named baseline's score: a blend with fixed weights of the terms of these purchases."""
    return forms.scorer(forms.baselines(half_life_days)[name], Terms(known, half_life_days))


def ranked(score, user: int, items: int = 4) -> list[int]:
    scores = score(np.array([user]), 0, items)[0]
    return [int(i) for i in np.argsort(-scores, kind="stable")]


def test_recency_weighting_puts_last_months_product_before_last_years():
    # user 0 bought item 1 three times a year ago, item 2 once yesterday; item 3 is the most popular
    known = purchases([(0, 1, 0), (0, 1, 1), (0, 1, 2), (0, 2, 364), (1, 3, 360), (2, 3, 361), (1, 3, 362), (2, 0, 100)])
    assert ranked(baseline("repeat_purchase", known), 0) == [1, 2, 3, 0]  # by count
    assert ranked(baseline("recency_repeat", known), 0) == [2, 1, 3, 0]  # 3 x 0.5**4 < 1
    weights = known.decayed(90).toarray()
    assert weights[0, 2] == pytest.approx(1.0) and weights[0, 1] == pytest.approx(sum(0.5 ** ((364 - d) / 90) for d in (0, 1, 2)))


def test_a_long_ago_one_off_falls_below_a_best_seller_a_whole_purchase_does_not():
    # user 0 bought item 1 once, 180 days before "now" (weight 0.25), and item 2 on the last day
    known = purchases([(0, 1, 0), (0, 2, 180), (1, 3, 10), (2, 3, 20), (2, 3, 25), (1, 0, 30)])
    assert ranked(baseline("recency_repeat", known), 0) == [2, 3, 1, 0]
    assert ranked(baseline("repeat_purchase", known), 0)[:2] == [1, 2]  # plain counts: both are whole purchases


def test_popularity_breaks_ties_then_the_lower_index():
    known = purchases([(0, 2, 0), (1, 2, 0), (1, 1, 0), (2, 3, 0)])
    assert ranked(baseline("popularity", known), 0) == [2, 1, 3, 0]  # 2 bought twice; 1 and 3 once: lower index first
    assert ranked(baseline("repeat_purchase", known), 2) == [3, 2, 1, 0]


def test_item_similarities_are_cosines_of_buyer_sets():
    # item 0: users {0, 1}; item 1: users {0, 1, 2}; item 2: user {2}; item 3: nobody
    known = purchases([(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0), (2, 1, 0), (2, 2, 0), (2, 2, 1)])
    similar = known.similarity().toarray()
    assert similar[0, 1] == pytest.approx(2 / np.sqrt(2 * 3))
    assert similar[1, 2] == pytest.approx(1 / np.sqrt(3 * 1))
    assert similar[0, 2] == 0 and np.all(np.diag(similar) == 0) and not similar[3].any()
    assert known.similarity(neighbours=1).toarray()[1].tolist() == [similar[1, 0], 0, 0, 0]  # 0.816 > 0.577
    # user 2 bought item 1 (day 0) and item 2 (days 0 and 1; "now" is day 1): scores are
    # 1: w(2)·sim(2,1) = 1.99·0.577, 0: w(1)·sim(1,0) = 0.99·0.816, 2: w(1)·sim(1,2) = 0.99·0.577, 3: popularity only
    knn = baseline("item_knn", known)(np.array([2]), 0, 4)[0]
    w1, w2 = 0.5 ** (1 / 90), 0.5 ** (1 / 90) + 1.0
    popularity = known.popularity()
    assert knn[1] - popularity[1] == pytest.approx(w2 * similar[2, 1], rel=1e-6)
    assert knn[0] - popularity[0] == pytest.approx(w1 * similar[1, 0], rel=1e-6)
    assert ranked(baseline("item_knn", known), 2) == [1, 0, 2, 3]


def test_excluding_seen_products_makes_their_purchase_a_miss():
    known = purchases([(0, 1, 0), (1, 2, 0), (1, 2, 1)])
    score = ranking.excluding(baseline("repeat_purchase", known), known.counts())
    block = score(np.array([0, 1]), 0, 4)
    assert block[0, 1] == -np.inf and block[1, 2] == -np.inf and np.isfinite(block[0, 2])
    ranks = ranking.positive_ranks(score, np.array([0, 0, 0]), np.array([1, 2, 3]), 4)
    # The bought product is a miss at every K; one bought by others is ranked; one nobody bought no baseline can rank.
    assert ranks[0] == ranking.MISS and ranks[1] < 3 and ranks[2] == ranking.MISS


def test_exclude_seen_auto_follows_the_training_repeat_share():
    no_repeats = pd.DataFrame({"user_idx": [0, 0, 1, 2], "item_idx": [0, 1, 1, 2]})
    repeats = pd.DataFrame({"user_idx": [0, 0, 1, 1], "item_idx": [0, 0, 1, 2]})
    assert repeat_share(no_repeats) == 0.0 and repeat_share(repeats) == 0.25
    assert TrainConfig().resolved(repeat_share(no_repeats)).as_params()["exclude_seen"] is True
    assert TrainConfig().resolved(repeat_share(repeats)).as_params()["exclude_seen"] is False
    assert TrainConfig(exclude_seen="false").resolved(0.0).as_params()["exclude_seen"] is False
    with pytest.raises(ValueError, match="exclude_seen='sometimes'"):
        TrainConfig(exclude_seen="sometimes")


def test_the_verdict_names_every_baseline_the_model_does_not_beat():
    from recs_pipeline.evaluation import output

    result = {"model": {"recall_at_10": 0.2, "recall_at_100": 0.6},
              "baselines": {"popularity": {"recall_at_10": 0.1, "recall_at_100": 0.3},
                            "repeat_purchase": {"recall_at_10": 0.25, "recall_at_100": 0.6}}}
    assert output.verdict(result) == ("model below repeat_purchase at recall@10: 0.2000 vs 0.2500; "
                                      "model level with repeat_purchase at recall@100: 0.6000 vs 0.6000")
    result["model"].update(recall_at_10=0.3, recall_at_100=0.7)
    assert output.verdict(result) == "model above every baseline at recall@10 and recall@100"


def test_the_evaluate_line_compares_nothing_at_a_k_the_catalog_does_not_exceed():
    """60 products: recall@100 is 1 for every method, said once, not as a tie with each baseline."""
    from recs_pipeline.steps import evaluate

    result = {"model": {"recall_at_10": 0.2, "recall_at_100": 1.0}, "ks": [5, 10, 50, 100], "catalog_size": 60, "test_rows": 90,
              "baselines": {"popularity": {"recall_at_10": 0.1, "recall_at_100": 1.0},
                            "repeat_purchase": {"recall_at_10": 0.25, "recall_at_100": 1.0}}}
    line = evaluate.summary(result)
    assert line.endswith("the catalog has only 60 products, so recall@100 is 1 for every method; "
                         "model below repeat_purchase at recall@10: 0.2000 vs 0.2500"), line
    assert evaluate.summary({**result, "catalog_size": 8}).endswith("so recall@10, recall@50, recall@100 are 1 for every method")


def test_the_baselines_are_blends_with_fixed_weights():
    known = purchases([(0, 1, 0), (0, 2, 180), (1, 3, 10), (2, 3, 20), (2, 1, 25), (1, 0, 30)])
    terms = Terms(known, 90.0)
    everyone = np.arange(3)
    popularity = terms.popularity()(everyone, 0, 4)
    for name, expected in {"popularity": popularity, "repeat_purchase": terms.repeat(0.0)(everyone, 0, 4) + popularity,
                           "recency_repeat": terms.repeat(90.0)(everyone, 0, 4) + popularity,
                           "item_knn": terms.knn()(everyone, 0, 4) + popularity}.items():
        np.testing.assert_array_equal(forms.scorer(forms.baselines(90.0)[name], terms)(everyone, 0, 4), expected, err_msg=name)
    assert tuple(forms.baselines(90.0)) == forms.BASELINE_NAMES
    assert known.built["similarity"] == 1 and known.built["popularity"] == 1
