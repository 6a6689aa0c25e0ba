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
from bisect import bisect_left
from dataclasses import replace
from heapq import heappush
from itertools import repeat

import pytest
from hypothesis import given, settings, strategies as st

import twin.exchange
from twin.calls import loop_ended
from twin.exchange import _l2_side, _ONES, _px_key
from twin.exchange import (
    NORMAL, _BOUND_CAP, _BOUND_SLACK, BOOK, DUPLICATE_CLOID, EMPTY_ORDER_BATCH, MODIFY_PREFIX, PRICE_BAND_TEXT,
    BboPush, Exchange, RejectReason, TradePush, _Delivery, _fmt, _round_sz, can_refuse, join_size, price_is_valid,
    size_is_valid, trade_tid,
)
from twin.book import ClientOrder
from twin.messages import (
    ActionErr, ActionOk, CancelAction, CancelByCloidAction, Filled, ModifyAction, NoopAction, OrderAction, OrderSpec,
    Resting, ScheduleCancelAction, StatusError, UpdateIsolatedMarginAction, UpdateLeverageAction,
)
from twin.params import TwinParams

from old_remove import old_remove
from test_paths_written_out import _plain_send_frame, _plain_set_status

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


def _old_run_market(self, wake, coin, market):
    """Exchange._run_market as it was before its events were iterated (236138b), verbatim."""
    env = self.env
    queue, eid, normal, arm = wake.queue, wake.eid, wake.normal, wake.armed
    book = self.books[coin]
    pending = book.pending  # (the one list of the book's life: emptied in place)
    marks = self.marks
    counters = self.counters
    consumed = self._consumed[coin]
    rows_pair = self._rows_of[coin]
    subs = self._subs
    # (the dicts of the market state, looked up once: every market event writes them)
    rows_now = self._rows_now
    best_bid_of, best_ask_of, last_trade_px = self.best_bid, self.best_ask, self.last_trade_px
    recent = self.recent_trades[coin] if self.recent_trades is not None else None
    epoch_ms = self.epoch_ms
    while True:
        chunk = market.next_chunk()
        if chunk is None:
            loop_ended(env)
            yield  # (for good: nothing wakes it)
            return
        ts, kinds, idxs = chunk.t.tolist(), chunk.kind.tolist(), chunk.idx.tolist()
        bid_px, bid_sz, ask_px, ask_sz = chunk.bid_px, chunk.bid_sz, chunk.ask_px, chunk.ask_sz
        tpx, tsz, tside = chunk.trade_px.tolist(), chunk.trade_sz.tolist(), chunk.trade_side.tolist()
        best_bids = bid_px[:, 0].tolist() if len(bid_px) else []
        best_asks = ask_px[:, 0].tolist() if len(ask_px) else []
        best_bid_szs = bid_sz[:, 0].tolist() if len(bid_sz) else []
        best_ask_szs = ask_sz[:, 0].tolist() if len(ask_sz) else []
        n = len(ts)
        i = 0
        trade_key = ("trades", coin)
        while i < n:
            t = ts[i]
            if t > env._now:
                # (the orders first: with an agent quoting, one nearly always rests, and the rest is not read)
                if not book.bids and not book.asks and self.log is None and trade_key not in subs \
                        and recent is None:
                    # nobody can observe the events before the next scheduled event: apply them
                    # as one jump to the last book and trade among them (hftbacktest's elapse)
                    k = bisect_left(ts, env.peek(), i, n)
                    if k > i + 1:
                        self._jump(coin, kinds, idxs, i, k, chunk, best_bids, best_asks, tpx)
                        i = k
                        continue
                wake.callbacks = arm  # (the wait start_loop made of ``yield t - env._now``: start_waking)
                heappush(queue, (env._now + (t - env._now), normal, next(eid), wake))
                yield
            j = idxs[i]
            i += 1
            if kinds[i - 1] == BOOK:
                bb, ba = best_bids[j], best_asks[j]
                rows_now[coin] = rows = (bid_px[j], bid_sz[j], ask_px[j], ask_sz[j])  # (one store: the four rows)
                rows_pair[0] = rows_pair[1] = None  # (_level_rows makes them again when asked)
                book.top = None
                book.shown = (bb, best_bid_szs[j], ba, best_ask_szs[j])  # (the rows' first: _top reads them)
                best_bid_of[coin] = bb
                best_ask_of[coin] = ba
                if bb == bb and ba == ba:
                    marks[coin] = 0.5 * (bb + ba)
                if consumed:
                    consumed.clear()
                counters["book_updates"] += 1
                if book.bids or book.asks:
                    if ba <= book.max_bid or bb >= book.min_ask:  # (crossed_by_book's own test, seldom true)
                        for o in book.crossed_by_book(bb, ba):
                            if o.oid in self.orders:  # (a fill before it can have cancelled it: _fill)
                                self._fill(o, o.px, o.sz, is_maker=True)
                    # the update kept for the queues, applied when a print reads them (CoinBook.note_rows
                    # written out: an append, and the cap's test); its rows as numpy rows, made lists only for
                    # the updates an order still owes then (the book push and order entry make them when asked,
                    # _level_rows): the tuple the market state holds
                    pending.append(rows)
                    if len(pending) >= book.max_pending:
                        book.make_room()
            else:
                px, sz, side = tpx[j], tsz[j], tside[j]
                counters["trades"] += 1
                if self.log is not None:
                    self._log("trade", coin, px, sz, side)
                last_trade_px[coin] = px
                # the market's aggressor: in its print's tid and any fill it makes (_anon_oid inlined, as below)
                taker = self._next_anon_oid
                self._next_anon_oid = taker + 1
                # (subscribed: the print is published, with an anonymous maker; kept for a subscription's
                # snapshot whether or not: the venue's has the prints made while a client was away)
                if trade_key in subs or recent is not None:
                    maker = self._next_anon_oid
                    self._next_anon_oid = maker + 1
                    tid = trade_tid(taker, maker) if side > 0 else trade_tid(maker, taker)
                    # (now_ms inlined: every print passes here)
                    push = TradePush(coin, "B" if side > 0 else "A", px, sz, epoch_ms + int(env._now * 1000.0),
                                     tid, taker)
                    self._publish(trade_key, push)
                    if recent is not None:
                        recent.append(push)
                if (side > 0 and px >= book.min_ask) or (side < 0 and px <= book.max_bid):
                    for o, take in book.hits_from_trade(side > 0, px, sz):
                        if o.oid in self.orders:  # (as above; or shrunk it: at most what is left)
                            self._fill(o, o.px, min(take, o.sz), is_maker=True, prints=False,
                                       counter_oid=taker)


def _old_process(self, acct, action):
    """Exchange._process as it was before its kinds were tested in their frequency's order (236138b), verbatim."""
    if isinstance(action, OrderAction):
        if not action.orders:
            # refused at pre-validation, one error for the whole payload (docs error-responses: "empty batch
            # of orders"); the docs give no text and none has been captured: this one is a guess
            return ActionErr(EMPTY_ORDER_BATCH)
        if self._outside_band(action.orders):
            return ActionErr(PRICE_BAND_TEXT)
        self._action_tx = self._next_oid
        # (map and loops, not comprehensions: one reading self, acct or action made each a cell, three allocated
        # on every action; tests/twin/test_exchange_cells.py)
        try:
            return ActionOk("order", tuple(map(self._place, repeat(acct), action.orders)))
        finally:
            self._action_tx = None
    if isinstance(action, CancelAction):
        cancel = self._cancel
        out = []
        for coin, oid in action.cancels:
            out.append(cancel(acct, coin, oid=oid))
        return ActionOk("cancel", tuple(out))
    if isinstance(action, CancelByCloidAction):
        cancel = self._cancel
        out = []
        for coin, c in action.cancels:
            out.append(cancel(acct, coin, cloid=c))
        return ActionOk("cancel", tuple(out))
    if isinstance(action, ModifyAction):
        if self._outside_band(spec for _, spec in action.modifies):  # (before any cancel leg: nothing changes)
            return ActionErr(PRICE_BAND_TEXT)
        self._action_tx = self._next_oid
        try:
            modify, always = self._modify, action.always_place
            out = []
            for ref, spec in action.modifies:
                out.append(modify(acct, ref, spec, always))
            return ActionOk("batchModify", tuple(out))
        finally:
            self._action_tx = None
    if isinstance(action, ScheduleCancelAction):
        return self._schedule_cancel(acct, action.time_s)
    if isinstance(action, UpdateLeverageAction):
        return self._update_leverage(acct, action)
    if isinstance(action, UpdateIsolatedMarginAction):
        return self._update_isolated_margin(acct, action)
    if isinstance(action, NoopAction):
        return ActionOk("default")
    return ActionErr("Unknown action")


def _old_l2_side(pxs, szs, clients, n, consumed, desc):
    """exchange._l2_side as it was before a level's row took the order's price (236138b), verbatim."""
    px_l = pxs[:n]
    sz_l = szs[:n]
    if not consumed and sz_l and (t := sum(px_l) + sum(sz_l)) == t and min(sz_l) > 0:
        # every row a level (no nan, as a sum with one is nan; every size above 0): the rows as the comprehension
        # below keeps them, made in C (its test, ten bytecodes a row, was 3% of a stress session's outside the core)
        rows = list(zip(px_l, sz_l, _ONES))
    elif consumed:
        # (a loop: a comprehension reading consumed made it a cell on every call, the fast path's too)
        rows = []
        for px, sz in zip(px_l, sz_l):
            if px == px:
                left = sz - consumed.get(px, 0.0)
                if left > 0:
                    rows.append((px, left, 1))
    else:
        rows = [(px, sz, 1) for px, sz in zip(px_l, sz_l) if px == px and sz > 0]
    if clients:
        # (every level kept: its prices are the rows' own, in their order, as they nearly always are)
        index = dict(zip(px_l if len(rows) == len(px_l) else [r[0] for r in rows], range(len(rows))))
        for o in clients:
            px = o.px
            k = index.get(px)
            if k is None:
                index[px] = len(rows)
                rows.append((px, 0.0 + o.sz, 1))
            else:
                r = rows[k]
                rows[k] = (r[0], r[1] + o.sz, r[2] + 1)
    rows.sort(key=_px_key, reverse=desc)  # nearly sorted already: cheap
    return tuple(rows[:n])


def _old_modify(self, acct, ref, spec, always_place=False):
    """Exchange._modify as it was before it wrote _find out (236138b), verbatim."""
    if isinstance(ref, str):
        order = self._find(acct.address, spec.coin, None, ref)
    else:
        order = self._find(acct.address, spec.coin, ref, None)
    if order is None:
        if always_place and spec.coin in self.instruments:
            # the venue's docs (exchange endpoint, "Modify an order"): with always place "the new order is
            # placed regardless of whether the cancel succeeded": the old one filled or gone, it is a place, which
            # may carry the ref's cloid again, unless an order on another coin still rests under it (refused then,
            # as any used cloid is: a cloid rests under at most one order of a user, which _find relies on)
            freed = None
            if isinstance(ref, str):
                by_cloid = self._status_by_cloid.get(acct.address)
                if by_cloid is None or by_cloid.get(ref) not in self.orders:
                    freed = ref
            return self._place(acct, spec, freed)
        return self._reject(RejectReason.ModifyCanceledOrFilled, self.instruments[spec.coin].asset_id
                            if spec.coin in self.instruments else 0)
    self._remove(order, "canceled")
    freed = order.cloid
    if not always_place and spec.tif != "Alo":
        # the venue's rule (docs exchange endpoint, "Modify an order"): without always place the new order must
        # be post-only, or a Gtc that would not execute at once, which is then treated as post-only (so a Gtc
        # that crosses is refused as post-only is); anything else (Ioc) is refused
        if spec.tif != "Gtc":
            return StatusError(MODIFY_PREFIX + self._reject(RejectReason.ModifyNotPostOnly,
                                                            self.instruments[spec.coin].asset_id).error)
        spec = replace(spec, tif="Alo")
    placed = self._place(acct, spec, freed)
    if isinstance(placed, StatusError):  # the cancel leg happened: the venue says the new order failed
        return StatusError(MODIFY_PREFIX + placed.error)
    return placed


def _old_run_bbo_feed(self, wake):
    """Exchange._run_bbo_feed as it was before its last tops were read by a subscript (236138b), verbatim."""
    block = self.params.feed.block_s or 0.1
    last: dict[str, tuple] = {}
    subs, top_of = self._subs, self._top  # (looked up once: this runs 10 times a second)
    env, epoch_ms = self.env, self.epoch_ms
    # (the markets are fixed at construction)
    keys = [(coin, ("bbo", coin), self.books[coin]) for coin in self.markets]
    queue, eid, normal, arm = wake.queue, wake.eid, wake.normal, wake.armed
    while True:
        wake.callbacks = arm  # (its wait, scheduled as start_waking says)
        heappush(queue, (env._now + block, normal, next(eid), wake))
        yield
        for coin, key, book in keys:
            # the top is made again only when something it is made of moved since this last made it (CoinBook.top:
            # a block in three comes before the next book update); a memo still set is a top already compared
            # with the last pushed, which only this changes
            if key in subs and book.top is None:
                top = book.top = top_of(coin, book)
                if top != last.get(coin):
                    last[coin] = top
                    # (now_ms inlined: nearly every block pushes)
                    self._publish(key, BboPush(coin, epoch_ms + int(env._now * 1000.0), *top))


def _old_publish(self, key, push):
    """Exchange._publish as it was before it read its callbacks per socket (236138b), verbatim but for the entry's
    time, ``at`` since the push held behind another landed an ulp before it (call_later's now + (at - now))."""
    conns = self._subs.get(key)
    if conns:
        # (_send, _delivery_at and _schedule inlined: every push of the feeds passes here; the entry's time is ``at``)
        env = self.env
        now = env._now
        on_delivery = self._on_delivery
        for conn in conns:
            conn.frame = None
            at = now + conn.feed.sample(now)
            if at < conn.last_delivery:
                at = conn.last_delivery
            conn.last_delivery = at
            heappush(env._queue, (at, NORMAL, next(env._eid), _Delivery.make(on_delivery, conn, conn.epoch, push)))


# the old code of each path, by the Exchange attribute it replaces
OLD = {"_place": _old_place, "_run_market": _old_run_market, "_remove": old_remove, "_process": _old_process,
       "_modify": _old_modify, "_run_bbo_feed": _old_run_bbo_feed,
       "_publish": _old_publish}

_PARAMS = {
    "plain": TwinParams(),
    # refusals drawn (BadAloPx among them: its text names the bbo) and the last prints kept for a snapshot
    "refusing": TwinParams.model_validate({"rejections": {"rates": {"BadAloPx": 0.05, "PerpMargin": 0.03}},
                                           "venue": {"trades_snapshot_size": 5}}),
}

_KINDS = ["place", "place", "gtc", "ioc", "cross", "reduce", "cancel", "cancel_cloid", "modify", "modify_cloid",
          "modify_always", "leverage", "bad", "reuse", "taker", "far", "modify_other",
          "taker_rest"]

_step = st.tuples(
    st.sampled_from([0.0, 0.0, 0.01, 0.05, 0.3, 1.5]),  # wait before it
    st.sampled_from(_KINDS),
    st.integers(-3, 30),  # ticks away from the touch (under 0: through it)
    st.booleans(),  # side
    st.integers(1, 60),  # lots (10 USD each)
    st.integers(1, 5),  # leverage, or how many orders a batch holds
)


def _bind_old(mp: pytest.MonkeyPatch, names: tuple) -> None:
    """OLD's code of the paths ``names`` bound in place of the exchange's own, with the _set_status the old code calls
    (the exchange has none since _remove took its calls): the plain rule tests/twin/test_paths_written_out.py holds
    _remove's status writing to."""
    for name in names:
        mp.setattr(Exchange, name, OLD[name])
    mp.setattr(Exchange, "_set_status", _plain_set_status, raising=False)
    mp.setattr(Exchange, "_send_frame", _plain_send_frame, raising=False)


def run_session(seed: int, plan: list, params: str, usdc: float, old: tuple = (), kept: int | None = None) -> tuple:
    """What both users and the venue saw of ``plan`` on a twin of ``seed``, with the old code of the paths named in
    ``old`` (OLD's keys) bound in place of the exchange's own; ``kept``: the orders orderStatus keeps a user (few:
    the oldest forgotten, _keep_status_of)."""
    with pytest.MonkeyPatch.context() as mp:
        _bind_old(mp, old)
        if kept is not None:
            mp.setattr(twin.exchange, "ORDERS_KEPT", kept)
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
        user = TAKER if what in ("taker", "taker_rest") else MAKER
        if what in ("place", "taker_rest"):
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
        elif what == "far":  # (priced past the reference-price band: the whole action refused, a modify's too)
            far = OrderSpec("BTC", is_buy, round(bb * (0.1 if is_buy else 10.0)), round(lots * LOT, 5))
            if n % 2 or not oids[user]:
                action = OrderAction((spec(user, px, is_buy, lots), far) if n > 2 else (far,))
            else:
                action = ModifyAction(((oids[user][-1], spec(user, px, is_buy, lots)), (oids[user][0], far)))
        elif what == "modify_other":  # (the other user's order, by oid or cloid, or the user's own on another coin)
            other = TAKER
            refs = (oids[other] if n % 2 else cloids[other]) if away % 3 else (oids[user] or cloids[user])
            if not refs:
                continue
            coin = "ETH" if away % 3 == 0 else "BTC"
            action = ModifyAction(((refs[away % len(refs)], OrderSpec(coin, is_buy, px, round(lots * LOT, 5))),),
                                  always_place=n > 3)
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


def _plans(*more):
    return given(st.integers(0, 2**16), st.lists(_step, min_size=1, max_size=40), st.sampled_from(sorted(_PARAMS)),
                 st.sampled_from([60.0, 400.0, 5000.0]), *more)


def _opening(seed: int) -> list:
    """A position first (which reduce-only orders reduce), at a leverage from 1 (margin at its tightest)."""
    return [(0.0, "leverage", 0, True, 1, 1 + seed % 3), (0.0, "cross", 0, seed % 2 == 0, 1 + seed % 7, 1)]


@settings(max_examples=60, deadline=None)
@_plans(st.sampled_from([None, 1, 4]))
def test_order_entry_is_the_old_one(seed, plan, params, usdc, kept):
    """(The old _place called _set_status for a resting order's "open", which the new writes out.)"""
    plan = _opening(seed) + plan
    ours = run_session(seed, plan, params, usdc, kept=kept)
    theirs = run_session(seed, plan, params, usdc, old=("_place",), kept=kept)
    assert ours == theirs
    assert any(kind == "reply" for _, _, kind, _ in theirs[0])


def test_the_plan_reaches_order_entry_s_ways():
    """The plans above reach every way of order entry the cheaper one writes apart: resting makers, takers that
    rest what is left, Ioc fills, maker fills of another user, refusals for margin, post-only and a used cloid; and
    actions refused whole for a price past the reference band."""
    plan = _opening(1) + [(0.05, k, a, b, 3, n) for k in _KINDS for a in (-2, 0, 4) for b in (True, False)
                          for n in (1, 2, 5)]
    got, counters, reasons, statuses = run_session(1, plan, "refusing", 400.0)[:4]
    refused = [r for _, _, kind, r in got if kind == "reply" and type(r) is ActionErr]
    assert any(r.message == PRICE_BAND_TEXT for r in refused)
    assert counters["fills"] > 50 and counters["margin_cancels"] > 0
    assert {"BadAloPx", "DuplicateCloid", "IocCancel", "PerpMargin", "ReduceOnly", "ZeroSize", "InvalidSize",
            "InvalidPrice", "Tick"} <= set(reasons)
    assert {"open", "filled", "marginCanceled"} <= {row[1] for row in statuses.values()}


@settings(max_examples=40, deadline=None)
@_plans()
def test_the_market_s_events_are_the_old_loop_s(seed, plan, params, usdc):
    plan = _opening(seed) + plan
    ours = run_session(seed, plan, params, usdc)
    theirs = run_session(seed, plan, params, usdc, old=("_run_market",))
    assert ours == theirs
    assert theirs[1]["book_updates"] > 0 and theirs[1]["trades"] > 0


def _quiet(seed: int, stops: list, old: tuple = ()) -> list:
    """A twin nobody observes (no order, no subscription, no log: the market loop jumps over the events before the
    next scheduled one), stopped at ``stops`` (each a scheduled event, where a jump ends), its market state read at
    each; then an order rests and a trades subscription comes, and the loop steps event by event."""
    with pytest.MonkeyPatch.context() as mp:
        _bind_old(mp, old)
        ex = Exchange.build(TwinParams(), seed)
        seen = []
        for t in stops:
            ex.env.run(until=t)
            rows = ex._rows_now.get("BTC")
            seen.append((ex.env._now, dict(ex.counters), dict(ex.best_bid), dict(ex.best_ask), dict(ex.marks),
                         dict(ex.last_trade_px), None if rows is None else [r.tolist() for r in rows],
                         ex._next_anon_oid, [entry[:3] for entry in sorted(ex.env._queue)]))
        ex.fund(MAKER, 5000.0)
        got: list = []
        conn = ex.connect(lambda p: got.append((ex.env._now, p)))
        ex.submit(MAKER, OrderAction((OrderSpec("BTC", True, ex.best_bid["BTC"], 0.001),)), got.append)
        conn.subscribe("trades", "BTC")
        conn.subscribe("orderUpdates", MAKER)
        ex.env.run(until=ex.env._now + 30.0)
        seen.append((got, dict(ex.counters), ex._next_anon_oid, ex.env._now))
        return seen


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**16), st.lists(st.floats(0.001, 20.0), min_size=1, max_size=12))
def test_the_market_s_jumps_are_the_old_loop_s(seed, gaps):
    stops = [sum(gaps[:k + 1]) for k in range(len(gaps))]
    ours = _quiet(seed, stops)
    assert ours == _quiet(seed, stops, old=("_run_market",))
    assert ours[-1][1]["trades"] > 0


def test_the_quiet_twin_jumps():
    """The unobserved twin above does jump (several events applied at once, ending at a stop), which a plan that
    never did would leave untested."""
    jumps = []
    real = Exchange._jump

    def jump(ex, coin, kinds, idxs, i, k, *rest):
        jumps.append(k - i)
        real(ex, coin, kinds, idxs, i, k, *rest)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Exchange, "_jump", jump)
        _quiet(0, [0.5, 3.0, 3.2, 60.0])
    assert len(jumps) >= 3 and max(jumps) > 10


@settings(max_examples=40, deadline=None)
@_plans(st.sampled_from([None, 1, 4]))
def test_an_order_s_removal_is_the_old_one(seed, plan, params, usdc, kept):
    """(Cancels, modifies' cancel legs, maker fills, self-trade, reduce-only and margin cancels: each a removal.)"""
    plan = _opening(seed) + plan
    ours = run_session(seed, plan, params, usdc, kept=kept)
    theirs = run_session(seed, plan, params, usdc, old=("_remove",), kept=kept)
    assert ours == theirs


@settings(max_examples=40, deadline=None)
@_plans()
def test_an_action_s_dispatch_is_the_old_one(seed, plan, params, usdc):
    """(Orders, modifies, cancels by oid and by cloid, leverage, and orders and modifies past the price band.)"""
    plan = _opening(seed) + plan
    ours = run_session(seed, plan, params, usdc)
    theirs = run_session(seed, plan, params, usdc, old=("_process",))
    assert ours == theirs


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 20), st.lists(st.floats(-0.5, 2.0), min_size=1, max_size=25), st.booleans(), st.booleans(),
       st.lists(st.tuples(st.integers(-2, 30), st.floats(0.01, 1.0)), max_size=8),
       st.dictionaries(st.integers(0, 30), st.floats(0.0, 1.0), max_size=4), st.booleans())
def test_a_book_push_side_is_the_old_one(n, sizes, with_nan, twice, clients, consumed, bids):
    """_l2_side's rows, the same floats (compared by their bits), from the displayed levels (a gap, a price listed
    twice), what fills consumed and clients' orders at levels, between them and past them."""
    sign = -0.1 if bids else 0.1  # (a tick of 0.1 from 97.3: prices no binary float holds exactly)
    pxs = [97.3 + sign * i for i in range(len(sizes))]
    if with_nan:
        pxs[len(sizes) // 2] = math.nan
    if twice and len(pxs) > 2:
        pxs[2] = pxs[1]
    orders = [ClientOrder(k, None, MAKER, "BTC", bids, 97.3 + sign * i, s, s, False, "Alo", 0.0, 0)
              for k, (i, s) in enumerate(clients)]
    used = {97.3 + sign * i: s for i, s in consumed.items()}
    got = _l2_side(pxs, list(sizes), orders, n, used, bids)
    want = _old_l2_side(pxs, list(sizes), orders, n, used, bids)
    assert [tuple(map(float.hex, map(float, row))) for row in got] == \
        [tuple(map(float.hex, map(float, row))) for row in want]


@settings(max_examples=40, deadline=None)
@_plans()
def test_a_modify_is_the_old_one(seed, plan, params, usdc):
    """(By oid and by cloid, of orders resting, gone, the other user's, on another coin; always placing or not.)"""
    plan = _opening(seed) + plan
    ours = run_session(seed, plan, params, usdc)
    theirs = run_session(seed, plan, params, usdc, old=("_modify",))
    assert ours == theirs


@pytest.mark.parametrize("seed", range(4))
def test_a_modify_of_another_user_s_order_or_on_another_coin_is_the_old_one(seed):
    """Modifies the random plans reach seldom: of the other user's resting orders (by oid; by cloid, which finds
    none of the user's), and of the user's own resting orders under a spec on another coin."""
    plan = _opening(seed) + [(0.0, "place", 5 + k, k % 2 == 0, 2, 1) for k in range(6)] \
        + [(0.0, "taker_rest", 5 + k, k % 2 == 0, 2, 1) for k in range(6)] \
        + [(0.05, "modify_other", away, True, 2, n) for away in range(8) for n in (1, 2, 4, 5)]
    ours = run_session(seed, plan, "plain", 5000.0)
    assert ours == run_session(seed, plan, "plain", 5000.0, old=("_modify",))
    assert ours[2]["ModifyCanceledOrFilled"] > 10


@settings(max_examples=30, deadline=None)
@_plans()
def test_the_bbo_feed_is_the_old_one(seed, plan, params, usdc):
    """(The maker's socket subscribes to bbo: every top the feed makes, pushed when it differs from the last.)"""
    plan = _opening(seed) + plan
    ours = run_session(seed, plan, params, usdc)
    theirs = run_session(seed, plan, params, usdc, old=("_run_bbo_feed",))
    assert ours == theirs
    assert any(type(p) is BboPush for _, _, kind, p in theirs[0])


@settings(max_examples=30, deadline=None)
@_plans()
def test_a_push_s_way_is_the_old_one(seed, plan, params, usdc):
    """(Prints, fills, book and bbo pushes, each with its own latency draw and queue entry, between order updates.)"""
    plan = _opening(seed) + plan
    ours = run_session(seed, plan, params, usdc)
    theirs = run_session(seed, plan, params, usdc, old=("_publish",))
    assert ours == theirs
