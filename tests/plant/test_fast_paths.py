"""The plant's 10 Hz shortcuts give exactly what the plain formulas give.

``Pack._step`` is written to make few numpy calls and ``Evse`` works its pilot
figures out when the cable or the offer changes; both must stay bit for bit
equal to the straightforward model, which is spelled out here once more.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest

from hilbench.plant import Chemistry, CpState, Evse, EvseFault, Pack
from hilbench.plant.chemistry import REFERENCE_TEMP_C
from hilbench.plant.evse import (
    current_to_pwm_duty_pct,
    pp_resistor_to_current_a,
    pwm_duty_to_current_a,
)


class _PlainPack:
    """The pack model of ``hilbench.plant.pack``'s docstring in direct numpy, state copied from ``pack``."""

    def __init__(self, pack: Pack) -> None:
        self.p = pack
        self.soc = pack._soc.copy()
        self.v_rc = pack._v_rc.copy()
        self.temp = pack._temp_c.copy()
        self.elapsed = pack._elapsed_s
        self.refresh_at = pack._tdep_until
        self.r0, self.rc_r, self.usable = pack._r0, pack._rc_r, pack._usable_as

    def step(self, dt: float, current: float) -> tuple[np.ndarray, float, float]:
        p = self.p
        chem = p.chemistry
        tau = np.asarray(chem.rc_tau_s, dtype=np.float64).reshape(-1, 1)
        a = np.exp(-dt / tau)
        th_decay = np.exp(-(p._g_amb + p._g_cool) * dt / p._heat_cap_j_per_k)
        i = current / p.parallel
        if self.elapsed >= self.refresh_at:
            factor = np.maximum(np.exp2((REFERENCE_TEMP_C - self.temp) / chem.r_doubling_interval_c),
                                chem.r_min_factor)
            self.r0, self.rc_r = p._r0_base * factor, p._rc_r_base * factor
            self.usable = p._cap_as * np.interp(self.temp, p._cap_t, p._cap_f)
            self.refresh_at = self.elapsed + p.TEMPERATURE_REFRESH_S
        self.soc = np.clip(self.soc - (i * dt) / self.usable, 0.0, 1.0)
        self.v_rc = a * self.v_rc + (1.0 - a) * (self.rc_r * i)
        heat = (i * i) * self.r0 + (self.v_rc * self.v_rc / self.rc_r).sum(axis=0)
        heat_w = float(heat.sum()) * p.parallel
        if p._coolant_c is None or p._g_cool_total == 0.0:
            t_eq = p.ambient_c + heat / p._g_amb
        else:
            t_eq = (p._g_amb * p.ambient_c + p._g_cool * p._coolant_c + heat) / (p._g_amb + p._g_cool)
        self.temp = t_eq + (self.temp - t_eq) * th_decay
        self.elapsed += dt
        ocv = np.interp(self.soc, p._ocv_soc, p._ocv_v) + chem.entropic_v_per_k * (self.temp - REFERENCE_TEMP_C)
        v = ocv - i * self.r0 - self.v_rc.sum(axis=0)
        return v, float(v.sum()), heat_w


@pytest.mark.parametrize("coolant_c", [None, 18.0])
def test_pack_step_matches_the_plain_model_bit_for_bit(chemistry: Chemistry, coolant_c: float | None) -> None:
    pack = Pack.from_config(chemistry, soc=0.5, temp_c=10.0, ambient_c=30.0, seed=7,
                            coolant_c=coolant_c, coolant_conductance_w_per_k=5.0)
    plain = _PlainPack(pack)
    rng = np.random.default_rng(3)
    for k in range(300):
        dt = 0.1 if k < 200 else 0.25     # also a change of step size
        current = float(rng.normal(0.0, 2.0 * pack.capacity_ah))
        v, pack_v, heat_w = plain.step(dt, current)
        pack.step(dt, current)
        assert np.array_equal(pack.cell_voltages_v, v)
        assert np.array_equal(pack.cell_soc, plain.soc)
        assert np.array_equal(pack.cell_temps_c, plain.temp)
        assert pack.pack_voltage_v == pack_v and pack.heat_w == heat_w
    for arr in (pack.cell_voltages_v, pack.cell_soc, pack.cell_temps_c):
        assert not arr.flags.writeable


@pytest.mark.parametrize("pairs", [0, 1, 3])
def test_pack_step_matches_the_plain_model_for_other_rc_pair_counts(pairs: int) -> None:
    # The bundled chemistries all have two RC pairs, which take the pack's two-row shortcut.
    nmc = Pack.from_config("nmc").chemistry
    chem = dataclasses.replace(nmc, rc_r_ohm=(0.0002, 0.0003, 0.0004)[:pairs], rc_tau_s=(5.0, 60.0, 600.0)[:pairs])
    pack = Pack(chem, 12, 2, soc=0.6, temp_c=5.0, ambient_c=20.0, seed=4)
    plain = _PlainPack(pack)
    rng = np.random.default_rng(8)
    for _ in range(60):
        current = float(rng.normal(0.0, 2.0 * pack.capacity_ah))
        v, pack_v, heat_w = plain.step(0.1, current)
        pack.step(0.1, current)
        assert np.array_equal(pack.cell_voltages_v, v)
        assert np.array_equal(pack.cell_temps_c, plain.temp)
        assert pack.pack_voltage_v == pack_v and pack.heat_w == heat_w


def test_forced_cell_temps_keep_the_plain_voltages() -> None:
    pack = Pack.from_config("lfp", soc=0.4, seed=5)
    for _ in range(5):
        pack.step(0.1, 40.0)
    plain = _PlainPack(pack)
    pack.set_cell_temps_c(-5.0)
    factor = np.maximum(np.exp2((REFERENCE_TEMP_C - pack.cell_temps_c) / pack.chemistry.r_doubling_interval_c),
                        pack.chemistry.r_min_factor)
    ocv = (np.interp(pack.cell_soc, pack._ocv_soc, pack._ocv_v)
           + pack.chemistry.entropic_v_per_k * (pack.cell_temps_c - REFERENCE_TEMP_C))
    i = 40.0 / pack.parallel
    assert np.array_equal(pack.cell_voltages_v, ocv - i * (pack._r0_base * factor) - plain.v_rc.sum(axis=0))


def test_pack_soc_is_clipped_like_np_clip() -> None:
    pack = Pack.from_config("nmc", soc=0.999, seed=2)
    plain = _PlainPack(pack)
    for current in [-3.0 * pack.capacity_ah] * 50 + [3.0 * pack.capacity_ah] * 50:
        plain.step(1.0, current)
        pack.step(1.0, current)
        assert np.array_equal(pack.cell_soc, plain.soc)
    assert pack.cell_soc.max() <= 1.0


def _plain_available_a(evse: Evse) -> tuple[float | None, float | None, float, float]:
    """Cable rating, duty, pilot current and available current from the IEC formulas."""
    ohm = evse._cable_ohm
    rating = None if ohm is None else pp_resistor_to_current_a(ohm)
    duty = None if ohm is None or evse.fault is not None else current_to_pwm_duty_pct(
        min(evse._max_current_a, pp_resistor_to_current_a(ohm)))
    pilot = 0.0 if duty is None else pwm_duty_to_current_a(duty)
    available = min(pilot, rating or 0.0) if evse.cp_state.charging_allowed else 0.0
    return rating, duty, pilot, available


def test_evse_figures_follow_every_change_of_cable_offer_fault_and_readiness() -> None:
    evse = Evse(max_current_a=16.0)
    actions = [lambda e: e.plug_in(), lambda e: e.plug_in(1500.0), lambda e: e.plug_in(100.0),
               lambda e: e.unplug(), lambda e: e.set_max_current_a(6.0), lambda e: e.set_max_current_a(80.0),
               lambda e: e.set_max_current_a(25.5), lambda e: e.set_fault(EvseFault.NO_POWER),
               lambda e: e.set_fault("unavailable"), lambda e: e.clear_fault(),
               lambda e: e.set_vehicle_ready(True), lambda e: e.set_vehicle_ready(True, ventilation=True),
               lambda e: e.set_vehicle_ready(False)]
    for first, second, third in itertools.product(range(len(actions)), repeat=3):
        for index in (first, second, third):
            actions[index](evse)
            rating, duty, pilot, available = _plain_available_a(evse)
            assert evse.cable_rating_a == rating
            assert evse.pwm_duty_pct == duty
            assert evse.pilot_current_a == pilot
            assert evse.available_current_a == available
            assert evse.charging_allowed is evse.cp_state.charging_allowed
            assert evse.charging_allowed is (evse.cp_state in (CpState.C, CpState.D))


def test_a_rejected_cable_or_offer_leaves_the_figures_alone() -> None:
    evse = Evse(max_current_a=16.0)
    evse.plug_in(680.0)
    evse.set_vehicle_ready(True)
    before = _plain_available_a(evse)
    with pytest.raises(ValueError):
        evse.plug_in(5000.0)
    with pytest.raises(ValueError):
        evse.set_max_current_a(math.nan)
    assert _plain_available_a(evse) == before
    assert (evse.cable_rating_a, evse.pwm_duty_pct, evse.pilot_current_a, evse.available_current_a) == before
