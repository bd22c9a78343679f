"""Sweeps as Ray tasks on a local Ray instance: a worker killed mid-sweep loses no row and writes none
twice (Ray runs its task again), and the rows are those of the same sweep run without Ray.  One Ray
start for both (it costs seconds).  Skipped without the extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ._killing import lost_sweep, processes, rows, sweep_killing_a_worker

pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'hilbench[ray]' to run these")


def test_a_ray_worker_killed_mid_sweep_loses_no_row_duplicates_none_and_the_rows_are_the_pools(
        tmp_path: Path) -> None:
    sweep = lost_sweep(tmp_path, 4, "5min")
    out = tmp_path / "out"

    def ray_tasks(_sweep_pid: int) -> list[int]:
        # Ray workers while they run a sweep's task (Ray names the process ``ray::run_one``)
        return processes(lambda _parent, cmd: cmd.startswith("ray::run_one"))

    run = sweep_killing_a_worker(sweep, out, ["--ray", "local"], ray_tasks, wait_s=120)
    assert run.killed is not None, "no Ray worker was caught running a task: the test proved nothing"
    assert run.rows_at_kill < 4
    assert run.returncode in (0, 1), run.stderr[-2000:]
    ids = [row["run_id"] for row in rows(out / "lost.csv")]
    assert len(ids) == 4 and len(set(ids)) == 4, (ids, run.stdout)
    assert "on Ray (local)" in run.stdout
    # and the rows are those of the same sweep run here, the pool's way (where runs execute, and a
    # task run again after its worker died, changes nothing but the wall time)
    here = subprocess.run([sys.executable, "-m", "hilbench.cli.main", "sweep", str(sweep), "--jobs", "1",
                           "--out", str(tmp_path / "here")], capture_output=True, text=True, timeout=300)
    assert here.returncode == run.returncode, here.stderr

    def comparable(table: list[dict[str, str]]) -> list[dict[str, str]]:
        return sorted(({k: v for k, v in row.items() if k != "wall_s"} for row in table), key=lambda r: r["run_id"])

    assert comparable(rows(out / "lost.csv")) == comparable(rows(tmp_path / "here" / "lost.csv"))
