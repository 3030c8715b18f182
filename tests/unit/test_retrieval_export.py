"""The exported retrieval SavedModel answers like the evaluate step's own brute-force ranking."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from recs_pipeline.data import prepared_data, purchase_windows
from recs_pipeline.evaluation import ranking
from recs_pipeline.model import retrieval, trained
from recs_pipeline.scoring import blend, forms
from recs_pipeline.scoring.blend import Blend
from recs_pipeline.scoring.mixture import Mixture
from recs_pipeline.scoring.purchases import Purchases
from recs_pipeline.steps import train

# With the history pooled: the served model must look up each customer's recent products for the
# customer tower and every purchase for the blend's repeat and kNN terms.
SCORE_TOLERANCE = 1e-5

# Runs in a fresh interpreter: nothing from this test process (graphs, towers) is reused.
FRESH_PROCESS = """
import json, sys
from recs_pipeline.model import retrieval
serve = retrieval.load(sys.argv[1])
customers = json.loads(sys.argv[2])
out = [r.__dict__ for r in retrieval.recommend(serve, customers, int(sys.argv[3]))]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def exported(tiny_training, prepared_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("retrieval")
    train.run(prepared_dir, str(out / "model"), str(out / "history"),
              tiny_training(epochs=1, history_length=5, pool_history=True, buy_again=True), run_id="r", serving_dir=str(out / "serving"))
    return out


def brute_force_top_k(model_dir: str, prepared: prepared_data.PreparedData, users: np.ndarray, k: int):
    """The evaluate step's ranking: the model's form over its terms, one scorer, ranking.top_k, with every purchase known."""
    info = trained.model_info(model_dir)
    known = Purchases.of_splits(prepared, purchase_windows.EVERYTHING)  # the served model knows every purchase
    scorer = forms.scorer(trained.score_form(info), trained.scoring_terms(known, prepared, trained.load_towers(model_dir), info))
    return ranking.top_k(scorer, users, len(prepared.items), k), scorer


def assert_served_as_ranked(serving_dir: str, scorer, prepared: prepared_data.PreparedData, users: np.ndarray, k: int) -> None:
    """A fresh process's answers from the SavedModel are `scorer`'s top k, up to float32 ties."""
    expected_items, expected_scores = ranking.top_k(scorer, users, len(prepared.items), k)
    customers = prepared.users["user_id"].to_numpy(str)[users].tolist()
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, serving_dir, json.dumps(customers), str(k)],
        capture_output=True, text=True, check=True,
    )
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    item_index = {item: i for i, item in enumerate(prepared.items["item_id"])}
    assert [a["customer_id"] for a in answers] == customers
    differing = 0
    for row, answer in enumerate(answers):
        assert answer["known_customer"] is True
        served = np.array([item_index[p] for p in answer["product_ids"]])
        np.testing.assert_allclose(answer["scores"], expected_scores[row], atol=SCORE_TOLERANCE)
        # Same list, except where two products score within float32 noise of each other.
        for position in np.flatnonzero(served != expected_items[row]):
            differing += 1
            own = scorer(np.array([users[row]]), served[position], served[position] + 1)[0, 0]
            assert abs(own - expected_scores[row, position]) < SCORE_TOLERANCE
    assert differing <= len(answers) * k // 100


def test_fresh_process_top_k_equals_the_evaluate_ranking(exported, prepared_dir):
    prepared = prepared_data.load(prepared_dir)
    (_, _), scorer = brute_force_top_k(str(exported / "model"), prepared, np.arange(1), 1)
    assert_served_as_ranked(str(exported / "serving"), scorer, prepared, np.arange(0, len(prepared.users), 7), 20)


@pytest.mark.parametrize("form", [
    Blend(towers=0.3, knn=0.5, repeat_half_life_days=30.0),  # every blend term; the kNN term's half-life is another
    None,  # the trained buy-again mixture, with the model's own weights
], ids=["blend", "mixture"])
def test_each_form_is_served_as_evaluate_scores_it(form, exported, prepared_dir, tmp_path):
    # Forms and weights the fit may not pick on this data.
    prepared = prepared_data.load(prepared_dir)
    info = trained.model_info(str(exported / "model"))
    form = form or Mixture(*info["buy_again"])
    towers = trained.load_towers(str(exported / "model"))
    known = Purchases.of_splits(prepared, purchase_windows.EVERYTHING)
    terms = trained.scoring_terms(known, prepared, towers, info)
    customers = {name: prepared.users[name].to_numpy(np.int32) for name in info["query_inputs"] if name in prepared.users}
    windows = known.windows(info["history_length"])
    customers[purchase_windows.TOWER_INPUT] = windows
    half_life = form.repeat_half_life_days if isinstance(form, Blend) else 0.0
    retrieval.export(str(tmp_path / "serving"), towers[0], prepared.users["user_id"].to_numpy(str), customers, prepared.items,
                     terms.towers.item_embeddings, prepared_data.purchase_shares(prepared),
                     tables=blend.serving_tables(known, half_life, info["knn_half_life_days"]),
                     form=form, temperature=info["temperature"], windows=windows)
    assert_served_as_ranked(str(tmp_path / "serving"), forms.scorer(form, terms), prepared, np.arange(0, len(prepared.users), 5), 20)


def test_with_exclude_seen_the_served_lists_leave_out_every_bought_product(tiny_training, prepared_dir, tmp_path):
    out = tmp_path
    train.run(prepared_dir, str(out / "model"), str(out / "history"), tiny_training(epochs=1, history_length=5, exclude_seen="true"),
              run_id="unseen", serving_dir=str(out / "serving"))
    assert json.loads((out / "history" / "training_metrics.json").read_text())["params"]["exclude_seen"] is True
    prepared = prepared_data.load(prepared_dir)
    users = np.arange(0, len(prepared.users), 11)
    (_, _), scorer = brute_force_top_k(str(out / "model"), prepared, users, 10)
    seen = Purchases.of_splits(prepared, purchase_windows.EVERYTHING).counts()
    splits, items = seen.indptr, seen.indices
    expected, _ = ranking.top_k(ranking.excluding(scorer, seen), users, len(prepared.items), 10)
    answers = retrieval.recommend(retrieval.load(str(out / "serving")), prepared.users["user_id"].to_numpy(str)[users].tolist(), 10)
    item_index = {item: i for i, item in enumerate(prepared.items["item_id"])}
    for row, answer in enumerate(answers):
        served = [item_index[p] for p in answer.product_ids]
        bought = set(items[splits[users[row]]:splits[users[row] + 1]].tolist())
        assert bought and not bought & set(served)
        assert len(set(served) ^ set(expected[row].tolist())) <= 2  # the same list, up to float32 ties at its end


def test_unknown_customer_gets_the_popular_products_marked_as_fallback(exported, prepared_dir):
    prepared = prepared_data.load(prepared_dir)
    serve = retrieval.load(str(exported / "serving"))
    known_id = prepared.users["user_id"].iloc[0]
    unknown, known = retrieval.recommend(serve, ["no-such-customer", known_id], k=5)
    assert unknown.known_customer is False and known.known_customer is True
    counts = np.bincount(prepared.splits["train"]["item_idx"], minlength=len(prepared.items))
    most_bought = np.lexsort((np.arange(len(counts)), -counts))[:5]  # ties: lower index first
    assert unknown.product_ids == prepared.items["item_id"].to_numpy(str)[most_bought].tolist()
    np.testing.assert_allclose(unknown.scores, counts[most_bought] / counts.sum(), rtol=1e-5)


def test_product_embeddings_parquet_matches_the_candidate_tower(exported, prepared_dir):
    prepared = prepared_data.load(prepared_dir)
    table = pd.read_parquet(exported / "model" / retrieval.EMBEDDINGS_FILE)
    assert table["product_id"].tolist() == prepared.items["item_id"].tolist()
    vectors = np.stack(table["embedding"].to_numpy())
    info = trained.model_info(str(exported / "model"))
    _, candidate = trained.load_towers(str(exported / "model"))
    np.testing.assert_allclose(vectors, trained.embed_entities(candidate, prepared.items, info["candidate_inputs"]), atol=1e-6)
    assert json.loads((exported / "serving" / retrieval.INFO_FILE).read_text())["products"] == len(prepared.items)


def test_k_beyond_the_exported_list_is_refused(exported):
    serve = retrieval.load(str(exported / "serving"))
    with pytest.raises(retrieval.RetrievalModelError, match="between 1 and"):
        retrieval.recommend(serve, ["x"], k=10_000)


def test_a_folder_without_a_saved_model_is_named(tmp_path):
    with pytest.raises(retrieval.RetrievalModelError, match=str(tmp_path)):
        retrieval.load(str(tmp_path))


def test_evaluate_builds_each_purchase_view_once(exported, prepared_dir, tmp_path, caplog):
    from recs_pipeline.steps import evaluate

    with caplog.at_level("INFO", logger="recs_pipeline.steps.evaluate"):
        evaluate.run(prepared_dir, str(exported / "model"), str(exported / "history" / "training_metrics.json"), str(tmp_path))
    [line] = [record.getMessage() for record in caplog.records if "purchase views built" in record.getMessage()]
    built = dict(part.rsplit(" ", 1) for part in line.split(": ", 2)[2].split(", "))
    # The model and every baseline share them: one count matrix (also exclude_seen's), one similarity.
    assert built["matrix"] == "1" and built["similarity"] == "1" and built["popularity"] == "1", line
    assert all(count == "1" for count in built.values()), line
