"""The emulated socketcand server and SLCAN adapter hold against abusive clients.

Each server runs in a process of its own (``_fuzz_server.py``), so that its RSS is the server's
alone, and is fuzzed with seeded random, mutated, over-long and split lines, plus a client that
never reads.  What must hold:

- the server still answers other clients: python-can's own ``socketcand`` / ``slcan`` client, in a
  third process (``_good_client.py``), gets a pong for every ping, during the abuse for socketcand
  and right after it for the adapter (a serial port has one host at a time);
- its RSS grows by less than 10 MiB between a warm-up round and the end of the fuzzing;
- valid frames among the junk, and valid frames split at every byte offset, all reach the bus
  unchanged and in order (the server's peer digests the marker frames it hears);
- a client that never reads is disconnected (socketcand) or reset (SLCAN) with the reason logged,
  the next SLCAN host gets no stale output, and the server's log stays short (rate-limited).

The default run is a seeded reduced form; ``HILBENCH_SLOW=1`` runs >= 100,000 lines per server.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import can
import pytest

from hilbench.bus.emulated.slcan_adapter import LONGEST_COMMAND
from hilbench.bus.emulated.slcan_adapter import format_frame as slcan_text

from _fuzz_input import (
    chunks,
    marker_message,
    slcan_line_count,
    slcan_mixed,
    slcan_wild,
    socketcand_mixed,
    socketcand_send,
    socketcand_wild,
)
from _fuzz_server import marker_key

SLOW = bool(os.environ.get("HILBENCH_SLOW"))
#: fuzz lines per server in the measured round (split over the clients that send them)
LINES = 100_000 if SLOW else 6_000
WARMUP_LINES = 2_000
SEED = 20261207
RSS_GROWTH_LIMIT_KIB = 10 * 1024
#: how the fuzz servers are set up: a non-reader is found out after half a second
SERVER_OPTIONS = {"write_timeout_s": 0.5}
MAX_LINE_BYTES = 2 * LONGEST_COMMAND
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]

pytestmark = [pytest.mark.skipif(not Path("/proc/self/status").exists(),
                                 reason="the servers' RSS is read from /proc (Linux only)"),
              pytest.mark.wall_clock]


def _env() -> dict[str, str]:
    paths = [str(ROOT), str(HERE)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths))


class ServerProcess:
    """``_fuzz_server.py`` in a child process: ask it for counters, RSS and the markers its peer heard."""

    def __init__(self, kind: str, log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_fuzz_server.py"), kind, f"fuzz-{kind}", json.dumps(SERVER_OPTIONS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True, env=_env())
        self.address = self._answer()

    def _answer(self) -> dict:
        line = self.proc.stdout.readline()          # type: ignore[union-attr]
        assert line, f"the server process died; its log:\n{self.log_path.read_text()[-3000:]}"
        return json.loads(line)

    def ask(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")       # type: ignore[union-attr]
        self.proc.stdin.flush()                     # type: ignore[union-attr]
        return self._answer()

    def markers_reach(self, expected: list[can.Message], timeout_s: float = 20.0) -> dict:
        """Wait until the peer heard as many markers as were sent; its digest must then be theirs."""
        deadline = time.monotonic() + timeout_s
        while (heard := self.ask("markers"))["count"] < len(expected) and time.monotonic() < deadline:
            time.sleep(0.05)
        digest = hashlib.sha256(b"".join(marker_key(m).encode() + b"\n" for m in expected)).hexdigest()
        assert heard["count"] == len(expected), f"{heard['count']} of {len(expected)} markers; last: {heard['last']}"
        assert heard["digest"] == digest, f"markers changed or reordered; last heard: {heard['last']}"
        self.ask("reset")
        return heard

    def wait_until(self, condition: Callable[[dict], bool], timeout_s: float = 5.0) -> dict:
        """Poll the server's counters until ``condition`` holds; they are returned either way."""
        deadline = time.monotonic() + timeout_s
        while not condition(stats := self.ask("stats")) and time.monotonic() < deadline:
            time.sleep(0.02)
        return stats

    def close(self) -> str:
        """Stop the server; its log."""
        self.proc.stdin.close()                     # type: ignore[union-attr]
        try:
            self.proc.wait(15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()                # type: ignore[union-attr]
            self._log.close()
        assert self.proc.returncode == 0, self.log_path.read_text()[-3000:]
        return self.log_path.read_text()


def good_client(config: dict, pings: int = 10) -> dict:
    """python-can's own client, in a process of its own: pings sent, pongs back."""
    done = subprocess.run([sys.executable, str(HERE / "_good_client.py"), json.dumps(config), str(pings)],
                          capture_output=True, text=True, timeout=120, env=_env())
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def _drain(read: Callable[[], bytes], stop: threading.Event, seen: bytearray | None = None) -> threading.Thread:
    """Read and discard everything in a thread (keeping the last bytes in ``seen``) until ``stop``."""
    def run() -> None:
        while not stop.is_set():
            try:
                data = read()
            except (OSError, ValueError):
                return
            if data is None:
                continue
            if not data:
                return
            if seen is not None:
                seen[:] = (bytes(seen) + data)[-64:]
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _split_everywhere(write: Callable[[bytes], None], markers: list[can.Message],
                      text: Callable[[can.Message], bytes]) -> list[can.Message]:
    """Each marker's text in two writes, split at every byte offset in turn (a pause between the two
    halves, so that they land in separate reads); returns the markers in the order they were sent."""
    sent = []
    for msg in markers:
        line = text(msg)
        for offset in range(1, len(line)):
            write(line[:offset])
            time.sleep(0.002)
            write(line[offset:])
            sent.append(msg)
    return sent


Round = Callable[[ServerProcess, random.Random, int, bool], dict]


def _fuzz(kind: str, tmp_path: Path, round_: Round) -> tuple[dict, dict, dict, str]:
    """A warm-up round, then the measured one (``LINES`` lines); checks what holds for every server
    (it never failed, its RSS grew < 10 MiB, its log stayed short) and returns the counters before
    and after the measured round, the round's results and the server's log."""
    server = ServerProcess(kind, tmp_path / f"{kind}.log")
    try:
        rng = random.Random(SEED)
        round_(server, rng, WARMUP_LINES, False)
        before = server.ask("stats")
        results = round_(server, rng, LINES, True)
        after = server.ask("stats")
    finally:
        log = server.close()
    elapsed_s = time.monotonic() - server.started
    if isinstance(results.get("markers"), list):
        results["markers"] = len(results["markers"])
    print(f"\n{kind}: {LINES} lines, RSS {before['rss_kib']} -> {after['rss_kib']} KiB "
          f"(+{after['rss_kib'] - before['rss_kib']} KiB) in {elapsed_s:.0f} s, {results}, counters {after}")
    assert after["failure"] is None
    assert after["rss_kib"] - before["rss_kib"] < RSS_GROWTH_LIMIT_KIB
    assert len(log.splitlines()) < 8 * elapsed_s + 20                # rate-limited: a few kinds, one a second
    return before, after, results, log


# ---------------------------------------------------------------- socketcand

def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5.0)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _socket_reader(sock: socket.socket) -> Callable[[], bytes | None]:
    def read() -> bytes | None:
        if not select.select([sock], [], [], 0.1)[0]:
            return None
        return sock.recv(65536)
    return read


def _send_pieces(rng: random.Random, send: Callable[[bytes], None], data: bytes) -> None:
    """``data`` in random pieces, now and then after a pause, so that pieces land in separate reads."""
    for number, piece in enumerate(chunks(rng, data)):
        send(piece)
        if number % 64 == 0:
            time.sleep(0.001)


def _socketcand_stream(port: int, rng: random.Random, data: bytes, *, hung_up: bool = False) -> None:
    """Send ``data`` over one connection in random pieces, reading (and discarding) every reply.

    The connection ends with a half-close, and waits for the server to close its side: only then
    has the server taken every byte (closing with replies unread would reset the connection and
    throw the rest of the input away).  With ``hung_up`` the data ends in an over-long element and
    the server must hang up on its own.
    """
    sock = _connect(port)
    stop = threading.Event()
    reader = _drain(_socket_reader(sock), stop)
    try:
        try:
            _send_pieces(rng, sock.sendall, data)
            if not hung_up:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            assert hung_up, "the server hung up"
        reader.join(60.0)
        assert not reader.is_alive(), "the server did not take the whole stream within 60 s"
    finally:
        stop.set()
        reader.join()
        sock.close()


def _socketcand_mixed_client(port: int, rng: random.Random, lines: int) -> list[can.Message]:
    """A client that reads: junk and markers, split at random; returns the markers sent."""
    data, markers = socketcand_mixed(rng, lines)
    _socketcand_stream(port, rng, data)
    return markers


def _socketcand_wild_client(port: int, rng: random.Random, lines: int) -> int:
    """Anything at all, a connection per over-long element (the server hangs up); returns the hang-ups."""
    segments = socketcand_wild(rng, lines)
    for number, segment in enumerate(segments):
        _socketcand_stream(port, rng, segment, hung_up=number < len(segments) - 1)
    return len(segments) - 1


def _socketcand_sloth(port: int, cycles: int, until: threading.Event) -> list[float]:
    """A client that opens a bus, sends junk and never reads, over ``cycles`` connections at least and
    until ``until`` is set (so it is there all the while the good client runs); returns how long each
    connection lasted."""
    lasted: list[float] = []
    while len(lasted) < cycles or not until.is_set():
        sock = _connect(port)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        start = time.monotonic()
        sock.sendall(b"< open vcan0 >< rawmode >")
        sock.settimeout(0.1)
        try:
            while time.monotonic() - start < 20.0:
                try:
                    sock.send(b"<>< junk >< send 1 9 >" * 200)
                except TimeoutError:
                    continue
        except OSError:                          # disconnected by the server
            lasted.append(time.monotonic() - start)
        else:
            return lasted                        # never disconnected: the test sees too few
        finally:
            sock.close()
    return lasted


def _socketcand_split_markers(port: int, first: int) -> list[can.Message]:
    """Marker elements of every kind, each split at every byte offset into two writes."""
    sock = _connect(port)
    sock.sendall(b"< open vcan0 >< rawmode >")
    stop = threading.Event()
    reader = _drain(_socket_reader(sock), stop)
    try:
        sent = _split_everywhere(sock.sendall, [marker_message(first + kind, kinds=5) for kind in range(5)],
                                 socketcand_send)
    finally:
        time.sleep(0.1)
        stop.set()
        reader.join()
        sock.close()
    return sent


def _socketcand_round(server: ServerProcess, rng: random.Random, lines: int, sloth_cycles: int) -> dict:
    port = server.address["port"]
    results: dict = {}
    mixed_rng, wild_rng = random.Random(rng.random()), random.Random(rng.random())
    good_done = threading.Event()
    jobs = {
        "markers": lambda: _socketcand_mixed_client(port, mixed_rng, lines // 2),
        "reconnects": lambda: _socketcand_wild_client(port, wild_rng, lines // 2),
        "sloth": lambda: _socketcand_sloth(port, sloth_cycles, until=good_done),
    }
    threads = [threading.Thread(target=lambda k=k, job=job: results.__setitem__(k, job())) for k, job in jobs.items()]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    try:
        results["good"] = good_client({"interface": "socketcand", "channel": "vcan0", "host": "127.0.0.1",
                                       "port": port, "tcp_tune": True})
        # how many fuzz clients were still at it when the good client had its last pong
        results["abusers_during_good"] = sum(thread.is_alive() for thread in threads)
    finally:
        good_done.set()
    for thread in threads:
        thread.join()
    server.markers_reach(results["markers"])
    split = _socketcand_split_markers(port, first=1_000_000)
    server.markers_reach(split)
    results["split"] = len(split)
    results["good_after"] = good_client({"interface": "socketcand", "channel": "vcan0", "host": "127.0.0.1",
                                         "port": port, "tcp_tune": True})
    return results


def test_socketcand_server_holds(tmp_path: Path) -> None:
    before, after, results, log = _fuzz(
        "socketcand", tmp_path, lambda server, rng, lines, heavy: _socketcand_round(
            server, rng, lines, sloth_cycles=(5 if SLOW else 2) if heavy else 1))
    assert results["good"]["pongs"] == 10 and results["good_after"]["pongs"] == 10
    assert results["abusers_during_good"] >= 1                      # the client that never reads, at least
    assert len(results["sloth"]) >= (5 if SLOW else 2)             # every sloth connection was dropped
    assert all(lasted < 10.0 for lasted in results["sloth"])
    assert after["disconnected"]["not reading"] >= len(results["sloth"])
    overlong = after["disconnected"]["overlong element"] - before["disconnected"].get("overlong element", 0)
    assert overlong == results["reconnects"] > 0                    # every hang-up was for an over-long element
    assert after["bad_commands"] > LINES // 10
    assert "disconnected: not reading" in log


# ---------------------------------------------------------------- SLCAN

class Host:
    """The host side of the adapter's pty, raw; a thread reads and discards what the adapter sends."""

    def __init__(self, path: str, *, reading: bool = True) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        self.stop = threading.Event()
        self.tail = bytearray()
        self.reader = _drain(self._read, self.stop, self.tail) if reading else None

    def _read(self) -> bytes | None:
        if not select.select([self.fd], [], [], 0.1)[0]:
            return None
        return os.read(self.fd, 65536)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def close(self) -> None:
        self.stop.set()
        if self.reader is not None:
            self.reader.join()
        os.close(self.fd)


def _first_reply(server: ServerProcess) -> bytes:
    """A fresh host's first exchange: what comes back to its first command, and nothing else.

    It opens the port once the adapter has seen the last host go (a raw host does not flush on
    open as pyserial does, so a close and an open within one poll of the adapter would look like
    one session).
    """
    assert not server.wait_until(lambda stats: not stats["host_present"])["host_present"]
    fd = os.open(server.address["path"], os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, b"V\r")
        got = b""
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and select.select([fd], [], [], 0.2)[0]:
            got += os.read(fd, 65536)
        return got
    finally:
        os.close(fd)


def _slcan_sloth(path: str, seconds: float) -> int:
    """A host that opens the channel and writes commands for ``seconds``, never reading; bytes written."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    written = 0
    start = time.monotonic()
    try:
        os.write(fd, b"O\r")
        while time.monotonic() - start < seconds:
            try:
                written += os.write(fd, b"V\rN\rt1230\r" * 100)
            except BlockingIOError:
                select.select([], [fd], [], 0.1)
    finally:
        os.close(fd)
    return written


def _slcan_split_markers(path: str, first: int) -> list[can.Message]:
    host = Host(path)
    try:
        host.write(b"O\r")
        sent = _split_everywhere(host.write, [marker_message(first + kind) for kind in range(8)], slcan_text)
        time.sleep(0.1)
    finally:
        host.close()
    return sent


def _slcan_session(server: ServerProcess, rng: random.Random, data: bytes) -> None:
    """One reading host sends ``data`` in random pieces and closes once the adapter took every line."""
    stats = server.ask("stats")
    taken = stats["commands"] + stats["overlong_lines"] + slcan_line_count(data)
    host = Host(server.address["path"])
    try:
        _send_pieces(rng, host.write, data)
        stats = server.wait_until(lambda s: s["commands"] + s["overlong_lines"] >= taken, timeout_s=60.0)
        assert stats["commands"] + stats["overlong_lines"] == taken
    finally:
        host.close()


def _slcan_round(server: ServerProcess, rng: random.Random, lines: int, sloth_s: float) -> dict:
    path = server.address["path"]
    results: dict = {}
    data, markers = slcan_mixed(rng, lines // 2, MAX_LINE_BYTES)
    _slcan_session(server, rng, data)
    server.markers_reach(markers)
    results["markers"] = len(markers)
    assert _first_reply(server) == b"V1013\r"                        # nothing left over for the next host
    _slcan_session(server, rng, slcan_wild(rng, lines // 2, MAX_LINE_BYTES))
    assert _first_reply(server) == b"V1013\r"
    results["sloth_bytes"] = _slcan_sloth(path, sloth_s)
    assert _first_reply(server) == b"V1013\r"
    results["good"] = good_client({"interface": "slcan", "channel": path, "bitrate": 500_000,
                                   "sleep_after_open": 0})
    split = _slcan_split_markers(path, first=1_000_000)
    server.markers_reach(split)
    results["split"] = len(split)
    return results


def test_slcan_adapter_holds(tmp_path: Path) -> None:
    before, after, results, log = _fuzz(
        "slcan", tmp_path, lambda server, rng, lines, heavy: _slcan_round(
            server, rng, lines, sloth_s=(3.0 if SLOW else 1.5) if heavy else 1.0))
    assert results["good"]["pongs"] == 10
    assert after["resets"]["not reading"] > before["resets"].get("not reading", 0)
    assert after["overlong_lines"] > before["overlong_lines"]
    assert after["errors"] > LINES // 10
    assert "host not reading" in log
