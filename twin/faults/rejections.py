"""Rejections: the venue's reason codes with their exact texts, and stochastic rejections by reason.

The exchange decides rule-based rejections (tick, size, margin, reduce-only, post-only) itself;
this model adds those the twin cannot derive from its own state (oracle bands, open-interest caps)
at calibrated rates, scripted rejection bursts, and REST transport failures in normal operation.
"""
from __future__ import annotations

import bisect
import math
from enum import Enum

import numpy as np
from pydantic import Field, field_validator

from common.files import FileModel

_BLOCK = 4096


class RejectReason(str, Enum):
    """The venue's error types (hyperliquid.md §2.4); value == name. All but the last three are
    per-order errors; RateLimited, NonceInvalid and Other refuse a whole action."""

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
    InvalidPrice = "InvalidPrice"
    ZeroSize = "ZeroSize"
    ModifyCanceledOrFilled = "ModifyCanceledOrFilled"
    TooManyOpenOrders = "TooManyOpenOrders"
    ModifyNotPostOnly = "ModifyNotPostOnly"
    # action-level: the address budget refusal (an IP 429 has no text), a nonce refusal, anything else
    RateLimited = "RateLimited"
    NonceInvalid = "NonceInvalid"
    Other = "Other"


# Reasons that refuse a whole action and never carry the per-order ` asset=N` suffix.
ACTION_REASONS = frozenset({RejectReason.RateLimited, RejectReason.NonceInvalid, RejectReason.Other})
# Per-order reasons the venue words without the ` asset=N` suffix: a modify of an order canceled or filled is
# `{"error":"Cannot modify canceled or filled order"}` in a batchModify's statuses, bare, where the cancel beside it
# in the same block says `Order was never placed, already canceled, or filled. asset=0` (a node's replica_cmds
# fixture, find_string id 63133367166; a live log of 2026-09-25, id 70764868578; single `modify`'s action-level
# `{"status":"err","response":"Cannot modify canceled or filled order"}` on testnet, id 68555187888).
UNSUFFIXED = frozenset({RejectReason.ModifyCanceledOrFilled})
# Reasons a single order can get; the stochastic rates and chaos bursts draw from these.
ORDER_REASONS = frozenset(RejectReason) - ACTION_REASONS
_R = RejectReason
# Reasons a new order can get only when it adds to the position (margin, open-interest and position caps: the venue
# asks none of a reduce-only order, nor of the part of an order that closes), and those of one kind of order only.
_INCREASING_ONLY = frozenset({_R.PerpMargin, _R.PositionIncreaseAtOpenInterestCap, _R.OpenInterestIncrease,
                              _R.TooAggressiveAtOpenInterestCap, _R.PerpMaxPosition})
_NEVER_A_NEW_ORDER = frozenset({_R.MissingOrder, _R.ModifyCanceledOrFilled, _R.ModifyNotPostOnly,  # cancels', modifies'
                                _R.BadTriggerPx})  # (the twin places no trigger orders)


def can_refuse(reason: RejectReason, tif: str, reduce_only: bool, increasing: bool) -> bool:
    """Whether the venue could refuse a new order with ``reason``: a drawn rejection (a rate, a chaos burst) is
    applied only then. Applied to any order, a PerpMargin burst refused reduce-only exits the venue never margins,
    a BadAloPx burst an IOC, a ReduceOnly one a plain order: behaviour the agent was then tuned against that the
    venue cannot produce."""
    if reason in _INCREASING_ONLY:
        return increasing and not reduce_only
    if reason is _R.ReduceOnly:
        return reduce_only
    if reason is _R.BadAloPx:
        return tif == "Alo"
    if reason is _R.IocCancel or reason is _R.MarketOrderNoLiquidity:
        return tif == "Ioc"
    return reason not in _NEVER_A_NEW_ORDER


# Verbatim from the docs' error table (hyperliquid.md §2.4), or its live form where the venue is on record answering
# otherwise (Oracle), without the live ` asset=N` suffix; Other has no text of its own (it stands for any text not
# listed here).
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
    # the docs' table says "Order price too far from oracle"; the venue answered "Price too far from oracle asset=4"
    # (hyperliquid.md §2.4's Oracle row, CAPTURE 70679828995: a venue-vocabulary file's live answer of 2026-08-20;
    # every capture found has it so, none the table's text): the twin sends that one (the table's classifies too)
    RejectReason.Oracle: "Price too far from oracle",
    RejectReason.PerpMaxPosition: "Order would cause position to exceed margin tier limit at current leverage",
    RejectReason.MissingOrder: "Order was never placed, already canceled, or filled.",
    # seen live, not in the docs table
    RejectReason.InvalidSize: "Order has invalid size.",
    # the venue's answer to a price of zero or below (hyperliquid.md §2.4, seen live, UNCONFIRMED by the docs); the
    # tick text is for a positive price off the venue's price rule
    RejectReason.InvalidPrice: "Order has invalid price.",
    RejectReason.ZeroSize: "Order has zero size.",
    # seen live without a full stop and, unlike the others, without the ` asset=N` suffix (UNSUFFIXED)
    RejectReason.ModifyCanceledOrFilled: "Cannot modify canceled or filled order",
    # UNCONFIRMED: no doc or capture gives the text at the open-order limit; this is a guess.
    RejectReason.TooManyOpenOrders: "Too many open orders.",
    # UNCONFIRMED: the docs (exchange endpoint, "Modify an order") give the rule, not the text: without always
    # place the new order must be post-only, or a Gtc that would not execute at once. This text is a guess; the
    # exchange sends it behind MODIFY_PREFIX (the cancel leg has happened).
    RejectReason.ModifyNotPostOnly: "Modify without always place requires a post-only order.",
    # action-level (HTTP 200 {"status":"err","response":...}); probe raw body and captures
    RejectReason.RateLimited: "Too many cumulative requests sent ({used} > {cap}) for cumulative volume traded "
                              "${volume_usd:.2f}. Place taker orders to free up 1 request per USDC traded.",
    # detail: "duplicate nonce N", "nonce too low N < M" or "nonce too high N > M"
    RejectReason.NonceInvalid: "Invalid nonce: {detail}",
}

# Other forms (captures, the docs' table; hyperliquid.md §2.4) that map to a reason when classifying venue text.
_ALIASES: tuple[tuple[str, RejectReason], ...] = (
    ("Order price too far from oracle", RejectReason.Oracle),  # the docs' table text (the live one is VENUE_TEXT's)
    # the reference-price band ("... more than 80% away from the reference price"): the same remedy as
    # the oracle band, so the same code
    ("Order price cannot be more than", RejectReason.Oracle),
)
# A modify whose cancel leg succeeded but whose new order failed: the inner text says why.
MODIFY_PREFIX = "Error placing new order during modify: "


def order_error_text(reason: RejectReason, asset: int, **fmt: str) -> str:
    """The live per-order error: the docs' text (``{bbo}`` filled for BadAloPx, as ``<bestBid>@<bestAsk>``)
    then `` asset=N``, e.g. ``Order must have minimum value of $10. asset=4`` (none after an UNSUFFIXED reason's)."""
    if reason in ACTION_REASONS:
        raise ValueError(f"{reason.value} refuses a whole action and has no per-order text; "
                         f"format VENUE_TEXT[RejectReason.{reason.value}] instead")
    return _LIVE_TEXT[reason].format(asset=asset, **fmt)


# each per-order reason's live text as a format (the suffix added here, once, not per rejection)
_LIVE_TEXT = {r: VENUE_TEXT[r] if r in UNSUFFIXED else VENUE_TEXT[r] + " asset={asset}" for r in ORDER_REASONS}


def _prefix(text: str) -> str:
    # the part before any placeholder, without a trailing period (captures differ on it)
    return text.split("{", 1)[0].rstrip(".")


# longest prefixes first, so a prefix that extends another wins
_PREFIXES: list[tuple[str, RejectReason]] = sorted(
    [(_prefix(t), r) for r, t in VENUE_TEXT.items()] + list(_ALIASES), key=lambda pr: -len(pr[0]))


def classify_venue_text(text: str) -> RejectReason:
    """The reason code of a venue error string, docs or live form (with or without `` asset=N``, with
    or without a trailing period); Other when no known text matches."""
    if text.startswith(MODIFY_PREFIX):
        text = text[len(MODIFY_PREFIX):]
    for prefix, reason in _PREFIXES:
        if text.startswith(prefix):
            return reason
    return RejectReason.Other


class RejectionParams(FileModel):
    """Stochastic rejections of orders that pass the venue's rules as the twin checks them, and REST
    transport failures. Defaults are zero: the venue's own rules (checked by the exchange) explain
    nearly all live rejections; calibration fits nonzero rates from live rejection counts."""

    rates: dict[str, float] = Field(
        default_factory=dict,
        description="Chance, per order that passes the rules, of a rejection with this reason, keyed by "
                    "per-order RejectReason name (e.g. {'Oracle': 0.001}); default none.")
    rest_failure_prob: float = Field(
        0.0, ge=0, le=1,
        description="Chance a REST request fails in transport (connection reset, no reply) in normal "
                    "operation; default 0 (outages add their own failures, see ConnectionParams).")

    @field_validator("rates")
    @classmethod
    def _check(cls, v: dict[str, float]) -> dict[str, float]:
        known = sorted(r.value for r in ORDER_REASONS)
        for name, p in v.items():
            if name not in known:
                raise ValueError(f"rates: {name!r} is not a per-order reason; known: {known}")
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"rates[{name!r}] = {p}; must lie in [0, 1]")
        if sum(v.values()) > 1.0:
            raise ValueError(f"rates sum to {sum(v.values())}; must be at most 1")
        return v


class RejectionModel:
    """``draw(t)``: a reason to reject an otherwise valid order placed at ``t``, or None;
    ``rest_fails(t)``: whether a REST request sent at ``t`` is lost in transport."""

    __slots__ = ("_rng", "_it", "_reasons", "_cum", "_total", "_bursts", "_burst_lo", "_burst_hi",
                 "_rest_p", "_rest_rng")

    def __init__(self, params: RejectionParams, rng: np.random.Generator) -> None:
        self._rng = rng
        self._it = iter(())  # the block of uniforms left (spent: the first draw fills it; PathLatency's way)
        items = [(RejectReason(k), p) for k, p in params.rates.items() if p > 0.0]
        self._reasons = [r for r, _ in items]
        self._cum: list[float] = []
        acc = 0.0
        for _, p in items:
            acc += p
            self._cum.append(acc)
        self._total = acc
        self._bursts: list[tuple[float, float, float, RejectReason]] = []  # (t0, t1, rate, reason)
        self._burst_lo = math.inf  # earliest start and latest end of any burst: a cheap pre-check
        self._burst_hi = -math.inf
        self._rest_p = params.rest_failure_prob
        # its own child stream (spawning consumes nothing), so REST failures do not shift the draws
        self._rest_rng = rng.spawn(1)[0]

    def _uniform(self) -> float:
        try:
            return next(self._it)
        except StopIteration:
            self._it = iter(self._rng.random(_BLOCK).tolist())
            return next(self._it)

    def add_burst(self, t0: float, t1: float, rate: float, reason: RejectReason) -> None:
        """Scripted: in [t0, t1) each order is rejected with ``reason`` with chance ``rate``
        (overlapping bursts are tried in the order they were added)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rejection burst rate = {rate}; must lie in [0, 1]")
        reason = RejectReason(reason)
        if reason not in ORDER_REASONS:
            raise ValueError(f"rejection burst reason = {reason.value}; must be a per-order reason")
        self._bursts.append((float(t0), float(t1), float(rate), reason))
        self._burst_lo = min(self._burst_lo, float(t0))
        self._burst_hi = max(self._burst_hi, float(t1))

    def draw(self, t: float) -> RejectReason | None:
        if self._burst_lo <= t < self._burst_hi:
            for t0, t1, rate, reason in self._bursts:
                if t0 <= t < t1 and self._uniform() < rate:
                    return reason
        if self._total <= 0.0:
            return None
        u = self._uniform()
        if u >= self._total:
            return None
        return self._reasons[bisect.bisect_right(self._cum, u)]

    def rest_fails(self, t: float) -> bool:
        """Whether a REST request sent at ``t`` fails in transport in normal operation (``t`` is kept for
        the interface: the rate does not vary in time)."""
        return self._rest_p > 0.0 and float(self._rest_rng.random()) < self._rest_p
