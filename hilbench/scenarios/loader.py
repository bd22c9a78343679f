"""Loading scenario files (TOML), refusing bad ones with every problem at once: file, entry, line, reason.

Everything is checked before a bench is built, table by table against the schema of
:mod:`.schema` (derived from BenchConfig, the compute emulator's config, the actions' signatures,
Check and Scenario): unknown keys, wrong types or units, values no bench can mean (an SOC of
365 %, a cell at -1000 C, a gear "X"), unknown actions or parameters, times out of order or past
the end, check expressions naming signals no role has.  A problem does not stop the pass: every
table is read and every problem of the file is reported together.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..bus.roles import ROLES
from ..errors import ConfigError
from ..resources import scenarios_dir
from ..schema import Problems, TomlLines, read_toml, suggest
from .actions import ACTIONS
from .expr import ExprError, compile_expr
from .model import Check, Scenario, Step
from .schema import (
    CHECK,
    INITIAL,
    MAX_DURATION_S,
    META,
    dut_schema,
    step_schema,
)

_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0}
_PART = r"([0-9]+(?:\.[0-9]*)?)\s*(ms|sec|min|s|h)"
_DURATION = re.compile(rf"^\s*(?:{_PART}\s*)+$")
_TABLES = ("scenario", "initial", "dut", "steps", "checks", "fuzz")

#: The keys of ``[initial]`` and ``[dut]`` with the type a value takes (for ``hilbench fuzz``).
INITIAL_KEYS: dict[str, type] = {name: (float if float in f.types else f.types[0]) for name, f in INITIAL.items()}


def __getattr__(name: str) -> Any:
    # DUT_KEYS needs the compute emulator's signature: built on first use, not on import.
    if name == "DUT_KEYS":
        return {key: (float if float in f.types else f.types[0]) for key, f in dut_schema().items()}
    raise AttributeError(name)


def parse_duration(value: object, file: Path | str | None, entry: str) -> float:
    """Seconds from a number (seconds) or a string with a unit: ``"90 s"``, ``"30min"``, ``"8h"``, ``"2h30min"``.

    Raises:
        ConfigError: not a time, not finite, or negative.
    """
    seconds = _duration(value)
    if isinstance(seconds, str):
        raise ConfigError(file, entry, seconds)
    return seconds


def _duration(value: object) -> float | str:
    """Seconds, or the reason ``value`` is not a time."""
    if isinstance(value, bool):
        return f"expected a time, got {value!r}"
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        if not _DURATION.match(value):
            return (f'expected a time such as 90, "90 s", "30min", "8h" or "2h30min", got "{value}" '
                    f'(units: {", ".join(_UNITS)})')
        seconds = sum(float(number) * _UNITS[unit] for number, unit in re.findall(_PART, value))
    else:
        return f"expected a time, got {type(value).__name__} {value!r}"
    if not math.isfinite(seconds):
        return f"expected a finite time, got {value!r}"
    if seconds < 0:
        return f"time must be >= 0, got {seconds:g} s"
    return seconds


class _Locator:
    """Finds the line of ``[[table]]`` number k (and a key inside it) in the raw text, for messages."""

    def __init__(self, text: str) -> None:
        self._lines = TomlLines(text)

    def line(self, table: str, index: int | None = None, key: str | None = None) -> int | None:
        entry = table + (f"[{index}]" if index is not None else "") + (f".{key}" if key else "")
        return self._lines.line(entry)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate one scenario file.

    Raises:
        ConfigError: listing every problem of the file, each with the entry (``steps[3].at``),
            its line and the reason.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(file, None, "cannot read: no such scenario file")
    data, text = read_toml(file, "a scenario")
    return load_scenario_data(data, file, text)


def load_scenario_data(data: dict[str, Any], file: str | Path, text: str = "") -> Scenario:
    """Validate an already parsed scenario (``text``, if given, lets messages cite lines).

    Raises:
        ConfigError: listing every problem found.
    """
    file = Path(file)
    problems = Problems(file, text)
    for name in data:
        if name not in _TABLES:
            problems.add(name, f"unknown table{suggest(name, _TABLES)}; allowed: {', '.join(_TABLES)}")
    meta = _meta(problems, data.get("scenario"), file)
    duration = meta.get("duration_s")
    initial = _initial(problems, problems.table(data.get("initial", {}), "initial"), file)
    dut = _dut(problems, problems.table(data.get("dut", {}), "dut"), file)
    steps = _steps(problems, data.get("steps", []), duration, file)
    checks = _checks(problems, data.get("checks", []), duration)
    fuzz = problems.table(data.get("fuzz", {}), "fuzz")
    problems.raise_if_any()
    assert duration is not None   # a missing or refused duration was raised just above
    scenario = Scenario(name=meta["name"], duration_s=duration, description=meta.get("description", ""),
                        initial=initial, dut=dut, steps=tuple(steps), checks=tuple(checks),
                        markers=tuple(meta.get("markers", ())), source=file, fuzz=dict(fuzz),
                        catches=meta.get("catches", ()))
    if fuzz:
        # The ranges are judged against the scenario they vary, so only once the rest is sound; a run
        # refuses what `hilbench fuzz` would (imported here: the search itself imports this module).
        from .fuzz import fuzz_space

        fuzz_space(scenario, text)
    return scenario


# -- one validator per table ---------------------------------------------------------------------
def _meta(problems: Problems, raw: object, file: Path) -> dict[str, Any]:
    """``[scenario]``: name, description, duration (> 0, at most two days), markers, seeded defects caught."""
    if raw is None:
        problems.add("scenario", 'missing [scenario] table; e.g. [scenario] duration = "2min"')
        return {"name": file.stem}
    meta = problems.fields(problems.table(raw, "scenario"), META, "scenario")
    meta.setdefault("name", file.stem)
    if "duration" in meta:
        seconds = _duration(meta.pop("duration"))
        if isinstance(seconds, str):
            problems.add("scenario.duration", seconds)
        elif seconds <= 0:
            problems.add("scenario.duration", "must be > 0")
        elif seconds > MAX_DURATION_S:
            problems.add("scenario.duration", f"{seconds:g} s is longer than a scenario may run "
                                              f"({MAX_DURATION_S / 3600:g} h); split it, or run a campaign")
        else:
            meta["duration_s"] = seconds
    if "catches" in meta:
        meta["catches"] = _catches(problems, meta["catches"])
    return meta


def _catches(problems: Problems, value: object) -> tuple[str, ...]:
    """``catches = ["ignore_reserve", ...]``: seeded defects of the compute emulator, each known and named once."""
    from ..dut.compute.supervisor import DEFECTS

    entry = "scenario.catches"
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        problems.add(entry, f'expected a list of seeded defects such as ["ignore_reserve"], got {value!r}')
        return ()
    for name in value:
        if name not in DEFECTS:
            problems.add(entry, f"unknown seeded defect {name!r}{suggest(name, DEFECTS)}; known: {', '.join(DEFECTS)}")
    if len(set(value)) != len(value):
        problems.add(entry, f"a defect is named twice: {value}")
    return tuple(value)


def _initial(problems: Problems, raw: dict[str, Any], file: Path) -> dict[str, Any]:
    """``[initial]``: BenchConfig's fields, each in range; the chemistry loaded (and so validated) now."""
    initial = problems.fields(raw, INITIAL, "initial")
    chemistry = initial.get("chemistry")
    if isinstance(chemistry, str):
        if chemistry.endswith(".toml") and not Path(chemistry).is_absolute():
            # A chemistry file next to the scenario, as a lab would keep its own cell's data.
            initial["chemistry"] = chemistry = str((file.parent / chemistry).resolve())
        from ..plant.chemistry import load_chemistry

        try:
            load_chemistry(chemistry)
        except ConfigError as exc:
            if exc.file is None or not Path(exc.file).is_file():   # an unknown name, a missing file
                problems.add("initial.chemistry", exc.reason if exc.file is None else f"{exc.file}: {exc.reason}")
            else:                                                   # the problems inside the chemistry file
                problems.extend(exc)
    return initial


def _dut(problems: Problems, raw: dict[str, Any], file: Path) -> dict[str, Any]:
    """``[dut]``: the compute emulator's settings (fidelity, performance, defect, coolant, ticks, E2E);
    a model is a bundled one by name, or an ONNX file found next to the scenario."""
    dut = problems.fields(raw, dut_schema(), "dut") if raw else {}
    model = dut.get("model")
    if isinstance(model, str) and model:
        from ..dut.compute.engine import bundled_model

        if not bundled_model(f"{model}.onnx").is_file():
            path = Path(model) if Path(model).is_absolute() else (file.parent / model).resolve()
            if path.is_file():
                dut["model"] = str(path)
            else:
                known = ", ".join(sorted(p.stem for p in bundled_model().parent.glob("*.onnx")))
                problems.add("dut.model", f'no bundled model "{model}" (bundled: {known}) and no file {path}')
    return dut


def _steps(problems: Problems, raw: object, duration: float | None, file: Path) -> list[Step]:
    """``[[steps]]``: in time order, within the scenario, each an action with its parameters checked."""
    if not isinstance(raw, list):
        problems.add("steps", f"expected [[steps]] entries, got {type(raw).__name__}")
        return []
    steps: list[Step] = []
    last_at = 0.0
    for index, item in enumerate(raw):
        entry = f"steps[{index}]"
        if not isinstance(item, dict):
            problems.add(entry, "expected a table")
            continue
        at = _step_time(problems, item, entry, duration, last_at)
        if at is not None:
            last_at = at
        step = _step(problems, item, entry, file)
        if step is not None and at is not None:
            steps.append(Step(at, *step))
    return steps


def _step_time(problems: Problems, item: dict[str, Any], entry: str, duration: float | None,
               last_at: float) -> float | None:
    if "at" not in item:
        problems.add(entry, 'missing "at" (when the step fires, e.g. at = "30 s")')
        return None
    at = _duration(item["at"])
    if isinstance(at, str):
        problems.add(f"{entry}.at", at)
        return None
    if at < last_at:
        problems.add(f"{entry}.at", f"steps must be in time order, but {at:g} s comes after {last_at:g} s")
    if duration is not None and at > duration:
        problems.add(f"{entry}.at", f"{at:g} s is after the end of the scenario ({duration:g} s)")
    return at


def _step(problems: Problems, item: dict[str, Any], entry: str, file: Path) -> tuple[str, dict, str] | None:
    """(action, parameters, name) of one step, every parameter checked against its action's signature."""
    action = item.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        hint = suggest(action, ACTIONS) if isinstance(action, str) else ""
        problems.add(f"{entry}.action", f"unknown action {action!r}{hint}; known: {', '.join(sorted(ACTIONS))}")
        return None
    schema = step_schema(action)
    name = item.get("name", "")
    if not isinstance(name, str):
        problems.add(f"{entry}.name", f"expected a string, got {name!r}")
    before = len(problems)
    params = problems.fields(item, schema, entry, skip=("at", "action", "name"),
                             unknown=f'unknown parameter of action "{action}"', prepare=_step_value,
                             needs=lambda key, spec: f'action "{action}" needs {key} ({spec.expected()})')
    if params.get("file"):
        # A recording named by a scenario is found next to the scenario, wherever the run starts
        # (whether it can be read is checked with the bus, before the run: check_runnable).
        path = Path(params["file"])
        params["file"] = str(path if path.is_absolute() else (file.parent / path).resolve())
    return (action, params, name if isinstance(name, str) else "") if len(problems) == before else None


def _step_value(key: str, value: Any) -> tuple[Any, str | None]:
    """A step's time parameter may be written with a unit (``delay_s = "300 ms"``)."""
    if key.endswith("_s") and isinstance(value, str):
        seconds = _duration(value)
        return (None, seconds) if isinstance(seconds, str) else (seconds, None)
    return value, None


def _checks(problems: Problems, raw: object, duration: float | None) -> list[Check]:
    """``[[checks]]``: a known kind, expressions over known roles and states, windows inside the run."""
    if not isinstance(raw, list):
        problems.add("checks", f"expected [[checks]] entries, got {type(raw).__name__}")
        return []
    checks = []
    for index, item in enumerate(raw):
        entry = f"checks[{index}]"
        if not isinstance(item, dict):
            problems.add(entry, "expected a table")
            continue
        before = len(problems)
        check = _check(problems, item, entry, duration)
        if check is not None and len(problems) == before:
            checks.append(check)
    return checks


_KNOWN_STATES = {name: role.states for name, role in ROLES.items()}


def _check(problems: Problems, item: dict[str, Any], entry: str, duration: float | None) -> Check | None:
    values = problems.fields(item, CHECK, entry)
    kind = values.get("kind")
    for key in ("expr", "trigger"):
        if key in values:
            try:
                compile_expr(values[key], _KNOWN_STATES)
            except ExprError as exc:
                problems.add(f"{entry}.{key}", str(exc))
    if kind is None:
        return None
    if kind not in ("cycle_times", "bus_integrity") and "expr" not in item:
        problems.add(entry, f'a "{kind}" check needs expr')
    if kind == "response" and ("trigger" not in item or "within" not in item):
        problems.add(entry, 'a "response" check needs trigger and within')
    if kind == "holds_for" and "duration" not in item:
        problems.add(entry, 'a "holds_for" check needs duration')
    times: dict[str, float | None] = {}
    for key in ("within", "duration", "from", "until"):
        times[key] = None
        if key in values:
            seconds = _duration(values[key])
            if isinstance(seconds, str):
                problems.add(f"{entry}.{key}", seconds)
            else:
                times[key] = seconds
    if "vacuous" in values and kind not in VACUOUS_KINDS:
        problems.add(f"{entry}.vacuous", f'only a {" or ".join(VACUOUS_KINDS)} check can be vacuous; '
                                         f'a "{kind}" check is always judged, so drop vacuous')
    from_s, until_s = times["from"] or 0.0, times["until"]
    if duration is not None and from_s > duration:
        problems.add(f"{entry}.from", f"the window starts at {from_s:g} s, after the end of the scenario "
                                      f"({duration:g} s): it would judge nothing")
    if until_s is not None and until_s < from_s:
        problems.add(f"{entry}.until", f"the window ends at {until_s:g} s, before it starts ({from_s:g} s)")
    return Check(kind=kind, name=values.get("name", f"{kind} {values.get('expr', '')}".strip()),
                 expr=values.get("expr", ""), trigger=values.get("trigger", ""), within_s=times["within"],
                 duration_s=times["duration"], from_s=from_s, until_s=until_s,
                 tolerance_pct=values.get("tolerance_pct", 1.0), unit=values.get("unit", ""),
                 vacuous_ok=values.get("vacuous") == "ok")


#: The check kinds that can pass without testing anything, so may say ``vacuous = "ok"``.
VACUOUS_KINDS = ("response", "eventually")


def bundled_scenarios_dir() -> Path:
    """The folder ``hilbench run`` runs when given no paths: the bundled scenario suite."""
    return scenarios_dir()


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Scenario files from files and folders (``*.toml``, sorted), in the order given.

    Raises:
        ConfigError: a path that does not exist or a folder with no scenario.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            # The folder's own scenarios first (the overnight session, in the bundled suite),
            # then its sub-folders, each in name order.
            files = sorted(path.glob("*.toml")) + sorted(p for p in path.rglob("*.toml") if p.parent != path)
            if not files:
                raise ConfigError(path, None, "folder holds no scenario files (*.toml)")
            found.extend(files)
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigError(path, None, "no such scenario file or folder")
    return found
