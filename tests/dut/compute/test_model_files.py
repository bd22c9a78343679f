"""Models as users bring them: external weights, the files exporters write beside a model, declared hashes,
and requests that would outgrow the context -- refused at load with the numbers, exit 2 from the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest

from hilbench.cli.main import main
from hilbench.dut.compute import InferenceEngine, bundled_model
from hilbench.dut.compute.engine import model_sha256
from hilbench.dut.compute.model_config import read_export_config
from hilbench.errors import ConfigError

FP32 = bundled_model("tiny-llm.onnx")
PROMPT = [1, 5, 9, 2, 7, 3]


def _without_metadata(path: Path) -> Path:
    """The bundled model without its ONNX metadata, as optimum writes models (it writes config.json instead)."""
    model = onnx.load(str(FP32))
    del model.metadata_props[:]
    onnx.save(model, str(path))
    return path


def _external(folder: Path) -> Path:
    """The bundled model with its weights in ``model.onnx_data`` beside ``model.onnx`` (how >2 GB exports come)."""
    folder.mkdir(parents=True, exist_ok=True)
    model = onnx.load(str(FP32))
    onnx.save_model(model, str(folder / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx_data")
    return folder / "model.onnx"


def test_external_weights_load_from_another_working_directory(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = _external(tmp_path / "model")
    assert (tmp_path / "model" / "model.onnx_data").stat().st_size > path.stat().st_size
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    engine = InferenceEngine(Path("..") / "model" / "model.onnx")
    assert engine.generate([PROMPT], 12).tokens == InferenceEngine(FP32).generate([PROMPT], 12).tokens


def test_the_hash_of_a_model_with_external_weights_covers_the_weights(tmp_path: Path) -> None:
    path = _external(tmp_path / "model")
    declared = model_sha256(path)
    assert declared != model_sha256(FP32)
    InferenceEngine(path, sha256=declared)                  # as declared: loads
    data = tmp_path / "model" / "model.onnx_data"
    raw = bytearray(data.read_bytes())
    raw[100] ^= 0x01                                         # one weight bit flipped
    data.write_bytes(bytes(raw))
    with pytest.raises(ConfigError) as info:
        InferenceEngine(path, sha256=declared)
    assert info.value.entry == "sha256" and f"expected {declared}" in str(info.value)


def test_the_hash_of_a_plain_model_is_its_files(tmp_path: Path) -> None:
    import hashlib

    assert model_sha256(FP32) == hashlib.sha256(FP32.read_bytes()).hexdigest()


def test_context_and_eos_come_from_the_files_an_exporter_writes(tmp_path: Path) -> None:
    path = _without_metadata(tmp_path / "model.onnx")
    assert InferenceEngine(path).spec.max_positions is None          # nothing says: unknown
    (tmp_path / "config.json").write_text(json.dumps({"n_positions": 64, "vocab_size": 256, "eos_token_id": 5}))
    (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": [5, 7]}))
    spec = InferenceEngine(path).spec
    assert spec.max_positions == 64 and spec.context_source == "config.json:n_positions"
    assert spec.eos_token_ids == (5, 7)                              # generation_config.json wins


def test_genai_config_is_read_too(tmp_path: Path) -> None:
    (tmp_path / "genai_config.json").write_text(json.dumps(
        {"model": {"context_length": 96, "vocab_size": 256, "eos_token_id": 2,
                   "decoder": {"num_key_value_heads": 4, "head_size": 16}}}))
    config = read_export_config(tmp_path / "model.onnx")
    assert (config.context_length, config.vocab_size, config.eos_token_ids, config.kv_heads, config.head_dim) == (
        96, 256, (2,), 4, 16)
    assert config.where("context_length") == "genai_config.json:model.context_length"


@pytest.mark.parametrize(("text", "reason"), [
    ("{not json", "not valid JSON"),
    ('{"n_positions": "many"}', "expected a positive whole number"),
    ('{"eos_token_id": [1, "x"]}', "expected a token id or a list of them"),
])
def test_a_bad_config_json_is_refused_naming_file_and_key(tmp_path: Path, text: str, reason: str) -> None:
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(ConfigError, match=reason) as info:
        read_export_config(tmp_path / "model.onnx")
    assert info.value.file == str(tmp_path / "config.json")


def test_a_request_longer_than_the_context_is_refused_at_load_with_the_numbers(tmp_path: Path) -> None:
    path = _without_metadata(tmp_path / "model.onnx")
    (tmp_path / "config.json").write_text(json.dumps({"n_positions": 64}))
    engine = InferenceEngine(path)
    with pytest.raises(ConfigError) as info:
        engine.check_request(list(range(43)), 256)
    message = str(info.value)
    assert "43 prompt + 256 new tokens feeds the model 298 positions" in message
    assert "context of 64 (config.json:n_positions)" in message and "at most 22 new tokens" in message
    engine.check_request(list(range(43)), 22)                       # fits exactly: accepted
    with pytest.raises(ConfigError):
        engine.check_request(list(range(43)), 23)


SCENARIO = """\
[scenario]
name = "user model"
duration = "5s"

[dut]
fidelity = "real"
model = "model/model.onnx"
{extra}

[[checks]]
kind = "eventually"
name = "tokens flow"
expr = "tokens_total > 0"
within = "5 s"
"""


def _user_model_scenario(tmp_path: Path, extra: str = "", *, context: int | None = None) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    _without_metadata(folder / "model.onnx")
    if context is not None:
        (folder / "config.json").write_text(json.dumps({"n_positions": context}))
    scenario = tmp_path / "user.toml"
    scenario.write_text(SCENARIO.format(extra=extra), encoding="utf-8")
    return scenario


def test_the_cli_refuses_a_too_long_request_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = _user_model_scenario(tmp_path, context=128)
    assert main(["run", str(scenario)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "context of 128 (config.json:n_positions)" in err
    assert "Traceback" not in err


def test_a_request_that_fits_runs_and_the_report_names_the_models_hash(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    scenario = _user_model_scenario(tmp_path, "request_tokens = 64", context=128)
    assert main(["run", str(scenario)]) == 0
    out = capsys.readouterr().out
    assert f"model model.onnx sha256 {model_sha256(tmp_path / 'model' / 'model.onnx')}" in out


def test_a_user_model_whose_declared_hash_differs_is_refused(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    scenario = _user_model_scenario(tmp_path, f'request_tokens = 64\nmodel_sha256 = "{"0" * 64}"', context=128)
    assert main(["run", str(scenario)]) == 2
    err = capsys.readouterr().err
    assert f"expected {'0' * 64} (as declared)" in err and "model.onnx" in err


def test_a_manifest_beside_a_user_model_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = _user_model_scenario(tmp_path, "request_tokens = 64", context=128)
    (tmp_path / "model" / "manifest.toml").write_text(f'[models."model.onnx"]\nsha256 = "{"1" * 64}"\n')
    assert main(["run", str(scenario)]) == 2
    assert f"expected {'1' * 64}" in capsys.readouterr().err


def test_a_model_path_in_a_scenario_is_found_from_the_scenario_not_the_cwd(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    scenario = _user_model_scenario(tmp_path, "request_tokens = 64", context=128)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["run", str(scenario)]) == 0, capsys.readouterr().err


def test_a_bundled_model_copied_with_one_byte_changed_is_refused(tmp_path: Path) -> None:
    from hilbench.dut.compute import BUNDLED_MANIFEST

    copy = tmp_path / "tiny-llm.onnx"
    shutil.copy(FP32, copy)
    raw = bytearray(copy.read_bytes())
    raw[-1] ^= 0x01
    copy.write_bytes(bytes(raw))
    with pytest.raises(ConfigError, match="the model is not the one declared"):
        InferenceEngine(copy, manifest=BUNDLED_MANIFEST)


def test_model_settings_without_a_model_running_are_refused(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """At the model fidelity with the reference table no model is loaded: a hash or a request length
    named there would be checked by nothing, so the scenario is refused rather than silently passed."""
    scenario = _user_model_scenario(tmp_path, f'model_sha256 = "{"0" * 64}"', context=128)
    text = scenario.read_text(encoding="utf-8").replace('fidelity = "real"\n', "")
    scenario.write_text(text, encoding="utf-8")
    assert main(["run", str(scenario)]) == 2
    err = capsys.readouterr().err
    assert "no model runs at fidelity 'model'" in err and "Traceback" not in err
