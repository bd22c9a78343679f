"""A minimal socketcand daemon on loopback TCP, bridged to a python-can bus.

socketcand (linux-can/socketcand) exposes SocketCAN interfaces over TCP with
an ASCII protocol of ``< ... >`` elements.  This server speaks the subset
python-can's ``socketcand`` client uses, with real socketcand's formats, so
the remote-access path runs with no SocketCAN in the kernel::

    with SocketcandServer({"vcan0": BusConfig(interface="virtual", channel="hil")}) as server:
        bus = can.Bus(interface="socketcand", host="127.0.0.1", port=server.port, channel="vcan0")

Session (one per TCP connection, each its own participant on the bridged bus,
like socketcand's one raw CAN socket per client):

- on connect the server sends ``< hi >``;
- ``< open NAME >`` -> ``< ok >`` (or ``< error could not open bus >``);
- ``< rawmode >`` -> ``< ok >``; from then on every frame on the bus is sent as
  ``< frame ID SECS.USECS DATA >`` (ID: 3 hex digits standard, 8 extended;
  DATA: contiguous hex, empty for no data) and CAN FD frames as
  ``< fdframe ID FLAGS SECS.USECS DATA >``; error frames as
  ``< error CLASS SECS.USECS >``; remote frames are not forwarded (socketcand
  does not either);
- ``< send ID LEN B0 B1 .. >`` sends a classic frame (LEN 0..8, bytes in hex
  of one or two digits; an 8-digit ID is extended), ``< fdsend ID FLAGS LEN
  B0 .. >`` a CAN FD frame (FLAGS: 0x01 bit-rate switch, 0x02 ESI);
- ``< echo >`` is echoed; ``< bcmmode >`` leaves raw mode;
- a bridged bus that cannot be opened (at ``< rawmode >``, or for a ``send``
  outside raw mode) is answered with ``< error could not open bus >`` and logged.

As in socketcand, a malformed ``send`` is logged and counted but not
answered, and an unknown command is answered with ``< error unknown command >``.
Elements split across TCP reads are reassembled (buffered until ``>``).  The
server listens on loopback only: socketcand has no authentication.  No UDP
beacon is sent.

Limits (real socketcand has none; each is a constructor argument):

- the kernel's socket buffers are fixed at 16 KiB each way (Linux doubles
  that), so a client that does not read is noticed after kilobytes, not the
  megabytes to which loopback TCP would grow them.
- ``max_element_bytes`` (256): a partial element longer than this closes the
  connection.  Input is read 4 KiB at a time at most, so a client's input
  buffer never holds more than 4 KiB + 256 bytes.
- ``max_pending_bytes`` (64 KiB): output waiting for one client.  A frame
  that does not fit is dropped and counted; the client's input is not read
  while its replies might not fit, so a client that sends and never reads is
  slowed to the pace at which it reads.
- ``write_timeout_s`` (5 s): a client whose waiting output has not moved for
  this long does not read; it is disconnected, with the reason logged.
- ``handshake_timeout_s`` (10 s): a connection that has not opened a bus by
  then is closed; ``idle_timeout_s`` (60 s, None for no limit): a connection
  with no byte in either direction for that long is closed.
- ``max_clients`` (16): one more is sent ``< error too many clients >`` and
  closed.

Every disconnect is logged with its reason and counted in ``disconnected``;
the server's warnings are rate-limited to one line a second per kind.  Should
the server's thread fail, it closes every connection (no client waits on a
dead server) and keeps the exception in ``failure``.

The first frames after ``< rawmode >``'s ``< ok >`` are held back for
``handshake_grace_s``: python-can's client reads the ``< ok >`` with a single
``recv`` and compares it verbatim, so an ``< ok >`` coalesced with a frame in
one TCP segment would fail its handshake.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import selectors
import socket
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import can
from can.util import CAN_FD_DLC

from ...clock import wall_time_s
from ...errors import BusError
from ..open import BusConfig, open_bus, rate_limited

log = logging.getLogger(__name__)
rate_limited(log)

#: ``< fdsend 1FFFFFFF 03 64 `` + 64 ``XX `` + ``>``, with room for extra spaces
LONGEST_ELEMENT = 256
CANFD_BRS = 0x01
CANFD_ESI = 0x02
_ID = re.compile("[0-9A-Fa-f]{1,8}")
_BYTE = re.compile("[0-9A-Fa-f]{1,2}")
_DECIMAL = re.compile("[0-9]{1,2}")
_FD_LENGTHS = frozenset(CAN_FD_DLC)
#: the most a client is read at once
READ_BYTES = 4096
#: the most reply bytes one input byte can cause (``<>`` -> ``< error unknown command >``), rounded up
REPLY_BYTES_PER_INPUT_BYTE = 13
TOO_MANY_CLIENTS = b"< error too many clients >"
#: output room below which nothing more is read from a client (the replies might not fit)
READ_RESERVE_BYTES = 64
MIN_PENDING_BYTES = 1024
#: the kernel's buffers per connection, each way (Linux doubles the value it is given); without a
#: cap, loopback TCP grows them to megabytes and a client that does not read is noticed late
KERNEL_BUFFER_BYTES = 16 * 1024


class CommandError(ValueError):
    """A malformed element; the message says what was expected and what came."""


def _frame_id(token: str) -> tuple[int, bool]:
    if not _ID.fullmatch(token):
        raise CommandError(f"expected a CAN ID of 1..8 hex digits, got {token!r}")
    frame_id = int(token, 16)
    extended = len(token) == 8                  # socketcand: an 8-digit ID is extended
    if frame_id > (0x1FFFFFFF if extended else 0x7FF):
        raise CommandError(f"CAN ID {token} out of range for a {'extended' if extended else 'standard'} frame")
    return frame_id, extended


def _data(tokens: list[str], length: int) -> bytes:
    if len(tokens) != length:
        raise CommandError(f"expected {length} data byte(s), got {len(tokens)}")
    for token in tokens:
        if not _BYTE.fullmatch(token):
            raise CommandError(f"expected a data byte of 1..2 hex digits, got {token!r}")
    return bytes(int(token, 16) for token in tokens)


def parse_send(tokens: list[str]) -> can.Message:
    """``send ID LEN B..`` or ``fdsend ID FLAGS LEN B..`` (tokens without ``<``/``>``) to a message.

    LEN is decimal, as socketcand reads it (python-can writes it in hex, which
    is the same for 0..8).

    Raises:
        CommandError: what was expected and what came.
    """
    command = tokens[0]
    if command == "send":
        if len(tokens) < 3:
            raise CommandError(f"expected '< send ID LEN DATA.. >', got {' '.join(tokens)!r}")
        frame_id, extended = _frame_id(tokens[1])
        if not _DECIMAL.fullmatch(tokens[2]) or int(tokens[2]) > 8:
            raise CommandError(f"expected a length of 0..8, got {tokens[2]!r} (CAN FD frames need fdsend)")
        data = _data(tokens[3:], int(tokens[2]))
        return can.Message(arbitration_id=frame_id, is_extended_id=extended, data=data, is_rx=False)
    if command == "fdsend":
        if len(tokens) < 4:
            raise CommandError(f"expected '< fdsend ID FLAGS LEN DATA.. >', got {' '.join(tokens)!r}")
        frame_id, extended = _frame_id(tokens[1])
        if not _BYTE.fullmatch(tokens[2]):
            raise CommandError(f"expected FD flags as 1..2 hex digits, got {tokens[2]!r}")
        flags = int(tokens[2], 16)
        if not _DECIMAL.fullmatch(tokens[3]) or int(tokens[3]) not in _FD_LENGTHS:
            raise CommandError(f"expected a CAN FD length ({', '.join(map(str, sorted(_FD_LENGTHS)))}), "
                               f"got {tokens[3]!r}")
        data = _data(tokens[4:], int(tokens[3]))
        return can.Message(arbitration_id=frame_id, is_extended_id=extended, data=data, is_fd=True,
                           bitrate_switch=bool(flags & CANFD_BRS), error_state_indicator=bool(flags & CANFD_ESI),
                           is_rx=False)
    raise CommandError(f"expected send or fdsend, got {command!r}")


def format_frame(msg: can.Message, *, fd: bool = True) -> bytes | None:
    """One bus frame as socketcand sends it in raw mode; None if it is not forwarded."""
    whole_us = int(round(msg.timestamp * 1_000_000))
    secs, usecs = divmod(whole_us, 1_000_000)
    if msg.is_error_frame:
        return f"< error {msg.arbitration_id & 0x1FFFFFFF:03X} {secs}.{usecs:06d} >".encode("ascii")
    if msg.is_remote_frame:
        return None
    ident = f"{msg.arbitration_id & 0x1FFFFFFF:08X}" if msg.is_extended_id else f"{msg.arbitration_id & 0x7FF:03X}"
    data = bytes(msg.data).hex().upper()
    if msg.is_fd:
        if not fd:
            return None
        flags = (CANFD_BRS if msg.bitrate_switch else 0) | (CANFD_ESI if msg.error_state_indicator else 0)
        return f"< fdframe {ident} {flags:02X} {secs}.{usecs:06d} {data} >".encode("ascii")
    if len(msg.data) > 8:
        return None
    return f"< frame {ident} {secs}.{usecs:06d} {data} >".encode("ascii")


@dataclass
class _Client:
    sock: socket.socket
    peer: str
    connected_s: float
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)
    state: str = "nobus"                  # nobus -> bcm (after open) -> raw (after rawmode)
    bus_name: str = ""
    bus: can.BusABC | None = None
    raw_since_s: float = 0.0
    heard_s: float = 0.0                  # last byte in or out
    output_moved_s: float = 0.0           # last time the output was empty or a byte of it was sent
    reading: bool = True                  # registered for reading in the selector


class SocketcandServer:
    """A socketcand daemon on 127.0.0.1, bridging named buses to python-can buses.

    ``buses`` maps the names clients open (``vcan0``) to the bus each is
    bridged to (a ``virtual`` channel by default).  ``port=0`` picks a free
    port; read it from :attr:`port` after :meth:`start`.  Use as a context
    manager: connections, bridge buses and the thread are released on exit.
    """

    def __init__(self, buses: Mapping[str, BusConfig] | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 fd: bool = True, max_clients: int = 16, max_element_bytes: int = LONGEST_ELEMENT,
                 max_pending_bytes: int = 64 * 1024, write_timeout_s: float = 5.0,
                 handshake_timeout_s: float = 10.0, idle_timeout_s: float | None = 60.0,
                 handshake_grace_s: float = 0.05, poll_interval_s: float = 0.002,
                 allow_remote: bool = False) -> None:
        self.buses = dict(buses) if buses is not None else {"vcan0": BusConfig(interface="virtual", channel="vcan0")}
        for name, config in self.buses.items():
            if not name or any(ch.isspace() or ch in "<>" for ch in name):
                raise ValueError(f"bus name {name!r} cannot be sent in a socketcand element")
            if config.interface == "simtime":
                raise ValueError(f"bus {name!r}: the socketcand server runs in wall time: bridge it to "
                                 "'virtual' or a real interface, not to the simulated-time 'simtime' bus")
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback and not allow_remote:
            raise ValueError(f"expected a loopback address such as 127.0.0.1, got {host!r}: socketcand has "
                             "no authentication, so the emulated daemon listens beyond this host only when "
                             "told to (allow_remote, on an isolated lab network)")
        if max_element_bytes < LONGEST_ELEMENT:
            raise ValueError(f"max_element_bytes must be at least {LONGEST_ELEMENT} (the longest valid element)")
        if max_pending_bytes < MIN_PENDING_BYTES:
            raise ValueError(f"max_pending_bytes must be at least {MIN_PENDING_BYTES}, got {max_pending_bytes}")
        if max_clients < 1:
            raise ValueError(f"max_clients must be at least 1, got {max_clients}")
        for name, value in (("write_timeout_s", write_timeout_s), ("handshake_timeout_s", handshake_timeout_s),
                            ("idle_timeout_s", idle_timeout_s)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        self.host = host
        self.port = port
        self.fd = fd
        self.max_clients = max_clients
        self.max_element_bytes = max_element_bytes
        self.max_pending_bytes = max_pending_bytes
        self.write_timeout_s = write_timeout_s
        self.handshake_timeout_s = handshake_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.handshake_grace_s = handshake_grace_s
        self.poll_interval_s = poll_interval_s

        #: counters, for tests and logs
        self.connections = 0
        self.frames_to_bus = 0
        self.frames_to_clients = 0
        self.dropped_to_clients = 0
        self.bad_commands = 0
        self.overlong_elements = 0
        self.refused_clients = 0
        #: connections the server closed, by reason ("not reading", "idle", "no bus opened", "overlong element")
        self.disconnected: Counter[str] = Counter()
        #: the exception that stopped the server thread, if any
        self.failure: BaseException | None = None

        self._listener: socket.socket | None = None
        self._clients: dict[int, _Client] = {}
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> SocketcandServer:
        """Listen and start serving; returns self.

        Raises:
            OSError: the address cannot be bound.
            RuntimeError: already started.
        """
        if self._thread is not None:
            raise RuntimeError("socketcand server already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, KERNEL_BUFFER_BYTES)   # accepted sockets
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, KERNEL_BUFFER_BYTES)   # inherit both
            listener.bind((self.host, self.port))
            listener.listen(self.max_clients)
            listener.setblocking(False)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name=f"socketcand {self.host}:{self.port}", daemon=True)
        self._thread.start()
        log.info("socketcand server on %s:%d serving %s", self.host, self.port, ", ".join(self.buses))
        return self

    def stop(self) -> None:
        """Stop the thread, close every connection and bridge bus; safe to call twice."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join()
        for client in list(self._clients.values()):
            self._close(client)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self) -> SocketcandServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def clients(self) -> int:
        """How many TCP clients are connected now."""
        return len(self._clients)

    # -- the server thread ---------------------------------------------------
    def _serve(self) -> None:
        assert self._listener is not None
        listener = self._listener
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            try:
                while not self._stopping.is_set():
                    for key, _ in selector.select(self.poll_interval_s):
                        if key.fileobj is listener:
                            self._accept(listener, selector)
                        else:
                            client = self._clients.get(key.fd)
                            if client is not None:
                                self._read(client, selector)
                    now = wall_time_s()
                    for client in list(self._clients.values()):
                        self._forward_frames(client, now)
                        self._flush(client, selector, now)
                        if client.sock.fileno() in self._clients:
                            self._enforce_limits(client, selector, now)
            except Exception as exc:   # keep the reason; the owner sees it in .failure and the log
                self.failure = exc
                log.exception("socketcand server on %s:%d stopped", self.host, self.port)
                for client in list(self._clients.values()):   # so that no client waits on a dead server
                    self._close(client)

    def _accept(self, listener: socket.socket, selector: selectors.BaseSelector) -> None:
        try:
            sock, address = listener.accept()
        except BlockingIOError:
            return
        peer = f"{address[0]}:{address[1]}"
        if len(self._clients) >= self.max_clients:
            self.refused_clients += 1
            log.warning("socketcand server: refusing %s: already %d clients (max_clients)", peer, len(self._clients))
            try:
                sock.setblocking(False)
                sock.send(TOO_MANY_CLIENTS)
            except OSError:
                pass
            sock.close()
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        now = wall_time_s()
        client = _Client(sock, peer, connected_s=now, heard_s=now, output_moved_s=now)
        self._clients[sock.fileno()] = client
        selector.register(sock, selectors.EVENT_READ)
        self.connections += 1
        client.outbuf += b"< hi >"

    def _read(self, client: _Client, selector: selectors.BaseSelector) -> None:
        # Read no more than the replies to it could take: at most 13 reply bytes per input byte.
        room = self.max_pending_bytes - len(client.outbuf)
        size = min(READ_BYTES, (room - READ_RESERVE_BYTES) // REPLY_BYTES_PER_INPUT_BYTE)
        if size <= 0:
            return
        try:
            data = client.sock.recv(size)
        except BlockingIOError:
            return
        except OSError as exc:
            log.info("socketcand client %s: %s", client.peer, exc)
            data = b""
        if not data:
            self._close(client, selector)
            return
        client.heard_s = wall_time_s()
        client.inbuf += data
        if not self._parse(client):
            self.overlong_elements += 1
            self._close(client, selector, reason="overlong element",
                        detail=f"a partial element over {self.max_element_bytes} bytes (max_element_bytes)")

    def _parse(self, client: _Client) -> bool:
        """Execute every complete ``< .. >`` element; False if a partial one is over the cap."""
        buf = client.inbuf
        while True:
            start = buf.find(b"<")
            if start < 0:
                if buf.strip():
                    log.debug("socketcand client %s: discarding %r outside < >", client.peer, bytes(buf[:40]))
                buf.clear()
                return True
            end = buf.find(b">", start)
            if end < 0:
                del buf[:start]
                return len(buf) <= self.max_element_bytes
            element = bytes(buf[start + 1:end])
            del buf[:end + 1]
            if end - start > self.max_element_bytes:
                return False
            self._execute(client, element.decode("ascii", errors="replace").split())

    def _execute(self, client: _Client, tokens: list[str]) -> None:
        command = tokens[0] if tokens else ""
        if command == "echo" and len(tokens) == 1:
            client.outbuf += b"< echo >"
        elif client.state == "nobus":
            if command == "open" and len(tokens) == 2 and tokens[1] in self.buses:
                client.bus_name = tokens[1]
                client.state = "bcm"
                client.outbuf += b"< ok >"
            elif command == "open":
                self.bad_commands += 1
                client.outbuf += b"< error could not open bus >"
            else:
                self.bad_commands += 1
                client.outbuf += b"< error unknown command >"
        elif command in ("send", "fdsend") and client.state in ("bcm", "raw"):
            self._send(client, tokens)
        elif command == "rawmode" and len(tokens) == 1:
            if client.state != "raw":
                try:
                    client.bus = open_bus(self.buses[client.bus_name])
                except BusError as exc:
                    log.error("socketcand client %s: %s", client.peer, exc)
                    client.outbuf += b"< error could not open bus >"
                    return
                client.state = "raw"
                client.raw_since_s = wall_time_s()
            client.outbuf += b"< ok >"
        elif command == "bcmmode" and len(tokens) == 1:
            self._leave_raw(client)
            client.outbuf += b"< ok >"
        else:
            self.bad_commands += 1
            log.info("socketcand client %s: unknown command %r", client.peer, " ".join(tokens))
            client.outbuf += b"< error unknown command >"

    def _send(self, client: _Client, tokens: list[str]) -> None:
        try:
            msg = parse_send(tokens)
            if msg.is_fd and not self.fd:
                raise CommandError("this server has CAN FD switched off")
        except CommandError as exc:
            self.bad_commands += 1        # socketcand logs a syntax error and answers nothing
            log.warning("socketcand client %s: syntax error in %s: %s", client.peer, tokens[0], exc)
            return
        bus = client.bus
        opened_here = bus is None
        if bus is None:                   # a send in BCM mode: through a short-lived handle
            try:
                bus = open_bus(self.buses[client.bus_name])
            except BusError as exc:
                log.error("socketcand client %s: %s", client.peer, exc)
                client.outbuf += b"< error could not open bus >"
                return
        try:
            bus.send(msg)
            self.frames_to_bus += 1
        except can.CanError as exc:
            log.warning("socketcand client %s: send failed on %s: %s", client.peer, client.bus_name, exc)
        finally:
            if opened_here:
                bus.shutdown()

    def _forward_frames(self, client: _Client, now: float) -> None:
        bus = client.bus
        if bus is None or now - client.raw_since_s < self.handshake_grace_s:
            return
        dropped = 0
        while (msg := bus.recv(0.0)) is not None:
            text = format_frame(msg, fd=self.fd)
            if text is None:
                continue
            if len(client.outbuf) + len(text) > self.max_pending_bytes:
                dropped += 1
                continue
            client.outbuf += text
            self.frames_to_clients += 1
        if dropped:
            self.dropped_to_clients += dropped
            log.warning("socketcand client %s: %d frame(s) dropped, %d bytes already waiting (max_pending_bytes)",
                        client.peer, dropped, len(client.outbuf))

    def _flush(self, client: _Client, selector: selectors.BaseSelector, now: float) -> None:
        if not client.outbuf:
            client.output_moved_s = now
            return
        try:
            sent = client.sock.send(client.outbuf)
        except BlockingIOError:
            return
        except OSError as exc:
            log.info("socketcand client %s: %s", client.peer, exc)
            self._close(client, selector)
            return
        if sent:
            del client.outbuf[:sent]
            client.output_moved_s = client.heard_s = now

    def _enforce_limits(self, client: _Client, selector: selectors.BaseSelector, now: float) -> None:
        """Close a client that does not read, never opened a bus, or went idle; pace its reading."""
        if client.outbuf and now - client.output_moved_s > self.write_timeout_s:
            self._close(client, selector, reason="not reading",
                        detail=f"{len(client.outbuf)} bytes waiting, none taken for {self.write_timeout_s:g} s")
        elif client.state == "nobus" and now - client.connected_s > self.handshake_timeout_s:
            self._close(client, selector, reason="no bus opened",
                        detail=f"no '< open .. >' within {self.handshake_timeout_s:g} s")
        elif self.idle_timeout_s is not None and now - client.heard_s > self.idle_timeout_s:
            self._close(client, selector, reason="idle",
                        detail=f"no byte either way for {self.idle_timeout_s:g} s")
        else:
            room = self.max_pending_bytes - len(client.outbuf)
            reading = (room - READ_RESERVE_BYTES) // REPLY_BYTES_PER_INPUT_BYTE > 0
            if reading != client.reading:        # a full client is left unread, and not polled for
                client.reading = reading
                if reading:
                    selector.register(client.sock, selectors.EVENT_READ)
                else:
                    selector.unregister(client.sock)

    def _leave_raw(self, client: _Client) -> None:
        if client.bus is not None:
            bus, client.bus = client.bus, None
            bus.shutdown()
        if client.state == "raw":
            client.state = "bcm"

    def _close(self, client: _Client, selector: selectors.BaseSelector | None = None, *, reason: str = "",
               detail: str = "") -> None:
        """Drop a connection; a ``reason`` means the server chose to, and is logged and counted."""
        if self._clients.pop(client.sock.fileno(), None) is None:
            return
        if reason:
            self.disconnected[reason] += 1
            # the reason in the message itself: each reason is its own kind for the rate limit
            log.warning(f"socketcand client %s disconnected: {reason} (%s)", client.peer, detail)
        if selector is not None and client.reading:
            selector.unregister(client.sock)
        client.reading = False
        self._leave_raw(client)
        client.sock.close()
