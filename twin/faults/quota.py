"""Request quota as the venue applies it: the per-address cumulative budget and the per-IP REST weight.

Facts from hyperliquid.md §5 (venue docs plus a testnet probe); refusals are an HTTP 200 error
text for the address budget and an HTTP 429 (body ``null``) for the IP weight.
"""
from __future__ import annotations

import math
from collections import deque

from pydantic import Field

from common.files import FileModel
from twin.faults.rejections import VENUE_TEXT, RejectReason

# /info weights (hyperliquid.md §5)
_INFO_WEIGHT_2 = frozenset({"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState",
                            "exchangeStatus"})
_INFO_WEIGHT_60 = frozenset({"userRole"})
_INFO_PER_20_ITEMS = frozenset({"recentTrades", "historicalOrders", "userFills", "userFillsByTime", "fundingHistory",
                                "userFunding", "nonUserFundingUpdates", "twapHistory", "userTwapSliceFills",
                                "userTwapSliceFillsByTime", "delegatorHistory", "delegatorRewards", "validatorStats"})
_INFO_PER_60_ITEMS = frozenset({"candleSnapshot"})


class QuotaParams(FileModel):
    """The venue's request limits (hyperliquid.md §5)."""

    initial_buffer: int = Field(10000, ge=0, le=1_000_000_000,
                                description="Requests every address may send before trading (venue: 10000).")
    usd_per_request: float = Field(1.0, ge=1e-6, le=1e9,
                                   description="USDC of cumulative traded volume that earns one request "
                                               "(venue: 1).")
    slow_lane_interval_s: float = Field(10.0, ge=0.001, le=86_400.0,
                                        description="When the budget is exhausted, a request passes only "
                                                    "this many seconds after the last request that "
                                                    "passed (venue docs: 10 s; probe measured ~11 s).")
    cancel_extra: int = Field(100000, ge=0, le=1_000_000_000,
                              description="Cancels may go on to min(cap + cancel_extra, 2 * cap) "
                                          "(venue: 100000).")
    ip_weight_per_minute: int = Field(1200, ge=1, le=10_000_000,
                                      description="REST weight per IP per rolling 60 s (venue: 1200).")


def exchange_weight(batch_len: int) -> int:
    """IP weight of one /exchange action carrying ``batch_len`` orders or cancels: 1 + floor(n / 40)."""
    return 1 + batch_len // 40


def info_weight(kind: str, n_items: int = 0) -> int:
    """IP weight of one /info request of type ``kind`` that returned ``n_items`` items."""
    if kind in _INFO_WEIGHT_2:
        return 2
    if kind in _INFO_WEIGHT_60:
        return 60
    if kind in _INFO_PER_20_ITEMS:
        return 20 + n_items // 20
    if kind in _INFO_PER_60_ITEMS:
        return 20 + n_items // 60
    return 20


class AddressQuota:
    """One address's cumulative request budget.

    cap = initial_buffer + floor(cum_volume_usd / usd_per_request); a batch of n costs n; cancels
    may reach min(cap + cancel_extra, 2 cap). Past the limit a request passes only if at least
    ``slow_lane_interval_s`` went by since the last request that passed (any pass, within budget or
    not); it is charged, so ``used`` may exceed the cap. Refusals cost nothing and do not restart
    the interval (hyperliquid.md §5, measured on testnet). ``t`` must not decrease between calls.
    ``charges``: a list to set to have every charge written down, (t, n, action, used, cap, sent) after it (a scenario's
    check of what each action left when it landed, not when it was sent); None, nothing kept.
    """

    __slots__ = ("_buffer", "_usd_per_req", "_interval", "_cancel_extra", "used", "cum_volume_usd", "_last_pass",
                 "charges")

    def __init__(self, params: QuotaParams) -> None:
        self._buffer = params.initial_buffer
        self._usd_per_req = params.usd_per_request
        self._interval = params.slow_lane_interval_s
        self._cancel_extra = params.cancel_extra
        self.used = 0
        self.cum_volume_usd = 0.0
        self._last_pass = -math.inf
        self.charges: list[tuple[float, int, str, int, int]] | None = None

    @property
    def cap(self) -> int:
        return self._buffer + int(self.cum_volume_usd // self._usd_per_req)

    @property
    def cancel_cap(self) -> int:
        cap = self.cap
        return min(cap + self._cancel_extra, 2 * cap)

    def try_spend(self, n: int, t: float, is_cancel: bool = False, action: str = "", sent: float | None = None) -> bool:
        """Charge ``n`` requests at time ``t`` for ``action`` (its type's name, for ``charges``, with ``sent``, when
        the client sent it: ``t`` when not given); False (and no charge) when refused."""
        # the cap as the property gives it, written out (a property is a Python call under 3.11, every action's), and
        # a cancel's limit (cancel_cap) made of it: the cap worked out once, not again inside cancel_cap
        limit = self._buffer + int(self.cum_volume_usd // self._usd_per_req)
        if is_cancel:
            limit = min(limit + self._cancel_extra, 2 * limit)
        if self.used + n > limit and t - self._last_pass < self._interval:
            return False
        self._last_pass = t
        self.used += n
        if self.charges is not None:
            self.charges.append((t, n, action, self.used, self.cap, t if sent is None else sent))
        return True

    def on_traded(self, usd: float) -> None:
        """Book ``usd`` of traded notional (either side, maker or taker)."""
        self.cum_volume_usd += abs(usd)

    def set_remaining(self, n: int) -> None:
        """Leave exactly ``n`` requests of headroom (chaos); ``used`` never goes below 0."""
        self.used = max(0, self.cap - int(n))

    def status(self) -> tuple[int, int, float]:
        """(used, cap, cum_volume_usd), as the venue's userRateLimit reports them."""
        return self.used, self.cap, self.cum_volume_usd

    def refusal_text(self, n: int = 1, is_cancel: bool = False) -> str:
        """The venue's refusal of a batch of ``n``, e.g. ``Too many cumulative requests sent (97460 > 97456)
        for cumulative volume traded $87457.46. Place taker orders to free up 1 request per USDC traded.``: on the
        left what the address will have sent with this batch, on the right one less than its cap (nRequestsCap).
        hyperliquid.md §2.4 has that body at $87457.46, where nRequestsCap is 10000 + floor(cumVlm) = 97457 (§5,
        [PROBE]; the probe read 97457 from userRateLimit before it and saw 97456 in every refusal, its used count
        rising 97460, 97461, ... on the left). For cancels the cancel cap less one is the right-hand number (no
        cancel's refusal is on record: the order's rule carried over)."""
        limit = (self.cancel_cap if is_cancel else self.cap) - 1
        return VENUE_TEXT[RejectReason.RateLimited].format(used=self.used + n, cap=limit,
                                                            volume_usd=self.cum_volume_usd)


class IpWeightLimiter:
    """REST weight per IP over a rolling 60 s window: a request is admitted when the weight admitted
    in (t - 60, t] plus its own stays within the limit. During a scripted 429 burst all are refused.
    ``t`` must not decrease between calls; every weight is at least 0 (each caller's is at least 1).

    The weight that left the window is let go only when it could matter: ``_total`` is what the window holds, the
    weight admitted in (t - 60, t] and what was admitted before and not yet let go, so at least the first; a request
    it admits is admitted by the first too, and only one it would refuse (or a minute after the last sweep, which
    keeps the window to two minutes of requests) sweeps the window first. Every request swept the window, its test
    and the cutoff some 15 of the 70 bytecodes a request cost."""

    __slots__ = ("_limit", "_window", "_total", "_bursts", "_burst_lo", "_burst_hi", "_sweep_at")

    WINDOW_S = 60.0

    def __init__(self, params: QuotaParams) -> None:
        self._limit = params.ip_weight_per_minute
        self._window: deque[tuple[float, int]] = deque()  # (time admitted, weight)
        self._total = 0
        self._bursts: list[tuple[float, float]] = []
        self._burst_lo = math.inf  # earliest start and latest end of any burst: a cheap pre-check
        self._burst_hi = -math.inf
        self._sweep_at = -math.inf  # (when the window is swept at the latest: a minute after its last sweep)

    def add_429_burst(self, t0: float, t1: float) -> None:
        """Scripted: every request in [t0, t1) gets HTTP 429 (and takes no weight)."""
        self._bursts.append((float(t0), float(t1)))
        self._burst_lo = min(self._burst_lo, float(t0))
        self._burst_hi = max(self._burst_hi, float(t1))

    def try_spend(self, weight: int, t: float) -> bool:
        """Admit a request of ``weight`` at ``t`` (and count it), or refuse it: HTTP 429, nothing counted (an
        assumption: whether the venue charges a refused request is unconfirmed, hyperliquid.md §5; the agent counts it
        as charged, the safe side)."""
        if t >= self._burst_lo and t < self._burst_hi:  # (two compares: the chained form costs more bytecodes)
            for t0, t1 in self._bursts:
                if t0 <= t < t1:
                    return False
        total = self._total + weight
        if total > self._limit or t >= self._sweep_at:
            total = self._sweep(t) + weight
            if total > self._limit:
                return False
        self._window.append((t, weight))
        self._total = total
        return True

    def _sweep(self, t: float) -> int:
        """Let go of the weight admitted at or before t - 60: the weight admitted in (t - 60, t]."""
        w = self._window
        cutoff = t - self.WINDOW_S
        total = self._total
        while w and w[0][0] <= cutoff:
            total -= w.popleft()[1]
        self._total = total
        self._sweep_at = t + self.WINDOW_S
        return total

    def used(self, t: float) -> int:
        """Weight admitted in (t - 60, t]."""
        return sum(wt for ts, wt in self._window if ts > t - self.WINDOW_S)
