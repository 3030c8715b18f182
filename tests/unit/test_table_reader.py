"""Files that are not text CSV: one line that says so, before any reader guesses an encoding."""

import gzip
import random
import re

import pandas as pd
import pytest
from click.testing import CliRunner
from recs_pipeline.cli import main
from recs_pipeline.core.config import PrepConfig
from recs_pipeline.data import prepare, prepared_data
from recs_pipeline.steps import prep

PLAIN = {**PrepConfig(user_features=(), item_features=()).__dict__}
NOT_TEXT = "does not look like a text CSV file (binary bytes at offset"


def orders(rows: int = 60) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [f"U{i % 6}" for i in range(rows)], "product_id": [f"I{i % 5}" for i in range(rows)],
                         "timestamp": pd.date_range("2025-01-01", periods=rows, freq="h").astype(str)})


def random_bytes(path, size=4096, seed=3):
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


@pytest.mark.parametrize("step", ["prepare", "check"])
def test_random_bytes_named_csv_say_they_are_not_text(tmp_path, step):
    path = random_bytes(tmp_path / "orders.csv")
    with pytest.raises(prepare.DataError) as caught:
        if step == "prepare":
            prep.run(str(tmp_path / "out"), str(path), PLAIN, {})
        else:
            prep.check(str(path), PLAIN)  # what run-local checks before the pipeline starts
    message = str(caught.value)
    assert message.startswith(f"{path} {NOT_TEXT}"), message
    assert "--encoding" not in message and "columns found" not in message and "\n" not in message


def test_the_offset_is_the_first_binary_byte(tmp_path):
    path = tmp_path / "orders.csv"
    text = b"customer_id,product_id,timestamp\nU1,I1,2025-01-01"
    path.write_bytes(text + b"\x00\x01\x02" + bytes(range(256)) * 4)
    with pytest.raises(prepare.DataError, match=rf"offset {len(text)}\)"):
        prep.run(str(tmp_path / "out"), str(path), PLAIN, {})


def test_binary_inside_gzip_says_so(tmp_path):
    path = tmp_path / "orders.csv.gz"
    path.write_bytes(gzip.compress(random_bytes(tmp_path / "raw").read_bytes()))
    with pytest.raises(prepare.DataError, match=re.escape(NOT_TEXT) + r" .* of its gzip content"):
        prep.run(str(tmp_path / "out"), str(path), PLAIN, {})


def test_cli_prints_one_line_and_exits_1(tmp_path):
    path = random_bytes(tmp_path / "orders.csv")
    result = CliRunner().invoke(main, ["prepare", "--input", str(path), "--output-dir", str(tmp_path / "out"), "--user-features", "",
                                       "--item-features", ""])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and NOT_TEXT in errors[0], result.output


def test_text_with_a_stray_control_byte_and_latin_1_text_are_still_read(tmp_path):
    frame = orders()
    frame.loc[3, "product_id"] = "I\x0c3"  # a form feed a spreadsheet let through: text all the same
    frame.loc[4, "customer_id"] = "Müller"
    path = tmp_path / "orders.csv"
    frame.to_csv(path, index=False, encoding="latin-1")
    prep.run(str(tmp_path / "out"), str(path), {**PLAIN, "encoding": "latin-1"}, {})
    assert "Müller" in prepared_data.load(str(tmp_path / "out")).vocabularies["user_id"]


def test_utf16_text_whose_bytes_hold_zeros_is_text(tmp_path):
    path = tmp_path / "orders.csv"
    orders().to_csv(path, index=False, encoding="utf-16")
    prep.check(str(path), {**PLAIN, "encoding": "utf-16"})
    prep.run(str(tmp_path / "out"), str(path), {**PLAIN, "encoding": "utf-16"}, {})
    assert prepared_data.load(str(tmp_path / "out")).stats["rows_in"] == 60
