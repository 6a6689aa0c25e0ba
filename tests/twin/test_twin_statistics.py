"""Over a long twin run, what a client observes matches TwinParams within stated bounds.

The model-level tests check each fault model alone; these check them as wired into the exchange:
round-trip latency of actions, stochastic rejection rates, 429 counts under a known load, and
websocket disconnect counts.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from twin.exchange import Exchange
from twin.faults.connection import ConnectionParams
from twin.faults.latency import LatencyParams, PathLatencyParams
from twin.faults.quota import QuotaParams
from twin.faults.rejections import RejectionParams
from twin.messages import ActionOk, HttpError, NoopAction, OrderAction, OrderSpec, StatusError
from twin.market.synthetic import SyntheticMarketParams
from twin.params import TwinParams
from twin.probe import ProbeClient

USER = "0x" + "5e" * 20


def test_round_trip_latency_matches_the_paths():
    lat = PathLatencyParams(median_ms=50.0, sigma=0.4, spike_prob=0.05, spike_median_ms=300.0,
                            burst_rate_per_hour=0.0)
    params = TwinParams(latency=LatencyParams(order_entry=lat, response=lat, feed=lat), markets={})
    ex = Exchange.build(params, 11)
    ex.fund(USER, 1000.0)
    rtts = []

    def client():
        for _ in range(6000):
            t0 = ex.env.now
            ex.submit(USER, NoopAction(), lambda r, t0=t0: rtts.append(ex.env.now - t0))
            yield ex.env.timeout(0.1)  # 600 weight/min: under the IP limit
    ex.env.process(client())
    ex.env.run(until=700.0)
    assert len(rtts) == 6000
    # the sum of two independent draws of the same mixture, by Monte Carlo from an independent sampler
    rng = np.random.default_rng(0)

    def draw(n):
        body = rng.lognormal(np.log(0.05), 0.4, n)
        spike = rng.lognormal(np.log(0.3), 0.5, n)
        return np.where(rng.random(n) < 0.05, spike, body)
    mc = draw(400_000) + draw(400_000)
    for q in (0.5, 0.9, 0.99):
        assert abs(np.quantile(rtts, q) / np.quantile(mc, q) - 1) < 0.08, q
    assert stats.ks_2samp(rtts, mc[:20000]).pvalue > 0.001


def test_rejection_rate_and_429_counts():
    params = TwinParams(rejections=RejectionParams(rates={"Oracle": 0.1}),
                        quota=QuotaParams(ip_weight_per_minute=300))
    ex = Exchange.build(params, 12)
    ex.fund(USER, 1e6)
    replies = []

    def client():
        yield ex.env.timeout(1.0)
        for _ in range(3000):
            px = ex.best_bid["BTC"] - 50.0
            ex.submit(USER, OrderAction((OrderSpec("BTC", True, px, 0.001),)), replies.append)
            yield ex.env.timeout(0.1)  # 10 actions/s = 600 weight/min against a 300/min limit
    ex.env.process(client())
    ex.env.run(until=320.0)
    n429 = sum(isinstance(r, HttpError) and r.status == 429 for r in replies)
    ok = [r for r in replies if isinstance(r, ActionOk)]
    # a rolling 60 s window admits 300 per 60 s: over 300 s of load, 5 windows' worth pass (± one window edge)
    assert 1400 <= len(ok) <= 1600 and n429 == 3000 - len(ok)
    rejected = sum(isinstance(r.statuses[0], StatusError) and "oracle" in r.statuses[0].error for r in ok)
    lo, hi = stats.binom.interval(0.999, len(ok), 0.1)
    assert lo <= rejected <= hi


def test_disconnect_counts_match_the_hazard():
    params = TwinParams(connection=ConnectionParams(hazard_per_hour=6.0, outage_median_s=2.0), markets={})
    ex = Exchange.build(params, 13)
    events = []
    conns = [ex.connect(events.append) for _ in range(5)]
    hours = 40.0
    ex.env.run(until=hours * 3600.0)
    drops = sum(c.outages for c in conns)
    lo, hi = stats.poisson.interval(0.999, 6.0 * hours * 5)
    assert lo <= drops <= hi
    assert sum(1 for e in events if not e.up) == drops


@pytest.mark.parametrize("offset_ticks", [0, 5])
def test_a_fixed_spread_makers_fills_are_the_mid_stepping_through_its_quotes(offset_ticks):
    """README (Graduation, why the fills lose): with no informed flow, a maker quoting a fixed spread around the touch
    is filled almost only when the mid's step on its grid passes its quote (a fill at a book event, on the grid), at
    the quote's price with the mid already past it: on average by the overshoot of a Gaussian walk past a level,
    0.58 of a step's std σ·√Δt (ζ(1/2)/√(2π)), whatever the quote's distance. The market's uninformed prints reach
    $0.5 past the mid on average (depth_decay_per_usd 2) and seldom reach a quote. If the market model changes this
    (a finer grid, a deeper reach), the README's account of why the agent's fills lose must change with it."""
    mp = SyntheticMarketParams(informed_share=0.0, calm_to_stressed_per_s=0.0, jump_rate_calm_per_s=0.0)
    ex = Exchange.build(TwinParams(markets={"BTC": mp}), 3, record=True)
    path_t, path_mid = [], []
    market = ex.markets["BTC"]
    chunk_of = market.next_chunk

    def recorded():  # the latent mid, which no client sees
        ch = chunk_of()
        path_t.append(ch.t)
        path_mid.append(ch.mid)
        return ch
    market.next_chunk = recorded
    probe = ProbeClient(ex, USER, interval_s=0.5, offset_ticks=offset_ticks)
    ex.env.run(until=600.0)
    t_all, mid_all = np.concatenate(path_t), np.concatenate(path_mid)
    fills = [row for row in ex.log if row[1] == "fill" and row[2] == probe.user]
    sides = {o: f.side for f in ex.fills[probe.user] for o in [f.oid]}
    t = np.array([row[0] for row in fills])
    px = np.array([row[4] for row in fills])
    side = np.array([1.0 if sides[row[3]] == "B" else -1.0 for row in fills])
    assert len(fills) > 300
    dt = mp.book_interval_s
    on_grid = np.abs(t / dt - np.round(t / dt)) < 1e-6
    assert on_grid.mean() > 0.95  # book events, not the market's prints (uniform in time)
    # the mid the fill's own event set (the log rounds times to 1e-9 s, under the event's own on a grid point)
    mid = mid_all[np.searchsorted(t_all, t + 1e-7, side="right") - 1]
    overshoot = side * (px - mid) / (mp.vol_calm_per_sqrt_s * np.sqrt(dt) * mid)
    assert 0.5 < overshoot[on_grid].mean() < 0.7, overshoot[on_grid].mean()
