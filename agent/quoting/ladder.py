"""Ladders: N levels a side from the model's bid and ask, on prices and sizes the venue accepts.

Venue rule (hyperliquid.md §3.4): ≤5 significant figures and ≤ 6 − szDecimals decimals, an
integer price always valid. Rounding goes the safe way: bids down, asks up, so a quote never
becomes more aggressive than the model asked.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class LadderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_levels: int = Field(3, ge=1, le=20, description="Levels per side.")
    level_spacing_ticks: float = Field(2.0, gt=0, description="Distance between levels, ticks.")
    size_ratio: float = Field(1.5, gt=0, description="Geometric growth of size per level (1 = flat).")
    min_notional_usd: float = Field(10.0, ge=0, description="Quotes below this value are dropped (venue $10).")

    def sizes(self, base: float) -> list[float]:
        return geometric(base, self.size_ratio, self.n_levels)


@dataclass(frozen=True, slots=True)
class Quote:
    side: int  # +1 bid, -1 ask
    px: float
    sz: float


@dataclass(frozen=True, slots=True)
class Ladder:
    bids: tuple[Quote, ...]
    asks: tuple[Quote, ...]


def geometric(base: float, ratio: float, n: int) -> list[float]:
    return [base * ratio ** i for i in range(n)]


def flat(base: float, n: int) -> list[float]:
    return [base] * n


def round_px_to_venue(px: float, sz_decimals: int, side: int) -> float:
    """The nearest venue-valid price on the safe side (bids down, asks up)."""
    if px <= 0:
        return 0.0
    max_dec = 6 - sz_decimals
    mag = math.floor(math.log10(px))
    dec = max(0, min(max_dec, 4 - mag))  # ≤5 significant figures
    if mag >= 4:
        dec = 0  # ≥ 10000: whole numbers (integers are always valid)
    scale = 10.0 ** dec
    x = px * scale
    r = math.floor(x + 1e-9) if side > 0 else math.ceil(x - 1e-9)
    out = round(r / scale, dec)
    if mag >= 5:  # integers above 99999 are valid whatever their significant figures
        return float(out)
    return out


def build_ladder(bid_px: float, ask_px: float, n_levels: int, level_spacing: float, sizes: list[float],
                 sz_decimals: int, size_multiplier: float = 1.0, min_notional: float = 10.0) -> Ladder:
    lot = 10.0 ** (-sz_decimals)
    bids: list[Quote] = []
    asks: list[Quote] = []
    b0 = round_px_to_venue(bid_px, sz_decimals, 1)
    a0 = round_px_to_venue(ask_px, sz_decimals, -1)
    if a0 <= b0:  # rounding crossed: widen the ask one step up
        a0 = round_px_to_venue(b0 + max(level_spacing, lot), sz_decimals, -1)
    for i in range(n_levels):
        sz = math.floor(sizes[i] * size_multiplier / lot + 1e-9) * lot
        sz = round(sz, sz_decimals)
        if sz <= 0:
            continue
        bp = round_px_to_venue(b0 - i * level_spacing, sz_decimals, 1)
        ap = round_px_to_venue(a0 + i * level_spacing, sz_decimals, -1)
        if bp > 0 and bp * sz >= min_notional:
            bids.append(Quote(1, bp, sz))
        if ap * sz >= min_notional:
            asks.append(Quote(-1, ap, sz))
    return Ladder(tuple(bids), tuple(asks))
