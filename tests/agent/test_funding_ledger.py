"""Funding in the agent's books: the ledger books each payment into the net PnL and the equity the drawdown rules
watch; the summary and the decision log say so; and a session's books agree with what the twin charged."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from agent.config import AgentConfig
from agent.core import AgentCore
from agent.gateway.events import AccountSnapshot, BookUpdated, FundingPaid, Timer
from agent.ledger import Ledger
from agent.report import trading_summary
from agent.safety import SafetyLevel
from agent.session import USER, build_session
from twin.faults.connection import ConnectionParams
from twin.market.synthetic import SyntheticMarketParams
from twin.params import TwinParams
from twin.seeding import set_position


def _funded_params(premium: float = 0.0013) -> TwinParams:
    """A twin whose BTC funding runs at 0.01% an hour (the premium shows through the clamp), no random drops."""
    return TwinParams(markets={"BTC": SyntheticMarketParams(funding_premium_per_8h=premium)},
                      connection=ConnectionParams(hazard_per_hour=0.0))


def test_the_ledger_books_funding_into_the_net_pnl():
    led = Ledger()
    led.on_fill(0.0, 1, 100.0, 2.0, 0.01, True)
    led.on_funding(-0.5)
    led.on_funding(0.125)
    assert led.funding == pytest.approx(-0.375)
    assert led.net(101.0) == pytest.approx(2.0 - 0.01 - 0.375)


_STEP = st.one_of(
    st.tuples(st.just("fill"), st.sampled_from([1, -1]), st.floats(90.0, 110.0), st.floats(0.001, 3.0),
              st.floats(-0.05, 0.05), st.integers(0, 6)),
    st.tuples(st.just("funding"), st.floats(-2.0, 2.0)),
    st.tuples(st.just("mid"), st.floats(90.0, 110.0)),
    st.tuples(st.just("anchor"), st.sampled_from([0.0, 0.5, -1.25]), st.floats(90.0, 110.0), st.integers(0, 6)),
    st.tuples(st.just("net"), st.floats(90.0, 110.0)),
)


@given(st.booleans(), st.lists(_STEP, max_size=30))
def test_the_net_pnl_written_out_is_its_definitions_to_the_bit(anchored, steps):
    """``net`` writes out ``unrealized`` and ``carried_at`` (it runs every quote cycle): what it gives is theirs, with
    and without a position, a first mid, a position the session started on, before and after the anchor."""
    led = Ledger(anchored=anchored)
    for step in steps:
        kind = step[0]
        if kind == "fill":
            _, side, px, sz, fee, tid = step
            led.on_fill(0.0, side, px, sz, fee, True, tid=tid, closed_pnl=0.25 * fee)
        elif kind == "funding":
            led.on_funding(step[1])
        elif kind == "mid":
            led.on_mid(0.0, step[1])
        elif kind == "anchor" and not led.anchored:
            led.anchor(step[1], step[2], step[3])
        first = led.start_mid
        for mid in (100.0, step[1] if kind == "net" else 95.5, math.nan):
            plain = led.realized + led.unrealized(mid) - led.fees + led.funding \
                - led.carried_at(first if first == first else mid)
            got = led.net(mid)
            assert got == plain or (got != got and plain != plain)


def test_a_funding_payment_moves_the_equity_the_drawdown_rules_watch_and_is_logged():
    """A reconciled core, flat on the book: a funding payment of 1.1% of the collateral is a 1.1% drawdown
    (Orange), though no fill and no mid moved; the summary's pnl.funding_usd and net say it, and the decision
    log has a funding record."""
    cfg = AgentConfig()
    core = AgentCore(cfg, np.random.default_rng(0), tick=1.0, sz_decimals=5)
    core.handle(AccountSnapshot(0.05, 0.01, 100_000.0, 1e5, 0.0, ()))
    core.handle(BookUpdated(0.1, "BTC", ((99_999.0, 1.0),), ((100_001.0, 1.0),)))
    core.handle(Timer(0.5))
    assert core.safety.level is SafetyLevel.GREEN
    before = core.equity
    paid = -0.011 * cfg.session.collateral_usd
    core.handle(FundingPaid(1.0, "BTC", paid, 0.01, 0.0001, 1_767_229_200_000))
    core.handle(Timer(1.5))
    assert core.equity == pytest.approx(before + paid)
    assert core.safety.level >= SafetyLevel.ORANGE
    s = trading_summary(core)
    assert s["pnl"]["funding_usd"] == pytest.approx(paid)
    assert s["pnl"]["net_usd"] == pytest.approx(s["pnl"]["realized_usd"] + s["pnl"]["unrealized_usd"] + paid
                                                - s["pnl"]["carried_usd"])
    recs = [r for r in core.drain_records() if r["type"] == "funding"]
    assert recs == [{"type": "funding", "ts": 1.0, "coin": "BTC", "usdc": paid, "szi": 0.01, "rate": 0.0001,
                     "time_ms": 1_767_229_200_000, "position": 0.01, "funding_usd": paid}]
    from agent.audit.__main__ import KINDS
    from agent.audit.inspect import describe
    assert "funding" in KINDS and describe(recs[0], wall=False).split()[1:3] == ["funding", str(paid)]


def test_a_session_holding_a_position_across_the_hours_books_what_the_twin_charged():
    """The invariant: across two hours' settlements, the agent's ledger holds exactly the funding the twin moved
    in and out of the account's cash, and its net PnL has it."""
    from twin.params import SIM_EPOCH_MS, VenueParams
    cfg = AgentConfig.model_validate({"graduation": {"shadow_exits": False}})  # not worked off before the first hour
    # the venue's clock a minute before a whole hour at the start: the settlements at 60 s and 3,660 s, not at 3,600 s
    # and 7,200 s (the same two, and the first an hour of the twin sooner)
    params = _funded_params().model_copy(update={"venue": VenueParams(epoch_ms=SIM_EPOCH_MS - 60_000)})
    ex, gw, core, driver = build_session(cfg, 2, params)
    ex.env.run(until=0.5)
    set_position(ex, USER, "BTC", 0.03)
    driver.start()
    ex.env.run(until=3600.0 + 70.0)
    charged = sum(f.usdc for f in ex.fundings[USER])
    assert len(ex.fundings[USER]) == 2 and all(f.usdc for f in ex.fundings[USER])  # a position at each hour
    assert core.ledger.funding == pytest.approx(charged, abs=1e-9)
    delivered = gw.fundings.counters
    assert delivered["fundings_live"] + delivered["fundings_recovered"] == 2 and delivered["fundings_repeated"] == 0
    pos = ex.accounts[USER].positions["BTC"]
    assert pos.funding_all_time == pytest.approx(-charged)
    s = trading_summary(core)
    assert s["pnl"]["funding_usd"] == pytest.approx(charged)
