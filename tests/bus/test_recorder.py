"""Recorder: a can.Listener writing every frame with python-can's writers, flushed, never lossy."""

from __future__ import annotations

from pathlib import Path

import can
import pytest

from hilbench.bus import BusPort, Recorder, count_frames
from hilbench.clock import SimClock
from hilbench.errors import BusError

SUFFIXES = (".blf", ".log", ".asc")


def _frames(n: int) -> list[can.Message]:
    out = []
    for i in range(n):
        fd = i % 5 == 0
        out.append(can.Message(
            timestamp=1_767_225_600.0 + i * 0.01, arbitration_id=0x100 + i % 7,
            data=bytes((i + k) & 0xFF for k in range(64 if fd else 8)),
            is_extended_id=False, is_fd=fd, bitrate_switch=fd, channel="bench",
        ))
    return out


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_frame_handed_to_the_recorder_is_in_the_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"rec{suffix}"
    frames = _frames(2_500)
    with Recorder(path) as rec:
        for msg in frames:
            rec(msg)
        assert rec.frames_written == len(frames)
    assert count_frames(path) == len(frames)
    with can.LogReader(str(path)) as reader:
        back = list(reader)
    assert [m.arbitration_id for m in back] == [m.arbitration_id for m in frames]
    assert [bytes(m.data) for m in back] == [bytes(m.data) for m in frames]
    assert [m.is_fd for m in back] == [m.is_fd for m in frames]


@pytest.mark.parametrize("suffix", [".log", ".blf"])
def test_absolute_timestamps_survive_the_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"ts{suffix}"
    frames = _frames(50)
    with Recorder(path) as rec:
        for msg in frames:
            rec(msg)
    with can.LogReader(str(path)) as reader:
        back = [m.timestamp for m in reader]
    assert back == pytest.approx([m.timestamp for m in frames], abs=1e-5)


@pytest.mark.parametrize("suffix", [".log", ".asc"])
def test_line_oriented_recordings_are_flushed_while_running(tmp_path: Path, suffix: str) -> None:
    """A killed process loses at most ``flush_every`` frames of a .log/.asc recording."""
    path = tmp_path / f"live{suffix}"
    rec = Recorder(path, flush_every=10)
    try:
        for msg in _frames(105):
            rec(msg)
        on_disk = path.read_text(encoding="utf-8", errors="replace")
        frame_lines = sum(1 for line in on_disk.splitlines() if "#" in line or " Rx " in line
                          or "CANFD" in line)
        assert frame_lines >= 100
    finally:
        rec.stop()


def test_a_frame_after_stop_is_an_error_not_a_silent_loss(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "x.log")
    rec.stop()
    rec.stop()                               # idempotent
    with pytest.raises(BusError, match="after the recording was stopped"):
        rec(_frames(1)[0])


def test_unknown_suffix_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.nope"
    with pytest.raises(BusError) as info:
        Recorder(path)
    assert str(path) in str(info.value)


def test_recorder_as_a_bus_port_tap_sees_both_directions(tmp_path: Path) -> None:
    clock = SimClock()
    path = tmp_path / "port.log"
    with can.Bus(interface="simtime", channel="t-rec", clock=clock) as a, \
            can.Bus(interface="simtime", channel="t-rec", clock=clock) as b, Recorder(path) as rec:
        port = BusPort(a, clock=clock)
        port.add_tap(rec)
        clock.add_idle_hook(port.poll)
        clock.call_every(0.1, lambda: port.send(can.Message(arbitration_id=0x10, data=b"\x01",
                                                             is_extended_id=False)))
        clock.call_every(0.25, lambda: b.send(can.Message(arbitration_id=0x20, data=b"\x02",
                                                          is_extended_id=False)))
        clock.run_until(1.0)
        assert port.sent == 11 and port.received == 5
    with can.LogReader(str(path)) as reader:
        back = list(reader)
    assert sorted(m.arbitration_id for m in back) == [0x10] * 11 + [0x20] * 5
    assert [m.timestamp for m in back] == sorted(m.timestamp for m in back)
