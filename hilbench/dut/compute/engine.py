"""ONNX Runtime inference engine: autoregressive token generation with a KV cache.

The engine wraps one ``onnxruntime.InferenceSession`` per thread count (CPU
only) over a decoder LLM in the usual export layout (``input_ids``,
``attention_mask``, ``position_ids``, ``past_key_values.{i}.key/value`` ->
``logits``, ``present.{i}.key/value``).  The model is validated when the
engine is built, never at the first token: a file that is not ONNX, a model
that lacks an input or output the engine feeds or reads, or a model whose
SHA-256 differs from its manifest entry is refused with a ``ConfigError``
naming the file and what is wrong.

Two ways to generate:

* ``generate(prompts, max_new_tokens)`` runs a whole batch to completion.
* ``start(prompts)`` / ``step(state)`` advance one token per sequence per
  call, so the compute emulator can make exactly the tokens due in a tick.

onnxruntime is imported lazily: importing this module costs only numpy.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hilbench.errors import ConfigError, DutError

REPO_ROOT = Path(__file__).resolve().parents[3]
BUNDLED_MODEL_DIR = REPO_ROOT / "fixtures" / "models"
BUNDLED_MANIFEST = BUNDLED_MODEL_DIR / "manifest.toml"

_KV_PREFIX = "past_key_values."
_INT64 = "tensor(int64)"
_FLOAT = "tensor(float)"
# Inputs the engine feeds and outputs it reads, besides the per-layer cache.
_REQUIRED_INPUTS = {"input_ids": _INT64, "attention_mask": _INT64, "position_ids": _INT64}
_REQUIRED_OUTPUTS = ("logits",)


def bundled_model(name: str = "tiny-llm.onnx") -> Path:
    """Path of a model shipped in ``fixtures/models`` (checked against ``BUNDLED_MANIFEST``)."""
    return BUNDLED_MODEL_DIR / name


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_entry(manifest: str | Path, model_name: str) -> dict[str, Any]:
    """Entry ``[models."<model_name>"]`` of a manifest TOML file.

    Raises ``ConfigError`` if the manifest cannot be read, is not TOML, has no
    entry for the model, or the entry has no ``sha256``.
    """
    manifest = Path(manifest)
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(manifest, None, f"cannot read manifest: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(manifest, None, f"not valid TOML: {exc}") from exc
    models = data.get("models", {})
    entry = models.get(model_name) if isinstance(models, dict) else None
    if not isinstance(entry, dict):
        known = ", ".join(sorted(models)) if isinstance(models, dict) else ""
        raise ConfigError(manifest, f'models."{model_name}"', f"no entry for this model (entries: {known or 'none'})")
    sha = entry.get("sha256")
    if not isinstance(sha, str) or len(sha) != 64:
        raise ConfigError(manifest, f'models."{model_name}".sha256', f"expected a 64-digit hex SHA-256, got {sha!r}")
    return entry


@dataclass(frozen=True)
class ModelSpec:
    """What the engine learnt about a model at load time."""

    path: Path
    sha256: str
    n_layers: int
    n_heads: int
    head_dim: int
    vocab_size: int
    max_positions: int | None  # from metadata ``max_position_embeddings``; None if unknown
    metadata: dict[str, str]


@dataclass(frozen=True)
class GenerationResult:
    """Output of ``InferenceEngine.generate``: new tokens per prompt, and their total count."""

    tokens: list[list[int]]
    n_tokens: int


@dataclass
class GenerationState:
    """A batch in flight: KV cache, masks, the logits of the next token, the sampler.

    Owned by the caller; advanced by ``InferenceEngine.step``.  ``pending``
    holds the tokens chosen by the last step that the model has not seen yet
    (they are fed at the start of the next step, so a step costs one forward).
    """

    past: list[np.ndarray]  # 2 * n_layers arrays, [batch, heads, past_seq, head_dim]
    attention_mask: np.ndarray  # [batch, total_seq] int64
    next_position: np.ndarray  # [batch] int64, position id of the next token fed
    logits: np.ndarray | None  # [batch, vocab] logits for the next token, None if pending
    pending: np.ndarray | None  # [batch] tokens chosen but not yet fed
    greedy: bool
    temperature: float
    rng: np.random.Generator
    threads: int
    generated: list[list[int]] = field(default_factory=list)

    @property
    def batch_size(self) -> int:
        return int(self.attention_mask.shape[0])

    @property
    def length(self) -> int:
        """Cache length in tokens, padding included, after the pending tokens are fed."""
        return int(self.attention_mask.shape[1]) + (1 if self.pending is not None else 0)

    @property
    def n_generated(self) -> int:
        return sum(len(g) for g in self.generated)


class InferenceEngine:
    """ONNX Runtime session(s) over a decoder LLM with a KV cache.

    Parameters
    ----------
    model_path:
        The ``.onnx`` file.
    manifest:
        Optional manifest TOML; if given, the model's SHA-256 must equal its
        entry ``[models."<file name>"].sha256``.
    threads:
        Default intra-op thread count (a ``GenerationState`` may use another;
        one session is kept per thread count).
    pad_token_id:
        Token placed left of shorter prompts in a batch (masked out).

    Raises ``ConfigError`` (file, entry, reason) for every problem with the
    model or manifest found at load.
    """

    def __init__(
        self,
        model_path: str | Path,
        manifest: str | Path | None = None,
        threads: int = 1,
        *,
        pad_token_id: int = 0,
        graph_optimization: bool = True,
    ) -> None:
        self.model_path = Path(model_path)
        if threads < 1:
            raise ConfigError(None, "threads", f"expected an integer >= 1, got {threads}")
        self.threads = int(threads)
        self.pad_token_id = int(pad_token_id)
        self._graph_optimization = graph_optimization
        self._model_bytes = self._read_model()
        sha = hashlib.sha256(self._model_bytes).hexdigest()
        if manifest is not None:
            entry = manifest_entry(manifest, self.model_path.name)
            if entry["sha256"].lower() != sha:
                raise ConfigError(
                    self.model_path,
                    "sha256",
                    f"expected {entry['sha256']} (from {manifest}), got {sha}; "
                    "rebuild the model or update the manifest",
                )
        self._sessions: dict[int, Any] = {}
        session = self._session(self.threads)
        self.spec = self._validate(session, sha)

    # -- loading ----------------------------------------------------------------

    def _read_model(self) -> bytes:
        try:
            data = self.model_path.read_bytes()
        except FileNotFoundError as exc:
            raise ConfigError(self.model_path, None, "model file not found") from exc
        except OSError as exc:
            raise ConfigError(self.model_path, None, f"cannot read model: {exc}") from exc
        if not data:
            raise ConfigError(self.model_path, None, "not an ONNX model: the file is empty")
        return data

    def _session(self, threads: int) -> Any:
        session = self._sessions.get(threads)
        if session is not None:
            return session
        import onnxruntime as ort  # lazy: importing hilbench must not import onnxruntime

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        if not self._graph_optimization:
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            session = ort.InferenceSession(self._model_bytes, sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(self.model_path, None, f"not an ONNX model: {reason}") from exc
        self._sessions[threads] = session
        return session

    def _validate(self, session: Any, sha: str) -> ModelSpec:
        inputs = {i.name: i for i in session.get_inputs()}
        outputs = {o.name: o for o in session.get_outputs()}
        layers = sorted(
            int(name[len(_KV_PREFIX) : -len(".key")])
            for name in inputs
            if name.startswith(_KV_PREFIX) and name.endswith(".key") and name[len(_KV_PREFIX) : -len(".key")].isdigit()
        )
        n_layers = (max(layers) + 1) if layers else 0
        want_in = dict(_REQUIRED_INPUTS)
        want_out = list(_REQUIRED_OUTPUTS)
        for i in range(max(n_layers, 1)):
            for kind in ("key", "value"):
                want_in[f"past_key_values.{i}.{kind}"] = _FLOAT
                want_out.append(f"present.{i}.{kind}")
        missing_in = [n for n in want_in if n not in inputs]
        missing_out = [n for n in want_out if n not in outputs]
        if missing_in or missing_out:
            parts = []
            if missing_in:
                parts.append("missing inputs: " + ", ".join(missing_in))
            if missing_out:
                parts.append("missing outputs: " + ", ".join(missing_out))
            raise ConfigError(
                self.model_path,
                None,
                "; ".join(parts) + " (expected a decoder LLM export with a KV cache: input_ids, attention_mask, "
                "position_ids, past_key_values.{i}.key/value -> logits, present.{i}.key/value)",
            )
        for name, dtype in want_in.items():
            if inputs[name].type != dtype:
                raise ConfigError(self.model_path, f"input {name}", f"expected type {dtype}, got {inputs[name].type}")
        extra = [n for n in inputs if n not in want_in]
        if extra:
            raise ConfigError(self.model_path, None, "unexpected inputs the engine cannot feed: " + ", ".join(extra))
        kv_shape = inputs["past_key_values.0.key"].shape
        logits_shape = outputs["logits"].shape
        if len(kv_shape) != 4 or not isinstance(kv_shape[1], int) or not isinstance(kv_shape[3], int):
            raise ConfigError(
                self.model_path,
                "input past_key_values.0.key",
                f"expected [batch, heads, past_seq, head_dim] with fixed heads and head_dim, got {kv_shape}",
            )
        if len(logits_shape) != 3 or not isinstance(logits_shape[2], int):
            raise ConfigError(
                self.model_path, "output logits", f"expected [batch, seq, vocab] with a fixed vocab, got {logits_shape}"
            )
        meta = dict(session.get_modelmeta().custom_metadata_map)
        max_pos = meta.get("max_position_embeddings")
        return ModelSpec(
            path=self.model_path,
            sha256=sha,
            n_layers=n_layers,
            n_heads=int(kv_shape[1]),
            head_dim=int(kv_shape[3]),
            vocab_size=int(logits_shape[2]),
            max_positions=int(max_pos) if max_pos and max_pos.isdigit() else None,
            metadata=meta,
        )

    # -- low level --------------------------------------------------------------

    def empty_past(self, batch_size: int) -> list[np.ndarray]:
        """A zero-length KV cache for ``batch_size`` sequences."""
        shape = (batch_size, self.spec.n_heads, 0, self.spec.head_dim)
        return [np.zeros(shape, np.float32) for _ in range(2 * self.spec.n_layers)]

    def forward(
        self,
        input_ids: np.ndarray,
        attention_mask: np.ndarray | None = None,
        position_ids: np.ndarray | None = None,
        past: Sequence[np.ndarray] | None = None,
        *,
        threads: int | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """One model call. Returns ``(logits [batch, seq, vocab], present cache)``.

        Defaults: no cache, all-ones mask, positions counted from the cache length.
        Raises ``DutError`` if onnxruntime fails to run.
        """
        input_ids = np.asarray(input_ids, dtype=np.int64)
        batch, seq = input_ids.shape
        if past is None:
            past = self.empty_past(batch)
        past_len = int(past[0].shape[2])
        if attention_mask is None:
            attention_mask = np.ones((batch, past_len + seq), np.int64)
        if position_ids is None:
            position_ids = np.broadcast_to(np.arange(past_len, past_len + seq, dtype=np.int64), (batch, seq))
        if (
            self.spec.max_positions is not None
            and position_ids.size
            and int(position_ids.max()) >= self.spec.max_positions
        ):
            raise DutError(
                f"{self.model_path}: position {int(position_ids.max())} is beyond the model's "
                f"max_position_embeddings {self.spec.max_positions}; start a new request"
            )
        feed: dict[str, np.ndarray] = {
            "input_ids": input_ids,
            "attention_mask": np.ascontiguousarray(attention_mask, dtype=np.int64),
            "position_ids": np.ascontiguousarray(position_ids, dtype=np.int64),
        }
        for i in range(self.spec.n_layers):
            feed[f"past_key_values.{i}.key"] = past[2 * i]
            feed[f"past_key_values.{i}.value"] = past[2 * i + 1]
        session = self._session(threads or self.threads)
        try:
            out = session.run(None, feed)
        except Exception as exc:
            raise DutError(f"{self.model_path}: inference failed: {exc}") from exc
        names = [o.name for o in session.get_outputs()]
        by_name = dict(zip(names, out, strict=True))
        present = []
        for i in range(self.spec.n_layers):
            present += [by_name[f"present.{i}.key"], by_name[f"present.{i}.value"]]
        return by_name["logits"], present

    # -- stepwise generation ----------------------------------------------------

    def start(
        self,
        prompts: Sequence[Sequence[int]],
        *,
        greedy: bool = True,
        temperature: float = 1.0,
        seed: int | None = 0,
        threads: int | None = None,
    ) -> GenerationState:
        """Prefill a batch of prompts (left-padded) and return the state for ``step``.

        Raises ``ValueError`` for an empty batch, an empty prompt, a token outside
        the vocabulary, a non-positive temperature or a prompt longer than the
        model's context.
        """
        if not prompts:
            raise ValueError("prompts: expected at least one prompt, got none")
        if not greedy and not temperature > 0:
            raise ValueError(f"temperature: expected > 0 for sampling, got {temperature}")
        lengths = [len(p) for p in prompts]
        if min(lengths) == 0:
            raise ValueError("prompts: every prompt needs at least one token")
        width = max(lengths)
        if self.spec.max_positions is not None and width >= self.spec.max_positions:
            raise ValueError(
                f"prompts: longest prompt has {width} tokens, the model's context is {self.spec.max_positions}"
            )
        ids = np.full((len(prompts), width), self.pad_token_id, np.int64)
        mask = np.zeros((len(prompts), width), np.int64)
        for row, prompt in enumerate(prompts):
            arr = np.asarray(prompt, dtype=np.int64)
            if arr.min() < 0 or arr.max() >= self.spec.vocab_size:
                raise ValueError(
                    f"prompts[{row}]: token ids must be in [0, {self.spec.vocab_size}), got {arr.min()}..{arr.max()}"
                )
            ids[row, width - len(arr) :] = arr
            mask[row, width - len(arr) :] = 1
        positions = np.clip(np.cumsum(mask, axis=1) - 1, 0, None)
        threads = threads or self.threads
        logits, present = self.forward(ids, mask, positions, threads=threads)
        return GenerationState(
            past=present,
            attention_mask=mask,
            next_position=positions[:, -1] + 1,
            logits=logits[:, -1, :],
            pending=None,
            greedy=greedy,
            temperature=float(temperature),
            rng=np.random.default_rng(seed),
            threads=threads,
            generated=[[] for _ in prompts],
        )

    def step(self, state: GenerationState) -> list[int]:
        """Choose the next token of every sequence in ``state``; return them.

        Feeds the tokens chosen by the previous step first (one forward per step).
        Raises ``DutError`` when the context is full (``capacity_left(state) == 0``).
        """
        if state.pending is not None:
            if self.capacity_left(state) <= 0:
                raise DutError(
                    f"{self.model_path}: context full at {state.length} tokens "
                    f"(max_position_embeddings {self.spec.max_positions}); start a new request"
                )
            mask = np.concatenate([state.attention_mask, np.ones((state.batch_size, 1), np.int64)], axis=1)
            logits, present = self.forward(
                state.pending[:, None], mask, state.next_position[:, None], state.past, threads=state.threads
            )
            state.past, state.attention_mask = present, mask
            state.next_position = state.next_position + 1
            state.logits, state.pending = logits[:, -1, :], None
        assert state.logits is not None
        tokens = self._choose(state)
        state.pending = tokens
        for row, tok in enumerate(tokens.tolist()):
            state.generated[row].append(tok)
        return tokens.tolist()

    def capacity_left(self, state: GenerationState) -> int:
        """How many more ``step`` calls the context allows (a large number if unknown)."""
        if self.spec.max_positions is None:
            return 1 << 30
        used = int(state.next_position.max()) + (1 if state.pending is not None else 0)
        return max(0, self.spec.max_positions - used + 1)

    def _choose(self, state: GenerationState) -> np.ndarray:
        logits = state.logits.astype(np.float64)
        if state.greedy:
            return np.argmax(logits, axis=-1).astype(np.int64)
        z = logits / state.temperature
        z -= z.max(axis=-1, keepdims=True)
        p = np.exp(z)
        cdf = np.cumsum(p, axis=-1)
        u = state.rng.random(len(cdf)) * cdf[:, -1]
        idx = np.array([np.searchsorted(row, x, side="right") for row, x in zip(cdf, u, strict=True)], np.int64)
        return np.minimum(idx, logits.shape[-1] - 1)

    # -- whole batch ------------------------------------------------------------

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        max_new_tokens: int,
        greedy: bool = True,
        temperature: float = 1.0,
        seed: int | None = 0,
        *,
        threads: int | None = None,
    ) -> GenerationResult:
        """Generate ``max_new_tokens`` tokens for every prompt (fewer if the context fills)."""
        if max_new_tokens < 0:
            raise ValueError(f"max_new_tokens: expected >= 0, got {max_new_tokens}")
        state = self.start(prompts, greedy=greedy, temperature=temperature, seed=seed, threads=threads)
        for _ in range(max_new_tokens):
            if self.capacity_left(state) <= 0:
                break
            self.step(state)
        return GenerationResult(tokens=[list(g) for g in state.generated], n_tokens=state.n_generated)
