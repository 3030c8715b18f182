"""`recommend` for many customers in one call: the customers file, its errors, and both outputs."""

import csv
import io

import numpy as np
import pytest
from click.testing import CliRunner
from recs_pipeline.cli import main
from recs_pipeline.data import customer_ids, prepared_data


def test_one_id_per_line_keeps_the_text_and_the_order(tmp_path):
    path = tmp_path / "customers.txt"
    path.write_text("C7\n 007 \n\nC7\n")
    assert customer_ids.read(str(path)) == ["C7", "007", "C7"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_a_csv_is_read_by_its_column(tmp_path, delimiter):
    path = tmp_path / "customers.csv"
    path.write_text(delimiter.join(["region", "customer_id"]) + "\n" + delimiter.join(["EU", "C1"]) + "\n"
                    + delimiter.join(["US", "C2"]) + "\n")
    assert customer_ids.read(str(path)) == ["C1", "C2"]
    assert customer_ids.read(str(path), "region") == ["EU", "US"]


@pytest.mark.parametrize("content, message", [
    (b"region,shop\nEU,1\n", "no column 'customer_id'; columns found: region, shop (pass --customer-column"),
    (b"\n\n", "no customer ids in it"),
    (b"customer_id\n", "no customer ids in it"),
    (b"C1\n\x00\x01\x02", "does not look like a text file (binary bytes at offset 3)"),
    (b"C1\nM\xfcller\n", "not UTF-8 text (byte 4)"),
])
def test_a_bad_file_is_one_line_before_tensorflow_starts(tmp_path, content, message):
    path = tmp_path / "customers.csv"
    path.write_bytes(content)
    (tmp_path / "model").mkdir()
    result = CliRunner().invoke(main, ["recommend", "--model", str(tmp_path / "model"), "--customers-file", str(path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}") and message in lines[0], lines


def test_a_missing_file_and_no_customer_at_all(tmp_path):
    (tmp_path / "model").mkdir()
    missing = CliRunner().invoke(main, ["recommend", "--model", str(tmp_path / "model"), "--customers-file", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 1 and missing.output.strip() == f"Error: customers file not found: {tmp_path / 'nope.txt'}"
    neither = CliRunner().invoke(main, ["recommend", "--model", str(tmp_path / "model")])
    assert neither.exit_code == 2
    assert "give --customer ID (repeatable), --customers-file FILE or --features NAME=VALUE,..." in neither.output


@pytest.fixture(scope="module")
def serving(tiny_training, prepared_dir, tmp_path_factory):
    from recs_pipeline.steps import train

    out = tmp_path_factory.mktemp("recommend")
    train.run(prepared_dir, str(out / "model"), str(out / "history"), tiny_training(epochs=1), run_id="r", serving_dir=str(out / "serving"))
    return str(out / "serving")


@pytest.mark.slow
def test_a_customers_file_answers_as_repeated_customer_options(serving, prepared_dir, tmp_path):
    known = prepared_data.load(prepared_dir).users["user_id"].tolist()[:3]
    wanted = [known[0], "no-such-customer", known[1], known[2]]
    path = tmp_path / "customers.txt"
    path.write_text("\n".join(wanted) + "\n")
    by_file = CliRunner().invoke(main, ["recommend", "--model", serving, "--customers-file", str(path), "-k", "4"])
    by_option = CliRunner().invoke(main, ["recommend", "--model", serving, *[f"--customer={c}" for c in wanted], "-k", "4"])
    assert by_file.exit_code == 0, by_file.output
    assert by_file.output == by_option.output
    assert by_file.output.count("top 4") == 3 and "no-such-customer is not in the training data" in by_file.output

    as_csv = CliRunner().invoke(main, ["recommend", "--model", serving, "--customers-file", str(path), "-k", "4", "--output-format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert [row["customer_id"] for row in rows] == [c for c in wanted for _ in range(4)]
    assert [int(row["rank"]) for row in rows] == [1, 2, 3, 4] * 4
    assert [row["known_customer"] for row in rows[::4]] == ["true", "false", "true", "true"]
    first_block = by_file.output.splitlines()[1:5]
    assert [line.split()[1] for line in first_block] == [row["product_id"] for row in rows[:4]]


def test_a_product_scored_minus_inf_is_not_recommended():
    from recs_pipeline.model.retrieval import Recommendations

    answer = Recommendations.ranked("C1", True, np.array([b"P1", b"P2", b"P9"]), np.array([0.5, 0.1, -np.inf], np.float32))
    assert answer.product_ids == ["P1", "P2"] and answer.scores == pytest.approx([0.5, 0.1])
