"""ScorecardSet.predict_parts (the quote cycle's: each card's predict inline, the shared checks once) against
ScorecardSet.predict (each card's own ModelScorecard.predict), on any inputs, good or bad."""
from __future__ import annotations

import math

from hypothesis import given, settings, strategies as st

from agent.validation.scorecard import ScorecardConfig, ScorecardSet

_NAMES = ("book_imbalance", "trade_flow", "momentum")
_P = st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 0.5, 1.0, -0.1, 1.1, math.nan, math.inf]))
_STEP = st.tuples(st.sampled_from([0.0, 0.1, 0.1, 0.25, 1.0, -0.3]),                      # ts step
                  st.lists(_P, min_size=3, max_size=3),                                     # each signal's p_up
                  st.sampled_from([1.0, 1.0, 1.0, 0.4, 0.0, -1.0, math.nan, math.inf]),     # horizon
                  st.sampled_from([100.0, 100.5, 99.0, 0.0, -1.0, math.inf, math.nan]))     # mid


def _state(s: ScorecardSet) -> dict:
    return {n: (list(c._pending), c._last_pred_ts, c.expired) for n, c in s.cards.items()}


@settings(max_examples=300, deadline=None)
@given(st.lists(_STEP, max_size=60), st.sampled_from([0.0, 0.0, 0.3]), st.sampled_from([3, 100_000]))
def test_predict_parts_leaves_every_card_as_predict_does(steps, spacing_s, max_pending):
    cfg = ScorecardConfig(min_prediction_spacing_s=spacing_s, max_pending=max_pending)
    fast, plain = ScorecardSet(_NAMES, cfg), ScorecardSet(_NAMES, cfg)
    ts = 10.0
    for dt, ps, horizon_s, mid in steps:
        ts += dt
        parts = [(n, p, 0.3, 0.0) for n, p in zip(_NAMES, ps)]  # (name, p_up, weight, adjustment): SignalBlend.parts
        fast.predict_parts(ts, parts, horizon_s, mid)
        plain.predict(ts, {n: p for n, p, _, _ in parts}, horizon_s, mid)
        assert _state(fast) == _state(plain)
