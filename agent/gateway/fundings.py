"""Which of the venue's funding payments the agent has been given: each of the session's once, history never.

Both gateways keep one ``FundingDelivery``. A payment is the session's when it was settled at or after the
session began (venue time); it is delivered the first time it is seen, live (the user channel's ``funding``),
or recovered after a reconnect (the in-process twin's userFundings snapshot on resubscribe; the live gateway's
``userFunding`` query), so a payment settled while the socket was down reaches the ledger once.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterable

from agent.gateway.events import FundingPaid


class FundingDelivery:
    """Filters funding payments down to the session's ones the agent has not been given yet (one an hour a coin:
    a small set, bounded all the same)."""

    __slots__ = ("known", "keep", "start_ms", "counters")

    def __init__(self, keep: int = 10_000) -> None:
        self.known: OrderedDict[tuple[str, int], None] = OrderedDict()  # (coin, settlement ms) delivered
        self.keep = keep
        self.start_ms = 0  # the session's start, venue ms: a payment settled before it is history
        self.counters = {"fundings_live": 0, "fundings_recovered": 0, "fundings_repeated": 0}

    def since_ms(self) -> int:
        """Where a recovery query starts: the newest payment delivered, or the session's start."""
        return max([self.start_ms] + [t for _, t in self.known])

    def live(self, payments: Iterable[FundingPaid]) -> list[FundingPaid]:
        """Payments pushed as they are settled."""
        return self._new(payments, "fundings_live")

    def recovered(self, payments: Iterable[FundingPaid]) -> list[FundingPaid]:
        """Payments from a snapshot or a history query: the session's ones not yet given, oldest first."""
        floor = self.start_ms
        return self._new(sorted((p for p in payments if p.time_ms >= floor), key=lambda p: p.time_ms),
                         "fundings_recovered")

    def _new(self, payments: Iterable[FundingPaid], counter: str) -> list[FundingPaid]:
        out = []
        for p in payments:
            key = (p.coin, p.time_ms)
            if key in self.known:
                self.counters["fundings_repeated"] += 1
                continue
            self.known[key] = None
            if len(self.known) > self.keep:
                self.known.popitem(last=False)
            self.counters[counter] += 1
            out.append(p)
        return out
