"""A lab's DBC at the command line: bad input is refused with file, entry and reason, exit 2, no traceback;
a DBC that cantools refuses outside the mapped messages runs, with every offender named."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hilbench.bus import compute_unit_dbc_path
from hilbench.resources import scenarios_dir

from lab_car import CAR_DBC, CAR_MAP, write_car

SCENARIO = scenarios_dir() / "vehicle" / "shift_to_drive_lfp_-20c.toml"


def _hilbench(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hilbench.cli.main", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def _car_map() -> str:
    return CAR_MAP.format(cu=compute_unit_dbc_path())


@pytest.mark.parametrize(("dbc", "smap", "entry", "reason"), [
    pytest.param(CAR_DBC.replace("BO_ 1792 Radio", "BO_ 1024 Radio"), _car_map(), "dbc",
                 'duplicate frame ID 0x400: used by "Radio"', id="id-collision"),
    pytest.param(CAR_DBC, _car_map().replace('signal = "CellTmin", mux = 1', 'signal = "CellTmin", mux = 3'),
                 "roles.min_cell_temp_c.mux", "mux value 3 does not exist", id="missing-mux-value"),
    pytest.param(CAR_DBC, _car_map().replace('scheme = "sum"', 'scheme = "gm_magic"'),
                 "protection.VCU_Slow.scheme", "unknown protection scheme 'gm_magic'", id="unknown-checksum"),
    pytest.param(CAR_DBC, _car_map().replace('signal = "Soc", mux = 0 }', 'signal = "PackVolt", mux = 0 }'),
                 "roles.soc_pct.signal", 'is in "V" but role "soc_pct" is in "%"', id="unit-contradiction"),
    pytest.param(CAR_DBC.replace(' SG_ Plugged : 3|1@1+', ' SG_ Plugged : 2|1@1+').replace(
        ' SG_ Ign : 3|1@1+', ' SG_ Ign : 70|1@1+'), _car_map(), "roles", "2 problem(s)",
                 id="strict-faults-in-mapped-messages"),
])
def test_bad_lab_input_is_refused_with_exit_2_and_no_traceback(tmp_path: Path, dbc: str, smap: str, entry: str,
                                                                 reason: str) -> None:
    path = write_car(tmp_path, dbc, smap)
    done = _hilbench("run", "--signal-map", path, SCENARIO, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert re.search(rf"error: {re.escape(str(path))}: {re.escape(entry)}( \(line \d+\))?: ", done.stderr), done.stderr
    assert reason in done.stderr


def test_strict_offenders_outside_the_mapped_messages_run_with_every_one_named(tmp_path: Path) -> None:
    broken = CAR_DBC.replace('BO_ 1792 Radio: 8 GW\n',
                             'BO_ 1792 Radio: 8 GW\n SG_ Bass : 60|8@1+ (1,0) [0|100] "" BMS\n')
    path = write_car(tmp_path, broken, _car_map())
    done = _hilbench("run", "--signal-map", path, SCENARIO, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    assert 'message "Radio" signal "Bass"' in output and "does not fit" in output
    assert 'message "Radio" signal "Station"' in output and "overlapping" in output
    assert done.returncode == 0, output
