"""An SLCAN (Lawicel) USB-CAN adapter, emulated on a pseudo-terminal.

A USB-CAN adapter bridges a serial port to a CAN bus.  This one bridges the
master side of a pty to a python-can bus (``virtual`` by default): python-can's
own ``slcan`` client opens the slave path with pyserial, exactly as it would
open ``/dev/ttyACM0``, so the bench's real-adapter path runs with no hardware::

    with SlcanAdapter(BusConfig(interface="virtual", channel="hil")) as adapter:
        bus = can.Bus(interface="slcan", channel=adapter.slave_path, bitrate=500_000,
                      sleep_after_open=0)

Protocol (Lawicel CAN232/CANUSB, plus the CANable 2.0 FD extension that
python-can's client speaks):

===========  ==================================================================
``Sn``       bit rate n = 0..8 (10k .. 1M); ``S9`` = 83.3k (python-can's table)
``sxxyy``    BTR0/BTR1 register bit timing
``Yn``       FD data bit rate (``Y2`` = 2M, ``Y5`` = 5M ...)
``O`` ``L``  open the channel (``L``: listen only, transmissions refused)
``C``        close the channel (idempotent, as CANable firmware does)
``V`` ``v``  hardware/software version (``V1013``), ``N`` serial number
``F``        status flags (only while open; bit 3 = data overrun towards host)
``Zn``       millisecond timestamps appended to received frames (0 off, 1 on)
``Mxxxxxxxx`` ``mxxxxxxxx``  acceptance code/mask: accepted, not applied
``t`` ``T``  standard / extended data frame ``tIIILDD..`` / ``TIIIIIIIILDD..``
``r`` ``R``  standard / extended remote frame ``rIIIL`` / ``RIIIIIIIIL``
``d`` ``D``  CAN FD frame (L is a DLC code 0..F), ``b`` ``B`` with bit-rate switch
(empty)      a bare CR: a sync, answered with CR (python-can sends one whenever it
             sets a bit rate without an FD data rate)
===========  ==================================================================

Every command is answered with CR on success or BEL on error (``V``, ``v``,
``N`` and ``F`` put their value before the CR).  ``\\r``, ``\\n`` and ``\\r\\n``
all end a command.

Sessions and limits (each limit is a constructor argument):

- The host is whoever has the pty's slave open.  When the last one closes
  it, the adapter resets as if unplugged: the channel closes, settings return
  to their power-on values, and output not yet read (the adapter's and the
  pty's) is discarded, so the next host starts with no stale replies.  A
  host that flushes its input (pyserial does when it opens the port) has the
  adapter's waiting output discarded too, so one that opens the port before
  the adapter saw the last one close also starts clean, but for what the
  adapter wrote in the instant between its flush and the adapter's next look.
- ``max_line_bytes`` (2 x the longest valid command, 284 bytes): a longer line
  is refused with one BEL and discarded up to its terminator.
- ``max_pending_bytes`` (64 KiB): output waiting for the host.  A frame that
  does not fit is dropped and reported by the ``F`` overrun flag, as a real
  adapter's FIFO would; the host's input is not read while the replies to it
  might not fit, so a host that writes and never reads is slowed to the pace
  at which it reads (the pty holds at most a few KiB each way).
- ``write_timeout_s`` (5 s): a host whose waiting output has not moved for
  this long does not read; the adapter resets (channel closed, output
  discarded) and logs why, the nearest a serial line comes to a disconnect.
- A serial port has one host by nature, so there is no client count and no
  connection slot an idle host could hold: an idle host costs nothing.
  (The pty itself does not stop a second process from opening it; pyserial's
  ``exclusive=True`` does, on the host's side.)

Warnings are rate-limited to one line a second per kind.  Should the
adapter's thread fail, it closes the pty's master (the host's port hangs up,
as if the adapter were unplugged) and keeps the exception in ``failure``.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import select
import struct
import termios
import threading
import tty
from collections import Counter
from dataclasses import dataclass

import can
from can.util import CAN_FD_DLC, len2dlc

from ...clock import wall_time_s
from ..open import BusConfig, open_bus, rate_limited

log = logging.getLogger(__name__)
rate_limited(log)

OK = b"\r"
ERROR = b"\a"

#: Lawicel ``Sn`` codes (S9 = 83.3 kbit/s is the extension python-can's table has)
BITRATES: dict[str, int] = {
    "0": 10_000, "1": 20_000, "2": 50_000, "3": 100_000, "4": 125_000,
    "5": 250_000, "6": 500_000, "7": 750_000, "8": 1_000_000, "9": 83_300,
}
#: CANable 2.0 ``Yn`` FD data bit rates
DATA_BITRATES: dict[str, int] = {"1": 1_000_000, "2": 2_000_000, "4": 4_000_000, "5": 5_000_000,
                                 "8": 8_000_000}
#: longest valid line: ``B`` + 8 id digits + DLC + 64 data bytes + a 4-digit timestamp
LONGEST_COMMAND = 1 + 8 + 1 + 128 + 4
#: the most reply bytes one input byte can cause (``V\\r`` -> ``V1013\\r``)
REPLY_BYTES_PER_INPUT_BYTE = 3
#: the most read from the host in one turn of the adapter
READ_BYTES = 64 * 1024
#: output room kept free beyond that ratio: a line begun in an earlier read may end in this one
READ_RESERVE_BYTES = 16
MIN_PENDING_BYTES = 1024

_HEX = "[0-9A-Fa-f]"


@dataclass(frozen=True)
class _FrameKind:
    id_digits: int
    extended: bool
    remote: bool
    fd: bool
    brs: bool

    @property
    def pattern(self) -> re.Pattern[str]:
        dlc = f"({_HEX})" if self.fd else "([0-8])"
        data = "" if self.remote else f"({_HEX}*)"
        return re.compile(f"({_HEX}{{{self.id_digits}}}){dlc}{data}")


_FRAME_KINDS: dict[str, _FrameKind] = {
    "t": _FrameKind(3, False, False, False, False),
    "T": _FrameKind(8, True, False, False, False),
    "r": _FrameKind(3, False, True, False, False),
    "R": _FrameKind(8, True, True, False, False),
    "d": _FrameKind(3, False, False, True, False),
    "D": _FrameKind(8, True, False, True, False),
    "b": _FrameKind(3, False, False, True, True),
    "B": _FrameKind(8, True, False, True, True),
}
_PATTERNS = {letter: kind.pattern for letter, kind in _FRAME_KINDS.items()}


def parse_frame(line: str) -> can.Message:
    """Turn one SLCAN frame command (no terminator) into a message.

    Raises:
        ValueError: the line is not a well-formed frame; the message says what
            was expected and what came.
    """
    if not line or line[0] not in _FRAME_KINDS:
        raise ValueError(f"expected a frame command (t, T, r, R, d, D, b, B), got {line[:1]!r}")
    kind = _FRAME_KINDS[line[0]]
    match = _PATTERNS[line[0]].fullmatch(line, 1)
    if match is None:
        raise ValueError(f"expected {line[0]} + {kind.id_digits} hex id digits + a "
                         f"{'hex DLC code' if kind.fd else 'DLC 0..8'} + data, got {line!r}")
    frame_id = int(match.group(1), 16)
    if frame_id > (0x1FFFFFFF if kind.extended else 0x7FF):
        raise ValueError(f"identifier 0x{frame_id:X} out of range in {line!r}")
    length = CAN_FD_DLC[int(match.group(2), 16)]
    data = b""
    if not kind.remote:
        digits = match.group(3)
        if len(digits) != 2 * length:
            raise ValueError(f"expected {length} data byte(s) for DLC {match.group(2)}, "
                             f"got {len(digits) / 2:g} in {line!r}")
        data = bytes.fromhex(digits)
    return can.Message(arbitration_id=frame_id, is_extended_id=kind.extended, is_remote_frame=kind.remote,
                       is_fd=kind.fd, bitrate_switch=kind.brs, dlc=length, data=data, is_rx=False)


def format_frame(msg: can.Message, *, timestamps: bool = False) -> bytes | None:
    """One frame as the adapter sends it to the host (CR included); None if SLCAN cannot carry it."""
    if msg.is_error_frame:
        return None
    ident = f"{msg.arbitration_id & 0x1FFFFFFF:08X}" if msg.is_extended_id else f"{msg.arbitration_id & 0x7FF:03X}"
    if msg.is_remote_frame:
        if msg.dlc > 8:
            return None
        text = ("R" if msg.is_extended_id else "r") + ident + f"{msg.dlc:d}"
    elif msg.is_fd:
        data = bytes(msg.data)
        if len(data) > 64:
            return None
        code = len2dlc(len(data))
        data = data.ljust(CAN_FD_DLC[code], b"\x00")   # padded to a DLC length, as on the wire
        letter = ("B" if msg.is_extended_id else "b") if msg.bitrate_switch else ("D" if msg.is_extended_id else "d")
        text = letter + ident + f"{code:X}" + data.hex().upper()
    else:
        data = bytes(msg.data)
        if len(data) > 8:
            return None
        text = ("T" if msg.is_extended_id else "t") + ident + f"{len(data):d}" + data.hex().upper()
    if timestamps:
        text += f"{int(msg.timestamp * 1000) % 60_000:04X}"
    return text.encode("ascii") + OK


class SlcanAdapter:
    """An SLCAN adapter on a pty, bridged to a python-can bus; runs in a background thread.

    Use as a context manager (or :meth:`start` / :meth:`stop`): the pty, the
    bridge bus and the thread are all released on exit.  Counters
    (``frames_to_bus``, ``frames_to_host``, ``errors`` ...) let a test check
    what crossed the adapter.
    """

    def __init__(self, bridge: BusConfig | None = None, *, fd: bool = True,
                 hardware_version: int = 10, software_version: int = 13, serial_number: str = "HB01",
                 max_line_bytes: int = 2 * LONGEST_COMMAND, max_pending_bytes: int = 64 * 1024,
                 write_timeout_s: float = 5.0, poll_interval_s: float = 0.002) -> None:
        self.bridge = bridge or BusConfig(interface="virtual", channel="slcan0")
        if self.bridge.interface == "simtime":
            raise ValueError("the SLCAN adapter runs in wall time: bridge it to 'virtual' or a real "
                             "interface, not to the simulated-time 'simtime' bus")
        if not (0 <= hardware_version <= 99 and 0 <= software_version <= 99):
            raise ValueError("hardware and software versions are two decimal digits each")
        if len(serial_number) != 4 or not serial_number.isalnum():
            raise ValueError(f"expected a 4-character alphanumeric serial number, got {serial_number!r}")
        if max_line_bytes < LONGEST_COMMAND:
            raise ValueError(f"max_line_bytes must be at least {LONGEST_COMMAND} (the longest valid command)")
        if max_pending_bytes < MIN_PENDING_BYTES:
            raise ValueError(f"max_pending_bytes must be at least {MIN_PENDING_BYTES}, got {max_pending_bytes}")
        if not write_timeout_s > 0:
            raise ValueError(f"write_timeout_s must be > 0, got {write_timeout_s}")
        self.fd = fd
        self.hardware_version = hardware_version
        self.software_version = software_version
        self.serial_number = serial_number
        self.max_line_bytes = max_line_bytes
        self.max_pending_bytes = max_pending_bytes
        self.write_timeout_s = write_timeout_s
        self.poll_interval_s = poll_interval_s

        # adapter state, touched only by the adapter thread once started
        self.is_open = False
        self.listen_only = False
        self.bitrate: int | None = None
        self.data_bitrate: int | None = None
        self.timestamps = False
        self._overrun = False
        self._line = bytearray()
        self._discarding = False
        self._after_cr = False
        self._pending = bytearray()
        #: whether a host has the serial port (the pty's slave) open
        self.host_present = False
        self._output_moved_s = 0.0
        self._own_flush = False

        #: counters, for tests and logs
        self.commands = 0
        self.errors = 0
        self.frames_to_bus = 0
        self.frames_to_host = 0
        self.dropped_to_host = 0
        self.overlong_lines = 0
        self.hosts = 0
        #: adapter resets, by reason ("host closed the port", "not reading")
        self.resets: Counter[str] = Counter()
        #: the exception that stopped the adapter thread, if any
        self.failure: BaseException | None = None

        self._master: int | None = None
        self.slave_path: str = ""
        self._bus: can.BusABC | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> SlcanAdapter:
        """Open the pty and the bridge bus and start serving; returns self.

        Raises:
            BusError: the bridge bus cannot be opened.
            RuntimeError: already started.
        """
        if self._thread is not None:
            raise RuntimeError("SLCAN adapter already started")
        master, slave = os.openpty()
        try:
            tty.setraw(slave)               # no echo, no CR/LF translation before pyserial configures it
            os.set_blocking(master, False)
            # Packet mode: each read on the master starts with a status byte, which tells when the
            # host flushed its input (pyserial does on every open).
            fcntl.ioctl(master, termios.TIOCPKT, struct.pack("i", 1))
            self._bus = open_bus(self.bridge)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        # The adapter does not keep the slave open: when the last host closes it, reads on the
        # master fail (EIO), which is how a session's end is seen and its leftovers discarded.
        self.slave_path = os.ttyname(slave)
        os.close(slave)
        self._master = master
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name=f"slcan-adapter {self.slave_path}", daemon=True)
        self._thread.start()
        log.info("SLCAN adapter on %s bridged to %s:%s", self.slave_path, self.bridge.interface, self.bridge.channel)
        return self

    def stop(self) -> None:
        """Stop the thread, shut the bridge bus and close the pty; safe to call twice."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join()
        if self._bus is not None:
            bus, self._bus = self._bus, None
            bus.shutdown()
        if self._master is not None:
            os.close(self._master)
            self._master = None

    def __enter__(self) -> SlcanAdapter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the adapter thread --------------------------------------------------
    def _serve(self) -> None:
        assert self._master is not None and self._bus is not None
        master, bus = self._master, self._bus
        poller = select.poll()
        watching: int | None = None         # the events the master is registered for, if it is
        try:
            while not self._stopping.is_set():
                # The master is watched only while a host is there (without one it reports a
                # hang-up at once, and would spin the loop); for input only while input is wanted.
                # A hang-up is reported whatever the events asked for.
                hung_up = any(events & select.POLLHUP for _, events in poller.poll(self.poll_interval_s * 1000))
                now = wall_time_s()
                if hung_up and self.host_present:
                    self._host_left()
                # Take the bus's frames first, then the host's commands: a frame that
                # arrived after the host's "O" was written is then never dropped as
                # "heard while closed" just because the "O" had not been read yet.
                frames = self._drain_bus(bus)
                self._read_host(master, now)
                self._to_host(frames)
                if self._pending:
                    # Once more just before writing: a host that opened the port meanwhile has
                    # flushed it, and must not get what was meant for the one before.
                    self._read_host(master, now)
                self._flush(master, now)
                self._enforce_limits(master, now)
                wanted = None if not self.host_present else select.POLLIN if self._read_budget() > 0 else 0
                if wanted != watching:
                    if watching is not None:
                        poller.unregister(master)
                    if wanted is not None:
                        poller.register(master, wanted)
                    watching = wanted
        except Exception as exc:   # keep the reason; the owner sees it in .failure and the log
            self.failure = exc
            log.exception("SLCAN adapter on %s stopped", self.slave_path)
            # Unplugged: the host's port hangs up, so that it does not wait on a dead adapter.
            self._master = None
            os.close(master)

    def _read_budget(self) -> int:
        """How much host input the adapter may take now: its replies must fit the output cap."""
        room = self.max_pending_bytes - len(self._pending) - READ_RESERVE_BYTES
        return min(READ_BYTES, room // REPLY_BYTES_PER_INPUT_BYTE)

    def _read_host(self, master: int, now: float) -> None:
        budget = self._read_budget()
        while budget > 0:       # at most 64 KiB per turn, so a flooding host cannot starve the bus side
            try:
                packet = os.read(master, 1 + min(4096, budget))
            except BlockingIOError:
                self._host_is_there(now)
                return
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                packet = b""
            if not packet:          # EIO (Linux) or end of file: no host has the port open
                if self.host_present:
                    self._host_left()
                return
            if packet[0] != termios.TIOCPKT_DATA:
                if self._own_flush:         # the adapter's own flush in _reset: not a host
                    self._own_flush = False
                    continue
                self._host_is_there(now)
                if packet[0] & termios.TIOCPKT_FLUSHREAD:
                    self._host_flushed()
                continue
            self._host_is_there(now)
            budget -= len(packet) - 1
            self._feed(packet[1:])

    def _host_flushed(self) -> None:
        """The host threw away what it had not read yet: what the adapter holds for it goes too.

        pyserial flushes when it opens the port, so a host that opens the port right after
        another closed it starts clean even if the close went unnoticed in between.
        """
        if self._pending:
            log.debug("SLCAN adapter %s: host flushed its input; %d bytes of output discarded",
                      self.slave_path, len(self._pending))
            self._pending.clear()

    def _host_is_there(self, now: float) -> None:
        if not self.host_present:
            self.host_present = True
            self.hosts += 1
            self._output_moved_s = now
            log.debug("SLCAN adapter %s: a host opened the port", self.slave_path)

    def _host_left(self) -> None:
        assert self._master is not None
        termios.tcflush(self._master, termios.TCIFLUSH)     # what it wrote and we did not read yet
        self._reset("host closed the port", "")
        self.host_present = False

    @staticmethod
    def _drain_bus(bus: can.BusABC) -> list[can.Message]:
        frames = []
        while (msg := bus.recv(0.0)) is not None:
            frames.append(msg)
        return frames

    def _to_host(self, frames: list[can.Message]) -> None:
        if not self.is_open:
            return                  # a closed adapter hears nothing
        dropped = 0
        for msg in frames:
            line = format_frame(msg, timestamps=self.timestamps)
            if line is None or (msg.is_fd and not self.fd):
                continue
            if len(self._pending) + len(line) > self.max_pending_bytes:
                dropped += 1
                self._overrun = True
                continue
            self._pending += line
            self.frames_to_host += 1
        if dropped:
            self.dropped_to_host += dropped
            log.warning("SLCAN adapter %s: %d frame(s) dropped, %d bytes already waiting for the host "
                        "(max_pending_bytes)", self.slave_path, dropped, len(self._pending))

    def _flush(self, master: int, now: float) -> None:
        if not self._pending or not self.host_present:
            self._output_moved_s = now
            return
        try:
            written = os.write(master, self._pending)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            return                  # the host just closed the port; the next read sees it
        if written:
            del self._pending[:written]
            self._output_moved_s = now

    def _enforce_limits(self, master: int, now: float) -> None:
        if self._pending and now - self._output_moved_s > self.write_timeout_s:
            self._reset("not reading", f"{len(self._pending)} bytes waiting, none taken for "
                                       f"{self.write_timeout_s:g} s")
            self._output_moved_s = now

    def _reset(self, reason: str, detail: str) -> None:
        """Back to power-on state, discarding every byte still meant for the host."""
        discarded = len(self._pending)
        self._pending.clear()
        # ... and what the pty holds for the host: flushed from the slave's side, as only that
        # empties its line discipline's buffer too (a flush on the master leaves up to 4 KiB)
        slave = os.open(self.slave_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            termios.tcflush(slave, termios.TCIFLUSH)
        finally:
            os.close(slave)
        self._own_flush = True
        self.is_open = self.listen_only = self.timestamps = self._overrun = False
        self.bitrate = self.data_bitrate = None
        self._line.clear()
        self._discarding = self._after_cr = False
        self.resets[reason] += 1
        if reason == "host closed the port":
            log.debug("SLCAN adapter %s: %s; reset, %d bytes of output discarded", self.slave_path, reason, discarded)
        else:
            log.warning(f"SLCAN adapter %s: host {reason} (%s); reset: channel closed, output discarded",
                        self.slave_path, detail)

    def _reply(self, reply: bytes) -> None:
        self._pending += reply      # room for it was checked before the input was read

    # -- the serial protocol -------------------------------------------------
    def _feed(self, data: bytes) -> None:
        """Split input into commands at CR, LF or CR LF; refuse over-long lines."""
        start = 0
        n = len(data)
        while start < n:
            if self._after_cr:
                self._after_cr = False
                if data[start] == 0x0A:     # the LF of a CR LF pair
                    start += 1
                    continue
            cr = data.find(b"\r", start)
            lf = data.find(b"\n", start)
            end = min(i for i in (cr, lf, n) if i >= 0)
            chunk = data[start:end]
            if not self._discarding:
                if len(self._line) + len(chunk) > self.max_line_bytes:
                    self._discarding = True
                    self._line.clear()
                    self.overlong_lines += 1
                    self.errors += 1
                    self._reply(ERROR)
                    log.warning("SLCAN adapter %s: line longer than %d bytes refused",
                                self.slave_path, self.max_line_bytes)
                else:
                    self._line += chunk
            if end == n:
                break
            self._after_cr = data[end] == 0x0D
            start = end + 1
            if self._discarding:
                self._discarding = False    # the over-long line ends here; it was answered already
                continue
            line = bytes(self._line)
            self._line.clear()
            self._reply(self.command(line))

    def command(self, line: bytes) -> bytes:
        """Execute one command (without terminator) and return the reply bytes."""
        self.commands += 1
        try:
            reply = self._execute(line.decode("ascii"))
        except (UnicodeDecodeError, ValueError, can.CanError) as exc:
            log.debug("SLCAN adapter %s: %r refused: %s", self.slave_path, line, exc)
            reply = ERROR
        if reply == ERROR:
            self.errors += 1
        return reply

    def _execute(self, line: str) -> bytes:
        if not line:
            return OK
        letter, arg = line[0], line[1:]
        if letter in _FRAME_KINDS:
            return self._transmit(line)
        if letter == "S" and arg in BITRATES and not self.is_open:
            self.bitrate = BITRATES[arg]
            return OK
        if letter == "s" and re.fullmatch(f"{_HEX}{{4}}", arg) and not self.is_open:
            self.bitrate = None     # custom timing: no nominal rate to report
            return OK
        if letter == "Y" and arg in DATA_BITRATES and not self.is_open and self.fd:
            self.data_bitrate = DATA_BITRATES[arg]
            return OK
        if letter in "OL" and not arg and not self.is_open:
            self.is_open = True
            self.listen_only = letter == "L"
            self._overrun = False
            return OK
        if letter == "C" and not arg:
            self.is_open = False
            self.listen_only = False
            return OK
        if letter == "V" and not arg:
            return f"V{self.hardware_version:02d}{self.software_version:02d}".encode() + OK
        if letter == "v" and not arg:
            return f"v{self.software_version:02d}00".encode() + OK
        if letter == "N" and not arg:
            return f"N{self.serial_number}".encode() + OK
        if letter == "F" and not arg and self.is_open:
            flags = 0x08 if self._overrun else 0x00
            self._overrun = False
            return f"F{flags:02X}".encode() + OK
        if letter == "Z" and arg in ("0", "1") and not self.is_open:
            self.timestamps = arg == "1"
            return OK
        if letter in "Mm" and re.fullmatch(f"{_HEX}{{8}}", arg) and not self.is_open:
            return OK
        return ERROR

    def _transmit(self, line: str) -> bytes:
        if not self.is_open or self.listen_only:
            return ERROR
        msg = parse_frame(line)
        if msg.is_fd and not self.fd:
            return ERROR
        assert self._bus is not None
        self._bus.send(msg)
        self.frames_to_bus += 1
        return OK
