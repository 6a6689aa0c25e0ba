"""The live gateway against a socket that dies silently (no close frame, nothing more sent: hyperliquid.md §7),
played by ``twin serve`` on 127.0.0.1 with ``connection.silent_drops``: the gateway's silence detector (a ping when
the stream has been quiet for half of ``silence_s``, the socket treated as lost at ``silence_s``) is what notices
it, where the twin used to close the socket and tell it at once. Bounded waits."""
from __future__ import annotations

import asyncio

import numpy as np

from agent.config import AgentConfig
from agent.gateway.events import AccountSnapshot, BookUpdated, ConnectionLost, ConnectionRestored, OrderAcknowledged
from twin.faults.chaos import ChaosSchedule, Disconnect
from twin.faults.connection import ConnectionParams
from twin.params import TwinParams

from test_live_gateway import ADDR, first, live_agent, served, started, until

SPEED = 10.0  # the twin's seconds per wall second
SILENCE_S = 1.0  # the gateway's silence_s in the test (wall s)
DROP_AT_S, OUTAGE_S = 10.0, 5.0  # twin s: the drop at 1 wall s, the path back 0.5 wall s later


def _silent_drop(silent: bool, book_stall_s: float = 10 * SILENCE_S):
    """Books flow, then every socket drops at DROP_AT_S (``silent``: with no word). (the gateway, its events,
    the wall s from the drop until the gateway's ConnectionLost, or None, the venue time of the drop, ms, and
    the sockets the twin muted). ``book_stall_s`` past the silence by default: the silence detector, not the
    stalled-book watch, is what acts."""
    params = TwinParams(connection=ConnectionParams(hazard_per_hour=0.0, silent_drops=silent))
    schedule = ChaosSchedule(events=[Disconnect(at_s=DROP_AT_S, duration_s=OUTAGE_S)])
    with served(speed=SPEED, schedule=schedule, params=params) as (bg, ex, clock):
        async def scenario():
            async with started(bg, clock, rng=np.random.default_rng(3), quota_poll_s=0, silence_s=SILENCE_S,
                               ping_s=50.0, book_stall_s=book_stall_s, backoff_base_s=0.05,
                               backoff_max_s=0.2) as (gw, events):
                assert await until(lambda: sum(type(e) is BookUpdated for e in events) >= 3)
                loop = asyncio.get_running_loop()
                drop_wall = loop.time() + (DROP_AT_S - bg.server.clock.target()) / SPEED
                assert await until(lambda: first(events, ConnectionLost), DROP_AT_S / SPEED + 3 * SILENCE_S)
                lost_after = loop.time() - drop_wall
                assert await until(lambda: first(events, ConnectionRestored), 5.0)
                since = len(events)
                assert await until(lambda: first(events[since:], BookUpdated), 2.0)
            return gw, events, lost_after

        gw, events, lost_after = asyncio.run(scenario())
        return gw, events, lost_after, ex.epoch_ms + int(DROP_AT_S * 1000), bg.server.muted_ws


def test_a_socket_that_dies_silently_is_found_by_its_silence_and_the_gateway_resyncs():
    """No close frame and no frame at all after the drop: the gateway's ping goes unanswered, and at ``silence_s``
    it gives ConnectionLost (the core pulls its quotes on it), reconnects once the path is back and its fresh
    subscriptions bring books again. No book between the drop and the ConnectionLost was given as new: the
    stream's last book stays the drop's."""
    gw, events, lost_after, drop_ms, muted = _silent_drop(silent=True)
    assert muted == 1 and gw.stats["silent_streams"] == 1 and gw.stats["pings"] >= 1
    assert SILENCE_S * 0.9 <= lost_after < SILENCE_S + 1.0  # it waited out the silence, and no longer
    lost = events.index(first(events, ConnectionLost))
    assert all(e.venue_time_ms < drop_ms for e in events[:lost] if type(e) is BookUpdated)
    # it says when the socket's last frame came: the outage began after it, not at the ConnectionLost (calibration)
    since = events[lost].silent_since
    assert since is not None and max(e.ts for e in events[:lost] if type(e) is BookUpdated) <= since
    assert since <= drop_ms / 1000 + 0.1 * SPEED and events[lost].ts - since >= 0.9 * SILENCE_S * SPEED
    restored = events.index(first(events, ConnectionRestored))
    assert lost < restored and gw.stats["reconnects"] == 1 and gw.stats["disconnects"] == 1
    after = [e for e in events[restored:] if type(e) is BookUpdated]
    assert after and after[0].venue_time_ms >= drop_ms + OUTAGE_S * 1000  # a snapshot from after the outage


def test_a_mute_socket_the_stalled_book_watch_drops_says_when_its_last_book_came():
    """The live defaults watch the book closer than the socket (book_stall_s 10 s, silence_s 60 s): a socket that dies
    silently is resubscribed at 10 s and dropped at 20 s by the stalled-book watch, before its silence is noticed, and
    its ConnectionLost had no ``silent_since``: calibration measured the outage from the drop, 20 s late (as a silent
    socket's was, 42 s for 128 s, before it said). A stale-book drop now says when the book's last frame came."""
    gw, events, lost_after, drop_ms, muted = _silent_drop(silent=True, book_stall_s=0.2 * SILENCE_S)
    assert muted == 1 and gw.stats["stale_book_drops"] == 1 and gw.stats["silent_streams"] == 0
    assert lost_after < 0.6 * SILENCE_S  # (the stall watch, not the silence)
    lost = events.index(first(events, ConnectionLost))
    since = events[lost].silent_since
    assert since is not None and max(e.ts for e in events[:lost] if type(e) is BookUpdated) <= since
    assert since <= drop_ms / 1000 + 0.1 * SPEED and events[lost].ts - since >= 2 * 0.2 * SILENCE_S * SPEED * 0.9


def test_by_default_the_twin_closes_a_dropped_socket_at_once():
    """The default (silent_drops off) keeps the twin's old behaviour: the close comes with the drop, nothing waits
    for a silence."""
    gw, events, lost_after, drop_ms, muted = _silent_drop(silent=False)
    assert muted == 0 and gw.stats["silent_streams"] == 0
    assert lost_after < 0.5 * SILENCE_S and first(events, ConnectionLost).silent_since is None  # (told at the drop)


def test_the_agent_pulls_its_quotes_on_a_silent_drop_before_the_gateway_notices_and_quotes_again_after():
    """The whole live stack (HyperliquidGateway, AgentCore, LiveDriver) against a silent drop at 10 s of the twin's
    time, its path down 10 s: no frame says so, so the core sees only that its book stopped. It cancels its
    resting quotes at risk.stale_book_s (3 s of venue time) on REST, which still answers; the gateway gives
    ConnectionLost at its silence_s (15 s of venue time, after the outage), reconnects, and the core quotes
    again on the new socket's books, a snapshot asked for after it."""
    params = TwinParams(connection=ConnectionParams(hazard_per_hour=0.0, silent_drops=True,
                                                    rest_fails_during_outage=0.0))
    schedule = ChaosSchedule(events=[Disconnect(at_s=DROP_AT_S, duration_s=10.0)])
    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}})
    with served(speed=SPEED, schedule=schedule, params=params) as (bg, ex, clock):
        async def scenario():
            events: list = []
            gw, core, driver = await live_agent(bg.base_url, clock, SPEED, cfg, 0.0,
                                                {"silence_s": 1.5, "book_stall_s": 15.0, "backoff_base_s": 0.05,
                                                 "backoff_max_s": 0.2}, event_log=events)
            loop = asyncio.get_running_loop()
            run = loop.create_task(driver.run(duration_s=40.0, shutdown_grace_s=2.0))
            resting: list[tuple[float, int]] = []  # (venue s, the agent's orders resting on the venue)
            while not run.done():
                n = await loop.run_in_executor(None, lambda: bg.call(lambda: len(ex.open_orders(ADDR))))
                resting.append((bg.server.clock.target(), n))
                await asyncio.sleep(0.05)
            await run
            return gw, events, resting

        gw, events, resting = asyncio.run(scenario())
    assert bg.server.muted_ws == 1 and gw.stats["silent_streams"] == 1
    before = [n for t, n in resting if t < DROP_AT_S]
    assert before and max(before) > 0  # it quoted before the drop
    # from stale_book_s (3 s) after the drop, and a cycle and a round trip, until the gateway noticed: nothing rests
    lost = first(events, ConnectionLost)
    assert lost is not None and lost.ts - ex.epoch_ms / 1000 >= DROP_AT_S + 14.0  # silence_s: 15 s of venue time
    pulled = [n for t, n in resting if DROP_AT_S + 5.0 <= t < DROP_AT_S + 14.0]
    assert pulled and max(pulled) == 0, resting
    back = events.index(first(events, ConnectionRestored))
    restored_ts = events[back].ts
    assert any(type(e) is BookUpdated for e in events[back:])
    assert any(type(e) is AccountSnapshot and e.requested_ts >= restored_ts for e in events[back:])
    assert any(type(e) is OrderAcknowledged and e.resting for e in events[back:])  # quoting again
