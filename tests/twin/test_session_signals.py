"""run_until's stepping: the same events as ``env.run``, and a signal handled between two events, never inside one."""
from __future__ import annotations

import signal

import pytest
import simpy
from hypothesis import given, settings, strategies as st

from simpy.core import StopSimulation

from twin.calls import Environment, call_later, start_loop
from twin.exchange import Exchange
from twin.probe import ProbeClient
from common.stop_signals import SignalsBetweenEvents
from twin.session import advance, run_until

pytestmark = pytest.mark.usefixtures("ctrl_c_raises")  # (Ctrl-C raised here is caught as a KeyboardInterrupt)


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


def _mixed_world(plan: list[tuple[list[float], int]], ours: bool, signal_at: int | None):
    """twin.calls' loops and calls and SimPy's processes beside them (the twin's mix; on twin.calls.Environment when
    ``ours``), each step noted with the next entry's time (what a market loop's jump reads); SIGINT raised inside the
    ``signal_at``-th step, midway through it."""
    env = Environment() if ours else simpy.Environment()
    seen: list = []

    def note(name, i) -> None:
        if len(seen) == signal_at:
            signal.raise_signal(signal.SIGINT)
        seen.append((env.now, name, i, env.peek()))  # (what a market loop's jump reads: the stop included)

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


def _segments(plan, ours: bool, stops: list[float], signal_at: int | None, by_advance: bool):
    """_mixed_world run to each of ``stops`` in turn, then to 100 (past every event), by ``advance`` or by
    ``env.run``: what ran, each segment's end (clock, steps run, next entry), where a signal cut one (a segment cut
    is run again, to the same stop, by a fresh advance), and the queue left (times, priorities, ids)."""
    env, seen = _mixed_world(plan, ours, signal_at)
    ends, cuts = [], []
    for until in sorted(set(stops)) + [100.0]:
        while True:
            try:
                if by_advance:
                    with SignalsBetweenEvents() as held:
                        advance(env, until, held)
                else:
                    env.run(until=until)
            except KeyboardInterrupt:
                cuts.append((env.now, len(seen)))
                continue
            break
        ends.append((env.now, len(seen), env.peek()))
    return seen, ends, cuts, [entry[:3] for entry in sorted(env._queue)]


@settings(max_examples=150, deadline=None)
@given(plan=st.lists(st.tuples(st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0]), min_size=1, max_size=6),
                               st.integers(0, 2)), min_size=1, max_size=5),
       stops=st.lists(st.sampled_from([0.5, 1.0, 2.0, 3.0, 4.5, 20.0]), min_size=1, max_size=4),
       signal_at=st.one_of(st.none(), st.integers(0, 30)), ours=st.booleans())
def test_advance_runs_as_env_run_and_stops_for_a_signal_after_the_event_it_came_in(plan, stops, signal_at, ours):
    """advance against ``env.run(until=...)``, on either environment: the same events in the same order at the same
    clock, segment by segment, and the same queue left (times, priorities, ids: the stop events SimPy leaves
    included). A signal raised inside an event is delivered after that very event (a KeyboardInterrupt, caught;
    the segment is then run again): nothing else differs, but the ids after the cut (advance's stop, taken off
    the queue, used one): the queue's order is compared there."""
    theirs = _segments(plan, ours, stops, None, by_advance=False)
    seen, ends, cuts, queue = _segments(plan, ours, stops, signal_at, by_advance=True)
    assert (seen, ends) == (theirs[0], theirs[1])
    assert len(seen) == sum(len(delays) for delays, _ in plan)  # (every step ran: the comparison is of all of them)
    if signal_at is not None and signal_at < len(seen):
        assert cuts == [(seen[signal_at][0], signal_at + 1)]  # (cut after the very event the signal came in)
        assert [entry[:2] for entry in queue] == [entry[:2] for entry in theirs[3]]
    else:
        assert cuts == [] and queue == theirs[3]


def test_a_run_after_a_caught_interrupt_runs_to_its_own_stop():
    """The stop of an advance cut by a KeyboardInterrupt is taken off the queue: left on it, it ended a later run
    at the cut run's ``until``."""
    for make in (Environment, simpy.Environment):
        env, seen = _mixed_world([([1.0] * 10, 0), ([1.5] * 6, 2)], make is Environment, 2)
        with pytest.raises(KeyboardInterrupt):
            with SignalsBetweenEvents() as held:
                advance(env, 5.0, held)
        assert env.now == 1.5 and len(seen) == 3
        assert not [e for e in env._queue if isinstance(e[3], simpy.Event) and e[3].callbacks
                    and StopSimulation.callback in e[3].callbacks]
        env.run(until=8.0)
        assert env.now == 8.0 and len(seen) == 7 + 6  # (the loop's wakes before 8.0, every call)


def test_advance_raises_a_failed_event_as_env_run_does_and_runs_on_an_empty_queue():
    for make in (Environment, simpy.Environment):
        env = make()

        def proc():
            yield env.timeout(1.0)
            raise KeyError("boom")
        env.process(proc())
        with SignalsBetweenEvents() as held:
            with pytest.raises(KeyError, match="boom") as caught:
                advance(env, 5.0, held)
            assert env.now == 1.0 and isinstance(caught.value.__cause__, KeyError)
            assert not env._queue  # (its stop taken off)
            advance(env, 5.0, held)  # (nothing scheduled: the stop alone, as env.run)
            assert env.now == 5.0
            with pytest.raises(ValueError, match="must be greater"):
                advance(env, 5.0, held)


def _market_state(ex: Exchange) -> tuple:
    return (dict(ex.counters), dict(ex.best_bid), dict(ex.best_ask), dict(ex.marks), dict(ex.last_trade_px),
            {c: (ex.bid_px[c].tolist(), ex.bid_sz[c].tolist(), ex.ask_px[c].tolist(), ex.ask_sz[c].tolist())
             for c in ex.bid_px}, ex.env.now, [entry[:3] for entry in sorted(ex.env._queue)])


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 3), probe_s=st.sampled_from([None, 5.0, 30.0]),
       stops=st.lists(st.sampled_from([0.35, 1.7, 7.3, 20.0, 61.0, 95.5]), min_size=1, max_size=3, unique=True))
def test_a_bare_exchange_advanced_is_the_one_env_run_gives(seed, probe_s, stops):
    """A twin with no agent (a slow probe, or no client at all): the market loop jumps over the events nobody can
    observe up to ``env.peek()``. advance keeps env.run's stop on the queue, so the jump stops there: the same
    counters, book and queue at every stop (run_before, which pushed none, jumped past it: 77 book updates at 7.3 s
    for env.run's 73, another best bid), and, with nothing else scheduled, it returns (it jumped on forever)."""
    states = []
    for by_advance in (False, True):
        ex = Exchange.build(None, seed)
        if probe_s is not None:
            ProbeClient(ex, "0x" + "11" * 20, interval_s=probe_s)
        got = []
        old = signal.signal(signal.SIGALRM, _too_long)
        signal.setitimer(signal.ITIMER_REAL, 10.0)  # (a run takes a fraction of a second)
        try:
            for until in sorted(stops):
                if by_advance:
                    with SignalsBetweenEvents() as held:
                        advance(ex.env, until, held)
                else:
                    ex.env.run(until=until)
                got.append(_market_state(ex))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0.0)
            signal.signal(signal.SIGALRM, old)
        states.append(got)
    assert states[1] == states[0]


def _too_long(signum, frame):
    raise TimeoutError("advance did not return")
