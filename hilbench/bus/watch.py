"""Per-message view of the bus, as ``can.viewer`` and ``cantools monitor`` show it.

A tap on the rest-bus port that keeps, per frame ID, how many frames came and the last two of
them -- nothing else on the per-frame path, which runs ~40,000 times a second.  Everything a
viewer shows (name and senders from the DBC, rate against the DBC cycle, bytes changed since
the previous frame, decoded signals, E2E state) is worked out when :meth:`FrameWatch.rows` is
asked, for the few dozen IDs on the bus, and handed over as frozen plain values that another
thread (the TUI's) may keep.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import can

from .codec import BenchCodec, MessageCodec
from .monitor import BusMonitor
from .port import BusPort


@dataclass(frozen=True)
class WatchedMessage:
    """One frame ID as the watch saw it: counts, timing, the last payload, decoded (plain values only).

    Times are seconds on the bench's clock (from its epoch).  ``name`` is None for an ID no loaded DBC
    defines; then ``senders`` is empty and ``signals`` too.  ``error`` says why the last payload did not
    decode (``signals`` is then empty).  ``e2e_state`` (an :class:`~.e2e.E2EStatus` value: NODATA, INIT,
    VALID, INVALID) and ``e2e_errors`` are None for a message the bench does not E2E-check.
    """

    frame_id: int
    extended: bool
    is_fd: bool
    name: str | None
    senders: tuple[str, ...]
    count: int
    #: Frames per second over everything seen (from the mean period); None before the second frame.
    rate_hz: float | None
    #: The DBC's (or the signal map's) cycle time; None when neither gives one.
    cycle_time_s: float | None
    #: Last arrival minus the one before; None before the second frame.
    last_dt_s: float | None
    last_s: float
    data: bytes
    #: Indices of the bytes of ``data`` that differ from the previous frame (a length change counts
    #: every byte past the shorter one); empty for the first frame.
    changed: tuple[int, ...]
    signals: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None
    e2e_state: str | None = None
    e2e_errors: int | None = None

    @property
    def key(self) -> str:
        """A stable text key for the ID and its width (``"s100"``, ``"x18FF50E5"``): a table's row key."""
        return f"{'x' if self.extended else 's'}{self.frame_id:X}"

    @property
    def expected_rate_hz(self) -> float | None:
        """1 / the cycle time, or None when the message has none."""
        return 1.0 / self.cycle_time_s if self.cycle_time_s else None


class _Record:
    """What the tap keeps of one ID: a count, the first arrival, and the last two frames themselves."""

    __slots__ = ("count", "decoded", "decoded_for", "first_s", "last", "prev")

    def __init__(self, msg: can.Message) -> None:
        self.count = 1
        self.first_s: float = msg.timestamp
        self.last: can.Message = msg
        self.prev: can.Message | None = None
        # The last decode rows() made, and of which payload: a parked car's frames repeat a lot.
        self.decoded_for: bytes | None = None
        self.decoded: tuple[dict[str, float], str | None] = ({}, None)


class _BenchLike(Protocol):
    """What :meth:`FrameWatch.attach` needs of a bench (the bus layer does not import the bench)."""

    codec: BenchCodec
    epoch_s: float
    monitor: BusMonitor
    restbus: BusPort


class FrameWatch:
    """Counts every frame per (ID, ID width) and keeps its last two; :meth:`rows` makes a viewer's rows.

    Call it with each frame (a tap: ``port.add_tap(watch)``, or :meth:`attach` on a bench).  It never
    decodes on the per-frame path, never sends and never raises for a bad payload: an undecodable one
    shows as an ``error`` in its row.
    """

    def __init__(self, codec: BenchCodec, *, epoch_s: float = 0.0, monitor: BusMonitor | None = None) -> None:
        """``monitor``: the bench's monitor, for the E2E state of checked messages (and its epoch, which
        the bench moves at a wall-time start); without it rows carry no E2E figures and times are from
        ``epoch_s``."""
        self.codec = codec
        self.monitor = monitor
        self._epoch_s = epoch_s
        # Records by frame ID, indexed by ``is_extended_id`` (the monitor's layout: an int key per
        # frame is cheaper than an ``(id, extended)`` tuple).
        self._records: tuple[dict[int, _Record], dict[int, _Record]] = ({}, {})

    @classmethod
    def attach(cls, bench: _BenchLike) -> FrameWatch:
        """A watch on ``bench``'s rest-bus port, with its codec, epoch and monitor, tapping from now on."""
        watch = cls(bench.codec, epoch_s=bench.epoch_s, monitor=bench.monitor)
        # The bound method, not the instance: Python calls it ~40 ns sooner per frame (an instance's
        # __call__ is found through its type on every call), a third of the tap's cost.
        bench.restbus.add_tap(watch.__call__)
        return watch

    @property
    def epoch_s(self) -> float:
        """Time zero of the bench's clock (the monitor's when there is one: the bench keeps it current)."""
        return self.monitor.epoch_s if self.monitor is not None else self._epoch_s

    def __call__(self, msg: can.Message) -> None:
        """Take one frame: count it and keep it as the latest (the one before becomes the previous)."""
        try:
            record = self._records[msg.is_extended_id][msg.arbitration_id]
        except KeyError:   # once per ID: cheaper than a .get() and a None test on every frame
            self._records[msg.is_extended_id][msg.arbitration_id] = _Record(msg)
            return
        record.count += 1
        record.prev = record.last
        record.last = msg

    @property
    def frames(self) -> int:
        """Every frame seen."""
        return sum(r.count for records in self._records for r in list(records.values()))

    def rows(self) -> list[WatchedMessage]:
        """One row per ID seen, by ID (standard IDs first), worked out now from the last two frames.

        Safe to call while the tap runs on another thread: the records are copied first, and a row
        holds only plain values.
        """
        epoch_s = self.epoch_s
        out = []
        for extended, records in enumerate(self._records):
            for frame_id, record in sorted(list(records.items())):
                out.append(self._row(frame_id, bool(extended), record, epoch_s))
        return out

    def _row(self, frame_id: int, extended: bool, record: _Record, epoch_s: float) -> WatchedMessage:
        # Read the record's fields once: the tap may move them on under us.
        count, last, prev = record.count, record.last, record.prev
        if prev is last:
            prev = None   # a sender that sent the same object again (its data and time are the latest)
        data = bytes(last.data)
        last_s = last.timestamp
        rate_hz = (count - 1) / (last_s - record.first_s) if count > 1 and last_s > record.first_s else None
        changed: tuple[int, ...] = ()
        last_dt_s = None
        if prev is not None:
            last_dt_s = last_s - prev.timestamp
            changed = changed_bytes(bytes(prev.data), data)
        codec_msg = self.codec.by_id.get((frame_id, extended))
        if codec_msg is None:
            return WatchedMessage(frame_id, extended, bool(last.is_fd), None, (), count, rate_hz, None, last_dt_s,
                                  last_s - epoch_s, data, changed)
        if record.decoded_for != data:
            record.decoded = _decode(codec_msg, data)
            record.decoded_for = data
        signals, error = record.decoded
        e2e_state = e2e_errors = None
        receiver = self.monitor.e2e_receiver(codec_msg.name) if self.monitor is not None else None
        if receiver is not None:
            e2e_state = receiver.status.value
            e2e_errors = sum(receiver.errors.values())
        return WatchedMessage(frame_id, extended, bool(last.is_fd), codec_msg.name,
                              tuple(codec_msg.message.senders or ()), count, rate_hz, codec_msg.cycle_time_s,
                              last_dt_s, last_s - epoch_s, data, changed, dict(signals), error, e2e_state,
                              e2e_errors)


def changed_bytes(previous: bytes, latest: bytes) -> tuple[int, ...]:
    """Indices of the bytes of ``latest`` that differ from ``previous``; bytes past the shorter payload count."""
    common = min(len(previous), len(latest))
    changed = [i for i in range(common) if previous[i] != latest[i]]
    changed.extend(range(common, len(latest)))
    return tuple(changed)


def _decode(codec_msg: MessageCodec, data: bytes) -> tuple[dict[str, float], str | None]:
    """Every DBC signal of ``data``, or no signals and the reason it does not decode (never raises)."""
    try:
        return codec_msg.decode_signals(data), None
    except Exception as exc:  # cantools raises several types for a malformed payload
        return {}, f"cannot decode {codec_msg.name} ({len(data)} bytes, expected {codec_msg.length}): {exc}"
