"""The agent's ledger against the twin's account (the venue's truth) over random fill sequences: the position, its
entry price, the fees and the session's net PnL the drawdown rules watch agree to rounding, whichever fills the first
snapshot already holds and in whatever order they reach the ledger around it.

The account may start on an earlier run's position; the session's fills run at maker and taker rates, a maker rebate
(negative fee) and the HIP-3 dex's doubled rates, through zero in one fill and back; funding is paid and received.
The snapshot the ledger anchors on is the account after the first ``m`` of them, and the session's net is the
account's value change from its value at the session's first mid."""
from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings, strategies as st

from agent.config import AgentConfig
from agent.ledger import Ledger
from agent.session import USER, build_session
from twin.accounts import Account
from twin.faults.connection import ConnectionParams
from twin.market.synthetic import SyntheticMarketParams
from twin.params import TwinParams

LOT = 0.001
RATES = (-0.0001, 0.00015, 0.00045, 0.0003, 0.0009)  # a rebate, the base tier's maker and taker, HIP-3's (x2)
_FILL = st.tuples(st.sampled_from([1, -1]), st.integers(90_000, 110_000), st.integers(1, 3000), st.sampled_from(RATES))


def _account(start_lots: int, entry_px: int) -> Account:
    """An account with 1M USDC and, when ``start_lots``, the position an earlier run left."""
    acct = Account("0x" + "a1" * 20, 1e6)
    if start_lots:
        acct.apply_fill("BTC", start_lots > 0, float(entry_px), abs(start_lots) * LOT, 0.0)
    return acct


def _delivery(fills: list[tuple], m: int, keys: list[int]) -> list[tuple]:
    """The fills (id first) in the order the ledger gets them, each at its place ``keys`` (one a fill): the
    session's fills the snapshot holds (id ≤ ``m``) in any order and at any place (a push late on the wire, a
    recovery after a reconnect), the later ones in their order, as the gateway gives them."""
    placed, floor = [], 0
    for f, key in zip(fills, keys):
        if f[0] > m:
            key = floor = max(floor, key)
        placed.append((key, f))
    return [f for _, f in sorted(placed, key=lambda kf: kf[0])]


@example(start_lots=0, entry_px=95_000, fills=[(1, 90_001, 1, -0.0001)], first_mid=90_000, m=1, k=0,
         keys=[0] * 25, last_mid=90_000, funding=[])  # the session's one fill, in the snapshot, pushed after it
@given(start_lots=st.integers(-2000, 2000), entry_px=st.integers(95_000, 105_000), fills=st.lists(_FILL, max_size=25),
       first_mid=st.integers(90_000, 110_000), m=st.integers(0, 25), k=st.integers(0, 25),
       keys=st.lists(st.integers(0, 30), min_size=25, max_size=25), last_mid=st.integers(90_000, 110_000),
       funding=st.lists(st.floats(-5.0, 5.0), max_size=4))
@settings(max_examples=1500, deadline=None)
def test_the_ledger_agrees_with_the_twins_account(start_lots, entry_px, fills, first_mid, m, k, keys, last_mid,
                                                  funding):
    acct = _account(start_lots, entry_px)
    start_value = acct.account_value({"BTC": float(first_mid)})
    m = min(m, len(fills))
    snapshot = (start_lots * LOT, float(entry_px) if start_lots else 0.0, 0)
    made = []  # (id, side, px, sz, fee, closed PnL), as the venue made and reported them
    for tid, (side, px, lots, rate) in enumerate(fills, start=1):
        fee = px * lots * LOT * rate
        res = acct.apply_fill("BTC", side > 0, float(px), lots * LOT, fee)
        made.append((tid, side, float(px), lots * LOT, fee, res.closed_pnl))
        if tid == m:
            pos = acct.positions["BTC"]
            snapshot = (pos.szi, pos.entry_px, m)
    held = "BTC" in acct.positions  # (paid into the cash whatever the size then: both books move alike)
    for usdc in funding:
        if held:
            acct.apply_funding("BTC", usdc)
    led = Ledger(anchored=False)
    led.on_mid(0.0, float(first_mid))
    delivered = _delivery(made, m, keys)
    for n, (tid, side, px, sz, fee, closed) in enumerate(delivered):
        if n == k:
            led.anchor(*snapshot)
        led.on_fill(1.0, side, px, sz, fee, True, tid=tid, closed_pnl=closed)
    if not led.anchored:
        led.anchor(*snapshot)
    for usdc in funding:
        if held:
            led.on_funding(usdc)
    pos = acct.positions.get("BTC")
    assert abs(led.position - (pos.szi if pos else 0.0)) < 1e-9
    assert not led.position or math.isclose(led.entry_px, pos.entry_px, rel_tol=1e-9)
    assert math.isclose(led.start_position, start_lots * LOT, abs_tol=1e-9)
    assert math.isclose(led.fees, sum(f[4] for f in made), rel_tol=1e-9, abs_tol=1e-9)
    change = acct.account_value({"BTC": float(last_mid)}) - start_value
    net = led.net(float(last_mid))
    assert math.isclose(net, change, rel_tol=1e-9, abs_tol=1e-6), (net, change)


@pytest.mark.parametrize("coin, seed, payments", [("BTC", 5, 0), ("hyna:LIT", 3, 1)])
def test_a_twin_sessions_books_are_the_twins_account(coin, seed, payments):
    """An hour's session (FULL) with the socket lost about once a minute (fills and funding recovered after each
    reconnect), on BTC and on the HIP-3 dex's LIT (its own collateral, fees at twice the rates): each of the venue's
    fills reaches the ledger once, and the fees, the realised PnL, the position and its entry price, the funding
    and the net PnL at the mid are the twin account's. (Funding on BTC, a position held across the hours:
    test_funding_ledger.)"""
    market = SyntheticMarketParams.thin_hip3() if coin == "hyna:LIT" else SyntheticMarketParams(
        funding_premium_per_8h=0.0013)
    cfg = AgentConfig.model_validate({"session": {"coin": coin},
                                      "risk": {"max_position": 0.05 if coin == "BTC" else 500},
                                      "graduation": {"start_level": "FULL", "ceiling": "FULL"}})
    params = TwinParams(markets={coin: market}, connection=ConnectionParams(hazard_per_hour=60.0))
    ex, gw, core, driver = build_session(cfg, seed, params)
    acct = ex.accounts[USER]
    start_value = acct.account_value(ex.marks)
    driver.start()
    ex.env.run(until=3700.0)
    made = ex.fills[USER]
    while core.ledger.fills != len(made) and ex.env.now < 3720.0:  # the last fills' pushes still on the wire
        ex.env.run(until=ex.env.now + 0.05)
    led, pos = core.ledger, acct.positions[coin]
    assert led.fills == len(made) > 40 and gw.fills.counters["fills_recovered"] > 0
    assert len(ex.fundings[USER]) >= payments and led.funding == pytest.approx(-pos.funding_all_time, abs=1e-9)
    assert led.fees == pytest.approx(pos.fees, rel=1e-9) and led.realized == pytest.approx(pos.realized_pnl, abs=1e-6)
    assert led.position == pytest.approx(pos.szi, abs=1e-9) and led.entry_px == pytest.approx(pos.entry_px, rel=1e-9)
    assert led.net(core.mid) == pytest.approx(acct.account_value({coin: core.mid}) - start_value, abs=1e-6)
