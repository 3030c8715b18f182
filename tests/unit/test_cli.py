"""The CLI's inspection commands and its clear, traceback-free errors."""

import json

import pandas as pd
from click.testing import CliRunner
from recs_pipeline.cli import main
from recs_pipeline.tracking.collector import MetricsCollector


def history_file(tmp_path, one_epoch):
    collector = MetricsCollector("cli-run", {"epochs": 2})
    one_epoch(collector, 0, loss=3.0)
    one_epoch(collector, 1, loss=2.5)
    path = tmp_path / "training_metrics.json"
    path.write_bytes(collector.serialise())
    return path


def test_validate_accepts_a_good_file_and_names_the_bad_field(tmp_path, one_epoch):
    path = history_file(tmp_path, one_epoch)
    good = CliRunner().invoke(main, ["metrics", "validate", str(path)])
    assert good.exit_code == 0 and "valid: run cli-run, 2 epoch(s)" in good.output
    document = json.loads(path.read_text())
    document["gradient_stats"]["query"]["norm"] = [1.0]
    path.write_text(json.dumps(document))
    bad = CliRunner().invoke(main, ["metrics", "validate", str(tmp_path)])  # a folder means the file inside
    assert bad.exit_code == 1
    assert "gradient_stats.query.norm: has 1 entries for 2 epochs" in bad.output
    assert "Traceback" not in bad.output


def test_show_and_report(tmp_path, one_epoch):
    path = history_file(tmp_path, one_epoch)
    shown = CliRunner().invoke(main, ["metrics", "show", str(path)])
    assert shown.exit_code == 0 and "run cli-run: 2 epoch(s)" in shown.output and "  loss" in shown.output and " 2.5000\n" in shown.output
    output = tmp_path / "reports" / "new" / "report.html"  # a folder not made yet
    made = CliRunner().invoke(main, ["report", str(path), "--output", str(output)])
    assert made.exit_code == 0 and output.read_text().count("<svg") >= 4


def test_prepare_names_a_missing_column_without_a_traceback(tmp_path):
    csv = tmp_path / "orders.csv"
    pd.DataFrame({"customer_id": ["a", "b"], "sku": ["x", "y"], "timestamp": ["2025-01-01", "2025-01-02"]}).to_csv(csv, index=False)
    result = CliRunner().invoke(main, ["prepare", "--input", str(csv), "--output-dir", str(tmp_path / "out"),
                                       "--user-features", "", "--item-features", ""])
    assert result.exit_code == 1
    assert "missing column(s) product_id; columns found: customer_id, sku, timestamp" in result.output
    assert "Traceback" not in result.output


def test_prepare_prints_the_one_progress_line_run_local_shows(tmp_path):
    rows = [(f"C{c}", f"P{(c + d) % 7}", f"2025-01-{1 + d:02d}") for d in range(28) for c in range(12)]
    csv = tmp_path / "orders.csv"
    pd.DataFrame(rows, columns=["customer_id", "product_id", "timestamp"]).to_csv(csv, index=False)
    result = CliRunner().invoke(main, ["prepare", "--input", str(csv), "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("data-prep: 336 rows from orders.csv") and "12 customers, 7 products" in result.output
    assert lines[-1] == f"splits, vocabularies and stats in {tmp_path / 'out'} (every count: {tmp_path / 'out' / 'data_stats.json'})"
    assert len(lines) <= 3 and "INFO" not in result.output and "[progress]" not in result.output, result.output
    assert all(len(line) <= 120 for line in lines[:-1]), result.output


def test_a_long_progress_line_is_wrapped_at_a_clause_on_the_console_and_kept_whole_in_the_log():
    import io

    from recs_pipeline.core.progress import MARKER, console_lines
    from recs_pipeline.pipelines.run_log import RunLog

    line = ("data-prep: 818,476 rows from tafeng.csv.gz, 2000-11-01 to 2001-02-28: 32,266 customers, 23,812 products; "
            "train/val/test 553,406/52,801/158,463 rows, 53,806 dropped (1 min 02 s)")
    assert console_lines(line) == [
        "data-prep: 818,476 rows from tafeng.csv.gz, 2000-11-01 to 2001-02-28: 32,266 customers, 23,812 products;",
        "           train/val/test 553,406/52,801/158,463 rows, 53,806 dropped (1 min 02 s)"]
    assert console_lines("epoch 1 of 3: loss 5.3100") == ["epoch 1 of 3: loss 5.3100"]
    assert all(len(part) <= 120 for part in console_lines("train: " + "word, " * 80))
    log, console = io.StringIO(), io.StringIO()
    RunLog(log, console, verbose=False).write(f"INFO {MARKER}{line}\n")
    assert console.getvalue().splitlines() == console_lines(line) and line in log.getvalue()


def test_compare_marks_differences(tmp_path, one_epoch):
    paths = []
    for index, (run_id, lr) in enumerate((("run-a", 0.01), ("run-b", 0.05))):
        collector = MetricsCollector(run_id, {"learning_rate": lr, "epochs": 1})
        one_epoch(collector, 0, loss=2.0 + index)
        collector.set_final_metrics({"test_recall_at_10": 0.1 * (index + 1)})
        paths.append(tmp_path / f"{run_id}.json")
        paths[-1].write_bytes(collector.serialise())
    html = tmp_path / "pages" / "compare.html"
    result = CliRunner().invoke(main, ["compare", *map(str, paths), "--html", str(html)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("* param learning_rate") for line in lines)
    assert any(line.startswith("  param epochs") for line in lines)
    assert any(line.startswith("* test_recall_at_10") for line in lines)
    page = html.read_text()
    assert page.count("<svg") == 3 and 'class="diff"' in page


def test_metrics_uris_other_than_gs_or_a_folder_are_refused_before_training(tmp_path, prepared_dir):
    for uri in ("s3://bucket/runs/r1", "https://storage.googleapis.com/bucket/r1", "gs:///no-bucket"):
        result = CliRunner().invoke(main, ["train", "--prepared-dir", prepared_dir, "--model-dir", str(tmp_path / "m"),
                                           "--training-log-dir", str(tmp_path / "h"), "--metrics-uri", uri, "--run-id", "r"])
        assert result.exit_code == 1, result.output
        assert "unsupported URI" in result.output or "not a gs:// URI with a bucket" in result.output
        assert not (tmp_path / "h").exists() and not (tmp_path / "m").exists()


def test_show_rounds_figures_orders_k_by_number_and_counts_epochs_from_1(tmp_path, one_epoch):
    collector = MetricsCollector("cli-run", {"epochs": 2})
    one_epoch(collector, 0, loss=3.0)
    one_epoch(collector, 1, loss=2.123456789012345)
    collector.set_final_metrics({"test_recall_at_100": 0.6414213562373095, "test_recall_at_10": 0.2897, "test_recall_at_5": 0.2,
                                 "test_mrr": 0.00012345678, "best_epoch": 1, "kept_epoch": 1})
    path = tmp_path / "training_metrics.json"
    path.write_bytes(collector.serialise())
    lines = CliRunner().invoke(main, ["metrics", "show", str(path)]).output.splitlines()
    names = [line.split()[0] for line in lines if line.startswith("  test_recall")]
    assert names == ["test_recall_at_5", "test_recall_at_10", "test_recall_at_100"]
    shown = {line.split()[0]: line.split(None, 1)[1] for line in lines if line.startswith("  ")}
    assert shown["test_recall_at_100"] == "0.6414" and shown["loss"] == "2.1235" and shown["test_mrr"] == "0.0001"  # 4 decimals
    assert shown["best_epoch"] == "epoch 2" and shown["kept_epoch"] == "epoch 2"
    assert not any("0.641421356" in line for line in lines)


def test_recommend_with_a_missing_model_is_one_line_and_exit_code_1(tmp_path):
    result = CliRunner().invoke(main, ["recommend", "--model", str(tmp_path / "missing"), "--customer", "C1"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [(f"Error: model not found: {tmp_path / 'missing'} "
                                                  "(give a train step's serving_model folder or a run-local --output-dir)")]


def run_local_lines(tmp_path, *args):
    result = CliRunner().invoke(main, ["run-local", "--output-dir", str(tmp_path / "run"), *args])
    return result.exit_code, result.output.strip().splitlines()


def test_run_local_checks_the_input_and_settings_before_the_pipeline_starts(tmp_path):
    """Each of these stops in the check before kfp.local starts: one line, exit code 1, no pipeline root."""
    orders = tmp_path / "orders.csv"
    pd.DataFrame({"customer_id": ["a", "b"], "sku": ["x", "y"], "timestamp": [1, 2]}).to_csv(orders, index=False)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    cases = [
        (["--input", str(orders)], f"Error: {orders}: missing column(s) product_id; columns found: customer_id, sku, timestamp"),
        (["--input", str(empty)], f"Error: {empty}: the file is empty"),
        (["--input", str(tmp_path / "nope.csv")], f"Error: input not found: {tmp_path / 'nope.csv'}"),
        (["--metrics-uri", "s3://bucket/runs/{run_id}"],
         "Error: unsupported URI 's3://bucket/runs/{run_id}': use gs://bucket/prefix or a local folder"),
        (["--epochs", "0"], "Error: --epochs 0 must be at least 1"),
        (["--test-fraction", "0.7"], "Error: --test-fraction 0.7 must be above 0 and below 0.5"),
        (["--test-start", "31/12/2024"], "Error: --test-start '31/12/2024' is not a date: give it as YYYY-MM-DD, or YYYY-MM-DD HH:MM[:SS]"),
        (["--timestamp-format", "banana"],
         "Error: --timestamp-format 'banana' is neither a strptime format (such as %d/%m/%Y %H:%M) nor epoch_s or epoch_ms"),
        (["--split", "random", "--test-start", "2024-01-01"], "Error: --test-start needs a temporal split and a timestamp column"),
        (["--where", "seed=1; drop"], "Error: --where 'seed=1; drop': one condition, no ';'"),  # the value as given
        (["--encoding", "klingon"], "Error: --encoding 'klingon' is not a text encoding Python knows; e.g. utf-8, latin-1 or cp1252"),
    ]
    for args, expected in cases:
        code, lines = run_local_lines(tmp_path, *args)
        assert (code, lines) == (1, [expected]), args
        assert not (tmp_path / "run" / "pipeline_root").exists()


def test_the_run_log_shows_progress_lines_keeps_everything_and_the_last_failure():
    import io

    from recs_pipeline.core.progress import FAILURE_MARKER, MARKER
    from recs_pipeline.pipelines.run_log import RunLog

    text = ("    [KFP Executor 12:00 INFO]: Got executor_input: {\n"
            f"    [KFP Executor 12:00 INFO]: {MARKER}epoch 1 of 3: loss 5.3100\n"
            "E0000 00:00:1758131045 cuda_platform.cc:52] failed call to cuInit\n"
            f"    [KFP Executor 12:00 ERROR]: \x1b[91m{FAILURE_MARKER}orders.csv: column 'timestamp', row 3: cannot parse\x1b[0m\n"
            "Traceback (most recent call last):\n  partial line without newline")
    for verbose in (False, True):
        log, console = io.StringIO(), io.StringIO()
        stream = RunLog(log, console, verbose)
        for start in range(0, len(text), 7):  # arrives in pieces, as a pipe delivers it
            stream.write(text[start:start + 7])
        stream.close_line()
        assert log.getvalue() == text
        assert stream.failures == ["orders.csv: column 'timestamp', row 3: cannot parse"]
        if verbose:
            assert console.getvalue() == text + "\n"
        else:
            assert console.getvalue() == "epoch 1 of 3: loss 5.3100\n"


def test_help_names_the_other_settings_by_their_flags():
    help_page = " ".join(CliRunner().invoke(main, ["run-local", "--help"]).output.split())
    assert "the customer id column (--user-column) and the customer feature columns" in help_page
    assert "BigQuery SQL whose result is the interactions (instead of --input). Empty: read --input." in help_page
    assert "folder; {run_id} becomes the run id" in help_page
