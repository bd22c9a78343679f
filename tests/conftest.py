"""Root test harness: fail any test that leaves a simtime CAN channel open; run wall-clock tests alone.

python-can's own suite fails a test that leaks a virtual bus; a leaked
simtime bus keeps receiving every frame later tests send on its channel, so
the leak is both a resource bug and a source of cross-talk between tests.

Tests marked ``wall_clock`` measure real time (cycle times on a virtual bus, a
pause, inference speed, a server under load).  Under ``pytest -n N`` they must
not share the CPUs with a worker running a simulated overnight session, or
they measure the neighbour instead of the bench: each takes an exclusive lock
that every other test takes shared, so a wall-clock test runs while no other
test does (on any worker), and the rest run in parallel as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from _xdist_locks import alone_or_together

from hilbench.bus import simtime

pytest_plugins = ("pytester",)


def _open_buses() -> set[object]:
    return {bus for buses in simtime._CHANNELS.values() for bus in buses}


@pytest.fixture(autouse=True)
def _no_lab_can_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests run on the buses they name: a developer's CAN_* variables or ~/can.conf (python-can's
    configuration, which the CLI reads) must not move them onto hardware."""
    import can.util

    for name in [n for n in os.environ if n.startswith("CAN_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(can.util, "CONFIG_FILES", [])


@pytest.fixture(autouse=True)
def _keep_the_snapshot_plugins_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pytest run inside a test (pytester) starts pytest-textual-snapshot again, which points
    ``TEXTUAL_SNAPSHOT_TEMPDIR`` at a folder of its own and deletes it when it ends: the outer run's
    report then fails on a folder that is gone.  Setting the variable through monkeypatch puts the
    outer run's value back after every test."""
    value = os.environ.get("TEXTUAL_SNAPSHOT_TEMPDIR")
    if value is not None:
        monkeypatch.setenv("TEXTUAL_SNAPSHOT_TEMPDIR", value)


@pytest.fixture(autouse=True)
def _no_leaked_simtime_channels():
    before_counts = simtime.open_channels()
    before = _open_buses()
    yield
    leaked = {name: n - before_counts.get(name, 0) for name, n in simtime.open_channels().items()
              if n > before_counts.get(name, 0)}
    if leaked:
        for bus in _open_buses() - before:   # close them so one leak does not fail every later test
            bus.shutdown()
        pytest.fail(f"test left simtime bus(es) open (channel: count): {leaked}; shut buses down "
                    "or use the Bench as a context manager", pytrace=False)


# -- wall-clock tests run alone under xdist ----------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "wall_clock: measures real time; under xdist it runs while no other "
                                       "test runs (tests/conftest.py)")


def _lock_dir(config: pytest.Config) -> Path | None:
    """A folder shared by the workers of one ``pytest -n`` run; None outside an xdist worker.

    Only the workers' own sessions take the locks: a pytest a test starts (pytester, a subprocess)
    inherits the workers' environment but not their ``workerinput``, so it never waits on the run
    that started it.
    """
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return None
    import tempfile

    base = Path(tempfile.gettempdir()) / f"hilbench-pytest-{workerinput['testrunuid']}"
    base.mkdir(exist_ok=True)
    return base


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    folder = _lock_dir(item.config)
    if folder is None or os.name != "posix":
        return (yield)
    with alone_or_together(folder, alone=item.get_closest_marker("wall_clock") is not None):
        return (yield)
