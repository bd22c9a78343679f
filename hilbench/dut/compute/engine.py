"""ONNX Runtime inference engine: autoregressive token generation with a KV cache.

The engine wraps one ``onnxruntime.InferenceSession`` per thread count (CPU
only) over a decoder LLM in the layouts exporters write: ``input_ids`` and
``past_key_values.{i}.key/value`` -> ``logits``, ``present.{i}.key/value``,
with ``attention_mask``, ``position_ids`` and ``token_type_ids`` fed only when
the model declares them (Gemma and BLOOM exports have no ``position_ids``), a
float32 or float16 cache, the heads and head size read from the graph (or the
files beside it).  What the graph does not say -- the context length, the
end-of-sequence ids -- comes from ONNX metadata or from the ``config.json``,
``generation_config.json`` or ``genai_config.json`` beside the model
(:mod:`.model_config`).  The model is validated when the engine is built,
never at the first token: a file that is not ONNX, a model that lacks an input
or output the engine feeds or reads, or a model whose SHA-256 differs from the
one declared for it (``sha256=``, or a manifest entry) is refused with a
``ConfigError`` naming the file and what is wrong.  A model with external
weights (``model.onnx`` + ``model.onnx_data``) loads from its own folder,
whatever the working directory; its hash covers the weights too
(:func:`model_sha256`).

Two ways to generate:

* ``generate(prompts, max_new_tokens)`` runs a whole batch to completion.
* ``start(prompts)`` / ``step(state)`` advance one token per sequence per
  call, and ``advance(state, steps)`` takes several steps at once, so the
  compute emulator can make exactly the tokens due in a tick.

A request is validated once, in ``start``; a decode step is one
``session.run`` plus a few in-place numpy operations (preallocated mask and
position buffers, the exponential-race sampler on pre-drawn noise), so the
engine runs within a few per cent of a bare onnxruntime loop
(``benchmarks/inference.py``).

onnxruntime is imported lazily: importing this module costs only numpy.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hilbench.errors import ConfigError, DutError
from hilbench.resources import models_dir

from .model_config import read_export_config

BUNDLED_MODEL_DIR = models_dir()
BUNDLED_MANIFEST = BUNDLED_MODEL_DIR / "manifest.toml"

_KV_PREFIX = "past_key_values."
_INT64 = "tensor(int64)"
# Cache element types the engine feeds, as onnxruntime names them, and their numpy types.
CACHE_DTYPES: dict[str, type[np.floating[Any]]] = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
# Inputs the engine feeds when the model declares them (all int64), besides input_ids and the cache.
OPTIONAL_INPUTS = ("attention_mask", "position_ids", "token_type_ids")
_REQUIRED_OUTPUTS = ("logits",)
# External weights beside a model file are found by the names exporters give them.
EXTERNAL_DATA_SUFFIXES = ("_data", ".data")
# Random draws made at once for sampling (float32): a chunk of steps for a small vocabulary.
_NOISE_CHUNK = 1 << 16


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


def external_data_files(model_path: Path) -> list[Path]:
    """The external weight files beside ``model_path``: ``model.onnx_data``, ``model.onnx.data`` (sorted)."""
    folder = model_path.parent
    return sorted(folder / f"{model_path.name}{suffix}" for suffix in EXTERNAL_DATA_SUFFIXES
                  if (folder / f"{model_path.name}{suffix}").is_file())


def model_sha256(model_path: str | Path) -> str:
    """The hash a model is declared and checked by: SHA-256 over the ``.onnx`` file, then its external
    weight files in name order (:func:`external_data_files`).  Without external weights this is the
    file's own SHA-256, as ``sha256sum`` prints it."""
    model_path = Path(model_path)
    digest = hashlib.sha256()
    for path in (model_path, *external_data_files(model_path)):
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
    """What the engine learnt about a model at load time.

    ``n_heads`` is the cache's head count (the KV heads of a grouped-query model); ``inputs`` the
    optional inputs the model declares (fed), ``cache_dtype`` its cache's numpy type name;
    ``context_source`` where ``max_positions`` came from (``metadata:max_position_embeddings``,
    ``config.json:n_positions``, ...); ``eos_token_ids`` from the files beside the model.
    """

    path: Path
    sha256: str
    n_layers: int
    n_heads: int
    head_dim: int
    vocab_size: int
    max_positions: int | None  # the context: from metadata or the files beside the model; None if unknown
    metadata: dict[str, str]
    inputs: frozenset[str] = frozenset(OPTIONAL_INPUTS)
    cache_dtype: str = "float32"
    context_source: str | None = None
    eos_token_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class GenerationResult:
    """Output of ``InferenceEngine.generate``: new tokens per prompt, and their total count."""

    tokens: list[list[int]]
    n_tokens: int


class GenerationState:
    """A batch in flight: KV cache, attention mask, positions, the logits of the next token, the sampler.

    Owned by the caller; made by ``InferenceEngine.start`` and advanced by
    ``InferenceEngine.step`` / ``advance``.  ``pending`` holds the tokens
    chosen by the last step that the model has not seen yet (they are fed at
    the start of the next step, so a step costs one forward).

    Laid out for the decode loop, where every numpy call counts (right after
    a model call the caches are cold): the attention mask is one
    preallocated buffer (``attention_mask`` is a view of its used columns),
    the position ids of every future step are one precomputed table, tokens
    and logits keep the model's ``[batch, 1, ...]`` shape so the chosen
    tokens are fed back as they are, the context check is an integer
    counter, and the chosen tokens are kept as one array per step
    (``generated`` builds the per-sequence lists when asked).
    """

    __slots__ = (
        "_fed",
        "_feed",
        "_has_pending",
        "_length",
        "_logits",
        "_mask",
        "_max_prompt_next",
        "_noise",
        "_noise_next",
        "_positions",
        "_steps",
        "_work",
        "greedy",
        "past",
        "rng",
        "temperature",
        "threads",
    )

    def __init__(
        self,
        *,
        past: list[np.ndarray],
        logits: np.ndarray,
        mask: np.ndarray,
        next_position: np.ndarray,
        capacity: int,
        greedy: bool,
        temperature: float,
        rng: np.random.Generator,
        threads: int,
        past_names: Sequence[str],
    ) -> None:
        batch, width = mask.shape
        self.past = past  # 2 * n_layers arrays, [batch, heads, past_seq, head_dim]
        self.greedy = greedy
        self.temperature = temperature
        self.rng = rng
        self.threads = threads
        self._logits: np.ndarray = logits  # [batch, 1, vocab] logits of the next token
        capacity = max(capacity, width + 1)
        self._mask = np.ones((batch, capacity), np.int64)  # columns: prompt (left-padded), then one per feed
        self._mask[:, :width] = mask
        self._length = width  # mask columns the cache holds
        # Position ids of feed k (k = 0, 1, ...) at [k]: a contiguous [batch, 1] block each.
        start = np.asarray(next_position, dtype=np.int64).reshape(1, batch, 1)
        self._positions = start + np.arange(capacity - width, dtype=np.int64).reshape(-1, 1, 1)
        self._fed = 0  # tokens fed after the prompt
        self._max_prompt_next = int(start.max())
        self._has_pending = False
        self._steps: list[np.ndarray] = []  # tokens chosen per step, [batch, 1] each
        self._feed: dict[str, np.ndarray] = dict(zip(past_names, past, strict=True))
        self._work = np.empty(logits.shape, np.float32)  # sampling scratch, [batch, 1, vocab]
        self._noise: list[np.ndarray] = []  # log Exp(1) draws, [batch, 1, vocab] per step, a chunk of steps
        self._noise_next = 0

    @property
    def batch_size(self) -> int:
        """Sequences generated side by side in this state."""
        return int(self._mask.shape[0])

    @property
    def logits(self) -> np.ndarray | None:
        """``[batch, vocab]`` logits the next tokens are (or the pending ones were) chosen from (a view)."""
        return None if self._logits is None else self._logits[:, -1, :]

    @property
    def attention_mask(self) -> np.ndarray:
        """``[batch, cache length]`` int64 mask of the tokens in the cache (a read-only view)."""
        view = self._mask[:, : self._length]
        view.flags.writeable = False
        return view

    @property
    def next_position(self) -> np.ndarray:
        """``[batch]`` position id of the next token fed (a copy)."""
        return self._positions[self._fed, :, 0].copy()

    @property
    def pending(self) -> np.ndarray | None:
        """``[batch]`` tokens chosen but not yet fed (a copy), or None."""
        return self._steps[-1][:, 0].copy() if self._has_pending else None

    @property
    def length(self) -> int:
        """Cache length in tokens, padding included, after the pending tokens are fed."""
        return self._length + (1 if self._has_pending else 0)

    @property
    def n_generated(self) -> int:
        """Tokens generated so far over all sequences (steps x batch size)."""
        return len(self._steps) * self.batch_size

    @property
    def generated(self) -> list[list[int]]:
        """New tokens per sequence so far (built on each access)."""
        if not self._steps:
            return [[] for _ in range(self.batch_size)]
        return np.concatenate(self._steps, axis=1).tolist()


class InferenceEngine:
    """ONNX Runtime session(s) over a decoder LLM with a KV cache.

    Parameters
    ----------
    model_path:
        The ``.onnx`` file (its external weights, if any, beside it).
    manifest:
        Optional manifest TOML; if given, the model's SHA-256 must equal its
        entry ``[models."<file name>"].sha256``.
    sha256:
        Optional SHA-256 the model must have (a scenario's or config's
        ``model_sha256``); checked as the manifest's is.
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
        sha256: str | None = None,
    ) -> None:
        self.model_path = Path(model_path).resolve()
        if threads < 1:
            raise ConfigError(None, "threads", f"expected an integer >= 1, got {threads}")
        self.threads = int(threads)
        self.pad_token_id = int(pad_token_id)
        self._graph_optimization = graph_optimization
        self._check_readable()
        sha = model_sha256(self.model_path)
        declared = []
        if manifest is not None:
            declared.append((manifest_entry(manifest, self.model_path.name)["sha256"], f"from {manifest}"))
        if sha256 is not None:
            declared.append((sha256, "as declared"))
        for expected, where in declared:
            if expected.lower() != sha:
                raise ConfigError(
                    self.model_path,
                    "sha256",
                    f"expected {expected} ({where}), got {sha}; the model is not the one declared: "
                    "rebuild it or update the declared hash",
                )
        self.export_config = read_export_config(self.model_path)
        self._sessions: dict[int, Any] = {}
        session = self._session(self.threads)
        self.spec = self._validate(session, sha)
        # Names in the order the decode loop feeds and reads them, fixed once here.
        self._past_names = tuple(
            f"past_key_values.{i}.{kind}" for i in range(self.spec.n_layers) for kind in ("key", "value")
        )
        self._output_names = ["logits"] + [
            f"present.{i}.{kind}" for i in range(self.spec.n_layers) for kind in ("key", "value")
        ]
        # Largest position id the model takes plus one (no limit if the model does not say).
        self._position_limit = self.spec.max_positions if self.spec.max_positions is not None else 1 << 62
        # What the decode loop feeds besides the token and the cache (the inputs the model declares).
        self._feeds_mask = "attention_mask" in self.spec.inputs
        self._feeds_positions = "position_ids" in self.spec.inputs

    # -- loading ----------------------------------------------------------------

    def _check_readable(self) -> None:
        try:
            size = self.model_path.stat().st_size
            with open(self.model_path, "rb"):
                pass
        except FileNotFoundError as exc:
            raise ConfigError(self.model_path, None, "model file not found") from exc
        except OSError as exc:
            raise ConfigError(self.model_path, None, f"cannot read model: {exc}") from exc
        if not size:
            raise ConfigError(self.model_path, None, "not an ONNX model: the file is empty")

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
            # From its path, not its bytes: external weights are found beside the model, not in the cwd.
            session = ort.InferenceSession(str(self.model_path), sess_options=opts,
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(self.model_path, None, f"not an ONNX model: {reason}") from exc
        self._sessions[threads] = session
        return session

    def _validate(self, session: Any, sha: str) -> ModelSpec:
        """The model's layout from its graph (and the files beside it), or every reason it is refused."""
        inputs = {i.name: i for i in session.get_inputs()}
        outputs = {o.name: o for o in session.get_outputs()}
        layers = sorted(
            int(name[len(_KV_PREFIX) : -len(".key")])
            for name in inputs
            if name.startswith(_KV_PREFIX) and name.endswith(".key") and name[len(_KV_PREFIX) : -len(".key")].isdigit()
        )
        n_layers = (max(layers) + 1) if layers else 0
        if "use_cache_branch" in inputs:
            raise ConfigError(self.model_path, "input use_cache_branch",
                              "a merged decoder (one graph with and without the cache, switched by "
                              "use_cache_branch) is not run by the engine: export the decoder with past alone "
                              "(optimum: --no-post-process)")
        want_in = ["input_ids"] + [f"past_key_values.{i}.{kind}" for i in range(max(n_layers, 1))
                                   for kind in ("key", "value")]
        want_out = list(_REQUIRED_OUTPUTS) + [f"present.{i}.{kind}" for i in range(max(n_layers, 1))
                                              for kind in ("key", "value")]
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
                "; ".join(parts) + " (expected a decoder LLM export with a KV cache: input_ids, "
                "past_key_values.{i}.key/value -> logits, present.{i}.key/value; attention_mask, position_ids "
                "and token_type_ids are fed when declared)",
            )
        declared = frozenset(name for name in OPTIONAL_INPUTS if name in inputs)
        for name in ("input_ids", *sorted(declared)):
            if inputs[name].type != _INT64:
                raise ConfigError(self.model_path, f"input {name}", f"expected type {_INT64}, got {inputs[name].type}")
        cache_type = inputs["past_key_values.0.key"].type
        if cache_type not in CACHE_DTYPES:
            hint = (": numpy cannot hold bfloat16, and onnxruntime's CPU provider runs few bfloat16 kernels; "
                    "export in float32 or float16" if "bfloat16" in cache_type else "")
            raise ConfigError(self.model_path, "input past_key_values.0.key",
                              f"cache type {cache_type} is not fed by the engine (float32 or float16){hint}")
        for name in want_in[1:]:
            if inputs[name].type != cache_type:
                raise ConfigError(self.model_path, f"input {name}",
                                  f"expected the cache's type {cache_type} (as past_key_values.0.key), "
                                  f"got {inputs[name].type}")
        extra = [n for n in inputs if n not in want_in and n not in declared]
        if extra:
            raise ConfigError(self.model_path, None, "unexpected inputs the engine cannot feed: " + ", ".join(extra))
        export = self.export_config
        kv_shape = inputs["past_key_values.0.key"].shape
        logits_shape = outputs["logits"].shape
        if len(kv_shape) != 4:
            raise ConfigError(self.model_path, "input past_key_values.0.key",
                              f"expected [batch, heads, past_seq, head_dim], got {kv_shape}")
        n_heads = kv_shape[1] if isinstance(kv_shape[1], int) else export.kv_heads
        head_dim = kv_shape[3] if isinstance(kv_shape[3], int) else export.head_dim
        if n_heads is None or head_dim is None:
            raise ConfigError(self.model_path, "input past_key_values.0.key",
                              f"the cache's heads and head size are not fixed in the graph ({kv_shape}) and no "
                              "config.json or genai_config.json beside the model gives them")
        if len(logits_shape) != 3:
            raise ConfigError(self.model_path, "output logits", f"expected [batch, seq, vocab], got {logits_shape}")
        vocab = logits_shape[2] if isinstance(logits_shape[2], int) else export.vocab_size
        if vocab is None:
            raise ConfigError(self.model_path, "output logits",
                              f"the vocabulary is not fixed in the graph ({logits_shape}) and no config.json "
                              "beside the model gives vocab_size")
        meta = dict(session.get_modelmeta().custom_metadata_map)
        max_pos: int | None = None
        source = None
        meta_pos = meta.get("max_position_embeddings")
        if meta_pos and meta_pos.isdigit():
            max_pos, source = int(meta_pos), "ONNX metadata max_position_embeddings"
        elif export.context_length is not None:
            max_pos, source = export.context_length, export.where("context_length")
        return ModelSpec(
            path=self.model_path,
            sha256=sha,
            n_layers=n_layers,
            n_heads=int(n_heads),
            head_dim=int(head_dim),
            vocab_size=int(vocab),
            max_positions=max_pos,
            metadata=meta,
            inputs=declared,
            cache_dtype=np.dtype(CACHE_DTYPES[cache_type]).name,
            context_source=source,
            eos_token_ids=export.eos_token_ids,
        )

    def check_request(self, prompt: Sequence[int], new_tokens: int, *, entry: str = "request_tokens") -> None:
        """Refuse, at load, a request the model cannot serve: its prompt and new tokens past the context,
        or a prompt token outside the vocabulary (onnxruntime would fail mid-run, or a RoPE model run on
        past what it was trained for).

        Raises:
            ConfigError: naming the model, ``entry``, the numbers and where the context came from.
        """
        if prompt and max(prompt) >= self.spec.vocab_size:
            raise ConfigError(self.model_path, entry, f"the prompt has token id {max(prompt)}, outside the model's "
                                                      f"vocabulary of {self.spec.vocab_size}")
        context = self.spec.max_positions
        if context is None:
            return
        # The model sees the prompt and every new token but the last (chosen, never fed back): the
        # decode loop's own limit (capacity_left).
        needed = len(prompt) + new_tokens - 1
        if needed > context:
            raise ConfigError(
                self.model_path, entry,
                f"a request of {len(prompt)} prompt + {new_tokens} new tokens feeds the model {needed} positions, "
                f"more than its context of {context} ({self.spec.context_source}); ask for at most "
                f"{max(0, context - len(prompt) + 1)} new tokens (request_tokens)")

    # -- low level --------------------------------------------------------------

    def empty_past(self, batch_size: int) -> list[np.ndarray]:
        """A zero-length KV cache for ``batch_size`` sequences."""
        shape = (batch_size, self.spec.n_heads, 0, self.spec.head_dim)
        return [np.zeros(shape, self.spec.cache_dtype) for _ in range(2 * self.spec.n_layers)]

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
        feed: dict[str, np.ndarray] = {"input_ids": input_ids}
        declared = self.spec.inputs
        if "attention_mask" in declared:
            feed["attention_mask"] = np.ascontiguousarray(attention_mask, dtype=np.int64)
        if "position_ids" in declared:
            feed["position_ids"] = np.ascontiguousarray(position_ids, dtype=np.int64)
        if "token_type_ids" in declared:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        feed.update(zip(self._past_names, past, strict=True))
        out = self._run(self._session(threads or self.threads), feed)
        return out[0], out[1:]

    def _run(self, session: Any, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        """``session.run`` for ``[logits, present...]``; onnxruntime failures become ``DutError``."""
        try:
            return session.run(self._output_names, feed)
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            raise DutError(f"{self.model_path}: inference failed: {exc}") from exc

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

        Everything a request can get wrong is checked here, once: the decode
        steps that follow only count positions.  Raises ``ValueError`` for an
        empty batch, an empty prompt, a token outside the vocabulary, a
        non-positive temperature or a prompt longer than the model's context.
        """
        if not prompts:
            raise ValueError("prompts: expected at least one prompt, got none")
        if not greedy and not temperature > 0:
            raise ValueError(f"temperature: expected > 0 for sampling, got {temperature}")
        lengths = [len(p) for p in prompts]
        if min(lengths) == 0:
            raise ValueError("prompts: every prompt needs at least one token")
        if not self._feeds_mask and len(set(lengths)) > 1:
            raise ValueError("prompts: the model takes no attention_mask, so the prompts of one batch must have "
                             f"one length (padding would be attended to), got {sorted(set(lengths))}")
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
        # The mask never outgrows the context (the longest prompt's position reaches
        # max_positions - 1 at mask length max_positions); without a known context it
        # starts with room for a few hundred tokens and doubles when full.
        capacity = self.spec.max_positions if self.spec.max_positions is not None else width + 256
        state = GenerationState(
            past=present,
            logits=logits[:, -1:, :],
            mask=mask,
            next_position=positions[:, -1] + 1,
            capacity=capacity,
            greedy=greedy,
            temperature=float(temperature),
            rng=np.random.default_rng(seed),
            threads=threads,
            past_names=self._past_names,
        )
        if "token_type_ids" in self.spec.inputs:
            state._feed["token_type_ids"] = np.zeros((len(prompts), 1), np.int64)   # one segment throughout
        return state

    def step(self, state: GenerationState) -> list[int]:
        """Choose the next token of every sequence in ``state``; return them.

        Feeds the tokens chosen by the previous step first (one forward per step).
        Raises ``DutError`` when the context is full (``capacity_left(state) == 0``).
        """
        return self._step(state)[:, 0].tolist()

    def advance(self, state: GenerationState, steps: int) -> int:
        """Take ``steps`` steps (as many ``step`` calls, without the per-step lists); return the tokens made.

        Raises ``ValueError`` for a negative ``steps`` and ``DutError`` if the
        context fills first (``capacity_left(state) < steps``); nothing is run then.
        """
        if steps < 0:
            raise ValueError(f"steps: expected >= 0, got {steps}")
        if steps > self.capacity_left(state):
            raise DutError(
                f"{self.model_path}: context full: {steps} steps asked, {self.capacity_left(state)} left at "
                f"{state.length} tokens (max_position_embeddings {self.spec.max_positions}); start a new request"
            )
        one = self._step
        for _ in range(steps):
            one(state)
        return steps * state.batch_size

    def capacity_left(self, state: GenerationState) -> int:
        """How many more ``step`` calls the context allows (a large number if unknown)."""
        if self.spec.max_positions is None:
            return 1 << 30
        used = state._max_prompt_next + state._fed + state._has_pending
        return max(0, self.spec.max_positions - used + 1)

    # -- the decode loop (hooks) --------------------------------------------------

    def _step(self, state: GenerationState) -> np.ndarray:
        """One step: feed the pending tokens (if any), choose the next ones; return them ``[batch, 1]``.

        The hot loop of the compute emulator: one onnxruntime call and as few
        numpy calls as the layout of ``GenerationState`` allows.
        """
        if state._has_pending:
            fed = state._fed
            if state._max_prompt_next + fed >= self._position_limit:
                raise DutError(
                    f"{self.model_path}: context full at {state.length} tokens "
                    f"(max_position_embeddings {self.spec.max_positions}); start a new request"
                )
            length = state._length + 1
            if length > state._mask.shape[1]:
                self._grow(state)
            feed = state._feed
            feed["input_ids"] = state._steps[-1]
            if self._feeds_mask:
                feed["attention_mask"] = state._mask[:, :length]
            if self._feeds_positions:
                feed["position_ids"] = state._positions[fed]
            session = self._sessions.get(state.threads) or self._session(state.threads)
            try:
                out = session.run(self._output_names, feed)
            except Exception as exc:  # onnxruntime raises its own pybind exception types
                raise DutError(f"{self.model_path}: inference failed: {exc}") from exc
            past = out[1:]
            feed.update(zip(self._past_names, past))
            state.past = past
            state._logits = out[0]  # [batch, 1, vocab]
            state._length = length
            state._fed = fed + 1
        if state.greedy:
            tokens = state._logits.argmax(axis=-1)
        else:  # the exponential race, see _draw_noise
            if state._noise_next >= len(state._noise):
                self._draw_noise(state)
            work = state._work
            log_e = state._noise[state._noise_next]
            state._noise_next += 1
            if state.temperature != 1.0:
                np.multiply(state._logits, 1.0 / state.temperature, out=work)
                np.subtract(work, log_e, out=work)
            else:
                np.subtract(state._logits, log_e, out=work)
            tokens = work.argmax(axis=-1)
        state._has_pending = True
        state._steps.append(tokens)
        return tokens

    @staticmethod
    def _grow(state: GenerationState) -> None:
        """Double the mask and position buffers (only for a model that does not state its context)."""
        batch, capacity = state._mask.shape
        grown = np.ones((batch, 2 * capacity), np.int64)
        grown[:, :capacity] = state._mask
        state._mask = grown
        first = state._positions[0]
        state._positions = first + np.arange(len(state._positions) + capacity, dtype=np.int64).reshape(-1, 1, 1)

    @staticmethod
    def _draw_noise(state: GenerationState) -> None:
        """``log E`` for the next steps' sampling, E ~ Exp(1) drawn as ``-log U``; about 64 k at a time.

        Sampling is the exponential race (the Gumbel-max trick): with ``E_i``
        independent Exp(1) draws, ``argmax(logits_i / T - log E_i)`` is a
        sample of ``softmax(logits / T)``.  It needs no exp, no normalisation
        and no running sum, so any logits are safe, and per step it costs one
        subtraction and one argmax in a preallocated float32 buffer.
        """
        steps = max(1, _NOISE_CHUNK // state._work.size)
        n = steps * state._work.size
        # U uniform on the odd multiples of 2**-24 in (0, 1), from 23 random bits each: the bits as
        # the mantissa of a float in [1, 2), less 1 - 2**-24 (exact).  Never 0 or 1, so both logs
        # below stay finite; a third cheaper than Generator.random(dtype=float32) and a clamp.
        bits = state.rng.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n]
        bits >>= np.uint32(9)
        bits |= np.uint32(0x3F800000)
        u = bits.view(np.float32).reshape(steps, *state._work.shape)
        u -= np.float32(1.0 - 2.0**-24)
        np.log(u, out=u)
        np.negative(u, out=u)  # E = -log U > 0
        np.log(u, out=u)
        state._noise, state._noise_next = list(u), 0  # one view per step, indexed without numpy

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
        self.advance(state, min(max_new_tokens, self.capacity_left(state)))
        return GenerationResult(tokens=state.generated, n_tokens=state.n_generated)
