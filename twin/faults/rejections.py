"""Rejections: the venue's reason codes and exact texts, plus stochastic rejections by reason.

Rule-based rejections (tick, size, margin, reduce-only, post-only...) are decided by the
exchange exactly as the venue does; this module adds the ones the twin cannot derive from its
own state (oracle bands, open-interest caps, a margin system we simplify), at calibrated rates,
and scripted rejection bursts. Texts from hyperliquid.md §2.4; live per-order errors end with
`` asset=N``.
"""
from __future__ import annotations

from enum import Enum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator


class RejectReason(str, Enum):
    Tick = "Tick"
    MinTradeNtl = "MinTradeNtl"
    PerpMargin = "PerpMargin"
    ReduceOnly = "ReduceOnly"
    BadAloPx = "BadAloPx"
    IocCancel = "IocCancel"
    BadTriggerPx = "BadTriggerPx"
    MarketOrderNoLiquidity = "MarketOrderNoLiquidity"
    PositionIncreaseAtOpenInterestCap = "PositionIncreaseAtOpenInterestCap"
    TooAggressiveAtOpenInterestCap = "TooAggressiveAtOpenInterestCap"
    OpenInterestIncrease = "OpenInterestIncrease"
    Oracle = "Oracle"
    PerpMaxPosition = "PerpMaxPosition"
    MissingOrder = "MissingOrder"
    InvalidSize = "InvalidSize"
    ZeroSize = "ZeroSize"
    ModifyCanceledOrFilled = "ModifyCanceledOrFilled"
    TooManyOpenOrders = "TooManyOpenOrders"


VENUE_TEXT: dict[RejectReason, str] = {
    RejectReason.Tick: "Price must be divisible by tick size.",
    RejectReason.MinTradeNtl: "Order must have minimum value of $10.",
    RejectReason.PerpMargin: "Insufficient margin to place order.",
    RejectReason.ReduceOnly: "Reduce only order would increase position.",
    RejectReason.BadAloPx: "Post only order would have immediately matched, bbo was {bbo}.",
    RejectReason.IocCancel: "Order could not immediately match against any resting orders.",
    RejectReason.BadTriggerPx: "Invalid TP/SL price.",
    RejectReason.MarketOrderNoLiquidity: "No liquidity available for market order.",
    RejectReason.PositionIncreaseAtOpenInterestCap: "Order would increase open interest while open interest is capped",
    RejectReason.TooAggressiveAtOpenInterestCap:
        "Order rejected due to price more aggressive than oracle while at open interest cap",
    RejectReason.OpenInterestIncrease: "Order would increase open interest too quickly",
    RejectReason.Oracle: "Order price too far from oracle",
    RejectReason.PerpMaxPosition: "Order would cause position to exceed margin tier limit at current leverage",
    RejectReason.MissingOrder: "Order was never placed, already canceled, or filled.",
    RejectReason.InvalidSize: "Order has invalid size.",
    RejectReason.ZeroSize: "Order has zero size.",
    RejectReason.ModifyCanceledOrFilled: "Cannot modify canceled or filled order",
    # UNCONFIRMED: the venue's text at the open-order limit is not in the docs or any capture we have.
    RejectReason.TooManyOpenOrders: "Too many open orders.",
}


def order_error_text(reason: RejectReason, asset: int, **fmt: str) -> str:
    """The live form of a per-order error: the docs' text, formatted, then `` asset=N``."""
    text = VENUE_TEXT[reason]
    if fmt:
        text = text.format(**fmt)
    return f"{text} asset={asset}"


def classify_venue_text(text: str) -> RejectReason | None:
    for reason, venue in VENUE_TEXT.items():
        head = venue.split("{")[0].rstrip(".")
        if text.startswith(head):
            return reason
    return None


class RejectionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rates: dict[str, float] = Field(
        default_factory=dict,
        description="Probability that an order passing the venue's rules is still rejected, by reason name "
                    "(e.g. {'Oracle': 0.001}). Calibration fits these from live rejections.")

    @field_validator("rates")
    @classmethod
    def _known(cls, v: dict[str, float]) -> dict[str, float]:
        for name, p in v.items():
            if name not in RejectReason.__members__:
                raise ValueError(f"unknown rejection reason {name!r}; known: {sorted(RejectReason.__members__)}")
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"rate for {name!r} is {p}, must be within [0, 1]")
        return v


class RejectionModel:
    """``draw(t)``: a reason to reject an otherwise valid order, or None."""

    __slots__ = ("rng", "_reasons", "_cum", "_total", "_bursts")

    def __init__(self, params: RejectionParams, rng: np.random.Generator) -> None:
        self.rng = rng
        self._reasons = [RejectReason(k) for k in params.rates]
        acc = 0.0
        self._cum: list[float] = []
        for k in params.rates:
            acc += params.rates[k]
            self._cum.append(acc)
        self._total = acc
        self._bursts: list[tuple[float, float, float, RejectReason]] = []

    def add_burst(self, t0: float, t1: float, rate: float, reason: RejectReason) -> None:
        self._bursts.append((t0, t1, rate, RejectReason(reason)))

    def draw(self, t: float) -> RejectReason | None:
        for t0, t1, rate, reason in self._bursts:
            if t0 <= t < t1 and self.rng.random() < rate:
                return reason
        if self._total <= 0.0:
            return None
        u = self.rng.random()
        if u >= self._total:
            return None
        for reason, c in zip(self._reasons, self._cum):
            if u < c:
                return reason
        return None
