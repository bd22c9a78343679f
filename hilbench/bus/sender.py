"""Periodic transmission shared by every bench-side sender (emulated ECUs and the bundled DUT).

A :class:`FrameSource` schedules each of its messages at its cycle time and
passes every frame through its transmit filters, the seam where scenarios
inject faults (drop, delay, corrupt, wrong counter) without the sender knowing.
"""

from __future__ import annotations

from collections.abc import Callable

import can

from ..clock import Clock
from .codec import MessageCodec
from .port import BusPort

#: filter(message_name, frame) -> frame to send, or None to drop it
TxFilter = Callable[[str, can.Message], "can.Message | None"]
FrameBuilder = Callable[[MessageCodec], can.Message]


class FrameSource:
    """The periodic transmitter of one bench node: its messages on the clock, through its filters.

    ``tx_filters`` see every frame before it is sent and may change or drop it (the fault seam);
    ``silent`` mutes the transmitter while the application, and so the alive counters, runs on.
    """

    def __init__(self, port: BusPort, clock: Clock) -> None:
        self.port = port
        self.clock = clock
        #: When True nothing is sent (a node whose transmitter went silent; its application, and
        #: so its alive counters, run on).
        self.silent = False
        self.tx_filters: list[TxFilter] = []
        self.frames_sent = 0
        self.frames_dropped = 0
        self._transmits: dict[str, Callable[[], None]] = {}

    def schedule(self, name: str, sender: MessageCodec, build: FrameBuilder, *, offset_s: float = 0.0) -> None:
        """Send ``name`` every cycle, first at now + ``offset_s``."""
        if not sender.cycle_time_s:
            return

        def transmit() -> None:
            # The sending application runs every cycle even while its transmitter is silent
            # (bus-off, a muted node), so its alive counter advances as an AUTOSAR E2E protect
            # call's would: a receiver can tell a sender that was unheard from a delayed stream.
            msg = build(sender)
            if self.silent:
                return
            for tx_filter in self.tx_filters:
                filtered = tx_filter(name, msg)
                if filtered is None:
                    self.frames_dropped += 1
                    return
                msg = filtered
            if self.port.send(msg):
                self.frames_sent += 1

        self._transmits[name] = transmit
        self.clock.call_every(sender.cycle_time_s, transmit, offset_s=offset_s)

    def send_now(self, name: str) -> None:
        """Send ``name`` once now, besides its cycle (a "cyclic and on change" message: a
        receiver learns of the change at once rather than up to a cycle later).

        Raises:
            KeyError: ``name`` is not scheduled by this source.
        """
        self._transmits[name]()
