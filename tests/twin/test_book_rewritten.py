"""CoinBook's methods rewritten for fewer bytecodes, each held to the one it replaced, kept here verbatim, over random
books built and emptied through the book's own add and remove."""
from hypothesis import given, settings, strategies as st

from twin.book import ClientOrder, CoinBook


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
