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
