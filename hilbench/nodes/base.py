"""What every emulated ECU shares: periodic transmit at DBC cycle times, and an off switch.

A node owns the messages that carry the roles it produces (per the signal
map) and sends each at its cycle time on the bench clock.  Disabling a node
before the bench starts leaves its messages to a real ECU on a real bus.
Transmit filters are the seam for fault injection: each may alter, delay
or drop a frame before it reaches the bus.
"""

from __future__ import annotations

from collections.abc import Callable

import can

from ..bus.codec import BenchCodec, MessageCodec
from ..bus.port import BusPort
from ..clock import Clock

#: filter(message_name, frame) -> frame to send, or None to drop it
TxFilter = Callable[[str, can.Message], can.Message | None]


class EmulatedNode:
    producer: str = ""

    def __init__(self, codec: BenchCodec, port: BusPort, clock: Clock) -> None:
        self.codec = codec
        self.port = port
        self.clock = clock
        self.enabled = True
        self.silent = False
        self.values: dict[str, object] = {}
        self.tx_filters: list[TxFilter] = []
        self.frames_sent = 0
        self.frames_dropped = 0
        self._senders: dict[str, MessageCodec] = {
            name: codec.fresh_sender(name) for name in codec.signal_map.messages_of(self.producer)
        }
        self._started = False

    @property
    def messages(self) -> list[str]:
        return list(self._senders)

    def start(self) -> None:
        """Schedule every message at its cycle time, staggered by 1 ms so they do not all collide."""
        if self._started or not self.enabled:
            return
        self._started = True
        for index, (name, sender) in enumerate(self._senders.items()):
            period = sender.cycle_time_s
            if not period:
                continue
            offset = (index * 0.001) % period
            self.clock.call_every(period, self._make_tx(name, sender), offset_s=offset)

    def _make_tx(self, name: str, sender: MessageCodec) -> Callable[[], None]:
        build = self._builder(name)

        def transmit() -> None:
            if self.silent:
                return
            msg = build(sender)
            for tx_filter in self.tx_filters:
                msg = tx_filter(name, msg)
                if msg is None:
                    self.frames_dropped += 1
                    return
            if self.port.send(msg):
                self.frames_sent += 1

        return transmit

    def _builder(self, name: str) -> Callable[[MessageCodec], can.Message]:
        """How to build ``name``'s frame; by default from the node's role values."""
        values = self.values
        return lambda sender: sender.encode(values)
