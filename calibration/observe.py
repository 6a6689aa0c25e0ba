"""What a run saw of the venue, as the twin's fault models would have to reproduce it.

The events a core handled are the run (it is sans-IO and deterministic): fed again, in order, to a core
built as the run's was, they give back every command at the moment it was sent. A place's round trip is
then the time from its sending to the venue's answer (acknowledged or rejected: the twin's order-entry
and response latencies added up), and each answer's reason is counted per place sent.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from agent.audit.event_log import CoreFailed, handled
from agent.gateway.fills import TID_BITS
from agent.gateway.events import (
    AccountChangedByVenue, AccountSnapshot, Batch, BboUpdated, BookUpdated, ConnectionLost, ConnectionRestored,
    FillReceived, ModifyAcknowledged, ModifyOrder, ModifyRejected, OrderAcknowledged, OrderClosedByVenue, OrderRejected,
    PlaceOrder, QuotaStatus, RateLimited, Reason, Side, TradeObserved,
)
from calibration.numbers_text import count_text

# events that arrive on the websocket (the others are REST replies or the driver's own timers)
_PUSHED = (BookUpdated, BboUpdated, TradeObserved, FillReceived, OrderClosedByVenue, AccountChangedByVenue)
# the venue's replies to our requests, and the field naming the order each answers (a modify's: its new cloid)
_REPLY_NAMES = {OrderAcknowledged: "cloid", OrderRejected: "cloid", ModifyAcknowledged: "new_cloid",
                ModifyRejected: "new_cloid"}
HELD_WITHIN_S = 0.001  # an update this soon after the frame before it may have waited behind it (see feed_held)


# reasons the twin's rules produce from the orders and the book, never by a random draw: not fitted
RULE_REASONS = frozenset({"BadAloPx", "ModifyBadAloPx", "MinTradeNtl", "Tick", "ReduceOnly", "InvalidSize",
                          "ZeroSize", "MissingOrder", "ModifyCanceledOrFilled", "TooManyOpenOrders", "RateLimited",
                          "NonceInvalid", "IocCancel", "Nonce", "Signature", "Expired", "ScheduleCancelRefused",
                          "Transport"})


@dataclass(frozen=True)
class Stop:
    """A journal's shutdown line (the live run's stop): the replayed core is stopped there, as the audit's replay stops
    it, so that what its shutdown sent (the cancels, ``--flatten-on-stop``'s IOCs) is the run's, and their answers
    replies to orders it sent."""

    ts: float
    flatten: bool = False


@dataclass(frozen=True)
class Observations:
    """A run's venue behaviour: every number here is a count or a duration the fits below read."""

    round_trip_s: np.ndarray  # each request of places the venue answered: from sending to its reply, s (a batch's
    # places share one reply; a transport failure, which has none, is counted under rejections["Transport"])
    places: int  # places sent (answered, refused by quota, or never answered)
    answered: int  # places the venue answered (acknowledged or rejected)
    rejections: dict[str, int]  # places rejected, by the gateway's reason code
    place_requests: int  # requests (actions) that carried places: a batch is one
    lost_requests: int  # of them, those none of whose places was ever answered (lost in transport)
    feed_lag_s: np.ndarray  # each book update: from the venue's time on it to its arrival, s (the feed's latency)
    # (a socket delivers in order: an update that arrived right behind another frame, within HELD_WITHIN_S, may have
    # waited for it, and its own latency is then only known to be at most its lag: ``feed_held``)
    disconnects: int  # websocket drops
    outages_s: np.ndarray  # each drop's length until the socket was back, s (the venue's outage, the agent's backoff)
    connected_s: float  # time with the socket up, s
    duration_s: float  # the run's span, s
    runs: int = 1
    config: dict | None = None  # the (last) run's agent config, as its start record has it (a replay runs it)
    # the market as the feed showed it (the coin quoted): book updates' times, mids, spreads and level sizes,
    # and the public trades' sizes
    coin: str = ""
    book_ts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    book_venue_s: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the venue's time on each (s; nan: none)
    mid: np.ndarray = field(default_factory=lambda: np.zeros(0))
    spread: np.ndarray = field(default_factory=lambda: np.zeros(0))
    level_sz: np.ndarray = field(default_factory=lambda: np.zeros((0, 2, 0)))  # updates × (bids, asks) × depth
    # the market's own aggressors (a sweep's prints, under one hash, one: ``_aggressors``), ours left out: their sizes
    trade_sz: np.ndarray = field(default_factory=lambda: np.zeros(0))
    own_prints: int = 0  # prints of our own fills (told by their tid, which the fill carries too): not in trade_sz
    trade_ts: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per trade_sz: its arrival
    trade_side: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per trade_sz: +1 the buyer aggressed, −1 not
    # per trade_sz: its price, and the touch on its aggressor's side (the ask for a buy, the bid for a sell) stamped
    # last before it, from the bbo channel or the book (ours taken out) (``_touch_before``; nan: none seen, or a bbo
    # side at the price of one of our resting orders, where the market's own is not known): how far the prints reach
    # (``fit_reach``)
    trade_px: np.ndarray = field(default_factory=lambda: np.zeros(0))
    trade_touch: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # each bbo push with both sides the market's (``_bbo_touch``): its arrival and mid. The venue pushes one at a block
    # where the touch changed: how often and how far the touch moves under a second (``touch_moves``), the one part
    # of the mid's sub-second path the feed shows
    bbo_ts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bbo_mid: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # each order the venue acknowledged resting: its distance behind its side's touch then (the market's own touch,
    # in ticks: 0 at it, negative inside the spread) and whether any of it filled (as maker)
    order_distance: np.ndarray = field(default_factory=lambda: np.zeros(0))
    order_filled: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    # our maker fills, for their markouts against ``mid``: when, at what price, which side (+1 bought, −1 sold)
    fill_ts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    fill_px: np.ndarray = field(default_factory=lambda: np.zeros(0))
    fill_side: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tick: float = 0.0  # the coin's price grid and size decimals, as the run traded it (0 / -1: not known)
    sz_decimals: int = -1
    feed_held: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # per feed_lag_s
    # the address budget as the venue reported it (userRateLimit): time, requests used, cap, cumulative volume USDC
    quota: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    feed_lags_dropped: int = 0  # book updates whose lag was not in (0, 60] s: clocks apart, not a latency
    # book updates after the host's clock stepped back (as the core saw it: AgentCore._stepped_back): from then on
    # the arrivals are on another clock than the skew measured at the run's start, and their lags are no latency
    feed_lags_after_step: int = 0
    # book updates from the last account snapshot before one that showed the host's clock moved against the venue's
    # (``MOVED_CUT_S``: no event's time shows a step forward, nor a step back between events further apart than it;
    # the snapshots' windows do): left out as those after a step back; ``clock_moved_s``: the least it moved by
    # (positive ahead, negative back)
    feed_lags_after_move: int = 0
    clock_moved_s: float = 0.0
    quota_run: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # per quota row: its run (0, 1, ...)
    # replies (acknowledged or rejected places and modifies) naming an order the replay never sent: the replayed core
    # went another way than the run's (a line lost or doubled, or the core's code changed since): its sending times,
    # and so every count here, are then not the run's
    stray_replies: int = 0
    left_out: tuple[str, ...] = ()  # what the journal's reader left out, and why (a line cut by a crash, an empty run)
    # the places of ``eligible`` by kind, "TIF|reduce-only|adds to the position" (e.g. "Alo|0|1"; the position the
    # agent's own when it sent the place): a reason the venue gives only some kinds (a margin refusal only orders
    # adding to the position) is a rate over those (``eligible_for``). Empty: not known (made by hand), all count
    eligible_kinds: dict[str, int] = field(default_factory=dict)
    # orders the venue acknowledged resting that still rested unfilled when the events ended (a run killed outright
    # left them on the book, where they may fill after, unseen): not in ``order_distance`` / ``order_filled``
    resting_at_end: int = 0
    # per outages_s: the least the venue's own outage can have been, s: to the start of the last reconnect attempt it
    # refused (ConnectionRestored.refused_ts; the rest was the agent's backoff). Empty, or that outage's own length:
    # not known, the outage taken as the venue's whole (the twin in process reconnects as its outage ends). Negative,
    # to -outages_quiet_s: a silent socket whose first reconnect was taken, its outage maybe over before the drop was
    # declared (a mute socket stays mute when the path is back)
    outages_from_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # per outages_s: how long before the drop was declared the venue's outage began, s: a socket found dead by its
    # silence (ConnectionLost.silent_since) went mute after its last frame (the feed brings one every half second or
    # so), the gateway's silence_s (60 s) before; or its book stopped (a stale-book drop: its last frame, up to twice
    # book_stall_s before, 20 s at the defaults). Empty: none (a close is told as it happens)
    outages_quiet_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # what the account had to margin orders with at the (last) run's start, USDC: its first snapshot's value less the
    # margin its positions used then (nan: no snapshot). The replay funds its twin account so; session.collateral_usd
    # is the drawdown rules' basis, which a config may set to a part of the account (a replay funded from it was
    # refused for margin where the run was not)
    start_free_usd: float = math.nan
    # of the run whose start_free_usd it is: (its places adding to the position the venue took, at least; those it
    # refused for margin), replay_funds' evidence of margin elsewhere (a unified account). Empty: this sample's own
    # counts (one run's, or made by hand)
    start_margin_counts: tuple[int, ...] = ()

    def eligible_for(self, reason: str) -> int:
        """The places that could have been refused with ``reason``: of ``eligible``, those of a kind the venue (and
        the twin, ``can_refuse``) refuses with it."""
        from twin.faults.rejections import RejectReason, can_refuse

        if not self.eligible_kinds or reason not in RejectReason.__members__:
            return self.eligible
        r = RejectReason(reason)
        n = 0
        for kind, k in self.eligible_kinds.items():
            tif, ro, inc = kind.split("|")
            if can_refuse(r, tif, ro == "1", inc == "1"):
                n += k
        return n

    @property
    def eligible(self) -> int:
        """Places that passed the twin's rules: the answered, less those a rule of its own rejected (crossing a
        post-only order, off the grid, ...). The twin draws its random rejections for these."""
        return self.answered - sum(k for r, k in self.rejections.items() if r in RULE_REASONS)

    def merged(self, other: "Observations") -> "Observations":
        """Two runs' observations as one sample (a live folder carries on over restarts): counts and durations
        add, samples concatenate (a return across two runs' book series is dropped by the fit's time-gap
        rule), and what describes the run (config, coin, grid) is the later run's where it says."""
        out = {}
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name == "level_sz":
                out[f.name] = _stack(a, b)
            elif isinstance(a, np.ndarray) and f.name not in ("quota_run", "outages_from_s", "outages_quiet_s"):
                out[f.name] = np.concatenate([a, b])
            elif isinstance(a, dict) and f.name in ("rejections", "eligible_kinds"):
                out[f.name] = {k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()}
            elif f.name == "clock_moved_s":
                out[f.name] = a if abs(a) >= abs(b) else b
            elif f.name == "start_free_usd":
                out[f.name] = b if b == b else a
            elif f.name == "start_margin_counts":  # (the run's whose start_free_usd is kept, not the sum's)
                out[f.name] = other.margin_counts() if other.start_free_usd == other.start_free_usd \
                    else self.margin_counts()
            elif f.name in ("config", "coin", "tick", "sz_decimals"):
                out[f.name] = b if b not in (None, "", 0.0, -1) else a
            elif f.name == "outages_from_s":
                out[f.name] = np.concatenate([self.outage_lower_s(), other.outage_lower_s()])
            elif f.name == "outages_quiet_s":
                out[f.name] = np.concatenate([self.outage_quiet_s(), other.outage_quiet_s()])
            elif f.name == "quota_run":  # (the later run's numbered on from the earlier's)
                out[f.name] = np.concatenate([self.quota_runs(), other.quota_runs() + self.runs])
            else:
                out[f.name] = a + b
        return Observations(**out)

    def margin_counts(self) -> tuple[int, int]:
        """(the places adding to the position the venue took, at least: those of such kinds less every refusal of
        the venue's; those it refused for margin), of the run whose first snapshot ``start_free_usd`` is."""
        if len(self.start_margin_counts) == 2:
            return self.start_margin_counts[0], self.start_margin_counts[1]
        refused = sum(k for r, k in self.rejections.items() if r not in RULE_REASONS)
        return self.eligible_for("PerpMargin") - refused, self.rejections.get("PerpMargin", 0)

    def outage_lower_s(self) -> np.ndarray:
        """Each outage's least venue part (``outages_from_s``; its whole length where not known)."""
        if len(self.outages_from_s) == len(self.outages_s):
            return np.minimum(self.outages_from_s, self.outages_s)
        return np.asarray(self.outages_s, dtype=float)

    def outage_quiet_s(self) -> np.ndarray:
        """Each outage's silence before its drop was declared (``outages_quiet_s``; 0 where not given)."""
        if len(self.outages_quiet_s) == len(self.outages_s):
            return np.asarray(self.outages_quiet_s, dtype=float)
        return np.zeros(len(self.outages_s))

    def quota_runs(self) -> np.ndarray:
        """Each quota row's run: ``quota_run``, or every row the first run's when it was not given (made by hand)."""
        return self.quota_run if len(self.quota_run) == len(self.quota) else np.zeros(len(self.quota), dtype=int)


def _stack(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not a.size:
        return b
    if not b.size:
        return a
    n = min(a.shape[2], b.shape[2])
    return np.concatenate([a[:, :, :n], b[:, :, :n]])


# a step back of the host's clock that cuts a run's later feed lags (``feed_lags_after_step``): one under the venue's
# millisecond stamps moves no lag by what they can show, and events stamped microseconds apart out of order (a
# refusal the gateway stamps as it queues it, handed on after an event stamped later) would otherwise have cut the
# rest of a run's lags for nothing
STEP_CUT_S = 0.001
# how far outside every earlier snapshot's window one's must lie to say the host's clock moved: a snapshot's venue
# time was between its request and its answer, so its window (request, answer) less that time holds the clocks'
# offset; windows a round trip wide (0.3 s in the twin) see a step of more than that, not a smaller one
MOVED_CUT_S = 0.05
# what the windows above, and the live run's clock_skew_s (preflight), take the venue's time on a snapshot to be: the
# venue does not say (hyperliquid.md §1), and third-party SDKs' docs call it the time the data was retrieved
VENUE_TIME_ASSUMED = ("an account snapshot's venue time (clearinghouseState's `time`) is taken as the venue's clock "
                      "when it answered, between the request and its answer: the venue does not document the field "
                      "(third-party SDKs call it the time the data was retrieved); were it the time of the state's "
                      "last block, each window would read early by that block's age, the host's skew and a clock "
                      "moved with it")


def observe(events: Iterable, core, venue_epoch_s: float = 0.0, clock_skew_s: float = 0.0,
            on_stray: Callable[[object], None] | None = None, journal: bool = False) -> Observations:
    """Feed ``events`` to ``core`` (a fresh core built as the run's was) and collect what the venue did.
    ``venue_epoch_s``: the venue's time (epoch s) at the events' time 0; 0 for a live run, whose events carry
    the wall clock (a twin session's start at the twin's epoch). ``clock_skew_s``: how far the host's clock was
    behind the venue's (negative: ahead), as the live run's preflight measured it (its start record's
    ``clock_skew_s``, known to ± half a round trip): the feed's lags are the venue's time on an update to its
    arrival, and 20 ms of skew moved a fitted 60 ms median to 40 or 80 ms. A reply naming an order the replay never
    sent is counted (``stray_replies``) and handed to ``on_stray``: the replay has gone another way than the run.
    ``journal``: the events are a journal's, and an exception the core raises on one is CoreFailed
    (``event_log.handled``, said with its line); else (a twin session's: the fitted twin's replay) it is the core's
    bug, raised as itself with its traceback."""
    handle = functools.partial(handled, core) if journal else core.handle
    sent: dict[str, float] = {}
    kind_of: dict[str, str] = {}  # cloid → its kind (``Observations.eligible_kinds``)
    kinds: dict[str, int] = {}
    issued: set[str] = set()  # every order the replay sent: places' cloids and modifies' new ones
    strays = 0
    request_of: dict[str, int] = {}  # cloid → the request that carried it
    answered_requests: set[int] = set()
    refused_requests: set[int] = set()  # refused by the quota before the venue saw them: not lost
    n_requests = 0
    answered = 0
    rts: list[float] = []
    rejections: dict[str, int] = {}
    places = 0
    down_since: float | None = None
    outages: list[float] = []
    outages_from: list[float] = []
    outages_quiet: list[float] = []
    quiet = 0.0  # the current outage's silence before it was declared
    start_free = math.nan
    lag_at: list[float] = []  # per lag: its arrival
    offset_lo, offset_hi = -math.inf, math.inf  # the host's clock less the venue's, as the snapshots so far bound it
    snapshot_ts = -math.inf  # the last snapshot's arrival
    moved_from = math.inf  # the lags from this arrival on are cut: the clock moved after it
    moved_by = 0.0
    disconnects = 0
    first = last = None
    up_from = -math.inf  # the last ConnectionRestored: a silence began after it (the run's first socket: not known)
    lags: list[float] = []
    lags_dropped = 0
    lags_after_step = 0
    held: list[bool] = []
    quota: list[tuple[float, int, int, float]] = []
    prev_push = -math.inf  # when the last push arrived
    # the run's coin, as its config names it (a book seen names it too): a run too short for a book with both sides
    # said "the base has no  market either: the twin has none", of a coin the base lists, and then replayed it
    coin = core.cfg.session.coin
    book_ts: list[float] = []
    book_venue: list[float] = []
    mids: list[float] = []
    spreads: list[float] = []
    levels: list[tuple[np.ndarray, np.ndarray]] = []
    trades: list[tuple[int, float, float, int, float, float]] = []  # (tid, size, arrival, aggressor side, price,
    # the touch on its side stamped last before it) of every print
    # (venue ms, (bid, ask)) of the touches last seen, by the bbo channel or the book (the market's own): a print is
    # measured against the newest stamped before it (``_touch_before``)
    touches: collections.deque = collections.deque(maxlen=TOUCHES_KEPT)
    bbo: list[tuple[float, float]] = []  # (arrival, mid) of each bbo push with both sides the market's
    our_tids: set[int] = set()
    tick = getattr(core, "tick", 0.0) or 1.0
    bids = asks = ()  # the market's own book, as last seen
    rested: dict[str, int] = {}  # cloid → its row in distance / filled
    distance: list[float] = []
    filled: list[bool] = []
    fills: list[tuple[float, float, int]] = []
    for ev in events:
        ts = ev.ts
        t = type(ev)
        if t is not Stop:  # (the stop is no event the venue sent: the run's span is its events', as it was)
            if first is None:
                first = ts
            last = ts
        named = _REPLY_NAMES.get(t)
        if named is not None and getattr(ev, named) not in issued:
            strays += 1
            if on_stray is not None:
                on_stray(ev)
        if t is BookUpdated:
            ours = _resting(core)
            bids, asks = (_less(ev.bids, ours), _less(ev.asks, ours)) if ours else (ev.bids, ev.asks)
            if bids and asks:
                coin = ev.coin
                bb, ba = bids[0][0], asks[0][0]
                book_ts.append(ts)
                book_venue.append(ev.venue_time_ms / 1000.0 if ev.venue_time_ms > 0 else math.nan)
                mids.append(0.5 * (bb + ba))
                touches.append((ev.venue_time_ms, (bb, ba)))
                spreads.append(ba - bb)
                # (compact: a day's updates, 20 levels a side, are some 170,000 of them)
                levels.append((np.fromiter((lv[1] for lv in bids), np.float32, len(bids)),
                               np.fromiter((lv[1] for lv in asks), np.float32, len(asks))))
            if ev.venue_time_ms > 0 and (ts < core.tracker.now - STEP_CUT_S or
                                         getattr(core, "clock_step_back_max_s", 0.0) > STEP_CUT_S):
                lags_after_step += 1  # (a step back of 0.1 s halfway through a run fitted a 150 ms leg at 79 ms)
            elif ev.venue_time_ms > 0:
                lag = ts + clock_skew_s - (ev.venue_time_ms / 1000.0 - venue_epoch_s)
                # a clock behind the venue's by more than the latency (after the skew measured), or not the venue's
                # clock at all (twin serve keeps its own epoch): not a lag, counted
                if 0.0 < lag <= 60.0:
                    lags.append(lag)
                    lag_at.append(ts)
                    # (after_frame_s: behind any frame, order updates that make no event too; a journal written
                    # before it was recorded has inf there, and then only the pushes seen here are known)
                    held.append(min(ts - prev_push, ev.after_frame_s) <= HELD_WITHIN_S)
                else:
                    lags_dropped += 1
        elif t is OrderAcknowledged or t is OrderRejected:
            if t is OrderAcknowledged and ev.resting:
                _rested(core, ev.cloid, bids, asks, tick, rested, distance, filled)
            s = sent.pop(ev.cloid, None)
            if s is not None:
                if t is OrderRejected:
                    reason = reason_of(ev)
                    rejections[reason] = rejections.get(reason, 0) + 1
                if t is OrderAcknowledged or ev.reason.value not in RULE_REASONS:
                    kind = kind_of[ev.cloid]
                    kinds[kind] = kinds.get(kind, 0) + 1
                answered += 1
                req = request_of[ev.cloid]
                # one round trip per request: a batch's places share its one reply (a transport failure is none)
                if req not in answered_requests and (t is OrderAcknowledged or ev.reason is not Reason.TRANSPORT):
                    answered_requests.add(req)
                    rts.append(ts - s)
        elif t is BboUpdated:
            touch = _bbo_touch(ev, core)
            touches.append((ev.venue_time_ms, touch))
            if touch[0] == touch[0] and touch[1] == touch[1]:
                bbo.append((ts, 0.5 * (touch[0] + touch[1])))
        elif t is TradeObserved:
            trades.append((ev.tid, ev.sz, ts, ev.side.value, ev.px, _touch_before(touches, ev.tid, ev.side.value > 0),
                           ev.hash))
        elif t is FillReceived:
            if ev.tid not in our_tids and ev.is_maker:
                fills.append((ts, ev.px, ev.side.value))
                row = rested.get(ev.cloid)
                if row is not None:
                    filled[row] = True
            our_tids.add(ev.tid)
        elif t is ModifyAcknowledged:
            if ev.resting:
                _rested(core, ev.new_cloid, bids, asks, tick, rested, distance, filled)
        elif t is AccountSnapshot:
            if start_free != start_free:
                start_free = max(0.0, ev.account_value - ev.margin_used)
            if ev.venue_time_ms > 0 and 0.0 <= ev.requested_ts <= ts:
                lo, hi = ev.requested_ts - ev.venue_time_ms / 1000.0 + venue_epoch_s, ts - ev.venue_time_ms / 1000.0 + \
                    venue_epoch_s
                if moved_from == math.inf and (lo > offset_hi + MOVED_CUT_S or hi < offset_lo - MOVED_CUT_S):
                    moved_from, moved_by = snapshot_ts, lo - offset_hi if lo > offset_hi else hi - offset_lo
                offset_lo, offset_hi = max(offset_lo, lo), min(offset_hi, hi)
                snapshot_ts = ts
        elif t is QuotaStatus:
            quota.append((ts, ev.used, ev.cap, ev.cum_volume_usd))
        elif t is RateLimited:
            for c in ev.cloids:  # refused before the venue saw it: no round trip, no reason of the venue's
                if sent.pop(c, None) is not None:
                    refused_requests.add(request_of[c])
        elif t is ConnectionLost:
            if down_since is None:
                down_since = ts
                disconnects += 1
                # (a silent socket's outage began after its last frame: measured from the detection, a twin of
                # 120 s outages behind the gateway's 60 s silence fitted 70 s)
                # (back to the socket's ConnectionRestored at most: before it the outage before was down time
                # already; a time not finite, "-inf" in a journal: not known)
                q = ev.silent_since
                quiet = min(max(ts - q, 0.0), ts - up_from) if q is not None and math.isfinite(q) else 0.0
        elif t is ConnectionRestored:
            if down_since is not None:
                outages.append(ts - down_since)
                # (the venue's outage ended after its last refused reconnect attempt: the rest is the agent's backoff,
                # which twin serve's client adds again; as seen, a twin of 4 s outages fitted 12.5)
                r = ev.refused_ts
                # (None, or "nan" in a journal written the day it was added: not known)
                known = r is not None and r == r
                if known and quiet > 0.0 and r <= down_since:
                    # (a silent socket's first reconnect taken: the socket stays mute when the path comes back, so the
                    # outage may have ended any time after its last frame, before the drop was declared)
                    outages_from.append(-quiet)
                else:
                    outages_from.append(min(max(r - down_since, 0.0), ts - down_since) if known else ts - down_since)
                outages_quiet.append(quiet)
                down_since = None
            up_from = ts  # (this socket's silence, if it dies of one, began after this)
        if t in _PUSHED:
            prev_push = ts
        for c in (core.shutdown(ts, ev.flatten) if t is Stop else handle(ev)):
            carried = False
            for x in (c.commands if type(c) is Batch else (c,)):
                if type(x) is ModifyOrder:
                    issued.add(x.new_cloid)
                elif type(x) is PlaceOrder:
                    issued.add(x.cloid)
                    sent[x.cloid] = ts
                    pos = core.tracker.position
                    buy = x.side is Side.BUY
                    adds = not x.reduce_only and (pos == 0.0 or (pos > 0.0) == buy or x.sz > abs(pos) + 1e-12)
                    kind_of[x.cloid] = f"{x.tif.value}|{int(x.reduce_only)}|{int(adds)}"
                    request_of[x.cloid] = n_requests
                    places += 1
                    carried = True
            n_requests += carried
        # the core's decision records, which no fit reads: kept, a day's journal held some 450 MB of them
        core.discard_records()
    # an order still resting when the events end, not filled yet, has no known fate: a run killed outright left it on
    # the book, where it may fill after (the three a kill -9 left all did, before the restart read the account, which
    # saw only the position); counted, it read as an order that rested and did not fill. (A stop's cancels are
    # answered before its end: its orders are gone from the live set.)
    unknown = {rested[c] for c in core.tracker.live_set if c in rested and not filled[rested[c]]}
    if unknown:
        distance = [d for i, d in enumerate(distance) if i not in unknown]
        filled = [f for i, f in enumerate(filled) if i not in unknown]
    market = _aggressors(trades, our_tids)  # the market's own
    # (a step forward of 1 s halfway through a run fitted a 150 ms leg with sigma 0.94 and 24% spikes)
    kept = [i for i, a in enumerate(lag_at) if a < moved_from]
    lags_after_move = len(lags) - len(kept)
    if lags_after_move:
        lags, held = [lags[i] for i in kept], [held[i] for i in kept]
    span = (last - first) if first is not None else 0.0
    # (a silent socket was down from its last frame: its silence is no connected time)
    down = sum(outages) + sum(outages_quiet) + ((last - down_since + quiet) if down_since is not None else 0.0)
    # a request none of whose places was answered or refused, sent before the run's last answer was possible
    # (its last second: the answers to those are still on their way) was lost in transport
    cutoff = (last if last is not None else 0.0) - 1.0
    pending = {request_of[c] for c, t0 in sent.items() if t0 > cutoff}
    lost = {request_of[c] for c in sent} - answered_requests - refused_requests - pending
    return Observations(np.asarray(rts, dtype=float), places, answered, rejections, n_requests - len(pending),
                        len(lost), np.asarray(lags, dtype=float), disconnects,
                        np.asarray(outages, dtype=float), max(0.0, span - down), span, coin=coin,
                        book_ts=np.asarray(book_ts), book_venue_s=np.asarray(book_venue, dtype=float), mid=np.asarray(mids), spread=np.asarray(spreads),
                        level_sz=_levels_array(levels),
                        trade_sz=np.asarray([x[1] for x in market], dtype=float),
                        trade_ts=np.asarray([x[2] for x in market], dtype=float),
                        trade_side=np.asarray([x[3] for x in market], dtype=float),
                        trade_px=np.asarray([x[4] for x in market], dtype=float),
                        trade_touch=np.asarray([x[5] for x in market], dtype=float),
                        bbo_ts=np.asarray([b[0] for b in bbo], dtype=float),
                        bbo_mid=np.asarray([b[1] for b in bbo], dtype=float),
                        own_prints=sum(bool(x[0]) and x[0] in our_tids for x in trades),
                        order_distance=np.asarray(distance, dtype=float), order_filled=np.asarray(filled, dtype=bool),
                        fill_ts=np.asarray([f[0] for f in fills], dtype=float),
                        fill_px=np.asarray([f[1] for f in fills], dtype=float),
                        fill_side=np.asarray([f[2] for f in fills], dtype=float), feed_held=np.asarray(held, dtype=bool),
                        quota=np.asarray(quota, dtype=float).reshape(-1, 4), feed_lags_dropped=lags_dropped,
                        feed_lags_after_step=lags_after_step, feed_lags_after_move=lags_after_move,
                        clock_moved_s=moved_by if lags_after_move else 0.0,
                        quota_run=np.zeros(len(quota), dtype=int), stray_replies=strays, eligible_kinds=kinds,
                        resting_at_end=len(unknown), outages_from_s=np.asarray(outages_from, dtype=float),
                        outages_quiet_s=np.asarray(outages_quiet, dtype=float),
                        start_free_usd=start_free)


ZERO_HASH = "0x" + "0" * 64  # a print's hash that names no transaction


def _aggressors(trades: list, our_tids: set) -> list:
    """The market's aggressors from the prints (``observe``'s rows: key, size, arrival, side, price, touch seen,
    hash): the venue prints one trade per maker an order met, each at its own level, all under the order's
    transaction hash, where the twin's aggressor makes one print at the deepest price it reached
    (twin/market/synthetic.py). A hash's prints are one aggressor: its size their sum, its price the deepest, its
    arrival and touch seen those of its first print (the touch before the sweep). Read one a print, a sweep's
    in-between prints were short reaches and small trades: on a twin run of reach 0.2 per USD and 4 aggressors a
    second printed so, k's interval was 2.6 times too narrow (missing 0.2), and the trades 20.5 a second. A print
    with no hash (a journal written before it was carried), or with the hash of zeros (no transaction's: a TWAP
    slice's print is said to carry it, unconfirmed, and the twin's recorded-market export writes it), is its own
    aggressor, as before: grouped by it, every such print of a side in the run would be one aggressor. An
    aggressor is the market's unless each of its prints is one of our fills (ours as the taker; one of ours met as
    a maker in a market sweep leaves the sweep the market's)."""
    groups: dict[tuple, list] = {}
    for i, x in enumerate(trades):
        groups.setdefault((x[6], x[3]) if x[6] and x[6] != ZERO_HASH else i, []).append(x)
    out = []
    for rows in groups.values():  # (in the order of their first print's arrival: dicts keep insertion order)
        if all(x[0] and x[0] in our_tids for x in rows):
            continue
        first, side = rows[0], rows[0][3]
        deepest = max(rows, key=lambda x: side * x[4])
        out.append((first[0], sum(x[1] for x in rows), first[2], side, deepest[4], first[5]))
    return out


def reason_of(ev: OrderRejected) -> str:
    """The reason a rejection is counted under: the twin's own where the agent's code merges several of them. The
    agent's one "OpenInterest" is three refusals the twin draws each at its own rate, from its text (the venue's,
    kept beside the code); counted as "OpenInterest", which names no twin rate, the fit reported a rate the fitted
    twin did not draw, and over every place where the twin refuses only those adding to the position."""
    if ev.reason is Reason.OPEN_INTEREST:
        from twin.faults.rejections import RejectReason, classify_venue_text

        r = classify_venue_text(ev.message)
        if r in (RejectReason.OpenInterestIncrease, RejectReason.PositionIncreaseAtOpenInterestCap,
                 RejectReason.TooAggressiveAtOpenInterestCap):
            return r.value
    return ev.reason.value


def _rested(core, cloid: str, bids, asks, tick: float, rested: dict, distance: list, filled: list) -> None:
    """The venue has ``cloid`` resting: note its distance behind its side's (market's own) touch, in ticks."""
    o = core.tracker.orders.get(cloid)
    if o is None or cloid in rested:
        return
    side = bids if o.side is Side.BUY else asks
    if not side:
        return
    touch = side[0][0]
    rested[cloid] = len(distance)
    distance.append(round(((touch - o.px) if o.side is Side.BUY else (o.px - touch)) / tick, 6))
    filled.append(False)


# touches kept for the prints to come (bbo at blocks, ~70 ms, and books): some 1.5 s of them. A print stamped before
# all of them (a reconnect's trades snapshot) is not measured: the touch in force then is no longer known
TOUCHES_KEPT = 20


def _touch_before(touches, key: int, buy: bool) -> float:
    """The touch on a print's side (the ask for a buy) as last stamped before the print's own time (the venue's ms in
    its key, ``fill_key``): the bbo and trades channels are separate subscriptions, and a block's bbo, the touch
    after its prints, may arrive before them, as a reconnect's snapshot brings prints older than the touch; a book
    push arriving after a bbo may be older than it. Ties of time go to the later arrival. Where the print's or the
    last touch's time is not known (0), the last touch to arrive; nan: none stamped before the print."""
    if not touches:
        return math.nan
    ms = key >> TID_BITS
    last_ms, last = touches[-1]
    if ms <= 0 or last_ms <= 0:
        return last[buy]
    best_ms, best = 0, math.nan
    for venue_ms, touch in reversed(touches):
        if best_ms < venue_ms < ms:
            best_ms, best = venue_ms, touch[buy]
    return best


def _bbo_touch(ev: BboUpdated, core) -> list[float]:
    """(bid, ask) the market's touch as a bbo push shows it; nan for a side the venue had no order on, and for one
    at the price of one of our resting orders: that may be ours alone (a quote inside the spread), and the market's
    own touch is then not known. (Taken from the last book with ours out instead, it was known late exactly when the
    market had moved away from our quote: the agent quoting at Full on a reach of $0.5 fitted $2.6, 0.31 – 0.48 per
    USD; left out, a side's prints are measured again from its next push.)"""
    ours = _resting(core)
    return [math.nan if px in ours else px for px in (ev.bid, ev.ask)]


def _resting(core) -> dict[float, float]:
    """Our orders the venue has (as the core knows them): price → remaining size. The feed's book shows them."""
    out: dict[float, float] = {}
    for o in core.tracker.live_set.values():
        if o.acked_ts >= 0.0:
            out[o.px] = out.get(o.px, 0.0) + o.remaining
    return out


def _less(levels, ours: dict[float, float]) -> list:
    """One side of the feed's book with our own orders taken out: the market's own (a level that was only ours
    is gone)."""
    out = []
    for px, sz in levels:
        mine = ours.get(px)
        if mine is not None:
            sz -= mine
            if sz <= 1e-9:
                continue
        out.append((px, sz))
    return out


def _levels_array(rows: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Level sizes as an (updates × 2 × depth) array (bids, asks; best first), at the depth every update has."""
    if not rows:
        return np.zeros((0, 2, 0))
    depth = min(min(len(b), len(a)) for b, a in rows)
    return np.array([(b[:depth], a[:depth]) for b, a in rows], dtype=np.float32).reshape(len(rows), 2, depth)


def journal_files(folder: str | Path) -> list[Path]:
    """A run folder's journal, its files in writing order (segments, then events.jsonl); FileNotFoundError naming
    the folder without one, ValueError naming a file of it that is not a regular file (a FIFO, a symlink to
    ``/dev/zero``: read to its end, it was read forever). The CLI asks before it makes its output folder."""
    from agent.audit.records import log_files
    from common.files import irregular_file_error

    if not Path(folder).is_dir():  # ("RUN: no events.jsonl" for a folder not there sent one looking for the file)
        raise FileNotFoundError(f"{folder}: " + ("not a folder: give the live run's folder" if Path(folder).exists()
                                                 else "no such folder"))
    files = log_files(Path(folder) / "events.jsonl")
    if not files:
        if log_files(Path(folder) / "decisions.jsonl"):  # a run folder of the twin: its summary said nothing wrong
            raise FileNotFoundError(f"{folder}: no events.jsonl, only a decision log: a run in the twin "
                                    f"(python -m agent, python -m scenarios run) writes none; calibration fits the "
                                    f"twin from a live run's (python -m agent --venue live --out DIR, the journal "
                                    f"on unless --no-events)")
        raise FileNotFoundError(f"{folder}: no events.jsonl (a live run writes it unless --no-events)")
    irregular = irregular_file_error(files, "a live run's journal")  # (read to their end: a FIFO never has one)
    if irregular is not None:
        raise ValueError(irregular)
    return files


def observe_journal(folder: str | Path, progress=None) -> Observations:
    """A live run folder's observations: its ``events.jsonl`` (every run in it, restarts included) replayed
    through cores built as the live CLI built them, streamed (a day's journal is never held whole). Raises
    FileNotFoundError without a journal, and ValueError naming the file and line of what cannot be the run as it
    was: a line that is no event (a field of the wrong type too), a line cut short anywhere but at a run's end (a
    crash mid-write cuts only the last line before the restart's start record), a compressed segment cut short, a
    run with no events when no run has any, runs on different coins (accounts, networks), or a reply to an order
    the replayed core never sent (the replay went another way than the run: a line lost or doubled).
    ``progress`` (for a bar) is called with each line's size."""
    reader = _JournalReader(journal_files(folder), progress)
    for _ in reader.run_events():  # anything before the first start record belongs to no run
        pass
    if reader.start is None:
        raise ValueError(f"{Path(folder) / 'events.jsonl'}: no run in it (no start record)")
    out = None
    coins: list[tuple[str, str]] = []  # (where its start record is, coin) per run
    accounts: list[tuple[str, dict]] = []  # (where, start record) per run: its venue and account
    empty: list[str] = []  # the start records of runs without events
    dry: list[str] = []  # what the dry runs' measurement leaves out
    while reader.start is not None:
        start, where = reader.start, reader.start_at
        reader.start = None
        core, tick, sz_decimals, skew = _run_of(start, where)
        coins.append((where, core.cfg.session.coin))
        _check_one_coin(coins)
        accounts.append((where, start))
        _check_one_account(accounts)
        obs = _observe_run(reader, core, skew, where)
        if obs is None:
            empty.append(where)
            continue
        obs = dataclasses.replace(obs, config=start["config"], tick=tick, sz_decimals=sz_decimals)
        if start.get("execution_level") == 2:
            # a dry run's orders went 5% beyond the touch and were cancelled as they rested: measured at the core's
            # prices (where it quoted), they read as 0 of dozens filled inside the spread and at the touch
            obs = dataclasses.replace(obs, order_distance=np.zeros(0), order_filled=np.zeros(0, dtype=bool))
            dry.append(f"{_run_start_text(where)}: a dry run (execution level 2): its fills by distance from the "
                       f"touch (its orders went 5% beyond it and were cancelled as they rested)")
        out = obs if out is None else out.merged(obs)
    if out is None:
        raise ValueError(f"{', '.join(empty)}: a run with no events (its start record, then nothing the core was fed): "
                         f"nothing to fit")
    left_out = reader.left_out + [f"{_run_start_text(w)}: no events (the live CLI stopped before its first)"
                                  for w in empty] \
        + dry + list(out.left_out)  # (the runs' own: their clocks' steps)
    return dataclasses.replace(out, left_out=tuple(left_out))


def _observe_run(reader: "_JournalReader", core, skew: float, where: str) -> Observations | None:
    """One run's observations (None: it has no events); ValueError naming the first reply to an order the replay
    never sent, if any was."""
    stray: list[str] = []
    seen = [0]
    stopped = [False]  # its shutdown line was read: the run ended, not cut off where its journal was read
    run = _run_start_text(where)  # (what left_out says of this run)

    def counted():
        for ev in reader.run_events():
            seen[0] += type(ev) is not Stop  # (a stop alone is no run's events)
            stopped[0] = stopped[0] or type(ev) is Stop
            yield ev

    def on_stray(ev) -> None:
        if not stray:
            stray.append(f"{reader.at}: {type(ev).__name__} of {getattr(ev, _REPLY_NAMES[type(ev)])}")
    try:
        obs = observe(counted(), core, clock_skew_s=skew, on_stray=on_stray, journal=True)
    except CoreFailed as e:  # (the core's traceback)
        raise ValueError(f"{reader.at}: {e}") from None
    if obs.stray_replies:
        raise ValueError(f"{stray[0]}, an order the replayed core never sent "
                         f"({count_text(obs.stray_replies, 'such reply', 'such replies')} in the run started at "
                         f"{where}): the replay went another way than the run (a line lost or written twice before "
                         "it, or the agent's code changed since the run), so its sending times and counts are not "
                         "the run's")
    if obs.resting_at_end:  # (a stopped run's cancels were answered before its end: none rest)
        obs = dataclasses.replace(obs, left_out=obs.left_out + (
            f"{run}: {count_text(obs.resting_at_end, 'order')} still resting unfilled when this run's events end (a "
            "run killed outright leaves them on the book, where they may fill after, unseen): not in the fills by "
            "distance from the touch",))
    if obs.feed_lags_after_move:
        m = obs.clock_moved_s
        obs = dataclasses.replace(obs, left_out=obs.left_out + (
            f"{run}: the host's clock moved {'ahead of' if m > 0 else 'back against'} the venue's in this run, by "
            f"at least {abs(m):.3f} s (an account snapshot's window lay outside every earlier one's): its "
            f"{count_text(obs.feed_lags_after_move, 'book update')} from the snapshot before on arrived on another "
            "clock than the skew measured at its start, so their lags are no latency (the feed's fit leaves them "
            f"out; a step under a snapshot's round trip is not seen; {VENUE_TIME_ASSUMED})",))
    if obs.feed_lags_after_step:
        obs = dataclasses.replace(obs, left_out=obs.left_out + (
            f"{run}: the host's clock stepped back in this run ({count_text(core.clock_steps_back, 'event')} behind "
            f"the core's clock, by up to {core.clock_step_back_max_s:.3f} s: the step was at least that): its "
            f"{count_text(obs.feed_lags_after_step, 'book update')} from the first step of more than "
            f"{STEP_CUT_S * 1e3:g} ms on arrived on another clock than the skew measured at its start, so their lags "
            f"are no latency (the feed's fit leaves them out; a smaller step moves no lag by what the venue's ms "
            f"stamps can show)",))
    if seen[0] and not stopped[0]:
        # (a run calibrated while it still ran was fitted on the minutes written so far, and nothing said why they
        # were so few; the audit's reader says "killed outright (or still running)" of the same journal)
        obs = dataclasses.replace(obs, left_out=obs.left_out + (
            f"{run}: no end line (the run's shutdown): it was killed outright, or is still running, and its events "
            f"are taken as far as they were written, {obs.duration_s / 60:.1f} min",))
    return obs if seen[0] else None


def _check_one_account(accounts: list[tuple[str, dict]]) -> None:
    """ValueError naming each run's start line, network (base URL) and account if the runs so far name more than one
    venue or account (a start record without them, written before they were, names none): one address's quota
    reports would be fitted as one budget, and testnet's latency, refusals and market as mainnet's. The venues are
    compared as the live CLI compares them to carry a folder on (``_venue_of``): the network's label is the options'
    (the testnet's URL by --base-url is "custom", by --network "testnet"), and a folder it carried on over both was
    refused as two networks. The live CLI carries a folder on only for its own venue, account and coin; a folder of
    runs put together by hand is not one."""
    venues = {v for v in (_venue_of(s) for _, s in accounts) if v is not None}
    addresses = {str(s["account"]).lower() for _, s in accounts if s.get("account") is not None}
    if len(venues) > 1 or len(addresses) > 1:
        raise ValueError("runs of different accounts or networks in one folder: " + "; ".join(
            f"{w}: {s.get('network') or '(no network)'}{_url_text(s)} {s.get('account') or '(no account)'}"
            for w, s in accounts) + ": calibrate from a folder of one account's runs on one network")


def _url_text(start: dict) -> str:
    url = start.get("base_url")
    return f" ({url})" if url else ""


def _venue_of(start: dict) -> str | None:
    """The venue a run's start record names, as the live CLI keys a folder it carries on (``venue_key`` of its base
    URL); a record with a network and no URL, by the network's URL; None: it names neither."""
    from agent.gateway.hyperliquid.gateway import MAINNET_URL, TESTNET_URL
    from agent.run_lock import venue_key

    url, network = start.get("base_url"), start.get("network")
    if url is None and network is not None:
        url = {"mainnet": MAINNET_URL, "testnet": TESTNET_URL}.get(str(network))
        if url is None:
            return f"network {network}"
    return venue_key(str(url)) if url is not None else None


def _check_one_coin(coins: list[tuple[str, str]]) -> None:
    """ValueError naming each run's start line and coin if the runs so far traded more than one coin: their
    markets would be fitted as one (a folder reused for a run on another coin)."""
    if len({c for _, c in coins}) > 1:
        raise ValueError("runs on different coins in one folder: " + "; ".join(f"{w}: {c}" for w, c in coins)
                         + ": calibrate each coin from a folder of its own runs")


def _run_of(start: dict, where: str) -> tuple:
    """(core, tick, size decimals, clock skew in s) as the run's start record (at ``where``) describes them;
    ValueError naming the line, the field and its value."""
    from pydantic import ValidationError

    from agent.live import live_core_of

    for name, why in (("tick", _why_not_tick), ("sz_decimals", _why_not_decimals), ("seed", _why_not_seed),
                      ("clock_skew_s", _why_not_skew), ("cloid_prefix", _why_not_prefix)):
        if name in start:
            bad = why(start[name])
            if bad:
                raise ValueError(f"{where}: {name} {start[name]!r}: {bad}")
    try:
        core = live_core_of(start)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in ("config", *err["loc"]))
        raise ValueError(f"{where}: {loc} {err.get('input')!r}: {err['msg']}") from None
    except (ValueError, TypeError) as e:
        raise ValueError(f"{where}: {e}") from None
    skew = start.get("clock_skew_s")  # (None: not measured, as the twin's own runs)
    return core, float(start["tick"]), int(start["sz_decimals"]), float(skew) if skew is not None else 0.0


def _is_number(v) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


def _why_not_tick(v) -> str | None:
    return None if _is_number(v) and v > 0 else "not a price step (a number above 0)"


def _why_not_decimals(v) -> str | None:
    return None if type(v) is int and v >= 0 else "not a count of size decimals (an integer, 0 or more)"


def _why_not_seed(v) -> str | None:
    return None if type(v) is int and v >= 0 else "not a seed (an integer, 0 or more)"


def _why_not_skew(v) -> str | None:
    return None if v is None or _is_number(v) else "not the host clock's skew (a number of seconds, or null)"


def _why_not_prefix(v) -> str | None:
    try:
        int(v, 16)
        return None
    except (ValueError, TypeError):
        return "not a cloid prefix (hexadecimal, as 0x8ee6f578)"


def _run_start_text(where: str) -> str:
    """A run as ``left_out`` names it, from its start record's ``where`` ("FILE: line N"): "FILE: the run started at
    line N". Said as "FILE: line 1: 5 orders still resting unfilled ...", the start's line read as the damaged one
    (as a cut line's own is said: "FILE: line 7: a line cut by a crash")."""
    path, sep, line = where.rpartition(": line ")
    return f"{path}: the run started at line {line}" if sep else where


class _JournalReader:
    """A journal's records in order, each known by its file and line (``at``), split into runs at the start
    records. Stricter than the log's own reader, which skips what it cannot read: a fit from a journal with a
    line missing in the middle is skewed without a word (one quote cycle's Timer lost moved the transport
    failures from 0.8% to 28%)."""

    def __init__(self, files: list[Path], progress=None) -> None:
        self._records = self._kept(files, progress)
        self.at = ""  # "FILE: line N" of the record last read
        self.start: dict | None = None  # the next run's start record, once read
        self.start_at = ""
        self.left_out: list[str] = []

    def run_events(self) -> Iterator:
        """This run's events, up to the next run's start record (kept in ``start``)."""
        from agent.audit.event_log import SHUTDOWN, decode_at, shutdown_at

        for where, d in self._records:
            self.at = where
            if d.get("type") == "start":
                self.start, self.start_at = d, where
                return
            if d.get("e") == SHUTDOWN:
                yield Stop(*shutdown_at(d, where))  # (read as the audit's replay reads it)
                continue
            yield decode_at(d, where)  # (an object naming no event is damage, refused as the audit's replay does)

    def _kept(self, files: list[Path], progress) -> Iterator[tuple[str, dict]]:
        """(where, record) of each line (``journal_lines``: a damaged line refused), a crash's cut and a segment lost
        at a run's end left out and said."""
        from agent.audit.event_log import journal_lines
        from agent.audit.inspect import lost_segment_text

        def lost(path: Path, lines_read: int, why: str) -> None:  # a segment at a run's end (inside one: refused)
            self.left_out.append(f"{path}: {lost_segment_text(path, lines_read, why)} (a closed segment's events, "
                                 f"not a crash's cut)")

        cut = None
        for where, d in journal_lines(files, progress, lost):
            if d is None:
                cut = where
                continue
            if cut is not None:
                self.left_out.append(f"{cut}: a line cut by a crash mid-write (the run's last)")
                cut = None
            yield where, d
        if cut is not None:
            self.left_out.append(f"{cut}: a line cut by a crash mid-write (the journal's last)")
