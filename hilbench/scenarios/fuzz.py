"""Falsification: search declared ranges for a run that breaks a check, shrink it, write it out.

A scenario file becomes fuzz-ready with a ``[fuzz]`` table that declares what
may vary and within which bounds.  Everything not named there stays as the
file says.  Keys are dotted paths into the scenario:

.. code-block:: toml

    [fuzz]
    initial.soc_pct    = [30.5, 40.0]          # any [initial] key the loader knows
    initial.ambient_c  = [-20.0, 45.0]
    dut.coolant_c      = [25.0, 95.0]          # [dut] keys (not dut.defect: use --dut-defect)
    steps.0.at         = ["2 s", "30 s"]       # step N (0-based, as in [[steps]] order): its time
    steps.0.gear       = { choices = ["D", "R", "N"] }   # or any parameter of that step's action
    steps.2.value_c    = [40.0, 70.0]

The value of an entry is either a range ``[low, high]`` (inclusive; numbers for
numeric keys, times such as ``"90 s"`` or ``"5min"`` for ``at`` and ``*_s``
parameters; integers for integer keys) or ``{ choices = [...] }`` (any type the
key takes, strings and booleans included).  An initial value or step parameter
named in ``[fuzz]`` need not be set in the file.

Refused at load, as :class:`~hilbench.errors.ConfigError` with file, entry and
line: an empty or missing ``[fuzz]`` table, an unknown target, a step index
out of range, a parameter the step's action does not take, a range that is
not two values, a reversed or non-finite range, a range on a string or
boolean key, a SOC or reserve outside 0..100 %, a step time past the end, and
step-time ranges that could reorder steps (the range of step N must lie after
every time step N-1 can take).

The search (:func:`fuzz`) draws concrete scenarios from these ranges with
hypothesis, runs each on the bench and judges its checks.  Each check's
robustness (in its own unit) is handed to ``hypothesis.target`` under its own
label, so the search climbs toward a low margin on every check at once
without mixing amperes and degrees.  A violated check fails the hypothesis
test, hypothesis shrinks the values toward simple ones (round numbers, the
first choice), and the shrunk scenario is written as a plain scenario file
(:func:`write_counterexample`) that ``hilbench run`` loads and fails.
hypothesis is imported only when a search runs.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypedDict

from ..clock import wall_time_s
from ..errors import ConfigError, HilbenchError, ScenarioError
from ..schema import Field, Problems
from .actions import ACTIONS
from .checks import CheckResult
from .loader import DUT_KEYS, INITIAL_KEYS, load_scenario, parse_duration
from .model import Check, Scenario
from .runner import RunOptions, ScenarioResult, check_runnable, run_scenario
from .schema import INITIAL, dut_schema, step_schema

DEFAULT_MAX_EXAMPLES = 30
DEFAULT_SHRINK_RUNS = 20
_STEPS = 1 << 20
_PERCENT_KEYS = ("soc_pct", "reserve_soc_pct")
_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_\-.\"' ]+?)\s*\]\]?\s*(#.*)?$")


# -- the declared space -----------------------------------------------------------
@dataclass(frozen=True)
class FuzzParam:
    """One entry of ``[fuzz]``: where it points and what it may take."""

    path: str                          # "initial.soc_pct", "steps.2.at", "dut.coolant_c"
    table: str                         # "initial", "dut" or "steps"
    key: str
    index: int | None = None           # step index for table "steps"
    low: float | int | None = None
    high: float | int | None = None
    choices: tuple[Any, ...] = ()
    value_type: type = float
    is_time: bool = False

    def describe(self) -> str:
        """The range as written in ``[fuzz]``: ``[low, high]`` (with `` s`` for times) or ``{ choices = [...] }``."""
        if self.choices:
            return f"{{ choices = {list(self.choices)!r} }}"
        unit = " s" if self.is_time else ""
        return f"[{self.low:g}, {self.high:g}]{unit}"


@dataclass(frozen=True)
class FuzzSpace:
    """All declared ranges of one scenario, in file order."""

    params: tuple[FuzzParam, ...]

    def strategy(self):
        """A hypothesis strategy drawing ``{path: value}`` (imports hypothesis)."""
        from hypothesis import strategies as st

        parts = {}
        for p in self.params:
            if p.choices:
                parts[p.path] = st.sampled_from(p.choices)
            elif p.value_type is int:
                parts[p.path] = st.integers(int(p.low), int(p.high))  # type: ignore[arg-type]
            else:
                low, high = float(p.low), float(p.high)  # type: ignore[arg-type]
                # hypothesis' floats favour simple and extreme values (good for shrinking, and
                # they shrink to round numbers); a uniform draw covers the inside of the range.
                def spread(k: int, low: float = low, high: float = high) -> float:
                    return low + (high - low) * k / _STEPS

                uniform = st.integers(0, _STEPS).map(spread)
                parts[p.path] = st.one_of(st.floats(low, high, allow_nan=False, allow_infinity=False), uniform)
        return st.fixed_dictionaries(parts)

    def corners(self) -> list[dict[str, Any]]:
        """Every range at its low end, then every range at its high end (first / last choice)."""
        lows = {p.path: p.choices[0] if p.choices else p.low for p in self.params}
        highs = {p.path: p.choices[-1] if p.choices else p.high for p in self.params}
        return [lows] if lows == highs else [lows, highs]

    def apply(self, scenario: Scenario, values: Mapping[str, Any]) -> Scenario:
        """The concrete scenario with ``values`` put in place (nothing else changes)."""
        initial = dict(scenario.initial)
        dut = dict(scenario.dut)
        steps = list(scenario.steps)
        for p in self.params:
            if p.path not in values:
                continue
            value = values[p.path]
            if p.table == "initial":
                initial[p.key] = value
            elif p.table == "dut":
                dut[p.key] = value
            else:
                step = steps[p.index]  # type: ignore[index]
                if p.key == "at":
                    steps[p.index] = replace(step, at_s=float(value))  # type: ignore[index]
                else:
                    steps[p.index] = replace(step, params={**step.params, p.key: value})  # type: ignore[index]
        return replace(scenario, initial=initial, dut=dut, steps=tuple(steps))


class _FuzzLocator:
    """Line numbers of ``[fuzz]`` entries (under ``[fuzz]``, ``[fuzz.x]`` or as ``fuzz.x.y = ...``), for messages."""

    def __init__(self, text: str) -> None:
        self.keys: dict[str, int] = {}
        prefix = ""
        for n, raw in enumerate(text.splitlines()):
            stripped = raw.strip()
            header = _HEADER.match(stripped) if stripped.startswith("[") else None
            if header:
                prefix = _bare(header.group(1))
                continue
            if "=" in stripped and not stripped.startswith("#"):
                key = _bare(stripped.split("=", 1)[0])
                self.keys.setdefault(f"{prefix}.{key}" if prefix else key, n + 1)

    def line(self, path: str) -> int | None:
        return self.keys.get(f"fuzz.{path}")


def _bare(key: str) -> str:
    return key.replace('"', "").replace("'", "").replace(" ", "")


def load_fuzz_scenario(path: str | Path) -> tuple[Scenario, FuzzSpace]:
    """Read a fuzz-ready scenario file: the scenario as the loader validates it, and its ``[fuzz]`` ranges.

    Raises:
        ConfigError: the scenario is invalid (as :func:`load_scenario` says), or
            its ``[fuzz]`` table is missing, empty or wrong (file, entry, line, reason).
    """
    file = Path(path)
    scenario = load_scenario(file)
    text = file.read_text(encoding="utf-8")
    if not scenario.fuzz:
        raw: dict[str, Any] | None = {} if "fuzz" in tomllib.loads(text) else None
        return scenario, parse_fuzz_table(raw, scenario, file, _FuzzLocator(text).line)
    return scenario, fuzz_space(scenario, text)


def fuzz_space(scenario: Scenario, text: str = "") -> FuzzSpace:
    """The scenario's own ``[fuzz]`` ranges, checked against it (``text``, its file's, gives the lines).

    Raises:
        ConfigError: every entry of the table that is wrong, with file, entry, line and reason.
    """
    return parse_fuzz_table(scenario.fuzz, scenario, scenario.source, _FuzzLocator(text).line)


def _flatten(raw: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Dotted paths to their specs; a table at a full path (``initial.X``, ``steps.N.X``) is a spec."""
    out: list[tuple[str, Any]] = []
    for key, value in raw.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        leaf_depth = 3 if path.split(".")[0] == "steps" else 2
        if isinstance(value, dict) and path.count(".") + 1 < leaf_depth:
            out.extend(_flatten(value, path))
        else:
            out.append((path, value))
    return out


def parse_fuzz_table(raw: object, scenario: Scenario, file: Path | str | None = None,
                     line_of: Callable[[str], int | None] | None = None) -> FuzzSpace:
    """Validate a raw ``[fuzz]`` table against ``scenario`` and build its :class:`FuzzSpace`.

    Raises:
        ConfigError: naming the file, the entry (``fuzz.steps.2.at``, line N) and the reason.
    """
    file = file if file is not None else scenario.source

    def where(path: str) -> str:
        line = line_of(path) if line_of else None
        return f"fuzz.{path} (line {line})" if line else f"fuzz.{path}"

    example = 'e.g.\n[fuzz]\ninitial.soc_pct = [31.0, 40.0]\nsteps.0.at = ["10 s", "5min"]'
    if raw is None:
        raise ConfigError(file, "fuzz", f"no [fuzz] table: declare what may vary, {example}")
    if not isinstance(raw, dict):
        raise ConfigError(file, "fuzz", f"expected a table, got {type(raw).__name__}")
    entries = _flatten(raw)
    if not entries:
        raise ConfigError(file, "fuzz", f"the [fuzz] table is empty: declare what may vary, {example}")

    # Every entry is checked, each problem collected: a table with three bad ranges names all three.
    problems = Problems(file)
    params: list[FuzzParam] = []
    for path, spec in entries:
        with problems.guard():
            params.append(_param(path, spec, scenario, file, where(path)))
    if not problems:
        with problems.guard():
            _check_step_order(params, scenario, file, where)
    problems.raise_if_any()
    return FuzzSpace(tuple(params))


def _param(path: str, spec: object, scenario: Scenario, file: Path | str | None, entry: str) -> FuzzParam:
    """One ``[fuzz]`` entry: what it varies (a known key of the scenario) and a range or choices it may hold.

    Raises:
        ConfigError: an unknown target, a malformed range, or an end the scenario could not hold.
    """
    parts = path.split(".")
    table = parts[0]
    index: int | None = None
    if table in ("initial", "dut") and len(parts) == 2:
        key = parts[1]
        known = INITIAL_KEYS if table == "initial" else DUT_KEYS
        if key == "defect" and table == "dut":
            raise ConfigError(file, entry, "the defect is not a range: pick it with --dut-defect")
        if key not in known:
            raise ConfigError(file, entry, f"unknown key; allowed: {', '.join(k for k in known if k != 'defect')}")
        want: type = known[key]
        is_time = False
        schema_field = (INITIAL if table == "initial" else dut_schema()).get(key)
    elif table == "steps" and len(parts) == 3:
        if not parts[1].isdigit():
            raise ConfigError(file, entry, f'expected a step number after "steps.", got "{parts[1]}"')
        index, key = int(parts[1]), parts[2]
        if index >= len(scenario.steps):
            raise ConfigError(file, entry, f"the scenario has {len(scenario.steps)} step(s) (numbered from 0); "
                                           f"there is no step {index}")
        step = scenario.steps[index]
        spec_params = ACTIONS[step.action].params
        schema_field = step_schema(step.action).get(key)
        if key == "at":
            want, is_time = float, True
        elif key in spec_params:
            want, is_time = spec_params[key][0], key.endswith("_s")
        else:
            allowed = ", ".join(["at", *spec_params])
            raise ConfigError(file, entry, f'step {index} is "{step.action}", which takes: {allowed}')
    else:
        raise ConfigError(file, entry, "unknown target; allowed: initial.KEY, dut.KEY, steps.N.at, steps.N.PARAM")

    if isinstance(spec, dict):
        extra = set(spec) - {"choices"}
        choices = spec.get("choices")
        if extra or not isinstance(choices, list) or not choices:
            raise ConfigError(file, entry, "expected { choices = [a, b, ...] } with at least one value")
        values = tuple(_coerce(v, want, is_time, file, entry) for v in choices)
        for v in values:
            _check_domain(key, v, v, scenario, file, entry, is_time, schema_field)
        return FuzzParam(path, table, key, index, choices=values, value_type=want, is_time=is_time)
    if not isinstance(spec, list) or len(spec) != 2:
        raise ConfigError(file, entry, f"expected a range [low, high] or {{ choices = [...] }}, got {spec!r}")
    if want not in (int, float):
        raise ConfigError(file, entry, f"a range needs a number, but {key} is a {want.__name__}; "
                                       "use { choices = [...] }")
    low, high = (_coerce(v, want, is_time, file, entry) for v in spec)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ConfigError(file, entry, f"range bounds must be finite, got [{low}, {high}]")
    if low > high:
        raise ConfigError(file, entry, f"low must be <= high, got [{low:g}, {high:g}]")
    _check_domain(key, low, high, scenario, file, entry, is_time, schema_field)
    return FuzzParam(path, table, key, index, low, high, value_type=want, is_time=is_time)


def _coerce(value: object, want: type, is_time: bool, file: Path | str | None, entry: str) -> Any:
    if is_time:
        return parse_duration(value, Path(file) if file else Path("<input>"), entry)
    if want is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if want is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if want in (str, bool) and isinstance(value, want):
        return value
    raise ConfigError(file, entry, f"expected {want.__name__} values, got {type(value).__name__} {value!r}")


def _check_domain(key: str, low: Any, high: Any, scenario: Scenario, file: Path | str | None, entry: str,
                  is_time: bool, schema_field: Field | None = None) -> None:
    """Both ends of a range (or a choice) must be values the scenario itself could hold: the same
    schema as the loader's (an ambient of -100 C is no more plausible fuzzed than written)."""
    if key in _PERCENT_KEYS and not (0.0 <= low and high <= 100.0):
        raise ConfigError(file, entry, f"{key} must stay within 0..100 %, got [{low:g}, {high:g}]")
    if key in ("series", "parallel") and low < 1:
        raise ConfigError(file, entry, f"{key} must be >= 1, got {low}")
    if is_time and high > scenario.duration_s:
        raise ConfigError(file, entry, f"{high:g} s is after the end of the scenario ({scenario.duration_s:g} s)")
    if schema_field is not None and not is_time:
        for end in dict.fromkeys((low, high)):
            _, reason = schema_field.validate(end)
            if reason is not None:
                raise ConfigError(file, entry, f"{end!r}: {reason}")


def _check_step_order(params: list[FuzzParam], scenario: Scenario, file: Path | str | None,
                      where: Callable[[str], str]) -> None:
    """Refuse step-time ranges that could put a step before the one above it in the file."""
    bounds = [(s.at_s, s.at_s) for s in scenario.steps]
    for p in params:
        if p.table == "steps" and p.key == "at":
            bounds[p.index] = (min(p.choices), max(p.choices)) if p.choices else (p.low, p.high)  # type: ignore
    for i in range(1, len(bounds)):
        if bounds[i][0] < bounds[i - 1][1] - 1e-9:
            ranged = next((p for p in params if p.table == "steps" and p.key == "at" and p.index in (i, i - 1)), None)
            path = ranged.path if ranged else f"steps.{i}.at"
            raise ConfigError(file, where(path),
                              f"step {i} may come at {bounds[i][0]:g} s but step {i - 1} may come as late as "
                              f"{bounds[i - 1][1]:g} s; steps keep their file order, so the time ranges of "
                              "neighbouring steps must not overlap")


# -- the search -------------------------------------------------------------------------
class _SearchState(TypedDict):
    """What the search's probe keeps between runs."""

    shrinking: bool     # hypothesis reports a failure and is shrinking it
    shrink_used: int    # runs spent shrinking so far


@dataclass
class FuzzRun:
    """One bench run of the search."""

    number: int
    values: dict[str, Any]
    result: ScenarioResult
    shrinking: bool

    @property
    def robustness(self) -> dict[str, float]:
        """Each check's robustness in this run (checks without one left out)."""
        return {c.check.name: c.robustness for c in self.result.checks if c.robustness is not None}

    @property
    def failed(self) -> list[CheckResult]:
        """The checks that failed in this run."""
        return [c for c in self.result.checks if c.failed]


@dataclass
class FuzzOutcome:
    """The result of a whole search: every run, the shrunk counterexample if one was found.

    ``lowest`` keeps each check's lowest robustness seen (and its unit), for the summary.
    """

    scenario: Scenario
    space: FuzzSpace
    dut_defect: str | None
    seed: int
    runs: list[FuzzRun]
    elapsed_s: float
    counterexample: FuzzRun | None = None
    lowest: dict[str, tuple[float, str]] = field(default_factory=dict)   # check -> (robustness, unit)

    @property
    def found(self) -> bool:
        """Whether the search found a run that violates a check."""
        return self.counterexample is not None

    @property
    def examples(self) -> int:
        """Runs spent searching (shrinking runs not counted)."""
        return sum(1 for r in self.runs if not r.shrinking)

    @property
    def shrink_runs(self) -> int:
        """Runs spent shrinking the violation found."""
        return sum(1 for r in self.runs if r.shrinking)

    def closest(self) -> FuzzRun | None:
        """The run whose worst check came closest to failing, each check's robustness scaled by its spread."""
        if not self.runs:
            return None
        scale: dict[str, float] = {}
        for run in self.runs:
            for name, r in run.robustness.items():
                if math.isfinite(r):
                    scale[name] = max(scale.get(name, 0.0), abs(r))

        def worst(run: FuzzRun) -> float:
            rs = [r / scale[n] if scale.get(n) else r for n, r in run.robustness.items()]
            return min(rs) if rs else math.inf

        return min(self.runs, key=worst)


class _Violation(Exception):
    def __init__(self, run: FuzzRun) -> None:
        super().__init__(", ".join(c.check.name for c in run.failed))
        self.run = run


def fuzz(scenario: Scenario, space: FuzzSpace, *, dut_defect: str | None = None,
         max_examples: int = DEFAULT_MAX_EXAMPLES, seed: int = 0, shrink_runs: int = DEFAULT_SHRINK_RUNS,
         options: RunOptions | None = None, with_corners: bool = True,
         on_run: Callable[[FuzzRun], None] | None = None) -> FuzzOutcome:
    """Search ``space`` for a run of ``scenario`` that violates a check; shrink the first one found.

    ``seed`` seeds both the search and every bench run, so a search repeats
    exactly.  With ``with_corners`` the first examples put every range at its
    low end, then at its high end (a violation there is reported unshrunk: it
    is already as simple as the ranges allow).  At most ``max_examples``
    scenarios are run in the search, corners included, and at most
    ``shrink_runs`` further bench runs are spent shrinking a violation (runs
    are cached, so hypothesis replaying a value costs nothing).

    Raises:
        HilbenchError: hypothesis is not installed, or a run could not be
            carried out (a bench error, not a failed check).
        NotRunnableError: a step of the scenario (or of a corner of the space)
            cannot act on this bus; raised before the first run.
    """
    try:
        from hypothesis import (
            HealthCheck,
            Phase,
            Verbosity,
            example,
            given,
            settings,
            target,
        )
        from hypothesis import seed as hypothesis_seed
        from hypothesis.errors import InvalidArgument
    except ImportError:
        raise HilbenchError("hilbench fuzz needs hypothesis: pip install hypothesis") from None
    if max_examples < 1:
        raise ConfigError(None, "max_examples", f"must be >= 1, got {max_examples}")
    base = options or RunOptions()
    run_options = replace(base, seed=seed, dut_defect=dut_defect if dut_defect is not None else base.dut_defect)
    # Refused before the search starts (inside it, hypothesis would take the refusal for a finding).
    check_runnable([scenario, *(space.apply(scenario, values) for values in space.corners())], run_options)
    runs: list[FuzzRun] = []
    cache: dict[str, FuzzRun | None] = {}
    state: _SearchState = {"shrinking": False, "shrink_used": 0}
    started = wall_time_s()

    def probe(values: dict[str, Any]) -> None:
        key = repr(sorted(values.items()))
        if key in cache:
            run = cache[key]
        elif state["shrinking"] and state["shrink_used"] >= shrink_runs:
            run = cache[key] = None       # out of shrink budget: treat as passing, consistently
        else:
            if state["shrinking"]:
                state["shrink_used"] += 1
            result = run_scenario(space.apply(scenario, values), run_options)
            if result.error:
                raise ScenarioError(f"{scenario.name}: run with {values} could not be carried out: {result.error}")
            run = cache[key] = FuzzRun(len(runs) + 1, dict(values), result, state["shrinking"])
            runs.append(run)
            if on_run is not None:
                on_run(run)
        if run is None:
            return
        for name, r in run.robustness.items():
            try:
                target(-r if math.isfinite(r) else (1e12 if r < 0 else -1e12), label=name)
            except InvalidArgument:   # explicit (corner) examples are not generated: nothing to steer
                break
        if run.failed:
            state["shrinking"] = True
            raise _Violation(run)

    # The corners of the box first (a test engineer's first guess, and where thresholds
    # often sit), then hypothesis draws and steers the rest of the budget.
    corners = space.corners()[:max(0, max_examples - 1)] if with_corners else []
    test = given(space.strategy())(probe)
    for values in reversed(corners):
        test = example(values)(test)
    test = settings(max_examples=max(1, max_examples - len(corners)), deadline=None, database=None,
                    derandomize=False, phases=(Phase.explicit, Phase.generate, Phase.target, Phase.shrink),
                    verbosity=Verbosity.quiet, suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
                    print_blob=False)(test)
    test = hypothesis_seed(seed)(test)
    counterexample = None
    try:
        test()
    except _Violation as exc:
        counterexample = exc.run
    outcome = FuzzOutcome(scenario, space, run_options.dut_defect, seed, runs, wall_time_s() - started,
                          counterexample)
    units = {c.name: c.unit for c in scenario.checks}
    for run in runs:
        for name, r in run.robustness.items():
            if name not in outcome.lowest or r < outcome.lowest[name][0]:
                outcome.lowest[name] = (r, units.get(name, ""))
    return outcome


# -- writing scenarios back out -----------------------------------------------------------
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)   # round-trips exactly; inf, -inf and nan are TOML too
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} to a scenario file")


def scenario_to_toml(scenario: Scenario, comment: str = "") -> str:
    """A scenario file that :func:`load_scenario` reads back to the same scenario (times in seconds)."""
    out: list[str] = [f"# {line}".rstrip() for line in comment.splitlines()]
    out += ["[scenario]", f"name = {_toml_value(scenario.name)}"]
    if scenario.description:
        out.append(f"description = {_toml_value(scenario.description)}")
    out.append(f"duration = {_toml_value(float(scenario.duration_s))}")
    if scenario.markers:
        out.append(f"markers = {_toml_value(list(scenario.markers))}")
    for table, values in (("initial", scenario.initial), ("dut", scenario.dut)):
        if values:
            out += ["", f"[{table}]"] + [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    for step in scenario.steps:
        out += ["", "[[steps]]", f"at = {_toml_value(float(step.at_s))}", f"action = {_toml_value(step.action)}"]
        if step.name:
            out.append(f"name = {_toml_value(step.name)}")
        out += [f"{k} = {_toml_value(v)}" for k, v in step.params.items()]
    for check in scenario.checks:
        out += _check_lines(check)
    if scenario.fuzz:
        out += ["", "[fuzz]"] + [f"{'.'.join(_key(k) for k in path.split('.'))} = {_toml_value(v)}"
                                 for path, v in _flatten(scenario.fuzz)]
    return "\n".join(out) + "\n"


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _check_lines(check: Check) -> list[str]:
    lines = ["", "[[checks]]", f"kind = {_toml_value(check.kind)}", f"name = {_toml_value(check.name)}"]
    for key, value in (("expr", check.expr), ("trigger", check.trigger), ("unit", check.unit)):
        if value:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, seconds in (("within", check.within_s), ("duration", check.duration_s), ("until", check.until_s)):
        if seconds is not None:
            lines.append(f"{key} = {_toml_value(float(seconds))}")
    if check.from_s:
        lines.append(f"from = {_toml_value(float(check.from_s))}")
    if check.tolerance_pct != 1.0:
        lines.append(f"tolerance_pct = {_toml_value(float(check.tolerance_pct))}")
    return lines


def reproduce_command(path: Path, dut_defect: str | None, seed: int) -> str:
    """The ``hilbench run`` command line that replays the scenario at ``path`` as the search ran it."""
    parts = ["hilbench", "run", str(path)]
    if dut_defect:
        parts += ["--dut-defect", dut_defect]
    if seed:
        parts += ["--seed", str(seed)]
    return " ".join(parts)


def write_scenario_run(outcome: FuzzOutcome, run: FuzzRun, out_dir: str | Path, suffix: str) -> Path:
    """Write ``run``'s concrete scenario as ``<source stem>-<suffix>.toml`` in ``out_dir`` and return the path.

    The file is read back with :func:`load_scenario` and must equal the scenario
    that was run (apart from name and description), else ``ScenarioError``.
    """
    base = outcome.scenario
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(out, None, f"cannot create output folder: {exc.strerror}") from None
    stem = base.source.stem if base.source is not None else base.name
    path = out / f"{stem}-{suffix}.toml"
    concrete = outcome.space.apply(base, run.values)
    varied = ", ".join(f"{k} = {v!r}" for k, v in run.values.items())
    description = f"{suffix.capitalize()} of {base.name} found by hilbench fuzz: {varied}."
    concrete = replace(concrete, name=f"{base.name}-{suffix}", description=description, source=path, fuzz={})
    header = [f"{suffix.capitalize()} written by `hilbench fuzz` from {base.source or base.name}",
              f"(DUT defect: {outcome.dut_defect or 'none'}, seed {outcome.seed}, "
              f"run {run.number} of {len(outcome.runs)}).",
              ""]
    for c in run.result.checks:
        rob = "" if c.robustness is None else f", robustness {c.robustness:+.6g} {c.check.unit}".rstrip()
        header.append(f"{c.verdict}  {c.check.name}{rob}: {c.detail}")
    header += ["", "Varied within [fuzz] of the source file:"]
    header += [f"  {p.path} = {run.values[p.path]!r}   (range {p.describe()})" for p in outcome.space.params]
    header += ["", f"Reproduce: {reproduce_command(path, outcome.dut_defect, outcome.seed)}"]
    text = scenario_to_toml(concrete, "\n".join(header) + "\n")
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, None, f"cannot write: {exc.strerror}") from None
    loaded = load_scenario(path)
    if replace(loaded, source=path) != concrete:
        raise ScenarioError(f"{path}: the written scenario does not read back as the one that was run")
    return path


def write_counterexample(outcome: FuzzOutcome, out_dir: str | Path) -> Path:
    """Write the shrunk violation as ``<scenario file stem>-counterexample.toml``.

    Raises:
        ScenarioError: the search found no violation.
    """
    if outcome.counterexample is None:
        raise ScenarioError(f"{outcome.scenario.name}: no violation found, nothing to write")
    return write_scenario_run(outcome, outcome.counterexample, out_dir, "counterexample")


__all__ = ["DEFAULT_MAX_EXAMPLES", "DEFAULT_SHRINK_RUNS", "FuzzOutcome", "FuzzParam", "FuzzRun", "FuzzSpace",
           "fuzz", "load_fuzz_scenario", "parse_fuzz_table", "reproduce_command", "scenario_to_toml",
           "write_counterexample", "write_scenario_run"]
