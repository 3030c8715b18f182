"""run-local keeps the newest run folders of pipeline_root/ and says what it removed."""

import os

from click.testing import CliRunner
from recs_pipeline.cli import main
from recs_pipeline.pipelines.run_folders import KEEP_RUNS, prune_runs


def make_runs(root, count):
    for index in range(count):
        folder = root / f"two-tower-retrieval-2026-12-02-10-0{index}-00"
        (folder / "train").mkdir(parents=True)
        (folder / "train" / "model.bin").write_bytes(b"x" * 2_000_000)
        os.utime(folder, (1_000_000 + index, 1_000_000 + index))  # older first, by modification time
    return sorted(p.name for p in root.iterdir())


def test_only_the_newest_runs_stay_and_the_line_says_what_went(tmp_path):
    names = make_runs(tmp_path, 5)
    line = prune_runs(tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == names[-2:]
    assert line == f"removed 3 older run(s) from {tmp_path} (6 MB); kept the newest 2 (--keep-runs; 0 keeps all)"
    assert prune_runs(tmp_path, 2) == ""  # nothing more to remove, nothing said


def test_zero_keeps_every_run_and_a_missing_root_is_no_error(tmp_path):
    make_runs(tmp_path, 4)
    assert prune_runs(tmp_path, 0) == "" and len(list(tmp_path.iterdir())) == 4
    assert prune_runs(tmp_path / "none", KEEP_RUNS) == ""


def test_run_local_documents_the_option():
    help_text = CliRunner().invoke(main, ["run-local", "--help"]).output
    assert "--keep-runs" in help_text and f"default: {KEEP_RUNS}" in help_text
