"""The bench's view of the bus: every frame decoded, timed and checked.

A tap on the rest-bus port: it decodes every frame through the signal map,
keeps a time series per role for checks and plots, measures each message's
period against its DBC cycle time, runs the E2E receiver checks, and counts
(without failing) frames it cannot decode or does not know.  IDs the signal
map says to expect on this bus (``[bus] ignore_ids``) are counted apart, so a
real car's diagnostic traffic does not read as unknown.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import can
import numpy as np

from .codec import BenchCodec
from .e2e import E2EReceiver
from .simtime import DEFAULT_EPOCH_S

log = logging.getLogger(__name__)


@dataclass
class MessageStats:
    """Timing of one message as the monitor saw it (seconds on the bench's clock, from its epoch).

    ``min_gap_s`` is infinite until two frames arrived; compare gaps and the mean period with
    ``cycle_time_s`` (None when the DBC and map give no cycle time).
    """

    name: str
    frame_id: int
    cycle_time_s: float | None
    count: int = 0
    first_s: float = 0.0
    last_s: float = 0.0
    min_gap_s: float = float("inf")
    max_gap_s: float = 0.0
    e2e_errors: int = 0

    @property
    def mean_period_s(self) -> float | None:
        """Mean time between frames (s) over everything seen, or None before the second frame."""
        if self.count < 2:
            return None
        return (self.last_s - self.first_s) / (self.count - 1)


class _StatsView(Mapping[str, MessageStats]):
    """Per-message timing, computed from the stored arrival times when asked.

    Keeping only the times on the hot path (one append per frame) and working
    out counts, periods and gaps on demand keeps the monitor cheap per frame.
    """

    def __init__(self, monitor: BusMonitor) -> None:
        self._monitor = monitor

    def __getitem__(self, name: str) -> MessageStats:
        codec_msg = self._monitor.codec.by_name[name]
        times = np.frombuffer(self._monitor._times[name], dtype=float)
        stats = MessageStats(name, codec_msg.frame_id, codec_msg.cycle_time_s,
                             e2e_errors=self._monitor._e2e_errors[name])
        if len(times):
            stats.count = len(times)
            stats.first_s = float(times[0])
            stats.last_s = float(times[-1])
        if len(times) > 1:
            gaps = np.diff(times)
            stats.min_gap_s = float(gaps.min())
            stats.max_gap_s = float(gaps.max())
        return stats

    def __iter__(self) -> Iterator[str]:
        return iter(self._monitor._times)

    def __len__(self) -> int:
        return len(self._monitor._times)


class _Series:
    """Values of one role; its times are those of its message (shared, see ``_Track``)."""

    __slots__ = ("index", "states", "times", "v")

    def __init__(self, times: array, states: tuple[str, ...]) -> None:
        self.times = times
        self.v = array("d")
        self.states = states
        self.index = {state: float(i) for i, state in enumerate(states)}


class _Track:
    """One message as the monitor follows it: arrival times, and decoded frames not yet
    spread into their roles' series.

    The hot path appends one reference per frame (the codec's cached role dict, or
    None for a frame whose values are not to be trusted) and nothing else: the last
    good frame (for ``latest`` and ``last_valid_s``) is found from these rows when
    asked, and :meth:`flush` turns a batch into per-role values with list
    comprehensions, much cheaper than a Python loop over every role of every
    frame.  Batches are bounded, so memory is too.
    """

    __slots__ = ("clean", "codec", "last_roles", "last_s", "name", "paged", "receiver", "rows", "slots", "spread",
                 "times")

    def __init__(self, codec_msg, receiver: E2EReceiver | None, times: array,
                 slots: tuple[tuple[str, array, dict[str, float] | None], ...], keep_traces: bool) -> None:
        self.codec = codec_msg
        self.name = codec_msg.name
        self.receiver = receiver
        self.times = times
        self.slots = slots
        #: Frames not yet flushed, in order: the last ``len(rows)`` of ``times``.
        self.rows: list[Mapping[str, object] | None] = []
        self.spread = bool(slots) and keep_traces   # whether flushing fills role series
        #: A multiplexed message whose frames each carry only some of its roles (one page).
        self.paged = bool(codec_msg.pages)
        self.clean = not self.paged   # no None row (and no partial one) in the pending batch
        #: The last good frame among those already flushed: its time and roles.
        self.last_s: float | None = None
        self.last_roles: Mapping[str, object] | None = None

    def last_good(self) -> tuple[float | None, Mapping[str, object] | None]:
        """Time and roles of the last frame that decoded with a good CRC, or (None, None)."""
        rows = self.rows
        for i in range(len(rows) - 1, -1, -1):
            if rows[i] is not None:
                return self.times[len(self.times) - len(rows) + i], rows[i]
        return self.last_s, self.last_roles

    def latest(self, role: str) -> object:
        """The last good value of ``role`` (raises KeyError if none arrived yet)."""
        if self.paged:
            rows = self.rows
            for i in range(len(rows) - 1, -1, -1):
                row = rows[i]
                if row is not None and role in row:
                    return row[role]
        roles = self.last_good()[1]
        if roles is None or role not in roles:
            raise KeyError(role)
        return roles[role]

    def flush(self) -> None:
        rows = self.rows
        if not rows:
            return
        if self.paged:
            # Pages carry different roles: keep the last value of every role, not the last page.
            merged = dict(self.last_roles or {})
            last_s = self.last_s
            start = len(self.times) - len(rows)
            for i, row in enumerate(rows):
                if row is not None:
                    merged.update(row)
                    last_s = self.times[start + i]
            self.last_s, self.last_roles = last_s, merged
        else:
            self.last_s, self.last_roles = self.last_good()
        if self.spread:
            self._spread(rows)
        rows.clear()
        self.clean = not self.paged

    def _spread(self, rows: list[Mapping[str, object] | None]) -> None:
        for role, values, index in self.slots:
            if self.clean:
                if index is None:
                    values.extend([row[role] for row in rows])  # type: ignore[index]
                else:
                    get = index.get
                    values.extend([get(row[role], -1.0) for row in rows])  # type: ignore[index, arg-type]
                continue
            # A corrupted or undecodable frame (or another page) holds the role's last good value.
            last = values[-1] if values else float("nan")
            out = []
            for row in rows:
                if row is not None and role in row:
                    value = row[role]
                    last = value if index is None else index.get(value, -1.0)  # type: ignore[call-overload]
                out.append(last)
            values.extend(out)


class _LatestView(Mapping[str, object]):
    """The last good value of each role, read from the last good frame of its message."""

    def __init__(self, tracks: dict[str, _Track], track_of: dict[str, _Track]) -> None:
        self._tracks = tracks
        self._track_of = track_of

    def __getitem__(self, role: str) -> object:
        track = self._track_of.get(role)
        if track is None:
            raise KeyError(role)
        return track.latest(role)

    def __iter__(self) -> Iterator[str]:
        for track in list(self._tracks.values()):
            if track.paged:
                yield from (role for role, _values, _index in track.slots if role in self._known(track, role))
                continue
            roles = track.last_good()[1]
            if roles:
                yield from roles

    @staticmethod
    def _known(track: _Track, role: str) -> tuple[str, ...]:
        try:
            track.latest(role)
        except KeyError:
            return ()
        return (role,)

    def __len__(self) -> int:
        return sum(1 for _ in self)


#: Frames per message held before they are spread into role series.
FLUSH_FRAMES = 2048


class BusMonitor:
    """The bench's tap on the bus: decodes, times and E2E-checks every frame, never sends.

    Call it with each frame (a python-can listener); read role traces with :meth:`trace`, the latest
    good values from :attr:`latest` and per-message timing from :attr:`stats`.  Frames it cannot
    decode or does not know are counted, not raised.
    """

    def __init__(self, codec: BenchCodec, *, epoch_s: float = DEFAULT_EPOCH_S,
                 keep_traces: bool = True) -> None:
        self.codec = codec
        self.epoch_s = epoch_s
        self.keep_traces = keep_traces
        self.unknown_frames = 0
        #: Frames with IDs in no DBC that the signal map says to expect (``[bus] ignore_ids``).
        self.ignored_frames = 0
        self.decode_errors = 0
        self.unknown_ids: dict[int, int] = {}
        self.stats = _StatsView(self)
        self._times: dict[str, array] = {}
        self._e2e_errors: dict[str, int] = {}
        self._series: dict[str, _Series] = {}
        self._tracks: dict[str, _Track] = {}
        # Tracks by frame ID for standard and extended IDs, indexed by ``is_extended_id``
        # (int keys: cheaper per frame than ``(id, extended)`` tuples).
        self._handlers: tuple[dict[int, _Track], dict[int, _Track]] = ({}, {})
        track_of: dict[str, _Track] = {}
        for codec_msg in codec.by_name.values():
            receiver = codec_msg.new_receiver()
            times = self._times[codec_msg.name] = array("d")
            self._e2e_errors[codec_msg.name] = 0
            slots = []
            for slot in codec_msg.slots:
                series = _Series(times, codec.signal_map.roles[slot.role].role.states)
                self._series[slot.role] = series
                slots.append((slot.role, series.v, series.index if series.states else None))
            track = _Track(codec_msg, receiver, times, tuple(slots), keep_traces)
            for slot in codec_msg.slots:
                track_of[slot.role] = track
            self._tracks[codec_msg.name] = track
            self._handlers[codec_msg.is_extended_id][codec_msg.frame_id] = track
        #: Last good value of every role seen (read-only view).
        self.latest: Mapping[str, object] = _LatestView(self._tracks, track_of)

    @property
    def frames(self) -> int:
        """Every frame seen, known or not."""
        return sum(len(t) for t in self._times.values()) + self.unknown_frames + self.ignored_frames

    def __call__(self, msg: can.Message) -> None:
        """Take one received frame: store its time and roles, check its E2E, count what is wrong.

        Never raises for a bad payload: an undecodable or corrupted frame keeps its place in time and
        its values are dropped (the traces hold the last good ones).
        """
        track = self._handlers[msg.is_extended_id].get(msg.arbitration_id)
        if track is None:
            if self.codec.signal_map.ignores_id(msg.arbitration_id):
                self.ignored_frames += 1
                return
            self.unknown_frames += 1
            self.unknown_ids[msg.arbitration_id] = self.unknown_ids.get(msg.arbitration_id, 0) + 1
            return
        track.times.append(msg.timestamp - self.epoch_s)
        data = msg.data
        rows = track.rows
        try:
            roles, crc_ok = track.codec.receive(data)
        except Exception as exc:  # cantools raises several types for malformed payloads
            self.decode_errors += 1
            log.warning("cannot decode %s (0x%X) data=%s: %s", track.name, msg.arbitration_id,
                        bytes(data).hex(), exc)
            roles, crc_ok = None, False
        else:
            receiver = track.receiver
            if receiver is not None and receiver.check(data, crc_ok) is not None:
                self._e2e_errors[track.name] += 1
        if crc_ok:
            rows.append(roles)
        else:
            # An undecodable or corrupted payload's values are noise: it keeps its place in
            # time, and the traces hold the last good values, as a receiver would
            # (repeated or skipped counters still carry good data).
            rows.append(None)
            track.clean = False
        if len(rows) >= FLUSH_FRAMES:
            track.flush()

    def trace(self, role: str, since: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Times (s) and values of a role; enumerated roles as indices into their states.

        ``since``: skip the first ``since`` samples (a front end reading only what is new).
        """
        self._tracks[self.codec.signal_map.roles[role].message].flush()
        series = self._series[role]
        n = len(series.v)
        since = min(max(0, since), n)
        return (np.frombuffer(series.times, dtype=float)[since:n].copy(),
                np.frombuffer(series.v, dtype=float)[since:n].copy())

    def arrival_times(self, message: str) -> np.ndarray:
        """When each frame of ``message`` arrived (s on the bench's clock), in order; empty for an unknown name."""
        times = self._times.get(message)
        return np.frombuffer(times, dtype=float).copy() if times is not None else np.empty(0)

    def last_valid_s(self, message: str) -> float | None:
        """When ``message`` last arrived decodable with a good CRC (s), or None if never."""
        track = self._tracks.get(message)
        return track.last_good()[0] if track is not None else None

    def e2e_receiver(self, message: str) -> E2EReceiver | None:
        """The E2E receiver checking ``message`` (read its ``status`` and ``errors``; never call ``check``),
        or None for an unprotected or unknown message."""
        track = self._tracks.get(message)
        return track.receiver if track is not None else None

    def states_of(self, role: str) -> tuple[str, ...]:
        """State names of an enumerated role, indexed by the values :meth:`trace` returns for it."""
        return self._series[role].states

    @property
    def e2e_errors(self) -> int:
        """Frames that failed their E2E check (CRC, counter or length), over all messages."""
        return sum(self._e2e_errors.values())
