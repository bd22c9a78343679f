"""Per-message staleness: each input goes stale on its own cycle time, not on one fixed figure.

A car sends its thermal and vehicle messages every 1000 ms: with one fixed
0.5 s timeout the unit would sit in SAFE_STOP between every two frames.  The
timeout of a message is ``max(stale_cycles x cycle, min_stale_s)``
(``supervisor.toml``: 5 cycles, at least 0.5 s), the DUT config and the
signal map may change both figures, and the map may give a message its own.
"""

from __future__ import annotations

import can
import numpy as np
import pytest

from hilbench.bench import Bench, BenchConfig
from hilbench.dut.compute.supervisor import SupervisorParams
from hilbench.dut.emulator import TICK_S, stale_timeouts_s
from hilbench.errors import ConfigError

SLOW = {"BMS_Thermal": "BMS_STALE", "VCU_State": "VCU_STALE"}   # the 1000 ms messages and their reasons


def test_defaults_come_from_the_data_file() -> None:
    params = SupervisorParams.load()
    assert (params.stale_cycles, params.min_stale_s) == (5, 0.5)


def test_each_message_times_out_on_its_own_cycle(small_bus) -> None:
    rig = small_bus()
    assert rig.emulator.stale_after_s == {"BMS_Pack": 0.5, "BMS_Thermal": 5.0, "VCU_State": 5.0, "OBC_State": 0.5}


def test_a_1000_ms_source_does_not_go_stale_between_frames(small_bus) -> None:
    rig = small_bus()
    rig.run_until(30.0)
    t, states, reasons = rig.states()
    assert len(t) >= 290
    assert set(states) == {"RUNNING"} and set(reasons) == {"NONE"}


@pytest.mark.parametrize("message", sorted(SLOW))
def test_silencing_a_1000_ms_source_stops_the_unit_within_its_timeout(small_bus, message: str) -> None:
    rig = small_bus()
    rig.at(20.0, lambda: rig.silent.add(message))
    rig.run_until(35.0)
    last_frame_s = rig.last_sent_s[message]
    timeout_s = rig.emulator.stale_after_s[message]
    assert timeout_s == 5.0
    t, states, reasons = rig.states()
    stopped = [i for i, s in enumerate(states) if s != "RUNNING"]
    assert stopped, f"the unit kept running with {message} silent"
    first = stopped[0]
    # Not before the declared timeout, and by then plus one tick (the status frame follows its tick by 1 ms).
    assert last_frame_s + timeout_s < t[first] <= last_frame_s + timeout_s + TICK_S + 0.002
    assert (states[first], reasons[first]) == ("SAFE_STOP", SLOW[message])
    assert set(states[first:]) == {"SAFE_STOP"}


def test_a_20_ms_cycle_still_gets_the_floor(small_bus) -> None:
    rig = small_bus(cycles_ms={"BMS_Pack": 20})
    assert rig.emulator.stale_after_s["BMS_Pack"] == 0.5


def test_the_dut_config_sets_both_figures(small_bus) -> None:
    rig = small_bus(dut={"stale_cycles": 3, "min_stale_s": 1.0})
    assert rig.emulator.stale_after_s == {"BMS_Pack": 1.0, "BMS_Thermal": 3.0, "VCU_State": 3.0, "OBC_State": 1.0}
    rig.at(20.0, lambda: rig.silent.add("VCU_State"))
    rig.run_until(30.0)
    t, states, _ = rig.states()
    first = t[[s != "RUNNING" for s in states]][0]
    assert rig.last_sent_s["VCU_State"] + 3.0 < first <= rig.last_sent_s["VCU_State"] + 3.0 + TICK_S + 0.002


@pytest.mark.parametrize(("key", "value"), [("stale_cycles", 0.5), ("stale_cycles", "5"), ("min_stale_s", -0.1),
                                            ("min_stale_s", True), ("stale_cycles", float("nan"))])
def test_the_dut_config_refuses_bad_figures(small_bus, key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"dut.{key}"):
        small_bus(dut={key: value})


def test_the_maps_timing_wins_over_the_dut_config(small_bus) -> None:
    rig = small_bus(dut={"stale_cycles": 3, "min_stale_s": 1.0}, map_extra="[timing]\nstale_cycles = 8\n")
    assert rig.emulator.stale_after_s == {"BMS_Pack": 1.0, "BMS_Thermal": 8.0, "VCU_State": 8.0, "OBC_State": 1.0}
    floor = small_bus(dut={"stale_cycles": 3}, map_extra="[timing]\nmin_stale_ms = 2000\n")
    assert floor.emulator.stale_after_s == {"BMS_Pack": 2.0, "BMS_Thermal": 3.0, "VCU_State": 3.0, "OBC_State": 2.0}


def test_an_explicit_timeout_wins_over_everything(small_bus) -> None:
    rig = small_bus(dut={"stale_cycles": 3}, map_extra="[timing]\nstale_cycles = 8\n\n[timeout_ms]\nVCU_State = 2500\n")
    assert rig.emulator.stale_after_s["VCU_State"] == 2.5
    assert rig.emulator.stale_after_s["BMS_Thermal"] == 8.0
    rig.at(20.0, lambda: rig.silent.add("VCU_State"))
    rig.run_until(30.0)
    t, states, reasons = rig.states()
    first = [i for i, st in enumerate(states) if st != "RUNNING"][0]
    last_frame_s = rig.last_sent_s["VCU_State"]
    assert last_frame_s + 2.5 < t[first] <= last_frame_s + 2.5 + TICK_S + 0.002
    assert reasons[first] == "VCU_STALE"


class _Map:
    """A map with a message that has neither a cycle time nor a timeout (the loader refuses such a
    role source; the unit must not rely on that alone)."""

    path = "car.signals.toml"
    cycle_time_s = {"A": 1.0}
    stale_cycles = None
    min_stale_s = None

    def __init__(self, timeouts: dict[str, float]) -> None:
        self.timeouts = timeouts

    def timeout_s(self, message: str) -> float | None:
        return self.timeouts.get(message)


def test_a_message_without_cycle_time_or_timeout_is_refused() -> None:
    with pytest.raises(ConfigError, match=r'"B" but it has no cycle time'):
        stale_timeouts_s(_Map({}), ["A", "B"], SupervisorParams.load())   # type: ignore[arg-type]
    assert stale_timeouts_s(_Map({"B": 2.0}), ["A", "B"], SupervisorParams.load())["B"] == 2.0  # type: ignore[arg-type]


def test_the_bench_dbc_keeps_half_a_second_everywhere() -> None:
    """The bench's own messages are 20-100 ms: the defaults give today's 0.5 s for each of them."""
    with Bench(BenchConfig()) as bench:
        timeouts = bench.dut.stale_after_s
    assert timeouts and set(timeouts.values()) == {0.5}
    assert set(timeouts) == {"BMS_PackStatus", "BMS_CellExtremes", "BMS_Limits", "BMS_Faults", "VCU_VehicleStatus",
                             "OBC_ChargerStatus"}
    assert np.all(np.array(list(timeouts.values())) == 0.5)


PROTECTED = '[protection.VCU_State]\nscheme = "xor"\nchecksum = "Checksum"\ncounter = "Counter"\n'


def test_a_cars_own_checksum_is_checked_by_the_unit(small_bus) -> None:
    """The map declares an XOR checksum and counter on the VCU message: frames with a bad checksum
    are refused by the unit (counted, never used) and it stops, as with the bench's own AUTOSAR E2E."""
    rig = small_bus(map_extra=PROTECTED)
    protection = rig.codec.message("VCU_State").protection
    assert protection is not None and protection.has_checksum

    def corrupt(msg: can.Message) -> can.Message:
        msg.data = protection.corrupt_checksum(bytearray(msg.data))
        return msg

    rig.run_until(10.0)
    assert rig.emulator.e2e_errors == 0
    times, states, _reasons = rig.states()
    assert set(s for t, s in zip(times, states) if t > 3.5) == {"RUNNING"}   # after INIT of a 1 s message
    rig.tamper["VCU_State"] = corrupt
    rig.run_until(25.0)
    assert rig.emulator.e2e_errors >= 10
    t, states, reasons = rig.states()
    stopped = [i for i, st in enumerate(states) if st != "RUNNING" and t[i] > 3.5]
    assert stopped and states[stopped[0]] == "SAFE_STOP" and reasons[stopped[0]] in ("E2E_ERROR", "VCU_STALE")
    assert t[stopped[0]] <= 10.0 + rig.emulator.stale_after_s["VCU_State"] + TICK_S + 0.002


def test_silencing_works_the_same_when_every_timeout_agrees(small_bus) -> None:
    """All inputs at 100 ms: one 0.5 s timeout for all (the bench DBC's case, which observe takes a
    shorter way through)."""
    rig = small_bus(cycles_ms={"BMS_Thermal": 100, "VCU_State": 100})
    assert set(rig.emulator.stale_after_s.values()) == {0.5}
    rig.at(10.0, lambda: rig.silent.add("VCU_State"))
    rig.run_until(12.0)
    t, states, reasons = rig.states()
    first = next(i for i, st in enumerate(states) if st != "RUNNING")
    last_frame_s = rig.last_sent_s["VCU_State"]
    assert last_frame_s + 0.5 < t[first] <= last_frame_s + 0.5 + TICK_S + 0.002
    assert (states[first], reasons[first]) == ("SAFE_STOP", "VCU_STALE")
