"""The schema of a scenario file, table by table, derived from what the bench already defines.

* ``[initial]`` is :class:`~hilbench.bench.BenchConfig` (the keys a scenario may set);
* ``[dut]`` is the keyword arguments of :meth:`ComputeEmulator.from_config
  <hilbench.dut.emulator.ComputeEmulator.from_config>`;
* a ``[[steps]]`` entry is the signature of its action (:data:`~.actions.ACTIONS`);
* a ``[[checks]]`` entry is :class:`~.model.Check`, ``[scenario]`` is :class:`~.model.Scenario`.

Types, defaults and units (by name: ``_c``, ``_pct``, ``_s``) come from there through
:func:`hilbench.schema.fields_of`; what follows is only what a type and a name cannot say: the
choices of a gear or a control-pilot state, the range an EVSE can advertise, the counts that start
at 1.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ..bench import BenchConfig
from ..bus.roles import CP_STATES, GEARS
from ..plant.evse import PP_CABLE_RATINGS, pp_resistor_to_current_a
from ..schema import PERCENT, TEMPERATURE, TIME, Field, Quantity, fields_of
from .model import Check, Scenario

#: BenchConfig fields a scenario does not set (they are how to run, not what: RunOptions and the CLI).
_NOT_INITIAL = ("seed", "dbc", "signal_map", "bus", "wall_time", "emulate", "dut", "record", "plant_step_s",
                "keep_traces")
#: A compute unit's coolant loop may be hot beyond any weather (a failed pump: the critical cut-off
#: scenario runs it at 120 C), but not beyond boiling under pressure.
COOLANT = Quantity("C", -60.0, 150.0, why="a coolant loop, a failed one included")
#: What the control pilot can advertise (IEC 61851-1: 6 A at 10 % duty .. 80 A at 96 %).
PILOT_CURRENT = Quantity("A", 6.0, 80.0, why="the control pilot advertises 6..80 A (IEC 61851-1)")
#: A scenario covers at most two nights of bench time; longer studies are campaigns (sweeps, fleets).
MAX_DURATION_S = 48 * 3600.0
POSITIVE_TIME = TIME.narrowed(low_open=True)


def _cable(value: float) -> str | None:
    try:
        pp_resistor_to_current_a(value)
    except ValueError:
        known = ", ".join(f"{ohm:g}" for ohm in PP_CABLE_RATINGS)
        return f"a cable's proximity resistor is one of {known} ohm (within 1.5x), got {value:g}"
    return None


def _count(least: int) -> dict[str, Any]:
    return {"least": least}


def _finite() -> dict[str, Any]:
    return {"quantity": Quantity("")}


INITIAL: dict[str, Field] = fields_of(BenchConfig, skip=_NOT_INITIAL, overrides={
    "series": _count(1), "parallel": _count(1), "gear": {"choices": GEARS},
    "coolant_c": {"quantity": COOLANT}, "evse_max_current_a": {"quantity": PILOT_CURRENT},
})


@functools.cache
def dut_schema() -> dict[str, Field]:
    """``[dut]``: the emulator's ``from_config`` keywords (imported on first use: the DUT is heavy)."""
    from ..dut.compute.supervisor import DEFECTS
    from ..dut.emulator import ComputeEmulator

    def defects(value: Any) -> str | None:
        names = [value] if isinstance(value, str) else value
        if not all(isinstance(n, str) for n in names):
            return f"expected a defect name or a list of them, got {value!r}"
        unknown = [n for n in names if n not in DEFECTS]
        return f"unknown defect(s) {unknown}; known: {', '.join(DEFECTS)}" if unknown else None

    def e2e(value: Any) -> str | None:
        from ..bus.e2e_sm import E2EConfig
        from ..errors import ConfigError

        try:
            E2EConfig.load(**value)
        except ConfigError as exc:
            return f"{exc.entry}: {exc.reason}" if exc.entry else exc.reason
        except TypeError as exc:
            return f"not E2E receiver settings: {exc}"
        return None

    return fields_of(ComputeEmulator.from_config, skip=("codec", "port", "clock", "seed"), overrides={
        "fidelity": {"choices": ("model", "real")}, "performance": {"choices": ("reference", "calibrated")},
        "defect": {"types": (str, list), "check": defects}, "coolant_c": {"quantity": COOLANT},
        "tick_s": {"quantity": POSITIVE_TIME.narrowed(high=1.0, why="a compute tick of at most 1 s")},
        "stale_cycles": {"quantity": Quantity("cycles", 1.0)}, "min_stale_s": {"quantity": TIME},
        "e2e": {"types": (dict,), "check": e2e},
        "request_tokens": {"least": 1},
        "model_sha256": {"check": lambda v: None if len(v) == 64 and all(c in "0123456789abcdefABCDEF" for c in v)
                         else f"expected a 64-digit hex SHA-256, got {v!r}"},
    })


#: ``[scenario]``: Scenario's fields as the file spells them (``duration``, not ``duration_s``).
META: dict[str, Field] = {
    **fields_of(Scenario, only=("name", "description", "markers", "catches"), overrides={"name": {"required": False}}),
    "duration": Field("duration", (int, float, str), required=True),
}
META["markers"] = Field("markers", (list,), check=lambda v: None if all(isinstance(m, str) for m in v)
                        else f"expected a list of marker names (strings), got {v!r}")

#: The file's name of each :class:`Check` field that differs from it.
CHECK_KEYS = {"within": "within_s", "duration": "duration_s", "from": "from_s", "until": "until_s",
              "vacuous": "vacuous_ok"}
CHECK_KINDS = ("always", "never", "eventually", "holds_for", "response", "cycle_times", "bus_integrity")
_CHECK_FIELDS = fields_of(Check, overrides={"kind": {"choices": CHECK_KINDS}, "tolerance_pct": {"quantity": PERCENT},
                                            "name": {"required": False}})
CHECK: dict[str, Field] = {
    file_key: _CHECK_FIELDS[CHECK_KEYS.get(file_key, file_key)]
    for file_key in ("kind", "name", "expr", "trigger", "within", "duration", "from", "until", "tolerance_pct",
                     "unit", "vacuous")
}
for _key in ("within", "duration", "from", "until"):   # times: a number of seconds or "90 s"
    CHECK[_key] = Field(_key, (int, float, str))
CHECK["vacuous"] = Field("vacuous", (str,), choices=("ok", "fail"))


# -- steps -------------------------------------------------------------------------------------
def _node(value: str) -> str | None:
    from .faults import NODES

    if value == "" or value.lower() in NODES:
        return None
    return f'unknown node "{value}"; known: {", ".join(NODES)}'


def _one_of(choices: tuple[str, ...]) -> Any:
    def check(value: str) -> str | None:
        return None if value in choices else f'expected one of {", ".join(choices)}, got "{value}"'
    return check


def _step_overrides() -> dict[str, dict[str, Any]]:
    """Per parameter name (or ``action.param``), what its type and name do not say."""
    from .fault_modes import MASQUERADE_MODES
    from .faults import SENSOR_ROLES, WRONG_COUNTER_MODES

    sensor = {"check": _one_of(SENSOR_ROLES)}
    return {
        "gear": {"choices": GEARS}, "state": {"choices": CP_STATES}, "node": {"check": _node},
        "every_n": _count(1), "count": _count(0), "bits": _count(1), "burst": _count(0), "frames": _count(1),
        "seed": _count(0), "current_a": {"quantity": PILOT_CURRENT},
        "evse_max_current_a": {"check": lambda v: None if v == 0 else PILOT_CURRENT.problem(v)},
        "cable_ohm": {"check": _cable}, "step_s": {"quantity": POSITIVE_TIME},
        "rate": {"quantity": Quantity("", 0.0, 1.0, low_open=True, why="a share of frames in (0, 1]")},
        "rate_per_s": _finite(), "offset": _finite(), "value": _finite(),
        "sigma": {"quantity": Quantity("", 0.0)},
        "set_coolant.value_c": {"quantity": COOLANT}, "heat_wave.coolant_c": {"quantity": COOLANT},
        "bus_off.duration_s": {"quantity": POSITIVE_TIME},
        "wrong_counter.mode": {"choices": WRONG_COUNTER_MODES}, "masquerade.mode": {"choices": MASQUERADE_MODES},
        "sensor_stuck.role": sensor, "sensor_offset.role": sensor, "sensor_drift.role": sensor,
        "sensor_noise.role": sensor,
    }


@functools.cache
def step_schema(action: str) -> dict[str, Field]:
    """The parameters of ``action`` (plus ``at``, ``action`` and ``name``) as fields."""
    from .actions import ACTIONS

    overrides = _step_overrides()
    func = ACTIONS[action].func
    mine = {key.split(".", 1)[1]: spec for key, spec in overrides.items() if key.startswith(f"{action}.")}
    shared = {key: spec for key, spec in overrides.items() if "." not in key}
    return fields_of(func, skip=("bench",), overrides={**shared, **mine})


def temperature_fields(schema: Mapping[str, Field]) -> list[str]:
    """The fields of ``schema`` that are temperatures (for the plausibility tests)."""
    return [name for name, f in schema.items() if f.quantity is not None and f.quantity.unit == "C"]


__all__ = ["CHECK", "CHECK_KEYS", "CHECK_KINDS", "COOLANT", "INITIAL", "MAX_DURATION_S", "META", "PILOT_CURRENT",
           "TEMPERATURE", "dut_schema", "step_schema", "temperature_fields"]
