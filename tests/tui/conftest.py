"""Harness for the TUI tests: a bench session that is always closed, and a short scenario file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.session import BenchSession

SHORT_SCENARIO = """\
[scenario]
name = "short"
duration = "40s"

[initial]
chemistry = "lfp"
soc_pct = 60.0

[[steps]]
at = "10s"
action = "plug_in"
name = "plug in"

[[checks]]
kind = "never"
name = "no compute power outside P"
expr = "compute_power_w > 0 and gear != 'P'"
"""


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
