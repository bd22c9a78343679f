"""Which roles the emulated compute unit needs, and what it assumes for the ones a car does not have.

:data:`~hilbench.dut.emulator.REQUIRED_ROLES` is a claim both ways: without
any one of its inputs the unit never computes (so a map must bind it), and
without any of :data:`~hilbench.dut.emulator.OPTIONAL_INPUT_ROLES` it still
runs, doing what that table says.  Both directions are checked here on the
small hand-written bus, so the constant cannot drift from the code.
"""

from __future__ import annotations

import pytest

import hilbench.dut.emulator as emulator_module
from hilbench.bus.roles import ROLES
from hilbench.dut.emulator import (
    INPUT_ROLES,
    OPTIONAL_INPUT_ROLES,
    REQUIRED_INPUT_ROLES,
    REQUIRED_OUTPUT_ROLES,
    REQUIRED_ROLES,
)
from hilbench.errors import ConfigError

# Roles of the small bus (tests/dut/conftest.py) the unit reads, and a value that differs from their default.
_OPTIONAL_ON_SMALL_BUS = ("drive_requested", "plug_present", "cp_state")


def test_the_role_tables_are_consistent() -> None:
    assert set(REQUIRED_ROLES) == set(REQUIRED_INPUT_ROLES) | set(REQUIRED_OUTPUT_ROLES)
    assert not set(REQUIRED_INPUT_ROLES) & set(OPTIONAL_INPUT_ROLES)
    assert set(REQUIRED_ROLES) | set(OPTIONAL_INPUT_ROLES) <= set(ROLES)
    assert all(ROLES[r].producer in ("bms", "vcu", "obc") for r in INPUT_ROLES)
    assert all(ROLES[r].producer == "cu" for r in REQUIRED_OUTPUT_ROLES)


@pytest.mark.parametrize("role", REQUIRED_ROLES)
def test_a_map_without_a_required_role_is_refused_naming_it(small_bus, role: str) -> None:
    with pytest.raises(ConfigError, match=rf"needs role\(s\) {role}\b.*--no-dut") as info:
        small_bus(drop=[role])
    assert info.value.entry == "roles"


@pytest.mark.parametrize("role", REQUIRED_INPUT_ROLES)
def test_without_a_required_input_the_unit_never_computes(small_bus, monkeypatch, role: str) -> None:
    """Past the check, the unit lacking ``role`` stays off: the role is truly required."""
    monkeypatch.setattr(emulator_module, "REQUIRED_ROLES", REQUIRED_OUTPUT_ROLES)
    rig = small_bus(drop=[role])
    rig.run_until(10.0)
    _, states, _ = rig.states()
    assert states and "RUNNING" not in states and "DERATED" not in states


def test_without_any_optional_input_the_unit_runs(small_bus) -> None:
    """No drive request, plug, pilot or charger node on the bus: parked, the unit computes."""
    rig = small_bus(drop=[*_OPTIONAL_ON_SMALL_BUS, "charge_current_limit_a"])
    assert "OBC_State" not in rig.emulator.stale_after_s   # no charger node: nothing there can go stale
    rig.run_until(10.0)
    _, states, reasons = rig.states()
    assert set(states) == {"RUNNING"} and set(reasons) == {"NONE"}


def test_no_drive_requested_role_means_not_requested(small_bus) -> None:
    """Mapped, a drive request stops the unit; unmapped, the same car value is not seen at all."""
    mapped = small_bus(values={"drive_requested": 1})
    mapped.run_until(5.0)
    assert set(mapped.states()[2]) == {"DRIVE_REQUESTED"}
    unmapped = small_bus(values={"drive_requested": 1}, drop=["drive_requested"])
    unmapped.run_until(5.0)
    assert set(unmapped.states()[1]) == {"RUNNING"}


def test_an_unmapped_charger_means_never_charging(small_bus) -> None:
    """Plugged in and charging as the car says it, but without the pilot role the unit treats the pack
    as discharging: the SOC reserve holds (reserve 20 %, SOC 21 %: stop)."""
    charging = {"cp_state": "C", "plug_present": 1, "soc_pct": 21.0}
    rig = small_bus(values=charging, drop=["cp_state"])
    rig.run_until(5.0)
    assert set(rig.states()[2]) == {"SOC_RESERVE"}


def test_a_message_with_no_role_the_unit_reads_is_not_watched(small_bus) -> None:
    """A 1000 ms BMS message carrying only the hottest cell (a role the unit does not read) goes
    silent: the unit does not watch it, so it keeps running."""
    rig = small_bus(rebind={"max_cell_temp_c": ("BMS_Info", "HottestCell")})
    assert "BMS_Info" in rig.codec.signal_map.messages_of("bms")
    assert "BMS_Info" not in rig.emulator.stale_after_s
    rig.at(5.0, lambda: rig.silent.add("BMS_Info"))
    rig.run_until(20.0)
    assert rig.last_sent_s["BMS_Info"] < 5.0
    assert set(rig.states()[1]) == {"RUNNING"}


def test_the_roles_flagged_required_are_exactly_what_the_compute_unit_needs() -> None:
    """``SignalMap.missing_roles`` (bus side, which cannot import the DUT) reads roles.py's flags."""
    from hilbench.bus.roles import ROLES
    from hilbench.dut.emulator import REQUIRED_ROLES

    assert {name for name, role in ROLES.items() if role.required} == set(REQUIRED_ROLES)
