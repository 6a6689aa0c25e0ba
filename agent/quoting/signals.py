"""Alpha signals: each a probability that the mid is higher after its horizon, and a bounded shift.

A probability (not a raw score) so validation can score it (Brier, calibration) against what the
mid did over ``horizon_s``. Each signal keeps a logit updated on its event; without news the logit
decays by half every ``halflife`` seconds, so ``p_up`` returns to 0.5. The price adjustment is
``clip(coef·(p_up − 0.5), ±max_adj)`` in bps of the mid. O(1) per update, nothing allocated.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

from pydantic import Field, field_validator

from common.files import FileModel

SIGNAL_NAMES = ("book_imbalance", "trade_flow", "momentum")
# Cap on an unbounded logit (momentum's z after a jump): p_up stays within 1e-5 of 0 and 1, so a
# log-loss or calibration fit never sees an exact 0 or 1.
_MAX_LOGIT = 11.5
# The shortest half-life a config may give, s: a subnormal one (1e-320 is > 0) underflowed momentum's variance to 0
# and stopped the run on a ZeroDivisionError at the first book update.
MIN_HALFLIFE_S = 1e-6
MAX_WEIGHT = 1000.0  # a signal's configured blend weight at most (1 as shipped): past it, a typo


class SignalConfig(FileModel):
    horizon_s: float = Field(5.0, ge=0.01, le=3600.0,
                             description="Horizon each signal's p_up refers to, s (validation scores at it).")
    adj_coef_bps: float = Field(1.0, ge=0, le=1e4, description=(
        "Price adjustment per unit of (p_up − 0.5), bps of mid, before the clip (1.0 reaches 0.5 bps at p_up = 1)."))
    max_adj_bps: float = Field(0.5, ge=0, le=1e4, description="Largest price shift one signal may cause, bps of mid.")
    book_levels: int = Field(5, ge=1, le=100, description="Top levels a side summed for book imbalance.")
    book_level_decay: float = Field(1.0, ge=0.01, le=1, description=(
        "Weight of level i in the imbalance is decay**i (1 = plain sum; < 1 favours the touch)."))
    book_slope: float = Field(1.5, ge=0, le=1000.0, description="Logistic slope on book imbalance (−1..1).")
    book_halflife_s: float = Field(5.0, ge=MIN_HALFLIFE_S, le=1e10, description=(
        "Half-life of the book logit toward 0 without book updates, s."))
    flow_halflife_s: float = Field(5.0, ge=MIN_HALFLIFE_S, le=1e10, description=(
        "Half-life of the signed and total trade-volume EWMAs, s."))
    flow_slope: float = Field(2.0, ge=0, le=1000.0,
                              description="Logistic slope on the flow imbalance signed/total (−1..1).")
    flow_prior_volume: float = Field(0.0, ge=0, le=1e12, description=(
        "Pseudo-volume added to the total, coin: a lone small trade after silence then reads as a weak imbalance."))
    momentum_halflife_s: float = Field(5.0, ge=MIN_HALFLIFE_S, le=1e10, description=(
        "Half-life of the EWMA of mid log returns, s."))
    momentum_vol_halflife_s: float = Field(60.0, ge=MIN_HALFLIFE_S, le=1e10, description=(
        "Half-life of the squared-return EWMA that normalises momentum, s (longer than the momentum's, "
        "so a trend does not normalise itself away)."))
    momentum_slope: float = Field(0.5, ge=0, le=1000.0, description=(
        "Logistic slope on the momentum z-score (the EWMA return over its standard deviation without drift)."))
    weights: dict[str, float] = Field(
        default_factory=lambda: {name: 1.0 for name in SIGNAL_NAMES},
        description="Initial blend weight per signal name (validation changes them at runtime; 0 retires); a "
                    "signal not named keeps 1.")

    @field_validator("weights")
    @classmethod
    def _known_names(cls, v: dict[str, float]) -> dict[str, float]:
        """Every signal's weight, those not given at 1 as shipped: the blend ran them at 1 already, and now the
        config says so (a run's saved config and --show-config listed only the names a file gave)."""
        for name, w in v.items():
            if name not in SIGNAL_NAMES:
                raise ValueError(f"unknown signal {name!r}; known: {', '.join(SIGNAL_NAMES)}")
            check_weight(name, w)
        return {name: v.get(name, 1.0) for name in SIGNAL_NAMES}


def check_weight(name: str, weight: float) -> None:
    """A signal's blend weight, from the config or set at runtime, from 0 to ``MAX_WEIGHT``: one bound for both (the
    runtime's weight is the configured one times validation's verdict, at most 1), or ValueError naming the signal
    and the value. 1e300 scaled a signal's pull out of all measure; NaN and inf are refused with it."""
    if not (0.0 <= weight <= MAX_WEIGHT):
        raise ValueError(f"weight of signal {name!r} must be from 0 to {MAX_WEIGHT:g}, got {weight!r}")


def _logistic(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class _LogitSignal:
    """Common part: a logit set at ``ts`` that halves every ``halflife`` seconds after it."""

    __slots__ = ("name", "horizon_s", "halflife", "coef_frac", "max_frac", "logit", "ts")

    def __init__(self, name: str, cfg: SignalConfig, halflife: float) -> None:
        self.name = name
        self.horizon_s = cfg.horizon_s
        self.halflife = halflife
        self.coef_frac = cfg.adj_coef_bps * 1e-4
        self.max_frac = cfg.max_adj_bps * 1e-4
        self.logit = 0.0
        self.ts = -math.inf  # time of the last update

    def p_up(self, ts: float) -> float:
        """P(mid higher after ``horizon_s``), in (0, 1); 0.5 before any update."""
        age = ts - self.ts
        if age <= 0.0:
            return _logistic(self.logit)
        return _logistic(self.logit * 0.5 ** (age / self.halflife))

    def adjustment(self, ts: float, mid: float) -> float:
        """Shift of the quote centre, price units: + when the mid is expected up."""
        a = self.coef_frac * (self.p_up(ts) - 0.5)
        m = self.max_frac
        return (m if a > m else -m if a < -m else a) * mid


_logit_adjustment = _LogitSignal.adjustment
_logit_p_up = _LogitSignal.p_up
_exp = math.exp


class BookImbalanceSignal(_LogitSignal):
    """(bid depth − ask depth)/(sum) over the top levels: resting pressure ahead of the move."""

    __slots__ = ("levels", "level_decay", "slope")

    def __init__(self, cfg: SignalConfig) -> None:
        super().__init__("book_imbalance", cfg, cfg.book_halflife_s)
        self.levels = cfg.book_levels
        self.level_decay = cfg.book_level_decay
        self.slope = cfg.book_slope

    def update(self, ts: float, bids: Sequence[tuple[float, float]], asks: Sequence[tuple[float, float]]) -> None:
        """A book snapshot; levels best first, each (px, sz)."""
        n = self.levels
        g = self.level_decay
        b = a = 0.0
        # (every book update: the levels iterated, not indexed, and at a decay of 1, as shipped, without the weight,
        # which is then 1.0 at every level, and 1.0·sz is sz to the bit, nan and -0.0 alike. Indexed through range
        # and weighted, the signals' updates ran 382 of a stress book update's 1,895 bytecodes, 292 so: bench_bytecodes)
        if g == 1.0:
            for lv in bids[:n]:
                b += lv[1]
            for lv in asks[:n]:
                a += lv[1]
        else:
            w = 1.0
            for lv in bids[:n]:
                b += w * lv[1]
                w *= g
            w = 1.0
            for lv in asks[:n]:
                a += w * lv[1]
                w *= g
        tot = b + a
        self.logit = self.slope * (b - a) / tot if tot > 0.0 else 0.0
        self.ts = ts


class TradeFlowSignal(_LogitSignal):
    """EWMA of signed traded size over EWMA of total size: who is taking liquidity."""

    __slots__ = ("signed", "total", "slope", "prior")

    def __init__(self, cfg: SignalConfig) -> None:
        super().__init__("trade_flow", cfg, cfg.flow_halflife_s)
        self.signed = 0.0  # coin, + bought by aggressors
        self.total = 0.0  # coin
        self.slope = cfg.flow_slope
        self.prior = cfg.flow_prior_volume

    def update(self, ts: float, side: int, sz: float) -> None:
        """A public trade: ``side`` is the aggressor (+1 buy, −1 sell), ``sz`` in coin."""
        if ts > self.ts and self.total > 0.0:
            f = 0.5 ** ((ts - self.ts) / self.halflife)
            self.signed *= f
            self.total *= f
        self.signed += sz if side > 0 else -sz
        self.total += sz
        den = self.total + self.prior
        self.logit = self.slope * self.signed / den if den > 0.0 else 0.0
        if ts > self.ts:
            self.ts = ts


class MomentumSignal(_LogitSignal):
    """EWMA of mid log returns as a z-score against a slower volatility EWMA: trends persist briefly.

    Without drift the fast EWMA return Σ e^(−age/τf)·r has variance σ²·τf/2 (per-second σ²), and
    σ² is estimated as the slow decayed Σ r² (returns before the newest) over its decayed elapsed
    time; the logit is slope·z.
    """

    __slots__ = ("ret", "sum_sq", "tau_f", "tau_s", "t0", "last_mid", "slope")

    def __init__(self, cfg: SignalConfig) -> None:
        super().__init__("momentum", cfg, cfg.momentum_halflife_s)
        self.tau_f = cfg.momentum_halflife_s / math.log(2.0)
        self.tau_s = cfg.momentum_vol_halflife_s / math.log(2.0)
        self.ret = 0.0  # fast decayed Σ r, log units
        self.sum_sq = 0.0  # slow decayed Σ r²
        self.t0 = math.nan
        self.last_mid = math.nan
        self.slope = cfg.momentum_slope

    def update(self, ts: float, mid: float) -> None:
        """A new mid (any cadence)."""
        if not (0.0 < mid < math.inf):
            return
        if self.t0 != self.t0:
            self.t0 = ts
            self.ts = ts
            self.last_mid = mid
            return
        age = ts - self.ts
        if age < 0.0:
            return  # out of order
        r = math.log(mid / self.last_mid)
        self.ret = self.ret * math.exp(-age / self.tau_f) + r
        prev_sq = self.sum_sq * math.exp(-age / self.tau_s)
        self.sum_sq = prev_sq + r * r
        self.last_mid = mid
        self.ts = ts
        t = ts - self.t0
        if prev_sq > 0.0 and t > 0.0:
            # σ² per s from the returns BEFORE this one: the normaliser does not grow with the
            # move it normalises, so p_up is monotone in the newest return
            var_rate = prev_sq / (self.tau_s * -math.expm1(-t / self.tau_s))
            var_ret = var_rate * 0.5 * self.tau_f * -math.expm1(-2.0 * t / self.tau_f)
            z = self.slope * self.ret / math.sqrt(var_ret)
            self.logit = _MAX_LOGIT if z > _MAX_LOGIT else -_MAX_LOGIT if z < -_MAX_LOGIT else z
        else:
            self.logit = 0.0


class SignalContribution(NamedTuple):
    """One signal's part in a cycle, for the decision record; ``adjustment`` is unweighted."""

    name: str
    p_up: float
    weight: float
    adjustment: float  # price units


_tuple_new = tuple.__new__


class SignalBlend:
    """Σ weight·adjustment over signals; weights are set at runtime by validation (0 retires one)."""

    __slots__ = ("signals", "_w", "_index", "_inline")

    def __init__(self, signals: Sequence, weights: dict[str, float] | None = None) -> None:
        self.signals = list(signals)
        self._index = {s.name: i for i, s in enumerate(self.signals)}
        if len(self._index) != len(self.signals):
            raise ValueError(f"signal names must be unique, got {[s.name for s in self.signals]}")
        self._w = [1.0] * len(self.signals)
        # per signal: does it keep _LogitSignal's p_up and adjustment (parts then does them inline)? The signals are
        # fixed at construction, as their index by name is
        self._inline = [type(s).p_up is _logit_p_up and type(s).adjustment is _logit_adjustment
                        for s in self.signals]
        for name, w in (weights or {}).items():
            self.set_weight(name, w)

    @classmethod
    def from_config(cls, cfg: SignalConfig) -> "SignalBlend":
        """The three standard signals with the config's initial weights."""
        return cls([BookImbalanceSignal(cfg), TradeFlowSignal(cfg), MomentumSignal(cfg)], cfg.weights)

    def get(self, name: str):
        return self.signals[self._index[name]]

    @property
    def weights(self) -> dict[str, float]:
        return {s.name: w for s, w in zip(self.signals, self._w)}

    def set_weight(self, name: str, weight: float) -> None:
        """Weight from 0 to ``MAX_WEIGHT`` for a named signal, as the config's (``check_weight``); 0 silences
        (retires) it. An anti-predictive signal is retired, not inverted, so negative weights are refused."""
        i = self._index.get(name)
        if i is None:
            raise KeyError(f"no signal named {name!r}; known: {', '.join(self._index)}")
        check_weight(name, weight)
        self._w[i] = float(weight)

    def set_weights(self, weights: dict[str, float]) -> None:
        for name, w in weights.items():
            self.set_weight(name, w)

    def contributions(self, ts: float, mid: float) -> list[SignalContribution]:
        """(name, p_up, weight, unweighted adjustment) per signal, retired ones included."""
        return [_tuple_new(SignalContribution, c) for c in self.parts(ts, mid)]

    def parts(self, ts: float, mid: float) -> list[tuple[str, float, float, float]]:
        """``contributions`` as plain tuples, for the quote cycle (which only unpacks them). A signal that keeps
        ``_LogitSignal``'s ``p_up`` and ``adjustment`` has both done here, inline, with the same arithmetic in the
        same order (the same doubles): this runs every quote cycle, and the two calls a signal (three with
        ``_logistic``) were half its cost."""
        out = []
        push = out.append
        for s, w, inline in zip(self.signals, self._w, self._inline):
            if inline:
                age = ts - s.ts
                x = s.logit if age <= 0.0 else s.logit * 0.5 ** (age / s.halflife)
                if x >= 0.0:  # _logistic(x)
                    p = 1.0 / (1.0 + _exp(-x))
                else:
                    e = _exp(x)
                    p = e / (1.0 + e)
                a = s.coef_frac * (p - 0.5)
                m = s.max_frac
                push((s.name, p, w, (m if a > m else -m if a < -m else a) * mid))
            else:
                push((s.name, s.p_up(ts), w, s.adjustment(ts, mid)))
        return out

    def adjustment(self, ts: float, mid: float) -> float:
        """Σ w_i·adj_i, price units; retired signals are not evaluated."""
        total = 0.0
        for s, w in zip(self.signals, self._w):
            if w != 0.0:
                total += w * s.adjustment(ts, mid)
        return total
