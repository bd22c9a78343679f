"""Time for the whole bench: the only module that reads the system clock or sleeps.

Every node, plant step and DUT tick is a task scheduled on a :class:`Clock`.
:class:`SimClock` is an event heap whose ``now`` moves only inside
:meth:`Clock.run_until` (SimPy's environment, in spirit): deterministic and far
faster than real time.  :class:`WallClock` runs the same tasks against real
time for real buses and real ECUs.

Time is kept as integer microseconds so that periodic tasks land on exact
multiples of their period, run after run, on any machine: float seconds
accumulate rounding error and would make two runs of a seed drift apart.
"""

from __future__ import annotations

import heapq
import time as _time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable

US_PER_S = 1_000_000

#: A scheduled task or a ``call_soon`` callback.  Whatever it returns is ignored, so a method that
#: returns something (``BusPort.poll``'s frame count) can be scheduled as it is.
Callback = Callable[[], object]


def seconds_to_us(seconds: float) -> int:
    """Round a duration in seconds to whole microseconds (the clock's resolution)."""
    return int(round(seconds * US_PER_S))


class _Event:
    """A scheduled callback; the heap holds ``(due_us, seq, event)`` tuples, compared in C."""

    __slots__ = ("callback", "period_us", "cancelled")

    def __init__(self, callback: Callback, period_us: int) -> None:
        self.callback = callback
        self.period_us = period_us
        self.cancelled = False


class Task:
    """Handle of a scheduled callback; :meth:`cancel` stops it (periodic ones too)."""

    __slots__ = ("_event",)

    def __init__(self, event: _Event) -> None:
        self._event = event

    def cancel(self) -> None:
        """Stop the callback from running again; a no-op if it already ran or was cancelled."""
        self._event.cancelled = True

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._event.cancelled


class Clock(ABC):
    """One interface for simulated and wall time.

    Tasks run in time order; tasks due at the same instant run in the order
    they were scheduled, which is what makes simulated runs repeatable.
    """

    def __init__(self, *, epoch_s: float = 0.0) -> None:
        #: Unix time at ``now == 0``: frame timestamps are ``epoch_s + now``.
        self.epoch_s = float(epoch_s)
        self._heap: list[tuple[int, int, _Event]] = []
        self._seq = 0
        self._now_us = 0
        #: Seconds since the start of the run: ``now_us`` in seconds.  A plain attribute, not a
        #: property, because every frame and task reads it.  Read-only by contract: only the clock
        #: writes it, together with ``now_us`` (``_move_to`` and the simulated loop).
        self.now = 0.0
        self._stop_requested = False
        self._idle_hooks: list[Callable[[float], object]] = []
        self._soon: deque[Callback] = deque()

    # -- reading -----------------------------------------------------------
    @property
    def now_us(self) -> int:
        """Time since the start in whole microseconds, the clock's exact count (``now`` is derived from it)."""
        return self._now_us

    def stamp(self) -> float:
        """Seconds since the start for a frame sent at this moment (the real moment, in wall time)."""
        return self.now

    def _move_to(self, now_us: int) -> None:
        """Set the time (``now_us`` and ``now`` always move together)."""
        self._now_us = now_us
        self.now = now_us / US_PER_S

    @property
    @abstractmethod
    def is_simulated(self) -> bool:
        """True when time jumps from event to event instead of following the wall."""

    # -- scheduling --------------------------------------------------------
    def call_at(self, at_s: float, callback: Callback) -> Task:
        """Run ``callback`` once at ``at_s`` seconds (never in the past)."""
        due = max(seconds_to_us(at_s), self._now_us)
        return self._push(due, callback, 0)

    def call_later(self, delay_s: float, callback: Callback) -> Task:
        """Run ``callback`` once, ``delay_s`` seconds from now (rounded to the microsecond).

        Raises:
            ValueError: a negative delay.
        """
        if delay_s < 0:
            raise ValueError(f"delay must be >= 0 s, got {delay_s}")
        return self._push(self._now_us + seconds_to_us(delay_s), callback, 0)

    def call_every(self, period_s: float, callback: Callback, *, offset_s: float = 0.0) -> Task:
        """Run ``callback`` every ``period_s`` seconds, first at now + ``offset_s``.

        Periods are exact in microseconds: the n-th run is due at
        ``start + n * period``, whatever the callbacks cost.
        """
        period_us = seconds_to_us(period_s)
        if offset_s < 0:
            raise ValueError(f"offset must be >= 0 s, got {offset_s}")
        if period_us <= 0:
            raise ValueError(f"period must be at least 1 us, got {period_s} s")
        return self._push(self._now_us + seconds_to_us(offset_s), callback, period_us)

    def call_soon(self, callback: Callback) -> None:
        """Run ``callback`` once, right after the task now running and before any other,
        even one due at this instant (a frame that just arrived is handled at once)."""
        self._soon.append(callback)

    def _run_soon(self) -> None:
        soon = self._soon
        while soon:
            soon.popleft()()

    def add_idle_hook(self, hook: Callable[[float], object]) -> None:
        """Register ``hook(max_wait_s)``, called between events (what it returns is ignored).

        In wall time the hook may block up to ``max_wait_s`` waiting for input
        (e.g. ``bus.recv(timeout)``); in simulated time it is called with 0 so
        that queued frames are handled before time moves on.
        """
        self._idle_hooks.append(hook)

    def stop(self) -> None:
        """Ask :meth:`run_until` to return after the current event (with what it queued by
        :meth:`call_soon`), leaving ``now`` there.

        Safe from a signal handler: it only sets a flag, which the loop reads between
        events.  The request holds until a run returns on it: made while no run is in
        progress, it makes the next :meth:`run_until` return before its first event.
        """
        self._stop_requested = True

    def _consume_stop(self) -> bool:
        """True (and the request cleared) if a stop was asked; the loops call it as they end."""
        if self._stop_requested:
            self._stop_requested = False
            return True
        return False

    def _push(self, due_us: int, callback: Callback, period_us: int) -> Task:
        self._seq += 1
        event = _Event(callback, period_us)
        heapq.heappush(self._heap, (due_us, self._seq, event))
        return Task(event)

    # -- running -----------------------------------------------------------
    @abstractmethod
    def run_until(self, until_s: float) -> None:
        """Run every task due up to and including ``until_s``; leave ``now`` there.

        Tasks run in (due, seq) order; after each, what :meth:`call_soon` queued,
        then the idle hooks.  :meth:`stop` ends the run after the current task.
        """


class SimClock(Clock):
    """Virtual time: ``now`` jumps straight to the next due event."""

    @property
    def is_simulated(self) -> bool:
        """Always True: time jumps from task to task."""
        return True

    def run_until(self, until_s: float) -> None:
        """``now`` jumps from task to task.

        This loop runs once per frame on the bus, so it is written for speed: a
        periodic task is rescheduled with one ``heapreplace`` (one sift) rather
        than a pop and a push.
        """
        until_us = seconds_to_us(until_s)
        heap = self._heap
        hooks = self._idle_hooks
        heappop = heapq.heappop
        heapreplace = heapq.heapreplace
        soon = self._soon
        if soon:
            self._run_soon()
        while heap and not self._stop_requested:
            due_us, _, event = heap[0]
            if due_us > until_us:
                break
            period_us = event.period_us
            if event.cancelled:
                heappop(heap)
                continue
            self._now_us = due_us   # _move_to(due_us), inlined: this runs once per event
            self.now = due_us / US_PER_S
            if period_us:
                self._seq = seq = self._seq + 1
                heapreplace(heap, (due_us + period_us, seq, event))
            else:
                heappop(heap)
            event.callback()
            if soon:
                self._run_soon()
            for hook in hooks:
                hook(0.0)
        if not self._consume_stop() and until_us > self._now_us:
            self._move_to(until_us)


class WallClock(Clock):
    """Real time: waits (through the idle hooks, so frames keep flowing) until due."""

    def __init__(self, *, speed: float = 1.0) -> None:
        # Real buses stamp frames with the host's Unix time; make now == 0 that moment.
        super().__init__(epoch_s=_time.time())
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self._speed = speed
        self._origin = _time.perf_counter()

    @property
    def is_simulated(self) -> bool:
        """Always False: time follows the host's clock (scaled by ``speed``)."""
        return False

    def _elapsed_us(self) -> int:
        return int((_time.perf_counter() - self._origin) * self._speed * US_PER_S)

    def rebase(self) -> None:
        """Make ``now == 0`` this moment (call when the run starts, not when the bench is built).

        Only before anything has run: time already spent building the bench would
        otherwise arrive as a burst of overdue periodic tasks.
        """
        if self._now_us:
            raise RuntimeError("the wall clock can be rebased only before it has run")
        self._origin = _time.perf_counter()
        self.epoch_s = _time.time()

    def stamp(self) -> float:
        """Seconds since the start at this very moment, read from the host clock (not the last task's time)."""
        return self._elapsed_us() / US_PER_S

    def run_until(self, until_s: float) -> None:
        """Wait for each task's time (serving the idle hooks meanwhile), then run it."""
        until_us = seconds_to_us(until_s)
        heap = self._heap
        hooks = self._idle_hooks
        heappop = heapq.heappop
        heappush = heapq.heappush
        soon = self._soon
        if soon:
            self._run_soon()
        while heap and heap[0][0] <= until_us and not self._stop_requested:
            due_us, _, event = heap[0]
            if event.cancelled:
                heappop(heap)
                continue
            if event.period_us:
                on_time = self._skip_missed(due_us, event.period_us)
                if on_time != due_us:       # fell a whole period behind: drop this late run
                    heappop(heap)
                    self._seq += 1
                    heappush(heap, (on_time, self._seq, event))
                    continue
            # The task stays queued while the clock waits for it: a hook that raises meanwhile (a lost
            # bus) leaves it there for the run that carries on after a reconnect.
            self._advance_to(due_us)
            if heap[0][2] is not event:     # a task due earlier was queued while waiting: it goes first
                continue
            heappop(heap)
            if event.period_us:
                self._seq += 1
                heappush(heap, (self._skip_missed(due_us + event.period_us, event.period_us), self._seq, event))
            event.callback()
            if soon:
                self._run_soon()
            for hook in hooks:
                hook(0.0)
        if not self._consume_stop():
            self._advance_to(max(until_us, self._now_us))

    def _skip_missed(self, next_due_us: int, period_us: int) -> int:
        """A periodic task that fell behind skips the periods it missed, rather than
        firing them back to back (a burst no real ECU would send)."""
        late_us = self._elapsed_us() - next_due_us
        if late_us >= period_us:
            next_due_us += (late_us // period_us) * period_us
        return next_due_us

    def _advance_to(self, due_us: int) -> None:
        """Wait until ``due_us``, letting the idle hooks take in frames meanwhile."""
        while True:
            remaining_us = due_us - self._elapsed_us()
            if remaining_us <= 0:
                break
            wait_s = remaining_us / US_PER_S / self._speed
            if self._idle_hooks:
                # The first hook may block for the wait; the others only poll.
                self._idle_hooks[0](wait_s)
                for hook in self._idle_hooks[1:]:
                    hook(0.0)
            else:
                _time.sleep(wait_s)
        self._move_to(max(self._now_us, due_us))


class StopRequest:
    """A request to end a run early, made from outside the run loop: all a signal handler does.

    :meth:`request` records why and asks the clock bound to it (the one running) to stop
    after the task now running.  Nothing is raised, so no frame is cut in half inside a
    recording writer or a bus driver; the run loop (:meth:`Bench.run_for
    <hilbench.bench.Bench.run_for>`) sees :attr:`reason` between tasks and ends the run
    there, with every frame sent so far delivered to every tap.  A request made before
    a clock is bound stops that clock as soon as it is bound.
    """

    __slots__ = ("_clock", "reason")

    def __init__(self) -> None:
        #: Why the run was asked to end (e.g. ``"SIGINT"``); None while nobody asked.
        self.reason: str | None = None
        self._clock: Clock | None = None

    @property
    def requested(self) -> bool:
        """Whether anyone asked the run to end."""
        return self.reason is not None

    def request(self, reason: str) -> None:
        """Ask the run to end after the current task; the first reason given is kept."""
        if self.reason is None:
            self.reason = reason
        clock = self._clock
        if clock is not None:
            clock.stop()

    def bind(self, clock: Clock | None) -> None:
        """Make ``clock`` the one a request stops (None: no clock is running)."""
        self._clock = clock
        if clock is not None and self.reason is not None:
            clock.stop()


def wall_time_s() -> float:
    """Wall seconds from an arbitrary origin, for progress bars and benchmarks only."""
    return _time.perf_counter()


def wall_sleep_s(seconds: float) -> None:
    """Block ``seconds`` of wall time: for tests of wall-time code that need a slow caller
    (a bench is never put to sleep; its clock waits through its idle hooks)."""
    _time.sleep(seconds)
