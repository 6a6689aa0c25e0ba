"""The venue's price and size rules, against the examples the venue's docs give (hyperliquid.md §3.4)."""
import pytest
from hypothesis import given, strategies as st
from pydantic import ValidationError

from twin.instruments import InstrumentSpec, default_instruments, price_is_valid, size_is_valid


def test_docs_examples():
    assert price_is_valid(1234.5, 0)
    assert not price_is_valid(1234.56, 0)
    assert price_is_valid(0.001234, 0)
    assert not price_is_valid(0.0012345, 0)
    assert price_is_valid(0.01234, 1)
    assert not price_is_valid(0.012345, 1)
    assert price_is_valid(123456, 5)  # integers always pass
    assert not price_is_valid(12345.6, 0)
    assert not price_is_valid(0.0, 0) and not price_is_valid(-5.0, 0)


def test_decimals_limited_by_size_decimals():
    # BTC: szDecimals 5 → at most 1 price decimal
    assert price_is_valid(95000.0, 5)
    assert price_is_valid(9500.5, 5)
    assert not price_is_valid(950.25, 5)


def test_size_decimals():
    assert size_is_valid("0.00001", 5)
    assert not size_is_valid("0.000001", 5)
    assert not size_is_valid(0, 5)
    assert size_is_valid(3, 0) and not size_is_valid(0.5, 0)


def test_hip3_asset_ids_and_names():
    perp, hip3 = default_instruments()
    assert (perp.coin, perp.asset_id) == ("BTC", 0)
    assert hip3.coin == "hyna:LIT"
    assert hip3.asset_id == 100000 + 4 * 10000 + 0
    assert InstrumentSpec(name="X", dex="test", dex_index=1, index=3).asset_id == 110003


@given(st.integers(min_value=1, max_value=99999), st.integers(min_value=0, max_value=4))
def test_five_sig_figs_pass_when_decimals_allow(mantissa, shift):
    px = mantissa / 10 ** shift
    # ≤5 significant figures; decimals ≤ 6 - szDecimals with szDecimals = 1 → ≤ 5 decimals
    assert price_is_valid(px, 1)


def test_a_tick_of_more_than_one_significant_figure_is_refused_naming_it():
    """A tick of 0.25 was taken, and the synthetic book (which prints its levels with the tick's decimals, one here)
    listed 3000.2, 3000, 2999.8, 2999.5: levels off its own grid, unevenly apart."""
    for tick in (0.25, 2.5, 0.00015):
        with pytest.raises(ValidationError, match=f"tick {tick} has more than one significant figure"):
            InstrumentSpec(tick=tick, sz_decimals=0)
    for tick in (0.5, 1.0, 25.0, 1e-4, 1e-12):
        assert InstrumentSpec(tick=tick, sz_decimals=0).tick == tick
