"""Units as DBCs spell them, compared with the units of the bench's roles.

A DBC's unit string is free text ("V", "volt", "°C", "deg C", "Percent").
The signal map refuses a role bound to a signal whose unit contradicts the
role's (a voltage signal bound to ``soc_pct`` would give an SOC of 365 %)
unless the map declares the conversion (``dbc_unit = "mV", scale = 0.001``).
"""

from __future__ import annotations

#: Spellings of each unit, lower-cased and stripped of spaces, mapped to the bench's spelling.
_SPELLINGS: dict[str, tuple[str, ...]] = {
    "V": ("v", "volt", "volts"),
    "mV": ("mv", "millivolt", "millivolts"),
    "A": ("a", "amp", "amps", "ampere", "amperes"),
    "mA": ("ma",),
    "kA": ("ka",),
    "%": ("%", "pct", "percent", "perc"),
    "degC": ("degc", "°c", "c", "deg", "degree", "degrees", "degreesc", "celsius", "°", "ºc", "\u2103", "degc."),
    "K": ("k", "kelvin"),
    "W": ("w", "watt", "watts"),
    "kW": ("kw", "kilowatt", "kilowatts"),
    "Wh": ("wh",),
    "kWh": ("kwh",),
    "tok/s": ("tok/s", "tokens/s"),
    "tok": ("tok", "tokens"),
    "Ah": ("ah",),
    "s": ("s", "sec"),
    "ms": ("ms",),
}
_CANONICAL = {spelling: unit for unit, spellings in _SPELLINGS.items() for spelling in spellings}


def canonical_unit(text: str | None) -> str:
    """The bench's spelling of a DBC unit string, the stripped text itself if unknown, '' for none."""
    if not text:
        return ""
    key = "".join(text.split()).lower()
    return _CANONICAL.get(key, text.strip())


#: (DBC unit, role unit) -> (scale, offset) of the conversion role = dbc * scale + offset.
_CONVERSIONS: dict[tuple[str, str], tuple[float, float]] = {
    ("mV", "V"): (0.001, 0.0), ("kA", "A"): (1000.0, 0.0), ("mA", "A"): (0.001, 0.0),
    ("kW", "W"): (1000.0, 0.0), ("kWh", "Wh"): (1000.0, 0.0), ("K", "degC"): (1.0, -273.15),
    ("ms", "s"): (0.001, 0.0),
}


def conversion(dbc_unit: str | None, role_unit: str) -> tuple[float, float] | None:
    """The scale and offset that turn ``dbc_unit`` into ``role_unit``, if it is a known conversion."""
    return _CONVERSIONS.get((canonical_unit(dbc_unit), canonical_unit(role_unit)))


def units_agree(role_unit: str, dbc_unit: str | None) -> bool:
    """Whether a signal whose DBC unit is ``dbc_unit`` can carry a role in ``role_unit`` unconverted.

    A signal with no unit is taken at its word (many DBCs leave units out);
    a role with no unit (a flag, a count) accepts any signal.
    """
    dbc = canonical_unit(dbc_unit)
    if not role_unit or not dbc:
        return True
    return canonical_unit(role_unit) == dbc
