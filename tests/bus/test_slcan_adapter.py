"""The emulated SLCAN adapter: python-can's own ``slcan`` client through a pty, and the bench over it.

There is no CAN hardware and no SocketCAN here, so the real-adapter path is
proven against an adapter emulated on a pseudo-terminal: python-can opens the
pty's slave with pyserial exactly as it opens ``/dev/ttyACM0``.  The raw
protocol checks talk to the slave directly, byte by byte.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import select
import termios
import time
from collections.abc import Iterator

import can
import pytest

from hilbench.bench import BenchConfig
from hilbench.bus import BusConfig
from hilbench.bus.emulated import SlcanAdapter, slcan_adapter
from hilbench.bus.emulated.slcan_adapter import format_frame, parse_frame
from hilbench.bus.open import rate_limited

from _leaks import no_leaks
from _wall_pair import _run_pair

_channels = itertools.count()


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """Every test leaves no adapter thread, pty, serial port or virtual channel behind."""
    yield from no_leaks("slcan-test-")


@pytest.fixture(autouse=True)
def _fresh_rate_limit() -> None:
    """Each test sees the adapter's first warning of each kind (the limit is per second, process-wide)."""
    rate_limited(logging.getLogger(slcan_adapter.__name__)).reset()


@pytest.fixture
def channel() -> str:
    return f"slcan-test-{next(_channels)}"


@pytest.fixture
def adapter(channel: str) -> Iterator[SlcanAdapter]:
    with SlcanAdapter(BusConfig(interface="virtual", channel=channel)) as adapter:
        yield adapter
        assert adapter.failure is None


@pytest.fixture
def client(adapter: SlcanAdapter) -> Iterator[can.BusABC]:
    bus = can.Bus(interface="slcan", channel=adapter.slave_path, bitrate=500_000, sleep_after_open=0)
    yield bus
    bus.shutdown()


@pytest.fixture
def peer(channel: str, adapter: SlcanAdapter) -> Iterator[can.BusABC]:
    """Another node on the bus the adapter is plugged into."""
    bus = can.Bus(interface="virtual", channel=channel)
    yield bus
    bus.shutdown()


@pytest.fixture
def serial_fd(adapter: SlcanAdapter) -> Iterator[int]:
    """The host side of the adapter, raw: bytes in, bytes out."""
    fd = os.open(adapter.slave_path, os.O_RDWR | os.O_NOCTTY)
    yield fd
    os.close(fd)


def _exchange(fd: int, data: bytes, replies: int, timeout_s: float = 2.0) -> bytes:
    """Write ``data`` and read until ``replies`` CR/BEL terminators came back."""
    os.write(fd, data)
    out = bytearray()
    deadline = time.monotonic() + timeout_s
    while out.count(b"\r") + out.count(b"\a") < replies:
        left = deadline - time.monotonic()
        assert left > 0, f"expected {replies} replies to {data!r}, got {bytes(out)!r}"
        if select.select([fd], [], [], left)[0]:
            out += os.read(fd, 4096)
    return bytes(out)


def _quiet(fd: int, wait_s: float = 0.05) -> bytes:
    """Whatever else arrives within ``wait_s`` (expected: nothing)."""
    out = bytearray()
    while select.select([fd], [], [], wait_s)[0]:
        out += os.read(fd, 4096)
    return bytes(out)


FRAMES = [
    pytest.param(can.Message(arbitration_id=0x123, data=b"", is_extended_id=False), id="std-0"),
    pytest.param(can.Message(arbitration_id=0x000, data=b"\x01", is_extended_id=False), id="std-1-id0"),
    pytest.param(can.Message(arbitration_id=0x7FF, data=b"\xde\xad\xbe", is_extended_id=False), id="std-3-idmax"),
    pytest.param(can.Message(arbitration_id=0x100, data=bytes(range(8)), is_extended_id=False), id="std-8"),
    pytest.param(can.Message(arbitration_id=0x0, data=b"\xff" * 5, is_extended_id=True), id="ext-5-id0"),
    pytest.param(can.Message(arbitration_id=0x1FFFFFFF, data=bytes(range(8)), is_extended_id=True), id="ext-8-idmax"),
    pytest.param(can.Message(arbitration_id=0x18FF50E5, data=b"", is_extended_id=True), id="ext-0"),
    pytest.param(can.Message(arbitration_id=0x321, is_remote_frame=True, dlc=4, is_extended_id=False), id="rtr-std"),
    pytest.param(can.Message(arbitration_id=0x1234567, is_remote_frame=True, dlc=8, is_extended_id=True), id="rtr-ext"),
    pytest.param(can.Message(arbitration_id=0x118, data=bytes(range(64)), is_fd=True, bitrate_switch=True,
                             is_extended_id=False), id="fd-64-brs"),
    pytest.param(can.Message(arbitration_id=0x1ABCDEF0, data=bytes(range(12)), is_fd=True, is_extended_id=True),
                 id="fd-12-ext"),
]


def _same_frame(got: can.Message | None, sent: can.Message) -> None:
    assert got is not None, f"frame 0x{sent.arbitration_id:X} never arrived"
    assert (got.arbitration_id, got.is_extended_id, got.is_remote_frame, got.is_fd) == (
        sent.arbitration_id, sent.is_extended_id, sent.is_remote_frame, sent.is_fd)
    assert got.dlc == sent.dlc
    if not sent.is_remote_frame:
        assert bytes(got.data) == bytes(sent.data)
    if sent.is_fd:
        assert got.bitrate_switch == sent.bitrate_switch


# ---------------------------------------------------------------- python-can's slcan client, both ways

@pytest.mark.parametrize("frame", FRAMES)
def test_client_frames_reach_the_bus(client: can.BusABC, peer: can.BusABC, adapter: SlcanAdapter,
                                     frame: can.Message) -> None:
    client.send(frame)
    _same_frame(peer.recv(2.0), frame)
    assert adapter.frames_to_bus == 1


@pytest.mark.parametrize("frame", FRAMES)
def test_bus_frames_reach_the_client(client: can.BusABC, peer: can.BusABC, frame: can.Message) -> None:
    peer.send(frame)
    _same_frame(client.recv(2.0), frame)


def test_a_burst_keeps_its_order_both_ways(client: can.BusABC, peer: can.BusABC) -> None:
    sent = [can.Message(arbitration_id=0x100 + i % 16, data=i.to_bytes(2, "big"), is_extended_id=bool(i % 3 == 0))
            for i in range(64)]
    for msg in sent:
        client.send(msg)
        peer.send(msg)
    for source in (peer, client):
        got = [source.recv(5.0) for _ in sent]
        assert [(m.arbitration_id, bytes(m.data)) for m in got if m is not None] == \
            [(m.arbitration_id, bytes(m.data)) for m in sent]


def test_client_reads_version_and_serial_number(client: can.BusABC) -> None:
    assert client.get_version(2.0) == (10, 13)
    assert client.get_serial_number(2.0) == "HB01"


def test_client_session_sets_bitrate_and_opens(client: can.BusABC, adapter: SlcanAdapter) -> None:
    deadline = time.monotonic() + 2.0
    while adapter.commands < 5 and time.monotonic() < deadline:     # C, S6, (empty), O, O
        time.sleep(0.005)
    assert adapter.is_open and not adapter.listen_only
    assert adapter.bitrate == 500_000
    # python-can sends O twice (set_bitrate re-opens, then __init__ opens again): a
    # Lawicel adapter refuses the second with BEL, which the client ignores.
    assert adapter.errors == 1


# ---------------------------------------------------------------- the serial protocol, raw

def test_commands_are_answered_cr_or_bel(serial_fd: int) -> None:
    assert _exchange(serial_fd, b"V\r", 1) == b"V1013\r"
    assert _exchange(serial_fd, b"v\r", 1) == b"v1300\r"
    assert _exchange(serial_fd, b"N\r", 1) == b"NHB01\r"
    assert _exchange(serial_fd, b"F\r", 1) == b"\a"            # status only while open
    assert _exchange(serial_fd, b"t1230\r", 1) == b"\a"        # closed: nothing is sent
    assert _exchange(serial_fd, b"S6\r", 1) == b"\r"
    assert _exchange(serial_fd, b"O\r", 1) == b"\r"
    assert _exchange(serial_fd, b"S4\r", 1) == b"\a"           # no bit rate change while open
    assert _exchange(serial_fd, b"F\r", 1) == b"F00\r"
    assert _exchange(serial_fd, b"t12321122\r", 1) == b"\r"
    assert _exchange(serial_fd, b"C\r", 1) == b"\r"
    assert _quiet(serial_fd) == b""


@pytest.mark.parametrize("line", [
    b"t12", b"t1231", b"t12311223", b"t123911223344556677889900", b"t8000", b"tXYZ0", b"t12 1aa",
    b"T2000000000", b"T1234567", b"r1239", b"d123G", b"d1239" + b"00" * 11, b"Q", b"S", b"S10", b"Z2",
    b"s12345", b"M1234", b"\xff\xfe", b"t123_1aa",
])
def test_malformed_commands_get_bel(serial_fd: int, adapter: SlcanAdapter, peer: can.BusABC,
                                    line: bytes) -> None:
    _exchange(serial_fd, b"O\r", 1)
    assert _exchange(serial_fd, line + b"\r", 1) == b"\a"
    assert peer.recv(0.05) is None
    assert _exchange(serial_fd, b"t1230\r", 1) == b"\r"        # and the adapter carries on
    assert peer.recv(1.0) is not None


@pytest.mark.parametrize("ending", [b"\r", b"\r\n", b"\n"], ids=["CR", "CRLF", "LF"])
def test_line_endings_are_all_accepted(serial_fd: int, peer: can.BusABC, ending: bytes) -> None:
    assert _exchange(serial_fd, b"O" + ending + b"V" + ending + b"t1232abcd" + ending, 3) == b"\rV1013\r\r"
    assert _quiet(serial_fd) == b""                             # CR LF is one terminator, not two
    msg = peer.recv(1.0)
    assert msg is not None and msg.arbitration_id == 0x123 and bytes(msg.data) == b"\xab\xcd"


def test_crlf_split_across_reads_is_one_terminator(serial_fd: int) -> None:
    assert _exchange(serial_fd, b"V\r", 1) == b"V1013\r"
    time.sleep(0.02)
    assert _exchange(serial_fd, b"\nN\r", 1) == b"NHB01\r"
    assert _quiet(serial_fd) == b""


def test_a_bare_cr_is_a_sync(serial_fd: int) -> None:
    assert _exchange(serial_fd, b"\r\r\r", 3) == b"\r\r\r"


def test_overlong_line_is_refused_once_and_discarded(serial_fd: int, adapter: SlcanAdapter) -> None:
    junk = b"t123" + b"A" * (10 * adapter.max_line_bytes)
    for start in range(0, len(junk), 512):                      # arrives over many reads
        os.write(serial_fd, junk[start:start + 512])
    assert _exchange(serial_fd, b"\rV\r", 2) == b"\aV1013\r"
    assert adapter.overlong_lines == 1
    assert _quiet(serial_fd) == b""


def test_listen_only_refuses_to_transmit_but_hears(serial_fd: int, peer: can.BusABC) -> None:
    assert _exchange(serial_fd, b"L\r", 1) == b"\r"
    assert _exchange(serial_fd, b"t1230\r", 1) == b"\a"
    peer.send(can.Message(arbitration_id=0x42, data=b"\x01", is_extended_id=False))
    assert _exchange(serial_fd, b"", 1) == b"t042101\r"


def test_a_closed_adapter_hears_nothing(serial_fd: int, peer: can.BusABC) -> None:
    peer.send(can.Message(arbitration_id=0x42, data=b"\x01", is_extended_id=False))
    time.sleep(0.05)
    assert _exchange(serial_fd, b"O\r", 1) == b"\r"
    assert _quiet(serial_fd) == b""


def test_timestamps_are_appended_when_switched_on(serial_fd: int, peer: can.BusABC) -> None:
    assert _exchange(serial_fd, b"Z1\rO\r", 2) == b"\r\r"
    peer.send(can.Message(arbitration_id=0x42, data=b"\x01", is_extended_id=False, timestamp=0.0))
    line = _exchange(serial_fd, b"", 1)
    assert line.startswith(b"t042101") and len(line) == len(b"t042101") + 4 + 1
    assert 0 <= int(line[7:11], 16) < 60_000


def test_a_host_that_does_not_read_sees_an_overrun(channel: str) -> None:
    with SlcanAdapter(BusConfig(interface="virtual", channel=channel), max_pending_bytes=1024) as adapter:
        fd = os.open(adapter.slave_path, os.O_RDWR | os.O_NOCTTY)
        peer = can.Bus(interface="virtual", channel=channel)
        try:
            assert _exchange(fd, b"O\r", 1) == b"\r"
            for i in range(20_000):                              # far beyond the pty's own buffer
                peer.send(can.Message(arbitration_id=0x100, data=i.to_bytes(8, "big"), is_extended_id=False))
            deadline = time.monotonic() + 5.0
            while adapter.dropped_to_host == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert adapter.dropped_to_host > 0
            received = _quiet(fd, 0.2)
            assert received.count(b"\r") == adapter.frames_to_host
            assert _exchange(fd, b"F\r", 1) == b"F08\r"          # data overrun, then cleared
            assert _exchange(fd, b"F\r", 1) == b"F00\r"
        finally:
            peer.shutdown()
            os.close(fd)


def _write_until_full(fd: int, data: bytes, limit_bytes: int) -> int:
    """Write ``data`` over and over without reading, until the pty takes no more (or ``limit_bytes``)."""
    os.set_blocking(fd, False)
    written = 0
    try:
        while written < limit_bytes:
            try:
                written += os.write(fd, data)
            except BlockingIOError:
                if not select.select([], [fd], [], 0.3)[1]:
                    break
    finally:
        os.set_blocking(fd, True)
    return written


def test_the_next_host_gets_no_stale_output(channel: str, adapter: SlcanAdapter, peer: can.BusABC) -> None:
    """A host that floods the bus side and the command side, reads nothing and closes the port leaves
    nothing behind: the next host's first reply is the answer to its first command, and frames flow
    to it at once."""
    first = os.open(adapter.slave_path, os.O_RDWR | os.O_NOCTTY)
    try:
        assert _exchange(first, b"O\r", 1) == b"\r"
        for i in range(5_000):
            peer.send(can.Message(arbitration_id=0x100, data=i.to_bytes(8, "big"), is_extended_id=False))
        written = _write_until_full(first, b"V\r" * 1024, 2_000_000)
        assert written < 2_000_000                                 # the adapter stopped taking its input
        assert _wait_for(lambda: len(adapter._pending) > 0)
        assert len(adapter._pending) <= adapter.max_pending_bytes
    finally:
        os.close(first)
    assert _wait_for(lambda: adapter.resets["host closed the port"] == 1)
    assert not adapter.is_open and adapter._pending == bytearray()
    second = os.open(adapter.slave_path, os.O_RDWR | os.O_NOCTTY)
    try:
        assert _exchange(second, b"V\r", 1) == b"V1013\r"
        assert _quiet(second) == b""
    finally:
        os.close(second)
    client = can.Bus(interface="slcan", channel=adapter.slave_path, bitrate=500_000, sleep_after_open=0)
    try:
        started = time.monotonic()
        peer.send(can.Message(arbitration_id=0x42, data=b"\x07", is_extended_id=False))
        got = client.recv(2.0)
        assert got is not None and got.arbitration_id == 0x42 and time.monotonic() - started < 0.5
    finally:
        client.shutdown()


def test_a_host_that_flushes_its_input_is_sent_nothing_older(adapter: SlcanAdapter, peer: can.BusABC,
                                                            serial_fd: int) -> None:
    """pyserial flushes the port's input when it opens it: the output the adapter holds goes too, so a
    host that opens the port before the adapter saw the last one close still starts clean."""
    assert _exchange(serial_fd, b"O\r", 1) == b"\r"
    for i in range(5_000):
        peer.send(can.Message(arbitration_id=0x100, data=i.to_bytes(8, "big"), is_extended_id=False))
    assert _wait_for(lambda: len(adapter._pending) > 0)
    for _ in range(2):              # the second flush takes what the adapter wrote while seeing the first
        termios.tcflush(serial_fd, termios.TCIFLUSH)
        time.sleep(0.1)
    assert adapter._pending == bytearray() and adapter.resets == {}
    assert _quiet(serial_fd) == b""
    assert _exchange(serial_fd, b"F\r", 1).startswith(b"F")   # the channel stayed open (F answers only then)


def _wait_for(condition, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_a_host_that_does_not_read_is_reset(channel: str, caplog: pytest.LogCaptureFixture) -> None:
    with SlcanAdapter(BusConfig(interface="virtual", channel=channel), max_pending_bytes=4096,
                      write_timeout_s=0.5) as adapter:
        fd = os.open(adapter.slave_path, os.O_RDWR | os.O_NOCTTY)
        peer = can.Bus(interface="virtual", channel=channel)
        try:
            assert _exchange(fd, b"O\r", 1) == b"\r"
            for i in range(20_000):
                peer.send(can.Message(arbitration_id=0x100, data=i.to_bytes(8, "big"), is_extended_id=False))
            assert _wait_for(lambda: adapter.resets["not reading"] == 1)
            assert not adapter.is_open and adapter.dropped_to_host > 0
            assert "host not reading (4" in caplog.text             # "(4xxx bytes waiting, none taken ..."
            assert _quiet(fd, 0.2) == b""                           # what it left unread is gone too
            assert _exchange(fd, b"V\r", 1) == b"V1013\r"          # and the adapter still answers
        finally:
            peer.shutdown()
            os.close(fd)


def test_warnings_are_rate_limited(serial_fd: int, adapter: SlcanAdapter, caplog: pytest.LogCaptureFixture) -> None:
    overlong = b"t123" + b"A" * adapter.max_line_bytes + b"\r"
    os.write(serial_fd, overlong * 200)
    _exchange(serial_fd, b"", 200)
    assert adapter.overlong_lines == 200
    lines = [r for r in caplog.records if "longer than" in r.getMessage()]
    assert 1 <= len(lines) <= 2


def test_fd_can_be_switched_off(channel: str) -> None:
    with SlcanAdapter(BusConfig(interface="virtual", channel=channel), fd=False) as adapter:
        fd = os.open(adapter.slave_path, os.O_RDWR | os.O_NOCTTY)
        try:
            assert _exchange(fd, b"Y2\rO\rd1231AA\rt1231AA\r", 4) == b"\a\r\a\r"
        finally:
            os.close(fd)


def test_frame_text_round_trips() -> None:
    for param in FRAMES:
        msg = param.values[0]
        text = format_frame(msg)
        assert text is not None and text.endswith(b"\r")
        _same_frame(parse_frame(text[:-1].decode()), msg)
    assert format_frame(can.Message(is_error_frame=True)) is None


def test_simtime_bridge_is_refused() -> None:
    with pytest.raises(ValueError, match="wall time"):
        SlcanAdapter(BusConfig(interface="simtime", channel="x"))


def test_an_adapter_whose_thread_fails_hangs_up_the_port(channel: str, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """As if unplugged: the host's reads fail, rather than wait for replies that never come."""
    with SlcanAdapter(BusConfig(interface="virtual", channel=channel)) as adapter:
        fd = os.open(adapter.slave_path, os.O_RDWR | os.O_NOCTTY)
        try:
            assert _exchange(fd, b"V\r", 1) == b"V1013\r"

            def broken(*args: object) -> None:
                raise RuntimeError("broken on purpose")
            monkeypatch.setattr(adapter, "_read_host", broken)
            os.write(fd, b"V\r")
            assert select.select([fd], [], [], 2.0)[0], "the port did not hang up"
            try:
                got = os.read(fd, 64)
            except OSError as exc:
                assert exc.errno == errno.EIO
            else:
                assert got == b"", f"a dead adapter answered {got!r}"          # end of file: hung up
            assert isinstance(adapter.failure, RuntimeError) and "stopped" in caplog.text
        finally:
            os.close(fd)


def test_stop_is_idempotent_and_releases_everything(channel: str) -> None:
    adapter = SlcanAdapter(BusConfig(interface="virtual", channel=channel)).start()
    with pytest.raises(RuntimeError, match="already started"):
        adapter.start()
    adapter.stop()
    adapter.stop()                          # the autouse fixture checks threads, fds and channels


# ---------------------------------------------------------------- the bench, end to end, in wall time

@pytest.mark.wall_clock
def test_bench_runs_through_the_slcan_adapter_in_wall_time(adapter: SlcanAdapter, channel: str) -> None:
    """Emulated BMS/VCU/OBC talk through python-can's slcan client and the emulated adapter;
    on the far side of the adapter the bundled compute unit runs as "the real ECU"."""
    ecu_config = BenchConfig(bus=BusConfig(interface="virtual", channel=channel),
                             emulate=frozenset({"cu"}), wall_time=True)
    bench_config = BenchConfig(bus=BusConfig(interface="slcan", channel=adapter.slave_path, bitrate=500_000,
                                             kwargs={"sleep_after_open": 0}),
                               emulate=frozenset({"bms", "vcu", "obc"}))
    _run_pair(ecu_config, bench_config, seconds=2.0)
    assert adapter.frames_to_bus > 100 and adapter.frames_to_host >= 15
