"""``hilbench faults matrix``: every failure mode into every safety message, against the declared FTTIs.

``hilbench faults list`` shows the declared FTTIs and fault modes.

Exit status of ``matrix``: 0 every cell passes, 1 a mode went undetected,
the unit resumed on faulty data, a 99th percentile missed margin x FTTI, a
tolerated fault stopped the unit, or a run failed; 2 bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import ConfigError
from ..scenarios.fault_matrix import (
    FttiSpec,
    MatrixSettings,
    format_summary,
    format_table,
    load_ftti,
    parse_seeds,
    run_matrix,
)
from .bus_options import BusOptions, add_bus_options, print_warnings
from .commands import COMMANDS
from .output_paths import check_writable, write_text

DEFAULT_INJECTIONS = 10
DEFAULT_SEEDS = "0-9"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``hilbench faults`` with its ``matrix`` and ``list`` subcommands."""
    p = sub.add_parser("faults", help=COMMANDS["faults"],
                       description="Inject the seven failure modes of ISO 26262-6 / AUTOSAR E2E (and a replay) "
                                   "into each safety message the compute unit reads, at many instants and "
                                   "seeds, and judge the fault-handling time against the FTTI each message "
                                   "declares.")
    fsub = p.add_subparsers(dest="faults_command", metavar="COMMAND")
    m = fsub.add_parser("matrix", help="run the fault matrix (exits 1 on an undetected mode or an FTTI miss)",
                        description="For each fault mode of the FTTI file and each safety message: short runs in "
                                    "simulated time, each injecting the mode at its own instant on a bench with "
                                    "its own seed; the handling time runs from the injection to the first status "
                                    "frame of the unit outside RUNNING/DERATED. A 'stop' mode passes when every "
                                    "injection stops the unit, it does not compute again while the fault lasts, and "
                                    "the 99th percentile is within margin x FTTI; a 'tolerate' mode when the unit "
                                    "never stops.")
    m.add_argument("--injections", "-n", type=int, default=DEFAULT_INJECTIONS, metavar="N",
                   help=f"injections per mode and message (default {DEFAULT_INJECTIONS})")
    m.add_argument("--seeds", default=DEFAULT_SEEDS, metavar="SEEDS",
                   help=f'bench seeds the injections take in turn: "0-19", "0,3,7" (default {DEFAULT_SEEDS})')
    m.add_argument("--jobs", "-j", type=int, default=None, help="parallel processes (default: every usable CPU)")
    m.add_argument("--json", type=Path, metavar="FILE", help="write every figure and every run as JSON to FILE")
    m.add_argument("--ftti", type=Path, metavar="FILE",
                   help="FTTI file: each safety message's FTTI and the fault modes (default: the bench's own, "
                        "hilbench/data/ftti.toml)")
    m.add_argument("--mode", action="append", metavar="NAME", help="only this fault mode (repeatable)")
    m.add_argument("--message", action="append", metavar="NAME", help="only this safety message (repeatable)")
    m.add_argument("--dut-defect", metavar="NAME", help="run against the compute emulator with a seeded defect")
    m.add_argument("--summary-only", action="store_true", help="print the per-mode summary, not every cell")
    add_bus_options(m, dut=False)
    m.set_defaults(func=run_matrix_command)
    ls = fsub.add_parser("list", help="the declared FTTIs and fault modes")
    ls.add_argument("--ftti", type=Path, metavar="FILE", help="FTTI file (default: the bench's own)")
    ls.set_defaults(func=list_command)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _describe(spec: FttiSpec) -> str:
    lines = [f"FTTI file {spec.path} (margin {spec.margin:g}: p99 handling time <= {spec.margin:g} x FTTI)", "",
             "safety messages:"]
    for m in spec.messages.values():
        lines.append(f"  {m.message:<20} FTTI {m.ftti_s * 1000:>5.0f} ms  {m.why}")
    lines += ["", "fault modes:"]
    for mode in spec.modes.values():
        params = ", ".join(f"{k} = {v!r}" for k, v in mode.params.items())
        lines.append(f"  {mode.name:<20} {mode.failure_mode:<11} {mode.expect:<8} {mode.action}({params}) for "
                     f"{mode.duration_s:g} s: {mode.why}")
    return "\n".join(lines)


def list_command(args: argparse.Namespace) -> int:
    """``hilbench faults list``: print the declared FTTIs and fault modes; returns 0."""
    print(_describe(load_ftti(args.ftti)))
    return 0


def run_matrix_command(args: argparse.Namespace) -> int:
    """``hilbench faults matrix``: run the matrix and print it; 0 when every mode is handled within its FTTI, else 1.

    Raises:
        ConfigError: a bus other than simtime, bad options, or a bad FTTI file, DBC or signal map.
    """
    bus = BusOptions.from_args(args)
    if not bus.simulated or bus.bus.interface != "simtime":
        raise ConfigError(None, "--interface", "the fault matrix runs thousands of short benches in simulated time, "
                                               "side by side: only the simtime interface")
    if args.injections < 1:
        raise ConfigError(None, "--injections", f"must be >= 1, got {args.injections}")
    seeds = parse_seeds(args.seeds)
    if args.json is not None:
        check_writable(args.json, "--json")
    defect = bus.dut_defect(args.dut_defect)
    spec = load_ftti(args.ftti)
    print_warnings([*bus.notices, *bus.load().warnings])   # refuses a bad DBC or map before the first run
    jobs = bus.jobs(args.jobs, default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                    else os.cpu_count() or 1)
    settings = MatrixSettings(dbc=bus.dbc or None, signal_map=bus.signal_map, dut_defect=defect)

    def progress(done: int, total: int) -> None:
        if sys.stdout.isatty():
            print(f"\r  {done}/{total} injections", end="", flush=True)

    report = run_matrix(spec, injections=args.injections, seeds=seeds, modes=args.mode, messages=args.message,
                        jobs=jobs, settings=settings, progress=progress)
    if sys.stdout.isatty():
        print()
    print(f"fault matrix: {len(report.modes)} modes x {len(report.messages)} safety messages x {args.injections} "
          f"injections, seeds {args.seeds}, DUT defect: {defect or 'none'}")
    if not args.summary_only:
        print(format_table(report))
        print()
    print(format_summary(report))
    for line in report.as_json()["failures"]:
        print(f"  FAIL {line}")
    if args.json is not None:
        print(f"wrote {write_text(args.json, '--json', report.json_text())}")
    return 0 if report.passed else 1
