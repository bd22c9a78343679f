"""Files a command writes when it ends (a Markdown table, JSON figures, a JUnit report).

A run may take minutes; finding only at its end that its output cannot be written would
lose what it measured.  So each command checks its output paths before it starts, and a
write that still fails (the disk filled, the folder went away) is bad input, exit 2,
with the path and the reason, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError


def check_writable(path: Path, option: str) -> None:
    """Make the output's folder (as ``--report`` does) and refuse a path no file can take."""
    if path.is_dir():
        raise ConfigError(path, option, "is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(path, option,
                          f"cannot be written: its folder cannot be made ({exc.strerror or exc})") from None


def write_text(path: Path, option: str, text: str) -> Path:
    """Write ``text`` to ``path``; an OS error becomes a :class:`ConfigError` naming the option."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, option, f"cannot be written: {exc.strerror or exc}") from None
    return path
