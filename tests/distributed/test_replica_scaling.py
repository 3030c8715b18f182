"""Under MirroredStrategy the train step's update is the one its loss scaling promises: every
example's loss averaged over the global batch, the weights' penalty once, and each replica's id
rows' penalty summed (each replica penalises the rows its share of the batch used). A penalty
scaled by the replica count like the weights' would move the id rows less."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("one_step_two_replicas.py")


def test_one_step_on_two_replicas_matches_the_promised_update():
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = result.stdout.split()
    difference, moved = float(figures[figures.index("largest_difference") + 1]), float(figures[figures.index("moved") + 1])
    assert moved > 0.1  # the step moved the weights
    assert difference < 1e-5, result.stdout  # with the id rows' penalty divided by 2 it is 0.024
