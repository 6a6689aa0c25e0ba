"""Over a long twin run, what a client observes matches TwinParams within stated bounds.

The model-level tests check each fault model alone; these check them as wired into the exchange:
round-trip latency of actions, stochastic rejection rates, 429 counts under a known load, and
websocket disconnect counts.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from twin.exchange import Exchange
from twin.faults.connection import ConnectionParams
from twin.faults.latency import LatencyParams, PathLatencyParams
from twin.faults.quota import QuotaParams
from twin.faults.rejections import RejectionParams
from twin.messages import ActionOk, HttpError, NoopAction, OrderAction, OrderSpec, StatusError
from twin.params import TwinParams

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
