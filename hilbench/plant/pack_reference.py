"""The pack model written plainly: the reference that :class:`~hilbench.plant.pack.Pack` must match.

:class:`ReferencePack` is a :class:`~hilbench.plant.pack.Pack` (same construction,
same cell spread from the same seed, same readers) whose step spells out the
equations of :mod:`hilbench.plant.pack`'s docstring, one line each, on whole
arrays: one element per series cell, a row per RC pair.  The bench steps the fast
:class:`~hilbench.plant.pack.Pack`; ``tests/plant/test_fast_paths.py`` steps both
through charge, discharge, temperature changes and forced temperatures and
requires the same bits.  A change to the model goes here first, then into the
fast step until the tests agree again.
"""

from __future__ import annotations

import numpy as np

from hilbench.plant.chemistry import KELVIN_OFFSET, REFERENCE_TEMP_C
from hilbench.plant.pack import Pack


class ReferencePack(Pack):
    """A :class:`~hilbench.plant.pack.Pack` stepped by the plain model, to check the fast step against.

    Takes the arguments of :class:`~hilbench.plant.pack.Pack`.  It is slower, not
    different: for the same arguments and the same steps, every reading equals the
    fast pack's to the bit.
    """

    def _start_model(self, k: int, n: int) -> None:
        self._rc_tau = np.asarray(self._chem.rc_tau_s, dtype=np.float64).reshape(k, 1)
        self._v_rc = np.zeros((k, n))   # voltage across each RC pair, per cell
        self._refresh_temperature_terms()
        self._update_cell_voltages(0.0)

    def _step(self, dt: float, current: float) -> None:
        i = current / self._parallel   # per cell of a parallel group
        if self._elapsed_s >= self._tdep_until:
            self._refresh_temperature_terms()

        # Coulomb counting against the usable capacity.
        self._soc = np.clip(self._soc - (i * dt) / self._usable_as, 0.0, 1.0)
        # RC pairs, exact for a current held over the step.
        a = np.exp(-dt / self._rc_tau)
        self._v_rc = a * self._v_rc + (1.0 - a) * (self._rc_r * i)
        # Heat: I^2 R0, what each RC pair's resistor dissipates, and the reversible (entropic) heat.
        heat = (i * i) * self._r0 + (self._v_rc * self._v_rc / self._rc_r).sum(axis=0)
        heat = heat - (self._temp_c + KELVIN_OFFSET) * (i * self._chem.entropic_v_per_k)
        self._heat = heat

        # Lumped thermal mass relaxing exactly towards its equilibrium temperature for this heat.
        if self._isothermal:
            self._temp_c = np.full(self._series, self._ambient_c)
        else:
            g_cool = self._g_cool
            if self._coolant_c is None or self._g_cool_total == 0.0:
                t_eq = self._ambient_c + heat / self._g_amb
            else:
                t_eq = (self._g_amb * self._ambient_c + g_cool * self._coolant_c + heat) / (self._g_amb + g_cool)
            decay = np.exp(-(self._g_amb + g_cool) * dt / self._heat_cap_j_per_k)
            self._temp_c = t_eq + (self._temp_c - t_eq) * decay

        self._update_cell_voltages(i)

    def _refresh_temperature_terms(self) -> None:
        temp = self._temp_c
        factor = self._chem.resistance_factor(temp)
        self._r0 = self._r0_base * factor
        self._rc_r = self._rc_r_base * factor
        self._usable_as = self._cap_as * np.interp(temp, self._cap_t, self._cap_f)
        self._tdep_until = self._elapsed_s + self.TEMPERATURE_REFRESH_S

    def _retemper(self) -> None:
        self._refresh_temperature_terms()
        self._update_cell_voltages(self._current_a / self._parallel)

    def _update_cell_voltages(self, i: float) -> None:
        """Cell voltages from SOC and temperature (OCV) less the drops of cell current ``i``.

        The arrays handed out (SOC, temperatures, cell voltages) are new each step and
        read-only, so a caller's earlier array never changes and no caller changes ours.
        """
        ocv = np.interp(self._soc, self._ocv_soc, self._ocv_v) + self._chem.entropic_v_per_k * (
            self._temp_c - REFERENCE_TEMP_C)
        cell_v = ocv - i * self._r0 - self._v_rc.sum(axis=0)
        self._pack_voltage_v = float(cell_v.sum())
        for array in (cell_v, self._soc, self._temp_c):
            array.flags.writeable = False
        self._cell_v = cell_v
