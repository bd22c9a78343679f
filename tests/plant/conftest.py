"""Shared harness for plant tests: every chemistry goes through the same checks."""

from __future__ import annotations

import pytest

from hilbench.plant import Chemistry, available_chemistries, load_chemistry


@pytest.fixture(params=available_chemistries())
def chemistry(request: pytest.FixtureRequest) -> Chemistry:
    """Each shipped chemistry in turn."""
    return load_chemistry(request.param)
