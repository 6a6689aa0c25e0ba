"""Account arithmetic: cash, fees and position reconcile exactly with the fills."""
from hypothesis import given, strategies as st

from twin.accounts import Account

fills = st.lists(st.tuples(st.booleans(), st.integers(90, 110), st.integers(1, 50)), min_size=1, max_size=60)


@given(fills)
def test_cash_and_position_reconcile_with_fills(seq):
    acct = Account("0xA", 1000.0)
    fee_total = 0.0
    cash_flow = 0.0  # -Σ signed notional: what a naive ledger of the fills says
    for is_buy, px, sz in seq:
        fee = px * sz * 0.0002
        acct.apply_fill("X", is_buy, float(px), float(sz), fee)
        fee_total += fee
        cash_flow += -px * sz if is_buy else px * sz
    pos = sum(sz if b else -sz for b, _, sz in seq)
    assert acct.position("X").szi == pos
    mark = 100.0
    # equity two ways: the account's books vs. the fills' cash flow marked to market
    expected_equity = 1000.0 + cash_flow + pos * mark - fee_total
    assert abs(acct.account_value({"X": mark}) - expected_equity) < 1e-6
    assert abs(acct.position("X").fees - fee_total) < 1e-9


def test_entry_price_and_realised_pnl():
    acct = Account("0xA", 0.0)
    acct.apply_fill("X", True, 100.0, 2.0, 0.0)
    acct.apply_fill("X", True, 110.0, 2.0, 0.0)
    assert acct.position("X").entry_px == 105.0
    res = acct.apply_fill("X", False, 120.0, 1.0, 0.0)
    assert res.closed_pnl == 15.0 and res.direction == "Close Long"
    res = acct.apply_fill("X", False, 100.0, 5.0, 0.0)  # closes 3 at a loss of 5 each, opens 2 short at 100
    assert res.closed_pnl == -15.0 and res.direction == "Long > Short"
    assert acct.position("X").szi == -2.0 and acct.position("X").entry_px == 100.0
    assert acct.cash == 0.0


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 2000)), min_size=1, max_size=60))
def test_positions_are_decimals_without_float_residue(seq):
    """The venue's positions are decimals: a twin position summed in floats (0.014 - 0.0062 =
    0.007799999999999999) reported a size the venue itself would refuse as an order."""
    acct = Account("0xA", 1e6)
    lots = 0
    for is_buy, n in seq:
        acct.apply_fill("BTC", is_buy, 100_000.0, n * 1e-5, 0.0)
        lots += n if is_buy else -n
        assert acct.position("BTC").szi == round(lots * 1e-5, 5)  # exactly the decimal, as a double
