"""The compute unit core: governor -> token generation -> power -> thermal, per tick.

No CAN and no clock here.  Whoever sits in front (the safety supervisor,
fed by decoded BMS/VCU frames) calls ``tick(dt_s, level, budget_w=...,
coolant_c=...)`` with the level it grants and the power budget it allows;
the unit's own governor may lower that level further for temperature.  The
unit keeps its own time as the sum of the ``dt_s`` it was given.

Fidelity:

* ``"model"`` advances tokens by the calibrated tokens/s of the effective
  level with a fractional accumulator: deterministic, no inference.
* ``"real"`` runs the ONNX engine for the tokens due: on the level's
  duty-cycle on-ticks it takes as many decode steps (each one token per
  sequence of the level's batch) as the accumulated tokens due allow.

Both fidelities draw on the same accumulator of tokens due, so their token
counts agree to within one batch and one duty period; what "real" adds is
real token ids, real CPU load and proof that the engine keeps up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

from hilbench.dut.compute.calibration import DEFAULT_PROMPT, DEFAULT_REQUEST_TOKENS, PerformanceModel
from hilbench.dut.compute.engine import GenerationState, InferenceEngine
from hilbench.dut.compute.governor import Governor
from hilbench.dut.compute.power import PowerLevel, PowerTable
from hilbench.dut.compute.thermal import ThermalModel
from hilbench.errors import ConfigError

Fidelity = Literal["real", "model"]
FIDELITIES: tuple[str, ...] = ("real", "model")
#: ``PowerLevel(i).computes`` by value, for the per-tick path (the enum property costs more).
_COMPUTES: tuple[bool, ...] = tuple(level.computes for level in PowerLevel)


class TickResult(NamedTuple):
    """What one tick did.

    Immutable like a frozen dataclass, but a named tuple: one is made every tick of
    hours-long sessions, and a frozen dataclass's ``__init__`` (one ``object.__setattr__``
    per field) costs about five times as much.
    """

    tokens: int
    power_w: float
    energy_j: float
    level: PowerLevel  # effective level after governor and budget
    requested: PowerLevel
    reason: str  # governor's reason code ("requested", "passive", "hot", "critical", "budget")
    junction_c: float  # after the tick
    heatsink_c: float
    now_s: float  # unit time at the end of the tick


class ComputeUnit:
    """A car computer that turns power into tokens and heat.

    Parameters
    ----------
    performance:
        Tokens/s and watts per level (``calibration.calibrate`` or ``PerformanceModel.from_rates``).
    table:
        Power table (profiles per level); must be the one ``performance`` was calibrated with.
    thermal, governor:
        Defaults: ``ThermalModel()`` at ``coolant_c`` and ``Governor(levels=table)``.
    fidelity:
        ``"model"`` or ``"real"`` (needs ``engine``).
    engine:
        The inference engine for ``"real"``.
    prompt, request_tokens, seed:
        Real fidelity serves requests of ``request_tokens`` new tokens each on
        ``prompt``, sampled with seed ``seed + request number``.

    Raises ``ConfigError`` for an unknown fidelity or ``"real"`` without an engine.
    """

    def __init__(
        self,
        performance: PerformanceModel,
        *,
        table: PowerTable | None = None,
        thermal: ThermalModel | None = None,
        governor: Governor | None = None,
        fidelity: Fidelity = "model",
        engine: InferenceEngine | None = None,
        prompt: Sequence[int] = DEFAULT_PROMPT,
        request_tokens: int = DEFAULT_REQUEST_TOKENS,
        seed: int = 0,
        coolant_c: float = 25.0,
    ) -> None:
        if fidelity not in FIDELITIES:
            raise ConfigError(None, "fidelity", f"expected one of {', '.join(FIDELITIES)}, got {fidelity!r}")
        if fidelity == "real" and engine is None:
            raise ConfigError(None, "fidelity", "'real' needs an InferenceEngine (engine=...)")
        if request_tokens < 1:
            raise ConfigError(None, "request_tokens", f"expected >= 1, got {request_tokens}")
        if engine is not None:
            engine.check_request(list(prompt), int(request_tokens))
        self.performance = performance  # also caches its rates and watts per level (see the setter)
        self.table = table or PowerTable()
        self.thermal = thermal or ThermalModel(initial_c=coolant_c)
        self.governor = governor or Governor(levels=self.table)
        self.fidelity: Fidelity = fidelity
        self.engine = engine
        self.prompt = list(prompt)
        self.request_tokens = int(request_tokens)
        self.seed = int(seed)
        self.coolant_c = float(coolant_c)

        self.now_s = 0.0
        self.tokens_total = 0
        self.energy_j_total = 0.0
        self.requests_started = 0
        self.requests_preempted = 0
        self.last: TickResult | None = None
        self._due = 0.0
        self._tick_index = 0
        self._state: GenerationState | None = None
        self._state_tokens = 0

    @property
    def performance(self) -> PerformanceModel:
        """Tokens/s and watts per level; setting it refreshes the per-level figures ``tick`` reads."""
        return self._performance

    @performance.setter
    def performance(self, performance: PerformanceModel) -> None:
        self._performance = performance
        # Indexed by PowerLevel (0..5): what tick reads instead of two mapping lookups per tick.
        self._rates = tuple(performance.rate(lv) for lv in PowerLevel)
        self._watts = tuple(performance.power_w(lv) for lv in PowerLevel)

    # -- public contract ----------------------------------------------------------

    def tick(
        self,
        dt_s: float,
        level: PowerLevel | str | int = PowerLevel.P100,
        *,
        budget_w: float = math.inf,
        coolant_c: float | None = None,
    ) -> TickResult:
        """Run for ``dt_s`` seconds at (at most) ``level``; return what happened.

        ``budget_w`` is the power the supervisor grants; ``coolant_c`` the
        coolant temperature over the tick (default: the last one given).
        Raises ``ValueError`` for a negative or non-finite ``dt_s``.
        """
        if not (math.isfinite(dt_s) and dt_s >= 0):
            raise ValueError(f"dt_s: expected a finite number >= 0, got {dt_s}")
        if coolant_c is not None:
            self.coolant_c = float(coolant_c)
        requested = level if type(level) is PowerLevel else PowerLevel.parse(level)
        governor = self.governor
        effective = governor.update(self.now_s, self.thermal.junction_c, budget_w, requested)
        tokens = self._generate(dt_s, effective)
        power_w = self._watts[effective]
        energy_j = power_w * dt_s
        junction_c = self.thermal.step(dt_s, power_w, self.coolant_c)
        self.now_s += dt_s
        self._tick_index += 1
        self.tokens_total += tokens
        self.energy_j_total += energy_j
        # Positional (the fields' order), as keyword passing costs more than the tuple.
        self.last = TickResult(tokens, power_w, energy_j, effective, requested, governor.reason, junction_c,
                               self.thermal.heatsink_c, self.now_s)
        return self.last

    def snapshot(self) -> dict[str, object]:
        """Plain values for the bench, recorder and TUI."""
        last = self.last
        return {
            "now_s": self.now_s,
            "fidelity": self.fidelity,
            "level": last.level.name if last else PowerLevel.OFF.name,
            "requested": last.requested.name if last else PowerLevel.OFF.name,
            "reason": last.reason if last else "requested",
            "power_w": last.power_w if last else 0.0,
            "junction_c": self.thermal.junction_c,
            "heatsink_c": self.thermal.heatsink_c,
            "cooling_state": self.governor.cooling_state,
            "tokens_total": self.tokens_total,
            "energy_j_total": self.energy_j_total,
            "requests_started": self.requests_started,
        }

    # -- hooks --------------------------------------------------------------------

    def _generate(self, dt_s: float, level: PowerLevel) -> int:
        if not _COMPUTES[level]:
            self._due = 0.0  # nothing is owed for time spent off or idle
            return 0
        self._due += self._rates[level] * dt_s
        if self.fidelity == "model":
            n = math.floor(self._due + 1e-9)
            self._due -= n
            return n
        return self._generate_real(level)

    def _generate_real(self, level: PowerLevel) -> int:
        assert self.engine is not None
        profile = self.table.profile(level)
        if not profile.duty_on(self._tick_index):
            return 0
        # Decode steps due: each makes one token per sequence of the batch.
        batch = profile.batch_size
        steps = 0
        due = self._due
        while due >= batch - 1e-9:
            due -= batch
            steps += 1
        self._due = due
        # Run them in as few engine calls as the request turnover allows.
        produced = 0
        while steps > 0:
            state = self._request_for(batch, profile.threads)
            run = min(steps, self.request_tokens - self._state_tokens, self.engine.capacity_left(state))
            produced += self.engine.advance(state, run)
            self._state_tokens += run
            steps -= run
        return produced

    def _request_for(self, batch_size: int, threads: int) -> GenerationState:
        state = self._state
        if state is not None and state.batch_size != batch_size:
            self.requests_preempted += state.batch_size
            state = None
        if state is not None and (
            self._state_tokens >= self.request_tokens or self.engine.capacity_left(state) <= 0  # type: ignore[union-attr]
        ):
            state = None
        if state is None:
            assert self.engine is not None
            state = self.engine.start(
                [self.prompt] * batch_size,
                greedy=False,
                temperature=1.0,
                seed=self.seed + self.requests_started,
                threads=threads,
            )
            self.requests_started += batch_size
            self._state, self._state_tokens = state, 0
        state.threads = threads
        return state


def build_compute_unit(
    model_path: str | None = None,
    *,
    fidelity: Fidelity = "model",
    table: PowerTable | None = None,
    manifest: str | None = None,
    cache_dir: str | None = None,
    **unit_kwargs: object,
) -> ComputeUnit:
    """Engine (bundled tiny model by default, checked against its manifest) + calibration + unit."""
    from hilbench.dut.compute.calibration import calibrate
    from hilbench.dut.compute.engine import BUNDLED_MANIFEST, bundled_model

    if model_path is None:
        model_path, manifest = str(bundled_model()), manifest or str(BUNDLED_MANIFEST)
    table = table or PowerTable()
    engine = InferenceEngine(model_path, manifest=manifest)
    # Calibrate on the requests this unit will serve (its prompt and request length).
    steps = int(unit_kwargs.get("request_tokens", DEFAULT_REQUEST_TOKENS))  # type: ignore[call-overload]
    prompt = list(unit_kwargs.get("prompt", DEFAULT_PROMPT))  # type: ignore[call-overload]
    performance = calibrate(engine, table, cache_dir=cache_dir, steps=steps, prompt=prompt)
    return ComputeUnit(performance, table=table, fidelity=fidelity, engine=engine, **unit_kwargs)  # type: ignore[arg-type]
