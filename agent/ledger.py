"""The agent's own books from its fills: PnL, fees, maker share and markouts.

Independent of the venue's account (which is the truth the tracker reconciles to); the ledger
is what the summary and the decision records report. Markouts: the mid ``h`` seconds after
each fill, signed so that positive means the fill made money (a buy below the later mid).
"""
from __future__ import annotations

from collections import deque


class Ledger:
    __slots__ = ("position", "entry_px", "realized", "fees", "fills", "maker_fills", "volume_usd",
                 "horizons", "_pending", "markout_sum", "markout_n", "max_abs_position")

    def __init__(self, markout_horizons_s: tuple[float, ...] = (1.0, 10.0)) -> None:
        self.position = 0.0
        self.entry_px = 0.0
        self.realized = 0.0
        self.fees = 0.0
        self.fills = 0
        self.maker_fills = 0
        self.volume_usd = 0.0
        self.max_abs_position = 0.0
        self.horizons = markout_horizons_s
        self._pending = [deque() for _ in markout_horizons_s]  # per horizon: (due_ts, side, px, sz), in due order
        self.markout_sum = [0.0] * len(markout_horizons_s)  # Σ side·(mid_h − px)·sz, USDC
        self.markout_n = [0] * len(markout_horizons_s)

    def on_fill(self, ts: float, side: int, px: float, sz: float, fee: float, is_maker: bool) -> None:
        start = self.position
        signed = side * sz
        if start != 0.0 and (start > 0) != (side > 0):
            closed = min(sz, abs(start))
            self.realized += (px - self.entry_px) * closed * (1.0 if start > 0 else -1.0)
        end = start + signed
        if abs(end) < 1e-12:
            end = 0.0
            self.entry_px = 0.0
        elif start == 0.0 or (start > 0) != (end > 0):
            self.entry_px = px
        elif abs(end) > abs(start):
            self.entry_px = (self.entry_px * abs(start) + px * sz) / abs(end)
        self.position = end
        if abs(end) > self.max_abs_position:
            self.max_abs_position = abs(end)
        self.fees += fee
        self.fills += 1
        self.maker_fills += 1 if is_maker else 0
        self.volume_usd += px * sz
        for q, h in zip(self._pending, self.horizons):
            q.append((ts + h, side, px, sz))

    def on_mid(self, ts: float, mid: float) -> None:
        for i, q in enumerate(self._pending):
            while q and q[0][0] <= ts:
                _, side, px, sz = q.popleft()
                self.markout_sum[i] += side * (mid - px) * sz
                self.markout_n[i] += 1

    def unrealized(self, mid: float) -> float:
        return (mid - self.entry_px) * self.position if self.position else 0.0

    def markouts_bps(self) -> dict[str, float]:
        """Average markout per horizon in bps of traded notional (NaN when none)."""
        out = {}
        vol_per_fill = self.volume_usd / self.fills if self.fills else 0.0
        for h, s, n in zip(self.horizons, self.markout_sum, self.markout_n):
            out[f"{h:g}s"] = (s / n) / vol_per_fill * 1e4 if n and vol_per_fill else float("nan")
        return out
