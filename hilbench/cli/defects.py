"""``hilbench defects [PATH ...]``: prove the suite's checks can fail, one seeded DUT defect at a time.

Every scenario runs once against the correct compute emulator (the baseline:
a scenario that fails there proves nothing) and once against each seeded
defect of :data:`hilbench.dut.compute.supervisor.DEFECTS`.  A defect is
*caught* by a scenario that passes on the correct DUT and has a check that
FAILS with the defect (a check that turns VACUOUS tested nothing, so it
catches nothing); the table says which scenarios and which of their checks.  A defect
no scenario catches *escapes*, and the command exits 1.

A scenario says which defects it is *built* to catch (``[scenario] catches =
[...]``): its checks watch the rule the defect switches off.  Each defect must
be caught by a scenario built for it, not only as a side effect of another
scenario's checks: a defect that no scenario built for it catches, or a
scenario that does not catch a defect it is built for, also exits 1.

Runs are independent, so they are spread over ``--jobs`` processes.
Scenarios marked ``long`` (the 8 h overnight session) are skipped unless
``--include-long`` is given.  Nothing is written unless ``--markdown FILE``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..clock import wall_time_s
from ..dut.compute.supervisor import DEFECTS
from ..errors import ConfigError
from ..scenarios import (
    RunOptions,
    Scenario,
    bundled_scenarios_dir,
    check_runnable,
    discover,
    load_scenario,
    run_scenario,
)
from .bus_options import BusOptions, add_bus_options, print_warnings
from .commands import COMMANDS
from .output_paths import check_writable, write_text

BASELINE = "(correct DUT)"


@dataclass(frozen=True)
class Outcome:
    """One scenario run against one DUT variant (``defect`` None: the correct DUT)."""

    scenario: str
    defect: str | None
    verdict: str                      # PASS, FAIL or ERROR
    failed_checks: tuple[str, ...] = ()
    error: str = ""
    wall_s: float = 0.0
    #: Checks that tested nothing (VACUOUS): they fail the scenario but catch no defect.
    vacuous_checks: tuple[str, ...] = ()


@dataclass
class DefectReport:
    """Which seeded defects the scenarios catch: every run's outcome, with and without each defect.

    A defect counts as caught only by scenarios that pass on the correct DUT (``defect`` None).
    """

    defects: tuple[str, ...]
    scenarios: tuple[str, ...]
    seed: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    #: scenario -> the defects it is built to catch (its ``catches``)
    built_for: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def own_scenarios(self, defect: str) -> list[str]:
        """The scenarios of this run built to catch ``defect``."""
        return [name for name in self.scenarios if defect in self.built_for.get(name, ())]

    def baseline(self, scenario: str) -> Outcome | None:
        """The run of ``scenario`` on the correct DUT, or None if it was not run."""
        return next((o for o in self.outcomes if o.scenario == scenario and o.defect is None), None)

    @property
    def broken_baseline(self) -> list[Outcome]:
        """Scenarios that do not pass on the correct DUT: their failures prove nothing."""
        return [o for o in self.outcomes if o.defect is None and o.verdict != "PASS"]

    def catches(self, defect: str) -> list[Outcome]:
        """The runs with ``defect`` in which a check FAILED, of scenarios that pass on the correct DUT."""
        good = {o.scenario for o in self.outcomes if o.defect is None and o.verdict == "PASS"}
        return [o for o in self.outcomes
                if o.defect == defect and o.verdict == "FAIL" and o.failed_checks and o.scenario in good]

    @property
    def escaped(self) -> list[str]:
        """Defects no scenario caught: the suite cannot tell that DUT from a correct one."""
        return [d for d in self.defects if not self.catches(d)]

    @property
    def missed(self) -> list[tuple[str, str]]:
        """(defect, scenario): a scenario built for the defect that did not catch it (its claim is wrong)."""
        return [(d, name) for d in self.defects for name in self.own_scenarios(d)
                if name not in {o.scenario for o in self.catches(d)}]

    @property
    def side_effect_only(self) -> list[str]:
        """Defects caught, but by no scenario built for them (no run scenario claims them, or all missed)."""
        return [d for d in self.defects if self.catches(d)
                and not {o.scenario for o in self.catches(d)} & set(self.own_scenarios(d))]

    @property
    def ok(self) -> bool:
        """Every defect caught by a scenario built for it, every claim kept, every baseline passing."""
        return not (self.escaped or self.missed or self.side_effect_only or self.broken_baseline)


def _run_one(job: tuple[Scenario, RunOptions]) -> Outcome:
    scenario, options = job
    defect = options.dut_defect
    start = wall_time_s()
    try:
        result = run_scenario(scenario, options)
    except Exception as exc:  # noqa: BLE001  (one broken run must not hide the others' evidence)
        return Outcome(scenario.name, defect, "ERROR", error=f"{type(exc).__name__}: {exc}",
                       wall_s=wall_time_s() - start)
    failed = tuple(c.check.name for c in result.failed_checks)
    vacuous = tuple(c.check.name for c in result.vacuous_checks)
    return Outcome(scenario.name, defect, result.verdict, failed, result.error or "", wall_time_s() - start,
                   vacuous)


def run_defects(scenarios: Sequence[Scenario], defects: Iterable[str] = tuple(DEFECTS), *, seed: int = 0,
                jobs: int = 1, progress=None, options: RunOptions | None = None) -> DefectReport:
    """Run every scenario on the correct DUT and with each defect; return who caught what.

    ``options`` gives the bus, DBCs and signal map of every run (seed and defect are set here).

    Raises:
        ConfigError: an unknown defect, or ``options`` leave the compute unit out (nothing to seed).
    """
    defects = tuple(defects)
    unknown = [d for d in defects if d not in DEFECTS]
    if unknown:
        raise ConfigError(None, "--defect", f"unknown defect(s) {', '.join(unknown)}; known: {', '.join(DEFECTS)}")
    base = options or RunOptions()
    if base.emulate is not None and "cu" not in base.emulate:
        raise ConfigError(None, "emulate", "seeded defects need the emulated compute unit; a real one is on the bus")
    report = DefectReport(defects, tuple(s.name for s in scenarios), seed,
                          built_for={s.name: s.catches for s in scenarios})
    work = [(s, replace(base, seed=seed, dut_defect=d)) for d in (None, *defects) for s in scenarios]
    if jobs <= 1 or len(work) <= 1:
        results: Iterable[Outcome] = map(_run_one, work)
        for outcome in results:
            report.outcomes.append(outcome)
            if progress:
                progress(outcome, len(report.outcomes), len(work))
        return report
    pool = ProcessPoolExecutor(max_workers=jobs)
    try:
        for outcome in pool.map(_run_one, work):
            report.outcomes.append(outcome)
            if progress:
                progress(outcome, len(report.outcomes), len(work))
    except BaseException:
        # Ctrl-C / SIGTERM: do not sit out the queued runs.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return report


def format_table(report: DefectReport) -> str:
    """Plain-text table: defect -> the scenarios built for it that caught it, then the others that did."""
    width = max([len(BASELINE), *(len(d) for d in report.defects)])
    lines = [f"{'defect':<{width}}  caught by (scenario: failing checks); * built for this defect"]
    for defect in report.defects:
        catches = report.catches(defect)
        own = set(report.own_scenarios(defect))
        rows = []
        if not catches:
            rows.append("ESCAPED: no scenario fails with it")
        elif defect in report.side_effect_only:
            rows.append("ONLY AS A SIDE EFFECT: no scenario built for it catches it "
                        f"(add catches = [\"{defect}\"] to the scenario written for its rule)")
        for o in sorted(catches, key=lambda o: o.scenario not in own):
            mark = "*" if o.scenario in own else " "
            rows.append(f"{mark} {o.scenario}: {'; '.join(o.failed_checks) or o.verdict}")
        for d, name in report.missed:
            if d == defect:
                rows.append(f"MISSED by {name}, built for it: no check of it fails with the defect")
        for i, row in enumerate(rows):
            lines.append(f"{defect if i == 0 else '':<{width}}  {row}")
    for o in report.broken_baseline:
        why = "; ".join([*o.failed_checks, *(f"{name} VACUOUS" for name in o.vacuous_checks)]) or o.error
        lines.append(f"{BASELINE:<{width}}  {o.scenario} {o.verdict} on the correct DUT ({why}): "
                     "its failures prove nothing")
    return "\n".join(lines)


def format_markdown(report: DefectReport, command: str) -> str:
    """``docs/defects.md``: what the table means, how to regenerate it (``command``), then one row per defect."""
    rows = ["| defect | what the DUT does wrong | built for it: scenario (failing checks) | also caught by |",
            "|---|---|---|---|"]

    def cell(outcomes: list[Outcome]) -> str:
        return "<br>".join(f"`{o.scenario}` ({'; '.join(o.failed_checks)})" for o in outcomes)

    for defect in report.defects:
        catches = report.catches(defect)
        own = set(report.own_scenarios(defect))
        built = cell([o for o in catches if o.scenario in own])
        missed = [name for d, name in report.missed if d == defect]
        if missed:
            built += ("<br>" if built else "") + "<br>".join(f"**MISSED** by `{name}`" for name in missed)
        others = cell([o for o in catches if o.scenario not in own]) or ("**ESCAPED**" if not catches else "")
        rows.append(f"| `{defect}` | {DEFECTS.get(defect, '')} | {built or '**NONE**'} | {others} |")
    text = [
        "# Seeded DUT defects and the scenarios that catch them", "",
        ("The compute emulator can be built with a seeded defect (`hilbench run --dut-defect NAME`): each one "
         "switches exactly one safety rule of its supervisor off (`hilbench/dut/compute/supervisor.py`, "
         "`DEFECTS`). A scenario *catches* a defect when it passes on the correct DUT and a check of it "
         "FAILS with the defect, which proves that its checks can fail and that they watch that rule (a check "
         "that turns VACUOUS with the defect tested nothing and catches nothing)."), "",
        ("Each defect has scenarios *built for* its rule: they say so in their file (`[scenario] catches = "
         "[\"ignore_reserve\"]`), and `hilbench defects` exits 1 unless each defect is caught by one of them "
         "and each of them catches every defect it claims. Other scenarios that fail with a defect are listed "
         "apart: they catch it as a side effect of checks written for another rule."), "",
        ("Regenerate this file with `hilbench defects --markdown docs/defects.md` (scenarios marked `long` "
         "are skipped unless `--include-long`). `tests/scenarios/test_defects.py` re-checks one scenario "
         "built for each defect on every test run."), "",
        f"Generated by `{command}` over {len(report.scenarios)} scenarios (seed {report.seed}).", "", *rows]
    if report.broken_baseline:
        text += ["", "Scenarios failing on the correct DUT (their failures prove nothing): "
                 + ", ".join(f"`{o.scenario}`" for o in report.broken_baseline)]
    return "\n".join(text) + "\n"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``hilbench defects`` and its options to the subcommands."""
    p = sub.add_parser(
        "defects", help=COMMANDS["defects"],
        description="Run scenarios (default: the bundled suite) on the correct compute emulator and on each "
                    "seeded defect; print defect -> catching scenarios (and checks). Exits 1 if any defect "
                    "escapes (no scenario fails with it) or a scenario fails on the correct DUT. Scenarios "
                    "marked 'long' (the 8 h overnight session) are skipped unless --include-long.")
    p.add_argument("paths", nargs="*", help="scenario files or folders (default: the bundled suite)")
    p.add_argument("--defect", action="append", choices=list(DEFECTS), metavar="NAME",
                   help=f"only this defect (repeatable; default all: {', '.join(DEFECTS)})")
    p.add_argument("--include-long", action="store_true", help="also run scenarios marked 'long' (slow)")
    p.add_argument("--markdown", type=Path, metavar="FILE", help="write the table as Markdown to FILE")
    p.add_argument("--seed", type=int, default=0, help="seed for every random source (default 0)")
    p.add_argument("--jobs", "-j", type=int, default=None,
                   help="parallel processes (default: number of CPUs; 1 on a bus other than simtime)")
    add_bus_options(p, dut=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the scenarios on the correct DUT and with each defect, and print which catch which.

    Returns 0 when :attr:`DefectReport.ok`, else 1: a defect escapes or is caught only as a side
    effect, a scenario misses a defect it claims, or a scenario fails on the correct DUT.

    Raises:
        ConfigError: bad options or scenarios, or none left to run (all ``long``) -- before any run.
    """
    bus = BusOptions.from_args(args)
    if args.markdown is not None:
        check_writable(args.markdown, "--markdown")
    jobs = max(1, bus.jobs(args.jobs, default=os.cpu_count() or 1))
    files = discover(args.paths or [bundled_scenarios_dir()])
    scenarios = [load_scenario(f) for f in files]   # refuse bad input before running anything
    skipped = [s.name for s in scenarios if "long" in s.markers and not args.include_long]
    scenarios = [s for s in scenarios if s.name not in skipped]
    if not scenarios:
        raise ConfigError(None, "paths", "no scenario left to run (all are marked 'long'; add --include-long)")
    defects = tuple(args.defect or DEFECTS)
    print_warnings([*bus.notices, *bus.load().warnings])   # refuses a bad DBC or map before the first run
    check_runnable(scenarios, bus.run_options())   # and a scenario the bus cannot carry out
    if skipped:
        print(f"skipping long scenario(s): {', '.join(skipped)} (use --include-long)")
    total_runs = len(scenarios) * (len(defects) + 1)
    print(f"{len(scenarios)} scenarios x ({len(defects)} defects + correct DUT) = {total_runs} runs, "
          f"{jobs} job(s)")
    start = wall_time_s()

    def progress(outcome: Outcome, done: int, total: int) -> None:
        if sys.stdout.isatty():
            print(f"\r  {done}/{total} runs", end="", flush=True)

    report = run_defects(scenarios, defects, seed=args.seed, jobs=jobs, progress=progress, options=bus.run_options())
    if sys.stdout.isatty():
        print()
    print(format_table(report))
    escaped = report.escaped
    broken = report.broken_baseline
    side = report.side_effect_only
    missed = report.missed
    print(f"\n{len(defects) - len(escaped)}/{len(defects)} defects caught"
          + (f"; ESCAPED: {', '.join(escaped)}" if escaped else "")
          + (f"; caught only as a side effect: {', '.join(side)}" if side else "")
          + (f"; MISSED by the scenario built for it: {', '.join(f'{d} ({n})' for d, n in missed)}" if missed else "")
          + (f"; {len(broken)} scenario(s) fail on the correct DUT" if broken else "")
          + f"  ({wall_time_s() - start:.1f} s)")
    if args.markdown is not None:
        command = " ".join(["hilbench defects", *args.paths, *(["--include-long"] if args.include_long else []),
                            *bus.as_args()])
        write_text(args.markdown, "--markdown", format_markdown(report, command))
        print(f"wrote {args.markdown}")
    return 0 if report.ok else 1
