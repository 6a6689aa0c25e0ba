"""One cancel an order until it is answered or times out: a stop's pull, a Kill's, the pulls again every
``risk.pull_retry_s`` and a resting ack after the stop each named orders whose cancel was on its way, and the venue
answered the later ones "never placed, already canceled, or filled" (a live dry run's stop, on twin serve: two or three
cancels of one cloid). A cancel lost (no answer by ``risk.ack_timeout_s``) is sent again: that is what the pulls are
for. Driven sans-IO; tests/agent/test_live_one_cancel.py runs a dry run's stop over loopback."""
from __future__ import annotations

from collections import Counter

import numpy as np

from agent.config import AgentConfig
from agent.core import AgentCore
from agent.gateway.events import (
    AFTER_CYCLE, AccountSnapshot, Batch, BookUpdated, CancelAll, CancelOrder, OrderAcknowledged, PlaceOrder,
    QuotaStatus, Timer,
)
from agent.safety import SafetyLevel

_TOUCH = (((100_000.0, 1.0),), ((100_001.0, 1.0),))


def _resting(overrides: dict | None = None) -> tuple[AgentCore, list[str]]:
    """A core at FULL whose first ladder (placed at 0.5 s) the venue acknowledged resting at 0.6 s: it, the cloids."""
    data = {"graduation": {"start_level": "FULL", "ceiling": "FULL"}}
    data.update(overrides or {})
    core = AgentCore(AgentConfig.model_validate(data), np.random.default_rng(0), tick=1.0, sz_decimals=5)
    core.handle(BookUpdated(0.1, "BTC", *_TOUCH))
    core.handle(AccountSnapshot(0.2, 0.0, 0.0, 1e5, 0.0, ()))
    out = core.handle(Timer(0.5))
    core.handle(Timer(0.5, AFTER_CYCLE))
    placed = [c.cloid for b in out for c in (b.commands if isinstance(b, Batch) else (b,)) if isinstance(c, PlaceOrder)]
    for i, cloid in enumerate(placed):
        core.handle(OrderAcknowledged(0.6, cloid, 100 + i, True))
    assert len(placed) >= 4
    return core, placed


def named(cmds) -> Counter:
    """The cancels ``cmds`` send, by cloid: each CancelOrder's, and each a cancel-all names (CancelAll.known)."""
    out: Counter = Counter()
    for c in (c for b in cmds for c in (b.commands if isinstance(b, Batch) else (b,))):
        if isinstance(c, CancelOrder):
            out[c.cloid] += 1
        elif isinstance(c, CancelAll):
            out.update(c.known)
    return out


def ticks(core: AgentCore, start: float, end: float, step: float = 0.25) -> Counter:
    """Timer ticks (each with its after-cycle) from ``start`` to ``end``: the cancels they sent, by cloid."""
    sent: Counter = Counter()
    t = start
    while t <= end + 1e-9:
        sent += named(core.handle(Timer(t)))
        core.handle(Timer(t, AFTER_CYCLE))
        t = round(t + step, 6)
    return sent


def test_a_stop_names_each_order_once_until_its_cancel_times_out_then_once_again():
    """The stop's pull names every resting order; none of its cancels answered, the pulls every 2 s name none again
    until they time out, unanswered, 5 s after (lost, perhaps: sent again then, once). (Fails at 3cdacb5: each was
    named again at 3, 5 s, three cancels before the first could have timed out.)"""
    core, placed = _resting()
    sent = named(core.shutdown(1.0))
    assert sent == Counter(placed)
    sent += ticks(core, 1.25, 6.0)  # the first cancels out until 6.0 s (ack_timeout_s 5)
    assert sent == Counter(placed)
    again = ticks(core, 6.25, 8.0)  # timed out: sent again, once
    assert again == Counter(placed)


def test_a_stop_does_not_name_the_orders_a_level_is_already_pulling():
    """Red (the address budget nearly spent) pulls every order not reduce-only between requotes; a stop 0.2 s later,
    their cancels unanswered, names none of them again, nor does a Kill. (Fails at 3cdacb5: the stop's cancel-all
    named all six.)"""
    for stop in ("kill", "shutdown"):
        over = {"safety": {"stale_kill_s": 1.0, "kill_action": "hold"}} if stop == "kill" else {}
        core, placed = _resting(over)
        core.handle(QuotaStatus(0.9, used=9800, cap=10000, cum_volume_usd=0.0))
        core.handle(BookUpdated(0.95, "BTC", *_TOUCH))
        sent = named(core.handle(Timer(1.0)))
        core.handle(Timer(1.0, AFTER_CYCLE))
        assert core.safety.level is SafetyLevel.RED and sent == Counter(placed)
        if stop == "shutdown":
            sent += named(core.shutdown(1.2))
        else:  # no book since 0.95 s: data older than stale_kill_s, a Kill
            sent += ticks(core, 1.25, 2.25)
            assert core.safety.level is SafetyLevel.KILL and core.stopped
        sent += ticks(core, 2.5, 5.75)
        assert sent == Counter(placed), stop


def test_a_place_landing_after_the_stop_is_pulled_once():
    """Placed, then the stop's pull named it before its ack: the ack saying it rests sends no second cancel (the
    first is on its way). The first answered "never placed, already canceled, or filled", it overtook the place, and
    the order is pulled then; acknowledged, it is gone. (Fails at 3cdacb5: a second cancel at the ack.)"""
    from agent.gateway.events import CancelAcknowledged, CancelRejected, Reason
    core = AgentCore(AgentConfig.model_validate({"graduation": {"start_level": "FULL", "ceiling": "FULL"}}),
                     np.random.default_rng(0), tick=1.0, sz_decimals=5)
    core.handle(BookUpdated(0.1, "BTC", *_TOUCH))
    core.handle(AccountSnapshot(0.2, 0.0, 0.0, 1e5, 0.0, ()))
    out = core.handle(Timer(0.5))
    core.handle(Timer(0.5, AFTER_CYCLE))
    placed = [c.cloid for b in out for c in (b.commands if isinstance(b, Batch) else (b,)) if isinstance(c, PlaceOrder)]
    sent = named(core.shutdown(0.55))
    assert sent == Counter(placed)
    for i, cloid in enumerate(placed):
        sent += named(core.handle(OrderAcknowledged(0.6, cloid, 100 + i, True)))
    assert sent == Counter(placed)
    missing = "Order was never placed, already canceled, or filled. asset=0"
    assert named(core.handle(CancelRejected(0.7, placed[0], Reason.MISSING_ORDER, missing))) == Counter(placed[:1])
    assert named(core.handle(CancelAcknowledged(0.7, placed[1]))) == Counter()


def test_no_pull_again_lists_the_orders_whose_cancels_are_out():
    """A cancel-all's listing (openOrders) cancels every order it finds, and waits only for the cancels it names
    (CancelAll.known): one sent while other orders' cancels are out lists them and cancels them again. A stop's orders,
    their cancels out, two of them refused back to resting (at 1.5 and 3.5 s): the pulls again name those alone, and
    none of them is a cancel-all until the cancels out time out. (Fails at d7ad2b1d: at 5.0 s a cancel-all naming the
    one refused at 3.5 s, its listing the other five; with nothing to name, one naming none.)"""
    from agent.gateway.events import CancelRejected, Reason
    core, placed = _resting()
    sent = named(core.shutdown(1.0))
    cmds = []
    at = {1.5: placed[0], 3.5: placed[1]}
    t = 1.25
    while t <= 6.0:
        if t in at:
            core.handle(CancelRejected(t, at[t], Reason.TICK, "refused"))
        out = core.handle(Timer(t))
        core.handle(Timer(t, AFTER_CYCLE))
        cmds += [c for b in out for c in (b.commands if isinstance(b, Batch) else (b,))]
        t += 0.25
    assert not any(isinstance(c, CancelAll) for c in cmds)
    assert sent + named(cmds) == Counter(placed) + Counter(placed[:2])  # (each refused one pulled again, once)
