"""The exchange's per-event paths made cheaper (order entry, ...) held to the code they replaced, kept here verbatim:
one twin runs the exchange's own, one the old code bound in its place, on the same seed and the same random plan of
two users' orders (post-only, Gtc and Ioc, through the book and through each other's orders, reduce-only, under
used and fresh cloids, some refused for their size, price, margin or tif), cancels by oid and by cloid, modifies
(always placing or not) and leverage changes, with every feed subscribed: every reply and push, at the same clock,
the same counters, refusals, order statuses, resting orders (their queues, sizes and bounds), positions and cash, and
the same queue left (times, priorities, ids), which a cheaper path that decided, queued or pushed anything otherwise
breaks."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from twin.exchange import (
    _BOUND_CAP, _BOUND_SLACK, DUPLICATE_CLOID, Exchange, RejectReason, _fmt, _round_sz, can_refuse, join_size,
    price_is_valid, size_is_valid,
)
from twin.book import ClientOrder
from twin.messages import (
    CancelAction, CancelByCloidAction, Filled, ModifyAction, OrderAction, OrderSpec, Resting, StatusError,
    UpdateLeverageAction,
)
from twin.params import TwinParams

MAKER = "0x" + "a1" * 20
TAKER = "0x" + "b2" * 20
LOT = 0.0001  # BTC's lot (5 size decimals): 10 USD at the twin's 100,000


def _old_place(self, acct, spec, freed_cloid=None):
    """Exchange._place as it was before order entry was made cheaper (236138b), verbatim."""
    inst = self.instruments.get(spec.coin)
    if inst is None:
        return StatusError("Order has invalid asset.")
    # (the spec's fields read once: each is an attribute load, and the checks below read some five times)
    coin, is_buy, px, tif, reduce_only, cloid = (spec.coin, spec.is_buy, spec.px, spec.tif, spec.reduce_only,
                                                 spec.cloid)
    user = acct.address
    if cloid is not None and cloid != freed_cloid:
        used = self._status_by_cloid.get(user)
        if used is not None and cloid in used:
            self.counters["rejections"] += 1
            self.rejections_by_reason["DuplicateCloid"] = self.rejections_by_reason.get("DuplicateCloid", 0) + 1
            return StatusError(f"{DUPLICATE_CLOID} asset={inst.asset_id}")
    if spec.sz == 0.0:
        return self._reject(RejectReason.ZeroSize, inst.asset_id)
    if not size_is_valid(spec.sz, inst.sz_decimals):
        return self._reject(RejectReason.InvalidSize, inst.asset_id)
    if px <= 0.0:
        return self._reject(RejectReason.InvalidPrice, inst.asset_id)
    if not price_is_valid(px, inst.sz_decimals):
        return self._reject(RejectReason.Tick, inst.asset_id)
    if tif not in ("Alo", "Ioc", "Gtc"):
        return StatusError("Invalid TIF")
    ref = self.marks.get(coin)
    if len(self.orders) >= inst.max_open_orders and (tif != "Ioc" or reduce_only) \
            and self.open_order_count(user) >= self._open_order_limit(user, inst, reduce_only):
        return self._reject(RejectReason.TooManyOpenOrders, inst.asset_id)
    position = acct.position(coin)
    pos = position.szi
    sz = spec.sz
    if reduce_only:
        if pos == 0.0 or (pos > 0) == is_buy:
            return self._reject(RejectReason.ReduceOnly, inst.asset_id)
        sz = min(sz, abs(pos))
    if px * sz < inst.min_notional_usd and not (pos != 0.0 and (pos > 0) != is_buy and spec.sz >= abs(pos) - 1e-12
                                                and (reduce_only or sz == abs(pos))):
        return self._reject(RejectReason.MinTradeNtl, inst.asset_id)
    bb, ba = self.best_bid[coin], self.best_ask[coin]
    crosses = px >= ba if is_buy else px <= bb
    book = self.books[coin]
    crosses_clients = px >= book.min_ask if is_buy else px <= book.max_bid
    if tif == "Alo" and (crosses or crosses_clients):
        if book.max_bid > -math.inf and not bb >= book.max_bid:
            bb = book.max_bid
        if book.min_ask < math.inf and not ba <= book.min_ask:
            ba = book.min_ask
        return self._reject(RejectReason.BadAloPx, inst.asset_id, bbo=f"{_fmt(bb)}@{_fmt(ba)}")
    increasing = 0.0
    if not reduce_only:
        increasing = sz if (pos == 0.0 or (pos > 0) == is_buy) else max(0.0, sz - abs(pos))
        if increasing > 0.0:
            lev = position.leverage
            px_m = px if is_buy or not ref or px >= ref else ref
            need = px_m * increasing / lev
            value, used, _, _ = acct.cross_margin(self.marks, inst.dex)
            bound = acct.orders_bound
            if not (bound < _BOUND_CAP and (need + used + bound) * _BOUND_SLACK < value
                    and len(self.orders) == self._bound_n) \
                    and need > self._available_margin(acct, inst.dex) + 1e-9:
                return self._reject(RejectReason.PerpMargin, inst.asset_id)
    drawn = self.rejections.draw(self.env._now)
    if drawn is not None and can_refuse(drawn, tif, reduce_only, increasing > 0.0):
        fmt = {"bbo": f"{_fmt(bb)}@{_fmt(ba)}"} if drawn == RejectReason.BadAloPx else {}
        return self._reject(drawn, inst.asset_id, **fmt)
    oid = self._next_oid
    self._next_oid = oid + 1
    now_ms = self.epoch_ms + int(self.env._now * 1000.0)
    order = ClientOrder(oid, cloid, user, coin, is_buy, px, sz, spec.sz, reduce_only, tif, 0.0, now_ms)
    filled_sz = 0.0
    notional = 0.0
    if (crosses or crosses_clients) and tif in ("Ioc", "Gtc"):
        own = others = None
        if crosses_clients:
            own, others = self._clients_opposite(order)
        filled_sz, notional = self._take(order, own, others)
    if tif == "Ioc":
        if filled_sz <= 0.0:
            return self._reject(RejectReason.IocCancel, inst.asset_id)
        self._set_status(order, "filled" if order.sz <= 1e-12 else "canceled")
        return Filled(_round_sz(filled_sz, inst), notional / filled_sz, oid, cloid)
    if order.sz <= 1e-12:
        self._set_status(order, "filled")
        return Filled(_round_sz(filled_sz, inst), notional / filled_sz, oid, cloid)
    rows = self._level_rows(coin, is_buy)
    ahead = join_size(rows[2], rows[3], px, inst.tick, is_buy) if rows is not None else 0.0
    order.queue_ahead = ahead
    order.level_sz = ahead
    book.add(order)
    self.orders[oid] = order
    if reduce_only:
        bound = 0
        self._reduce_only_n += 1
    else:
        bound = px * order.sz
        bound = int(bound) + 1 if bound < 1e15 else _BOUND_CAP
    order.bound = bound
    acct.orders_bound += bound
    self._bound_n += 1
    self._set_status(order, "open")
    return Resting(oid, cloid)


# the old code of each path, by the Exchange attribute it replaces
OLD = {"_place": _old_place}

_PARAMS = {
    "plain": TwinParams(),
    # refusals drawn (BadAloPx among them: its text names the bbo) and the last prints kept for a snapshot
    "refusing": TwinParams.model_validate({"rejections": {"rates": {"BadAloPx": 0.05, "PerpMargin": 0.03}},
                                           "venue": {"trades_snapshot_size": 5}}),
}

_KINDS = ["place", "place", "gtc", "ioc", "cross", "reduce", "cancel", "cancel_cloid", "modify", "modify_cloid",
          "modify_always", "leverage", "bad", "reuse", "taker"]

_step = st.tuples(
    st.sampled_from([0.0, 0.0, 0.01, 0.05, 0.3, 1.5]),  # wait before it
    st.sampled_from(_KINDS),
    st.integers(-3, 30),  # ticks away from the touch (under 0: through it)
    st.booleans(),  # side
    st.integers(1, 60),  # lots (10 USD each)
    st.integers(1, 5),  # leverage, or how many orders a batch holds
)


def run_session(seed: int, plan: list, params: str, usdc: float, old: tuple = ()) -> tuple:
    """What both users and the venue saw of ``plan`` on a twin of ``seed``, with the old code of the paths named in
    ``old`` (OLD's keys) bound in place of the exchange's own."""
    with pytest.MonkeyPatch.context() as mp:
        for name in old:
            mp.setattr(Exchange, name, OLD[name])
        return _session(seed, plan, params, usdc)


def _session(seed: int, plan: list, params: str, usdc: float) -> tuple:
    ex = Exchange.build(_PARAMS[params], seed)
    got: list = []
    conns = {}
    for user in (MAKER, TAKER):
        ex.fund(user, usdc if user == MAKER else 20_000.0)
        conn = conns[user] = ex.connect(lambda p, u=user: got.append((ex.env._now, u, "push", p)))
        for channel in ("orderUpdates", "userFills", "userEvents"):
            conn.subscribe(channel, user)
    conns[MAKER].subscribe("trades", "BTC")
    conns[MAKER].subscribe("bbo", "BTC")
    conns[TAKER].subscribe("l2Book", "BTC")
    ex.env.run(until=1.0)
    oids: dict = {MAKER: [], TAKER: []}
    cloids: dict = {MAKER: [], TAKER: []}
    names = [0]

    def on_reply(user):
        def on(r):
            got.append((ex.env._now, user, "reply", r))
            for s in getattr(r, "statuses", ()):
                if type(s) is Resting:
                    oids[user].append(s.oid)
        return on

    tick = ex.instruments["BTC"].tick

    def spec(user, px, is_buy, lots, tif="Alo", reduce_only=False, cloid=True):
        names[0] += 1
        c = None
        if cloid and names[0] % 3:
            c = f"0x{names[0]:032x}"
            cloids[user].append(c)
        return OrderSpec("BTC", is_buy, px, round(lots * LOT, 5), reduce_only, tif, c)

    for wait, what, away, is_buy, lots, n in plan:
        if wait:
            ex.env.run(until=ex.env._now + wait)
        bb, ba = ex.best_bid["BTC"], ex.best_ask["BTC"]
        if bb != bb or ba != ba:
            continue
        px = bb - away * tick if is_buy else ba + away * tick
        through = ba + (away % 7) * tick if is_buy else bb - (away % 7) * tick
        user = TAKER if what == "taker" else MAKER
        if what == "place":
            action = OrderAction(tuple(spec(user, px - i * tick if is_buy else px + i * tick, is_buy, lots)
                                       for i in range(n)))
        elif what == "gtc":
            action = OrderAction((spec(user, px, is_buy, lots, "Gtc"),))
        elif what == "ioc":
            action = OrderAction((spec(user, px, is_buy, lots, "Ioc"),))
        elif what == "cross":
            action = OrderAction((spec(user, through, is_buy, lots, "Ioc" if n % 2 else "Gtc"),))
        elif what == "taker":  # (the other user, through the maker's resting orders: their maker fills)
            book = ex.books["BTC"]
            best = book.min_ask if is_buy else book.max_bid
            if math.isinf(best):
                best = through
            action = OrderAction((spec(user, best + away % 3 * tick if is_buy else best - away % 3 * tick, is_buy,
                                       lots, "Ioc" if n % 2 else "Gtc"),))
        elif what == "reduce":
            action = OrderAction((spec(user, px if n % 2 else through, is_buy, lots, "Alo" if n % 2 else "Ioc",
                                       reduce_only=True),))
        elif what == "leverage":
            action = UpdateLeverageAction("BTC", n, True)
        elif what == "bad":  # (refused for its size, price, tif or asset)
            bad = [OrderSpec("BTC", is_buy, px, 0.0), OrderSpec("BTC", is_buy, px, 0.000001),
                   OrderSpec("BTC", is_buy, px + 0.001, 0.001), OrderSpec("BTC", is_buy, -px, 0.001),
                   OrderSpec("BTC", is_buy, px, 0.001, tif="Fok"), OrderSpec("NOPE", is_buy, px, 0.001),
                   OrderSpec("BTC", is_buy, px, 0.00001)][n % 5 + away % 3]
            action = OrderAction((bad,))
        elif what == "reuse":  # (a cloid used before: refused, unless a modify frees it)
            if not cloids[user]:
                continue
            c = cloids[user][away % len(cloids[user])]
            action = OrderAction((OrderSpec("BTC", is_buy, px, round(lots * LOT, 5), cloid=c),))
        elif not oids[user]:
            continue
        elif what == "cancel":
            action = CancelAction((("BTC", oids[user][away % len(oids[user])]),))
        elif what == "cancel_cloid":
            if not cloids[user]:
                continue
            action = CancelByCloidAction((("BTC", cloids[user][away % len(cloids[user])]),))
        elif what == "modify_cloid" and cloids[user]:
            c = cloids[user][away % len(cloids[user])]
            action = ModifyAction(((c, OrderSpec("BTC", is_buy, px, round(lots * LOT, 5), cloid=c)),))
        else:
            ref = oids[user][away % len(oids[user])]
            action = ModifyAction(((ref, spec(user, px, is_buy, lots, "Gtc" if n % 2 else "Alo")),),
                                  always_place=what == "modify_always")
        ex.submit(user, action, on_reply(user))
    ex.env.run(until=ex.env._now + 3.0)
    accounts = [(a.address, a.orders_bound, dict(a.cash_by_dex),
                 [(c, p.szi, p.entry_px, p.leverage, p.isolated, p.margin_usd) for c, p in a.positions.items()])
                for a in ex.accounts.values()]
    orders = [(o.oid, o.sz, o.queue_ahead, o.level_sz, o.seen, o.bound, o.ts_ms) for o in ex.orders.values()]
    return (got, dict(ex.counters), dict(ex.rejections_by_reason), ex.order_status, ex._status_by_cloid,
            accounts, orders, ex._bound_n, ex._reduce_only_n, ex._next_oid, ex._next_anon_oid, ex.env._now,
            [entry[:3] for entry in sorted(ex.env._queue)])


def _plans(*names):
    return given(st.integers(0, 2**16), st.lists(_step, min_size=1, max_size=40), st.sampled_from(sorted(_PARAMS)),
                 st.sampled_from([60.0, 400.0, 5000.0]))


def _opening(seed: int) -> list:
    """A position first (which reduce-only orders reduce), at a leverage from 1 (margin at its tightest)."""
    return [(0.0, "leverage", 0, True, 1, 1 + seed % 3), (0.0, "cross", 0, seed % 2 == 0, 1 + seed % 7, 1)]


@settings(max_examples=60, deadline=None)
@_plans()
def test_order_entry_is_the_old_one(seed, plan, params, usdc):
    plan = _opening(seed) + plan
    ours = run_session(seed, plan, params, usdc)
    theirs = run_session(seed, plan, params, usdc, old=("_place",))
    assert ours == theirs
    assert any(kind == "reply" for _, _, kind, _ in theirs[0])


def test_the_plan_reaches_order_entry_s_ways():
    """The plans above reach every way of order entry the cheaper one writes apart: resting makers, takers that
    rest what is left, Ioc fills, maker fills of another user, refusals for margin, post-only and a used cloid."""
    plan = _opening(1) + [(0.05, k, a, b, 3, n) for k in _KINDS for a in (-2, 0, 4) for b in (True, False)
                          for n in (1, 2, 5)]
    counters, reasons, statuses = run_session(1, plan, "refusing", 400.0)[1:4]
    assert counters["fills"] > 50 and counters["margin_cancels"] > 0
    assert {"BadAloPx", "DuplicateCloid", "IocCancel", "PerpMargin", "ReduceOnly", "ZeroSize", "InvalidSize",
            "InvalidPrice", "Tick"} <= set(reasons)
    assert {"open", "filled", "marginCanceled"} <= {row[1] for row in statuses.values()}
