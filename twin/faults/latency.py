"""Latency per network path: a log-normal body, a spike mixture, random slow bursts and scripted spikes.

Three paths, as hftbacktest separates them: order entry (client -> venue), response (venue ->
client reply) and feed (venue -> client websocket pushes). ``sample(t)`` returns seconds.
"""
from __future__ import annotations

import math
from itertools import islice
from operator import length_hint

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from common.files import FileModel, over_shipped

# Random numbers are drawn in numpy blocks of this size and handed out one by one (hot path).
_BLOCK = 4096


class PathLatencyParams(FileModel):
    """One path's one-way latency.

    Defaults: live Hyperliquid REST round trips are typically 100-300 ms with occasional slow
    replies (hyperliquid.md §7, DESIGN §1), i.e. about 60 ms each way with a log-normal spread
    of sigma 0.35 (p99 of the body ~ 135 ms), plus 2% spikes around 400 ms, and about two slow
    periods per hour (congestion, block-time hiccups) that triple latency for ~20 s. Calibration
    refits all of these from live round trips.
    """

    median_ms: float = Field(60.0, ge=1e-9, le=3_600_000.0, description="Median of the log-normal body, ms.")
    sigma: float = Field(0.35, ge=0, le=10.0, description="Shape of the body: standard deviation of log latency.")
    spike_prob: float = Field(0.02, ge=0, le=1,
                              description="Share of samples drawn from the spike component instead of the body.")
    spike_median_ms: float = Field(400.0, ge=1e-9, le=3_600_000.0,
                                   description="Median of the log-normal spike component, ms.")
    spike_sigma: float = Field(0.5, ge=0, le=10.0, description="Shape of the spike component (std of log latency).")
    burst_rate_per_hour: float = Field(2.0, ge=0, le=1e6,
                                       description="Slow periods starting per hour of normal time (0 disables).")
    burst_mean_duration_s: float = Field(20.0, ge=0.001, le=86_400.0,
                                         description="Mean length of a slow period, s (exponential).")
    burst_multiplier: float = Field(3.0, ge=1, le=1000.0, description="Latency multiplier while a slow period lasts.")


# each path's shipped settings where they differ from PathLatencyParams' own: the feed has no request leg
SHIPPED_PATHS = {"order_entry": {}, "response": {}, "feed": {"median_ms": 40.0}}


class LatencyParams(FileModel):
    """Latency of the three network paths. A path a file gives in part keeps its shipped values for the keys it
    leaves out (the feed its 40 ms median)."""

    order_entry: PathLatencyParams = Field(default_factory=lambda: PathLatencyParams(**SHIPPED_PATHS["order_entry"]),
                                           description="Client -> venue (REST request, order entry).")
    response: PathLatencyParams = Field(default_factory=lambda: PathLatencyParams(**SHIPPED_PATHS["response"]),
                                        description="Venue -> client (the reply to a request).")
    feed: PathLatencyParams = Field(default_factory=lambda: PathLatencyParams(**SHIPPED_PATHS["feed"]),
                                    description="Venue -> client websocket pushes (no request leg); 40 ms median "
                                                "unless set, the others 60 ms.")

    @field_validator("order_entry", "response", "feed", mode="before")
    @classmethod
    def _path_over_shipped(cls, v: object, info: ValidationInfo) -> object:
        return over_shipped(SHIPPED_PATHS[info.field_name], v)


class PathLatency:
    """One path's latency in seconds.

    The random slow periods form an alternating renewal process (exponential normal spells at
    ``burst_rate_per_hour``, exponential slow spells of ``burst_mean_duration_s``), generated
    lazily as time advances; so ``t`` must not decrease between calls (the twin's clock never
    does). A time before the current spell is treated as normal.
    """

    __slots__ = ("_params", "_rng", "_buf", "_it", "_mu", "_sigma", "_p_spike", "_mu_spike", "_sigma_spike",
                 "_gap_mean_s", "_burst_mean_s", "_mult", "_b_start", "_b_end", "_spikes", "_spike_lo", "_spike_hi",
                 "_slow_from")

    def __init__(self, params: PathLatencyParams, rng: np.random.Generator) -> None:
        self._params = params
        self._rng = rng
        self._mu = math.log(params.median_ms / 1000.0)
        self._sigma = params.sigma
        self._p_spike = params.spike_prob
        self._mu_spike = math.log(params.spike_median_ms / 1000.0)
        self._sigma_spike = params.spike_sigma
        self._mult = params.burst_multiplier
        self._burst_mean_s = params.burst_mean_duration_s
        # the block of draws and the iterator over what is left of it (next() of a list's iterator: the buffer's
        # index, its test and its store in C, where they were 14 bytecodes a sample, for the socket feed's every push)
        self._buf: list[float] = []
        self._it = iter(self._buf)  # (spent: the first sample fills it)
        # current (or next) slow period [b_start, b_end); inf when bursts are off
        if params.burst_rate_per_hour > 0.0:
            self._gap_mean_s = 3600.0 / params.burst_rate_per_hour
            self._b_start = float(rng.exponential(self._gap_mean_s))
            self._b_end = self._b_start + float(rng.exponential(self._burst_mean_s))
        else:
            self._gap_mean_s = math.inf
            self._b_start = self._b_end = math.inf
        self._spikes: list[tuple[float, float, float, float]] = []  # (t0, t1, multiplier, extra_s), sorted by t0
        self._spike_lo = math.inf  # earliest t0 and latest t1 of any scripted spike: a cheap pre-check
        self._spike_hi = -math.inf
        # the earlier of the next slow period's start and the first scripted spike's: a sample before it (nearly every
        # one) tests neither, one compare where the two tests took two (set again wherever either moves)
        self._slow_from = min(self._b_start, self._spike_lo)

    def _refill(self) -> None:
        rng = self._rng
        if self._sigma > 0.0:
            x = rng.lognormal(self._mu, self._sigma, _BLOCK)
        else:
            x = np.full(_BLOCK, math.exp(self._mu))
        if self._p_spike > 0.0:
            spike = rng.random(_BLOCK) < self._p_spike
            k = int(spike.sum())
            x[spike] = rng.lognormal(self._mu_spike, self._sigma_spike, k) if self._sigma_spike > 0.0 \
                else math.exp(self._mu_spike)
        self._buf = x.tolist()
        self._it = iter(self._buf)

    def _advance_bursts(self, t: float) -> None:
        rng = self._rng
        while t >= self._b_end:
            self._b_start = self._b_end + float(rng.exponential(self._gap_mean_s))
            self._b_end = self._b_start + float(rng.exponential(self._burst_mean_s))
        self._slow_from = min(self._b_start, self._spike_lo)

    def in_burst(self, t: float) -> bool:
        """Whether a random slow period covers ``t`` (advances the lazy process to ``t``)."""
        if t >= self._b_end:
            self._advance_bursts(t)
        return self._b_start <= t

    def quiet_draws(self, n: int) -> np.ndarray:
        """``n`` draws in seconds, as ``n`` calls of ``sample`` at a time outside every slow period and scripted spike
        give them (the same stream, in its order): calibration draws its fitted legs in bulk, a Python call each
        having cost more than the draws."""
        out = np.empty(n)
        k = 0
        while k < n:
            left = length_hint(self._it)  # (a list iterator's: the draws left in the block, 0 once spent)
            if not left:
                self._refill()
                left = _BLOCK
            take = min(n - k, left)
            out[k:k + take] = list(islice(self._it, take))
            k += take
        return out

    def sample(self, t: float) -> float:
        """One latency draw in seconds for a message leaving at simulated time ``t``. (The common return inside the
        try: the jump past its handler saved. The iterator's bound ``__next__``, kept, would be one bytecode fewer
        still but some 200 instructions more a draw under cachegrind: a method-wrapper's call, not next()'s.)"""
        try:
            x = next(self._it)
            if t < self._slow_from:  # (before the next slow period's start and any scripted spike's: nearly always)
                return x
        except StopIteration:  # (the block spent: the next, as the first sample's)
            self._refill()
            x = next(self._it)
        if t >= self._slow_from:  # (at or after a slow period's start or a scripted spike's: the two tests)
            if t >= self._b_start:
                if t >= self._b_end:
                    self._advance_bursts(t)
                if t >= self._b_start:
                    x *= self._mult
            if t >= self._spike_lo and t < self._spike_hi:  # (two compares: the chained form costs twice the bytecodes)
                for t0, t1, mult, extra in self._spikes:
                    if t0 > t:
                        break
                    if t < t1:
                        x = x * mult + extra
        return x

    def sibling(self) -> "PathLatency":
        """The same path for another socket: its parameters and scripted spikes, its own draws and slow periods, from
        a child of this path's stream (spawning draws nothing from it, so this path's own draws stay as they were)."""
        other = PathLatency(self._params, self._rng.spawn(1)[0])
        other._spikes = list(self._spikes)
        other._spike_lo, other._spike_hi = self._spike_lo, self._spike_hi
        other._slow_from = min(other._b_start, other._spike_lo)
        return other

    def add_spike(self, t0: float, t1: float, multiplier: float = 1.0, extra_ms: float = 0.0) -> None:
        """A scripted slow period: samples at ``t`` in [t0, t1) become ``x * multiplier + extra_ms / 1000``
        (overlapping spikes compose in start order)."""
        if not t1 > t0:
            raise ValueError(f"latency spike needs t1 > t0, got t0={t0}, t1={t1}")
        self._spikes.append((float(t0), float(t1), float(multiplier), extra_ms / 1000.0))
        self._spikes.sort(key=lambda s: s[0])
        self._spike_lo = min(self._spike_lo, t0)
        self._spike_hi = max(self._spike_hi, t1)
        self._slow_from = min(self._b_start, self._spike_lo)


class LatencyModel:
    """The three paths, each with its own random stream (children of ``rng``); each websocket its own feed stream
    (``socket_feed``)."""

    __slots__ = ("order_entry", "response", "feed", "_sockets")

    def __init__(self, params: LatencyParams, rng: np.random.Generator) -> None:
        a, b, c = rng.spawn(3)
        self.order_entry = PathLatency(params.order_entry, a)
        self.response = PathLatency(params.response, b)
        self.feed = PathLatency(params.feed, c)
        self._sockets = 0

    def socket_feed(self) -> PathLatency:
        """The feed latency of the next websocket opened: the first draws from ``feed`` itself, each later one from
        its own ``feed.sibling()``. From one stream, every push to one socket took a draw from another's, so a
        socket opened beside the agent's (a monitor, a second client of ``twin serve``) moved when every push of
        the agent's arrived, and the agent's decisions with them. Its slow periods are its own too (scripted
        spikes, set before any socket opens, are every socket's)."""
        self._sockets += 1
        return self.feed if self._sockets == 1 else self.feed.sibling()
