"""Calls scheduled on SimPy's queue without building a ``Timeout`` and a closure for each.

The twin schedules a plain function call for every request's arrival and reply and for every push's delivery:
some 2.7 events per request item, and one per push. ``env.timeout(d)`` then a lambda on its callbacks cost a bound
class call, ``Timeout.__init__``, ``Environment.schedule`` and a closure per event. ``call_later`` pushes the very
entry ``Timeout`` would, ``(now + delay, NORMAL, next eid, event)``, so the queue's order (and every session's
path) is the one SimPy gives; its event is what ``Environment.step`` reads of one (``callbacks``, ``_ok``), and
nothing else waits on it. Relies on SimPy 4's queue layout (``_queue``, ``_eid``), stable since 4.0.

``Environment`` is SimPy's, its ``run`` to a time with ``Environment.step``'s body in its loop: the same events
popped and called in the same order, a Python call less per event (some 7 million a stress day). ``run_to_stop``
is the same loop for twin.session.advance, which is ``env.run(until=...)`` paused between two events when a
signal is held (``stop_at`` schedules run's stop event first, ``drop_stop`` takes it off when the run is cut).

``start_loop`` runs a loop that only ever waits for time (the market's events, the feeds' blocks, the driver's
cycles: 150,000 waits an hour of a stress session) as ``env.process`` would run it, without a ``Process``: the
generator yields its delays, and each is scheduled where ``call_later`` would put it (one event, reused). Every
queue entry ``env.process`` and its timeouts would make is made, in the same place: the start (``Initialize``,
urgent, now), one per wait, and at the loop's end the process's own event. What is left out is ``Process._resume``'s
bookkeeping and a ``Timeout`` per wait. Not for a loop that is interrupted (it is no ``Process``) or waits on
anything but time; an exception in it propagates from ``env.run`` at once, where a ``Process`` would fail and raise
it when its event comes up.
"""
from __future__ import annotations

from heapq import heapify, heappop, heappush
from typing import Callable, Generator

import simpy
from simpy.core import StopSimulation
from simpy.events import NORMAL, URGENT, Event, EventPriority


def _run(call: "Call") -> None:
    call.fn(*call.args)


_RUN = (_run,)  # every call's callbacks: Environment.step iterates them, then sets the event's to None


class Call:
    """A scheduled call: what ``Environment.step`` needs of an event, and the call to make. Made by ``Call.make(fn,
    args)``: the class has no ``__init__`` (``Call(fn, args)`` raises TypeError), because a class call enters an
    ``__init__`` from C, a new interpreter frame, where ``make`` is a Python call the interpreter makes in its loop and
    the class call it makes runs object's own: some 400 of a four-field object's 2,000 machine instructions fewer
    (cachegrind, 3.11). A call is made for every request's arrival and every reply."""

    __slots__ = ("callbacks", "fn", "args")
    _ok = True  # (step checks it: a call never fails as an event; an exception in it propagates as SimPy's would)

    @staticmethod
    def make(fn: Callable, args: tuple) -> "Call":
        call = Call()
        call.callbacks = _RUN
        call.fn = fn
        call.args = args
        return call


_new_call = Call.make


def call_later(env, delay: float, fn: Callable, *args) -> None:
    """``fn(*args)`` after ``delay`` simulated seconds, in the queue exactly where ``env.timeout(delay)`` would be."""
    if delay < 0:
        raise ValueError(f"Negative delay {delay}")
    heappush(env._queue, (env._now + delay, NORMAL, next(env._eid), _new_call(fn, args)))


def _noop() -> None:
    pass


def start_loop(env, loop: Generator[float, None, None]) -> None:
    """Run ``loop`` from now, each delay it yields waited for; its queue entries are ``env.process``'s.

    A loop has one entry on the queue at a time, so one ``Call`` serves all its waits: ``Environment.step`` sets
    its ``callbacks`` to None before calling them, and ``resume``, called by step itself (no ``_run``), sets them
    back and pushes the same event again: per wait, no ``Call``, no ``call_later`` and no ``_run`` call."""
    queue, eid = env._queue, env._eid
    wake = _new_call(_noop, ())

    def resume(_event) -> None:
        try:
            delay = next(loop)
        except StopIteration:  # the process's own event, triggered as it ends: nothing waits on it
            heappush(queue, (env._now, NORMAL, next(eid), _new_call(_noop, ())))
            return
        if delay < 0:
            raise ValueError(f"Negative delay {delay}")
        wake.callbacks = callbacks
        heappush(queue, (env._now + delay, NORMAL, next(eid), wake))
    callbacks = wake.callbacks = (resume,)
    heappush(queue, (env._now, URGENT, next(eid), wake))


class Wake:
    """The one queue event of a loop ``start_waking`` runs, which schedules its own waits: what
    ``Environment.step`` reads of an event (``callbacks``, ``_ok``), and what the loop pushes it with (``queue`` and
    ``eid``, its environment's; ``normal``, SimPy's NORMAL priority, for a loop whose module does not import SimPy:
    the driver's, on the live path too; ``armed``, its callbacks, the loop's own ``send``)."""

    __slots__ = ("callbacks", "armed", "queue", "eid", "normal")
    _ok = True


def start_waking(env, make: Callable[..., Generator[None, object, None]], *args) -> None:
    """``start_loop`` for the loops of every wait of a session (the market's, the feeds', the driver's cycles, the
    margin checks', funding's), without a call of ``resume`` a wait: ``make(wake, *args)`` is a generator that,
    before each ``yield``, schedules its own wake where ``resume`` would, after the same work,

        wake.callbacks = arm  # (arm = wake.armed)
        heappush(queue, (env._now + delay, normal, next(eid), wake))

    and ``Environment.step`` calls its ``send`` itself: 19 bytecodes a wait in the loop where ``resume`` ran 32, and a
    Python call less (11,400 waits in 5 minutes of a stress session). Its start is start_loop's (urgent, now) and so
    is its end, which the loop makes itself with ``loop_ended``, then waits for good (a generator that returned would
    raise StopIteration out of ``send``, through the run). A negative delay is the loop's to refuse; the loops'
    are never negative (a block, a cycle, a market event's time ahead of the clock, an interval, a uniform draw).
    Not for a loop that is interrupted or waits on anything but time (as start_loop). tests/twin/test_calls.py
    holds it to env.process."""
    queue, eid = env._queue, env._eid
    wake = Wake()
    wake.queue, wake.eid, wake.normal = queue, eid, NORMAL
    loop = make(wake, *args)
    wake.armed = (loop.send,)

    def start(_event) -> None:
        next(loop)  # (to its first wait: a generator just made takes no value sent)
    wake.callbacks = (start,)
    heappush(queue, (env._now, URGENT, next(eid), wake))


def loop_ended(env) -> None:
    """A ``start_waking`` loop's end: the event of env.process's own end, as start_loop schedules it."""
    heappush(env._queue, (env._now, NORMAL, next(env._eid), _new_call(_noop, ())))


class Environment(simpy.Environment):
    """``simpy.Environment`` whose ``run(until=<a time>)`` steps in its own loop: ``Environment.step``'s work written
    into it (pop the next entry, set the clock, its callbacks taken off the event and called, a failed event not
    defused raised), where SimPy's ``run`` calls ``step`` once per event. Nothing else differs: the stop event is
    made and scheduled as SimPy's ``run`` makes it (an urgent event at ``until``, so the queue's ids are SimPy's),
    a ``StopSimulation`` leaves the event's other callbacks on the queue as ``step`` does (the queue is never empty
    before it: the stop is on it). ``run()`` and ``run(until=<an event>)`` are SimPy's own (no session runs them on a hot
    path). ``step`` stays SimPy's. The loop is ``run_to_stop``'s, which twin.session.advance runs too (pausing between
    two events when a signal is held): one loop, a test of an empty tuple per event its only cost here.
    tests/twin/test_calls.py holds the two to the same events, order, clock and queue."""

    def run(self, until=None):
        if until is None or isinstance(until, Event):
            return super().run(until)
        stop_at(self, until)
        run_to_stop(self, ())  # (nothing is ever pending: it returns when the stop fires, which leaves a value of None)
        return None


def _crash(event: Event) -> None:
    """Raise a failed event's exception as ``Environment.step`` does: a copy, its cause the original."""
    exc = type(event._value)(*event._value.args)
    exc.__cause__ = event._value
    raise exc


def stop_at(env, until) -> Event:
    """Schedule the stop event ``env.run(until=until)`` makes, as SimPy's ``run`` does (an urgent event at
    ``until``, its value None, ``StopSimulation.callback`` its callback; an ``until`` not after the clock refused
    with SimPy's ValueError), for ``run_to_stop``."""
    at = until if isinstance(until, int) else float(until)
    if at <= env._now:
        raise ValueError(f"until ({at}) must be greater than the current simulation time")
    stop = Event(env)
    stop._ok = True
    stop._value = None
    env.schedule(stop, URGENT, at - env._now)
    stop.callbacks.append(StopSimulation.callback)
    return stop


def run_to_stop(env, pending: list) -> bool:
    """Run ``env``'s events as ``env.run`` runs them, up to the stop event ``stop_at`` scheduled (True: it fired, and
    is left on the queue as SimPy's ``step`` leaves it) or until ``pending`` holds something, checked between two
    events (False: call again, after delivering it, to go on). ``step``'s body is written into the loop, as in
    ``Environment.run``: for twin.session.advance, which must be ``env.run(until=...)`` with a held signal
    delivered between two events. The stop event is on the queue the whole time, as in ``env.run``: a market loop
    reads ``env.peek()`` to see how far it may jump unobserved, and must not jump past the stop (a stepping loop
    that pushed none let the jump run past it, or, with nothing else scheduled, never end).

    Any SimPy 4 environment (the queue's layout, as call_later's); tests/twin/test_session_signals.py holds it to
    ``env.run``."""
    queue = env._queue
    try:
        # (``while True`` and a test, not ``while not pending``: CPython 3.11 specializes a function's bytecode once it
        # has warmed up, counted on its calls and on its loops' unconditional jumps back only, and this one is called
        # once a run. The jump back of the loop over an event's callbacks did it; without that loop, a conditional
        # jump back left it generic, some 1,400 machine instructions an event more: tests/twin/test_calls.py)
        while True:
            if pending:
                return False
            env._now, _, _, event = heappop(queue)  # (never empty: the stop event is on it)
            # (the one callback unpacked from the event's own tuple or list, which is not kept in a name: 31 bytecodes
            # an event where taking the callbacks into a name first ran 33, tests/twin/test_calls.py)
            try:
                callback, = event.callbacks  # (one, as every event of a session has: no iterator, no inner loop)
            except ValueError:  # none, or several: each in turn, called below, outside this handler (_Each)
                callback = _Each(event.callbacks)
            event.callbacks = None
            callback(event)
            if not event._ok and not hasattr(event, "_defused"):
                _crash(event)
    except StopSimulation:
        # (caught out here, not around each event's callbacks: step's handling, from the loop's last names; an event
        # of one callback has none after it, put back as an empty list, as SimPy's events' callbacks are lists)
        if type(callback) is _Each:
            callbacks = callback.callbacks
            event.callbacks = callbacks[callbacks.index(callback.at) + 1:]
        else:
            event.callbacks = []
        env.schedule(event, EventPriority(-1))
        return True


class _Each:
    """The callbacks of an event with none or several (a SimPy event two processes wait on, a process's end that
    none does), called in turn as ``Environment.step`` calls them; ``at``, the one being called (run_to_stop's
    StopSimulation puts those after it back, as step does). Called out of the handler of the ValueError that found
    them, so that an exception of theirs is not chained to it, as in step it is not."""

    __slots__ = ("callbacks", "at")

    def __init__(self, callbacks) -> None:
        self.callbacks = callbacks

    def __call__(self, event) -> None:
        for self.at in self.callbacks:
            self.at(event)


def drop_stop(env, stop: Event) -> None:
    """Take ``stop`` (of ``stop_at``) off the queue if it has not fired: a run cut short by an exception (a signal's
    KeyboardInterrupt between two events, a crash) leaves no stop behind to end a later run early, nor one at which
    a market loop's jump would stop. What is left is the events' own entries; the heap's order is a total one
    (ids are unique), so the order they pop in is unchanged."""
    queue = env._queue
    for i, entry in enumerate(queue):
        if entry[3] is stop:
            queue[i] = queue[-1]
            queue.pop()
            heapify(queue)
            return
