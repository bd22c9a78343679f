"""The bundled device under test, CAN side: frames in, supervisor and compute unit, frames out.

It reads BMS, VCU and OBC frames through the signal map, checks their E2E
protection and freshness itself (cantools never checks counters), hands the
CAN-free :class:`~hilbench.dut.compute.supervisor.Supervisor` an
observation, runs the :class:`~hilbench.dut.compute.unit.ComputeUnit` at the
granted budget, and reports state, reason, power, junction temperature and
tokens on its own status frames.  Scenarios only ever see those frames, so a
real car computer can take this emulator's place.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import can

from ..bus.codec import BenchCodec, MessageCodec, quantize
from ..bus.e2e import E2EReceiver
from ..bus.port import BusPort
from ..bus.sender import FrameSource
from ..clock import Clock
from ..errors import ConfigError
from .compute.calibration import PerformanceModel
from .compute.governor import Governor, ThermalTrips, TripPoint
from .compute.power import PowerLevel, PowerTable
from .compute.supervisor import DEFECTS, Observation, State, Supervisor, thermal_reason
from .compute.unit import ComputeUnit

_LEVEL_ORDER = {"NONE": 0, "WARNING": 1, "STOP_REQUEST": 2, "HARD_LIMIT": 3}
# The tick runs ten times per simulated second for hours: it reads these module
# constants rather than looking enum members, names and properties up each time.
_RUNNING, _DERATED, _SAFE_STOP = State.RUNNING, State.DERATED, State.SAFE_STOP
_STATE_NAMES: tuple[str, ...] = tuple(s.name for s in State)           # indexed by State
_LEVEL_NAMES: tuple[str, ...] = tuple(lv.name for lv in PowerLevel)    # indexed by PowerLevel
_LEVEL_COMPUTES: tuple[bool, ...] = tuple(lv.computes for lv in PowerLevel)
_P100, _OFF = PowerLevel.P100, PowerLevel.OFF
REFERENCE_PERFORMANCE = Path(__file__).with_name("compute") / "reference_performance.toml"
TICK_S = 0.1
#: The order in which ``observe`` passes the Observation's fields (positionally, for speed).
#: Checked against the dataclass when this module loads, so a field added or moved there
#: cannot silently shift every value after it into the wrong safety input.
_OBSERVATION_ORDER = (
    "now_s", "bms_fresh", "vcu_fresh", "obc_fresh", "e2e_ok",
    "gear", "drive_requested", "compute_allowed", "coolant_c", "soc_pct", "reserve_soc_pct",
    "pack_voltage_v", "pack_current_a", "dcl_a", "min_cell_voltage_v", "cell_voltage_min_limit_v",
    "bms_fault_level", "temp_fault_level", "contactor_closed", "plug_present", "cp_state", "charge_power_w",
    "junction_c", "compute_power_w",
)
if tuple(f.name for f in dataclasses.fields(Observation)) != _OBSERVATION_ORDER:
    raise ImportError("Observation's fields changed: update _OBSERVATION_ORDER and observe() in dut/emulator.py")
_INPUT_PRODUCERS = ("bms", "vcu", "obc")


def reference_performance(table: PowerTable | None = None) -> tuple[PerformanceModel, PowerTable]:
    with REFERENCE_PERFORMANCE.open("rb") as fh:
        data = tomllib.load(fh)
    table = table or PowerTable(max_w=float(data["max_power_w"]), idle_w=float(data["idle_power_w"]))
    rates = {PowerLevel[name]: float(v) for name, v in data["tokens_per_s"].items()}
    return PerformanceModel.from_rates(rates, table), table


class ComputeEmulator(FrameSource):
    def __init__(self, codec: BenchCodec, port: BusPort, clock: Clock, unit: ComputeUnit,
                 supervisor: Supervisor, *, tick_s: float = TICK_S) -> None:
        super().__init__(port, clock)
        self.codec = codec
        self.unit = unit
        self.supervisor = supervisor
        self.tick_s = tick_s
        self.inputs: dict[str, object] = {}
        self._latest_by_message: dict[str, dict[str, object]] = {}
        self.values: dict[str, object] = {
            "cu_state": "OFF", "cu_power_level": "OFF", "cu_reason": "NO_DATA", "compute_power_w": 0.0,
            "junction_temp_c": unit.thermal.junction_c, "tokens_per_s": 0.0, "cu_requested_level": "OFF",
            "cu_requested_pack_current_a": 0.0, "cu_keep_awake": 0, "tokens_total": 0,
            "energy_from_pack_wh": 0.0, "energy_from_grid_wh": 0.0,
        }
        self.energy_from_pack_j = 0.0
        self.energy_from_grid_j = 0.0
        self.e2e_errors = 0
        self.decode_errors = 0
        self._last_valid_s: dict[str, float] = {}
        self._receivers: dict[str, E2EReceiver] = {}
        group_of: dict[str, str] = {}
        for producer in _INPUT_PRODUCERS:
            for name in codec.signal_map.messages_of(producer):
                msg_codec = codec.message(name)
                if not msg_codec.slots:
                    continue  # per-cell detail: the compute unit does not need it
                group_of[name] = producer
                receiver = self._receivers.get(name)
                if receiver is None and msg_codec.e2e_base is not None:
                    receiver = self._receivers[name] = E2EReceiver(msg_codec.e2e_base)
                port.subscribe(msg_codec.frame_id, self._frame_handler(msg_codec, receiver),
                               extended=msg_codec.is_extended_id)
        self._receivers_list = tuple(self._receivers.values())
        # The roles dict each message last brought into ``inputs`` (see observe); None when two
        # input messages carry the same role, where the order of every merge matters.
        input_roles = [slot.role for name in group_of for slot in codec.message(name).slots]
        self._merged: dict[str, dict[str, object]] | None = {} if len(input_roles) == len(set(input_roles)) else None
        #: The names of the messages of each producer the unit consumes, for the freshness checks.
        self._names_of: dict[str, tuple[str, ...]] = {
            producer: tuple(n for n, g in group_of.items() if g == producer) for producer in _INPUT_PRODUCERS}
        self._senders = {name: codec.fresh_sender(name) for name in codec.signal_map.messages_of("cu")}
        self._lsb = codec.resolutions(("compute_power_w", "junction_temp_c", "tokens_per_s",
                                       "cu_requested_pack_current_a", "energy_from_pack_wh", "energy_from_grid_wh"))
        self._observed_inputs: tuple[object, ...] | None = None
        self._started = False
        self.last_decision = None
        self._token_window: deque[int] = deque(maxlen=max(1, round(1.0 / tick_s)))

    @classmethod
    def from_config(cls, codec: BenchCodec, port: BusPort, clock: Clock, *, seed: int = 0,
                    fidelity: str = "model", performance: str = "reference", defect: str | Iterable[str] | None = None,
                    model: str | None = None, coolant_c: float = 25.0, tick_s: float = TICK_S,
                    **unknown: Any) -> ComputeEmulator:
        """Build the emulator from the ``dut`` table of a bench config.

        Raises:
            ConfigError: an unknown key, fidelity, performance source or defect.
        """
        if unknown:
            raise ConfigError(None, "dut", f"unknown key(s) {sorted(unknown)}; allowed: fidelity, performance, "
                                           "defect, model, coolant_c, tick_s")
        defects = frozenset([defect] if isinstance(defect, str) else (defect or ()))
        unknown_defects = defects - set(DEFECTS)
        if unknown_defects:
            raise ConfigError(None, "dut.defect", f"unknown defect(s) {sorted(unknown_defects)}; "
                                                  f"known: {', '.join(DEFECTS)}")
        if performance not in ("reference", "calibrated"):
            raise ConfigError(None, "dut.performance", f"expected 'reference' or 'calibrated', got {performance!r}")
        perf, table = reference_performance()
        engine = None
        if fidelity == "real" or performance == "calibrated":
            from .compute.calibration import calibrate
            from .compute.engine import BUNDLED_MANIFEST, InferenceEngine, bundled_model

            if not model:
                path, manifest = str(bundled_model()), str(BUNDLED_MANIFEST)
            elif bundled_model(f"{model}.onnx").is_file():
                # A bundled model by name ("tiny-llm-int8"): checked against the shipped manifest.
                path, manifest = str(bundled_model(f"{model}.onnx")), str(BUNDLED_MANIFEST)
            else:
                path, manifest = model, None
            engine = InferenceEngine(path, manifest=manifest)
            if performance == "calibrated":
                perf = calibrate(engine, table)
        trips = None
        if "ignore_thermal" in defects:
            trips = ThermalTrips(TripPoint(500.0, 5.0), TripPoint(600.0, 2.0), TripPoint(700.0, 15.0))
        elif "wrong_hysteresis" in defects:
            default = ThermalTrips()
            trips = ThermalTrips(TripPoint(default.passive.temp_c, 0.0), TripPoint(default.hot.temp_c, 0.0),
                                 TripPoint(default.critical.temp_c, 0.0))
        unit = ComputeUnit(perf, table=table, fidelity=fidelity, engine=engine,  # type: ignore[arg-type]
                           governor=Governor(trips=trips, levels=table), seed=seed, coolant_c=coolant_c)
        supervisor = Supervisor(max_power_w=table.max_w, defects=defects)
        return cls(codec, port, clock, unit, supervisor, tick_s=tick_s)

    # -- receiving -------------------------------------------------------------
    def _frame_handler(self, msg_codec: MessageCodec, receiver: E2EReceiver | None) -> Callable[[can.Message], None]:
        """The port handler for one input message.

        Each message gets its own handler with its codec, E2E receiver and name
        bound, so a frame costs no lookups before it is decoded and checked.
        """
        name = msg_codec.name
        clock = self.clock
        latest = self._latest_by_message
        last_valid = self._last_valid_s
        receive = msg_codec.receive
        check = receiver.check if receiver is not None else None

        def on_frame(msg: can.Message) -> None:
            data = msg.data
            try:
                roles, crc_ok = receive(data)
            except Exception:
                self.decode_errors += 1
                return
            if check is not None and check(data, crc_ok) is not None:
                self.e2e_errors += 1
                return  # a frame that fails E2E is never used
            latest[name] = roles   # merged into inputs at the next tick
            # Arrival time as the frame says, but never later than now: an adapter whose clock
            # runs ahead must not make stale data look fresh.  This is min(arrived, now) spelled
            # out (same result, NaN included) to save a builtin call on every frame.
            arrived = msg.timestamp - clock.epoch_s
            now = clock.now
            last_valid[name] = now if now < arrived else arrived  # noqa: FURB136

        return on_frame

    def _fresh(self, names: tuple[str, ...], oldest: float) -> bool:
        """Every message in ``names`` (one producer's) was received valid at or after ``oldest``."""
        last = self._last_valid_s
        for name in names:
            if last.get(name, -1e9) < oldest:
                return False
        return bool(names)

    def observe(self) -> Observation:
        """What the unit knows now, from valid, fresh frames only."""
        if self._merge_latest() or self._observed_inputs is None:
            self._observed_inputs = self._observe_inputs()
        now = self.clock.now
        e2e_ok = True
        for receiver in self._receivers_list:
            if receiver.tally >= receiver.max_tally:
                e2e_ok = False
                break
        names_of = self._names_of
        oldest = now - self.supervisor.params.stale_after_s
        last = self.unit.last
        # Positional, in the dataclass's field order (tests/dut/test_emulator_inputs.py checks it against
        # the keyword form): passing two dozen arguments by keyword costs more than the rest of observe.
        return Observation(
            now,
            self._fresh(names_of["bms"], oldest), self._fresh(names_of["vcu"], oldest),
            self._fresh(names_of["obc"], oldest),
            e2e_ok,
            *self._observed_inputs,
            self.unit.thermal.junction_c,
            last.power_w if last else 0.0,
        )

    def _merge_latest(self) -> bool:
        """Merge the roles each message last brought into ``inputs``; True if ``inputs`` may have changed."""
        latest = self._latest_by_message
        if not latest:
            return False
        i = self.inputs
        merged = self._merged
        changed = False
        for name, roles in latest.items():
            # The codec hands out one shared, read-only dict per distinct payload (counter and
            # CRC aside; tests/dut/test_emulator_inputs.py holds it to that).  When no other
            # message carries the same roles, a message that brings the very dict merged last
            # time would change nothing in ``inputs``: skip the merge.
            if merged is None:
                i.update(roles)
                changed = True
            elif roles is not merged.get(name):
                merged[name] = roles
                i.update(roles)
                changed = True
        latest.clear()
        return changed

    def _observe_inputs(self) -> tuple[object, ...]:
        """The Observation fields that come from ``inputs``: ``gear`` to ``charge_power_w``, in the
        dataclass's order.  They change only when a merge changes ``inputs``; observe keeps them until then."""
        get = self.inputs.get
        temp_level = max(_LEVEL_ORDER.get(get("over_temp_discharge"), 0),  # type: ignore[arg-type]
                         _LEVEL_ORDER.get(get("under_temp_discharge"), 0))  # type: ignore[arg-type]
        return (
            get("gear"),                                        # gear
            bool(get("drive_requested", 0)),                    # drive_requested
            bool(get("compute_allowed", 1)),                    # compute_allowed
            get("coolant_temp_c"),                              # coolant_c
            get("soc_pct"),                                     # soc_pct
            get("range_reserve_soc_pct"),                       # reserve_soc_pct
            get("pack_voltage_v"),                              # pack_voltage_v
            get("pack_current_a"),                              # pack_current_a
            get("discharge_current_limit_a"),                   # dcl_a
            get("min_cell_voltage_v"),                          # min_cell_voltage_v
            get("cell_voltage_min_limit_v"),                    # cell_voltage_min_limit_v
            get("bms_fault_level"),                             # bms_fault_level
            temp_level,                                         # temp_fault_level
            get("contactor_state", "CLOSED") == "CLOSED",       # contactor_closed
            bool(get("plug_present", 0)),                       # plug_present
            get("cp_state"),                                    # cp_state
            get("charge_power_w") or 0.0,                       # charge_power_w
        )

    # -- the tick ----------------------------------------------------------------
    def tick(self) -> None:
        # Like an ECU's periodic CAN task: take every frame that arrived since the last tick
        # (each is still E2E-checked in order), then decide on the freshest values.
        self.port.poll()
        obs = self.observe()
        supervisor = self.supervisor
        unit = self.unit
        decision = supervisor.decide(obs)
        self.last_decision = decision
        computes = decision.computes
        coolant = obs.coolant_c if obs.coolant_c is not None else unit.coolant_c
        if computes:
            result = unit.tick(self.tick_s, _P100, budget_w=decision.budget_w, coolant_c=coolant)
        else:
            result = unit.tick(self.tick_s, _OFF, coolant_c=coolant)
        state, reason = decision.state, decision.reason
        thermal = thermal_reason(result.reason) if computes else None
        if thermal == "JUNCTION_CRITICAL":
            state, reason = _SAFE_STOP, thermal
        elif thermal is not None:
            state, reason = _DERATED, thermal
        energy_j = result.energy_j
        if obs.plug_present and obs.cp_state in ("C", "D") and obs.charge_power_w > 0:
            self.energy_from_grid_j += energy_j
        else:
            self.energy_from_pack_j += energy_j
        level = result.level
        level_computes = _LEVEL_COMPUTES[level]
        if computes and not level_computes and result.reason == "budget" and state in (_RUNNING, _DERATED):
            # The granted budget does not reach the lowest computing level: say the unit
            # stopped, rather than report a derated unit that makes no tokens.
            state = _SAFE_STOP
        supervisor.report(obs.now_s, state, reason)
        computing = state in (_RUNNING, _DERATED) and level_computes
        v = self.values
        v["cu_state"] = _STATE_NAMES[state]
        v["cu_reason"] = reason
        v["cu_power_level"] = _LEVEL_NAMES[level]
        v["cu_requested_level"] = "P100" if computing else "OFF"
        v["compute_power_w"] = result.power_w
        v["junction_temp_c"] = result.junction_c
        # Tokens come in whole numbers per tick; report the rate over the last second
        # (the window's maxlen is one second of ticks).
        window = self._token_window
        window.append(result.tokens)
        v["tokens_per_s"] = sum(window) / (len(window) * self.tick_s)
        v["tokens_total"] = unit.tokens_total
        v["cu_keep_awake"] = 1 if computing else 0
        pack_v = obs.pack_voltage_v or 0.0
        v["cu_requested_pack_current_a"] = (result.power_w / supervisor.params.dcdc_efficiency / pack_v
                                            if pack_v > 0 else 0.0)
        v["energy_from_pack_wh"] = self.energy_from_pack_j / 3600.0
        v["energy_from_grid_wh"] = self.energy_from_grid_j / 3600.0
        quantize(v, self._lsb)

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.clock.call_every(self.tick_s, self.tick, offset_s=0.005)
        values = self.values
        for index, (name, sender) in enumerate(self._senders.items()):
            self.schedule(name, sender, lambda s: s.encode(values), offset_s=0.006 + index * 0.001)

    def snapshot(self) -> dict[str, object]:
        return {**self.values, "transitions": list(self.supervisor.transitions[-20:]),
                "e2e_errors": self.e2e_errors}
