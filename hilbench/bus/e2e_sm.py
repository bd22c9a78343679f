"""The receiver side of end-to-end protection, as AUTOSAR's E2E state machine runs it.

Per protected message a receiver:

1. **checks each frame** (AUTOSAR's profile check): the checksum (``ERROR``
   when wrong, including a payload sent under another message's ID or data ID
   -- masquerade), then the alive counter against the last *trusted* frame:
   ``REPEATED`` when it did not move, ``WRONG_SEQUENCE`` when it moved in a way
   the elapsed time cannot explain, ``OK`` otherwise (frames lost in between
   are fine: their absence shows as data age);
2. **measures freshness as data age**, not frame age: the sender's counter
   advances once per cycle, so counter progress per elapsed time says how old
   the data in a frame is.  A stream that comes back after a gap with its
   counter only one step on carries data as old as the gap (a delaying gateway,
   a replay); a sender that was merely unheard (bus-off, a muted transmitter)
   comes back with its counter advanced by the cycles it missed.  The first is
   late by the gap, and stays late frame after frame until it catches up; the
   second is fresh.  A frame whose counter runs *ahead* of the time elapsed was
   inserted (a rogue sender in sequence) and is not trusted;
3. **runs the state machine** NODATA -> INIT -> VALID <-> INVALID over a window
   of the last frames' statuses, with minimum-OK and maximum-error counts per
   state (:class:`E2EConfig`, defaults in ``e2e.toml`` with their reasons).  Data
   is *usable* only while the state is VALID and its age is within the
   message's timeout; after a timeout the receiver starts again from INIT.

Limit, inherent in a 4-bit counter: a stream delayed by a whole multiple of 16
cycles cannot be told from a live sender that lost 16 frames (the counter wraps),
so such a delay is taken as fresh.  Profile 5's 8-bit counter moves that to 256.
"""

from __future__ import annotations

import enum
import math
import tomllib
from collections import deque
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .e2e import E2EStatus
from .protection import AutosarP2, Protection

CONFIG_FILE = Path(__file__).with_name("e2e.toml")
_VALID = E2EStatus.VALID
#: How far each on-time frame pulls the receiver's idea of the sender's schedule towards its
#: arrival: small enough to ride out a host's bunching, large enough to follow clock drift.
SCHEDULE_GAIN = 0.1
#: In wall time, how far the counter may step between two frames without a gap to explain it
#: (AUTOSAR's MaxDeltaCounter; a frame or two lost in transit).
WALL_MAX_DELTA = 3


class FrameStatus(enum.IntEnum):
    """The outcome of checking one frame (AUTOSAR's profile check status)."""

    OK = 0
    REPEATED = 1
    WRONG_SEQUENCE = 2
    ERROR = 3


_OK = FrameStatus.OK


@dataclass(frozen=True)
class E2EConfig:
    """Window sizes and thresholds of the state machine, per state, and the timing tolerance.

    AUTOSAR's ``E2E_SMConfigType``; the window holds the statuses of the last frames.
    """

    window_init: int
    min_ok_init: int
    max_error_init: int
    window_valid: int
    min_ok_valid: int
    max_error_valid: int
    window_invalid: int
    min_ok_invalid: int
    max_error_invalid: int
    #: How far (in cycles) a frame may arrive off the time its counter says and still be on time,
    #: in simulated time and in wall time (where the host adds jitter).
    #: The leaky error tally: each frame that is not OK adds ``tally_error_weight``, each OK frame
    #: takes one off, and the tally holds at most ``tally_cap``; INVALID -> VALID needs it empty.
    tally_error_weight: int
    tally_cap: int
    timing_tolerance_cycles: float
    wall_timing_tolerance_cycles: float
    #: A stream back after a silence of at least its timeout, its counter at most this far on from
    #: the last trusted frame, is the old stream late (its data as old as the silence); further on,
    #: and not where a live sender's counter would be, the sender restarted its counter.
    max_delta_counter: int

    @classmethod
    def load(cls, path: Path = CONFIG_FILE, **overrides: Any) -> E2EConfig:
        """The defaults of ``e2e.toml``, with ``overrides`` (a DUT config or signal map's) on top.

        Raises:
            ConfigError: an unknown key, or a value that makes no state machine.
        """
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(path, None, f"cannot read the E2E receiver settings: {exc}") from None
        values: dict[str, Any] = {}
        for table in ("state_machine", "tally", "timing"):
            if not isinstance(data.get(table), dict):
                raise ConfigError(path, f"[{table}]", "missing table")
            values.update(data[table])
        missing = [f.name for f in fields(cls) if f.name not in values]
        if missing:
            raise ConfigError(path, missing[0], "missing")
        config = cls(**{f.name: values[f.name] for f in fields(cls)})
        config.validate(path)
        return config.with_(**overrides) if overrides else config

    def with_(self, **overrides: Any) -> E2EConfig:
        """A copy with ``overrides`` applied and validated, for a per-message receiver setting.

        Raises:
            ConfigError: a key that is not a field, or values that make no state machine.
        """
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(None, "e2e", f"unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(known))}")
        config = replace(self, **overrides)
        config.validate()
        return config

    def validate(self, file: Path | None = None) -> None:
        """Refuse figures that make no state machine; ``file`` is named in the error when they came from one."""
        for state in ("init", "valid", "invalid"):
            window = getattr(self, f"window_{state}")
            min_ok = getattr(self, f"min_ok_{state}")
            max_error = getattr(self, f"max_error_{state}")
            for key, value in ((f"window_{state}", window), (f"min_ok_{state}", min_ok),
                               (f"max_error_{state}", max_error)):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ConfigError(file, f"e2e.{key}", f"expected a whole number >= 0, got {value!r}")
            if not 1 <= min_ok <= window:
                raise ConfigError(file, f"e2e.min_ok_{state}", f"must be 1..window_{state} ({window}), got {min_ok}")
        for key in ("tally_error_weight", "tally_cap", "max_delta_counter"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(file, f"e2e.{key}", f"expected a whole number >= 1, got {value!r}")
        for key in ("timing_tolerance_cycles", "wall_timing_tolerance_cycles"):
            tol = getattr(self, key)
            if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
                raise ConfigError(file, f"e2e.{key}", f"expected a number in (0, 1), got {tol!r}")


class E2EStateMachine:
    """The E2E receiver of one protected message (see the module docstring).

    ``cycle_s`` is the sender's cycle time and ``timeout_s`` the oldest data may
    get before it is unusable.  Call :meth:`on_frame` for every frame and
    :meth:`usable` before using the message's data.
    """

    __slots__ = ("_anchor_counter", "_anchor_s", "_cycle_s", "_error_count", "_fast", "_impostor", "_lag_measured",
                 "_last_frame_s", "_modulus", "_nibble", "_ok_count", "_tolerance", "_window", "config", "errors",
                 "lag_s", "protection", "state", "tally", "timeout_s")

    def __init__(self, protection: Protection, cycle_s: float, timeout_s: float,
                 config: E2EConfig | None = None, *, wall_time: bool = False) -> None:
        if not cycle_s > 0 or not timeout_s > 0:
            raise ValueError(f"cycle and timeout must be > 0, got {cycle_s} and {timeout_s}")
        self.protection = protection
        self.config = config or E2EConfig.load()
        self.timeout_s = timeout_s
        self._cycle_s = cycle_s
        self._modulus = protection.counter_modulus if protection.has_counter else 0
        self._tolerance = (self.config.wall_timing_tolerance_cycles if wall_time
                           else self.config.timing_tolerance_cycles)
        #: Data age from counter progress assumes a strictly periodic sender and exact arrival
        #: times.  In wall time neither holds on a loaded host (senders skip cycles, interfaces
        #: stamp a batch of frames with one time), so there the counter is checked as AUTOSAR's
        #: profile check does, by its step alone: a gap still ages the data, and repeats,
        #: insertions (the real frame then repeats the rogue's counter) and checksum errors are
        #: caught all the same; a stream delayed beyond a cycle is not.
        self._lag_measured = not wall_time
        #: Profile 2 keeps its counter in the low nibble of byte 1: read it without the generic field.
        self._nibble = isinstance(protection, AutosarP2)
        #: Whether the one-frame fast path may run (a timeout of at least a cycle and a half).
        self._fast = timeout_s >= 1.5 * cycle_s and self._modulus == 16
        self.state = E2EStatus.NODATA
        #: Frames that failed, by status name ("ERROR", "REPEATED", "WRONG_SEQUENCE").
        self.errors: dict[str, int] = {}
        # The last trusted frame: when it arrived, its counter, and how old its data was then
        # (``lag_s``: 0 for a stream on time; a delayed stream's data is this much older than its frames).
        self._anchor_s: float | None = None
        self._anchor_counter = 0
        self.lag_s = 0.0
        self._window: deque[FrameStatus] = deque(maxlen=self.config.window_init)
        self._ok_count = 0
        self._error_count = 0
        #: The leaky error tally (see :class:`E2EConfig`): a link that keeps failing, however many
        #: good frames it passes in between, keeps the message INVALID.
        self.tally = 0
        #: When the last frame of any status came, and whether the frames lately rejected as out of
        #: sequence form a stream of their own (a replay, a second sender) the anchor must not follow.
        self._last_frame_s = -math.inf
        self._impostor = False

    # -- data age ------------------------------------------------------------------------------
    def data_age_s(self, now_s: float) -> float:
        """How old the newest trusted data is at ``now_s`` (infinite before the first)."""
        if self._anchor_s is None:
            return math.inf
        return now_s - self._anchor_s + self.lag_s

    def usable(self, now_s: float) -> bool:
        """Whether the message's data may be used: VALID, and no older than the timeout."""
        return self.state is E2EStatus.VALID and self.data_age_s(now_s) <= self.timeout_s

    # -- frames --------------------------------------------------------------------------------
    def on_frame(self, payload: bytes | bytearray, now_s: float, crc_ok: bool | None = None) -> FrameStatus:
        """Check one frame, update the state machine, and return the frame's status.

        ``crc_ok`` lets a caller that already verified the checksum (a cached decode)
        skip recomputing it.  Only an OK frame's data may be used.
        """
        anchor_s = self._anchor_s
        if crc_ok and self._fast and self.state is _VALID and not self.lag_s and not self.tally \
                and anchor_s is not None and self._ok_count == self.config.window_valid and len(payload) > 1:
            # The usual case, frame after frame: a good checksum, the next counter one cycle on, a
            # window of nothing but OK (appending one more OK changes nothing in it).  Measured:
            # ~0.5 us against ~2.5 us for the general path, at ~100 input frames per simulated second.
            counter = payload[1] & 0x0F if self._nibble else self.protection.counter(payload)
            elapsed = (now_s - anchor_s) / self._cycle_s
            if (counter - self._anchor_counter) & 0x0F == 1 and -self._tolerance <= elapsed - 1.0 <= self._tolerance:
                expected = anchor_s + self._cycle_s
                self._anchor_s = expected + SCHEDULE_GAIN * (now_s - expected)
                self._anchor_counter = counter
                self._last_frame_s = now_s
                return _OK
        stale = self._anchor_s is not None and now_s - self._anchor_s + self.lag_s > self.timeout_s
        if stale:
            self._restart()   # the data went stale: the stream must prove itself again
        silence_s = now_s - self._last_frame_s
        if silence_s >= self.timeout_s:
            self._impostor = False   # whatever sent the rejected frames went quiet
        self._last_frame_s = now_s
        status = self._check(payload, now_s, crc_ok, stale, silence_s)
        if status is not FrameStatus.OK:
            self.errors[status.name] = self.errors.get(status.name, 0) + 1
        self._add(status)
        return status

    def _check(self, payload: bytes | bytearray, now_s: float, crc_ok: bool | None, stale: bool,
               silence_s: float) -> FrameStatus:
        protection = self.protection
        if len(payload) * 8 < protection.message_bits:
            return FrameStatus.ERROR
        if crc_ok is None:
            crc_ok = protection.checksum_ok(payload)
        if not crc_ok:
            return FrameStatus.ERROR
        if not self._modulus:   # a checksum and no counter: every good frame is as fresh as it arrives
            self._anchor_s, self.lag_s = now_s, 0.0
            return FrameStatus.OK
        counter = protection.counter(payload)
        anchor_s = self._anchor_s
        if anchor_s is None:
            self._anchor_s, self._anchor_counter, self.lag_s = now_s, counter, 0.0
            return FrameStatus.OK
        modulus = self._modulus
        step = (counter - self._anchor_counter) % modulus
        if step == 0:
            return FrameStatus.REPEATED
        cycle = self._cycle_s
        elapsed = (now_s - anchor_s) / cycle
        tolerance = self._tolerance
        if not self._lag_measured:
            # Wall time: a step the elapsed time (roughly) explains is OK, a bigger one is out of sequence.
            if step > WALL_MAX_DELTA and step > elapsed + 1.0 + tolerance:
                return FrameStatus.WRONG_SEQUENCE
            self._anchor_s, self._anchor_counter = now_s, counter
            return FrameStatus.OK
        # The counter progress the elapsed time explains best (a live sender, unheard for a while,
        # advanced its counter once per cycle all along) ...
        nearest = step + modulus * round((elapsed - step) / modulus)
        lag = self.lag_s
        if abs(nearest - elapsed) <= tolerance:
            # On time: the anchor follows the sender's schedule, pulled a little towards the
            # arrival (a phase-locked loop), so frames bunched by a busy host are judged against
            # the schedule rather than against a late neighbour, and clock drift is followed.
            # An early frame here is jitter, not catching up: a lagging stream catches up only by
            # counter progress ahead of the time (below), else a delayed stream's jitter would
            # ratchet its lag down to nothing.
            expected = anchor_s + nearest * cycle
            self._anchor_s = expected + SCHEDULE_GAIN * (now_s - expected)
            self._anchor_counter, self.lag_s = counter, lag
            self._impostor = False
            return FrameStatus.OK if lag <= self.timeout_s else FrameStatus.WRONG_SEQUENCE
        elif lag and abs((step - elapsed - lag / cycle + modulus / 2) % modulus - modulus / 2) <= tolerance:
            # A lagging stream's sender back on its own schedule (the delay over): the counter is
            # where the live sender's is, the lag and the time together, wrap or not.
            self._anchor_s, self._anchor_counter, self.lag_s = now_s, counter, 0.0
            self._impostor = False
            return FrameStatus.OK
        else:
            excess = step - elapsed     # cycles the counter is ahead of the time, at least
            if excess <= tolerance:
                if self._impostor:
                    # The stream that took a VALID stream's place, refused since without a pause
                    # of a timeout: a replay or a second sender, never a sender to follow.
                    return FrameStatus.WRONG_SEQUENCE
                if stale and step > self.config.max_delta_counter:
                    # After the data went stale, a counter neither a live sender (on time, above)
                    # nor the old stream late (a step or two on) would have: a restarted sender.
                    self._anchor_s, self._anchor_counter, self.lag_s = now_s, counter, 0.0
                    return FrameStatus.OK
                if silence_s < (elapsed - tolerance) * cycle:
                    # Old data after frames heard since the last trusted one (a replayed frame, a
                    # forged late one, a second stream): a late stream is silent until it comes.
                    if self.state is _VALID:
                        self._impostor = True
                    return FrameStatus.WRONG_SEQUENCE
                # ... or else the least progress the counter allows: the data is as old as the
                # time the counter does not account for (a delaying gateway, a replay).
                progress = step
            elif excess > tolerance + lag / cycle:
                if self.state is _VALID:
                    self._impostor = True   # a proven stream displaced (by a single frame this clears below)
                return FrameStatus.WRONG_SEQUENCE   # ahead of the time: inserted by someone else
            else:
                # A lagging stream catching up (a gateway's held frames draining): the least
                # progress the counter allows, so the data is never judged younger than it may be.
                # Where the lag was 16 cycles or more the counter may also have wrapped; a sender
                # truly back on schedule is recognised above, by the lag and the time together.
                progress = step
            lag = max(0.0, lag + (elapsed - progress) * cycle)
        self._anchor_s, self._anchor_counter, self.lag_s = now_s, counter, lag
        return FrameStatus.OK if lag <= self.timeout_s else FrameStatus.WRONG_SEQUENCE

    # -- the state machine -----------------------------------------------------------------------
    def _restart(self) -> None:
        """The data went stale: good frames must go through INIT again (an INVALID stream stays INVALID)."""
        if self.state is E2EStatus.INVALID:
            self._resize(self.config.window_invalid)
            self._window.clear()
            self._ok_count = self._error_count = 0
            return
        self.state = E2EStatus.NODATA
        self._resize(self.config.window_init)

    def _resize(self, size: int) -> None:
        self._window = deque(self._window, maxlen=size)
        self._ok_count = sum(1 for s in self._window if s is FrameStatus.OK)
        self._error_count = sum(1 for s in self._window if s is FrameStatus.ERROR)

    def _add(self, status: FrameStatus) -> None:
        window = self._window
        if len(window) == window.maxlen:
            dropped = window[0]
            if dropped is FrameStatus.OK:
                self._ok_count -= 1
            elif dropped is FrameStatus.ERROR:
                self._error_count -= 1
        window.append(status)
        c = self.config
        if status is FrameStatus.OK:
            self._ok_count += 1
            if self.tally:
                self.tally -= 1
        else:
            if status is FrameStatus.ERROR:
                self._error_count += 1
            self.tally = min(c.tally_cap, self.tally + c.tally_error_weight)
        state = self.state
        if state is E2EStatus.NODATA:
            if status is not FrameStatus.ERROR:
                self.state = E2EStatus.INIT
                self._window = deque((status,), maxlen=c.window_init)
                self._ok_count = int(status is FrameStatus.OK)
                self._error_count = 0
                state = E2EStatus.INIT
            else:
                return
        ok, errors = self._ok_count, self._error_count
        window = self._window
        if state is E2EStatus.INIT:
            if errors <= c.max_error_init and ok >= c.min_ok_init:
                self._enter(E2EStatus.VALID, c.window_valid)
            elif errors > c.max_error_init:
                self._enter(E2EStatus.INVALID, c.window_invalid)
        elif state is E2EStatus.VALID:
            # Slots of a window not yet full count as OK: VALID is left on evidence, not on
            # a window that has not had time to fill since INIT.
            if errors > c.max_error_valid or len(window) - ok > c.window_valid - c.min_ok_valid:
                self._enter(E2EStatus.INVALID, c.window_invalid)
        elif errors <= c.max_error_invalid and ok >= c.min_ok_invalid and not self.tally:
            self._enter(E2EStatus.VALID, c.window_valid)

    def _enter(self, state: E2EStatus, window: int) -> None:
        self.state = state
        self._resize(window)
