"""The score form's fit on held-out purchases, the candidate lists the fit ranks in, and the terms it weighs."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from recs_pipeline.core.config import RECALL_KS
from recs_pipeline.evaluation import ranking
from recs_pipeline.model import score_fit
from recs_pipeline.scoring import blend
from recs_pipeline.scoring.blend import Blend
from recs_pipeline.scoring.mixture import Mixture
from recs_pipeline.scoring.purchases import Purchases
from recs_pipeline.scoring.terms import Terms, TowerScores
from scipy import sparse

CUSTOMERS, PRODUCTS = 60, 300


class EveryoneBought:
    """The purchases' views the fit reads, where every customer and product has a purchase (or as given)."""

    def __init__(self, users: np.ndarray | None = None, items: np.ndarray | None = None, counts: sparse.csr_matrix | None = None):
        self.users = np.ones(CUSTOMERS, bool) if users is None else users
        self.items = items
        self.matrix = counts

    def counts(self) -> sparse.csr_matrix:
        return self.matrix if self.matrix is not None else sparse.csr_matrix((CUSTOMERS, PRODUCTS_MAX))

    def bought_users(self) -> np.ndarray:
        return self.users

    def bought_items(self) -> np.ndarray:
        return np.ones(PRODUCTS_MAX, bool) if self.items is None else self.items


PRODUCTS_MAX = 1000


class ArrayTerms:
    """Terms (scoring.terms.Terms' methods) read from fixed arrays; `repeats` by half-life (0: the
    repeat term's array above 0, as counts)."""

    def __init__(self, parts: dict, repeats: dict | None = None, purchases: EveryoneBought | None = None):
        by_count = lambda users, low, high: (parts["repeat"](users, low, high) > 0).astype(float)
        self.parts, self.repeats, self.towers = parts, repeats or {90.0: parts["repeat"], 0.0: by_count}, parts["towers"]
        self.purchases = purchases or EveryoneBought()

    def popularity(self):
        return self.parts["popularity"]

    def knn(self):
        return self.parts["knn"]

    def repeat(self, half_life_days: float):
        return self.repeats[half_life_days]


def dense_terms(rng: np.random.Generator, products: int = PRODUCTS) -> tuple[dict, dict[str, np.ndarray]]:
    """Four terms as fixed arrays: a few bought products per customer, popularity, towers, kNN."""
    repeat = np.zeros((CUSTOMERS, products))
    for customer in range(CUSTOMERS):
        repeat[customer, rng.choice(products, 4, replace=False)] = rng.uniform(0.2, 2.0, 4)
    arrays = {"repeat": repeat, "popularity": np.broadcast_to(np.sort(rng.uniform(0, 0.99, products))[::-1], (CUSTOMERS, products)),
              "towers": np.exp(-rng.exponential(3.0, (CUSTOMERS, products))), "knn": rng.exponential(0.2, (CUSTOMERS, products))}
    return {name: (lambda users, low, high, a=array: a[users, low:high]) for name, array in arrays.items()}, arrays


def test_fit_adds_the_towers_when_the_held_out_purchases_are_what_the_towers_rank_first():
    parts, arrays = dense_terms(np.random.default_rng(0))
    users = np.repeat(np.arange(CUSTOMERS), 2)
    items = np.argsort(-arrays["towers"], axis=1)[:, :2].ravel()  # each customer's two top products by the towers
    fitted = score_fit.fit(ArrayTerms(parts), 90.0, users, items, PRODUCTS)
    assert fitted.form.towers > 0 and fitted.validation_recall == 1.0
    assert fitted.kept_rival == "towers_only" and fitted.gain == 1.0  # the towers alone are as good: their form is kept


def test_fit_keeps_recency_weighted_repeat_when_the_purchases_repeat():
    parts, arrays = dense_terms(np.random.default_rng(1))
    users = np.arange(CUSTOMERS)
    items = arrays["repeat"].argmax(axis=1)  # each customer's most recent-weighted product: rank 0 with both weights 0
    fitted = score_fit.fit(ArrayTerms(parts), 90.0, users, items, PRODUCTS)
    assert fitted.form == Blend(0.0, 0.0, 90.0)  # nothing beats it; ties keep the baseline and the smaller weights
    assert fitted.validation_recall == fitted.rival_recall == 1.0 and fitted.kept_rival == "recency_repeat"


def test_with_no_new_customer_in_validation_their_weight_is_fitted_on_regular_customers_scored_from_features():
    # Every validation customer has a purchase: they buy again their two most recent products, and
    # buy for the first time the product their features alone point to (the features-only towers'
    # top product, among the least popular, never bought before). Scored as a new customer is, with
    # no purchase, those first purchases say the towers outweigh popularity for a customer the model
    # knows only by features.
    parts, arrays = dense_terms(np.random.default_rng(5))
    rng = np.random.default_rng(6)
    every = np.arange(CUSTOMERS)
    repeats = np.argsort(-arrays["repeat"], axis=1)[:, :2]
    unbought = [np.flatnonzero(arrays["repeat"][customer, PRODUCTS - 100:] == 0) + PRODUCTS - 100 for customer in every]
    favourites = np.array([rng.choice(candidates) for candidates in unbought])  # among the 100 least popular
    cold = 0.5 * np.exp(-rng.exponential(3.0, (CUSTOMERS, PRODUCTS)))
    cold[every, favourites] = 1.0
    purchases = EveryoneBought(counts=sparse.csr_matrix(arrays["repeat"] > 0))
    users, items = np.concatenate([np.repeat(every, 2), every]), np.concatenate([repeats.ravel(), favourites])
    without = score_fit.fit(ArrayTerms(parts, purchases=purchases), 90.0, users, items, PRODUCTS)
    assert without.kept_rival in ("recency_repeat", "repeat_purchase")  # a repeat baseline: popularity weight 1, no towers
    fitted = score_fit.fit(ArrayTerms(parts, purchases=purchases), 90.0, users, items, PRODUCTS,
                           features_only=lambda u, low, high: cold[u, low:high])
    assert fitted.form.towers_new_customers >= 3.0 > without.form.towers_new_customers  # the features' top product above every popular one
    assert replace(fitted.form, towers_new_customers=0.0) == without.form  # the regular customers' form as before


def test_without_a_purchase_of_a_new_product_in_validation_the_kept_forms_new_products_weight_stays():
    # The towers alone rank every validation purchase first; nothing says how far to lift a product
    # nobody bought, so the towers-only form keeps its own weight for them (not 0, which would hide them).
    parts, arrays = dense_terms(np.random.default_rng(7))
    users = np.arange(CUSTOMERS)
    items = np.argsort(-arrays["towers"], axis=1)[:, 0]
    bought_items = np.ones(PRODUCTS_MAX, bool)
    bought_items[PRODUCTS - 10:PRODUCTS] = False  # launches nobody bought, never bought in validation either
    items = np.where(bought_items[items], items, 0)
    fitted = score_fit.fit(ArrayTerms(parts, purchases=EveryoneBought(items=bought_items)), 90.0, users, items, PRODUCTS)
    assert fitted.kept_rival == "towers_only" and fitted.form.towers_new_products == 1.0


def hits_with(total: int, entries: int = 400, shift: int = 0) -> np.ndarray:
    """(entries // 4, 4) hits: the first `total` entries counting from `shift` (cyclically) are hits."""
    flat = np.zeros(entries, bool)
    flat[(np.arange(total) + shift) % entries] = True
    return flat.reshape(-1, 4)


def test_within_noise_is_one_sigma_of_the_rows_differences():
    best = hits_with(100)
    assert score_fit.within_noise(best, best)
    # 1 short: rows differ by -4, -2, +4, +1, sigma sqrt(37)
    assert score_fit.within_noise(hits_with(99, shift=6), best)
    # 10 short: rows differ by -2, -4, -4, sigma 6
    assert not score_fit.within_noise(hits_with(90, shift=2), best)
    assert score_fit.within_noise(hits_with(110), best)  # above the best
    # Nested K: one purchase falling out of all 4 lists is 4 short with sigma 4, within; 4 purchases each
    # missing one list are 4 short with sigma 2, beyond.
    one_row = best.copy()
    one_row[0] = False
    assert score_fit.within_noise(one_row, best)
    spread = best.copy()
    spread[:4, 0] = False
    assert not score_fit.within_noise(spread, best)


def test_new_products_weight_shows_them_when_validation_cannot_tell_the_weights_apart():
    # Validation's few purchases of new products: showing them (weight 3) hits 9 of them and ends one
    # hit short of hiding them (weight 0), no more than chance: shown.
    hidden = score_fit._Trial(Blend(0.3, towers_new_products=0.0), hits_with(100), 0)
    shown = score_fit._Trial(Blend(0.3, towers_new_products=3.0), hits_with(99, shift=12), 9)
    assert score_fit._most_new_products_within_noise([hidden, shown], 0.0).towers_new_products == 3.0
    # Unless that leaves the blend below the best baseline form (fit would then keep that form, and
    # new products with it at weight 0): the floor is the baseline's recall.
    assert score_fit._most_new_products_within_noise([hidden, shown], 100 / 400).towers_new_products == 0.0
    # A loss beyond chance keeps the weight with the most hits, whatever it does for new products.
    costly = score_fit._Trial(Blend(0.3, towers_new_products=3.0), hits_with(80, shift=3), 30)
    assert score_fit._most_new_products_within_noise([hidden, costly], 0.0).towers_new_products == 0.0
    # Ties on new products keep the first trial: the smaller weights.
    same = score_fit._Trial(Blend(0.3, towers_new_products=1.0), hits_with(100), 0)
    assert score_fit._most_new_products_within_noise([hidden, same], 0.0).towers_new_products == 0.0


def test_a_fit_on_no_validation_rows_keeps_the_recency_weighted_repeat_form():
    parts, _ = dense_terms(np.random.default_rng(3))
    empty = np.zeros(0, np.int64)
    fitted = score_fit.fit(ArrayTerms(parts), 90.0, empty, empty, PRODUCTS)
    assert fitted.form == Blend(0.0, 0.0, 90.0) and fitted.customers == 0 and fitted.validation_recall == 0.0


def columns(parts: dict) -> list:
    """The fit's column order: popularity, towers, kNN, then the repeat term by recency and by count."""
    terms = ArrayTerms(parts)
    return [parts["popularity"], parts["towers"], parts["knn"], parts["repeat"], terms.repeat(0.0)]


def build(parts: dict, customers, users, items, products, seen, bought_items=None):
    bought = np.ones(products, bool) if bought_items is None else bought_items
    return score_fit._CandidateTable.build(columns(parts), customers, users, items, products, seen, bought)


def mean_recall(table, form: Blend) -> float:
    return float(table.hits(score_fit._weights(form, 5)).mean())


@pytest.mark.parametrize("weights", [Blend(0.0, 0.0, 90.0), Blend(0.3, 0.03, 90.0), Blend(10.0, 3.0, 90.0)])
def test_the_candidate_ranks_equal_the_rankers_when_every_product_is_a_candidate(weights):
    # 4 terms x CANDIDATES_PER_TERM >= PRODUCTS: every product is in every customer's list, so the
    # fit's recall must be the evaluate ranker's exactly.
    parts, _ = dense_terms(np.random.default_rng(2))
    rng = np.random.default_rng(3)
    users, items = rng.integers(0, CUSTOMERS, 500), rng.integers(0, PRODUCTS, 500)
    table = build(parts, np.unique(users), users, items, PRODUCTS, None)
    ranks = ranking.positive_ranks(blend.scorer(weights, ArrayTerms(parts)), users, items, PRODUCTS)
    expected = np.mean([(ranks < k).mean() for k in RECALL_KS])
    assert mean_recall(table, weights) == pytest.approx(expected, abs=1e-12)


def test_with_exclude_seen_a_bought_product_is_a_miss_and_never_a_candidate():
    parts, arrays = dense_terms(np.random.default_rng(4))
    seen = sparse.csr_matrix(arrays["repeat"] > 0)
    users = np.arange(CUSTOMERS)
    items = arrays["repeat"].argmax(axis=1)  # bought before: every one a miss
    fitted = score_fit.fit(ArrayTerms(parts), 90.0, users, items, PRODUCTS, seen)
    assert fitted.validation_recall == 0.0
    table = build(parts, users, users, items, PRODUCTS, seen)
    # Unseen purchases: the same ranks as the ranker with seen products excluded.
    fresh = np.argsort(-arrays["towers"], axis=1)[:, 5]
    fresh_table = build(parts, users, users, fresh, PRODUCTS, seen)
    ranks = ranking.positive_ranks(ranking.excluding(blend.scorer(Blend(1.0, 0.1, 90.0), ArrayTerms(parts)), seen), users, fresh, PRODUCTS)
    assert mean_recall(fresh_table, Blend(1.0, 0.1, 90.0)) == pytest.approx(np.mean([(ranks < k).mean() for k in RECALL_KS]))
    assert table.missed.all()


def test_terms_of_purchases():
    # Customer 0 bought product 1 today and product 2 ninety days ago; product 2 is also customer 1's.
    day = pd.Timestamp("2026-01-01")
    rows = pd.DataFrame({"user_idx": [0, 0, 1, 1], "item_idx": [1, 2, 2, 0],
                         "timestamp": [day + pd.Timedelta(days=d) for d in (100, 10, 100, 100)]})
    known = Purchases(rows, num_users=2, num_items=4)
    user_embeddings = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    item_embeddings = np.array([[0.0, 0.0], [0.5, 0.0], [1.0, 0.0], [0.0, 2.0]], np.float32)
    terms = Terms(known, 90.0, TowerScores(user_embeddings, item_embeddings, temperature=0.5))
    everyone = np.array([0, 1])
    np.testing.assert_allclose(terms.repeat(90.0)(everyone, 0, 4), [[0, 1, 0.5, 0], [1, 0, 1, 0]])
    logits = (user_embeddings @ item_embeddings.T) / 0.5
    np.testing.assert_allclose(terms.towers(everyone, 0, 4), np.exp(logits - logits.max(axis=1, keepdims=True)))
    np.testing.assert_allclose(terms.towers(everyone, 1, 3), np.exp(logits - logits.max(axis=1, keepdims=True))[:, 1:3])
    popularity = terms.popularity()(everyone, 0, 4)[0]
    assert popularity.argmax() == 2 and (popularity < 1).all()
    # Product 2's buyers {0, 1} and product 0's {1}: cosine 1/sqrt(2); customer 0 reaches product 0 through product 2.
    np.testing.assert_allclose(terms.knn()(np.array([0]), 0, 1), [[0.5 / np.sqrt(2)]])
    tables = blend.serving_tables(known, 90.0, 0.0)
    np.testing.assert_array_equal(tables.row_splits, [0, 2, 4])
    np.testing.assert_allclose(tables.repeat, [1.0, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(tables.recency, [1.0, 1.0, 1.0, 1.0])  # half-life 0: no decay
    np.testing.assert_allclose(terms.repeat(0.0)(everyone, 0, 4), [[0, 1, 1, 0], [1, 0, 1, 0]])
    assert known.built["similarity"] == 1 and known.built["matrix"] == 1  # each view built once, however often read


def test_fit_ranks_by_the_trained_mixture_when_validation_prefers_it():
    parts, _ = dense_terms(np.random.default_rng(6))
    mixture = np.random.default_rng(7).normal(size=(CUSTOMERS, PRODUCTS))
    trained = Mixture(0.5, 1.0)
    users = np.repeat(np.arange(CUSTOMERS), 3)
    items = np.argsort(-mixture, axis=1)[:, :3].ravel()  # the mixture's own top 3: recall 1 at every K
    fitted = score_fit.fit(ArrayTerms(parts), 90.0, users, items, PRODUCTS, mixture=(trained, lambda u, low, high: mixture[u, low:high]))
    assert fitted.form == trained and fitted.validation_recall == 1.0


def test_with_exclude_seen_heavy_customers_get_every_terms_top_unseen_products():
    # Customers who bought each term's top 190 products: the candidate lists must be each term's
    # top unseen products, or a purchase ranked 150th among them would look like a hit at @50.
    products = 1000
    parts, arrays = dense_terms(np.random.default_rng(8), products)
    weights = Blend(1.0, 0.1, 90.0)
    heavy = arrays["repeat"] > 0
    for name in ("towers", "popularity", "knn"):
        np.put_along_axis(heavy, np.argsort(-arrays[name], axis=1)[:, :190], True, axis=1)
    seen = sparse.csr_matrix(heavy)
    score = blend.scorer(weights, ArrayTerms(parts))(np.arange(CUSTOMERS), 0, products)
    users = np.arange(CUSTOMERS)
    items = np.argsort(np.where(heavy, np.inf, -score), axis=1)[:, 150]  # each customer's 151st unseen product
    table = build(parts, users, users, items, products, seen)
    assert mean_recall(table, weights) == 0.0  # a miss at every K, as the ranker says
