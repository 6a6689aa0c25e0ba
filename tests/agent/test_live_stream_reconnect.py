"""The live gateway's reconnects against a venue that accepts a websocket and closes it at once (a flapping socket,
as a venue or proxy under strain does): the backoff must keep growing until a socket stays up, and the fill and
funding recovery each reconnect starts must not pile up. ``twin serve`` cannot play this venue (its outages refuse
the handshake), so a tiny aiohttp stub on 127.0.0.1 does, over real sockets; every wait is bounded."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import numpy as np
from aiohttp import web

from agent.gateway.events import ConnectionLost, ConnectionRestored
from agent.gateway.hyperliquid.gateway import HyperliquidGateway

from test_live_gateway import KEY


class FlappingVenue:
    """/info enough for the gateway's start and recoveries (empty histories, the fill query answered after
    ``fill_reply_s``), and a /ws that greets, lets the client subscribe, and closes after ``hold_s``."""

    def __init__(self, hold_s: float, fill_reply_s: float = 0.0) -> None:
        self.hold_s = hold_s
        self.fill_reply_s = fill_reply_s
        self.connects: list[float] = []  # monotonic s of each websocket accepted
        self.closes: list[float] = []
        self.fill_queries = 0
        self.fill_queries_in_flight = 0
        self.most_fill_queries_in_flight = 0

    async def info(self, request: web.Request) -> web.Response:
        kind = (await request.json())["type"]
        if kind == "meta":
            return web.json_response({"universe": [{"name": "BTC", "szDecimals": 5, "maxLeverage": 40}]})
        if kind == "userFillsByTime":
            self.fill_queries += 1
            self.fill_queries_in_flight += 1
            self.most_fill_queries_in_flight = max(self.most_fill_queries_in_flight, self.fill_queries_in_flight)
            try:
                await asyncio.sleep(self.fill_reply_s)
            finally:
                self.fill_queries_in_flight -= 1
        return web.json_response([])  # userFillsByTime, userFunding: nothing missed

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        self.connects.append(time.monotonic())
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("Websocket connection established.")
        await asyncio.sleep(self.hold_s)
        await ws.close()
        self.closes.append(time.monotonic())
        return ws

    @contextlib.asynccontextmanager
    async def serving(self):
        app = web.Application()
        app.router.add_post("/info", self.info)
        app.router.add_get("/ws", self.ws)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}"
        finally:
            await runner.cleanup()


async def _run_against(venue: FlappingVenue, run_s: float, **kw) -> tuple[HyperliquidGateway, list]:
    events: list = []
    async with venue.serving() as base_url:
        gw = HyperliquidGateway(base_url, KEY, "BTC", rng=np.random.default_rng(4), quota_poll_s=0, **kw)
        await gw.prepare()
        gw.start(events.append)
        try:
            await asyncio.sleep(run_s)
        finally:
            await gw.close()
    return gw, events


def test_a_socket_closed_right_after_each_handshake_backs_off_to_the_cap_and_recovers_one_at_a_time():
    """The backoff reset as soon as the subscriptions were sent: a socket closed 20 ms after it opened was opened
    again every 30-40 ms for ever (the reviewer's script: 45 connections and 1,760 IP weight of recoveries in 20 s),
    each reconnect starting another fill and funding recovery beside those still out. Now the waits grow to
    ``backoff_max_s`` (0.64 s) since no socket stayed up that long, and one recovery runs at a time."""
    venue = FlappingVenue(hold_s=0.02, fill_reply_s=0.3)
    gw, events = asyncio.run(_run_against(venue, 2.5, backoff_base_s=0.02, backoff_max_s=0.64))
    n = len(venue.connects)
    # waits of 0.01-0.02, 0.02-0.04, ... 0.32-0.64 s: 6 to 9 sockets in 2.5 s (it was some 40)
    assert 4 <= n <= 10, venue.connects
    gaps = [b - a for a, b in zip(venue.closes, venue.connects[1:])]
    assert gaps[-1] >= 0.15 and max(gaps) >= 0.3, gaps  # (it was 10-20 ms each, for ever)
    assert gw.stats["short_lived_sockets"] >= n - 1 and gw.stats["reconnects"] == n - 1
    # the core hears each reconnect at once (it resyncs and quotes again on a healthy one) ...
    kinds = [type(e) for e in events if type(e) in (ConnectionLost, ConnectionRestored)]
    assert kinds[:2 * (n - 1)] == [ConnectionLost, ConnectionRestored] * (n - 1)
    # ... but a recovery still out when the next reconnect comes is not started again beside itself: it runs once
    # more when done, so the fill query is never asked twice at once
    assert venue.most_fill_queries_in_flight == 1 and gw.stats["recoveries_coalesced"] >= 1
    assert venue.fill_queries == gw.stats["recoveries"] <= n - 1


def test_a_socket_that_stayed_up_its_while_is_reconnected_at_once_when_it_drops(caplog):
    """The other side: a socket that stayed up ``backoff_max_s`` proved the venue healthy, so its drop starts the
    backoff over (a first wait of ``backoff_base_s`` at most), and the recoveries do not overlap. The waits are
    read from the gateway's own log line (its attempt and wait), not from the sockets' wall-clock gaps: on a loaded
    host a gap read 0.21 s for a wait of 0.02 s at most, and the gaps of a backoff never started over (0.01-0.02,
    0.02-0.04, 0.04-0.08 s) would sit under any bound that load cannot break."""
    caplog.set_level(logging.INFO, logger="agent.gateway.hyperliquid.gateway")
    venue = FlappingVenue(hold_s=0.45)
    gw, events = asyncio.run(_run_against(venue, 1.6, backoff_base_s=0.02, backoff_max_s=0.3))
    gaps = [b - a for a, b in zip(venue.closes, venue.connects[1:])]
    waits = [r.args for r in caplog.records if r.getMessage().startswith("websocket was up")]
    assert len(gaps) >= 2 and len(waits) >= len(gaps), (gaps, waits)
    assert all(attempt == 1 and wait_s <= 0.02 for _, wait_s, attempt in waits), waits  # (started over each time)
    assert gw.stats["short_lived_sockets"] == 0 and gw.stats["reconnects"] == len(venue.connects) - 1
    kinds = [type(e) for e in events if type(e) in (ConnectionLost, ConnectionRestored)]
    assert kinds[:4] == [ConnectionLost, ConnectionRestored] * 2
