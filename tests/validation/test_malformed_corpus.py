"""A seeded corpus of >= 300 malformed inputs of every file kind, run through ``hilbench run``.

Each must end as one clean refusal: exit code 2, an ``error:`` naming the broken file and entry,
no traceback, no hang past the time bound, and never a run (exit 0 or 1) as if the input were good.
The default run builds two rounds of the corpus (each round draws other bases and other cuts) and
runs it in this process through ``main()``; ``HILBENCH_SLOW=1`` runs ten rounds.  A few cases of each
kind also go through a real ``python -m hilbench.cli.main`` subprocess, where a traceback would
really reach the terminal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .corpus import KINDS, Case, corpus, counts, run_case, unique

ROUNDS = 10 if os.environ.get("HILBENCH_SLOW") else 2
#: A malformed input is refused at load; this is far beyond the slowest refusal (a DBC overlay, ~0.2 s).
TIME_BOUND_S = 30.0
CASES = unique(corpus(seed=0, rounds=ROUNDS))
ROOT = Path(__file__).resolve().parents[2]


def test_the_corpus_has_at_least_300_inputs_of_every_kind() -> None:
    per_kind = {kind: sum(c.kind == kind for c in CASES) for kind in KINDS}
    assert len(CASES) >= 300, per_kind
    assert all(n >= 15 for n in per_kind.values()), per_kind


@pytest.mark.parametrize("kind", KINDS)
def test_every_malformed_input_is_one_clean_refusal(kind: str, tmp_path: Path) -> None:
    cases = [case for case in CASES if case.kind == kind]
    outcomes = [(case, run_case(case, tmp_path / f"{index:04d}", timeout_s=TIME_BOUND_S))
                for index, case in enumerate(cases)]
    bad = [f"{case.name}: {outcome.label} (exit {outcome.code}) "
           f"{outcome.problems or repr(outcome.escaped) if outcome.escaped else outcome.problems} "
           f"{outcome.err.strip()[-300:]}"
           for case, outcome in outcomes if outcome.label != "clean"]
    row = counts(outcomes)[kind]
    print(f"{kind}: {row}")   # the figures for the README (pytest -s)
    assert not bad, f"{len(bad)} of {len(cases)} {kind} inputs not refused cleanly:\n" + "\n".join(bad)
    assert row["clean"] == row["cases"] == len(cases)


def _subprocess_sample() -> list[Case]:
    """The first case of each kind whose file is broken as text, and the first broken by value."""
    picked: list[Case] = []
    for kind in KINDS:
        mine = [c for c in CASES if c.kind == kind]
        picked += [c for c in mine if c.name.startswith("text: binary")][:1]
        picked += [c for c in mine if not c.name.startswith("text:")][:1]
    return picked


@pytest.mark.parametrize("case", _subprocess_sample(), ids=lambda c: f"{c.kind}-{c.name}")
def test_a_real_process_prints_one_error_and_exits_2(case: Case, tmp_path: Path) -> None:
    case.write(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "hilbench.cli.main", *case.argv(tmp_path)], capture_output=True,
                          check=False, text=True, timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and case.broken in done.stderr
    assert case.entry in done.stderr


def test_debug_keeps_the_traceback(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.kind == "scenario" and "cold_soak" in c.name)
    case.write(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "hilbench.cli.main", "--debug", *case.argv(tmp_path)],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path, check=False)
    assert done.returncode != 0 and "Traceback" in done.stderr and "ConfigError" in done.stderr
