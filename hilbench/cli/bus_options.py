"""The DBC, signal map and bus options that ``run``, ``tui``, ``fuzz``, ``defects`` and the pytest plugin share.

One table (:data:`OPTIONS`) defines them; :func:`add_bus_options` puts them on
a subcommand (``--dbc``), :func:`add_pytest_options` on pytest (``--hil-dbc``),
and :class:`BusOptions` turns what was given into the fields of
:class:`~hilbench.scenarios.RunOptions` and
:class:`~hilbench.bench.BenchConfig`, so no two front ends can read them
differently.  Light to import (no pytest, python-can or cantools until a bus is
asked for): pytest loads the plugin, and with it this module, on every run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..bench import BenchConfig
    from ..bus import BusDescription
    from ..bus.open import BusConfig
    from ..scenarios import RunOptions

#: Interfaces that stay in simulated time and need no channel (they get ``DEFAULT_CHANNEL``).
SIMULATED_INTERFACES = ("simtime", "virtual")
DEFAULT_INTERFACE = "simtime"
DEFAULT_CHANNEL = "bench"
EMULATED_NODES = frozenset({"bms", "vcu", "obc", "cu"})


@dataclass(frozen=True)
class _Option:
    name: str                     # "signal-map": --signal-map on a subcommand, --hil-signal-map in pytest
    help: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    dut: bool = False             # offered only where the compute emulator may be left out

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")


OPTIONS: tuple[_Option, ...] = (
    _Option("dbc", "DBC file; repeat to overlay several in order (a car's DBC, then the compute unit's). "
                   "Default: the DBCs the signal map lists, else the bench's own",
            {"type": Path, "action": "append", "metavar": "FILE"}),
    _Option("signal-map", "signal map TOML binding the bench's roles to the DBC "
                          "(default: the bench's own, dbc/hilbench.signals.toml)",
            {"type": Path, "metavar": "FILE"}),
    _Option("interface", f"python-can interface (default {DEFAULT_INTERFACE}: virtual CAN in simulated time; "
                         "'virtual' also runs in simulated time, real interfaces in wall time)",
            {"metavar": "NAME"}),
    _Option("channel", f"python-can channel (default '{DEFAULT_CHANNEL}' on simtime/virtual; required otherwise: "
                       "can0, /dev/ttyACM0, PCAN_USBBUS1, ...)", {"metavar": "CHANNEL"}),
    _Option("bitrate", "bitrate for real interfaces (bit/s)", {"type": int, "metavar": "BPS"}),
    _Option("no-dut", "do not emulate the compute unit: a real one is on the bus",
            {"action": "store_true"}, dut=True),
)


def print_warnings(warnings: Iterable[str], *, already: set[str] | None = None) -> None:
    """Print each warning once as ``warning: ...`` (``already`` holds those printed before).

    On stdout, with the verdicts they qualify, so that a run's output kept in a file keeps them too.
    """
    seen = already if already is not None else set()
    for text in warnings:
        if text not in seen:
            seen.add(text)
            print(f"warning: {text}")
    sys.stdout.flush()


def add_bus_options(parser: argparse.ArgumentParser, *, dut: bool = True) -> None:
    """Add ``--dbc``, ``--signal-map``, ``--interface``, ``--channel``, ``--bitrate`` (and ``--no-dut``)."""
    group = parser.add_argument_group("bus", "which DBC, signal map and CAN bus to run on")
    for option in OPTIONS:
        if option.dut and not dut:
            continue
        group.add_argument(f"--{option.name}", dest=option.dest, help=option.help, **option.kwargs)


def add_pytest_options(group: Any) -> None:
    """Add the same options to a pytest option group as ``--hil-dbc``, ``--hil-signal-map``, ..."""
    for option in OPTIONS:
        group.addoption(f"--hil-{option.name}", dest=f"hil_{option.dest}", help=option.help, **option.kwargs)


@dataclass(frozen=True)
class BusOptions:
    """What the bus options asked for, checked; None where an option was not given.

    Build with :meth:`from_args` or :meth:`from_pytest`.
    """

    dbc: tuple[Path, ...] = ()
    signal_map: Path | None = None
    interface: str | None = None
    channel: str | None = None
    bitrate: int | None = None
    no_dut: bool = False
    #: Where interface, channel or bitrate came from when not from the command line (python-can's
    #: own configuration, see :func:`hilbench.bus.open.lab_bus_settings`); None when the command line named them all.
    bus_source: str | None = field(default=None, compare=False)

    @classmethod
    def from_values(cls, get: Callable[[str], Any], prefix: str = "--", *, lab: bool = True) -> BusOptions:
        """From ``get(dest)`` for each option (None when absent); errors name the option as ``prefix`` spells it.

        Raises:
            ConfigError: a real interface without a channel, or a bitrate that is not positive.
        """
        interface = get("interface") or None
        channel = get("channel") or None
        bitrate = get("bitrate")
        source = None
        if lab and (interface is None or channel is None or bitrate is None):
            from ..bus.open import lab_bus_settings
            from ..errors import BusError

            try:
                lab_values, lab_source = lab_bus_settings()
            except BusError as exc:
                raise ConfigError(None, "python-can's configuration", str(exc)) from None
            taken = {}
            if interface is None and "interface" in lab_values:
                interface = taken["interface"] = lab_values["interface"]
            if interface is not None and interface not in SIMULATED_INTERFACES:
                # The lab's channel and bitrate go with a real interface, whichever named it.
                if channel is None and "channel" in lab_values:
                    channel = taken["channel"] = lab_values["channel"]
                if bitrate is None and "bitrate" in lab_values:
                    bitrate = taken["bitrate"] = lab_values["bitrate"]
            source = lab_source if taken else None
        if channel is None and interface is not None and interface not in SIMULATED_INTERFACES:
            raise ConfigError(None, f"{prefix}interface",
                              f"{interface} needs {prefix}channel (e.g. can0, /dev/ttyACM0)"
                              + (f"; {source} names no channel" if source else ""))
        if bitrate is not None and (isinstance(bitrate, bool) or not isinstance(bitrate, int) or bitrate <= 0):
            whole = isinstance(bitrate, int) and not isinstance(bitrate, bool)
            raise ConfigError(None, f"{prefix}bitrate" if source is None else source,
                              f"must be positive, got {bitrate}" if whole
                              else f"expected a whole number of bit/s, got {bitrate!r}")
        return cls(tuple(Path(p) for p in (get("dbc") or ())), get("signal_map"), interface, channel, bitrate,
                   bool(get("no_dut")), bus_source=source)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BusOptions:
        """The options of a parsed ``hilbench`` command line.

        Raises:
            ConfigError: as :meth:`from_values`.
        """
        return cls.from_values(lambda dest: getattr(args, dest, None))

    @classmethod
    def from_pytest(cls, config: Any) -> BusOptions:
        """The ``--hil-*`` options of a pytest session; errors name them with that prefix.

        python-can's own configuration (``CAN_INTERFACE``, its files) is not read here: the plugin
        loads in every pytest session of the environment, and a lab's adapter settings must not
        move another project's tests, or this one's, onto hardware.  Name the bus with ``--hil-*``.

        Raises:
            ConfigError: as :meth:`from_values`.
        """
        return cls.from_values(lambda dest: config.getoption(f"hil_{dest}"), prefix="--hil-", lab=False)

    # -- what they mean ------------------------------------------------------------
    @property
    def notices(self) -> tuple[str, ...]:
        """What a front end says before its first run: a bus taken from python-can's configuration."""
        if self.bus_source is None:
            return ()
        bus = self.bus
        rate = f" at {bus.bitrate} bit/s" if bus.bitrate else ""
        return (f"the bus is {bus.interface} on {bus.channel}{rate}, from {self.bus_source}; "
                "--interface, --channel and --bitrate override it",)

    @property
    def bus(self) -> BusConfig:
        """The bus to open: the given interface, channel and bitrate, else the simulated default."""
        from ..bus.open import BusConfig

        return BusConfig(self.interface or DEFAULT_INTERFACE, self.channel or DEFAULT_CHANNEL, self.bitrate)

    @property
    def names_a_bus(self) -> bool:
        """Whether any of ``--interface``, ``--channel``, ``--bitrate`` was given."""
        return self.interface is not None or self.channel is not None or self.bitrate is not None

    @property
    def simulated(self) -> bool:
        """Whether runs stay in simulated time (and so may run side by side in processes)."""
        return not self.bus.needs_wall_time

    def jobs(self, requested: int | None, *, default: int) -> int:
        """How many scenarios may run at once: ``requested`` (0 or None: ``default``) on the simtime bus,
        one at a time on any other, since they would share it.

        Raises:
            ConfigError: several jobs asked for on a shared bus.
        """
        if self.bus.interface != "simtime":
            if requested is not None and requested > 1:
                raise ConfigError(None, "--jobs", f"scenarios share the {self.bus.interface!r} bus; run them one at "
                                                  f"a time")
            return 1
        return requested or default

    def dut_defect(self, defect: str | None, *, real: Iterable[str] = (), prefix: str = "--") -> str | None:
        """``defect`` checked: a known one, and the compute unit emulated (a real one has no seeded defects).

        Raises:
            ConfigError: an unknown defect, or one asked of a compute unit the bench does not emulate.
        """
        if not defect:
            return None
        from ..dut.compute.supervisor import DEFECTS

        if defect not in DEFECTS:
            raise ConfigError(None, f"{prefix}dut-defect",
                              f"{defect!r} is not a known defect; known: {', '.join(DEFECTS)}")
        if self.no_dut or "cu" in set(real):
            raise ConfigError(None, f"{prefix}dut-defect", f"needs the emulated compute unit; a real one is on the "
                                                           f"bus ({prefix}no-dut)")
        return defect

    def emulate(self, real: Iterable[str] = ()) -> frozenset[str] | None:
        """The nodes the bench plays: all but ``real`` ones and, with ``--no-dut``, the compute unit.

        ``None`` when that is every node (the bench's default).
        """
        left_out = set(real) | ({"cu"} if self.no_dut else set())
        return frozenset(EMULATED_NODES - left_out) if left_out else None

    def run_options(self, *, real: Iterable[str] = (), **fields: Any) -> RunOptions:
        """:class:`RunOptions` with the bus, DBCs, signal map and emulated nodes from here, ``fields`` for the rest."""
        from ..scenarios import RunOptions

        return RunOptions(bus=self.bus, dbc=self.dbc or None, signal_map=self.signal_map,
                          emulate=self.emulate(real), **fields)

    def load(self, *, real: Iterable[str] = ()) -> BusDescription:
        """Load the DBCs and signal map now, as the bench will (refusing bad ones before anything runs).

        The roles the bench requires are checked as it checks them: all of the compute
        unit's when it is emulated, none when a real one is on the bus.

        Raises:
            ConfigError: a DBC, the signal map or a required role is refused (file, entry, reason).
        """
        from ..bench import NODE_NAMES
        from ..bus import load_bus_description

        emulate = self.emulate(real)
        require = NODE_NAMES if emulate is None or "cu" in emulate else ()
        return load_bus_description(self.dbc or None, self.signal_map, require=require)

    def as_args(self) -> list[str]:
        """The command-line options that ask for these settings again (empty for the defaults)."""
        out: list[str] = []
        for path in self.dbc:
            out += ["--dbc", str(path)]
        if self.signal_map is not None:
            out += ["--signal-map", str(self.signal_map)]
        if self.interface is not None:
            out += ["--interface", self.interface]
        if self.channel is not None:
            out += ["--channel", self.channel]
        if self.bitrate is not None:
            out += ["--bitrate", str(self.bitrate)]
        if self.no_dut:
            out.append("--no-dut")
        return out

    def apply_to(self, config: BenchConfig) -> BenchConfig:
        """``config`` with what these options name: its bus, DBCs and signal map stand where they name none;
        ``--no-dut`` takes the compute unit out of the nodes it emulates."""
        changes: dict[str, Any] = {}
        if self.names_a_bus:
            changes["bus"] = self.bus
        if self.dbc:
            changes["dbc"] = self.dbc
        if self.signal_map is not None:
            changes["signal_map"] = self.signal_map
        if self.no_dut:
            changes["emulate"] = frozenset(config.emulate) - {"cu"}
        return config.with_(**changes)
