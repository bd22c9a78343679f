"""A worker process killed in the middle of a sweep loses no row and writes none twice: the runs it had
not finished go to a new pool (``hilbench.campaigns.execute.run_all``)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

from hilbench.clock import wall_sleep_s, wall_time_s

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "fixtures" / "scenarios" / "vehicle" / "owner_stops_compute_solid_state_25c.toml"
RUNS = 6


def _children(pid: int) -> list[tuple[int, str]]:
    """The child processes of ``pid`` and their command lines (read from /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append((int(entry.name), cmdline))
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_worker_killed_mid_sweep_loses_no_row_and_duplicates_none(tmp_path: Path) -> None:
    sweep = tmp_path / "lost.toml"
    sweep.write_text(f'[sweep]\nname = "lost"\nscenario = "{BASE.as_posix()}"\nduration = "10min"\n\n[axes]\n'
                     f'soc_pct = [50.0, 55.0, 60.0, 65.0, 70.0, 75.0]\n', encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "hilbench.cli.main", "sweep", str(sweep), "--jobs", "2",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    try:
        start = wall_time_s()
        while killed is None and wall_time_s() - start < 60 and proc.poll() is None:
            workers = [pid for pid, cmd in _children(proc.pid) if "spawn_main" in cmd]
            # a worker that has imported the bench and is running a scenario (not one still starting)
            if len(workers) == 2 and len(_rows(out / "lost.csv")) >= 1:
                os.kill(workers[0], signal.SIGKILL)
                killed = workers[0]
                rows_at_kill = len(_rows(out / "lost.csv"))
            wall_sleep_s(0.05)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert killed is not None, "no worker was caught mid-sweep: the test proved nothing"
    assert rows_at_kill < RUNS                                   # the sweep was not over when it was killed
    assert proc.returncode in (0, 1), stderr
    assert "Traceback" not in stderr
    assert "a sweep worker was lost" in stderr                 # the runs went to a new pool
    ids = [row["run_id"] for row in _rows(out / "lost.csv")]
    assert len(ids) == RUNS and len(set(ids)) == RUNS, (ids, stdout)
