"""``simtime``: a python-can interface for virtual CAN in simulated time.

python-can's ``virtual`` interface stamps frames with the wall clock (unless
``preserve_timestamps``) and deep-copies each frame into a locked queue per
receiver.  In simulated time there is one thread and time only moves in the
clock, so this interface stamps each frame with the bench clock and hands
the same (immutable by convention) frame object to every other bus on the
channel.  It is registered under python-can's ``can.interface`` entry point,
so ``can.Bus(interface="simtime", channel="bench", clock=clock)`` works.

Receiving never blocks: in simulated time nothing can arrive while a caller
waits, because nothing else runs.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import can

# channel name -> buses open on it
_CHANNELS: dict[str, list[SimTimeBus]] = {}

#: Default Unix time at simulated t = 0 (2026-01-01T00:00:00Z), so recordings carry plausible dates.
DEFAULT_EPOCH_S = 1767225600.0


class SimTimeBus(can.BusABC):
    """One node's handle on a simulated-time virtual CAN channel."""

    #: Frames sent here get ``epoch + clock.now`` as their timestamp.
    stamps_simulated_time = True

    def __init__(self, channel: Any = "bench", can_filters: Any = None, *, clock: Any = None,
                 epoch_s: float = DEFAULT_EPOCH_S, receive_own_messages: bool = False,
                 fd: bool = True, **kwargs: Any) -> None:
        if clock is None:
            raise can.CanInitializationError(
                "the simtime interface needs the bench clock: can.Bus(interface='simtime', clock=clock)"
            )
        self.channel_info = f"simtime channel {channel!r}"
        self._channel_name = str(channel)
        self._clock = clock
        self._epoch_s = float(epoch_s)
        self._receive_own = receive_own_messages
        #: Frames waiting to be received (public so the bench's poll loop can test it cheaply).
        self.queue: deque[can.Message] = deque()
        self._peers = _CHANNELS.setdefault(self._channel_name, [])
        self._peers.append(self)
        self._can_protocol = can.CanProtocol.CAN_FD if fd else can.CanProtocol.CAN_20
        super().__init__(channel=channel, can_filters=can_filters, **kwargs)

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        if self._is_shutdown:
            raise can.CanOperationError("simtime bus is shut down")
        msg.timestamp = self._epoch_s + self._clock.now
        msg.channel = self._channel_name
        for peer in self._peers:
            if peer is not self or self._receive_own:
                peer.queue.append(msg)

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        return self.recv_nowait(), True

    def recv(self, timeout: float | None = None) -> can.Message | None:
        """The next matching frame, or None at once: in simulated time nothing
        can arrive while the caller waits, so any timeout (even None) is moot."""
        return self.recv_nowait()

    def recv_nowait(self) -> can.Message | None:
        """Fast path for the bench's poll loop: the next frame, or None (filters applied)."""
        queue = self.queue
        while queue:
            msg = queue.popleft()
            if self._filters is None or self._matches_filters(msg):
                return msg
        return None

    @property
    def pending(self) -> int:
        return len(self.queue)

    def shutdown(self) -> None:
        if self in self._peers:
            self._peers.remove(self)
        if not self._peers:
            _CHANNELS.pop(self._channel_name, None)
        super().shutdown()

    @staticmethod
    def _detect_available_configs() -> list[dict[str, Any]]:
        return [{"interface": "simtime", "channel": "bench"}]


def open_channels() -> dict[str, int]:
    """Channels with buses still open (for leak checks in tests)."""
    return {name: len(buses) for name, buses in _CHANNELS.items()}
