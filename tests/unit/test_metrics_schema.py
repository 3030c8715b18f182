import json
import math

import numpy as np
import pytest
from recs_pipeline.core import storage
from recs_pipeline.tracking.collector import MetricsCollector, empty_history, weight_bin_edges, weight_statistics
from recs_pipeline.tracking.schema import MetricsValidationError, to_plain, validate
from recs_pipeline.tracking.sink import MetricsSink, SinkUnwritableError


def test_empty_and_grown_histories_are_valid(one_epoch):
    collector = MetricsCollector("run-1", {"epochs": 2})
    validate(json.loads(collector.serialise()))
    one_epoch(collector, 0)
    one_epoch(collector, 1)
    document = json.loads(collector.serialise())
    assert document["epochs"] == [0, 1]
    assert document["weight_stats"]["query"]["histogram"]["counts"] == [[1, 2], [1, 2]]
    assert document["loss"]["val_loss"] == [2.0, 2.0]


def test_appendix_fields_are_all_there():
    document = empty_history("r", {})
    assert set(document["loss"]) == {"loss", "val_loss", "total_loss", "val_total_loss", "regularization_loss", "val_regularization_loss"}
    assert set(document["gradient"]) == {"total", "query", "candidate"}
    assert set(document["gradient_stats"]["query"]) == {"mean", "std", "min", "max", "norm", "histogram"}
    assert {"saved_at", "available", "epochs", "final_metrics", "params", "schema_version", "run_id", "epoch_seconds"} <= set(document)


def test_nan_and_inf_become_null_and_are_counted(one_epoch):
    collector = MetricsCollector("run-1", {})
    one_epoch(collector, 0, loss=float("nan"))
    collector.set_final_metrics({"test_loss": float("inf"), "final_loss": np.float32(0.5)})
    raw = collector.serialise()
    assert b"NaN" not in raw and b"Infinity" not in raw
    document = json.loads(raw)
    assert document["loss"]["loss"] == [None]
    assert document["final_metrics"] == {"test_loss": None, "final_loss": 0.5}
    assert document["non_finite_values"] == 3  # loss, total_loss, test_loss


def test_numpy_types_become_plain():
    plain, count = to_plain({"a": np.int64(3), "b": np.array([1.5, np.nan]), "c": np.bool_(True)})
    assert plain == {"a": 3, "b": [1.5, None], "c": True} and count == 1
    assert type(plain["a"]) is int


def test_epochs_must_arrive_in_order(one_epoch):
    collector = MetricsCollector("run-1", {})
    one_epoch(collector, 0)
    with pytest.raises(ValueError, match="gap or a duplicate"):
        one_epoch(collector, 0)


@pytest.mark.parametrize(
    "breakage, field",
    [
        (lambda d: d["loss"].pop("val_loss"), "loss"),
        (lambda d: d["loss"]["loss"].append("x"), "loss.loss[1]"),
        (lambda d: d["loss"]["loss"].append(1.0), "loss.loss"),
        (lambda d: d.update(epochs=[1]), "epochs"),
        (lambda d: d["weight_stats"]["candidate"]["histogram"]["counts"][0].append(4), "weight_stats.candidate.histogram.counts[0]"),
        (lambda d: d.update(schema_version=99), "schema_version"),
    ],
)
def test_broken_documents_name_the_field(one_epoch, breakage, field):
    collector = MetricsCollector("run-1", {})
    one_epoch(collector, 0)
    document = json.loads(collector.serialise())
    breakage(document)
    with pytest.raises(MetricsValidationError) as caught:
        validate(document)
    assert caught.value.field == field


def test_weight_edges_cover_growth_and_clip_outliers():
    edges = weight_bin_edges(np.array([-0.2, 0.1]), bins=4)
    assert edges[0] == pytest.approx(-0.3) and edges[-1] == pytest.approx(0.3)
    stats = weight_statistics(np.array([-5.0, 0.0, 5.0]), edges)
    assert sum(stats["histogram"]) == 3 and stats["histogram"][0] == 1 and stats["histogram"][-1] == 1
    assert math.isclose(stats["max"], 5.0)


def test_sink_probe_and_flush_write_both_files(tmp_path):
    sink = MetricsSink([str(tmp_path / "a"), str(tmp_path / "b")], run_id="r", epochs_total=3)
    sink.probe()
    assert json.loads((tmp_path / "b" / "training_status.json").read_text())["stage"] == "initializing"
    sink.flush(b'{"x": 1}', "training", 1)
    for target in ("a", "b"):
        status = json.loads((tmp_path / target / "training_status.json").read_text())
        assert status["stage"] == "training" and status["epochs_done"] == 1
        assert (tmp_path / target / "training_metrics.json").read_bytes() == b'{"x": 1}'


def test_unwritable_local_sink_fails_the_probe(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    sink = MetricsSink([str(blocker / "metrics")], run_id="r", epochs_total=1)
    with pytest.raises(SinkUnwritableError, match="file/metrics is not writable"):
        sink.probe()


def test_other_schemes_are_refused():
    with pytest.raises(storage.StorageError, match="unsupported URI 'http://x/y'"):
        storage.check_uri("http://x/y")
    with pytest.raises(storage.StorageError):
        storage.check_uri("gs:///no-bucket")


def test_local_writes_replace_whole_files(tmp_path):
    target = tmp_path / "deep" / "f.json"
    storage.write_bytes(str(target), b"one")
    storage.write_bytes(str(target), b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["f.json"]  # no temp files left


def test_non_finite_count_survives_a_reload(one_epoch):
    collector = MetricsCollector("run-1", {})
    one_epoch(collector, 0, loss=float("nan"))
    saved = json.loads(collector.serialise())
    assert saved["non_finite_values"] == 2
    reloaded = MetricsCollector("run-1", {}, history=saved)
    reloaded.set_final_metrics({"test_loss": float("nan")})
    assert json.loads(reloaded.serialise())["non_finite_values"] == 3


# --- reading back: by the artifact's own URI, and the notebook views ------------------------------

def published(tmp_path, one_epoch, name="training_metrics", epochs=3, by_segment=False):
    """A finished history saved under `name`: the pipeline's training_metrics artifact has no suffix."""
    from recs_pipeline.steps.publish import final_document

    collector = MetricsCollector("nb", {"epochs": epochs})
    for epoch in range(epochs):
        one_epoch(collector, epoch, loss=3.0 - epoch if epoch != 1 else float("nan"))
    collector.set_final_metrics({"final_loss": 1.0, "best_epoch": 0, "best_val_loss": 2.0})
    evaluation = {"model": {"recall_at_10": 0.3, "mrr": 0.1, "loss": 4.0}, "baselines": {"popularity": {"recall_at_10": 0.2, "mrr": 0.05}}}
    if by_segment:  # a segment's figures may be non-finite (null once saved); evaluate writes numpy counts
        evaluation["segments"] = {
            "new_product": {"rows": np.int64(40), "model": {"recall_at_10": 0.05, "mrr": float("nan")},
                            "baselines": {"popularity": {"recall_at_10": 0.0}, "category_affinity": {"recall_at_10": 0.01}}},
            "known": {"rows": 900, "model": {"recall_at_10": 0.4, "mrr": 0.2}, "baselines": {"popularity": {"recall_at_10": 0.25}}},
        }
    document = final_document(json.loads(collector.serialise()), evaluation, {"source": "x.csv (local)", "items": 500})
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(MetricsCollector("nb", {}, history=document).serialise())
    return path


def test_the_artifact_is_read_by_its_own_uri_without_a_suffix(tmp_path, one_epoch):
    from recs_pipeline.tracking.reader import load_training_metrics, resolve

    artifact = published(tmp_path / "publish-metrics", one_epoch)
    metrics = load_training_metrics(str(artifact))
    assert metrics.run_id == "nb" and metrics.uri == str(artifact)
    folder = published(tmp_path / "sink", one_epoch, name="training_metrics.json")
    assert resolve(str(folder.parent)) == str(folder)  # a folder means the file inside
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no training metrics at .*empty: neither a file by that name nor a folder"):
        load_training_metrics(str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="no such file: .*missing"):
        load_training_metrics(str(tmp_path / "missing"))


def test_frames_for_a_notebook(tmp_path, one_epoch):
    import math

    from recs_pipeline.tracking.reader import load_training_metrics

    metrics = load_training_metrics(str(published(tmp_path, one_epoch)))
    losses = metrics.losses_frame()
    assert list(losses.index) == [1, 2, 3] and losses.index.name == "epoch"  # numbered as the report and the log do
    assert losses.loc[1, "loss"] == 3.0 and math.isnan(losses.loc[2, "loss"]) and losses.loc[3, "epoch_seconds"] == 0.5
    assert {"val_loss", "regularization_loss", "val_total_loss"} <= set(losses.columns)
    stats = metrics.epoch_stats_frame()
    assert stats.loc[3, "gradient_norm_total"] == 2.8 and stats.loc[1, "weight_max_candidate"] == 0.5
    final = metrics.final_metrics_frame()
    assert list(final.columns) == ["model", "popularity"] and final.index.name == "metric"
    assert final.loc["test_recall_at_10", "popularity"] == 0.2 and final.loc["test_mrr", "model"] == 0.1
    assert math.isnan(final.loc["final_loss", "popularity"])  # a baseline has no training loss
    assert metrics.kept_epoch == 3  # early stopping off: the last epoch's weights


def test_plots_for_a_notebook_are_the_reports_charts(tmp_path, one_epoch):
    from recs_pipeline.tracking import report
    from recs_pipeline.tracking.reader import load_training_metrics

    metrics = load_training_metrics(str(published(tmp_path, one_epoch)))
    html = report.html_report(metrics.raw)
    charts = [metrics.plot_losses(), metrics.plot_epoch_seconds(), metrics.plot_gradient_norms(), metrics.plot_weight_spread(),
              metrics.plot_histograms("weight_stats", "candidate"), metrics.plot_histograms(), metrics.plot_recall(),
              metrics.plot_ndcg()]
    for chart in charts:
        svg = chart._repr_svg_()
        assert svg.startswith("<svg") and svg in html
    with pytest.raises(ValueError, match="kind must be weight_stats or gradient_stats"):
        metrics.plot_histograms("loss")


# --- segments: optional, so files from before them still read --------------------------------------

@pytest.mark.parametrize(
    "breakage, field",
    [
        (lambda d: d["segments"]["known"].update(rows=-1), "segments.known.rows"),
        (lambda d: d["segments"]["known"].update(rows=1.5), "segments.known.rows"),
        (lambda d: d["segments"]["known"].pop("rows"), "segments.known"),
        (lambda d: d["segments"]["known"].pop("model"), "segments.known"),
        (lambda d: d["segments"]["known"]["model"].update(test_recall_at_10="0.4"), "segments.known.model.test_recall_at_10"),
        (lambda d: d["segments"]["known"]["baselines"]["popularity"].update(test_mrr=[0.1]),
         "segments.known.baselines.popularity.test_mrr"),
        (lambda d: d["segments"]["known"].update(coverage={}), "segments.known"),
        (lambda d: d.update(segments=[]), "segments"),
    ],
)
def test_broken_segments_name_the_field(tmp_path, one_epoch, breakage, field):
    document = json.loads(published(tmp_path, one_epoch, by_segment=True).read_text())
    validate(document)
    breakage(document)
    with pytest.raises(MetricsValidationError) as caught:
        validate(document)
    assert caught.value.field == field


def test_segments_are_read_back_in_their_order_and_a_file_without_them_still_reads(tmp_path, one_epoch):
    import math

    from recs_pipeline.tracking.reader import load_training_metrics

    metrics = load_training_metrics(str(published(tmp_path / "new", one_epoch, by_segment=True)))
    assert list(metrics.segments) == ["known", "new_product"] and metrics.segment_rows == {"known": 900, "new_product": 40}
    assert metrics.raw["segments"]["new_product"]["model"] == {"test_recall_at_10": 0.05, "test_mrr": None}
    frame = metrics.segments_frame()
    assert list(frame.columns) == ["model", "popularity", "category_affinity"] and frame.index.names == ["segment", "metric"]
    assert frame.loc[("known", "test_recall_at_10"), "popularity"] == 0.25
    assert frame.loc[("new_product", "test_recall_at_10"), "model"] == 0.05
    assert math.isnan(frame.loc[("new_product", "test_mrr"), "model"])  # null in the file
    assert math.isnan(frame.loc[("known", "test_recall_at_10"), "category_affinity"])  # a baseline only new_product has
    before = load_training_metrics(str(published(tmp_path / "old", one_epoch)))
    assert "segments" not in before.raw and before.segments == {} and before.segment_rows == {} and before.segments_frame().empty
