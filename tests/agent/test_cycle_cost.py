"""The live run's histogram of the core's cost per quote cycle (the summary's ``core_cycle_us``)."""
from __future__ import annotations

import math

import numpy as np
from hypothesis import given, strategies as st

from agent.cycle_cost import CycleCost

LIMIT_US = 50


@given(st.lists(st.integers(0, 2 * LIMIT_US * 1000), min_size=1, max_size=300),
       st.sampled_from([0.1, 1.0, 50.0, 90.0, 99.0, 99.9, 100.0]))
def test_percentiles_are_the_nearest_rank_rounded_up_to_the_microsecond_never_past_the_slowest(ns, q):
    cost = CycleCost(limit_us=LIMIT_US)
    for x in ns:
        cost.add(x)
    exact = int(np.percentile(ns, q, method="inverted_cdf"))  # nearest rank: a value that was measured
    want = max(ns) / 1000.0 if exact // 1000 >= LIMIT_US else min(math.floor(exact / 1000) + 1.0, max(ns) / 1000.0)
    assert cost.percentiles((q,)) == [want]
    assert cost.n == len(ns) and cost.max_ns == max(ns)


def test_before_any_cycle_there_is_nothing_to_say():
    s = CycleCost().summary()
    assert s == {"cycles": 0, "p50": None, "p99": None, "p999": None, "max": None}


def test_a_summary_by_hand():
    cost = CycleCost()
    for us in [10] * 98 + [40, 250_000]:  # one cycle past the bins, counted apart
        cost.add(us * 1000 + 300)
    assert cost.summary() == {"cycles": 100, "p50": 11.0, "p99": 41.0, "p999": 250_000.3, "max": 250_000.3}


def test_the_slowest_cycles_percentiles_are_not_read_over_its_own_time():
    """A live run's summary said "p99 5000 µs, max 4999 µs": the p99's bin, rounded up, was the max's own."""
    cost = CycleCost()
    for ns in [460_000] * 79 + [4_999_452]:
        cost.add(ns)
    s = cost.summary()
    assert s["p99"] == s["p999"] == s["max"] == 4999.452 and s["p50"] == 461.0
