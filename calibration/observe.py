"""What a run saw of the venue, as the twin's fault models would have to reproduce it.

The events a core handled are the run (it is sans-IO and deterministic): fed again, in order, to a core
built as the run's was, they give back every command at the moment it was sent. A place's round trip is
then the time from its sending to the venue's answer (acknowledged or rejected: the twin's order-entry
and response latencies added up), and each answer's reason is counted per place sent.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from agent.gateway.events import (
    AccountChangedByVenue, Batch, BboUpdated, BookUpdated, ConnectionLost, ConnectionRestored, FillReceived,
    ModifyAcknowledged, OrderAcknowledged, OrderClosedByVenue, OrderRejected, PlaceOrder, QuotaStatus, RateLimited,
    Reason, Side, TradeObserved,
)

# events that arrive on the websocket (the others are REST replies or the driver's own timers)
_PUSHED = (BookUpdated, BboUpdated, TradeObserved, FillReceived, OrderClosedByVenue, AccountChangedByVenue)
HELD_WITHIN_S = 0.001  # an update this soon after the frame before it may have waited behind it (see feed_held)


# reasons the twin's rules produce from the orders and the book, never by a random draw: not fitted
RULE_REASONS = frozenset({"BadAloPx", "ModifyBadAloPx", "MinTradeNtl", "Tick", "ReduceOnly", "InvalidSize",
                          "ZeroSize", "MissingOrder", "ModifyCanceledOrFilled", "TooManyOpenOrders", "RateLimited",
                          "NonceInvalid", "IocCancel", "Nonce", "Signature", "Expired", "ScheduleCancelRefused",
                          "Transport"})


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
    outages_s: np.ndarray  # each drop's length until the socket was back, s
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
    trade_sz: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the market's own: prints of our fills left out
    own_prints: int = 0  # prints of our own fills (told by their tid, which the fill carries too): not in trade_sz
    trade_ts: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per trade_sz: its arrival
    trade_side: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per trade_sz: +1 the buyer aggressed, −1 not
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
            elif isinstance(a, np.ndarray):
                out[f.name] = np.concatenate([a, b])
            elif isinstance(a, dict) and f.name == "rejections":
                out[f.name] = {k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()}
            elif f.name in ("config", "coin", "tick", "sz_decimals"):
                out[f.name] = b if b not in (None, "", 0.0, -1) else a
            else:
                out[f.name] = a + b
        return Observations(**out)


def _stack(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not a.size:
        return b
    if not b.size:
        return a
    n = min(a.shape[2], b.shape[2])
    return np.concatenate([a[:, :, :n], b[:, :, :n]])


def observe(events: Iterable, core, venue_epoch_s: float = 0.0, clock_skew_s: float = 0.0) -> Observations:
    """Feed ``events`` to ``core`` (a fresh core built as the run's was) and collect what the venue did.
    ``venue_epoch_s``: the venue's time (epoch s) at the events' time 0; 0 for a live run, whose events carry
    the wall clock (a twin session's start at the twin's epoch). ``clock_skew_s``: how far the host's clock was
    behind the venue's (negative: ahead), as the live run's preflight measured it (its start record's
    ``clock_skew_s``, known to ± half a round trip): the feed's lags are the venue's time on an update to its
    arrival, and 20 ms of skew moved a fitted 60 ms median to 40 or 80 ms."""
    sent: dict[str, float] = {}
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
    disconnects = 0
    first = last = None
    lags: list[float] = []
    lags_dropped = 0
    held: list[bool] = []
    quota: list[tuple[float, int, int, float]] = []
    prev_push = -math.inf  # when the last push arrived
    coin = ""
    book_ts: list[float] = []
    book_venue: list[float] = []
    mids: list[float] = []
    spreads: list[float] = []
    levels: list[tuple[np.ndarray, np.ndarray]] = []
    trades: list[tuple[int, float, float, int]] = []  # (tid, size, arrival, aggressor side) of every print
    our_tids: set[int] = set()
    tick = getattr(core, "tick", 0.0) or 1.0
    bids = asks = ()  # the market's own book, as last seen
    rested: dict[str, int] = {}  # cloid → its row in distance / filled
    distance: list[float] = []
    filled: list[bool] = []
    fills: list[tuple[float, float, int]] = []
    for ev in events:
        ts = ev.ts
        if first is None:
            first = ts
        last = ts
        t = type(ev)
        if t is BookUpdated:
            ours = _resting(core)
            bids, asks = (_less(ev.bids, ours), _less(ev.asks, ours)) if ours else (ev.bids, ev.asks)
            if bids and asks:
                coin = ev.coin
                bb, ba = bids[0][0], asks[0][0]
                book_ts.append(ts)
                book_venue.append(ev.venue_time_ms / 1000.0 if ev.venue_time_ms > 0 else math.nan)
                mids.append(0.5 * (bb + ba))
                spreads.append(ba - bb)
                # (compact: a day's updates, 20 levels a side, are some 170,000 of them)
                levels.append((np.fromiter((lv[1] for lv in bids), np.float32, len(bids)),
                               np.fromiter((lv[1] for lv in asks), np.float32, len(asks))))
            if ev.venue_time_ms > 0:
                lag = ts + clock_skew_s - (ev.venue_time_ms / 1000.0 - venue_epoch_s)
                # a clock behind the venue's by more than the latency (after the skew measured), or not the venue's
                # clock at all (twin serve keeps its own epoch): not a lag, counted
                if 0.0 < lag <= 60.0:
                    lags.append(lag)
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
                    rejections[ev.reason.value] = rejections.get(ev.reason.value, 0) + 1
                answered += 1
                req = request_of[ev.cloid]
                # one round trip per request: a batch's places share its one reply (a transport failure is none)
                if req not in answered_requests and (t is OrderAcknowledged or ev.reason is not Reason.TRANSPORT):
                    answered_requests.add(req)
                    rts.append(ts - s)
        elif t is TradeObserved:
            trades.append((ev.tid, ev.sz, ts, ev.side.value))
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
        elif t is ConnectionRestored:
            if down_since is not None:
                outages.append(ts - down_since)
                down_since = None
        if t in _PUSHED:
            prev_push = ts
        for c in core.handle(ev):
            carried = False
            for x in (c.commands if type(c) is Batch else (c,)):
                if type(x) is PlaceOrder:
                    sent[x.cloid] = ts
                    request_of[x.cloid] = n_requests
                    places += 1
                    carried = True
            n_requests += carried
    market = [x for x in trades if not (x[0] and x[0] in our_tids)]  # the market's own prints
    span = (last - first) if first is not None else 0.0
    down = sum(outages) + ((last - down_since) if down_since is not None else 0.0)
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
                        own_prints=len(trades) - len(market),
                        order_distance=np.asarray(distance, dtype=float), order_filled=np.asarray(filled, dtype=bool),
                        fill_ts=np.asarray([f[0] for f in fills], dtype=float),
                        fill_px=np.asarray([f[1] for f in fills], dtype=float),
                        fill_side=np.asarray([f[2] for f in fills], dtype=float), feed_held=np.asarray(held, dtype=bool),
                        quota=np.asarray(quota, dtype=float).reshape(-1, 4), feed_lags_dropped=lags_dropped)


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


def observe_journal(folder: str | Path, progress=None) -> Observations:
    """A live run folder's observations: its ``events.jsonl`` (every run in it, restarts included) replayed
    through cores built as the live CLI built them, streamed (a day's journal is never held whole). Raises
    FileNotFoundError without a journal, and ValueError naming the file and line of a line that is not an
    event. ``progress`` (for a bar) is called with each line's size."""
    from agent.audit.event_log import SHUTDOWN, decode
    from agent.audit.records import log_files, log_lines
    from agent.live import live_core_of

    folder = Path(folder)
    journal = folder / "events.jsonl"
    if not log_files(journal):
        raise FileNotFoundError(f"{folder}: no events.jsonl (a live run writes it unless --no-events)")
    lines = enumerate(log_lines(log_files(journal), progress), 1)
    state: dict = {"start": None}

    def records():
        for n, line in lines:
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash mid-write: the reader of the log skips it too

    recs = records()

    def run_events():
        """This run's events, up to the next run's start record (kept for the next run)."""
        for n, d in recs:
            if d.get("type") == "start":
                state["start"], state["line"] = d, n
                return
            if d.get("e") == SHUTDOWN or "e" not in d:
                continue
            try:
                yield decode(d)
            except (ValueError, TypeError, KeyError) as e:
                raise ValueError(f"{journal}: line {n}: not an event ({e})") from None

    for _ in run_events():  # anything before the first start record belongs to no run
        pass
    if state["start"] is None:
        raise ValueError(f"{journal}: no run in it (no start record)")
    out = None
    while state["start"] is not None:
        start, state["start"] = state["start"], None
        try:
            core = live_core_of(start)
            tick, sz_decimals = float(start["tick"]), int(start["sz_decimals"])
        except (ValueError, TypeError) as e:
            raise ValueError(f"{journal}: line {state['line']}: {e}") from None
        skew = start.get("clock_skew_s")  # (None: not measured, as the twin's own runs)
        obs = dataclasses.replace(observe(run_events(), core, clock_skew_s=float(skew) if skew else 0.0),
                                  config=start["config"], tick=tick, sz_decimals=sz_decimals)
        out = obs if out is None else out.merged(obs)
    return out
