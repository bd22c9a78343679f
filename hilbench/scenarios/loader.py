"""Loading scenario files (TOML), refusing bad ones with file, entry, line and reason.

Everything is checked before a bench is built: unknown keys, wrong types or
units, unknown actions or parameters, times out of order or past the end,
check expressions naming signals the signal map does not have.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..bus.roles import ROLES
from ..errors import ConfigError
from ..resources import scenarios_dir
from .actions import ACTIONS
from .expr import ExprError, compile_expr
from .model import Check, Scenario, Step

CHECK_KINDS = ("always", "never", "eventually", "holds_for", "response", "cycle_times", "bus_integrity")
INITIAL_KEYS = {
    "chemistry": str, "series": int, "parallel": int, "soc_pct": float, "pack_temp_c": float,
    "ambient_c": float, "coolant_c": float, "reserve_soc_pct": float, "gear": str, "ignition_on": bool,
    "plugged_in": bool, "evse_max_current_a": float, "compute_requested": bool,
}
DUT_KEYS = {"fidelity": str, "performance": str, "defect": str, "coolant_c": float, "model": str}
_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0}
_PART = r"([0-9]+(?:\.[0-9]*)?)\s*(ms|sec|min|s|h)"
_DURATION = re.compile(rf"^\s*(?:{_PART}\s*)+$")


def parse_duration(value: object, file: Path, entry: str) -> float:
    """Seconds from a number (seconds) or a string with a unit: ``"90 s"``, ``"30min"``, ``"8h"``."""
    if isinstance(value, bool):
        raise ConfigError(file, entry, f"expected a time, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        if not _DURATION.match(value):
            raise ConfigError(file, entry, f'expected a time such as 90, "90 s", "30min", "8h" or "2h30min", '
                                           f'got "{value}" (units: {", ".join(_UNITS)})')
        seconds = sum(float(number) * _UNITS[unit] for number, unit in re.findall(_PART, value))
    else:
        raise ConfigError(file, entry, f"expected a time, got {type(value).__name__} {value!r}")
    if seconds < 0:
        raise ConfigError(file, entry, f"time must be >= 0, got {seconds:g} s")
    return seconds


class _Locator:
    """Finds the line of ``[[table]]`` number k (and a key inside it) in the raw text, for messages."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def line(self, table: str, index: int | None = None, key: str | None = None) -> int | None:
        header = f"[[{table}]]" if index is not None else f"[{table}]"
        count = -1
        for n, raw in enumerate(self.lines):
            if raw.strip().startswith(header):
                count += 1
                if index is None or count == index:
                    if key is None:
                        return n + 1
                    for m in range(n + 1, len(self.lines)):
                        stripped = self.lines[m].strip()
                        if stripped.startswith("["):
                            break
                        if re.match(rf"{re.escape(key)}\s*=", stripped):
                            return m + 1
                    return n + 1
        return None


def _typed(value: object, want: type, file: Path, entry: str) -> Any:
    if want is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if want is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, want) and not (want is not bool and isinstance(value, bool)):
        return value
    raise ConfigError(file, entry, f"expected {want.__name__}, got {type(value).__name__} {value!r}")


def _table(data: dict, key: str, file: Path, *, required: bool = False) -> dict:
    value = data.get(key, {} if not required else None)
    if value is None:
        raise ConfigError(file, key, f"missing [{key}] table")
    if not isinstance(value, dict):
        raise ConfigError(file, key, f"expected a table, got {type(value).__name__}")
    return value


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate one scenario file.

    Raises:
        ConfigError: naming the file, the entry (``steps[3].at``, line N) and the reason.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(file, None, f"cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, None, f"not valid TOML: {exc}") from None
    return load_scenario_data(data, file, text)


def load_scenario_data(data: dict[str, Any], file: str | Path, text: str = "") -> Scenario:
    """Validate an already parsed scenario (``text``, if given, lets messages cite lines)."""
    file = Path(file)
    loc = _Locator(text)

    def where(entry: str, table: str, index: int | None = None, key: str | None = None) -> str:
        line = loc.line(table, index, key)
        return f"{entry} (line {line})" if line else entry

    unknown = set(data) - {"scenario", "initial", "dut", "steps", "checks", "fuzz"}
    if unknown:
        name = sorted(unknown)[0]
        raise ConfigError(file, where(name, name), "unknown table; allowed: scenario, initial, dut, steps, checks, fuzz")

    meta = _table(data, "scenario", file, required=True)
    for key in set(meta) - {"name", "description", "duration", "markers", "catches"}:
        raise ConfigError(file, where(f"scenario.{key}", "scenario", None, key),
                          "unknown key; allowed: name, description, duration, markers, catches")
    if "duration" not in meta:
        raise ConfigError(file, "scenario.duration", 'missing; e.g. duration = "8h"')
    duration = parse_duration(meta["duration"], file, where("scenario.duration", "scenario", None, "duration"))
    if duration <= 0:
        raise ConfigError(file, "scenario.duration", "must be > 0")
    name = _typed(meta.get("name", file.stem), str, file, "scenario.name")
    markers = tuple(_typed(m, str, file, "scenario.markers") for m in meta.get("markers", []))
    catches = _catches(meta.get("catches", []), file, where("scenario.catches", "scenario", None, "catches"))

    initial: dict[str, Any] = {}
    for key, value in _table(data, "initial", file).items():
        if key not in INITIAL_KEYS:
            raise ConfigError(file, where(f"initial.{key}", "initial", None, key),
                              f"unknown key; allowed: {', '.join(INITIAL_KEYS)}")
        initial[key] = _typed(value, INITIAL_KEYS[key], file, where(f"initial.{key}", "initial", None, key))
    chemistry = initial.get("chemistry")
    if isinstance(chemistry, str) and chemistry.endswith(".toml") and not Path(chemistry).is_absolute():
        # A chemistry file next to the scenario, as a lab would keep its own cell's data.
        initial["chemistry"] = str((file.parent / chemistry).resolve())
    if "soc_pct" in initial and not 0 <= initial["soc_pct"] <= 100:
        raise ConfigError(file, where("initial.soc_pct", "initial", None, "soc_pct"),
                          f"SOC must be within 0..100 %, got {initial['soc_pct']}")

    dut: dict[str, Any] = {}
    for key, value in _table(data, "dut", file).items():
        if key not in DUT_KEYS:
            raise ConfigError(file, where(f"dut.{key}", "dut", None, key), f"unknown key; allowed: {', '.join(DUT_KEYS)}")
        dut[key] = _typed(value, DUT_KEYS[key], file, f"dut.{key}")

    steps: list[Step] = []
    last_at = 0.0
    raw_steps = data.get("steps", [])
    if not isinstance(raw_steps, list):
        raise ConfigError(file, "steps", "expected [[steps]] entries")
    for i, raw in enumerate(raw_steps):
        entry = f"steps[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(file, entry, "expected a table")
        if "at" not in raw:
            raise ConfigError(file, where(entry, "steps", i), 'missing "at"')
        at = parse_duration(raw["at"], file, where(f"{entry}.at", "steps", i, "at"))
        if at < last_at:
            raise ConfigError(file, where(f"{entry}.at", "steps", i, "at"),
                              f"steps must be in time order, but {at:g} s comes after {last_at:g} s")
        if at > duration:
            raise ConfigError(file, where(f"{entry}.at", "steps", i, "at"),
                              f"{at:g} s is after the end of the scenario ({duration:g} s)")
        last_at = at
        action = raw.get("action")
        if action not in ACTIONS:
            raise ConfigError(file, where(f"{entry}.action", "steps", i, "action"),
                              f"unknown action {action!r}; known: {', '.join(sorted(ACTIONS))}")
        spec = ACTIONS[action]
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if key in ("at", "action", "name"):
                continue
            if key not in spec.params:
                allowed = ", ".join(spec.params) or "none"
                raise ConfigError(file, where(f"{entry}.{key}", "steps", i, key),
                                  f'unknown parameter of action "{action}"; allowed: {allowed}')
            want, _ = spec.params[key]
            if key.endswith("_s") and isinstance(value, str):
                value = parse_duration(value, file, f"{entry}.{key}")
            params[key] = _typed(value, want, file, where(f"{entry}.{key}", "steps", i, key))
        missing = [p for p, (_, required) in spec.params.items() if required and p not in params]
        if missing:
            raise ConfigError(file, where(entry, "steps", i), f'action "{action}" needs {", ".join(missing)}')
        steps.append(Step(at, action, params, str(raw.get("name", ""))))

    known = {name: role.states for name, role in ROLES.items()}
    checks: list[Check] = []
    for i, raw in enumerate(data.get("checks", [])):
        entry = f"checks[{i}]"
        if not isinstance(raw, dict):
            raise ConfigError(file, entry, "expected a table")
        allowed = {"kind", "name", "expr", "trigger", "within", "duration", "from", "until", "tolerance_pct", "unit",
                   "vacuous"}
        for key in set(raw) - allowed:
            raise ConfigError(file, where(f"{entry}.{key}", "checks", i, key),
                              f"unknown key; allowed: {', '.join(sorted(allowed))}")
        kind = raw.get("kind")
        if kind not in CHECK_KINDS:
            raise ConfigError(file, where(f"{entry}.kind", "checks", i, "kind"),
                              f"unknown check kind {kind!r}; known: {', '.join(CHECK_KINDS)}")
        needs_expr = kind not in ("cycle_times", "bus_integrity")
        for key in ("expr", "trigger"):
            if key in raw:
                try:
                    compile_expr(_typed(raw[key], str, file, f"{entry}.{key}"), known)
                except ExprError as exc:
                    raise ConfigError(file, where(f"{entry}.{key}", "checks", i, key), str(exc)) from None
        if needs_expr and "expr" not in raw:
            raise ConfigError(file, where(entry, "checks", i), f'a "{kind}" check needs expr')
        if kind == "response" and ("trigger" not in raw or "within" not in raw):
            raise ConfigError(file, where(entry, "checks", i), 'a "response" check needs trigger and within')
        if kind == "holds_for" and "duration" not in raw:
            raise ConfigError(file, where(entry, "checks", i), 'a "holds_for" check needs duration')

        def dur(key: str) -> float | None:
            return parse_duration(raw[key], file, where(f"{entry}.{key}", "checks", i, key)) if key in raw else None

        vacuous_ok = _vacuous_ok(raw, kind, file, where(f"{entry}.vacuous", "checks", i, "vacuous"))
        from_s, until_s = dur("from") or 0.0, dur("until")
        if from_s > duration:
            raise ConfigError(file, where(f"{entry}.from", "checks", i, "from"),
                              f"the window starts at {from_s:g} s, after the end of the scenario ({duration:g} s): "
                              "it would judge nothing")
        if until_s is not None and until_s < from_s:
            raise ConfigError(file, where(f"{entry}.until", "checks", i, "until"),
                              f"the window ends at {until_s:g} s, before it starts ({from_s:g} s)")

        checks.append(Check(
            kind=kind, name=_typed(raw.get("name", f"{kind} {raw.get('expr', '')}".strip()), str, file, f"{entry}.name"),
            expr=raw.get("expr", ""), trigger=raw.get("trigger", ""), within_s=dur("within"),
            duration_s=dur("duration"), from_s=from_s, until_s=until_s,
            tolerance_pct=_typed(raw.get("tolerance_pct", 1.0), float, file, f"{entry}.tolerance_pct"),
            unit=_typed(raw.get("unit", ""), str, file, f"{entry}.unit"), vacuous_ok=vacuous_ok,
        ))
    return Scenario(name=name, duration_s=duration, description=str(meta.get("description", "")),
                    initial=initial, dut=dut, steps=tuple(steps), checks=tuple(checks), markers=markers, source=file,
                    fuzz=dict(_table(data, "fuzz", file)), catches=catches)


def _catches(value: object, file: Path, entry: str) -> tuple[str, ...]:
    """``catches = ["ignore_reserve", ...]``: seeded defects of the compute emulator, each known and named once."""
    from ..dut.compute.supervisor import DEFECTS

    if not isinstance(value, list):
        raise ConfigError(file, entry, f'expected a list of seeded defects such as ["ignore_reserve"], got {value!r}')
    names = tuple(_typed(name, str, file, entry) for name in value)
    for name in names:
        if name not in DEFECTS:
            raise ConfigError(file, entry, f"unknown seeded defect {name!r}; known: {', '.join(DEFECTS)}")
    if len(set(names)) != len(names):
        raise ConfigError(file, entry, f"a defect is named twice: {list(names)}")
    return names


#: The check kinds that can pass without testing anything, so may say ``vacuous = "ok"``.
VACUOUS_KINDS = ("response", "eventually")
_VACUOUS_VALUES = ("ok", "fail")


def _vacuous_ok(raw: dict[str, Any], kind: str, file: Path, entry: str) -> bool:
    """``vacuous = "ok"`` (a guard whose trigger need not fire) or ``"fail"`` (the default: VACUOUS fails)."""
    if "vacuous" not in raw:
        return False
    value = raw["vacuous"]
    if kind not in VACUOUS_KINDS:
        raise ConfigError(file, entry, f'only a {" or ".join(VACUOUS_KINDS)} check can be vacuous; '
                                       f'a "{kind}" check is always judged, so drop vacuous')
    if value not in _VACUOUS_VALUES:
        raise ConfigError(file, entry, f'expected "ok" (the trigger need not fire: a guard) or "fail" (the default), '
                                       f"got {value!r}")
    return value == "ok"


def bundled_scenarios_dir() -> Path:
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
