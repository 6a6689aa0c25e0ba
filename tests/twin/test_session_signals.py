"""run_until's stepping: the same events as ``env.run``, and a signal handled between two events, never inside one."""
from __future__ import annotations

import signal

import pytest
import simpy
from hypothesis import given, settings, strategies as st

from twin.session import SignalsBetweenEvents, advance, run_until


def _world(delays: list[list[float]]):
    """Processes that wait the given delays (ties included) and note each wake, one starting another midway."""
    env = simpy.Environment()
    seen: list[tuple[float, int, int]] = []

    def proc(i: int, ds: list[float]):
        for k, d in enumerate(ds):
            yield env.timeout(d)
            seen.append((env.now, i, k))
            if k == 1 and i < 100:
                env.process(proc(100 + i, ds[:2]))  # (an Initialize, urgent, at this very time)
    for i, ds in enumerate(delays):
        env.process(proc(i, ds))
    return env, seen


@settings(max_examples=60, deadline=None)
@given(delays=st.lists(st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0]), min_size=1, max_size=6), min_size=1,
                       max_size=5),
       stops=st.lists(st.sampled_from([0.5, 1.0, 2.0, 3.0, 4.5]), min_size=1, max_size=4))
def test_advance_runs_the_events_env_run_does_in_its_order(delays, stops):
    env_a, seen_a = _world(delays)
    env_b, seen_b = _world(delays)
    with SignalsBetweenEvents() as held:
        for until in sorted(set(stops)):
            env_a.run(until=until)
            advance(env_b, until, held)
            assert seen_b == seen_a and env_b.now == env_a.now == until


def test_a_signal_in_an_event_is_raised_after_it_and_the_handlers_are_put_back():
    env = simpy.Environment()
    done: list[int] = []

    def proc():
        for k in range(10):
            yield env.timeout(1.0)
            if k == 3:
                signal.raise_signal(signal.SIGINT)  # its handler runs here, at once, unless held
            done.append(k)  # the rest of the event's handling
    env.process(proc())
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        run_until(env, 100.0, progress=False)
    assert done == [0, 1, 2, 3] and env.now == 4.0
    assert signal.getsignal(signal.SIGINT) is before


def test_a_block_inside_another_shares_its_signals_and_one_after_the_last_event_is_raised_on_leaving():
    env = simpy.Environment()
    env.timeout(1.0)
    with pytest.raises(KeyboardInterrupt):
        with SignalsBetweenEvents() as outer:
            with SignalsBetweenEvents() as inner:
                assert inner.pending is outer.pending
                advance(env, 2.0, inner)
            signal.raise_signal(signal.SIGINT)
            assert outer.pending  # held: not raised here
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
