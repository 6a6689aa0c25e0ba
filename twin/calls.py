"""Calls scheduled on SimPy's queue without building a ``Timeout`` and a closure for each.

The twin schedules a plain function call for every request's arrival and reply and for every push's delivery:
some 2.7 events per request item, and one per push. ``env.timeout(d)`` then a lambda on its callbacks cost a bound
class call, ``Timeout.__init__``, ``Environment.schedule`` and a closure per event. ``call_later`` pushes the very
entry ``Timeout`` would, ``(now + delay, NORMAL, next eid, event)``, so the queue's order (and every session's
path) is the one SimPy gives; its event is what ``Environment.step`` reads of one (``callbacks``, ``_ok``), and
nothing else waits on it. Relies on SimPy 4's queue layout (``_queue``, ``_eid``), stable since 4.0.

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

from heapq import heappush
from typing import Callable, Generator

from simpy.events import NORMAL, URGENT


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
