"""Rejections: venue texts and classification, stochastic rates by reason, scripted bursts."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from twin.faults.rejections import (
    VENUE_TEXT, RejectionModel, RejectionParams, RejectReason, classify_venue_text, order_error_text)


def test_reason_values_are_their_names():
    assert all(r.value == r.name for r in RejectReason)
    assert set(VENUE_TEXT) == set(RejectReason)


def test_texts_carry_the_live_asset_suffix():
    assert order_error_text(RejectReason.MinTradeNtl, 4) == "Order must have minimum value of $10. asset=4"
    assert order_error_text(RejectReason.ReduceOnly, 4) == "Reduce only order would increase position. asset=4"
    assert order_error_text(RejectReason.BadAloPx, 0, bbo="64143@64144") == \
        "Post only order would have immediately matched, bbo was 64143@64144. asset=0"
    assert order_error_text(RejectReason.InvalidSize, 1) == "Order has invalid size. asset=1"
    assert order_error_text(RejectReason.ZeroSize, 1) == "Order has zero size. asset=1"
    assert order_error_text(RejectReason.ModifyCanceledOrFilled, 2) == "Cannot modify canceled or filled order asset=2"


@pytest.mark.parametrize("reason", list(RejectReason))
def test_every_text_classifies_back_to_its_reason(reason):
    assert classify_venue_text(order_error_text(reason, 7, bbo="1@2")) == reason


def test_classify_live_variants_and_unknowns():
    assert classify_venue_text("Price too far from oracle asset=4") == RejectReason.Oracle
    assert classify_venue_text("Cannot modify canceled or filled order.") == RejectReason.ModifyCanceledOrFilled
    assert classify_venue_text("Order would increase open interest too quickly asset=3") == \
        RejectReason.OpenInterestIncrease
    assert classify_venue_text("Invalid nonce: duplicate nonce 1700000000000") is None


def test_rates_by_reason_are_binomial():
    rates = {"Oracle": 0.01, "PerpMargin": 0.03}
    m = RejectionModel(RejectionParams(rates=rates), np.random.default_rng(9))
    n = 200_000
    draws = [m.draw(float(i)) for i in range(n)]
    for name, p in rates.items():
        lo, hi = stats.binom.interval(0.999, n, p)
        assert lo <= draws.count(RejectReason(name)) <= hi, name
    assert draws.count(None) + draws.count(RejectReason.Oracle) + draws.count(RejectReason.PerpMargin) == n


def test_default_never_rejects():
    m = RejectionModel(RejectionParams(), np.random.default_rng(0))
    assert all(m.draw(float(t)) is None for t in range(1000))


def test_burst_rejects_at_its_rate_only_inside_its_window():
    m = RejectionModel(RejectionParams(), np.random.default_rng(4))
    m.add_burst(100.0, 200.0, 0.4, RejectReason.PerpMargin)
    assert all(m.draw(t) is None for t in np.linspace(0.0, 99.99, 500))
    assert all(m.draw(t) is None for t in np.linspace(200.0, 300.0, 500))
    n = 20_000
    hits = sum(m.draw(100.0 + 99.0 * i / n) == RejectReason.PerpMargin for i in range(n))
    lo, hi = stats.binom.interval(0.999, n, 0.4)
    assert lo <= hits <= hi


def test_params_name_the_bad_reason_and_rate():
    with pytest.raises(ValueError, match="'Orcale'"):
        RejectionParams(rates={"Orcale": 0.1})
    with pytest.raises(ValueError, match="1.5"):
        RejectionParams(rates={"Oracle": 1.5})
    with pytest.raises(ValueError, match="sum"):
        RejectionParams(rates={"Oracle": 0.6, "Tick": 0.6})
