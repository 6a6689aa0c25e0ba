"""Margin tiers in the agent: its liquidation price (AgentCore._liq_from_snapshot, _liq_follow) on a coin of several
tiers, by hand and against the twin's (twin/accounts.py liquidation_px); the tables read from meta
(parse.asset_info) as the twin serves them, and a malformed table a malformed meta; the twin gateway telling them.

The table of the hand figures: 10x from 0 and 5x from 100,000 USDC of notional (rates 5% and 10%, deductions 0 and
100,000 x 5% = 5,000: tests/twin/test_margin_tiers.py works the maintenance margin out). Each price solves
equity(L) = maintenance(|s| L), for X at 1,000:
  tier 0, long 50 on 10,000: 10,000 + 50 (L - 1,000) = 2.5 L -> L = 40,000 / 47.5 (notional 42,105: tier 0)
  tier 1, long 200 on 30,000: 30,000 + 200 (L - 1,000) = 20 L - 5,000 -> L = 165,000 / 180 (notional 183,333); the
    one-tier rule (5% of any notional) would put it at 170,000 / 190 = 894.74
  the bound, long 125 on 30,000: 30,000 + 125 (L - 1,000) = 12.5 L - 5,000 -> L = 90,000 / 112.5 = 800: notional
    100,000, the bound, which the lower tier's rate gives too (95,000 / 118.75)
  tier 1, short 200 on 30,000: 30,000 - 200 (L - 1,000) = 20 L - 5,000 -> L = 235,000 / 220 (notional 213,636)
  tier 1, isolated long 200 at 5x (its margin 40,000): 40,000 + 200 (L - 1,000) = 20 L - 5,000 -> L = 155,000 / 180
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.config import AgentConfig
from agent.core import AgentCore
from agent.gateway.events import AccountSnapshot, BookUpdated, FillReceived, RequestAccountSnapshot, Side
from agent.gateway.hyperliquid.parse import MalformedMessage, asset_info
from agent.gateway.twin import TwinGateway
from common.margin_tiers import MarginTable
from twin.accounts import Account
from twin.exchange import Exchange
from twin.instruments import InstrumentSpec
from twin.messages import OrderAction, OrderSpec, StatusError, UpdateLeverageAction
from twin.params import TwinParams
from twin.server.app import BackgroundServer, TwinServer, build_exchange

USER = "0x" + "79" * 20
TIERS = ((0.0, 10), (100_000.0, 5))
HAND = [(10_000.0, 50.0, False, 40_000.0 / 47.5), (30_000.0, 200.0, False, 165_000.0 / 180.0),
        (30_000.0, 125.0, False, 800.0), (30_000.0, -200.0, False, 235_000.0 / 220.0),
        (1e6, 200.0, True, 155_000.0 / 180.0)]
HAND_IDS = ["tier0-long", "tier1-long", "bound-long", "tier1-short", "tier1-isolated"]


def _twin_px(tiers, cash: float, fills: list[tuple[float, float]], isolated: bool, leverage: int) -> float:
    """The twin's liquidation price (0 for its None) of ``fills`` ((signed size, price), no fee) on ``cash``."""
    acct = Account(USER, cash, default_leverage=leverage, max_leverage={"X": tiers[0][1]},
                   only_isolated=frozenset({"X"}) if isolated else frozenset(), sz_decimals={"X": 4},
                   margin_tables={"X": t} if (t := MarginTable.of(tiers)) is not None else {})
    for sz, px in fills:
        acct.apply_fill("X", sz > 0, px, abs(sz), 0.0)
    px = acct.liquidation_px("X", {"X": fills[-1][1]})
    return 0.0 if px is None else px


def _agent_core(tiers, cash: float, isolated: bool, leverage: int, **snapshot) -> AgentCore:
    """A core told by a flat snapshot (the coin's table, the user's setting, ``cash`` of cross collateral)."""
    cfg = AgentConfig.model_validate({"risk": {"max_position": 1e6}})
    core = AgentCore(cfg, np.random.default_rng(0), tick=0.01, sz_decimals=4)
    margin = dict(max_leverage=float(tiers[0][1]), leverage=float(leverage), isolated=isolated,
                  cross_available=cash, margin_tiers=tiers if len(tiers) > 1 else ())
    margin.update(snapshot)
    core.handle(AccountSnapshot(0.05, 0.0, 0.0, cash, 0.0, (), **margin))
    core.handle(BookUpdated(0.1, "X", ((999.0, 1.0),), ((1_001.0, 1.0),)))
    return core


def _fill(core: AgentCore, i: int, sz: float, px: float) -> None:
    side = Side.BUY if sz > 0 else Side.SELL
    core.handle(FillReceived(0.2 + 0.01 * i, f"0x{i:032x}", 1000 + i, px, abs(sz), side, 0.0, True, 10 + i))


def _agent_px(tiers, cash: float, fills: list[tuple[float, float]], isolated: bool, leverage: int) -> float:
    core = _agent_core(tiers, cash, isolated, leverage)
    for i, (sz, px) in enumerate(fills):
        _fill(core, i, sz, px)
    return core._liq_px


@pytest.mark.parametrize("cash, sz, isolated, want", HAND, ids=HAND_IDS)
def test_liquidation_price_by_hand_in_each_tier_and_at_the_bound_twin_and_agent(cash, sz, isolated, want):
    """A position opened from flat at 1,000: the twin's price and the agent's are the hand figure (the one-tier rule,
    BASE's, gives 894.74 for the tier-1 long)."""
    leverage = 5 if isolated else 10
    assert _twin_px(TIERS, cash, [(sz, 1_000.0)], isolated, leverage) == pytest.approx(want, rel=1e-12)
    assert _agent_px(TIERS, cash, [(sz, 1_000.0)], isolated, leverage) == pytest.approx(want, rel=1e-12)


def test_the_agent_moves_a_snapshots_tiered_price_with_a_fill_as_the_twin_does():
    """A snapshot of long 200 at 1,000 on 30,000 (its price 916.67, the venue's), then 25 more bought at 1,000:
    30,000 + 225 (L - 1,000) = 22.5 L - 5,000, L = 190,000 / 202.5 = 938.27 (Z worked back from the snapshot's price
    by the table; by the one-tier rule, 932.1)."""
    want = 190_000.0 / 202.5
    assert _twin_px(TIERS, 30_000.0, [(200.0, 1_000.0), (25.0, 1_000.0)], False, 10) == pytest.approx(want)
    core = _agent_core(TIERS, 30_000.0, False, 10)
    core.handle(AccountSnapshot(0.15, 200.0, 1_000.0, 30_000.0, 20_000.0, (), liquidation_px=165_000.0 / 180.0,
                                max_leverage=10.0, leverage=10.0, cross_available=30_000.0 - 15_000.0,
                                mark_px=1_000.0, margin_tiers=TIERS))
    _fill(core, 0, 25.0, 1_000.0)
    assert core._liq_px == pytest.approx(want, rel=1e-12)


@st.composite
def _cases(draw):
    n = draw(st.integers(1, 4))
    top = draw(st.integers(max(3, n), 50))
    leverages = sorted(draw(st.lists(st.integers(1, top - 1), min_size=n - 1, max_size=n - 1, unique=True)),
                       reverse=True)
    bounds = sorted(draw(st.lists(st.integers(1, 2_000), min_size=n - 1, max_size=n - 1, unique=True)))
    tiers = ((0.0, top),) + tuple((b * 1_000.0, lev) for b, lev in zip(bounds, leverages))
    isolated = draw(st.booleans())
    leverage = draw(st.integers(1, top))
    px = draw(st.floats(10.0, 100_000.0))
    sz = draw(st.floats(0.01, 1e7 / px)) * draw(st.sampled_from([1.0, -1.0]))
    cash = abs(sz) * px * draw(st.floats(0.005, 2.0))
    return tiers, round(sz, 4) or 0.01, px, cash, isolated, leverage


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_cases())
def test_the_agents_liquidation_price_is_the_twins_for_any_table_and_position(case):
    """A position opened from flat on a random table of 1 to 4 tiers (bounds to 2M, leverages falling from up to
    50x), cross or isolated at any leverage, on collateral of 0.5% to 200% of its notional: the agent's price is the
    twin's (0 where the twin has none: a long no positive price liquidates)."""
    tiers, sz, px, cash, isolated, leverage = case
    twin = _twin_px(tiers, cash, [(sz, px)], isolated, leverage)
    agent = _agent_px(tiers, cash, [(sz, px)], isolated, leverage)
    assert agent == pytest.approx(twin, rel=1e-9, abs=1e-9), (twin, agent)


_TIERED = InstrumentSpec(margin_tiers=[{"lower_bound": 0, "max_leverage": 40},
                                       {"lower_bound": 150_000_000, "max_leverage": 20}], margin_table_id=56)
_LIT = InstrumentSpec(name="LIT", dex="hyna", dex_index=4, index=0, sz_decimals=1, max_leverage=10,
                      margin_tiers=[{"lower_bound": 0, "max_leverage": 10}, {"lower_bound": 20_000.5,
                                                                             "max_leverage": 5},
                                    {"lower_bound": 100_000, "max_leverage": 3}], margin_table_id=51,
                      only_isolated=True, tick=0.0001)
_ETH = InstrumentSpec(name="ETH", index=1, max_leverage=25, sz_decimals=4)


def test_the_served_meta_round_trips_through_the_agents_parser():
    """The twin's meta as its /info serves it on loopback, read by the live gateway's parser, gives each coin its
    tiers: BTC's table 56 (40x, 20x from 150M), a HIP-3 coin's three tiers on its dex, and ETH's single tier (()).
    The tables are listed once each, by id, the venue's way: "150000000.0" and "20000.5" as decimal strings."""
    ex = build_exchange(TwinParams(instruments=[_TIERED, _ETH, _LIT], markets={}), seed=1, fund={})
    with BackgroundServer(TwinServer(ex)) as bg:
        def info(body: dict):
            return requests.post(bg.base_url + "/info", json=body, timeout=5.0).json()
        first, hyna, dexs = info({"type": "meta"}), info({"type": "meta", "dex": "hyna"}), info({"type": "perpDexs"})
    assert first["universe"][0]["marginTableId"] == 56 and first["universe"][1]["marginTableId"] == 25
    assert first["marginTables"] == [
        [25, {"description": "", "marginTiers": [{"lowerBound": "0.0", "maxLeverage": 25}]}],
        [56, {"description": "tiered 40x", "marginTiers": [{"lowerBound": "0.0", "maxLeverage": 40},
                                                           {"lowerBound": "150000000.0", "maxLeverage": 20}]}]]
    assert asset_info(first, dexs, "BTC").margin_tiers == ((0.0, 40), (150_000_000.0, 20)) == _TIERED.tier_pairs
    assert asset_info(first, dexs, "ETH").margin_tiers == ()
    lit = asset_info(hyna, dexs, "hyna:LIT")
    assert lit.margin_tiers == ((0.0, 10), (20_000.5, 5), (100_000.0, 3)) == _LIT.tier_pairs
    assert lit.asset == 140000


_META = {"universe": [{"name": "BTC", "szDecimals": 5, "maxLeverage": 40, "marginTableId": 56}],
         "marginTables": [[56, {"description": "tiered 40x",
                                "marginTiers": [{"lowerBound": "0.0", "maxLeverage": 40},
                                                {"lowerBound": "150000000.0", "maxLeverage": 20}]}]]}


def _with(path: tuple, value) -> dict:
    meta = json.loads(json.dumps(_META))
    obj = meta
    for key in path[:-1]:
        obj = obj[key]
    if value is _DROP:
        del obj[path[-1]]
    else:
        obj[path[-1]] = value
    return meta


_DROP = object()
_TIERS = ("marginTables", 0, 1, "marginTiers")


@pytest.mark.parametrize("path, value, says", [
    (("marginTables",), {"56": {}}, "marginTables is not a list"),
    (("marginTables", 0), [56], "marginTables[0] is not an [id, table] pair"),
    (("marginTables", 0, 0), True, "marginTables[0]'s id = True"),
    (("marginTables", 0, 0), 2 ** 60, "not an int from 0 to 2**53"),
    (("marginTables", 0, 1), {"description": ""}, "marginTables id 56: missing 'marginTiers'"),
    (_TIERS, [], "marginTables id 56: 0 marginTiers, not from 1 to 64"),
    (_TIERS + (1, "lowerBound"), "x", "marginTables id 56: marginTiers[1].lowerBound = x"),
    (_TIERS + (1, "lowerBound"), "0.0", "marginTiers[1].lowerBound = 0.0: the first must be 0, each next above"),
    (_TIERS + (0, "lowerBound"), "5.0", "marginTiers[0].lowerBound = 5.0: the first must be 0"),
    (_TIERS + (1, "lowerBound"), "1e300", "marginTiers[1].lowerBound"),
    (_TIERS + (1, "maxLeverage"), 0, "marginTables id 56: marginTiers[1].maxLeverage = 0: not from 1 to 999999"),
    (_TIERS + (1, "maxLeverage"), "20", "maxLeverage = '20'"),
    (("universe", 0, "marginTableId"), 57, "BTC's marginTableId 57 is not in marginTables (which lists [56])"),
    (("universe", 0, "marginTableId"), -1, "marginTableId = -1"),
], ids=["not-a-list", "not-a-pair", "bool-id", "huge-id", "no-tiers-key", "no-tiers", "bound-not-a-number",
        "bound-repeats", "first-bound", "bound-huge", "leverage-0", "leverage-text", "id-not-listed", "id-negative"])
def test_a_malformed_margin_table_is_a_malformed_meta(path, value, says):
    with pytest.raises(MalformedMessage) as e:
        asset_info(_with(path, value), [], "BTC")
    assert says in str(e.value)


def test_a_table_listed_twice_or_an_unlisted_flat_id_or_none():
    meta = _with(("marginTables",), _META["marginTables"] * 2)
    with pytest.raises(MalformedMessage, match="marginTables lists id 56 twice"):
        asset_info(meta, [], "BTC")
    # an id under 50 not listed is the single tier the docs define for it; no id (an older answer), one tier too
    assert asset_info(_with(("universe", 0, "marginTableId"), 40), [], "BTC").margin_tiers == ()
    assert asset_info(_with(("universe", 0, "marginTableId"), _DROP), [], "BTC").margin_tiers == ()
    # no marginTables at all: a tiered id is not listed (malformed), a flat one is its single tier
    with pytest.raises(MalformedMessage, match=r"BTC's marginTableId 56 is not in marginTables \(which lists \[\]\)"):
        asset_info(_with(("marginTables",), _DROP), [], "BTC")
    meta = _with(("universe", 0, "marginTableId"), 40)
    del meta["marginTables"]
    assert asset_info(meta, [], "BTC").margin_tiers == ()


def test_the_twin_gateway_tells_the_tiers_and_the_agent_prices_the_twins_position_as_the_twin_does():
    """The twin gateway's flat snapshot tells the coin's tiers (as the live gateway's meta does); a position of ~1.5M
    of BTC (the 20x tier of a table 40x to 1M) opened since, at 20x: the core fed the gateway's events prices it
    where the twin's clearinghouseState does (the one-tier rule would not: checked)."""
    btc = InstrumentSpec(margin_tiers=[{"lower_bound": 0, "max_leverage": 40},
                                       {"lower_bound": 1_000_000, "max_leverage": 20}], margin_table_id=60)
    ex = Exchange.build(TwinParams(instruments=[btc]), 3)
    ex.fund(USER, 150_000.0)
    gw = TwinGateway(ex, USER, "BTC", quota_poll_s=0.0)
    events: list = []
    gw.start(events.append)
    out: list = []
    ex.submit(USER, UpdateLeverageAction("BTC", 20, True), out.append)
    ex.env.run(until=2.0)
    gw.send(RequestAccountSnapshot())
    ex.env.run(until=3.0)
    (flat,) = [e for e in events if type(e) is AccountSnapshot]
    assert flat.margin_tiers == ((0.0, 40), (1_000_000.0, 20)) and flat.position == 0.0 and flat.leverage == 20.0
    ex.submit(USER, OrderAction((OrderSpec("BTC", True, ex.best_ask["BTC"] * 1.01 // 1, 15.0, tif="Ioc"),)),
              out.append)
    ex.env.run(until=4.0)
    assert not isinstance(out[-1].statuses[0], StatusError)
    cfg = AgentConfig.model_validate({"risk": {"max_position": 100.0}})
    core = AgentCore(cfg, np.random.default_rng(0), tick=1.0, sz_decimals=5)
    for ev in events:
        core.handle(ev)
    venue = ex.clearinghouse_state(USER)["assetPositions"][0]["liquidationPx"]
    assert core.tracker.position == pytest.approx(15.0) and core._liq_px == pytest.approx(venue, rel=1e-9)
    flat_rule = ex.accounts[USER].positions["BTC"]
    flat_rule.tiers = None
    assert abs(ex.accounts[USER].liquidation_px("BTC", ex.marks) - venue) > 1e-4 * venue
