"""New customers and new products served: the `new_customer` signature ranks a customer from their
feature values as the NumPy form ranks a customer with no purchase; a product table adds products
embedded from their features without changing the known products' scores; bad input is one line."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from recs_pipeline.cli import main
from recs_pipeline.core.errors import DataError
from recs_pipeline.core.tf_runtime import tf
from recs_pipeline.data import numeric_features, prepare, prepared_data, purchase_windows, synthetic
from recs_pipeline.evaluation import ranking
from recs_pipeline.model import feature_values, product_table, retrieval, trained
from recs_pipeline.scoring import forms
from recs_pipeline.scoring.blend import Blend
from recs_pipeline.scoring.mixture import Mixture
from recs_pipeline.scoring.purchases import Purchases
from recs_pipeline.steps import train

SCORE_TOLERANCE = 1e-5

# A fresh interpreter, as in test_retrieval_export: nothing of this process is reused.
FRESH_PROCESS = """
import json, sys
from recs_pipeline.model import retrieval
model = retrieval.load_new_customer(sys.argv[1])
print(json.dumps([r.__dict__ for r in retrieval.recommend_new(model, json.loads(sys.argv[2]), int(sys.argv[3]))]))
"""


@pytest.fixture(scope="module")
def prepared_numeric(tiny_data, tmp_path_factory) -> str:
    """The tiny data with a numeric feature on each side: a customer's head count, a product's weight."""
    frame = tiny_data.purchases.copy()
    frame["employees"] = [str(int(c[1:]) * 7 % 97 + 1) for c in frame["customer_id"]]
    frame["weight"] = [f"{int(p[1:]) * 0.37 % 20:.2f}" for p in frame["product_id"]]
    folder = tmp_path_factory.mktemp("prepared-numeric")
    prepare.prepare_frame(frame, synthetic.prep_config(user_numeric_features=("employees",), item_numeric_features=("weight",)),
                          str(folder), "tiny")
    return str(folder)


@pytest.fixture(scope="module")
def model(prepared_numeric, tiny_training, tmp_path_factory):
    out = tmp_path_factory.mktemp("new-entities")
    train.run(prepared_numeric, str(out / "model"), str(out / "history"),
              tiny_training(epochs=1, history_length=5, pool_history=True, buy_again=True), run_id="r", serving_dir=str(out / "serving"))
    return out


def expected_index(vocabulary: list[str], value: str) -> int:
    """A categorical value's index by hand: its position, 0 when unseen or empty."""
    return vocabulary.index(value) if value and value in vocabulary[1:] else 0


def new_customers(prepared: prepared_data.PreparedData) -> tuple[list[dict[str, str]], list[dict[str, int]]]:
    """New customers' feature values as a request gives them, and the indices data prep would give them."""
    vocab = prepared.vocabularies["user_features"]
    employees = vocab["employees"]
    first = prepared.users.iloc[3]
    raw_employees = str(int(first["user_id"][1:]) * 7 % 97 + 1)  # that customer's own value: their bucket
    top_bucket = next(i for i, label in enumerate(employees) if label.startswith(">= "))
    given = [
        {"segment": vocab["segment"][int(first["segment_idx"])], "country": vocab["country"][int(first["country_idx"])],
         "employees": raw_employees},
        {"segment": "no-such-segment", "country": "", "employees": "1e9"},  # unseen, empty, beyond every training value
        {"segment": vocab["segment"][2], "employees": " "},  # country not given, the number blank: missing
        {"country": vocab["country"][-1]},
    ]
    indices = [
        {"segment_idx": int(first["segment_idx"]), "country_idx": int(first["country_idx"]), "employees_idx": int(first["employees_idx"])},
        {"segment_idx": 0, "country_idx": 0, "employees_idx": top_bucket},
        {"segment_idx": 2, "country_idx": 0, "employees_idx": 0},
        {"segment_idx": 0, "country_idx": len(vocab["country"]) - 1, "employees_idx": 0},
    ]
    return given, indices


def with_new_customers(prepared: prepared_data.PreparedData, indices: list[dict[str, int]]) -> prepared_data.PreparedData:
    """The prepared data with these customers appended as rows with no purchase (ids past every known one)."""
    start = len(prepared.users)
    rows = pd.DataFrame([{"user_idx": start + i, "user_id": f"new-{i}", **row} for i, row in enumerate(indices)])
    users = pd.concat([prepared.users, rows.astype({c: np.int32 for c in rows.columns if c.endswith("_idx")})], ignore_index=True)
    return dataclasses.replace(prepared, users=users)


def assert_same_ranking(answers: list[dict], expected_items: np.ndarray, expected_scores: np.ndarray, scorer, users: np.ndarray,
                        item_ids: list[str]) -> None:
    """Served lists are the NumPy top-k, up to float32 ties (a swapped pair scores the same)."""
    item_index = {item: i for i, item in enumerate(item_ids)}
    for row, answer in enumerate(answers):
        served = np.array([item_index[p] for p in answer["product_ids"]])
        np.testing.assert_allclose(answer["scores"], expected_scores[row], atol=SCORE_TOLERANCE)
        for position in np.flatnonzero(served != expected_items[row]):
            own = scorer(users[row:row + 1], served[position], served[position] + 1)[0, 0]
            assert abs(own - expected_scores[row, position]) < SCORE_TOLERANCE


@pytest.mark.parametrize("form", [
    None,  # the form the fit chose
    Blend(towers=0.3, knn=0.5, repeat_half_life_days=30.0, towers_new_customers=0.7),
    "mixture",  # the trained buy-again mixture
], ids=["fitted", "blend", "mixture"])
def test_a_new_customer_is_served_as_numpy_ranks_a_customer_with_no_purchase(form, model, prepared_numeric, tmp_path):
    prepared = prepared_data.load(prepared_numeric)
    info = trained.model_info(str(model / "model"))
    form = Mixture(*info["buy_again"]) if form == "mixture" else form or trained.score_form(info)
    info = {**info, trained.SCORE_FORM: form.as_dict()}
    towers = trained.load_towers(str(model / "model"))
    trained.export_serving(towers, prepared, info, str(tmp_path / "serving"))
    given, indices = new_customers(prepared)
    k = 20
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "serving"), json.dumps(given), str(k)],
                          capture_output=True, text=True, check=True)
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    assert [a["customer_id"] for a in answers] == [retrieval.describe_features(g) for g in given]
    assert all(a["from_features"] and not a["known_customer"] for a in answers)

    extended = with_new_customers(prepared, indices)
    known = Purchases.of_splits(extended, purchase_windows.EVERYTHING)  # every purchase; the new rows have none
    scorer = forms.scorer(form, trained.scoring_terms(known, extended, towers, info))
    users = np.arange(len(prepared.users), len(extended.users))
    expected_items, expected_scores = ranking.top_k(scorer, users, len(prepared.items), k)
    assert_same_ranking(answers, expected_items, expected_scores, scorer, users, prepared.items["item_id"].tolist())


def test_unseen_values_read_as_missing_and_numbers_fall_in_the_training_buckets():
    numeric = feature_values.Encoding(("", "< 1", "1 to 2.5", ">= 7"), numeric=True, edges=(1.0, 2.5, 7.0))  # "2.5 to 7": no training row
    texts = ["0.5", "1", "2.4999", "2.5", "3", "7", "1e9", "", " 3 ", "-inf", " 0.2"]
    expected = [1, 2, 2, 0, 0, 3, 3, 0, 0, 0, 1]
    assert feature_values.indices(numeric, texts, "size", "t.csv").tolist() == expected
    assert feature_values.Lookup(numeric, "size")(tf.constant(texts)).numpy().tolist() == expected
    categorical = feature_values.Encoding(("", "a", "b"))
    texts = ["a", "b", "c", "", "A", " a"]
    assert feature_values.indices(categorical, texts, "kind", "t.csv").tolist() == [1, 2, 0, 0, 0, 0]
    assert feature_values.Lookup(categorical, "kind")(tf.constant(texts)).numpy().tolist() == [1, 2, 0, 0, 0, 0]
    with pytest.raises(DataError, match=r"t.csv: column 'size', row 2: 'ten' is not a number"):
        feature_values.indices(numeric, ["1", "ten"], "size", "t.csv")


def test_prepared_bucket_edges_make_the_training_labels(prepared_numeric):
    vocabularies = prepared_data.load(prepared_numeric).vocabularies
    for kind, name in (("user", "employees"), ("item", "weight")):
        labels = numeric_features.labels(np.asarray(vocabularies[prepared_data.BUCKET_EDGES][name]))
        assert set(vocabularies[f"{kind}_features"][name][1:]) <= set(labels) and len(labels) > 2


def _all(serving_dir: str, customers: list[str]) -> list[retrieval.Recommendations]:
    """Each customer's whole served list as the signature returns it (the catalog is shorter than the
    top-K), products scored -inf included: `recommend` leaves those out."""
    output = retrieval.load(serving_dir)(customer_id=tf.constant(customers))
    ids, scores = output["product_ids"].numpy(), output["scores"].numpy()
    return [retrieval.Recommendations(customer, True, [p.decode() for p in ids[row]], [float(v) for v in scores[row]])
            for row, customer in enumerate(customers)]


def product_csv(path, prepared: prepared_data.PreparedData, rows: list[dict[str, str]] | None = None) -> str:
    """A product table: one known product (its row's features are ignored) and one new product."""
    source = prepared.items.iloc[5]  # the new product has this one's feature values
    features = prepared.vocabularies["item_features"]
    rows = rows or [
        {"product_id": prepared.items["item_id"].iloc[0], "category": "cat_0", "price_band": "low", "weight": "1", "note": "kept"},
        {"product_id": "NEW-1", "category": features["category"][int(source["category_idx"])],
         "price_band": features["price_band"][int(source["price_band_idx"])], "weight": f"{int(source['item_id'][1:]) * 0.37 % 20:.2f}",
         "note": "added"},
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_a_product_table_adds_a_new_product_embedded_from_its_features(model, prepared_numeric, tmp_path):
    prepared = prepared_data.load(prepared_numeric)
    table = product_csv(tmp_path / "products.csv", prepared)
    done = product_table.export(str(model / "model"), prepared_numeric, table, str(tmp_path / "serving2"))
    form = trained.score_form(trained.model_info(str(model / "model")))
    ranks_new = not isinstance(form, Blend) or form.towers_new_products > 0
    assert done == product_table.Export(added=1, already_in_catalog=1, products=len(prepared.items) + 1, ranked=ranks_new)
    info = json.loads((tmp_path / "serving2" / retrieval.INFO_FILE).read_text())
    assert info["products"] == len(prepared.items) + 1 and info["products_added_after_training"] == 1

    before, after = tf.saved_model.load(str(model / "serving")), tf.saved_model.load(str(tmp_path / "serving2"))
    ids = [p.decode() for p in after.product_ids.numpy()]
    assert ids == [*prepared.items["item_id"], "NEW-1"]  # known products keep their index
    np.testing.assert_allclose(after.item_embeddings.numpy()[:-1], before.item_embeddings.numpy(), atol=1e-6)
    # The candidate tower on the new product's features with the new-id row (its values: product 5's).
    source = prepared.items.iloc[5]
    model_info = trained.model_info(str(model / "model"))
    query, candidate = trained.load_towers(str(model / "model"))
    inputs = {name: np.array([prepared.known_items if name == "item_idx" else int(source[name])], np.int32)
              for name in model_info["candidate_inputs"]}
    np.testing.assert_allclose(after.item_embeddings.numpy()[-1], candidate.predict(inputs, verbose=0)[0], atol=1e-6)

    # Every known product scores as before for each customer, except where the new product is the
    # customer's top product by the towers (the blend's towers term is relative to the top one).
    customers = prepared.users["user_id"].tolist()
    old, new = _all(str(model / "serving"), customers), _all(str(tmp_path / "serving2"), customers)
    windows = Purchases.of_splits(prepared, purchase_windows.EVERYTHING).windows(model_info["history_length"])
    users = trained.embed_entities(query, prepared.users, model_info["query_inputs"], {purchase_windows.TOWER_INPUT: windows})
    logits = users @ after.item_embeddings.numpy().T
    rescaled = logits[:, -1] > logits[:, :-1].max(axis=1)
    compared = 0
    for row, (was, now) in enumerate(zip(old, new)):
        assert "NEW-1" in now.product_ids and "NEW-1" not in was.product_ids
        if rescaled[row] and isinstance(trained.score_form(model_info), Blend):
            continue
        before_scores, after_scores = dict(zip(was.product_ids, was.scores)), dict(zip(now.product_ids, now.scores))
        assert before_scores.keys() <= after_scores.keys()
        np.testing.assert_allclose([after_scores[p] for p in before_scores], list(before_scores.values()), atol=1e-6)
        compared += 1
    assert compared >= len(customers) // 2


def test_export_serving_command_on_a_run_folder_and_its_line(model, prepared_numeric, tmp_path):
    prepared = prepared_data.load(prepared_numeric)
    table = product_csv(tmp_path / "products.csv", prepared)
    result = CliRunner().invoke(main, ["export-serving", "--model", str(model / "model"), "--prepared-dir", prepared_numeric,
                                       "--products", table, "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (f"added 1 new product(s) to the catalog (1 of the table's were in it already; {len(prepared.items) + 1} in all); "
            f"retrieval model in {tmp_path / 'out'}\n") in result.output
    form = trained.score_form(trained.model_info(str(model / "model")))
    ranked = isinstance(form, Mixture) or bool(form.towers_new_products)
    assert ("note: this model's score form gives the towers weight 0" in result.output) is not ranked
    features = CliRunner().invoke(main, ["recommend", "--model", str(tmp_path / "out"), "--features", "segment=retail,employees=12",
                                         "-k", "3"])
    assert features.exit_code == 0, features.output
    assert "new customer segment=retail,employees=12: top 3 from their features" in features.output


def assert_one_line_error(result, *parts: str, exit_code: int = 1) -> None:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: ") and all(part in last for part in parts), last


def test_bad_product_tables_are_named_in_one_line(model, prepared_numeric, tmp_path):
    prepared = prepared_data.load(prepared_numeric)

    def export(rows: list[dict[str, str]] | str):
        path = tmp_path / "bad.csv"
        if isinstance(rows, str):
            path.write_text(rows)
        else:
            product_csv(path, prepared, rows)
        return CliRunner().invoke(main, ["export-serving", "--model", str(model / "model"), "--prepared-dir", prepared_numeric,
                                         "--products", str(path), "--output", str(tmp_path / "out")])

    good = {"product_id": "N1", "category": "cat_0", "price_band": "low", "weight": "2"}
    assert_one_line_error(export([{k: v for k, v in good.items() if k != "weight"}]), "bad.csv", "no column 'weight'",
                          "product_id, category, price_band, weight")
    renamed = {("sku" if k == "product_id" else k): v for k, v in good.items()}
    assert_one_line_error(export([renamed]), "bad.csv", "no column 'product_id'",
                          "found sku, category, price_band, weight); give --product-column")
    assert_one_line_error(export([{**good, "weight": "heavy"}]), "bad.csv", "column 'weight', row 1: 'heavy' is not a number")
    assert_one_line_error(export([good, {**good, "product_id": ""}]), "bad.csv", "column 'product_id', row 2: no product id")
    assert_one_line_error(export([good, good]), "bad.csv", "row 2: product 'N1' is listed twice")
    assert_one_line_error(export(""), "bad.csv", "empty file")
    assert_one_line_error(export("product_id,category,price_band,weight\n"), "bad.csv", "no rows")
    missing = CliRunner().invoke(main, ["export-serving", "--model", str(model / "model"), "--products", str(tmp_path / "bad.csv"),
                                        "--output", str(tmp_path / "out")])
    assert_one_line_error(missing, "give --prepared-dir", exit_code=2)


def test_bad_new_customer_features_are_named_in_one_line(model):
    def recommend(*features: str):
        return CliRunner().invoke(main, ["recommend", "--model", str(model / "serving"), *[f"--features={f}" for f in features]])

    assert_one_line_error(recommend("segment=retail,size=3"), "customer feature 'size'", "segment, country, employees")
    assert_one_line_error(recommend("employees=many"), "customer feature 'employees'", "'many' is not a number")
    assert_one_line_error(recommend("segment"), "'segment' is not NAME=VALUE", exit_code=2)
    assert_one_line_error(recommend("segment=a,segment=b"), "'segment' is given twice", exit_code=2)
