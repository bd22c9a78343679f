"""Recorder: every frame in python-can's formats, a candump primary beside, intact on every exit;
recordings read back up to what a killed writer left complete."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import can
import pytest
from can.io.blf import FILE_HEADER_STRUCT

from hilbench.bus import BusPort, Recorder, count_frames
from hilbench.bus.recorder import FLUSH_INTERVAL_S, primary_log_path, read_recording
from hilbench.clock import SimClock
from hilbench.errors import BusError

SUFFIXES = (".blf", ".log", ".asc")
#: Frames that fill a bit more than two BLF containers (python-can: 128 KiB uncompressed each).
TWO_CONTAINERS = 6_000


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


def _key(msg: can.Message) -> tuple:
    return (round(msg.timestamp, 5), msg.arbitration_id, msg.is_extended_id, msg.is_fd, bytes(msg.data))


def _keys(path: Path) -> list[tuple]:
    return [_key(m) for m in read_recording(path)]


#: Reading back a recording of a few thousand frames takes well under a second; past this it hangs.
HANG_S = 10.0


def _keys_within(path: Path, seconds: float = HANG_S) -> list[tuple]:
    """:func:`_keys` in a thread that must finish within ``seconds``: a reader that hangs fails
    the test instead of holding it forever (the daemon thread is left behind)."""
    outcome: list = []

    def read() -> None:
        try:
            outcome.append(_keys(path))
        except BaseException as exc:   # noqa: BLE001 - handed back to the test
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(seconds)
    assert not reader.is_alive(), f"{path}: reading it back did not end within {seconds} s"
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_frame_handed_to_the_recorder_is_in_the_file_and_in_its_primary(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"rec{suffix}"
    frames = _frames(2_500)
    with Recorder(path) as rec:
        for msg in frames:
            rec(msg)
        assert rec.frames_written == len(frames)
    assert rec.paths == ([path] if suffix == ".log" else [path, tmp_path / "rec.log"])
    for written in rec.paths:
        assert count_frames(written) == len(frames)
        back = list(read_recording(written))
        if written.suffix == ".asc":   # ASC keeps time relative to its start
            for m in back:
                m.timestamp += frames[0].timestamp
        assert [_key(m) for m in back] == [_key(m) for m in frames], written


def test_the_primary_can_be_left_out(tmp_path: Path) -> None:
    with Recorder(tmp_path / "only.blf", primary=False) as rec:
        rec(_frames(1)[0])
    assert rec.paths == [tmp_path / "only.blf"] and not (tmp_path / "only.log").exists()
    assert primary_log_path(tmp_path / "x.BLF") == tmp_path / "x.log"
    assert primary_log_path(tmp_path / "x.log") == tmp_path / "x.log"


@pytest.mark.parametrize("suffix", [".log", ".blf"])
def test_absolute_timestamps_survive_the_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"ts{suffix}"
    frames = _frames(50)
    with Recorder(path) as rec:
        for msg in frames:
            rec(msg)
    back = [m.timestamp for m in read_recording(path)]
    assert back == pytest.approx([m.timestamp for m in frames], abs=1e-5)


def test_a_closed_blf_is_byte_for_byte_what_python_cans_writer_writes(tmp_path: Path) -> None:
    """Rewriting the header after each container changes nothing in a file closed normally."""
    frames = _frames(TWO_CONTAINERS)
    with Recorder(tmp_path / "ours.blf", primary=False) as rec:
        for msg in frames:
            rec(msg)
    with can.BLFWriter(str(tmp_path / "theirs.blf")) as writer:
        for msg in frames:
            writer.on_message_received(msg)
    assert (tmp_path / "ours.blf").read_bytes() == (tmp_path / "theirs.blf").read_bytes()


def test_the_primary_on_disk_ends_on_a_flush_with_whole_lines(tmp_path: Path) -> None:
    """What a SIGKILL leaves: every frame up to the last flush, nothing after it, no half line."""
    path = tmp_path / "live.blf"
    frames = _frames(3_000)
    rec = Recorder(path)
    try:
        assert primary_log_path(path).read_bytes() == b""
        for n, msg in enumerate(frames, start=1):
            rec(msg)
            if n % 250 == 0:
                rec.flush()
                text = primary_log_path(path).read_text()
                assert text.endswith("\n") and text.count("\n") == n
                assert _keys(primary_log_path(path)) == [_key(m) for m in frames[:n]]
        for msg in frames[:10]:
            rec(msg)                                    # not flushed yet: not on disk
        assert primary_log_path(path).read_text().count("\n") == 3_000
        rec.flush()
        rec.flush()                                     # nothing new: nothing to do
        assert primary_log_path(path).read_text().count("\n") == 3_010
    finally:
        rec.stop()


def test_an_open_blf_is_readable_up_to_its_last_container_with_its_true_start_time(tmp_path: Path) -> None:
    """The BLF a SIGKILL leaves: a valid empty BLF before the first container, then every
    complete container with the real start time (not timestamps restarting at 0.0)."""
    path = tmp_path / "open.blf"
    frames = _frames(TWO_CONTAINERS)
    rec = Recorder(path, primary=False)
    try:
        assert path.stat().st_size == 144                # the header is on disk at once
        assert count_frames(path) == 0
        for msg in frames:
            rec(msg)
        back = list(read_recording(path))               # read while the writer is still open
        assert 2_000 < len(back) < len(frames)          # the complete containers, not the one filling
        assert [_key(m) for m in back] == [_key(m) for m in frames[:len(back)]]
        assert back[0].timestamp == pytest.approx(frames[0].timestamp, abs=1e-5)
    finally:
        rec.stop()
    assert count_frames(path) == len(frames)


def _cut_offsets(size: int, head: int, boundaries: list[int], rng: random.Random, n: int) -> list[int]:
    """Every offset of the first ``head`` bytes, around every boundary, and ``n`` seeded ones."""
    near = [b + d for b in boundaries for d in (-17, -1, 0, 1, 16, 17)]
    return sorted({o for o in [*range(head), *near, *(rng.randrange(size) for _ in range(n)), size]
                   if 0 <= o <= size})


def _blf_container_ends(path: Path) -> list[int]:
    from can.io.blf import OBJ_HEADER_BASE_STRUCT

    data = path.read_bytes()
    ends, pos = [], 144
    while pos + 16 <= len(data):
        size = OBJ_HEADER_BASE_STRUCT.unpack_from(data, pos)[3]
        pos += size + size % 4
        ends.append(pos)
    return ends


@pytest.mark.parametrize("suffix", [".blf", ".log"])
def test_a_recording_cut_at_any_offset_reads_back_a_prefix_without_error_or_hang(tmp_path: Path, suffix: str) -> None:
    full = tmp_path / f"full{suffix}"
    frames = _frames(TWO_CONTAINERS)
    with Recorder(full, primary=False) as rec:
        for msg in frames:
            rec(msg)
    data = full.read_bytes()
    expected = [_key(m) for m in frames]
    if suffix == ".blf":   # the file header, byte by byte, and around every container
        boundaries, head = _blf_container_ends(full), 200
    else:
        boundaries, head = [i + 1 for i, b in enumerate(data) if b == 0x0A][::1500], 60
    rng = random.Random(12)
    cut = tmp_path / f"cut{suffix}"
    counts = []
    for offset in _cut_offsets(len(data), head, boundaries, rng, 40):
        cut.write_bytes(data[:offset])
        back = _keys_within(cut)
        assert back == expected[:len(back)], offset     # a prefix, every frame whole
        counts.append((offset, len(back)))
    assert [n for _, n in counts] == sorted(n for _, n in counts)   # more bytes never fewer frames
    assert counts[-1][1] == len(frames)
    if suffix == ".blf":                                  # exactly the complete containers
        container_frames = {end: n for end, n in counts if end in boundaries}
        assert len(container_frames) == len(boundaries)
        assert all(n == container_frames[end] for end in boundaries
                   for offset, n in counts if end <= offset < min([b for b in boundaries if b > end] or [len(data)]))


@pytest.mark.parametrize("suffix", [".blf", ".log"])
def test_a_zero_byte_recording_holds_no_frames(tmp_path: Path, suffix: str) -> None:
    """What a process killed before its first write leaves (a candump primary before its first flush)."""
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    assert _keys_within(path) == [] and count_frames(path) == 0


def test_a_header_only_blf_holds_no_frames(tmp_path: Path) -> None:
    """Three header-only BLFs: one closed with no frame, the header a killed writer left before its
    first container, and the header of a full recording whose containers were all cut off (its
    header counts objects that are not there: they are not waited for)."""
    closed = tmp_path / "closed.blf"
    with Recorder(closed, primary=False):
        pass
    assert closed.stat().st_size == 144 and _keys_within(closed) == []
    with Recorder(tmp_path / "open.blf", primary=False) as rec:
        assert _keys_within(rec.path) == []
        for msg in _frames(TWO_CONTAINERS):
            rec(msg)
    full = (tmp_path / "open.blf").read_bytes()
    object_count = FILE_HEADER_STRUCT.unpack_from(full)[12]
    assert len(full) > 144 and object_count == TWO_CONTAINERS   # the header counts the frames
    headed = tmp_path / "headed.blf"
    headed.write_bytes(full[:144])
    assert _keys_within(headed) == [] and count_frames(headed) == 0


def test_a_blf_cut_inside_its_header_holds_no_frames(tmp_path: Path) -> None:
    path = tmp_path / "cut.blf"
    for head in (b"L", b"LOG", b"LOGG", b"LOGG" + bytes(100)):
        path.write_bytes(head)
        assert _keys_within(path) == [], head


@pytest.mark.parametrize("suffix, content", [(".blf", b"NOTABLF" + bytes(300)), (".log", b"(1.0) can0 12X#zz T\n")])
def test_a_file_that_is_not_a_recording_is_refused_naming_it(tmp_path: Path, suffix: str, content: bytes) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    with pytest.raises(BusError) as info:
        count_frames(path)
    assert str(path) in str(info.value)


def test_a_blf_with_garbage_after_its_header_is_refused_naming_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "garbage.blf"
    with Recorder(path, primary=False):
        pass
    path.write_bytes(path.read_bytes() + b"XXXX" + bytes(40))
    with pytest.raises(BusError, match="byte 144"):
        count_frames(path)


def test_a_frame_after_stop_is_an_error_not_a_silent_loss(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "x.log")
    rec.stop()
    rec.stop()                               # idempotent
    rec.flush()                              # a flush after stop does nothing
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
    back = list(read_recording(path))
    assert sorted(m.arbitration_id for m in back) == [0x10] * 11 + [0x20] * 5
    assert [m.timestamp for m in back] == sorted(m.timestamp for m in back)


def test_the_flush_interval_is_at_most_100_ms() -> None:
    assert 0 < FLUSH_INTERVAL_S <= 0.1
