"""Account arithmetic: cash, fees and position reconcile exactly with the fills."""
from hypothesis import given, strategies as st

from twin.accounts import Account, dex_of

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


@given(fills, st.integers(80, 120))
def test_isolated_margin_is_set_aside_and_the_identity_holds(seq, mark):
    """On an isolated coin the same fills book the same cash; its margin is set aside out of the cross balance, so
    the dex's value is still cash + unrealised PnL, now also the cross balance plus the position's own equity. The
    margin is the position's size times its average opening price over the leverage, whatever partial closes came
    between (each releases its share), and nothing once flat."""
    acct = Account("0xA", 1000.0, default_leverage=10, only_isolated=frozenset({"X"}))
    for is_buy, px, sz in seq:
        acct.apply_fill("X", is_buy, float(px), float(sz), px * sz * 0.0002)
    pos = acct.position("X")
    marks = {"X": float(mark)}
    cross_value = acct.cross_margin(marks, "")[0]
    assert pos.isolated
    assert abs(acct.account_value(marks) - (cross_value + acct.isolated_equity("X", marks))) < 1e-6
    assert abs(acct.account_value(marks) - (acct.cash + (mark - pos.entry_px) * pos.szi)) < 1e-6
    assert abs(pos.margin_usd - abs(pos.szi) * pos.entry_px / 10) < 1e-6
    assert abs(cross_value - (acct.cash - pos.margin_usd)) < 1e-6


def _cross_margin_afresh(acct: Account, marks: dict, dex: str) -> tuple:
    """cross_margin's figures as its rule says, each coin's dex parsed from its name here (dex_of), in cross_margin's
    order of operations: the floats it must give to the bit."""
    value = acct.cash_by_dex.get(dex, 0.0)
    initial = maintenance = 0.0
    any_cross = False
    for coin, pos in acct.positions.items():
        if pos.szi and dex_of(coin) == dex:
            if pos.isolated:
                value -= pos.margin_usd
            else:
                mark = marks.get(coin, pos.entry_px)
                ntl = abs(pos.szi) * mark
                value += (mark - pos.entry_px) * pos.szi
                initial += ntl / pos.leverage
                maintenance += ntl / (2.0 * pos.max_leverage)
                any_cross = True
    return value, initial, maintenance, any_cross


_coins = st.sampled_from(["BTC", "ETH", "hyna:LIT", "hyna:BTC", "xyz:GOLD"])


@given(st.lists(st.tuples(_coins, st.booleans(), st.integers(90, 110), st.integers(1, 50)), min_size=1, max_size=40),
       st.dictionaries(_coins, st.integers(80, 120)), st.sampled_from(["", "hyna", "xyz", "none"]))
def test_cross_margin_takes_each_position_dex_as_its_coin_name_says(seq, marks, dex):
    """cross_margin reads a position's dex from the position (kept when Account.position made it), not from its
    coin's name: every dex's figures equal those of the name parsed afresh, to the bit, cross and isolated coins on
    several dexes mixed (a position kept on the wrong dex, or on none, moves another dex's figures)."""
    acct = Account("0xA", 1000.0, default_leverage=10, only_isolated=frozenset({"hyna:BTC"}))
    acct.deposit(500.0, "hyna")
    for coin, is_buy, px, sz in seq:
        acct.apply_fill(coin, is_buy, float(px), float(sz), px * sz * 0.0002)
    marks = {c: float(m) for c, m in marks.items()}
    for d in (dex, "", "hyna", "xyz"):
        assert acct.cross_margin(marks, d) == _cross_margin_afresh(acct, marks, d)
    assert all(pos.dex == dex_of(coin) for coin, pos in acct.positions.items())


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 10_000_000)), min_size=1, max_size=30))
def test_a_large_position_on_a_coarse_lot_is_its_decimal_too(seq):
    """A coin traded in tenths (size decimals 1, a coin near 1 USDC) holds positions of 10^5-10^6: summed in floats,
    rounded to 12 decimals, the residue of a few fills (1e-11-1e-10) stayed, a position closed in four sells read
    -5.8e-11 (listed by clearinghouseState, paid funding, its next fill's direction wrong). On the coin's lot it is
    the decimal the venue holds, flat when the fills sum to nothing."""
    acct = Account("0xA", 1e9, sz_decimals={"hyna:T": 1})
    lots = 0
    for is_buy, n in seq:
        acct.apply_fill("hyna:T", is_buy, 1.0, n * 0.1, 0.0)
        lots += n if is_buy else -n
        assert acct.position("hyna:T").szi == round(lots * 0.1, 1)


def test_a_large_position_closed_in_several_fills_is_flat_on_its_lot():
    """The four sells that closed 1,129,726.2 left -5.8e-11 rounded to 12 decimals: the last one a "Long > Short"
    opening a short of nothing at 1.05, where the venue says "Close Long" and holds no position."""
    sizes = (307_829.4, 511_136.5, 40_973.6, 269_786.7)
    acct = Account("0xA", 1e9, sz_decimals={"hyna:T": 1})
    for sz in sizes:
        acct.apply_fill("hyna:T", True, 1.0, sz, 0.0)
    res = [acct.apply_fill("hyna:T", False, 1.05, sz, 0.0) for sz in sizes]
    pos = acct.position("hyna:T")
    assert [r.direction for r in res] == ["Close Long"] * 4
    assert (pos.szi, pos.entry_px) == (0.0, 0.0)
