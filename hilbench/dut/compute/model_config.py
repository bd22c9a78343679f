"""What exporters write beside a model: its context length, end-of-sequence ids, vocabulary and heads.

optimum writes no ONNX metadata; the model's Hugging Face ``config.json`` and
``generation_config.json`` sit beside the ``.onnx`` file instead, and
onnxruntime-genai's layout carries a ``genai_config.json``.  The engine reads
whichever is there, so a GPT-2 trained for 256 positions is known to stop at
256 before a request runs past it (onnxruntime would fail mid-run on the
position embedding's Gather; a RoPE model would run on silently).

Keys, by file (the first one found wins within a file):

* ``config.json``: context ``max_position_embeddings``, ``n_positions``,
  ``max_sequence_length``, ``seq_length``; ``vocab_size``; ``eos_token_id``;
  KV heads ``num_key_value_heads``, ``num_attention_heads``, ``n_head``;
  ``head_dim``, else ``hidden_size`` (``n_embd``) over the attention heads.
* ``generation_config.json``: ``eos_token_id`` (wins over config.json's).
* ``genai_config.json``: ``model.context_length``, ``model.vocab_size``,
  ``model.eos_token_id``, ``model.decoder.num_key_value_heads``,
  ``model.decoder.head_size`` (wins over config.json's).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hilbench.errors import ConfigError

CONFIG_FILES = ("config.json", "generation_config.json", "genai_config.json")
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
_HEAD_KEYS = ("num_key_value_heads", "num_attention_heads", "n_head")


@dataclass(frozen=True)
class ExportConfig:
    """What the files beside a model say; None where they say nothing.  ``source`` names, per field, the
    file (and key) it came from, for error messages and reports."""

    context_length: int | None = None
    vocab_size: int | None = None
    eos_token_ids: tuple[int, ...] = ()
    kv_heads: int | None = None
    head_dim: int | None = None
    source: tuple[tuple[str, str], ...] = ()

    def where(self, field: str) -> str | None:
        """The ``file:key`` a field came from, or None."""
        return dict(self.source).get(field)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(path, None, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
    if not isinstance(data, dict):
        raise ConfigError(path, None, f"expected a JSON object, got {type(data).__name__}")
    return data


def _positive_int(path: Path, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(path, key, f"expected a positive whole number, got {value!r}")
    return value


def _eos(path: Path, key: str, value: Any) -> tuple[int, ...]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise ConfigError(path, key, f"expected a token id or a list of them, got {value!r}")
    return tuple(values)


def read_export_config(model_path: Path) -> ExportConfig:
    """The export's settings from the JSON files beside ``model_path`` (none there: an empty config).

    Raises:
        ConfigError: a file that is there but is not valid JSON, or holds a value of the wrong kind
            (file, key and reason).
    """
    folder = model_path.parent
    found: dict[str, Any] = {}
    source: dict[str, str] = {}

    def put(field: str, value: Any, file: Path, key: str) -> None:
        found[field] = value
        source[field] = f"{file.name}:{key}"

    config_path = folder / "config.json"
    if config_path.is_file():
        config = _read_json(config_path)
        for key in _CONTEXT_KEYS:
            if config.get(key) is not None:
                put("context_length", _positive_int(config_path, key, config[key]), config_path, key)
                break
        if config.get("vocab_size") is not None:
            put("vocab_size", _positive_int(config_path, "vocab_size", config["vocab_size"]), config_path,
                "vocab_size")
        if config.get("eos_token_id") is not None:
            put("eos_token_ids", _eos(config_path, "eos_token_id", config["eos_token_id"]), config_path,
                "eos_token_id")
        heads = next((key for key in _HEAD_KEYS if config.get(key) is not None), None)
        if heads is not None:
            put("kv_heads", _positive_int(config_path, heads, config[heads]), config_path, heads)
        if config.get("head_dim") is not None:
            put("head_dim", _positive_int(config_path, "head_dim", config["head_dim"]), config_path, "head_dim")
        else:
            hidden = config.get("hidden_size", config.get("n_embd"))
            attention = config.get("num_attention_heads", config.get("n_head"))
            if isinstance(hidden, int) and isinstance(attention, int) and attention > 0 and hidden % attention == 0:
                put("head_dim", hidden // attention, config_path, "hidden_size/num_attention_heads")

    generation_path = folder / "generation_config.json"
    if generation_path.is_file():
        generation = _read_json(generation_path)
        if generation.get("eos_token_id") is not None:
            put("eos_token_ids", _eos(generation_path, "eos_token_id", generation["eos_token_id"]), generation_path,
                "eos_token_id")

    genai_path = folder / "genai_config.json"
    if genai_path.is_file():
        model = _read_json(genai_path).get("model", {})
        if not isinstance(model, dict):
            raise ConfigError(genai_path, "model", f"expected an object, got {model!r}")
        decoder = model.get("decoder", {}) if isinstance(model.get("decoder", {}), dict) else {}
        for field, table, key, label, read in (
            ("context_length", model, "context_length", "model.context_length", _positive_int),
            ("vocab_size", model, "vocab_size", "model.vocab_size", _positive_int),
            ("eos_token_ids", model, "eos_token_id", "model.eos_token_id", _eos),
            ("kv_heads", decoder, "num_key_value_heads", "model.decoder.num_key_value_heads", _positive_int),
            ("head_dim", decoder, "head_size", "model.decoder.head_size", _positive_int),
        ):
            if table.get(key) is not None:
                put(field, read(genai_path, label, table[key]), genai_path, label)

    return ExportConfig(context_length=found.get("context_length"), vocab_size=found.get("vocab_size"),
                        eos_token_ids=found.get("eos_token_ids", ()), kv_heads=found.get("kv_heads"),
                        head_dim=found.get("head_dim"), source=tuple(sorted(source.items())))
