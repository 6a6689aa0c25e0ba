"""Reconcile desired quotes against live orders: the fewest requests that get us there, safely.

Rules, in order:
1. a live order within tolerance of a desired quote on its side is kept (no request);
2. other live orders are cancelled (cancels first: they reduce risk and may use the reserve);
3. missing quotes are placed, nearest the touch first, only while the request budget allows
   (never touching the cancel reserve) and only up to the position limit counted on
   worst-case position: position + every same-side order that could still fill;
4. reduce-only quotes are only on the reducing side and never total more than |position|.
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


def reconcile(desired: list[DesiredQuote], tracker: OrderTracker, *, tick: float, lot: float, max_position: float,
              budget: RequestBudget, cloids: CloidFactory, cfg: ReconcileConfig,
              min_notional: float = 0.0) -> list[Command]:
    """Minimal commands from the live orders to ``desired``. A quote cut down by the room left under
    the limit to less than ``min_notional`` is not sent (the venue would reject it) unless reduce-only."""
    tol_px = cfg.price_tolerance_ticks * tick
    size_tol = cfg.size_tolerance_frac
    live = tracker.live_orders()
    # candidates per (side, reduce_only): only orders that can still be kept as they are
    pools: dict[tuple, list] = {}
    for o in live:
        if o.state in _KEEPABLE:
            pools.setdefault((o.side, o.reduce_only), []).append(o)
    keep: set[str] = set()
    unmatched: list[DesiredQuote] = []
    for d in desired:
        pool = pools.get((d.side, d.reduce_only))
        match = None
        if pool:
            lo_sz = d.sz - size_tol * d.sz - 1e-12
            hi_sz = d.sz + size_tol * d.sz + 1e-12
            for o in pool:
                if abs(o.px - d.px) <= tol_px and lo_sz <= o.sz - o.filled_sz <= hi_sz:
                    match = o
                    break
        if match is None:
            unmatched.append(d)
        else:
            keep.add(match.cloid)
            pool.remove(match)

    cancels: list[Command] = []
    n_items = 0
    for o in live:
        if o.cloid in keep or o.state in _IN_DOUBT:
            continue
        if n_items >= cfg.max_requests_per_cycle or not budget.can_spend(n_items + 1, is_cancel=True):
            break
        cancels.append(CancelOrder(o.cloid))
        n_items += 1

    # exposure after the cancels we send still counts them: they may fill before they land
    pos = tracker.position
    wc_long, wc_short = tracker.worst_case_positions()
    room = {Side.BUY: max_position - wc_long, Side.SELL: max_position + wc_short}
    if any(d.reduce_only for d in unmatched):
        ro_room = {Side.BUY: max(0.0, -pos) - _ro_live(tracker, Side.BUY),
                   Side.SELL: max(0.0, pos) - _ro_live(tracker, Side.SELL)}
    else:
        ro_room = {}
    places: list[Command] = []
    spendable = budget.spendable(is_cancel=False) - n_items
    for d in sorted(unmatched, key=lambda q: q.level):
        if n_items >= cfg.max_requests_per_cycle or spendable <= 0:
            break
        sz = d.sz
        if d.reduce_only:
            sz = min(sz, ro_room[d.side])
        else:
            sz = min(sz, room[d.side])
        sz = math.floor(sz / lot + 1e-9) * lot
        sz = round(sz, 10)
        if sz <= 0.0 or (not d.reduce_only and sz * d.px < min_notional):
            continue
        if d.reduce_only:
            ro_room[d.side] -= sz
        else:
            room[d.side] -= sz
        places.append(PlaceOrder(cloids.next(), d.side, d.px, sz, Tif.ALO, d.reduce_only))
        n_items += 1
        spendable -= 1
    cmds = cancels + places
    if len(cmds) > 1:
        return [Batch(tuple(cancels)), Batch(tuple(places))] if cancels and places else [Batch(tuple(cmds))]
    return cmds


def _ro_live(tracker: OrderTracker, side: Side) -> float:
    return sum(o.remaining for o in tracker.live_set.values() if o.reduce_only and o.side is side)
