"""Metric names are spelled in core.metric_keys only: the modules that write or read final_metrics take them from there."""

import ast
import re
from pathlib import Path

from recs_pipeline.core import metric_keys

PACKAGE = Path(__file__).resolve().parents[2] / "trainer_image" / "recs_pipeline"
READERS = [*sorted((PACKAGE / "steps").glob("*.py")), PACKAGE / "vertex" / "lineage.py", PACKAGE / "evaluation" / "ranking.py",
           PACKAGE / "evaluation" / "output.py"]
NAMES = {value for name, value in vars(metric_keys).items() if name.isupper() and isinstance(value, str) and value != metric_keys.LOSS}


def test_no_metric_name_is_spelled_outside_metric_keys():
    spelled = []
    for path in READERS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                    node.value in NAMES or re.fullmatch(r"(test_)?[a-z]+_at_\d+", node.value)):
                spelled.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.value!r}")
    assert spelled == []
