"""The fault matrix: every failure mode into every safety message, handling times against declared FTTIs.

For each fault mode of the FTTI file (``hilbench/data/ftti.toml``) and each
safety message of the bench -- the messages of the BMS, VCU and OBC that
carry a role the emulated compute unit reads, taken from the signal map --
the matrix runs short benches in simulated time, each with one injection at
its own instant and seed, and reads the outcome off the bus: the decoded
``cu_state`` of the unit's own status frames, as the bus monitor saw them
(never the DUT's internals, so a real unit could be judged the same way).

* A mode declared ``stop`` must take the unit out of the computing states
  (RUNNING, DERATED) every time; the *fault handling time* is from the
  injection to the first status frame that says so, and its 99th percentile
  over the injections must stay within ``margin`` x the message's FTTI.
  While the fault lasts the unit must not compute again (no resuming on data
  that cannot be trusted).
* A mode declared ``tolerate`` must leave the unit computing throughout.

Runs are independent and spread over worker processes.  Everything that can
be checked before the first run is: the FTTI file (file, entry, reason),
every safety message has an FTTI, and every mode's step on every message
passes the action's own validation.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import signal
import tempfile
import tomllib
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..bench import Bench, BenchConfig
from ..bus import load_bus_description
from ..bus.codec import BenchCodec
from ..bus.frames import Frame
from ..bus.signal_map import SignalMap
from ..clock import wall_time_s
from ..errors import ConfigError
from .actions import ACTIONS, BusView, apply, step_problems
from .seeds import parse_seeds as seeds_from_text

FTTI_FILE = Path(__file__).resolve().parents[1] / "data" / "ftti.toml"
#: The failure modes of ISO 26262-6 / AUTOSAR E2E (and replay, which the bench adds), in table order.
FAILURE_MODES = ("corruption", "repetition", "loss", "delay", "insertion", "masquerade", "sequence", "replay")
#: "stop": every injection stops the unit within margin x FTTI (99th percentile) and it does not compute again
#: while the fault lasts; "detect": every injection stops it and it does not compute again, the handling
#: time reported but not judged (a statistical pattern whose detection time no FTTI can bound, see
#: ftti.toml); "tolerate": the unit never stops.
EXPECTATIONS = ("stop", "detect", "tolerate")
#: States of ``cu_state`` in which the unit computes; any other one counts as stopped.
COMPUTING_STATES = ("RUNNING", "DERATED")
#: The producers whose messages the unit reads.
INPUT_PRODUCERS = ("bms", "vcu", "obc")
_TARGET_KEYS = ("node", "role", "message", "duration_s")


# -- the FTTI file ------------------------------------------------------------------------------
@dataclass(frozen=True)
class MessageFtti:
    """A safety message's declared FTTI (s, from ``ftti_ms``) and why it is that long."""

    message: str
    ftti_s: float
    why: str


@dataclass(frozen=True)
class FaultMode:
    """One ``[modes.NAME]`` entry: the frame fault injected, for how long, and what the unit must do.

    ``params`` are the action's own, without the target (the matrix sets message and
    duration); a text may hold ``{other}`` and ``{recording}``, filled in by :meth:`step`.
    ``expect`` is one of :data:`EXPECTATIONS`.
    """

    name: str
    failure_mode: str
    action: str
    params: dict[str, Any]
    duration_s: float
    expect: str
    why: str

    def step(self, message: str, other: str, recording: str) -> dict[str, Any]:
        """The action's parameters for one injection into ``message``."""
        params: dict[str, Any] = {}
        for key, value in self.params.items():
            if isinstance(value, str):
                value = value.replace("{other}", other).replace("{recording}", recording)
            params[key] = value
        return {**params, "message": message, "duration_s": self.duration_s}


@dataclass(frozen=True)
class FttiSpec:
    """The FTTI file: matrix timing, the FTTI of each safety message and the fault modes."""

    path: Path
    margin: float
    warmup_s: float
    inject_window_s: float
    settle_s: float
    recording_s: float
    messages: dict[str, MessageFtti]
    modes: dict[str, FaultMode]

    def limit_s(self, message: str) -> float:
        """What the 99th percentile of the handling time must stay within: ``margin`` x the message's FTTI (s).

        Raises:
            KeyError: the message has no FTTI here.
        """
        return self.margin * self.messages[message].ftti_s


def _number(table: dict, key: str, file: Path, entry: str, *, positive: bool = True,
            at_most: float | None = None) -> float:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(file, f"{entry}.{key}", f"expected a number, got {value!r}")
    if (positive and value <= 0) or value < 0 or (at_most is not None and value > at_most):
        bound = f"in (0, {at_most:g}]" if at_most is not None else "> 0" if positive else ">= 0"
        raise ConfigError(file, f"{entry}.{key}", f"must be {bound}, got {value!r}")
    return float(value)


def _text(table: dict, key: str, file: Path, entry: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(file, f"{entry}.{key}", "expected a non-empty text (every value says why)")
    return " ".join(value.split())


def _keys(table: object, allowed: Iterable[str], file: Path, entry: str) -> dict:
    if not isinstance(table, dict):
        raise ConfigError(file, entry, f"expected a table, got {type(table).__name__}")
    allowed = tuple(allowed)
    for key in table:
        if key not in allowed:
            raise ConfigError(file, f"{entry}.{key}", f"unknown key; allowed: {', '.join(allowed)}")
    return table


def _mode(name: str, table: dict, file: Path) -> FaultMode:
    entry = f"modes.{name}"
    _keys(table, ("failure_mode", "action", "params", "duration_s", "expect", "why"), file, entry)
    failure_mode = table.get("failure_mode")
    if failure_mode not in FAILURE_MODES:
        raise ConfigError(file, f"{entry}.failure_mode",
                          f"must be one of {', '.join(FAILURE_MODES)}, got {failure_mode!r}")
    action = table.get("action")
    if action not in ACTIONS:
        raise ConfigError(file, f"{entry}.action", f"unknown action {action!r}; known: {', '.join(sorted(ACTIONS))}")
    expect = table.get("expect")
    if expect not in EXPECTATIONS:
        raise ConfigError(file, f"{entry}.expect", f"must be one of {', '.join(EXPECTATIONS)}, got {expect!r}")
    spec = ACTIONS[action]
    for key in _TARGET_KEYS[:3]:
        if key not in spec.params:
            raise ConfigError(file, f"{entry}.action", f'"{action}" does not act on a message; the matrix needs a '
                                                       f"frame fault")
    params = table.get("params", {})
    if not isinstance(params, dict):
        raise ConfigError(file, f"{entry}.params", f"expected a table, got {type(params).__name__}")
    for key, value in params.items():
        if key in _TARGET_KEYS:
            raise ConfigError(file, f"{entry}.params.{key}", "set by the matrix (each safety message in turn, for "
                                                             "the mode's duration_s); leave it out")
        if key not in spec.params:
            allowed = ", ".join(k for k in spec.params if k not in _TARGET_KEYS)
            raise ConfigError(file, f"{entry}.params.{key}",
                              f'unknown parameter of action "{action}"; allowed: {allowed}')
        want = spec.params[key][0]
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) if want is float else \
            (isinstance(value, int) and not isinstance(value, bool)) if want is int else isinstance(value, want)
        if not ok:
            raise ConfigError(file, f"{entry}.params.{key}", f"expected {want.__name__}, got {value!r}")
    missing = [k for k, (_, required) in spec.params.items() if required and k not in params]
    if missing:
        raise ConfigError(file, f"{entry}.params", f'action "{action}" needs {", ".join(missing)}')
    return FaultMode(name, failure_mode, action, {k: (float(v) if spec.params[k][0] is float else v)
                                                  for k, v in params.items()},
                     _number(table, "duration_s", file, entry), expect, _text(table, "why", file, entry))


def load_ftti(path: str | Path | None = None) -> FttiSpec:
    """Read and check an FTTI file (default: the bench's own, ``hilbench/data/ftti.toml``).

    Raises:
        ConfigError: naming the file, the entry (``modes.insert.expect``) and the reason.
    """
    file = Path(path) if path is not None else FTTI_FILE
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(file, None, f"cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, None, f"not valid TOML: {exc}") from None
    _keys(data, ("matrix", "messages", "modes"), file, "<top level>")
    matrix = _keys(data.get("matrix", {}), ("margin", "warmup_s", "inject_window_s", "settle_s", "recording_s"),
                   file, "matrix")
    messages = {}
    for name, table in _keys(data.get("messages", {}), data.get("messages", {}), file, "messages").items():
        _keys(table, ("ftti_ms", "why"), file, f"messages.{name}")
        messages[name] = MessageFtti(name, _number(table, "ftti_ms", file, f"messages.{name}") / 1000.0,
                                     _text(table, "why", file, f"messages.{name}"))
    modes = {name: _mode(name, table, file)
             for name, table in _keys(data.get("modes", {}), data.get("modes", {}), file, "modes").items()}
    if not modes:
        raise ConfigError(file, "modes", "declares no fault mode")
    return FttiSpec(file, _number(matrix, "margin", file, "matrix", at_most=1.0),
                    _number(matrix, "warmup_s", file, "matrix"), _number(matrix, "inject_window_s", file, "matrix"),
                    _number(matrix, "settle_s", file, "matrix", positive=False),
                    _number(matrix, "recording_s", file, "matrix"), messages, modes)


# -- what is injected where ---------------------------------------------------------------------
def safety_messages(signal_map: SignalMap) -> tuple[str, ...]:
    """The messages the emulated compute unit reads: each message of the BMS, VCU and OBC that carries
    a role the unit uses (:data:`hilbench.dut.emulator.INPUT_ROLES`), in producer then map order."""
    from ..dut.emulator import INPUT_ROLES

    carried: dict[str, set[str]] = {}
    for binding in signal_map.roles.values():
        carried.setdefault(binding.message, set()).add(binding.role.name)
    return tuple(name for producer in INPUT_PRODUCERS for name in signal_map.messages_of(producer)
                 if carried.get(name, set()) & INPUT_ROLES)


def parse_seeds(text: str) -> tuple[int, ...]:
    """Seeds from ``"0-19"``, ``"0,3,7"``, ``"5"`` or a mix (``"0-4,9"``): :func:`.seeds.parse_seeds`.

    Raises:
        ConfigError: not a seed list (names ``--seeds`` and the reason).
    """
    try:
        return seeds_from_text(text)
    except ValueError as exc:
        raise ConfigError(None, "--seeds", str(exc)) from None


@dataclass(frozen=True)
class Injection:
    """One run: a mode injected into a message at ``at_s`` on a bench with ``seed``."""

    mode: str
    message: str
    seed: int
    index: int
    at_s: float


def plan(spec: FttiSpec, messages: Sequence[str], modes: Sequence[str], injections: int,
         seeds: Sequence[int]) -> list[Injection]:
    """Every (mode, message) pair ``injections`` times, the seeds taken in turn, each at its own instant.

    The instants are drawn from a generator seeded by the seed, the mode, the message and the
    injection's number: the same plan every time, whatever ``-j``.
    """
    out = []
    for mode in modes:
        for message in messages:
            for index in range(injections):
                seed = seeds[index % len(seeds)]
                rng = np.random.default_rng([seed, zlib.crc32(mode.encode()), zlib.crc32(message.encode()), index])
                at_s = round(spec.warmup_s + float(rng.random()) * spec.inject_window_s, 6)
                out.append(Injection(mode, message, seed, index, at_s))
    return out


@dataclass(frozen=True)
class MatrixSettings:
    """What every run shares: the bus description, the DUT and the recording to replay."""

    dbc: tuple[Path, ...] | None = None
    signal_map: Path | None = None
    dut_defect: str | None = None
    recording: str = ""

    def bench_config(self, seed: int, **changes: Any) -> BenchConfig:
        """One run's bench: ``seed``, this bus description and DUT defect, and ``changes`` (config fields)."""
        dut = {"defect": self.dut_defect} if self.dut_defect else {}
        return BenchConfig(seed=seed, dbc=self.dbc or None, signal_map=self.signal_map, dut=dut, **changes)


def other_messages(codec: BenchCodec, messages: Sequence[str]) -> dict[str, str]:
    """For each message, the one ``"{other}"`` stands for: the next safety message of the same frame format."""
    out = {}
    for i, name in enumerate(messages):
        fd = codec.message(name).is_fd
        rest = [*messages[i + 1:], *messages[:i]]
        out[name] = next((m for m in rest if codec.message(m).is_fd == fd), rest[0] if rest else name)
    return out


def check_matrix(spec: FttiSpec, view: BusView, messages: Sequence[str], modes: Sequence[str],
                 recording: str) -> None:
    """Refuse before the first run: a message without FTTI, a mode whose step cannot act on a message.

    Raises:
        ConfigError: naming the FTTI file, the entry and the reason.
    """
    for name in messages:
        if name not in spec.messages:
            raise ConfigError(spec.path, f"messages.{name}", "the compute unit reads this safety message but no FTTI "
                                                            "is declared for it (ftti_ms and why)")
    others = other_messages(view.codec, messages)
    for mode_name in modes:
        mode = spec.modes[mode_name]
        for name in messages:
            problems = step_problems(mode.action, mode.step(name, others[name], recording or "<recording>"), view)
            if recording == "" and mode.action == "replay":
                problems = [p for p in problems if p[0] != "file"]
            if problems:
                key, reason = problems[0]
                raise ConfigError(spec.path, f"modes.{mode_name}" + (f".params.{key}" if key else ""),
                                  f"{mode.action} on {name}: {reason}")


# -- one run ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What one injection did, read off the unit's status frames.

    ``stop_s``: injection to the first status frame outside the computing states (None: none came);
    ``resumed_s``: injection to a computing status frame after that stop while the fault still lasted.
    """

    mode: str
    message: str
    seed: int
    at_s: float
    stop_s: float | None = None
    reason: str = ""
    resumed_s: float | None = None
    error: str = ""
    #: The message the unit named for its stop (role ``cu_reason_frame_id``): "" when it named none,
    #: None when the signal map does not bind that role (nothing on the bus could name one).
    named: str | None = None
    #: A replay whose alive counter, where it took over, lined up with the live sender's: no alive
    #: counter can tell it from the live stream (see :func:`_replay_lines_up`); such a replay is
    #: counted apart, not as undetected.
    aligned: bool = False


def _states(bench: Bench) -> tuple[np.ndarray, list[str], list[str]]:
    """Times of the unit's status frames, the ``cu_state`` and (when mapped) ``cu_reason`` each carried."""
    t, v = bench.monitor.trace("cu_state")
    states = bench.monitor.states_of("cu_state")
    names = [states[int(i)] if 0 <= i < len(states) else "?" for i in v]
    reasons: list[str] = []
    if bench.signal_map.binding("cu_reason") is not None:
        tr, vr = bench.monitor.trace("cu_reason")
        reason_states = bench.monitor.states_of("cu_reason")
        if len(tr) == len(t):
            reasons = [reason_states[int(i)] if 0 <= i < len(reason_states) else "?" for i in vr]
    return t, names, reasons


#: Slack on top of one cycle of the message naming the input, for the unit's frame naming it to come.
NAMED_SLACK_S = 0.15


def _named(bench: Bench, stop_at_s: float) -> str | None:
    """The message the unit named for a stop at ``stop_at_s`` (role ``cu_reason_frame_id``, in its first frame
    within a cycle of the stop): "" if none, None if the map does not bind the role."""
    binding = bench.signal_map.binding("cu_reason_frame_id")
    if binding is None:
        return None
    within_s = (bench.codec.message(binding.message).cycle_time_s or 1.0) + NAMED_SLACK_S
    t, v = bench.monitor.trace("cu_reason_frame_id")
    for frame_id in v[(t >= stop_at_s - 1e-6) & (t <= stop_at_s + within_s)]:
        if frame_id:
            codec = bench.codec.by_id.get((int(frame_id), False)) or bench.codec.by_id.get((int(frame_id), True))
            return codec.name if codec is not None else f"0x{int(frame_id):X}"
    return ""



def _watch_counter(bench: Bench, message: str) -> list[tuple[float, int]] | None:
    """Record (time, alive counter) of every frame of ``message`` on the bus (None: it has no counter)."""
    codec = bench.codec.message(message)
    protection = codec.protection
    if protection is None or not protection.has_counter:
        return None
    seen: list[tuple[float, int]] = []
    frame_id, epoch_s = codec.frame_id, bench.epoch_s

    def tap(msg: Frame) -> None:
        if msg.arbitration_id == frame_id and len(msg.data) * 8 >= protection.message_bits:
            seen.append((msg.timestamp - epoch_s, protection.counter(msg.data)))

    bench.restbus.add_tap(tap)
    return seen


def _replay_lines_up(bench: Bench, message: str, counters: list[tuple[float, int]] | None, at_s: float) -> bool:
    """Whether the replay's first frame carried the counter the live sender would have sent then: a
    receiver then reads the replay as the live stream, and only a freshness value (AUTOSAR SecOC) could
    tell them apart."""
    if not counters:
        return False
    # Bus timestamps carry the epoch (~1.7e9 s): a quarter of a microsecond of float rounding.
    before = [c for c in counters if c[0] < at_s - 1e-4]
    after = [c for c in counters if c[0] >= at_s - 1e-4]
    codec = bench.codec.message(message)
    if not before or not after or not codec.cycle_time_s or codec.protection is None:
        return False
    (t0, c0), (t1, c1) = before[-1], after[0]
    modulus = codec.protection.counter_modulus
    live = c0 + round((t1 - t0) / codec.cycle_time_s)
    return (live - c1) % modulus == 0

def run_injection(job: tuple[Injection, FaultMode, str, MatrixSettings, float]) -> Outcome:
    """Run one injection on a fresh bench and read the outcome off the bus (never raises)."""
    injection, mode, other, settings, settle_s = job
    at_s = injection.at_s
    base = Outcome(injection.mode, injection.message, injection.seed, at_s)
    params = mode.step(injection.message, other, settings.recording)
    try:
        with Bench(settings.bench_config(injection.seed)) as bench:
            counters = _watch_counter(bench, injection.message) if mode.action == "replay" else None
            bench.clock.call_at(at_s, lambda: apply(bench, mode.action, dict(params)))
            bench.run_for(at_s + mode.duration_s + settle_s + 0.05)
            if counters is not None:
                base = replace(base, aligned=_replay_lines_up(bench, injection.message, counters, at_s))
            t, names, reasons = _states(bench)
            before = np.nonzero(t <= at_s)[0]
            if not len(before) or names[before[-1]] not in COMPUTING_STATES:
                state = names[before[-1]] if len(before) else "no status frame yet"
                return replace(base, error=f"the unit was not computing when the fault came ({state})")
            fault_end = at_s + mode.duration_s
            stop_s = resumed_s = named = None
            reason = ""
            for i in range(before[-1] + 1, len(t)):
                computing = names[i] in COMPUTING_STATES
                if stop_s is None:
                    if not computing:
                        stop_s = float(t[i]) - at_s
                        reason = reasons[i] if reasons else ""
                        named = _named(bench, float(t[i]))
                elif computing and t[i] < fault_end:
                    resumed_s = float(t[i]) - at_s
                    break
    except Exception as exc:  # noqa: BLE001  (one broken run must not hide the others' evidence)
        return replace(base, error=f"{type(exc).__name__}: {exc}")
    return replace(base, stop_s=stop_s, reason=reason or "", resumed_s=resumed_s, named=named)


# -- the verdicts -----------------------------------------------------------------------------
def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000.0, 1)


def percentile_s(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else None


@dataclass
class Cell:
    """One mode on one message: its injections and the verdict on them."""

    mode: FaultMode
    message: str
    ftti_s: float
    limit_s: float
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def injections(self) -> int:
        """Runs of this cell, errors included."""
        return len(self.outcomes)

    @property
    def errors(self) -> list[Outcome]:
        """Runs that could not be judged: the bench failed, or the unit was not computing when the fault came."""
        return [o for o in self.outcomes if o.error]

    @property
    def stops(self) -> list[Outcome]:
        """Judged runs after which the unit left the computing states."""
        return [o for o in self.outcomes if not o.error and o.stop_s is not None]

    @property
    def aligned(self) -> list[Outcome]:
        """Replays that lined up with the live counter and did not stop the unit (beyond any alive counter)."""
        return [o for o in self.outcomes if not o.error and o.stop_s is None and o.aligned]

    @property
    def resumed(self) -> list[Outcome]:
        """Stops after which the unit computed again while the fault still lasted."""
        return [o for o in self.stops if o.resumed_s is not None]

    @property
    def handling_s(self) -> list[float]:
        """Each stop's fault handling time: injection to the first status frame outside the computing states (s)."""
        return [o.stop_s for o in self.stops]  # type: ignore[misc]

    @property
    def p50_s(self) -> float | None:
        """Median handling time (s); None without a stop."""
        return percentile_s(self.handling_s, 50)

    @property
    def p99_s(self) -> float | None:
        """99th percentile of the handling time (s), judged against ``limit_s`` in a ``stop`` mode; None: no stop."""
        return percentile_s(self.handling_s, 99)

    @property
    def named(self) -> int | None:
        """Stops whose reason on the bus named the faulted message (None: the map has no role for it)."""
        if any(o.named is None for o in self.stops):
            return None
        return sum(1 for o in self.stops if o.named == self.message)

    @property
    def problems(self) -> list[str]:
        """Every way the cell fails, most serious first (empty: PASS)."""
        out = []
        if self.errors:
            out.append("ERROR")
        if self.mode.expect == "tolerate":
            if self.stops:
                out.append("FALSE_STOP")
            return out
        if len(self.stops) < self.injections - len(self.errors) - len(self.aligned):
            out.append("UNDETECTED")
        if self.resumed:
            out.append("RESUMED")
        p99 = self.p99_s
        if self.mode.expect == "stop" and p99 is not None and p99 > self.limit_s + 1e-9:
            out.append("FTTI_MISS")
        return out

    @property
    def verdict(self) -> str:
        """``PASS``, or the cell's problems joined by ``+`` (``UNDETECTED+FTTI_MISS``)."""
        return "+".join(self.problems) or "PASS"

    def as_dict(self) -> dict[str, Any]:
        """The cell for the JSON report: counts, handling times and limits in ms (to 0.1), stops by reason, verdict."""
        reasons: dict[str, int] = {}
        for o in self.stops:
            reasons[o.reason or "?"] = reasons.get(o.reason or "?", 0) + 1
        return {
            "mode": self.mode.name, "failure_mode": self.mode.failure_mode, "message": self.message,
            "expect": self.mode.expect, "injections": self.injections, "stopped": len(self.stops),
            "aligned_undetectable": len(self.aligned),
            "resumed_during_fault": len(self.resumed), "errors": len(self.errors),
            "p50_ms": _ms(self.p50_s), "p99_ms": _ms(self.p99_s), "max_ms": _ms(max(self.handling_s, default=None)),
            "ftti_ms": _ms(self.ftti_s), "limit_ms": _ms(self.limit_s), "stop_reasons": reasons,
            "stops_naming_the_message": self.named,
            "verdict": self.verdict,
        }


@dataclass
class MatrixReport:
    """The whole matrix: every cell's runs and verdict, and what it ran with (``wall_s``: its real time, s)."""

    spec: FttiSpec
    messages: tuple[str, ...]
    modes: tuple[str, ...]
    seeds: tuple[int, ...]
    injections_per_cell: int
    settings: MatrixSettings
    cells: list[Cell]
    jobs: int = 1
    wall_s: float = 0.0

    @property
    def failed(self) -> list[Cell]:
        """Cells with a problem, in matrix order."""
        return [c for c in self.cells if c.problems]

    @property
    def passed(self) -> bool:
        """No cell has a problem."""
        return not self.failed

    @property
    def outcomes(self) -> list[Outcome]:
        """Every run's outcome, cell by cell."""
        return [o for c in self.cells for o in c.outcomes]

    def mode_summary(self, mode: str) -> dict[str, Any]:
        """A mode over every message: injections, stops, and the handling time's p50 and p99."""
        cells = [c for c in self.cells if c.mode.name == mode]
        times = [t for c in cells for t in c.handling_s]
        first = cells[0].mode if cells else None
        return {"failure_mode": first.failure_mode if first else "", "expect": first.expect if first else "",
                "injections": sum(c.injections for c in cells), "stopped": sum(len(c.stops) for c in cells),
                "p50_ms": _ms(percentile_s(times, 50)), "p99_ms": _ms(percentile_s(times, 99)),
                "cells_failed": sum(1 for c in cells if c.problems),
                "verdict": "PASS" if all(not c.problems for c in cells) else "FAIL"}

    def as_json(self) -> dict[str, Any]:
        """The report as plain values (times in ms): the verdict and settings, each message, mode, cell and run,
        and one line per failed cell; :meth:`json_text` writes it."""
        spec = self.spec
        return {
            "verdict": "PASS" if self.passed else "FAIL",
            "ftti_file": str(spec.path), "margin": spec.margin, "seeds": list(self.seeds),
            "injections_per_cell": self.injections_per_cell, "injections": len(self.outcomes),
            "dut_defect": self.settings.dut_defect, "jobs": self.jobs, "wall_s": round(self.wall_s, 2),
            "messages": {name: {"ftti_ms": _ms(spec.messages[name].ftti_s), "limit_ms": _ms(spec.limit_s(name)),
                                "why": spec.messages[name].why} for name in self.messages},
            "modes": {name: {**self.mode_summary(name), "action": spec.modes[name].action,
                             "params": spec.modes[name].params, "duration_s": spec.modes[name].duration_s,
                             "why": spec.modes[name].why} for name in self.modes},
            "cells": [c.as_dict() for c in self.cells],
            "runs": [{"mode": o.mode, "message": o.message, "seed": o.seed, "at_s": o.at_s,
                      "stop_ms": _ms(o.stop_s), "reason": o.reason, "named": o.named,
                      "resumed_ms": _ms(o.resumed_s), "aligned": o.aligned, "error": o.error}
                     for o in self.outcomes],
            "failures": [f"{c.mode.name} on {c.message}: {c.verdict}" for c in self.failed],
        }

    def json_text(self) -> str:
        """Every figure and every run, as the JSON ``hilbench faults matrix --json`` writes."""
        return json.dumps(self.as_json(), indent=1) + "\n"


# -- the whole matrix ---------------------------------------------------------------------------
def make_recording(settings: MatrixSettings, path: Path, duration_s: float) -> Path:
    """A fault-free recording (candump ``.log``) of the bench with seed 0, for ``replay`` to send again."""
    with Bench(settings.bench_config(0, record=path)) as bench:
        bench.run_for(duration_s)
    return path


def _pool_map(func: Callable[[Any], Outcome], jobs_list: list, jobs: int,
              progress: Callable[[int, int], None] | None) -> list[Outcome]:
    if jobs <= 1 or len(jobs_list) <= 1:
        out = []
        for job in jobs_list:
            out.append(func(job))
            if progress:
                progress(len(out), len(jobs_list))
        return out
    chunk = max(1, min(16, len(jobs_list) // (jobs * 8)))
    out = []
    pool = multiprocessing.Pool(min(jobs, len(jobs_list)), initializer=_worker_init)
    try:
        for outcome in pool.imap(func, jobs_list, chunksize=chunk):
            out.append(outcome)
            if progress:
                progress(len(out), len(jobs_list))
        pool.close()
    except BaseException:
        pool.terminate()   # an error, Ctrl-C: do not sit out the queued runs
        raise
    finally:
        pool.join()
    return out


def _worker_init() -> None:
    """A worker ends quietly when the pool is terminated (the CLI turns SIGTERM into Ctrl-C for itself)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run_matrix(spec: FttiSpec | None = None, *, injections: int = 10, seeds: Sequence[int] = tuple(range(10)),
               modes: Sequence[str] | None = None, messages: Sequence[str] | None = None, jobs: int | None = None,
               settings: MatrixSettings | None = None,
               progress: Callable[[int, int], None] | None = None) -> MatrixReport:
    """Inject every mode into every safety message ``injections`` times and judge the outcomes.

    ``modes`` and ``messages`` narrow the matrix (default: every mode of the file, every safety
    message of the bus); ``jobs`` worker processes (default: every usable CPU).

    Raises:
        ConfigError: a bad FTTI file, an unknown mode or message, a safety message with no FTTI,
            a mode that cannot act on a message, or ``injections`` / ``seeds`` out of range.
    """
    spec = spec or load_ftti()
    settings = settings or MatrixSettings()
    if injections < 1:
        raise ConfigError(None, "--injections", f"must be >= 1, got {injections}")
    seeds = tuple(seeds)
    if not seeds:
        raise ConfigError(None, "--seeds", "no seed given")
    description = load_bus_description(settings.dbc or None, settings.signal_map,
                                       require=("bms", "vcu", "obc", "cu"))
    view = BusView(BenchCodec(description.db, description.signal_map))
    all_messages = safety_messages(description.signal_map)
    chosen_messages = tuple(messages or all_messages)
    for name in chosen_messages:
        if name not in all_messages:
            raise ConfigError(None, "--message", f'"{name}" is not a safety message the compute unit reads; they '
                                                 f"are: {', '.join(all_messages)}")
    chosen_modes = tuple(modes or spec.modes)
    for name in chosen_modes:
        if name not in spec.modes:
            raise ConfigError(spec.path, f"modes.{name}", f"no such mode; declared: {', '.join(spec.modes)}")
    check_matrix(spec, view, chosen_messages, chosen_modes, "")
    jobs = max(1, jobs or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
    start = wall_time_s()
    others = other_messages(view.codec, all_messages)
    needs_recording = any("{recording}" in str(v) for m in chosen_modes for v in spec.modes[m].params.values())
    with tempfile.TemporaryDirectory(prefix="hilbench-matrix-") as folder:
        if needs_recording:
            recording = make_recording(settings, Path(folder) / "fault_free.log", spec.recording_s)
            settings = replace(settings, recording=str(recording))
            check_matrix(spec, view, chosen_messages, chosen_modes, settings.recording)
        runs = plan(spec, chosen_messages, chosen_modes, injections, seeds)
        jobs_list = [(run, spec.modes[run.mode], others[run.message], settings, spec.settle_s) for run in runs]
        outcomes = _pool_map(run_injection, jobs_list, jobs, progress)
    cells = {(m, msg): Cell(spec.modes[m], msg, spec.messages[msg].ftti_s, spec.limit_s(msg))
             for m in chosen_modes for msg in chosen_messages}
    for outcome in outcomes:
        cells[(outcome.mode, outcome.message)].outcomes.append(outcome)
    return MatrixReport(spec, chosen_messages, chosen_modes, seeds, injections, settings, list(cells.values()),
                        jobs, wall_time_s() - start)


# -- text -------------------------------------------------------------------------------------
def _fmt_ms(value_s: float | None) -> str:
    return "-" if value_s is None else f"{value_s * 1000:.0f}"


def format_table(report: MatrixReport) -> str:
    """mode x message: injections that stopped the unit (detected, for a ``stop`` mode), stops whose
    reason on the bus named the faulted message, p50 and p99 handling time, FTTI and its limit, verdict."""
    header = ("mode", "failure mode", "message", "expect", "stopped", "named", "p50 ms", "p99 ms", "FTTI ms",
              "limit", "verdict")
    rows = [header]
    for c in report.cells:
        stopped = f"{len(c.stops)}/{c.injections}"
        if c.resumed:
            stopped += f" ({len(c.resumed)} resumed)"
        named = f"{c.named}/{len(c.stops)}" if c.stops and c.named is not None else "-"
        rows.append((c.mode.name, c.mode.failure_mode, c.message, c.mode.expect, stopped, named, _fmt_ms(c.p50_s),
                     _fmt_ms(c.p99_s), _fmt_ms(c.ftti_s), _fmt_ms(c.limit_s), c.verdict))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    right = {4, 5, 6, 7, 8, 9}
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(str(v).rjust(w) if i in right else str(v).ljust(w)
                               for i, (v, w) in enumerate(zip(row, widths))).rstrip())
        if n == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def format_summary(report: MatrixReport) -> str:
    """Per mode over every message, then the overall line."""
    lines = [f"{'mode':<20} {'expect':<8} {'stopped':>9} {'p50 ms':>7} {'p99 ms':>7}  verdict"]
    for mode in report.modes:
        s = report.mode_summary(mode)
        p50 = "-" if s["p50_ms"] is None else f"{s['p50_ms']:.0f}"
        p99 = "-" if s["p99_ms"] is None else f"{s['p99_ms']:.0f}"
        lines.append(f"{mode:<20} {s['expect']:<8} {str(s['stopped']) + '/' + str(s['injections']):>9} {p50:>7} "
                     f"{p99:>7}  {s['verdict']}" + (f" ({s['cells_failed']} of {len(report.messages)} messages)"
                                                    if s["cells_failed"] else ""))
    failed = report.failed
    lines.append("")
    lines.append(f"{len(report.outcomes)} injections, {len(report.cells) - len(failed)}/{len(report.cells)} cells "
                 f"pass ({report.jobs} jobs, {report.wall_s:.1f} s)"
                 + ("" if not failed else f"; FAIL: {len(failed)} cells"))
    return "\n".join(lines)


__all__ = ["FAILURE_MODES", "FTTI_FILE", "Cell", "FaultMode", "FttiSpec", "Injection", "MatrixReport",
           "MatrixSettings", "MessageFtti", "Outcome", "format_summary", "format_table", "load_ftti",
           "parse_seeds", "plan", "run_injection", "run_matrix", "safety_messages"]
