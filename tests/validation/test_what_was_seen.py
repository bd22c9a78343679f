"""The inputs issue 12 saw accepted, crash mid-run or misreported, each through ``hilbench run`` once more.

Each must now be refused at load: exit 2, one ``error:`` line naming the broken file, the entry and the
reason the issue asked for, no traceback, and no run (so no PASS over clamped values, no ``ValueError``
half-way through, no unprotected SOC reaching the unit).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from hilbench.resources import scenarios_dir

from .corpus import SHORT_SCENARIO, _bench_map_text, _dbc_texts, dumps, run_main

#: A scenario the broken steps are put into: a bundled one, so the step is the only thing wrong.
BASE = scenarios_dir() / "vehicle" / "shift_to_drive_lfp_-20c.toml"


def _with_step(folder: Path, step: dict) -> Path:
    data = tomllib.loads(BASE.read_text(encoding="utf-8"))
    data["steps"] = [{"at": "1 s", **step}, *data.get("steps", [])]
    path = folder / "scenario.toml"
    path.write_text(dumps(data), encoding="utf-8")
    return path


def _short(folder: Path) -> Path:
    path = folder / "scenario.toml"
    path.write_text(dumps(SHORT_SCENARIO), encoding="utf-8")
    return path


def _refused(argv: list[str], file: Path, entry: str, reason: str) -> str:
    outcome = run_main(["run", "-j", "1", *argv])
    assert outcome.escaped is None and not outcome.hung, outcome.escaped
    assert outcome.code == 2, f"exit {outcome.code}: {outcome.out[-400:]} {outcome.err}"
    assert "Traceback" not in outcome.err and "PASS" not in outcome.out, outcome.err
    assert re.match(rf"error: {re.escape(str(file))}: {re.escape(entry)}( \(line \d+\))?: ", outcome.err), outcome.err
    assert reason in outcome.err, outcome.err
    return outcome.err


def test_shift_gear_x_is_refused_at_load_not_mid_run(tmp_path: Path) -> None:
    path = _with_step(tmp_path, {"action": "shift", "gear": "X"})
    _refused([str(path)], path, "steps[0].gear", 'expected one of P, R, N, D, got "X"')


@pytest.mark.parametrize("temp_c", [-1000.0, -300.0, 1e29])
def test_cold_soak_out_of_the_physical_range_is_refused_not_passed(tmp_path: Path, temp_c: float) -> None:
    path = _with_step(tmp_path, {"action": "cold_soak", "temp_c": temp_c})
    _refused([str(path)], path, "steps[0].temp_c", "is outside -60..90 C")


def test_soc_mapped_to_the_pack_voltage_is_refused_for_its_unit(tmp_path: Path) -> None:
    scenario = _short(tmp_path)
    text = re.sub(r'^(soc_pct\s*=\s*\{ message = "BMS_PackStatus", signal = )"SOC"', r'\1"PackVoltage"',
                  _bench_map_text(), count=1, flags=re.MULTILINE)
    assert "PackVoltage" in text
    smap = tmp_path / "lab.signals.toml"
    smap.write_text(text, encoding="utf-8")
    err = _refused(["--signal-map", str(smap), str(scenario)], smap, "roles.soc_pct.signal",
                   'BMS_PackStatus.PackVoltage is in "V" but role "soc_pct" is in "%"')
    assert 'dbc_unit = "V"' in err     # the fix, when the conversion is really meant


def _lab(folder: Path, bench_dbc: str, cu_dbc: str | None = None) -> Path:
    bench, cu = _dbc_texts()
    (folder / "hilbench.dbc").write_text(bench_dbc, encoding="cp1252")
    (folder / "compute_unit.dbc").write_text(cu if cu_dbc is None else cu_dbc, encoding="cp1252")
    smap = folder / "lab.signals.toml"
    smap.write_text(_bench_map_text(("hilbench.dbc", "compute_unit.dbc")), encoding="utf-8")
    return smap


def test_e2e_profile_p99_in_the_dbc_is_refused_never_unprotected(tmp_path: Path) -> None:
    bench, _ = _dbc_texts()
    assert 'BA_ "E2EProfile" BO_ 256 "P02";' in bench
    smap = _lab(tmp_path, bench.replace('BA_ "E2EProfile" BO_ 256 "P02";', 'BA_ "E2EProfile" BO_ 256 "P99";'))
    _refused(["--signal-map", str(smap), str(_short(tmp_path))], tmp_path / "hilbench.dbc",
             'message "BMS_PackStatus" E2EProfile', 'unknown E2E profile "P99"')


def test_duplicate_frame_id_in_one_dbc_is_named_as_such(tmp_path: Path) -> None:
    bench, _ = _dbc_texts()
    smap = _lab(tmp_path, re.sub(r"^BO_ 257 ", "BO_ 256 ", bench, count=1, flags=re.MULTILINE))
    err = _refused(["--signal-map", str(smap), str(_short(tmp_path))], tmp_path / "hilbench.dbc",
                   'message "BMS_CellExtremes"', 'duplicate frame ID 0x100: also used by "BMS_PackStatus"')
    assert "data ID" not in err


def test_duplicate_frame_id_across_overlaid_dbcs_is_named_as_such(tmp_path: Path) -> None:
    bench, cu = _dbc_texts()
    assert "BO_ 1024 CU_Status" in cu
    smap = _lab(tmp_path, bench, cu.replace("BO_ 1024 CU_Status", "BO_ 256 CU_Status"))
    err = _refused(["--signal-map", str(smap), str(_short(tmp_path))], smap, "dbc", "duplicate frame ID 0x100")
    assert "CU_Status" in err and "BMS_PackStatus" in err and "data ID" not in err
