"""The one assembler: clock + plant + nodes + bus + DUT, with the loop closed through values.

Data flow per plant step: the compute unit's power as decoded off the bus
(whatever the DUT is) and the vehicle's own load draw current from the pack
through the DC-DC converter; the charger pushes current in within the limit
the OBC node read from the BMS; the pack integrates.  Nodes sample the plant
and send frames at their DBC cycle times; the DUT sees only those frames.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .bus import (
    BenchCodec,
    BusConfig,
    BusMonitor,
    BusPort,
    Recorder,
    close_bus,
    load_bus_description,
    open_bus,
    open_port,
)
from .bus.recorder import FLUSH_INTERVAL_S
from .clock import US_PER_S, Clock, SimClock, StopRequest, WallClock, seconds_to_us, wall_time_s
from .dut.reported_power import REAL_DUT_STALE_S, ReportedPower
from .errors import BusError, ConfigError
from .nodes import BmsNode, ObcNode, VcuNode
from .plant import Evse, OnBoardCharger, Pack, Vehicle
from .plant.powertrain import ParkedPowertrain

DEFAULTS_FILE = Path(__file__).with_name("data") / "bench_defaults.toml"
NODE_NAMES = ("bms", "vcu", "obc", "cu")


def _defaults() -> dict[str, Any]:
    with DEFAULTS_FILE.open("rb") as fh:
        return tomllib.load(fh)


def session_epoch_s() -> float:
    """A bench's time zero in Unix seconds (``bench_defaults.toml``): its frames and recordings are
    stamped from it, so a replay puts a bench's recording back on the same clock."""
    return float(_defaults()["session"]["epoch_s"])


@dataclass(frozen=True)
class BenchConfig:
    """Everything needed to build a bench; validated when the bench is built."""

    chemistry: str = "nmc"
    series: int | None = None
    parallel: int | None = None
    soc_pct: float = 80.0
    pack_temp_c: float | None = None       # None: start at ambient
    ambient_c: float = 20.0
    coolant_c: float | None = None
    reserve_soc_pct: float = 20.0
    gear: str = "P"
    ignition_on: bool = False
    plugged_in: bool = False
    evse_max_current_a: float = 16.0
    compute_requested: bool = True
    seed: int = 0
    #: DBCs overlaid in order (a single path is accepted); None: the signal map's own list.
    dbc: tuple[Path, ...] | Path | None = None
    signal_map: Path | None = None
    bus: BusConfig = field(default_factory=BusConfig)
    wall_time: bool = False
    emulate: frozenset[str] = frozenset(NODE_NAMES)
    dut: dict[str, Any] = field(default_factory=dict)
    record: Path | None = None
    plant_step_s: float | None = None
    keep_traces: bool = True

    def with_(self, **changes: Any) -> BenchConfig:
        """A copy with ``changes`` (field names as the constructor takes them); checked only when a bench is built.

        Raises:
            TypeError: a name that is not a field.
        """
        return replace(self, **changes)


@dataclass(frozen=True)
class BenchSnapshot:
    """A bench at one instant in plain values, for front ends (the TUI): the plant's truth beside what the bus says.

    Units are in the names (s, %, V, A, C, W).  ``bus`` holds the latest decoded value of each
    role as the monitor heard it; ``transitions`` the compute unit's last 20 (time s, state,
    reason) as reported on CAN, empty when the unit is not emulated.
    """

    now_s: float
    simulated: bool
    chemistry: str
    soc_true_pct: float
    pack_voltage_v: float
    pack_current_a: float
    min_cell_temp_c: float
    max_cell_temp_c: float
    min_cell_voltage_v: float
    max_cell_voltage_v: float
    plating_ah: float               # charge into cells below the chemistry's charge limit
    ambient_c: float
    coolant_c: float | None
    gear: str
    ignition_on: bool
    reserve_soc_pct: float
    evse_available_a: float
    plugged_in: bool
    cp_state: str
    charge_power_w: float
    bus: dict[str, object]          # latest decoded value per role, as the bus says
    frames: int
    unknown_frames: int
    decode_errors: int
    e2e_errors: int
    transitions: tuple[tuple[float, str, str], ...]


class Bench:
    """A running bench. Use as a context manager so buses close and recordings flush."""

    def __init__(self, config: BenchConfig | None = None) -> None:
        self.config = config = config or BenchConfig()
        defaults = _defaults()
        unknown = set(config.emulate) - set(NODE_NAMES)
        if unknown:
            raise ConfigError(None, "emulate", f"unknown node(s) {sorted(unknown)}; known: {', '.join(NODE_NAMES)}")
        self.epoch_s = float(defaults["session"]["epoch_s"])
        self.plant_step_s = config.plant_step_s or float(defaults["timing"]["plant_step_s"])

        # Validate every input before opening anything.  Roles are required only where
        # used: the bundled compute unit needs its inputs and outputs mapped; a bench
        # whose compute unit is real needs none (checks over unmapped roles say so).
        dbcs = (config.dbc,) if isinstance(config.dbc, (str, Path)) else config.dbc
        self.bus_description = load_bus_description(
            dbcs, config.signal_map, require=NODE_NAMES if "cu" in config.emulate else ())
        self.db = self.bus_description.db
        self.signal_map = self.bus_description.signal_map
        self.codec = BenchCodec(self.db, self.signal_map)

        self.clock: Clock = (WallClock() if (config.wall_time or config.bus.needs_wall_time)
                             else SimClock(epoch_s=self.epoch_s))
        self.epoch_s = self.clock.epoch_s

        self.pack = Pack.from_config(
            config.chemistry, series=config.series, parallel=config.parallel,
            soc=config.soc_pct / 100.0,
            temp_c=config.pack_temp_c if config.pack_temp_c is not None else config.ambient_c,
            ambient_c=config.ambient_c, seed=config.seed,
        )
        self.vehicle = Vehicle(gear=config.gear, ignition_on=config.ignition_on,
                               reserve_soc_pct=config.reserve_soc_pct, ambient_c=config.ambient_c,
                               coolant_c=config.coolant_c)
        self.evse = Evse(max_current_a=config.evse_max_current_a)
        self.charger = OnBoardCharger(self.evse)
        if config.plugged_in:
            self.evse.plug_in()
        self.powertrain = ParkedPowertrain(
            self.pack, self.vehicle, self.charger, aux_load_w=float(defaults["vehicle_loads"]["aux_load_w"]),
            dcdc_efficiency=float(defaults["vehicle_loads"]["dcdc_efficiency"]))
        #: How the plant knows a real compute unit's draw (unused while the bundled emulator runs).
        self.reported_power = ReportedPower(REAL_DUT_STALE_S)

        self._ports: list[BusPort] = []
        self.recorder: Recorder | None = None
        self._closed = False
        #: What went wrong shutting the buses down (an adapter gone), said with the warnings.
        self._close_problems: list[str] = []
        try:
            self._build_bus_side()
        except BaseException:
            self.close()
            raise

    # -- assembly ----------------------------------------------------------
    @property
    def _buses(self) -> list[Any]:
        """The python-can bus under each of the bench's handles (one per handle opened)."""
        return [port.bus for port in self._ports]

    def _open(self, *, polled_by_owner: bool = False) -> BusPort:
        """Open a handle (see :func:`open_port`); ``polled_by_owner``: its owner drains it in its own task."""
        port = open_port(self.config.bus, self.clock, epoch_s=self.epoch_s, polled_by_owner=polled_by_owner)
        self._ports.append(port)
        return port

    def _build_bus_side(self) -> None:
        config = self.config
        self.restbus = self._open()
        self.monitor = BusMonitor(self.codec, epoch_s=self.epoch_s, keep_traces=config.keep_traces)
        self.restbus.add_tap(self.monitor)
        if config.record is not None:
            self.recorder = Recorder(config.record)
            self.restbus.add_tap(self.recorder)
        self.bms = BmsNode(self.codec, self.restbus, self.clock, self.pack, seed=config.seed)
        self.vcu = VcuNode(self.codec, self.restbus, self.clock, self.vehicle)
        self.vcu.compute_allowed = config.compute_requested
        self.obc = ObcNode(self.codec, self.restbus, self.clock, self.evse, self.charger)
        self.nodes = {"bms": self.bms, "vcu": self.vcu, "obc": self.obc}
        for name, node in self.nodes.items():
            node.enabled = name in config.emulate
        self.dut = None
        if "cu" in config.emulate:
            from .dut.emulator import ComputeEmulator

            # An interface that can be opened only once (a serial adapter) is shared:
            # the port delivers frames between its participants locally.
            self.dut_port = (self._open(polled_by_owner=True) if config.bus.allows_several_handles
                             else self.restbus)
            self.dut = ComputeEmulator.from_config(self.codec, self.dut_port, self.clock,
                                                   seed=config.seed, **config.dut)
            if self.dut_port is not self.restbus:
                self.dut_port.accept_only_subscribed()
        self._started = False

    def start(self) -> None:
        """Schedule the nodes, the compute unit, the plant step and the recording's flushes; a no-op once started.

        :meth:`run_for` calls it.  In wall time the run's time zero is this moment (the clock
        is rebased and the ports and monitor take its new epoch).
        """
        if self._started:
            return
        self._started = True
        if isinstance(self.clock, WallClock):
            # Time starts with the run: building the bench must not leave overdue tasks behind.
            self.clock.rebase()
            self.epoch_s = self.clock.epoch_s
            for port in self._ports:
                port.epoch_s = self.epoch_s
            self.monitor.epoch_s = self.epoch_s
        for node in self.nodes.values():
            node.start()
        if self.dut is not None:
            self.dut.start()
        self.clock.call_every(self.plant_step_s, self._plant_step)
        if self.recorder is not None:
            # The candump primary reaches the disk every interval of the bench's own time (simulated
            # or wall), so a SIGKILL loses at most that; the task sends nothing, so the traffic and
            # the recording are the same as without it.
            self.clock.call_every(FLUSH_INTERVAL_S, self.recorder.flush, offset_s=FLUSH_INTERVAL_S)

    # -- the loop, closed through values -----------------------------------
    @property
    def compute_power_w(self) -> float:
        """What the compute unit draws, for the plant (W).

        The bundled emulator's own draw is known, so the plant uses it (a lost or
        corrupted status frame must not change the physics).  A real unit is known
        only by what it reports: :class:`~hilbench.dut.reported_power.ReportedPower`.
        """
        if self.dut is not None:
            last = self.dut.unit.last
            return last.power_w if last is not None else 0.0
        binding = self.signal_map.binding("compute_power_w")
        seen = self.monitor.last_valid_s(binding.message) if binding is not None else None
        return self.reported_power.power_w(self.monitor.latest.get("compute_power_w"), seen, self.clock.now)

    def _plant_step(self) -> None:
        self.powertrain.step(self.plant_step_s, self.compute_power_w, contactors_closed=self.bms.contactor_closed,
                             max_charge_voltage_v=self.obc.max_charge_voltage_v, granted_ccl_a=self.obc.granted_ccl_a)

    # -- energy, counted by the powertrain ---------------------------------
    @property
    def aux_load_w(self) -> float:
        """The vehicle's own parked load (W) on the 12 V side; settable (a test's heavy discharge)."""
        return self.powertrain.aux_load_w

    @aux_load_w.setter
    def aux_load_w(self, value_w: float) -> None:
        self.powertrain.aux_load_w = value_w

    @property
    def dcdc_efficiency(self) -> float:
        """Of the HV -> 12 V DC-DC converter the compute unit sits behind."""
        return self.powertrain.dcdc_efficiency

    @property
    def compute_energy_j(self) -> float:
        """Energy the compute unit drew so far (J)."""
        return self.powertrain.compute_energy_j

    @property
    def energy_from_pack_j(self) -> float:
        """Energy that left the pack so far (J, discharge only)."""
        return self.powertrain.energy_from_pack_j

    @property
    def charge_energy_j(self) -> float:
        """Energy the charger delivered so far (J, DC side)."""
        return self.powertrain.charge_energy_j

    # -- observing ---------------------------------------------------------
    def silent_outside_nodes(self) -> dict[str, list[str]]:
        """The nodes the bench does not emulate whose messages never reached the bus, with those messages.

        A real ECU expected from outside (``--real``, ``--no-dut``) that sent nothing is reported
        after the run, never waited on: the run goes on without it, as the car would.
        """
        silent: dict[str, list[str]] = {}
        for node in NODE_NAMES:
            if node in self.config.emulate:
                continue
            names = self.codec.signal_map.messages_of(node)
            if names and not any(self.monitor.stats[name].count for name in names):
                silent[node] = names
        return silent

    @property
    def refused_by_link(self) -> dict[str, int]:
        """Frames a port's link could not carry (CAN FD over a classic-only link), by message name."""
        out: dict[str, int] = {}
        for port in self._ports:
            for key, count in port.refused_by_link.items():
                known = self.codec.by_id.get(key)
                name = known.name if known is not None else f"0x{key[0]:X}"
                out[name] = out.get(name, 0) + count
        return out

    @property
    def warnings(self) -> list[str]:
        """What the run should say out loud: lenient-DBC offenders, map notes, values clipped to a DBC range,
        and charge that reached cells too cold to take it (lithium plating risk)."""
        out = list(self.bus_description.warnings)
        out.extend(self.bms.warnings)
        out.extend(self.codec.warnings.values())
        out.extend(self._close_problems)
        refused = self.refused_by_link
        if refused:
            out.append("frames the link could not carry (CAN FD over a classic-only one), never on the bus: "
                       + ", ".join(f"{name} x{n}" for name, n in sorted(refused.items())))
        if self.pack.plating_risk:
            out.append(f"the pack took {self.pack.plating_ah:.4f} Ah into cells below "
                       f"{self.pack.chemistry.charge_min_c:g} C (lithium plating risk): "
                       "the BMS let a cold charge through")
        return out

    def snapshot(self) -> BenchSnapshot:
        """Plain values for front ends (the TUI): the plant's truth beside what the bus says."""
        pack = self.pack.snapshot()
        bus = dict(self.monitor.latest)
        return BenchSnapshot(
            now_s=self.clock.now,
            simulated=self.clock.is_simulated,
            chemistry=pack.chemistry,
            soc_true_pct=pack.soc * 100.0,
            pack_voltage_v=pack.pack_voltage_v,
            pack_current_a=pack.current_a,
            min_cell_temp_c=pack.min_cell_temp_c,
            max_cell_temp_c=pack.max_cell_temp_c,
            min_cell_voltage_v=pack.min_cell_voltage_v,
            max_cell_voltage_v=pack.max_cell_voltage_v,
            plating_ah=pack.plating_ah,
            ambient_c=self.vehicle.ambient_c,
            coolant_c=self.vehicle.coolant_c,
            gear=self.vehicle.gear.value,
            ignition_on=self.vehicle.ignition_on,
            reserve_soc_pct=self.vehicle.reserve_soc_pct,
            evse_available_a=self.evse.available_current_a,
            plugged_in=self.evse.plugged_in,
            cp_state=self.evse.cp_state.name,
            charge_power_w=self.charger.dc_power_w,
            bus=bus,
            frames=self.monitor.frames,
            unknown_frames=self.monitor.unknown_frames,
            decode_errors=self.monitor.decode_errors,
            e2e_errors=self.monitor.e2e_errors,
            transitions=tuple(self.dut.supervisor.transitions[-20:]) if self.dut is not None else (),
        )

    # -- running -----------------------------------------------------------
    def run_for(self, duration_s: float, *, progress: Callable[[float, float, float], None] | None = None,
                chunk_s: float = 60.0, stop: StopRequest | None = None) -> bool:
        """Advance ``duration_s`` seconds (simulated or wall), reporting progress per chunk.

        ``stop`` (set by a signal handler, say) ends the run early, after the task
        running when it was requested: every frame sent by then has reached every
        tap, the recorder's included.

        Returns:
            True if the whole duration ran, False if ``stop`` ended it early.
        """
        self.start()
        # Whole microseconds, the clock's own unit: an end in float seconds that falls off the
        # microsecond grid would be rounded down by run_until and never reached.
        end_us = self.clock.now_us + seconds_to_us(duration_s)
        chunk_us = max(1, seconds_to_us(chunk_s))
        start_wall = wall_time_s()
        start_sim = self.clock.now
        if stop is not None:
            stop.bind(self.clock)
        try:
            while self.clock.now_us < end_us:
                if stop is not None and stop.requested:
                    return False
                self.clock.run_until(min(end_us, self.clock.now_us + chunk_us) / US_PER_S)
                if progress is not None:
                    progress(self.clock.now - start_sim, duration_s, wall_time_s() - start_wall)
        finally:
            if stop is not None:
                stop.bind(None)
        return True

    @property
    def now(self) -> float:
        """Seconds since the start of the run, simulated or wall (the clock's ``now``)."""
        return self.clock.now

    #: While the bus is lost, how often :meth:`reconnect` tries to open it again (wall seconds).
    RECONNECT_EVERY_S = 0.5

    def reconnect(self, until_s: float, *, stop: StopRequest | None = None) -> bool:
        """After a lost bus (``BusError`` from a run): open every handle again and carry on.

        The clock keeps running meanwhile: the nodes' applications go on and their frames fail
        to send (counted), as an ECU's would with its cable out.  A try every
        :attr:`RECONNECT_EVERY_S` until ``until_s`` on the clock, or until ``stop``.

        Returns:
            True once every handle is open again; False if ``until_s`` or a stop came first.
        """
        for port in self._ports:
            if not port.down:
                close_bus(port.bus)
                port.down = True
        if stop is not None:
            stop.bind(self.clock)
        try:
            while self.clock.now < until_s and not (stop is not None and stop.requested):
                for port in self._ports:
                    if port.down:
                        try:
                            # A short wait for a daemon per try, so the clock and a stop keep going.
                            quick = replace(self.config.bus, connect_timeout_s=self.RECONNECT_EVERY_S)
                            port.reopen(open_bus(quick, clock=self.clock))
                        except BusError:
                            pass
                if not any(port.down for port in self._ports):
                    return True
                self.clock.run_until(min(until_s, self.clock.now + self.RECONNECT_EVERY_S))
            return False
        finally:
            if stop is not None:
                stop.bind(None)

    def close(self) -> None:
        """Stop the recording (flushing it) and shut every bus; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.recorder is not None:
                self.recorder.stop()
        finally:
            for bus in [port.bus for port in self._ports if not port.down]:
                problem = close_bus(bus)
                if problem is not None:
                    self._close_problems.append(problem)

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
