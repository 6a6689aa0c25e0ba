"""Exchange._place's test of whether an order crosses the displayed book: ``px >= best ask`` for a bid, ``px <= best
bid`` for an ask, False against an empty side (its best nan, as every compare with a nan). Held here to the rule as it
was written before (the side tested for a number first: ``ba == ba and px >= ba``), through the post-only order's
refusal (BadAloPx exactly when it crosses) and the Gtc order's take (it fills or rests), over books with either side
empty, both, or neither, and prices through, at and off the touch."""
from __future__ import annotations

import math

from hypothesis import given, settings, strategies as st

from twin.exchange import Exchange
from twin.faults.rejections import RejectReason
from twin.messages import OrderSpec, Resting, StatusError
from twin.params import TwinParams

USER = "0x" + "c4" * 20


def _crosses_as_written(is_buy: bool, px: float, bb: float, ba: float) -> bool:
    return (is_buy and ba == ba and px >= ba) or (not is_buy and bb == bb and px <= bb)


@settings(max_examples=200, deadline=None)
@given(st.booleans(), st.booleans(), st.booleans(), st.integers(-3, 3), st.sampled_from(["Alo", "Gtc"]))
def test_an_order_crosses_as_the_rule_was_written(is_buy, bid_empty, ask_empty, ticks, tif):
    ex = Exchange.build(TwinParams(), 0)
    ex.env.run(until=1.0)
    ex.fund(USER, 1_000_000.0)
    bb, ba = ex.best_bid["BTC"], ex.best_ask["BTC"]
    touch = ba if is_buy else bb
    px = touch + ticks  # (a tick is 1: through the touch, at it, or off it)
    if bid_empty:
        ex.best_bid["BTC"] = math.nan
    if ask_empty:
        ex.best_ask["BTC"] = math.nan
    crosses = _crosses_as_written(is_buy, px, ex.best_bid["BTC"], ex.best_ask["BTC"])
    rejected_before = ex.rejections_by_reason.get(RejectReason.BadAloPx.value, 0)
    got = ex._place(ex.accounts[USER], OrderSpec("BTC", is_buy, px, 0.001, tif=tif))
    refused = ex.rejections_by_reason.get(RejectReason.BadAloPx.value, 0) > rejected_before
    if tif == "Alo":
        assert refused == crosses and (type(got) is StatusError) == crosses, got
    else:
        # (a crossing Gtc takes from the displayed rows, which the nan best left as they were: filled, in part
        # or whole; one that does not cross rests untouched)
        assert not refused and (ex.counters["fills"] > 0) == crosses and (type(got) is Resting or crosses), got
