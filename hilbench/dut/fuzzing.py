"""Frame fuzzing at the compute unit: seeded hostile frames, and the invariants every tick must keep.

Three parts, each usable alone (a test, a benchmark or a CLI command puts them together):

* :class:`FrameFuzzer` makes frames from one seed (numpy's ``Generator``, so a
  million frames cost little and the same seed gives the same frames against
  the same traffic): every 11-bit ID in a seeded order, DLC 0-8 and CAN FD
  lengths, remote, error and extended frames; real frames of the bench taken
  off the bus and mutated (a brute-force walk over the counter and checksum
  bits of each protected input message, frames re-protected with a chosen
  counter and changed data as a sender that knows the scheme would, bit flips,
  truncated and padded payloads, one message's payload under another's ID,
  a stream's next frame early or late within half a cycle); and replays of
  earlier frames, single or as a burst at their old spacing.
* :class:`InvariantWatch` wraps the unit's tick and, after every tick, reads
  the E2E receivers from outside the decision: permission to compute implies
  every input message the unit watches is usable -- its receiver VALID with
  data no older than its timeout, or for an unprotected message a decodable
  frame no older than ``stale_after_s`` (timed by a probe of its own on the
  unit's port, not by the unit's bookkeeping).  A broken rule in the unit
  shows as a :class:`Violation`, whatever the unit believed.
* :class:`FuzzSession` injects a fuzzer's frames through a bus port of its
  own on a clock, in storms (a few seconds at hundreds of frames per second)
  and calms (a frame or less per second, so the receivers' error tallies
  drain, the unit resumes and single faults land on a unit that computes), until a frame budget is spent; optionally it
  silences real senders now and then (a node, or one message alone).

An exception anywhere in the loop (the unit, a node, the monitor, the
recorder) leaves :meth:`FuzzSession.run` with a note naming the seed, the
frame count and the last frames injected, so the run can be repeated.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ..bus.codec import BenchCodec, MessageCodec
from ..bus.e2e import E2EStatus
from ..bus.frames import Frame, FrameFilter
from ..bus.port import BusPort
from ..bus.protection import Protection
from ..clock import Clock, wall_time_s
from .emulator import ComputeEmulator

if TYPE_CHECKING:
    from ..bus.e2e_sm import E2EStateMachine
    from .compute.supervisor import Decision
    from .compute.unit import TickResult

#: What a frame may be made as, with the share of frames each gets by default.
DEFAULT_WEIGHTS: dict[str, float] = {
    "any_id": 0.22,        # every 11-bit ID in turn, any length, remote, error and extended frames
    "input_random": 0.08,  # random payloads of any length under an input message's ID
    "counter_crc": 0.20,   # a real frame with its counter and checksum bits set by a brute-force walk
    "forged": 0.11,        # a real frame re-protected with a chosen counter, its data changed or not
    "jitter": 0.05,        # the next frame of a real stream (next counter, right checksum), early or late
    "masquerade": 0.05,    # one protected message's real frame under another's ID
    "bitflip": 0.10,       # a real frame with one to three bits flipped
    "replay": 0.14,        # an earlier real frame sent again, or a burst of them at their old spacing
    "length": 0.05,        # a real frame cut short or padded (to CAN FD lengths too)
}
STRATEGIES: tuple[str, ...] = tuple(DEFAULT_WEIGHTS)
#: CAN FD payload lengths above 8 bytes.
FD_LENGTHS: tuple[int, ...] = (12, 16, 20, 24, 32, 48, 64)
_ALL_LENGTHS: tuple[int, ...] = (*range(9), *FD_LENGTHS)
#: Counter and checksum fields together up to this many bits are walked exhaustively (in a seeded
#: order); wider ones (profile 5: 24 bits) are sampled.
MAX_WALK_BITS = 16
#: The most earlier frames a replay re-sends as one burst.
MAX_BURST = 8
_VALID = E2EStatus.VALID
_PRODUCERS = ("bms", "vcu", "obc")

Injection = tuple[float, Frame]   # (delay after the injection instant in seconds, frame)
Mute = Callable[[bool], None]            # switches an outage of a real sender on (True) and off


@dataclass
class _Target:
    """A message of the bench a fuzzer aims at, and what it has seen of it."""

    codec: MessageCodec
    protection: Protection | None
    recent: deque[tuple[float, bytes, bool]]          # (time, payload, is_fd) of the last real frames
    old: deque[tuple[float, bytes, bool]]             # one real frame per second, for replays of old data
    walk: np.ndarray | None = None                    # brute-force order over counter x checksum values
    walk_pos: int = 0
    walk_laps: int = 0
    walk_bits: int = 0

    @property
    def protected(self) -> bool:
        p = self.protection
        return p is not None and (p.has_counter or p.has_checksum)


class FrameFuzzer:
    """Seeded hostile frames for the inputs of a compute unit (see the module docstring).

    ``codec`` is the bench's: its signal map names the input messages (those of
    the BMS, VCU and OBC) and their protection.  Feed it the real frames seen
    on the bus with :meth:`observe`; :meth:`next_injection` returns the next
    frame or burst.  ``weights`` replaces shares of :data:`DEFAULT_WEIGHTS`
    (a strategy given 0 is never drawn).

    Raises:
        ValueError: an unknown strategy, or weights that add up to nothing.
    """

    def __init__(self, codec: BenchCodec, seed: int | np.random.SeedSequence = 0, *,
                 weights: dict[str, float] | None = None, recent_frames: int = 32, old_s: float = 600.0) -> None:
        unknown = set(weights or {}) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"unknown fuzz strategy(ies) {sorted(unknown)}; known: {', '.join(STRATEGIES)}")
        shares = {**DEFAULT_WEIGHTS, **(weights or {})}
        total = sum(max(0.0, w) for w in shares.values())
        if not total > 0:
            raise ValueError(f"fuzz weights add up to nothing: {shares}")
        self._names = tuple(name for name in STRATEGIES if shares[name] > 0)
        self._cumulative = np.cumsum([shares[name] / total for name in self._names])
        self._rng = np.random.default_rng(seed)
        self.codec = codec
        self._targets: dict[tuple[int, bool], _Target] = {}
        for producer in _PRODUCERS:
            for name in codec.signal_map.messages_of(producer):
                msg_codec = codec.message(name)
                target = _Target(msg_codec, msg_codec.protection, deque(maxlen=recent_frames),
                                 deque(maxlen=max(1, int(old_s))))
                if target.protected:
                    self._setup_walk(target)
                self._targets[(msg_codec.frame_id, msg_codec.is_extended_id)] = target
        self._inputs = tuple(self._targets.values())
        self._protected = tuple(t for t in self._inputs if t.protected)
        self._id_order = self._rng.permutation(0x800)
        self._id_pos = 0
        #: Frames made so far, by strategy.
        self.made: Counter[str] = Counter()
        #: Every 11-bit ID the ``any_id`` walk has sent (it covers all 2048 each 2048 frames).
        self.ids_covered: set[int] = set()
        #: Frame lengths sent, classic and FD.
        self.lengths_covered: set[int] = set()

    def _setup_walk(self, target: _Target) -> None:
        p = target.protection
        assert p is not None
        bits = (p.counter_field.width if p.counter_field else 0) + (p.checksum_field.width if p.checksum_field else 0)
        target.walk_bits = bits
        if bits <= MAX_WALK_BITS:
            target.walk = self._rng.permutation(1 << bits)

    # -- what the bus carries ---------------------------------------------------------------------
    @property
    def can_filters(self) -> list[FrameFilter]:
        """python-can acceptance filters for the frames :meth:`observe` keeps (the input messages)."""
        return [{"can_id": frame_id, "can_mask": 0x1FFFFFFF if extended else 0x7FF, "extended": extended}
                for frame_id, extended in self._targets]

    def observe(self, msg: Frame, now_s: float) -> None:
        """Remember a real frame seen on the bus (replays and mutations start from these)."""
        target = self._targets.get((msg.arbitration_id, bool(msg.is_extended_id)))
        if target is None or msg.is_remote_frame or msg.is_error_frame:
            return
        entry = (now_s, bytes(msg.data), bool(msg.is_fd))
        target.recent.append(entry)
        old = target.old
        if not old or now_s - old[-1][0] >= 1.0:
            old.append(entry)

    # -- what it sends ------------------------------------------------------------------------------
    def next_injection(self, now_s: float) -> tuple[str, list[Injection]]:
        """The next frame (or burst) to inject at ``now_s``, and the strategy that made it
        (drawn by the weights)."""
        index = int(np.searchsorted(self._cumulative, self._rng.random(), side="right"))
        return self.make(self._names[min(index, len(self._names) - 1)], now_s)

    def make(self, strategy: str, now_s: float) -> tuple[str, list[Injection]]:
        """A frame (or burst) made by ``strategy``, and the strategy that made it: ``any_id``
        when the strategy mutates real frames and none has been seen yet.

        Raises:
            ValueError: an unknown strategy.
        """
        if strategy not in DEFAULT_WEIGHTS:
            raise ValueError(f"unknown fuzz strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
        made = getattr(self, f"_make_{strategy}")(now_s)
        if not made:
            strategy, made = "any_id", self._make_any_id(now_s)
        self.made[strategy] += len(made)
        for _delay, msg in made:
            self.lengths_covered.add(msg.dlc if msg.is_remote_frame else len(msg.data))
        return strategy, made

    def walk_coverage(self) -> dict[str, float]:
        """How much of each protected message's counter x checksum space the brute-force walk has
        covered (1.0: every combination sent at least once; sampled spaces: frames sent / size)."""
        out = {}
        for target in self._protected:
            size = 1 << target.walk_bits
            done = target.walk_laps * size + target.walk_pos
            out[target.codec.name] = min(1.0, done / size) if target.walk is not None else done / size
        return out

    def _frame(self, frame_id: int, data: bytes | bytearray, *, extended: bool = False, fd: bool | None = None,
               brs: bool = False) -> Frame:
        fd = len(data) > 8 if fd is None else (fd or len(data) > 8)
        return Frame(arbitration_id=frame_id, is_extended_id=extended, data=bytes(data), is_fd=fd,
                           bitrate_switch=brs and fd, check=True)

    def _random_payload(self, length: int) -> bytes:
        return self._rng.integers(0, 256, size=length, dtype=np.uint8).tobytes()

    def _pick(self, targets: Sequence[_Target], *, seen: bool = True) -> _Target | None:
        pool = [t for t in targets if t.recent] if seen else list(targets)
        if not pool:
            return None
        return pool[int(self._rng.integers(len(pool)))]

    def _make_any_id(self, now_s: float) -> list[Injection]:
        rng = self._rng
        roll = rng.random()
        if roll < 0.02:    # an error frame
            return [(0.0, Frame(is_error_frame=True, arbitration_id=0, is_extended_id=False, check=True))]
        if roll < 0.07:    # an extended ID: random, or one of the inputs' IDs in the 29-bit space
            if rng.random() < 0.5 and self._inputs:
                ext_id = self._inputs[int(rng.integers(len(self._inputs)))].codec.frame_id
            else:
                ext_id = int(rng.integers(0, 1 << 29))
            length = int(rng.choice(_ALL_LENGTHS))
            return [(0.0, self._frame(ext_id, self._random_payload(length), extended=True))]
        # The 11-bit IDs in a seeded order: each one once in every 2048 of these frames.
        frame_id = int(self._id_order[self._id_pos])
        self._id_pos = (self._id_pos + 1) % len(self._id_order)
        self.ids_covered.add(frame_id)
        if roll < 0.12:    # a remote frame: a DLC and no data
            return [(0.0, Frame(arbitration_id=frame_id, is_extended_id=False, is_remote_frame=True,
                                      dlc=int(rng.integers(0, 9)), check=True))]
        if rng.random() < 0.3:
            length = int(rng.choice(_ALL_LENGTHS))
            return [(0.0, self._frame(frame_id, self._random_payload(length), fd=True, brs=bool(rng.random() < 0.5)))]
        length = int(rng.integers(0, 9))
        return [(0.0, self._frame(frame_id, self._random_payload(length), fd=False))]

    def _make_input_random(self, now_s: float) -> list[Injection]:
        target = self._pick(self._inputs, seen=False)
        assert target is not None
        rng = self._rng
        length = target.codec.length if rng.random() < 0.6 else int(rng.choice(_ALL_LENGTHS))
        return [(0.0, self._frame(target.codec.frame_id, self._random_payload(length),
                                  extended=target.codec.is_extended_id, fd=target.codec.is_fd or None))]

    def _latest(self, target: _Target) -> tuple[bytearray, bool]:
        _t, data, fd = target.recent[-1]
        return bytearray(data), fd

    def _make_counter_crc(self, now_s: float) -> list[Injection]:
        target = self._pick(self._protected)
        if target is None:
            return []
        p = target.protection
        assert p is not None
        payload, fd = self._latest(target)
        if target.walk is not None:
            value = int(target.walk[target.walk_pos])
            target.walk_pos += 1
            if target.walk_pos == len(target.walk):
                target.walk_pos = 0
                target.walk_laps += 1
        else:
            value = int(self._rng.integers(0, 1 << target.walk_bits))
            target.walk_pos += 1
        fields = [f for f in (p.checksum_field, p.counter_field) if f is not None]
        for f in fields:
            if len(payload) * 8 <= max(f.bits):
                return []
        for f in fields:    # checksum in the low bits of the walk's value, the counter above it
            f.set(payload, value & ((1 << f.width) - 1))
            value >>= f.width
        return [(0.0, self._frame(target.codec.frame_id, payload, extended=target.codec.is_extended_id, fd=fd))]

    def _flip_bits(self, payload: bytearray, count: int, keep: Iterable[int] = ()) -> None:
        kept = set(keep)
        bits = [b for b in range(len(payload) * 8) if b not in kept]
        if not bits:
            return
        for index in self._rng.choice(len(bits), size=min(count, len(bits)), replace=False):
            bit = bits[int(index)]
            payload[bit // 8] ^= 1 << (bit % 8)

    def _make_forged(self, now_s: float) -> list[Injection]:
        """A sender that knows the scheme: the checksum is right for whatever it sends."""
        target = self._pick(self._protected)
        if target is None:
            return []
        p = target.protection
        assert p is not None
        rng = self._rng
        payload, fd = self._latest(target)
        if len(payload) * 8 < p.message_bits:
            return []
        if rng.random() < 0.5:   # changed data, counter and checksum left to protect()
            protected_bits = [b for f in (p.counter_field, p.checksum_field) if f is not None for b in f.bits]
            self._flip_bits(payload, int(rng.integers(1, 4)), protected_bits)
        last = p.counter(payload)
        roll = rng.random()
        if roll < 0.4:
            step = 1                      # in sequence: a rogue sender one step ahead of the real one
        elif roll < 0.55:
            step = 0                      # a repeat
        elif roll < 0.7:
            step = -1                     # one step back
        else:
            step = int(rng.integers(2, max(3, p.counter_modulus)))
        p.protect(payload, last + step)
        return [(0.0, self._frame(target.codec.frame_id, payload, extended=target.codec.is_extended_id, fd=fd))]

    def _make_jitter(self, now_s: float) -> list[Injection]:
        """The frame a real sender would send next, at up to half a cycle off its slot."""
        target = self._pick(self._protected)
        if target is None:
            return []
        return self.jittered(target.codec.name, now_s)

    def jittered(self, message: str, now_s: float, *, spread_cycles: float = 0.5) -> list[Injection]:
        """``message``'s next frame (its latest real payload, the next counter, a right checksum)
        sent within ``spread_cycles`` of the slot one cycle after the latest real frame (or of
        ``now_s`` if that slot has passed): a sender or gateway with jitter.  Empty for an
        unprotected message or one not seen yet."""
        target = next((t for t in self._protected if t.codec.name == message and t.recent), None)
        if target is None or not target.codec.cycle_time_s:
            return []
        p = target.protection
        assert p is not None
        last_s, data, fd = target.recent[-1]
        payload = bytearray(data)
        if len(payload) * 8 < p.message_bits:
            return []
        p.protect(payload, p.counter(payload) + 1)
        cycle = target.codec.cycle_time_s
        at = max(last_s + cycle, now_s) + float(self._rng.uniform(-spread_cycles, spread_cycles)) * cycle
        frame = self._frame(target.codec.frame_id, payload, extended=target.codec.is_extended_id, fd=fd)
        return [(max(0.0, at - now_s), frame)]

    def _make_masquerade(self, now_s: float) -> list[Injection]:
        source = self._pick(self._protected)
        if source is None or len(self._inputs) < 2:
            return []
        others = [t for t in self._inputs if t is not source]
        victim = others[int(self._rng.integers(len(others)))]
        payload, fd = self._latest(source)
        return [(0.0, self._frame(victim.codec.frame_id, payload, extended=victim.codec.is_extended_id, fd=fd))]

    def _make_bitflip(self, now_s: float) -> list[Injection]:
        target = self._pick(self._inputs)
        if target is None:
            return []
        payload, fd = self._latest(target)
        if not payload:
            return []
        self._flip_bits(payload, int(self._rng.integers(1, 4)))
        return [(0.0, self._frame(target.codec.frame_id, payload, extended=target.codec.is_extended_id, fd=fd))]

    def _make_replay(self, now_s: float) -> list[Injection]:
        target = self._pick(self._inputs)
        if target is None:
            return []
        rng = self._rng
        frame_id, extended = target.codec.frame_id, target.codec.is_extended_id
        roll = rng.random()
        if roll < 0.1 and len(target.recent) >= 2:
            # A burst: a run of consecutive earlier frames, re-sent at the spacing they had.
            length = int(rng.integers(2, min(len(target.recent), MAX_BURST) + 1))
            start = int(rng.integers(0, len(target.recent) - length + 1))
            run = list(target.recent)[start:start + length]
            t0 = run[0][0]
            return [(t - t0, self._frame(frame_id, data, extended=extended, fd=fd)) for t, data, fd in run]
        pool = target.recent if roll < 0.6 or len(target.old) < 2 else target.old
        _t, data, fd = pool[int(rng.integers(len(pool)))]
        return [(0.0, self._frame(frame_id, data, extended=extended, fd=fd))]

    def _make_length(self, now_s: float) -> list[Injection]:
        target = self._pick(self._inputs)
        if target is None:
            return []
        rng = self._rng
        payload, _fd = self._latest(target)
        if rng.random() < 0.5 and payload:
            # Shorter, at a length a CAN (FD) controller can send: a DLC below 8 or a smaller FD length.
            shorter = [n for n in _ALL_LENGTHS if n < len(payload)]
            payload = payload[:int(rng.choice(shorter))]
        else:
            longer = [n for n in _ALL_LENGTHS if n > len(payload)]
            if not longer:
                return []
            new_length = int(rng.choice(longer))
            extra = new_length - len(payload)
            pad = self._random_payload(extra) if rng.random() < 0.5 else bytes(extra)
            payload = payload + pad
        p = target.protection
        if p is not None and target.protected and rng.random() < 0.5 and len(payload) * 8 >= p.message_bits:
            p.protect(payload, p.counter(payload))   # a checksum right for the new length
        return [(0.0, self._frame(target.codec.frame_id, payload, extended=target.codec.is_extended_id))]


# ------------------------------------------------------------------------------------- invariant

@dataclass(frozen=True)
class Violation:
    """A tick at which the unit had permission to compute with an input that was not usable."""

    tick: int
    now_s: float
    message: str
    state: str                 # the receiver's state ("-" for an unprotected message)
    data_age_s: float
    timeout_s: float
    decision: str              # state and reason the unit decided, and what it ran at

    def __str__(self) -> str:
        return (f"tick {self.tick} at {self.now_s:.3f} s: computing ({self.decision}) while {self.message} is "
                f"{self.state} with data {self.data_age_s:.4f} s old (timeout {self.timeout_s:.3f} s)")


class InvariantWatch:
    """Checks, after every tick of ``emulator``, that permission to compute implies usable inputs.

    Call :meth:`install` before the unit starts (it replaces the tick the unit
    schedules by one that runs the unit's tick and then the check).  The unit
    "has permission to compute" when its decision computes or its compute unit
    ran a computing level in the tick.  Every input message the unit watches
    (``emulator.stale_after_s``) is required for that: a protected one must
    have its receiver VALID with ``data_age_s(now) <= timeout_s``; an
    unprotected one must have brought a decodable frame within its
    ``stale_after_s``, timed by this watch's own probe on the unit's port.
    """

    def __init__(self, emulator: ComputeEmulator, *, keep: int = 20) -> None:
        self.emulator = emulator
        self.clock: Clock = emulator.clock
        self._keep = keep
        self._receivers: tuple[tuple[str, E2EStateMachine], ...] = ()
        self._probed: dict[str, float] = {}
        self._last_seen: dict[str, float] = {}
        self._installed = False
        self.ticks = 0
        self.computing_ticks = 0
        #: Ticks at which permission was given while an input was not usable, and the first few
        #: (one :class:`Violation` per input that was not usable).
        self.violations = 0
        self.first_violations: list[Violation] = []
        #: Ticks without permission, by the reason the unit gave.
        self.stopped: Counter[str] = Counter()
        #: Entries of each receiver into each state (``"BMS_PackStatus->INVALID"``).
        self.transitions: Counter[str] = Counter()
        self._states: dict[str, E2EStatus] = {}

    def install(self) -> InvariantWatch:
        """Wrap the unit's tick with the check and probe its unprotected inputs; returns the watch.

        Installing twice changes nothing.  The unit's tick is replaced on the instance, so
        this must run before the unit's :meth:`~ComputeEmulator.start` schedules it.
        """
        if self._installed:
            return self
        emulator = self.emulator
        receivers = emulator.receivers
        protected: list[tuple[str, E2EStateMachine]] = []
        probed: dict[str, float] = {}
        for key, timeout_s in emulator.stale_after_s.items():
            name = key.partition("[")[0]
            if name in receivers:
                if all(name != n for n, _r in protected):
                    protected.append((name, receivers[name]))
            else:
                probed[key] = timeout_s
        self._receivers = tuple(protected)
        self._states = {name: r.state for name, r in protected}
        self._probed = probed
        self._install_probes()
        unit_tick = emulator.tick

        def checked_tick() -> None:
            unit_tick()
            self._check()

        emulator.tick = checked_tick   # type: ignore[method-assign]
        self._installed = True
        return self

    def _install_probes(self) -> None:
        """For unprotected inputs: when a frame the unit can decode last came, per message or page."""
        by_message: dict[str, list[tuple[str, str | None]]] = {}
        codec = self.emulator.codec
        for key in self._probed:
            name, _, page = key.partition("[")
            marker = None
            if page:
                mux = int(page.rstrip("]"))
                marker = next(s.role for s in codec.message(name).slots if s.mux == mux)
            by_message.setdefault(name, []).append((key, marker))
        for name, keys in by_message.items():
            msg_codec = codec.message(name)
            self.emulator.port.subscribe(msg_codec.frame_id, self._probe(msg_codec, keys),
                                         extended=msg_codec.is_extended_id)

    def _probe(self, msg_codec: MessageCodec, keys: list[tuple[str, str | None]]) -> Callable[[Frame], None]:
        clock = self.clock
        seen = self._last_seen
        plain = [key for key, marker in keys if marker is None]
        paged = [(key, marker) for key, marker in keys if marker is not None]

        def probe(msg: Frame) -> None:
            try:
                roles, _crc_ok = msg_codec.receive(msg.data)
            except Exception:   # noqa: BLE001 - a frame the unit cannot decode brings no data
                return
            arrived = min(msg.timestamp - clock.epoch_s, clock.now)
            for key in plain:
                seen[key] = arrived
            for key, marker in paged:
                if marker in roles:
                    seen[key] = arrived
        return probe

    def _check(self) -> None:
        emulator = self.emulator
        now = self.clock.now
        self.ticks += 1
        states = self._states
        for name, receiver in self._receivers:
            state = receiver.state
            if state is not states[name]:
                states[name] = state
                self.transitions[f"{name}->{state.name}"] += 1
        decision = emulator.last_decision
        last = emulator.unit.last
        permitted = decision is not None and decision.computes
        ran = last is not None and (last.tokens > 0 or last.level.computes)
        if not (permitted or ran):
            self.stopped[decision.reason if decision is not None else "NO_DECISION"] += 1
            return
        self.computing_ticks += 1
        bad: list[tuple[str, str, float, float]] = []
        for name, receiver in self._receivers:
            state = receiver.state
            age = receiver.data_age_s(now)
            timeout_s = receiver.timeout_s
            if state is _VALID and age <= timeout_s:
                continue
            bad.append((name, state.name, age, timeout_s))
        seen = self._last_seen
        for key, timeout_s in self._probed.items():
            age = now - seen.get(key, -math.inf)
            if not age <= timeout_s:
                bad.append((key, "-", age, timeout_s))
        if bad:
            self.violations += 1
            self._note(self.first_violations, bad, now, decision, last, permitted, ran)

    def _note(self, into: list[Violation], inputs: list[tuple[str, str, float, float]], now: float,
              decision: Decision | None, last: TickResult | None, permitted: bool, ran: bool) -> None:
        described = self._describe(decision, last, permitted, ran)
        for name, state, age, timeout_s in inputs:
            if len(into) < self._keep:
                into.append(Violation(self.ticks, now, name, state, age, timeout_s, described))

    @staticmethod
    def _describe(decision: Decision | None, last: TickResult | None, permitted: bool, ran: bool) -> str:
        level = last.level.name if last is not None else "OFF"
        state = f"{decision.state.name}/{decision.reason}" if decision is not None else "no decision"
        return f"{state}, {level}" + ("" if permitted else ", ran without permission")



# ------------------------------------------------------------------------------------- the session

@dataclass
class FuzzReport:
    """What a :class:`FuzzSession` did and what the unit did under it."""

    seed: int
    frames: int
    by_strategy: dict[str, int]
    ids_covered: int
    lengths_covered: tuple[int, ...]
    simulated_s: float
    wall_s: float
    ticks: int
    computing_ticks: int
    violations: int
    first_violations: list[Violation]
    stopped: dict[str, int]
    transitions: dict[str, int]
    receiver_errors: dict[str, dict[str, int]]
    e2e_errors: int
    decode_errors: int
    storms: int
    outages: int
    extra: dict[str, object] = field(default_factory=dict)

    def summary(self) -> str:
        """The report as text for a terminal: one figure per line, then each violation kept (the first few)."""
        lines = [
            (f"seed {self.seed}: {self.frames} fuzzed frames in {self.simulated_s:.0f} simulated s "
             f"({self.storms} storms, {self.outages} sender outages), {self.wall_s:.1f} s wall"),
            f"  ticks {self.ticks}, computing {self.computing_ticks}, violations {self.violations}",
            f"  by strategy: {dict(sorted(self.by_strategy.items()))}",
            f"  11-bit IDs covered {self.ids_covered}/2048, lengths {list(self.lengths_covered)}",
            f"  unit E2E errors {self.e2e_errors}, decode errors {self.decode_errors}",
            f"  receiver errors: {self.receiver_errors}",
            f"  stopped ticks by reason: {self.stopped}",
            f"  receiver state entries: {dict(sorted(self.transitions.items()))}",
        ]
        lines += [f"  {k}: {v}" for k, v in self.extra.items()]
        lines += [f"  VIOLATION {v}" for v in self.first_violations]
        return "\n".join(lines)


class FuzzSession:
    """Inject a :class:`FrameFuzzer`'s frames through ``port`` on ``clock`` until ``frames`` are sent.

    ``port`` is a handle of the fuzzer's own on the bench's bus (it hears the
    real frames it mutates and replays; it does not hear itself).  Injection
    starts ``start_s`` after :meth:`start` (so the unit computes first) and
    alternates storms (``storm_s`` long, ``storm_rate`` frames per second) and
    calms (``calm_s``, ``calm_rate``); every range is drawn from uniformly, and
    the instants inside a phase are a Poisson process, so frames land anywhere
    between the real ones.  ``mutes`` (optional) silence or delay real senders: every
    ``outage_every_s`` one of them, by name, is called with True and, ``outage_s``
    later (or the range given with it), with False; when the name is a protected message's, half the time the
    fuzzer sends that message's next frame off its slot just before the silence
    shows.  ``watch`` (optional) is read into the report.
    """

    def __init__(self, clock: Clock, port: BusPort, fuzzer: FrameFuzzer, *, frames: int, seed: int = 0,
                 watch: InvariantWatch | None = None, start_s: float = 3.0,
                 storm_s: tuple[float, float] = (0.2, 2.0), storm_rate: tuple[float, float] = (100.0, 1500.0),
                 calm_s: tuple[float, float] = (3.0, 10.0), calm_rate: tuple[float, float] = (0.1, 1.0),
                 mutes: Mapping[str, Mute | tuple[Mute, tuple[float, float]]] | None = None,
                 outage_every_s: tuple[float, float] = (4.0, 20.0),
                 outage_s: tuple[float, float] = (0.05, 3.0), history: int = 16) -> None:
        self.clock = clock
        self.port = port
        self.fuzzer = fuzzer
        self.watch = watch
        self.target = int(frames)
        self.seed = seed
        self._rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
        self._start_s = start_s
        self._storm_s, self._storm_rate = storm_s, storm_rate
        self._calm_s, self._calm_rate = calm_s, calm_rate
        self._mutes = tuple((mutes or {}).items())
        self._outage_every_s, self._outage_s = outage_every_s, outage_s
        self.sent = 0
        self.storms = 0
        self.outages = 0
        self._storm = False
        self._phase_end = 0.0
        self._rate = 1.0
        self._started = False
        #: The last frames injected (time, strategy, frame), for the note on an exception.
        self.recent: deque[tuple[float, str, Frame]] = deque(maxlen=history)
        port.add_tap(self._observe)
        port.bus.set_filters(fuzzer.can_filters)   # it learns from the input messages only

    def _observe(self, msg: Frame) -> None:
        self.fuzzer.observe(msg, self.clock.now)

    def start(self) -> None:
        """Schedule the first injection ``start_s`` from now, a drain of the port every 0.5 s and,
        with ``mutes``, the first sender outage.

        A no-op once started; :meth:`run` calls it.
        """
        if self._started:
            return
        self._started = True
        self._next_phase(self.clock.now + self._start_s, storm=False)
        self.clock.call_at(self.clock.now + self._start_s, self._inject)
        # Drain the port now and then, so the fuzzer's view of the bus stays current in long calms.
        self.clock.call_every(0.5, self._drain, offset_s=0.25)
        if self._mutes:
            self.clock.call_at(self.clock.now + self._start_s + float(self._rng.uniform(*self._outage_every_s)),
                               self._outage)

    def _outage(self) -> None:
        """Mute one real sender for a while (a node's transmitter gone quiet), then the next outage."""
        if self.sent >= self.target:
            return
        rng = self._rng
        name, mute = self._mutes[int(rng.integers(len(self._mutes)))]
        span = self._outage_s
        if isinstance(mute, tuple):
            mute, span = mute
        mute(True)
        self.outages += 1
        clock = self.clock
        if rng.random() < 0.5:
            # A message that goes quiet after one last frame off its slot (a gateway that
            # delays, then dies): the moment its data age and its arrival time disagree most.
            self.port.poll()
            last = self.fuzzer.jittered(name, clock.now, spread_cycles=0.45)
            self.fuzzer.made["jitter"] += len(last)
            for delay_s, msg in last:
                clock.call_later(delay_s, partial(self._send, "jitter", msg))
        clock.call_later(float(rng.uniform(*span)), lambda: mute(False))
        clock.call_later(float(rng.uniform(*self._outage_every_s)), self._outage)

    def _drain(self) -> None:
        self.port.poll()

    def _next_phase(self, now: float, *, storm: bool) -> None:
        rng = self._rng
        self._storm = storm
        lo, hi = self._storm_s if storm else self._calm_s
        self._phase_end = now + float(rng.uniform(lo, hi))
        lo, hi = self._storm_rate if storm else self._calm_rate
        self._rate = float(rng.uniform(lo, hi))
        self.storms += storm

    def _inject(self) -> None:
        if self.sent >= self.target:
            return
        clock = self.clock
        now = clock.now
        self.port.poll()
        while now >= self._phase_end:
            self._next_phase(self._phase_end, storm=not self._storm)
        strategy, frames = self.fuzzer.next_injection(now)
        for delay_s, msg in frames:
            if delay_s <= 0:
                self._send(strategy, msg)
            else:
                clock.call_later(delay_s, partial(self._send, strategy, msg))
        if self.sent < self.target:
            gap = float(self._rng.exponential(1.0 / self._rate))
            clock.call_at(now + max(gap, 1e-6), self._inject)

    def _send(self, strategy: str, msg: Frame) -> None:
        if self.sent >= self.target:
            return
        self.recent.append((self.clock.now, strategy, msg))
        self.port.send(msg)
        self.sent += 1

    def run(self, *, settle_s: float = 3.0, chunk_s: float = 30.0,
            progress: Callable[[FuzzSession], None] | None = None) -> FuzzReport:
        """Run the clock until every frame is sent, then ``settle_s`` more; return the report.

        Raises:
            Exception: whatever escaped the bench's loop, with a note naming the seed,
                the frame count and the last frames injected.
        """
        self.start()
        clock = self.clock
        begin_wall, begin_sim = wall_time_s(), clock.now
        try:
            while self.sent < self.target:
                clock.run_until(clock.now + chunk_s)
                if progress is not None:
                    progress(self)
            clock.run_until(clock.now + settle_s)
        except Exception as exc:
            exc.add_note(self.describe_failure())
            raise
        return self.report(wall_time_s() - begin_wall, clock.now - begin_sim)

    def describe_failure(self) -> str:
        """What to repeat a failed run from: the seed, the frames sent so far, the simulated time and
        the last frames injected (time, strategy, ID, kind, length, payload in hex)."""
        lines = [(f"frame fuzzing, seed {self.seed}: {self.sent} of {self.target} frames sent, "
                  f"at {self.clock.now:.6f} simulated s; the last frames injected:")]
        for t, strategy, msg in self.recent:
            kind = "remote" if msg.is_remote_frame else "error" if msg.is_error_frame else "FD" if msg.is_fd else "data"
            lines.append(f"  {t:.6f} s {strategy:<12} {'x' if msg.is_extended_id else ''}"
                         f"{msg.arbitration_id:03X} {kind} [{len(msg.data)}] {bytes(msg.data).hex()}")
        return "\n".join(lines)

    def report(self, wall_s: float, simulated_s: float) -> FuzzReport:
        """What was sent, and what the watch and the unit saw, over ``simulated_s`` bench seconds
        that took ``wall_s`` real ones; the watch's and the unit's figures are 0 without a watch."""
        watch = self.watch
        emulator = watch.emulator if watch is not None else None
        return FuzzReport(
            seed=self.seed,
            frames=self.sent,
            by_strategy=dict(self.fuzzer.made),
            ids_covered=len(self.fuzzer.ids_covered),
            lengths_covered=tuple(sorted(self.fuzzer.lengths_covered)),
            simulated_s=simulated_s,
            wall_s=wall_s,
            ticks=watch.ticks if watch else 0,
            computing_ticks=watch.computing_ticks if watch else 0,
            violations=watch.violations if watch else 0,
            first_violations=list(watch.first_violations) if watch else [],
            stopped=dict(watch.stopped.most_common()) if watch else {},
            transitions=dict(watch.transitions) if watch else {},
            receiver_errors={name: dict(r.errors) for name, r in emulator.receivers.items()} if emulator else {},
            e2e_errors=emulator.e2e_errors if emulator else 0,
            decode_errors=emulator.decode_errors if emulator else 0,
            storms=self.storms,
            outages=self.outages,
        )
