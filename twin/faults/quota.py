"""Request quota as the venue applies it: the per-address budget and the per-IP weight.

Address budget (hyperliquid.md §5): an initial buffer of 10000 requests plus one per USDC
traded; a batch of n costs n; cancels may go on to min(cap + 100000, 2·cap). When exhausted,
one request per 10 s passes (measured: refusals do not restart the window and cost nothing).
IP: 1200 weight per minute; /exchange weighs 1 + floor(batch/40); exceeding it is HTTP 429.
"""
from __future__ import annotations

import math
from collections import deque

from pydantic import BaseModel, ConfigDict, Field

_INFO_LIGHT = frozenset({"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState",
                         "exchangeStatus"})
_INFO_PER_ITEM = frozenset({"userFills", "userFillsByTime", "historicalOrders", "recentTrades", "fundingHistory",
                            "userFunding"})


class QuotaParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    initial_buffer: int = Field(10000, ge=0, description="Requests every address starts with (venue: 10000).")
    usd_per_request: float = Field(1.0, gt=0, description="USDC of traded volume that earns one more request.")
    slow_lane_interval_s: float = Field(10.0, gt=0, description="When exhausted, one request passes per this many s.")
    cancel_extra: int = Field(100000, ge=0, description="Cancels may reach min(cap + cancel_extra, 2*cap).")
    ip_weight_per_minute: int = Field(1200, ge=1, description="REST weight per IP per rolling minute (venue: 1200).")


def exchange_weight(batch_len: int) -> int:
    return 1 + batch_len // 40


def info_weight(kind: str, n_items: int = 0) -> int:
    if kind in _INFO_LIGHT:
        return 2
    if kind == "userRole":
        return 60
    return 20 + (n_items // 20 if kind in _INFO_PER_ITEM else 0)


class AddressQuota:
    """One address's cumulative request budget."""

    __slots__ = ("p", "used", "cum_volume_usd", "_last_slow_pass")

    def __init__(self, params: QuotaParams) -> None:
        self.p = params
        self.used = 0
        self.cum_volume_usd = 0.0
        self._last_slow_pass = -math.inf

    @property
    def cap(self) -> int:
        return self.p.initial_buffer + int(self.cum_volume_usd // self.p.usd_per_request)

    @property
    def cancel_cap(self) -> int:
        cap = self.cap
        return min(cap + self.p.cancel_extra, 2 * cap)

    def try_spend(self, n: int, t: float, is_cancel: bool = False) -> bool:
        limit = self.cancel_cap if is_cancel else self.cap
        if self.used + n <= limit:
            self.used += n
            return True
        if t - self._last_slow_pass >= self.p.slow_lane_interval_s:
            self._last_slow_pass = t
            self.used += n
            return True
        return False

    def on_traded(self, usd: float) -> None:
        self.cum_volume_usd += usd

    def set_remaining(self, n: int) -> None:
        """Chaos: leave exactly ``n`` requests of headroom (the used count may not go below 0)."""
        self.used = max(0, self.cap - int(n))

    def status(self) -> tuple[int, int, float]:
        return self.used, self.cap, self.cum_volume_usd

    def refusal_text(self, n: int) -> str:
        return (f"Too many cumulative requests sent ({self.used + n} > {self.cap}) for cumulative volume traded "
                f"${self.cum_volume_usd:.2f}. Place taker orders to free up 1 request per USDC traded.")


class IpWeightLimiter:
    """Rolling one-minute REST weight per IP (the twin serves one client IP per limiter)."""

    __slots__ = ("limit", "_window", "_total", "_bursts")

    def __init__(self, params: QuotaParams) -> None:
        self.limit = params.ip_weight_per_minute
        self._window: deque[tuple[float, int]] = deque()
        self._total = 0
        self._bursts: list[tuple[float, float]] = []

    def add_429_burst(self, t0: float, t1: float) -> None:
        self._bursts.append((t0, t1))

    def try_spend(self, weight: int, t: float) -> bool:
        for t0, t1 in self._bursts:
            if t0 <= t < t1:
                return False
        w = self._window
        while w and w[0][0] <= t - 60.0:
            self._total -= w.popleft()[1]
        if self._total + weight > self.limit:
            return False
        w.append((t, weight))
        self._total += weight
        return True
