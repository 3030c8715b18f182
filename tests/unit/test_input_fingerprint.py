"""The input fingerprint on local files: a rewrite or a new file changes it, nothing else does."""

import os

import pytest
from recs_pipeline.data import sources


def test_local_files_change_the_fingerprint_when_rewritten_or_added(tmp_path):
    first = tmp_path / "orders-1.csv"
    first.write_text("customer_id,product_id\nC1,P1\n")
    uri = str(tmp_path / "orders-*.csv")
    before = sources.fingerprint(uri)
    assert before.startswith("sha256:") and sources.fingerprint(uri) == before
    first.write_text("customer_id,product_id\nC1,P1\nC2,P2\n")
    rewritten = sources.fingerprint(uri)
    assert rewritten != before
    stat = first.stat()
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # same size, touched
    assert sources.fingerprint(uri) != rewritten
    touched = sources.fingerprint(uri)
    (tmp_path / "orders-2.csv").write_text("customer_id,product_id\nC3,P3\n")
    assert sources.fingerprint(uri) != touched
    assert sources.fingerprint(str(tmp_path)) == sources.fingerprint(uri)  # the files, not how the URI names them


def test_a_missing_input_is_named():
    with pytest.raises(sources.SourceError, match="input not found: /no/such/orders.csv"):
        sources.fingerprint("/no/such/orders.csv")
