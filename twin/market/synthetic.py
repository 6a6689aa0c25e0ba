"""The embedded synthetic market: a regime-switching jump-diffusion mid, an L2 book and informed flow.

It needs no data, and its signals and adverse selection are real: book imbalance and trade flow
predict the next move by construction, with couplings a test (or a scenario) can switch off.

Model (generated vectorised, one chunk of events at a time):
- regime: a two-state continuous-time Markov chain, calm (0) and stressed (1); stressed has more
  volatility, more jumps, a wider spread, a thinner book and more trades. Scripted ``regime``
  shocks override the chain for their duration.
- alpha a(t): an Ornstein-Uhlenbeck process in log-return per second (``alpha_halflife_s``,
  stationary std ``alpha_std_per_s``); it is the mid's drift (× ``drift_coupling``) and tilts the
  book's depth (× ``book_coupling``).
- log mid: on a fixed global grid of ``book_interval_s``; the move arriving at grid point k is
  drift_coupling·a·dt + σ_regime·√dt·Z + a jump (normal size in log) with probability rate·dt, the
  Poisson's mean count (rate per regime; at most one a step, so rate·dt ≤ 1 is checked).
  The mid is constant between grid points; a BOOK event is emitted at every grid point.
- trades: Poisson arrivals at ``trade_rate_*_per_s``. A share ``informed_share`` is informed: its
  side is the sign of the mid's (exogenous) move over the next ``informed_horizon_s``, and it moves
  the mid ``impact_bps`` its way from the next grid point on. The rest buy with probability
  sigmoid(flow_coupling · a/alpha_std). The latent path is drawn ahead of the events, so the
  look-ahead is exact across chunk edges (it does not foresee scripted shocks or parameter changes).
- trade depth: each aggressor reaches δ ~ Exp(k) beyond the mid (k = ``depth_decay_per_usd``,
  per price unit) and prints at the worse of the touch and the deepest tick within δ. So an order
  resting beyond the touch, δ from the mid, is reached by one side's trades at rate A·e^(−kδ),
  A = the trade rate per side (half the total when flow is balanced): the arrival model
  GLFT/Avellaneda-Stoikov assume. The touch itself is reached by every trade of its side.
- book: best bid = floor_tick(mid − half spread), best ask = ceil_tick(mid + half spread), never
  crossed; ``levels`` levels one tick apart a side (or, price by price, the coarser grid the venue's price rule
  needs past a power of ten: 5 significant figures; bids at or below zero are not listed, and no print is below
  one tick). The size shown at a price is its level's depth (growing with the level
  index, thinner when stressed: it follows the touch, as quoters requote with the mid) times that
  price's own log-normal noise, tilted by exp(±book_coupling · a/alpha_std) when drawn. The noise
  belongs to the price on its side and holds until it is redrawn: at Poisson times, rate
  1/``depth_refresh_s`` per price, or when the price joins its side's listed levels. A client queued
  at a price (twin/book.py reads each shrink as partly cancels ahead) thus sees the noise's cancels at
  a rate the market sets (and its level thin as the touch comes nearer), not one per book event: drawn
  afresh at every event, the noise had emptied the queue ahead of an order in a few seconds with no
  trade at all, and faster at a finer ``book_interval_s``.

Defaults resemble BTC on Hyperliquid (approximate public figures, 2025): price ~$100k, tick $1,
20 levels a side (what ``l2Book`` shows), a one-tick spread most of the time; daily volatility
~2.5% when calm (0.025/√86400 ≈ 8.5e-5 per √s), about 3× that when stressed; a few trades a
second with a median near 0.03 BTC, i.e. 4/s × ~0.06 BTC mean × $100k ≈ $2B a day, the order of
the venue's BTC perp volume; a few BTC of depth within $20 of the mid. The alpha's default
(6e-6 per s, half-life 30 s) adds about 30% to the mid's variance at horizons well beyond the
half-life, and explains ~2% of the variance of 5 s returns: a weak but real signal.
"""
from __future__ import annotations

import math
from decimal import Decimal
from typing import Sequence

import numpy as np
from pydantic import Field, ValidationError, model_validator

from common.files import FileModel
from common.units import MAX_DURATION_S
from twin.instruments import MAX_SIG_FIGS
from twin.market.base import BOOK, TRADE, MarketChunk, Shock

# Parameters a ``param`` shock may set: the information couplings and the rates read per chunk.
SHOCKABLE_PARAMS: tuple[str, ...] = (
    "informed_share", "flow_coupling", "book_coupling", "drift_coupling", "impact_bps",
    "trade_rate_calm_per_s", "trade_rate_stressed_per_s", "jump_rate_calm_per_s", "jump_rate_stressed_per_s",
    "vol_calm_per_sqrt_s", "vol_stressed_per_sqrt_s", "depth_decay_per_usd",
)

# The largest variance per second of the log mid a market may have: 0.02² (5.9 in log a day, where a market's worst
# days move 1 to 3), so that a run of the longest duration (365 days: a std of 112 in log) stays six standard
# deviations inside a float's range (e^±709, less a mid's own e^±28). A field's own bound (vol_*_per_sqrt_s ≤ 0.1)
# does not: 0.1 per √s has a year's std at 561.
MAX_LOG_VARIANCE_PER_S = 0.02 ** 2

# What drives each part of the mid's variance, named with its fields' values (SyntheticMarketParams._mid_stays_finite).
_CAUSES = {
    "vol": lambda p, s: (f"vol_stressed_per_sqrt_s {p.vol_stressed_per_sqrt_s:g}" if s
                         else f"vol_calm_per_sqrt_s {p.vol_calm_per_sqrt_s:g}"),
    "jumps": lambda p, s: (f"jump_rate_stressed_per_s {p.jump_rate_stressed_per_s:g}" if s
                           else f"jump_rate_calm_per_s {p.jump_rate_calm_per_s:g}")
    + f" with jump_size_std {p.jump_size_std:g}",
    "drift": lambda p, s: (f"drift_coupling {p.drift_coupling:g} with alpha_std_per_s {p.alpha_std_per_s:g} "
                           f"and alpha_halflife_s {p.alpha_halflife_s:g}"),
    "informed impact": lambda p, s: ((f"trade_rate_stressed_per_s {p.trade_rate_stressed_per_s:g}" if s
                                      else f"trade_rate_calm_per_s {p.trade_rate_calm_per_s:g}")
                                     + f" with informed_share {p.informed_share:g} and impact_bps {p.impact_bps:g}"),
}

# The most cells (trades, and book events times their levels) a chunk holds on average: a chunk spans
# chunk_seconds or less. Its arrays, and the event lists the exchange makes of them, grow with it: at
# trade_rate 1e5 (no informed flow, so the mid's bound does not hold it) a 60 s chunk held 6e6 trades, 1.3 GB for a
# run of 10 s, and a book every 1 ms of 100 levels 720 MB; at this bound ~200 MB. The market's draws depend on its
# chunking, so the bound changes the market a seed gives wherever it cuts a chunk: it is set where chunks cost
# hundreds of MB, past every market a session runs in earnest (the exchange's 60 s chunk keeps its span up to
# ~16,000 cells a second: a 100-level book every 10 ms, or 20 levels every 2 ms), not at 50,000, which cut a 100-level
# book at the default 0.1 s, a 20 ms book, or 900 trades a second, and gave them another market for their seed.
MAX_CHUNK_CELLS = 1_000_000

# Shocks this close after the one a chunk starts at are applied with it, before the market draws on (_apply_shocks_at):
# one instant, so the checks of the market they meet (param_shocks_misfit) take them together too.
SHOCK_TIME_TOL_S = 1e-9

_BLOCK = 1024  # grid points of latent draws made at a time; fixed, so the path does not depend on chunking


def _ar1(innovations: np.ndarray, phi: float, state: float) -> np.ndarray:
    """The AR(1) path ``y[n] = x[n] + phi * y[n-1]`` from ``y[-1] = state``.

    A plain loop over a block of ``_BLOCK`` draws (~60 µs; at the default 0.1 s grid some 850 blocks a
    simulated day, 50 ms), not ``scipy.signal.lfilter``: importing scipy.signal took ~0.7 s of every
    process's start (the Quickstart's run was 4.2 s, now 3.45 s), for this one first-order filter. Its values
    are lfilter's bit for bit (its recursion for these coefficients is this sum, in this order; a test checks it)."""
    out = []
    y = state
    for x in innovations.tolist():
        y = x + phi * y
        out.append(y)
    return np.array(out)


# Free one 1 MB array at import, before any chunk. A chunk's arrays (events × levels, ~100-300 kB each) sit just
# above glibc malloc's initial mmap threshold (128 kB), so each was a fresh mmap and its pages faulted in anew: a
# third of the market's time. glibc raises the threshold (and the trim threshold with it) to the size of the largest
# mmapped block freed, and this does that. Importing scipy.signal did it by accident: the market ran 3.0-3.2x raw
# SimPy per event with it, 4.0-4.2x without (bench_twin.py, runs alternated). Elsewhere than glibc it costs one
# allocation.
np.ones(1 << 17)


def grid_ticks(tick: float, exponent: int) -> float:
    """The fewest ticks whose multiples pass the price rule on [10^exponent, 10^(exponent+1)): multiples of
    the step 5 significant figures leave (at most 1), so 2 for a tick of 0.5 from 10000 on, 10 for 0.3 (a
    multiple of 3 tenths that is whole): step / gcd(tick, step), on integers scaled from both. The grid the
    market's book and prints are on there (calibration measures how far a print reaches on it)."""
    step = Decimal(10) ** min(exponent + 1 - MAX_SIG_FIGS, 0)
    t_dec = Decimal(repr(tick))
    scale = Decimal(10) ** max(-step.as_tuple().exponent, -t_dec.normalize().as_tuple().exponent, 0)
    s, t = int(step * scale), int(t_dec * scale)
    return float(s // math.gcd(s, t))


class SyntheticMarketParams(FileModel):
    """Parameters of the synthetic market for one coin; defaults resemble BTC on Hyperliquid."""

    initial_mid: float = Field(100_000.0, ge=1e-12, le=1e12, description="Mid price at t=0, quote units (USD).")
    book_interval_s: float = Field(0.1, ge=0.001, le=3600.0, description="Grid of the mid path and of BOOK events, s.")
    levels: int = Field(20, ge=1, le=100, description="Book levels per side (the venue's l2Book shows 20).")
    vol_calm_per_sqrt_s: float = Field(8.5e-5, ge=0, le=0.02,
                                       description="Diffusion volatility of log mid per √s when calm (2.5%/day = "
                                                   "0.025/√86400).")
    vol_stressed_per_sqrt_s: float = Field(2.5e-4, ge=0, le=0.02,
                                           description="Diffusion volatility per √s when stressed "
                                                       "(~7.5%/day).")
    calm_to_stressed_per_s: float = Field(1 / 7200, ge=0, le=1000.0, description="Switch rate calm → stressed, 1/s "
                                                                                 "(one stress episode per ~2 h).")
    stressed_to_calm_per_s: float = Field(1 / 900, ge=0, le=1000.0, description="Switch rate stressed → calm, 1/s "
                                                                                "(episodes last ~15 min).")
    jump_rate_calm_per_s: float = Field(1 / 21600, ge=0, le=1000.0, description="Jump rate when calm, 1/s (~4 a day).")
    jump_rate_stressed_per_s: float = Field(1 / 1200, ge=0, le=1000.0,
                                            description="Jump rate when stressed, 1/s (~3 an hour).")
    jump_size_std: float = Field(0.003, ge=0, le=1.0, description="Std of a jump in log price (0.003 = 30 bps).")
    trade_rate_calm_per_s: float = Field(4.0, ge=0, le=1e5, description="Trades per second, both sides, calm.")
    trade_rate_stressed_per_s: float = Field(12.0, ge=0, le=1e5, description="Trades per second, both sides, stressed.")
    trade_size_median: float = Field(0.03, ge=1e-12, le=1e12, description="Median trade size, coin units.")
    trade_size_log_std: float = Field(1.2, ge=0, le=10.0, description="Std of log trade size (mean ≈ 2× median).")
    depth_decay_per_usd: float = Field(2.0, ge=1e-12, le=1e15,
                                       description="k in λ(δ)=A·e^(−kδ), per price unit: an order "
                                                   "beyond the touch, δ from the mid, is reached by one "
                                                   "side's trades at that rate; the touch by all of "
                                                   "them (mean reach 1/k = $0.5 for BTC: most prints "
                                                   "at the touch).")
    half_spread_ticks_calm: float = Field(0.0, ge=0, le=1e6, description="Half spread around the mid, ticks, calm "
                                                                         "(0 → floor/ceil of the mid: a one-tick "
                                                                         "spread; 0.5 gives two ticks most of the "
                                                                         "time).")
    half_spread_ticks_stressed: float = Field(3.0, ge=0, le=1e6,
                                              description="Half spread around the mid, ticks, stressed.")
    depth_at_touch: float = Field(0.5, ge=1e-12, le=1e15,
                                  description="Median displayed size at the best level, coin units.")
    depth_growth_per_level: float = Field(0.2, ge=0, le=1000.0,
                                          description="Level i's median size is depth_at_touch·(1+g·i).")
    depth_noise_log_std: float = Field(0.4, ge=0, le=10.0,
                                       description="Std of the log-normal noise on the size at each "
                                                             "price (around its level's median).")
    depth_refresh_s: float = Field(5.0, ge=0.001, le=86_400.0,
                                   description="Mean time the noise on the size at a price holds, s: "
                                               "each price on each side is redrawn at Poisson times "
                                               "of this mean (and when it joins its side's listed "
                                               "levels), so a queue there sees cancels at this pace, "
                                               "whatever book_interval_s. A guess (the noise's "
                                               "correlation time): calibration does not fit it yet, "
                                               "the feed's sizes being kept by level, not by price.")
    depth_factor_stressed: float = Field(0.4, ge=1e-6, le=1000.0,
                                         description="Multiplier on all level sizes when stressed.")
    alpha_halflife_s: float = Field(30.0, ge=0.001, le=1e10,
                                    description="Half-life of the latent alpha (OU mean reversion), s.")
    alpha_std_per_s: float = Field(6e-6, ge=0, le=0.1, description="Stationary std of alpha, log-return per second.")
    drift_coupling: float = Field(1.0, ge=0, le=1000.0,
                                  description="Alpha's weight in the mid's drift (0: alpha moves nothing).")
    book_coupling: float = Field(0.25, ge=0, le=1000.0,
                                 description="Log depth tilt per std of alpha (0: book imbalance is "
                                             "noise).")
    flow_coupling: float = Field(0.0, ge=0, le=1000.0,
                                 description="Uninformed trades' log-odds of buying per std of alpha.")
    informed_share: float = Field(0.15, ge=0, le=1, description="Share of trades whose side is the sign of the "
                                                                "next move (0: flow predicts nothing).")
    informed_horizon_s: float = Field(5.0, ge=0.001, le=3600.0,
                                      description="How far ahead informed traders see the mid, s.")
    impact_bps: float = Field(0.2, ge=0, le=1e4,
                              description="Permanent mid move after each informed trade, bps, its way.")
    funding_premium_per_8h: float = Field(
        0.0, ge=-0.5, le=0.5, description="Average premium index P of the venue's funding formula, per 8 h: how far "
                                          "the perp trades rich (> 0) or cheap to its oracle (twin/funding.py). The "
                                          "twin's oracle is its mid, so it cannot derive one: 0 charges the interest "
                                          "rate alone (0.00125%/h, longs pay); 0.0013 gives 0.01%/h (~88%/yr).")
    funding_interest_per_8h: float = Field(
        0.0001, ge=-0.01, le=0.01, description="Interest rate r of the funding formula, per 8 h: the venue's fixed "
                                               "0.01%. Set it and the premium to 0 for a market without funding.")

    @model_validator(mode="after")
    def _one_jump_a_step_at_most(self) -> "SyntheticMarketParams":
        """The mid jumps at a grid point with probability rate × book_interval_s (a Bernoulli draw: its mean count
        is the Poisson's, one jump at most a step). Past 1 that is no probability: every step jumped and the rate
        was silently cut to 1/book_interval_s (100/s at an interval of 0.05 s made 20 jumps a second)."""
        for name in ("jump_rate_calm_per_s", "jump_rate_stressed_per_s"):
            rate = getattr(self, name)
            if rate * self.book_interval_s > 1.0:
                raise ValueError(f"{name} {rate:g} with book_interval_s {self.book_interval_s:g} asks for "
                                 f"{rate * self.book_interval_s:g} jumps a grid step; the market makes at most one "
                                 f"a step: {name} × book_interval_s must be at most 1 (a rate of at most "
                                 f"{1.0 / self.book_interval_s:g}/s here)")
        return self

    @model_validator(mode="after")
    def _a_book_step_fits_a_chunk(self) -> "SyntheticMarketParams":
        """A chunk ends on the book's grid (or at a shock), so it spans one grid step at least, and the bound on its
        cells cannot cut it: 1e5 trades a second on a 60 s grid held 6e6 trades in every chunk (1.3 GB for a run of
        10 s). A grid step may hold at most MAX_CHUNK_CELLS trades on average (a million: a book every 10 s at the
        largest trade rate)."""
        name = ("trade_rate_stressed_per_s" if self.trade_rate_stressed_per_s >= self.trade_rate_calm_per_s
                else "trade_rate_calm_per_s")
        per_step = getattr(self, name) * self.book_interval_s
        if per_step > MAX_CHUNK_CELLS:
            raise ValueError(f"{name} {getattr(self, name):g} with book_interval_s {self.book_interval_s:g} asks for "
                             f"{per_step:g} trades a grid step; a chunk of the market spans a step at least and holds "
                             f"at most {MAX_CHUNK_CELLS:g} cells: {name} × book_interval_s must be at most "
                             f"{MAX_CHUNK_CELLS:g} (a book_interval_s of at most "
                             f"{MAX_CHUNK_CELLS / getattr(self, name):g} s here)")
        return self

    def log_variance_parts(self, stressed: bool) -> dict[str, float]:
        """The variance of the log mid per second over the longest run (MAX_DURATION_S, a year), in one regime, by
        its cause: the diffusion, the jumps (rate × size²), the drift (drift_coupling × the OU alpha, integrated over
        the run: its variance grows as t² within a half-life, as t past it, so a half-life of a year or more moves
        the mid a year's worth of drift, which a day's rate put 365 times lower: a market it took overflowed within
        the year) and the informed impact (each trade moves the mid impact_bps its way, and those within an
        informed_horizon_s share their side: a random walk of blocks). Scripted shocks are not in it."""
        vol = self.vol_stressed_per_sqrt_s if stressed else self.vol_calm_per_sqrt_s
        jumps = self.jump_rate_stressed_per_s if stressed else self.jump_rate_calm_per_s
        trades = self.trade_rate_stressed_per_s if stressed else self.trade_rate_calm_per_s
        run = MAX_DURATION_S
        tau = self.alpha_halflife_s / math.log(2.0)  # the OU's correlation time
        x = run / tau
        informed = trades * self.informed_share
        step = self.impact_bps * 1e-4
        return {
            "vol": vol * vol,
            "jumps": jumps * self.jump_size_std ** 2,
            "drift": (self.drift_coupling * self.alpha_std_per_s) ** 2 * 2.0 * tau * tau * (math.expm1(-x) + x) / run,
            "informed impact": informed * step * step + (informed * step) ** 2 * self.informed_horizon_s,
        }

    @model_validator(mode="after")
    def _mid_stays_finite(self) -> "SyntheticMarketParams":
        """Each field in its range, the mid's moves together could still be so large that its price overflowed to
        inf, then nan, within seconds (drift_coupling 1000 with alpha_std_per_s 0.1), and the twin went on listing
        nan prices. The mid's variance rate (log_variance_parts) may be at most MAX_LOG_VARIANCE_PER_S."""
        for stressed in (False, True):
            parts = self.log_variance_parts(stressed)
            rate = sum(parts.values())
            if rate > MAX_LOG_VARIANCE_PER_S:
                worst = max(parts, key=parts.get)
                raise ValueError(
                    f"the {'stressed' if stressed else 'calm'} mid would move {math.sqrt(rate):.3g} in log per √s, "
                    f"most of it from its {worst} ({_CAUSES[worst](self, stressed)}); at most "
                    f"{math.sqrt(MAX_LOG_VARIANCE_PER_S):g} per √s keeps its price finite over a year's run: lower "
                    f"them")
        return self

    @classmethod
    def thin_hip3(cls) -> "SyntheticMarketParams":
        """A thin HIP-3 style market: price ~1, few trades, a thin and wide book (use tick 1e-4, lot 0.1)."""
        return cls(initial_mid=1.0, trade_rate_calm_per_s=0.2, trade_rate_stressed_per_s=0.8, trade_size_median=200.0,
                   depth_decay_per_usd=2000.0, half_spread_ticks_calm=3.0, half_spread_ticks_stressed=10.0,
                   depth_at_touch=500.0, vol_calm_per_sqrt_s=2.0e-4, vol_stressed_per_sqrt_s=6.0e-4)


def shock_problem(params: SyntheticMarketParams, name: str, value: float) -> str | None:
    """Why the market ``params`` cannot take a param shock setting ``name`` to ``value`` (None: it can), as the
    market checks it when built. The whole market is checked, not the field alone: a jump rate is bounded with the
    book's interval and a volatility with the mid's other moves, so a shock a default market takes may not fit a
    scenario's (or a served --params) market, and only this check says so before the run."""
    try:
        SyntheticMarketParams.model_validate({**params.model_dump(), name: value})
    except ValidationError as e:
        return str(e.errors()[0]["msg"]).removeprefix("Value error, ")  # (a validator's, not the field's)
    return None


def param_shocks_misfit(params: SyntheticMarketParams, shocks, times: Sequence[float]) -> tuple[int, str] | None:
    """The first of ``shocks`` (each with ``name`` and ``value``; param shocks only, in the order they happen, at
    ``times``) the market ``params`` cannot take once the shocks before it have moved it, with its index and why
    (None: it takes them all). The market a shock meets is the one every earlier shock made, not the one the run
    starts with: checked each on the start's, two shocks each in bounds (a volatility of 0.015, then drift_coupling
    300) passed and together moved the mid past MAX_LOG_VARIANCE_PER_S for the rest of the run. Shocks at one
    instant (within SHOCK_TIME_TOL_S, as ``_apply_shocks_at`` takes them) are checked on the market they make
    together: the mid never moves between them, so a restore there (the volatility lowered as the drift is raised)
    is taken whatever their order; when together they cross, the one named is the first whose change, with those
    before it, crosses."""
    i = 0
    while i < len(shocks):
        j = i + 1
        while j < len(shocks) and times[j] <= times[i] + SHOCK_TIME_TOL_S:
            j += 1
        moved = params.model_copy(update={s.name: float(s.value) for s in shocks[i:j]})
        try:
            SyntheticMarketParams.model_validate(moved.model_dump())
        except ValidationError:
            for k in range(i, j):
                problem = shock_problem(params, shocks[k].name, shocks[k].value)
                if problem is not None:
                    return k, problem
                params = params.model_copy(update={shocks[k].name: float(shocks[k].value)})
        params, i = moved, j
    return None


def _after(earlier) -> str:
    """The shocks before one, for its error: what moved the market it was checked on."""
    if not earlier:
        return ""
    return " after " + ", ".join(f"{s.name}={s.value:g} at t={s.t:g}" for s in earlier)


def _decimals(step: float) -> int:
    """Decimals that print a multiple of ``step`` exactly (1e-4 → 4; 1.0 → 0)."""
    return max(0, -int(math.floor(math.log10(step) + 1e-9)))


class SyntheticMarket:
    """A never-ending synthetic market for one coin; deterministic given params, rng, shocks and chunking."""

    def __init__(self, params: SyntheticMarketParams, rng: np.random.Generator, *, coin: str = "BTC",
                 tick: float = 1.0, lot: float = 1e-5, shocks: Sequence[Shock] = (),
                 chunk_seconds: float = 10.0) -> None:
        if not (tick > 0 and lot > 0 and chunk_seconds > 0):
            raise ValueError(f"tick, lot and chunk_seconds must be > 0, got {tick}, {lot}, {chunk_seconds}")
        self.p = params
        self.coin = coin
        self.tick = tick
        self.lot = lot
        self.chunk_seconds = chunk_seconds
        self._px_dec = _decimals(tick)
        self._grids: dict[int, float] = {}  # a power of ten -> ticks between listed prices there (_grid_at)
        self._pows: dict[int, float] = {}  # a power of ten -> the fewest ticks reaching it (_pow_ticks)
        self._sz_dec = _decimals(lot)
        self._dt = params.book_interval_s
        self._horizon_pts = max(1, int(round(params.informed_horizon_s / self._dt)))
        for s in shocks:
            self._check_shock(s)
        self._shocks = sorted(shocks, key=lambda s: s.t)
        moves = [s for s in self._shocks if s.kind == "param"]
        misfit = param_shocks_misfit(params, moves, [s.t for s in moves])
        if misfit is not None:
            i, problem = misfit
            s = moves[i]
            raise ValueError(f"shock at t={s.t}: {s.name}={s.value} is invalid{_after(moves[:i])}: {problem}")
        self._next_shock = 0
        # Forced regimes are known in advance, so the look-ahead sees them.
        self._forced = [(s.t, s.t + s.duration_s, int(s.value)) for s in self._shocks if s.kind == "regime"]
        # Separate streams: the chain and the latent path do not depend on how events are chunked.
        chain_rng, path_rng, self._rng = rng.spawn(3)
        self._chain_rng = chain_rng
        self._path_rng = path_rng
        self._switch_times: list[float] = []  # regime chain switch times; the chain starts calm
        self._chain_last = 0.0  # time of the last drawn switch (inf when the chain cannot switch)
        # Latent draws per global grid point k, held from grid point self._buf_k0 on.
        self._buf_k0 = 0
        self._alpha = np.empty(0)
        self._z = np.empty(0)
        self._jump_u = np.empty(0)
        self._jump_z = np.empty(0)
        self._alpha_state = float(path_rng.standard_normal() * params.alpha_std_per_s)  # stationary start
        # Event state: time reached, next grid point to emit, log mid in effect (before grid point
        # self._k's move), and informed impact waiting for the next grid point.
        self._t = 0.0
        self._k = 0
        self._logmid = math.log(params.initial_mid)
        self._pending_impact = 0.0
        # Each side's noise per listed price at the last BOOK event: (time, price ticks, noise), or None.
        self._noise_last: list[tuple[float, np.ndarray, np.ndarray] | None] = [None, None]

    def _check_shock(self, s: Shock) -> None:
        if s.kind == "price_jump":
            if not s.value > -1:
                raise ValueError(f"shock at t={s.t}: price_jump value {s.value} must be > -1 (a fraction)")
        elif s.kind == "regime":
            if s.value not in (0, 1) or s.duration_s < 0:
                raise ValueError(f"shock at t={s.t}: regime value {s.value} must be 0 or 1 and duration_s "
                                 f"{s.duration_s} ≥ 0")
        elif s.kind == "param":
            if s.name not in SHOCKABLE_PARAMS:
                raise ValueError(f"shock at t={s.t}: market parameter {s.name!r} cannot be shocked; "
                                 f"known: {', '.join(SHOCKABLE_PARAMS)}")
            # (its value against the market with the shocks before it: __init__, param_shocks_misfit)
        else:
            raise ValueError(f"shock at t={s.t}: unknown kind {s.kind!r}")

    # ------------------------------------------------------------------ latent state

    def _regime_at(self, t: np.ndarray) -> np.ndarray:
        """Regime at times ``t`` (any order): the chain, overridden by forced windows."""
        p = self.p
        t_max = float(t.max()) if t.size else 0.0
        while self._chain_last <= t_max:
            rate = p.calm_to_stressed_per_s if len(self._switch_times) % 2 == 0 else p.stressed_to_calm_per_s
            if rate <= 0:
                self._chain_last = math.inf
                break
            self._chain_last += float(self._chain_rng.exponential(1.0 / rate))
            self._switch_times.append(self._chain_last)
        reg = (np.searchsorted(np.asarray(self._switch_times), t, side="right") % 2).astype(np.int8)
        for f0, f1, r in self._forced:
            reg[(t >= f0) & (t < f1)] = r
        return reg

    def _ensure_draws(self, k_end: int) -> None:
        """Make the latent draws for grid points below ``k_end`` available."""
        p = self.p
        phi = math.exp(-math.log(2.0) * self._dt / p.alpha_halflife_s)
        innov_std = p.alpha_std_per_s * math.sqrt(1.0 - phi * phi)
        while self._buf_k0 + self._z.size < k_end:
            rng = self._path_rng
            alpha = _ar1(rng.standard_normal(_BLOCK) * innov_std, phi, self._alpha_state)
            self._alpha_state = float(alpha[-1])
            self._alpha = np.concatenate([self._alpha, alpha])
            self._z = np.concatenate([self._z, rng.standard_normal(_BLOCK)])
            self._jump_u = np.concatenate([self._jump_u, rng.random(_BLOCK)])
            self._jump_z = np.concatenate([self._jump_z, rng.standard_normal(_BLOCK)])

    def _drop_draws_before(self, k: int) -> None:
        cut = k - self._buf_k0
        if cut > 0:
            self._alpha, self._z = self._alpha[cut:], self._z[cut:]
            self._jump_u, self._jump_z = self._jump_u[cut:], self._jump_z[cut:]
            self._buf_k0 = k

    def _first_grid_at_or_after(self, t: float) -> int:
        dt = self._dt
        k = int(math.ceil(t / dt))
        while k * dt < t:
            k += 1
        while k > 0 and (k - 1) * dt >= t:
            k -= 1
        return k

    def _apply_shocks_at(self, t: float) -> None:
        while self._next_shock < len(self._shocks) and self._shocks[self._next_shock].t <= t + SHOCK_TIME_TOL_S:
            s = self._shocks[self._next_shock]
            self._next_shock += 1
            if s.kind == "price_jump":
                self._logmid += math.log1p(s.value)
            elif s.kind == "param":
                self.p = self.p.model_copy(update={s.name: float(s.value)})
            # regime shocks are already in self._forced

    # ------------------------------------------------------------------ events

    def next_chunk(self) -> MarketChunk:
        t0 = self._t
        self._apply_shocks_at(t0)
        p, dt, rng = self.p, self._dt, self._rng
        next_shock = self._shocks[self._next_shock].t if self._next_shock < len(self._shocks) else math.inf
        if math.isfinite(next_shock) and abs(round(next_shock / dt) * dt - next_shock) <= 1e-9:
            next_shock = round(next_shock / dt) * dt  # a shock on the grid, up to float noise, stays on it
        k_end = self._first_grid_at_or_after(t0 + self._chunk_span())
        t1 = min(k_end * dt, next_shock)  # chunks end on the grid, or exactly at the next shock
        kf = self._k  # first grid point in [t0, t1)
        kl = self._first_grid_at_or_after(t1)  # grid points kf..kl-1 lie in [t0, t1)
        off_grid = kf * dt != t0  # the chunk starts at a shock between grid points

        # Segments between consecutive BOOK events; each lies within one grid step.
        grid_t = np.arange(kf, kl) * dt
        starts = np.concatenate([[t0], grid_t]) if off_grid else grid_t
        steps = np.concatenate([[kf - 1], np.arange(kf, kl)]) if off_grid else np.arange(kf, kl)
        n = starts.size
        ends = np.append(starts[1:], t1)
        seg_len = ends - starts

        # Exogenous log-mid moves at grid points kf .. kl-1+H (H = the informed look-ahead).
        H = self._horizon_pts
        self._ensure_draws(kl + H)
        ks = np.arange(kf, kl + H)
        rel = ks - self._buf_k0
        reg_k = self._regime_at(ks * dt)
        vol = np.where(reg_k == 1, p.vol_stressed_per_sqrt_s, p.vol_calm_per_sqrt_s)
        jump_rate = np.where(reg_k == 1, p.jump_rate_stressed_per_s, p.jump_rate_calm_per_s)
        move = (p.drift_coupling * self._alpha[rel] * dt + vol * math.sqrt(dt) * self._z[rel]
                + (self._jump_u[rel] < jump_rate * dt) * p.jump_size_std * self._jump_z[rel])
        move[ks == 0] = 0.0  # the mid at t=0 is initial_mid
        cum = np.concatenate([[0.0], np.cumsum(move)])  # cum[j]: exogenous move through grid point kf+j-1
        seg_cum_idx = steps - kf + 1  # the off-grid segment (step kf-1) maps to 0

        regime = self._regime_at(starts)
        alpha = self._alpha[steps - self._buf_k0]
        a_std = alpha / p.alpha_std_per_s if p.alpha_std_per_s > 0 else np.zeros(n)

        # Trades: Poisson per segment, uniform within it.
        rate = np.where(regime == 1, p.trade_rate_stressed_per_s, p.trade_rate_calm_per_s)
        counts = rng.poisson(rate * seg_len)
        nt = int(counts.sum())
        seg = np.repeat(np.arange(n), counts)
        tt = starts[seg] + rng.random(nt) * seg_len[seg]
        tt = np.minimum(tt, np.nextafter(ends[seg], -np.inf))
        order = np.argsort(tt, kind="stable")
        tt, seg = tt[order], seg[order]

        # Sides: informed trades know the sign of the exogenous move over the horizon.
        i0 = seg_cum_idx[seg]
        future = np.sign(cum[i0 + H] - cum[i0])
        informed = rng.random(nt) < p.informed_share
        p_buy = 1.0 / (1.0 + np.exp(-p.flow_coupling * a_std[seg]))
        side = np.where(rng.random(nt) < p_buy, 1, -1)
        fallback = np.where(alpha[seg] != 0, np.sign(alpha[seg]), side)
        informed_side = np.where(future != 0, future, fallback)
        side = np.where(informed, informed_side, side).astype(np.int8)

        # Impact of informed trades arrives at the next grid point: the next segment's start, or
        # the first grid point of a later chunk.
        impact = np.zeros(n + 1)
        if p.impact_bps > 0:
            np.add.at(impact, seg[informed] + 1, side[informed] * (p.impact_bps * 1e-4))
        first_grid_seg = 1 if off_grid else 0
        if first_grid_seg < n:
            impact[first_grid_seg] += self._pending_impact
            self._pending_impact = float(impact[n])
        else:
            self._pending_impact += float(impact[n])
        logmid = self._logmid + cum[seg_cum_idx] + np.cumsum(impact[:n])
        self._logmid = float(self._logmid + cum[kl - kf] + impact[:n].sum())
        if not math.isfinite(self._logmid):
            raise FloatingPointError(f"synthetic mid of {self.coin} is not finite at t={t1}")
        mid = np.exp(logmid)

        # Book at each segment start.
        tick = self.tick
        half_spread = np.where(regime == 1, p.half_spread_ticks_stressed, p.half_spread_ticks_calm) * tick
        bid_t, ask_t = self._ladders(mid - half_spread, mid + half_spread, p.levels)  # prices, in ticks
        bb_i, ba_i = bid_t[:, 0], ask_t[:, 0]
        bid_px = np.round(bid_t * tick, self._px_dec)
        ask_px = np.round(ask_t * tick, self._px_dec)
        lv = np.arange(p.levels)
        depth = p.depth_at_touch * (1.0 + p.depth_growth_per_level * lv)
        depth = depth * np.where(regime == 1, p.depth_factor_stressed, 1.0)[:, None]
        tilt = np.exp(p.book_coupling * a_std)
        bid_sz = self._to_lots(depth * self._price_noise(0, bid_t, starts, tilt))
        ask_sz = self._to_lots(depth * self._price_noise(1, ask_t, starts, 1.0 / tilt))
        unlisted = bid_t < 1.0  # bids at or below zero (a mid a few ticks from 0): none listed
        if unlisted[:, -1].any():
            bid_px[unlisted] = np.nan
            bid_sz[unlisted] = 0.0

        # Trade prints: the deepest tick within the aggressor's reach, never better than the touch. (Rounded
        # outward, to the tick past the reach, a print reached a level δ from the mid e^(k·tick) times as often as
        # e^(−kδ): 7× for BTC's defaults.)
        reach = rng.exponential(1.0 / p.depth_decay_per_usd, nt)
        tmid = mid[seg]
        px_buy = np.floor((tmid + reach) / tick + 1e-9)
        px_sell = np.maximum(np.ceil((tmid - reach) / tick - 1e-9), 1.0)  # one tick at least
        # ... on the grid the price rule needs at the print's price (a multiple of a coarser grid passes below it)
        g = self._grid(px_buy * tick)
        if np.ndim(g) or g != 1.0:
            px_buy = np.floor(px_buy / g + 1e-9) * g
        px_buy = np.maximum(ba_i[seg], px_buy)
        g = self._grid(px_sell * tick)
        if np.ndim(g) or g != 1.0:
            px_sell = np.ceil(px_sell / g - 1e-9) * g
        px_sell = np.maximum(np.minimum(bb_i[seg], px_sell), 1.0)
        trade_px = np.round(np.where(side > 0, px_buy, px_sell) * tick, self._px_dec)
        trade_sz = self._to_lots(rng.lognormal(math.log(p.trade_size_median), p.trade_size_log_std, nt))

        # Merge by time; a BOOK event goes first on a tie.
        t_all = np.concatenate([starts, tt])
        kind = np.concatenate([np.full(n, BOOK, np.int8), np.full(nt, TRADE, np.int8)])
        idx = np.concatenate([np.arange(n, dtype=np.int32), np.arange(nt, dtype=np.int32)])
        order = np.lexsort((kind, t_all))
        self._t, self._k = t1, kl
        self._drop_draws_before(kl - 1)  # keep kl-1: a chunk starting off-grid needs its step's alpha
        return MarketChunk(
            t=t_all[order], kind=kind[order], idx=idx[order], bid_px=bid_px, bid_sz=bid_sz, ask_px=ask_px,
            ask_sz=ask_sz, trade_px=trade_px, trade_sz=trade_sz, trade_side=side, trade_informed=informed,
            mid=np.concatenate([mid, tmid])[order], regime=np.concatenate([regime, regime[seg]])[order],
            t_start=t0, t_end=t1)

    def _chunk_span(self) -> float:
        """Seconds the next chunk spans: chunk_seconds, or less when that many would hold more than
        MAX_CHUNK_CELLS on average (in the busier regime, with the parameters in effect)."""
        p = self.p
        per_s = max(p.trade_rate_calm_per_s, p.trade_rate_stressed_per_s) + p.levels / self._dt
        return min(self.chunk_seconds, MAX_CHUNK_CELLS / per_s)

    def _ladders(self, below: np.ndarray, above: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray]:
        """Each event's bid and ask prices, in ticks (events × levels): the best bid the highest price the venue
        takes at or below ``below``, the best ask the lowest at or above ``above`` (and above the bid), each next
        level the next price it takes. Which prices it takes depends on the price's own significant figures
        (``_grid``), so a book across a power of ten lists its bids below it on their finer grid: on one grid for
        the whole book, the one the deepest ask needed, a bid at 99.99 stood where the venue takes 99.999 (a tick
        of 0.001) and the book listed a tenth of its prices there."""
        tick = self.tick
        step = self._grid(above + levels * tick)  # the grid the deepest ask's price needs, nearly always all's
        if np.ndim(step) == 0:
            lo = float(below.min()) - (levels + 1) * step * tick
            hi = float(above.max()) + (levels + 1) * step * tick
            span = self._grid(np.array([lo, hi]))
            if np.ndim(span) == 0 and span == step:  # (one grid from the deepest bid to the deepest ask)
                bb = np.floor(below / (step * tick) + 1e-9) * step
                ba = np.maximum(np.ceil(above / (step * tick) - 1e-9) * step, bb + step)
                lv_ticks = step * np.arange(levels)
                return bb[:, None] - lv_ticks, ba[:, None] + lv_ticks
        bid = np.empty((below.size, levels))
        ask = np.empty((below.size, levels))
        bid[:, 0] = self._next_taken(np.floor(below / tick + 1e-9) + 1.0, up=False)  # the highest at or below
        ask[:, 0] = np.maximum(self._next_taken(np.ceil(above / tick - 1e-9) - 1.0, up=True),
                               self._next_taken(bid[:, 0], up=True))
        for i in range(1, levels):
            bid[:, i] = self._next_taken(bid[:, i - 1], up=False)
            ask[:, i] = self._next_taken(ask[:, i - 1], up=True)
        return bid, ask

    def _next_taken(self, ticks: np.ndarray, up: bool) -> np.ndarray:
        """The nearest price (in ticks) the venue takes above (``up``) or below each of ``ticks`` (whole numbers):
        the next multiple of its power of ten's grid (``_grid_at``), or past that power the first price the next
        one's grid has. Not one grid step from the price: a tick that does not divide the power of ten (0.3 at
        10000, where the venue takes 9999.9, then 10002) put the step from 9999.9 at 10000.2, which it refuses.
        Below one tick (bids at or below zero, never listed) the ladder goes on a tick at a time."""
        if up:
            e = self._decade(np.maximum(ticks, 1.0))
            g = self._grids_of(e)
            out = (np.floor(ticks / g) + 1.0) * g
            edge = np.array([self._pow_ticks(int(k)) for k in range(int(e.min()) + 1, int(e.max()) + 2)])
            past = out >= edge[e - e.min()]  # at or past 10^(e+1): its first price on the grid there
            if past.any():
                g1 = self._grids_of(e[past] + 1)
                out[past] = np.ceil(edge[e[past] - e.min()] / g1) * g1
            return out
        low = ticks <= 1.0
        e = self._decade(np.maximum(ticks - 1.0, 1.0))  # the power of ten of the prices under it
        g = self._grids_of(e)
        out = (np.ceil(ticks / g) - 1.0) * g
        edge = np.array([self._pow_ticks(int(k)) for k in range(int(e.min()), int(e.max()) + 1)])
        under = (out < edge[e - e.min()]) & ~low  # below 10^e: the last price on the grid under it
        if under.any():
            g0 = self._grids_of(e[under] - 1)
            out[under] = np.floor((edge[e[under] - e.min()] - 1.0) / g0) * g0
        out[low] = ticks[low] - 1.0
        return out

    def _grids_of(self, exponents: np.ndarray) -> np.ndarray:
        """``_grid_at`` of each power of ten."""
        values, where = np.unique(exponents, return_inverse=True)
        return np.array([self._grid_at(int(k)) for k in values])[where]

    def _pow_ticks(self, exponent: int) -> float:
        """The fewest ticks whose price is at least 10^exponent (exact: the tick need not divide it)."""
        n = self._pows.get(exponent)
        if n is None:
            n = self._pows[exponent] = float(math.ceil(Decimal(10) ** exponent / Decimal(repr(self.tick))))
        return n

    def _decade(self, ticks: np.ndarray) -> np.ndarray:
        """The power of ten e of each price (10^e ≤ price < 10^(e+1)), ``ticks`` ≥ 1, found exactly against the
        ticks of the powers of ten: log10 alone puts a price a rounding under 100 below it."""
        e = np.floor(np.log10(ticks * self.tick)).astype(np.int64)
        k0 = int(e.min()) - 1
        pw = np.array([self._pow_ticks(k) for k in range(k0, int(e.max()) + 3)])  # 10^k's ticks at k0 + its index
        return e + (ticks >= pw[e - k0 + 1]) - (ticks < pw[e - k0])

    def _grid(self, px: np.ndarray) -> np.ndarray | float:
        """Ticks between the prices the venue takes at ``px``, 1 unless its price rule needs more: past a power of
        ten a price has a digit more, and 5 significant figures (hyperliquid.md §3.4) allow a coarser grid there
        (0.01 from 100 on, for a coin whose tick is 0.001). A book takes the grid its deepest ask needs: one whose
        mid had drifted from 99.9 past 100 listed 100.001, which the venue, and the twin's own order check,
        refuse. Integers always pass."""
        if px.size == 0:
            return 1.0
        lo, hi = (self._grid_at(math.floor(math.log10(max(float(x), self.tick)))) for x in (px.min(), px.max()))
        if lo == hi:  # (the grid grows with the price: one grid for all, as nearly always, a number)
            return lo
        exponent = np.floor(np.log10(np.maximum(px, self.tick))).astype(np.int64)
        values, where = np.unique(exponent, return_inverse=True)
        return np.array([self._grid_at(int(e)) for e in values])[where]

    def _grid_at(self, exponent: int) -> float:
        """``grid_ticks`` on this coin's tick, kept per power of ten."""
        m = self._grids.get(exponent)
        if m is None:
            m = self._grids[exponent] = grid_ticks(self.tick, exponent)
        return m

    def _price_noise(self, side: int, ticks: np.ndarray, t: np.ndarray, tilt: np.ndarray) -> np.ndarray:
        """The noise on the size at each listed price (``ticks``: events × levels, in ticks) at BOOK events ``t``:
        a price keeps its noise from one event to the next unless redrawn (Poisson, rate 1/depth_refresh_s), and
        draws it afresh (log-normal, times the event's ``tilt``) when it was not listed on this side at the event
        before. Vectorised: the cells sorted by price, then event; a run of one price's consecutive events takes
        its latest draw's noise."""
        n, m = ticks.shape
        ticks = ticks.astype(np.int64)
        last = self._noise_last[side]
        value = np.empty((n + (last is not None), m))
        if last is not None:  # the event before this chunk's first leads each run on from it, its noise given
            t = np.concatenate([[last[0]], t])
            ticks = np.concatenate([last[1][None, :], ticks])
            value[0] = last[2]
            tilt = np.concatenate([[1.0], tilt])
        rows = ticks.shape[0]
        event = np.repeat(np.arange(rows), m)
        flat = ticks.ravel()
        low = flat.min()
        if flat.max() - low < 65_536:
            # the cells are in event order, so a stable sort by price alone sorts them by (price, event): on
            # 16-bit keys numpy's stable sort is a radix sort, linear (lexsort's two keys cost twice the market)
            order = np.argsort((flat - low).astype(np.uint16), kind="stable")
        else:
            order = np.lexsort((event, flat))
        px_s, ev_s = flat[order], event[order]
        kept = np.zeros(order.size, dtype=bool)  # listed on this side at the event before, and not redrawn
        kept[1:] = (px_s[1:] == px_s[:-1]) & (ev_s[1:] == ev_s[:-1] + 1)
        k = np.flatnonzero(kept)
        redraw = -np.expm1(-np.diff(t) / self.p.depth_refresh_s)  # per event (after the first): P(redrawn since)
        kept[k] = self._rng.random(k.size) >= redraw[ev_s[k] - 1]
        value = value.ravel()[order]
        fresh = ~kept if last is None else ~kept & (ev_s > 0)
        value[fresh] = tilt[ev_s[fresh]] * self._rng.lognormal(0.0, self.p.depth_noise_log_std, int(fresh.sum()))
        src = np.maximum.accumulate(np.where(kept, 0, np.arange(order.size)))  # each cell's latest draw
        out = np.empty(order.size)
        out[order] = value[src]
        out = out.reshape(rows, m)[rows - n:]
        self._noise_last[side] = (float(t[-1]), ticks[-1].copy(), out[-1].copy())
        return out

    def _to_lots(self, x: np.ndarray) -> np.ndarray:
        """Round sizes to the lot grid, at least one lot."""
        return np.round(np.maximum(np.round(x / self.lot), 1.0) * self.lot, self._sz_dec)
