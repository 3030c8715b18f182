import json
import re

import pytest
from recs_pipeline.steps.publish import final_document, scalar_metrics
from recs_pipeline.tracking import report
from recs_pipeline.tracking.collector import MetricsCollector


@pytest.fixture
def finished_document(one_epoch) -> dict:
    collector = MetricsCollector("run<script>alert(1)</script>", {"optimizer": "<b>adam</b>"})
    one_epoch(collector, 0, loss=3.0)
    one_epoch(collector, 1, loss=float("nan"))
    one_epoch(collector, 2, loss=2.0)
    history = json.loads(collector.serialise())
    evaluation = {
        "model": {"loss": 5.0, "recall_at_5": 0.2, "recall_at_10": 0.3, "recall_at_50": 0.5, "recall_at_100": 0.6, "mrr": 0.1},
        "baselines": {"popularity": {"recall_at_5": 0.1, "recall_at_10": 0.15, "recall_at_50": 0.3, "recall_at_100": 0.4}},
    }
    return final_document(history, evaluation, {"source": "<img src=x onerror=alert(1)>", "users": 3})


def test_final_document_holds_test_figures_and_baselines(finished_document):
    document = finished_document
    assert document["final_metrics"]["test_recall_at_10"] == 0.3
    assert document["final_metrics"]["test_loss"] == 5.0
    assert document["baselines"]["popularity"]["test_recall_at_10"] == 0.15
    scalars = scalar_metrics(document)
    assert scalars["popularity_recall_at_10"] == 0.15 and scalars["test_recall_at_100"] == 0.6


def test_report_is_self_contained_and_escaped(finished_document):
    html = report.html_report(finished_document)
    assert "<script>" not in html and "<img" not in html and "<b>adam" not in html
    assert "&lt;script&gt;" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert html.count("<svg") == 9  # loss, regularization, gradient norms, weight std, 4 heatmaps, recall bars
    assert html.count("<polyline") >= 3
    assert "The model beats popularity at recall@10" in html


def test_markdown_summary_shows_model_beside_baselines(finished_document):
    text = report.markdown_summary(finished_document)
    assert "| model | 0.2000 | 0.3000 |" in text and "| popularity | 0.1000 | 0.1500 |" in text
