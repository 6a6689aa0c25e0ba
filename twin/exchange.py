"""The venue's action model on SimPy: matching, accounts, rules, quota, latency and disconnects.

``Exchange`` is the twin. Clients (the in-process gateway, the loopback server, a probe) call
``submit`` with an action and a callback, ``request_info`` with a query, and ``connect`` to get a
websocket-like ``Connection`` that they subscribe on. Everything that takes virtual time (the
network paths, the quota's slow lane, outages, the market's events) is scheduled on one
``simpy.Environment``; everything else is plain method calls on small state objects.

The twin knows nothing of the agent.
"""
from __future__ import annotations

import hashlib
import math
import struct
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import MutableMapping
from heapq import heappush
from itertools import islice, repeat
from dataclasses import replace
from decimal import Decimal
from operator import attrgetter, itemgetter
from typing import Callable, Union

import numpy as np
import simpy
from simpy.events import NORMAL

from twin.accounts import Account, dex_of
from twin.book import ClientOrder, CoinBook, join_size
from twin.calls import Call, Environment, call_later, loop_ended, start_waking
from twin.faults.chaos import ChaosSchedule
from twin.faults.connection import ConnectionModel
from twin.faults.latency import LatencyModel
from twin.faults.quota import AddressQuota, IpWeightLimiter, exchange_weight, info_weight
from twin.faults.rejections import MODIFY_PREFIX, RejectionModel, RejectReason, can_refuse, order_error_text
from twin.funding import hourly_rate, next_settlement_ms, payment_usdc
from twin.instruments import InstrumentSpec, price_is_valid, size_is_valid
from twin.market.base import BOOK, MarketProcess, Shock
from twin.market.synthetic import SyntheticMarket
from twin.messages import (
    ANON_ADDRESS, MAX_BATCH, OVER_WEIGHT, SUCCESS, Action, ActionErr, ActiveAssetData, ActionOk, BboPush, BookPush, CancelAction, CancelByCloidAction,
    ConnectionEvent, FillInfo, FillsPush, Filled, FundingInfo, FundingPush, HttpError, ModifyAction, NoopAction,
    OrderAction, OrderInfo, OrderSpec, OrderUpdate, OrderUpdatePush, Push, Reply, Resting, ScheduleCancelAction,
    StatusError, TradePush, TradesSnapshot, TransportFailure, UpdateIsolatedMarginAction, UpdateLeverageAction,
    UserEventPush, action_size,
)
from twin.params import SIM_EPOCH_MS, TwinParams

DAY_S = 86400.0
CHANNELS = ("l2Book", "bbo", "trades", "orderUpdates", "userFills", "userEvents", "userFundings", "activeAssetData")
EMPTY_ORDER_BATCH = "Order batch is empty."  # UNCONFIRMED text (see Exchange._process)
_PRICE_BAND = 0.8  # an order's price at most this share of the mark away from it (the venue's band, seen at 80%)
# the reference-price band's refusal of a whole action (Exchange._outside_band): the text seen live (hyperliquid.md
# §2.4, third-party; 80% and 95% seen), without the per-order ` asset=N` suffix (it answers for the payload)
PRICE_BAND_TEXT = f"Order price cannot be more than {round(_PRICE_BAND * 100)}% away from the reference price"
CROSS_NOT_ALLOWED = "Cross margin is not allowed for this asset."  # UNCONFIRMED (see Exchange._update_leverage)
CANNOT_SWITCH_MODE = "Cannot switch leverage type with open position."  # UNCONFIRMED, likewise
# an order whose cloid the user has already used: hyperliquid.md gives neither the venue's rule nor a text, so the
# twin refuses it (the strict reading: a client that reuses cloids learns it here, not live) with this guess,
# UNCONFIRMED; see _place
DUPLICATE_CLOID = "Order has a cloid already used by another order."
# updateIsolatedMargin's refusals: the docs give no texts and none has been captured; these are guesses, UNCONFIRMED
NO_ISOLATED_POSITION = "Cannot update margin: no isolated position."
STRICT_ISOLATED_REMOVE = "Cannot remove margin from a strict isolated position."
INSUFFICIENT_MARGIN_TO_ADD = "Insufficient margin available to add."
INSUFFICIENT_MARGIN_TO_REMOVE = "Insufficient margin to remove."
# the open-order limit grows with volume: one more per 5M USDC traded, to at most 5000 (hyperliquid.md §2.4)
VOLUME_PER_EXTRA_OPEN_ORDER_USD = 5_000_000.0
MAX_OPEN_ORDERS = 5000
# An order entry's margin test, need > (cross value - (cross initial margin + each resting order's px * sz / its
# coin's leverage, added in the orders' order)) + 1e-9 (_available_margin), walks every resting order. Each account
# keeps an integer bound in USD on that sum (Account.orders_bound: each order's notional rounded up, a leverage being
# 1 or more and a resting order's size only shrinking), and an entry with (need + initial margin + bound) times this
# below the cross value passes the walk's test for certain: the walk's float sum exceeds its real one by a relative
# (n + 4) * 2^-53 at most, n its orders, under 1e-10 of it for a million orders, which the 1e-9 here covers with the
# roundings of this test's own float. Taken only while every resting order is in its account's bound (Exchange.
# _bound_n: one rested by twin.seeding, whose coin may have no position yet, is not, and the walk makes that
# position), so that the walk it skips would have made no position either. tests/twin/test_margin_bound.py holds
# the session to the walk's at every entry.
_BOUND_SLACK = 1.0 + 1e-9
_BOUND_CAP = 10 ** 15  # an order's notional of 1e15 USD or more, or an account's bound there: the walk decides
# rows in a userFills or userFillsByTime reply and the userFills snapshot frame: "at most 2000 fills per response"
# (docs info-endpoint, "Retrieve a user's fills" and "... by time"); a client pages on from the last row's time
FILLS_PER_REPLY = 2000
FILLS_KEPT = 10_000  # "only the 10000 most recent fills are available" (docs, userFillsByTime): older ones not served
# orderStatus "keeps roughly the account's last ~2000 orders" (hyperliquid.md, a mainnet measurement): an older one is
# unknownOid, though its fills are still in userFills. An order still resting is never forgotten here.
ORDERS_KEPT = 2_000
FUNDINGS_PER_REPLY = 500  # rows in a userFunding reply and the userFundings snapshot frame (UNCONFIRMED: the docs'
# general cap on time-range replies)
_PER_ROW_WEIGHT = frozenset({"userFills", "userFillsByTime", "userFunding"})  # info replies weighed by their rows
_OID_PAIR = struct.Struct(">QQ")
_TID_MASK = (1 << 50) - 1
_pack_oids = _OID_PAIR.pack  # (bound once: a tid is made for every print and fill)
_blake2b = hashlib.blake2b
_from_bytes = int.from_bytes
# the messages made for every order, answer and push, by their classes' ``make`` (common.message: the same message
# without the class call's cost, some 900 machine instructions each)
_new_order_info, _new_order_update, _new_resting = OrderInfo.make, OrderUpdate.make, Resting.make
_new_action_ok, _new_status_error, _new_fill_info = ActionOk.make, StatusError.make, FillInfo.make
_new_trade_push, _new_bbo_push, _new_book_push = TradePush.make, BboPush.make, BookPush.make
_new_fills_push, _new_order_update_push = FillsPush.make, OrderUpdatePush.make


def asset_data_key(user: str, coin: str) -> str:
    """The subscription key of an activeAssetData stream: the venue keys it by user and coin both."""
    return f"{user.lower()} {coin}"


def trade_tid(buyer_oid: int, seller_oid: int) -> int:
    """A trade's ``tid`` as the venue makes it: "a 50-bit hash of (buyer_oid, seller_oid)" (docs websocket/
    subscriptions, WsTrade; "for a globally unique trade id, use (block_time, coin, tid)"), so unique for a pair of
    orders but in no time order. Here blake2b of the two oids, its low 50 bits: the venue's hash is not published."""
    digest = _blake2b(_pack_oids(buyer_oid, seller_oid), digest_size=8).digest()
    return _from_bytes(digest, "big") & _TID_MASK


class Connection:
    """One client websocket: FIFO delivery after the feed latency, lost while down, subscriptions per socket.

    When the socket drops, its subscriptions are gone (as on the venue): the client must
    subscribe again after ``ConnectionEvent(up=True)``, and gets fresh snapshots when it does.
    """

    __slots__ = ("exchange", "on_push", "model", "up", "epoch", "last_delivery", "subs", "dropped", "delivered",
                 "outages", "frame", "frame_at", "number", "closed", "process", "feed")

    def __init__(self, exchange: "Exchange", on_push: Callable[[Push], None], model: ConnectionModel,
                 number: int = 0) -> None:
        self.exchange = exchange
        self.feed = exchange.latency.socket_feed()  # its own feed-latency draws (LatencyModel.socket_feed)
        self.number = number  # its place in the order of connections, for the log
        self.closed = False  # the client closed it (Exchange.close): gone for good, no outage or push reaches it
        self.process: simpy.Process | None = None  # its disconnect process, once it has started
        self.on_push = on_push
        self.model = model
        self.up = True
        self.epoch = 0
        self.last_delivery = 0.0
        self.subs: set[tuple[str, str]] = set()
        self.dropped = 0
        self.delivered = 0
        self.outages = 0
        self.frame: list | None = None  # the orderUpdates frame still open for updates (see Exchange._remove)
        self.frame_at = -1.0

    def subscribe(self, channel: str, key: str) -> None:
        """key: the coin for l2Book/trades, the user address for the user channels."""
        self.exchange._subscribe(self, channel, key)

    def unsubscribe(self, channel: str, key: str) -> None:
        self.exchange._unsubscribe(self, channel, key)

    def close(self) -> None:
        self.exchange.close(self)

    def in_order(self, send: Callable[[], None]) -> None:
        """Call ``send`` (a frame the socket's own server writes: a subscription ack) behind every push already on
        its way to this socket, as one TCP stream orders them; at once when none is."""
        self.exchange._send_own(self, send)


class _Delivery:
    """A push on its way to one socket, itself the queue's entry: ``Environment.step`` calls its callback (the
    exchange's ``_delivered``, or ``_frame_delivered`` for an orderUpdates frame, whose ``push`` is the frame's list)
    with it, where a ``twin.calls.Call`` went through ``_run`` and an argument tuple: a frame less for every push of
    the feeds. What step reads of an event, as ``Call``: ``callbacks`` and ``_ok``. Made by ``_Delivery.make``, as a
    ``Call`` by its ``make`` (twin.calls.Call says why: no ``__init__``)."""

    __slots__ = ("callbacks", "conn", "epoch", "push")
    _ok = True

    @staticmethod
    def make(callbacks: tuple, conn: "Connection", epoch: int, push) -> "_Delivery":
        d = _Delivery()
        d.callbacks = callbacks
        d.conn = conn
        d.epoch = epoch
        d.push = push
        return d


_new_delivery = _Delivery.make
_new_call = Call.make


_NO_ROWS = (None, None, None, None)


class _SideRows(MutableMapping):
    """One of the displayed book's four rows, each coin's (Exchange.bid_px, bid_sz, ask_px, ask_sz: ``k`` 0 to 3), a
    dict read and written through Exchange._rows_now, where the market loop keeps the four as one tuple a coin: one
    store a book update, where four dicts took four. For the readers outside the exchange (twin.seeding, tests); the
    exchange reads _rows_now. A coin whose tuple holds None at ``k`` (written a row at a time) is not in it."""

    __slots__ = ("_rows", "_k")

    def __init__(self, rows: dict[str, tuple], k: int) -> None:
        self._rows = rows
        self._k = k

    def __getitem__(self, coin: str):
        row = (self._rows.get(coin) or _NO_ROWS)[self._k]
        if row is None:
            raise KeyError(coin)
        return row

    def __setitem__(self, coin: str, row) -> None:
        rows = list(self._rows.get(coin) or _NO_ROWS)
        rows[self._k] = row
        self._rows[coin] = tuple(rows)

    def __delitem__(self, coin: str) -> None:
        self[coin]  # (a KeyError when it holds none, as a dict's del)
        self[coin] = None

    def __iter__(self):
        k = self._k
        return iter([coin for coin, rows in self._rows.items() if rows[k] is not None])

    def __len__(self) -> int:
        return sum(1 for _ in self)


class Exchange:
    """The twin venue. Build with ``Exchange.build(params, seed, schedule)``."""

    def __init__(self, env: simpy.Environment, params: TwinParams, seed: int,
                 schedule: ChaosSchedule | None = None, markets: dict[str, MarketProcess] | None = None,
                 record: bool = False) -> None:
        self.env = env
        self.params = params
        self.seed = seed
        self.schedule = schedule or ChaosSchedule()
        seeds = np.random.SeedSequence(seed).spawn(6)
        self._market_seq, lat_seq, rej_seq, self._conn_seq, self._rest_seq, feed_seq = seeds
        self.latency = LatencyModel(params.latency, np.random.default_rng(lat_seq))
        self.rejections = RejectionModel(params.rejections, np.random.default_rng(rej_seq))
        self.ip_limiter = IpWeightLimiter(params.quota)
        self._rest_rng = np.random.default_rng(self._rest_seq)
        # the book feed keeps no step with a client's timers, as on the venue: its first push comes an interval and a
        # uniform part of one after the first subscription, and each push waits for a block (FeedParams.block_s); pushed
        # exactly every interval from the subscription, an agent cycling at the feed's period quoted on a book a
        # whole interval old at every cycle of a session (BadAloPx on 16% of the Quickstart's requests)
        self._feed_rng = np.random.default_rng(feed_seq)
        self.instruments: dict[str, InstrumentSpec] = {i.coin: i for i in params.instruments}
        self._dex_of_coin: dict[str, str] = {c: dex_of(c) for c in self.instruments}  # (a lookup, in loops over orders)
        self.by_asset: dict[int, InstrumentSpec] = {i.asset_id: i for i in params.instruments}
        self._max_leverage: dict[str, int] = {c: i.max_leverage for c, i in self.instruments.items()}
        self._only_isolated = frozenset(c for c, i in self.instruments.items() if i.only_isolated)
        self._sz_decimals: dict[str, int] = {c: i.sz_decimals for c, i in self.instruments.items()}
        self._margin_tables = {c: t for c, i in self.instruments.items() if (t := i.margin_table()) is not None}
        self.books: dict[str, CoinBook] = {
            c: CoinBook(c, i.tick, params.queue.cancel_ahead_power, i.lot) for c, i in self.instruments.items()}
        self.accounts: dict[str, Account] = {}
        self.quotas: dict[str, AddressQuota] = {}
        self.orders: dict[int, ClientOrder] = {}  # resting, by oid
        self._bound_n = 0  # the resting orders in their accounts' orders_bound (_place's: _BOUND_SLACK)
        self._reduce_only_n = 0  # of those, the reduce-only ones (_fill)
        # every order's last status, by oid, as the venue answers orderStatus for any of them: a row of plain
        # values (user, status, status ms, then OrderInfo's fields), which the garbage collector stops
        # following after its first pass (a 10 Hz day keeps ~400,000); and per user, each cloid's newest oid
        self.order_status: dict[int, tuple] = {}
        self._status_by_cloid: dict[str, dict[str, int]] = {}
        self._status_order: dict[str, deque] = {}  # per user, the oids with a status, oldest first (ORDERS_KEPT)
        self.fills: dict[str, list[FillInfo]] = {}
        self.fundings: dict[str, list[FundingInfo]] = {}  # per user, oldest first: every funding payment
        # each coin's hourly funding rate (twin/funding.py), from its market's premium and interest; a coin without
        # a market of its own pays the venue's interest rate alone
        self.funding_rates: dict[str, float] = {c: hourly_rate(0.0) for c in self.instruments}
        for c, mp in params.markets.items():
            if c in self.funding_rates:
                self.funding_rates[c] = hourly_rate(mp.funding_premium_per_8h, mp.funding_interest_per_8h)
        self.schedule_cancel: dict[str, float] = {}
        self.schedule_cancel_fired: dict[str, list[float]] = {}
        self.connections: dict[int, Connection] = {}  # open ones, by number (Connection.number)
        self._n_connections = 0
        self._subs: dict[tuple[str, str], list[Connection]] = {}
        self._next_oid = 10_000_000_000
        # while a client's order or modify action is processed: the first oid it could allocate, which stands for its
        # transaction (fill_hash) on every fill it makes, the fills of all its orders (a batch is one transaction)
        self._action_tx: int | None = None
        # the anonymous market's orders: each trade it makes is with an order of its own, whose oid (never shown)
        # goes into the trade's tid with the other side's (trade_tid); below the clients' oids
        self._next_anon_oid = 1
        self._state_ms = -1  # the newest ms a clearinghouseState answer was given for (its fills all in it)
        self._fill_ms = -1  # the newest fill's time stamp
        self.epoch_ms = params.venue.epoch_ms if params.venue.epoch_ms is not None else SIM_EPOCH_MS
        self.fee_rates = {c: (i.maker_fee, i.taker_fee) for c, i in self.instruments.items()}
        self.log: list[tuple] | None = [] if record else None
        self.counters: dict[str, int] = {"trades": 0, "book_updates": 0, "actions": 0, "http_429": 0,
                                         "quota_refusals": 0, "rejections": 0, "transport_failures": 0,
                                         "fills": 0, "disconnects": 0, "pushes_dropped": 0,
                                         "margin_cancels": 0, "liquidations": 0, "expired": 0, "fundings": 0}
        self.rejections_by_reason: dict[str, int] = {}
        self.liquidations: list[tuple[float, str]] = []  # (sim time, user) of every liquidation
        # market state per coin: current displayed book rows (bid px, bid sz, ask px, ask sz: numpy rows, one tuple
        # a coin, which the market loop stores at each book update; bid_px, bid_sz, ask_px and ask_sz read them as
        # dicts) and best prices
        self._rows_now: dict[str, tuple] = {}
        self.best_bid: dict[str, float] = {c: math.nan for c in self.instruments}
        self.best_ask: dict[str, float] = {c: math.nan for c in self.instruments}
        self.marks: dict[str, float] = {}
        self.last_trade_px: dict[str, float] = {}
        # per coin, the last prints published (VenueParams.trades_snapshot_size of them): a trades subscription's
        # snapshot. None when none are sent (the default)
        n_recent = params.venue.trades_snapshot_size
        self.recent_trades: dict[str, deque] | None = (
            {c: deque(maxlen=n_recent) for c in self.instruments} if n_recent else None)
        self._consumed: dict[str, dict[float, float]] = {c: {} for c in self.instruments}
        # per coin, [asks' rows, bids' rows] (indexed by is_buy) as _level_rows made them, None until it is asked
        # again after a book update (_run_market and _jump set both None as they move the book)
        self._rows_of: dict[str, list] = {c: [None, None] for c in self.instruments}
        self._apply_schedule()
        self.markets = markets if markets is not None else self._build_markets()
        for coin, market in self.markets.items():
            start_waking(env, self._run_market, coin, market)
        self._feed_running = False  # started by the first l2Book subscription
        self._bbo_running = False  # started by the first bbo subscription
        self._asset_data_running = False  # started by the first activeAssetData subscription
        # actions waiting for their block's end (venue.action_block_s): (priority, arrival, account, action, reply to)
        self._block_s = params.venue.action_block_s
        self._in_block: list[tuple] = []
        self._margin_running = False  # started by the first funded account (with the hourly funding)
        self._on_delivery = (self._delivered,)  # a _Delivery's callbacks (made once: bound methods)
        self._on_frame_delivery = (self._frame_delivered,)

    @property
    def bid_px(self) -> "_SideRows":
        """Each coin's displayed bid prices (a numpy row), as a dict: _rows_now's first."""
        return _SideRows(self._rows_now, 0)

    @property
    def bid_sz(self) -> "_SideRows":
        return _SideRows(self._rows_now, 1)

    @property
    def ask_px(self) -> "_SideRows":
        return _SideRows(self._rows_now, 2)

    @property
    def ask_sz(self) -> "_SideRows":
        return _SideRows(self._rows_now, 3)

    # ------------------------------------------------------------------ construction

    @classmethod
    def build(cls, params: TwinParams | None = None, seed: int = 0, schedule: ChaosSchedule | None = None,
              env: simpy.Environment | None = None, record: bool = False) -> "Exchange":
        return cls(env or Environment(), params or TwinParams(), seed, schedule, record=record)

    def _build_markets(self) -> dict[str, MarketProcess]:
        shocks: dict[str, list[Shock]] = {}
        for ev in self.schedule.events:
            shock = _shock_of(ev)
            if shock is not None:
                for coin in self.params.markets:
                    shocks.setdefault(coin, []).append(shock)
        out: dict[str, MarketProcess] = {}
        seqs = self._market_seq.spawn(len(self.params.markets))
        for seq, (coin, mp) in zip(seqs, self.params.markets.items()):
            inst = self.instruments[coin]
            out[coin] = SyntheticMarket(mp, np.random.default_rng(seq), coin=coin, tick=inst.tick, lot=inst.lot,
                                        shocks=shocks.get(coin, ()), chunk_seconds=60.0)
        return out

    def _apply_schedule(self) -> None:
        """Faults that change a model's parameters over an interval are handed to the model now;
        the ones that act on state at an instant are scheduled as SimPy events."""
        self._chaos_outages: list[tuple[float, float]] = []
        for ev in self.schedule.events:
            kind = ev.kind
            t0 = ev.at_s
            if kind == "latency_spike":
                paths = ("order_entry", "response", "feed") if ev.path == "all" else (ev.path,)
                for p in paths:
                    getattr(self.latency, p).add_spike(t0, t0 + ev.duration_s, ev.multiplier, ev.extra_ms)
            elif kind == "http_429_burst":
                self.ip_limiter.add_429_burst(t0, t0 + ev.duration_s)
            elif kind == "rejection_burst":
                self.rejections.add_burst(t0, t0 + ev.duration_s, ev.rate, RejectReason(ev.reason))
            elif kind == "disconnect":
                self._chaos_outages.append((t0, ev.duration_s))
            elif kind == "quota_set":
                self._at(t0, self._set_quota_all, ev.remaining_requests)

    def _at(self, t: float, fn: Callable, *args) -> None:
        call_later(self.env, max(0.0, t - self.env._now), fn, *args)

    # ------------------------------------------------------------------ accounts

    def fund(self, address: str, usdc: float, dex: str = "") -> Account:
        """Create (or top up) an account holding ``usdc`` of collateral on perp dex ``dex`` (the first dex by
        default; each dex margins apart, so a HIP-3 coin trades on what is funded on its dex)."""
        address = address.lower()
        acct = self.accounts.get(address)
        if not self._margin_running:
            self._margin_running = True
            # (loops that only wait for time, scheduling their own waits: start_waking makes env.process's queue
            # entries without a Process and a Timeout a wait; the margin check wakes every second of a session)
            start_waking(self.env, self._run_margin_checks)
            start_waking(self.env, self._run_funding)
        if acct is None:
            acct = self.accounts[address] = Account(address, usdc, self.params.venue.default_leverage, dex,
                                                    self._max_leverage, self._only_isolated, self._sz_decimals,
                                                    self._margin_tables)
            self.quotas[address] = AddressQuota(self.params.quota)
            self.fills[address] = []
            self.fundings[address] = []
        else:
            acct.deposit(usdc, dex)
        return acct

    def _set_quota_all(self, remaining: int) -> None:
        for q in self.quotas.values():
            q.set_remaining(remaining)
        self._log("quota_set", remaining)

    def _served_state_ms(self) -> int:
        """The time of a state answer given now: every fill stamped up to it is in it (a fill stamped past the clock,
        below, included), and fills later in this ms are stamped the next one (_report_fill)."""
        self._state_ms = max(self._state_ms, self.now_ms(), self._fill_ms)
        return self._state_ms

    def now_ms(self) -> int:
        return self.epoch_ms + int(self.env._now * 1000.0)

    def _log(self, *row) -> None:
        if self.log is not None:
            self.log.append((round(self.env._now, 9),) + row)

    # ------------------------------------------------------------------ network paths

    def submit(self, user: str, action: Action, on_reply: Callable[[Reply], None],
               conn: Connection | None = None, expires_after_s: float | None = None,
               fifo: list[float] | None = None, link_down: bool = False) -> None:
        """Send an /exchange action now; ``on_reply`` gets the reply after the round trip.

        ``expires_after_s`` is the venue's expiresAfter (here in simulated seconds): an action that
        arrives later is refused with ``Action already expired`` and costs 5x its address quota.
        ``fifo``: actions sent over one stream (a websocket's posts) arrive in the order sent, however their
        latencies were drawn: it holds the last one's arrival time, and none arrives before it (REST requests,
        each its own connection, may overtake one another and pass none). ``link_down``: the client's network
        path is down (``twin serve`` knows it by host, where no in-process connection stands for it).
        """
        t = self.env._now
        if self._rest_fails(conn, link_down):
            self._lose(on_reply)
            return
        delay = self.latency.order_entry.sample(t)
        if fifo is not None:
            if fifo[0] - t > delay:
                delay = fifo[0] - t
            fifo[0] = t + delay
        # (call_later written out: every action passes here; its delay is a latency draw, never negative, raised only)
        env = self.env
        heappush(env._queue, (env._now + delay, NORMAL, next(env._eid),
                              _new_call(self._arrive_action, (user.lower(), action, on_reply, expires_after_s, t))))

    def request_info(self, kind: str, on_reply: Callable[[object], None], conn: Connection | None = None,
                     **kw) -> None:
        """An /info query: answered with the state at arrival, delivered after the response latency."""
        t = self.env._now
        if self._rest_fails(conn):
            self._lose(on_reply)
            return
        call_later(self.env, self.latency.order_entry.sample(t), self._arrive_info, kind, on_reply, kw)

    def request_computed(self, compute: Callable[[], object], on_reply: Callable[[object], None],
                         link_down: bool = False) -> None:
        """An /info query whose answer ``compute`` renders (``twin serve``'s, of any type it serves): computed at
        the request's arrival, from the state then, and delivered after the response latency; lost in transport
        as any REST request is. (Answered at once, the served twin's snapshots were instant and never lost.)"""
        t = self.env._now
        if self._rest_fails(None, link_down):
            self._lose(on_reply)
            return
        call_later(self.env, self.latency.order_entry.sample(t), lambda: self._reply(on_reply, compute()))

    def _lose(self, on_reply: Callable) -> None:
        """A request lost in transport: the client learns it as a reset connection, after the round trip."""
        t = self.env._now
        call_later(self.env, self.latency.order_entry.sample(t) + self.latency.response.sample(t), on_reply,
                   TransportFailure("connection reset"))

    def _rest_fails(self, conn: Connection | None, link_down: bool = False) -> bool:
        """A REST request lost in transport: at the calibrated rate, or more often while the client's
        socket is down, or its network path (the same network trouble)."""
        t = self.env._now
        failed = self.rejections.rest_fails(t)
        if not failed and (link_down or (conn is not None and not conn.up)):
            p = self.params.connection.rest_fails_during_outage
            failed = p > 0.0 and self._rest_rng.random() < p
        if failed:
            self.counters["transport_failures"] += 1
        return failed

    def _reply(self, on_reply: Callable, reply) -> None:
        # (call_later written out, as in submit: every reply passes here, after a latency draw, never negative)
        env = self.env
        now = env._now
        heappush(env._queue, (now + self.latency.response.sample(now), NORMAL, next(env._eid),
                              _new_call(on_reply, (reply,))))

    def _arrive_action(self, user: str, action: Action, on_reply: Callable,
                       expires_after_s: float | None = None, sent: float | None = None) -> None:
        t = self.env._now
        self.counters["actions"] += 1
        n = action_size(action)
        if not self.ip_limiter.try_spend(exchange_weight(n), t):
            self.counters["http_429"] += 1
            self._log("429", user, type(action).__name__)
            self._reply(on_reply, HttpError(429, "null"))
            return
        if n > MAX_BATCH:  # (the served twin refuses it parsing the request; in process, the gateway's batch
            # came through whole and was done, where the venue does none of it: a Kill's cancel-all of 201 orders)
            self._reply(on_reply, ActionErr(OVER_WEIGHT))
            return
        acct = self.accounts.get(user)
        if acct is None:
            self._reply(on_reply, ActionErr(f"Must deposit before performing actions. User: {user}"))
            return
        quota = self.quotas[user]
        is_cancel = isinstance(action, (CancelAction, CancelByCloidAction))
        if expires_after_s is not None and t > expires_after_s:
            quota.try_spend(5 * n, t, is_cancel, type(action).__name__ + " (expired)", sent)  # the venue charges 5x for a stale action
            self.counters["expired"] += 1
            self._log("expired", user, type(action).__name__)
            self._reply(on_reply, ActionErr("Action already expired"))
            return
        if not quota.try_spend(n, t, is_cancel, type(action).__name__, sent):
            self.counters["quota_refusals"] += 1
            self._log("quota_refused", user, type(action).__name__, n)
            self._reply(on_reply, ActionErr(quota.refusal_text(n, is_cancel=is_cancel)))
            return
        if self._block_s:
            if not self._in_block:
                # the block's end: the first grid point after now (k counted whole, so no float drift in the grid)
                end = (math.floor(t / self._block_s) + 1) * self._block_s
                call_later(self.env, max(0.0, end - t), self._run_block)
            self._in_block.append((_block_priority(action), len(self._in_block), acct, action, on_reply))
            return
        reply = self._process(acct, action)
        if self.log is not None:
            self._log("reply", user, reply)
        self._reply(on_reply, reply)

    def _run_block(self) -> None:
        """Execute the block's actions: "within a block, cancels and ALO orders go before GTC/IOC orders"
        (hyperliquid.md §2.4, DOCS optimizing-latency, order-book), each class in the order the actions arrived.
        Whether the venue orders anything else (modifies, leverage, schedule-cancel, noop) is not documented: they
        keep their arrival order among the GTC/IOC orders (README, the twin's known gaps)."""
        block, self._in_block = self._in_block, []
        block.sort(key=itemgetter(0, 1))
        for _, _, acct, action, on_reply in block:
            reply = self._process(acct, action)
            if self.log is not None:
                self._log("reply", acct.address, reply)
            self._reply(on_reply, reply)

    def _arrive_info(self, kind: str, on_reply: Callable, kw: dict) -> None:
        t = self.env._now
        reply = self.info(kind, **kw)
        n_items = len(reply) if kind in _PER_ROW_WEIGHT and isinstance(reply, (list, tuple)) else 0
        if not self.ip_limiter.try_spend(info_weight(kind, n_items), t):
            self.counters["http_429"] += 1
            reply = HttpError(429, "null")
        self._reply(on_reply, reply)

    # ------------------------------------------------------------------ actions

    def _process(self, acct: Account, action: Action) -> Reply:
        if isinstance(action, OrderAction):
            if not action.orders:
                # refused at pre-validation, one error for the whole payload (docs error-responses: "empty batch
                # of orders"); the docs give no text and none has been captured: this one is a guess
                return ActionErr(EMPTY_ORDER_BATCH)
            if self._outside_band(action.orders):
                return ActionErr(PRICE_BAND_TEXT)
            self._action_tx = self._next_oid
            # (map and loops, not comprehensions: one reading self, acct or action made each a cell, three allocated
            # on every action; tests/twin/test_exchange_cells.py)
            try:
                return _new_action_ok("order", tuple(map(self._place, repeat(acct), action.orders)))
            finally:
                self._action_tx = None
        # (the kinds in the order of their frequency, a quoting agent's: modifies nearly as many as orders, cancels
        # fewer; each isinstance passed costs six bytecodes, and no action is of two kinds)
        if isinstance(action, ModifyAction):
            # (before any cancel leg: nothing changes; each modify's spec taken from its pair in C, where a generator
            # resumed a frame a modify)
            if self._outside_band(map(_second, action.modifies)):
                return ActionErr(PRICE_BAND_TEXT)
            self._action_tx = self._next_oid
            try:
                modify, always = self._modify, action.always_place
                out = []
                for ref, spec in action.modifies:
                    out.append(modify(acct, ref, spec, always))
                return _new_action_ok("batchModify", tuple(out))
            finally:
                self._action_tx = None
        if isinstance(action, CancelByCloidAction):
            cancel = self._cancel
            out = []
            for coin, c in action.cancels:
                out.append(cancel(acct, coin, cloid=c))
            return _new_action_ok("cancel", tuple(out))
        if isinstance(action, CancelAction):
            cancel = self._cancel
            out = []
            for coin, oid in action.cancels:
                out.append(cancel(acct, coin, oid=oid))
            return _new_action_ok("cancel", tuple(out))
        if isinstance(action, ScheduleCancelAction):
            return self._schedule_cancel(acct, action.time_s)
        if isinstance(action, UpdateLeverageAction):
            return self._update_leverage(acct, action)
        if isinstance(action, UpdateIsolatedMarginAction):
            return self._update_isolated_margin(acct, action)
        if isinstance(action, NoopAction):
            return ActionOk("default")
        return ActionErr("Unknown action")

    def _outside_band(self, specs) -> bool:
        """Whether an order of the action is priced more than 80% from its coin's reference price (the twin's mark).
        The docs (error-responses, hyperliquid.md §2.3) list "order too far from reference price" among the
        pre-validation errors: ONE error for the whole payload, not one per order, so the whole action is refused
        (as the empty batch is, HTTP 200 ``{"status":"err"}``, the envelope hyperliquid.md gives as most likely)
        with the text seen live (§2.4). Until 4 December the twin refused just that order, with the Oracle reason's
        table text ("Order price too far from oracle"), a different check. An IOC priced at 1 or at 10x the mark
        filled in the twin and is refused live, so a flatten priced from garbage never flattens there. A price of
        zero or below is left to the per-order check (``Order has invalid price.``)."""
        marks = self.marks
        for spec in specs:
            ref = marks.get(spec.coin)
            if ref and spec.px > 0.0 and abs(spec.px - ref) > _PRICE_BAND * ref:
                self._count_rejection(RejectReason.Oracle)
                return True
        return False

    def _update_leverage(self, acct: Account, action: UpdateLeverageAction) -> Reply:
        """The leverage, and the margin mode (cross or isolated) of the coin's position. An ``onlyIsolated`` coin
        refuses cross, and an open position cannot change mode. Both texts are the venue's as third-party
        clients quote them from live replies and the node binary's strings (the docs give neither): UNCONFIRMED
        by a capture of ours. Changing the leverage of an open isolated position leaves its margin as it is
        (the venue's check that the margin covers a lower leverage is not modelled)."""
        inst = self.instruments.get(action.coin)
        if inst is None or not 1 <= action.leverage <= inst.max_leverage:
            return ActionErr("Invalid leverage value")
        if action.is_cross and inst.only_isolated:
            return ActionErr(CROSS_NOT_ALLOWED)
        pos = acct.position(action.coin)
        if pos.szi and pos.isolated == action.is_cross:
            return ActionErr(CANNOT_SWITCH_MODE)
        pos.leverage = action.leverage
        pos.isolated = not action.is_cross
        return ActionOk("default")

    def _update_isolated_margin(self, acct: Account, action: UpdateIsolatedMarginAction) -> Reply:
        """Margin into or out of an open isolated position (docs trading/margining). Adding draws on the dex's
        available cross margin. A strictly isolated coin (``onlyIsolated``, shown as marginMode strictIsolated)
        refuses removal: its margin leaves only as the position closes. Elsewhere what stays must meet the
        transfer requirement: equity ≥ max(initial margin at the mark, 10% of the notional)."""
        inst = self.instruments.get(action.coin)
        pos = acct.positions.get(action.coin)
        if inst is None or pos is None or not pos.szi or not pos.isolated:
            return ActionErr(NO_ISOLATED_POSITION)
        amount = action.amount_usd
        if amount >= 0.0:
            if amount > self._available_margin(acct, inst.dex) + 1e-9:
                return ActionErr(INSUFFICIENT_MARGIN_TO_ADD)
        elif inst.only_isolated:
            return ActionErr(STRICT_ISOLATED_REMOVE)
        else:
            mark = self.marks.get(action.coin, pos.entry_px)
            ntl = abs(pos.szi) * mark
            if acct.isolated_equity(action.coin, self.marks) + amount < max(ntl / pos.leverage, 0.1 * ntl) - 1e-9:
                return ActionErr(INSUFFICIENT_MARGIN_TO_REMOVE)
        pos.margin_usd += amount
        return ActionOk("default")

    def _reject(self, reason: RejectReason, asset: int, **fmt) -> StatusError:
        self._count_rejection(reason)
        return _new_status_error(order_error_text(reason, asset, **fmt))

    def _count_rejection(self, reason: RejectReason) -> None:
        self.counters["rejections"] += 1
        self.rejections_by_reason[reason.value] = self.rejections_by_reason.get(reason.value, 0) + 1

    def open_order_count(self, user: str) -> int:
        return sum(1 for o in self.orders.values() if o.user == user)

    def _open_order_limit(self, user: str, inst: InstrumentSpec, reduce_only: bool) -> int:
        """How many open orders ``user`` may hold when a new order comes (hyperliquid.md §2.4, docs rate limits):
        the base (1000) plus one per 5M USDC the account has traded, at most 5000; but a reduce-only order is
        refused from the base on, whatever the volume (an IOC one too: it is refused, not exempt as an IOC that
        opens is here). The volume is the one the address budget counts (its cumVlm)."""
        base = inst.max_open_orders
        if reduce_only:
            return base
        extra = int(self.quotas[user].cum_volume_usd // VOLUME_PER_EXTRA_OPEN_ORDER_USD)
        return min(base + extra, max(base, MAX_OPEN_ORDERS))

    def _place(self, acct: Account, spec: OrderSpec,
               freed_cloid: str | None = None) -> Union[Resting, Filled, StatusError]:
        """A new order. ``freed_cloid``: the cloid of the order a modify just cancelled, which its new order may
        carry again (the venue's own SDK modifies by cloid and sends the same one; refused, that usage would look
        like a client bug here that the venue is not known to call one)."""
        inst = self.instruments.get(spec.coin)
        if inst is None:
            return StatusError("Order has invalid asset.")
        # (the spec's fields read once, each a statement: an attribute load each, and the checks below read some five
        # times; as a tuple unpacked, two bytecodes more)
        coin = spec.coin
        is_buy = spec.is_buy
        px = spec.px
        tif = spec.tif
        reduce_only = spec.reduce_only
        cloid = spec.cloid
        sz = spec.sz
        user = acct.address
        if cloid is not None and cloid != freed_cloid:
            used = self._status_by_cloid.get(user)
            if used is not None and cloid in used:
                # a cloid one of the user's placed orders still holds (resting, or done and still answered by
                # orderStatus): two orders under one cloid would make cancelByCloid and orderStatus by cloid
                # ambiguous, and the venue's answer is not documented (README, the twin's known gaps)
                self.counters["rejections"] += 1
                self.rejections_by_reason["DuplicateCloid"] = self.rejections_by_reason.get("DuplicateCloid", 0) + 1
                return StatusError(f"{DUPLICATE_CLOID} asset={inst.asset_id}")
        if sz == 0.0:
            return self._reject(RejectReason.ZeroSize, inst.asset_id)
        if not size_is_valid(sz, inst.sz_decimals):
            return self._reject(RejectReason.InvalidSize, inst.asset_id)
        if px <= 0.0:  # (NaN, a price string no float holds exactly, is not: it is off the price rule, Tick)
            return self._reject(RejectReason.InvalidPrice, inst.asset_id)
        if not price_is_valid(px, inst.sz_decimals):
            return self._reject(RejectReason.Tick, inst.asset_id)
        if tif not in ("Alo", "Ioc", "Gtc"):
            return StatusError("Invalid TIF")
        # (no user can hold more open orders than the book holds in all: the count, a walk over every order, is
        # needed only when that total is at the base cap, which every limit below is at least; that total first,
        # nearly always under it)
        if len(self.orders) >= inst.max_open_orders and (tif != "Ioc" or reduce_only) \
                and self.open_order_count(user) >= self._open_order_limit(user, inst, reduce_only):
            return self._reject(RejectReason.TooManyOpenOrders, inst.asset_id)
        # (Account.position's lookup written out: the position is nearly always there; made by it when not)
        position = acct.positions.get(coin)
        if position is None:
            position = acct.position(coin)
        pos = position.szi
        if reduce_only:
            if pos == 0.0 or (pos > 0) == is_buy:
                return self._reject(RejectReason.ReduceOnly, inst.asset_id)
            sz = min(sz, abs(pos))
        # (an order under the minimum is let through when it closes the whole position: spec.sz, as asked, covers it,
        # tested only for an order under the minimum)
        if px * sz < inst.min_notional_usd and not (pos != 0.0 and (pos > 0) != is_buy and spec.sz >= abs(pos) - 1e-12
                                                    and (reduce_only or sz == abs(pos))):
            return self._reject(RejectReason.MinTradeNtl, inst.asset_id)
        # the venue's book holds the clients' resting orders too (two float compares: the book keeps its best
        # prices): a post-only order through one is refused, and a taker reaching the user's own is self-trade.
        # (Each side's best read for its own side only: the other, and both prices, only for a refusal's text)
        book = self.books[coin]
        if is_buy:
            crosses = px >= self.best_ask[coin]  # (False against an empty side's nan, as every compare with it)
            crosses_clients = px >= book.min_ask
        else:
            crosses = px <= self.best_bid[coin]
            crosses_clients = px <= book.max_bid
        if tif == "Alo" and (crosses or crosses_clients):
            # the bbo the venue names is the whole book's, the clients' resting orders in it (on either side: a
            # user's own bid inside the spread is the best bid whichever side the refused order crossed)
            bb, ba = self.best_bid[coin], self.best_ask[coin]
            if book.max_bid > -math.inf and not bb >= book.max_bid:
                bb = book.max_bid
            if book.min_ask < math.inf and not ba <= book.min_ask:
                ba = book.min_ask
            return self._reject(RejectReason.BadAloPx, inst.asset_id, bbo=f"{_fmt(bb)}@{_fmt(ba)}")
        increasing = 0.0
        if not reduce_only:
            increasing = sz if (pos == 0.0 or (pos > 0) == is_buy) else max(0.0, sz - abs(pos))
            if increasing > 0.0:
                # a sell priced under the market fills at the market: margined at its limit price, one at 1% of
                # the mark opened a position fifty times what the account could carry (the reference price, the
                # mark, read for a sell alone: the band was checked before, on the whole action)
                px_m = px
                if not is_buy:
                    ref = self.marks.get(coin)
                    if ref and not px >= ref:
                        px_m = ref
                need = px_m * increasing / position.leverage
                tiers = position.tiers
                if tiers is not None and tiers.max_leverage_at(
                        (abs(pos) + increasing if pos == 0.0 or (pos > 0) == is_buy else increasing) * px_m) \
                        < position.leverage:
                    # the position the order would make is in a tier whose max leverage is under the user's: the
                    # venue refuses it (PerpMaxPosition, hyperliquid.md's order errors) until the leverage is lowered
                    return self._reject(RejectReason.PerpMaxPosition, inst.asset_id)
                # the walk over every resting order (_available_margin) only where the account's bound on what its
                # orders hold (_BOUND_SLACK says why it decides as the walk would) leaves the order in doubt
                value, used, _, _ = acct.cross_margin(self.marks, inst.dex)
                bound = acct.orders_bound
                if not (bound < _BOUND_CAP and (need + used + bound) * _BOUND_SLACK < value
                        and len(self.orders) == self._bound_n) \
                        and need > self._available_margin(acct, inst.dex) + 1e-9:
                    return self._reject(RejectReason.PerpMargin, inst.asset_id)
        now = self.env._now
        drawn = self.rejections.draw(now)
        if drawn is not None and can_refuse(drawn, tif, reduce_only, increasing > 0.0):
            fmt = {"bbo": f"{_fmt(self.best_bid[coin])}@{_fmt(self.best_ask[coin])}"} \
                if drawn == RejectReason.BadAloPx else {}
            return self._reject(drawn, inst.asset_id, **fmt)
        oid = self._next_oid
        self._next_oid = oid + 1
        now_ms = self.epoch_ms + int(now * 1000.0)  # (now_ms inlined: every order placed passes here)
        if crosses or crosses_clients or tif == "Ioc" or sz <= 1e-12:
            # (a taker: what it takes, and then what rests of it, if any; a crossing order is an Ioc or a Gtc here,
            # the Alo refused above)
            order = ClientOrder(oid, cloid, user, coin, is_buy, px, sz, spec.sz, reduce_only, tif, 0.0, now_ms)
            filled_sz = 0.0
            notional = 0.0
            if crosses or crosses_clients:
                own = others = None
                if crosses_clients:
                    own, others = self._clients_opposite(order)
                filled_sz, notional = self._take(order, own, others)
            if tif == "Ioc":
                if filled_sz <= 0.0:
                    return self._reject(RejectReason.IocCancel, inst.asset_id)
                self._remove(order, "filled" if order.sz <= 1e-12 else "canceled")
                return Filled(_round_sz(filled_sz, inst), notional / filled_sz, oid, cloid)
            if order.sz <= 1e-12:
                self._remove(order, "filled")
                return Filled(_round_sz(filled_sz, inst), notional / filled_sz, oid, cloid)
            rows = self._level_rows(coin, is_buy)
            ahead = join_size(rows[2], rows[3], px, inst.tick, is_buy) if rows is not None else 0.0
            order.queue_ahead = ahead
            order.level_sz = ahead
            sz = order.sz
        else:
            # (the maker's way, nearly every order: its queue known before it is made, and its size as asked)
            rows = self._level_rows(coin, is_buy)
            ahead = join_size(rows[2], rows[3], px, inst.tick, is_buy) if rows is not None else 0.0
            order = ClientOrder(oid, cloid, user, coin, is_buy, px, sz, spec.sz, reduce_only, tif, ahead, now_ms)
        book.add(order)
        self.orders[oid] = order
        # its part of the account's bound (_BOUND_SLACK): its notional, rounded up to whole USD, which its margin
        # never exceeds (a leverage is 1 or more, its size only shrinks); a reduce-only order holds none
        if reduce_only:
            bound = 0
            self._reduce_only_n += 1
        else:
            bound = px * sz
            bound = int(bound) + 1 if bound < 1e15 else _BOUND_CAP
        order.bound = bound
        acct.orders_bound += bound
        self._bound_n += 1
        # its status row and orderUpdates push: _remove(order, "open")'s written out (every resting order passes
        # here), the row's fields from this one's names (the order's as it rests: its size, its time now_ms), no call;
        # tests/twin/test_exchange_per_event.py holds it to the old _place that called a _set_status
        info = (coin, "B" if is_buy else "A", px, sz, oid, now_ms, spec.sz, cloid, reduce_only, tif)
        statuses = self.order_status
        if oid not in statuses:
            kept = self._status_order.get(user)
            if kept is not None and len(kept) < ORDERS_KEPT:
                kept.append(oid)
            else:
                self._keep_status_of(user, oid)
            if cloid is not None:
                by_cloid = self._status_by_cloid.get(user)
                if by_cloid is None:
                    by_cloid = self._status_by_cloid[user] = {}
                by_cloid[cloid] = oid
        statuses[oid] = (user, "open", now_ms) + info
        if self.log is not None:
            self._log("status", oid, "open")
        conns = self._subs.get(("orderUpdates", user))
        if conns:
            update = _new_order_update(_new_order_info(*info), "open", now_ms)
            for conn in conns:
                frame = conn.frame
                if frame is not None and conn.frame_at == now:
                    frame.append(update)
                    continue
                frame = conn.frame = [update]
                conn.frame_at = now
                at = now + conn.feed.sample(now)
                if at < conn.last_delivery:
                    at = conn.last_delivery
                conn.last_delivery = at
                env = self.env
                heappush(env._queue, (at, NORMAL, next(env._eid),
                                      _new_delivery(self._on_frame_delivery, conn, conn.epoch, frame)))
        return _new_resting(oid, cloid)

    def _level_rows(self, coin: str, is_buy: bool) -> tuple | None:
        """(px row, sz row, px list, sz list) of one side's displayed book, or None before any book.
        The lists are made at most once per book update, when first asked (per-element numpy access costs more than
        the copy), and kept until the next drops them (_rows_of): order entry and the book push ask (the bbo feed's
        top reads CoinBook.shown, the queue model its own rows); tests/twin/test_level_rows.py holds them to the rows
        made afresh."""
        pair = self._rows_of[coin]
        rows = pair[is_buy]
        if rows is None:
            now = self._rows_now.get(coin)
            if now is None:
                return None
            if is_buy:
                pxs, szs = now[0], now[1]
            else:
                pxs, szs = now[2], now[3]
            if pxs is None:
                return None
            rows = pair[is_buy] = (pxs, szs, pxs.tolist(), szs.tolist())
        return rows

    def _available_margin(self, acct: Account, dex: str) -> float:
        """What the account has left on ``dex`` to margin a new order with: that dex's cross value (its cash less
        the isolated margins, plus the cross positions' unrealised PnL), less the cross positions' initial margin
        and its resting orders' (each dex margins apart; an order on an isolated coin draws on the cross balance
        too, which its fill then moves into the position)."""
        value, used, _, _ = acct.cross_margin(self.marks, dex)
        user = acct.address
        positions = acct.positions
        dex_of_coin = self._dex_of_coin
        # a coin's dex test and leverage, taken again only when an order's coin differs from the one before (its
        # orders all at once, in a session of one coin: per order entry, a walk over every resting order)
        coin = lev = None
        for o in self.orders.values():
            if o.user == user and not o.reduce_only:
                if o.coin != coin:
                    coin = o.coin
                    if dex_of_coin[coin] == dex:
                        pos = positions.get(coin)
                        lev = pos.leverage if pos is not None else acct.position(coin).leverage
                    else:
                        lev = None
                if lev is not None:
                    used += o.px * o.sz / lev
        return value - used

    def _clients_opposite(self, order: ClientOrder) -> tuple[list[ClientOrder], list[ClientOrder]]:
        """The resting client orders on the other side within ``order``'s limit, best first (then oldest): the
        user's own (self-trade prevention expires them) and the other users' (it trades with them). Only looked for
        when the order crosses a client's resting order."""
        book = self.books[order.coin]
        if order.is_buy:
            reach = [o for o in book.asks if o.px <= order.px]
            reach.sort(key=_px_oid)
        else:
            reach = [o for o in book.bids if o.px >= order.px]
            reach.sort(key=_neg_px_oid)
        user = order.user
        return [o for o in reach if o.user == user], [o for o in reach if o.user != user]

    def _take_clients(self, order: ClientOrder, others: list[ClientOrder], before_px: float) -> tuple[float, float]:
        """Fill ``order`` against the other users' resting orders priced better than ``before_px`` (or at it: at
        one price the market's displayed size is taken first, as it queued first), at their prices, as their
        maker fills; (filled, notional). One user's taker order went through another's resting order untouched,
        answered "could not immediately match", and left a crossed book."""
        filled = notional = 0.0
        inst = self.instruments[order.coin]
        buy = order.is_buy
        while others and order.sz > 1e-12 and (others[0].px <= before_px if buy else others[0].px >= before_px):
            o = others.pop(0)
            if o.oid not in self.orders or o.sz <= 1e-12:
                continue  # (a fill before cancelled or shrank it: reduce-only)
            take = _round_sz(min(o.sz, order.sz), inst)
            if take <= 0.0:
                continue
            px = o.px
            self._fill(o, px, take, is_maker=True, prints=False, counter_oid=order.oid)
            self._fill(order, px, take, is_maker=False, counter_oid=o.oid)
            filled += take
            notional += px * take
            if o.sz > 1e-12 and o.oid in self.orders:
                others.insert(0, o)  # partly filled: the taker is done
        return filled, notional

    def _expire_own(self, own: list[ClientOrder], is_buy: bool, before_px: float) -> None:
        """Self-trade prevention, as the venue does it ("expire maker", docs trading/self-trade-prevention): a
        taker that reaches the same address's resting order cancels it (status selfTradeCanceled) instead of
        trading with it, and goes on matching. Cancels those of ``own`` priced better than ``before_px``."""
        while own and (own[0].px < before_px if is_buy else own[0].px > before_px):
            self._remove(own.pop(0), "selfTradeCanceled")

    def _take(self, order: ClientOrder, own: list[ClientOrder] | None = None,
              others: list[ClientOrder] | None = None) -> tuple[float, float]:
        """Match an aggressive client order against the displayed book (levels it consumes stay
        consumed until the next book update), and the other users' resting orders, ``others``, at their prices.
        Returns (filled size, notional). ``own``: the user's resting orders it may reach (both from
        _clients_opposite); the ones it does reach are cancelled as self-trades: those priced better than a level
        it takes from, and all of them if it is left unfilled."""
        coin = order.coin
        now = self._rows_now.get(coin) or _NO_ROWS
        pxs, szs = (now[2], now[3]) if order.is_buy else (now[0], now[1])
        if pxs is None:
            pxs = szs = ()
        consumed = self._consumed[coin]
        filled = 0.0
        notional = 0.0
        inst = self.instruments[coin]
        for i in range(len(pxs)):
            px = float(pxs[i])
            if px != px or (order.is_buy and px > order.px) or (not order.is_buy and px < order.px):
                break
            if own:  # a resting order of the user's priced better than this level is reached first
                self._expire_own(own, order.is_buy, px)
            if others:  # so is another user's, which it trades with
                f, n = self._take_clients(order, others, px - inst.tick * 0.5 if order.is_buy
                                          else px + inst.tick * 0.5)
                filled += f
                notional += n
                if order.sz <= 1e-12:
                    break
            avail = float(szs[i]) - consumed.get(px, 0.0)
            if avail <= 0.0:
                continue
            take = _round_sz(min(avail, order.sz), inst)
            if take <= 0.0:  # less than half a lot left here (float noise of earlier takes): the level is gone
                continue
            # on the lot grid, so that a level taken in pieces is used up exactly, not shown as a 2e-16 sliver
            consumed[px] = _round_sz(consumed.get(px, 0.0) + take, inst)
            self._fill(order, px, take, is_maker=False)
            filled += take
            notional += px * take
            if order.sz <= 1e-12:
                break
        if others and order.sz > 1e-12:  # the other users' orders at and past the last level, to its limit
            f, n = self._take_clients(order, others, math.inf if order.is_buy else -math.inf)
            filled += f
            notional += n
        if own and order.sz > 1e-12:  # unfilled: it went on to its limit, through every one of them
            self._expire_own(own, order.is_buy, math.inf if order.is_buy else -math.inf)
        if filled > 0.0:
            self._best_left(coin, order.is_buy, pxs, szs, consumed)
        return filled, notional

    def _best_left(self, coin: str, took_asks: bool, pxs, szs, consumed: dict) -> None:
        """The side a taker took from starts at its first level with size left (nan if none): a level it emptied
        is gone from the venue's book until the next book update, as l2Book shows (a post-only order there used to
        be refused as crossing it, naming a bbo the book did not show)."""
        best = math.nan
        for i in range(len(pxs)):
            px = float(pxs[i])
            if px != px:
                break
            if float(szs[i]) - consumed.get(px, 0.0) > 0.0:
                best = px
                break
        (self.best_ask if took_asks else self.best_bid)[coin] = best

    def _cancel(self, acct: Account, coin: str, oid: int | None = None, cloid: str | None = None) -> str | StatusError:
        order = self._find(acct.address, coin, oid, cloid)
        inst = self.instruments.get(coin)
        asset = inst.asset_id if inst else 0
        if order is None:
            return StatusError(order_error_text(RejectReason.MissingOrder, asset))
        self._remove(order, "canceled")
        return SUCCESS

    def _find(self, user: str, coin: str, oid: int | None, cloid: str | None) -> ClientOrder | None:
        """The user's resting order on ``coin`` by oid, else by cloid. A cloid rests under at most one order of a
        user (_place refuses a used one, seeding likewise), and _status_by_cloid holds each resting order's (its
        status is never pruned while it rests): the index finds what a scan of every resting order would
        (tests/twin/test_find_by_cloid.py), without the scan."""
        if oid is None:
            by_cloid = self._status_by_cloid.get(user)
            if by_cloid is None:
                return None
            oid = by_cloid.get(cloid)
        o = self.orders.get(oid)
        return o if o is not None and o.user == user and o.coin == coin else None

    def _modify(self, acct: Account, ref: int | str, spec: OrderSpec,
                always_place: bool = False) -> Union[Resting, Filled, StatusError]:
        # the user's resting order on the spec's coin by the ref (an oid, or a cloid): _find written out (every
        # modify passes here; the agent's by cloid), no call, the lookups as _find makes them
        user = acct.address
        if isinstance(ref, str):
            by_cloid = self._status_by_cloid.get(user)
            order = self.orders.get(by_cloid.get(ref)) if by_cloid is not None else None
        else:
            order = self.orders.get(ref)
        if order is not None and (order.user != user or order.coin != spec.coin):
            order = None
        if order is None:
            if always_place and spec.coin in self.instruments:
                # the venue's docs (exchange endpoint, "Modify an order"): with always place "the new order is
                # placed regardless of whether the cancel succeeded": the old one filled or gone, it is a place, which
                # may carry the ref's cloid again, unless an order on another coin still rests under it (refused then,
                # as any used cloid is: a cloid rests under at most one order of a user, which _find relies on)
                freed = None
                if isinstance(ref, str):
                    by_cloid = self._status_by_cloid.get(acct.address)
                    if by_cloid is None or by_cloid.get(ref) not in self.orders:
                        freed = ref
                return self._place(acct, spec, freed)
            return self._reject(RejectReason.ModifyCanceledOrFilled, self.instruments[spec.coin].asset_id
                                if spec.coin in self.instruments else 0)
        self._remove(order, "canceled")
        freed = order.cloid
        if not always_place and spec.tif != "Alo":
            # the venue's rule (docs exchange endpoint, "Modify an order"): without always place the new order must
            # be post-only, or a Gtc that would not execute at once, which is then treated as post-only (so a Gtc
            # that crosses is refused as post-only is); anything else (Ioc) is refused
            if spec.tif != "Gtc":
                return StatusError(MODIFY_PREFIX + self._reject(RejectReason.ModifyNotPostOnly,
                                                                self.instruments[spec.coin].asset_id).error)
            spec = replace(spec, tif="Alo")
        placed = self._place(acct, spec, freed)
        if isinstance(placed, StatusError):  # the cancel leg happened: the venue says the new order failed
            return StatusError(MODIFY_PREFIX + placed.error)
        return placed

    def _schedule_cancel(self, acct: Account, time_s: float | None) -> Reply:
        if time_s is None:
            if self.params.venue.schedule_cancel_clears_refused:  # (off by default: a clear is always taken)
                refused = self._schedule_cancel_policy(acct)
                if refused is not None:
                    return refused
            self.schedule_cancel.pop(acct.address, None)
            return ActionOk("default")
        # the venue checks the time before the volume: a time too early is refused as such on any account
        if time_s < self.env._now + 5.0:
            return ActionErr("Scheduled cancel time too early, must be at least 5 seconds from now.")
        refused = self._schedule_cancel_policy(acct)
        if refused is not None:
            return refused
        self.schedule_cancel[acct.address] = time_s
        self._at(time_s, self._fire_schedule_cancel, acct.address, time_s)
        return ActionOk("default")

    def _schedule_cancel_policy(self, acct: Account) -> ActionErr | None:
        """The venue's refusal of the dead-man's switch for this account now, if it refuses it: under its volume
        rule, or past the day's triggers (UTC days)."""
        vp = self.params.venue
        traded = sum(p.volume_usd for p in acct.positions.values())
        if traded < vp.schedule_cancel_min_volume_usd:
            return ActionErr(f"Cannot set scheduled cancel time until enough volume traded. "
                             f"Required: ${vp.schedule_cancel_min_volume_usd:.0f}. Traded: ${traded:.2f}.")
        day = math.floor((self.epoch_ms / 1000.0 + self.env._now) / DAY_S)
        fired = [f for f in self.schedule_cancel_fired.get(acct.address, []) if f == day]
        if len(fired) >= vp.schedule_cancel_max_per_day:
            return ActionErr("Too many scheduled cancels triggered today.")
        return None

    def _fire_schedule_cancel(self, user: str, time_s: float) -> None:
        if self.schedule_cancel.get(user) != time_s:
            return  # cleared or replaced since
        del self.schedule_cancel[user]
        day = math.floor((self.epoch_ms / 1000.0 + self.env._now) / DAY_S)
        self.schedule_cancel_fired.setdefault(user, []).append(day)
        for o in [o for o in self.orders.values() if o.user == user]:
            self._remove(o, "scheduledCancel")
        self._log("schedule_cancel_fired", user)

    # ------------------------------------------------------------------ order state

    def _order_info(self, o: ClientOrder) -> OrderInfo:
        return OrderInfo(*_order_fields(o))

    def _remove(self, o: ClientOrder, status: str) -> None:
        """An order's status row (orderStatus) and its update on the user's orderUpdates sockets, the order taken out
        of the book first where it rests: every cancel, a modify's cancel leg, a maker's last fill and a venue cancel
        (some 2,000 in 5 minutes of a stress session), and the statuses of an order that never rested, a taker's last
        (an Ioc's, a Gtc filled whole) and a seeded order's "open" (twin/seeding.py, before the order rests). The one
        status writer but _place's for a resting order's "open", which writes it out from its own names: the row's
        fields (_order_fields), _keep_status_of's first test and the frame's sending are written out here too, each
        held to the plain helper it was by tests/twin/test_paths_written_out.py; tests/twin/test_exchange_per_event.py
        holds this to the old _remove, which called a _set_status of its own (the taker's statuses and the seeded
        "open" went there: the same row and frame)."""
        oid, user, coin = o.oid, o.user, o.coin
        if self.orders.pop(oid, None) is not None:
            self.books[coin].remove(o)
            bound = o.bound
            if bound is not None:
                self.accounts[user].orders_bound -= bound
                self._bound_n -= 1
                if not bound:  # (a reduce-only order's: any other's is 1 or more)
                    self._reduce_only_n -= 1
        now = self.env._now
        now_ms = self.epoch_ms + int(now * 1000.0)
        cloid = o.cloid
        # (OrderInfo's fields, _order_fields' tuple: the row keeps them flat, order_status_of makes the OrderInfo)
        info = (coin, "B" if o.is_buy else "A", o.px, o.sz, oid, o.ts_ms, o.orig_sz, cloid, o.reduce_only, o.tif)
        statuses = self.order_status
        if oid not in statuses:
            kept = self._status_order.get(user)
            if kept is not None and len(kept) < ORDERS_KEPT:
                kept.append(oid)  # (_keep_status_of's way for nearly every order: kept, none forgotten)
            else:
                self._keep_status_of(user, oid)
            if cloid is not None:
                # a new order takes its cloid: the only one placed under a used cloid is a modify's new order,
                # which keeps the cloid of the order it replaced (_place refuses any other)
                by_cloid = self._status_by_cloid.get(user)
                if by_cloid is None:
                    by_cloid = self._status_by_cloid[user] = {}
                by_cloid[cloid] = oid
        statuses[oid] = (user, status, now_ms) + info
        if self.log is not None:
            self._log("status", oid, status)
        conns = self._subs.get(("orderUpdates", user))
        if conns:
            update = _new_order_update(_new_order_info(*info), status, now_ms)
            for conn in conns:
                frame = conn.frame
                if frame is not None and conn.frame_at == now:
                    frame.append(update)  # the same instant, nothing sent to the socket since: one frame
                    continue
                # a frame of its own, open for the updates the same instant makes until anything else is sent to the
                # socket (the venue sends what a block did to a user's orders as one frame, its data an array): one
                # delivery and one feed-latency draw for a modify's two updates, or a batch's twenty (_send_frame's
                # work, as was, _delivery_at's and _schedule's written out, as in _publish: the entry's time ``at``)
                frame = conn.frame = [update]
                conn.frame_at = now
                at = now + conn.feed.sample(now)
                if at < conn.last_delivery:
                    at = conn.last_delivery
                conn.last_delivery = at
                env = self.env
                heappush(env._queue, (at, NORMAL, next(env._eid),
                                      _new_delivery(self._on_frame_delivery, conn, conn.epoch, frame)))
        if status not in ("canceled", "filled", "open"):
            self._log("venue_cancel", user, oid, status)

    def _fill(self, o: ClientOrder, px: float, sz: float, is_maker: bool, prints: bool = True,
              counter_oid: int | None = None) -> None:
        """Book one fill of a client order on the account, the quota and the feeds. Every fill on the
        venue is a public print (same tid); ``prints`` is False only when the market's own print of the
        trade that filled it is already published. ``counter_oid``: the market's order on the other side (a
        fresh one when not given)."""
        acct = self.accounts[o.user]
        maker_fee, taker_fee = self.fee_rates[o.coin]
        fee = px * sz * (maker_fee if is_maker else taker_fee)
        res = acct.apply_fill(o.coin, o.is_buy, px, sz, fee)
        self.quotas[o.user].on_traded(px * sz)
        o.sz = _round_sz(o.sz - sz, self.instruments[o.coin])
        # the bbo feed's memo goes: the order's size is in the top when it rests there, and a taker's fill is what it
        # consumed of the displayed book (_take: every size it consumes is the taker's fill)
        self.books[o.coin].top = None
        info = self._report_fill(o.user, o.coin, o.is_buy, px, sz, res, o.oid, not is_maker, fee, o.cloid,
                                 counter_oid=counter_oid)
        if prints:
            self._print_client(info, o.is_buy != is_maker, o.user if o.is_buy else None, None if o.is_buy else o.user)
        if is_maker:
            if o.sz <= 1e-12:
                self._remove(o, "filled")
        # (this can cancel or shrink other resting orders of the account: a caller filling several orders from
        # one market event checks each is still resting, and takes at most its size, before filling it; else a
        # second reduce-only order filled whole after the first closed the position, and flipped it. Its walk over
        # every resting order is skipped where none of them is reduce-only: every one rested by _place, which
        # counts them, and none of those reduce-only)
        if self._reduce_only_n or len(self.orders) != self._bound_n:
            self._enforce_reduce_only(acct, o.coin)

    def _report_fill(self, user: str, coin: str, is_buy: bool, px: float, sz: float, res, oid: int, crossed: bool,
                     fee: float, cloid: str | None, liquidation: tuple | None = None,
                     counter_oid: int | None = None) -> FillInfo:
        """A fill booked on the account, as the user sees it: a userFills row (the query) and the pushes
        (userFills, and the user channel's fills). Its tid is the trade's, of ``oid`` and the market's order on
        the other side, ``counter_oid`` (a fresh one when not given); its hash the taker's (``oid`` when
        ``crossed``, else the other side), or, made by a client's action, that action's (``_action_tx``)."""
        other = self._anon_oid() if counter_oid is None else counter_oid
        tid = trade_tid(oid, other) if is_buy else trade_tid(other, oid)
        self.counters["fills"] += 1
        # the venue answers a state query from a committed block, and a fill after it lands in a later block, with
        # a later time: a fill in the very ms of a state already served is stamped the next ms, or a client taking
        # every fill up to the state's time as in its position (its watermark) would count this one in wrongly
        now = self.epoch_ms + int(self.env._now * 1000.0)  # (now_ms inlined: every fill passes here)
        if now <= self._state_ms:
            now = self._state_ms + 1
        self._fill_ms = now
        info = _new_fill_info(coin, px, sz, "B" if is_buy else "A", now, res.start_position, res.direction,
                              res.closed_pnl, oid, tid, crossed, fee, cloid,
                              self._action_tx if self._action_tx is not None else oid if crossed else other,
                              liquidation)
        self.fills[user].append(info)
        if self.log is not None:
            self._log("fill", user, oid, px, sz, not crossed)
        push = None  # made only for a channel with subscribers, once for both
        for key in (("userFills", user), ("userEvents", user)):
            if key in self._subs:
                if push is None:
                    push = _new_fills_push(user, (info,))
                self._publish(key, push)
        return info

    def _print_client(self, fill: FillInfo, buyer_aggressed: bool, buyer: str | None, seller: str | None) -> None:
        """The public print of a trade a client was party to (the other side is the twin's anonymous
        market): on the trades channel with the fill's tid and taker, and the coin's last trade."""
        coin, px, sz = fill.coin, fill.px, fill.sz
        self.last_trade_px[coin] = px
        self._log("trade", coin, px, sz, 1 if buyer_aggressed else -1)
        key = ("trades", coin)
        if key in self._subs or self.recent_trades is not None:  # (kept for a subscription's snapshot: as above)
            push = _new_trade_push(coin, "B" if buyer_aggressed else "A", px, sz, self.now_ms(), fill.tid,
                                   fill.taker_oid, (buyer or ANON_ADDRESS, seller or ANON_ADDRESS))
            self._publish(key, push)
            if self.recent_trades is not None:
                self.recent_trades[coin].append(push)

    def _enforce_reduce_only(self, acct: Account, coin: str) -> None:
        """Resting reduce-only orders shrink with the position and are cancelled when it is flat
        (status reduceOnlyCanceled; no nonUserCancel event, as measured on the venue)."""
        pos = acct.position(coin).szi
        user = acct.address
        # (reduce-only first: after every fill this looks at every resting order, and few are reduce-only; a loop, not
        # a comprehension, which made user and coin cells on every call)
        hits = []
        for o in self.orders.values():
            if o.reduce_only and o.user == user and o.coin == coin:
                hits.append(o)
        for o in hits:
            if pos == 0.0 or (pos > 0) == o.is_buy:
                self._remove(o, "reduceOnlyCanceled")
            elif o.sz > abs(pos):
                o.sz = abs(pos)  # (the bbo feed's memo: dropped by _fill, which this runs in, already)

    # ------------------------------------------------------------------ market

    def _run_market(self, wake, coin: str, market: MarketProcess):
        """Schedule the market's events one by one; only the client-facing work happens per event. Run by
        start_waking: it schedules its own waits."""
        env = self.env
        queue, eid, normal, arm = wake.queue, wake.eid, wake.normal, wake.armed
        book = self.books[coin]
        pending = book.pending  # (the one list of the book's life: emptied in place)
        marks = self.marks
        counters = self.counters
        consumed = self._consumed[coin]
        rows_pair = self._rows_of[coin]
        subs = self._subs
        # (the dicts of the market state, looked up once: every market event writes them)
        rows_now = self._rows_now
        best_bid_of, best_ask_of, last_trade_px = self.best_bid, self.best_ask, self.last_trade_px
        recent = self.recent_trades[coin] if self.recent_trades is not None else None
        epoch_ms = self.epoch_ms
        while True:
            chunk = market.next_chunk()
            if chunk is None:
                loop_ended(env)
                yield  # (for good: nothing wakes it)
                return
            ts, kinds, idxs = chunk.t.tolist(), chunk.kind.tolist(), chunk.idx.tolist()
            bid_px, bid_sz, ask_px, ask_sz = chunk.bid_px, chunk.bid_sz, chunk.ask_px, chunk.ask_sz
            tpx, tsz, tside = chunk.trade_px.tolist(), chunk.trade_sz.tolist(), chunk.trade_side.tolist()
            best_bids = bid_px[:, 0].tolist() if len(bid_px) else []
            best_asks = ask_px[:, 0].tolist() if len(ask_px) else []
            best_bid_szs = bid_sz[:, 0].tolist() if len(bid_sz) else []
            best_ask_szs = ask_sz[:, 0].tolist() if len(ask_sz) else []
            n = len(ts)
            trade_key = ("trades", coin)
            # (each event's time, kind and row taken by the iterator, in C: indexed, the three lists and the count
            # cost some twelve bytecodes an event more; a jump skips the events it applied on the same iterator)
            events = enumerate(zip(ts, kinds, idxs))
            for i, (t, kind, j) in events:
                if t > env._now:
                    # (the orders first: with an agent quoting, one nearly always rests, and the rest is not read)
                    if not book.bids and not book.asks and self.log is None and trade_key not in subs \
                            and recent is None:
                        # nobody can observe the events before the next scheduled event: apply them
                        # as one jump to the last book and trade among them (hftbacktest's elapse)
                        k = bisect_left(ts, env.peek(), i, n)
                        if k > i + 1:
                            self._jump(coin, kinds, idxs, i, k, chunk, best_bids, best_asks, tpx)
                            # (events i + 1 to k - 1 consumed unread: the loop goes on at event k)
                            deque(islice(events, k - i - 1), maxlen=0)
                            continue
                    wake.callbacks = arm  # (the wait start_loop made of ``yield t - env._now``: start_waking)
                    heappush(queue, (env._now + (t - env._now), normal, next(eid), wake))
                    yield
                if kind == BOOK:
                    bb, ba = best_bids[j], best_asks[j]
                    rows_now[coin] = rows = (bid_px[j], bid_sz[j], ask_px[j], ask_sz[j])  # (one store: the four rows)
                    rows_pair[0] = rows_pair[1] = None  # (_level_rows makes them again when asked)
                    book.top = None
                    book.shown = (bb, best_bid_szs[j], ba, best_ask_szs[j])  # (the rows' first: _top reads them)
                    best_bid_of[coin] = bb
                    best_ask_of[coin] = ba
                    if bb == bb and ba == ba:
                        marks[coin] = 0.5 * (bb + ba)
                    if consumed:
                        consumed.clear()
                    counters["book_updates"] += 1
                    if book.bids or book.asks:
                        if ba <= book.max_bid or bb >= book.min_ask:  # (crossed_by_book's own test, seldom true)
                            for o in book.crossed_by_book(bb, ba):
                                if o.oid in self.orders:  # (a fill before it can have cancelled it: _fill)
                                    self._fill(o, o.px, o.sz, is_maker=True)
                        # the update kept for the queues, applied when a print reads them (CoinBook.note_rows
                        # written out: an append, and the cap's test); its rows as numpy rows, made lists only for
                        # the updates an order still owes then (the book push and order entry make them when asked,
                        # _level_rows): the tuple the market state holds
                        pending.append(rows)
                        if len(pending) >= book.max_pending:
                            book.make_room()
                else:
                    px, sz, side = tpx[j], tsz[j], tside[j]
                    counters["trades"] += 1
                    if self.log is not None:
                        self._log("trade", coin, px, sz, side)
                    last_trade_px[coin] = px
                    # the market's aggressor: in its print's tid and any fill it makes (_anon_oid inlined, as below)
                    taker = self._next_anon_oid
                    self._next_anon_oid = taker + 1
                    # (subscribed: the print is published, with an anonymous maker; kept for a subscription's
                    # snapshot whether or not: the venue's has the prints made while a client was away)
                    if trade_key in subs or recent is not None:
                        maker = self._next_anon_oid
                        self._next_anon_oid = maker + 1
                        tid = trade_tid(taker, maker) if side > 0 else trade_tid(maker, taker)
                        # (now_ms inlined: every print passes here)
                        push = _new_trade_push(coin, "B" if side > 0 else "A", px, sz,
                                               epoch_ms + int(env._now * 1000.0), tid, taker)
                        self._publish(trade_key, push)
                        if recent is not None:
                            recent.append(push)
                    if (side > 0 and px >= book.min_ask) or (side < 0 and px <= book.max_bid):
                        for o, take in book.hits_from_trade(side > 0, px, sz):
                            if o.oid in self.orders:  # (as above; or shrunk it: at most what is left)
                                self._fill(o, o.px, min(take, o.sz), is_maker=True, prints=False,
                                           counter_oid=taker)

    def _jump(self, coin: str, kinds: list, idxs: list, i: int, k: int, chunk, best_bids: list, best_asks: list,
              tpx: list) -> None:
        """Apply market events [i, k) at once: only the final book, the last trade and the counts matter."""
        last_book = last_trade = -1
        for m in range(k - 1, i - 1, -1):
            if kinds[m] == BOOK:
                if last_book < 0:
                    last_book = idxs[m]
            elif last_trade < 0:
                last_trade = idxs[m]
            if last_book >= 0 and last_trade >= 0:
                break
        n_books = sum(1 for m in range(i, k) if kinds[m] == BOOK)
        self.counters["book_updates"] += n_books
        self.counters["trades"] += (k - i) - n_books
        if last_trade >= 0:
            self.last_trade_px[coin] = tpx[last_trade]
        if last_book >= 0:
            j = last_book
            bb, ba = best_bids[j], best_asks[j]
            self._rows_now[coin] = (chunk.bid_px[j], chunk.bid_sz[j], chunk.ask_px[j], chunk.ask_sz[j])
            pair = self._rows_of[coin]
            pair[0] = pair[1] = None
            book = self.books[coin]
            book.top = book.shown = None  # (_top takes _touch's way until the next update)
            self.best_bid[coin] = bb
            self.best_ask[coin] = ba
            if bb == bb and ba == ba:
                self.marks[coin] = 0.5 * (bb + ba)
            consumed = self._consumed[coin]
            if consumed:
                consumed.clear()

    def _anon_oid(self) -> int:
        """A fresh oid for one of the anonymous market's orders (only ever seen inside a tid)."""
        oid = self._next_anon_oid
        self._next_anon_oid += 1
        return oid

    def _run_book_feed(self, wake):
        """The l2Book pushes, a loop of start_waking: it schedules its own waits (never negative: draws of
        uniform(0, x) after an interval)."""
        interval = self.params.feed.book_interval_s
        block = self.params.feed.block_s
        uniform = self._feed_rng.uniform
        env = self.env
        queue, eid, normal, arm = wake.queue, wake.eid, wake.normal, wake.armed
        wake.callbacks = arm
        heappush(queue, (env._now + uniform(0.0, interval), normal, next(eid), wake))
        yield
        while True:
            wake.callbacks = arm
            heappush(queue, (env._now + (interval + uniform(0.0, block) if block else interval), normal, next(eid),
                             wake))
            yield
            for coin in self.markets:
                key = ("l2Book", coin)
                if key in self._subs:
                    self._publish(key, self.l2_book(coin))

    def _run_bbo_feed(self, wake):
        """At each block (FeedParams.block_s; every 0.1 s, the synthetic market's grid, when it is 0) the best bid
        and ask of each coin whose bbo has a subscriber, pushed when they differ from the last pushed: the venue
        sends bbo "only when the bbo changes in a block". No draw: blocks come at the venue's own times, and a
        session without a bbo subscriber (the agent's) runs as it did before there was one."""
        block = self.params.feed.block_s or 0.1
        # each coin's last pushed top, None before its first (every coin in it: read by a subscript, not a get)
        last: dict[str, tuple | None] = dict.fromkeys(self.markets)
        subs, top_of = self._subs, self._top  # (looked up once: this runs 10 times a second)
        env, epoch_ms = self.env, self.epoch_ms
        # (the markets are fixed at construction)
        keys = [(coin, ("bbo", coin), self.books[coin]) for coin in self.markets]
        queue, eid, normal, arm = wake.queue, wake.eid, wake.normal, wake.armed
        while True:
            wake.callbacks = arm  # (its wait, scheduled as start_waking says)
            heappush(queue, (env._now + block, normal, next(eid), wake))
            yield
            for coin, key, book in keys:
                # the top is made again only when something it is made of moved since this last made it (CoinBook.top:
                # a block in three comes before the next book update); a memo still set is a top already compared
                # with the last pushed, which only this changes
                if key in subs and book.top is None:
                    top = book.top = top_of(coin, book)
                    if top != last[coin]:
                        last[coin] = top
                        # (now_ms inlined: nearly every block pushes)
                        self._publish(key, _new_bbo_push(coin, epoch_ms + int(env._now * 1000.0), *top))

    def _run_asset_data_feed(self):
        """At each block (as the bbo feed), each activeAssetData subscription's figures, pushed when they differ
        from the last pushed. How often the venue pushes this channel is not documented (README, the twin's known
        gaps); sent on change at block cadence, a client sees every change the twin makes, no later than a block
        after it. Started by the first subscription only, so a session without one runs as before."""
        block = self.params.feed.block_s or 0.1
        last: dict[str, ActiveAssetData] = {}
        while True:
            yield self.env.timeout(block)
            for key in [k for c, k in self._subs if c == "activeAssetData"]:
                user, _, coin = key.partition(" ")
                if coin not in self.instruments:
                    continue
                data = self.active_asset_data(user, coin)
                if data != last.get(key):
                    last[key] = data
                    self._publish(("activeAssetData", key), data)

    def active_asset_data(self, user: str, coin: str) -> ActiveAssetData:
        """The user's leverage on ``coin`` and room to trade it, each side: the margin left on the coin's dex
        (the same figure _place checks a new order against) and the size that margin opens at the mark at the
        user's leverage, plus the position an order against it closes first. The docs' example answer
        (info-endpoint/perpetuals, "activeAssetData") holds maxTradeSzs = availableToTrade × leverage / markPx;
        the venue gives no formula, and what it counts for a side that closes is not documented."""
        user = user.lower()
        inst = self.instruments[coin]
        acct = self.accounts.get(user)
        mark = self.marks.get(coin, self.last_trade_px.get(coin))
        pos = acct.positions.get(coin) if acct is not None else None
        if pos is None:  # (a query makes no position: Account.position's defaults, worked out here)
            lev = min(acct.default_leverage if acct is not None else self.params.venue.default_leverage,
                      inst.max_leverage)
            isolated, szi = inst.only_isolated, 0.0
        else:
            lev, isolated, szi = pos.leverage, pos.isolated, pos.szi
        available = max(0.0, self._available_margin(acct, inst.dex)) if acct is not None else 0.0
        opens = available * lev / mark if mark else 0.0
        buy = opens + (-szi if szi < 0 else 0.0)
        sell = opens + (szi if szi > 0 else 0.0)
        lot = 10.0 ** -inst.sz_decimals
        # rounded down to the lot: a size rounded up would be refused for margin
        buy, sell = (_round_sz(math.floor(x / lot + 1e-9) * lot, inst) for x in (buy, sell))
        raw = pos.margin_usd - szi * pos.entry_px if pos is not None and isolated and szi else None
        return ActiveAssetData(user, coin, isolated, lev, raw, (buy, sell), (available, available), mark)

    def _top(self, coin: str, book: CoinBook) -> tuple:
        """``(self._touch(coin, True), self._touch(coin, False))``, the bbo feed's top of ``coin`` (``book`` its
        CoinBook), at a block: where both sides take _touch's first way (nothing consumed, each first row a level),
        that way written here for the two, the first rows read from ``book.shown`` (the market loop's, at an update:
        none of the rows' lists, nor their tests, needed here) and no call a side (the feed makes a top at nearly every
        block of a stress session); _touch's own for any other.
        tests/twin/test_bbo_memo.py holds it to the two _touch calls after every step of a session."""
        shown = book.shown
        if shown is None or self._consumed[coin]:
            return self._touch(coin, True), self._touch(coin, False)
        bid, bid_sz, ask, ask_sz = shown
        if not (bid == bid and bid_sz > 0 and ask == ask and ask_sz > 0):
            return self._touch(coin, True), self._touch(coin, False)
        bid_n = ask_n = 1
        # the clients' orders at or better than the displayed best, as in _touch (which says why the walk stops);
        # a side walked only when its best client order (CoinBook.max_bid, min_ask: -inf, inf with none) is there,
        # where the walk would stop at its first order (as it nearly always does: a stress session's quotes rest
        # behind the displayed best at most blocks)
        if book.max_bid >= bid:
            for o in book.bids:
                px = o.px
                if not px <= bid:
                    bid, bid_sz, bid_n = px, o.sz, 1
                elif px == bid:
                    bid_sz += o.sz
                    bid_n += 1
                else:
                    break
        if book.min_ask <= ask:
            for o in book.asks:
                px = o.px
                if not px >= ask:
                    ask, ask_sz, ask_n = px, o.sz, 1
                elif px == ask:
                    ask_sz += o.sz
                    ask_n += 1
                else:
                    break
        return (bid, bid_sz, bid_n), (ask, ask_sz, ask_n)

    def _touch(self, coin: str, is_buy: bool) -> tuple[float, float, int] | None:
        """One side's best level as l2_book gives it, (px, sz, n), or None: the displayed levels less what our fills
        consumed, with the client orders there. _l2_side's rule for the top level alone, written out: l2_book's 20
        levels at each block (14 a second) doubled a session's time, and _l2_side over the levels needed still cost
        a bbo session a third more than this (tests/twin/test_book_feed.py holds the two equal at every push)."""
        rows = self._rows_of[coin][is_buy]
        consumed = self._consumed[coin]
        if rows is not None and not consumed and (pxs := rows[2]) and (szs := rows[3]) and (px := pxs[0]) == px \
                and (sz := szs[0]) > 0:
            # the rows made (order entry or a book push asked), nothing consumed, and the first row a level:
            # the top, as the rule below finds it at nearly every call, without its tests on the way there
            best, best_sz, best_n = px, sz, 1
        else:
            best = None
            if rows is None and not consumed:
                # the rows not made yet (nothing asked for them since the book update) and nothing consumed:
                # the first row, read from the numpy rows, is the top when it is a level (the book lists its best
                # first), and the lists of the 20 need not be made for it (a bbo session with no order resting made
                # them at every book update for this alone); when it is not, the rows' rule below
                now = self._rows_now.get(coin) or _NO_ROWS
                pxs, szs = (now[0], now[1]) if is_buy else (now[2], now[3])
                if pxs is None:
                    return None
                if len(pxs):
                    px = float(pxs[0])
                    sz = float(szs[0])
                    if px == px and sz > 0:
                        best, best_sz, best_n = px, sz, 1
            if best is None:
                if rows is None:
                    rows = self._level_rows(coin, is_buy)
                    if rows is None:
                        return None
                # (the nothing-listed start is set only when no level is: for-else, nearly never)
                if consumed:
                    for px, sz in zip(rows[2], rows[3]):  # best first
                        left = sz - consumed.get(px, 0.0)
                        if px == px and left > 0:
                            best, best_sz, best_n = px, left, 1
                            break
                    else:
                        best, best_sz, best_n = math.nan, 0.0, 0
                else:
                    # (the first row, the best, is a level at nearly every call: read without making the zip)
                    pxs, szs = rows[2], rows[3]
                    if pxs and szs and (px := pxs[0]) == px and (sz := szs[0]) > 0:
                        best, best_sz, best_n = px, sz, 1
                    else:
                        for px, sz in zip(pxs, szs):
                            if px == px and sz > 0:
                                best, best_sz, best_n = px, sz, 1
                                break
                        else:
                            best, best_sz, best_n = math.nan, 0.0, 0
        # the clients' orders best first (CoinBook keeps them so): past the first priced worse than the best, so is
        # every one after it (a bbo session walked all of them, at every block, for every resting order). An
        # order's price is never nan: "not px <= best" is "best is nan or px > best" in one compare
        if is_buy:
            for o in self.books[coin].bids:
                px = o.px
                if not px <= best:
                    best, best_sz, best_n = px, o.sz, 1
                elif px == best:
                    best_sz += o.sz
                    best_n += 1
                else:
                    break
        else:
            for o in self.books[coin].asks:
                px = o.px
                if not px >= best:
                    best, best_sz, best_n = px, o.sz, 1
                elif px == best:
                    best_sz += o.sz
                    best_n += 1
                else:
                    break
        return None if best != best else (best, best_sz, best_n)

    def _run_margin_checks(self, wake):
        """Margin cancels (resting orders the account can no longer carry) and liquidations. A loop of start_waking:
        it schedules its own waits (the interval, at least 1 ms: VenueParams)."""
        interval = self.params.venue.margin_check_interval_s
        env = self.env
        queue, eid, normal, arm = wake.queue, wake.eid, wake.normal, wake.armed
        while True:
            wake.callbacks = arm
            heappush(queue, (env._now + interval, normal, next(eid), wake))
            yield
            marks = self.marks
            dex_of_coin = self._dex_of_coin
            for acct in self.accounts.values():
                if not acct.positions:
                    continue
                for dex in sorted(acct.dexes()):  # each dex margins apart: one liquidated leaves the others
                    # an isolated position is liquidated alone, when its own equity falls below its maintenance
                    for coin, p in list(acct.positions.items()):
                        if p.szi and p.isolated and dex_of_coin.get(coin, "") == dex:
                            mark = marks.get(coin, p.entry_px)
                            if p.margin_usd + (mark - p.entry_px) * p.szi < p.maintenance(mark):
                                self._liquidate_isolated(acct, coin)
                    value, used, maintenance, any_cross = acct.cross_margin(marks, dex)
                    if any_cross and value < maintenance:
                        self._liquidate(acct, dex)
                        continue
                    # (the walk only where the account's bound leaves it in doubt, as in _place: _BOUND_SLACK)
                    bound = acct.orders_bound
                    if not (bound < _BOUND_CAP and (used + bound) * _BOUND_SLACK < value
                            and len(self.orders) == self._bound_n) and self._available_margin(acct, dex) < 0.0:
                        for o in [o for o in self.orders.values()
                                  if o.user == acct.address and not o.reduce_only and dex_of_coin[o.coin] == dex]:
                            self._remove(o, "marginCanceled")
                            self.counters["margin_cancels"] += 1

    def _liquidate(self, acct: Account, dex: str) -> None:
        """Close every cross position on ``dex`` at the mark (the isolated ones stand apart). As on the venue, the
        liquidated user sees each close as a fill (userFills, the user channel's fills, the userFills query)
        carrying a ``liquidation`` object, then the user channel's liquidation event."""
        self.counters["liquidations"] += 1
        user = acct.address
        dex_of_coin = self._dex_of_coin
        self.liquidations.append((self.env._now, user))
        for o in [o for o in self.orders.values() if o.user == user and dex_of_coin[o.coin] == dex]:
            self._remove(o, "liquidatedCanceled")
        for coin, pos in acct.positions.items():
            if pos.szi and not pos.isolated and dex_of_coin.get(coin, "") == dex:
                mark = self.marks.get(coin, pos.entry_px)
                sz = abs(pos.szi)
                is_buy = pos.szi < 0
                fee = mark * sz * self.fee_rates[coin][1]
                res = acct.apply_fill(coin, is_buy, mark, sz, fee)
                oid = self._next_oid  # the liquidation's own order, not one of the user's
                self._next_oid += 1
                info = self._report_fill(user, coin, is_buy, mark, sz, res, oid, True, fee, None,
                                         (user, mark, "market"))
                self._print_client(info, is_buy, user if is_buy else None, None if is_buy else user)
        self._publish(("userEvents", acct.address),
                      UserEventPush(acct.address, "liquidation", (acct.address, acct.account_value(self.marks, dex))))

    def _liquidate_isolated(self, acct: Account, coin: str) -> None:
        """Close one isolated position, and cancel its coin's orders; the rest of its dex is untouched. At the
        mark while its equity there covers the taker fee; past that (its loss beyond its own margin) the
        backstop takes it at the bankruptcy price, entry − margin / size, without a fee, so that the user loses
        exactly the position's margin and the cross balance nothing (docs trading/margining: an isolated position's
        liquidation does not touch the other positions; trading/auto-deleveraging: a negative isolated position is
        the other side's to cover. The backstop's exact fill price and fee are the twin's choice, UNCONFIRMED)."""
        self.counters["liquidations"] += 1
        user = acct.address
        self.liquidations.append((self.env._now, user))
        for o in [o for o in self.orders.values() if o.user == user and o.coin == coin]:
            self._remove(o, "liquidatedCanceled")
        pos = acct.positions[coin]
        mark = self.marks.get(coin, pos.entry_px)
        sz = abs(pos.szi)
        is_buy = pos.szi < 0
        fee = mark * sz * self.fee_rates[coin][1]
        px, method = mark, "market"
        if acct.isolated_equity(coin, self.marks) < fee:
            px, fee, method = pos.entry_px - pos.margin_usd / pos.szi, 0.0, "backstop"
        res = acct.apply_fill(coin, is_buy, px, sz, fee)
        oid = self._next_oid
        self._next_oid += 1
        info = self._report_fill(user, coin, is_buy, px, sz, res, oid, True, fee, None, (user, mark, method))
        self._print_client(info, is_buy, user if is_buy else None, None if is_buy else user)
        value = acct.account_value(self.marks, self._dex_of_coin[coin])
        self._publish(("userEvents", user), UserEventPush(user, "liquidation", (user, value)))

    # ------------------------------------------------------------------ funding

    def _run_funding(self, wake):
        """Funding, settled on every whole hour of venue time (twin/funding.py), as on the venue: one short
        wake-up an hour, none per market event. The settlement times are exact venue ms (a whole hour), so no
        float rounding of the simulated clock can settle an hour twice or skip one. A loop of start_waking."""
        due_ms = next_settlement_ms(self.now_ms())
        env = self.env
        queue, eid, normal, arm = wake.queue, wake.eid, wake.normal, wake.armed
        while True:
            # (its wait, scheduled as start_waking says)
            wake.callbacks = arm
            heappush(queue, (env._now + max(0.0, (due_ms - self.epoch_ms) / 1000.0 - env._now), normal, next(eid),
                             wake))
            yield
            self._settle_funding(due_ms)
            due_ms = next_settlement_ms(due_ms)

    def _settle_funding(self, time_ms: int) -> None:
        """Charge every open position size × oracle price × its coin's hourly rate (the twin's oracle is its
        mark, the mid), into its dex's cash (an isolated position's from and into its own margin); each payment
        goes to the user as the venue sends it (the user and userFundings channels) and into the user's funding
        history (userFunding)."""
        marks = self.marks
        rates = self.funding_rates
        for user, acct in self.accounts.items():
            for coin, pos in acct.positions.items():
                px = marks.get(coin)
                if not pos.szi or px is None:
                    continue
                rate = rates[coin]
                usdc = payment_usdc(pos.szi, px, rate)
                acct.apply_funding(coin, usdc)
                info = FundingInfo(coin, usdc, pos.szi, rate, time_ms)
                self.fundings[user].append(info)
                self.counters["fundings"] += 1
                self._log("funding", user, coin, usdc)
                push = FundingPush(user, (info,))
                self._publish(("userEvents", user), push)
                self._publish(("userFundings", user), push)

    def funding_history(self, user: str, start_ms: int, end_ms: int | None = None) -> tuple[FundingInfo, ...]:
        """The user's funding payments with start ≤ time ≤ end, oldest first, at most 500 (the venue's userFunding
        pages; the page size is UNCONFIRMED)."""
        rows = self.fundings.get(user.lower(), [])
        lo = bisect_left(rows, start_ms, key=_funding_time)
        hi = len(rows) if end_ms is None else bisect_right(rows, end_ms, lo, key=_funding_time)
        return tuple(rows[lo:min(hi, lo + FUNDINGS_PER_REPLY)])

    # ------------------------------------------------------------------ websocket

    def connect(self, on_push: Callable[[Push], None]) -> Connection:
        """Open a websocket-like connection with its own disconnect process."""
        rng = np.random.default_rng(self._conn_seq.spawn(1)[0])
        model = ConnectionModel(self.params.connection, rng, self.env.now)  # (its hazard from now: a new socket's)
        for t0, dur in self._chaos_outages:
            model.add_outage(t0, dur)
        conn = Connection(self, on_push, model, self._n_connections)
        self._n_connections += 1
        self.connections[conn.number] = conn
        self.env.process(self._run_connection(conn))
        return conn

    def drop_connections(self, duration_s: float) -> float:
        """Fault hook: a scripted Disconnect at this instant. Every open socket drops now and stays down for
        ``duration_s``, and one opened meanwhile drops at once. A test drops the sockets once its agent is under way
        (quoting, a few books in), where a Disconnect at a fixed time of the schedule came, on a loaded host, before
        the agent's set-up had ended. Call on the server's loop (``BackgroundServer.call``); returns the time of the
        drop (sim s)."""
        now = self.env.now
        self._chaos_outages.append((now, duration_s))
        for conn in list(self.connections.values()):
            conn.model.add_outage(now, duration_s)
            proc = conn.process  # (asleep until the connection's next change, or ended: none was due)
            if proc is not None and proc.is_alive:
                proc.interrupt()
            conn.process = None
            self.env.process(self._run_connection(conn))  # (drops it at once: it is inside the outage now)
        return now

    def close(self, conn: Connection) -> None:
        """The client closed the socket (``twin serve``, when its websocket ends): its subscriptions end, what is on
        its way to it is lost, and its disconnect process stops. Kept, every socket a client ever opened stayed for
        the server's life, each with its outages still drawn and counted as the venue's disconnects."""
        if conn.closed:
            return
        conn.closed = True
        for key in list(conn.subs):
            self._unsubscribe(conn, *key)
        conn.up = False
        conn.epoch += 1  # deliveries still on their way find it gone
        conn.frame = None
        self.connections.pop(conn.number, None)
        proc = conn.process
        conn.process = None
        if proc is not None and proc.is_alive:
            proc.interrupt()

    def _run_connection(self, conn: Connection):
        if conn.closed:  # closed in the instant it was opened, before this first ran
            return
        conn.process = self.env.active_process  # (only a process that has started may be interrupted: close)
        try:
            yield from self._connection_changes(conn)
        except simpy.Interrupt:  # closed by the client (close)
            return

    def _connection_changes(self, conn: Connection):
        env = self.env
        if conn.up and conn.model.is_down(env._now):
            # opened inside an outage (scripted or drawn, already under way), or up as drop_connections began one:
            # it drops at once, whatever the client subscribed to in this instant, and comes back when the outage
            # ends; it used to see only the changes after now, and so stayed up through the outage, delivering as if
            # nothing were wrong
            self._drop(conn)
        while True:
            t_next = conn.model.next_change(env._now)
            if not math.isfinite(t_next):
                return
            yield env.timeout(max(0.0, t_next - env._now))
            down = conn.model.is_down(env._now)
            if down and conn.up:
                self._drop(conn)
            elif not down and not conn.up:
                conn.up = True
                conn.last_delivery = env._now
                self._log("reconnect", conn.number)
                conn.on_push(ConnectionEvent(True, self.now_ms()))

    def _drop(self, conn: Connection) -> None:
        conn.up = False
        conn.epoch += 1
        conn.frame = None  # what it held is lost with the socket; nothing more may join it
        conn.outages += 1
        self.counters["disconnects"] += 1
        for key in list(conn.subs):
            self._unsubscribe(conn, *key)
        self._log("disconnect", conn.number)
        conn.on_push(ConnectionEvent(False, self.now_ms()))

    def _subscribe(self, conn: Connection, channel: str, key: str) -> None:
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; the twin serves {CHANNELS}")
        if channel == "activeAssetData":
            user, _, coin = key.partition(" ")
            key = asset_data_key(user, coin)  # (the coin keeps its case: "hyna:LIT")
        elif channel != "l2Book" and channel != "trades" and channel != "bbo":
            key = key.lower()
        if not conn.up:
            return
        sk = (channel, key)
        if sk in conn.subs:
            return
        conn.subs.add(sk)
        self._subs.setdefault(sk, []).append(conn)
        if channel == "l2Book" and not self._feed_running and self.markets:
            self._feed_running = True
            start_waking(self.env, self._run_book_feed)
        if channel == "bbo" and not self._bbo_running and self.markets:
            self._bbo_running = True
            start_waking(self.env, self._run_bbo_feed)
        if channel == "activeAssetData" and not self._asset_data_running:
            self._asset_data_running = True
            self.env.process(self._run_asset_data_feed())
        # snapshots on subscribe, as the venue sends them
        if channel == "l2Book" and key in self.markets:
            self._send(conn, self.l2_book(key))
        elif channel == "trades" and self.recent_trades is not None:
            # the venue's ack sends a snapshot of previous data for time series (hyperliquid.md §4): prints a client
            # that was subscribed before has seen come again, in one frame (none when there are none yet)
            recent = tuple(self.recent_trades.get(key, ()))
            if recent:
                self._send(conn, TradesSnapshot(key, recent))
        elif channel == "userFills":
            self._send(conn, FillsPush(key, tuple(self.fills.get(key, ())[-FILLS_PER_REPLY:]),
                                          is_snapshot=True))
        elif channel == "activeAssetData":
            user, _, coin = key.partition(" ")
            if coin in self.instruments:
                self._send(conn, self.active_asset_data(user, coin))
        elif channel == "userFundings":
            # an empty history's snapshot has nothing in it to be late with: it goes behind what is on the way
            # without a latency draw, so a subscription (every TwinGateway's) leaves the feed's latency stream,
            # and every later push's timing, as it was
            history = tuple(self.fundings.get(key, ())[-FUNDINGS_PER_REPLY:])
            self._send(conn, FundingPush(key, history, is_snapshot=True), draw=bool(history))

    def _unsubscribe(self, conn: Connection, channel: str, key: str) -> None:
        sk = (channel, key)
        conn.subs.discard(sk)
        lst = self._subs.get(sk)
        if lst and conn in lst:
            lst.remove(conn)
            if not lst:
                del self._subs[sk]

    def _publish(self, key: tuple[str, str], push: Push) -> None:
        conns = self._subs.get(key)
        if conns:
            # (_send, _delivery_at and _schedule inlined: every push of the feeds passes here; the entry's time is
            # ``at`` itself: call_later's now + (at - now) need not be ``at`` while the latency is past the clock,
            # and a push clamped behind the last one could then land an ulp before it, overtaking it on the stream)
            # (the callbacks read where the entry is made: a push nearly always has one socket, where a name for
            # them cost two bytecodes more; the reads cost more only for four sockets or more on one key)
            env = self.env
            now = env._now
            for conn in conns:
                conn.frame = None
                at = now + conn.feed.sample(now)
                if at < conn.last_delivery:
                    at = conn.last_delivery
                conn.last_delivery = at
                heappush(env._queue, (at, NORMAL, next(env._eid),
                                      _new_delivery(self._on_delivery, conn, conn.epoch, push)))

    def _send(self, conn: Connection, push: Push, draw: bool = True) -> None:
        """Deliver after the feed latency, in order (a websocket is one TCP stream); lost if the
        socket drops before delivery. ``draw`` False: no latency drawn, delivered right behind what is on the way."""
        conn.frame = None  # an order update after this one starts a frame of its own, behind it
        self._schedule(self._delivery_at(conn, draw), _new_delivery(self._on_delivery, conn, conn.epoch, push))

    def _schedule(self, at: float, event) -> None:
        """``event`` (a _Delivery, or a Call) at ``at`` (never before now: _delivery_at's), exactly: as ``call_later``
        would put a call, but at the time itself, not now + (at - now), which rounds away from it while at - now is
        past the clock (a push held behind another then landed an ulp before it: seed 10580 of test_deliveries)."""
        heappush(self.env._queue, (at, NORMAL, next(self.env._eid), event))

    def _send_own(self, conn: Connection, send: Callable[[], None]) -> None:
        """Connection.in_order: no latency drawn (the frame is the server's answer, written now), but never before
        a push sent earlier; lost, as a push is, if the socket drops first."""
        conn.frame = None  # an order update after this starts a frame of its own, behind it
        if conn.last_delivery < self.env._now:  # nothing on the way (nor due this instant): out at once
            send()
            return
        epoch = conn.epoch

        def deliver() -> None:
            if conn.epoch == epoch and conn.up:
                send()
        self._schedule(self._delivery_at(conn, draw=False), _new_call(deliver, ()))

    def _frame_delivered(self, d: _Delivery) -> None:
        """An orderUpdates frame's delivery (_remove's, _place's): closed to more updates, and delivered as one push."""
        conn, frame = d.conn, d.push
        if conn.frame is frame:
            conn.frame = None
        # (_delivered written out: the frame's push is made only for a socket that still stands)
        if conn.epoch != d.epoch or not conn.up:
            conn.dropped += 1
            self.counters["pushes_dropped"] += 1
            return
        push = d.push = _new_order_update_push(tuple(frame))
        conn.delivered += 1
        if self.log is not None:
            self._log("push", conn.number, push)
        conn.on_push(push)

    def _delivery_at(self, conn: Connection, draw: bool = True) -> float:
        """When a push to ``conn`` is delivered: after a feed-latency draw, never before the last."""
        now = self.env._now
        at = now + conn.feed.sample(now) if draw else now
        if at < conn.last_delivery:
            at = conn.last_delivery
        conn.last_delivery = at
        return at

    def _delivered(self, d: _Delivery) -> None:
        """A push's delivery (_publish, _send, _frame_delivered): lost, and counted, if its socket dropped since."""
        conn = d.conn
        if conn.epoch != d.epoch or not conn.up:
            conn.dropped += 1
            self.counters["pushes_dropped"] += 1
            return
        conn.delivered += 1
        if self.log is not None:
            self._log("push", conn.number, d.push)
        conn.on_push(d.push)

    # ------------------------------------------------------------------ info

    def info(self, kind: str, **kw):
        """Answer an /info query from the current state (typed; the server renders the venue's JSON)."""
        if kind == "l2Book":
            return self.l2_book(kw["coin"])
        if kind == "openOrders":
            return self.open_orders(kw["user"])
        if kind == "clearinghouseState":
            return self.clearinghouse_state(kw["user"], kw.get("dex", ""))
        if kind == "userFills":
            return self.user_fills(kw["user"])
        if kind == "userFillsByTime":
            return self.user_fills_by_time(kw["user"], kw["startTime"], kw.get("endTime"))
        if kind == "userRateLimit":
            return self.user_rate_limit(kw["user"])
        if kind == "userFunding":
            return self.funding_history(kw["user"], kw["startTime"], kw.get("endTime"))
        if kind == "orderStatus":
            return self.order_status_of(kw["user"], kw["oid"])
        if kind == "meta":
            return self.meta(kw.get("dex", ""))
        if kind == "allMids":
            return dict(self.marks)
        raise ValueError(f"unknown info type {kind!r}")

    def l2_book(self, coin: str) -> BookPush:
        n = self.params.feed.book_levels
        now_ms = self.now_ms()
        if (self._rows_now.get(coin) or _NO_ROWS)[0] is None:  # (no bid row: ``coin not in self.bid_px``)
            return BookPush(coin, now_ms, (), ())
        consumed = self._consumed[coin]
        book = self.books[coin]
        # the rows as lists, made at most once per book update and shared with order entry
        b = self._level_rows(coin, True)
        a = self._level_rows(coin, False)
        bids = _l2_side(b[2], b[3], book.bids, n, consumed, True)
        asks = _l2_side(a[2], a[3], book.asks, n, consumed, False)
        return _new_book_push(coin, now_ms, bids, asks)

    def open_orders(self, user: str) -> tuple[OrderInfo, ...]:
        user = user.lower()
        return tuple(self._order_info(o) for o in self.orders.values() if o.user == user)

    def user_fills(self, user: str) -> tuple[FillInfo, ...]:
        """Newest first, at most 2000 (as the venue)."""
        return tuple(reversed(self.fills.get(user.lower(), [])[-FILLS_PER_REPLY:]))

    def user_fills_by_time(self, user: str, start_ms: int, end_ms: int | None = None) -> tuple[FillInfo, ...]:
        """Fills with start ≤ time ≤ end, oldest first, at most 2000 (as the venue pages them), of the newest 10000
        (those the venue keeps: a client that pages from further back reaches the newest without the ones before)."""
        fills = self.fills.get(user.lower(), [])
        # booked in time order: a binary search, not a scan of the whole history (which grows all day, and
        # an account snapshot asks for this every audit)
        lo = bisect_left(fills, start_ms, max(0, len(fills) - FILLS_KEPT), key=_fill_time)
        hi = len(fills) if end_ms is None else bisect_right(fills, end_ms, lo, key=_fill_time)
        return tuple(fills[lo:min(hi, lo + FILLS_PER_REPLY)])

    def user_rate_limit(self, user: str) -> dict:
        q = self.quotas.get(user.lower())
        if q is None:
            return {"cumVlm": 0.0, "nRequestsUsed": 0, "nRequestsCap": self.params.quota.initial_buffer}
        used, cap, vol = q.status()
        return {"cumVlm": vol, "nRequestsUsed": used, "nRequestsCap": cap}

    def _keep_status_of(self, user: str, oid: int) -> None:
        """A new order for orderStatus: past ORDERS_KEPT the user's oldest are forgotten, as the venue forgets them
        (and a long session's memory stays bounded), except one still resting, which goes to the back of the
        queue and counts among the kept: the last ORDERS_KEPT orders, any older resting one among them."""
        kept = self._status_order.get(user)
        if kept is None:
            kept = self._status_order[user] = deque()
        kept.append(oid)
        if len(kept) <= ORDERS_KEPT:  # (the loop's own first test, without making its range: nearly every order)
            return
        resting = self.orders
        for _ in range(len(kept)):  # (a bound: only when more than ORDERS_KEPT rest is one still left over)
            if len(kept) <= ORDERS_KEPT:
                return
            old = kept.popleft()
            if old in resting:
                kept.append(old)
                continue
            row = self.order_status.pop(old, None)
            if row is not None and row[10] is not None:  # (row[10]: its cloid, in _order_fields' order)
                by_cloid = self._status_by_cloid.get(user)
                if by_cloid is not None and by_cloid.get(row[10]) == old:
                    del by_cloid[row[10]]

    def order_status_of(self, user: str, ref: int | str) -> dict:
        """orderStatus by oid or cloid; ``unknownOid`` when it is not this user's."""
        user = user.lower()
        oid = self._status_by_cloid.get(user, {}).get(ref) if isinstance(ref, str) else ref
        row = self.order_status.get(oid)
        if row is None or row[0] != user:
            return {"status": "unknownOid"}
        return {"status": "order", "order": OrderInfo(*row[3:]), "orderStatus": row[1], "statusTimestamp": row[2]}

    def meta(self, dex: str = "") -> list[InstrumentSpec]:
        return [i for i in self.params.instruments if i.dex == dex]

    def clearinghouse_state(self, user: str, dex: str = "") -> dict:
        """The account on one perp dex, as the venue's clearinghouseState answers with ``dex`` (the first dex by
        default): that dex's positions, value and margin only."""
        acct = self.accounts.get(user.lower())
        if acct is None:
            return {"assetPositions": [], "accountValue": 0.0, "marginUsed": 0.0, "withdrawable": 0.0}
        marks = self.marks
        positions = []
        for coin, p in acct.positions.items():
            if p.szi and self._dex_of_coin.get(coin, "") == dex:
                mark = marks.get(coin, p.entry_px)
                upnl = (mark - p.entry_px) * p.szi
                row = {"coin": coin, "szi": p.szi, "entryPx": p.entry_px, "leverage": p.leverage,
                       "maxLeverage": p.max_leverage,
                       "unrealizedPnl": upnl, "positionValue": abs(p.szi) * mark,
                       "marginUsed": p.margin_usd + upnl if p.isolated else abs(p.szi) * mark / p.leverage,
                       "isolated": p.isolated, "liquidationPx": acct.liquidation_px(coin, marks),
                       "cumFunding": (p.funding_all_time, p.funding_since_open, p.funding_since_change)}
                if p.isolated:
                    # the venue's rawUsd: the position's USDC, its margin less what buying it cost (a long's is
                    # negative), so that rawUsd + size × mark is its equity
                    row["rawUsd"] = p.margin_usd - p.szi * p.entry_px
                positions.append(row)
        value = acct.account_value(marks, dex)
        cross_value, cross_used, cross_maintenance, _ = acct.cross_margin(marks, dex)
        return {"assetPositions": positions, "accountValue": value, "marginUsed": acct.margin_used(marks, dex),
                "crossAccountValue": cross_value, "crossMarginUsed": cross_used, "maintenanceMargin": cross_maintenance,
                "withdrawable": max(0.0, cross_value - cross_used), "time": self._served_state_ms()}


def _block_priority(action: Action) -> int:
    """0 for what the venue executes first in a block, cancels and post-only orders; 1 for the rest. A batch goes
    first only when every order in it is post-only: the docs advise keeping ALO-only batches apart because
    validators prioritise them (hyperliquid.md §3.3), so a batch with a GTC or IOC order in it waits with those."""
    if isinstance(action, (CancelAction, CancelByCloidAction)):
        return 0
    if isinstance(action, OrderAction) and action.orders and all(o.tif == "Alo" for o in action.orders):
        return 0
    return 1


def _shock_of(ev) -> Shock | None:
    if ev.kind == "price_jump":
        return Shock(ev.at_s, "price_jump", ev.fraction)
    if ev.kind == "regime":
        return Shock(ev.at_s, "regime", float(ev.regime), ev.duration_s)
    if ev.kind == "market_param":
        return Shock(ev.at_s, "param", ev.value, name=ev.name)
    return None


def _round_sz(sz: float, inst: InstrumentSpec) -> float:
    return round(sz, inst.sz_decimals)


def _fmt(px: float) -> str:
    """The venue prints prices without a trailing .0 (e.g. ``bbo was 64143@64144``), and in plain decimals, as all
    its numbers (a price under 1e-4 was printed ``5e-05``, Python's repr, which no venue text holds)."""
    if px != px:
        return "0"
    return str(int(px)) if px == int(px) else format(Decimal(repr(px)), "f")


def _order_fields(o: ClientOrder) -> tuple:
    """An order's OrderInfo fields, in OrderInfo's order: the one place that order is written (an order's status
    row keeps them flat behind its own three, for every placement, cancel and fill)."""
    return o.coin, "B" if o.is_buy else "A", o.px, o.sz, o.oid, o.ts_ms, o.orig_sz, o.cloid, o.reduce_only, o.tif


_px_oid = attrgetter("px", "oid")  # resting orders best ask first, oldest first at a price


def _neg_px_oid(o: ClientOrder) -> tuple:  # ... best bid first
    return -o.px, o.oid


_second = itemgetter(1)  # a modify's spec, of its (ref, spec) pair (Exchange._process: the band's check, in C)
_ONES = repeat(1)  # (the level count of a row made in _l2_side's fast path)
_px_key = itemgetter(0)  # a level row's price (a C-level key: the book push sorts its rows twice a push)


def _fill_time(f: FillInfo) -> int:
    return f.time_ms


def _funding_time(f: FundingInfo) -> int:
    return f.time_ms


def _l2_side(pxs: list, szs: list, clients: list, n: int, consumed: dict, desc: bool) -> tuple:
    """One side of an l2Book push, best first: the displayed levels less what our fills consumed, with
    the client orders resting there (part of the venue's book). Twice per book push: plain lists (the level
    rows as _level_rows keeps them, made once per book update).

    The rows are made as the push's tuples at once, and a level a client order rests at made again with it added
    (its displayed size first, then each order in priority order: the same floats); a price's row is found by
    its index in the rows (a dict made in C from the prices, the last row of a price winning, as a dict of the rows
    kept it), where lists made for every level, a dict of them by a comprehension, and a tuple of each list at the
    end cost a book push some 500 bytecodes a side (tests/twin/test_l2_side.py holds it to that way)."""
    px_l = pxs[:n]
    sz_l = szs[:n]
    if not consumed and sz_l and (t := sum(px_l) + sum(sz_l)) == t and min(sz_l) > 0:
        # every row a level (no nan, as a sum with one is nan; every size above 0): the rows as the comprehension
        # below keeps them, made in C (its test, ten bytecodes a row, was 3% of a stress session's outside the core)
        rows = list(zip(px_l, sz_l, _ONES))
    elif consumed:
        # (a loop: a comprehension reading consumed made it a cell on every call, the fast path's too)
        rows = []
        for px, sz in zip(px_l, sz_l):
            if px == px:
                left = sz - consumed.get(px, 0.0)
                if left > 0:
                    rows.append((px, left, 1))
    else:
        rows = [(px, sz, 1) for px, sz in zip(px_l, sz_l) if px == px and sz > 0]
    if clients:
        # (every level kept: its prices are the rows' own, in their order, as they nearly always are)
        index = dict(zip(px_l if len(rows) == len(px_l) else [r[0] for r in rows], range(len(rows))))
        for o in clients:
            px = o.px
            k = index.get(px)
            if k is None:
                index[px] = len(rows)
                rows.append((px, 0.0 + o.sz, 1))
            else:
                # (the order's price for the row's own: the key it was found by, the same float, read without the
                # row's subscript)
                r = rows[k]
                rows[k] = (px, r[1] + o.sz, r[2] + 1)
    rows.sort(key=_px_key, reverse=desc)  # nearly sorted already: cheap
    return tuple(rows[:n])
