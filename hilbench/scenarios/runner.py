"""Running a scenario on a bench and judging it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..bench import Bench, BenchConfig
from ..bus.open import BusConfig
from .actions import apply
from .checks import CheckResult, TraceGrid, evaluate_check
from .model import Check, Scenario


@dataclass
class RunOptions:
    """How to run (not what): seed, bus, DBC, recording, DUT defect. Shared by CLI, pytest and fuzzing."""

    seed: int = 0
    bus: BusConfig = field(default_factory=BusConfig)
    dbc: Path | None = None
    signal_map: Path | None = None
    record: Path | None = None
    dut_defect: str | None = None
    emulate: frozenset[str] | None = None
    wall_time: bool = False


@dataclass
class Economics:
    tokens: int
    compute_energy_kwh: float
    energy_from_pack_kwh: float
    energy_from_grid_kwh: float
    tokens_per_kwh: float
    pack_equivalent_full_cycles: float

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


@dataclass
class ScenarioResult:
    scenario: Scenario
    checks: list[CheckResult]
    economics: Economics
    frames: int
    duration_s: float
    step_times: list[tuple[float, str]]
    bench: Bench | None = None
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(c.passed for c in self.checks)

    @property
    def verdict(self) -> str:
        return "ERROR" if self.error else ("PASS" if self.passed else "FAIL")


def bench_config(scenario: Scenario, options: RunOptions) -> BenchConfig:
    dut = dict(scenario.dut)
    if options.dut_defect:
        dut["defect"] = options.dut_defect
    config = BenchConfig(**scenario.initial, seed=options.seed, bus=options.bus, dbc=options.dbc,
                         signal_map=options.signal_map, record=options.record, dut=dut,
                         wall_time=options.wall_time)
    if options.emulate is not None:
        config = config.with_(emulate=options.emulate)
    return config


def _health_check(check: Check, bench: Bench) -> CheckResult:
    monitor = bench.monitor
    if check.kind == "cycle_times":
        worst_pct = 0.0
        worst = ""
        for stats in monitor.stats.values():
            if stats.count < 3 or not stats.cycle_time_s:
                continue
            err = abs(stats.mean_period_s - stats.cycle_time_s) / stats.cycle_time_s * 100.0  # type: ignore[operator]
            if err >= worst_pct:
                worst_pct, worst = err, stats.name
        silent = [s.name for s in monitor.stats.values() if s.count == 0]
        passed = worst_pct <= check.tolerance_pct and not silent
        detail = f"worst {worst} {worst_pct:.3f} % off its DBC cycle time"
        if silent:
            detail += f"; never seen: {', '.join(silent)}"
        return CheckResult(check, passed, check.tolerance_pct - worst_pct, detail)
    problems = monitor.unknown_frames + monitor.decode_errors + monitor.e2e_errors
    detail = (f"{monitor.frames} frames, {monitor.unknown_frames} unknown, {monitor.decode_errors} undecodable, "
              f"{monitor.e2e_errors} E2E errors")
    return CheckResult(check, problems == 0, float(-problems), detail)


def run_scenario(scenario: Scenario, options: RunOptions | None = None, *,
                 progress: Callable[[float, float, float], None] | None = None, keep_bench: bool = False
                 ) -> ScenarioResult:
    """Build a bench for ``scenario``, play its steps, judge its checks; the bench is always closed."""
    options = options or RunOptions()
    step_times: list[tuple[float, str]] = []
    with Bench(bench_config(scenario, options)) as bench:
        for step in scenario.steps:
            def fire(step=step) -> None:
                step_times.append((bench.clock.now, step.label))
                apply(bench, step.action, step.params)
            bench.clock.call_at(step.at_s, fire)
        bench.run_for(scenario.duration_s, progress=progress)
        grid = TraceGrid(bench.monitor, scenario.duration_s)
        results = [
            _health_check(check, bench) if check.kind in ("cycle_times", "bus_integrity") else evaluate_check(check, grid)
            for check in scenario.checks
        ]
        economics = economics_of(bench)
        frames = bench.monitor.frames
    return ScenarioResult(scenario, results, economics, frames, scenario.duration_s, step_times,
                          bench if keep_bench else None)


def economics_of(bench: Bench) -> Economics:
    dut = bench.dut
    tokens = int(dut.unit.tokens_total) if dut is not None else int(bench.monitor.latest.get("tokens_total", 0) or 0)
    compute_kwh = bench.compute_energy_j / 3.6e6
    from_pack = dut.energy_from_pack_j / 3.6e6 if dut is not None else 0.0
    from_grid = dut.energy_from_grid_j / 3.6e6 if dut is not None else 0.0
    pack_kwh = bench.pack.chemistry.energy_wh * bench.pack.series * bench.pack.parallel / 1000.0
    efc = from_pack / bench.dcdc_efficiency / pack_kwh if pack_kwh else 0.0
    return Economics(tokens, compute_kwh, from_pack, from_grid, tokens / compute_kwh if compute_kwh else 0.0, efc)


