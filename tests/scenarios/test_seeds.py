"""``hilbench run --seeds``: the suite across noise seeds, a table of passes per scenario, exit 1 on any failure.

A two-cell module's SOC reading is the mean of two cells' production spread,
so it moves with the seed (22.4 % on seed 0, 22.0 % on seed 4 for a nominal
22.4 %): a check that sits between the two is the seed-dependent verdict the
option exists to expose.
"""

from __future__ import annotations

import argparse
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hilbench.cli.main import main
from hilbench.cli.run import parse_seeds
from hilbench.scenarios.report import format_seeds

ON_A_THRESHOLD = """\
[scenario]
name = "on a threshold"
duration = "2 s"
markers = ["solid_state", "short"]

[initial]
chemistry = "solid_state"
series = 2
soc_pct = 22.4

[[checks]]
kind = "always"
name = "SOC reading above 22.2 %"
expr = "soc_pct >= 22.2"
unit = "%"
"""

STEADY = ON_A_THRESHOLD.replace('"on a threshold"', '"steady"').replace("22.2", "15").replace('"2 s"', '"3 s"')
LONG = STEADY.replace('"steady"', '"long one"').replace('"short"', '"long"')


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("seeds")
    (folder / "a_threshold.toml").write_text(ON_A_THRESHOLD)
    (folder / "b_steady.toml").write_text(STEADY)
    return folder


@pytest.mark.parametrize(("text", "seeds"), [
    ("0-19", tuple(range(20))), ("0,3,7", (0, 3, 7)), ("0-3,9", (0, 1, 2, 3, 9)), ("5", (5,)),
    ("2, 1-3", (2, 1, 3)), ("4-4", (4,)),
])
def test_seed_lists(text: str, seeds: tuple[int, ...]) -> None:
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(("text", "reason"), [
    ("3-1", "runs backwards"), ("a", "expected seeds such as"), ("-1", "expected seeds such as"), ("", "expected"),
    ("0-5000", "at most 1000"), ("1,,2", "expected seeds such as"),
])
def test_bad_seed_lists_are_refused(text: str, reason: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=reason):
        parse_seeds(text)


def test_seed_lists_read_back_compact() -> None:
    assert format_seeds([7, 0, 1, 2, 3, 9, 10]) == "0-3,7,9-10"
    assert parse_seeds(format_seeds([7, 0, 1, 2, 3, 9, 10])) == (0, 1, 2, 3, 7, 9, 10)


def test_a_seed_dependent_verdict_fails_the_run_and_the_table_names_the_seed(folder: Path, tmp_path: Path,
                                                                            capsys) -> None:
    junit = tmp_path / "seeds.xml"
    code = main(["run", str(folder), "--seeds", "0,4", "-j", "2", "--junit", str(junit)])
    out = capsys.readouterr().out
    assert code == 1
    assert "2 scenario(s) x 2 seed(s) = 4 runs" in out
    # Only the failing run is shown in full, with its seed.
    assert "on a threshold  seed 4  [FAIL]" in out and "seed 0  [" not in out and "steady  seed" not in out
    assert re.search(r"on a threshold\s+1/2\s+4\s+\(SOC reading above 22.2 % FAIL\)", out), out
    assert re.search(r"steady\s+2/2\n", out), out
    assert "1 of 2 scenarios passed on every seed (0,4)" in out
    assert "3 passed, 1 failed (4 runs: 2 scenario(s) x 2 seed(s))" in out
    cases = ET.parse(junit).getroot().findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == ["on a threshold [seed 0]", "steady [seed 0]",
                                               "on a threshold [seed 4]", "steady [seed 4]"]
    assert [c.find("failure") is not None for c in cases] == [False, False, True, False]
    props = {p.get("name"): p.get("value") for p in ET.parse(junit).getroot().iter("property")}
    assert props["seed"] == "0,4"


def test_every_seed_passing_exits_0_and_records_one_file_per_seed(folder: Path, tmp_path: Path, capsys) -> None:
    code = main(["run", str(folder / "b_steady.toml"), "--seeds", "1-3", "-j", "1", "--record",
                 str(tmp_path / "r.log")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"steady\s+3/3\n", out) and "1 of 1 scenarios passed on every seed (1-3)" in out
    assert sorted(p.name for p in tmp_path.glob("*.log")) == [f"r-s{n}-01-steady.log" for n in (1, 2, 3)]


def test_seed_and_seeds_do_not_go_together(folder: Path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", str(folder), "--seed", "3", "--seeds", "0-2"])
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_skip_long_leaves_the_long_scenarios_out(folder: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "long.toml").write_text(LONG)
    (tmp_path / "steady.toml").write_text(STEADY)
    assert main(["run", str(tmp_path), "--skip-long", "-j", "1"]) == 0
    out = capsys.readouterr().out
    assert "skipping long scenario(s): long one" in out and "1 passed, 0 failed" in out
    (tmp_path / "steady.toml").unlink()
    assert main(["run", str(tmp_path), "--skip-long"]) == 2
    assert "all are marked 'long'" in capsys.readouterr().err


def test_ci_runs_the_tests_and_the_short_scenarios_on_three_more_seeds() -> None:
    """``.ci/run``: the README's test command, then ``hilbench run --seeds`` over the short scenarios."""
    script = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text(encoding="utf-8")
    assert '-m pytest -p no:cacheprovider "$@"' in script
    seeds = parse_seeds(re.search(r'SEEDS="\$\{HILBENCH_CI_SEEDS:-([^}]+)\}"', script).group(1))
    assert len(set(seeds) - {0}) >= 3
    assert re.search(r'hilbench" run --seeds "\$SEEDS" --skip-long', script)
    # Both run; either failing fails CI.
    assert "|| status=$?" in script and 'exit "$status"' in script and "set -euo pipefail" in script
