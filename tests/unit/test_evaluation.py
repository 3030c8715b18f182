import numpy as np
import pandas as pd
import pytest
from recs_pipeline.evaluation import output, ranking
from recs_pipeline.scoring import forms
from recs_pipeline.scoring.purchases import Purchases
from recs_pipeline.scoring.terms import Terms, embedding_scorer


def test_ranks_and_metrics_of_hand_computed_embeddings(monkeypatch):
    users = np.array([[1.0, 0.0], [0.0, 1.0]])
    items = np.array([[3.0, 0.0], [2.0, 1.0], [0.0, 5.0], [1.0, 1.0]])
    # user 0 scores: 3, 2, 0, 1 ; user 1 scores: 0, 1, 5, 1
    score = embedding_scorer(users, items)
    ranks = ranking.positive_ranks(score, np.array([0, 0, 1, 1]), np.array([0, 3, 2, 1]), num_items=4)
    assert ranks.tolist() == [0, 2, 0, 1]  # ties (user 1: items 1 and 3 both 1.0) do not count against
    metrics = ranking.ranking_metrics(ranks, ks=(1, 2)).values
    assert metrics["recall_at_1"] == 0.5 and metrics["recall_at_2"] == 0.75
    assert metrics["mrr"] == pytest.approx((1 + 1 / 3 + 1 + 1 / 2) / 4)
    assert metrics["ndcg_at_2"] == pytest.approx((1 + 1 + 1 / np.log2(3)) / 4)
    # blocks over rows and candidates give the same ranks
    monkeypatch.setattr(ranking, "ROW_BLOCK", 1)
    monkeypatch.setattr(ranking, "CANDIDATE_BLOCK", 3)
    monkeypatch.setattr(ranking, "SINGLE_PASS_ITEMS", 0)
    assert ranking.positive_ranks(score, np.array([0, 0, 1, 1]), np.array([0, 3, 2, 1]), 4).tolist() == [0, 2, 0, 1]


def train_frame():
    """Purchases without timestamps, as a random split of a file with no time column has them."""
    frame = pd.DataFrame({"user_idx": [0, 0, 0, 1, 1, 2], "item_idx": [2, 2, 1, 0, 0, 0]})
    return Purchases(frame, num_users=6, num_items=4)


def baseline(name: str, known: Purchases):
    return forms.scorer(forms.baselines(90.0)[name], Terms(known, 90.0))


def test_popularity_ranks_by_training_count_then_index():
    scores = baseline("popularity", train_frame())(np.array([5]), 0, 4)[0]
    assert np.argsort(-scores).tolist() == [0, 2, 1, 3]


def test_repeat_purchase_puts_own_history_first_then_popular():
    score = baseline("repeat_purchase", train_frame())
    user0 = score(np.array([0]), 0, 4)[0]
    assert np.argsort(-user0).tolist() == [2, 1, 0, 3]
    unknown_history = score(np.array([3]), 0, 4)[0]  # no purchases: popularity order
    assert np.argsort(-unknown_history).tolist() == [0, 2, 1, 3]
    # a candidate block that excludes some history still scores consistently
    np.testing.assert_allclose(score(np.array([0]), 1, 3)[0], user0[1:3])


def test_baselines_through_the_same_ranker():
    test = pd.DataFrame({"user_idx": [0, 1, 1], "item_idx": [2, 1, 3]})
    metrics = ranking.evaluate_scorer(baseline("repeat_purchase", train_frame()), test, 4, {"new product": np.array([0, 0, 1], bool)})
    # Product 3 was never bought: no baseline can rank it, a miss even in a catalog of 4.
    assert metrics.values["recall_at_5"] == pytest.approx(2 / 3)
    assert metrics.values["mrr"] == pytest.approx((1 + 1 / 3 + 1 / (ranking.MISS + 1)) / 3)
    assert metrics.groups["new product"]["recall_at_100"] == 0.0


def test_coverage_counts_items_in_any_top_k(monkeypatch):
    users = np.array([[1.0, 0.0], [0.0, 1.0]])
    items = np.array([[3.0, 0.0], [2.0, 1.0], [0.0, 5.0], [1.0, 1.5]])
    score = embedding_scorer(users, items)
    # top-1: user 0 -> item 0, user 1 -> item 2 ; top-2 adds item 1 (user 0) and item 3 (user 1)
    assert ranking.catalog_coverage(score, np.array([0, 1]), 4, ks=(1, 2)) == {"coverage_at_1": 0.5, "coverage_at_2": 1.0}
    monkeypatch.setattr(ranking, "CANDIDATE_BLOCK", 1)
    assert ranking.catalog_coverage(score, np.array([0]), 4, ks=(1, 2)) == {"coverage_at_1": 0.25, "coverage_at_2": 0.5}


def test_own_item_never_outranks_itself(monkeypatch):
    """Scores that differ in the last bit between calls must not move an item below itself."""
    calls = []
    monkeypatch.setattr(ranking, "CANDIDATE_BLOCK", 2)  # two blocks: each is scored once for the positives, once for the ranks
    monkeypatch.setattr(ranking, "SINGLE_PASS_ITEMS", 0)

    def jittery(users, low, high):
        calls.append((low, high))
        block = np.zeros((len(users), high - low))
        if len(calls) <= 2:  # the positives' pass comes out a hair lower than the counting pass
            block -= 1e-12
        return block

    ranks = ranking.positive_ranks(jittery, np.array([0, 1]), np.array([0, 3]), num_items=4)
    assert ranks.tolist() == [3, 3]  # the three other items (0.0) are above -1e-12; the item itself is not counted


def test_the_towers_alone_are_shown_but_never_a_bar_for_the_model():
    model = {"recall_at_10": 0.2}
    baselines = {"popularity": {"recall_at_10": 0.1}, "towers_only": {"recall_at_10": 0.3}}
    assert [c.baseline for c in output.comparisons(model, baselines, ["recall_at_10"])] == ["popularity"]


@pytest.mark.parametrize("single_pass", [0, 65_536])
def test_one_scoring_pass_gives_the_same_ranks_and_coverage(monkeypatch, single_pass):
    rng = np.random.default_rng(5)
    users, items = rng.normal(size=(30, 4)), rng.normal(size=(300, 4))
    score = embedding_scorer(users, items)
    test = pd.DataFrame({"user_idx": rng.integers(0, 30, 200), "item_idx": rng.integers(0, 300, 200)})
    monkeypatch.setattr(ranking, "CANDIDATE_BLOCK", 128)  # 3 blocks when not a single pass
    monkeypatch.setattr(ranking, "ROW_BLOCK", 8)
    monkeypatch.setattr(ranking, "SINGLE_PASS_ITEMS", single_pass)
    measured = ranking.evaluate_scorer(score, test, 300).values
    expected_ranks = (np.argsort(np.argsort(-(users @ items.T), axis=1), axis=1))[test["user_idx"], test["item_idx"]]
    assert measured["recall_at_10"] == pytest.approx((expected_ranks < 10).mean())
    assert measured["coverage_at_10"] == pytest.approx(ranking.catalog_coverage(score, np.unique(test["user_idx"]), 300)["coverage_at_10"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_count_above_matches_comparing_every_candidate(seed):
    """The sorted, binary-searched count is the brute-force count: ties with the own score never
    count, -inf never counts, and the own product never counts even when its score there is a bit
    above the row's own score (two reads of one score)."""
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 6, (7, 40)).astype(np.float64)  # many ties
    scores[rng.random(scores.shape) < 0.2] = -np.inf
    row_customer = rng.integers(0, 7, 200)
    own_column = np.where(rng.random(200) < 0.8, rng.integers(0, 40, 200), -1)
    own = np.where(own_column >= 0, scores[row_customer, np.maximum(own_column, 0)], rng.integers(0, 6, 200).astype(np.float64))
    nudged = own_column >= 0
    reread = scores.copy()
    reread[row_customer[nudged], own_column[nudged]] = np.nextafter(own[nudged], np.inf)  # the product's second read: a bit higher
    brute = (reread[row_customer] > own[:, None]).sum(axis=1) - (nudged & (np.nextafter(own, np.inf) > own))
    assert ranking.count_above(reread, row_customer, own, own_column).tolist() == brute.tolist()
    assert ranking.count_above(scores[:, :0], row_customer, own, np.full(200, -1)).tolist() == [0] * 200


@pytest.mark.parametrize("seed", [0, 1])
def test_best_lists_break_ties_to_the_lower_product(seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 4, (9, 30)).astype(np.float64)
    scores[rng.random(scores.shape) < 0.5] = -np.inf  # some rows have fewer than k rankable products
    for k in (1, 5, 30):
        expected = np.lexsort((np.broadcast_to(np.arange(30), scores.shape), -scores), axis=1)[:, :k]
        assert ranking.best_columns(scores, np.sort(scores, axis=1), k).tolist() == expected.tolist()


@pytest.mark.parametrize("single_pass", [0, 10_000])
def test_a_product_a_list_cannot_rank_is_never_shown(monkeypatch, single_pass):
    """Customer 0 can rank products 0 and 1 only (the rest -inf): its top-3 shows two products, in
    the evaluate step's single pass and in the blocked path alike."""
    scores = np.array([[2.0, 1.0, -np.inf, -np.inf, -np.inf, -np.inf], [-np.inf, -np.inf, -np.inf, -np.inf, 1.0, -np.inf]])

    def score(users, low, high):
        return scores[users, low:high]

    monkeypatch.setattr(ranking, "CANDIDATE_BLOCK", 4)
    monkeypatch.setattr(ranking, "SINGLE_PASS_ITEMS", single_pass)
    test = pd.DataFrame({"user_idx": [0, 1], "item_idx": [1, 4]})
    measured = ranking.evaluate_scorer(score, test, 6)
    assert measured.values["recall_at_5"] == 1.0
    shown = ranking.catalog_coverage(score, np.array([0, 1]), 6, ks=(1, 3))
    assert shown == {"coverage_at_1": 2 / 6, "coverage_at_3": 3 / 6}
    assert {k: measured.values[k] for k in ("coverage_at_10",)} == {"coverage_at_10": 3 / 6}


def test_top_k_breaks_ties_to_the_lower_item_across_candidate_blocks(monkeypatch):
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 4, (6, 50)).astype(np.float64)
    monkeypatch.setattr(ranking, "CANDIDATE_BLOCK", 7)
    items, _ = ranking.top_k(lambda users, low, high: scores[users, low:high], np.arange(6), 50, 10)
    expected = np.lexsort((np.broadcast_to(np.arange(50), scores.shape), -scores), axis=1)[:, :10]
    assert items.tolist() == expected.tolist()
