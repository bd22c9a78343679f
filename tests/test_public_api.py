"""The public surface: the names ``hilbench`` promises, loaded lazily, and docs/api.md's examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import hilbench

ROOT = Path(__file__).resolve().parents[1]
API_DOC = ROOT / "docs" / "api.md"


def test_every_promised_name_resolves_and_is_documented() -> None:
    doc = API_DOC.read_text()
    for name in hilbench.__all__:
        assert getattr(hilbench, name) is not None
        assert f"`{name}" in doc or f"{name}(" in doc or f"`hilbench.{name}`" in doc, name
    assert re.fullmatch(r"\d+\.\d+\.\d+.*|0\+unknown", hilbench.__version__)


def test_all_is_exactly_the_lazily_loaded_names_and_the_version() -> None:
    assert sorted(hilbench.__all__) == sorted(["__version__", *hilbench._PUBLIC])
    assert len(set(hilbench.__all__)) == len(hilbench.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Benchh'"):
        hilbench.Benchh  # noqa: B018


def test_import_hilbench_loads_neither_onnxruntime_nor_cantools() -> None:
    code = "import sys, hilbench; print('onnxruntime' in sys.modules, 'cantools' in sys.modules, 'can' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False", "False"]


def test_the_package_is_typed() -> None:
    assert (ROOT / "hilbench" / "py.typed").exists()


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", API_DOC.read_text(), flags=re.S)


def test_the_doc_shows_a_scenario_run_in_under_15_lines() -> None:
    scenario_block = next(b for b in _python_blocks() if "run_scenario" in b)
    assert len(scenario_block.strip().splitlines()) < 15


@pytest.mark.parametrize("index", range(2))
def test_the_doc_examples_run_as_written(index: int) -> None:
    blocks = _python_blocks()
    assert len(blocks) == 2
    out = subprocess.run([sys.executable, "-c", blocks[index]], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    if index == 0:
        printed = re.search(r"prints\n\n```\n(.*?)```", API_DOC.read_text(), flags=re.S)
        assert printed is not None
        assert out.stdout == printed.group(1)
    else:
        assert out.stdout.startswith("600 s: SOC ")
