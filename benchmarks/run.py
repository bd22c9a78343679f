"""Run hilbench benchmarks: ``python benchmarks/run.py [--quick] [NAME ...]``.

Prints a table per benchmark and, as the very last line, one JSON object
with every figure measured (flat keys), for CI and people to track.  Targets
are reported as PASS/MISS in the tables; the exit status is 0 unless a
benchmark could not run at all (then 1, and its error is in the JSON as
``"<name>_error": 1`` plus a line on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _report import format_table  # noqa: E402 -- importable only after HERE is on sys.path above

# name -> module in benchmarks/; imported only when run (onnxruntime is heavy).
BENCHMARKS = {
    "simspeed": "simspeed",
    "inference": "inference",
    "faults": "faults",
    "plant": "plant",
    "realtime": "realtime",
    "tui": "tui_speed",   # not "tui": that module name is the package's
    "sweep": "sweep",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true",
                        help="shorter runs (a smoke test; figures are noisier)")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")

    figures: dict[str, float] = {}
    status = 0
    for name in names:
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(BENCHMARKS[name])
            report = module.run(quick=args.quick)
        except Exception:  # noqa: BLE001 -- one broken benchmark must not hide the others
            traceback.print_exc()
            print(f"error: benchmark {name} failed (traceback above)", file=sys.stderr)
            figures[f"{name}_error"] = 1
            status = 1
            continue
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        report.note(f"benchmark took {time.perf_counter() - t0:.1f} s wall on {os.cpu_count()} CPUs; "
                    f"1-min load average at the end {load:.2f} (other work on the machine skews timings)")
        print(format_table(report), flush=True)
        print(flush=True)
        clash = set(report.figures) & set(figures)
        if clash:
            raise RuntimeError(f"benchmark {name} reuses figure names {sorted(clash)}")
        figures.update(report.figures)

    clean = {k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else
                 None if isinstance(v, float) else v) for k, v in figures.items()}
    print(json.dumps(clean, sort_keys=False), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
