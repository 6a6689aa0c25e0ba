"""Websocket disconnects: a hazard rate per connected hour and log-normal outage lengths.

Messages during an outage are lost (the venue does not replay; resubscribing brings a fresh
snapshot), and REST requests made during one may fail too (hyperliquid.md §7).
"""
from __future__ import annotations

import bisect
import math

import numpy as np
from pydantic import Field

from common.files import FileModel


class ConnectionParams(FileModel):
    """Disconnects of one websocket.

    Defaults: live sockets drop silently every day or two and on venue restarts (hyperliquid.md
    §7); 0.5 per hour is deliberately pessimistic so runs of a few hours see several. Reconnects
    take a few seconds (median 3 s, long tail).
    """

    hazard_per_hour: float = Field(0.5, ge=0, le=1e4,
                                   description="Disconnects per connected hour (Poisson; 0 disables).")
    outage_median_s: float = Field(3.0, ge=0.001, le=86_400.0,
                                   description="Median outage length until the socket is back, s.")
    outage_sigma: float = Field(0.8, ge=0, le=10.0,
                                description="Log-normal shape (std of log length) of outage lengths.")
    rest_fails_during_outage: float = Field(0.5, ge=0, le=1,
                                            description="Chance a REST request fails while its socket is down "
                                                        "(a network outage hits both).")
    silent_drops: bool = Field(False, description=(
        "Served (twin serve): a drop sends no close frame and nothing more on the socket (pushes, pongs, post "
        "replies, ping frames' pongs all lost) and leaves it open, as a venue socket can die (hyperliquid.md §7): "
        "the client must notice the silence itself, then reconnect (refused until the outage ends). Off: the "
        "twin closes the socket at once. In-process (TwinGateway) a drop is told at once either way."))


class ConnectionModel:
    """Down intervals of one connection: random ones generated lazily in time order, merged with
    scripted ones (``add_outage``). Intervals are half-open [start, end): down at start, up at end."""

    __slots__ = ("_rng", "_rate", "_mu", "_sigma", "_starts", "_ends", "_next_start", "_k", "_k_t")

    def __init__(self, params: ConnectionParams, rng: np.random.Generator, start_s: float = 0.0) -> None:
        """``start_s``: when the connection opens (sim s); its first random outage comes a hazard's draw after it.
        From 0 instead, a socket ``twin serve`` opened later (each reconnect is a new one) had its outages played
        from 0 up to its opening, and opened inside one as often as the path is down (17% at 150 per hour of median
        4 s): it dropped at once, and the served twin dropped 10-20% more often than its hazard."""
        self._rng = rng
        self._rate = params.hazard_per_hour / 3600.0
        self._mu = math.log(params.outage_median_s)
        self._sigma = params.outage_sigma
        self._starts: list[float] = []  # disjoint, sorted, non-touching
        self._ends: list[float] = []
        # start of the next random outage not yet merged in; the time up to it is connected time
        self._next_start = start_s + float(rng.exponential(1.0 / self._rate)) if self._rate > 0.0 else math.inf
        # cursor: _k is the first interval ending after _k_t, the last time asked about; a query at a
        # later time walks it forward (amortised O(1)); an earlier time or a change of the intervals
        # (_k_t = inf) falls back to a binary search
        self._k = 0
        self._k_t = math.inf

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
        self._k_t = math.inf

    def add_outage(self, t0: float, duration_s: float) -> None:
        """Scripted: down during [t0, t0 + duration_s)."""
        if duration_s > 0.0:
            self._insert(float(t0), float(t0) + float(duration_s))

    def _locate(self, t: float) -> int:
        """Index of the first interval that ends after ``t`` (len if none): ``t`` is down iff it has
        started by ``t``. Call after ``_extend(t)``."""
        ends = self._ends
        if t < self._k_t:
            k = bisect.bisect_right(ends, t)
        else:
            k = self._k
            n = len(ends)
            while k < n and ends[k] <= t:
                k += 1
        self._k = k
        self._k_t = t
        return k

    def is_down(self, t: float) -> bool:
        if self._next_start <= t:
            self._extend(t)
        k = self._locate(t)
        return k < len(self._starts) and self._starts[k] <= t

    def next_change(self, t: float) -> float:
        """The first time after ``t`` at which the connection goes down or comes back (inf if never)."""
        if self._next_start <= t:
            self._extend(t)
        k = self._locate(t)
        if k < len(self._starts) and self._starts[k] <= t:  # down: up again when this outage ends ...
            end = self._ends[k]
            while self._next_start <= end:  # ... unless a random outage starts before that and extends it
                self._extend(end)
                end = self._ends[self._locate(t)]
            return end
        nxt = self._starts[k] if k < len(self._starts) else math.inf
        return min(nxt, self._next_start)

    def outages_until(self, t: float) -> list[tuple[float, float]]:
        """The (merged) down intervals that start before ``t``."""
        self._extend(t)
        n = bisect.bisect_left(self._starts, t)
        return list(zip(self._starts[:n], self._ends[:n]))
