"""``hilbench tui [SCENARIO]``: the Textual front end over a running bench.

Textual and the ``tui`` package are imported only when the subcommand runs,
so ``hilbench run`` and ``import hilbench`` never load them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError
from .bus_options import BusOptions, add_bus_options, print_warnings
from .commands import COMMANDS


def _speed(text: str) -> float | None:
    if text.strip().lower() == "max":
        return None
    value = float(text.strip().lower().rstrip("x"))
    choices = (1.0, 10.0, 60.0, 600.0)
    if value not in choices:
        raise argparse.ArgumentTypeError(f"speed must be one of 1, 10, 60, 600 or max, got {text!r}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``hilbench tui`` and its options to the subcommands."""
    p = sub.add_parser("tui", help=COMMANDS["tui"],
                       description="Open a bench (the default one, or the one a scenario file describes, its "
                                   "steps scheduled) in simulated time (wall time on a real bus: --interface) and "
                                   "show it live in four tabs: overview, bus (every message), faults (any scenario "
                                   "action from a form; save the session as a scenario) and scenarios (run files "
                                   "in worker processes with live verdicts). Keys: ? or F1 lists them all; space "
                                   "pause, +/- speed, s step, 1-4 tabs, q quit.")
    p.add_argument("scenario", nargs="?", type=Path, help="scenario file (default: a bench with default settings)")
    p.add_argument("--seed", type=int, default=0, help="seed for every random source (default 0)")
    p.add_argument("--speed", type=_speed, default=60.0, help="initial speed: 1, 10, 60, 600 or max (default 60)")
    p.add_argument("--record", type=Path, help="record the bus (.blf, .asc, .log)")
    p.add_argument("--dut-defect", metavar="NAME", help="run against the compute emulator with a seeded defect")
    p.add_argument("--wall-clock", action="store_true",
                   help="run in real time on the 'virtual' interface too (real interfaces always do; "
                        "simtime never can)")
    p.add_argument("--scenarios", type=Path, metavar="DIR",
                   help="folder of scenario files the scenarios tab lists beside the bundled ones "
                        "(default: the scenario file's folder)")
    p.add_argument("--reports", type=Path, metavar="DIR", default=Path("hilbench-tui-reports"),
                   help="where the scenarios tab writes each run's HTML report (default hilbench-tui-reports)")
    add_bus_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the terminal UI until the user quits, then print the bench's warnings and a one-line summary.

    Returns the app's exit code, or 2 when the scenario file was left refused (edited into bad input).
    """
    bus = BusOptions.from_args(args)
    if args.wall_clock and bus.bus.interface == "simtime":
        raise ConfigError(None, "--wall-clock", "the simtime bus runs in simulated time only; use --interface "
                                                "virtual (or a real interface) for a wall clock")
    options = bus.run_options(seed=args.seed, record=args.record, dut_defect=bus.dut_defect(args.dut_defect),
                              wall_time=args.wall_clock)
    from tui.app import run_tui
    from tui.widgets.format import clock

    if args.scenarios is not None and not args.scenarios.is_dir():
        raise ConfigError(args.scenarios, None, "--scenarios: not a folder")
    app = run_tui(args.scenario, options=options, speed=args.speed, scenario_folder=args.scenarios,
                  report_dir=args.reports)
    print_warnings([*bus.notices, *app.session.bench.warnings])   # shown in the app too; kept here
    snapshot = app.last_snapshot
    if snapshot is not None:
        print(f"bench closed at {clock(snapshot.now_s)} bench time, {snapshot.frames} frames: "
              f"{snapshot.unknown_frames} unknown, {snapshot.decode_errors} undecodable, "
              f"{snapshot.e2e_errors} E2E-failing")
    if args.record is not None:
        print(f"recording {args.record}")
    if app.refused is not None:
        # The scenario file was edited into a refused one and not fixed before quitting: bad input.
        print(f"error: {app.refused}", file=sys.stderr)
        return 2
    return int(app.return_code or 0)
