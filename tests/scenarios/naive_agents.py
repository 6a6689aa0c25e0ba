"""Deliberately naive agents: the real AgentCore with one original bug put back each.

They live in the tests, not in the product: each incident scenario must FAIL with its naive agent
(the named invariant breaks) and hold with the real one, or the scenario proves nothing.
Run one by hand with ``python -m scenarios run FILE --agent tests/scenarios/naive_agents.py:CLASS``.
"""
from __future__ import annotations

import math

import agent.core
from agent.core import AgentCore
from agent.execution.budget import RequestBudget
from agent.execution.orders import OrderState, OrderTracker
from agent.gateway.events import (
    AccountSnapshot, Batch, CancelAll, CancelOrder, PlaceOrder, RateLimited, Reason, ScheduleCancel, Side,
)
from agent.ledger import Ledger
from agent.markouts import MarkoutQueue
from agent.safety import SafetyLevel
from agent.safety.overlay import SafetyOverlay


def _flat(cmds):
    for c in cmds:
        if isinstance(c, Batch):
            yield from c.commands
        else:
            yield c


def _config_with(config, **sections):
    """A copy of the agent's config with some fields changed: {'budget': {'reserve_frac': 0.0}}. Not validated: a
    naive agent's "never" (``stale_book_s`` 1e9 s) is the kind of value an operator's file is refused."""
    return config.model_copy(update={section: getattr(config, section).model_copy(update=fields)
                                     for section, fields in sections.items()})


class NaiveKillSwitch(AgentCore):
    """Feb 9: no cancel reserve in the request budget (quoting may spend the quota to the last request), no
    room for cancels past the cap, and a kill switch that sends plain cancels for the orders it knows, paid
    from that same budget, with no dead-man's switch behind them, and no pull between requotes of what the
    level forbids. With the quota spent, the kill sends nothing and the orders stay."""

    def __init__(self, config, rng, **kw) -> None:
        super().__init__(_config_with(config, budget={"reserve_frac": 0.0, "cancel_extra": 0}), rng, **kw)

    def _pull_forbidden(self, ts: float, cmds: list) -> None:
        """The original left a level's orders to the next requote."""

    def _update_safety(self, ts: float, cmds: list, degraded: int) -> None:
        n, was_stopped = len(cmds), self.stopped
        super()._update_safety(ts, cmds, degraded)
        if self.stopped and not was_stopped:
            kill = cmds[n:]
            del cmds[n:]
            cancels = []
            for o in self.tracker.live_orders():
                if not self.budget.can_spend(len(cancels) + 1, is_cancel=False):
                    break  # the bug: cancels compete for the same budget as quotes
                cancels.append(CancelOrder(o.cloid))
            if cancels:
                cmds.append(Batch(tuple(cancels)))
            cmds.extend(c for c in kill if not isinstance(c, (CancelAll, ScheduleCancel)))

    def _pull_again(self, ts: float, cmds: list) -> None:
        """The original kill fired once: nothing resent its cancels when they did not go through."""

    def _exit_lane(self, ts: float, cmds: list) -> bool:
        """The original sent nothing but cancels past the cap: no exit went in the venue's slow lane (whose fills, a
        volume that grows the cap, would have paid for its kill's cancels)."""
        return False


class _FilledOnlyTracker(OrderTracker):
    """Exposure is the filled position only: resting and in-flight orders are not counted."""

    __slots__ = ()

    def exposures(self) -> tuple[float, float]:
        return 0.0, 0.0


class NaiveInFlightLimits(AgentCore):
    """Feb 10: the position limit checked against the filled position only (orders resting or in flight
    count for nothing), and the reduce-only mode kept on the client side: exits go out without the
    venue's reduce-only flag, so the venue does not stop them flipping the position."""

    def __init__(self, config, rng, **kw) -> None:
        super().__init__(config, rng, **kw)
        t = _FilledOnlyTracker()
        t.ack_grace_s, t.settle_s = self.tracker.ack_grace_s, self.tracker.settle_s
        self.tracker = t

    def _quote(self, ts, rec, cancel_only=False):
        out = []
        for c in super()._quote(ts, rec, cancel_only):
            if isinstance(c, Batch):
                out.append(Batch(tuple(_unflag(x) for x in c.commands)))
            else:
                out.append(_unflag(c))
        return out


def _unflag(c):
    if isinstance(c, PlaceOrder) and c.reduce_only:
        return PlaceOrder(c.cloid, c.side, c.px, c.sz, c.tif, False)
    return c


class NaiveEmergencyPull(AgentCore):
    """Feb 12: at Red an emergency pull cancels everything, the reduce-only exits too, and latches: it
    stays on while the agent's own spread is undefined — which it always is once nothing is quoted — and
    pulls again every tick (each pull costs IP weight; the 429s it earns feed the error-burst rule)."""

    def __init__(self, config, rng, **kw) -> None:
        super().__init__(config, rng, **kw)
        self.emergency = False

    def _update_safety(self, ts: float, cmds: list, degraded: int) -> None:
        super()._update_safety(ts, cmds, degraded)
        if self.stopped:
            return
        live = [o for o in self.tracker.live_orders() if not o.reduce_only]
        spread_defined = any(o.side is Side.BUY for o in live) and any(o.side is Side.SELL for o in live)
        if self.safety.level >= SafetyLevel.RED or (self.emergency and not spread_defined):
            self.emergency = True
            cmds.append(CancelAll())
            self.overlay = SafetyOverlay(1.0, 0.0, 0, cancel_all=True, position=self.tracker.position)


class NaiveColdStart(AgentCore):
    """Feb 16: after a restart it quotes at once, before the venue's account state is known, and takes
    only the orders it placed itself for its own: what an earlier run left resting is not looked at."""

    def __init__(self, config, rng, **kw) -> None:
        super().__init__(_config_with(config, risk={"audit_interval_s": 1e9}), rng, **kw)  # and never audits it
        self.reconciled = True  # the bug: a fresh process assumes a fresh account

    def _on_snapshot(self, ev: AccountSnapshot, cmds: list) -> None:
        mine = tuple(o for o in ev.open_orders if o.cloid in self.tracker.orders)
        super()._on_snapshot(AccountSnapshot(ev.ts, ev.position, ev.entry_px, ev.account_value, ev.margin_used, mine,
                                             ev.last_fill_tid, ev.requested_ts, ev.venue_time_ms), cmds)


class _BlindBudget(RequestBudget):
    """Counts requests but never says no, keeps no reserve and never slows down."""

    def can_spend(self, n: int, is_cancel: bool = False) -> bool:
        return True

    def spendable(self, is_cancel: bool = False) -> int:
        return 1 << 30

    def requote_interval_s(self, base_s: float) -> float:
        return base_s

    @property
    def headroom_frac(self) -> float:
        return 1.0  # blind: the safety ladder never hears of the quota either


class NaiveQuotaBlind(AgentCore):
    """The quota spiral: cancels and replaces its quotes on every one-tick move, every cycle, blind to the
    address budget's headroom (no reserve, no slowing down, and the safety ladder never hears of it);
    refused requests are simply tried again next cycle. A cancel and a place are two requests per moved
    quote; moving by modify (one) only halves the burn, so this agent, like the incident's, does not."""

    def __init__(self, config, rng, **kw) -> None:
        super().__init__(_config_with(config, reconcile={"price_tolerance_ticks": 0.5, "behind_tolerance_bps": 0.0,
                                                             "level_tolerance_growth": 0.0,
                                                             "modify_moves": False}), rng, **kw)
        self.budget = _BlindBudget(self.cfg.budget)


class NaiveBlindOnDisconnect(AgentCore):
    """Websocket outage: it does not notice the socket is down (no pull, no staleness rule), keeps its
    quotes up on a frozen book, and after the reconnect carries on without resynchronising."""

    def __init__(self, config, rng, **kw) -> None:
        # (and no periodic account audit either: that is a resync of its own)
        super().__init__(_config_with(config, risk={"stale_book_s": 1e9, "audit_interval_s": 1e9}), rng, **kw)

    def _on_lost(self, ev, cmds: list) -> None:
        pass

    def _on_restored(self, ev, cmds: list) -> None:
        pass


class _OptimisticCancelTracker(OrderTracker):
    """An order is gone the moment its cancel is sent: the cancel/fill race is assumed away."""

    __slots__ = ()

    def on_command(self, cmd, ts: float) -> None:
        super().on_command(cmd, ts)
        for c in (cmd.commands if isinstance(cmd, Batch) else (cmd,)):
            if isinstance(c, CancelOrder):
                o = self.orders.get(c.cloid)
                if o is not None and o.live:
                    self._end(o, OrderState.CANCELED, ts)


class NaiveOptimisticCancel(AgentCore):
    """Cancel/fill races: treats a sent cancel as done (no pending-cancel exposure, no settling window),
    so it requotes into a limit that the orders still racing their cancels are using."""

    def __init__(self, config, rng, **kw) -> None:
        super().__init__(config, rng, **kw)
        t = _OptimisticCancelTracker()
        t.ack_grace_s, t.settle_s = self.tracker.ack_grace_s, 0.0
        self.tracker = t


class NaiveFillsBeforeSnapshot(AgentCore):
    """Random chaos (chaos_fill_before_first_snapshot): a fill that arrives before the first account snapshot
    is booked into a position taken to be flat (the ledger, hence equity, drawdown and the safety ladder, act
    on it), and a Kill flattens at once with its side taken from that unreconciled position."""

    def __init__(self, config, rng, **kw) -> None:
        super().__init__(config, rng, **kw)
        self.ledger = Ledger()  # anchored from the start: a fresh process assumes a flat account

    def _on_snapshot(self, ev: AccountSnapshot, cmds: list) -> None:
        led = self.ledger
        if led.fills == 0 and led.position == 0.0 and ev.position:  # the start from the venue, if nothing filled
            led.position, led.entry_px, led.max_abs_position = ev.position, ev.entry_px, abs(ev.position)
        super()._on_snapshot(ev, cmds)

    def _update_safety(self, ts: float, cmds: list, degraded: int) -> None:
        super()._update_safety(ts, cmds, degraded)
        if self._flatten_due:
            self._flatten(cmds, ts)  # the bug: no waiting for a reconciled position


class NaiveReduceOnlyRoom(AgentCore):
    """Random chaos (chaos_reduce_only_beside_stale_bids): reduce-only quotes are sized by |position| alone, as
    if a reduce-only order could not add to the worst case: the same-side orders still resting or being
    cancelled are not counted, so a reduce-only bid rests beside stale bids that already fill the limit. (When
    every desired quote is reduce-only — the Red overlay — reconcile with no limit is exactly that.)"""

    def _quote(self, ts, rec, cancel_only=False):
        real = agent.core.reconcile

        def naive(desired, tracker, *, max_position, **kw):
            if desired and all(d.reduce_only for d in desired):
                max_position = math.inf  # the bug: reduce-only quotes skip the worst-case check
            return real(desired, tracker, max_position=max_position, **kw)
        agent.core.reconcile = naive  # the core looks the function up at each call
        try:
            return super()._quote(ts, rec, cancel_only)
        finally:
            agent.core.reconcile = real


class NaiveSnapshotRetry(AgentCore):
    """Random chaos (chaos_snapshot_refused_429): a snapshot request refused with a 429 is only sent again once
    overdue (2 x ack_timeout_s), the way a reply lost without a word is: under a long 429 storm every retry
    lands in it, and a short session never learns the position it started with."""

    def _request_snapshot(self, cmds: list, ts: float, force: bool = False) -> None:
        self.snapshot_retry_ts = math.inf  # the bug: the refusal the gateway reported is not acted on
        super()._request_snapshot(cmds, ts, force)


class NaiveReconnectWaits(AgentCore):
    """Random chaos (chaos_snapshot_lost_in_outage): on reconnect it asks for a snapshot only if none is
    out or the one out is overdue, so a request sent during the outage (its reply lost with it) keeps it
    blind until that request is overdue: a short session ends never knowing its position."""

    def _on_restored(self, ev, cmds: list) -> None:
        self.connected = True
        self.reconnect_ts = ev.ts
        self.graduation.note_reconnect(ev.ts)
        self._request_snapshot(cmds, ev.ts)  # the bug: a pending (lost) request suppresses the resync


class NaiveFlattenOnce(AgentCore):
    """Random chaos (chaos_flatten_into_a_crash): a Kill flattens with one IOC and gives up when the book falls
    through it before it lands; the position is held through the rest of the crash, to a liquidation."""

    def _flatten(self, cmds: list, ts: float) -> None:
        super()._flatten(cmds, ts)
        self._flattening = False  # the bug: one try only


class NaiveSlowSnapshotBackoff(AgentCore):
    """Random chaos (chaos_snapshot_after_long_storm): a refused snapshot request is retried with a backoff
    that doubles up to the overdue bound (10 s): after a 21 s storm the next try comes up to 10 s late, and
    a short session ends before it."""

    def _snapshot_backoff_cap(self) -> float:
        return 2.0 * self.cfg.risk.ack_timeout_s  # the bug: the overdue bound, 10 s


class NaiveFlattenRoom(AgentCore):
    """Random chaos (chaos_flatten_beside_stale_bids): a Kill's flatten IOC is sized by |position| alone, as if a
    reduce-only order could not add to the worst case: it is sent beside the same-side orders the Kill is still
    cancelling, and once it has filled they can still fill past the limit."""

    def _flatten_size(self, pos: float, px: float) -> float:
        return round(abs(pos), self.sz_decimals)  # the bug: whatever else rests on that side


class NaiveFlattenOffGrid(AgentCore):
    """Found surveying random chaos (chaos_flatten_off_grid): a Kill's flatten IOC is sized by the position
    as summed from fills, float residue and all (0.007799999999999999 BTC): off the venue's size grid, refused
    as an invalid size; the position is held until a retry sized from a fresh snapshot lands."""

    def _flatten_size(self, pos: float, px: float) -> float:
        sz = super()._flatten_size(pos, px)
        return abs(pos) if sz == round(abs(pos), self.sz_decimals) else sz  # the bug: the whole, unrounded



class NaiveRefusedSnapshotOverdue(AgentCore):
    """Random chaos, bounds widened (chaos_refused_snapshot_sent_when_overdue): a snapshot request refused with a
    429 is sent again when overdue (2 x ack_timeout_s) as well as when its backoff is over, as one whose reply was
    lost would be: with a 0.5 s ack timeout, one a second through a storm, spending the snapshots' share of the
    minute's IP weight; after the storm the next request waits for the minute to roll over."""

    def _request_snapshot(self, cmds: list, ts: float, force: bool = False) -> None:
        if (self.snapshot_pending and not force and ts < self.snapshot_retry_ts != math.inf
                and ts - self.snapshot_sent_ts >= 2.0 * self.cfg.risk.ack_timeout_s):
            self.snapshot_retry_ts = ts  # the bug: overdue, so due, though the refusal's backoff is not over
        super()._request_snapshot(cmds, ts, force)


class NaiveSnapshotRetryPace(AgentCore):
    """Random chaos, bounds widened (chaos_snapshot_retries_fill_the_minute): a refused snapshot request's backoff
    is capped at 2 x pull_retry_s alone: with a 0.5 s pull retry, one a second through a storm of 429s, each
    counted at its IP weight, spends the snapshots' share of the minute; after the storm the next request waits
    for the minute to roll over."""

    def _snapshot_backoff_cap(self) -> float:
        return 2.0 * self.cfg.risk.pull_retry_s  # the bug: no floor at the pace the minute's share allows


class NaiveLiquidationRoom(AgentCore):
    """Random chaos (chaos_ladder_lands_after_liquidation): the reducing side is given room for the position it
    would close (limit + |position|) however near the position is to its liquidation price; the venue liquidates
    it while that ladder is on its way, and it lands on a flat account past the limit."""

    def _liquidation_exposure(self, exposures: tuple[float, float], pos: float, mid: float) -> tuple[float, float]:
        return exposures  # the bug: the position counted on to the end, wherever the liquidation price is


NAIVE_AGENTS = {c.__name__: c for c in (NaiveKillSwitch, NaiveInFlightLimits, NaiveEmergencyPull, NaiveColdStart,
                                        NaiveQuotaBlind, NaiveBlindOnDisconnect, NaiveOptimisticCancel,
                                        NaiveFillsBeforeSnapshot, NaiveReduceOnlyRoom, NaiveSnapshotRetry,
                                        NaiveReconnectWaits, NaiveFlattenOnce, NaiveSlowSnapshotBackoff,
                                        NaiveFlattenRoom, NaiveFlattenOffGrid, NaiveRefusedSnapshotOverdue,
                                        NaiveSnapshotRetryPace, NaiveLiquidationRoom)}


class _RefusedPlaceTracker(OrderTracker):
    """A quota refusal of a place is read as a refusal of whatever was last sent for the order (a pending
    cancel goes back to pending-new, a stale order stays stale), and a stale order never acknowledged asks
    for a snapshot at every tick, long before one could settle it."""

    __slots__ = ()

    def on_event(self, ev) -> None:
        if type(ev) is not RateLimited or ev.request != "order":
            super().on_event(ev)
            return
        self.version += 1
        if ev.ts > self.now:
            self.now = ev.ts
        for cloid in ev.cloids:
            o = self.orders.get(cloid)
            if o is None:
                continue
            if not o.live:
                self._drop_new_leg(o, ev.ts)
            elif o.state is OrderState.PENDING_NEW and o.acked_ts < 0:
                self.rejections_by_reason[Reason.RATE_LIMITED.value] += 1
                self._end(o, OrderState.REJECTED, ev.ts)
            elif o.state in (OrderState.PENDING_CANCEL, OrderState.PENDING_MODIFY):
                o.state = o.prev_state
                self._watch(o)  # (the tracker's bounds on what check_timeouts must look at follow it)
                self.keep = None  # (keepable again, perhaps: the tracker's keep lists made afresh, as it does)
                self._drop_new_leg(o, ev.ts)

    def _drop_new_leg(self, o, ts: float) -> None:
        """(the tracker's of the time: any new leg of the order's latest modify, never acknowledged, ended)"""
        if o.replaced_by:
            n = self.orders.get(o.replaced_by)
            if n is not None and n.live and n.acked_ts < 0:
                self._end(n, OrderState.REJECTED, ts)
            o.replaced_by = None

    def check_timeouts(self, ts: float, timeout_s: float = 5.0) -> list[str]:
        out = super().check_timeouts(ts, timeout_s)
        if any(o.state is OrderState.STALE and ts - o.last_update_ts > self.settle_s for o in self.live_set.values()):
            self.needs_snapshot = True
        return out


class _SnapshotsUnbounded(RequestBudget):
    """A snapshot may take the minute's IP weight to its last unit: nothing is kept for cancels."""

    __slots__ = ()

    def ip_allows_snapshot(self, ts: float, weight: int) -> bool:
        return True


class NaiveRefusedPlace(AgentCore):
    """Random chaos (chaos_refused_place_snapshot_storm): with the address quota spent, reduce-only exits are
    refused one after another while their cancels are out; each is kept as a live, stale order, and the
    snapshots asked for at every tick to settle them spend the minute's IP weight (none of it kept for
    cancels), so the end's pull is refused too and an order rests after the session."""

    def __init__(self, config, rng, **kw) -> None:
        super().__init__(config, rng, **kw)
        t = _RefusedPlaceTracker()
        t.ack_grace_s, t.settle_s = self.tracker.ack_grace_s, self.tracker.settle_s
        self.tracker = t
        self.budget = _SnapshotsUnbounded(self.budget.cfg)


class _GrossMarkouts(MarkoutQueue):
    """The markout queue before the evidence was net of fees: every fill is judged by its markout alone."""

    __slots__ = ()

    def add(self, ts: float, side: int, px: float, sz: float = 0.0, fee: float | None = None) -> None:
        super().add(ts, side, px, sz, 0.0)


class NaiveGrossEdge(AgentCore):
    """Promotion on gross edge: graduation counts a real fill as positive edge when its markout is, whatever
    it paid in fees. A maker whose spread capture is smaller than its fee looks favourable on a good share
    of its fills and is promoted, losing on every one of them at a larger size. (Nor does it ask that its fills'
    mean net edge be positive, which the real agent has since 6 December and which holds it as well.)"""

    def __init__(self, config, rng, **kw) -> None:
        g = config.graduation
        promotion = g.promotion.model_copy(update={"min_net_edge_bps": -100.0, "net_edge_z": 0.0})
        super().__init__(_config_with(config, graduation={"promotion": promotion}), rng, **kw)
        g = self.graduation
        g.markouts = _GrossMarkouts(g.markouts.horizon_s)


class NaiveShadowHolds(AgentCore):
    """Shadow places nothing, whatever the account holds: a position it was demoted (or restarted) into is
    held, unmanaged, until a promotion."""

    def __init__(self, config, rng, **kw) -> None:
        super().__init__(_config_with(config, graduation={"shadow_exits": False}), rng, **kw)
