"""A simple order-placing client of the twin: the load for benchmarks and the twin's own demo.

It quotes one ALO order a side a few ticks outside the touch, cancels and replaces them every
``interval_s``, and counts what comes back. It is not a market maker (that is ``agent/``); it
exists so the twin can be exercised and measured on its own.
"""
from __future__ import annotations

from collections import Counter

from twin.exchange import Exchange
from twin.faults.rejections import classify_venue_text
from twin.messages import (
    ActionErr, ActionOk, CancelAction, ConnectionEvent, Filled, FillsPush, HttpError, OrderAction, OrderSpec,
    Resting, StatusError, TransportFailure,
)


class ProbeClient:
    """Cancel-and-replace one post-only order per side every ``interval_s`` seconds."""

    def __init__(self, exchange: Exchange, user: str, coin: str = "BTC", interval_s: float = 1.0,
                 size: float = 0.001, offset_ticks: int = 2, usdc: float = 100_000.0) -> None:
        self.ex = exchange
        self.user = user.lower()
        self.coin = coin
        self.interval_s = interval_s
        self.size = size
        self.offset_ticks = offset_ticks
        self.tick = exchange.instruments[coin].tick
        exchange.fund(self.user, usdc, exchange.instruments[coin].dex)
        self.replies: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.fills = 0
        self.live: set[int] = set()
        self.books_seen = 0
        self.conn = exchange.connect(self._on_push)
        self._subscribe()
        exchange.env.process(self._run())

    def _subscribe(self) -> None:
        self.conn.subscribe("l2Book", self.coin)
        self.conn.subscribe("userFills", self.user)
        self.conn.subscribe("orderUpdates", self.user)

    def _on_push(self, push) -> None:
        if isinstance(push, ConnectionEvent):
            self.replies["reconnect" if push.up else "disconnect"] += 1
            if push.up:
                self._subscribe()
        elif isinstance(push, FillsPush):
            if not push.is_snapshot:
                self.fills += len(push.fills)
        else:
            self.books_seen += 1

    def _on_reply(self, reply) -> None:
        if isinstance(reply, ActionOk):
            self.replies["ok"] += 1
            for st in reply.statuses:
                if isinstance(st, Resting):
                    self.live.add(st.oid)
                elif isinstance(st, StatusError):
                    self.errors[classify_venue_text(st.error).value] += 1
                elif isinstance(st, Filled):
                    pass
        elif isinstance(reply, ActionErr):
            self.replies["err"] += 1
            self.errors[classify_venue_text(reply.message).value] += 1
        elif isinstance(reply, HttpError):
            self.replies[f"http_{reply.status}"] += 1
        elif isinstance(reply, TransportFailure):
            self.replies["transport"] += 1

    def _run(self):
        env = self.ex.env
        while True:
            yield env.timeout(self.interval_s)
            bb, ba = self.ex.best_bid.get(self.coin), self.ex.best_ask.get(self.coin)
            if bb is None or bb != bb or ba != ba:
                continue
            if self.live:
                cancels = tuple((self.coin, oid) for oid in sorted(self.live))
                self.live.clear()
                self.ex.submit(self.user, CancelAction(cancels), self._on_reply, self.conn)
            off = self.offset_ticks * self.tick
            orders = (OrderSpec(self.coin, True, bb - off, self.size), OrderSpec(self.coin, False, ba + off, self.size))
            self.ex.submit(self.user, OrderAction(orders), self._on_reply, self.conn)
