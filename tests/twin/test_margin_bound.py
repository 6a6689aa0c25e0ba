"""The margin test of an order entry and of the margin checks walks every resting order (Exchange._available_margin)
only where the account's bound on what its orders hold leaves the answer in doubt (exchange._BOUND_SLACK), and a fill
walks them for reduce-only orders (_enforce_reduce_only) only where one rests. These hold a session so decided to one
where every entry, check and fill walks (the resting orders' count set where it never matches them): an account
funded near what its orders need, at leverages from 1 (where the bound is tightest) up, with orders placed, crossed,
cancelled, modified, reduce-only, filled by the market and margin-cancelled after a price jump: every reply and push,
at the same clock, the same counters, order statuses, positions, cash and queue left, which a bound that missed an
order's margin (and let an order through that the walk refuses), or a reduce-only order left uncounted (and left
resting past the position it reduced), breaks."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from twin.exchange import Exchange
from twin.faults.chaos import ChaosSchedule
from twin.instruments import InstrumentSpec, default_instruments
from twin.messages import (
    CancelAction, ModifyAction, OrderAction, OrderSpec, Resting, UpdateLeverageAction,
)
from twin.params import TwinParams
from twin.seeding import rest_order

USER = "0x" + "ab" * 20
LOT = 0.0001  # BTC's lot (5 size decimals): 10 USD at the twin's 100,000


def _run(seed: int, usdc: float, plan: list, jump: tuple | None, walk: bool) -> tuple:
    sched = ChaosSchedule(events=[{"kind": "price_jump", "at_s": jump[0], "fraction": jump[1]}] if jump else [])
    ex = Exchange.build(TwinParams(), seed, sched)
    if walk:
        ex._bound_n = -1  # (never len(ex.orders): every entry and check walks)
    walks = [0]

    def counted(acct, dex, walk=ex._available_margin):
        walks[0] += 1
        return walk(acct, dex)
    ex._available_margin = counted
    ex.fund(USER, usdc)
    got: list = []
    conn = ex.connect(lambda p: got.append((ex.env._now, "push", p)))
    conn.subscribe("orderUpdates", USER)
    conn.subscribe("userFills", USER)
    ex.env.run(until=1.0)
    oids: list[int] = []

    def on_reply(r):
        got.append((ex.env._now, "reply", r))
        for s in getattr(r, "statuses", ()):
            if type(s) is Resting:
                oids.append(s.oid)

    tick = ex.instruments["BTC"].tick
    for wait, what, away, is_buy, lots, lev in plan:
        if wait:
            ex.env.run(until=ex.env._now + wait)
        bb, ba = ex.best_bid["BTC"], ex.best_ask["BTC"]
        px = bb - away * tick if is_buy else ba + away * tick
        sz = round(lots * LOT, 5)
        if what == "leverage":
            action = UpdateLeverageAction("BTC", lev, lev != 5)  # (5: isolated, while no position is open)
        elif what == "place":
            action = OrderAction((OrderSpec("BTC", is_buy, px, sz),))
        elif what == "ladder":
            action = OrderAction(tuple(OrderSpec("BTC", is_buy, px - i * tick if is_buy else px + i * tick, sz)
                                       for i in range(lev)))
        elif what == "cross":
            through = ba + 20 * tick if is_buy else bb - 20 * tick
            action = OrderAction((OrderSpec("BTC", is_buy, through, sz, tif="Ioc"),))
        elif what == "reduce":
            action = OrderAction((OrderSpec("BTC", is_buy, px, sz, reduce_only=True),))
        elif not oids:
            continue
        elif what == "cancel":
            action = CancelAction((("BTC", oids[away % len(oids)]),))
        else:
            action = ModifyAction(((oids[away % len(oids)], OrderSpec("BTC", is_buy, px, sz)),))
        ex.submit(USER, action, on_reply)
    ex.env.run(until=ex.env._now + 3.0)
    acct = ex.accounts[USER]
    positions = [(c, p.szi, p.entry_px, p.leverage, p.isolated, p.margin_usd) for c, p in acct.positions.items()]
    state = (got, dict(ex.counters), dict(ex.rejections_by_reason), ex.order_status, positions,
             dict(acct.cash_by_dex), list(ex.orders), ex.env._now, [entry[:3] for entry in sorted(ex.env._queue)])
    return state, walks[0]


_step = st.tuples(
    st.sampled_from([0.0, 0.0, 0.05, 0.3, 1.5]),  # wait before it
    st.sampled_from(["place", "place", "ladder", "cross", "cancel", "modify", "reduce", "leverage"]),
    st.integers(0, 30),  # ticks away from the touch
    st.booleans(),  # side
    st.integers(1, 60),  # lots (10 USD each)
    st.integers(1, 5),  # leverage (a ladder's orders)
)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**16), st.sampled_from([60.0, 150.0, 400.0, 1500.0]), st.lists(_step, min_size=1, max_size=30),
       st.one_of(st.none(), st.tuples(st.floats(1.5, 20.0), st.sampled_from([-0.05, -0.01, 0.01, 0.05]))))
def test_the_bound_decides_as_the_walk(seed, usdc, plan, jump):
    # (leverage 1 to 3: the bound at its tightest; a position first, which reduce-only orders reduce)
    plan = [(0.0, "leverage", 0, True, 1, 1 + seed % 3), (0.0, "cross", 0, seed % 2 == 0, 1 + seed % 7, 1)] + plan
    ours, _ = _run(seed, usdc, plan, jump, walk=False)
    theirs, _ = _run(seed, usdc, plan, jump, walk=True)
    assert ours == theirs


def test_the_plan_reaches_the_margin_and_the_bound_decides_most_entries():
    """Refusals for margin and margin cancels come (the walk's answer decides them, where the bound is in doubt),
    while most entries are decided by the bound alone (a bound never taken would hold nothing here): a long at 4x,
    bids far below at 4x, an order too big, then the leverage cut to 2x, which the next margin check answers."""
    plan = ([(0.0, "leverage", 0, True, 1, 4), (0.1, "cross", 0, True, 5, 1)]
            + [(0.05, "place", 2000 + k, True, 2, 1) for k in range(15)]
            + [(0.05, "place", 2000, True, 60, 1), (0.1, "leverage", 0, True, 1, 2), (1.5, "place", 2000, True, 2, 1)])
    ours, walks = _run(3, 150.0, plan, None, walk=False)
    theirs, walks_all = _run(3, 150.0, plan, None, walk=True)
    assert ours == theirs
    assert ours[2].get("PerpMargin", 0) > 0 and ours[1]["margin_cancels"] > 0
    assert 0 < walks < walks_all / 2


def test_an_order_rested_outside_place_walks(monkeypatch):
    """An order rested by twin.seeding is in no bound (its coin may have no position, which the walk makes): while it
    rests an entry walks, and makes the position the walk made: a BTC bid seeded, then an order on ETH (the same
    dex) enters, and the walk makes BTC's position after ETH's, as the session that always walks."""
    seen = []
    for walk in (False, True):
        params = TwinParams(instruments=default_instruments() + [InstrumentSpec(name="ETH", index=1, sz_decimals=4,
                                                                                max_leverage=25)])
        ex = Exchange.build(params, 0)
        ex.env.run(until=1.0)
        ex.fund(USER, 1000.0)
        if walk:
            ex._bound_n = -1
        calls = [0]
        real = ex._available_margin

        def counted(acct, dex):
            calls[0] += 1
            return real(acct, dex)
        monkeypatch.setattr(ex, "_available_margin", counted)
        rest_order(ex, USER, "BTC", True, ex.best_bid["BTC"] - 50, 0.001)
        replies: list = []
        ex.submit(USER, OrderAction((OrderSpec("ETH", True, 2000.0, 0.01),)), replies.append)
        ex.env.run(until=1.5)
        seen.append((replies, list(ex.accounts[USER].positions), calls[0]))
    assert seen[0] == seen[1]
    assert type(seen[0][0][0].statuses[0]) is Resting and seen[0][1] == ["ETH", "BTC"] and seen[0][2] == 1


def test_a_bound_missing_an_order_is_caught(monkeypatch):
    """The comparison above fails a bound that leaves out a resting order's margin (an entry let through that the
    walk refuses): here each resting order's share taken back as it rests, as a _place that forgot it would (_place
    writes the order's "open" status out: taken back as it returns)."""
    real_place = Exchange._place

    def place(ex, acct, spec, freed_cloid=None):
        placed = real_place(ex, acct, spec, freed_cloid)
        o = ex.orders.get(getattr(placed, "oid", None)) if type(placed) is Resting else None
        if o is not None and o.bound:
            ex.accounts[o.user].orders_bound -= o.bound
            o.bound = 0
        return placed
    monkeypatch.setattr(Exchange, "_place", place)
    plan = [(0.0, "leverage", 0, True, 1, 1)] + [(0.1, "place", 5 + k, True, 4, 1) for k in range(8)]
    ours, _ = _run(3, 150.0, plan, None, walk=False)
    theirs, _ = _run(3, 150.0, plan, None, walk=True)
    assert ours != theirs
    assert ours[2].get("PerpMargin", 0) < theirs[2]["PerpMargin"]


def _reduce_only_plan() -> list:
    """A long, a reduce-only ask over it (shrunk to it), the long closed by a cross (the ask cancelled), then fills with
    no reduce-only order resting."""
    return ([(0.0, "leverage", 0, True, 1, 3), (0.1, "cross", 0, True, 5, 1), (0.1, "reduce", 40, False, 10, 1),
             (0.1, "cross", 0, False, 5, 1), (0.1, "cross", 0, True, 3, 1), (0.1, "cross", 0, False, 3, 1)])


def test_reduce_only_orders_are_enforced_and_the_walk_skipped_without_one(monkeypatch):
    """The reduce-only ask is shrunk to the position and cancelled when the position closes, as when every fill
    walks; the fills made while no reduce-only order rests do not walk."""
    walks = [0]
    real = Exchange._enforce_reduce_only

    def counted(ex, acct, coin):
        walks[0] += 1
        real(ex, acct, coin)
    monkeypatch.setattr(Exchange, "_enforce_reduce_only", counted)
    ours, _ = _run(5, 1000.0, _reduce_only_plan(), None, walk=False)
    ours_walks, walks[0] = walks[0], 0
    theirs, _ = _run(5, 1000.0, _reduce_only_plan(), None, walk=True)
    assert ours == theirs
    statuses = [row[1] for row in ours[3].values()]
    assert "reduceOnlyCanceled" in statuses
    assert ours[1]["fills"] == walks[0] == 4 and ours_walks == 1  # (the close's fill alone, the ask resting)


def test_a_reduce_only_order_left_uncounted_is_caught(monkeypatch):
    """The comparison fails a count that missed a resting reduce-only order (its fill's walk skipped: the order
    rests on after the position it reduced is closed; taken back as _place returns, which writes the order's "open"
    status out)."""
    real_place = Exchange._place

    def place(ex, acct, spec, freed_cloid=None):
        placed = real_place(ex, acct, spec, freed_cloid)
        o = ex.orders.get(getattr(placed, "oid", None)) if type(placed) is Resting else None
        if o is not None and o.reduce_only:
            ex._reduce_only_n -= 1
        return placed
    monkeypatch.setattr(Exchange, "_place", place)
    ours, _ = _run(5, 1000.0, _reduce_only_plan(), None, walk=False)
    theirs, _ = _run(5, 1000.0, _reduce_only_plan(), None, walk=True)
    assert ours != theirs
