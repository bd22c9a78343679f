"""Emulated BMS: measures the pack plant, estimates SOC, derates limits, raises faults.

Like a real BMS it sees the pack only through its sensors (a current sensor
with offset, gain error and noise; one temperature sensor per few cells), so
its SOC is a coulomb-counted estimate that drifts from the plant's truth,
which is exactly what the compute unit must live with.  Numbers live in
``bms.toml``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np

from ..bus.codec import BenchCodec, MessageCodec, quantize
from ..bus.port import BusPort
from ..bus.roles import FAULT_LEVELS
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
        held = debounce_s - 1e-9
        level = self.level
        for k in range(1, len(self._above_since)):
            if target >= k:
                self._below_since[k] = None
                if self._above_since[k] is None:
                    self._above_since[k] = now_s
                if k > level and now_s - self._above_since[k] >= held:
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


def _level(value: float, thresholds: list[float], rising: bool) -> int:
    """0..3 depending on how many thresholds ``value`` has crossed."""
    level = 0
    for i, threshold in enumerate(thresholds):
        if (value >= threshold) if rising else (value <= threshold):
            level = i + 1
    return level


def _ramp(x: float, zero_at: float, full_at: float) -> float:
    """0 at ``zero_at``, 1 at ``full_at``, linear between, clamped."""
    if full_at == zero_at:
        return 1.0 if x >= full_at else 0.0
    f = (x - zero_at) / (full_at - zero_at)
    return 0.0 if f < 0 else 1.0 if f > 1 else f


class BmsNode(EmulatedNode):
    producer = "bms"

    def __init__(self, codec: BenchCodec, port: BusPort, clock: Clock, pack: Pack, *,
                 seed: int = 0, params_file: Path = PARAMS_FILE) -> None:
        super().__init__(codec, port, clock)
        with params_file.open("rb") as fh:
            self.params = tomllib.load(fh)
        self.pack = pack
        self._rng = np.random.default_rng([seed, 0xB35])
        m = self.params["measurement"]
        self._offset_a = float(m["current_offset_a"])
        self._gain = 1.0 + float(m["current_gain_error"])
        self._noise_a = float(m["current_noise_a"])
        self._sensor_stride = int(m["temp_sensors_per_cells"])
        self.sample_period_s = float(m["sample_period_s"])
        self.soc_estimate_pct = pack.soc * 100.0   # initialised from rest OCV, as after a wake-up
        self.contactor_closed = True
        self._faults = {name: _Debounced() for name in (
            "cell_over_voltage", "cell_under_voltage", "over_temp_discharge", "under_temp_discharge",
            "over_temp_charge", "under_temp_charge", "over_current")}
        self._last_sample_s: float | None = None
        #: Sensor faults injected by scenarios: role -> callable(value, now_s) -> value
        self.sensor_faults: dict[str, object] = {}
        temp_cell = codec.signal_map.cells.get("temperature")
        self._temp_lsb_c = (codec.message(temp_cell.message).message.get_signal_by_name(
            temp_cell.signal_name(0, 0)).scale if temp_cell else 0.1)
        self._cell_frame = {"voltage": 0, "temperature": 0, "voltage_fd": 0}
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
        self.sample()

    # -- measurement -------------------------------------------------------
    def _fault(self, role: str, value: float) -> float:
        fault = self.sensor_faults.get(role)
        return fault(value, self.clock.now) if fault is not None else value  # type: ignore[operator]

    def sample(self) -> None:
        """Take one set of measurements and update estimates, limits and fault levels."""
        now = self.clock.now
        pack = self.pack
        chem = pack.chemistry
        current = pack.current_a * self._gain + self._offset_a + self._noise_a * float(self._rng.standard_normal())
        current = self._fault("pack_current_a", current)
        dt = 0.0 if self._last_sample_s is None else now - self._last_sample_s
        self._last_sample_s = now
        capacity_as = pack.capacity_ah * 3600.0
        self.soc_estimate_pct = min(100.0, max(0.0, self.soc_estimate_pct - 100.0 * current * dt / capacity_as))

        cells = pack.cell_voltages_v
        temps = pack.cell_temps_c[:: self._sensor_stride]
        # What the ADCs deliver: 1 mV cell voltage resolution, sensors at the
        # bus resolution.  Quantising here also lets unchanged frames be reused.
        self.cell_voltages_v = np.round(cells, 3)
        self.sensor_temps_c = np.round(temps / self._temp_lsb_c) * self._temp_lsb_c
        self._voltage_list = self.cell_voltages_v.tolist()
        self._temp_list = self.sensor_temps_c.tolist()
        v_min = self._fault("min_cell_voltage_v", float(cells.min()))
        v_max = self._fault("max_cell_voltage_v", float(cells.max()))
        t_min = self._fault("min_cell_temp_c", float(temps.min()))
        t_max = self._fault("max_cell_temp_c", float(temps.max()))
        pack_v = self._fault("pack_voltage_v", float(cells.sum()))
        soc = self._fault("soc_pct", self.soc_estimate_pct)

        lim = self.params["limits"]
        band = lim["temp_derate_band_c"]
        vband = lim["cell_voltage_derate_band_v"]
        f_temp_dis = min(_ramp(t_min, chem.discharge_min_c, chem.discharge_min_c + band),
                         _ramp(t_max, chem.discharge_max_c, chem.discharge_max_c - band))
        f_temp_chg = min(_ramp(t_min, chem.charge_min_c, chem.charge_min_c + band),
                         _ramp(t_max, chem.charge_max_c, chem.charge_max_c - band))
        f_soc_dis = _ramp(soc, lim["soc_cutoff_low_pct"], lim["soc_derate_low_pct"])
        f_soc_chg = _ramp(soc, 100.0, lim["soc_derate_high_pct"])
        f_v_dis = _ramp(v_min, chem.min_voltage_v, chem.min_voltage_v + vband)
        f_v_chg = _ramp(v_max, chem.max_voltage_v, chem.max_voltage_v - vband)
        dcl = lim["max_discharge_c_rate"] * pack.capacity_ah * f_temp_dis * f_soc_dis * f_v_dis
        ccl = lim["max_charge_c_rate"] * pack.capacity_ah * f_temp_chg * f_soc_chg * f_v_chg

        flt = self.params["faults"]
        deb = flt["debounce_s"]
        charging = current < 0
        th = self._thresholds
        targets = {
            "cell_over_voltage": _level(v_max, th["cell_over_voltage"], True),
            "cell_under_voltage": _level(v_min, th["cell_under_voltage"], False),
            "over_temp_discharge": _level(t_max, th["over_temp_discharge"], True),
            "under_temp_discharge": _level(t_min, th["under_temp_discharge"], False),
            "over_temp_charge": _level(t_max, th["over_temp_charge"], True) if charging else 0,
            "under_temp_charge": _level(t_min, th["under_temp_charge"], False) if charging else 0,
            "over_current": _level(abs(current), [f * max(ccl if charging else dcl, 1.0)
                                                  for f in flt["over_current_factor"]], True),
        }
        levels = {name: self._faults[name].update(target, now, deb) for name, target in targets.items()}
        worst = max(levels.values())
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
            "max_charge_voltage_v": chem.max_voltage_v * pack.series,
            "bms_fault_level": FAULT_LEVELS[worst],
            "chemistry": CHEMISTRY_CODES.get(chem.name, "NMC"),
            "cells_in_series": pack.series,
            "cell_voltage_min_limit_v": chem.min_voltage_v,
        })
        for name, level in levels.items():
            values[name] = FAULT_LEVELS[level]
        # Published at the bus resolution, as the BMS's transmit buffer holds them; the
        # estimate itself keeps full precision.  Repeated frames then encode from cache.
        quantize(values, self._lsb)

    def reset_contactors(self) -> None:
        """Service action: close the contactors again after a hard-limit trip."""
        self.contactor_closed = True

    def start(self) -> None:
        if self.enabled and not self._started:
            self.clock.call_every(self.sample_period_s, self.sample)
        super().start()

    # -- per-cell detail messages ------------------------------------------
    def _builder(self, name: str):
        for kind, cell in self.codec.signal_map.cells.items():
            if cell.message == name:
                return self._cell_builder(kind)
        return super()._builder(name)

    def _cell_builder(self, kind: str):
        cell = self.codec.signal_map.cells[kind]
        layout: dict[int, tuple[tuple[str, ...], int, int]] = {}

        def build(sender: MessageCodec):
            values = self._temp_list if kind == "temperature" else self._voltage_list
            count = len(values)
            per_frame = cell.per_frame
            frames = max(1, -(-count // per_frame))
            frame = self._cell_frame[kind] % frames
            self._cell_frame[kind] = frame + 1
            entry = layout.get(frame)
            if entry is None or entry[2] != count:
                names = tuple(cell.signal_name(frame, k) for k in range(per_frame))
                entry = layout[frame] = (names, frame * per_frame, count)
            names, base, _ = entry
            chunk = tuple(values[base:base + per_frame])

            def signals() -> dict[str, float]:
                n = len(chunk)
                out = dict(zip(names, chunk + (0.0,) * (per_frame - n)))
                out[cell.multiplexer] = frame
                if cell.count_signal:
                    out[cell.count_signal] = n
                return out

            return sender.encode_detail((frame, chunk), signals)

        return build
