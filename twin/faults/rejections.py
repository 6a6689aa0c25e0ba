"""Rejections: the venue's reason codes with their exact texts, and stochastic rejections by reason.

The exchange decides rule-based rejections (tick, size, margin, reduce-only, post-only) itself;
this model adds those the twin cannot derive from its own state (oracle bands, open-interest caps)
at calibrated rates, plus scripted rejection bursts.
"""
from __future__ import annotations

import bisect
from enum import Enum

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

_BLOCK = 4096


class RejectReason(str, Enum):
    """The venue's per-order error types (hyperliquid.md §2.4); value == name."""

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


# Verbatim from the docs' error table (hyperliquid.md §2.4), without the live ` asset=N` suffix.
VENUE_TEXT: dict[RejectReason, str] = {
    RejectReason.Tick: "Price must be divisible by tick size.",
    RejectReason.MinTradeNtl: "Order must have minimum value of $10.",
    RejectReason.PerpMargin: "Insufficient margin to place order.",
    RejectReason.ReduceOnly: "Reduce only order would increase position.",
    RejectReason.BadAloPx: "Post only order would have immediately matched, bbo was {bbo}.",
    RejectReason.IocCancel: "Order could not immediately match against any resting orders.",
    RejectReason.BadTriggerPx: "Invalid TP/SL price.",
    RejectReason.MarketOrderNoLiquidity: "No liquidity available for market order.",
    # the docs give one text for PositionIncrease- and PositionFlipAtOpenInterestCap
    RejectReason.PositionIncreaseAtOpenInterestCap: "Order would increase open interest while open interest is capped",
    RejectReason.TooAggressiveAtOpenInterestCap:
        "Order rejected due to price more aggressive than oracle while at open interest cap",
    RejectReason.OpenInterestIncrease: "Order would increase open interest too quickly",
    RejectReason.Oracle: "Order price too far from oracle",
    RejectReason.PerpMaxPosition: "Order would cause position to exceed margin tier limit at current leverage",
    RejectReason.MissingOrder: "Order was never placed, already canceled, or filled.",
    # seen live, not in the docs table
    RejectReason.InvalidSize: "Order has invalid size.",
    RejectReason.ZeroSize: "Order has zero size.",
    RejectReason.ModifyCanceledOrFilled: "Cannot modify canceled or filled order",
    # UNCONFIRMED: no doc or capture gives the text at the open-order limit; this is a guess.
    RejectReason.TooManyOpenOrders: "Too many open orders.",
}

# Other live forms (captures, hyperliquid.md §2.4) that map to a reason when classifying venue text.
_ALIASES: tuple[tuple[str, RejectReason], ...] = (
    ("Price too far from oracle", RejectReason.Oracle),
)


def order_error_text(reason: RejectReason, asset: int, **fmt: str) -> str:
    """The live per-order error: the docs' text (``{bbo}`` filled for BadAloPx) then `` asset=N``,
    e.g. ``Order must have minimum value of $10. asset=4``."""
    text = VENUE_TEXT[reason]
    if fmt:
        text = text.format(**fmt)
    return f"{text} asset={asset}"


def _prefix(text: str) -> str:
    # the part before any placeholder, without a trailing period (captures differ on it)
    return text.split("{", 1)[0].rstrip(".")


# longest prefixes first, so a prefix that extends another wins
_PREFIXES: list[tuple[str, RejectReason]] = sorted(
    [(_prefix(t), r) for r, t in VENUE_TEXT.items()] + list(_ALIASES), key=lambda pr: -len(pr[0]))


def classify_venue_text(text: str) -> RejectReason | None:
    """The reason code of a venue error string (docs or live form), or None if unknown."""
    for prefix, reason in _PREFIXES:
        if text.startswith(prefix):
            return reason
    return None


class RejectionParams(BaseModel):
    """Stochastic rejections of orders that pass the venue's rules as the twin checks them."""

    model_config = ConfigDict(extra="forbid")

    rates: dict[str, float] = Field(
        default_factory=dict,
        description="Chance, per order that passes the rules, of a rejection with this reason, keyed by "
                    "RejectReason name (e.g. {'Oracle': 0.001}); default none. Calibration fits these from "
                    "live rejection counts.")

    @field_validator("rates")
    @classmethod
    def _check(cls, v: dict[str, float]) -> dict[str, float]:
        for name, p in v.items():
            if name not in RejectReason.__members__:
                raise ValueError(f"rates: unknown reason {name!r}; known: {sorted(RejectReason.__members__)}")
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"rates[{name!r}] = {p}; must lie in [0, 1]")
        if sum(v.values()) > 1.0:
            raise ValueError(f"rates sum to {sum(v.values())}; must be at most 1")
        return v


class RejectionModel:
    """``draw(t)``: a reason to reject an otherwise valid order placed at ``t``, or None."""

    __slots__ = ("_rng", "_buf", "_i", "_reasons", "_cum", "_total", "_bursts")

    def __init__(self, params: RejectionParams, rng: np.random.Generator) -> None:
        self._rng = rng
        self._buf: list[float] = []
        self._i = _BLOCK
        items = [(RejectReason(k), p) for k, p in params.rates.items() if p > 0.0]
        self._reasons = [r for r, _ in items]
        self._cum: list[float] = []
        acc = 0.0
        for _, p in items:
            acc += p
            self._cum.append(acc)
        self._total = acc
        self._bursts: list[tuple[float, float, float, RejectReason]] = []  # (t0, t1, rate, reason)

    def _uniform(self) -> float:
        i = self._i
        if i >= _BLOCK:
            self._buf = self._rng.random(_BLOCK).tolist()
            i = 0
        self._i = i + 1
        return self._buf[i]

    def add_burst(self, t0: float, t1: float, rate: float, reason: RejectReason) -> None:
        """Scripted: in [t0, t1) each order is rejected with ``reason`` with chance ``rate``."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rejection burst rate = {rate}; must lie in [0, 1]")
        self._bursts.append((float(t0), float(t1), float(rate), RejectReason(reason)))

    def draw(self, t: float) -> RejectReason | None:
        for t0, t1, rate, reason in self._bursts:
            if t0 <= t < t1 and self._uniform() < rate:
                return reason
        if self._total <= 0.0:
            return None
        u = self._uniform()
        if u >= self._total:
            return None
        return self._reasons[bisect.bisect_right(self._cum, u)]
