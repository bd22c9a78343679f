"""Architecture rules of hilbench.dut.compute.

No CAN, no clock (but the calibration's measurement), onnxruntime imported lazily.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import hilbench.dut.compute as compute

PACKAGE = Path(compute.__file__).parent
FORBIDDEN_IMPORTS = {"can", "cantools", "hilbench.bus", "hilbench.nodes", "hilbench.bench", "serial"}
CLOCK_MODULES = {"time", "datetime"}


def _modules() -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) >= 7
    return files


def _imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_can_imports() -> None:
    for path in _modules():
        for name in _imported(ast.parse(path.read_text())):
            root_match = {name, name.split(".")[0]} & FORBIDDEN_IMPORTS
            prefix_match = any(name.startswith(f + ".") for f in FORBIDDEN_IMPORTS)
            assert not root_match and not prefix_match, f"{path.name} imports {name}"


def test_clock_only_in_measure_tokens_per_s() -> None:
    for path in _modules():
        tree = ast.parse(path.read_text())
        clock_imports = {n.split(".")[0] for n in _imported(tree)} & CLOCK_MODULES
        if path.name != "calibration.py":
            assert not clock_imports, f"{path.name} imports {clock_imports}"
            continue
        assert clock_imports == {"time"}
        allowed = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "measure_tokens_per_s")
        inside = {id(n) for n in ast.walk(allowed)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "time":
                assert id(node) in inside, f"calibration.py uses time.{node.attr} outside measure_tokens_per_s"
                assert node.attr == "perf_counter"
        assert "sleep" not in path.read_text()


def test_importing_compute_does_not_import_onnxruntime() -> None:
    code = (
        "import sys, hilbench.dut.compute; "
        "assert 'onnxruntime' not in sys.modules, 'onnxruntime imported'; "
        "assert 'onnx' not in sys.modules, 'onnx imported'"
    )
    root = PACKAGE.parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
