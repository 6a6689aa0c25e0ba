"""The agent core: ``handle(event) -> commands``. No I/O, no clock, no global state.

Per quote cycle (a ``Timer`` event): estimators → GLFT half-spread and skew → signal
adjustment → ladder → reconcile against live and in-flight orders (quota-aware, limit on
worst-case position) → commands, and one decision record saying why. Everything else keeps
state: the book, the estimators and signals, the order tracker, the request budget, the ledger.

What need not delay a cycle's commands waits for the drivers' ``Timer(ts, AFTER_CYCLE)``, fed right
after them at the same ``ts``: recording the cycle's forecasts for scoring, forgetting old orders, and
the graduation's periodic evaluation (its level changes reach the next cycle; its demotion triggers
still act within the cycle).

Safety rules the core always applies, whatever the model says:
- no quoting before the venue's state is reconciled (an account snapshot after start and after
  every reconnect), so orders left resting by an earlier run are known before new ones go out;
- stale market data (no book for ``stale_book_s``, or the socket down) → cancel all quotes;
- an order without acknowledgement for ``ack_timeout_s`` → stale → ask for a snapshot;
- a reduce-only order refused as increasing the position → no more on its side, and a snapshot asked
  for: the position they reduce is not the venue's (``OrderTracker.ro_refused``).
"""
from __future__ import annotations

import dataclasses
import math
import re
from bisect import insort
from collections import Counter, deque
from typing import NamedTuple

import numpy as np

from agent.audit.records import CycleDecisionRecord, describe_command
from agent.config import AgentConfig
from agent.execution.budget import RequestBudget
from agent.execution.orders import CloidFactory, OrderTracker
from agent.execution.reconcile import DesiredQuote, reconcile, refused_under_minimum
from agent.execution.weights import SNAPSHOT_SENT_WEIGHT, request_cost
from agent.gateway.events import (
    AFTER_CYCLE, FOR_CANCEL_ALL, AccountChangedByVenue, AccountSnapshot, Batch, BboUpdated, BookUpdated, CancelAll,
    CancelOrder, CancelRejected, Command, ConnectionLost, ConnectionRestored, FillReceived, FundingPaid, IpWeightSpent,
    ModifyAcknowledged, ModifyRejected, OrderAcknowledged, OrderRejected, PlaceOrder, QuotaStatus, RateLimited, Reason,
    RequestAccountSnapshot, ScheduleCancel, ScheduleCancelAcknowledged, ScheduleCancelCleared, ScheduleCancelRefused,
    ScheduleCancelUnanswered,
    Side, Tif, Timer, TradeObserved,
)
from agent.gateway.fills import TID_BITS as _TID_BITS
from agent.execution.orders import OrderState
from agent.graduation.governor import Graduation
from agent.graduation.paper import within_limit
from agent.ledger import Ledger
from agent.quoting.estimators import ArrivalEstimator, VolatilityEstimator
from agent.quoting.glft import glft_coefficients, glft_half_skew
from agent.quoting.ladder import KeptLadder, lot_sizes, round_px_to_venue, touch_ticks, venue_min_size
from agent.quoting.signals import BookImbalanceSignal, MomentumSignal, SignalBlend, TradeFlowSignal
from agent.safety import (
    NORMAL, ErrorBurstCounter, RiskBudget, SafetyEscalator, SafetyInputs, SafetyLevel, SafetyOverlay, overlaid_quotes,
    overlay_for, reducing_side, taper_increasing,
)
from agent.validation import RegimeModel, ScorecardSet
from common.margin_tiers import MarginTable


def _lapsed_why(fire_by: float, state: str) -> str:
    """What a switch left to lapse (``state`` lapsing), left standing by a refusal (refused), cleared by a clear never
    acknowledged (clearing), or armed and re-armed no more (any other: armed, unconfirmed, or a state before an arm
    taken whose answer came late) says once its time has passed (``AgentCore._dead_man_lapsed``)."""
    if state == "clearing":
        return f"no clear acknowledged before the switch's time ({fire_by:.3f}): it fired then (one of the venue's " \
               f"ten triggers a day) unless a clear whose answer was lost took it first"
    if state == "refused":
        return f"refused, the switch the venue took before (or one in doubt, had it landed) stood: its time " \
               f"({fire_by:.3f}) has passed, it fired then (one of the venue's ten triggers a day)"
    if state == "lapsing":
        return f"left to lapse, the switch's time ({fire_by:.3f}) has passed: it fired then (one of the venue's ten " \
               f"triggers a day)"
    return f"armed, and not re-armed before its time ({fire_by:.3f}) (the heartbeat pauses while the agent is blind " \
           f"or stopped): it fired by then, the venue cancelling what of ours rested (one of its ten triggers a day)"


# the finest lot a position can be held on, in decimals (Ledger's _MAX_DECIMALS: a venue's size decimals are single
# digits, and one lowered under a position leaves it on its old lot): what of a size is finer is float residue
FINEST_LOT = 8


def whole_lots(size: float, sz_decimals: int) -> float:
    """|size| in whole lots of ``sz_decimals``, rounded down, counted in whole units of the finest lot a position is
    held on (an int: the floor is exact). What of ``size`` is finer than that is float residue: a sum of fills (the
    tracker's), or a decimal's nearest double read from the wire. (AgentCore.lots_of; the live end's note.)"""
    finest = max(FINEST_LOT, sz_decimals)
    units = round(abs(size) * 10 ** finest)
    step = 10 ** (finest - sz_decimals)
    return round(units // step * 10.0 ** -sz_decimals, sz_decimals)


class _LiqBase(NamedTuple):
    """The snapshot's liquidation model before the fills and funding since were replayed on it (AgentCore._liq_base,
    which _liq_paid_late replays from again): the position, its Z, each side's nearest price, the price in use and
    whether it is a long's, and the tracker's fill watermark then (another since: the replay cannot be made)."""

    pos: float
    z: float
    near: list[float]
    px: float
    long: bool
    watermark: int


class AgentCore:
    def __init__(self, config: AgentConfig, rng: np.random.Generator, *, tick: float, sz_decimals: int,
                 cloid_prefix: int = 1) -> None:
        self.cfg = config
        self.rng = rng  # injected for any randomised decision; the default policy draws nothing
        self.tick = tick
        self.sz_decimals = sz_decimals
        self.lot = 10.0 ** (-sz_decimals)
        q = config.quoting
        self.vol = VolatilityEstimator(q.estimators)
        self.arrivals: ArrivalEstimator | None = None  # at the first mid (a fixed grid is bps of it)
        self.signals = SignalBlend([BookImbalanceSignal(q.signals), TradeFlowSignal(q.signals),
                                    MomentumSignal(q.signals)], q.signals.weights)
        # continuous validation: every signal is scored against what the mid did; its verdict scales
        # its weight in the blend (retired: 0); the regime model widens spreads when stressed
        self.validation = ScorecardSet([sig.name for sig in self.signals.signals], config.validation.scorecard)
        self.regime = RegimeModel(config.validation.regime)
        self._base_weights = dict(q.signals.weights)
        # the cards in the signals' order, and the quote cycle's memo of what validation makes of their metrics and
        # the signals' weights: (metrics..., weights...) and (factor per signal..., widening in bps)
        self._cards = tuple(self.validation.cards[sig.name] for sig in self.signals.signals)
        self._validation_key: tuple = (None,) * 6
        self._validation: tuple = ()
        self._apply_validation_weights()
        # the safety ladder: its level's overlay reshapes every quote; Kill pulls everything
        self.safety = SafetyEscalator(config.safety)
        self.risk_budget = RiskBudget(config.safety.risk_budget)
        self.errors = ErrorBurstCounter(config.safety.cascade_window_s)
        self.overlay = NORMAL
        # the level and position self.overlay was made of, and it (a subclass may set another: made again then)
        self._overlay_level, self._overlay_pos, self._overlay_made = SafetyLevel.GREEN, 0.0, NORMAL
        # read every tick (the config is fixed for the core's life): by the safety rules, and by the quote cycle
        self._collateral = config.session.collateral_usd
        self._max_position = config.risk.max_position
        self._ack_timeout_s = config.risk.ack_timeout_s
        self._audit_interval_s = config.risk.audit_interval_s
        self._stale_book_s = config.risk.stale_book_s
        self._cycle_s = config.session.cycle_s
        self._dead_man_min_volume = config.risk.dead_man_min_volume_usd
        self._sigma_n = -1  # the volatility estimator's sample count at the last read, and what it gave
        self._sigma_log = math.nan
        self.equity = math.nan
        self._last_pull_ts = -math.inf
        self._pulls = 0
        self.reconnect_ts = -math.inf
        self._flatten_held = False  # a flatten IOC is held back by the budget (said once, in the log)
        # when a quote cycle was first held to cancels for want of the venue's first quota report (nan: none was)
        self._quota_held_ts = math.nan
        # when quote cycles were first held to cancels by the last minute's IP weight, this hold (nan: none is)
        self._ip_held_ts = math.nan
        # graduation: confidence → exposure level → size multiplier, position-limit scale, Shadow (paper only)
        self.graduation = Graduation.for_agent(config)
        self.exposure = self.graduation.controller
        self.tracker = OrderTracker()
        self.tracker.ack_grace_s = config.risk.ack_timeout_s
        self.tracker.settle_s = config.risk.fill_settle_s
        self.budget = RequestBudget(config.budget)
        self.cloids = CloidFactory(cloid_prefix, self.tracker.orders)  # never the cloid of an order it tracks
        # its position starts from the first snapshot's (see Ledger), on the coin's lot
        self.ledger = Ledger(anchored=False, sz_decimals=sz_decimals)
        self._flatten_due = False  # a Kill's flatten waits for a reconciled position to take its side from
        self._flattening = False  # a Kill is flattening: IOCs until the position is flat
        self._flatten_at_stop = False  # the shutdown asked for the position closed: the driver ticks until it is
        # stopped with the position to be closed (a Kill set to flatten, or a shutdown asked to): a fill or a
        # snapshot that finds a position once the flatten thought it done starts it again
        self._flatten_goal = False
        self._reserve_ioc_ts = -math.inf  # the last flatten IOC spent from the cancel reserve
        self._flatten_cloid: str | None = None
        self._below_lot_said = 0.0  # the last position the flatten ended on, no order able to close it (_below_lot)
        # the venue refused the dead-man's switch (under $1M traded, or 10 firings today): not asked again before
        self._dead_man_retry_ts = -math.inf
        # the venue refused a clear of it so: no clear sent again before (arms are: ``_dead_man_clear_refused``)
        self._dead_man_clear_retry_ts = -math.inf
        # the latest a scheduleCancel that got no answer may still land at the venue, after the ones sent since (inf:
        # none is in doubt), and the latest time of an arm among those (-inf: none): ``_dead_man_settle``
        self._dead_man_doubt_ts = math.inf
        self._dead_man_doubt_arm = -math.inf
        # the latest time of an arm that got no answer since the venue last took a scheduleCancel (-inf: none): the
        # venue may have taken it, and it stands until one sent after it is taken (``_dead_man_as_before_refusal``)
        self._dead_man_unanswered_arm = -math.inf
        self._dead_man_armed_until = -math.inf  # when the switch we last armed fires (-inf: not armed, or cleared)
        self._dead_man_next_ts = -math.inf  # the heartbeat's next re-arm
        # when the last arm went out, while the venue has not acknowledged it (inf: it has, or none is out): one
        # lost on its way or answered 5xx gives no event, and read as armed it was sent again only at the next re-arm
        self._dead_man_unacked_ts = math.inf
        # when the switch the venue's last answer left fires: the last arm it acknowledged, superseded since or not
        # (-inf: none, or a clear acknowledged since). Answers come in the order sent (the gateway sends one at a
        # time): an arm a refused one followed stands, ``_dead_man_as_before_refusal``
        self._dead_man_acked_until = -math.inf
        self._dead_man_ahead_s = 0.0  # how far ahead the last arm was set, s (its record says)
        # the last arm _dead_man_settle_blind sent (its time), and the time it re-sent, which it may have pushed on
        self._dead_man_blind_at = self._dead_man_blind_due = math.nan
        # the latest the venue's switch may fire: the last acknowledged arm's time, or a later one sent since (the
        # switch may be armed until then, until the venue acknowledges a clear; -inf: it is not)
        self._dead_man_fire_by = -math.inf
        # when the last clear went out, and the first sent since the last arm, while the venue has acknowledged none
        # (inf: it has, or an arm went out since, or none was sent): one lost on its way, answered 5xx or refused
        # 429 leaves the switch armed, to fire with nothing to cancel (one of the day's ten triggers)
        self._dead_man_clear_ts = self._dead_man_clear_first_ts = math.inf
        self._dead_man_clear_why = ""  # why the clear went out (its "cleared" record says it again)
        # as last recorded: off, armed, unconfirmed, clearing, cleared, expired, refused, lapsing
        self._dead_man_state = "off"
        self._dead_man_why = ""  # why, as last recorded (a refusal: the venue's text): dead_man_why
        # every scheduleCancel refusal's text as the venue gave it (200 characters at most), with how many said it:
        # rejections_by_reason counts them under a reason code, and dead_man_why keeps only the last word. The first
        # DEAD_MAN_REFUSAL_TEXTS texts, the rest under DEAD_MAN_OTHER_TEXTS (a text naming a number grew it by one a
        # refusal)
        self.dead_man_refusals: Counter[str] = Counter()
        # a Kill's arms of the switch held back past the cancels' limit, where the slow lane is the pulls'
        # (RequestBudget.may_arm): how many, and when the hold now running began (nan: none; its record says why)
        self.dead_man_arms_held = 0
        self._arm_held_ts = math.nan
        # the switch's firings counted (arms that lapsed, _dead_man_lapsed) in the UTC day _fires_day (the venue's
        # limit is DEAD_MAN_DAILY_FIRES a day): a Kill's re-arms stop short of it (_rearms_spent), said once a day
        self._fires_day = -math.inf
        self._fires = 0
        self._rationed_day = -math.inf
        self.cum_volume_usd = 0.0  # the account's traded volume, as the venue last reported it (userRateLimit)
        self._flatten_ts = -math.inf
        self._flatten_on_book = False  # the last flatten IOC matched nothing: again at the next book
        self._snapshot_ts = -math.inf  # when the last account snapshot arrived
        # the position's liquidation price (0: none known), and whether that is a long's: the last snapshot's, moved
        # nearer by our fills since (_liq_follow) where the snapshot said how the venue margins the position
        self._liq_px = 0.0
        self._liq_long = False
        self._liq_snapshot_px = 0.0  # the snapshot's own, for the decision record
        # the margin the price moves by (_liq_follow): (maintenance fraction, 1 / leverage, isolated, the coin's
        # MarginTable where it has several tiers, else None), None where not told; the position it was last moved
        # to; and its Z, the price times (position - maintenance x |position|)
        self._liq_margin: tuple | None = None
        self._liq_tables: dict[tuple, MarginTable] = {}  # the coin's margin table, made once from a snapshot's tiers
        self._liq_pos = 0.0
        self._liq_z = 0.0
        # the nearest price each side has had since the snapshot (a long's highest, a short's lowest; 0: none), the
        # snapshot's among them: the one in use is the position's side's
        self._liq_near = [0.0, 0.0]
        # the price and fee of each fill the tracker booked past its snapshot watermark, by tid: the next snapshot's
        # position holds none of those left above its watermark, which move its price as later ones do
        self._fill_px: dict[int, tuple[float, float]] = {}
        # the venue time of the last snapshot's state (0: not told), and the funding paid on the position since it
        # (venue time ms, usdc): the next snapshot's account holds those not past its own time (_liq_fund)
        self._liq_state_ms = 0
        self._fundings: list[tuple[int, float]] = []
        # the snapshot's model before the fills and funding since were replayed on it (_liq_paid_late)
        self._liq_base = _LiqBase(0.0, 0.0, [0.0, 0.0], 0.0, False, -1)
        self.best_bid = math.nan
        self.best_ask = math.nan
        self.mid = math.nan
        # the last l2Book's mid: what the forecasts are scored from, as their outcomes are (the validation's and
        # graduation's on_mid). self.mid moves with the bbo too, ahead of the book that resolves them; a forecast
        # made from it was scored on a move it had partly seen already (trade flow's skill read as none)
        self.book_mid = math.nan
        self.last_book_ts = -math.inf
        self.stale_prints = 0  # prints made more than risk.stale_book_s before the newest book (_on_trade)
        self._book_ms = 0  # the newest book's venue time, ms (0: none with one)
        self._stale_book_ms = 1000.0 * config.risk.stale_book_s
        self._venue_offset = math.inf  # the least (ts - venue time) a book has come with: the clocks' offset
        self._feed_quiet = False  # no book for risk.stale_book_s with the socket up, as of the last quote cycle
        self.stale_book_episodes = 0  # times the book went stale with the socket up, quotes pulled each time
        # events stamped before the latest time handled (a live run's host clock stepped back: NTP, an operator), each
        # handled at that time (_stepped_back); the most one was behind; and, once one was more than
        # _clock_step_bound_s behind, why the run must stop (the live driver stops it at its next tick)
        self.clock_steps_back = 0
        self.clock_step_back_max_s = 0.0
        self.clock_fault = ""
        self.connected = True
        self.reconciled = False
        self.snapshot_pending = False
        self.snapshot_sent_ts = -math.inf
        self.snapshot_retry_ts = math.inf  # the request was refused (429): ask again from then on
        self._snapshot_backoff_s = _SNAPSHOT_RETRY_S
        self.started = False
        self.stopped = False
        self.cycle = 0
        self.last_requote_ts = -math.inf
        # cycle ticks since the last requote: requotes are spaced by ticks as well as by timestamps, which a
        # live event loop jitters by a few ms (by timestamps alone a tick a hair short of a cycle was skipped)
        self._ticks_since_requote = 0
        # past the address cap at the last requote: (whether the venue's slow lane was shut for its exits, the
        # position then), for a requote as the lane opens (_exit_lane); None within the cap
        self._lane_waits: tuple[bool, float] | None = None
        self._lane = False  # this requote's exits may take the slow lane (_lane_check): read by _quote
        self.max_worst_case = 0.0
        self._fit: tuple[float, float] | None = None
        # what the quote cycle makes of the market's and the position's state, and that state (mid, position, σ per
        # √s): GLFT's half spread and skew per coin held (of GLFT's coefficients too: dropped when they change), and
        # the risk budget's PaR, size factor and position cap (pure functions of the state and its fixed config)
        self._state_key: tuple | None = None
        self._state: tuple = ()
        # the config the quote cycle's terms of it were made from (_derive), and those terms
        self._derived_of: AgentConfig | None = None
        self._stress_less_1 = self._fee_frac = self._floor = math.nan
        self._ladder_terms: tuple = ()
        self._min_ok = [math.inf] * 4  # (_quote's: the ask's price and base, the bid's, at which the minimum held)
        self._quoting = self._reconcile_cfg = None
        self._refit_s = self._order_size = self._spread_factor = self._skew_factor = math.nan
        self._gamma = self._sigma_prior = self._a_prior = self._k_prior_bp = math.nan
        self._k_prior: float | None = None
        self._min_notional = self._risk_max_position = math.nan
        # GLFT's coefficients, c1 and c2 (glft_coefficients), and the A and k they are of (nan: none yet)
        self._coef_A = self._coef_k = math.nan
        self._coef: tuple[float, float] = (math.nan, math.nan)
        self._ladder_key: tuple[int, int] | None = None
        # the ladder's sizes on the venue's lot, and the (bid, ask) base sizes they are of
        self._sizes_key: tuple[float, float] | None = None
        # the ladder for those sizes and the config, each side kept as made for a touch price (desired_ladder's
        # sides): a new one with the sizes, which retune renews (with the other arguments: levels, spacing, minimum)
        self._ladder: KeptLadder | None = None
        self._desired: list[DesiredQuote] = []
        self._reconciled_state: tuple | None = None
        self._overlaid_key: tuple | None = None  # the safety overlay's last result, and what it was of
        self._overlaid: list[DesiredQuote] = []
        # Shadow's paper quotes within the limit (within_limit) and the (quotes, position, limit) they are of
        self._paper_key: tuple = (None, math.nan, math.nan)
        self._paper_quotes: list = []
        self._forecast: tuple | None = None  # the last cycle's (ts, its signals' parts, book mid), until _after_cycle
        self._after_due = math.nan  # the ts of the cycle whose after-cycle work is still to do (nan: none)
        self._fit_ts = -math.inf
        self._records: list[dict] = []
        self._p_fill_cycle = 0  # the last cycle whose quotes went to graduation.p_fill
        self._cycle_cmds: list | None = None  # the last quote cycle's commands list, which its record carries
        self._unbooked: tuple | None = None  # (commands, ts): a quote cycle's, sent and not yet booked (_book_cycle)
        self._recent: deque = deque(maxlen=20)
        self._dispatch = _Dispatch({
            BookUpdated: self._on_book, BboUpdated: self._on_bbo, TradeObserved: self._on_trade,
            FillReceived: self._on_fill,
            QuotaStatus: self._on_quota, ConnectionLost: self._on_lost, ConnectionRestored: self._on_restored,
            AccountSnapshot: self._on_snapshot, Timer: self._on_timer, OrderRejected: self._on_rejected,
            AccountChangedByVenue: self._on_account_changed, ModifyRejected: self._on_modify_rejected,
            FundingPaid: self._on_funding, IpWeightSpent: self._on_weight_spent,
            ScheduleCancelAcknowledged: self._on_dead_man_acknowledged,
            ScheduleCancelCleared: self._on_dead_man_cleared, ScheduleCancelRefused: self._on_dead_man_refused,
            ScheduleCancelUnanswered: self._on_dead_man_unanswered,
            OrderAcknowledged: self._on_order_ack, ModifyAcknowledged: self._on_modify_ack,
        }, self._on_other)

    # ------------------------------------------------------------------ entry point

    def handle(self, event) -> list[Command]:
        if self._unbooked:  # the last quote cycle's commands (a tuple, or None), sent since: booked before anything
            self._book_cycle()
        # the tracker's clock is the events' clock, the latest time handled (a comparison and a store per event: the
        # store unconditional, at the same time too, costs fewer bytecodes than a second comparison)
        if event.ts < self.tracker.now:
            event = self._stepped_back(event)  # the clock stepped back (the rare path)
        else:
            self.tracker.now = event.ts
        cmds: list[Command] = []
        if not self.started and type(event) is not IpWeightSpent:
            # the session starts at the venue's first word: a gateway's note of weight it spent is none (a quota
            # poll's at 0 s would have moved every twin session's first snapshot, and what followed it)
            self.started = True
            self._request_snapshot(cmds, event.ts)
        # every event's handler, those without one of their own _on_other's (_Dispatch: a dict's lookup, with no get
        # nor a test of what it found, 6 bytecodes an event fewer)
        self._dispatch[type(event)](event, cmds)
        if cmds:
            if cmds is self._cycle_cmds:
                # a quote cycle's: booked once they are out (at the next event, its AFTER_CYCLE, which both drivers
                # feed before any other: nothing reads the orders between), off the path from decision to wire
                self._unbooked = (cmds, event.ts)
            else:  # sent outside a quote cycle: no cycle record names them
                self._book(cmds, event.ts)
                self._sent(event.ts, type(event).__name__, cmds)
        return cmds

    def watch(self, event: BookUpdated | TradeObserved) -> None:
        """Watch the market before the session starts (a scenario's warm models): a book or a print feeds the book
        state, estimators and signals as ``handle`` would, and the session does not start, so nothing is asked of
        the venue and nothing is counted as sent. (Fed through ``handle``, the first such event started the session
        and asked for the account's state; the caller dropped that request, which the core still held pending and
        charged 42 of the minute's IP weight: the real first request waited for the first quote cycle, and, were the
        warm-up shorter than 2 x ``ack_timeout_s``, until the dropped one looked overdue, seconds into the session,
        blind.) Before the start only: after it, ``handle`` takes every event."""
        if self.started:
            raise RuntimeError("watch() is for before the session starts; handle() takes its events")
        t = type(event)
        if t is not BookUpdated and t is not TradeObserved:
            raise TypeError(f"watch() takes BookUpdated and TradeObserved, not {t.__name__}")
        if event.ts < self.tracker.now:  # (as in handle)
            event = self._stepped_back(event)
        else:
            self.tracker.now = event.ts
        cmds: list[Command] = []
        self._dispatch[t](event, cmds)
        if cmds:  # (a book sends only a Kill's flatten, and nothing has started one): a command here would be lost
            raise RuntimeError(f"a market event before the start made commands, which nobody sends: {cmds}")

    def _stepped_back(self, event):
        """``event``, stamped before ``now``, the latest time handled (the tracker's), as it is handled: at ``now``. A
        live run's events carry the host's clock, and a step back (NTP, an operator) gives the core an event earlier
        than one it has handled; its models take time as never going back (graduation's exposure controller raised on
        it, stopping the run as a core error). Held at ``now``, the core's clock stands still until the host's passes it
        again, and the journal's replay, fed the same stamps, does the same. Counted, with the largest step; the first
        step and each larger than any before are recorded (a step back puts the events of the step's length behind, by
        less and less). While the clock stands still, so do the guards that time things (a stale book, an ack's timeout,
        the dead-man's switch's renewal); and the gateway stamps the venue's ``expiresAfter`` and nonces from the host's
        clock. A step past ``_clock_step_bound_s`` is no jitter: ``clock_fault`` says so, and the live driver stops the
        run on it."""
        now = self.tracker.now
        if type(event) is Timer and event.name == AFTER_CYCLE:
            # no step: a cycle's after-cycle work is at the time its cycle was handled (_after_due), whatever came
            # since (a live driver lets the cycle's requests start first: an event meanwhile is stamped later)
            due = self._after_due
            return event if event.ts == due or due != due else dataclasses.replace(event, ts=due)
        step = now - event.ts
        self.clock_steps_back += 1
        if step > self.clock_step_back_max_s:
            self.clock_step_back_max_s = step
            bound = self._clock_step_bound_s()
            text = (f"the host's clock stepped back {step:.3f} s: a {type(event).__name__} stamped {event.ts!r} came "
                    f"after {now!r}, handled at {now!r} ({self.clock_steps_back} event(s) so far)")
            if step > bound:
                text += (f"; more than {bound:g} s (risk.stale_book_s or half of risk.ack_timeout_s, the skew the "
                         f"start refuses): the run stops. Keep the host's clock in sync (chrony or ntpd slewing, "
                         f"not stepping, mid-run) and start it again")
                self.clock_fault = self.clock_fault or text
            self._records.append({"type": "clock_step_back", "ts": now, "event": type(event).__name__,
                                  "event_ts": event.ts, "step_s": step, "count": self.clock_steps_back,
                                  "stop": step > bound, "text": text})
        return dataclasses.replace(event, ts=now)

    def _clock_step_bound_s(self) -> float:
        """The largest step back of the events' clock a run goes on through (held at the latest time, see
        _stepped_back): the core's clock stands still that long, so no more than the stale book's bound, nor than
        the clock error the live start refuses (half of ``risk.ack_timeout_s``: every action's ``expiresAfter`` is
        the host's clock plus that timeout)."""
        r = self.cfg.risk
        return min(r.stale_book_s, r.ack_timeout_s / 2)

    def _book_cycle(self) -> None:
        cmds, ts = self._unbooked
        self._unbooked = None
        self._book(cmds, ts)

    def shutdown(self, ts: float, flatten: bool = False) -> list[Command]:
        """Stop quoting for good and pull every order (a session's end, SIGINT, a kill). With ``flatten`` (an
        operator's choice at the end of a run), also close the position through the book as a Kill's flatten
        does: reduce-only IOCs 1% through the touch, again every ``risk.pull_retry_s`` for what a fresh snapshot
        says is left, until it is flat; the driver keeps the timer ticking meanwhile (``winding_down``)."""
        if self._unbooked is not None:
            self._book_cycle()
        ts = max(ts, self.tracker.now)  # (a driver's clock stepped back: see _stepped_back)
        self.stopped = True
        self._last_pull_ts = ts
        # the orders it knows of by name: a gateway cancels them at once, not after the listing that finds the rest
        cmds: list[Command] = [CancelAll(self.tracker.pullable())]
        self.budget.pull_sent(ts, len(self.tracker.live_set))  # (past the cancels' limit, in the slow lane)
        if flatten:
            self._flatten_at_stop = self._flatten_goal = True
            self._flatten_due = True  # its side from a reconciled position only: now, or at the next snapshot
            if self.reconciled:
                self._flatten(cmds, ts)
        self._book(cmds, ts)
        self._sent(ts, "shutdown", cmds)
        return cmds

    def _sent(self, ts: float, on: str, cmds: list) -> None:
        """A record of commands sent outside a quote cycle (a connection lost's pull, a stale book's cancels, a
        Kill's pull and flatten, a shutdown's, a snapshot asked between cycles): only a cycle's record names its
        commands, and without this the log did not say that these were ever sent, nor could a replay check them.
        ``on``: the event they answered."""
        self._records.append({"type": "commands", "ts": ts, "on": on,
                              "commands": [describe_command(c) for c in cmds]})

    def _book(self, cmds: list[Command], ts: float) -> None:
        """Commands leaving: into the order tracker, the request budget (IP weight and address items, as the
        gateways will spend them) and graduation's request count; and the worst-case exposure they may add."""
        adds = False  # only a place (or modify) can raise worst-case exposure: cancels, pulls, snapshots cannot
        for c in cmds:
            # (a cancel-all's items: the orders counted live before it; it leaves them live until answered)
            weight, n, cancels_only = request_cost(c, len(self.tracker.live_set))
            self.tracker.on_command(c, ts)
            self.budget.note_request(ts, weight, n, cmd=c)
            if n:
                self.graduation.note_request(ts, n)
                adds = adds or not cancels_only
        if adds:
            wc_long, wc_short = self.tracker.worst_case_positions()
            wc = max(abs(wc_long), abs(wc_short))
            if wc > self.max_worst_case:
                self.max_worst_case = wc

    def retune(self, *, glft=None, ladder=None, order_size: float | None = None, reconcile=None) -> None:
        """Change the quoting parameters between events (a parameter search's action, an operator's
        change): GLFT's risk aversion and factors, the ladder, the base size, the requote thresholds. The
        memos built from the old ones are dropped, so the next cycle quotes with the new ones whatever it
        sees; nothing else (estimators, evidence, orders) changes. The signals, fees and limits are fixed
        for the core's life."""
        cfg = self.cfg
        q = cfg.quoting
        upd = {}
        if glft is not None:
            upd["glft"] = glft
        if ladder is not None:
            upd["ladder"] = ladder
        if order_size is not None:
            upd["order_size"] = order_size
        quoting = type(q).model_validate({**q.model_dump(), **{k: (v.model_dump() if hasattr(v, "model_dump")
                                                                   else v) for k, v in upd.items()}})
        whole = {"quoting": quoting}
        if reconcile is not None:
            whole["reconcile"] = reconcile
        self.cfg = cfg.model_copy(update=whole)
        self._state_key = None
        self._coef_A = self._coef_k = math.nan
        self._ladder_key = None
        self._sizes_key = None
        self._overlaid_key = None
        self._reconciled_state = None

    def drain_records(self) -> list[dict]:
        """The records since the last drain, as JSON-ready dicts."""
        out, self._records = self._records, []
        return [r.to_dict(describe_command) if isinstance(r, CycleDecisionRecord) else r for r in out]

    def discard_records(self) -> None:
        """Nobody is listening (no run folder): drop them without formatting."""
        self._records.clear()

    # ------------------------------------------------------------------ market data

    def _on_book(self, ev: BookUpdated, cmds: list) -> None:
        # (the event's fields, the touch and the mid read once into locals: every book update hands them to six
        # models; the same doubles, stored as before)
        bids = ev.bids
        asks = ev.asks
        if not bids or not asks:
            return
        ts = ev.ts
        bid = self.best_bid = bids[0][0]
        ask = self.best_ask = asks[0][0]
        mid = self.mid = self.book_mid = 0.5 * (bid + ask)
        self.last_book_ts = ts
        vt = ev.venue_time_ms
        if vt > 0:
            self._book_ms = vt
            made = vt * 1e-3
            if ts - made < self._venue_offset:
                self._venue_offset = ts - made
            self.tracker.feed_ts = made + self._venue_offset  # when it was made, on this clock
        if self._flatten_on_book:
            self._flatten_on_book = False
            self._flatten(cmds, ts)  # nothing of the last IOC filled: the position is as it was
            mid = self.mid
        self.vol.update(ts, mid)
        sig = self.signals.signals
        sig[0].update(ts, bids, asks)
        sig[2].update(ts, mid)
        self.ledger.on_mid(ts, mid)
        self.graduation.on_mid(ts, mid)
        self.regime.on_mid(ts, mid)
        v = self.validation
        if v.on_mid(ts, mid):
            self._apply_validation_weights()
        if v.evaluated:  # each evaluation's evidence: why a signal's weight and the degraded count are what they are
            cards = v.cards
            self._records.extend({"type": "scorecard", **cards[name].record()} for name in v.evaluated)
            v.evaluated.clear()

    def _made_at(self, ts: float, tid: int) -> float:
        """When a fill or a print delivered at ``ts`` happened, on this core's clock: its venue time (under its id,
        ``tid``) plus the least lag a book has come with (the clocks' offset and the feed's quickest delivery); its
        delivery time when either is not known. A fill made in a websocket outage comes at the reconnect, 15-20 s
        on: its markouts measured from then were of another horizon, and after a jump in the outage mostly the
        jump; a print made before an order was sent was taken by the shadow model as able to fill it."""
        vt = tid >> 64
        if vt <= 0 or self._venue_offset == math.inf:
            return ts
        t = vt * 1e-3 + self._venue_offset
        return t if t < ts else ts

    def _on_bbo(self, ev: BboUpdated, cmds: list) -> None:
        """The touch between books (session.bbo_feed): the quotes' centre and their post-only bounds move with it;
        the estimators and signals, fitted on l2Book updates, and the book's staleness wait for the next book. A
        socket delivers in order, so what arrives last is the venue's newest, book or bbo."""
        if self.best_bid == self.best_bid:  # (a book already)
            bid = ev.bid  # (_take_touch(ev.bid, ev.ask), written out: the commonest event of all, 2 in 11 at stress)
            ask = ev.ask
            if 0.0 < bid < ask:
                self.best_bid, self.best_ask = bid, ask
                self.mid = 0.5 * (bid + ask)

    def _apply_validation_weights(self) -> None:
        for name, w in self.validation.weights().items():
            self.signals.set_weight(name, self._base_weights.get(name, 1.0) * w)

    def _on_trade(self, ev: TradeObserved, cmds: list) -> None:
        side = 1 if ev.side is _BUY else -1  # ev.side.value, read once (an enum's value is a Python-level property)
        ts = ev.ts
        made_ms = ev.tid >> 64
        # made = self._made_at(ts, ev.tid), written out (every print: its call was a tenth of the core's part of one)
        if made_ms <= 0 or self._venue_offset == math.inf:
            made = ts
        else:
            made = made_ms * 1e-3 + self._venue_offset
            if not made < ts:
                made = ts
        if made_ms and self._book_ms - made_ms > self._stale_book_ms:
            # made longer before the newest book than a book stays fresh: the prints a trades subscription's ack sends
            # again, made in a websocket outage (hyperliquid.md §4); a socket delivers in order, so no live one is.
            # Taken as current flow they were a burst at the reconnect (the flow signal, halving every 5 s, had 16 s
            # old prints at full weight), at depths from a mid that had moved since. The paper fill model takes them
            # by when they were made. (Both times the venue's: a step of this host's clock moves neither)
            self.stale_prints += 1
            self._paper_trade(ev, side, made)
            return
        if self.mid == self.mid:
            arrivals = self.arrivals
            if arrivals is None:
                est = self.cfg.quoting.estimators
                arrivals = self.arrivals = ArrivalEstimator(
                    est, None if est.arrival_max_depth_bps is None else est.arrival_max_depth_bps * 1e-4 * self.mid)
            arrivals.on_trade(ts, ev.px, self.mid, side)
        self.signals.signals[1].update(ts, side, ev.sz)
        g = self.graduation  # (_paper_trade(ev, side, made), written out)
        if g.places_orders:
            g.shadow.on_trade(ts, ev.px, ev.sz, side, self.tracker, made)
        else:
            g.paper.on_trade(ts, ev.px, ev.sz, side, made)

    def _paper_trade(self, ev: TradeObserved, side: int, made: float) -> None:
        g = self.graduation
        if g.places_orders:  # the paper fill model on the real orders: the sim-to-real gap
            g.shadow.on_trade(ev.ts, ev.px, ev.sz, side, self.tracker, made)
        else:
            # Shadow: on the quotes it computed, those set before the print was made
            g.paper.on_trade(ev.ts, ev.px, ev.sz, side, made)

    # ------------------------------------------------------------------ account

    def _on_fill(self, ev: FillReceived, cmds: list) -> None:
        tracker = self.tracker
        new = ev.tid not in tracker.seen_tids
        before = tracker.position
        excess = tracker.on_fill(ev)
        if tracker.position != before:  # booked past the snapshot's watermark: it moves the liquidation price
            self._liq_fill(ev, tracker.position, before)
        if new:
            sz, fee, closed_pnl = ev.sz, ev.fee, ev.closed_pnl
            made = self._made_at(ev.ts, ev.tid)
            side = 1 if ev.side is _BUY else -1  # ev.side.value, read once (an enum's value is a Python-level property)
            if excess:
                # its order's fills past its size: only what fits is booked (its share of the fee, what it closed:
                # Ledger.closed_of_booked), the tracker asks the venue's position (a snapshot at the next tick), and
                # the log says so
                o = tracker.orders.get(ev.cloid)
                self._records.append({"type": "overfill", "ts": ev.ts, "cloid": ev.cloid, "tid": ev.tid, "sz": sz,
                                      "excess": excess, "order_sz": o.placed_sz if o is not None else None,
                                      "side": side, "position": tracker.position})
                closed_pnl = self.ledger.closed_of_booked(side, sz, sz - excess, ev.tid, closed_pnl,
                                                          ev.start_position)
                whole = sz - excess <= 1e-12  # (none of it fits: nothing booked, the fill counted if it settles real)
                self.ledger.on_excess(side, excess, ev.tid, ev.px, fee * excess / sz, ev.is_maker,
                                      made, whole, sz - excess)
                sz, fee = sz - excess, fee * (sz - excess) / sz
                if whole:
                    return
            elif self.ledger.apart:  # (after an excess the venue's closedPnl is not of the ledger's position)
                closed_pnl = self.ledger.closed_of_booked(side, sz, sz, ev.tid, closed_pnl, ev.start_position)
            self.ledger.on_fill(ev.ts, side, ev.px, sz, fee, ev.is_maker, ev.tid, closed_pnl, made)
            # its markout timed from when it was made, as the ledger's: one made in an outage and delivered at the
            # reconnect is dropped (agent.markouts), not counted as promotion evidence on a longer horizon
            # A fill past its order's size is no promotion evidence, the part that fitted neither (as one wholly
            # past it, above): it may be a copy of a fill given already, whose markout and volume it would count
            # twice, and the snapshot that may tell it (Ledger.settle_excess) comes after its markout is due
            if not excess:
                self.graduation.note_fill(made, side, ev.px, sz, fee)
            o = tracker.orders.get(ev.cloid)
            if o is not None and ev.is_maker and self.graduation.places_orders and not excess:
                # (the gap is measured where real orders rest beside the paper model: Shadow's exits have no
                # paper model beside them, and their fills would read as real volume the model missed)
                self.graduation.shadow.on_fill(o, sz)
            self.graduation.p_fill.on_fill(ev.cloid, made)  # (at any level: a quote placed before a demotion may fill)
            self._records.append({"type": "fill", "ts": ev.ts, "cloid": ev.cloid, "px": ev.px, "sz": sz,
                                  "side": side, "maker": ev.is_maker, "cycle": self.cycle,
                                  "position": tracker.position})
            if self._flatten_goal and not (self._flattening or self._flatten_due) and self.lots_of(tracker.position):
                # an order whose pull was still on its way filled after the flatten found the position flat
                # (or before the Kill's, while flat): flattened again, its side from a fresh snapshot (the
                # retry's path, at once). Before, the position was held for good, the agent stopped.
                self._flattening = True
                self._flatten_ts = -math.inf
                self._records.append({"type": "flatten_again", "ts": ev.ts, "position": self.tracker.position})

    def _on_other(self, event, cmds: list) -> None:
        """The events without a handler of their own (cancels' answers, 429s, the venue's own cancels): the tracker's,
        and for a 429 the error count and the snapshot's backoff."""
        t = type(event)  # (acks have their handlers: _on_order_ack, _on_modify_ack)
        self.tracker.on_event(event)
        if t is RateLimited:
            if event.kind == "address":  # (took nothing at the venue: not its slow lane)
                self.budget.note_refused(event)
            self.errors.note(event.ts)
            self.graduation.note_rate_limited(event.ts)
            if event.request in _SNAPSHOT_PARTS and event.for_command != FOR_CANCEL_ALL and self.snapshot_pending \
                    and self.snapshot_retry_ts == math.inf:
                # the snapshot request was refused: no reply will come, so ask again after a short
                # backoff rather than when it is overdue; doubling, but only up to _snapshot_backoff_cap (each
                # second blind after the storm is lost, and a refused request is counted as charged). (A
                # cancel-all's listing, openOrders too, refused says nothing of the snapshot, whose reply may
                # yet come: read as its refusal, the snapshot was asked again a backoff later with the first
                # still out (42 more of the IP's weight, in a minute that had just refused some), and the next
                # refusal waited twice as long. One naming no command, in a journal written before the gateways
                # named it, is the snapshot's, as it was then)
                self.snapshot_retry_ts = event.ts + self._snapshot_backoff_s
                self._snapshot_backoff_s = min(2.0 * self._snapshot_backoff_s, self._snapshot_backoff_cap())
            elif event.request == "scheduleCancel" and event.kind == "address" and self.overlay.cancel_all \
                    and event.at_ts == self._dead_man_armed_until:  # (nan matches neither)
                self._on_arm_refused_in_lane(event.ts)
        if self.stopped:
            if t is CancelRejected:
                if event.reason is _MISSING:
                    o = self.tracker.live_set.get(event.cloid)
                    if o is not None and o.state in _RESTS:
                        # put back as resting (OrderTracker.on_event): its cancel went before its place was answered
                        # and found nothing, its place said resting since. The cancel overtook the place, which rests:
                        # pulled now, not at the next pull (its ack, with the cancel out, sent none: _on_order_ack)
                        cmds.append(CancelOrder(event.cloid))
            elif getattr(event, "resting", False):
                # a place that was in flight when everything was pulled has landed: pull it too
                cloid = getattr(event, "new_cloid", None) or event.cloid
                cmds.append(CancelOrder(cloid))

    def _on_order_ack(self, ev: OrderAcknowledged, cmds: list) -> None:
        """A place acknowledged: its round trip to graduation (the first ack of the order only), then the tracker;
        and one that rests after everything was pulled (in flight at the stop) is pulled too. (One event in seven
        of a stress session is an ack: taken by what is now ``_on_other``, its tests of the event's type and
        getattr's cost each 9 to 12 bytecodes more: bench_bytecodes)"""
        tr = self.tracker
        o = tr.orders.get(ev.cloid)
        if o is not None and o.acked_ts < 0:
            self.graduation.note_ack(ev.ts - o.sent_ts, ev.ts)
        tr.on_event(ev)
        if self.stopped and ev.resting and (o is None or o.live and o.state is not _PENDING_CANCEL):
            # (not one the tracker has seen end since: its cancel's answer, or its fills, came before this one. Pulled
            # again, the venue answered "never placed, already canceled, or filled": chaos_fill_before_first_snapshot's
            # seed 2, an order whose cancel was acknowledged 0.14 s before its place was. Nor one whose cancel, sent
            # before this ack, is still out: the stop's own pull named it, and a second cancel sent now was answered
            # so whenever the first had landed after the place, as it mostly does. Should the first have overtaken
            # the place, its answer says so and the order is pulled then: _on_other)
            cmds.append(CancelOrder(ev.cloid))

    def _on_modify_ack(self, ev: ModifyAcknowledged, cmds: list) -> None:
        """A modify acknowledged: as a place's (``_on_order_ack``), its new order under ``new_cloid``."""
        tr = self.tracker
        o = tr.orders.get(ev.new_cloid)
        if o is not None and o.acked_ts < 0:
            self.graduation.note_ack(ev.ts - o.sent_ts, ev.ts)
        tr.on_event(ev)
        if self.stopped and ev.resting and (o is None or o.live and o.state is not _PENDING_CANCEL):
            # (as _on_order_ack: not one ended since, nor one with a cancel out)
            cmds.append(CancelOrder(ev.new_cloid or ev.cloid))

    def _on_funding(self, ev: FundingPaid, cmds: list) -> None:
        """An hourly funding payment on the position: into the ledger (net PnL, hence the equity the drawdown
        rules watch), and the decision log. Hourly: nothing here is on a per-event path."""
        self.ledger.on_funding(ev.usdc)
        if self._liq_state_ms and ev.time_ms > self._liq_state_ms:  # not in the last snapshot's account
            insort(self._fundings, (ev.time_ms, ev.usdc))
            if self._liq_margin is not None and not self._liq_paid_late(ev.time_ms):
                self._liq_fund(ev.usdc)
        self._records.append({"type": "funding", "ts": ev.ts, "coin": ev.coin, "usdc": ev.usdc, "szi": ev.szi,
                              "rate": ev.rate, "time_ms": ev.time_ms, "position": self.tracker.position,
                              "funding_usd": self.ledger.funding})

    def _on_rejected(self, ev: OrderRejected, cmds: list) -> None:
        """A post-only rejection names the venue's bbo at that moment: fresher than our book feed, so
        the next quotes use it (the venue's own advice: reprice from the embedded bbo)."""
        self.tracker.on_event(ev)
        if ev.cloid == self._flatten_cloid and ev.reason is Reason.IOC_CANCEL and self._flattening:
            self._flatten_on_book = True  # the book fell through it before it landed: again from the next book
        if ev.reason is Reason.SCHEDULE_CANCEL_REFUSED:
            # (a journal written before ScheduleCancelRefused: a refusal that does not say which request it answers,
            # read as the last one's, as it was then)
            self._dead_man_refused(ev.ts, ev.message)
            return
        if ev.reason is not Reason.BAD_ALO_PX:
            # post-only crosses are routine; other rejections feed cascade detection and execution confidence
            self.errors.note(ev.ts)
            self.graduation.note_rejection(ev.ts)
        if ev.reason is Reason.BAD_ALO_PX:
            self._learn_bbo(ev.message)
        elif ev.reason is _REDUCE_ONLY and self.tracker.ro_refused and self.tracker.needs_snapshot:
            # the position is not the venue's (OrderTracker.ro_refused); unless the side's last refusal was not
            # explained by a snapshot either: then its snapshot is put off (OrderTracker.ro_doubt)
            self._request_snapshot(cmds, ev.ts)

    def _on_modify_rejected(self, ev: ModifyRejected, cmds: list) -> None:
        """A modify refused. The order filled or went before it landed: routine, as a cancel that finds
        nothing. Its new order would have crossed: the venue's bbo, as for a place. Anything else counts
        as an error, as a place's rejection does."""
        self.tracker.on_event(ev)
        reason = ev.reason
        if reason is Reason.BAD_ALO_PX:
            self._learn_bbo(ev.message)
        elif reason not in _MODIFY_RACES:
            self.errors.note(ev.ts)
            self.graduation.note_rejection(ev.ts)
            if reason is _REDUCE_ONLY and self.tracker.ro_refused and self.tracker.needs_snapshot:
                self._request_snapshot(cmds, ev.ts)  # (as a place's, _on_rejected)

    def _learn_bbo(self, message: str) -> None:
        m = _BBO.search(message)
        if m:
            self._take_touch(float(m.group(1)), float(m.group(2)))

    def _take_touch(self, bid: float, ask: float) -> None:
        """The venue's touch, newer than the last book (a bbo push, a post-only refusal's text): the quotes' centre
        and post-only bounds until the next book. A side missing (NaN) or a crossed pair changes nothing."""
        if 0.0 < bid < ask:
            self.best_bid, self.best_ask = bid, ask
            self.mid = 0.5 * (bid + ask)

    def _on_quota(self, ev: QuotaStatus, cmds: list) -> None:
        held = self.budget.awaiting_report
        self.budget.on_quota(ev)
        if held and self._quota_held_ts == self._quota_held_ts:
            rec = {"type": "quota_hold", "ts": ev.ts, "state": "released", "held_s": ev.ts - self._quota_held_ts}
            if self._ip_held_ts == self._ip_held_ts:  # the IP weight's hold, said and not yet released, stands too
                rec["still_held"] = _IP_HOLD_WHY
            self._records.append(rec)
        self.cum_volume_usd = ev.cum_volume_usd  # the venue allows the dead-man's switch from $1M traded

    def _on_weight_spent(self, ev: IpWeightSpent, cmds: list) -> None:
        """Requests the core did not send (a quota poll, a reconnect's recovery, the live shutdown's own): in the
        minute's IP weight, and the address budget, as the venue counts them."""
        # (before the session starts, the live set-up's requests, every one answered before the gateway started:
        # a quota poll's count has them)
        # (one naming its orders, a cancel-all's listed cancels: its refusal, naming them, takes it off the slow lane)
        self.budget.note_request(ev.ts, ev.weight, ev.items, answered=not self.started, cmd=ev if ev.cloids else None)
        if ev.request == "userRateLimit":
            self.budget.note_poll()

    def _on_lost(self, ev: ConnectionLost, cmds: list) -> None:
        self.connected = False
        self.reconciled = False
        if self.tracker.live_set:
            cmds.append(CancelAll())  # quoting blind is how stale quotes get picked off
            self._last_pull_ts = ev.ts

    def _on_restored(self, ev: ConnectionRestored, cmds: list) -> None:
        self.connected = True
        self.reconnect_ts = ev.ts
        self.graduation.note_reconnect(ev.ts)
        # resync now, whatever request is out: one sent during the outage was most likely lost with it (a
        # failed REST call reports nothing), and waiting for it to be overdue leaves us blind that long
        self._request_snapshot(cmds, ev.ts, force=True)

    def _on_account_changed(self, ev: AccountChangedByVenue, cmds: list) -> None:
        """A liquidation (or the like): what we hold is no longer what our fills say. Resync at once, and
        count it as an error (a burst of them is a cascade)."""
        self.errors.note(ev.ts)
        self._records.append({"type": "venue_account_change", "ts": ev.ts, "kind": ev.kind, "text": ev.text[:300]})
        self._request_snapshot(cmds, ev.ts, force=True)

    def _snapshot_backoff_cap(self) -> float:
        """The longest wait before a refused snapshot request is sent again: ``snapshot_backoff_cap`` of the config (a
        hook: the scenarios' naive agents put their own here)."""
        return snapshot_backoff_cap(self.cfg)

    def _request_snapshot(self, cmds: list, ts: float, force: bool = False) -> None:
        """Ask for the venue's account state, unless a request is out and not yet overdue (its reply
        can be lost to a 429 or a dropped connection: then ask again, never wait forever; a refusal we
        are told of is retried sooner, see ``snapshot_retry_ts``). ``force``: whatever is out (a
        reconnect, a liquidation notice, a flatten that needs what is left)."""
        if not force and self.snapshot_pending and ts < self.snapshot_retry_ts and (
                self.snapshot_retry_ts != math.inf or ts - self.snapshot_sent_ts < 2.0 * self.cfg.risk.ack_timeout_s):
            return  # (a refusal we were told of waits for its backoff alone: the overdue bound is for a lost reply,
            # and with a short ack_timeout_s it sent a refused request again as often as that, whatever the backoff)
        if not force and not self.budget.ip_allows_snapshot(ts, SNAPSHOT_SENT_WEIGHT):
            return  # the minute's IP weight is nearly spent: what is left is the cancels' (asked again next tick)
        cmds.append(RequestAccountSnapshot())
        self.snapshot_pending = True
        self.snapshot_sent_ts = ts
        self.snapshot_retry_ts = math.inf

    def _on_snapshot(self, ev: AccountSnapshot, cmds: list) -> None:
        if ev.ip_weight > SNAPSHOT_SENT_WEIGHT:
            # its fill query's rows (1 per 20) and pages past the first, known only now: counted in the minute's weight
            self.budget.note_request(ev.ts, ev.ip_weight - SNAPSHOT_SENT_WEIGHT)
        if not self.ledger.anchored:
            # the first: the ledger (hence equity, drawdown, safety) starts from the venue's position
            self.ledger.anchor(ev.position, ev.entry_px, ev.last_fill_tid)
        self.tracker.on_event(ev)
        if 0.0 <= ev.requested_ts < self.reconnect_ts:
            # asked before the last reconnect (before the outage, or during it) and answered after: its
            # account can miss what the outage did (fills whose pushes were lost with the socket). The
            # tracker keeps what it can (the listing is no older than what it had), but this is not the
            # resync the reconnect asked for, which is still out: quoting waits for that one
            self._records.append({"type": "snapshot", "ts": ev.ts, "position": ev.position,
                                  "open_orders": len(ev.open_orders), "asked_before_reconnect": True})
            return
        self.snapshot_pending = False
        self._snapshot_ts = ev.ts
        self._liq_snapshot_px = self._liq_px = ev.liquidation_px if ev.position else 0.0
        self._liq_long = ev.position > 0.0
        self._liq_from_snapshot(ev)
        self._snapshot_backoff_s = _SNAPSHOT_RETRY_S
        if self.ledger.pending:
            self._settle_excess(ev)
        self.reconciled = self.connected
        if self.reconciled and (self._flatten_due or (self._flatten_goal and not self._flattening
                                                      and self.lots_of(self.tracker.position))):
            # a Kill before the position was known: its side is known now; or one that was done, and the venue
            # says a position is left (a fill whose push was lost)
            self._flatten(cmds, ev.ts)
        if self.stopped and not ev.open_orders and not self.tracker.live_set:
            # stopped and the venue lists none of ours: a switch left armed would fire on nothing, using one of
            # the day's ten firings (a restart-heavy day would run out); a clear unanswered goes again (the live
            # shutdown's snapshots, its timer stopped), or past the switch's time is said expired
            if ev.ts > self._dead_man_doubt_ts:
                self._dead_man_settle(ev.ts, cmds)
            self._keep_dead_man_cleared(cmds, ev.ts, "stopped, and the venue lists none of our orders")
        self._records.append({"type": "snapshot", "ts": ev.ts, "position": ev.position,
                              "open_orders": len(ev.open_orders)})
        late = self.tracker.foreign_late
        if late:
            # orders it did not place appeared after its first look at the account: another client trading the coin
            # on this account (each would cancel the other's orders, and skew on the other's fills), someone placing
            # by hand, or an order of ours long forgotten and still resting. Counted and cancelled like any; said.
            self._records.append({"type": "foreign_orders", "ts": ev.ts, "n": len(late),
                                  "orders": [f"{o.side.name} {o.sz:g}@{o.px:g} {o.cloid}" for o in late[:10]]})
            late.clear()

    def _settle_excess(self, ev: AccountSnapshot) -> None:
        """The overfills' unbooked excess, real or a copy: the snapshot's position says (Ledger.settle_excess), if
        the tracker took it (not one a newer overtook), asked after the last overfill (``overfill_untold``, not
        ``needs_snapshot``: a reduce-only refusal since the request went out asks for another snapshot, which says
        nothing more of the overfill), and the fill at its watermark delivered (one in its position not yet booked
        would read as an excess). The verdict goes to the log."""
        tr = self.tracker
        wm = ev.last_fill_tid
        if tr.overfill_untold or tr.tid_watermark != wm or tr.snapshot_venue_ms != ev.venue_time_ms \
                or wm not in tr.seen_tids:
            return
        led = self.ledger
        unbooked, position = led.unbooked, led.position
        verdict = led.settle_excess(tr.position, wm)
        if verdict is not None:
            self._records.append({"type": "overfill_settled", "ts": ev.ts, "excess": verdict, "unbooked": unbooked,
                                  "venue_position": tr.position, "ledger_position": position,
                                  "left": led.unbooked, "pending": led.pending})

    # ------------------------------------------------------------------ the quote cycle

    def _on_timer(self, ev: Timer, cmds: list) -> None:
        ts = ev.ts
        if ev.name == AFTER_CYCLE:
            self._after_cycle(ts)
            return
        if self._after_due == self._after_due:  # the last cycle's after-cycle work never came (a driver
            self._after_cycle(self._after_due)   # that sends only cycles): done now, late but not lost
        self._after_due = ts
        self._ticks_since_requote += 1
        tr = self.tracker
        stale_orders = tr.check_timeouts(ts, self._ack_timeout_s)
        if stale_orders or tr.needs_snapshot or (self.snapshot_pending and not self.reconciled) \
                or (ts - self._snapshot_ts >= self._audit_interval_s and self.connected
                    and self._snapshot_ts > -math.inf):  # the audit: from the first snapshot on
            self._request_snapshot(cmds, ts)
        degraded = self.validation.degraded_count  # models degraded on evidence (as of the last mid), read twice
        self._update_safety(ts, cmds, degraded)
        if self._flattening and not self._flatten_on_book and ts - self._flatten_ts >= self.cfg.risk.pull_retry_s:
            o = tr.orders.get(self._flatten_cloid) if self._flatten_cloid else None
            if self._flatten_held and not self._flatten_may_spend(ts):
                # held by the address budget (_flatten), which only the venue's quota reports can grow: asking
                # for a snapshot every pull_retry_s meanwhile would spend the IP weight the pulls need (a
                # forced one is 42 of the minute's 1200, every 2 s), to learn nothing the budget allows acting on
                self._flatten_ts = ts
            elif o is None or not o.live:
                # the last IOC is done and the position is not flat (a book falling through it, a partial
                # fill): ask the venue what is left, and flatten that when the snapshot says (_on_snapshot)
                self._flatten_due = True
                self._flatten_ts = ts
                self._request_snapshot(cmds, ts, force=True)
        # demotion triggers every tick, in the cycle: demotion is immediate (the escalator's level as it is: an int)
        g = self.graduation
        g.check_triggers(ts, self.equity, self.safety.level, degraded)
        if g.records:
            self._records.extend(g.records)
            g.records.clear()
        if self.stopped or not self.connected:
            # (a Kill's arm held, _arm_held_ts not nan: it may go before the pulls again; with none left, not at all)
            if not (self._arm_held_ts == self._arm_held_ts and self._send_held_arm(ts, cmds)) and tr.live_set:
                self._pull_again(ts, cmds)
        if ts >= self._dead_man_fire_by > -math.inf and self._dead_man_lapses:
            self._dead_man_lapsed(ts)  # (before the pauses below: a stopped or blind agent's switch fires as well)
        if ts > self._dead_man_doubt_ts:
            if self.reconciled or self.stopped:
                self._dead_man_settle(ts, cmds)
            else:  # (blind: the heartbeat pauses, so that the switch may fire; the last arm alone, for its own time)
                self._dead_man_settle_blind(ts, cmds)
        if not self.reconciled or self.stopped:
            self._pull_paper()
            if self.stopped and not tr.live_set and (self._dead_man_clear_ts < math.inf or (
                    self.reconciled and self._dead_man_unacked_ts == math.inf)):
                # the clear a stop sent, unanswered: again, as the heartbeat's; or, reconciled, none of ours left (as
                # _nothing_to_arm_for reads it) and no arm's answer awaited: the Kill's arm cleared, else it fires on
                # nothing (budget permitting). (Not while its answer is out: the venue refuses an arm below its volume
                # rule, and a clear sent before the refusal came was refused too, a request for nothing)
                self._keep_dead_man_cleared(cmds, ts, "stopped, and no order of ours is left")
            return  # (unreconciled, the heartbeat pauses too: the switch pulls what a long outage left resting)
        if not self.cum_volume_usd < self._dead_man_min_volume:  # (below it the heartbeat has nothing to do: its
            self._dead_man_heartbeat(ts, cmds)                  # own first test, asked here without the call)
        stale_book = (ts - self.last_book_ts) > self._stale_book_s
        quiet = stale_book and self.connected  # the socket up and no book: a feed gone quiet, or slower than we assume
        if quiet is not self._feed_quiet:
            self._feed_quiet = quiet
            if quiet and self.last_book_ts > -math.inf:
                self.stale_book_episodes += 1
        if stale_book or not self.connected:
            if tr.live_set and not any(isinstance(c, CancelAll) for c in cmds):
                # not those being cancelled, nor those whose cancel the venue answered "never placed, already
                # canceled, or filled" (a snapshot settles them): asked again at every tick, six such orders cost
                # 444 request items in 40 s of a quiet feed, the address budget spent when it was most needed. One whose
                # cancel timed out unanswered is asked again (it may still rest): once per ack timeout, not each tick
                live = [o for o in tr.live_orders()
                        if o.state is not _PENDING_CANCEL and not o.cancel_answered]
                if live:
                    # no more than the budget lets cancels send: past its limit, the venue's slow lane alone
                    live = live[:self.budget.pull_room(ts, len(live))]
                    if live:
                        cmds.append(Batch(tuple(CancelOrder(o.cloid) for o in live)))
            self._pull_paper()
            return
        cycle_s = self._cycle_s
        budget = self.budget
        due = budget.requote_interval_s(cycle_s) - 1e-9
        if ts - self.last_requote_ts < due and self._ticks_since_requote * cycle_s < due:
            ov = self.overlay
            if ov.single_side is not None or ov.reduce_only:  # Orange and above
                if tr.live_set:
                    self._pull_forbidden(ts, cmds)
                # past the cap (Red): the exits' request goes as the slow lane opens, not at the next requote
                if (self._lane_waits is None and budget.used < budget.cap) or not self._lane_due(ts, cmds):
                    return
            else:
                return
        if self.overlay.reduce_only and budget.used >= budget._cancel_cap and tr.live_set:  # (Orange and above)
            # past the cancels' limit reconcile sends nothing (no cancel headroom, no place): what the level forbids
            # (Red, there: all but its exits) goes in the slow lane, as between requotes. With budget.max_stretch 1
            # every tick is a requote, and a Red agent's orders rested, to fill, until a quota report freed room
            self._pull_forbidden(ts, cmds)
        # the IP weight nearly spent: the cycle's cancels alone, in the share kept for them (one action, weight 1)
        # (or the venue's quota not yet reported, with a poll out: RequestBudget.awaiting_report)
        ip_ok = budget.ip_allows_quoting(ts)
        cancel_only = not ip_ok or budget.awaiting_report
        if ip_ok == (self._ip_held_ts == self._ip_held_ts):  # held now and not before, or the other way
            self._ip_hold(ts, ip_ok)
        if budget.awaiting_report and self._quota_held_ts != self._quota_held_ts:  # (nan: not yet said)
            # said once, when it starts, and once when the report ends it (_on_quota): seconds of cancels alone
            # after a start whose first poll was refused were otherwise unexplained in the log
            self._quota_held_ts = ts
            self._records.append({"type": "quota_hold", "ts": ts, "state": "held", "why": _QUOTA_HOLD_WHY})
        if cancel_only and not (tr.live_set and budget.ip_allows_cancels(ts)):
            return
        if self.overlay.reduce_only and (budget.used >= budget.cap or self._lane_waits is not None):  # (Red there)
            self._lane_check(ts, cmds, cancel_only)
        self.last_requote_ts = ts
        self._ticks_since_requote = 0
        self.cycle += 1
        # CycleDecisionRecord(self.cycle, ts) without its __init__'s defaults: _quote sets every other field (seen,
        # steps, signals, quotes, before any return) and the commands are set below; the note is _quote's at Shadow only
        rec = _new_object(CycleDecisionRecord)
        rec.cycle = self.cycle
        rec.ts = ts
        rec.note = ""
        cmds.extend(self._quote(ts, rec, cancel_only))
        rec.commands = self._cycle_cmds = cmds  # described when written, off the hot path
        self._records.append(rec)
        self._recent.append(rec)  # the last few, for a postmortem

    def _ip_hold(self, ts: float, released: bool) -> None:
        """An ``ip_weight_hold`` record: quote cycles held to cancels by the last minute's IP weight (past
        ``budget.ip_quote_frac`` of ``ip_weight_per_minute``, the rest kept for cancels and snapshots), or released,
        after how long; said once each way, not each cycle, as the first quota report's hold (``quota_hold``)."""
        budget = self.budget
        used, limit = budget.ip_used(ts), budget.cfg.ip_quote_frac * budget.cfg.ip_weight_per_minute
        if released:
            rec = {"type": "ip_weight_hold", "ts": ts, "state": "released", "held_s": ts - self._ip_held_ts,
                   "ip_used": used, "ip_quote_limit": limit}
            if budget.awaiting_report:  # quoting does not resume yet: the first quota report holds it too
                rec["still_held"] = _QUOTA_HOLD_WHY
            self._records.append(rec)
            self._ip_held_ts = math.nan
        else:
            self._ip_held_ts = ts
            self._records.append({"type": "ip_weight_hold", "ts": ts, "state": "held", "why": _IP_HOLD_WHY,
                                  "ip_used": used, "ip_quote_limit": limit})

    def _lane_check(self, ts: float, cmds: list, cancel_only: bool) -> None:
        """At a requote: past the address cap a place or modify passes only in the venue's slow lane, and this one's
        exits may take it (``_lane``, which reconcile is given) where ``_exit_lane`` says; whether it was shut, and the
        position, kept (``_lane_waits``) for a requote as it opens (``_lane_due``). Within the cap, neither."""
        budget = self.budget
        if budget.used >= budget.cap:
            lane = self._lane = not cancel_only and self._exit_lane(ts, cmds)
            # (held to cancels, the lane is not what the exits wait for: a requote each tick as it stood open)
            self._lane_waits = (not (lane or cancel_only), self.tracker.position)
            if lane:  # (the quote cycle's memo holds no lane: what it sent without one, it must be asked again)
                self._reconciled_state = None
        else:
            self._lane = False
            self._lane_waits = None

    def _lane_due(self, ts: float, cmds: list) -> bool:
        """Between requotes past the cap: a requote now, as the slow lane opens for the exits (``_exit_lane``), where
        the last requote found it shut or the position has moved since (an exit filled: what is left may need one),
        or, at Red, was made within the cap by the core's count (``_lane_waits`` None: a quota report put it past since,
        and what that requote sent past the venue's cap was refused). Past the cap the requotes stretch to
        ``budget.max_stretch`` cycles (10 s), and the lane opens 11 s after the last request
        (``budget.exit_lane_margin_s``): at the requotes alone, one in two found it shut; and told of the cap between
        two requotes, the exits waited for the second, the lane open 7 s of the 10 (tests/agent/test_slow_lane.py's
        red_with_exits at 25,000 used of the 10,000 cap)."""
        budget = self.budget
        if budget.used < budget.cap:  # (a quota report freed room: the requotes place as ever)
            self._lane = False
            self._lane_waits = None
            return False
        if self._lane_waits is None:
            return self.overlay.reduce_only and self._exit_lane(ts, cmds)
        waits, pos = self._lane_waits
        return (waits or pos != self.tracker.position) and self._exit_lane(ts, cmds)

    def _exit_lane(self, ts: float, cmds: list) -> bool:
        """Past the address cap, whether the venue's slow lane is open at ``ts`` for the quote cycle's exits: its one
        request not taken by a request sent since (``RequestBudget.lane_open``, which a pull let through this tick
        times too) nor by one of this tick's already made (a pull, a re-arm: the pulls come first). Past the cap no
        place nor modify went, and a position whose exits had filled short of it rested with no exit until a quota
        report freed room, the lane open and unused (reconcile's rule 7)."""
        budget = self.budget
        if not budget.lane_open(ts, budget.cfg.exit_lane_margin_s):
            return False
        n_live = len(self.tracker.live_set)
        return not any(request_cost(c, n_live)[1] for c in cmds)

    def _pull_forbidden(self, ts: float, cmds: list) -> None:
        """Between requotes (stretched up to 20 cycles as the address budget runs low), cancel at once the orders
        the safety level now forbids: a side it no longer quotes, or, at Red, anything not reduce-only. Left to
        the next requote, a bid rested and filled for 7 s at Red, the level meant to stop adding risk (the cycle
        that sends them out also books them: an order already being cancelled is not asked again). No more than
        the budget lets cancels send (``RequestBudget.pull_room``): past its limit, the venue's slow lane alone."""
        forbids = self.overlay.forbids
        gone = [o for o in self.tracker.live_orders() if o.state in _PULLABLE and forbids(o.side, o.reduce_only)]
        if gone:
            gone = gone[:self.budget.pull_room(ts, len(gone))]
        if gone:
            cmds.append(Batch(tuple(CancelOrder(o.cloid) for o in gone)) if len(gone) > 1
                        else CancelOrder(gone[0].cloid))

    def _pull_paper(self) -> None:
        """Where real quotes are pulled (connection lost, book stale, not reconciled, stopped), Shadow's paper
        quotes go too: left up, the first prints after an outage paper-filled them at their old prices, fills
        no quote the agent would have held could have made (the next cycle sets them again)."""
        paper = self.graduation.paper
        if paper.bids or paper.asks:
            paper.clear()

    def _update_safety(self, ts: float, cmds: list, degraded: int) -> None:
        """Every timer tick, whatever the data: the ladder moves on stale data and lost connections too."""
        led = self.ledger
        mid = self.mid
        collateral = self._collateral
        # the session's net leaves out what the position the session started on had gained or lost before it: a
        # live run's collateral_usd (the account's value at the start) has that already, and counted again it read
        # as a drawdown (a Kill selling the position at its loss) or hid one
        equity = collateral + led.net(mid) if mid == mid else math.nan
        self.equity = equity
        # before the first snapshot the tracker's position is fills only, not the account's: no position rule
        pos = self.tracker.position if led.anchored else 0.0
        # SafetyInputs(...) without the NamedTuple's Python-level __new__ (every field given, in order). The error
        # count asked only when the window holds any (ErrorBurstCounter.count's own first test, 0 then: most ticks)
        errors = self.errors
        inputs = _tuple_new(SafetyInputs, (ts, equity, collateral, pos, self._max_position,
                                           degraded, self.reconnect_ts, errors.count(ts) if errors._ts else 0,
                                           self.budget.headroom_frac, ts - self.last_book_ts, self.regime._p_stressed))
        safety = self.safety
        before = safety.level
        level = safety.update(inputs)
        # the overlay is a pure function of the level and the position: most ticks see both unchanged
        if level is not self._overlay_level or pos != self._overlay_pos or self.overlay is not self._overlay_made:
            self.overlay = self._overlay_made = overlay_for(level, pos, self.cfg.safety)
            self._overlay_level = level
            self._overlay_pos = pos
        if level != before:
            t = safety.history[-1] if safety.history else None
            self._records.append({"type": "safety", "ts": ts, "from": int(before), "to": int(level),
                                  "reason": t.reason if t else ""})
        if self.overlay.cancel_all and not self.stopped:
            # Kill: pull everything now (cancels may spend the reserved quota) and stop quoting;
            # flatten through the book with a reduce-only IOC when configured
            self.stopped = True
            cmds.append(CancelAll(self.tracker.pullable()))  # (those known cancelled at once, as at shutdown)
            self.budget.pull_sent(ts, len(self.tracker.live_set))  # (past the cancels' limit, in the slow lane)
            self._last_pull_ts = ts
            # arm the venue's dead-man's switch too: if our cancels are lost, the venue pulls the rest
            # (the venue refuses it for accounts with little volume; the refusal is logged, not fatal). Past the
            # cancels' limit only in the slow lane, which the pull has just taken: held (_kill_arm). Not armed when no
            # order of ours can remain (_nothing_to_arm_for)
            if ts >= self._dead_man_retry_ts and not self._nothing_to_arm_for():
                self._kill_arm(cmds, ts, len(self.tracker.live_set))
            self._records.append(self._postmortem(ts))
            self._flatten_due = self.cfg.safety.kill_action == "flatten"  # the overlay's flag needs a known position
            self._flatten_goal = self._flatten_goal or self._flatten_due
            if self._flatten_due and self.reconciled:
                self._flatten(cmds, ts)  # otherwise when a snapshot has reconciled the position (_on_snapshot)

    def _flatten(self, cmds: list, ts: float) -> None:
        """Kill's exit through the book: a reduce-only IOC for the whole position, its side taken from a
        reconciled position only (one not yet reconciled can have the wrong sign), priced 1% through the
        touch. Until the position is flat another follows, every ``risk.pull_retry_s``, for what a fresh
        snapshot says is left, from the latest book: in a crash the book can fall through the first before
        it lands, and a flatten that gives up after one try holds the position through the rest of the
        move (to a liquidation, which the snapshot would show).

        Reduce-only is no exemption from the worst-case limit: same-side orders still resting or being
        cancelled can fill after it, so the IOC takes only the room they leave under ``risk.max_position``
        (all of it when none rest) and the retries take the rest once they are gone."""
        self._flatten_due = False
        pos = self.tracker.position
        lots = self.lots_of(pos)
        if lots and self.best_bid == self.best_bid:
            px = self.best_bid * 0.99 if pos > 0 else self.best_ask * 1.01
            if lots < abs(pos) and refused_under_minimum(lots, px, True, abs(pos),
                                                         self.cfg.quoting.ladder.min_notional_usd):
                lots = 0.0  # its lots worth less than the venue's minimum: a partial close, refused; the rest below one
        self._flattening = bool(lots)
        if pos and not lots:
            self._below_lot(ts, pos)
        elif lots and self.best_bid == self.best_bid:
            side = Side.SELL if pos > 0 else Side.BUY
            sz = self._flatten_size(pos, px)
            self._flatten_ts = ts
            self._flatten_cloid = None  # none out: the retry asks for a snapshot, then tries again
            from_reserve = False
            if sz and not self.budget.can_spend(1):
                # an IOC is a place: the address budget's reserve is the cancels' (the pulls a Kill re-sends
                # until the venue confirms them). A falling book refuses IOC after IOC, each one spent; with
                # the budget down to the reserve the retries wait (every pull_retry_s) until it grows, or until
                # no order is left to cancel (_flatten_may_spend)
                from_reserve = self._flatten_may_spend(ts)
                if not from_reserve:
                    sz = 0.0
                if not self._flatten_held:  # said once, when it starts
                    self._flatten_held = True
                    self._records.append({"type": "flatten_held", "ts": ts, "position": pos,
                                          "headroom": self.budget.headroom, "reserve": self.budget.reserve})
            if sz:
                if from_reserve:
                    self._reserve_ioc_ts = ts  # (still held: the next from the reserve waits its turn)
                else:
                    self._flatten_held = False
                self._flatten_cloid = self.cloids.next()
                cmds.append(PlaceOrder(self._flatten_cloid, side, round_px_to_venue(px, self.sz_decimals, -side.value),
                                       sz, Tif.IOC, True))
        elif lots:
            # no book yet to price the IOC from: at the first one. (The retry's snapshot, every pull_retry_s,
            # learned nothing a book would not, at 42 of the minute's 1200 IP weight each: past the limit.)
            self._flatten_on_book = True
            self._flatten_ts = ts

    def lots_of(self, pos: float) -> float:
        """What of ``pos`` an order can close: |pos| in whole lots of the coin's size decimals now, rounded down. A
        position opened on a finer lot (the venue lowered the decimals under it: agent/ledger.py keeps it) has a
        remainder below one lot that no order closes: the venue takes sizes on its lot only (rounded to it, the
        flatten's order for 0.00003 BTC at 4 decimals was of 0.0, and what a reduce-only order for a whole lot does
        against less than one is not known). Counted in whole units of the finest lot a position is held on
        (``FINEST_LOT``), the float residue of the tracker's sum of fills snapped off first: floored with an epsilon
        of 1e-9 lots, a residue below of more (32.06319 + 33.83685 BTC read 65.90003999999999) came out one lot
        short, 65.90003, and the flatten's IOC left a whole lot for its retry, a forced snapshot later."""
        return whole_lots(pos, self.sz_decimals)

    def _below_lot(self, ts: float, pos: float, by: str = "the flatten") -> None:
        """``by`` (the flatten, which ends there; Shadow's or the safety level's exits, which send nothing for it)
        meets a position no order can close (``lots_of``): said, once for each such position, with what the
        operator must do. Taken for one still to close, the flatten tried it again every ``risk.pull_retry_s``, each
        try a forced snapshot, for ever: a Kill's work never done, a stop's flatten never over; the exits said
        nothing of it, and the position was held for the run."""
        if abs(pos - self._below_lot_said) <= 1e-12:  # (the tracker's sum of fills: its float residue is no change)
            return
        self._below_lot_said = pos
        self._records.append({"type": "sub_lot_position", "ts": ts, "coin": self.cfg.session.coin, "position": pos,
                              "lot": round(self.lot, self.sz_decimals), "lots": self.lots_of(pos), "by": by})

    def _flatten_may_spend(self, ts: float) -> bool:
        """Whether a flatten IOC may go now: above the cancel reserve, always; within it, once no order is left
        that its pulls may need to cancel, one IOC every ``_RESERVE_IOC_S`` (the pace the venue itself lets an
        exhausted budget through at), down to ``_RESERVE_KEEP`` items. A stopped agent trades no volume, so its
        budget never grows back: waiting for that held the position through the whole move."""
        b = self.budget
        if b.can_spend(1):
            return True
        return (not self.tracker.live_set and b.headroom > _RESERVE_KEEP
                and ts - self._reserve_ioc_ts >= _RESERVE_IOC_S)

    def _flatten_size(self, pos: float, px: float) -> float:
        """The flatten IOC's size: the whole position on the venue's size grid (a sum of fills carries float
        residue, and the venue refuses a size off its grid), or the room the other same-side orders leave
        under the limit; 0 when that is none, or a partial exit under the venue's minimum."""
        wc_long, wc_short = self.tracker.worst_case_positions()
        room = self.cfg.risk.max_position - (wc_long if pos < 0 else -wc_short)
        whole = self.lots_of(pos)  # (rounded up, a reduce-only order for more than the position: not known to fill)
        sz = whole if room >= whole else round(math.floor(room / self.lot + 1e-9) * self.lot, 10)
        if sz <= 0.0 or refused_under_minimum(sz, px, True, whole, self.cfg.quoting.ladder.min_notional_usd):
            return 0.0
        return sz

    def _pull_again(self, ts: float, cmds: list) -> None:
        """Blind (socket down) or stopped (Kill, shutdown) with orders we still count as live: the pull
        that was sent may have been lost in transport (a REST call failing during an outage gives no
        answer at all). Send it again every ``risk.pull_retry_s`` until the orders are confirmed gone;
        after a Kill, re-arm the dead-man's switch with it. No more than the budget lets cancels send
        (``RequestBudget.pull_room``): past its limit, one request in the venue's slow lane. Sent every 2 s there,
        about 4 of every 5 were refused, an error each (a stop's pulls, 8 refusals of 9 before the lane let one
        through; a Kill's, 16 of 16 in 20 s, the orders left to the dead-man's switch)."""
        if ts - self._last_pull_ts < self.cfg.risk.pull_retry_s or any(isinstance(c, CancelAll) for c in cmds):
            return
        live = self.tracker.live_set
        # by name, all but the orders the venue has said are gone (TrackedOrder.gone_at_venue): asked again, each is
        # answered "never placed, already canceled, or filled" again, and only a snapshot settles whether it filled. In
        # ws_outage_during_move's outage (seed 1) three such orders were cancelled again at each of seven pulls
        # (nor, the socket up, those whose cancel is out: OrderTracker.pullable. Sent again once timed out, stale)
        known = self.tracker.pullable(not self.connected)
        # (the socket up, an order whose cancel is out: a cancel-all's listing, waiting only for what it names, would
        # list it with that cancel on its way, to cancel it again. With nothing else to name no pull goes, as for one
        # the lane holds: b1cabb5c's sent a cancel-all naming none, which listed those, and its re-arm, past the
        # cancels' limit, was counted held every pull_retry_s with no pull; they are pulled as their cancels time out)
        out = self.connected and any(o.state is _PENDING_CANCEL for o in live.values())
        if out and not known:
            return
        n = len(known)
        room = self.budget.pull_room(ts, n) if n else 0
        if n and not room:
            # held: the slow lane not yet open, asked again at the next tick (it opens at its own time: tried again
            # pull_retry_s on, the pull waited up to 2 s past it). Its re-arm would be held too (past the cap)
            return
        self._last_pull_ts = ts
        self._pulls += 1
        known = known[:room]
        # by cloid (one request) for what we know of; every other time a cancel-all as well (it needs two
        # requests, the open-orders query first, but also catches what we do not know of): when both fit. The two as
        # one cancel-all naming what we know of (CancelAll.known), whose listing waits for their answers: sent side
        # by side, the listing raced the cancels by name and listed what they were about to cancel, to cancel it again
        n = len(live)  # (the cancel-all's test counts every order still live, those gone at the venue too: it goes
        if not n or (not out and self._pulls % 2 == 0 and self.budget.cancel_headroom >= 2 * n):  # every other pull)
            cmds.append(CancelAll(known))
            sent = n  # the address items sent before the re-arm below
        elif known:
            cmds.append(Batch(tuple(map(CancelOrder, known))) if len(known) > 1 else CancelOrder(known[0]))
            sent = len(known)
        else:
            sent = 0
        # past the cancels' limit the lane's one request is the pull's (a re-arm sent with it raced it there: it lost at
        # 51 s, the Kill's pull passing at 61 s), and the one armed at the Kill stands meanwhile (_kill_arm)
        if self.overlay.cancel_all and ts >= self._dead_man_retry_ts and not self._rearms_spent(ts):
            self._kill_arm(cmds, ts, sent)

    def _nothing_to_arm_for(self) -> bool:
        """At a Kill, whether no order of ours can remain for the switch to cancel: reconciled (a snapshot since the
        socket last came up: an order the venue holds that the core does not know of is one it lists, taken in as
        live) and none live (``tracker.live_set``: a place in flight or unanswered counts, as ``_send_held_arm``
        counts it). The Kill's cancel-all still lists the venue's orders and pulls any it finds; a snapshot turning
        one up makes it live, and the pulls again re-arm with it (``_pull_again``). Armed anyway, a stopped core sends
        no re-arm, and the switch fired ``risk.dead_man_s`` on, on nothing: one of the venue's ten triggers a day
        (feb09_kill_switch's seeds 1, 2, 5, 9, 11 and 12, no order live at the Kill: armed at 22.5 s, fired at 32.5 s;
        a clear is no help past the cap: it needs the slow lane, which the arm took as it passed, until its time)."""
        return self.reconciled and not self.tracker.live_set

    def _kill_arm(self, cmds: list, ts: float, ahead: int) -> None:
        """A Kill's arm of the dead-man's switch (at the Kill, and with its pulls again), ``ahead`` address items of
        this tick's sent before it: within the cancels' limit it goes; past it only in the venue's slow lane
        (``RequestBudget.may_arm``), which is the pulls' there: held, counted (``dead_man_arms_held``) and said once a
        hold (a ``dead_man_held`` record). Sent there, an arm that landed first took the lane's one request, and the
        pull behind it was refused for 10 s. (Between the cap and the limit the pulls need no lane: the arm goes, and
        the venue takes it when its lane is open; but not within ``slow_lane_s`` of a request of ours of an earlier
        tick, which took the lane as it passed: held there too.) A hold is sent as the lane opens while orders of
        ours are left to pull, and not once none is (``_send_held_arm``)."""
        budget = self.budget
        # (between the cap and the cancels' limit, held within a lane period of a request of ours of an earlier tick:
        # feb09_kill_switch's seeds 6, 7 and 8 sent theirs so, to be refused. This tick's pull races it: the arm lands
        # first as often as not, and one refused is held then, _on_arm_refused_in_lane)
        if budget.may_arm(ts, ahead):
            self._arm_held_ts = math.nan
            self._arm_dead_man(cmds, ts, self.cfg.risk.dead_man_s)
            return
        lane_s = budget.cfg.slow_lane_s
        used = budget.used + ahead
        self._hold_arm(ts, used, f"past the cap ({used}, the cap {budget.cap}) the venue's slow lane lets one request "
                                 f"through every {lane_s:g} s, and a request of ours took it "
                                 f"{ts - budget.last_request_ts(ts):.1f} s ago"
                       if used < budget._cancel_cap else
                       f"the address budget is past the cancels' limit ({used}, the cap {budget.cap}): the venue's "
                       f"slow lane lets one request through every {lane_s:g} s, which the pulls take")

    def _on_arm_refused_in_lane(self, ts: float) -> None:
        """A Kill's arm refused for the address budget (past the cap, the venue's slow lane taken: the Kill's cancels by
        name landed before it, feb09_kill_switch's seed 3): held as ``_kill_arm`` holds one, and sent as the lane opens
        (``_send_held_arm``). Left as it was, nothing sent it again once the orders were gone, and the Kill went without
        its switch."""
        self._dead_man_armed_until = -math.inf  # (refused: it stands nowhere; its late answer matches nothing)
        self._dead_man_unacked_ts = math.inf
        # the switch is as the venue's last arm taken left it: the refused one's time kept as the latest it may fire, a
        # stopped core whose orders were gone said it "lapsing ... fires at" that time, and then "expired ... it fired",
        # of a switch never armed (feb09_kill_switch's seed 3)
        self._dead_man_standing(ts)
        budget = self.budget
        self._hold_arm(ts, budget.used, f"refused by the venue's slow lane (past the cap: {budget.used}, the cap "
                                        f"{budget.cap}), a request of ours landing first")

    def _hold_arm(self, ts: float, used: int, why: str) -> None:
        """A Kill's arm held (``_kill_arm``, ``_on_arm_refused_in_lane``): counted (``dead_man_arms_held``), and said
        once a hold (a ``dead_man_held`` record, ``why`` it is held); sent as the lane opens (``_send_held_arm``)."""
        self.dead_man_arms_held += 1
        if self._arm_held_ts != self._arm_held_ts:  # (nan: the first of this hold)
            self._arm_held_ts = ts
            self._records.append({
                "type": "dead_man_held", "ts": ts, "request": "arm", "used": used, "cap": self.budget.cap,
                "why": f"{why}; not armed, the switch {self._dead_man_state} as it was, until the lane opens "
                       f"(and not once no order of ours is left: it would fire on nothing)"})

    def _send_held_arm(self, ts: float, cmds: list) -> bool:
        """A Kill's arm held (``_kill_arm``): sent as the slow lane opens for it, by the core's clock with the exits'
        margin (the venue times the lane from each request's landing), and no request of this tick's in it. Whether
        the pulls again wait for it this tick (it goes now, or the lane is kept free for it).

        No order of ours left (``tracker.live_set`` empty): not sent, and kept while none turns up. A stopped core sends
        no re-arm, so an arm then fires ``risk.dead_man_s`` on, on nothing: one of the venue's ten triggers a day
        (feb09_kill_switch's seed 3, every order gone by the Kill's cancels and a snapshot listing none, armed at
        93.5 s and fired at 103.5 s). The switch is for orders the core cannot pull, and with none left there are none
        it could cancel: a place in flight, or unanswered, is live until the venue answers it or a snapshot taken more
        than an ack timeout (the action's expiresAfter) after its send lists it not, and so is a cancel not yet
        answered; a resting order a snapshot turns up (one ended wrongly, another program's) is taken in as live, and
        one in flight at the stop that comes to rest is pulled as its push comes. Such an order is pulled again and the
        hold sent with it (below, or ``_pull_again``'s ``_kill_arm``).

        Orders left, between the cap and the cancels' limit, and no switch that may fire (``_dead_man_fire_by``): the
        arm comes before the pulls again. There the pulls pass without the lane, but each that passes times it anew
        (the venue's lane runs from every request that passed, a cancel within its limit too), and a scheduleCancel,
        not a cancel to the venue, passes only in it: pulled again every ``risk.pull_retry_s`` (2 s), the orders held
        the lane shut for as long as their pulls went unanswered, and the Kill had no switch all that time, when the
        switch, which cancels all at its time with no answer of ours needed, is what would pull them. So the pulls
        again wait while the lane opens (11 s from our last request), the arm goes alone, and they resume
        ``pull_retry_s`` after it (not in its tick: one landing first took the lane, and the arm was refused). Past
        the cancels' limit the pulls wait for the lane themselves, and have it first (``_kill_arm``); a switch armed
        before the Kill fires at its time whatever the pulls do."""
        if not self.overlay.cancel_all or ts < self._dead_man_retry_ts or self._dead_man_clear_ts < math.inf:
            return False
        budget = self.budget
        if not (self.tracker.live_set and budget.cap <= budget.used < budget._cancel_cap
                and self._dead_man_fire_by <= ts) or self._rearms_spent(ts):
            return False
        if self._exit_lane(ts, cmds):
            self._kill_arm(cmds, ts, 0)
            self._last_pull_ts = ts  # (the pulls again: risk.pull_retry_s behind the arm)
        return True

    @property
    def last_quotes(self) -> tuple:
        """The last quote cycle's quotes (DesiredQuote: side, px, sz, level, reduce-only; Shadow's on paper),
        empty before the first."""
        return tuple(self._recent[-1].quotes) if self._recent else ()

    @property
    def winding_down(self) -> bool:
        """Stopped, with orders still counted live: its timer ticks resend the pull (``_pull_again``) until the
        venue confirms them gone, so a driver keeps them coming after the end (SimDriver.stop); or with the
        position still to close, when the shutdown asked for it (its retries run on the timer too); or with a
        clear of the dead-man's switch the venue has not acknowledged (``_clear_dead_man_again``, on the timer) that may
        still be sent again, or a scheduleCancel unanswered that may still land (``_dead_man_settle``). A clear refused
        for the venue's policy is not sent again for an hour (``_dead_man_clear_refused``): counted, the stopped core
        was woken every cycle until the switch's time (up to ``risk.dead_man_heartbeat_s`` on) to send nothing, and a
        live stop with ``--flatten-on-stop``, which ticks the core while it winds down instead of reading the venue,
        was held that long, up to its whole grace (the switch reads expired from the events' clock once its time is
        past: ``_lapsed_by_now``)."""
        return self.stopped and (bool(self.tracker.live_set) or
                                 (self._flatten_at_stop and (self._flattening or self._flatten_due)) or
                                 (self._dead_man_clear_ts < math.inf and
                                  self.tracker.now >= self._dead_man_clear_retry_ts) or
                                 self._dead_man_doubt_ts < math.inf)

    @property
    def held_below_lot(self) -> float:
        """The last position a flatten ended on for want of an order that could close it (``lots_of``: below one
        lot of the coin's size decimals now), 0.0 when none did: a driver waiting for the venue to list no position
        takes this one for done (it waited for ever, or out its whole grace), and says it is held."""
        return self._below_lot_said

    @property
    def kill_work_left(self) -> bool:
        """After a Kill: orders still counted live (their pulls go again on the timer), or the position still being
        closed (``safety.kill_action`` flatten: an IOC out, its retry due, one held by the address budget or waiting
        for a book). The live driver ends the run once this is False and a snapshot asked after says the venue
        agrees (``LiveDriver._after_kill``)."""
        return bool(self.tracker.live_set) or self._flattening or self._flatten_due

    @property
    def dead_man_state(self) -> str:
        """The venue's dead-man's switch: off (never armed), armed (the venue acknowledged it), unconfirmed (an arm
        sent that the venue has not acknowledged, and no acknowledged one in force), clearing (a clear sent that the
        venue has not acknowledged: the switch may still fire), cleared (the venue acknowledged the clear), expired
        (its time passed with nothing of ours acknowledged to replace it: a clear never taken, a refusal, a re-arm held
        back or none sent while blind; it fired then, or an unanswered clear took it: ``dead_man_why``), refused,
        lapsing (a re-arm or a clear held back by the address budget: it fires at its time; past it, expired, read
        here from the events' clock too, as a stopped agent with nothing to pull gets no tick to record it on)."""
        s = self._dead_man_state
        if self._lapsed_by_now:
            return "expired"
        if self._dead_man_unacked_ts < math.inf and (s != "armed" or self.tracker.now >= self._dead_man_acked_until):
            return "unconfirmed"
        return s

    @property
    def _dead_man_lapses(self) -> bool:
        """Whether the switch fires by its time (``_dead_man_fire_by``, the latest any arm sent may fire) with nothing
        of ours left to stop it: left to lapse, left standing by a refusal, or armed with no re-arm that lands in
        time; once that time has passed it fired (``_dead_man_lapsed``). (Armed was left out: the switch fired while
        the agent was blind, its heartbeat paused, and the state read armed throughout, the re-arm after reconnecting
        taken, the firing never said.) A clear sent and never acknowledged leaves it to fire too: past its time it is
        spent either way (it fired, or a clear whose answer was lost took it first). (Said only by a tick that sends
        clears, ``_clear_dead_man_again``: a running core blind, which sends none, read clearing past the switch's
        time, and the re-arm taken after reconnecting, orders resting again, went clearing to armed, the firing
        unsaid.)

        With an arm out that the venue has not acknowledged, whatever the state last recorded, it fires if one the
        venue took stands (``_dead_man_acked_until``: an arm taken, the last or one superseded since), and only then:
        the time the arm out names says nothing of its landing. (A refusal that left nothing standing, an arm sent
        after it and never answered, was said to have fired at that arm's time, "the switch the venue took before
        ... stood"; and an arm taken whose answer came after the next was sent, that one lost, was never said to
        have fired when the last state recorded was off, cleared or expired.)"""
        if self._dead_man_unacked_ts < math.inf:
            return self._dead_man_acked_until > -math.inf
        s = self._dead_man_state
        return s == "lapsing" or s == "armed" or s == "refused" or s == "clearing"

    @property
    def _lapsed_by_now(self) -> bool:
        """A switch that fires with nothing of ours to stop it (``_dead_man_lapses``: left to lapse, left standing by a
        refusal for the venue's policy, or armed and not re-armed in time) whose time the events' clock has passed,
        before any tick has recorded it (``_dead_man_lapsed``): ``dead_man_state`` and ``dead_man_why`` read it as
        fired.
        (Refused arms were left out: the arm the venue took before stood, and fired at its time, pulling what rested,
        while the log and the summary said refused for the hour until the next ask.)"""
        return self.tracker.now >= self._dead_man_fire_by > -math.inf and self._dead_man_lapses

    @property
    def dead_man_refusal(self) -> dict | None:
        """For a switch read refused (else None): which request of ours the venue refused last, ``request`` 'arm' or
        'clear', and ``fires_by``, the latest a switch it took before may still fire (the events' clock; None: none
        stands, or its time has passed). The live summary's row said "asked again after an hour" of both, true of
        neither at a run's end (nothing is asked again), nor, running, of a clear's (clears are held back the hour,
        arms are not), and said nothing of a switch left standing. (``_dead_man_refused`` and
        ``_dead_man_clear_refused`` each set their request's hour; ``_dead_man_as_before_refusal`` the latest time a
        switch the venue took may fire.)"""
        if self.dead_man_state != "refused":
            return None
        fires_by = self._dead_man_fire_by
        return {"request": "clear" if self._dead_man_clear_retry_ts > self._dead_man_retry_ts else "arm",
                "fires_by": fires_by if fires_by > self.tracker.now else None}

    @property
    def dead_man_in_doubt(self) -> bool:
        """A scheduleCancel that got no answer may yet land at the venue, or has not been followed by one sent after
        it no longer can (``_dead_man_settle``): the venue's switch may not be as ``dead_man_state`` reads it."""
        return self._dead_man_doubt_ts < math.inf

    @property
    def dead_man_why(self) -> str:
        """Why the switch is as ``dead_man_state`` says, as last recorded (a refusal's: the venue's text). A lapsing
        switch past its time, which ``dead_man_state`` reads as expired before any tick records it (a stopped agent
        with nothing to pull gets none), is said lapsed here too: the live summary gave "expired" beside lapsing's
        "not cleared, it fires at ..."."""
        if self._lapsed_by_now:
            return _lapsed_why(self._dead_man_fire_by, self._dead_man_state)
        return self._dead_man_why

    def _send_dead_man(self, cmds: list, cmd: ScheduleCancel, ts: float) -> None:
        """``cmd`` sent; one sent after any request in doubt can land is the venue's last word (``_dead_man_settle``
        then has nothing to send)."""
        cmds.append(cmd)
        if ts > self._dead_man_doubt_ts:
            self._dead_man_doubt_ts, self._dead_man_doubt_arm = math.inf, -math.inf

    def _arm_dead_man(self, cmds: list, ts: float, ahead_s: float) -> None:
        """Armed, and said so, when the venue acknowledges it (``_on_dead_man_acknowledged``). A clear still
        unanswered is superseded: its answer, if it comes, is older than this arm and says nothing of the switch."""
        at = ts + ahead_s
        self._send_dead_man(cmds, ScheduleCancel(at), ts)
        self._dead_man_armed_until = at
        if at > self._dead_man_fire_by:
            self._dead_man_fire_by = at
        self._dead_man_ahead_s = ahead_s
        self._dead_man_unacked_ts = ts
        self._dead_man_clear_ts = self._dead_man_clear_first_ts = math.inf

    def _on_dead_man_acknowledged(self, ev: ScheduleCancelAcknowledged, cmds: list) -> None:
        if ev.at_ts >= self._dead_man_unanswered_arm:
            # taken, for a time no earlier than any arm that got no answer (sent no earlier: it replaced them). Not an
            # earlier arm's answer coming late, after a later one's 5xx: taken first, that one may stand after it, and
            # forgotten, a refusal read the switch as the earlier left it, expired before the later's time
            self._dead_man_unanswered_arm = -math.inf
        # the venue's policy allows the switch again: clears too, whether this arm is the last or one superseded since
        # (held back by the last one's alone, a clear waited up to the hour while the one taken stood, to fire on
        # nothing)
        self._dead_man_clear_retry_ts = -math.inf
        if ev.at_ts != self._dead_man_armed_until:
            # an earlier arm's (the last one's answer is still to come), or one cleared or refused since: not what the
            # core wants, but the venue took it, and it stands until the venue takes the command behind it (refused,
            # it stood on: forgotten, a clear or an arm refused behind it read no switch that could fire)
            if ev.at_ts == ev.at_ts:  # (nan: a journal's that did not say)
                self._dead_man_acked_until = ev.at_ts
            if self._dead_man_state == "unconfirmed" and ev.at_ts < self._dead_man_armed_until \
                    and self._dead_man_clear_ts == math.inf:
                # an arm sent again for want of an answer, whose first answer came since: the venue took one of them,
                # and the switch stands (the later, landing, moves it on). Waited for its own answer, an arm slower
                # than risk.pull_retry_s was always sent again before it came: the switch read unconfirmed for ever,
                # an arm sent every pull_retry_s, every one taken. The next re-arm is the heartbeat's
                self._dead_man_unacked_ts = math.inf
                self._note_dead_man(ev.ts, "armed", f"the venue cancels our orders if {self._dead_man_ahead_s:g} s "
                                                    f"pass without a re-arm")
            return
        self._dead_man_unacked_ts = math.inf
        self._dead_man_acked_until = self._dead_man_fire_by = ev.at_ts  # (it replaced the arms before it)
        if self._dead_man_state != "armed":
            self._note_dead_man(ev.ts, "armed", f"the venue cancels our orders if {self._dead_man_ahead_s:g} s pass "
                                                f"without a re-arm")

    def _clear_dead_man(self, cmds: list, ts: float, why: str) -> None:
        """Sent, and said "clearing": the switch may still fire (by ``_dead_man_fire_by``) until the venue
        acknowledges a clear sent since the last arm (``_on_dead_man_cleared``: "cleared"). Recorded as cleared when
        sent, a clear lost on its way, answered 5xx or refused 429 left the switch armed while the log and the
        summary said it was not, and it fired later, one of the day's ten triggers spent on nothing. An arm's answer
        coming after it is ignored (``_dead_man_armed_until``: none matches), as the arm it answers is superseded."""
        self._send_dead_man(cmds, ScheduleCancel(None, ts), ts)
        if self._dead_man_clear_first_ts == math.inf:  # the first since the last arm: not a resend
            self._dead_man_clear_first_ts = ts
            self._dead_man_clear_why = why
            self._note_dead_man(ts, "clearing", f"{why}: a clear sent, which the venue has not acknowledged yet (the "
                                                f"switch may fire until it does, at {self._dead_man_fire_by:.3f} at "
                                                f"the latest)")
        self._dead_man_clear_ts = ts
        self._dead_man_armed_until = -math.inf  # (the acknowledged arm's time is kept: it may fire until a clear is)
        self._dead_man_next_ts = -math.inf
        self._dead_man_unacked_ts = math.inf

    def _keep_dead_man_cleared(self, cmds: list, ts: float, why: str) -> None:
        """Nothing can rest: a clear still unanswered goes again when due (``_clear_dead_man_again``), or a switch
        that may still fire is cleared (``why`` says why in its record), budget permitting as its resends are.

        A clear is not a cancel for the budget's reserve: it cancels nothing (it goes only when nothing can rest), and
        the venue counts a scheduleCancel against the address quota as any action, not in the allowance it gives
        cancels past the cap (the twin likewise), so counted as a cancel it would go where the venue refuses it.
        What it saves is one of the venue's ten triggers a day, fired on nothing; the reserve is kept for the pulls
        of orders, which the agent cannot send once it is spent. Held, the switch is left to lapse, and said so, as
        the heartbeat says of an arm it holds back; the next tick asks again. (Sent unchecked, the first clear took
        the reserve's request that its resends left alone.)"""
        if self._dead_man_clear_ts < math.inf:
            self._clear_dead_man_again(ts, cmds)
        elif self._dead_man_fire_by > ts and ts >= self._dead_man_clear_retry_ts:
            if self.budget.can_spend(1):
                self._clear_dead_man(cmds, ts, why)
            elif self._dead_man_state != "lapsing":
                self._note_dead_man(ts, "lapsing", f"{why}, but the address budget is down to its cancel reserve: "
                                                   f"not cleared, it fires at {self._dead_man_fire_by:.3f} at the "
                                                   f"latest, on nothing (one of the venue's ten a day)")
        elif ts >= self._dead_man_fire_by > -math.inf and self._dead_man_lapses:
            self._dead_man_lapsed(ts)  # past its time: it fired (a stopped agent's, told on a snapshot)

    def _clear_dead_man_again(self, ts: float, cmds: list) -> None:
        """A clear the venue has not acknowledged within ``risk.pull_retry_s`` (lost on its way, a 5xx, refused for
        the rate: no event says it was taken) is sent again, budget permitting, while the switch may still fire.
        Once its time is past the switch is spent either way (it fired, or a clear whose answer never came took it
        first): said once (expired), and nothing more is sent."""
        if ts < self._dead_man_fire_by:
            if ts - self._dead_man_clear_ts >= self.cfg.risk.pull_retry_s and ts >= self._dead_man_clear_retry_ts \
                    and self.budget.can_spend(1):
                self._clear_dead_man(cmds, ts, self._dead_man_clear_why)
            return
        self._dead_man_lapsed(ts)

    def _dead_man_lapsed(self, ts: float) -> None:
        """A switch that fires with nothing of ours to stop it (``_dead_man_lapses``: left to lapse, left standing by a
        refusal, a clear never acknowledged, or armed and not re-armed in time) has fired once its time is past: said
        once (expired). Said lapsing (or refused, armed, clearing) still, the log and the summary told an operator the
        switch was yet to fire after it had spent one of the venue's ten triggers a day. A clear's window closes with
        it (nothing is left to clear), and an arm out is forgotten (its time is past too)."""
        fire_by = self._dead_man_fire_by
        self._count_fire(fire_by if fire_by > -math.inf else ts)
        self._dead_man_fire_by = self._dead_man_acked_until = -math.inf
        # (an arm out has passed its time too, fire_by being the latest: the venue can no longer take it)
        self._dead_man_clear_ts = self._dead_man_clear_first_ts = self._dead_man_unacked_ts = math.inf
        self._note_dead_man(ts, "expired", _lapsed_why(fire_by, self._dead_man_state))

    def _count_fire(self, at: float) -> None:
        """A firing of the switch at ``at`` (an arm that lapsed: it may not have stood, counted all the same, the side
        that stops short of the venue's limit), in its UTC day's count (``_rearms_spent``)."""
        day = at // _DAY_S
        self._fires_on(day)
        if day == self._fires_day:  # (one of an earlier day than the last counted: that day's count is gone)
            self._fires += 1

    def _fires_on(self, day: float) -> int:
        """The switch's firings counted in UTC ``day``, the count begun again when ``day`` is a new one."""
        if day > self._fires_day:
            self._fires_day, self._fires = day, 0
        return self._fires

    def _rearms_spent(self, ts: float) -> bool:
        """Whether a Kill's re-arm of the switch (with its pulls again, or a held arm sent as the lane opens) would
        leave fewer of the venue's ``DEAD_MAN_DAILY_FIRES`` firings today than ``risk.dead_man_fire_reserve``, kept
        for a later Kill's own arm: said once a day (a ``dead_man_rationed`` record). Each arm a Kill's pulls go
        unanswered behind fires on its time and is re-armed as the lane opens: with every answer and snapshot failing
        (the orders counted live for good), one firing every 19 s spent the day's ten, the venue refusing the
        switch after it (an hour's wait, ``_dead_man_refused``) and a later Kill going without one."""
        day = ts // _DAY_S
        left = DEAD_MAN_DAILY_FIRES - self._fires_on(day)
        reserve = self.cfg.risk.dead_man_fire_reserve
        if left > reserve:
            return False
        if self._rationed_day != day:
            self._rationed_day = day
            self._records.append({
                "type": "dead_man_rationed", "ts": ts, "fired": self._fires, "limit": DEAD_MAN_DAILY_FIRES,
                "why": f"the switch has fired {self._fires} times today (UTC), of the venue's {DEAD_MAN_DAILY_FIRES} "
                       f"a day: a Kill's re-arms stop here, keeping {reserve} for a later Kill's arm "
                       f"(risk.dead_man_fire_reserve), until the day ends"})
        return True

    def _on_dead_man_cleared(self, ev: ScheduleCancelCleared, cmds: list) -> None:
        if not self._dead_man_clear_first_ts <= ev.sent_ts <= self._dead_man_clear_ts:
            # a clear sent before the last arm (that arm may have reached the venue after it), or one answered, or
            # given up on (expired), already; nan (a clear that did not say when it was sent) matches none. The
            # venue took it: no arm before it stands (the arm behind it, refused, leaves none)
            if ev.sent_ts == ev.sent_ts:
                self._dead_man_acked_until = -math.inf
            return
        self._dead_man_clear_ts = self._dead_man_clear_first_ts = math.inf
        self._dead_man_fire_by = self._dead_man_acked_until = -math.inf
        # (sent since the last arm, after any that got no answer: it replaced them. Not a clear sent before an arm
        # answered 5xx, its answer late: taken first, the arm may stand after it)
        self._dead_man_unanswered_arm = -math.inf
        self._note_dead_man(ev.ts, "cleared", f"{self._dead_man_clear_why}: the venue acknowledged the clear")

    def _on_dead_man_refused(self, ev: ScheduleCancelRefused, cmds: list) -> None:
        """A scheduleCancel refused: counted among the rejections, and, refused for anything but the venue's policy
        (a time too early, a nonce, expired), noted as any rejection is. A refusal for the policy changes the switch's
        state only when it answers the last command sent: the arm named by ``_dead_man_armed_until``, or a clear sent
        since the last arm. One to a command superseded since (an arm a clear or a newer arm followed, a clear an
        arm followed) says nothing of the switch now: read as the last one's, it said "refused", and held every arm
        back an hour, while the newer arm stood at the venue, to fire when its time came with no re-arm."""
        self.tracker.on_event(ev)  # (its clock, and its version: as an OrderRejected did)
        self.tracker.rejections_by_reason[ev.reason.value] += 1
        text, refusals = ev.message[:200], self.dead_man_refusals
        if text not in refusals and len(refusals) >= DEAD_MAN_REFUSAL_TEXTS:
            text = DEAD_MAN_OTHER_TEXTS  # (kept by text, the count grew by one a refusal on a text naming a number)
        refusals[text] += 1
        if ev.reason is not Reason.SCHEDULE_CANCEL_REFUSED:
            self.errors.note(ev.ts)
            self.graduation.note_rejection(ev.ts)
            return
        if ev.at_ts == self._dead_man_armed_until:  # (nan matches neither)
            self._dead_man_refused(ev.ts, ev.message)
        elif self._dead_man_clear_first_ts <= ev.sent_ts <= self._dead_man_clear_ts:
            self._dead_man_clear_refused(ev.ts, ev.message)

    def _dead_man_refused(self, ts: float, message: str) -> None:
        # the venue's policy, not its health (under $1M traded, or 10 triggers today): asking again at every
        # pull only spends requests, in an emergency, when they matter most; an hour on, volume or the day
        # may have changed
        self._dead_man_retry_ts = ts + _DEAD_MAN_RETRY_S
        self._dead_man_armed_until = -math.inf
        self._dead_man_unacked_ts = math.inf
        # the switch is as the last arm taken left it (a refused one sets nothing; a clear unanswered may not
        # have reached the venue either)
        self._dead_man_as_before_refusal(ts, message)

    def _dead_man_clear_refused(self, ts: float, message: str) -> None:
        """A clear refused for the venue's policy: the switch is as the last arm taken left it (it may fire, on nothing,
        by ``_dead_man_fire_by``), and clears are not sent again for ``_DEAD_MAN_RETRY_S`` (asked again they would be
        refused again: only requests spent), until the venue takes an arm. Arms are not held back: a refused clear
        says nothing of them, and one is what may still be allowed (the venue's texts refuse *setting* a time: under
        its volume, or past its triggers). Read as an arm's refusal, as it was, it held every arm back an hour: the
        orders that rested again meanwhile had no switch; an arm the policy does refuse holds the arms back itself."""
        self._dead_man_clear_retry_ts = ts + _DEAD_MAN_RETRY_S
        self._dead_man_as_before_refusal(ts, message)  # (as a refused arm leaves it)

    def _dead_man_as_before_refusal(self, ts: float, message: str) -> None:
        """A refusal for the venue's policy (an arm's, or a clear's): the switch is as the last arm taken left it, and
        said refused. That is the last the venue acknowledged (``_dead_man_acked_until``: the answers to the commands
        before come first, and one superseded since counts), or an arm that got no answer (``_on_dead_man_unanswered``)
        whose time is still to come, which may yet land, or have landed: its doubt's end says only that it can land no
        more, and until the venue takes a command sent after it, it may stand. It may fire by the latest of them. (The
        last arm the core had wanted, alone, forgot an arm acknowledged after a clear or an arm went behind it, and one
        in doubt: the core read no switch that could fire while one stood, to fire at its time, unsaid. Counted only
        while in doubt, one that got no answer was forgotten once the settle had sent it again, and that refused.)

        When none stands, nothing can fire and nothing is left to clear: a clear still unanswered (the refused
        clear's, or, from a journal's refusal that names no request, the last clear's) is neither sent again nor
        waited for, though its window stays (a clear of it the venue takes still reads cleared; one sent later is of
        it). Left outstanding, the next tick's ``_clear_dead_man_again`` took the switch's time (-inf) as past, and
        the log said "expired ... (-inf): it fired then" of a switch that never stood (and a stopped core, an hour
        on, wound down again to say it)."""
        self._dead_man_standing(ts)
        self._note_dead_man(ts, "refused", message[:200])

    def _dead_man_standing(self, ts: float) -> None:
        """A command of ours refused (for the venue's policy, ``_dead_man_as_before_refusal``; for the address budget,
        ``_on_arm_refused_in_lane``): the latest the venue's switch may fire (``_dead_man_fire_by``) is that of the
        last arm it took, or of one in doubt (see there); with none standing, a clear still unanswered is neither
        sent again nor waited for."""
        fire_by = self._dead_man_acked_until
        doubt = max(self._dead_man_doubt_arm, self._dead_man_unanswered_arm)  # (-inf: none)
        if doubt > fire_by and doubt > ts:
            fire_by = doubt
        self._dead_man_fire_by = fire_by
        if fire_by == -math.inf:
            self._dead_man_clear_ts = math.inf  # (the window's first kept: _on_dead_man_cleared)

    def _on_dead_man_unanswered(self, ev: ScheduleCancelUnanswered, cmds: list) -> None:
        """A scheduleCancel with no answer (lost in transport, a 5xx) may still land at the venue until ``late_ts``,
        after the ones sent behind it, and each replaces the switch whole: the last word would then be the stale
        one's (a clear's after an arm: no switch while orders rest; an arm's after a clear: a firing on nothing, one
        of the ten a day; an earlier time's after a later: it fires early). ``_dead_man_settle`` sends the wanted
        state again once none in doubt can land, unless one is sent by then anyway. (A late_ts of inf, no expiresAfter
        bounding it, is ignored: waited for, nothing would be sent again, and a stopped agent would wind down for ever.
        No gateway signs without one now, ``agent.gateway.base.action_ttl``; a journal of one that did may say so.)"""
        if ev.at_ts > self._dead_man_unanswered_arm:  # (whenever it may land: it may have, and stand)
            self._dead_man_unanswered_arm = ev.at_ts
        late = ev.late_ts
        if not late < math.inf:
            return
        if self._dead_man_doubt_ts == math.inf or late > self._dead_man_doubt_ts:
            self._dead_man_doubt_ts = late
        if ev.at_ts > self._dead_man_doubt_arm:  # (nan: a clear's, is greater than nothing)
            self._dead_man_doubt_arm = ev.at_ts

    def _dead_man_settle(self, ts: float, cmds: list) -> None:
        """No scheduleCancel in doubt can land any more, and none was sent since (which would have settled it): the
        last command's state again, budget permitting (else at the next tick), so that the venue's last word is the
        one the core reads. An arm whose time is still to come is sent again as the heartbeat re-arms (as far
        ahead); a clear (sent, or acknowledged) again only if an arm in doubt could have landed after it, its time
        still to come (a late clear changes nothing of a cleared switch). Anything else (refused, expired, off, an
        arm whose time has passed) settles it unsent."""
        if not self.budget.can_spend(1):
            return
        if self._dead_man_armed_until > ts:
            self._arm_dead_man(cmds, ts, self._dead_man_ahead_s)
            period = self.cfg.risk.dead_man_heartbeat_s
            if period is not None and self._dead_man_next_ts > -math.inf:
                self._dead_man_next_ts = ts + period / 3.0
        elif self._dead_man_armed_until == -math.inf and self._dead_man_doubt_arm > ts and \
                ts >= self._dead_man_clear_retry_ts and \
                (self._dead_man_clear_ts < math.inf or self._dead_man_state in ("cleared", "expired")):
            if self._dead_man_doubt_arm > self._dead_man_fire_by:
                self._dead_man_fire_by = self._dead_man_doubt_arm  # (it may fire then, until a clear is taken)
            self._clear_dead_man(cmds, ts, self._dead_man_clear_why or "an arm in doubt may have landed")
        self._dead_man_doubt_ts, self._dead_man_doubt_arm = math.inf, -math.inf

    def _dead_man_settle_blind(self, ts: float, cmds: list) -> None:
        """``_dead_man_settle`` while unreconciled (the socket lost, or back and its resync not answered yet). The
        heartbeat pauses then, so that the switch fires at its time and the venue pulls what the outage left resting;
        but a clear in doubt that landed after the last arm left no switch at all, and waiting for the reconcile, an
        outage that never reconciled (the resync never answered, the pulls lost, orders resting) kept none for good.
        The last arm is sent again for its own time, not further ahead, so the pause stands (for at least
        ``risk.dead_man_s`` ahead when it is nearer: the venue refuses a time under 5 s on at arrival; such a push is
        not pushed again, its own doubt settled, if at all, for the time it re-sent). A wanted clear, or an arm whose
        time has passed, waits for the reconcile, as before: nothing blind says what rests."""
        due = self._dead_man_armed_until
        if due == self._dead_man_blind_at:
            # the last arm is one sent here, pushed past the time it re-sent (under risk.dead_man_s away): that time,
            # not the pushed one, is the switch's. Re-sent for the pushed time, every arm answered 5xx (landing all
            # the same) moved the switch risk.dead_man_s on each 1.5 ttls, and it never fired while blind
            due = self._dead_man_blind_due
        if due > ts and self.budget.can_spend(1):
            ahead = self._dead_man_ahead_s  # (the heartbeat's, which the reconciled settle re-arms by: kept)
            self._arm_dead_man(cmds, ts, max(due - ts, self.cfg.risk.dead_man_s))
            self._dead_man_ahead_s = ahead
            self._dead_man_blind_due, self._dead_man_blind_at = due, self._dead_man_armed_until

    def _note_dead_man(self, ts: float, state: str, why: str) -> None:
        """The switch's state changes go to the decision log (a re-arm does not): whether the account is
        protected against this process dying is an operator's first question about it."""
        self._dead_man_state = state
        self._dead_man_why = why
        self._records.append({"type": "dead_man", "ts": ts, "state": state, "why": why})

    def _dead_man_heartbeat(self, ts: float, cmds: list) -> None:
        """While orders may rest (some are live, or the exposure level places them), keep the venue's
        dead-man's switch armed ``risk.dead_man_heartbeat_s`` ahead, re-armed every third of it, so that the
        venue pulls our orders if this process stops sending (it died, or its host lost the network). When
        nothing can rest, clear it: a firing with nothing to cancel still uses one of the day's ten. (Shadow
        holding a position places its exits: they can rest.)"""
        risk = self.cfg.risk
        period = risk.dead_man_heartbeat_s
        if period is None or ts < self._dead_man_retry_ts or self.cum_volume_usd < risk.dead_man_min_volume_usd:
            return  # (below the venue's volume rule it would only be refused: not asked, not a request spent)
        tr = self.tracker
        if tr.live_set or self.graduation.places_orders or (tr.position and self.cfg.graduation.shadow_exits):
            # an arm the venue has not answered within risk.pull_retry_s (lost on its way, a 5xx) is sent again then,
            # not a third of the period on (10 s): it may never have reached the venue
            unanswered = ts - self._dead_man_unacked_ts >= risk.pull_retry_s
            if ts >= self._dead_man_next_ts or unanswered:
                if self.budget.can_spend(1):
                    if unanswered and self._dead_man_state != "unconfirmed" and \
                            (self._dead_man_state != "armed" or ts >= self._dead_man_acked_until):
                        self._note_dead_man(ts, "unconfirmed", (
                            f"the venue has not acknowledged the arm sent {ts - self._dead_man_unacked_ts:.1f} s ago "
                            f"(lost on its way, or an error answer): sent again every {risk.pull_retry_s:g} s until "
                            f"it does"))
                    self._arm_dead_man(cmds, ts, period)
                    self._dead_man_next_ts = ts + period / 3.0
                elif self._dead_man_state == "armed":
                    # with the address budget down to its cancel reserve it is not re-armed: the reserve is for
                    # cancels, and in the slow lane one request in 10 s is all there is; the switch then fires
                    # and the venue pulls the orders we can no longer manage
                    self._note_dead_man(ts, "lapsing", f"the address budget is down to its cancel reserve: not "
                                                       f"re-armed, it fires at {self._dead_man_armed_until:.3f}")
        else:
            self._keep_dead_man_cleared(cmds, ts, "nothing can rest (no live orders, and the level places none)")

    def _after_cycle(self, ts: float) -> None:
        """The cycle's commands are out: the work that need not delay them (their booking, which ``handle``
        does first for any event, among it). The cycle's forecasts are recorded for scoring (at the cycle's
        ts and mid, whatever has arrived since); orders long ended are forgotten; and every
        ``graduation.eval_interval_s`` confidence and promotion are evaluated, the level changes going to the
        decision log with their evidence (and reaching the quotes at the next cycle, a ``cycle_s`` later:
        promotion is never urgent, and demotion has its triggers in the cycle)."""
        self._after_due = math.nan
        f = self._forecast
        if f is not None:
            self._forecast = None
            f_ts, parts, mid = f
            # each signal's card keeps a forecast only past its spacing since the last it kept (ModelScorecard._queue's
            # first test): asked here for the three (the parts are theirs, in their order), predict_parts is not
            # called on the cycles all three would refuse (at a spacing of 5 s, 49 in 50)
            c0, c1, c2 = self._cards
            if not (f_ts - c0._last_pred_ts < c0._spacing_s and f_ts - c1._last_pred_ts < c1._spacing_s
                    and f_ts - c2._last_pred_ts < c2._spacing_s):
                # (the parts' names are unique, as cards')
                self.validation.predict_parts(f_ts, parts, self._forecast_horizon_s(), mid)
            # the blend's own forecast is scored too: its Brier and information ratio are promotion evidence. Its card
            # keeps a forecast only past its spacing since the last it kept (ModelScorecard._queue's first test, asked
            # here first: at a spacing of 5 s it refuses 49 cycles in 50, and the blend need not be made for those)
            blend = self.graduation.blend
            if not f_ts - blend._last_pred_ts < blend._spacing_s:
                # Σ weight and Σ weight·(p_up − 0.5) over the core's three signals (as _quote unpacks them), summed
                # from 0.0 in their order, as a loop would: written out
                (_, p0, w0, _), (_, p1, w1, _), (_, p2, w2, _) = parts
                w_sum = 0.0 + w0 + w1 + w2
                p_sum = 0.0 + w0 * (p0 - 0.5) + w1 * (p1 - 0.5) + w2 * (p2 - 0.5)
                p_blend = 0.5 + p_sum / w_sum if w_sum > 0.0 else 0.5
                # (GraduationGovernor.predict, without its frame)
                blend.predict(f_ts, p_blend, self._forecast_horizon_s(), mid)
        g = self.graduation
        rec = self._recent[-1] if self._recent else None
        if rec is not None and rec.commands and rec.cycle != self._p_fill_cycle:  # (a cycle that sent nothing: most)
            # the cycle's quotes, at a level that places them (Shadow's exits are not GLFT's quotes at their price)
            self._p_fill_cycle = rec.cycle
            if rec.note != "shadow":
                seen = rec.seen  # (INPUT_KEYS: mid, ..., sigma, A, k)
                g.p_fill.on_cycle(rec.commands, seen[0], seen[4], seen[5], self.tracker.orders, seen[3])
        pf = g.p_fill
        if ts >= pf._next_ts and pf._pending:  # (settle's once a second, asked here: most cycles skip the call)
            pf.settle(ts, self.tracker.orders)  # (before the prune: an order ended 600 s ago is forgotten)
        ended = self.tracker._ended  # (prune's first test and evaluate_due, asked here: most cycles skip both calls)
        if ended and ended[0][0] < ts - 600.0:
            self.tracker.prune(ts - 600.0)
        if ts >= g._next_eval_ts:
            stale = sum(1 for o in self.tracker.live_set.values() if o.state is OrderState.STALE)
            # blind (socket down, book stale, account not reconciled, stopped), the sample is no evidence: it fails
            seeing = self.connected and self.reconciled and not self.stopped \
                and ts - self.last_book_ts <= self._stale_book_s
            g.evaluate(ts, self.equity, self.validation.model_confidence(), self.safety.safety_confidence, stale,
                       self.cycle, int(self.safety.level), seeing)
        if g.records:
            self._records.extend(g.records)
            g.records.clear()

    def _forecast_horizon_s(self) -> float:
        """The horizon of the forecasts the after-cycle work offers (asked on the cycles a card keeps one, a few in a
        hundred): the quote cycle's config's (_derive), or a retune's since."""
        cfg = self.cfg
        return self._horizon_s if cfg is self._derived_of else cfg.quoting.signals.horizon_s

    def _postmortem(self, ts: float) -> dict:
        """Why we killed, and the state we killed in, with the decision records that led here."""
        recent = [r.to_dict(describe_command) if isinstance(r, CycleDecisionRecord) else r for r in self._recent]
        return {"type": "postmortem", "ts": ts,
                "reasons": [h.describe() for h in self.safety.hits],
                "transitions": [{"ts": t.ts, "from": t.from_level.name, "to": t.to_level.name, "reason": t.reason}
                                for t in self.safety.history],
                "position": self.tracker.position, "live_orders": [repr(o) for o in self.tracker.live_orders()],
                "ledger": {"realized": self.ledger.realized, "fees": self.ledger.fees, "funding": self.ledger.funding,
                           "fills": self.ledger.fills},
                "recent_cycles": recent}

    def _derive(self, cfg: AgentConfig) -> None:
        """What the quote cycle takes from the config (fixed for the core's life but for a retune, which replaces
        it) made once: the same expressions as written out in the cycle, so the same doubles. The config's own values
        the cycle reads are kept here too: a config is a pydantic model, whose attributes (a class with
        ``__getattr__``) the interpreter cannot specialize, each read some 200 machine instructions where a plain
        object's takes a few dozen, and a quote cycle read twenty-two."""
        self._derived_of = cfg
        q = self._quoting = cfg.quoting
        self._refit_s = q.refit_interval_s
        # GLFT's risk aversion (read at every refit: the p99's cycles), and the priors that stand until σ, A and k are
        # estimated (read on every cycle without a fit: the first minutes', or while the counts fit no line)
        self._gamma = q.glft.gamma
        self._sigma_prior = q.sigma_prior
        self._a_prior = q.a_prior
        self._k_prior = q.k_prior
        self._k_prior_bp = q.k_prior_per_bp * 1e4  # (k = this / mid: the cycle's k_prior_per_bp * 1e4 / mid)
        self._horizon_s = q.signals.horizon_s  # (the after-cycle work's: the forecasts' horizon)
        self._order_size = q.order_size
        self._spread_factor = q.glft.spread_factor
        self._skew_factor = q.glft.skew_factor
        self._min_notional = q.ladder.min_notional_usd
        self._risk_max_position = cfg.risk.max_position
        self._reconcile_cfg = cfg.reconcile
        self._stress_less_1 = cfg.validation.stressed_spread_mult - 1.0
        self._fee_frac = q.maker_fee_bps * 1e-4
        self._floor = q.min_half_spread_ticks * self.tick
        lad = q.ladder
        n = lad.n_levels
        # (levels, the venue minimum, the deepest bid's distance from the touch)
        self._ladder_terms = (n, lad.min_notional_usd, (n - 1) * lad.level_spacing_ticks * self.tick)
        self._min_ok = [math.inf] * 4

    def _quote(self, ts: float, rec: CycleDecisionRecord, cancel_only: bool = False) -> list[Command]:
        cfg = self.cfg
        if cfg is not self._derived_of:  # (a retune replaces the config)
            self._derive(cfg)
        q = self._quoting
        tick = self.tick
        mid = self.mid
        vol = self.vol
        if vol.n != self._sigma_n:  # the estimate moves only when a grid sample is added, which counts n up
            self._sigma_n = vol.n
            self._sigma_log = vol.sigma_per_sqrt_s if vol.ready else self._sigma_prior
        sigma_log = self._sigma_log
        sigma = sigma_log * mid
        if ts - self._fit_ts >= self._refit_s:  # A and k move slowly: refit every few seconds
            self._fit_ts = ts
            self._fit = self.arrivals.fit(ts) if self.arrivals is not None else None
        A, k = self._fit if self._fit is not None else \
            (self._a_prior, self._k_prior if self._k_prior is not None else self._k_prior_bp / mid)
        real_pos = pos = paper_pos = self.tracker.position
        shadow = not self.graduation.places_orders
        if shadow:
            # the paper agent's position: its paper fills (since Shadow was entered) on the real one. Its quotes are
            # limited on it, as a live level's by the real position, and skewed by it; left out, its paper fills
            # added up to several times the limit on quotes never skewed for it (paper.py). Not while a real
            # position is worked off (shadow_exits): the exits, real orders, are that ladder's reducing side, priced
            # on the real position (skewed by the paper one, a paper short moved a real long's asks out)
            paper_pos = real_pos + self.graduation.paper.position
            if not (real_pos and cfg.graduation.shadow_exits):
                pos = paper_pos
        if A != self._coef_A or k != self._coef_k:  # A and k move every few seconds: GLFT's c1, c2 with them
            self._coef_A = A
            self._coef_k = k
            self._coef = glft_coefficients(A, k, self._gamma, self._order_size)
            self._state_key = None  # (the half spread and skew are of the coefficients too)
        # the mid, σ and position move on events: most cycles at 10 Hz see the same as the last. (Equal doubles are
        # the same but for a zero's sign: the position's is read only through abs and as a finite number, and σ per
        # √s is a square root, 0.0 or the prior (> 0), never -0.0.)
        key = (mid, pos, sigma_log)
        if key == self._state_key:
            half_spread, glft_skew, par, par_f, cap = self._state
        else:
            c1, c2 = self._coef
            half_spread, glft_skew = glft_half_skew(mid, pos, sigma, c1, c2, self._order_size, self._spread_factor,
                                                    self._skew_factor)
            rb = self.risk_budget
            par, _, par_f = rb.check(pos, mid, sigma_log)  # position-at-risk: size factor and the cap below
            cap = rb.position_cap(mid, sigma_log)
            self._state = (half_spread, glft_skew, par, par_f, cap)
            self._state_key = key
        p_stressed = self.regime._p_stressed  # (the regime's p_stressed, the attribute behind its property)
        stress_mult = 1.0 + self._stress_less_1 * p_stressed
        ov = self.overlay
        g = self.graduation
        half = half_spread * stress_mult * ov.spread_mult * g.spread_mult
        fee_px = self._fee_frac * mid
        if fee_px:  # GLFT has no fees: each quote moves out by the fee, so a fill earns the model's half spread net
            half += fee_px
        floor = self._floor
        floored = half < floor
        if floored:
            half = floor
        skew = glft_skew * pos
        # the record stores values only (what it saw, records.INPUT_KEYS; the steps it took, in the order
        # CycleDecisionRecord.adjustments names them), in one tuple each at the end: this runs every cycle,
        # and the record is mostly dropped unread. A step not taken is None.
        center = mid - skew
        parts = self.signals.parts(ts, mid)
        # validation corrects the edge each signal claims: its shift scaled by its calibration slope (overconfident
        # → less, no skill → none), and the spread widened by the edge it promised and did not deliver (edge bias
        # > 0), weighted like its shift (_validation_factors). Those are of each card's metrics (replaced at an
        # evaluation, never changed: compared by identity) and each signal's weight: kept while they hold
        (_, _, w0, a0), (_, _, w1, a1), (_, _, w2, a2) = parts  # (the core's three signals, in the cards' order)
        c0, c1, c2 = self._cards
        m0 = c0._metrics  # (each card's metrics(), the attribute behind it: three frames a cycle less)
        m1 = c1._metrics
        m2 = c2._metrics
        # (one tuple compared, not six names unpacked and tested: a tuple's == takes the same object as equal at
        # once, as `is` did, and new metrics equal to the last, field by field, give the same factors, a pure
        # function of them; a weight is never nan)
        vkey = (m0, m1, m2, w0, w1, w2)
        if vkey != self._validation_key:
            self._validation_key = vkey
            self._validation = _validation_factors((m0, m1, m2), (w0, w1, w2))
        f0, f1, f2, widen_bps = self._validation
        # each signal's weighted shift of the centre (a factor of 1.0 where validation has none: a·1.0 is a), the
        # record's (_SignalsOfRecord)
        wa0 = w0 * (a0 * f0)
        wa1 = w1 * (a1 * f1)
        wa2 = w2 * (a2 * f2)
        adj = 0.0 + wa0 + wa1 + wa2
        shifts = [wa0, wa1, wa2]
        # the forecasts (each signal's p_up, and the blend's, weight = configured × validation verdict) are made
        # and scored after the commands are out (_after_cycle); the record's signals are made when it is read
        self._forecast = (ts, parts, self.book_mid)
        rec.signals = sig = _new_object(_SignalsOfRecord)
        sig.parts = parts
        sig.shifts = shifts
        center += adj
        widen = bid_clamp = ask_clamp = None
        if widen_bps:
            widen_bps = min(widen_bps, q.signals.max_adj_bps * len(self._cards))
            widen = widen_bps * 1e-4 * mid
            half += widen
        bid = center - half
        ask = center + half
        if bid > self.best_ask - tick:  # never crossing the book: a post-only the venue would refuse
            bid = bid_clamp = self.best_ask - tick
        if ask < self.best_bid + tick:
            ask = ask_clamp = self.best_bid + tick
        # the ladder only changes when its tick-rounded edges do: reuse it otherwise (when sizes come to
        # depend on state, e.g. exposure levels, their multiplier belongs in this key)
        # exposure: the level's size multiplier scales the ladder (never below the venue's minimum order,
        # so MicroLive's 5-10% still quotes); Shadow computes full-size quotes for its paper fills only
        base = base_ask = self._order_size
        # at Orange and Red only the reducing side is quoted, capped at |position|: exits, which the exposure
        # level's multiplier (there to limit new risk) does not shrink; scaled by it, MicroLive worked a position
        # off at the venue's $10 minimum an order (feb12_emergency_paralysis: a third of it in two minutes of Red)
        size_mult = g.size_mult if ov.single_side is None else 1.0
        exit_mult = None  # the reducing side's multiplier where it is not size_mult (over the limit, below): recorded
        limit = self._risk_max_position * g.limit_scale  # the limit reconcile enforces (as the level scales it)
        if cap < limit:  # (cap: the risk budget's, of the state)
            # the risk budget's limit on what could fill: the taper reads the filled position only, and at half
            # the budget let out a ladder that, filled, took PaR to 126% of it
            limit = cap
        lot = self.lot
        over_limit = (pos if pos > 0.0 else -pos) - limit > 0.5 * lot  # (over by a fills' sum's residue is at it)
        if g.places_orders:
            base = math.floor(self._order_size * size_mult / lot + 1e-9) * lot
            base_ask = base
            if size_mult < 1.0 and over_limit:
                # over the limit (a demotion scaled it down under the position: Live's to MicroLive's 0.1) the side
                # that grows the position is held back by reconcile until the position is under it, and the reducing
                # side's orders are exits, as at Orange and Red: not shrunk by the multiplier (there to limit new
                # risk). Shrunk, MicroLive's asks took a long of 0.0113 against a limit of 0.005 only to 0.0101 in
                # 200 s (feb12_emergency_paralysis seed 25 as it ran when this was found), quoting one side all the
                # while. (Reconcile still caps them at the room to the limit on the other side: a full ladder filled
                # flips at most to it. A position at the limit, 2e-18 over it as fills summed, is not over: found on
                # fees_exceed_spread seed 39 as it ran then.)
                exit_base = math.floor(self._order_size / lot + 1e-9) * lot
                exit_mult = 1.0
                if pos > 0.0:
                    base_ask = exit_base
                else:
                    base = exit_base
            # the venue's minimum is on each order's own price: a bid needs the size worth it at the deepest bid
            # (each level's rounding down costs at most a tick or a venue step, ≤ 1e-4 of the price), an ask at
            # the lower of the ask and the mid. (Worth it at the mid alone, the size was under $10 at every bid,
            # and at an ask skewed below the mid: the ladder dropped them, and MicroLive quoted asks alone.)
            # venue_min_size(mn, px, lot) only falls as px > 0 rises: where it was at most a base at some price, it is
            # at any price at least as high, for a base at least as large, and the base stands without the call
            # (_min_ok: per side, a price above zero and a base it held at, the lower of this price and the one where
            # the minimum is the base, mn / base, if it holds there too: made again by _derive, as mn is; at twice that
            # price, as it was, a base of twice the minimum, MicroLive's at $100k, kept this price and asked again at
            # each new low). The bid's price is the higher of the deepest bid's and half the mid: where half the mid is
            # at least the price kept, so is the bid's, and the deepest bid's is not worked out at all
            ok = self._min_ok
            px = ask if ask < mid else mid
            if not (px >= ok[0] and base_ask >= ok[1]):
                mn = self._ladder_terms[1]
                v = venue_min_size(mn, px, lot)
                if v > base_ask:
                    base_ask = v
                elif px > 0.0:
                    far = mn / base_ask if base_ask > 0.0 else px
                    ok[0] = far if 0.0 < far < px and venue_min_size(mn, far, lot) <= base_ask else px
                    ok[1] = base_ask
            half_mid = 0.5 * mid
            if not (half_mid >= ok[2] and base >= ok[3]):
                n, mn, deep = self._ladder_terms  # (max(a, b) below written out: b if b > a else a, as max gives it)
                step = 1e-4 * bid
                low = bid - deep - n * (step if step > tick else tick)
                px = low if low > half_mid else half_mid
                if not (px >= ok[2] and base >= ok[3]):
                    v = venue_min_size(mn, px, lot)
                    if v > base:
                        base = v
                    elif px > 0.0:
                        far = mn / base if base > 0.0 else px
                        ok[2] = far if 0.0 < far < px and venue_min_size(mn, far, lot) <= base else px
                        ok[3] = base
        nb, na = touch_ticks(bid, ask, tick)  # (the ladder's own rounding to ticks)
        key = (nb, na, base, base_ask)
        if key != self._ladder_key:
            sizes_key = (base, base_ask)
            if sizes_key != self._sizes_key:  # the sizes move with the base sizes only (rarely): made once for them
                lad = q.ladder
                n = lad.n_levels
                self._sizes_key = sizes_key
                sizes = lot_sizes(lad.sizes(base), n, 1.0, self.sz_decimals, 0.0)
                ask_sizes = None if base_ask == base else lot_sizes(lad.sizes(base_ask), n, 1.0, self.sz_decimals, 0.0)
                # desired_ladder(bid, ask, ...) with these arguments, its sides kept
                self._ladder = KeptLadder(n, lad.level_spacing_ticks * tick, sizes, self.sz_decimals,
                                          lad.min_notional_usd, tick=tick, ask_sizes=ask_sizes, desired=_DESIRED)
            # DesiredQuote(side, px, sz, level, False) per ladder level, bids then asks
            self._desired = self._ladder.quotes(bid, ask, nb, na)
            self._ladder_key = key
        desired = self._desired
        safety_size = safety_exit = par_size = shadow_exits = None
        if self.safety.level is not _GREEN:  # Green's overlay changes nothing (it only carries the position)
            qov = ov
            if over_limit and ov.size_factor < 1.0 and ov.single_side is None and g.places_orders:
                # Yellow over the limit: its size factor ("new size × this") is caution about new risk, and the
                # reducing side's orders are exits (the other side is held back by reconcile until the position
                # is under the limit), as for the exposure multiplier above: halved, they took twice as long to
                # bring a demoted position back under its limit. (Orange's and Red's factors are the exits' own.
                # Where orders are placed only, as the multiplier's exemption: Shadow's paper ladder is as it was.)
                qov = ov._replace(reducing_size_factor=1.0)
                safety_exit = 1.0
            # a pure function of the ladder and the overlay (which carries the position): kept while they hold
            # (the ladder moves on a few cycles in ten; the overlay with the position)
            memo_key = (key, qov)
            if memo_key != self._overlaid_key:
                self._overlaid_key = memo_key
                self._overlaid = overlaid_quotes(qov, desired, self.lot, self._min_notional)  # size factor,
            desired = self._overlaid  # ... reducing side only, venue minimum
            if ov.single_side is not None and ov.position and g.places_orders and not self.lots_of(ov.position):
                self._below_lot(ts, ov.position, "the safety level's exits")  # (Orange's, Red's: none can close it)
            safety_size = ov.size_factor
        # the risk budget: position-at-risk tapers risk-increasing size to zero at its limit (par_f, of the state)
        budget = self.budget  # (its headroom, cap - used, written out: a property's frame a cycle)
        rec.seen = (mid, self.best_bid, self.best_ask, sigma, A, k, real_pos, budget.cap - budget.used, p_stressed,
                    self.safety.level, g.controller.level, g.confidence, par)  # (g.level without its property)
        if par_f < 1.0 and pos:
            desired = taper_increasing(desired, par_f, pos, self._min_notional, self.lot)
            par_size = par_f
        rec.quotes = desired
        if shadow:
            # Shadow: quoted on paper, nothing placed (live orders get pulled), within the limit on the paper
            # position, worst case, as reconcile holds a live level's orders: the full limit, as the ladder is of full
            # size (the level's scale, 0, is for real orders) ...
            plim = self._risk_max_position if self._risk_max_position < cap else cap
            pk = self._paper_key
            if pk[0] is not desired or pk[1] != paper_pos or pk[2] != plim:
                self._paper_key = (desired, paper_pos, plim)
                self._paper_quotes = within_limit(desired, paper_pos, plim, self.lot, self._min_notional)
            rec.quotes = self._paper_quotes
            g.shadow_quotes(self._paper_quotes, ts)
            rec.note = "shadow"
            pos = real_pos
            if pos and cfg.graduation.shadow_exits:
                # ... but a position it was left with is worked off: the paper ladder's reducing side,
                # reduce-only and capped at the position (an unmanaged position held for hours is risk no level
                # asked for). Orange's overlay above has already kept only that side.
                exits = SafetyOverlay(1.0, 1.0, reducing_side(pos), reduce_only=True, position=pos)
                src = desired
                if safety_size is not None and ov.single_side is None and ov.size_factor < 1.0:
                    # Yellow: its size factor is caution about new risk, and these are exits, as over the limit
                    # where orders are placed (above): taken from the ladder before the overlay, they are not
                    # halved. (Orange's and Red's factors are the exits' own: their overlay keeps that side.)
                    src = self._desired
                    safety_exit = 1.0
                desired = overlaid_quotes(exits, src, self.lot, self._min_notional)  # (capped: one side)
                shadow_exits = pos
                if not self.lots_of(pos):
                    self._below_lot(ts, pos, "Shadow's exits")
            else:
                desired = []
        tr = self.tracker
        # everything reconcile reads: the desired quotes (the ladder's key, the overlay, the level, the taper), the
        # orders (any change bumps the tracker's version), the exposure of orders ended but still settling (which
        # lapses with time, not with an event: a quote held back by it is placed once it has), and the address
        # budget (a reconcile held back by it sends more once the venue's quota report has grown it)
        out = 0.0  # the position counted out of exposures' reducing side (_liquidation_exposure)
        # the record's step when it is (the price, the mid's distance from it, the position counted out, and the last
        # snapshot's price where our fills since moved it)
        liq = None
        if desired:
            exposures = tr.exposures()
            if self._liq_px:  # a position the venue may liquidate
                near = self._liquidation_exposure(exposures, tr.position, mid)
                if near is not exposures:  # (counted out of reduce-only quotes' room: reconcile gives it back)
                    exposures = near
                    out = abs(tr.position)
                    lq = self._liq_px
                    snap = self._liq_snapshot_px
                    liq = (lq, (mid - lq if tr.position > 0.0 else lq - mid) / mid, tr.position,
                           snap if snap != lq else None)
            state = (key, tr.version, exposures, ov, g.controller.level, par_f, limit, budget.cap, budget.used,
                     cancel_only)
        else:
            # no quote wanted (Shadow's cycles, flat: most of a day's): reconcile can only cancel, and reads the orders
            # and what cancels may spend alone, the budget's cancel_headroom (the ladder, the limit and the exposures
            # are read for quotes to place, and cancel_only holds back places and modifies only; a state of its own
            # length, never equal to one with quotes)
            exposures = None
            if tr.settling:  # (asked all the same: it lets lapsed entries go from the settling sums, in their order)
                tr.exposures()
            state = (tr.version, budget.cap, budget.used)
        rec.steps = (half_spread, stress_mult, ov.spread_mult, g.spread_mult, -skew, fee_px if fee_px else None,
                     floor if floored else None, widen, bid_clamp, ask_clamp, size_mult if g.places_orders else 0.0,
                     exit_mult, safety_size, safety_exit, par_size, shadow_exits, paper_pos if shadow else None,
                     g.limit_scale, liq)
        if state == self._reconciled_state:  # nothing changed since the last reconcile (same quotes, no order news)
            return []
        cmds = reconcile(desired, tr, tick=tick, lot=self.lot, max_position=limit,
                         budget=budget, cloids=self.cloids, cfg=self._reconcile_cfg,
                         min_notional=self._min_notional, cancel_only=cancel_only, exposures=exposures,
                         reducing_out=out, lane=self._lane)
        self._reconciled_state = None if cmds else state
        return cmds

    def _liq_fill(self, ev: FillReceived, after: float, before: float) -> None:
        """A fill the tracker booked (the position ``before`` it, ``after`` it): kept for the next snapshot (whose
        position may not hold it), and the liquidation price moved by it (``_liq_follow``)."""
        fill_px = self._fill_px
        booked = after - before
        fee = ev.fee * abs(booked) / ev.sz
        fill_px[ev.tid] = (ev.px, fee)
        if len(fill_px) > _FILL_PX_KEEP:  # (no snapshot for long: an outage; the oldest go, as the tracker's tids)
            del fill_px[next(iter(fill_px))]
        if self._liq_margin is not None:
            if before != self._liq_pos:  # the tracker took the venue's position since (a snapshot asked before a
                self._liq_margin = None  # reconnect): the price is not of it; the snapshot's is kept, as before
            else:
                self._liq_follow(after, booked, ev.px, fee)

    def _liq_from_snapshot(self, ev: AccountSnapshot) -> None:
        """The margin model of a snapshot's position, where it tells its margin and a liquidation price (or, for a
        cross one the venue gives none, null, its mark and the cross collateral: AccountSnapshot.mark_px), or of a
        flat account, where it tells the margin a position opened from it would have (the coin's maximum leverage,
        the user's setting, the cross collateral: AccountSnapshot.cross_available): the price moved at once by the
        fills the tracker holds past the snapshot's watermark (in the position now, not in the venue's then), in
        their time order (their tids). A flat snapshot not told them (a gateway that does not know the user's
        setting) leaves a position opened since without a price until the next snapshot, as before; so does an
        isolated position's null not told its rawUsd (its own margin: AccountSnapshot.raw_usd)."""
        fill_px = self._fill_px
        recent = self.tracker.recent_fills
        for tid in [t for t in fill_px if t not in recent]:  # (in the snapshot's position, or dropped)
            del fill_px[tid]
        state_ms = self._liq_state_ms = ev.venue_time_ms
        fundings = self._fundings
        if fundings:  # (kept in time order: _on_funding)
            fundings[:] = [f for f in fundings if f[0] > state_ms] if state_ms else []
        pos, lq = ev.position, ev.liquidation_px
        # the venue's null (no positive price liquidates it: a well-collateralised long) on a cross position: Z from
        # the mark and the cross collateral beyond maintenance, as the venue's formula has the price (mark -
        # cross_available / (s - m|s|)); on an isolated one, from its own margin: Z = -rawUsd
        null = pos and not lq > 0.0
        if not (ev.max_leverage > 0.0 and ev.leverage > 0.0) or (
                null and (ev.raw_usd is None if ev.isolated else not ev.mark_px > 0.0)):
            self._liq_margin = None  # not told, or none to move
            return
        m = 0.5 / ev.max_leverage
        # a coin of several margin tiers: its maintenance by its table (that of the notional's tier less the tier's
        # deduction: common/margin_tiers.py), Z and the price solved with it; one tier keeps m, as it always had
        tiers = self._liq_tables.get(ev.margin_tiers) if ev.margin_tiers else None
        if tiers is None and ev.margin_tiers:
            tiers = self._liq_tables[ev.margin_tiers] = MarginTable(ev.margin_tiers)
        self._liq_margin = (m, 1.0 / ev.leverage, ev.isolated, tiers)
        self._liq_pos = pos
        if null:
            self._liq_near = [0.0, 0.0]
            if ev.isolated:
                self._liq_z = -ev.raw_usd
            elif tiers is None:
                self._liq_z = ev.mark_px * (pos - m * abs(pos)) - ev.cross_available
            else:
                self._liq_z = ev.mark_px * pos - tiers.maintenance(abs(pos) * ev.mark_px) - ev.cross_available
        elif pos:
            self._liq_near = [lq, 0.0] if pos > 0.0 else [0.0, lq]
            self._liq_z = lq * (pos - m * abs(pos)) if tiers is None else lq * pos - tiers.maintenance(abs(pos) * lq)
        else:
            # flat: a position opened since has a price from the first fill. Z = 0 x entry - the collateral, the cross
            # account's value less its other positions' maintenance margin (an isolated one margins afresh)
            self._liq_near = [0.0, 0.0]
            self._liq_z = -ev.cross_available
        # (what the replay starts from, kept for a payment pushed after a later fill: _liq_paid_late)
        self._liq_base = _LiqBase(self._liq_pos, self._liq_z, self._liq_near[:], self._liq_px, self._liq_long,
                                  self.tracker.tid_watermark)
        if not self._liq_replay():  # (booked before the core kept prices: a journal of older code, replayed)
            self._liq_margin = None

    def _liq_replay(self, base: _LiqBase | None = None) -> bool:
        """The fills and the funding past the snapshot, from its margin model, in their venue time order (a fill's is
        its tid's high bits: fill_key; one at a payment's ms before it): a cross position's Z moves alike in any order,
        but an isolated one pays funding from its own margin, which a close discards and a reduce shares out (a payment
        put after a close and an opening was paid again into the new position's margin). From ``base`` (``_liq_base``)
        where given, else from the model as it stands. False, with nothing done, where a fill's price is not kept."""
        fill_px = self._fill_px
        recent = self.tracker.recent_fills
        if any(tid not in fill_px for tid in recent):
            return False
        if base is not None:
            self._liq_pos, self._liq_z, self._liq_px, self._liq_long = base.pos, base.z, base.px, base.long
            self._liq_near = base.near[:]
        fundings = self._fundings
        paid = 0
        for tid in sorted(recent):
            while paid < len(fundings) and fundings[paid][0] < tid >> _TID_BITS:
                self._liq_fund(fundings[paid][1])
                paid += 1
            px, fee = fill_px[tid]
            self._liq_follow(self._liq_pos + recent[tid], recent[tid], px, fee)
        self._liq_pos = self.tracker.position  # (summed in another order: the one the next fill is booked on)
        for _, usdc in fundings[paid:]:
            self._liq_fund(usdc)
        return True

    def _liq_paid_late(self, time_ms: int) -> bool:
        """A payment (at ``time_ms``, in ``_fundings`` already) pushed after a fill since the snapshot with a later
        venue time (funding and fills come on different channels): the price worked again from the snapshot's model,
        the payment in its time order among the fills (``_liq_replay``), as the next snapshot would. Applied as it
        came, an isolated position closed and opened again since was paid it again in the new position's margin.
        False (the caller applies it as it came: off by one payment until the next snapshot) where no fill since is
        later, or the tracker took another snapshot's watermark since (one asked before a reconnect: the fills past
        the model's are not all in ``recent_fills``), or a fill's price is not kept. Hourly: nothing per event."""
        recent = self.tracker.recent_fills
        base = self._liq_base
        if not recent or max(recent) >> _TID_BITS <= time_ms or base.watermark != self.tracker.tid_watermark:
            return False
        return self._liq_replay(base)

    def _liq_follow(self, s1: float, booked: float, px: float, fee: float) -> None:
        """The liquidation price moved by a fill of ``booked`` (signed) at ``px`` paying ``fee``, which took the
        position to ``s1``, as the venue's own margin rules move it (hyperliquid.md §1's clearinghouseState,
        twin/accounts.py's liquidation_px): with m the maintenance fraction (1 / (2 x max leverage)) and s the
        position, the price L solves equity(L) = m |s| L, which is L = Z / (s - m |s|) with Z = s x entry - the
        collateral (an isolated position's margin; a cross one's the dex's cross balance, its other positions held).
        A fill moves Z without recomputing any margin: on a cross position by its notional and its fee (paid from the
        balance), whatever it opens or closes; on an isolated one, adding moves notional / leverage into its margin,
        reducing releases its share (L stays), and what opens after zero margins afresh. A coin of several margin
        tiers solves equity(L) = maintenance(|s| L) with its table instead (MarginTable.liquidation_px_z: tier k's
        rate and deduction, k the tier L's notional is in), as the twin's accounts do. Exact (funding on the
        position: ``_liq_fund``); the price in use only
        ever moves nearer (a long's up, a short's down) until the next snapshot, each side's apart (the snapshot's
        side never farther than the snapshot's price): a cross position reduced has it farther, and a new isolated
        one opened after a close (or a liquidation) may have, which the venue will say."""
        m, inv_lev, isolated, tiers = self._liq_margin
        s = self._liq_pos
        if abs(s1) < 1e-12:
            s1 = 0.0
        z = self._liq_z
        if not isolated:
            z += booked * px + fee
        elif s and (s > 0.0) == (booked > 0.0):  # added to
            z += booked * px - abs(booked) * px * inv_lev
        elif s and s1 and (s1 > 0.0) == (s > 0.0):  # reduced: its margin's share released with its size
            self._liq_z = z * s1 / s
            self._liq_pos = s1
            return  # (its price stays: worked out again, it came out an ulp nearer, a move the record said)
        else:  # closed, opened, or flipped: what is left opened at px
            z = s1 * px - abs(s1) * px * inv_lev
        self._liq_z = z
        self._liq_pos = s1
        if not s1:
            return  # (flat: nothing to be near; what opens from here has its own price, or its side's nearer one)
        lq = z / (s1 - m * abs(s1)) if tiers is None else tiers.liquidation_px_z(s1, z)
        near = self._liq_near
        if s1 > 0.0:
            if lq > near[0]:  # (a long's price <= 0: the venue's null, no positive price liquidates it)
                near[0] = lq
            self._liq_px = near[0]
            self._liq_long = True
        else:
            if lq > 0.0 and (not near[1] or lq < near[1]):
                near[1] = lq
            self._liq_px = near[1]
            self._liq_long = False

    def _liq_fund(self, usdc: float) -> None:
        """A funding payment on the position since the snapshot (``usdc`` signed as the venue's: negative paid),
        as the venue books it: into the cross balance, or an isolated position's own margin (twin/accounts.py's
        apply_funding), either way the collateral in Z, which it moves by -usdc; the price nearer only, as a fill's
        (``_liq_follow``). Our coin's only: the other coins' funding and marks, which move a cross account's
        collateral too, the core is not told (their payments reach the gateways on the user channel, dropped there;
        their marks on no feed the gateway subscribes to: README's "The agent")."""
        s = self._liq_pos
        self._liq_z -= usdc
        if not s:
            return
        m, _, _, tiers = self._liq_margin
        lq = self._liq_z / (s - m * abs(s)) if tiers is None else tiers.liquidation_px_z(s, self._liq_z)
        near = self._liq_near
        if s > 0.0:
            if lq > near[0]:
                near[0] = self._liq_px = lq
        elif lq > 0.0 and (not near[1] or lq < near[1]):
            near[1] = self._liq_px = lq

    def _liquidation_exposure(self, exposures: tuple[float, float], pos: float, mid: float) -> tuple[float, float]:
        """The tracker's exposures (buys, sells out), with the position counted as out on its reducing side when
        the mid is within ``LIQUIDATION_NEAR`` of the last snapshot's liquidation price of it, or past it. The
        venue's liquidation is a fill of that side we did not send: it takes the position away and cancels the
        coin's resting orders, but orders still on their way land after it, on a flat account. A reducing side
        given reconcile's room for the position it would close (limit + |position|) then takes the worst case past
        the limit until the next cycle trims it (found_93577037b4, now chaos_ladder_lands_after_liquidation: an
        isolated +2 liquidated 47 ms after the first cycle sent asks of 102 against a limit of 100). Counted as out,
        the position leaves that side the limit alone, which holds whether the venue takes it or not; the side that
        adds to it keeps its room, and so do reduce-only quotes (reconcile's ``reducing_out``: the venue refuses one
        on a flat account, and held to the limit alone, Red's exits of a short of 318 beside 82 of room were cut
        from 95 to 40, decisions_diff's chaos_0122). (Pulling on the liquidation's fill comes too late: the cancel
        lands after them.) A cycle it sizes says so in its record: its last steps, the price, the mid's distance
        from it and the position counted out (``CycleDecisionRecord.adjustments``), else the operator reading the
        log could not tell why that side was cut.

        Why 1% of the mid: it is the nearest a position opened at the venue's highest maximum leverage is at its
        entry (50x, hyperliquid.md §1's meta: the maintenance margin half the initial, 1/50 - 1/100 of the price;
        an isolated 10x hyna:LIT position's 5.3%, a cross one's more, the rest of the account margining it), so it
        never bites a position for its leverage alone, only one that has lost most of its margin to the market,
        which the drawdown rules stop first on a sized account (in the committed scenarios and bench_agent's
        profiles no position came nearer than 4.9%). And it is several times what can part the venue's view from
        ours before the next cycle: the venue liquidates on its mark, a median of oracle, book and other venues'
        prices (markPx beside midPx), which on a thin book can stand apart from its mid; and a cycle's orders fly
        for a round trip, over which and a cycle a calm market moves a few bps. A jump larger than that while they
        fly is not covered; once it is in the mid, the next cycle is sized for it. The price is the last snapshot's
        (one at least every audit_interval_s; a position's own does not move with its mark), moved by our fills
        since where the snapshot told how the venue margins the position (``_liq_follow``): a position grown since
        has a nearer one (a cross long of 0.002 whose snapshot said 2.8% under the mid, bought to 0.004 at the mid,
        is 0.9% from it: test_liquidation_sizing), and one opened since a flat snapshot that told the margin it
        would have has one from its first fill (test_liquidation_follow). Not told, the snapshot's is used for a
        position on its own side only (one flipped or opened since has none known)."""
        lq = self._liq_px
        if self._liq_long:
            if pos > 0.0 and mid - lq < LIQUIDATION_NEAR * mid:
                return exposures[0], exposures[1] + pos
        elif pos < 0.0 and lq - mid < LIQUIDATION_NEAR * mid:
            return exposures[0] - pos, exposures[1]
        return exposures


def _validation_factors(metrics: tuple, weights: tuple) -> tuple:
    """(each signal's factor on its shift..., the spread's widening in bps) from its card's metrics and its weight:
    a proven card (an evaluation counted, ``min_outcomes`` in its window) scales its weighted signal's shift by its
    calibration slope clipped to [0, 1] (1 where it has none), and widens the spread by weight × its edge bias where
    that is > 0; 1.0 (no change) otherwise. (An unproven card's evaluations are of a few outcomes: 20 at the first,
    whose slope is noise and took a signal's shift to 0 or left it whole by chance.)"""
    out = []
    widen_bps = 0.0
    for m, weight in zip(metrics, weights):
        f = 1.0
        if m.proven and weight:
            s = m.calibration_slope
            f = 1.0 if s != s else (0.0 if s < 0.0 else 1.0 if s > 1.0 else s)
            b = m.edge_bias_bps
            if b == b and b > 0.0:
                widen_bps += weight * b
        out.append(f)
    out.append(widen_bps)
    return tuple(out)


class _SignalsOfRecord:
    """A cycle record's ``signals``, (name, p_up, weight, weighted shift) per signal, made when the record is read
    (written, or a postmortem's): from the cycle's ``SignalBlend.parts`` (name, p_up, weight, shift) and each one's
    weighted shift after validation (``shifts``). Most records are dropped unread, and the quote cycle made a
    tuple a signal for them on its way to the commands."""

    __slots__ = ("parts", "shifts")

    def __iter__(self):
        return iter([(name, p_up, weight, wa) for (name, p_up, weight, _), wa in zip(self.parts, self.shifts)])

    def __len__(self) -> int:
        return len(self.shifts)


class _Dispatch(dict):
    """The core's handlers by event type: a type without one of its own gets ``other`` (``AgentCore._on_other``),
    kept under it at its first event, so that ``handle`` looks every event up with a subscript alone."""

    __slots__ = ("other",)

    def __init__(self, handlers: dict, other) -> None:
        super().__init__(handlers)
        self.other = other

    def __missing__(self, t: type):
        self[t] = other = self.other
        return other


_new_object = object.__new__
_tuple_new = tuple.__new__
_PENDING_CANCEL = OrderState.PENDING_CANCEL
_RESTS = (OrderState.RESTING, OrderState.PARTIALLY_FILLED)
_MISSING = Reason.MISSING_ORDER
_PULLABLE = frozenset({OrderState.PENDING_NEW, OrderState.RESTING, OrderState.PARTIALLY_FILLED})
_GREEN = SafetyLevel.GREEN  # (an enum member read from its class costs a Python-level lookup)
_BUY = Side.BUY
_SELL = Side.SELL
_DESIRED = (DesiredQuote, _BUY, _SELL)  # the ladder builds DesiredQuotes: (class, bid side, ask side)
# the venue's text ends the bbo with the sentence's full stop ("bbo was 1800.1@1800.2. asset=4"): a number is
# digits with at most one decimal point, so that stop is never part of the ask
_BBO = re.compile(r"bbo was ([0-9]+(?:\.[0-9]+)?)@([0-9]+(?:\.[0-9]+)?)")
# the info requests an account snapshot is made of, as the gateways name them in RateLimited; the first
# refusal of one is retried after _SNAPSHOT_RETRY_S, doubling (a cancel-all's openOrders is named alike, and
# told apart by its for_command)
_SNAPSHOT_PARTS = frozenset({"clearinghouseState", "openOrders", "userFills"})
# a modify that found its order filled or gone: the cancel/fill race, not the venue's health
_MODIFY_RACES = frozenset({Reason.MODIFY_CANCELED_OR_FILLED, Reason.MISSING_ORDER})
_REDUCE_ONLY = Reason.REDUCE_ONLY
_SNAPSHOT_RETRY_S = 1.0
# the distance to the liquidation price, a fraction of the mid, within which the reducing side is sized as if the
# venue could take the position before its orders land (AgentCore._liquidation_exposure says why 1%)
LIQUIDATION_NEAR = 0.01
_FILL_PX_KEEP = 4096  # fills' prices kept for the next snapshot (AgentCore._fill_px): a few minutes' at the busiest
# a flatten with the budget down to the cancel reserve and no order left to cancel: one IOC from the reserve this
# often (the venue lets one request per 10 s through an exhausted budget), and never its last items (a pull's)
_RESERVE_IOC_S = 10.0
_RESERVE_KEEP = 20
_DEAD_MAN_RETRY_S = 3600.0  # a refused dead-man's switch is asked for again this long after
# the venue's firings of the switch a day, its counter reset at 00:00 UTC (hyperliquid.md §2.2); the core's ts is UTC
# epoch seconds live (the twin's from 0: its day 0)
DEAD_MAN_DAILY_FIRES = 10
_DAY_S = 86_400.0
# the scheduleCancel refusal texts counted each under its own (AgentCore.dead_man_refusals: the live summary's
# dead_man_switch_refusals); every later new text is counted under DEAD_MAN_OTHER_TEXTS. Unbounded, the count grew by
# one a refusal whose text names a number: the venue's $1M rule names the volume traded (hyperliquid.md §2.2: each
# hourly refusal a key of its own), and a text naming a nonce or a time, refused at every re-arm (seconds apart), made
# thousands of keys a day, in summary.json at every checkpoint and on the console's dead-man row
DEAD_MAN_REFUSAL_TEXTS = 20
DEAD_MAN_OTHER_TEXTS = "(other texts)"

# why a quote cycle is held to cancels alone, as the hold's record says it and the other hold's release names it
# (``still_held``: a hold released while the other stands does not resume quoting)
_QUOTA_HOLD_WHY = "first quota report awaited"
_IP_HOLD_WHY = "the last minute's IP weight at the requoting share"


def snapshot_backoff_cap(config: AgentConfig) -> float:
    """The longest the core waits before sending again a snapshot request the venue refused, s (its backoff starts at
    _SNAPSHOT_RETRY_S and doubles up to this): 2 x pull_retry_s (each second blind after a storm of 429s is lost), but
    never so short that the retries, each counted at SNAPSHOT_SENT_WEIGHT (a refused request counted as charged: the
    safe side), take more than half the snapshots' share of the minute's IP weight (4.7 s as shipped): faster ones
    spent it within a storm, beside the quota polls, the fill recovery after a reconnect and the resyncs it forces,
    and once the storm was over the next request waited for the minute to roll over, up to 60 s blind (pull_retry_s
    0.5 s: 42 a second against 1,080 a minute). A function of the config alone, public: the scenario judge bounds how
    long a correct core may take to resolve a pull lost in transport by it (scenarios.invariants._lost_pull_s)."""
    b = config.budget
    pace_s = 60.0 * SNAPSHOT_SENT_WEIGHT / (0.5 * b.ip_snapshot_frac * b.ip_weight_per_minute)
    return max(2.0 * config.risk.pull_retry_s, pace_s)
