"""The bundled quantised variants (static int8, int4): they load, generate, follow fp32, are smaller and
really are quantised, and a changed file is refused like any bundled model.

Every variant runs through the same checks; the numbers each must meet are in ``VARIANTS``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest

from hilbench.dut.compute import BUNDLED_MANIFEST, InferenceEngine, bundled_model
from hilbench.errors import ConfigError

FP32_NAME = "tiny-llm.onnx"

# Teacher-forced text for the agreement check: not the text the static variant was calibrated on
# (build_tiny_model.CALIBRATION_TEXTS), so the check does not grade calibration on its own data.
TEXT = (b"The bench plays the car around the compute unit: a pack that sags under load, coolant that warms, "
        b"a driver who comes back early. ") * 2
POSITIONS = 240
PROMPT = list(b"The car is parked and charging; ")
NEW_TOKENS = 48


@dataclass(frozen=True)
class Variant:
    """A bundled quantised model and what it must show."""

    name: str
    min_agreement_pct: float  # greedy next token equal to fp32's, share of the POSITIONS of TEXT
    any_of_ops: frozenset[str]  # at least one of these operators must be in its graph


# Bounds, measured with onnxruntime 1.32 on x86-64 (random weights, logits std 3 over 256 bytes, so
# the top two logits are often close and a small error flips the greedy choice):
# - int8-static measured 96.2 % on TEXT (95.0-97.1 % on other texts of 240 positions, dynamic int8
#   97-99 %): per-tensor uint8 activations with fixed ranges lose a little more than dynamic ranges.
#   Bound 90 %: a static graph that also quantises the -1e9 attention mask with the scores measured
#   about 60 %, so the bound tells a sound calibration from that.
# - int4 measured 87.9 % on TEXT (77-88 % on other texts): 4-bit weights in blocks of 32 carry about
#   16 times the rounding error of int8.  Bound 75 %: under the lowest text measured, far above
#   chance (0.4 % for 256 bytes).
VARIANTS = (
    Variant("tiny-llm-int8-static.onnx", 90.0,
            frozenset({"QuantizeLinear", "DequantizeLinear", "QLinearMatMul", "MatMulInteger"})),
    Variant("tiny-llm-int4.onnx", 75.0, frozenset({"MatMulNBits"})),
)


@pytest.fixture(scope="module")
def fp32() -> InferenceEngine:
    return InferenceEngine(bundled_model(FP32_NAME), manifest=BUNDLED_MANIFEST)


@pytest.fixture(scope="module", params=VARIANTS, ids=lambda v: v.name)
def variant(request: pytest.FixtureRequest) -> tuple[Variant, InferenceEngine]:
    spec: Variant = request.param
    return spec, InferenceEngine(bundled_model(spec.name), manifest=BUNDLED_MANIFEST)


def test_loads_with_the_fp32_layout(variant: tuple[Variant, InferenceEngine], fp32: InferenceEngine) -> None:
    _, engine = variant
    spec, ref = engine.spec, fp32.spec
    assert (spec.n_layers, spec.n_heads, spec.head_dim, spec.vocab_size) == (
        ref.n_layers, ref.n_heads, ref.head_dim, ref.vocab_size)
    assert spec.max_positions == ref.max_positions
    assert spec.cache_dtype == "float32"
    assert spec.sha256 != ref.sha256


def test_generates_greedy_tokens_the_cache_agrees_with(variant: tuple[Variant, InferenceEngine]) -> None:
    """Greedy tokens made step by step over the KV cache are the ones a full recompute picks.

    With fixed activation ranges (static int8) or weight-only quantisation (int4) a row's result does
    not depend on the other rows of the call, so the cache path and a recompute agree (measured: on
    every token); dynamic int8 would not, its ranges are taken per call.  95 % leaves room for a
    float near-tie between a one-row and a many-row product.
    """
    _, engine = variant
    prompts = [PROMPT, PROMPT[5:]]
    result = engine.generate(prompts, NEW_TOKENS)
    assert result.n_tokens == len(prompts) * NEW_TOKENS
    for prompt, tokens in zip(prompts, result.tokens, strict=True):
        assert len(tokens) == NEW_TOKENS
        assert all(0 <= t < engine.spec.vocab_size for t in tokens)
        logits, _ = engine.forward(np.asarray([prompt + tokens[:-1]], np.int64))
        recomputed = logits[0, len(prompt) - 1:].argmax(-1)
        assert float((recomputed == np.asarray(tokens)).mean()) >= 0.95


def test_greedy_next_token_follows_fp32(variant: tuple[Variant, InferenceEngine], fp32: InferenceEngine) -> None:
    spec, engine = variant
    ids = np.asarray([list(TEXT[: POSITIONS + 1])], np.int64)
    ref, _ = fp32.forward(ids)
    got, _ = engine.forward(ids)
    agreement_pct = float((ref[0, :POSITIONS].argmax(-1) == got[0, :POSITIONS].argmax(-1)).mean() * 100.0)
    assert agreement_pct >= spec.min_agreement_pct, (
        f"{spec.name}: greedy next token equals fp32's on {agreement_pct:.1f} % of {POSITIONS} positions, "
        f"expected at least {spec.min_agreement_pct} %")
    assert agreement_pct < 100.0, f"{spec.name} picks exactly what fp32 does: is it quantised at all?"


def test_file_is_smaller_than_fp32(variant: tuple[Variant, InferenceEngine]) -> None:
    spec, _ = variant
    assert bundled_model(spec.name).stat().st_size < bundled_model(FP32_NAME).stat().st_size


def test_graph_holds_quantised_operators(variant: tuple[Variant, InferenceEngine]) -> None:
    spec, _ = variant
    graph = onnx.load(str(bundled_model(spec.name))).graph
    ops = {node.op_type for node in graph.node}
    assert ops & spec.any_of_ops, f"{spec.name}: none of {sorted(spec.any_of_ops)} in its graph ({sorted(ops)})"
    # Every weight MatMul of the fp32 graph is quantised: a MatMul left reads no fp32 initializer.
    weights = {init.name for init in graph.initializer if init.data_type == onnx.TensorProto.FLOAT}
    fp32_weight_matmuls = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    assert not fp32_weight_matmuls, f"{spec.name}: MatMuls still on fp32 weights: {fp32_weight_matmuls}"


def test_changed_file_is_refused(variant: tuple[Variant, InferenceEngine], tmp_path: Path) -> None:
    spec, _ = variant
    copy = tmp_path / spec.name
    shutil.copyfile(bundled_model(spec.name), copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside the weights: still a loadable model, only the hash tells
    copy.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="the model is not the one declared") as info:
        InferenceEngine(copy, manifest=BUNDLED_MANIFEST)
    assert info.value.entry == "sha256"
    assert info.value.file == str(copy.resolve())
