"""Scenarios: what to do to the bench over time, and what must hold on the bus."""

from .checks import NOT_MAPPED, VERDICTS
from .loader import bundled_scenarios_dir, discover, load_scenario, parse_duration
from .model import Check, Scenario, Step
from .runner import (
    NotRunnableError,
    RunOptions,
    ScenarioResult,
    StepProblem,
    check_runnable,
    run_scenario,
    scenario_problems,
)

__all__ = ["NOT_MAPPED", "VERDICTS", "Check", "NotRunnableError", "RunOptions", "Scenario", "ScenarioResult",
           "Step", "StepProblem", "bundled_scenarios_dir", "check_runnable", "discover", "load_scenario",
           "parse_duration", "run_scenario", "scenario_problems"]
