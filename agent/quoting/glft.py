"""GLFT: the Guéant–Lehalle–Fernandez-Tapia closed-form approximation of optimal quotes.

With risk aversion γ, arrival intensity λ(δ) = A·e^(−kδ) per side (A per second, k per price
unit, δ the quote's distance from mid in price units), volatility σ (price units per √s) and
quote size Δ (coin), taking ξ = γ (Guéant 2017, "Optimal market making"; the same form as
hftbacktest's GLFT tutorial):

    c1 = ln(1 + ξΔ/k) / (ξΔ)
    c2 = sqrt( γ / (2AΔk) · (1 + ξΔ/k)^(k/(ξΔ) + 1) )
    half_spread = c1 + (Δ/2)·c2·σ        skew = c2·σ   (price shift per coin of inventory q)
    bid = mid − (half_spread + skew·q)   ask = mid + (half_spread − skew·q)

q is the signed position in coin, the unit Δ is in: Guéant's bid distance is c1 + (2q + Δ)/2·c2σ with q and Δ
both in shares. (Until 2 December q was taken in orders, position/Δ, against a c2 computed with Δ in coin: the skew
was 1/Δ times the model's, about $70 per 0.002 BTC order held against a half spread of $3.) hftbacktest's tutorial
writes the same form with Δ = 1 and q in orders; that is this form with the order as the unit, and its γ is then per
order, not per coin.

What that means on the twin's BTC market at the defaults (Δ = 0.002 BTC, γ = 0.05), once A and k are fitted
(A ≈ 1.7 per s, k ≈ 0.32 per USD, σ ≈ 8.7 USD per √s): a half spread of about 3.2 USD and a skew of about 67 USD
per BTC, 3.3-3.6 USD at risk.max_position (0.05 BTC), about the half spread. The skew grows about as √γ (c2 does,
while ξΔ/k is small), so γ is the operator's lever for a stronger pull to flat.

What the formula implies (checked in tests/agent/test_glft.py): c1 falls with γ (from 1/k as
γ → 0) while c2 rises with γ, so the half spread is not monotone in γ; it tends to c1 as σ → 0;
the skew has the sign of q, so a long inventory lowers both quotes.

Pure functions: the caller picks fallbacks (priors) when an input is unusable; here a bad
input raises ValueError naming the parameter and its value.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pydantic import Field

from common.files import FileModel


class GlftConfig(FileModel):
    gamma: float = Field(0.05, ge=1e-9, le=1e9, description=(
        "Risk aversion γ (and ξ), per USD of price risk per coin held. At the defaults, once A and k are fitted, the "
        "skew at risk.max_position is about the half spread; raise γ for a stronger pull to flat (the skew grows "
        "about as √γ)."))
    spread_factor: float = Field(1.0, ge=0.01, le=1e6,
                                 description="Multiplier on the model half spread (1 = the model's).")
    skew_factor: float = Field(1.0, ge=0, le=100.0, description="Multiplier on the inventory skew (0 = no skew).")


@dataclass(frozen=True, slots=True)
class GlftQuote:
    half_spread: float  # price units, after the spread factor
    skew: float  # price shift per coin of inventory, after the skew factor
    bid: float
    ask: float


_INF = math.inf


def _bad(name: str, value: float, need: str) -> ValueError:
    return ValueError(f"GLFT needs {need} {name}, got {name}={value!r}")


def _check_params(A: float, k: float, gamma: float, delta: float) -> None:
    """The model's parameters, as glft_coefficients refuses them (ValueError naming the first bad one)."""
    # `not (v > 0)` also catches NaN; `v < inf` catches +inf
    if not (0.0 < A < math.inf):
        raise _bad("A", A, "a positive finite")
    if not (0.0 < k < math.inf):
        raise _bad("k", k, "a positive finite")
    if not (0.0 < gamma < math.inf):
        raise _bad("gamma", gamma, "a positive finite")
    if not (0.0 < delta < math.inf):
        raise _bad("delta", delta, "a positive finite")


_log1p = math.log1p
_exp = math.exp
_sqrt = math.sqrt


def glft_coefficients(A: float, k: float, gamma: float, delta: float) -> tuple[float, float]:
    """(c1 in price units, c2 in price units per unit of σ) for the inputs; ValueError on bad ones.

    Called at every refit whose A or k moved (the shipped profile's slowest cycles): the checks in one condition,
    _check_params called only to name what failed (or to pass what only looked bad); ln(1 + x) taken once for c1
    and c2; the math functions bound at import (a global's load, not a module's and its attribute's)."""
    # each positive and their sum finite, so each is (NaN is not positive): two-thirds of four bounded checks'
    # bytecodes. Finite values whose sum overflows are asked of _check_params too, which lets them through
    if not (A > 0.0 and k > 0.0 and gamma > 0.0 and delta > 0.0 and A + k + gamma + delta < _INF):
        _check_params(A, k, gamma, delta)
    xd = gamma * delta  # ξΔ with ξ = γ
    x = xd / k
    l1x = _log1p(x)
    c1 = l1x / xd
    # (1 + x)^(1/x + 1) in log form: no overflow for small x, and log1p keeps precision
    c2 = _sqrt(gamma / (2.0 * A * delta * k) * _exp((1.0 / x + 1.0) * l1x))
    return c1, c2


def _check_state(mid: float, q: float, sigma: float) -> None:
    """The market's and the inventory's inputs, as both GLFT entry points refuse them (ValueError)."""
    if not (0.0 < mid < math.inf):
        raise _bad("mid", mid, "a positive finite")
    if not (-math.inf < q < math.inf):
        raise _bad("q", q, "a finite")
    if not (0.0 <= sigma < math.inf):
        raise _bad("sigma", sigma, "a finite non-negative")


def glft_quote(mid: float, q: float, sigma: float, A: float, k: float, gamma: float, delta: float,
               spread_factor: float = 1.0, skew_factor: float = 1.0) -> GlftQuote:
    """GLFT bid and ask around ``mid`` for inventory ``q`` (coin, signed: + long; Δ in coin too).

    ``sigma`` is in price units per √s (log volatility × mid). ``sigma == 0`` is accepted (a
    flat market: half spread c1, no skew); a negative or non-finite value raises.
    """
    _check_state(mid, q, sigma)
    c1, c2 = glft_coefficients(A, k, gamma, delta)
    c2s = c2 * sigma
    half = (c1 + 0.5 * delta * c2s) * spread_factor
    skew = c2s * skew_factor
    shift = skew * q
    return GlftQuote(half, skew, mid - (half + shift), mid + (half - shift))


def glft_half_skew(mid: float, q: float, sigma: float, c1: float, c2: float, delta: float,
                   spread_factor: float = 1.0, skew_factor: float = 1.0) -> tuple[float, float]:
    """``glft_quote``'s (half_spread, skew), the same doubles, from ``glft_coefficients``' (c1, c2): what the quote
    cycle reads of it. The coefficients move with A and k only (refitted every few seconds), the half spread and
    skew with σ, which moves with every mid: the cycle keeps the coefficients, and neither the bid and ask it never
    read nor the quote object are made. The same inputs refused (``mid`` and ``q`` only checked: they set neither); the
    checks inline, _check_state called only to name what failed (the quote cycle calls this whenever its state
    moves)."""
    if not (0.0 < mid < _INF and -_INF < q < _INF and 0.0 <= sigma < _INF):
        _check_state(mid, q, sigma)
    c2s = c2 * sigma
    return (c1 + 0.5 * delta * c2s) * spread_factor, c2s * skew_factor


def glft_quote_with(cfg: GlftConfig, mid: float, q: float, sigma: float, A: float, k: float,
                    delta: float) -> GlftQuote:
    """``glft_quote`` with γ and the factors taken from a config (read once per cycle)."""
    return glft_quote(mid, q, sigma, A, k, cfg.gamma, delta, cfg.spread_factor, cfg.skew_factor)
