"""Online estimators from the feed: the mid's volatility, and the arrival parameters A and k.

Both are O(1) per update, allocate nothing per event (bar the arrival grid's first trades, below) and
read no clock: the event's ``ts`` (float seconds) drives them. ``ArrivalEstimator.fit`` is O(grid) and
meant once per quote cycle.

- Volatility: EWMA of squared log returns of the mid sampled on a fixed grid (the last mid at
  or before each grid point), so irregular book updates do not bias it. Grid points in a
  stretch without updates are zero returns, added in closed form (O(1) whatever the gap);
  the one return across the gap carries its variance, so the EWMA stays unbiased.
- Arrivals: each trade's reach δ (its distance from the mid, price units); exponentially
  decayed counts of trades that reached at least each depth of a grid, divided by the decayed
  elapsed time, give λ(δ_i); a weighted least-squares fit of ln λ(δ_i) = ln A − k·δ_i gives A
  and k. Trades of BOTH aggressor sides are counted and λ is halved, so A is the intensity
  per side, as GLFT wants (this assumes the two sides are symmetric over the window). The grid
  is the market's own unless fixed: its deepest point the 95th percentile of the first trades'
  reach (kept until then: the one allocation per event, for the first 200), so a market quoted
  in cents and one in dollars, one tick wide or ten, both get a grid their trades spread over. A
  fixed grid finer than the market's tick puts every trade in its last bin and never fits.
"""
from __future__ import annotations

import math

from pydantic import Field

from twin.files import FileModel


class EstimatorConfig(FileModel):
    vol_sample_interval_s: float = Field(1.0, gt=0, description="Grid of mid samples for the volatility, s.")
    vol_halflife_s: float = Field(300.0, gt=0, description="EWMA half-life of squared returns, s.")
    vol_min_samples: int = Field(30, ge=1, description="Grid samples before the volatility estimate is ready.")
    arrival_halflife_s: float = Field(600.0, gt=0, description="Half-life of the decayed trade counts, s.")
    arrival_max_depth_bps: float | None = Field(None, gt=0, description=(
        "Deepest point of the depth grid, fixed: bps of the mid, laid in price units at the first mid (0.3 bp is "
        "$3 on BTC at $100,000). Null (the default): the market's own, the arrival_depth_quantile of the first "
        "arrival_min_trades trades' reach. A fixed grid must reach well beyond the market's half spread: trades "
        "that reach beyond it all count as reaching it, and a market whose trades all do gives no fit (the "
        "prior stays)."))
    arrival_depth_quantile: float = Field(0.95, gt=0, lt=1, description=(
        "With no fixed grid: the quantile of the first trades' reach (distance from the mid) the grid's deepest "
        "point is laid at."))
    arrival_grid_points: int = Field(10, ge=3, le=64, description="Points of the depth grid, from 0 to the max depth.")
    arrival_min_trades: int = Field(200, ge=10, description="Trades seen before a fit is attempted.")
    arrival_min_count: float = Field(3.0, gt=0, description=(
        "Grid depths whose decayed count is below this are left out of the fit (their log is too noisy)."))


class VolatilityEstimator:
    """σ of log returns per √s from mid updates at any times; ``sigma_price(mid)`` in price units."""

    __slots__ = ("dt", "decay", "min_n", "next_t", "last_ts", "last_mid", "prev_sample",
                 "sum_sq", "weight", "n")

    def __init__(self, cfg: EstimatorConfig) -> None:
        self.dt = cfg.vol_sample_interval_s
        self.decay = 0.5 ** (cfg.vol_sample_interval_s / cfg.vol_halflife_s)  # per grid step
        self.min_n = cfg.vol_min_samples
        self.next_t = math.nan  # next grid point, s; the grid starts at the first update
        self.last_ts = math.nan
        self.last_mid = math.nan
        self.prev_sample = math.nan  # the mid at the last grid point
        # decayed Σ r² and decayed Σ 1: their ratio is an unbiased EWMA from the first sample
        self.sum_sq = 0.0
        self.weight = 0.0
        self.n = 0  # grid returns seen

    def update(self, ts: float, mid: float) -> None:
        if not (mid > 0.0 and mid < math.inf):
            return  # an empty or broken book has no mid; the last good one stands
        if self.next_t != self.next_t:  # first update anchors the grid
            self.prev_sample = mid
            self.last_mid = mid
            self.last_ts = ts
            self.next_t = ts + self.dt
            return
        if ts < self.last_ts:
            return  # out of order: the grid has already used later information
        dt = self.dt
        if ts >= self.next_t - 1e-9 * dt:
            # grid points strictly before ts see the previous mid; one exactly at ts sees this one
            m = math.ceil((ts - self.next_t) / dt - 1e-9)
            if m > 0:
                r = math.log(self.last_mid / self.prev_sample)
                self._add_equal(1, r * r)
                if m > 1:
                    self._add_equal(m - 1, 0.0)  # the mid stood still at the later points
                self.prev_sample = self.last_mid
                self.next_t += m * dt
            if self.next_t <= ts + 1e-9 * dt:
                r = math.log(mid / self.prev_sample)
                self._add_equal(1, r * r)
                self.prev_sample = mid
                self.next_t += dt
        self.last_mid = mid
        self.last_ts = ts

    def _add_equal(self, m: int, r2: float) -> None:
        """Add m grid samples, each with squared return r2, in O(1)."""
        d = self.decay
        if m == 1:
            self.sum_sq = d * self.sum_sq + r2
            self.weight = d * self.weight + 1.0
        else:
            dm = d ** m
            geo = (1.0 - dm) / (1.0 - d)  # Σ_{j<m} d^j
            self.sum_sq = dm * self.sum_sq + r2 * geo
            self.weight = dm * self.weight + geo
        self.n += m

    @property
    def ready(self) -> bool:
        return self.n >= self.min_n

    @property
    def sigma_per_sqrt_s(self) -> float:
        """σ of log returns per √s (0 until a return has been seen)."""
        return math.sqrt(self.sum_sq / self.weight / self.dt) if self.weight > 0.0 else 0.0

    def sigma_price(self, mid: float) -> float:
        """σ in price units per √s at this mid: the σ GLFT takes."""
        return self.sigma_per_sqrt_s * mid


class ArrivalEstimator:
    """λ(δ) = A·e^(−kδ) per side from public trades; ``fit(ts)`` returns (A, k) or None."""

    __slots__ = ("depths", "step", "m", "bins", "tau", "t0", "t_ref", "n", "min_n", "min_count", "quantile",
                 "first")

    def __init__(self, cfg: EstimatorConfig, max_depth: float | None = None) -> None:
        """``max_depth``: the grid's deepest point, price units (the core lays ``arrival_max_depth_bps`` of
        the first mid when it is set); None: laid at the ``arrival_depth_quantile`` of the first
        ``arrival_min_trades`` trades' reach, which are kept until then and counted on it."""
        m = cfg.arrival_grid_points
        self.m = m
        self.quantile = cfg.arrival_depth_quantile
        self.first: list[tuple[float, float]] | None = None  # (ts, reach) of the trades before the grid is laid
        self.step = math.nan
        self.depths: tuple[float, ...] = ()  # price units; empty until laid
        if max_depth is None:
            self.first = []
        else:
            self._lay(max_depth)
        # bins[j]: decayed count of trades that reached exactly j grid depths (j = 1..m; 0 unused),
        # weighted by e^((ts − t_ref)/τ) so a trade touches one bin instead of decaying them all
        self.bins = [0.0] * (m + 1)
        self.tau = cfg.arrival_halflife_s / math.log(2.0)
        self.t0 = math.nan  # first trade: the observation window starts here
        self.t_ref = math.nan
        self.n = 0
        self.min_n = cfg.arrival_min_trades
        self.min_count = cfg.arrival_min_count

    def on_trade(self, ts: float, px: float, mid: float, side: int = 0) -> None:
        """A public trade at ``px`` while the mid was ``mid``; ``side`` is the aggressor (+1 buy,
        −1 sell, 0 unknown). A buy reaches up from the mid and a sell down; a trade on the wrong
        side of a stale mid reached depth 0."""
        if side > 0:
            d = px - mid
        elif side < 0:
            d = mid - px
        else:
            d = abs(px - mid)
        if not (-math.inf < d < math.inf):
            return  # NaN or infinite price: nothing learned
        first = self.first
        if first is not None:  # no grid yet: kept until enough trades show how far this market's reach
            first.append((ts, d))
            if len(first) >= self.min_n:
                self._lay_from_first()
            return
        self._count(ts, d)

    def _lay(self, max_depth: float) -> None:
        m = self.m
        self.step = max_depth / (m - 1)
        self.depths = tuple(self.step * i for i in range(m))

    def _lay_from_first(self) -> None:
        """The grid's deepest point at the quantile of the kept trades' reach (their largest when that is 0,
        a market printing at a stale mid; none yet when no trade reached beyond the mid), then they are
        counted on it, in their order."""
        first = self.first
        reaches = sorted(d for _, d in first)
        top = reaches[min(len(reaches) - 1, int(self.quantile * len(reaches)))]
        if top <= 0.0:
            top = reaches[-1]
            if top <= 0.0:  # nothing reached beyond the mid: wait for a trade that shows a scale, with the last few
                del first[:-self.min_n]
                return
        self._lay(top)
        self.first = None
        for ts, d in first:
            self._count(ts, d)

    def _count(self, ts: float, d: float) -> None:
        if self.t_ref != self.t_ref:
            self.t0 = ts
            self.t_ref = ts
        x = (ts - self.t_ref) / self.tau
        if x > 50.0:  # keep the weights in range: fold the decay into the bins
            self._rebase(ts)
            x = 0.0
        j = 1 if d <= 0.0 else min(int(d / self.step + 1e-9) + 1, self.m)
        self.bins[j] += math.exp(x)
        self.n += 1

    def _rebase(self, ts: float) -> None:
        f = math.exp(-(ts - self.t_ref) / self.tau)
        b = self.bins
        for j in range(len(b)):
            b[j] *= f
        self.t_ref = ts

    def intensities(self, ts: float) -> list[tuple[float, float, float]]:
        """(depth, λ per side per s, decayed count) per grid depth at ``ts``; for fits and reports."""
        counts = self._counts(ts)
        if counts is None:
            return []
        cum, scale, time_w = counts
        out = []
        for i in range(self.m):
            cnt = cum[i] * scale
            out.append((self.depths[i], 0.5 * cnt / time_w, cnt))
        return out

    def _counts(self, ts: float) -> tuple[list[float], float, float] | None:
        """What ``intensities`` and ``fit`` read: the undecayed count of trades that reached each grid depth
        or beyond, the decay from the last rebase to ``ts`` that scales them, and the window's decayed length
        (s); None before the first trade counted or at or before it."""
        t0 = self.t0
        if t0 != t0 or ts <= t0:
            return None  # (also while the grid is not laid: nothing is counted before it is)
        t_ref = self.t_ref
        if ts < t_ref:
            ts = t_ref  # asked about the past: the counts as of the last rebase (no e^(+x) overflow)
        tau = self.tau
        scale = math.exp((t_ref - ts) / tau)  # bins are in units of e^((t − t_ref)/τ)
        time_w = tau * -math.expm1(-(ts - t0) / tau)  # ∫ e^(−(ts−s)/τ) ds over the window, s
        m = self.m
        bins = self.bins
        cum = [0.0] * m
        c = 0.0
        for j in range(m, 0, -1):
            c += bins[j]
            cum[j - 1] = c
        return cum, scale, time_w

    def fit(self, ts: float) -> tuple[float, float] | None:
        """(A per side per s, k per price unit), or None while there is too little data or the
        counts do not fall with depth. Weighted least squares with weight = count (a Poisson
        count's log has variance ≈ 1/count).

        The counts fall with depth only if at least ``min_count`` trades stopped within the depths
        fitted: when every trade reached them all (all at the touch of a one-tick market, a grid finer
        than the tick) the counts are equal and the slope is rounding noise, as often positive as not,
        and a k of 1e-17 made GLFT's half spread 1/k about 1e14."""
        if self.n < self.min_n:
            return None
        # the counts as intensities reads them, without its list of tuples: this runs on a quote cycle every
        # refit_interval_s, and those cycles were some of the slowest
        counts = self._counts(ts)
        if counts is None:
            return None
        cum, scale, time_w = counts
        depths = self.depths
        min_count = self.min_count
        sw = swx = swy = swxx = swxy = 0.0
        used = 0
        first = last = 0.0
        for i in range(self.m):
            cnt = cum[i] * scale
            if cnt < min_count:
                break  # deeper depths have fewer still
            d = depths[i]
            lam = 0.5 * cnt / time_w
            if not used:
                first = cnt
            last = cnt
            y = math.log(lam)
            sw += cnt
            swx += cnt * d
            swy += cnt * y
            swxx += cnt * d * d
            swxy += cnt * d * y
            used += 1
        if used < 2 or first - last < min_count:
            return None
        den = sw * swxx - swx * swx
        if den <= 1e-12 * sw * sw:
            return None
        slope = (sw * swxy - swx * swy) / den
        k = -slope
        if not (0.0 < k < math.inf):
            return None
        A = math.exp((swy - slope * swx) / sw)
        return A, k
