"""``hilbench fuzz SCENARIO``: search a scenario's declared ``[fuzz]`` ranges for a violation.

Exit status: 0 no violation found (the lowest robustness is reported), 1 a
violation was found and written as a scenario file, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError
from ..scenarios.fuzz import (
    DEFAULT_MAX_EXAMPLES,
    DEFAULT_SHRINK_RUNS,
    FuzzOutcome,
    FuzzRun,
    fuzz,
    load_fuzz_scenario,
    reproduce_command,
    write_counterexample,
    write_scenario_run,
)
from .bus_options import BusOptions, add_bus_options, print_warnings
from .commands import COMMANDS


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``hilbench fuzz`` and its options to the subcommands."""
    p = sub.add_parser("fuzz", help=COMMANDS["fuzz"],
                       description="Vary what the scenario's [fuzz] table declares (initial conditions, step times, "
                                   "fault magnitudes) with hypothesis, steer toward low robustness, shrink the first "
                                   "violation and write it out as a scenario file that reproduces it.")
    p.add_argument("scenario", type=Path, help="a scenario file with a [fuzz] table")
    p.add_argument("--dut-defect", help="run against the compute emulator with a seeded defect")
    p.add_argument("--max-examples", type=int, default=DEFAULT_MAX_EXAMPLES,
                   help=f"scenarios to run in the search (default {DEFAULT_MAX_EXAMPLES})")
    p.add_argument("--shrink-runs", type=int, default=DEFAULT_SHRINK_RUNS,
                   help=f"bench runs at most spent shrinking a violation (default {DEFAULT_SHRINK_RUNS})")
    p.add_argument("--seed", type=int, default=0, help="seed of the search and of every run (default 0)")
    p.add_argument("--out", type=Path, default=Path("."),
                   help="folder for the counterexample file (default: the current folder)")
    p.add_argument("--no-corners", action="store_true",
                   help="do not start with every range at its low and then its high end")
    p.add_argument("--keep-lowest", action="store_true",
                   help="with no violation, write the run closest to one as <scenario>-lowest.toml")
    p.add_argument("-q", "--quiet", action="store_true", help="no line per run")
    add_bus_options(p)
    p.set_defaults(func=run)


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _print_run(run: FuzzRun) -> None:
    values = "  ".join(f"{k}={_fmt(v)}" for k, v in run.values.items())
    verdict = "FAIL " + "; ".join(c.check.name for c in run.failed) if run.failed else "pass"
    phase = "shrink" if run.shrinking else "search"
    print(f"  {phase} #{run.number:<3} {values}  -> {verdict}")
    sys.stdout.flush()


def _summary(outcome: FuzzOutcome) -> None:
    print(f"\n{outcome.scenario.name}: {outcome.examples} example(s) searched, {outcome.shrink_runs} shrink run(s), "
          f"{outcome.elapsed_s:.1f} s (DUT defect: {outcome.dut_defect or 'none'}, seed {outcome.seed})")
    if outcome.lowest:
        width = max(len(name) for name in outcome.lowest)
        print(f"  {'check':<{width}}  lowest robustness")
        for name, (rob, unit) in sorted(outcome.lowest.items(), key=lambda kv: kv[0]):
            print(f"  {name:<{width}}  {rob:+.4g} {unit}".rstrip())


def run(args: argparse.Namespace) -> int:
    """Search the scenario's ``[fuzz]`` ranges; 0 when no violation is found, 1 when one is (written out).

    Raises:
        ConfigError: a bad option, scenario, DBC or signal map (the CLI exits 2).
    """
    if args.max_examples < 1:
        raise ConfigError(None, "--max-examples", f"must be >= 1, got {args.max_examples}")
    if args.shrink_runs < 0:
        raise ConfigError(None, "--shrink-runs", f"must be >= 0, got {args.shrink_runs}")
    bus = BusOptions.from_args(args)
    dut_defect = bus.dut_defect(args.dut_defect)
    scenario, space = load_fuzz_scenario(args.scenario)
    print_warnings([*bus.notices, *bus.load().warnings])   # refuses a bad DBC or map before the first run
    print(f"fuzzing {scenario.name} ({scenario.duration_s:g} s simulated per run) over "
          + ", ".join(f"{p.path} {p.describe()}" for p in space.params))
    sys.stdout.flush()
    outcome = fuzz(scenario, space, dut_defect=dut_defect, max_examples=args.max_examples, seed=args.seed,
                   shrink_runs=args.shrink_runs, options=bus.run_options(), with_corners=not args.no_corners,
                   on_run=None if args.quiet else _print_run)
    _summary(outcome)
    if outcome.counterexample is None:
        closest = outcome.closest()
        print("no violation found")
        if closest is not None:
            values = ", ".join(f"{k} = {_fmt(v)}" for k, v in closest.values.items())
            print(f"closest call: run #{closest.number} ({values})")
            if args.keep_lowest:
                path = write_scenario_run(outcome, closest, args.out, "lowest")
                print(f"wrote {path}")
        return 0
    ce = outcome.counterexample
    path = write_counterexample(outcome, args.out)
    print("violation found:")
    for c in ce.failed:
        rob = "" if c.robustness is None else f" (robustness {c.robustness:+.4g} {c.check.unit})".replace(" )", ")")
        print(f"  FAIL  {c.check.name}{rob}: {c.detail}")
    print("  with " + ", ".join(f"{k} = {_fmt(v)}" for k, v in ce.values.items()))
    print(f"wrote {path}")
    print(f"reproduce: {' '.join([reproduce_command(path, outcome.dut_defect, outcome.seed), *bus.as_args()])}")
    return 1
