"""The vehicle's and the EVSE's actions: plug in, shift, set the reserve, the weather, the coolant...

Each acts on the bench's plant or emulated nodes as a driver, a charge point or
a climate chamber would; the nodes put the change on the bus.  Registered in
:mod:`.registry`; fault injections live in :mod:`.faults` and :mod:`.fault_modes`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..bench import Bench
from ..bus.roles import CP_STATES, GEARS
from .registry import BusView, Problem, action


@action(roles=("plug_present",))
def plug_in(bench: Bench, cable_ohm: float = 220.0, evse_max_current_a: float = 0.0) -> None:
    """Connect the charging cable (the OBC then closes S2: CP state C)."""
    if evse_max_current_a:
        bench.evse.set_max_current_a(evse_max_current_a)
    bench.obc.charge_wanted = True
    bench.evse.plug_in(cable_ohm)


@action(roles=("plug_present",))
def unplug(bench: Bench) -> None:
    """Pull the cable, also in the middle of a charge (plug yanked)."""
    bench.evse.unplug()


def _one_of(key: str, allowed: tuple[str, ...]) -> Callable[[Mapping[str, Any], BusView], list[Problem]]:
    def validate(params: Mapping[str, Any], view: BusView) -> list[Problem]:
        value = params.get(key)
        if value is not None and str(value).strip().upper() not in allowed:
            return [(key, f'must be one of {", ".join(allowed)}, got "{value}"')]
        return []

    return validate


@action(roles=("cp_state",), validate=_one_of("state", CP_STATES))
def set_cp_state(bench: Bench, state: str) -> None:
    """Force the control pilot: B (connected, not charging), C (charging), E or F (EVSE error)."""
    state = state.upper()
    if state in ("E", "F"):
        bench.evse.set_fault("no_power" if state == "E" else "unavailable")
        return
    bench.evse.clear_fault()
    if state == "A":
        bench.evse.unplug()
    elif state == "B":
        bench.obc.charge_wanted = False
    elif state in ("C", "D"):
        bench.obc.charge_wanted = True
    else:
        raise ValueError(f"control-pilot state must be one of A-F, got {state!r}")


@action
def set_evse_current(bench: Bench, current_a: float) -> None:
    """Change the current the EVSE advertises per phase (pilot duty)."""
    bench.evse.set_max_current_a(current_a)


# -- vehicle -----------------------------------------------------------------------
@action(roles=("gear",), node="vcu", validate=_one_of("gear", GEARS))
def shift(bench: Bench, gear: str) -> None:
    """Move the gear selector (P, R, N, D)."""
    bench.vehicle.set_gear(gear)


@action(roles=("ignition_on",), node="vcu")
def set_ignition(bench: Bench, on: bool) -> None:
    """Switch the ignition (ready/run) on or off; the VCU reports it on its next frame."""
    bench.vehicle.set_ignition(on)


@action(roles=("drive_requested",), node="vcu")
def request_drive(bench: Bench, on: bool = True) -> None:
    """The driver asks to drive (start button, app pre-conditioning for a trip)."""
    bench.vcu.drive_requested = on


@action(roles=("compute_allowed",), node="vcu")
def request_compute(bench: Bench, on: bool = True) -> None:
    """The owner allows (or stops) the token factory."""
    bench.vcu.compute_allowed = on


def _reserve_in_range(params: Mapping[str, Any], view: BusView) -> list[Problem]:
    value = params.get("soc_pct")
    if value is not None and not 0.0 <= value <= 100.0:
        return [("soc_pct", f"a reserve must be within 0..100 % SOC, got {value}")]
    return []


@action(roles=("range_reserve_soc_pct",), node="vcu", validate=_reserve_in_range)
def set_reserve(bench: Bench, soc_pct: float) -> None:
    """Change the driver's range reserve (SOC floor)."""
    bench.vehicle.set_reserve_soc_pct(soc_pct)


# -- climate -------------------------------------------------------------------------
@action
def set_ambient(bench: Bench, value_c: float) -> None:
    """Change the outside air temperature (C): the VCU reports it, and the pack takes it at the next plant step.

    Raises:
        ValueError: a non-finite temperature.
    """
    bench.vehicle.set_ambient_c(value_c)


@action(roles=("coolant_temp_c",), node="vcu")
def set_coolant(bench: Bench, value_c: float) -> None:
    """Coolant temperature the compute unit's heatsink sees."""
    bench.vehicle.set_coolant_c(value_c)


@action
def set_cell_temps(bench: Bench, value_c: float) -> None:
    """Soak every cell to ``value_c`` at once (a climate-chamber step)."""
    bench.pack.set_cell_temps_c([value_c] * bench.pack.series)


__all__ = [
    "plug_in", "request_compute", "request_drive", "set_ambient", "set_cell_temps", "set_coolant",
    "set_cp_state", "set_evse_current", "set_ignition", "set_reserve", "shift", "unplug",
]
