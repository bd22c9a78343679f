"""A participant's handle on the bus: send, and dispatch what arrives by frame ID.

Emulated nodes share one port (a rest-bus simulator's adapter), the bundled
DUT has its own; taps (recorder, monitor) see every frame that crosses the
port in either direction exactly once, so a recording is complete whether the
other side is emulated or a real ECU.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import can

from ..clock import wall_sleep_s
from ..errors import BusError
from .simtime import DEFAULT_EPOCH_S

if TYPE_CHECKING:
    from ..clock import Clock

FrameHandler = Callable[[can.Message], None]


class BusPort:
    """One participant's handle on the bus: it sends, and hands each frame that arrives to
    the handlers subscribed to its ID (and to every tap).

    Open one with :func:`hilbench.bus.open_port`, which knows how frames reach the handle
    in simulated and in wall time; construct one directly only around a bus you opened.

    Args:
        bus: the python-can bus this handle sends on and receives from.
        clock: stamps each sent frame with the bench's time (simulated, or the wall time of
            the send), so recordings and the monitor agree.  None when the bus stamps its
            frames itself (the simulated-time bus) or nothing needs the stamps.
        epoch_s: the bench's time zero on the frames' time axis (s).
        delivered: the queue the simulated-time bus delivers this handle's frames to, already
            filtered and stamped; ``poll`` drains it directly (no ``recv`` timeout bookkeeping
            per frame).  None: frames are read with ``bus.recv``.
    """

    def __init__(self, bus: can.BusABC, *, clock: Clock | None = None, epoch_s: float = DEFAULT_EPOCH_S,
                 delivered: deque[can.Message] | None = None, classic_only: bool = False,
                 label: str | None = None) -> None:
        self.bus = bus
        #: How errors name this bus ("slcan on /dev/ttyACM0"); python-can's ``channel_info`` by default.
        self.label = label or bus.channel_info
        #: The link carries classic frames only: a CAN FD frame, or one longer than 8 bytes, is
        #: refused here and counted in :attr:`refused_by_link`, never sent, tapped or recorded.
        self.classic_only = classic_only
        #: Frames the link could not carry, by (arbitration ID, extended).
        self.refused_by_link: dict[tuple[int, bool], int] = {}
        #: The bus is gone and not yet back (see :meth:`reopen`): nothing is read, every send fails.
        self.down = False
        self._clock = clock
        self.epoch_s = epoch_s
        # Handlers by frame ID, for standard and extended IDs (indexed by ``is_extended_id``):
        # int keys hash and compare much faster than ``(id, extended)`` tuples, once per frame.
        self._handlers: tuple[dict[int, list[FrameHandler]], dict[int, list[FrameHandler]]] = ({}, {})
        self._filtering = False   # set by accept_only_subscribed()
        self._taps: list[FrameHandler] = []
        self.sent = 0
        self.received = 0
        self.unhandled = 0
        self.send_errors = 0
        self._sim_queue = delivered

    def subscribe(self, frame_id: int, handler: FrameHandler, *, extended: bool = False) -> None:
        """Call ``handler`` with every frame of ``frame_id`` that arrives, and every one this port sends.

        Handlers of one ID run in the order they subscribed.  ``extended`` picks the 29-bit ID
        space: standard and extended frames of the same number are different messages.
        After :meth:`accept_only_subscribed`, the interface's filters widen to take the new ID.
        """
        self._handlers[bool(extended)].setdefault(frame_id, []).append(handler)
        if self._filtering:
            self._apply_subscriptions()

    def accept_only_subscribed(self) -> None:
        """Let the interface drop frames nobody here subscribed to, as an ECU's CAN
        controller does with acceptance filters (in hardware where the interface can).

        Later subscriptions widen the filters.  Only for a port without taps: a tap
        would no longer see every frame.  (A port with no subscription at all
        accepts everything: python-can has no filter that accepts nothing.)
        """
        self._filtering = True
        self._apply_subscriptions()

    def reopen(self, bus: can.BusABC) -> None:
        """Carry on on ``bus``, a new handle on the same interface and channel after the old one was lost:
        the subscriptions, taps and acceptance filters stay as they were."""
        self.bus = bus
        self.down = False
        if self._filtering:
            self._apply_subscriptions()

    def _apply_subscriptions(self) -> None:
        self.bus.set_filters([
            {"can_id": frame_id, "can_mask": 0x1FFFFFFF if extended else 0x7FF, "extended": extended}
            for extended in (False, True) for frame_id in self._handlers[extended]
        ])

    def add_tap(self, tap: FrameHandler) -> None:
        """Call ``tap`` with every frame that crosses this port, sent or received, exactly once.

        Taps (recorder, monitor) run before the frame's handlers.  A sent frame reaches the
        taps only once the bus took it; one whose send failed is counted, not tapped.
        """
        self._taps.append(tap)

    def send(self, msg: can.Message) -> bool:
        """Send one frame; a failed send is counted, not fatal (a real bus can be off).

        A frame the link cannot carry (``classic_only``: CAN FD, or more than 8 bytes) is not
        written at all: it is counted in :attr:`refused_by_link` and never reaches the taps, so
        the monitor and the recording hold only what reached the bus.

        Raises:
            BusError: the connection to the bus is gone.  python-can's
                ``socketcand`` client raises a bare ``BrokenPipeError`` once the
                daemon has closed the connection, and pyserial an ``OSError``
                subclass once a serial adapter is unplugged; neither ever sends again.
        """
        msg.is_rx = False
        if self.down:
            self.send_errors += 1
            return False
        if self.classic_only and (msg.is_fd or len(msg.data) > 8):
            key = (msg.arbitration_id, bool(msg.is_extended_id))
            self.refused_by_link[key] = self.refused_by_link.get(key, 0) + 1
            return False
        if self._clock is not None:
            msg.timestamp = self.epoch_s + self._clock.stamp()
        try:
            self.bus.send(msg)
        except can.CanError:
            self.send_errors += 1
            return False
        except OSError as exc:
            raise BusError(f"the bus ({self.label}) is gone: sending frame 0x{msg.arbitration_id:X} "
                           f"failed: {exc}") from None
        self.sent += 1
        for tap in self._taps:
            tap(msg)
        # Nodes sharing this port hear each other, as ECUs on one bus do.
        local = self._handlers[msg.is_extended_id].get(msg.arbitration_id)
        if local is not None:
            for handler in local:
                handler(msg)
        return True

    def poll(self, timeout_s: float = 0.0) -> int:
        """Handle every frame waiting (waiting up to ``timeout_s`` for the first).

        Raises:
            BusError: the connection to the bus is gone: python-can's ``slcan`` client raises
                ``CanOperationError`` once its serial port has gone away (an adapter unplugged,
                an emulated one stopped), and never receives again.
        """
        sim_queue = self._sim_queue
        if sim_queue is not None and not sim_queue:
            return 0
        if self.down:
            if timeout_s > 0.0:
                wall_sleep_s(timeout_s)   # the wall clock's wait, which the bus cannot take while it is gone
            return 0
        count = 0
        handlers = self._handlers
        taps = self._taps
        msg: can.Message | None   # bus.recv gives None when nothing waits: that ends the loop
        while True:
            if sim_queue is not None:
                if not sim_queue:
                    break
                msg = sim_queue.popleft()
            else:
                try:
                    msg = self.bus.recv(timeout_s if count == 0 else 0.0)
                except (can.CanOperationError, OSError) as exc:
                    raise BusError(f"the bus ({self.label}) is gone: receiving failed: "
                                   f"{exc}{_cause(exc)}") from None
                if msg is None:
                    break
                # Lookups index by ``is_extended_id``: a plugin that hands over 1/0/None still works.
                msg.is_extended_id = bool(msg.is_extended_id)
            count += 1
            for tap in taps:
                tap(msg)
            subscribers = handlers[msg.is_extended_id].get(msg.arbitration_id)
            if subscribers is None:
                self.unhandled += 1
                continue
            for handler in subscribers:
                handler(msg)
        self.received += count
        return count


def _cause(exc: BaseException) -> str:
    """`` (the OS error behind it)`` when python-can wrapped one, else nothing."""
    cause = exc.__cause__
    return f" ({cause})" if cause is not None and str(cause) not in str(exc) else ""
