"""The BMS sample written plainly: the reference that :meth:`BmsNode.sample` must match.

:class:`ReferenceBmsNode` is a :class:`~hilbench.nodes.bms.BmsNode` (same
parameters, sensors, generator and messages) whose sample says what it computes
in the most direct numpy and Python: scalar noise draws, ``round`` and ``min``,
every fault check through the full debounce pass.  What follows the readings (limits,
fault levels, contactors, published values) both forms share: ``BmsNode._judge``.  The bench runs the fast
:class:`~hilbench.nodes.bms.BmsNode`; ``tests/nodes/test_bms_fast_paths.py`` runs
both on the same pack through charge, discharge, heat, cold and sensor faults
and requires the same values, levels and debounce timers.
"""

from __future__ import annotations

import numpy as np

from .bms import BmsNode, _Check, _Debounced, _OverCurrentCheck


class ReferenceBmsNode(BmsNode):
    """A :class:`~hilbench.nodes.bms.BmsNode` that samples the plain way, to check the fast sample against.

    Takes the arguments of :class:`~hilbench.nodes.bms.BmsNode` and publishes, sample
    for sample, the very values the fast node publishes.
    """

    _debounced_type = _Debounced
    _check_type = _Check
    _over_current_type = _OverCurrentCheck

    def sample(self) -> None:
        """Take one set of measurements and update estimates, limits and fault levels."""
        now = self.clock.now
        pack = self.pack
        noise = self._noise_a * float(self._rng.standard_normal())
        current = pack.current_a * self._gain + self._offset_a + noise
        if self.sensor_faults:
            current = self._fault("pack_current_a", current)
        dt = 0.0 if self._last_sample_s is None else now - self._last_sample_s
        self._last_sample_s = now
        self.soc_estimate_pct = min(100.0, max(0.0, self.soc_estimate_pct - 100.0 * current * dt / self._capacity_as))

        cells = pack.cell_voltages_v
        temps = pack.cell_temps_c[:: self._sensor_stride]
        # What the ADCs deliver: 1 mV cell voltage resolution, sensors at the bus resolution.
        self.cell_voltages_v = cells.round(3)
        self.sensor_temps_c = np.rint(temps / self._temp_lsb_c) * self._temp_lsb_c
        self._voltage_list = self.cell_voltages_v.tolist()
        self._temp_list = self.sensor_temps_c.tolist()
        v_min = float(cells.min())
        v_max = float(cells.max())
        t_min = float(temps.min())
        t_max = float(temps.max())
        pack_v = float(cells.sum())
        soc = self.soc_estimate_pct
        if self.sensor_faults:   # in the order the roles have always been offered to faults
            v_min = self._fault("min_cell_voltage_v", v_min)
            v_max = self._fault("max_cell_voltage_v", v_max)
            t_min = self._fault("min_cell_temp_c", t_min)
            t_max = self._fault("max_cell_temp_c", t_max)
            pack_v = self._fault("pack_voltage_v", pack_v)
            soc = self._fault("soc_pct", soc)

        self._judge(now, current, pack_v, soc, v_min, v_max, t_min, t_max)
