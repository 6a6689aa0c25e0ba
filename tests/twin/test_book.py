"""Queue position of client orders in the exogenous market book."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from twin.book import ClientOrder, CoinBook, join_size, level_size, shown_size


def order(oid, is_buy, px, sz, ahead):
    o = ClientOrder(oid, None, "u", "X", is_buy, px, sz, sz, False, "Alo", ahead, 0)
    o.level_sz = ahead
    return o


def test_trade_consumes_queue_ahead_first():
    book = CoinBook("X", 1.0, 2.0)
    o = order(1, True, 100.0, 1.0, ahead=3.0)
    book.add(o)
    assert book.hits_from_trade(False, 100.0, 2.0) == []
    assert o.queue_ahead == 1.0
    hits = book.hits_from_trade(False, 100.0, 1.5)
    assert hits == [(o, 0.5)] and o.queue_ahead == 0.0


def test_print_through_level_fills_whole_order():
    book = CoinBook("X", 1.0, 2.0)
    o = order(1, True, 101.0, 2.0, ahead=5.0)
    book.add(o)
    assert book.hits_from_trade(False, 100.0, 0.1) == [(o, 2.0)]


def test_inside_spread_order_takes_from_aggressor_size():
    book = CoinBook("X", 1.0, 2.0)
    o = order(1, False, 101.0, 2.0, ahead=0.0)  # not a displayed level
    book.add(o)
    assert book.hits_from_trade(True, 102.0, 0.5) == [(o, 0.5)]
    assert book.hits_from_trade(True, 100.0, 0.5) == []  # a buy print below our ask does not reach it


def test_cancels_ahead_follow_the_power_rule():
    book = CoinBook("X", 1.0, 1.0)  # power 1: proportional
    o = order(1, True, 99.0, 1.0, ahead=3.0)
    o.level_sz = 4.0  # 3 ahead, 1 (ours) behind
    book.add(o)
    px = np.array([100.0, 99.0])
    sz = np.array([5.0, 2.0])  # our level shrank by 2
    book.advance_queues(px, sz, np.array([101.0]), np.array([1.0]))
    assert abs(o.queue_ahead - (3.0 - 2.0 * 0.75)) < 1e-12
    sz2 = np.array([5.0, 0.5])  # shrinks below what we think is ahead → capped
    book.advance_queues(px, sz2, np.array([101.0]), np.array([1.0]))
    assert o.queue_ahead <= 0.5


def test_a_print_at_the_level_is_not_taken_again_for_cancels_when_the_book_shows_it_gone():
    """A print at our level eats the queue ahead; the next book shows the level less that print. Those are the
    same coins, so no cancels ahead follow (hftbacktest's queue models take the print off the level too). Counted
    again, the 2.0 printed out of a level of 3.0 also moved the 1.0 left ahead to 0.6, as cancels."""
    book = CoinBook("X", 1.0, 2.0)
    o = order(1, True, 99.0, 1.0, ahead=3.0)  # at the back of a level of 3.0
    book.add(o)
    assert book.hits_from_trade(False, 99.0, 2.0) == [] and o.queue_ahead == 1.0
    book.advance_queues(np.array([100.0, 99.0]), np.array([5.0, 1.0]), np.array([101.0]), np.array([1.0]))
    assert o.queue_ahead == 1.0
    # a print through the queue ahead, part of the order and on behind it: the level lost what the market's
    # orders gave it (1.0 ahead, 0.5 behind), not what the order took
    p = order(2, False, 102.0, 1.5, ahead=1.0)
    p.level_sz = 3.0
    book.add(p)
    assert book.hits_from_trade(True, 102.0, 3.0) == [(p, 1.5)] and p.queue_ahead == 0.0 and p.level_sz == 1.5


def test_an_order_beyond_the_listed_levels_joins_behind_the_deepest_one_and_holds_its_place_unseen():
    """The book lists a side's first levels only. An order deeper joins behind the deepest listed level's size
    (books deepen away from the touch), and while its price stays beyond the listed levels its queue holds. Taken
    for an empty level, such an order joined at the front, and one the book drifted away from lost its whole queue
    as cancels: either came into view first in line."""
    px, sz = np.array([100.0, 99.0, 98.0]), np.array([1.0, 2.0, 3.0])
    assert join_size(px, sz, 95.0, 1.0, True) == 3.0
    assert join_size(px, sz, 99.0, 1.0, True) == 2.0 and join_size(px, sz, 101.0, 1.0, True) == 0.0  # inside
    book = CoinBook("X", 1.0, 2.0)
    o = order(1, True, 98.0, 1.0, ahead=3.0)
    book.add(o)
    asks = (np.array([101.0]), np.array([1.0]))
    book.advance_queues(np.array([102.0, 101.0, 100.0]), np.array([1.0, 2.0, 3.0]), np.array([103.0]), np.array([1.0]))
    assert (o.queue_ahead, o.level_sz) == (3.0, 3.0)  # the book moved up: 98 is not listed, the queue holds
    book.advance_queues(np.array([100.0, 99.0, 98.0]), np.array([1.0, 2.0, 4.0]), *asks)
    assert (o.queue_ahead, o.level_sz) == (3.0, 4.0)  # back in view, grown: behind it


def test_the_venue_queues_an_order_placed_below_its_listed_levels_behind_the_deepest():
    from twin.exchange import Exchange
    from twin.market import SyntheticMarketParams
    from twin.messages import OrderSpec, Resting
    from twin.params import TwinParams

    ex = Exchange.build(TwinParams(markets={"BTC": SyntheticMarketParams(vol_calm_per_sqrt_s=0.0, drift_coupling=0.0,
                                                                         trade_rate_calm_per_s=0.0)}), 0)
    acct = ex.fund("0x" + "e7" * 20, 10_000_000.0)
    ex.env.run(until=1.0)
    deepest = ex.bid_px["BTC"][-1]
    st = ex._place(acct, OrderSpec("BTC", True, deepest - 5.0, 0.001, tif="Alo"))
    assert isinstance(st, Resting)
    assert ex.orders[st.oid].queue_ahead == ex.bid_sz["BTC"][-1] > 0.0


def test_market_moving_through_fills_stale_quotes():
    book = CoinBook("X", 1.0, 2.0)
    b = order(1, True, 100.0, 1.0, 0.0)
    a = order(2, False, 105.0, 1.0, 0.0)
    book.add(b)
    book.add(a)
    assert book.crossed_by_book(98.0, 99.0) == [b]
    assert book.crossed_by_book(105.0, 106.0) == [a]
    assert book.crossed_by_book(101.0, 104.0) == []


def test_level_size_on_grid_and_off_grid():
    px = np.array([100.0, 99.0, 97.0])
    sz = np.array([1.0, 2.0, 3.0])
    assert level_size(px, sz, 99.0, 1.0) == 2.0
    assert level_size(px, sz, 97.0, 1.0) == 3.0
    assert level_size(px, sz, 98.0, 1.0) == 0.0


@given(st.lists(st.floats(1.0, 1000.0), min_size=1, max_size=12, unique=True), st.booleans(), st.integers(0, 3),
       st.floats(0.5, 1100.0))
def test_level_size_is_the_size_listed_at_that_price(prices, bids, n_nan, px):
    """Whatever the rows (off grid, nan-padded, either side), the size at a price is the size listed there."""
    rows = sorted(prices, reverse=bids) + [float("nan")] * n_nan
    sizes = [float(i + 1) for i in range(len(rows))]
    listed = dict(zip(sorted(prices, reverse=bids), sizes))
    for p in [px, *prices]:
        assert level_size(np.array(rows), np.array(sizes), p, 1.0) == listed.get(p, 0.0)


def _queues_after(seconds: float, book_interval_s: float, refresh_s: float, seeds: range) -> tuple[list, list]:
    """Queue ahead of post-only orders at the first five levels a side of a still BTC market with no trades (the
    size at each price noisy, redrawn every ``refresh_s`` on average), at the join and ``seconds`` later."""
    from twin.exchange import Exchange
    from twin.market import SyntheticMarketParams
    from twin.messages import OrderSpec, Resting
    from twin.params import TwinParams

    still = SyntheticMarketParams(
        initial_mid=100_000.3, vol_calm_per_sqrt_s=0.0, jump_rate_calm_per_s=0.0, drift_coupling=0.0,
        trade_rate_calm_per_s=0.0, calm_to_stressed_per_s=0.0, book_interval_s=book_interval_s,
        depth_refresh_s=refresh_s)
    start, end = [], []
    for seed in seeds:
        ex = Exchange.build(TwinParams(markets={"BTC": still}), seed)
        acct = ex.fund("0x" + "e7" * 20, 10_000_000.0)
        ex.env.run(until=1.0)
        bb, ba = ex.best_bid["BTC"], ex.best_ask["BTC"]
        oids = []
        for i in range(5):
            for is_buy, px in ((True, bb - i), (False, ba + i)):
                st = ex._place(acct, OrderSpec("BTC", is_buy, px, 0.001, tif="Alo"))
                assert isinstance(st, Resting)
                oids.append(st.oid)
        start += [ex.orders[o].queue_ahead for o in oids]
        ex.env.run(until=1.0 + seconds)
        ex.books["BTC"].catch_up()  # (the exchange applies its book updates to the queues when a print reads them)
        end += [ex.orders[o].queue_ahead for o in oids]
    return start, end


def test_with_no_trades_the_queue_ahead_drains_at_the_markets_pace_not_the_books():
    """With no trade, the queue ahead moves only when the size at its price is redrawn (the power rule reads a shrink
    as cancels, partly ahead): a Poisson event, rate 1/depth_refresh_s, whatever the book's cadence. So after 60 s
    with refreshes every 30 s on average, e^(−2) = 14% of the queues saw none and are whole, and the queues are as
    long at a 50 ms book as at a 100 ms one. Redrawn at every book event, the noise had all 400 queues moved within
    the minute, worn to 1.1% of their length at a 100 ms book and 0.5% at a 50 ms one."""
    ahead0, ahead = _queues_after(60.0, 0.1, 30.0, range(40))
    whole = np.mean(np.array(ahead) == np.array(ahead0))
    assert whole > np.exp(-2.0) - 3 * np.sqrt(np.exp(-2.0) * (1 - np.exp(-2.0)) / len(ahead))  # ≥ e^(−2), 3 sd
    ahead0_fast, ahead_fast = _queues_after(60.0, 0.05, 30.0, range(40))
    kept, kept_fast = np.sum(ahead) / np.sum(ahead0), np.sum(ahead_fast) / np.sum(ahead0_fast)
    assert kept > 0.3 and kept_fast == pytest.approx(kept, rel=0.2)


@given(sizes=st.lists(st.integers(1, 400), min_size=1, max_size=4), ahead=st.floats(0.0, 5e-3),
       prints=st.lists(st.tuples(st.floats(1e-7, 5e-3), st.booleans()), min_size=1, max_size=12))
def test_fills_cut_from_prints_are_whole_lots(sizes, ahead, prints):
    """The venue's sizes are whole lots (BTC: 1e-5), and so is every fill: the synthetic market's prints and
    the queue ahead are continuous, and fills cut from them once left a position off the size grid (0.0000065903
    BTC at the end of a day). Fills are whole lots, never more than the order has left."""
    lot = 1e-5
    book = CoinBook("X", 1.0, 2.0, lot)
    orders = []
    for i, n in enumerate(sizes):
        o = order(i, True, 100.0 - (i % 2), round(n * lot, 12), ahead=ahead)
        o.level_sz = ahead if i % 2 == 0 else 0.0  # every other one inside the spread (not a displayed level)
        book.add(o)
        orders.append(o)
    left = {o.oid: o.sz for o in orders}
    for sz, through in prints:
        for o, take in book.hits_from_trade(False, 99.0 if through else 100.0, sz):
            assert take > 0.0 and abs(take / lot - round(take / lot)) < 1e-6
            assert take <= left[o.oid] + 1e-12
            left[o.oid] = round(left[o.oid] - take, 12)
            o.sz = left[o.oid]
@given(st.lists(st.floats(1.0, 1000.0), max_size=8, unique=True), st.booleans(), st.integers(0, 3),
       st.floats(0.5, 1100.0), st.booleans())
def test_join_size_is_the_shown_size_or_the_deepest_levels(prices, bids, n_nan, px, as_array):
    """join_size's way for a side listing every row (its last row its deepest) against its rule written out:
    the size shown at the price (shown_size), or beyond the deepest listed level that level's size."""
    rows = sorted(prices, reverse=bids) + [math.nan] * n_nan
    sizes = [float(i + 1) for i in range(len(rows))]
    for p in [px, *prices]:
        shown = shown_size(rows, sizes, p, 1.0, bids)
        listed = [s for q, s in zip(rows, sizes) if q == q]
        want = shown if shown is not None else (listed[-1] if listed else 0.0)
        args = (np.array(rows), np.array(sizes)) if as_array else (rows, sizes)
        assert join_size(*args, p, 1.0, bids) == want


def _advance_reference(book: CoinBook, bid_px, bid_sz, ask_px, ask_sz) -> None:
    """advance_queues as it was before its shrink rule's arithmetic was rewritten, made afresh."""
    n = book.power
    for is_bid, side, px_row, sz_row in ((True, book.bids, bid_px, bid_sz), (False, book.asks, ask_px, ask_sz)):
        if not side:
            continue
        px_row, sz_row = px_row.tolist(), sz_row.tolist()
        n_rows = len(px_row)
        best = px_row[0] if n_rows else math.nan
        empty = best != best
        if not empty:
            last = px_row[n_rows - 1]
            deepest = last if last == last else next((p for p in reversed(px_row) if p == p), math.nan)
            bids_order = best >= last
        for o in side:
            px = o.px
            if empty:
                now = 0.0
            else:
                i = round(abs(best - px) / book.tick)
                if i < n_rows and px_row[i] == px:
                    now = sz_row[i]
                elif deepest == deepest and (px < deepest if is_bid else px > deepest):
                    continue
                elif last == last and ((px > best or px < last) if bids_order else (px < best or px > last)):
                    now = 0.0
                else:
                    now = level_size(px_row, sz_row, px, book.tick)
            before = o.level_sz
            ahead = o.queue_ahead
            if now < before and ahead > 0.0:
                behind = max(0.0, before - ahead)
                fa = ahead ** n
                fb = behind ** n
                share = fa / (fa + fb) if fa + fb > 0.0 else 1.0
                ahead = o.queue_ahead = max(0.0, ahead - (before - now) * share)
            if ahead > now:
                o.queue_ahead = now
            o.level_sz = now


_TICKS = st.integers(-3, 25)
_ROWS = st.tuples(st.lists(_TICKS, max_size=8),
                  st.sampled_from(["ordered", "twice", "as drawn", "nan tail", "nan head"]))


@given(bids=_ROWS, asks=_ROWS, orders=st.lists(st.tuples(st.booleans(), _TICKS, st.floats(0.0, 9.0),
                                                          st.floats(0.0, 9.0)), min_size=1, max_size=8),
       sizes=st.lists(st.floats(0.0, 9.0), min_size=9, max_size=9), power=st.sampled_from([0.0, 1.0, 2.0, 3.0]))
def test_advance_queues_is_level_size_s_rule_order_by_order(bids, asks, orders, sizes, power):
    """Whatever the rows (ordered or not, a price listed twice, nan-padded, empty, nan first) and the orders' state
    (queues empty, full, past their level), each order ends where the rule as written before puts it, to the bit."""
    def rows(spec, is_bid):
        ticks, shape = spec
        if shape == "ordered":
            ticks = sorted(set(ticks))  # (bids from the highest price, asks from the lowest)
        elif shape == "twice":  # in order, but a price listed twice, side by side
            ticks = sorted(ticks + ticks[:1])
        px = [100.0 + (t if not is_bid else -t) for t in ticks]
        if shape == "nan tail" and px:
            px[-1] = math.nan
        elif shape == "nan head" and px:  # an empty side (nan first) whatever follows: 0 shown at every price
            px[0] = math.nan
        return np.array(px), np.array(sizes[:len(px)])

    (bp, bs), (ap, as_) = rows(bids, True), rows(asks, False)
    books = [CoinBook("X", 1.0, power), CoinBook("X", 1.0, power)]
    for book in books:
        for oid, (is_buy, t, ahead, level) in enumerate(orders):
            o = order(oid, is_buy, 100.0 + (-t if is_buy else t), 1.0, ahead)
            o.level_sz = level
            book.add(o)
    books[0].advance_queues(bp, bs, ap, as_)
    _advance_reference(books[1], bp, bs, ap, as_)
    got = [(o.queue_ahead, o.level_sz) for o in books[0].bids + books[0].asks]
    assert got == [(o.queue_ahead, o.level_sz) for o in books[1].bids + books[1].asks]


@pytest.mark.parametrize("ahead, behind", [(3000.0, 1000.0), (1000.0, 3000.0), (1e-4, 2e-4), (1205.0, 1205.0),
                                           (6e-4, 6.1e-4)])
def test_a_high_power_on_large_or_small_sizes_takes_the_share_the_rule_gives(ahead, behind):
    """QueueParams allows a cancel_ahead_power up to 100; ahead ** 100 overflows past ~1200 coins (a HIP-3 market's
    levels hold thousands), and the twin died on an OverflowError in the market loop. Tiny sizes underflowed both
    terms to 0 and took the whole shrink from ahead. Two finite terms whose sum overflows (1205 and 1205) took none of
    it from ahead, not half; a subnormal sum (6e-4, 6.1e-4) lost the share's digits. The share is the rule's,
    ahead^n / (ahead^n + behind^n), computed on the sizes' ratio."""
    power = 100.0
    book = CoinBook("X", 1.0, power)
    o = order(1, True, 99.0, behind, ahead=ahead)
    o.level_sz = ahead + behind
    book.add(o)
    shrink = min(ahead, behind) / 2
    book.advance_queues(np.array([100.0, 99.0]), np.array([1.0, ahead + behind - shrink]),
                        np.array([101.0]), np.array([1.0]))
    share = 1.0 / (1.0 + (behind / ahead) ** power)
    assert o.queue_ahead == pytest.approx(ahead - shrink * share, rel=1e-12)
