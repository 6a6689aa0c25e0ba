"""A stop's final account snapshot (``LiveDriver.shutdown``: ``final_snapshot``, which the summary's venue_position and
venue_open_orders, state.json and the end's notes report) is the newest account state the venue answered with, not
the last answer to the stop's own polls. Fed the answers a live gateway gives, in the order a slow answer gives them
(as tests/agent/test_live_kill_end.py, for the same reason: to have ``twin serve`` hold one answer past another and
lose the next in the same second is a test of timing, not of the driver)."""
from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from agent.config import AgentConfig
from agent.core import AgentCore
from agent.gateway.events import AccountSnapshot, BookUpdated, OpenOrder, RequestAccountSnapshot, Side
from agent.live import LiveDriver


class _ScriptedGateway:
    """An async gateway whose account snapshots are the test's: ``answers`` (a function of the request's send time
    and its number among the requests, to the snapshot it is answered with after ``delay_s``, or None: lost)."""

    def __init__(self, answers) -> None:
        self.answers = answers
        self.asked = 0
        self.sink = None
        self.in_flight = 0
        self.stats: dict = {}

    def start(self, sink) -> None:
        self.sink = sink

    def send(self, cmd) -> None:
        if type(cmd) is RequestAccountSnapshot:
            self.asked += 1
            loop = asyncio.get_running_loop()
            answer = self.answers(loop.time(), self.asked)
            if answer is not None:
                delay_s, snap = answer
                loop.call_later(delay_s, self.sink, snap)

    async def drain(self, timeout_s: float) -> bool:
        await asyncio.sleep(0.01)
        return True

    async def close(self) -> None:
        pass


def test_a_stops_final_snapshot_is_the_newest_state_answered_not_its_last_polls_answer():
    """A stop whose pull is not confirmed (the venue still lists an order of ours) polls the venue each second until
    its grace is over. Its first poll is answered: flat, the order listed. Then the answer to a snapshot the core
    asked before the stop, held up on its way, comes: a newer state, 0.001 long (the order filled before the cancel
    reached it), the order gone. The stop's later polls get no answer. The stop's final snapshot was its first poll's
    answer: the summary said the venue held no position and still listed the order, the end said nothing of the
    0.001 left, while the newest state the venue had given said the opposite of both."""
    core = AgentCore(AgentConfig(), np.random.default_rng(0), tick=1.0, sz_decimals=5)
    order = OpenOrder("0x1", 7, Side.BUY, 99_000.0, 0.001, False)
    stopped = driver_clock = 1_000.0
    stale = AccountSnapshot(stopped, 0.0, 0.0, 1e5, 0.0, (order,), 0, requested_ts=stopped, venue_time_ms=1_000_000)
    newer = AccountSnapshot(stopped + 1, 0.001, 99_000.0, 1e5, 0.0, (), 5 << 64, requested_ts=stopped - 1.0,
                            venue_time_ms=1_000_500)

    def answers(now: float, n: int):
        if n == 1:  # the stop's first poll: answered at once
            return 0.01, stale
        if n == 2:  # (its second, a second later): lost; the earlier request's answer comes meanwhile
            gw.sink(newer)
        return None

    gw = _ScriptedGateway(answers)
    driver = LiveDriver(gw, core, 1.0, clock=lambda: driver_clock)

    async def scenario():
        gw.start(driver.on_event)
        driver.on_event(BookUpdated(stopped - 2.0, "BTC", ((100_000.0, 1.0),), ((100_001.0, 1.0),)))
        driver.on_event(dataclasses.replace(stale, ts=stopped - 1.5, requested_ts=stopped - 1.6,
                                            venue_time_ms=998_500))  # (the core's first, answered: it asks no more)
        gw.asked = 0
        await driver.shutdown(grace_s=2.5)
    asyncio.run(scenario())
    assert gw.asked >= 2 and driver._last_snapshot is newer
    snap = driver.final_snapshot
    assert snap is not None and snap.position == 0.001 and not snap.open_orders, snap


@pytest.mark.parametrize("venue_ms", [0, 1_000_000])
def test_of_two_answers_of_one_venue_time_the_stops_final_snapshot_is_the_later_requests(venue_ms):
    """The other way round, where the venue's time cannot tell them apart (one millisecond, or an answer without its
    time: 0): the stop's first poll, asked after its pull, is answered at once, 0.001 long and the order gone (it
    filled before the cancel reached it); then the answer to a snapshot the core asked before the stop comes, flat
    with the order listed. The stop took the newest by the venue's time and, at a tie, the last to arrive: the older
    state, the end saying the order may rest and nothing of the position, as before the newest state was taken.
    At a tie the answer to the later request is the newer state."""
    core = AgentCore(AgentConfig(), np.random.default_rng(0), tick=1.0, sz_decimals=5)
    order = OpenOrder("0x1", 7, Side.BUY, 99_000.0, 0.001, False)
    stopped = 1_000.0
    stale = AccountSnapshot(stopped + 0.5, 0.0, 0.0, 1e5, 0.0, (order,), 0, requested_ts=stopped - 1.0,
                            venue_time_ms=venue_ms)
    fresh = AccountSnapshot(stopped, 0.001, 99_000.0, 1e5, 0.0, (), 0, requested_ts=stopped,
                            venue_time_ms=venue_ms)

    def answers(now: float, n: int):
        if n == 1:  # the stop's first poll: answered at once, the earlier request's answer right after it
            asyncio.get_running_loop().call_later(0.01, lambda: (gw.sink(fresh), gw.sink(stale)))
        return None  # (its later polls: lost)

    gw = _ScriptedGateway(answers)
    driver = LiveDriver(gw, core, 1.0, clock=lambda: stopped)

    async def scenario():
        gw.start(driver.on_event)
        driver.on_event(BookUpdated(stopped - 2.0, "BTC", ((100_000.0, 1.0),), ((100_001.0, 1.0),)))
        driver.on_event(dataclasses.replace(stale, ts=stopped - 1.5, requested_ts=stopped - 1.6))  # (the core's first)
        gw.asked = 0
        await driver.shutdown(grace_s=1.5)
    asyncio.run(scenario())
    assert gw.asked >= 1
    snap = driver.final_snapshot
    assert snap is not None and snap.position == 0.001 and not snap.open_orders, snap
