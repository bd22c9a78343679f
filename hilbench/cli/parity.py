"""``hilbench parity SCENARIO --interface NAME --channel CHANNEL``: the same scenario in simulated time and on a bus.

The scenario runs twice with the same seed: once on the bench's own simulated bus with every
node emulated (the reference), once on the bus given (``--real``/``--no-dut`` as for ``run``).
The report sets the two side by side: per message, the frames seen, the mean period and the
p99 jitter (|interval - cycle time|), and which messages are missing from the bus run or came
only there; per check, both verdicts and robustness margins.  Exit 0 when every verdict is
the same and no message is missing or extra, 1 otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .bus_options import EMULATED_NODES, BusOptions, add_bus_options, print_warnings
from .commands import COMMANDS

NAME = "parity"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add the subcommand and its options to ``hilbench``'s parser."""
    parser = sub.add_parser(NAME, help=COMMANDS[NAME], description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", type=Path, metavar="SCENARIO", help="a scenario file")
    add_bus_options(parser)
    parser.add_argument("--real", action="append", default=[], choices=sorted(EMULATED_NODES), metavar="NODE",
                        help="a real ECU provides this node's frames on the bus run (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed of both runs (default 0)")
    parser.set_defaults(func=run)


def _timing(monitor, name: str, cycle_s: float | None) -> tuple[int, float | None, float | None]:
    """(frames, mean period s, p99 |interval - cycle| ms) of one message as a monitor saw it."""
    times = monitor.arrival_times(name)
    if len(times) < 2:
        return len(times), None, None
    intervals = np.diff(times)
    jitter = float(np.percentile(np.abs(intervals - cycle_s), 99) * 1e3) if cycle_s else None
    return len(times), float(intervals.mean()), jitter


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def run(args: argparse.Namespace) -> int:
    """Run both, print the comparison; 0 when the verdicts match and no message is missing or extra."""
    from ..errors import ConfigError
    from ..scenarios import RunOptions, load_scenario, run_scenario

    bus = BusOptions.from_args(args)
    if not bus.names_a_bus or bus.simulated:
        raise ConfigError(None, "--interface", "parity compares the simulated bus with a real one: name it with "
                                               "--interface and --channel")
    scenario = load_scenario(args.scenario)
    print_warnings([*bus.notices, *bus.load(real=args.real).warnings])
    print(f"{scenario.name}: simulated reference, then {bus.bus.interface} on {bus.bus.channel} "
          f"({scenario.duration_s:g} s of wall time)", flush=True)
    reference = run_scenario(scenario, RunOptions(seed=args.seed, signal_map=bus.signal_map, dbc=bus.dbc or None),
                             keep_bench=True)
    on_bus = run_scenario(scenario, bus.run_options(real=args.real, seed=args.seed), keep_bench=True)
    assert reference.bench is not None and on_bus.bench is not None   # keep_bench=True
    sim_monitor, bus_monitor = reference.bench.monitor, on_bus.bench.monitor
    names = sorted({n for n, s in sim_monitor.stats.items() if s.count} | {n for n, s in bus_monitor.stats.items()
                                                                          if s.count})
    missing, extra = [], []
    print(f"\n{'message':24s} {'frames sim/bus':>16s} {'period ms sim/bus':>20s} {'p99 jitter ms sim/bus':>24s}")
    for name in names:
        stats = sim_monitor.stats[name]
        sim = _timing(sim_monitor, name, stats.cycle_time_s)
        real = _timing(bus_monitor, name, stats.cycle_time_s)
        if sim[0] and not real[0]:
            missing.append(name)
        elif real[0] and not sim[0]:
            extra.append(name)
        periods = f"{_fmt(sim[1] and sim[1] * 1e3, '.1f')}/{_fmt(real[1] and real[1] * 1e3, '.1f')}"
        jitters = f"{_fmt(sim[2], '.2f')}/{_fmt(real[2], '.2f')}"
        print(f"{name:24s} {f'{sim[0]}/{real[0]}':>16s} {periods:>20s} {jitters:>24s}")
    print(f"\n{'check':48s} {'simulated':>22s} {'on the bus':>22s}")
    differ = 0
    for sim_check, bus_check in zip(reference.checks, on_bus.checks, strict=True):
        same = sim_check.verdict == bus_check.verdict
        differ += not same
        print(f"{sim_check.check.name[:48]:48s} {_verdict(sim_check):>22s} {_verdict(bus_check):>22s}"
              + ("" if same else "  DIFFERS"))
    print(f"\nverdict: simulated {reference.verdict}, on the bus {on_bus.verdict}")
    if missing:
        print(f"missing on the bus: {', '.join(missing)}")
    if extra:
        print(f"only on the bus: {', '.join(extra)}")
    same = differ == 0 and not missing and not extra and reference.verdict == on_bus.verdict
    print("parity" if same else f"NO parity: {differ} check verdict(s) differ, {len(missing)} message(s) missing, "
                               f"{len(extra)} extra")
    return 0 if same else 1


def _verdict(result) -> str:
    margin = "" if result.robustness is None else f" {result.robustness:+.3g}"
    return f"{result.verdict}{margin}"
