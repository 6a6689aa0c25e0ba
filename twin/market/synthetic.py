"""The embedded synthetic market: regime-switching jump-diffusion mid, an L2 book, informed flow.

Model (all per chunk, vectorised):
- regime: a two-state continuous-time Markov chain, calm (0) and stressed (1); stressed has more
  volatility, more jumps, a wider spread, a thinner book and more trades;
- a latent alpha a(t), an Ornstein-Uhlenbeck process in log-return per second, drives the mid's
  drift and tilts the book's depth, so book imbalance and momentum carry real information;
- log mid: (drift_coupling · a) dt + σ_regime dW + Poisson jumps, on a ``book_interval_s`` grid;
- trades: Poisson arrivals; a share ``informed_share`` is informed (it buys when the mid is about to
  rise over ``informed_horizon_s``) and moves the mid ``impact_bps`` its way, so trade-flow
  imbalance predicts returns and makers suffer adverse selection; the rest pick a side at random
  (tilted by ``flow_coupling``·a);
- trade depth: each aggressor reaches δ ~ Exp(k) beyond the mid (k = ``depth_decay_k`` per price
  unit), so an order resting δ from the mid is reached by one side's trades at rate A·e^(−kδ),
  A = half the trade rate: the arrival model GLFT assumes.

Defaults resemble BTC on Hyperliquid (approximate public figures, 2025-26): price ~$100k, tick $1
(5 significant figures), 20 levels a side with a one-tick spread most of the time, daily
volatility ~2.5% when calm, a few trades per second, daily volume of a few $B (4 trades/s ×
~0.06 BTC mean size ≈ $2B/day).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.signal import lfilter

from twin.market.base import BOOK, TRADE, MarketChunk, Shock

SHOCK_PARAMS = ("informed_share", "flow_coupling", "book_coupling", "drift_coupling", "impact_bps",
                "trade_rate_calm", "trade_rate_stressed", "vol_calm_per_sqrt_s", "vol_stressed_per_sqrt_s")


class SyntheticMarketParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mid0: float = Field(100_000.0, gt=0, description="Starting mid price.")
    book_interval_s: float = Field(0.1, gt=0, description="Grid of the mid path and of book updates, s.")
    levels: int = Field(20, ge=1, le=50, description="Book levels per side (the venue shows 20).")
    vol_calm_per_sqrt_s: float = Field(8.5e-5, ge=0, description="Log-return volatility per √s, calm "
                                                                 "(2.5% a day = 0.025/√86400).")
    vol_stressed_per_sqrt_s: float = Field(2.5e-4, ge=0, description="Log-return volatility per √s, stressed.")
    calm_to_stressed_per_s: float = Field(1 / 7200, ge=0, description="Regime switch rate calm → stressed, 1/s.")
    stressed_to_calm_per_s: float = Field(1 / 900, ge=0, description="Regime switch rate stressed → calm, 1/s.")
    jump_rate_calm_per_s: float = Field(1 / 21600, ge=0, description="Jump rate when calm, 1/s.")
    jump_rate_stressed_per_s: float = Field(1 / 1200, ge=0, description="Jump rate when stressed, 1/s.")
    jump_std: float = Field(0.003, ge=0, description="Std of a jump in log price.")
    trade_rate_calm: float = Field(4.0, ge=0, description="Trades per second (both sides), calm.")
    trade_rate_stressed: float = Field(12.0, ge=0, description="Trades per second (both sides), stressed.")
    trade_size_median: float = Field(0.03, gt=0, description="Median trade size, coin.")
    trade_size_sigma: float = Field(1.2, ge=0, description="Log-normal shape of trade sizes.")
    depth_decay_k: float = Field(2.0, gt=0, description="k of λ(δ)=A·e^(−kδ), per price unit (BTC: per USD).")
    half_spread_ticks_calm: float = Field(0.0, ge=0, description="Extra half spread beyond the tick-rounded mid, ticks, calm (0: a one-tick spread).")
    half_spread_ticks_stressed: float = Field(3.0, ge=0, description="Half spread in ticks, stressed.")
    depth_at_touch: float = Field(0.5, gt=0, description="Median displayed size at the best level, coin.")
    depth_growth: float = Field(0.15, ge=0, description="Depth grows by this fraction per level away from touch.")
    depth_noise: float = Field(0.4, ge=0, description="Log-normal noise of level sizes.")
    depth_factor_stressed: float = Field(0.4, gt=0, description="Depth multiplier when stressed (thinner book).")
    alpha_halflife_s: float = Field(30.0, gt=0, description="Half-life of the latent alpha, s.")
    alpha_std: float = Field(1e-5, ge=0, description="Stationary std of alpha, log-return per s.")
    drift_coupling: float = Field(1.0, ge=0, description="How much alpha drives the mid's drift (0 = none).")
    book_coupling: float = Field(0.3, ge=0, description="Book depth tilt per std of alpha (0 = imbalance is noise).")
    flow_coupling: float = Field(0.0, ge=0, description="Uninformed side tilt per std of alpha.")
    informed_share: float = Field(0.15, ge=0, le=1, description="Share of trades that know the next move.")
    informed_horizon_s: float = Field(5.0, gt=0, description="How far ahead informed traders see, s.")
    impact_bps: float = Field(0.2, ge=0, description="Permanent impact of an informed trade, bps.")

    @classmethod
    def thin_hip3(cls) -> "SyntheticMarketParams":
        """A thin HIP-3 style market: price ~1, few trades, a thin and wide book (use tick 1e-4, lot 0.1)."""
        return cls(mid0=1.0, trade_rate_calm=0.2, trade_rate_stressed=0.8, trade_size_median=200.0,
                   depth_decay_k=2000.0, half_spread_ticks_calm=3.0, half_spread_ticks_stressed=10.0,
                   depth_at_touch=500.0, vol_calm_per_sqrt_s=2.0e-4, vol_stressed_per_sqrt_s=6.0e-4)


def _decimals(x: float) -> int:
    """Decimals needed to print a tick or lot (0.0001 → 4; 1.0 → 0)."""
    return max(0, -int(math.floor(math.log10(x) + 1e-9)))


class SyntheticMarket:
    """A never-ending synthetic market for one coin. Deterministic given params, rng and shocks."""

    def __init__(self, params: SyntheticMarketParams, rng: np.random.Generator, *, coin: str = "BTC",
                 tick: float = 1.0, lot: float = 1e-5, shocks: Sequence[Shock] = (),
                 chunk_seconds: float = 10.0) -> None:
        self.p = params
        self.rng = rng
        self.coin = coin
        self.tick = tick
        self.lot = lot
        self._px_dec = _decimals(tick)
        self._sz_dec = _decimals(lot)
        self.chunk_seconds = chunk_seconds
        for s in shocks:
            if s.kind == "param" and s.name not in SHOCK_PARAMS:
                raise ValueError(f"shock at t={s.t}: unknown market parameter {s.name!r}; known: {SHOCK_PARAMS}")
        self._shocks = sorted(shocks, key=lambda s: s.t)
        self._next_shock = 0
        self._t = 0.0
        self._logmid = math.log(params.mid0)
        self._alpha = 0.0
        self._regime = 0
        self._next_switch = self._draw_switch(0.0)
        self._forced: tuple[float, float, int] | None = None

    def _draw_switch(self, t: float) -> float:
        rate = self.p.calm_to_stressed_per_s if self._regime == 0 else self.p.stressed_to_calm_per_s
        return t + float(self.rng.exponential(1.0 / rate)) if rate > 0 else math.inf

    def _apply_shocks(self, t: float) -> None:
        while self._next_shock < len(self._shocks) and self._shocks[self._next_shock].t <= t + 1e-12:
            s = self._shocks[self._next_shock]
            self._next_shock += 1
            if s.kind == "price_jump":
                self._logmid += math.log1p(s.value)
            elif s.kind == "regime":
                self._forced = (s.t, s.t + s.duration_s, int(s.value))
            else:
                self.p = self.p.model_copy(update={s.name: s.value})

    def next_chunk(self) -> MarketChunk:
        p = self.p
        rng = self.rng
        t0 = self._t
        self._apply_shocks(t0)
        p = self.p
        t1 = t0 + self.chunk_seconds
        if self._next_shock < len(self._shocks):
            t1 = min(t1, max(self._shocks[self._next_shock].t, t0 + 1e-9))
        dt = p.book_interval_s
        n = max(1, int(math.ceil((t1 - t0) / dt - 1e-9)))
        grid = t0 + dt * np.arange(n)

        # regime on the grid: the chain, then any forced window
        regime = np.empty(n, dtype=np.int8)
        start = 0
        while True:
            k = int(np.searchsorted(grid, self._next_switch, side="left"))
            if k >= n:
                regime[start:] = self._regime
                break
            regime[start:k] = self._regime
            start = k
            self._regime = 1 - self._regime
            self._next_switch = self._draw_switch(self._next_switch)
        if self._forced is not None:
            f0, f1, fr = self._forced
            regime[(grid >= f0) & (grid < f1)] = fr
            if f1 <= t1:
                self._forced = None
        stressed = regime == 1

        # alpha: exact AR(1) discretisation of the OU process
        phi = math.exp(-math.log(2.0) * dt / p.alpha_halflife_s)
        innov = rng.standard_normal(n) * (p.alpha_std * math.sqrt(1.0 - phi * phi))
        alpha, _ = lfilter([1.0], [1.0, -phi], innov, zi=[phi * self._alpha])
        self._alpha = float(alpha[-1])

        vol = np.where(stressed, p.vol_stressed_per_sqrt_s, p.vol_calm_per_sqrt_s)
        jump_rate = np.where(stressed, p.jump_rate_stressed_per_s, p.jump_rate_calm_per_s)
        jumps = (rng.random(n) < jump_rate * dt) * rng.normal(0.0, p.jump_std, n)
        incr = p.drift_coupling * alpha * dt + vol * math.sqrt(dt) * rng.standard_normal(n) + jumps
        # the grid point i holds the mid after step i
        base = self._logmid + np.cumsum(incr)

        # trades: Poisson counts per step, uniform times within the step
        rate = np.where(stressed, p.trade_rate_stressed, p.trade_rate_calm)
        counts = rng.poisson(rate * dt)
        nt = int(counts.sum())
        step = np.repeat(np.arange(n), counts)
        tt = grid[step] + rng.random(nt) * dt
        tt = np.minimum(tt, np.nextafter(t1, -np.inf))
        order = np.argsort(tt, kind="stable")
        tt = tt[order]
        step = step[order]
        h = max(1, int(round(p.informed_horizon_s / dt)))
        ahead = np.minimum(step + h, n - 1)
        future = base[ahead] - base[step]
        future_sign = np.where(ahead > step, np.sign(future), np.sign(alpha[step]))
        informed = rng.random(nt) < p.informed_share
        a_std = alpha[step] / p.alpha_std if p.alpha_std > 0 else np.zeros(nt)
        p_buy = 1.0 / (1.0 + np.exp(-p.flow_coupling * a_std))
        side = np.where(rng.random(nt) < p_buy, 1, -1).astype(np.int8)
        inf_side = np.where(future_sign == 0, side, future_sign).astype(np.int8)
        side = np.where(informed, inf_side, side).astype(np.int8)
        # informed impact, applied from the next grid point on
        impact = np.zeros(n)
        if nt and p.impact_bps > 0:
            np.add.at(impact, np.minimum(step[informed] + 1, n - 1), side[informed] * p.impact_bps * 1e-4)
        logmid = base + np.cumsum(impact)
        self._logmid = float(logmid[-1])
        mid = np.exp(logmid)
        if self._logmid != self._logmid:
            raise FloatingPointError("synthetic mid became NaN")

        # book on the grid
        tick = self.tick
        hs = np.where(stressed, p.half_spread_ticks_stressed, p.half_spread_ticks_calm) * tick
        bb_i = np.floor((mid - hs) / tick + 1e-9)
        ba_i = np.ceil((mid + hs) / tick - 1e-9)
        ba_i = np.maximum(ba_i, bb_i + 1)
        L = p.levels
        lv = np.arange(L)
        bid_px = np.round((bb_i[:, None] - lv) * tick, self._px_dec)
        ask_px = np.round((ba_i[:, None] + lv) * tick, self._px_dec)
        depth = p.depth_at_touch * (1.0 + p.depth_growth * lv)
        depth_f = np.where(stressed, p.depth_factor_stressed, 1.0)[:, None]
        tilt = p.book_coupling * (alpha / p.alpha_std if p.alpha_std > 0 else np.zeros(n))
        noise_b = rng.lognormal(0.0, p.depth_noise, (n, L)) if p.depth_noise > 0 else 1.0
        noise_a = rng.lognormal(0.0, p.depth_noise, (n, L)) if p.depth_noise > 0 else 1.0
        bid_sz = self._lots(depth * depth_f * np.exp(tilt)[:, None] * noise_b)
        ask_sz = self._lots(depth * depth_f * np.exp(-tilt)[:, None] * noise_a)

        # trade prints: the worst level the aggressor reached, never inside the spread
        reach = rng.exponential(1.0 / p.depth_decay_k, nt)
        tmid = mid[step]
        buy = side > 0
        px_buy = np.maximum(ba_i[step], np.ceil((tmid + reach) / tick - 1e-9))
        px_sell = np.minimum(bb_i[step], np.floor((tmid - reach) / tick + 1e-9))
        trade_px = np.round(np.where(buy, px_buy, px_sell) * tick, self._px_dec)
        sizes = rng.lognormal(math.log(p.trade_size_median), p.trade_size_sigma, nt) if nt else np.zeros(0)
        trade_sz = self._lots(sizes)

        # merge book and trade events by time (a book update first on a tie)
        t_all = np.concatenate([grid, tt])
        kind = np.concatenate([np.full(n, BOOK, np.int8), np.full(nt, TRADE, np.int8)])
        idx = np.concatenate([np.arange(n, dtype=np.int32), np.arange(nt, dtype=np.int32)])
        order = np.lexsort((kind, t_all))
        mids = np.concatenate([mid, tmid])[order]
        regimes = np.concatenate([regime, regime[step]])[order]
        self._t = t1
        return MarketChunk(t=t_all[order], kind=kind[order], idx=idx[order], bid_px=bid_px, bid_sz=bid_sz,
                           ask_px=ask_px, ask_sz=ask_sz, trade_px=trade_px, trade_sz=trade_sz, trade_side=side,
                           trade_informed=informed, mid=mids, regime=regimes, t_start=t0, t_end=t1)

    def _lots(self, x: np.ndarray) -> np.ndarray:
        """Round sizes to the lot, at least one lot."""
        return np.round(np.maximum(np.round(x / self.lot), 1.0) * self.lot, self._sz_dec)
