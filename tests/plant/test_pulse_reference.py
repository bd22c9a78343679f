"""The plant's cells sag under a 1C pulse as the DFN reference of the cell each file cites.

The reference pulses are in ``fixtures/plant_reference/reference.json`` (10 s at 1C from a
relaxed cell at 50 % SOC, isothermal at 25, 0 and -20 C); ``fit_dynamics.py`` fitted the
chemistry files' resistances to them.  Here the plant itself (a pack of identical cells, run
in the bench's 0.1 s steps) is pulsed and its drops at 0.1, 1 and 10 s must lie within 20 %
of the reference's (issue 14).  Resistances scale by capacity, so at the same C-rate the
drop per cell is the reference cell's.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from hilbench.plant.pack import CellSpread, Pack

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "plant_reference"
STEP_S = 0.1


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, FIXTURES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fit_dynamics() -> ModuleType:
    return _load("fit_dynamics")


def _plant_drops_v(chemistry: str, temp_c: float, times_s: tuple[float, ...]) -> list[float]:
    pack = Pack.from_config(chemistry, soc=0.5, temp_c=temp_c, ambient_c=temp_c, seed=0, isothermal=True,
                            spread=CellSpread.none())
    rest_v = pack.pack_voltage_v / pack.series
    one_c_a = pack.capacity_ah
    drops, elapsed_s = [], 0.0
    for target_s in times_s:
        while elapsed_s < target_s - 1e-9:
            pack.step(STEP_S, one_c_a)
            elapsed_s += STEP_S
        drops.append(rest_v - pack.pack_voltage_v / pack.series)
    return drops


@pytest.mark.parametrize("temp_c", [25.0, 0.0, -20.0])
@pytest.mark.parametrize("chemistry", ["lfp", "nmc"])
def test_a_1c_pulse_drops_as_the_fitted_reference_within_20_percent(fit_dynamics: ModuleType, chemistry: str,
                                                                    temp_c: float) -> None:
    t, reference_drop_v, _current = fit_dynamics.pulse(fit_dynamics.CITED[chemistry], temp_c)
    times_s = fit_dynamics.DROP_TIMES_S
    plant = np.array(_plant_drops_v(chemistry, temp_c, times_s))
    reference = np.interp(times_s, t, reference_drop_v)
    assert np.all(np.abs(plant / reference - 1.0) <= 0.20), (plant * 1e3, reference * 1e3)


def test_the_files_hold_the_fitted_figures_and_the_residuals_are_shipped(fit_dynamics: ModuleType) -> None:
    for chemistry in fit_dynamics.CITED:
        path, text, fitted_text, _figures = fit_dynamics.rewritten(chemistry)
        assert text == fitted_text, f"{path}: run python fixtures/plant_reference/fit_dynamics.py"
    shipped = json.loads(fit_dynamics.FIT.read_text(encoding="utf-8"))
    for chemistry in fit_dynamics.CITED:
        residuals = shipped[chemistry]["fit"]["drop_residuals"]
        assert set(residuals) == {"25C", "0C", "-20C"}
        assert all(abs(err) <= 20.0 for by_time in residuals.values() for err in by_time.values())


def test_the_cold_raises_every_resistance_by_the_factor_the_reference_pulses_show(fit_dynamics: ModuleType) -> None:
    """The Arrhenius line through the fitted factors stays within 15 % of each of them."""
    from hilbench.plant.chemistry import load_chemistry

    shipped = json.loads(fit_dynamics.FIT.read_text(encoding="utf-8"))
    for chemistry in fit_dynamics.CITED:
        chem = load_chemistry(chemistry)
        for key, factor in shipped[chemistry]["fit"]["factor_by_temp_c"].items():
            temp_c = float(key.removesuffix("C"))
            assert float(chem.resistance_factor(temp_c)) == pytest.approx(factor, rel=0.15)
