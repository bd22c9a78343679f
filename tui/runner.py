"""Scenario runs for the TUI: whole scenarios in worker processes, verdicts as they form.

The TUI must never wait for a run: a scenario is minutes or hours of bench time
and the screen must keep drawing.  :class:`ScenarioRunner` hands each file to
a :class:`~concurrent.futures.ProcessPoolExecutor` (``spawn`` context: the app
runs threads, and a forked child would inherit their locks in any state).  The
worker loads the file, runs it with ``run_scenario(live=...)`` and posts a
:class:`LiveUpdate` on a queue every tenth of the scenario (and a progress-only
one in between); when it ends it writes the scenario's HTML report and returns
a :class:`RunSummary` of plain values.  :meth:`ScenarioRunner.poll` drains both
without blocking, so a Textual timer can call it.

A file that cannot run (malformed, or a step this bus cannot carry out) comes
back as verdict ``ERROR`` with every problem as text (file, entry, reason),
and any other exception as ``ERROR`` with ``TypeName: message``: the runner
never raises a worker's traceback into the app.

No Textual here (the model knows no screen); the widget is
:class:`tui.widgets.scenario_runner.ScenarioRunnerView`.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from queue import Empty
from typing import Any

from hilbench.bus.open import BusConfig
from hilbench.clock import StopRequest, wall_time_s
from hilbench.errors import ConfigError
from hilbench.scenarios import NotRunnableError, RunOptions, Scenario, load_scenario, run_scenario
from hilbench.scenarios.checks import CheckResult
from hilbench.scenarios.loader import bundled_scenarios_dir
from hilbench.scenarios.report import failure_details, fmt_robustness, slug, write_html_report

#: The marker of scenarios ``hilbench run --skip-long`` skips (and ``a`` in the TUI).
LONG_MARKER = "long"
#: Verdict of a check the time that ran cannot decide yet (its window is still open, or its
#: trigger has not fired yet).
PENDING = "PENDING"
#: Verdict of a run cancelled before it started.
CANCELLED = "CANCELLED"
#: Verdict of a file that could not run: malformed, refused, or the worker failed.
ERROR = "ERROR"
#: Wall seconds between two progress-only updates from a worker (the live checks come as judged).
PROGRESS_EVERY_S = 0.25
#: Wall seconds :meth:`ScenarioRunner.close` waits for the workers before it terminates them.
CLOSE_GRACE_S = 5.0
#: The workers' stdout and stderr go to this file in the output folder, never to the app's terminal.
WORKER_LOG = "workers.log"


# -- what the tree lists ------------------------------------------------------------------
@dataclass(frozen=True)
class ScenarioEntry:
    """One scenario file as the tree shows it before it runs.

    ``group`` is its folder relative to the root it was found under ("" at the top);
    ``problem`` says why the file does not load (it still shows, and running it gives ERROR).
    """

    path: Path
    group: str
    name: str
    duration_s: float | None = None
    long: bool = False
    problem: str | None = None
    #: The names of its checks, in file order (the verdict table lists them before the first run).
    checks: tuple[str, ...] = ()


def bundled_scenarios() -> list[Path]:
    """The bundled suite's files, in ``hilbench run``'s order (the top folder's first, then each sub-folder)."""
    return scenario_files(bundled_scenarios_dir())


def scenario_files(folder: Path) -> list[Path]:
    """The ``*.toml`` files under ``folder`` in ``hilbench run``'s order; empty when it holds none.

    Raises:
        ConfigError: ``folder`` is not a folder.
    """
    if not folder.is_dir():
        raise ConfigError(folder, None, "no such folder (expected a folder of scenario files, *.toml)")
    return sorted(folder.glob("*.toml")) + sorted(p for p in folder.rglob("*.toml") if p.parent != folder)


def is_long(scenario: Scenario) -> bool:
    """Whether ``scenario`` is one ``--skip-long`` skips: the same rule as ``hilbench run``."""
    return LONG_MARKER in scenario.markers


def describe_scenarios(root: Path, paths: Iterable[Path] | None = None) -> list[ScenarioEntry]:
    """An entry per file under ``root`` (or per one of ``paths``), loaded to learn its name, length and
    whether it is long; a file that does not load keeps its stem as name and says why."""
    entries = []
    for path in (scenario_files(root) if paths is None else paths):
        try:
            group = path.parent.relative_to(root).as_posix()
        except ValueError:
            group = path.parent.as_posix()
        group = "" if group == "." else group
        try:
            scenario = load_scenario(path)
        except ConfigError as exc:
            entries.append(ScenarioEntry(path, group, path.stem, problem=problems_text(exc)))
            continue
        entries.append(ScenarioEntry(path, group, scenario.name, scenario.duration_s, is_long(scenario),
                                     checks=tuple(check.name for check in scenario.checks)))
    return entries


def problems_text(error: ConfigError | NotRunnableError) -> str:
    """Every problem of ``error``, one line each (file, entry and line, reason)."""
    return "\n".join(str(problem) for problem in error.problems)


# -- what comes back ------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckRow:
    """One check's verdict as the table shows it; ``robustness_text`` is the report's (``+1.5 %``)."""

    name: str
    verdict: str
    robustness: float | None
    robustness_text: str
    detail: str = ""


@dataclass(frozen=True)
class LiveUpdate:
    """A run under way: ``now_s`` of ``duration_s`` bench seconds ran.

    ``checks`` is None for a progress-only update; otherwise every check judged over the time
    that ran, with :data:`PENDING` where that time cannot decide it yet.  The first update
    of a run (``now_s`` 0) says it started.
    """

    path: Path
    now_s: float
    duration_s: float
    checks: tuple[CheckRow, ...] | None = None
    #: Which submission of ``path`` this is (a late update of an earlier run is dropped).
    run: int = 0

    @property
    def fraction(self) -> float:
        """How much of the scenario ran, 0..1."""
        return min(1.0, self.now_s / self.duration_s) if self.duration_s > 0 else 0.0


@dataclass(frozen=True)
class RunSummary:
    """A finished run in plain values (it crosses a process boundary).

    ``verdict`` is the scenario's (``PASS``, ``FAIL``, ``INTERRUPTED``) or :data:`ERROR` /
    :data:`CANCELLED`; ``error`` then says why.  ``duration_s`` is the bench time that ran,
    ``wall_s`` what the run took.  ``report_path`` is the HTML page (None when none was
    written, and ``note`` says why).
    """

    path: Path
    name: str
    verdict: str
    checks: tuple[CheckRow, ...] = ()
    duration_s: float = 0.0
    wall_s: float = 0.0
    failure_details: str = ""
    report_path: Path | None = None
    error: str | None = None
    note: str = ""
    seed: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)


def verdict_so_far(result: CheckResult, now_s: float) -> str:
    """A check's verdict over the time that ran, :data:`PENDING` where what comes may still change it.

    A ``never``, ``always`` or ``response`` violation cannot be undone, so FAIL shows at once;
    a ``response`` whose trigger has not fired (VACUOUS so far), an ``eventually`` whose window
    is open (``run_scenario`` marks it undecided) and a ``holds_for`` whose window is open
    may still pass.
    """
    verdict = result.verdict
    check = result.check
    if verdict == "VACUOUS":
        return PENDING
    if verdict == "FAIL":
        if result.detail.startswith("undecided"):
            return PENDING
        if check.kind == "holds_for" and (check.until_s is None or check.until_s > now_s):
            return PENDING
    return verdict


def check_rows(results: Iterable[CheckResult], now_s: float | None = None) -> tuple[CheckRow, ...]:
    """Rows of the verdict table: final verdicts, or (with ``now_s``) those so far."""
    return tuple(CheckRow(r.check.name, r.verdict if now_s is None else verdict_so_far(r, now_s), r.robustness,
                          fmt_robustness(r), r.detail) for r in results)


# -- the worker side ----------------------------------------------------------------------------
_UPDATES: Any = None      # the parent's update queue, in a worker
_CANCELLED_BEFORE: Any = None   # runs submitted before this generation were cancelled (shared int)
_CLOSING: Any = None      # 1 once the parent closes: running scenarios stop at their next report


def _worker_init(updates: Any, cancelled_before: Any, closing: Any, log_path: str) -> None:
    """Keep the shared queue and flags; send the worker's output to a log, and leave Ctrl-C to the app."""
    global _UPDATES, _CANCELLED_BEFORE, _CLOSING
    _UPDATES, _CANCELLED_BEFORE, _CLOSING = updates, cancelled_before, closing
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _post(update: LiveUpdate) -> None:
    if _UPDATES is not None:
        _UPDATES.put(update)


def run_in_worker(path: Path, seed: int, out_dir: Path, *, generation: int = 0, run: int = 0,
                  live_every_s: float | None = None, options: RunOptions | None = None) -> RunSummary:
    """Load and run one scenario file, write its HTML report; never raises.

    ``options``: how the TUI's own bench runs (DBCs, signal map, emulated nodes, DUT defect), so a
    file run here is judged on the same bench; always in simulated time on the simtime bus (workers run
    side by side, and never on the TUI's real bus), with ``seed``.
    Module-level so the pool can pickle it; also callable in-process (no updates are then posted).
    """
    if _CANCELLED_BEFORE is not None and generation < _CANCELLED_BEFORE.value:
        return RunSummary(path, path.stem, CANCELLED, seed=seed)
    start_s = wall_time_s()
    try:
        scenario = load_scenario(path)
    except ConfigError as exc:
        return RunSummary(path, path.stem, ERROR, error=problems_text(exc), seed=seed)
    except Exception as exc:   # the app shows a verdict, never a worker's traceback
        return RunSummary(path, path.stem, ERROR, error=f"{type(exc).__name__}: {exc}", seed=seed)
    _post(LiveUpdate(path, 0.0, scenario.duration_s, run=run))
    stop = StopRequest()
    last_post_s = [start_s]

    def progress(done_s: float, total_s: float, wall_s: float) -> None:
        if _CLOSING is not None and _CLOSING.value:
            stop.request("the TUI closed")
        now = wall_time_s()
        if now - last_post_s[0] >= PROGRESS_EVERY_S:
            last_post_s[0] = now
            _post(LiveUpdate(path, done_s, scenario.duration_s, run=run))

    def live(now_s: float, results: list[CheckResult]) -> None:
        _post(LiveUpdate(path, now_s, scenario.duration_s, check_rows(results, now_s), run))

    try:
        result = run_scenario(scenario, simulated_options(options, seed), progress=progress, stop=stop, live=live,
                              live_every_s=live_every_s)
    except (ConfigError, NotRunnableError) as exc:
        return RunSummary(path, scenario.name, ERROR, error=problems_text(exc), seed=seed)
    except Exception as exc:
        return RunSummary(path, scenario.name, ERROR, error=f"{type(exc).__name__}: {exc}", seed=seed)
    report_path: Path | None = None
    note = ""
    if stop.requested:
        note = "no report: the run was stopped"
    else:
        try:
            report_path = write_html_report([result], out_dir / slug(scenario.name),
                                            title=f"hilbench: {scenario.name} (seed {seed})")
        except ConfigError as exc:   # no matplotlib: the verdicts stand without a page
            note = f"no report (no plots): {exc.reason}"
        except Exception as exc:
            note = f"no report: {type(exc).__name__}: {exc}"
    return RunSummary(path, scenario.name, result.verdict, check_rows(result.checks), result.duration_s,
                      wall_time_s() - start_s, failure_details(result), report_path,
                      result.error or result.interrupted, note, seed, tuple(result.warnings))


# -- the app side ---------------------------------------------------------------------------------
def _ensure_resource_tracker() -> None:
    """Start multiprocessing's resource tracker on a stderr that has a file descriptor.

    The tracker (started with the first queue or worker of the process) is handed
    ``sys.stderr.fileno()``; inside a Textual app ``sys.stderr`` is a capture whose
    ``fileno()`` is -1, and the start fails (``ValueError: bad value(s) in fds_to_keep``).
    Once started it serves the whole process, so this swaps the real stderr in only for the start.
    """
    try:
        usable = sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        usable = False
    from multiprocessing import resource_tracker

    if usable or sys.__stderr__ is None:
        resource_tracker.ensure_running()
        return
    captured = sys.stderr
    sys.stderr = sys.__stderr__
    try:
        resource_tracker.ensure_running()
    finally:
        sys.stderr = captured


def simulated_options(options: RunOptions | None, seed: int) -> RunOptions:
    """``options`` with ``seed``, on the simtime bus in simulated time, without a recording."""
    if options is None:
        return RunOptions(seed=seed)
    return replace(options, seed=seed, bus=BusConfig(), wall_time=False, record=None, reconnect=False)


class ScenarioRunner:
    """Runs scenario files in worker processes; :meth:`poll` hands back what happened since the last call.

    Nothing here blocks but :meth:`close` (bounded by :data:`CLOSE_GRACE_S`).  A file already
    queued or running is not queued again.  The pool and its processes start with the first
    :meth:`submit`.
    """

    def __init__(self, out_dir: Path, *, seed: int = 0, max_workers: int = 2,
                 live_every_s: float | None = None, options: RunOptions | None = None) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        self.out_dir = Path(out_dir)
        self.seed = seed
        self.max_workers = max_workers
        self.live_every_s = live_every_s
        #: How runs are made (see :func:`run_in_worker`): the TUI passes its bench's.
        self.options = options
        self._context = multiprocessing.get_context("spawn")
        _ensure_resource_tracker()
        self._updates = self._context.Queue()
        self._cancelled_before = self._context.Value("i", 0)
        self._closing = self._context.Value("i", 0)
        self._generation = 0
        self._executor: ProcessPoolExecutor | None = None
        self._futures: dict[Future[RunSummary], Path] = {}
        self._run_of: dict[Path, int] = {}    # the submission each active file runs as
        self._runs = 0
        self._started: set[Path] = set()
        self._closed = False

    # -- state -----------------------------------------------------------------------------
    @property
    def active(self) -> list[Path]:
        """Files queued or running, in the order submitted."""
        return list(self._futures.values())

    @property
    def running(self) -> int:
        """Runs under way (their worker posted that they started)."""
        return sum(1 for path in self._futures.values() if path in self._started)

    @property
    def pending(self) -> int:
        """Runs queued and not started yet."""
        return len(self._futures) - self.running

    # -- control ---------------------------------------------------------------------------
    def submit(self, paths: Sequence[Path]) -> list[Path]:
        """Queue ``paths`` (those not queued or running already); returns the ones queued.

        Raises:
            RuntimeError: the runner is closed.
        """
        if self._closed:
            raise RuntimeError("the scenario runner is closed")
        active = set(self._futures.values())
        queued = []
        for path in paths:
            path = Path(path)
            if path in active:
                continue
            self._runs += 1
            future = self._pool().submit(run_in_worker, path, self.seed, self.out_dir, generation=self._generation,
                                         run=self._runs, live_every_s=self.live_every_s, options=self.options)
            self._futures[future] = path
            self._run_of[path] = self._runs
            active.add(path)
            queued.append(path)
        return queued

    def cancel_all(self) -> list[Path]:
        """Cancel every run not started; runs under way go on.  Returns the files cancelled.

        Those the pool already handed to a worker (it keeps one in hand ahead) come back from
        :meth:`poll` as :data:`CANCELLED` summaries without running.
        """
        self._generation += 1
        with self._cancelled_before.get_lock():
            self._cancelled_before.value = self._generation
        cancelled = []
        for future, path in list(self._futures.items()):
            if path not in self._started and future.cancel():
                del self._futures[future]
                del self._run_of[path]
                cancelled.append(path)
        return cancelled

    def poll(self) -> list[LiveUpdate | RunSummary]:
        """Every update posted and every run finished since the last call, in order; never blocks.

        A file's summary comes after its updates.  A worker that died comes back as an ERROR summary.
        """
        out: list[LiveUpdate | RunSummary] = []
        while True:
            try:
                update = self._updates.get_nowait()
            except Empty:
                break
            if self._run_of.get(update.path) == update.run:
                self._started.add(update.path)
                out.append(update)
        for future, path in list(self._futures.items()):
            if not future.done():
                continue
            del self._futures[future]
            del self._run_of[path]
            self._started.discard(path)
            out.append(self._summary_of(future, path))
        return out

    def close(self) -> None:
        """Cancel what is queued, stop what runs (at its next report) and end the workers; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._closing.value = 1
        self.cancel_all()
        executor, self._executor = self._executor, None
        if executor is not None:
            processes = list(getattr(executor, "_processes", {}).values())   # to end any that outstay
            executor.shutdown(wait=False, cancel_futures=True)
            deadline = wall_time_s() + CLOSE_GRACE_S
            for process in processes:
                process.join(timeout=max(0.0, deadline - wall_time_s()))
                if process.is_alive():
                    process.terminate()
                    process.join(timeout=1.0)
        self._futures.clear()
        self._run_of.clear()
        self._started.clear()
        self._updates.close()
        self._updates.join_thread()

    def __enter__(self) -> ScenarioRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inside ----------------------------------------------------------------------------
    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            _ensure_resource_tracker()   # a worker's start needs it too (it may have died since)
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._executor = ProcessPoolExecutor(
                self.max_workers, mp_context=self._context, initializer=_worker_init,
                initargs=(self._updates, self._cancelled_before, self._closing, str(self.out_dir / WORKER_LOG)))
        return self._executor

    def _summary_of(self, future: Future[RunSummary], path: Path) -> RunSummary:
        if future.cancelled():
            return RunSummary(path, path.stem, CANCELLED, seed=self.seed)
        exc = future.exception(timeout=0)
        if exc is None:
            return future.result(timeout=0)
        if isinstance(exc, BrokenProcessPool):
            # A worker died (killed, out of memory): the next submit starts a new pool.
            self._executor = None
        return RunSummary(path, path.stem, ERROR, error=f"{type(exc).__name__}: {exc}", seed=self.seed)
