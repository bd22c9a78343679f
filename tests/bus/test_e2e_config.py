"""The E2E receiver's settings (``e2e.toml`` and a DUT config's ``e2e`` table): every figure is used as
written, and every value that makes no state machine is refused with the entry and the reason."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hilbench.bus.e2e_sm import CONFIG_FILE, E2EConfig
from hilbench.errors import ConfigError

DEFAULTS = {
    "window_init": 3, "min_ok_init": 3, "max_error_init": 0,
    "window_valid": 8, "min_ok_valid": 6, "max_error_valid": 1,
    "window_invalid": 8, "min_ok_invalid": 8, "max_error_invalid": 0,
    "tally_error_weight": 8, "tally_cap": 32,
    "timing_tolerance_cycles": 0.4, "wall_timing_tolerance_cycles": 0.9, "max_delta_counter": 2,
}


def test_the_defaults_are_the_data_files_figures() -> None:
    assert dataclasses.asdict(E2EConfig.load()) == DEFAULTS


def test_each_table_of_the_file_is_read(tmp_path) -> None:
    text = CONFIG_FILE.read_text(encoding="utf-8")
    for old, new in (("window_valid = 8", "window_valid = 9"), ("tally_cap = 32", "tally_cap = 40"),
                     ("max_delta_counter = 2", "max_delta_counter = 3")):
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "e2e.toml"
    path.write_text(text, encoding="utf-8")
    config = E2EConfig.load(path)
    assert (config.window_valid, config.tally_cap, config.max_delta_counter) == (9, 40, 3)
    assert E2EConfig.load(path, tally_cap=12).tally_cap == 12


def test_overrides_replace_only_what_they_name() -> None:
    config = E2EConfig.load(window_valid=10, min_ok_valid=7, timing_tolerance_cycles=0.25)
    assert dataclasses.asdict(config) == {**DEFAULTS, "window_valid": 10, "min_ok_valid": 7,
                                          "timing_tolerance_cycles": 0.25}
    assert E2EConfig.load().with_() == E2EConfig.load()


def test_an_unknown_key_is_refused_naming_the_table_and_every_allowed_key() -> None:
    with pytest.raises(ConfigError) as info:
        E2EConfig.load(window=3, tally=1)
    err = info.value
    assert err.entry == "e2e"
    assert err.reason == f"unknown key(s) ['tally', 'window']; allowed: {', '.join(sorted(DEFAULTS))}"


def _refused(**override: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        E2EConfig.load(**override)
    return info.value


@pytest.mark.parametrize("state", ["init", "valid", "invalid"])
@pytest.mark.parametrize("kind", ["window", "min_ok", "max_error"])
@pytest.mark.parametrize("value", [-1, True, False, 2.0, "3", None])
def test_window_and_count_figures_must_be_whole_numbers_of_zero_or_more(state: str, kind: str, value: object) -> None:
    key = f"{kind}_{state}"
    err = _refused(**{key: value})
    assert err.entry == f"e2e.{key}"
    assert err.reason == f"expected a whole number >= 0, got {value!r}"


@pytest.mark.parametrize("state", ["init", "valid", "invalid"])
def test_min_ok_must_lie_between_one_and_the_window(state: str) -> None:
    window = DEFAULTS[f"window_{state}"]
    for min_ok in (0, window + 1):
        err = _refused(**{f"min_ok_{state}": min_ok})
        assert err.entry == f"e2e.min_ok_{state}"
        assert err.reason == f"must be 1..window_{state} ({window}), got {min_ok}"
    for min_ok in (1, window):
        assert getattr(E2EConfig.load(**{f"min_ok_{state}": min_ok}), f"min_ok_{state}") == min_ok
    # a window may be shrunk to the minimum it must hold
    assert getattr(E2EConfig.load(**{f"window_{state}": 1, f"min_ok_{state}": 1}), f"window_{state}") == 1
    err = _refused(**{f"window_{state}": 0, f"min_ok_{state}": 1})
    assert err.entry == f"e2e.min_ok_{state}"


def test_zero_errors_may_be_allowed_in_every_state() -> None:
    config = E2EConfig.load(max_error_init=0, max_error_valid=0, max_error_invalid=0)
    assert (config.max_error_init, config.max_error_valid, config.max_error_invalid) == (0, 0, 0)


@pytest.mark.parametrize("key", ["tally_error_weight", "tally_cap", "max_delta_counter"])
@pytest.mark.parametrize("value", [0, -1, True, 1.0, "2", None])
def test_tally_and_counter_figures_must_be_whole_numbers_of_one_or_more(key: str, value: object) -> None:
    err = _refused(**{key: value})
    assert err.entry == f"e2e.{key}"
    assert err.reason == f"expected a whole number >= 1, got {value!r}"


@pytest.mark.parametrize("key", ["tally_error_weight", "tally_cap", "max_delta_counter"])
def test_one_is_enough_for_tally_and_counter_figures(key: str) -> None:
    assert getattr(E2EConfig.load(**{key: 1}), key) == 1


@pytest.mark.parametrize("key", ["timing_tolerance_cycles", "wall_timing_tolerance_cycles"])
@pytest.mark.parametrize("value", [0, 0.0, 1, 1.0, -0.2, 1.5, True, "0.5", None, float("nan")])
def test_timing_tolerances_must_lie_strictly_between_zero_and_one_cycle(key: str, value: object) -> None:
    err = _refused(**{key: value})
    assert err.entry == f"e2e.{key}"
    assert err.reason == f"expected a number in (0, 1), got {value!r}"


@pytest.mark.parametrize("key", ["timing_tolerance_cycles", "wall_timing_tolerance_cycles"])
def test_timing_tolerances_just_inside_the_range_are_taken(key: str) -> None:
    for value in (1e-6, 0.999):
        assert getattr(E2EConfig.load(**{key: value}), key) == value


@pytest.mark.parametrize(("edit", "entry", "reason"), [
    (("min_ok_valid = 6", "min_ok_valid = 0"), "e2e.min_ok_valid", "must be 1..window_valid"),
    (("tally_cap = 32", "tally_cap = 0"), "e2e.tally_cap", "expected a whole number >= 1"),
    (("window_valid = 8", "window_valid = -1"), "e2e.window_valid", "expected a whole number >= 0"),
    (("timing_tolerance_cycles = 0.4", "timing_tolerance_cycles = 1.5"), "e2e.timing_tolerance_cycles",
     "expected a number in (0, 1)"),
    (("[tally]", "[tallies]"), "[tally]", "missing table"),
    (("max_delta_counter = 2", ""), "max_delta_counter", "missing"),
    (("[timing]", "[timing"), None, "cannot read the E2E receiver settings"),
])
def test_a_bad_settings_file_is_refused_naming_the_file_entry_and_reason(tmp_path: Path, edit: tuple[str, str],
                                                                          entry: str | None, reason: str) -> None:
    text = CONFIG_FILE.read_text()
    assert edit[0] in text
    path = tmp_path / "e2e.toml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(ConfigError) as info:
        E2EConfig.load(path)
    assert info.value.file == str(path) and info.value.entry == entry
    assert info.value.reason.startswith(reason)
