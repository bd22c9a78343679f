"""Property tests: SOC bounds, charge bookkeeping and energy balance under random load profiles."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hilbench.plant import Pack
from hilbench.plant.chemistry import KELVIN_OFFSET, REFERENCE_TEMP_C

from ._harness import SHIPPED

_steps = st.lists(
    st.tuples(st.floats(0.01, 120.0), st.floats(-300.0, 300.0)),  # (dt_s, current_a)
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(SHIPPED), soc=st.floats(0.0, 1.0), temp_c=st.floats(-30.0, 50.0),
       seed=st.integers(0, 2**32 - 1), steps=_steps)
def test_state_stays_physical(name: str, soc: float, temp_c: float, seed: int,
                              steps: list[tuple[float, float]]) -> None:
    pack = Pack.from_config(name, series=12, soc=soc, temp_c=temp_c, ambient_c=temp_c, seed=seed)
    dudt = abs(pack.chemistry.entropic_v_per_k)
    for dt_s, current_a in steps:
        hottest_k = float(pack.cell_temps_c.max()) + KELVIN_OFFSET
        pack.step(dt_s, current_a)
        assert np.all((pack.cell_soc >= 0.0) & (pack.cell_soc <= 1.0))
        assert np.all(np.isfinite(pack.cell_voltages_v))
        assert np.all(np.isfinite(pack.cell_temps_c))
        # Ohmic and polarisation heat are never negative; only the reversible heat can cool.
        reversible_bound_w = abs(current_a) * pack.series * hottest_k * dudt
        assert pack.heat_w >= -reversible_bound_w - 1e-9
    assert np.isclose(pack.elapsed_s, sum(dt for dt, _ in steps))
    net_ah = sum(dt * i for dt, i in steps) / 3600.0
    assert np.isclose(pack.discharge_ah - pack.charge_ah, net_ah, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(SHIPPED), soc=st.floats(0.3, 0.7), c_rate=st.floats(-1.0, 1.0),
       minutes=st.integers(1, 15))
def test_energy_balance_without_clipping(name: str, soc: float, c_rate: float, minutes: int) -> None:
    """Away from the SOC limits and at constant temperature, the free energy released
    (the OCV's integral) equals the energy at the terminals plus the irreversible heat;
    the reversible heat ``-I T dU/dT`` is the entropy exchanged with the surroundings."""
    pack = Pack.from_config(name, series=8, soc=soc, isothermal=True)
    current_a = c_rate * pack.capacity_ah  # at most 0.25 of SOC: never reaches the clip at 0 or 1
    stored_before = _stored_wh(pack)
    terminal_wh = heat_wh = 0.0
    dt_s = 1.0
    reversible_w = -current_a * pack.series * (REFERENCE_TEMP_C + KELVIN_OFFSET) * pack.chemistry.entropic_v_per_k
    for _ in range(minutes * 60):
        pack.step(dt_s, current_a)
        terminal_wh += pack.pack_voltage_v * current_a * dt_s / 3600.0
        heat_wh += (pack.heat_w - reversible_w) * dt_s / 3600.0
    released_wh = stored_before - _stored_wh(pack)
    # Heat and terminal power come from end-of-step values; allow for that discretisation
    # (measured residuals are below 0.3 % of the heat).
    tolerance_wh = 0.01 * heat_wh + 1e-4 * abs(released_wh) + 1e-6
    assert abs(released_wh - terminal_wh - heat_wh) <= tolerance_wh


def _stored_wh(pack: Pack) -> float:
    """Energy stored per the OCV curve (integral of OCV dQ from SOC 0), plus RC capacitor energy."""
    chem = pack.chemistry
    tau_s = np.asarray(chem.rc_tau_s)[:, None]
    rc_r_ohm = np.asarray(chem.rc_r_ohm)[:, None] * pack._r0_base / chem.r0_ohm  # noqa: SLF001
    rc_wh = float((0.5 * (tau_s / rc_r_ohm) * pack._v_rc**2).sum()) * pack.parallel / 3600.0  # noqa: SLF001
    grid = np.linspace(0.0, 1.0, 4001)
    ocv = chem.ocv_v(grid)
    cum = np.concatenate([[0.0], np.cumsum((ocv[1:] + ocv[:-1]) / 2 * np.diff(grid))])
    per_cell_wh = np.interp(pack.cell_soc, grid, cum) * pack._cap_ah * pack.parallel  # noqa: SLF001
    return float(per_cell_wh.sum()) + rc_wh
