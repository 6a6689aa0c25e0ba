"""Cross margin: the check at placement, margin cancels after an adverse move, and reduce-only rules."""
from twin.exchange import Exchange
from twin.faults.chaos import ChaosSchedule
from twin.messages import ActionOk, OrderAction, OrderSpec, Resting, StatusError
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
    from twin.server.wire import fill_json

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
    assert row["liquidation"] == {"liquidatedUser": USER, "markPx": f.px, "method": "market"}
    own = [f for f in ex.user_fills(USER) if f.liquidation is None]
    assert len(own) == 1 and "liquidation" not in fill_json(own[0], ex.instruments["BTC"])  # the user's own buy
