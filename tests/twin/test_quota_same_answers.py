"""The quota's try_spend as it was before its cost was cut (the IP window swept on every request, the address cap
read through its property), kept here: the new ones must answer every request alike, over random sequences."""
from __future__ import annotations

import math
from collections import deque

from hypothesis import given, settings, strategies as st

from twin.faults.quota import AddressQuota, IpWeightLimiter, QuotaParams


class _OldIpWeightLimiter:
    WINDOW_S = 60.0

    def __init__(self, params: QuotaParams) -> None:
        self._limit = params.ip_weight_per_minute
        self._window: deque = deque()
        self._total = 0
        self._bursts: list = []
        self._burst_lo = math.inf
        self._burst_hi = -math.inf

    def add_429_burst(self, t0: float, t1: float) -> None:
        self._bursts.append((float(t0), float(t1)))
        self._burst_lo = min(self._burst_lo, float(t0))
        self._burst_hi = max(self._burst_hi, float(t1))

    def try_spend(self, weight: int, t: float) -> bool:
        if self._burst_lo <= t < self._burst_hi:
            for t0, t1 in self._bursts:
                if t0 <= t < t1:
                    return False
        w = self._window
        cutoff = t - self.WINDOW_S
        while w and w[0][0] <= cutoff:
            self._total -= w.popleft()[1]
        if self._total + weight > self._limit:
            return False
        w.append((t, weight))
        self._total += weight
        return True

    def used(self, t: float) -> int:
        return sum(wt for ts, wt in self._window if ts > t - self.WINDOW_S)


def _old_address_try_spend(q: AddressQuota, n: int, t: float, is_cancel: bool = False, action: str = "",
                           sent: float | None = None) -> bool:
    limit = q.cancel_cap if is_cancel else q.cap
    if q.used + n > limit and t - q._last_pass < q._interval:
        return False
    q._last_pass = t
    q.used += n
    if q.charges is not None:
        q.charges.append((t, n, action, q.used, q.cap, t if sent is None else sent))
    return True


# (gaps of 0 to 90 s: many within a window, some past it; weights 0 to 60, as info's largest fixed one)
_REQUESTS = st.lists(st.tuples(st.floats(0.0, 90.0), st.integers(0, 60)), max_size=120)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 300), _REQUESTS, st.lists(st.tuples(st.floats(0.0, 2000.0), st.floats(0.1, 100.0)),
                                                max_size=3))
def test_ip_limiter_answers_as_the_sweep_on_every_request(limit, requests, bursts):
    params = QuotaParams(ip_weight_per_minute=limit)
    new, old = IpWeightLimiter(params), _OldIpWeightLimiter(params)
    for t0, dur in bursts:
        new.add_429_burst(t0, t0 + dur)
        old.add_429_burst(t0, t0 + dur)
    t = 0.0
    for gap, weight in requests:
        t += gap
        ok = new.try_spend(weight, t)
        assert ok == old.try_spend(weight, t)
        assert new.used(t) == old.used(t)
        if ok:  # (what it keeps past the minute: no more than the minute before)
            assert all(ts > t - 120.0 for ts, _ in new._window)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 50), st.floats(0.5, 3.0), st.integers(0, 20),
       st.lists(st.tuples(st.floats(0.0, 15.0), st.integers(1, 8), st.booleans(), st.floats(0.0, 6.0)),
                max_size=80), st.booleans())
def test_address_quota_answers_as_through_the_cap_property(buffer, usd_per_req, extra, requests, keep):
    params = QuotaParams(initial_buffer=buffer, usd_per_request=usd_per_req, cancel_extra=extra,
                         slow_lane_interval_s=10.0)
    new, old = AddressQuota(params), AddressQuota(params)
    if keep:
        new.charges, old.charges = [], []
    t = 0.0
    for gap, n, is_cancel, traded in requests:
        t += gap
        assert new.try_spend(n, t, is_cancel, "order", t - 0.1) == _old_address_try_spend(old, n, t, is_cancel,
                                                                                            "order", t - 0.1)
        new.on_traded(traded)
        old.on_traded(traded)
        assert new.status() == old.status() and new.charges == old.charges
