"""What a bench needs to know about its bus before the first frame: DBCs overlaid, and the signal map.

:func:`load_bus_description` is the one way in: it reads the map, finds its
DBCs (the ``--dbc`` files if given, else the map's own ``dbc = [...]`` list,
else the bench's own two DBCs), loads them leniently, overlays them, binds
the map, and then holds only the messages the map uses to cantools' strict
checks.  Everything else a foreign DBC gets wrong becomes a warning.  A
suite loads the same description for every scenario, so it is cached.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cantools.database.can import Database

from ..errors import ConfigError
from .dbc import DbcOverlay, _identity, default_dbc_paths, load_dbc_lenient, overlay
from .signal_map import (
    SignalMap,
    default_signal_map_path,
    frame_id_moves,
    load_signal_map,
    map_dbc_sources,
    read_map,
)

ALL_PRODUCERS = ("bms", "vcu", "obc", "cu")


@dataclass(frozen=True)
class BusDescription:
    """The overlaid database, the bound signal map, and what loading them had to say."""

    db: Database
    signal_map: SignalMap
    overlay: DbcOverlay
    warnings: tuple[str, ...]


_CACHE: dict[tuple, BusDescription] = {}


def _key_of(paths: Iterable[Path]) -> tuple:
    return tuple((str(p.resolve()), _identity(p)) for p in paths)


def load_bus_description(dbcs: Sequence[str | Path] | str | Path | None = None,
                         signal_map: str | Path | None = None, *,
                         require: Iterable[str] = ALL_PRODUCERS) -> BusDescription:
    """Load DBCs and a signal map as one validated description of the bus.

    ``dbcs`` overrides the map's own list; ``require`` names the producers whose
    required roles must be mapped (see :meth:`SignalMap.require`).

    Raises:
        ConfigError: every problem of a DBC the map uses, an overlay collision, or
            a map entry, naming the file, the entry and the reason.
    """
    map_path = Path(signal_map) if signal_map is not None else default_signal_map_path()
    if isinstance(dbcs, (str, Path)):
        dbcs = [dbcs]
    require = tuple(sorted(set(require)))
    data, text = read_map(map_path)
    if dbcs:
        sources = [(Path(p), str(p)) for p in dbcs]
        for path, _ in sources:
            if not path.is_file():     # before the cache key asks the file system for its identity
                raise ConfigError(path, None, "no such DBC file")
    else:
        sources = map_dbc_sources(map_path, data) or [(p, str(p)) for p in default_dbc_paths()]
    key = (str(map_path.resolve()), _identity(map_path), _key_of(p for p, _ in sources), require)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    loaded = [load_dbc_lenient(path, label=label) for path, label in sources]
    stack = overlay(loaded, frame_ids=frame_id_moves(map_path, data), map_path=map_path)
    sm = load_signal_map(map_path, stack.db, require=require, data=data, text=text,
                         dbc_paths=tuple(path for path, _ in sources), locate=stack.locate)
    used = sm.used_messages + list(sm.protection)
    stack.refuse_offenders_in(used, map_path=map_path)
    description = BusDescription(stack.db, sm, stack, tuple(stack.warnings_outside(used)) + sm.warnings)
    _CACHE[key] = description
    return description
