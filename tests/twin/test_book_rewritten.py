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


_PRICES = [97.0, 98.0, 99.0, 99.5, 100.0, 100.5, 101.0, 102.0, 103.0]
# each step: add an order (side, price), or remove the resting order at this index of all resting ones (if any)
_steps = st.lists(st.one_of(st.tuples(st.just("add"), st.booleans(), st.sampled_from(_PRICES)),
                            st.tuples(st.just("remove"), st.integers(0, 30))), max_size=30)


def _book_of(steps) -> CoinBook:
    book = CoinBook("X", 0.5, 2.0)
    resting: list[ClientOrder] = []
    for n, step in enumerate(steps):
        if step[0] == "add":
            o = ClientOrder(n, None, "u", "X", step[1], step[2], 1.0, 1.0, False, "Alo", 0.0, 0)
            book.add(o)
            resting.append(o)
        elif resting:
            book.remove(resting.pop(step[1] % len(resting)))
    return book


@settings(max_examples=400, deadline=None)
@given(_steps, st.sampled_from(_PRICES + [float("nan")]), st.sampled_from(_PRICES + [float("nan")]))
def test_the_orders_crossed_by_the_book_are_those_the_generators_found(steps, best_bid, best_ask):
    """crossed_by_book's loops, stopping at a side's first order not crossed, against _crossed_by_book_before: the
    same orders, in the same order, for any book and touch (crossed or not, a price on an order's, nan). (Stopping
    at an order at the best ask, ``o.px <= best_ask``, fails here: the bids at the very price are left out.)"""
    book = _book_of(steps)
    assert book.crossed_by_book(best_bid, best_ask) == _crossed_by_book_before(book, best_bid, best_ask)
