"""Property-based fuzzing of every loader: scenario, DUT config, signal map, DBC, chemistry.

Inputs are the bundled valid files, mutated at random -- a value replaced by one of another type or
out of any range, a key deleted, renamed or added, the text cut, spliced or garbled.  The invariant is
the same for every kind: one clean :class:`~hilbench.errors.ConfigError` (file and reason, every
problem with an entry or a line), or an input whose every value the bench can mean; never another
exception, never a hang past the time bound.  Scenarios that load are also run through
``hilbench run`` (exit 0, 1 or 2 only).

Seeded (``derandomize``) so CI sees the same examples; ``HILBENCH_SLOW=1`` runs twenty times as many.
"""

from __future__ import annotations

import math
import os
import random
import re
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hilbench.bus import default_dbc_paths, load_bus_description
from hilbench.errors import ConfigError
from hilbench.plant.chemistry import CHEMISTRY_DIR, load_chemistry
from hilbench.scenarios import load_scenario
from hilbench.scenarios.fuzz import fuzz_space
from hilbench.scenarios.schema import MAX_DURATION_S

from .corpus import (
    FUZZ_SCENARIOS,
    SHORT_SCENARIO,
    Hang,
    _bench_map_text,
    bundled_scenarios,
    dumps,
    run_main,
    time_bound,
)

SLOW = bool(os.environ.get("HILBENCH_SLOW"))
EXAMPLES = 1000 if SLOW else 50
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TIME_BOUND_S = 20.0

# -- mutations -----------------------------------------------------------------------------------
ODD_VALUES = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e29, -1000.0, -273.16, 365.0, 101.0, float("nan"), float("inf"), 2**64]),
    st.text(max_size=10),
    st.sampled_from(["P", "X", "D", "lfp", "90 s", "-5 s", "1e400 s", "0x7FF-0x700", "P99", "BMS_PackStatus",
                     "PackVoltage", "autosar_p2", "crc8", "nan", ""]),
    st.booleans(),
    st.lists(st.integers(min_value=-5, max_value=300), max_size=4),
    st.dictionaries(st.sampled_from(["scheme", "message", "signal", "x", "at"]), st.integers(-3, 300), max_size=2),
)


def _slots(node: Any, path: tuple = ()) -> list[tuple]:
    """Every place in parsed TOML that holds a value: (container, key, path)."""
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        out.append((node, key, (*path, key)))
        out.extend(_slots(value, (*path, key)))
    return out


@st.composite
def mutated_data(draw: st.DrawFn, bases: list[dict[str, Any]]) -> dict[str, Any]:
    """A bundled file's data with 1-3 mutations: replace, delete, rename or add."""
    data = tomllib.loads(dumps(draw(st.sampled_from(bases))))   # a deep copy
    for _ in range(draw(st.integers(1, 3))):
        slots = _slots(data)
        if not slots:
            break
        container, key, _ = draw(st.sampled_from(slots))
        op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "rename", "add"]))
        if op == "replace":
            container[key] = draw(ODD_VALUES)
        elif op == "delete":
            del container[key]
        elif op == "rename" and isinstance(container, dict):
            container[key + draw(st.sampled_from(["_", "x", "s"]))] = container.pop(key)
        elif isinstance(container, dict):
            container[draw(st.sampled_from(["extra", "soc", "temp_c", "at", "dbc", "scheme"]))] = draw(ODD_VALUES)
    return data


@st.composite
def garbled_text(draw: st.DrawFn, texts: list[str]) -> str | bytes:
    """A bundled file's text cut, spliced, with junk inserted or a line doubled or dropped."""
    text = draw(st.sampled_from(texts))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["cut", "insert", "delete", "double", "drop_line", "bytes"]))
        at = draw(st.integers(0, max(0, len(text) - 1)))
        if op == "cut":
            text = text[:at]
        elif op == "insert":
            text = text[:at] + draw(st.text(max_size=8)) + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)):]
        elif op == "double" or op == "drop_line":
            lines = text.splitlines(keepends=True)
            if lines:
                n = draw(st.integers(0, len(lines) - 1))
                lines[n:n + 1] = [lines[n], lines[n]] if op == "double" else []
                text = "".join(lines)
        else:
            raw = text.encode("utf-8")
            return raw[:at] + draw(st.binary(min_size=1, max_size=6)) + raw[at:]
    return text


# -- the invariant ------------------------------------------------------------------------------
def _outcome(load: Callable[[], Any]) -> Any:
    """What ``load()`` returns, or None when it refused the input cleanly."""
    try:
        with time_bound(TIME_BOUND_S):
            return load()
    except ConfigError as exc:
        assert exc.problems and all(p.reason and (p.entry or p.line or p.file) for p in exc.problems), exc
        assert str(exc) and "Traceback" not in str(exc)
        return None
    except Hang:
        pytest.fail(f"the loader did not finish within {TIME_BOUND_S} s")


def _finite_numbers(node: Any, where: str = "") -> list[tuple[str, float]]:
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _finite_numbers(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            out += _finite_numbers(value, f"{where}[{i}]")
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        assert math.isfinite(node), f"{where} = {node} accepted"
        out.append((where, float(node)))
    return out


def _plausible(name: str, value: float) -> None:
    """The bench's plausibility rules, written out again here (not imported) so the test can fail."""
    key = name.rsplit(".", 1)[-1]
    if key.endswith("_pct"):
        assert 0 <= value <= 100, f"{name} = {value} % accepted"
    if key.endswith("_c") and "coolant" not in name and "set_coolant" not in name:
        assert -60 <= value <= 90, f"{name} = {value} C accepted"
    if key.endswith("_c"):
        assert -60 <= value <= 150, f"{name} = {value} C accepted"
    if key.endswith("_s"):
        assert value >= 0, f"{name} = {value} s accepted"


def _check_scenario(scenario: Any) -> None:
    assert 0 < scenario.duration_s <= MAX_DURATION_S
    for where, value in _finite_numbers({"initial": scenario.initial, "dut": scenario.dut}):
        _plausible(where, value)
    assert scenario.dut.get("fidelity", "model") in ("model", "real")
    assert 0 < scenario.dut.get("tick_s", 0.1) <= 1
    for i, step in enumerate(scenario.steps):
        assert 0 <= step.at_s <= scenario.duration_s
        for where, value in _finite_numbers(step.params, f"steps[{i}].{step.action}"):
            _plausible(where, value)
        if step.action == "shift":
            assert step.params["gear"] in ("P", "R", "N", "D")
    for check in scenario.checks:
        for value in (check.within_s, check.duration_s, check.from_s, check.until_s):
            assert value is None or (math.isfinite(value) and value >= 0)
    if scenario.fuzz:
        # the [fuzz] ranges were checked at load: every end one a scenario could hold
        for param in fuzz_space(scenario).params:
            ends = param.choices or (param.low, param.high)
            for _where, value in _finite_numbers(list(ends), f"fuzz.{param.path}"):
                _plausible(f"fuzz.{param.path}", value)
                if param.is_time:
                    assert value <= scenario.duration_s, f"fuzz.{param.path} = {value} s after the end"
            if param.key == "gear":
                assert set(ends) <= {"P", "R", "N", "D"}, f"fuzz.{param.path} = {ends}"


# -- scenarios and DUT configs -------------------------------------------------------------------
#: The bundled scenarios and the fuzz-ready ones (whose [fuzz] ranges are checked at load too).
SCENARIO_FILES = [*bundled_scenarios(), *FUZZ_SCENARIOS]
SCENARIO_DATA = [tomllib.loads(p.read_text(encoding="utf-8")) for p in SCENARIO_FILES]
SCENARIO_TEXTS = [p.read_text(encoding="utf-8") for p in SCENARIO_FILES]
WORK = Path(tempfile.mkdtemp(prefix="hilbench-fuzz-"))


def _write(name: str, body: str | bytes) -> Path:
    path = WORK / name
    if isinstance(body, bytes):
        path.write_bytes(body)
    else:
        path.write_text(body, encoding="utf-8")
    return path


def _holds(name: str, body: str | bytes, load: Callable[[Path], Any], check: Callable[[Any], None]) -> None:
    """The invariant for one input: ``load`` refuses the file cleanly, or what it loads passes ``check``."""
    path = _write(name, body)
    loaded = _outcome(lambda: load(path))
    if loaded is not None:
        check(loaded)


@FUZZ
@given(mutated_data(SCENARIO_DATA))
def test_mutated_scenarios_load_cleanly_or_not_at_all(data: dict[str, Any]) -> None:
    _holds("scenario.toml", dumps(data), load_scenario, _check_scenario)


@FUZZ
@given(garbled_text(SCENARIO_TEXTS))
def test_garbled_scenario_text_loads_cleanly_or_not_at_all(text: str | bytes) -> None:
    _holds("scenario.toml", text, load_scenario, _check_scenario)


DUT_VALUES = st.dictionaries(
    st.sampled_from(["fidelity", "performance", "defect", "coolant_c", "tick_s", "stale_cycles", "min_stale_s",
                     "e2e", "model", "turbo"]),
    st.one_of(ODD_VALUES, st.sampled_from(["model", "reference", "ignore_reserve", 0.1, 2.0, 40.0])),
    min_size=1, max_size=3)


@FUZZ
@given(DUT_VALUES)
def test_dut_configs_load_cleanly_or_not_at_all(dut: dict[str, Any]) -> None:
    _holds("scenario.toml", dumps({**SHORT_SCENARIO, "dut": dut}), load_scenario, _check_scenario)


# Scenarios that load are run: a short bench (3 s) with random steps from the actions' own vocabulary.
STEP = st.fixed_dictionaries({
    "at": st.sampled_from([0, 1, "1 s", 2.5, "2500 ms"]),
    "action": st.sampled_from(["shift", "set_reserve", "cold_soak", "set_ambient", "set_coolant", "plug_in",
                               "unplug", "set_cp_state", "set_evse_current", "heat_wave", "drop", "delay",
                               "node_silent", "bus_off", "sensor_offset", "set_cell_temps", "request_drive"]),
}, optional={
    "gear": st.sampled_from(["P", "D", "x", "X", 3]), "soc_pct": ODD_VALUES, "temp_c": ODD_VALUES,
    "value_c": ODD_VALUES, "to_c": ODD_VALUES, "state": st.sampled_from(["C", "E", "Z"]), "current_a": ODD_VALUES,
    "node": st.sampled_from(["bms", "vcu", "esp"]), "delay_s": ODD_VALUES, "duration_s": ODD_VALUES,
    "role": st.sampled_from(["soc_pct", "gear"]), "offset": ODD_VALUES, "on": st.booleans(),
})


@settings(max_examples=EXAMPLES // 2, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(STEP, min_size=1, max_size=3))
def test_random_steps_through_hilbench_run_end_in_a_verdict_or_a_clean_refusal(steps: list[dict]) -> None:
    path = _write("run.toml", dumps({**SHORT_SCENARIO, "steps": sorted(steps, key=lambda s: str(s["at"]))}))
    outcome = run_main(["run", "-j", "1", str(path)], timeout_s=60.0)
    assert not outcome.hung, "hilbench run hung"
    assert outcome.escaped is None, f"{outcome.escaped!r} escaped main()"
    assert outcome.code in (0, 1, 2), outcome.err
    assert "Traceback" not in outcome.err and "internal error" not in outcome.err, outcome.err
    if outcome.code == 2:
        assert outcome.err.startswith("error: ") and str(path) in outcome.err


# -- signal maps and DBCs ------------------------------------------------------------------------
MAP_DATA = [tomllib.loads(_bench_map_text())]


def _check_map(description: Any) -> None:
    sm = description.signal_map
    for binding in sm.roles.values():
        assert math.isfinite(binding.scale) and binding.scale != 0 and math.isfinite(binding.offset)
    for name, cycle in sm.cycle_time_s.items():
        assert math.isfinite(cycle) and cycle > 0, f"{name} cycle {cycle}"
    for base in sm.e2e_data_id_base.values():
        assert 0 <= base <= 255
    for name in sm.used_messages:
        assert description.db.get_message_by_name(name).length in (*range(1, 9), 12, 16, 20, 24, 32, 48, 64)


@FUZZ
@given(mutated_data(MAP_DATA))
def test_mutated_signal_maps_load_cleanly_or_not_at_all(data: dict[str, Any]) -> None:
    _holds("lab.signals.toml", dumps(data), lambda p: load_bus_description(signal_map=p), _check_map)


@FUZZ
@given(garbled_text([_bench_map_text()]))
def test_garbled_signal_map_text_loads_cleanly_or_not_at_all(text: str | bytes) -> None:
    _holds("lab.signals.toml", text, lambda p: load_bus_description(signal_map=p), _check_map)


BENCH_DBC, CU_DBC = (p.read_text(encoding="cp1252") for p in default_dbc_paths())
_write("compute_unit.dbc", CU_DBC)
_write("dbc.signals.toml", _bench_map_text(("hilbench.dbc", "compute_unit.dbc")))


@st.composite
def mutated_dbc(draw: st.DrawFn) -> str | bytes:
    """The bench DBC with a number in a statement changed (a start bit, a length, a factor, an ID, a
    cycle time) or garbled as text."""
    if draw(st.booleans()):
        return draw(garbled_text([BENCH_DBC]))
    numbers = list(re.finditer(r"-?\d+(?:\.\d+)?", BENCH_DBC))
    text = BENCH_DBC
    for _ in range(draw(st.integers(1, 3))):
        match = draw(st.sampled_from(numbers))
        new = str(draw(st.sampled_from([0, -1, 1, 7, 64, 65, 255, 256, 2047, 4294967295, 0.0, 1e9, -20])))
        text = text[:match.start()] + new + text[match.end():]
        numbers = list(re.finditer(r"-?\d+(?:\.\d+)?", text))
    return text


@FUZZ
@given(mutated_dbc())
def test_mutated_dbcs_load_cleanly_or_not_at_all(text: str | bytes) -> None:
    body = text.decode("cp1252", errors="replace").encode("cp1252", errors="replace") if isinstance(text, bytes) \
        else text.encode("cp1252", errors="replace")
    (WORK / "hilbench.dbc").write_bytes(body)
    description = _outcome(lambda: load_bus_description(signal_map=WORK / "dbc.signals.toml"))
    if description is not None:
        _check_map(description)


# -- chemistries ---------------------------------------------------------------------------------
CHEMISTRY_DATA = [tomllib.loads(p.read_text(encoding="utf-8")) for p in sorted(CHEMISTRY_DIR.glob("*.toml"))]
CHEMISTRY_TEXTS = [p.read_text(encoding="utf-8") for p in sorted(CHEMISTRY_DIR.glob("*.toml"))]


def _check_chemistry(chem: Any) -> None:
    for where, value in _finite_numbers({k: getattr(chem, k) for k in chem.__dataclass_fields__
                                         if not k.startswith("_") and k not in ("sources",)}):
        is_temperature = where.endswith("_c") or where.startswith(("discharge_", "charge_", "capacity_temp_c"))
        if is_temperature and "doubling" not in where:
            assert -60 <= value <= 90, f"{where} = {value} accepted"
    assert chem.capacity_ah > 0 and chem.r0_ohm > 0 and chem.cell_mass_kg > 0
    assert chem.min_voltage_v < chem.nominal_voltage_v < chem.max_voltage_v
    assert all(b > a for a, b in zip(chem.ocv_voltage_v, chem.ocv_voltage_v[1:]))
    assert chem.discharge_min_c < chem.discharge_max_c and chem.charge_min_c < chem.charge_max_c


@FUZZ
@given(mutated_data(CHEMISTRY_DATA))
def test_mutated_chemistries_load_cleanly_or_not_at_all(data: dict[str, Any]) -> None:
    _holds("cell.toml", dumps(data), load_chemistry, _check_chemistry)


@FUZZ
@given(garbled_text(CHEMISTRY_TEXTS))
def test_garbled_chemistry_text_loads_cleanly_or_not_at_all(text: str | bytes) -> None:
    _holds("cell.toml", text, load_chemistry, _check_chemistry)


def test_the_mutations_do_break_inputs() -> None:
    """The fuzzing is not vacuous: most mutated files are refused (and some still load)."""
    rng = random.Random(0)
    refused = 0
    for _ in range(40):
        data = tomllib.loads(dumps(rng.choice(SCENARIO_DATA)))
        slots = _slots(data)
        container, key, _ = rng.choice(slots)
        container[key] = rng.choice([float("nan"), -1000.0, "X", [1], 365.0])
        path = _write("probe.toml", dumps(data))
        refused += _outcome(lambda p=path: load_scenario(p)) is None
    assert 20 <= refused <= 40
