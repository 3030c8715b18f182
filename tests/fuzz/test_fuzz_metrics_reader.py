"""Random JSON, damaged histories and random bytes into load_training_metrics: a validated history
or a MetricsValidationError naming a field, nothing else; oversized files are refused unread."""

import copy
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recs_pipeline.tracking import reader, report, tables
from recs_pipeline.tracking.collector import MetricsCollector
from recs_pipeline.tracking.schema import MetricsValidationError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
                derandomize=True)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


def load_text(text: bytes, name: str = "training_metrics.json"):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(text)
        return reader.load_training_metrics(str(path))


def outcome(text: bytes, name: str = "training_metrics.json") -> str:
    try:
        load_text(text, name)
    except MetricsValidationError as error:
        assert error.field and str(error)
        return "rejected"
    return "valid"


@pytest.fixture
def valid_document(one_epoch) -> dict:
    collector = MetricsCollector("fuzz", {"epochs": 2})
    for epoch in range(2):
        one_epoch(collector, epoch)
    collector.set_final_metrics({"test_recall_at_10": 0.3})
    document = json.loads(collector.serialise())
    assert outcome(json.dumps(document).encode()) == "valid"
    return document


@FUZZ
@given(value=json_values)
def test_random_json_is_rejected_naming_a_field(value):
    assert outcome(json.dumps(value).encode()) == "rejected"


@FUZZ
@given(raw=st.binary(max_size=300))
def test_random_bytes_are_rejected(raw):
    assert outcome(raw) == "rejected"
    assert outcome(raw, "training_metrics") == "rejected"  # the pipeline artifact's own name, no suffix


def paths_of(document, prefix=()):
    """Every (path) to a value in the document, for damage at any depth."""
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from paths_of(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document[:3]):
            yield from paths_of(value, (*prefix, index))


@FUZZ
@given(data=st.data())
def test_a_damaged_history_is_rejected_or_still_valid(valid_document, data):
    paths = [p for p in paths_of(valid_document) if p]
    path = data.draw(st.sampled_from(paths))
    damaged = copy.deepcopy(valid_document)
    parent = damaged
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(json_values)
    result = outcome(json.dumps(damaged).encode())
    assert result in ("rejected", "valid")
    if result == "valid":  # what the reader accepts, the notebook views and the report can show
        metrics = load_text(json.dumps(damaged).encode())
        metrics.losses_frame()
        metrics.final_metrics_frame()
        tables.metrics_text(metrics.raw)
        report.markdown_summary(metrics.raw)


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "training_metrics.json"
    path.write_text(" " * 2000 + "{}")
    monkeypatch.setattr(reader, "MAX_BYTES", 1000)
    read = []
    monkeypatch.setattr(reader.storage, "read_bytes", lambda uri: read.append(uri))
    with pytest.raises(MetricsValidationError, match="2002 bytes, over the 1000 limit"):
        reader.load_training_metrics(str(path))
    assert read == []
