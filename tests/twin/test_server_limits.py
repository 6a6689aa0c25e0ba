"""The venue's websocket server limits per IP (hyperliquid.md §4) on the loopback venue: real sockets on 127.0.0.1,
each limit accepted at its figure and refused past it, across the sockets of one address."""
from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from twin.faults.connection import ConnectionParams
from twin.market.synthetic import SyntheticMarketParams
from twin.params import TwinParams
from twin.server.app import GREETING, BackgroundServer, TwinServer, build_exchange
from twin.server.cli import build_parser
from twin.server.limits import WsLimits

TIMEOUT = 10.0
USERS = [f"0x{i:040x}" for i in range(1, 13)]


def venue(limits: WsLimits | None = None, speed: float = 1.0, params: TwinParams | None = None) -> BackgroundServer:
    calm = SyntheticMarketParams(vol_calm_per_sqrt_s=1e-7, vol_stressed_per_sqrt_s=1e-7, jump_rate_calm_per_s=0.0,
                                 jump_rate_stressed_per_s=0.0, calm_to_stressed_per_s=0.0)
    params = params or TwinParams(markets={"BTC": calm}, connection=ConnectionParams(hazard_per_hour=0.0))
    return BackgroundServer(TwinServer(build_exchange(params, seed=7), speed=speed, limits=limits))


async def connect(session: aiohttp.ClientSession, bg: BackgroundServer) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(bg.ws_url)
    assert (await ws.receive(timeout=TIMEOUT)).data == GREETING
    return ws


async def refused_handshake(session: aiohttp.ClientSession, bg: BackgroundServer) -> str:
    """The refusal's text; fails if the handshake is accepted. (A websocket handshake by hand: aiohttp's client
    keeps the status of a refused one, HTTP 429 here, but not its body.)"""
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    async with session.get(bg.base_url + "/ws", headers=headers) as r:
        assert r.status == 429
        return await r.text()


BARRIER = json.dumps({"method": "unsubscribe", "subscription": {"type": "trades", "coin": "BARRIER"}})


async def answers(ws: aiohttp.ClientWebSocketResponse, messages: list[dict]) -> list[dict]:
    """Sends ``messages`` and then an unsubscribe of nothing held, and returns the frames before its refusal: acks
    and that refusal go out in the order of their requests (behind the socket's pushes), other errors at once, so
    whatever the messages drew is in (a ping's pong is no such barrier: it overtakes acks)."""
    for m in messages:
        await ws.send_str(json.dumps(m))
    await ws.send_str(BARRIER)
    got = []
    while True:
        frame = json.loads((await ws.receive(timeout=TIMEOUT)).data)
        if frame["channel"] == "error" and frame["data"].startswith(f"Invalid unsubscribe {BARRIER}:"):
            return got
        got.append(frame)


def sub(kind: str, **key) -> dict:
    return {"method": "subscribe", "subscription": {"type": kind, **key}}


def unsub(kind: str, **key) -> dict:
    return {"method": "unsubscribe", "subscription": {"type": kind, **key}}


def acks(frames: list[dict]) -> int:
    return sum(f["channel"] == "subscriptionResponse" for f in frames)


def errors(frames: list[dict]) -> list[str]:
    return [f["data"] for f in frames if f["channel"] == "error"]


def test_ten_connections_from_one_ip_are_accepted_and_the_eleventh_is_refused_until_one_closes():
    """The venue allows 10 websocket connections per IP (hyperliquid.md §4); the twin allowed any number."""
    async def scenario(bg: BackgroundServer) -> None:
        async with aiohttp.ClientSession() as session:
            open_ = [await connect(session, bg) for _ in range(10)]
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:  # as a client (the agent's gateway) sees it
                await session.ws_connect(bg.ws_url)
            assert e.value.status == 429
            text = await refused_handshake(session, bg)
            assert "Too many websocket connections from this IP (at most 10;" in text and "UNCONFIRMED" in text
            await open_.pop().close()
            for _ in range(50):  # the server sees the close a moment later
                if bg.call(lambda: bg.server.budget("127.0.0.1").open) < 10:
                    break
                await asyncio.sleep(0.02)
            open_.append(await connect(session, bg))  # its place is free again
            assert (await answers(open_[0], [])) == []  # the first is still served (the barrier's ack came)
            for ws in open_:
                await ws.close()

    with venue() as bg:
        asyncio.run(asyncio.wait_for(scenario(bg), 60.0))
        assert bg.server.refused_ws_limits == 2


def test_thirty_new_connections_a_minute_are_accepted_and_the_thirty_first_is_refused():
    """The venue allows 30 new connections per IP a minute (hyperliquid.md §4): each closed before the next, so the
    open-connections limit is never what refuses."""
    async def scenario(bg: BackgroundServer) -> tuple[str, float]:
        async with aiohttp.ClientSession() as session:
            for _ in range(30):
                await (await connect(session, bg)).close()
            text = await refused_handshake(session, bg)
            return text, bg.call(lambda: bg.server.exchange.env.now)

    with venue() as bg:
        text, now = asyncio.run(asyncio.wait_for(scenario(bg), 60.0))
        assert now < 60.0, "too slow a machine: a minute passed before the 31st"
        assert "Too many new websocket connections from this IP (at most 30 a minute;" in text


def test_new_connections_are_accepted_again_a_minute_after_the_refused_ones():
    """A handshake refused still counts (the strict reading: UNCONFIRMED whether the venue counts it), so the window
    reopens a minute (of venue time, here at 30x) after the last refusal, not after the first accepted one."""
    async def scenario(bg: BackgroundServer) -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                await (await connect(session, bg)).close()
            await refused_handshake(session, bg)
            refused_at = bg.call(lambda: bg.server.exchange.env.now)
            assert refused_at < 60.0, "too slow a machine: a minute passed before the 4th"
            while bg.call(lambda: bg.server.exchange.env.now) < refused_at + 60.5:
                await asyncio.sleep(0.05)
            await (await connect(session, bg)).close()

    with venue(WsLimits(new_connections_per_minute=3), speed=30.0) as bg:
        asyncio.run(asyncio.wait_for(scenario(bg), 60.0))


def test_a_thousand_subscriptions_across_one_ips_sockets_are_held_and_the_next_is_refused():
    """The venue allows 1000 subscriptions per IP (hyperliquid.md §4), across its sockets: 600 on one and 400 on
    another are acked, the 1001st on either is refused with an error frame and no ack, a subscription already held is
    acked again (it is no new one), and an unsubscribe frees a place."""
    async def scenario(bg: BackgroundServer) -> None:
        async with aiohttp.ClientSession() as session:
            a, b = await connect(session, bg), await connect(session, bg)
            assert acks(await answers(a, [sub("trades", coin=f"C{i}") for i in range(600)])) == 600
            assert acks(await answers(b, [sub("trades", coin=f"C{i}") for i in range(600, 1000)])) == 400
            for ws in (a, b):
                frames = await answers(ws, [sub("trades", coin="C1000")])
                assert acks(frames) == 0
                assert len(errors(frames)) == 1 and errors(frames)[0].startswith(
                    "Too many subscriptions from this IP (at most 1000; the twin's refusal; the venue's is UNCONFIRMED)")
            assert acks(await answers(a, [sub("trades", coin="C0")])) == 1  # held already
            frames = await answers(b, [unsub("trades", coin="C999"), sub("trades", coin="C1000")])
            assert acks(frames) == 2 and errors(frames) == []
            held = bg.call(lambda: sum(len(s.conn.subs) for s in bg.server.sessions))
            assert held == 1000
            await a.close()
            await b.close()

    with venue() as bg:
        asyncio.run(asyncio.wait_for(scenario(bg), 60.0))


def test_ten_users_across_one_ips_user_subscriptions_are_served_and_an_eleventh_is_refused():
    """The venue allows 10 unique users across an IP's user-specific subscriptions (hyperliquid.md §4): more
    subscriptions of the ten are fine, a new user on any socket is refused (activeAssetData, keyed by user and coin,
    included) while a coin's subscriptions are not users, and once one user's last subscription goes another fits."""
    async def scenario(bg: BackgroundServer) -> None:
        async with aiohttp.ClientSession() as session:
            a, b = await connect(session, bg), await connect(session, bg)
            assert acks(await answers(a, [sub("orderUpdates", user=u) for u in USERS[:6]])) == 6
            assert acks(await answers(b, [sub("userFills", user=u) for u in USERS[6:10]])) == 4
            more = [sub("userEvents", user=USERS[0]), sub("activeAssetData", user=USERS[9], coin="BTC"),
                    sub("l2Book", coin="BTC")]
            assert acks(await answers(b, more)) == 3
            for ws, new in ((a, sub("orderUpdates", user=USERS[10])),
                            (b, sub("activeAssetData", user=USERS[11], coin="BTC"))):
                frames = [f for f in await answers(ws, [new]) if f["channel"] != "l2Book"]
                assert acks(frames) == 0
                assert len(errors(frames)) == 1 and errors(frames)[0].startswith(
                    "Too many unique users across user-specific subscriptions from this IP (at most 10;")
            gone = [unsub("orderUpdates", user=USERS[0])]
            assert acks(await answers(a, gone + [sub("orderUpdates", user=USERS[10])])) == 1  # userEvents holds it
            gone = [unsub("userEvents", user=USERS[0]), sub("orderUpdates", user=USERS[10])]
            assert acks([f for f in await answers(b, gone) if f["channel"] != "l2Book"]) == 2
            await a.close()
            await b.close()

    with venue() as bg:
        asyncio.run(asyncio.wait_for(scenario(bg), 60.0))


def test_two_thousand_messages_a_minute_across_one_ips_sockets_are_answered_and_the_next_is_refused():
    """The venue allows 2000 messages sent to the server per IP a minute, across all connections (hyperliquid.md
    §4): 1200 pings on one socket and 800 on another (their own pings in ``answers`` among them) get their pongs,
    and the next message on either, a ping or a subscribe, gets an error frame and nothing else."""
    async def pongs(ws: aiohttp.ClientWebSocketResponse, n: int) -> int:
        for _ in range(n):
            await ws.send_str('{"method":"ping"}')
        got = 0
        while got < n:
            frame = json.loads((await ws.receive(timeout=TIMEOUT)).data)
            assert frame["channel"] == "pong", frame
            got += 1
        return got

    async def scenario(bg: BackgroundServer) -> list[dict]:
        async with aiohttp.ClientSession() as session:
            a, b = await connect(session, bg), await connect(session, bg)
            assert await pongs(a, 1200) + await pongs(b, 800) == 2000
            await a.send_str('{"method":"ping"}')
            await b.send_str(json.dumps(sub("trades", coin="BTC")))
            frames = [json.loads((await ws.receive(timeout=TIMEOUT)).data) for ws in (a, b)]
            assert bg.call(lambda: bg.server.exchange.env.now) < 60.0, "too slow a machine: a minute passed"
            assert bg.call(lambda: sum(len(s.conn.subs) for s in bg.server.sessions)) == 0
            await a.close()
            await b.close()
            return frames

    with venue() as bg:
        frames = asyncio.run(asyncio.wait_for(scenario(bg), 60.0))
    assert [f["channel"] for f in frames] == ["error", "error"]
    assert frames[0]["data"] == ("Too many messages sent to the server from this IP (at most 2000 a minute; the "
                                 "twin's refusal; the venue's is UNCONFIRMED): {\"method\":\"ping\"}")


def test_post_requests_in_flight_are_counted_across_one_ips_sockets():
    """The venue's 100 posts in flight are per IP (hyperliquid.md §4); the twin counted them per socket, so two
    sockets had 200. Here at 2: one post on each socket, held a second by the twin's latency, and a third on either
    is refused at once; once the replies are in, a post is served again."""
    base = TwinParams(connection=ConnectionParams(hazard_per_hour=0.0))
    leg = {"median_ms": 500.0, "sigma": 0.01, "spike_prob": 0.0, "burst_rate_per_hour": 0.0}
    params = base.model_copy(update={"latency": base.latency.model_copy(update={
        "order_entry": base.latency.order_entry.model_validate(leg),
        "response": base.latency.response.model_validate(leg)})})

    def post(rid: int) -> str:
        return json.dumps({"method": "post", "id": rid, "request": {"type": "info", "payload": {"type": "meta"}}})

    async def scenario(bg: BackgroundServer) -> None:
        async with aiohttp.ClientSession() as session:
            a, b = await connect(session, bg), await connect(session, bg)
            await a.send_str(post(1))
            await b.send_str(post(2))
            while bg.call(lambda: bg.server.budget("127.0.0.1").posts) < 2:  # both read (two sockets: any order)
                await asyncio.sleep(0.01)
            await a.send_str(post(3))
            first = json.loads((await a.receive(timeout=TIMEOUT)).data)
            assert first["channel"] == "error" and first["data"].startswith(
                "Too many post requests in flight from this IP (at most 2;")
            replies = [json.loads((await ws.receive(timeout=TIMEOUT)).data) for ws in (a, b)]
            assert [(r["channel"], r["data"]["id"]) for r in replies] == [("post", 1), ("post", 2)]
            await a.send_str(post(4))
            again = json.loads((await a.receive(timeout=TIMEOUT)).data)
            assert (again["channel"], again["data"]["id"]) == ("post", 4)
            await a.close()
            await b.close()

    with venue(WsLimits(posts_in_flight=2), params=params) as bg:
        asyncio.run(asyncio.wait_for(scenario(bg), 30.0))


def test_serve_takes_a_limit_by_name_and_keeps_the_venues_figures_otherwise():
    """``--ws-limit NAME=N`` lets a soak run raise a limit (or a test lower one); the defaults are the venue's."""
    assert WsLimits().model_dump() == {"connections": 10, "new_connections_per_minute": 30, "subscriptions": 1000,
                                       "users": 10, "messages_per_minute": 2000, "posts_in_flight": 100}
    args = build_parser().parse_args(["--ws-limit", "connections=40", "--ws-limit", "messages_per_minute=9000"])
    assert WsLimits(**dict(args.ws_limit)).model_dump() == {**WsLimits().model_dump(), "connections": 40,
                                                           "messages_per_minute": 9000}
    for bad in ("sockets=3", "users=0", "users=x", "users", f"users={10**300}"):  # (the last was taken, 1e300 users)
        with pytest.raises(SystemExit):
            build_parser().parse_args(["--ws-limit", bad])


def test_a_long_lived_server_drops_the_limit_records_of_addresses_gone_quiet():
    """The server kept a record of the limits for every address it ever saw, for its whole life. Now an address with
    no socket, no post in flight and nothing left in its windows is dropped (a fresh record is the same): six rounds
    of 50 new addresses (127.0.0.0/8 is all loopback), each round a minute of venue time after the last, leave the
    records at most twice one round's addresses, and a dropped address connects again as a new one."""
    rounds, per_round = 6, 50

    async def knock(bg: BackgroundServer, address: str) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0))) as session:
            await (await connect(session, bg)).close()

    async def scenario(bg: BackgroundServer) -> list[int]:
        held = []
        for r in range(rounds):
            for i in range(per_round):
                await knock(bg, f"127.0.{r + 1}.{i + 1}")
            held.append(bg.call(lambda: len(bg.server._budgets)))
            start = bg.call(bg.server.clock.catch_up)
            while bg.call(bg.server.clock.catch_up) <= start + 61.0:  # the windows empty
                await asyncio.sleep(0.05)
        await knock(bg, "127.0.1.1")  # the first round's first, its record long dropped
        return held

    with venue(speed=180.0) as bg:  # (each round's minute of venue time a third of a second here)
        held = asyncio.run(asyncio.wait_for(scenario(bg), 60.0))
        assert bg.server.refused_ws_limits == 0
    assert max(held) <= 2 * per_round + 1 and held[-1] < rounds * per_round
