"""Calls scheduled on SimPy's queue without building a ``Timeout`` and a closure for each.

The twin schedules a plain function call for every request's arrival and reply and for every push's delivery:
some 2.7 events per request item, and one per push. ``env.timeout(d)`` then a lambda on its callbacks cost a bound
class call, ``Timeout.__init__``, ``Environment.schedule`` and a closure per event. ``call_later`` pushes the very
entry ``Timeout`` would, ``(now + delay, NORMAL, next eid, event)``, so the queue's order (and every session's
path) is the one SimPy gives; its event is what ``Environment.step`` reads of one (``callbacks``, ``_ok``), and
nothing else waits on it. Relies on SimPy 4's queue layout (``_queue``, ``_eid``), stable since 4.0.

``Environment`` is SimPy's, its ``run`` to a time with ``Environment.step``'s body in its loop: the same events
popped and called in the same order, a Python call less per event (some 7 million a stress day). ``run_before``
is the same loop for twin.session.advance, which stops between two events when a signal is held, and pushes no
stop event (its stepping was ``env.peek()`` and ``env.step()``, two Python calls an event).

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

from heapq import heappop, heappush
from typing import Callable, Generator

import simpy
from simpy.core import StopSimulation
from simpy.events import NORMAL, URGENT, Event, EventPriority


def _run(call: "Call") -> None:
    call.fn(*call.args)


_RUN = (_run,)  # every call's callbacks: Environment.step iterates them, then sets the event's to None


class Call:
    """A scheduled call: what ``Environment.step`` needs of an event, and the call to make."""

    __slots__ = ("callbacks", "fn", "args")
    _ok = True  # (step checks it: a call never fails as an event; an exception in it propagates as SimPy's would)

    def __init__(self, fn: Callable, args: tuple) -> None:
        self.callbacks = _RUN
        self.fn = fn
        self.args = args


def call_later(env, delay: float, fn: Callable, *args) -> None:
    """``fn(*args)`` after ``delay`` simulated seconds, in the queue exactly where ``env.timeout(delay)`` would be."""
    if delay < 0:
        raise ValueError(f"Negative delay {delay}")
    heappush(env._queue, (env._now + delay, NORMAL, next(env._eid), Call(fn, args)))


def _noop() -> None:
    pass


def start_loop(env, loop: Generator[float, None, None]) -> None:
    """Run ``loop`` from now, each delay it yields waited for; its queue entries are ``env.process``'s.

    A loop has one entry on the queue at a time, so one ``Call`` serves all its waits: ``Environment.step`` sets
    its ``callbacks`` to None before calling them, and ``resume``, called by step itself (no ``_run``), sets them
    back and pushes the same event again: per wait, no ``Call``, no ``call_later`` and no ``_run`` call."""
    queue, eid = env._queue, env._eid
    wake = Call(_noop, ())

    def resume(_event) -> None:
        try:
            delay = next(loop)
        except StopIteration:  # the process's own event, triggered as it ends: nothing waits on it
            heappush(queue, (env._now, NORMAL, next(eid), Call(_noop, ())))
            return
        if delay < 0:
            raise ValueError(f"Negative delay {delay}")
        wake.callbacks = callbacks
        heappush(queue, (env._now + delay, NORMAL, next(eid), wake))
    callbacks = wake.callbacks = (resume,)
    heappush(queue, (env._now, URGENT, next(eid), wake))


class Environment(simpy.Environment):
    """``simpy.Environment`` whose ``run(until=<a time>)`` steps in its own loop: ``Environment.step``'s work written
    into it (pop the next entry, set the clock, its callbacks taken off the event and called, a failed event not
    defused raised), where SimPy's ``run`` calls ``step`` once per event. Nothing else differs: the stop event is
    made and scheduled as SimPy's ``run`` makes it (an urgent event at ``until``, so the queue's ids are SimPy's),
    a ``StopSimulation`` leaves the event's other callbacks on the queue as ``step`` does, and an empty queue ends in
    SimPy's RuntimeError. ``run()`` and ``run(until=<an event>)`` are SimPy's own (no session runs them on a hot
    path). ``step`` stays SimPy's; twin.session.advance, which must stop between any two events, steps through
    ``run_before``.
    tests/twin/test_calls.py holds the two to the same events, order, clock and queue."""

    def run(self, until=None):
        if until is None or isinstance(until, Event):
            return super().run(until)
        at = until if isinstance(until, int) else float(until)
        if at <= self._now:
            raise ValueError(f"until ({at}) must be greater than the current simulation time")
        stop = Event(self)
        stop._ok = True
        stop._value = None
        self.schedule(stop, URGENT, at - self._now)
        stop.callbacks.append(StopSimulation.callback)
        queue = self._queue
        try:
            while True:
                try:
                    self._now, _, _, event = heappop(queue)
                except IndexError:
                    raise RuntimeError(f'No scheduled events left but "until" event was not triggered: {stop}') \
                        from None
                callbacks, event.callbacks = event.callbacks, None
                try:
                    for callback in callbacks:
                        callback(event)
                except StopSimulation:
                    # (the stop event's own callback: any after it run when the simulation resumes, as step leaves them)
                    event.callbacks = callbacks[callbacks.index(callback) + 1:]
                    self.schedule(event, EventPriority(-1))
                    raise
                if not event._ok and not hasattr(event, "_defused"):
                    _crash(event)
        except StopSimulation as exc:
            return exc.args[0]


def _crash(event: Event) -> None:
    """Raise a failed event's exception as ``Environment.step`` does: a copy, its cause the original."""
    exc = type(event._value)(*event._value.args)
    exc.__cause__ = event._value
    raise exc


def run_before(env, at: float, pending: list) -> None:
    """Run ``env``'s events before ``at``, one by one, as long as ``pending`` is empty: ``while not pending and
    env.peek() < at: env.step()`` with ``step``'s body written into the loop (two Python calls and 19 of some 69
    bytecodes less per event), for twin.session.advance, which delivers the signals held in ``pending`` between
    two events. Unlike ``Environment.run`` it pushes no stop event: the loop ends on the next event's time, so the
    queue holds only the events' own entries while they run (a market loop reads ``env.peek()`` to see how far it
    may jump unobserved: a stop there would cut its jumps, and move the twin's path). Any SimPy 4 environment
    (the queue's layout, as call_later's); tests/twin/test_session_signals.py holds it to the stepping loop."""
    queue = env._queue
    while not pending:
        try:
            if not queue[0][0] < at:
                return
        except IndexError:  # (an empty queue: peek's infinity, never before at)
            return
        env._now, _, _, event = heappop(queue)
        callbacks, event.callbacks = event.callbacks, None
        for callback in callbacks:
            callback(event)
        if not event._ok and not hasattr(event, "_defused"):
            _crash(event)
