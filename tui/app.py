"""The hilbench TUI: a bench advanced in simulated time, shown panel by panel.

The app owns one :class:`~tui.session.BenchSession`.  In simulated time a timer
asks a worker thread to advance it every ``TICK_S`` of wall time (``speed x
TICK_S`` bench seconds, or as much as fits at "max"); on a wall clock (a real
bus) one worker thread serves the bus without a break and posts what it saw ten
times a second.  Either way the worker posts the snapshot back as
:class:`HilbenchApp.Advanced` and the app hands it to the widgets of the tab on
screen.  Keys and the fault panel queue scenario actions on the session, which
applies them between two pieces of bench time.  Tests drive time themselves
with :meth:`HilbenchApp.step`.

Tabs: ``overview`` (what matters at 80x24 first, the detailed readouts below),
``bus`` (every message), ``faults`` (any action, and save as scenario),
``scenarios`` (run files in worker processes, live verdicts).
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import App, ComposeResult, ScreenStackError
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.events import Resize
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Footer, Input, TabbedContent, TabPane

from hilbench.bench import BenchSnapshot
from hilbench.clock import wall_time_s
from hilbench.errors import ConfigError, HilbenchError
from hilbench.scenarios import RunOptions

from .session import BenchSession, SessionClosed
from .widgets import (
    BusMonitorView,
    BusPanel,
    ComputePanel,
    EssentialsPanel,
    FaultPanel,
    HelpScreen,
    PackPanel,
    ProblemsPanel,
    ReadoutPanel,
    ScenarioRunnerView,
    StatusBar,
    TransitionLog,
    TrendPanel,
    VehiclePanel,
    key_rows,
)

#: Wall seconds between two advances of the bench.
TICK_S = 0.1
#: Wall seconds one advance may take at speed "max": longer pieces leave more of the CPU to the bench
#: and less to redrawing (a redraw costs about as much as a few simulated seconds).
MAX_SPEED_BUDGET_S = 1.0
#: Speed settings, bench seconds per wall second; ``None`` is "as fast as the bench goes".
SPEEDS: tuple[float | None, ...] = (1.0, 10.0, 60.0, 600.0, None)
DEFAULT_SPEED = 60.0
#: Degrees one press of h / c moves the coolant.
COOLANT_STEP_C = 10.0
#: Terminal columns from which the overview lays its detailed readouts side by side.
WIDE_COLUMNS = 140
#: The tabs, in order, by id (keys 1-4 switch to them).
TABS = ("overview", "bus", "faults", "scenarios")


def speed_label(speed: float | None) -> str:
    """The status bar's label of a speed setting: ``60x``, or ``max`` for None."""
    return "max" if speed is None else f"{speed:g}x"


class HilbenchApp(App[None]):
    """Pack, vehicle, compute and bus panels, a trend and a transition log over one running bench.

    Args:
        session: the bench to drive; the app closes it when it exits.
        autorun: advance on a wall-clock timer (``False`` in tests, which call :meth:`step`).
        speed: initial speed, one of ``SPEEDS``.
    """

    CSS_PATH = "app.tcss"
    TITLE = "hilbench"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_pause", "pause"),
        Binding("plus,equals_sign", "faster", "faster", key_display="+"),
        Binding("minus", "slower", "slower", key_display="-"),
        Binding("s", "single_step", "step"),
        Binding("question_mark,f1", "help", "help", key_display="?"),
        Binding("q", "quit", "quit"),
        Binding("p", "toggle_plug", "plug in / unplug the charging cable", show=False),
        Binding("g", "cycle_gear", "gear P <-> D", show=False),
        Binding("h", "heat", "coolant +10 C", show=False),
        Binding("c", "cool", "coolant -10 C", show=False),
        Binding("r", "reload", "reload the scenario file (edited while the bench runs)", show=False),
        # priority: a table or tree with focus must not swallow them (in a text field they type the digit)
        *(Binding(str(n), f"show_tab('{tab}')", f"{tab} tab", show=False, priority=True)
          for n, tab in enumerate(TABS, 1)),
    ]

    class Advanced(Message):
        """The bench moved on (posted by the worker thread that advanced it).

        ``session`` is the session the worker advanced: one replaced since (``r``) is not shown.
        """

        def __init__(self, snapshot: BenchSnapshot, session: BenchSession) -> None:
            super().__init__()
            self.snapshot = snapshot
            self.session = session

    class Failed(Message):
        """Advancing the bench failed (posted by the worker thread): shown, and time stops."""

        def __init__(self, error: BaseException | None, session: BenchSession) -> None:
            super().__init__()
            self.error = error
            self.session = session

    paused: reactive[bool] = reactive(False)
    """True while bench time stands still (space toggles)."""

    speed_index: reactive[int] = reactive(SPEEDS.index(DEFAULT_SPEED))
    """Index into ``SPEEDS`` of the speed setting (+ and - move it)."""

    def __init__(self, session: BenchSession, *, autorun: bool = True, speed: float | None = DEFAULT_SPEED,
                 scenario_folder: Path | None = None, report_dir: Path | None = None,
                 runner_workers: int = 2) -> None:
        super().__init__()
        self.session = session
        self.autorun = autorun
        #: Where the scenario runner finds files beyond the bundled ones (the scenario's folder by default).
        self.scenario_folder = scenario_folder
        #: Where the scenario runner writes its HTML reports.
        self.report_dir = report_dir or Path("hilbench-tui-reports")
        self.runner_workers = runner_workers
        self._timer: Timer | None = None
        self._advancing = False
        self._tick_started = 0.0
        self._events_shown = 0
        self._rate_window: deque[tuple[float, float]] = deque(maxlen=20)   # (bench s, wall s) per advance
        self._end_seen = False
        self._errors_shown = 0
        self.last_snapshot: BenchSnapshot | None = None
        #: Snapshots shown so far (the benchmark reads it).
        self.shows = 0
        self._messages_shown: tuple[object, ...] = ()
        #: The last scenario file refused by ``r`` (reload), while its problems are shown.
        self.refused: ConfigError | None = None
        if not session.simulated:
            speed = 1.0   # a wall clock runs at its own pace
        self.set_reactive(HilbenchApp.speed_index, SPEEDS.index(speed))

    # -- layout ---------------------------------------------------------------
    def compose(self) -> ComposeResult:
        """The status bar, problems, the four tabs, the key footer.

        Overview: the essentials, then trend and transition log side by side (all of it on an 80x24
        screen), then the detailed readouts (below the fold at 80x24; in view on a tall screen).
        """
        yield StatusBar()
        yield ProblemsPanel()
        with TabbedContent(initial="overview", id="tabs"):
            with TabPane("1 overview", id="overview"), Vertical(id="overview-body"):
                yield EssentialsPanel()
                with Horizontal(id="middle"):
                    yield TrendPanel()
                    yield TransitionLog()
                with Horizontal(id="readouts"):
                    yield PackPanel()
                    yield VehiclePanel()
                    yield ComputePanel()
                    yield BusPanel()
            with TabPane("2 bus", id="bus"):
                yield BusMonitorView()
            with TabPane("3 faults", id="faults"):
                yield FaultPanel()
            with TabPane("4 scenarios", id="scenarios"):
                options = self.session.options
                yield ScenarioRunnerView(out_dir=self.report_dir, extra_folder=self._runner_folder(),
                                         max_workers=self.runner_workers, seed=options.seed, options=options)
        yield Footer()

    def _runner_folder(self) -> Path | None:
        if self.scenario_folder is not None:
            return self.scenario_folder
        scenario = self.session.scenario
        return scenario.source.parent if scenario is not None and scenario.source is not None else None

    def on_mount(self) -> None:
        """Show the session, then start what advances it (unless ``autorun`` is off): a timer in simulated
        time, one worker serving the bus on a wall clock."""
        self._show_session()
        self._lay_out(self.size.width)
        if self.autorun:
            if self.session.simulated:
                self._timer = self.set_interval(TICK_S, self._tick)
            else:
                self._serve_wall_clock()

    def on_resize(self, event: Resize) -> None:
        """Lay the readouts side by side on a wide terminal, two by two on a narrow one."""
        self._lay_out(event.size.width)

    def _lay_out(self, width: int) -> None:
        self.set_class(width >= WIDE_COLUMNS, "-wide")

    def _show_session(self) -> None:
        self.query_one(FaultPanel).view = self.session.bus_view()
        status = self.query_one(StatusBar)
        scenario = self.session.scenario
        status.scenario = scenario.name if scenario is not None else ""
        status.end_s = self.session.end_s
        status.simulated = self.session.simulated
        status.speed = speed_label(self.speed)
        status.paused = self.paused
        self._advance_now()

    # -- time -----------------------------------------------------------------
    @property
    def speed(self) -> float | None:
        """Bench seconds per wall second, ``None`` at "max"."""
        return SPEEDS[self.speed_index]

    def step(self, duration_s: float | None = None) -> BenchSnapshot:
        """Advance the bench by ``duration_s`` bench seconds now (one tick's worth by default) and show it.

        The deterministic way to move time (tests): runs on the calling
        thread, whatever ``paused`` says.
        """
        if duration_s is None:
            duration_s = (self.speed or 600.0) * TICK_S
        self.session.refresh_messages()
        snapshot = self.session.advance(duration_s)
        self.show(snapshot)
        return snapshot

    def _serve_wall_clock(self) -> None:
        """On a wall clock, one worker thread serves the bus until the session closes; it posts a snapshot
        every ``TICK_S`` (the UI never waits on the bus, and the bus never waits on the UI)."""
        session = self.session

        def serve() -> None:
            last_post = 0.0
            while not session.closed:
                try:
                    snapshot = session.advance(None)
                except SessionClosed:
                    return
                except Exception as exc:  # noqa: BLE001 -- shown in the app, which keeps running
                    self.post_message(self.Failed(exc, session))
                    return
                now = wall_time_s()
                if now - last_post >= TICK_S:
                    last_post = now
                    self.post_message(self.Advanced(snapshot, session))

        self._advancing = True
        self.run_worker(serve, thread=True, group="serve", exit_on_error=True)

    def _tick(self) -> None:
        if self.paused or self._advancing or self.session.closed:
            return
        self._advancing = True
        self._tick_started = wall_time_s()
        speed = self.speed
        duration_s = None if speed is None else speed * TICK_S
        self.run_worker(lambda: self._advance_in_thread(duration_s), thread=True, group="advance",
                        exit_on_error=True)

    def _advance_in_thread(self, duration_s: float | None) -> None:
        session = self.session
        try:
            snapshot = session.advance(duration_s, wall_budget_s=MAX_SPEED_BUDGET_S)
        except SessionClosed:
            self.post_message(self.Failed(None, session))   # a session replaced or closed under the worker
            return
        except Exception as exc:  # noqa: BLE001 -- shown in the app, which keeps running
            self.post_message(self.Failed(exc, session))
            return
        self.post_message(self.Advanced(snapshot, session))

    @on(Failed)
    def _on_failed(self, message: Failed) -> None:
        if message.session is not self.session:
            return   # the bench it was about was replaced (r): the new one has its own worker
        self._advancing = False
        if message.error is not None:
            self._report_failure(message.error)

    def _report_failure(self, error: BaseException) -> None:
        """An error advancing the bench: shown in the log and as a notice; time stops until space."""
        reason = str(error) if isinstance(error, HilbenchError) else f"{type(error).__name__}: {error}"
        self.paused = True
        self.query_one(TransitionLog).write_error(self.session.now_s, f"the bench stopped: {reason}")
        self.notify(f"{reason}\n(time is paused; space tries again, r reloads the scenario)",
                    title="bench error", severity="error", timeout=10)

    def _advance_now(self) -> None:
        """Advance by nothing (apply queued edits) on this thread and show the result, or the failure.

        On a wall clock only the serving worker advances: this shows the bench as it is.
        """
        try:
            self.show(self.session.advance(0.0) if self.session.simulated else self.session.snapshot())
        except SessionClosed:
            pass
        except Exception as exc:  # noqa: BLE001 -- shown in the app, which keeps running
            self._report_failure(exc)

    @on(Advanced)
    def _on_advanced(self, message: Advanced) -> None:
        if message.session is not self.session:
            return   # from the bench replaced by r: its time is not this bench's
        if self.session.simulated:
            self._advancing = False
        self._rate_window.append((message.snapshot.now_s, wall_time_s()))
        if not (self.paused and not self.session.simulated):   # a paused wall clock: the screen stands still
            self.show(message.snapshot)
        if self._timer is not None and wall_time_s() - self._tick_started >= TICK_S:
            self._tick()   # behind the timer (a long chunk): go on at once rather than wait for the next tick

    @property
    def active_tab(self) -> str:
        """The id of the tab on screen."""
        return self.query_one(TabbedContent).active

    def show(self, snapshot: BenchSnapshot) -> None:
        """Hand ``snapshot``, the trends, the bus's messages and bench events not yet logged to the widgets."""
        self.last_snapshot = snapshot
        self.shows += 1
        self.query_one(EssentialsPanel).snapshot = snapshot
        for panel in self.query(ReadoutPanel):
            panel.snapshot = snapshot
        trend = self.query_one(TrendPanel)
        trend.trends = self.session.trends
        if self.active_tab == "bus" and self.session.messages is not self._messages_shown:
            self._messages_shown = self.session.messages   # refreshed by the session 4 times a second at most
            self.query_one(BusMonitorView).show(self._messages_shown, now_s=self.session.messages_at_s)
        events = self.session.events[self._events_shown:]
        self._events_shown += len(events)
        trend.mark(e.at_s for e in events if not e.text.startswith(("warning:", "error:")))
        self.query_one(TransitionLog).show(snapshot, events)
        errors = self.session.errors[self._errors_shown:]
        self._errors_shown += len(errors)   # counted from the slice: one the worker adds meanwhile comes next time
        for error in errors:
            self.notify(error.text.removeprefix("error: "), title="scenario error", severity="error", timeout=8)
        status = self.query_one(StatusBar)
        status.now_s = snapshot.now_s
        status.achieved = self._achieved()
        end = self.session.end_s
        if end is not None and not self.paused and self._ended(snapshot.now_s, end):
            assert self.session.scenario is not None   # only a scenario has an end
            self.paused = True
            self.notify("scenario finished; space runs on in free play", title=self.session.scenario.name)

    def _ended(self, now_s: float, end_s: float) -> bool:
        if self._end_seen or now_s < end_s - 1e-9:
            return False
        self._end_seen = True
        return True

    def _achieved(self) -> float | None:
        if len(self._rate_window) < 2:
            return None
        (sim0, wall0), (sim1, wall1) = self._rate_window[0], self._rate_window[-1]
        return (sim1 - sim0) / (wall1 - wall0) if wall1 > wall0 else None

    def _apply_now(self) -> None:
        """Run queued edits at once when no worker is advancing (paused, or between ticks)."""
        if not self._advancing and not self.session.closed:
            self._advance_now()

    # -- reactives ------------------------------------------------------------
    def _status_bar(self) -> StatusBar | None:
        """The status bar, or None before the app has a screen (a reactive set early still calls its watcher);
        on mount the bar is filled from the reactives (_show_session)."""
        try:
            return self.query_one(StatusBar)
        except (NoMatches, ScreenStackError):
            return None

    def watch_paused(self, paused: bool) -> None:
        """Restart the achieved-speed measurement (a pause is no bench time) and show the state; on a wall
        clock whose worker stopped on an error, running again starts a new one."""
        self._rate_window.clear()
        if (not paused and self.autorun and not self.session.simulated and not self._advancing
                and not self.session.closed and self.is_running):
            self._serve_wall_clock()
        bar = self._status_bar()
        if bar is not None:
            bar.paused = paused

    def watch_speed_index(self, index: int) -> None:
        """Restart the achieved-speed measurement (the rate changed) and show the new setting."""
        self._rate_window.clear()
        bar = self._status_bar()
        if bar is not None:
            bar.speed = speed_label(SPEEDS[index])

    # -- actions (keys) -------------------------------------------------------
    def action_toggle_pause(self) -> None:
        """Space: stop or resume bench time (on a wall clock, which cannot stop: freeze the screen)."""
        self.paused = not self.paused
        if self.paused and not self.session.simulated:
            self.notify("a wall clock cannot stop: the bench goes on serving the bus while the screen is frozen; "
                        "space shows it again", title="screen frozen", timeout=6)

    def action_single_step(self) -> None:
        """s: pause, then advance one plant step of bench time (simulated time only)."""
        if not self.session.simulated:
            self.notify("a wall clock cannot be stepped", severity="warning")
            return
        self.paused = True
        if self._advancing:
            return   # the chunk under way lands first; the next s steps
        try:
            self.show(self.session.advance(self.session.bench.plant_step_s))
        except SessionClosed:
            pass
        except Exception as exc:  # noqa: BLE001 -- shown in the app, which keeps running
            self._report_failure(exc)

    def action_show_tab(self, tab: str) -> None:
        """1-4: show a tab; in a text field (a filter, a parameter) the key is the digit typed instead."""
        focused = self.focused
        if isinstance(focused, Input):
            focused.insert_text_at_cursor(str(TABS.index(tab) + 1))
            return
        # Focus left inside the tab being hidden would bring that tab back (TabbedContent shows the pane
        # holding the focus); the tab shown takes the focus it needs (_tab_shown).
        self.screen.set_focus(None)
        self.query_one(TabbedContent).active = tab

    @on(TabbedContent.TabActivated)
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        """The bus monitor costs per advance: the session fills it only while its tab is shown."""
        self.session.watching = self.active_tab == "bus"
        if self.session.watching:
            self.session.refresh_messages()
            self._apply_now()
        # the tab's keys work at once: focus goes to what they act on
        target = {"bus": "#bus-monitor-table", "faults": "#fault-action", "scenarios": "#scenario-tree"}.get(
            self.active_tab)
        if target is not None:
            self.query_one(target).focus()

    def action_help(self) -> None:
        """?/F1: every key of the app and of each tab."""
        rows = [*key_rows("anywhere", self.BINDINGS), *key_rows("bus tab", BusMonitorView.BINDINGS),
                *key_rows("faults tab", FaultPanel.BINDINGS), *key_rows("scenarios tab", ScenarioRunnerView.BINDINGS)]
        self.push_screen(HelpScreen(rows))

    @on(FaultPanel.Requested)
    def _fault_requested(self, message: FaultPanel.Requested) -> None:
        """The fault panel's checked action: queued on the bench, logged and marked on the trend."""
        self.session.act(message.action, message.params)
        self._apply_now()
        self.notify(f"{message.action} at {self.session.now_s:.1f} s", title="action applied", timeout=3)

    @on(FaultPanel.SaveRequested)
    def _save_requested(self, message: FaultPanel.SaveRequested) -> None:
        """Write the session as a scenario file; a refused one (nothing ran yet, say) is shown, not written."""
        try:
            path = self.session.save_scenario(message.path)
        except (ConfigError, OSError) as exc:
            self.notify(str(exc), title="not saved", severity="error", timeout=10)
            return
        self.notify(f"{path} (hilbench run {path} replays it)", title="session saved as a scenario", timeout=8)

    def action_faster(self) -> None:
        """+: the next speed setting (simulated time only: a wall clock runs at its own pace)."""
        if self.session.simulated:
            self.speed_index = min(self.speed_index + 1, len(SPEEDS) - 1)
        else:
            self.notify("a wall clock runs at 1x: the speed cannot change", severity="warning")

    def action_slower(self) -> None:
        """-: the previous speed setting (simulated time only)."""
        if self.session.simulated:
            self.speed_index = max(self.speed_index - 1, 0)
        else:
            self.notify("a wall clock runs at 1x: the speed cannot change", severity="warning")

    def action_toggle_plug(self) -> None:
        """p: plug the charging cable in, or pull it out (queued: applied between two pieces of bench time)."""
        self.session.toggle_plug()
        self._apply_now()

    def action_cycle_gear(self) -> None:
        """g: move the selector between P and D (queued: applied between two pieces of bench time)."""
        self.session.cycle_gear()
        self._apply_now()

    def action_heat(self) -> None:
        """h: coolant ``COOLANT_STEP_C`` warmer (queued: applied between two pieces of bench time)."""
        self.session.nudge_coolant(COOLANT_STEP_C)
        self._apply_now()

    def action_cool(self) -> None:
        """c: coolant ``COOLANT_STEP_C`` colder (queued: applied between two pieces of bench time)."""
        self.session.nudge_coolant(-COOLANT_STEP_C)
        self._apply_now()

    def action_reload(self) -> None:
        """Load the scenario file again (edited while the bench ran): a refused file is shown with every
        problem and the running bench goes on; an accepted one replaces the bench, from time 0."""
        scenario = self.session.scenario
        if scenario is None or scenario.source is None:
            self.notify("free play: there is no scenario file to reload", severity="warning")
            return
        problems = self.query_one(ProblemsPanel)
        try:
            fresh = BenchSession.open(scenario.source, self.session.options)
        except ConfigError as exc:
            self.refused = exc
            problems.show_error(exc)
            self.query_one(TransitionLog).write_error(
                self.session.now_s, f"{scenario.source} refused ({len(exc.problems)} problem(s), listed above); "
                                    "the bench runs on as it was")
            self.notify(f"{len(exc.problems)} problem(s) in {scenario.source}; the bench runs on as it was",
                        title="scenario refused", severity="error", timeout=8)
            return
        except HilbenchError as exc:
            self.notify(str(exc), title="bench not opened", severity="error", timeout=10)
            return
        self.refused = None
        problems.clear()
        old, self.session = self.session, fresh
        old.close()                       # waits for a worker still advancing it
        self._advancing = False
        self.session.watching = self.active_tab == "bus"
        trend = self.query_one(TrendPanel)
        trend.marks_s = ()
        self._events_shown = self._errors_shown = 0
        self._end_seen = False
        self._rate_window.clear()
        assert fresh.scenario is not None   # opened from a scenario file
        self.query_one(TransitionLog).write_error(0.0, f"scenario {fresh.scenario.name} loaded again", error=False)
        self._show_session()
        if self.autorun and not fresh.simulated:
            self._serve_wall_clock()

    async def action_quit(self) -> None:
        """q: close the bench (recording flushed), then leave the app."""
        self.close_bench()
        self.exit()

    def close_bench(self) -> None:
        """Stop advancing and close the bench (recording flushed, buses shut); safe to call twice."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.session.close()

    def on_unmount(self) -> None:
        """Close the bench however the app ends."""
        self.close_bench()


def run_tui(scenario: str | Path | None = None, *, options: RunOptions | None = None,
            speed: float | None = DEFAULT_SPEED, scenario_folder: Path | None = None,
            report_dir: Path | None = None) -> HilbenchApp:
    """Open the bench (refusing bad input before the screen opens), run the app, close the bench.

    ``options`` says how: seed, bus, DBCs, signal map, recording, emulated nodes, DUT defect.
    Returns the app after it exited: ``last_snapshot`` for a closing line,
    ``return_code`` (non-zero when the app stopped on an error).

    Raises:
        ConfigError: a scenario, DBC or signal map is refused.
        BusError: the bus cannot be opened.
    """
    session = BenchSession.open(scenario, options)
    try:
        app = HilbenchApp(session, speed=speed, scenario_folder=scenario_folder, report_dir=report_dir)
        app.run()
        return app
    finally:
        session.close()
