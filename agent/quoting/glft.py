"""GLFT: the Guéant–Lehalle–Fernandez-Tapia closed-form approximation of optimal quotes.

With risk aversion γ, arrival intensity λ(δ) = A·e^(−kδ) per side, volatility σ (price units
per √s) and quote size Δ, taking ξ = γ (Guéant 2017, "Optimal market making"; the same form
as hftbacktest's GLFT tutorial):

    c1 = ln(1 + ξΔ/k) / (ξΔ)
    c2 = sqrt( γ / (2AΔk) · (1 + ξΔ/k)^(k/(ξΔ) + 1) )
    half_spread = c1 + (Δ/2)·c2·σ        skew = c2·σ   (per unit of inventory q = position/Δ)
    bid = mid − half_spread − skew·q     ask = mid + half_spread − skew·q
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class GlftConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gamma: float = Field(0.05, gt=0, description="Risk aversion γ (per unit of price×size risk).")
    spread_factor: float = Field(1.0, gt=0, description="Multiplier on the model half spread.")
    skew_factor: float = Field(1.0, ge=0, description="Multiplier on the inventory skew.")


@dataclass(frozen=True, slots=True)
class GlftQuote:
    half_spread: float
    skew: float  # price shift per unit of q
    bid: float
    ask: float


def glft_coefficients(A: float, k: float, gamma: float, delta: float) -> tuple[float, float]:
    for name, v in (("A", A), ("k", k), ("gamma", gamma), ("delta", delta)):
        if not (v > 0.0 and math.isfinite(v)):
            raise ValueError(f"GLFT needs a positive finite {name}, got {v!r}")
    xd = gamma * delta
    c1 = math.log1p(xd / k) / xd
    c2 = math.sqrt(gamma / (2.0 * A * delta * k) * (1.0 + xd / k) ** (k / xd + 1.0))
    return c1, c2


def glft_quote(mid: float, q: float, sigma: float, A: float, k: float, gamma: float, delta: float,
               spread_factor: float = 1.0, skew_factor: float = 1.0) -> GlftQuote:
    if not (sigma >= 0.0 and math.isfinite(sigma)):
        raise ValueError(f"GLFT needs a finite sigma >= 0, got {sigma!r}")
    c1, c2 = glft_coefficients(A, k, gamma, delta)
    half = (c1 + 0.5 * delta * c2 * sigma) * spread_factor
    skew = c2 * sigma * skew_factor
    return GlftQuote(half, skew, mid - half - skew * q, mid + half - skew * q)
