"""Battery pack plant: an equivalent-circuit cell model vectorised over the series string.

Each of the ``series`` elements is a parallel group of ``parallel`` identical
cells, modelled as one cell carrying ``current / parallel``.  Per element the
state is true SOC, the voltages of the RC pairs and a lumped temperature; the
arrays are numpy so one step costs a fixed handful of vector operations,
whatever the cell count (the bench calls ``step`` at 10-100 Hz for simulated
8-hour sessions).

Model, per cell (discharge current positive):

* ``dSOC/dt = -i / (3600 * Q * f(T))`` - coulomb counting against the usable
  capacity ``Q * f(T)`` from the chemistry's capacity-vs-temperature table;
  SOC is clipped to 0..1.  (Known limit: charge is not conserved across
  temperature; counting against the fixed capacity, with the cold's loss as a
  voltage effect, needs the cold dynamics fitted first: issue 14.)
* RC pairs updated exactly for a current held over the step:
  ``v <- a v + (1 - a) R i`` with ``a = exp(-dt / tau)``.
* ``v_cell = OCV(SOC, T) - i R0(T) - sum(v_rc)``.
* Heat ``q = i^2 R0 + sum(v_rc^2 / R_rc) - i (T + 273.15) dU/dT`` (W): ohmic,
  polarisation and reversible (entropic) heat.  At the few amperes a parked car's
  computer draws, the entropic term is the larger one (NMC, -0.1 mV/K, 3 A:
  0.09 W against 0.01 W of I^2 R).  A lumped thermal mass per cell exchanges
  with ambient (and optionally coolant) through a conductance, integrated
  exactly for the step, so large steps stay stable.
* ``R0``, ``R_rc`` and ``f(T)`` follow the cell temperature, evaluated at most
  once per :attr:`Pack.TEMPERATURE_REFRESH_S` of simulated time.
* Charging a cell below its chemistry's ``charge_min_c`` plates lithium: the
  pack does not refuse the current (the BMS must), it counts it
  (:attr:`Pack.plating_ah`) and raises :attr:`Pack.plating_risk`.

These equations are written out one line each in
:class:`hilbench.plant.pack_reference.ReferencePack`, the reference model.
:class:`Pack` steps the same model with few numpy calls, bit for bit equal to it
(``tests/plant/test_fast_paths.py``); change the model there first.

Nothing here reads a clock: time only moves by the ``dt_s`` given to ``step``.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hilbench.plant.chemistry import KELVIN_OFFSET, REFERENCE_TEMP_C, Chemistry, load_chemistry

try:   # ``np.interp`` without its Python wrapper, which only picks this function for float input
    from numpy._core.multiarray import interp as _interp  # numpy >= 2 (a private module)
except ImportError:  # pragma: no cover - numpy 1.26, or a numpy that moved it: the public one, same values
    _interp = np.interp

FloatArray = npt.NDArray[np.float64]
_add_reduce = np.add.reduce   # ``a.sum()`` of a 1-D array without the method's wrapper (same bits)
_DEFAULTS_FILE = Path(__file__).with_name("pack_defaults.toml")


@cache
def _pack_defaults() -> dict[str, Any]:
    with _DEFAULTS_FILE.open("rb") as fh:
        return tomllib.load(fh)


@dataclass(frozen=True)
class CellSpread:
    """Cell-to-cell production spread; standard deviations of per-cell deviations.

    Drawn once at pack construction from ``numpy.random.default_rng(seed)``,
    so the same seed gives the same pack bit for bit.
    """

    capacity_rel_sigma: float
    r0_rel_sigma: float
    soc_sigma: float
    temp_sigma_c: float
    cooling_rel_sigma: float
    clip_sigmas: float = 3.0

    @classmethod
    def default(cls) -> CellSpread:
        """The spread in ``pack_defaults.toml``."""
        return cls(**_pack_defaults()["spread"])

    @classmethod
    def none(cls) -> CellSpread:
        """Identical cells: useful when a test wants the textbook answer."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class PackSnapshot:
    """The pack's scalars at one instant, for nodes, logs and the TUI."""

    chemistry: str
    series: int
    parallel: int
    elapsed_s: float
    pack_voltage_v: float
    current_a: float
    soc: float
    min_cell_voltage_v: float
    max_cell_voltage_v: float
    min_cell_temp_c: float
    max_cell_temp_c: float
    ambient_c: float
    capacity_ah: float
    heat_w: float
    discharge_ah: float
    charge_ah: float
    energy_throughput_wh: float
    equivalent_full_cycles: float
    plating_ah: float = 0.0


def _finite(name: str, value: float) -> float:
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return x


class Pack:
    """A battery pack of ``series`` x ``parallel`` cells of one chemistry.

    Args:
        chemistry: a :class:`Chemistry` or a name/path for :func:`load_chemistry`.
        series: cells (parallel groups) in series.
        parallel: cells per parallel group; the group shares the current equally.
        soc: initial true SOC, 0..1 (each cell gets a small deterministic spread).
        temp_c: initial cell temperature.
        ambient_c: ambient temperature; defaults to ``temp_c``.
        seed: seed for ``numpy.random.default_rng`` drawing the cell spread.
        spread: cell-to-cell spread; ``None`` means :meth:`CellSpread.default`.
        ambient_conductance_w_per_k: pack-to-ambient heat path (whole pack, W/K);
            ``None`` means the per-cell value in ``pack_defaults.toml`` x cells.
        coolant_c: coolant temperature, or ``None`` for no coolant loop.
        coolant_conductance_w_per_k: pack-to-coolant heat path (whole pack, W/K).
        isothermal: hold every cell at ambient (a climate-chamber test).

    Raises:
        ValueError: a count below 1, SOC outside 0..1, a non-finite temperature
            or a non-positive conductance.  (``ConfigError`` from loading the
            chemistry by name.)
    """

    def __init__(
        self,
        chemistry: Chemistry | str,
        series: int,
        parallel: int = 1,
        soc: float = 0.5,
        temp_c: float = REFERENCE_TEMP_C,
        ambient_c: float | None = None,
        seed: int = 0,
        spread: CellSpread | None = None,
        *,
        ambient_conductance_w_per_k: float | None = None,
        coolant_c: float | None = None,
        coolant_conductance_w_per_k: float = 0.0,
        isothermal: bool = False,
    ) -> None:
        chem = chemistry if isinstance(chemistry, Chemistry) else load_chemistry(chemistry)
        for name, count in (("series", series), ("parallel", parallel)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {count!r}")
        soc = _finite("soc", soc)
        if not 0.0 <= soc <= 1.0:
            raise ValueError(f"soc must be within 0..1, got {soc}")
        temp_c = _finite("temp_c", temp_c)
        spread = CellSpread.default() if spread is None else spread
        n = series
        n_cells = series * parallel
        if ambient_conductance_w_per_k is None:
            per_cell = _pack_defaults()["thermal"]["ambient_conductance_w_per_k_per_cell"]
            ambient_conductance_w_per_k = per_cell * n_cells
        g_amb = _finite("ambient_conductance_w_per_k", ambient_conductance_w_per_k)
        g_cool = _finite("coolant_conductance_w_per_k", coolant_conductance_w_per_k)
        if g_amb <= 0.0 or g_cool < 0.0:
            raise ValueError(
                f"ambient conductance must be > 0 and coolant conductance >= 0 W/K, got {g_amb} and {g_cool}"
            )

        self._chem = chem
        self._series = series
        self._parallel = parallel
        self._isothermal = bool(isothermal)
        self._ambient_c = temp_c if ambient_c is None else _finite("ambient_c", ambient_c)
        self._coolant_c = None if coolant_c is None else _finite("coolant_c", coolant_c)

        rng = np.random.default_rng(seed)
        clip = spread.clip_sigmas

        def draw(sigma: float) -> FloatArray:
            # Always draw, even for sigma 0, so each quantity keeps its own stream slot.
            z = np.clip(rng.standard_normal(n), -clip, clip)
            return z * sigma

        self._cap_ah = chem.capacity_ah * (1.0 + draw(spread.capacity_rel_sigma))
        r_scale = 1.0 + draw(spread.r0_rel_sigma)
        soc_dev = draw(spread.soc_sigma)
        temp_dev = draw(spread.temp_sigma_c)
        cool_scale = 1.0 + draw(spread.cooling_rel_sigma)

        self._r0_base = chem.r0_ohm * r_scale
        k = len(chem.rc_r_ohm)
        self._rc_r_base = np.asarray(chem.rc_r_ohm, dtype=np.float64).reshape(k, 1) * r_scale
        self._cap_as = self._cap_ah * 3600.0

        heat_cap = chem.thermal_mass_j_per_k
        self._heat_cap_j_per_k = heat_cap
        self._g_amb = g_amb / n_cells * cool_scale
        self._g_cool_total = g_cool
        self._g_cool = np.full(n, g_cool / n_cells)
        self._ocv_soc = np.asarray(chem.ocv_soc, dtype=np.float64)
        self._ocv_v = np.asarray(chem.ocv_voltage_v, dtype=np.float64)
        self._cap_t = np.asarray(chem.capacity_temp_c, dtype=np.float64)
        self._cap_f = np.asarray(chem.capacity_fraction, dtype=np.float64)

        self._soc = np.clip(soc + soc_dev, 0.0, 1.0)
        self._temp_c = np.full(n, self._ambient_c) if self._isothermal else temp_c + temp_dev
        self._current_a = 0.0
        self._heat = np.zeros(n)
        self._elapsed_s = 0.0
        self._discharge_ah = 0.0
        self._charge_ah = 0.0
        self._energy_wh = 0.0
        self._plating_ah = 0.0
        self._tdep_until = 0.0
        self._start_model(k, n)

    def _start_model(self, k: int, n: int) -> None:
        """The step's own state for ``k`` RC pairs and ``n`` series cells, then the first cell voltages.

        The fast step's buffers and constants; :class:`~hilbench.plant.pack_reference.ReferencePack`
        keeps the plain arrays of the model instead.
        """
        # The k RC resistances and R0 in one array (rows in the order of the drops
        # below), so that the temperature refresh and the step each scale them in one product.
        self._res_base = np.vstack((self._rc_r_base, self._r0_base))
        # Full (k, n) rather than (k, 1): the per-step products with the RC state
        # then need no broadcasting, which costs numpy twice the time of the arithmetic.
        self._rc_tau = np.repeat(np.asarray(self._chem.rc_tau_s, dtype=np.float64).reshape(k, 1), n, axis=1)
        self._init_drops(k, n)
        # As 0-d arrays: numpy converts a Python float operand anew at every call,
        # which costs a third of a product of these short arrays (same value, same bits).
        self._entropic_v_per_k = np.array(self._chem.entropic_v_per_k)
        self._entropic_v_per_k_f = self._chem.entropic_v_per_k   # a float: ``i * dU/dT`` is one number
        self._reference_temp_c = np.array(REFERENCE_TEMP_C)
        self._cache_dt = math.nan
        self._th_decay = np.ones(n)
        self._refresh_temperature_terms()
        self._update_voltages()

    def _init_drops(self, k: int, n: int) -> None:
        """The buffers of the series voltage drops, updated in place each step (they are private).

        Half 0 of ``_drops`` holds per cell the voltages across the k RC pairs and,
        as row k, across R0: an RC pair without capacitance, which follows ``R0 i``
        at once (decay 0, gain 1: ``0 v + 1 (R0 i)`` is ``R0 i`` to the bit, but for the
        sign of a zero drop, which no voltage shows).  Half 1
        holds the step's drive ``R i`` and then the RC heat.  So the textbook update
        ``v <- a v + (1 - a) R i`` of every drop is three numpy calls: ``R i`` into
        half 1, one product of both halves with ``[a; 1 - a]``, one sum of the halves.
        """
        self._drops = np.zeros((2, k + 1, n))
        self._drop_coef = np.zeros((2, k + 1, n))   # [a; 1 - a], set for each new dt
        self._drops_v = self._drops[0]
        self._drive = self._drops[1]
        self._v_rc = self._drops[0, :k]
        self._ohmic_v = self._drops[0, k]
        self._rc_heat = self._drops[1, :k]
        # Per cell the sums over the RC pairs of both halves (voltage, heat).  numpy
        # sums rows one after the other, so for the usual two pairs one add of the
        # row views gives the same bits as the reduction at a fraction of its cost.
        self._pair_sums = np.zeros((2, n))
        self._rc_v_sum, self._rc_heat_sum = self._pair_sums
        self._first_two_pairs = (self._drops[:, 0], self._drops[:, 1]) if k == 2 else None

    @classmethod
    def from_config(
        cls,
        chemistry: Chemistry | str = "nmc",
        series: int | None = None,
        parallel: int | None = None,
        **kwargs: Any,
    ) -> Pack:
        """A 400 V class pack: series/parallel default to the chemistry file's ``[pack]`` table."""
        chem = chemistry if isinstance(chemistry, Chemistry) else load_chemistry(chemistry)
        return cls(
            chem,
            chem.series_400v if series is None else series,
            chem.parallel_default if parallel is None else parallel,
            **kwargs,
        )

    # --- stepping -----------------------------------------------------------

    def step(self, dt_s: float, current_a: float) -> None:
        """Advance the pack by ``dt_s`` seconds with ``current_a`` held constant.

        ``current_a`` is the pack current: positive discharges, negative charges.

        Raises:
            ValueError: ``dt_s`` not finite and > 0, or ``current_a`` not finite.
        """
        dt = float(dt_s)
        if not (dt > 0.0 and math.isfinite(dt)):
            raise ValueError(f"dt_s must be a finite number > 0, got {dt_s!r}")
        current = float(current_a)
        if not math.isfinite(current):
            raise ValueError(f"current_a must be finite, got {current_a!r}")
        if current < 0.0 and self._temp_c.min() < self._chem.charge_min_c:
            # Charge into a cell colder than its chemistry allows (its temperature as the step starts).
            self._plating_ah -= current * dt / 3600.0
        self._step(dt, current)
        self._current_a = current
        self._elapsed_s += dt
        if current > 0.0:
            self._discharge_ah += current * dt / 3600.0
        else:
            self._charge_ah -= current * dt / 3600.0
        self._energy_wh += abs(self._pack_voltage_v * current) * dt / 3600.0

    def _step(self, dt: float, current: float) -> None:
        """The model of the module docstring over ``dt`` seconds: SOC, drops, heat, temperatures, voltages.

        :meth:`ReferencePack._step <hilbench.plant.pack_reference.ReferencePack._step>` is the
        same step, an equation a line.  This one runs at 10-100 Hz for hours, and every numpy
        call on these short arrays costs about as much as its arithmetic, so it makes few:
        constants per ``dt`` cached, clipping in place and one-sided, the drops in one buffer
        (:meth:`_init_drops`), 0-d constants, numpy's interp and add without their Python
        wrappers, sums nobody asked for left to the reader.  Each expression is evaluated in
        the order of the reference's, so results are the same to the bit.  Measured gain (cachegrind,
        instructions per simulated second of the default bench, against the reference):
        7.4 % parked, 5.8 % plugged in.
        """
        # The arrays the pack hands out (SOC, temperatures, cell voltages) are new ones
        # each step, so a caller's earlier array never changes.
        if dt != self._cache_dt:
            self._set_step_constants(dt)
        i = current / self._parallel
        temp = self._temp_c
        if self._elapsed_s >= self._tdep_until:
            self._refresh_temperature_terms()

        # np.clip(soc, 0, 1) without its Python wrapper (same values: SOC is never -0.0).
        # SOC starts within 0..1 and moves one way per step, so only the bound it moves
        # towards can be crossed; clipping against the other one would change nothing.
        soc = self._soc - (i * dt) / self._usable_as
        if i > 0.0:
            np.maximum(soc, 0.0, out=soc)
        elif i < 0.0:
            np.minimum(soc, 1.0, out=soc)
        self._soc = soc

        # Every drop v <- a v + (1 - a) R i (see _init_drops), then the RC heat v^2 / R.
        drops_v = self._drops_v
        np.multiply(self._res, i, out=self._drive)
        np.multiply(self._drop_coef, self._drops, out=self._drops)
        np.add(drops_v, self._drive, out=drops_v)
        rc_heat = self._rc_heat
        np.multiply(self._v_rc, self._v_rc, out=rc_heat)
        np.divide(rc_heat, self._rc_r, out=rc_heat)
        if self._first_two_pairs is not None:
            np.add(*self._first_two_pairs, out=self._pair_sums)
        else:
            np.add.reduce(self._drops[:, : len(self._v_rc)], axis=1, out=self._pair_sums)

        heat = (i * i) * self._r0
        heat += self._rc_heat_sum
        reversible = temp + KELVIN_OFFSET
        reversible *= i * self._entropic_v_per_k_f
        heat -= reversible
        self._heat = heat

        if self._isothermal:
            self._temp_c = np.full(self._series, self._ambient_c)
        else:
            g_cool = self._g_cool
            if self._coolant_c is None or self._g_cool_total == 0.0:
                t_eq = self._ambient_c + heat / self._g_amb
            else:
                t_eq = (self._g_amb * self._ambient_c + g_cool * self._coolant_c + heat) / (self._g_amb + g_cool)
            self._temp_c = t_eq + (temp - t_eq) * self._th_decay

        self._update_voltages()

    def _set_step_constants(self, dt: float) -> None:
        """Decay factors for a step of ``dt`` seconds (the bench keeps one ``dt``)."""
        k = len(self._v_rc)
        decay = np.exp(-dt / self._rc_tau)
        self._drop_coef[0, :k] = decay
        self._drop_coef[1, :k] = 1.0 - decay
        self._drop_coef[0, k] = 0.0   # R0: no memory ...
        self._drop_coef[1, k] = 1.0   # ... its drop is R0 i
        self._th_decay = np.exp(-(self._g_amb + self._g_cool) * dt / self._heat_cap_j_per_k)
        self._cache_dt = dt

    #: Temperature-dependent terms (resistances, usable capacity) are refreshed
    #: at most this often: cell temperatures move by far less than 0.1 C in a
    #: second, while recomputing them every 100 ms step was a third of the cost.
    TEMPERATURE_REFRESH_S = 1.0

    def _refresh_temperature_terms(self) -> None:
        """Resistances and usable capacity at the present cell temperatures, until the next refresh."""
        temp = self._temp_c
        factor = self._chem.resistance_factor(temp)
        # New arrays (not in place): the previous ones may still be held by a reader.
        self._res = self._res_base * factor
        self._rc_r = self._res[:-1]
        self._r0 = self._res[-1]
        self._usable_as = self._cap_as * _interp(temp, self._cap_t, self._cap_f, None, None)
        self._tdep_until = self._elapsed_s + self.TEMPERATURE_REFRESH_S

    def _update_voltages(self) -> None:
        """Cell voltages from SOC and temperature (OCV) less the drops of the last step."""
        ocv = _interp(self._soc, self._ocv_soc, self._ocv_v, None, None)
        entropic = self._temp_c - self._reference_temp_c
        entropic *= self._entropic_v_per_k
        ocv += entropic
        ocv -= self._ohmic_v
        ocv -= self._rc_v_sum
        # setflags: the same as ``flags.writeable = False`` without building a flags object.
        ocv.setflags(write=False)
        self._cell_v = ocv
        self._pack_voltage_v = float(_add_reduce(ocv))
        self._soc.setflags(write=False)
        self._temp_c.setflags(write=False)

    # --- scenario setters ---------------------------------------------------

    @property
    def ambient_c(self) -> float:
        """Ambient temperature around the pack, C (settable by scenarios)."""
        return self._ambient_c

    @ambient_c.setter
    def ambient_c(self, value: float) -> None:
        self._ambient_c = _finite("ambient_c", value)

    @property
    def coolant_c(self) -> float | None:
        """Coolant inlet temperature, C, or ``None`` when no coolant flows (settable)."""
        return self._coolant_c

    @coolant_c.setter
    def coolant_c(self, value: float | None) -> None:
        self._coolant_c = None if value is None else _finite("coolant_c", value)

    def set_cell_temps_c(self, temps_c: npt.ArrayLike) -> None:
        """Force cell temperatures (a scalar or one value per series element): soak or fault injection.

        The thermal model carries on from these values at the next step (an
        isothermal pack snaps back to ambient).

        Raises:
            ValueError: wrong length or a non-finite value.
        """
        arr = np.broadcast_to(np.asarray(temps_c, dtype=np.float64), (self._series,)).copy()
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"cell temperatures must be finite, got {temps_c!r}")
        arr.flags.writeable = False
        self._temp_c = arr
        self._retemper()

    def _retemper(self) -> None:
        """After forced temperatures: their resistances, and the voltages of the current still flowing."""
        self._refresh_temperature_terms()
        # The ohmic drop of the current still flowing, through the new R0.
        np.multiply(self._r0, self._current_a / self._parallel, out=self._ohmic_v)
        self._update_voltages()

    # --- read-only state ----------------------------------------------------

    @property
    def chemistry(self) -> Chemistry:
        """The cell chemistry every cell of the pack shares."""
        return self._chem

    @property
    def series(self) -> int:
        """Parallel groups in series: the length of every per-cell array."""
        return self._series

    @property
    def parallel(self) -> int:
        """Cells per parallel group, sharing its current equally."""
        return self._parallel

    @property
    def elapsed_s(self) -> float:
        """Sum of all ``dt_s`` stepped so far."""
        return self._elapsed_s

    @property
    def capacity_ah(self) -> float:
        """Rated pack capacity: cell Ah x parallel (at 25 C, before spread)."""
        return self._chem.capacity_ah * self._parallel

    @property
    def current_a(self) -> float:
        """Pack current of the last step, A (positive = discharge)."""
        return self._current_a

    @property
    def pack_voltage_v(self) -> float:
        """Terminal voltage of the pack, V."""
        return self._pack_voltage_v

    @property
    def soc(self) -> float:
        """True mean SOC, 0..1, weighted by cell capacity."""
        return float(np.dot(self._soc, self._cap_ah) / self._cap_ah.sum())

    @property
    def cell_soc(self) -> FloatArray:
        """True SOC per series element (read-only array)."""
        return self._soc

    @property
    def cell_voltages_v(self) -> FloatArray:
        """Terminal voltage per series element, V (read-only array)."""
        return self._cell_v

    @property
    def cell_temps_c(self) -> FloatArray:
        """Temperature per series element, C (read-only array)."""
        return self._temp_c

    @property
    def min_cell_voltage_v(self) -> float:
        """Lowest terminal voltage of a series element, V: what discharge cut-offs watch."""
        return float(self._cell_v.min())

    @property
    def max_cell_voltage_v(self) -> float:
        """Highest terminal voltage of a series element, V: what charge limits watch."""
        return float(self._cell_v.max())

    @property
    def min_cell_temp_c(self) -> float:
        """Coldest series element, C."""
        return float(self._temp_c.min())

    @property
    def max_cell_temp_c(self) -> float:
        """Hottest series element, C."""
        return float(self._temp_c.max())

    @property
    def heat_w(self) -> float:
        """Heat generated in all cells during the last step, W."""
        # Summed when asked: the bench reads it only for snapshots, far less often than it steps.
        return float(self._heat.sum()) * self._parallel

    @property
    def discharge_ah(self) -> float:
        """Ah taken out of the pack so far."""
        return self._discharge_ah

    @property
    def charge_ah(self) -> float:
        """Ah put into the pack so far."""
        return self._charge_ah

    @property
    def plating_ah(self) -> float:
        """Ah charged while a cell was colder than the chemistry's ``charge_min_c``."""
        return self._plating_ah

    @property
    def plating_risk(self) -> bool:
        """True once any charge went into a cell below ``charge_min_c`` (lithium plating risk)."""
        return self._plating_ah > 0.0

    @property
    def energy_throughput_wh(self) -> float:
        """Energy through the terminals so far, both directions, Wh."""
        return self._energy_wh

    @property
    def equivalent_full_cycles(self) -> float:
        """Discharge Ah throughput divided by rated capacity: the wear the bench reports."""
        return self._discharge_ah / self.capacity_ah

    def snapshot(self) -> PackSnapshot:
        """The scalars of the pack now, as a frozen record."""
        return PackSnapshot(
            chemistry=self._chem.name,
            series=self._series,
            parallel=self._parallel,
            elapsed_s=self._elapsed_s,
            pack_voltage_v=self._pack_voltage_v,
            current_a=self._current_a,
            soc=self.soc,
            min_cell_voltage_v=self.min_cell_voltage_v,
            max_cell_voltage_v=self.max_cell_voltage_v,
            min_cell_temp_c=self.min_cell_temp_c,
            max_cell_temp_c=self.max_cell_temp_c,
            ambient_c=self._ambient_c,
            capacity_ah=self.capacity_ah,
            heat_w=self.heat_w,
            discharge_ah=self._discharge_ah,
            charge_ah=self._charge_ah,
            energy_throughput_wh=self._energy_wh,
            equivalent_full_cycles=self.equivalent_full_cycles,
            plating_ah=self._plating_ah,
        )

    def __repr__(self) -> str:
        return (
            f"Pack({self._chem.name!r}, {self._series}s{self._parallel}p, soc={self.soc:.3f}, "
            f"{self._pack_voltage_v:.1f} V, {self._current_a:.1f} A)"
        )
