"""A sweep run in another process with one of its workers killed mid-run: what the lost-worker tests share."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hilbench.clock import wall_sleep_s, wall_time_s

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "fixtures" / "scenarios" / "vehicle" / "owner_stops_compute_solid_state_25c.toml"


def rows(path: Path) -> list[dict[str, str]]:
    """The rows of a sweep's CSV (none before it exists)."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def lost_sweep(folder: Path, runs: int, duration: str) -> Path:
    """A sweep file named ``lost``: ``runs`` starting SOCs of the owner-consent scenario, ``duration`` each."""
    socs = ", ".join(f"{50.0 + 5.0 * k:.1f}" for k in range(runs))
    path = folder / "lost.toml"
    path.write_text(f'[sweep]\nname = "lost"\nscenario = "{BASE.as_posix()}"\nduration = "{duration}"\n\n[axes]\n'
                    f"soc_pct = [{socs}]\n", encoding="utf-8")
    return path


@dataclass
class KilledSweep:
    """How a sweep with a worker killed ended: the pid killed (None: none was caught), the rows written by
    then, and the sweep's exit code and output."""

    killed: int | None
    rows_at_kill: int
    returncode: int
    stdout: str
    stderr: str


def sweep_killing_a_worker(sweep: Path, out: Path, options: list[str], workers: Callable[[int], list[int]],
                           *, wait_s: float) -> KilledSweep:
    """Run ``hilbench sweep`` with ``options``; once a row is written, SIGKILL the first of ``workers(pid)``
    (the sweep process's pid in) that runs a task, and let the sweep finish."""
    proc = subprocess.Popen([sys.executable, "-m", "hilbench.cli.main", "sweep", str(sweep), "--out", str(out),
                             *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed, rows_at_kill = None, 0
    try:
        start = wall_time_s()
        while killed is None and wall_time_s() - start < wait_s and proc.poll() is None:
            pids = workers(proc.pid)
            if pids and len(rows(out / f"{sweep.stem}.csv")) >= 1:
                os.kill(pids[0], signal.SIGKILL)
                killed, rows_at_kill = pids[0], len(rows(out / f"{sweep.stem}.csv"))
            wall_sleep_s(0.05)
        stdout, stderr = proc.communicate(timeout=2 * wait_s)
    finally:
        if proc.poll() is None:
            proc.kill()
    return KilledSweep(killed, rows_at_kill, proc.returncode, stdout, stderr)


def processes(match: Callable[[int, str], bool]) -> list[int]:
    """The pids whose (parent pid, command line) ``match`` says yes to (read from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if match(int(stat.rsplit(")", 1)[1].split()[1]), cmdline):
            pids.append(int(entry.name))
    return pids
