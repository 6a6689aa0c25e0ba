"""``TwinGateway``: the Gateway over the in-process twin (SimPy time).

A thin adapter: commands become the twin's action objects, the twin's replies and pushes become
gateway events. It behaves as the live gateway does where the venue leaves the client in the
dark: a request that fails in transport produces no event (the agent's timeout and a snapshot
resolve it), and a dropped socket must be resubscribed; after it is, the fills made while it was
down are recovered (the snapshot push on resubscribe, then userFillsByTime) and each delivered once; so are the
hourly funding payments (userFundings: its snapshot on resubscribe holds those settled while it was down).
"""
from __future__ import annotations

import math
from operator import attrgetter, itemgetter
from typing import Callable

from agent.gateway.base import (
    CommandRouter, EventSink, KnownCancels, QuotaPollBackoff, RecentOrders, action_ttl, cancel_actions, in_actions,
    listed_oid, order_name, schedule_cancel_late_ts,
)
from agent.gateway.fills import FillDelivery, fill_key
from agent.gateway.fundings import FundingDelivery
from agent.gateway.events import (
    FOR_CANCEL_ALL, FOR_SNAPSHOT, AccountChangedByVenue, AccountSnapshot, BboUpdated, BookUpdated, CancelAcknowledged,
    CancelOrder, CancelRejected, ConnectionLost, ConnectionRestored, FillReceived, FundingPaid, IpWeightSpent,
    ModifyAcknowledged, ModifyOrder, ModifyRejected, OpenOrder, OrderAcknowledged, OrderClosedByVenue, OrderRejected,
    PlaceOrder, QuotaStatus, RateLimited, Reason, ScheduleCancelAcknowledged, ScheduleCancelCleared,
    ScheduleCancelRefused, ScheduleCancelUnanswered, Side, Tif, TradeObserved,
)
from agent.execution.weights import (
    EXPIRED_COST, INFO_WEIGHT, LISTED_CANCELS, items_weight, pages_weight, snapshot_weight,
)
from agent.gateway.reasons import classify
from twin.calls import call_later, start_loop
from twin.exchange import FILLS_PER_REPLY, Exchange
from twin.messages import (
    ActionErr, ActionOk, BboPush, BookPush, CancelAction, CancelByCloidAction, ConnectionEvent, Filled, FillInfo,
    FillsPush, FundingPush, HttpError, ModifyAction, OrderAction, OrderSpec, OrderUpdatePush, Resting,
    ScheduleCancelAction, StatusError, TradePush, TradesSnapshot, TransportFailure, UserEventPush,
    fill_hash,
)

VENUE_CLOSE_STATUSES = frozenset({
    "marginCanceled", "reduceOnlyCanceled", "scheduledCancel", "liquidatedCanceled", "selfTradeCanceled",
    "openInterestCapCanceled", "vaultWithdrawalCanceled", "siblingFilledCanceled", "delistedCanceled",
})
FILL_PAGE = FILLS_PER_REPLY  # rows in a full userFillsByTime reply (the twin's cap): ask again from its newest time
FILL_PAGES = 5  # the venue keeps only the newest 10000 fills
RECOVERY_RETRY_S = 1.0  # wait before asking again when the recovery query failed
RECOVERY_ATTEMPTS = 8
_TIF_WIRE = {t: t.value for t in Tif}  # (a dict lookup: an enum's .value is a slow property, asked per order)
_PX_SZ = itemgetter(0, 1)  # a book level's (px, sz) of the venue's (px, sz, n): a C-level call per level
# a command's cloid, a modify's (cloid, new_cloid): an action's, by C-level calls, where a comprehension was a function
# called, and a frame, for each action
_CLOID = attrgetter("cloid")
_CLOID_NEW = attrgetter("cloid", "new_cloid")
# (an enum member read through its class is a descriptor call, some 140 ns: every print and fill and order names one)
_BUY, _SELL = Side.BUY, Side.SELL
_NAN = math.nan  # (a global, not math's attribute: a bbo push with a side empty)
_NO_LEVEL = (_NAN,)  # (a bbo push's side with none, read as a level whose price is nan)
# the events and actions made for every push, order and answer, by their classes' ``make`` (common.message: the same
# message without the class call's cost, some 900 machine instructions each)
_new_bbo_updated, _new_trade_observed, _new_book_updated = BboUpdated.make, TradeObserved.make, BookUpdated.make
_new_fill_received, _new_order_spec, _new_order_action = FillReceived.make, OrderSpec.make, OrderAction.make
_new_modify_action, _new_cancel_by_cloid = ModifyAction.make, CancelByCloidAction.make
_new_order_acknowledged, _new_modify_acknowledged = OrderAcknowledged.make, ModifyAcknowledged.make
_new_modify_rejected, _new_cancel_acknowledged, _new_cancel_rejected = (ModifyRejected.make, CancelAcknowledged.make,
                                                                       CancelRejected.make)


class TwinGateway(CommandRouter):
    """Gateway to an in-process ``Exchange`` for one account and one coin."""

    def __init__(self, exchange: Exchange, user: str, coin: str, quota_poll_s: float = 10.0,
                 action_ttl_s: float = 5.0, bbo: bool = False) -> None:
        self.ex = exchange
        self._env = exchange.env
        self.bbo = bbo  # also the bbo channel (session.bbo_feed)
        self.user = user.lower()
        self.coin = coin
        self._dex = exchange.instruments[coin].dex if coin in exchange.instruments else ""
        self.quota_poll_s = quota_poll_s
        self._quota_polls = QuotaPollBackoff(quota_poll_s)
        self._quota_retrying = False  # a poll sent again sooner (QuotaPollBackoff) is scheduled
        # every action carries expiresAfter = now + ttl, so an order not at the venue after the
        # ttl never will be: the agent can then trust a snapshot that does not list it
        self.action_ttl_s = action_ttl(action_ttl_s)  # (None, no expiresAfter, refused: base.action_ttl says why)
        self.sink: EventSink | None = None
        self.conn = None
        self._frame_ts = -math.inf  # when the socket's last frame arrived (BookUpdated.after_frame_s)
        self.open_oids: dict[str, int] = {}  # cloid -> oid of orders the venue says are open
        self._watermarks: list[tuple[int, int]] = []  # (state time ms, newest fill's id in it), recent ones
        self._fills_since_ms = 0
        self.fills = FillDelivery()  # which fills the agent has been given (each once, history never)
        self.fundings = FundingDelivery()  # and which funding payments
        self._started_ms = 0
        self._sides = RecentOrders(100_000)  # a modify may not say its side
        self._setting: tuple[float, bool] | None = None  # the user's leverage on the coin, and isolated (_margin_of)
        self.counters = {"requests": 0, "request_items": 0, "rate_limited_ip": 0, "rate_limited_address": 0,
                         "transport_failures": 0, "disconnects": 0, "reconnects": 0, "malformed": 0,
                         "liquidations": 0}

    @property
    def stats(self) -> dict:
        out = dict(self.counters)
        out.update(self.fills.counters)
        out.update(self.fundings.counters)
        return out

    def _now(self) -> float:
        return self.ex.env._now  # (the attribute behind the property: asked for every push)

    # ------------------------------------------------------------------ lifecycle

    def start(self, sink: EventSink) -> None:
        self.sink = sink
        self._started_ms = self.fundings.start_ms = self.ex.now_ms()
        self.conn = self.ex.connect(self._on_push)
        self._subscribe()
        if self.quota_poll_s > 0:
            start_loop(self.ex.env, self._poll_quota())  # (env.process's queue entries, without a Process)

    def _subscribe(self) -> None:
        self.conn.subscribe("l2Book", self.coin)
        if self.bbo:
            self.conn.subscribe("bbo", self.coin)
        self.conn.subscribe("trades", self.coin)
        self.conn.subscribe("userFills", self.user)
        self.conn.subscribe("orderUpdates", self.user)
        self.conn.subscribe("userFundings", self.user)  # its snapshot on a resubscribe recovers what an outage missed
        # not userEvents: it repeats every fill (as the venue's does), a second push per fill for a
        # liquidation notice whose fill already comes on userFills (the account audit catches the rest);
        # a UserEventPush that does arrive is translated all the same (_on_push)

    def _poll_quota(self):
        # at the regular period from the start, whatever the replies' times (a live gateway's polls leave the period
        # after each reply); until the first report, one that brought none is sent again sooner (_retry_quota_poll),
        # and while such a retry is scheduled it stands for the regular poll
        while True:
            if not self._quota_retrying:
                self._query_quota()
            yield self.quota_poll_s  # (start_loop waits it)

    def _query_quota(self) -> None:
        sent = self._now()

        def done(reply) -> None:
            if isinstance(reply, dict):
                self._quota_polls.wait_after(True)
                self.sink(QuotaStatus(self._now(), int(reply["nRequestsUsed"]), int(reply["nRequestsCap"]),
                                      float(reply["cumVlm"]), sent))
            else:
                self._transport_or_429(reply, "userRateLimit", ())
                self._retry_quota_poll()
        self.ex.request_info("userRateLimit", done, self.conn, user=self.user)
        # as the live gateway tells its polls, a 429'd one too (agent.execution.weights: the twin charges it nothing,
        # the venue's documents do not say)
        self.sink(IpWeightSpent(sent, INFO_WEIGHT, "userRateLimit"))

    def _retry_quota_poll(self) -> None:
        """A poll that brought no report, before the first: sent again after QuotaPollBackoff's wait, unless a retry
        is already scheduled (one chain of them: a regular poll answered the same would start a second)."""
        if self._quota_polls.reported or self._quota_retrying:
            return
        wait = self._quota_polls.wait_after(False)

        def again() -> None:
            self._quota_retrying = False
            if not self._quota_polls.reported:
                self._query_quota()
        self._quota_retrying = True
        call_later(self.ex.env, wait, again)

    # ------------------------------------------------------------------ commands

    # send() is CommandRouter's: the _send_* methods are its handlers
    def _send_schedule_cancel(self, at_ts: float | None, sent_ts: float | None = None) -> None:
        # one at a time (CommandRouter._route_schedule_cancel): the twin's REST requests overtake one another as the
        # venue's may, and an arm overtaking the clear sent after it left the switch armed
        def done(reply) -> None:
            self._schedule_cancel_answered(reply, at_ts, sent_ts)
            then = self._schedule_cancel_done()
            if then is not None:
                self._send_schedule_cancel(*then)
        self._submit(ScheduleCancelAction(at_ts), done, 1)

    def _schedule_cancel_answered(self, reply, at_ts: float | None, sent_ts: float | None) -> None:
        """As HyperliquidGateway tells them: an arm or a clear taken, refused (for the quota RateLimited, naming it
        likewise), or unanswered (lost in transport, a 5xx: the twin never delivers one it lost, but a real client
        cannot know that, and the core is told as a live one would be)."""
        at = math.nan if at_ts is None else at_ts
        sent = math.nan if sent_ts is None else sent_ts
        if isinstance(reply, ActionOk):
            self.sink(ScheduleCancelAcknowledged(self._now(), at_ts) if at_ts is not None else
                      ScheduleCancelCleared(self._now(), sent))
        elif isinstance(reply, ActionErr):
            if classify(reply.message) is Reason.RATE_LIMITED:
                self.counters["rate_limited_address"] += 1  # the summary's rate_limited.address, as for an order
                self.sink(RateLimited(self._now(), "address", "scheduleCancel", reply.message, at_ts=at, sent_ts=sent))
            else:
                if classify(reply.message) is Reason.EXPIRED:
                    self.sink(IpWeightSpent(self._now(), 0, "scheduleCancel (expired)", EXPIRED_COST - 1))
                self.sink(ScheduleCancelRefused(self._now(), at, sent, classify(reply.message), reply.message))
        elif isinstance(reply, HttpError) and reply.status == 429:
            self.counters["rate_limited_ip"] += 1
            self.sink(RateLimited(self._now(), "ip", "scheduleCancel", "HTTP 429", at_ts=at, sent_ts=sent))
        elif isinstance(reply, TransportFailure) or (isinstance(reply, HttpError) and reply.status >= 500):
            self._transport_or_429(reply, "scheduleCancel", ())  # (counted as before)
            now = self._now()
            self.sink(ScheduleCancelUnanswered(now, at, sent, schedule_cancel_late_ts(now, self.action_ttl_s)))
        else:
            self._check_default(reply, "scheduleCancel")

    def _submit(self, action, on_reply: Callable, n: int) -> None:
        counters = self.counters
        counters["requests"] += 1
        counters["request_items"] += n
        # (the clock read as _on_push reads it, ``self._env._now``, on the commands' path: ``self._now()`` was a call
        # for each action and each answer)
        self.ex.submit(self.user, action, on_reply, self.conn, self._env._now + self.action_ttl_s)

    def _spec(self, c: PlaceOrder | ModifyOrder, cloid: str) -> OrderSpec:
        side = c.side
        if side is None:  # a modify that does not say: the side of the order it replaces
            side = self._sides.get(c.cloid)
            if side is None:
                raise ValueError(f"modify of {c.cloid}: side unknown (not placed through this gateway)")
        self._sides.remember(cloid, side)
        return _new_order_spec(self.coin, side is _BUY, c.px, c.sz, c.reduce_only, _TIF_WIRE[c.tif], cloid)

    def _send_places(self, places: list[PlaceOrder]) -> None:
        cloids = tuple(map(_CLOID, places))

        def done(reply) -> None:
            ts = self._env._now
            if isinstance(reply, ActionOk):
                for cloid, st in zip(cloids, reply.statuses):
                    if isinstance(st, Resting):  # (_order_status_event's first case written out: most answers)
                        self.open_oids[cloid] = st.oid
                        self.sink(_new_order_acknowledged(ts, cloid, st.oid, True))
                    else:
                        self.sink(self._order_status_event(ts, cloid, st))
            else:
                self._refused(reply, "order", cloids, OrderRejected)
        self._submit(_new_order_action(tuple([self._spec(p, p.cloid) for p in places])), done, len(places))

    def _order_status_event(self, ts: float, cloid: str, st):
        if isinstance(st, Resting):
            self.open_oids[cloid] = st.oid
            return OrderAcknowledged(ts, cloid, st.oid, True)
        if isinstance(st, Filled):
            return OrderAcknowledged(ts, cloid, st.oid, False, st.total_sz, st.avg_px)
        text = st.error if isinstance(st, StatusError) else str(st)
        return OrderRejected(ts, cloid, classify(text), text)

    def _send_cancels(self, cancels: list[CancelOrder], by_oid: bool,
                      then: Callable[[bool], None] | None = None) -> None:
        """One cancel action (the router's cut); ``then``, called once its answer is in, whatever it is, told whether
        it was refused for the address budget (a cancel-all lists what is left after its known orders' cancels, unless
        one was: ``KnownCancels``)."""
        cloids = tuple(map(_CLOID, cancels))

        def done(reply) -> None:
            ts = self._env._now
            if isinstance(reply, ActionOk):
                for cloid, st in zip(cloids, reply.statuses):
                    if st == "success":
                        self.open_oids.pop(cloid, None)
                        self.sink(_new_cancel_acknowledged(ts, cloid))
                    else:
                        text = st.error if isinstance(st, StatusError) else str(st)
                        self.sink(_new_cancel_rejected(ts, cloid, classify(text), text))
            else:
                self._refused(reply, "cancel", cloids, CancelRejected)
            if then is not None:
                then(isinstance(reply, ActionErr) and classify(reply.message) is Reason.RATE_LIMITED)
        coin = self.coin
        action = (CancelAction(tuple([(coin, listed_oid(c)) for c in cloids])) if by_oid
                  else _new_cancel_by_cloid(tuple([(coin, c) for c in cloids])))
        self._submit(action, done, len(cloids))

    def _send_modifies(self, modifies: list[ModifyOrder]) -> None:
        pairs = tuple(map(_CLOID_NEW, modifies))

        def done(reply) -> None:
            ts = self._env._now
            if isinstance(reply, ActionOk):
                for (old, new), st in zip(pairs, reply.statuses):
                    # (a status's type tested once for each case, where resting, the most, was tested three times)
                    if isinstance(st, Resting):
                        self.open_oids.pop(old, None)
                        self.open_oids[new] = st.oid
                        self.sink(_new_modify_acknowledged(ts, old, new, st.oid, True))
                    elif isinstance(st, Filled):
                        self.open_oids.pop(old, None)
                        self.sink(_new_modify_acknowledged(ts, old, new, st.oid, False))
                    else:
                        text = st.error if isinstance(st, StatusError) else str(st)
                        self.sink(_new_modify_rejected(ts, old, new, classify(text), text))
            else:
                by_old = dict(pairs)
                self._refused(reply, "batchModify", tuple(by_old),
                              lambda at, cl, reason, msg, new=by_old: ModifyRejected(at, cl, new[cl], reason, msg),
                              tuple(by_old.values()))
        action = _new_modify_action(tuple([(m.cloid, self._spec(m, m.new_cloid)) for m in modifies]))
        self._submit(action, done, len(modifies))

    def _send_cancel_all(self, known: tuple[str, ...] = ()) -> None:
        """Cancel every order the venue lists as ours (asks the venue, so orders we never heard of go too), as
        HyperliquidGateway._cancel_all does: ``known``, those the core counts live, are cancelled first, at once, in
        the actions the router cuts (``cancel_actions``), and the listing (openOrders) goes once every one of them is
        answered, to cancel what is left (orders the core did not know of, known ones whose cancel was lost or
        refused), unless one was refused for the address budget (``KnownCancels``: past the cancels' limit the
        listing's cancels were refused too). The twin listed first until the live gateway stopped doing so: a paper
        run's Kill then pulled every quote a round trip later than a live one's, and its scenarios held stale bids
        beside a Kill's flatten a round trip longer than the venue would (scenarios/chaos_flatten_beside_stale_bids.
        yaml was made against that)."""
        def listed(reply) -> None:
            if not isinstance(reply, tuple):
                self._transport_or_429(reply, "openOrders", (), for_command=FOR_CANCEL_ALL)
                return
            rows = list({o.oid: order_name(o.cloid, o.oid) for o in reply if o.coin == self.coin}.items())
            for part in in_actions(rows):  # (a Kill's pull of 201 orders in one action was refused whole)
                self._cancel_listed(dict(part), told=bool(known))

        def listing() -> None:
            self.ex.request_info("openOrders", listed, self.conn, user=self.user)
        actions = cancel_actions([CancelOrder(c) for c in known])
        if not actions:
            listing()
            return
        leg = KnownCancels(len(actions))

        def answered(rate_limited: bool) -> None:
            if leg.answered(rate_limited) and not leg.lane_shut:  # (refused for the budget: no listing, KnownCancels)
                listing()
        for part, by_oid in actions:
            self._send_cancels(part, by_oid, answered)

    def _cancel_listed(self, by_oid: dict[int, str], told: bool = False) -> None:
        """One cancel action for listed orders (oid -> cloid, ``oid:N`` for one placed without: as a snapshot names
        it to the core, which counts it live until told it is gone). ``told``: the core is told its weight and items
        as it goes, as HyperliquidGateway._cancel_listed does (see there)."""
        if told:
            self.sink(IpWeightSpent(self._now(), items_weight(len(by_oid)), LISTED_CANCELS, len(by_oid),
                                    tuple(by_oid.values())))
        def done(r) -> None:
            ts = self._now()
            if isinstance(r, ActionOk):
                for cloid, st in zip(by_oid.values(), r.statuses):
                    if st == "success":
                        self.open_oids.pop(cloid, None)
                        self.sink(CancelAcknowledged(ts, cloid))
            else:
                self._refused(r, "cancel", tuple(by_oid.values()), CancelRejected)
        self._submit(CancelAction(tuple((self.coin, oid) for oid in by_oid)), done, len(by_oid))

    def _check_default(self, reply, what: str) -> None:
        if isinstance(reply, ActionErr):
            if classify(reply.message) is Reason.RATE_LIMITED:
                self.counters["rate_limited_address"] += 1  # the summary's rate_limited.address, as for an order
                self.sink(RateLimited(self._now(), "address", what, reply.message))
            else:
                self.sink(OrderRejected(self._now(), "", classify(reply.message), reply.message))
        elif not isinstance(reply, ActionOk):
            self._transport_or_429(reply, what, ())

    def _refused(self, reply, what: str, cloids: tuple[str, ...], make, new_cloids: tuple[str, ...] = ()) -> None:
        """A whole action refused: quota (address or IP) becomes RateLimited; anything else a rejection each,
        ``make(ts, cloid, reason, message)`` (an event class, or a function for a modify's, never a closure over the
        reply's time: a reply's ``done`` that made one made a cell for it at every reply, refused or not).
        ``new_cloids``: a modify's new orders, which the RateLimited names beside the old."""
        ts = self._env._now
        if isinstance(reply, ActionErr):
            reason = classify(reply.message)
            if reason is Reason.RATE_LIMITED:
                self.counters["rate_limited_address"] += 1
                self.sink(RateLimited(ts, "address", what, reply.message, cloids, new_cloids))
            else:
                if reason is Reason.EXPIRED:  # (the venue's 5x: the core counted the items once, as it sent them)
                    self.sink(IpWeightSpent(ts, 0, f"{what} (expired)", (EXPIRED_COST - 1) * len(cloids)))
                for cl in cloids:
                    self.sink(make(ts, cl, reason, reply.message))
        else:
            self._transport_or_429(reply, what, cloids, new_cloids)

    def _transport_or_429(self, reply, what: str, cloids: tuple[str, ...], new_cloids: tuple[str, ...] = (),
                          for_command: str = "") -> None:
        """``for_command``: an info request's command (RateLimited.for_command), as the live gateway's ``_info``."""
        if isinstance(reply, HttpError) and reply.status == 429:
            self.counters["rate_limited_ip"] += 1
            self.sink(RateLimited(self._now(), "ip", what, "HTTP 429", cloids, new_cloids, for_command=for_command))
        elif isinstance(reply, TransportFailure):
            self.counters["transport_failures"] += 1  # outcome unknown to a real client: no event
        else:
            self.counters["malformed"] += 1

    # ------------------------------------------------------------------ snapshot

    def _send_snapshot_request(self) -> None:
        """clearinghouseState first, then openOrders and userFillsByTime; one AccountSnapshot when all are back.

        The fills are asked for after the state arrived, so they include every fill in the state's
        position; the newest of those (by the state's time) is the snapshot's fill watermark. They are read
        to the end, page after page of 2000, as HyperliquidGateway reads them.
        """
        parts: dict[str, object] = {}
        requested = self._now()
        fills: dict[int, FillInfo] = {}  # by fill key: a page starts at the last one's newest ms, which it repeats
        rows: list[int] = []  # each request's rows (every coin's; 0 for one that failed): its IP weight

        def keep(page: tuple[FillInfo, ...]) -> None:
            for f in page:
                fills[fill_key(f.time_ms, f.tid)] = f

        def read(complete: bool) -> None:
            if complete:  # (else a fill may be missing, and the watermark below a fill in the position: none)
                got("userFills")(tuple(fills.items()))  # (each fill with its key: _emit_snapshot needs it twice)

        def got(name: str):
            def cb(reply) -> None:
                if isinstance(reply, (HttpError, TransportFailure)):
                    self._transport_or_429(reply, name, (), for_command=FOR_SNAPSHOT)
                    return
                parts[name] = reply
                if name == "clearinghouseState":
                    self.ex.request_info("openOrders", got("openOrders"), self.conn, user=self.user)
                    # only fills since the last snapshot's state (less a minute): few rows, each 20 of them 1 more IP
                    # weight
                    self._fill_pages(self._fills_since_ms, 1, keep, read, "userFills", rows,
                                     for_command=FOR_SNAPSHOT)
                elif len(parts) == 3:
                    self._emit_snapshot(parts["clearinghouseState"], parts["openOrders"], parts["userFills"],
                                        requested, snapshot_weight(rows))
            return cb
        self.ex.request_info("clearinghouseState", got("clearinghouseState"), self.conn, user=self.user,
                             dex=self._dex)  # the coin's dex: each margins apart

    def _emit_snapshot(self, state: dict, orders: tuple, fills: tuple, requested: float, ip_weight: int = 0) -> None:
        """The fills listed that the agent has not had go first, as from HyperliquidGateway: the snapshot's
        position holds them, and their pushes may come after it. ``fills``: (fill_key, FillInfo) pairs, the key
        made once as the pages were read (a snapshot lists the last minute's fills: each was keyed three times)."""
        # only the fills it has not had are made into events (a snapshot lists the last minute's fills, which it has
        # had nearly all of); and the newest fill in this state's position, from the same pass over them (a
        # comprehension and a generator each read them all, and the coin from the gateway for each)
        delivery = self.fills
        coin = self.coin
        t_state = state.get("time", 0)
        fresh = []
        newest = -1  # (a fill's key is never negative: fill_key)
        for key, f in fills:
            if f.coin == coin:
                if delivery.wanted_in_snapshot(f.time_ms, key):
                    fresh.append(f)
                if f.time_ms <= t_state and key > newest:
                    newest = key
        for ev in delivery.in_snapshot(self._timed_fills(fresh, self._env._now)):
            self.sink(ev)
        pos = next((p for p in state["assetPositions"] if p["coin"] == self.coin), None)
        opens = tuple(OpenOrder(order_name(o.cloid, o.oid), o.oid, Side.BUY if o.side == "B" else Side.SELL,
                                o.limit_px, o.sz, o.reduce_only) for o in orders if o.coin == self.coin)
        self.open_oids = {o.cloid: o.oid for o in opens}
        # the newest fill in this state's position: from the fills returned, or else the newest known
        # from an earlier state that is not later than this one (the window starts before it)
        earlier = max((w for t, w in self._watermarks if t <= t_state), default=0)
        watermark = newest if newest >= 0 else earlier
        self._watermarks.append((t_state, watermark))
        del self._watermarks[:-16]
        self._fills_since_ms = max(self._fills_since_ms, t_state - 60_000)  # a minute's overlap
        self.sink(AccountSnapshot(self._now(), pos["szi"] if pos else 0.0, pos["entryPx"] if pos else 0.0,
                                  state["accountValue"], state["marginUsed"], opens, watermark, requested, t_state,
                                  ip_weight, _liquidation_px(pos), *self._margin_of(pos, state),
                                  margin_tiers=self._margin_tiers()))

    def _margin_tiers(self) -> tuple[tuple[float, int], ...]:
        """The coin's margin tiers where it has several, as the live gateway reads them from meta (AssetInfo)."""
        inst = self.ex.instruments.get(self.coin)
        tiers = inst.tier_pairs if inst is not None else ()
        return tiers if len(tiers) > 1 else ()

    def _margin_of(self, pos: dict | None, state: dict) -> tuple:
        """The snapshot's margin (AccountSnapshot.max_leverage to raw_usd, which is left out where it is None): a
        position row's, kept, and a cross one's cross collateral and mark, or an isolated one's rawUsd (its price
        where the venue gives none: its own margin); with no row, the last one's setting (the venue keeps the user's
        leverage when a position closes) or, before any, the user's (activeAssetData: read once, as a live gateway
        does at its start), with the coin's meta and the cross collateral a position opened from flat is margined
        by."""
        cross = state.get("crossAccountValue", 0.0) - state.get("maintenanceMargin", 0.0)
        if pos:
            self._setting = float(pos["leverage"]), bool(pos["isolated"])
            if pos["isolated"]:
                return float(pos.get("maxLeverage", 0.0)), *self._setting, 0.0, 0.0, pos.get("rawUsd")
            return (float(pos.get("maxLeverage", 0.0)), *self._setting, cross,
                    pos.get("positionValue", 0.0) / abs(pos["szi"]))
        inst = self.ex.instruments.get(self.coin)
        if inst is None:
            return 0.0, 0.0, False, 0.0, 0.0
        if self._setting is None:
            asset = self.ex.active_asset_data(self.user, self.coin)
            self._setting = float(asset.leverage), asset.isolated
        return float(inst.max_leverage), *self._setting, cross, 0.0

    # ------------------------------------------------------------------ pushes

    def _on_push(self, push) -> None:
        ts = self._env._now  # (_now inlined: every push passes here)
        # (the channels tested most frequent first, as a stress session's pushes come: bbo at nearly every block,
        # then trades, order updates, fills and books, a trades snapshot (only with a snapshot size, once a
        # subscription) last; the push types are distinct classes, none another's subclass, so the order is only the
        # cost: tests/agent/test_twin_gateway.py holds them to it. Each branch notes the frame's time first, before
        # anything it calls, as one store ahead of them all did: the book's reads the time it replaces, the gap, where
        # every push read it into a name; and ``self.sink`` is called where it was read into a name at every push:
        # 6 bytecodes a push fewer, and 3 an order update that closes nothing, its order read only by those that do)
        if isinstance(push, BboPush):  # (only sessions with session.bbo_feed get one)
            self._frame_ts = ts
            if push.coin == self.coin:
                # (a side with none is nan: ``or`` a row of nan, 4 bytecodes a side where ``if ... else`` ran 7)
                self.sink(_new_bbo_updated(ts, push.coin, (push.bid or _NO_LEVEL)[0], (push.ask or _NO_LEVEL)[0],
                                           push.time_ms))
        elif isinstance(push, TradePush):
            self._frame_ts = ts
            self.sink(_new_trade_observed(ts, push.coin, push.px, push.sz, _BUY if push.side == "B" else _SELL,
                                          fill_key(push.time_ms, push.tid), fill_hash(push.taker_oid)))
        elif isinstance(push, OrderUpdatePush):
            self._frame_ts = ts
            for u in push.updates:
                if u.status in VENUE_CLOSE_STATUSES:
                    o = u.order
                    cloid = order_name(o.cloid, o.oid)
                    self.open_oids.pop(cloid, None)
                    self.sink(OrderClosedByVenue(ts, cloid, o.oid, u.status))
                elif u.status == "filled" and u.order.cloid:
                    self.open_oids.pop(u.order.cloid, None)
        elif isinstance(push, FillsPush):
            self._frame_ts = ts
            fills = self._timed_fills(push.fills, ts)
            if push.is_snapshot:
                new = self.fills.on_snapshot(fills, max((f.time_ms for f in push.fills), default=0))
            else:
                new = self.fills.live(fills)
            for ev in new:
                self.sink(ev)
        elif isinstance(push, BookPush):
            before, self._frame_ts = self._frame_ts, ts
            self.sink(_new_book_updated(ts, push.coin, tuple(map(_PX_SZ, push.bids)), tuple(map(_PX_SZ, push.asks)),
                                        push.time_ms, ts - before))
        else:  # (the channels that come seldom, and a push of none: malformed)
            self._frame_ts = ts
            if isinstance(push, FundingPush):
                self._on_funding_push(push, ts, self.sink)
            elif isinstance(push, UserEventPush):
                if push.kind == "liquidation":
                    self.counters["liquidations"] += 1
                    self.sink(AccountChangedByVenue(ts, "liquidation", repr(push.data)))
            elif isinstance(push, TradesSnapshot):  # (VenueParams.trades_snapshot_size: each print, as it came)
                for t in push.trades:
                    self.sink(TradeObserved(ts, t.coin, t.px, t.sz, _BUY if t.side == "B" else _SELL,
                                            fill_key(t.time_ms, t.tid), fill_hash(t.taker_oid)))
            elif isinstance(push, ConnectionEvent):
                self._frame_ts = -math.inf  # (a socket of its own: nothing to wait behind)
                if push.up:
                    self.counters["reconnects"] += 1
                    self._subscribe()
                    self.sink(ConnectionRestored(ts, "ws"))
                    self._recover_fills(self.fills.since_ms(self._started_ms), RECOVERY_ATTEMPTS)
                else:
                    self.counters["disconnects"] += 1
                    self.sink(ConnectionLost(ts, "ws"))
            else:
                self.counters["malformed"] += 1

    def _on_funding_push(self, push: FundingPush, ts: float, sink: EventSink) -> None:
        """_on_push's for the hourly payments: apart, as its comprehension, a closure over ``self`` and ``ts``, made
        _on_push make a cell for each at every push (a stress session's 1,560 a minute)."""
        payments = [FundingPaid(ts, f.coin, f.usdc, f.szi, f.rate, f.time_ms) for f in push.fundings
                    if f.coin == self.coin]
        for ev in (self.fundings.recovered(payments) if push.is_snapshot else self.fundings.live(payments)):
            sink(ev)

    def _timed_fills(self, fills: tuple[FillInfo, ...], ts: float) -> list[tuple[int, FillReceived]]:
        # (a loop, not a comprehension: one, a closure over ``self`` and ``ts``, made two cells, a function and a
        # frame at every fills push, which holds one fill or two)
        coin = self.coin
        out = []
        for f in fills:
            if f.coin == coin:
                out.append((f.time_ms, _new_fill_received(ts, order_name(f.cloid, f.oid), f.oid, f.px, f.sz,
                                                          _BUY if f.side == "B" else _SELL, f.fee, not f.crossed,
                                                          fill_key(f.time_ms, f.tid), f.closed_pnl,
                                                          f.start_position)))
        return out

    # ------------------------------------------------------------------ fills missed while the socket was down

    def _recover_fills(self, start_ms: int, attempts: int) -> None:
        """Every fill since ``start_ms`` by userFillsByTime (oldest first, pages of 2000), delivered unless
        already given: covers a snapshot push lost with the socket, or shorter than the outage."""
        rows: list[int] = []  # each request's rows (0 for one that failed): the IP weight told the core at the end

        def deliver(page: tuple[FillInfo, ...]) -> None:
            for ev in self.fills.recovered(self._timed_fills(page, self._now())):
                self.sink(ev)

        def spent(complete: bool) -> None:
            if rows:
                self.sink(IpWeightSpent(self._now(), pages_weight(rows), "userFillsByTime"))
        self._fill_pages(start_ms, attempts, deliver, spent, "userFillsByTime", rows)

    def _fill_pages(self, start_ms: int, attempts: int, on_page: Callable[[tuple[FillInfo, ...]], None],
                    on_end: Callable[[bool], None], what: str, rows: list[int], pages: int = FILL_PAGES,
                    for_command: str = "") -> None:
        """Every fill from ``start_ms`` (ms, inclusive) on, by userFillsByTime page by page, as
        HyperliquidGateway._fill_pages reads them: each page's rows to ``on_page``, then ``on_end(True)`` after a
        short page (nothing after it), or ``on_end(False)`` when a page failed ``attempts`` times in all (a 429 is
        RateLimited ``what``) or ``pages`` full pages did not reach a short one. A page starts at its predecessor's
        newest ms (its fills of that ms come again: the callers tell them apart by fill key). ``rows``: each request's
        rows are appended to it, 0 for one that failed (its IP weight: ``agent.execution.weights``). ``for_command``:
        the command they are read for, which a refusal names (a snapshot's: RateLimited.for_command)."""
        def done(reply) -> None:
            if not isinstance(reply, tuple):
                self._transport_or_429(reply, what, (), for_command=for_command)
                rows.append(0)  # a request sent is weighed, whatever its answer (weights.py: a 429's, not known)
                if attempts > 1:
                    self.ex.env.process(self._retry_fill_pages(start_ms, attempts - 1, on_page, on_end, what, rows,
                                                               pages, for_command))
                else:
                    on_end(False)
                return
            rows.append(len(reply))
            on_page(reply)
            if len(reply) < FILL_PAGE:
                on_end(True)
            elif pages <= 1:
                on_end(False)
            else:
                newest = max(f.time_ms for f in reply)
                self._fill_pages(newest if newest > start_ms else start_ms + 1, attempts, on_page, on_end, what,
                                 rows, pages - 1, for_command)
        self.ex.request_info("userFillsByTime", done, self.conn, user=self.user, startTime=start_ms)

    def _retry_fill_pages(self, start_ms: int, attempts: int, on_page, on_end, what: str, rows: list[int],
                          pages: int, for_command: str = ""):
        yield self.ex.env.timeout(RECOVERY_RETRY_S)
        self._fill_pages(start_ms, attempts, on_page, on_end, what, rows, pages, for_command)


def _liquidation_px(pos: dict | None) -> float:
    """A clearinghouseState position row's liquidationPx as the snapshot carries it: 0.0 for no position or the
    venue's null (no positive price liquidates it)."""
    px = pos.get("liquidationPx") if pos else None
    return 0.0 if px is None else float(px)
