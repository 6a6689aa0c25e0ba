"""The live gateway against a socket that dies silently (no close frame, nothing more sent: hyperliquid.md §7),
played by ``twin serve`` on 127.0.0.1 with ``connection.silent_drops``: the gateway's silence detector (a ping when
the stream has been quiet for half of ``silence_s``, the socket treated as lost at ``silence_s``) is what notices
it, where the twin used to close the socket and tell it at once. Bounded waits."""
from __future__ import annotations

import asyncio

import numpy as np

from agent.config import AgentConfig
from agent.gateway.events import AccountSnapshot, BookUpdated, ConnectionLost, ConnectionRestored, OrderAcknowledged
from twin.faults.connection import ConnectionParams
from twin.params import TwinParams

from test_live_gateway import ADDR, drop_now, first, live_agent, served, started, until

SPEED = 10.0  # the twin's seconds per wall second
SILENCE_S = 1.0  # the gateway's silence_s in the test (wall s)
OUTAGE_S = 5.0  # twin s: the path back 0.5 wall s after the drop
# The drop comes when the test has seen what must come before it (``drop_now``): a Disconnect at a fixed time of the
# twin's schedule (10 s, 1 wall s in) came, on a loaded host, before the agent's set-up had ended.


def _silent_drop(silent: bool, book_stall_s: float = 10 * SILENCE_S, silence_s: float = SILENCE_S):
    """Books flow, then every socket drops (``silent``: with no word). (the gateway, its events, the wall s from
    the drop until the gateway's ConnectionLost, or None, the venue time of the drop, ms, and the sockets the twin
    muted). ``book_stall_s`` past the silence by default: the silence detector, not the stalled-book watch, is
    what acts. ``silence_s``: the gateway's (wall s)."""
    params = TwinParams(connection=ConnectionParams(hazard_per_hour=0.0, silent_drops=silent))
    with served(speed=SPEED, params=params) as (bg, ex, clock):
        async def scenario():
            async with started(bg, clock, rng=np.random.default_rng(3), quota_poll_s=0, silence_s=silence_s,
                               ping_s=50.0, book_stall_s=book_stall_s, backoff_base_s=0.05,
                               backoff_max_s=0.2) as (gw, events):
                assert await until(lambda: sum(type(e) is BookUpdated for e in events) >= 3)
                loop = asyncio.get_running_loop()
                drop_at = await drop_now(bg, OUTAGE_S)
                drop_wall = loop.time() - (bg.server.clock.target() - drop_at) / SPEED  # (the twin's is the wall's)
                assert await until(lambda: first(events, ConnectionLost), 3 * silence_s)
                lost_after = loop.time() - drop_wall
                assert await until(lambda: first(events, ConnectionRestored), 5.0)
                since = len(events)
                assert await until(lambda: first(events[since:], BookUpdated), 2.0)
            return gw, events, lost_after, drop_at

        gw, events, lost_after, drop_at = asyncio.run(scenario())
        return gw, events, lost_after, ex.epoch_ms + int(drop_at * 1000), bg.server.muted_ws


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
    socket's was, 42 s for 128 s, before it said). A stale-book drop now says when the book's last frame came.

    (The silence is 5 wall s here, the watch's 2 x 0.2 s far inside it. At 1 s, with the drop asserted within 0.6 s:
    in a full suite run, threads left by earlier tests contending for the GIL, the watch's drop came 0.5-0.6 s after
    the drop, past the bound once, and the silence detector's ping at half its 1 s had gone out already.)"""
    gw, events, lost_after, drop_ms, muted = _silent_drop(silent=True, book_stall_s=0.2 * SILENCE_S,
                                                          silence_s=5 * SILENCE_S)
    assert muted == 1 and gw.stats["stale_book_drops"] == 1 and gw.stats["silent_streams"] == 0
    assert lost_after < 2 * SILENCE_S and gw.stats["pings"] == 0  # (the stall watch, not the silence, nor near it)
    lost = events.index(first(events, ConnectionLost))
    since = events[lost].silent_since
    assert since is not None and max(e.ts for e in events[:lost] if type(e) is BookUpdated) <= since
    assert since <= drop_ms / 1000 + 0.1 * SPEED and events[lost].ts - since >= 2 * 0.2 * SILENCE_S * SPEED * 0.9


def test_by_default_the_twin_closes_a_dropped_socket_at_once():
    """The default (silent_drops off) keeps the twin's old behaviour: the close comes with the drop, nothing waits
    for a silence. (The gateway's silence_s is 5 wall s here, the close still told within 0.5 s: at 1 s, a loaded
    host's twin thread, starved that long with no frame and no pong, was found silent before the drop.)"""
    gw, events, lost_after, drop_ms, muted = _silent_drop(silent=False, silence_s=5 * SILENCE_S)
    assert muted == 0 and gw.stats["silent_streams"] == 0
    assert lost_after < 0.5 * SILENCE_S and first(events, ConnectionLost).silent_since is None  # (told at the drop)


def test_the_agent_pulls_its_quotes_on_a_silent_drop_before_the_gateway_notices_and_quotes_again_after():
    """The whole live stack (HyperliquidGateway, AgentCore, LiveDriver) against a silent drop once it quotes, its
    path down 10 s: no frame says so, so the core sees only that its book stopped. It cancels its
    resting quotes at risk.stale_book_s (3 s of venue time) on REST, which still answers; the gateway gives
    ConnectionLost at its silence_s (15 s of venue time, after the outage), reconnects, and the core quotes
    again on the new socket's books, a snapshot asked for after it.

    Timed from the core's and the gateway's own clocks, not from the drop: on a loaded host (``pytest -n 2`` beside
    busy loops) the drop's last books reached the core up to 3.5 s of venue time after they were made (0.35 wall
    s), and the core quoted on them, as it should, until 3 s after it was given the last; an order it placed
    before its pull, overtaken by the pull's cancel, rested until its acknowledgement came and it was cancelled
    again; and a twin thread starved before the drop sent its last frame 1.5 s early, found silent 14 s after the
    drop. Each failed the test as written against the drop, the agent doing as it should."""
    params = TwinParams(connection=ConnectionParams(hazard_per_hour=0.0, silent_drops=True,
                                                    rest_fails_during_outage=0.0))
    # (its actions' ttl, risk.ack_timeout_s, 5 s of wall time: at the shipped 5 s of the twin's, 0.5 wall s, a loaded
    # host's cancels were refused as expired, and the quotes stayed)
    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}, "risk": {"ack_timeout_s": 5.0 * SPEED}})
    # the agent's orders resting on the venue, sampled every 0.25 s of the twin's time by the twin itself: sampled from
    # the test's loop (every 0.05 wall s), a loaded host's starved loop once took no sample in the 1.1 wall s checked
    sampled: list[tuple[float, int]] = []

    def sample():
        while True:
            sampled.append((ex.env.now, len(ex.open_orders(ADDR))))
            yield ex.env.timeout(0.25)

    records: list = []  # (the core's decision records: what it sent when)
    with served(speed=SPEED, params=params) as (bg, ex, clock):
        bg.call(lambda: ex.env.process(sample()))

        async def scenario():
            events: list = []
            gw, core, driver = await live_agent(bg.base_url, clock, SPEED, cfg, 0.0,
                                                {"silence_s": 1.5, "book_stall_s": 15.0, "backoff_base_s": 0.05,
                                                 "backoff_max_s": 0.2}, event_log=events, record_sink=records.append)
            loop = asyncio.get_running_loop()
            # (a bound: the run is stopped once the agent quotes again after the drop, some 30 s of venue time)
            run = loop.create_task(driver.run(duration_s=120.0, shutdown_grace_s=2.0))
            resting: list[tuple[float, int]] = []  # (venue s, the agent's orders resting on the venue then)
            drop_at = None
            while not run.done():
                resting.append(await loop.run_in_executor(
                    None, lambda: bg.call(lambda: (ex.env.now, len(ex.open_orders(ADDR))))))
                if drop_at is None and resting[-1][1] > 0:  # it quotes: the drop, its path down 10 s
                    drop_at = await drop_now(bg, 10.0)
                back = first(events, ConnectionRestored)
                if back is not None and any(type(e) is OrderAcknowledged and e.resting
                                            for e in events[events.index(back):]):
                    driver.request_stop()
                await asyncio.sleep(0.05)
            await run
            return gw, events, resting, drop_at

        gw, events, resting, drop_at = asyncio.run(scenario())
    assert drop_at is not None, resting  # it quoted
    assert bg.server.muted_ws == 1 and gw.stats["silent_streams"] == 1
    epoch = ex.epoch_ms / 1000
    lost = first(events, ConnectionLost)
    assert lost is not None and lost.ts - epoch >= drop_at  # (the silence's: 15 s of venue time after the last frame)
    assert lost.silent_since is not None and lost.ts - lost.silent_since >= 14.0
    back = events.index(first(events, ConnectionRestored))
    restored_ts = events[back].ts
    # its book stale risk.stale_book_s (3 s) after the last one it was given, it quotes no more until the reconnect
    last_book = max(e.ts for e in events[:events.index(lost)] if type(e) is BookUpdated)
    stale_s = cfg.risk.stale_book_s
    quoted = [(r["ts"] - epoch, c) for r in records if last_book + stale_s < r["ts"] < restored_ts
              for c in r.get("commands", ()) if c.startswith(("place", "modify"))]
    assert not quoted, quoted
    # and its quotes are pulled before the gateway noticed: none rest at the venue as it does (the cycle and the
    # round trip that pull them take a share of the host's time: 2 s of venue time was 0.2 wall s)
    stale = [n for t, n in sampled if last_book - epoch + stale_s <= t < lost.ts - epoch]
    assert len(stale) >= 40 and 0 in stale and stale[-1] == 0, sampled
    assert any(type(e) is BookUpdated for e in events[back:])
    assert any(type(e) is AccountSnapshot and e.requested_ts >= restored_ts for e in events[back:])
    assert any(type(e) is OrderAcknowledged and e.resting for e in events[back:])  # quoting again
