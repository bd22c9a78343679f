"""Two-node RC thermal model of the compute unit: junction -> heatsink -> coolant.

::

    P --> [C_j] --R_jh-- [C_h] --R_hc-- coolant (a boundary temperature)

    C_j dT_j/dt = P - (T_j - T_h) / R_jh
    C_h dT_h/dt = (T_j - T_h) / R_jh - (T_h - T_c) / R_hc

With power and coolant temperature held over a step the system is linear
time-invariant, so it is stepped exactly: ``x(t+dt) = x_ss + exp(A dt) (x - x_ss)``
with the 2x2 matrix exponential in closed form.  Exact means any ``dt`` is
stable and a long step equals many short ones, which the simulated clock
relies on when it jumps from event to event.

Steady state: ``T_j = T_c + P (R_jh + R_hc)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ThermalParams:
    """Thermal parameters of a liquid-cooled automotive compute module.

    Illustrative values, chosen (not measured) so that 60 W into 25 C coolant
    settles near 72 C and 60 W into 55 C coolant passes a 95 C passive trip,
    consistent with the junction limits in DOMAIN.md.  The junction time
    constant is seconds (die + spreader), the heatsink's minutes (cold plate).
    """

    r_jh_k_per_w: float = 0.28  # junction -> heatsink
    r_hc_k_per_w: float = 0.50  # heatsink -> coolant
    c_j_j_per_k: float = 25.0  # die, package, spreader
    c_h_j_per_k: float = 600.0  # cold plate and coolant in it

    def __post_init__(self) -> None:
        for name in ("r_jh_k_per_w", "r_hc_k_per_w", "c_j_j_per_k", "c_h_j_per_k"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: expected a positive number, got {value}")

    @property
    def r_total_k_per_w(self) -> float:
        """Junction-to-coolant thermal resistance, K/W: the steady rise per watt."""
        return self.r_jh_k_per_w + self.r_hc_k_per_w

    def steady_junction_c(self, power_w: float, coolant_c: float) -> float:
        """Junction temperature after the transients die out."""
        return coolant_c + power_w * self.r_total_k_per_w


def _expm2(m: np.ndarray) -> np.ndarray:
    """exp of a real 2x2 matrix with real eigenvalues (true for any RC network)."""
    s = 0.5 * (m[0, 0] + m[1, 1])
    disc = 0.25 * (m[0, 0] - m[1, 1]) ** 2 + m[0, 1] * m[1, 0]
    q = math.sqrt(max(disc, 0.0))
    shifted = m - s * np.eye(2)
    sinhc = math.sinh(q) / q if q > 1e-12 else 1.0
    return math.exp(s) * (math.cosh(q) * np.eye(2) + sinhc * shifted)


class ThermalModel:
    """State of the junction and heatsink temperatures; advanced by ``step``.

    The state is two Python floats and each step is eight multiply-adds: a
    tick runs ten times per simulated second for hours, where numpy's
    per-call overhead on 2-element arrays would cost more than the physics.
    """

    def __init__(self, params: ThermalParams | None = None, initial_c: float = 25.0) -> None:
        self.params = params or ThermalParams()
        p = self.params
        self._a = np.array(
            [
                [-1.0 / (p.r_jh_k_per_w * p.c_j_j_per_k), 1.0 / (p.r_jh_k_per_w * p.c_j_j_per_k)],
                [
                    1.0 / (p.r_jh_k_per_w * p.c_h_j_per_k),
                    -(1.0 / p.r_jh_k_per_w + 1.0 / p.r_hc_k_per_w) / p.c_h_j_per_k,
                ],
            ]
        )
        self._r_jh = p.r_jh_k_per_w
        self._r_hc = p.r_hc_k_per_w
        self._tj = float(initial_c)
        self._th = float(initial_c)
        self._phi_cache: dict[float, tuple[float, float, float, float]] = {}

    @property
    def junction_c(self) -> float:
        """Junction temperature, C."""
        return self._tj

    @property
    def heatsink_c(self) -> float:
        """Heatsink (cold plate) temperature, C."""
        return self._th

    def reset(self, temp_c: float) -> None:
        """Put both nodes at ``temp_c`` (a unit that has soaked at that temperature)."""
        self._tj = self._th = float(temp_c)

    def step(self, dt_s: float, power_w: float, coolant_c: float) -> float:
        """Advance by ``dt_s`` with constant power and coolant; return the junction temperature.

        Raises ``ValueError`` for a negative or non-finite ``dt_s`` or inputs.
        """
        if not (math.isfinite(dt_s) and dt_s >= 0):
            raise ValueError(f"dt_s: expected a finite number >= 0, got {dt_s}")
        if not (math.isfinite(power_w) and math.isfinite(coolant_c)):
            raise ValueError(f"power_w and coolant_c must be finite, got {power_w}, {coolant_c}")
        if dt_s == 0:
            return self._tj
        phi = self._phi_cache.get(dt_s)
        if phi is None:
            m = _expm2(self._a * dt_s)
            phi = (float(m[0, 0]), float(m[0, 1]), float(m[1, 0]), float(m[1, 1]))
            if len(self._phi_cache) < 64:
                self._phi_cache[dt_s] = phi
        t_h_ss = coolant_c + power_w * self._r_hc
        t_j_ss = t_h_ss + power_w * self._r_jh
        dj = self._tj - t_j_ss
        dh = self._th - t_h_ss
        self._tj = t_j_ss + (phi[0] * dj + phi[1] * dh)
        self._th = t_h_ss + (phi[2] * dj + phi[3] * dh)
        return self._tj
