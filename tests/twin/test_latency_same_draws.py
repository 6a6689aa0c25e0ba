"""PathLatency.sample as it was before its cost was cut (the slow tests after the try, not its common return in it),
kept here: the new one must give every draw alike, over random streams, slow periods and scripted spikes, across
the blocks' ends (a block of 7 draws here, where the twin's holds 4096)."""
from __future__ import annotations

from unittest import mock

import numpy as np
from hypothesis import given, settings, strategies as st

import twin.faults.latency as latency
from twin.faults.latency import PathLatency, PathLatencyParams


def _old_sample(p: PathLatency, t: float) -> float:
    try:
        x = next(p._it)
    except StopIteration:
        p._refill()
        x = next(p._it)
    if t >= p._slow_from:
        if t >= p._b_start:
            if t >= p._b_end:
                p._advance_bursts(t)
            if t >= p._b_start:
                x *= p._mult
        if t >= p._spike_lo and t < p._spike_hi:
            for t0, t1, mult, extra in p._spikes:
                if t0 > t:
                    break
                if t < t1:
                    x = x * mult + extra
    return x


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.0, 60.0, 3600.0]), st.floats(0.5, 30.0),
       st.lists(st.tuples(st.floats(0.0, 100.0), st.floats(0.1, 20.0), st.floats(1.0, 5.0), st.floats(0.0, 50.0)),
                max_size=3),
       st.lists(st.one_of(st.floats(0.0, 3.0), st.integers(0, 2)), min_size=1, max_size=60), st.booleans())
def test_sample_draws_as_before(seed, bursts_per_hour, burst_s, spikes, steps, quiet_first):
    params = PathLatencyParams(burst_rate_per_hour=bursts_per_hour, burst_mean_duration_s=burst_s)
    with mock.patch.object(latency, "_BLOCK", 7):  # (the block's end reached every seventh draw)
        new = PathLatency(params, np.random.default_rng(seed))
        old = PathLatency(params, np.random.default_rng(seed))
        for t0, dur, mult, extra_ms in spikes:
            new.add_spike(t0, t0 + dur, mult, extra_ms)
            old.add_spike(t0, t0 + dur, mult, extra_ms)
        if quiet_first:
            assert new.quiet_draws(3).tolist() == old.quiet_draws(3).tolist()
        # (a step is a gap in seconds, or an index: the time set to a spike's start or end, or a slow period's, as
        # the slow tests' edges; never back)
        t = 0.0
        for step in steps:
            if isinstance(step, float):
                t += step
            else:
                edges = [e for s in spikes for e in (s[0], s[0] + s[1])] + [old._b_start, old._b_end]
                edges = [e for e in edges if e < 1e6]  # (no slow period at all: its start is inf)
                t = max(t, sorted(edges)[step % len(edges)]) if edges else t
            assert new.sample(t) == _old_sample(old, t)
        assert new.quiet_draws(5).tolist() == old.quiet_draws(5).tolist()
