"""Reconcile desired quotes against live orders: the fewest requests that get us there, safely.

Rules, in order:
1. a live order within tolerance of a desired quote on its side is kept (no request);
2. other live orders are cancelled (cancels first: they reduce risk and may use the reserve);
3. missing quotes are placed, nearest the touch first, only while the request budget allows
   (never touching the cancel reserve) and only up to the position limit counted on
   worst-case position: position + every same-side order that could still fill;
4. reduce-only quotes are only on the reducing side and never total more than |position|; they also
   rest beside every other same-side order that could still fill (stale ones being cancelled too), so
   the worst-case limit of rule 3 holds for them as well.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from agent.execution.budget import RequestBudget
from agent.execution.orders import CloidFactory, OrderState, OrderTracker
from agent.gateway.events import Batch, CancelOrder, Command, PlaceOrder, Side, Tif


class DesiredQuote(NamedTuple):
    """A quote the model wants resting (a NamedTuple: built ~10 times per cycle, cheaply)."""

    side: Side
    px: float
    sz: float
    level: int
    reduce_only: bool = False


class ReconcileConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    price_tolerance_ticks: float = Field(1.5, ge=0, description="Keep a live order whose price is within this many "
                                                                "ticks of a desired quote (0.5: exact price only; "
                                                                "keeping queue position is worth a tick).")
    size_tolerance_frac: float = Field(0.25, ge=0, description="... and whose remaining size is within this share.")
    max_requests_per_cycle: int = Field(20, ge=1, description="Upper bound on request items sent per cycle.")


_IN_DOUBT = frozenset({OrderState.PENDING_CANCEL, OrderState.STALE})  # a cancel is out, or only a snapshot knows
_KEEPABLE = frozenset({OrderState.RESTING, OrderState.PARTIALLY_FILLED, OrderState.PENDING_NEW})
_BUY = Side.BUY
_SELL = Side.SELL
_ALO = Tif.ALO


def reconcile(desired: list[DesiredQuote], tracker: OrderTracker, *, tick: float, lot: float, max_position: float,
              budget: RequestBudget, cloids: CloidFactory, cfg: ReconcileConfig,
              min_notional: float = 0.0) -> list[Command]:
    """Minimal commands from the live orders to ``desired``. A quote cut down by the room left under
    the limit to less than ``min_notional`` is not sent (the venue would reject it) unless reduce-only."""
    # Runs on most quote cycles: plain loops over a dozen orders, no per-order dict or set work
    # beyond what the rules need (the order of cancels and places is part of the contract).
    tol_px = cfg.price_tolerance_ticks * tick
    size_tol = cfg.size_tolerance_frac
    max_items = cfg.max_requests_per_cycle
    live = tracker.live_set.values()  # read-only here: nothing below changes the tracker's live set
    # candidates per (side, reduce_only), in live order: only orders that can still be kept as they are
    pools: dict[tuple, list] = {}
    for o in live:
        if o.state in _KEEPABLE:
            k = (o.side, o.reduce_only)
            pool = pools.get(k)
            if pool is None:
                pools[k] = [o]
            else:
                pool.append(o)
    keep: set[str] = set()
    unmatched: list[DesiredQuote] = []
    any_ro = False
    for d in desired:
        d_ro = d.reduce_only
        pool = pools.get((d.side, d_ro))
        if pool:
            d_px = d.px
            d_sz = d.sz
            lo_sz = d_sz - size_tol * d_sz - 1e-12
            hi_sz = d_sz + size_tol * d_sz + 1e-12
            for i, o in enumerate(pool):
                if abs(o.px - d_px) <= tol_px and lo_sz <= o.sz - o.filled_sz <= hi_sz:
                    keep.add(o.cloid)
                    del pool[i]
                    break
            else:
                unmatched.append(d)
                any_ro = any_ro or d_ro
        else:
            unmatched.append(d)
            any_ro = any_ro or d_ro

    cancels: list[Command] = []
    n_items = 0
    headroom = budget.headroom  # a cancel may spend everything left (see RequestBudget.can_spend)
    for o in live:
        if o.cloid in keep or o.state in _IN_DOUBT:
            continue
        if n_items >= max_items or n_items + 1 > headroom:
            break
        cancels.append(CancelOrder(o.cloid))
        n_items += 1

    # exposure after the cancels we send still counts them: they may fill before they land (always
    # asked: it also expires settled cancels, which the core's "anything changed?" key counts)
    wc_long, wc_short = tracker.worst_case_positions()
    places: list[Command] = []
    if unmatched:
        pos = tracker.position
        room_buy = max_position - wc_long
        room_sell = max_position + wc_short
        if any_ro:
            ro_buy = max(0.0, -pos) - _ro_live(tracker, _BUY)
            ro_sell = max(0.0, pos) - _ro_live(tracker, _SELL)
        spendable = budget.spendable(is_cancel=False) - n_items
        if len(unmatched) > 1:
            unmatched.sort(key=_level)  # nearest the touch first (stable: bids before asks per level)
        for d in unmatched:
            if n_items >= max_items or spendable <= 0:
                break
            sz = d.sz
            buy = d.side > 0
            if d.reduce_only:  # it only reduces the filled position, but other same-side orders can fill first
                room = min(ro_buy, room_buy) if buy else min(ro_sell, room_sell)
            else:
                room = room_buy if buy else room_sell
            if room < sz:
                sz = room
            sz = round(math.floor(sz / lot + 1e-9) * lot, 10)
            if sz <= 0.0 or (not d.reduce_only and sz * d.px < min_notional):
                continue
            if d.reduce_only:
                if buy:
                    ro_buy -= sz
                else:
                    ro_sell -= sz
            if buy:
                room_buy -= sz
            else:
                room_sell -= sz
            places.append(PlaceOrder(cloids.next(), d.side, d.px, sz, _ALO, d.reduce_only))
            n_items += 1
            spendable -= 1
    if cancels:
        if places:
            return [Batch(tuple(cancels)), Batch(tuple(places))]
        return [Batch(tuple(cancels))] if len(cancels) > 1 else cancels
    if len(places) > 1:
        return [Batch(tuple(places))]
    return places


def _level(q: DesiredQuote) -> int:
    return q.level


def _ro_live(tracker: OrderTracker, side: Side) -> float:
    return sum(o.remaining for o in tracker.live_set.values() if o.reduce_only and o.side is side)
