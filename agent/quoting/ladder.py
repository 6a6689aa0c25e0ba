"""Ladders: N levels a side from the model's bid and ask, on prices and sizes the venue accepts.

Venue rule (hyperliquid.md §3.4): a perp price has ≤5 significant figures and ≤ 6 − szDecimals
decimals, and an integer price is always valid; a size has ≤ szDecimals decimals; an order is
worth ≥ $10. Rounding goes the safe way (bids down, asks up, sizes down), so a quote is never
more aggressive or larger than the model asked. The twin checks the same rule with its own code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, Sequence

from pydantic import Field

from common.files import FileModel

# Relative tolerance when a price is scaled onto an integer grid: px·10^d or px/tick carries a few
# ulps of binary error (0.29·100 = 28.999999999999996), which must not cost a whole grid step.
_REL = 1e-14
_UP = 1.0 + _REL  # (the factors touch_ticks scales by, made once: the same doubles as made per call)
_DOWN = 1.0 - _REL
_INF = math.inf
_floor = math.floor
_ceil = math.ceil


MAX_LEVELS = 20  # LadderConfig.n_levels' bound: reconcile's per-level bands are made for as many


class LadderConfig(FileModel):
    n_levels: int = Field(3, ge=1, le=MAX_LEVELS, description="Levels per side.")
    level_spacing_ticks: float = Field(2.0, ge=0.01, le=1e6, description="Distance between consecutive levels, ticks.")
    size_ratio: float = Field(1.5, ge=0.01, le=10.0,
                              description="Geometric growth of size per level away from the touch (1 = flat).")
    min_notional_usd: float = Field(10.0, ge=0, le=1e9,
                                    description="Levels worth less than this are dropped (venue minimum $10).")

    def sizes(self, base: float) -> list[float]:
        return geometric(base, self.size_ratio, self.n_levels)


class KeptLadder:
    """``desired_ladder`` for one set of its arguments but the touch prices (levels, spacing, sizes, decimals, minimum,
    tick, ``desired``): what the quote cycle holds while its sizes and config do. ``quotes`` takes the touch in ticks
    the caller has made already (``touch_ticks``, the cycle's memo key of the ladder), and the grid's terms for the
    arguments are made once here: neither is made again per ladder.

    On the tick grid's fast path each side's quotes are a function of its touch price alone: they are kept under it
    (two dicts, in ``terms``) and taken again when the touch comes back (a mid that moves back and forth over a few
    ticks: at 10 Hz about half the sides a cycle needs were made before). The list returned is new each time; the
    quotes in it (tuples) are shared. Off the fast path, ``desired_ladder`` as it is."""

    __slots__ = ("args", "kwargs", "terms", "na_max")

    def __init__(self, n_levels: int, level_spacing: float, sizes: Sequence[float], sz_decimals: int,
                 min_notional: float = 10.0, *, tick: float, ask_sizes: Sequence[float] | None, desired: tuple) -> None:
        self.args = (n_levels, level_spacing, sizes, sz_decimals, min_notional)
        self.kwargs = {"tick": tick, "ask_sizes": ask_sizes, "desired": desired}
        n = min(n_levels, len(sizes)) if ask_sizes is None else min(n_levels, len(sizes), len(ask_sizes))
        self.terms: tuple = ()  # _kept_sides'
        # the fast path applies to a touch 0 < nb < na <= na_max in ticks (none without the grid): _grid_touch's test
        self.na_max = 0
        if tick > 0.0:
            ok, m, step, p10, bound = _grid_spec(tick, level_spacing, sz_decimals)
            if ok:
                self.terms = _side_terms(n, m, step, p10, sizes, sizes if ask_sizes is None else ask_sizes,
                                         min_notional, desired, ({}, {}))
                self.na_max = _na_max(m, p10, bound, (n - 1) * step)

    def quotes(self, bid_px: float, ask_px: float, nb: int, na: int) -> list:
        """``desired_ladder(bid_px, ask_px, ...)`` for ``(nb, na) == touch_ticks(bid_px, ask_px, tick)`` (which only a
        finite touch has: touch_ticks raises on any other, and an ask above a bid above zero ticks is above zero).
        _grid_touch's test on that touch is whether nb and na are in the range ``na_max`` bounds, made once."""
        if 0 < nb < na <= self.na_max and GRID_FAST_PATH:
            return _kept_sides(nb, na, self.terms)
        return desired_ladder(bid_px, ask_px, *self.args, **self.kwargs)


def _na_max(m: int, p10: float, bound: float, deep: int) -> int | float:
    """The highest ask in ticks on the grid's fast path (m, p10 and bound ``_grid_spec``'s; ``deep`` the deepest level's
    offset, (n - 1)·step): the last na for which _grid_touch's ``(na * m + deep) / p10 < bound`` holds, which only
    fails as na rises (an int's conversion to a float, and the division, are monotone); inf when the bound is."""
    if bound == _INF:
        return _INF
    na = max(0, int((bound * p10 - deep) // m))  # (about it: then stepped to it by the test itself)
    while ((na + 1) * m + deep) / p10 < bound:
        na += 1
    while na > 0 and not ((na * m + deep) / p10 < bound):
        na -= 1
    return na


class Quote(NamedTuple):
    """One resting order to hold: immutable; a NamedTuple because a ladder builds ten per cycle
    and a frozen dataclass costs three times as much to construct."""

    side: int  # +1 bid, −1 ask
    px: float
    sz: float  # coin


_new_quote = tuple.__new__


@dataclass(frozen=True, slots=True)
class Ladder:
    bids: tuple[Quote, ...]  # best (highest) first
    asks: tuple[Quote, ...]  # best (lowest) first


def geometric(base: float, ratio: float, n: int) -> list[float]:
    """Sizes base, base·ratio, base·ratio², … for n levels."""
    return [base * ratio ** i for i in range(n)]


def flat(base: float, n: int) -> list[float]:
    return [base] * n


def venue_price_decimals(px: float, sz_decimals: int) -> int:
    """Decimals the venue allows at this price: ≤5 significant figures, ≤ 6 − szDecimals, ≥ 0."""
    mag = math.floor(math.log10(px))  # a float error here only ever costs a decimal: still valid
    dec = 4 - mag
    cap = 6 - sz_decimals
    if dec > cap:
        dec = cap
    return dec if dec > 0 else 0


def venue_min_size(min_notional: float, px: float, lot: float) -> float:
    """The smallest size on the lot grid worth ``min_notional`` at ``px`` (the venue's $10 minimum order): the
    one statement of it the quotes, the dry run's far orders and the start's checks use."""
    return math.ceil(min_notional / px / lot - 1e-9) * lot


def round_px_to_venue(px: float, sz_decimals: int, side: int) -> float:
    """The nearest venue-valid price on the safe side: bids (side > 0) down, asks (side < 0) up.

    0.0 when a bid rounds down to nothing (or ``px`` ≤ 0): the caller drops that level.
    """
    if not (px > 0.0):
        return 0.0
    dec = venue_price_decimals(px, sz_decimals)
    scale = 10.0 ** dec
    x = px * scale
    if dec:
        n = math.floor(x * (1.0 + _REL)) if side > 0 else math.ceil(x * (1.0 - _REL))
    else:  # no scaling, no error to absorb: an integer price is exact
        n = math.floor(x) if side > 0 else math.ceil(x)
    # an exact integer over an exact power of ten is correctly rounded: the double nearest the
    # decimal, whose repr is the short form the wire needs
    return n / scale


@lru_cache(maxsize=64)
def _step_decimals(step: float) -> int:
    """Decimals needed to write multiples of ``step`` (0.01 → 2, 0.5 → 1, 0.25 → 2, 5 → 0)."""
    for d in range(13):
        x = step * 10.0 ** d
        if abs(x - round(x)) < 1e-9 * max(1.0, x):
            return d
    return 12


def _to_grid(px: float, step: float, dec: int, down: bool) -> float:
    x = px / step
    n = math.floor(x * (1.0 + _REL)) if down else math.ceil(x * (1.0 - _REL))
    return round(n * step, dec)


def _bid_px(px: float, tick: float, tick_dec: int, szd: int) -> float:
    if tick > 0.0:
        px = _to_grid(px, tick, tick_dec, True)
    return round_px_to_venue(px, szd, 1)


def _ask_px(px: float, tick: float, tick_dec: int, szd: int) -> float:
    if tick > 0.0:
        px = _to_grid(px, tick, tick_dec, False)
    return round_px_to_venue(px, szd, -1)


def build_ladder(bid_px: float, ask_px: float, n_levels: int, level_spacing: float, sizes: Sequence[float],
                 sz_decimals: int, size_multiplier: float = 1.0, min_notional: float = 10.0, *,
                 tick: float = 0.0, lot: float = 0.0, ask_sizes: Sequence[float] | None = None,
                 on_lot: bool = False) -> Ladder:
    """Up to ``n_levels`` quotes a side, level i at ``bid_px − i·spacing`` / ``ask_px + i·spacing``.

    Prices go to the ``tick`` grid (0 = none) then to the venue rule, bids down and asks up;
    a level that collapses onto the previous one after rounding is pushed one step further out.
    Sizes are ``sizes[i]·size_multiplier`` rounded down to the ``lot`` (0 = 10^−szDecimals), the
    asks' from ``ask_sizes`` when given (a size floored at the venue minimum differs by side: a bid is
    worth less than an ask of the same size); a level whose size rounds to zero or whose notional is
    below ``min_notional`` is dropped. ``on_lot``: ``sizes`` (and ``ask_sizes``) are already ``lot_sizes``' result
    for these levels, multiplier and lot, used as they are (a caller that keeps its sizes from ladder to
    ladder rounds them once).
    If the inputs cross (bid ≥ ask after rounding) both sides start from their midpoint, the
    ask rounded up and the bid down (one more step down if both land on it), so bids stay
    strictly below asks. A bid that rounds to 0 or below ends the bid side.
    """
    if not (-math.inf < bid_px < math.inf and 0.0 < ask_px < math.inf):  # a bid ≤ 0 just quotes no bids
        raise ValueError(f"build_ladder needs a finite bid_px and a positive finite ask_px, "
                         f"got bid_px={bid_px!r} ask_px={ask_px!r}")
    n = min(n_levels, len(sizes)) if ask_sizes is None else min(n_levels, len(sizes), len(ask_sizes))
    if tick > 0.0 and GRID_FAST_PATH:
        fast = _grid_ladder(bid_px, ask_px, n, level_spacing, sizes, sz_decimals, size_multiplier, min_notional,
                            tick, lot, ask_sizes, on_lot)
        if fast is not None:
            return fast
    szs, szs_a = _side_sizes(sizes, ask_sizes, n, size_multiplier, sz_decimals, lot, on_lot)
    tick_dec = _step_decimals(tick) if tick > 0.0 else 0
    b0 = _bid_px(bid_px, tick, tick_dec, sz_decimals)
    a0 = _ask_px(ask_px, tick, tick_dec, sz_decimals)
    if a0 <= b0:
        m = 0.5 * (bid_px + ask_px)
        b0 = _bid_px(m, tick, tick_dec, sz_decimals)
        a0 = _ask_px(m, tick, tick_dec, sz_decimals)
        if a0 <= b0:  # the midpoint sits on the grid: step the bid one grid step down
            b0 = _bid_px(b0 - max(tick, 10.0 ** -venue_price_decimals(b0, sz_decimals)), tick, tick_dec,
                         sz_decimals)
    return Ladder(_bid_side(b0, n, level_spacing, szs, tick, tick_dec, sz_decimals, min_notional),
                  _ask_side(a0, n, level_spacing, szs_a, tick, tick_dec, sz_decimals, min_notional))


def desired_ladder(bid_px: float, ask_px: float, n_levels: int, level_spacing: float, sizes: Sequence[float],
                   sz_decimals: int, min_notional: float = 10.0, *, tick: float, ask_sizes: Sequence[float] | None,
                   desired: tuple) -> list:
    """``build_ladder(..., min_notional, tick=tick, ask_sizes=ask_sizes, on_lot=True)`` as the quote cycle uses
    it: one list of ``desired``'s (a NamedTuple class, its bid side, its ask side) (side, px, sz, level, False),
    the bids then the asks, level = the quote's index on its side. On the tick grid's fast path it is made directly (a
    quote cycle that moves the ladder made ten quotes, a Ladder, then ten more from them).

    The quote cycle keeps each side of its ladder under its touch price: ``KeptLadder``."""
    n = min(n_levels, len(sizes)) if ask_sizes is None else min(n_levels, len(sizes), len(ask_sizes))
    if tick > 0.0 and GRID_FAST_PATH and math.isfinite(bid_px) and 0.0 < ask_px < math.inf:
        fast = _grid_ladder(bid_px, ask_px, n, level_spacing, sizes, sz_decimals, 1.0, min_notional, tick, 0.0,
                            ask_sizes, True, desired)
        if fast is not None:
            return fast
    ladder = build_ladder(bid_px, ask_px, n_levels, level_spacing, sizes, sz_decimals, 1.0, min_notional, tick=tick,
                          ask_sizes=ask_sizes, on_lot=True)
    cls, buy, sell = desired
    out = [_new_quote(cls, (buy, x[1], x[2], i, False)) for i, x in enumerate(ladder.bids)]
    out += [_new_quote(cls, (sell, x[1], x[2], i, False)) for i, x in enumerate(ladder.asks)]
    return out


def lot_sizes(sizes: Sequence[float], n: int, mult: float, szd: int, lot: float) -> list[float]:
    """The first n sizes × mult, rounded down to the lot (0: the venue's 10^−szDecimals)."""
    up = 1.0 + _REL
    if lot > 0.0:
        lot_dec = _step_decimals(lot)
        return [round(math.floor(sizes[i] * mult / lot * up) * lot, lot_dec) for i in range(n)]
    per = 10.0 ** szd  # the venue's lot: divide by the exact power of ten
    return [math.floor(sizes[i] * mult * per * up) / per for i in range(n)]


def _side_sizes(sizes: Sequence[float], ask_sizes: Sequence[float] | None, n: int, mult: float, szd: int,
                lot: float, on_lot: bool) -> tuple[Sequence[float], Sequence[float]]:
    """(bid sizes, ask sizes) on the lot: as given when the caller rounded them already (``on_lot``)."""
    if on_lot:
        return sizes, sizes if ask_sizes is None else ask_sizes
    szs = lot_sizes(sizes, n, mult, szd, lot)
    return szs, szs if ask_sizes is None else lot_sizes(ask_sizes, n, mult, szd, lot)


GRID_FAST_PATH = True  # False: always the general rounding path (the tests compare the two)
_GRID_SPECS: dict[tuple, tuple] = {}


def _grid_spec(tick: float, spacing: float, szd: int) -> tuple:
    """(applies, tick in 10^-d units, spacing in the same units, 10^d, price bound) for a tick grid: the
    fast path applies when the spacing is whole ticks and every tick multiple below the bound is
    venue-valid (an integer tick: always; otherwise while the venue allows d decimals, below 10^(5-d))."""
    spec = _GRID_SPECS.get((tick, spacing, szd))
    if spec is None:
        d = _step_decimals(tick)
        p10 = 10 ** d
        m = round(tick * p10)
        k = spacing / tick
        kr = round(k)
        ok = kr >= 1 and abs(k - kr) <= 1e-9 * kr and m >= 1 and (d == 0 or 6 - szd >= d)
        bound = math.inf if d == 0 else 10.0 ** (5 - d)
        spec = (ok, m, kr * m, float(p10), bound)
        if len(_GRID_SPECS) > 256:
            _GRID_SPECS.clear()
        _GRID_SPECS[(tick, spacing, szd)] = spec
    return spec


def touch_ticks(bid_px: float, ask_px: float, tick: float) -> tuple[int, int]:
    """The bid's and the ask's touch prices in whole ticks, rounded as the tick grid's ladder rounds them (down and
    up, within a relative 1e-14): that ladder is a function of them and its sizes, so a caller may key a memo of it
    on them. (The quote cycle keyed its memo by floor(bid / tick + 1e-9), which put a bid within 1e-9 of a tick
    under it on the tick above the ladder's: a ladder one tick stale was taken again.)"""
    return _floor(bid_px / tick * _UP), _ceil(ask_px / tick * _DOWN)  # (every quote cycle: no sum, no attribute)


def _grid_touch(bid_px: float, ask_px: float, n: int, spacing: float, szd: int,
                tick: float) -> tuple[int, int, int, int, int] | None:
    """The tick grid's fast path's terms for a ladder, or None where it does not apply: (m, step, p10, nb, na),
    ``_grid_spec``'s and the touch in ticks (``touch_ticks``), a bid above zero and below the ask, the deepest ask
    within the grid's bound."""
    ok, m, step, p10, bound = _grid_spec(tick, spacing, szd)
    if not ok:
        return None
    nb, na = touch_ticks(bid_px, ask_px, tick)
    if nb <= 0 or na <= nb or (na * m + (n - 1) * step) / p10 >= bound:
        return None
    return m, step, p10, nb, na


def _grid_ladder(bid_px: float, ask_px: float, n: int, spacing: float, sizes: Sequence[float], szd: int,
                 size_multiplier: float, min_notional: float, tick: float, lot: float,
                 ask_sizes: Sequence[float] | None = None, on_lot: bool = False,
                 desired: tuple | None = None) -> Ladder | list | None:
    """The common case in integers: whole-tick spacing on a venue-valid tick grid, bid below ask. Level i
    is exactly i·spacing from the touch price, an integer over a power of ten: the same doubles the
    general path gives (each the double nearest the decimal), with none of its per-level rounding.
    None when it does not apply (the general path then decides). ``desired``: (a NamedTuple class, its
    bid side, its ask side): instead of the Ladder, one list of that class's (side, px, sz, level, False),
    the bids then the asks, level = the quote's index on its side (what the quote cycle made of the Ladder,
    made without the Ladder's quotes in between)."""
    grid = _grid_touch(bid_px, ask_px, n, spacing, szd, tick)
    if grid is None:
        return None
    m, step, p10, nb, na = grid
    szs, szs_a = _side_sizes(sizes, ask_sizes, n, size_multiplier, szd, lot, on_lot)
    nb *= m
    na *= m
    bids = []
    asks = []
    if desired is None:
        cls, buy, sell = Quote, 1, -1
    else:
        cls, buy, sell = desired
    for i in range(n):
        sz = szs[i]
        if sz > 0.0:
            num = nb - i * step
            if num > 0:  # a bid at or below zero ends the bid side
                px = num / p10
                if px * sz >= min_notional:
                    bids.append(_new_quote(cls, (buy, px, sz) if desired is None else
                                           (buy, px, sz, len(bids), False)))
            else:
                nb = -(1 << 62)  # and stays ended
        sz = szs_a[i]
        if sz > 0.0:
            px = (na + i * step) / p10
            if px * sz >= min_notional:
                asks.append(_new_quote(cls, (sell, px, sz) if desired is None else
                                       (sell, px, sz, len(asks), False)))
    if desired is None:
        return Ladder(tuple(bids), tuple(asks))
    bids += asks
    return bids


# touch prices a side's memo holds (a day's drift would grow it unbounded); past it, the oldest made goes, one at a
# time. Kept sides are long-lived containers, and their growth brings on the collector's generation-0 passes
# (60-130 µs, landing on quote cycles): 128 a side kept 63% of the sides at 10 Hz against 48%, and the replays of a
# 5-minute stress session showed 11-12 such passes in quote cycles against 6-8 with 16 or none, seven of them
# the slowest commanding cycles.
_SIDES_KEPT = 16


def _side_terms(n: int, m: int, step: int, p10: float, szs: Sequence[float], szs_a: Sequence[float],
                min_notional: float, desired: tuple, sides: tuple[dict, dict]) -> tuple:
    """What _kept_sides reads, for the grid's terms (m, step, p10), the sizes, the minimum, ``desired`` and the kept
    ``sides``: each side's levels of a size > 0 as (level index × step, size), the others never quoted; and each
    side's whole-side terms (``_whole_side``)."""
    bid_levels = tuple((i * step, szs[i]) for i in range(n) if szs[i] > 0.0)
    ask_levels = tuple((i * step, szs_a[i]) for i in range(n) if szs_a[i] > 0.0)
    cls, buy, sell = desired
    return m, p10, bid_levels, ask_levels, min_notional, cls, buy, sell, sides[0], sides[1], \
        _whole_side(bid_levels, -1), _whole_side(ask_levels, 0)


def _whole_side(levels: tuple, edge: int) -> tuple | None:
    """(the levels as (level index × step, size, level index), the offset of the side's least price, the least size)
    of a side's ``levels``, for _kept_sides' one test that every level is kept (the least price, at
    ``levels[edge]``, by the least size worth the minimum): None for a side with no level."""
    if not levels:
        return None
    offs, szs = zip(*levels)
    return tuple(zip(offs, szs, range(len(levels)))), levels[edge][0], min(szs)


def _kept_sides(nb: int, na: int, terms: tuple) -> list:
    """KeptLadder's list for the touch in ticks (nb, na) and ``_side_terms``' terms, where the fast path applies
    (_grid_touch's test). Level i of the bids is the integer nb·m − i·step over p10 (the first at or below zero ends the
    side, and every level after it is lower), of the asks na·m + i·step over p10; a level is kept when it is worth
    the minimum, and takes its index on its side.

    A side whose every level is kept (its least price above zero and, times its least size, worth the minimum: x / p10
    and x · sz are monotone in x and in sz, so then every level's is) is made without the per-level tests, each level
    taking its own index (a side made is most of a commanding cycle's ladder: five levels at 10 Hz, a third of their
    bytecodes in those tests)."""
    m, p10, bid_levels, ask_levels, min_notional, cls, buy, sell, bid_memo, ask_memo, bid_whole, ask_whole = terms
    bids = bid_memo.get(nb)
    if bids is None:
        if len(bid_memo) >= _SIDES_KEPT:
            del bid_memo[next(iter(bid_memo))]  # the oldest made
        top = nb * m
        if bid_whole is not None and top - bid_whole[1] > 0 \
                and (top - bid_whole[1]) / p10 * bid_whole[2] >= min_notional:
            bids = [_new_quote(cls, (buy, (top - off) / p10, sz, i, False)) for off, sz, i in bid_whole[0]]
        else:
            bids = []
            push = bids.append
            for off, sz in bid_levels:
                num = top - off
                if num <= 0:  # a bid at or below zero ends the bid side (those after it are lower still)
                    break
                px = num / p10
                if px * sz >= min_notional:
                    push(_new_quote(cls, (buy, px, sz, len(bids), False)))
        bid_memo[nb] = bids
    asks = ask_memo.get(na)
    if asks is None:
        if len(ask_memo) >= _SIDES_KEPT:
            del ask_memo[next(iter(ask_memo))]
        top = na * m
        if ask_whole is not None and (top + ask_whole[1]) / p10 * ask_whole[2] >= min_notional:
            asks = [_new_quote(cls, (sell, (top + off) / p10, sz, i, False)) for off, sz, i in ask_whole[0]]
        else:
            asks = []
            push = asks.append
            for off, sz in ask_levels:
                px = (top + off) / p10
                if px * sz >= min_notional:
                    push(_new_quote(cls, (sell, px, sz, len(asks), False)))
        ask_memo[na] = asks
    return bids + asks


def _bid_side(b0: float, n: int, spacing: float, szs: list[float], tick: float, tick_dec: int, szd: int,
              min_notional: float) -> tuple[Quote, ...]:
    if b0 <= 0.0:
        return ()
    # Prices fall away from b0, and a lower price may carry at least as many decimals: the
    # decimals allowed at b0 stay valid for every bid level (at worst a little coarse).
    dec = venue_price_decimals(b0, szd)
    scale = 10.0 ** dec
    step = max(tick, 1.0 / scale)
    up = 1.0 + _REL
    out = []
    prev = math.inf
    for i in range(n):
        sz = szs[i]
        if sz <= 0.0:
            continue
        px = b0 - i * spacing
        if tick > 0.0:
            px = math.floor(px / tick * up) * tick
        px = math.floor(px * scale * up) / scale  # integer / 10^dec: the double nearest the decimal
        if px >= prev:  # rounding collapsed this level onto the previous one
            px = prev - step
            if tick > 0.0:
                px = math.floor(px / tick * up) * tick
            px = math.floor(px * scale * up) / scale
        if px <= 0.0:
            break
        prev = px
        if px * sz >= min_notional:
            out.append(_new_quote(Quote, (1, px, sz)))  # Quote(1, px, sz) without the wrapper call
    return tuple(out)


def _ask_side(a0: float, n: int, spacing: float, szs: list[float], tick: float, tick_dec: int, szd: int,
              min_notional: float) -> tuple[Quote, ...]:
    # Prices rise away from a0; past the next power of ten fewer decimals are allowed, so the
    # decimals are recomputed there.
    dec = venue_price_decimals(a0, szd)
    scale = 10.0 ** dec
    next_pow = 10.0 ** (math.floor(math.log10(a0)) + 1)
    down = 1.0 - _REL
    out = []
    prev = 0.0
    for i in range(n):
        sz = szs[i]
        if sz <= 0.0:
            continue
        px = a0 + i * spacing
        for _ in range(2):  # a second pass only when the collapse rule moved the price
            if tick > 0.0:
                px = math.ceil(px / tick * down) * tick
            if px >= next_pow:
                dec = venue_price_decimals(px, szd)
                scale = 10.0 ** dec
                next_pow = 10.0 ** (math.floor(math.log10(px)) + 1)
            px = math.ceil(px * scale * down) / scale
            if px > prev:
                break
            px = prev + max(tick, 1.0 / scale)  # rounding collapsed this level onto the previous one
        prev = px
        if px * sz >= min_notional:
            out.append(_new_quote(Quote, (-1, px, sz)))
    return tuple(out)
