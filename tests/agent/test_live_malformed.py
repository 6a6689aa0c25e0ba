"""The live gateway against ``twin serve`` through a proxy that alters one field of one of the venue's own frames or
replies (as a fuzzing proxy found them): each such message is counted as malformed and leaves the agent believing
nothing false about its fills and orders. Every wait is bounded; only 127.0.0.1 is used."""
from __future__ import annotations

import asyncio
import json

import pytest

from agent.config import AgentConfig
from agent.gateway.events import (
    AccountSnapshot, BookUpdated, FillReceived, OrderAcknowledged, OrderRejected, PlaceOrder, RequestAccountSnapshot,
    Side, Tif,
)
from agent.gateway.fills import fill_key

from test_live_gateway import (
    ADDR, InjectingProxy, buy_through_the_book, cloid, first, live_agent, served, started, until, wall_ttl_s,
)


def _once(change, wanted):
    """A frame rewrite that applies ``change`` (it alters the parsed frame in place) to the first frame ``wanted``
    accepts, and passes every other frame as the venue sent it."""
    done: list = []

    def rewrite(text: str) -> str:
        if done or text[:1] != "{":
            return text
        msg = json.loads(text)
        if not wanted(msg):
            return text
        done.append(msg)
        change(msg)
        return json.dumps(msg)
    rewrite.done = done
    return rewrite


def _live_fills(msg: dict) -> bool:
    data = msg.get("data")
    return msg.get("channel") == "userFills" and not data.get("isSnapshot") and bool(data.get("fills"))


@pytest.mark.parametrize("field, value", [("sz", "-0.001"), ("sz", "0.0"), ("px", "-1.0"),
                                          pytest.param("time", 10 ** 400, id="time-1e400")])
def test_a_fill_with_a_size_or_price_not_above_zero_or_a_time_past_any_clock_is_malformed_and_its_copy_books_it(
        field, value):
    """The venue sends each fill twice (userFills, then the user channel). One row with a negative or zero size or
    price was a fill (a sell booked as a buy, or nothing booked), and its good copy was then dropped as a repeat:
    the ledger's position was wrong for the rest of the run (snapshots do not re-anchor it). A time of 10**400 ms
    made another fill id, so both copies were booked: the position moved twice for one fill. Now the row is
    malformed (counted), and the user channel's copy books the fill once, as the venue made it."""
    with served(speed=5.0) as (bg, ex, clock):
        async def scenario():
            async with InjectingProxy(bg.base_url) as proxy, \
                    started(proxy, clock, quota_poll_s=0, action_ttl_s=wall_ttl_s(bg)) as (gw, events):
                proxy.rewrite_frame = _once(lambda m: m["data"]["fills"][0].__setitem__(field, value), _live_fills)
                assert await until(lambda: first(events, BookUpdated) and proxy.sockets)
                mid = 0.5 * (first(events, BookUpdated).bids[0][0] + first(events, BookUpdated).asks[0][0])
                gw.send(PlaceOrder(cloid(71), Side.BUY, float(round(mid * 1.01)), 0.002, Tif.IOC))
                assert await until(lambda: first(events, OrderAcknowledged, cloid=cloid(71)))
                assert await until(lambda: proxy.rewrite_frame.done and first(events, FillReceived))
                await asyncio.sleep(0.5)  # the user channel's copy, and anything else, has come by now
                return gw, [e for e in events if type(e) is FillReceived]

        gw, fills = asyncio.run(scenario())
        venue = bg.call(lambda: [(fill_key(f.time_ms, f.tid), f.sz, f.px) for f in ex.user_fills(ADDR)])
    assert venue and sorted((f.tid, f.sz, f.px) for f in fills) == sorted(venue)
    assert all(f.side is Side.BUY for f in fills)
    assert gw.stats["malformed"] == 1


def test_a_userfills_snapshot_flag_that_is_not_a_boolean_is_malformed_not_the_history_given_as_new_fills():
    """The first userFills frame of a session is the account's history, which the account snapshot's position
    already holds. With its ``isSnapshot`` turned into the string "true" it was read as live fills: an earlier
    run's fill reached the agent as a new one (booked on top of the anchored position when it is older than the
    snapshot's fill query, a minute). Now the frame is malformed, and no fill is given."""
    with served(speed=5.0) as (bg, ex, clock):
        asyncio.run(buy_through_the_book(bg, clock, cloid(72), 0.002))  # an earlier run's fill

        def stringly(msg: dict) -> None:
            msg["data"]["isSnapshot"] = "true"

        async def scenario():
            async with InjectingProxy(bg.base_url) as proxy:
                proxy.rewrite_frame = _once(stringly, lambda m: m.get("channel") == "userFills"
                                            and m["data"].get("isSnapshot") is True)
                async with started(proxy, clock, quota_poll_s=0) as (gw, events):
                    assert await until(lambda: proxy.rewrite_frame.done and first(events, BookUpdated))
                    await asyncio.sleep(0.5)
                    return gw, [e for e in events if type(e) is FillReceived]

        gw, fills = asyncio.run(scenario())
        history = bg.call(lambda: len(ex.user_fills(ADDR)))
    assert history >= 1
    assert fills == [] and gw.stats["malformed"] == 1


@pytest.mark.parametrize("as_text", [lambda st: "NaN", str], ids=["NaN", "object-as-text"])
def test_an_order_status_that_is_a_bare_string_is_malformed_not_a_rejection_of_an_order_that_rests(as_text):
    """An order's status is an object (resting, filled, error); the venue's bare strings are cancels' ("success")
    and TP/SL children's. A place whose resting status came as a string was taken as rejected while it rested at
    the venue: the agent quoted on without it, its fills and exposure unaccounted until an audit found it. Now the
    reply is malformed (counted): no event, and the core's ack timeout asks the venue what happened."""
    def stringly(text: str) -> str:
        body = json.loads(text)
        response = body.get("response")
        statuses = response.get("data", {}).get("statuses", []) if isinstance(response, dict) else []
        if statuses and isinstance(statuses[0], dict) and "resting" in statuses[0]:
            statuses[0] = as_text(statuses[0])  # the object turned into a string
        return json.dumps(body)

    with served(speed=5.0) as (bg, ex, clock):
        async def scenario():
            async with InjectingProxy(bg.base_url) as proxy, \
                    started(proxy, clock, quota_poll_s=0, action_ttl_s=wall_ttl_s(bg)) as (gw, events):
                proxy.rewrite_exchange = stringly
                assert await until(lambda: first(events, BookUpdated) and proxy.sockets)
                bid = first(events, BookUpdated).bids[0][0]
                gw.send(PlaceOrder(cloid(73), Side.BUY, bid - 50.0, 0.001))
                assert await until(lambda: gw.in_flight == 0 and bg.call(lambda: ex.open_orders(ADDR)))
                await asyncio.sleep(0.2)
                return gw, events

        gw, events = asyncio.run(scenario())
        resting = bg.call(lambda: [o.cloid for o in ex.open_orders(ADDR)])
    assert resting == [cloid(73)]  # the venue has it resting
    assert first(events, OrderRejected, cloid=cloid(73)) is None
    assert gw.stats["malformed"] == 1


def test_a_book_or_trade_time_past_any_clock_is_malformed_and_the_agent_trades_on():
    """An l2Book frame (or a trades frame) whose ``time`` was 10**400 ms reached the core, whose book clock reads it
    as a float: OverflowError, "the core failed", and the run stopped, its orders pulled, on one bad frame. Now the
    book is malformed (counted) and the print's id is 0 (not known), and the agent runs to its duration."""
    def huge_time(msg: dict) -> None:
        data = msg["data"]
        for row in data if isinstance(data, list) else [data]:
            row["time"] = 10 ** 400

    speed = 10.0
    with served(speed=speed) as (bg, ex, clock):
        async def scenario():
            async with InjectingProxy(bg.base_url) as proxy:
                books = _once(huge_time, lambda m: m.get("channel") == "l2Book")
                trades = _once(huge_time, lambda m: m.get("channel") == "trades")
                proxy.rewrite_frame = lambda text: trades(books(text))
                cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}})
                gw, core, driver = await live_agent(proxy.base_url, clock, speed, cfg, 0.5)
                await asyncio.wait_for(driver.run(duration_s=15.0, shutdown_grace_s=3.0), 10.0)
                return gw, driver, books.done, trades.done

        gw, driver, books_done, trades_done = asyncio.run(scenario())
    assert books_done and trades_done  # both altered frames went out to the gateway
    assert driver.core_errors == 0 and driver.stop_reason == "duration reached"
    assert gw.stats["malformed"] == 1  # the book; the print is read, its id unknown


def test_a_fill_given_again_under_another_tid_past_its_orders_size_is_not_booked_and_the_venue_is_asked():
    """A userFills frame that carries, beside the fill that completes an order, a copy of it under another tid
    (each gateway drops a repeat of the same tid only): the agent booked both, so its ledger's position (the
    summary's `position.final`, never re-anchored by a snapshot) ended off the venue's by the fill's size. Now the
    copy books nothing, is counted (`overfills`), and a snapshot is asked for; at the end the agent's positions
    are the venue's."""
    filled: dict[str, float] = {}
    copied: list = []
    holder: dict = {}

    def copy_the_completing_fill(text: str) -> str:
        if copied or text[:1] != "{" or '"userFills"' not in text:
            return text
        msg = json.loads(text)
        data = msg.get("data") or {}
        if data.get("isSnapshot") or not data.get("fills") or "core" not in holder:
            return text
        for row in list(data["fills"]):
            c = row.get("cloid")
            filled[c] = filled.get(c, 0.0) + float(row["sz"])
            o = holder["core"].tracker.orders.get(c)
            if o is not None and not copied and filled[c] >= o.sz - 1e-12:
                copied.append(dict(row, tid=row["tid"] ^ 1))
                data["fills"].append(copied[-1])
        return json.dumps(msg)

    speed = 10.0
    with served(speed=speed) as (bg, ex, clock):
        async def scenario():
            async with InjectingProxy(bg.base_url) as proxy:
                proxy.rewrite_frame = copy_the_completing_fill
                # (the actions' ttl 5 wall s: the shipped 5 s of the venue's time was 0.5 wall s at speed 10, outlasted
                # on a loaded host; its orders and cancels were refused as expired, the agent was demoted to SHADOW and
                # the run reached its duration with no order filled, nothing to copy)
                cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"},
                                                  "risk": {"ack_timeout_s": wall_ttl_s(bg)}})
                records: list = []
                gw, core, driver = await live_agent(proxy.base_url, clock, speed, cfg, 0.5,
                                                    record_sink=records.append)
                holder["core"] = core  # (read by the proxy's rewrite once the run is under way)
                # the run stops once the copy has been counted and the snapshot it asked for has come (a few seconds of
                # the venue's time, usually), or at 120 s of it if that never happens, as every run once did (40 s, 4
                # wall s, passed on a loaded host before an order was filled whole: no fill to copy)
                run = asyncio.ensure_future(driver.run(duration_s=120.0, shutdown_grace_s=5.0))
                tracker = core.tracker
                await until(lambda: run.done() or (copied and tracker.overfills and not tracker.needs_snapshot), 30.0)
                driver.request_stop("test")
                await asyncio.wait_for(run, 15.0)
                return core, driver, records

        core, driver, records = asyncio.run(scenario())
        venue = bg.call(lambda: ex.accounts[ADDR.lower()].position("BTC").szi)
    assert copied and driver.core_errors == 0
    assert abs(core.ledger.position - venue) < 1e-9 and abs(core.tracker.position - venue) < 1e-9
    assert core.tracker.overfills == 1
    over = [r for r in records if r["type"] == "overfill"]
    assert [(r["cloid"], r["excess"]) for r in over] == [(copied[0]["cloid"], float(copied[0]["sz"]))]


def test_a_fill_whose_start_position_is_not_a_number_on_both_channels_is_booked_not_lost():
    """The venue sends each fill twice (userFills, then the user channel). A startPosition that is no number ("abc")
    in both copies refused each frame whole: the fill never reached the agent, its ledger short of it for the run.
    The agent books a fill without it (Ledger.closed_of_booked: not known), so the field is read as not known,
    counted (once a copy), and the fill booked once, as the venue made it."""
    def odd_start(text: str) -> str:
        if text[:1] != "{" or '"startPosition"' not in text:
            return text
        msg = json.loads(text)
        data = msg.get("data")
        if not isinstance(data, dict) or data.get("isSnapshot") or msg.get("channel") not in ("userFills", "user"):
            return text
        for row in data.get("fills") or ():
            row["startPosition"] = "abc"
        odd_start.done.append(msg["channel"])
        return json.dumps(msg)
    odd_start.done = []
    with served(speed=5.0) as (bg, ex, clock):
        async def scenario():
            async with InjectingProxy(bg.base_url) as proxy, \
                    started(proxy, clock, quota_poll_s=0, action_ttl_s=wall_ttl_s(bg)) as (gw, events):
                proxy.rewrite_frame = odd_start
                assert await until(lambda: first(events, BookUpdated) and proxy.sockets)
                mid = 0.5 * (first(events, BookUpdated).bids[0][0] + first(events, BookUpdated).asks[0][0])
                gw.send(PlaceOrder(cloid(73), Side.BUY, float(round(mid * 1.01)), 0.002, Tif.IOC))
                assert await until(lambda: first(events, OrderAcknowledged, cloid=cloid(73)))
                assert await until(lambda: len(odd_start.done) >= 2)  # both copies went out, altered
                await asyncio.sleep(0.5)
                return gw, [e for e in events if type(e) is FillReceived]

        gw, fills = asyncio.run(scenario())
        venue = bg.call(lambda: [(fill_key(f.time_ms, f.tid), f.sz, f.px) for f in ex.user_fills(ADDR)])
    assert sorted(odd_start.done) == ["user", "userFills"]
    assert venue and sorted((f.tid, f.sz, f.px) for f in fills) == sorted(venue)
    assert all(f.start_position is None for f in fills)
    assert gw.stats["malformed"] == 2 * len(venue)


def test_a_snapshots_fill_query_with_a_malformed_row_of_ours_is_refused_not_a_watermark_below_that_fill():
    """A fill page keeps its good rows when one is malformed (a recovery lost the rest with it). An account snapshot's
    fill query must not: its watermark is the newest fill it read, and without the malformed row's (here the
    session's fill, its size "abc") the snapshot said the fill was not in its position, which holds it: the agent
    booked the fill again on top. That snapshot is refused (counted), and the next one, read whole, holds the fill."""
    with served(speed=5.0) as (bg, ex, clock):
        async def scenario():
            async with InjectingProxy(bg.base_url) as proxy, \
                    started(proxy, clock, quota_poll_s=0, action_ttl_s=wall_ttl_s(bg)) as (gw, events):
                assert await until(lambda: first(events, BookUpdated) and gw.fills.baseline_ms is not None)
                mid = 0.5 * (first(events, BookUpdated).bids[0][0] + first(events, BookUpdated).asks[0][0])
                gw.send(PlaceOrder(cloid(74), Side.BUY, float(round(mid * 1.01)), 0.001, Tif.IOC))
                assert await until(lambda: first(events, FillReceived))
                async with proxy.session.post(bg.base_url + "/info", json={"type": "userFillsByTime", "user": ADDR,
                                                                           "startTime": 0}) as reply:
                    rows = await reply.json()
                for row in rows:
                    row["sz"] = "abc"
                proxy.info_answers["userFillsByTime"] = json.dumps(rows)
                n = len(events)
                gw.send(RequestAccountSnapshot())
                assert await until(lambda: proxy.answered == ["userFillsByTime"])
                await asyncio.sleep(0.5)  # (the snapshot, had it been taken, is given by now)
                refused = not any(type(e) is AccountSnapshot for e in events[n:])
                gw.send(RequestAccountSnapshot())
                assert await until(lambda: any(type(e) is AccountSnapshot for e in events[n:]))
                return gw, events, refused

        gw, events, refused = asyncio.run(scenario())
    fill = first(events, FillReceived)
    assert refused and gw.stats["malformed"] == 1
    assert all(e.last_fill_tid >= fill.tid for e in events if type(e) is AccountSnapshot and e.ts >= fill.ts)
