"""One metrics target, one run id: a second run is refused before it writes anything there."""

import json

import pytest
from recs_pipeline.core import storage
from recs_pipeline.tracking.sink import CLAIM_FILE, STATUS_FILE, MetricsSink, SinkClaimedError


def test_another_run_id_is_refused_and_the_first_runs_files_are_untouched(tmp_path):
    target = str(tmp_path / "metrics")
    MetricsSink([target], run_id="first", epochs_total=3).probe()
    before = (tmp_path / "metrics" / STATUS_FILE).read_bytes()
    with pytest.raises(SinkClaimedError, match="belongs to run 'first'.*run 'second' will not overwrite it"):
        MetricsSink([target], run_id="second", epochs_total=3).probe()
    assert (tmp_path / "metrics" / STATUS_FILE).read_bytes() == before
    assert json.loads((tmp_path / "metrics" / CLAIM_FILE).read_text())["run_id"] == "first"


def test_the_same_run_id_passes_so_a_resume_can_continue(tmp_path):
    target = str(tmp_path / "metrics")
    MetricsSink([target], run_id="r", epochs_total=3).probe()
    MetricsSink([target], run_id="r", epochs_total=5).probe()  # no refusal
    assert json.loads((tmp_path / "metrics" / CLAIM_FILE).read_text())["run_id"] == "r"
    assert json.loads((tmp_path / "metrics" / STATUS_FILE).read_text())["epochs_total"] == 5  # the resumed run's status


def test_create_exclusive_lets_exactly_one_writer_win(tmp_path):
    uri = str(tmp_path / "claim.json")
    assert storage.create_exclusive(uri, b"a") is True
    assert storage.create_exclusive(uri, b"b") is False
    assert (tmp_path / "claim.json").read_bytes() == b"a"


def test_a_run_id_field_gives_each_run_its_own_folder(tmp_path):
    from recs_pipeline.tracking.sink import expand_metrics_uri

    template = str(tmp_path / "metrics" / "{run_id}")
    for run_id in ("nightly-2026-11-23", "nightly-2026-11-30"):
        MetricsSink([expand_metrics_uri(template, run_id)], run_id=run_id, epochs_total=1).probe()  # no refusal
        assert (tmp_path / "metrics" / run_id / CLAIM_FILE).is_file()
    assert expand_metrics_uri("gs://b/m/{run_id}", "a/b c") == "gs://b/m/a-b-c"
    assert expand_metrics_uri("", "x") == ""
