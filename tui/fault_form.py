"""The fault panel's form, without Textual: an action's parameters from typed text, checked as a scenario
file's step is.

Each parameter is typed as a TOML value (``12.5``, ``true``, ``"BMS_Status"``; a bare word is taken as a
string), so what the form accepts is what a scenario file accepts.  The step is then validated by the
scenario loader itself (:func:`~hilbench.scenarios.loader.load_scenario_data`: unknown parameter, wrong
type, out of range, missing) and against the running bench's bus (:func:`~hilbench.scenarios.actions.step_problems`:
a role the map does not bind, a node the bench does not emulate), so a step the panel refuses is one a
file would be refused for, with the same reason.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hilbench.errors import ConfigError, Problem
from hilbench.scenarios.actions import ACTIONS, BusView, step_problems
from hilbench.scenarios.loader import load_scenario_data
from hilbench.scenarios.schema import MAX_DURATION_S, step_schema

#: What the form's problems name as the "file" they are in.
FORM_NAME = "fault panel"


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of an action as the form shows it: name, what it takes, its default, whether required."""

    name: str
    expected: str
    default: Any
    required: bool

    @property
    def hint(self) -> str:
        """The input's placeholder: what it takes, and the default a blank input keeps."""
        if self.required:
            return f"{self.expected} (required)"
        return f"{self.expected}, default {self.default!r}" if self.default not in (None, "") else self.expected


def action_names() -> list[str]:
    """Every scenario action, by name."""
    return sorted(ACTIONS)


def summary(action: str) -> str:
    """The first paragraph of the action's docstring."""
    return " ".join(ACTIONS[action].doc.split("\n\n")[0].replace("``", "").split())


def params_of(action: str) -> list[ParamSpec]:
    """The parameters the form asks for, in the action's order."""
    return [ParamSpec(name, f.expected(), f.default, f.required) for name, f in step_schema(action).items()
            if name not in ("at", "action", "name")]


def parse_value(text: str) -> Any:
    """One typed value: a TOML value when it reads as one, else the text itself (a bare word)."""
    text = text.strip()
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def checked_step(action: str, typed: Mapping[str, str], view: BusView | None = None) -> dict[str, Any]:
    """The parameters of ``action`` from the typed texts (blank: the default), as a step would get them.

    Raises:
        ConfigError: every problem, named by parameter, with the loader's reasons (and the bus's).
    """
    if action not in ACTIONS:
        raise ConfigError(FORM_NAME, "action", f"unknown action {action!r}")
    step: dict[str, Any] = {"at": 0.0, "action": action}
    step.update({name: parse_value(text) for name, text in typed.items() if text.strip()})
    data = {"scenario": {"name": FORM_NAME, "duration": MAX_DURATION_S}, "steps": [step]}
    try:
        scenario = load_scenario_data(data, FORM_NAME)
    except ConfigError as exc:
        raise ConfigError.of([Problem(FORM_NAME, _param(p.entry), p.reason) for p in exc.problems]) from None
    params = dict(scenario.steps[0].params)
    if view is not None:
        problems = step_problems(action, params, view)
        if problems:
            raise ConfigError.of([Problem(FORM_NAME, key or action, reason) for key, reason in problems])
    return params


def _param(entry: str | None) -> str | None:
    """``steps[0].value_c`` -> ``value_c``: the form has one step, named by its parameters."""
    if entry is None:
        return None
    return entry.removeprefix("steps[0]").lstrip(".") or None
