"""A worker process killed in the middle of a sweep loses no row and writes none twice: the runs it had
not finished go to a new pool (``hilbench.campaigns.execute.run_all``)."""

from __future__ import annotations

from pathlib import Path

from ._killing import lost_sweep, processes, rows, sweep_killing_a_worker

RUNS = 6


def test_a_worker_killed_mid_sweep_loses_no_row_and_duplicates_none(tmp_path: Path) -> None:
    sweep = lost_sweep(tmp_path, RUNS, "10min")
    out = tmp_path / "out"

    def pool_workers(sweep_pid: int) -> list[int]:
        # both workers up (one running a scenario, not still starting)
        found = processes(lambda parent, cmd: parent == sweep_pid and "spawn_main" in cmd)
        return found if len(found) == 2 else []

    run = sweep_killing_a_worker(sweep, out, ["--jobs", "2"], pool_workers, wait_s=60)
    assert run.killed is not None, "no worker was caught mid-sweep: the test proved nothing"
    assert run.rows_at_kill < RUNS                               # the sweep was not over when it was killed
    assert run.returncode in (0, 1), run.stderr
    assert "Traceback" not in run.stderr
    assert "a sweep worker was lost" in run.stderr             # the runs went to a new pool
    ids = [row["run_id"] for row in rows(out / "lost.csv")]
    assert len(ids) == RUNS and len(set(ids)) == RUNS, (ids, run.stdout)
