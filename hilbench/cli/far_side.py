"""The far side of an emulated adapter: what ``hilbench slcan-emulator`` and ``hilbench serve`` bridge to.

A USB-CAN adapter or a socketcand daemon stands between a host and a bus.  For the
emulated ones that bus is, by default, a bench of its own running in wall time on a
private ``virtual`` channel: the nodes named by ``--emulate`` (the BMS, VCU, charger
and the compute unit, all four unless told) talk on it, so a lab's tool, a python-can
client in another process, or ``hilbench run --no-dut`` reaches them through the adapter
as it would reach real ECUs.  ``--interface``/``--channel`` bridge to a python-can bus
instead, with no bench (python-can's configuration file and environment fill in the rest).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .bus_options import EMULATED_NODES

if TYPE_CHECKING:
    from ..bench import Bench
    from ..bus.open import BusConfig
    from ..clock import StopRequest

#: Wall seconds the far-side bench runs between looks at the clock and the stop flag.
SLICE_S = 0.5
_channels = itertools.count()


def add_far_side_options(parser: argparse.ArgumentParser) -> None:
    """``--emulate``, ``--signal-map``, ``--dbc``, ``--seed``, ``--interface``, ``--channel``, ``--bitrate``,
    ``--duration``."""
    bench = parser.add_argument_group("far side: a bench (the default)", "the nodes the adapter's bus carries")
    bench.add_argument("--emulate", metavar="NODES", default=",".join(sorted(EMULATED_NODES)),
                       help="comma-separated nodes the far-side bench plays: bms, vcu, obc, cu (default: all)")
    bench.add_argument("--signal-map", type=str, metavar="FILE", help="signal map of the far-side bench")
    bench.add_argument("--dbc", action="append", metavar="FILE", help="DBC of the far-side bench (repeatable)")
    bench.add_argument("--seed", type=int, default=0, help="noise seed of the far-side bench (default 0)")
    bus = parser.add_argument_group("far side: a python-can bus instead", "bridge to an interface, no bench")
    bus.add_argument("--interface", metavar="NAME", help="python-can interface to bridge to (then no bench runs)")
    bus.add_argument("--channel", metavar="CHANNEL", help="its channel")
    bus.add_argument("--bitrate", type=int, metavar="BPS", help="its bitrate")
    parser.add_argument("--duration", type=float, metavar="S",
                        help="stop after S wall seconds (default: run until Ctrl-C or SIGTERM)")


@dataclass
class FarSide:
    """The bus an emulated adapter bridges to, and the bench on it (None when bridging to an interface)."""

    bus: BusConfig
    bench: Bench | None
    description: str

    def run(self, duration_s: float | None, stop: StopRequest,
            failed: Callable[[], BaseException | None] = lambda: None) -> None:
        """Keep the far side going for ``duration_s`` wall seconds (None: until ``stop`` is requested),
        or until ``failed()`` reports that the emulator's own thread stopped serving."""
        from ..clock import wall_sleep_s, wall_time_s

        start_s = wall_time_s()
        while not stop.requested and failed() is None:
            left_s = None if duration_s is None else duration_s - (wall_time_s() - start_s)
            if left_s is not None and left_s <= 0.0:
                return
            step_s = SLICE_S if left_s is None else min(SLICE_S, left_s)
            if self.bench is not None:
                self.bench.run_for(step_s, stop=stop)
            else:
                wall_sleep_s(step_s)   # the adapter's own thread carries every frame meanwhile

    def close(self) -> None:
        """Close the far-side bench (its bus handles); nothing to do for a bridge alone."""
        if self.bench is not None:
            self.bench.close()


def far_side(args: argparse.Namespace) -> FarSide:
    """The far side the options ask for, built and started.

    Raises:
        ConfigError: an unknown node, a bench and an interface both asked for, a bad duration,
            or a far-side bench the bench itself refuses (DBC, map).
    """
    from ..bus.open import BusConfig

    if args.duration is not None and not args.duration > 0:
        raise ConfigError(None, "--duration", f"expected seconds > 0, got {args.duration}")
    if args.interface is not None:
        if args.signal_map or args.dbc:
            raise ConfigError(None, "--interface", "bridges to a python-can bus with no bench: "
                                                   "--signal-map and --dbc have nothing to apply to")
        if args.channel is None:
            raise ConfigError(None, "--interface", f"{args.interface} needs --channel (e.g. can0, vcan0)")
        if args.interface == "simtime":
            raise ConfigError(None, "--interface", "the emulated adapters run in wall time: bridge to 'virtual' "
                                                   "or a real interface, not to the simulated-time 'simtime' bus")
        bus = BusConfig(args.interface, args.channel, args.bitrate)
        return FarSide(bus, None, f"python-can {args.interface} on {args.channel}")
    nodes = frozenset(n.strip() for n in str(args.emulate).split(",") if n.strip())
    unknown = sorted(nodes - EMULATED_NODES)
    if unknown or not nodes:
        known = ", ".join(sorted(EMULATED_NODES))
        raise ConfigError(None, "--emulate", f"unknown node(s) {unknown}; choose from {known}" if unknown
                          else f"names no node; choose from {known}")
    from ..bench import Bench, BenchConfig

    # A private virtual channel: the adapter's bridge and the bench share it, nothing else in this process does.
    bus = BusConfig("virtual", f"hilbench-far-side-{os.getpid()}-{next(_channels)}")
    config = BenchConfig(bus=bus, emulate=nodes, wall_time=True, seed=args.seed, keep_traces=False,
                         signal_map=Path(args.signal_map) if args.signal_map else None,
                         dbc=tuple(Path(d) for d in args.dbc) if args.dbc else None)
    bench = Bench(config)
    bench.start()
    return FarSide(bus, bench, f"a bench emulating {', '.join(sorted(nodes))}")


def exit_code(what: str, failure: BaseException | None) -> int:
    """0, or 1 (said on stderr) when the emulator's own thread failed and it stopped serving."""
    if failure is None:
        return 0
    note(f"error: the {what}'s thread failed: {failure!r}")
    return 1


def say(line: str) -> None:
    """One line on stdout, flushed at once: a lab's script reads the first line to find the port."""
    print(line, flush=True)


def note(line: str) -> None:
    """One line of progress on stderr (stdout carries only the port)."""
    print(line, file=sys.stderr, flush=True)
