"""The engine on exports nobody here built: tiny GPT-2, Llama, Gemma, BLOOM and Phi-3 decoders exported by
optimum (``fixtures/models/export_real_layouts.py``), a float16 GPT-2 and a GPT-2 with external weights.

Their manifest holds the greedy tokens a plain onnxruntime loop and transformers' ``generate`` made
(they agree); the engine must make the same, alone and in a left-padded batch, feeding each model only
the inputs it declares, and know each one's context from the files beside it.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

import pytest

from hilbench.dut.compute import InferenceEngine
from hilbench.dut.compute.engine import model_sha256
from hilbench.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3] / "fixtures" / "models" / "real_layouts"
MANIFEST = tomllib.loads((ROOT / "manifest.toml").read_text(encoding="utf-8"))
FOLDERS = sorted(MANIFEST["folders"])
REFERENCE = MANIFEST["reference"]
PROMPT_A, PROMPT_B = REFERENCE["prompt_a"], REFERENCE["prompt_b"]
NEW_TOKENS = REFERENCE["new_tokens"]


def _entry(folder: str) -> dict[str, Any]:
    return MANIFEST["folders"][folder]


@pytest.fixture(scope="module", params=FOLDERS)
def export(request: pytest.FixtureRequest) -> tuple[str, InferenceEngine]:
    folder = request.param
    return folder, InferenceEngine(ROOT / folder / "model.onnx")


def test_the_exports_are_the_ones_the_manifest_lists() -> None:
    assert {"gpt2", "llama", "gemma", "bloom", "phi3", "gpt2-fp16", "gpt2-external"} <= set(FOLDERS)
    for folder in FOLDERS:
        for name, file in _entry(folder)["files"].items():
            data = (ROOT / folder / name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == file["sha256"], f"{folder}/{name}"
            assert len(data) < 1_000_000


def test_greedy_tokens_equal_a_plain_onnxruntime_loop_and_transformers(export) -> None:
    folder, engine = export
    greedy = _entry(folder)["greedy"]
    assert engine.generate([PROMPT_A], NEW_TOKENS).tokens == greedy["prompt_a_ort"]
    assert engine.generate([PROMPT_B], NEW_TOKENS).tokens == greedy["prompt_b_ort"]
    if "prompt_a_hf" in greedy:
        assert greedy["prompt_a_ort"] == greedy["prompt_a_hf"]   # the reference itself agrees with transformers


def test_a_left_padded_batch_makes_the_same_tokens(export) -> None:
    folder, engine = export
    assert engine.generate([PROMPT_A, PROMPT_B], NEW_TOKENS).tokens == _entry(folder)["greedy"]["batch_ab_ort"]


def test_each_model_is_fed_only_the_inputs_it_declares(export) -> None:
    folder, engine = export
    entry = _entry(folder)
    declared = {i["name"] for i in entry["inputs"]}
    assert engine.spec.inputs == declared & {"attention_mask", "position_ids", "token_type_ids"}
    assert ("position_ids" in engine.spec.inputs) == entry["has_position_ids"]
    assert engine.spec.cache_dtype == entry["cache_dtype"]
    assert engine.spec.n_heads == entry["num_key_value_heads"] and engine.spec.head_dim == entry["head_dim"]


def test_the_context_and_eos_come_from_the_exporters_files(export) -> None:
    folder, engine = export
    entry = _entry(folder)
    assert engine.spec.max_positions == 128
    assert engine.spec.context_source is not None and engine.spec.context_source.startswith("config.json:")
    assert engine.spec.eos_token_ids == tuple(entry["generation_eos_token_ids"])
    with pytest.raises(ConfigError, match=r"feeds the model 298 positions, more than its context of 128"):
        engine.check_request(list(range(43)), 256)
    engine.check_request(list(range(43)), 86)            # what the check accepts, the decode loop serves:
    assert len(engine.generate([list(range(43))], 86).tokens[0]) == 86


def test_past_the_context_the_engine_stops_before_onnxruntime_would_fail(export) -> None:
    """GPT-2 fails on its position table at 128; RoPE models would run on silently past it."""
    _folder, engine = export
    result = engine.generate([PROMPT_A], 500)
    assert len(PROMPT_A) + len(result.tokens[0]) <= 128 + 1


def test_the_fp16_export_runs_with_a_float16_cache() -> None:
    engine = InferenceEngine(ROOT / "gpt2-fp16" / "model.onnx")
    assert engine.spec.cache_dtype == "float16"
    assert engine.empty_past(1)[0].dtype.name == "float16"
    tokens = engine.generate([PROMPT_A], NEW_TOKENS).tokens
    assert tokens == _entry("gpt2-fp16")["greedy"]["prompt_a_ort"]
    sampled = engine.generate([PROMPT_A], NEW_TOKENS, greedy=False, seed=3).tokens
    assert len(sampled[0]) == NEW_TOKENS


def test_external_weights_load_from_another_directory_and_are_hashed(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    path = ROOT / "gpt2-external" / "model.onnx"
    engine = InferenceEngine(path)
    assert engine.generate([PROMPT_A], NEW_TOKENS).tokens == _entry("gpt2")["greedy"]["prompt_a_ort"]
    files = _entry("gpt2-external")["files"]
    assert "model.onnx_data" in files
    digest = hashlib.sha256((ROOT / "gpt2-external" / "model.onnx").read_bytes()
                            + (ROOT / "gpt2-external" / "model.onnx_data").read_bytes()).hexdigest()
    assert engine.spec.sha256 == model_sha256(path) == digest


SCENARIO = """\
[scenario]
name = "{folder} on the unit"
duration = "4s"

[dut]
fidelity = "real"
model = "{model}"
request_tokens = 64

[[checks]]
kind = "eventually"
name = "tokens flow"
expr = "tokens_total > 0"
within = "4 s"
"""


@pytest.mark.parametrize("folder", ["gemma", "bloom", "gpt2-fp16", "gpt2-external"])
def test_the_compute_unit_serves_requests_on_the_export(folder: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The bench's compute unit, real fidelity (sampling, batched requests), on exports without position_ids,
    with a float16 cache and with external weights: tokens flow and the report names the model's hash."""
    from hilbench.cli.main import main

    model = ROOT / folder / "model.onnx"
    scenario = tmp_path / "unit.toml"
    scenario.write_text(SCENARIO.format(folder=folder, model=model.as_posix()), encoding="utf-8")
    assert main(["run", str(scenario)]) == 0, capsys.readouterr().err
    assert f"model model.onnx sha256 {model_sha256(model)}" in capsys.readouterr().out
