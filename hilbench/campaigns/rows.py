"""One row per run: what a sweep's table holds, and the type of each column.

A row is a plain dict, the same whether the run ran here or in a worker process, and the
same bit for bit for the same run (only ``wall_s`` is the machine's).  Its columns, in order:

- ``run_id``, ``sweep``: the run's identity (see :func:`.sweep_file.run_id`) and the sweep's name;
- every axis, then ``chemistry``, ``ambient_c`` and ``soc_pct`` as the run had them when they
  are not axes (the envelope is drawn over them);
- ``seed``, ``duration_s``, ``verdict`` (PASS, FAIL, ERROR), ``error`` (why a run could not run);
- per check of the base scenario ``check.<name>.verdict`` and ``check.<name>.robustness`` (the
  margin by which it held, negative when violated, in the check's unit; empty where none applies);
- ``tokens``, ``energy_from_grid_kwh``, ``energy_from_pack_kwh``, ``compute_energy_kwh``,
  ``tokens_per_kwh``;
- ``min_soc_margin_pct``: the least ``soc_pct - range_reserve_soc_pct`` over the run, as the bus
  said them (negative: the pack went below the driver's reserve);
- ``peak_junction_temp_c``, ``peak_max_cell_temp_c``: the highest on the bus over the run;
- ``pack_equivalent_full_cycles``, ``pack_capacity_lost_pct``: the compute unit's wear of the
  pack (see :class:`hilbench.scenarios.runner.Economics`);
- ``wall_s``: what the run took on this machine (the one column that is not repeatable).
"""

from __future__ import annotations

import math
from typing import Any

from ..scenarios import ScenarioResult
from ..scenarios.loader import INITIAL_KEYS
from .sweep_file import Run, Sweep

#: The keys the envelope is drawn over: a column even when the sweep does not vary them.
ENVELOPE_KEYS = ("chemistry", "ambient_c", "soc_pct")
#: BenchConfig's defaults for the envelope keys, for a base scenario that does not set them.
_DEFAULTS = {"chemistry": "nmc", "ambient_c": 20.0, "soc_pct": 80.0}

_HEAD: dict[str, type] = {"run_id": str, "sweep": str}
_RUN: dict[str, type] = {"seed": int, "duration_s": float, "verdict": str, "error": str}
_TAIL: dict[str, type] = {
    "tokens": int, "energy_from_grid_kwh": float, "energy_from_pack_kwh": float, "compute_energy_kwh": float,
    "tokens_per_kwh": float, "min_soc_margin_pct": float, "peak_junction_temp_c": float,
    "peak_max_cell_temp_c": float, "pack_equivalent_full_cycles": float, "pack_capacity_lost_pct": float,
    "wall_s": float,
}
#: Columns that differ between two runs of the same parameters (left out when comparing runs).
NOT_REPEATABLE = ("wall_s",)


def check_columns(sweep: Sweep) -> list[str]:
    """The column stem of each check (``check.<name>``), a repeated name numbered so none is lost."""
    stems: list[str] = []
    for check in sweep.scenario.checks:
        stem, n = f"check.{check.name}", 2
        while stem in stems:
            stem, n = f"check.{check.name} ({n})", n + 1
        stems.append(stem)
    return stems


def columns(sweep: Sweep) -> dict[str, type]:
    """Every column of the sweep's rows with its type, in order (see the module docstring)."""
    params = {axis.name: INITIAL_KEYS[axis.name] for axis in sweep.axes}
    for key in ENVELOPE_KEYS:
        params.setdefault(key, INITIAL_KEYS[key])
    checks: dict[str, type] = {}
    for stem in check_columns(sweep):
        checks[f"{stem}.verdict"] = str
        checks[f"{stem}.robustness"] = float
    return {**_HEAD, **params, **_RUN, **checks, **_TAIL}


def row_of(sweep: Sweep, run: Run, result: ScenarioResult) -> dict[str, Any]:
    """The row of one finished run (``result`` must have its traces: ``RunOptions(keep_traces=True)``)."""
    row = _identity(sweep, run)
    row.update(verdict=result.verdict, error=result.error or result.interrupted or "")
    for stem, check in zip(check_columns(sweep), result.checks):
        row[f"{stem}.verdict"] = check.verdict
        row[f"{stem}.robustness"] = _number(check.robustness)
    economics = result.economics
    traces = result.traces
    margin = junction = cells = None
    if traces is not None:
        if "soc_pct" in traces and "range_reserve_soc_pct" in traces:
            margin = _nanmin(traces.values["soc_pct"] - traces.values["range_reserve_soc_pct"])
        if "junction_temp_c" in traces:
            junction = _nanmax(traces.values["junction_temp_c"])
        if "max_cell_temp_c" in traces:
            cells = _nanmax(traces.values["max_cell_temp_c"])
    row.update(
        tokens=int(economics.tokens), energy_from_grid_kwh=economics.energy_from_grid_kwh,
        energy_from_pack_kwh=economics.energy_from_pack_kwh, compute_energy_kwh=economics.compute_energy_kwh,
        tokens_per_kwh=economics.tokens_per_kwh, min_soc_margin_pct=margin, peak_junction_temp_c=junction,
        peak_max_cell_temp_c=cells, pack_equivalent_full_cycles=economics.pack_equivalent_full_cycles,
        pack_capacity_lost_pct=economics.pack_capacity_lost_pct, wall_s=result.wall_s,
    )
    return {key: row.get(key) for key in columns(sweep)}


def error_row(sweep: Sweep, run: Run, reason: str) -> dict[str, Any]:
    """The row of a run the bench refused to build (a combination no bench can mean): verdict ERROR."""
    row = _identity(sweep, run)
    row.update(verdict="ERROR", error=reason)
    return {key: row.get(key) for key in columns(sweep)}


def _identity(sweep: Sweep, run: Run) -> dict[str, Any]:
    row: dict[str, Any] = {"run_id": run.run_id, "sweep": sweep.name, **run.params}
    for key in ENVELOPE_KEYS:
        if key not in row:
            row[key] = sweep.scenario.initial.get(key, _DEFAULTS[key])
    row.update(seed=run.seed, duration_s=run.scenario.duration_s)
    return row


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _nanmin(values: Any) -> float | None:
    import numpy as np

    return None if values.size == 0 or np.all(np.isnan(values)) else float(np.nanmin(values))


def _nanmax(values: Any) -> float | None:
    import numpy as np

    return None if values.size == 0 or np.all(np.isnan(values)) else float(np.nanmax(values))


def failing_checks(row: dict[str, Any]) -> list[str]:
    """The names of the checks that kept a row's run from passing (FAIL or VACUOUS)."""
    return [key[len("check."):-len(".verdict")] for key, value in row.items()
            if key.startswith("check.") and key.endswith(".verdict") and value in ("FAIL", "VACUOUS")]


__all__ = ["ENVELOPE_KEYS", "NOT_REPEATABLE", "check_columns", "columns", "error_row", "failing_checks", "row_of"]
