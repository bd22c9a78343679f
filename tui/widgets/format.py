"""Formatting of bench values for the panels: one place for units, precision and "no data yet"."""

from __future__ import annotations

from rich.text import Text

MISSING = "—"


def number(value: object, spec: str = ".1f", unit: str = "") -> str:
    """``value`` formatted with ``spec`` and ``unit``, or a dash when the bus has not said it yet."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return MISSING if value is None else str(value)
    text = format(value, spec)
    return f"{text} {unit}".rstrip()


def flag(value: object, on: str = "yes", off: str = "no") -> str:
    """A boolean (or a 0/1 signal) as words; a dash when unknown."""
    if value is None:
        return MISSING
    return on if bool(value) else off


def clock(seconds: float) -> str:
    """Bench seconds as ``H:MM:SS``."""
    whole = int(max(0.0, seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def state(value: object, styles: dict[str, str]) -> Text:
    """An enumerated state, coloured by ``styles`` (state name -> Rich style)."""
    name = MISSING if value is None else str(value)
    return Text(name, style=styles.get(name, ""))
