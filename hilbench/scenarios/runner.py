"""Running a scenario on a bench and judging it.

:func:`run_scenario` builds a bench, plays the steps, judges the checks and
closes the bench on every exit path.  What reports need is kept on the
:class:`ScenarioResult`, not the bench: the role traces on the check grid
(:class:`Traces`), the steps as they fired, and for each failed check the
decoded frames around its first violation (:class:`Violation`).  Those frames
come from the monitor's in-memory traces, which exist anyway for the checks,
so they cost nothing extra and work on a real bus in wall time too; when the
run was recorded to a candump ``.log``, the raw frames of the same window are
read back from the recording as well.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..bench import NODE_NAMES, Bench, BenchConfig
from ..bus import BenchCodec, SignalMap, load_bus_description
from ..bus.open import BusConfig
from ..bus.recorder import primary_log_path, read_recording
from ..clock import StopRequest, wall_time_s
from ..errors import BusError, ScenarioError
from .actions import ACTIONS, BusView, apply, step_problems
from .checks import VACUOUS, VERDICTS, CheckResult, TraceGrid, evaluate_check
from .expr import ExprError, compile_expr
from .loader import _Locator
from .model import Check, Scenario

log = logging.getLogger(__name__)

#: Roles kept on every result for plots and trace files (those the signal map lacks are skipped).
REPORT_ROLES = (
    "soc_pct", "range_reserve_soc_pct", "pack_voltage_v", "pack_current_a", "discharge_current_limit_a",
    "charge_current_limit_a", "min_cell_voltage_v", "max_cell_voltage_v", "min_cell_temp_c", "max_cell_temp_c",
    "junction_temp_c", "compute_power_w", "cu_power_level", "cu_requested_level", "tokens_per_s",
    "tokens_total", "cu_state", "cu_reason", "gear", "plug_present", "cp_state", "charge_current_a",
    "ambient_temp_c", "coolant_temp_c", "bms_fault_level", "cu_reason_frame_id", "cu_reason_input_state",
)
#: The DUT's answer is shown around every violation, whatever the check looked at.
_RESPONSE_ROLES = ("cu_state", "cu_power_level", "cu_reason", "compute_power_w")
#: Half-width of the window of frames shown around a violation.
VIOLATION_WINDOW_S = 0.5
#: At most this many frames (decoded, and raw) are kept per violation.
MAX_FRAMES_PER_VIOLATION = 200


@dataclass
class RunOptions:
    """How to run (not what): seed, bus, DBC, recording, DUT defect. Shared by CLI, pytest and fuzzing."""

    seed: int = 0
    bus: BusConfig = field(default_factory=BusConfig)
    #: DBCs overlaid in order (one path is accepted); None: the signal map's own list.
    dbc: tuple[Path, ...] | Path | None = None
    signal_map: Path | None = None
    record: Path | None = None
    dut_defect: str | None = None
    emulate: frozenset[str] | None = None
    wall_time: bool = False
    #: Keep role traces on the result for plots and CSV (a fuzzer running thousands of cases may not want them).
    keep_traces: bool = True
    #: A lost bus (an adapter unplugged, a daemon gone) is opened again and the run carries on when it
    #: is back, instead of ending there (wall-time buses; ``hilbench run --reconnect``).
    reconnect: bool = False


#: How a result interrupted by a lost bus begins its ``interrupted`` reason.
LOST_BUS = "a lost bus"

#: A cell's cycle life is counted to this fraction of its rated capacity (the usual datasheet
#: end-of-life criterion, which the chemistry files' ``cycle_life`` figures from DOMAIN.md assume).
END_OF_LIFE_CAPACITY_FRACTION = 0.8


@dataclass
class Economics:
    """What a run's tokens cost (see :func:`economics_of`).

    Energies in kWh: what the compute unit drew, and how much of it came from the pack and
    from the grid (both 0 when the unit is real: the bench cannot tell).  The pack's wear is the
    unit's share in equivalent full cycles: its energy from the pack, divided by the DC-DC
    converter's efficiency, over the pack's capacity.  The capacity that wear costs is the
    pack's life-average cycle fade: ``1 - END_OF_LIFE_CAPACITY_FRACTION`` of its capacity
    over the chemistry's ``cycle_life`` equivalent full cycles, so 20 % per 1,500 cycles for
    NMC.  (Fade is not linear over a life, and calendar ageing is not counted: this is the
    unit's share of the average, not the fade of this pack today.)
    """

    tokens: int
    compute_energy_kwh: float
    energy_from_pack_kwh: float
    energy_from_grid_kwh: float
    tokens_per_kwh: float
    pack_equivalent_full_cycles: float
    #: Percent of the pack's rated capacity that wear costs, life-averaged (see above).
    pack_capacity_lost_pct: float = 0.0
    #: The same per million tokens (0 when no token was made).
    pack_capacity_lost_pct_per_m_tokens: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """The fields by name (a copy), for the reports."""
        return dict(self.__dict__)


@dataclass
class Traces:
    """Role traces resampled on the check grid: what the checks judged, for plots and CSV.

    ``values[role]`` is a float array aligned with ``t_s``; enumerated roles
    hold indices into ``states[role]`` (NaN before the first frame).
    """

    t_s: np.ndarray
    values: dict[str, np.ndarray]
    states: dict[str, tuple[str, ...]]
    units: dict[str, str]

    def __contains__(self, role: str) -> bool:
        return role in self.values

    def label(self, role: str) -> str:
        """``role [unit]`` for a plot's axis, or the role alone when it has no unit."""
        unit = self.units.get(role, "")
        return f"{role} [{unit}]" if unit else role

    def value(self, role: str, index: int) -> float | str:
        """One sample, enumerated roles as their state name."""
        value = float(self.values[role][index])
        states = self.states.get(role, ())
        if states and not np.isnan(value) and 0 <= int(value) < len(states):
            return states[int(value)]
        return value

    @classmethod
    def from_grid(cls, grid: TraceGrid, roles: Iterable[str]) -> Traces:
        """The traces of ``roles`` on ``grid`` with their state names and units (unmapped roles left out)."""
        bindings = grid.monitor.codec.signal_map.roles
        values: dict[str, np.ndarray] = {}
        states: dict[str, tuple[str, ...]] = {}
        units: dict[str, str] = {}
        for role in roles:
            if role not in bindings or role in values:
                continue
            v, s = grid(role)
            values[role] = np.asarray(v, dtype=float)
            if s:
                states[role] = s
            units[role] = bindings[role].role.unit
        return cls(grid.t.copy(), values, states, units)


@dataclass(frozen=True)
class DecodedFrame:
    """One frame around a violation, as the monitor decoded it (role values)."""

    t_s: float
    message: str
    frame_id: int
    values: dict[str, float | str]
    data: str = ""       # payload in hex, when the run was recorded to a candump .log

    def __str__(self) -> str:
        body = "  ".join(f"{k}={_fmt_value(v)}" for k, v in self.values.items())
        data = f" {self.data:<16}" if self.data else ""
        return f"{self.t_s:12.3f} s  0x{self.frame_id:03X} {self.message:<18}{data}  {body}"


@dataclass
class Violation:
    """A failed check's first violation and the bus traffic around it."""

    check: str
    t_s: float
    values: dict[str, float | str]
    frames: list[DecodedFrame]
    window_s: float = VIOLATION_WINDOW_S


@dataclass(frozen=True)
class FiredStep:
    """A scenario step that fired: when (s since the start), its label and the action it ran."""

    t_s: float
    label: str
    action: str
    fault: bool          # registered by the fault-injection module (plots mark these in red)


@dataclass
class ScenarioResult:
    """One scenario run: the checks' verdicts, the economics, the steps that fired and each failed check's
    first violation with the frames around it.

    ``duration_s`` is the simulated (or wall) time that ran, ``wall_s`` what it took; ``bench`` is kept
    (closed) only when :func:`run_scenario` was asked to; ``traces`` hold what the checks judged.
    """

    scenario: Scenario
    checks: list[CheckResult]
    economics: Economics
    frames: int
    duration_s: float
    bench: Bench | None = None
    error: str | None = None
    traces: Traces | None = None
    steps: list[FiredStep] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    options: RunOptions | None = None
    wall_s: float = 0.0
    epoch_s: float = 0.0
    record: Path | None = None

    #: The model the compute unit ran, ``name sha256 <hash>`` (None when it ran none: the model fidelity,
    #: or a real unit on the bus): the report names the bytes that made the tokens.
    model: str | None = None

    #: What the bench warned about (load and run time: a lenient DBC's offenders, a value clipped to a
    #: DBC range): shown with the verdicts, never silent.
    warnings: list[str] = field(default_factory=list)
    #: Why the run ended before the scenario's end (e.g. ``"SIGINT"``); None when it ran whole.
    #: The checks were then judged over ``0..duration_s`` only: partial verdicts.
    interrupted: str | None = None

    @property
    def passed(self) -> bool:
        """Ran whole, no error, no check FAILED and none VACUOUS (NOT MAPPED checks neither pass nor fail)."""
        return (self.error is None and self.interrupted is None
                and not any(c.fails_scenario for c in self.checks))

    @property
    def step_times(self) -> list[tuple[float, str]]:
        """(time, label) of every step that fired."""
        return [(step.t_s, step.label) for step in self.steps]

    @property
    def verdict(self) -> str:
        """``ERROR``, else ``INTERRUPTED``, else ``PASS`` or ``FAIL`` as :attr:`passed` says."""
        if self.error:
            return "ERROR"
        if self.interrupted:
            return "INTERRUPTED"
        return "PASS" if self.passed else "FAIL"

    @property
    def failed_checks(self) -> list[CheckResult]:
        """The checks judged and violated (FAIL)."""
        return [c for c in self.checks if c.failed]

    @property
    def vacuous_checks(self) -> list[CheckResult]:
        """The checks that tested nothing and do not allow it (VACUOUS): they fail the scenario too."""
        return [c for c in self.checks if c.verdict == VACUOUS]

    @property
    def failing_checks(self) -> list[CheckResult]:
        """Every check that keeps the scenario from passing (FAIL or VACUOUS), in file order."""
        return [c for c in self.checks if c.fails_scenario]

    @property
    def not_mapped_checks(self) -> list[CheckResult]:
        """The checks over a role the signal map does not bind (NOT MAPPED): the bus cannot tell, so they
        neither pass nor fail."""
        return [c for c in self.checks if c.not_mapped]

    def verdict_counts(self) -> dict[str, int]:
        """How many checks got each verdict (PASS, FAIL, VACUOUS, NOT MAPPED), every verdict present."""
        counts = dict.fromkeys(VERDICTS, 0)
        for check in self.checks:
            counts[check.verdict] += 1
        return counts

    def violation_of(self, check: CheckResult) -> Violation | None:
        """The first violation of ``check`` with its frames; None when it has none (it did not fail)."""
        for violation in self.violations:
            if violation.check == check.check.name:
                return violation
        return None


def bench_config(scenario: Scenario, options: RunOptions) -> BenchConfig:
    """The bench ``scenario`` runs on: its initial state with the run's seed, bus, DBCs, signal map,
    recording and clock; ``options.dut_defect`` over the scenario's own DUT table, and
    ``options.emulate`` when it is given."""
    dut = dict(scenario.dut)
    if options.dut_defect:
        dut["defect"] = options.dut_defect
    config = BenchConfig(**scenario.initial, seed=options.seed, bus=options.bus, dbc=options.dbc,
                         signal_map=options.signal_map, record=options.record, dut=dut,
                         wall_time=options.wall_time)
    if options.emulate is not None:
        config = config.with_(emulate=options.emulate)
    return config


# -- before anything runs ---------------------------------------------------------------------
@dataclass(frozen=True)
class StepProblem:
    """One reason a scenario cannot run on this bus: file, entry (``steps[3].role``, with its line) and reason."""

    file: str
    entry: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.entry}: {self.reason}"


class NotRunnableError(ScenarioError):
    """Scenarios refused before the first one started; ``problems`` lists every one of them."""

    def __init__(self, problems: Iterable[StepProblem]) -> None:
        self.problems = tuple(problems)
        files = {p.file for p in self.problems}
        head = (f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''} in {len(files)} "
                f"scenario{'s' if len(files) != 1 else ''}, refused before running")
        super().__init__("\n  ".join([head, *map(str, self.problems)]))

    def __reduce__(self):
        # Crosses process boundaries whole (``hilbench run -j`` runs scenarios in workers).
        return type(self), (self.problems,)


def bus_view(options: RunOptions | None = None) -> BusView:
    """The bus a run of ``options`` would use: its description (DBCs and signal map, loaded once and
    cached, exactly as the bench loads it) and the nodes the bench emulates.

    Raises:
        ConfigError: the DBCs or the signal map are refused.
    """
    options = options or RunOptions()
    emulated = frozenset(options.emulate if options.emulate is not None else NODE_NAMES)
    dbcs = (options.dbc,) if isinstance(options.dbc, (str, Path)) else options.dbc
    description = load_bus_description(dbcs, options.signal_map, require=NODE_NAMES if "cu" in emulated else ())
    return BusView(BenchCodec(description.db, description.signal_map), emulated)


def scenario_problems(scenario: Scenario, view: BusView) -> list[StepProblem]:
    """Every step of ``scenario`` that cannot act on the bus ``view`` describes (empty: it can run)."""
    file = str(scenario.source) if scenario.source is not None else f"<scenario {scenario.name}>"
    found = [(index, step, key, reason) for index, step in enumerate(scenario.steps)
             for key, reason in step_problems(step.action, step.params, view)]
    if not found:
        return []
    locator = None
    if scenario.source is not None:
        try:     # the file is read again only to cite lines
            locator = _Locator(Path(scenario.source).read_text(encoding="utf-8"))
        except OSError:
            pass
    problems: list[StepProblem] = []
    for index, step, key, reason in found:
        entry = f"steps[{index}].{key}" if key else f"steps[{index}]"
        line = locator.line("steps", index, key or None) if locator is not None else None
        if line is not None:
            entry += f" (line {line})"
        label = f' "{step.name}"' if step.name else ""
        problems.append(StepProblem(file, entry, f"{step.action}{label} at {step.at_s:g} s: {reason}"))
    return problems


def check_runnable(scenarios: Iterable[Scenario], options: RunOptions | None = None) -> None:
    """Refuse a run before its first scenario starts if any step of any scenario cannot act on this bus.

    The bus description (DBC and signal map) is loaded once.  A step is
    refused when it needs a role the map does not bind (``request_drive``
    without ``drive_requested``, a sensor fault on an unmapped role,
    ``role = ...`` naming one), a node the bench does not emulate (a frame
    fault, a silenced node, a VCU action with a real VCU), or a message that
    is not in the DBC or that no emulated node sends.  A *check* over an
    unmapped role is not refused: it is judged NOT MAPPED.

    Raises:
        NotRunnableError: (a :class:`ScenarioError`) listing every problem of every scenario, each
            with its file, entry (``steps[3].role (line 21)``) and reason.
        ConfigError: the DBC or the signal map itself is refused.
    """
    view = bus_view(options)
    problems = [problem for scenario in scenarios for problem in scenario_problems(scenario, view)]
    if problems:
        raise NotRunnableError(problems)


MAX_GAP_CYCLES = 3


def checked_messages(signal_map: SignalMap) -> list[str]:
    """The messages the bus-health checks judge: those the bench sends or the signal map uses.

    A car's DBC describes every ECU of the car; the bench neither sends nor
    reads most of them, and their timing says nothing about the bench.
    """
    return list(dict.fromkeys(signal_map.used_messages))


def health_check(check: Check, bench: Bench) -> CheckResult:
    """Judge a bench-health check (``cycle_times`` or ``bus_integrity``) on what the monitor saw."""
    monitor = bench.monitor
    if check.kind == "cycle_times":
        stats_of = monitor.stats
        judged = [stats_of[name] for name in checked_messages(bench.codec.signal_map) if name in stats_of]
        worst_pct = 0.0
        worst = ""
        for stats in judged:
            if stats.count < 3 or not stats.cycle_time_s:
                continue
            err = abs(stats.mean_period_s - stats.cycle_time_s) / stats.cycle_time_s * 100.0  # type: ignore[operator]
            if err >= worst_pct:
                worst_pct, worst = err, stats.name
        silent = [s.name for s in judged if s.count == 0]
        # A mean period can hide an outage: a receiver declares a message lost after
        # 3-10 missed cycles (DOMAIN.md), so any gap of more than 3 cycles fails too.
        gaps = [f"{s.name} {s.max_gap_s:.2f} s" for s in judged
                if s.count >= 2 and s.cycle_time_s and s.max_gap_s > MAX_GAP_CYCLES * s.cycle_time_s + 1e-6]
        passed = worst_pct <= check.tolerance_pct and not silent and not gaps
        detail = f"worst {worst} {worst_pct:.3f} % off its DBC cycle time"
        if silent:
            detail += f"; never seen: {', '.join(silent)}"
        if gaps:
            detail += f"; gaps of more than {MAX_GAP_CYCLES} cycles: {', '.join(gaps)}"
        return CheckResult(check, passed, check.tolerance_pct - worst_pct, detail)
    return _integrity_check(check, bench)


#: At most this many unknown IDs are named in the bus-integrity detail.
MAX_UNKNOWN_IDS_SHOWN = 8


def _integrity_check(check: Check, bench: Bench) -> CheckResult:
    """Undecodable frames and E2E errors fail the bus; IDs in no DBC are counted and named, never fatal.

    A real car bus carries IDs nobody put in the lab's DBCs (diagnostics,
    other ECUs' private traffic).  Those the signal map's ``[bus] ignore_ids``
    lists are not even counted as unknown (the monitor counts them apart).
    """
    monitor = bench.monitor
    unknown = monitor.unknown_frames
    refused = bench.refused_by_link
    problems = monitor.decode_errors + monitor.e2e_errors + sum(refused.values())
    detail = (f"{monitor.frames} frames, {unknown} unknown, {monitor.decode_errors} undecodable, "
              f"{monitor.e2e_errors} E2E errors")
    if refused:
        detail += ("; not carried by the link (CAN FD over a classic-only one), so never on the bus: "
                   + ", ".join(f"{name} x{n}" for name, n in sorted(refused.items())))
    if unknown:
        shown = sorted(monitor.unknown_ids.items(), key=lambda item: (-item[1], item[0]))[:MAX_UNKNOWN_IDS_SHOWN]
        more = len(monitor.unknown_ids) - len(shown)
        detail += ("; unknown IDs (in no DBC, not counted against the bus): "
                   + ", ".join(f"0x{i:X} x{n}" for i, n in shown) + (f" and {more} more" if more else ""))
    if monitor.ignored_frames:
        detail += f"; {monitor.ignored_frames} frames of IDs the signal map ignores"
    return CheckResult(check, problems == 0, float(-problems), detail)


def _judge(check: Check, bench: Bench, grid: TraceGrid) -> CheckResult:
    if check.kind in ("cycle_times", "bus_integrity"):
        return health_check(check, bench)
    try:
        return evaluate_check(check, grid)
    except ExprError as exc:   # e.g. a state the signal does not have: a failed check, not a crashed run
        return CheckResult(check, False, None, f"bad expression: {exc}")


def _values_at(grid: TraceGrid, roles: list[str], t_s: float) -> dict[str, float | str]:
    """Every signal a check names (trigger included), as the grid held it at ``t_s``."""
    index = int(np.clip(np.searchsorted(grid.t, t_s - 1e-9), 0, len(grid.t) - 1))
    return {role: grid.value_at(role, index) for role in roles}


def _check_roles(check: Check, known: dict[str, tuple[str, ...]]) -> list[str]:
    names: set[str] = set()
    for source in (check.expr, check.trigger):
        if source:
            try:
                names |= compile_expr(source, known).names
            except ExprError:
                pass
    return sorted(names)


def schedule_steps(bench: Bench, scenario: Scenario) -> list[FiredStep]:
    """Put the scenario's steps on the bench clock; the list returned fills as they fire."""
    fired: list[FiredStep] = []
    for step in scenario.steps:
        is_fault = ACTIONS[step.action].func.__module__.rpartition(".")[2] == "faults"

        def fire(step=step, is_fault=is_fault) -> None:
            fired.append(FiredStep(bench.clock.now, step.label, step.action, is_fault))
            apply(bench, step.action, step.params)
        bench.clock.call_at(step.at_s, fire)
    return fired


def run_scenario(scenario: Scenario, options: RunOptions | None = None, *,
                 progress: Callable[[float, float, float], None] | None = None, keep_bench: bool = False,
                 stop: StopRequest | None = None,
                 live: Callable[[float, list[CheckResult]], None] | None = None,
                 live_every_s: float | None = None) -> ScenarioResult:
    """Build a bench for ``scenario``, play its steps, judge its checks; the bench is always closed.

    ``stop`` (a signal handler's request) ends the run early, between two tasks: the
    checks are then judged over the time that ran (partial verdicts), the result says
    :attr:`~ScenarioResult.interrupted`, and the recording holds every frame of the bus.
    A bus lost during the run (an adapter unplugged, a daemon gone) ends it the same way,
    with the time and the reason as :attr:`~ScenarioResult.interrupted`: a verdict, never
    a traceback, and the recording kept.

    ``live`` (a front end showing verdicts as they form) is called every ``live_every_s`` of
    bench time (default a tenth of the scenario, at least 1 s) with the time and the checks
    judged on the time that ran so far, as the end judges a stopped run.  Judging only reads
    the monitor, so the run itself is the same with or without it.

    Raises:
        NotRunnableError: a step cannot act on this bus (see :func:`check_runnable`); no bench is built.
        ConfigError, BusError, DutError: the bench cannot be built or its bus opened.
    """
    options = options or RunOptions()
    check_runnable([scenario], options)
    start_wall = wall_time_s()
    with Bench(bench_config(scenario, options)) as bench:
        fired = schedule_steps(bench, scenario)
        lost = None
        outages: list[str] = []
        chunking: dict[str, Any] = {"progress": progress}
        if live is not None:
            chunking = _live_chunking(bench, scenario, live, live_every_s, progress)
        while True:
            try:
                whole = bench.run_for(scenario.duration_s - bench.now, stop=stop, **chunking)
                break
            except BusError as exc:
                lost_at_s = bench.now
                if options.reconnect and bench.reconnect(scenario.duration_s, stop=stop):
                    outages.append(f"the bus was lost at {lost_at_s:.1f} s ({exc}) and open again at "
                                   f"{bench.clock.stamp():.1f} s: the checks saw no frames in between")
                    continue
                whole, lost = False, f"{LOST_BUS}: {exc}"
                break
        ran_s = scenario.duration_s if whole else bench.now
        grid = TraceGrid(bench.monitor, ran_s)
        results = [_judge(check, bench, grid) for check in scenario.checks]
        if not whole:
            results = [_partial(result, ran_s) for result in results]
        check_roles = {r.check.name: _check_roles(r.check, grid.known) for r in results}
        roles = list(REPORT_ROLES) + [role for names in check_roles.values() for role in names]
        traces = Traces.from_grid(grid, roles) if options.keep_traces else None
        violations = [
            Violation(r.check.name, r.violation_s, _values_at(grid, check_roles[r.check.name], r.violation_s),
                      frames_around(bench, [*check_roles[r.check.name], *_RESPONSE_ROLES], r.violation_s))
            for r in results if r.failed and r.violation_s is not None
        ]
        economics = economics_of(bench)
        engine = bench.dut.unit.engine if bench.dut is not None else None
        model = f"{engine.spec.path.name} sha256 {engine.spec.sha256}" if engine is not None else None
        frames = bench.monitor.frames
        epoch_s = bench.epoch_s
        silent = [f"the {node} is not emulated (expected from outside) and sent nothing in {ran_s:.1f} s: "
                  f"none of {', '.join(names)}" for node, names in bench.silent_outside_nodes().items()]
    # After the close: a bus that could not be shut down cleanly is among the bench's warnings.
    warnings = [*outages, *silent, *bench.warnings]
    # The recording is complete (flushed and closed) only now; its candump primary has the payloads.
    record = options.record
    if record is not None and primary_log_path(record).is_file():
        for violation in violations:
            if violation.frames:
                violation.frames = with_recorded_data(violation.frames, primary_log_path(record), epoch_s)
    return ScenarioResult(scenario, results, economics, frames, ran_s,
                          bench if keep_bench else None, traces=traces, steps=fired, violations=violations,
                          options=options, wall_s=wall_time_s() - start_wall, epoch_s=epoch_s, record=record,
                          warnings=warnings, model=model,
                          interrupted=lost or (None if whole else (stop.reason if stop else "stopped")))


#: ``Bench.run_for``'s default chunk: how often ``progress`` reports (s of bench time).
RUN_CHUNK_S = 60.0


def _live_chunking(bench: Bench, scenario: Scenario, live: Callable[[float, list[CheckResult]], None],
                   every_s: float | None, progress: Callable[[float, float, float], None] | None) -> dict[str, Any]:
    """``run_for``'s arguments that judge the checks so far every ``every_s`` and hand them to ``live``.

    The clock runs every task due up to each chunk's end whatever the chunking, so smaller
    chunks change only how often the reports come.  Chunks stay at most ``run_for``'s default
    minute, so ``progress`` comes at least as often as without ``live``; the checks are judged
    (over the whole run so far, which costs more as it grows) only every ``every_s``, and at the end.
    """
    every_s = every_s if every_s is not None else max(1.0, scenario.duration_s / 10.0)
    if not every_s > 0:
        raise ValueError(f"live_every_s must be > 0 s, got {every_s}")
    due_s = [every_s]

    def judge_so_far(done_s: float, total_s: float, wall_s: float) -> None:
        if progress is not None:
            progress(done_s, total_s, wall_s)
        now_s = bench.now
        if now_s + 1e-9 < min(due_s[0], scenario.duration_s):
            return
        while due_s[0] <= now_s + 1e-9:
            due_s[0] += every_s
        grid = TraceGrid(bench.monitor, now_s)
        results = [_judge(check, bench, grid) for check in scenario.checks]
        if now_s < scenario.duration_s:
            results = [_partial(result, now_s) for result in results]
        live(now_s, results)

    return {"progress": judge_so_far, "chunk_s": min(every_s, RUN_CHUNK_S)}


def _partial(result: CheckResult, ran_s: float) -> CheckResult:
    """A check of a run stopped at ``ran_s`` that the time that ran cannot decide (its window starts
    after the stop, or was still open at it: a first violation after the stop) says so beside its
    verdict, and loses the violation, which did not happen in the time that ran."""
    check = result.check
    if check.from_s > ran_s + 1e-9:
        why = f"its window starts at {check.from_s:g} s, after the stop at {ran_s:.1f} s"
    elif result.violation_s is not None and result.violation_s > ran_s + 1e-9:
        why = f"its window was still open when the run stopped at {ran_s:.1f} s"
    else:
        return result
    return replace(result, violation_s=None, detail=f"undecided: {why} ({result.detail})")


def frames_around(bench: Bench, roles: Iterable[str], t_s: float,
                  half_window_s: float = VIOLATION_WINDOW_S) -> list[DecodedFrame]:
    """Decoded frames of the messages carrying ``roles``, within ``t_s`` +/- ``half_window_s``."""
    monitor = bench.monitor
    bindings = monitor.codec.signal_map.roles
    messages = []
    for role in roles:
        binding = bindings.get(role)
        if binding is not None and binding.message not in messages:
            messages.append(binding.message)
    lo, hi = t_s - half_window_s - 1e-9, t_s + half_window_s + 1e-9
    out: list[DecodedFrame] = []
    for message in messages:
        members = [r for r, b in bindings.items() if b.message == message]
        columns = {}
        times = None
        for role in members:
            t, v = monitor.trace(role)
            a, b = np.searchsorted(t, lo, side="left"), np.searchsorted(t, hi, side="right")
            times = t[a:b] if times is None else times
            columns[role] = (v[a:b], monitor.states_of(role))
        if times is None:
            continue
        frame_id = monitor.codec.message(message).frame_id
        for i, t in enumerate(times):
            values: dict[str, float | str] = {}
            for role, (v, states) in columns.items():
                if i >= len(v):
                    continue
                x = float(v[i])
                values[role] = states[int(x)] if states and 0 <= int(x) < len(states) else x
            out.append(DecodedFrame(float(t), message, frame_id, values))
    out.sort(key=lambda f: (f.t_s, f.frame_id))
    if len(out) > MAX_FRAMES_PER_VIOLATION:   # keep the frames nearest the violation
        out.sort(key=lambda f: abs(f.t_s - t_s))
        out = sorted(out[:MAX_FRAMES_PER_VIOLATION], key=lambda f: (f.t_s, f.frame_id))
    return out


def with_recorded_data(frames: list[DecodedFrame], path: Path, epoch_s: float) -> list[DecodedFrame]:
    """``frames`` with their payloads (hex) read back from the run's recording (python-can's reader).

    The recording is in time order, so reading stops at the first frame past the window.
    """
    if not frames:
        return frames
    wanted = {(round(f.t_s, 6), f.frame_id) for f in frames}
    t0, t1 = frames[0].t_s - 1e-3, frames[-1].t_s + 1e-3
    found: dict[tuple[float, int], str] = {}
    try:
        for msg in read_recording(path):
            t = msg.timestamp - epoch_s
            if t < t0:
                continue
            if t > t1:
                break
            key = (round(t, 6), msg.arbitration_id)
            if key in wanted:
                found[key] = bytes(msg.data).hex().upper()
    except BusError as exc:   # the frames are reported without payloads rather than not at all
        log.warning("cannot read payloads back from the recording: %s", exc)
    return [replace(f, data=found.get((round(f.t_s, 6), f.frame_id), "")) for f in frames]


def economics_of(bench: Bench) -> Economics:
    """Tokens and energy of ``bench``'s run so far.

    The emulated unit's own token count and its pack/grid split; a real unit's tokens as it last
    reported them on the bus (0 before any report), with no split.
    """
    dut = bench.dut
    # tokens_total is a numeric signal: the monitor holds a number for it (or nothing yet).
    tokens = (int(dut.unit.tokens_total) if dut is not None
              else int(cast("float", bench.monitor.latest.get("tokens_total", 0) or 0)))
    compute_kwh = bench.compute_energy_j / 3.6e6
    from_pack = dut.energy_from_pack_j / 3.6e6 if dut is not None else 0.0
    from_grid = dut.energy_from_grid_j / 3.6e6 if dut is not None else 0.0
    pack_kwh = bench.pack.chemistry.energy_wh * bench.pack.series * bench.pack.parallel / 1000.0
    efc = from_pack / bench.dcdc_efficiency / pack_kwh if pack_kwh else 0.0
    lost_pct = efc * (1.0 - END_OF_LIFE_CAPACITY_FRACTION) / bench.pack.chemistry.cycle_life * 100.0
    return Economics(tokens, compute_kwh, from_pack, from_grid, tokens / compute_kwh if compute_kwh else 0.0, efc,
                     lost_pct, lost_pct / tokens * 1e6 if tokens else 0.0)


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if np.isnan(value) else f"{value:.4g}"
    return str(value)
