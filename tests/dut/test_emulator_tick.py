"""What the compute unit says on the bus, tick by tick, for what the car tells it.

``ComputeEmulator.tick`` turns each decision into the unit's status: its state and reason,
the level it runs at and the one it asks for, its power, junction, tokens, the pack current
it asks for, the energy it took from the pack or the grid, and the input a stop names.
Each test here runs the bundled unit in simulated time on a small bus of its own: the car's
frames (the pack, the weakest cell and the discharge limit, the gear and the coolant, the
charger) built from plain role values, and the unit's four status messages as a car's DBC
might lay them out, fine enough to show every figure (energy to the microwatt-hour, the
requested current to the milliampere).  The tests read only those frames (and, for the
transition log, the unit's snapshot), with figures worked out from the reference table:
P100 draws 60 W and makes 20 tokens/s, P25 21.75 W and 7 tokens/s, IDLE 9 W and none; the
DC-DC converter is 93 % efficient (``supervisor.toml``).

Each session is built by the test that judges it (no module-scoped fixture), so a mutation
tool that maps tests to the functions they call sees every test here call ``tick``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import can
import pytest

from hilbench.bus import BenchCodec, BusConfig, load_bus_description
from hilbench.bus.open import open_port
from hilbench.bus.roles import REASONS
from hilbench.clock import SimClock
from hilbench.dut.emulator import ComputeEmulator

TICK_S = 0.1
DCDC_EFFICIENCY = 0.93              # supervisor.toml [current] dcdc_efficiency
P100_W, P25_W, IDLE_W = 60.0, 21.75, 9.0
P100_TOKENS_PER_S, P25_TOKENS_PER_S = 20.0, 7.0
BMS_PACK_ID = 0x110

DBC = '''VERSION ""

NS_ :

BS_:

BU_: BMS VCU OBC CU

BO_ 272 BMS_Pack: 8 BMS
 SG_ Voltage : 0|16@1+ (0.1,0) [0|1000] "V" CU
 SG_ Current : 16|16@1- (0.1,0) [-1000|1000] "A" CU
 SG_ StateOfCharge : 32|8@1+ (0.5,0) [0|100] "%" CU
 SG_ Fault : 40|2@1+ (1,0) [0|3] "" CU

BO_ 273 BMS_Thermal: 8 BMS
 SG_ CellVMin : 0|16@1+ (0.001,0) [0|5] "V" CU
 SG_ DischargeLimit : 48|16@1+ (0.1,0) [0|1000] "A" CU

BO_ 512 VCU_State: 8 VCU
 SG_ Gear : 0|3@1+ (1,0) [0|7] "" CU
 SG_ DriveReq : 4|1@1+ (1,0) [0|1] "" CU
 SG_ Reserve : 8|8@1+ (0.5,0) [0|100] "%" CU
 SG_ Coolant : 16|8@1+ (1,-40) [-40|215] "degC" CU

BO_ 768 OBC_State: 8 OBC
 SG_ Pilot : 0|3@1+ (1,0) [0|7] "" CU
 SG_ Plug : 3|1@1+ (1,0) [0|1] "" CU
 SG_ ChargePower : 8|16@1+ (1,0) [0|65535] "W" CU

BO_ 1024 CU_State: 8 CU
 SG_ State : 0|3@1+ (1,0) [0|7] "" BMS
 SG_ Level : 3|3@1+ (1,0) [0|7] "" BMS
 SG_ Reason : 8|5@1+ (1,0) [0|31] "" BMS
 SG_ Power : 16|16@1+ (0.1,0) [0|6000] "W" BMS
 SG_ Junction : 32|16@1+ (0.1,-40) [-40|200] "degC" BMS
 SG_ TokenRate : 48|16@1+ (0.01,0) [0|655.35] "tok/s" BMS

BO_ 1025 CU_Request: 8 CU
 SG_ ReqLevel : 0|4@1+ (1,0) [0|15] "" BMS
 SG_ KeepAwake : 4|2@1+ (1,0) [0|3] "" BMS
 SG_ ReqCurrent : 8|16@1+ (0.001,0) [0|65.535] "A" BMS
 SG_ Tokens : 24|32@1+ (1,0) [0|4294967295] "tok" BMS

BO_ 1026 CU_Energy: 8 CU
 SG_ FromPack : 0|32@1+ (1e-06,0) [0|4294.967295] "Wh" BMS
 SG_ FromGrid : 32|32@1+ (1e-06,0) [0|4294.967295] "Wh" BMS

BO_ 1027 CU_Health: 8 CU
 SG_ FrameId : 0|29@1+ (1,0) [0|536870911] "" BMS
 SG_ InputState : 29|3@1+ (1,0) [0|7] "" BMS

BA_DEF_ BO_ "GenMsgCycleTime" INT 0 65535;
BA_DEF_DEF_ "GenMsgCycleTime" 0;
BA_ "GenMsgCycleTime" BO_ 272 100;
BA_ "GenMsgCycleTime" BO_ 273 1000;
BA_ "GenMsgCycleTime" BO_ 512 100;
BA_ "GenMsgCycleTime" BO_ 768 100;
BA_ "GenMsgCycleTime" BO_ 1024 100;
BA_ "GenMsgCycleTime" BO_ 1025 100;
BA_ "GenMsgCycleTime" BO_ 1026 100;
BA_ "GenMsgCycleTime" BO_ 1027 1000;
VAL_ 272 Fault 0 "NONE" 1 "WARNING" 2 "STOP_REQUEST" 3 "HARD_LIMIT" ;
VAL_ 512 Gear 0 "P" 1 "R" 2 "N" 3 "D" ;
VAL_ 768 Pilot 0 "A" 1 "B" 2 "C" 3 "D" 4 "E" 5 "F" ;
VAL_ 1024 State 0 "OFF" 1 "STANDBY" 2 "RUNNING" 3 "DERATED" 4 "SAFE_STOP" 5 "FAULT" ;
VAL_ 1024 Level 0 "OFF" 1 "IDLE" 2 "P25" 3 "P50" 4 "P75" 5 "P100" ;
VAL_ 1024 Reason {REASONS} ;
VAL_ 1025 ReqLevel 0 "OFF" 1 "IDLE" 2 "P25" 3 "P50" 4 "P75" 5 "P100" ;
VAL_ 1027 InputState 0 "NONE" 1 "NODATA" 2 "INIT" 3 "VALID" 4 "INVALID" 5 "STALE" ;
'''

ROLES = {
    "pack_voltage_v": ("BMS_Pack", "Voltage"), "pack_current_a": ("BMS_Pack", "Current"),
    "soc_pct": ("BMS_Pack", "StateOfCharge"), "bms_fault_level": ("BMS_Pack", "Fault"),
    "min_cell_voltage_v": ("BMS_Thermal", "CellVMin"), "discharge_current_limit_a": ("BMS_Thermal", "DischargeLimit"),
    "gear": ("VCU_State", "Gear"), "drive_requested": ("VCU_State", "DriveReq"),
    "range_reserve_soc_pct": ("VCU_State", "Reserve"), "coolant_temp_c": ("VCU_State", "Coolant"),
    "cp_state": ("OBC_State", "Pilot"), "plug_present": ("OBC_State", "Plug"),
    "charge_power_w": ("OBC_State", "ChargePower"),
    "cu_state": ("CU_State", "State"), "cu_power_level": ("CU_State", "Level"), "cu_reason": ("CU_State", "Reason"),
    "compute_power_w": ("CU_State", "Power"), "junction_temp_c": ("CU_State", "Junction"),
    "tokens_per_s": ("CU_State", "TokenRate"),
    "cu_requested_level": ("CU_Request", "ReqLevel"), "cu_keep_awake": ("CU_Request", "KeepAwake"),
    "cu_requested_pack_current_a": ("CU_Request", "ReqCurrent"), "tokens_total": ("CU_Request", "Tokens"),
    "energy_from_pack_wh": ("CU_Energy", "FromPack"), "energy_from_grid_wh": ("CU_Energy", "FromGrid"),
    "cu_reason_frame_id": ("CU_Health", "FrameId"), "cu_reason_input_state": ("CU_Health", "InputState"),
}
STATUS_MESSAGES = ("CU_State", "CU_Request", "CU_Energy", "CU_Health")

#: A parked, healthy car at 60 % with a 20 % reserve, unplugged, its coolant at 25 C, drawing 3 A itself.
CAR: dict[str, object] = {
    "pack_voltage_v": 400.0, "pack_current_a": 3.0, "soc_pct": 60.0, "bms_fault_level": "NONE",
    "min_cell_voltage_v": 3.70, "discharge_current_limit_a": 300.0,
    "gear": "P", "drive_requested": 0, "range_reserve_soc_pct": 20.0, "coolant_temp_c": 25.0,
    "cp_state": "A", "plug_present": 0, "charge_power_w": 0.0,
}

_CHANNELS = itertools.count()


class Car:
    """The car's frames from :attr:`values` on a simtime bus, the unit on its own handle, its frames decoded."""

    def __init__(self, folder: Path, values: Mapping[str, object] | None = None,
                 dut: Mapping[str, object] | None = None, drop: tuple[str, ...] = ()) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cu.dbc").write_text(DBC.replace("{REASONS}", " ".join(f'{i} "{r}"' for i, r in enumerate(REASONS))))
        (folder / "cu.signals.toml").write_text("[roles]\n" + "".join(
            f'{role} = {{ message = "{m}", signal = "{s}" }}\n' for role, (m, s) in ROLES.items() if role not in drop))
        description = load_bus_description([folder / "cu.dbc"], folder / "cu.signals.toml", require=())
        codec = BenchCodec(description.db, description.signal_map)
        self.clock = SimClock()
        self.values = {**CAR, **(values or {})}
        self.silent: set[str] = set()
        #: message -> [(time s, decoded roles)] of every frame the unit sent
        self.frames: dict[str, list[tuple[float, dict[str, object]]]] = {name: [] for name in STATUS_MESSAGES}
        self.mapped = {m for role, (m, _s) in ROLES.items() if role not in drop}
        config = BusConfig("simtime", f"cu-tick-{next(_CHANNELS)}")
        self._ports = [open_port(config, self.clock, polled_by_owner=True)]
        self.car = self._ports[0]
        try:
            self._ports.append(open_port(config, self.clock, polled_by_owner=True))
            self.unit = ComputeEmulator.from_config(codec, self._ports[1], self.clock, **(dut or {}))
        except BaseException:
            self.close()
            raise
        for name in STATUS_MESSAGES:
            if name not in self.mapped:
                continue
            msg_codec = codec.message(name)
            self.car.subscribe(msg_codec.frame_id, self._recorder(name, msg_codec))
        for index, producer in enumerate(("bms", "vcu", "obc")):
            for name in codec.signal_map.messages_of(producer):
                sender = codec.fresh_sender(name)
                self.clock.call_every(sender.cycle_time_s, self._feeder(name, sender), offset_s=0.002 + 0.001 * index)
        self.unit.start()

    def _recorder(self, name: str, msg_codec) -> Callable[[can.Message], None]:
        frames = self.frames[name]
        return lambda msg: frames.append((msg.timestamp - self.clock.epoch_s, msg_codec.decode_roles(msg.data)))

    def _feeder(self, name: str, sender) -> Callable[[], None]:
        def feed() -> None:
            if name not in self.silent:
                self.car.send(sender.encode(self.values))
        return feed

    def at(self, t_s: float, **values: object) -> None:
        """From ``t_s`` on, the car says ``values``."""
        self.clock.call_at(t_s, lambda: self.values.update(values))

    def run_until(self, t_s: float) -> None:
        self.clock.run_until(t_s)
        self.car.poll()

    def seen(self, role: str) -> list[tuple[float, object]]:
        """(time, value) of ``role`` in every frame of the unit's message that carries it."""
        message = ROLES[role][0]
        return [(t, roles[role]) for t, roles in self.frames[message]]

    def values_of(self, role: str, after_s: float = -1.0) -> list[object]:
        return [v for t, v in self.seen(role) if t > after_s]

    def changes(self) -> list[tuple[float, str, str]]:
        """(time, state, reason) of every CU_State frame whose state or reason differs from the one before."""
        out: list[tuple[float, str, str]] = []
        for t, roles in self.frames["CU_State"]:
            if not out or out[-1][1:] != (roles["cu_state"], roles["cu_reason"]):
                out.append((t, str(roles["cu_state"]), str(roles["cu_reason"])))
        return out

    def close(self) -> None:
        for port in self._ports:
            port.bus.shutdown()


@pytest.fixture
def car(tmp_path: Path) -> Iterator[Callable[..., Car]]:
    """``car(values=..., dut=..., drop=...)`` -> a :class:`Car` with the unit started (``drop``: roles the
    map leaves out); closed after the test."""
    cars: list[Car] = []
    folders = itertools.count()

    def make(values: Mapping[str, object] | None = None, dut: Mapping[str, object] | None = None,
             drop: tuple[str, ...] = ()) -> Car:
        made = Car(tmp_path / f"car{next(folders)}", values, dut, drop)
        cars.append(made)
        return made

    yield make
    for made in cars:
        made.close()


def _frames_before(frames: list[tuple[float, dict[str, object]]], t_s: float) -> list[dict[str, object]]:
    return [roles for t, roles in frames if t <= t_s]


def check_energy_booked(bus: Car, account: str) -> None:
    """Every CU_Energy frame books on ``account`` exactly the energy of the power the unit reported so
    far (one CU_State frame per tick, each the power of its tick), and nothing on the other account."""
    other = "energy_from_grid_wh" if account == "energy_from_pack_wh" else "energy_from_pack_wh"
    energy_frames = bus.frames["CU_Energy"]
    assert len(energy_frames) >= 100
    for t, roles in energy_frames:
        drawn_wh = sum(float(s["compute_power_w"]) for s in _frames_before(bus.frames["CU_State"], t)) * TICK_S / 3600.0
        assert roles[account] == pytest.approx(drawn_wh, abs=1.5e-6), t
        assert roles[other] == 0.0, t


# -- a unit computing at full power ------------------------------------------------------------------
def test_a_running_unit_reports_its_level_its_request_and_what_it_makes(car) -> None:
    bus = car()
    bus.run_until(10.0)
    states = bus.frames["CU_State"]
    assert len(states) == 100
    for t, s in states:
        assert (s["cu_state"], s["cu_reason"], s["cu_power_level"], s["compute_power_w"]) == (
            "RUNNING", "NONE", "P100", P100_W), t
        # Tokens per second over the last second, or over the ticks so far in the first one: 2 tokens a tick.
        assert s["tokens_per_s"] == P100_TOKENS_PER_S, t
    requests = bus.frames["CU_Request"]
    assert len(requests) == 100
    # 60 W through the 93 % DC-DC converter from a 400 V pack: 0.161 A.
    current_a = P100_W / DCDC_EFFICIENCY / 400.0
    for n, (t, r) in enumerate(requests, start=1):
        assert (r["cu_requested_level"], r["cu_keep_awake"]) == ("P100", 1), t
        assert r["cu_requested_pack_current_a"] == pytest.approx(current_a, abs=0.001), t
        assert r["tokens_total"] == 2 * n, t          # every token made so far, 2 a tick
    assert bus.values_of("cu_reason_frame_id") == [0] * 10
    assert bus.values_of("cu_reason_input_state") == ["NONE"] * 10
    check_energy_booked(bus, "energy_from_pack_wh")
    assert bus.frames["CU_Energy"][-1][1]["energy_from_pack_wh"] == pytest.approx(P100_W * 10.0 / 3600.0, abs=2e-6)


def test_after_a_stop_the_token_rate_falls_over_one_second_and_nothing_is_asked_for(car) -> None:
    bus = car()
    bus.at(5.0, gear="D")
    bus.run_until(8.0)
    (t_run, *_), (t_stop, state, reason) = bus.changes()
    assert (state, reason) == ("STANDBY", "GEAR_NOT_PARK") and 5.0 < t_stop < 5.0 + 2 * TICK_S
    # The rate over the last second: each tick without tokens takes one 2-token tick out of the window.
    rates = bus.values_of("tokens_per_s", after_s=t_stop - 0.01)
    assert rates[:12] == pytest.approx([18.0, 16.0, 14.0, 12.0, 10.0, 8.0, 6.0, 4.0, 2.0, 0.0, 0.0, 0.0])
    assert set(bus.values_of("cu_power_level", after_s=t_stop - 0.01)) == {"OFF"}
    assert set(bus.values_of("compute_power_w", after_s=t_stop - 0.01)) == {0.0}
    after = [r for t, r in bus.frames["CU_Request"] if t > t_stop]
    assert {(r["cu_requested_level"], r["cu_keep_awake"], r["cu_requested_pack_current_a"]) for r in after} == {
        ("OFF", 0, 0.0)}
    assert {r["tokens_total"] for r in after} == {100}    # 5 s at 20 tokens/s, and not one more


# -- where the energy comes from --------------------------------------------------------------------
CHARGING = {"plug_present": 1, "cp_state": "C", "charge_power_w": 7000.0, "pack_current_a": -17.0}


@pytest.mark.parametrize(("values", "account"), [
    pytest.param({}, "energy_from_pack_wh", id="unplugged"),
    pytest.param(CHARGING, "energy_from_grid_wh", id="charging, pilot C"),
    pytest.param({**CHARGING, "cp_state": "D"}, "energy_from_grid_wh", id="charging, pilot D (ventilation)"),
    # The OBC's report lags its real power as it ramps up; its first watt already counts as a charge.
    pytest.param({**CHARGING, "charge_power_w": 1.0}, "energy_from_grid_wh", id="charger reports its first watt"),
    pytest.param({"plug_present": 1, "cp_state": "C", "charge_power_w": 0.0}, "energy_from_pack_wh",
                 id="plugged, pilot C, charger not delivering"),
    pytest.param({"plug_present": 1, "cp_state": "B", "charge_power_w": 0.0}, "energy_from_pack_wh",
                 id="plugged, EVSE not ready (pilot B)"),
    pytest.param({**CHARGING, "cp_state": "E"}, "energy_from_pack_wh", id="pilot error, the OBC still reports power"),
    pytest.param({**CHARGING, "plug_present": 0}, "energy_from_pack_wh", id="pilot C, but no plug detected"),
])
def test_energy_is_booked_to_the_grid_only_while_the_car_charges(car, values: dict, account: str) -> None:
    bus = car(values=values)
    bus.run_until(20.0)
    assert {(s["cu_state"], s["compute_power_w"]) for _t, s in bus.frames["CU_State"]} == {("RUNNING", P100_W)}
    check_energy_booked(bus, account)
    assert bus.frames["CU_Energy"][-1][1][account] == pytest.approx(P100_W * 20.0 / 3600.0, abs=2e-6)


def test_energy_follows_the_charge_as_it_starts_and_ends(car) -> None:
    bus = car()
    bus.at(5.0, **CHARGING)
    bus.at(10.0, plug_present=0, cp_state="A", charge_power_w=0.0, pack_current_a=3.0)
    bus.run_until(15.0)
    assert {s["compute_power_w"] for _t, s in bus.frames["CU_State"]} == {P100_W}
    last = {t: r for t, r in bus.frames["CU_Energy"]}
    at = lambda t_s: last[max(t for t in last if t <= t_s)]  # noqa: E731
    # 5 s from the pack, the 5 s of the charge from the grid (from the first tick after the OBC's frame), 5 s more.
    assert at(5.01)["energy_from_pack_wh"] == pytest.approx(P100_W * 5.0 / 3600.0, abs=2e-6)
    assert at(5.01)["energy_from_grid_wh"] == pytest.approx(P100_W * TICK_S / 3600.0, abs=2e-6)
    assert at(10.01)["energy_from_grid_wh"] == pytest.approx(P100_W * 5.0 / 3600.0, abs=2e-6)
    assert at(15.0)["energy_from_pack_wh"] == pytest.approx(P100_W * 10.0 / 3600.0, abs=2e-6)
    assert at(15.0)["energy_from_grid_wh"] == at(10.01)["energy_from_grid_wh"]


# -- the budget: a discharge limit that allows part of full power, or less than the lowest level -------
# A plug-in hybrid's 200 V pack, the car itself drawing nothing: the unit may use 90 % of the DCL,
# through its 93 % converter, so 0.2 A allows 33.5 W (P25 fits, P50's 34.5 W not) and 0.1 A 16.7 W.
HYBRID = {"pack_voltage_v": 200.0, "pack_current_a": 0.0}


def test_a_discharge_limit_allowing_part_of_full_power_derates_the_unit_to_the_level_that_fits(car) -> None:
    bus = car(values={**HYBRID, "discharge_current_limit_a": 0.2})
    bus.run_until(5.0)
    for t, s in bus.frames["CU_State"]:
        assert (s["cu_state"], s["cu_reason"], s["cu_power_level"]) == ("DERATED", "DCL_LIMIT", "P25"), t
        assert s["compute_power_w"] == pytest.approx(P25_W, abs=0.1), t   # the signal's 0.1 W
    assert bus.values_of("tokens_per_s", after_s=1.0) == pytest.approx([P25_TOKENS_PER_S] * 40)
    for t, r in bus.frames["CU_Request"]:
        assert (r["cu_requested_level"], r["cu_keep_awake"]) == ("P100", 1), t   # computing: it asks for full power
        assert r["cu_requested_pack_current_a"] == pytest.approx(P25_W / DCDC_EFFICIENCY / 200.0, abs=0.001), t


def test_a_discharge_limit_below_the_lowest_computing_level_is_reported_as_a_stop(car) -> None:
    bus = car(values={**HYBRID, "discharge_current_limit_a": 0.1})
    bus.at(5.0, discharge_current_limit_a=0.4)      # 67 W: full power
    bus.run_until(8.0)
    # The granted 16.7 W reach no computing level: the unit says it stopped, not that it runs derated.
    assert [c[1:] for c in bus.changes()] == [("SAFE_STOP", "DCL_LIMIT"), ("RUNNING", "NONE")]
    t_resume = bus.changes()[1][0]
    assert 5.0 < t_resume < 5.0 + 2 * TICK_S
    before = [s for t, s in bus.frames["CU_State"] if t < t_resume]
    assert {s["cu_power_level"] for s in before} <= {"OFF", "IDLE"}
    assert max(float(s["compute_power_w"]) for s in before) <= 0.09 * 200.0 * DCDC_EFFICIENCY
    assert {s["tokens_per_s"] for s in before} == {0.0}
    stopped = [r for t, r in bus.frames["CU_Request"] if t < t_resume]
    assert {(r["cu_requested_level"], r["cu_keep_awake"], r["tokens_total"]) for r in stopped} == {("OFF", 0, 0)}
    assert bus.frames["CU_State"][-1][1]["cu_power_level"] == "P100"


# -- heat ---------------------------------------------------------------------------------------------
def test_a_unit_throttled_to_idle_by_heat_is_derated_but_asks_for_no_power_and_no_wake(car) -> None:
    # A coolant loop at 95 C (the passive trip): the unit steps down a level a second to IDLE and stays there.
    bus = car(values={"coolant_temp_c": 95.0}, dut={"coolant_c": 95.0})
    bus.run_until(10.0)
    levels = [(s["cu_state"], s["cu_reason"], s["cu_power_level"]) for _t, s in bus.frames["CU_State"]]
    assert levels[0] == ("DERATED", "JUNCTION_THROTTLE", "P75")
    assert levels[-1] == ("DERATED", "JUNCTION_THROTTLE", "IDLE")
    requests = {t: r for t, r in bus.frames["CU_Request"]}
    for t, s in bus.frames["CU_State"]:
        r = requests[min(t2 for t2 in requests if t2 > t)]
        computing = s["cu_power_level"] != "IDLE"
        assert (r["cu_requested_level"], r["cu_keep_awake"]) == (("P100", 1) if computing else ("OFF", 0)), t
    idle_since = min(t for t, s in bus.frames["CU_State"] if s["cu_power_level"] == "IDLE")
    assert set(bus.values_of("tokens_per_s", after_s=idle_since + 1.0)) == {0.0}
    assert {s["compute_power_w"] for t, s in bus.frames["CU_State"] if t >= idle_since} == {IDLE_W}


def test_a_unit_the_car_stops_reports_the_cars_reason_though_past_its_critical_trip(car) -> None:
    # A failed coolant pump: the loop at 110 C, above the 107 C critical trip, so the governor's latch holds.
    bus = car(values={"coolant_temp_c": 110.0}, dut={"coolant_c": 110.0})
    bus.at(5.0, gear="D")
    bus.at(10.0, gear="P")
    bus.run_until(15.0)
    assert [c[1:] for c in bus.changes()] == [
        ("SAFE_STOP", "JUNCTION_CRITICAL"),     # parked: the unit would compute, the heat stops it
        ("STANDBY", "GEAR_NOT_PARK"),           # driving: not the unit's to decide, the car's reason
        ("SAFE_STOP", "JUNCTION_CRITICAL"),
    ]
    assert set(bus.values_of("compute_power_w")) == {0.0}


def test_the_cars_coolant_reaches_the_unit_while_it_is_stopped(car) -> None:
    # The car drives (gear D) with its coolant at 60 C; the unit, configured for 25 C, is stopped throughout.
    bus = car(values={"gear": "D", "coolant_temp_c": 60.0}, dut={"coolant_c": 25.0})
    bus.run_until(300.0)
    assert {(s["cu_state"], s["compute_power_w"]) for _t, s in bus.frames["CU_State"]} == {("STANDBY", 0.0)}
    junction = [float(v) for v in bus.values_of("junction_temp_c")]
    assert all(b >= a - 0.1 for a, b in zip(junction, junction[1:]))   # warming, never cooling
    assert junction[0] < 26.0 and 40.0 < junction[-1] < 60.0           # the cold plate's minutes, towards 60 C
    bus.at(300.0, gear="P")
    bus.run_until(301.0)
    assert bus.frames["CU_State"][-1][1]["cu_state"] == "RUNNING"
    assert float(bus.frames["CU_State"][-1][1]["junction_temp_c"]) > 40.0


# -- the transition log and the input a stop names ------------------------------------------------------
def _silent_bms_then_a_stop_request(car) -> Car:
    bus = car()
    bus.clock.call_at(5.0, lambda: bus.silent.update({"BMS_Pack", "BMS_Thermal"}))
    bus.clock.call_at(10.0, lambda: bus.silent.clear())
    bus.at(10.0, bms_fault_level="STOP_REQUEST")       # the BMS comes back asking the unit to stop
    bus.at(15.0, bms_fault_level="NONE")
    bus.at(25.0, gear="D")
    bus.at(30.0, gear="P")
    bus.run_until(40.0)
    return bus


def test_the_transition_log_holds_each_status_the_unit_reported_and_when(car) -> None:
    bus = _silent_bms_then_a_stop_request(car)
    changes = bus.changes()
    assert [c[1:] for c in changes] == [
        ("RUNNING", "NONE"), ("SAFE_STOP", "BMS_STALE"), ("SAFE_STOP", "BMS_FAULT"), ("RUNNING", "NONE"),
        ("STANDBY", "GEAR_NOT_PARK"), ("RUNNING", "NONE")]
    logged = bus.unit.snapshot()["transitions"]
    assert [entry[1:] for entry in logged] == [c[1:] for c in changes]
    for (t_log, *_), (t_frame, *_) in zip(logged, changes):
        assert t_log == pytest.approx(t_frame - 0.001, abs=1e-9)      # the tick that decided, 1 ms before its frame


def test_the_input_a_stop_named_is_withdrawn_once_the_stop_is_for_something_else(car) -> None:
    bus = _silent_bms_then_a_stop_request(car)
    (t_stale, *_), (t_fault, *_) = bus.changes()[1:3]
    health = bus.frames["CU_Health"]
    named = [(t, r["cu_reason_frame_id"], r["cu_reason_input_state"]) for t, r in health]
    for t, frame_id, state in named:
        expected = (BMS_PACK_ID, "STALE") if t_stale - 0.01 < t < t_fault - 0.01 else (0, "NONE")
        assert (frame_id, state) == expected, t
    # Sent every second, and at once (in the deciding tick, before its CU_State frame) when it changes.
    on_change = [t for t, *_ in named if round(t % 1.0, 3) != 0.009]
    assert on_change == pytest.approx([t_stale - 0.001, t_fault - 0.001], abs=1e-9)
    assert len(named) == 40 + 2


def test_a_car_without_the_input_health_message_still_hears_why_the_unit_stopped(car) -> None:
    # Many cars' DBCs have no message for the input a stop names: the unit names it nowhere, and goes on.
    bus = car(drop=("cu_reason_frame_id", "cu_reason_input_state"))
    bus.clock.call_at(5.0, lambda: bus.silent.add("BMS_Pack"))
    bus.clock.call_at(10.0, lambda: bus.silent.clear())
    bus.run_until(15.0)
    assert [c[1:] for c in bus.changes()] == [("RUNNING", "NONE"), ("SAFE_STOP", "BMS_STALE"), ("RUNNING", "NONE")]
    assert bus.frames["CU_Health"] == []
    assert len(bus.frames["CU_State"]) == 150


# -- the pack current the unit asks for ------------------------------------------------------------------
def test_no_current_is_asked_for_before_the_bms_has_said_anything(car) -> None:
    bus = car()
    bus.silent.update({"BMS_Pack", "BMS_Thermal"})
    bus.run_until(3.0)
    assert {(s["cu_state"], s["cu_reason"]) for _t, s in bus.frames["CU_State"]} == {("STANDBY", "NO_DATA")}
    assert set(bus.values_of("cu_requested_pack_current_a")) == {0.0}


def test_the_current_asked_for_follows_the_pack_voltage_down_to_one_volt(car) -> None:
    # A pack voltage sensor failing low: 1 V.  Its 300 A DCL still grants 251 W, so the unit runs at
    # full power and asks for 60 W / 0.93 / 1 V.
    bus = car(values={"pack_voltage_v": 1.0})
    bus.run_until(3.0)
    assert {s["cu_state"] for _t, s in bus.frames["CU_State"]} == {"RUNNING"}
    assert bus.values_of("cu_requested_pack_current_a") == pytest.approx([P100_W / DCDC_EFFICIENCY / 1.0] * 30,
                                                                         abs=0.001)


def test_a_pack_voltage_of_zero_gives_no_current_figure_even_when_the_unit_computes(car) -> None:
    # 0 V (a BMS's "not available"): only with the DCL rule switched off (a seeded defect) does the unit compute.
    bus = car(values={"pack_voltage_v": 0.0}, dut={"defect": "ignore_dcl"})
    bus.run_until(3.0)
    assert {(s["cu_state"], s["compute_power_w"]) for _t, s in bus.frames["CU_State"]} == {("RUNNING", P100_W)}
    assert set(bus.values_of("cu_requested_pack_current_a")) == {0.0}
