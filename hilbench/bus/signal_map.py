"""Signal map: the TOML file that binds bench roles to the messages and signals of any DBC.

Validated against the DBCs at load, before the first frame: a map naming a
role, message, signal, multiplexer value or state that does not exist, or a
unit that contradicts its role, never starts a bench, and everything the
encoder and decoder will need has been checked, so no ``KeyError`` can reach
a running bench.

Format (see ``dbc/hilbench.signals.toml`` and ``docs/foreign-dbc.md``)::

    dbc = ["car.dbc", { package = "opendbc", path = "dbc/x.dbc" }, "compute_unit.dbc"]

    [roles]
    pack_voltage_v = { message = "BMS_PackStatus", signal = "PackVoltage" }
    soc_pct = { message = "BMS_PackStatus", signal = "SOC", scale = 1.0, offset = 0.0 }
    min_cell_voltage_v = { message = "BMS_Mux", signal = "CellVmin", mux = 2, dbc_unit = "mV", scale = 0.001 }
    gear = { message = "VCU_VehicleStatus", signal = "Gear", states = { P = "PARK", D = 4 } }

    [cells.voltage]             # optional per-cell detail messages
    message = "BMS_CellVoltages"
    multiplexer = "CellGroup"
    signal = "CellVoltage{index:03d}"
    per_frame = 4
    first_index = 1             # number of the first cell in the pattern

    [cycle_ms]                  # where the DBC has no GenMsgCycleTime
    [timeout_ms]                # explicit staleness timeout per message
    [timing]                    # stale_cycles, min_stale_ms
    [protection.NAME]           # a car's counters and checksums (see protection.py)
    [frame_id]                  # move a message to another ID
    [bus]                       # ignore_ids = [0x7DF, "0x700-0x7FF"]

``scale``/``offset`` convert the DBC's physical value into the role's unit
(``role = dbc * scale + offset``).  ``states`` maps bench state names to the
DBC's value-table names or raw numbers where they differ.
"""

from __future__ import annotations

import importlib.resources
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cantools.database.can import Database, Message

from ..errors import ConfigError
from ..schema import Problems, read_toml, suggest
from . import protection as prot
from .roles import ROLES, Role
from .units import canonical_unit, conversion, units_agree

_MAP_KEYS = ("dbc", "roles", "cells", "e2e", "cycle_ms", "timeout_ms", "timing", "protection", "frame_id", "bus",
             "receiver")
_ROLE_KEYS = ("message", "signal", "scale", "offset", "states", "mux", "dbc_unit", "true_values", "false_value")
_CELL_KEYS = ("message", "multiplexer", "signal", "per_frame", "count_signal", "first_index", "first_module")
#: E2E profile names the bench DBC's ``E2EProfile`` attribute may carry.
DBC_E2E_PROFILES = {"P02": "autosar_p2", "P2": "autosar_p2", "P05": "autosar_p5", "P5": "autosar_p5"}
#: Every AUTOSAR E2E profile name a DBC might carry (R4.x/R20-11 E2E library): a name outside this is a
#: typo or a scheme nobody defines, refused wherever it stands; one inside it that the bench cannot read
#: from DBC attributes (anything but P02) is refused on a message the bench uses.
AUTOSAR_E2E_PROFILES = ("P01", "P1", "P02", "P2", "P04", "P4", "P04M", "P4M", "P05", "P5", "P06", "P6", "P07",
                        "P7", "P07M", "P7M", "P08", "P8", "P08M", "P8M", "P11", "P22", "P44", "P44M")
#: (message, attribute) -> (file, line) of where a DBC says it; None where unknown.
Locate = Any


@dataclass(frozen=True)
class RoleBinding:
    """Where one role sits in a DBC and how to convert it: ``role = dbc_value * scale + offset``.

    Enumerated roles carry their state <-> raw value tables; a signal under a multiplexer its ``mux`` value.
    """

    role: Role
    message: str
    signal: str
    scale: float = 1.0
    offset: float = 0.0
    # For enumerated roles: raw DBC value <-> bench state name.
    raw_by_state: dict[str, int] = field(default_factory=dict)
    state_by_raw: dict[int, str] = field(default_factory=dict)
    #: The multiplexer value the signal sits under, for a signal in a multiplexed message.
    mux: int | None = None
    #: For a flag role on a value table (``true_values``): raw values read as 1, and the raw
    #: values sent for 1 and for 0.
    true_raw: frozenset[int] = frozenset()
    send_true: int | None = None
    send_false: int | None = None


@dataclass(frozen=True)
class CellBinding:
    """Per-cell values sent as a multiplexed message (voltages or temperatures)."""

    kind: str                 # "voltage", "temperature" or "voltage_fd"
    message: str
    multiplexer: str
    signal: str               # format string with {index}, or {module} and {cell}
    per_frame: int
    count_signal: str | None = None
    first_index: int = 1
    first_module: int = 0
    #: How many frames (multiplexer values 0, 1, ...) the DBC defines the whole pattern for.
    frames: int = 1

    def signal_name(self, frame: int, k: int) -> str:
        """The DBC name of cell ``k`` of multiplexed frame ``frame`` (both from 0), from the name pattern."""
        if "{module" in self.signal:
            return self.signal.format(module=frame + self.first_module, cell=k + self.first_index)
        return self.signal.format(index=frame * self.per_frame + k + self.first_index)

    @property
    def capacity(self) -> int:
        """The most cells (or sensors) the DBC can carry in this message."""
        return self.frames * self.per_frame


@dataclass(frozen=True)
class ProtectionSpec:
    """A message's protection as declared (in the map or the DBC's attributes), before it is built."""

    scheme: str
    checksum: str | None = None
    counter: str | None = None
    data_ids: tuple[int, ...] = ()
    data_id: int | None = None
    poly: int = 0
    init: int = 0
    xor_out: int = 0
    reflect: bool = False
    covered: tuple[int, ...] | None = None
    frame_id_bytes: str | None = None
    add: int = 0
    #: A counter that wraps before its bits run out (Rivian counts 0..14).
    counter_modulus: int | None = None

    def build(self, message: Message) -> prot.Protection | None:
        """The :class:`~.protection.Protection` for ``message`` (validated at load)."""
        if self.scheme == "none":
            return None
        if self.scheme == "autosar_p2":
            return prot.AutosarP2(self.data_ids)
        if self.scheme == "autosar_p5":
            return prot.AutosarP5(self.data_id or 0)
        assert self.checksum is not None   # every scheme but the AUTOSAR ones names it (checked at load)
        checksum = prot.BitField.of(message.get_signal_by_name(self.checksum))
        counter = prot.BitField.of(message.get_signal_by_name(self.counter)) if self.counter else None
        covered = self.covered
        if covered is None:
            full = {bit // 8 for bit in checksum.bits if len([b for b in checksum.bits if b // 8 == bit // 8]) == 8}
            covered = tuple(i for i in range(message.length) if i not in full)
        return prot.OemChecksum(self.scheme, checksum, counter, covered=covered, frame_id=message.frame_id,
                                frame_id_bytes=self.frame_id_bytes, add=self.add, poly=self.poly, init=self.init,
                                xor_out=self.xor_out, reflect=self.reflect, counter_modulus=self.counter_modulus)


@dataclass(frozen=True)
class SignalMap:
    """A loaded signal map: which DBC signal carries each role, and per-message timing and protection.

    Built and validated against its DBCs by the loader; immutable afterwards.  ``warnings`` are the
    lenient parts of the load, for the bench to show.
    """

    path: Path
    roles: dict[str, RoleBinding]
    cells: dict[str, CellBinding]
    e2e_data_id_base: dict[str, int]
    cycle_time_s: dict[str, float]
    protection: dict[str, ProtectionSpec] = field(default_factory=dict)
    timeouts_s: dict[str, float] = field(default_factory=dict)
    stale_cycles: float | None = None
    min_stale_s: float | None = None
    dbc_paths: tuple[Path, ...] = ()
    frame_ids: dict[str, int] = field(default_factory=dict)
    ignore_id_ranges: tuple[tuple[int, int], ...] = ()
    warnings: tuple[str, ...] = ()
    #: Per message, settings of the compute unit's E2E receiver that differ from its defaults
    #: (``[receiver.NAME] window_valid = 10``; see hilbench/bus/e2e.toml for the keys).
    receivers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def binding(self, role: str) -> RoleBinding | None:
        """The binding of ``role``, or None where the map leaves it unmapped."""
        return self.roles.get(role)

    def is_mapped(self, role: str) -> bool:
        """Whether the map binds ``role`` to a DBC signal."""
        return role in self.roles

    def messages_of(self, producer: str) -> list[str]:
        """Names of the messages that carry the roles a node produces, in map order."""
        names: list[str] = []
        for binding in self.roles.values():
            if binding.role.producer == producer and binding.message not in names:
                names.append(binding.message)
        if producer == "bms":
            for cell in self.cells.values():
                if cell.message not in names:
                    names.append(cell.message)
        return names

    def producer_of(self, message: str) -> str | None:
        """The node that sends ``message`` (the producer of the roles it carries), or None."""
        for producer in ("bms", "vcu", "obc", "cu"):
            if message in self.messages_of(producer):
                return producer
        return None

    @property
    def used_messages(self) -> list[str]:
        """Every message the bench sends or reads through this map."""
        return [name for producer in ("bms", "vcu", "obc", "cu") for name in self.messages_of(producer)]

    def timeout_s(self, message: str) -> float | None:
        """An explicit staleness timeout the map gives ``message`` (``[timeout_ms]``), or None."""
        return self.timeouts_s.get(message)

    def ignores_id(self, frame_id: int) -> bool:
        """Whether an ID in no DBC is expected on this bus (``[bus] ignore_ids``)."""
        return any(lo <= frame_id <= hi for lo, hi in self.ignore_id_ranges)

    def missing_roles(self, producers: Iterable[str]) -> list[str]:
        """Roles the bundled compute unit needs from ``producers`` that the map does not bind."""
        wanted = set(producers)
        return [name for name, role in ROLES.items()
                if role.required and role.producer in wanted and name not in self.roles]

    def require(self, producers: Iterable[str]) -> None:
        """Refuse the map if a role needed from ``producers`` is missing.

        Raises:
            ConfigError: naming the map, ``roles`` and every missing role.
        """
        missing = self.missing_roles(producers)
        if missing:
            raise ConfigError(self.path, "roles", f"required role(s) not mapped: {', '.join(missing)}")


def default_signal_map_path() -> Path:
    """The bench's own map, ``hilbench.signals.toml`` beside its vehicle DBC."""
    from .dbc import default_dbc_path

    return default_dbc_path().with_name("hilbench.signals.toml")


def read_map_file(path: Path) -> dict[str, Any]:
    """The map's TOML, refused with file and reason when missing or malformed."""
    return read_map(path)[0]


def read_map(path: Path) -> tuple[dict[str, Any], str]:
    """The map's TOML data and text (for the lines of entries), refused with file, line and reason when
    missing, not text, or not valid TOML."""
    if not path.is_file():
        raise ConfigError(path, None, "no such signal map file")
    return read_toml(path, "a signal map")


def map_dbc_sources(path: Path, data: Mapping[str, Any]) -> list[tuple[Path, str]] | None:
    """The DBCs a map lists (``dbc = [...]``), as (file, label) pairs; None when it lists none.

    Strings are paths relative to the map; tables ``{ package = "...", path = "..." }``
    name a file shipped in an installed Python package.

    Raises:
        ConfigError: an entry of the wrong shape, a package that is not installed, a missing file.
    """
    spec = data.get("dbc")
    if spec is None:
        return None
    if isinstance(spec, (str, dict)):
        spec = [spec]
    if not isinstance(spec, list) or not spec:
        raise ConfigError(path, "dbc", "expected a list of DBC files (paths relative to the map, or "
                                       '{ package = "...", path = "..." } tables)')
    out = []
    for index, entry in enumerate(spec):
        where = f"dbc[{index}]"
        if isinstance(entry, str):
            file = (path.parent / entry).resolve()
            if not file.is_file():
                raise ConfigError(path, where, f'no such DBC file "{entry}" (looked for {file})')
            out.append((file, str(file)))
            continue
        if not isinstance(entry, dict) or set(entry) != {"package", "path"} \
                or not all(isinstance(v, str) for v in entry.values()):
            raise ConfigError(path, where, 'expected a path (string) or { package = "...", path = "..." }, '
                                           f"got {entry!r}")
        try:
            root = importlib.resources.files(entry["package"])
        except ModuleNotFoundError:
            raise ConfigError(path, where, f'Python package "{entry["package"]}" is not installed '
                                           f'(pip install {entry["package"]})') from None
        file = Path(str(root.joinpath(entry["path"])))
        if not file.is_file():
            raise ConfigError(path, where, f'package "{entry["package"]}" has no file "{entry["path"]}"')
        out.append((file, f'{entry["package"]}:{entry["path"]}'))
    return out


# -- binding roles ----------------------------------------------------------------------------
def _message(db: Database, path: Path, entry: str, name: object) -> Message:
    if not isinstance(name, str):
        raise ConfigError(path, entry, f"expected a message name (string), got {name!r}")
    try:
        return db.get_message_by_name(name)
    except KeyError:
        raise ConfigError(path, entry, f'message "{name}" is not in the DBC') from None


def _signal(message: Message, path: Path, entry: str, name: object):
    if not isinstance(name, str):
        raise ConfigError(path, entry, f"expected a signal name (string), got {name!r}")
    try:
        return message.get_signal_by_name(name)
    except KeyError:
        known = ", ".join(s.name for s in message.signals[:12])
        raise ConfigError(
            path, entry,
            f'signal "{name}" is not in message "{message.name}" (it has: {known}'
            + (", ..." if len(message.signals) > 12 else "") + ")",
        ) from None


def _number(path: Path, entry: str, value: object, *, whole: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (whole and not isinstance(value, int)):
        raise ConfigError(path, entry, f"expected {'a whole number' if whole else 'a number'}, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(path, entry, f"expected a finite number, got {value!r}")
    return value


def _mux_of(message: Message, path: Path, entry: str, signal, spec: Mapping[str, Any]) -> int | None:
    """The multiplexer value a role's signal needs, checked against the DBC."""
    mux = spec.get("mux")
    if signal.multiplexer_ids is None:
        if mux is not None:
            raise ConfigError(path, f"{entry}.mux", f'signal "{signal.name}" of "{message.name}" is not '
                                                   "multiplexed; remove mux")
        return None
    mux_signal = message.get_signal_by_name(signal.multiplexer_signal)
    if mux_signal.multiplexer_ids is not None:
        raise ConfigError(path, f"{entry}.signal", f'signal "{signal.name}" of "{message.name}" sits under '
                                                   "nested multiplexers, which the bench does not encode")
    values = ", ".join(str(v) for v in signal.multiplexer_ids)
    if mux is None:
        raise ConfigError(path, f"{entry}.mux", f'signal "{signal.name}" of "{message.name}" is multiplexed '
                                                f'by "{signal.multiplexer_signal}" (values {values}); '
                                                "give mux = one of them")
    mux = int(_number(path, f"{entry}.mux", mux, whole=True))
    if mux not in signal.multiplexer_ids:
        raise ConfigError(path, f"{entry}.mux", f'mux value {mux} does not exist for signal "{signal.name}" '
                                                f'of "{message.name}" (it is sent under {values})')
    return mux


def _bind_role(db: Database, path: Path, name: str, spec: object, notes: list[str]) -> RoleBinding:
    entry = f"roles.{name}"
    role = ROLES.get(name)
    if role is None:
        raise ConfigError(path, entry, f'unknown role "{name}"; known roles: {", ".join(ROLES)}')
    if not isinstance(spec, dict):
        raise ConfigError(path, entry, "expected a table with message and signal")
    unknown = set(spec) - set(_ROLE_KEYS)
    if unknown:
        raise ConfigError(path, entry, f"unknown key(s) {sorted(unknown)}; allowed: {', '.join(_ROLE_KEYS)}")
    for key in ("message", "signal"):
        if key not in spec:
            raise ConfigError(path, entry, f'missing "{key}"')
    message = _message(db, path, f"{entry}.message", spec["message"])
    signal = _signal(message, path, f"{entry}.signal", spec["signal"])
    mux = _mux_of(message, path, entry, signal, spec)
    scale = _number(path, f"{entry}.scale", spec.get("scale", 1.0))
    offset = _number(path, f"{entry}.offset", spec.get("offset", 0.0))
    if scale == 0:
        raise ConfigError(path, f"{entry}.scale", "scale must not be 0")
    _check_unit(path, entry, role, message, signal, spec)
    raw_by_state: dict[str, int] = {}
    state_by_raw: dict[int, str] = {}
    if not role.is_enum:
        if "states" in spec:
            raise ConfigError(path, f"{entry}.states", f'role "{name}" is a number, not a state; states apply '
                                                       "only to enumerated roles: "
                                                       + ", ".join(r for r, v in ROLES.items() if v.is_enum))
    else:
        raw_by_state, state_by_raw = _bind_states(path, entry, role, message, signal, spec)
    flag = _bind_flag(path, entry, role, message, signal, spec)
    if not role.is_enum and signal.choices and not signal.is_float and role.unit:
        notes.append(f'{path}: {entry}: signal "{signal.name}" has a value table but role "{name}" is a number '
                     f"in {role.unit}; its raw value is used")
    return RoleBinding(
        role, message.name, signal.name, float(scale), float(offset),
        raw_by_state, state_by_raw, mux, *flag,
    )


#: Roles that are flags (1 or 0): a car may carry them as one state of a value table.
FLAG_ROLES = ("ignition_on", "plug_present", "drive_requested", "compute_allowed", "cu_keep_awake")


def _raw_of(path: Path, entry: str, message: Message, signal, value: object) -> int:
    """A raw value given as a number or as a name of the signal's value table."""
    by_name = {str(v): int(k) for k, v in (signal.choices or {}).items()}
    if isinstance(value, int) and not isinstance(value, bool):
        if not signal.is_signed and not 0 <= value < (1 << signal.length):
            raise ConfigError(path, entry, f"raw value {value} does not fit the {signal.length}-bit signal "
                                           f"{message.name}.{signal.name}")
        return value
    if isinstance(value, str) and value in by_name:
        return by_name[value]
    raise ConfigError(path, entry, f'{value!r} is not a value of {message.name}.{signal.name} '
                                   f'(it has: {", ".join(by_name) or "no value table"}); give a name or a raw number')


def _bind_flag(path: Path, entry: str, role: Role, message: Message, signal,
               spec: Mapping[str, Any]) -> tuple[frozenset[int], int | None, int | None]:
    """``true_values``/``false_value``: a flag role read from a state signal (ignition = Run or Crank)."""
    if "true_values" not in spec:
        if "false_value" in spec:
            raise ConfigError(path, f"{entry}.false_value", "false_value needs true_values")
        return frozenset(), None, None
    if role.name not in FLAG_ROLES:
        raise ConfigError(path, f"{entry}.true_values", f'role "{role.name}" is not a flag; true_values apply '
                                                        f'only to {", ".join(FLAG_ROLES)}')
    if signal.scale != 1 or signal.offset != 0:
        raise ConfigError(path, f"{entry}.signal", f"{message.name}.{signal.name} has factor {signal.scale:g} and "
                                                   f"offset {signal.offset:g}; true_values need raw = physical")
    listed = spec["true_values"]
    if not isinstance(listed, list) or not listed:
        raise ConfigError(path, f"{entry}.true_values", f"expected a non-empty list of names or raw values, "
                                                        f"got {listed!r}")
    true_raw = [_raw_of(path, f"{entry}.true_values[{i}]", message, signal, v) for i, v in enumerate(listed)]
    if "false_value" in spec:
        false_raw = _raw_of(path, f"{entry}.false_value", message, signal, spec["false_value"])
    else:
        candidates = [0, *sorted(int(k) for k in (signal.choices or {}))]
        false_raw = next((c for c in candidates if c not in true_raw), None)  # type: ignore[assignment]
    if false_raw in true_raw or false_raw is None:
        raise ConfigError(path, f"{entry}.false_value", "the value sent for 0 must not be one of true_values")
    return frozenset(true_raw), true_raw[0], false_raw


def _check_unit(path: Path, entry: str, role: Role, message: Message, signal, spec: Mapping[str, Any]) -> None:
    declared = spec.get("dbc_unit")
    if declared is not None:
        if not isinstance(declared, str):
            raise ConfigError(path, f"{entry}.dbc_unit", f"expected a unit (string), got {declared!r}")
        if signal.unit and canonical_unit(declared) != canonical_unit(signal.unit):
            raise ConfigError(path, f"{entry}.dbc_unit", f'the DBC gives {message.name}.{signal.name} in '
                                                         f'"{signal.unit}", not "{declared}"')
        if "scale" not in spec and "offset" not in spec and not units_agree(role.unit, declared):
            raise ConfigError(path, f"{entry}.dbc_unit", f'"{declared}" is not the role\'s unit "{role.unit}": '
                                                         "give the conversion with scale/offset")
        return
    if units_agree(role.unit, signal.unit):
        return
    # A known conversion (mV -> V) given by its scale and offset is a declared one; a sign
    # flip on top is allowed (a car may count charge current positive).
    known = conversion(signal.unit, role.unit)
    scale, offset = spec.get("scale", 1.0), spec.get("offset", 0.0)
    if known is not None and math.isclose(abs(scale), known[0], rel_tol=1e-9) \
            and math.isclose(offset, known[1], rel_tol=1e-9, abs_tol=1e-12):
        return
    hint = (f"scale = {known[0]:g}" + (f", offset = {known[1]:g}" if known[1] else "")) if known else \
        f'dbc_unit = "{signal.unit}" with scale/offset (role = dbc * scale + offset) if that is really meant'
    raise ConfigError(path, f"{entry}.signal",
                      f'{message.name}.{signal.name} is in "{signal.unit}" but role "{role.name}" is in '
                      f'"{role.unit}"; declare the conversion: {hint}')


def _bind_states(path: Path, entry: str, role: Role, message: Message, signal,
                 spec: Mapping[str, Any]) -> tuple[dict[str, int], dict[int, str]]:
    """Raw value sent for each state, and the state each known raw value reads as.

    A state may take a list (``D = [8, 9]``): the first is sent, all read as that state.
    """
    name = role.name
    aliases = spec.get("states", {})
    if not isinstance(aliases, dict):
        raise ConfigError(path, f"{entry}.states", "expected a table of bench state = DBC name or raw value")
    for alias in aliases:
        if alias not in role.states:
            raise ConfigError(path, f"{entry}.states.{alias}",
                              f'unknown state; role "{name}" has {", ".join(role.states)}')
    if signal.scale != 1 or signal.offset != 0:
        raise ConfigError(path, f"{entry}.signal",
                          f'{message.name}.{signal.name} has factor {signal.scale:g} and offset '
                          f'{signal.offset:g}; an enumerated role needs a signal whose value table '
                          f'is its physical value (factor 1, offset 0)')
    by_name = {str(v): int(k) for k, v in (signal.choices or {}).items()}
    raw_by_state: dict[str, int] = {}
    state_by_raw: dict[int, str] = {}
    for state in role.states:
        target = aliases.get(state, state)
        if isinstance(target, list) and target:
            raws = [_raw_of(path, f"{entry}.states.{state}[{i}]", message, signal, t) for i, t in enumerate(target)]
            raw_by_state[state] = raws[0]
            for raw in raws:
                if raw in state_by_raw:
                    raise ConfigError(path, f"{entry}.states", f"states {state_by_raw[raw]}, {state} map to the "
                                      "same DBC value; each needs its own")
                state_by_raw[raw] = state
            continue
        if isinstance(target, int) and not isinstance(target, bool):
            raw_by_state[state] = _raw_of(path, f"{entry}.states.{state}", message, signal, target)
        elif target in by_name:
            raw_by_state[state] = by_name[target]
        else:
            raise ConfigError(
                path, f"{entry}.states",
                f'state "{state}" of role "{name}" has no value "{target}" in the value table of '
                f'{message.name}.{signal.name} (it has: {", ".join(by_name) or "no value table"}); '
                f'map it with states = {{ {state} = "..." }} or a raw number',
            )
        if raw_by_state[state] in state_by_raw:
            other = state_by_raw[raw_by_state[state]]
            raise ConfigError(path, f"{entry}.states", f"states {', '.join(sorted((other, state)))} map to the "
                              "same DBC value; each needs its own")
        state_by_raw[raw_by_state[state]] = state
    return raw_by_state, state_by_raw


def _bind_cells(db: Database, path: Path, kind: str, spec: object) -> CellBinding:
    entry = f"cells.{kind}"
    if kind not in ("voltage", "temperature", "voltage_fd"):
        raise ConfigError(path, entry, 'unknown cell section; use "voltage", "temperature" or "voltage_fd"')
    if not isinstance(spec, dict):
        raise ConfigError(path, entry, "expected a table")
    unknown = set(spec) - set(_CELL_KEYS)
    if unknown:
        raise ConfigError(path, entry, f"unknown key(s) {sorted(unknown)}; allowed: {', '.join(_CELL_KEYS)}")
    for key in ("message", "multiplexer", "signal", "per_frame"):
        if key not in spec:
            raise ConfigError(path, entry, f'missing "{key}"')
    message = _message(db, path, f"{entry}.message", spec["message"])
    mux_signal = _signal(message, path, f"{entry}.multiplexer", spec["multiplexer"])
    if not mux_signal.is_multiplexer:
        raise ConfigError(path, f"{entry}.multiplexer", f'signal "{mux_signal.name}" of "{message.name}" is not '
                                                        "a multiplexer")
    if spec.get("count_signal") is not None:
        _signal(message, path, f"{entry}.count_signal", spec["count_signal"])
    per_frame = spec["per_frame"]
    if not isinstance(per_frame, int) or isinstance(per_frame, bool) or per_frame < 1:
        raise ConfigError(path, f"{entry}.per_frame", f"expected a whole number >= 1, got {per_frame!r}")
    first_index = int(_number(path, f"{entry}.first_index", spec.get("first_index", 1), whole=True))
    first_module = int(_number(path, f"{entry}.first_module", spec.get("first_module", 0), whole=True))
    if not isinstance(spec["signal"], str):
        raise ConfigError(path, f"{entry}.signal", f"expected a signal name pattern, got {spec['signal']!r}")
    binding = CellBinding(kind, message.name, spec["multiplexer"], spec["signal"], per_frame,
                          spec.get("count_signal"), first_index, first_module)
    try:
        first = binding.signal_name(0, 0)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(path, f"{entry}.signal", f"bad signal pattern: {exc}") from None
    # Every signal of frame 0 must exist (the message is useless otherwise); further frames
    # count as long as the DBC has the whole pattern under the frame's multiplexer value.
    for k in range(per_frame):
        signal = _signal(message, path, f"{entry}.signal", binding.signal_name(0, k))
        if signal.multiplexer_ids is None or 0 not in signal.multiplexer_ids:
            raise ConfigError(path, f"{entry}.signal", f'signal "{signal.name}" of "{message.name}" is not sent '
                                                       f'under {mux_signal.name} = 0 (frame 0 of the pattern, '
                                                       f'first signal "{first}")')
    names = {s.name: s for s in message.signals}
    frames = 1
    while all((s := names.get(binding.signal_name(frames, k))) is not None and s.multiplexer_ids
              and frames in s.multiplexer_ids for k in range(per_frame)):
        frames += 1
    return CellBinding(kind, message.name, spec["multiplexer"], spec["signal"], per_frame,
                       spec.get("count_signal"), first_index, first_module, frames)


def _bits(signal) -> set[int]:
    """Bit positions (DBC numbering) a signal occupies."""
    return set(prot.signal_bits(signal.start, signal.length, signal.byte_order))


def _check_e2e_layout(db: Database, path: Path, e2e: dict[str, int]) -> None:
    """Profile 2 owns byte 0 (CRC) and the low nibble of byte 1 (counter); each message its own data IDs."""
    owner: dict[int, str] = {}
    for name, base in e2e.items():
        message = db.get_message_by_name(name)
        entry = f"e2e.{name}"
        if message.length < 2:
            raise ConfigError(path, entry, f'message "{name}" has {message.length} byte(s); E2E profile 2 needs 2')
        for signal in message.signals:
            bits = _bits(signal)
            protected = bits & set(range(12))
            if not protected:
                continue
            if bits <= set(range(8)) or bits <= set(range(8, 12)):
                continue   # the CRC and alive-counter signals themselves
            raise ConfigError(path, entry, f'signal "{signal.name}" of "{name}" uses bits the E2E CRC '
                                           f'(byte 0) or alive counter (bits 8-11) need')
        for counter in range(16):
            data_id = (base + counter) & 0xFF
            if data_id in owner and owner[data_id] != name:
                raise ConfigError(path, entry, f'data ID {data_id} is also used by "{owner[data_id]}"; '
                                               f"a frame could then pass as the other message (masquerade)")
            owner[data_id] = name


#: Payload lengths a CAN (0-8) or CAN FD frame can have.
FRAME_LENGTHS = (*range(9), 12, 16, 20, 24, 32, 48, 64)


def _check_lengths(db: Database, path: Path, used: Iterable[str], problems: Problems, locate: Locate = None) -> None:
    """A message the bench sends or reads must fit a CAN or CAN FD frame, and hold at least one byte."""
    for name in sorted(used):
        length = db.get_message_by_name(name).length
        if length in FRAME_LENGTHS and length > 0:
            continue
        file, line = locate(name) if locate is not None else (None, None)
        problems.add(f'message "{name}"', f"a length of {length} bytes fits no CAN or CAN FD frame "
                     f"(1-8, 12, 16, 20, 24, 32, 48 or 64)", file=file or path, line=line)


def _check_role_signals(db: Database, path: Path, roles: Mapping[str, RoleBinding], problems: Problems,
                        locate: Locate = None) -> None:
    """A signal that carries a role must be able to carry a value: a factor of 0 sends nothing, a
    minimum above the maximum lets no value through.  Refused naming the DBC's signal line."""
    for name, binding in roles.items():
        signal = db.get_message_by_name(binding.message).get_signal_by_name(binding.signal)
        reason = None
        if not signal.scale or not math.isfinite(signal.scale):
            reason = f"has factor {signal.scale!r}: it can carry no value"
        elif signal.minimum is not None and signal.maximum is not None and signal.minimum > signal.maximum:
            reason = f"has minimum {signal.minimum:g} above maximum {signal.maximum:g}: no value fits"
        if reason is None:
            continue
        file, line = locate(binding.message, signal=binding.signal) if locate is not None else (None, None)
        what = f'{binding.message}.{binding.signal} (role "{name}")'
        if file is not None:
            problems.add(f'message "{binding.message}" signal "{binding.signal}"', f"{what} {reason}",
                         file=file, line=line)
        else:
            problems.add(f"roles.{name}.signal", f"{what} {reason} in the DBC")


def _dbc_e2e(db: Database, path: Path, used: set[str], notes: list[str], problems: Problems,
             locate: Locate = None) -> dict[str, int]:
    """Profile-2 data ID bases the DBC's own attributes declare.

    A profile name that is no AUTOSAR profile (``"P99"``) is refused wherever it stands: it is a
    typo that would otherwise leave a message unprotected.  A real profile the bench cannot read
    from attributes (only P02 is), or P02 without its data ID base, is refused on a message the
    map uses and a warning on any other.  Each problem names the DBC file and the attribute's line.
    """
    e2e: dict[str, int] = {}
    for message in db.messages:
        attrs = message.dbc.attributes if message.dbc else {}
        profile = attrs.get("E2EProfile")
        if profile is None or profile.value in ("", None):
            continue
        file, line = locate(message.name, "E2EProfile") if locate is not None else (None, None)
        where_file = file or path
        entry = f'message "{message.name}" E2EProfile' if file else f"e2e.{message.name}"
        name = str(profile.value).strip().upper()
        if name not in AUTOSAR_E2E_PROFILES:
            problems.add(entry, f'unknown E2E profile "{profile.value}"{suggest(name, AUTOSAR_E2E_PROFILES)}: no '
                                "AUTOSAR profile has that name, and the message would go unprotected; the bench "
                                "reads P02 from DBC attributes (declare other schemes in the map's [protection])",
                         file=where_file, line=line)
            continue
        scheme = DBC_E2E_PROFILES.get(name)
        if scheme != "autosar_p2":
            problem = (f'message "{message.name}" declares E2EProfile "{profile.value}", which the bench '
                       "cannot honour (it reads P02 from DBC attributes; declare other schemes in [protection])")
            if message.name in used:
                problems.add(entry, problem, file=where_file, line=line)
            else:
                notes.append(f"{where_file}: {problem}; the message is not used, so this is only a warning")
            continue
        base = attrs.get("E2EDataIdBase")
        if base is None:
            if message.name in used:
                problems.add(entry, f'message "{message.name}" declares E2EProfile P02 but no E2EDataIdBase',
                             file=where_file, line=line)
            continue
        if isinstance(base.value, bool) or not isinstance(base.value, int) or not 0 <= base.value <= 255:
            file, line = locate(message.name, "E2EDataIdBase") if locate is not None else (None, None)
            problems.add(f'message "{message.name}" E2EDataIdBase' if file else f"e2e.{message.name}",
                         f"expected a data ID base 0..255, got {base.value!r}", file=file or path, line=line)
            continue
        e2e[message.name] = int(base.value)
    return e2e


def _int_value(path: Path, entry: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(path, entry, f"expected a whole number {lo}..{hi} (0x{hi:X}), got {value!r}")
    return value


def _bind_protection(db: Database, path: Path, name: str, spec: object) -> ProtectionSpec:
    entry = f"protection.{name}"
    message = _message(db, path, entry, name)
    if not isinstance(spec, dict):
        raise ConfigError(path, entry, "expected a table with scheme = ...")
    allowed = {"scheme", "checksum", "counter", "data_ids", "data_id_base", "data_id", "poly", "init", "xor_out",
               "reflect", "bytes", "frame_id_bytes", "add", "counter_modulus"}
    unknown = set(spec) - allowed
    if unknown:
        raise ConfigError(path, entry, f"unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}")
    scheme = spec.get("scheme")
    if scheme not in prot.SCHEMES:
        raise ConfigError(path, f"{entry}.scheme", f"unknown protection scheme {scheme!r}; the bench implements "
                                                   f"{', '.join(prot.SCHEMES)}")
    checksum = spec.get("checksum")
    counter = spec.get("counter")
    for key, value in (("checksum", checksum), ("counter", counter)):
        if value is not None:
            _signal(message, path, f"{entry}.{key}", value)
    if scheme == "none":
        return ProtectionSpec("none")
    if scheme in ("autosar_p2", "autosar_p5"):
        need = 2 if scheme == "autosar_p2" else 4
        if message.length < need:
            raise ConfigError(path, entry, f'message "{name}" has {message.length} byte(s); {scheme} needs {need}')
        layout = {"autosar_p2": {"checksum": set(range(8)), "counter": set(range(8, 12))},
                  "autosar_p5": {"checksum": set(range(16)), "counter": set(range(16, 24))}}[scheme]
        for key, value in (("checksum", checksum), ("counter", counter)):
            if value is not None and _bits(message.get_signal_by_name(value)) != layout[key]:
                raise ConfigError(path, f"{entry}.{key}", f'{scheme} puts the {key} in bits '
                                                          f'{min(layout[key])}-{max(layout[key])}; signal "{value}" '
                                                          "is elsewhere (use a sum/xor/crc8/crc16 scheme instead)")
        if scheme == "autosar_p2":
            if "data_ids" in spec:
                ids = spec["data_ids"]
                if not isinstance(ids, list) or len(ids) != 16:
                    raise ConfigError(path, f"{entry}.data_ids", f"expected 16 data IDs (one per counter value), "
                                                                 f"got {ids!r}")
                data_ids = tuple(_int_value(path, f"{entry}.data_ids[{i}]", v, 0, 0xFF) for i, v in enumerate(ids))
            elif "data_id_base" in spec:
                base = _int_value(path, f"{entry}.data_id_base", spec["data_id_base"], 0, 0xFF)
                data_ids = tuple((base + c) & 0xFF for c in range(16))
            else:
                raise ConfigError(path, entry, "autosar_p2 needs data_ids = [16 values] or data_id_base = N")
            return ProtectionSpec(scheme, "CRC", "Counter", data_ids=data_ids)
        if "data_id" not in spec:
            raise ConfigError(path, entry, "autosar_p5 needs data_id = N (16 bits)")
        return ProtectionSpec(scheme, data_id=_int_value(path, f"{entry}.data_id", spec["data_id"], 0, 0xFFFF))
    if checksum is None:
        raise ConfigError(path, f"{entry}.checksum", f'scheme "{scheme}" needs checksum = "<signal>"')
    checksum_signal = message.get_signal_by_name(checksum)
    if scheme in ("crc8", "crc16") and checksum_signal.length != (8 if scheme == "crc8" else 16):
        raise ConfigError(path, f"{entry}.checksum", f'{scheme} needs a {8 if scheme == "crc8" else 16}-bit checksum '
                                                     f'signal; "{checksum}" has {checksum_signal.length} bits')
    if checksum_signal.multiplexer_ids is not None or (counter and message.get_signal_by_name(counter).multiplexer_ids):
        raise ConfigError(path, entry, "checksum and counter signals must not be multiplexed")
    width = 8 if scheme != "crc16" else 16
    covered = None
    if "bytes" in spec:
        raw = spec["bytes"]
        if not isinstance(raw, list) or not raw:
            raise ConfigError(path, f"{entry}.bytes", f"expected a list of byte indices, got {raw!r}")
        covered = tuple(_int_value(path, f"{entry}.bytes[{i}]", v, 0, message.length - 1) for i, v in enumerate(raw))
    frame_id_bytes = spec.get("frame_id_bytes")
    if frame_id_bytes not in (None, "le", "be"):
        raise ConfigError(path, f"{entry}.frame_id_bytes", f'expected "le" or "be", got {frame_id_bytes!r}')
    reflect = spec.get("reflect", False)
    if not isinstance(reflect, bool):
        raise ConfigError(path, f"{entry}.reflect", f"expected true or false, got {reflect!r}")
    top = (1 << width) - 1
    modulus = None
    if "counter_modulus" in spec:
        if counter is None:
            raise ConfigError(path, f"{entry}.counter_modulus", "counter_modulus needs counter = \"<signal>\"")
        modulus = _int_value(path, f"{entry}.counter_modulus", spec["counter_modulus"], 2,
                             1 << message.get_signal_by_name(counter).length)
    return ProtectionSpec(
        scheme, checksum, counter, covered=covered, frame_id_bytes=frame_id_bytes,
        add=_int_value(path, f"{entry}.add", spec.get("add", 0), 0, 0xFFFF),
        poly=_int_value(path, f"{entry}.poly", spec.get("poly", 0x1D if width == 8 else 0x1021), 0, top),
        init=_int_value(path, f"{entry}.init", spec.get("init", 0), 0, top),
        xor_out=_int_value(path, f"{entry}.xor_out", spec.get("xor_out", 0), 0, top), reflect=reflect,
        counter_modulus=modulus,
    )


def _ms_table(data: Mapping[str, Any], path: Path, key: str, db: Database | None) -> dict[str, float]:
    table = data.get(key, {})
    if not isinstance(table, dict):
        raise ConfigError(path, key, "expected a table of message = milliseconds")
    out = {}
    for name, value in table.items():
        if db is not None:
            _message(db, path, f"{key}.{name}", name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ConfigError(path, f"{key}.{name}", f"expected a time in ms > 0, got {value!r}")
        out[name] = float(value)
    return out


def frame_id_moves(path: Path, data: Mapping[str, Any]) -> dict[str, int]:
    """The ``[frame_id]`` table: message -> new ID (checked before the DBCs are overlaid)."""
    table = data.get("frame_id", {})
    if not isinstance(table, dict):
        raise ConfigError(path, "frame_id", "expected a table of message = new frame ID")
    return {name: _int_value(path, f"frame_id.{name}", value, 0, 0x1FFFFFFF) for name, value in table.items()}


def _ignore_ranges(path: Path, data: Mapping[str, Any]) -> tuple[tuple[int, int], ...]:
    bus = data.get("bus", {})
    if not isinstance(bus, dict) or set(bus) - {"ignore_ids"}:
        raise ConfigError(path, "bus", "expected a table with ignore_ids = [ID, \"LOW-HIGH\", ...]")
    out = []
    for index, item in enumerate(bus.get("ignore_ids", [])):
        entry = f"bus.ignore_ids[{index}]"
        if isinstance(item, int) and not isinstance(item, bool):
            out.append((_int_value(path, entry, item, 0, 0x1FFFFFFF),) * 2)
            continue
        try:
            lo_text, hi_text = str(item).split("-")
            lo, hi = int(lo_text, 0), int(hi_text, 0)
        except ValueError:
            raise ConfigError(path, entry, f'expected an ID or a range "0x700-0x7FF", got {item!r}') from None
        if not 0 <= lo <= hi <= 0x1FFFFFFF:
            raise ConfigError(path, entry, f"expected LOW <= HIGH within 0..0x1FFFFFFF, got {item!r}")
        out.append((lo, hi))
    return tuple(out)


def _receivers(db: Database, path: Path, data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``[receiver.NAME]``: E2E receiver settings per message, checked against the receiver's own."""
    from .e2e_sm import E2EConfig

    table = data.get("receiver", {})
    if not isinstance(table, dict):
        raise ConfigError(path, "receiver", "expected [receiver.MESSAGE] tables")
    out = {}
    defaults = E2EConfig.load()
    for name, settings in table.items():
        _message(db, path, f"receiver.{name}", name)
        if not isinstance(settings, dict):
            raise ConfigError(path, f"receiver.{name}", "expected a table of E2E receiver settings")
        try:
            defaults.with_(**settings)
        except ConfigError as exc:
            raise ConfigError(path, f"receiver.{name}.{(exc.entry or 'e2e').removeprefix('e2e.')}",
                              exc.reason) from None
        out[name] = dict(settings)
    return out


def _timing(path: Path, data: Mapping[str, Any]) -> tuple[float | None, float | None]:
    timing = data.get("timing", {})
    if not isinstance(timing, dict) or set(timing) - {"stale_cycles", "min_stale_ms"}:
        raise ConfigError(path, "timing", "expected a table with stale_cycles and/or min_stale_ms")
    cycles = timing.get("stale_cycles")
    floor_ms = timing.get("min_stale_ms")
    if cycles is not None and (_number(path, "timing.stale_cycles", cycles) < 1):
        raise ConfigError(path, "timing.stale_cycles", f"expected a number of cycles >= 1, got {cycles!r}")
    if floor_ms is not None and _number(path, "timing.min_stale_ms", floor_ms) < 0:
        raise ConfigError(path, "timing.min_stale_ms", f"expected a time in ms >= 0, got {floor_ms!r}")
    return (float(cycles) if cycles is not None else None,
            float(floor_ms) / 1000.0 if floor_ms is not None else None)


def _each(problems: Problems, data: Mapping[str, Any], key: str, expected: str,
          bind: Callable[[str, Any], Any]) -> dict[str, Any]:
    """``bind(name, spec)`` for every entry of the table ``data[key]``; what it refuses is collected."""
    table = data.get(key, {})
    if not isinstance(table, dict):
        problems.add(key, expected)
        return {}
    out = {}
    for name, spec in table.items():
        with problems.guard(f"{key}.{name}"):
            out[name] = bind(name, spec)
    return out


def _map_e2e_base(db: Database, path: Path, name: str, base: object) -> int:
    """``[e2e] MESSAGE = BASE``: a profile-2 data ID base the map gives a message."""
    _message(db, path, f"e2e.{name}", name)
    if isinstance(base, bool) or not isinstance(base, int) or not 0 <= base <= 255:
        raise ConfigError(path, f"e2e.{name}", f"expected a data ID base 0..255, got {base!r}")
    return base


def load_signal_map(path: str | Path, db: Database, *,
                    require: Iterable[str] = ("bms", "vcu", "obc", "cu"),
                    data: Mapping[str, Any] | None = None, dbc_paths: Sequence[Path] = (),
                    text: str = "", locate: Locate = None) -> SignalMap:
    """Load and validate a signal map against ``db``.

    ``require`` names the producers whose required roles must be mapped: the
    bundled compute unit needs its inputs and outputs, a bench with a real
    compute unit on the bus needs none (checks over unmapped roles then
    report NOT MAPPED).  ``text`` (the map's own) lets problems cite lines;
    ``locate(message, attribute)`` gives the DBC file and line of what a DBC
    declares (an E2E profile, a cycle time).

    Raises:
        ConfigError: listing every problem of the map (and of the DBC attributes it relies on),
            each with the file, the entry (``roles.soc_pct.signal``), the line and the reason.
    """
    path = Path(path)
    if data is None:
        data, text = read_map(path)
    problems = Problems(path, text)
    for key in data:
        if key not in _MAP_KEYS:
            problems.add(key, f"unknown section{suggest(key, _MAP_KEYS)}; allowed: {', '.join(_MAP_KEYS)}")
    roles_spec = data.get("roles")
    if not isinstance(roles_spec, dict) or not roles_spec:
        problems.add("roles", "missing [roles] table")
        roles_spec = {}
    notes: list[str] = []
    roles: dict[str, RoleBinding] = _each(problems, {"roles": roles_spec}, "roles", "",
                                          lambda name, spec: _bind_role(db, path, name, spec, notes))
    cells: dict[str, CellBinding] = _each(
        problems, data, "cells", "expected [cells.voltage] / [cells.temperature] / [cells.voltage_fd] tables",
        lambda kind, spec: _bind_cells(db, path, kind, spec))
    used = {b.message for b in roles.values()} | {c.message for c in cells.values()}
    _check_role_signals(db, path, roles, problems, locate)
    _check_lengths(db, path, used, problems, locate)

    e2e = _dbc_e2e(db, path, used, notes, problems, locate)
    e2e.update(_each(problems, data, "e2e", "expected a table of message = data ID base",
                     lambda name, base: _map_e2e_base(db, path, name, base)))
    protection: dict[str, ProtectionSpec] = _each(problems, data, "protection", "expected [protection.MESSAGE] tables",
                                                  lambda name, spec: _bind_protection(db, path, name, spec))
    for name in protection:
        e2e.pop(name, None)     # the map's declaration wins over the DBC's attributes
    with problems.guard("e2e"):
        _check_e2e_layout(db, path, e2e)

    overrides = timeouts = {}
    with problems.guard("cycle_ms"):
        overrides = _ms_table(data, path, "cycle_ms", db)
    with problems.guard("timeout_ms"):
        timeouts = {name: ms / 1000.0 for name, ms in _ms_table(data, path, "timeout_ms", db).items()}
    stale_cycles = min_stale_s = None
    with problems.guard("timing"):
        stale_cycles, min_stale_s = _timing(path, data)
    moves: dict[str, int] = {}
    with problems.guard("frame_id"):
        moves = frame_id_moves(path, data)
    ignore: tuple[tuple[int, int], ...] = ()
    with problems.guard("bus"):
        ignore = _ignore_ranges(path, data)
    receivers: dict[str, dict[str, Any]] = {}
    with problems.guard("receiver"):
        receivers = _receivers(db, path, data)
    sm = SignalMap(path, roles, cells, e2e, {}, protection, timeouts, stale_cycles, min_stale_s,
                   tuple(dbc_paths), moves, ignore, tuple(notes), receivers)
    for name in sm.used_messages:
        message = db.get_message_by_name(name)
        ms = overrides.get(name, message.cycle_time)
        declared = locate(name, "GenMsgCycleTime") if locate is not None and not ms else (None, None)
        if name in overrides:
            pass
        elif ms is None and declared[1] is not None:     # cantools reads a cycle time of 0 as none
            problems.add(f'message "{name}" GenMsgCycleTime', "a cycle time must be > 0 ms, got 0; fix the DBC "
                         "or give one in the map's [cycle_ms]", file=declared[0], line=declared[1])
            continue
        elif ms is None:
            problems.add(f"cycle_ms.{name}", f'message "{name}" has no GenMsgCycleTime in the DBC; give one here')
            continue
        elif isinstance(ms, bool) or not isinstance(ms, (int, float)) or not math.isfinite(ms) or ms <= 0:
            file, line = locate(name, "GenMsgCycleTime") if locate is not None else (None, None)
            problems.add(f'message "{name}" GenMsgCycleTime' if file else f"cycle_ms.{name}",
                         f"a cycle time must be > 0 ms, got {ms!r}; fix the DBC or give one in the map's "
                         "[cycle_ms]", file=file or path, line=line)
            continue
        assert ms is not None   # an override is a number (checked when read), and None is refused above
        sm.cycle_time_s[name] = ms / 1000.0
    # A required role whose binding was refused is reported there, not again as missing.
    missing = [role for role in sm.missing_roles(require) if role not in roles_spec]
    if missing:
        problems.add("roles", f"required role(s) not mapped: {', '.join(missing)}")
    problems.raise_if_any()
    return sm
