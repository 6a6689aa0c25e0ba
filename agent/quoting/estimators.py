"""Online estimators from the feed: volatility, and the arrival parameters A and k.

Both are O(1) per update and read no clock: the event's ``ts`` drives them.
- Volatility: EWMA of squared log returns of the mid sampled on a fixed grid (the last mid at
  or before each grid point), so irregular book updates do not bias it.
- Arrivals: each trade's reach δ = |px − mid|; exponentially decayed counts of trades that
  reached at least each depth of a grid, divided by the decayed elapsed time, give λ(δ_i);
  a weighted least-squares fit of ln λ(δ_i) = ln A − k·δ_i gives A and k. Both sides are
  counted and λ halved, so A is per side, as GLFT wants.
"""
from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field


class EstimatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vol_sample_interval_s: float = Field(1.0, gt=0, description="Grid of mid samples for the volatility, s.")
    vol_halflife_s: float = Field(300.0, gt=0, description="EWMA half-life of squared returns, s.")
    vol_min_samples: int = Field(30, ge=1, description="Grid samples before the estimate is used.")
    arrival_halflife_s: float = Field(600.0, gt=0, description="Half-life of the decayed trade counts, s.")
    arrival_max_depth: float = Field(3.0, gt=0, description="Deepest grid depth, price units.")
    arrival_grid_points: int = Field(10, ge=3, description="Depth grid points.")
    arrival_min_trades: int = Field(200, ge=10, description="Trades before a fit is attempted.")


class VolatilityEstimator:
    __slots__ = ("dt", "decay", "min_n", "next_t", "last_mid", "prev_sample", "sum_sq", "weight", "n")

    def __init__(self, cfg: EstimatorConfig) -> None:
        self.dt = cfg.vol_sample_interval_s
        self.decay = 0.5 ** (cfg.vol_sample_interval_s / cfg.vol_halflife_s)
        self.min_n = cfg.vol_min_samples
        self.next_t = -math.inf
        self.last_mid = math.nan
        self.prev_sample = math.nan
        self.sum_sq = 0.0  # decayed Σ r² and Σ 1: their ratio is an unbiased EWMA from the first sample
        self.weight = 0.0
        self.n = 0

    def update(self, ts: float, mid: float) -> None:
        if ts >= self.next_t:
            if self.next_t == -math.inf:
                self.next_t = ts
            # every grid point passed since the last update sees the last mid before it
            while ts >= self.next_t:
                sample = self.last_mid if self.last_mid == self.last_mid else mid
                if self.prev_sample == self.prev_sample and sample > 0:
                    r = math.log(sample / self.prev_sample)
                    self.sum_sq = self.decay * self.sum_sq + r * r
                    self.weight = self.decay * self.weight + 1.0
                    self.n += 1
                self.prev_sample = sample
                self.next_t += self.dt
        self.last_mid = mid

    @property
    def ready(self) -> bool:
        return self.n >= self.min_n

    @property
    def sigma_per_sqrt_s(self) -> float:
        return math.sqrt(self.sum_sq / self.weight / self.dt) if self.weight > 0 else 0.0

    def sigma_price(self, mid: float) -> float:
        return self.sigma_per_sqrt_s * mid


class ArrivalEstimator:
    __slots__ = ("depths", "counts", "time_w", "tau", "last_ts", "n", "min_n")

    def __init__(self, cfg: EstimatorConfig) -> None:
        m = cfg.arrival_grid_points
        self.depths = [cfg.arrival_max_depth * i / (m - 1) for i in range(m)]
        self.counts = [0.0] * m
        self.time_w = 0.0  # decayed elapsed time, s
        self.tau = cfg.arrival_halflife_s / math.log(2.0)
        self.last_ts = math.nan
        self.n = 0
        self.min_n = cfg.arrival_min_trades

    def _decay_to(self, ts: float) -> None:
        if self.last_ts != self.last_ts:
            self.last_ts = ts
            return
        dt = ts - self.last_ts
        if dt <= 0.0:
            return
        f = math.exp(-dt / self.tau)
        self.counts = [c * f for c in self.counts]
        self.time_w = self.time_w * f + self.tau * (1.0 - f)
        self.last_ts = ts

    def on_trade(self, ts: float, px: float, mid: float) -> None:
        self._decay_to(ts)
        d = abs(px - mid)
        counts = self.counts
        for i, depth in enumerate(self.depths):
            if d >= depth:
                counts[i] += 1.0
            else:
                break
        self.n += 1

    def fit(self, ts: float) -> tuple[float, float] | None:
        """(A per side per second, k per price unit), or None while there is too little data."""
        if self.n < self.min_n:
            return None
        self._decay_to(ts)
        if self.time_w <= 0.0:
            return None
        sw = swx = swy = swxx = swxy = 0.0
        for d, c in zip(self.depths, self.counts):
            if c < 3.0:
                break
            lam = c / self.time_w / 2.0
            w = c  # Poisson counts: log-variance ~ 1/c
            y = math.log(lam)
            sw += w
            swx += w * d
            swy += w * y
            swxx += w * d * d
            swxy += w * d * y
        den = sw * swxx - swx * swx
        if sw <= 0.0 or den <= 1e-12:
            return None
        slope = (sw * swxy - swx * swy) / den
        intercept = (swy - slope * swx) / sw
        k = -slope
        if not (k > 0.0 and math.isfinite(k)):
            return None
        return math.exp(intercept), k
