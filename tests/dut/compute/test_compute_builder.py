"""The tiny-model builder: reproducible, small, and what the manifest says."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import tomllib
from pathlib import Path

import pytest

from hilbench.dut.compute import BUNDLED_MANIFEST, bundled_model

BUILDER = Path(__file__).resolve().parents[3] / "fixtures" / "models" / "build_tiny_model.py"


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_tiny_model", BUILDER)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _load_builder().build_all(tmp_path_factory.mktemp("models"))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_shipped_models_match_their_manifest() -> None:
    manifest = tomllib.loads(BUNDLED_MANIFEST.read_text())
    assert set(manifest["models"]) == {"tiny-llm.onnx", "tiny-llm-int8.onnx", "tiny-llm-int8-static.onnx",
                                       "tiny-llm-int4.onnx"}
    for name, entry in manifest["models"].items():
        path = bundled_model(name)
        assert _sha(path) == entry["sha256"], f"{name} changed; rerun {BUILDER.name}"
        assert path.stat().st_size == entry["bytes"]
        assert path.stat().st_size < 1_000_000


def test_rebuild_gives_the_shipped_fp32_bytes(rebuilt: dict[str, Path]) -> None:
    assert rebuilt["fp32"].read_bytes() == bundled_model("tiny-llm.onnx").read_bytes()


def test_build_is_deterministic(rebuilt: dict[str, Path], tmp_path: Path) -> None:
    again = _load_builder().build_all(tmp_path)
    for kind in ("fp32", "int8", "manifest"):
        assert again[kind].read_bytes() == rebuilt[kind].read_bytes(), kind


def test_builder_output_loads(rebuilt: dict[str, Path]) -> None:
    from hilbench.dut.compute import InferenceEngine

    eng = InferenceEngine(rebuilt["fp32"], manifest=rebuilt["manifest"])
    assert (eng.spec.n_layers, eng.spec.n_heads, eng.spec.head_dim, eng.spec.vocab_size) == (2, 4, 16, 256)
    assert eng.spec.max_positions == 512
    eng8 = InferenceEngine(rebuilt["int8"], manifest=rebuilt["manifest"])
    assert eng8.spec.sha256 != eng.spec.sha256
