"""Loading a DBC with cantools, refusing a broken one at load with file, line and reason."""

from __future__ import annotations

import re
from pathlib import Path

import cantools
from cantools.database.can import Database

from ..errors import ConfigError
from ..resources import dbc_dir

#: Parsed databases by (resolved path, strict): (file identity, database), the identity being
#: inode, size, mtime and ctime (ctime moves on any write, even one that restores mtime).  Parsing the
#: bench DBC takes ~0.1 s, more than a short scenario's whole run; a suite loads it once
#: per process and shares it read-only (hilbench never changes a loaded database).
_LOADED: dict[tuple[str, bool], tuple[tuple[int, int, int, int], Database]] = {}


def default_dbc_path() -> Path:
    """The bench's own DBC: ``dbc/hilbench.dbc`` in a checkout, or its installed copy."""
    return dbc_dir() / "hilbench.dbc"


def load_dbc(path: str | Path, *, strict: bool = True) -> Database:
    """Load a DBC file with cantools' strict checks (overlapping signals, sizes).

    Raises:
        ConfigError: the file is missing, is not a DBC, or fails cantools' checks;
            the message names the file, the line where the parser gives it, and
            the reason.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, None, "no such DBC file")
    stat = path.stat()
    key = (str(path.resolve()), strict)
    identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    cached = _LOADED.get(key)
    if cached is not None and cached[0] == identity:
        return cached[1]
    try:
        db = cantools.database.load_file(path, database_format="dbc", strict=strict)
    except Exception as exc:  # cantools raises ParseError, Error, ValueError...
        reason = " ".join(str(exc).split())
        entry = None
        match = re.search(r"line (\d+)", reason)
        if match:
            entry = f"line {match.group(1)}"
        raise ConfigError(path, entry, f"not a valid DBC: {reason}") from None
    if not db.messages:
        raise ConfigError(path, None, "DBC defines no messages")
    _LOADED[key] = (identity, db)
    return db
