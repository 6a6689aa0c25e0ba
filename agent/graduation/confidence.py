"""TradingConfidence: one number in [0, 1] built from model, execution and safety confidence.

It scales exposure continuously (see exposure.py); it never reads a clock and never does I/O.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import Field, model_validator

from common.files import FileModel


class ConfidenceConfig(FileModel):
    model_weight: float = Field(0.4, ge=0, le=1e6,
                                description="Weight of model_confidence (validation scorecards) in overall.")
    execution_weight: float = Field(0.3, ge=0, le=1e6, description="Weight of execution_confidence (venue "
                                                                   "behaviour: ack latency, rejections, rate limits, "
                                                                   "reconnections, stale orders) in overall.")
    safety_weight: float = Field(0.3, ge=0, le=1e6,
                                 description="Weight of safety_confidence (the escalation level, less "
                                             "a penalty fading after each escalation) in overall.")
    hysteresis_band: float = Field(0.02, ge=0, le=0.1, description="Margin, in confidence units, the overall "
                                   "confidence must clear above a level's lower edge before it counts for promotion "
                                   "into that level, and fall below the current level's lower edge before it "
                                   "demotes; stops flapping at a band edge.")

    @model_validator(mode="after")
    def _weights_not_all_zero(self) -> "ConfidenceConfig":
        if self.model_weight + self.execution_weight + self.safety_weight <= 0:
            raise ValueError("confidence weights: model_weight + execution_weight + safety_weight must be > 0")
        return self

    def overall(self, model: float, execution: float, safety: float) -> float:
        """Weighted mean of the three components (weights normalised to sum to 1)."""
        w = self.model_weight + self.execution_weight + self.safety_weight
        return (self.model_weight * model + self.execution_weight * execution + self.safety_weight * safety) / w


def _unit(name: str, x: float) -> float:
    if not (0.0 <= x <= 1.0):  # also rejects NaN
        raise ValueError(f"TradingConfidence.{name} must be in [0, 1], got {x!r}")
    return float(x)


@dataclass(frozen=True, slots=True)
class TradingConfidence:
    """One snapshot of confidence and the evidence counted so far. Build it with `combine`."""

    model_confidence: float  # validation: scorecards of the signals and the fill model, [0, 1]
    execution_confidence: float  # venue behaviour vs expectation, [0, 1]; see execution_confidence_from
    safety_confidence: float  # the safety level, less a fading penalty after an escalation, [0, 1] (the risk
    # budget is not in it: its taper cuts the quotes' sizes directly)
    overall: float  # weighted mean of the three, [0, 1]
    fills: int = 0  # real fills this run
    fills_at_level: int = 0  # real (or, at SHADOW, paper) fills since the current exposure level was entered
    positive_edge_fills: int = 0  # fills whose markout was favourable
    cycles: int = 0  # quote cycles this run

    def __post_init__(self) -> None:
        # one comparison chain when all is well (built on every evaluation); the field is named when not
        if not (0.0 <= self.model_confidence <= 1.0 and 0.0 <= self.execution_confidence <= 1.0
                and 0.0 <= self.safety_confidence <= 1.0 and 0.0 <= self.overall <= 1.0):
            for name in ("model_confidence", "execution_confidence", "safety_confidence", "overall"):
                _unit(name, getattr(self, name))
        if self.fills < 0 or self.fills_at_level < 0 or self.positive_edge_fills < 0 or self.cycles < 0:
            for name in ("fills", "fills_at_level", "positive_edge_fills", "cycles"):
                if getattr(self, name) < 0:
                    raise ValueError(f"TradingConfidence.{name} must be ≥ 0, got {getattr(self, name)!r}")

    @classmethod
    def combine(cls, config: ConfidenceConfig, model: float, execution: float, safety: float, *,
                fills: int = 0, fills_at_level: int = 0, positive_edge_fills: int = 0,
                cycles: int = 0) -> "TradingConfidence":
        m, e, s = float(model), float(execution), float(safety)  # checked, by name, as it is built
        overall = config.overall(m, e, s)
        if overall > 1.0:  # float rounding only: the inputs are checked
            overall = 1.0
        elif overall < 0.0:
            overall = 0.0
        return cls(m, e, s, overall, fills, fills_at_level, positive_edge_fills, cycles)

    @property
    def positive_edge_share(self) -> float:
        """Share of fills with favourable markout; NaN before the first fill (fails any threshold)."""
        return self.positive_edge_fills / self.fills if self.fills else math.nan


def execution_confidence_from(ack_latency_ratio: float, rejection_rate: float, rate_limited_rate: float,
                              reconnects_recent: int, stale_orders: int) -> float:
    """Execution confidence in [0, 1] from how the venue is behaving; 1 when all is as expected.

    A product of five factors, each 1 when healthy and non-increasing as things get worse, so the
    result is monotone in every input:

    - latency  = min(1, 1 / ack_latency_ratio)  (observed / expected ack latency; 2× slower halves it)
    - rejects  = max(0, 1 − 2·rejection_rate)     (half of all orders rejected → 0)
    - limits   = max(0, 1 − 5·rate_limited_rate)  (one request in five rate-limited → 0)
    - connects = 1 / (1 + reconnects_recent)      (reconnections in the recent window)
    - stale    = 1 / (1 + stale_orders)           (orders with no ack past their timeout now)

    Rates are fractions of requests in [0, 1]. The sim-to-real gap is not a factor: it is promotion
    evidence (see governor.py for why).
    """
    if not (ack_latency_ratio >= 0 and 0.0 <= rejection_rate <= 1.0 and 0.0 <= rate_limited_rate <= 1.0
            and reconnects_recent >= 0 and stale_orders >= 0):  # one chain when all is well (NaN fails it)
        if not ack_latency_ratio >= 0:
            raise ValueError(f"execution_confidence_from: ack_latency_ratio must be ≥ 0, got {ack_latency_ratio!r}")
        for name, rate in (("rejection_rate", rejection_rate), ("rate_limited_rate", rate_limited_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"execution_confidence_from: {name} must be in [0, 1], got {rate!r}")
        for name, n in (("reconnects_recent", reconnects_recent), ("stale_orders", stale_orders)):
            if n < 0:
                raise ValueError(f"execution_confidence_from: {name} must be ≥ 0, got {n!r}")
    latency = 1.0 if ack_latency_ratio <= 1.0 else 1.0 / ack_latency_ratio
    rejects = max(0.0, 1.0 - 2.0 * rejection_rate)
    limits = max(0.0, 1.0 - 5.0 * rate_limited_rate)
    return latency * rejects * limits / ((1 + reconnects_recent) * (1 + stale_orders))
