"""The bench the TUI drives: advance it in chunks, apply actions between chunks, close it once.

No Textual in here (as toolong's ``log_file.py``): the app owns one
:class:`BenchSession` and shows the :class:`~hilbench.bench.BenchSnapshot`
each :meth:`BenchSession.advance` returns.  ``advance`` may run in a worker
thread while the user presses keys, so key actions are queued
(:meth:`BenchSession.submit`) and applied by whoever advances next, between
two pieces of simulated time, never in the middle of a clock step.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from hilbench.bench import Bench, BenchSnapshot
from hilbench.bus.watch import FrameWatch, WatchedMessage
from hilbench.clock import wall_time_s
from hilbench.scenarios import RunOptions, Scenario, load_scenario
from hilbench.scenarios.actions import BusView, apply
from hilbench.scenarios.model import Step
from hilbench.scenarios.runner import bench_config

from .saved_scenario import scenario_data, write_scenario
from .trend_data import Bucket, BucketedTrend

#: Longest piece of simulated time run in one go; queued actions wait at most this long (in bench time).
PIECE_S = 5.0
#: On a wall clock, how far ahead of now one advance runs (s): short, so the UI thread's snapshot
#: (which waits for the session's lock) never waits long, while the bench serves the bus without a gap.
WALL_PIECE_S = 0.1
#: Wall seconds between two refreshes of the bus monitor's rows: a table of every message redrawn costs
#: ~30 ms of the UI thread, so 4 times a second, not with every snapshot.
WATCH_EVERY_S = 0.25
#: The bus roles the trends follow (those the signal map does not bind are left out).
TREND_ROLES = ("soc_pct", "compute_power_w", "charge_power_w", "junction_temp_c")

#: An edit to the bench, run between clock steps; returns the line the log shows for it.
BenchEdit = Callable[[Bench], str]


#: What a session without a scenario file runs: the default bench, no steps, no end.
_FREE_PLAY = Scenario(name="free play", duration_s=0.0)


def _reason(exc: BaseException) -> str:
    """An error as one line for the log: a bench error by its message, anything else with its type."""
    from hilbench.errors import HilbenchError

    text = " ".join(str(exc).split())
    return text if isinstance(exc, HilbenchError) else f"{type(exc).__name__}: {text}"


class SessionClosed(RuntimeError):
    """The session's bench is closed; nothing advances it any more."""


@dataclass(frozen=True)
class Event:
    """Something done to the bench (a key press or a scenario step), for the log."""

    at_s: float
    text: str


class BenchSession:
    """One open bench, advanced in pieces; thread-safe between one advancing thread and the UI thread.

    Args:
        bench: an open bench; the session closes it.
        scenario: when given, its steps are scheduled on the bench clock and
            :meth:`advance` stops at its end.
    """

    def __init__(self, bench: Bench, scenario: Scenario | None = None, options: RunOptions | None = None) -> None:
        self.bench = bench
        self.scenario = scenario
        #: How the bench was opened (seed, bus, map, ...): a reloaded scenario opens the same way.
        self.options = options or RunOptions()
        self.events: list[Event] = []
        #: Errors while running (a step or a key that could not act), also in ``events``: the bench runs on.
        self.errors: list[Event] = []
        self._pending: deque[BenchEdit] = deque()
        self._lock = threading.Lock()
        self._closed = False
        self._warned: set[str] = set()
        #: Actions done by hand, in bench-time order (what "save as scenario" writes as steps).
        self.applied: list[Step] = []
        #: Per trend role, its buckets as of the last advance (replaced whole: safe to read from the UI thread).
        self.trends: dict[str, tuple[Bucket, ...]] = {}
        self._trend_data = {role: BucketedTrend() for role in TREND_ROLES if bench.signal_map.is_mapped(role)}
        self._trend_read = dict.fromkeys(self._trend_data, 0)
        #: Every ID on the bus, as of the last advance while :attr:`watching` (see :class:`FrameWatch`).
        self.messages: tuple[WatchedMessage, ...] = ()
        #: Bench time :attr:`messages` were taken at.
        self.messages_at_s = 0.0
        #: Whether each advance refreshes :attr:`messages` (only while the bus monitor is shown: it costs).
        self.watching = False
        self.watch = FrameWatch.attach(bench)
        self._watched_at = float("-inf")
        self._note_warnings()
        if scenario is not None:
            for step in scenario.steps:
                bench.clock.call_at(step.at_s, self._step_firer(step.action, dict(step.params), step.label))
        if bench.clock.is_simulated:
            bench.start()
        # A wall clock starts with the first advance: time zero is when the screen shows the bench,
        # not seconds earlier while the app was still being built (every frame of those would be late).

    @classmethod
    def open(cls, scenario_path: str | Path | None = None, options: RunOptions | None = None) -> BenchSession:
        """A session on ``BenchConfig()``, or on the bench a scenario file describes, steps scheduled.

        ``options`` apply either way: seed, bus, DBCs, signal map, recording, emulated nodes and DUT defect.

        Raises:
            ConfigError: the scenario file, DBC or signal map is refused (with file, entry and reason).
            BusError: the bus cannot be opened.
        """
        options = options or RunOptions()
        scenario = load_scenario(scenario_path) if scenario_path is not None else None
        # A free-play bench is the empty scenario's: the same options reach it the same way.
        config = bench_config(scenario or _FREE_PLAY, options)
        bench = Bench(config)
        try:
            return cls(bench, scenario, options)
        except BaseException:
            bench.close()
            raise

    def _step_firer(self, action: str, params: dict[str, object], label: str) -> Callable[[], None]:
        def fire() -> None:
            try:
                apply(self.bench, action, params)
            except Exception as exc:  # noqa: BLE001 -- shown in the app; the bench runs on without the step
                self._error(f"step {label} could not act: {_reason(exc)}")
                return
            self.events.append(Event(self.bench.clock.now, f"step: {label}"))
        return fire

    def _error(self, text: str) -> None:
        event = Event(self.bench.clock.now, f"error: {text}")
        self.errors.append(event)
        self.events.append(event)

    # -- state ----------------------------------------------------------------
    @property
    def now_s(self) -> float:
        """Bench time, seconds since the run started."""
        return self.bench.clock.now

    @property
    def simulated(self) -> bool:
        """Whether the bench runs in simulated time (False on a real bus's wall clock)."""
        return self.bench.clock.is_simulated

    @property
    def end_s(self) -> float | None:
        """Where the scenario ends (``advance`` stops there once), or ``None`` for free play."""
        return self.scenario.duration_s if self.scenario is not None else None

    def refresh_messages(self) -> None:
        """Have the next advance refresh :attr:`messages` whenever the last refresh was (a tab just shown,
        a step asked for)."""
        self._watched_at = float("-inf")

    def bus_view(self) -> BusView:
        """The bench's bus as a step is checked against (mapped roles, emulated nodes)."""
        return BusView.of(self.bench)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called; a closed session advances no more."""
        return self._closed

    # -- edits ----------------------------------------------------------------
    def submit(self, edit: BenchEdit) -> None:
        """Queue an edit; it runs at the start of the next :meth:`advance` (``advance(0)`` runs it now)."""
        self._pending.append(edit)

    def act(self, action: str, params: Mapping[str, Any], *, origin: str = "panel", text: str = "") -> None:
        """Queue scenario action ``action`` with ``params`` (already checked, as a scenario file's step is).

        It is logged (``text``, or the action and its parameters) and kept in :attr:`applied`.
        """
        params = dict(params)

        def edit(bench: Bench) -> str:
            self._apply(bench, action, params, origin)
            shown = ", ".join(f"{k}={v}" for k, v in params.items())
            return text or f"{origin}: {action}" + (f" ({shown})" if shown else "")
        edit.__doc__ = f"{origin} action {action}"
        self.submit(edit)

    def _apply(self, bench: Bench, action: str, params: dict[str, Any], origin: str = "key") -> None:
        """Run an action done by hand now and keep it as the step a saved scenario replays it by."""
        apply(bench, action, params)
        self.applied.append(Step(bench.clock.now, action, params, f"by hand ({origin}): {action}"))

    def toggle_plug(self) -> None:
        """Plug in when unplugged, unplug when plugged (scenario actions ``plug_in`` / ``unplug``)."""
        def edit(bench: Bench) -> str:
            name = "unplug" if bench.evse.plugged_in else "plug_in"
            self._apply(bench, name, {})
            return name.replace("_", " ")
        self.submit(edit)

    def cycle_gear(self) -> None:
        """P -> D, anything else -> P (scenario action ``shift``)."""
        def edit(bench: Bench) -> str:
            gear = "D" if bench.vehicle.gear.value == "P" else "P"
            self._apply(bench, "shift", {"gear": gear})
            return f"shift to {gear}"
        self.submit(edit)

    def nudge_coolant(self, delta_c: float) -> None:
        """Move the coolant temperature by ``delta_c`` from where it is (ambient when no loop runs)."""
        def edit(bench: Bench) -> str:
            base = bench.vehicle.coolant_c if bench.vehicle.coolant_c is not None else bench.vehicle.ambient_c
            value = round(base + delta_c, 1)
            self._apply(bench, "set_coolant", {"value_c": value})
            return f"coolant {value:.0f} C"
        self.submit(edit)

    # -- saving ---------------------------------------------------------------
    def save_scenario(self, path: str | Path) -> Path:
        """Write this session so far as a scenario file: the scenario's settings and steps that fired, the
        actions done by hand at the times they were done, its checks, and the time that ran as its duration.

        Raises:
            ConfigError: the session does not make a valid scenario (nothing ran yet; the file would be
                refused, every problem listed); nothing is written then.
        """
        with self._lock:
            data = scenario_data(self.scenario, self.applied, self.bench.clock.now, seed=self.options.seed,
                                 dut_defect=self.options.dut_defect)
        return write_scenario(data, Path(path))

    def _drain(self) -> None:
        while self._pending:
            edit = self._pending.popleft()
            try:
                text = edit(self.bench)
            except Exception as exc:  # noqa: BLE001 -- shown in the app; the bench runs on
                self._error(f"{getattr(edit, '__doc__', None) or 'the key'} could not act: {_reason(exc)}")
                continue
            self.events.append(Event(self.bench.clock.now, text))

    def _note_warnings(self) -> None:
        """Log each of the bench's warnings once (load-time ones at the start, clipped values as they come)."""
        for text in self.bench.warnings:
            if text not in self._warned:
                self._warned.add(text)
                self.events.append(Event(self.bench.clock.now, f"warning: {text}"))

    # -- time -----------------------------------------------------------------
    def advance(self, duration_s: float | None, *, wall_budget_s: float = 0.08) -> BenchSnapshot:
        """Apply queued edits, then advance the bench and return its snapshot.

        ``duration_s`` seconds of bench time, or, when ``None`` (speed "max"),
        as much as fits in ``wall_budget_s`` of wall time.  Never runs past the
        scenario's end when it starts before it.  After :meth:`close` this only
        the worker that calls this (and a test) gets:

        Raises:
            SessionClosed: the session is closed.
        """
        with self._lock:
            if self._closed:
                raise SessionClosed("the bench session is closed")
            if not self.bench.clock.is_simulated:
                return self._advance_wall()
            self._drain()
            clock = self.bench.clock
            start = clock.now
            stop = None if duration_s is None else start + max(0.0, duration_s)
            end = self.end_s
            if end is not None and start < end - 1e-9:
                stop = end if stop is None else min(stop, end)
            started_wall = wall_time_s()
            while True:
                if stop is not None and clock.now >= stop - 1e-9:
                    break
                if duration_s is None and wall_time_s() - started_wall >= wall_budget_s:
                    break
                target = clock.now + PIECE_S if stop is None else min(clock.now + PIECE_S, stop)
                clock.run_until(target)
                self._drain()
            return self._observe()

    def _advance_wall(self) -> BenchSnapshot:
        """On a wall clock: serve the bus until ``WALL_PIECE_S`` from now (started at the first call)."""
        self.bench.start()
        self._drain()
        clock = self.bench.clock
        clock.run_until(clock.stamp() + WALL_PIECE_S)
        self._drain()
        return self._observe()

    def _observe(self) -> BenchSnapshot:
        """After an advance: log new warnings, fill the trends and the bus monitor, take the snapshot."""
        self._note_warnings()
        monitor = self.bench.monitor
        for role, trend in self._trend_data.items():
            times, values = monitor.trace(role, since=self._trend_read[role])
            self._trend_read[role] += len(times)
            trend.add(times, values)
        self.trends = {role: tuple(trend.buckets) for role, trend in self._trend_data.items()}
        if self.watching and wall_time_s() - self._watched_at >= WATCH_EVERY_S:
            self._watched_at = wall_time_s()
            self.messages = tuple(self.watch.rows())
            self.messages_at_s = self.bench.clock.now
        return self.bench.snapshot()

    def snapshot(self) -> BenchSnapshot:
        """A snapshot of the bench now, taken under the session's lock (never mid-advance)."""
        with self._lock:
            return self.bench.snapshot()

    def close(self) -> None:
        """Close the bench (recording flushed, buses shut) once; waits for a running :meth:`advance`."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.bench.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
