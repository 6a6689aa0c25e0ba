"""Invariants on hand-made run logs: the edges the scenario files do not pin down."""
from __future__ import annotations

import numpy as np
import pytest

from agent.gateway.events import CancelOrder, PlaceOrder, Side, Tif
from scenarios.invariants import NoLiquidation, NoRiskIncreasingOrderAfter, OrdersOnTheVenueGrid
from scenarios.runlog import RunLog, SentCommand


def _log(liquidated_at: float = 4.0, long: float = 0.038) -> RunLog:
    """Long ``long`` until the venue liquidates it at ``liquidated_at``; Kill at 4.1 s."""
    log = RunLog(0, 0.0, 10.0, 0.05, 0.001, long, 500.0)
    t = np.round(np.arange(0.0, 10.0, 0.05), 9)
    log.samples = {"t": t, "pos": np.where(t < liquidated_at, long, 0.0)}
    log.safety = [{"t": 4.1, "from": 0, "to": 4, "reason": "drawdown"}]
    log.liquidations = [liquidated_at]
    return log


def _sent(log: RunLog, t: float, sz: float, reduce_only: bool, belief: float = 0.038) -> None:
    pos = float(log.samples["pos"][log.sample_at(t) - 1])
    log.commands.append(SentCommand(t, PlaceOrder(f"c{t}", Side.SELL, 88_000.0, sz, Tif.IOC, reduce_only), 1, pos,
                                    belief, 4, 100, 1000))


def test_a_reduce_only_exit_racing_a_liquidation_is_not_a_violation():
    # the venue liquidated 0.1 s (and, behind a latency spike, 1.5 s) before the agent's reduce-only exit left,
    # on the position the agent knew: the fill saying so was still on its way
    log = _log()
    _sent(log, 4.1, 0.038, True)
    _sent(log, 5.5, 0.038, True)
    assert NoRiskIncreasingOrderAfter(name="no_risk_increasing_order_after").check(log) is None


@pytest.mark.parametrize("t, reduce_only, belief", [(6.5, True, 0.038), (4.1, False, 0.038), (4.1, True, 0.02)])
def test_an_exit_on_a_position_gone_for_longer_or_guessed_or_not_reduce_only_is(t, reduce_only, belief):
    # past the race window the agent had time to hear of it; a position the venue never held was a guess;
    # a plain order could really open a short
    log = _log()
    _sent(log, t, 0.038, reduce_only, belief)
    v = NoRiskIncreasingOrderAfter(name="no_risk_increasing_order_after").check(log)
    assert v is not None and v.t == t and "venue position at 0" in v.message


def test_no_liquidation_names_the_position_it_took():
    v = NoLiquidation(name="no_liquidation").check(_log())
    assert v is not None and v.t == 4.0 and "0.038" in v.message
    calm = _log()
    calm.liquidations = []
    assert NoLiquidation(name="no_liquidation").check(calm) is None
    assert NoLiquidation(name="no_liquidation", after="t=5").check(_log()) is None


@pytest.mark.parametrize("sz, px, ok", [(0.0078, 88_150.0, True), (0.007799999999999994, 88_150.0, False),
                                        (0.0078, 88_150.5, False), (0.0078, 88_151.0, True)])
def test_orders_off_the_venues_size_or_price_grid_are_named(sz, px, ok):
    log = RunLog(0, 0.0, 10.0, 0.05, 0.00001, 0.0, 500.0)  # BTC: 5 size decimals, so whole-dollar prices here
    log.commands.append(SentCommand(1.0, PlaceOrder("c", Side.SELL, px, sz, Tif.IOC, True), 1, 0.0, 0.0, 0, 100, 1000))
    v = OrdersOnTheVenueGrid(name="orders_on_the_venue_grid").check(log)
    assert (v is None) == ok and (ok or repr(sz if sz != 0.0078 else px) in v.message)


def test_failure_reports_describe_level_and_venue_records_in_words():
    from scenarios.runner import describe_record

    level = {"type": "level", "t": 1.6, "ts": 2.6, "from": "MICRO_LIVE", "to": "SHADOW", "kind": "demote",
             "confidence": None, "trigger": "DRAWDOWN", "reason": "drawdown 0.056 at level ≥ 0.0075"}
    assert describe_record(level) == ("t=1.600  level   MICRO_LIVE → SHADOW  demote: DRAWDOWN (drawdown 0.056 "
                                      "at level ≥ 0.0075)")
    change = {"type": "venue_account_change", "t": 4.0, "kind": "liquidation", "text": "{...}"}
    assert describe_record(change) == "t=4.000  venue   liquidation: {...}"
    cycle = {"type": "cycle", "cycle": 7, "t": 5.0, "inputs": {"mid": 100004.5, "position": 0.001, "headroom": 12,
                                                               "safety_level": 2, "exposure_level": 1},
             "quotes": [["B", 100001.0, 0.002], ["B", 99998.0, 0.0024], ["A", 100008.0, 0.002]],
             "commands": ["cancel 00000c"], "note": ""}
    assert describe_record(cycle) == ("t=5.000  cycle 7  mid 100004.5  pos 0.001  ORANGE/MICRO_LIVE  headroom 12  "
                                      "B 0.002@100001.0 0.0024@99998.0 | A 0.002@100008.0  sent cancel 00000c")


def test_invariants_that_would_hold_vacuously_fail_when_the_run_never_exercised_them():
    """A flat position at the trigger, no order ever resting, nothing sent at low headroom, a safety level already
    where it should come down to, quotes already resting when they should resume: each held before, vacuously (an
    audit; quota_spiral_hip3 turned out to exercise nothing of the real agent). With require_exercise (the default)
    each is a violation saying so; with it off, they hold."""
    from scenarios.invariants import (
        DeescalatesLevelByLevel, InventoryReducedWithin, NoStaleQuoteOlderThan, QuotingResumesWithin,
        RequestRateAdaptsToHeadroom,
    )
    log = RunLog(0, 0.0, 10.0, 0.05, 0.001, 0.0, 500.0)
    t = np.round(np.arange(0.0, 10.0, 0.05), 9)
    n = len(t)
    log.samples = {"t": t, "pos": np.zeros(n), "mid": np.full(n, 100.0), "safety": np.zeros(n, dtype=int),
                   "n_quote_bids": np.ones(n, dtype=int), "n_quote_asks": np.ones(n, dtype=int)}
    log.orders = [[] for _ in range(n)]
    checks = [(InventoryReducedWithin, {"within_s": 5.0}, "no inventory at start"),
              (NoStaleQuoteOlderThan, {"max_age_s": 1.0, "past_bps": 5.0}, "no order of ours ever rested"),
              (RequestRateAdaptsToHeadroom, {"max_items_per_min": 10}, "no request item sent with headroom at or below"),
              (DeescalatesLevelByLevel, {"within_s": 5.0}, "safety already at GREEN"),
              (QuotingResumesWithin, {"within_s": 5.0}, "already rested at start")]
    for cls, kw, says in checks:
        name = cls.model_fields["name"].annotation.__args__[0]
        v = cls(name=name, **kw).check(log)
        assert v is not None and says in v.message, (name, v)
        assert cls(name=name, require_exercise=False, **kw).check(log) is None, name


def test_the_low_headroom_rate_counts_items_sent_at_exactly_the_red_threshold():
    """Exchange health is Red at headroom ≤ 30% (safety.health_critical): the pulls a Red sends at exactly 3000 of
    10000 are low-headroom items. Counted only below it, a run whose Red came at exactly 30% read as never exercised."""
    from scenarios.invariants import RequestRateAdaptsToHeadroom
    inv = RequestRateAdaptsToHeadroom(name="request_rate_adapts_to_headroom", max_items_per_min=10)

    def log_at(headroom: int, n: int) -> RunLog:
        log = RunLog(0, 0.0, 60.0, 0.05, 0.00001, 0.0, 500.0)
        for i in range(n):
            log.commands.append(SentCommand(1.0 + i, PlaceOrder(f"c{i}", Side.SELL, 88_000.0, 0.001, Tif.ALO, False),
                                            1, 0.0, 0.0, 3, headroom, 10_000))
        return log
    assert inv.check(log_at(3000, 1)) is None
    v = inv.check(log_at(3000, 11))
    assert v is not None and "11 request items" in v.message
    assert "did not exercise" in inv.check(log_at(3001, 11)).message


def test_the_low_headroom_rate_is_exercised_by_an_agent_that_stopped_just_above_the_line():
    """An agent that counts its requests still on their way sees the line first and pulls its quotes with the
    venue's headroom a few items above it; then it sends nothing. That run reached the low headroom with the
    agent quoting into it: exercised, and held. A run whose headroom never fell there, or fell before the agent
    sent anything (a start below the line: the agent never quoted), still did not exercise it."""
    from scenarios.invariants import RequestRateAdaptsToHeadroom
    inv = RequestRateAdaptsToHeadroom(name="request_rate_adapts_to_headroom", max_items_per_min=10)

    def run(used_after: int, n_sent: int = 6) -> RunLog:
        log = RunLog(0, 0.0, 60.0, 0.05, 0.00001, 0.0, 500.0)
        for i in range(n_sent):
            log.commands.append(SentCommand(1.0 + 0.1 * i, CancelOrder(f"c{i}"), 1, 0.0, 0.0, 3, 3006 - i, 10_000))
        t = np.arange(0.0, 60.0, 0.5)
        log.samples = {"t": t, "cap": np.full(len(t), 10_000.0),
                       "used": np.where(t < 2.0, float(used_after - n_sent), float(used_after))}
        return log
    assert inv.check(run(7000)) is None  # 3000 left once the pulls landed: reached, and nothing sent there
    assert inv.check(run(6994)) is None  # 3006 left: within 0.1% of the line (the agent's count ran ahead)
    assert "did not exercise" in inv.check(run(6980)).message  # 3020 left: never that low
    assert "did not exercise" in inv.check(run(7000, n_sent=0)).message  # low, and the agent never quoted


def _sampled(t_end: float = 60.0, **columns) -> RunLog:
    """A run of ``t_end`` s sampled every 0.05 s; ``columns``: name → function of the times (others zero)."""
    from scenarios.runlog import RestingOrder

    t = np.round(np.arange(0.0, t_end + 1e-9, 0.05), 9)
    log = RunLog(0, 1.0, t_end, 0.05, 1e-5, 0.0, 1e4)
    log.samples = {k: np.zeros(len(t)) for k in ("pos", "n_orders", "safety", "bid_sz", "ask_sz")}
    log.samples["t"] = t
    for k, f in columns.items():
        log.samples[k] = f(t).astype(float)
    log.orders = [tuple(RestingOrder(1, True, 99.0, 0.01, False) for _ in range(int(k)))
                  for k in log.samples["n_orders"]]
    return log


def test_a_window_past_the_runs_end_is_not_exercised_not_held():
    """A Kill in the run's last within_s checked no sample, and a grace past the end compared the last sample with
    itself: both said "holds" for three orders resting to the end and a position grown fourfold."""
    from scenarios.invariants import AllOrdersCancelledWithin, PositionNeverGrowsAfter

    log = _sampled(pos=lambda t: np.where(t >= 58.5, 0.04, 0.01), n_orders=lambda t: np.full(len(t), 3))
    log.safety = [{"t": 58.0, "from": 3, "to": 4, "reason": "x"}]
    v = AllOrdersCancelledWithin(name="all_orders_cancelled_within", within_s=5).check(log)
    assert v is not None and "did not exercise it" in v.message
    v = PositionNeverGrowsAfter(name="position_never_grows_after", grace_s=5).check(log)
    assert v is not None and "the run ended within grace_s 5 s of kill" in v.message
    v = PositionNeverGrowsAfter(name="position_never_grows_after", grace_s=0.2).check(log)
    assert v is not None and "grew to 0.04" in v.message


def test_a_flip_through_a_flat_sample_is_a_flip_in_reduce_only_mode():
    """Long 0.02, flat (an exit filled), then short 0.02 (a stale plain ask from before Red filled): the Feb 10
    mechanism, read as no flip since no two adjacent samples had opposite signs."""
    from scenarios.invariants import ReduceOnlyNeverIncreases

    log = _sampled(pos=lambda t: np.where(t < 20, 0.02, np.where(t < 20.04, 0.0, -0.02)),
                   safety=lambda t: np.where(t >= 10, 3, 0))
    v = ReduceOnlyNeverIncreases(name="reduce_only_never_increases").check(log)
    assert v is not None and v.message == "position flipped from 0.02 to -0.02 in reduce-only mode"
    # a new stretch of the mode starts from its own position
    log = _sampled(pos=lambda t: np.where(t < 20, 0.02, -0.02), safety=lambda t: np.where((t >= 10) & (t < 15) | (t >= 25), 3, 0))
    assert ReduceOnlyNeverIncreases(name="reduce_only_never_increases").check(log) is None


@pytest.mark.parametrize("red_at, flat_until", [(20.0, 20.04), (20.05, 20.04), (20.05, 20.09), (20.1, 20.09)])
def test_a_flip_through_a_flat_sample_at_the_modes_boundary_is_a_flip(red_at, flat_until):
    """Long 0.02, flat at the last sample before Red or at its first (an exit filled), then short 0.02 in it (a stale
    plain ask from before Red filled): the stretch of the mode flipped from the flat sample before it, and a flat
    position has no side to cross. (Red at 20.0 with one flat sample was judged: the flat sample was in the mode.)"""
    from scenarios.invariants import ReduceOnlyNeverIncreases

    log = _sampled(pos=lambda t: np.where(t < 20, 0.02, np.where(t < flat_until, 0.0, -0.02)),
                   safety=lambda t: np.where(t >= red_at - 1e-9, 3, 0))
    v = ReduceOnlyNeverIncreases(name="reduce_only_never_increases").check(log)
    assert v is not None and v.t == round(flat_until + 0.01, 2)
    assert v.message == "position flipped from 0.02 to -0.02 in reduce-only mode"
    # Red began 5 ms before its first sample: a fill that crossed 5 ms before the flip's sample came after it (the
    # mode's), or, flat at the sample before the mode, before it (none of the mode's)
    from scenarios.runlog import VenueFill

    log.fills = [VenueFill(19.99, "e", 1, False, 0.02, 0.02), VenueFill(flat_until - 0.005, "s", 2, False, 0.02, 0.0)]
    log.safety = [{"t": red_at - 0.005, "from": 0, "to": 3, "reason": "x"}]
    v = ReduceOnlyNeverIncreases(name="reduce_only_never_increases").check(log)
    assert (v is None) == (red_at > flat_until)
    assert v is None or v.message.endswith(f": a fill of s at t={flat_until - 0.005:.3f}, an order from before the "
                                           f"mode whose cancel had not left by then")


def test_plain_exits_sent_together_past_the_position_and_a_flip_after_a_kill_break_the_kill_invariants():
    """A Kill's flatten of two plain IOCs of 0.9x the position each, sent at once, flipped the long to a smaller
    short: each order alone was no larger than the position, and |position| never grew."""
    from scenarios.invariants import PositionNeverGrowsAfter

    log = _sampled(pos=lambda t: np.where(t < 31, 0.04, -0.03))
    log.safety = [{"t": 30.0, "from": 3, "to": 4, "reason": "x"}]
    for _ in range(2):
        log.commands.append(SentCommand(30.1, PlaceOrder("c", Side.SELL, 100.0, 0.035, Tif.IOC, False), 2, 0.04, 0.04,
                                        4, 5000, 10000))
    v = NoRiskIncreasingOrderAfter(name="no_risk_increasing_order_after").check(log)
    assert v is not None and "(0.07 in plain orders sent at once)" in v.message
    v = PositionNeverGrowsAfter(name="position_never_grows_after", grace_s=0.5).check(log)
    assert v is not None and v.message == "position flipped to -0.03 after kill at t=30.00 (it was 0.04)"


def test_a_trigger_names_its_safety_level_and_its_time_is_the_first_at_or_above_it():
    from scenarios.runlog import trigger_level

    assert [trigger_level(s) for s in ("kill", "safety>=green", "safety>=Orange", " safety>=RED ", "start", "t=5",
                                       "fault:slide", "disconnect")] == [4, 0, 2, 3, None, None, None, None]
    log = _sampled()
    log.safety = [{"t": 3.0, "from": 0, "to": 2}, {"t": 7.0, "from": 2, "to": 4}]
    assert [log.trigger_time(s) for s in ("safety>=YELLOW", "safety>=RED", "kill", "safety>=GREEN")] == [
        3.0, 7.0, 7.0, None]  # (Green: never risen to, as before)


def test_a_fault_trigger_is_the_first_of_its_kind_in_time_not_in_the_file():
    from scenarios.invariants import AllOrdersCancelledWithin

    log = _sampled(n_orders=lambda t: np.where((t >= 10) & (t < 15), 4, 0))
    log.faults = [("disconnect", 40.0, 45.0), ("disconnect", 10.0, 15.0)]
    assert log.trigger_time("fault:disconnect") == 10.0 and log.trigger_time("fault_end:disconnect") == 15.0
    inv = AllOrdersCancelledWithin(name="all_orders_cancelled_within", trigger="fault:disconnect", within_s=3,
                                   until="fault_end:disconnect")
    assert inv.check(log) is not None


def test_each_item_of_a_batch_is_recorded_at_the_headroom_the_items_before_it_leave():
    """The venue charges a batch one request an item; every item was recorded at the batch's headroom, so 600
    places sent at 700 read as 700 each and the cancels' reserve was spent unseen."""
    import simpy

    from agent.gateway.events import Batch
    from agent.gateway.twin import TwinGateway
    from scenarios.runner import _RecordingGateway
    from twin.exchange import Exchange
    from twin.params import TwinParams

    ex = Exchange(simpy.Environment(), TwinParams(), 0)
    user = "0x" + "ab" * 20
    ex.fund(user, 1e6)
    rec = _RecordingGateway(TwinGateway(ex, user, "BTC"), ex, "BTC", 0.0)
    rec.send(Batch(tuple(PlaceOrder(f"0x{k:032x}", Side.BUY, 90_000.0, 0.001, Tif.ALO) for k in range(5))))
    cap = ex.quotas[user].cap
    assert [c.headroom for c in rec.sent] == [cap - ex.quotas[user].used - k for k in range(5)]


def test_requests_still_on_their_way_count_against_the_cancel_reserve_when_they_land():
    """Each command's headroom is the venue's when it left, and the requests still on their way are not in it: three
    batches of 200 places sent a millisecond apart at 1000 of headroom (a reserve of 500) all read as sent at 1000
    and landed leaving 400, and the invariant held. It now reads the venue's charges too, as each action landed."""
    import simpy

    from agent.gateway.events import Batch
    from agent.gateway.twin import TwinGateway
    from scenarios.invariants import CancelReserveNeverSpentOnQuoting
    from scenarios.runlog import QuotaCharge
    from scenarios.runner import _RecordingGateway
    from twin.exchange import Exchange
    from twin.params import TwinParams

    ex = Exchange(simpy.Environment(), TwinParams(), 0)
    user = "0x" + "ab" * 20
    ex.fund(user, 1e6)
    quota = ex.quotas[user]
    quota.set_remaining(1000)
    quota.charges = []  # as run_scenario sets it
    inner = TwinGateway(ex, user, "BTC")
    inner.sink = lambda ev: None
    rec = _RecordingGateway(inner, ex, "BTC", 0.0)

    def agent():
        for b in range(3):
            rec.send(Batch(tuple(PlaceOrder(f"0x{b:04x}{k:028x}", Side.BUY, 80_000.0 + k, 0.001, Tif.ALO)
                                 for k in range(200))))
            yield ex.env.timeout(0.001)  # (the order entry leg's median is 80 ms: none has landed yet)
    ex.env.process(agent())
    ex.env.run(until=5.0)
    assert min(c.headroom for c in rec.sent) == 801 and quota.cap - quota.used == 400
    inv = CancelReserveNeverSpentOnQuoting(name="cancel_reserve_never_spent_on_quoting")
    log = RunLog(0, 0.0, 5.0, 0.05, 1e-5, 0.0, 1e6, reserve_frac=0.05)
    log.commands = rec.sent
    log.quota_charges = [QuotaCharge(*c) for c in quota.charges]
    v = inv.check(log)
    third = max(log.quota_charges, key=lambda q: q.sent_t)  # (whenever it landed: the order entry legs are drawn)
    assert v is not None and v.t == third.t and third.sent_t == 0.002
    assert v.message.startswith("OrderAction of 200 requests sent at 0.002 s left 400 of headroom counting every "
                                "request sent before it (")


def test_a_cancel_that_overtakes_places_sent_before_it_is_no_order_landing_in_the_reserve():
    """Places that stop at the reserve, then a cancel (the reserve is kept for cancels): the order entry legs are
    drawn one by one, so the cancel can land first, and the places then land "inside" the reserve the cancel spent.
    In the order the agent sent them (its request budget's), none is: no violation. Read as they landed, it was
    one on half of the seeds."""
    import simpy

    from agent.gateway.events import Batch, CancelOrder
    from agent.gateway.twin import TwinGateway
    from scenarios.invariants import CancelReserveNeverSpentOnQuoting
    from scenarios.runlog import QuotaCharge
    from scenarios.runner import _RecordingGateway
    from twin.exchange import Exchange
    from twin.params import TwinParams

    overtaken = 0
    for seed in range(10):
        ex = Exchange(simpy.Environment(), TwinParams(), seed)
        user = "0x" + "ab" * 20
        ex.fund(user, 1e6)
        quota = ex.quotas[user]
        quota.set_remaining(1000)
        quota.charges = []
        inner = TwinGateway(ex, user, "BTC")
        inner.sink = lambda ev: None
        rec = _RecordingGateway(inner, ex, "BTC", 0.0)

        def agent():
            for b in range(5):  # 500 places: down to the reserve of 500, not into it
                rec.send(Batch(tuple(PlaceOrder(f"0x{b:04x}{k:028x}", Side.BUY, 80_000.0 + k, 0.001, Tif.ALO)
                                     for k in range(100))))
            yield ex.env.timeout(0.001)
            rec.send(Batch(tuple(CancelOrder(f"0x{1:04x}{k:028x}") for k in range(20))))
        ex.env.process(agent())
        ex.env.run(until=5.0)
        log = RunLog(0, 0.0, 5.0, 0.05, 1e-5, 0.0, 1e6, reserve_frac=0.05)
        log.commands = rec.sent
        log.quota_charges = [QuotaCharge(*c) for c in quota.charges]
        cancel_at = next(i for i, q in enumerate(log.quota_charges) if q.action == "CancelByCloidAction")
        overtaken += cancel_at < len(log.quota_charges) - 1
        assert CancelReserveNeverSpentOnQuoting(name="cancel_reserve_never_spent_on_quoting").check(log) is None
    assert overtaken  # the case the test is for happened


def test_a_scenario_run_logs_the_venues_charges_of_the_agents_actions():
    from pathlib import Path

    from scenarios.runner import run_scenario
    from scenarios.schema import load_scenario

    sc = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "quota_spiral_hip3.yaml")
    r = run_scenario(sc, sc.seeds[0])
    charges = r.log.quota_charges
    assert {"OrderAction", "CancelByCloidAction"} <= {q.action for q in charges}
    assert sum(q.n for q in charges) == charges[-1].used - (charges[0].used - charges[0].n)  # every charge, in order
    assert r.broke("cancel_reserve_never_spent_on_quoting") is None


def test_an_expired_order_action_charged_five_fold_is_not_an_order_landing_in_the_reserve():
    """The venue charges an action that arrives past its expiresAfter five times its items, and does none of it: no
    order of it lands. Its charge is written down as expired, and the cancel reserve's check does not read it as an
    order placed inside the reserve (the agent cannot choose the latency that expired it)."""
    import simpy

    from scenarios.invariants import CancelReserveNeverSpentOnQuoting
    from scenarios.runlog import QuotaCharge
    from twin.exchange import Exchange
    from twin.messages import OrderAction, OrderSpec
    from twin.params import TwinParams

    ex = Exchange(simpy.Environment(), TwinParams(), 0)
    user = "0x" + "ab" * 20
    ex.fund(user, 1e6)
    quota = ex.quotas[user]
    quota.set_remaining(1000)
    quota.charges = []
    replies: list = []
    action = OrderAction(tuple(OrderSpec("BTC", True, 80_000.0 + k, 0.001) for k in range(100)))
    ex.submit(user, action, replies.append, expires_after_s=0.0)  # past it on arrival (the latency is > 0)
    ex.env.run(until=5.0)
    assert [c[1:3] for c in quota.charges] == [(500, "OrderAction (expired)")] and quota.cap - quota.used == 500
    log = RunLog(0, 0.0, 5.0, 0.05, 1e-5, 0.0, 1e6, reserve_frac=0.6)  # a reserve of 600: the charge left 500
    log.quota_charges = [QuotaCharge(*c) for c in quota.charges]
    assert CancelReserveNeverSpentOnQuoting(name="cancel_reserve_never_spent_on_quoting").check(log) is None


def _cancelled_bids_fill_under_red(fills_at=(12.097, 12.099, 12.513), exit_belief: float = -0.00064) -> RunLog:
    """feb12_emergency_paralysis seed 15 (after the W patches), as its run log had it: short 0.00384, Red at 12.0 s
    cancels three plain bids (0.00128, 0.00192, 0.00288) that one trade fills at the venue before the cancels land
    (-0.00384 to +0.00224 between two samples); the agent hears of two fills at once, of the third 13 ms after its
    reduce-only exit bid on the 0.00064 short it knew of left at 12.5 s. The trade came at 12.03, between the last
    sample at Green and the first in Red, as the venue's fills (``RunLog.fills``) say: the bids' cancels had left with
    Red's first commands (a flip there is judged, and this one is the race's)."""
    from agent.gateway.events import FillReceived
    from scenarios.runlog import VenueFill

    log = _sampled(t_end=20.0, pos=lambda t: np.where(t < 12.05, -0.00384, 0.00224),
                   safety=lambda t: np.where(t >= 12.05, 3, 0))  # (the sample at 12.0 was taken before the cycle)
    log.safety = [{"t": 12.0, "from": 0, "to": 3, "reason": "error_burst"}]  # (safety>=RED: without it, vacuous)
    pos = -0.00384
    for i, (name, sz) in enumerate((("b1", 0.00128), ("b2", 0.00192), ("b3", 0.00288))):
        log.commands.append(SentCommand(5.0 + i, PlaceOrder(name, Side.BUY, 99_880.0 - i, sz), 1, -0.00384, -0.00384,
                                        0, 5000, 10000))
        log.fills.append(VenueFill(12.03, name, 1, True, sz, pos))
        pos += sz
    log.commands += [SentCommand(12.0, CancelOrder(name), 1, -0.00384, -0.00384, 3, 5000, 10000)
                     for name in ("b1", "b2", "b3")]
    for t, sz in zip(fills_at, (0.00128, 0.00192, 0.00288)):
        log.events.append((t, FillReceived(t, "c", 1, 99_880.0, sz, Side.BUY, 0.0, True, 1)))
    log.commands.append(SentCommand(12.5, PlaceOrder("x", Side.BUY, 99_893.0, 0.00064, Tif.ALO, True), 1, 0.00224,
                                    exit_belief, 3, 5000, 10000))
    return log


def test_a_reduce_only_exit_sent_while_the_fills_of_bids_being_cancelled_were_on_the_wire_is_not_a_violation():
    """The exit bid was right by all the agent could know: the venue's long was the agent's short plus fills already
    made, whose news reached it 13 ms later; a reduce-only bid on a long the venue refuses. The invariant judged it
    against the venue's position alone (no race allowance, unlike no_risk_increasing_order_after's) and failed it,
    and the venue never held the 0.00064 short at a sample (one trade took it through), so that allowance alone
    would not excuse it either: no_risk_increasing_order_after failed it too, until it took the fills' allowance."""
    from scenarios.invariants import ReduceOnlyNeverIncreases, _news_in_flight

    log = _cancelled_bids_fill_under_red()
    assert not _news_in_flight(log, log.commands[-1], 2.0)  # (the venue never held -0.00064 at a sample)
    assert ReduceOnlyNeverIncreases(name="reduce_only_never_increases").check(log) is None
    assert NoRiskIncreasingOrderAfter(name="no_risk_increasing_order_after", trigger="safety>=RED").check(log) is None


@pytest.mark.parametrize("fills_at, belief", [
    ((12.097, 12.099, 14.6), -0.00064),  # the last fill heard of past race_s: the agent had time to know
    ((12.097, 12.099), -0.00064),  # never heard of as a fill (a snapshot put it right): the belief was a guess
    ((12.097, 12.099, 12.513), 0.0004),  # a bid on a long the agent knew of: wrong by its own account
])
def test_a_reduce_only_exit_on_a_position_not_made_up_by_fills_on_the_wire_still_is(fills_at, belief):
    from scenarios.invariants import ReduceOnlyNeverIncreases

    v = ReduceOnlyNeverIncreases(name="reduce_only_never_increases").check(
        _cancelled_bids_fill_under_red(fills_at, belief))
    assert v is not None and v.t == 12.5 and "grows the venue position 0.00224" in v.message
    v = NoRiskIncreasingOrderAfter(name="no_risk_increasing_order_after", trigger="safety>=RED").check(
        _cancelled_bids_fill_under_red(fills_at, belief))
    assert v is not None and v.t == 12.5 and "with the venue position at 0.00224" in v.message


def _bids_cancelled_at_red_fill_past_the_short(cancels_at: float | None = 12.0, fills_at: float = 12.07,
                                               crossing: str = "b3", exit_reduce_only: bool = True,
                                               level: int = 3, cancel_all: bool = False,
                                               known: tuple[str, ...] = (), t_end: float = 20.0) -> RunLog:
    """feb12_emergency_paralysis seed 15 as its run log has it, the trade a sample later (there it came before the
    first sample in Red, which has no position of its own to flip from): short 0.00384 with three plain bids
    (b1-b3: 0.00128, 0.00192, 0.00288) placed at Green; Red at 12.0 s (the sample then taken before the cycle), whose
    first commands cancel the bids (``cancels_at``; None: never) and place a reduce-only exit bid of 0.00064 (x). One
    trade fills the three bids at ``fills_at``, the last (``crossing``, the order its fill is booked to) taking the
    venue from -0.00064 to +0.00224 after the sample at 12.05 (the first in Red): no order sent in Red is in it.
    ``level``: the safety level the mode is at (4: a Kill, with its transition in ``log.safety``); ``cancel_all``: the
    bids pulled by one CancelAll at ``cancels_at`` instead of a cancel each (``known``: those it names); ``t_end``: the
    run's length, s."""
    from scenarios.runlog import VenueFill

    log = _sampled(t_end=t_end, pos=lambda t: np.where(t < fills_at, -0.00384, 0.00224),
                   safety=lambda t: np.where(t >= 12.05, level, 0))
    if level == 4:
        log.safety = [{"t": 12.0, "from": 0, "to": 4, "reason": "drawdown"}]
    sizes = {"b1": 0.00128, "b2": 0.00192, "b3": 0.00288}
    for i, (name, sz) in enumerate(sizes.items()):
        log.commands.append(SentCommand(5.0 + i, PlaceOrder(name, Side.BUY, 99_880.0 - i, sz), 1, -0.00384, -0.00384,
                                        0, 5000, 10000))
    red = [SentCommand(12.0, PlaceOrder("x", Side.BUY, 99_893.0, 0.00064, Tif.ALO, exit_reduce_only), 1, -0.00384,
                       -0.00384, level, 5000, 10000)]
    if cancels_at is not None and cancel_all:
        from agent.gateway.events import CancelAll

        red.append(SentCommand(cancels_at, CancelAll(known), 1, -0.00384, -0.00384, level, 5000, 10000))
    elif cancels_at is not None:
        red += [SentCommand(cancels_at, CancelOrder(name), 1, -0.00384, -0.00384, level, 5000, 10000)
                for name in sizes]
    log.commands += sorted(red, key=lambda c: c.t)
    pos = -0.00384
    for name, sz in sizes.items():
        log.fills.append(VenueFill(fills_at, crossing if name == "b3" else name, 1, True, sz, pos))
        pos += sz
    return log


def test_bids_from_before_red_filling_past_the_short_before_their_cancels_land_are_no_flip_of_the_agents():
    """The agent sent its cancels with its first commands in Red; one trade filled the bids 70 ms later, before the
    cancels landed, and took the short to a long. Nothing it sent in the mode did it, and it had pulled them at once:
    the invariant failed it on the venue's sign alone."""
    from scenarios.invariants import ReduceOnlyNeverIncreases

    inv = ReduceOnlyNeverIncreases(name="reduce_only_never_increases")
    assert inv.check(_bids_cancelled_at_red_fill_past_the_short()) is None
    # behind a latency spike: the cancels still on their way 0.3 s later
    assert inv.check(_bids_cancelled_at_red_fill_past_the_short(fills_at=12.3)) is None


_STALE = "a fill of b3 at t=12.070, an order from before the mode whose cancel had not left by "


@pytest.mark.parametrize("kwargs, why", [
    ({"crossing": "x"}, "a fill of place B 0.00064@99893.0 RO Alo (x), sent in the mode at t=12.000"),
    ({"cancels_at": None}, _STALE + "then"),
    ({"cancels_at": 12.08}, _STALE + "then"),
    ({"cancels_at": 12.5, "fills_at": 12.6}, "a fill of b3 at t=12.600, an order from before the mode whose cancel had "
                                             "not left by the agent's first command in the mode (t=12.000)"),
])
def test_a_flip_in_reduce_only_mode_by_an_order_sent_in_it_or_a_stale_one_left_resting_still_is_a_violation(kwargs,
                                                                                                            why):
    """A fill of the exit sent in Red (the venue would not let a reduce-only order cross; a log that says it did is
    judged against the agent); the bids never cancelled, cancelled after they filled, or pulled half a second into
    the mode, after its first commands."""
    from scenarios.invariants import ReduceOnlyNeverIncreases

    log = _bids_cancelled_at_red_fill_past_the_short(**kwargs)
    v = ReduceOnlyNeverIncreases(name="reduce_only_never_increases").check(log)
    flip_t = float(log.t[log.sample_at(kwargs.get("fills_at", 12.07))])
    assert v is not None and v.t == flip_t
    assert v.message == f"position flipped from -0.00384 to 0.00224 in reduce-only mode: {why}"


def test_a_plain_order_sent_in_reduce_only_mode_is_a_violation_whatever_filled():
    from scenarios.invariants import ReduceOnlyNeverIncreases

    v = ReduceOnlyNeverIncreases(name="reduce_only_never_increases").check(
        _bids_cancelled_at_red_fill_past_the_short(exit_reduce_only=False))
    assert v is not None and v.t == 12.0 and "without the reduce-only flag" in v.message


def test_a_cancel_all_pulls_only_the_orders_placed_before_it():
    """A CancelAll sent at the start pulled nothing placed after it: the bids placed at 5 s, never cancelled, are
    stale orders left resting into the mode."""
    from agent.gateway.events import CancelAll
    from scenarios.invariants import ReduceOnlyNeverIncreases

    inv = ReduceOnlyNeverIncreases(name="reduce_only_never_increases")
    log = _bids_cancelled_at_red_fill_past_the_short(cancels_at=None)
    log.commands.insert(0, SentCommand(0.5, CancelAll(), 1, 0.0, 0.0, 0, 5000, 10000))
    assert inv.check(log) is not None
    log.commands.append(SentCommand(12.0, CancelAll(), 1, -0.00384, -0.00384, 3, 5000, 10000))
    log.commands.sort(key=lambda c: c.t)
    assert inv.check(log) is None


def test_the_venue_fills_a_run_log_keeps_make_its_sampled_positions():
    """``RunLog.fills`` (what reduce_only_never_increases judges a flip by) is the venue's: chained from the starting
    position, they give every sampled position (a fill in the sample's own ms may fall either side of it), and on
    feb12_emergency_paralysis seed 15 the trade that took the short to a long filled the three bids Red had just
    cancelled, before the cancels landed."""
    from pathlib import Path

    from scenarios.runner import run_scenario
    from scenarios.schema import load_scenario

    log = run_scenario(load_scenario(Path(__file__).resolve().parents[2] / "scenarios/feb12_emergency_paralysis.yaml"),
                       15).log
    fills = log.fills
    assert len(fills) > 100
    pos = log.start_position
    ends = []
    for f in fills:
        assert abs(f.start_position - pos) < 1e-12, f
        pos = f.start_position + (f.sz if f.is_buy else -f.sz)
        ends.append((f.t, pos))
    for t, p in zip(log.t, log.samples["pos"]):
        before = [e for ft, e in ends if ft < t - 1e-3]
        upto = [e for ft, e in ends if ft <= t + 1e-3]
        assert any(abs(p - x) < 1e-12 for x in (before[-1:] or [log.start_position]) + upto[-1:]), t
    red = log.first_safety(3)
    cancels = {c.cmd.cloid: c.t for c in log.commands if isinstance(c.cmd, CancelOrder)}
    crossing = [f for f in fills if red < f.t < red + 0.1]
    assert crossing[-1].start_position < 0 < crossing[-1].start_position + crossing[-1].sz
    assert all(cancels[f.cloid] == red < f.t for f in crossing)


@pytest.mark.parametrize("heard, resent_at, ok", [
    ("rejected", None, False),  # refused before the trade: the bid rested on, with no cancel on its way
    ("rate_limited", None, False),  # the cancel action refused for the address quota, the same
    ("rejected", 12.04, True),  # sent again before the trade, with its first commands' cancel refused
    ("late", None, True),  # the refusal heard after the trade is the race's own ("already filled")
])
def test_a_cancel_heard_refused_before_the_fill_was_not_on_its_way(heard, resent_at, ok):
    from agent.gateway.events import CancelRejected, RateLimited, Reason
    from scenarios.invariants import ReduceOnlyNeverIncreases

    log = _bids_cancelled_at_red_fill_past_the_short()
    t = 12.2 if heard == "late" else 12.03
    for name in ("b1", "b2", "b3"):
        if heard == "rate_limited":
            log.events.append((t, RateLimited(t, "address", "cancel", "Too many cumulative requests", (name,))))
        else:
            log.events.append((t, CancelRejected(t, name, Reason.MISSING_ORDER, "already filled")))
        if resent_at is not None:
            log.commands.append(SentCommand(resent_at, CancelOrder(name), 1, -0.00384, -0.00384, 3, 5000, 10000))
    v = ReduceOnlyNeverIncreases(name="reduce_only_never_increases").check(log)
    assert (v is None) == ok
    assert ok or v.message.endswith(": a fill of b3 at t=12.070, an order from before the mode whose cancel sent at "
                                    "t=12.000 had been refused before it filled")


_REDUCE_ONLY = "position flipped from -0.00384 to 0.00224 in reduce-only mode"


@pytest.mark.parametrize("kwargs, why", [
    ({}, None),  # the cancels left with Red's first commands: the race, excused as a sample later
    ({"cancels_at": None}, ": a fill of b3 at t=12.030, an order from before the mode whose cancel had not left by "
                           "then"),
    ({"crossing": "x"}, ": a fill of place B 0.00064@99893.0 RO Alo (x), sent in the mode at t=12.000"),
])
def test_a_flip_between_the_last_sample_before_the_mode_and_the_first_in_it_is_judged(kwargs, why):
    """The trade before the first sample in Red (as feb12_emergency_paralysis seed 15 has it): the first sample in
    the mode had no position of its own in the mode to flip from, and the flip went unjudged, whatever made it. The
    position just before the mode is the one it flips from."""
    from scenarios.invariants import ReduceOnlyNeverIncreases

    v = ReduceOnlyNeverIncreases(name="reduce_only_never_increases").check(
        _bids_cancelled_at_red_fill_past_the_short(fills_at=12.03, **kwargs))
    assert (v is None) == (why is None)
    assert why is None or (v.t == 12.05 and v.message == _REDUCE_ONLY + why)


@pytest.mark.parametrize("red_at, fills_at, ok", [(12.04, 12.02, True), (12.04, 12.045, False), (12.0, 12.03, False)])
def test_a_flip_before_the_mode_began_is_not_the_modes_though_the_sample_after_it_is_in_the_mode(red_at, fills_at, ok):
    """Bids never cancelled fill past the short between the last sample at Green (12.0) and the first in Red (12.05):
    before Red began (12.04) it was a flip at Green, which reduce-only mode has nothing to say about; after it, a
    stale order left resting into the mode."""
    from scenarios.invariants import ReduceOnlyNeverIncreases

    log = _bids_cancelled_at_red_fill_past_the_short(cancels_at=None, fills_at=fills_at)
    log.safety = [{"t": red_at, "from": 0, "to": 3, "reason": "error_burst"}]
    v = ReduceOnlyNeverIncreases(name="reduce_only_never_increases").check(log)
    assert (v is None) == ok
    assert ok or v.message.startswith(_REDUCE_ONLY + f": a fill of b3 at t={fills_at:.3f}")


def _kill_cancels_bids_fill_past_the_short(**kwargs) -> RunLog:
    """``_bids_cancelled_at_red_fill_past_the_short`` at a Kill (12.0 s): its first commands pull the three bids from
    before it, which one trade fills before the cancels land, taking the short of 0.00384 to a long of 0.00224 (no
    growth of |position|, a flip)."""
    return _bids_cancelled_at_red_fill_past_the_short(level=4, **kwargs)


def _never_grows(grace_s: float = 0.5, **kwargs):
    from scenarios.invariants import PositionNeverGrowsAfter

    return PositionNeverGrowsAfter(name="position_never_grows_after", grace_s=grace_s, **kwargs)


@pytest.mark.parametrize("kwargs", [{}, {"fills_at": 12.3}, {"cancel_all": True}])
def test_a_flip_after_a_kill_by_bids_whose_cancels_were_on_their_way_is_the_race_not_the_agents(kwargs):
    """Orders whose cancels left with the Kill's first commands may still fill before they land (at once, or behind a
    latency spike): position_never_grows_after failed that flip whatever made it, where reduce_only_never_increases
    excuses it (``_flip_not_excused``)."""
    assert _never_grows().check(_kill_cancels_bids_fill_past_the_short(**kwargs)) is None


_KILL_FLIP = "position flipped to 0.00224 after kill at t=12.00 (it was -0.00384)"


@pytest.mark.parametrize("kwargs, race_s, why", [
    ({"cancels_at": None}, 2.0, ": a fill of b3 at t=12.070, an order from before the mode whose cancel had not left "
                                "by then"),
    ({"cancels_at": 12.08}, 2.0, ": a fill of b3 at t=12.070, an order from before the mode whose cancel had not left "
                                 "by then"),
    ({"crossing": "x"}, 2.0, ": a fill of place B 0.00064@99893.0 RO Alo (x), sent in the mode at t=12.000"),
    ({"fills_at": 14.6}, 2.0, ": a fill of b3 at t=14.600, an order from before the mode whose cancel sent at "
                              "t=12.000 had left 2.600 s before it filled (race_s 2 s): no race"),
    ({"fills_at": 14.6}, 3.0, None),
])
def test_a_flip_after_a_kill_that_no_cancel_on_its_way_explains_still_is_a_violation(kwargs, race_s, why):
    """Bids never cancelled, cancelled after they filled, the Kill's own exit filling past the position, a fill
    longer after its cancel left than any race (race_s, as the other checks' allowance)."""
    log = _kill_cancels_bids_fill_past_the_short(**kwargs)
    v = _never_grows(race_s=race_s).check(log)
    assert (v is None) == (why is None)
    assert why is None or (v.t == float(log.t[log.sample_at(kwargs.get("fills_at", 12.07))])
                           and v.message == _KILL_FLIP + why)


@pytest.mark.parametrize("sz, says", [
    (0.001, "position grew from 0.00224 to 0.00324 after kill at t=12.00, on the other side of the -0.00384 held "
            "then: a fill of place B 0.001@99890.0 Alo (y), sent in the mode at t=12.900"),
    (0.003, "|position| grew to 0.00524 after kill at t=12.00 (it was 0.00384); max 0.00524: a fill of y at "
            "t=13.000"),
])
def test_growth_after_a_flip_the_race_excused_is_still_caught(sz, says):
    """The race flipped the short to a long of 0.00224; a bid the agent sent in the Kill then fills and grows the
    long: under |position| at the Kill (0.00384, the reference with no grace) it broke nothing once the flip was
    excused, unless the side the race left is held to the allowance too; past it, |position| grew."""
    from scenarios.runlog import VenueFill

    log = _kill_cancels_bids_fill_past_the_short()
    log.commands.append(SentCommand(12.9, PlaceOrder("y", Side.BUY, 99_890.0, sz), 1, 0.00224, 0.00224, 4, 5000,
                                    10000))
    log.fills.append(VenueFill(13.0, "y", 2, True, sz, 0.00224))
    log.samples["pos"] = np.where(log.t >= 13.0, 0.00224 + sz, log.samples["pos"])
    v = _never_grows(grace_s=0.0).check(log)
    assert v is not None and v.t == 13.0 and v.message == says


@pytest.mark.parametrize("kill_at, ok", [(12.02, False), (12.04, True)])
def test_a_flip_between_a_kill_and_the_first_sample_after_it_is_judged_from_the_position_before_it(kill_at, ok):
    """A Kill between two samples (12.0, 12.05): the side held at it was read at the sample after it, which a flip in
    between had already taken to the other side, and the flip went unjudged. Stale bids (never cancelled) filling at
    12.03 are the agent's after a Kill at 12.02; before one at 12.04 they were a flip before it."""
    log = _kill_cancels_bids_fill_past_the_short(cancels_at=None, fills_at=12.03)
    log.safety = [{"t": kill_at, "from": 0, "to": 4, "reason": "drawdown"}]
    v = _never_grows().check(log)
    assert (v is None) == ok
    assert ok or v.message == (f"position flipped to 0.00224 after kill at t={kill_at:.2f} (it was -0.00384): a fill "
                               f"of b3 at t=12.030, an order from before the mode whose cancel had not left by then")


@pytest.mark.parametrize("refused, beside, ok", [
    ("openOrders", False, False),  # its listing refused (HTTP 429) before the trade: it pulled nothing
    ("unnamed", False, False),  # a listing refused, of no command said (a log from before they were): read as its
    ("snapshot", False, True),  # a snapshot's listing refused between it and the trade: it says nothing of the pull
    ("cancel", False, False),  # its cancels of the orders it knew refused, named (as before)
    ("late", False, True),  # the refusal heard after the trade: the race's own
    ("openOrders", True, True),  # a cancel of each beside it, not refused: those were on their way
    (None, False, True),
])
def test_a_cancel_all_heard_refused_is_a_refused_cancel_of_every_order_it_covered(refused, beside, ok):
    """A CancelAll's listing (openOrders) refused names no order: the orders it covered (placed before it) were read
    as having a cancel on its way, and their fills past the position excused. A snapshot's listing refused is no
    CancelAll's (RateLimited.for_command says whose): read as one, it failed the race it was beside."""
    from agent.gateway.events import FOR_CANCEL_ALL, FOR_SNAPSHOT, RateLimited
    from scenarios.invariants import ReduceOnlyNeverIncreases

    log = _bids_cancelled_at_red_fill_past_the_short(cancel_all=True)
    if beside:
        log.commands += [SentCommand(12.0, CancelOrder(n), 1, -0.00384, -0.00384, 3, 5000, 10000)
                         for n in ("b1", "b2", "b3")]
    t = 12.2 if refused == "late" else 12.03
    if refused == "cancel":
        log.events.append((t, RateLimited(t, "address", "cancel", "Too many cumulative requests", ("b1", "b2", "b3"))))
    elif refused is not None:
        command = {"snapshot": FOR_SNAPSHOT, "unnamed": ""}.get(refused, FOR_CANCEL_ALL)
        log.events.append((t, RateLimited(t, "ip", "openOrders", "HTTP 429", for_command=command)))
    v = ReduceOnlyNeverIncreases(name="reduce_only_never_increases").check(log)
    assert (v is None) == ok
    assert ok or v.message == _REDUCE_ONLY + (": a fill of b3 at t=12.070, an order from before the mode whose "
                                              "cancel sent at t=12.000 had been refused before it filled")


def test_a_refused_listing_refuses_no_cancel_of_one_order():
    """An openOrders refusal (a snapshot's, or a CancelAll's listing) says nothing of a cancel of one order."""
    from agent.gateway.events import RateLimited
    from scenarios.invariants import ReduceOnlyNeverIncreases

    log = _bids_cancelled_at_red_fill_past_the_short()
    log.events.append((12.03, RateLimited(12.03, "ip", "openOrders", "HTTP 429")))
    assert ReduceOnlyNeverIncreases(name="reduce_only_never_increases").check(log) is None


@pytest.mark.parametrize("known, refused, ok", [
    (("b1", "b2", "b3"), "openOrders", True),  # it cancelled the three by name: its listing covered none of them
    (("b1", "b2"), "openOrders", False),  # b3 (the crossing fill's) was the listing's, which was refused
    (("b1", "b2", "b3"), "cancel", False),  # the cancel by name of b3 refused, named
    ((), "openOrders", False),  # it named none: the listing covered them all
])
def test_a_cancel_all_whose_listing_was_refused_still_cancelled_the_orders_it_named(known, refused, ok):
    """A CancelAll cancels the orders the core counts live by name at once (``known``) and lists the venue's
    (openOrders) for the rest: its listing refused, the orders it had named were read as refused too, and their fill
    past the position, racing those cancels, was failed."""
    from agent.gateway.events import FOR_CANCEL_ALL, RateLimited
    from scenarios.invariants import ReduceOnlyNeverIncreases

    log = _bids_cancelled_at_red_fill_past_the_short(cancel_all=True, known=known)
    if refused == "cancel":
        log.events.append((12.03, RateLimited(12.03, "address", "cancel", "Too many cumulative requests", ("b3",))))
    else:
        log.events.append((12.03, RateLimited(12.03, "ip", "openOrders", "HTTP 429", for_command=FOR_CANCEL_ALL)))
    v = ReduceOnlyNeverIncreases(name="reduce_only_never_increases").check(log)
    assert (v is None) == ok
    assert ok or v.message == _REDUCE_ONLY + (": a fill of b3 at t=12.070, an order from before the mode whose "
                                              "cancel sent at t=12.000 had been refused before it filled")


_NO_RACE = (": a fill of b3 at t=14.600, an order from before the mode whose cancel sent at t=12.000 had left 2.600 s "
            "before it filled (race_s 2 s): no race")


@pytest.mark.parametrize("venue, race_s, why", [
    (None, 2.0, _NO_RACE),  # a log without the venue's charges shows nothing lost: the bound
    (None, 3.0, None),  # within a longer race_s
    ("landed", 2.0, _NO_RACE),  # the cancels were charged at the venue: they landed, long before the fill
    ("answered", 2.0, _NO_RACE),  # refused for the IP limit (not charged), heard after the fill: answered, not lost
    ("lost", 2.0, None),  # nothing charged for them, nothing heard: lost in transport, and the agent never knew
    ("lost_snapshot_before", 2.0, None),  # a snapshot asked for before they left lists the bids as they were
    # one asked 0.2 s after they left lists the bids 2.2 s before the fill: but before their ack timeout (17.5 s) the
    # agent cannot tell a lost cancel from a slow one, and the core rightly waits for it (see the test below)
    ("lost_snapshot", 2.0, None),
    ("lost_snapshot_late", 2.0, None),  # it heard so 1.7 s before the fill: within race_s of it
])
def test_a_flip_in_reduce_only_mode_long_after_the_cancels_left_is_no_race_unless_they_were_lost(venue, race_s, why):
    """The bids' cancels left with Red's first commands (12.0 s) and one trade filled them 2.6 s later: the flip was
    excused however long after its cancels left (race_s was infinite there, 2 s in position_never_grows_after's), as a
    cancel lost in transport gives the agent no event. Lost is what the run log can show (the venue charged no pull
    sent then, nobody answered it); the fill is then excused until the agent heard the orders still rested."""
    from agent.gateway.events import AccountSnapshot, OpenOrder, RateLimited
    from scenarios.invariants import ReduceOnlyNeverIncreases
    from scenarios.runlog import QuotaCharge

    log = _bids_cancelled_at_red_fill_past_the_short(fills_at=14.6)
    if venue is not None:  # the exit bid (x) sent beside them landed
        log.quota_charges.append(QuotaCharge(12.03, 1, "OrderAction", 100, 10_000, 12.0))
    if venue == "landed":
        log.quota_charges.append(QuotaCharge(12.04, 3, "CancelByCloidAction", 103, 10_000, 12.0))
    elif venue == "answered":
        log.events.append((14.7, RateLimited(14.7, "ip", "cancel", "HTTP 429", ("b1", "b2", "b3"))))
    elif venue is not None and venue.startswith("lost_snapshot"):
        asked, heard = {"lost_snapshot": (12.2, 12.4), "lost_snapshot_late": (12.2, 12.9),
                        "lost_snapshot_before": (11.9, 12.4)}[venue]
        bids = tuple(OpenOrder(n, i, Side.BUY, 99_880.0 - i, 0.001, False) for i, n in enumerate(("b1", "b2", "b3")))
        log.events.append((heard, AccountSnapshot(heard + log.t0, -0.00384, 1e5, 1e4, 10.0, bids,
                                                  requested_ts=asked + log.t0)))
    v = ReduceOnlyNeverIncreases(name="reduce_only_never_increases", race_s=race_s).check(log)
    assert (v is None) == (why is None)
    assert why is None or (v.t == 14.6 and v.message == _REDUCE_ONLY + why)


@pytest.mark.parametrize("heard, fills_at, config, why", [
    # heard after the first tick past the cancels' ack timeout (12 + 5 + 0.5 s), 2.1 s before the fill
    (17.6, 19.7, {}, ": a fill of b3 at t=19.700, an order from before the mode whose cancel sent at t=12.000 was "
                     "lost in transport, and the agent heard the order still resting at t=17.600 (a snapshot), 2.100 s "
                     "before it filled (race_s 2 s)"),
    (17.6, 19.5, {}, None),  # within race_s of it
    (17.5, 19.7, {}, None),  # heard at that tick: the core may have read the listing before it found the cancels stale
    (12.4, 19.7, {}, None),  # heard only before the timeout (the core kept the bids pending their cancels), none since
    (12.4, 14.6, {}, None),
    # the timeout is the run's: 3 s and 0.25 s ticks
    (15.3, 17.4, {"ack_timeout_s": 3.0, "cycle_s": 0.25}, ": a fill of b3 at t=17.400, an order from before the mode "
                                                          "whose cancel sent at t=12.000 was lost in transport, and "
                                                          "the agent heard the order still resting at t=15.300 (a "
                                                          "snapshot), 2.100 s before it filled (race_s 2 s)"),
    (15.25, 17.4, {"ack_timeout_s": 3.0, "cycle_s": 0.25}, None),
    # a config whose quoting may hold the snapshots' IP gate shut (no bound on the wait): a listing heard still ends it
    (17.6, 19.7, {"quoting_leaves_snapshot_room": False}, ": a fill of b3 at t=19.700, an order from before the mode "
                                                          "whose cancel sent at t=12.000 was lost in transport, and "
                                                          "the agent heard the order still resting at t=17.600 (a "
                                                          "snapshot), 2.100 s before it filled (race_s 2 s)"),
    (17.6, 19.5, {"quoting_leaves_snapshot_room": False}, None),
])
def test_a_listing_of_an_order_whose_cancel_was_lost_ends_the_excuse_only_once_its_ack_timeout_has_passed(
        heard, fills_at, config, why):
    """A snapshot asked for after the cancel left that lists the order ended the excuse of a lost cancel race_s after
    it came, however soon after the cancel: one asked 0.2 s after it blamed a fill 2.2 s later. But the cancel may land
    until its expiresAfter, ack_timeout_s after it left, and the core (rightly) keeps the order pending its cancel
    until the tracker finds it stale at the first tick past that, pulling it again on a listing heard after it only:
    the listing ends the excuse from then on."""
    from agent.gateway.events import AccountSnapshot, OpenOrder
    from scenarios.invariants import ReduceOnlyNeverIncreases
    from scenarios.runlog import QuotaCharge

    log = _bids_cancelled_at_red_fill_past_the_short(fills_at=fills_at)
    log.quota_charges.append(QuotaCharge(12.03, 1, "OrderAction", 100, 10_000, 12.0))  # the exit bid landed
    for k, v in config.items():
        setattr(log, k, v)
    bids = tuple(OpenOrder(n, i, Side.BUY, 99_880.0 - i, 0.001, False) for i, n in enumerate(("b1", "b2", "b3")))
    log.events.append((heard, AccountSnapshot(heard + log.t0, -0.00384, 1e5, 1e4, 10.0, bids,
                                              requested_ts=heard - 0.1 + log.t0)))
    v = ReduceOnlyNeverIncreases(name="reduce_only_never_increases").check(log)
    assert (v is None) == (why is None), v
    assert why is None or (v.t == fills_at and v.message == _REDUCE_ONLY + why)


_LOST_PULL = (": a fill of b3 at t={t:.3f}, an order from before the mode whose cancel sent at t={last:.3f} was lost "
              "in transport, and the agent had not pulled the order again {dt:.3f} s after {what} at t={since:.3f}, "
              "when it filled (past {bound:g} s: ack_timeout_s {ack:g} + cycle_s {cycle:g} + a snapshot's retry "
              "{retry:g} + the IP weight's window 60 + cycle_s {cycle:g} + audit_interval_s {audit:g} + race_s 2 s)")


@pytest.mark.parametrize("fills_at, after, config, ok", [
    # 108 s after the lost pull (5 + 0.5 + 10 + 60 + 0.5 + 30 + 2 s): the core may yet be looking
    (120.0, (), {}, True),
    # 47.6 s after it: the bound as first written (no IP weight's minute) blamed a correct core whose weight was spent
    (59.6, (), {}, True),
    (120.1, (), {}, False),  # past it: the agent never resolved its lost pull (the old judge excused it for good)
    (180.0, (), {}, False),
    (180.0, (), {"audit_interval_s": 3600.0}, True),  # a config that audits hourly: its bound is its own
    (90.0, (), {"ack_timeout_s": 1.0, "cycle_s": 0.1, "snapshot_retry_s": 4.7, "audit_interval_s": 5.0}, False),
    (180.0, (("cancel", 100.0),), {}, True),  # pulled again at 100 s (lost too): its clock starts again there
    (180.0, (("cancel", 50.0),), {}, False),  # pulled again at 50 s, and 130 s later still not again
    # a snapshot asked for at 100 s, lost or refused (no answer in the log): the agent was doing its part
    (180.0, (("snapshot", 50.0), ("snapshot", 100.0)), {}, True),
    (180.0, (("snapshot", 50.0),), {}, False),  # and 130 s after its last, it had asked nothing more
    # a storm of 429s until 100 s (a snapshot's part refused): what it sends again can hold the IP gate past its minute
    (180.0, (("429", 60.0), ("429", 100.0)), {}, True),
    (180.0, (("429", 60.0),), {}, False),
    # a config whose quoting may hold the snapshots' IP gate shut (budget.ip_quote_frac 1.0: 1199 + 42 > 1080), no
    # 429 heard: a correct core's snapshots can wait as long as it quotes, and no bound is its to meet
    (180.0, (), {"quoting_leaves_snapshot_room": False}, True),
    (180.0, (("cancel", 50.0),), {"quoting_leaves_snapshot_room": False}, True),
])
def test_a_fill_long_after_a_lost_pull_that_the_agent_never_resolved_is_the_agents(fills_at, after, config, ok):
    """The bids' cancels (12.0 s) were lost in transport, and no snapshot ever listed the bids (the ones asked for
    lost as well, or none asked for): the fill was excused however late it came, so an agent that never resolved a
    lost pull passed. The core learns of the loss at its ack timeout, asks for a snapshot from the next tick on, waits
    for one out until it is overdue or refused until its backoff ends, and for the minute's IP weight to fall below the
    snapshots' share: past those, an audit interval's slack and race_s after the last pull of the order (or the
    agent's last snapshot request, or 429 heard, since: the venue losing or refusing those is not the agent's doing),
    the fill is the agent's. The bound is the run's config's, carried by the run log (a hand-made one has the
    defaults), and there is none where the config lets quoting alone hold the snapshots' IP gate shut (the excuse
    then lasts until the agent heard the order resting, as before the bound)."""
    from agent.gateway.events import FOR_SNAPSHOT, RateLimited, RequestAccountSnapshot
    from scenarios.invariants import ReduceOnlyNeverIncreases
    from scenarios.runlog import QuotaCharge

    log = _bids_cancelled_at_red_fill_past_the_short(fills_at=fills_at, t_end=200.0)
    log.quota_charges.append(QuotaCharge(12.03, 1, "OrderAction", 100, 10_000, 12.0))  # the exit bid landed
    for kind, t in after:
        if kind == "cancel":
            log.commands.append(SentCommand(t, CancelOrder("b3"), 1, -0.00384, -0.00384, 3, 5000, 10000))
        elif kind == "snapshot":
            log.commands.append(SentCommand(t, RequestAccountSnapshot(), 1, -0.00384, -0.00384, 3, 5000, 10000))
        else:
            log.events.append((t, RateLimited(t, "ip", "clearinghouseState", "HTTP 429", for_command=FOR_SNAPSHOT)))
    for k, v in config.items():
        setattr(log, k, v)
    v = ReduceOnlyNeverIncreases(name="reduce_only_never_increases").check(log)
    assert (v is None) == ok
    if not ok:
        last = max([12.0] + [t for kind, t in after if kind == "cancel"])
        since, what = max([(last, "it")] + [(t, {"snapshot": "a snapshot request", "429": "a 429"}[kind])
                                            for kind, t in after if kind != "cancel"])
        want = _LOST_PULL.format(t=fills_at, last=last, dt=fills_at - since, what=what, since=since,
                                 bound=_lost_bound(log), ack=log.ack_timeout_s, cycle=log.cycle_s,
                                 retry=log.snapshot_retry_s, audit=log.audit_interval_s)
        assert v.t == fills_at and v.message == _REDUCE_ONLY + want


def _lost_bound(log: RunLog) -> float:
    return log.ack_timeout_s + log.cycle_s + log.snapshot_retry_s + 60.0 + log.cycle_s + log.audit_interval_s + 2.0


def _stale_bid_grows_under_red(start: float = 0.0, fill_at: float = 20.02, cancel_at: float | None = None,
                               sz: float = 0.02, red_at: float = 10.0, fills: bool = True) -> RunLog:
    """Red at ``red_at`` (sampled from the next sample on), a position of ``start`` held through it; a plain bid "b"
    placed at Green (5 s) fills ``sz`` at ``fill_at`` (the venue's fill; none with ``fills`` False), growing
    |position|: from flat (a long opened in reduce-only mode) or on the long side held. ``cancel_at``: when its cancel
    left (at Red: one of the mode's first commands; None: never). Red's first command, at ``red_at``, pulls another
    order."""
    from scenarios.runlog import VenueFill

    log = _sampled(t_end=30.0, pos=lambda t: np.where(t < fill_at, start, start + sz),
                   safety=lambda t: np.where(t > red_at + 1e-9, 3, 0))  # (a sample at its instant: before it)
    log.safety = [{"t": red_at, "from": 0, "to": 3, "reason": "drawdown"}]
    log.commands.append(SentCommand(5.0, PlaceOrder("b", Side.BUY, 99_880.0, sz), 1, start, start, 0, 5000, 10000))
    log.commands.append(SentCommand(red_at, CancelOrder("q"), 1, start, start, 3, 5000, 10000))  # (Red's first)
    if cancel_at is not None:
        log.commands.append(SentCommand(cancel_at, CancelOrder("b"), 1, start, start, 3, 5000, 10000))
        log.commands.sort(key=lambda c: c.t)
    if fills:
        log.fills.append(VenueFill(fill_at, "b", 1, True, sz, start))
    return log


_STALE_B = "an order from before the mode whose cancel "


@pytest.mark.parametrize("kwargs, why", [
    ({}, f"|position| grew from 0 to 0.02 in reduce-only mode: a fill of b at t=20.020, {_STALE_B}had not left by "
         f"then"),
    ({"start": 0.01}, f"|position| grew from 0.01 to 0.03 in reduce-only mode: a fill of b at t=20.020, {_STALE_B}had "
                      f"not left by then"),
    ({"cancel_at": 10.0, "fill_at": 10.6}, None),  # pulled with Red's first command, filled before it landed: a race
    ({"start": 0.01, "cancel_at": 10.0, "fill_at": 10.6}, None),
    ({"cancel_at": 10.0}, f"|position| grew from 0 to 0.02 in reduce-only mode: a fill of b at t=20.020, {_STALE_B}"
                          f"sent at t=10.000 had left 10.020 s before it filled (race_s 2 s): no race"),
    ({"cancel_at": 15.0, "fill_at": 15.5}, f"|position| grew from 0 to 0.02 in reduce-only mode: a fill of b at "
                                           f"t=15.500, {_STALE_B}had not left by the agent's first command in the "
                                           f"mode (t=10.000)"),
    ({"red_at": 20.01}, f"|position| grew from 0 to 0.02 in reduce-only mode: a fill of b at t=20.020, {_STALE_B}had "
                        f"not left by then"),  # 10 ms into Red, before the first sample in it
    ({"red_at": 20.03}, None),  # before Red began (its first sample, 20.05, after the fill): at Green, not the mode's
    ({"fills": False}, "|position| grew from 0 to 0.02 in reduce-only mode, and no venue fill in the log made it"),
])
def test_reduce_only_mode_judges_every_growth_of_position_by_the_fill_that_made_it(kwargs, why):
    """A stale plain bid from before Red, left resting, opens a long from flat or grows the long held, in the mode:
    the invariant judged only changes of sign, and said nothing (long, flat, short was judged; flat, long was not).
    Each fill that grows |position| is now excused only as a flip's fills are."""
    from scenarios.invariants import ReduceOnlyNeverIncreases

    v = ReduceOnlyNeverIncreases(name="reduce_only_never_increases").check(_stale_bid_grows_under_red(**kwargs))
    assert (v is None) == (why is None), v
    assert why is None or (v.message == why and v.t == (20.05 if kwargs.get("fills") is False
                                                         else kwargs.get("fill_at", 20.02)))


def test_growth_inside_one_sample_interval_and_after_the_mode_ended():
    """A long grown and sold back between two samples (the samples never show it) is growth in the mode all the same;
    a fill after the mode ended (the transition down, between two samples) is none of its."""
    from scenarios.invariants import ReduceOnlyNeverIncreases
    from scenarios.runlog import VenueFill

    inv = ReduceOnlyNeverIncreases(name="reduce_only_never_increases")
    log = _stale_bid_grows_under_red(start=0.01)
    log.samples["pos"] = np.full(len(log.t), 0.01)  # sampled 0.01 throughout: the exit sold the growth back at once
    log.commands.append(SentCommand(20.021, PlaceOrder("x", Side.SELL, 99_890.0, 0.02, Tif.IOC, True), 1, 0.03, 0.01,
                                    3, 5000, 10000))
    log.fills.append(VenueFill(20.022, "x", 2, False, 0.02, 0.03))
    v = inv.check(log)
    assert v is not None and v.t == 20.02 and v.message.startswith("|position| grew from 0.01 to 0.03")
    # Red left at 20.01, between the samples at 20.0 (in it) and 20.05 (not): the fill at 20.02 came at Yellow
    log.samples["safety"] = np.where((log.t >= 10.05 - 1e-9) & (log.t < 20.05 - 1e-9), 3, 0)
    log.safety.append({"t": 20.01, "from": 3, "to": 1, "reason": "recovered"})
    assert inv.check(log) is None
    log.safety[-1]["t"] = 20.03  # it left after the fill: the mode's
    assert inv.check(log) is not None


@pytest.mark.parametrize("cancel_at, grace_s, says", [
    (None, 0.5, "position flipped to -0.01 after kill at t=30.00 (it was 0.02): a fill of a at t=30.150, an order from "
                "before the mode whose cancel had not left by then"),
    (30.0, 0.5, None),  # its cancel left with the Kill's first command: the race
    (None, 0.0, "|position| grew to 0.01 after kill at t=30.00 (it was 0); max 0.01: a fill of a at t=30.150"),
])
def test_a_flip_through_a_flat_sample_at_a_kill_is_judged_within_the_grace(cancel_at, grace_s, says):
    """Long 0.02, an exit filled just before the Kill (flat at its sample, 30.0), then a stale ask from before it fills
    0.01 in the grace: the reference (the sample at 30.5) was the short that fill made, and a flat position at the
    trigger had no side to cross, so nothing judged it. The side is now the long held before the flat sample. With no
    grace the reference is the flat sample itself and |position| past it is the first check's (it needs no flip)."""
    from scenarios.runlog import VenueFill

    log = _sampled(pos=lambda t: np.where(t < 29.9, 0.02, np.where(t < 30.15, 0.0, -0.01)))
    log.safety = [{"t": 30.0, "from": 3, "to": 4, "reason": "drawdown"}]
    log.commands.append(SentCommand(5.0, PlaceOrder("a", Side.SELL, 100_100.0, 0.01), 1, 0.0, 0.0, 0, 5000, 10000))
    log.commands.append(SentCommand(29.8, PlaceOrder("e", Side.SELL, 99_990.0, 0.02, Tif.IOC, True), 1, 0.02, 0.02, 3,
                                    5000, 10000))
    if cancel_at is not None:
        log.commands.append(SentCommand(cancel_at, CancelOrder("a"), 1, 0.0, 0.0, 4, 5000, 10000))
    log.fills += [VenueFill(29.85, "e", 1, False, 0.02, 0.02), VenueFill(30.15, "a", 2, False, 0.01, 0.0)]
    v = _never_grows(grace_s=grace_s).check(log)
    assert (v is None) == (says is None)
    assert says is None or (v.t == 30.15 and v.message == says)


def _kill_and_fills(kill_at: float, orders: tuple[tuple[str, float, bool, float, float], ...], start: float = 0.02,
                    fills: bool = True) -> RunLog:
    """A long of ``start`` and a Kill at ``kill_at`` (samples every 50 ms); ``orders``: (name, placed at, buy, size,
    filled at) of each order that fills whole at the venue (placed after the Kill: at Kill). The samples are what the
    fills make; ``fills`` False leaves the venue's fills out of the log (a hand-made one)."""
    from scenarios.runlog import VenueFill

    log = _sampled(pos=lambda t: start + sum(np.where(t >= at - 1e-9, sz if buy else -sz, 0.0)
                                             for _, _, buy, sz, at in orders))
    log.safety = [{"t": kill_at, "from": 3, "to": 4, "reason": "drawdown"}]
    pos = start
    for name, placed, buy, sz, at in sorted(orders, key=lambda o: o[4]):
        log.commands.append(SentCommand(placed, PlaceOrder(name, Side.BUY if buy else Side.SELL, 100.0, sz), 1, pos,
                                        pos, 4 if placed >= kill_at else 3, 5000, 10000))
        if fills:
            log.fills.append(VenueFill(at, name, 1, buy, sz, pos))
        pos += sz if buy else -sz
    log.commands.sort(key=lambda c: c.t)
    return log


@pytest.mark.parametrize("kill_at, grace_s, orders, says", [
    # a stale bid fills between a Kill (30.02) and the next sample (30.05): that sample was the reference
    (30.02, 0.0, (("b", 5.0, True, 0.01, 30.03),),
     "|position| grew to 0.03 after kill at t=30.02 (it was 0.02); max 0.03: a fill of b at t=30.030"),
    # the same between the grace's end (30.52) and the sample after it
    (30.0, 0.52, (("b", 5.0, True, 0.01, 30.53),),
     "|position| grew to 0.03 after kill at t=30.00 (it was 0.02); max 0.03: a fill of b at t=30.530"),
    # a bid the agent sent after the Kill, filled in the grace: it was not on its way at the Kill
    (30.0, 0.5, (("y", 30.1, True, 0.01, 30.3),),
     "|position| grew to 0.03 after kill at t=30.00 (it was 0.02), in its grace of 0.5 s: a fill of place B 0.01@100.0 "
     "Alo (y) at t=30.300, sent after it at t=30.100"),
    (30.02, 0.5, (("b", 5.0, True, 0.01, 30.03),), None),  # a stale bid in the grace: what it is for
    (30.02, 0.0, (("b", 5.0, True, 0.01, 30.01),), None),  # filled before the Kill, after the sample before it
    # an exit in the grace, then a stale bid after it grows the long back: judged from the grace's end, as it was
    (30.0, 0.5, (("a", 5.0, False, 0.01, 30.2), ("b", 5.0, True, 0.01, 31.0)),
     "|position| grew to 0.02 after kill at t=30.00 (it was 0.01); max 0.02: a fill of b at t=31.000"),
    # a bid the agent sent with the Kill's cycle (at its level), filled in the Kill's own ms (an order entry under a
    # ms): made after the Kill beyond doubt, it was read as made by then, folded into the position held at the Kill,
    # and went unjudged (with no grace as with one)
    (30.0, 0.5, (("y", 30.0, True, 0.01, 30.0),),
     "|position| grew to 0.03 after kill at t=30.00 (it was 0.02), in its grace of 0.5 s: a fill of place B 0.01@100.0 "
     "Alo (y) at t=30.000, sent after it at t=30.000"),
    (30.0, 0.0, (("y", 30.0, True, 0.01, 30.0),),
     "|position| grew to 0.03 after kill at t=30.00 (it was 0.02), in its grace of 0 s: a fill of place B 0.01@100.0 "
     "Alo (y) at t=30.000, sent after it at t=30.000"),
    # and a stale bid filled after it in that ms, raising the reference in the grace, excuses nothing of it
    (30.0, 0.5, (("y", 30.0, True, 0.01, 30.0), ("b", 5.0, True, 0.01, 30.0)),
     "|position| grew to 0.03 after kill at t=30.00 (it was 0.02), in its grace of 0.5 s: a fill of place B 0.01@100.0 "
     "Alo (y) at t=30.000, sent after it at t=30.000"),
    # a stale bid in the Kill's ms may have come before it (the benefit of that doubt the agent's), with no grace too
    (30.0, 0.0, (("b", 5.0, True, 0.01, 30.0),), None),
    # but not one the venue made after a fill in that ms of an order the agent sent at the Kill (its sell): with no
    # grace it was judged as the same bid a ms later is (it went unjudged, in the reference)
    (30.0, 0.0, (("y", 30.0, False, 0.005, 30.0), ("b", 5.0, True, 0.01, 30.0)),
     "|position| grew to 0.025 after kill at t=30.00 (it was 0.02): a fill of b at t=30.000, after one in its ms of an "
     "order sent after it (y)"),
    (30.0, 0.0, (("y", 30.0, False, 0.005, 30.0), ("b", 5.0, True, 0.01, 30.001)),
     "|position| grew to 0.025 after kill at t=30.00 (it was 0.015); max 0.025: a fill of b at t=30.001"),
    (30.0, 0.5, (("y", 30.0, False, 0.005, 30.0), ("b", 5.0, True, 0.01, 30.0)), None),  # in a grace: what it is for
    # of two the agent sent at the Kill and the venue filled in its ms, the first grew the long: judged from before it
    (30.0, 0.5, (("y", 30.0, True, 0.01, 30.0), ("z", 30.0, False, 0.01, 30.0)),
     "|position| grew to 0.03 after kill at t=30.00 (it was 0.02), in its grace of 0.5 s: a fill of place B 0.01@100.0 "
     "Alo (y) at t=30.000, sent after it at t=30.000"),
    # a Kill inside a ms (its venue time floored to 30.000): the bid sent with it and filled in that ms is judged
    (30.0004, 0.0, (("y", 30.0004, True, 0.01, 30.0),),
     "|position| grew to 0.03 after kill at t=30.00 (it was 0.02), in its grace of 0 s: a fill of place B 0.01@100.0 "
     "Alo (y) at t=30.000, sent after it at t=30.000"),
    (30.0, 0.5, (("b", 5.0, True, 0.01, 30.5),), None),  # and one in the grace end's ms, in the grace
    # a bid sent after the Kill and filled in the grace end's ms is judged in the grace (read as after it, the
    # reference at the grace's end was of its own making)
    (30.0, 0.5, (("y", 30.2, True, 0.01, 30.5),),
     "|position| grew to 0.03 after kill at t=30.00 (it was 0.02), in its grace of 0.5 s: a fill of place B 0.01@100.0 "
     "Alo (y) at t=30.500, sent after it at t=30.200"),
])
def test_position_never_grows_after_judges_from_the_position_held_at_the_trigger(kill_at, grace_s, orders, says):
    """The reference was |position| at the first sample at or after the trigger plus grace_s: a fill between the
    trigger (or the grace's end) and that sample set the reference itself, and growth there went unjudged. It is now
    the position held at the trigger (the sample before it and the venue's fills since), raised in the grace only by
    fills of orders on their way at the trigger, and after the grace the position held at its end."""
    v = _never_grows(grace_s=grace_s).check(_kill_and_fills(kill_at, orders))
    assert (v is None) == (says is None), v
    assert says is None or (v.message == says and v.t == orders[-1][4])


def test_position_never_grows_after_without_the_fills_reads_the_sample_before_the_trigger():
    """A hand-made log without the venue's fills: with no grace, the last sample at or before the trigger (the sample
    after it had the growth in it); with a grace, the first sample at or after its end (the samples cannot say whose
    fill made a change inside it)."""
    log = _kill_and_fills(30.02, (("b", 5.0, True, 0.01, 30.03),), fills=False)
    v = _never_grows(grace_s=0.0).check(log)
    assert v is not None and v.t == 30.05 and v.message.startswith("|position| grew to 0.03 after kill at t=30.02 "
                                                                     "(it was 0.02)")
    assert _never_grows(grace_s=0.5).check(log) is None


@pytest.mark.parametrize("cancel_at, says", [
    (None, "position flipped to 0.01 after kill at t=30.02 (it was -0.01): a fill of b at t=30.030, an order from "
           "before the mode whose cancel had not left by then"),
    (30.02, None),  # its cancel left with the Kill's first command: the race
])
def test_a_flip_back_after_a_flip_between_the_last_sample_and_the_trigger_is_judged(cancel_at, says):
    """Long 0.02 at the sample before a Kill (30.0); a stale ask flips it to a short of 0.01 at 30.01, before the Kill
    (30.02); a stale bid takes it back to a long of 0.01 at 30.03, before the next sample. The side held at the Kill
    was read from the sample (long), which the sample after it (long) did not cross, and |position| never grew past
    the 0.01 short: the flip after the Kill went unjudged."""
    log = _kill_and_fills(30.02, (("a", 5.0, False, 0.03, 30.01), ("b", 5.0, True, 0.02, 30.03)))
    if cancel_at is not None:
        log.commands.append(SentCommand(cancel_at, CancelOrder("b"), 1, -0.01, -0.01, 4, 5000, 10000))
    v = _never_grows(grace_s=0.0).check(log)
    assert (v is None) == (says is None), v
    assert says is None or (v.t == 30.05 and v.message == says)


@pytest.mark.parametrize("kill_at, orders, says", [
    # long 0.02 at 29.95; a stale ask to short 0.01 (29.97), a stale bid to flat (29.98), the sample at 30.0 flat: the
    # side held at the Kill is short, which a stale bid after it (30.03) crosses; read from the last sample (flat) on,
    # the side was the long of 29.95's, and the flip went unjudged
    (30.02, (("a", 5.0, False, 0.03, 29.97), ("c", 5.0, True, 0.01, 29.98), ("b", 5.0, True, 0.01, 30.03)),
     "position flipped to 0.01 after kill at t=30.02 (it was -0.01): a fill of b at t=30.030, an order from before "
     "the mode whose cancel had not left by then"),
    # a stale ask filled in the Kill's own ms (30.020, the Kill at 30.0205): it may have come after the Kill, and its
    # flip is judged as the flip checks judge one made in the mode (it was taken as the side held, and went unjudged)
    (30.0205, (("a", 5.0, False, 0.03, 30.02),),
     "position flipped to -0.01 after kill at t=30.02 (it was 0.02): a fill of a at t=30.020, an order from before "
     "the mode whose cancel had not left by then"),
])
def test_the_side_held_at_the_trigger_is_read_from_the_last_non_zero_sample_and_before_the_triggers_ms(
        kill_at, orders, says):
    """The side a flip is judged from: the last non-zero sample moved by the fills after it (not only those after the
    last sample before the trigger, which may be flat) and before the trigger's ms (a review of stop 51's judge)."""
    v = _never_grows(grace_s=0.5).check(_kill_and_fills(kill_at, orders))
    assert v is not None and v.message == says, v


@pytest.mark.parametrize("cancel_at, says", [
    (None, "position flipped from -0.01 to 0.01 in reduce-only mode: a fill of b at t=30.030, an order from before the "
           "mode whose cancel had not left by then"),
    (30.02, None),  # its cancel left with Red's first command: the race
])
def test_a_flip_back_in_reduce_only_mode_after_a_flip_just_before_it_is_judged(cancel_at, says):
    """The same at Red (30.02, its first sample 30.05): the stretch of the mode flipped from the sample before it
    (long), and the flip back in it, before its first sample, left the long side where it was: unjudged."""
    from scenarios.invariants import ReduceOnlyNeverIncreases

    log = _kill_and_fills(30.02, (("a", 5.0, False, 0.03, 30.01), ("b", 5.0, True, 0.02, 30.03)))
    log.commands = [c._replace(safety_level=0) for c in log.commands]  # (placed at Green)
    log.safety = [{"t": 30.02, "from": 0, "to": 3, "reason": "error_burst"}]
    log.samples["safety"] = np.where(log.t >= 30.05 - 1e-9, 3.0, 0.0)
    if cancel_at is not None:
        log.commands.append(SentCommand(cancel_at, CancelOrder("b"), 1, -0.01, -0.01, 3, 5000, 10000))
    v = ReduceOnlyNeverIncreases(name="reduce_only_never_increases").check(log)
    assert (v is None) == (says is None), v
    assert says is None or (v.t == 30.05 and v.message == says)
