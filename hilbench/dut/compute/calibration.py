"""Calibration: measure tokens/s per power level by really running the engine.

In simulated time the model cannot run for eight simulated hours, so the
compute unit advances by a ``PerformanceModel`` (tokens/s and watts per
level) measured here.  Per computing level the engine runs the way
``ComputeUnit(fidelity="real")`` runs it at that level: the level's batch
size and thread count, whole requests of ``ComputeUnit.request_tokens`` new
tokens on the unit's prompt with the prefill included, sampled at
temperature 1.  The median request throughput (a representative figure, not
the best burst) is multiplied by the level's duty cycle (the fraction of
ticks it generates on).

``measure_tokens_per_s`` is the only place in ``hilbench.dut.compute`` that
reads a clock: wall time is what calibration measures.  Results are cached
as JSON, keyed by the model's SHA-256, the machine (``platform.machine()``,
CPU count, onnxruntime version) and the power table, in ``HILBENCH_CACHE_DIR``
or ``~/.cache/hilbench``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hilbench.dut.compute.engine import InferenceEngine
from hilbench.dut.compute.power import COMPUTE_LEVELS, PowerLevel, PowerTable

log = logging.getLogger(__name__)

CACHE_ENV = "HILBENCH_CACHE_DIR"
CACHE_FORMAT = 2  # 2: whole sampled requests with prefill, median (1: best greedy burst)
DEFAULT_PROMPT: tuple[int, ...] = tuple(b"The parked car computes while it charges. ")
DEFAULT_REQUEST_TOKENS = 256  # new tokens per sequence per request, ComputeUnit's default


def default_cache_dir() -> Path:
    """``$HILBENCH_CACHE_DIR`` if set, else ``~/.cache/hilbench``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hilbench"


@dataclass(frozen=True)
class PerformanceModel:
    """Tokens/s and watts per power level, as calibrated on one machine for one model.

    ``busy_tokens_per_s`` is the measured throughput while generating (before
    the duty cycle); ``tokens_per_s`` is what a unit at that level makes on
    average.  OFF and IDLE make 0 tokens/s.
    """

    tokens_per_s: Mapping[PowerLevel, float]
    watts: Mapping[PowerLevel, float]
    busy_tokens_per_s: Mapping[PowerLevel, float] = field(default_factory=dict)
    model_sha256: str = ""
    machine: Mapping[str, str] = field(default_factory=dict)
    table_key: str = ""

    def rate(self, level: PowerLevel) -> float:
        """Average tokens/s at ``level``."""
        return float(self.tokens_per_s.get(PowerLevel(level), 0.0))

    def power_w(self, level: PowerLevel) -> float:
        """Electrical draw at ``level``."""
        return float(self.watts.get(PowerLevel(level), 0.0))

    def tokens_per_kwh(self, level: PowerLevel) -> float:
        """Tokens per kWh at ``level`` (0 where no power is drawn)."""
        w = self.power_w(level)
        return self.rate(level) * 3_600_000.0 / w if w > 0 else 0.0

    @classmethod
    def from_rates(cls, tokens_per_s: Mapping[PowerLevel, float], table: PowerTable | None = None) -> PerformanceModel:
        """A model from known rates (e.g. a datasheet), watts from ``table``."""
        table = table or PowerTable()
        rates = {lv: float(tokens_per_s.get(lv, 0.0)) if lv.computes else 0.0 for lv in PowerLevel}
        return cls(tokens_per_s=rates, watts={lv: table.watts(lv) for lv in PowerLevel}, table_key=table.key())

    def to_json(self) -> dict[str, Any]:
        """The cache file's JSON document (levels by name); :meth:`from_json` reads it back."""
        return {
            "format": CACHE_FORMAT,
            "model_sha256": self.model_sha256,
            "machine": dict(self.machine),
            "table_key": self.table_key,
            "tokens_per_s": {lv.name: v for lv, v in self.tokens_per_s.items()},
            "busy_tokens_per_s": {lv.name: v for lv, v in self.busy_tokens_per_s.items()},
            "watts": {lv.name: v for lv, v in self.watts.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PerformanceModel:
        """Inverse of ``to_json``; raises ``ValueError``/``KeyError`` on a malformed document."""
        if data.get("format") != CACHE_FORMAT:
            raise ValueError(f"format: expected {CACHE_FORMAT}, got {data.get('format')!r}")

        def levels(d: Mapping[str, Any]) -> dict[PowerLevel, float]:
            return {PowerLevel[k]: float(v) for k, v in d.items()}

        return cls(
            tokens_per_s=levels(data["tokens_per_s"]),
            watts=levels(data["watts"]),
            busy_tokens_per_s=levels(data.get("busy_tokens_per_s", {})),
            model_sha256=str(data["model_sha256"]),
            machine={str(k): str(v) for k, v in data["machine"].items()},
            table_key=str(data["table_key"]),
        )


def machine_fingerprint() -> dict[str, str]:
    """What makes a calibration valid only on this kind of machine."""
    import onnxruntime  # calibration runs the engine anyway

    return {
        "machine": platform.machine(),
        "cpu_count": str(os.cpu_count()),
        "onnxruntime": onnxruntime.__version__,
    }


def measure_tokens_per_s(
    engine: InferenceEngine,
    batch_size: int,
    threads: int = 1,
    steps: int = DEFAULT_REQUEST_TOKENS,
    repeats: int = 5,
    prompt: Sequence[int] = DEFAULT_PROMPT,
    *,
    greedy: bool = False,
    temperature: float = 1.0,
    warm_up: bool = True,
) -> float:
    """The calibration's measurement: busy throughput in tokens/s (wall clock), as the unit generates.

    Times ``repeats`` whole requests, each a prefill of ``batch_size`` copies
    of ``prompt`` and ``steps`` decode steps (fewer if the context fills),
    sampled as ``ComputeUnit`` samples them (``greedy=False``, temperature
    1), after one short untimed request if ``warm_up``; returns the median
    request's tokens/s.  A request is what the unit serves, so prefill and
    the cost of a growing KV cache are in the figure; the median, not the
    best, is what a loaded machine gives most of the time.  This is the one
    function of the compute package that reads a clock (``time.perf_counter``).

    Raises ``ValueError`` if ``batch_size``, ``steps`` or ``repeats`` is below 1.
    """
    if batch_size < 1 or steps < 1 or repeats < 1:
        raise ValueError(f"batch_size, steps and repeats must be >= 1, got {batch_size}, {steps}, {repeats}")
    prompts = [list(prompt)] * batch_size
    if warm_up:  # session threads, allocator, the shapes of this batch size
        warm = engine.start(prompts, greedy=greedy, temperature=temperature, seed=0, threads=threads)
        engine.advance(warm, min(8, steps, engine.capacity_left(warm)))
    rates = []
    for repeat in range(repeats):
        t0 = time.perf_counter()
        state = engine.start(prompts, greedy=greedy, temperature=temperature, seed=repeat, threads=threads)
        n_tokens = engine.advance(state, min(steps, engine.capacity_left(state)))
        elapsed = time.perf_counter() - t0
        if elapsed > 0:
            rates.append(n_tokens / elapsed)
    return statistics.median(rates) if rates else 0.0


def cache_key(
    model_sha256: str,
    machine: Mapping[str, str],
    table: PowerTable,
    steps: int,
    prompt: Sequence[int] = DEFAULT_PROMPT,
) -> str:
    """Hex SHA-256 naming a calibration: model, machine, power table, steps and prompt.

    Any change to one of them is a new key, so a cached calibration is never used for another setup.
    """
    text = json.dumps(
        {
            "format": CACHE_FORMAT,
            "model": model_sha256,
            "machine": dict(machine),
            "table": table.key(),
            "steps": steps,
            "prompt": [int(t) for t in prompt],
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def calibrate(
    engine: InferenceEngine,
    table: PowerTable | None = None,
    *,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    steps: int = DEFAULT_REQUEST_TOKENS,
    repeats: int = 5,
    prompt: Sequence[int] = DEFAULT_PROMPT,
) -> PerformanceModel:
    """Measure (or load from the cache) the performance model of ``engine`` under ``table``.

    ``steps`` and ``prompt`` are the unit's request length (``request_tokens``)
    and prompt; each level's figure is the median of ``repeats`` timed
    requests (``measure_tokens_per_s``), the levels taking turns.
    A cache file that cannot be read or parsed is logged and replaced, never fatal.
    """
    table = table or PowerTable()
    machine = machine_fingerprint()
    key = cache_key(engine.spec.sha256, machine, table, steps, prompt)
    path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache_file = path / f"calibration-{key[:24]}.json"
    if use_cache and cache_file.is_file():
        try:
            model = PerformanceModel.from_json(json.loads(cache_file.read_text(encoding="utf-8")))
            if model.model_sha256 == engine.spec.sha256 and model.table_key == table.key():
                log.debug("calibration loaded from %s", cache_file)
                return model
            log.warning("calibration cache %s is for another model or table; recalibrating", cache_file)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("calibration cache %s unreadable (%s); recalibrating", cache_file, exc)

    # Levels interleaved, one request each per round (the order reversed every other
    # round), so a change in the machine's load hits every level alike.
    samples: dict[PowerLevel, list[float]] = {lv: [] for lv in COMPUTE_LEVELS}
    for round_index in range(repeats):
        for level in COMPUTE_LEVELS if round_index % 2 == 0 else COMPUTE_LEVELS[::-1]:
            prof = table.profile(level)
            samples[level].append(
                measure_tokens_per_s(
                    engine,
                    prof.batch_size,
                    prof.threads,
                    steps=steps,
                    repeats=1,
                    prompt=prompt,
                    warm_up=round_index == 0,
                )
            )
    busy = {lv: statistics.median(samples[lv]) for lv in COMPUTE_LEVELS}
    rates: dict[PowerLevel, float] = {lv: 0.0 for lv in PowerLevel}
    for level in COMPUTE_LEVELS:
        rates[level] = busy[level] * table.profile(level).duty
    model = PerformanceModel(
        tokens_per_s=rates,
        watts={lv: table.watts(lv) for lv in PowerLevel},
        busy_tokens_per_s=busy,
        model_sha256=engine.spec.sha256,
        machine=machine,
        table_key=table.key(),
    )
    if use_cache:
        try:
            path.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(model.to_json(), indent=2, sort_keys=True), encoding="utf-8")
            os.replace(tmp, cache_file)
        except OSError as exc:
            log.warning("could not write calibration cache %s: %s", cache_file, exc)
    return model
