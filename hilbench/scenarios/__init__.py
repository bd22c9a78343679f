"""Scenarios: what to do to the bench over time, and what must hold on the bus."""

from .loader import bundled_scenarios_dir, discover, load_scenario, parse_duration
from .model import Check, Scenario, Step
from .runner import RunOptions, ScenarioResult, run_scenario

__all__ = ["Check", "RunOptions", "Scenario", "ScenarioResult", "Step", "bundled_scenarios_dir", "discover",
           "load_scenario", "parse_duration", "run_scenario"]
