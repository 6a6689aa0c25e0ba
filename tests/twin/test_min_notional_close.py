"""An order under the venue's minimum notional is refused, unless it closes the whole position (a reduce-only order
sized to it or over, or a plain one of exactly its size). Exchange._place tests the closing only for an order under
the minimum; this holds its answer to the rule as it was written before (the closing computed for every order, on
the size asked, before a reduce-only order is cut to the position), over positions long, short and flat, orders
either side, under and over the minimum, reduce-only or not, sized under, at and over the position."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from twin.exchange import Exchange
from twin.faults.rejections import RejectReason, order_error_text
from twin.messages import OrderSpec, StatusError
from twin.params import TwinParams
from twin.seeding import set_position

USER = "0x" + "5e" * 20
LOT = 0.0001  # BTC's (5 size decimals)
MIN_TRADE = StatusError(order_error_text(RejectReason.MinTradeNtl, 0))


def _refused_under_minimum(pos: float, is_buy: bool, px: float, sz: float, reduce_only: bool) -> bool:
    """The rule as it was written in _place: the closing computed first, on the size asked."""
    closes_all = pos != 0.0 and (pos > 0) != is_buy and sz >= abs(pos) - 1e-12
    if reduce_only:
        sz = min(sz, abs(pos))
    return px * sz < 10.0 and not (closes_all and (reduce_only or sz == abs(pos)))


@settings(max_examples=300, deadline=None)
@given(st.integers(-4, 4), st.integers(1, 6), st.booleans(), st.booleans(),
       st.sampled_from([20_000.0, 60_000.0, 99_000.0]))
def test_an_order_under_the_minimum_is_refused_unless_it_closes_the_position(pos_lots, lots, is_buy, reduce_only,
                                                                             far):
    ex = Exchange.build(TwinParams(), 1)
    ex.env.run(until=1.0)
    ex.fund(USER, 1_000_000.0)
    pos = round(pos_lots * LOT, 5)
    set_position(ex, USER, "BTC", pos)
    sz = round(lots * LOT, 5)
    px = far  # (under the touch: a bid rests, an ask takes, after the minimum's test; 1 to 6 lots, 2 to 59 USD)
    got = ex._place(ex.accounts[USER], OrderSpec("BTC", is_buy, px, sz, reduce_only=reduce_only))
    if reduce_only and (pos == 0.0 or (pos > 0) == is_buy):
        assert got == StatusError(order_error_text(RejectReason.ReduceOnly, 0))
    else:
        assert (got == MIN_TRADE) == _refused_under_minimum(pos, is_buy, px, sz, reduce_only), got


def test_the_cases_are_reached():
    """Closing orders under the minimum are let through (a plain one of the position's size, a reduce-only one over
    it), and those that do not close the whole position refused (smaller, plain and larger, or opening)."""
    cases = {(3, 3, False, False): False, (3, 2, False, False): True, (3, 4, False, True): False,
             (3, 4, False, False): True, (-2, 2, True, False): False, (-2, 1, True, True): True,
             (2, 1, True, False): True}
    for (pos_lots, lots, is_buy, ro), refused in cases.items():
        ex = Exchange.build(TwinParams(), 1)
        ex.env.run(until=1.0)
        ex.fund(USER, 1_000_000.0)
        set_position(ex, USER, "BTC", round(pos_lots * LOT, 5))
        got = ex._place(ex.accounts[USER], OrderSpec("BTC", is_buy, 20_000.0, round(lots * LOT, 5), reduce_only=ro))
        assert (got == MIN_TRADE) == refused, (pos_lots, lots, is_buy, ro, got)
