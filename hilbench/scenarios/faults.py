"""Fault injections: scenario actions that break sensors, frames, nodes, the bus and the weather.

Every fault goes through a seam the bench already has, so no node or DUT
knows it is being tested:

* **sensors** -- ``bench.bms.sensor_faults[role]`` rewrites one BMS
  measurement before the BMS uses it (its limits, fault levels and frames all
  follow the wrong value, as with a real broken sensor);
* **frames** -- ``source.tx_filters`` of an emulated node or of the bundled
  DUT drop, delay or rewrite frames on their way to the bus;
* **nodes and the bus** -- ``source.silent`` stops a sender;
* **the plant** -- the EVSE, the vehicle's ambient and coolant, the pack's cells.

Each fault takes an optional ``duration_s``: 0 (the default) leaves it in
place to the end of the scenario, anything else ends it by itself through
``bench.clock.call_later``.  Randomness (noise, which bits to flip) comes
from generators seeded by the bench seed, so a run repeats bit for bit.

Frame faults name what they act on in the bench's language, not a DBC's:
``node = "bms"`` (every message the node sends), or ``role = "pack_voltage_v"``
(the one message the signal map puts that role in), so a scenario runs
unchanged on any mapped DBC.  ``message = "BMS_PackStatus"`` is still
accepted, as a lab's escape hatch for one message of its own DBC.

Faults are registered with :func:`.actions.action` like every other action,
so the loader checks their names, parameters and types, and
:func:`hilbench.scenarios.check_runnable` checks every step of every
scenario of a run against the bus description before the first one starts
(an unmapped role, a node that is not emulated, a message no emulated node
sends, a message without the protection a fault needs).  A fault called on
a bench directly resolves its target with the same code and raises
:class:`ScenarioError` for the same reasons.
"""

from __future__ import annotations

import abc
import math
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..bench import Bench
from ..bus.e2e import profile2_crc, protect
from ..bus.frames import Frame, frame_with_data
from ..bus.protection import Protection
from ..bus.roles import ROLES
from ..bus.sender import FrameSource
from ..errors import ScenarioError
from .registry import BusView, Problem, action

#: BMS measurements a sensor fault can act on (``bench.bms.sensor_faults`` keys).
SENSOR_ROLES = ("pack_current_a", "pack_voltage_v", "soc_pct", "min_cell_voltage_v", "max_cell_voltage_v",
                "min_cell_temp_c", "max_cell_temp_c")
#: Node names a frame fault accepts, and the signal-map producer behind each.
NODES = {"bms": "bms", "vcu": "vcu", "obc": "obc", "cu": "cu", "dut": "cu"}
WRONG_COUNTER_MODES = ("repeat", "skip")
#: The producers whose messages a frame fault can reach, in the order a message is looked up.
PRODUCERS = ("bms", "vcu", "obc", "cu")

SensorFault = Callable[[float, float], float]


# -- shared plumbing ----------------------------------------------------------------------
def _rng(bench: Bench, *salt: str | int) -> np.random.Generator:
    """A generator that depends only on the bench seed and what the fault is."""
    key = [int(bench.config.seed), 0xFA17] + [zlib.crc32(s.encode()) if isinstance(s, str) else int(s) for s in salt]
    return np.random.default_rng(key)


def _check_duration(duration_s: float) -> None:
    if duration_s < 0 or not math.isfinite(duration_s):
        raise ScenarioError(f"duration_s must be a finite time >= 0 (0: until the end), got {duration_s}")


def _end_after(bench: Bench, duration_s: float, end: Callable[[], None]) -> None:
    _check_duration(duration_s)
    if duration_s > 0:
        bench.clock.call_later(duration_s, end)


def _source(bench: Bench, producer: str) -> FrameSource:
    if producer == "cu":
        if bench.dut is None:
            raise ScenarioError("the compute unit is not emulated on this bench (a real DUT is on the bus); "
                                "its frames cannot be faulted from here")
        return bench.dut
    node = bench.nodes[producer]
    if not node.enabled:
        raise ScenarioError(f'node "{producer}" is not emulated on this bench (a real ECU sends its frames); '
                            "faults can only act on emulated nodes")
    return node


def _refuse(problems: list[Problem]) -> None:
    """Raise the problems of a step as it fires (the same ones check_runnable reports before the run)."""
    if problems:
        raise ScenarioError("; ".join(f"{key}: {reason}" if key else reason for key, reason in problems))


def frame_targets(view: BusView, node: str, message: str, role: str) -> tuple[str, tuple[str, ...], list[Problem]]:
    """What a frame fault acts on: (producer, message names, problems).

    ``node`` alone: every message the node sends; ``role``: the message the
    signal map binds the role to; ``message``: that message of the DBC.
    ``node`` may come with ``role`` or ``message`` and must then be its sender.
    Problems are (parameter, reason); with any, producer and names are empty.
    """
    sm = view.signal_map
    problems: list[Problem] = []
    producer = ""
    names: list[str] = []
    if node:
        producer = NODES.get(node.lower(), "")
        if not producer:
            problems.append(("node", f'unknown node "{node}"; known: {", ".join(NODES)}'))
    if role and message:
        problems.append(("role", "give role (the bench's name for a value) or message (a DBC message name), "
                                 "not both"))
    elif role:
        spec = ROLES.get(role)
        binding = sm.roles.get(role)
        if spec is None:
            problems.append(("role", f'unknown role "{role}"; known: {", ".join(ROLES)}'))
        elif binding is None:
            problems.append(("role", f'role "{role}" is not mapped by the signal map {sm.path}, so no message '
                                     f"carries it on this bus"))
        else:
            names = [binding.message]
            if producer and producer != spec.producer:
                problems.append(("node", f'role "{role}" comes from {spec.producer}, not from node "{node}"'))
            producer = spec.producer
    elif message:
        if message not in view.codec.by_name:
            problems.append(("message", f'message "{message}" is not in the DBC; no emulated sender of it'))
        else:
            sender = next((p for p in PRODUCERS if message in sm.messages_of(p)), "")
            if not sender:
                known = [m for p in PRODUCERS for m in sm.messages_of(p)]
                problems.append(("message", f'no emulated sender of message "{message}": no role of the signal '
                                            f'map is in it; the bench sends: {", ".join(known)}'))
            elif producer and producer != sender:
                problems.append(("node", f'node "{node}" does not send "{message}"; it sends: '
                                         f'{", ".join(sm.messages_of(producer))}'))
            else:
                producer = sender
                names = [message]
    elif not node:
        problems.append(("", 'a frame fault needs node (bms, vcu, obc, cu), role (e.g. role = "pack_voltage_v": '
                             "the message carrying it) or message (a DBC message name)"))
    elif producer:
        names = list(sm.messages_of(producer))
    if not problems and producer not in view.emulated:
        what = "node" if node else ("role" if role else "message")
        problems.append((what, f'node "{producer}" is not emulated on this bench (a real ECU sends its frames); '
                               "faults can only act on emulated nodes"))
    if problems:
        return "", (), problems
    return producer, tuple(names), []


def _targets(bench: Bench, node: str, message: str, role: str = "") -> tuple[FrameSource, frozenset[str]]:
    """The sender and the message names a frame fault acts on (see :func:`frame_targets`)."""
    producer, names, problems = frame_targets(BusView.of(bench), node, message, role)
    _refuse(problems)
    return _source(bench, producer), frozenset(names)


class _FrameFault(abc.ABC):
    """A transmit filter that acts on selected frames of some messages, at most ``count`` times.

    The pattern picks the frames: every ``every_n``-th frame of each message
    (1: every frame), or -- with ``rate`` -- each frame with probability
    ``rate``, drawn from ``rng`` (seeded by the bench seed and the fault, so a
    run repeats bit for bit).
    """

    def __init__(self, names: frozenset[str], every_n: int, count: int, *, rate: float | None = None,
                 rng: np.random.Generator | None = None) -> None:
        if not names:
            raise ScenarioError("no message to act on: the node sends no message this fault applies to")
        _refuse(_pattern_problems({"every_n": every_n, "count": count, "rate": rate}))
        if rate is not None and rng is None:
            raise ValueError("a rate needs a generator to draw from")
        self.names = names
        self.every_n = every_n
        self.count = count
        self.rate = rate
        self.rng = rng
        self.seen: dict[str, int] = {}
        self.applied = 0

    def selects(self, name: str) -> bool:
        """Whether the pattern picks this frame of ``name`` (counts it; draws for a rate)."""
        if self.rate is not None:
            return bool(self.rng.random() < self.rate)   # type: ignore[union-attr]
        # The first frame after the fault begins, then every every_n-th: a fault starts when it
        # first shows, so its handling time is not padded with frames it left alone.
        seen = self.seen[name] = self.seen.get(name, 0) + 1
        return (seen - 1) % self.every_n == 0

    def __call__(self, name: str, msg: Frame) -> Frame | None:
        if name not in self.names or (self.count and self.applied >= self.count):
            return msg
        if not self.selects(name):
            return msg
        self.applied += 1
        return self.apply(name, msg)

    @abc.abstractmethod
    def apply(self, name: str, msg: Frame) -> Frame | None:
        """What the fault does to one selected frame (None drops it)."""


def pattern_rng(bench: Bench, kind: str, names: frozenset[str], rate: float | None,
                seed: int = 0) -> np.random.Generator | None:
    """The generator a ``rate`` draws from: the bench seed, the fault (its kind, messages, start time)
    and the step's own ``seed``; None without a rate."""
    if rate is None:
        return None
    return _rng(bench, kind, "rate", *sorted(names), int(seed), bench.clock.now_us)


def _install(bench: Bench, source: FrameSource, fault: Callable[[str, Frame], Frame | None],
             duration_s: float, on_end: Callable[[], None] | None = None) -> None:
    _check_duration(duration_s)
    source.tx_filters.append(fault)

    def end() -> None:
        if fault in source.tx_filters:
            source.tx_filters.remove(fault)
        if on_end is not None:
            on_end()

    _end_after(bench, duration_s, end)


# -- checks before the run (see hilbench.scenarios.check_runnable) ---------------------------------
def _duration_problems(params: Mapping[str, Any], key: str = "duration_s", *, positive: bool = False) -> list[Problem]:
    value = params.get(key)
    if value is None:
        return []
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        return [(key, f"must be a finite time {'> 0' if positive else '>= 0 (0: until the end)'}, got {value}")]
    return []


def _has_checksum(view: BusView, name: str) -> bool:
    protection = view.codec.message(name).protection
    return protection is not None and protection.has_checksum


def _has_counter(view: BusView, name: str) -> bool:
    protection = view.codec.message(name).protection
    return protection is not None and protection.has_counter


def _pattern_problems(params: Mapping[str, Any]) -> list[Problem]:
    """``every_n``, ``count`` and ``rate``: which frames a frame fault picks, and how many at most."""
    problems: list[Problem] = []
    every_n = params.get("every_n", 1)
    if every_n < 1:
        problems.append(("every_n", f"must be >= 1, got {every_n}"))
    if params.get("count", 0) < 0:
        problems.append(("count", f"must be >= 0 (0: no limit), got {params['count']}"))
    rate = params.get("rate")
    if rate is not None:
        if not 0 < rate <= 1:
            problems.append(("rate", f"must be a share of frames in (0, 1] (0.25: one frame in four on "
                                     f"average), got {rate}"))
        elif every_n != 1:
            problems.append(("rate", "give every_n (every k-th frame) or rate (a random share of frames), "
                                     "not both"))
    return problems


Extra = Callable[[Mapping[str, Any], BusView, tuple[str, ...]], list[Problem]]


def _frame_validator(needs: str = "", extra: Extra | None = None) -> Callable[[Mapping[str, Any], BusView],
                                                                               list[Problem]]:
    """A validator for a frame fault: duration, pattern and target, ``needs`` "checksum" or "counter"
    (the protection the fault rewrites), and ``extra(params, view, message names)`` for the rest."""
    def validate(params: Mapping[str, Any], view: BusView) -> list[Problem]:
        problems = _duration_problems(params) + _pattern_problems(params)
        _, names, target_problems = frame_targets(view, params.get("node", ""), params.get("message", ""),
                                                  params.get("role", ""))
        problems.extend(target_problems)
        if needs and names:
            has = _has_checksum if needs == "checksum" else _has_counter
            what = "checksum" if needs == "checksum" else "alive counter"
            if params.get("node") and not (params.get("role") or params.get("message")):
                if not any(has(view, name) for name in names):
                    problems.append(("node", f'node "{params["node"]}" sends no message with {what}'))
            else:
                key = "role" if params.get("role") else "message"
                problems.extend((key, f'message "{name}" carries no {what}; the fault needs a protected message')
                                for name in names if not has(view, name))
        if extra is not None:
            problems.extend(extra(params, view, names))
        return problems

    return validate


def _node_validator(params: Mapping[str, Any], view: BusView) -> list[Problem]:
    problems = _duration_problems(params)
    producer = NODES.get(str(params.get("node", "")).lower())
    if producer is None:
        problems.append(("node", f'unknown node "{params.get("node")}"; known: {", ".join(NODES)}'))
    elif producer not in view.emulated:
        problems.append(("node", f'node "{producer}" is not emulated on this bench (a real ECU sends its frames); '
                                 "faults can only act on emulated nodes"))
    return problems


def _sensor_validator(params: Mapping[str, Any], view: BusView) -> list[Problem]:
    problems = _duration_problems(params)
    role = params.get("role", "")
    if role not in SENSOR_ROLES:
        problems.append(("role", f'no BMS sensor "{role}"; sensor faults act on: {", ".join(SENSOR_ROLES)}'))
    elif not view.is_mapped(role):
        problems.append(("role", f'role "{role}" is not mapped by the signal map {view.signal_map.path}: a fault '
                                 "on its sensor would not be seen on the bus as that role"))
    if "bms" not in view.emulated:
        problems.append(("", "the BMS is not emulated on this bench; its sensors cannot be faulted from here"))
    if params.get("sigma", 0.0) < 0:
        problems.append(("sigma", f"must be >= 0, got {params['sigma']}"))
    return problems


def _plain_validator(*positive: str) -> Callable[[Mapping[str, Any], BusView], list[Problem]]:
    """duration_s >= 0, and each of ``positive`` > 0."""
    def validate(params: Mapping[str, Any], view: BusView) -> list[Problem]:
        problems = _duration_problems(params, positive="duration_s" in positive)
        for key in positive:
            if key != "duration_s":
                problems.extend(_duration_problems(params, key, positive=True))
        return problems

    return validate


def _heat_wave_validator(params: Mapping[str, Any], view: BusView) -> list[Problem]:
    problems = _duration_problems(params) + _duration_problems(params, "ramp_s")
    problems += _duration_problems(params, "step_s", positive=True)
    if params.get("coolant_c") is not None and not view.is_mapped("coolant_temp_c"):
        problems.append(("coolant_c", f'the coolant reaches the bus through role "coolant_temp_c", which the '
                                      f"signal map {view.signal_map.path} does not map"))
    return problems


# -- sensor faults on the emulated BMS -------------------------------------------------------
def _sensor(bench: Bench, role: str, fault: SensorFault, duration_s: float) -> None:
    """Install ``fault`` on one BMS sensor; several faults on one sensor act in the order they started."""
    _refuse(_sensor_validator({"role": role, "duration_s": duration_s}, BusView.of(bench)))
    end = bench.bms.add_sensor_fault(role, fault)
    _end_after(bench, duration_s, end)


@action(validate=_sensor_validator)
def sensor_stuck(bench: Bench, role: str, value: float | None = None, duration_s: float = 0.0) -> None:
    """A BMS sensor freezes: at ``value`` if given, else at its reading when the fault starts."""
    held: list[float] = [] if value is None else [float(value)]

    def stuck(reading: float, now_s: float) -> float:
        if not held:
            held.append(reading)
        return held[0]

    _sensor(bench, role, stuck, duration_s)


@action(validate=_sensor_validator)
def sensor_offset(bench: Bench, role: str, offset: float, duration_s: float = 0.0) -> None:
    """A BMS sensor reads ``offset`` (in the role's unit) too high (negative: too low)."""
    _sensor(bench, role, lambda reading, now_s: reading + offset, duration_s)


@action(validate=_sensor_validator)
def sensor_drift(bench: Bench, role: str, rate_per_s: float, duration_s: float = 0.0) -> None:
    """A BMS sensor drifts away from the truth by ``rate_per_s`` (role unit per second) from now on."""
    start_s = bench.clock.now
    _sensor(bench, role, lambda reading, now_s: reading + rate_per_s * (now_s - start_s), duration_s)


@action(validate=_sensor_validator)
def sensor_noise(bench: Bench, role: str, sigma: float, duration_s: float = 0.0) -> None:
    """Gaussian noise of ``sigma`` (role unit, 1 sigma) on a BMS sensor; seeded by the bench seed."""
    if sigma < 0:
        raise ScenarioError(f"sigma must be >= 0, got {sigma}")
    rng = _rng(bench, "noise", role, bench.clock.now_us)
    _sensor(bench, role, lambda reading, now_s: reading + sigma * float(rng.standard_normal()), duration_s)


# -- frame faults -------------------------------------------------------------------------------
# Every frame fault takes the same pattern parameters: ``every_n`` (every k-th frame), or ``rate``
# (each frame with that probability) with ``seed`` (drawn from a generator seeded by the bench
# seed, the fault and this seed), ``count`` (at most that many frames) and ``duration_s``.
class _Drop(_FrameFault):
    """Each selected frame starts a loss of ``frames`` consecutive frames of its message."""

    def __init__(self, names: frozenset[str], every_n: int, count: int, frames: int = 1, **pattern: Any) -> None:
        super().__init__(names, every_n, count, **pattern)
        if frames < 1:
            raise ScenarioError(f"frames must be >= 1, got {frames}")
        self.frames = frames
        self.left: dict[str, int] = {}

    def __call__(self, name: str, msg: Frame) -> Frame | None:
        left = self.left.get(name)
        if left:
            self.left[name] = left - 1
            return None
        return super().__call__(name, msg)

    def apply(self, name: str, msg: Frame) -> None:
        if self.frames > 1:
            self.left[name] = self.frames - 1
        return None


def _drop_problems(params: Mapping[str, Any], view: BusView, names: tuple[str, ...]) -> list[Problem]:
    frames = params.get("frames", 1)
    return [("frames", f"must be >= 1 (consecutive frames lost each time), got {frames}")] if frames < 1 else []


@action(validate=_frame_validator(extra=_drop_problems))
def drop(bench: Bench, node: str = "", role: str = "", message: str = "", every_n: int = 1, count: int = 0,
         duration_s: float = 0.0, frames: int = 1, rate: float | None = None, seed: int = 0) -> None:
    """Lose frames: every frame (``every_n`` = 1) or every n-th of a role's message (or of all a node's messages).

    ``frames`` = N loses N consecutive frames of the message each time the
    pattern picks one (``count = 1, frames = 5``: one loss of five frames in a row).
    """
    source, names = _targets(bench, node, message, role)
    _install(bench, source, _Drop(names, every_n, count, frames, rate=rate,
                                  rng=pattern_rng(bench, "drop", names, rate, seed)), duration_s)


#: Where ``corrupt`` flips bits: the payload (values), the checksum or the counter field, anywhere.
CORRUPT_FIELDS = ("payload", "checksum", "counter", "any")


def field_runs(codec_msg: Any, field: str, length: int | None = None) -> list[list[int]]:
    """The bits ``corrupt`` may hit in ``field`` of a frame of ``codec_msg``, as runs of bits adjacent on the
    wire (byte 0 first, most significant bit first), each bit in DBC numbering (bit i of byte i // 8)."""
    length = codec_msg.length if length is None else length
    protection = codec_msg.protection
    every = set(range(length * 8))
    checksum = set(protection.checksum_field.bits) if protection is not None and protection.checksum_field else set()
    counter = set(protection.counter_field.bits) if protection is not None and protection.counter_field else set()
    allowed = {"checksum": checksum, "counter": counter, "payload": every - checksum - counter, "any": every}[field]
    runs: list[list[int]] = [[]]
    for byte in range(length):
        for position in range(7, -1, -1):
            bit = byte * 8 + position
            if bit in allowed:
                runs[-1].append(bit)
            elif runs[-1]:
                runs.append([])
    return [run for run in runs if run]


class _Corrupt(_FrameFault):
    def __init__(self, bench: Bench, names: frozenset[str], bits: int, every_n: int, count: int, *,
                 burst: int = 0, field: str = "payload", seed: int = 0, **pattern: Any) -> None:
        super().__init__(names, every_n, count, **pattern)
        if bits < 1:
            raise ScenarioError(f"bits must be >= 1, got {bits}")
        if burst < 0:
            raise ScenarioError(f"burst must be >= 1 (0: scattered bits), got {burst}")
        if field not in CORRUPT_FIELDS:
            raise ScenarioError(f'field must be one of {", ".join(CORRUPT_FIELDS)}, got "{field}"')
        self.bench = bench
        self.bits = bits
        self.burst = burst
        self.field = field
        # Which bits flip is drawn from a generator of its own: the pattern's (a ``rate``) stays the
        # base class's, so the frames a rate hits do not depend on how many bits each hit flips.
        self.bit_rng = _rng(bench, "corrupt", *sorted(names), bench.clock.now_us, *((seed,) if seed else ()))
        for name in names:
            if field in ("checksum", "counter"):
                protection = _protection(bench, name)
                if protection is None or (protection.checksum_field if field == "checksum"
                                          else protection.counter_field) is None:
                    raise ScenarioError(f'message "{name}" has no {field} field to corrupt')
            if burst and max(map(len, field_runs(bench.codec.message(name), field)), default=0) < burst:
                raise ScenarioError(f'a burst of {burst} bits does not fit in the {field} of message "{name}"')

    def apply(self, name: str, msg: Frame) -> Frame:
        data = bytearray(msg.data)
        codec = self.bench.codec.message(name)
        base = codec.e2e_base
        if base is not None and self.field == "payload" and not self.burst:
            # the bench's own AUTOSAR profile 2: CRC byte 0, counter in byte 1
            first = 2 if len(data) > 2 else 0   # leave CRC and counter, hit the payload
            positions = self.bit_rng.choice(np.arange(first * 8, len(data) * 8),
                                        size=min(self.bits, (len(data) - first) * 8), replace=False)
            for bit in positions.tolist():
                data[bit // 8] ^= 1 << (bit % 8)
            if profile2_crc(data, base) == data[0]:
                data[0] ^= 0x01    # (never for 1-3 flipped bits, but the promise is that the CRC fails)
            return frame_with_data(msg, data)
        runs = field_runs(codec, self.field, len(data))
        if self.burst:
            hit = self._burst(runs)
        else:
            candidates = np.array([bit for run in runs for bit in run], dtype=np.int64)
            hit = self.bit_rng.choice(candidates, size=min(self.bits, len(candidates)), replace=False).tolist()
        for bit in hit:
            data[bit // 8] ^= 1 << (bit % 8)
        protection = codec.protection
        if protection is not None and protection.has_checksum and protection.checksum_ok(data):
            protection.corrupt_checksum(data)     # a checksum that still fits: the promise is that it fails
        return frame_with_data(msg, data)

    def _burst(self, runs: list[list[int]]) -> list[int]:
        """A burst error of ``burst`` bits adjacent on the wire: its first and last bit flipped, each bit in
        between flipped or not at random."""
        starts = [(run, i) for run in runs for i in range(len(run) - self.burst + 1)]
        run, first = starts[int(self.bit_rng.integers(len(starts)))]
        span = run[first:first + self.burst]
        inner = self.bit_rng.random(max(0, self.burst - 2)) < 0.5
        return [span[0], *(bit for bit, flip in zip(span[1:-1], inner) if flip), *span[1:][-1:]]


def _corrupt_problems(params: Mapping[str, Any], view: BusView, names: tuple[str, ...]) -> list[Problem]:
    problems: list[Problem] = []
    if params.get("bits", 1) < 1:
        problems.append(("bits", f"must be >= 1, got {params['bits']}"))
    burst = params.get("burst", 0)
    if burst < 0:
        problems.append(("burst", f"must be >= 1 (consecutive bits), got {burst}"))
    elif burst and "bits" in params:
        problems.append(("burst", "give bits (scattered bit flips) or burst (adjacent bits), not both"))
    field = params.get("field", "payload")
    if field not in CORRUPT_FIELDS:
        return problems + [("field", f'must be one of {", ".join(CORRUPT_FIELDS)}, got "{field}"')]
    if field in ("checksum", "counter"):
        key = "role" if params.get("role") else "message" if params.get("message") else "node"
        for name in names:
            protection = view.codec.message(name).protection
            if protection is None or (protection.checksum_field if field == "checksum"
                                      else protection.counter_field) is None:
                problems.append((key, f'message "{name}" has no {field} field to corrupt (field = "{field}")'))
    if burst > 0:
        for name in names:
            longest = max(map(len, field_runs(view.codec.message(name), field)), default=0)
            if 0 < longest < burst:
                problems.append(("burst", f'a burst of {burst} bits does not fit in the {field} of message '
                                          f'"{name}" (at most {longest} adjacent bits)'))
    return problems


def _corrupt_validator(params: Mapping[str, Any], view: BusView) -> list[Problem]:
    """``detectable = true``: the scenario tests that a receiver catches the corruption, so every
    message it corrupts must carry a checksum (a car whose message has none cannot run it)."""
    return _frame_validator("checksum" if params.get("detectable") else "", _corrupt_problems)(params, view)


@action(validate=_corrupt_validator)
def corrupt(bench: Bench, node: str = "", role: str = "", message: str = "", bits: int = 1, every_n: int = 1,
            count: int = 0, duration_s: float = 0.0, detectable: bool = False, burst: int = 0,
            field: str = "payload", rate: float | None = None, seed: int = 0) -> None:
    """Flip ``bits`` payload bits of frames, leaving the checksum as sent so the receiver's check fails.

    The counter and checksum themselves are left alone, whatever the
    message's scheme (AUTOSAR E2E, or the car's own).  Unprotected messages
    are corrupted too, and nothing but plausibility checks can notice --
    unless ``detectable`` says the scenario is about a receiver catching the
    corruption: then a message without a checksum refuses the scenario.

    ``burst`` = N flips a burst of N bits adjacent on the wire instead (first
    and last flipped, those between at random), as one disturbance does.
    ``field`` says where the bits are hit: ``payload`` (the values, the
    default), ``checksum`` (the CRC byte itself), ``counter``, or ``any`` bit
    of the frame.  Whatever is hit, a protected frame's checksum fails.
    """
    source, names = _targets(bench, node, message, role)
    if detectable:
        bare = sorted(n for n in names if (p := _protection(bench, n)) is None or not p.has_checksum)
        if bare:
            raise ScenarioError(f"corrupt with detectable = true: {', '.join(bare)} carries no checksum")
    if field in ("checksum", "counter") and not (message or role):   # a node's unprotected messages are left alone
        names = frozenset(n for n in names if (p := _protection(bench, n)) is not None
                          and (p.checksum_field if field == "checksum" else p.counter_field) is not None)
    fault = _Corrupt(bench, names, bits, every_n, count, burst=burst, field=field, seed=seed, rate=rate,
                     rng=pattern_rng(bench, "corrupt", names, rate, seed))
    _install(bench, source, fault, duration_s)


def _protection(bench: Bench, name: str) -> Protection | None:
    return bench.codec.message(name).protection


class _BadChecksum(_FrameFault):
    def __init__(self, bench: Bench, names: frozenset[str], every_n: int, count: int, **pattern: Any) -> None:
        super().__init__(names, every_n, count, **pattern)
        self.bench = bench
        for name in names:
            protection = _protection(bench, name)
            if protection is None or not protection.has_checksum:
                raise ScenarioError(f'message "{name}" carries no checksum; bad_checksum needs a protected message')

    def apply(self, name: str, msg: Frame) -> Frame:
        data = bytearray(msg.data)
        if self.bench.codec.message(name).e2e_base is not None:
            data[0] ^= 0xA5     # the payload stays right, only the CRC byte is wrong
        else:
            _protection(self.bench, name).corrupt_checksum(data)   # type: ignore[union-attr]
        return frame_with_data(msg, data)


@action(validate=_frame_validator("checksum"))
def bad_checksum(bench: Bench, node: str = "", role: str = "", message: str = "", every_n: int = 1, count: int = 0,
                 duration_s: float = 0.0, rate: float | None = None, seed: int = 0) -> None:
    """Send frames with a wrong checksum (the values and the counter themselves are right)."""
    source, names = _targets(bench, node, message, role)
    if not (message or role):   # a node's unprotected messages (per-cell detail) are left alone
        names = frozenset(n for n in names if (p := _protection(bench, n)) is not None and p.has_checksum)
    _install(bench, source, _BadChecksum(bench, names, every_n, count, rate=rate,
                                         rng=pattern_rng(bench, "bad_checksum", names, rate, seed)), duration_s)


class _WrongCounter(_FrameFault):
    """``repeat``: every faulted frame repeats the counter of the frame before the fault; ``skip``:
    the counter jumps by 2 from frame to frame.  The checksum is recomputed, so only the counter is wrong."""

    def __init__(self, bench: Bench, names: frozenset[str], mode: str, every_n: int, count: int,
                 **pattern: Any) -> None:
        super().__init__(names, every_n, count, **pattern)
        if mode not in WRONG_COUNTER_MODES:
            raise ScenarioError(f'wrong_counter mode must be one of {", ".join(WRONG_COUNTER_MODES)}, got "{mode}"')
        self.mode = mode
        self.bases: dict[str, int | None] = {}
        self.protections: dict[str, Protection] = {}
        for name in names:
            protection = _protection(bench, name)
            if protection is None or not protection.has_counter:
                raise ScenarioError(f'message "{name}" has no alive counter; wrong_counter needs a protected message')
            self.bases[name] = bench.codec.message(name).e2e_base
            self.protections[name] = protection
        self.last: dict[str, int] = {}

    def apply(self, name: str, msg: Frame) -> Frame:
        data = bytearray(msg.data)
        base = self.bases[name]
        protection = self.protections[name]
        modulus = 16 if base is not None else protection.counter_modulus
        original = data[1] & 0x0F if base is not None else protection.counter(data)
        last = self.last.get(name)
        if self.mode == "repeat":
            counter = (original - 1) % modulus if last is None else last
        else:
            counter = (original + 1) % modulus if last is None else (last + 2) % modulus
        self.last[name] = counter
        if base is not None:
            return frame_with_data(msg, protect(data, base, counter))
        return frame_with_data(msg, protection.protect(data, counter))


def _mode_problems(params: Mapping[str, Any], view: BusView, names: tuple[str, ...]) -> list[Problem]:
    mode = params.get("mode", WRONG_COUNTER_MODES[0])
    return [] if mode in WRONG_COUNTER_MODES else [("mode", f'must be one of {", ".join(WRONG_COUNTER_MODES)}, '
                                                            f'got "{mode}"')]


@action(validate=_frame_validator("counter", _mode_problems))
def wrong_counter(bench: Bench, mode: str = "repeat", node: str = "", role: str = "", message: str = "",
                  every_n: int = 1, count: int = 0, duration_s: float = 0.0, rate: float | None = None,
                  seed: int = 0) -> None:
    """Send frames with a valid checksum but a repeated (``repeat``) or skipping (``skip``) alive counter."""
    source, names = _targets(bench, node, message, role)
    if not (message or role):
        names = frozenset(n for n in names if (p := _protection(bench, n)) is not None and p.has_counter)
    _install(bench, source, _WrongCounter(bench, names, mode, every_n, count, rate=rate,
                                          rng=pattern_rng(bench, "wrong_counter", names, rate, seed)), duration_s)


class _Delay(_FrameFault):
    def __init__(self, bench: Bench, source: FrameSource, names: frozenset[str], delay_s: float,
                 every_n: int = 1, count: int = 0, **pattern: Any) -> None:
        super().__init__(names, every_n, count, **pattern)
        self.bench = bench
        self.source = source
        self.delay_s = delay_s
        self.pending: set = set()

    def apply(self, name: str, msg: Frame) -> None:
        def release() -> None:
            self.pending.discard(task)
            if self.source.port.send(msg):
                self.source.frames_sent += 1

        task = self.bench.clock.call_later(self.delay_s, release)
        self.pending.add(task)

    def flush(self) -> None:
        """At the end of the fault, frames still held are lost (newer ones are already on their way)."""
        for task in self.pending:
            task.cancel()
        self.pending.clear()


def _delay_problems(params: Mapping[str, Any], view: BusView, names: tuple[str, ...]) -> list[Problem]:
    if "delay_s" in params and not params["delay_s"] > 0:
        return [("delay_s", f"must be > 0, got {params['delay_s']}")]
    return []


@action(validate=_frame_validator(extra=_delay_problems))
def delay(bench: Bench, delay_s: float, node: str = "", role: str = "", message: str = "",
          duration_s: float = 0.0, every_n: int = 1, count: int = 0, rate: float | None = None,
          seed: int = 0) -> None:
    """Hold frames back by ``delay_s`` before they reach the bus (a congested gateway).

    The sender counts a held frame as dropped and as sent when it is released.
    When the fault ends, frames still held are discarded rather than sent
    after newer ones.  With a pattern (``every_n``, ``rate``, ``count``) only
    the frames it picks are held: a late frame then arrives after newer ones.
    """
    if delay_s <= 0:
        raise ScenarioError(f"delay_s must be > 0, got {delay_s}")
    source, names = _targets(bench, node, message, role)
    fault = _Delay(bench, source, names, delay_s, every_n, count, rate=rate,
                   rng=pattern_rng(bench, "delay", names, rate, seed))
    _install(bench, source, fault, duration_s, on_end=fault.flush)


# -- nodes and the bus ------------------------------------------------------------------------
@action(validate=_node_validator)
def node_silent(bench: Bench, node: str, duration_s: float = 0.0) -> None:
    """A node stops sending (lost power, crashed, unplugged connector); it keeps running inside."""
    _refuse(_node_validator({"node": node, "duration_s": duration_s}, BusView.of(bench)))
    source = _source(bench, NODES[node.lower()])
    source.silent = True

    def end() -> None:
        source.silent = False

    _end_after(bench, duration_s, end)


@action(validate=_plain_validator("duration_s"))
def bus_off(bench: Bench, duration_s: float = 1.0) -> None:
    """Nobody sends for ``duration_s`` (every emulated node and the DUT, as after a bus-off), then recovery.

    The default 1 s is a SocketCAN ``restart-ms`` of up to 1000 ms (DOMAIN.md).
    """
    if duration_s <= 0:
        raise ScenarioError(f"a bus-off needs duration_s > 0 (the time until recovery), got {duration_s}")
    sources: list[FrameSource] = [node for node in bench.nodes.values() if node.enabled]
    if bench.dut is not None:
        sources.append(bench.dut)
    before = [source.silent for source in sources]
    for source in sources:
        source.silent = True

    def recover() -> None:
        for source, was_silent in zip(sources, before):
            source.silent = was_silent

    _end_after(bench, duration_s, recover)


# -- charging ----------------------------------------------------------------------------------
@action(roles=("plug_present",), validate=_plain_validator())
def plug_yank(bench: Bench, duration_s: float = 0.0) -> None:
    """The cable is pulled out while charging; with ``duration_s`` someone plugs it back in after that long."""
    _check_duration(duration_s)
    bench.evse.unplug()

    def replug() -> None:
        bench.obc.charge_wanted = True
        bench.evse.plug_in()

    _end_after(bench, duration_s, replug)


# -- climate -----------------------------------------------------------------------------------
def _ramp(bench: Bench, ambient_to: float, coolant_to: float | None, ramp_s: float, step_s: float) -> None:
    """Move ambient (and coolant, unless None) linearly to the targets, one step every ``step_s``."""
    if ramp_s < 0 or step_s <= 0:
        raise ScenarioError(f"ramp_s must be >= 0 and step_s > 0, got {ramp_s} and {step_s}")
    vehicle = bench.vehicle
    ambient_from = vehicle.ambient_c
    coolant_from = vehicle.coolant_c if vehicle.coolant_c is not None else ambient_from
    steps = max(1, math.ceil(ramp_s / step_s))
    done = [0]

    def step() -> None:
        done[0] += 1
        f = min(1.0, done[0] / steps)
        vehicle.set_ambient_c(ambient_from + f * (ambient_to - ambient_from))
        if coolant_to is not None:
            vehicle.set_coolant_c(coolant_from + f * (coolant_to - coolant_from))
        if done[0] >= steps:
            task.cancel()

    if ramp_s == 0:
        done[0] = steps - 1
        task = bench.clock.call_later(0.0, step)
    else:
        task = bench.clock.call_every(step_s, step, offset_s=step_s)


@action(validate=_heat_wave_validator)
def heat_wave(bench: Bench, to_c: float, coolant_c: float | None = None, ramp_s: float = 600.0,
              step_s: float = 5.0, duration_s: float = 0.0) -> None:
    """Ambient (and the coolant) ramp to ``to_c`` over ``ramp_s``, stepping every ``step_s``.

    The coolant goes to ``coolant_c`` if given, else to ``to_c`` as well (if
    the vehicle reports no coolant of its own, it follows ambient anyway).
    With ``duration_s`` the weather turns back, ramping to the old values.
    """
    _check_duration(duration_s)
    vehicle = bench.vehicle
    ambient_from, coolant_from = vehicle.ambient_c, vehicle.coolant_c
    coolant_to = coolant_c if coolant_c is not None else (to_c if coolant_from is not None else None)
    _ramp(bench, to_c, coolant_to, ramp_s, step_s)
    _end_after(bench, duration_s, lambda: _ramp(bench, ambient_from, coolant_from, ramp_s, step_s))


@action(validate=_plain_validator())
def cold_soak(bench: Bench, temp_c: float, duration_s: float = 0.0) -> None:
    """Ambient, every cell and the coolant (if the car reports one) at ``temp_c`` at once.

    A climate-chamber step.  With ``duration_s`` ambient and coolant return to
    their old values afterwards; the cells then warm up as the plant says.
    """
    _check_duration(duration_s)
    vehicle = bench.vehicle
    ambient_from, coolant_from = vehicle.ambient_c, vehicle.coolant_c
    vehicle.set_ambient_c(temp_c)
    if coolant_from is not None:
        vehicle.set_coolant_c(temp_c)
    bench.pack.ambient_c = temp_c
    bench.pack.set_cell_temps_c([temp_c] * bench.pack.series)

    def end() -> None:
        vehicle.set_ambient_c(ambient_from)
        vehicle.set_coolant_c(coolant_from)

    _end_after(bench, duration_s, end)


__all__ = ["NODES", "SENSOR_ROLES", "WRONG_COUNTER_MODES", "bad_checksum", "bus_off", "cold_soak", "corrupt",
           "delay", "drop", "heat_wave", "node_silent", "plug_yank", "sensor_drift", "sensor_noise",
           "sensor_offset", "sensor_stuck", "wrong_counter"]
