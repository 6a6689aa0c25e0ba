"""Starting state for an account, set directly on a running twin: scenarios start mid-story.

A restart finds a position, orders an earlier run left resting and a quota already spent; these
functions put that state in place at the current simulated time, with the venue's own rules for
prices and sizes. They touch only the account's state, never the market's or another account's.
"""
from __future__ import annotations

import math
from numbers import Integral, Real

from twin.book import ClientOrder, join_size
from twin.exchange import Exchange
from twin.instruments import price_is_valid, size_is_valid


class SeedingError(ValueError):
    """A starting state the venue could not hold (a price off the venue's grid, an unfunded account, a cloid used
    twice)."""


def _account(ex: Exchange, user: str):
    acct = ex.accounts.get(user.lower())
    if acct is None:
        raise SeedingError(f"account {user} is not funded: call Exchange.fund first")
    return acct


def _finite(what: str, field: str, value) -> float:
    """``value`` as a float, when it is a finite number: a string ("0.5" from a file) stopped with a TypeError, True
    was taken for 1 (a position of one BTC), and a NaN was said to have too many decimals. ``what``: the state
    seeded, for the message."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise SeedingError(f"{what}: {field} {value!r} is not a finite number")
    return float(value)


def _flag(what: str, field: str, value) -> bool:
    """``value`` when it is a bool: a side given as "buy" rested an order whose side compared equal to neither."""
    if not isinstance(value, bool):
        raise SeedingError(f"{what}: {field} {value!r} is not true or false")
    return value


def set_position(ex: Exchange, user: str, coin: str, szi: float, entry_px: float | None = None, *,
                 lot_decimals: int | None = None) -> None:
    """The account holds ``szi`` (signed, coin units) of ``coin`` entered at ``entry_px`` (default:
    the current mark), as if an earlier session had traded into it. Cash is unchanged; an isolated position
    (on an ``onlyIsolated`` coin) holds the margin it would have opened with, |size| × entry / leverage, set
    aside out of its dex's cross balance (without it, its own equity would be its unrealised PnL alone, and
    the first margin check would liquidate it). ``lot_decimals``: the size decimals of the lot it was opened on,
    where finer than the coin's now (the venue lowered the coin's szDecimals while it was held): it keeps that lot,
    and its remainder after closes on the coin's lot stays the account's (Account.apply_fill)."""
    acct = _account(ex, user)
    inst = ex.instruments[coin]
    szi = _finite(f"position of {coin}", "szi", szi)
    entry_px = None if entry_px is None else _finite(f"position of {coin}", "entry_px", entry_px)
    # a count of decimals: 5.5 passed the range check and a size check on no lot, "5" stopped with a TypeError, and
    # True (Python's 1) was named as a bool's lot
    if lot_decimals is not None and (isinstance(lot_decimals, bool) or not isinstance(lot_decimals, Integral)):
        raise SeedingError(f"position of {coin}: lot_decimals {lot_decimals!r} is not a whole number of decimals")
    lot = inst.sz_decimals if lot_decimals is None else int(lot_decimals)
    if not inst.sz_decimals <= lot <= 8:
        raise SeedingError(f"position of {coin}: lot_decimals {lot_decimals} is not between the coin's size "
                           f"decimals, {inst.sz_decimals}, and 8")
    if not (szi == 0.0 or size_is_valid(abs(szi), lot)):
        raise SeedingError(f"position {szi} of {coin}: more than {lot} size decimals")
    if entry_px is not None and not entry_px > 0.0:
        raise SeedingError(f"position of {coin}: entry_px {entry_px!r} is not above zero")
    px = entry_px if entry_px is not None else ex.marks.get(coin)
    if px is None or not px > 0.0:
        raise SeedingError(f"position of {coin}: no entry price given and no mark yet")
    pos = acct.position(coin)
    pos.szi = float(szi)
    pos.entry_px = float(px) if szi else 0.0
    pos.margin_usd = abs(pos.szi) * pos.entry_px / pos.leverage if pos.isolated else 0.0


def rest_order(ex: Exchange, user: str, coin: str, is_buy: bool, px: float, sz: float, *,
               cloid: str | None = None, reduce_only: bool = False, tif: str = "Gtc") -> int:
    """Put an order of ``user`` in the book now, behind the displayed size at its price (it joined
    the queue earlier, the way an order left by a previous run did); returns its oid. The venue's
    price and size rules apply; margin and quota do not (it was accepted back then)."""
    acct = _account(ex, user)
    inst = ex.instruments[coin]
    what = f"resting order on {coin}"
    is_buy, reduce_only = _flag(what, "is_buy", is_buy), _flag(what, "reduce_only", reduce_only)
    px, sz = _finite(what, "px", px), _finite(what, "sz", sz)
    if not price_is_valid(px, inst.sz_decimals):
        raise SeedingError(f"resting order at {px} on {coin}: not a valid venue price")
    if not size_is_valid(sz, inst.sz_decimals):
        raise SeedingError(f"resting order of {sz} on {coin}: not a valid venue size")
    if cloid is not None and cloid in ex._status_by_cloid.get(acct.address, ()):
        # the twin's own order path refuses a cloid the account has used (Exchange._place, DUPLICATE_CLOID): seeded
        # here, it would rest a second order under it, and cancelByCloid and orderStatus by cloid would then find
        # only one of the two
        raise SeedingError(f"resting order with cloid {cloid} on {coin}: the account has used this cloid already "
                           f"(order {ex._status_by_cloid[acct.address][cloid]}); the venue refuses a second one")
    bb, ba = ex.best_bid[coin], ex.best_ask[coin]
    if (is_buy and ba == ba and px >= ba) or (not is_buy and bb == bb and px <= bb):
        raise SeedingError(f"resting {'bid' if is_buy else 'ask'} at {px} on {coin} would cross the book "
                           f"({bb}@{ba})")
    pxs = ex.bid_px if is_buy else ex.ask_px
    szs = ex.bid_sz if is_buy else ex.ask_sz
    ahead = join_size(pxs[coin], szs[coin], px, inst.tick, is_buy) if coin in pxs else 0.0
    oid = ex._next_oid
    ex._next_oid += 1
    order = ClientOrder(oid, cloid, acct.address, coin, is_buy, float(px), float(sz), float(sz), reduce_only, tif,
                        ahead, ex.now_ms())
    order.level_sz = ahead
    ex._remove(order, "open")  # (its status row and push: written before it rests, so nothing is taken out)
    ex.books[coin].add(order)
    ex.orders[oid] = order
    return oid


def set_traded_volume(ex: Exchange, user: str, coin: str, volume_usd: float) -> None:
    """The address has traded ``volume_usd`` in total, all of it in ``coin``: it raises the quota cap
    (one request per USDC) and counts toward the volume the dead-man's switch requires."""
    acct = _account(ex, user)
    ex.quotas[acct.address].cum_volume_usd = float(volume_usd)
    for pos in acct.positions.values():
        pos.volume_usd = 0.0
    acct.position(coin).volume_usd = float(volume_usd)


def set_quota_remaining(ex: Exchange, user: str, remaining: int) -> None:
    """Leave the address ``remaining`` requests below its cap (negative: already past it, in the slow lane)."""
    q = ex.quotas[_account(ex, user).address]
    q.used = max(0, q.cap - int(remaining))
