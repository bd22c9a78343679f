"""Chemistry data files: shapes of the shipped curves, and refusal of bad data."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from hilbench.errors import ConfigError
from hilbench.plant import Chemistry, available_chemistries, load_chemistry
from hilbench.plant.chemistry import CHEMISTRY_DIR

from ._harness import SHIPPED

# Datasheet windows per chemistry (DOMAIN.md): (OCV at 50 % low, high).
MID_SOC_OCV_WINDOW_V = {
    "lfp": (3.25, 3.35),
    "nmc": (3.6, 3.85),
    "sodium_ion": (2.9, 3.3),
    "solid_state": (3.6, 3.95),
}


def test_all_four_chemistries_ship() -> None:
    assert tuple(available_chemistries()) == SHIPPED


def test_ocv_at_full_half_empty_within_window(chemistry: Chemistry) -> None:
    full, half, empty = chemistry.ocv_v([1.0, 0.5, 0.0])
    low, high = MID_SOC_OCV_WINDOW_V[chemistry.name]
    assert low <= half <= high
    assert full <= chemistry.max_voltage_v + 1e-9
    assert empty >= chemistry.min_voltage_v - 1e-9
    assert chemistry.min_voltage_v < chemistry.nominal_voltage_v < chemistry.max_voltage_v


def test_ocv_rises_with_soc(chemistry: Chemistry) -> None:
    soc = np.linspace(0.0, 1.0, 201)
    assert np.all(np.diff(chemistry.ocv_v(soc)) > 0.0)


def test_lfp_plateau_is_flat_and_nmc_is_sloped() -> None:
    lfp, nmc = load_chemistry("lfp"), load_chemistry("nmc")
    # Over 40-90 % SOC (past the graphite's low-lithiation slope) Prada2013's LFP rises 57 mV,
    # Chen2020's NMC811 340 mV.
    mid = np.linspace(0.4, 0.9, 51)
    assert np.ptp(lfp.ocv_v(mid)) < 0.08
    assert np.ptp(nmc.ocv_v(mid)) > 0.3
    assert float(lfp.ocv_v(1.0)) == pytest.approx(3.6) and float(nmc.ocv_v(1.0)) == pytest.approx(4.2)


def test_resistance_rises_in_the_cold(chemistry: Chemistry) -> None:
    r = chemistry.r0_ohm_at([-20.0, 0.0, 10.0, 25.0])
    assert np.all(np.diff(r) < 0.0)
    assert r[-1] == pytest.approx(chemistry.r0_ohm)
    assert r[0] / r[3] >= 2.0  # at least doubled by -20 C (LFP's fitted DFN pulses: 2.4x)


def test_solid_state_resistance_falls_most_sharply_in_the_cold() -> None:
    factors = {n: float(load_chemistry(n).resistance_factor(-10.0)) for n in SHIPPED}
    assert max(factors, key=factors.get) == "solid_state"


def test_cold_capacity_ordering() -> None:
    frac = {n: float(load_chemistry(n).capacity_fraction_at(-20.0)) for n in SHIPPED}
    assert frac["sodium_ion"] > 0.7
    assert 0.55 <= frac["lfp"] <= 0.65
    assert 0.65 <= frac["nmc"] <= 0.75
    assert frac["solid_state"] == min(frac.values())


def test_lithium_ion_cannot_charge_below_freezing_sodium_can() -> None:
    for name in ("lfp", "nmc", "solid_state"):
        assert load_chemistry(name).charge_min_c >= 0.0
    assert load_chemistry("sodium_ion").charge_min_c < 0.0


def test_every_number_names_its_source(chemistry: Chemistry) -> None:
    import tomllib

    with (CHEMISTRY_DIR / f"{chemistry.name}.toml").open("rb") as fh:
        data = tomllib.load(fh)
    numbers = [f"{table}.{key}" for table, entries in data.items() if isinstance(entries, dict) and table != "sources"
               for key in entries]
    assert len(numbers) >= 20
    for entry in numbers:
        assert chemistry.source(entry), f"{chemistry.name}: no source for {entry}"


@pytest.mark.parametrize("entry", ["resistance.rc_tau_s", "ocv.entropic_v_per_k", "pack.parallel", "voltage.min_v"])
def test_a_number_without_its_source_is_refused(tmp_path: Path, entry: str) -> None:
    table, key = entry.split(".")
    text = (CHEMISTRY_DIR / "lfp.toml").read_text()
    head, sources = text.split("[sources.voltage]", 1)
    sources = "[sources.voltage]" + sources
    start = sources.index(f"[sources.{table}]")
    line = next(ln for ln in sources[start:].splitlines() if ln.startswith(f"{key} = "))
    path = tmp_path / "unsourced.toml"
    path.write_text(head + sources.replace(line + "\n", "", 1))
    with pytest.raises(ConfigError) as info:
        load_chemistry(path)
    assert info.value.file == str(path)
    assert info.value.entry == f"sources.{entry}"
    assert "every number needs its source" in info.value.reason


def test_a_source_for_a_number_the_file_does_not_set_is_refused(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, "[sources.life]\n", "[sources.life]\ncalendar_years = \"a datasheet\"\n")
    with pytest.raises(ConfigError) as info:
        load_chemistry(path)
    assert info.value.entry == "sources.life.calendar_years"


def test_name_lookup_is_forgiving_about_case_and_dashes() -> None:
    assert load_chemistry("Sodium-Ion") == load_chemistry("sodium_ion")


def test_load_by_path_equals_load_by_name() -> None:
    by_path = load_chemistry(CHEMISTRY_DIR / "lfp.toml")
    assert by_path == load_chemistry("lfp")


# --- bad data ---------------------------------------------------------------


def _write_variant(tmp_path: Path, old: str, new: str, name: str = "lfp") -> Path:
    text = (CHEMISTRY_DIR / f"{name}.toml").read_text()
    assert old in text, f"fixture text {old!r} not found in {name}.toml"
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_non_monotonic_ocv_is_refused_with_file_entry_and_reason(tmp_path: Path) -> None:
    path = _write_variant(
        tmp_path,
        "    3.0308, 3.058, 3.0843,",
        "    3.0308, 3.09, 3.0843,",
    )
    with pytest.raises(ConfigError) as info:
        load_chemistry(path)
    err = info.value
    assert err.file == str(path)
    assert err.entry == "ocv.voltage_v[12]"
    assert "OCV must rise with SOC, but 3.0843 V at SOC 0.12 is below 3.09 V at SOC 0.11" in err.reason
    assert str(path) in str(err) and "ocv.voltage_v[12]" in str(err)


def test_unknown_chemistry_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown chemistry 'lead_acid'.*lfp, nmc, sodium_ion, solid_state"):
        load_chemistry("lead_acid")


@pytest.mark.parametrize(
    ("old", "new", "entry", "reason"),
    [
        ("r0_ohm = 0.000682\n", "", "resistance.r0_ohm", "missing key"),
        ("r0_ohm = 0.000682", 'r0_ohm = "low"', "resistance.r0_ohm", "expected a number"),
        ("r0_ohm = 0.000682", "r0_ohm = -0.000682", "resistance.r0_ohm", "greater than 0"),
        ("cycle_life = 4000", "cycle_life = 4000.5", "life.cycle_life", "expected an integer"),
        ("max_v = 3.6", "max_v = 3.1", "voltage.max_v", "greater than 3.2 V"),
        ("[thermal]", "[thermal]\ncell_mas_kg = 2.0", "thermal.cell_mas_kg", "unknown key"),
        ("fraction = [0.30,", "fraction = [0.30, 0.5,", "capacity.fraction", "one per capacity.temp_c"),
        ("fraction = [0.30,", "fraction = [1.30,", "capacity.fraction[0]", "at most 1"),
        ("soc = [\n    0,", "soc = [\n    0.005,", "ocv.soc", "must run from 0 to 1"),
        ("rc_tau_s = [12.2, 78.1]", "rc_tau_s = [12.2]", "resistance.rc_tau_s", "one per resistance.rc_r_ohm"),
        ("3.415, 3.6,\n]", "3.415, 3.7,\n]", "ocv.voltage_v[98]", "outside the cell window"),
        ("[pack]\n", "[pack]\nseries_400v = 0\n", "pack", ""),  # duplicate key -> TOML error
    ],
)
def test_bad_entries_are_refused(tmp_path: Path, old: str, new: str, entry: str, reason: str) -> None:
    path = _write_variant(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_chemistry(path)
    err = info.value
    assert err.file == str(path)
    if entry == "pack":  # TOML syntax errors carry the line instead of an entry
        assert "not valid TOML" in err.reason
        return
    assert err.entry == entry
    assert reason in err.reason, err.reason


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("chemistry file not found")):
        load_chemistry(tmp_path / "nope.toml")
