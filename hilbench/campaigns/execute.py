"""Running a sweep's runs: through the scenario runner, on a process pool, one row per run.

Each run is a scenario on its own simulated bus and clock, decided by its parameters and seed
alone, so where and in what order runs execute changes nothing but the wall time: rows from
``jobs=1`` (in this process) and ``jobs=N`` (a ``ProcessPoolExecutor`` with the ``spawn``
context, so a worker starts from a clean interpreter on every platform) are the same.  Rows
come back in the order runs finish; a worker ships back the row, never the result's traces
(an 8 h night's traces are large).

A run the bench refuses to build (a combination no bench can mean) is an ERROR row with the
reason, not the end of the sweep.  A worker process lost mid-run breaks the pool; the runs not
finished go to a new one (:func:`run_all`).  A bug (any other exception) ends the sweep: the
rows finished so far are already on disk, and a rerun resumes.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..errors import HilbenchError
from ..scenarios import RunOptions, run_scenario
from .rows import error_row, row_of
from .sweep_file import Run, Sweep

log = logging.getLogger(__name__)


def run_one(sweep: Sweep, run: Run) -> dict[str, Any]:
    """Run one combination and seed through the scenario runner; its row."""
    try:
        result = run_scenario(run.scenario, RunOptions(seed=run.seed, keep_traces=True))
    except HilbenchError as exc:
        return error_row(sweep, run, f"{type(exc).__name__}: {exc}")
    return row_of(sweep, run, result)


#: How many times a sweep starts a new pool after losing a worker (a process killed, out of memory)
#: before it gives up; each time, only the runs that had not finished are run again.
MAX_POOL_RESTARTS = 3


class WorkersLost(HilbenchError, RuntimeError):
    """Worker processes kept dying: the runs finished so far are kept, the rest did not run."""


def run_all(sweep: Sweep, runs: Sequence[Run], jobs: int) -> Iterator[dict[str, Any]]:
    """The rows of ``runs``, each as soon as its run finishes; ``jobs`` > 1 runs them in worker processes.

    A worker lost mid-sweep (killed, out of memory) breaks the whole pool: the runs it had not
    finished -- the lost one and those queued -- go to a new pool, so every run yields exactly one
    row, and none twice (``MAX_POOL_RESTARTS`` at most).  Leaving early (Ctrl-C, or the caller
    stops iterating) cancels the runs not yet started; the executor waits for the ones running.

    Raises:
        WorkersLost: the pool broke more than ``MAX_POOL_RESTARTS`` times.
    """
    if jobs <= 1 or len(runs) <= 1:
        for run in runs:
            yield run_one(sweep, run)
        return
    context = multiprocessing.get_context("spawn")
    pending = list(runs)
    for restart in range(MAX_POOL_RESTARTS + 1):
        pool = ProcessPoolExecutor(max_workers=min(jobs, len(pending)), mp_context=context)
        finished: set[str] = set()
        broken = False
        try:
            futures = {pool.submit(run_one, sweep, run): run for run in pending}
            for future in as_completed(futures):
                try:
                    row = future.result()   # a worker's exception (a bug) is raised here
                except BrokenProcessPool:
                    broken = True           # this run and every one not finished: next pool
                    continue
                finished.add(futures[future].run_id)
                yield row
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        pending = [run for run in pending if run.run_id not in finished]
        if not broken or not pending:
            return
        log.warning("a sweep worker was lost; %d run(s) not finished go to a new pool (restart %d of %d)",
                    len(pending), restart + 1, MAX_POOL_RESTARTS)
    raise WorkersLost(f"sweep {sweep.name}: worker processes were lost {MAX_POOL_RESTARTS + 1} times; "
                      f"{len(pending)} run(s) did not run (the finished rows are kept: run it again to resume)")


__all__ = ["MAX_POOL_RESTARTS", "WorkersLost", "run_all", "run_one"]
