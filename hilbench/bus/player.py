"""A recording played onto a bus as a node (frames at their recorded spacing, scaled, filtered), and a bus
recorded to a file.

``hilbench replay FILE --interface ... --channel ...`` uses it: a field capture, or a bench's own
recording, becomes traffic on a real or virtual bus for a real ECU to hear.  The timing comes from
the bench's wall clock (``WallClock(speed=...)``), so a frame recorded t seconds after the first
goes out t / speed seconds after the start, whatever the sends cost.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..clock import US_PER_S, Clock, StopRequest, WallClock, seconds_to_us
from .frames import Frame
from .open import BusConfig, close_bus, open_port
from .recorder import read_recording


@dataclass
class Played:
    """What a play put on the bus."""

    sent: int = 0
    skipped: int = 0          # frames the filter left out
    failed: int = 0           # sends the bus refused (counted, not fatal: a bus can be off)
    recorded_s: float = 0.0   # the recording's span played (s, as recorded)


def schedule_frames(clock: Clock, frames: Iterator[Frame], zero_s: float,
                    handle: Callable[[Frame], None]) -> Callable[[], bool]:
    """Hand each of ``frames`` to ``handle`` at ``timestamp - zero_s`` on ``clock``; stop the clock after the last.

    One task at a time is scheduled (the next frame's), so a recording of millions of frames
    costs one pending event, not millions.  Returns a function that says whether frames remain.
    """
    pending: list[Frame | None] = [next(frames, None)]

    def pump() -> None:
        """Hand over every frame due now, then wake at the next one's time."""
        msg = pending[0]
        while msg is not None:
            due_us = seconds_to_us(msg.timestamp - zero_s)
            if due_us > clock.now_us:
                clock.call_at(due_us / US_PER_S, pump)
                return
            handle(msg)
            msg = pending[0] = next(frames, None)
        clock.stop()    # the recording is over: so is its play

    clock.call_at(0.0, pump)
    return lambda: pending[0] is not None


def play(path: Path, bus: BusConfig, *, speed: float = 1.0, keep: Callable[[Frame], bool] | None = None,
         stop: StopRequest | None = None) -> Played:
    """Send the frames of ``path`` that ``keep`` takes onto ``bus`` at their recorded spacing / ``speed``.

    Raises:
        BusError: the recording cannot be read, or the bus cannot be opened or is lost.
        ValueError: ``speed`` not > 0.
    """
    frames = read_recording(path)
    first = next(frames, None)   # before the bus opens: an unreadable recording leaves no bus open
    first_s = first.timestamp if first is not None else 0.0
    clock = WallClock(speed=speed)
    port = open_port(bus, clock)
    played = Played()

    def send(msg: Frame) -> None:
        played.recorded_s = msg.timestamp - first_s   # before the send, which stamps the frame anew
        if keep is None or keep(msg):
            played.sent += port.send(msg)
        else:
            played.skipped += 1

    try:
        clock.rebase()
        if stop is not None:
            stop.bind(clock)
        remaining = schedule_frames(clock, itertools.chain([first] if first is not None else [], frames),
                                    first_s, send)
        while remaining() and not (stop is not None and stop.requested):
            clock.run_until(clock.now + 60.0)
        played.failed = port.send_errors + sum(port.refused_by_link.values())
    finally:
        if stop is not None:
            stop.bind(None)
        close_bus(port.bus)
    return played


def record(bus: BusConfig, path: Path, *, duration_s: float | None = None,
           stop: StopRequest | None = None) -> int:
    """Write every frame heard on ``bus`` to ``path`` (python-can's writer for its suffix, plus the
    candump ``.log`` primary beside it) for ``duration_s`` wall seconds, or until ``stop``; the count.

    Raises:
        BusError: the file cannot be written, or the bus cannot be opened or is lost (what was heard
            until then is kept).
    """
    from .recorder import Recorder

    recorder = Recorder(path)   # first: a format python-can cannot write is refused before the bus opens
    clock = WallClock()
    try:
        port = open_port(bus, clock)
    except BaseException:
        recorder.stop()
        for written in recorder.paths:
            written.unlink(missing_ok=True)   # nothing was heard: leave no empty recording behind
        raise
    heard = [0]

    def keep(msg: Frame) -> None:
        heard[0] += 1
        recorder.on_message_received(msg)

    port.add_tap(keep)
    try:
        clock.rebase()
        if stop is not None:
            stop.bind(clock)
        while not (stop is not None and stop.requested):
            left_s = None if duration_s is None else duration_s - clock.now
            if left_s is not None and left_s <= 0.0:
                break
            clock.run_until(clock.now + (1.0 if left_s is None else min(1.0, left_s)))
    finally:
        if stop is not None:
            stop.bind(None)
        try:
            recorder.stop()
        finally:
            close_bus(port.bus)
    return heard[0]
