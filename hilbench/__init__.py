"""hilbench: a hardware-in-the-loop bench for the compute unit of a parked, charging EV.

The names below are the public surface, for tests and scripts written in Python::

    import hilbench

    scenario = hilbench.load_scenario("fixtures/scenarios/thermal/throttle_hot_coolant_nmc_45c.toml")
    result = hilbench.run_scenario(scenario, hilbench.RunOptions(seed=3))
    print(result.passed)

They are imported on first use, so ``import hilbench`` stays quick (the CLI and the
pytest plugin import only what they run) and pulls in neither onnxruntime nor cantools.
Everything else is reachable by module (``hilbench.bus``, ``hilbench.plant``, ...), but
only these names are promised to stay.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("hilbench")
except PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"

#: public name -> the module that defines it
_PUBLIC = {
    "Bench": "hilbench.bench",
    "BenchConfig": "hilbench.bench",
    "BenchSnapshot": "hilbench.bench",
    "Scenario": "hilbench.scenarios",
    "load_scenario": "hilbench.scenarios",
    "discover": "hilbench.scenarios",
    "run_scenario": "hilbench.scenarios",
    "RunOptions": "hilbench.scenarios",
    "ScenarioResult": "hilbench.scenarios",
    "CheckResult": "hilbench.scenarios.checks",
    "HilbenchError": "hilbench.errors",
    "ConfigError": "hilbench.errors",
}

# A literal list (not built from _PUBLIC) so linters and type checkers see these names as exported;
# tests/test_public_api.py checks it names exactly _PUBLIC's keys and __version__.
__all__ = [
    "Bench",
    "BenchConfig",
    "BenchSnapshot",
    "CheckResult",
    "ConfigError",
    "HilbenchError",
    "RunOptions",
    "Scenario",
    "ScenarioResult",
    "__version__",
    "discover",
    "load_scenario",
    "run_scenario",
]

if TYPE_CHECKING:
    from hilbench.bench import Bench, BenchConfig, BenchSnapshot
    from hilbench.errors import ConfigError, HilbenchError
    from hilbench.scenarios import RunOptions, Scenario, ScenarioResult, discover, load_scenario, run_scenario
    from hilbench.scenarios.checks import CheckResult


def __getattr__(name: str) -> Any:
    """Import a public name's module the first time the name is used (PEP 562)."""
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'hilbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """List the public names, including those not imported yet, for ``dir()`` and completion."""
    return sorted(__all__)
