"""Sweeps as Ray tasks on a local Ray instance: a worker killed mid-sweep loses no row and writes none
twice (Ray runs its task again), and the rows are those of the same sweep run without Ray.  One Ray
start for both (it costs seconds).  Skipped without the extra."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hilbench.clock import wall_sleep_s, wall_time_s

pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'hilbench[ray]' to run these")

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "fixtures" / "scenarios" / "vehicle" / "owner_stops_compute_solid_state_25c.toml"


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _ray_task_pids() -> list[int]:
    """Ray workers while they run a sweep's task (Ray names the process ``ray::run_one``)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"ray::run_one"):
                pids.append(int(entry.name))
    return pids


def test_a_ray_worker_killed_mid_sweep_loses_no_row_duplicates_none_and_the_rows_are_the_pools(
        tmp_path: Path) -> None:
    sweep = tmp_path / "lost.toml"
    sweep.write_text(f'[sweep]\nname = "lost"\nscenario = "{BASE.as_posix()}"\nduration = "5min"\n\n[axes]\n'
                     f'soc_pct = [50.0, 55.0, 60.0, 65.0]\n', encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "hilbench.cli.main", "sweep", str(sweep), "--ray", "local",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    try:
        start = wall_time_s()
        while killed is None and wall_time_s() - start < 120 and proc.poll() is None:
            pids = _ray_task_pids()
            if pids and len(_rows(out / "lost.csv")) >= 1:
                os.kill(pids[0], signal.SIGKILL)
                killed, rows_at_kill = pids[0], len(_rows(out / "lost.csv"))
            wall_sleep_s(0.05)
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed is not None, "no Ray worker was caught running a task: the test proved nothing"
    assert rows_at_kill < 4
    assert proc.returncode in (0, 1), stderr[-2000:]
    ids = [row["run_id"] for row in _rows(out / "lost.csv")]
    assert len(ids) == 4 and len(set(ids)) == 4, (ids, stdout)
    assert "on Ray (local)" in stdout
    # and the rows are those of the same sweep run here, the pool's way (where runs execute, and a
    # task run again after its worker died, changes nothing but the wall time)
    here = subprocess.run([sys.executable, "-m", "hilbench.cli.main", "sweep", str(sweep), "--jobs", "1",
                           "--out", str(tmp_path / "here")], capture_output=True, text=True, timeout=300)
    assert here.returncode == proc.returncode, here.stderr

    def comparable(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        return sorted(({k: v for k, v in row.items() if k != "wall_s"} for row in rows), key=lambda r: r["run_id"])

    assert comparable(_rows(out / "lost.csv")) == comparable(_rows(tmp_path / "here" / "lost.csv"))
