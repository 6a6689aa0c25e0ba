"""What a quote cycle costs the agent core in a live run, as the operator's machine measures it.

The benches time the core beside the twin, in one process; a live run is the shape the agent trades
in (the venue a network away, the gateway's I/O between cycles), and the only place its real cost on
the operator's machine can be read. A live run is days long, so the cycles are counted into 1 µs bins
(fixed memory, a constant-time add) rather than kept: percentiles to the microsecond, rounded up.
"""
from __future__ import annotations

import numpy as np


class CycleCost:
    """A histogram of cycle times, in 1 µs bins up to ``limit_us``; slower cycles are counted in ``n`` only."""

    __slots__ = ("_bins", "_limit", "n", "max_ns")

    def __init__(self, limit_us: int = 100_000) -> None:
        self._bins = [0] * limit_us
        self._limit = limit_us
        self.n = 0  # slower cycles than the bins hold are in n, not the bins: their percentiles read as the slowest
        self.max_ns = 0

    def add(self, ns: int) -> None:
        us = ns // 1000
        if us < self._limit:
            self._bins[us] += 1
        self.n += 1
        if ns > self.max_ns:
            self.max_ns = ns

    def summary(self) -> dict:
        """``cycles``, ``p50``, ``p99``, ``p999`` and ``max``, µs (the live summary's ``core_cycle_us``)."""
        p50, p99, p999 = self.percentiles((50.0, 99.0, 99.9))
        return {"cycles": self.n, "p50": p50, "p99": p99, "p999": p999,
                "max": self.max_ns / 1000.0 if self.n else None}

    def percentiles(self, qs: tuple[float, ...]) -> list[float | None]:
        """Each nearest-rank ``q``-th percentile, µs, rounded up to the microsecond (None before any cycle):
        the smallest whole number of µs that at least ``q`` per cent of the cycles took no more than, or the
        slowest cycle's exact time when that is less (a p99 read over the max it sits beside was a rounding)."""
        if not self.n:
            return [None] * len(qs)
        # read on the event loop at each checkpoint: only the bins up to the slowest cycle are summed
        top = min(self._limit, self.max_ns // 1000 + 1)
        cum = np.cumsum(np.array(self._bins[:top], dtype=np.int64))
        out: list[float | None] = []
        for q in qs:
            rank = max(1, int(np.ceil(q / 100.0 * self.n - 1e-9)))
            i = int(np.searchsorted(cum, rank))
            # past the bins: among the slow ones counted apart, whose only bound is the slowest
            out.append(self.max_ns / 1000.0 if i >= top else min(float(i + 1), self.max_ns / 1000.0))
        return out
