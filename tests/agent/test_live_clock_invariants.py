"""The live gateway's clock arithmetic (``HyperliquidGateway._expires_ms``, ``_check_clock``), driven through any
run of clock steps (back: NTP correcting a fast clock, a VM resumed; forward), waits, actions and account snapshots
whose answers take any part of their window, against the venue's real time. Over loopback a test can step the
gateway's clock but not wander its offsets: the twin serves the same arithmetic those tests pin at chosen points
(test_live_gateway.py), this one covers the rest. The invariant: an action never lives at the venue longer than the
core counts it in flight (its ttl, or the ttl plus the lead of a host clock ahead, which the start bounds and the
gateway warns of: the stamp is the host's clock then); the dead-man's switch never fires before the core's time, nor
later than the last snapshot's window allows (and the steps forward since), and the venue takes it (at least 5 s ahead
by its clock)."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agent.gateway.hyperliquid import gateway as gateway_module
from agent.gateway.hyperliquid.gateway import HyperliquidGateway

KEY = "0x" + "11" * 32
TTL_S = 5.0
EPOCH_S = 1_790_000_000.0  # the venue's time at the start
TOL_S = 2e-3  # (expiresAfter is whole ms)

_op = st.one_of(
    st.tuples(st.just("wait"), st.floats(0.0, 40.0)),
    st.tuples(st.just("step"), st.floats(-20.0, 20.0)),  # > 0: the host's clock stepped back (further behind)
    st.tuples(st.just("snapshot"), st.floats(0.0, 2.0), st.floats(0.0, 1.0)),  # (its window, when the venue stamped)
    st.tuples(st.just("act")),
)


class Clocks:
    """Real time ``t`` (the monotonic clock, and the venue's time less EPOCH_S) and the host's clock ``behind`` it."""

    def __init__(self, behind: float) -> None:
        self.t, self.behind = 0.0, behind
        self.window = 0.0  # how long the last snapshot's answer took
        self.forward = 0.0  # the steps forward since (the switch may fire late by those past agreement)

    def venue(self) -> float:
        return EPOCH_S + self.t

    def host(self) -> float:
        return self.venue() - self.behind


def _run(behind0: float, ops, check) -> None:
    """Drives a gateway (never connected) through ``ops`` from a host clock ``behind0`` behind the venue's, the start's
    snapshot first; ``check(gw, clocks)`` after each action."""
    c = Clocks(behind0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gateway_module, "time", SimpleNamespace(monotonic=lambda: c.t))
        gw = HyperliquidGateway("http://127.0.0.1:9", KEY, "BTC", clock=c.host, action_ttl_s=TTL_S)
        for op in [("snapshot", 0.1, 0.5), *ops]:
            _apply(gw, c, op, check)


def _apply(gw, c: Clocks, op: tuple, check) -> None:
    if op[0] == "wait":
        c.t += op[1]
    elif op[0] == "step":
        c.behind += op[1]
        c.forward += max(0.0, -op[1])
    elif op[0] == "snapshot":
        asked = c.host()
        stamped = c.venue() + op[1] * op[2]
        c.t += op[1]
        c.window, c.forward = op[1], 0.0
        gw._check_clock(asked, c.host(), int(round(stamped * 1000.0)))
    else:
        check(gw, c)


def _expires_within_the_core_count(gw, c: Clocks) -> None:
    life = gw._expires_ms() / 1000.0 - c.venue()
    assert life <= TTL_S + max(0.0, -c.behind) + TOL_S, (life, c.behind, gw.clock_behind_s)


@settings(max_examples=400, deadline=None)
@given(behind0=st.floats(-2.5, 2.5), ops=st.lists(_op, max_size=25))
@example(behind0=-1.0, ops=[("step", 1.0), ("act",)])  # (the lead's near end: the rest of the window added)
@example(behind0=-4.0, ops=[("act",), ("step", -3.0), ("act",), ("step", 7.0), ("act",)])  # (ahead further: 3 s)
def test_an_action_never_lives_at_the_venue_longer_than_the_core_counts_it(behind0, ops):
    _run(behind0, ops, _expires_within_the_core_count)


DEAD_MAN_S = 10.0  # (risk.dead_man_s: the core arms the switch this far ahead by its clock)


def _switch_fires_at_the_cores_time(gw, c: Clocks) -> None:
    """An arm at the core's time + DEAD_MAN_S, sent as the gateway sends it (stamped, then made): when the venue's
    clock reaches the time it names, the host's reads that less how far it is behind."""
    sent: list[float] = []

    async def post(action, n_items):  # (the action as it would be signed; no answer, none needed here)
        gw._expires_ms()
        sent.append(action()["time"] / 1000.0)
        return 400

    at = c.host() + DEAD_MAN_S
    gw._action = post
    asyncio.run(gw._schedule_cancel(at))
    fires = sent[0] - c.behind  # (by the host's clock, the core's)
    assert at - TOL_S <= fires <= at + c.window + c.forward + TOL_S, (fires - at, c.behind, c.window, c.forward)
    assert sent[0] - c.venue() >= 5.0, sent[0] - c.venue()  # the venue refuses one less than 5 s ahead


@settings(max_examples=400, deadline=None)
@given(behind0=st.floats(-2.5, 2.5), ops=st.lists(_op, max_size=25))
@example(behind0=1.0, ops=[("act",)])  # (behind, measured at the window's near end: early by the rest)
@example(behind0=0.0, ops=[("wait", 20.0), ("step", 25.0), ("act",)])  # (seen as 5 s back: 20 s early, refused)
def test_the_dead_mans_switch_never_fires_before_the_cores_time(behind0, ops):
    _run(behind0, ops, _switch_fires_at_the_cores_time)
