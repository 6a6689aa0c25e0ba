"""``AgentCore.watch``: the market watched before the session starts (a scenario's warm models) feeds the core's state
as ``handle`` does, and counts nothing as sent; the session's first snapshot request goes at its first event."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from agent.audit.records import describe_command
from agent.config import AgentConfig
from agent.core import AgentCore
from agent.execution.weights import SNAPSHOT_SENT_WEIGHT
from agent.gateway.events import (
    AFTER_CYCLE, AccountSnapshot, BookUpdated, RequestAccountSnapshot, Side, Timer, TradeObserved,
)

CFG = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}})


def _core() -> AgentCore:
    return AgentCore(CFG, np.random.default_rng(0), tick=1.0, sz_decimals=5)


def _market(seed: int, n: int = 600, dt: float = 0.1) -> list:
    """A random walk's books (one tick wide around the mid) every ``dt``, and prints between some of them."""
    rng = np.random.default_rng(seed)
    mid = 100_000.0
    out = []
    for k in range(n):
        ts = 0.05 + k * dt
        mid += float(rng.normal(0.0, 8.0))
        bid = math.floor(mid)
        out.append(BookUpdated(ts, "BTC", ((bid, 1.0), (bid - 5.0, 2.0)), ((bid + 1.0, 1.0), (bid + 6.0, 2.0)),
                               int(ts * 1000)))
        if rng.random() < 0.4:
            buy = bool(rng.random() < 0.5)
            px = bid + 1.0 + float(rng.integers(0, 8)) if buy else bid - float(rng.integers(0, 8))
            out.append(TradeObserved(ts + dt / 2, "BTC", px, 0.01, Side.BUY if buy else Side.SELL,
                                     (int((ts + dt / 2) * 1000) << 64) | k))
    return out


def _session(t: float) -> list:
    """The session's first events: a book, the account's state, a quote cycle."""
    book = BookUpdated(t, "BTC", ((100_000.0, 1.0),), ((100_001.0, 1.0),), int(t * 1000))
    return [book, AccountSnapshot(t + 0.05, 0.0, 0.0, 1e5, 0.0, ()), Timer(t + 0.5), Timer(t + 0.5, AFTER_CYCLE)]


def _said(cmds) -> list[str]:
    return [describe_command(c) for c in cmds]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_watching_feeds_the_core_as_handling_does_and_sends_nothing(seed):
    market = _market(seed)
    watched, handled = _core(), _core()
    sent = []
    for ev in market:
        watched.watch(ev)
        sent.extend(handled.handle(ev))  # the old warm-up: the start's snapshot request made, and dropped
    end = market[-1].ts
    # handle started the session and asked for the account's state once: the request that was never sent
    assert [type(c) for c in sent] == [RequestAccountSnapshot]
    assert handled.snapshot_pending and handled.budget.ip_used(end) == SNAPSHOT_SENT_WEIGHT
    # watch did not start it: nothing pending, nothing charged
    assert not watched.started and not watched.snapshot_pending
    assert watched.budget.ip_used(end) == 0 and watched.budget.used == 0
    # the same state from the same market: book, estimators, signals
    assert (watched.mid, watched.best_bid, watched.best_ask) == (handled.mid, handled.best_bid, handled.best_ask)
    assert watched.vol.ready and watched.vol.sigma_per_sqrt_s == handled.vol.sigma_per_sqrt_s > 0
    assert watched.arrivals.fit(end) == handled.arrivals.fit(end)
    assert [(s.logit, s.ts) for s in watched.signals.signals] == [(s.logit, s.ts) for s in handled.signals.signals]
    # the session's first event asks for the account's state, charged as it goes; then both quote alike
    t = end + 30.0
    start, *rest = _session(t)
    assert _said(watched.handle(start)) == _said([RequestAccountSnapshot()])
    assert watched.snapshot_sent_ts == t and watched.budget.ip_used(t) == SNAPSHOT_SENT_WEIGHT
    assert handled.handle(start) == []  # started already: the request it takes as out is asked again when overdue
    first = [_said(watched.handle(ev)) for ev in rest]
    assert first == [_said(handled.handle(ev)) for ev in rest] and first[1]  # the same quotes, and some

def test_watch_is_for_before_the_start_and_for_market_events_only():
    core = _core()
    with pytest.raises(TypeError):
        core.watch(Timer(0.1))
    core.handle(BookUpdated(0.1, "BTC", ((100_000.0, 1.0),), ((100_001.0, 1.0),)))
    with pytest.raises(RuntimeError):
        core.watch(BookUpdated(0.2, "BTC", ((100_000.0, 1.0),), ((100_001.0, 1.0),)))
