"""The unit's freshness rules, each at its edge: how old data may get, what a page or a message counts
as, when a frame's data was current, and which input a stop names.

The helpers are tested on their own with plain stand-ins (no bus); the frame handlers and ``observe``
on the bench's own messages through a port that hands over frames at exactly the times a test gives.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from hilbench.dut.compute.supervisor import SupervisorParams
from hilbench.dut.emulator import ComputeEmulator, _data_time_s, _read_pages, stale_timeouts_s
from hilbench.errors import ConfigError


# -- how old data may get: stale_timeouts_s --------------------------------------------------------
class _Map:
    """The parts of a signal map that stale_timeouts_s reads."""

    def __init__(self, cycles: dict[str, float], timeouts: dict[str, float] | None = None, *,
                 stale_cycles: float | None = None, min_stale_s: float | None = None) -> None:
        self.path = "car.signals.toml"
        self.cycle_time_s = cycles
        self.timeouts = timeouts or {}
        self.stale_cycles = stale_cycles
        self.min_stale_s = min_stale_s

    def timeout_s(self, message: str) -> float | None:
        return self.timeouts.get(message)


PARAMS = SupervisorParams.load()     # 5 cycles, at least 0.5 s


def test_a_timeout_is_five_cycles_or_half_a_second_whichever_is_longer() -> None:
    got = stale_timeouts_s(_Map({"fast": 0.02, "edge": 0.1, "slow": 0.25, "car": 1.0}),
                           ["fast", "edge", "slow", "car"], PARAMS)
    assert got == {"fast": 0.5, "edge": 0.5, "slow": 1.25, "car": 5.0}


def test_a_paged_message_waits_a_round_of_pages_per_cycle() -> None:
    got = stale_timeouts_s(_Map({"paged": 0.05}), ["paged"], PARAMS, frames_per_period=3)
    assert got == {"paged": pytest.approx(0.75)}
    assert stale_timeouts_s(_Map({"paged": 0.05}), ["paged"], PARAMS, frames_per_period=1) == {"paged": 0.5}


def test_the_maps_figures_win_even_when_they_are_zero_or_one() -> None:
    """A map's [timing] is used whenever it is given, a floor of 0 s included."""
    got = stale_timeouts_s(_Map({"a": 0.02, "b": 1.0}, stale_cycles=1.0, min_stale_s=0.0), ["a", "b"], PARAMS)
    assert got == {"a": 0.02, "b": 1.0}
    got = stale_timeouts_s(_Map({"a": 0.02}, min_stale_s=0.0), ["a"], PARAMS)
    assert got == {"a": pytest.approx(0.1)}
    got = stale_timeouts_s(_Map({"a": 0.02}, stale_cycles=3.0), ["a"], PARAMS)
    assert got == {"a": 0.5}


def test_an_explicit_timeout_wins_and_a_message_without_either_figure_is_refused() -> None:
    car = _Map({"a": 1.0}, {"b": 2.0, "a": 0.3})
    assert stale_timeouts_s(car, ["a", "b"], PARAMS) == {"a": 0.3, "b": 2.0}
    with pytest.raises(ConfigError) as info:
        stale_timeouts_s(_Map({"a": 1.0, "z": 0.0}), ["a", "z"], PARAMS)
    err = info.value
    assert err.entry == "cycle_ms.z" and err.file == "car.signals.toml"
    assert err.reason == ('the compute unit reads "z" but it has no cycle time (GenMsgCycleTime in the DBC, or [cycle_ms] '
            'here) and no [timeout_ms]: it cannot tell when its data goes stale')


# -- which pages of a multiplexed message carry what the unit reads -------------------------------
def test_only_the_pages_that_carry_a_role_the_unit_reads_are_inputs_each_once_in_order() -> None:
    slot = SimpleNamespace
    codec = SimpleNamespace(name="BMS_Mux", slots=[
        slot(mux=2, role="soc_pct"), slot(mux=0, role="discharge_current_limit_a"), slot(mux=0, role="gear"),
        slot(mux=1, role="max_cell_temp_c"),            # a role the unit does not read
        slot(mux=None, role="pack_voltage_v"),          # on every page
        slot(mux=3, role=None),
    ])
    assert _read_pages(codec) == ((0, "BMS_Mux[0]"), (2, "BMS_Mux[2]"))


# -- when a frame's data was current ----------------------------------------------------------------
def _receiver(lag_s: float, age_s: float):
    return SimpleNamespace(lag_s=lag_s, data_age_s=lambda now_s: age_s)


def test_a_frames_data_is_timed_by_its_arrival_less_the_measured_lag() -> None:
    # Arrived at 10.0 s from a stream 0.25 s late; the receiver's schedule says younger: arrival wins.
    assert _data_time_s(_receiver(0.25, 0.125), 10.0, 10.5) == 9.75


def test_a_frames_data_is_never_younger_than_the_receivers_schedule_says() -> None:
    # A frame late within tolerance: the schedule (data 0.75 s old at 10.5 s) is older than the arrival.
    assert _data_time_s(_receiver(0.0, 0.75), 10.0, 10.5) == 9.75
    assert _data_time_s(_receiver(0.5, 1.0), 10.0, 10.25) == 9.25


# -- fresh: every input received valid within its timeout ----------------------------------------
def _with_last(last: dict[str, float]):
    return SimpleNamespace(_last_valid_s=last)


def test_an_input_exactly_timeout_old_is_fresh_and_one_never_received_is_not() -> None:
    me = _with_last({"a": 9.5, "b": 10.0})
    assert ComputeEmulator._fresh_since(me, ("a", "b"), 9.5)
    assert not ComputeEmulator._fresh_since(me, ("a", "b"), 9.5 + 1e-9)
    assert not ComputeEmulator._fresh_since(me, ("b", "a"), 9.75)
    assert not ComputeEmulator._fresh_since(me, ("a", "never"), -5.0)   # at 0 s, a 5 s timeout
    assert ComputeEmulator._fresh_since(me, (), 100.0)           # a producer with nothing mapped


def test_each_timeout_group_is_judged_on_its_own_timeout() -> None:
    me = _with_last({"pack": 9.5, "thermal": 5.0, "vcu": 8.0})
    groups = ((0.5, ("pack",)), (5.0, ("thermal", "vcu")))
    assert ComputeEmulator._fresh(me, groups, 10.0)
    assert not ComputeEmulator._fresh(me, groups, 10.0 + 1e-9)              # the pack and the thermal go
    assert not ComputeEmulator._fresh(me, ((0.5, ("pack",)), (5.0, ("vcu", "thermal"))), 10.25)
    assert not ComputeEmulator._fresh(me, ((5.0, ("vcu", "never")),), 10.0)
    assert not ComputeEmulator._fresh(me, ((5.0, ("never",)),), 0.0)
    assert ComputeEmulator._fresh(me, (), 10.0)
