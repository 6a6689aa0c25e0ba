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


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), _sizes), min_size=0, max_size=5),
       st.lists(st.tuples(st.booleans(), _sizes), min_size=0, max_size=5),
       st.lists(st.tuples(st.booleans(), st.integers(-2, 5), st.floats(0.001, 1.0)), max_size=5),
       st.dictionaries(st.integers(-5, 5), st.floats(0.0, 3.0), max_size=2), st.booleans(), st.booleans())
def test_the_feeds_top_is_the_two_touches_on_any_rows(bid_levels, ask_levels, clients, consumed, bids_made, asks_made):
    """Exchange._top, the bbo feed's top of both sides (its own way where both sides' lists are made, nothing is
    consumed and each first row is a level; _touch's otherwise), is _touch's two sides on rows of any shape: nan or
    empty first rows, sizes consumed, client orders at, inside and behind the levels, either side's lists made or
    not."""
    ex = Exchange.build(TwinParams(), 0)
    coin = "BTC"
    for is_buy, levels in ((True, bid_levels), (False, ask_levels)):
        sign = -1.0 if is_buy else 1.0
        start = 100.0 if is_buy else 101.0
        (ex.bid_px if is_buy else ex.ask_px)[coin] = np.array(
            [math.nan if nan else start + sign * i for i, (nan, _) in enumerate(levels)], dtype=float)
        (ex.bid_sz if is_buy else ex.ask_sz)[coin] = np.array([sz for _, sz in levels], dtype=float)
    ex._rows_of[coin] = [None, None]
    ex._consumed[coin] = {100.0 + i: c for i, c in consumed.items()}
    book = ex.books[coin]
    for k, (is_buy, ticks, sz) in enumerate(clients):
        px = 100.0 - ticks if is_buy else 101.0 + ticks
        book.add(ClientOrder(k + 1, None, USER, coin, is_buy, px, sz, sz, False, "Alo", 0.0, 0))
    if bids_made:
        ex._level_rows(coin, True)
    if asks_made:
        ex._level_rows(coin, False)
    got = ex._top(coin, book)
    ex._rows_of[coin] = [None, None]  # (the touches' own way, from the rows afresh)
    assert got == (ex._touch(coin, True), ex._touch(coin, False))
