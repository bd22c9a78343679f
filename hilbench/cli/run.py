"""``hilbench run [PATH ...]``: run scenarios (the bundled suite by default) and print verdicts.

With ``--seeds 0-19`` every scenario runs once per seed (all runs spread over
the ``-j`` worker pool) and a table says, per scenario, on how many seeds it
passed: a verdict that depends on the noise seed is a defect of the scenario
or of the DUT, and the command exits 1 if any seed fails any scenario.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import signal
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

from ..bus.recorder import count_frames
from ..clock import wall_time_s
from ..errors import ConfigError
from ..scenarios import (RunOptions, Scenario, ScenarioResult, bundled_scenarios_dir, check_runnable, discover,
                         load_scenario, run_scenario)
from ..scenarios.report import checks_table, economics_line, failure_details, seeds_table
from .bus_options import BusOptions, add_bus_options, print_warnings
from .interrupts import sigterm_to_interrupt
from .progress import ProgressBar


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run scenarios on the bench (default: the bundled suite)",
                       description="Run scenario files or folders (default: the bundled suite) on virtual CAN "
                                   "in simulated time, or on a real bus with --interface.")
    p.add_argument("paths", nargs="*", help="scenario files or folders")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=0, help="seed for every random source (default 0)")
    seeds.add_argument("--seeds", type=parse_seeds, metavar="LIST",
                       help="run every scenario once per seed, e.g. 0-19 or 0,3,7 or 0-3,9; prints per scenario "
                            "how many seeds passed and exits 1 if any seed fails any scenario")
    p.add_argument("--skip-long", action="store_true",
                   help="skip scenarios marked 'long' (the 8 h overnight session)")
    p.add_argument("--record", type=Path, help="record the bus (.blf, .asc, .log); with several scenarios, "
                                               "the scenario name is added before the suffix")
    p.add_argument("--dut-defect", metavar="NAME", help="run against the compute emulator with a seeded defect")
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
MAX_SEEDS = 1000


def parse_seeds(text: str) -> tuple[int, ...]:
    """Seeds from ``0-19``, ``0,3,7`` or a mix (``0-3,9``), in the order given, each once.

    Raises:
        argparse.ArgumentTypeError: not such a list, a negative seed, a range that runs backwards,
            or more than :data:`MAX_SEEDS` seeds.
    """
    seeds: list[int] = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if match is None:
            raise argparse.ArgumentTypeError(f"expected seeds such as 0-19, 0,3,7 or 0-3,9; got {text!r}")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise argparse.ArgumentTypeError(f"the range {part.strip()} runs backwards; write {high}-{low}")
        if high - low + 1 > MAX_SEEDS:
            raise argparse.ArgumentTypeError(f"{part.strip()} is {high - low + 1} seeds; at most {MAX_SEEDS}")
        seeds.extend(n for n in range(low, high + 1) if n not in seeds)
        if len(seeds) > MAX_SEEDS:
            raise argparse.ArgumentTypeError(f"more than {MAX_SEEDS} seeds")
    return tuple(seeds)


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


def run(args: argparse.Namespace) -> int:
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
    print_warnings(bus.load(real=args.real).warnings, already=printed)   # refuses a bad DBC or map first
    if args.junit is not None and args.junit.is_dir():
        raise ConfigError(args.junit, None, "--junit names a folder; give a file such as results.xml")
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
                                                    keep_traces=html is not None)))
    # Every scenario of the run is checked against the bus before the first one starts: a step
    # that needs an unmapped role or a node that is not emulated refuses the run, listing all.
    if plans:
        check_runnable(scenarios, plans[0][1])
    if many_seeds:
        print(f"{len(scenarios)} scenario(s) x {len(seeds)} seed(s) = {len(plans)} runs, {min(jobs, len(plans))} job(s)")
    results = []
    for result in _run_all(plans, jobs):
        results.append(result)
        # Across seeds only the runs that did not pass are shown in full; the table below says the rest.
        if not many_seeds or not result.passed:
            _print_result(result, result.record, seed=result.options.seed if many_seeds else None)
        # What this run warned about beyond the load warnings above (a value clipped to a DBC range).
        print_warnings(result.warnings, already=printed)
        if html is not None:
            html.add(result, name=f"{result.scenario.name} [seed {result.options.seed}]" if many_seeds else None)
        result.traces = None   # plotted; a suite's traces need not all stay in memory
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


def _run_all(plans: list[tuple[Scenario, RunOptions]], jobs: int) -> Iterator[ScenarioResult]:
    """Results in the order given; with ``jobs`` > 1 the scenarios run in worker processes.

    Each scenario runs on its own simulated bus and clock, so running several at
    once changes nothing but the wall time.
    """
    if jobs <= 1 or len(plans) <= 1:
        for scenario, options in plans:
            bar = ProgressBar(scenario.name)
            try:
                yield run_scenario(scenario, options, progress=bar)
            finally:
                bar.close()
        return
    total_s = sum(scenario.duration_s for scenario, _ in plans)
    done_s = multiprocessing.RawArray("d", len(plans))   # each worker writes its scenario's progress
    workers = min(jobs, len(plans))
    bar = ProgressBar(f"{len(plans)} scenarios, {workers} jobs")
    start = wall_time_s()
    # Pool rather than ProcessPoolExecutor: leaving the block early (an error, Ctrl-C,
    # SIGTERM to this process alone) terminates the workers at once, and a worker running a
    # scenario turns that SIGTERM into KeyboardInterrupt, so its recording is flushed.
    with multiprocessing.Pool(workers, initializer=_worker_init, initargs=(done_s,)) as pool:
        # Longest first, so a long scenario does not start last and hold up the end;
        # results still come out in the order given.
        longest_first = sorted(range(len(plans)), key=lambda i: -plans[i][0].duration_s)
        pending = {i: pool.apply_async(_run_in_worker, (i, *plans[i])) for i in longest_first}
        try:
            for index in range(len(plans)):
                result = pending[index]
                while not result.ready():
                    result.wait(0.25)
                    bar(sum(done_s), total_s, wall_time_s() - start)
                bar.close()
                yield result.get()   # a worker's exception is raised here
        finally:
            bar.close()
            pool.terminate()
            pool.join()


_PROGRESS = None   # the worker's view of the parent's progress array


def _usable_cpus() -> int:
    """CPUs this process may run on (a container's or CI job's limit, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _worker_init(done_s) -> None:
    global _PROGRESS
    _PROGRESS = done_s


def _run_in_worker(index: int, scenario: Scenario, options: RunOptions) -> ScenarioResult:
    """One scenario in a worker process, writing its simulated progress for the parent's bar.

    While it runs, SIGTERM (the pool stopping early) unwinds like Ctrl-C, so the bench is
    closed and the recording flushed; then the worker leaves quietly.  An idle worker
    simply ends.
    """
    def progress(done: float, total_s: float, wall_s: float) -> None:
        if _PROGRESS is not None:
            _PROGRESS[index] = done

    signal.signal(signal.SIGTERM, sigterm_to_interrupt)
    try:
        result = run_scenario(scenario, options, progress=progress)
    except KeyboardInterrupt:
        os._exit(130)   # the bench is closed; nothing is waiting for this result
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _PROGRESS is not None:
        _PROGRESS[index] = scenario.duration_s
    return result


def _print_result(result: ScenarioResult, record: Path | None, *, seed: int | None = None) -> None:
    s = result.scenario
    label = f"{s.name}  seed {seed}" if seed is not None else s.name
    print(f"\n{label}  [{result.verdict}]  {s.duration_s / 3600:.2f} h simulated, {result.frames} frames")
    print(checks_table(result))
    details = failure_details(result)
    if details:
        print(textwrap.indent(details, "  "))
    print(f"  {economics_line(result)}")
    if record is not None:
        print(f"  recording {record}: {count_frames(record)} frames")
    sys.stdout.flush()
