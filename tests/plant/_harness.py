"""Helpers shared by the plant tests (the fixtures live in conftest.py)."""

from __future__ import annotations

from hilbench.plant import Pack

SHIPPED = ("lfp", "nmc", "sodium_ion", "solid_state")


def discharge_to_cutoff(pack: Pack, current_a: float, dt_s: float = 2.0, limit_s: float = 3 * 3600.0) -> float:
    """Discharge at constant current until the weakest cell reaches the chemistry's
    lower cut-off; return the Ah delivered."""
    v_min = pack.chemistry.min_voltage_v
    while pack.min_cell_voltage_v > v_min:
        if pack.elapsed_s >= limit_s:
            raise AssertionError(f"no cut-off within {limit_s} s: {pack!r}")
        pack.step(dt_s, current_a)
    return pack.discharge_ah
