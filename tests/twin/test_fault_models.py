"""Fault models against their parameters: statistical bounds and the venue's quota arithmetic."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from pydantic import ValidationError
from scipy import optimize, stats

from twin.faults.chaos import ChaosSchedule
from twin.faults.connection import ConnectionModel, ConnectionParams
from twin.faults.latency import PathLatency, PathLatencyParams
from twin.faults.quota import AddressQuota, IpWeightLimiter, QuotaParams, exchange_weight, info_weight
from twin.faults.rejections import (
    RejectionModel, RejectionParams, RejectReason, classify_venue_text, order_error_text,
)


def mixture_quantile(p: PathLatencyParams, q: float) -> float:
    """Quantile (s) of the body/spike log-normal mixture, by inverting its CDF."""
    body = stats.lognorm(p.sigma, scale=p.median_ms / 1000)
    spike = stats.lognorm(p.spike_sigma, scale=p.spike_median_ms / 1000)

    def cdf(x):
        return (1 - p.spike_prob) * body.cdf(x) + p.spike_prob * spike.cdf(x) - q
    return optimize.brentq(cdf, 1e-6, 100.0)


def test_latency_quantiles_match_the_mixture():
    p = PathLatencyParams(burst_rate_per_hour=0.0)
    lat = PathLatency(p, np.random.default_rng(1))
    x = np.array([lat.sample(i * 0.01) for i in range(200_000)])
    for q in (0.5, 0.9, 0.99):
        expected = mixture_quantile(p, q)
        assert abs(np.quantile(x, q) / expected - 1) < 0.03, (q, np.quantile(x, q), expected)
    # spike share within a binomial 99.9% interval (a spike is > 200 ms with near certainty here)
    n = len(x)
    share = np.mean(x > 0.2)
    body_tail = 1 - stats.lognorm(p.sigma, scale=p.median_ms / 1000).cdf(0.2)
    spike_above = 1 - stats.lognorm(p.spike_sigma, scale=p.spike_median_ms / 1000).cdf(0.2)
    expect = (1 - p.spike_prob) * body_tail + p.spike_prob * spike_above
    lo, hi = stats.binom.interval(0.999, n, expect)
    assert lo / n <= share <= hi / n


def test_bursts_slow_the_expected_share_of_time():
    p = PathLatencyParams(sigma=0.0, spike_prob=0.0, burst_rate_per_hour=6.0, burst_mean_duration_s=60.0,
                          burst_multiplier=4.0)
    lat = PathLatency(p, np.random.default_rng(2))
    t = np.arange(0, 200 * 3600, 1.0)
    x = np.array([lat.sample(ti) for ti in t])
    share = np.mean(x > 0.1)
    # alternating renewal: mean gap 600 s, mean burst 60 s → 60/660 of the time
    assert abs(share - 60 / 660) < 0.02
    assert set(np.round(np.unique(x), 6)) == {0.06, 0.24}


def test_scripted_spike_applies_only_in_its_window():
    lat = PathLatency(PathLatencyParams(sigma=0, spike_prob=0, burst_rate_per_hour=0), np.random.default_rng(0))
    lat.add_spike(10.0, 20.0, multiplier=2.0, extra_ms=100.0)
    assert lat.sample(5.0) == pytest.approx(0.06)
    assert lat.sample(15.0) == pytest.approx(0.22)
    assert lat.sample(20.0) == pytest.approx(0.06)


def test_disconnect_counts_match_the_hazard():
    p = ConnectionParams(hazard_per_hour=2.0, outage_median_s=5.0, outage_sigma=0.5)
    m = ConnectionModel(p, np.random.default_rng(3))
    horizon = 2000 * 3600.0
    outages = m.outages_until(horizon)
    lo, hi = stats.poisson.interval(0.999, 2.0 * 2000)
    assert lo <= len(outages) <= hi
    mean_dur = np.mean([b - a for a, b in outages])
    assert abs(mean_dur / (5.0 * math.exp(0.5 ** 2 / 2)) - 1) < 0.05


def test_connection_state_changes_at_the_interval_edges():
    m = ConnectionModel(ConnectionParams(hazard_per_hour=0.0), np.random.default_rng(0))
    assert m.next_change(0.0) == math.inf
    m.add_outage(10.0, 5.0)
    assert not m.is_down(9.99) and m.is_down(10.0) and m.is_down(14.9) and not m.is_down(15.0)
    assert m.next_change(0.0) == 10.0 and m.next_change(12.0) == 15.0


def test_rejection_rate_within_binomial_bounds_and_bursts():
    model = RejectionModel(RejectionParams(rates={"Oracle": 0.02, "PerpMargin": 0.01}), np.random.default_rng(4))
    n = 100_000
    draws = [model.draw(float(i)) for i in range(n)]
    for reason, p in ((RejectReason.Oracle, 0.02), (RejectReason.PerpMargin, 0.01)):
        k = sum(d == reason for d in draws)
        lo, hi = stats.binom.interval(0.999, n, p)
        assert lo <= k <= hi
    model.add_burst(1e6, 1e6 + 10, 1.0, RejectReason.BadAloPx)
    assert model.draw(1e6 + 5) == RejectReason.BadAloPx


def test_venue_texts_carry_the_asset_suffix_and_classify_back():
    assert order_error_text(RejectReason.MinTradeNtl, 4) == "Order must have minimum value of $10. asset=4"
    t = order_error_text(RejectReason.BadAloPx, 0, bbo="64143@64144")
    assert t == "Post only order would have immediately matched, bbo was 64143@64144. asset=0"
    for r in RejectReason:
        assert classify_venue_text(order_error_text(r, 7, bbo="1@2")) == r


def test_unknown_rejection_reason_is_named():
    with pytest.raises(ValidationError, match="Oracel"):
        RejectionParams(rates={"Oracel": 0.1})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 30), st.floats(0, 5), st.booleans()), max_size=200),
       st.integers(0, 200))
def test_address_quota_refuses_exactly_when_exhausted(reqs, buffer):
    q = AddressQuota(QuotaParams(initial_buffer=buffer, cancel_extra=50))
    t = 0.0
    last_slow = -math.inf
    for n, dt, is_cancel in reqs:
        t += dt
        used_before = q.used
        limit = q.cancel_cap if is_cancel else q.cap
        ok = q.try_spend(n, t, is_cancel)
        within = used_before + n <= limit
        slow_ok = t - last_slow >= 10.0
        assert ok == (within or slow_ok)
        if ok:
            assert q.used == used_before + n
            if not within:
                last_slow = t
        else:
            assert q.used == used_before  # refusals cost nothing
        assert q.used >= 0


def test_quota_cap_grows_with_volume_and_texts():
    q = AddressQuota(QuotaParams())
    assert q.cap == 10000
    q.on_traded(2500.7)
    assert q.cap == 12500 and q.cancel_cap == 25000
    q.set_remaining(3)
    assert q.cap - q.used == 3
    assert q.refusal_text(4) == ("Too many cumulative requests sent (12501 > 12500) for cumulative volume traded "
                                 "$2500.70. Place taker orders to free up 1 request per USDC traded.")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 60), st.floats(0, 3)), max_size=300))
def test_ip_limiter_never_admits_more_than_the_weight_per_minute(reqs):
    lim = IpWeightLimiter(QuotaParams(ip_weight_per_minute=200))
    t = 0.0
    admitted = []
    for w, dt in reqs:
        t += dt
        if lim.try_spend(w, t):
            admitted.append((t, w))
    for t0, _ in admitted:
        assert sum(w for t, w in admitted if t0 - 60.0 < t <= t0) <= 200


def test_weights_follow_the_venue_table():
    assert exchange_weight(1) == 1 and exchange_weight(79) == 2
    assert info_weight("l2Book") == 2 and info_weight("openOrders") == 20
    assert info_weight("userFills", 100) == 25


def test_chaos_schedule_round_trip_and_errors_name_the_field():
    s = ChaosSchedule(events=[{"kind": "quota_set", "at_s": 9, "remaining_requests": 5},
                              {"kind": "latency_spike", "at_s": 1, "duration_s": 2, "multiplier": 3}])
    assert [e.at_s for e in s.events] == [1, 9]
    assert ChaosSchedule.from_json(s.to_json()) == s
    with pytest.raises(ValidationError) as e:
        ChaosSchedule(events=[{"kind": "disconnect", "at_s": -1, "duration_s": 2}])
    assert "at_s" in str(e.value) and "-1" in str(e.value)
