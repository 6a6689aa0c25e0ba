"""Calls scheduled on SimPy's queue without building a ``Timeout`` and a closure for each.

The twin schedules a plain function call for every request's arrival and reply and for every push's delivery:
some 2.7 events per request item, and one per push. ``env.timeout(d)`` then a lambda on its callbacks cost a bound
class call, ``Timeout.__init__``, ``Environment.schedule`` and a closure per event. ``call_later`` pushes the very
entry ``Timeout`` would, ``(now + delay, NORMAL, next eid, event)``, so the queue's order (and every session's
path) is the one SimPy gives; its event is what ``Environment.step`` reads of one (``callbacks``, ``_ok``), and
nothing else waits on it. Relies on SimPy 4's queue layout (``_queue``, ``_eid``), stable since 4.0.
"""
from __future__ import annotations

from heapq import heappush
from typing import Callable

from simpy.events import NORMAL


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
