import json
import re

import numpy as np
import pytest
from recs_pipeline.core import metric_keys
from recs_pipeline.core.config import RECALL_KS
from recs_pipeline.evaluation import segments
from recs_pipeline.steps.publish import final_document, scalar_metrics
from recs_pipeline.tracking import compare, plots, report, tables
from recs_pipeline.tracking.collector import MetricsCollector
from recs_pipeline.tracking.reader import TrainingMetrics

HOSTILE = "<script>alert(1)</script>$x^{$"  # a `$` pair would be mathtext if matplotlib parsed it


def evaluation(recall: dict[int, float], baseline_recall: dict[int, float]) -> dict:
    def figures(values):
        return {**{metric_keys.recall(k): v for k, v in values.items()}, **{metric_keys.ndcg(k): v / 2 for k, v in values.items()},
                metric_keys.MRR: values[10] / 3}

    return {"model": {"loss": 5.0, **figures(recall)}, "baselines": {"popularity": figures(baseline_recall)}}


def segment_figures(recall_at_10: float) -> dict:
    """A segment's figures as evaluate writes them: recall and NDCG at every K, MRR, no coverage."""
    return {**{metric_keys.recall(k): recall_at_10 * k / 10 for k in RECALL_KS},
            **{metric_keys.ndcg(k): recall_at_10 / 2 for k in RECALL_KS}, metric_keys.MRR: recall_at_10 / 3}


SEGMENTS = {  # as evaluate writes them, new baselines and a hostile name among them; new_product has no rows and is absent
    segments.KNOWN: {segments.ROWS: 150000, "model": segment_figures(0.004),
                     "baselines": {"popularity": segment_figures(0.001), "ease": segment_figures(0.003),
                                   "towers_only": segment_figures(0.002)}},
    segments.NEW_CUSTOMER: {segments.ROWS: 32021, "model": segment_figures(0.0025),
                            "baselines": {"popularity": segment_figures(0.002), f"group{HOSTILE}": segment_figures(0.00221)}},
}


def document(one_epoch, losses=(3.0, float("nan"), 2.0), params=None, items=500, recall=None, stats=True, by_segment=False) -> dict:
    collector = MetricsCollector(f"run{HOSTILE}", params or {"optimizer": "<b>adam</b>", "epochs": 10, "early_stopping_patience": 1})
    for epoch, loss in enumerate(losses):
        one_epoch(collector, epoch, loss=loss)
    collector.set_final_metrics({metric_keys.FINAL_LOSS: losses[-1], metric_keys.BEST_EPOCH: 1, metric_keys.BEST_VAL_LOSS: 2.0})
    history = json.loads(collector.serialise())
    result = evaluation(recall or {5: 0.2, 10: 0.3, 50: 0.5, 100: 0.6}, {5: 0.1, 10: 0.15, 50: 0.3, 100: 0.4})
    if by_segment:
        result["segments"] = SEGMENTS
    data_stats = {"source": "<img src=x onerror=alert(1)>", "users": 3, "items": items} if stats else {}
    return final_document(history, result, data_stats)


@pytest.fixture
def finished_document(one_epoch) -> dict:
    return document(one_epoch)


@pytest.fixture
def segmented_document(one_epoch) -> dict:
    return document(one_epoch, by_segment=True)


def test_final_document_holds_test_figures_and_baselines(finished_document):
    assert finished_document["final_metrics"]["test_recall_at_10"] == 0.3
    assert finished_document["final_metrics"]["test_loss"] == 5.0
    assert finished_document["baselines"]["popularity"]["test_recall_at_10"] == 0.15
    scalars = scalar_metrics(finished_document)
    assert scalars["popularity_recall_at_10"] == 0.15 and scalars["test_recall_at_100"] == 0.6


def test_report_is_self_contained_and_escaped(finished_document):
    html = report.html_report(finished_document)
    assert "<script" not in html and "<img" not in html and "<b>adam" not in html
    assert "&lt;script&gt;" in html and "$x^{$" in html  # escaped, and the `$` pair printed as it is
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html and "<metadata" not in html
    # recall and NDCG bars; loss, seconds, gradient norms, regularization, weight spread and range; 4 heatmaps
    assert html.count("<svg") == 12
    assert "The model beats popularity at recall@10" in html


def test_the_table_puts_ndcg_and_mrr_beside_the_baselines(finished_document):
    rows = tables.method_rows(finished_document)
    assert list(rows) == ["model", "popularity"]
    assert list(rows["popularity"]) == tables.test_metric_names()
    assert rows["popularity"][metric_keys.on_test(metric_keys.ndcg(10))] == 0.075
    assert rows["popularity"][metric_keys.on_test(metric_keys.MRR)] == pytest.approx(0.05)
    html = report.html_report(finished_document)
    header = re.search(r"<thead><tr><th></th>(.*?)</tr></thead>", html).group(1)
    assert re.findall(r"<th>([^<]+)</th>", header) == ["recall@5", "recall@10", "recall@50", "recall@100",
                                                       "ndcg@5", "ndcg@10", "ndcg@50", "ndcg@100", "mrr"]


def test_a_catalog_no_larger_than_k_is_warned_about_in_report_and_summary(one_epoch):
    small = document(one_epoch, items=80, recall={5: 0.2, 10: 0.3, 50: 0.9, 100: 1.0})
    (warning,) = tables.catalog_warnings(small)
    assert warning.startswith("recall@100 is 1.0 for every method: the catalog has only 80 products")
    assert "the catalog has only 80 products" in report.html_report(small)
    assert "**Warning:** recall@100 is 1.0" in report.markdown_summary(small)
    assert "warning: recall@100 is 1.0" in tables.recall_text(small)
    assert tables.catalog_warnings(document(one_epoch, items=500)) == []


def test_without_data_stats_the_warning_comes_from_recall_one_everywhere(one_epoch):
    doc = document(one_epoch, stats=False, recall={5: 0.2, 10: 0.3, 50: 0.9, 100: 1.0})
    doc["baselines"]["popularity"]["test_recall_at_100"] = 1.0
    (warning,) = tables.catalog_warnings(doc)
    assert warning.startswith("recall@100 is 1.0 for every method")
    doc["baselines"]["popularity"]["test_recall_at_100"] = 0.99
    assert tables.catalog_warnings(doc) == []


def test_the_kept_epoch_is_said_one_based(one_epoch):
    stopped = document(one_epoch)  # 3 of at most 10 epochs, patience 1, best_epoch index 1
    assert tables.kept_epoch(stopped) == 2
    assert "early stopping ended the run after epoch 3; the model has the weights of epoch 2" in tables.epochs_sentence(stopped)
    ran_out = document(one_epoch, params={"epochs": 3, "early_stopping_patience": 1})
    assert tables.kept_epoch(ran_out) == 2  # Keras restores the best epoch at the end of training either way
    assert "did not end the run early; the model has the weights of epoch 2" in tables.epochs_sentence(ran_out)
    off = document(one_epoch, params={"epochs": 3, "early_stopping_patience": 0})
    assert tables.kept_epoch(off) == 3
    assert "early stopping off: the model has the weights of the last epoch, 3" in tables.epochs_sentence(off)


def drawn(chart: plots.Chart) -> plots.Chart:
    plots.to_svg(chart)  # draws it: ticks are placed
    return chart


def visible_ticks(axis, low, high) -> list[float]:
    return [t for t in axis.get_majorticklocs() if low - 1e-9 <= t <= high + 1e-9]


def test_epoch_axes_have_whole_epochs_from_one_and_round_value_ticks(one_epoch):
    doc = document(one_epoch, losses=tuple(5.31 + 0.1 * i for i in range(10)))
    ax = drawn(plots.losses(doc, kept_epoch=4)).axes[0]
    ticks = visible_ticks(ax.xaxis, *ax.get_xlim())
    assert ticks and all(t == int(t) for t in ticks) and min(ticks) >= 1 and max(ticks) <= 10 and len(ticks) >= 5
    y_ticks = visible_ticks(ax.yaxis, *ax.get_ylim())
    assert all(abs(t * 10 - round(t * 10)) < 1e-9 for t in y_ticks)  # 2.0, 2.5, ... not 5.31, 5.41
    assert not ax.yaxis.get_offset_text().get_text()


def test_a_one_epoch_run_is_a_visible_point(one_epoch):
    doc = document(one_epoch, losses=(3.0,))
    ax = drawn(plots.losses(doc)).axes[0]
    assert visible_ticks(ax.xaxis, *ax.get_xlim()) == [1.0]
    for line in ax.get_lines():
        if line.get_label() in ("train", "validation"):
            assert line.get_marker() == "o" and np.isfinite(line.get_ydata()).sum() == 1


def test_heatmaps_have_a_colour_scale_and_epoch_labels(one_epoch):
    doc = document(one_epoch)
    for chart in plots.histogram_heatmaps(doc):
        drawn(chart)
        heat, colour_bar = chart.axes
        assert colour_bar.get_ylabel() == "share of the epoch's values"
        assert heat.get_ylabel() == "epoch" and visible_ticks(heat.yaxis, 0.5, 3.5) == [1.0, 2.0, 3.0]
    gradients = plots.histogram_heatmaps(doc)[2].axes[0]
    assert gradients.get_xscale() == "linear"  # the fixture's edges are even; log-spaced ones get symlog:
    doc["gradient_stats"]["query"]["histogram"] = {"bin_edges": [-1.0, -1e-3, 1e-3, 1.0], "counts": [[1, 2, 3]] * 3}
    assert plots.histogram_heatmaps(doc)[2].axes[0].get_xscale() == "symlog"


def test_a_notebook_gets_the_same_svg_as_the_report(finished_document):
    chart = plots.losses(finished_document, kept_epoch=2)
    svg = chart._repr_svg_()
    assert svg.startswith("<svg") and svg in report.html_report(finished_document)


def test_markdown_summary_shows_model_beside_baselines(finished_document):
    text = report.markdown_summary(finished_document)
    assert "| model | 0.2000 | 0.3000 |" in text and "| popularity | 0.1000 | 0.1500 |" in text
    assert "ndcg@10" in text and "| mrr |" in text
    assert "<script>" not in text


def test_metrics_text_is_in_k_order_at_four_decimals_in_one_aligned_column(finished_document):
    finished_document["final_metrics"][metric_keys.FINAL_LOSS] = 2.123456789012345
    finished_document["final_metrics"][metric_keys.BLEND_REPEAT_HALF_LIFE] = 90.0  # the longest name
    text = tables.metrics_text(finished_document)
    assert not re.search(r"\d\.\d{5,}", text)
    names = [line.split()[0] for line in text.splitlines() if line.startswith("  test_recall")]
    assert names == ["test_recall_at_5", "test_recall_at_10", "test_recall_at_50", "test_recall_at_100"]
    assert re.search(r"^popularity\s+0\.1000\s+0\.1500\s+0\.3000\s+0\.4000\s+0\.0500\s+0\.0750", text, re.MULTILINE)
    indented = [line for line in text.splitlines() if re.match(r"  \S", line)]
    value_columns = {len(line) - len(line[2 + len(line.split()[0]):].lstrip()) for line in indented}
    assert len(indented) > 5 and value_columns == {2 + len(metric_keys.BLEND_REPEAT_HALF_LIFE) + 2}, text
    assert "  final_loss                   2.1235" in text and "  blend_repeat_half_life_days  90 days" in text


def test_every_table_writes_a_figure_column_at_the_headline_decimals(finished_document):
    finished_document["baselines"]["popularity"]["test_mrr"] = 0.04432
    html = report.html_report(finished_document)
    assert "<td>0.0443</td>" in html and "<td>0.3000</td>" in html and "0.04432" not in html
    assert "(0.3000 vs 0.1500)" in html  # the headline, at the same decimals
    assert tables.fmt(0.00002) == "2.00e-05" and tables.fmt(0.0) == "0.0000"  # a small figure never reads as 0


def test_blend_fields_are_not_shown_as_0_when_the_mixture_ranks(finished_document):
    finished_document["final_metrics"].update({metric_keys.SCORES_BY_MIXTURE: 1.0, metric_keys.BLEND_TOWERS_WEIGHT: 0.0,
                                               metric_keys.BLEND_KNN_WEIGHT: 0.0, metric_keys.BLEND_REPEAT_HALF_LIFE: 0.0})
    text = tables.metrics_text(finished_document)
    for name in (metric_keys.BLEND_TOWERS_WEIGHT, metric_keys.BLEND_KNN_WEIGHT, metric_keys.BLEND_REPEAT_HALF_LIFE):
        (line,) = [line for line in text.splitlines() if line.split()[:1] == [name]]
        assert line.endswith("— (the mixture ranks)"), line
    assert "scores_by_mixture" in text and "1 (the trained mixture ranks)" in text
    assert "<td>— (the mixture ranks)</td>" in report.html_report(finished_document)
    finished_document["final_metrics"].update({metric_keys.SCORES_BY_MIXTURE: 0.0, metric_keys.BLEND_TOWERS_WEIGHT: 0.3})
    assert re.search(r"^  blend_towers_weight\s+0\.3000$", tables.metrics_text(finished_document), re.MULTILINE)


def runs(one_epoch, sources=("a.csv (local)", "a.csv (local)"), items=(500, 500), epochs=(3, 1)) -> list[TrainingMetrics]:
    out = []
    for index, (source, count, n) in enumerate(zip(sources, items, epochs)):
        doc = document(one_epoch, losses=tuple(3.0 - e for e in range(n)), params={"epochs": n, "seed": index}, items=count)
        doc["data_stats"]["source"] = source
        doc["run_id"] = f"r{index}"
        out.append(TrainingMetrics(doc))
    return out


def test_compare_says_when_the_runs_were_not_on_the_same_data(one_epoch):
    same = compare.data_check(runs(one_epoch))
    assert same.same and same.differing == []
    different = runs(one_epoch, sources=("embedded synthetic B2B purchases (seed 42)", "embedded synthetic B2B purchases (seed 7)"),
                     items=(500, 480))
    check = compare.data_check(different)
    assert not check.same and check.differing == ["source", "items"]
    text = compare.comparison_text(different)
    assert text.splitlines()[0].startswith(
        "WARNING: These runs were NOT trained and tested on the same data (they differ in source, items)")
    assert any(line.startswith("* data source") for line in text.splitlines())
    html = compare.comparison_html(different)
    assert 'class="warn banner"' in html and 'class="data-diff diff"' in html
    assert "WARNING" not in compare.comparison_text(runs(one_epoch))


def test_compare_cannot_vouch_for_runs_without_data_stats(one_epoch):
    pair = runs(one_epoch)
    pair[1].raw.pop("data_stats")
    check = compare.data_check(pair)
    assert not check.same and check.without_stats == ["r1"]
    assert "Cannot tell whether these runs used the same data: r1 recorded no data stats" in check.message()


def test_compare_keeps_a_one_epoch_run_visible_and_lists_metrics_in_k_order(one_epoch):
    pair = runs(one_epoch, epochs=(3, 1))
    chart = drawn(plots.line_chart("Training loss", {run.run_id: run.loss["loss"] for run in pair}))
    one = next(line for line in chart.axes[0].get_lines() if line.get_label() == "r1")
    assert one.get_marker() == "o" and np.isfinite(one.get_ydata()).sum() == 1
    names = [row.name for row in compare.comparison_rows(pair) if row.section == "metric" and "recall" in row.name]
    assert names == ["test_recall_at_5", "test_recall_at_10", "test_recall_at_50", "test_recall_at_100"]
    assert compare.comparison_html(pair).count("<svg") == 3


def test_compare_counts_epochs_from_1_as_metrics_show_does(one_epoch):
    pair = runs(one_epoch)  # best_epoch index 1 in both: epoch 2
    for run in pair:
        run.final_metrics[metric_keys.KEPT_EPOCH] = 1
    text = compare.comparison_text(pair)
    (best,) = [line[2:] for line in text.splitlines() if line[2:].startswith("best_epoch ")]
    (kept,) = [line[2:] for line in text.splitlines() if line[2:].startswith("kept_epoch ")]
    assert best.split()[1:] == ["epoch", "2", "epoch", "2"] and kept.split()[1:] == ["epoch", "2", "epoch", "2"]
    assert "epoch 2" in tables.metrics_text(pair[0].raw)
    html = compare.comparison_html(pair)
    assert "<th>best_epoch</th><td>epoch 2</td><td>epoch 2</td>" in html and "<td>1</td><td>1</td>" not in html


def test_compare_text_fits_120_characters_whatever_the_run_ids(one_epoch):
    trio = runs(one_epoch, sources=("embedded synthetic B2B purchases (seed 42)",) * 3, items=(500,) * 3, epochs=(3, 1, 2))
    for index, run in enumerate(trio):
        run.raw["run_id"] = f"two-tower-retrieval-2026-12-02-18-3{index}-10-855637"
    text = compare.comparison_text(trio)
    assert max(len(line) for line in text.splitlines()) <= 120, text
    assert "run 3: two-tower-retrieval-2026-12-02-18-32-10-855637" in text  # each id whole, once
    assert "two-tower-retrieval-2026-12-02-18-32-10-855637" in compare.comparison_html(trio)


def test_legend_names_stay_visible():
    assert plots.short("_private") == " _private"  # matplotlib drops labels that start with '_'
    long_ids = ["two-tower-retrieval-2026-12-02-04-25-39-913523", "two-tower-retrieval-2026-12-02-04-27-45-543025"]
    shown = [plots.short(name) for name in long_ids]
    assert len(set(shown)) == 2 and all(len(name) == 32 and name.endswith(original[-8:]) for name, original in zip(shown, long_ids))
    chart = drawn(plots.line_chart("x", {"_a": [1.0, 2.0], "b": [2.0, 1.0]}))
    assert [text.get_text() for text in chart.axes[0].get_legend().get_texts()] == [" _a", "b"]


# --- by segment: the test rows by what the history knows of them ---------------------------------

def test_the_published_document_and_vertex_have_each_segments_figures(segmented_document, finished_document):
    known = segmented_document["segments"][segments.KNOWN]
    assert list(segmented_document["segments"]) == [segments.KNOWN, segments.NEW_CUSTOMER]
    assert known["rows"] == 150000 and known["model"]["test_recall_at_10"] == 0.004
    assert known["baselines"]["ease"]["test_ndcg_at_10"] == 0.0015 and "recall_at_10" not in known["model"]
    scalars = scalar_metrics(segmented_document)
    assert scalars["known_recall_at_10"] == 0.004 and scalars["new_customer_recall_at_100"] == pytest.approx(0.025)
    assert scalars["new_customer_popularity_recall_at_10"] == 0.002 and scalars["known_towers_only_recall_at_5"] == 0.001
    assert "known_ndcg_at_10" not in scalars and "known_mrr" not in scalars  # recall only, as for the baselines
    assert scalars["test_recall_at_10"] == 0.3 and scalars["popularity_recall_at_10"] == 0.15  # the headline, all rows, as before
    assert "segments" not in finished_document and not any(name.startswith("known_") for name in scalar_metrics(finished_document))


def test_metrics_show_and_run_local_list_each_segment_under_the_headline(segmented_document):
    for text in (tables.metrics_text(segmented_document), tables.recall_text(segmented_document)):
        lines = text.splitlines()
        start = lines.index("test metrics by segment (a new customer's purchase of a new product is in both new segments):")
        assert lines[start - 1] == "" and lines[start + 1].split() == ["recall@10", "recall@100", "ndcg@10"]
        assert lines[start + 2] == "known: 150,000 rows, customer and product bought before"
        assert re.fullmatch(r"  model\s+0\.0040\s+0\.0400\s+0\.0020", lines[start + 3])
        assert [line.split()[0] for line in lines[start + 4:start + 7]] == ["popularity", "ease", "towers_only"]
        assert lines[start + 7] == "new_customer: 32,021 rows, customer with no earlier purchase"
        assert re.fullmatch(r"  group<script>alert\(1\)</script>\$x\^\{\$\s+0\.0022\s+0\.0221\s+0\.0011", lines[-1])
        assert "new_product" not in text and max(len(line) for line in lines) <= 120, text
    assert lines[0].split() == ["recall@5", "recall@10", "recall@50", "recall@100"]  # run-local: the headline first


def test_without_segments_no_view_has_a_segment_section(finished_document):
    assert tables.segment_tables(finished_document) == {} and tables.segment_lines(finished_document) == []
    assert "by segment" not in tables.metrics_text(finished_document) and "by segment" not in tables.recall_text(finished_document)
    assert "by segment" not in report.html_report(finished_document) and "by segment" not in report.markdown_summary(finished_document)


def test_the_report_and_summary_show_each_segment_after_the_test_metrics(segmented_document):
    html = report.html_report(segmented_document)
    headings = ("Test metrics: model and baselines", "<h2>Test metrics by segment</h2>", "<h2>Training</h2>")
    sections = [html.index(heading) for heading in headings]
    assert sections == sorted(sections)
    assert "<h3>known: 150,000 rows, customer and product bought before</h3>" in html
    assert "<h3>new_customer: 32,021 rows, customer with no earlier purchase</h3>" in html and "new_product" not in html
    known = html[html.index("<h3>known"):html.index("<h3>new_customer")]
    assert re.findall(r"<thead><tr><th></th>(.*?)</tr></thead>", known) == ["<th>recall@10</th><th>recall@100</th><th>ndcg@10</th>"]
    assert "<tr><th>model</th><td>0.0040</td><td>0.0400</td><td>0.0020</td></tr>" in known
    assert "<tr><th>towers_only</th><td>0.0020</td><td>0.0200</td><td>0.0010</td></tr>" in known
    assert "<script" not in html and "group&lt;script&gt;" in html
    assert html.count("<svg") == 12  # tables only: the charts are the headline's
    summary = report.markdown_summary(segmented_document)
    assert summary.index("| popularity | 0.1000 |") < summary.index("## Test metrics by segment")
    assert "**new_customer: 32,021 rows, customer with no earlier purchase**\n\n| | recall@10 | recall@100 | ndcg@10 |" in summary
    assert "| model | 0.0025 | 0.0250 | 0.0013 |" in summary and "<script>" not in summary


def test_compare_has_a_row_per_segment_method_and_metric(one_epoch):
    pair = runs(one_epoch)
    pair[0].raw["segments"] = document(one_epoch, by_segment=True)["segments"]  # the other run is from before segments
    rows = [row for row in compare.comparison_rows(pair) if row.section == "segment"]
    assert [row.name for row in rows[:5]] == ["known rows", "known model recall@10", "known model recall@100", "known model ndcg@10",
                                              "known ease recall@10"]
    assert {row.name for row in rows} >= {"new_customer popularity recall@100", f"new_customer group{HOSTILE} ndcg@10"}
    (known_rows,) = [row for row in rows if row.name == "known rows"]
    assert known_rows.values == [150000, None] and known_rows.shown == ["150000", "—"] and known_rows.differs
    text = compare.comparison_text(pair)
    assert re.search(r"^\* known model recall@10\s+0\.0040\s+—$", text, re.MULTILINE)
    assert max(len(line) for line in text.splitlines()) <= 120, text
    html = compare.comparison_html(pair)
    assert '<tr class="section"><th colspan="3">segment</th></tr>' in html and "<th>known towers_only recall@100</th>" in html
    assert "<script" not in html
