"""Emulated BMS: measures the pack plant, estimates SOC, derates limits, raises faults.

Like a real BMS it sees the pack only through its sensors (a current sensor
with offset, gain error and noise; one temperature sensor per few cells), so
its SOC is a coulomb-counted estimate that drifts from the plant's truth,
which is exactly what the compute unit must live with.  Numbers live in
``bms.toml``.

The 10 Hz sample comes in two forms: :meth:`BmsNode.sample`, which the bench
runs, and the plain :class:`~hilbench.nodes.bms_reference.ReferenceBmsNode`, which
says what it computes.  ``tests/nodes/test_bms_fast_paths.py`` runs both side by
side and requires the same values, levels and timers; change the reference first.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import cast

import numpy as np

from ..bus.codec import BenchCodec, MessageCodec, quantize
from ..bus.frames import Frame
from ..bus.port import BusPort
from ..bus.roles import FAULT_LEVELS
from ..bus.sender import FrameBuilder
from ..clock import Clock
from ..plant.pack import Pack
from .base import EmulatedNode

PARAMS_FILE = Path(__file__).with_name("bms.toml")
CHEMISTRY_CODES = {"lfp": "LFP", "nmc": "NMC", "sodium_ion": "SODIUM_ION", "solid_state": "SOLID_STATE"}


class _Debounced:
    """A fault level that moves only after its condition has held for the debounce time.

    One timer per level: level k is raised once the condition has been at k or
    above for the debounce time, and lowered once it has been below k as long.
    A reading that dithers between two high levels therefore still raises the
    lower of them, instead of restarting a single timer for ever.
    """

    def __init__(self, levels: int = 3) -> None:
        self.level = 0
        self._above_since: list[float | None] = [None] * (levels + 1)
        self._below_since: list[float | None] = [None] * (levels + 1)

    def update(self, target: int, now_s: float, debounce_s: float) -> int:
        """The level after a reading that asks for ``target`` at ``now_s``."""
        level = self.level
        held = debounce_s - 1e-9
        for k in range(1, len(self._above_since)):
            if target >= k:
                self._below_since[k] = None
                since = self._above_since[k]
                if since is None:
                    since = self._above_since[k] = now_s
                if k > level and now_s - since >= held:
                    level = k
            else:
                self._above_since[k] = None
                if self._below_since[k] is None:
                    self._below_since[k] = now_s
        # Lower only as far as the condition has stayed below for the debounce time.
        while level > 0 and target < level:
            since = self._below_since[level]
            if since is None or now_s - since < held:
                break
            level -= 1
        self.level = level
        return level


class _FastDebounced(_Debounced):
    """:class:`_Debounced` that skips its pass while settled: part of :meth:`BmsNode.sample`'s fast path."""

    def __init__(self, levels: int = 3) -> None:
        super().__init__(levels)
        # The target of the previous update: while it repeats and the level has
        # reached it, every timer is already where the full update would put it.
        self._last_target: int | None = None

    def update(self, target: int, now_s: float, debounce_s: float) -> int:
        """As :meth:`_Debounced.update`, returning at once when settled (nearly always, at 0)."""
        level = self.level
        if target == level and target == self._last_target:
            return level
        self._last_target = target
        return _Debounced.update(self, target, now_s, debounce_s)


def _level(value: float, thresholds: list[float], rising: bool) -> int:
    """0..3 depending on how many thresholds ``value`` has crossed."""
    level = 0
    for i, threshold in enumerate(thresholds):
        if (value >= threshold) if rising else (value <= threshold):
            level = i + 1
    return level


class _Check:
    """One fault check: its level thresholds (WARNING, STOP_REQUEST, HARD_LIMIT) and debounce state."""

    __slots__ = ("debounced", "name", "rising", "thresholds")

    def __init__(self, name: str, thresholds: list[float], rising: bool, debounced: _Debounced) -> None:
        self.name = name
        self.thresholds = list(thresholds)
        self.rising = rising
        self.debounced = debounced

    def update(self, reading: float | None, now_s: float, debounce_s: float) -> int:
        """The debounced level after ``reading`` (None: the check rests, asking for level 0)."""
        target = 0 if reading is None else _level(reading, self.thresholds, self.rising)
        return self.debounced.update(target, now_s, debounce_s)


class _FastCheck(_Check):
    """:class:`_Check` over a :class:`_FastDebounced`: part of :meth:`BmsNode.sample`'s fast path."""

    __slots__ = ("_first",)
    debounced: _FastDebounced

    def __init__(self, name: str, thresholds: list[float], rising: bool, debounced: _FastDebounced) -> None:
        super().__init__(name, thresholds, rising, debounced)
        # The threshold a reading meets first: one short of it meets none.
        self._first = min(thresholds, default=math.inf) if rising else max(thresholds, default=-math.inf)

    def update(self, reading: float | None, now_s: float, debounce_s: float) -> int:
        """As :meth:`_Check.update`; a reading short of every threshold while settled at 0 returns 0 at once."""
        debounced = self.debounced
        if reading is None or ((reading < self._first) if self.rising else (reading > self._first)):
            if debounced.level == 0 and debounced._last_target == 0:
                return 0
            return debounced.update(0, now_s, debounce_s)
        return debounced.update(_level(reading, self.thresholds, self.rising), now_s, debounce_s)


class _OverCurrentCheck:
    """The over-current check: its thresholds are factors of the current limit of the moment."""

    __slots__ = ("debounced", "factors")

    def __init__(self, factors: tuple[float, ...], debounced: _Debounced) -> None:
        self.factors = factors
        self.debounced = debounced

    def update(self, amps: float, limit_a: float, now_s: float, debounce_s: float) -> int:
        """The debounced level after a current of ``amps`` against thresholds of each factor x ``limit_a``."""
        target = _level(amps, [f * limit_a for f in self.factors], True)
        return self.debounced.update(target, now_s, debounce_s)


class _FastOverCurrentCheck(_OverCurrentCheck):
    """:class:`_OverCurrentCheck` over a :class:`_FastDebounced`: part of :meth:`BmsNode.sample`'s fast path."""

    __slots__ = ("_lowest",)
    debounced: _FastDebounced

    def __init__(self, factors: tuple[float, ...], debounced: _FastDebounced) -> None:
        super().__init__(factors, debounced)
        self._lowest = min(factors, default=math.inf)

    def update(self, amps: float, limit_a: float, now_s: float, debounce_s: float) -> int:
        """As :meth:`_OverCurrentCheck.update`; below the lowest threshold while settled at 0, 0 at once."""
        debounced = self.debounced
        # Below the lowest factor's threshold no threshold is met (f x limit rises with f,
        # rounding included): level 0 without building the list of thresholds.
        if amps < self._lowest * limit_a:
            if debounced.level == 0 and debounced._last_target == 0:
                return 0
            return debounced.update(0, now_s, debounce_s)
        return debounced.update(_level(amps, [f * limit_a for f in self.factors], True), now_s, debounce_s)


_THOUSAND = np.array(1000.0)


def _round_to_mv(volts: np.ndarray) -> np.ndarray:
    """``volts.round(3)`` in a new array: numpy rounds to 3 decimals as rint(v * 1000) / 1000.

    Spelled out with a 0-d thousand because the method converts a Python float
    for each of its two products.
    """
    mv = np.multiply(volts, _THOUSAND)
    np.rint(mv, out=mv)
    np.divide(mv, _THOUSAND, out=mv)
    return mv


class _Ramp:
    """0 at ``zero_at``, 1 at ``full_at``, linear between, clamped (rising or falling)."""

    __slots__ = ("flat", "full_at", "span", "zero_at")

    def __init__(self, zero_at: float, full_at: float) -> None:
        self.zero_at = zero_at
        self.full_at = full_at
        self.flat = full_at == zero_at
        self.span = full_at - zero_at   # worked out once; the same value each sample

    def at(self, x: float) -> float:
        if self.flat:
            return 1.0 if x >= self.full_at else 0.0
        f = (x - self.zero_at) / self.span
        return 0.0 if f < 0 else 1.0 if f > 1 else f


class BmsNode(EmulatedNode):
    """The emulated BMS: samples the pack through imperfect sensors every ``sample_period_s``.

    Each sample updates the SOC estimate, the current limits derated by
    temperature, SOC and cell voltage, and the debounced fault levels; a hard
    limit opens the contactors until :meth:`reset_contactors`.  Scenarios inject
    sensor faults with :meth:`add_sensor_fault`.
    """

    producer = "bms"
    #: The fault-level debounce and checks of :meth:`sample`'s fast path (the reference node: their plain forms).
    _debounced_type: type[_Debounced] = _FastDebounced
    _check_type: type[_Check] = _FastCheck
    _over_current_type: type[_OverCurrentCheck] = _FastOverCurrentCheck

    def __init__(self, codec: BenchCodec, port: BusPort, clock: Clock, pack: Pack, *,
                 seed: int = 0, params_file: Path = PARAMS_FILE) -> None:
        super().__init__(codec, port, clock)
        with params_file.open("rb") as fh:
            self.params = tomllib.load(fh)
        self.pack = pack
        self._rng = np.random.default_rng([seed, 0xB35])
        self._noise: Iterator[float] = iter(())
        m = self.params["measurement"]
        self._offset_a = float(m["current_offset_a"])
        self._gain = 1.0 + float(m["current_gain_error"])
        self._noise_a = float(m["current_noise_a"])
        self._sensor_stride = int(m["temp_sensors_per_cells"])
        self.sample_period_s = float(m["sample_period_s"])
        self.soc_estimate_pct = pack.soc * 100.0   # initialised from rest OCV, as after a wake-up
        self.contactor_closed = True
        self._faults = {name: self._debounced_type() for name in (
            "cell_over_voltage", "cell_under_voltage", "over_temp_discharge", "under_temp_discharge",
            "over_temp_charge", "under_temp_charge", "over_current")}
        self._last_sample_s: float | None = None
        #: Sensor faults injected by scenarios: role -> callable(value, now_s) -> value
        self.sensor_faults: dict[str, object] = {}
        self._sensor_chains: dict[str, list[Callable[[float, float], float]]] = {}
        temp_cell = codec.signal_map.cells.get("temperature")
        self._temp_lsb_c = float(codec.message(temp_cell.message).message.get_signal_by_name(
            temp_cell.signal_name(0, 0)).scale) if temp_cell else 0.1
        self._cell_frame = {"voltage": 0, "temperature": 0, "voltage_fd": 0}
        #: What the BMS cannot send as the DBC stands (more cells than its per-cell message carries).
        self.warnings: list[str] = []
        cells_of = {"voltage": pack.series, "voltage_fd": pack.series,
                    "temperature": -(-pack.series // self._sensor_stride)}
        for kind, cell in codec.signal_map.cells.items():
            if cells_of[kind] > cell.capacity:
                self.warnings.append(
                    f'the pack has {cells_of[kind]} {"sensors" if kind == "temperature" else "cells"} but '
                    f'{cell.message} carries {cell.capacity} ({cell.frames} frames of {cell.per_frame}); '
                    f"per-cell {kind} frames stop at that many")
        self._lsb = codec.resolutions(
            ("pack_voltage_v", "pack_current_a", "soc_pct", "min_cell_voltage_v", "max_cell_voltage_v",
             "min_cell_temp_c", "max_cell_temp_c", "discharge_current_limit_a", "charge_current_limit_a"))
        chem = pack.chemistry
        flt = self.params["faults"]
        # Level thresholds per check (WARNING, STOP_REQUEST, HARD_LIMIT), fixed by the chemistry.
        self._thresholds = {
            "cell_over_voltage": [chem.max_voltage_v + m for m in flt["over_voltage_margin_v"]],
            "cell_under_voltage": [chem.min_voltage_v + m for m in flt["under_voltage_margin_v"]],
            "over_temp_discharge": [chem.discharge_max_c + m for m in flt["over_temp_margin_c"]],
            "under_temp_discharge": [chem.discharge_min_c + m for m in flt["under_temp_margin_c"]],
            "over_temp_charge": [chem.charge_max_c + m for m in flt["over_temp_margin_c"]],
            "under_temp_charge": [chem.charge_min_c + m for m in flt["under_temp_margin_c"]],
        }
        self._setup_sample_constants()
        self.sample()

    def _setup_sample_constants(self) -> None:
        """Everything ``sample`` needs that the parameters and the pack fix for good.

        ``sample`` runs at 10 Hz for simulated hours, so the parameter-table
        look-ups, chemistry limits and pack size are resolved once here (the
        pack's chemistry and size never change, and ``params`` is read only at
        construction).  Each value is the very expression ``sample`` used to
        evaluate, so the results are unchanged to the last bit.
        """
        pack = self.pack
        chem = pack.chemistry
        lim = self.params["limits"]
        flt = self.params["faults"]
        band = lim["temp_derate_band_c"]
        vband = lim["cell_voltage_derate_band_v"]
        self._ramp_dis_cold = _Ramp(chem.discharge_min_c, chem.discharge_min_c + band)
        self._ramp_dis_hot = _Ramp(chem.discharge_max_c, chem.discharge_max_c - band)
        charge_min_c = chem.charge_min_c + lim["charge_min_sensor_margin_c"]   # the unsensed cells' margin
        self._ramp_chg_cold = _Ramp(charge_min_c, charge_min_c + band)
        self._ramp_chg_hot = _Ramp(chem.charge_max_c, chem.charge_max_c - band)
        self._ramp_soc_dis = _Ramp(lim["soc_cutoff_low_pct"], lim["soc_derate_low_pct"])
        self._ramp_soc_chg = _Ramp(100.0, lim["soc_derate_high_pct"])
        self._ramp_v_dis = _Ramp(chem.min_voltage_v, chem.min_voltage_v + vband)
        self._ramp_v_chg = _Ramp(chem.max_voltage_v, chem.max_voltage_v - vband)
        self._capacity_as = pack.capacity_ah * 3600.0
        # The first factor of the DCL/CCL products, evaluated first there as here.
        self._dcl_full_a = lim["max_discharge_c_rate"] * pack.capacity_ah
        self._ccl_full_a = lim["max_charge_c_rate"] * pack.capacity_ah
        self._debounce_s = flt["debounce_s"]
        th = self._thresholds
        self._checks = tuple(self._check_type(name, th[name], rising, self._faults[name]) for name, rising in (
            ("cell_over_voltage", True), ("cell_under_voltage", False),
            ("over_temp_discharge", True), ("under_temp_discharge", False),
            ("over_temp_charge", True), ("under_temp_charge", False)))
        self._over_current = self._over_current_type(tuple(flt["over_current_factor"]), self._faults["over_current"])
        self._max_charge_voltage_v = chem.max_voltage_v * pack.series
        self._chemistry_code = CHEMISTRY_CODES.get(chem.name, "NMC")
        self._series = pack.series
        self._min_limit_v = chem.min_voltage_v
        # For the fast sample, as a 0-d array: numpy would convert a Python float operand anew at every call.
        self._temp_lsb_0d = np.array(self._temp_lsb_c)

    def add_sensor_fault(self, role: str, fault: Callable[[float, float], float]) -> Callable[[], None]:
        """Make the sensor behind ``role`` read ``fault(value, now_s)``: a scenario's sensor fault.

        Several faults on one sensor act in the order they were added, each on what the one
        before it made of the reading.  The node holds them, so two benches never share one.

        Returns:
            The call that removes this fault again (the sensor reads true once none is left).
        """
        chain = self._sensor_chains.setdefault(role, [])
        if not chain:
            def chained(value: float, now_s: float) -> float:
                for link in chain:
                    value = link(value, now_s)
                return value

            self.sensor_faults[role] = chained
        chain.append(fault)

        def remove() -> None:
            if fault in chain:
                chain.remove(fault)
            if not chain:
                self.sensor_faults.pop(role, None)

        return remove

    # -- measurement -------------------------------------------------------
    def _fault(self, role: str, value: float) -> float:
        fault = self.sensor_faults.get(role)
        return fault(value, self.clock.now) if fault is not None else value  # type: ignore[operator]

    #: Standard normal draws for the current-sensor noise are taken this many at a
    #: time: numpy's Generator fills an array with the very numbers that as many
    #: scalar draws return (tests/nodes/test_bms_fast_paths.py), at a fraction of the cost.
    NOISE_BLOCK = 1024

    def _standard_normal(self) -> float:
        """The BMS generator's next standard normal draw, as ``float(rng.standard_normal())``."""
        z = next(self._noise, None)
        if z is None:
            self._noise = iter(self._rng.standard_normal(self.NOISE_BLOCK).tolist())
            z = next(self._noise)
        return z

    def sample(self) -> None:
        """Take one set of measurements and update estimates, limits and fault levels.

        :meth:`ReferenceBmsNode.sample <hilbench.nodes.bms_reference.ReferenceBmsNode.sample>`
        is this sample written plainly.  This one runs at 10 Hz for simulated hours, so it
        takes its shortcuts: noise drawn in blocks, rounding and extremes without numpy's
        Python wrappers, debounce and checks that return at once while settled at level 0,
        no over-current thresholds below the lowest.  Measured gain (cachegrind, instructions
        per simulated second of the default bench, against the reference): 5.2 % parked,
        4.6 % plugged in.
        """
        now = self.clock.now
        pack = self.pack
        current = pack.current_a * self._gain + self._offset_a + self._noise_a * self._standard_normal()
        if self.sensor_faults:
            current = self._fault("pack_current_a", current)
        dt = 0.0 if self._last_sample_s is None else now - self._last_sample_s
        self._last_sample_s = now
        self.soc_estimate_pct = min(100.0, max(0.0, self.soc_estimate_pct - 100.0 * current * dt / self._capacity_as))

        cells = pack.cell_voltages_v
        temps = pack.cell_temps_c[:: self._sensor_stride]
        # What the ADCs deliver: 1 mV cell voltage resolution, sensors at the
        # bus resolution.  Quantising here also lets unchanged frames be reused.
        self.cell_voltages_v = _round_to_mv(cells)
        lsb_c = self._temp_lsb_0d
        sensor_temps = np.divide(temps, lsb_c)
        np.rint(sensor_temps, out=sensor_temps)
        np.multiply(sensor_temps, lsb_c, out=sensor_temps)   # np.rint(temps / lsb_c) * lsb_c
        self.sensor_temps_c = sensor_temps
        self._voltage_list = self.cell_voltages_v.tolist()
        self._temp_list = sensor_temps.tolist()
        # a.min() as a.item(a.argmin()): the same element, without the reduction machinery.
        v_min = cells.item(cells.argmin())
        v_max = cells.item(cells.argmax())
        t_min = temps.item(temps.argmin())
        t_max = temps.item(temps.argmax())
        pack_v = pack.pack_voltage_v   # the pack's own float(cells.sum())
        soc = self.soc_estimate_pct
        if self.sensor_faults:   # in the order the roles have always been offered to faults
            fault = self._fault
            v_min = fault("min_cell_voltage_v", v_min)
            v_max = fault("max_cell_voltage_v", v_max)
            t_min = fault("min_cell_temp_c", t_min)
            t_max = fault("max_cell_temp_c", t_max)
            pack_v = fault("pack_voltage_v", pack_v)
            soc = fault("soc_pct", soc)

        self._judge(now, current, pack_v, soc, v_min, v_max, t_min, t_max)

    def _judge(self, now: float, current: float, pack_v: float, soc: float, v_min: float, v_max: float,
               t_min: float, t_max: float) -> None:
        """From one sample's readings: the derated current limits, the fault levels, the contactors, ``values``.

        The same for both forms of the sample; the fault checks are the node's own
        (:attr:`_check_type`, :attr:`_over_current_type`: fast or plain).
        """
        f_temp_dis = min(self._ramp_dis_cold.at(t_min), self._ramp_dis_hot.at(t_max))
        f_temp_chg = min(self._ramp_chg_cold.at(t_min), self._ramp_chg_hot.at(t_max))
        f_soc_dis = self._ramp_soc_dis.at(soc)
        f_soc_chg = self._ramp_soc_chg.at(soc)
        f_v_dis = self._ramp_v_dis.at(v_min)
        f_v_chg = self._ramp_v_chg.at(v_max)
        dcl = self._dcl_full_a * f_temp_dis * f_soc_dis * f_v_dis
        ccl = self._ccl_full_a * f_temp_chg * f_soc_chg * f_v_chg

        deb = self._debounce_s
        charging = current < 0
        # Readings per check, in the order of ``self._checks``; the charge-window
        # checks only count while charging.
        readings = (v_max, v_min, t_max, t_min, t_max if charging else None, t_min if charging else None)
        levels = [check.update(reading, now, deb) for check, reading in zip(self._checks, readings)]
        levels.append(self._over_current.update(abs(current), max(ccl if charging else dcl, 1.0), now, deb))
        worst = max(levels)
        if worst >= 3:
            self.contactor_closed = False   # hard limit: open contactors; stays open until reset
        if not self.contactor_closed:
            dcl = ccl = 0.0

        self.version += 1
        values = self.values
        values.update({
            "pack_voltage_v": pack_v, "pack_current_a": current, "soc_pct": soc,
            "contactor_state": "CLOSED" if self.contactor_closed else "OPEN",
            "min_cell_voltage_v": v_min, "max_cell_voltage_v": v_max,
            "min_cell_temp_c": t_min, "max_cell_temp_c": t_max,
            "discharge_current_limit_a": dcl, "charge_current_limit_a": ccl,
            "max_charge_voltage_v": self._max_charge_voltage_v,
            "bms_fault_level": FAULT_LEVELS[worst],
            "chemistry": self._chemistry_code,
            "cells_in_series": self._series,
            "cell_voltage_min_limit_v": self._min_limit_v,
        })
        for check, level in zip(self._checks, levels):
            values[check.name] = FAULT_LEVELS[level]
        values["over_current"] = FAULT_LEVELS[levels[-1]]
        # Published at the bus resolution, as the BMS's transmit buffer holds them; the
        # estimate itself keeps full precision.  Repeated frames then encode from cache.
        quantize(values, self._lsb)

    def reset_contactors(self) -> None:
        """Service action: close the contactors again after a hard-limit trip."""
        self.contactor_closed = True

    def start(self) -> None:
        """Sample every ``sample_period_s`` of the bench clock from now on (once, and only if enabled)."""
        if self.enabled and not self._started:
            self.clock.call_every(self.sample_period_s, self.sample)
        super().start()

    # -- per-cell detail messages ------------------------------------------
    def _builder(self, name: str) -> FrameBuilder:
        for kind, cell in self.codec.signal_map.cells.items():
            if cell.message == name:
                return self._cell_builder(kind)
        return super()._builder(name)

    def _cell_builder(self, kind: str) -> FrameBuilder:
        cell = self.codec.signal_map.cells[kind]
        per_frame = cell.per_frame
        capacity = cell.capacity
        layout: dict[int, tuple[tuple[str, ...], int, int]] = {}

        def signals(key: Hashable) -> dict[str, float]:
            # Built from the key alone, once per new key: a function made once per builder
            # rather than a closure made per frame.  The key is the one ``build`` passes.
            frame, chunk = cast("tuple[int, tuple[float, ...]]", key)
            n = len(chunk)
            out = dict(zip(layout[frame][0], chunk + (0.0,) * (per_frame - n)))
            out[cell.multiplexer] = frame
            if cell.count_signal:
                out[cell.count_signal] = n
            return out

        def build(sender: MessageCodec) -> Frame:
            values = self._temp_list if kind == "temperature" else self._voltage_list
            count = min(len(values), capacity)
            frames = max(1, -(-count // per_frame))
            frame = self._cell_frame[kind] % frames
            self._cell_frame[kind] = frame + 1
            entry = layout.get(frame)
            if entry is None or entry[2] != count:
                names = tuple(cell.signal_name(frame, k) for k in range(per_frame))
                entry = layout[frame] = (names, frame * per_frame, count)
            base = entry[1]
            return sender.encode_detail((frame, tuple(values[base:base + per_frame])), signals)

        return build
