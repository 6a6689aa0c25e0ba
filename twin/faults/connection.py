"""Websocket disconnects: a hazard rate per connected hour and log-normal outage lengths.

Messages during an outage are lost (the venue does not replay; resubscribing brings a fresh
snapshot), and REST requests made during one may fail too (hyperliquid.md §7).
"""
from __future__ import annotations

import bisect
import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class ConnectionParams(BaseModel):
    """Disconnects of one websocket.

    Defaults: live sockets drop silently every day or two and on venue restarts (hyperliquid.md
    §7); 0.5 per hour is deliberately pessimistic so runs of a few hours see several. Reconnects
    take a few seconds (median 3 s, long tail).
    """

    model_config = ConfigDict(extra="forbid")

    hazard_per_hour: float = Field(0.5, ge=0, description="Disconnects per connected hour (Poisson; 0 disables).")
    outage_median_s: float = Field(3.0, gt=0, description="Median outage length until the socket is back, s.")
    outage_sigma: float = Field(0.8, ge=0, description="Log-normal shape (std of log length) of outage lengths.")
    rest_fails_during_outage: float = Field(0.5, ge=0, le=1,
                                            description="Chance a REST request fails while its socket is down "
                                                        "(a network outage hits both).")


class ConnectionModel:
    """Down intervals of one connection: random ones generated lazily in time order, merged with
    scripted ones (``add_outage``). Intervals are half-open [start, end): down at start, up at end."""

    __slots__ = ("_rng", "_rate", "_mu", "_sigma", "_starts", "_ends", "_next_start")

    def __init__(self, params: ConnectionParams, rng: np.random.Generator) -> None:
        self._rng = rng
        self._rate = params.hazard_per_hour / 3600.0
        self._mu = math.log(params.outage_median_s)
        self._sigma = params.outage_sigma
        self._starts: list[float] = []  # disjoint, sorted, non-touching
        self._ends: list[float] = []
        # start of the next random outage not yet merged in; the time up to it is connected time
        self._next_start = float(rng.exponential(1.0 / self._rate)) if self._rate > 0.0 else math.inf

    def _extend(self, t: float) -> None:
        """Merge in every random outage that starts at or before ``t``."""
        while self._next_start <= t:
            start = self._next_start
            dur = float(self._rng.lognormal(self._mu, self._sigma)) if self._sigma > 0.0 else math.exp(self._mu)
            self._insert(start, start + dur)
            self._next_start = start + dur + float(self._rng.exponential(1.0 / self._rate))

    def _insert(self, t0: float, t1: float) -> None:
        s, e = self._starts, self._ends
        i = bisect.bisect_left(s, t0)
        if i > 0 and e[i - 1] >= t0:  # overlaps or touches the previous interval
            i -= 1
            t0 = s[i]
            t1 = max(t1, e[i])
        j = i
        while j < len(s) and s[j] <= t1:  # swallow the following ones it reaches
            t1 = max(t1, e[j])
            j += 1
        s[i:j] = [t0]
        e[i:j] = [t1]

    def add_outage(self, t0: float, duration_s: float) -> None:
        """Scripted: down during [t0, t0 + duration_s)."""
        if duration_s > 0.0:
            self._insert(float(t0), float(t0) + float(duration_s))

    def _find(self, t: float) -> int:
        """Index of the interval whose start is the last at or before ``t`` (-1 if none)."""
        return bisect.bisect_right(self._starts, t) - 1

    def is_down(self, t: float) -> bool:
        self._extend(t)
        i = self._find(t)
        return i >= 0 and t < self._ends[i]

    def next_change(self, t: float) -> float:
        """The first time after ``t`` at which the connection goes down or comes back (inf if never)."""
        self._extend(t)
        i = self._find(t)
        if i >= 0 and t < self._ends[i]:
            end = self._ends[i]
            while self._next_start <= end:  # a random outage may start before this one ends
                self._extend(end)
                end = self._ends[self._find(t)]
            return end
        nxt = self._starts[i + 1] if i + 1 < len(self._starts) else math.inf
        return min(nxt, self._next_start)

    def outages_until(self, t: float) -> list[tuple[float, float]]:
        """The (merged) down intervals that start before ``t``."""
        self._extend(t)
        n = bisect.bisect_left(self._starts, t)
        return list(zip(self._starts[:n], self._ends[:n]))
