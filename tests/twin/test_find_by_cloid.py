"""Exchange._find by cloid reads the account's cloid index (_status_by_cloid) where it scanned every resting order:
the same order, or none, as the scan finds, whatever the twin's order path and seeding have done. It holds because
a cloid rests under at most one order of an account (_place refuses a used one, seeding likewise, and a modify
placing under its ref's cloid only when no order rests under it), and the index keeps each resting one."""
import math

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from twin import exchange as exchange_module
from twin import seeding
from twin.exchange import Exchange
from twin.messages import CancelAction, CancelByCloidAction, ModifyAction, OrderAction, OrderSpec
from twin.params import TwinParams

USERS = ("0x" + "a1" * 20, "0x" + "b2" * 20)
CLOIDS = tuple(f"0x{k:032x}" for k in range(1, 3))


def _scan(ex: Exchange, user: str, coin: str, cloid: str):
    """The lookup as it was: the first resting order of the user on the coin under the cloid."""
    for o in ex.orders.values():
        if o.cloid == cloid and o.user == user and o.coin == coin:
            return o
    return None


def _spec(ex: Exchange, coin: str, is_buy: bool, ticks: int, tif: str, cloid):
    inst = ex.instruments[coin]
    bb, ba = ex.best_bid[coin], ex.best_ask[coin]
    mid = ex.marks.get(coin) or 1.0
    if bb == bb and ba == ba:  # ticks < 0: through the touch, to fill
        px = bb - ticks * inst.tick if is_buy else ba + ticks * inst.tick
    else:
        px = mid * (1 - 0.01 * ticks) if is_buy else mid * (1 + 0.01 * ticks)
    px = float(f"{px:.5g}")
    sz = round(math.ceil(20.0 / px / inst.lot) * inst.lot, inst.sz_decimals)
    return OrderSpec(coin, is_buy, px, sz, tif=tif, cloid=cloid)


_user = st.sampled_from(USERS)
_coin = st.sampled_from(("BTC", "hyna:LIT"))
_cloid = st.sampled_from(CLOIDS)
_order = st.tuples(_coin, st.booleans(), st.integers(-2, 5), st.sampled_from(("Alo", "Gtc", "Ioc")),
                   st.none() | _cloid)
_step = st.one_of(
    st.tuples(st.just("place"), _user, _order),
    st.tuples(st.just("seed"), _user, _order),
    st.tuples(st.just("cancel"), _user, _coin, _cloid),
    st.tuples(st.just("cancel_oid"), _user, st.integers(0, 30)),
    st.tuples(st.just("modify"), _user, st.one_of(_cloid, st.integers(0, 30)), _order, st.booleans()),
    st.tuples(st.just("wait"), st.floats(0.1, 20.0)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_step, max_size=25), seed=st.integers(0, 3))
# a modify always placing under its ref's cloid, which rests on another coin (it did rest a second order under it)
@example(steps=[("seed", USERS[0], ("hyna:LIT", True, 2, "Gtc", CLOIDS[0])),
                ("modify", USERS[0], CLOIDS[0], ("BTC", True, 2, "Gtc", CLOIDS[0]), True)], seed=0)
def test_find_by_cloid_is_the_scan(monkeypatch, steps, seed):
    monkeypatch.setattr(exchange_module, "ORDERS_KEPT", 2)  # statuses (and their cloids) pruned within a few orders
    ex = Exchange.build(TwinParams(), seed)
    for user in USERS:
        ex.fund(user, 1_000_000.0)
    ex.env.run(until=2)
    oids: list[int] = []
    for step in steps:
        kind = step[0]
        if kind == "wait":
            ex.env.run(until=ex.env.now + step[1])
            continue
        user = step[1]
        if kind == "seed":
            coin, is_buy, ticks, _, cloid = step[2]
            spec = _spec(ex, coin, is_buy, max(ticks, 1), "Gtc", cloid)
            try:
                oids.append(seeding.rest_order(ex, user, coin, is_buy, spec.px, spec.sz, cloid=cloid))
            except seeding.SeedingError:
                pass
        else:
            if kind == "place":
                action = OrderAction((_spec(ex, *step[2]),))
            elif kind == "cancel":
                action = CancelByCloidAction(((step[2], step[3]),))
            elif kind == "cancel_oid":
                if not oids:
                    continue
                oid = oids[step[2] % len(oids)]
                action = CancelAction(((ex.order_status[oid][3] if oid in ex.order_status else "BTC", oid),))
            else:
                ref = step[2] if isinstance(step[2], str) or not oids else oids[step[2] % len(oids)]
                action = ModifyAction(((ref, _spec(ex, *step[3])),), always_place=step[4])
            got: list = []
            ex.submit(user, action, got.append)
            ex.env.run(until=ex.env.now + 1.0)
            for reply in got:
                for status in getattr(reply, "statuses", ()):
                    if hasattr(status, "oid"):
                        oids.append(status.oid)
        for user in USERS:
            for coin in ("BTC", "hyna:LIT"):
                for cloid in CLOIDS:
                    assert ex._find(user, coin, None, cloid) is _scan(ex, user, coin, cloid), (user, coin, cloid)


def test_a_modify_always_placing_under_a_cloid_resting_on_another_coin_is_refused():
    """The order a modify by cloid names is gone from this coin, but one on another coin still rests under the
    cloid: its place is refused as any used cloid is (it rested a second order under the cloid)."""
    ex = Exchange.build(TwinParams(), 0)
    user, cloid = USERS[0], CLOIDS[0]
    ex.fund(user, 1_000_000.0)
    ex.env.run(until=2)
    lit = _spec(ex, "hyna:LIT", True, 2, "Gtc", cloid)
    resting = seeding.rest_order(ex, user, "hyna:LIT", True, lit.px, lit.sz, cloid=cloid)
    got: list = []
    ex.submit(user, ModifyAction(((cloid, _spec(ex, "BTC", True, 2, "Gtc", cloid)),), always_place=True), got.append)
    ex.env.run(until=4)
    assert got[0].statuses[0].error.startswith(exchange_module.DUPLICATE_CLOID)
    assert [o.oid for o in ex.orders.values() if o.cloid == cloid] == [resting]
    assert ex.order_status_of(user, cloid)["order"].oid == resting
