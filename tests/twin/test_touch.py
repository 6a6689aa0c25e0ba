"""Exchange._touch, the bbo feed's top of one side, is _l2_side's first level (the book push's rule) whichever way it
gets there: from the level rows' lists when a book update made them, or, when none did and nothing is consumed, from
the numpy rows' first entry (no lists made for it), falling back to the lists when that entry is no level."""
from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings, strategies as st

from twin.book import ClientOrder
from twin.exchange import Exchange, _l2_side
from twin.params import TwinParams
from twin.seeding import rest_order

USER = "0x" + "ab" * 20


def _reference(ex: Exchange, coin: str, is_buy: bool):
    """The side's first level as the book push makes it, from lists made afresh (no memo read or written)."""
    pxs = (ex.bid_px if is_buy else ex.ask_px).get(coin)
    if pxs is None:
        return None
    szs = (ex.bid_sz if is_buy else ex.ask_sz)[coin]
    book = ex.books[coin]
    side = _l2_side(pxs.tolist(), szs.tolist(), book.bids if is_buy else book.asks, len(pxs) + 8, ex._consumed[coin],
                    is_buy)
    return side[0] if side else None


def _check(ex: Exchange, coin: str, drop_rows: bool) -> None:
    for is_buy in (True, False):
        if drop_rows:
            ex._rows_of[coin][is_buy] = None  # (a memo: dropping it is always right, and takes _touch's other way)
        assert ex._touch(coin, is_buy) == _reference(ex, coin, is_buy)


_sizes = st.floats(0.0, 3.0) | st.just(0.0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), _sizes), min_size=0, max_size=6), st.booleans(),
       st.lists(st.tuples(st.integers(-2, 6), st.floats(0.001, 1.0)), max_size=4),
       st.dictionaries(st.integers(0, 6), st.floats(0.0, 3.0), max_size=3), st.booleans())
def test_touch_is_the_push_s_first_level_on_any_rows(levels, bids, clients, consumed, cached):
    """Rows of any shape: a first row that is nan or empty (the numpy read falls back), sizes consumed, client orders
    at, inside and behind the levels; the lists made first (``cached``) or not."""
    ex = Exchange.build(TwinParams(), 0)
    coin = "BTC"
    sign = -1.0 if bids else 1.0
    pxs = np.array([math.nan if nan else 100.0 + sign * i for i, (nan, _) in enumerate(levels)], dtype=float)
    szs = np.array([sz for _, sz in levels], dtype=float)
    (ex.bid_px if bids else ex.ask_px)[coin] = pxs
    (ex.bid_sz if bids else ex.ask_sz)[coin] = szs
    ex._rows_of[coin] = [None, None]
    ex._consumed[coin] = {100.0 + sign * i: c for i, c in consumed.items()}
    book = ex.books[coin]
    for k, (ticks, sz) in enumerate(clients):
        book.add(ClientOrder(k + 1, None, USER, coin, bids, 100.0 - sign * ticks, sz, sz, False, "Alo", 0.0, 0))
    if cached:
        ex._level_rows(coin, bids)
    got = ex._touch(coin, bids)
    assert got == _reference(ex, coin, bids)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**16), st.booleans())
def test_touch_is_the_push_s_first_level_through_a_session(seed, resting):
    """The market moving, with (``resting``) or without client orders at the touch: after every step, both ways."""
    ex = Exchange.build(TwinParams(), seed)
    ex.fund(USER, 1_000_000.0)
    ex.connect(lambda p: None).subscribe("trades", "BTC")
    ex.env.run(until=0.5)
    if resting:
        rest_order(ex, USER, "BTC", True, float(ex.best_bid["BTC"]), 0.01)
        rest_order(ex, USER, "BTC", False, float(ex.best_ask["BTC"]) + 1.0, 0.02)
    n = 0
    while ex.env.peek() < 15.0:
        ex.env.step()
        n += 1
        _check(ex, "BTC", drop_rows=n % 2 == 0)
    assert n > 100
