"""Which of the venue's fills the agent has been given: each fill of the session once, history never.

Both gateways keep one ``FillDelivery``. The venue's first userFills snapshot of a session is history
(those fills are already in the account snapshot's position); after that a fill is delivered the
first time it is seen, whether live, in a snapshot sent on resubscribe, in the userFillsByTime
recovery a gateway runs after every reconnect (so a fill missed during an outage arrives once), or in
the fill query of an account snapshot (so the agent has every fill in the snapshot's position before
the snapshot itself, though the fill's push is still on the way).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Iterable

from agent.gateway.events import FillReceived

TimedFill = tuple[int, FillReceived]  # (the venue's fill time in ms, the fill)

TID_BITS = 64  # the venue's tid is 50 bits (its websocket docs); the key leaves room for more


def fill_key(time_ms: int, tid: int) -> int:
    """The id the agent's fills and prints carry, from both gateways: the venue's ``tid`` under its time in ms,
    ``time_ms << 64 | tid``. Raises ValueError for a negative time or a tid out of range.

    The venue's tid is "a 50-bit hash of (buyer_oid, seller_oid)" (docs websocket/subscriptions, WsTrade: "for a
    globally unique trade id, use (block_time, coin, tid)"), unique but in no order, while the agent orders fills
    by their id: a snapshot's watermark is its newest fill, a fill at or below it is taken to be in its position
    already, and fills given together are delivered in id order. Keyed by time first, a fill after the
    snapshot's state is above its watermark whatever its tid; the venue's tid is ``key & (2**64 - 1)``. A
    fill's print on the trades channel has the same time and tid, so the same key."""
    if time_ms < 0 or not 0 <= tid < 1 << TID_BITS:
        raise ValueError(f"time {time_ms!r}, tid {tid!r} out of range")
    return time_ms << TID_BITS | tid


class FillDelivery:
    """Filters fills (with their venue time in ms) down to the ones the agent has not been given yet."""

    __slots__ = ("known", "keep", "baseline_ms", "last_ms", "last_key", "counters")

    def __init__(self, keep: int = 100_000) -> None:
        self.known: OrderedDict[int, None] = OrderedDict()  # fill ids delivered, or history (bounded, oldest out)
        self.keep = keep
        self.baseline_ms: int | None = None  # newest fill time in the session's history: older fills are history
        self.last_ms: int | None = None  # newest fill time known (history or delivered)
        # the newest fill known (history or delivered), its id: the venue keeps an account's fills (its newest 10000
        # listed), so one that no longer lists it is another venue (HyperliquidGateway's check after a reconnect)
        self.last_key: int | None = None
        # fills_repeated: ones seen again, live or in a recovery, not given again. About fills_live on a healthy run:
        # the venue pushes each fill on two channels (userFills, and the user channel the gateway subscribes to for
        # funding, liquidations and its cancels), and the second push is a repeat; a fill a snapshot gave is repeated
        # by both pushes, and one of an outage by the resubscribe's snapshot frame and the recovery's query. Pushes
        # cost no request. (A snapshot's fill query lists each fill of the last minute again and again: those repeats
        # are not counted)
        self.counters = {"fills_live": 0, "fills_recovered": 0, "fills_in_snapshot": 0, "fills_repeated": 0}

    def since_ms(self, session_start_ms: int) -> int:
        """Where a recovery query starts: the newest known fill's time (same-ms fills are told apart by their id).

        ``session_start_ms`` (venue time) counts as the end of history when no snapshot has told it yet."""
        if self.baseline_ms is None:
            self.baseline_ms = session_start_ms
        return max(self.baseline_ms, self.last_ms if self.last_ms is not None else 0)

    def on_snapshot(self, fills: Iterable[TimedFill], newest_ms: int) -> list[FillReceived]:
        """A userFills snapshot frame (this coin's fills; ``newest_ms`` the newest fill time of any coin in it):
        the session's first is history; later ones may hold fills missed while the socket was down."""
        if self.baseline_ms is None:
            for t, f in fills:
                self._know(f.tid, t)
            self.baseline_ms = newest_ms
            return []
        return self.recovered(fills)

    def live(self, fills: Iterable[TimedFill]) -> list[FillReceived]:
        """Fills pushed as they happen."""
        fills = list(fills)
        if self.baseline_ms is None and fills:
            # no history seen yet (its snapshot was lost): nothing older than the first live fill is ours
            self.baseline_ms = min(t for t, _ in fills)
        return self._new(fills, "fills_live")

    def recovered(self, fills: Iterable[TimedFill]) -> list[FillReceived]:
        """Fills from a snapshot on resubscribe or a userFillsByTime query: the session's ones not yet given."""
        floor = self.baseline_ms if self.baseline_ms is not None else 0
        return self._new(((t, f) for t, f in fills if t >= floor), "fills_recovered")

    def in_snapshot(self, fills: Iterable[TimedFill]) -> list[FillReceived]:
        """Fills an account snapshot's fill query lists, given just before the snapshot: its position holds
        them, and their pushes may still be on the way. None before the session's history is known (the
        userFills snapshot frame): until then a listed fill may be history."""
        if self.baseline_ms is None:
            return []
        return self._new(((t, f) for t, f in fills if self.wanted_in_snapshot(t, f.tid)), "fills_in_snapshot")

    def wanted_in_snapshot(self, time_ms: int, tid: int) -> bool:
        """Whether ``in_snapshot`` keeps a fill of this time and id: asked by a gateway before it makes the fill's
        event (a snapshot lists the last minute's fills, nearly all of them had already)."""
        b = self.baseline_ms
        return b is not None and time_ms >= b and tid not in self.known

    def _new(self, fills: Iterable[TimedFill], counter: str) -> list[FillReceived]:
        out = []
        for t, f in sorted(fills, key=lambda tf: (tf[0], tf[1].tid)):
            if f.tid in self.known:
                self.counters["fills_repeated"] += 1
                continue
            self._know(f.tid, t)
            self.counters[counter] += 1
            out.append(f)
        return out

    def _know(self, tid: int, time_ms: int) -> None:
        self.known[tid] = None
        if len(self.known) > self.keep:
            self.known.popitem(last=False)
        if self.last_ms is None or time_ms > self.last_ms:
            self.last_ms = time_ms
        if self.last_key is None or tid > self.last_key:
            self.last_key = tid
