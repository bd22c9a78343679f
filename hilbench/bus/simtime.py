"""``simtime``: a python-can interface for virtual CAN in simulated time.

python-can's ``virtual`` interface stamps frames with the wall clock (unless
``preserve_timestamps``) and deep-copies each frame into a locked queue per
receiver.  In simulated time there is one thread and time only moves in the
clock, so this interface stamps each frame with the bench clock and hands
the same (immutable by convention) frame object to every other bus on the
channel.  It is registered under python-can's ``can.interface`` entry point,
so ``can.Bus(interface="simtime", channel="bench", clock=clock)`` works.

Receiving never blocks: in simulated time nothing can arrive while a caller
waits, because nothing else runs.  Acceptance filters (``can_filters``,
``set_filters``) act as a CAN controller's do: a frame that no filter accepts
never enters the receive queue.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import can

# channel name -> buses open on it
_CHANNELS: dict[str, list[SimTimeBus]] = {}

#: Default Unix time at simulated t = 0 (2026-01-01T00:00:00Z), so recordings carry plausible dates.
DEFAULT_EPOCH_S = 1767225600.0


class SimTimeBus(can.BusABC):
    """One node's handle on a simulated-time virtual CAN channel.

    Frames sent here get ``epoch + clock.now`` as their timestamp, and land in each
    peer's :attr:`queue` (``hilbench.bus.open_port`` hands that queue to the handle's port).
    """

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
        #: Frames waiting to be received, already filtered (public: the bench's port drains it directly).
        self.queue: deque[can.Message] = deque()
        #: Called when a frame lands in an empty queue, so an owner can schedule one poll
        #: instead of looking at the queue after every event.
        self.on_pending: Callable[[], None] | None = None
        # Exact-ID acceptance (the common case): the accepted standard IDs and extended IDs,
        # indexed by ``is_extended_id``; None: no filters, or general masks.
        self._accept: tuple[frozenset[int], frozenset[int]] | None = None
        self._peers = _CHANNELS.setdefault(self._channel_name, [])
        self._peers.append(self)
        self._can_protocol = can.CanProtocol.CAN_FD if fd else can.CanProtocol.CAN_20
        super().__init__(channel=channel, can_filters=can_filters, **kwargs)

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        """Stamp ``msg`` and queue it at every other bus on the channel whose filters take it.

        ``timestamp`` (``epoch_s + clock.now``, s) and ``channel`` are set on the frame itself,
        and that one object goes to every receiver, never a copy.  Sending never blocks, so
        ``timeout`` is unused; the frame reaches this bus's own queue only with
        ``receive_own_messages``.

        Raises:
            can.CanOperationError: the bus is shut down.
        """
        if self._is_shutdown:
            raise can.CanOperationError("simtime bus is shut down")
        msg.timestamp = self._epoch_s + self._clock.now
        msg.channel = self._channel_name
        for peer in self._peers:
            if peer is self and not self._receive_own:
                continue
            # An ID in the peer's exact-ID set is accepted at once; any other frame, when
            # the peer has filters, goes through the full rule (which checks the set first).
            accept = peer._accept
            if accept is None or msg.arbitration_id not in accept[msg.is_extended_id]:
                if peer._filters is not None and not peer._accepts(msg):
                    continue
            queue = peer.queue
            queue.append(msg)
            if len(queue) == 1 and peer.on_pending is not None:
                peer.on_pending()

    def _accepts(self, msg: can.Message) -> bool:
        """python-can's filter rule; exact-ID filters through a set when the ID is in range."""
        accept = self._accept
        if accept is not None:
            if msg.arbitration_id in accept[msg.is_extended_id]:
                return True
            if msg.is_extended_id or msg.arbitration_id <= 0x7FF:
                return False
            # an out-of-range standard ID (a frame built with check=False): the general rule
        return self._matches_filters(msg)

    def _apply_filters(self, filters: Any) -> None:
        """Filters act on delivery; frames already waiting are filtered now."""
        self._accept = None
        if filters:
            exact: tuple[set[int], set[int]] = (set(), set())
            for f in filters:
                extended = f.get("extended")
                full = 0x1FFFFFFF if extended else 0x7FF
                if extended is None or f["can_mask"] & full != full or f["can_id"] & ~full:
                    break   # a general mask, or an ID outside its range: python-can's rule decides
                exact[bool(extended)].add(f["can_id"] & full)
            else:
                self._accept = (frozenset(exact[False]), frozenset(exact[True]))
        if filters and self.queue:
            kept = [m for m in self.queue if self._accepts(m)]
            self.queue.clear()
            self.queue.extend(kept)

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        return self.recv_nowait(), True

    def recv(self, timeout: float | None = None) -> can.Message | None:
        """The next frame, or None at once: in simulated time nothing can arrive
        while the caller waits, so any timeout (even None) is moot."""
        return self.recv_nowait()

    def recv_nowait(self) -> can.Message | None:
        """The next frame, or None (filters were applied on delivery)."""
        queue = self.queue
        return queue.popleft() if queue else None

    @property
    def pending(self) -> int:
        """Frames waiting in the receive queue (they already passed the filters)."""
        return len(self.queue)

    def shutdown(self) -> None:
        """Leave the channel (no frame reaches this bus any more); the channel closes with its last bus."""
        if self in self._peers:
            self._peers.remove(self)
        if not self._peers:
            _CHANNELS.pop(self._channel_name, None)
        super().shutdown()

    @staticmethod
    def _detect_available_configs() -> list[can.typechecking.AutoDetectedConfig]:
        return [{"interface": "simtime", "channel": "bench"}]


def open_channels() -> dict[str, int]:
    """Channels with buses still open (for leak checks in tests)."""
    return {name: len(buses) for name, buses in _CHANNELS.items()}
