"""A Kill's end (``LiveDriver._after_kill``): the run stops by itself once the core has nothing of the Kill left and
a snapshot asked since shows the venue agrees. Fed the events a live gateway gives, in the order a slow answer
gives them: two snapshot requests in flight, the earlier one's answer arriving last (to have ``twin serve`` hold
one answer and lose a fill's push with the socket in the same second is a test of timing, not of the driver)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from agent.config import AgentConfig
from agent.core import AgentCore
from agent.gateway.events import (
    AFTER_CYCLE, AccountSnapshot, BookUpdated, ConnectionLost, RequestAccountSnapshot, Timer,
)
from agent.live import KILL_STOP, LiveDriver


def test_a_kill_ends_on_the_newest_account_state_not_on_the_last_answer_to_arrive():
    """A Kill (stale data, kill_action flatten) with nothing to close; the socket then drops, and the driver asks the
    venue twice, 2 s apart. The second answer comes first: a position of 0.001 (a fill whose push was lost with the
    socket; blind, the core flattens it after the reconnect's resync). The first answer, held up on its way, comes
    last: flat. The driver judged on the last to arrive, and ended the run as the Kill's work done, "no position",
    with 0.001 held at the venue; the core's tracker had already set that answer aside as older."""
    cfg = AgentConfig.model_validate({"safety": {"kill_action": "flatten"}})
    core = AgentCore(cfg, np.random.default_rng(0), tick=1.0, sz_decimals=5)
    sent: list = []
    now = [0.0]
    driver = LiveDriver(SimpleNamespace(send=sent.append, in_flight=0), core, cfg.session.cycle_s,
                        clock=lambda: now[0])

    def cycle(t: float) -> list:
        now[0] = t
        n = len(sent)
        driver.on_event(Timer(t))
        if driver.kill_ts is None and core.stopped:
            driver._killed(t)
        driver.on_event(Timer(t, AFTER_CYCLE))
        if driver.kill_ts is not None:
            driver._after_kill(t)
        return sent[n:]

    driver.on_event(AccountSnapshot(0.05, 0.0, 0.0, 1e5, 0.0, (), requested_ts=0.0, venue_time_ms=50))
    driver.on_event(BookUpdated(0.1, "BTC", ((100_000.0, 1.0),), ((100_001.0, 1.0),)))
    t = 0.5
    while driver.kill_ts is None:  # no book since: stale data, a Kill
        t += 0.5
        cycle(t)
        assert t < 120.0
    driver.on_event(ConnectionLost(t + 0.1, "ws"))
    asked: list[float] = []
    while len(asked) < 2:
        t += 0.5
        if any(type(c) is RequestAccountSnapshot for c in cycle(t)):
            asked.append(t)
    assert not core.kill_work_left and driver.stop_reason == ""
    ms = int(t * 1000)
    driver.on_event(AccountSnapshot(t + 0.1, 0.001, 100_000.0, 1e5, 0.0, (), 2 << 64, requested_ts=asked[1],
                                    venue_time_ms=ms))
    driver.on_event(AccountSnapshot(t + 0.2, 0.0, 0.0, 1e5, 0.0, (), requested_ts=asked[0], venue_time_ms=ms - 2000))
    assert core.tracker.position == 0.001  # (the core set the older answer aside)
    cycle(t + 0.5)
    assert driver.stop_reason != KILL_STOP
