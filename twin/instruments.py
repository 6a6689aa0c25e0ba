"""Instruments as the venue defines them, and the venue's own order-entry rules.

The twin plays the venue, so these checks are written here independently of the agent's
rounding code: a shared bug would be invisible (STYLE.md). Rules from hyperliquid.md §3.4:
prices have at most 5 significant figures (integers always pass) and at most
``6 - szDecimals`` decimals on perps; sizes have at most ``szDecimals`` decimals.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache

from pydantic import ConfigDict, Field, field_validator

from common.files import FileModel

MAX_DECIMALS_PERP = 6
MAX_SIG_FIGS = 5


class InstrumentSpec(FileModel):
    """One perp market. ``dex`` empty is the validator-run first dex; a HIP-3 market names its dex."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("BTC", description="Coin name without the dex prefix, e.g. BTC.")
    dex: str = Field("", description="Builder-deployed (HIP-3) dex name; empty for the first dex.")
    dex_index: int = Field(0, ge=0, le=100_000,
                           description="Position of the dex in perpDexs (0 = first dex); fixes HIP-3 asset ids.")
    index: int = Field(0, ge=0, le=9999, description="Index of the coin in its dex's meta.universe.")
    sz_decimals: int = Field(5, ge=0, le=8, description="Size decimals (BTC on Hyperliquid: 5).")
    max_leverage: int = Field(40, ge=1, le=1000, description="Maximum leverage the venue allows for this coin.")
    only_isolated: bool = Field(False, description="Isolated margin only (meta onlyIsolated; HIP-3 markets often "
                                "are): positions hold their own margin, updateLeverage refuses cross.")
    min_notional_usd: float = Field(10.0, ge=0.01, le=1e9,
                                    description="Minimum order value in USDC ($10 on the venue).")
    max_open_orders: int = Field(1000, ge=1, le=1_000_000,
                                 description="Open-order limit per account before volume (venue base: "
                                 "1000); one more per 5M USDC traded, to 5000; reduce-only orders are "
                                 "refused from this base on.")
    maker_fee: float = Field(0.00015, ge=-0.01, le=0.1,
                             description="Maker fee as a fraction of notional (venue base tier 0.015%).")
    taker_fee: float = Field(0.00045, ge=-0.01, le=0.1,
                             description="Taker fee as a fraction of notional (venue base tier 0.045%).")
    tick: float = Field(1.0, ge=1e-12, le=1e9,
                        description="Price grid the twin's synthetic book uses (must satisfy the price rule).")

    @field_validator("tick")
    @classmethod
    def _tick_prints_exactly(cls, v: float) -> float:
        """A whole number or one significant figure (0.5, 1e-4): the synthetic book prints its levels with the
        tick's decimals (0.25 has one), and its queues find a price's level as a whole number of ticks from the
        touch; a tick of 0.25 listed 3000.2, 3000, 2999.8, 2999.5, levels off its own grid and unevenly apart.
        The venue's own grids (its price rule) are powers of ten."""
        d = Decimal(repr(float(v))).normalize()
        if d != d.to_integral_value() and len(d.as_tuple().digits) > 1:
            raise ValueError(f"tick {v} has more than one significant figure; use a whole number or one like 0.5, "
                             f"0.1 or 0.0001 (the venue's grids are powers of ten)")
        return v

    @property
    def coin(self) -> str:
        """The venue's coin name: HIP-3 coins carry the ``dex:`` prefix everywhere."""
        return f"{self.dex}:{self.name}" if self.dex else self.name

    @property
    def asset_id(self) -> int:
        """``index`` on the first dex; ``100000 + dex_index*10000 + index`` on a HIP-3 dex."""
        if self.dex_index == 0:
            return self.index
        return 100000 + self.dex_index * 10000 + self.index

    @property
    def lot(self) -> float:
        return 10.0 ** (-self.sz_decimals)


def default_instruments() -> list[InstrumentSpec]:
    """A liquid perp (BTC on the first dex) and a thin HIP-3 style market on a builder dex."""
    return [
        InstrumentSpec(),
        InstrumentSpec(name="LIT", dex="hyna", dex_index=4, index=0, sz_decimals=1, max_leverage=10,
                       only_isolated=True, maker_fee=0.0003, taker_fee=0.0009, tick=0.0001),
    ]


def _decimal(x: float | str) -> Decimal | None:
    try:
        d = Decimal(x if isinstance(x, str) else repr(float(x)))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


@lru_cache(maxsize=8192)  # a pure function of its arguments, asked on every order at a few hundred prices
def price_is_valid(px: float | str, sz_decimals: int, max_decimals: int = MAX_DECIMALS_PERP) -> bool:
    """The venue's price rule: integer, or ≤5 significant figures and ≤ max_decimals−szDecimals decimals."""
    d = _decimal(px)
    if d is None or d <= 0:
        return False
    if d == d.to_integral_value():
        return True
    d = d.normalize()
    sign, digits, exponent = d.as_tuple()
    decimals = -exponent if exponent < 0 else 0
    if decimals > max_decimals - sz_decimals:
        return False
    return len(digits) <= MAX_SIG_FIGS


def held_decimals(size: float, sz_decimals: int) -> int:
    """The decimals of the lot ``size`` is held on: the coin's ``sz_decimals``, or more for a position opened on a
    finer lot (the venue lowered the coin's size decimals while it was held; the position keeps the lot it was opened
    on, and so does its remainder after closes on the coin's new lot), at most 8 (the wire's). A residue of float
    arithmetic under 1e-12 of the size is no finer lot."""
    d = sz_decimals
    tol = 1e-12 * (abs(size) if abs(size) > 1.0 else 1.0)
    while d < 8 and abs(round(size, d) - size) > tol:
        d += 1
    return d


@lru_cache(maxsize=8192)  # likewise: a ladder repeats a handful of sizes
def size_is_valid(sz: float | str, sz_decimals: int) -> bool:
    """At most ``szDecimals`` decimals and positive."""
    d = _decimal(sz)
    if d is None or d <= 0:
        return False
    exponent = d.normalize().as_tuple().exponent
    return (-exponent if exponent < 0 else 0) <= sz_decimals
