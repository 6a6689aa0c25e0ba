"""Rejections: venue texts and classification, stochastic rates by reason, scripted bursts."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from twin.faults.rejections import (
    ACTION_REASONS, ORDER_REASONS, UNSUFFIXED, VENUE_TEXT, RejectionModel, RejectionParams, RejectReason,
    classify_venue_text, order_error_text)


def test_reason_values_are_their_names():
    assert all(r.value == r.name for r in RejectReason)
    assert set(VENUE_TEXT) == set(RejectReason) - {RejectReason.Other}  # Other stands for any unlisted text
    assert ORDER_REASONS | ACTION_REASONS == set(RejectReason) and not ORDER_REASONS & ACTION_REASONS


def test_texts_carry_the_live_asset_suffix():
    assert order_error_text(RejectReason.MinTradeNtl, 4) == "Order must have minimum value of $10. asset=4"
    assert order_error_text(RejectReason.ReduceOnly, 4) == "Reduce only order would increase position. asset=4"
    assert order_error_text(RejectReason.BadAloPx, 0, bbo="64143@64144") == \
        "Post only order would have immediately matched, bbo was 64143@64144. asset=0"
    assert order_error_text(RejectReason.InvalidSize, 1) == "Order has invalid size. asset=1"
    assert order_error_text(RejectReason.ZeroSize, 1) == "Order has zero size. asset=1"
    # ... but for a modify of an order canceled or filled, which the venue words bare (UNSUFFIXED's sources)
    assert order_error_text(RejectReason.ModifyCanceledOrFilled, 2) == "Cannot modify canceled or filled order"


def test_the_oracle_refusal_is_the_live_text_not_the_docs_table():
    """docs/hyperliquid.md §2.4, the table's Oracle row: `Order price too far from oracle` (a live reply `Price too
    far from oracle asset=4` is reported [CAPTURE 70679828995]). The only live form on record is the latter: the twin
    sent the table's, `Order price too far from oracle asset=4`, which no capture holds. Both still classify."""
    assert order_error_text(RejectReason.Oracle, 4) == "Price too far from oracle asset=4"
    assert classify_venue_text("Order price too far from oracle") == RejectReason.Oracle
    assert classify_venue_text("Order price too far from oracle. asset=4") == RejectReason.Oracle


@pytest.mark.parametrize("reason", sorted(ORDER_REASONS))
def test_every_order_text_classifies_back_to_its_reason(reason):
    text = order_error_text(reason, 7, bbo="1@2")
    assert text.endswith(" asset=7") != (reason in UNSUFFIXED)
    assert classify_venue_text(text) == reason
    assert classify_venue_text(text.rsplit(" asset=", 1)[0]) == reason  # the docs' form, no suffix
    assert classify_venue_text(text.rsplit(" asset=", 1)[0].rstrip(".") + ". asset=7") == reason  # any other


def test_action_level_texts_are_the_venues_and_classify_back():
    rate = VENUE_TEXT[RejectReason.RateLimited].format(used=97460, cap=97456, volume_usd=87457.46)
    assert rate == ("Too many cumulative requests sent (97460 > 97456) for cumulative volume traded $87457.46. "
                    "Place taker orders to free up 1 request per USDC traded.")
    assert classify_venue_text(rate) == RejectReason.RateLimited
    for detail in ("duplicate nonce 1700000000000", "nonce too low 1791140676851 < 1791227196699",
                   "nonce too high 1791572677029 > 1791486156858"):
        text = VENUE_TEXT[RejectReason.NonceInvalid].format(detail=detail)
        assert text == f"Invalid nonce: {detail}"
        assert classify_venue_text(text) == RejectReason.NonceInvalid
    for reason in ACTION_REASONS:
        with pytest.raises(ValueError, match=reason.value):
            order_error_text(reason, 1)


def test_classify_live_variants_and_unknowns():
    assert classify_venue_text("Price too far from oracle asset=4") == RejectReason.Oracle
    assert classify_venue_text("Order price cannot be more than 80% away from the reference price") == \
        RejectReason.Oracle
    assert classify_venue_text("Cannot modify canceled or filled order.") == RejectReason.ModifyCanceledOrFilled
    assert classify_venue_text("Order would increase open interest too quickly asset=3") == \
        RejectReason.OpenInterestIncrease
    assert classify_venue_text("Error placing new order during modify: Insufficient margin to place order. "
                               "asset=0") == RejectReason.PerpMargin
    assert classify_venue_text("Signed action over weight limit of 200.") == RejectReason.Other
    assert classify_venue_text("") == RejectReason.Other


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


def test_rest_failures_are_binomial_and_do_not_shift_the_rejection_stream():
    params = RejectionParams(rates={"Oracle": 0.05}, rest_failure_prob=0.02)
    m = RejectionModel(params, np.random.default_rng(8))
    n = 100_000
    fails = sum(m.rest_fails(float(i)) for i in range(n))
    lo, hi = stats.binom.interval(0.999, n, 0.02)
    assert lo <= fails <= hi
    quiet = RejectionModel(params, np.random.default_rng(8))  # same seed, no REST draws
    assert [m.draw(float(i)) for i in range(500)] == [quiet.draw(float(i)) for i in range(500)]
    assert not any(RejectionModel(RejectionParams(), np.random.default_rng(0)).rest_fails(0.0) for _ in range(100))


def test_params_name_the_bad_reason_and_rate():
    with pytest.raises(ValueError, match="'Orcale'"):
        RejectionParams(rates={"Orcale": 0.1})
    with pytest.raises(ValueError, match="1.5"):
        RejectionParams(rates={"Oracle": 1.5})
    with pytest.raises(ValueError, match="sum"):
        RejectionParams(rates={"Oracle": 0.6, "Tick": 0.6})
    with pytest.raises(ValueError, match="'RateLimited' is not a per-order reason"):
        RejectionParams(rates={"RateLimited": 0.1})
    with pytest.raises(ValueError, match="rest_failure_prob"):
        RejectionParams(rest_failure_prob=2.0)
    with pytest.raises(ValueError, match="NonceInvalid"):
        RejectionModel(RejectionParams(), np.random.default_rng(0)).add_burst(0.0, 1.0, 0.5, RejectReason.NonceInvalid)


def _under_burst(reason, spec_of, position=0.0):
    from twin import seeding
    from twin.exchange import Exchange
    from twin.faults.chaos import ChaosSchedule, RejectionBurst
    from twin.messages import OrderAction
    from twin.params import TwinParams

    ex = Exchange.build(TwinParams(), 1, ChaosSchedule(events=[RejectionBurst(at_s=10, duration_s=10, rate=1.0,
                                                                              reason=reason)]))
    user = "0x" + "cd" * 20
    ex.fund(user, 10_000.0)
    ex.env.run(until=5)
    if position:
        seeding.set_position(ex, user, "BTC", position)
    replies = []
    ex._at(12.0, lambda: ex.submit(user, OrderAction((spec_of(ex),)), replies.append))
    ex.env.run(until=14)
    return replies[0].statuses[0]


def test_a_burst_refuses_only_orders_the_venue_could_refuse_with_its_reason():
    """Applied to any order, a PerpMargin burst refused reduce-only exits (the venue asks no margin of them: the
    agent's Red exits were tuned against a venue that cannot be), a BadAloPx burst an IOC, a ReduceOnly burst a
    plain order, a MissingOrder burst (a cancel's error) a new order."""
    from twin.messages import OrderSpec, StatusError

    bid = lambda ex: ex.best_bid["BTC"]
    ask = lambda ex: ex.best_ask["BTC"]
    exit_ = lambda ex: OrderSpec("BTC", False, bid(ex) - 50, 0.01, True, "Ioc")  # closes a 0.01 long
    bid_gtc = lambda ex: OrderSpec("BTC", True, bid(ex) - 10, 0.001, False, "Gtc")
    assert not isinstance(_under_burst("PerpMargin", exit_, 0.01), StatusError)
    assert not isinstance(_under_burst("BadAloPx", lambda ex: OrderSpec("BTC", True, ask(ex) + 50, 0.001, False,
                                                                        "Ioc")), StatusError)
    assert not isinstance(_under_burst("ReduceOnly", bid_gtc), StatusError)
    assert not isinstance(_under_burst("MissingOrder", bid_gtc), StatusError)
    # ... and those it could, as before
    assert _under_burst("PerpMargin", bid_gtc).error.startswith("Insufficient margin to place order.")
    assert _under_burst("PerpMargin", bid_gtc, -0.0001).error.startswith("Insufficient margin")  # closes, then adds
    assert _under_burst("BadAloPx", lambda ex: OrderSpec("BTC", True, bid(ex) - 10, 0.001, False, "Alo")).error \
        .startswith("Post only order would have immediately matched")
    assert _under_burst("ReduceOnly", exit_, 0.01).error.startswith("Reduce only order would increase position.")
    assert _under_burst("Oracle", exit_, 0.01).error == "Price too far from oracle asset=0"
