"""What every emulated ECU shares: periodic transmit at DBC cycle times, and an off switch.

A node owns the messages that carry the roles it produces (per the signal
map) and sends each at its cycle time on the bench clock.  Disabling a node
before the bench starts leaves its messages to a real ECU on a real bus.
"""

from __future__ import annotations

from ..bus.codec import BenchCodec, MessageCodec
from ..bus.port import BusPort
from ..bus.sender import FrameBuilder, FrameSource, TxFilter
from ..clock import Clock

__all__ = ["EmulatedNode", "TxFilter"]


class EmulatedNode(FrameSource):
    """An emulated ECU: sends the messages that carry its ``producer``'s roles from :attr:`values`.

    Subclasses set ``producer`` and publish readings of the plant; :meth:`start` schedules every
    message at its cycle time.  With ``enabled`` False it sends nothing (the ECU is absent).
    """

    producer: str = ""

    def __init__(self, codec: BenchCodec, port: BusPort, clock: Clock) -> None:
        super().__init__(port, clock)
        self.codec = codec
        self.enabled = True
        self.values: dict[str, object] = {}
        #: Whoever changes ``values`` bumps this (the BMS on every sample, OBC and VCU only on a
        #: change): a sender re-sends the frame it built for the same version without re-reading them.
        self.version = 0
        self._published: tuple[object, ...] | None = None
        self._senders: dict[str, MessageCodec] = {
            name: codec.fresh_sender(name) for name in codec.signal_map.messages_of(self.producer)
        }
        self._started = False

    @property
    def messages(self) -> list[str]:
        """Names of the messages this node sends, in signal-map order."""
        return list(self._senders)

    def _publish(self, roles: tuple[str, ...], readings: tuple[object, ...]) -> bool:
        """Make ``readings`` (one per role, in order) the node's values and bump ``version``.

        Does nothing and returns False when they equal the set published last: a
        parked car's VCU and an unplugged OBC read the same sample after sample, and
        their frames then come from the encoder's cache.
        """
        if readings == self._published:
            return False
        self._published = readings
        self.version += 1
        self.values.update(zip(roles, readings))
        return True

    def start(self) -> None:
        """Schedule every message at its cycle time, staggered by 1 ms so they do not all collide."""
        if self._started or not self.enabled:
            return
        self._started = True
        for index, (name, sender) in enumerate(self._senders.items()):
            period = sender.cycle_time_s or 1.0
            self.schedule(name, sender, self._builder(name), offset_s=(index * 0.001) % period)

    def _builder(self, name: str) -> FrameBuilder:
        """How to build ``name``'s frame; by default from the node's role values."""
        values = self.values
        return lambda sender: sender.encode(values, version=self.version)
