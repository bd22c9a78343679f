"""Sweep files: a base scenario and the ``[initial]`` keys to vary over it, refused whole when wrong.

A sweep file is TOML with two tables::

    [sweep]
    name = "envelope"                            # optional: the file's stem; names the output files
    scenario = "../scenarios/overnight.toml"     # the base scenario, relative to this file's folder
    seeds = [0]                                  # a list of seeds, or a count (3 = seeds 0, 1, 2)
    duration = "8h"                              # optional: overrides the scenario's duration
    description = "..."                          # optional

    [axes]                                       # each key is an [initial] key of a scenario
    chemistry = ["lfp", "nmc", "sodium_ion", "solid_state"]          # a list of values
    ambient_c = { from = -30.0, to = 45.0, step = 15.0 }             # a range, both ends included
    soc_pct = [40.0, 60.0, 80.0]
    reserve_soc_pct = { random = 3, low = 15.0, high = 30.0, seed = 1 }   # seeded uniform draws

Every combination of the axes (in file order, the last axis varying fastest) runs once per
seed.  Each value is checked against the same schema the scenario loader checks ``[initial]``
with (:data:`hilbench.scenarios.schema.INITIAL`, from ``BenchConfig``): an unknown key, a
value of the wrong type or out of its physical range, a range that is empty or runs backwards,
a value listed twice, are refused with the file, ``axes.<name>`` and the reason, every problem
of the file at once.  A duration that ends before a step of the base scenario fires, or before
a check's window starts, is refused too: the study would silently test less than it says.

A run is identified by a hash of the base scenario file's bytes, the combination, the seed and
the duration (:attr:`Run.run_id`): the same run has the same id on any machine, so a table of
finished runs can be resumed, and an edited scenario file is never mistaken for the old one.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..scenarios import Scenario, load_scenario, parse_duration
from ..scenarios.schema import INITIAL, MAX_DURATION_S
from ..scenarios.seeds import MAX_SEEDS
from ..schema import Problems, read_toml, suggest

#: The most runs (combinations x seeds) one sweep may hold: a typo such as ``step = 0.01`` is refused.
MAX_RUNS = 100_000
#: Random draws are rounded to this many decimals, so a row reads ``21.734519``, not 17 digits.
RANDOM_DECIMALS = 6
#: Range values are rounded to this many decimals (``-30 + 3 * 0.1`` is ``-29.7``, not ``-29.699999``).
RANGE_DECIMALS = 9

_TABLES = ("sweep", "axes")
_SWEEP_KEYS = ("name", "description", "scenario", "seeds", "duration")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Axis:
    """One ``[initial]`` key and the values a sweep gives it, in order."""

    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Run:
    """One run of a sweep: the combination (axis -> value), the seed, and the scenario it runs."""

    run_id: str
    params: dict[str, Any]
    seed: int
    scenario: Scenario

    @property
    def label(self) -> str:
        """``chemistry=lfp ambient_c=-30 seed 0``, for progress lines."""
        parts = [f"{key}={_show(value)}" for key, value in self.params.items()]
        return " ".join([*parts, f"seed {self.seed}"])


@dataclass(frozen=True)
class Sweep:
    """A loaded sweep file: the base scenario (its duration overridden when asked), the axes and the seeds."""

    name: str
    source: Path
    scenario: Scenario
    scenario_sha256: str
    axes: tuple[Axis, ...]
    seeds: tuple[int, ...]
    description: str = ""
    #: What the file does not refuse but a reader should know (an axis the base scenario pins elsewhere).
    notes: tuple[str, ...] = field(default=())

    @property
    def duration_s(self) -> float:
        """Simulated seconds of every run."""
        return self.scenario.duration_s

    @property
    def combinations(self) -> int:
        """How many combinations of the axes (runs per seed)."""
        return math.prod(len(axis.values) for axis in self.axes)

    def runs(self) -> list[Run]:
        """Every run, combination by combination (the last axis fastest), each once per seed."""
        return [self.run_of(params, seed) for params in self._params() for seed in self.seeds]

    def run_of(self, params: dict[str, Any], seed: int) -> Run:
        """The run of one combination and seed: the base scenario with ``params`` over its ``[initial]``."""
        initial = {**self.scenario.initial, **{key: self._resolved(key, value) for key, value in params.items()}}
        return Run(run_id(self.scenario_sha256, params, seed, self.duration_s), dict(params), seed,
                   replace(self.scenario, initial=initial))

    def _params(self) -> Iterator[dict[str, Any]]:
        names = [axis.name for axis in self.axes]
        for values in itertools.product(*(axis.values for axis in self.axes)):
            yield dict(zip(names, values))

    def _resolved(self, key: str, value: Any) -> Any:
        # A chemistry file is named relative to the sweep file (as a scenario names one relative to itself);
        # the row and the run id keep the value as written, so they do not depend on the checkout's path.
        if key == "chemistry" and isinstance(value, str) and value.endswith(".toml") and not Path(value).is_absolute():
            return str((self.source.parent / value).resolve())
        return value


def run_id(scenario_sha256: str, params: dict[str, Any], seed: int, duration_s: float) -> str:
    """A run's identity: 16 hex digits of the SHA-256 of what decides it, the same on every machine."""
    identity = {"scenario_sha256": scenario_sha256, "params": params, "seed": seed, "duration_s": duration_s}
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def load_sweep(path: str | Path) -> Sweep:
    """Read and check a sweep file and its base scenario.

    Raises:
        ConfigError: every problem of the file (``sweep.scenario``, ``axes.ambient_c``, ...), with its
            line and reason; or the base scenario's own problems, naming that file.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(file, None, "cannot read: no such sweep file")
    data, text = read_toml(file, "a sweep")
    problems = Problems(file, text)
    for name in data:
        if name not in _TABLES:
            problems.add(name, f"unknown table{suggest(name, _TABLES)}; a sweep file has [sweep] and [axes]")
    meta = problems.table(data.get("sweep", {}), "sweep")
    if "sweep" not in data:
        problems.add("sweep", 'missing [sweep] table; e.g. [sweep] scenario = "../scenarios/overnight.toml"')
    for key in meta:
        if key not in _SWEEP_KEYS:
            problems.add(f"sweep.{key}", f"unknown key{suggest(key, _SWEEP_KEYS)}; allowed: {', '.join(_SWEEP_KEYS)}")
    name = _name(problems, meta.get("name", file.stem))
    description = meta.get("description", "")
    if not isinstance(description, str):
        problems.add("sweep.description", f"expected a string, got {description!r}")
        description = ""
    seeds = _seeds(problems, meta.get("seeds", [0]))
    scenario = _scenario(problems, meta.get("scenario"), file)
    duration_s = _duration(problems, meta["duration"]) if "duration" in meta else None
    axes = _axes(problems, data.get("axes"), file)
    if scenario is not None and duration_s is not None:
        _fits(problems, scenario, duration_s)
    problems.raise_if_any()
    assert scenario is not None   # a missing or refused scenario was raised just above
    if duration_s is not None:
        scenario = replace(scenario, duration_s=duration_s)
    combinations = math.prod(len(axis.values) for axis in axes)
    if combinations * len(seeds) > MAX_RUNS:
        raise ConfigError(file, "axes", f"{combinations} combinations x {len(seeds)} seed(s) = "
                                        f"{combinations * len(seeds)} runs; at most {MAX_RUNS}")
    assert scenario.source is not None   # loaded from a file
    digest = hashlib.sha256(Path(scenario.source).read_bytes()).hexdigest()
    notes = tuple(_notes(scenario, axes))
    return Sweep(name, file, scenario, digest, axes, seeds, description, notes)


# -- one checker per entry ---------------------------------------------------------------------
def _name(problems: Problems, value: object) -> str:
    if isinstance(value, str) and _NAME.match(value):
        return value
    problems.add("sweep.name", f"expected a name of letters, digits, '_', '-' or '.' (it names the output "
                               f"files), got {value!r}")
    return "sweep"


def _seeds(problems: Problems, value: object) -> tuple[int, ...]:
    """``seeds = [0, 3]`` or a count ``seeds = 4`` (0..3)."""
    entry = "sweep.seeds"
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_SEEDS:
            problems.add(entry, f"a count of seeds is 1..{MAX_SEEDS}, got {value}")
            return (0,)
        return tuple(range(value))
    if (not isinstance(value, list) or not value
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)):
        problems.add(entry, f"expected a count (4) or a non-empty list of seeds >= 0 ([0, 3, 7]), got {value!r}")
        return (0,)
    if len(set(value)) != len(value):
        problems.add(entry, f"a seed is listed twice: {value}")
    if len(value) > MAX_SEEDS:
        problems.add(entry, f"{len(value)} seeds; at most {MAX_SEEDS}")
    return tuple(dict.fromkeys(value))


def _scenario(problems: Problems, value: object, file: Path) -> Scenario | None:
    entry = "sweep.scenario"
    if value is None:
        problems.add(entry, 'missing; the base scenario, e.g. scenario = "../scenarios/overnight.toml"')
        return None
    if not isinstance(value, str) or not value:
        problems.add(entry, f"expected a path to a scenario file, got {value!r}")
        return None
    path = Path(value) if Path(value).is_absolute() else (file.parent / value).resolve()
    if not path.is_file():
        problems.add(entry, f"no such scenario file {path} (a relative path is read from the sweep file's folder)")
        return None
    with problems.guard(entry):
        return load_scenario(path)
    return None


def _duration(problems: Problems, value: object) -> float | None:
    entry = "sweep.duration"
    try:
        seconds = parse_duration(value, problems.file, entry)
    except ConfigError as exc:
        problems.add(entry, exc.reason)
        return None
    if seconds <= 0:
        problems.add(entry, "must be > 0")
        return None
    if seconds > MAX_DURATION_S:
        problems.add(entry, f"{seconds:g} s is longer than a scenario may run ({MAX_DURATION_S / 3600:g} h)")
        return None
    return seconds


def _fits(problems: Problems, scenario: Scenario, duration_s: float) -> None:
    """A shorter study must not drop a step or a check's window of the base scenario without saying so."""
    late_steps = [f"{step.label!r} at {step.at_s:g} s" for step in scenario.steps if step.at_s > duration_s]
    late_checks = [repr(check.name) for check in scenario.checks if check.from_s > duration_s]
    if late_steps:
        problems.add("sweep.duration", f"{duration_s:g} s ends before step(s) {', '.join(late_steps)} of "
                                       f"{scenario.source} fire; use a base scenario made for the shorter study")
    if late_checks:
        problems.add("sweep.duration", f"{duration_s:g} s ends before the window of check(s) "
                                       f"{', '.join(late_checks)} starts")


def _axes(problems: Problems, raw: object, file: Path) -> tuple[Axis, ...]:
    if raw is None:
        problems.add("axes", "missing [axes] table; e.g. [axes] ambient_c = [-20.0, 0.0, 25.0]")
        return ()
    table = problems.table(raw, "axes")
    if not table and isinstance(raw, dict):
        problems.add("axes", "no axis; a sweep varies at least one [initial] key")
    axes = []
    for name, spec in table.items():
        entry = f"axes.{name}"
        if name not in INITIAL:
            problems.add(entry, f"unknown axis{suggest(name, INITIAL)}; an axis is an [initial] key of a scenario: "
                                f"{', '.join(INITIAL)}")
            continue
        values = _values(problems, name, spec, entry)
        if values:
            axes.append(Axis(name, _checked(problems, name, values, entry, file)))
    return tuple(axes)


def _values(problems: Problems, name: str, spec: object, entry: str) -> tuple[Any, ...]:
    """An axis's values from a list, a range ``{from, to, step}`` or random draws ``{random, low, high, seed}``."""
    if isinstance(spec, list):
        if not spec:
            problems.add(entry, "no values: an empty list")
        return tuple(spec)
    if not isinstance(spec, dict):
        problems.add(entry, f"expected a list of values, a range {{ from, to, step }} or random draws "
                            f"{{ random, low, high, seed }}, got {spec!r} (one value: write [{_show(spec)}])")
        return ()
    field_ = INITIAL[name]
    numeric = field_.choices is None and (float in field_.types or int in field_.types)
    kind = "random" if "random" in spec else "range"
    keys = ("random", "low", "high", "seed") if kind == "random" else ("from", "to", "step")
    bad = [key for key in spec if key not in keys]
    if bad:
        problems.add(entry, f"unknown key(s) {', '.join(bad)} of a {kind}; a {kind} has {', '.join(keys)}")
        return ()
    if not numeric:
        problems.add(entry, f"a {kind} needs a numeric key; {name} takes {field_.expected()}: list its values")
        return ()
    if kind == "random" and float not in field_.types:
        problems.add(entry, f"random draws are real numbers; {name} takes {field_.expected()}: list its values "
                            f"or use a range")
        return ()
    return _random(problems, spec, entry) if kind == "random" else _range(problems, spec, entry, float in field_.types)


def _number(problems: Problems, spec: dict[str, Any], key: str, entry: str) -> float | None:
    value = spec.get(key)
    if value is None:
        problems.add(entry, f"missing {key}")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        problems.add(entry, f"{key} must be a finite number, got {value!r}")
        return None
    return value


def _range(problems: Problems, spec: dict[str, Any], entry: str, real: bool) -> tuple[Any, ...]:
    low, high, step = (_number(problems, spec, key, entry) for key in ("from", "to", "step"))
    if low is None or high is None or step is None:
        return ()
    if step <= 0:
        problems.add(entry, f"step must be > 0, got {step:g}")
        return ()
    if low > high:
        problems.add(entry, f"empty range: from = {low:g} is above to = {high:g}")
        return ()
    count = int(math.floor((high - low) / step + 1e-9)) + 1
    if count > MAX_RUNS:
        problems.add(entry, f"{count} values; at most {MAX_RUNS}")
        return ()
    if real:
        return tuple(round(low + i * step, RANGE_DECIMALS) + 0.0 for i in range(count))
    if not all(isinstance(v, int) for v in (low, high, step)):
        problems.add(entry, "a whole-number key needs a range of whole numbers")
        return ()
    return tuple(int(low) + i * int(step) for i in range(count))


def _random(problems: Problems, spec: dict[str, Any], entry: str) -> tuple[Any, ...]:
    count, seed = spec.get("random"), spec.get("seed", 0)
    ok = True
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_RUNS:
        problems.add(entry, f"random must be a count of draws 1..{MAX_RUNS}, got {count!r}")
        ok = False
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        problems.add(entry, f"seed must be a whole number >= 0, got {seed!r}")
        ok = False
    low, high = _number(problems, spec, "low", entry), _number(problems, spec, "high", entry)
    if low is None or high is None or not ok or not isinstance(count, int):
        return ()
    if low >= high:
        problems.add(entry, f"empty range: low = {low:g} is not below high = {high:g}")
        return ()
    draws = random.Random(seed)   # Random(seed).random() is the same sequence on every platform and version
    return tuple(round(draws.uniform(low, high), RANDOM_DECIMALS) for _ in range(count))


def _checked(problems: Problems, name: str, values: tuple[Any, ...], entry: str, file: Path) -> tuple[Any, ...]:
    """Each value checked as ``[initial]`` checks it; chemistries are loaded (and so checked) now."""
    field_ = INITIAL[name]
    out = []
    for index, value in enumerate(values):
        checked, reason = field_.validate(value)
        if reason is not None:
            problems.add(entry, f"value {index + 1} ({_show(value)}): {reason}")
            continue
        if name == "chemistry":
            reason = _chemistry_problem(checked, file)
            if reason is not None:
                problems.add(entry, f"value {index + 1} ({_show(value)}): {reason}")
                continue
        out.append(checked)
    seen: set[str] = set()
    for value in out:
        key = json.dumps(value)
        if key in seen:
            problems.add(entry, f"{_show(value)} is listed twice (it would run twice)")
        seen.add(key)
    return tuple(out)


def _chemistry_problem(value: str, file: Path) -> str | None:
    from ..plant.chemistry import load_chemistry

    if value.endswith(".toml") and not Path(value).is_absolute():
        value = str((file.parent / value).resolve())
    try:
        load_chemistry(value)
    except ConfigError as exc:
        return str(exc) if exc.file is not None else exc.reason
    return None


def _notes(scenario: Scenario, axes: tuple[Axis, ...]) -> Iterator[str]:
    names = {axis.name for axis in axes}
    if "ambient_c" in names and "pack_temp_c" in scenario.initial and "pack_temp_c" not in names:
        yield (f"the base scenario sets pack_temp_c = {scenario.initial['pack_temp_c']:g}: the pack starts there "
               f"whatever ambient_c the sweep gives (add a pack_temp_c axis, or use a base scenario without it)")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


__all__ = ["MAX_RUNS", "Axis", "Run", "Sweep", "load_sweep", "run_id"]
