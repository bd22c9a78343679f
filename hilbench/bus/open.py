"""Opening a bus from configuration: every interface comes through ``can.Bus``.

A bus whose far end is a server (``socketcand``) may not be up yet when the
bench starts.  :func:`open_bus` then waits for it, bounded and quietly: it
probes the server's TCP port with growing pauses (0.1 s doubling up to 1 s)
for at most ``BusConfig.connect_timeout_s`` (10 s by default), logs at most
one line per second while it waits, and raises :class:`BusError` naming the
address if the server never answers.  python-can's own connect loop (which
retries without pause and logs a warning on every attempt, 150,000 to
280,000 lines in 10 s as measured here) is only reached once the port
answers, and python-can's ``socketcand`` and ``slcan`` loggers are held to
one line a second per level by :class:`RateLimitFilter` (attached when this
module is imported).
"""

from __future__ import annotations

import configparser
import logging
import math
import socket
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import can
import can.util

from ..clock import WallClock, wall_time_s
from ..errors import BusError
from .port import BusPort
from .simtime import SimTimeBus

if TYPE_CHECKING:
    from ..clock import Clock

log = logging.getLogger(__name__)

#: Interfaces whose python-can client carries classic frames only: python-can's socketcand client
#: writes every frame as a classic ``< send >`` element, which a daemon refuses for more than 8
#: bytes.  The bench refuses such frames before they are written (see ``BusPort.send``).
CLASSIC_ONLY_INTERFACES = frozenset({"socketcand"})
#: Interfaces whose channel several handles in one process can share.
MULTI_HANDLE_INTERFACES = frozenset({"simtime", "virtual", "socketcan", "socketcand", "udp_multicast", "vector"})
#: Pauses between connection probes: the first, and the longest.
FIRST_RETRY_S = 0.1
LONGEST_RETRY_S = 1.0


@dataclass(frozen=True)
class BusConfig:
    """Which python-can interface and channel to use, and its extra keyword arguments.

    ``simtime`` (the default) is the bench's virtual CAN in simulated time;
    ``virtual``, ``socketcan``, ``slcan``, ``socketcand``, ``pcan`` ... are
    python-can's own and run in wall time (``virtual`` can also run in
    simulated time: it is opened with ``preserve_timestamps=True``).
    ``connect_timeout_s`` bounds how long :func:`open_bus` waits for a
    server-backed bus (``socketcand``) that is not answering yet.
    """

    interface: str = "simtime"
    channel: str = "bench"
    bitrate: int | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    connect_timeout_s: float = 10.0

    @property
    def needs_wall_time(self) -> bool:
        """Whether the bus runs in wall time: every interface but ``simtime`` and ``virtual``."""
        return self.interface not in ("simtime", "virtual")

    @property
    def allows_several_handles(self) -> bool:
        """Whether one process may open this channel more than once (not a serial port)."""
        return self.interface in MULTI_HANDLE_INTERFACES


class RateLimitFilter(logging.Filter):
    """Let at most one record per ``interval_s`` through for each kind of message.

    A kind is the logger, the level and, with ``per_message=True``, the
    unformatted message (``"client %s: syntax error"`` is one kind whatever
    the client).  python-can formats its messages before logging them, so its
    loggers are limited per level (``per_message=False``).  The next record let
    through says how many were held back.  Attach it to a logger
    (``logger.addFilter``) so that it holds back that logger's own records.
    """

    def __init__(self, interval_s: float = 1.0, *, per_message: bool = True) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.per_message = per_message
        self._lock = threading.Lock()
        self._last: dict[tuple[str, int, object], tuple[float, int]] = {}
        #: records held back so far, for tests and summaries
        self.suppressed = 0

    def reset(self) -> None:
        """Forget what was let through: the next record of every kind passes (for tests)."""
        with self._lock:
            self._last.clear()

    def filter(self, record: logging.LogRecord) -> bool:
        """Let ``record`` through unless one of its kind passed less than ``interval_s`` ago.

        A record let through after a held-back run has the count appended to its message.
        """
        key = (record.name, record.levelno, record.msg if self.per_message else None)
        now = wall_time_s()
        with self._lock:
            last_s, held = self._last.get(key, (-math.inf, 0))
            if now - last_s < self.interval_s - 0.001:     # 1 ms slack for callers that pace themselves
                self._last[key] = (last_s, held + 1)
                self.suppressed += 1
                return False
            self._last[key] = (now, 0)
        if held:
            record.msg = f"{record.getMessage()} ({held} similar line(s) held back in the last {now - last_s:.1f} s)"
            record.args = None
        return True


def rate_limited(logger: logging.Logger, interval_s: float = 1.0, *, per_message: bool = True) -> RateLimitFilter:
    """Attach a :class:`RateLimitFilter` to ``logger`` once; returns the one attached."""
    for existing in logger.filters:
        if isinstance(existing, RateLimitFilter):
            return existing
    limiter = RateLimitFilter(interval_s, per_message=per_message)
    logger.addFilter(limiter)
    return limiter


rate_limited(log)
# python-can's socketcand client logs one warning per failed connect (in a loop with no pause)
# and per partial read; its slcan client one per unparseable line.
for _name in ("can.interfaces.socketcand.socketcand", "can.interfaces.slcan"):
    rate_limited(logging.getLogger(_name), per_message=False)


def wait_for_server(host: str, port: int, timeout_s: float, *, what: str = "server") -> None:
    """Return once ``host:port`` accepts a TCP connection; probe with growing pauses.

    Logs at most one line per second while it waits.

    Raises:
        BusError: nothing accepted a connection within ``timeout_s``; the
            message names the address and the last reason.
    """
    clock = WallClock()
    last_error: list[OSError] = []
    pause = [FIRST_RETRY_S]
    said_at_s = [-math.inf]

    def probe() -> None:
        left_s = timeout_s - clock.now
        try:
            with socket.create_connection((host, port), timeout=max(0.05, min(LONGEST_RETRY_S, left_s))):
                pass
        except OSError as exc:
            if clock.now - said_at_s[0] >= 1.0:      # at most one line a second
                said_at_s[0] = clock.now
                log.warning("%s at %s:%s not answering after %.1f s (%s); giving up after %g s",
                            what, host, port, clock.now, exc.strerror or exc, timeout_s)
            last_error[:] = [exc]
            if clock.now + pause[0] <= timeout_s:
                clock.call_later(pause[0], probe)
            pause[0] = min(2 * pause[0], LONGEST_RETRY_S)
            return
        last_error.clear()
        clock.stop()

    clock.call_soon(probe)
    clock.run_until(timeout_s)
    if last_error:
        raise BusError(f"no {what} at {host}:{port} after {timeout_s:g} s "
                       f"(last attempt: {last_error[0].strerror or last_error[0]})")


def open_bus(config: BusConfig, *, clock: Any = None) -> can.BusABC:
    """Open one handle on the configured bus.

    Raises:
        BusError: the interface is unknown or the bus cannot be opened (a
            ``socketcand`` server that does not answer within
            ``config.connect_timeout_s``); the message names the interface
            and channel.
    """
    kwargs: dict[str, Any] = dict(config.kwargs)
    if config.bitrate is not None:
        kwargs.setdefault("bitrate", config.bitrate)
    simulated = clock is not None and clock.is_simulated
    if config.interface == "simtime":
        kwargs["clock"] = clock
        kwargs.setdefault("epoch_s", clock.epoch_s if clock is not None else 0.0)
    elif config.interface == "virtual" and simulated:
        kwargs.setdefault("preserve_timestamps", True)   # keep the simulated stamps the port sets
    elif config.interface == "socketcand":
        # Host and port as python-can will take them: given here, else from its configuration (CAN_CONFIG).
        found = {**can.util.load_file_config(), **can.util.load_environment_config(), **kwargs}
        if "host" not in found or "port" not in found:
            return _open(config, kwargs)
        try:
            wait_for_server(str(found["host"]), int(found["port"]), config.connect_timeout_s,
                            what="socketcand server")
        except (BusError, ValueError, TypeError) as exc:
            raise BusError(f"cannot open CAN interface {config.interface!r} channel {config.channel!r}: {exc}"
                           ) from None
    return _open(config, kwargs)


def _open(config: BusConfig, kwargs: dict[str, Any]) -> can.BusABC:
    try:
        return can.Bus(interface=config.interface, channel=config.channel, **kwargs)
    except (can.CanError, ValueError, TypeError, OSError, ImportError, NotImplementedError) as exc:
        raise BusError(
            f"cannot open CAN interface {config.interface!r} channel {config.channel!r}: {exc}"
        ) from None


def lab_bus_settings() -> tuple[dict[str, Any], str | None]:
    """The interface, channel and bitrate a lab keeps in python-can's own configuration, and where.

    Read as python-can reads them: its environment variables (``CAN_INTERFACE``,
    ``CAN_CHANNEL``, ``CAN_BITRATE``, and ``CAN_CONFIG`` as JSON) over its configuration
    files' ``[default]`` section (``~/can.conf``, ``/etc/can.conf``, ``~/.can``,
    ``~/.canrc`` on Linux and macOS; ``can.ini`` on Windows).  The command line overrides
    both, field by field.  ({}, None) when they name none of the three.

    Raises:
        BusError: ``CAN_CONFIG`` is not a JSON object, or a configuration file is not readable INI.
    """
    try:
        environment = can.util.load_environment_config()
        if not isinstance(environment, dict):
            raise TypeError(f"expected a JSON object, got {type(environment).__name__}")
    except (ValueError, TypeError, AttributeError) as exc:
        raise BusError(f"python-can's environment: CAN_CONFIG: not a JSON object of bus settings: {exc}") from None
    try:
        files = can.util.load_file_config()
    except configparser.Error as exc:
        raise BusError(f"python-can's configuration file: not readable: {exc}") from None
    settings: dict[str, Any] = {}
    origins: list[str] = []
    for key in ("interface", "channel", "bitrate"):
        for found, origin in ((environment, "python-can's environment (CAN_*)"),
                              (files, "python-can's configuration file")):
            value = found.get(key, found.get("bustype") if key == "interface" else None)
            if value not in (None, ""):
                settings[key] = can.util.cast_from_string(value) if isinstance(value, str) else value
                if origin not in origins:
                    origins.append(origin)
                break
    if "channel" in settings:
        settings["channel"] = str(settings["channel"])
    return settings, " and ".join(origins) or None


def close_bus(bus: can.BusABC) -> str | None:
    """Shut ``bus`` down; what went wrong if it could not be (None when it closed cleanly).

    An adapter that was unplugged, or an emulated one that went away, cannot take the
    close command python-can sends on shutdown (``C`` to an SLCAN adapter): that must not
    turn a finished run into a traceback, since its verdicts and recording are already kept.
    """
    try:
        bus.shutdown()
    except (can.CanError, OSError) as exc:
        # python-can's slcan client writes its close command before it closes the port, so a
        # failed write leaves the serial port open: close it here, or a replugged adapter may
        # come back under another name while this one is still held.
        port = getattr(bus, "serialPortOrig", None)
        if port is not None:
            try:
                port.close()
            except OSError:
                pass
        return f"the bus ({bus.channel_info}) did not close cleanly: {exc}"
    return None


def open_port(config: BusConfig, clock: Clock, *, epoch_s: float | None = None,
              polled_by_owner: bool = False) -> BusPort:
    """Open a handle on the configured bus and arrange how its frames reach their handlers.

    The one place that knows the difference between the bench's simulated-time bus and
    every other interface:

    * On the simulated-time bus (``simtime``) frames are delivered to the handle's queue,
      stamped with simulated time.  Unless ``polled_by_owner``, a frame landing in an empty
      queue schedules one poll right after the task that sent it, as if the handle were
      looked at after every task.  With ``polled_by_owner`` the owner drains the handle in
      its own task (the compute unit's tick, as an ECU's periodic CAN task does).
    * On any other interface (python-can's ``virtual``, SocketCAN, SLCAN, socketcand, ...)
      the clock polls the handle whenever it is idle, and the handle stamps what it sends
      with the clock's time.

    Args:
        config: which interface and channel.
        clock: the bench's clock (simulated or wall).
        epoch_s: the time zero of the frames' time axis; the clock's by default.
        polled_by_owner: in simulated time, leave draining to the owner (see above).

    Raises:
        BusError: as :func:`open_bus`.
    """
    bus = open_bus(config, clock=clock)
    epoch = clock.epoch_s if epoch_s is None else epoch_s
    if not isinstance(bus, SimTimeBus):
        # python-can's own description where the interface gives one (socketcand names host and port).
        label = bus.channel_info
        if label in ("", "unknown"):
            label = f"{config.interface} on {config.channel}"
        port = BusPort(bus, clock=clock, epoch_s=epoch, classic_only=config.interface in CLASSIC_ONLY_INTERFACES,
                       label=label)
        clock.add_idle_hook(port.poll)
        return port
    port = BusPort(bus, epoch_s=epoch, delivered=bus.queue)
    if not clock.is_simulated:
        clock.add_idle_hook(port.poll)
    elif not polled_by_owner:
        bus.on_pending = lambda: clock.call_soon(port.poll)
    return port
