"""twin.calls schedules on SimPy's own queue, past its public API (``_queue``, ``_eid``, ``_now``): these hold it to
what ``env.timeout`` and ``env.process`` would do, call for call, so a SimPy whose internals moved fails here, not
as a session whose path quietly changed."""
import dis
import sys
import types
from heapq import heappop, heappush

import pytest
import simpy
from hypothesis import given, settings, strategies as st
from simpy.core import StopSimulation
from simpy.events import EventPriority

from twin.calls import (
    Environment, _crash, _Each, call_later, loop_ended, run_to_stop, start_loop, start_waking, stop_at,
)

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


def _segments_run(scheduled: list[tuple[str, list[float], bool]], untils: list[float], ours: bool):
    """The plan of _run_with (loops through start_loop, calls through call_later, real processes beside them), run
    to each of ``untils`` in turn by twin.calls.Environment (``ours``) or by simpy.Environment: what ran, in order,
    with the clock seen; then each segment's return and clock, and the queue left (times, priorities, ids: the
    stop events SimPy leaves on it included)."""
    env = Environment() if ours else simpy.Environment()
    ran: list = []

    def loop_of(name, delays):
        for i, d in enumerate(delays):
            yield d
            ran.append((env.now, name, i))

    def process_of(name, delays):
        for i, d in enumerate(delays):
            yield env.timeout(d)
            ran.append((env.now, name, i))
        return name

    for name, delays, is_loop in scheduled:
        if is_loop:
            start_loop(env, loop_of(name, delays))
            env.process(process_of(name + "p", delays))
        else:
            for i, d in enumerate(delays):
                call_later(env, d, lambda n=name, i=i: ran.append((env.now, n, i)))
    ends = []
    for until in untils:
        try:
            ends.append((env.run(until=until), env.now, len(ran)))  # (what ran before it ended, too)
        except ValueError as exc:  # (an until not after the clock: refused as SimPy refuses it)
            ends.append((str(exc), env.now, len(ran)))
    return ran, ends, [entry[:3] for entry in sorted(env._queue)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_delays, st.booleans()), min_size=1, max_size=5),
       st.lists(st.sampled_from([0.5, 1.0, 1.25, 2.0, 3.0, 4.5, 20.0]), min_size=1, max_size=4))
def test_environment_runs_to_a_time_as_simpys_run(plan, untils):
    """Environment.run(until=t) with step's work in its loop: the same events, in the same order, at the same clock;
    each segment ends where SimPy's does (the times the plan ties with an until included: the stop is urgent), and
    leaves the same queue, ids and all. An until at or before the clock is refused alike."""
    scheduled = [(f"s{j}", delays, is_loop) for j, (delays, is_loop) in enumerate(plan)]
    untils = sorted(untils) + [100.0, untils[0]]  # (past every event; then one not after the clock: refused)
    theirs = _segments_run(scheduled, untils, ours=False)
    assert _segments_run(scheduled, untils, ours=True) == theirs
    steps = sum(len(d) * (2 if is_loop else 1) for _, d, is_loop in scheduled)
    assert len(theirs[0]) == steps  # (every step ran: the comparison is of all of them)


def test_environment_raises_a_failed_event_and_an_error_in_a_call_as_simpy_does():
    for make in (Environment, simpy.Environment):
        env = make()

        def proc():
            yield env.timeout(1.0)
            raise KeyError("boom")
        env.process(proc())
        with pytest.raises(KeyError, match="boom"):
            env.run(until=5.0)
        assert env.now == 1.0
        env = make()
        call_later(env, 2.0, lambda: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            env.run(until=5.0)
        assert env.now == 2.0


def test_environment_runs_empty_and_to_an_event_as_simpy():
    """run() and run(until=<event>) are SimPy's own; an until never reached on an emptied queue is SimPy's error."""
    env = Environment()
    call_later(env, 1.0, lambda: None)
    env.run()
    assert env.now == 1.0
    done = env.timeout(2.0, value="v")
    assert env.run(until=done) == "v" and env.now == 3.0
    env = Environment()
    env._queue.clear()  # (no entry at all: the stop event itself taken off, as nothing SimPy does would)
    with pytest.raises(ValueError):
        env.run(until=0.0)


def _shared_run(groups: list[tuple[list[float], int]], untils: list[float], env) -> tuple[list, list]:
    """Each (delays, waiters): the timeouts of the delays' running sums, all made at the start, each waited on by
    ``waiters`` processes in turn: an event with none (its callbacks empty; so is every process's end, which nothing
    waits on), one or several callbacks, called in the order the processes began to wait, one of them scheduling a
    call. Run to each of ``untils`` in turn: what ran, with the clock; and each segment's clock and queue."""
    ran: list = []
    left: list = []

    def waiter(name, events):
        for i, ev in enumerate(events):
            yield ev
            ran.append((env.now, name, i))
            if i == 0:
                call_later(env, 0.5, lambda n=name: ran.append((env.now, n, "call")))

    for j, (delays, waiters) in enumerate(groups):
        events = [env.timeout(sum(delays[:i + 1])) for i in range(len(delays))]
        for w in range(waiters):
            env.process(waiter(f"g{j}w{w}", events))
    for until in untils:
        env.run(until=until)
        left.append((env.now, len(ran), [entry[:3] for entry in sorted(env._queue)]))
    return ran, left


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_delays, st.integers(0, 3)), min_size=1, max_size=4),
       st.lists(st.sampled_from([0.5, 1.0, 1.25, 2.0, 3.0, 4.5]), min_size=1, max_size=3))
def test_environment_calls_an_events_callbacks_none_one_or_several_as_simpys_run(groups, untils):
    """run_to_stop calls an event's one callback without a loop, and those of an event with none or several through
    _Each: an event several processes wait on wakes them in the order they began to wait, one nothing waits on is
    popped all the same, each at SimPy's clock, leaving SimPy's queue at every stop."""
    untils = sorted(set(untils)) + [100.0]
    theirs = _shared_run(groups, untils, simpy.Environment())
    assert _shared_run(groups, untils, Environment()) == theirs
    assert len(theirs[0]) == sum(len(d) * w + w * (len(d) > 0) for d, w in groups)  # (every wake and call ran)


def test_a_stop_among_an_events_callbacks_puts_the_rest_back_as_simpys_step_does():
    """A StopSimulation raised by one of an event's several callbacks (SimPy's own stop callback, on an event the
    user waits for besides): the run stops there, and the callbacks after it run first in the next, as step puts
    them back (urgent); with one callback, the event is put back with none. (The second run stops at the first's
    ``until``, its stop event left on the queue, in SimPy's run too.)"""
    def run(make, several: bool):
        env = make()
        seen: list = []
        ev = env.event()
        if several:
            ev.callbacks += [lambda e: seen.append(("a", env.now)), StopSimulation.callback,
                             lambda e: seen.append(("b", env.now)), lambda e: seen.append(("c", env.now))]
        else:
            ev.callbacks.append(StopSimulation.callback)
        call_later(env, 1.0, lambda: ev.succeed("v"))
        call_later(env, 1.0, lambda: seen.append(("tie", env.now)))
        call_later(env, 2.0, lambda: seen.append(("later", env.now)))
        env.run(until=5.0)
        first = (list(seen), env.now, [entry[:3] for entry in sorted(env._queue)])
        env.run(until=10.0)
        return first, seen, env.now, [entry[:3] for entry in sorted(env._queue)]
    for several in (True, False):
        theirs = run(simpy.Environment, several)
        assert run(Environment, several) == theirs, several
    assert theirs[1] == [("tie", 1.0), ("later", 2.0)]  # (one callback: nothing put back)
    first, seen, _, _ = run(Environment, True)
    assert first[0] == [("tie", 1.0), ("a", 1.0)] and first[1] == 1.0  # (stopped in the event, after "a")
    assert seen == [("tie", 1.0), ("a", 1.0), ("b", 1.0), ("c", 1.0), ("later", 2.0)]  # (the rest, first thing)


def test_an_error_in_one_of_several_callbacks_propagates_unchained_as_from_simpys_run():
    """An event with several callbacks is called out of the handler of the ValueError that found them (_Each): an
    error in one of them propagates as from SimPy's step, alone (no "during handling of" another), after those before
    it ran and before those after it."""
    for make in (Environment, simpy.Environment):
        env = make()
        seen: list = []
        ev = env.timeout(1.0)
        ev.callbacks += [lambda e: seen.append("a"), lambda e: {}["boom"], lambda e: seen.append("c")]
        with pytest.raises(KeyError, match="boom") as caught:
            env.run(until=5.0)
        assert caught.value.__context__ is None and seen == ["a"] and env.now == 1.0, make


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="CPython 3.11's warm-up (3.12 specializes at once)")
def test_the_events_loop_is_specialized_within_its_one_call():
    """run_to_stop is called once a run: CPython 3.11 specializes its bytecode only if its loop jumps back
    unconditionally (a warm-up counted there and on calls). Its events' loop without the inner loop over an event's
    callbacks, and with a conditional jump back, ran generic: under cachegrind, a loop of 100,000 waits took 5,090
    machine instructions an event, against 3,660 with the inner loop and 3,360 without it, specialized. A fresh copy
    of its code, run once over 100 events: the tuple each event is popped as is unpacked by the specialized
    instruction."""
    fresh = types.FunctionType(run_to_stop.__code__.replace(), run_to_stop.__globals__)
    env = Environment()
    for i in range(100):
        call_later(env, float(i), lambda: None)
    stop_at(env, 200.0)
    assert fresh(env, ()) is True and env.now == 200.0
    names = {i.opname for i in dis.get_instructions(fresh, adaptive=True)}
    assert "UNPACK_SEQUENCE_TUPLE" in names, sorted(names)


def _waking_run(scheduled: list[tuple[str, list[float], bool]], untils: list[float], how: str, env):
    """The plan of _run_with on ``env``, each loop a SimPy process (``how`` "process") or a loop of start_waking
    ("waking", scheduling its own waits as start_waking says), calls through call_later beside them, run to each of
    ``untils`` in turn: what ran, in order, with the clock; each segment's clock; and the queue left (times,
    priorities, ids), after each segment."""
    ran: list = []
    left: list = []

    def process_of(name, delays):
        for i, d in enumerate(delays):
            yield env.timeout(d)
            ran.append((env.now, name, i))

    def waking_of(name, delays):
        def make(wake, tag):
            queue, eid, normal, arm = wake.queue, wake.eid, wake.normal, wake.armed
            for i, d in enumerate(delays):
                wake.callbacks = arm
                heappush(queue, (env._now + d, normal, next(eid), wake))
                yield
                ran.append((env.now, tag, i))
            loop_ended(env)
            yield
        return make

    for name, delays, is_loop in scheduled:
        if is_loop:
            if how == "process":
                env.process(process_of(name, delays))
            else:
                start_waking(env, waking_of(name, delays), name)
        else:
            for i, d in enumerate(delays):
                call_later(env, d, lambda n=name, i=i: ran.append((env.now, n, i)))
    for until in untils:
        env.run(until=until)
        left.append((env.now, len(ran), [entry[:3] for entry in sorted(env._queue)]))
    return ran, left


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_delays, st.booleans()), min_size=1, max_size=5),
       st.lists(st.sampled_from([0.5, 1.0, 1.25, 2.0, 3.0, 4.5]), min_size=1, max_size=3))
def test_a_waking_loop_runs_and_queues_as_a_simpy_process(plan, untils):
    """start_waking's loops (the market's, the bbo feed's, the driver's cycles) against SimPy processes that wait the
    same delays, calls beside them, on a grid that ties often: the same steps in the same order at the same clock,
    and the same queue (times, priorities, ids) left at every stop, the process's end event included; on SimPy's
    Environment and on twin.calls'. A loop that pushed its wake after its work's own entries, or without the
    start's urgent entry or the end's, would order a tie otherwise, or leave other ids."""
    scheduled = [(f"s{j}", delays, is_loop) for j, (delays, is_loop) in enumerate(plan)]
    untils = sorted(set(untils)) + [100.0]
    theirs = _waking_run(scheduled, untils, "process", simpy.Environment())
    assert _waking_run(scheduled, untils, "waking", simpy.Environment()) == theirs
    assert _waking_run(scheduled, untils, "waking", Environment()) == theirs
    assert len(theirs[0]) == sum(len(d) for _, d, _ in scheduled)  # (every step ran: the comparison is of all of them)


def test_a_waking_loop_that_schedules_from_its_work_keeps_the_order_of_its_entries():
    """A wake pushed after what the step's work scheduled (a cycle's commands' calls): at a tie, the work's call runs
    first, as it does beside a process whose timeout is made when it yields."""
    for how in ("process", "waking"):
        env = simpy.Environment()
        ran = []

        def work(i):
            call_later(env, 1.0, lambda: ran.append(("call", env.now, i)))

        def proc():
            for i in range(3):
                work(i)
                yield env.timeout(1.0)
                ran.append(("loop", env.now, i))

        def make(wake):
            queue, eid, normal, arm = wake.queue, wake.eid, wake.normal, wake.armed
            for i in range(3):
                work(i)
                wake.callbacks = arm
                heappush(queue, (env._now + 1.0, normal, next(eid), wake))
                yield
                ran.append(("loop", env.now, i))
            loop_ended(env)
            yield

        if how == "process":
            env.process(proc())
        else:
            start_waking(env, make)
        env.run()
        assert ran == [(who, float(t), t - 1) for t in (1, 2, 3) for who in ("call", "loop")], how


def test_a_waking_loop_starts_urgent_as_a_process_does():
    """A call due now, scheduled before the loop started, that schedules a call of its own at the loop's first wait:
    the process's start (urgent) runs first, so its wait is queued first and comes first at the tie; a start queued
    as a normal event would run behind the call, and the wait behind the call's call."""
    for how in ("process", "waking"):
        env = simpy.Environment()
        ran = []
        call_later(env, 0.0, lambda: call_later(env, 1.0, lambda: ran.append("call")))

        def proc():
            yield env.timeout(1.0)
            ran.append("loop")

        def make(wake):
            wake.callbacks = wake.armed
            heappush(wake.queue, (env._now + 1.0, wake.normal, next(wake.eid), wake))
            yield
            ran.append("loop")
            loop_ended(env)
            yield

        if how == "process":
            env.process(proc())
        else:
            start_waking(env, make)
        env.run()
        assert ran == ["loop", "call"], how


def _run_to_stop_before(env, pending: list) -> bool:
    """run_to_stop as it was until 7 December 2026 (33 bytecodes an event: the callbacks kept in a name), verbatim
    but for its docstring and comments: the reference the loop of 31 is held to."""
    queue = env._queue
    try:
        while True:
            if pending:
                return False
            env._now, _, _, event = heappop(queue)
            callbacks = event.callbacks
            event.callbacks = None
            try:
                callback, = callbacks
            except ValueError:
                callback = _Each(callbacks)
            callback(event)
            if not event._ok and not hasattr(event, "_defused"):
                _crash(event)
    except StopSimulation:
        if type(callback) is _Each:
            callbacks, callback = callback.callbacks, callback.at
        event.callbacks = callbacks[callbacks.index(callback) + 1:]
        env.schedule(event, EventPriority(-1))
        return True


# each scheduled thing: (delay, what, callbacks): a call; an event succeeded, failed (its failure defused by a callback,
# or not), each with so many callbacks, one of them SimPy's stop (or none); a signal held (pending) at that time
_things = st.lists(st.tuples(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0]),
                             st.sampled_from(["call", "succeed", "fail", "fail defused", "signal", "process"]),
                             st.integers(0, 3), st.integers(-1, 3)), min_size=1, max_size=12)


def _loop_run(things, untils, loop) -> tuple:
    """``things`` run by ``loop`` (a run_to_stop), to each of ``untils`` in turn as twin.session.advance runs it
    (called again after each signal it paused for): what ran, each with the clock and whether its event read as
    processed (its callbacks None, as SimPy's step leaves them while they run), every run's answers, the queue left
    (times, priorities, ids, callbacks' count), or the error that ended it (its type, text, cause and context)."""
    env = simpy.Environment()
    ran: list = []
    pending: list = []
    for j, (delay, what, n, stop_at_k) in enumerate(things):
        if what == "call":
            call_later(env, delay, lambda j=j: ran.append((env.now, j, "call")))
            continue
        if what == "signal":
            call_later(env, delay, lambda j=j: pending.append(j))
            continue
        if what == "process":  # (a SimPy process: its Initialize, its timeouts, its end)
            def proc(j=j, n=n):
                for k in range(n):
                    yield env.timeout(delay)
                    ran.append((env.now, j, "proc", k))
            env.process(proc())
            continue
        ev = env.event()
        for k in range(n):
            if k == stop_at_k:
                ev.callbacks.append(StopSimulation.callback)
            ev.callbacks.append(lambda e, j=j, k=k: ran.append((env.now, j, k, e.callbacks is None)))
        if what == "fail defused" and n:
            ev.callbacks.append(lambda e: setattr(e, "defused", True))
        if what == "succeed":
            call_later(env, delay, lambda ev=ev: ev.succeed("v"))
        else:
            call_later(env, delay, lambda ev=ev, j=j: ev.fail(KeyError(f"boom {j}")))
    answers: list = []
    try:
        for until in untils:
            stop = stop_at(env, max(until, env.now + 0.25))
            while not loop(env, pending):
                answers.append(("signal", env.now, list(pending)))
                pending.clear()
            answers.append(("stop", env.now, stop.callbacks))
    except Exception as exc:  # noqa: BLE001 (compared, whatever it is)
        answers.append((type(exc), str(exc), repr(exc.__cause__), repr(exc.__context__), env.now))
    queue = [(t, p, i, None if e.callbacks is None else len(e.callbacks)) for t, p, i, e in sorted(env._queue)]
    return ran, answers, queue


@settings(max_examples=300, deadline=None)
@given(_things, st.lists(st.sampled_from([0.5, 1.0, 1.25, 2.0, 3.0, 10.0]), min_size=1, max_size=3))
def test_the_events_loop_runs_as_the_loop_it_replaced(things, untils):
    """run_to_stop, its event's one callback unpacked from the event itself, against _run_to_stop_before: the same
    calls, in the same order, at the same clock, each event read as processed while its callbacks run, the same
    pauses for a held signal and stops, the same queue left (a stop among an event's callbacks puts the rest back), and
    the same error for a failure not defused. (Setting an event's callbacks to None after calling them, not before,
    fails here: its callbacks read it unprocessed.)"""
    untils = sorted(untils)
    theirs = _loop_run(things, untils, _run_to_stop_before)
    assert _loop_run(things, untils, run_to_stop) == theirs
