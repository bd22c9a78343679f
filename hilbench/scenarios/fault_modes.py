"""The failure modes of ISO 26262-6 / AUTOSAR E2E that :mod:`.faults` does not already inject.

A receiver of a safety message must detect seven failure modes: corruption,
repetition, loss, delay, insertion, masquerade and incorrect sequence.
:mod:`.faults` injects corruption (``corrupt``, ``bad_checksum``), loss
(``drop``), delay (``delay``) and a wrong counter (``wrong_counter``); this
module adds the rest, as scenario actions registered like those:

* ``repeat`` -- a frame sent again unchanged, counter and checksum and all
  (a gateway that retransmits);
* ``insert`` -- an extra valid frame between two real ones: the next counter
  and a checksum that fits (a rogue sender in sequence);
* ``masquerade`` -- the payload of another message sent under this message's
  ID, or this message's payload protected with another message's data ID;
* ``reorder`` -- two consecutive frames delivered the wrong way round;
* ``replay`` -- a recorded stream (any log python-can reads, a candump
  ``.log`` first of all) sent again onto the bus in the node's place.

The frame faults take the pattern parameters every frame fault takes
(``every_n``, ``rate`` with ``seed``, ``count``, ``duration_s``) and name what
they act on as the others do (``node``, ``role``, or ``message``).  A
protected message keeps its protection semantics: a frame the fault builds
(an inserted one, a re-protected one) carries the checksum its message's
:class:`~hilbench.bus.protection.Protection` computes, so only what the mode
says is wrong.  Every parameter is checked against the bus description
before the first scenario runs (:func:`hilbench.scenarios.check_runnable`),
and again when the step fires.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..bench import Bench
from ..bus.frames import Frame, frame_with_data, read_log
from ..bus.protection import Protection
from ..bus.sender import FrameSource
from ..clock import Task
from ..errors import ScenarioError
from .faults import (  # noqa: PLC2701  (shared validators)
    _duration_problems,
    _frame_validator,
    _FrameFault,
    _install,
    _protection,
    _refuse,
    _source,
    _targets,
    frame_targets,
    pattern_rng,
)
from .registry import BusView, Problem, action

MASQUERADE_MODES = ("payload", "data_id")


# -- shared ------------------------------------------------------------------------------------
def _cycle_s(view_or_bench: BusView | Bench, name: str) -> float | None:
    return view_or_bench.codec.message(name).cycle_time_s


def _offset_problems(key: str, params: Mapping[str, Any], view: BusView, names: tuple[str, ...], *,
                     what: str) -> list[Problem]:
    """``key`` (a time after the real frame) must be >= 0 and shorter than each message's cycle."""
    value = params.get(key)
    if value is None:
        return []
    if not math.isfinite(value) or value < 0:
        return [(key, f"must be a finite time >= 0, got {value}")]
    problems: list[Problem] = []
    for name in names:
        cycle = _cycle_s(view, name)
        if cycle and value >= cycle:
            problems.append((key, f'{value:g} s is not shorter than the {cycle * 1000:g} ms cycle of "{name}": '
                                  f"{what}"))
    return problems


def _needs_cycle(names: tuple[str, ...], view: BusView, key: str) -> list[Problem]:
    return [(key, f'message "{name}" has no cycle time; give after_s to place the frame')
            for name in names if not _cycle_s(view, name)]


class _Sender:
    """Frames a fault adds to the bus itself (a copy, a rogue frame), sent on its source's port.

    Pending sends are cancelled when the fault ends: nothing it scheduled reaches the bus after that.
    """

    def __init__(self, bench: Bench, source: FrameSource) -> None:
        self.clock = bench.clock
        self.port = source.port
        self.pending: set[Task] = set()
        self.sent = 0

    def later(self, delay_s: float, msg: Frame) -> None:
        def send() -> None:
            self.pending.discard(task)
            if self.port.send(msg):
                self.sent += 1

        task = self.clock.call_later(delay_s, send)
        self.pending.add(task)

    def cancel(self) -> None:
        for task in self.pending:
            task.cancel()
        self.pending.clear()


def _copy(msg: Frame) -> Frame:
    return frame_with_data(msg, msg.data)


# -- repetition ---------------------------------------------------------------------------------
class _Repeat(_FrameFault):
    def __init__(self, bench: Bench, source: FrameSource, names: frozenset[str], after_s: float, every_n: int,
                 count: int, **pattern: Any) -> None:
        super().__init__(names, every_n, count, **pattern)
        if after_s < 0:
            raise ScenarioError(f"after_s must be >= 0, got {after_s}")
        self.after_s = after_s
        self.sender = _Sender(bench, source)

    def apply(self, name: str, msg: Frame) -> Frame:
        self.sender.later(self.after_s, _copy(msg))
        return msg


def _repeat_problems(params: Mapping[str, Any], view: BusView, names: tuple[str, ...]) -> list[Problem]:
    return _offset_problems("after_s", params, view, names,
                            what="the copy would come after the next frame (that is reorder, not repeat)")


@action(validate=_frame_validator(extra=_repeat_problems))
def repeat(bench: Bench, node: str = "", role: str = "", message: str = "", after_s: float = 0.0,
           every_n: int = 1, count: int = 0, duration_s: float = 0.0, rate: float | None = None,
           seed: int = 0) -> None:
    """Send frames twice: the same frame again, counter and checksum unchanged, ``after_s`` later
    (0: right after it), before the sender's next frame."""
    source, names = _targets(bench, node, message, role)
    _refuse(_repeat_problems({"after_s": after_s}, BusView.of(bench), tuple(names)))
    fault = _Repeat(bench, source, names, after_s, every_n, count, rate=rate,
                    rng=pattern_rng(bench, "repeat", names, rate, seed))
    _install(bench, source, fault, duration_s, on_end=fault.sender.cancel)


# -- insertion ----------------------------------------------------------------------------------
class _Insert(_FrameFault):
    """After each picked frame, a rogue frame: the same values, the next counter, a checksum that fits."""

    def __init__(self, bench: Bench, source: FrameSource, names: frozenset[str], after_s: float | None,
                 every_n: int, count: int, **pattern: Any) -> None:
        super().__init__(names, every_n, count, **pattern)
        self.protections: dict[str, Protection | None] = {name: _protection(bench, name) for name in names}
        self.after_s: dict[str, float] = {}
        for name in names:
            cycle = _cycle_s(bench, name)
            if after_s is None and not cycle:
                raise ScenarioError(f'message "{name}" has no cycle time; give after_s to place the frame')
            self.after_s[name] = after_s if after_s is not None else cycle / 2.0   # type: ignore[operator]
        self.sender = _Sender(bench, source)

    def apply(self, name: str, msg: Frame) -> Frame:
        data = bytearray(msg.data)
        protection = self.protections[name]
        if protection is not None and protection.has_counter:
            protection.protect(data, protection.counter(data) + 1)
        self.sender.later(self.after_s[name], frame_with_data(msg, data))
        return msg


def _insert_problems(params: Mapping[str, Any], view: BusView, names: tuple[str, ...]) -> list[Problem]:
    if params.get("after_s") is None:
        return _needs_cycle(names, view, "after_s")
    problems = _offset_problems("after_s", params, view, names,
                                what="the rogue frame would not come before the next real one")
    if not problems and params["after_s"] == 0:
        problems.append(("after_s", "must be > 0: an inserted frame goes between two real ones"))
    return problems


@action(validate=_frame_validator(extra=_insert_problems))
def insert(bench: Bench, node: str = "", role: str = "", message: str = "", after_s: float | None = None,
           every_n: int = 1, count: int = 0, duration_s: float = 0.0, rate: float | None = None,
           seed: int = 0) -> None:
    """Insert an extra valid frame ``after_s`` after each picked frame (default: half a cycle, between it
    and the next real one): the same values with the next alive counter and a checksum that fits, as a
    rogue sender in sequence would send.  An unprotected message gets a plain copy."""
    source, names = _targets(bench, node, message, role)
    _refuse(_insert_problems({"after_s": after_s}, BusView.of(bench), tuple(names)))
    fault = _Insert(bench, source, names, after_s, every_n, count, rate=rate,
                    rng=pattern_rng(bench, "insert", names, rate, seed))
    _install(bench, source, fault, duration_s, on_end=fault.sender.cancel)


# -- masquerade ---------------------------------------------------------------------------------
def _other_message(view: BusView, params: Mapping[str, Any]) -> tuple[str, list[Problem]]:
    """The message ``from_role`` / ``from_message`` names, and the problems with it."""
    from_role, from_message = params.get("from_role", ""), params.get("from_message", "")
    if not (from_role or from_message):
        return "", [("", 'masquerade needs the other message: from_role (e.g. from_role = "gear") or from_message')]
    _, names, problems = frame_targets(view, "", from_message, from_role)
    key = "from_role" if from_role else "from_message"
    problems = [(key if k in ("role", "message") else k, reason) for k, reason in problems]
    return (names[0] if names else ""), problems


def _layout(protection: Protection) -> tuple:
    return tuple(f.bits if f is not None else None for f in (protection.checksum_field, protection.counter_field))


def _data_id_differs(mine: Protection, other: Protection, length: int) -> bool:
    """Whether ``other`` computes another checksum than ``mine`` on some frame (it has a data ID of its own)."""
    for counter in range(min(mine.counter_modulus, 16)):
        payload = mine.protect(bytearray(length), counter)
        if other.compute(payload) != mine.compute(payload):
            return True
    return False


def _incompatible(view: BusView, name: str, other: str, mode: str) -> str:
    """Why ``other`` cannot be passed off as ``name`` in ``mode`` ("" when it can)."""
    mine, theirs = view.codec.message(name), view.codec.message(other)
    if mode == "payload":
        if mine.is_fd != theirs.is_fd or (not mine.is_fd and theirs.length > 8):
            return (f'"{other}" ({"CAN FD" if theirs.is_fd else "classic CAN"}, {theirs.length} bytes) cannot go out '
                    f'under the ID of "{name}"')
        return ""
    if mine.protection is None or not mine.protection.has_checksum:
        return f'message "{name}" carries no checksum: there is no data ID to get wrong'
    if theirs.protection is None or not theirs.protection.has_checksum:
        return f'message "{other}" carries no checksum: it has no data ID to lend'
    if _layout(mine.protection) != _layout(theirs.protection):
        return (f'"{other}" and "{name}" keep counter and checksum in different places; mode = "data_id" needs '
                f"one scheme")
    if not _data_id_differs(mine.protection, theirs.protection, mine.length):
        return f'"{other}" computes the same checksum as "{name}": no data ID tells them apart'
    return ""


def _masquerade_targets(view: BusView, params: Mapping[str, Any], names: tuple[str, ...] | frozenset[str],
                        other: str) -> tuple[list[str], list[Problem]]:
    """The messages the masquerade acts on, and the problems: a node's messages that cannot carry the other
    one's frame are left out (refused only when none can), a role's or message's is refused."""
    key = "from_role" if params.get("from_role") else "from_message"
    mode = params.get("mode", "payload")
    targets = [n for n in names if n != other]
    if not targets:
        return [], [(key, f'"{other}" is the message the fault acts on; a masquerade needs another one')]
    reasons = {n: _incompatible(view, n, other, mode) for n in targets}
    fits = [n for n in targets if not reasons[n]]
    if params.get("node") and not (params.get("role") or params.get("message")):
        if fits:
            return fits, []
        return [], [("node", f'no message of node "{params["node"]}" can carry "{other}" '
                             f'(mode = "{mode}"): {next(iter(reasons.values()))}')]
    return fits, [(key, reason) for reason in reasons.values() if reason]


def _masquerade_problems(params: Mapping[str, Any], view: BusView, names: tuple[str, ...]) -> list[Problem]:
    mode = params.get("mode", "payload")
    if mode not in MASQUERADE_MODES:
        return [("mode", f'must be one of {", ".join(MASQUERADE_MODES)}, got "{mode}"')]
    other, problems = _other_message(view, params)
    if problems or not names:
        return problems
    return _masquerade_targets(view, params, names, other)[1]


class _Masquerade(_FrameFault):
    """``payload``: the picked frame is replaced by the latest frame of ``other`` under this message's ID;
    ``data_id``: its payload and counter stay, its checksum is ``other``'s (another data ID)."""

    def __init__(self, bench: Bench, names: frozenset[str], other: str, mode: str, every_n: int, count: int,
                 **pattern: Any) -> None:
        super().__init__(names - {other}, every_n, count, **pattern)
        self.other = other
        self.mode = mode
        self.other_protection = _protection(bench, other)
        self.mine = {name: _protection(bench, name) for name in self.names}
        self.latest: Frame | None = None

    def record(self, name: str, msg: Frame) -> Frame:
        """The transmit filter on the other message's sender: remember its latest frame, change nothing."""
        if name == self.other:
            self.latest = msg
        return msg

    def __call__(self, name: str, msg: Frame) -> Frame | None:
        if name == self.other:
            return self.record(name, msg)
        return super().__call__(name, msg)

    def apply(self, name: str, msg: Frame) -> Frame:
        if self.mode == "payload":
            if self.latest is None:     # the other message has not been sent yet: nothing to pass off
                return msg
            return frame_with_data(msg, self.latest.data)
        mine, other = self.mine[name], self.other_protection
        data = bytearray(msg.data)
        other.protect(data, mine.counter(data))   # type: ignore[union-attr]
        return frame_with_data(msg, data)


@action(validate=_frame_validator(extra=_masquerade_problems))
def masquerade(bench: Bench, node: str = "", role: str = "", message: str = "", from_role: str = "",
               from_message: str = "", mode: str = "payload", every_n: int = 1, count: int = 0,
               duration_s: float = 0.0, rate: float | None = None, seed: int = 0) -> None:
    """Pass another message off as this one (``from_role``: the message carrying that role; or ``from_message``).

    ``mode = "payload"``: the picked frames are replaced by the other
    message's latest frame (its values, counter and checksum) under this
    message's ID -- a sender with the wrong ID.  ``mode = "data_id"``: the
    frames keep their values and counter but carry the checksum the other
    message's protection computes -- a sender configured with the wrong data ID.
    """
    source, names = _targets(bench, node, message, role)
    view = BusView.of(bench)
    params = {"from_role": from_role, "from_message": from_message, "mode": mode, "node": node, "role": role,
              "message": message}
    _refuse(_masquerade_problems(params, view, tuple(names)))
    other, _ = _other_message(view, params)
    targets, _ = _masquerade_targets(view, {**params, "node": node, "role": role, "message": message}, names, other)
    fault = _Masquerade(bench, frozenset(targets) | {other}, other, mode, every_n, count, rate=rate,
                        rng=pattern_rng(bench, "masquerade", names, rate, seed))
    other_producer, _, _ = frame_targets(view, "", other, "")
    other_source = _source(bench, other_producer)
    if mode == "payload" and other_source is not source:
        _install(bench, other_source, fault.record, duration_s)
    _install(bench, source, fault, duration_s)


# -- incorrect sequence ---------------------------------------------------------------------------
class _Reorder(_FrameFault):
    """Each picked frame is held and sent right after the next frame of its message: the two swap places."""

    def __init__(self, bench: Bench, source: FrameSource, names: frozenset[str], every_n: int, count: int,
                 **pattern: Any) -> None:
        super().__init__(names, every_n, count, **pattern)
        self.clock = bench.clock
        self.port = source.port
        self.held: dict[str, Frame] = {}

    def __call__(self, name: str, msg: Frame) -> Frame | None:
        held = self.held.pop(name, None)
        if held is not None:
            self.clock.call_soon(lambda: self._send(held))   # right after this (the later) frame
            return msg
        return super().__call__(name, msg)

    def apply(self, name: str, msg: Frame) -> None:
        self.held[name] = msg

    def _send(self, msg: Frame) -> None:
        self.port.send(msg)

    def flush(self) -> None:
        """At the end of the fault a held frame is sent at once (late, but not lost)."""
        held, self.held = self.held, {}
        for msg in held.values():
            self._send(msg)


@action(validate=_frame_validator())
def reorder(bench: Bench, node: str = "", role: str = "", message: str = "", every_n: int = 1, count: int = 0,
            duration_s: float = 0.0, rate: float | None = None, seed: int = 0) -> None:
    """Deliver frames out of order: each picked frame is held back and sent right after the next frame of
    its message (``every_n = 1``: every pair of frames swaps places).  Nothing is lost or changed."""
    source, names = _targets(bench, node, message, role)
    fault = _Reorder(bench, source, names, every_n, count, rate=rate,
                     rng=pattern_rng(bench, "reorder", names, rate, seed))
    _install(bench, source, fault, duration_s, on_end=fault.flush)


# -- replay ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Recorded:
    """One frame of a recording: seconds after the recording's first frame, and what it carried."""

    t_s: float
    arbitration_id: int
    is_extended_id: bool
    data: bytes
    is_fd: bool
    bitrate_switch: bool


@functools.lru_cache(maxsize=8)
def _read_recording(path: str, mtime_ns: int, size: int) -> tuple[_Recorded, ...]:
    """Every data frame of a recording, read with python-can's reader for its suffix (cached per file version)."""
    frames: list[_Recorded] = []
    first: float | None = None
    for msg in read_log(path):
        if msg.is_error_frame or msg.is_remote_frame:
            continue
        first = msg.timestamp if first is None else first
        frames.append(_Recorded(msg.timestamp - first, msg.arbitration_id, bool(msg.is_extended_id),
                                bytes(msg.data), bool(msg.is_fd), bool(msg.bitrate_switch)))
    return tuple(frames)


def recording(file: str) -> tuple[_Recorded, ...]:
    """The frames of the recording ``file`` (relative paths from the current folder).

    Raises:
        ScenarioError: no such file, or python-can cannot read it.
    """
    path = Path(file).expanduser()
    try:
        stat = path.stat()
    except OSError as exc:
        raise ScenarioError(f'cannot read the recording "{file}": {exc.strerror}') from None
    try:
        return _read_recording(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    except ScenarioError:
        raise
    except Exception as exc:  # noqa: BLE001  (python-can's readers raise many types for a bad file)
        raise ScenarioError(f'cannot read the recording "{file}" with python-can: {exc}') from None


def _ids(view: BusView, names: tuple[str, ...] | frozenset[str]) -> set[tuple[int, bool]]:
    return {(view.codec.message(n).frame_id, view.codec.message(n).is_extended_id) for n in names}


def _replay_frames(view: BusView, file: str, names: tuple[str, ...] | frozenset[str],
                   from_s: float) -> list[_Recorded]:
    ids = _ids(view, names)
    return [f for f in recording(file) if (f.arbitration_id, f.is_extended_id) in ids and f.t_s >= from_s]


def _replay_validator(params: Mapping[str, Any], view: BusView) -> list[Problem]:
    problems = _duration_problems(params) + _duration_problems(params, "from_s")
    _, names, target_problems = frame_targets(view, params.get("node", ""), params.get("message", ""),
                                              params.get("role", ""))
    problems.extend(target_problems)
    file = params.get("file", "")
    if not file:
        return problems + [("file", "needs the recording to replay (a candump .log, or any log python-can reads)")]
    try:
        frames = _replay_frames(view, file, names, params.get("from_s", 0.0)) if names else None
    except ScenarioError as exc:
        return problems + [("file", str(exc))]
    if frames is not None and not frames:
        after = f" from {params['from_s']:g} s on" if params.get("from_s") else ""
        problems.append(("file", f'"{file}" holds no frame of {", ".join(sorted(names))}{after}'))
    return problems


class _Replay:
    """Sends recorded frames at their recorded spacing; while it runs the node's own frames of the same
    messages are held off the bus (unless ``alongside``)."""

    def __init__(self, bench: Bench, source: FrameSource, names: frozenset[str], frames: list[_Recorded],
                 loop: bool, alongside: bool) -> None:
        self.clock = bench.clock
        self.port = source.port
        self.source = source
        self.names = names
        self.frames = frames
        self.loop = loop
        self.alongside = alongside
        self.sent = 0
        first = frames[0].t_s
        self.offsets = [f.t_s - first for f in frames]
        gaps = [b - a for a, b in zip(self.offsets, self.offsets[1:]) if b > a]
        self.period_s = self.offsets[-1] + (min(gaps) if gaps else 0.1)   # one pass, and the gap before the next
        self.start_s = bench.clock.now
        self.index = 0
        self.task: Task | None = None
        self.done = False

    def suppress(self, name: str, msg: Frame) -> Frame | None:
        """The transmit filter on the node: its own frames of the replayed messages stay off the bus."""
        return None if name in self.names else msg

    def start(self) -> None:
        if not self.alongside:
            self.source.tx_filters.append(self.suppress)
        self.task = self.clock.call_at(self.start_s, self._next)

    def _next(self) -> None:
        if self.done:
            return
        f = self.frames[self.index]
        msg = Frame(arbitration_id=f.arbitration_id, is_extended_id=f.is_extended_id, data=bytearray(f.data),
                          is_fd=f.is_fd, bitrate_switch=f.bitrate_switch, check=False)
        if self.port.send(msg):
            self.sent += 1
        self.index += 1
        if self.index == len(self.frames):
            if not self.loop:
                self.stop()
                return
            self.index = 0
            self.start_s += self.period_s
        self.task = self.clock.call_at(self.start_s + self.offsets[self.index], self._next)

    def stop(self) -> None:
        """End the replay: nothing more is sent, and the node's own frames come back."""
        self.done = True
        if self.task is not None:
            self.task.cancel()
        if self.suppress in self.source.tx_filters:
            self.source.tx_filters.remove(self.suppress)


@action(validate=_replay_validator)
def replay(bench: Bench, file: str, node: str = "", role: str = "", message: str = "", from_s: float = 0.0,
           loop: bool = False, alongside: bool = False, duration_s: float = 0.0) -> None:
    """Send a recorded stream onto the bus as the node: the frames of its messages (or of the ``role``'s or
    ``message``'s alone) in ``file``, from ``from_s`` seconds into the recording on, at their recorded spacing.

    ``file`` is any log python-can reads (a candump ``.log``, ``.asc``,
    ``.blf``, ...); a relative path is taken from the current folder.  While
    the replay runs, the node's own frames of those messages stay off the bus
    (``alongside = true``: both go out, as with a second sender).  It ends
    when the recording does (``loop = true``: it starts over) or after
    ``duration_s``; then the node's own frames come back.
    """
    source, names = _targets(bench, node, message, role)
    view = BusView.of(bench)
    _refuse(_replay_validator({"file": file, "node": node, "role": role, "message": message, "from_s": from_s,
                               "duration_s": duration_s}, view))
    frames = _replay_frames(view, file, names, from_s)
    player = _Replay(bench, source, names, frames, loop, alongside)
    player.start()
    if duration_s > 0:
        bench.clock.call_later(duration_s, player.stop)


__all__ = ["MASQUERADE_MODES", "insert", "masquerade", "recording", "reorder", "repeat", "replay"]
