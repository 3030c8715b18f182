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
    assert shown.exit_code == 0 and "run cli-run: 2 epoch(s)" in shown.output and "2.5" in shown.output
    output = tmp_path / "report.html"
    made = CliRunner().invoke(main, ["report", str(path), "--output", str(output)])
    assert made.exit_code == 0 and output.read_text().count("<svg") >= 4


def test_prepare_names_a_missing_column_without_a_traceback(tmp_path):
    csv = tmp_path / "orders.csv"
    pd.DataFrame({"customer_id": ["a", "b"], "sku": ["x", "y"], "timestamp": ["2025-01-01", "2025-01-02"]}).to_csv(csv, index=False)
    result = CliRunner().invoke(main, ["prepare", "--input", str(csv), "--output-dir", str(tmp_path / "out"), "--user-features", "", "--item-features", ""])
    assert result.exit_code == 1
    assert "missing column(s) product_id; columns found: customer_id, sku, timestamp" in result.output
    assert "Traceback" not in result.output


def test_compare_marks_differences(tmp_path, one_epoch):
    paths = []
    for index, (run_id, lr) in enumerate((("run-a", 0.01), ("run-b", 0.05))):
        collector = MetricsCollector(run_id, {"learning_rate": lr, "epochs": 1})
        one_epoch(collector, 0, loss=2.0 + index)
        collector.set_final_metrics({"test_recall_at_10": 0.1 * (index + 1)})
        paths.append(tmp_path / f"{run_id}.json")
        paths[-1].write_bytes(collector.serialise())
    html = tmp_path / "compare.html"
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
                                           "--history-dir", str(tmp_path / "h"), "--metrics-uri", uri, "--run-id", "r"])
        assert result.exit_code == 1, result.output
        assert "unsupported URI" in result.output or "not a gs:// URI with a bucket" in result.output
        assert not (tmp_path / "h").exists() and not (tmp_path / "m").exists()
