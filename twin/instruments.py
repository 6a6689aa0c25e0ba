"""Instruments as the venue defines them, and the venue's own order-entry rules.

The twin plays the venue, so these checks are written here independently of the agent's
rounding code: a shared bug would be invisible (STYLE.md). Rules from hyperliquid.md §3.4:
prices have at most 5 significant figures (integers always pass) and at most
``6 - szDecimals`` decimals on perps; sizes have at most ``szDecimals`` decimals.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import lru_cache

from pydantic import ConfigDict, Field, field_validator, model_validator

from common.files import FileModel
from common.margin_tiers import MarginTable

MAX_DECIMALS_PERP = 6
MAX_SIG_FIGS = 5


class MarginTierSpec(FileModel):
    """One tier of a coin's margin table (meta's ``marginTiers`` row): from ``lower_bound`` of position notional up,
    at most ``max_leverage``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lower_bound: float = Field(ge=0.0, le=1e15, description="Position notional (USDC) from which this tier applies; "
                               "the first tier's is 0.")
    max_leverage: int = Field(ge=1, le=1000, description="Highest leverage a position in this tier may have; its "
                              "maintenance margin rate is 1 / (2 x this).")


# the venue's table ids: one under 50 is a single tier at that leverage, never listed with tiers (docs
# trading/margin-tiers: "For IDs less than 50, there is a single tier with max leverage equal to the ID")
FLAT_TABLE_IDS_BELOW = 50


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
    margin_tiers: tuple[MarginTierSpec, ...] = Field(
        (), max_length=16, description="The coin's margin tiers (docs trading/margin-tiers), lowest first: the first "
        "at lower_bound 0 with max_leverage equal to the coin's, bounds rising, leverages falling. Empty: one tier at "
        "max_leverage.")
    margin_table_id: int | None = Field(
        None, ge=0, le=1_000_000, description="meta's marginTableId for a tiered table (50 or more: ids under 50 are "
        "the single-tier tables, the id their leverage); required with two tiers or more, and given the same tiers on "
        "every coin that names it.")
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

    @model_validator(mode="after")
    def _tiers_fit(self) -> "InstrumentSpec":
        """The tiers the venue would list: the first from 0 at the coin's max_leverage, bounds rising and leverages
        falling (a larger position never gets more leverage), and a tiered table's id out of the single-tier ids."""
        tiers = self.margin_tiers
        if tiers:
            if tiers[0].lower_bound != 0.0 or tiers[0].max_leverage != self.max_leverage:
                raise ValueError(f"margin_tiers[0] must be lower_bound 0 at max_leverage {self.max_leverage} (the "
                                 f"coin's), not lower_bound {tiers[0].lower_bound:g} at {tiers[0].max_leverage}")
            for n in range(1, len(tiers)):
                a, b = tiers[n - 1], tiers[n]
                if not b.lower_bound > a.lower_bound or not b.max_leverage < a.max_leverage:
                    raise ValueError(f"margin_tiers[{n}] (lower_bound {b.lower_bound:g}, max_leverage "
                                     f"{b.max_leverage}) must have a higher lower_bound and a lower max_leverage "
                                     f"than margin_tiers[{n - 1}] ({a.lower_bound:g}, {a.max_leverage})")
        if len(tiers) > 1:
            if self.margin_table_id is None or self.margin_table_id < FLAT_TABLE_IDS_BELOW:
                raise ValueError(f"margin_table_id must be given, {FLAT_TABLE_IDS_BELOW} or more, for {self.coin}'s "
                                 f"{len(tiers)} margin tiers (ids under {FLAT_TABLE_IDS_BELOW} are the venue's "
                                 f"single-tier tables); got {self.margin_table_id}")
        elif self.margin_table_id is not None and self.margin_table_id != self.max_leverage:
            raise ValueError(f"margin_table_id {self.margin_table_id} given for a single-tier table: its id is its "
                             f"max_leverage ({self.max_leverage}); leave it out")
        return self

    @property
    def table_id(self) -> int:
        """meta's marginTableId: the tiered table's, or for one tier its leverage."""
        return self.margin_table_id if len(self.margin_tiers) > 1 else self.max_leverage

    @property
    def tier_pairs(self) -> tuple[tuple[float, int], ...]:
        """The tiers as (lower bound, max leverage), one (0, max_leverage) for a single-tier coin."""
        if len(self.margin_tiers) > 1:
            return tuple((t.lower_bound, t.max_leverage) for t in self.margin_tiers)
        return ((0.0, self.max_leverage),)

    def margin_table(self) -> MarginTable | None:
        """The coin's table for the twin's accounts; None for one tier (the accounts' flat arithmetic)."""
        return MarginTable.of(self.tier_pairs)

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
