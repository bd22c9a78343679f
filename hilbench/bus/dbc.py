"""Loading DBCs with cantools: the bench's own strictly, a lab's leniently, several overlaid.

A car's DBC was written for the car, not for cantools: community DBCs put
29-bit IDs in 11-bit form, leave value tables pointing at signals that are
gone, and let signals overlap in messages nobody here will ever send.  A lab
must not have to edit its car's DBC before the first run, so a foreign DBC
is loaded *leniently*: every such problem is collected as a
:class:`DbcOffender` (file, line, message, signal, reason) and reported at
once as a warning; only the messages the signal map uses are then held to
cantools' strict checks (:meth:`DbcOverlay.refuse_offenders_in`), and a
problem there refuses the run listing all of them.

Several DBCs are *overlaid* in order (a car's DBC plus the compute unit's
own): a frame ID or message name defined twice is refused naming both
files, both messages and the ID.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import cantools
from cantools.database.can import Database, Message, Signal

from ..errors import ConfigError, Problem
from ..resources import dbc_dir

#: Parsed databases by (resolved path, strict): (file identity, database), the identity being
#: inode, size, mtime and ctime (ctime moves on any write, even one that restores mtime).  Parsing the
#: bench DBC takes ~0.1 s, more than a short scenario's whole run; a suite loads it once
#: per process and shares it read-only (hilbench never changes a loaded database).
_LOADED: dict[tuple[str, bool], tuple[tuple[int, int, int, int], Database]] = {}
_LENIENT: dict[str, tuple[tuple[int, int, int, int], LenientDbc]] = {}

#: cantools reads DBC files in this encoding by default (Vector's tools write it).
DBC_ENCODING = "cp1252"
#: DBC statements that name a message by its frame ID (the ID follows the keyword).
_ID_STATEMENT = re.compile(r"\b(BO_|SG_|VAL_|SIG_VALTYPE_|BO_TX_BU_|SG_MUL_VAL_|SIG_GROUP_)([ \t]+)(\d+)\b")
_MESSAGE_LINE = re.compile(r"^BO_\s+(\d+)\s+(\w+)\s*:", re.MULTILINE)
_SIGNAL_LINE = re.compile(r"^\s+SG_\s+(\w+)")
_EXTENDED_FLAG = 0x80000000


def default_dbc_path() -> Path:
    """The bench's own vehicle DBC (BMS, VCU, OBC): ``dbc/hilbench.dbc`` in a checkout, or its installed copy."""
    return dbc_dir() / "hilbench.dbc"


def compute_unit_dbc_path() -> Path:
    """The compute unit's own messages (CU_Status, CU_PowerRequest, CU_Energy), to overlay on any car's DBC."""
    return dbc_dir() / "compute_unit.dbc"


def default_dbc_paths() -> tuple[Path, ...]:
    """The DBCs of the default bench, in overlay order."""
    return (default_dbc_path(), compute_unit_dbc_path())


def _identity(path: Path) -> tuple[int, int, int, int]:
    stat = path.stat()
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def _parse_failure(path: Path, exc: Exception) -> ConfigError:
    reason = " ".join(str(exc).split())
    match = re.search(r"line (\d+)", reason)
    return ConfigError(path, None, f"not a valid DBC: {reason}", line=int(match.group(1)) if match else None)


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
    key = (str(path.resolve()), strict)
    identity = _identity(path)
    cached = _LOADED.get(key)
    if cached is not None and cached[0] == identity:
        return cached[1]
    try:
        # database_format="dbc" always gives a CAN database (cantools' return type also allows a diagnostics one).
        db = cast(Database, cantools.database.load_file(path, database_format="dbc", strict=strict))
    except Exception as exc:  # cantools raises ParseError, Error, ValueError...
        raise _parse_failure(path, exc) from None
    if not db.messages:
        raise ConfigError(path, None, "DBC defines no messages")
    try:
        text = path.read_text(encoding=DBC_ENCODING)
    except (OSError, UnicodeDecodeError):
        text = ""
    unread = _duplicates(path, text) or _unread(path, text, db)
    if unread is not None:
        raise unread
    _LOADED[key] = (identity, db)
    return db


# -- lenient loading -------------------------------------------------------------------------
@dataclass(frozen=True)
class DbcOffender:
    """One thing in a DBC that cantools' strict load refuses, found by the lenient load."""

    file: Path
    line: int | None
    message: str | None
    signal: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}" + (f": line {self.line}" if self.line else "")
        what = ""
        if self.message:
            what = f' message "{self.message}"' + (f' signal "{self.signal}"' if self.signal else "")
        return f"{where}:{what} {self.reason}".replace(": ", ": ", 1)


@dataclass(frozen=True)
class LenientDbc:
    """A DBC loaded without cantools' strict checks, with every offender found."""

    path: Path
    db: Database
    offenders: tuple[DbcOffender, ...]
    #: Line of each message's ``BO_`` statement, for messages about it.
    lines: Mapping[str, int] = field(default_factory=dict)
    #: The text as parsed (long IDs promoted, unused value tables dropped), to find attribute lines.
    text: str = field(default="", repr=False, compare=False)

    def attribute_line(self, attribute: str, frame_id: int) -> int | None:
        """The line of ``BA_ "attribute" BO_ <frame_id> ...;`` (the ID as the DBC writes it)."""
        ids = {frame_id, frame_id | _EXTENDED_FLAG}
        pattern = re.compile(rf'^[ \t]*BA_[ \t]+"{re.escape(attribute)}"[ \t]+BO_[ \t]+(\d+)', re.MULTILINE)
        for match in pattern.finditer(self.text):
            if int(match.group(1)) in ids:
                return self.text.count("\n", 0, match.start()) + 1
        return None


def _message_lines(text: str) -> dict[str, int]:
    lines: dict[str, int] = {}
    for match in _MESSAGE_LINE.finditer(text):
        lines[match.group(2)] = text.count("\n", 0, match.start()) + 1
    return lines


def _signal_line(text: str, message_line: int | None, signal: str | None) -> int | None:
    """The line of ``SG_ signal`` inside the message starting at ``message_line``."""
    if message_line is None or signal is None:
        return message_line
    for offset, line in enumerate(text.splitlines()[message_line:], start=message_line + 1):
        match = _SIGNAL_LINE.match(line)
        if match is None:
            break
        if match.group(1) == signal:
            return offset
    return message_line


def _promote_long_ids(path: Path, text: str) -> tuple[str, list[DbcOffender]]:
    """Give 29-bit IDs written without the DBC's extended flag that flag (opendbc writes them so).

    cantools refuses such a message outright, even when not strict; a CAN
    controller would send it as an extended frame, which is what the flag says.
    """
    lines = _message_lines(text)
    long_ids: dict[int, str] = {}
    for match in _MESSAGE_LINE.finditer(text):
        frame_id = int(match.group(1))
        if 0x7FF < frame_id < _EXTENDED_FLAG:
            long_ids[frame_id] = match.group(2)
    if not long_ids:
        return text, []
    offenders = [
        DbcOffender(path, lines.get(name), name, None,
                    f"frame ID 0x{frame_id:X} is longer than 11 bits but not marked extended; "
                    "read as a 29-bit extended ID")
        for frame_id, name in long_ids.items()
    ]

    def promote(match: re.Match[str]) -> str:
        frame_id = int(match.group(3))
        if frame_id in long_ids:
            return f"{match.group(1)}{match.group(2)}{frame_id | _EXTENDED_FLAG}"
        return match.group(0)

    return _ID_STATEMENT.sub(promote, text), offenders


_UNUSED = re.compile(r"unused (VAL_|SIG_VALTYPE_) entries in DBC:(.*)", re.DOTALL)
_UNUSED_ENTRY = re.compile(r"(VAL_|SIG_VALTYPE_) (\d+) (\w+)")


def _drop_unused(path: Path, text: str, error: str) -> tuple[str, list[DbcOffender]] | None:
    """Remove value tables and value types that point at no signal; None if ``error`` is not that."""
    match = _UNUSED.search(error)
    if match is None:
        return None
    offenders = []
    for keyword, frame_id, signal in _UNUSED_ENTRY.findall(match.group(2)):
        pattern = re.compile(rf"^[ \t]*{keyword}[ \t]+{frame_id}[ \t]+{signal}\b[^;]*;[ \t]*\n?", re.MULTILINE)
        found = pattern.search(text)
        line = text.count("\n", 0, found.start()) + 1 if found else None
        text = pattern.sub("", text)
        offenders.append(DbcOffender(path, line, None, signal,
                                     f"{keyword} {frame_id} {signal} names no signal of any message; ignored"))
    return text, offenders


_SIGNALS_IN_REASON = re.compile(r"signals? (\w+)(?: and (\w+))?")


def _duplicates(path: Path, text: str) -> ConfigError | None:
    """Two ``BO_`` statements with one frame ID or one name in a file: refused naming both lines
    (cantools would keep one of them and the other message would vanish without a word)."""
    seen_id: dict[int, tuple[str, int]] = {}
    seen_name: dict[str, int] = {}
    problems = []
    for match in _MESSAGE_LINE.finditer(text):
        frame_id, name = int(match.group(1)), match.group(2)
        line = text.count("\n", 0, match.start()) + 1
        if frame_id in seen_id:
            other, other_line = seen_id[frame_id]
            shown = frame_id & ~_EXTENDED_FLAG
            problems.append(Problem(str(path), f'message "{name}"', f"duplicate frame ID 0x{shown:X}: also used by "
                                    f'"{other}" (line {other_line})', line))
        else:
            seen_id[frame_id] = (name, line)
        if name in seen_name:
            problems.append(Problem(str(path), f'message "{name}"', f"duplicate message name: also defined at line "
                                    f"{seen_name[name]}", line))
        else:
            seen_name[name] = line
    return ConfigError.of(problems) if problems else None


def _unread(path: Path, text: str, db: Database) -> ConfigError | None:
    """A message or signal the text declares that the parser did not read (a file cut short, a
    statement it skipped): cantools may stop at a broken tail without a word, so count them."""
    parsed = {m.name: {s.name for s in m.signals} for m in db.messages}
    message: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        bo = _MESSAGE_LINE.match(line)
        if bo is not None:
            message = bo.group(2)
            if message not in parsed:
                return ConfigError(path, f'message "{message}"', "not read by the DBC parser (a broken or "
                                   "incomplete statement here or after it)", line=number)
            continue
        sg = _SIGNAL_LINE.match(line)
        if sg is not None and message is not None and sg.group(1) not in parsed.get(message, ()):
            return ConfigError(path, f'message "{message}" signal "{sg.group(1)}"',
                               "not read by the DBC parser (an incomplete SG_ statement: the file may be cut short)",
                               line=number)
        if line.strip() and not line.startswith((" ", "\t")) and bo is None:
            message = None
    return None


def _layout_problems(message: Message) -> list[tuple[str, str]]:
    """Every signal that does not fit and every pair that overlaps, as (signal, reason).

    cantools' strict check stops at a message's first problem; a lab fixing a
    DBC wants them all.  Signals under different multiplexer values may share bits.
    """
    from .protection import signal_bits

    size = message.length * 8
    placed: list[tuple[Signal, set[int]]] = []
    problems: list[tuple[str, str]] = []
    for signal in message.signals:
        bits = set(signal_bits(signal.start, signal.length, signal.byte_order))
        if max(bits, default=0) >= size or min(bits, default=0) < 0:
            problems.append((signal.name, f"The signal {signal.name} does not fit in message {message.name}"))
            continue
        for other, other_bits in placed:
            together = (signal.multiplexer_ids is None or other.multiplexer_ids is None
                        or set(signal.multiplexer_ids) & set(other.multiplexer_ids))
            if together and bits & other_bits:
                problems.append((signal.name, f"The signals {signal.name} and {other.name} are overlapping "
                                              f"in message {message.name}"))
        placed.append((signal, bits))
    return problems


def _strict_offenders(path: Path, text: str, db: Database, lines: Mapping[str, int]) -> list[DbcOffender]:
    """Every message that cantools' strict checks refuse, with each of its problems."""
    offenders = []
    for message in db.messages:
        try:
            message.refresh(strict=True)
        except Exception as exc:  # cantools raises Error (a plain Exception subclass) here
            reason = " ".join(str(exc).split()).rstrip(".")
            signals = _SIGNALS_IN_REASON.search(reason)
            problems: Sequence[tuple[str | None, str]] = (_layout_problems(message)
                                                          or [(signals.group(1) if signals else None, reason)])
            for signal, why in problems:
                line = _signal_line(text, lines.get(message.name), signal)
                offenders.append(DbcOffender(path, line, message.name, signal, why))
        finally:
            message.refresh(strict=False)
    return offenders


def load_dbc_lenient(path: str | Path, *, label: str | None = None) -> LenientDbc:
    """Load a DBC without cantools' strict checks, collecting every offender.

    ``label`` names the file in messages (a package's file reads better by its
    package path than by its site-packages path).

    Raises:
        ConfigError: the file is missing or cannot be parsed at all (a syntax
            error, with its line), or defines no messages.
    """
    path = Path(path)
    shown = Path(label) if label else path
    if not path.is_file():
        raise ConfigError(shown, None, "no such DBC file")
    key = str(path.resolve())
    identity = _identity(path)
    cached = _LENIENT.get(key)
    if cached is not None and cached[0] == identity:
        return cached[1]
    try:
        text = path.read_text(encoding=DBC_ENCODING)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(shown, None, f"cannot read the DBC: {exc}") from None
    text, offenders = _promote_long_ids(shown, text)
    duplicates = _duplicates(shown, text)
    if duplicates is not None:
        raise duplicates
    for _attempt in range(3):
        try:
            db = cast(Database, cantools.database.load_string(text, database_format="dbc", strict=False))
            break
        except Exception as exc:  # cantools raises ParseError, Error, ValueError...
            dropped = _drop_unused(shown, text, str(exc))
            if dropped is None:
                raise _parse_failure(shown, exc) from None
            text, more = dropped
            offenders.extend(more)
    else:
        raise ConfigError(shown, None, "not a valid DBC: cantools keeps refusing it after removing "
                                       "unused value tables")
    if not db.messages:
        raise ConfigError(shown, None, "DBC defines no messages")
    unread = _unread(shown, text, db)
    if unread is not None:
        raise unread
    lines = _message_lines(text)
    offenders.extend(_strict_offenders(shown, text, db, lines))
    loaded = LenientDbc(shown, db, tuple(offenders), lines, text)
    _LENIENT[key] = (identity, loaded)
    return loaded


# -- overlays ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DbcOverlay:
    """Several DBCs as one database, each message remembering the file it came from."""

    db: Database
    sources: tuple[LenientDbc, ...]
    origin: Mapping[str, LenientDbc]

    @property
    def paths(self) -> tuple[Path, ...]:
        """The overlaid DBC files, in overlay order."""
        return tuple(source.path for source in self.sources)

    @property
    def offenders(self) -> tuple[DbcOffender, ...]:
        """What the lenient load let through in every file: a strict load would refuse each of these."""
        return tuple(o for source in self.sources for o in source.offenders)

    def where(self, message: str) -> str:
        """``file: line N`` of a message's definition, for messages about it."""
        source = self.origin.get(message)
        if source is None:
            return "<unknown DBC>"
        line = source.lines.get(message)
        return f"{source.path}" + (f": line {line}" if line else "")

    def locate(self, message: str, attribute: str | None = None, *,
               signal: str | None = None) -> tuple[Path | None, int | None]:
        """(file, line) of a message's ``BO_`` statement, of one of its attributes (``BA_ "..." BO_``),
        or of one of its signals (``SG_``)."""
        source = self.origin.get(message)
        if source is None:
            return None, None
        if signal is not None:
            return source.path, _signal_line(source.text, source.lines.get(message), signal)
        if attribute is not None:
            frame_id = source.db.get_message_by_name(message).frame_id
            line = source.attribute_line(attribute, frame_id)
            if line is not None:
                return source.path, line
        return source.path, source.lines.get(message)

    def warnings_outside(self, used: Iterable[str]) -> list[str]:
        """Offenders in messages the bench does not use (or in no message): warnings, not refusals."""
        used = set(used)
        return [f"lenient DBC load: {o}" for o in self.offenders if o.message not in used]

    def refuse_offenders_in(self, used: Iterable[str], *, map_path: Path | None = None) -> None:
        """Hold the messages the bench uses to cantools' strict checks.

        Raises:
            ConfigError: listing every offender among ``used``, each with its file, line and reason.
        """
        used = set(used)
        bad = [o for o in self.offenders if o.message in used]
        if bad:
            listing = "\n  ".join(str(o) for o in bad)
            raise ConfigError(map_path, "roles",
                              f"{len(bad)} problem(s) in DBC messages the signal map uses "
                              f"(fix the DBC or map other messages):\n  {listing}")


def overlay(sources: Sequence[LenientDbc], *, frame_ids: Mapping[str, int] | None = None,
            map_path: Path | None = None) -> DbcOverlay:
    """Overlay DBCs in order into one database.

    ``frame_ids`` moves messages to other IDs (a compute-unit message whose ID a
    car already uses); the moved message is a copy, the loaded DBC is unchanged.

    Raises:
        ConfigError: a frame ID or message name defined in two files (naming both
            files, both messages and the ID), or a move naming an unknown message.
    """
    frame_ids = dict(frame_ids or {})
    db = Database(strict=False)   # offenders were judged above; refresh must not re-raise them
    origin: dict[str, LenientDbc] = {}
    by_id: dict[tuple[int, bool], tuple[str, LenientDbc]] = {}
    problems: list[str] = []
    moved: set[str] = set()
    for source in sources:
        for message in source.db.messages:
            if message.name in frame_ids:
                message = _moved(message, frame_ids.pop(message.name))
                moved.add(message.name)
            key = (message.frame_id, message.is_extended_frame)
            if message.name in origin:
                problems.append(f'message name "{message.name}" is defined in {origin[message.name].path} '
                                f"and in {source.path}")
                continue
            if key in by_id:
                other, other_source = by_id[key]
                how = " (moved there by [frame_id])" if {message.name, other} & moved else ""
                problems.append(f"duplicate frame ID 0x{message.frame_id:X}{how}: used by \"{other}\" in "
                                f'{other_source.path} and by "{message.name}" in {source.path}')
                continue
            by_id[key] = (message.name, source)
            origin[message.name] = source
            db.messages.append(message)
    for name in frame_ids:
        problems.append(f'[frame_id] moves message "{name}", which no listed DBC defines')
    if problems:
        listing = "\n  ".join(problems)
        entry = "frame_id" if moved or any("[frame_id]" in p for p in problems) else "dbc"
        raise ConfigError(map_path, entry, f"the DBCs cannot be overlaid:\n  {listing}")
    db.refresh()
    return DbcOverlay(db, tuple(sources), origin)


def _moved(message: Message, frame_id: int) -> Message:
    moved = copy.deepcopy(message)
    moved.frame_id = frame_id
    if frame_id > 0x7FF:
        moved.is_extended_frame = True
    return moved
