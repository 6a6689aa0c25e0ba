"""Websocket disconnects: a hazard rate per connection and log-normal outage durations.

Messages during an outage are lost (the venue does not replay them; resubscribing gets a
fresh snapshot), and REST requests made during one may fail too.
"""
from __future__ import annotations

import bisect
import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class ConnectionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hazard_per_hour: float = Field(0.5, ge=0, description="Disconnects per connected hour (Poisson).")
    outage_median_s: float = Field(3.0, gt=0, description="Median outage length before the socket is back, s.")
    outage_sigma: float = Field(0.8, ge=0, description="Log-normal shape of outage lengths.")
    rest_fails_during_outage: float = Field(0.5, ge=0, le=1,
                                            description="Chance a REST request fails while the socket is down.")


class ConnectionModel:
    """Outage intervals, generated lazily in time order and merged with scripted ones."""

    __slots__ = ("p", "rng", "_starts", "_ends", "_horizon", "_chaos")

    def __init__(self, params: ConnectionParams, rng: np.random.Generator) -> None:
        self.p = params
        self.rng = rng
        self._starts: list[float] = []
        self._ends: list[float] = []
        self._horizon = 0.0  # random outages are generated up to here
        self._chaos: list[tuple[float, float]] = []

    def _extend(self, t: float) -> None:
        rate = self.p.hazard_per_hour / 3600.0
        if rate <= 0.0:
            self._horizon = math.inf
            return
        while self._horizon <= t:
            start = self._horizon + float(self.rng.exponential(1.0 / rate))
            dur = float(self.rng.lognormal(math.log(self.p.outage_median_s), self.p.outage_sigma))
            self._insert(start, start + dur)
            self._horizon = start + dur

    def _insert(self, t0: float, t1: float) -> None:
        i = bisect.bisect_left(self._starts, t0)
        self._starts.insert(i, t0)
        self._ends.insert(i, t1)
        # merge overlaps so intervals stay disjoint and sorted
        s, e = self._starts, self._ends
        k = 0
        while k < len(s) - 1:
            if s[k + 1] <= e[k]:
                e[k] = max(e[k], e[k + 1])
                del s[k + 1], e[k + 1]
            else:
                k += 1

    def add_outage(self, t0: float, duration_s: float) -> None:
        self._insert(t0, t0 + duration_s)

    def is_down(self, t: float) -> bool:
        self._extend(t)
        i = bisect.bisect_right(self._starts, t) - 1
        return i >= 0 and t < self._ends[i]

    def next_change(self, t: float) -> float:
        """The first time after ``t`` at which up/down changes (inf if it never will)."""
        self._extend(t)
        i = bisect.bisect_right(self._starts, t) - 1
        if i >= 0 and t < self._ends[i]:
            return self._ends[i]
        if i + 1 < len(self._starts):
            return self._starts[i + 1]
        if math.isinf(self._horizon):
            return math.inf
        self._extend(self._horizon)
        return self.next_change(t)

    def outages_until(self, t: float) -> list[tuple[float, float]]:
        self._extend(t)
        return [(a, b) for a, b in zip(self._starts, self._ends) if a < t]
