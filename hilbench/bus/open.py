"""Opening a bus from configuration: every interface comes through ``can.Bus``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import can

from ..errors import BusError


#: Interfaces whose channel several handles in one process can share.
MULTI_HANDLE_INTERFACES = frozenset({"simtime", "virtual", "socketcan", "socketcand", "udp_multicast", "vector"})


@dataclass(frozen=True)
class BusConfig:
    """Which python-can interface and channel to use, and its extra keyword arguments.

    ``simtime`` (the default) is the bench's virtual CAN in simulated time;
    ``virtual``, ``socketcan``, ``slcan``, ``socketcand``, ``pcan`` ... are
    python-can's own and run in wall time (``virtual`` can also run in
    simulated time: it is opened with ``preserve_timestamps=True``).
    """

    interface: str = "simtime"
    channel: str = "bench"
    bitrate: int | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_wall_time(self) -> bool:
        return self.interface not in ("simtime", "virtual")

    @property
    def allows_several_handles(self) -> bool:
        """Whether one process may open this channel more than once (not a serial port)."""
        return self.interface in MULTI_HANDLE_INTERFACES


def open_bus(config: BusConfig, *, clock: Any = None) -> can.BusABC:
    """Open one handle on the configured bus.

    Raises:
        BusError: the interface is unknown or the bus cannot be opened; the
            message names the interface and channel.
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
    try:
        return can.Bus(interface=config.interface, channel=config.channel, **kwargs)
    except (can.CanError, ValueError, TypeError, OSError, ImportError, NotImplementedError) as exc:
        raise BusError(
            f"cannot open CAN interface {config.interface!r} channel {config.channel!r}: {exc}"
        ) from None
