"""Quoting math: GLFT against hand-computed values, estimator recovery, signals, venue-valid ladders."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from agent.quoting.estimators import ArrivalEstimator, EstimatorConfig, VolatilityEstimator
from agent.quoting.glft import glft_quote
from agent.quoting.ladder import build_ladder, geometric, round_px_to_venue
from agent.quoting.signals import (
    BookImbalanceSignal, MomentumSignal, SignalBlend, SignalConfig, TradeFlowSignal,
)
from twin.instruments import price_is_valid  # the twin's independent implementation of the venue rule


def test_glft_against_hand_computed_values():
    # γ=0.1, Δ=1, k=2, A=1, σ=0.5 → ξΔ = 0.1
    # c1 = ln(1 + 0.1/2)/0.1 = ln(1.05)/0.1 = 0.487901642
    # c2 = sqrt(0.1/(2·1·1·2) · 1.05^(2/0.1 + 1)) = sqrt(0.025 · 1.05^21) = sqrt(0.025 · 2.785962590) = 0.263911100
    # half = c1 + 0.5·c2·0.5 = 0.553879417 ; skew = c2·0.5 = 0.131955550
    q = glft_quote(100.0, 2.0, 0.5, 1.0, 2.0, 0.1, 1.0)
    assert q.half_spread == pytest.approx(0.553879417, abs=1e-8)
    assert q.skew == pytest.approx(0.131955550, abs=1e-8)
    assert q.bid == pytest.approx(100 - 0.553879417 - 2 * 0.131955550, abs=1e-8)
    assert q.ask == pytest.approx(100 + 0.553879417 - 2 * 0.131955550, abs=1e-8)


def test_glft_limits_and_guards():
    long_ = glft_quote(100.0, 3.0, 0.5, 1.0, 2.0, 0.1, 1.0)
    short = glft_quote(100.0, -3.0, 0.5, 1.0, 2.0, 0.1, 1.0)
    assert long_.ask < 100.55 and short.bid > 99.45  # skew leans against the inventory
    assert glft_quote(100.0, 0.0, 0.0, 1.0, 2.0, 0.1, 1.0).half_spread == pytest.approx(math.log(1.05) / 0.1)
    with pytest.raises(ValueError, match="k"):
        glft_quote(100.0, 0.0, 0.5, 1.0, 0.0, 0.1, 1.0)


def test_volatility_recovered_from_a_gbm():
    rng = np.random.default_rng(1)
    sigma = 1e-4
    dt = 0.1
    n = 72_000
    mid = 100.0 * np.exp(np.cumsum(sigma * math.sqrt(dt) * rng.standard_normal(n)))
    est = VolatilityEstimator(EstimatorConfig(vol_halflife_s=3600.0))
    for i in range(n):
        est.update(i * dt + 0.013, float(mid[i]))
    assert est.ready
    assert abs(est.sigma_per_sqrt_s / sigma - 1) < 0.1


def test_arrival_parameters_recovered():
    rng = np.random.default_rng(2)
    A, k = 1.5, 2.0  # per side per s; per price unit
    T = 4 * 3600.0
    n = rng.poisson(2 * A * T)
    ts = np.sort(rng.uniform(0, T, n))
    reach = rng.exponential(1 / k, n)
    side = rng.choice([-1, 1], n)
    est = ArrivalEstimator(EstimatorConfig(arrival_halflife_s=1e6), 2.0)
    for t, r, s in zip(ts, reach, side):
        est.on_trade(float(t), 100.0 + s * float(r), 100.0)
    A_hat, k_hat = est.fit(T)
    assert abs(A_hat / A - 1) < 0.2 and abs(k_hat / k - 1) < 0.2


def test_volatility_recovered_on_twin_data():
    from twin.market import BOOK, Shock, SyntheticMarket, SyntheticMarketParams

    p = SyntheticMarketParams(jump_rate_calm_per_s=0.0, impact_bps=0.0, drift_coupling=0.0)
    m = SyntheticMarket(p, np.random.default_rng(5), shocks=[Shock(0.0, "regime", 0, 1e9)])
    est = VolatilityEstimator(EstimatorConfig(vol_halflife_s=3600.0))
    for _ in range(360):
        c = m.next_chunk()
        books = np.nonzero(c.kind == BOOK)[0]
        for i in books[::5]:  # what a 0.5 s book feed would show
            j = c.idx[i]
            est.update(float(c.t[i]), 0.5 * (c.bid_px[j, 0] + c.ask_px[j, 0]))
    # the book mid is tick-rounded: its noise adds variance, so the bound is one-sided-ish and loose
    assert 0.9 < est.sigma_per_sqrt_s / p.vol_calm_per_sqrt_s < 1.3


def test_arrival_decay_recovered_on_twin_data():
    from twin.market import BOOK, SyntheticMarket, SyntheticMarketParams

    p = SyntheticMarketParams(depth_decay_per_usd=0.25, informed_share=0.0)
    m = SyntheticMarket(p, np.random.default_rng(6))
    est = ArrivalEstimator(EstimatorConfig(arrival_halflife_s=1e6), 10.0)
    mid = math.nan
    for _ in range(360):
        c = m.next_chunk()
        for i in range(len(c.t)):
            j = c.idx[i]
            if c.kind[i] == BOOK:
                mid = 0.5 * (c.bid_px[j, 0] + c.ask_px[j, 0])
            elif mid == mid:
                est.on_trade(float(c.t[i]), float(c.trade_px[j]), mid)
    A_hat, k_hat = est.fit(c.t_end)
    assert abs(k_hat / 0.25 - 1) < 0.25


@pytest.mark.parametrize("coin, order_size", [("BTC", 0.002), ("hyna:LIT", 20.0)])
def test_the_priors_and_the_depth_grid_scale_with_the_price(coin, order_size):
    """One config on a $100,000 coin and on a $1 one: before any fit (the first 30 s) the quotes sit within
    a few bps of the mid on both, on the $1 coin the quotes fill, and on both the arrival fit comes. (With the arrival prior in dollars, set for BTC, the $1 coin was quoted 40% away and never
    filled in half an hour.)"""
    from agent.config import AgentConfig
    from agent.session import build_session
    from twin.market.synthetic import SyntheticMarketParams
    from twin.params import TwinParams

    params = TwinParams(markets={"BTC": SyntheticMarketParams(), "hyna:LIT": SyntheticMarketParams.thin_hip3()})
    cfg = AgentConfig.model_validate({"session": {"coin": coin, "collateral_usd": 5000},
                                      "quoting": {"order_size": order_size}, "risk": {"max_position": 100 * order_size},
                                      "graduation": {"start_level": "FULL", "ceiling": "FULL"}})
    ex, _, core, driver = build_session(cfg, 1, params)
    driver.start()
    ex.env.run(until=30.0)
    assert core._fit is None and core.last_quotes  # still on the priors
    assert max(abs(q.px / core.mid - 1.0) for q in core.last_quotes) < 10e-4
    ex.env.run(until=900.0)
    assert ex.counters["fills"] > 0
    # the grid of trade depths is each market's own, so both fit (a grid fixed at BTC's 0.3 bp of the mid is
    # finer than the $1 coin's tick, and never did)
    assert core._fit is not None and core.arrivals.depths[-1] > 2 * params.markets[coin].half_spread_ticks_calm * \
        (1.0 if coin == "BTC" else 1e-4)


def test_signals_are_bounded_monotone_and_decay():
    cfg = SignalConfig()
    b = BookImbalanceSignal(cfg)
    b.update(0.0, ((100, 5.0),), ((101, 1.0),))
    p_heavy_bid = b.p_up(0.0)
    b.update(0.0, ((100, 1.0),), ((101, 5.0),))
    assert p_heavy_bid > 0.5 > b.p_up(0.0)
    assert abs(b.p_up(1000.0) - 0.5) < 1e-6  # decays without news
    f = TradeFlowSignal(cfg)
    for i in range(20):
        f.update(i * 0.1, 1, 1.0)
    assert f.p_up(2.0) > 0.8
    assert abs(f.adjustment(2.0, 100_000.0)) <= cfg.max_adj_bps * 1e-4 * 100_000.0 + 1e-9
    m = MomentumSignal(cfg)
    for i in range(50):
        m.update(i * 0.5, 100.0 * (1 + 1e-4 * i))
    assert m.p_up(25.0) > 0.5
    blend = SignalBlend([b, f, m])
    blend.set_weight("trade_flow", 0.0)
    assert blend.adjustment(2.0, 100.0) == pytest.approx(b.adjustment(2.0, 100.0) + m.adjustment(2.0, 100.0))
    with pytest.raises(KeyError):
        blend.set_weight("nope", 1.0)


@given(st.floats(0.01, 200_000), st.floats(0.0, 0.05), st.integers(0, 5), st.integers(1, 6),
       st.floats(0.001, 50))
def test_ladder_is_venue_valid(mid, half_frac, szd, n, base):
    bid, ask = mid * (1 - half_frac), mid * (1 + half_frac)
    spacing = mid * 1e-4
    lad = build_ladder(bid, ask, n, spacing, geometric(base, 1.3, n), szd, min_notional=10.0)
    lot = 10.0 ** -szd
    for q in lad.bids + lad.asks:
        assert price_is_valid(q.px, szd), q
        assert abs(q.sz / lot - round(q.sz / lot)) < 1e-6 and q.px * q.sz >= 10.0
    if lad.bids and lad.asks:
        assert max(q.px for q in lad.bids) < min(q.px for q in lad.asks)
    for q in lad.bids:
        assert q.px <= bid + 1e-9  # never more aggressive than asked


@given(st.floats(0.0001, 10**6), st.integers(0, 5))
def test_rounding_is_valid_and_safe(px, szd):
    lo, hi = round_px_to_venue(px, szd, 1), round_px_to_venue(px, szd, -1)
    assert lo <= px + 1e-9 <= hi + 2e-9
    if lo > 0:
        assert price_is_valid(lo, szd)
    assert price_is_valid(hi, szd)
