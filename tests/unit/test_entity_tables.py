"""A customers or products table of its own (--users-input, --items-input): the features come from it, its ids never
bought join the catalog after the bought ones and are ranked and served by their features; bad tables are one line."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from recs_pipeline.cli import main
from recs_pipeline.core.config import PrepConfig
from recs_pipeline.core.errors import DataError
from recs_pipeline.data import bigquery_prep, entity_tables, prepared_data, sources, synthetic
from recs_pipeline.steps import evaluate, prep, train


def orders(users=6, items=5, days=40) -> pd.DataFrame:
    """Every customer buys every product over time; the rows' own `category` is wrong on purpose: the table's counts."""
    rows = [(f"U{u}", f"I{(u + day) % items}", f"2025-{1 + day // 28:02d}-{1 + day % 28:02d} {u:02d}:00:00", "from-the-row")
            for day in range(days) for u in range(users)]
    return pd.DataFrame(rows, columns=["customer_id", "product_id", "timestamp", "category"])


PRODUCTS = pd.DataFrame({
    "product_id": ["I0", "I1", "I2", "I3", " I4 ", "LAUNCH"],  # " I4 " is I4, as in the purchases
    "category": ["tea", "tea", "coffee", "coffee", "milk", "coffee"],
    "price": ["1", "2", "3", "4.5", "", "7"],
    "description": ["green tea", "green tea bags", "black coffee", "coffee beans", "", "coffee pods"],
})
CUSTOMERS = pd.DataFrame({"customer_id": [*(f"U{u}" for u in range(6)), "PROSPECT"],
                          "segment": ["retail", "retail", "wholesale", "wholesale", "retail", "wholesale", "retail"]})
ITEM_FEATURES = dict(item_features=("category",), item_numeric_features=("price",), item_text_features=("description",))


def write(tmp_path, frame: pd.DataFrame, name: str) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    frame.to_csv(tmp_path / name, index=False)
    return str(tmp_path / name)


def prepare_with(tmp_path, purchases: pd.DataFrame = None, products: pd.DataFrame = PRODUCTS, customers: pd.DataFrame = None,
                 **settings) -> prepared_data.PreparedData:
    settings = {**ITEM_FEATURES, "items_input": write(tmp_path, products, "products.csv"), **settings}
    if customers is not None:
        settings.update(users_input=write(tmp_path, customers, "customers.csv"), user_features=("segment",))
    config = PrepConfig(**settings)
    prep.run(str(tmp_path / "out"), write(tmp_path, orders() if purchases is None else purchases, "orders.csv"), {**config.__dict__}, {})
    return prepared_data.load(str(tmp_path / "out"))


def test_a_product_nobody_bought_comes_after_the_bought_ones_with_its_features(tmp_path):
    prepared = prepare_with(tmp_path)
    assert prepared.vocabularies["item_id"] == ["I0", "I1", "I2", "I3", "I4", "LAUNCH"] and prepared.known_items == 5
    assert prepared.stats["items"] == 6 and prepared.stats["items_never_bought"] == 1 and prepared.stats["items_not_in_table"] == 0
    assert "users_never_buying" not in prepared.stats  # no customers table
    items = prepared.items.set_index("item_id")
    assert items.loc["LAUNCH", "item_idx"] == 5
    categories = prepared.vocabularies["item_features"]["category"]
    assert categories == ["", "coffee", "milk", "tea"]  # the table's values, not the rows' "from-the-row"
    assert [categories[i] for i in items["category_idx"]] == ["tea", "tea", "coffee", "coffee", "milk", "coffee"]
    train = prepared.splits["train"]
    assert {categories[i] for i in train["category_idx"]} == {"tea", "coffee", "milk"}
    assert (train["category_idx"] == prepared.items["category_idx"].to_numpy()[train["item_idx"]]).all()  # each row: its product's value
    prices = prepared.vocabularies["item_features"]["price"]
    assert prices[items.loc["LAUNCH", "price_idx"]] == ">= 4.5" and items.loc["I4", "price_idx"] == 0  # the top bucket; empty: missing
    words = prepared.vocabularies["item_text_features"]["description"]
    tokens = prepared_data.entity_input(prepared.items, "description_tokens")
    assert [words[t - 1] for t in tokens[5] if t] == ["coffee"]  # "pods" is no training word
    assert prepared.items["item_idx"].tolist() == list(range(6))


def test_a_customer_who_never_bought_joins_the_catalog(tmp_path):
    prepared = prepare_with(tmp_path, customers=CUSTOMERS)
    assert prepared.vocabularies["user_id"][-1] == "PROSPECT" and prepared.known_users == 6
    assert prepared.stats["users"] == 7 and prepared.stats["users_never_buying"] == 1
    users = prepared.users.set_index("user_id")
    assert prepared.vocabularies["user_features"]["segment"][users.loc["PROSPECT", "segment_idx"]] == "retail"


def test_a_product_first_bought_after_training_may_be_missing_from_the_table(tmp_path):
    late = pd.DataFrame([("U1", "LATER", "2025-03-01 00:00:00", "x")], columns=orders().columns)
    prepared = prepare_with(tmp_path, pd.concat([orders(), late], ignore_index=True))
    assert prepared.vocabularies["item_id"] == ["I0", "I1", "I2", "I3", "I4", "LATER", "LAUNCH"]
    assert prepared.stats["items_not_in_table"] == 1 and prepared.stats["items_never_bought"] == 1
    later = prepared.items.set_index("item_id").loc["LATER"]
    assert later["category_idx"] == 0 and later["price_idx"] == 0  # no feature values: missing


def test_the_table_needs_no_feature_and_the_purchases_no_feature_column(tmp_path):
    prepared = prepare_with(tmp_path, orders().drop(columns=["category"]), PRODUCTS[["product_id"]], item_features=(),
                            item_numeric_features=(), item_text_features=())
    assert prepared.vocabularies["item_id"][-1] == "LAUNCH" and len(prepared.items) == 6


def test_a_parquet_table_with_numbers_and_numeric_ids(tmp_path):
    purchases = orders().drop(columns=["category"])
    purchases["product_id"] = purchases["product_id"].str[1:] + ".0"  # "3.0": product 3, as a spreadsheet export writes it
    tmp_path.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"product_id": [0, 1, 2, 3, 4, 99], "price": [1.0, 2.0, 3.0, 4.5, None, 7.0]}).to_parquet(tmp_path / "products.parquet")
    config = PrepConfig(item_numeric_features=("price",), items_input=str(tmp_path / "products.parquet"))
    prep.run(str(tmp_path / "out"), write(tmp_path, purchases, "orders.csv"), {**config.__dict__}, {})
    prepared = prepared_data.load(str(tmp_path / "out"))
    assert prepared.vocabularies["item_id"] == ["0", "1", "2", "3", "4", "99"]
    prices = prepared.vocabularies["item_features"]["price"]
    assert [prices[i] for i in prepared.items["price_idx"]] == ["1 to 2", "2 to 3", "3 to 4.5", ">= 4.5", "", ">= 4.5"]


def cli_error(tmp_path, products: pd.DataFrame, *extra: str, purchases: pd.DataFrame = None) -> str:
    """`prepare` with the products table: exit code 1 and one line, which is returned without its "Error: "."""
    table = write(tmp_path, products, "products.csv")
    result = CliRunner().invoke(main, ["prepare", "--input", write(tmp_path, orders() if purchases is None else purchases, "orders.csv"),
                                       "--output-dir", str(tmp_path / "out"), "--items-input", table, "--item-features", "category",
                                       "--item-numeric-features", "price", *extra])
    assert result.exit_code == 1, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output, result.output
    return result.output.strip().removeprefix("Error: ")


def test_a_feature_missing_from_the_table_is_named(tmp_path):
    message = cli_error(tmp_path, PRODUCTS.drop(columns=["price"]))
    assert message == (f"{tmp_path / 'products.csv'}: missing column(s) price (the --items-input table needs product_id, category, "
                       "price); columns found: product_id, category, description")


def test_a_repeated_id_is_named_with_both_rows(tmp_path):
    repeated = pd.concat([PRODUCTS, PRODUCTS.iloc[[2]]], ignore_index=True)
    assert cli_error(tmp_path, repeated) == (f"{tmp_path / 'products.csv'}: column 'product_id', row 7: product 'I2' is listed twice "
                                             "(first at row 3); give one row per product")


def test_a_price_that_is_not_a_number_is_named(tmp_path):
    bad = PRODUCTS.assign(price=["1", "2", "3", "cheap", "", "7"])
    assert cli_error(tmp_path, bad) == (f"{tmp_path / 'products.csv'}: column 'price', row 4: 'cheap' is not a number (1 such row(s)); "
                                        "a numeric feature needs numbers, or leave the value empty")


def test_a_product_bought_in_training_must_be_in_the_table(tmp_path):
    message = cli_error(tmp_path, PRODUCTS[PRODUCTS["product_id"] != "I3"])
    assert message == (f"{tmp_path / 'orders.csv'}: 1 product(s) bought in training are not in {tmp_path / 'products.csv'} "
                       "(--items-input), the first 'I3' at row 4; list every product in the table (its feature values may be "
                       "empty), or check that both name the same ids")


def test_a_missing_table_and_a_blank_id_are_named(tmp_path):
    result = CliRunner().invoke(main, ["prepare", "--input", write(tmp_path, orders(), "orders.csv"), "--output-dir", str(tmp_path / "o"),
                                       "--items-input", str(tmp_path / "nope.csv")])
    assert result.exit_code == 1 and result.output.strip() == f"Error: --items-input: input not found: {tmp_path / 'nope.csv'}"
    blank = PRODUCTS.assign(product_id=["I0", "I1", " ", "I3", "I4", "LAUNCH"])
    assert cli_error(tmp_path, blank) == f"{tmp_path / 'products.csv'}: column 'product_id', row 3: no product id"


def test_tables_need_purchases_of_ones_own_and_the_local_engine(tmp_path):
    with pytest.raises(DataError, match="--items-input needs purchases of your own"):
        prep.run(str(tmp_path / "out"), "", {"items_input": write(tmp_path, PRODUCTS, "products.csv")}, {"seed": 1})
    with pytest.raises(DataError, match="a BigQuery table cannot be read as a products table"):
        prep.check(write(tmp_path, orders(), "orders.csv"), {"items_input": "bq://p.d.products"})
    with pytest.raises(DataError, match=r"^engine bigquery does not read a customers or products table \(--users-input\)"):
        bigquery_prep.run("bq://p.d.orders", PrepConfig(users_input="customers.csv"), str(tmp_path), "gs://b/prepared")


def test_the_check_before_a_run_reads_the_tables_header(tmp_path):
    table = write(tmp_path, PRODUCTS.drop(columns=["category"]), "products.csv")
    with pytest.raises(DataError, match=r"products.csv: missing column\(s\) category \(the --items-input table"):
        prep.check(write(tmp_path, orders().drop(columns=["category"]), "orders.csv"), {"items_input": table, "item_features": "category"})


def test_a_rewritten_table_changes_the_input_fingerprint(tmp_path):
    purchases, table = write(tmp_path, orders(), "orders.csv"), write(tmp_path, PRODUCTS, "products.csv")
    alone = sources.fingerprint(purchases)
    before = sources.fingerprint(purchases, tables=("", table))
    assert before != alone and sources.fingerprint(purchases, tables=("", "")) == alone
    write(tmp_path, pd.concat([PRODUCTS, PRODUCTS.iloc[[0]].assign(product_id="LAUNCH-2")]), "products.csv")
    assert sources.fingerprint(purchases, tables=("", table)) != before


def test_the_option_and_parameter_exist_everywhere():
    flags = {parameter.name for parameter in main.commands["prepare"].params}
    assert {"users_input", "items_input"} <= flags
    assert set(entity_tables.OPTIONS) == {"user", "item"}


@pytest.fixture(scope="module")
def launched(tiny_data, tiny_training, tmp_path_factory):
    """The tiny data with a products table listing two launches nobody bought and a customers table with a prospect,
    trained one epoch and evaluated."""
    out = tmp_path_factory.mktemp("launches")
    purchases = tiny_data.purchases
    products = purchases.drop_duplicates("product_id")[["product_id", "category", "price_band"]]
    launches = products.head(2).assign(product_id=["LAUNCH-1", "LAUNCH-2"])
    customers = purchases.drop_duplicates("customer_id")[["customer_id", "segment", "country"]]
    prospect = customers.head(1).assign(customer_id="PROSPECT-1")
    pd.concat([products, launches]).to_csv(out / "products.csv", index=False)
    pd.concat([customers, prospect]).to_csv(out / "customers.csv", index=False)
    purchases.to_csv(out / "orders.csv", index=False)
    settings = synthetic.prep_config(items_input=str(out / "products.csv"), users_input=str(out / "customers.csv")).__dict__
    stats = prep.run(str(out / "prepared"), str(out / "orders.csv"), settings, {})
    train.run(str(out / "prepared"), str(out / "model"), str(out / "history"), tiny_training(epochs=1, history_length=5), run_id="t",
              serving_dir=str(out / "serving"))
    result = evaluate.run(str(out / "prepared"), str(out / "model"), str(out / "history" / "training_metrics.json"), str(out / "eval"))
    return out, stats, result, products


def test_launches_are_ranked_by_evaluation_and_served(launched):
    from recs_pipeline.core.tf_runtime import tf
    from recs_pipeline.model import trained
    from recs_pipeline.scoring.purchases import Purchases

    out, stats, result, products = launched
    prepared = prepared_data.load(str(out / "prepared"))
    assert stats["items_never_bought"] == 2 and stats["users_never_buying"] == 1
    assert prepared.vocabularies["item_id"][-2:] == ["LAUNCH-1", "LAUNCH-2"] and prepared.known_items == len(products)
    assert result["catalog_size"] == len(products) + 2 == len(prepared.items)
    # The towers score a launch from its features with the new-id row: what a product first bought after training gets.
    info = trained.model_info(str(out / "model"))
    towers = trained.load_towers(str(out / "model"))
    terms = trained.scoring_terms(Purchases.of_splits(prepared, ("train",)), prepared, towers, info)
    embeddings = terms.towers.item_embeddings
    launch = prepared.items.iloc[-1]
    inputs = {name: np.array([prepared.known_items if name == "item_idx" else int(launch[name])], np.int32)
              for name in info["candidate_inputs"]}
    np.testing.assert_allclose(embeddings[-1], towers[1].predict(inputs, verbose=0)[0], atol=1e-5)
    assert np.isfinite(terms.towers.user_embeddings @ embeddings[-2:].T).all()
    served = tf.saved_model.load(str(out / "serving"))
    assert [p.decode() for p in served.product_ids.numpy()][-2:] == ["LAUNCH-1", "LAUNCH-2"]
    assert json.loads((out / "prepared" / "data_stats.json").read_text())["items"] == len(products) + 2
