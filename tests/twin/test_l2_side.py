"""The l2Book push side: displayed levels less what fills consumed, plus client orders, best first."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from hypothesis import given, strategies as st

from twin.exchange import _l2_side


def _reference(pxs, szs, clients, n, consumed, desc):
    levels: dict[float, list] = {}
    for px, sz in zip(pxs[:n].tolist(), szs[:n].tolist()):
        if px == px and sz - consumed.get(px, 0.0) > 0:
            levels[px] = [sz - consumed.get(px, 0.0), 1]
    for o in clients:
        lv = levels.setdefault(o.px, [0.0, 0])
        lv[0] += o.sz
        lv[1] += 1
    return tuple((px, sz, k) for px, (sz, k) in sorted(levels.items(), reverse=desc)[:n])


@given(st.integers(1, 20), st.lists(st.floats(-0.5, 2.0), min_size=1, max_size=25), st.booleans(),
       st.lists(st.tuples(st.integers(-2, 30), st.floats(0.01, 1.0)), max_size=4),
       st.dictionaries(st.integers(0, 30), st.floats(0.0, 1.0), max_size=4), st.booleans())
def test_l2_side_merges_levels_consumption_and_client_orders(n, sizes, with_nan, clients, consumed, bids):
    sign = -1.0 if bids else 1.0
    pxs = 100.0 + sign * np.arange(len(sizes), dtype=float)  # best first
    if with_nan:
        pxs[len(sizes) // 2] = np.nan
    szs = np.array(sizes)
    orders = [SimpleNamespace(px=100.0 + sign * i, sz=s) for i, s in clients]
    used = {100.0 + sign * i: s for i, s in consumed.items()}
    got = _l2_side(pxs.tolist(), szs.tolist(), orders, n, used, bids)  # (as _level_rows keeps the rows)
    assert got == _reference(pxs, szs, orders, n, used, bids)
    assert len(got) <= n and [r[0] for r in got] == sorted((r[0] for r in got), reverse=bids)


@given(st.lists(st.floats(0.01, 1.0), min_size=3, max_size=6),
       st.lists(st.tuples(st.integers(0, 2), st.sampled_from([0.1, 0.2, 0.3, 0.7, 1e-3, 0.015])), min_size=2,
                max_size=8), st.booleans())
def test_l2_side_adds_several_orders_at_one_price_in_their_order(sizes, clients, bids):
    """Several client orders at a price (the draws put them on three prices): each is added to the level in
    priority order, the displayed size first, as the reference does; summed otherwise (the orders' sizes first, say)
    the floats differ in their last bits, and a push's sizes would no longer be the same from run to run of one
    seed's code. Checked against the sum written out for each level."""
    sign = -1.0 if bids else 1.0
    pxs = 100.0 + sign * np.arange(len(sizes), dtype=float)
    orders = [SimpleNamespace(px=100.0 + sign * i, sz=s) for i, s in clients]
    got = _l2_side(pxs.tolist(), list(sizes), orders, len(sizes), {}, bids)
    assert got == _reference(pxs, np.array(sizes), orders, len(sizes), {}, bids)
    for px, sz, k in got:
        at = [o.sz for o in orders if o.px == px]
        want = sizes[round(abs(px - 100.0))]
        for s in at:
            want += s
        assert sz == want and k == 1 + len(at)


def _l2_side_as_lists(pxs, szs, clients, n, consumed, desc):
    """_l2_side as it was written before its rows were tuples: a list per level, a dict of them by price (the last
    row of a price winning), a tuple of each at the end."""
    px_l, sz_l = pxs[:n], szs[:n]
    if consumed:
        rows = [[px, sz - consumed.get(px, 0.0), 1] for px, sz in zip(px_l, sz_l) if px == px]
        rows = [r for r in rows if r[1] > 0]
    else:
        rows = [[px, sz, 1] for px, sz in zip(px_l, sz_l) if px == px and sz > 0]
    if clients:
        index = {r[0]: r for r in rows}
        for o in clients:
            r = index.get(o.px)
            if r is None:
                r = index[o.px] = [o.px, 0.0, 0]
                rows.append(r)
            r[1] += o.sz
            r[2] += 1
    rows.sort(key=lambda r: r[0], reverse=desc)
    return tuple(map(tuple, rows[:n]))


_prices = st.sampled_from([99.0, 99.5, 100.0, 100.25, 101.0, 102.0, float("nan")])


@given(st.lists(st.tuples(_prices, st.floats(-0.5, 2.0)), max_size=25), st.integers(1, 22),
       st.lists(st.tuples(_prices.filter(lambda p: p == p), st.floats(1e-4, 1.0)), max_size=6),
       st.dictionaries(_prices, st.floats(0.0, 1.0), max_size=3), st.booleans())
def test_l2_side_is_the_list_rows_way_to_the_bit(levels, n, clients, consumed, desc):
    """Any rows (off a grid, unsorted, a price listed twice, nan, empty or negative sizes), any consumption and
    client orders: the tuples made at once are the push the list rows made, their floats to the bit (the repr)."""
    pxs, szs = [px for px, _ in levels], [sz for _, sz in levels]
    orders = [SimpleNamespace(px=px, sz=sz) for px, sz in clients]
    used = {px: s for px, s in consumed.items() if px == px}
    got = _l2_side(pxs, szs, orders, n, used, desc)
    want = _l2_side_as_lists(pxs, szs, orders, n, used, desc)
    assert repr(got) == repr(want)
    assert all(type(r) is tuple for r in got)


@given(st.integers(1, 20), st.lists(st.floats(1e-9, 2.0), min_size=1, max_size=25), st.sampled_from([None, 0, -1]),
       st.sampled_from([0.0, -0.0, np.nan, 1.5]),
       st.lists(st.tuples(st.integers(-2, 30), st.floats(0.01, 1.0)), max_size=4), st.booleans())
def test_l2_side_rows_of_levels_only_as_the_rows_of_any(n, sizes, at, bad, clients, bids):
    """Rows that are all levels (no nan, every size above 0: the push's rows as a synthetic book gives them, taken
    without a test per row) and the same rows with one size 0, -0.0 or nan, or one price nan (tested row by row):
    each push side as the reference makes it."""
    sign = -1.0 if bids else 1.0
    pxs = 100.0 + sign * np.arange(len(sizes), dtype=float)
    szs = np.array(sizes)
    if at is not None:
        if bad == 1.5:
            pxs[at] = np.nan
        else:
            szs[at] = bad
    orders = [SimpleNamespace(px=100.0 + sign * i, sz=s) for i, s in clients]
    got = _l2_side(pxs.tolist(), szs.tolist(), orders, n, {}, bids)
    assert got == _reference(pxs, szs, orders, n, {}, bids)
    assert all(type(k) is int for _, _, k in got)
