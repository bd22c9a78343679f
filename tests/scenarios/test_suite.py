"""The bundled scenario suite: every file loads, and it covers each chemistry and the cold, mild
and hot ambient it promises.

That every scenario passes on the correct DUT is shown by the scenario files
themselves: the pytest plugin collects each one (``fixtures/scenarios`` is in
``testpaths``) and runs it as a test item.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hilbench.scenarios import bundled_scenarios_dir, discover, load_scenario

SUITE_DIR = bundled_scenarios_dir()
FILES = discover([SUITE_DIR])
CHEMISTRIES = {"lfp", "nmc", "sodium_ion", "solid_state"}
AMBIENTS_C = {-20.0, 25.0, 45.0}
SHORT_MAX_S = 10 * 60.0


def _id(path: Path) -> str:
    return path.relative_to(SUITE_DIR).with_suffix("").as_posix()


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_scenario_file_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.checks, "a scenario without checks proves nothing"
    chemistry = scenario.initial.get("chemistry", "nmc")
    assert chemistry in scenario.markers, f"marker for its chemistry {chemistry!r} missing: {scenario.markers}"
    assert len(CHEMISTRIES & set(scenario.markers)) == 1
    assert ("short" in scenario.markers) != ("long" in scenario.markers), "mark it short or long"
    if "short" in scenario.markers:
        assert scenario.duration_s <= SHORT_MAX_S, "short scenarios keep to 10 simulated minutes"


def test_suite_is_big_enough_and_names_are_unique() -> None:
    names = [load_scenario(path).name for path in FILES]
    assert len(names) >= 25
    assert len(set(names)) == len(names)
    assert "overnight" in names


def test_suite_covers_every_chemistry_and_ambient() -> None:
    scenarios = [load_scenario(path) for path in FILES]
    assert {s.initial.get("chemistry", "nmc") for s in scenarios} >= CHEMISTRIES
    assert {s.initial.get("ambient_c") for s in scenarios} >= AMBIENTS_C


def test_suite_exercises_every_fault_family() -> None:
    actions = {step.action for path in FILES for step in load_scenario(path).steps}
    assert actions >= {"node_silent", "corrupt", "wrong_counter", "bad_checksum", "drop", "delay", "bus_off",
                       "plug_yank", "heat_wave", "cold_soak", "sensor_stuck"}




FUZZ_FILES = sorted((SUITE_DIR.parents[0] / "fuzz").glob("*.toml"))


@pytest.mark.parametrize("path", FILES + FUZZ_FILES, ids=lambda p: p.relative_to(SUITE_DIR.parent).as_posix())
def test_a_check_allowed_to_be_vacuous_says_why(path: Path) -> None:
    """``vacuous = "ok"`` (a guard whose trigger need not fire) carries a comment saying why, just above it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines):
        if line.strip().replace(" ", "").startswith('vacuous="ok"'):
            assert "#" in line or (n > 0 and lines[n - 1].lstrip().startswith("#")), \
                f"{path.name} line {n + 1}: say in a comment why this check need not fire here"


@pytest.mark.parametrize("path", FILES + FUZZ_FILES, ids=lambda p: p.relative_to(SUITE_DIR.parent).as_posix())
def test_bundled_scenarios_speak_roles_and_nodes(path: Path) -> None:
    """No bundled step names a DBC message: faults target a node or a role, so the suite runs on any mapped DBC."""
    from hilbench.scenarios.fuzz import load_fuzz_scenario

    scenario = load_scenario(path) if path.parent.name != "fuzz" else load_fuzz_scenario(path)[0]
    for step in scenario.steps:
        assert "message" not in step.params, f"{step.label}: use node = ... or role = ..., not message = ..."


def test_the_whole_suite_fits_the_bench_bus() -> None:
    from hilbench.scenarios import RunOptions, check_runnable

    assert FUZZ_FILES, "the fuzz fixtures moved"
    check_runnable([load_scenario(path) for path in FILES + FUZZ_FILES], RunOptions())
