"""The venue's slow lane past the address cap: what the core sends there, and what it holds for it.

The venue lets an address send requests up to its cap; past it cancels still pass, up to the cancels' limit
min(cap + 100000, 2 x cap), and anything else passes only in the slow lane, one request every 10 s timed from the last
that passed (any that passed: within the budget or in the lane); past the cancels' limit, cancels too
(hyperliquid.md §5, twin/faults/quota.py). Each twin session here puts the address past its cap at 40 s, its six
quotes resting far from the touch (nothing fills: what rests stays until pulled).
"""
from __future__ import annotations

from agent.execution.budget import BudgetConfig, RequestBudget
from agent.gateway.events import (AFTER_CYCLE, Batch, CancelAll, CancelOrder, QuotaStatus, ScheduleCancel, Timer)
from agent.safety import SafetyLevel
from twin.params import TwinParams

from test_core import _full_ladder_resting, _in_the_lane, _spied_session, quoting


def _session(overrides: dict | None = None):
    """A twin session (seed 2) at Full whose quotes rest 200 ticks from the centre, the dead-man's heartbeat off,
    the venue's cap not grown by volume and its switch allowed whatever the volume: (ex, gw, core, driver, records)."""
    from twin.faults.quota import QuotaParams
    from twin.params import VenueParams
    cfg = quoting({"risk": {"dead_man_heartbeat_s": None},
                   "graduation": {"start_level": "FULL", "demote_on_low_confidence": False},
                   "quoting": {"min_half_spread_ticks": 200.0}, **(overrides or {})})
    params = TwinParams(venue=VenueParams(schedule_cancel_min_volume_usd=0.0), quota=QuotaParams(usd_per_request=1e9))
    ex, gw, core, driver, _, records = _spied_session(cfg, 2, params)
    return ex, gw, core, driver, records


def _past_the_cap(ex, gw, used: int) -> list:
    """The address put at ``used`` of its 10,000 cap (its traded volume 0), and every action the twin is sent from
    now recorded as [ts, action's type name, refused] in the list returned (refused: answered with an ActionErr)."""
    from twin.messages import ActionErr
    from twin.seeding import set_quota_remaining, set_traded_volume
    acts: list = []
    submit = ex.submit

    def spied(user, action, on_reply, *a, **kw):
        k = len(acts)
        acts.append([ex.env.now, type(action).__name__, False])

        def replied(reply) -> None:
            acts[k][2] = isinstance(reply, ActionErr)
            on_reply(reply)
        return submit(user, action, replied, *a, **kw)
    ex.submit = spied
    set_traded_volume(ex, gw.user, "BTC", 0.0)
    set_quota_remaining(ex, gw.user, 10_000 - used)
    return acts


def red_with_exits(seed: int) -> tuple:
    """A twin session (``seed``) started 0.01 BTC long at Full, the address put at 7,500 used of its 10,000 cap at
    30 s (Red: the exchange's health, 25% of the cap left; within the cap, so its reduce-only exits are placed), run
    to 45 s: (ex, gw, core, records, acts, the position, the orders resting then)."""
    from twin.faults.quota import QuotaParams
    from twin.params import VenueParams
    cfg = quoting({"risk": {"dead_man_heartbeat_s": None},
                   "graduation": {"start_level": "FULL", "demote_on_low_confidence": False}})
    params = TwinParams(venue=VenueParams(schedule_cancel_min_volume_usd=0.0),
                        quota=QuotaParams(usd_per_request=1e9))
    ex, gw, core, driver, _, records = _spied_session(cfg, seed, params, position=0.01)
    ex.env.run(until=30.0)
    acts = _past_the_cap(ex, gw, 7_500)
    ex.env.run(until=45.0)
    return ex, gw, core, records, acts, ex.accounts[gw.user].position("BTC").szi, ex.open_orders(gw.user)


def drifted_exit_cycle(used: int, cancel_only: bool = False, ro_ask: bool = False) -> list:
    """One reconcile, without a session, of a short position (-0.01) whose reduce-only bid (0x...0, at 99,000) and
    ask (0x...1 at 101,000; reduce-only with ``ro_ask``) both drifted out of their bands (wanted at 99,500 and
    101,500), the address budget at ``used`` of a 10,000 cap: its commands, batches opened."""
    from agent.execution.orders import CloidFactory, OrderTracker
    from agent.execution.reconcile import DesiredQuote, ReconcileConfig, reconcile
    from agent.gateway.events import OrderAcknowledged, PlaceOrder, Side
    t = OrderTracker()
    t.position = -0.01  # short: the exits are reduce-only bids
    for i, (side, px, ro) in enumerate(((Side.BUY, 99_000.0, True), (Side.SELL, 101_000.0, ro_ask))):
        t.on_command(PlaceOrder(f"0x{i:032x}", side, px, 0.005, reduce_only=ro), 0.0)
        t.on_event(OrderAcknowledged(0.1, f"0x{i:032x}", i + 1, True))
    b = RequestBudget(BudgetConfig())
    b.on_quota(QuotaStatus(0.2, used, 10_000, 0.0))
    desired = [DesiredQuote(Side.BUY, 99_500.0, 0.005, 0, True), DesiredQuote(Side.SELL, 101_500.0, 0.005, 0)]
    out = reconcile(desired, t, tick=1.0, lot=0.00001, max_position=1.0, budget=b, cloids=CloidFactory(1),
                    cfg=ReconcileConfig(), cancel_only=cancel_only)
    return [c for x in out for c in (x.commands if isinstance(x, Batch) else (x,))]


def _cancels(acts) -> list:
    return [(ts, refused) for ts, kind, refused in acts if kind in ("CancelAction", "CancelByCloidAction")]


def test_past_the_cancels_limit_red_pulls_what_it_forbids_in_the_slow_lane_whatever_max_stretch():
    """Past the cancels' limit (25,000 used of a 10,000 cap, the limit 20,000) reconcile sends no cancel (its cancel
    headroom is none) and places nothing; the orders Red forbids were pulled between requotes alone
    (_pull_forbidden), in the slow lane. With budget.max_stretch 1 every tick is a requote, and nothing pulled them:
    the six orders Red forbids (all of them: none is reduce-only) rested to 70 s and could fill, no cancel sent.
    Now they go in the lane on a requote's tick too; one the lane refused, at the next tick its refusal is in (it took
    no lane: ``RequestBudget.note_refused``)."""
    ex, gw, core, driver, records = _session({"budget": {"max_stretch": 1.0}})
    ex.env.run(until=40.0)
    assert len(ex.open_orders(gw.user)) == 6 and core.safety.level is SafetyLevel.GREEN
    acts = _past_the_cap(ex, gw, 25_000)
    ex.env.run(until=70.0)
    assert core.safety.level is SafetyLevel.RED and core.budget.cancel_headroom < 0
    assert core.budget.requote_interval_s(core.cfg.session.cycle_s) == core.cfg.session.cycle_s  # (each tick)
    assert not ex.open_orders(gw.user) and not core.tracker.live_set  # (before: all six resting)
    passed = _in_the_lane(_cancels(acts))
    assert passed[-1] < 40.0 + 2 * core.budget.cfg.slow_lane_s + core.cfg.session.quota_poll_s


def test_past_the_cancels_limit_the_slow_lane_is_timed_from_every_request_that_passed():
    """The venue times its lane from the last request that passed, whatever it was; the core timed it from its own
    pulls only. Past the cancels' limit a request that passed (the quote cycle's last before the quota report, a
    Kill's arm of the switch, a gateway's own) held the lane for 10 s, and the pull sent in that time was refused:
    Red's first pull, 0.5 s after the venue's count went past the limit, refused; after a scheduleCancel the lane let
    through at 1 s, the budget gave a pull all six cancels 4 s later. Now the lane is timed from every address request
    sent (RequestBudget.lane_open) that the venue has not refused: the pull waits, and passes."""
    from agent.gateway.events import IpWeightSpent
    b = RequestBudget(BudgetConfig())
    b.on_quota(QuotaStatus(0.5, 25_000, 10_000, 0.0))
    b.note_request(1.0, 1, 1)  # a request of one item through the slow lane (a re-arm of the switch)
    assert b.pull_room(5.0, 6) == 0  # (before: 6, which the venue refuses)
    assert b.pull_room(11.0, 6) == 6
    assert b.pull_room(12.0, 6) == 0  # (the lane taken by that pull)
    # a gateway's own request (a cancel-all's listed cancels) told to the core takes the lane as well
    core, _ = _full_ladder_resting(quoting({"graduation": {"start_level": "FULL", "ceiling": "FULL"}}))
    core.handle(QuotaStatus(0.7, 25_000, 10_000, 0.0))
    core.handle(IpWeightSpent(20.0, 1, "listed cancels", 3))
    assert core.budget.pull_room(25.0, 6) == 0 and core.budget.pull_room(30.0, 6) == 6
    # on the twin: Red's pulls past the limit, none refused
    ex, gw, core, driver, records = _session()
    ex.env.run(until=40.0)
    assert len(ex.open_orders(gw.user)) == 6
    acts = _past_the_cap(ex, gw, 25_000)
    ex.env.run(until=70.0)
    assert core.safety.level is SafetyLevel.RED and not ex.open_orders(gw.user)
    # (before: 40.5 s refused, the lane held by the quote cycle's request that passed at 39.5 s; 50.5 s passed; timed
    # from the requests sent, refused or not, 50.0 s, the cycle's refused at 40.0 s. Now 10 s after the one that passed,
    # refused if that one landed later than the pull, and then sent again at the next tick)
    assert _in_the_lane(_cancels(acts))[0] <= 50.0
    refused = [a[0] for a in acts if a[2]]
    assert refused[:1] == [40.0] and len(refused) <= 2  # (the cycle's one at 40.0 s, sent before the core knew)


def test_the_slow_lane_with_the_exits_margin_is_bounded_to_the_minute_the_budget_keeps():
    """The budget times the slow lane from the requests it keeps, the last minute's (``lane_open``,
    ``last_request_ts``): a ``slow_lane_s`` (or with ``exit_lane_margin_s``) longer than that found no request once it
    was a minute old, and let go what the lane would refuse (the venue's is 10 s). The config refuses it now; a lane of
    the minute whole still sees the request that took it. (Before: 120 s accepted, the lane open 70 s after.)"""
    import pytest
    from pydantic import ValidationError
    for kw in ({"slow_lane_s": 120.0}, {"slow_lane_s": 55.0, "exit_lane_margin_s": 6.0}, {"exit_lane_margin_s": 61.0}):
        with pytest.raises(ValidationError):
            BudgetConfig(**kw)
    with pytest.raises(ValidationError, match=r"slow_lane_s 55 \+ exit_lane_margin_s 6 must be at most 60 s"):
        BudgetConfig(slow_lane_s=55.0, exit_lane_margin_s=6.0)  # (the error names both values)
    b = RequestBudget(BudgetConfig(slow_lane_s=59.0, exit_lane_margin_s=1.0))
    b.on_quota(QuotaStatus(0.5, 25_000, 10_000, 0.0))
    b.note_request(1.0, 1, 1)
    assert b.last_request_ts(59.5) == 1.0 and not b.lane_open(59.5, 1.0) and not b.lane_open(59.5)
    assert b.lane_open(60.0) and b.lane_open(61.0, 1.0)


def test_a_kills_arm_within_the_cap_before_its_pulls_goes_whatever_an_earlier_request_of_ours():
    """``RequestBudget.may_arm`` checks the cap on the count before this tick's items and the cancels' limit with them.
    Within the cap before this tick's pulls (9,998 used of 10,000, six cancels ahead), an arm landing before the pulls
    passes within the cap whatever the lane, and one landing behind them is refused whatever an earlier tick sent (the
    pulls have just taken the lane): a request of ours 3 s before does not hold it, as holding it would lose the arm
    that lands first. At the cap by the count before them, the same request holds it (it took the lane); past the
    cancels' limit with them, the lane alone decides, the pull's this tick."""
    b = RequestBudget(BudgetConfig())
    b.on_quota(QuotaStatus(0.5, 9_998, 10_000, 0.0))
    b.note_request(5.0, 1, 1)
    assert b.may_arm(8.0, 6)
    b.note_request(8.0, 1, 2)  # (10,000 used: at the cap)
    assert not b.may_arm(11.0, 6) and b.may_arm(18.0, 6)
    b.on_quota(QuotaStatus(20.0, 109_998, 10_000, 0.0))  # (the cancels' limit 20,000: past it)
    b.pull_sent(20.0, 6)
    assert not b.may_arm(20.0, 6) and not b.may_arm(29.9) and b.may_arm(30.0)


def test_a_request_the_venue_refused_takes_no_slow_lane():
    """The venue's refusals for the address budget do not restart its slow lane's 10 s, nor use any of the budget
    (hyperliquid.md §5, measured; twin/faults/quota.py); the core counted each as a request that took the lane, and
    held its next request 10 s from it. Now a refusal in, the command it refused takes none (``RequestBudget.
    note_refused``): not a batch's with another action still to be answered, nor one the refusal does not name."""
    from agent.gateway.events import ModifyOrder, PlaceOrder, RateLimited, Side
    text = "Too many cumulative requests sent"
    b = RequestBudget(BudgetConfig())
    b.on_quota(QuotaStatus(0.5, 25_000, 10_000, 0.0))
    b.note_request(1.0, 1, 1, cmd=CancelOrder("0xa"))  # passed
    place = PlaceOrder("0xb", Side.SELL, 100_000.0, 0.001, reduce_only=True)
    b.note_request(5.0, 1, 1, cmd=place)
    assert not b.lane_open(11.0) and b.last_request_ts(11.0) == 5.0  # (its answer not in: counted)
    b.note_refused(RateLimited(5.1, "address", "order", text, ("0xb",)))
    assert b.lane_open(11.0) and b.last_request_ts(11.0) == 1.0  # (before: shut to 15.0 s)
    assert b.used == 25_002  # (its items until the next report: the venue's count decides)
    b.on_quota(QuotaStatus(5.3, 25_001, 10_000, 0.0, requested_ts=4.5))
    assert b.used == 25_001  # (not added to the report as unseen: the venue never counted it)
    # a batch of a cancel and a modify goes out as two actions: one refused, the other may have passed
    batch = Batch((CancelOrder("0xc"), ModifyOrder("0xd", "0xe", 100_001.0, 0.001)))
    b.note_request(12.0, 2, 2, cmd=batch)
    b.note_refused(RateLimited(12.1, "address", "cancel", text, ("0xc",)))
    assert not b.lane_open(21.5)
    b.note_refused(RateLimited(12.2, "address", "batchModify", text, ("0xd",), ("0xe",)))
    assert b.lane_open(21.5) and b.last_request_ts(21.5) == 1.0
    # an arm of the switch refused; a refusal naming no command of the core's (a listed order's cancel) changes nothing
    arm = ScheduleCancel(40.0)
    b.note_request(30.0, 1, 1, cmd=arm)
    b.note_refused(RateLimited(30.1, "address", "cancel", text, ("oid:7",)))
    assert b.last_request_ts(31.0) == 30.0
    b.note_refused(RateLimited(30.2, "address", "scheduleCancel", text, at_ts=40.0))
    assert b.last_request_ts(31.0) == 1.0
    # the lane a pull let go of this tick (pull_room) is that pull's: refused, it took none either
    pull = CancelOrder("0xf")
    assert b.pull_room(31.0, 1) == 1 and not b.lane_open(31.5)
    b.note_request(31.0, 1, 1, cmd=pull)
    b.note_refused(RateLimited(31.2, "address", "cancel", text, ("0xf",)))
    assert b.lane_open(31.5)


def test_a_refused_cancel_of_the_gateways_own_told_by_name_takes_no_slow_lane():
    """A cancel-all naming its known orders has the gateway cancel what the venue lists after them, its own actions,
    told to the core as it sends them (``IpWeightSpent``, ``weights.LISTED_CANCELS``). The core counted each as a
    request that took the venue's slow lane, refused or not (its refusal named no command of the core's): the next
    lane request waited 10 s from a cancel the venue had refused, whose refusal does not restart its lane
    (hyperliquid.md §5). Told with the orders it names (``IpWeightSpent.cloids``, as its RateLimited names them), it
    is matched as a command is: refused, it takes no lane. One told without its orders (the live shutdown's own) still
    counts: it cannot be told from one that passed (late, never early). Fails at 06169538 (no ``cloids``; the lane
    shut to 40 s)."""
    from agent.execution.weights import LISTED_CANCELS
    from agent.gateway.events import IpWeightSpent, RateLimited
    text = "Too many cumulative requests sent"
    core, _ = _long_core_past_the_cap(25_000)
    b = core.budget
    b.note_request(20.0, 1, 1, cmd=CancelOrder("0xa"))  # a pull of ours that passed
    core.handle(IpWeightSpent(30.0, 1, LISTED_CANCELS, 2, ("oid:7", "0xb")))
    assert not b.lane_open(31.0) and b.last_request_ts(31.0) == 30.0  # (its answer not in: counted)
    core.handle(RateLimited(30.1, "address", "cancel", text, ("oid:7", "0xb")))
    assert b.lane_open(31.0) and b.last_request_ts(31.0) == 20.0  # (before: shut to 40.0 s)
    # told without its orders (the live shutdown's cancel-all): its refusal names nothing the core can match
    core.handle(IpWeightSpent(32.0, 1, "cancelAll", 1))
    core.handle(RateLimited(32.1, "address", "cancel", text, ("oid:9",)))
    assert not b.lane_open(41.0) and b.last_request_ts(41.0) == 32.0
    # a refusal of another cancel naming one of its orders is not its: a listed one is matched by its action's first
    core.handle(IpWeightSpent(50.0, 1, LISTED_CANCELS, 1, ("0xc",)))
    core.handle(RateLimited(50.1, "address", "cancel", text, ("0xd", "0xc")))
    assert b.last_request_ts(51.0) == 50.0


def test_past_the_cancels_limit_a_kills_arm_of_the_switch_waits_for_the_slow_lane():
    """A Kill pulls every order and arms the venue's dead-man's switch, and with each pull again (every 2 s while
    orders are counted live) re-arms it. Past the cancels' limit the pulls themselves pass only in the slow lane, one
    request every 10 s, and an arm let through takes it: fed events with no answers (the pulls not yet confirmed),
    25,000 used of a 10,000 cap, the core armed with each of its three pulls. Now those arms are held, counted
    (dead_man_arms_held) and said once (a dead_man_held record). Between the cap and the limit the pulls need no
    lane, and an arm goes (the venue takes one when its lane is open: the feb09_kill_switch runs, at the cap by the
    core's count, had their switch armed with each Kill, which holding them there took away), but not within a lane
    period of a request of ours of an earlier tick: that one took the venue's lane as it passed. Within the cap they
    go as before."""
    ex, gw, core, driver, records = _session({"safety": {"stale_kill_s": 1.0}})
    ex.env.run(until=40.0)
    assert len(ex.open_orders(gw.user)) == 6
    acts = _past_the_cap(ex, gw, 15_000)
    gw.conn.unsubscribe("l2Book", "BTC")  # the book goes stale: Kill
    ex.env.run(until=70.0)
    assert core.stopped and core.safety.level is SafetyLevel.KILL and 0 < core.budget.cancel_headroom
    assert not ex.open_orders(gw.user) and not core.tracker.live_set
    arms = [(ts, refused) for ts, kind, refused in acts if kind == "ScheduleCancelAction"]
    # between the cap and the limit, the Red pull that passed at 40.5 s answered by the Kill at 41.0 s: no order of ours
    # is left, and the Kill arms nothing (at 06169538 held behind that pull and never sent, dead_man_arms_held 1; once
    # sent with the Kill, refused; at 4a190624, sent as the lane opened, and fired on nothing)
    assert arms == [] and core.dead_man_arms_held == 0 and not ex.schedule_cancel_fired.get(gw.user)
    def kill(used: int) -> tuple[list, int, list]:
        sent, pulls, core = _kill_unanswered(used)
        assert all(not alone for _, alone in sent[1:])  # (behind a pull, in the tick, but the first)
        return [ts for ts, _ in sent], core.dead_man_arms_held, pulls

    # (before: an arm with each of the lane's three pulls. One held for each pull sent, not at the ticks between, where
    # every order's cancel is out, unanswered, and no pull goes (OrderTracker.pullable): b1cabb5c made those empty pulls
    # that tried the re-arm, and counted 7 held, 4 of them with no pull; _pull_again returns there now, as it does for
    # a pull the lane holds)
    assert kill(25_000) == ([], 3, [1.5, 11.5, 21.5])
    # between the cap and the limit: each arm 2 s behind a pull of ours that passed there (the Red pull at 1.0 s, then
    # the Kill's), which took the venue's lane: held (before: 11 sent, each bound to be refused where the pull before
    # it passed), and sent alone as the lane opens, the pulls again waiting for it (the next test). Held with each pull
    # sent: the Kill's, 14.5 s's, and 20.0 s's as 14.5 s's cancels time out (5 s, risk.ack_timeout_s; before b1cabb5c
    # pulls at 16.5 and 18.5 s named them again with theirs out, 5 held; at b1cabb5c those ticks tried the arm unpulled)
    sent, held, pulls = kill(15_000)
    assert sent == [12.5] and held == 3 and pulls == [1.0, 1.5, 14.5, 20.0]
    # within the cap the arms go with each pull again: the Kill's, and one as each pull's cancels time out (7.0, 12.5,
    # 18.0 s); before b1cabb5c 11, every 2 s, with pulls naming orders whose cancels were out; at b1cabb5c 11 still, 6
    # of them with no pull at all (a re-arm every 2 s, and at 5.5, 9.5, 13.5, ... a cancel-all naming none, whose
    # listing cancelled again the orders whose cancels were out)
    sent, held, _ = kill(5_000)
    assert sent == [1.5, 7.0, 12.5, 18.0] and held == 0


def _kill_unanswered(used: int, overrides: dict | None = None, ack: bool = False) -> tuple[list, list, object]:
    """A core fed events: its ladder resting, the venue's count ``used`` of a 10,000 cap, the book stale from 0.1 s
    (Kill at 1.5 s), no answer to any pull to 22 s (each arm acknowledged 0.1 s on with ``ack``; ``overrides``: more
    of the config): ([(the tick of each arm sent, whether it went alone)], the ticks of the pulls, the core)."""
    from agent.gateway.events import ScheduleCancelAcknowledged
    core, placed = _full_ladder_resting(quoting({"safety": {"stale_kill_s": 1.0},
                                                 "graduation": {"start_level": "FULL", "ceiling": "FULL"},
                                                 **(overrides or {})}))
    assert len(placed) == 6
    if ack and core._dead_man_armed_until > 0:  # (the heartbeat's, sent with the ladder)
        core.handle(ScheduleCancelAcknowledged(0.6, core._dead_man_armed_until))
    core.handle(QuotaStatus(0.7, used, 10_000, 0.0))
    sent, pulls = [], []
    for i in range(2, 45):
        ts = i * 0.5
        out = core.handle(Timer(ts))
        core.handle(Timer(ts, AFTER_CYCLE))
        cmds = [c for b in out for c in (b.commands if isinstance(b, Batch) else (b,))]
        for c in cmds:
            if isinstance(c, ScheduleCancel) and c.at_ts is not None:
                sent.append((ts, len(cmds) == 1))
                if ack:
                    core.handle(ScheduleCancelAcknowledged(ts + 0.1, c.at_ts))
        if any(isinstance(c, (CancelOrder, CancelAll)) for c in cmds):
            pulls.append(ts)
    assert core.stopped and core.tracker.live_set  # (nothing answered: the orders still counted live)
    return sent, pulls, core


def test_between_the_cap_and_the_limit_a_kills_arm_goes_before_its_pulls_again_while_no_switch_stands():
    """Between the cap and the cancels' limit the pulls pass without the venue's slow lane, but each that passes times
    the lane anew (the venue's lane runs from every request that passed), and a scheduleCancel, not a cancel to the
    venue, passes only in it. A Kill's arm held behind a request of ours (``_kill_arm``) waited for the orders to be
    gone, and while their pulls went unanswered, pulled again every 2 s, it never went: fed events, 15,000 used of the
    10,000 cap, no pull answered, the Kill at 1.5 s, a pull every 2 s to the end and no arm, the switch off throughout.
    Now, while no switch stands, the arm comes first: no pull again while the lane opens, the arm alone as it does (11
    s after the Kill's pull: ``exit_lane_margin_s`` past the lane's 10 s), and the pulls again 2 s after it (not in its
    tick: a pull landing first took the lane from it). A switch armed before the Kill and standing (the heartbeat's,
    acknowledged, its time to come) fires at its time whatever the pulls do: they go on every 2 s, as before."""
    sent, pulls, core = _kill_unanswered(15_000, ack=True)
    assert sent == [(12.5, True)]  # (before: [])
    # (before: every 2 s from 1.5 s: 3.5, 5.5, ...). 14.5 s: 2 s after the arm, the orders' cancels timed out since
    # 6.5 s; then 20.0 s, as 14.5 s's time out in turn (risk.ack_timeout_s, 5 s): none named again with its cancel out
    # (OrderTracker.pullable). Before b1cabb5c 16.5 and 18.5 s named them so; at b1cabb5c 16.5 s sent a cancel-all
    # naming none, whose listing would cancel them again, and 18.5 s nothing, yet it put the next pull off to 20.5 s
    assert pulls == [1.0, 1.5, 14.5, 20.0]
    assert core.dead_man_state == "armed"  # (its time, 22.5 s, to come; before: off)
    # the heartbeat's switch, armed at 0.5 s for 30 s, acknowledged: it stands, and the pulls go on
    sent, pulls, core = _kill_unanswered(15_000, {"risk": {"dead_man_min_volume_usd": 0.0}}, ack=True)
    # (and the pulls again as each pull's cancels time out, 5.5 s apart, none naming an order with its cancel out:
    # before b1cabb5c every 2 s, [1.0] + [1.5 + 2 * k for k in range(11)], each naming the six again)
    assert sent == [] and pulls == [1.0, 1.5, 6.5, 12.0, 17.5] and core.dead_man_state == "armed"


def test_a_stopped_core_past_the_cancels_limit_sends_no_arm_and_no_pull_the_lane_would_refuse():
    """Stopped by a Kill past the cancels' limit (25,000 used of a 10,000 cap): the Kill's own pull goes at once,
    whatever the budget (it must), and its arm is held, the lane being the pull's. Before, the arm went with it: with
    the lane open the two raced for its one request (the arm won when it landed first, and the next pull, timed from
    the Kill's, was refused). Every later request goes a lane period after the last sent, and passes; the arm held
    is not sent once the pulls are done: no order of ours is left for the switch to cancel, and a stopped core sends no
    re-arm, so it would fire on nothing, one of the venue's ten triggers a day (at 4a190624 it went in the lane as it
    opened, and fired)."""
    ex, gw, core, driver, records = _session({"safety": {"stale_kill_s": 1.0}})
    ex.env.run(until=40.0)
    acts = _past_the_cap(ex, gw, 25_000)
    gw.conn.unsubscribe("l2Book", "BTC")
    ex.env.run(until=80.0)
    assert core.stopped and not ex.open_orders(gw.user) and not core.tracker.live_set
    arms = [a for a in acts if a[1] == "ScheduleCancelAction"]
    pulls = [a for a in acts if a[1] == "CancelByCloidAction"]
    # (held from the Kill, the lane the pull's, and never sent: the pulls left no order; at 4a190624 it went once they
    # were done, in the lane as it opened, and the switch fired on nothing)
    assert arms == [] and pulls and core.dead_man_arms_held >= 1 and not ex.schedule_cancel_fired.get(gw.user)
    kill_ts = next(r["ts"] for r in records if isinstance(r, dict) and r.get("type") == "postmortem")
    later = [a for a in acts if a[0] > kill_ts + 1.0]  # after the Kill's own pull (and its listed leg, once)
    assert later and not [a for a in later if a[2]]  # each let through
    assert all(b[0] - a[0] >= 10.0 for a, b in zip(later, later[1:]))


def test_the_summary_counts_the_kills_arms_held_past_the_cap():
    """A Kill's arms of the switch held past the cap (``AgentCore.dead_man_arms_held``, each a scheduleCancel not
    sent: the venue's slow lane would have refused it) were counted by the core and said in no summary: a run that
    left its orders to no switch read as one whose switch was never wanted. summary.json has them now, the twin
    session's and the live run's alike (``agent.report.trading_summary``, which both build on)."""
    from agent.session import summarise
    ex, gw, core, driver, records = _session({"safety": {"stale_kill_s": 1.0}})
    ex.env.run(until=40.0)
    _past_the_cap(ex, gw, 25_000)
    gw.conn.unsubscribe("l2Book", "BTC")  # the book goes stale: Kill
    ex.env.run(until=60.0)
    assert core.stopped and core.dead_man_arms_held >= 1
    summary = summarise(ex, gw, core, driver, 60.0, 1.0, 2)
    assert summary["dead_man_arms_held"] == core.dead_man_arms_held  # (before: no such key)
    held = [r for r in records if isinstance(r, dict) and r.get("type") == "dead_man_held"]
    assert len(held) == 1 and held[0]["request"] == "arm" and "slow lane" in held[0]["why"]  # said once a hold


def test_past_the_cap_a_drifted_exit_whose_replacement_cannot_be_sent_is_left_resting():
    """Between the cap and the cancels' limit reconcile may cancel but neither place nor modify (the venue takes those
    only in its slow lane). At Red, a reduce-only exit that drifted out of its band as the mid moved was cancelled and
    not replaced: the position was left with no exit, and the exits' fills are what earn requests back. On the twin
    (seed 2, the account short 0.01008 BTC at Red with three reduce-only bids resting, the address put at 15,000 used
    of a 10,000 cap at 45 s): before, at the first requote after the quota report (60.5 s) the exits were cancelled (one
    cancel action, passed) and the position stayed at -0.00508 to the end, no exit resting. Now they rest
    (no cancel sent) and fill: -0.00058 by 64 s (what is left was placed by nothing past the cap; now it is, in the
    slow lane: test_past_the_cap_the_position_its_exits_leave_gets_an_exit_in_the_slow_lane)."""
    from twin.seeding import set_quota_remaining
    ex, gw, core, records, acts, pos, exits = red_with_exits(2)
    assert core.safety.level is SafetyLevel.RED and pos < 0 and exits and all(o.reduce_only for o in exits)
    set_quota_remaining(ex, gw.user, 10_000 - 15_000)  # between the cap and the cancels' limit (20,000)
    n = len(acts)
    ex.env.run(until=55.0)
    assert core.budget.cap < core.budget.used < core.budget.cap * 2  # (the quota report told the core)
    # the exits drifted: the core moved them, by modifies the venue refused (sent before the report told it)
    assert [a for a in acts[n:] if a[1] == "ModifyAction" and a[2]]
    ex.env.run(until=61.0)  # (a requote every 10 s there: the budget's stretch)
    assert [o for o in ex.open_orders(gw.user) if o.reduce_only]  # (before: none, pulled at 60.5 s)
    ex.env.run(until=120.0)
    assert not _cancels(acts[n:])  # (before: one, passed, the three exits)
    assert abs(ex.accounts[gw.user].position("BTC").szi) < 0.001 < abs(pos)  # (before: -0.00508, no exit resting)


def test_past_the_cap_reconcile_leaves_a_drifted_exit_resting_and_cancels_a_drifted_quote():
    """Where no place nor modify can go (the address budget past its cap, or in the cancels' reserve), an exit that
    drifted out of its band is left resting (before: cancelled, no replacement sent); a quote not reduce-only that
    drifted is cancelled as before: without it the account holds less risk. Within the cap both are modified."""
    from agent.gateway.events import ModifyOrder

    for used in (15_000, 9_800):  # between the cap and the cancels' limit; in the cancels' reserve (5%)
        assert drifted_exit_cycle(used) == [CancelOrder("0x" + "0" * 31 + "1")]  # (before: the exit's cancel too)
    within = drifted_exit_cycle(5_000)
    assert [type(c) for c in within] == [ModifyOrder, ModifyOrder]


def test_past_the_cancels_limit_a_kills_cancel_all_sends_no_listing_behind_its_refused_cancels():
    """A cancel-all is two requests: the known orders' cancels, then (once they are answered, some 0.25 s on) the
    venue's listing and a cancel of what it lists. Past the cancels' limit the first is refused when the lane is shut,
    and the second, a round trip later, was refused too: two refusals at once for every Kill or stop there. Now the
    listing waits when a known cancel was refused for the address budget (agent.gateway.base.KnownCancels); what is
    left goes with the core's pulls again, in the lane. On the twin (25,000 used of a 10,000 cap, the book stale: Kill
    at 41.0 s): refusals in the Kill's second 2 -> 1, and the orders pulled at 49.5 s (51.5 s before: the lane was
    timed from the listed leg, refused at 41.25 s; 51.0 s while it was timed from the Kill's own pull, refused, and
    49.5 s since a refused request takes no lane: 10 s after the quote cycle's last that passed, at 39.5 s)."""
    ex, gw, core, driver, records = _session({"safety": {"stale_kill_s": 1.0}})
    ex.env.run(until=40.0)
    acts = _past_the_cap(ex, gw, 25_000)
    listings = []
    request_info = ex.request_info

    def spied(kind, *a, **kw):
        listings.append((ex.env.now, kind))
        return request_info(kind, *a, **kw)
    ex.request_info = spied
    gw.conn.unsubscribe("l2Book", "BTC")
    ex.env.run(until=80.0)
    assert core.stopped and not ex.open_orders(gw.user) and not core.tracker.live_set
    kill_ts = next(r["ts"] for r in records if isinstance(r, dict) and r.get("type") == "postmortem")
    at_kill = [a for a in acts if kill_ts <= a[0] < kill_ts + 1.0]
    assert [a[2] for a in at_kill] == [True]  # the Kill's own pull (before: and the listed leg, at 41.25 s)
    assert not [t for t, kind in listings if kind == "openOrders" and kill_ts <= t < kill_ts + 1.0]
    assert not [a for a in acts if a[0] >= kill_ts + 1.0 and a[2]]  # the pulls again, in the lane, each passed
    assert [round(ts, 2) for ts, refused in _cancels(acts) if not refused] == [49.5]  # (before: 51.5, 51.0)


def test_past_the_cancels_limit_the_live_gateways_cancel_all_sends_no_listing_behind_its_refused_cancels():
    """As the twin's gateway, the live one against ``twin serve``: two orders resting, the address put past the
    cancels' limit, a cancel-all of both sent within the lane's 10 s: the known cancels refused for the address
    budget, and nothing more sent (before: the listing, and its cancel of the two, refused too: 2 refusals)."""
    import asyncio
    from agent.gateway.events import CancelAcknowledged, OrderAcknowledged, PlaceOrder, RateLimited, Side
    from twin.seeding import set_quota_remaining
    from test_live_gateway import ADDR, cloid, served, settled, started, until
    with served(speed=1.0) as (bg, ex, clock):
        async def scenario():
            async with started(bg, clock, quota_poll_s=0) as (gw, events):
                ours = (cloid(71), cloid(72))
                px = float(round(await gw.mid_px() * 0.9))
                gw.send(Batch(tuple(PlaceOrder(c, Side.BUY, px - k, 0.001) for k, c in enumerate(ours))))
                assert await until(lambda: sum(type(e) is OrderAcknowledged for e in events) == 2)
                cap = bg.call(lambda: ex.quotas[ADDR].cap)
                bg.call(lambda: set_quota_remaining(ex, ADDR, -cap - 5_000))  # 2 x cap + 5,000 used
                sent, n = gw.stats["requests"], len(events)
                gw.send(CancelAll(ours))
                assert await until(lambda: any(type(e) is RateLimited for e in events[n:]))
                await settled(gw)
                return events[n:], gw.stats["requests"] - sent, gw.stats["rate_limited_address"]

        events, requests, refused = asyncio.run(scenario())
        assert len(bg.call(lambda: ex.open_orders(ADDR))) == 2  # (left to the core's pulls again, in the lane)
    assert requests == 1 and refused == 1  # (before: 2 and 2, the listed leg refused as well)
    assert not [e for e in events if type(e) is CancelAcknowledged]


def test_the_live_consoles_dead_man_row_says_the_kills_arms_held_past_the_cap():
    """summary.json counted a Kill's arms held past the cancels' limit (``dead_man_arms_held``) and the live console's
    dead-man switch row said nothing of them: a run whose Kill left what rested to its pulls alone read there as one
    whose switch stood as asked. The row says how many now, and nothing when none was held."""
    from agent.live_cli import dead_man_row
    ex, gw, core, driver, records = _session({"safety": {"stale_kill_s": 1.0}})
    ex.env.run(until=40.0)
    _past_the_cap(ex, gw, 25_000)
    gw.conn.unsubscribe("l2Book", "BTC")  # the book goes stale: Kill
    ex.env.run(until=60.0)
    held = core.dead_man_arms_held
    assert core.stopped and held >= 1

    def row(n):
        return dead_man_row({"dead_man_switch": core.dead_man_state, "dead_man_switch_why": core.dead_man_why,
                             "dead_man_switch_refused": core.dead_man_refusal, "dead_man_arms_held": n})
    assert row(held).endswith(f"; {held} arm{'s' if held != 1 else ''} held for the venue's slow lane past the "
                              f"address cap (a Kill's: sent only once the lane opened, what rested left to the pulls "
                              f"until then)")  # (before: nothing of them)
    assert "held for" not in row(0) and row(0) == row(None)
    assert row(12_625).endswith("; 12,625 arms held for the venue's slow lane past the address cap (a Kill's: sent "
                                "only once the lane opened, what rested left to the pulls until then)")


def _lane_cycle(position: float, live: tuple, desired: list, lane: bool = True, exposures=None,
                refused: tuple = ()) -> list:
    """Reconcile past the cap (15,000 used of a 10,000 cap: no place nor modify within the budget), the tracker at
    ``position`` with ``live`` orders acknowledged ((side, px, sz, reduce_only) each), and a reduce-only order
    refused on each side of ``refused`` as increasing the position (OrderTracker.ro_refused): the commands."""
    from agent.execution.orders import CloidFactory, OrderTracker
    from agent.execution.reconcile import ReconcileConfig, reconcile
    from agent.gateway.events import OrderAcknowledged, PlaceOrder
    t = OrderTracker()
    t.position = position
    for i, (side, px, sz, ro) in enumerate(live):
        t.on_command(PlaceOrder(f"0x{i:032x}", side, px, sz, reduce_only=ro), 0.0)
        t.on_event(OrderAcknowledged(0.1, f"0x{i:032x}", i + 1, True))
    for side in refused:
        t.ro_refused[side] = 0.15
    b = RequestBudget(BudgetConfig())
    b.on_quota(QuotaStatus(0.2, 15_000, 10_000, 0.0))
    out = reconcile(desired, t, tick=1.0, lot=0.00001, max_position=0.02, budget=b, cloids=CloidFactory(1),
                    cfg=ReconcileConfig(), min_notional=10.0, lane=lane, exposures=exposures)
    return out


def test_past_the_cap_reconcile_sends_the_exits_in_the_slow_lanes_one_request():
    """Past the cap no place nor modify went, whatever the lane (rule 2 holds a drifted exit, and nothing replaced
    an exit that had filled). With the lane open for the cycle (``lane``: no pull takes it), the exits go in its one
    request: the reduce-only quotes the position has room for, placed in one batch; none to place, the exits left
    resting moved to the quotes in one modify batch; a cancel in the cycle takes the lane, and the exits wait."""
    from agent.execution.reconcile import DesiredQuote
    from agent.gateway.events import ModifyOrder, PlaceOrder, Side
    from agent.gateway.events import Tif
    exit_ = (Side.BUY, 99_000.0, 0.004, True)  # a short's exit, drifted 500 below the quote
    quotes = [DesiredQuote(Side.BUY, 99_500.0, 0.005, 0, True), DesiredQuote(Side.BUY, 99_400.0, 0.005, 1, True)]
    # the exit out covers 0.004 of the 0.01 short: the 0.006 left gets the two quotes' exits, one batch (one request)
    out = _lane_cycle(-0.01, (exit_,), quotes)
    assert len(out) == 1 and isinstance(out[0], Batch)  # (before: nothing, the lane unused)
    assert [(c.px, c.sz, c.reduce_only, c.tif) for c in out[0].commands] == [(99_500.0, 0.005, True, Tif.ALO),
                                                                               (99_400.0, 0.001, True, Tif.ALO)]
    assert all(isinstance(c, PlaceOrder) for c in out[0].commands)
    assert _lane_cycle(-0.01, (exit_,), quotes, lane=False) == []  # the lane shut (or a pull's): the exit held
    # the worst case: bids being cancelled counted (0.026 of bids that could fill, the exit's 0.004 with them): 0.004
    # of room under the 0.02 limit
    out = _lane_cycle(-0.01, (exit_,), quotes, exposures=(0.026, 0.0))
    assert [(c.px, c.sz) for c in (out[0].commands if isinstance(out[0], Batch) else out)] == [(99_500.0, 0.004)]
    # the exits cover the short: nothing to place, the drifted one moved to the quote nearest the touch, one modify
    out = _lane_cycle(-0.004, (exit_,), quotes)
    assert out == [ModifyOrder("0x" + "0" * 32, out[0].new_cloid, 99_500.0, 0.004, Tif.ALO, True, Side.BUY)]
    assert _lane_cycle(-0.004, (exit_,), quotes, lane=False) == []
    # a quote not reduce-only drifted (a Red pull missed): its cancel goes, and takes the lane; the exits wait
    ask = (Side.SELL, 101_000.0, 0.005, False)
    assert _lane_cycle(-0.01, (exit_, ask), quotes) == [CancelOrder("0x" + "0" * 31 + "1")]


def test_past_the_cap_no_exit_is_moved_in_the_slow_lane_on_a_side_the_venue_refused_one():
    """Rule 4: no reduce-only order goes on a side where the venue refused one as increasing the position, until a
    snapshot says the position (OrderTracker.ro_refused): the position it would reduce is not the venue's. Within the
    cap reconcile neither places nor moves one there (the drifted exit is cancelled, its modify cut to nothing). In
    the slow lane past the cap the places kept the rule, but the modify batch moved a drifted exit there all the same
    (its own remaining taken for its room): an order the venue would refuse, in the one request the lane lets through
    in 10 s, which a pull or the other side's exit then waited for."""
    from agent.execution.reconcile import DesiredQuote
    from agent.gateway.events import ModifyOrder, Side
    exit_ = (Side.BUY, 99_000.0, 0.004, True)  # a short's exit, drifted 500 below the quote
    quotes = [DesiredQuote(Side.BUY, 99_500.0, 0.005, 0, True)]
    assert [type(c) for c in _lane_cycle(-0.004, (exit_,), quotes)] == [ModifyOrder]  # (not refused: moved)
    assert _lane_cycle(-0.004, (exit_,), quotes, refused=(Side.BUY,)) == []  # (before: the ModifyOrder all the same)
    assert _lane_cycle(-0.01, (exit_,), quotes, refused=(Side.BUY,)) == []  # (nor placed: as before)
    # the other side's refusal leaves this side's exit to move
    assert [type(c) for c in _lane_cycle(-0.004, (exit_,), quotes, refused=(Side.SELL,))] == [ModifyOrder]


def _no_exit_s(ex, gw, until: float, step: float = 0.05) -> float:
    """The twin session run on to ``until`` in steps of ``step`` s: the seconds its position was held with no
    reduce-only order resting at the venue on the side that closes it."""
    bare, t = 0.0, ex.env.now
    while t < until - 1e-9:
        t = min(t + step, until)
        ex.env.run(until=t)
        pos = ex.accounts[gw.user].position("BTC").szi
        if pos and not [o for o in ex.open_orders(gw.user) if o.reduce_only and (o.side == "B") == (pos < 0)]:
            bare += step
    return bare


def test_past_the_cap_the_position_its_exits_leave_gets_an_exit_in_the_slow_lane():
    """Past the cap the exits rested (test above) and filled, and what they left had no exit until the budget
    freed: on the twin, seed 2 at 15,000 used of the 10,000 cap, the three exits (0.0095 of the 0.01008 short) filled
    by 63.2 s and -0.00058 rested with no exit to the end, 240 s (176.9 s, the lane open all of it); seed 3 at 25,000
    (past the cancels' limit), 0.00014 long with no exit from 49.8 s to the end (190.3 s, the lane open 186.5 of
    them). Now the quote cycle's exits take the lane when it opens and no pull takes it (``budget.exit_lane_margin_s``
    past its 10 s): one place, passed, 11 s after the last request that passed, and the position is flat.

    Seed 3's exits, sent within the cap by the core's count until the quota report at 51.6 s, were all refused at
    the venue (45.5 s to 51.5 s), and its position rested with no exit from 49.75 s to the place at 62.5 s, 12.9 s:
    the lane timed from the last of those refused (51.5 s + 11 s), which took none at the venue, and no requote as it
    opened (none past the cap yet to find it shut: the next due at 61.5 s found it shut). Now a refused request takes
    no lane (``RequestBudget.note_refused``) and, told of the cap between requotes, the exits go as the lane opens
    (``AgentCore._lane_due``): at 54.5 s, 11 s after the last that passed, 4.8 s with no exit. (A refused one alone
    counted as none: 61.5 s; the requote alone: 62.5 s.)"""
    from twin.seeding import set_quota_remaining
    for seed, used, lane_ts, left, no_exit in ((2, 15_000, 55.5, 0.00058, 0.0), (3, 25_000, 54.5, 0.00014, 5.0)):
        ex, gw, core, records, acts, pos, exits = red_with_exits(seed)
        set_quota_remaining(ex, gw.user, 10_000 - used)
        n = len(acts)
        assert _no_exit_s(ex, gw, 90.0) <= no_exit, seed  # (seed 3 before: 12.9 s)
        assert core.budget.used > core.budget.cap and core.safety.level is SafetyLevel.RED
        told = [a for a in acts[n:] if a[0] > 52.0]  # (the quota report has told the core by then)
        assert [(round(ts, 2), kind, refused) for ts, kind, refused in told] == [(lane_ts, "OrderAction", False)]
        sent = [r["commands"] for r in records if isinstance(r, dict) and r.get("type") == "cycle"
                and r["ts"] == lane_ts]
        side = "B" if pos < 0 else "A"
        assert len(sent) == 1 and len(sent[0]) == 1  # one request: a place, reduce-only, of what the exits left
        assert sent[0][0].startswith("place ") and f" {side} {left}@" in sent[0][0] and sent[0][0].endswith(" RO")
        assert ex.accounts[gw.user].position("BTC").szi == 0.0  # (before: -0.00058, 0.00014, no exit resting)


def _long_core_past_the_cap(used: int, overrides: dict | None = None) -> tuple:
    """Fed events: a core 0.01 BTC long at Full, its ladder placed at 0.5 s and resting (none reduce-only), the
    venue's count put at ``used`` of a 10,000 cap at 0.7 s (Red): (core, the ladder's places). ``overrides``: more of
    the config."""
    import numpy as np
    from agent.core import AgentCore
    from agent.gateway.events import AccountSnapshot, BookUpdated, OrderAcknowledged, PlaceOrder
    core = AgentCore(quoting({"graduation": {"start_level": "FULL", "ceiling": "FULL"}, **(overrides or {})}),
                     np.random.default_rng(0), tick=1.0, sz_decimals=5)
    core.handle(BookUpdated(0.1, "BTC", ((100_000.0, 1.0),), ((100_001.0, 1.0),)))
    core.handle(AccountSnapshot(0.2, 0.01, 100_000.0, 1e5, 0.0, ()))
    out = core.handle(Timer(0.5))
    core.handle(Timer(0.5, AFTER_CYCLE))
    placed = [c for b in out for c in (b.commands if isinstance(b, Batch) else (b,)) if isinstance(c, PlaceOrder)]
    assert placed and not any(p.reduce_only for p in placed)
    for i, p in enumerate(placed):
        core.handle(OrderAcknowledged(0.6, p.cloid, 100 + i, True))
    core.handle(QuotaStatus(0.7, used, 10_000, 0.0))
    return core, placed


def _ticks(core, until: float, drift: float = 0.0, at: dict | None = None) -> tuple[dict, list]:
    """The core's ticks every 0.5 s from 1.0 s to ``until``, the book moving ``drift`` a tick, each cancel and place
    answered 0.1 s on, ``at``'s events (ts -> event) handled before the tick: ({ts: the address commands sent},
    [the ticks that were requotes])."""
    from agent.gateway.events import (BookUpdated, CancelAcknowledged, OrderAcknowledged, PlaceOrder,
                                      RequestAccountSnapshot)
    sent, requotes = {}, []
    for i in range(2, int(until * 2) + 1):
        ts = i * 0.5
        if at and ts in at:
            core.handle(at[ts])
        px = 100_000.0 + drift * i
        core.handle(BookUpdated(ts - 0.05, "BTC", ((px, 1.0),), ((px + 1.0, 1.0),)))
        cycle = core.cycle
        cmds = [c for b in core.handle(Timer(ts)) for c in (b.commands if isinstance(b, Batch) else (b,))
                if not isinstance(c, RequestAccountSnapshot)]  # (the audit's: no address request)
        core.handle(Timer(ts, AFTER_CYCLE))
        if cmds:
            sent[ts] = cmds
        if core.cycle != cycle:
            requotes.append(ts)
        for c in cmds:
            if isinstance(c, CancelOrder):
                core.handle(CancelAcknowledged(ts + 0.1, c.cloid))
            elif isinstance(c, PlaceOrder):
                core.handle(OrderAcknowledged(ts + 0.1, c.cloid, 200 + i, True))
    return sent, requotes


def test_past_the_cancels_limit_the_pull_takes_the_slow_lane_before_the_exits():
    """Past the cancels' limit (25,000 used of the 10,000 cap) the lane opens 10 s after the ladder's places: the pull
    of what Red forbids takes it (at the requote, 10.5 s), and the exits wait for the next opening, 11 s after the
    pull (``exit_lane_margin_s``): a requote then, not at the next one due (20.5 s found the lane shut, 30.5 s), and
    they go as one request, reduce-only, for the position. Before, no exit went."""
    from agent.gateway.events import PlaceOrder, Side
    core, placed = _long_core_past_the_cap(25_000)
    sent, _ = _ticks(core, 35.0)
    assert core.safety.level is SafetyLevel.RED
    assert list(sent) == [10.5, 21.5]  # the pull in the lane, then the exits in the next (before: [10.5])
    assert {c.cloid for c in sent[10.5]} == {p.cloid for p in placed} and all(
        isinstance(c, CancelOrder) for c in sent[10.5])
    exits = sent[21.5]
    assert exits and all(isinstance(c, PlaceOrder) and c.reduce_only and c.side is Side.SELL for c in exits)
    assert sum(c.sz for c in exits) <= 0.01 + 1e-12


def test_past_the_cap_held_to_cancels_the_requotes_stay_stretched():
    """Between the cap and the cancels' limit (15,000 used), the book moving a dollar a tick: the Red pull at 1.0 s
    (no lane needed there, but it takes the venue's), the exits at 12.0 s as the lane opens (the requote at 10.5 s
    found it shut), and at 23.0 s the rest of the position the ladder's three left (0.0005). From 25 s a recovery's
    IP weight holds the cycle to cancels: no exit can go, and the requotes stay 10 s apart (a requote as the lane
    opens is for exits that wait for it, and these wait for the IP weight: asked each tick, it was a requote every
    0.5 s)."""
    from agent.gateway.events import IpWeightSpent, PlaceOrder
    core, placed = _long_core_past_the_cap(15_000)
    sent, requotes = _ticks(core, 45.0, drift=1.0, at={25.0: IpWeightSpent(25.0, 1000, "userFillsByTime")})
    assert not core.budget.ip_allows_quoting(45.0)
    assert list(sent) == [1.0, 12.0, 23.0]  # (before: [1.0])
    assert [type(c) for c in sent[12.0]] == [PlaceOrder] * 3 and [c.sz for c in sent[23.0]] == [0.0005]
    assert requotes == [10.5, 12.0, 22.0, 23.0, 33.0, 43.0]


def test_between_the_cap_and_the_limit_a_kills_arm_behind_our_exits_in_the_lane_waits_for_it_to_open():
    """Between the cap and the cancels' limit (15,000 used) a Kill's arm of the switch goes whatever the lane
    (``RequestBudget.may_arm``: the core cannot see the venue's lane exactly), but one sent less than a lane period
    after the core's own exits took it is bound to be refused: feb09_kill_switch's seeds 6, 7 and 8, the exits in the
    lane 8.5 s before the Kill, went without their switch. Fed events: the exits at 12.0 s, the book stale from 13.45 s
    (Kill at 15.0 s). The arm is held (a dead_man_held record, said once) and, the Kill's cancels unanswered, sent
    alone as the lane opens by the core's clock: 11 s (``exit_lane_margin_s``) after the Kill's pull, whose named
    cancels pass at the venue and take its lane too. The Kill's pull still goes at once. Its cancels answered, no
    order of ours is left to cancel: the hold is not sent (at 4a190624, at 26.0 s: a stopped core sends no re-arm,
    and the switch fired 10 s on, on nothing, one of the venue's ten triggers a day)."""
    from agent.gateway.events import CancelAcknowledged, PlaceOrder
    for answered in (False, True):
        core, placed = _long_core_past_the_cap(15_000, {"safety": {"stale_kill_s": 1.5}})
        sent, _ = _ticks(core, 13.5, drift=1.0)
        assert list(sent) == [1.0, 12.0] and all(isinstance(c, PlaceOrder) and c.reduce_only for c in sent[12.0])
        arms, pulls = [], []
        for i in range(28, 81):  # 14.0 s to 40.0 s, no book
            ts = i * 0.5
            out = core.handle(Timer(ts))
            core.handle(Timer(ts, AFTER_CYCLE))
            cmds = [c for b in out for c in (b.commands if isinstance(b, Batch) else (b,))]
            if any(isinstance(c, ScheduleCancel) and c.at_ts is not None for c in cmds):
                arms.append((ts, len(cmds)))
            for c in cmds:
                if isinstance(c, CancelAll):
                    pulls.append(ts)
                    for cloid in c.known if answered else ():
                        core.handle(CancelAcknowledged(ts + 0.1, cloid))
        assert core.stopped and core.safety.level is SafetyLevel.KILL and bool(core.tracker.live_set) is not answered
        assert pulls[:1] == [15.0]  # the Kill's pull at once
        # (before the hold: [(15.0, 2)], 3 s behind the exits, to be refused; none after)
        assert arms == ([] if answered else [(26.0, 1)]), answered  # (answered, at 4a190624: [(26.0, 1)])
        held = [r for r in core.drain_records() if isinstance(r, dict) and r.get("type") == "dead_man_held"]
        assert held[0]["ts"] == pulls[0] and "took it 3.0 s ago" in held[0]["why"]
        assert len(held) == (1 if answered else 2)  # (the second: the pulls again's re-arm, 2 s behind the arm)


def test_feb09s_kill_holds_its_arm_the_slow_lane_refused_or_would_refuse_and_sends_none_on_nothing():
    """scenarios/feb09_kill_switch (the address at the cap, its exits in the slow lane, a Kill at 20.5-22.5 s): seed 7's
    arm would go 8.5 s behind its exits, which had taken the venue's lane, and seed 3's went behind the Kill's cancels
    by name, which landed first, and was refused. (Seed 6 was the first here: no order of its is live at its Kill, and
    it arms nothing now, test_feb09s_kill_with_no_order_of_ours_left_arms_no_switch.) Both are held (a dead_man_held
    record at the Kill), and neither is sent: the Kill's cancels took every order before the lane opened (a snapshot
    at 30.8 s lists none), and a stopped core sends no re-arm, so an arm would only fire 10 s on, on nothing, one of
    the venue's ten triggers a day. At 4a190624 each was sent as the lane opened and fired: seed 3 armed at 33.6 s,
    "expired ... it fired" at 43.5 s.
    Nothing is said of the switch after the Kill: it is off, as the venue's last arm taken left it."""
    from pathlib import Path
    import scenarios.runner as runner
    from scenarios.schema import load_scenario
    path = Path(__file__).resolve().parents[2] / "scenarios" / "feb09_kill_switch.yaml"
    scenario = load_scenario(path)
    for seed in (3, 7):
        records = runner.run_scenario(scenario, seed, base_dir=path.parent).log.records
        kill = next(r["t"] for r in records if r.get("type") == "safety" and r.get("to") == int(SafetyLevel.KILL))
        held = [r["t"] for r in records if r.get("type") == "dead_man_held"]
        assert len(held) == 1 and kill <= held[0] < kill + 1.0, seed
        said = [r["state"] for r in records if r.get("type") == "dead_man" and r["t"] >= kill]
        assert said == [], seed  # (at 4a190624: armed, expired)
        sent = [r["t"] for r in records if r.get("type") == "commands" and r["t"] > kill + 1.0
                and "ScheduleCancel" in r["commands"]]
        assert sent == [], seed  # (at 4a190624: one, 11 s after the Kill)


def test_feb09s_kill_with_no_order_of_ours_left_arms_no_switch():
    """scenarios/feb09_kill_switch's seeds 1 and 6: no order of ours is live at the Kill (the exits filled or ended,
    the start's orders pulled at Red), the core reconciled. The Kill's cancel-all goes (it lists the venue's orders and
    pulls any), but no arm, nor a hold of one: a stopped core sends no re-arm, and seed 1's arm at 22.5 s fired at
    32.5 s on nothing, one of the venue's ten triggers a day (its clear, at the snapshot listing none, waited for the
    slow lane the Kill's cancel-all took). Fails at 06169538: seed 1 armed, lapsing, expired; seed 6 held."""
    from pathlib import Path
    import scenarios.runner as runner
    from scenarios.schema import load_scenario
    path = Path(__file__).resolve().parents[2] / "scenarios" / "feb09_kill_switch.yaml"
    scenario = load_scenario(path)
    for seed in (1, 6):
        records = runner.run_scenario(scenario, seed, base_dir=path.parent).log.records
        kill = next(r for r in records if r.get("type") == "safety" and r.get("to") == int(SafetyLevel.KILL))
        assert next(r for r in records if r.get("type") == "postmortem")["live_orders"] == [], seed
        sent = [r["commands"] for r in records if r.get("type") == "commands" and r["t"] >= kill["t"]]
        assert sent[0] == ["CancelAll"], seed  # (the Kill's pull all the same; at 06169538 seed 1's arm beside it)
        assert not any("ScheduleCancel" in c for c in sent), seed
        said = [r["type"] for r in records if r.get("type") in ("dead_man", "dead_man_held")]
        assert said == [], seed  # (at 06169538: seed 1 armed, lapsing, expired; seed 6 a dead_man_held)


def test_a_kill_whose_pulls_are_never_answered_re_arms_the_switch_short_of_the_venues_ten_a_day():
    """A contrived Kill: between the cap and the cancels' limit (15,000 used), the book stale (Kill at 15.0 s), every
    arm of the switch taken by the venue, and no pull's answer nor any snapshot ever coming: the orders stay counted
    live. The held arm goes before the pulls again once no switch of ours may fire, and each arm fires on its time
    (10 s), so the core armed and the switch fired every 19 s: at 06169538 31 arms in 600 s, the venue's ten
    firings a day spent by 207 s (refused after them, and a later Kill went without a switch). Now the core counts the
    firings (arms that lapsed) in the UTC day and re-arms no more at 10 - ``risk.dead_man_fire_reserve`` (2): 8 arms
    (the Kill's, held behind its exits and sent as the lane opened, and seven re-arms) and a ``dead_man_rationed``
    record, said once; the pulls again go on. A reserve that leaves no firing to re-arm with is refused."""
    import pytest
    from pydantic import ValidationError
    from agent.config import RiskConfig
    from agent.gateway.events import ScheduleCancelAcknowledged
    core, placed = _long_core_past_the_cap(15_000, {"safety": {"stale_kill_s": 1.5}})
    _ticks(core, 13.5, drift=1.0)
    arms, pulls, records = [], [], []
    for i in range(28, 1201):  # 14.0 s to 600.0 s, no book, no answer but the arms'
        ts = i * 0.5
        out = core.handle(Timer(ts))
        core.handle(Timer(ts, AFTER_CYCLE))
        for c in (c for b in out for c in (b.commands if isinstance(b, Batch) else (b,))):
            if isinstance(c, ScheduleCancel) and c.at_ts is not None:
                arms.append(ts)
                core.handle(ScheduleCancelAcknowledged(ts + 0.1, c.at_ts))
            elif isinstance(c, (CancelAll, CancelOrder)):
                pulls.append(ts)
        records += core.drain_records()
    assert core.stopped and core.tracker.live_set and arms[0] == 26.0  # (the Kill's held: its exits took the lane)
    fired = [r["ts"] for r in records
             if isinstance(r, dict) and r.get("type") == "dead_man" and r["state"] == "expired"]
    assert len(arms) == 8 and len(fired) == 8 and fired[-1] < 300.0, (arms, fired)  # (at 06169538: 31 arms)
    rationed = [r for r in records if isinstance(r, dict) and r.get("type") == "dead_man_rationed"]
    assert len(rationed) == 1 and rationed[0]["fired"] == 8 and rationed[0]["ts"] >= fired[-1]
    # (the pulls again go on, as each one's cancels, unanswered, time out: risk.ack_timeout_s, 5 s, to the next tick;
    # before b1cabb5c every risk.pull_retry_s, each naming the orders again with their cancels out)
    later = sorted({ts for ts in pulls if ts >= 300.0})
    assert later[-1] >= 594.0 and max(b - a for a, b in zip(later, later[1:])) <= 6.0
    with pytest.raises(ValidationError):
        RiskConfig(dead_man_fire_reserve=10)


def test_a_kills_arm_is_cleared_once_no_order_of_ours_is_left():
    """Within the cap (5,000 used of 10,000), the book stale (Kill at 1.5 s): the Kill pulls its six orders and arms
    the switch 10 s ahead, and the venue acknowledges every cancel 0.1 s on. A stopped core sends no re-arm, and the
    switch was cleared only on a snapshot listing none of our orders: with none coming within its 10 s, it fired at
    11.5 s on nothing, one of the venue's ten a day. Now, reconciled with no order of ours left, the core clears it at
    the next tick (the rule ``_nothing_to_arm_for`` arms by), and the venue's acknowledgement says it cleared. Fails at
    06169538: no clear, "expired" at 11.5 s."""
    from agent.gateway.events import CancelAcknowledged, ScheduleCancelAcknowledged, ScheduleCancelCleared
    core, placed = _full_ladder_resting(quoting({"safety": {"stale_kill_s": 1.0},
                                                 "graduation": {"start_level": "FULL", "ceiling": "FULL"}}))
    core.handle(QuotaStatus(0.7, 5_000, 10_000, 0.0))
    arms, clears = [], []
    for i in range(2, 41):  # 1.0 s to 20.0 s, no book
        ts = i * 0.5
        out = core.handle(Timer(ts))
        core.handle(Timer(ts, AFTER_CYCLE))
        for c in (c for b in out for c in (b.commands if isinstance(b, Batch) else (b,))):
            if isinstance(c, ScheduleCancel):
                (arms if c.at_ts is not None else clears).append(ts)
                core.handle(ScheduleCancelAcknowledged(ts + 0.1, c.at_ts) if c.at_ts is not None else
                            ScheduleCancelCleared(ts + 0.1, c.sent_ts))
            for cloid in c.known if isinstance(c, CancelAll) else (c.cloid,) if isinstance(c, CancelOrder) else ():
                core.handle(CancelAcknowledged(ts + 0.1, cloid))
    assert core.stopped and not core.tracker.live_set and arms[-1] == 1.5
    assert clears == [2.0], clears  # (at 06169538: none)
    assert core.dead_man_state == "cleared"  # (at 06169538: expired, at 11.5 s)
