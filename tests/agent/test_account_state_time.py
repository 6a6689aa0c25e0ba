"""clearinghouseState's ``time``: the venue stamps its answer with it (the SDK's recorded replies, hyperliquid.md §1),
the twin's served answer carries it as the venue's does, and the live parser reads it as the snapshot's venue time
(AccountSnapshot.venue_time_ms: the in-run clock check, the start's skew, the fill watermark's window) only where it is
a time some clock could give: any other makes the answer malformed, as a book's or a fill's time past any clock does."""
from __future__ import annotations

import pytest

from agent.gateway.hyperliquid.parse import VenueParser
from twin.exchange import Exchange
from twin.params import TwinParams
from twin.seeding import set_position
from twin.server.app import TwinServer

USER = "0x" + "ab" * 20


def _served_state(ex: Exchange) -> dict:
    status, state = TwinServer(ex).info_reply({"type": "clearinghouseState", "user": USER})
    assert status == 200
    return state


def test_the_served_answers_time_is_the_snapshots_venue_time():
    ex = Exchange.build(TwinParams(), 1)
    ex.fund(USER, 10_000.0)
    ex.env.run(until=7.25)
    set_position(ex, USER, "BTC", 0.01)
    state = _served_state(ex)
    # the venue's shape: epoch ms as a JSON integer, the twin's clock as it answers
    assert type(state["time"]) is int and state["time"] == ex.epoch_ms + 7_250
    acct = VenueParser("BTC", USER).account_state(state)
    assert acct is not None and (acct.time_ms, acct.position) == (state["time"], 0.01)


@pytest.mark.parametrize("bad", [10**400, 1 << 53, -1, True, 1.7e12, "1708622398623", None],
                         ids=["1e400", "2**53", "-1", "true", "float", "string", "null"])
def test_a_time_no_clock_gives_makes_the_answer_malformed(bad):
    """10**400 was taken as the snapshot's venue time: the gateway's clock check (venue_ms / 1000.0) and the start's
    skew then raised OverflowError out of the snapshot's task."""
    ex = Exchange.build(TwinParams(), 1)
    ex.fund(USER, 10_000.0)
    state = _served_state(ex)
    parser = VenueParser("BTC", USER)
    assert parser.account_state(state) is not None and parser.malformed == 0
    assert parser.account_state(dict(state, time=bad)) is None and parser.malformed == 1
    assert parser.account_state({k: v for k, v in state.items() if k != "time"}) is None and parser.malformed == 2
