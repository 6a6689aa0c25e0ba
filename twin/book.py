"""The clients' resting orders inside the market's book: queue position, and who trades with them.

The market process owns the displayed L2 book (it is exogenous: a small market maker does not
move it). Client orders sit at a price level behind ``queue_ahead`` coins that joined earlier.

Queue model (documented, after hftbacktest's probabilistic queue model):
- at join, ``queue_ahead`` = the displayed size at the order's price (0 inside the spread; beyond
  the deepest level the book lists, that level's size: what rests deeper is not shown, which is not
  nothing, and books deepen away from the touch);
- a trade at the order's level consumes the queue ahead before it reaches the order, and the level's
  displayed size by what the market's orders there gave it (the next book shows the level without
  them: that shrink is the print's, not cancels);
- a trade that prints *through* the level (a sell printing below a bid) consumed the whole level,
  so the order fills in full;
- when the displayed size at the level shrinks by Δ without trades, a share
  ``f(ahead) / (f(ahead) + f(behind))`` of Δ is taken as cancels ahead, with ``f(x) = x**power``
  (``power`` = ``QueueParams.cancel_ahead_power``; 1 is proportional, larger favours the back);
  while the level is beyond the listed ones, the queue holds (taken for an empty level, it was all
  cancelled, and the order came back into view at the front);
- when the market moves through the order (best ask at or below a resting bid), it fills in full
  at its own price: the adverse selection a stale quote suffers.
"""
from __future__ import annotations

import math
import sys

from pydantic import Field

from common.files import FileModel


class QueueParams(FileModel):
    """How client orders advance in the queue of the (exogenous) market book."""

    cancel_ahead_power: float = Field(
        2.0, ge=0.0, le=100.0,
        description="Exponent n of the probabilistic queue model: share of a level's shrink taken from ahead is "
                    "ahead^n/(ahead^n+behind^n). hftbacktest's PowerProbQueueFunc uses 2-3 as typical.")


# the range in which ahead^n + behind^n, made directly, is a float of full precision: above it the sum of two finite
# terms is inf (1205 and 1205 coins at n = 100: a share of 0, not 1/2); below it a subnormal sum has lost digits
# (6e-4 and 6.1e-4 coins at n = 100: 0.1585, not 0.1607)
_TOTAL_MIN, _TOTAL_MAX = sys.float_info.min, sys.float_info.max
# the book updates a book holds unapplied at most (CoinBook.note_rows; CoinBook.max_pending, each book's)
_MAX_PENDING = 512


def _ahead_share(ahead: float, behind: float, n: float) -> float:
    """ahead^n / (ahead^n + behind^n) on the sizes' ratio, for the powers and sizes where the terms themselves over-
    or underflow (QueueParams allows n = 100: ahead ** n overflows past ~1200 coins, underflows below ~1e-3), or
    their sum leaves the floats' normal range (``_TOTAL_MIN``, ``_TOTAL_MAX``)."""
    if not behind > 0.0:
        return 1.0
    if ahead >= behind:
        return 1.0 / (1.0 + (behind / ahead) ** n)
    r = (ahead / behind) ** n
    return r / (1.0 + r)


def _side_view(px_row: list, sz_row: list) -> tuple:
    """One side's rows of a book update (lists, or numpy rows, made lists here), with the tests CoinBook._catch_up
    makes of the whole side: (px row, sz row, best, rows, last, deepest, bids_order)."""
    if type(px_row) is not list:
        px_row, sz_row = px_row.tolist(), sz_row.tolist()
    n_rows = len(px_row)
    best = px_row[0] if n_rows else math.nan
    if best == best:
        # for an order not at its grid index (inside the spread, most often: a market maker's quotes),
        # shown_size's tests, which hold for the whole side: its deepest listed price, and its last row
        last = px_row[n_rows - 1]
        deepest = last if last == last else _deepest_listed(px_row)  # (a full side's deepest is its last)
        return px_row, sz_row, best, n_rows, last, deepest, best >= last  # (bids_order: prices falling, as bids)
    # an empty side (nan first) shows 0 at every price: every test made to fail, so each order reaches level_size,
    # whose answer for such a side is 0.0 (no per-order test of emptiness)
    return px_row, sz_row, 0.0, 0, math.nan, math.nan, True


class ClientOrder:
    """A client's resting order. Mutable: fills shrink ``sz``; the queue advances ``queue_ahead``."""

    __slots__ = ("oid", "cloid", "user", "coin", "is_buy", "px", "sz", "orig_sz", "reduce_only", "tif",
                 "queue_ahead", "level_sz", "ts_ms", "seen", "bound")

    def __init__(self, oid: int, cloid: str | None, user: str, coin: str, is_buy: bool, px: float, sz: float,
                 orig_sz: float, reduce_only: bool, tif: str, queue_ahead: float, ts_ms: int) -> None:
        self.oid = oid
        self.cloid = cloid
        self.user = user
        self.coin = coin
        self.is_buy = is_buy
        self.px = px
        self.sz = sz
        self.orig_sz = orig_sz
        self.reduce_only = reduce_only
        self.tif = tif
        self.queue_ahead = queue_ahead
        self.level_sz = queue_ahead  # displayed size at our level when last seen
        self.ts_ms = ts_ms
        self.seen = 0  # the number of the first pending book update it has not taken (CoinBook.pending)
        self.bound = None  # its share of its account's orders_bound (Exchange._place), None while it has none


def level_size(px_row, sz_row, px: float, tick: float) -> float:
    """Displayed size at ``px`` in one side's levels (best first, one tick apart when synthetic)."""
    n = len(px_row)
    if n == 0:
        return 0.0
    best = px_row[0]
    if best != best:  # nan: empty side
        return 0.0
    i = int(round(abs(best - px) / tick))
    if i < n and px_row[i] == px:
        return float(sz_row[i])
    last = px_row[n - 1]
    if last == last:  # (a side shorter than the rows ends in nan: scan it)
        if best >= last:  # bids, best (highest) first: a price above the best or below the last is not listed
            if px > best or px < last:
                return 0.0
        elif px < best or px > last:  # asks
            return 0.0
    for j in range(n):  # replayed books need not sit on the grid
        if px_row[j] == px:
            return float(sz_row[j])
    return 0.0


def join_size(px_row, sz_row, px: float, tick: float, is_bid: bool) -> float:
    """The queue ahead of an order joining at ``px``: the displayed size there, or, beyond the deepest level
    listed, that level's size (the book shows a side's first levels only)."""
    n = len(px_row)
    if n:
        last = px_row[n - 1]
        if last == last:  # (a side listing every row, as the synthetic market's: its deepest level is its last)
            if px < last if is_bid else px > last:
                return float(sz_row[n - 1])
            # (level_size's answer at its grid index written out, as _catch_up's: the synthetic market's every join
            # finds its price there, where the call and level_size's own tests of the side ran some 20 bytecodes more;
            # a price off its index, or a side whose best is nan, is level_size's)
            best = px_row[0]
            if best == best:
                i = int(round(abs(best - px) / tick))
                if i < n and px_row[i] == px:
                    return float(sz_row[i])
            return level_size(px_row, sz_row, px, tick)
    shown = shown_size(px_row, sz_row, px, tick, is_bid)
    if shown is not None:
        return shown
    for j in range(len(px_row) - 1, -1, -1):
        if px_row[j] == px_row[j]:
            return float(sz_row[j])
    return 0.0


def _deepest_listed(px_row) -> float:
    """A side's deepest listed price, nan when it lists none (a side shorter than the rows ends in nan)."""
    for j in range(len(px_row) - 1, -1, -1):
        if px_row[j] == px_row[j]:
            return px_row[j]
    return math.nan


def shown_size(px_row, sz_row, px: float, tick: float, is_bid: bool) -> float | None:
    """Displayed size at ``px`` (``level_size``), or None when ``px`` lies beyond the deepest listed level of a
    side that lists any: not seen, which is not nothing."""
    deepest = _deepest_listed(px_row)
    if deepest == deepest and (px < deepest if is_bid else px > deepest):
        return None
    return level_size(px_row, sz_row, px, tick)


class CoinBook:
    """Client orders of one coin, sorted by priority (best price first, then time)."""

    __slots__ = ("coin", "tick", "bids", "asks", "max_bid", "min_ask", "power", "lot", "top", "pending", "base",
                 "max_pending", "shown")

    def __init__(self, coin: str, tick: float, power: float, lot: float = 0.0) -> None:
        self.coin = coin
        self.tick = tick
        # a fill's size is whole lots, as every size on the venue is: the market's prints and the queue ahead are
        # not (the synthetic market's sizes are continuous), and a fill cut from them left positions off the
        # size grid (0.0000065903 BTC at the end of a day). 0: sizes as they come (unit tests of the queue)
        self.lot = lot
        self.bids: list[ClientOrder] = []
        self.asks: list[ClientOrder] = []
        self.max_bid = -math.inf
        self.min_ask = math.inf
        self.power = power
        # the bbo feed's memo (Exchange._run_bbo_feed): the coin's top of book, (bid, ask) as Exchange._touch gives
        # them, or None once anything it is made of may have moved: the orders here (add, remove), and, set by the
        # exchange, the displayed book, what fills consumed of it, and an order's size
        self.top: tuple | None = None
        # the displayed book's first row a side, (bid px, bid sz, ask px, ask sz), set by the exchange's market loop
        # at each book update (None before one, or after a jump): Exchange._top's fast way reads it
        self.shown: tuple | None = None
        # the book updates not yet applied to every queue (note_rows), oldest first, each its rows (bid px, bid sz,
        # ask px, ask sz: lists, or numpy rows); ``base`` the number of the first (updates are numbered from 0 as
        # noted; an order's ``seen``, the first it has not taken: it joined then, or took every one before); at most
        # ``max_pending``
        self.pending: list[tuple[list, list, list, list]] = []
        self.base = 0
        self.max_pending = _MAX_PENDING

    def add(self, order: ClientOrder) -> None:
        # (the order's price in a name and the index tested for truth: 4 bytecodes fewer for each order it passes,
        # from the side's end, to its place behind those of its price)
        self.top = None
        order.seen = self.base + len(self.pending)
        px = order.px
        if order.is_buy:
            side = self.bids
            i = len(side)
            while i and side[i - 1].px < px:
                i -= 1
            side.insert(i, order)
            self.max_bid = side[0].px
        else:
            side = self.asks
            i = len(side)
            while i and side[i - 1].px > px:
                i -= 1
            side.insert(i, order)
            self.min_ask = side[0].px

    def remove(self, order: ClientOrder) -> None:
        self.top = None
        if order.is_buy:
            self.bids.remove(order)
            if self.bids:
                self.max_bid = self.bids[0].px
            else:
                self.max_bid = -math.inf
                if self.pending:
                    self._let_go()  # (what only the bids owed)
        else:
            self.asks.remove(order)
            if self.asks:
                self.min_ask = self.asks[0].px
            else:
                self.min_ask = math.inf
                if self.pending:
                    self._let_go()

    def hits_from_trade(self, is_buy_aggressor: bool, px: float, sz: float) -> list[tuple[ClientOrder, float]]:
        """Which client orders a trade print fills, and by how much (queue ahead consumed first).

        A sell print at ``px`` with size ``sz``: bids above the best displayed level (inside the spread)
        are hit first, out of the aggressor's size; bids at displayed levels above ``px`` were swept whole;
        at ``px`` the remaining size eats the queue ahead, then the order, and what of it the clients there
        did not take comes off their ``level_sz``: the next book's shrink of the level is this print, and
        taken again for cancels it moved the queue twice (hftbacktest's queue models take it off too).
        """
        hits: list[tuple[ClientOrder, float]] = []
        if is_buy_aggressor:
            if px < self.min_ask:
                return hits
            side = self.asks
            if self.pending:
                self._catch_up_reached(side, px, False)
        else:
            if px > self.max_bid:
                return hits
            side = self.bids
            if self.pending:
                self._catch_up_reached(side, px, True)
        remaining = sz
        level_at = -1  # where the orders at the print's price start in ``side``, and the print's size left there
        level_left = 0.0
        for i, o in enumerate(side):
            through = (o.px < px) if is_buy_aggressor else (o.px > px)
            if through:
                # a displayed level printed through was swept whole; inside the spread the order takes
                # from the aggressor's size before the print's level does
                take = o.sz if o.level_sz > 0.0 else self._whole_lots(min(o.sz, remaining))
                remaining = max(0.0, remaining - take)
                o.queue_ahead = 0.0
                if take > 0.0:
                    hits.append((o, take))
            elif o.px == px:
                if level_at < 0:
                    level_at, level_left = i, remaining
                if remaining <= 0.0:
                    break
                if o.queue_ahead >= remaining:
                    o.queue_ahead -= remaining
                    remaining = 0.0
                    break
                remaining -= o.queue_ahead
                o.queue_ahead = 0.0
                take = self._whole_lots(min(o.sz, remaining))
                remaining -= take
                if take > 0.0:
                    hits.append((o, take))
            else:
                break
        if level_at >= 0:
            market = level_left - sum(take for o, take in hits if o.px == px)  # the market's orders there gave it
            if market > 0.0:
                for o in side[level_at:]:
                    if o.px != px:
                        break
                    o.level_sz = max(0.0, o.level_sz - market)
                    if o.queue_ahead > o.level_sz:
                        o.queue_ahead = o.level_sz
        return hits

    def _whole_lots(self, sz: float) -> float:
        """``sz`` down to whole lots (an order's own size, on the grid, stays itself)."""
        lot = self.lot
        if not lot:
            return sz
        return round(math.floor(sz / lot + 1e-9) * lot, 12)

    def crossed_by_book(self, best_bid: float, best_ask: float) -> list[ClientOrder]:
        """Orders the market moved through: resting bids at or above the best ask, asks at or below the best bid.

        Loops, not ``out.extend`` of two generators: those, closures over the two prices, made a cell for each at
        every call (a stress session's 98 a minute), and a generator and its frame for each side crossed. A side is
        in priority order, best price first, so the orders crossed are a prefix of it: the loop stops at the first
        that is not (a generator read the whole side)."""
        out: list[ClientOrder] = []
        if best_ask <= self.max_bid:
            for o in self.bids:
                if o.px < best_ask:
                    break
                out.append(o)
        if best_bid >= self.min_ask:
            for o in self.asks:
                if o.px > best_bid:
                    break
                out.append(o)
        return out

    def advance_queues(self, bid_px, bid_sz, ask_px, ask_sz) -> None:
        """Apply the probabilistic cancel-ahead rule after the displayed book changed (rows: lists of floats, or
        numpy rows, which are turned into lists once here: per-element numpy access costs more)."""
        if type(bid_px) is not list:
            bid_px, bid_sz = bid_px.tolist(), bid_sz.tolist()
        if type(ask_px) is not list:
            ask_px, ask_sz = ask_px.tolist(), ask_sz.tolist()
        self.advance_queue_rows(bid_px, bid_sz, ask_px, ask_sz)

    def advance_queue_rows(self, bid_px: list, bid_sz: list, ask_px: list, ask_sz: list) -> None:
        """advance_queues for rows that are lists of floats already: note_rows, then every queue brought up to it."""
        self.note_rows(bid_px, bid_sz, ask_px, ask_sz)
        self.catch_up()

    def note_rows(self, bid_px, bid_sz, ask_px, ask_sz) -> None:
        """A book update (rows: lists of floats, or numpy rows, the exchange's), kept to be applied to the
        queues when they are next read: the cancel-ahead rule runs order by order, each order's queue from its own
        state and the rows alone, so it may run late, in the same order, to the same figures. Only a print reaching
        the clients' orders (hits_from_trade) reads a queue; the orders of a market maker that requotes every cycle
        are mostly gone before one does (a stress session: 82% of the order-updates the eager rule ran were for
        orders cancelled before any print read them). At most ``max_pending`` are kept (make_room): a book no print
        reaches for an hour would otherwise hold all its rows. Exchange._run_market writes
        this out (an append, and the cap's test). tests/twin/test_book_lazy.py holds it to the rule run at each."""
        pending = self.pending
        pending.append((bid_px, bid_sz, ask_px, ask_sz))
        if len(pending) >= self.max_pending:
            self.make_room()

    def make_room(self) -> None:
        """Half the pending updates let go: the orders that owe any of the older half catch up (the others' updates
        may still go, unread, with them)."""
        pending = self.pending
        mid = self.base + (len(pending) + 1) // 2
        for side, is_bid in ((self.bids, True), (self.asks, False)):
            owing = [o for o in side if o.seen < mid]
            if owing:
                self._catch_up(owing, is_bid)
        self._let_go()

    def catch_up(self) -> None:
        """Every resting order's queue brought up to the last book update noted (also before reading a queue
        outside this class: tests, tools), and the pending updates let go."""
        end = self.base + len(self.pending)
        for side, is_bid in ((self.bids, True), (self.asks, False)):
            owing = [o for o in side if o.seen < end]
            if owing:
                self._catch_up(owing, is_bid)
        self.pending.clear()
        self.base = end

    def _let_go(self) -> None:
        """Drop the pending updates no resting order owes."""
        pending, base = self.pending, self.base
        keep = base + len(pending)
        for o in self.bids:
            if o.seen < keep:
                keep = o.seen
        for o in self.asks:
            if o.seen < keep:
                keep = o.seen
        if keep > base:
            del pending[:keep - base]
            self.base = keep

    def _catch_up_reached(self, side: list, px: float, is_bid: bool) -> None:
        """Before a print at ``px`` on ``side``: the orders it reaches (at ``px`` or through it, a prefix of the
        side: hits_from_trade reads no other) take the updates they owe."""
        end = self.base + len(self.pending)
        owing = []
        for o in side:
            if (o.px < px) if is_bid else (o.px > px):
                break
            if o.seen < end:
                owing.append(o)
        if owing:
            self._catch_up(owing, is_bid)
            self._let_go()

    def _catch_up(self, orders: list, is_bid: bool) -> None:
        """Apply to ``orders`` (of one side) the pending book updates each owes, each order's oldest first, each
        update to the orders that rested when it came (an order's ``seen``). Order by order, as the rule runs (no
        order's figures depend on another's): an update's side-wide tests made once, for the updates some order
        still owes."""
        pending, base = self.pending, self.base
        end = base + len(pending)
        start = min([o.seen for o in orders])
        col = 0 if is_bid else 2
        views = [_side_view(rows[col], rows[col + 1]) for rows in pending[start - base:]]
        n = self.power
        tick = self.tick
        for o in orders:
            k = o.seen - start
            o.seen = end
            px = o.px
            level = o.level_sz  # (the order's figures kept in locals over its updates, stored once after)
            ahead = o.queue_ahead
            # level_size(px_row, sz_row, o.px, tick) inlined: this runs for every resting client order a print
            # reaches, on every book update since the last
            for px_row, sz_row, best, n_rows, last, deepest, bids_order in (views[k:] if k > 0 else views):
                i = round(abs(best - px) / tick)  # (an int: round of a float)
                if i < n_rows and px_row[i] == px:
                    now = sz_row[i]  # (floats already: the exchange's lists, or advance_queues' tolist of numpy rows)
                elif deepest == deepest and (px < deepest if is_bid else px > deepest):
                    continue  # beyond the listed levels: not seen, the queue holds
                elif last == last and ((px > best or px < last) if bids_order else (px < best or px > last)):
                    now = 0.0  # outside the listed prices (inside the spread): nothing shown there
                else:
                    now = level_size(px_row, sz_row, px, tick)  # off the grid: a scan of the side
                if now < level and ahead > 0.0:
                    # (max(0.0, x) written x if x > 0.0 else 0.0, its value to the bit: max keeps the first of
                    # equals, and nan > 0.0 is False; and fa + fb made once)
                    behind = level - ahead
                    try:
                        fa = ahead ** n
                        total = fa + (behind if behind > 0.0 else 0.0) ** n
                        share = fa / total if _TOTAL_MIN <= total <= _TOTAL_MAX else _ahead_share(ahead, behind, n)
                    except OverflowError:  # a high power on large sizes (thousands of coins at n = 100)
                        share = _ahead_share(ahead, behind, n)
                    ahead -= (level - now) * share
                    if not ahead > 0.0:
                        ahead = 0.0
                if ahead > now:
                    ahead = now
                level = now
            o.queue_ahead = ahead
            o.level_sz = level
