"""Cross margin: the check at placement, margin cancels after an adverse move, and reduce-only rules."""
import pytest

from twin.exchange import Exchange
from twin.faults.chaos import ChaosSchedule
from twin.messages import ActionErr, ActionOk, OrderAction, OrderSpec, Resting, StatusError
from twin.params import TwinParams

USER = "0x" + "77" * 20


def run(actions_at, until, usdc, schedule=None):
    ex = Exchange.build(TwinParams(), 4, schedule, record=True)
    ex.fund(USER, usdc)
    replies = {}

    def client():
        for t, name, make in actions_at:
            yield ex.env.timeout(max(0.0, t - ex.env.now))
            ex.submit(USER, OrderAction((make(ex),)), lambda r, name=name: replies.__setitem__(name, r))
    ex.env.process(client())
    ex.env.run(until=until)
    return ex, replies


def test_margin_check_at_placement():
    # 200 USDC at 20x carries 4000 USDC of notional: 0.03 BTC (~3000) fits, 0.05 (~5000) does not
    ex, r = run([(1.0, "fits", lambda ex: OrderSpec("BTC", True, ex.best_bid["BTC"] - 20, 0.03)),
                 (2.0, "too_big", lambda ex: OrderSpec("BTC", True, ex.best_bid["BTC"] - 20, 0.05))], 5.0, 200.0)
    assert isinstance(r["fits"].statuses[0], Resting)
    assert r["too_big"].statuses[0] == StatusError("Insufficient margin to place order. asset=0")


def test_adverse_move_margin_cancels_resting_orders():
    # long 0.03 BTC from an IOC, plus a resting bid that uses the rest of the margin; then the price drops 5%
    sched = ChaosSchedule(events=[{"kind": "price_jump", "at_s": 10.0, "fraction": -0.05}])
    ex, r = run([(1.0, "buy", lambda ex: OrderSpec("BTC", True, ex.best_ask["BTC"] + 5, 0.03, tif="Ioc")),
                 (2.0, "bid", lambda ex: OrderSpec("BTC", True, ex.best_bid["BTC"] - 8000, 0.005))], 20.0, 250.0,
                sched)
    assert isinstance(r["bid"].statuses[0], Resting)
    statuses = [row[3] for row in ex.log if row[1] == "status"]
    assert "marginCanceled" in statuses and ex.counters["liquidations"] == 0
    assert not ex.open_orders(USER)


def test_reduce_only_shrinks_to_the_position_and_is_cancelled_when_flat():
    ex, r = run([(1.0, "buy", lambda ex: OrderSpec("BTC", True, ex.best_ask["BTC"] + 5, 0.002, tif="Ioc")),
                 (2.0, "ro_sell", lambda ex: OrderSpec("BTC", False, ex.best_ask["BTC"] + 500, 0.01,
                                                       reduce_only=True)),
                 (3.0, "ro_buy", lambda ex: OrderSpec("BTC", True, ex.best_bid["BTC"] - 500, 0.001,
                                                      reduce_only=True)),
                 (4.0, "close", lambda ex: OrderSpec("BTC", False, ex.best_bid["BTC"] - 5, 0.002, tif="Ioc"))],
                10.0, 10_000.0)
    assert isinstance(r["ro_sell"].statuses[0], Resting)
    assert r["ro_buy"].statuses[0] == StatusError("Reduce only order would increase position. asset=0")
    ro = r["ro_sell"].statuses[0].oid
    rows = [row for row in ex.log if row[1] == "status" and row[2] == ro]
    assert rows[-1][3] == "reduceOnlyCanceled"
    assert ex.order_status_of(USER, ro)["order"].sz <= 0.002 + 1e-12  # shrunk to the position it could close
    assert isinstance(r["close"], ActionOk) and ex.accounts[USER].position("BTC").szi == 0.0


def test_liquidation_closes_the_position_when_below_maintenance():
    sched = ChaosSchedule(events=[{"kind": "price_jump", "at_s": 10.0, "fraction": -0.08}])
    ex, r = run([(1.0, "buy", lambda ex: OrderSpec("BTC", True, ex.best_ask["BTC"] + 5, 0.03, tif="Ioc"))],
                20.0, 200.0, sched)
    acct = ex.accounts[USER]
    assert ex.counters["liquidations"] == 1 and acct.position("BTC").szi == 0.0
    assert acct.cash < 200.0 - 0.03 * 100_000 * 0.06  # the loss was realised


def test_a_liquidation_shows_as_a_fill_to_the_liquidated_user():
    """As on the venue: the liquidated user's close is a fill (userFills push and query) carrying a
    ``liquidation`` object, before the user channel's liquidation event."""
    from twin.messages import FillsPush, UserEventPush
    from twin.server.wire import fill_json, px_num

    sched = ChaosSchedule(events=[{"kind": "price_jump", "at_s": 10.0, "fraction": -0.08}])
    ex = Exchange.build(TwinParams(), 4, sched, record=True)
    ex.fund(USER, 200.0)
    pushes = []
    conn = ex.connect(pushes.append)
    conn.subscribe("userFills", USER)
    conn.subscribe("userEvents", USER)

    def client():
        yield ex.env.timeout(1.0)
        ex.submit(USER, OrderAction((OrderSpec("BTC", True, ex.best_ask["BTC"] + 5, 0.03, tif="Ioc"),)), lambda r: None)
    ex.env.process(client())
    ex.env.run(until=20.0)
    assert ex.counters["liquidations"] == 1 and ex.accounts[USER].position("BTC").szi == 0.0
    liq = [f for f in ex.user_fills(USER) if f.liquidation is not None]
    assert len(liq) == 1
    f = liq[0]
    assert f.side == "A" and abs(f.sz - 0.03) < 1e-12 and f.crossed and f.cloid is None
    assert f.start_position == 0.03 and f.liquidation == (USER, f.px, "market")
    fills_pushed = [p for p in pushes if isinstance(p, FillsPush) and any(x.liquidation for x in p.fills)]
    assert len(fills_pushed) == 2  # userFills and the user channel's fills
    events = [p for p in pushes if isinstance(p, UserEventPush)]
    assert events and pushes.index(fills_pushed[0]) < pushes.index(events[0])
    row = fill_json(f, ex.instruments["BTC"])
    assert row["liquidation"] == {"liquidatedUser": USER, "markPx": px_num(f.px), "method": "market"}  # a string
    own = [f for f in ex.user_fills(USER) if f.liquidation is None]
    assert len(own) == 1 and "liquidation" not in fill_json(own[0], ex.instruments["BTC"])  # the user's own buy


def _calm_btc(schedule=None, **params):
    """A BTC market that moves only on the schedule's jumps: the liquidation threshold is then exact. ``params``:
    more TwinParams (test_margin_tiers.py's instruments)."""
    from twin.market import SyntheticMarketParams
    calm = SyntheticMarketParams(vol_calm_per_sqrt_s=0.0, vol_stressed_per_sqrt_s=0.0, jump_rate_calm_per_s=0.0,
                                 jump_rate_stressed_per_s=0.0, alpha_std_per_s=0.0, trade_rate_calm_per_s=0.0,
                                 trade_rate_stressed_per_s=0.0, calm_to_stressed_per_s=0.0, depth_at_touch=50.0)
    ex = Exchange.build(TwinParams(markets={"BTC": calm}, **params), 0, schedule)
    ex.fund(USER, 10_000.0)
    ex.env.run(until=5.0)
    return ex


def _long(ex, leverage, sz, refusal=False):
    """Cross at ``leverage``, then ``sz`` bought at the market; the order's status (a refusal only with
    ``refusal``: test_margin_tiers.py's)."""
    from twin.messages import UpdateLeverageAction
    out = []
    ex.submit(USER, UpdateLeverageAction("BTC", leverage, True), out.append)
    ex.env.run(until=ex.env.now + 1.0)
    ex.submit(USER, OrderAction((OrderSpec("BTC", True, ex.best_ask["BTC"] + 100, sz, tif="Ioc"),)), out.append)
    ex.env.run(until=ex.env.now + 1.0)
    assert out[0] == ActionOk("default") and (refusal or not isinstance(out[1].statuses[0], StatusError))
    return out[1].statuses[0]


def test_maintenance_margin_is_half_the_initial_margin_at_the_coins_max_leverage():
    """Docs trading/margining: maintenance = half the initial margin at the asset's MAX leverage, whatever the
    user set: on 40x BTC, 1.25% of notional at 5x as at 20x (not half of 1/5 or 1/20)."""
    from twin.server.wire import clearinghouse_json
    for leverage in (5, 20):
        ex = _calm_btc()
        _long(ex, leverage, 0.45)
        acct = ex.accounts[USER]
        ntl = 0.45 * ex.marks["BTC"]
        assert abs(acct.maintenance_margin(ex.marks) - ntl / 80.0) < 1e-6
        state = ex.clearinghouse_state(USER)
        served = clearinghouse_json(state, ex.marks, ex.now_ms(), ex.instruments)
        assert abs(float(served["crossMaintenanceMarginUsed"]) - ntl / 80.0) < 0.01
        assert abs(float(served["crossMarginSummary"]["totalMarginUsed"]) - ntl / leverage) < 0.01


def test_liquidation_threshold_does_not_depend_on_the_users_leverage():
    """$10,000 holding 1.5 BTC (~$150,000) at 20x: a 5% fall leaves ~$2,430, above the venue's maintenance
    (~$1,780 = 1/80 of notional), so no liquidation (half of 20x initial margin, ~$3,560, would liquidate).
    At 5x, 0.45 BTC after a 15% fall leaves ~$3,250: above 1/80 (~$480), below half of 5x IM (~$3,820)."""
    from twin.faults.chaos import PriceJump
    for leverage, sz, fall in ((20, 1.5, -0.05), (5, 0.45, -0.15)):
        ex = _calm_btc(ChaosSchedule(events=[PriceJump(at_s=20.0, fraction=fall)]))
        _long(ex, leverage, sz)
        ex.env.run(until=30.0)
        acct = ex.accounts[USER]
        assert ex.counters["liquidations"] == 0 and acct.position("BTC").szi == sz, leverage
        assert acct.account_value(ex.marks) < 0.5 * acct.margin_used(ex.marks)  # the old rule's threshold
    # and past the venue's maintenance it does liquidate: a 6.5% fall takes 20x value below 1/80 of notional
    ex = _calm_btc(ChaosSchedule(events=[PriceJump(at_s=20.0, fraction=-0.065)]))
    _long(ex, 20, 1.5)
    ex.env.run(until=30.0)
    assert ex.counters["liquidations"] == 1 and ex.accounts[USER].position("BTC").szi == 0.0


def test_a_new_position_on_a_10x_coin_starts_at_10x_not_the_default_20x():
    """The default leverage (20) is capped at the coin's maximum: hyna:LIT allows 10x, so $10 on hyna
    margins about $100 of LIT; an order of ~$150 is refused (at 20x it would have fitted)."""
    from twin.market import SyntheticMarketParams
    ex = Exchange.build(TwinParams(markets={"hyna:LIT": SyntheticMarketParams.thin_hip3()}), 3)
    ex.fund(USER, 10.0, "hyna")
    ex.env.run(until=5.0)
    out = []
    bid = round(ex.best_bid["hyna:LIT"] * 0.9, 4)
    ex.submit(USER, OrderAction((OrderSpec("hyna:LIT", True, bid, round(150.0 / bid, 1)),
                                 OrderSpec("hyna:LIT", True, bid, round(80.0 / bid, 1)))), out.append)
    ex.env.run(until=7.0)
    too_big, fits = out[0].statuses
    assert too_big == StatusError("Insufficient margin to place order. asset=140000")
    assert isinstance(fits, Resting)
    assert ex.accounts[USER].position("hyna:LIT").leverage == 10


def _short(ex, sz):
    out = []
    ex.submit(USER, OrderAction((OrderSpec("BTC", False, ex.best_bid["BTC"] - 100, sz, tif="Ioc"),)), out.append)
    ex.env.run(until=ex.env.now + 1.0)
    assert not isinstance(out[0].statuses[0], StatusError)


def test_clearinghouse_state_gives_the_mark_at_which_the_margin_checks_liquidate_the_position():
    """The venue's clearinghouseState gives an open position's liquidationPx (docs trading/liquidations: liq_price =
    price - side * margin_available / position_size / (1 - l * side)); the twin sent null. It is the mark where the
    twin's own margin check liquidates: 0.1% above it (a long) the position stands, 0.1% below it is closed."""
    from twin.faults.chaos import PriceJump
    from twin.server.wire import clearinghouse_json, px_num
    ex = _calm_btc()
    _long(ex, 20, 1.5)  # $10,000 holding ~$150,000 of BTC
    mark, acct = ex.marks["BTC"], ex.accounts[USER]
    value, _, maintenance, _ = acct.cross_margin(ex.marks, "")
    liq = ex.clearinghouse_state(USER)["assetPositions"][0]["liquidationPx"]
    assert liq == pytest.approx(mark - (value - maintenance) / 1.5 / (1 - 1 / 80))  # 40x BTC: l = 1/80
    assert 0.935 * mark < liq < 0.95 * mark  # 5.4% down: between the 5% fall that leaves it and the 6.5% that does not
    served = clearinghouse_json(ex.clearinghouse_state(USER), ex.marks, ex.now_ms(), ex.instruments)
    assert served["assetPositions"][0]["position"]["liquidationPx"] == px_num(liq)  # a string, as the venue's
    for above, liquidated in ((1.001, 0), (0.999, 1)):
        ex = _calm_btc(ChaosSchedule(events=[PriceJump(at_s=20.0, fraction=liq * above / mark - 1.0)]))
        _long(ex, 20, 1.5)
        ex.env.run(until=30.0)
        assert ex.counters["liquidations"] == liquidated, above
    # a short's is above the mark; a long the cash covers at any price has none (null, as the venue's)
    ex = _calm_btc()
    _short(ex, 1.5)
    assert ex.clearinghouse_state(USER)["assetPositions"][0]["liquidationPx"] > 1.05 * ex.marks["BTC"]  # 5.3% up
    ex = _calm_btc()
    _long(ex, 20, 0.01)
    served = clearinghouse_json(ex.clearinghouse_state(USER), ex.marks, ex.now_ms(), ex.instruments)
    assert served["assetPositions"][0]["position"]["liquidationPx"] is None


class _TwoEvents:
    """A market of two events: a book (bid 50000, ask 50001), then at 2 s a print of 5 BTC bought at 50010."""

    def __init__(self) -> None:
        self.done = False

    def next_chunk(self):
        import numpy as np
        from twin.market.base import BOOK, TRADE, MarketChunk
        if self.done:
            return None
        self.done = True
        row = np.arange(5.0)
        return MarketChunk(t=np.array([0.5, 2.0]), kind=np.array([BOOK, TRADE], np.int8), idx=np.array([0, 0], np.int32),
                           bid_px=(50_000.0 - row)[None], bid_sz=np.ones((1, 5)), ask_px=(50_001.0 + row)[None],
                           ask_sz=np.ones((1, 5)), trade_px=np.array([50_010.0]), trade_sz=np.array([5.0]),
                           trade_side=np.array([1], np.int8), trade_informed=np.zeros(1, bool), mid=np.zeros(2),
                           regime=np.zeros(2, np.int8), t_start=0.0, t_end=1e9)


def test_resting_reduce_only_orders_swept_by_one_print_never_flip_the_position():
    """Long 0.01 with two reduce-only asks of 0.01 at 50010; one print of 5 sweeps their level: the first fills,
    and that cancels the second (reduceOnlyCanceled). The twin filled both, at the sizes it had worked out
    before either fill, and flipped the position short (a review)."""
    import simpy
    from twin.exchange import Exchange
    env = simpy.Environment()
    ex = Exchange(env, TwinParams(markets={}), 0, markets={"BTC": _TwoEvents()})
    acct = ex.fund(USER, 1_000_000.0)
    env.run(until=1.0)
    ex._place(acct, OrderSpec("BTC", True, 50_001.0, 0.01, tif="Ioc"))
    a, b = (ex._place(acct, OrderSpec("BTC", False, 50_010.0, 0.01, reduce_only=True, tif="Alo")) for _ in "ab")
    assert isinstance(a, Resting) and isinstance(b, Resting) and acct.position("BTC").szi == 0.01
    env.run(until=3.0)
    assert acct.position("BTC").szi == 0.0 and len(ex.fills[USER]) == 2
    assert [ex.order_status_of(USER, o.oid)["orderStatus"] for o in (a, b)] == ["filled",
                                                                              "reduceOnlyCanceled"]


def test_resting_reduce_only_orders_the_book_moves_through_at_once_never_flip_the_position():
    """Long 0.002 with two reduce-only asks of 0.002 each: the book moving through both at once fills the
    first, and that cancels the second (reduceOnlyCanceled). The twin filled both from the list it had made
    before either, and flipped the position short: a fill the venue never makes, in every paper result after it
    (a review)."""
    sched = ChaosSchedule(events=[{"kind": "price_jump", "at_s": 10.0, "fraction": 0.01}])

    def ask(ex):
        return ex.best_ask["BTC"] + 50
    ex, r = run([(1.0, "buy", lambda ex: OrderSpec("BTC", True, ex.best_ask["BTC"] + 5, 0.002, tif="Ioc")),
                 (2.0, "ro1", lambda ex: OrderSpec("BTC", False, ask(ex), 0.002, reduce_only=True)),
                 (2.0, "ro2", lambda ex: OrderSpec("BTC", False, ask(ex), 0.002, reduce_only=True))],
                600.0, 10_000.0, sched)
    assert isinstance(r["ro1"].statuses[0], Resting) and isinstance(r["ro2"].statuses[0], Resting)
    fills = ex.fills[USER]
    assert len(fills) == 2 and ex.accounts[USER].position("BTC").szi == 0.0  # the buy, and one close
    assert {row[3] for row in ex.log if row[1] == "status" and row[2] in (r["ro1"].statuses[0].oid,
                                                                            r["ro2"].statuses[0].oid)} \
        >= {"filled", "reduceOnlyCanceled"}


def test_orders_far_from_the_mark_are_refused_and_a_sell_under_it_is_margined_at_the_market():
    """An IOC sell priced at 1% of the mark passed the margin check at its own price and filled at the market: a
    position fifty times what the account could carry. The venue refuses prices more than 80% from its reference
    price, and a sell under the market fills at the market. The band is a pre-validation error (docs
    error-responses, hyperliquid.md §2.3): the whole action is refused, its other orders with it, with the text
    seen live; it was one order's status with the Oracle reason's table text, a different check's."""
    ex = Exchange.build(TwinParams(), 0)
    acct = ex.fund(USER, 1_000.0)
    ex.env.run(until=1.0)
    mark = ex.marks["BTC"]
    band = ActionErr("Order price cannot be more than 80% away from the reference price")
    inside = OrderSpec("BTC", True, round(mark * 0.99), 0.001, tif="Alo")
    for far in (OrderSpec("BTC", False, round(mark * 0.01), 0.5, tif="Ioc"),
                OrderSpec("BTC", True, round(mark * 10), 0.001, tif="Ioc"),
                OrderSpec("BTC", True, 1.0, 0.01)):  # a resting bid at 1 too
        assert ex._process(acct, OrderAction((inside, far))) == band
        assert ex._process(acct, OrderAction((far,))) == band
    assert ex.open_orders(USER) == ()  # the order inside the band was refused with the batch
    # inside the band: a sell at half the mark is margined at the market (0.5 BTC, $50k: $2.5k at 20x)
    assert ex._place(acct, OrderSpec("BTC", False, round(mark * 0.5), 0.5, tif="Ioc")) == \
        StatusError("Insufficient margin to place order. asset=0")
    assert acct.position("BTC").szi == 0.0
