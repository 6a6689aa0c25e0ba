"""Drives the twin's SimPy environment from asyncio at the wall clock's pace, or N times faster.

Simulated time is ``sim0 + speed * (wall - wall0)``; a task advances ``env.run(until=...)`` to it every
``tick_s`` of wall time, and request handlers call ``catch_up()`` so state is read at their arrival.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Callable

import simpy

from common.files import short_repr

log = logging.getLogger(__name__)


MAX_SPEED = 10_000.0  # past this the twin cannot keep up on a core: at 1e5x the server stopped answering


def parse_speed(text: str | float) -> float:
    """``realtime`` → 1.0, ``10x`` or ``0.5x`` or ``10`` → that factor, at most ``MAX_SPEED``; raises ValueError
    naming the text. A factor the clock cannot keep up with blocked the server: each tick's catch-up ran more
    simulated time than a tick lasts (1e5x: no request answered), and a factor past a float's range (400 digits:
    infinity) ran the simulation for ever before the server listened."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        t = text.strip().lower()
        if t == "realtime":
            return 1.0
        m = re.fullmatch(r"([0-9]*\.?[0-9]+)x?", t)
        if not m:
            raise ValueError(f"speed {short_repr(text)}: expected 'realtime' or a factor such as 1x, 10x, 0.5x")
        value = float(m.group(1))
    if not value > 0:
        raise ValueError(f"speed {short_repr(text)}: must be positive")
    if not value <= MAX_SPEED:
        raise ValueError(f"speed {short_repr(text)}: at most {MAX_SPEED:g}x (faster, the twin cannot keep up and "
                         f"the server stops answering)")
    return value


class SimClock:
    """Maps wall time to simulated time and runs the environment up to it."""

    def __init__(self, env: simpy.Environment, speed: float = 1.0, tick_s: float = 0.005,
                 wall: Callable[[], float] = time.monotonic) -> None:
        self.env = env
        self.speed = speed
        self.tick_s = tick_s
        self._wall = wall
        self._wall0 = wall()
        self._sim0 = float(env.now)
        self._task: asyncio.Task | None = None
        self.errors = 0

    def target(self) -> float:
        """The simulated time the wall clock says it is now."""
        return self._sim0 + self.speed * (self._wall() - self._wall0)

    def catch_up(self) -> float:
        """Run every simulated event due by now; returns the simulated time reached."""
        until = self.target()
        if until > self.env.now:
            try:
                self.env.run(until=until)
            except Exception:  # a failing SimPy callback must not stop the venue's clock
                self.errors += 1
                log.exception("twin event failed at t=%.3f", self.env.now)
        return self.env.now

    def wall_delay(self, sim_s: float) -> float:
        """Wall seconds until ``sim_s`` simulated seconds have passed."""
        return max(0.0, sim_s) / self.speed

    async def run(self) -> None:
        while True:
            self.catch_up()
            await asyncio.sleep(self.tick_s)

    def start(self) -> asyncio.Task:
        self._wall0 = self._wall()
        self._sim0 = float(self.env.now)
        self._task = asyncio.get_running_loop().create_task(self.run(), name="twin-clock")
        return self._task

    async def stop(self, timeout_s: float = 2.0) -> None:
        """The clock's task cancelled, and waited for ``timeout_s`` at most: a KeyboardInterrupt that landed in the
        loop's machinery as the clock's sleep ended (in the ``call_soon`` of its wake-up) left the task waiting on a
        future already done, which no cancel wakes; awaited, it held the server's stop for good."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait({task}, timeout=timeout_s)
        if not task.done():
            log.warning("the twin's clock did not stop within %g s of its cancel: left", timeout_s)
        elif not task.cancelled() and task.exception() is not None:
            # (a KeyboardInterrupt: a signal that landed in the clock's env.run, raised out of the loop too, where
            # it is ending the server; kept, it was a shutdown traceback)
            if not isinstance(task.exception(), KeyboardInterrupt):
                raise task.exception()
