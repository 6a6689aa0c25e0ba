"""The request budget: the venue's address quota, seen from the agent, with a reserve for cancels.

Fed by the venue's own numbers (``QuotaStatus`` from userRateLimit) and by local accounting of
every request sent in between (n per batch element, as the venue counts). A reserve
(``reserve_frac`` of the cap, default 5%) may only be spent by cancels, so the agent can always
pull its quotes (Feb 9: the kill switch fired with no quota left to cancel). The requote
interval stretches as headroom falls below a knee: ``base × min(max_stretch, knee / frac)``,
which spends the budget no faster than volume refills it on a thin market (the quota spiral).
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agent.gateway.events import QuotaStatus


class BudgetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reserve_frac: float = Field(0.05, ge=0, le=0.5, description="Share of the cap only cancels may spend.")
    knee_frac: float = Field(0.3, gt=0, le=1, description="Below this headroom share, requoting slows down.")
    max_stretch: float = Field(20.0, ge=1, description="Longest requote interval as a multiple of the base.")
    assumed_cap: int = Field(10000, ge=1, description="Cap assumed until the venue reports one (venue buffer).")


class RequestBudget:
    __slots__ = ("cfg", "cap", "used", "last_status_ts", "spent_since_status")

    def __init__(self, cfg: BudgetConfig) -> None:
        self.cfg = cfg
        self.cap = cfg.assumed_cap
        self.used = 0
        self.last_status_ts = -1.0
        self.spent_since_status = 0

    def on_quota(self, ev: QuotaStatus) -> None:
        self.cap = ev.cap
        self.used = ev.used
        self.last_status_ts = ev.ts
        self.spent_since_status = 0

    def spend(self, n: int, is_cancel: bool = False) -> None:
        self.used += n
        self.spent_since_status += n

    @property
    def headroom(self) -> int:
        return self.cap - self.used

    @property
    def headroom_frac(self) -> float:
        return self.headroom / self.cap if self.cap > 0 else 0.0

    @property
    def reserve(self) -> int:
        return int(self.cfg.reserve_frac * self.cap)

    def can_spend(self, n: int, is_cancel: bool = False) -> bool:
        """Cancels may use everything left; anything else must leave the reserve untouched."""
        if is_cancel:
            return n <= self.headroom
        return n <= self.headroom - self.reserve

    def spendable(self, is_cancel: bool = False) -> int:
        return max(0, self.headroom - (0 if is_cancel else self.reserve))

    def requote_interval_s(self, base_s: float) -> float:
        frac = self.headroom_frac
        if frac >= self.cfg.knee_frac:
            return base_s
        if frac <= 0.0:
            return base_s * self.cfg.max_stretch
        return base_s * min(self.cfg.max_stretch, self.cfg.knee_frac / frac)
