"""Every benchmark still runs: each script at its `--smoke` size, in a fresh process, printing its
headline figure. Benchmarks measure; this only keeps them from rotting unseen."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
HEADLINES = {
    "collector_overhead.py": "overhead_ratio[collector]:",
    "evaluate_speed.py": "speedup_ratio:",
    "optimizer_step.py": "train_step_whole_tables_vs_used_rows_ratio lazy_adam:",
    "prep_scale.py": "time_ratio:",
    "quality.py": "model_vs_best_baseline_at_10:",
    "recommend_cost.py": "file_vs_separate_calls_ratio:",
    "report_render.py": "render_cpu_vs_budget:",
    "retrieval_speed.py": "exported_vs_numpy_time_ratio:",
    "run_local_time.py": "budget_ratio:",
    "train_memory.py": "train_peak_vs_budget:",
    "train_throughput.py": "throughput_ratio:",
}
DATA_BUILDERS = {"tafeng.py"}  # builds the Ta-Feng file the benchmarks read; it measures nothing


def test_every_benchmark_has_a_smoke_check():
    assert sorted(HEADLINES) == sorted(path.name for path in BENCHMARKS.glob("*.py") if path.name not in DATA_BUILDERS)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(HEADLINES))
def test_benchmark_runs_at_smoke_size(script):
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), "--smoke"], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert HEADLINES[script] in result.stdout, result.stdout[-2000:]
