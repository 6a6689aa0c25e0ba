"""Position-at-risk (PaR): the loss the position could take over a short horizon at a confidence level.

    PaR_usd = |position| × mid × σ × √horizon_s × z(confidence)

with σ the log-return volatility per √s (the core's ``VolatilityEstimator.sigma_per_sqrt_s``) and
z the one-sided normal quantile (2.326 at 99%).

Size rule (``size_factor``, applied to risk-*increasing* size only; reducing quotes are never cut):
with u = PaR / max_par_usd,

    u ≤ soft_start         → 1            (plenty of budget)
    soft_start < u < 1     → (1 − u) / (1 − soft_start)   (linear taper to 0 at the limit)
    u ≥ 1                  → 0            (over budget: no new risk)

Unknown inputs (NaN mid or σ) give PaR = NaN, within = False, size_factor = 0: no new risk blind.
"""
from __future__ import annotations

import math
from statistics import NormalDist

from pydantic import Field

from common.files import FileModel
from agent.execution.reconcile import with_size


class RiskBudgetConfig(FileModel):
    horizon_s: float = Field(60.0, ge=0.01, le=86_400.0,
                             description="Horizon over which the position is held at risk, s "
                                         "(about how long flattening would take).")
    confidence: float = Field(0.99, gt=0.5, lt=1, description="One-sided confidence level of PaR.")
    max_par_usd: float = Field(500.0, ge=0.01, le=1e12,
                               description="PaR limit, USD: at or above it no new risk is added.")
    soft_start: float = Field(0.5, ge=0, lt=1, description="Fraction of max_par_usd at which new size starts "
                                                           "tapering linearly to zero at the limit.")


class RiskBudget:
    __slots__ = ("cfg", "z", "_scale", "_max_par", "_soft")

    def __init__(self, config: RiskBudgetConfig) -> None:
        self.cfg = config
        self.z = NormalDist().inv_cdf(config.confidence)
        self._scale = math.sqrt(config.horizon_s) * self.z
        self._max_par = config.max_par_usd  # (read every quote cycle, twice: the config is fixed for the budget's life)
        self._soft = config.soft_start

    def par_usd(self, position: float, mid: float, sigma: float) -> float:
        return abs(position) * mid * sigma * self._scale

    def check(self, position: float, mid: float, sigma: float) -> tuple[float, bool, float]:
        """(PaR in USD, within the limit, size factor for risk-increasing size). Every quote cycle asks: ``par_usd``
        is written out here."""
        par = abs(position) * mid * sigma * self._scale
        if par != par:
            return par, False, 0.0
        u = par / self._max_par
        if u >= 1.0:
            return par, u <= 1.0, 0.0
        s = self._soft
        return par, True, 1.0 if u <= s else (1.0 - u) / (1.0 - s)

    def position_cap(self, mid: float, sigma: float) -> float:
        """|position| at which PaR reaches the limit (inf when σ or mid is 0; 0 when unknown)."""
        per_unit = mid * sigma * self._scale
        if per_unit != per_unit:
            return 0.0
        return self._max_par / per_unit if per_unit > 0.0 else math.inf


def taper_increasing(quotes: list, factor: float, position: float, min_notional: float, lot: float) -> list:
    """The risk budget's taper: quotes on the side that grows |position| × ``factor`` (floored to the lot),
    dropped when that leaves nothing or less than the venue's minimum; the reducing side untouched."""
    inc = 1 if position > 0 else -1
    out = []
    for d in quotes:
        if d.side == inc:  # (a Side is an int: no Enum.value, a slow property, per quote)
            sz = math.floor(d.sz * factor / lot + 1e-9) * lot
            if sz <= 0.0 or d.px * sz < min_notional:
                continue
            d = with_size(d, sz)
        out.append(d)
    return out
