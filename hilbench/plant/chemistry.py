"""Cell chemistries as data: a frozen :class:`Chemistry` loaded from a TOML file.

The numbers live in ``hilbench/plant/chemistries/*.toml``, each with its
source noted, so that a lab can drop in the datasheet of a real cell without
touching code.  Loading validates everything up front (cantools style): a bad
table is refused with :class:`~hilbench.errors.ConfigError` naming the file,
the entry (``ocv.voltage_v[3]``) and the reason, before any pack is built.

Model conventions shared with :mod:`hilbench.plant.pack`:

* SOC 0 and SOC 1 are the points where the open-circuit voltage (OCV) reaches
  the discharge and charge cut-offs (``min_v``/``max_v``), so a CC/CV charge to
  ``max_v`` ends at SOC 1 and a discharge to ``min_v`` at SOC 0.
* OCV(SOC, T) = OCV25(SOC) + entropic_v_per_k * (T - 25 C).
* Every resistance (R0 and the RC pairs) scales with temperature by one Arrhenius
  factor, ``exp(activation_temp_k * (1 / T - 1 / 298.15 K))``: charge transfer and ion
  transport are thermally activated, so one law covers the cold and the warm side alike
  (LFP and NMC fitted to DFN pulses, fixtures/plant_reference/fit_dynamics.py).
* The usable fraction of rated capacity depends on temperature (table).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hilbench.errors import ConfigError
from hilbench.schema import TEMPERATURE, Problems, read_toml

CHEMISTRY_DIR = Path(__file__).with_name("chemistries")
REFERENCE_TEMP_C = 25.0
"""Temperature at which R0, RC pairs and the OCV table are given."""
KELVIN_OFFSET = 273.15
"""0 C in kelvin: the reversible heat ``-i T dU/dT`` takes the absolute temperature."""

FloatArray = npt.NDArray[np.float64]
#: A table lookup's argument: one number, or a sequence or array of them (``np.interp`` takes no other).
FloatsLike = float | Sequence[float] | npt.NDArray[np.floating[Any]]


@dataclass(frozen=True)
class Chemistry:
    """Parameters of one cell type; pure data plus vectorised look-ups.

    All tuples are kept as tuples so the object is hashable and comparable;
    the numpy copies used by the look-ups are built once in ``__post_init__``.
    """

    name: str
    display_name: str
    nominal_voltage_v: float
    max_voltage_v: float
    min_voltage_v: float
    capacity_ah: float
    capacity_temp_c: tuple[float, ...]
    capacity_fraction: tuple[float, ...]
    ocv_soc: tuple[float, ...]
    ocv_voltage_v: tuple[float, ...]
    entropic_v_per_k: float
    r0_ohm: float
    r_activation_temp_k: float
    rc_r_ohm: tuple[float, ...]
    rc_tau_s: tuple[float, ...]
    discharge_min_c: float
    discharge_max_c: float
    charge_min_c: float
    charge_max_c: float
    cell_mass_kg: float
    specific_heat_j_per_kg_k: float
    cycle_life: int
    series_400v: int
    parallel_default: int = 1
    sources: tuple[tuple[str, str], ...] = ()
    source_file: str | None = None
    _ocv_soc_arr: FloatArray = field(init=False, repr=False, compare=False)
    _ocv_v_arr: FloatArray = field(init=False, repr=False, compare=False)
    _cap_t_arr: FloatArray = field(init=False, repr=False, compare=False)
    _cap_f_arr: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for attr, values in (
            ("_ocv_soc_arr", self.ocv_soc),
            ("_ocv_v_arr", self.ocv_voltage_v),
            ("_cap_t_arr", self.capacity_temp_c),
            ("_cap_f_arr", self.capacity_fraction),
        ):
            arr = np.asarray(values, dtype=np.float64)
            arr.flags.writeable = False
            object.__setattr__(self, attr, arr)

    @property
    def thermal_mass_j_per_k(self) -> float:
        """Heat capacity of one cell, J/K."""
        return self.cell_mass_kg * self.specific_heat_j_per_kg_k

    @property
    def energy_wh(self) -> float:
        """Rated cell energy at nominal voltage, Wh."""
        return self.capacity_ah * self.nominal_voltage_v

    def ocv_v(self, soc: FloatsLike, temp_c: npt.ArrayLike = REFERENCE_TEMP_C) -> FloatArray:
        """Open-circuit voltage per cell (V) at ``soc`` (0..1, clipped) and ``temp_c``."""
        base = np.interp(soc, self._ocv_soc_arr, self._ocv_v_arr)
        return base + self.entropic_v_per_k * (np.asarray(temp_c, dtype=np.float64) - REFERENCE_TEMP_C)

    def resistance_factor(self, temp_c: npt.ArrayLike) -> FloatArray:
        """Multiplier on every resistance at ``temp_c`` relative to 25 C."""
        t_k = np.asarray(temp_c, dtype=np.float64) + KELVIN_OFFSET
        return np.exp(self.r_activation_temp_k * (1.0 / t_k - 1.0 / (REFERENCE_TEMP_C + KELVIN_OFFSET)))

    def r0_ohm_at(self, temp_c: npt.ArrayLike) -> FloatArray:
        """Ohmic resistance of one nominal cell at ``temp_c``, ohm."""
        return self.r0_ohm * self.resistance_factor(temp_c)

    def capacity_fraction_at(self, temp_c: FloatsLike) -> FloatArray | np.float64:
        """Usable fraction of rated capacity at ``temp_c`` (held flat outside the table); a scalar for a number."""
        return np.interp(temp_c, self._cap_t_arr, self._cap_f_arr)

    def source(self, entry: str) -> str | None:
        """Where the number at ``entry`` (``"resistance.r0_ohm"``) comes from; None for no such entry."""
        return dict(self.sources).get(entry)


def available_chemistries() -> list[str]:
    """Names of the chemistries shipped with hilbench, sorted."""
    return sorted(p.stem for p in CHEMISTRY_DIR.glob("*.toml"))


def load_chemistry(name_or_path: str | os.PathLike[str]) -> Chemistry:
    """Load a shipped chemistry by name (``"lfp"``, ``"sodium-ion"``) or any TOML file by path.

    Raises:
        ConfigError: unknown name, unreadable file, TOML syntax error, or any
            missing, mistyped or implausible entry; the message names the file,
            the entry and the reason.
    """
    path = _resolve(name_or_path)
    if not path.is_file():
        raise ConfigError(path, None, "chemistry file not found")
    data, text = read_toml(path, "a chemistry")
    return _parse(path, data, text)


def _resolve(name_or_path: str | os.PathLike[str]) -> Path:
    text = os.fspath(name_or_path)
    is_path = isinstance(name_or_path, os.PathLike) or text.endswith(".toml") or os.sep in text or "/" in text
    if is_path:
        return Path(text)
    key = text.strip().lower().replace("-", "_").replace(" ", "_")
    known = available_chemistries()
    if key not in known:
        raise ConfigError(
            None, "chemistry", f"unknown chemistry {text!r}; known chemistries: {', '.join(known)}"
        )
    return CHEMISTRY_DIR / f"{key}.toml"


# --- validation -------------------------------------------------------------

_SCHEMA: dict[str, set[str]] = {
    "": {"name", "display_name", "voltage", "capacity", "ocv", "resistance",
         "temperature_limits", "thermal", "life", "pack", "sources"},
    "voltage": {"nominal_v", "max_v", "min_v"},
    "capacity": {"rated_ah", "temp_c", "fraction"},
    "ocv": {"soc", "voltage_v", "entropic_v_per_k"},
    "resistance": {"r0_ohm", "activation_temp_k", "rc_r_ohm", "rc_tau_s"},
    "temperature_limits": {"discharge_min_c", "discharge_max_c", "charge_min_c", "charge_max_c"},
    "thermal": {"cell_mass_kg", "specific_heat_j_per_kg_k"},
    "life": {"cycle_life"},
    "pack": {"series_400v", "parallel"},
}


def _fmt_v(x: float) -> str:
    """Format a voltage with at least two decimals (3.30, 3.285)."""
    text = f"{x:.4f}".rstrip("0")
    decimals = len(text.split(".")[1]) if "." in text else 0
    return f"{x:.{max(decimals, 2)}f}"


class _Refused(Exception):
    """An entry was refused (its problem is recorded): what depends on it is not checked further."""


class _Absent(dict):
    """A table that is missing or not a table (already reported): its keys are not reported again."""


class _Reader:
    """Typed access to the parsed TOML; every refused entry is recorded in ``problems``, with its line."""

    def __init__(self, file: Path, data: dict[str, Any], text: str = "") -> None:
        self.file = file
        self.data = data
        self.problems = Problems(file, text)

    def fail(self, entry: str | None, reason: str) -> _Refused:
        self.problems.add(entry, reason)
        return _Refused(entry)

    def get(self, read: Any, *args: Any, **kwargs: Any) -> Any:
        """``read(*args, **kwargs)``, or None when the entry is refused (and recorded)."""
        try:
            return read(*args, **kwargs)
        except _Refused:
            return None

    def table(self, name: str, *, optional: bool = False) -> dict[str, Any]:
        value = self.data.get(name)
        if value is None:
            if optional:
                return {}
            self.fail(name, f"missing table [{name}]")
            return _Absent()
        if not isinstance(value, dict):
            self.fail(name, f"expected a table [{name}], got {type(value).__name__}")
            return _Absent()
        allowed = _SCHEMA.get(name)
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    self.fail(f"{name}.{key}", f"unknown key; expected one of {', '.join(sorted(allowed))}")
        return value

    def string(self, table: dict[str, Any], prefix: str, key: str) -> str:
        if isinstance(table, _Absent):
            raise _Refused(key)
        entry = f"{prefix}{key}"
        if key not in table:
            raise self.fail(entry, "missing key")
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(entry, f"expected a non-empty string, got {value!r}")
        return value

    def number(self, table: dict[str, Any], prefix: str, key: str, *, unit: str = "",
               low: float | None = None, high: float | None = None, low_open: bool = False,
               default: float | None = None) -> float:
        if isinstance(table, _Absent):
            raise _Refused(key)
        entry = f"{prefix}{key}"
        if key not in table:
            if default is not None:
                return default
            raise self.fail(entry, "missing key")
        return self._check_number(entry, table[key], unit, low, high, low_open)

    def _check_number(self, entry: str, value: Any, unit: str, low: float | None,
                      high: float | None, low_open: bool) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(entry, f"expected a number{f' in {unit}' if unit else ''}, got {value!r}")
        x = float(value)
        suffix = f" {unit}" if unit else ""
        if not math.isfinite(x):
            raise self.fail(entry, f"expected a finite number, got {x}")
        if low is not None and (x <= low if low_open else x < low):
            op = "greater than" if low_open else "at least"
            raise self.fail(entry, f"expected a value {op} {low:g}{suffix}, got {x:g}{suffix}")
        if high is not None and x > high:
            raise self.fail(entry, f"expected a value of at most {high:g}{suffix}, got {x:g}{suffix}")
        return x

    def integer(self, table: dict[str, Any], prefix: str, key: str, *, low: int = 1,
                default: int | None = None) -> int:
        if isinstance(table, _Absent):
            raise _Refused(key)
        entry = f"{prefix}{key}"
        if key not in table:
            if default is not None:
                return default
            raise self.fail(entry, "missing key")
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(entry, f"expected an integer, got {value!r}")
        if value < low:
            raise self.fail(entry, f"expected an integer of at least {low}, got {value}")
        return value

    def numbers(self, table: dict[str, Any], prefix: str, key: str, *, unit: str = "",
                low: float | None = None, high: float | None = None, low_open: bool = False,
                min_len: int = 1, increasing: bool = False) -> tuple[float, ...]:
        if isinstance(table, _Absent):
            raise _Refused(key)
        entry = f"{prefix}{key}"
        if key not in table:
            raise self.fail(entry, "missing key")
        raw = table[key]
        if not isinstance(raw, list):
            raise self.fail(entry, f"expected a list of numbers, got {raw!r}")
        if len(raw) < min_len:
            raise self.fail(entry, f"expected at least {min_len} values, got {len(raw)}")
        checked = [self.get(self._check_number, f"{entry}[{i}]", v, unit, low, high, low_open)
                   for i, v in enumerate(raw)]
        if any(v is None for v in checked):
            raise _Refused(entry)
        values = tuple(checked)
        if increasing:
            for i in range(1, len(values)):
                if values[i] <= values[i - 1]:
                    raise self.fail(
                        f"{entry}[{i}]",
                        f"values must strictly increase, but {values[i]:g}{unit and ' ' + unit} "
                        f"follows {values[i - 1]:g}{unit and ' ' + unit}",
                    )
        return values


def _parse(file: Path, data: dict[str, Any], text: str = "") -> Chemistry:
    """Every entry checked; every problem of the file raised together.

    An entry that is refused is left out of the checks that depend on it (the OCV
    table is not held to a cut-off voltage that was itself refused).
    """
    r = _Reader(file, data, text)
    get = r.get
    for key in data:
        if key not in _SCHEMA[""]:
            r.fail(key, f"unknown key; expected one of {', '.join(sorted(_SCHEMA['']))}")
    name = get(r.string, data, "", "name")
    display_name = data.get("display_name", name)
    if not isinstance(display_name, str):
        r.fail("display_name", f"expected a string, got {display_name!r}")

    volt = r.table("voltage")
    min_v = get(r.number, volt, "voltage.", "min_v", unit="V", low=0.0, low_open=True)
    nominal_v = get(r.number, volt, "voltage.", "nominal_v", unit="V", low=min_v or 0.0, low_open=True)
    max_v = get(r.number, volt, "voltage.", "max_v", unit="V", low=nominal_v or min_v or 0.0, low_open=True)

    cap = r.table("capacity")
    capacity_ah = get(r.number, cap, "capacity.", "rated_ah", unit="Ah", low=0.0, low_open=True)
    cap_t = get(r.numbers, cap, "capacity.", "temp_c", unit="C", low=TEMPERATURE.low, high=TEMPERATURE.high,
                increasing=True)
    cap_f = get(r.numbers, cap, "capacity.", "fraction", low=0.0, high=1.0, low_open=True)
    if cap_t is not None and cap_f is not None and len(cap_f) != len(cap_t):
        r.fail("capacity.fraction", f"expected {len(cap_t)} values (one per capacity.temp_c), got {len(cap_f)}")

    ocv = r.table("ocv")
    soc = get(r.numbers, ocv, "ocv.", "soc", low=0.0, high=1.0, min_len=2, increasing=True)
    if soc is not None and (soc[0] != 0.0 or soc[-1] != 1.0):
        r.fail("ocv.soc", f"must run from 0 to 1, but runs from {soc[0]:g} to {soc[-1]:g}")
    ocv_v = get(r.numbers, ocv, "ocv.", "voltage_v", unit="V")
    if ocv_v is not None and soc is not None:
        if len(ocv_v) != len(soc):
            r.fail("ocv.voltage_v", f"expected {len(soc)} values (one per ocv.soc), got {len(ocv_v)}")
        else:
            _check_ocv(r, soc, ocv_v, min_v, max_v)
    entropic = get(r.number, ocv, "ocv.", "entropic_v_per_k", unit="V/K", low=-0.005, high=0.005, default=0.0)

    res = r.table("resistance")
    r0 = get(r.number, res, "resistance.", "r0_ohm", unit="ohm", low=0.0, high=10.0, low_open=True)
    # Activation energy / R: 0 is no temperature dependence; 20,000 K (1.7 eV) is beyond any cell.
    activation = get(r.number, res, "resistance.", "activation_temp_k", unit="K", low=0.0, high=20000.0)
    # RC pairs are optional (a pure R0 model is legal); both lists or neither.
    rc_r: tuple[float, ...] | None = ()
    rc_tau: tuple[float, ...] | None = ()
    if "rc_r_ohm" in res or "rc_tau_s" in res:
        rc_r = get(r.numbers, res, "resistance.", "rc_r_ohm", unit="ohm", low=0.0, high=10.0, low_open=True,
                   min_len=0)
        rc_tau = get(r.numbers, res, "resistance.", "rc_tau_s", unit="s", low=0.0, low_open=True, min_len=0)
    if rc_r is not None and rc_tau is not None and len(rc_r) != len(rc_tau):
        r.fail("resistance.rc_tau_s", f"expected {len(rc_r)} values (one per resistance.rc_r_ohm), got {len(rc_tau)}")

    lim = r.table("temperature_limits")
    prefix = "temperature_limits."
    plausible = {"unit": "C", "low": TEMPERATURE.low, "high": TEMPERATURE.high}
    dis_min = get(r.number, lim, prefix, "discharge_min_c", **plausible)
    dis_max = get(r.number, lim, prefix, "discharge_max_c",
                  **{**plausible, "low": dis_min if dis_min is not None else TEMPERATURE.low},
                  low_open=dis_min is not None)
    chg_min = get(r.number, lim, prefix, "charge_min_c", **plausible)
    chg_max = get(r.number, lim, prefix, "charge_max_c",
                  **{**plausible, "low": chg_min if chg_min is not None else TEMPERATURE.low},
                  low_open=chg_min is not None)

    th = r.table("thermal")
    mass = get(r.number, th, "thermal.", "cell_mass_kg", unit="kg", low=0.0, low_open=True)
    cp = get(r.number, th, "thermal.", "specific_heat_j_per_kg_k", unit="J/(kg K)", low=0.0, low_open=True)

    life = r.table("life")
    cycle_life = get(r.integer, life, "life.", "cycle_life")

    pack = r.table("pack")
    series = get(r.integer, pack, "pack.", "series_400v")
    parallel = get(r.integer, pack, "pack.", "parallel", default=1)

    sources = _read_sources(r)

    r.problems.raise_if_any()
    assert rc_r is not None and rc_tau is not None   # a refused entry (None) was raised just above
    return Chemistry(
        name=name, display_name=display_name,
        nominal_voltage_v=nominal_v, max_voltage_v=max_v, min_voltage_v=min_v,
        capacity_ah=capacity_ah, capacity_temp_c=cap_t, capacity_fraction=cap_f,
        ocv_soc=soc, ocv_voltage_v=ocv_v, entropic_v_per_k=entropic,
        r0_ohm=r0, r_activation_temp_k=activation,
        rc_r_ohm=rc_r, rc_tau_s=rc_tau,
        discharge_min_c=dis_min, discharge_max_c=dis_max, charge_min_c=chg_min, charge_max_c=chg_max,
        cell_mass_kg=mass, specific_heat_j_per_kg_k=cp, cycle_life=cycle_life,
        series_400v=series, parallel_default=parallel,
        sources=tuple(sorted(sources.items())), source_file=str(file),
    )


def _read_sources(r: _Reader) -> dict[str, str]:
    """``[sources.TABLE]``: where each number comes from, as ``{"table.key": source}``.

    Every entry of every table must have one (a plant is only as defensible as its least
    sourced number); a source for an entry that is not there is refused too.
    """
    given = r.table("sources")
    sources: dict[str, str] = {}
    for table, allowed in _SCHEMA.items():
        if not table:
            continue
        data = r.data.get(table)
        entries = given.get(table, {})
        if not isinstance(entries, dict):
            r.fail(f"sources.{table}", f"expected a table [sources.{table}] of one source per entry, got {entries!r}")
            continue
        for key in entries:
            if key not in allowed or not isinstance(data, dict) or key not in data:
                r.fail(f"sources.{table}.{key}", f"a source for {table}.{key}, which the file does not set")
        if not isinstance(data, dict):
            continue
        for key in data:
            if key not in allowed:
                continue   # reported as an unknown key
            source = entries.get(key)
            if not isinstance(source, str) or not source.strip():
                reason = "missing: every number needs its source" if source is None else (
                    f"expected a string naming the source, got {source!r}")
                r.fail(f"sources.{table}.{key}", reason)
            else:
                sources[f"{table}.{key}"] = source
    for table in given:
        if table not in _SCHEMA or not table:
            tables = ", ".join(sorted(_SCHEMA)[1:])
            r.fail(f"sources.{table}", f"no such table; sources are given per entry of {tables}")
    return sources


def _check_ocv(r: _Reader, soc: tuple[float, ...], ocv_v: tuple[float, ...], min_v: float | None,
               max_v: float | None) -> None:
    """OCV rises with SOC and stays inside the cell window (where the window itself was accepted)."""
    for i, v in enumerate(ocv_v):
        if i and v <= ocv_v[i - 1]:
            relation = "equals" if v == ocv_v[i - 1] else "is below"
            r.fail(
                f"ocv.voltage_v[{i}]",
                f"OCV must rise with SOC, but {_fmt_v(v)} V at SOC {soc[i]:.2f} {relation} "
                f"{_fmt_v(ocv_v[i - 1])} V at SOC {soc[i - 1]:.2f}",
            )
            return
        if min_v is not None and max_v is not None and (v < min_v - 1e-9 or v > max_v + 1e-9):
            r.fail(
                f"ocv.voltage_v[{i}]",
                f"OCV {_fmt_v(v)} V at SOC {soc[i]:.2f} is outside the cell window "
                f"{_fmt_v(min_v)}..{_fmt_v(max_v)} V (voltage.min_v..voltage.max_v)",
            )
            return
