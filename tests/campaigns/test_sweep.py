"""``hilbench sweep``: sweep files expanded and refused, run on a pool, written, resumed, drawn."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hilbench.campaigns import execute, load_sweep
from hilbench.campaigns.rows import NOT_REPEATABLE, columns
from hilbench.cli.main import main
from hilbench.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "fixtures" / "sweeps" / "smoke.toml"
ENVELOPE = ROOT / "fixtures" / "sweeps" / "envelope.toml"
BASE = ROOT / "fixtures" / "scenarios" / "vehicle" / "owner_stops_compute_solid_state_25c.toml"


def sweep_file(tmp_path: Path, axes: str, sweep: str = "") -> Path:
    path = tmp_path / "s.toml"
    path.write_text(f'[sweep]\nscenario = "{BASE}"\n{sweep}\n[axes]\n{axes}\n', encoding="utf-8")
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# -- expansion ---------------------------------------------------------------------------------
def test_lists_ranges_and_random_draws_expand_in_file_order(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, 'chemistry = ["lfp", "nmc"]\nambient_c = { from = -30, to = 45, step = 15 }\n'
                                'reserve_soc_pct = { random = 3, low = 15.0, high = 30.0, seed = 1 }',
                      sweep="seeds = 2")
    sweep = load_sweep(path)
    assert [a.name for a in sweep.axes] == ["chemistry", "ambient_c", "reserve_soc_pct"]
    assert sweep.axes[1].values == (-30.0, -15.0, 0.0, 15.0, 30.0, 45.0)
    draws = sweep.axes[2].values
    assert len(draws) == 3 and all(15.0 <= v <= 30.0 for v in draws) and len(set(draws)) == 3
    assert load_sweep(path).axes[2].values == draws                   # the same seed, the same draws
    runs = sweep.runs()
    assert len(runs) == 2 * 6 * 3 * 2 and sweep.seeds == (0, 1)
    assert runs[0].params == {"chemistry": "lfp", "ambient_c": -30.0, "reserve_soc_pct": draws[0]}
    assert [r.seed for r in runs[:2]] == [0, 1]
    assert runs[0].scenario.initial["ambient_c"] == -30.0 and runs[0].scenario.initial["soc_pct"] == 60.0
    assert len({r.run_id for r in runs}) == len(runs)
    assert [r.run_id for r in load_sweep(path).runs()] == [r.run_id for r in runs]   # ids are stable

    other = sweep_file(tmp_path, 'reserve_soc_pct = { random = 3, low = 15.0, high = 30.0, seed = 2 }')
    assert load_sweep(other).axes[0].values != draws                 # another seed, other draws


def test_the_duration_overrides_the_scenario_and_is_part_of_the_run_id(tmp_path: Path) -> None:
    long = load_sweep(sweep_file(tmp_path, "soc_pct = [50.0]"))
    short = load_sweep(sweep_file(tmp_path, "soc_pct = [50.0]", sweep='duration = "110 s"'))
    assert long.duration_s == 120.0 and short.duration_s == 110.0
    assert short.runs()[0].scenario.duration_s == 110.0
    assert long.runs()[0].run_id != short.runs()[0].run_id


def test_the_envelope_fixture_is_the_study_the_issue_asks_for() -> None:
    sweep = load_sweep(ENVELOPE)
    axes = {a.name: a.values for a in sweep.axes}
    assert set(axes["chemistry"]) == {"lfp", "nmc", "sodium_ion", "solid_state"}
    assert len(axes["ambient_c"]) >= 6 and min(axes["ambient_c"]) == -30.0 and max(axes["ambient_c"]) == 45.0
    assert len(axes["soc_pct"]) >= 3 and sweep.duration_s == 8 * 3600.0


# -- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("axes", "sweep", "entry", "reason"), [
    ("soc_percent = [40.0]", "", "axes.soc_percent", "unknown axis"),
    ("ambient_c = { from = 45.0, to = -30.0, step = 15.0 }", "", "axes.ambient_c", "empty range"),
    ("ambient_c = []", "", "axes.ambient_c", "no values"),
    ("ambient_c = { random = 2, low = 10.0, high = 10.0 }", "", "axes.ambient_c", "empty range"),
    ('soc_pct = ["high"]', "", "axes.soc_pct", "expected a number"),
    ("soc_pct = [40.0, 140.0]", "", "axes.soc_pct", "140% is outside 0..100%"),
    ('chemistry = ["lfp", "unobtainium"]', "", "axes.chemistry", "unknown chemistry"),
    ('gear = { from = 1, to = 2, step = 1 }', "", "axes.gear", "needs a numeric key"),
    ("soc_pct = [40.0, 40.0]", "", "axes.soc_pct", "listed twice"),
    ("soc_pct = [40.0]", 'scenario = "nowhere.toml"', "sweep.scenario", "no such scenario file"),
    ("soc_pct = [40.0]", 'duration = "1 min"', "sweep.duration", "ends before step(s)"),
])
def test_a_bad_sweep_is_refused_with_file_entry_and_reason(tmp_path: Path, axes: str, sweep: str, entry: str,
                                                           reason: str) -> None:
    path = sweep_file(tmp_path, axes)
    if sweep.startswith("scenario"):
        path.write_text(f"[sweep]\n{sweep}\n[axes]\n{axes}\n", encoding="utf-8")
    elif sweep:
        path.write_text(path.read_text(encoding="utf-8").replace("[axes]", f"{sweep}\n[axes]"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_sweep(path)
    found = [p for p in caught.value.problems if p.entry == entry]
    assert found and reason in found[0].reason, caught.value.problems
    assert found[0].file == str(path) and found[0].line is not None


def test_every_problem_of_a_file_is_reported_together(tmp_path: Path) -> None:
    path = sweep_file(tmp_path, 'soc_percent = [1.0]\nambient_c = { from = 5.0, to = 0.0, step = 1.0 }\n'
                                'plugged_in = [1]')
    with pytest.raises(ConfigError) as caught:
        load_sweep(path)
    assert {p.entry for p in caught.value.problems} == {"axes.soc_percent", "axes.ambient_c", "axes.plugged_in"}


def test_the_command_refuses_a_bad_file_with_exit_2_and_no_traceback(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = sweep_file(tmp_path, "ambient_c = { from = 45.0, to = -30.0, step = 15.0 }")
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(path) in err and "axes.ambient_c" in err and "empty range" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert main(["sweep", str(tmp_path / "missing.toml")]) == 2
    assert "no such sweep file" in capsys.readouterr().err


def test_a_dry_run_lists_the_runs_and_runs_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(SMOKE), "--dry-run", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "4 runs (4 combinations x 1 seed(s)); 0 already in" in out
    assert "chemistry=sodium_ion ambient_c=25 soc_pct=60 seed 0" in out
    assert list(tmp_path.iterdir()) == []


# -- running -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """The smoke sweep run once with 2 jobs and once in this process: the output folder of each."""
    out = {}
    for jobs in (2, 1):
        folder = tmp_path_factory.mktemp(f"jobs{jobs}")
        code = main(["sweep", str(SMOKE), "--jobs", str(jobs), "--out", str(folder)])
        assert code == 1   # LFP at -20 C does not start computing: a red cell of the envelope
        out[jobs] = folder
    return out


def test_the_smoke_sweep_writes_every_row_to_csv_and_parquet(smoke_runs: dict[int, Path]) -> None:
    import pyarrow.parquet as pq

    folder = smoke_runs[2]
    rows = read_csv(folder / "smoke.csv")
    sweep = load_sweep(SMOKE)
    assert len(rows) == 4 and {r["run_id"] for r in rows} == {r.run_id for r in sweep.runs()}
    expected = list(columns(sweep))
    assert list(rows[0]) == expected
    for column in ("chemistry", "ambient_c", "soc_pct", "seed", "duration_s", "verdict", "tokens",
                   "energy_from_grid_kwh", "energy_from_pack_kwh", "tokens_per_kwh", "min_soc_margin_pct",
                   "peak_junction_temp_c", "peak_max_cell_temp_c", "pack_equivalent_full_cycles",
                   "pack_capacity_lost_pct", "wall_s", "check.resumes on consent.verdict",
                   "check.resumes on consent.robustness"):
        assert column in expected
    table = pq.read_table(folder / "smoke.parquet")
    assert table.column_names == expected and table.num_rows == 4
    assert str(table.schema.field("tokens").type) == "int64"
    by_key = {(r["chemistry"], float(r["ambient_c"])): r for r in rows}
    cold_lfp = by_key[("lfp", -20.0)]
    assert cold_lfp["verdict"] == "FAIL" and cold_lfp["check.compute starts within 2 s.verdict"] == "FAIL"
    mild = by_key[("lfp", 25.0)]
    assert mild["verdict"] == "PASS" and int(mild["tokens"]) > 0 and float(mild["tokens_per_kwh"]) > 0
    assert 39.0 < float(mild["min_soc_margin_pct"]) <= 40.0     # 60 % start, 20 % reserve, 2 min of compute


def test_rows_are_the_same_with_one_job_and_with_two(smoke_runs: dict[int, Path]) -> None:
    def repeatable(folder: Path) -> dict[str, dict[str, str]]:
        return {r["run_id"]: {k: v for k, v in r.items() if k not in NOT_REPEATABLE}
                for r in read_csv(folder / "smoke.csv")}

    assert repeatable(smoke_runs[1]) == repeatable(smoke_runs[2])
    order = [r.run_id for r in load_sweep(SMOKE).runs()]
    for jobs in (1, 2):   # in the sweep's order, whatever order the runs finished in
        assert [r["run_id"] for r in read_csv(smoke_runs[jobs] / "smoke.csv")] == order


def test_the_envelope_page_marks_the_cells_that_failed(smoke_runs: dict[int, Path]) -> None:
    page = (smoke_runs[2] / "smoke.html").read_text(encoding="utf-8")
    assert page.count('<table class="envelope">') == 2          # one per chemistry
    assert "<h2>lfp</h2>" in page and "<h2>sodium_ion</h2>" in page
    assert "<th>-20 C</th>" in page and "<th>SOC 60 %</th>" in page
    assert page.count('class="fail"') == 1 and "compute starts within 2 s (1/1)" in page
    assert page.count('<td class="pass">') == 3


def test_a_resumed_sweep_runs_only_the_missing_rows(tmp_path: Path, smoke_runs: dict[int, Path],
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    finished = read_csv(smoke_runs[1] / "smoke.csv")
    out = tmp_path / "out"
    out.mkdir()
    kept = finished[:1] + finished[2:]   # one row lost (as if the sweep had stopped before it)
    with (out / "smoke.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(finished[0]))
        writer.writeheader()
        writer.writerows(kept)
    ran = []
    real = execute.run_one

    def counting(sweep, run):
        ran.append(run.run_id)
        return real(sweep, run)

    monkeypatch.setattr(execute, "run_one", counting)
    assert main(["sweep", str(SMOKE), "--jobs", "1", "--out", str(out)]) == 1
    assert ran == [finished[1]["run_id"]]
    assert "kept 3 finished run(s)" in capsys.readouterr().out
    rows = read_csv(out / "smoke.csv")
    assert [r["run_id"] for r in rows] == [r["run_id"] for r in finished]   # each id once, in order
    assert {r["run_id"]: r for r in rows} == {r["run_id"]: r for r in finished} | {
        r["run_id"]: r for r in rows if r["run_id"] == finished[1]["run_id"]}

    ran.clear()
    assert main(["sweep", str(SMOKE), "--jobs", "1", "--out", str(out)]) == 1   # all done: nothing runs
    assert ran == [] and len(read_csv(out / "smoke.csv")) == 4
    import pyarrow.parquet as pq

    assert pq.read_table(out / "smoke.parquet").num_rows == 4


def test_a_table_that_is_not_a_sweep_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "smoke.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    assert main(["sweep", str(SMOKE), "--out", str(tmp_path)]) == 2
    assert "not a sweep table" in capsys.readouterr().err
