"""run_until's stepping: the same events as ``env.run``, and a signal handled between two events, never inside one."""
from __future__ import annotations

import signal

import pytest
import simpy
from hypothesis import given, settings, strategies as st

from twin.calls import Environment, call_later, run_before, start_loop
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


def _stepping_advance(env, until: float, held: SignalsBetweenEvents) -> None:
    """advance as it was written before run_before: SimPy's peek and step, one event at a time."""
    pending = held.pending
    while not pending and env.peek() < until:
        env.step()
    held.deliver()
    env.run(until=until)


def _mixed_world(plan: list[tuple[list[float], int]], ours: bool, signal_at: int | None):
    """twin.calls' loops and calls and SimPy's processes beside them (the twin's mix; on twin.calls.Environment when
    ``ours``), each step noted; SIGINT raised inside the ``signal_at``-th step, midway through it."""
    env = Environment() if ours else simpy.Environment()
    seen: list = []

    def note(name, i) -> None:
        if len(seen) == signal_at:
            signal.raise_signal(signal.SIGINT)
        seen.append((env.now, name, i))

    def loop_of(name, delays):
        for i, d in enumerate(delays):
            yield d
            note(name, i)

    def process_of(name, delays):
        for i, d in enumerate(delays):
            yield env.timeout(d)
            note(name, i)

    for j, (delays, kind) in enumerate(plan):
        if kind == 0:
            start_loop(env, loop_of(f"l{j}", delays))
        elif kind == 1:
            env.process(process_of(f"p{j}", delays))
        else:
            for i, d in enumerate(delays):
                call_later(env, d, note, f"c{j}", i)
    return env, seen


@settings(max_examples=150, deadline=None)
@given(plan=st.lists(st.tuples(st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0]), min_size=1, max_size=6),
                               st.integers(0, 2)), min_size=1, max_size=5),
       stops=st.lists(st.sampled_from([0.5, 1.0, 2.0, 3.0, 4.5, 20.0]), min_size=1, max_size=4),
       signal_at=st.one_of(st.none(), st.integers(0, 30)), ours=st.booleans())
def test_advance_steps_as_peek_and_step_did_and_stops_for_a_signal_at_the_same_event(plan, stops, signal_at, ours):
    """advance through run_before against the stepping it replaced, on either environment: the same events in the
    same order, segment by segment, the same clock and queue (times, priorities, ids: no stop event pushed before
    the stepping ends), and a signal raised inside an event delivered after that very event, the same events left."""
    runs = []
    for step in (_stepping_advance, advance):
        env, seen = _mixed_world(plan, ours, signal_at)
        ends = []
        try:
            with SignalsBetweenEvents() as held:
                for until in sorted(set(stops)):
                    step(env, until, held)
                    ends.append((env.now, len(seen), env.peek()))
        except KeyboardInterrupt:
            ends.append(("interrupted", env.now, len(seen)))
        runs.append((seen, ends, [entry[:3] for entry in sorted(env._queue)]))
    assert runs[1] == runs[0]
    if signal_at is not None and signal_at < len(runs[0][0]):
        assert runs[0][1][-1][0] == "interrupted" and runs[0][1][-1][2] == signal_at + 1  # (the test can tell)


def test_run_before_raises_a_failed_event_as_step_does_and_stops_on_an_empty_queue():
    for make in (Environment, simpy.Environment):
        env = make()

        def proc():
            yield env.timeout(1.0)
            raise KeyError("boom")
        env.process(proc())
        with pytest.raises(KeyError, match="boom") as caught:
            run_before(env, 5.0, [])
        assert env.now == 1.0 and isinstance(caught.value.__cause__, KeyError)
        run_before(env, 5.0, [])  # (the queue emptied: it returns, as peek's infinity ends the stepping)
        assert env.now == 1.0 and not env._queue
