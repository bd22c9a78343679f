"""Behaviour of the bundled compute emulator on a whole bench, judged only from the bus.

Issue "Vehicle compute emulator": too-hot coolant, a pack near the driver's
reserve, a silent BMS, a car that is not parked, the fidelity switch and the
economics.  Each rule is run twice where a seeded defect switches it off
(``BenchConfig(dut={"defect": ...})``): once to show the emulator keeps it,
once to show the same assertions see the defect, so every test proves it
can fail.

Sessions are run once per module (``scope="module"`` fixtures) and closed
before any test reads them: the monitor's traces outlive the buses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np
import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.dut.compute.governor import TripPoint
from hilbench.scenarios.actions import apply
from hilbench.scenarios.runner import economics_of

TICK_S = 0.1              # the emulator's tick
STATUS_CYCLE_S = 0.1      # CU_Status cycle time (DBC)
REACTION_S = TICK_S + STATUS_CYCLE_S
STALE_AFTER_S = 0.5       # supervisor.toml [timeouts] stale_after_s
CRITICAL_C = 107.0        # governor critical trip (DOMAIN.md: shutdown at ~105-110 C)
RESUME_C = 107.0 - 15.0   # ... and its hysteresis: resume below 92 C
STOP_MARGIN_PCT = 2.0     # supervisor.toml [soc] stop_margin_pct


# -- harness ------------------------------------------------------------------------------
Step = tuple[float, str, dict]


def session(duration_s: float, steps: Iterable[Step] = (), *, defect: str | None = None,
            prepare: Callable[[Bench], None] | None = None, **config) -> Bench:
    """Run a bench for ``duration_s`` with ``steps`` (time, action, params); return it closed.

    ``prepare`` may change the built bench before it starts (a defect no config switch seeds).
    """
    config.setdefault("soc_pct", 60.0)
    config.setdefault("ambient_c", 25.0)
    dut = dict(config.pop("dut", {}))
    if defect is not None:
        dut["defect"] = defect
    with Bench(BenchConfig(dut=dut, **config)) as bench:
        if prepare is not None:
            prepare(bench)
        for t_s, name, params in steps:
            bench.clock.call_at(t_s, lambda name=name, params=params: apply(bench, name, params))
        bench.run_for(duration_s)
    return bench


@dataclass
class Status:
    """The DUT's CU_Status frames as the bench monitor decoded them, one array per role."""

    t: np.ndarray
    state: np.ndarray          # state names
    reason: np.ndarray         # reason names
    power_w: np.ndarray
    junction_c: np.ndarray

    @classmethod
    def of(cls, bench: Bench) -> Status:
        mon = bench.monitor
        t, state = mon.trace("cu_state")
        _, reason = mon.trace("cu_reason")
        _, power = mon.trace("compute_power_w")
        _, junction = mon.trace("junction_temp_c")
        names = np.array(mon.states_of("cu_state"))
        reasons = np.array(mon.states_of("cu_reason"))
        return cls(t, names[state.astype(int)], reasons[reason.astype(int)], power, junction)

    def changes(self) -> list[tuple[float, str, str]]:
        """(time, state, reason) of every frame whose state or reason differs from the frame before."""
        out: list[tuple[float, str, str]] = []
        for t, s, r in zip(self.t, self.state, self.reason):
            if not out or (out[-1][1], out[-1][2]) != (s, r):
                out.append((float(t), str(s), str(r)))
        return out

    def first(self, mask: np.ndarray, after_s: float = -np.inf) -> float | None:
        hits = np.flatnonzero(mask & (self.t >= after_s))
        return float(self.t[hits[0]]) if len(hits) else None


def bus_value_at(bench: Bench, role: str, t_s: np.ndarray) -> np.ndarray:
    """The value of ``role`` as last seen on the bus at each of ``t_s`` (NaN before its first frame)."""
    t, v = bench.monitor.trace(role)
    idx = np.searchsorted(t, t_s, side="right") - 1
    return np.where(idx >= 0, v[np.clip(idx, 0, None)], np.nan)


# -- 1. too-hot coolant ---------------------------------------------------------------------
# The unit has soaked in a warm loop (90 C); at 5 s the coolant runs away to 125 C, which the
# throttled unit cannot outrun; at 200 s the loop recovers to 20 C.
HOT_STEPS = [(5.0, "set_coolant", {"value_c": 125.0}), (200.0, "set_coolant", {"value_c": 20.0})]
HOT = {"coolant_c": 90.0, "dut": {"coolant_c": 90.0}}


@pytest.fixture(scope="module")
def hot_coolant() -> Bench:
    return session(400.0, HOT_STEPS, **HOT)


@pytest.fixture(scope="module")
def hot_coolant_ignore_thermal() -> Bench:
    return session(400.0, HOT_STEPS, defect="ignore_thermal", **HOT)


def check_thermal_stop(bench: Bench) -> None:
    st = Status.of(bench)
    assert [c[1:] for c in st.changes()] == [
        ("STANDBY", "NO_DATA"),                 # until every input's E2E receiver is VALID (INIT)
        ("RUNNING", "NONE"),
        ("DERATED", "JUNCTION_THROTTLE"),
        ("SAFE_STOP", "JUNCTION_CRITICAL"),
        ("DERATED", "JUNCTION_THROTTLE"),       # resumes at the deepest cooling state ...
        ("RUNNING", "NONE"),                    # ... and steps back up
    ], st.changes()
    t_stop = st.first(st.state == "SAFE_STOP")
    assert t_stop is not None
    assert st.junction_c[st.t == t_stop][0] >= CRITICAL_C - 1.0       # stopped at the trip, not before
    assert st.junction_c.max() <= CRITICAL_C + 2.0                     # and the trip held the junction
    # Cooled below the resume temperature (the bus rounds to 1 C) ...
    t_cool = st.first(st.junction_c <= RESUME_C, after_s=t_stop)
    assert t_cool is not None, "the junction never fell below the resume temperature"
    # ... and not one watt of compute between the stop and then.
    between = (st.t >= t_stop) & (st.t < t_cool)
    assert np.all(st.power_w[between] == 0.0), st.power_w[between].max()
    assert np.all(st.state[between] == "SAFE_STOP")
    t_resume = st.first(st.power_w > 0, after_s=t_stop)
    assert t_resume is not None and t_resume >= t_cool
    assert st.junction_c[st.t == t_resume][0] <= RESUME_C
    assert st.state[-1] == "RUNNING" and st.power_w[-1] == pytest.approx(60.0)


def test_too_hot_coolant_throttles_stops_and_resumes_after_the_hysteresis(hot_coolant: Bench) -> None:
    check_thermal_stop(hot_coolant)


def test_too_hot_coolant_with_ignore_thermal_exceeds_the_critical_trip(hot_coolant_ignore_thermal: Bench) -> None:
    st = Status.of(hot_coolant_ignore_thermal)
    assert st.junction_c.max() > CRITICAL_C + 10.0
    assert not np.any(st.state == "SAFE_STOP")
    assert np.all(st.power_w[st.junction_c > CRITICAL_C] > 0)        # computing through the trip
    with pytest.raises(AssertionError):
        check_thermal_stop(hot_coolant_ignore_thermal)


def test_too_hot_coolant_without_critical_hysteresis_is_seen() -> None:
    """No seeded defect drops the critical trip's hysteresis, so drop it by hand: the check sees it."""
    def no_hysteresis(bench: Bench) -> None:
        governor = bench.dut.unit.governor
        governor.trips = replace(governor.trips, critical=TripPoint(CRITICAL_C, 0.0))

    bench = session(400.0, HOT_STEPS, prepare=no_hysteresis, **HOT)
    st = Status.of(bench)
    t_stop = st.first(st.state == "SAFE_STOP")
    t_resume = st.first(st.power_w > 0, after_s=t_stop)
    assert t_resume is not None and st.junction_c[st.t == t_resume][0] > RESUME_C + 5.0
    with pytest.raises(AssertionError):
        check_thermal_stop(bench)


def test_thermal_states_reported_on_the_bus_are_in_the_transition_log(hot_coolant: Bench) -> None:
    """``supervisor.transitions`` (the snapshot's and the TUI's log) lists what the DUT reported."""
    reported = [c[1:] for c in Status.of(hot_coolant).changes()]
    logged = [t[1:] for t in hot_coolant.dut.supervisor.transitions]
    assert logged == reported


# -- 2. unplugging with the SOC just above the reserve ---------------------------------------
# A small pack (2s1p, ~0.5 kWh) so 60 W moves the SOC 1 % in a few minutes; plugged and
# charging at 22.4 % (reserve 20 % + 2 % stop margin + 0.4 %), unplugged at 10 s.
RESERVE_PCT = 20.0
NEAR_RESERVE = {"series": 2, "parallel": 1, "soc_pct": RESERVE_PCT + STOP_MARGIN_PCT + 0.4,
                "reserve_soc_pct": RESERVE_PCT, "plugged_in": True}
UNPLUG_S = 10.0


@pytest.fixture(scope="module")
def near_reserve() -> Bench:
    return session(600.0, [(UNPLUG_S, "unplug", {})], **NEAR_RESERVE)


@pytest.fixture(scope="module")
def near_reserve_ignore_reserve() -> Bench:
    return session(600.0, [(UNPLUG_S, "unplug", {})], defect="ignore_reserve", **NEAR_RESERVE)


def soc_and_reserve(bench: Bench) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t, soc = bench.monitor.trace("soc_pct")
    return t, soc, bus_value_at(bench, "range_reserve_soc_pct", t)


def check_reserve_kept(bench: Bench) -> None:
    _, soc, reserve = soc_and_reserve(bench)
    seen = ~np.isnan(reserve)
    assert np.all(soc[seen] >= reserve[seen]), f"SOC {soc[seen].min()} % below the reserve"
    st = Status.of(bench)
    on_pack = st.t > UNPLUG_S + 1.0
    assert np.any(st.power_w[on_pack] > 0), "never computed on the pack: the test proves nothing"
    t_stop = st.first((st.state == "SAFE_STOP") & (st.reason == "SOC_RESERVE"), after_s=UNPLUG_S)
    assert t_stop is not None, "compute never stopped for the reserve"
    assert np.all(st.power_w[st.t >= t_stop] == 0.0)
    assert np.all(st.state[st.t >= t_stop] == "SAFE_STOP")
    soc_at_stop = float(bus_value_at(bench, "soc_pct", np.array([t_stop]))[0])
    assert soc_at_stop > RESERVE_PCT


def test_unplug_just_above_the_reserve_stops_compute_before_the_reserve(near_reserve: Bench) -> None:
    t, _, _ = soc_and_reserve(near_reserve)
    assert np.any((t < UNPLUG_S) & (bus_value_at(near_reserve, "charge_power_w", t) > 0)), "never charged"
    check_reserve_kept(near_reserve)


def test_unplug_with_ignore_reserve_goes_below_the_reserve(near_reserve_ignore_reserve: Bench) -> None:
    _, soc, _ = soc_and_reserve(near_reserve_ignore_reserve)
    assert soc.min() < RESERVE_PCT
    st = Status.of(near_reserve_ignore_reserve)
    below = bus_value_at(near_reserve_ignore_reserve, "soc_pct", st.t) < RESERVE_PCT
    assert np.any(st.power_w[below] > 0)                        # computing below the reserve
    with pytest.raises(AssertionError):
        check_reserve_kept(near_reserve_ignore_reserve)


# -- 3. a BMS that goes silent -----------------------------------------------------------------
SILENT_S = 3.0


def bms_silent_session(defect: str | None) -> Bench:
    return session(6.0, [(SILENT_S, "node_silent", {"node": "bms"})], defect=defect)


def last_bms_frame_s(bench: Bench) -> float:
    return max(bench.monitor.stats[name].last_s for name in bench.codec.signal_map.messages_of("bms")
               if bench.monitor.stats[name].count)


def check_stale_bms_stops(bench: Bench) -> None:
    st = Status.of(bench)
    last_bms = last_bms_frame_s(bench)
    assert SILENT_S - 0.03 < last_bms <= SILENT_S                    # the BMS did go silent at 3 s
    assert st.state[st.t <= last_bms][-1] in ("RUNNING", "DERATED")
    assert st.power_w[st.t <= last_bms][-1] > 0                      # it was computing then
    t_stop = st.first((st.state == "SAFE_STOP") & (st.reason == "BMS_STALE"), after_s=last_bms)
    assert t_stop is not None, "no SAFE_STOP (BMS_STALE) after the BMS fell silent"
    assert t_stop - last_bms <= STALE_AFTER_S + REACTION_S + 1e-6, t_stop - last_bms
    after = st.t >= t_stop
    assert np.all(st.power_w[after] == 0.0)
    assert np.all(st.state[after] == "SAFE_STOP")


def test_silent_bms_stops_compute_within_the_stale_timeout() -> None:
    bench = bms_silent_session(None)
    check_stale_bms_stops(bench)
    st = Status.of(bench)
    t_stop = st.first(st.state == "SAFE_STOP")
    assert t_stop - last_bms_frame_s(bench) >= STALE_AFTER_S - 0.1  # and not on a whim before the timeout


def test_silent_bms_with_ignore_stale_keeps_computing() -> None:
    bench = bms_silent_session("ignore_stale")
    st = Status.of(bench)
    assert not np.any(st.state == "SAFE_STOP")
    assert np.all(st.power_w[st.t > SILENT_S + 1.0] > 0)
    with pytest.raises(AssertionError):
        check_stale_bms_stops(bench)


# -- 4. not parked ---------------------------------------------------------------------------------
# Computing in P; the driver shifts to D and back, then asks to drive and stops asking
# (between two VCU samples, so the whole reaction chain is exercised).
NOT_PARKED_STEPS = [
    (3.05, "shift", {"gear": "D"}), (8.05, "shift", {"gear": "P"}),
    (13.05, "request_drive", {"on": True}), (18.05, "request_drive", {"on": False}),
]


@pytest.fixture(scope="module")
def not_parked() -> Bench:
    return session(23.0, NOT_PARKED_STEPS)


@pytest.fixture(scope="module")
def not_parked_ignore_gear() -> Bench:
    return session(23.0, NOT_PARKED_STEPS, defect="ignore_gear")


def not_parked_mask(bench: Bench, t_s: np.ndarray) -> np.ndarray:
    """True where the bus said, at ``t_s``, that the car is not in P or driving is requested."""
    gears = np.array(bench.monitor.states_of("gear"))
    gear = bus_value_at(bench, "gear", t_s)
    drive = bus_value_at(bench, "drive_requested", t_s)
    known = ~np.isnan(gear)
    not_p = np.zeros(len(t_s), bool)
    not_p[known] = gears[gear[known].astype(int)] != "P"
    return not_p | (drive == 1)


def check_no_compute_unless_parked(bench: Bench) -> None:
    st = Status.of(bench)
    # Not parked on the bus now, and already one tick and one status cycle ago: the
    # DUT has had its reaction time, so not one watt.
    blocked = not_parked_mask(bench, st.t) & not_parked_mask(bench, st.t - REACTION_S)
    assert blocked.sum() > 50, "the car was never seen out of P: the test proves nothing"
    assert np.all(st.power_w[blocked] == 0.0), st.t[blocked & (st.power_w > 0)]
    assert set(zip(st.state[blocked], st.reason[blocked])) <= {("STANDBY", "GEAR_NOT_PARK"),
                                                             ("STANDBY", "DRIVE_REQUESTED")}


def test_not_parked_never_computes(not_parked: Bench) -> None:
    check_no_compute_unless_parked(not_parked)
    st = Status.of(not_parked)
    for t_s in (3.0, 9.0, 13.0, 22.9):          # computing in P before, between and after
        assert st.power_w[st.t <= t_s][-1] > 0, t_s
    reasons = {r for t, s, r in st.changes()}
    assert {"GEAR_NOT_PARK", "DRIVE_REQUESTED"} <= reasons


def test_not_parked_with_ignore_gear_computes_in_d(not_parked_ignore_gear: Bench) -> None:
    st = Status.of(not_parked_ignore_gear)
    in_d = not_parked_mask(not_parked_ignore_gear, st.t) & not_parked_mask(not_parked_ignore_gear, st.t - REACTION_S)
    assert np.any(st.power_w[in_d] > 0)
    with pytest.raises(AssertionError):
        check_no_compute_unless_parked(not_parked_ignore_gear)


# -- 5. the fidelity switch -----------------------------------------------------------------------
def test_real_and_model_fidelity_agree_on_tokens() -> None:
    tokens: dict[str, int] = {}
    for fidelity in ("model", "real"):
        bench = session(20.0, dut={"fidelity": fidelity})
        unit = bench.dut.unit
        tokens[fidelity] = unit.tokens_total
        if fidelity == "real":
            assert unit.engine is not None and unit.requests_started > 0   # it really ran ONNX Runtime
        else:
            assert unit.engine is None
        assert bench.monitor.latest["tokens_total"] <= unit.tokens_total     # and said so on the bus
    assert tokens["model"] > 300                                              # ~20 tok/s for ~20 s
    assert tokens["real"] == pytest.approx(tokens["model"], rel=0.05), tokens


# -- 6. economics ---------------------------------------------------------------------------------
PLUGGED_S = 60.0


@pytest.fixture(scope="module")
def half_plugged() -> Bench:
    return session(2 * PLUGGED_S, [(PLUGGED_S, "unplug", {})], series=4, parallel=1, plugged_in=True)


def test_energy_from_grid_and_pack_add_up(half_plugged: Bench) -> None:
    dut = half_plugged.dut
    unit = dut.unit
    tick_energy_j = 60.0 * TICK_S
    assert dut.energy_from_grid_j > 0.5 * 60.0 * PLUGGED_S       # most of the plugged minute at 60 W
    assert dut.energy_from_pack_j > 0.5 * 60.0 * PLUGGED_S       # and of the unplugged one
    assert dut.energy_from_grid_j + dut.energy_from_pack_j == pytest.approx(unit.energy_j_total, abs=tick_energy_j)
    # The split follows the plug: no grid energy is booked after the cable is pulled.
    assert dut.energy_from_grid_j <= 60.0 * (PLUGGED_S + REACTION_S) + tick_energy_j
    # The CU_Energy frames say the same (1 Wh resolution, 1 s cycle).
    latest = half_plugged.monitor.latest
    assert latest["energy_from_grid_wh"] == pytest.approx(dut.energy_from_grid_j / 3600.0, abs=1.0)
    assert latest["energy_from_pack_wh"] == pytest.approx(dut.energy_from_pack_j / 3600.0, abs=1.0)


def test_tokens_per_kwh_is_tokens_over_kwh(half_plugged: Bench) -> None:
    unit = half_plugged.dut.unit
    econ = economics_of(half_plugged)
    assert econ.tokens == unit.tokens_total > 0
    kwh = unit.energy_j_total / 3.6e6
    assert econ.compute_energy_kwh == pytest.approx(kwh, rel=0.01)
    assert econ.energy_from_pack_kwh + econ.energy_from_grid_kwh == pytest.approx(kwh, rel=1e-9)
    assert econ.tokens_per_kwh == pytest.approx(unit.tokens_total / kwh, rel=0.01)
    # The reference table: 20 tok/s at 60 W is 1.2 M tokens/kWh.
    assert econ.tokens_per_kwh == pytest.approx(20.0 / 60.0 * 3.6e6, rel=0.05)
