"""New customers and new products: kept, embedded from their features, ranked, and measured as their own segments."""

import numpy as np
import pandas as pd
import pytest
from recs_pipeline.data import prepare, prepared_data, synthetic
from recs_pipeline.evaluation import ranking, segments
from recs_pipeline.model import trained
from recs_pipeline.scoring import cold_start, forms
from recs_pipeline.scoring.ease import Ease
from recs_pipeline.scoring.purchases import Purchases
from recs_pipeline.scoring.terms import Terms
from recs_pipeline.steps import evaluate, train
from scipy import sparse


@pytest.fixture(scope="module")
def cold_run(tiny_data, tiny_training, tmp_path_factory):
    """The tiny data plus, after its last day, purchases by 5 new customers and of 3 new products."""
    purchases = tiny_data.purchases
    last = pd.Timestamp(purchases["timestamp"].max())
    regulars = purchases.drop_duplicates("customer_id").head(6)
    products = purchases.drop_duplicates("product_id").head(3)
    late = []
    for number in range(5):  # new customers with a regular's features, buying known products
        row = regulars.iloc[number].copy()
        row["customer_id"], row["timestamp"] = f"NEWC{number}", last + pd.Timedelta(days=1 + number)
        late.append(row)
    for number in range(3):  # new products with a known product's features, bought by regulars
        row = products.iloc[number].copy()
        row["product_id"], row["customer_id"] = f"NEWP{number}", regulars.iloc[number]["customer_id"]
        row["timestamp"] = last + pd.Timedelta(days=2 + number)
        late.append(row)
    frame = pd.concat([purchases, pd.DataFrame(late)], ignore_index=True)
    out = tmp_path_factory.mktemp("cold")
    stats = prepare.prepare_frame(frame, synthetic.prep_config(test_fraction=0.05), str(out / "prepared"), "cold")
    train.run(str(out / "prepared"), str(out / "model"), str(out / "history"), tiny_training(epochs=1, history_length=5), run_id="cold")
    result = evaluate.run(str(out / "prepared"), str(out / "model"), str(out / "history" / "training_metrics.json"), str(out / "eval"))
    return out, stats, result


def test_every_test_row_is_ranked_and_each_segment_reported(cold_run):
    _, stats, result = cold_run
    assert result["test_rows"] == stats["test_rows"]
    found = result["segments"]
    assert found[segments.NEW_CUSTOMER]["rows"] == stats["test_rows_new_customer"] >= 5
    assert found[segments.NEW_PRODUCT]["rows"] == stats["test_rows_new_product"] >= 3
    assert found[segments.KNOWN]["rows"] + found[segments.NEW_CUSTOMER]["rows"] + found[segments.NEW_PRODUCT]["rows"] >= stats["test_rows"]


def test_only_features_rank_a_new_product(cold_run):
    _, _, result = cold_run
    new_product = result["segments"][segments.NEW_PRODUCT]
    for name in ("popularity", "repeat_purchase", "recency_repeat", "item_knn", "ease", "group_popularity"):
        assert new_product["baselines"][name]["recall_at_100"] == 0.0, name  # no purchase: a miss, even in a catalog of 83
    # Category affinity and the towers rank every product: in a catalog under 100 each new product is in the top 100.
    assert new_product["baselines"]["category_affinity"]["recall_at_100"] == 1.0
    assert new_product["baselines"][forms.TOWERS_ONLY]["recall_at_100"] == 1.0


def test_a_new_id_is_embedded_from_its_features_alone(cold_run):
    out, _, _ = cold_run
    prepared = prepared_data.load(str(out / "prepared"))
    query, _ = trained.load_towers(str(out / "model"))
    info = trained.model_info(str(out / "model"))
    users = prepared.users.iloc[[prepared.known_users, prepared.known_users + 1]].copy()
    users[[c for c in users.columns if c.endswith("_idx") and c != "user_idx"]] = 1  # the same feature values
    windows = {"history": np.zeros((2, info["history_length"]), np.int32)}
    same = trained.embed_entities(query, users, info["query_inputs"], windows)
    np.testing.assert_allclose(same[0], same[1])  # two new ids, one embedding: the new-id row and the features
    users.iloc[1, users.columns.get_loc("segment_idx")] = 2
    assert not np.allclose(*trained.embed_entities(query, users, info["query_inputs"], windows))


def test_ease_is_the_closed_form():
    rng = np.random.default_rng(0)
    bought = (rng.random((40, 12)) < 0.3).astype(float)
    ease = Ease(sparse.csr_matrix(bought), l2=2.0)
    inverse = np.linalg.inv(bought.T @ bought + 2.0 * np.eye(12))
    weights = np.eye(12) - inverse / np.diag(inverse)
    np.testing.assert_allclose(ease(np.arange(40), 0, 12), bought @ weights, atol=1e-4)
    small = Ease(sparse.csr_matrix(bought), max_products=5, l2=2.0)  # the 5 most bought; the others no score
    covered = np.argsort(-bought.sum(axis=0), kind="stable")[:5]
    assert sorted(small.covered) == sorted(covered)
    assert not small(np.arange(40), 0, 12)[:, np.setdiff1d(np.arange(12), covered)].any()


def purchases_of(pairs: list[tuple[int, int]], users: int, items: int) -> Purchases:
    frame = pd.DataFrame(pairs, columns=["user_idx", "item_idx"])
    return Purchases(frame, users, items)


def test_group_popularity_gives_a_new_customer_their_groups_best_sellers():
    # Group 0 (customers 0, 1) buys product 2; group 1 (customer 2) product 0; customer 3 (group 0) is new.
    known = purchases_of([(0, 2), (1, 2), (1, 1), (2, 0), (2, 0)], 4, 3)
    scores = cold_start.GroupPopularity(known, np.array([0, 0, 1, 0]))(np.array([3, 2]), 0, 3)
    assert np.argmax(scores[0]) == 2 and np.argmax(scores[1]) == 0 and (scores < 1).all()


def test_category_affinity_ranks_a_new_product_in_the_customers_category():
    # Products 0, 1 in category 0, products 2, 3 in category 1; product 3 never bought; customer 0 buys category 1.
    known = purchases_of([(0, 2), (0, 2), (1, 0), (1, 1), (2, 0)], 4, 4)
    affinity = cold_start.CategoryAffinity(known, np.array([0, 0, 1, 1]), None)
    scores = affinity(np.array([0, 1, 3]), 0, 4)
    assert np.argsort(-scores[0])[:2].tolist() == [2, 3]  # its category first, the new product with it
    assert scores[1, 0] > scores[1, 3]  # a category-0 buyer
    assert scores[2, 0] > scores[2, 3]
    terms = Terms(known, 90.0, item_categories=np.array([0, 0, 1, 1]))
    served = forms.scorer(forms.baselines(90.0)["category_affinity"], terms)(np.array([0]), 0, 4)
    assert np.isfinite(served).all()  # category affinity can rank the product nobody bought
    popular = forms.scorer(forms.baselines(90.0)["popularity"], terms)(np.array([0]), 0, 4)
    assert popular[0, 3] == -np.inf and ranking.positive_ranks(forms.scorer(forms.baselines(90.0)["popularity"], terms),
                                                               np.array([0]), np.array([3]), 4)[0] == ranking.MISS


def test_a_product_tower_reads_its_text(tiny_data, tiny_training, tmp_path):
    frame = tiny_data.purchases.copy()
    frame["description"] = "pack of " + frame["category"].astype(str) + " grade " + frame["price_band"].astype(str)
    stats = prepare.prepare_frame(frame, synthetic.prep_config(item_text_features=("description",)), str(tmp_path / "prepared"), "text")
    assert stats["items"] == frame["product_id"].nunique()
    train.run(str(tmp_path / "prepared"), str(tmp_path / "model"), str(tmp_path / "history"), tiny_training(epochs=1, history_length=5,
              pool_history=True), run_id="text")
    prepared = prepared_data.load(str(tmp_path / "prepared"))
    _, candidate = trained.load_towers(str(tmp_path / "model"))
    info = trained.model_info(str(tmp_path / "model"))
    assert "description_tokens" in info["candidate_inputs"]
    products = prepared.items.iloc[[0, 0]].copy()
    products["item_idx"] = prepared.known_items  # the new-id row: only features and words tell products apart
    products.iloc[1, products.columns.get_loc("description_tokens")] = np.zeros(16, np.int32)
    with_words, without = trained.embed_entities(candidate, products, info["candidate_inputs"])
    assert not np.allclose(with_words, without)
    evaluate.run(str(tmp_path / "prepared"), str(tmp_path / "model"), str(tmp_path / "history" / "training_metrics.json"),
                 str(tmp_path / "eval"))
