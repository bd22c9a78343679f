"""Bad models and manifests are refused at load with a ConfigError naming what is wrong."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest

from hilbench.dut.compute import BUNDLED_MANIFEST, InferenceEngine, bundled_model
from hilbench.errors import ConfigError

FP32 = bundled_model("tiny-llm.onnx")


def _without(tmp_path: Path, *, inputs: tuple[str, ...] = (), outputs: tuple[str, ...] = ()) -> Path:
    model = onnx.load(str(FP32))
    keep_in = [i for i in model.graph.input if i.name not in inputs]
    keep_out = [o for o in model.graph.output if o.name not in outputs]
    del model.graph.input[:]
    model.graph.input.extend(keep_in)
    del model.graph.output[:]
    model.graph.output.extend(keep_out)
    if inputs:  # keep the graph valid: feed a removed input from a constant (an empty cache for a cache input)
        for name in inputs:
            value = np.zeros((1, 4, 0, 16), np.float32) if name.startswith("past_") else np.zeros((1, 1), np.int64)
            model.graph.initializer.append(onnx.numpy_helper.from_array(value, name))
    path = tmp_path / "broken.onnx"
    onnx.save(model, str(path))
    return path


def test_non_onnx_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.onnx"
    path.write_text("this is a text file, not a model\n" * 20)
    with pytest.raises(ConfigError, match="not an ONNX model") as info:
        InferenceEngine(path)
    assert info.value.file == str(path)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match="not an ONNX model: the file is empty"):
        InferenceEngine(empty)
    with pytest.raises(ConfigError, match="model file not found"):
        InferenceEngine(tmp_path / "nope.onnx")


def test_model_missing_an_input(tmp_path: Path) -> None:
    path = _without(tmp_path, inputs=("past_key_values.1.value",))
    with pytest.raises(ConfigError) as info:
        InferenceEngine(path)
    message = str(info.value)
    assert "missing inputs: past_key_values.1.value" in message
    assert "attention_mask" not in message.split("(expected")[0]
    assert message.startswith(str(path))


def test_a_model_without_position_ids_is_fed_without_them(tmp_path: Path) -> None:
    """Gemma and BLOOM exports declare no position_ids: the engine feeds only what a model declares."""
    path = _without(tmp_path, inputs=("position_ids",))
    engine = InferenceEngine(path)
    assert engine.spec.inputs == frozenset({"attention_mask"})
    assert len(engine.generate([[1, 2, 3]], 5).tokens[0]) == 5


def test_model_missing_outputs(tmp_path: Path) -> None:
    path = _without(tmp_path, outputs=("present.1.value",))
    with pytest.raises(ConfigError, match=r"missing outputs: present\.1\.value"):
        InferenceEngine(path)


def test_sha_mismatch_names_expected_and_got(tmp_path: Path) -> None:
    model = tmp_path / "tiny-llm.onnx"  # same name as the manifest entry, different bytes
    data = bytearray(FP32.read_bytes())
    data[-1] ^= 0x01  # a last-byte flip that might even still load
    model.write_bytes(bytes(data))
    got = hashlib.sha256(bytes(data)).hexdigest()
    expected = hashlib.sha256(FP32.read_bytes()).hexdigest()
    with pytest.raises(ConfigError) as info:
        InferenceEngine(model, manifest=BUNDLED_MANIFEST)
    assert info.value.entry == "sha256"
    assert f"expected {expected}" in str(info.value)
    assert f"got {got}" in str(info.value)


def test_manifest_without_entry(tmp_path: Path) -> None:
    model = tmp_path / "other.onnx"
    model.write_bytes(FP32.read_bytes())
    with pytest.raises(ConfigError, match=r'models\."other\.onnx".*no entry'):
        InferenceEngine(model, manifest=BUNDLED_MANIFEST)


def test_manifest_not_toml(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.toml"
    manifest.write_text("[models\nbroken")
    with pytest.raises(ConfigError, match="not valid TOML"):
        InferenceEngine(FP32, manifest=manifest)
