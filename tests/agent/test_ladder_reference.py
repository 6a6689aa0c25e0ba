"""The ladder's per-cycle helpers held to the code they replaced, kept here verbatim: the same values, of the same
types, over hypothesis-made prices and ticks (on a tick, a hair off one, far from any)."""
from __future__ import annotations

import math

from hypothesis import given, settings, strategies as st

from agent.quoting.ladder import touch_ticks

_REL = 1e-14


# ---- the code replaced (agent/quoting/ladder.py at 236138b), verbatim ----------------------------------------------
def old_touch_ticks(bid_px: float, ask_px: float, tick: float) -> tuple[int, int]:
    return math.floor(bid_px / tick * (1.0 + _REL)), math.ceil(ask_px / tick * (1.0 - _REL))
# ---- end of the code replaced --------------------------------------------------------------------------------------


_HAIR = st.sampled_from([0.0, 1e-16, -1e-16, 5e-15, -5e-15, 1e-14, -1e-14, 2e-14, -2e-14, 1e-9, -1e-9, 0.4, -0.4])
_TICK = st.sampled_from([0.0001, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 1e-6])


@settings(max_examples=2000, deadline=None)
@given(tick=_TICK, n=st.integers(1, 10**7), spread=st.integers(0, 50), hb=_HAIR, ha=_HAIR,
       loose=st.floats(1e-6, 1e7) | st.just(0.0))
def test_touch_ticks_is_the_replaced_codes(tick, n, spread, hb, ha, loose):
    """On a tick, a relative hair of either sign off it (around the 1e-14 the rounding forgives), and anywhere: the
    same two ints."""
    for bid, ask in ((n * tick * (1.0 + hb), (n + spread) * tick * (1.0 + ha)), (loose, loose + spread * tick)):
        got, want = touch_ticks(bid, ask, tick), old_touch_ticks(bid, ask, tick)
        assert got == want and [type(x) for x in got] == [type(x) for x in want] == [int, int], (bid, ask, tick)
