"""The figures every view of a run shows (report, summary, `metrics show`, run-local's table):
test metrics of the model beside the baselines, overall and per test segment, the catalog-size
warning, which epoch's weights were kept, and one way of writing a number (DECIMALS decimals in
every table and headline).

Epochs are shown numbered from 1, as the training log counts them; in the JSON, `epochs` and
`best_epoch` stay 0-based indexes into the per-epoch lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recs_pipeline.core import metric_keys
from recs_pipeline.core.config import RECALL_KS
from recs_pipeline.core.progress import console_lines
from recs_pipeline.evaluation import output, segments

MODEL = output.MODEL  # the model's row in every table, named as its figures' key
SEGMENT_KS = (10, 100)  # the recall@K (and NDCG@10) shown per segment: the headline's Ks, in fewer columns
SEGMENT_NOTE = "a new customer's purchase of a new product is in both new segments"


DECIMALS = 4  # every figure in a table (recall, NDCG, MRR, losses, weights), so a column reads as one
_SMALLEST = 0.5 * 10 ** -DECIMALS
# Fields of the blend that say nothing when validation chose the trained mixture (their value is 0 then).
BLEND_ONLY = (metric_keys.BLEND_TOWERS_WEIGHT, metric_keys.BLEND_NEW_CUSTOMER_TOWERS_WEIGHT, metric_keys.BLEND_NEW_PRODUCT_TOWERS_WEIGHT,
              metric_keys.BLEND_KNN_WEIGHT, metric_keys.BLEND_REPEAT_HALF_LIFE)


def fmt(value: Any) -> str:
    """Floats at DECIMALS decimals, as the headline writes them; a non-zero figure that would read
    as 0.0000 in scientific notation instead; None (a non-finite value, or not measured) as a dash."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.2e}" if value and abs(value) < _SMALLEST else f"{value:.{DECIMALS}f}"
    return "—" if value is None else str(value)


def param_text(value: Any) -> str:
    """A parameter as it was set (0.005, 1e-05, 10): settings are not measurements to round."""
    return "—" if value is None else str(value)


def final_metric_text(name: str, value: Any, final_metrics: Mapping[str, Any] | None = None) -> str:
    """A final_metrics value as a person reads it: epochs as `epoch N` (from 1), the score form in
    words, the blend's fields as not used when the mixture ranks (not as 0), figures by fmt."""
    if value is None:
        return fmt(value)
    if name in (metric_keys.BEST_EPOCH, metric_keys.KEPT_EPOCH):
        return metric_keys.epoch_label(int(value))
    if name == metric_keys.SCORES_BY_MIXTURE:
        return "1 (the trained mixture ranks)" if value else "0 (the blend ranks)"
    if name in BLEND_ONLY and (final_metrics or {}).get(metric_keys.SCORES_BY_MIXTURE):
        return "— (the mixture ranks)"
    if name == metric_keys.BLEND_REPEAT_HALF_LIFE:
        return f"{value:g} days" if value else "0 (repeats by count)"
    return fmt(value)


def ordered(names: Any) -> list[str]:
    """Metric names by metric, then K as a number (recall_at_5, _at_10, _at_50, _at_100)."""
    return sorted(names, key=metric_keys.sort_key)


def test_metric_names() -> list[str]:
    """The test figures shown for the model and every baseline side by side."""
    return (
        [metric_keys.test_recall(k) for k in RECALL_KS]
        + [metric_keys.on_test(metric_keys.ndcg(k)) for k in RECALL_KS]
        + [metric_keys.on_test(metric_keys.MRR)]
    )


def method_rows(document: Mapping[str, Any], names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """{model or baseline: {test metric name: value}}: the one comparison every view shows."""
    return _methods(document["final_metrics"], document.get(output.BASELINES, {}), names if names is not None else test_metric_names())


def _methods(model: Mapping[str, Any], baselines: Mapping[str, Mapping[str, Any]], names: list[str]) -> dict[str, dict[str, Any]]:
    rows = {MODEL: {name: model.get(name) for name in names}}
    for baseline, figures in baselines.items():
        rows[str(baseline)] = {name: figures.get(name) for name in names}
    return rows


def segment_metric_names() -> list[str]:
    """The test figures shown per segment: recall@10 and @100, and NDCG@10."""
    return [metric_keys.test_recall(k) for k in SEGMENT_KS] + [metric_keys.on_test(metric_keys.ndcg(SEGMENT_KS[0]))]


def segment_tables(document: Mapping[str, Any], names: list[str] | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """{segment: {model or baseline: {test metric name: value}}} for each segment the document has,
    in evaluation.segments' order; empty for a document from before segments were measured."""
    names = names if names is not None else segment_metric_names()
    return {segment: _methods(figures.get(output.MODEL, {}), figures.get(output.BASELINES, {}), names)
            for segment, figures in output.segment_figures(document).items()}


def segment_heading(document: Mapping[str, Any], segment: str) -> str:
    """How a segment is introduced: `new_customer: 32,021 rows, customer with no earlier purchase`."""
    rows = output.segment_figures(document)[segment].get(segments.ROWS)
    description = segments.DESCRIPTIONS.get(segment)
    count = f"{rows:,}" if isinstance(rows, int) else fmt(rows)
    return f"{segment}: {count} rows" + (f", {description}" if description else "")


def segment_lines(document: Mapping[str, Any]) -> list[str]:
    """The by-segment table as console lines, after a blank one (none without segments): one block
    per segment, its heading then the model and each baseline, the columns headed once."""
    found = segment_tables(document)
    if not found:
        return []
    names = segment_metric_names()
    width = max(len(method) for rows in found.values() for method in rows) + 2
    lines = ["", *console_lines(f"test metrics by segment ({SEGMENT_NOTE}):", indent="  "),
             " " * (width + 2) + "".join(f"{metric_keys.label(name):>12s}" for name in names)]
    for segment, rows in found.items():
        lines += console_lines(segment_heading(document, segment), indent="  ")
        lines += [f"  {method:{width}s}" + "".join(f"{fmt(value):>12s}" for value in figures.values()) for method, figures in rows.items()]
    return lines


def recall_table_rows(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Model and baselines keyed by the recall@K label."""
    keys = [metric_keys.test_recall(k) for k in RECALL_KS]
    return {method: {metric_keys.label(name): value for name, value in figures.items()}
            for method, figures in method_rows(document, keys).items()}


def catalog_warnings(document: Mapping[str, Any]) -> list[str]:
    """A K at or above the catalog size puts every product in every top-K: recall@K is 1.0 for
    every method and compares nothing. Said for each such K (from the data stats' product count,
    or, without stats, when every method's recall@K is exactly 1.0)."""
    items = document.get("data_stats", {}).get("items")
    rows = method_rows(document, [metric_keys.test_recall(k) for k in RECALL_KS])
    warnings = []
    for k in RECALL_KS:
        recalls = [figures.get(metric_keys.test_recall(k)) for figures in rows.values()]
        everywhere_one = all(value == 1.0 for value in recalls)
        if isinstance(items, int) and items <= k:
            warnings.append(f"{metric_keys.recall_label(k)} is 1.0 for every method: the catalog has only {items} products, "
                            f"all in every top {k}; compare at a K below {items}.")
        elif items is None and everywhere_one and recalls:
            warnings.append(f"{metric_keys.recall_label(k)} is 1.0 for every method: the catalog probably has at most {k} "
                            "products; this K compares nothing.")
    return warnings


def kept_epoch(document: Mapping[str, Any]) -> int | None:
    """The epoch (1-based) whose weights the model has. With early stopping on, the trainer keeps
    the best validation loss's epoch (Keras restores it at the end, whether or not it stopped the
    run early); with it off, the last epoch's. None before training finished. The train step
    records it (final_metrics.kept_epoch, 0-based); older histories have it derived."""
    recorded = document["final_metrics"].get(metric_keys.KEPT_EPOCH)
    if recorded is not None:
        return int(recorded) + 1
    best = document["final_metrics"].get(metric_keys.BEST_EPOCH)
    done = len(document["epochs"])
    if best is None or done == 0:
        return None
    return int(best) + 1 if _early_stopping(document) else done


def _early_stopping(document: Mapping[str, Any]) -> bool:
    return bool(document["params"].get("early_stopping_patience") or 0)


def epochs_sentence(document: Mapping[str, Any]) -> str:
    """How many epochs ran, whether early stopping ended the run, and which epoch's weights the
    model has, in one or two sentences."""
    done = len(document["epochs"])
    planned = document["params"].get("epochs")
    kept = kept_epoch(document)
    ran = f"{done} epoch{'s' if done != 1 else ''}" + (f" of at most {planned}" if isinstance(planned, int) else "")
    if kept is None:
        return f"{ran}; training had not finished when this was saved."
    if not _early_stopping(document):
        return f"{ran}, early stopping off: the model has the weights of the last epoch, {kept}. Epochs are numbered from 1."
    stopped = isinstance(planned, int) and done < planned
    best_val = document["final_metrics"].get(metric_keys.BEST_VAL_LOSS)
    how = f"early stopping ended the run after epoch {done}" if stopped else "early stopping did not end the run early"
    return (f"{ran}: {how}; the model has the weights of epoch {kept}, the lowest validation loss ({fmt(best_val)}). "
            "Epochs are numbered from 1.")


def recall_text(document: Mapping[str, Any]) -> str:
    """Recall@K of the model beside every baseline as a text table, then any catalog warning and the
    by-segment table."""
    rows = recall_table_rows(document)
    width = max([len(name) for name in rows] + [16]) + 2
    lines = [" " * width + "".join(f"{metric_keys.recall_label(k):>12s}" for k in RECALL_KS)]
    for name, figures in rows.items():
        lines.append(f"{name:{width}s}" + "".join(f"{fmt(value):>12s}" for value in figures.values()))
    lines += [line for warning in catalog_warnings(document) for line in console_lines(f"warning: {warning}")]
    lines += segment_lines(document)
    return "\n".join(lines)


def metrics_text(document: Mapping[str, Any]) -> str:
    """What `metrics show` prints: epochs, last losses, final metrics in K order, the model beside
    the baselines on every test metric, then by segment; numbers at DECIMALS decimals, names in one
    aligned column."""
    lines = [f"run {document['run_id']}: {len(document['epochs'])} epoch(s)", *console_lines(epochs_sentence(document), indent="")]
    final = document["final_metrics"]
    width = max(len(name) for name in [*document["loss"], *final, ""]) + 2
    lines.append("last epoch:")
    for name, series in document["loss"].items():
        lines.append(f"  {name:{width}s}{fmt(series[-1] if series else None)}")
    if final:
        lines.append("final metrics:")
        for name in ordered(final):
            lines.append(f"  {name:{width}s}{final_metric_text(name, final[name], final)}")
    if document.get("baselines"):
        rows = method_rows(document)
        width = max(len(name) for name in rows) + 2
        lines.append("\ntest metrics, model and baselines:")
        lines.append(" " * width + "".join(f"{metric_keys.label(name):>11s}" for name in test_metric_names()))
        for method, figures in rows.items():
            lines.append(f"{method:{width}s}" + "".join(f"{fmt(value):>11s}" for value in figures.values()))
    lines += [line for warning in catalog_warnings(document) for line in console_lines(f"warning: {warning}")]
    lines += segment_lines(document)
    return "\n".join(lines)
