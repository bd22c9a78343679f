"""A car's BMS that puts the unit's inputs on pages of one multiplexed message.

Each page is an input of its own: its roles reach the unit whatever page came
last before a tick, it goes stale on its own (a page comes once per round of
the DBC's pages, so its timeout is that many cycles longer), and until every
required input has come once the unit waits (STANDBY, NO_DATA) rather than
stop on the first role whose page has not come round yet.
"""

from __future__ import annotations

import can

from hilbench.dut.emulator import TICK_S

# The discharge limit on page 0 and the fault level on page 1 of BMS_Paged (50 ms; the DBC has 3 pages).
PAGED = {"discharge_current_limit_a": ("BMS_Paged", "Dcl", 0), "bms_fault_level": ("BMS_Paged", "FaultLvl", 1)}


def _page(payload: bytes) -> int:
    return payload[0] & 0x03


def test_each_page_is_watched_on_a_round_of_pages(small_bus) -> None:
    rig = small_bus(rebind=PAGED)
    timeouts = rig.emulator.stale_after_s
    assert "BMS_Paged" not in timeouts
    # 5 cycles of a page that comes every 3 x 50 ms: 0.75 s (above the 0.5 s floor).
    assert timeouts["BMS_Paged[0]"] == timeouts["BMS_Paged[1]"] == 0.75


def test_every_page_reaches_the_unit_though_one_page_always_comes_last(small_bus) -> None:
    """Two frames per tick, page 0 then page 1: keeping one frame per message would lose page 0 for ever."""
    rig = small_bus(rebind=PAGED)
    rig.run_until(10.0)
    pages = [(t, _page(data)) for t, name, data in rig.sent if name == "BMS_Paged"]
    assert {p for _, p in pages} == {0, 1}
    assert rig.emulator.inputs["discharge_current_limit_a"] == 300.0
    assert rig.emulator.inputs["bms_fault_level"] == "NONE"
    assert set(rig.states()[1][2:]) == {"RUNNING"}


def test_a_page_that_stops_coming_stops_the_unit(small_bus) -> None:
    rig = small_bus(rebind=PAGED)

    def drop_page_1(msg: can.Message) -> can.Message | None:
        return None if rig.clock.now >= 10.0 and _page(msg.data) == 1 else msg

    rig.tamper["BMS_Paged"] = drop_page_1
    rig.run_until(15.0)
    sent = [(t, _page(data)) for t, name, data in rig.sent if name == "BMS_Paged"]
    last_page_1 = max(t for t, p in sent if p == 1)
    assert max(t for t, p in sent if p == 0) > 14.0        # the message itself goes on
    t, states, reasons = rig.states()
    first = next(i for i, (ti, st) in enumerate(zip(t, states)) if ti > 1.0 and st != "RUNNING")
    assert last_page_1 + 0.75 < t[first] <= last_page_1 + 0.75 + TICK_S + 0.002
    assert (states[first], reasons[first]) == ("SAFE_STOP", "BMS_STALE")


def test_the_unit_waits_for_inputs_not_yet_seen_and_then_runs_at_once(small_bus) -> None:
    """The BMS's 1000 ms message first comes at 1 s: until then the unit waits (no stop, so no 2 s
    resume hold after it), and it runs from the first tick after it came."""
    rig = small_bus()
    rig.silent.add("BMS_Thermal")
    rig.at(1.0, lambda: rig.silent.discard("BMS_Thermal"))
    rig.run_until(5.0)
    t, states, reasons = rig.states()
    running = [i for i, st in enumerate(states) if st == "RUNNING"]
    assert running and set(zip(states[:running[0]], reasons[:running[0]])) == {("STANDBY", "NO_DATA")}
    first_frame = min(ti for ti, name, _ in rig.sent if name == "BMS_Thermal")
    assert first_frame < t[running[0]] <= first_frame + TICK_S + 0.002
    assert set(states[running[0]:]) == {"RUNNING"}
