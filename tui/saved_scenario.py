"""A TUI session written down as a scenario file, so a manual exploration becomes a test.

The file is what the loader reads (:func:`hilbench.scenarios.loader.load_scenario_data`
validates it before anything is written) and is written with ``tomli_w``: the
scenario's own settings, its steps that fired, every action done by hand at the
bench time it was done, and its checks; the time that ran is the duration.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import tomli_w

from hilbench.scenarios import Scenario
from hilbench.scenarios.loader import load_scenario_data
from hilbench.scenarios.model import Check, Step
from hilbench.scenarios.schema import CHECK_KEYS

#: Check fields as the file names them (the loader's ``CHECK_KEYS`` the other way round).
_CHECK_FILE_KEYS = {field: key for key, field in CHECK_KEYS.items()}


def check_entry(check: Check) -> dict[str, Any]:
    """A check as a ``[[checks]]`` table: the fields that differ from their defaults, by their file names."""
    entry: dict[str, Any] = {}
    for f in dataclasses.fields(Check):
        value = getattr(check, f.name)
        if f.name not in ("kind", "name") and value == f.default:
            continue
        key = _CHECK_FILE_KEYS.get(f.name, f.name)
        if f.name == "vacuous_ok":
            value = "ok"
        entry[key] = value
    return entry


def scenario_data(scenario: Scenario | None, applied: Iterable[Step], now_s: float, *,
                  seed: int = 0, dut_defect: str | None = None) -> dict[str, Any]:
    """The session as a scenario file's tables (see the module docstring); ``now_s`` is its duration.

    A seeded DUT defect the session ran with goes into ``[dut] defect`` (the replay must run against the
    same unit); the seed is not a scenario key, so the description says which ``--seed`` replays it.
    Actions done by hand happen between two pieces of bench time, after the tasks due then; a replayed
    step fires before them, so the replay's transitions can come a plant step apart.
    """
    base = scenario.name if scenario is not None else "free play"
    meta: dict[str, Any] = {
        "name": f"{base} (saved session)",
        "duration": round(now_s, 3),
        "description": f"Saved from hilbench tui at {now_s:.1f} s of bench time; replay with --seed {seed}: "
                       f"{'the steps of ' + base + ' that fired and ' if scenario is not None else ''}"
                       "the actions done by hand.",
    }
    steps: list[tuple[float, int, dict[str, Any]]] = []
    if scenario is not None:
        if scenario.markers:
            meta["markers"] = list(scenario.markers)
        for step in scenario.steps:
            if step.at_s <= now_s + 1e-9:
                entry = {"at": step.at_s, "action": step.action, **step.params}
                if step.name:
                    entry["name"] = step.name
                steps.append((step.at_s, 0, entry))
    for n, step in enumerate(applied):
        steps.append((step.at_s, 1 + n, {"at": round(step.at_s, 6), "action": step.action, "name": step.name,
                                         **step.params}))
    data: dict[str, Any] = {"scenario": meta}
    if scenario is not None and scenario.initial:
        data["initial"] = dict(scenario.initial)
    dut = dict(scenario.dut) if scenario is not None else {}
    if dut_defect:
        dut["defect"] = dut_defect
    if dut:
        data["dut"] = dut
    if steps:
        data["steps"] = [entry for _at, _order, entry in sorted(steps, key=lambda s: (s[0], s[1]))]
    if scenario is not None and scenario.checks:
        data["checks"] = [check_entry(check) for check in scenario.checks]
    return data


def write_scenario(data: dict[str, Any], path: Path) -> Path:
    """Validate ``data`` as the loader would read it back, then write it to ``path`` (TOML).

    Raises:
        ConfigError: the loader would refuse it (every problem listed, naming ``path``); nothing is written.
    """
    load_scenario_data(data, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path
