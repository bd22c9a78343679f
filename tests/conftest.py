"""Root test harness: fail any test that leaves a simtime CAN channel open.

python-can's own suite fails a test that leaks a virtual bus; a leaked
simtime bus keeps receiving every frame later tests send on its channel, so
the leak is both a resource bug and a source of cross-talk between tests.
"""

from __future__ import annotations

import pytest

from hilbench.bus import simtime

pytest_plugins = ("pytester",)


def _open_buses() -> set[object]:
    return {bus for buses in simtime._CHANNELS.values() for bus in buses}


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
