"""Isolated margin on a strictly-isolated HIP-3 coin (hyna:LIT, 10x): the position holds its own margin, is liquidated
on its own equity alone, and shows as isolated in clearinghouseState (docs trading/margining, trading/liquidations).

The LIT market here is calm (bid 1.0, ask 1.0001, $5,000 a level): every figure below is worked by hand."""
import pytest

from twin.exchange import Exchange
from twin.faults.chaos import ChaosSchedule, PriceJump
from twin.instruments import InstrumentSpec, default_instruments
from twin.market import SyntheticMarketParams
from twin.messages import ActionErr, ActionOk, Filled, OrderAction, OrderSpec, UpdateLeverageAction
from twin.params import TwinParams
from twin.server.wire import clearinghouse_json

USER = "0x" + "5a" * 20
LIT = "hyna:LIT"
TAKER = 0.0009  # hyna:LIT's taker fee


def _calm(**kw) -> SyntheticMarketParams:
    return SyntheticMarketParams(vol_calm_per_sqrt_s=0.0, vol_stressed_per_sqrt_s=0.0, jump_rate_calm_per_s=0.0,
                                 jump_rate_stressed_per_s=0.0, alpha_std_per_s=0.0, trade_rate_calm_per_s=0.0,
                                 trade_rate_stressed_per_s=0.0, calm_to_stressed_per_s=0.0, depth_noise_log_std=0.0,
                                 **kw)


def _venue(schedule=None) -> Exchange:
    params = TwinParams(markets={"BTC": _calm(depth_at_touch=50.0),
                                 LIT: _calm(initial_mid=1.0, depth_at_touch=5000.0)})
    ex = Exchange.build(params, 0, schedule)
    ex.fund(USER, 100_000.0)
    ex.fund(USER, 10_000.0, "hyna")
    ex.env.run(until=5.0)
    assert (ex.best_bid[LIT], ex.best_ask[LIT]) == (1.0, 1.0001)
    return ex


def _do(ex: Exchange, action):
    out = []
    ex.submit(USER, action, out.append)
    ex.env.run(until=ex.env.now + 1.0)
    return out[0]


def _take(ex: Exchange, coin: str, is_buy: bool, sz: float) -> Filled:
    px = round(ex.best_ask[coin] * 1.01, 4) if is_buy else round(ex.best_bid[coin] * 0.99, 4)
    if coin != LIT:
        px = ex.best_ask[coin] + 100 if is_buy else ex.best_bid[coin] - 100
    filled = _do(ex, OrderAction((OrderSpec(coin, is_buy, px, sz, tif="Ioc"),))).statuses[0]
    assert isinstance(filled, Filled) and filled.total_sz == sz, filled
    return filled


def test_a_20pct_fall_liquidates_the_10x_isolated_position_alone():
    """The audit's case: $10,000 on hyna, 2000 LIT at 10x (~$200 of isolated margin), a 20% fall (-$400). Cross
    within the dex it survived ($9,600 left); isolated, its own equity is -$200, below its maintenance, so it is
    liquidated, and it takes only its $200.02 of margin: the dex's cross balance and a BTC position on the first dex
    are untouched."""
    ex = _venue(ChaosSchedule(events=[PriceJump(at_s=20.0, fraction=-0.2)]))
    _take(ex, "BTC", True, 0.01)
    _take(ex, LIT, True, 2000.0)
    acct = ex.accounts[USER]
    first_cash = acct.cash_by_dex[""]
    lit = acct.position(LIT)
    assert lit.isolated and lit.leverage == 10 and lit.margin_usd == pytest.approx(200.02)
    ex.env.run(until=30.0)
    assert ex.best_bid[LIT] == pytest.approx(0.8)
    assert ex.counters["liquidations"] == 1 and lit.szi == 0.0 and lit.margin_usd == 0.0
    liq = [f for f in ex.user_fills(USER) if f.liquidation is not None]
    assert len(liq) == 1 and liq[0].coin == LIT
    # past its margin: the backstop takes it at the bankruptcy price, 1.0001 - 200.02 / 2000, with no fee
    assert liq[0].px == pytest.approx(0.90009) and liq[0].closed_pnl == pytest.approx(-200.02) and liq[0].fee == 0.0
    assert liq[0].liquidation[2] == "backstop"
    open_fee = 2000 * 1.0001 * TAKER
    assert acct.account_value(ex.marks, "hyna") == pytest.approx(10_000.0 - 200.02 - open_fee)
    assert acct.position("BTC").szi == 0.01 and acct.cash_by_dex[""] == first_cash


def test_a_cross_liquidation_leaves_an_isolated_position_on_the_same_dex_standing():
    """On the first dex, BTC cross at 20x (0.3 BTC, ~$30,000) and ETH isolated at 5x (1 ETH, $600 of margin) on
    $2,500: an 8% fall takes the cross account (~$2,500 - $600 - $2,400) below BTC's maintenance (~$345) and
    liquidates BTC; ETH's own equity ($600 - $240) is far above its own (~$55) and it stands, its margin whole."""
    eth = InstrumentSpec(name="ETH", index=1, sz_decimals=4, max_leverage=25, tick=0.1)
    params = TwinParams(instruments=default_instruments() + [eth],
                        markets={"BTC": _calm(depth_at_touch=50.0),
                                 "ETH": _calm(initial_mid=3000.0, depth_at_touch=50.0)})
    ex = Exchange.build(params, 0, ChaosSchedule(events=[PriceJump(at_s=20.0, fraction=-0.08)]))
    ex.fund(USER, 2_500.0)
    ex.env.run(until=5.0)
    assert _do(ex, UpdateLeverageAction("BTC", 20, True)) == ActionOk("default")
    assert _do(ex, UpdateLeverageAction("ETH", 5, False)) == ActionOk("default")
    _take(ex, "BTC", True, 0.3)
    filled = _take(ex, "ETH", True, 1.0)
    acct = ex.accounts[USER]
    assert acct.position("ETH").margin_usd == pytest.approx(filled.avg_px / 5)
    ex.env.run(until=30.0)
    assert ex.counters["liquidations"] == 1 and acct.position("BTC").szi == 0.0
    assert acct.position("ETH").szi == 1.0 and acct.position("ETH").margin_usd == pytest.approx(filled.avg_px / 5)


def test_isolated_margin_moves_in_and_out_with_fills():
    """Opening or adding moves notional / leverage (at the fill price) out of the dex's cross balance into the
    position; closing part releases that share of it, the realised PnL settling in the cross balance; a flip
    leaves the new side's notional / leverage."""
    ex = _venue()
    acct = ex.accounts[USER]
    lit = acct.position(LIT)
    fees = 0.0

    def cross_value():
        return acct.cross_margin(ex.marks, "hyna")[0]

    _take(ex, LIT, True, 2000.0)  # at 1.0001: 2000.2 of notional, 200.02 in
    fees += 2000.2 * TAKER
    assert lit.margin_usd == pytest.approx(200.02)
    assert cross_value() == pytest.approx(10_000.0 - fees - 200.02)
    _take(ex, LIT, True, 1000.0)  # adding 1000.1 of notional: 100.01 more
    fees += 1000.1 * TAKER
    assert lit.margin_usd == pytest.approx(300.03)
    assert cross_value() == pytest.approx(10_000.0 - fees - 300.03)
    _take(ex, LIT, False, 1500.0)  # half of it sold at 1.0: half the margin back, less the 0.15 lost
    fees += 1500.0 * TAKER
    assert lit.szi == 1500.0 and lit.margin_usd == pytest.approx(150.015)
    assert cross_value() == pytest.approx(10_000.0 - fees - 0.15 - 150.015)
    _take(ex, LIT, False, 2500.0)  # the rest closed (another 0.15 lost), 1000 short opened at 1.0: 100 in
    fees += 2500.0 * TAKER
    assert lit.szi == -1000.0 and lit.margin_usd == pytest.approx(100.0)
    assert cross_value() == pytest.approx(10_000.0 - fees - 0.30 - 100.0)
    # the whole dex is still its cash and its unrealised PnL: the cross balance plus the position's equity
    assert acct.account_value(ex.marks, "hyna") == pytest.approx(cross_value() + acct.isolated_equity(LIT, ex.marks))
    _take(ex, LIT, True, 1000.0)  # closed at 1.0001: all the margin back
    assert lit.szi == 0.0 and lit.margin_usd == 0.0
    assert cross_value() == pytest.approx(acct.account_value(ex.marks, "hyna"))


def test_clearinghouse_state_shows_the_position_isolated_with_its_raw_usd():
    """The venue's leverage object for an isolated position: {"type":"isolated","value":10,"rawUsd":...}, rawUsd its
    USDC (margin less what buying it cost: negative for a long, positive for a short) and marginUsed its equity,
    rawUsd + size × mark; crossMarginSummary is the cross account, marginSummary the whole dex."""
    ex = _venue()
    _take(ex, LIT, True, 2000.0)
    mark = ex.marks[LIT]
    assert mark == pytest.approx(1.00005)
    state = ex.clearinghouse_state(USER, "hyna")
    served = clearinghouse_json(state, ex.marks, ex.now_ms(), ex.instruments)
    pos = served["assetPositions"][0]["position"]
    raw = 200.02 - 2000 * 1.0001  # -1800.18
    assert pos["leverage"] == {"type": "isolated", "value": 10, "rawUsd": "-1800.18"}
    assert float(pos["marginUsed"]) == pytest.approx(raw + 2000 * mark)  # 199.92
    open_fee = 2000.2 * TAKER
    assert float(served["crossMarginSummary"]["accountValue"]) == pytest.approx(10_000.0 - open_fee - 200.02, abs=1e-6)
    assert float(served["marginSummary"]["accountValue"]) == pytest.approx(10_000.0 - open_fee - 0.1, abs=1e-6)
    assert float(served["withdrawable"]) == pytest.approx(10_000.0 - open_fee - 200.02, abs=1e-6)
    # a short's rawUsd is positive: margin plus what selling it brought in
    _take(ex, LIT, False, 3000.0)  # 1000 short at 1.0, 100 of margin
    pos = clearinghouse_json(ex.clearinghouse_state(USER, "hyna"), ex.marks, ex.now_ms(),
                             ex.instruments)["assetPositions"][0]["position"]
    assert pos["leverage"] == {"type": "isolated", "value": 10, "rawUsd": "1100.0"}
    # and a cross position stays as it was shown
    _take(ex, "BTC", True, 0.01)
    btc = clearinghouse_json(ex.clearinghouse_state(USER), ex.marks, ex.now_ms(), ex.instruments)
    assert btc["assetPositions"][0]["position"]["leverage"] == {"type": "cross", "value": 20}


def test_an_isolated_positions_liquidation_px_is_where_its_own_equity_meets_its_maintenance():
    """2000 LIT at 10x: $200.02 of margin at an entry of 1.0001. Its equity, 200.02 + 2000 (p - 1.0001), meets its
    maintenance, 2000 p / 20, at p = (2000.2 - 200.02) / (2000 × 0.95) = 0.94746 (docs trading/liquidations:
    margin_available (isolated) = isolated_margin - maintenance_margin_required), whatever the dex's cross balance
    ($10,000 here). The twin's clearinghouseState gave null; a fall to 0.1% above it leaves the position, to 0.1%
    below it liquidates it."""
    ex = _venue()
    _take(ex, LIT, True, 2000.0)
    mark = ex.marks[LIT]
    liq = ex.clearinghouse_state(USER, "hyna")["assetPositions"][0]["liquidationPx"]
    assert liq == pytest.approx(1800.18 / 1900)
    for above, liquidated in ((1.001, 0), (0.999, 1)):
        ex = _venue(ChaosSchedule(events=[PriceJump(at_s=20.0, fraction=liq * above / mark - 1.0)]))
        _take(ex, LIT, True, 2000.0)
        ex.env.run(until=30.0)
        assert ex.counters["liquidations"] == liquidated, above


def test_update_leverage_refuses_cross_on_an_only_isolated_coin_and_a_mode_switch_with_a_position():
    ex = _venue()
    assert _do(ex, UpdateLeverageAction(LIT, 5, True)) == ActionErr("Cross margin is not allowed for this asset.")
    assert _do(ex, UpdateLeverageAction(LIT, 5, False)) == ActionOk("default")
    assert ex.accounts[USER].position(LIT).leverage == 5
    # BTC takes either mode while flat, and not a switch once a position is open
    assert _do(ex, UpdateLeverageAction("BTC", 10, False)) == ActionOk("default")
    assert ex.accounts[USER].position("BTC").isolated
    _take(ex, "BTC", True, 0.01)
    assert _do(ex, UpdateLeverageAction("BTC", 10, True)) == ActionErr(
        "Cannot switch leverage type with open position.")
    assert ex.accounts[USER].position("BTC").isolated


def test_served_update_leverage_and_clearinghouse_state_through_the_official_sdk():
    """The loopback venue, the SDK as the client: updateLeverage with isCross on hyna:LIT is refused in the venue's
    words, updateIsolatedMargin adds $50 to the LIT long (and may not remove any), and clearinghouseState for dex
    hyna shows it isolated at 10x with its negative rawUsd, 200.02 + 50 - 2000.2."""
    import eth_account
    from hyperliquid.exchange import Exchange as SdkExchange
    from hyperliquid.info import Info

    from twin.faults.connection import ConnectionParams
    from twin.server.app import BackgroundServer, TwinServer, build_exchange

    wallet = eth_account.Account.from_key("0x" + "5a" * 32)
    addr = wallet.address.lower()
    params = TwinParams(markets={"BTC": _calm(depth_at_touch=50.0), LIT: _calm(initial_mid=1.0, depth_at_touch=5000.0)},
                        connection=ConnectionParams(hazard_per_hour=0.0))
    ex = build_exchange(params, seed=0, fund={(addr, "hyna"): 10_000.0})
    with BackgroundServer(TwinServer(ex, speed=5.0)) as bg:
        info = Info(bg.base_url, skip_ws=True, perp_dexs=["", "hyna"])
        sdk = SdkExchange(wallet, bg.base_url, perp_dexs=["", "hyna"])
        assert sdk.update_leverage(10, LIT, True) == {"status": "err",
                                                       "response": "Cross margin is not allowed for this asset."}
        assert sdk.update_leverage(10, LIT, False) == {"status": "ok", "response": {"type": "default"}}
        placed = sdk.order(LIT, True, 2000.0, 1.0101, {"limit": {"tif": "Ioc"}})
        assert placed["response"]["data"]["statuses"][0]["filled"]["avgPx"] == "1.0001", placed
        # margin added through the SDK's own action (ntli in millionths, isBuy true), removal refused on LIT
        assert sdk.update_isolated_margin(50.0, LIT) == {"status": "ok", "response": {"type": "default"}}
        assert sdk.update_isolated_margin(-5.0, LIT) == {
            "status": "err", "response": "Cannot remove margin from a strict isolated position."}
        state = info.user_state(addr, dex="hyna")
    pos = state["assetPositions"][0]["position"]
    assert pos["coin"] == LIT and pos["leverage"] == {"type": "isolated", "value": 10, "rawUsd": "-1750.18"}
    assert float(pos["marginUsed"]) == pytest.approx(249.92, abs=1e-6)
    assert float(pos["liquidationPx"]) == pytest.approx((2000.2 - 250.02) / 1900)  # its margin with the $50 added
    assert float(state["crossMarginSummary"]["accountValue"]) == pytest.approx(10_000.0 - 2000.2 * TAKER - 250.02,
                                                                               abs=1e-6)


def test_a_seeded_isolated_position_holds_its_opening_margin_and_is_not_liquidated_at_once():
    """Scenarios start mid-story with set_position: 144 LIT at 1.0 on 10x holds 14.4 of margin out of the cross
    balance, as if it had traded into it (with none, its equity would be its unrealised PnL alone, under its
    maintenance at once, and the first margin check would liquidate it)."""
    from twin.seeding import set_position
    ex = _venue()
    set_position(ex, USER, LIT, 144.0, 1.0)
    acct = ex.accounts[USER]
    assert acct.position(LIT).margin_usd == pytest.approx(14.4)
    assert acct.cross_margin(ex.marks, "hyna")[0] == pytest.approx(10_000.0 - 14.4)
    ex.env.run(until=ex.env.now + 5.0)
    assert ex.counters["liquidations"] == 0 and acct.position(LIT).szi == 144.0


def test_update_isolated_margin_adds_and_removes_by_the_venues_rules():
    """Adding moves margin out of the cross balance into the position (hand-computed: 200.02 + 50 = 250.02);
    LIT is strictly isolated, so removing is refused; on a BTC position set isolated, margin may come out while
    the equity left covers the initial margin at the mark (and 10% of the notional), not past it."""
    from twin.messages import UpdateIsolatedMarginAction
    ex = _venue()
    acct = ex.accounts[USER]
    assert _do(ex, UpdateIsolatedMarginAction(LIT, 50.0)) == ActionErr("Cannot update margin: no isolated position.")
    _take(ex, LIT, True, 2000.0)
    cross_before = acct.cross_margin(ex.marks, "hyna")[0]
    assert _do(ex, UpdateIsolatedMarginAction(LIT, 50.0)) == ActionOk("default")
    assert acct.position(LIT).margin_usd == pytest.approx(250.02)
    assert acct.cross_margin(ex.marks, "hyna")[0] == pytest.approx(cross_before - 50.0)
    assert _do(ex, UpdateIsolatedMarginAction(LIT, -10.0)) == ActionErr(
        "Cannot remove margin from a strict isolated position.")
    assert _do(ex, UpdateIsolatedMarginAction(LIT, 20_000.0)) == ActionErr("Insufficient margin available to add.")
    assert acct.position(LIT).margin_usd == pytest.approx(250.02)
    # BTC isolated at 5x: 0.1 BTC, notional n at the mark; equity m + upnl must stay >= n / 5
    assert _do(ex, UpdateLeverageAction("BTC", 5, False)) == ActionOk("default")
    _take(ex, "BTC", True, 0.1)
    btc = acct.position("BTC")
    assert _do(ex, UpdateIsolatedMarginAction("BTC", 1000.0)) == ActionOk("default")
    spare = acct.isolated_equity("BTC", ex.marks) - 0.1 * ex.marks["BTC"] / 5
    assert spare == pytest.approx(1000.0 + (ex.marks["BTC"] - btc.entry_px) * 0.1 * (1 - 1 / 5))
    assert _do(ex, UpdateIsolatedMarginAction("BTC", -round(spare + 1.0, 2))) == ActionErr(
        "Insufficient margin to remove.")
    margin = btc.margin_usd
    assert _do(ex, UpdateIsolatedMarginAction("BTC", -round(spare - 1.0, 2))) == ActionOk("default")
    assert btc.margin_usd == pytest.approx(margin - round(spare - 1.0, 2))


def test_active_asset_data_of_an_isolated_long_counts_its_close_on_the_sell_side_and_shows_its_raw_usd():
    """activeAssetData on hyna:LIT with 2000 LIT long, isolated at 10x: the leverage is isolated with the position's
    rawUsd (as clearinghouseState's), the buy side opens what the dex's margin left buys at the mark, and the sell
    side that much more than the position it closes first (closing takes no margin)."""
    from twin.server.wire import active_asset_data_json

    ex = _venue()
    _take(ex, LIT, True, 2000.0)
    pos = ex.accounts[USER].positions[LIT]
    d = ex.active_asset_data(USER, LIT)
    assert d.isolated and d.leverage == 10
    assert d.raw_usd == pytest.approx(pos.margin_usd - 2000.0 * pos.entry_px)
    available = ex._available_margin(ex.accounts[USER], "hyna")
    assert d.available_usd == (available, available) and 9_500.0 < available < 9_900.0
    assert d.max_trade_sz[0] == pytest.approx(available * 10 / d.mark, abs=1.0)
    assert d.max_trade_sz[1] == pytest.approx(d.max_trade_sz[0] + 2000.0, abs=1e-9)
    wire = active_asset_data_json(d, ex.instruments[LIT])
    assert wire["leverage"] == {"type": "isolated", "value": 10, "rawUsd": f"{d.raw_usd:.6f}".rstrip("0")}
    # a query makes no position: BTC, never traded, stays out of the account
    assert ex.active_asset_data(USER, "BTC").max_trade_sz[1] == ex.active_asset_data(USER, "BTC").max_trade_sz[0]
    assert "BTC" not in ex.accounts[USER].positions
