"""Online estimators from the feed: the mid's volatility, and the arrival parameters A and k.

Both are O(1) per update, allocate nothing per event and read no clock: the event's ``ts`` (float seconds)
drives them. ``ArrivalEstimator.fit`` is O(grid) and meant once per quote cycle; the arrival grid is
(re-)laid once every ``arrival_min_trades`` trades at most, a sort of that many reaches.

- Volatility: EWMA of squared log returns of the mid sampled on a fixed grid (the last mid at
  or before each grid point), so irregular book updates do not bias it. Grid points in a
  stretch without updates are zero returns, added in closed form (O(1) whatever the gap), which
  is exact for a book that was quiet because its mid stood still. After a gap in the feed, though,
  the one return across it carries the whole gap's variance as the newest sample, while the zeros
  it stands for weigh in as older ones: right after the gap σ errs wide (σ² about 2.5 times the truth
  in expectation after 1000 s at the 300 s half-life), then comes back at the EWMA's rate (about 1.7
  times after one half-life, 1.2 after three). Wide is the safe side, and the agent pulls its quotes
  while the book is stale (``risk.stale_book_s``) anyway. Until a mid step has been seen the estimate is
  not ``ready`` (the caller keeps its prior), and it never falls below one such step per window (below).
- Arrivals: each trade's reach δ (its distance from the mid, price units); exponentially
  decayed counts of trades that reached at least each depth of a grid, divided by the decayed
  elapsed time, give λ(δ_i); a weighted least-squares fit of ln λ(δ_i) = ln A − k·δ_i gives A
  and k, over depth 0 and the depths beyond the common reach (the touch) at which trades stopped: every trade
  reaches its touch, and a depth between two ticks counts the trades that reached the next one (``_fit``).
  Trades of BOTH aggressor sides are counted and λ is halved, so A is the intensity per side, as GLFT wants
  (this assumes the two sides are symmetric over the window). The grid
  is the market's own unless fixed: its deepest point the 95th percentile of the last
  ``arrival_min_trades`` trades' reach (kept in a ring), laid once they are in and laid again when that
  quantile has moved by more than a factor of two, so a market quoted in cents and one in dollars, one
  tick wide or ten, calm at the start or busy later, gets a grid its trades spread over. A fixed grid finer
  than the market's tick puts every trade in its last bin and never fits. On a one-tick book the grid often
  steps half a tick, and prints land on whole ticks beyond the mid's half tick: every other bin stays empty.
  Measured on the twin (bench/bench_arrival_fit.py: 20 seeds, 6 h each, a fit every 5 min after the first hour),
  the fit's log error of k has a bias of +0.01 to +0.05 and an rms of 0.02 to 0.07, A's within 0.03 of 0 and 0.01
  to 0.06, at k = 0.7, 1 and 2 per dollar and on the HIP-3 preset; through every depth of the grid k was 11-23% high.
  Depth 0, which every trade reaches, is where λ is A itself (tests/agent/test_estimators.py).
"""
from __future__ import annotations

import math
import sys
from itertools import accumulate

from pydantic import Field

from common.files import FileModel


class EstimatorConfig(FileModel):
    vol_sample_interval_s: float = Field(1.0, ge=0.01, le=3600.0,
                                         description="Grid of mid samples for the volatility, s.")
    vol_halflife_s: float = Field(300.0, ge=1e-3, le=1e10, description="EWMA half-life of squared returns, s.")
    vol_min_samples: int = Field(30, ge=1, le=1_000_000,
                                 description="Grid samples before the volatility estimate is ready.")
    arrival_halflife_s: float = Field(600.0, ge=1e-3, le=1e10, description="Half-life of the decayed trade counts, s.")
    arrival_max_depth_bps: float | None = Field(None, ge=1e-6, le=1e4, description=(
        "Deepest point of the depth grid, fixed: bps of the mid, laid in price units at the first mid (0.3 bp is "
        "$3 on BTC at $100,000). Null (the default): the market's own, the arrival_depth_quantile of the last "
        "arrival_min_trades trades' reach, laid again when it moves. A fixed grid must reach well beyond the "
        "market's half spread: trades that reach beyond it all count as reaching it, and a market whose trades "
        "all do gives no fit (the prior stays)."))
    arrival_depth_quantile: float = Field(0.95, ge=0.01, lt=1, description=(
        "With no fixed grid: the quantile of the recent trades' reach (distance from the mid) the grid's deepest "
        "point is laid at (of the reaches beyond the most common one, when the quantile is that one)."))
    arrival_grid_points: int = Field(10, ge=3, le=64, description="Points of the depth grid, from 0 to the max depth.")
    arrival_min_trades: int = Field(200, ge=10, le=1_000_000, description=(
        "Trades seen before a fit is attempted; also how many recent trades' reach the market's own grid is "
        "laid from, and how often (in trades) it is checked."))
    arrival_min_count: float = Field(3.0, ge=1e-6, le=1e6, description=(
        "Grid depths whose decayed count is below this are left out of the fit (their log is too noisy)."))


_TINY_R2 = 1e-18  # squared log returns below this (|r| < 1e-9) are float noise, not a mid step: no tick is that fine


class VolatilityEstimator:
    """σ of log returns per √s from mid updates at any times; ``sigma_price(mid)`` in price units.

    Not ``ready`` until ``vol_min_samples`` grid returns are in AND one of them moved: a mid that has not
    moved since the start says nothing about σ except that it is small against the tick, and a σ of 0
    makes GLFT drop the inventory skew (long 0.03 BTC, the bid joined the touch); the caller's prior
    stands until then. After that σ is floored at one minimum mid step per EWMA window (the smallest
    non-zero grid return seen, on a one-tick book half a tick, over 1/(1 − decay) grid steps, 433 s at the
    300 s half-life): a window in which the mid stood still bounds σ from above at about that (the mid
    would have moved by a step with high probability were σ larger), it does not show σ = 0, and of the
    values the data allows, the bound errs on the side that keeps the inventory skew."""

    __slots__ = ("dt", "decay", "min_n", "next_t", "last_ts", "last_mid", "prev_sample",
                 "sum_sq", "weight", "n", "min_r2")

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
        self.min_r2 = math.inf  # the smallest non-zero squared grid return seen: one mid step, squared

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
            if _TINY_R2 < r2 < self.min_r2:
                self.min_r2 = r2
        else:
            dm = d ** m
            geo = (1.0 - dm) / (1.0 - d)  # Σ_{j<m} d^j
            self.sum_sq = dm * self.sum_sq + r2 * geo
            self.weight = dm * self.weight + geo
        self.n += m

    @property
    def ready(self) -> bool:
        """Enough grid samples, and the mid has moved at least once (else the caller's prior stands)."""
        return self.n >= self.min_n and self.min_r2 < math.inf

    @property
    def sigma_per_sqrt_s(self) -> float:
        """σ of log returns per √s, at least one minimum mid step per EWMA window (0 until the mid has moved)."""
        if self.weight <= 0.0 or self.min_r2 == math.inf:
            return 0.0
        v = self.sum_sq / self.weight
        floor = self.min_r2 * (1.0 - self.decay)  # one step in the window's 1/(1 − decay) grid steps
        return math.sqrt((v if v > floor else floor) / self.dt)

    def sigma_price(self, mid: float) -> float:
        """σ in price units per √s at this mid: the σ GLFT takes."""
        return self.sigma_per_sqrt_s * mid


_STEPS = tuple(float(i) for i in range(65))  # 0.0, 1.0, ...: grid steps as floats (arrival_grid_points ≤ 64)
_RELAY_FACTOR = 2.0  # the market's own grid is laid again when the recent reach quantile is off by more than this
_ML_FACTOR = 3.0  # a least-squares k this far from the maximum-likelihood one (either way) is no fit
# math's functions and infinity as the arrival counts and fit read them: a global's load, not a module's and its
# attribute's (each trade's count takes an exp, each refit an exp, an expm1 and another exp)
_exp = math.exp
_expm1 = math.expm1
_INF = math.inf
# the logs of A a fit may return: e^x finite and above 0 (x at most the log of the largest double, at least that of
# the smallest normal one)
_LN_A_MAX = math.log(sys.float_info.max)
_LN_A_MIN = math.log(sys.float_info.min)


class ArrivalEstimator:
    """λ(δ) = A·e^(−kδ) per side from public trades; ``fit(ts)`` returns (A, k) or None."""

    __slots__ = ("depths", "step", "m", "bins", "tau", "halflife", "t0", "t_ref", "n", "min_n", "min_count",
                 "quantile", "fixed", "ring_ts", "ring_d", "ring_i", "ring_full", "retry_above", "off",
                 "held", "held_until")

    def __init__(self, cfg: EstimatorConfig, max_depth: float | None = None) -> None:
        """``max_depth``: the grid's deepest point, price units (the core lays ``arrival_max_depth_bps`` of
        the first mid when it is set); None: laid at the ``arrival_depth_quantile`` of the last
        ``arrival_min_trades`` trades' reach once that many are in (they are then counted on it), and laid
        again (the counts restarted from those trades) when the quantile has moved by more than a factor
        of two."""
        m = cfg.arrival_grid_points
        self.m = m
        self.quantile = cfg.arrival_depth_quantile
        self.min_n = n = cfg.arrival_min_trades
        self.min_count = cfg.arrival_min_count
        # the last min_n trades (ts, reach), oldest at ring_i once full: what the market's own grid is laid from
        self.ring_ts = [0.0] * n
        self.ring_d = [0.0] * n
        self.ring_i = 0
        self.ring_full = False
        self.retry_above = math.inf  # no grid yet: a trade reaching beyond this tries again before the ring wraps
        self.off = False  # the last check found the grid's top off the recent reach by more than the factor
        self.step = math.nan
        self.depths: tuple[float, ...] = ()  # price units; empty until laid
        # bins[j]: decayed count of trades that reached exactly j grid depths (j = 1..m; 0 unused),
        # weighted by e^((ts − t_ref)/τ) so a trade touches one bin instead of decaying them all
        self.bins = [0.0] * (m + 1)
        self.halflife = cfg.arrival_halflife_s
        self.tau = cfg.arrival_halflife_s / math.log(2.0)
        self.t0 = math.nan  # first trade counted: the observation window starts here
        self.t_ref = math.nan
        self.n = 0
        # the fit on the grid before it was laid again, and until when it stands in for a failed one on the new
        self.held: tuple[float, float] | None = None
        self.held_until = -math.inf
        self.fixed = max_depth is not None
        if max_depth is not None:
            self._lay(max_depth)

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
        if d - d != 0.0:  # NaN or infinite price: nothing learned (d - d is 0.0 for a finite d, nan for any other:
            return  # half the bytecodes of -inf < d < inf, on every print)
        if self.fixed:
            self._count(ts, d)
            return
        i = self.ring_i
        self.ring_ts[i] = ts
        self.ring_d[i] = d
        i += 1
        if i == self.min_n:
            i = 0
            self.ring_full = True
        self.ring_i = i
        if self.step == self.step:  # laid: count, and every min_n trades check the grid still fits the reach
            self._count(ts, d)
            if i == 0:
                self._relay(ts)
        elif self.ring_full and (i == 0 or d > self.retry_above):
            self._lay_from_ring()

    def _lay(self, max_depth: float) -> None:
        m = self.m
        self.step = max_depth / (m - 1)
        self.depths = tuple(self.step * i for i in range(m))

    def _top_from_ring(self) -> tuple[float | None, float]:
        """(the grid's deepest point for the ring's reaches, or None when they show no scale; their most common
        reach). The quantile of the reaches, unless that is the most common reach (a one-tick market prints
        most trades at the touch, half a tick out, and its 95th percentile is there): a grid ending at the
        common reach counts every trade that reached it as reaching the whole grid, the counts fall only at
        depth 0 (trades against a mid that had already moved), and that one step fitted a k of 0.003 per
        dollar, a $294 half spread on BTC. Then the quantile of the reaches beyond the common one, if at
        least ``min_count`` went beyond; else None. Reaches at or short of the mid count as 0."""
        r = sorted(d if d > 0.0 else 0.0 for d in self.ring_d)  # once per min_n trades
        n = len(r)
        mode = v0 = r[0]
        best = run = 0
        for v in r:  # runs of equal reaches (to float rounding), the longest first found
            if v - v0 <= 1e-9 * v0:
                run += 1
            else:
                if run > best:
                    best, mode = run, v0
                v0, run = v, 1
        if run > best:
            mode = v0
        above = mode * (1.0 + 1e-9)
        top = r[min(n - 1, int(self.quantile * n))]
        if top > above:
            return top, mode
        lo = n
        while lo > 0 and r[lo - 1] > above:
            lo -= 1
        if n - lo < self.min_count:
            return None, mode
        return r[lo + min(n - lo - 1, int(self.quantile * (n - lo)))], mode

    def _lay_from_ring(self) -> None:
        """No grid yet: lay it from the ring and count the ring's trades on it, in their order; when the
        reaches show no scale, try again once a trade reaches beyond their common reach or the ring wraps."""
        top, mode = self._top_from_ring()
        if top is None:
            self.retry_above = mode
            return
        self._lay(top)
        self._recount()

    def _relay(self, ts: float) -> None:
        """Every min_n trades on a laid grid: lay it again when the recent reach quantile has been more than a
        factor of two from the grid's top at two checks running (a grid laid once, in a calm start, stayed at
        the touch for the session, later sweeps all in its last bin: k = 0.028 per dollar, a $36 half spread
        for a market whose own grid gave $2.2). The counts restart from the ring's trades; the old grid's fit
        stands in for a failed one on the new grid for one half-life."""
        top, _ = self._top_from_ring()
        old = self.depths[-1]
        off = top is not None and not (old / _RELAY_FACTOR <= top <= old * _RELAY_FACTOR)
        if not (off and self.off):  # one ring's quantile off alone is sampling noise (1.5 among 3.5s on the twin)
            self.off = off
            return
        self.off = False
        self.held = self.fit(ts)  # the fit as it stood (a held one, if the last lay's is still standing in)
        self.held_until = ts + self.halflife
        self._lay(top)
        self._recount()

    def _recount(self) -> None:
        """Fresh counts on the grid just laid: the ring's trades, oldest first (the window starts at the oldest)."""
        b = self.bins
        for j in range(len(b)):
            b[j] = 0.0
        self.t0 = self.t_ref = math.nan
        self.n = 0
        i0 = self.ring_i
        ts, ds = self.ring_ts, self.ring_d
        for i in range(i0, self.min_n):
            self._count(ts[i], ds[i])
        for i in range(i0):
            self._count(ts[i], ds[i])

    def _count(self, ts: float, d: float) -> None:
        if self.t_ref != self.t_ref:
            self.t0 = ts
            self.t_ref = ts
        x = (ts - self.t_ref) / self.tau
        if x > 50.0:  # keep the weights in range: fold the decay into the bins
            self._rebase(ts)
            x = 0.0
        try:
            j = 1 if d <= 0.0 else min(int(d / self.step + 1e-9) + 1, self.m)
        except OverflowError:
            # a print 1e300 from the mid on a grid step of 1e-10: infinitely many steps, and int(inf) raised on feed
            # data. It reached the whole grid. (A try costs a trade one no-op; a comparison first, five bytecodes)
            j = self.m
        self.bins[j] += _exp(x)
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
        scale = _exp((t_ref - ts) / tau)  # bins are in units of e^((t − t_ref)/τ)
        time_w = tau * -_expm1(-(ts - t0) / tau)  # ∫ e^(−(ts−s)/τ) ds over the window, s
        if not time_w > 0.0:
            # asked a few ulps after the first trade, at a clock near 0 (a session's starts there): (ts − t0)/τ
            # underflowed, and λ = count / 0 raised ZeroDivisionError in the fit and in intensities
            return None
        # cum[j - 1] = bins[j] + ... + bins[m], summed from bins[m] down as a loop would (0.0 + bins[m] first: bins[m]
        # itself, a bin being never negative nor -0.0). The bins from the deepest as a slice, the sums unpacked into a
        # list and turned in place: a list and a keyword argument fewer than accumulate(reversed(bins), initial=0.0)
        # made into a list and sliced backwards, the same bytecodes and a third fewer machine instructions (a refit's)
        cum = [*accumulate(self.bins[:0:-1])]
        cum.reverse()
        return cum, scale, time_w

    def fit(self, ts: float) -> tuple[float, float] | None:
        """(A per side per s, k per price unit), or None while there is too little data or the counts do
        not fall with depth the way λ(δ) = A·e^(−kδ) says, or the window is too short for λ and A to be doubles (a
        few ulps after a first trade at a clock near 0); never an exception, whatever the trades' times and prices.
        Weighted least squares with weight = count (a Poisson count's log has variance ≈ 1/count), over depth 0 and
        the depths from the common reach on at which some trade stopped (``_fit``). For one half-life
        after the market's own grid was laid again, a failed fit on the new grid gives the old grid's fit instead."""
        f = self._fit(ts)
        if f is None and ts < self.held_until:
            return self.held
        return f

    def _fit(self, ts: float) -> tuple[float, float] | None:
        """The fit on the grid as it is. Three guards, each against a k the counts do not show:

        - at least ``min_count`` trades stopped within the depths fitted: when every trade reached them all (all
          at the touch of a one-tick market, a grid finer than the tick) the counts are equal and the slope is
          rounding noise, as often positive as not, and a k of 1e-17 made GLFT's half spread 1/k about 1e14;
        - the counts fall by ``min_count`` or more across at least two grid steps at or beyond the common
          reach (the bin most trades stopped in): counts that fall in one step only (at depth 0, by trades
          measured against a mid that had already moved, while the rest reached the grid's top) are two levels,
          and the line through them has the slope the grid's spacing gives it: 0.5% such trades fitted k =
          0.0034 per dollar on BTC, a $294 half spread;
        - the least-squares k is within a factor of three of the maximum-likelihood k of the same counts from
          the common reach on (each trade's grid steps beyond it a geometric draw, right-censored at the last
          depth fitted: per step q = S/(S + D), k = −ln q / step, exact for λ(δ) on the grid). The two agree on
          counts that fall exponentially; far apart, the counts are not the model's shape, and the priors are
          safer than either."""
        if self.n < self.min_n:
            return None
        # the counts as intensities reads them, without its list of tuples: this runs on a quote cycle every
        # refit_interval_s, and those cycles were some of the slowest
        counts = self._counts(ts)
        if counts is None:
            return None
        cum, scale, time_w = counts
        min_count = self.min_count
        m = self.m
        # the depths fitted: those with at least min_count trades, a run from depth 0 (a count never exceeds the one
        # before it: the bins are never negative, and one scale multiplies them all). Mostly the run is all of them,
        # which the deepest depth's count shows at once: the sums' loop then checks and counts nothing, a tenth of the
        # fit's bytecodes a depth
        used = m
        if cum[m - 1] * scale < min_count:
            used = 0
            for c in cum:
                if c * scale < min_count:
                    break  # deeper depths have fewer still
                used += 1
        if used < 2:
            return None
        # the first count less the last
        if cum[0] * scale - cum[used - 1] * scale < min_count:
            return None
        # bins[j] (j < used) is the fall in the counts from depth j − 1 to depth j; bins[m] never fell
        bins = self.bins
        # the first j whose bin is the largest: max keeps the first of equal values, and index finds the first equal
        # to it (a quarter of the time max(range(1, m + 1), key=bins.__getitem__) took, the same j). bins[0], unused,
        # is 0.0, no more than any bin: the largest of them all is the largest of bins[1:], without its copy
        jm = bins.index(max(bins), 1)
        least = min_count / scale  # min_count in the bins' units
        falls = 0
        stops = steps = 0.0  # D and S of the maximum-likelihood k, from depth jm − 1 on
        # each bin from jm with its steps beyond jm − 1 as a float (b · (j − jm) converts the int to that same
        # double: the same products), so both operations are the interpreter's float ones; a bool added to an int
        # (falls += b >= least) is neither's, and neither is a float times an int
        # an empty bin adds nothing to either sum (+0.0 and 0.0 · i: each stays the double it was, never -0.0) and
        # is no fall (least > 0): passed over (the twin's BTC grid steps half a tick, and every other bin is empty)
        for b, i in zip(bins[jm:used], _STEPS):
            if b:
                if b >= least:
                    falls += 1
                stops += b
                steps += b * i
        if falls < 2:
            return None
        steps += cum[used - 1] * (used - jm)
        # The line's points: depth 0, which every trade reaches (λ there is A itself), and the depths beyond the
        # common reach (the touch's pile-up, bin jm) at which some trade stopped. The depths between are left out:
        # every trade of a side reaches its touch, so their counts are the touch's whole side, above A·e^(−kδ) at
        # the touch's δ, and a point there steepened the line (k 17-23% high on the twin at k = 0.7-2 per dollar,
        # 11% on the HIP-3 preset). So are the depths no trade stopped at (their count the next one's): prints
        # land on ticks, and a depth between them counts the trades that reached the next print's price, deeper,
        # an e^(−k·tick/2) tread below the line on the half-tick grid that steepened it again.
        log = math.log
        # log λ = log(cnt / (2·time_w)): 2·time_w is exact, so each quotient is the one rounding of 0.5·cnt / time_w
        time_w2 = time_w + time_w
        sw = cum[0] * scale
        swy = sw * log(sw / time_w2)
        swx = swxx = swxy = 0.0
        # a depth some trade stopped at counts more than the next (scaled, as the intensities read: a bin of 1e-20
        # trades, decayed, can leave two counts equal); the deepest depth's next is 0
        cum.append(0.0)
        c = cum[jm] * scale
        for d, nxt in zip(self.depths[jm:used], cum[jm + 1:used + 1]):
            nxt *= scale
            if c != nxt:
                y = log(c / time_w2)  # log λ
                cd = c * d  # (c * d * d is (c * d) * d: the same doubles)
                sw += c
                swx += cd
                swy += c * y
                swxx += cd * d
                swxy += cd * y
            c = nxt
        den = sw * swxx - swx * swx
        if den <= 1e-12 * sw * sw:
            return None
        slope = (sw * swxy - swx * swy) / den
        k = -slope
        if not (0.0 < k < _INF):
            return None
        k_ml = -log(steps / (steps + stops)) / self.step
        if not (k_ml / _ML_FACTOR <= k <= k_ml * _ML_FACTOR):
            return None
        ln_a = (swy - slope * swx) / sw
        if not _LN_A_MIN < ln_a < _LN_A_MAX:
            # a window of 1e-307 s (asked just after a first trade at a clock near 0): log λ near the largest
            # double's, and the line through it ends beyond it at depth 0; e^ln_a raised OverflowError
            return None
        return _exp(ln_a), k
