"""A sweep's rows on disk: ``<name>.csv`` (csv) and ``<name>.parquet`` (pyarrow), resumable.

The CSV is the record: on start its rows are read back (:meth:`SweepTable.open`) and the runs
whose id is there are not run again.  After every finished run both files are rewritten from
all rows to a temporary file that then replaces the old one (``os.replace``), so a crash at any
instant leaves the previous complete file or the new one: a finished row is never lost, and a
row is keyed by its run id, so it is never written twice.  Rows of the same name that this
sweep does not plan (an axis narrowed since) are kept as they are.

Values go to the CSV as Python writes them (``repr`` of a float round-trips exactly) and come
back typed by the sweep's columns (:func:`.rows.columns`), so a resumed table is the table an
uninterrupted sweep writes.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import ConfigError


class SweepTable:
    """The rows of one sweep by run id, and the files that keep them.

    The files list the rows in the sweep's planned order (``order``, the run ids), whatever order
    the runs finished in, so two sweeps of the same file write the same table; rows it does not
    plan come after, as they were.
    """

    def __init__(self, folder: Path, name: str, columns: dict[str, type], order: Iterable[str] = ()) -> None:
        self.folder = folder
        self.name = name
        self.columns = dict(columns)
        self.order = {run_id: index for index, run_id in enumerate(order)}
        self.rows: dict[str, dict[str, Any]] = {}

    @property
    def csv_path(self) -> Path:
        """``<out>/<name>.csv``: the record a resumed sweep reads."""
        return self.folder / f"{self.name}.csv"

    @property
    def parquet_path(self) -> Path:
        """``<out>/<name>.parquet``: the same rows, typed, for analysis."""
        return self.folder / f"{self.name}.parquet"

    @classmethod
    def open(cls, folder: Path, name: str, columns: dict[str, type], order: Iterable[str] = ()) -> SweepTable:
        """The table with the rows already in ``<folder>/<name>.csv`` (none if there is no such file).

        Raises:
            ConfigError: the file is not a sweep table (no ``run_id`` column), or cannot be read.
        """
        table = cls(folder, name, columns, order)
        path = table.csv_path
        if not path.is_file():
            return table
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                header = list(reader.fieldnames or [])
                if "run_id" not in header:
                    raise ConfigError(path, None, "not a sweep table (no run_id column); move it away or choose "
                                                  "another --out")
                for key in header:
                    table.columns.setdefault(key, str)   # a column of an older version of the sweep: kept as text
                for number, raw in enumerate(reader, start=2):
                    if not raw.get("run_id"):
                        raise ConfigError(path, f"line {number}", "a row without a run_id")
                    table.rows[raw["run_id"]] = {key: _parse(raw.get(key), table.columns[key], path, number, key)
                                                 for key in table.columns if key in raw}
        except OSError as exc:
            raise ConfigError(path, None, f"cannot read: {exc.strerror or exc}") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ConfigError(path, None, f"not a CSV table: {exc}") from None
        return table

    def __contains__(self, run_id: str) -> bool:
        return run_id in self.rows

    def add(self, row: dict[str, Any]) -> None:
        """Keep ``row`` and rewrite both files with every row so far."""
        self.rows[row["run_id"]] = row
        self.save()

    def ordered(self) -> list[dict[str, Any]]:
        """Every row: the planned ones in plan order, then the others in the order they came."""
        last = len(self.order)
        keys = sorted(enumerate(self.rows), key=lambda item: (self.order.get(item[1], last), item[0]))
        return [self.rows[run_id] for _, run_id in keys]

    def save(self) -> None:
        """Write the CSV and the Parquet file, each replacing the old one only once it is complete.

        Raises:
            ConfigError: the folder or a file cannot be written (the disk filled, the folder went away).
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _replace(self.csv_path, lambda tmp: self._write_csv(tmp))
            _replace(self.parquet_path, lambda tmp: self._write_parquet(tmp))
        except OSError as exc:
            raise ConfigError(exc.filename or self.folder, "--out", f"cannot be written: {exc.strerror or exc}") \
                from None

    def _write_csv(self, path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(self.columns))
            writer.writeheader()
            for row in self.ordered():
                writer.writerow({key: _text(row.get(key)) for key in self.columns})
            handle.flush()
            os.fsync(handle.fileno())

    def _write_parquet(self, path: Path) -> None:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        types = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()}
        schema = pa.schema([(key, types.get(kind, pa.string())) for key, kind in self.columns.items()])
        rows = self.ordered()
        data = {key: [row.get(key) for row in rows] for key in self.columns}
        pq.write_table(pa.Table.from_pydict(data, schema=schema), path)


def _replace(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _parse(text: str | None, kind: type, path: Path, line: int, key: str) -> Any:
    """A CSV cell as the column's type; empty is None (a robustness that does not apply)."""
    if text is None or text == "":
        return None if kind is not str else ""
    try:
        if kind is bool:
            if text not in ("True", "False"):
                raise ValueError(text)
            return text == "True"
        return kind(text)
    except ValueError:
        raise ConfigError(path, f"line {line}, column {key}",
                          f"expected {kind.__name__}, got {text!r}; the table was not written by this sweep "
                          f"(move it away or choose another --out)") from None


def kept_of(table: SweepTable, run_ids: Iterable[str]) -> list[str]:
    """The run ids of ``run_ids`` that ``table`` already holds (they are not run again)."""
    return [run_id for run_id in run_ids if run_id in table]


__all__ = ["SweepTable", "kept_of"]
