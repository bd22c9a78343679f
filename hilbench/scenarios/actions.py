"""Timeline actions: what a scenario step can do to the bench.

Each action is a plain function ``(bench, **params)`` registered with its
parameter types, so a scenario file is checked against this table at load
(unknown action, unknown or missing parameter, wrong type) before any bench
is built.  Fault injections live in :mod:`.faults` and register here too.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..bench import Bench


@dataclass(frozen=True)
class ActionSpec:
    name: str
    func: Callable[..., None]
    params: dict[str, tuple[type, bool]]   # name -> (type, required)
    doc: str


ACTIONS: dict[str, ActionSpec] = {}

_TYPES = {"float": float, "int": int, "str": str, "bool": bool}


def action(func: Callable[..., None]) -> Callable[..., None]:
    """Register ``func`` as a scenario action named after it."""
    params: dict[str, tuple[type, bool]] = {}
    for pname, p in list(inspect.signature(func).parameters.items())[1:]:
        annotation = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", "str")
        base = annotation.split("|")[0].strip()
        params[pname] = (_TYPES.get(base, str), p.default is inspect.Parameter.empty)
    ACTIONS[func.__name__] = ActionSpec(func.__name__, func, params, (func.__doc__ or "").strip())
    return func


# -- charging -------------------------------------------------------------------
@action
def plug_in(bench: Bench, cable_ohm: float = 220.0, evse_max_current_a: float = 0.0) -> None:
    """Connect the charging cable (the OBC then closes S2: CP state C)."""
    if evse_max_current_a:
        bench.evse.set_max_current_a(evse_max_current_a)
    bench.obc.charge_wanted = True
    bench.evse.plug_in(cable_ohm)


@action
def unplug(bench: Bench) -> None:
    """Pull the cable, also in the middle of a charge (plug yanked)."""
    bench.evse.unplug()


@action
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
@action
def shift(bench: Bench, gear: str) -> None:
    """Move the gear selector (P, R, N, D)."""
    bench.vehicle.set_gear(gear)


@action
def set_ignition(bench: Bench, on: bool) -> None:
    bench.vehicle.set_ignition(on)


@action
def request_drive(bench: Bench, on: bool = True) -> None:
    """The driver asks to drive (start button, app pre-conditioning for a trip)."""
    bench.vcu.drive_requested = on


@action
def request_compute(bench: Bench, on: bool = True) -> None:
    """The owner allows (or stops) the token factory."""
    bench.vcu.compute_allowed = on


@action
def set_reserve(bench: Bench, soc_pct: float) -> None:
    """Change the driver's range reserve (SOC floor)."""
    bench.vehicle.set_reserve_soc_pct(soc_pct)


# -- climate -------------------------------------------------------------------------
@action
def set_ambient(bench: Bench, value_c: float) -> None:
    bench.vehicle.set_ambient_c(value_c)


@action
def set_coolant(bench: Bench, value_c: float) -> None:
    """Coolant temperature the compute unit's heatsink sees."""
    bench.vehicle.set_coolant_c(value_c)


@action
def set_cell_temps(bench: Bench, value_c: float) -> None:
    """Soak every cell to ``value_c`` at once (a climate-chamber step)."""
    bench.pack.set_cell_temps_c([value_c] * bench.pack.series)


def apply(bench: Bench, name: str, params: dict[str, Any]) -> None:
    ACTIONS[name].func(bench, **params)


# Fault injections register themselves with @action on import; importing them
# here means the table is complete wherever actions are (the loader included).
from . import faults as _faults  # noqa: E402,F401  (registration side effect)
