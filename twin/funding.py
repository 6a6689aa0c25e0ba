"""Funding as the venue settles it: each open perp position pays or receives size × oracle price × rate, hourly.

The venue's rule (docs trading/funding, hyperliquid.gitbook.io/hyperliquid-docs/trading/funding, as venue
clones such as HyENA and trade.xyz quote it): the 8-hour rate is F = P + clamp(r − P, −0.0005, 0.0005), with r
the interest rate, fixed at 0.01% per 8 hours, and P the average premium index (the impact prices' distance
from the oracle price, sampled every 5 s and averaged over the hour); it is paid every hour, one eighth of F at a
time, capped at 4% an hour. Positive: longs pay shorts. The payment is position size × ORACLE price × rate
(not the mark), on the hour (hh:00 of venue time). So with no premium a long pays 0.00125% of its notional an
hour (≈ 11% a year), which is what the venue charges when its market trades at the oracle.
"""
from __future__ import annotations

INTERVAL_MS = 3_600_000  # settled on every hour of venue time
INTEREST_PER_8H = 0.0001  # the venue's fixed interest rate component: 0.01% per 8 hours
CLAMP_PER_8H = 0.0005  # |r − P| is clamped to this, per 8 hours
CAP_PER_H = 0.04  # the venue caps the hourly rate at 4%


def hourly_rate(premium_per_8h: float, interest_per_8h: float = INTEREST_PER_8H) -> float:
    """The rate a position pays (positive: longs pay shorts) at one hourly settlement, a fraction of its
    notional at the oracle price: F / 8, F = P + clamp(r − P, −0.0005, 0.0005), capped at ±4%."""
    gap = interest_per_8h - premium_per_8h
    f8 = premium_per_8h + (CLAMP_PER_8H if gap > CLAMP_PER_8H else -CLAMP_PER_8H if gap < -CLAMP_PER_8H else gap)
    f1 = f8 / 8.0
    return CAP_PER_H if f1 > CAP_PER_H else -CAP_PER_H if f1 < -CAP_PER_H else f1


def next_settlement_ms(now_ms: int) -> int:
    """The venue time (ms) of the first settlement after ``now_ms``: the next whole hour."""
    return (now_ms // INTERVAL_MS + 1) * INTERVAL_MS


def payment_usdc(szi: float, oracle_px: float, rate: float) -> float:
    """What a position of signed size ``szi`` gets at a settlement, USDC, signed as the venue's ``usdc`` (negative:
    paid), in the venue's micro-USDC: a long pays when the rate is positive."""
    return round(-szi * oracle_px * rate, 6)
