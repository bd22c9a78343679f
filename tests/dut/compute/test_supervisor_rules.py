"""Every rule of the safety supervisor, one at a time, at its thresholds and in its order of precedence.

The supervisor is CAN-free: each test builds :class:`Observation`\\ s by keyword and reads the
:class:`Decision`.  Thresholds come from ``supervisor.toml`` (checked below against the file), so
the boundaries here are exact: SOC stop at reserve + 2 %, resume above stop + 1 %, derate up to
stop + 3 %; cell-voltage stop at limit + 0.10 V, resume above limit + 0.20 V; 2 s resume hold;
DCL used to 90 % through a 93 % DC-DC; charge-only stop below 20 W spare, resume at 45 W.

These tests are what ``mutmut run`` (docs/mutation.md) holds the decision logic to: each
assertion pins one branch, one comparison or one figure of a rule.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hilbench.dut.compute.supervisor import (
    DEFECTS,
    PARAMS_FILE,
    Decision,
    Observation,
    State,
    Supervisor,
    SupervisorParams,
    thermal_reason,
)
from hilbench.errors import ConfigError

MAX_W = 60.0
EFF = 0.93                  # supervisor.toml [current] dcdc_efficiency
V = 400.0
W_PER_A = V * EFF           # compute watts per ampere of pack current at 400 V
RUNNING = (State.RUNNING, "NONE", MAX_W)


def parked(now_s: float = 0.0, **changes: object) -> Observation:
    """A parked, healthy car with every input fresh: SOC 60 % over a 20 % reserve, unplugged."""
    fields: dict[str, object] = dict(
        bms_fresh=True, vcu_fresh=True, obc_fresh=True, gear="P", soc_pct=60.0, reserve_soc_pct=20.0,
        pack_voltage_v=V, pack_current_a=1.0, dcl_a=300.0, min_cell_voltage_v=3.70,
        cell_voltage_min_limit_v=3.00, bms_fault_level="NONE",
    )
    fields.update(changes)
    return Observation(now_s=now_s, **fields)  # type: ignore[arg-type]


def charging(now_s: float = 0.0, **changes: object) -> Observation:
    """Plugged in and charging (control pilot C, the OBC reporting power)."""
    fields: dict[str, object] = dict(plug_present=True, cp_state="C", charge_power_w=3600.0)
    fields.update(changes)
    return parked(now_s, **fields)


def decide_all(supervisor: Supervisor, observations: list[Observation]) -> list[Decision]:
    return [supervisor.decide(o) for o in observations]


@pytest.fixture
def sup() -> Supervisor:
    return Supervisor(max_power_w=MAX_W)


# -- the parameters, the decision, the log ----------------------------------------------------

def test_parameters_are_the_data_files_figures() -> None:
    p = SupervisorParams.load()
    assert (p.stale_cycles, p.min_stale_s, p.resume_hold_s) == (5, 0.5, 2.0)
    assert (p.soc_stop_margin_pct, p.soc_derate_band_pct, p.soc_resume_hysteresis_pct) == (2.0, 3.0, 1.0)
    assert (p.min_cell_voltage_margin_v, p.resume_cell_voltage_margin_v) == (0.10, 0.20)
    assert (p.dcl_usage, p.dcdc_efficiency) == (0.9, EFF)
    assert (p.charge_margin_w, p.charge_stop_w, p.charge_resume_w) == (50.0, 20.0, 45.0)


def test_a_parameter_file_without_an_entry_is_refused_naming_it(tmp_path: Path) -> None:
    text = PARAMS_FILE.read_text().replace("resume_above_w = 45.0", "")
    path = tmp_path / "supervisor.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="resume_above_w.*missing entry") as info:
        SupervisorParams.load(path)
    assert (info.value.file, info.value.entry, info.value.reason) == (str(path), "resume_above_w", "missing entry")


@pytest.mark.parametrize(("text", "says"), [(None, "No such file"), ("[timeouts\nstale_cycles = 5\n", "line 1")])
def test_an_unreadable_parameter_file_is_refused_saying_why(tmp_path: Path, text: str | None, says: str) -> None:
    path = tmp_path / "supervisor.toml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError) as info:
        SupervisorParams.load(path)
    assert info.value.file == str(path) and info.value.entry is None and says in info.value.reason


def test_an_unknown_defect_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown defect\(s\) \['ignore_brakes'\]; known: ignore_reserve, ") as info:
        Supervisor(max_power_w=MAX_W, defects=frozenset({"ignore_brakes", "ignore_dcl"}))
    assert info.value.entry == "dut.defect"
    for name in DEFECTS:
        Supervisor(max_power_w=MAX_W, defects=frozenset({name}))


def test_a_decision_computes_only_in_a_computing_state_with_a_budget() -> None:
    assert Decision(State.RUNNING, "NONE", 60.0).computes
    assert Decision(State.DERATED, "DCL_LIMIT", 0.5).computes
    assert not Decision(State.DERATED, "DCL_LIMIT", 0.0).computes
    for state in (State.OFF, State.STANDBY, State.SAFE_STOP, State.FAULT):
        assert not Decision(state, "NONE", 60.0).computes


def test_decide_keeps_state_and_reason(sup: Supervisor) -> None:
    sup.decide(parked(soc_pct=24.0))
    assert (sup.state, sup.reason) == (State.DERATED, "SOC_RESERVE")
    assert sup.snapshot() == {"state": "DERATED", "reason": "SOC_RESERVE", "transitions": 0}


def test_the_same_running_decision_is_handed_out_again(sup: Supervisor) -> None:
    first = sup.decide(parked(0.0))
    assert first == RUNNING and sup.decide(parked(0.1)) is first
    sup.max_power_w = 40.0
    again = sup.decide(parked(0.2))
    assert again == (State.RUNNING, "NONE", 40.0) and again is not first


def test_report_logs_each_change_of_state_or_reason_once(sup: Supervisor) -> None:
    sup.report(0.0, State.RUNNING, "NONE")
    sup.report(0.1, State.RUNNING, "NONE")
    sup.report(0.2, State.DERATED, "DCL_LIMIT")
    sup.report(0.3, State.DERATED, "SOC_RESERVE")
    sup.report(0.4, State.DERATED, "SOC_RESERVE")
    sup.report(0.5, State.SAFE_STOP, "SOC_RESERVE")
    sup.report(0.6, State.RUNNING, "NONE")
    assert sup.transitions == [(0.0, "RUNNING", "NONE"), (0.2, "DERATED", "DCL_LIMIT"),
                               (0.3, "DERATED", "SOC_RESERVE"), (0.5, "SAFE_STOP", "SOC_RESERVE"),
                               (0.6, "RUNNING", "NONE")]
    assert sup.snapshot()["transitions"] == 5


@pytest.mark.parametrize(("governor", "reported"), [
    ("passive", "JUNCTION_THROTTLE"), ("hot", "JUNCTION_THROTTLE"), ("critical", "JUNCTION_CRITICAL"),
    ("requested", None), ("budget", None),
])
def test_the_governors_reasons_map_to_the_reasons_on_can(governor: str, reported: str | None) -> None:
    assert thermal_reason(governor) == reported


# -- data validity: no data, stale, E2E, and the resume hold ---------------------------------

def test_before_every_input_has_come_the_unit_waits_and_then_runs_at_once(sup: Supervisor) -> None:
    assert sup.decide(parked(0.0, inputs_seen=False)) == (State.STANDBY, "NO_DATA", 0.0)
    assert sup.decide(parked(0.1, gear=None, soc_pct=None)) == (State.STANDBY, "NO_DATA", 0.0)
    assert sup.decide(parked(0.2)) == RUNNING      # waiting is no stop: no resume hold


def test_losing_all_data_while_computing_is_a_stop_with_a_hold(sup: Supervisor) -> None:
    assert sup.decide(parked(0.0)) == RUNNING
    assert sup.decide(parked(0.1, inputs_seen=False)) == (State.SAFE_STOP, "NO_DATA", 0.0)
    assert sup.decide(parked(0.2)) == (State.SAFE_STOP, "NO_DATA", 0.0)
    assert sup.decide(parked(2.1)) == (State.SAFE_STOP, "NO_DATA", 0.0)
    assert sup.decide(parked(2.2)) == RUNNING


def test_a_missing_gear_alone_is_the_gear_rule_and_a_missing_soc_alone_the_battery_rules(sup: Supervisor) -> None:
    assert sup.decide(parked(0.0)) == RUNNING
    assert sup.decide(parked(0.1, gear=None)) == (State.STANDBY, "GEAR_NOT_PARK", 0.0)
    assert sup.decide(parked(0.2)) == RUNNING      # a standby leaves no hold
    assert sup.decide(parked(0.3, soc_pct=None)) == (State.STANDBY, "NO_DATA", 0.0)
    assert sup.decide(parked(0.4)) == RUNNING


@pytest.mark.parametrize(("stale", "reason"), [
    ({"bms_fresh": False}, "BMS_STALE"),
    ({"vcu_fresh": False}, "VCU_STALE"),
    ({"obc_fresh": False}, "OBC_STALE"),        # the 100 ms charger message silenced alone
    ({"e2e_ok": False}, "E2E_ERROR"),
    ({"bms_fresh": False, "vcu_fresh": False, "obc_fresh": False, "e2e_ok": False}, "BMS_STALE"),
    ({"vcu_fresh": False, "obc_fresh": False, "e2e_ok": False}, "VCU_STALE"),
    ({"obc_fresh": False, "e2e_ok": False}, "OBC_STALE"),
])
def test_one_stale_or_corrupt_input_stops_the_unit_naming_it(sup: Supervisor, stale: dict, reason: str) -> None:
    assert sup.decide(parked(0.0)) == RUNNING
    assert sup.decide(parked(0.1, **stale)) == (State.SAFE_STOP, reason, 0.0)


@pytest.mark.parametrize("stale", [{"bms_fresh": False}, {"obc_fresh": False}, {"e2e_ok": False}])
def test_stale_data_stops_even_a_unit_that_is_not_computing(sup: Supervisor, stale: dict) -> None:
    assert sup.decide(parked(0.0, gear="D")) == (State.STANDBY, "GEAR_NOT_PARK", 0.0)
    assert sup.decide(parked(0.1, gear="D", **stale)).state is State.SAFE_STOP


def test_stale_data_takes_precedence_over_a_bms_hard_fault(sup: Supervisor) -> None:
    assert sup.decide(parked(0.0, bms_fresh=False, bms_fault_level="HARD_LIMIT")) == (
        State.SAFE_STOP, "BMS_STALE", 0.0)


def test_after_a_stale_stop_data_must_stay_good_for_the_whole_hold(sup: Supervisor) -> None:
    sup.decide(parked(10.0))
    assert sup.decide(parked(10.1, obc_fresh=False)) == (State.SAFE_STOP, "OBC_STALE", 0.0)
    # Fresh again from 10.5: held (keeping the reason) until exactly 2 s have passed.
    for t in (10.5, 11.0, 12.4):
        assert sup.decide(parked(t)) == (State.SAFE_STOP, "OBC_STALE", 0.0)
    assert sup.decide(parked(12.5)) == RUNNING
    assert sup.decide(parked(20.0)) == RUNNING   # the hold is over, not pending


def test_a_relapse_during_the_hold_starts_it_again(sup: Supervisor) -> None:
    sup.decide(parked(0.0))
    sup.decide(parked(0.1, vcu_fresh=False))
    sup.decide(parked(0.5))                                       # hold from 0.5
    assert sup.decide(parked(1.5, vcu_fresh=False)) == (State.SAFE_STOP, "VCU_STALE", 0.0)
    assert sup.decide(parked(2.0)) == (State.SAFE_STOP, "VCU_STALE", 0.0)  # hold from 2.0
    assert sup.decide(parked(2.6)) == (State.SAFE_STOP, "VCU_STALE", 0.0)  # not from 0.5
    assert sup.decide(parked(3.9)) == (State.SAFE_STOP, "VCU_STALE", 0.0)
    assert sup.decide(parked(4.0)) == RUNNING


def test_the_hold_restarts_when_the_bms_objects_without_a_stop_of_its_own(sup: Supervisor) -> None:
    sup.decide(parked(0.0))
    sup.decide(parked(0.1, bms_fresh=False))
    assert sup.decide(parked(0.5)) == (State.SAFE_STOP, "BMS_STALE", 0.0)   # hold from 0.5
    # The BMS asks for a stop while the car is being driven: the gear rule answers (no stop of its own).
    assert sup.decide(parked(1.0, gear="D", bms_fault_level="STOP_REQUEST")) == (
        State.STANDBY, "GEAR_NOT_PARK", 0.0)
    # Back in P with a healthy BMS: a new hold from 1.1, reported as a resume.
    assert sup.decide(parked(1.1)) == (State.SAFE_STOP, "RESUMED", 0.0)
    assert sup.decide(parked(2.6)) == (State.SAFE_STOP, "RESUMED", 0.0)
    assert sup.decide(parked(3.0)) == (State.SAFE_STOP, "RESUMED", 0.0)
    assert sup.decide(parked(3.1)) == RUNNING


def test_an_unknown_fault_level_during_the_hold_is_still_a_bms_stop(sup: Supervisor) -> None:
    sup.decide(parked(0.0))
    sup.decide(parked(0.1, e2e_ok=False))
    assert sup.decide(parked(0.5, bms_fault_level=None)) == (State.SAFE_STOP, "BMS_FAULT", 0.0)
    assert sup.decide(parked(0.6, bms_fault_level="WARNING")) == (State.SAFE_STOP, "BMS_FAULT", 0.0)
    assert sup.decide(parked(2.5, bms_fault_level="WARNING")) == (State.SAFE_STOP, "BMS_FAULT", 0.0)
    assert sup.decide(parked(2.6, bms_fault_level="WARNING")) == RUNNING


def test_a_completed_hold_is_over_for_good(sup: Supervisor) -> None:
    sup.decide(parked(0.0, bms_fresh=False))
    sup.decide(parked(0.1))
    assert sup.decide(parked(2.1)) == RUNNING
    # A BMS objection that is no stop of its own (the gear rule answers) leaves no new hold.
    assert sup.decide(parked(3.0, gear="D", bms_fault_level="STOP_REQUEST")) == (State.STANDBY, "GEAR_NOT_PARK", 0.0)
    assert sup.decide(parked(3.1)) == RUNNING


def test_with_ignore_stale_stale_data_is_used_and_a_fault_leaves_no_hold() -> None:
    sup = Supervisor(max_power_w=MAX_W, defects=frozenset({"ignore_stale"}))
    assert sup.decide(parked(0.0, bms_fresh=False, vcu_fresh=False, obc_fresh=False, e2e_ok=False,
                             inputs_seen=False)) == RUNNING
    assert sup.decide(parked(0.1, gear=None)) == (State.STANDBY, "NO_DATA", 0.0)
    assert sup.decide(parked(0.2, soc_pct=None)) == (State.STANDBY, "NO_DATA", 0.0)
    assert sup.decide(parked(0.3, bms_fault_level="HARD_LIMIT")) == (State.FAULT, "BMS_FAULT", 0.0)
    assert sup.decide(parked(0.4, bms_fault_level="STOP_REQUEST")) == (State.SAFE_STOP, "BMS_FAULT", 0.0)
    assert sup.decide(parked(0.5)) == RUNNING


# -- BMS faults, the vehicle interlock, the request --------------------------------------------

@pytest.mark.parametrize("fault", [{"bms_fault_level": "HARD_LIMIT"}, {"contactor_closed": False}])
def test_a_bms_hard_fault_is_a_fault_with_a_hold_and_beats_the_gear(sup: Supervisor, fault: dict) -> None:
    assert sup.decide(parked(0.0, gear="D", drive_requested=True, **fault)) == (State.FAULT, "BMS_FAULT", 0.0)
    assert sup.decide(parked(0.1, **fault)) == (State.FAULT, "BMS_FAULT", 0.0)
    assert sup.decide(parked(0.2)) == (State.SAFE_STOP, "BMS_FAULT", 0.0)
    assert sup.decide(parked(2.1)) == (State.SAFE_STOP, "BMS_FAULT", 0.0)
    assert sup.decide(parked(2.2)) == RUNNING


@pytest.mark.parametrize("gear", ["R", "N", "D", "p", ""])
def test_only_park_lets_the_unit_compute(sup: Supervisor, gear: str) -> None:
    assert sup.decide(parked(0.0, gear=gear)) == (State.STANDBY, "GEAR_NOT_PARK", 0.0)


def test_a_drive_request_in_park_is_a_standby_and_leaves_no_hold(sup: Supervisor) -> None:
    assert sup.decide(parked(0.0, drive_requested=True)) == (State.STANDBY, "DRIVE_REQUESTED", 0.0)
    assert sup.decide(parked(0.1)) == RUNNING


def test_the_interlock_comes_before_the_request_and_the_stop_request(sup: Supervisor) -> None:
    assert sup.decide(parked(0.0, gear="R", compute_allowed=False)) == (State.STANDBY, "GEAR_NOT_PARK", 0.0)
    assert sup.decide(parked(0.1, drive_requested=True, bms_fault_level="STOP_REQUEST")) == (
        State.STANDBY, "DRIVE_REQUESTED", 0.0)


def test_not_requested_is_off_and_comes_before_a_stop_request(sup: Supervisor) -> None:
    assert sup.decide(parked(0.0, compute_allowed=False, bms_fault_level="STOP_REQUEST")) == (
        State.OFF, "NOT_REQUESTED", 0.0)
    assert sup.decide(parked(0.1)) == RUNNING


def test_with_ignore_gear_the_unit_computes_while_driving() -> None:
    sup = Supervisor(max_power_w=MAX_W, defects=frozenset({"ignore_gear"}))
    assert sup.decide(parked(0.0, gear="D", drive_requested=True)) == RUNNING


@pytest.mark.parametrize("level", ["STOP_REQUEST", "LEVEL_7", None, "none", "warning"])
def test_a_stop_request_or_an_unknown_level_stops_with_a_hold(sup: Supervisor, level: str | None) -> None:
    assert sup.decide(parked(0.0, bms_fault_level=level)) == (State.SAFE_STOP, "BMS_FAULT", 0.0)
    # The hold runs from the first tick on which the BMS is content again.
    assert sup.decide(parked(0.1)) == (State.SAFE_STOP, "BMS_FAULT", 0.0)
    assert sup.decide(parked(2.0)) == (State.SAFE_STOP, "BMS_FAULT", 0.0)
    assert sup.decide(parked(2.1)) == RUNNING


def test_a_bms_warning_lets_the_unit_run(sup: Supervisor) -> None:
    assert sup.decide(parked(0.0, bms_fault_level="WARNING")) == RUNNING


@pytest.mark.parametrize("field", ["soc_pct", "reserve_soc_pct", "min_cell_voltage_v", "pack_voltage_v",
                                   "pack_current_a"])
@pytest.mark.parametrize("value", [None, math.nan, math.inf, -math.inf])
def test_without_a_finite_battery_figure_the_unit_draws_nothing(sup: Supervisor, field: str, value: object) -> None:
    assert sup.decide(parked(0.0, **{field: value})) == (State.STANDBY, "NO_DATA", 0.0)
    assert sup.decide(parked(0.1)) == RUNNING          # no hold after it


# -- cell temperature window ------------------------------------------------------------------

@pytest.mark.parametrize(("level", "expected"), [
    (0, RUNNING),
    (1, (State.DERATED, "CELL_TEMP_WINDOW", 30.0)),
    (2, (State.SAFE_STOP, "CELL_TEMP_WINDOW", 0.0)),
    (3, (State.SAFE_STOP, "CELL_TEMP_WINDOW", 0.0)),
])
def test_the_bms_temperature_level_derates_then_stops(sup: Supervisor, level: int, expected: tuple) -> None:
    assert sup.decide(parked(0.0, temp_fault_level=level)) == expected
    assert sup.decide(parked(0.1)) == RUNNING          # the BMS's own debounce is the hysteresis


def test_with_ignore_thermal_the_temperature_level_is_ignored() -> None:
    sup = Supervisor(max_power_w=MAX_W, defects=frozenset({"ignore_thermal"}))
    assert sup.decide(parked(0.0, temp_fault_level=3)) == RUNNING


# -- weakest cell voltage --------------------------------------------------------------------

def test_a_weak_cell_stops_at_limit_plus_margin_and_resumes_above_the_resume_margin(sup: Supervisor) -> None:
    volts = [3.30, 3.11, 3.10, 3.15, 3.20, 3.19, 3.21, 3.10]
    got = [sup.decide(parked(0.1 * i, min_cell_voltage_v=v)).state for i, v in enumerate(volts)]
    stop, run = State.SAFE_STOP, State.RUNNING
    assert got == [run, run, stop, stop, stop, stop, run, stop]
    assert sup.reason == "CELL_VOLTAGE_LOW"


def test_without_a_cell_voltage_limit_the_cell_rule_rests(sup: Supervisor) -> None:
    assert sup.decide(parked(0.0, min_cell_voltage_v=2.0, cell_voltage_min_limit_v=None)) == RUNNING


def test_wrong_hysteresis_resumes_a_weak_cell_just_above_the_stop() -> None:
    sup = Supervisor(max_power_w=MAX_W, defects=frozenset({"wrong_hysteresis"}))
    states = [sup.decide(parked(0.1 * i, min_cell_voltage_v=v)).state for i, v in enumerate([3.10, 3.15])]
    assert states == [State.SAFE_STOP, State.RUNNING]


# -- SOC reserve ------------------------------------------------------------------------------

def test_soc_noise_around_the_reserve_stops_once_and_resumes_only_past_the_hysteresis(sup: Supervisor) -> None:
    # Reserve 20 %: derate at <= 25 %, stop at <= 22 %, resume above 23 %; readings in 0.5 % steps.
    socs = [25.5, 25.0, 24.0, 22.5, 22.0, 22.5, 23.0, 22.5, 23.0, 23.5, 25.0, 25.5, 22.0]
    got = [sup.decide(parked(0.1 * i, soc_pct=s)) for i, s in enumerate(socs)]
    half, stop = (State.DERATED, "SOC_RESERVE", 30.0), (State.SAFE_STOP, "SOC_RESERVE", 0.0)
    assert got == [RUNNING, half, half, half, stop, stop, stop, stop, stop, half, half, RUNNING, stop]


def test_the_reserve_is_the_cars_figure_not_a_constant(sup: Supervisor) -> None:
    assert sup.decide(parked(0.0, soc_pct=40.0, reserve_soc_pct=38.0)) == (State.SAFE_STOP, "SOC_RESERVE", 0.0)
    assert sup.decide(parked(0.1, soc_pct=40.0, reserve_soc_pct=35.0)) == (State.DERATED, "SOC_RESERVE", 30.0)
    assert sup.decide(parked(0.2, soc_pct=16.0, reserve_soc_pct=10.0)) == RUNNING


def test_the_reserve_rests_while_charging_and_its_latch_waits_for_the_soc(sup: Supervisor) -> None:
    assert sup.decide(parked(0.0, soc_pct=21.0)) == (State.SAFE_STOP, "SOC_RESERVE", 0.0)
    # Charging: compute runs on charger power below the reserve.
    assert sup.decide(charging(0.1, soc_pct=21.0, pack_current_a=-8.0)) == RUNNING
    assert sup.decide(charging(0.2, soc_pct=22.5, pack_current_a=-8.0)) == RUNNING
    # Unplugged at 22.5 %: still inside the hysteresis, so still latched.
    assert sup.decide(parked(0.3, soc_pct=22.5)) == (State.SAFE_STOP, "SOC_RESERVE", 0.0)
    sup.decide(charging(0.4, soc_pct=23.5, pack_current_a=-8.0))
    assert sup.decide(parked(0.5, soc_pct=23.5)) == (State.DERATED, "SOC_RESERVE", 30.0)


def test_wrong_hysteresis_resumes_just_above_the_soc_stop() -> None:
    sup = Supervisor(max_power_w=MAX_W, defects=frozenset({"wrong_hysteresis"}))
    got = [sup.decide(parked(0.1 * i, soc_pct=s)).state for i, s in enumerate([22.0, 22.5])]
    assert got == [State.SAFE_STOP, State.DERATED]


def test_ignore_reserve_ignores_soc_and_cell_voltage() -> None:
    sup = Supervisor(max_power_w=MAX_W, defects=frozenset({"ignore_reserve"}))
    assert sup.decide(parked(0.0, soc_pct=5.0, min_cell_voltage_v=2.9)) == RUNNING


# -- discharge current limit -------------------------------------------------------------------

def test_a_high_dcl_leaves_full_power(sup: Supervisor) -> None:
    assert sup.decide(parked(0.0, dcl_a=300.0, pack_current_a=50.0)) == RUNNING


def test_a_dcl_that_steps_down_caps_the_budget_at_its_headroom(sup: Supervisor) -> None:
    # The car draws 4.8 A of its own; compute drew 60 W (0.16 A) last tick: 5.0 A in all.
    own_a = MAX_W / W_PER_A
    sup.decide(parked(0.0, pack_current_a=5.0, compute_power_w=MAX_W))
    d = sup.decide(parked(0.1, dcl_a=5.5, pack_current_a=5.0, compute_power_w=MAX_W))
    assert d.state is State.DERATED and d.reason == "DCL_LIMIT"
    assert d.budget_w == pytest.approx((5.5 * 0.9 - (5.0 - own_a)) * W_PER_A, rel=1e-12)   # 41.4 W
    assert d.budget_w == pytest.approx(41.4, rel=1e-12)
    # A further step below what the car alone draws: nothing left for compute.
    assert sup.decide(parked(0.2, dcl_a=5.0, pack_current_a=5.0, compute_power_w=MAX_W)) == (
        State.SAFE_STOP, "DCL_LIMIT", 0.0)


def test_the_dcl_headroom_counts_only_the_least_compute_drew_in_the_last_four_ticks(sup: Supervisor) -> None:
    # 2.0 A on the pack; DCL 2.3 A (2.07 A usable).  While a 10 W draw is among the last four, only
    # 10 W of the current is taken as compute's own (the BMS reading lags), afterwards 60 W.
    draws = [10.0, 60.0, 60.0, 60.0, 60.0]
    got = [sup.decide(parked(0.1 * i, dcl_a=2.3, pack_current_a=2.0, compute_power_w=w)) for i, w in enumerate(draws)]
    limited = (2.3 * 0.9 - (2.0 - 10.0 / W_PER_A)) * W_PER_A
    for d in got[:4]:
        assert (d.state, d.reason) == (State.DERATED, "DCL_LIMIT")
        assert d.budget_w == pytest.approx(limited, rel=1e-12)
    assert got[4] == RUNNING


def test_a_small_car_load_is_counted_in_full(sup: Supervisor) -> None:
    # 0.5 A of the car's own beside compute's 60 W.
    d = sup.decide(parked(0.0, dcl_a=0.7, pack_current_a=0.5 + MAX_W / W_PER_A, compute_power_w=MAX_W))
    assert (d.state, d.reason) == (State.DERATED, "DCL_LIMIT")
    assert d.budget_w == pytest.approx((0.63 - 0.5) * W_PER_A, rel=1e-9)


def test_a_current_reading_below_computes_own_counts_as_no_car_load(sup: Supervisor) -> None:
    d = sup.decide(parked(0.0, dcl_a=0.1, pack_current_a=0.1, compute_power_w=MAX_W))
    assert (d.state, d.reason) == (State.DERATED, "DCL_LIMIT")
    assert d.budget_w == pytest.approx(0.09 * W_PER_A, rel=1e-12)


def test_a_dcl_that_leaves_under_a_watt_is_a_derate_not_a_stop(sup: Supervisor) -> None:
    # Half a watt of headroom: the supervisor grants it (the governor finds no level that fits).
    d = sup.decide(parked(0.0, dcl_a=(1.0 + 0.5 / W_PER_A) / 0.9, pack_current_a=1.0))
    assert (d.state, d.reason) == (State.DERATED, "DCL_LIMIT") and d.budget_w == pytest.approx(0.5, rel=1e-9)


def test_a_dcl_that_leaves_exactly_full_power_does_not_limit() -> None:
    unit = SupervisorParams(5, 0.5, 2.0, 2.0, 3.0, 1.0, 0.1, 0.2, dcl_usage=1.0, dcdc_efficiency=1.0,
                            charge_margin_w=50.0, charge_stop_w=20.0, charge_resume_w=45.0)
    sup = Supervisor(max_power_w=MAX_W, params=unit)
    assert sup.decide(parked(0.0, pack_voltage_v=120.0, dcl_a=0.5, pack_current_a=0.0)) == RUNNING
    assert sup.decide(parked(0.1, pack_voltage_v=120.0, dcl_a=0.49, pack_current_a=0.0)) == (
        State.DERATED, "DCL_LIMIT", pytest.approx(58.8, rel=1e-12))


@pytest.mark.parametrize("missing", [{"dcl_a": None}, {"pack_voltage_v": 0.0}])
def test_without_a_dcl_or_pack_voltage_the_unit_draws_nothing(sup: Supervisor, missing: dict) -> None:
    assert sup.decide(parked(0.0, **missing)) == (State.STANDBY, "NO_DATA", 0.0)
    assert sup.decide(charging(0.1, pack_current_a=-8.0, **missing)) == (State.STANDBY, "NO_DATA", 0.0)


def test_the_dcl_rests_while_charging(sup: Supervisor) -> None:
    assert sup.decide(charging(0.0, dcl_a=0.0, pack_current_a=-8.0)) == RUNNING


def test_with_ignore_dcl_the_limit_is_ignored() -> None:
    sup = Supervisor(max_power_w=MAX_W, defects=frozenset({"ignore_dcl"}))
    assert sup.decide(parked(0.0, dcl_a=0.0, pack_current_a=5.0)) == RUNNING
    assert sup.decide(parked(0.1, dcl_a=None)) == RUNNING


# -- charge only -------------------------------------------------------------------------------

def _spare_w(pack_current_a: float, compute_w: float) -> float:
    """What the charge-only rule finds spare: charge still going in, plus compute's draw, less the margin."""
    return (-pack_current_a * V + compute_w / EFF - 50.0) * EFF


def test_charging_means_plug_pilot_c_or_d_and_reported_power(sup: Supervisor) -> None:
    # The pack is discharging (0.5 A): on a charge that is a CHARGE_ONLY stop; anything short of a
    # charge leaves the unit to the pack rules, which let it run at 60 % SOC.
    discharging = dict(pack_current_a=0.5, soc_pct=60.0)
    stop = (State.SAFE_STOP, "CHARGE_ONLY", 0.0)
    assert sup.decide(charging(0.0, cp_state="C", **discharging)) == stop
    assert sup.decide(charging(0.1, cp_state="D", **discharging)) == stop
    for t, changes in enumerate([{"cp_state": "B"}, {"cp_state": "E"}, {"cp_state": "F"}, {"cp_state": "A"},
                                 {"cp_state": None}, {"plug_present": False}, {"charge_power_w": 0.0}]):
        assert sup.decide(charging(1.0 + t, **{**discharging, **changes})) == RUNNING, changes


def test_a_pilot_error_while_the_reported_power_lags_hands_the_unit_back_to_the_pack_rules(sup: Supervisor) -> None:
    # Charging below the reserve: compute runs on charger power.
    assert sup.decide(charging(0.0, soc_pct=21.0, pack_current_a=-8.0)) == RUNNING
    # The pilot goes to E (error): the charger stops, but the OBC still reports 3.6 kW for a while (and
    # the BMS's current is a sample late). That is no charge: the reserve rule is back at once.
    assert sup.decide(charging(0.1, cp_state="E", soc_pct=21.0, pack_current_a=-8.0)) == (
        State.SAFE_STOP, "SOC_RESERVE", 0.0)
    assert sup.decide(charging(0.2, cp_state="E", soc_pct=21.0, pack_current_a=0.2)) == (
        State.SAFE_STOP, "SOC_RESERVE", 0.0)
    # And with SOC to spare the DCL rule is back: a BMS that allows no discharge stops compute.
    assert sup.decide(charging(0.3, cp_state="F", soc_pct=60.0, pack_current_a=0.2, dcl_a=0.0)) == (
        State.SAFE_STOP, "DCL_LIMIT", 0.0)


def test_a_plugged_car_whose_charger_has_not_started_is_judged_on_the_pack(sup: Supervisor) -> None:
    # Pilot C, but the OBC reports no power yet (its report lags the charger): below the reserve, stop.
    assert sup.decide(charging(0.0, soc_pct=21.0, charge_power_w=0.0, pack_current_a=0.2)) == (
        State.SAFE_STOP, "SOC_RESERVE", 0.0)


def test_a_strong_charge_leaves_full_power(sup: Supervisor) -> None:
    assert sup.decide(charging(0.0, pack_current_a=-8.0, compute_power_w=MAX_W)) == RUNNING


def test_a_charger_limit_that_falls_is_taken_at_once_and_a_rise_slowly(sup: Supervisor) -> None:
    # Compute drawing 60 W; the charger's power falls from 3.6 kW to 100 W, of which compute takes 64.5 W
    # through the DC-DC: 35.5 W still go into the pack, and 100 W less the 50 W margin are spare (x 0.93).
    assert sup.decide(charging(0.0, pack_current_a=-8.0, compute_power_w=MAX_W)) == RUNNING
    into_pack_a = -(100.0 - MAX_W / EFF) / V
    d = sup.decide(charging(0.1, pack_current_a=into_pack_a, compute_power_w=MAX_W))
    assert (d.state, d.reason) == (State.DERATED, "CHARGE_ONLY")
    fallen = _spare_w(into_pack_a, MAX_W)
    assert d.budget_w == pytest.approx(fallen, rel=1e-12) == pytest.approx(46.5, rel=1e-12)
    # The limit comes back to 150 W (93 W spare): the rise is believed a tenth of the gap per tick,
    # and full power needs 85 W once limited (the top hysteresis): 17 ticks.
    into_pack_a = -(150.0 - MAX_W / EFF) / V
    risen = _spare_w(into_pack_a, MAX_W)
    assert risen == pytest.approx(93.0, rel=1e-12)
    estimate = fallen
    for k in range(1, 17):
        estimate += 0.1 * (risen - estimate)
        d = sup.decide(charging(0.1 + 0.1 * k, pack_current_a=into_pack_a, compute_power_w=MAX_W))
        assert (d.state, d.reason) == (State.DERATED, "CHARGE_ONLY"), k
        assert d.budget_w == pytest.approx(min(estimate, MAX_W), rel=1e-12), k
    assert estimate < 85.0 < estimate + 0.1 * (risen - estimate)
    assert sup.decide(charging(1.8, pack_current_a=into_pack_a, compute_power_w=MAX_W)) == RUNNING


def test_the_slow_rise_is_a_tenth_of_the_gap_per_tick() -> None:
    unit = SupervisorParams(5, 0.5, 2.0, 2.0, 3.0, 1.0, 0.1, 0.2, dcl_usage=0.9, dcdc_efficiency=1.0,
                            charge_margin_w=0.0, charge_stop_w=20.0, charge_resume_w=45.0)
    sup = Supervisor(max_power_w=MAX_W, params=unit)
    # Spare power is (charge into the pack + compute's draw) here: 30 W, then a rise to 130 W.
    assert sup.decide(charging(0.0, pack_current_a=-0.075, pack_voltage_v=V)) == (State.DERATED, "CHARGE_ONLY", 30.0)
    got = [sup.decide(charging(0.1 * k, pack_current_a=-0.325, pack_voltage_v=V)).budget_w for k in (1, 2, 3)]
    assert got == pytest.approx([40.0, 49.0, 57.1], rel=1e-12)


def test_the_charge_only_stop_has_hysteresis_at_both_ends() -> None:
    # Unit efficiency, no margin: the spare power is exactly the charge into the pack plus compute's draw.
    unit = SupervisorParams(5, 0.5, 2.0, 2.0, 3.0, 1.0, 0.1, 0.2, dcl_usage=0.9, dcdc_efficiency=1.0,
                            charge_margin_w=0.0, charge_stop_w=20.0, charge_resume_w=45.0)
    sup = Supervisor(max_power_w=MAX_W, params=unit)

    def at(t: float, spare_w: float) -> Decision:
        return sup.decide(charging(t, pack_current_a=-spare_w / 100.0, pack_voltage_v=100.0))

    assert at(0.0, 100.0) == RUNNING
    assert at(0.1, 60.0) == RUNNING                                     # not below full power
    assert at(0.2, 59.0) == (State.DERATED, "CHARGE_ONLY", 59.0)
    assert at(0.3, 20.0) == (State.DERATED, "CHARGE_ONLY", 20.0)        # not below the stop figure
    assert at(0.4, 19.0) == (State.SAFE_STOP, "CHARGE_ONLY", 0.0)
    # Stopped: the estimate rises a tenth of the gap per tick; the unit restarts at 45 W, not below.
    assert at(0.5, 278.0) == (State.SAFE_STOP, "CHARGE_ONLY", 0.0)     # 19 + 25.9 = 44.9
    assert at(0.6, 44.9) == (State.SAFE_STOP, "CHARGE_ONLY", 0.0)
    assert at(0.7, 19.0) == (State.SAFE_STOP, "CHARGE_ONLY", 0.0)
    assert at(0.8, 279.0) == (State.DERATED, "CHARGE_ONLY", 45.0)      # 19 + 26.0 = 45.0
    # Limited: full power only at 60 + (45 - 20) = 85 W, and then it is not limited at 60 W.
    assert at(0.9, 444.0) == (State.DERATED, "CHARGE_ONLY", 60.0)      # 45 + 39.9 = 84.9
    assert at(1.0, 59.0) == (State.DERATED, "CHARGE_ONLY", 59.0)
    assert at(1.1, 319.0) == RUNNING                                    # 59 + 26.0 = 85.0
    assert at(1.2, 60.0) == RUNNING
    assert at(1.3, 59.5) == (State.DERATED, "CHARGE_ONLY", 59.5)


def test_a_replug_starts_the_charge_estimate_afresh(sup: Supervisor) -> None:
    assert sup.decide(charging(0.0, pack_current_a=0.1)) == (State.SAFE_STOP, "CHARGE_ONLY", 0.0)
    assert sup.decide(parked(0.1, pack_current_a=0.1)) == RUNNING
    # Plugged again into a strong charger: no latch, no limit, no slow rise from the old estimate.
    assert sup.decide(charging(0.2, pack_current_a=-8.0)) == RUNNING


def test_a_charge_with_little_to_spare_is_not_taken_for_a_latched_one(sup: Supervisor) -> None:
    # 30 W spare from the first tick of a charge (and of a charge after unplugging): a derate, not a stop.
    little_a = -(30.0 / EFF + 50.0) / V
    assert sup.decide(parked(0.0)) == RUNNING
    assert sup.decide(charging(0.1, pack_current_a=little_a)) == (State.DERATED, "CHARGE_ONLY", pytest.approx(30.0))


def test_a_charge_that_recovered_from_a_stop_stops_again_only_below_the_stop_figure(sup: Supervisor) -> None:
    assert sup.decide(charging(0.0, pack_current_a=0.5)).state is State.SAFE_STOP      # latched
    assert sup.decide(charging(0.1, pack_current_a=-8.0)) == RUNNING                    # spare rose past 45 W
    little_a = -(30.0 / EFF + 50.0) / V
    assert sup.decide(charging(0.2, pack_current_a=little_a)) == (State.DERATED, "CHARGE_ONLY", pytest.approx(30.0))


def test_a_pack_current_of_exactly_zero_on_a_charge_is_no_charge_into_the_pack(sup: Supervisor) -> None:
    # Compute's 60 W balance the charger exactly (the BMS reads 0.0 A): 60 W less the 50 W margin
    # through the DC-DC leaves 13.5 W, a stop; the estimate starts from there when the charge grows.
    assert sup.decide(charging(0.0, pack_current_a=0.0, compute_power_w=MAX_W)) == (State.SAFE_STOP, "CHARGE_ONLY", 0.0)
    assert sup.decide(charging(0.1, pack_current_a=-8.0, compute_power_w=0.0)) == RUNNING


def test_a_replug_forgets_the_top_hysteresis(sup: Supervisor) -> None:
    # Limited at 40 W spare, the spare rising to 70 W (believed slowly: 43 W), unplugged, plugged again
    # at 70 W: a new charge is not limited, as 70 W clears full power (60 W) and the top hysteresis is forgotten.
    spare_a = -(70.0 / EFF + 50.0) / V
    assert sup.decide(charging(0.0, pack_current_a=-(40.0 / EFF + 50.0) / V)).reason == "CHARGE_ONLY"
    assert sup.decide(charging(0.1, pack_current_a=spare_a)) == (
        State.DERATED, "CHARGE_ONLY", pytest.approx(43.0, rel=1e-12))
    sup.decide(parked(0.2))
    assert sup.decide(charging(0.3, pack_current_a=spare_a)) == RUNNING


def test_with_ignore_charge_only_the_pack_pays_for_compute_while_charging() -> None:
    sup = Supervisor(max_power_w=MAX_W, defects=frozenset({"ignore_charge_only"}))
    assert sup.decide(charging(0.0, pack_current_a=0.5)) == RUNNING


def test_with_ignore_dcl_an_unknown_pack_voltage_leaves_the_charge_only_rule_out() -> None:
    sup = Supervisor(max_power_w=MAX_W, defects=frozenset({"ignore_dcl"}))
    assert sup.decide(charging(0.0, pack_voltage_v=0.0, pack_current_a=0.5)) == RUNNING


# -- precedence among the battery rules ---------------------------------------------------------

def test_the_lowest_budget_wins_and_a_tie_keeps_the_first_rule(sup: Supervisor) -> None:
    # cell temperature and SOC both at half power: the first rule's reason stays.
    assert sup.decide(parked(0.0, temp_fault_level=1, soc_pct=24.0)) == (State.DERATED, "CELL_TEMP_WINDOW", 30.0)
    # the DCL below half power wins over both.
    d = sup.decide(parked(0.1, temp_fault_level=1, soc_pct=24.0, dcl_a=1.2, pack_current_a=1.0))
    assert (d.state, d.reason) == (State.DERATED, "DCL_LIMIT") and d.budget_w < 30.0
    # a DCL above half power loses to them.
    d = sup.decide(parked(0.2, soc_pct=24.0, dcl_a=1.25, pack_current_a=1.0))
    assert d == (State.DERATED, "SOC_RESERVE", 30.0)


def test_a_stop_names_the_first_rule_that_stops(sup: Supervisor) -> None:
    everything = dict(temp_fault_level=2, min_cell_voltage_v=3.05, soc_pct=21.0, dcl_a=0.0, pack_current_a=5.0)
    assert sup.decide(parked(0.0, **everything)).reason == "CELL_TEMP_WINDOW"
    assert sup.decide(parked(0.1, **{**everything, "temp_fault_level": 0})).reason == "CELL_VOLTAGE_LOW"
    sup = Supervisor(max_power_w=MAX_W)
    assert sup.decide(parked(0.2, soc_pct=21.0, dcl_a=0.0, pack_current_a=5.0)).reason == "SOC_RESERVE"
    sup = Supervisor(max_power_w=MAX_W)
    assert sup.decide(charging(0.3, dcl_a=None, pack_current_a=5.0)) == (State.STANDBY, "NO_DATA", 0.0)


def test_a_derate_ahead_of_a_charge_limit_at_full_power_is_still_a_derate(sup: Supervisor) -> None:
    # Charging inside the top hysteresis: the charge-only rule limits at full power (60 W) after
    # having been below it; the DERATED state says a rule is limiting.
    sup.decide(charging(0.0, pack_current_a=-(40.0 / EFF + 50.0) / V))
    d = sup.decide(charging(0.1, pack_current_a=-(70.0 / EFF + 50.0) / V))
    assert d.state is State.DERATED and d.reason == "CHARGE_ONLY"
