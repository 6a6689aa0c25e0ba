"""Exchange._available_margin takes a coin's dex test and leverage once per run of its orders (the orders of one
coin come together in a session of one coin): over orders of several users, coins (two on one dex), dexes and
leverages, rested, filled in part or whole, cancelled, with leverages changed between, it must be the very float
of the loop over every resting order, order by order in the orders' order, done afresh (as written out here), and
make the same positions in the same order."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from twin.book import ClientOrder
from twin.exchange import Exchange
from twin.instruments import InstrumentSpec, default_instruments
from twin.messages import UpdateLeverageAction
from twin.params import TwinParams

USERS = ("0x" + "a1" * 20, "0x" + "b2" * 20)
COINS = ("BTC", "ETH", "hyna:LIT")  # (two coins on the first dex: the positions the walk makes, in its order)
DEXES = ("", "hyna")


def _reference(ex: Exchange, acct, dex: str) -> float:
    """The loop over every resting order (each coin's leverage taken as its position's now, made if none)."""
    value, used, _, _ = acct.cross_margin(ex.marks, dex)
    for o in ex.orders.values():
        if o.user == acct.address and not o.reduce_only and ex._dex_of_coin[o.coin] == dex:
            pos = acct.positions.get(o.coin)
            lev = pos.leverage if pos is not None else acct.position(o.coin).leverage
            used += o.px * o.sz / lev
    return value - used


def _venue() -> Exchange:
    params = TwinParams(instruments=default_instruments() + [InstrumentSpec(name="ETH", index=1, sz_decimals=4,
                                                                            max_leverage=25)])
    ex = Exchange.build(params, 0)
    ex.env.run(until=1.0)  # (marks)
    for u in USERS:
        ex.fund(u, 10_000.0)
        ex.fund(u, 5_000.0, "hyna")
    return ex


def _rest(ex: Exchange, o: ClientOrder) -> None:
    """``o`` rests as _place and twin.seeding rest an order (without the position _place makes)."""
    ex.books[o.coin].add(o)
    ex.orders[o.oid] = o


@given(st.lists(st.tuples(st.sampled_from(USERS), st.sampled_from(COINS), st.booleans(), st.floats(1.0, 1e5),
                          st.floats(0.001, 3.0)), max_size=12),
       st.dictionaries(st.sampled_from(COINS), st.integers(1, 10), max_size=2), st.sampled_from(DEXES))
def test_available_margin_is_the_sum_order_by_order(orders, leverages, dex):
    """Orders resting on coins with and without a position: the same float, and the same positions made."""
    ex, fresh = _venue(), _venue()  # (the reference on an account alike: position() may make one)
    for venue in (ex, fresh):
        for coin, lev in leverages.items():
            venue.accounts[USERS[0]].position(coin).leverage = lev
        for k, (user, coin, reduce_only, px, sz) in enumerate(orders):
            _rest(venue, ClientOrder(k, None, user, coin, True, px, sz, sz, reduce_only, "Gtc", 0.0, 0))
    acct, ref_acct = ex.accounts[USERS[0]], fresh.accounts[USERS[0]]
    assert ex._available_margin(acct, dex) == _reference(fresh, ref_acct, dex)
    assert list(acct.positions) == list(ref_acct.positions)


_OPS = st.one_of(
    st.tuples(st.just("rest"), st.sampled_from(USERS), st.sampled_from(COINS), st.booleans(), st.booleans(),
              st.integers(1, 200_000), st.integers(1, 3000)),
    st.tuples(st.just("fill"), st.integers(0, 50), st.sampled_from([0.25, 0.5, 1.0])),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("leverage"), st.sampled_from(USERS), st.sampled_from(COINS), st.integers(1, 40),
              st.booleans()),
    st.tuples(st.just("ask"), st.sampled_from(USERS), st.sampled_from(DEXES)),
)


def _apply(ex: Exchange, op: tuple) -> None:
    kind = op[0]
    resting = list(ex.orders.values())
    if kind == "rest":
        _, user, coin, is_buy, reduce_only, px_ticks, lots = op
        inst = ex.instruments[coin]
        px = round(px_ticks * 0.5, 1)
        sz = round(lots * 10.0 ** -inst.sz_decimals, inst.sz_decimals)
        oid = ex._next_oid
        ex._next_oid += 1
        _rest(ex, ClientOrder(oid, None, user, coin, is_buy, px, sz, sz, reduce_only, "Gtc", 0.0, 0))
    elif kind == "fill" and resting:
        o = resting[op[1] % len(resting)]
        inst = ex.instruments[o.coin]
        take = round(o.sz * op[2], inst.sz_decimals) or o.sz
        ex._fill(o, o.px, take, is_maker=True)  # (a whole fill removes it; a position can cancel reduce-only ones)
    elif kind == "cancel" and resting:
        ex._remove(resting[op[1] % len(resting)], "canceled")
    elif kind == "leverage":
        _, user, coin, lev, direct = op
        acct = ex.accounts[user]
        lev = min(lev, ex.instruments[coin].max_leverage)
        if direct:
            acct.position(coin).leverage = lev
        else:
            ex._update_leverage(acct, UpdateLeverageAction(coin, lev, not ex.instruments[coin].only_isolated))


@settings(max_examples=300, deadline=None)
@given(st.lists(_OPS, max_size=40))
def test_available_margin_is_the_loop_afresh_over_any_order_history(ops):
    """Rests, partial and whole fills, cancels and leverage changes in any order: at every ask, and for every user
    and dex at the end, the walk's float is the loop's, and the positions made are the same, in the same order. The
    same history runs on two venues alike; the walk is asked on one, the loop on the other."""
    ex, fresh = _venue(), _venue()
    for op in ops + [("ask", u, d) for u in USERS for d in DEXES]:
        if op[0] == "ask":
            _, user, dex = op
            acct, ref_acct = ex.accounts[user], fresh.accounts[user]
            assert ex._available_margin(acct, dex) == _reference(fresh, ref_acct, dex), op
            assert list(acct.positions) == list(ref_acct.positions)
        else:
            _apply(ex, op)
            _apply(fresh, op)
    assert list(ex.orders) == list(fresh.orders)


def test_a_partial_fill_cancel_and_leverage_change_each_move_the_answer():
    """Each change must show (a walk that missed one would answer as before): an order filled in half, one
    cancelled from the middle and each new leverage change the answer, to the loop's float."""
    ex, fresh = _venue(), _venue()
    acct = ex.accounts[USERS[0]]
    steps = [("rest", USERS[0], "BTC", True, False, 190_000, 1234),
             ("rest", USERS[0], "BTC", True, False, 190_001, 777),
             ("rest", USERS[0], "BTC", True, False, 189_999, 3001), ("fill", 0, 0.5), ("cancel", 1),
             ("leverage", USERS[0], "BTC", 7, False), ("leverage", USERS[0], "BTC", 3, True)]
    seen = []
    for op in steps:
        _apply(ex, op)
        _apply(fresh, op)
        got = ex._available_margin(acct, "")
        assert got == _reference(fresh, fresh.accounts[USERS[0]], "")
        seen.append(got)
    assert len(set(seen)) == len(seen)

