"""Markouts: how each fill looks ``horizon_s`` later, against the mid then.

Signed so that positive means the fill made money (a buy below the later mid, a sell above it). The
ledger sums them in USDC per horizon for the summary (gross: it reports fees apart); graduation counts
the favourable ones (the positive-edge share is promotion evidence), for real fills and for Shadow's
paper fills alike, and a fill is favourable only when its markout beats what it paid in fees: a maker
whose spread capture is smaller than its fee loses on every fill, however many of them are
"favourable" gross. One queue per horizon, in due order: the order the fills were made in, which is the order
they arrive in but for one made earlier and delivered later (recovered at a reconnect), put in its place. Who
resolves a queue's fills made by a time apart from those made after it (``on_mid``'s ``made_by``: graduation's
levels) needs that order, not the arrival order, at its head.

A fill due while the feed was down (a lost socket, a book gone quiet) is resolved by the first mid after
the gap, which measures a longer horizon than the queue's and, after a jump in the outage, mostly the jump:
a fill whose first mid comes more than ``MAX_LATE_S`` past its due time is dropped (neither resolved nor
pending), as the model scorecards drop their late outcomes (``MAX_LATE_S`` is the default of their
``max_resolution_delay_s``).
"""
from __future__ import annotations

import math
from collections import deque


MAX_LATE_S = 5.0  # s past its due time a markout's mid may come and still measure its horizon
_INF = math.inf


class MarkoutQueue:
    __slots__ = ("horizon_s", "fee_rate", "_due", "next_due", "resolved", "positive", "sum_usd", "notional_usd",
                 "net_bps")

    def __init__(self, horizon_s: float, fee_rate: float = 0.0) -> None:
        self.horizon_s = horizon_s
        self.fee_rate = fee_rate  # the fee a fill pays when it does not say (paper fills), per unit of notional
        self._due: deque[tuple[float, int, float, float, float]] = deque()  # (due_ts, side, px, sz, fee per unit)
        # when the oldest pending fill is due (inf: none pending), kept by every method that changes _due: a mid
        # before it resolves nothing, and on_mid returns at once (its callers, the ledger and graduation, ask it
        # first: most mids, nothing is due)
        self.next_due = _INF
        self.resolved = 0
        self.positive = 0  # resolved with side·(mid − px) > the fee per unit (gross > 0 with no fee)
        self.sum_usd = 0.0  # Σ side·(mid − px)·sz over the resolved, gross of fees
        self.notional_usd = 0.0  # Σ px·sz over the resolved: what sum_usd is in bps of (not the pending fills')
        # Σ of each resolved fill's markout net of its fee, bps of its price (a fill each, unweighted: paper fills
        # carry no size): graduation's mean net edge per fill (its standard error from the sums per mid)
        self.net_bps = 0.0

    def add(self, ts: float, side: int, px: float, sz: float = 0.0, fee: float | None = None) -> None:
        """A fill at ``ts`` (side +1 buy, −1 sell); ``sz`` weighs ``sum_usd``. ``fee`` is what the fill paid
        in USDC (negative: a rebate), which needs ``sz``; without it the fill pays ``fee_rate`` of its
        notional."""
        per_unit = fee / sz if fee is not None and sz > 0.0 else px * self.fee_rate
        due_ts = ts + self.horizon_s
        due = self._due
        if not due:
            due.append((due_ts, side, px, sz, per_unit))
            self.next_due = due_ts
        elif due_ts < due[-1][0]:  # made before a fill already queued (rare): _queue puts it in its place
            self._queue((due_ts, side, px, sz, per_unit))
        else:  # (_queue's own test, written out: every fill, into each horizon's queue)
            due.append((due_ts, side, px, sz, per_unit))

    def take(self, other: MarkoutQueue) -> None:
        """``other``'s fills (of the same horizon) into this queue: the resolved in its sums, the pending in their
        place. A fill held apart until it is known to count (the ledger's overfill excess, real or a copy) is
        resolved there as any is here, against the mid its horizon's time had, not one after it is known."""
        self.resolved += other.resolved
        self.positive += other.positive
        self.sum_usd += other.sum_usd
        self.notional_usd += other.notional_usd
        self.net_bps += other.net_bps
        for item in other._due:
            self._queue(item)

    def give_back(self, other: MarkoutQueue) -> None:
        """Take out of this queue the fills ``other`` holds too (added to both alike, and both given the same mids,
        so resolved alike): a fill counted here that was not the account's (the booked part of an overfill's copy).
        One of them not pending here (resolved since, or never added) is taken out of the sums alone."""
        self.resolved -= other.resolved
        self.positive -= other.positive
        self.sum_usd -= other.sum_usd
        self.notional_usd -= other.notional_usd
        self.net_bps -= other.net_bps
        for item in other._due:
            if item in self._due:
                self._due.remove(item)
        self.next_due = self._due[0][0] if self._due else _INF

    def _queue(self, item: tuple[float, int, float, float, float]) -> None:
        due = self._due
        if due and item[0] < due[-1][0]:  # made before a fill already queued (rare): put in its place
            i = len(due) - 1
            while i > 0 and item[0] < due[i - 1][0]:
                i -= 1
            due.insert(i, item)
        else:
            due.append(item)
        self.next_due = due[0][0]

    def on_mid(self, ts: float, mid: float, made_by: float = math.inf) -> int:
        """Resolve the fills due by ``ts`` against ``mid``; returns how many. ``made_by``: only the fills made at or
        before then (graduation resolves a level's fills apart from those of the level it left, which are no
        evidence of it)."""
        if ts < self.next_due:
            return 0  # (most mids: nothing due, and ``by`` below is at most ts)
        due = self._due
        n = 0
        late = ts - MAX_LATE_S
        by = min(ts, made_by + self.horizon_s)
        while due and due[0][0] <= by:
            due_ts, side, px, sz, fee = due.popleft()
            if due_ts < late:  # its mid came after a gap in the feed: dropped
                continue
            edge = side * (mid - px)
            if edge > fee:
                self.positive += 1
            net = (edge - fee) / px * 1e4
            self.net_bps += net
            self.sum_usd += edge * sz
            self.notional_usd += px * sz
            n += 1
        self.resolved += n
        self.next_due = due[0][0] if due else _INF
        return n

    @property
    def pending(self) -> int:
        return len(self._due)
