"""The order lifecycle: one state machine per client order id, and in-flight-aware exposure.

Every command the core sends is recorded here (``on_command``) before the core handles anything
else (a quote cycle's just after they leave, the rest before), so an order counts against the
position limit from the moment it is sent, not from its acknowledgement.
``worst_case_position`` = position + every same-side order that could still fill (pending,
resting, pending cancel or modify, stale): the Feb 10 incident was limits checked against the
filled position only.

The venue is the truth: an account snapshot overrides what the tracker believes.
"""
from __future__ import annotations

import math
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Container
from itertools import count, filterfalse
from enum import Enum

from agent.gateway.events import (
    AccountSnapshot, Batch, CancelAcknowledged, CancelAll, CancelOrder, CancelRejected, FillReceived, MODIFY_REQUESTS,
    ModifyAcknowledged, ModifyOrder, ModifyRejected, OrderAcknowledged, OrderClosedByVenue, OrderRejected,
    PlaceOrder, RateLimited, Reason, RequestAccountSnapshot, Side, Tif,
)
from agent.gateway.reasons import MODIFY_NEW_ORDER_FAILED


class OrderState(str, Enum):
    PENDING_NEW = "pending_new"
    RESTING = "resting"
    PARTIALLY_FILLED = "partially_filled"
    PENDING_CANCEL = "pending_cancel"
    PENDING_MODIFY = "pending_modify"
    STALE = "stale"  # no acknowledgement in time: outcome unknown until a snapshot says
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"


TERMINAL = frozenset({OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED})
AWAITING_ACK = frozenset({OrderState.PENDING_NEW, OrderState.PENDING_CANCEL, OrderState.PENDING_MODIFY})
EPS = 1e-12
# fill tids remembered to ignore a fill given twice: the newest this many (a live run of days would
# otherwise keep every tid it ever saw; the gateways' own filters keep as many)
SEEN_TIDS_KEEP = 100_000
# A reduce-only refusal on a side whose last refusal a snapshot found unexplained (the venue held a position that side
# reduces): its snapshot is asked RO_DOUBT_FIRST_S after it, doubling with each such refusal in a row up to
# RO_DOUBT_MAX_S; one more than RO_DOUBT_KEEP_S after the last is asked for at once again (OrderTracker.ro_doubt)
RO_DOUBT_FIRST_S = 1.0
RO_DOUBT_MAX_S = 8.0
RO_DOUBT_KEEP_S = 60.0
# members as module constants: an Enum class attribute lookup costs several times a global's
_PENDING_NEW = OrderState.PENDING_NEW
_PENDING_CANCEL = OrderState.PENDING_CANCEL
_PENDING_MODIFY = OrderState.PENDING_MODIFY
_RESTING = OrderState.RESTING
_PARTIALLY_FILLED = OrderState.PARTIALLY_FILLED
_STALE = OrderState.STALE
_BUY = Side.BUY
_SELL = Side.SELL
_REDUCE_ONLY = Reason.REDUCE_ONLY
# the live orders reconcile may keep as they are (OrderTracker.keep): acknowledged or on their way, and a place gone
# stale unanswered (it may still rest where it was sent); one with a cancel or modify out, or stale after one, is not
_RESTS = (OrderState.RESTING, OrderState.PARTIALLY_FILLED)
_KEEPABLE = frozenset({OrderState.PENDING_NEW, OrderState.RESTING, OrderState.PARTIALLY_FILLED})


class CloidFactory:
    """Deterministic venue cloids: ``0x`` + 8 hex digits of prefix + 24 of a counter, never one in ``taken``
    (the tracker's orders: one listed by the venue, left by an earlier run, keeps its cloid, and issued again
    the new order would take its place in the tracker, which would lose count of an order that can still
    fill). Live runs take a prefix of their own (``agent.live.run_cloid_prefix``); this is the guard for any
    listed order the counter reaches all the same."""

    __slots__ = ("prefix", "next")

    def __init__(self, prefix: int = 1, taken: Container[str] = ()) -> None:
        self.prefix = prefix & 0xFFFFFFFF
        # ``next()``: the counter from 1, formatted (the prefix formatted once), past every cloid ``taken`` holds when
        # it is asked (filterfalse asks as it reaches each one): an iterator's __next__, all in C. As a method it ran
        # some 15 bytecodes for every command a cycle sends, ten modifies a commanding cycle at 10 Hz
        self.next: Callable[[], str] = filterfalse(taken.__contains__,
                                                   map(f"0x{self.prefix:08x}%024x".__mod__, count(1))).__next__


class TrackedOrder:
    __slots__ = ("cloid", "oid", "side", "px", "sz", "filled_sz", "reduce_only", "tif", "state", "sent_ts",
                 "last_update_ts", "replaces", "replaced_by", "prev_state", "foreign", "presumed_gone",
                 "acked_ts", "counted", "placed_sz", "pool", "lu_before_cancel", "cancel_found_nothing")

    def __init__(self, cloid: str, side: Side, px: float, sz: float, reduce_only: bool, tif: Tif, ts: float,
                 state: OrderState = OrderState.PENDING_NEW) -> None:
        self.cloid = cloid
        self.oid = 0
        self.side = side
        self.px = px
        self.sz = sz
        self.filled_sz = 0.0
        self.reduce_only = reduce_only
        self.tif = tif
        self.state = state
        self.sent_ts = ts
        self.last_update_ts = ts
        # its last_update_ts when a cancel was last sent: a refused cancel puts it back with the state it had, so a
        # place or modify still unanswered is timed from its own send again, not the cancel's
        self.lu_before_cancel = ts
        self.replaces: str | None = None
        self.replaced_by: str | None = None
        self.prev_state = state
        self.foreign = False
        self.presumed_gone = False  # ended because a snapshot did not list it (a late ack revives it)
        self.acked_ts = -1.0  # when we learned the venue had it (an ack, a fill, or a listing)
        self.counted = 0.0  # what the tracker's running exposure holds for it (its remaining size while live)
        # the size it was sent with: the most its fills can sum to (``sz`` may be re-read from a listing since)
        self.placed_sz = sz
        self.pool: list | None = None  # the tracker's keep list it is in (OrderTracker.keep), if any
        # its last cancel (or a modify's cancel leg) came back "never placed, already canceled, or filled"
        # (cancel_answered, of a cancel), not timed out. Read while it is stale (every way into stale sets or clears it,
        # but a refused cancel's, which puts back the stale it was): gone at the venue, a late fill leaves it stale
        self.cancel_found_nothing = False

    @property
    def remaining(self) -> float:
        return max(0.0, self.sz - self.filled_sz)

    @property
    def live(self) -> bool:
        return self.state not in TERMINAL

    @property
    def cancel_answered(self) -> bool:
        """Its cancel came back "never placed, already canceled, or filled": gone at the venue (cancelled, or filled
        with the fills on their way), counted until a snapshot says which. Another cancel can only be answered so.
        Not a cancel that timed out, stale after a cancel too: no answer came, and the order may still rest (the
        cancel lost on its way, or expired at the venue unread); asked again, it is pulled, or answered so."""
        return self.state is _STALE and self.prev_state is _PENDING_CANCEL and self.cancel_found_nothing

    @property
    def gone_at_venue(self) -> bool:
        """Its cancel answered so (``cancel_answered``) when the venue had acknowledged it before: it rested, and
        is gone (cancelled, or filled with the fills on their way). A cancel sent before its place was answered may
        have overtaken the place, which may land and rest after it: not gone (its ack, when it comes, revives it)."""
        return self.acked_ts >= 0.0 and self.cancel_answered

    def __repr__(self) -> str:
        return (f"TrackedOrder({self.cloid[-6:]}, {self.side.name}, {self.px}, {self.remaining}/{self.sz}, "
                f"{self.state.value})")


class OrderTracker:
    """All orders by cloid, the position from fills, and counters for the summary."""

    __slots__ = ("orders", "position", "seen_tids", "rejections_by_reason", "fills_after_terminal", "live_set",
                 "snapshot_requested_ts", "ack_grace_s", "needs_snapshot", "tid_watermark", "recent_fills",
                 "settling", "settle_s", "now", "settling_total", "feed_ts",
                 "snapshot_venue_ms", "version", "_ended", "_exp_buy", "_exp_sell", "snapshots", "foreign_late",
                 "overfills", "_overfill_ts", "overfill_untold", "keep", "ro_live", "_await_lu", "_stale_lu",
                 "ro_refused", "ro_doubt", "ro_ask")

    def __init__(self) -> None:
        self.orders: dict[str, TrackedOrder] = {}
        self.live_set: dict[str, TrackedOrder] = {}
        self.position = 0.0
        self.seen_tids: OrderedDict[int, None] = OrderedDict()  # the newest SEEN_TIDS_KEEP, oldest first
        self.rejections_by_reason: Counter[str] = Counter()
        self.fills_after_terminal = 0
        # fills that took an order's fills past its size (a venue's or a gateway's error: one fill given twice under
        # two ids, say): their excess is not booked, and a snapshot is asked for (the venue's position decides)
        self.overfills = 0
        self._overfill_ts = -math.inf  # when the last came: only a snapshot asked for after it settles it
        # no snapshot asked for after the last overfill has come yet: what the core's settling of the excess waits for
        # (Ledger.settle_excess), apart from needs_snapshot, which a side's reduce-only refusal sets too (ro_refused).
        # Read as needs_snapshot, an overfill whose snapshot had come was left for one more, when a refusal came after
        # that snapshot was asked for
        self.overfill_untold = False
        self.snapshot_requested_ts = 0.0
        self.ack_grace_s = 5.0
        self.needs_snapshot = False  # set when only the venue's account state can resolve an order
        # fills up to this id are already in the last snapshot's position (ids are fill_key: time, then the venue's
        # tid, which alone is a hash in no order)
        self.tid_watermark = 0
        self.recent_fills: dict[int, float] = {}  # tid -> signed size of fills above the watermark
        self.snapshot_venue_ms = 0  # venue time of the last snapshot applied
        self.snapshots = 0  # snapshots applied
        # orders we did not place that a snapshot after the first listed (placed meanwhile by another client or by
        # hand, or ours long forgotten and still resting), until the core has read them
        self.foreign_late: list[TrackedOrder] = []
        self.version = 0  # bumped by every command and order event: "did anything change?"
        # cancelled orders whose earlier fills may still be on the (slower) fill stream: they keep
        # counting as exposure for settle_s after the cancel, or until a snapshot covers them
        self.settling: dict[str, tuple[float, TrackedOrder, float]] = {}  # cloid -> (until, order, counted)
        self.settling_total = {Side.BUY: 0.0, Side.SELL: 0.0}
        self.settle_s = 1.0
        # when the newest book the feed has brought was made, on this clock (inf: not known). A socket delivers in
        # order, so once it shows a book made after a cancel was answered, every fill from before the cancel has
        # come: until then a cancelled order keeps counting, however long settle_s has run. On the timer alone,
        # a fill push lagging 1.4 s behind its cancel's answer came after a full-size bid went out at the limit.
        self.feed_ts = math.inf
        self.now = 0.0
        self._ended: deque[tuple[float, str]] = deque()  # (ts, cloid) in the order orders ended: prune's queue
        # running Σ remaining of live orders per side, kept by _recount at every change of an order's
        # size, fills or liveness: exposure is asked on every quote cycle, and summing a dozen orders
        # there cost more than keeping the sums. A modify's two legs both count until it is answered:
        # the old can fill before it lands, and the new order's size is not reduced by those fills.
        self._exp_buy = 0.0
        self._exp_sell = 0.0
        # the live orders reconcile may keep (_KEEPABLE, or a place stale unanswered), per (reduce-only, side):
        # [buys, sells, reduce-only buys, reduce-only sells], each in live order; kept as orders change, on every
        # quote cycle reconcile read them off the whole live set. None: to be made again (keep_lists), after a
        # change rare enough not to be worth following (a cancel refused puts its order back mid-list)
        self.keep: list[list[TrackedOrder]] | None = [[], [], [], []]
        # the live reduce-only orders per side, in live order: what reduce-only quotes are capped beside
        self.ro_live: dict[Side, list[TrackedOrder]] = {_BUY: [], _SELL: []}
        # lower bounds on last_update_ts of the live orders awaiting an answer (AWAITING_ACK) and of the stale ones:
        # check_timeouts skips its scan of the live set when neither bound is old enough for any order to be due (it
        # runs every quote cycle, and the scan changed nothing on almost all). Lowered wherever an order's
        # last_update_ts is set or it enters one of those states (on_command, _watch); made exact again by each scan.
        self._await_lu = math.inf
        self._stale_lu = math.inf
        # side -> when the venue last refused a reduce-only order of ours on it ("would increase position"), until a
        # snapshot asked after that says the position: the venue refuses one only where it holds no position for it
        # to reduce (flat, or the other way), so the position here is not the venue's (a fill not yet told, a
        # liquidation). Reconcile sends no reduce-only order on such a side: sent again every cycle, they were refused
        # again until the late fills came, ten refusals in 5 s, and the error burst put the agent in Red for 300 s
        self.ro_refused: dict[Side, float] = {}
        # side -> (the wait before the snapshot of its next refusal, when it was set): a snapshot asked after a refusal
        # showed the venue holding a position the side reduces, so the refusal was not for want of one. The venue
        # refuses none so (hyperliquid.md 2.4) but the twin's ReduceOnly rejection bursts do, in the venue's words,
        # and the side is held alike; asked for at every refusal, as for the first, the snapshots (42 of the minute's
        # IP weight each, two a second) spent the quoting share in 12 s of a 30 s burst, and no exit went out until
        # the minute had passed, 31 s after the burst (shadow_holds_inventory). Held still, each such refusal's
        # snapshot waits: the weight is the cancels' and the exits', and the exits go out again within the wait of
        # the burst's end. (A first refusal, or one after a snapshot showed the venue flat or the other way, is the
        # venue's word that the position here is wrong: its snapshot is asked for at once)
        self.ro_doubt: dict[Side, tuple[float, float]] = {}
        self.ro_ask: dict[Side, float] = {}  # side -> when its refusal's snapshot is due (a wait of ro_doubt's)

    # ------------------------------------------------------------------ commands

    def on_command(self, cmd, ts: float) -> None:
        self.version += 1
        if ts > self.now:
            self.now = ts
        if ts < self._await_lu:  # an order placed, cancelled or modified awaits its answer from ts (once per command,
            self._await_lu = ts  # not per order: a lower bound may be lower than it need be)
        t = type(cmd)
        if t is Batch:  # the common case, a cycle's cancels or places: handled here without recursing
            for c in cmd.commands:
                tc = type(c)
                if tc is PlaceOrder:
                    self.version += 1
                    self._place(c, ts)
                elif tc is CancelOrder:
                    self.version += 1
                    self._cancel(c.cloid, ts)
                elif tc is ModifyOrder:
                    self.version += 1
                    self._modify(c, ts)
                else:
                    self.on_command(c, ts)
        elif t is PlaceOrder or isinstance(cmd, PlaceOrder):
            self._place(cmd, ts)
        elif t is CancelOrder or isinstance(cmd, CancelOrder):
            self._cancel(cmd.cloid, ts)
        elif isinstance(cmd, ModifyOrder):
            self._modify(cmd, ts)
        elif isinstance(cmd, RequestAccountSnapshot):
            self.snapshot_requested_ts = ts
        elif isinstance(cmd, Batch):
            for c in cmd.commands:
                self.on_command(c, ts)
        elif isinstance(cmd, CancelAll):
            self.keep = None
            for o in list(self.live_set.values()):
                # (one the venue said is gone stays as it is: no cancel of it goes, nor answer comes. Put to pending,
                # it timed out unanswered, stale as a cancel lost on its way, and was cancelled again at every pull)
                if o.state is not OrderState.PENDING_CANCEL and not o.gone_at_venue:
                    o.prev_state = o.state
                    o.state = OrderState.PENDING_CANCEL
                    o.lu_before_cancel = o.last_update_ts
                    o.last_update_ts = ts

    def _place(self, cmd: PlaceOrder, ts: float) -> None:
        cloid, side, px, sz, tif, ro = cmd
        o = TrackedOrder(cloid, side, px, sz, ro, tif, ts)
        self.orders[cloid] = o
        self.live_set[cloid] = o
        k = self.keep  # _join(o), inlined: pending new, it is keepable
        if k is not None:
            p = o.pool = k[(2 if ro else 0) + (side is _SELL)]
            p.append(o)
        if ro:
            self.ro_live[side].append(o)
        if sz > 0.0:  # _recount(o), inlined: once per order placed
            o.counted = sz
            if side is _BUY:
                self._exp_buy += sz
            else:
                self._exp_sell += sz

    def _modify(self, cmd: ModifyOrder, ts: float) -> None:
        o = self.orders.get(cmd.cloid)
        if o is None or o.state in TERMINAL:
            return
        o.prev_state = o.state
        o.state = _PENDING_MODIFY
        o.last_update_ts = ts
        o.replaced_by = cmd.new_cloid
        if o.pool is not None:
            o.pool.remove(o)
            o.pool = None
        sz = cmd.sz
        n = TrackedOrder(cmd.new_cloid, cmd.side or o.side, cmd.px, sz, cmd.reduce_only, cmd.tif, ts)
        n.replaces = o.cloid
        self.orders[n.cloid] = n
        self.live_set[n.cloid] = n
        self._join(n)
        if sz > 0.0:  # _recount(n), inlined as in _place: the new leg counts in full beside the old
            n.counted = sz
            if n.side is _BUY:
                self._exp_buy += sz
            else:
                self._exp_sell += sz

    def _recount(self, o: TrackedOrder) -> None:
        """Bring the running exposure up to date with ``o`` (after any change to its size, fills or state)."""
        rem = o.sz - o.filled_sz
        new = rem if rem > 0.0 and o.state not in TERMINAL else 0.0
        d = new - o.counted
        if d:
            o.counted = new
            if o.side is _BUY:
                self._exp_buy += d
            else:
                self._exp_sell += d
        if not self.live_set:  # nothing live: the sums are exactly zero (no float residue carried on)
            self._exp_buy = self._exp_sell = 0.0

    def _cancel(self, cloid: str, ts: float) -> None:
        o = self.orders.get(cloid)
        if o is not None:
            st = o.state
            if st not in TERMINAL and st is not _PENDING_CANCEL:
                o.prev_state = st
                o.state = _PENDING_CANCEL
                o.lu_before_cancel = o.last_update_ts
                o.last_update_ts = ts
                if o.pool is not None:
                    o.pool.remove(o)
                    o.pool = None

    # ------------------------------------------------------------------ events

    def _join(self, o: TrackedOrder) -> None:
        """``o`` has just joined the live set (at its end): into the keep list of its kind if it is keepable (a
        place, a modify's new leg, a revived order; a snapshot's foreign order), and the reduce-only orders' list."""
        k = self.keep
        if k is not None:
            st = o.state
            if st in _KEEPABLE or st is _STALE and o.prev_state is _PENDING_NEW:
                p = o.pool = k[(2 if o.reduce_only else 0) + (o.side is _SELL)]
                p.append(o)
        if o.reduce_only:
            self.ro_live[o.side].append(o)

    def _watch(self, o: TrackedOrder) -> None:
        """``o``'s ``last_update_ts`` or state has just been set: the bound of the timeout scan's kind it is now of
        (awaiting an answer, or stale), if either, lowered to it (``_await_lu``), so check_timeouts does not skip
        it. The commands' hot paths lower the bound inline instead."""
        st = o.state
        if st is _STALE:
            if o.last_update_ts < self._stale_lu:
                self._stale_lu = o.last_update_ts
        elif st in AWAITING_ACK:
            if o.last_update_ts < self._await_lu:
                self._await_lu = o.last_update_ts

    def keep_lists(self) -> list[list[TrackedOrder]]:
        """[buys, sells, reduce-only buys, reduce-only sells]: the live orders reconcile may keep, each in live
        order (``keep``, made again from the live set if a change dropped it). Read-only to callers."""
        k = self.keep
        if k is not None:
            return k
        k = self.keep = [[], [], [], []]
        for o in self.live_set.values():
            st = o.state
            if st in _KEEPABLE or st is _STALE and o.prev_state is _PENDING_NEW:
                p = o.pool = k[(2 if o.reduce_only else 0) + (o.side is _SELL)]
                p.append(o)
            else:
                o.pool = None
        return k

    def _end(self, o: TrackedOrder, state: OrderState, ts: float) -> None:
        if o.pool is not None:
            o.pool.remove(o)
            o.pool = None
        if o.reduce_only:
            ro = self.ro_live[o.side]
            if o in ro:  # (asked, not assumed: an order ended twice must not raise in the core, live)
                ro.remove(o)
        o.state = state
        o.last_update_ts = ts
        self.live_set.pop(o.cloid, None)
        self._ended.append((ts, o.cloid))
        self._recount(o)
        if state is OrderState.CANCELED and (o.oid or o.acked_ts >= 0) and o.remaining > EPS and self.settle_s > 0:
            rem = o.remaining
            self.settling[o.cloid] = (ts + self.settle_s, o, rem)  # insertion order = expiry order
            self.settling_total[o.side] += rem

    def _settle_fill(self, cloid: str, sz: float) -> None:
        """A late fill of a cancelled order: it settles that much of the order's remaining size, not all of
        it. A cancel can land after several fills whose pushes all lag; the first to arrive says nothing of
        the others, which still count until they come or the settle time runs out."""
        entry = self.settling.get(cloid)
        if entry is None:
            return
        until, o, rem = entry
        left = rem - sz
        if left <= EPS:
            self._unsettle(cloid)
        else:
            self.settling[cloid] = (until, o, left)  # (an existing key keeps its place: expiry order holds)
            self.settling_total[o.side] -= sz

    def _unsettle(self, cloid: str) -> None:
        entry = self.settling.pop(cloid, None)
        if entry is not None:
            self.settling_total[entry[1].side] -= entry[2]

    def on_fill(self, ev: FillReceived) -> float:
        """A fill, as ``on_event`` takes it; returns its excess over its order's size, the part not booked (0.0: all
        of it fits, or it was had before), for the caller to leave out of its own books too. Returned, not kept on
        the tracker as the last fill's: a value set on every fill to be read after it was state any later call could
        change under its reader."""
        self.version += 1
        if ev.ts > self.now:
            self.now = ev.ts
        return self._on_fill(ev)

    def on_event(self, ev) -> None:
        self.version += 1
        if ev.ts > self.now:
            self.now = ev.ts
        t = type(ev)
        if t is FillReceived:
            self._on_fill(ev)
        elif t is OrderAcknowledged:
            o = self.orders.get(ev.cloid)
            if o is None:
                return
            if not o.live:
                if o.presumed_gone and ev.resting:  # the snapshot raced the place: it does rest
                    self._revive(o, ev.oid, ev.ts)
                return
            o.oid = ev.oid
            st = o.state
            if st is not _PENDING_CANCEL and st is not _PENDING_MODIFY:
                o.last_update_ts = ev.ts  # (the place's answer, not the cancel's or modify's: that one's wait runs on)
            if o.acked_ts < 0:
                o.acked_ts = ev.ts
            if ev.resting:
                st = o.state
                if st is _STALE and o.prev_state is not _PENDING_NEW:
                    self.keep = None  # stale after a cancel or modify, resting again: keepable again, mid-list
                if st is _PENDING_NEW or st is _STALE:
                    o.state = OrderState.PARTIALLY_FILLED if o.filled_sz > EPS else OrderState.RESTING
                elif o.prev_state in (OrderState.PENDING_NEW, OrderState.STALE):
                    # a cancel or modify went out before the ack: if it is refused, the order rests
                    o.prev_state = OrderState.PARTIALLY_FILLED if o.filled_sz > EPS else OrderState.RESTING
            elif o.state in (OrderState.PENDING_NEW, OrderState.STALE, OrderState.PENDING_CANCEL):
                # filled (or IOC partly filled, rest cancelled) at once: fills arrive separately
                if ev.filled_sz >= o.sz - EPS or o.tif is Tif.IOC:
                    o.sz = max(ev.filled_sz, o.filled_sz)
                    self._recount(o)
                    if o.filled_sz >= o.sz - EPS:
                        self._end(o, OrderState.FILLED, ev.ts)
            self._watch(o)  # (its last_update_ts moved: one still awaiting its place's answer, or stale, is watched)
        elif t is OrderRejected:
            o = self.orders.get(ev.cloid)
            self.rejections_by_reason[ev.reason.value] += 1
            if o is not None and o.live:
                self._end(o, OrderState.REJECTED, ev.ts)
                if o.reduce_only and ev.reason is _REDUCE_ONLY:
                    self._refused_reduce_only(o.side, ev.ts)
        elif t is CancelAcknowledged:
            o = self.orders.get(ev.cloid)
            if o is not None and o.live:
                if o.acked_ts < 0:  # its place's reply lost or still on its way: the cancel says the venue had it
                    o.acked_ts = ev.ts
                self._end(o, OrderState.CANCELED, ev.ts)
        elif t is CancelRejected:
            o = self.orders.get(ev.cloid)
            self.rejections_by_reason["Cancel" + ev.reason.value] += 1
            if o is None or not o.live:
                return
            if ev.reason is Reason.MISSING_ORDER and not (o.state is _PENDING_CANCEL and o.acked_ts >= o.last_update_ts
                                                          and o.prev_state in _RESTS):
                # gone at the venue: cancelled, or filled with the fills still on their way (the
                # cancel/fill race). Until a snapshot says which, it keeps counting as exposure.
                o.prev_state = OrderState.PENDING_CANCEL  # (stale after a cancel, not an unanswered place)
                o.state = OrderState.STALE
                o.cancel_found_nothing = True
                o.last_update_ts = ev.ts
                self._watch(o)
                if o.pool is not None:
                    o.pool.remove(o)
                    o.pool = None
            elif o.state is _PENDING_CANCEL:
                # refused; or answered "found nothing" for a cancel sent before its place was answered, the place said
                # resting since (an ack, a fill or a listing after the cancel's send): the cancel may have overtaken the
                # place, which landed after it and rests. Held stale, such an order was neither kept nor cancelled (in
                # no keep list; pulls skip an answered cancel) until a snapshot asked settle_s later listed it: up to
                # 12.6 s resting unmanaged in cancel_fill_race_storm. Put back as it rests, reconcile keeps it or
                # cancels it again, and that cancel, sent after the place's answer, is answered truly. (Filled before
                # the cancel came instead, its fills are on their way and end it)
                o.state = o.prev_state  # (stale, for want of this answer in time: a snapshot settles it)
                o.last_update_ts = o.lu_before_cancel  # (a place or modify still out: timed from its send again)
                self._watch(o)
                self.keep = None  # (keepable again, perhaps: back in its place in live order)
        elif t is ModifyAcknowledged:
            old = self.orders.get(ev.cloid)
            new = self.orders.get(ev.new_cloid)
            if old is not None and old.live:
                self._end(old, OrderState.CANCELED, ev.ts)
            if new is not None and new.live:
                new.oid = ev.oid
                if new.acked_ts < 0:
                    new.acked_ts = ev.ts
                if ev.resting:
                    rests = OrderState.PARTIALLY_FILLED if new.filled_sz > EPS else OrderState.RESTING
                    if new.state in (OrderState.PENDING_NEW, OrderState.STALE):
                        if new.state is _STALE and new.prev_state is not _PENDING_NEW:
                            self.keep = None  # (keepable again: back in its place in live order)
                        new.state = rests
                    elif new.prev_state in (OrderState.PENDING_NEW, OrderState.STALE):
                        new.prev_state = rests  # a cancel went out before the ack (and is still out: kept)
            elif new is not None and new.presumed_gone and ev.resting:  # the snapshot raced the modify: it rests
                self._revive(new, ev.oid, ev.ts)
        elif t is ModifyRejected:
            old = self.orders.get(ev.cloid)
            new = self.orders.get(ev.new_cloid)
            v = ev.reason.value  # "ModifyBadAloPx"; the race's own name already says modify
            self.rejections_by_reason[v if v.startswith("Modify") else "Modify" + v] += 1
            if new is not None and new.live:
                self._end(new, OrderState.REJECTED, ev.ts)
                if new.reduce_only and ev.reason is _REDUCE_ONLY:
                    self._refused_reduce_only(new.side, ev.ts)  # (its new order's: the old one's cancel leg happened)
            if old is not None and old.live:
                if ev.reason in (Reason.MODIFY_CANCELED_OR_FILLED, Reason.MISSING_ORDER):
                    old.prev_state = OrderState.PENDING_MODIFY  # (stale after a modify, not an unanswered place)
                    old.state = OrderState.STALE  # as a cancel that found nothing: a fill may be in flight
                    old.cancel_found_nothing = True  # (its cancel leg did: gone, a late fill of it leaves it stale)
                    old.last_update_ts = ev.ts
                    self._watch(old)
                    if old.pool is not None:
                        old.pool.remove(old)
                        old.pool = None
                elif ev.message.startswith(MODIFY_NEW_ORDER_FAILED):
                    self._end(old, OrderState.CANCELED, ev.ts)  # the cancel leg happened, the new order failed
                else:
                    # refused before anything happened: the whole action (quota, nonce, signature, expiry, a
                    # batch's pre-validation: tick, size) or never sent. Ended here, an order still resting at
                    # the venue dropped out of the exposure, and a snapshot listing it later left it ended
                    self._modify_did_nothing(old, ev.new_cloid, ev.ts)
        elif t is OrderClosedByVenue:
            o = self.orders.get(ev.cloid)
            if o is not None and o.live:
                self._end(o, OrderState.CANCELED, ev.ts)
        elif t is RateLimited:
            placed = ev.request == "order"  # the refused action placed these: none of them ever existed
            for k, cloid in enumerate(ev.cloids):
                o = self.orders.get(cloid)
                if o is None:
                    continue
                if placed:
                    # whatever was sent for it since (a cancel, now racing to a "never placed") or became of it
                    # (stale, its reply slow), the venue refused its place: it is nowhere, and counts as nothing
                    if o.live and o.acked_ts < 0:
                        self.rejections_by_reason[Reason.RATE_LIMITED.value] += 1
                        self._end(o, OrderState.REJECTED, ev.ts)
                    continue
                # a cancel or a modify refused: it says nothing of the order's own place (a cancel-all's cancel
                # can name an order whose ack is still on its way), only that what was asked did not happen
                if ev.request in MODIFY_REQUESTS:
                    # (which modify: the gateways name each one's new order; without them, the latest sent)
                    new = ev.new_cloids[k] if k < len(ev.new_cloids) else o.replaced_by
                    self._modify_did_nothing(o, new, ev.ts)
                elif o.live and o.state is _PENDING_CANCEL:
                    o.state = o.prev_state  # (a modify sent before it, if any, is still out: its new leg stands)
                    o.last_update_ts = o.lu_before_cancel  # (timed from that modify's send, or its place's, again)
                    self._watch(o)
                    self.keep = None  # (keepable again, perhaps: back in its place in live order)
        elif t is AccountSnapshot:
            self._on_snapshot(ev)

    def _refused_reduce_only(self, side: Side, ts: float) -> None:
        """The venue refused a reduce-only order on ``side``: no more on it until a snapshot asked after now says the
        position (``ro_refused``); one is asked for (``needs_snapshot``), at once, or after the wait ``ro_doubt`` holds
        for a side whose last refusal a snapshot did not explain (``ro_ask``; check_timeouts asks it when due)."""
        self.ro_refused[side] = ts
        d = self.ro_doubt.get(side)
        if d is not None and ts - d[1] <= RO_DOUBT_KEEP_S:
            if side not in self.ro_ask:
                self.ro_ask[side] = ts + d[0]
        else:
            self.needs_snapshot = True

    def _revive(self, o: TrackedOrder, oid: int, ts: float) -> None:
        """An order the tracker ended rests at the venue after all: acknowledged resting after a snapshot that did
        not list it (presumed never placed: the listing predated it), or listed by one after it ended. Live
        again, and known at the venue (its cancel settles)."""
        o.presumed_gone = False
        o.state = OrderState.PARTIALLY_FILLED if o.filled_sz > EPS else OrderState.RESTING
        o.oid = oid
        if o.acked_ts < 0:
            o.acked_ts = ts
        self.live_set[o.cloid] = o
        self._join(o)
        self._recount(o)

    def _modify_did_nothing(self, o: TrackedOrder, new_cloid: str | None, ts: float) -> None:
        """The modify of ``o`` whose new order is ``new_cloid`` was refused before anything happened at the venue:
        that new order never was, and ``o`` rests as it did before, if that modify is the one it awaits (one sent
        since is still out, and its new leg stands). Modifies are sent for resting orders only."""
        n = self.orders.get(new_cloid) if new_cloid else None
        if n is not None and n.live and n.acked_ts < 0:
            self._end(n, OrderState.REJECTED, ts)
        if o.replaced_by != new_cloid or new_cloid is None:
            return
        o.replaced_by = None
        if not o.live:
            return  # (it filled or was cancelled meanwhile)
        before = OrderState.PARTIALLY_FILLED if o.filled_sz > EPS else OrderState.RESTING
        if o.state is _PENDING_MODIFY:
            o.state = before
            self.keep = None  # (keepable again: back in its place in live order)
        elif o.prev_state is _PENDING_MODIFY:
            if o.state is _STALE:
                o.state = before  # stale for want of this modify's answer, which is now in: it did nothing
                self.keep = None
            else:
                o.prev_state = before  # a cancel out since: refused too, it falls back to the order as it rested

    def _on_fill(self, ev: FillReceived) -> float:
        seen = self.seen_tids
        if ev.tid in seen:
            return 0.0
        seen[ev.tid] = None
        if len(seen) > SEEN_TIDS_KEEP:
            seen.popitem(last=False)
        o = self.orders.get(ev.cloid)
        if ev.tid <= self.tid_watermark:
            # already in the snapshot's position, and the snapshot's remaining size: count neither again
            if o is not None:
                o.filled_sz += ev.sz
                o.sz += ev.sz
                self._recount(o)  # (the same remaining size but for the two sums' rounding: counted as it is)
            return 0.0
        sz = ev.sz
        excess = 0.0
        if o is not None and not o.foreign:
            # (an order we did not place is listed with what remained of it then: its size bounds nothing)
            over = o.filled_sz + sz - (o.sz if o.sz > o.placed_sz else o.placed_sz)
            if over > EPS:
                # more filled than the order was for: booked blindly, the position drifted from the venue's until
                # the next snapshot, and the ledger's for good. What fits is booked; the venue's position says the rest
                excess = over if over < sz else sz
                sz -= excess
                self.overfills += 1
                self.needs_snapshot = self.overfill_untold = True
                self._overfill_ts = ev.ts
        signed = sz if ev.side is Side.BUY else -sz
        self.position += signed
        self.recent_fills[ev.tid] = signed
        if abs(self.position) < 1e-12:
            self.position = 0.0
        if o is None:
            return 0.0
        o.filled_sz += sz
        st = o.state
        if st is not _PENDING_CANCEL and st is not _PENDING_MODIFY:
            o.last_update_ts = ev.ts
        # (else its cancel or modify is still out: the wait for that answer runs from its send, as the request's own
        # deadline at the venue does (expiresAfter: the send + ack_timeout_s). Moved by every fill, an order whose
        # cancel was lost and that kept being hit less than ack_timeout_s apart never timed out: a bid hit again and
        # again in a crash, never pulled again. Ended by this fill, _end stamps it)
        unanswered = o.acked_ts < 0
        if unanswered:  # a fill before its place's reply (lost, or slower than the fill's push): at the venue
            o.acked_ts = ev.ts
            if not o.oid:
                o.oid = ev.oid
        if st is _PENDING_CANCEL and (o.prev_state is _PENDING_NEW
                                      or o.prev_state is _STALE and (not o.cancel_found_nothing or unanswered)):
            # a cancel out before its place was answered (pending new, or stale: the place timed out unanswered and a
            # pull cancelled it): filled, the order was placed and rests (what the fill does to a pending new or stale
            # order below; an ack does the same to either). Left so, a refused cancel put it back as an unanswered
            # place, stale, which reconcile neither moves nor cancels, so a bid the book fell away from stayed up
            # until a snapshot listed it. (Not one stale because an earlier cancel found nothing: the venue said it
            # was gone, and this fill trails that answer; refused, the cancel leaves it stale, as below; unless its
            # place had no answer yet, as below)
            o.prev_state = _PARTIALLY_FILLED
        self._recount(o)
        if not o.live:
            self.fills_after_terminal += 1
            self._settle_fill(o.cloid, sz)  # a late fill: that much of what may still fill has
            return excess
        if o.filled_sz >= o.sz - EPS:
            self._end(o, OrderState.FILLED, ev.ts)
        elif o.state in (OrderState.RESTING, OrderState.PENDING_NEW, OrderState.STALE):
            if o.state is _STALE and o.prev_state is not _PENDING_NEW:
                if o.cancel_found_nothing and not unanswered:
                    # its cancel (or modify) was answered "never placed, already canceled, or filled" ("cannot modify
                    # canceled or filled order"): gone when the cancel came, and this fill, trailing that answer, is
                    # from before it (the rest filled too, with its fills on their way, or cancelled). Made partly
                    # filled, it was kept as a quote the venue had said was gone, counted, and no snapshot asked for,
                    # until the audit's. Stale it stays: counted, not kept, a snapshot asked for settle_s after its
                    # last fill (a place the cancel overtook and that rests after all is listed by it, and rests again).
                    # (Not one whose place had no answer yet: the cancel may have overtaken the place, which this fill
                    # shows landed, and rests; held stale, it was neither kept nor cancelled until that snapshot.
                    # Partly filled, reconcile keeps or cancels it, and a cancel sent now is answered truly)
                    return excess
                self.keep = None  # stale after a cancel or modify, filled in part: keepable again, mid-list
            o.state = OrderState.PARTIALLY_FILLED
        return excess

    def _on_snapshot(self, ev: AccountSnapshot) -> None:
        """The venue's word: its open orders rest; ours it does not list are gone; position is its."""
        if ev.last_fill_tid < self.tid_watermark or ev.venue_time_ms < self.snapshot_venue_ms:
            return  # an older snapshot overtaken by a newer one (a re-request's reply raced the first)
        self.snapshot_venue_ms = ev.venue_time_ms
        self.keep = None  # (orders end, rest again and turn up below: made again when next read)
        # (one asked for before an overfill came may predate the fill: its position cannot say whether it was real)
        req = ev.requested_ts if ev.requested_ts >= 0 else self.snapshot_requested_ts
        self.needs_snapshot = self.overfill_untold = req < self._overfill_ts
        if self.ro_refused:
            # a side refused before the request went out: the venue's position below is the one the refusal was of,
            # or later. One refused since is still in doubt, and asks for another snapshot (now, or when its wait is
            # out: ro_ask)
            for side in [s for s, refused_ts in self.ro_refused.items() if refused_ts <= req]:
                del self.ro_refused[side]
                self.ro_ask.pop(side, None)
                if (ev.position < 0.0) if side is _BUY else (ev.position > 0.0):
                    # the venue holds a position the side reduces: the refusal was not for want of one (ro_doubt)
                    d = self.ro_doubt.get(side)
                    wait = RO_DOUBT_FIRST_S
                    if d is not None and ev.ts - d[1] <= RO_DOUBT_KEEP_S:
                        wait = d[0] * 2.0 if d[0] * 2.0 < RO_DOUBT_MAX_S else RO_DOUBT_MAX_S
                    self.ro_doubt[side] = (wait, ev.ts)
                else:
                    self.ro_doubt.pop(side, None)  # the venue's word: it held none there to reduce
            for side in self.ro_refused:
                if side not in self.ro_ask:
                    self.needs_snapshot = True
        if ev.last_fill_tid > self.tid_watermark:
            self.tid_watermark = ev.last_fill_tid
        # the venue's position at its query time, plus fills we saw that happened after it
        wm = self.tid_watermark
        self.recent_fills = {tid: sz for tid, sz in self.recent_fills.items() if tid > wm}
        self.position = ev.position + sum(self.recent_fills.values())
        for cloid, (until, o, _) in list(self.settling.items()):
            if o.last_update_ts < req:
                self._unsettle(cloid)  # cancelled before the query: the venue's position has its fills
        if abs(self.position) < 1e-12:
            self.position = 0.0
        listed = {oo.cloid: oo for oo in ev.open_orders}
        cutoff = ev.requested_ts if ev.requested_ts >= 0 else self.snapshot_requested_ts
        for o in list(self.live_set.values()):
            if o.cloid in listed:
                oo = listed[o.cloid]
                o.oid = oo.oid
                if o.acked_ts < 0:
                    o.acked_ts = ev.ts
                sz = o.filled_sz + oo.sz
                if sz > o.sz:
                    # never shrunk on a listing: its size can already be down by a fill whose push has not
                    # come (the listing is read after the fills are), and that fill, when it comes, takes
                    # its size off again; a listing larger than ours is the venue's word
                    o.sz = sz
                self._recount(o)
                if o.state in (OrderState.PENDING_NEW, OrderState.STALE):
                    o.state = OrderState.PARTIALLY_FILLED if o.filled_sz > EPS else OrderState.RESTING
                elif o.prev_state in (OrderState.PENDING_NEW, OrderState.STALE):
                    o.prev_state = OrderState.PARTIALLY_FILLED if o.filled_sz > EPS else OrderState.RESTING
            elif (0 <= o.acked_ts < cutoff) or (o.acked_ts < 0 and o.sent_ts < cutoff - self.ack_grace_s):
                # not listed, and known to be at the venue before the query was even sent (so it is
                # gone), or never acknowledged and sent more than the action ttl before (so it landed
                # before, or expired): gone. Otherwise the listing may predate it: keep counting it.
                # only a never-acknowledged one may yet turn up (its ack can trail the listing); one
                # known at the venue before the query is gone for good, whatever late ack follows
                o.presumed_gone = o.acked_ts < 0
                self._end(o, OrderState.CANCELED, ev.ts)
        for cloid, oo in listed.items():
            o = self.orders.get(cloid)
            if o is not None:
                if o.live or o.last_update_ts >= cutoff:
                    continue  # ours: one ended since the query went out stays ended (the listing can predate it)
                # ended before the query was even sent, yet listed: the venue's word is that it rests (an end the
                # tracker inferred wrongly). Left ended, it counted as no exposure and was never cancelled until
                # prune forgot it and a later snapshot took it in as foreign; counted again now, and cancellable
                self._unsettle(cloid)
                o.sz = o.filled_sz + oo.sz
                o.last_update_ts = ev.ts
                self._revive(o, oo.oid, ev.ts)
                continue
            o = TrackedOrder(cloid, oo.side, oo.px, oo.sz, oo.reduce_only, Tif.GTC, ev.ts, OrderState.RESTING)
            o.oid = oo.oid
            o.foreign = True  # left by an earlier run, or placed by someone else: counted, and cancellable
            self.orders[cloid] = o
            self.live_set[cloid] = o
            self._join(o)
            self._recount(o)
            if self.snapshots:
                self.foreign_late.append(o)
        self.snapshots += 1

    # ------------------------------------------------------------------ queries

    def prune(self, before_ts: float) -> int:
        """Forget orders that ended before ``before_ts`` (and are no longer settling): a day of quoting
        places a million orders, and every event about an order that old is long past. A late event
        for a forgotten cloid is ignored; a late fill still moves the position (it is keyed by tid).

        Cost is the number of orders forgotten, not the number known (a queue in end order, not a
        scan): called every cycle, it never puts a millisecond into one cycle's latency."""
        q = self._ended
        orders = self.orders
        n = 0
        while q and q[0][0] < before_ts:
            _, c = q.popleft()
            o = orders.get(c)
            if o is None or o.state not in TERMINAL:
                continue  # already forgotten, or revived (it is queued again when it ends again)
            if o.last_update_ts < before_ts and c not in self.settling:
                del orders[c]
                n += 1
            else:  # touched since it ended (a late fill), or still settling: look again later
                q.append((max(o.last_update_ts, before_ts), c))
        return n

    def check_timeouts(self, ts: float, timeout_s: float = 5.0) -> list[str]:
        """Orders with no acknowledgement within ``timeout_s`` become STALE (still counted as exposure). One awaiting
        its cancel or modify is timed from that request's send: its fills and its place's late ack do not move it.

        A cancel answered "never placed, already canceled, or filled" leaves its order STALE too; most
        are settled by their fill arriving. One still unsettled after ``settle_s`` sets
        ``needs_snapshot``: only the venue's account can say what became of it.

        The scan is skipped when no order can be due: every awaiting order's ``last_update_ts`` is at least
        ``_await_lu`` and every stale one's at least ``_stale_lu``, and ``ts - x`` only falls as ``x`` rises, so
        with ``ts - _await_lu <= timeout_s`` none has timed out, and with ``ts - _stale_lu <= settle_s`` (or a
        snapshot already asked for) none can ask for one: the scan would change nothing."""
        if self.ro_ask:  # a refused side's snapshot, put off (ro_doubt): asked for once due
            for side, due in list(self.ro_ask.items()):
                if ts >= due:
                    del self.ro_ask[side]
                    self.needs_snapshot = True
        if ts - self._await_lu <= timeout_s and (self.needs_snapshot or ts - self._stale_lu <= self.settle_s):
            return []
        out = []
        settle_s = self.settle_s
        grace = self.ack_grace_s
        await_lu = stale_lu = math.inf  # the bounds made exact again
        for o in self.live_set.values():
            st = o.state
            if st in AWAITING_ACK:
                lu = o.last_update_ts
                if ts - lu > timeout_s:
                    o.prev_state = st
                    o.state = _STALE
                    o.cancel_found_nothing = False  # (an earlier cancel's answer, if any: this one had none)
                    out.append(o.cloid)
                    self.version += 1  # a state change like any (reconcile no longer keeps a stale order)
                    if lu < stale_lu:
                        stale_lu = lu
                elif lu < await_lu:
                    await_lu = lu
            elif st is _STALE:
                lu = o.last_update_ts
                if lu < stale_lu:
                    stale_lu = lu
                if ts - lu > settle_s and (o.acked_ts >= 0 or ts - o.sent_ts > grace):
                    # (never acknowledged: a snapshot tells only once its place has had ack_grace_s to land, as
                    # one not listed before then may still be on its way; asked sooner, it comes back unresolved,
                    # and asking again at every tick spent the IP weight the pulls needed)
                    self.needs_snapshot = True
        self._await_lu = await_lu
        self._stale_lu = stale_lu
        return out

    def pullable(self, blind: bool = False) -> tuple[str, ...]:
        """The live orders a pull cancels by name, in live order: all but those the venue has said are gone
        (``TrackedOrder.gone_at_venue``), which a cancel can only find gone again (a snapshot settles them), and those
        whose cancel is out, unanswered and not timed out (pending cancel): one cancel an order until it is answered or
        times out (stale then, and pulled again: it may have been lost). Named again, a stop's pull, a Kill's and the
        pulls every ``risk.pull_retry_s`` each cancelled an order whose first cancel was on its way, and the venue
        answered the later ones "never placed, already canceled, or filled" (a live dry run's stop: twice, thrice).
        ``blind`` (the socket down): those too. A cancel sent in an outage is most likely lost with it, and a lost REST
        call says nothing: waited for until timed out, two orders of ws_outage_during_move's seed 5 still rested 12 s
        into the outage, past its bound, where pulls every 2 s had them gone."""
        if blind:
            return tuple(c for c, o in self.live_set.items() if not o.gone_at_venue)
        return tuple(c for c, o in self.live_set.items() if o.state is not _PENDING_CANCEL and not o.gone_at_venue)

    def live_orders(self, side: Side | None = None) -> list[TrackedOrder]:
        if side is None:
            return list(self.live_set.values())
        return [o for o in self.live_set.values() if o.side is side]

    def exposures(self) -> tuple[float, float]:
        """(buy, sell): Σ remaining size of every order that could still fill, per side (both legs of a
        modify not yet answered; cancelled orders while their fills may still lag)."""
        buy = self._exp_buy
        sell = self._exp_sell
        if buy < 0.0:  # float residue of the running sums
            buy = 0.0
        if sell < 0.0:
            sell = 0.0
        settling = self.settling
        if settling:
            now = self.now
            fed = self.feed_ts + self.settle_s  # (an entry's until is its cancel's answer + settle_s)
            tot = self.settling_total
            while settling:
                cloid = next(iter(settling))
                until = settling[cloid][0]
                if until > now or until > fed:
                    break
                entry = settling.pop(cloid)  # (_unsettle written out: the first entry, there)
                tot[entry[1].side] -= entry[2]
            t = tot[_BUY]  # (max(0.0, t) written out, as max gives it: t if t > 0.0 else 0.0, nan and -0.0 to 0.0)
            buy += t if t > 0.0 else 0.0
            t = tot[_SELL]
            sell += t if t > 0.0 else 0.0
        return buy, sell

    def exposure(self, side: Side) -> float:
        buy, sell = self.exposures()
        return buy if side is Side.BUY else sell

    def worst_case_positions(self) -> tuple[float, float]:
        """(long, short) worst cases: position plus all buys, position minus all sells."""
        buy, sell = self.exposures()
        return self.position + buy, self.position - sell

    def worst_case_position(self, side: Side) -> float:
        """Position if every same-side live or in-flight order filled (signed)."""
        return self.position + side.value * self.exposure(side)

    @property
    def open_count(self) -> int:
        return len(self.live_set)
