"""sweep: runs per second of a sweep with one worker and with every core, and the parallel efficiency.

The same sweep twice in one process (``hilbench.campaigns.execute.run_all``, as ``hilbench sweep``
runs it): once with ``jobs=1`` (in this process, no pool: the baseline) and once with a process pool
of ``os.cpu_count()`` workers (their start-up included, as a user pays it).  The sweep is
``SWEEP_RUNS`` runs of the owner-consent scenario stretched to ``RUN_DURATION_S`` of simulated time
(long enough that a run, not a worker's start, is what is timed).  ``parallel_efficiency`` is the
speed-up over the core count; the issue's target is >= 0.8.  The rows of both are compared too:
where runs execute must change nothing but the wall time.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from _report import Report

NAME = "sweep"
DESCRIPTION = "sweep runs/s with one worker and with every core; parallel efficiency"

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "fixtures" / "scenarios" / "vehicle" / "owner_stops_compute_solid_state_25c.toml"
SWEEP_RUNS = 8
QUICK_SWEEP_RUNS = 4
RUN_DURATION_S = 1800.0
QUICK_RUN_DURATION_S = 600.0


def _sweep_file(folder: Path, runs: int, duration_s: float) -> Path:
    socs = ", ".join(f"{40.0 + 5.0 * k:.1f}" for k in range(runs))
    path = folder / "bench.toml"
    path.write_text(f'[sweep]\nname = "bench"\nscenario = "{BASE.as_posix()}"\nduration = "{duration_s:g}s"\n\n'
                    f"[axes]\nsoc_pct = [{socs}]\n", encoding="utf-8")
    return path


def _timed(plan, jobs: int) -> tuple[float, list[dict]]:
    from hilbench.campaigns.execute import run_all

    runs = plan.runs()
    started = time.perf_counter()
    rows = list(run_all(plan, runs, jobs))
    return time.perf_counter() - started, rows


def run(quick: bool = False) -> Report:
    from hilbench.campaigns import load_sweep
    from hilbench.campaigns.rows import NOT_REPEATABLE

    runs = QUICK_SWEEP_RUNS if quick else SWEEP_RUNS
    duration_s = QUICK_RUN_DURATION_S if quick else RUN_DURATION_S
    cores = os.cpu_count() or 1
    report = Report(NAME)
    with tempfile.TemporaryDirectory() as folder:
        plan = load_sweep(_sweep_file(Path(folder), runs, duration_s))
        serial_s, serial_rows = _timed(plan, 1)
        parallel_s, parallel_rows = _timed(plan, cores)

    def comparable(rows: list[dict]) -> list[dict]:
        return sorted(({k: v for k, v in row.items() if k not in NOT_REPEATABLE} for row in rows),
                      key=lambda row: row["run_id"])

    report.add("sweep_runs_per_s_1_worker", runs / serial_s, "runs/s, one worker (in process)", "{:.2f}")
    report.add("sweep_runs_per_s_all_cores", runs / parallel_s, f"runs/s, {cores} workers (pool start included)",
               "{:.2f}")
    report.target("parallel_efficiency", serial_s / parallel_s / cores, "speed-up / cores", 0.8)
    report.add("sweep_rows_identical", float(comparable(serial_rows) == comparable(parallel_rows)),
               "rows with 1 worker == rows with all cores (1 = yes)", "{:.0f}")
    report.note(f"{runs} runs of {BASE.name} for {duration_s:g} simulated s each; one worker {serial_s:.1f} s, "
                f"{cores} workers {parallel_s:.1f} s")
    return report
