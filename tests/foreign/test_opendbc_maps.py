"""Real car DBCs nobody here wrote (opendbc), bound through fixtures/foreign/*.signals.toml alone.

For each car: the map loads with every lenient-DBC offender named, the vehicle scenario passes with
the emulated compute unit, every bundled short scenario gives each check its bench-DBC verdict or
NOT MAPPED, and the recording decodes with cantools against the DBCs the map lists.
"""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path

import can
import pytest

from hilbench.bus import load_bus_description
from hilbench.resources import scenarios_dir
from hilbench.scenarios import (
    NOT_MAPPED,
    NotRunnableError,
    RunOptions,
    check_runnable,
    discover,
    load_scenario,
    run_scenario,
)

pytest.importorskip("opendbc", reason="the foreign maps bind opendbc's car DBCs (pip install -e '.[test]')")

ROOT = Path(__file__).resolve().parents[2]
MAPS = sorted((ROOT / "fixtures" / "foreign").glob("*.signals.toml"))
SHIFT = scenarios_dir() / "vehicle" / "shift_to_drive_lfp_-20c.toml"
SHORT = [path for path in discover([scenarios_dir()]) if path.name != "overnight.toml"]
#: Scenarios a car cannot run, and why: each is refused before the run starts, with this reason.
#: Ford's SOC message has no checksum, so a corruption there is undetectable by any receiver;
#: bms_corrupt_burst is about a receiver catching it (``detectable = true``).
EXPECTED_REFUSALS = {
    ("ford_phev", "bms_corrupt_burst_solid_state_25c"): 'message "Battery_Traction_4_FD1" carries no checksum',
}


def _id(path: Path) -> str:
    return path.name.removesuffix(".signals.toml")


def test_there_are_at_least_three_real_cars() -> None:
    assert len(MAPS) >= 3
    for path in MAPS:
        assert 'package = "opendbc"' in path.read_text(encoding="utf-8"), path


@cache
def _bench_verdicts(path: Path) -> dict[str, str]:
    result = run_scenario(load_scenario(path), RunOptions(keep_traces=False))
    assert result.error is None, result.error
    return {check.check.name: check.verdict for check in result.checks}


@pytest.mark.parametrize("signal_map", MAPS, ids=_id)
def test_the_vehicle_scenario_passes_on_the_car_from_the_command_line(tmp_path: Path, signal_map: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "hilbench.cli.main", "run", "--signal-map", str(signal_map),
                           "--record", str(tmp_path / "run.log"), str(SHIFT)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "[PASS]" in done.stdout


@pytest.mark.parametrize("signal_map", MAPS, ids=_id)
def test_every_short_scenario_keeps_its_verdicts_or_says_not_mapped(signal_map: Path) -> None:
    differences, not_mapped, refused = [], 0, {}
    options = RunOptions(signal_map=signal_map, keep_traces=False)
    for path in SHORT:
        scenario = load_scenario(path)
        try:
            check_runnable([scenario], options)
        except NotRunnableError as exc:
            refused[scenario.name] = str(exc)
            continue
        result = run_scenario(scenario, options)
        assert result.error is None, result.error
        expected = _bench_verdicts(path)
        for check in result.checks:
            if check.verdict == NOT_MAPPED:
                not_mapped += 1
            elif check.verdict != expected[check.check.name]:
                differences.append(f"{path.name}: {check.check.name}: {check.verdict} on the car, "
                                   f"{expected[check.check.name]} on the bench DBC ({check.detail})")
    assert differences == []
    expected = {name: why for (car, name), why in EXPECTED_REFUSALS.items() if car == _id(signal_map)}
    assert set(refused) == set(expected), refused
    for name, why in expected.items():
        assert why in refused[name]


@pytest.mark.parametrize("signal_map", MAPS, ids=_id)
def test_the_recording_decodes_against_the_dbcs_the_map_lists(tmp_path: Path, signal_map: Path) -> None:
    record = tmp_path / "run.log"
    result = run_scenario(load_scenario(SHIFT), RunOptions(signal_map=signal_map, record=record,
                                                          keep_traces=False))
    assert result.passed, result.error
    db = load_bus_description(signal_map=signal_map).db
    frames = list(can.LogReader(record))
    assert len(frames) == result.frames > 1000
    ids = {(m.frame_id, m.is_extended_frame) for m in db.messages}
    for frame in frames:
        assert (frame.arbitration_id, frame.is_extended_id) in ids
        db.decode_message(frame.arbitration_id, frame.data)        # raises on a frame the DBCs cannot read
