"""faults: the fault matrix's handling times per failure mode, against the declared FTTIs.

Runs ``hilbench faults matrix`` on the default bench (every fault mode of
``hilbench/data/ftti.toml`` into every safety message the compute unit reads,
10 injections per mode and message over seeds 0-9; ``--quick``: 2 over seeds
0-1) on every usable CPU, and reports per mode the share of injections that
stopped the unit and the p50/p99 fault-handling time (injection to the first
status frame outside RUNNING/DERATED, as seen on the bus), in milliseconds
(``stop`` and ``detect`` modes; a ``tolerate`` mode has only its share of
false stops).  A mode's verdict is the matrix's: PASS when every message
passes (a ``stop`` mode detected every time, no resuming on faulty data, p99
within margin x FTTI; a ``detect`` mode the same without the FTTI; a
``tolerate`` mode never stopping the unit).  Handling times are in
simulated time, so they do not depend on the machine; only the wall time does.
"""

from __future__ import annotations

import math
import os

from hilbench.scenarios.fault_matrix import load_ftti, run_matrix

from _report import Report

NAME = "faults"
DESCRIPTION = "fault matrix: p50/p99 fault-handling time per failure mode against the declared FTTIs"

INJECTIONS, SEEDS = 10, tuple(range(10))
QUICK_INJECTIONS, QUICK_SEEDS = 2, (0, 1)


def _num(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def run(quick: bool = False) -> Report:
    spec = load_ftti()
    jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    report_ = run_matrix(spec, injections=QUICK_INJECTIONS if quick else INJECTIONS,
                         seeds=QUICK_SEEDS if quick else SEEDS, jobs=jobs)
    report = Report(NAME)
    for mode in report_.modes:
        s = report_.mode_summary(mode)
        share = 100.0 * s["stopped"] / s["injections"] if s["injections"] else math.nan
        verdict = s["verdict"] + (f" ({s['cells_failed']} of {len(report_.messages)} messages fail)"
                                  if s["cells_failed"] else "")
        report.add(f"faults_{mode}_stopped_pct", share, f"{mode} ({s['expect']}): injections that stopped the unit",
                   "{:.0f}", "%", verdict)
        if s["expect"] != "tolerate":   # a tolerated mode has no handling time, only false stops
            report.add(f"faults_{mode}_p50_ms", _num(s["p50_ms"]), f"{mode}: p50 handling time", "{:.0f}", "ms")
            report.add(f"faults_{mode}_p99_ms", _num(s["p99_ms"]), f"{mode}: p99 handling time", "{:.0f}", "ms")
    failed = len(report_.failed)
    report.add("faults_injections", len(report_.outcomes), "injections", "{:,.0f}")
    report.target("faults_cells_failed", failed, "mode x message cells failing", 0, fmt="{:.0f}",
                  higher_is_better=False)
    report.add("faults_wall_s", report_.wall_s, "matrix wall time", "{:.1f}", "s", f"{report_.jobs} processes")
    for name in report_.messages:
        report.note(f"{name}: FTTI {spec.messages[name].ftti_s * 1000:.0f} ms, limit "
                    f"{spec.limit_s(name) * 1000:.0f} ms (margin {spec.margin:g})")
    for line in report_.as_json()["failures"]:
        report.note(f"FAIL {line}")
    return report
