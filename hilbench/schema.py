"""Schemas of the bench's input files, derived from the dataclasses and signatures the bench already has.

A scenario's ``[initial]`` table is :class:`~hilbench.bench.BenchConfig`, its ``[dut]`` table the keyword
arguments of the compute emulator, a step the signature of its action: :func:`fields_of` reads the
names, types and defaults from there, so no second hand-written copy of the keys exists.  What a type
alone cannot say comes from the name, as STYLE.md writes units: ``_c`` is a temperature, ``_pct`` a
percentage, ``_s`` a time, and each such :class:`Quantity` carries its physically plausible range.
Choices (a gear, a control-pilot state) and the few ranges a name cannot tell are given by the file
kind's own schema (``overrides``).

:class:`Problems` collects every problem of one file -- file, entry, line, reason -- and raises them
together as one :class:`~hilbench.errors.ConfigError`, so a file is fixed in one pass.

This module imports nothing of the bench but its errors: the plant (chemistries) uses it too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, Problem

#: A value that was refused (its problem is recorded) or is absent.
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING", "__bool__": lambda self: False})()


# -- quantities by name ------------------------------------------------------------------------
@dataclass(frozen=True)
class Quantity:
    """A physical quantity: its unit and the range of values that can be meant."""

    unit: str
    low: float = -math.inf
    high: float = math.inf
    #: The low end itself is not allowed (a time step of 0 s, a capacity of 0 Ah).
    low_open: bool = False
    why: str = ""

    def problem(self, value: float) -> str | None:
        """Why ``value`` cannot be meant, or None."""
        if not math.isfinite(value):
            return f"expected a finite number{self._in()}, got {value}"
        below = value <= self.low if self.low_open else value < self.low
        if not below and value <= self.high:
            return None
        why = f" ({self.why})" if self.why else ""
        if math.isfinite(self.low) and math.isfinite(self.high):
            return f"{_fmt(value)}{self._unit()} is outside {self.range_text()}{why}"
        return f"expected {self.range_text()}, got {_fmt(value)}{self._unit()}{why}"

    def range_text(self) -> str:
        """The accepted range as shown in errors, e.g. ``-60..90 in C`` or ``> 0 in s``."""
        low, high = math.isfinite(self.low), math.isfinite(self.high)
        if low and high:
            return f"{_fmt(self.low)}..{_fmt(self.high)}{self._unit()}"
        if low:
            return f"{'>' if self.low_open else '>='} {_fmt(self.low)}{self._unit()}"
        if high:
            return f"<= {_fmt(self.high)}{self._unit()}"
        return "any finite value"

    def _unit(self) -> str:
        return "" if not self.unit else (self.unit if self.unit == "%" else f" {self.unit}")

    def _in(self) -> str:
        return f" in {self.unit}" if self.unit else ""

    def narrowed(self, **changes: Any) -> Quantity:
        """A copy with some fields changed: a narrower range (or other reason) for one input."""
        return dataclasses.replace(self, **changes)


def _fmt(x: float) -> str:
    return f"{x:g}"


#: The temperatures the bench models, ambient, cells and pack alike: a car parked in Yakutsk in
#: January to one in the sun at Death Valley, with margin.  Absolute zero is far outside.
TEMPERATURE = Quantity("C", -60.0, 90.0, why="the temperatures a parked car meets")
PERCENT = Quantity("%", 0.0, 100.0)
TIME = Quantity("s", 0.0)
#: Quantities by the suffix of a name (STYLE.md: units in names), longest suffix first.
QUANTITIES: dict[str, Quantity] = {
    "_pct": PERCENT,
    "_ms": Quantity("ms", 0.0),
    "_ohm": Quantity("ohm", 0.0, low_open=True),
    "_ah": Quantity("Ah", 0.0, low_open=True),
    "_kg": Quantity("kg", 0.0, low_open=True),
    "_c": TEMPERATURE,
    "_s": TIME,
    "_a": Quantity("A"),
    "_v": Quantity("V", 0.0),
    "_w": Quantity("W", 0.0),
}


def quantity_of(name: str) -> Quantity | None:
    """The quantity a name's unit suffix says (``soc_pct`` is a percentage), or None."""
    for suffix, quantity in QUANTITIES.items():
        if name.endswith(suffix):
            return quantity
    return None


# -- fields ------------------------------------------------------------------------------------
_TYPE_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "a string",
               dict: "a table", list: "a list"}


@dataclass(frozen=True)
class Field:
    """One key of an input table: its accepted types, whether it must be given, its quantity and choices."""

    name: str
    types: tuple[type, ...]
    required: bool = False
    default: Any = None
    quantity: Quantity | None = None
    choices: tuple[str, ...] | None = None
    #: The least a whole number may be (counts: cells in series, every n-th frame).
    least: int | None = None
    #: Further checks of the value: returns a reason when it is refused.
    check: Callable[[Any], str | None] | None = None

    def expected(self) -> str:
        """What the field accepts, in words, for "expected ..." errors."""
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        text = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in self.types)
        if self.quantity is not None and self.quantity.unit:
            text += f" in {self.quantity.unit}"
        return text

    def validate(self, value: Any) -> tuple[Any, str | None]:
        """(the value as the bench uses it, None) or (MISSING, the reason it is refused)."""
        if self.choices is not None:
            if not isinstance(value, str):
                return MISSING, f"expected one of {', '.join(self.choices)}, got {_show(value)}"
            if value not in self.choices:
                folded = {c.upper(): c for c in self.choices}
                if value.strip().upper() not in folded:
                    return MISSING, f"expected one of {', '.join(self.choices)}, got {_show(value)}"
                value = folded[value.strip().upper()]
        elif not self._type_ok(value):
            return MISSING, f"expected {self.expected()}, got {_show(value)}"
        if float in self.types and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)):
            if isinstance(value, float) and not math.isfinite(value):
                return MISSING, f"expected a finite number{self._unit_text()}, got {value}"
            if self.quantity is not None:
                reason = self.quantity.problem(float(value))
                if reason is not None:
                    return MISSING, reason
            if self.least is not None and value < self.least:
                return MISSING, f"expected a whole number >= {self.least}, got {_show(value)}"
        if self.check is not None:
            reason = self.check(value)
            if reason is not None:
                return MISSING, reason
        return value, None

    def _unit_text(self) -> str:
        return f" in {self.quantity.unit}" if self.quantity is not None and self.quantity.unit else ""

    def _type_ok(self, value: Any) -> bool:
        for want in self.types:
            if want is float and isinstance(value, (int, float)) and not isinstance(value, bool):
                return True
            if want is int and isinstance(value, int) and not isinstance(value, bool):
                return True
            if want is bool and isinstance(value, bool):
                return True
            if want not in (int, float, bool) and isinstance(value, want):
                return True
        return False


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return f"a list {value!r}" if len(repr(value)) < 60 else "a list"
    return repr(value)


def _accepted_types(hint: Any) -> tuple[tuple[type, ...], tuple[str, ...] | None]:
    """The TOML value types a type hint accepts, and the choices of a ``Literal``."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return (str,), tuple(str(v) for v in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        found: list[type] = []
        choices = None
        for arg in typing.get_args(hint):
            if arg is type(None):
                continue
            more, more_choices = _accepted_types(arg)
            found.extend(t for t in more if t not in found)
            choices = choices or more_choices
        return tuple(found), choices
    if origin is not None:
        hint = origin
    if hint in (Path,) or (isinstance(hint, type) and issubclass(hint, Path)):
        return (str,), None
    if hint in (tuple, list, Sequence, frozenset, set):
        return (list,), None
    if hint in (dict, Mapping):
        return (dict,), None
    if hint in (bool, int, float, str):
        return (hint,), None
    if hint is Any:
        return (bool, int, float, str, list, dict), None
    return (str,), None


def fields_of(source: type | Callable[..., Any], *, skip: Sequence[str] = (), only: Sequence[str] | None = None,
              overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Field]:
    """The fields of a dataclass, or the keyword parameters of a function, as a schema.

    Types come from the annotations, defaults (and so whether a key is required) from the
    definition, the quantity from the name's unit suffix; ``overrides`` adds what neither can say
    (``{"gear": {"choices": GEARS}}``, ``{"tick_s": {"quantity": TIME.narrowed(low_open=True)}}``).
    """
    overrides = overrides or {}
    hints = typing.get_type_hints(source)
    params: list[tuple[str, Any, bool]] = []
    if dataclasses.is_dataclass(source):
        for f in dataclasses.fields(source):
            if not f.init:
                continue
            has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
            params.append((f.name, f.default if f.default is not dataclasses.MISSING else None, not has_default))
    else:
        for p in inspect.signature(source).parameters.values():
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            default = None if p.default is inspect.Parameter.empty else p.default
            params.append((p.name, default, p.default is inspect.Parameter.empty))
    out: dict[str, Field] = {}
    for name, default, required in params:
        if name in skip or (only is not None and name not in only):
            continue
        accepted, choices = _accepted_types(hints.get(name, Any))
        spec: dict[str, Any] = {"name": name, "types": accepted, "required": required, "default": default,
                                "quantity": quantity_of(name) if (float in accepted or int in accepted) else None,
                                "choices": choices}
        if int in accepted and float not in accepted and spec["quantity"] is None:
            spec["least"] = None
        spec.update(overrides.get(name, {}))
        out[name] = Field(**spec)
    return out


# -- every problem of a file -------------------------------------------------------------------
_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")


class TomlLines:
    """Finds the line of an entry (``steps[3].gear``, ``roles.soc_pct.signal``) in a TOML text."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers: list[tuple[int, str, bool]] = []
        for n, raw in enumerate(self.lines):
            match = re.match(r"\s*(\[\[?)\s*([^\]]+?)\s*\]\]?", raw)
            if match:
                name = re.sub(r"\s*\.\s*", ".", match.group(2)).replace('"', "")
                self.headers.append((n, name, match.group(1) == "[["))

    def line(self, entry: str) -> int | None:
        """The 1-based line of ``entry`` in the text, or None where it cannot be found (or there is no text).

        The entry's deepest ``[table]`` or ``[[array]]`` element is found first, then its key inside;
        a key in an inline table is found on the line that holds it.
        """
        if not self.lines:
            return None
        parts = [(name, [int(i) for i in re.findall(r"\d+", idx)]) for name, idx in _SEGMENT.findall(entry)]
        if not parts:
            return None
        # The longest prefix of the entry that is a [table] or the k-th [[array]] ...
        for depth in range(len(parts), 0, -1):
            table = ".".join(name for name, _ in parts[:depth])
            index = parts[depth - 1][1][0] if parts[depth - 1][1] else None
            start = self._header(table, index)
            if start is not None:
                rest = [name for name, _ in parts[depth:]]
                return self._key(start + 1, rest) if rest else start + 1
        # ... else a key of the top level (or an inline table's key inside a table).
        return self._key(0, [name for name, _ in parts], top=True)

    def _header(self, table: str, index: int | None) -> int | None:
        count = -1
        for n, name, is_array in self.headers:
            if name != table:
                continue
            count += 1
            if index is None or (is_array and count == index):
                return n
        return None

    def _key(self, start: int, keys: list[str], *, top: bool = False) -> int | None:
        end = len(self.lines)
        for n, _, _ in self.headers:
            if n >= start:
                end = n if top or n > start else end
                break
        found = None
        for key in keys[:2]:   # a key, or a key inside its inline table
            pattern = re.compile(rf'^\s*"?{re.escape(key)}"?\s*=|[{{,]\s*"?{re.escape(key)}"?\s*=')
            for n in range(found - 1 if found else start, end):
                if pattern.search(self.lines[n]):
                    found = n + 1
                    break
            else:
                break
        return found


class Problems:
    """Every problem of one file, raised together by :meth:`raise_if_any`.

    Args:
        file: the file the problems are in.
        text: its text, to find the line of each entry (optional).
    """

    def __init__(self, file: str | Path | None, text: str = "") -> None:
        self.file = str(file) if file is not None else None
        self.lines = TomlLines(text) if text else None
        self.found: list[Problem] = []

    def add(self, entry: str | None, reason: str, *, line: int | None = None, file: str | Path | None = None) -> None:
        """Record one problem; its line is looked up from ``entry`` when not given and the file is this one."""
        if line is None and entry and self.lines is not None and (file is None or str(file) == self.file):
            line = self.lines.line(entry)
        self.found.append(Problem(str(file) if file is not None else self.file, entry, reason, line))

    def extend(self, error: ConfigError, *, entry: str | None = None) -> None:
        """Take over the problems of ``error``; one in no file is placed at ``entry`` of this file."""
        for problem in error.problems:
            if problem.file is None or problem.file == self.file:
                self.add(problem.entry or entry, problem.reason, line=problem.line)
            else:
                self.found.append(problem)

    @contextlib.contextmanager
    def guard(self, entry: str | None = None) -> Iterator[None]:
        """Run a validator that raises :class:`ConfigError`: its problems are collected, not raised."""
        try:
            yield
        except ConfigError as exc:
            self.extend(exc, entry=entry)

    def value(self, field: Field, value: Any, entry: str) -> Any:
        """``value`` checked against ``field``: the value as used, or MISSING (its problem recorded)."""
        checked, reason = field.validate(value)
        if reason is not None:
            self.add(entry, reason)
        return checked

    def table(self, value: Any, entry: str, *, kind: str = "table") -> dict[str, Any]:
        """``value`` if it is a table, else {} (its problem recorded)."""
        if isinstance(value, dict):
            return value
        self.add(entry, f"expected a {kind}, got {_show(value)}")
        return {}

    def fields(self, data: Mapping[str, Any], schema: Mapping[str, Field], prefix: str, *,
               skip: Sequence[str] = (), unknown: str = "unknown key",
               prepare: Callable[[str, Any], Any] | None = None,
               needs: Callable[[str, Field], str] | None = None) -> dict[str, Any]:
        """Every key of ``data`` checked against ``schema``: unknown keys, missing required ones, each value.

        ``skip`` names keys checked elsewhere; ``unknown`` begins the reason for a key the schema lacks;
        ``prepare(key, value)`` turns a value into what the field checks (a ``"30 s"`` into seconds),
        returning a str reason to refuse it; ``needs(key, field)`` words a missing required key.
        """
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key in skip:
                continue
            entry = f"{prefix}.{key}" if prefix else key
            spec = schema.get(key)
            if spec is None:
                self.add(entry, f"{unknown}{suggest(key, schema)}; allowed: {', '.join(schema) or 'none'}")
                continue
            if prepare is not None:
                value, reason = prepare(key, value)
                if reason is not None:
                    self.add(entry, reason)
                    continue
            checked = self.value(spec, value, entry)
            if checked is not MISSING:
                out[key] = checked
        for key, spec in schema.items():
            if spec.required and key not in data:
                self.add(f"{prefix}.{key}" if prefix else key,
                         needs(key, spec) if needs is not None else f"missing; expected {spec.expected()}")
        return out

    def __bool__(self) -> bool:
        return bool(self.found)

    def __len__(self) -> int:
        return len(self.found)

    def raise_if_any(self) -> None:
        """Raises: ConfigError: listing every problem found, in the order found."""
        if self.found:
            raise ConfigError.of(self.found)


def suggest(name: str, known: Iterator[str] | Mapping[str, Any] | Sequence[str]) -> str:
    """`` (did you mean "soc_pct"?)`` for a near miss of a known name, else ""."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f' (did you mean "{close[0]}"?)' if close else ""


def finite(value: Any) -> bool:
    """A number (not a bool) that is finite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_toml(file: Path, what: str) -> tuple[dict[str, Any], str]:
    """A TOML file's data and text, or a ConfigError naming the file, the line and the reason.

    ``what`` names the kind of file in messages ("a scenario", "a signal map").

    Raises:
        ConfigError: the file cannot be read, is not UTF-8 text (binary junk), or is not valid TOML.
    """
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(file, None, f"cannot read {what}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(file, None, f"not UTF-8 text (byte 0x{raw[exc.start]:02X} at offset {exc.start}); "
                                      f"{what} is a TOML text file", line=raw.count(b"\n", 0, exc.start) + 1) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise toml_syntax_error(file, exc, text) from None


def toml_syntax_error(file: Path | str, exc: tomllib.TOMLDecodeError, text: str = "") -> ConfigError:
    """A TOML syntax error with its line (tomllib says "(at line 3, column 7)" or "(at end of document)")."""
    message = str(exc)
    match = re.search(r"\(at line (\d+), column \d+\)", message)
    line = int(match.group(1)) if match else (len(text.splitlines()) or None if "end of document" in message else None)
    return ConfigError(file, None, f"not valid TOML: {message}", line=line)
