"""Ladders: venue-valid prices (checked by the twin's own rule), safe rounding, lots and notional."""
from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, strategies as st

from agent.quoting.ladder import (KeptLadder, LadderConfig, build_ladder, desired_ladder, flat, geometric, lot_sizes,
                                  round_px_to_venue, touch_ticks)
from twin.instruments import price_is_valid, size_is_valid  # an independent implementation of the rule


@pytest.mark.parametrize("px,szd,bid,ask", [
    (123456.7, 5, 123456.0, 123457.0),  # ≥ 1e5: integers, whatever their significant figures
    (97234.5, 5, 97234.0, 97235.0),  # 5 significant figures leave no decimals
    (99999.5, 5, 99999.0, 100000.0),  # rounding up across a power of ten stays valid
    (1.234567, 0, 1.2345, 1.2346),  # 5 significant figures
    (0.0012345678, 0, 0.001234, 0.001235),  # 6 − szDecimals = 6 decimals binds before 5 figures
    (12.345, 5, 12.3, 12.4),  # szDecimals 5: one decimal at most
    (3.0, 2, 3.0, 3.0),  # already valid: unchanged both ways
    (0.00004, 5, 0.0, 0.1),  # a bid that rounds to nothing is 0 (dropped)
])
def test_round_px_examples(px, szd, bid, ask):
    assert round_px_to_venue(px, szd, 1) == bid
    assert round_px_to_venue(px, szd, -1) == ask


@given(st.floats(1e-6, 1e7), st.integers(0, 6))
def test_rounding_is_valid_and_on_the_safe_side(px, szd):
    lo, hi = round_px_to_venue(px, szd, 1), round_px_to_venue(px, szd, -1)
    assert lo <= px * (1 + 1e-13) and hi >= px * (1 - 1e-13)  # safe side, up to float representation
    assert price_is_valid(hi, szd)
    assert lo == 0.0 or price_is_valid(lo, szd)


def test_size_schedules():
    assert geometric(1.0, 2.0, 4) == [1.0, 2.0, 4.0, 8.0]
    assert flat(0.5, 3) == [0.5, 0.5, 0.5]
    assert LadderConfig(n_levels=2, size_ratio=1.5).sizes(2.0) == [2.0, 3.0]


def test_a_ladder_by_hand():
    # tick 0.5, BTC-like szDecimals 5: bids floor to the tick, asks ceil; sizes floor to 1e-5
    lad = build_ladder(97000.3, 97001.2, 3, 1.0, [0.0012345, 0.002, 0.00001], 5, tick=0.5)
    assert [(q.px, q.sz) for q in lad.bids] == [(97000.0, 0.00123), (96999.0, 0.002)]  # 3rd: $0.97 < $10
    assert [(q.px, q.sz) for q in lad.asks] == [(97002.0, 0.00123), (97003.0, 0.002)]
    assert all(q.side == 1 for q in lad.bids) and all(q.side == -1 for q in lad.asks)


def test_size_multiplier_and_lot():
    lad = build_ladder(99.0, 101.0, 2, 1.0, [1.0, 1.0], 2, size_multiplier=0.37, lot=0.25)
    assert [q.sz for q in lad.bids] == [0.25, 0.25]  # 0.37 floored to the 0.25 lot
    assert [q.sz for q in lad.asks] == [0.25, 0.25]
    assert build_ladder(99.0, 101.0, 2, 1.0, [1.0, 1.0], 2, size_multiplier=0.0).bids == ()


def test_crossed_inputs_are_widened_around_their_midpoint():
    lad = build_ladder(100.2, 99.8, 1, 1.0, [1.0], 2, min_notional=0.0, tick=0.1)
    assert lad.bids[0].px == 99.9 and lad.asks[0].px == 100.0  # midpoint 100.0 is on the grid: bid steps down
    assert lad.bids[0].px < 100.2 and lad.asks[0].px > 99.8


def test_levels_closer_than_the_venue_step_stay_distinct():
    # at 12 345 the venue allows integers only; levels 0.1 apart would collapse onto one price
    lad = build_ladder(12345.0, 12346.0, 4, 0.1, flat(1.0, 4), 3)
    assert [q.px for q in lad.bids] == [12345.0, 12344.0, 12343.0, 12342.0]
    assert [q.px for q in lad.asks] == [12346.0, 12347.0, 12348.0, 12349.0]


ticks = st.sampled_from([0.0, 1e-4, 0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 10.0])


@given(mid=st.floats(0.001, 500_000), half_frac=st.floats(-0.01, 0.05), szd=st.integers(0, 5),
       n=st.integers(1, 8), base_usd=st.floats(1.0, 5000.0), ratio=st.floats(0.5, 2.0),
       spacing_frac=st.floats(0.0, 0.01), tick=ticks, mult=st.floats(0.0, 2.0), min_notional=st.sampled_from([0.0, 10.0]))
def test_ladder_is_venue_valid(mid, half_frac, szd, n, base_usd, ratio, spacing_frac, tick, mult, min_notional):
    assume(tick == 0.0 or tick < mid * 0.01)
    bid_px, ask_px = mid * (1 - half_frac), mid * (1 + half_frac)  # half_frac < 0: crossed inputs
    lad = build_ladder(bid_px, ask_px, n, mid * spacing_frac, geometric(base_usd / mid, ratio, n), szd,
                       size_multiplier=mult, min_notional=min_notional, tick=tick)
    lot = 10.0 ** -szd
    for q in lad.bids + lad.asks:
        assert price_is_valid(q.px, szd), q
        assert size_is_valid(q.sz, szd) and abs(q.sz / lot - round(q.sz / lot)) < 1e-6 * max(1.0, q.sz / lot), q
        assert q.px * q.sz >= min_notional and q.sz > 0
    if lad.bids and lad.asks:
        assert lad.bids[0].px < lad.asks[0].px
    assert all(a.px > b.px for a, b in zip(lad.bids, lad.bids[1:]))  # strictly further from mid
    assert all(b.px > a.px for a, b in zip(lad.asks, lad.asks[1:]))
    if half_frac >= 0:  # never more aggressive than the model asked
        assert all(q.px <= bid_px * (1 + 1e-13) for q in lad.bids)
        assert all(q.px >= ask_px * (1 - 1e-13) for q in lad.asks)
    assert len(lad.bids) <= n and len(lad.asks) <= n


def test_bad_prices_raise():
    with pytest.raises(ValueError, match="nan"):
        build_ladder(float("nan"), 101.0, 1, 1.0, [1.0], 2)


@given(st.floats(0.001, 3e5), st.floats(-0.001, 0.02), st.floats(0.0, 0.02), st.integers(1, 8), st.integers(1, 5),
       st.sampled_from([0.0001, 0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0]), st.integers(0, 6),
       st.floats(0.5, 3.0), st.sampled_from([0.0, 0.001]))
def test_the_integer_fast_path_gives_the_general_paths_ladder(mid, lo_frac, hi_frac, n, spacing_ticks, tick, szd,
                                                              ratio, lot):
    """Whole-tick spacing on a venue-valid tick grid takes integer arithmetic; it must give exactly the
    ladder the general rounding path gives (same doubles, same dropped levels) wherever it applies."""
    import agent.quoting.ladder as lad_mod
    bid, ask = mid * (1 - lo_frac), mid * (1 + hi_frac)
    sizes = geometric(25.0 / mid, ratio, n)
    args = (bid, ask, n, spacing_ticks * tick, sizes, szd)
    fast = build_ladder(*args, tick=tick, lot=lot)
    lad_mod.GRID_FAST_PATH = False
    try:
        general = build_ladder(*args, tick=tick, lot=lot)
    finally:
        lad_mod.GRID_FAST_PATH = True
    assert fast == general


@given(st.floats(0.001, 3e5), st.floats(-0.001, 0.02), st.floats(0.0, 0.02), st.integers(1, 8), st.integers(1, 5),
       st.sampled_from([0.0001, 0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0]), st.integers(0, 6),
       st.floats(0.5, 3.0), st.booleans())
def test_desired_ladder_is_the_ladders_quotes_with_their_levels(mid, lo_frac, hi_frac, n, spacing_ticks, tick, szd,
                                                                ratio, own_asks):
    """The quote cycle's ladder, made directly on the fast path, is the Ladder's quotes as (side, px, sz, level,
    False), bids then asks, level = the index on its side, on either path (levels dropped under the minimum
    notional or at a bid of zero leave no gap in the levels)."""
    import agent.quoting.ladder as lad_mod
    from agent.execution.reconcile import DesiredQuote
    from agent.gateway.events import Side
    bid, ask = mid * (1 - lo_frac), mid * (1 + hi_frac)
    sizes = lot_sizes(geometric(12.0 / mid, ratio, n), n, 1.0, szd, 0.0)
    ask_sizes = lot_sizes(geometric(14.0 / mid, ratio, n), n, 1.0, szd, 0.0) if own_asks else None
    args = (bid, ask, n, spacing_ticks * tick, sizes, szd)
    lad = build_ladder(*args, tick=tick, ask_sizes=ask_sizes, on_lot=True)
    want = ([(Side.BUY, q.px, q.sz, i, False) for i, q in enumerate(lad.bids)]
            + [(Side.SELL, q.px, q.sz, i, False) for i, q in enumerate(lad.asks)])
    for fast_path in (True, False):
        lad_mod.GRID_FAST_PATH = fast_path
        try:
            got = desired_ladder(*args, tick=tick, ask_sizes=ask_sizes, desired=(DesiredQuote, Side.BUY, Side.SELL))
        finally:
            lad_mod.GRID_FAST_PATH = True
        assert got == want and all(type(q) is DesiredQuote and type(q.side) is Side for q in got)


@given(st.floats(0.001, 3e5), st.lists(st.tuples(st.integers(-6, 6), st.integers(-6, 6), st.sampled_from(
           [-0.4, -2e-9, -5e-10, -1e-12, -1e-15, 0.0, 1e-15, 1e-12, 5e-10, 0.4])), min_size=1, max_size=12),
       st.integers(1, 8), st.sampled_from([1.0, 2.0, 3.0, 1.5]),
       st.sampled_from([0.0, 0.0001, 0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0]), st.integers(0, 6),
       st.floats(0.5, 3.0), st.booleans(), st.sampled_from([10.0, 0.0, 25.0]), st.booleans())
def test_a_kept_ladder_given_the_touch_in_ticks_is_the_ladder_made_afresh(mid, moves, n, spacing_ticks, tick, szd,
                                                                          ratio, own_asks, min_notional, fast):
    """The quote cycle makes its ladder with KeptLadder.quotes from the touch in ticks it keys its memo on, each side
    kept under its touch and taken again when the touch comes back: over a walk of touches moving back and forth
    (each side on its own, a hair off a tick, crossing, past the grid's bound, no tick grid, spacing not whole ticks,
    the fast path off), every ladder is desired_ladder's made afresh, level by level."""
    from agent.execution.reconcile import DesiredQuote
    from agent.gateway.events import Side
    import agent.quoting.ladder as lad_mod
    desired = (DesiredQuote, Side.BUY, Side.SELL)
    sizes = lot_sizes(geometric(12.0 / mid, ratio, n), n, 1.0, szd, 0.0)
    ask_sizes = lot_sizes(geometric(14.0 / mid, ratio, n), n, 1.0, szd, 0.0) if own_asks else None
    step = tick if tick > 0.0 else 0.01
    kept = KeptLadder(n, spacing_ticks * step, sizes, szd, min_notional, tick=tick, ask_sizes=ask_sizes,
                      desired=desired)
    bid, ask = mid - 3 * step, mid + 3 * step
    lad_mod.GRID_FAST_PATH = fast
    try:
        for db, da, hair in moves:
            bid, ask = bid + db * step + hair * step, ask + da * step - hair * step
            if not (ask > 0.0):
                continue
            touch = touch_ticks(bid, ask, step)
            args = (bid, ask, n, spacing_ticks * step, sizes, szd, min_notional)
            afresh = desired_ladder(*args, tick=tick, ask_sizes=ask_sizes, desired=desired)
            got = kept.quotes(bid, ask, *touch)
            assert got == afresh and all(type(q) is DesiredQuote and type(q.side) is Side for q in got)
            got.clear()  # the list is the caller's: changing it changes no kept side
            assert kept.quotes(bid, ask, *touch) == afresh
    finally:
        lad_mod.GRID_FAST_PATH = True


@given(st.sampled_from([0.0001, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0]), st.integers(1, 6), st.integers(0, 6),
       st.integers(1, 20), st.integers(-3, 3))
def test_the_kept_ladders_range_of_touches_is_the_grids_own_test(tick, spacing_ticks, szd, n, off):
    """KeptLadder.quotes takes the grid's fast path for a touch 0 < nb < na <= na_max in ticks, na_max made once: for
    every ask in ticks around it (and far under it), that range says what _grid_touch's test on the touch says."""
    import agent.quoting.ladder as lad_mod
    ok, m, step, p10, bound = lad_mod._grid_spec(tick, spacing_ticks * tick, szd)
    assume(ok)
    deep = (n - 1) * step
    na_max = lad_mod._na_max(m, p10, bound, deep)
    kept = KeptLadder(n, spacing_ticks * tick, [1.0] * n, szd, 0.0, tick=tick, ask_sizes=None,
                      desired=(tuple, 1, -1))
    assert kept.na_max == na_max
    if na_max == math.inf:
        assert bound == math.inf
        return
    for na in (na_max + off, na_max // 2 + off, 2 + off):
        if na >= 2:
            assert (na <= na_max) == ((na * m + deep) / p10 < bound), (na, na_max)
    # and the ladder at the touch's edge, each side of it, is the one made afresh (past it, the general path's)
    for na in (na_max, na_max + 1):
        bid, ask = (na - 1) * tick, na * tick
        touch = touch_ticks(bid, ask, tick)
        assume(touch == (na - 1, na))
        afresh = desired_ladder(bid, ask, n, spacing_ticks * tick, [1.0] * n, szd, 0.0, tick=tick, ask_sizes=None,
                                desired=(tuple, 1, -1))
        assert kept.quotes(bid, ask, *touch) == afresh


def test_a_kept_side_made_whole_or_level_by_level_is_the_ladder_made_afresh():
    """_kept_sides makes a side in one go when its least price by its least size is worth the minimum, level by level
    otherwise: at that bound exactly (every level kept), a tick under it (the deepest bid dropped), a side ending at
    zero, and sizes falling away from the touch (every ask worth the minimum, the least price by the least size not):
    each side is desired_ladder's made afresh, level by level."""
    from agent.execution.reconcile import DesiredQuote
    from agent.gateway.events import Side
    desired = (DesiredQuote, Side.BUY, Side.SELL)
    sizes, ask_sizes = [1.0, 1.0, 1.0], [1.0, 0.99, 0.98]
    kept = KeptLadder(3, 1.0, sizes, 0, 98.0, tick=1.0, ask_sizes=ask_sizes, desired=desired)
    # (bid, ask, bids, asks): 98 x 1.0 and 100 x 0.98 are the minimum exactly; 97 x 1.0 is under it; a bid of 2 ends
    # at zero; 99 x 0.98 is under it, 100 x 0.99 and 101 x 0.98 are not
    for bid, ask, n_bids, n_asks in ((100.0, 101.0, 3, 3), (99.0, 100.0, 2, 3), (2.0, 99.0, 0, 3),
                                     (300.0, 301.0, 3, 3)):
        afresh = desired_ladder(bid, ask, 3, 1.0, sizes, 0, 98.0, tick=1.0, ask_sizes=ask_sizes, desired=desired)
        got = kept.quotes(bid, ask, *touch_ticks(bid, ask, 1.0))
        assert got == afresh and all(type(q) is DesiredQuote and type(q.side) is Side for q in got)
        sides = [q.side for q in got]
        assert (sides.count(Side.BUY), sides.count(Side.SELL)) == (n_bids, n_asks)
        assert [q.level for q in got] == list(range(n_bids)) + list(range(n_asks))


_NEAR_A_TICK = st.sampled_from([-0.4, -2e-9, -5e-10, -1e-12, -1e-15, 0.0, 1e-15, 1e-12, 5e-10, 0.4])


@given(st.integers(1, 200_000), _NEAR_A_TICK, _NEAR_A_TICK, st.integers(2, 40), st.integers(1, 8), st.integers(1, 5),
       st.sampled_from([0.0001, 0.001, 0.01, 0.1, 1.0]), st.integers(0, 6), st.floats(0.5, 3.0))
def test_the_ladder_is_a_function_of_its_touch_ticks(n_bid, f1, f2, spread_ticks, n, spacing_ticks, tick, szd, ratio):
    """The quote cycle keys its ladder's memo on ``touch_ticks``: two touches a hair apart around a tick that it
    puts on the same ticks must give the same ladder, on either path. (Its old key, floor(bid / tick + 1e-9), put a
    bid 5e-10 of a tick under a tick on the tick above, where the ladder's own rounding puts it below.)"""
    import agent.quoting.ladder as lad_mod
    from agent.execution.reconcile import DesiredQuote
    from agent.gateway.events import Side
    desired = (DesiredQuote, Side.BUY, Side.SELL)
    mid = (n_bid + spread_ticks / 2) * tick
    sizes = lot_sizes(geometric(12.0 / mid, ratio, n), n, 1.0, szd, 0.0)
    n_ask = n_bid + spread_ticks
    one = ((n_bid + f1) * tick, (n_ask - f1) * tick)
    two = ((n_bid + f2) * tick, (n_ask - f2) * tick)
    assume(touch_ticks(*one, tick) == touch_ticks(*two, tick))
    for fast_path in (True, False):
        lad_mod.GRID_FAST_PATH = fast_path
        try:
            ladders = [desired_ladder(bid, ask, n, spacing_ticks * tick, sizes, szd, tick=tick, ask_sizes=None,
                                      desired=desired) for bid, ask in (one, two)]
        finally:
            lad_mod.GRID_FAST_PATH = True
        assert ladders[0] == ladders[1]


def test_touch_ticks_round_as_the_ladder_does_by_hand():
    assert touch_ticks(99.9999999995, 100.0000000005, 1.0) == (99, 101)  # a hair under 100: the tick below, as quoted
    assert touch_ticks(100.0, 101.0, 1.0) == (100, 101)
    assert touch_ticks(0.30000000000000004, 0.4, 0.1) == (3, 4)  # float noise of a whole tick: that tick
    from agent.execution.reconcile import DesiredQuote
    from agent.gateway.events import Side
    sizes = lot_sizes(geometric(0.12, 1.2, 3), 3, 1.0, 4, 0.0)
    tops = [desired_ladder(bid, 102.0, 3, 1.0, sizes, 4, tick=1.0, ask_sizes=None,
                           desired=(DesiredQuote, Side.BUY, Side.SELL))[0].px for bid in (99.9999999995, 100.0)]
    assert tops == [99.0, 100.0]  # two ladders, where the old key (floor(bid + 1e-9): 100 and 100) saw one


@given(st.floats(0.01, 3e5), st.floats(0.0, 0.02), st.integers(1, 6), st.sampled_from([0.0001, 0.01, 1.0]),
       st.integers(0, 5), st.floats(0.5, 3.0))
def test_ask_sizes_size_the_asks_and_leave_the_bids_alone(mid, half_frac, n, tick, szd, ratio):
    """``ask_sizes``: the asks are the ladder built from them, the bids the ladder built from ``sizes``, on the
    integer fast path and the general path alike."""
    import agent.quoting.ladder as lad_mod
    assume(tick < mid * 0.01)
    bid, ask = mid * (1 - half_frac), mid * (1 + half_frac)
    small, large = geometric(15.0 / mid, ratio, n), geometric(40.0 / mid, ratio, n)
    for fast_path in (True, False):
        lad_mod.GRID_FAST_PATH = fast_path
        try:
            both = build_ladder(bid, ask, n, 2 * tick, large, szd, tick=tick, ask_sizes=small)
            b = build_ladder(bid, ask, n, 2 * tick, large, szd, tick=tick)
            a = build_ladder(bid, ask, n, 2 * tick, small, szd, tick=tick)
        finally:
            lad_mod.GRID_FAST_PATH = True
        assert both.bids == b.bids and both.asks == a.asks
