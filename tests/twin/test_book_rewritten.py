"""CoinBook's methods rewritten for fewer bytecodes, each held to the one it replaced, kept here verbatim, over random
books built and emptied through the book's own add and remove."""
import math

import numpy as np
from hypothesis import given, settings, strategies as st

from twin.book import ClientOrder, CoinBook, join_size, level_size, shown_size


def _crossed_by_book_before(self, best_bid: float, best_ask: float) -> list[ClientOrder]:
    """CoinBook.crossed_by_book until 7 December 2026 (two generators, closures over the prices), verbatim."""
    out: list[ClientOrder] = []
    if best_ask <= self.max_bid:
        out.extend(o for o in self.bids if o.px >= best_ask)
    if best_bid >= self.min_ask:
        out.extend(o for o in self.asks if o.px <= best_bid)
    return out


def _add_before(self, order: ClientOrder) -> None:
    """CoinBook.add until 7 December 2026 (``order.px`` read at each order passed, ``i > 0``), verbatim."""
    self.top = None
    if order.is_buy:
        order.seen = self.base + len(self.pending)
        side = self.bids
        i = len(side)
        while i > 0 and side[i - 1].px < order.px:
            i -= 1
        side.insert(i, order)
        self.max_bid = side[0].px
    else:
        order.seen = self.base + len(self.pending)
        side = self.asks
        i = len(side)
        while i > 0 and side[i - 1].px > order.px:
            i -= 1
        side.insert(i, order)
        self.min_ask = side[0].px


_PRICES = [97.0, 98.0, 99.0, 99.5, 100.0, 100.5, 101.0, 102.0, 103.0]
# each step: add an order (side, price), remove the resting order at this index of all resting ones (if any), or
# note a book update (pending, which an order joining counts)
_steps = st.lists(st.one_of(st.tuples(st.just("add"), st.booleans(), st.sampled_from(_PRICES)),
                            st.tuples(st.just("remove"), st.integers(0, 30)), st.just(("note",))), max_size=30)


def _book_of(steps, add=CoinBook.add) -> CoinBook:
    """A book made by ``steps``, each order added through ``add`` (a function of the book and the order)."""
    book = CoinBook("X", 0.5, 2.0)
    resting: list[ClientOrder] = []
    for n, step in enumerate(steps):
        if step[0] == "add":
            o = ClientOrder(n, None, "u", "X", step[1], step[2], 1.0, 1.0, False, "Alo", 0.0, 0)
            add(book, o)
            resting.append(o)
        elif step[0] == "note":
            book.note_rows([], [], [], [])
        elif resting:
            book.remove(resting.pop(step[1] % len(resting)))
    return book


def _state(book: CoinBook) -> tuple:
    return ([(o.oid, o.px, o.seen) for o in book.bids], [(o.oid, o.px, o.seen) for o in book.asks], book.max_bid,
            book.min_ask, book.top, book.base, len(book.pending))


@settings(max_examples=400, deadline=None)
@given(_steps)
def test_an_order_joins_its_side_where_the_add_it_replaced_put_it(steps):
    """add, the order's price in a name and the index tested for truth, against _add_before over random books: every
    order in the same place (behind those of its price, ahead of worse ones), with the same ``seen``, and the same
    touch. (Passing the orders of the new one's price too, ``side[i - 1].px <= px``, fails here: it jumps the
    queue.)"""
    assert _state(_book_of(steps)) == _state(_book_of(steps, _add_before))


@settings(max_examples=400, deadline=None)
@given(_steps, st.sampled_from(_PRICES + [float("nan")]), st.sampled_from(_PRICES + [float("nan")]))
def test_the_orders_crossed_by_the_book_are_those_the_generators_found(steps, best_bid, best_ask):
    """crossed_by_book's loops, stopping at a side's first order not crossed, against _crossed_by_book_before: the
    same orders, in the same order, for any book and touch (crossed or not, a price on an order's, nan). (Stopping
    at an order at the best ask, ``o.px <= best_ask``, fails here: the bids at the very price are left out.)"""
    book = _book_of(steps)
    assert book.crossed_by_book(best_bid, best_ask) == _crossed_by_book_before(book, best_bid, best_ask)


def _join_size_before(px_row, sz_row, px: float, tick: float, is_bid: bool) -> float:
    """twin.book.join_size until 7 December 2026 (level_size called for every price within the listed ones), verbatim
    but for its docstring and comments."""
    n = len(px_row)
    if n:
        last = px_row[n - 1]
        if last == last:
            if px < last if is_bid else px > last:
                return float(sz_row[n - 1])
            return level_size(px_row, sz_row, px, tick)
    shown = shown_size(px_row, sz_row, px, tick, is_bid)
    if shown is not None:
        return shown
    for j in range(len(px_row) - 1, -1, -1):
        if px_row[j] == px_row[j]:
            return float(sz_row[j])
    return 0.0


@st.composite
def _side_rows(draw):
    """One side's rows as the exchange gives them: a price a tick apart from the best (bids falling, asks rising) or,
    as a replayed book's, off that grid, its sizes; the rows ending in nan (a side shorter than them), all nan (an
    empty side), or none; lists, or numpy rows. Then a price to join at (on, between or beyond the rows) and the
    side."""
    tick = draw(st.sampled_from([0.5, 1.0]))
    is_bid = draw(st.booleans())
    n = draw(st.integers(0, 6))
    best = 100.0
    step = -tick if is_bid else tick
    px = [best + step * k + (draw(st.sampled_from([0.0, 0.0, 0.25])) if k else 0.0) for k in range(n)]
    sz = [draw(st.sampled_from([0.5, 1.0, 3.0])) for _ in range(n)]
    listed = draw(st.integers(0, n)) if n else 0  # (the rows after these are nan: not listed)
    px = px[:listed] + [math.nan] * (n - listed)
    sz = sz[:listed] + [math.nan] * (n - listed)
    at = best + step * draw(st.integers(-2, n + 2)) + draw(st.sampled_from([0.0, 0.0, 0.25]))
    if draw(st.booleans()):
        return np.array(px), np.array(sz), at, tick, is_bid
    return px, sz, at, tick, is_bid


def _answer(fn, rows) -> object:
    try:
        return repr(fn(*rows))
    except Exception as exc:  # noqa: BLE001 (compared, whatever it is)
        return type(exc), str(exc)


@settings(max_examples=600, deadline=None)
@given(_side_rows())
def test_the_queue_ahead_of_a_join_is_the_size_it_was(rows):
    """join_size, level_size's answer at the price's grid index written out, against _join_size_before over random
    sides (on the grid or off it, listing every row, ending in nan, empty; lists or numpy rows) and prices (on a row,
    between rows, inside the spread, beyond the deepest): the same size. (Answering at the grid index without
    comparing its price, ``if i < n:``, fails here: an off-grid row's size is taken for a price it does not list.)"""
    assert _answer(join_size, rows) == _answer(_join_size_before, rows)
