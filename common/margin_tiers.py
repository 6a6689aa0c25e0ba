"""A coin's margin table as the venue defines it (docs trading/margin-tiers): tiers of position notional, each with
the highest leverage a position in it may have, and the maintenance margin that follows from them.

    maintenance_margin = notional x maintenance_margin_rate(tier) - maintenance_deduction(tier)
    maintenance_margin_rate(n) = 1 / (2 x max leverage of tier n)  (half the initial margin at that leverage)
    maintenance_deduction(0) = 0
    maintenance_deduction(n) = maintenance_deduction(n - 1) + lower_bound(n) x (rate(n) - rate(n - 1))

so the maintenance margin is a continuous function of the notional: each tier's rate applies to the notional above
its lower bound only. A table of one tier is the flat 1 / (2 x max leverage) the twin and the agent had before.

Here because the twin (twin/accounts.py: maintenance, liquidation) and the agent (agent/core.py: the liquidation
price it moves with its fills) must compute the same figures from the same table, and the twin never imports the
agent (common/__init__.py). Each still keeps its own one-tier arithmetic, bit for bit as it was, where the table
has one tier: the objects here are made only for a table of several (``MarginTable.of``).
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence


class MarginTable:
    """Tiers ``(lower_bound, max_leverage)``, lowest bound first (0), bounds rising. Plain class with slots: the
    twin asks ``maintenance`` of every position at every margin check."""

    __slots__ = ("bounds", "leverages", "deductions")

    def __init__(self, tiers: Sequence[tuple[float, int]]) -> None:
        if not tiers:
            raise ValueError("a margin table has at least one tier")
        bounds = [float(b) for b, _ in tiers]
        leverages = [int(lev) for _, lev in tiers]
        if bounds[0] != 0.0:
            raise ValueError(f"the first tier's lowerBound is {bounds[0]:g}, not 0")
        if any(b1 <= b0 for b0, b1 in zip(bounds, bounds[1:])):
            raise ValueError(f"the tiers' lowerBounds {bounds} do not rise")
        if any(lev < 1 for lev in leverages):
            raise ValueError(f"a tier's maxLeverage below 1: {leverages}")
        deductions = [0.0]
        for n in range(1, len(bounds)):
            rate_step = 1.0 / (2.0 * leverages[n]) - 1.0 / (2.0 * leverages[n - 1])
            deductions.append(deductions[-1] + bounds[n] * rate_step)
        self.bounds = tuple(bounds)
        self.leverages = tuple(leverages)
        self.deductions = tuple(deductions)

    @classmethod
    def of(cls, tiers: Sequence[tuple[float, int]]) -> "MarginTable | None":
        """The table, or None for one of a single tier (or none): its holder keeps the flat arithmetic."""
        return cls(tiers) if len(tiers) > 1 else None

    def tier(self, notional: float) -> int:
        """The index of the tier ``notional`` (>= 0) falls in: the highest whose lower bound it reaches (a bound is
        its tier's lowest notional)."""
        k = bisect_right(self.bounds, notional) - 1
        return k if k > 0 else 0

    def max_leverage_at(self, notional: float) -> int:
        return self.leverages[self.tier(notional)]

    def maintenance(self, notional: float) -> float:
        """The maintenance margin of a position of ``notional`` (USDC, >= 0)."""
        k = self.tier(notional)
        return notional / (2.0 * self.leverages[k]) - self.deductions[k]

    def liquidation_px(self, s: float, mark: float, available: float) -> float:
        """The mark at which a position of ``s`` (signed, not 0) is liquidated, in the docs' form
        (trading/liquidations): ``mark - side x available_k / |s| / (1 - side x l_k)``, with ``available`` the margin
        available at ``mark`` (the equity less every maintenance margin, this position's at its tier there) and
        ``l_k`` tier k's rate, ``available_k`` the same with this position's maintenance taken at tier k's rate and
        deduction. The tier is the one the price's own notional falls in (``_in_its_tier``)."""
        size = abs(s)
        side = 1.0 if s > 0.0 else -1.0
        ntl = size * mark
        here = self.tier(ntl)
        own = ntl / (2.0 * self.leverages[here]) - self.deductions[here]
        return self._in_its_tier(size, [
            mark - side * (available if k == here else available + own - (ntl / (2.0 * lev) - self.deductions[k]))
            / size / (1.0 - side / (2.0 * lev)) for k, lev in enumerate(self.leverages)])

    def liquidation_px_z(self, s: float, z: float) -> float:
        """The same price in the agent's form (agent/core.py ``_liq_follow``): L solving s x L - z =
        maintenance(|s| L), with z = s x entry - the collateral, which in tier k is (z - deduction_k) / (s - |s| x
        rate_k)."""
        size = abs(s)
        return self._in_its_tier(size, [(z - d) / (s - size * (0.5 / lev))
                                        for lev, d in zip(self.leverages, self.deductions)])

    def _in_its_tier(self, size: float, prices: list[float]) -> float:
        """Of each tier's price (``prices[k]``: the one solving with tier k's rate and deduction), the one whose own
        notional, ``size`` x it, lies in tier k. The equity less the maintenance is monotone in the price (a tier's
        rate is at most 1/2), so exactly one does; at a bound both neighbours' do, equal but for rounding, and of
        prices each an ulp outside its tier the nearest is taken. Tier 0 takes every notional under the next bound,
        a price at or under 0 included (a long no positive price liquidates)."""
        bounds = self.bounds
        last = len(bounds) - 1
        best, miss = prices[0], float("inf")
        for k, px in enumerate(prices):
            ntl = size * px
            if k > 0 and ntl < bounds[k]:
                off = bounds[k] - ntl
            elif k < last and ntl >= bounds[k + 1]:
                off = ntl - bounds[k + 1] + 1e-300  # (the bound itself is the next tier's)
            else:
                return px
            if off < miss:
                best, miss = px, off
        return best
