"""The registry of scenario actions: what a step can name, its parameters, and what it needs of the bus.

Each action is a plain function ``(bench, **params)`` registered with :func:`action`
together with its parameter types, so a scenario file is checked against this
table at load (unknown action, unknown or missing parameter, wrong type) before
any bench is built.

What only the bus description can tell (is the role a step acts through
mapped, is the node it acts on emulated, does the message exist) is declared
with the action too -- ``roles``, ``node`` and ``validate`` -- and checked by
:func:`step_problems` before any scenario of a run starts
(:func:`hilbench.scenarios.check_runnable`).

The modules that define actions (:mod:`.vehicle_actions`, :mod:`.faults`,
:mod:`.fault_modes`) import this one and nothing imports them back but
:mod:`.actions`, which loads them all: the table is complete wherever
:mod:`.actions` is imported.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..bench import NODE_NAMES, Bench
from ..bus.codec import BenchCodec
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
        """The signal map the codec was built with (roles to DBC signals)."""
        return self.codec.signal_map

    def is_mapped(self, role: str) -> bool:
        """Whether the signal map binds ``role`` to a DBC signal (a step through an unmapped role reaches nothing)."""
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
    """A registered action: its function, its parameters and what it needs of the bus.

    ``params`` maps each parameter (the function's, after ``bench``) to its type (float,
    int, str or bool, from the annotation; anything else is taken as str) and whether a
    step must give it (it has no default).  ``doc`` is the function's docstring.
    """

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
def apply(bench: Bench, name: str, params: dict[str, Any]) -> None:
    """Run the action ``name`` on ``bench`` now, with ``params`` as checked at load."""
    ACTIONS[name].func(bench, **params)


__all__ = ["ACTIONS", "ActionSpec", "BusView", "Problem", "action", "apply", "step_problems"]
