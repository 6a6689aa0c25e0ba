"""Alpha signals: each a probability that the mid is higher after its horizon, and a bounded shift.

A probability (not a raw score) so validation can score it (Brier, calibration) against what
the mid did. The price adjustment is ``2·(p_up − 0.5)·max_adj``, so it never exceeds
``max_adj_bps`` of the mid. All are O(1) per update and decay toward 0.5 without news.
"""
from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field


class SignalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    horizon_s: float = Field(5.0, gt=0, description="Horizon each signal predicts over, s.")
    max_adj_bps: float = Field(0.5, ge=0, description="Largest price shift a signal may cause, bps of mid.")
    book_levels: int = Field(5, ge=1, description="Levels summed for book imbalance.")
    book_slope: float = Field(1.5, ge=0, description="Logistic slope on book imbalance (−1..1).")
    flow_halflife_s: float = Field(5.0, gt=0, description="Half-life of the signed trade-flow EWMA, s.")
    flow_slope: float = Field(2.0, ge=0, description="Logistic slope on normalised flow imbalance (−1..1).")
    momentum_halflife_s: float = Field(5.0, gt=0, description="Half-life of the momentum EWMA, s.")
    momentum_slope: float = Field(0.5, ge=0, description="Logistic slope on momentum in units of σ√horizon.")
    weights: dict[str, float] = Field(default_factory=lambda: {"book_imbalance": 1.0, "trade_flow": 1.0,
                                                               "momentum": 1.0},
                                      description="Initial blend weight per signal (validation changes them).")


def _logistic(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class _Signal:
    __slots__ = ("name", "horizon_s", "max_adj_frac", "value", "ts", "halflife")

    def __init__(self, name: str, cfg: SignalConfig, halflife: float) -> None:
        self.name = name
        self.horizon_s = cfg.horizon_s
        self.max_adj_frac = cfg.max_adj_bps * 1e-4
        self.value = 0.0  # the logit of p_up at ``ts``
        self.ts = -math.inf
        self.halflife = halflife

    def p_up(self, ts: float) -> float:
        age = ts - self.ts
        if age <= 0.0:
            return _logistic(self.value)
        return _logistic(self.value * 0.5 ** (age / self.halflife))

    def adjustment(self, ts: float, mid: float) -> float:
        return 2.0 * (self.p_up(ts) - 0.5) * self.max_adj_frac * mid


class BookImbalanceSignal(_Signal):
    """(bid depth − ask depth)/(sum) over the top levels: resting pressure ahead of the move."""

    __slots__ = ("levels", "slope")

    def __init__(self, cfg: SignalConfig) -> None:
        super().__init__("book_imbalance", cfg, cfg.horizon_s)
        self.levels = cfg.book_levels
        self.slope = cfg.book_slope

    def update(self, ts: float, bids, asks) -> None:
        n = self.levels
        b = 0.0
        for lv in bids[:n]:
            b += lv[1]
        a = 0.0
        for lv in asks[:n]:
            a += lv[1]
        self.value = self.slope * ((b - a) / (b + a)) if b + a > 0 else 0.0
        self.ts = ts


class TradeFlowSignal(_Signal):
    """EWMA of signed traded size over EWMA of total size: who is taking liquidity."""

    __slots__ = ("signed", "total", "slope")

    def __init__(self, cfg: SignalConfig) -> None:
        super().__init__("trade_flow", cfg, cfg.flow_halflife_s)
        self.signed = 0.0
        self.total = 0.0
        self.slope = cfg.flow_slope

    def update(self, ts: float, side: int, sz: float) -> None:
        if self.ts > -math.inf:
            f = 0.5 ** ((ts - self.ts) / self.halflife) if ts > self.ts else 1.0
            self.signed *= f
            self.total *= f
        self.signed += side * sz
        self.total += sz
        self.value = self.slope * self.signed / self.total if self.total > 0 else 0.0
        self.ts = ts


class MomentumSignal(_Signal):
    """EWMA of recent log returns, in units of the EWMA return scale: trends persist briefly."""

    __slots__ = ("ret", "var", "last_mid", "last_ts", "slope")

    def __init__(self, cfg: SignalConfig) -> None:
        super().__init__("momentum", cfg, cfg.momentum_halflife_s)
        self.ret = 0.0
        self.var = 0.0
        self.last_mid = math.nan
        self.last_ts = math.nan
        self.slope = cfg.momentum_slope

    def update(self, ts: float, mid: float) -> None:
        if self.last_mid == self.last_mid and mid > 0 and ts > self.last_ts:
            r = math.log(mid / self.last_mid)
            f = 0.5 ** ((ts - self.last_ts) / self.halflife)
            self.ret = f * self.ret + r
            self.var = f * self.var + r * r
            self.value = self.slope * self.ret / math.sqrt(self.var) if self.var > 0 else 0.0
            self.ts = ts
        if ts > self.last_ts or self.last_ts != self.last_ts:
            self.last_mid = mid
            self.last_ts = ts


class SignalBlend:
    """Σ weight·adjustment; weights are set at runtime by validation (0 retires a signal)."""

    __slots__ = ("signals", "weights")

    def __init__(self, signals: list, weights: dict[str, float] | None = None) -> None:
        self.signals = signals
        self.weights = {s.name: 1.0 for s in signals}
        if weights:
            self.weights.update(weights)

    def set_weight(self, name: str, weight: float) -> None:
        if name not in self.weights:
            raise KeyError(f"no signal named {name!r}")
        self.weights[name] = weight

    def contributions(self, ts: float, mid: float) -> list[tuple[str, float, float, float]]:
        """(name, p_up, weight, unweighted adjustment) per signal, for the decision record."""
        return [(s.name, s.p_up(ts), self.weights[s.name], s.adjustment(ts, mid)) for s in self.signals]

    def adjustment(self, ts: float, mid: float) -> float:
        return sum(self.weights[s.name] * s.adjustment(ts, mid) for s in self.signals)
