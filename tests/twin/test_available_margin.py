"""Exchange._available_margin takes a coin's dex test and leverage once per run of its orders (the orders of one
coin come together in a session of one coin): over orders of several users, coins, dexes and leverages in any
order, it must be the sum order by order, in the orders' order, as written out here."""
from __future__ import annotations

from hypothesis import given, strategies as st

from twin.book import ClientOrder
from twin.exchange import Exchange
from twin.params import TwinParams

USERS = ("0x" + "a1" * 20, "0x" + "b2" * 20)
COINS = ("BTC", "hyna:LIT")


def _reference(ex: Exchange, acct, dex: str) -> float:
    value, used, _, _ = acct.cross_margin(ex.marks, dex)
    for o in ex.orders.values():
        if o.user == acct.address and not o.reduce_only and ex._dex_of_coin[o.coin] == dex:
            pos = acct.positions.get(o.coin)
            lev = pos.leverage if pos is not None else acct.position(o.coin).leverage
            used += o.px * o.sz / lev
    return value - used


@given(st.lists(st.tuples(st.sampled_from(USERS), st.sampled_from(COINS), st.booleans(), st.floats(1.0, 1e5),
                          st.floats(0.001, 3.0)), max_size=12),
       st.dictionaries(st.sampled_from(COINS), st.integers(1, 10), max_size=2), st.sampled_from(["", "hyna"]))
def test_available_margin_is_the_sum_order_by_order(orders, leverages, dex):
    ex = Exchange.build(TwinParams(), 0)
    ex.env.run(until=1.0)  # (marks)
    accounts = [ex.fund(u, 10_000.0) for u in USERS] + [ex.fund(USERS[0], 5_000.0, "hyna")]
    acct = accounts[0]
    for coin, lev in leverages.items():
        acct.position(coin).leverage = lev
    for k, (user, coin, reduce_only, px, sz) in enumerate(orders):
        ex.orders[k] = ClientOrder(k, None, user, coin, True, px, sz, sz, reduce_only, "Gtc", 0.0, 0)
    fresh = Exchange.build(TwinParams(), 0)  # (the reference on an account alike: position() may make one)
    fresh.env.run(until=1.0)
    ref_acct = [fresh.fund(u, 10_000.0) for u in USERS] + [fresh.fund(USERS[0], 5_000.0, "hyna")]
    for coin, lev in leverages.items():
        ref_acct[0].position(coin).leverage = lev
    fresh.orders = dict(ex.orders)
    assert ex._available_margin(acct, dex) == _reference(fresh, ref_acct[0], dex)
    assert set(acct.positions) == set(ref_acct[0].positions)
