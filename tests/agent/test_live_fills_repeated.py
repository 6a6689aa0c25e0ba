"""What the live gateway's ``fills_repeated`` counts on a healthy run: the venue pushes each of the account's fills on
two channels (userFills, and the user channel the gateway subscribes to for funding, liquidations and the venue's
cancels), so each fill is seen twice and given once. Over real loopback sockets against ``twin serve``."""
from __future__ import annotations

import asyncio

from agent.gateway.events import FillReceived, IpWeightSpent

from test_live_gateway import buy_through_the_book, cloid, frames_read, served, started, told_spent, until


def test_each_fill_comes_on_two_channels_and_its_second_sight_is_the_repeat_no_request_fetches_it_again():
    """Served runs showed ``fills_repeated`` about equal to ``fills_live`` (a 60 s run at realtime: 93 and 93, no
    reconnect), which reads as a fault. It is not one: the second of each fill's two pushes, not given again. No
    request is spent on it (a push), and none re-reads the fills (no recovery ran, no snapshot was asked)."""
    with served(speed=5.0) as (bg, ex, clock):
        async def scenario():
            async with started(bg, clock, quota_poll_s=0) as (gw, events):
                assert await until(lambda: gw.fills.baseline_ms is not None)  # (the history frame has come)
                seen = frames_read(gw)
                await buy_through_the_book(bg, clock, cloid(90), 0.002)
                # both pushes of the fills read: the userFills frame and the user channel's
                assert await until(lambda: "userFills" in seen and "user" in seen), seen
                return gw, events, seen

        gw, events, seen = asyncio.run(scenario())
    fills = [e for e in events if type(e) is FillReceived]
    assert fills and len({f.tid for f in fills}) == len(fills)
    assert seen.count("userFills") == seen.count("user") == 1  # (the IOC's fills in one frame each)
    s = gw.stats
    assert s["fills_live"] == len(fills) and s["fills_repeated"] == len(fills)
    assert s["fills_recovered"] == s["fills_in_snapshot"] == 0 and s["recoveries"] == 0
    assert [e.request for e in told_spent(events) if type(e) is IpWeightSpent] == []
