"""SimClock: the event heap every node, plant step and DUT tick runs on."""

from __future__ import annotations

import random

import pytest

from hilbench.clock import US_PER_S, SimClock, StopRequest, WallClock, seconds_to_us


def _recorder(clock: SimClock, trace: list):
    def make(name: str):
        return lambda: trace.append((clock.now_us, name))
    return make


def test_tasks_run_in_time_order() -> None:
    clock = SimClock()
    trace: list = []
    cb = _recorder(clock, trace)
    clock.call_at(3.0, cb("c"))
    clock.call_at(1.0, cb("a"))
    clock.call_later(2.0, cb("b"))
    clock.call_at(0.5e-6 * 3, cb("first"))  # 1.5 us rounds to 2 us
    clock.run_until(10.0)
    assert trace == [(2, "first"), (1_000_000, "a"), (2_000_000, "b"), (3_000_000, "c")]


def test_same_instant_tasks_run_in_scheduling_order() -> None:
    clock = SimClock()
    trace: list = []
    cb = _recorder(clock, trace)
    names = [f"t{i}" for i in range(20)]
    for i, name in enumerate(names):
        # mix the three ways of scheduling the same instant
        if i % 3 == 0:
            clock.call_at(1.0, cb(name))
        elif i % 3 == 1:
            clock.call_later(1.0, cb(name))
        else:
            clock.call_every(5.0, cb(name), offset_s=1.0)
    clock.run_until(1.0)
    assert [name for _, name in trace] == names
    assert {t for t, _ in trace} == {1_000_000}


def test_tasks_scheduled_from_a_callback_for_now_run_after_it_same_instant() -> None:
    clock = SimClock()
    trace: list = []
    cb = _recorder(clock, trace)

    def first() -> None:
        trace.append((clock.now_us, "first"))
        clock.call_later(0.0, cb("scheduled-by-first"))

    clock.call_at(1.0, first)
    clock.call_at(1.0, cb("second"))
    clock.run_until(2.0)
    assert trace == [(1_000_000, "first"), (1_000_000, "second"), (1_000_000, "scheduled-by-first")]


@pytest.mark.parametrize(("period_s", "offset_s", "until_s"), [
    (0.1, 0.0, 100.0),
    (0.02, 0.003, 50.0),
    (1 / 3, 0.0, 60.0),        # not a whole number of microseconds
    (0.001, 0.0005, 5.0),
])
def test_periodic_tasks_land_on_exact_multiples_of_their_period(period_s, offset_s, until_s) -> None:
    clock = SimClock()
    times: list[int] = []
    clock.call_every(period_s, lambda: times.append(clock.now_us), offset_s=offset_s)
    clock.run_until(until_s)
    period_us = seconds_to_us(period_s)
    start_us = seconds_to_us(offset_s)
    assert isinstance(clock.now_us, int)
    expected = list(range(start_us, seconds_to_us(until_s) + 1, period_us))
    assert times == expected
    assert len(times) > 100


def test_periodic_schedule_does_not_drift_when_run_in_chunks() -> None:
    """Running 0..10 s in one go or in odd-sized chunks gives the same instants."""
    whole, chunked = SimClock(), SimClock()
    a: list[int] = []
    b: list[int] = []
    whole.call_every(0.007, lambda: a.append(whole.now_us))
    chunked.call_every(0.007, lambda: b.append(chunked.now_us))
    whole.run_until(10.0)
    t = 0.0
    while t < 10.0:
        t = min(10.0, t + 0.0133)
        chunked.run_until(t)
    assert a == b
    assert a[-1] == 7_000 * (len(a) - 1)


def test_now_is_seconds_of_now_us() -> None:
    clock = SimClock()
    seen: list[tuple[float, int]] = []
    clock.call_every(0.25, lambda: seen.append((clock.now, clock.now_us)))
    clock.run_until(3.1)
    seen.append((clock.now, clock.now_us))     # after the run: where run_until left it
    assert seen[-1] == (3.1, 3_100_000)
    for now, now_us in seen:
        assert now == now_us / US_PER_S


def test_call_later_is_relative_to_the_current_instant() -> None:
    clock = SimClock()
    trace: list = []

    def at_two() -> None:
        clock.call_later(0.5, lambda: trace.append(clock.now_us))

    clock.call_at(2.0, at_two)
    clock.run_until(5.0)
    assert trace == [2_500_000]
    # and from outside a callback: relative to where run_until left now
    clock.call_later(1.0, lambda: trace.append(clock.now_us))
    clock.run_until(10.0)
    assert trace == [2_500_000, 6_000_000]


def test_call_later_rejects_negative_delay_and_call_every_rejects_zero_period() -> None:
    clock = SimClock()
    with pytest.raises(ValueError, match="delay"):
        clock.call_later(-0.1, lambda: None)
    with pytest.raises(ValueError, match="period"):
        clock.call_every(0.0, lambda: None)
    with pytest.raises(ValueError, match="period"):
        clock.call_every(1e-7, lambda: None)   # rounds to 0 us


def test_call_at_in_the_past_runs_now_not_back_in_time() -> None:
    clock = SimClock()
    clock.run_until(5.0)
    seen: list[int] = []
    clock.call_at(1.0, lambda: seen.append(clock.now_us))
    clock.run_until(6.0)
    assert seen == [5_000_000]


def test_call_every_with_negative_offset_is_refused_rather_than_moving_time_backwards() -> None:
    """Regression: a negative offset used to schedule the first run before now, so now jumped back."""
    clock = SimClock()
    clock.run_until(10.0)
    with pytest.raises(ValueError, match="offset"):
        clock.call_every(1.0, lambda: None, offset_s=-0.5)
    assert clock.now_us == 10_000_000


def test_cancel_one_shot_and_periodic() -> None:
    clock = SimClock()
    trace: list = []
    cb = _recorder(clock, trace)
    doomed = clock.call_at(1.0, cb("doomed"))
    kept = clock.call_at(1.0, cb("kept"))
    periodic = clock.call_every(1.0, cb("tick"))
    doomed.cancel()
    assert doomed.cancelled and not kept.cancelled
    clock.call_at(3.5, periodic.cancel)
    clock.run_until(10.0)
    assert ("doomed" not in [n for _, n in trace])
    assert [t for t, n in trace if n == "tick"] == [0, 1_000_000, 2_000_000, 3_000_000]
    assert periodic.cancelled


def test_periodic_task_can_cancel_itself() -> None:
    clock = SimClock()
    runs: list[int] = []
    task = None

    def tick() -> None:
        runs.append(clock.now_us)
        if len(runs) == 3:
            task.cancel()

    task = clock.call_every(0.5, tick)
    clock.run_until(10.0)
    assert runs == [0, 500_000, 1_000_000]


def test_stop_returns_after_the_current_event_and_run_until_resumes() -> None:
    clock = SimClock()
    trace: list = []
    cb = _recorder(clock, trace)

    def stopper() -> None:
        trace.append((clock.now_us, "stop"))
        clock.stop()

    clock.call_at(1.0, cb("a"))
    clock.call_at(3.0, stopper)
    clock.call_at(3.0, cb("same-instant-after-stop"))
    clock.call_at(4.0, cb("later"))
    clock.run_until(10.0)
    assert trace == [(1_000_000, "a"), (3_000_000, "stop")]
    assert clock.now_us == 3_000_000           # stopped: now stays at the stopping event
    clock.run_until(10.0)                      # a later run picks up where it stopped
    assert [n for _, n in trace] == ["a", "stop", "same-instant-after-stop", "later"]
    assert clock.now_us == 10_000_000


@pytest.mark.parametrize("clock_kind", ["sim", pytest.param("wall", marks=pytest.mark.wall_clock)])
def test_a_stop_asked_between_runs_ends_the_next_run_before_its_first_event(clock_kind: str) -> None:
    """A signal handler may call stop() while no run is in progress (between two chunks of
    Bench.run_for): the request must not be forgotten by the next run_until."""
    # Wall time at real speed: a wall clock skips the periods a descheduled process missed, so at
    # 1000x a pause of 10 us under load would skip the task past a whole short run.
    clock = SimClock() if clock_kind == "sim" else WallClock(speed=1.0)
    ran: list[int] = []
    clock.call_every(0.01, lambda: ran.append(clock.now_us))
    clock.run_until(0.02)
    before = list(ran)
    clock.stop()
    clock.run_until(1.0)
    assert ran == before                       # nothing ran: the request was consumed here
    clock.run_until(clock.stamp() + 0.05)      # five periods on from this moment
    assert len(ran) > len(before)              # and only once: the run after it goes on


def test_a_stop_request_stops_the_clock_it_is_bound_to_after_the_current_task() -> None:
    clock = SimClock()
    stop = StopRequest()
    ran: list[str] = []

    def signal_arrives() -> None:             # what the handler does, from inside a task
        ran.append("task with the signal")
        stop.request("SIGINT")
        stop.request("SIGTERM")                # the first reason is kept

    clock.call_at(1.0, signal_arrives)
    clock.call_at(1.0, lambda: ran.append("next task"))
    clock.call_at(1.0, lambda: clock.call_soon(lambda: ran.append("never")))
    stop.bind(clock)
    clock.run_until(5.0)
    assert ran == ["task with the signal"] and clock.now_us == 1_000_000
    assert stop.requested and stop.reason == "SIGINT"


def test_a_stop_requested_before_any_clock_is_bound_stops_the_first_clock_bound() -> None:
    clock = SimClock()
    stop = StopRequest()
    stop.request("SIGTERM")                    # e.g. during start-up, before the bench runs
    ran: list[int] = []
    clock.call_every(0.1, lambda: ran.append(clock.now_us))
    stop.bind(clock)
    clock.run_until(1.0)
    assert ran == [] and clock.now_us == 0
    stop.bind(None)
    stop.request("SIGINT")                     # no clock bound: only the reason stays
    clock.run_until(0.25)
    assert len(ran) == 3 and stop.reason == "SIGTERM"


def test_now_only_moves_inside_run_until() -> None:
    clock = SimClock()
    assert clock.now == 0.0 and clock.now_us == 0
    clock.call_at(5.0, lambda: None)
    clock.call_every(2.0, lambda: None, offset_s=1.0)
    clock.call_later(7.0, lambda: None)
    assert clock.now_us == 0                   # scheduling does not move time
    during: list[int] = []
    clock.call_at(3.0, lambda: during.append(clock.now_us))
    clock.run_until(4.0)
    assert during == [3_000_000]               # inside: now is the event's instant
    assert clock.now_us == 4_000_000           # after: now is where run_until was asked to stop
    for _ in range(3):
        assert clock.now_us == 4_000_000       # reading does not move it
    clock.run_until(2.0)                       # never backwards
    assert clock.now_us == 4_000_000
    assert clock.is_simulated


def test_idle_hooks_run_between_events_with_zero_wait() -> None:
    clock = SimClock()
    calls: list[tuple[int, float]] = []
    clock.add_idle_hook(lambda wait: calls.append((clock.now_us, wait)))
    clock.call_every(1.0, lambda: None)
    clock.run_until(3.0)
    assert calls == [(t, 0.0) for t in (0, 1_000_000, 2_000_000, 3_000_000)]


def _random_schedule_trace(seed: int) -> list[tuple[int, str]]:
    rng = random.Random(seed)
    clock = SimClock()
    trace: list[tuple[int, str]] = []
    tasks = []
    for i in range(30):
        name = f"p{i}"
        period = rng.choice([0.001, 0.01, 0.02, 0.1, 1 / 3, 1.0])
        offset = rng.choice([0.0, 0.001, 0.0005, 0.25])
        tasks.append(clock.call_every(period, lambda n=name: trace.append((clock.now_us, n)), offset_s=offset))
    for i in range(50):
        name = f"o{i}"

        def one_shot(n=name) -> None:
            trace.append((clock.now_us, n))
            if rng.random() < 0.3:  # callbacks that schedule and cancel, driven by the same rng
                clock.call_later(rng.random(), lambda: trace.append((clock.now_us, n + "+")))
            if rng.random() < 0.1:
                rng.choice(tasks).cancel()

        clock.call_at(rng.uniform(0, 5), one_shot)
    clock.run_until(5.0)
    return trace


def test_two_identical_schedules_give_identical_traces() -> None:
    first = _random_schedule_trace(7)
    second = _random_schedule_trace(7)
    assert len(first) > 5_000
    assert first == second
    assert first != _random_schedule_trace(8)
    assert [t for t, _ in first] == sorted(t for t, _ in first)


def test_call_soon_runs_right_after_the_current_task_before_others_due_now() -> None:
    clock = SimClock()
    order = []
    clock.call_at(1.0, lambda: (order.append("a"), clock.call_soon(lambda: order.append("soon"))))
    clock.call_at(1.0, lambda: order.append("b"))
    clock.run_until(2.0)
    assert order == ["a", "soon", "b"]
