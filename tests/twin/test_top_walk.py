"""Exchange._top walks a side's client orders only when its best client order (CoinBook.max_bid, min_ask) is at or
better than the displayed best, where the walk it skips would stop at its first order. Held here to the two _touch
calls (the rule _top writes out) over displayed books of a tick's spread and wider, and client orders resting
inside the spread, at the best, behind it, or none, either side, one or several at a price."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from twin.book import ClientOrder
from twin.exchange import Exchange
from twin.params import TwinParams

LEVELS = 5


def _venue(bid: float, spread: int) -> Exchange:
    """A venue whose displayed BTC book is ``bid`` and ``spread`` ticks up, five levels a side of 1..5 coins."""
    ex = Exchange.build(TwinParams(), 0)
    ask = bid + spread
    bpx, apx = bid - np.arange(LEVELS, dtype=float), ask + np.arange(LEVELS, dtype=float)
    bsz = asz = np.arange(1, LEVELS + 1, dtype=float)
    ex._rows_now["BTC"] = (bpx, bsz, apx, asz)
    ex._rows_of["BTC"] = [None, None]
    ex._consumed["BTC"].clear()
    ex.books["BTC"].shown = (bid, 1.0, ask, 1.0)
    return ex


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([1, 2, 4]), st.lists(st.tuples(st.booleans(), st.integers(-3, 5), st.integers(1, 9)),
                                            max_size=8))
def test_the_top_is_the_two_touches(spread, orders):
    bid = 100_000.0
    ex = _venue(bid, spread)
    book = ex.books["BTC"]
    for k, (is_buy, ticks, lots) in enumerate(orders):
        # ticks from the displayed best toward the other side (inside the spread: short of it), or behind it
        px = bid + ticks if is_buy else bid + spread - ticks
        if is_buy and px >= bid + spread or not is_buy and px <= bid:
            continue  # (a client order never rests through the displayed book)
        book.add(ClientOrder(k, None, "0x" + "ab" * 20, "BTC", is_buy, px, lots * 0.001, lots * 0.001, False, "Gtc",
                             0.0, 0))
    assert ex._top("BTC", book) == (ex._touch("BTC", True), ex._touch("BTC", False))


def test_the_cases_are_reached():
    """A client bid inside the spread (the top moves to it), one at the best (joined), one behind (the walk skipped):
    the top as _touch makes it, each side."""
    for ticks, want in [(1, (100_001.0, 0.002, 1)), (0, (100_000.0, 1.002, 2)), (-2, (100_000.0, 1.0, 1))]:
        ex = _venue(100_000.0, 3)
        book = ex.books["BTC"]
        book.add(ClientOrder(1, None, "0x" + "ab" * 20, "BTC", True, 100_000.0 + ticks, 0.002, 0.002, False, "Gtc",
                             0.0, 0))
        book.add(ClientOrder(2, None, "0x" + "ab" * 20, "BTC", False, 100_003.0 - ticks, 0.002, 0.002, False, "Gtc",
                             0.0, 0))
        top = ex._top("BTC", book)
        assert top == (ex._touch("BTC", True), ex._touch("BTC", False))
        assert top[0] == want and top[1] == (100_003.0 - max(ticks, 0), want[1], want[2])
