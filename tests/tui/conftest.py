"""Harness for the TUI tests: a bench session that is always closed, and a short scenario file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _scenarios import SHORT_SCENARIO

from tui.session import BenchSession


@pytest.fixture
def session() -> Iterator[BenchSession]:
    """A session on the default bench; closed after the test whatever happened."""
    with BenchSession.open() as s:
        yield s


@pytest.fixture
def short_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "short.toml"
    path.write_text(SHORT_SCENARIO, encoding="utf-8")
    return path
