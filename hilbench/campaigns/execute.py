"""Running a sweep's runs: through the scenario runner, on a process pool, one row per run.

Each run is a scenario on its own simulated bus and clock, decided by its parameters and seed
alone, so where and in what order runs execute changes nothing but the wall time: rows from
``jobs=1`` (in this process) and ``jobs=N`` (a ``ProcessPoolExecutor`` with the ``spawn``
context, so a worker starts from a clean interpreter on every platform) are the same.  Rows
come back in the order runs finish; a worker ships back the row, never the result's traces
(an 8 h night's traces are large).

A run the bench refuses to build (a combination no bench can mean) is an ERROR row with the
reason, not the end of the sweep.  A bug (any other exception) ends it: the rows finished so
far are already on disk, and a rerun resumes.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from ..errors import HilbenchError
from ..scenarios import RunOptions, run_scenario
from .rows import error_row, row_of
from .sweep_file import Run, Sweep


def run_one(sweep: Sweep, run: Run) -> dict[str, Any]:
    """Run one combination and seed through the scenario runner; its row."""
    try:
        result = run_scenario(run.scenario, RunOptions(seed=run.seed, keep_traces=True))
    except HilbenchError as exc:
        return error_row(sweep, run, f"{type(exc).__name__}: {exc}")
    return row_of(sweep, run, result)


def run_all(sweep: Sweep, runs: Sequence[Run], jobs: int) -> Iterator[dict[str, Any]]:
    """The rows of ``runs``, each as soon as its run finishes; ``jobs`` > 1 runs them in worker processes.

    Leaving early (Ctrl-C, or the caller stops iterating) cancels the runs not yet started; the
    executor waits for the ones running.
    """
    if jobs <= 1 or len(runs) <= 1:
        for run in runs:
            yield run_one(sweep, run)
        return
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(runs)), mp_context=context)
    try:
        futures = [pool.submit(run_one, sweep, run) for run in runs]
        for future in as_completed(futures):
            yield future.result()   # a worker's exception (a bug) is raised here
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["run_all", "run_one"]
