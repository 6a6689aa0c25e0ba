"""Self-trade prevention: the venue's matching sees the user's own resting orders (docs trading/self-trade-prevention,
"expire maker"): a taker that reaches one cancels it; a post-only order through one is refused."""
from twin.exchange import Exchange
from twin.market import SyntheticMarketParams
from twin.messages import ActionOk, Filled, OrderAction, OrderSpec, Resting, StatusError
from twin.params import TwinParams

USER = "0x" + "e1" * 20


def _wide_calm_venue():
    """BTC with a ten-tick spread that does not move: room to rest an order inside it."""
    calm = SyntheticMarketParams(vol_calm_per_sqrt_s=0.0, vol_stressed_per_sqrt_s=0.0, jump_rate_calm_per_s=0.0,
                                 jump_rate_stressed_per_s=0.0, alpha_std_per_s=0.0, trade_rate_calm_per_s=0.0,
                                 trade_rate_stressed_per_s=0.0, calm_to_stressed_per_s=0.0, depth_at_touch=50.0,
                                 half_spread_ticks_calm=5.0)
    ex = Exchange.build(TwinParams(markets={"BTC": calm}), 0)
    ex.fund(USER, 100_000.0)
    ex.env.run(until=5.0)
    assert ex.best_ask["BTC"] - ex.best_bid["BTC"] >= 8.0
    return ex


def _place(ex, spec):
    out = []
    ex.submit(USER, OrderAction((spec,)), out.append)
    ex.env.run(until=ex.env.now + 1.0)
    assert isinstance(out[0], ActionOk)
    return out[0].statuses[0]


def _status(ex, oid):
    return ex.order_status_of(USER, oid)["orderStatus"]


def test_post_only_through_the_users_own_resting_order_is_refused_naming_the_whole_books_bbo():
    ex = _wide_calm_venue()
    bb, ba = ex.best_bid["BTC"], ex.best_ask["BTC"]
    own = _place(ex, OrderSpec("BTC", False, ba - 3.0, 0.001))  # an ask inside the spread: the book's best
    assert isinstance(own, Resting)
    st = _place(ex, OrderSpec("BTC", True, ba - 3.0, 0.001))
    assert st == StatusError(f"Post only order would have immediately matched, bbo was {int(bb)}@{int(ba - 3)}. "
                             "asset=0")
    assert _status(ex, own.oid) == "open" and len(ex.open_orders(USER)) == 1


def test_a_taker_reaching_the_users_own_order_cancels_it_and_goes_on():
    ex = _wide_calm_venue()
    ba = ex.best_ask["BTC"]
    own = _place(ex, OrderSpec("BTC", False, ba - 3.0, 0.001))
    st = _place(ex, OrderSpec("BTC", True, ba - 2.0, 0.001, tif="Gtc"))  # reaches the own ask, not the market
    assert isinstance(st, Resting) and _status(ex, own.oid) == "selfTradeCanceled"
    assert [o.oid for o in ex.open_orders(USER)] == [st.oid]

    ex = _wide_calm_venue()
    own = _place(ex, OrderSpec("BTC", False, ba - 3.0, 0.001))
    st = _place(ex, OrderSpec("BTC", True, ba + 5.0, 0.001, tif="Ioc"))  # through it, then fills from the market
    assert isinstance(st, Filled) and st.avg_px == ba and _status(ex, own.oid) == "selfTradeCanceled"

    # a taker filled before it gets there leaves it be: the own ask sits behind the market's at the touch
    own = _place(ex, OrderSpec("BTC", False, ba + 2.0, 0.001))
    st = _place(ex, OrderSpec("BTC", True, ba + 5.0, 0.001, tif="Ioc"))
    assert isinstance(st, Filled) and _status(ex, own.oid) == "open"
