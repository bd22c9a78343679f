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

import tomllib
from collections import deque
from collections.abc import Iterable
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
REFERENCE_PERFORMANCE = Path(__file__).with_name("compute") / "reference_performance.toml"
TICK_S = 0.1
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
        self._group_of: dict[str, str] = {}
        self._names_of: dict[str, tuple[str, ...]] = {}
        self._receivers: dict[str, E2EReceiver] = {}
        self._rx: dict[tuple[int, bool], MessageCodec] = {}
        for producer in _INPUT_PRODUCERS:
            for name in codec.signal_map.messages_of(producer):
                msg_codec = codec.message(name)
                if not msg_codec.slots:
                    continue  # per-cell detail: the compute unit does not need it
                self._group_of[name] = producer
                self._rx[(msg_codec.frame_id, msg_codec.is_extended_id)] = msg_codec
                if msg_codec.e2e_base is not None:
                    self._receivers[name] = E2EReceiver(msg_codec.e2e_base)
                port.subscribe(msg_codec.frame_id, self._on_frame, extended=msg_codec.is_extended_id)
        self._receivers_list = tuple(self._receivers.values())
        self._senders = {name: codec.fresh_sender(name) for name in codec.signal_map.messages_of("cu")}
        self._lsb = codec.resolutions(("compute_power_w", "junction_temp_c", "tokens_per_s",
                                       "cu_requested_pack_current_a", "energy_from_pack_wh", "energy_from_grid_wh"))
        self._started = False
        self.last_decision = None
        self._window_ticks = max(1, round(1.0 / tick_s))
        self._token_window: deque[int] = deque()

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
    def _on_frame(self, msg: can.Message) -> None:
        codec_msg = self._rx[(msg.arbitration_id, msg.is_extended_id)]
        try:
            roles, crc_ok = codec_msg.receive(msg.data)
        except Exception:
            self.decode_errors += 1
            return
        receiver = self._receivers.get(codec_msg.name)
        if receiver is not None and receiver.check(msg.data, crc_ok) is not None:
            self.e2e_errors += 1
            return  # a frame that fails E2E is never used
        self._latest_by_message[codec_msg.name] = roles   # merged into inputs at the next tick
        # Arrival time as the frame says, but never later than now: an adapter whose clock
        # runs ahead must not make stale data look fresh.
        self._last_valid_s[codec_msg.name] = min(msg.timestamp - self.clock.epoch_s, self.clock.now)

    def _fresh(self, producer: str, now: float) -> bool:
        """Every message of ``producer`` the unit consumes was received valid within the timeout."""
        names = self._names_of.get(producer)
        if names is None:
            names = self._names_of[producer] = tuple(n for n, g in self._group_of.items() if g == producer)
        oldest = now - self.supervisor.params.stale_after_s
        last = self._last_valid_s
        for name in names:
            if last.get(name, -1e9) < oldest:
                return False
        return bool(names)

    def observe(self) -> Observation:
        """What the unit knows now, from valid, fresh frames only."""
        now = self.clock.now
        i = self.inputs
        for roles in self._latest_by_message.values():
            i.update(roles)
        self._latest_by_message.clear()
        get = i.get
        last = self.unit.last
        e2e_ok = True
        for receiver in self._receivers_list:
            if receiver.tally >= receiver.max_tally:
                e2e_ok = False
                break
        temp_level = max(_LEVEL_ORDER.get(get("over_temp_discharge"), 0),  # type: ignore[arg-type]
                         _LEVEL_ORDER.get(get("under_temp_discharge"), 0))  # type: ignore[arg-type]
        return Observation(
            now_s=now,
            bms_fresh=self._fresh("bms", now), vcu_fresh=self._fresh("vcu", now), obc_fresh=self._fresh("obc", now),
            e2e_ok=e2e_ok,
            gear=get("gear"),  # type: ignore[arg-type]
            drive_requested=bool(get("drive_requested", 0)),
            compute_allowed=bool(get("compute_allowed", 1)),
            coolant_c=get("coolant_temp_c"),  # type: ignore[arg-type]
            soc_pct=get("soc_pct"), reserve_soc_pct=get("range_reserve_soc_pct"),  # type: ignore[arg-type]
            pack_voltage_v=get("pack_voltage_v"), pack_current_a=get("pack_current_a"),  # type: ignore[arg-type]
            dcl_a=get("discharge_current_limit_a"),  # type: ignore[arg-type]
            min_cell_voltage_v=get("min_cell_voltage_v"),  # type: ignore[arg-type]
            cell_voltage_min_limit_v=get("cell_voltage_min_limit_v"),  # type: ignore[arg-type]
            bms_fault_level=get("bms_fault_level"),  # type: ignore[arg-type]
            temp_fault_level=temp_level,
            contactor_closed=get("contactor_state", "CLOSED") == "CLOSED",
            plug_present=bool(get("plug_present", 0)),
            cp_state=get("cp_state"),  # type: ignore[arg-type]
            charge_power_w=get("charge_power_w") or 0.0,  # type: ignore[arg-type]
            junction_c=self.unit.thermal.junction_c,
            compute_power_w=last.power_w if last else 0.0,
        )

    # -- the tick ----------------------------------------------------------------
    def tick(self) -> None:
        # Like an ECU's periodic CAN task: take every frame that arrived since the last tick
        # (each is still E2E-checked in order), then decide on the freshest values.
        self.port.poll()
        obs = self.observe()
        decision = self.supervisor.decide(obs)
        self.last_decision = decision
        coolant = obs.coolant_c if obs.coolant_c is not None else self.unit.coolant_c
        if decision.computes:
            result = self.unit.tick(self.tick_s, PowerLevel.P100, budget_w=decision.budget_w, coolant_c=coolant)
        else:
            result = self.unit.tick(self.tick_s, PowerLevel.OFF, coolant_c=coolant)
        state, reason = decision.state, decision.reason
        thermal = thermal_reason(result.reason) if decision.computes else None
        if thermal == "JUNCTION_CRITICAL":
            state, reason = State.SAFE_STOP, thermal
        elif thermal is not None:
            state, reason = State.DERATED, thermal
        energy_j = result.energy_j
        if obs.plug_present and obs.cp_state in ("C", "D") and obs.charge_power_w > 0:
            self.energy_from_grid_j += energy_j
        else:
            self.energy_from_pack_j += energy_j
        if (decision.computes and not result.level.computes and result.reason == "budget"
                and state in (State.RUNNING, State.DERATED)):
            # The granted budget does not reach the lowest computing level: say the unit
            # stopped, rather than report a derated unit that makes no tokens.
            state = State.SAFE_STOP
        self.supervisor.report(obs.now_s, state, reason)
        computing = state in (State.RUNNING, State.DERATED) and result.level.computes
        v = self.values
        v["cu_state"] = state.name
        v["cu_reason"] = reason
        v["cu_power_level"] = result.level.name
        v["cu_requested_level"] = "P100" if computing else "OFF"
        v["compute_power_w"] = result.power_w
        v["junction_temp_c"] = result.junction_c
        # Tokens come in whole numbers per tick; report the rate over the last second.
        window = self._token_window
        window.append(result.tokens)
        if len(window) > self._window_ticks:
            window.popleft()
        v["tokens_per_s"] = sum(window) / (len(window) * self.tick_s)
        v["tokens_total"] = self.unit.tokens_total
        v["cu_keep_awake"] = 1 if computing else 0
        pack_v = obs.pack_voltage_v or 0.0
        v["cu_requested_pack_current_a"] = (result.power_w / self.supervisor.params.dcdc_efficiency / pack_v
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
