"""Funding: the venue's formula, and the twin settling it hourly on every open position, into the account's cash
and out to the user as the venue sends it (the in-process pushes, and the wire: user channel, userFundings,
userFunding, metaAndAssetCtxs, clearinghouseState's cumFunding)."""
from __future__ import annotations

import pytest

from twin.exchange import Exchange
from twin.faults.connection import ConnectionParams
from twin.funding import INTERVAL_MS, hourly_rate, next_settlement_ms, payment_usdc
from twin.market.synthetic import SyntheticMarketParams
from twin.messages import FundingPush
from twin.params import TwinParams, VenueParams
from twin.seeding import set_position
from twin.server import wire
from twin.server.app import TwinServer, WsSession

LONG, SHORT, FLAT = "0x" + "a1" * 20, "0x" + "b2" * 20, "0x" + "c3" * 20


def test_the_hourly_rate_is_the_venues_formula_an_eighth_of_it_capped():
    # no premium: the interest rate alone, 0.01% / 8 h
    assert hourly_rate(0.0) == pytest.approx(0.0001 / 8)
    # a premium within 0.05% of the interest rate: the clamp makes the rate the interest rate's
    assert hourly_rate(0.0003) == pytest.approx(0.0001 / 8)
    # past it the premium shows through, less the clamp: 0.0013 - 0.0005 = 0.0008 / 8 h = 0.01% an hour
    assert hourly_rate(0.0013) == pytest.approx(0.0001)
    assert hourly_rate(-0.0013) == pytest.approx((-0.0013 + 0.0005) / 8)  # cheap to its oracle: shorts pay
    assert hourly_rate(0.5) == 0.04 and hourly_rate(-0.5) == -0.04  # the venue's 4% an hour cap
    assert next_settlement_ms(7_200_000) == 10_800_000 and next_settlement_ms(7_199_999) == 7_200_000
    assert payment_usdc(0.5, 100_000.0, 0.0001) == -5.0 and payment_usdc(-0.5, 100_000.0, 0.0001) == 5.0


def _twin(premium: float = 0.0013, epoch_ms: int | None = None, seed: int = 1) -> Exchange:
    params = TwinParams(markets={"BTC": SyntheticMarketParams(funding_premium_per_8h=premium)},
                        venue=VenueParams(epoch_ms=epoch_ms), connection=ConnectionParams(hazard_per_hour=0.0))
    ex = Exchange.build(params, seed)
    for user in (LONG, SHORT, FLAT):
        ex.fund(user, 100_000.0)
    return ex


def test_every_open_position_pays_or_receives_on_each_whole_hour_into_its_cash():
    """A long and a short of 0.5 BTC at 0.01%/h: at each whole hour of venue time the long pays size × oracle
    (the mark) × rate and the short receives as much, in their cash; a flat account is charged nothing. The
    payments are the account's funding history and its position's cumulative funding, and nothing settles
    between the hours."""
    ex = _twin()
    ex.env.run(until=5.0)
    set_position(ex, LONG, "BTC", 0.5)
    set_position(ex, SHORT, "BTC", -0.5)
    cash0 = {u: ex.accounts[u].cash for u in (LONG, SHORT, FLAT)}
    ex.env.run(until=3599.0)
    assert ex.fundings[LONG] == [] and ex.accounts[LONG].cash == cash0[LONG]
    marks = []
    ex.env.run(until=3600.0 - 1e-6)
    marks.append(ex.marks["BTC"])  # the mark the hour's settlement sees (the market does not move at t=3600 first)
    ex.env.run(until=7200.0 - 1e-6)
    marks.append(ex.marks["BTC"])
    ex.env.run(until=7300.0)
    long_rows, short_rows = ex.fundings[LONG], ex.fundings[SHORT]
    assert [f.time_ms for f in long_rows] == [ex.epoch_ms + 3_600_000, ex.epoch_ms + 7_200_000]
    for row, mark in zip(long_rows, marks):
        assert row.usdc == pytest.approx(-0.5 * mark * 0.0001, abs=1e-6) and row.rate == pytest.approx(0.0001)
        assert row.szi == 0.5 and row.coin == "BTC"
    assert [f.usdc for f in short_rows] == [-f.usdc for f in long_rows]
    paid = sum(f.usdc for f in long_rows)
    assert paid < -9.0  # ~ $5 an hour on a $50k long
    assert ex.accounts[LONG].cash == pytest.approx(cash0[LONG] + paid, abs=1e-9)
    assert ex.accounts[SHORT].cash == pytest.approx(cash0[SHORT] - paid, abs=1e-9)
    assert ex.accounts[FLAT].cash == cash0[FLAT] and ex.fundings[FLAT] == []
    assert ex.accounts[LONG].positions["BTC"].funding_all_time == pytest.approx(-paid)
    assert ex.counters["fundings"] == 4


def test_an_isolated_position_pays_its_funding_from_its_own_margin_not_the_cross_balance():
    """An isolated long of 0.5 BTC at 10x paying 0.01% an hour: the payment comes out of the position's margin,
    so its own equity falls and its liquidation price rises by it, while the dex's cross balance (the cash less
    the isolated margins) is what it was; the account's cash, which holds both, still falls by the payment."""
    ex = _twin()
    ex.env.run(until=5.0)
    acct = ex.accounts[LONG]
    pos = acct.position("BTC")
    pos.isolated, pos.leverage = True, 10
    set_position(ex, LONG, "BTC", 0.5)
    margin0, cash0 = pos.margin_usd, acct.cash
    cross0 = acct.cross_margin(ex.marks, "")[0]
    ex.env.run(until=3600.0 + 1e-6)
    assert len(ex.fundings[LONG]) == 1
    paid = ex.fundings[LONG][0].usdc
    assert paid < -4.0  # ~ $5 on a $50k long
    assert pos.margin_usd == pytest.approx(margin0 + paid, abs=1e-9)
    assert acct.cross_margin(ex.marks, "")[0] == pytest.approx(cross0, abs=1e-9)
    assert acct.cash == pytest.approx(cash0 + paid, abs=1e-9)
    # at the same mark, its liquidation price is higher by what it paid over its size (the venue's formula's
    # 1 / (1 - l) factor, l = 1 / (2 x max leverage), aside)
    liq = acct.liquidation_px("BTC", ex.marks)
    pos.margin_usd -= paid
    assert liq - acct.liquidation_px("BTC", ex.marks) == pytest.approx(-paid / 0.5 / (1 - 1 / (2 * pos.max_leverage)))


def test_settlements_fall_on_the_venues_hours_once_each_whatever_the_epoch():
    """Served, the venue's time at t=0 is the wall clock's, anywhere in an hour: the first settlement is at the
    next whole hour, then one an hour, never two for one hour (the settlement times are exact ms, not the float
    clock's)."""
    epoch = 1_767_225_600_000 + 1_234_567  # 20 min 34.567 s past an hour
    ex = _twin(epoch_ms=epoch)
    ex.env.run(until=1.0)
    set_position(ex, LONG, "BTC", 0.01)
    ex.env.run(until=5 * 3600.0)
    times = [f.time_ms for f in ex.fundings[LONG]]
    first = next_settlement_ms(epoch)
    assert times == [first + k * INTERVAL_MS for k in range(5)]
    assert all(t % INTERVAL_MS == 0 for t in times)


def test_funding_is_deterministic_by_seed_and_pushed_on_the_user_and_userfundings_channels():
    pushes: dict[str, list] = {}

    def run(seed: int):
        ex = _twin(seed=seed)
        got: list = []
        conn = ex.connect(got.append)
        conn.subscribe("userEvents", LONG)
        conn.subscribe("userFundings", LONG)
        ex.env.run(until=1.0)
        set_position(ex, LONG, "BTC", 0.02)
        ex.env.run(until=3605.0)
        pushes[seed] = [p for p in got if isinstance(p, FundingPush)]
        return [(f.usdc, f.time_ms) for f in ex.fundings[LONG]]

    assert run(4) == run(4) != []
    snapshot, on_user, on_fundings = pushes[4]
    assert snapshot.is_snapshot and snapshot.fundings == ()  # the userFundings subscription's history: none yet
    assert on_user == on_fundings and not on_user.is_snapshot and len(on_user.fundings) == 1


def test_the_wire_says_it_as_the_venue_does():
    """twin serve: the user channel's ``{"funding": {...}}`` with the venue's fields; the userFundings channel;
    the userFunding query; metaAndAssetCtxs's ``funding`` the hourly rate; clearinghouseState's cumFunding the
    funding the position paid."""
    ex = _twin()
    server = TwinServer(ex)
    session = WsSession(server, ws=None)
    session.conn.subscribe("userEvents", LONG)
    session.conn.subscribe("userFundings", LONG)
    ex.env.run(until=1.0)
    set_position(ex, LONG, "BTC", 0.02)
    frames: list[str] = []
    session.conn.on_push = lambda p: frames.append(session.render(p))
    ex.env.run(until=3605.0)
    row = ex.fundings[LONG][0]
    user_frames = [wire.loads(f.encode()) for f in frames if f and '"funding"' in f and '"user"' in f[:20]]
    assert user_frames == [{"channel": "user", "data": {"funding": {
        "time": ex.epoch_ms + 3_600_000, "coin": "BTC", "usdc": wire.usd_num(row.usdc), "szi": "0.02",
        "fundingRate": "0.0001"}}}]
    assert float(user_frames[0]["data"]["funding"]["usdc"]) < 0  # a long pays a positive rate
    fundings = [wire.loads(f.encode()) for f in frames if f and f.startswith('{"channel":"userFundings"')]
    assert [r["usdc"] for r in fundings[-1]["data"]["fundings"]] == [wire.usd_num(row.usdc)]
    status, rows = server.info_reply({"type": "userFunding", "user": LONG, "startTime": 0})
    assert status == 200 and rows == [{"time": row.time_ms, "hash": "0x" + "00" * 32, "delta": {
        "type": "funding", "coin": "BTC", "usdc": wire.usd_num(row.usdc), "szi": "0.02", "fundingRate": "0.0001",
        "nSamples": None}}]
    status, (_, ctxs) = server.info_reply({"type": "metaAndAssetCtxs"})
    assert ctxs[0]["funding"] == "0.0001"
    status, state = server.info_reply({"type": "clearinghouseState", "user": LONG})
    cum = state["assetPositions"][0]["position"]["cumFunding"]
    assert cum == {"allTime": wire.usd_num(-row.usdc), "sinceChange": wire.usd_num(-row.usdc),
                   "sinceOpen": wire.usd_num(-row.usdc)}


def test_subscribing_to_an_empty_funding_history_leaves_every_later_pushs_timing_as_it_was():
    """Every TwinGateway subscribes to userFundings: its snapshot of an empty history must not draw a feed latency,
    or every later push of every session would come at other times than before funding existed."""
    def book_deliveries(subscribe_fundings: bool) -> list[float]:
        ex = _twin()
        got: list[float] = []
        conn = ex.connect(lambda p: got.append(ex.env.now) if type(p).__name__ == "BookPush" else None)
        conn.subscribe("l2Book", "BTC")
        if subscribe_fundings:
            conn.subscribe("userFundings", LONG)
        ex.env.run(until=30.0)
        return got

    with_fundings = book_deliveries(True)
    assert len(with_fundings) > 30 and with_fundings == book_deliveries(False)
