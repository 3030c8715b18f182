"""The HTML report and the comparison page, rendered in headless Chromium (Debian's `chromium`)."""

import json
import shutil
from pathlib import Path

import pytest
from recs_pipeline.core import metric_keys
from recs_pipeline.core.config import RECALL_KS
from recs_pipeline.steps.publish import final_document
from recs_pipeline.tracking.collector import MetricsCollector
from recs_pipeline.tracking.compare import comparison_html
from recs_pipeline.tracking.reader import TrainingMetrics
from recs_pipeline.tracking.report import html_report

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
HOSTILE = "<script>alert('x')</script><img src=x onerror=alert('y')>"


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Debian's chromium is not installed; the README's test command installs it (apt-get install chromium)")
    return path


def figures(shift: float) -> dict:
    return {**{metric_keys.recall(k): shift + k / 400 for k in RECALL_KS}, **{metric_keys.ndcg(k): shift / 2 + k / 900 for k in RECALL_KS},
            metric_keys.MRR: shift}


def document(one_epoch, run_id: str = f"run{HOSTILE}", epochs: int = 4, source: str = HOSTILE) -> dict:
    collector = MetricsCollector(run_id, {"optimizer": HOSTILE, "epochs": 10, "early_stopping_patience": 1})
    for epoch, loss in enumerate((4.0, 3.2, float("nan"), 2.9)[:epochs]):
        one_epoch(collector, epoch, loss=loss)
    collector.set_final_metrics({metric_keys.BEST_EPOCH: 0, metric_keys.BEST_VAL_LOSS: 2.0})
    history = json.loads(collector.serialise())
    evaluation = {"model": {"loss": 3.0, **figures(0.1)}, "baselines": {f"pop{HOSTILE}": figures(0.05)}}
    return final_document(history, evaluation, {"source": source, "users": 150, "items": 80})


def render(html_file: Path, screenshot: Path) -> dict:
    """Open the page; return what the browser saw: console errors, dialogs, requests, chart sizes."""
    from playwright.sync_api import sync_playwright

    seen = {"errors": [], "dialogs": [], "requests": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda message: seen["errors"].append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: seen["errors"].append(str(error)))
        page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
        page.on("request", lambda request: seen["requests"].append(request.url))
        page.goto(html_file.as_uri())
        page.wait_for_load_state("load")
        seen["charts"] = page.eval_on_selector_all(
            "svg.chart",
            "els => els.map(e => ({w: e.getBoundingClientRect().width, h: e.getBoundingClientRect().height,"
            " top: e.getBoundingClientRect().top, marks: e.querySelectorAll('path, use').length,"
            " texts: Array.from(e.querySelectorAll('text')).map(t => t.textContent)}))",
        )
        seen["active"] = page.evaluate(
            "document.querySelectorAll('script, iframe, object, embed, img, [onerror], [onload], [onclick]').length")
        seen["warnings"] = page.eval_on_selector_all(".warn", "els => els.map(e => e.textContent)")
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return seen


def test_report_draws_its_charts_and_runs_nothing_from_the_data(tmp_path, one_epoch):
    page = tmp_path / "report.html"
    page.write_text(html_report(document(one_epoch)))
    seen = render(page, tmp_path / "report.png")
    assert seen["errors"] == [] and seen["dialogs"] == [] and seen["active"] == 0
    assert [url for url in seen["requests"] if not url.startswith("file://")] == []
    charts = seen["charts"]
    assert len(charts) == 12  # recall and NDCG bars, six training charts, four heatmaps
    assert all(chart["w"] > 300 and chart["h"] > 150 and chart["marks"] > 10 for chart in charts)
    # laid out in rows: two test-metric charts side by side, then the training charts three to a row
    assert charts[0]["top"] == charts[1]["top"] and charts[2]["top"] == charts[3]["top"] == charts[4]["top"]
    loss_chart = charts[2]["texts"]
    assert "kept: epoch 1" in loss_chart and {"1", "2", "3", "4"} <= set(loss_chart) and "0" not in loss_chart
    assert any("pop<script>" in text for text in charts[0]["texts"])  # the hostile name is shown as text, not run
    assert any("recall@100 is 1.0 for every method" in text for text in seen["warnings"])
    assert (tmp_path / "report.png").stat().st_size > 20_000


def test_comparison_page_marks_different_data_and_draws_overlaid_curves(tmp_path, one_epoch):
    runs = [TrainingMetrics(document(one_epoch, run_id=f"r{HOSTILE}", epochs=4, source="synthetic (seed 42)")),
            TrainingMetrics(document(one_epoch, run_id="one-epoch", epochs=1, source="synthetic (seed 7)"))]
    page = tmp_path / "compare.html"
    page.write_text(comparison_html(runs))
    seen = render(page, tmp_path / "compare.png")
    assert seen["errors"] == [] and seen["dialogs"] == [] and seen["active"] == 0
    assert [url for url in seen["requests"] if not url.startswith("file://")] == []
    assert len(seen["charts"]) == 3 and all(chart["marks"] > 10 for chart in seen["charts"])
    assert any("NOT trained and tested on the same data (they differ in source)" in text for text in seen["warnings"])
