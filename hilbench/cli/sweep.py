"""``hilbench sweep FILE``: run a base scenario over every combination of a sweep file's axes.

The format is in :mod:`hilbench.campaigns.sweep_file` and docs/sweeps.md.  Rows go to
``<out>/<name>.csv`` and ``.parquet`` after every finished run, and the envelope to
``<out>/<name>.html``; a second start with the same file and ``--out`` keeps the rows already
there and runs only the rest (a stopped or crashed sweep resumes).  Exit codes: 0 every run
passed, 1 a run failed a check (or could not run), 2 bad input, 130 interrupted (the finished
rows are kept).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..campaigns import Run, Sweep, load_sweep
from ..campaigns.envelope import envelope_html
from ..campaigns.rows import columns, failing_checks
from ..campaigns.table import SweepTable
from ..clock import wall_time_s
from ..errors import ConfigError
from .commands import COMMANDS
from .output_paths import write_text

#: Where the tables go when --out is not given (relative to the working directory).
DEFAULT_OUT = Path("sweeps")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``hilbench sweep`` and its options to the subcommands."""
    p = sub.add_parser("sweep", help=COMMANDS["sweep"],
                       description="Run a base scenario over every combination of a sweep file's axes (chemistry x "
                                   "climate x state ...), each on its own simulated bus; one row per run in "
                                   "<out>/<name>.csv and .parquet, and the safe operating envelope in "
                                   "<out>/<name>.html. Started again, it keeps the finished rows and runs the rest.",
                       epilog="Exit codes: 0 every run passed, 1 a run failed a check or could not run, 2 bad input, "
                              "130 interrupted (finished rows are kept; run again to resume). Format: docs/sweeps.md.")
    p.add_argument("file", type=Path, help="the sweep file (TOML)")
    p.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                   help="runs at once, each in its own process (default: one per CPU; 1: in this process)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                   help=f"folder of the CSV, Parquet and HTML files (default: {DEFAULT_OUT}/)")
    p.add_argument("--dry-run", action="store_true", help="list the runs (and which are already done) and stop")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run the runs as Ray tasks: 'local' (a Ray instance on this machine), 'auto' (the cluster "
                        "this machine is in) or a cluster address; needs pip install 'hilbench[ray]'")
    p.set_defaults(func=sweep)


def sweep(args: argparse.Namespace) -> int:
    """Load, plan, resume, run, and say how it went; see the module docstring for the exit codes."""
    plan = load_sweep(args.file)
    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    if jobs < 1:
        raise ConfigError(None, "--jobs", f"must be >= 1, got {jobs}")
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(args.out, "--out", "is a file; give a folder")
    for note in plan.notes:
        print(f"note: {note}")
    runs = plan.runs()
    table = SweepTable.open(args.out, plan.name, columns(plan), order=[run.run_id for run in runs])
    todo = [run for run in runs if run.run_id not in table]
    kept = len(runs) - len(todo)
    counts = " x ".join(f"{len(axis.values)} {axis.name}" for axis in plan.axes)
    print(f"sweep {plan.name}: {counts} x {len(plan.seeds)} seed(s) = {len(runs)} runs of "
          f"{plan.scenario.name} ({_hours(plan.duration_s)} each)")
    if args.dry_run:
        for run in runs:
            print(f"  {run.run_id}  {run.label}{'  (done)' if run.run_id in table else ''}")
        print(f"{len(runs)} runs ({plan.combinations} combinations x {len(plan.seeds)} seed(s)); {kept} already in "
              f"{table.csv_path}, {len(todo)} to run")
        return 0
    if table.csv_path.is_file():
        print(f"kept {kept} finished run(s) from {table.csv_path}; {len(todo)} to run")
    html = args.out / f"{plan.name}.html"
    if todo:
        where = f"Ray ({args.ray})" if args.ray else f"{min(jobs, len(todo))} job(s)"
        print(f"running {len(todo)} run(s) on {where}")
    sys.stdout.flush()
    by_id = {run.run_id: run for run in runs}
    start_s = wall_time_s()
    done = 0
    from ..campaigns.execute import run_all  # the bench and numpy load only for a sweep that runs

    if args.ray:
        from ..campaigns.on_ray import run_all_on_ray

        rows_as_done = run_all_on_ray(plan, todo, args.ray)
    else:
        rows_as_done = run_all(plan, todo, jobs)
    try:
        for row in rows_as_done:
            table.add(row)
            _write_html(html, plan, table, runs)
            done += 1
            print(f"[{done}/{len(todo)}] {_line(row, by_id[row['run_id']])}")
            sys.stdout.flush()
    except KeyboardInterrupt:
        print(f"interrupted: {done} run(s) finished and saved, {len(todo) - done} not; run again to resume",
              file=sys.stderr)
        return 130
    if not todo:
        table.save()   # the files match the CSV even when nothing was left to run
    _write_html(html, plan, table, runs)
    rows = [table.rows[run.run_id] for run in runs]
    not_passed = [row for row in rows if row["verdict"] != "PASS"]
    print(f"\n{len(rows)} runs: {len(rows) - len(not_passed)} passed, {len(not_passed)} did not "
          f"({kept} kept, {done} run in {wall_time_s() - start_s:.1f} s)")
    print(f"rows: {table.csv_path}, {table.parquet_path}\nenvelope: {html}")
    return 1 if not_passed else 0


def _write_html(path: Path, plan: Sweep, table: SweepTable, runs: list[Run]) -> None:
    rows = [table.rows[run.run_id] for run in runs if run.run_id in table]
    tmp = path.with_name(f".{path.name}.tmp")
    write_text(tmp, "--out", envelope_html(plan, rows))
    os.replace(tmp, path)


def _hours(seconds: float) -> str:
    """``8 h``, ``2 min`` or ``90 s``: a run's length as a reader says it."""
    if seconds >= 3600:
        return f"{seconds / 3600:.4g} h"
    return f"{seconds / 60:.4g} min" if seconds >= 60 else f"{seconds:g} s"


def _line(row: dict[str, Any], run: Run) -> str:
    """One finished run: its id, parameters, verdict, tokens and least SOC margin, and what failed."""
    margin = row.get("min_soc_margin_pct")
    text = (f"{row['run_id']}  {run.label}  {row['verdict']}  {row.get('tokens') or 0:,} tokens"
            + (f"  SOC margin {margin:.1f} %" if margin is not None else "")
            + (f"  {row['wall_s']:.1f} s" if row.get("wall_s") is not None else ""))
    failing = failing_checks(row)
    if failing:
        text += "  failed: " + "; ".join(failing)
    if row.get("error"):
        text += f"  ({row['error']})"
    return text
