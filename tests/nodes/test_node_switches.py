"""Every emulated node can be switched off so a real ECU takes its place: its frames vanish."""

from __future__ import annotations

import pytest

NODES = ("bms", "vcu", "obc")


@pytest.mark.parametrize("off", NODES)
def test_a_disabled_node_sends_nothing(make_bench, off: str) -> None:
    bench = make_bench(emulate=frozenset(NODES) - {off})
    bench.run_for(5.0)
    stats = bench.monitor.stats
    for node in NODES:
        names = bench.signal_map.messages_of(node)
        assert names
        counts = {name: stats[name].count for name in names}
        if node == off:
            assert counts == dict.fromkeys(names, 0), f"disabled {node} still on the bus"
            assert bench.nodes[node].frames_sent == 0
        else:
            assert all(c > 0 for c in counts.values()), f"{node} should be on the bus: {counts}"
    assert bench.monitor.frames == bench.restbus.sent + bench.restbus.received


@pytest.mark.parametrize("node", NODES)
def test_a_silenced_node_stops_mid_run(make_bench, node: str) -> None:
    bench = make_bench()
    bench.run_for(3.0)
    sent_before = bench.nodes[node].frames_sent
    assert sent_before > 0
    bench.nodes[node].silent = True
    bench.run_for(3.0)
    assert bench.nodes[node].frames_sent == sent_before
    for name in bench.signal_map.messages_of(node):
        assert bench.monitor.stats[name].last_s <= 3.0 + 1e-6, name
    others = [n for n in NODES if n != node]
    for other in others:
        for name in bench.signal_map.messages_of(other):
            assert bench.monitor.stats[name].last_s > 5.8, name


def test_tx_filter_can_drop_frames(make_bench) -> None:
    bench = make_bench()
    bench.vcu.tx_filters.append(lambda name, msg: None if name == "VCU_VehicleStatus" else msg)
    bench.run_for(2.0)
    assert bench.monitor.stats["VCU_VehicleStatus"].count == 0
    assert bench.vcu.frames_dropped == 21
