"""Timeline actions: what a scenario step can do to the bench.

Each action is a plain function ``(bench, **params)`` registered with its
parameter types, so a scenario file is checked against this table at load
(unknown action, unknown or missing parameter, wrong type) before any bench
is built.  Fault injections live in :mod:`.faults` and :mod:`.fault_modes`
and register here too.

What only the bus description can tell (is the role a step acts through
mapped, is the node it acts on emulated, does the message exist) is declared
with the action too -- ``roles``, ``node`` and ``validate`` -- and checked by
:func:`step_problems` before any scenario of a run starts
(:func:`hilbench.scenarios.check_runnable`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..bench import NODE_NAMES, Bench
from ..bus.codec import BenchCodec
from ..bus.roles import CP_STATES, GEARS
from ..bus.signal_map import SignalMap

#: (parameter, reason): one thing wrong with a step; parameter "" is the step as a whole.
Problem = tuple[str, str]


@dataclass(frozen=True)
class BusView:
    """What a step may be checked against without a bench: the codec (DBC + signal map) and the
    nodes the bench emulates (``bms``, ``vcu``, ``obc``, ``cu``)."""

    codec: BenchCodec
    emulated: frozenset[str] = frozenset(NODE_NAMES)

    @property
    def signal_map(self) -> SignalMap:
        return self.codec.signal_map

    def is_mapped(self, role: str) -> bool:
        return self.codec.signal_map.is_mapped(role)

    @classmethod
    def of(cls, bench: Bench) -> BusView:
        """The view of a built bench: its codec and the nodes it really emulates."""
        emulated = {name for name, node in bench.nodes.items() if node.enabled}
        if bench.dut is not None:
            emulated.add("cu")
        return cls(bench.codec, frozenset(emulated))


@dataclass(frozen=True)
class ActionSpec:
    name: str
    func: Callable[..., None]
    params: dict[str, tuple[type, bool]]   # name -> (type, required)
    doc: str
    #: Roles the action reaches the bus through: unmapped, the step would silently do nothing.
    roles: tuple[str, ...] = ()
    #: The node the action acts through: not emulated, the step would silently do nothing.
    node: str | None = None
    #: Further checks of a step's parameters against the bus description.
    validate: Callable[[Mapping[str, Any], BusView], list[Problem]] | None = None


ACTIONS: dict[str, ActionSpec] = {}

_TYPES = {"float": float, "int": int, "str": str, "bool": bool}
_NODE_TITLES = {"bms": "BMS", "vcu": "VCU", "obc": "OBC", "cu": "compute unit"}


def action(func: Callable[..., None] | None = None, *, roles: tuple[str, ...] = (), node: str | None = None,
           validate: Callable[[Mapping[str, Any], BusView], list[Problem]] | None = None) -> Any:
    """Register ``func`` as a scenario action named after it (``@action`` or ``@action(roles=...)``)."""
    def register(func: Callable[..., None]) -> Callable[..., None]:
        params: dict[str, tuple[type, bool]] = {}
        for pname, p in list(inspect.signature(func).parameters.items())[1:]:
            annotation = p.annotation if isinstance(p.annotation, str) else getattr(p.annotation, "__name__", "str")
            base = annotation.split("|")[0].strip()
            params[pname] = (_TYPES.get(base, str), p.default is inspect.Parameter.empty)
        ACTIONS[func.__name__] = ActionSpec(func.__name__, func, params, (func.__doc__ or "").strip(),
                                            tuple(roles), node, validate)
        return func

    return register(func) if func is not None else register


def step_problems(name: str, params: Mapping[str, Any], view: BusView) -> list[Problem]:
    """Everything that keeps a step of action ``name`` from acting on this bus, as (parameter, reason)."""
    spec = ACTIONS[name]
    problems: list[Problem] = []
    if spec.node is not None and spec.node not in view.emulated:
        title = _NODE_TITLES[spec.node]
        problems.append(("", f'"{name}" acts through the emulated {title}, but this bench does not emulate it '
                             f"(a real {title} is on the bus): the step would not reach the bus"))
    for role in spec.roles:
        if not view.is_mapped(role):
            problems.append(("", f'"{name}" reaches the bus through role "{role}", which the signal map '
                                 f"{view.signal_map.path} does not map: the step would not reach the bus"))
    if spec.validate is not None:
        problems.extend(spec.validate(params, view))
    return problems


# -- charging -------------------------------------------------------------------
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
    bench.vehicle.set_ambient_c(value_c)


@action(roles=("coolant_temp_c",), node="vcu")
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
from . import fault_modes as _fault_modes  # noqa: E402,F401  (registration side effect)
from . import faults as _faults  # noqa: E402,F401  (registration side effect)
