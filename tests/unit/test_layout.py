"""The package's folders are its architecture: each layer imports only the layers below it (at
module level and inside functions alike), no step imports another step, and merging JSON in
publish_metrics never loads TensorFlow."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "trainer_image" / "recs_pipeline"
# lowest first; a module may import its own layer and any layer before it
LAYERS = ["core", "data", "scoring", "evaluation", "tracking", "model", "training", "vertex", "steps", "components", "pipelines", "cli"]
# (module, layer it imports from above its own): why that import is allowed
ALLOWED_UPWARD = {
    ("trainer_image/recs_pipeline/vertex/submit.py", "pipelines"):
        "with no template given, submit compiles the pipeline it sends (inside the function, so importing vertex loads no kfp)",
}


def imports(path: Path, module_level_only: bool) -> set[str]:
    """The recs_pipeline layers a module imports (first name after recs_pipeline), in every form:
    `from recs_pipeline.x import y`, `from recs_pipeline import x`, `import recs_pipeline.x`."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("recs_pipeline."):
                found.add(node.module.split(".")[1])
            elif node.module == "recs_pipeline":
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names if alias.name.startswith("recs_pipeline."))
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


def test_components_and_pipelines_are_read():
    layers = {layer for layer, _ in modules()}
    assert {"components", "pipelines"} <= layers


def test_imports_only_reach_down_even_inside_functions():
    wrong = [f"{path.relative_to(ROOT)} imports {target}"
             for layer, path in modules()
             for target in imports(path, module_level_only=False)
             if target in LAYERS and LAYERS.index(target) > LAYERS.index(layer)
             and (str(path.relative_to(ROOT)), target) not in ALLOWED_UPWARD]
    assert wrong == []


def test_the_import_reader_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "late.py"
    module.write_text("def compile():\n"
                      "    from recs_pipeline.pipelines.pipeline import compile_pipeline\n"
                      "    import recs_pipeline.cli.commands\n")
    assert imports(module, module_level_only=False) == {"pipelines", "cli"}
    assert imports(module, module_level_only=True) == set()


def test_every_allowed_upward_import_still_exists():
    for (relative, target), why in ALLOWED_UPWARD.items():
        assert why and target in imports(ROOT / relative, module_level_only=False), relative


def test_no_step_imports_another_step():
    for path in (PACKAGE / "steps").glob("*.py"):
        assert "steps" not in imports(path, module_level_only=False), path.name


def test_publishing_metrics_does_not_load_tensorflow():
    code = "import sys, recs_pipeline.steps.publish, recs_pipeline.tracking.reader; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
