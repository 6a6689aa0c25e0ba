"""The live gateway against a book stream that stalls while its socket stays up (hyperliquid.md §7: a venue book
stream went stale with no disconnect, nautilus_trader #4298), played by ``twin serve`` on 127.0.0.1 with its
``stall_book_stream`` fault hook: trades, pongs and account frames go on, only l2Book stops. Bounded waits."""
from __future__ import annotations

import asyncio

import numpy as np

from agent.gateway.events import BookUpdated, ConnectionLost, ConnectionRestored

from test_live_gateway import first, served, started, until

STALL_S = 0.5  # the gateway's book_stall_s in the tests: 5 s of the twin's time at 10x, 10 pushes of its feed


def _stall_then_books(past_resubscribe: bool):
    """Books flow, then the stream stalls (the sockets open now; ``past_resubscribe``: until a new socket).
    (the gateway, its events, the index of the first after the stall, wall s from the stall until a book came
    after the gateway did something about it, or None when none came)."""
    with served(speed=10.0) as (bg, ex, clock):
        async def scenario():
            async with started(bg, clock, rng=np.random.default_rng(3), quota_poll_s=0, book_stall_s=STALL_S,
                               backoff_base_s=0.05, backoff_max_s=0.2) as (gw, events):
                assert await until(lambda: sum(type(e) is BookUpdated for e in events) >= 3)
                loop = asyncio.get_running_loop()
                stalled = await loop.run_in_executor(None, lambda: bg.call(bg.server.stall_book_stream, "BTC",
                                                                           past_resubscribe))
                assert stalled == 1
                at, stalled_at = len(events), loop.time()
                acted = await until(lambda: gw.stats.get("book_resubscribes", 0) >= 1, 4 * STALL_S)
                since = len(events)
                if past_resubscribe:  # the resubscribe brings nothing: the socket is dropped and opened afresh
                    acted = acted and await until(lambda: first(events[since:], ConnectionRestored), 4 * STALL_S)
                    since = len(events)
                back = acted and await until(lambda: first(events[since:], BookUpdated), 2.0)
            return gw, events, at, loop.time() - stalled_at if back else None

        return asyncio.run(scenario())


def _longest_book_gap_s(events) -> float:
    """Of the twin's time (the events' ts, 10x the wall's): the longest wait between two books."""
    ts = [e.ts for e in events if type(e) is BookUpdated]
    return max(b - a for a, b in zip(ts, ts[1:]))


def test_a_book_stream_stalled_with_the_socket_up_is_resubscribed_and_flows_again():
    """Any frame counted as the stream alive: trades and pongs kept the socket up, the book never came back, and the
    safety's stale_kill_s (60 s) flattened the position with a taker order. Now no new book for ``book_stall_s``
    resubscribes l2Book (unsubscribe, subscribe), whose snapshot and pushes come again: no disconnect."""
    gw, events, at, back_s = _stall_then_books(past_resubscribe=False)
    assert back_s is not None, gw.stats
    assert gw.stats["book_resubscribes"] >= 1 and gw.stats["stale_book_drops"] == 0
    assert back_s < STALL_S + 1.0 and 10 * STALL_S * 0.9 <= _longest_book_gap_s(events) < 10 * (STALL_S + 1.0)
    assert not any(type(e) in (ConnectionLost, ConnectionRestored) for e in events)
    assert gw.stats["silent_streams"] == 0 and gw.stats["disconnects"] == 0


def test_a_book_stream_a_resubscribe_does_not_bring_back_has_its_socket_dropped_and_opened_afresh():
    """When the resubscribe brings no book within ``book_stall_s`` either, the socket is dropped (ConnectionLost: the
    core pulls its quotes) and a new one opened (ConnectionRestored: it resyncs), whose stream flows: all within
    twice ``book_stall_s`` and a backoff, where the safety's Kill waited 60 s."""
    gw, events, at, back_s = _stall_then_books(past_resubscribe=True)
    assert back_s is not None, gw.stats
    assert gw.stats["book_resubscribes"] >= 1 and gw.stats["stale_book_drops"] == 1
    assert gw.stats["reconnects"] == 1 and gw.stats["silent_streams"] == 0
    kinds = [type(e) for e in events[at:] if type(e) in (ConnectionLost, ConnectionRestored)]
    assert kinds == [ConnectionLost, ConnectionRestored]
    assert back_s < 2 * STALL_S + 1.0
    # the socket was up through the stall (trades, pongs, the resubscribe's answer came on it): its ConnectionLost's
    # silent_since is its last frame, not its last book twice book_stall_s before (calibration fitted the venue's
    # outage from there, 10 twin s of it up)
    lost = next(i for i in range(at, len(events)) if type(events[i]) is ConnectionLost)
    framed = [e.ts for e in events[at:lost] if type(e) is not BookUpdated]
    assert framed and events[lost].silent_since is not None and events[lost].silent_since >= max(framed), \
        (events[lost], framed)
