"""The emulated socketcand daemon: python-can's own ``socketcand`` client over loopback TCP, and the bench over it.

The raw protocol checks use a plain socket, so what is on the wire (greeting,
element formats, elements split across TCP writes, caps) is checked without
python-can's client in between.
"""

from __future__ import annotations

import gc
import itertools
import logging
import re
import socket
import threading
import time
import warnings
from collections.abc import Iterator

import can
import can.interfaces.virtual  # noqa: F401  (the leak check reads its table of channels)
import pytest

from hilbench.bench import BenchConfig
from hilbench.bus import BusConfig, open_bus
from hilbench.bus.emulated import SocketcandServer, socketcand_server
from hilbench.bus.emulated.socketcand_server import CommandError, format_frame, parse_send
from hilbench.bus.open import rate_limited
from hilbench.bus.port import BusPort
from hilbench.errors import BusError

from _leaks import no_leaks
from _wall_pair import _run_pair

_channels = itertools.count()


@pytest.fixture(autouse=True)
def _no_leaks() -> Iterator[None]:
    """Every test leaves no server thread, socket or virtual channel behind."""
    yield from no_leaks("socketcand-test-")


@pytest.fixture(autouse=True)
def _fresh_rate_limit() -> None:
    """Each test sees the server's first warning of each kind (the limit is per second, process-wide)."""
    rate_limited(logging.getLogger(socketcand_server.__name__)).reset()


@pytest.fixture
def channel() -> str:
    return f"socketcand-test-{next(_channels)}"


@pytest.fixture
def server(channel: str) -> Iterator[SocketcandServer]:
    with SocketcandServer({"vcan0": BusConfig(interface="virtual", channel=channel)}) as server:
        yield server
        assert server.failure is None


@pytest.fixture
def client(server: SocketcandServer) -> Iterator[can.BusABC]:
    bus = can.Bus(interface="socketcand", host="127.0.0.1", port=server.port, channel="vcan0", tcp_tune=True)
    yield bus
    bus.shutdown()


@pytest.fixture
def peer(channel: str, server: SocketcandServer) -> Iterator[can.BusABC]:
    """Another node on the bus the daemon serves."""
    bus = can.Bus(interface="virtual", channel=channel)
    yield bus
    bus.shutdown()


class Wire:
    """A plain TCP connection to the server: bytes out, ``< .. >`` elements in."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=2.0)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def element(self, timeout_s: float = 2.0) -> bytes:
        """The next complete element; AssertionError if none within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while b">" not in self.buffer:
            left = deadline - time.monotonic()
            assert left > 0, f"no element within {timeout_s} s; buffered {self.buffer!r}"
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                continue
            assert chunk, f"server closed the connection; buffered {self.buffer!r}"
            self.buffer += chunk
        end = self.buffer.index(b">") + 1
        element, self.buffer = self.buffer[:end], self.buffer[end:]
        return element.strip()

    def nothing(self, wait_s: float = 0.1) -> bytes:
        self.sock.settimeout(wait_s)
        try:
            return self.buffer + self.sock.recv(4096)
        except TimeoutError:
            return self.buffer

    def raw_session(self) -> None:
        assert self.element() == b"< hi >"
        self.send(b"< open vcan0 >")
        assert self.element() == b"< ok >"
        self.send(b"< rawmode >")
        assert self.element() == b"< ok >"

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def wire(server: SocketcandServer) -> Iterator[Wire]:
    connection = Wire(server.port)
    yield connection
    connection.close()


FRAMES = [
    pytest.param(can.Message(arbitration_id=0x123, data=b"", is_extended_id=False), id="std-0"),
    pytest.param(can.Message(arbitration_id=0x000, data=b"\x00", is_extended_id=False), id="std-1-id0"),
    pytest.param(can.Message(arbitration_id=0x7FF, data=b"\x0a\xbe\x00", is_extended_id=False), id="std-3-idmax"),
    pytest.param(can.Message(arbitration_id=0x100, data=bytes(range(8)), is_extended_id=False), id="std-8"),
    pytest.param(can.Message(arbitration_id=0x0, data=b"\xff" * 5, is_extended_id=True), id="ext-5-id0"),
    pytest.param(can.Message(arbitration_id=0x1FFFFFFF, data=bytes(range(8)), is_extended_id=True), id="ext-8-idmax"),
    pytest.param(can.Message(arbitration_id=0x18FF50E5, data=b"", is_extended_id=True), id="ext-0"),
]


def _same_frame(got: can.Message | None, sent: can.Message) -> None:
    assert got is not None, f"frame 0x{sent.arbitration_id:X} never arrived"
    assert (got.arbitration_id, got.is_extended_id, bytes(got.data)) == (
        sent.arbitration_id, sent.is_extended_id, bytes(sent.data))


# ---------------------------------------------------------------- python-can's socketcand client, both ways

@pytest.mark.parametrize("frame", FRAMES)
def test_client_frames_reach_the_bus(client: can.BusABC, peer: can.BusABC, frame: can.Message) -> None:
    client.send(frame)
    _same_frame(peer.recv(2.0), frame)


@pytest.mark.parametrize("frame", FRAMES)
def test_bus_frames_reach_the_client(client: can.BusABC, peer: can.BusABC, frame: can.Message) -> None:
    time.sleep(0.1)                                  # past the handshake grace
    frame.timestamp = 1_700_000_000.123456
    peer.send(frame)
    got = client.recv(2.0)
    _same_frame(got, frame)
    assert got is not None and abs(got.timestamp - time.time()) < 5.0   # the bus's time, to the microsecond


def test_a_burst_keeps_its_order_both_ways(client: can.BusABC, peer: can.BusABC) -> None:
    time.sleep(0.1)
    sent = [can.Message(arbitration_id=0x100 + i % 16, data=i.to_bytes(2, "big"), is_extended_id=bool(i % 3 == 0))
            for i in range(500)]
    for msg in sent:
        client.send(msg)
        peer.send(msg)
    for source in (peer, client):
        got = [source.recv(1.0) for _ in sent]
        assert [(m.arbitration_id, bytes(m.data)) for m in got if m is not None] == \
            [(m.arbitration_id, bytes(m.data)) for m in sent]


def test_handshake_survives_a_busy_bus(server: SocketcandServer, peer: can.BusABC) -> None:
    """python-can compares each handshake reply verbatim after one recv(); frames must not ride along."""
    stop = threading.Event()

    def flood() -> None:
        while not stop.is_set():
            peer.send(can.Message(arbitration_id=0x100, data=b"\x01" * 8, is_extended_id=False))
            time.sleep(0.0005)

    flooder = threading.Thread(target=flood)
    flooder.start()
    try:
        for _ in range(5):
            bus = can.Bus(interface="socketcand", host="127.0.0.1", port=server.port, channel="vcan0")
            try:
                assert bus.recv(1.0) is not None
            finally:
                bus.shutdown()
    finally:
        stop.set()
        flooder.join()


def test_each_connection_is_its_own_participant(server: SocketcandServer) -> None:
    first = can.Bus(interface="socketcand", host="127.0.0.1", port=server.port, channel="vcan0")
    second = can.Bus(interface="socketcand", host="127.0.0.1", port=server.port, channel="vcan0")
    try:
        time.sleep(0.1)
        first.send(can.Message(arbitration_id=0x42, data=b"\x07", is_extended_id=False))
        got = second.recv(2.0)
        assert got is not None and got.arbitration_id == 0x42
        assert first.recv(0.2) is None              # no echo of its own frames
        assert server.clients == 2
    finally:
        first.shutdown()
        second.shutdown()
    deadline = time.monotonic() + 2.0
    while server.clients and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.clients == 0                      # disconnects release the bridge buses


# ---------------------------------------------------------------- the wire protocol, raw

def test_session_handshake_and_frame_format(wire: Wire, peer: can.BusABC) -> None:
    wire.raw_session()
    time.sleep(0.1)
    peer.send(can.Message(arbitration_id=0x123, data=b"\x0a\xff", is_extended_id=False, timestamp=0))
    peer.send(can.Message(arbitration_id=0x1ABCDE, data=b"", is_extended_id=True))
    assert re.fullmatch(rb"< frame 123 \d+\.\d{6} 0AFF >", wire.element())
    assert re.fullmatch(rb"< frame 001ABCDE \d+\.\d{6}  >", wire.element())   # socketcand's empty data


def test_an_element_split_across_tcp_writes_is_reassembled(wire: Wire, peer: can.BusABC,
                                                           server: SocketcandServer) -> None:
    wire.raw_session()
    for piece in (b"< se", b"nd 12", b"3 2 a", b" ff", b" >< send 1ABCDEF0 ", b"1 5 >"):
        wire.send(piece)
        time.sleep(0.02)                            # separate TCP segments, separate reads
    first, second = peer.recv(2.0), peer.recv(2.0)
    assert first is not None and (first.arbitration_id, first.is_extended_id, bytes(first.data)) == \
        (0x123, False, b"\x0a\xff")
    assert second is not None and (second.arbitration_id, second.is_extended_id, bytes(second.data)) == \
        (0x1ABCDEF0, True, b"\x05")
    assert server.frames_to_bus == 2 and server.bad_commands == 0


def test_many_elements_in_one_write(wire: Wire, peer: can.BusABC) -> None:
    wire.raw_session()
    wire.send(b"".join(b"< send 200 1 %x >" % i for i in range(50)) + b"< echo >")
    assert wire.element() == b"< echo >"
    assert [bytes(peer.recv(1.0).data)[0] for _ in range(50)] == list(range(50))   # type: ignore[union-attr]


@pytest.mark.parametrize("element", [
    b"< send >", b"< send 123 >", b"< send 123 2 1 >", b"< send 123 1 1 2 >", b"< send 800 0 >",
    b"< send 20000000 0 >", b"< send 12G 0 >", b"< send 123 9 1 2 3 4 5 6 7 8 9 >", b"< send 123 1 100 >",
    b"< send 123 x >", b"< fdsend 123 01 9 1 2 3 4 5 6 7 8 9 >", b"< fdsend 123 >",
])
def test_malformed_send_is_counted_not_answered(wire: Wire, peer: can.BusABC, server: SocketcandServer,
                                                element: bytes) -> None:
    wire.raw_session()
    wire.send(element + b"< echo >")
    assert wire.element() == b"< echo >"             # no reply to the bad send, as socketcand
    assert peer.recv(0.05) is None
    assert server.bad_commands == 1


def test_errors_before_and_in_raw_mode(wire: Wire) -> None:
    assert wire.element() == b"< hi >"
    wire.send(b"< rawmode >")
    assert wire.element() == b"< error unknown command >"      # no bus open yet
    wire.send(b"< open can9 >")
    assert wire.element() == b"< error could not open bus >"
    wire.send(b"< open vcan0 >< rawmode >< isotpmode >< bcmmode >< echo >")
    assert [wire.element() for _ in range(5)] == [b"< ok >", b"< ok >", b"< error unknown command >",
                                                  b"< ok >", b"< echo >"]


def test_garbage_outside_elements_is_ignored(wire: Wire) -> None:
    assert wire.element() == b"< hi >"
    wire.send(b"hello\r\n  < echo >junk")
    assert wire.element() == b"< echo >"


def test_fd_frames_both_ways(wire: Wire, peer: can.BusABC) -> None:
    wire.raw_session()
    time.sleep(0.1)
    wire.send(b"< fdsend 118 01 12 " + b" ".join(b"%x" % i for i in range(12)) + b" >")
    got = peer.recv(2.0)
    assert got is not None and got.is_fd and got.bitrate_switch and bytes(got.data) == bytes(range(12))
    peer.send(can.Message(arbitration_id=0x118, data=bytes(range(64)), is_fd=True, bitrate_switch=True,
                          is_extended_id=False))
    assert re.fullmatch(rb"< fdframe 118 01 \d+\.\d{6} " + bytes(range(64)).hex().upper().encode() + rb" >",
                        wire.element())


def test_overlong_element_closes_the_connection_and_the_server_carries_on(
        wire: Wire, server: SocketcandServer) -> None:
    assert wire.element() == b"< hi >"
    wire.send(b"< send 123 " + b"1 " * 4096)
    try:                                              # closed (reset: our bytes were left unread)
        assert wire.nothing(1.0) == b""
    except ConnectionResetError:
        pass
    assert server.overlong_elements == 1
    again = Wire(server.port)
    try:
        assert again.element() == b"< hi >"
    finally:
        again.close()


def _wait_for(condition, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def _closed_by_server(wire: Wire, timeout_s: float = 3.0) -> bool:
    """True once the server has closed the connection (reads drain whatever was still in flight)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        wire.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not wire.sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True
    return False


def test_a_client_that_does_not_read_loses_frames_then_is_disconnected(
        channel: str, caplog: pytest.LogCaptureFixture) -> None:
    with SocketcandServer({"vcan0": BusConfig(interface="virtual", channel=channel)},
                          max_pending_bytes=4096, write_timeout_s=0.5) as server:
        wire = Wire(server.port)
        peer = can.Bus(interface="virtual", channel=channel)
        try:
            wire.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            wire.raw_session()
            time.sleep(0.1)
            for i in range(50_000):
                peer.send(can.Message(arbitration_id=0x100, data=i.to_bytes(8, "big"), is_extended_id=False))
            assert _wait_for(lambda: server.disconnected["not reading"] == 1)
            assert server.dropped_to_clients > 0 and server.clients == 0 and server.failure is None
            assert "disconnected: not reading (4" in caplog.text          # "(4xxx bytes waiting, ..."
            assert server._clients == {}
        finally:
            peer.shutdown()
            wire.close()


def test_junk_from_a_client_that_never_reads_is_bounded(channel: str) -> None:
    """Every junk element earns an error reply; the replies wait within max_pending_bytes, the
    client's input is left unread meanwhile, and the client is disconnected once it is seen not to read."""
    with SocketcandServer({"vcan0": BusConfig(interface="virtual", channel=channel)},
                          max_pending_bytes=8192, write_timeout_s=0.5) as server:
        wire = Wire(server.port)
        try:
            wire.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            wire.sock.settimeout(0.05)
            sent = 0
            largest = 0
            deadline = time.monotonic() + 5.0
            while server.disconnected["not reading"] == 0 and time.monotonic() < deadline:
                try:
                    sent += wire.sock.send(b"<>" * 2048)
                except TimeoutError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    break
                largest = max([largest] + [len(c.outbuf) for c in list(server._clients.values())])
            assert _wait_for(lambda: server.disconnected["not reading"] == 1)
            assert largest <= 8192
            assert server.bad_commands < sent // 2           # most of the junk was never even read
        finally:
            wire.close()


def test_a_client_over_the_limit_is_refused_clearly(channel: str, caplog: pytest.LogCaptureFixture) -> None:
    with SocketcandServer({"vcan0": BusConfig(interface="virtual", channel=channel)}, max_clients=2) as server:
        first, second = Wire(server.port), Wire(server.port)
        try:
            assert first.element() == b"< hi >" and second.element() == b"< hi >"
            third = Wire(server.port)
            try:
                assert third.element() == b"< error too many clients >"
                assert _closed_by_server(third)
            finally:
                third.close()
            with warnings.catch_warnings():
                # python-can's client leaves its socket open when the handshake fails
                warnings.simplefilter("ignore", ResourceWarning)
                with pytest.raises(can.CanError, match="too many clients"):
                    can.Bus(interface="socketcand", host="127.0.0.1", port=server.port, channel="vcan0")
                gc.collect()
            assert server.refused_clients == 2 and "refusing" in caplog.text
        finally:
            first.close()
            second.close()


def test_idle_connections_are_closed_and_do_not_lock_others_out(channel: str) -> None:
    with SocketcandServer({"vcan0": BusConfig(interface="virtual", channel=channel)}, max_clients=4,
                          handshake_timeout_s=0.3, idle_timeout_s=0.6) as server:
        silent = [Wire(server.port) for _ in range(2)]       # never open a bus
        opened = [Wire(server.port) for _ in range(2)]       # open one, then fall silent
        try:
            for wire in opened:
                wire.raw_session()
            assert _wait_for(lambda: server.clients == 0, 3.0)
            assert server.disconnected == {"no bus opened": 2, "idle": 2}
            assert all(_closed_by_server(wire) for wire in silent + opened)
            bus = can.Bus(interface="socketcand", host="127.0.0.1", port=server.port, channel="vcan0")
            bus.shutdown()
        finally:
            for wire in silent + opened:
                wire.close()


def test_a_listener_kept_busy_by_the_bus_is_not_idle(channel: str) -> None:
    with SocketcandServer({"vcan0": BusConfig(interface="virtual", channel=channel)}, idle_timeout_s=0.3) as server:
        wire = Wire(server.port)
        peer = can.Bus(interface="virtual", channel=channel)
        try:
            wire.raw_session()
            for i in range(8):
                time.sleep(0.1)
                peer.send(can.Message(arbitration_id=0x100, data=bytes([i]), is_extended_id=False))
                assert wire.element().startswith(b"< frame 100 ")
            assert server.clients == 1 and not server.disconnected
        finally:
            peer.shutdown()
            wire.close()


def test_warnings_are_rate_limited(wire: Wire, server: SocketcandServer, caplog: pytest.LogCaptureFixture) -> None:
    wire.raw_session()
    wire.send(b"< send 123 9 >" * 2000 + b"< echo >")
    assert wire.element() == b"< echo >"
    assert server.bad_commands == 2000
    lines = [r for r in caplog.records if "syntax error" in r.getMessage()]
    assert 1 <= len(lines) <= 2


def test_python_cans_own_client_warnings_are_rate_limited(client: can.BusABC, peer: can.BusABC,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """python-can's client logs a warning for every element it cannot parse (here: CAN FD frames,
    which it does not read); hilbench holds its logger to one line a second."""
    python_can_log = logging.getLogger("can.interfaces.socketcand.socketcand")
    rate_limited(python_can_log, per_message=False).reset()
    for i in range(300):
        peer.send(can.Message(arbitration_id=0x118, data=bytes([i % 256]) * 12, is_fd=True, is_extended_id=False))
    peer.send(can.Message(arbitration_id=0x119, data=b"\x01", is_extended_id=False))
    deadline = time.monotonic() + 5.0
    while (got := client.recv(0.5)) is None or got.arbitration_id != 0x119:
        assert time.monotonic() < deadline, "the classic frame after the FD ones never arrived"
    unparsed = [r for r in caplog.records if r.name == python_can_log.name]
    assert 1 <= len(unparsed) <= 3


def test_a_bus_that_cannot_be_opened_is_refused_and_the_server_carries_on(caplog: pytest.LogCaptureFixture) -> None:
    with SocketcandServer({"vcan0": BusConfig(interface="no_such_interface", channel="x")}) as server:
        wire = Wire(server.port)
        try:
            assert wire.element() == b"< hi >"
            wire.send(b"< open vcan0 >< send 123 1 01 >< rawmode >< echo >")
            assert [wire.element() for _ in range(4)] == [
                b"< ok >", b"< error could not open bus >", b"< error could not open bus >", b"< echo >"]
            assert server.failure is None and "no_such_interface" in caplog.text
        finally:
            wire.close()


def test_a_server_whose_thread_fails_closes_its_connections(channel: str, monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    with SocketcandServer({"vcan0": BusConfig(interface="virtual", channel=channel)}) as server:
        wire = Wire(server.port)
        try:
            wire.raw_session()

            def broken(*args: object) -> None:
                raise RuntimeError("broken on purpose")
            monkeypatch.setattr(server, "_forward_frames", broken)
            assert _closed_by_server(wire)
            assert isinstance(server.failure, RuntimeError) and "stopped" in caplog.text
        finally:
            wire.close()


def test_a_daemon_that_goes_away_is_a_bus_error_not_a_broken_pipe(channel: str) -> None:
    """python-can's client raises a bare BrokenPipeError once the daemon has closed the connection;
    the bench's port turns it into a BusError, which the CLI reports as one ``error:`` line."""
    server = SocketcandServer({"vcan0": BusConfig(interface="virtual", channel=channel)}).start()
    try:
        port = BusPort(open_bus(BusConfig(interface="socketcand", channel="vcan0",
                                          kwargs={"host": "127.0.0.1", "port": server.port})))
    finally:
        server.stop()
    try:
        frame = can.Message(arbitration_id=0x123, data=b"\x01", is_extended_id=False)
        with pytest.raises(BusError, match=r"the bus \(socketcand on vcan0@127\.0\.0\.1:\d+\) is gone: "
                                           r"sending frame 0x123 failed: .*Broken pipe"):
            for _ in range(10):          # the first send after the close may still be taken by the kernel
                port.send(frame)
    finally:
        port.bus.shutdown()


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="max_pending_bytes"):
        SocketcandServer(max_pending_bytes=100)
    with pytest.raises(ValueError, match="idle_timeout_s"):
        SocketcandServer(idle_timeout_s=0)
    with pytest.raises(ValueError, match="max_clients"):
        SocketcandServer(max_clients=0)


def test_only_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        SocketcandServer(host="0.0.0.0")
    with pytest.raises(ValueError, match="wall time"):
        SocketcandServer({"vcan0": BusConfig(interface="simtime", channel="x")})


def test_text_formats() -> None:
    assert parse_send("send 123 2 a ff".split()).data == bytearray(b"\x0a\xff")
    assert parse_send("send 00000123 0".split()).is_extended_id
    with pytest.raises(CommandError, match="fdsend"):
        parse_send("send 123 12 1 2 3 4 5 6 7 8 9 a b c".split())
    msg = can.Message(arbitration_id=0x7FF, data=b"\x01", is_extended_id=False, timestamp=12.9999999)
    assert format_frame(msg) == b"< frame 7FF 13.000000 01 >"
    assert format_frame(can.Message(is_remote_frame=True, arbitration_id=1, is_extended_id=False)) is None
    fd = can.Message(arbitration_id=1, data=b"\x00" * 12, is_fd=True, is_extended_id=False)
    assert format_frame(fd, fd=False) is None


# ---------------------------------------------------------------- the bench, end to end, in wall time

def test_bench_runs_through_socketcand_in_wall_time(server: SocketcandServer, channel: str) -> None:
    """Emulated BMS/VCU/OBC talk through python-can's socketcand client and the emulated daemon;
    on the daemon's bus the bundled compute unit runs as "the real ECU"."""
    ecu_config = BenchConfig(bus=BusConfig(interface="virtual", channel=channel),
                             emulate=frozenset({"cu"}), wall_time=True)
    bench_config = BenchConfig(bus=BusConfig(interface="socketcand", channel="vcan0",
                                             kwargs={"host": "127.0.0.1", "port": server.port, "tcp_tune": True}),
                               emulate=frozenset({"bms", "vcu", "obc"}))
    _run_pair(ecu_config, bench_config, seconds=2.0)
    assert server.frames_to_bus > 100 and server.frames_to_clients >= 15
    # the 64-byte BMS_ModuleCellsFD cannot cross: python-can's client sends classic frames only, so
    # the bench never writes it (it counts it and fails bus integrity, tests/cli/test_adapter_commands.py)
    # and the daemon sees no command it must refuse
    assert server.bad_commands == 0


# ---------------------------------------------------------------- the bench's side when the server is down

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_server_that_is_down_is_waited_for_bounded_and_quietly(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    config = BusConfig(interface="socketcand", channel="vcan0",
                       kwargs={"host": "127.0.0.1", "port": _free_port()}, connect_timeout_s=2.0)
    started = time.monotonic()
    with pytest.raises(BusError, match=r"no socketcand server at 127\.0\.0\.1:\d+ after 2 s"):
        open_bus(config)
    took_s = time.monotonic() - started
    assert 1.9 <= took_s < 3.0
    assert len(caplog.records) <= took_s + 1                 # at most one line a second, python-can's included
    assert all(r.name == "hilbench.bus.open" for r in caplog.records)


def test_a_server_that_comes_up_late_is_connected_to(channel: str) -> None:
    port = _free_port()
    server = SocketcandServer({"vcan0": BusConfig(interface="virtual", channel=channel)}, port=port)
    late = threading.Timer(0.7, server.start)
    late.start()
    try:
        bus = open_bus(BusConfig(interface="socketcand", channel="vcan0",
                                 kwargs={"host": "127.0.0.1", "port": port}, connect_timeout_s=5.0))
        bus.shutdown()
    finally:
        late.join()
        server.stop()
    assert server.connections == 2                           # the probe, then python-can's client
