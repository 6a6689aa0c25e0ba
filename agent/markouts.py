"""Markouts: how each fill looks ``horizon_s`` later, against the mid then.

Signed so that positive means the fill made money (a buy below the later mid, a sell above it). The
ledger sums them in USDC per horizon for the summary; graduation counts the positive ones (the
positive-edge share is promotion evidence), for real fills and for Shadow's paper fills alike. One
queue per horizon, in due order (fills arrive in time order and the horizon is fixed).
"""
from __future__ import annotations

from collections import deque


class MarkoutQueue:
    __slots__ = ("horizon_s", "_due", "resolved", "positive", "sum_usd")

    def __init__(self, horizon_s: float) -> None:
        self.horizon_s = horizon_s
        self._due: deque[tuple[float, int, float, float]] = deque()  # (due_ts, side, px, sz)
        self.resolved = 0
        self.positive = 0  # resolved with side·(mid − px) > 0
        self.sum_usd = 0.0  # Σ side·(mid − px)·sz over the resolved

    def add(self, ts: float, side: int, px: float, sz: float = 0.0) -> None:
        """A fill at ``ts`` (side +1 buy, −1 sell); ``sz`` only weighs ``sum_usd``."""
        self._due.append((ts + self.horizon_s, side, px, sz))

    def on_mid(self, ts: float, mid: float) -> int:
        """Resolve the fills due by ``ts`` against ``mid``; returns how many."""
        due = self._due
        n = 0
        while due and due[0][0] <= ts:
            _, side, px, sz = due.popleft()
            edge = side * (mid - px)
            if edge > 0.0:
                self.positive += 1
            self.sum_usd += edge * sz
            n += 1
        self.resolved += n
        return n

    @property
    def pending(self) -> int:
        return len(self._due)
