"""The DUT's model is chosen by config: a bundled one by name (checked against the manifest) or a file."""

from __future__ import annotations

import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.errors import ConfigError


def test_the_int8_model_is_selected_by_name_and_really_runs() -> None:
    with Bench(BenchConfig(dut={"fidelity": "real", "model": "tiny-llm-int8"})) as bench:
        bench.run_for(3.0)
        engine = bench.dut.unit.engine
        assert engine is not None and engine.spec.path.name == "tiny-llm-int8.onnx"
        assert bench.dut.unit.tokens_total > 0


def test_a_model_file_that_is_not_onnx_is_refused(tmp_path) -> None:
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="not an ONNX model"):
        Bench(BenchConfig(dut={"fidelity": "real", "model": str(bogus)}))
