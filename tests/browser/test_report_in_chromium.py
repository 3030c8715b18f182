"""The HTML report and the comparison page, rendered in headless Chromium (Debian's `chromium`)."""

import json
import shutil
from pathlib import Path

import pytest
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


def document(one_epoch) -> dict:
    collector = MetricsCollector(f"run{HOSTILE}", {"optimizer": HOSTILE, "epochs": 4})
    for epoch, loss in enumerate((4.0, 3.2, float("nan"), 2.9)):
        one_epoch(collector, epoch, loss=loss)
    history = json.loads(collector.serialise())
    evaluation = {
        "model": {"loss": 3.0, **{f"recall_at_{k}": 0.1 + k / 400 for k in (5, 10, 50, 100)}},
        "baselines": {f"pop{HOSTILE}": {f"recall_at_{k}": 0.05 + k / 500 for k in (5, 10, 50, 100)}},
    }
    return final_document(history, evaluation, {"source": HOSTILE, "users": 150})


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
            "svg",
            "els => els.map(e => ({w: e.getBoundingClientRect().width, h: e.getBoundingClientRect().height,"
            " marks: e.querySelectorAll('polyline, rect, circle').length}))",
        )
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return seen


def test_report_draws_its_charts_and_runs_nothing_from_the_data(tmp_path, one_epoch):
    page = tmp_path / "report.html"
    page.write_text(html_report(document(one_epoch)))
    seen = render(page, tmp_path / "report.png")
    assert seen["errors"] == [] and seen["dialogs"] == []
    assert [url for url in seen["requests"] if not url.startswith("file://")] == []
    assert len(seen["charts"]) == 9
    assert all(chart["w"] > 100 and chart["h"] > 100 and chart["marks"] > 0 for chart in seen["charts"])
    assert (tmp_path / "report.png").stat().st_size > 20_000


def test_comparison_page_draws_overlaid_curves(tmp_path, one_epoch):
    runs = []
    for shift in (0.0, 0.5):
        collector = MetricsCollector(f"r{shift}", {"learning_rate": shift})
        for epoch in range(3):
            one_epoch(collector, epoch, loss=3.0 - epoch + shift)
        collector.set_final_metrics({f"test_recall_at_{k}": 0.1 + shift / 10 + k / 400 for k in (5, 10, 50, 100)})
        runs.append(TrainingMetrics(json.loads(collector.serialise())))
    page = tmp_path / "compare.html"
    page.write_text(comparison_html(runs))
    seen = render(page, tmp_path / "compare.png")
    assert seen["errors"] == [] and len(seen["charts"]) == 3
    assert all(chart["marks"] > 0 for chart in seen["charts"])
