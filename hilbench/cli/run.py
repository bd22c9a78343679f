"""``hilbench run [PATH ...]``: run scenarios (the bundled suite by default) and print verdicts.

With ``--seeds 0-19`` every scenario runs once per seed (all runs spread over
the ``-j`` worker pool) and a table says, per scenario, on how many seeds it
passed: a verdict that depends on the noise seed is a defect of the scenario
or of the DUT, and the command exits 1 if any seed fails any scenario.

Ctrl-C or SIGTERM ends the run between two tasks of the bench (see
:mod:`.interrupts`): the scenarios that ran are shown with their verdicts, the
interrupted one with partial verdicts over the time it ran, every recording
closed with every frame of the bus; the command exits 130.
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.pool
import os
import re
import signal
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

from ..bus.recorder import FLUSH_INTERVAL_S, count_frames, primary_log_path
from ..clock import StopRequest, wall_time_s
from ..errors import ConfigError
from ..scenarios import (
    RunOptions,
    Scenario,
    ScenarioResult,
    bundled_scenarios_dir,
    check_runnable,
    discover,
    load_scenario,
    run_scenario,
)
from ..scenarios.report import checks_table, economics_line, failure_details, seeds_table
from ..scenarios.runner import LOST_BUS
from ..scenarios.seeds import parse_seeds as seeds_from_text
from .bus_options import BusOptions, add_bus_options, print_warnings
from .commands import COMMANDS
from .interrupts import Interrupts, active_stop
from .output_paths import check_writable
from .progress import ProgressBar


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``hilbench run`` and its options to the subcommands."""
    p = sub.add_parser("run", help=COMMANDS["run"],
                       description="Run scenario files or folders (default: the bundled suite) on virtual CAN "
                                   "in simulated time, or on a real bus with --interface.",
                       epilog="Exit codes: 0 every scenario passed, 1 a verdict failed, 2 bad input, 130 stopped by "
                              "Ctrl-C, SIGTERM or SIGHUP (between two bench tasks: the verdicts so far, partial for "
                              "the scenario running, and every recording closed with every frame of the bus).")
    p.add_argument("paths", nargs="*", help="scenario files or folders")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=0, help="seed for every random source (default 0)")
    seeds.add_argument("--seeds", type=parse_seeds, metavar="LIST",
                       help="run every scenario once per seed, e.g. 0-19 or 0,3,7 or 0-3,9; prints per scenario "
                            "how many seeds passed and exits 1 if any seed fails any scenario")
    p.add_argument("--skip-long", action="store_true",
                   help="skip scenarios marked 'long' (the 8 h overnight session)")
    p.add_argument("--record", type=Path, metavar="FILE",
                   help="record the bus (.blf, .asc, .log, .csv, .trc) with python-can's writers; a recording in "
                        "any format but candump .log gets a candump .log primary beside it (x.blf -> x.log), flushed "
                        f"every {FLUSH_INTERVAL_S * 1000:g} ms of bench time, so a killed run loses at most that; "
                        "on Ctrl-C, SIGTERM or SIGHUP every file is closed with every frame (docs/recordings.md). With "
                        "several scenarios, the scenario name is added before the suffix")
    p.add_argument("--dut-defect", metavar="NAME", help="run against the compute emulator with a seeded defect")
    p.add_argument("--reconnect", action="store_true",
                   help="on a real bus: when the adapter or daemon is lost, open it again and carry on once it is "
                        "back (the outage is reported with the verdicts); without it a lost bus ends the run there")
    p.add_argument("--real", action="append", default=[], choices=["bms", "vcu", "obc", "cu"], metavar="NODE",
                   help="a real ECU provides this node's frames, so the bench does not emulate it "
                        "(bms, vcu, obc, cu; repeatable)")
    p.add_argument("-j", "--jobs", type=int, default=0, metavar="N",
                   help="run N scenarios at once, each in its own process (default 0: one per CPU; 1: one "
                        "after another); verdicts, output and recordings are the same either way")
    p.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report (one testcase per scenario)")
    p.add_argument("--report", type=Path, metavar="DIR",
                   help="write an HTML report (index.html and one PNG of traces per scenario) into DIR")
    add_bus_options(p)
    p.set_defaults(func=run)


#: At most this many runs (scenarios x seeds) in one ``--seeds`` run: a typo such as 0-19999 is refused.


def parse_seeds(text: str) -> tuple[int, ...]:
    """``--seeds`` for argparse: :func:`hilbench.scenarios.seeds.parse_seeds`, its reason as a usage error.

    Raises:
        argparse.ArgumentTypeError: not a seed list (see the parser).
    """
    try:
        return seeds_from_text(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _record_path(base: Path | None, name: str, index: int, many: bool, seed: int | None = None) -> Path | None:
    """One recording per scenario: ``run-03-name.log`` (numbered, so equal names never overwrite);
    across seeds ``run-s7-03-name.log``."""
    if base is None:
        return None
    if not many:
        return base
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "scenario"
    tag = f"-s{seed}" if seed is not None else ""
    return base.with_name(f"{base.stem}{tag}-{index:02d}-{safe}{base.suffix}")


#: Exit code of a run ended by SIGINT or SIGTERM (128 + SIGINT, as shells report Ctrl-C).
EXIT_INTERRUPTED = 130


def run(args: argparse.Namespace) -> int:
    """Signals only set a flag from here on; see :class:`.interrupts.Interrupts`."""
    with Interrupts() as interrupts:
        return _run(args, interrupts)


def _run(args: argparse.Namespace, interrupts: Interrupts) -> int:
    bus = BusOptions.from_args(args)
    dut_defect = bus.dut_defect(args.dut_defect, real=args.real)
    paths = args.paths or [bundled_scenarios_dir()]
    files = discover(paths)
    scenarios = [load_scenario(f) for f in files]   # refuse bad input before running anything
    if args.skip_long:
        skipped = [s.name for s in scenarios if "long" in s.markers]
        scenarios = [s for s in scenarios if "long" not in s.markers]
        if not scenarios:
            raise ConfigError(None, "paths", "no scenario left to run (all are marked 'long'; drop --skip-long)")
        if skipped:
            print(f"skipping long scenario(s): {', '.join(skipped)}")
    seeds = args.seeds if args.seeds is not None else (args.seed,)
    many_seeds = args.seeds is not None
    if args.record is not None and args.record.suffix.lower() not in (".blf", ".asc", ".log", ".csv", ".trc", ".mf4"):
        raise ConfigError(args.record, None, "unknown recording format; use .blf, .asc or .log")
    printed: set[str] = set()
    # Refuses a bad DBC or map before anything runs.
    print_warnings([*bus.notices, *bus.load(real=args.real).warnings], already=printed)
    if args.junit is not None:
        check_writable(args.junit, "--junit")
    html = None
    if args.report is not None:
        from ..scenarios.report import HtmlReport

        html = HtmlReport(args.report)   # refuses an unwritable folder before anything runs
    if args.jobs < 0:
        raise ConfigError(None, "--jobs", f"must be >= 0, got {args.jobs}")
    jobs = bus.jobs(args.jobs, default=_usable_cpus())
    plans = []
    for seed in seeds:
        for index, scenario in enumerate(scenarios, start=1):
            record = _record_path(args.record, scenario.name, index, len(scenarios) * len(seeds) > 1,
                                  seed if many_seeds else None)
            # Traces are kept only for the HTML report's plots (an overnight's are large to ship back from a worker).
            plans.append((scenario, bus.run_options(real=args.real, seed=seed, record=record, dut_defect=dut_defect,
                                                    keep_traces=html is not None, reconnect=args.reconnect)))
    # Every scenario of the run is checked against the bus before the first one starts: a step
    # that needs an unmapped role or a node that is not emulated refuses the run, listing all.
    if plans:
        check_runnable(scenarios, plans[0][1])
    if interrupts.requested:
        print(f"interrupted by {interrupts.reason} before the first scenario started: nothing ran, nothing recorded",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if many_seeds:
        print(f"{len(scenarios)} scenario(s) x {len(seeds)} seed(s) = {len(plans)} runs, "
              f"{min(jobs, len(plans))} job(s)")
    if args.record is not None:
        first = plans[0][1].record
        assert first is not None   # --record gives every plan a recording
        more = f" and {len(plans) - 1} more like it" if len(plans) > 1 else ""
        print(f"recording to {first}{more}, candump primary {primary_log_path(first)} flushed every "
              f"{FLUSH_INTERVAL_S * 1000:g} ms")
    sys.stdout.flush()   # what a supervisor (or a test) reads to know the run has started
    results = []
    for result in _run_all(plans, jobs):
        assert result.options is not None   # run_scenario's results carry the options they ran with
        results.append(result)
        # Across seeds only the runs that did not pass are shown in full; the table below says the rest.
        if not many_seeds or not result.passed:
            _print_result(result, result.record, seed=result.options.seed if many_seeds else None)
        # What this run warned about beyond the load warnings above (a value clipped to a DBC range).
        print_warnings(result.warnings, already=printed)
        if html is not None:
            html.add(result, name=f"{result.scenario.name} [seed {result.options.seed}]" if many_seeds else None)
        result.traces = None   # plotted; a suite's traces need not all stay in memory
        if result.interrupted and result.interrupted.startswith(LOST_BUS):
            # The next scenario could not open the bus either: say so, and report what ran.
            not_run = len(plans) - len(results)
            if not_run:
                print(f"\nthe bus is lost: {not_run} scenario(s) not run")
            break
    if interrupts.requested:
        return _interrupted_summary(results, len(plans), interrupts.reason, args)
    failed = [r for r in results if not r.passed]
    if many_seeds:
        print(f"\n{seeds_table(results)}")
    print(f"\n{len(results) - len(failed)} passed, {len(failed)} failed"
          + (f" ({len(results)} runs: {len(scenarios)} scenario(s) x {len(seeds)} seed(s))" if many_seeds else ""))
    if args.junit is not None:
        from ..scenarios.report import write_junit

        print(f"JUnit report: {write_junit(results, args.junit)}")
    if html is not None:
        print(f"HTML report: {html.write()}")
    return 1 if failed else 0


def _interrupted_summary(results: list[ScenarioResult], planned: int, reason: str | None,
                         args: argparse.Namespace) -> int:
    """The last lines of a run a signal ended: what ran, what did not, and the exit code 130."""
    cut = [r for r in results if r.interrupted]
    whole = [r for r in results if not r.interrupted]
    failed = [r for r in whole if not r.passed]
    not_run = planned - len(results)
    print(f"\ninterrupted by {reason}: {len(whole) - len(failed)} passed, {len(failed)} failed, "
          f"{len(cut)} interrupted (partial verdicts), {not_run} not run")
    for flag, what in ((args.junit, "JUnit"), (args.report, "HTML")):
        if flag is not None:
            print(f"{what} report not written: the run was interrupted")
    sys.stdout.flush()
    return EXIT_INTERRUPTED


def _run_all(plans: list[tuple[Scenario, RunOptions]], jobs: int) -> Iterator[ScenarioResult]:
    """Results in the order given; with ``jobs`` > 1 the scenarios run in worker processes.

    Each scenario runs on its own simulated bus and clock, so running several at
    once changes nothing but the wall time.  Once a signal asks to stop
    (:func:`.interrupts.active_stop`), the scenario running ends between two tasks
    (its partial result still comes) and no other starts.
    """
    stop = active_stop()
    if jobs <= 1 or len(plans) <= 1:
        for scenario, options in plans:
            if stop.requested:
                return
            bar = ProgressBar(scenario.name)
            try:
                yield run_scenario(scenario, options, progress=bar, stop=stop)
            finally:
                bar.close()
        return
    total_s = sum(scenario.duration_s for scenario, _ in plans)
    done_s = multiprocessing.RawArray("d", len(plans))   # each worker writes its scenario's progress
    stop_all = multiprocessing.RawValue("i", 0)          # the parent's stop, as a signal number, for every worker
    workers = min(jobs, len(plans))
    bar = ProgressBar(f"{len(plans)} scenarios, {workers} jobs")
    start = wall_time_s()
    deadline = None
    # Pool rather than ProcessPoolExecutor: leaving the block early (an error) terminates the
    # workers at once; a worker running a scenario then closes its bench (and recording) first.
    with multiprocessing.Pool(workers, initializer=_worker_init, initargs=(done_s, stop_all)) as pool:
        # Longest first, so a long scenario does not start last and hold up the end;
        # results still come out in the order given.
        longest_first = sorted(range(len(plans)), key=lambda i: -plans[i][0].duration_s)
        pending = {i: pool.apply_async(_run_in_worker, (i, *plans[i])) for i in longest_first}
        try:
            for index in range(len(plans)):
                result = pending[index]
                while not result.ready():
                    if stop.requested and deadline is None:
                        # Every worker ends its scenario at its next progress report (a minute of
                        # simulated time) and starts no other; their partial results still come.
                        stop_all.value = _signal_number(stop.reason)
                        deadline = wall_time_s() + WORKER_GRACE_S
                    if deadline is not None and wall_time_s() > deadline:
                        break   # a worker the signal reached too closed its bench and left without a result
                    result.wait(0.25)
                    bar(sum(done_s), total_s, wall_time_s() - start)
                else:
                    bar.close()
                    outcome = result.get()   # a worker's exception is raised here
                    if outcome is not None:  # None: not started, the run was stopped first
                        yield outcome
        finally:
            bar.close()
            _terminate(pool)


#: After a stop, how long the parent waits for the workers' partial results (wall seconds).
WORKER_GRACE_S = 30.0
#: How long a worker may outlive ``pool.terminate()``'s SIGTERM before it is killed (wall seconds).
WORKER_KILL_AFTER_S = 10.0


def _terminate(pool: multiprocessing.pool.Pool) -> None:
    """``pool.terminate()`` and ``join()``, with every worker still alive ``WORKER_KILL_AFTER_S``
    after the SIGTERM killed.

    An idle worker blocked on the task queue's lock (which ``terminate`` holds) was seen to
    outlive its SIGTERM, in about one parallel run in ten stopped on a loaded 2-core machine, and
    ``terminate`` then waited for it for ever: a run stopped by CI hung instead of ending with
    its verdicts.  By now every result has been collected (or the grace has passed), so a
    worker left has nothing of a run's to lose: a running scenario's bench closes its recording
    on the SIGTERM, within the delay.
    """
    killer = threading.Timer(WORKER_KILL_AFTER_S, _kill_children)
    killer.daemon = True
    killer.start()
    try:
        pool.terminate()
        pool.join()
    finally:
        killer.cancel()


def _kill_children() -> None:
    for child in multiprocessing.active_children():
        child.kill()

_PROGRESS = None   # the worker's view of the parent's progress array
_STOP_ALL = None   # the worker's view of the parent's stop (0, or the signal's number)
_RUNNING: StopRequest | None = None   # the stop request of the scenario this worker runs
_LEAVE = False     # SIGTERM came to this worker: leave once the bench is closed


def _signal_number(name: str | None) -> int:
    try:
        return int(signal.Signals[name or "SIGTERM"])
    except KeyError:
        return int(signal.SIGTERM)


def _usable_cpus() -> int:
    """CPUs this process may run on (a container's or CI job's limit, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _worker_init(done_s, stop_all) -> None:
    global _PROGRESS, _STOP_ALL
    _PROGRESS = done_s
    _STOP_ALL = stop_all
    # Ctrl-C (and a closed terminal's SIGHUP) reach the whole process group: the parent decides
    # and tells the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_sigterm)


def _worker_sigterm(signum: int, frame: object) -> None:
    """SIGTERM to a worker (``pool.terminate()``, or a signal to the whole process group): a running
    scenario ends between two tasks and its bench closes its recording, then the worker leaves
    (nothing is waiting for its result); an idle worker leaves at once."""
    global _LEAVE
    running = _RUNNING
    if running is None:
        os._exit(128 + signum)
    _LEAVE = True
    running.request(signal.Signals(signum).name)


def _run_in_worker(index: int, scenario: Scenario, options: RunOptions) -> ScenarioResult | None:
    """One scenario in a worker process, writing its simulated progress for the parent's bar.

    Returns None without running when the parent has stopped the run; a stop that comes
    while it runs ends it between two tasks, with a partial result.
    """
    global _RUNNING
    if _STOP_ALL is not None and _STOP_ALL.value:
        return None
    stop = StopRequest()

    def progress(done: float, total_s: float, wall_s: float) -> None:
        if _PROGRESS is not None:
            _PROGRESS[index] = done
        if _STOP_ALL is not None and _STOP_ALL.value:
            stop.request(signal.Signals(_STOP_ALL.value).name)

    _RUNNING = stop
    try:
        result = run_scenario(scenario, options, progress=progress, stop=stop)
    finally:
        _RUNNING = None
        if _LEAVE:
            os._exit(EXIT_INTERRUPTED)   # the bench is closed; nothing is waiting for this result
    if _PROGRESS is not None:
        _PROGRESS[index] = scenario.duration_s
    return result


def _print_result(result: ScenarioResult, record: Path | None, *, seed: int | None = None) -> None:
    s = result.scenario
    label = f"{s.name}  seed {seed}" if seed is not None else s.name
    if result.interrupted:
        print(f"\n{label}  [{result.verdict}]  by {result.interrupted} at {result.duration_s:.1f} s of "
              f"{s.duration_s:g} s simulated, {result.frames} frames on the bus")
        print(f"  partial verdicts: the checks were judged over 0-{result.duration_s:.1f} s only")
    else:
        print(f"\n{label}  [{result.verdict}]  {s.duration_s / 3600:.2f} h simulated, {result.frames} frames")
    print(checks_table(result))
    details = failure_details(result)
    if details:
        print(textwrap.indent(details, "  "))
    print(f"  {economics_line(result)}")
    if result.model is not None:
        print(f"  model {result.model}")
    if record is not None:
        files = dict.fromkeys([record, primary_log_path(record)])
        print("  recording " + "; ".join(f"{path}: {count_frames(path)} frames" for path in files if path.is_file()))
    sys.stdout.flush()
