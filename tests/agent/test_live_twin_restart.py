"""A venue that lost the account's history under a running agent: ``twin serve`` killed and started again on the same
port (a new venue: accounts funded anew, no orders, positions or fills of the last one) while the live agent stays up.
The agent reconnects to it as to the old one after a drop; its ledger still holds the dead venue's fills. Over real
loopback sockets, the twin at realtime (the restarted server's clock starts at the wall clock, as ``twin serve``'s
does); bounded waits."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from agent.config import AgentConfig
from agent.execution.weights import INFO_WEIGHT, snapshot_weight
from agent.gateway.events import (
    AccountSnapshot, Batch, ConnectionLost, ConnectionRestored, FillReceived, ModifyOrder, PlaceOrder,
    RequestAccountSnapshot,
)
from twin.server.app import BackgroundServer, TwinServer, build_exchange

from test_live_gateway import (
    ADDR, InjectingProxy, _params, buy_through_the_book, cloid, drop_now, first, live_agent, recovered, settled,
    snapshot_answered, started, until,
)

SPEED = 1.0  # realtime: a restarted server's clock starts at the wall clock, after the last one's fills


def _venue(port: int = 0) -> BackgroundServer:
    ex = build_exchange(_params(), seed=3, fund={ADDR: 100_000.0})  # the same seed: the same oids and tids again
    return BackgroundServer(TwinServer(ex, speed=SPEED), port=port).__enter__()


def _venue_clock(venue: dict) -> Callable[[], float]:
    """The venue's clock in epoch seconds, read from whichever server ``venue["bg"]`` holds now (a restart swaps
    it)."""
    def clock() -> float:
        bg = venue["bg"]
        return bg.server.exchange.epoch_ms / 1000.0 + bg.server.clock.target()
    return clock


def _places(cmds) -> list:
    """The commands among ``cmds`` that may rest an order at the venue (places and modifies, alone or batched)."""
    out = []
    for c in cmds:
        parts = c.commands if type(c) is Batch else (c,)
        out += [p for p in parts if type(p) in (PlaceOrder, ModifyOrder)]
    return out


def test_a_restarted_twin_under_a_running_agent_stops_the_run_before_it_trades_on_the_dead_venues_ledger(caplog):
    """The agent was given a fill by the first venue (its ledger books it: position, fee, volume); the venue is then
    killed and started afresh on the same port. On the real venue an account's fills are never lost (the newest 10000
    stay listed), so after the reconnect the new venue's listing, which holds none of the fills the agent was given,
    says the ledger is another venue's. Before: the agent resynced to the new venue's empty account and quoted on,
    its ledger holding the dead venue's position and PnL for the rest of the run (a Red run sent reduce-only exits
    against that phantom position, each refused). Now the gateway says so, once and loudly, the resync is not taken,
    nothing is placed on the new venue, and the run stops itself as a fault (exit 4 in the CLI), naming the fix."""
    caplog.set_level(logging.INFO)
    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}, "safety": {"cascade_errors": 1000}})
    venue = {"bg": _venue()}
    port = venue["bg"].port

    clock = _venue_clock(venue)

    try:
        async def scenario():
            events: list = []
            sent: list = []
            gw, core, driver = await live_agent(venue["bg"].base_url, clock, SPEED, cfg, 0.0,
                                                {"backoff_base_s": 0.05, "backoff_max_s": 0.2, "action_ttl_s": 5.0},
                                                event_log=events, command_log=sent)
            run = asyncio.get_running_loop().create_task(driver.run(duration_s=60.0, shutdown_grace_s=5.0))
            assert await until(lambda: first(events, AccountSnapshot), 10.0)
            # a fill of the account the agent is given (a person's trade on it: booked as any)
            await buy_through_the_book(venue["bg"], clock, cloid(77), 0.001)
            assert await until(lambda: core.ledger.fills >= 1, 10.0), core.ledger.fills
            # the venue dies and a new one starts on its port
            venue["bg"].__exit__(None, None, None)
            restart_at = len(sent)
            venue["bg"] = _venue(port)
            assert await until(lambda: first(events, ConnectionRestored), 10.0)
            # (the run's own stop, well before its duration; or the test's, for the checks below to say what it did)
            if not (await asyncio.wait({run}, timeout=15.0))[0]:
                driver.request_stop("still running 15 s after the venue's restart")
            await asyncio.wait_for(run, 15.0)
            return gw, core, driver, events, sent[restart_at:]

        gw, core, driver, events, after = asyncio.run(scenario())
        new_fills = venue["bg"].call(lambda: venue["bg"].server.exchange.user_fills(ADDR))
    finally:
        venue["bg"].__exit__(None, None, None)

    assert first(events, ConnectionLost) and first(events, FillReceived)
    assert core.ledger.fills >= 1
    # the run stopped itself on it, well before its duration, as a fault, and said why
    assert driver.stopped_on_fault, driver.stop_reason
    assert "no longer lists" in driver.stop_reason and "restart" in driver.stop_reason, driver.stop_reason
    said = [r for r in caplog.records if r.levelno >= logging.ERROR and "no longer lists" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert gw.stats["venue_history_lost"] == 1
    # nothing was placed on the new venue on the dead one's ledger
    assert _places(after) == [], after
    assert new_fills == ()


@pytest.mark.parametrize("restart", [True, False], ids=["restarted", "same-venue"])
@pytest.mark.parametrize("probe", [False, True], ids=["in-the-snapshot", "probed"])
def test_after_a_reconnect_the_first_snapshot_finds_the_newest_fill_known_or_says_the_venue_lost_it(restart, probe):
    """The check itself, on the gateway: after a reconnect to a restarted venue the first account snapshot is not
    given (the core quotes on no resync), ``venue_reset`` says why and the next snapshot is given again (the stop's
    own need it); after a reconnect to the same venue (its sockets dropped) nothing is said and the snapshot is
    given. ``probe``: the fill is older than the snapshot's fill query reads from (a minute before the last
    snapshot's state: after a quiet minute), so one more page is read from its time, its weight in the snapshot's;
    else the snapshot's own query lists it, and nothing more is asked."""
    venue = {"bg": _venue()}
    port = venue["bg"].port

    clock = _venue_clock(venue)

    try:
        async def scenario():
            async with started(venue["bg"], clock, quota_poll_s=0, backoff_base_s=0.05, backoff_max_s=0.2,
                               action_ttl_s=5.0) as (gw, events):
                assert await until(lambda: gw.fills.baseline_ms is not None)  # (the session's history is known)
                await buy_through_the_book(venue["bg"], clock, cloid(78), 0.001)
                assert await until(lambda: first(events, FillReceived))
                await snapshot_answered(gw, events)
                if probe:  # (a minute of audits after the fill moves the query's start past it: as they would)
                    gw._fills_since_ms = gw.fills.last_ms + 1
                if restart:
                    venue["bg"].__exit__(None, None, None)
                    venue["bg"] = _venue(port)
                else:
                    await drop_now(venue["bg"], 0.5)
                assert await until(lambda: first(events, ConnectionRestored), 10.0)
                n = len(events)
                gw.send(RequestAccountSnapshot())
                await settled(gw)
                resync = [e for e in events[n:] if type(e) is AccountSnapshot]
                reset, lost = gw.venue_reset, gw.stats["venue_history_lost"]
                n = len(events)
                await snapshot_answered(gw, events)  # the next is given whatever the last said
                after = next(e for e in events[n:] if type(e) is AccountSnapshot)
            return resync, reset, lost, after

        resync, reset, lost, after = asyncio.run(scenario())
    finally:
        venue["bg"].__exit__(None, None, None)

    if restart:
        assert resync == [] and lost == 1 and "no longer lists" in reset
        assert after.position == 0.0  # the new venue's account
    else:
        assert len(resync) == 1 and lost == 0 and reset is None
        assert resync[0].position == pytest.approx(0.001)
        # one more page read, and weighed in the snapshot's IP weight; none when the snapshot's query listed it
        extra = resync[0].ip_weight - snapshot_weight([0])
        assert (extra >= INFO_WEIGHT) if probe else (extra < INFO_WEIGHT), resync[0].ip_weight


def test_a_node_that_lists_the_fill_a_moment_late_after_a_reconnect_is_no_venue_lost():
    """The node answering /info can lag the socket that pushed a fill: after a quick reconnect its listing may not
    hold the newest fill yet. The check asks again ``history_recheck_s`` on before it says the venue lost it: here the
    snapshot's fill query is answered empty once (a lagging node's answer, by a proxy in front of the twin), the
    second look finds the fill, nothing is said and the snapshot is given. Without the second look the run stopped
    on a venue that had lost nothing."""
    venue = {"bg": _venue()}

    clock = _venue_clock(venue)

    try:
        async def scenario():
            async with InjectingProxy(venue["bg"].base_url) as proxy:
                async with started(proxy, clock, quota_poll_s=0, backoff_base_s=0.05, backoff_max_s=0.2,
                                   action_ttl_s=5.0) as (gw, events):
                    gw.history_recheck_s = 0.5
                    assert await until(lambda: gw.fills.baseline_ms is not None)
                    await buy_through_the_book(venue["bg"], clock, cloid(79), 0.001)
                    assert await until(lambda: first(events, FillReceived))
                    await snapshot_answered(gw, events)
                    await drop_now(venue["bg"], 0.5)
                    assert await until(lambda: first(events, ConnectionRestored), 10.0)
                    await recovered(gw)  # (its userFillsByTime answered by the venue: the lag is the snapshot's)
                    proxy.info_answers["userFillsByTime"] = "[]"
                    n = len(events)
                    gw.send(RequestAccountSnapshot())
                    await settled(gw)
                    return gw, [e for e in events[n:] if type(e) is AccountSnapshot], proxy.answered

        gw, resync, lagged = asyncio.run(scenario())
    finally:
        venue["bg"].__exit__(None, None, None)
    assert lagged == ["userFillsByTime"]
    assert gw.venue_reset is None and gw.stats["venue_history_lost"] == 0
    assert len(resync) == 1 and resync[0].position == pytest.approx(0.001)
