"""Paper fills for the Shadow level: what the quotes the agent computed (and did not place) would have
filled, judged from the public trades.

Shadow places nothing, yet promotion out of it needs fills at the level and their markouts. The
model is pessimistic about queue position by default: a shadow quote fills only when a trade
prints *through* its price (a sell below our bid, a buy above our ask), never at it, because at
our price we would have been behind the whole visible queue; ``shadow.at_price_share`` gives it a
share of the prints at its price instead (the share the real fills measured: ``agent.shadow``). Each fill is capped by the trade's
size and the quote's size. Markouts are taken against the mid ``horizon_s`` later, like the
ledger's, from when the print was made (a real fill's run from its venue time), and a paper fill pays
``fee_rate`` (the venue's maker fee as the session knows it, ``graduation.paper_maker_fee_bps``; a real fill pays
what the venue charged), so the positive-edge share at Shadow measures the same thing as at the live levels: edge net
of fees. (It paid the quote model's ``quoting.maker_fee_bps``, 0 by default, until 6 December: on a venue charging 1.5
bp Shadow promoted on fills the level above, net of the fee it pays, would have judged losing.)

The paper fills keep a paper position (``position``: the net of what they bought and sold since Shadow was entered,
less the real fills of Shadow's exits, which move the real position and whose prints paper-fill their paper twins),
and the core quotes Shadow's ladder on the real position plus it: skewed by it (but while Shadow works off a real
position: its exits are real orders from that ladder, priced on the real position), and cut by ``within_limit`` to the
position limit counted worst case, as a live level's orders are by the real position (reconcile's rule 3). Without
it the paper fills of 30 minutes reached 0.14-0.57 BTC (seeds 0-3) against a 0.05 limit on quotes never skewed for
it: the evidence of an agent that could not exist live.
"""
from __future__ import annotations

import math
from functools import reduce
from operator import add as _ADD, attrgetter

from agent.execution.reconcile import refused_under_minimum, with_size
from agent.markouts import MarkoutQueue


class PaperFills:
    __slots__ = ("bids", "asks", "fills", "position", "markouts", "_source", "at_price_share", "_books", "_since_b",
                 "_since_a")

    def __init__(self, horizon_s: float = 10.0, fee_rate: float = 0.0, at_price_share: float = 0.0) -> None:
        self.bids: list[tuple[float, float]] = []  # (px, sz), best first
        self.asks: list[tuple[float, float]] = []
        self.fills = 0
        self.position = 0.0  # Σ of the paper fills' sizes, bought +, sold −, less Shadow's exits' real fills
        self.markouts = MarkoutQueue(horizon_s, fee_rate)
        self._source = None  # the quotes list the book was set from, until a paper fill spends some of it
        self.at_price_share = at_price_share  # of a print at a quote's price, the share that fills it
        self._books: dict[tuple, tuple[list, list]] = {}  # quotes (a tuple of them) -> their (bids, asks), unspent
        # per side, price -> since when it has been quoted without a break: a print made before that fills no quote
        # there (the real orders' shadow book holds a print made before an order was sent to the same rule)
        self._since_b: dict[float, float] = {}
        self._since_a: dict[float, float] = {}

    def set_quotes(self, quotes, ts: float = -math.inf) -> None:
        """The quotes the agent would hold now (objects with side, px, sz; side +1 bid, −1 ask), in a list
        the caller does not change once passed, set at ``ts`` (a price quoted before keeps its own time). The same
        list again (the core reuses its ladder while nothing moves) with nothing filled since is a no-op."""
        if quotes is self._source:
            return
        if self._source is None:  # a paper fill since the last set (or none set, or cleared: no quotes to see)
            self._forget_spent()
        self._source = quotes
        # At Shadow this runs on nearly every quote cycle with a new list (the ladder moved a tick, or the overlay
        # made its list again), but the ladder's quotes come back as the mid moves back and forth over a few ticks:
        # the books made for equal quotes (immutable values, as the core's NamedTuples are) are copied, not made
        # again in two Python loops. (Copied: a paper fill spends them in place.)
        try:
            key = tuple(quotes)
            made = self._books.get(key)
        except TypeError:  # a quote that is no value (unhashable): made afresh, as before
            key = made = None
        if made is None:
            made = ([(q.px, q.sz) for q in quotes if q.side > 0], [(q.px, q.sz) for q in quotes if q.side < 0])
            if key is not None:
                books = self._books
                if len(books) >= _BOOKS_KEPT:
                    del books[next(iter(books))]  # the oldest made
                books[key] = made
        self.bids = made[0][:]
        self.asks = made[1][:]
        old_b, old_a = self._since_b, self._since_a
        self._since_b = {px: old_b.get(px, ts) for px, _ in self.bids}
        self._since_a = {px: old_a.get(px, ts) for px, _ in self.asks}

    def _forget_spent(self) -> None:
        """A quote a print spent whole is a break at its price, as a real order filled whole is gone: quoted again,
        it is quoted from then on (kept at its first time, a print made between the fill and the cycle that restored
        it, delivered after, filled a quote not yet set again). One spent in part was held, and keeps its time."""
        for book, since in ((self.bids, self._since_b), (self.asks, self._since_a)):
            for px, sz in book:
                if sz <= 0.0:
                    since.pop(px, None)

    def clear(self) -> None:
        self._source = None
        self.bids = []
        self.asks = []
        self._since_b = {}
        self._since_a = {}

    def on_trade(self, ts: float, px: float, sz: float, aggressor_side: int, made_ts: float = math.inf) -> int:
        """A public trade; returns the paper fills it made. A sell aggressor hits bids, a buy lifts asks.
        ``made_ts``: when the venue made it (on the caller's clock; inf: not known): a quote set after that was not
        there to be filled by it, though the print is delivered after the quote was set, and its fills' markouts run
        from then, as a real fill's (the ledger's, graduation's): from its delivery, Shadow's measured a horizon
        longer by the print's feed latency than the live levels' (test_shadow.py)."""
        if aggressor_side < 0:
            book, since = self.bids, self._since_b
        else:
            book, since = self.asks, self._since_a
        if not book:
            return 0
        n = 0
        left = sz
        hit = -aggressor_side
        made = made_ts if made_ts < ts else ts  # its markouts run from then, as a real fill's (agent.markouts)
        share = self.at_price_share
        for i, (qpx, qsz) in enumerate(book):
            reach = print_reach(px, qpx, hit, share)
            if reach < 0.0 or left <= 0.0:
                break  # best first: a quote the print does not reach, none behind it is reached either
            if qsz <= 0.0 or made_ts < since[qpx]:
                continue  # spent by an earlier print, or not yet quoted when it was made: the next one may still fill
            take = reach * (left if left < qsz else qsz)
            if take <= 0.0:
                continue
            left -= take
            book[i] = (qpx, qsz - take)
            self.position += take if hit > 0 else -take
            self.markouts.add(made, hit, qpx)
            n += 1
        if n:
            self.fills += n
            self._source = None  # sizes spent: the next set_quotes restores them
        return n


_BOOKS_KEPT = 256  # the quote lists PaperFills keeps books for (a mid wandering over a few ticks revisits a few dozen)


def within_limit(quotes, position: float, limit: float, lot: float, min_notional: float):
    """Shadow's paper quotes as the position limit lets them rest, counted worst case on ``position`` (the paper
    one, at Shadow): reconcile's rule 3 for a book with nothing else resting. Per side, nearest the touch first,
    each quote is capped at the room left to the limit were every one before it filled, floored to the lot, and
    dropped when that leaves it under the venue's minimum; a reduce-only quote also at what is left to reduce.
    ``quotes`` itself when all fit (the common case, and what keeps ``PaperFills.set_quotes`` a no-op on a reused
    ladder)."""
    room_buy = limit - position
    room_sell = limit + position
    # Asked every Shadow cycle of a new ladder, most often far from the limit: the sum of both sides' sizes (in C,
    # added in the list's order from 0.0 as the loop below adds each side's: no side's sum is above it, float
    # addition of sizes being monotone) within the room of the tighter side says both fit without the loop.
    if not any(map(_REDUCE_ONLY, quotes)):
        if reduce(_ADD, map(_SZ, quotes), 0.0) <= (room_buy if room_buy < room_sell else room_sell) + 1e-12:
            return quotes
        ro = False
    else:
        ro = True
    bids = asks = 0.0
    for q in quotes:
        if q.side > 0:
            bids += q.sz
        else:
            asks += q.sz
    if bids <= room_buy + 1e-12 and asks <= room_sell + 1e-12 and not ro:
        return quotes
    ro_buy = max(0.0, -position)
    ro_sell = max(0.0, position)
    out = []
    for q in sorted(quotes, key=_LEVEL):  # (stable: bids before asks per level, as reconcile places them)
        buy = q.side > 0
        room = room_buy if buy else room_sell
        if q.reduce_only:
            room = min(room, ro_buy if buy else ro_sell)
        sz = q.sz if q.sz <= room else round(math.floor(max(0.0, room) / lot + 1e-9) * lot, 10)
        if sz <= 0.0 or refused_under_minimum(sz, q.px, q.reduce_only, abs(position), min_notional):
            continue
        if buy:
            room_buy -= sz
            ro_buy -= sz if q.reduce_only else 0.0
        else:
            room_sell -= sz
            ro_sell -= sz if q.reduce_only else 0.0
        out.append(q if sz == q.sz else with_size(q, sz))
    out.sort(key=_SIDE_FIRST)  # bids then asks, each nearest the touch first: the ladder's order
    return out


_SZ = attrgetter("sz")
_REDUCE_ONLY = attrgetter("reduce_only")


def _LEVEL(q):
    return q.level


def _SIDE_FIRST(q):
    return (-q.side, q.level)


def print_reach(px: float, qpx: float, side: int, at_price_share):
    """The paper fill model's one rule, for Shadow's quotes and for the real orders beside their real fills
    (``agent.shadow``): the share of what a print at ``px`` has left (capped by what the quote has left) that
    fills a quote at ``qpx`` on ``side`` (+1 a bid, −1 an ask). A print through the price fills it (1); one
    at it, ``at_price_share`` (our place in the queue ahead, which the public feed does not show); one that
    does not reach it, −1. A print takes from the quotes it reaches best first. (The share may be an array of
    shares: the shadow's fit runs the model at each.)"""
    if px < qpx if side > 0 else px > qpx:
        return 1.0
    return at_price_share if px == qpx else -1.0
