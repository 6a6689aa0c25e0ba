"""Latency per network path: a log-normal body, a spike mixture, bursts, and scripted spikes.

Three paths, as hftbacktest separates them: order entry (client → venue), response
(venue → client, for the reply to a request) and feed (venue → client websocket pushes).
Defaults: live Hyperliquid round trips of 100-300 ms with occasional spikes (DESIGN §1), so
each one-way path has a median near 60 ms (feed 40 ms) and 2% spikes around 400 ms.
"""
from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

_BLOCK = 4096


class PathLatencyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    median_ms: float = Field(60.0, gt=0, description="Median of the log-normal body, ms.")
    sigma: float = Field(0.35, ge=0, description="Log-normal shape (std of log latency) of the body.")
    spike_prob: float = Field(0.02, ge=0, le=1, description="Share of samples drawn from the spike component.")
    spike_median_ms: float = Field(400.0, gt=0, description="Median of the spike component, ms.")
    spike_sigma: float = Field(0.5, ge=0, description="Log-normal shape of the spike component.")
    burst_rate_per_hour: float = Field(2.0, ge=0, description="Slow periods starting per hour (correlated latency).")
    burst_mean_duration_s: float = Field(20.0, gt=0, description="Mean length of a slow period, s (exponential).")
    burst_multiplier: float = Field(3.0, ge=1, description="Latency multiplier during a slow period.")


def _path(median_ms: float) -> PathLatencyParams:
    return PathLatencyParams(median_ms=median_ms)


class LatencyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_entry: PathLatencyParams = Field(default_factory=lambda: _path(60.0), description="Client → venue.")
    response: PathLatencyParams = Field(default_factory=lambda: _path(60.0), description="Venue → client reply.")
    feed: PathLatencyParams = Field(default_factory=lambda: _path(40.0), description="Venue → client websocket.")


class PathLatency:
    """One path's latency in seconds. ``sample(t)`` must be called with non-decreasing ``t``
    for the burst process (the twin's clock only moves forward)."""

    __slots__ = ("p", "rng", "_buf", "_i", "_burst_start", "_burst_end", "_spikes", "_mu", "_s", "_pspike",
                 "_mu_s", "_s_s", "_mult", "_brate", "_bdur")

    def __init__(self, params: PathLatencyParams, rng: np.random.Generator) -> None:
        self.p = params
        self.rng = rng
        self._mu = math.log(params.median_ms / 1000.0)
        self._s = params.sigma
        self._pspike = params.spike_prob
        self._mu_s = math.log(params.spike_median_ms / 1000.0)
        self._s_s = params.spike_sigma
        self._mult = params.burst_multiplier
        self._brate = params.burst_rate_per_hour / 3600.0
        self._bdur = params.burst_mean_duration_s
        self._buf: list[float] = []
        self._i = 0
        self._spikes: list[tuple[float, float, float, float]] = []  # (t0, t1, multiplier, extra_s)
        self._burst_start = math.inf
        self._burst_end = -math.inf
        if self._brate > 0:
            self._burst_start = float(rng.exponential(1.0 / self._brate))
            self._burst_end = self._burst_start + float(rng.exponential(self._bdur))

    def _refill(self) -> None:
        rng = self.rng
        body = rng.lognormal(self._mu, self._s, _BLOCK) if self._s > 0 else np.full(_BLOCK, math.exp(self._mu))
        if self._pspike > 0:
            spike = rng.random(_BLOCK) < self._pspike
            body[spike] = rng.lognormal(self._mu_s, self._s_s, int(spike.sum()))
        self._buf = body.tolist()
        self._i = 0

    def in_burst(self, t: float) -> bool:
        while t >= self._burst_end:  # move to the burst that ends after t
            self._burst_start = self._burst_end + float(self.rng.exponential(1.0 / self._brate))
            self._burst_end = self._burst_start + float(self.rng.exponential(self._bdur))
        return t >= self._burst_start

    def sample(self, t: float) -> float:
        if self._i >= len(self._buf):
            self._refill()
        x = self._buf[self._i]
        self._i += 1
        if self._brate > 0 and t >= self._burst_start and self.in_burst(t):
            x *= self._mult
        if self._spikes:
            for t0, t1, mult, extra in self._spikes:
                if t0 <= t < t1:
                    x = x * mult + extra
        return x

    def add_spike(self, t0: float, t1: float, multiplier: float = 1.0, extra_ms: float = 0.0) -> None:
        """A scripted slow period (chaos): samples in [t0, t1) become ``x * multiplier + extra``."""
        self._spikes.append((t0, t1, multiplier, extra_ms / 1000.0))


class LatencyModel:
    """The three paths, each with its own random stream."""

    __slots__ = ("order_entry", "response", "feed")

    def __init__(self, params: LatencyParams, rng: np.random.Generator) -> None:
        a, b, c = rng.spawn(3)
        self.order_entry = PathLatency(params.order_entry, a)
        self.response = PathLatency(params.response, b)
        self.feed = PathLatency(params.feed, c)
