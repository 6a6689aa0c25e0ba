"""Test helper: the agent's two position books (the order tracker's and the ledger's) fed a gateway's events, as
the core feeds them; for checking a gateway's fills and snapshots against the venue's position."""
from __future__ import annotations

from agent.execution.orders import OrderTracker
from agent.gateway.events import AccountSnapshot, FillReceived, Side
from agent.ledger import Ledger


def books_from(events, sz_decimals: int | None = None) -> tuple[OrderTracker, Ledger]:
    """A tracker and a ledger (anchored at the first snapshot, as a restart's is) fed every fill and snapshot.
    ``sz_decimals``: the coin's, as the ledger of a run is told them (meta's szDecimals); None: not known."""
    tracker, ledger = OrderTracker(), Ledger(anchored=False, sz_decimals=sz_decimals)
    for e in events:
        if type(e) is FillReceived:
            tracker.on_event(e)
            ledger.on_fill(e.ts, 1 if e.side is Side.BUY else -1, e.px, e.sz, e.fee, e.is_maker, e.tid, e.closed_pnl)
        elif type(e) is AccountSnapshot:
            tracker.on_event(e)
            if not ledger.anchored:
                ledger.anchor(e.position, e.entry_px, e.last_fill_tid)
    return tracker, ledger
