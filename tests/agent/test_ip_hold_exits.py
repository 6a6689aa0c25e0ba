"""The IP weight's hold: with the last minute's IP weight at the requoting share (``budget.ip_quote_frac`` of
``ip_weight_per_minute``) the quote cycle sends cancels alone (AgentCore._on_timer, reconcile's ``cancel_only``) until
the weight leaves the minute. A reduce-only exit that drifted out of its band then could be cancelled but not
replaced: as past the address cap (test_slow_lane.py), it is left resting."""
from __future__ import annotations

from agent.execution.budget import BudgetConfig, RequestBudget
from agent.gateway.events import CancelOrder, QuotaStatus
from agent.safety import SafetyLevel

from test_slow_lane import _cancels, drifted_exit_cycle, red_with_exits


def test_under_the_ip_weights_hold_a_drifted_exit_is_left_resting_not_cancelled():
    """On the twin (seed 3, the account long 0.00964 BTC at Red, three reduce-only asks resting at 99,854-99,860; the
    address put at 7,500 used of a 10,000 cap at 30 s, Red and within the cap), a reconnect's fill recovery of 950 IP
    weight at 45 s, charged by the venue and told the core: every cycle held to cancels to 105 s. The mid fell 13 $ by
    45.5 s and the asks wanted moved to 99,832-99,836, out of the exits' bands. Before: the three were cancelled at
    45.5 s (one cancel action, passed) and nothing replaced them: 0.00964 long with no exit resting from 46 s to the
    release at 105 s. Now they rest (no cancel sent) and fill as the mid comes back: 0.00014 by 50 s."""
    from agent.gateway.events import IpWeightSpent
    ex, gw, core, records, acts, pos, exits = red_with_exits(3)
    assert core.safety.level is SafetyLevel.RED and pos > 0.009 and len(exits) == 3
    assert all(o.reduce_only for o in exits)
    assert ex.ip_limiter.try_spend(950, ex.env.now)  # a recovery's weight: the venue charged it ...
    gw.sink(IpWeightSpent(ex.env.now, 950, "userFillsByTime"))  # ... and the gateway tells the core
    n = len(acts)
    ex.env.run(until=46.0)
    assert not core.budget.ip_allows_quoting(46.0) and 0 < core.budget.spendable()  # the IP weight's hold alone
    held = [r for r in records if isinstance(r, dict) and r.get("type") == "ip_weight_hold"]
    assert [r["state"] for r in held] == ["held"]
    assert [o for o in ex.open_orders(gw.user) if o.reduce_only]  # (before: none, cancelled at 45.5 s)
    ex.env.run(until=60.0)
    assert not _cancels(acts[n:])  # (before: one, passed, the three exits)
    assert 0.0 <= ex.accounts[gw.user].position("BTC").szi < 0.001  # (before: 0.00964, no exit resting, to 105 s)
    assert not core.budget.ip_allows_quoting(60.0)  # (still held: what filled, the resting exits did)


def test_reconcile_held_to_cancels_leaves_a_drifted_exit_resting_and_cancels_a_drifted_quote():
    """``cancel_only`` (the IP weight's hold, or the first quota report awaited): no place nor modify goes, whatever
    the address budget. A short position's reduce-only bid and a plain ask, both drifted, the address budget with room
    (spendable): before, both cancelled; now the ask alone (a quote not reduce-only that cannot be replaced is
    cancelled, the less risk). Not held, both are modified, as before."""
    from agent.gateway.events import ModifyOrder

    b = RequestBudget(BudgetConfig())
    b.on_quota(QuotaStatus(0.2, 5_000, 10_000, 0.0))
    assert b.spendable() > 0  # (the address budget has room: the hold alone keeps places and modifies back)

    def cycle(cancel_only: bool, ro_ask: bool = False) -> list:
        return drifted_exit_cycle(5_000, cancel_only, ro_ask)

    assert cycle(True) == [CancelOrder("0x" + "0" * 31 + "1")]  # (before: the exit's cancel too, first)
    assert [type(c) for c in cycle(False)] == [ModifyOrder, ModifyOrder]
    # a reduce-only ask, the account short: no reduce-only quote is wanted on its side, and it is cancelled as before
    assert cycle(True, ro_ask=True) == [CancelOrder("0x" + "0" * 31 + "1")]
