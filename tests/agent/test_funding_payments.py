"""Funding in the agent: the hourly payments reach the core as ``FundingPaid`` (from the in-process twin and from
the venue's user channel), each once, outages included."""
from __future__ import annotations

import json

from agent.gateway.events import FundingPaid
from agent.gateway.hyperliquid.parse import VenueParser
from agent.gateway.twin import TwinGateway
from twin.exchange import Exchange
from twin.faults.chaos import ChaosSchedule, Disconnect
from twin.faults.connection import ConnectionParams
from twin.market.synthetic import SyntheticMarketParams
from twin.params import TwinParams
from twin.seeding import set_position

ADDR = "0x" + "ab" * 20


def _funded_params(premium: float = 0.0013, **kw) -> TwinParams:
    """A twin whose BTC funding runs at 0.01% an hour (the premium shows through the clamp), no random drops."""
    return TwinParams(markets={"BTC": SyntheticMarketParams(funding_premium_per_8h=premium)},
                      connection=ConnectionParams(hazard_per_hour=0.0), **kw)


def test_the_parser_reads_the_user_channels_funding_and_counts_a_malformed_one():
    p = VenueParser("BTC", ADDR)
    frame = {"channel": "user", "data": {"funding": {"time": 1_767_229_200_000, "coin": "BTC", "usdc": "-0.199531",
                                                     "szi": "0.02", "fundingRate": "0.0001"}}}
    msg = p.ws(json.dumps(frame), 5.0)
    assert msg.kind == "funding" and msg.fundings == (FundingPaid(5.0, "BTC", -0.199531, 0.02, 0.0001,
                                                                   1_767_229_200_000),)
    frame["data"]["funding"]["coin"] = "ETH"  # another coin's: not ours, not an error
    assert p.ws(json.dumps(frame), 5.0).fundings == () and p.malformed == 0
    for bad in ({"coin": "BTC", "usdc": "-0.1"}, {"coin": "BTC", "usdc": "x", "szi": "1", "fundingRate": "0",
                                                   "time": 1}, "nope", {"coin": "BTC", "usdc": "1", "szi": "1",
                                                                        "fundingRate": "0", "time": -5}):
        assert p.ws(json.dumps({"channel": "user", "data": {"funding": bad}}), 5.0).kind == "malformed"
    assert p.malformed == 4


def _gateway(params: TwinParams, schedule: ChaosSchedule | None = None, seed: int = 3):
    ex = Exchange.build(params, seed, schedule)
    ex.fund(ADDR, 100_000.0)
    gw = TwinGateway(ex, ADDR, "BTC", quota_poll_s=0.0)
    events: list = []
    gw.start(events.append)
    return ex, gw, events


def test_the_twin_gateway_gives_each_funding_payment_once_one_settled_in_an_outage_too():
    """A long 0.02 BTC across three hours; the socket is down from 2 h − 2 s for 10 s, so the 2 h payment's push
    is lost with it. After the reconnect the userFundings snapshot recovers it: the agent gets each of the three
    payments once, as the twin charged them, and none of the session's history before it started."""
    schedule = ChaosSchedule(events=[Disconnect(at_s=7198.0, duration_s=10.0)])
    ex, gw, events = _gateway(_funded_params(), schedule)
    ex.env.run(until=1.0)
    set_position(ex, ADDR, "BTC", 0.02)
    ex.env.run(until=3 * 3600.0 + 5.0)
    charged = [(f.coin, f.usdc, f.szi, f.rate, f.time_ms) for f in ex.fundings[ADDR]]
    got = [(e.coin, e.usdc, e.szi, e.rate, e.time_ms) for e in events if type(e) is FundingPaid]
    assert len(charged) == 3 and got == charged
    assert gw.stats["fundings_recovered"] == 1 and gw.stats["fundings_live"] == 2
    assert all(e.usdc < 0 for e in events if type(e) is FundingPaid)  # a long pays a positive rate


def test_a_funding_page_whose_row_of_another_coin_has_a_time_past_any_clock_is_malformed_not_the_next_start():
    """A userFunding page's newest time is the next page's start (``_pages``): a row of another coin had its time
    read unchecked, and 10**400 there asked the venue for nothing after it, every later payment lost without a word.
    Read as a fill page's rows are (0 to 2**53 ms): the page is malformed, counted and logged."""
    p = VenueParser("BTC", ADDR)

    def row(coin: str, time_ms) -> dict:
        return {"time": time_ms, "hash": "0x00", "delta": {"type": "funding", "coin": coin, "usdc": "-0.1",
                                                            "szi": "0.02", "fundingRate": "0.0001"}}
    good = [row("BTC", 1_767_229_200_000), row("ETH", 1_767_229_200_000)]
    assert p.funding_page(good, 5.0)[:2] == (2, 1_767_229_200_000) and p.malformed == 0
    for bad in (10 ** 400, -5, 2 ** 53):
        assert p.funding_page(json.loads(json.dumps(good + [row("ETH", bad)])), 5.0) is None
    assert p.malformed == 3
