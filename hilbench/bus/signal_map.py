"""Signal map: the TOML file that binds bench roles to a DBC's messages and signals.

Validated against the DBC at load, before the first frame: a map naming a
role, message, signal or state that does not exist never starts a bench.

Format (see ``dbc/hilbench.signals.toml``)::

    [roles]
    pack_voltage_v = { message = "BMS_PackStatus", signal = "PackVoltage" }
    soc_pct = { message = "BMS_PackStatus", signal = "SOC", scale = 1.0, offset = 0.0 }
    gear = { message = "VCU_VehicleStatus", signal = "Gear", states = { P = "PARK" } }

    [cells.voltage]             # optional per-cell detail messages
    message = "BMS_CellVoltages"
    multiplexer = "CellGroup"
    signal = "CellVoltage{index:03d}"   # 1-based cell index
    per_frame = 4

``scale``/``offset`` convert the DBC's physical value into the role's unit
(``role = dbc * scale + offset``).  ``states`` maps bench state names to the
DBC's value-table names where they differ.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from cantools.database.can import Database, Message

from ..errors import ConfigError
from .roles import ROLES, Role


@dataclass(frozen=True)
class RoleBinding:
    role: Role
    message: str
    signal: str
    scale: float = 1.0
    offset: float = 0.0
    # For enumerated roles: raw DBC value <-> bench state name.
    raw_by_state: dict[str, int] = field(default_factory=dict)
    state_by_raw: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CellBinding:
    """Per-cell values sent as a multiplexed message (voltages or temperatures)."""

    kind: str                 # "voltage", "temperature" or "voltage_fd"
    message: str
    multiplexer: str
    signal: str               # format string with {index} (1-based), or {module} and {cell}
    per_frame: int
    count_signal: str | None = None

    def signal_name(self, frame: int, k: int) -> str:
        if "{module" in self.signal:
            return self.signal.format(module=frame, cell=k + 1)
        return self.signal.format(index=frame * self.per_frame + k + 1)


@dataclass(frozen=True)
class SignalMap:
    path: Path
    roles: dict[str, RoleBinding]
    cells: dict[str, CellBinding]
    e2e_data_id_base: dict[str, int]
    cycle_time_s: dict[str, float]

    def binding(self, role: str) -> RoleBinding | None:
        return self.roles.get(role)

    def messages_of(self, producer: str) -> list[str]:
        """Names of the messages that carry the roles a node produces, in DBC order."""
        names: list[str] = []
        for binding in self.roles.values():
            if binding.role.producer == producer and binding.message not in names:
                names.append(binding.message)
        if producer == "bms":
            for cell in self.cells.values():
                if cell.message not in names:
                    names.append(cell.message)
        return names


def default_signal_map_path() -> Path:
    from .dbc import default_dbc_path

    return default_dbc_path().with_name("hilbench.signals.toml")


def _read_toml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(path, None, "no such signal map file")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, None, f"not valid TOML: {exc}") from None


def _message(db: Database, path: Path, entry: str, name: object) -> Message:
    if not isinstance(name, str):
        raise ConfigError(path, entry, f"expected a message name (string), got {name!r}")
    try:
        return db.get_message_by_name(name)
    except KeyError:
        raise ConfigError(path, entry, f'message "{name}" is not in the DBC') from None


def _signal(message: Message, path: Path, entry: str, name: object) -> None:
    if not isinstance(name, str):
        raise ConfigError(path, entry, f"expected a signal name (string), got {name!r}")
    try:
        message.get_signal_by_name(name)
    except KeyError:
        known = ", ".join(s.name for s in message.signals[:12])
        raise ConfigError(
            path, entry,
            f'signal "{name}" is not in message "{message.name}" (it has: {known}'
            + (", ..." if len(message.signals) > 12 else "") + ")",
        ) from None


def _bind_role(db: Database, path: Path, name: str, spec: object) -> RoleBinding:
    entry = f"roles.{name}"
    role = ROLES.get(name)
    if role is None:
        raise ConfigError(path, entry, f'unknown role "{name}"; known roles: {", ".join(ROLES)}')
    if not isinstance(spec, dict):
        raise ConfigError(path, entry, "expected a table with message and signal")
    unknown = set(spec) - {"message", "signal", "scale", "offset", "states"}
    if unknown:
        raise ConfigError(path, entry, f"unknown key(s) {sorted(unknown)}; allowed: message, signal, scale, offset, states")
    for key in ("message", "signal"):
        if key not in spec:
            raise ConfigError(path, entry, f'missing "{key}"')
    message = _message(db, path, f"{entry}.message", spec["message"])
    _signal(message, path, f"{entry}.signal", spec["signal"])
    scale = spec.get("scale", 1.0)
    offset = spec.get("offset", 0.0)
    for key, value in (("scale", scale), ("offset", offset)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(path, f"{entry}.{key}", f"expected a number, got {value!r}")
    if scale == 0:
        raise ConfigError(path, f"{entry}.scale", "scale must not be 0")
    raw_by_state: dict[str, int] = {}
    if role.is_enum:
        signal = message.get_signal_by_name(spec["signal"])
        aliases = spec.get("states", {})
        if not isinstance(aliases, dict):
            raise ConfigError(path, f"{entry}.states", "expected a table of bench state = DBC name")
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
        for state in role.states:
            target = aliases.get(state, state)
            if isinstance(target, int) and not isinstance(target, bool):
                raw_by_state[state] = target
            elif target in by_name:
                raw_by_state[state] = by_name[target]
            else:
                raise ConfigError(
                    path, f"{entry}.states",
                    f'state "{state}" of role "{name}" has no value "{target}" in the value table of '
                    f'{message.name}.{signal.name} (it has: {", ".join(by_name) or "no value table"}); '
                    f'map it with states = {{ {state} = "..." }}',
                )
    if len(set(raw_by_state.values())) != len(raw_by_state):
        same = sorted(st for st, raw in raw_by_state.items() if list(raw_by_state.values()).count(raw) > 1)
        raise ConfigError(path, f"{entry}.states",
                          f"states {', '.join(same)} map to the same DBC value; each needs its own")
    return RoleBinding(
        role, message.name, spec["signal"], float(scale), float(offset),
        raw_by_state, {raw: state for state, raw in raw_by_state.items()},
    )


def _bind_cells(db: Database, path: Path, kind: str, spec: object) -> CellBinding:
    entry = f"cells.{kind}"
    if kind not in ("voltage", "temperature", "voltage_fd"):
        raise ConfigError(path, entry, 'unknown cell section; use "voltage", "temperature" or "voltage_fd"')
    if not isinstance(spec, dict):
        raise ConfigError(path, entry, "expected a table")
    for key in ("message", "multiplexer", "signal", "per_frame"):
        if key not in spec:
            raise ConfigError(path, entry, f'missing "{key}"')
    message = _message(db, path, f"{entry}.message", spec["message"])
    _signal(message, path, f"{entry}.multiplexer", spec["multiplexer"])
    if spec.get("count_signal") is not None:
        _signal(message, path, f"{entry}.count_signal", spec["count_signal"])
    per_frame = spec["per_frame"]
    if not isinstance(per_frame, int) or per_frame < 1:
        raise ConfigError(path, f"{entry}.per_frame", f"expected a whole number >= 1, got {per_frame!r}")
    binding = CellBinding(kind, message.name, spec["multiplexer"], spec["signal"], per_frame,
                          spec.get("count_signal"))
    try:
        first = binding.signal_name(0, 0)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(path, f"{entry}.signal", f"bad signal pattern: {exc}") from None
    _signal(message, path, f"{entry}.signal", first)
    return binding


def _bits(signal) -> set[int]:
    """Bit positions (DBC numbering) a signal occupies."""
    if signal.byte_order == "little_endian":
        return set(range(signal.start, signal.start + signal.length))
    bits, position = set(), signal.start
    for _ in range(signal.length):       # Motorola: walk down a byte, then to the next byte's MSB
        bits.add(position)
        position = position - 1 if position % 8 else position + 15
    return bits


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


def load_signal_map(path: str | Path, db: Database) -> SignalMap:
    """Load and validate a signal map against ``db``.

    Raises:
        ConfigError: naming the file, the entry (``roles.soc_pct.signal``) and the reason.
    """
    path = Path(path)
    data = _read_toml(path)
    unknown = set(data) - {"roles", "cells", "e2e", "cycle_ms", "dbc"}
    if unknown:
        raise ConfigError(path, sorted(unknown)[0], "unknown section; allowed: roles, cells, e2e, cycle_ms, dbc")
    roles_spec = data.get("roles")
    if not isinstance(roles_spec, dict) or not roles_spec:
        raise ConfigError(path, "roles", "missing [roles] table")
    roles = {name: _bind_role(db, path, name, spec) for name, spec in roles_spec.items()}
    missing = [name for name, role in ROLES.items() if role.required and name not in roles]
    if missing:
        raise ConfigError(path, "roles", f"required role(s) not mapped: {', '.join(missing)}")
    cells = {kind: _bind_cells(db, path, kind, spec) for kind, spec in data.get("cells", {}).items()}

    e2e: dict[str, int] = {}
    for message in db.messages:
        attr = message.dbc.attributes.get("E2EDataIdBase") if message.dbc else None
        profile = message.dbc.attributes.get("E2EProfile") if message.dbc else None
        if attr is not None and profile is not None and profile.value == "P02":
            e2e[message.name] = int(attr.value)
    for name, base in data.get("e2e", {}).items():
        _message(db, path, f"e2e.{name}", name)
        if not isinstance(base, int) or not 0 <= base <= 255:
            raise ConfigError(path, f"e2e.{name}", f"expected a data ID base 0..255, got {base!r}")
        e2e[name] = base
    _check_e2e_layout(db, path, e2e)

    cycles: dict[str, float] = {}
    overrides = data.get("cycle_ms", {})
    for name, value in overrides.items():
        _message(db, path, f"cycle_ms.{name}", name)
        if not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(path, f"cycle_ms.{name}", f"expected a cycle time in ms > 0, got {value!r}")
    sm = SignalMap(path, roles, cells, e2e, cycles)
    for producer in ("bms", "vcu", "obc", "cu"):
        for name in sm.messages_of(producer):
            message = db.get_message_by_name(name)
            ms = overrides.get(name, message.cycle_time)
            if not ms:
                raise ConfigError(path, f"cycle_ms.{name}",
                                  f'message "{name}" has no GenMsgCycleTime in the DBC; give one here')
            cycles[name] = ms / 1000.0
    return sm
