"""twin.calls schedules on SimPy's own queue, past its public API (``_queue``, ``_eid``, ``_now``): these hold it to
what ``env.timeout`` and ``env.process`` would do, call for call, so a SimPy whose internals moved fails here, not
as a session whose path quietly changed."""
import pytest
import simpy
from hypothesis import given, settings, strategies as st

from twin.calls import call_later, start_loop

# delays on a coarse grid, so that ties (the queue's order among equal times) come often
_delays = st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0]), min_size=1, max_size=6)


def _run_with(scheduled: list[tuple[str, list[float], bool]], ours: bool) -> list[tuple[float, str, int]]:
    """Each (name, delays, is_loop): a loop waits its delays in turn, a call list schedules one call per delay at
    once. Through twin.calls (``ours``) or through SimPy's timeouts and processes: (time, name, step) in the order
    they ran."""
    env = simpy.Environment()
    ran: list[tuple[float, str, int]] = []

    def loop_of(name, delays):
        for i, d in enumerate(delays):
            yield d if ours else env.timeout(d)
            ran.append((env.now, name, i))

    for name, delays, is_loop in scheduled:
        if is_loop:
            if ours:
                start_loop(env, loop_of(name, delays))
            else:
                env.process(loop_of(name, delays))
        else:
            for i, d in enumerate(delays):
                if ours:
                    call_later(env, d, lambda n=name, i=i: ran.append((env.now, n, i)))
                else:
                    env.timeout(d).callbacks.append(lambda _e, n=name, i=i: ran.append((env.now, n, i)))
    env.run()
    return ran


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_delays, st.booleans()), min_size=1, max_size=5))
def test_calls_and_loops_run_in_the_order_simpys_timeouts_and_processes_would(plan):
    scheduled = [(f"s{j}", delays, is_loop) for j, (delays, is_loop) in enumerate(plan)]
    theirs = _run_with(scheduled, ours=False)
    assert _run_with(scheduled, ours=True) == theirs
    assert len(theirs) == sum(len(d) for _, d, _ in scheduled)  # (every step ran: the comparison is of all of them)


def test_a_loop_and_a_process_started_together_keep_simpys_order_at_equal_times():
    """Beside real processes, a loop's start (urgent, now) and its waits take SimPy's places: at equal times the one
    scheduled first runs first, whichever kind it is."""
    for ours_first in (True, False):
        env = simpy.Environment()
        ran = []

        def loop():
            for i in range(3):
                yield 1.0
                ran.append(("loop", env.now, i))

        def proc():
            for i in range(3):
                yield env.timeout(1.0)
                ran.append(("proc", env.now, i))

        if ours_first:
            start_loop(env, loop())
            env.process(proc())
        else:
            env.process(proc())
            start_loop(env, loop())
        env.run()
        first, second = ("loop", "proc") if ours_first else ("proc", "loop")
        assert ran == [(who, float(t), t - 1) for t in (1, 2, 3) for who in (first, second)]


def test_the_clock_read_past_the_property_is_the_property():
    env = simpy.Environment(initial_time=7.25)
    call_later(env, 1.5, lambda: seen.append((env._now, env.now)))
    seen: list = []
    env.run()
    assert seen == [(8.75, 8.75)]


def test_a_negative_delay_is_refused_as_simpy_refuses_it():
    env = simpy.Environment()
    with pytest.raises(ValueError, match="Negative delay -0.5"):
        call_later(env, -0.5, lambda: None)
    with pytest.raises(ValueError, match="Negative delay -0.5"):
        env.timeout(-0.5)


def test_a_loop_refuses_a_negative_delay_as_simpy_refuses_it():
    """A loop's waits skip call_later (start_loop reuses one event): they keep its refusal."""
    env = simpy.Environment()

    def loop():
        yield 1.0
        yield -0.5

    start_loop(env, loop())
    with pytest.raises(ValueError, match="Negative delay -0.5"):
        env.run()
    assert env.now == 1.0
