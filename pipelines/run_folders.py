"""What run-local leaves on disk between runs: kfp.local writes each run into a new folder of
OUTPUT_DIR/pipeline_root/ (prepared data, model, checkpoints: about 25 MB on the default data),
so after each run only the newest few are kept, and the console says what was removed.

Its own module, without kfp, so the CLI can show the default in its help without importing kfp.
"""

from __future__ import annotations

import shutil
from pathlib import Path

KEEP_RUNS = 3  # run folders kept in pipeline_root/, the newest; 0 keeps them all


def prune_runs(pipeline_root: Path, keep: int) -> str:
    """Remove all but the newest `keep` run folders under `pipeline_root` (0: none removed);
    returns the line that says what went, "" when nothing did."""
    runs = sorted((p for p in pipeline_root.glob("*") if p.is_dir()), key=lambda p: p.stat().st_mtime) if pipeline_root.is_dir() else []
    old = runs[:-keep] if keep > 0 else []
    if not old:
        return ""
    size = sum(f.stat().st_size for folder in old for f in folder.rglob("*") if f.is_file())
    for folder in old:
        shutil.rmtree(folder)
    return f"removed {len(old)} older run(s) from {pipeline_root} ({size / 1e6:.0f} MB); kept the newest {keep} (--keep-runs; 0 keeps all)"
