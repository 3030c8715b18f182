"""The package's folders are its architecture: each layer imports only the layers below it, no
step imports another step, and merging JSON in publish_metrics never loads TensorFlow."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "trainer_image" / "recs_pipeline"
# lowest first; a module may import its own layer and any layer before it at module level
LAYERS = ["core", "data", "evaluation", "tracking", "model", "training", "vertex", "steps", "components", "pipelines", "cli"]


def imports(path: Path, module_level_only: bool) -> set[str]:
    """The recs_pipeline layers a module imports (first name after recs_pipeline)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("recs_pipeline."):
            found.add(node.module.split(".")[1])
    return found


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if len(relative.parts) > 1:
            yield relative.parts[0], path
    for layer in ("components", "pipelines"):
        for path in sorted((ROOT / layer).glob("*.py")):
            yield layer, path


def test_every_runtime_folder_is_a_known_layer():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(LAYERS) - {"components", "pipelines"}


def test_module_level_imports_only_reach_down():
    wrong = [f"{path.relative_to(ROOT)} imports {target}"
             for layer, path in modules()
             for target in imports(path, module_level_only=True)
             if target in LAYERS and LAYERS.index(target) > LAYERS.index(layer)]
    assert wrong == []


def test_no_step_imports_another_step():
    for path in (PACKAGE / "steps").glob("*.py"):
        assert "steps" not in imports(path, module_level_only=False), path.name


def test_publishing_metrics_does_not_load_tensorflow():
    code = "import sys, recs_pipeline.steps.publish, recs_pipeline.tracking.reader; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
