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
