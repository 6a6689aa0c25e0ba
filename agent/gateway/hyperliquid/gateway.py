"""``HyperliquidGateway``: the Gateway over the venue's REST (/info, /exchange) and websocket (/ws), on aiohttp.

It emits the same events as the in-process ``TwinGateway`` for the same venue behaviour: a request
lost in transport produces no event (the core's timeouts and a snapshot resolve it), a dropped or
silent socket is ``ConnectionLost``, and a reconnect (backoff with jitter) resubscribes and emits
``ConnectionRestored``, after which the core asks for an account snapshot before quoting again; the
gateway itself recovers the fills made while the socket was down (the snapshot frame sent on
resubscribe, then userFillsByTime from the newest fill known) and delivers each fill once (each print too: the
resubscribed trades channel sends the last ones again), and likewise the
hourly funding payments settled meanwhile (userFunding from the newest payment known). The backoff resets only
once a socket has stayed up ``backoff_max_s``: a venue that accepts and at once closes is not hammered. A book
stream gone quiet with the socket up is resubscribed, then the socket dropped (``book_stall_s``).
Every signed action carries ``expiresAfter`` = now + ttl. The signing key stays inside ``Wallet``.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import re
import time
from functools import partial
from typing import Any, Awaitable, Callable

import aiohttp
import numpy as np

from agent.execution.weights import (
    EXPIRED_COST, INFO_WEIGHT, LISTED_CANCELS, info_weight, items_weight, pages_weight, snapshot_weight,
)
from agent.gateway.base import (
    CLOCK_AHEAD_CAP_TTLS, CommandRouter, EventSink, KnownCancels, QuotaPollBackoff, RecentOrders, action_ttl,
    cancel_actions, in_actions, listed_oid, order_name, schedule_cancel_late_ts, schedule_cancel_name,
)
from agent.gateway.fills import FillDelivery, TimedFill
from agent.gateway.fundings import FundingDelivery
from agent.gateway.events import (
    FOR_CANCEL_ALL, FOR_SNAPSHOT, AccountChangedByVenue, AccountSnapshot, BookUpdated, CancelAcknowledged, CancelOrder,
    CancelRejected, ConnectionLost, ConnectionRestored, Event, IpWeightSpent, ModifyAcknowledged, ModifyOrder,
    ModifyRejected, OrderAcknowledged, OrderClosedByVenue, OrderRejected, PlaceOrder, RateLimited, Reason,
    ScheduleCancelAcknowledged, ScheduleCancelCleared, ScheduleCancelRefused, ScheduleCancelUnanswered, Side,
    TradeObserved,
)
from agent.gateway.hyperliquid import wire
from agent.gateway.hyperliquid.nonces import NonceManager, shared_nonce_path
from agent.gateway.hyperliquid.parse import (
    AccountState, ActionReply, AssetInfo, Filled, ItemError, MalformedMessage, Resting, VenueParser, asset_info,
    maker_fee_rate, role_and_master,
)
from agent.gateway.hyperliquid.signing import Wallet, as_wallet, sign_l1_action
from agent.gateway.reasons import classify
from agent.preflight import clock_skew, window_skew
from agent.run_lock import venue_key

log = logging.getLogger(__name__)

MAINNET_URL = "https://api.hyperliquid.xyz"
TESTNET_URL = "https://api.hyperliquid-testnet.xyz"

_HEX_CLOID = re.compile(r"^0x[0-9a-fA-F]{32}$")
# userFillsByTime "returns at most 2000 fills per response and only the 10000 most recent fills are available"
# (docs info-endpoint, "Retrieve a user's fills by time"), but the docs' general rule for time-range replies is "at
# most 500 elements" (hyperliquid.md): a reply of 500 rows or more may have been cut, so another is asked from its
# newest time. Either cap stops at a page under 500; against a 2000-row cap a page of 500-1999 costs one more
# request, which repeats only that page's last ms. Pages enough for the 10000 fills kept at 500 a reply.
_PLACING_TASKS = frozenset({"hl-order", "hl-modify"})  # (their _spawn names: the requests that may rest an order)
_FILL_PAGE = 500
_FILL_PAGES = 20
_RECOVERY_ATTEMPTS = 8
_FUNDING_PAGE = 500  # rows in a userFunding reply at most (the docs' cap on time-range replies)
_FUNDING_PAGES = 40  # a recovery reads at most this many full pages (20,000 payments: weeks of a dozen coins)

# what a request came back as, when it is not a parsed JSON answer
_IP_LIMITED = "ip_limited"  # HTTP 429 (body null)
_TRANSPORT = "transport"  # no HTTP answer: reset, timeout, refused
_BAD = "bad"  # a 200 answer without the venue's shape (JSON that does not parse or has another shape)
# (an HTTP status other than 200 and 429 comes back as that status, an int)


class GatewayError(RuntimeError):
    """The gateway cannot start: the venue does not list the coin, or cannot be reached."""


class CoinNotListed(GatewayError):
    """The venue does not list the coin (or its HIP-3 dex): the operator's argument is wrong, not the venue, so
    the live CLI exits 2 for it, not the 1 of a venue it could not use."""


def ws_url_of(base_url: str) -> str:
    """The venue's websocket URL: ``http(s)://host`` → ``ws(s)://host/ws`` (as the official SDK derives it)."""
    base = base_url.rstrip("/")
    if not base.startswith("http"):
        raise ValueError(f"base URL {base_url!r} must start with http:// or https://")
    return "ws" + base[len("http"):] + "/ws"


class HyperliquidGateway(CommandRouter):
    """Gateway to a Hyperliquid venue (or ``twin serve``) for one account and one coin.

    ``clock`` returns the venue-time seconds (epoch) that stamp events, nonces and ``expiresAfter``;
    all waits (ping, silence, backoff, polling) are wall seconds on the event loop. ``wallet`` may be
    the account's key or an approved agent's: queries use ``account_address`` (the account), actions
    are signed by the wallet, with one ``NonceManager`` per signer (pass one in to share it; else its nonces start
    above ``last_nonce``, the highest the signer is known to have used). ``clock_rate``: ``clock``'s seconds a wall
    second (1 live; a test's venue run faster), for telling a step of ``clock`` from time passing (``_expires_ms``).
    """

    def __init__(self, base_url: str, wallet: Wallet | str, coin: str, *, account_address: str | None = None,
                 clock: Callable[[], float] = time.time, rng: np.random.Generator | None = None,
                 quota_poll_s: float = 10.0, action_ttl_s: float = 5.0, ping_s: float = 50.0,
                 silence_s: float = 60.0, backoff_base_s: float = 0.5, backoff_max_s: float = 30.0,
                 request_timeout_s: float = 10.0, nonces: NonceManager | None = None, last_nonce: int = 0,
                 is_mainnet: bool | None = None, book_fast: bool = True, bbo: bool = False,
                 book_stall_s: float | None = None, clock_rate: float = 1.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.bbo = bbo  # also the bbo channel: the touch at each block where it changed (session.bbo_feed)
        # the l2Book subscription's "fast": 5 levels a side at most every 0.5 s; without it 20 levels, which the venue
        # reportedly pushes at most every 5 s since July 2026 (longer than risk.stale_book_s: quotes pulled between)
        self.book_fast = book_fast
        # no new l2Book for this long (wall s) with the socket up → resubscribe it; as long again → drop the socket.
        # A stream can stall with no disconnect (hyperliquid.md §7, nautilus_trader #4298), and the safety's
        # stale_kill_s (60 s) flattens on it. Default: 3 pushes of the feed's cadence (fast 0.5 s, standard
        # reportedly up to 5 s), at least 10 s: both steps are done well inside stale_kill_s
        self.book_stall_s = max(10.0, 3.0 * (0.5 if book_fast else 5.0)) if book_stall_s is None else book_stall_s
        if not self.book_stall_s > 0:
            raise ValueError(f"book_stall_s must be a positive number of seconds, got {book_stall_s!r}")
        self.ws_url = ws_url_of(self.base_url)
        self._wallet = as_wallet(wallet)
        self.user = (account_address or self._wallet.address).lower()
        self.coin = coin
        self.dex = coin.split(":", 1)[0] if ":" in coin else ""
        # signing source "a" only for the mainnet URL itself: any other base (testnet, twin) signs "b"
        self.is_mainnet = self.base_url == MAINNET_URL if is_mainnet is None else is_mainnet
        self.clock = clock
        self.rng = rng if rng is not None else np.random.default_rng()
        self.quota_poll_s = quota_poll_s
        self._quota_polls = QuotaPollBackoff(quota_poll_s)
        self.action_ttl_s = action_ttl(action_ttl_s)  # (None, no expiresAfter, refused: base.action_ttl says why)
        # how far this host's clock may be ahead of the venue's, as the last account snapshot measured it, s; and
        # whether it was past half the ttl then, warned of, and past the cap on the lead (_check_clock)
        self.clock_ahead_s = 0.0
        # the venue's clock less this host's at the session's start, at its measure's window's near end (the answer's
        # arrival: never more than it was), within the lead's cap either way: the last measure before start() (the
        # start's check, account_state), or else the first after it, kept then; None before one (_venue_start_ms)
        self._venue_less_host_s: float | None = None
        self._clock_warned = False
        self._clock_capped = False
        # the least this host's clock can be behind the venue's (negative: the most it can be ahead), s; what of it
        # is behind (clock_behind_s) is added to each action's expiresAfter (_expires_ms). The last snapshot's window's
        # near end (the venue's time less the answer's), plus each step back seen since between two actions' stamps,
        # less each step forward: a clock ahead steps back into step through it, which adds nothing
        self._behind_least_s = 0.0
        # the most this host's clock can be behind the venue's (negative: the least it is ahead), s: the dead-man's
        # switch's time is the core's plus this, so it never fires before the core's time. The last snapshot's
        # window's far end (the venue's time less the request's send), plus each step since (_expires_ms)
        self._behind_most_s = 0.0
        self._stamped = -math.inf  # (the host's clock at the last action's stamp, or at the last snapshot measured)
        self._stamped_wall = 0.0  # (the monotonic clock then: a step forward is the host's clock running on past it)
        self.clock_rate = clock_rate
        self.ping_s = ping_s
        self.silence_s = silence_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.request_timeout_s = request_timeout_s
        self.setup_retry_s = (0.5, 1.0, 2.0, 4.0)  # the set-up queries' waits before asking again (_info_once)
        # above ``last_nonce``, the highest an earlier run signed with (its state file's): the venue refuses reuse;
        # shared with the host's other processes signing for this venue with this key (nonces.py says why)
        self._own_nonces = nonces is None
        self.nonces = nonces or NonceManager(lambda: int(self.clock() * 1000), last_nonce,
                                             shared=shared_nonce_path(venue_key(self.base_url), self._wallet.address))
        self.parser = VenueParser(coin, self.user)
        self.asset: AssetInfo | None = None
        self.sink: EventSink | None = None
        # the set-up requests sent before ``start`` (the core not yet running to be told): told as it starts
        self._setup_spent: list[IpWeightSpent] = []
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._background: set[asyncio.Task] = set()  # the socket and the quota poll
        self._requests: set[asyncio.Task] = set()  # REST work started by commands
        self._closing = False
        self._connected = False
        self._frame_ts = -math.inf  # when the socket's last frame arrived (BookUpdated.after_frame_s)
        self._silent_since: float | None = None  # a socket found silent: its last frame's time (ConnectionLost)
        self._book_ms: int | None = None  # the venue time of the socket's last l2Book frame: a new one is progress
        self._recovery: asyncio.Task | None = None  # the fill and funding recovery running, if one is
        self._recover_again = False  # a reconnect came while it ran: it runs once more when done
        self._lost_reported = False
        self._lost_at = 0.0  # when the current outage began (monotonic), for the reconnect's log line
        self._refused_ts: float | None = None  # ConnectionRestored.refused_ts of the current outage
        self._watermarks: list[tuple[int, int]] = []  # (state time ms, newest fill's id in it), recent ones
        self._setting: tuple[float, bool] | None = None  # the user's leverage on the coin, and isolated (_margin_of)
        # after a reconnect: (when, the newest fill known then: its time ms and id) for the first account snapshot
        # asked since to find in the venue's listing (_history_kept); None: no check due
        self._history_due: tuple[float, int, int] | None = None
        # why the run must stop: the venue no longer lists fills it gave this run (a new venue behind the URL, as a
        # restarted twin serve is); the LiveDriver stops the run on it as a fault. None: no such thing seen
        self.venue_reset: str | None = None
        self.history_recheck_s = 2.0  # (wall s) a fill not listed is looked for once more this long after
        self._fills_since_ms = 0
        self.fills = FillDelivery()  # which fills the agent has been given (each once, history never)
        self.fundings = FundingDelivery()  # and which funding payments
        self._started_ms = 0
        self._sides = RecentOrders()  # a modify may not say its side
        # oid -> cloid of our orders, from the venue's acks and listings: a fill (or a venue's cancel) that comes
        # without its cloid, as the venue's WsFill type has none, is then still the tracker's order's
        self._cloid_of = RecentOrders()
        # the (time, tid) keys of the newest prints given: a trades subscription's ack sends the last prints again
        # (hyperliquid.md §4), with no isSnapshot to tell them by; given twice they counted twice in the trade-flow
        # signal, the arrival estimator and the paper fill model
        self._prints = RecentOrders()
        self.counters = {"requests": 0, "request_items": 0, "rate_limited_ip": 0, "rate_limited_address": 0,
                         "transport_failures": 0, "disconnects": 0, "reconnects": 0, "malformed": 0,
                         "silent_streams": 0, "pings": 0, "venue_ws_errors": 0, "not_sent": 0,
                         "liquidations": 0, "fundings": 0, "ws_failures": 0,
                         "quota_poll_failures": 0,
                         # sockets that closed before backoff_max_s up (the backoff kept growing); reconnect
                         # recoveries run, and those folded into one already running
                         "short_lived_sockets": 0, "recoveries": 0, "recoveries_coalesced": 0,
                         # l2Book streams gone quiet with the socket up: resubscribed, and sockets dropped for it
                         "book_resubscribes": 0, "stale_book_drops": 0,
                         # dead-man's switch commands never sent: a newer one came while they waited (superseded)
                         "schedule_cancels_superseded": 0,
                         # prints the trades channel sent again (its snapshot on a resubscribe), not given again
                         "trades_repeated": 0,
                         # reconnects after which the venue no longer listed the fills it gave this run (a new venue)
                         "venue_history_lost": 0,
                         # set-ups whose activeAssetData was refused or unreadable (_read_setting)
                         "leverage_setting_unread": 0}

    def __repr__(self) -> str:
        return (f"HyperliquidGateway({self.base_url}, coin={self.coin}, user={self.user}, "
                f"signer={self._wallet.address.lower()})")

    __str__ = __repr__

    @property
    def signer(self) -> str:
        """The address that signs actions (the account, or its agent wallet)."""
        return self._wallet.address.lower()

    @property
    def stats(self) -> dict:
        out = dict(self.counters)
        out.update(self.fills.counters)
        out.update(self.fundings.counters)
        out["malformed"] += self.parser.malformed
        return out

    @property
    def connected(self) -> bool:
        return self._connected

    def _now(self) -> float:
        return self.clock()

    # ------------------------------------------------------------------ lifecycle

    async def prepare(self) -> AssetInfo:
        """Look up the coin's asset id and size decimals (meta, and perpDexs for a HIP-3 ``dex:COIN``), then the
        user's leverage setting on it (``_read_setting``)."""
        self._ensure_session()
        meta = await self._info_once({"type": "meta", "dex": self.dex})
        dexs = await self._info_once({"type": "perpDexs"}) if self.dex else None
        try:
            self.asset = asset_info(meta, dexs, self.coin)
        except KeyError as e:
            raise CoinNotListed(f"{self.base_url}: {e.args[0]}") from None
        except MalformedMessage as e:
            raise GatewayError(f"{self.base_url}: meta has an unexpected shape ({e})") from None
        await self._read_setting()
        return self.asset

    async def _read_setting(self) -> None:
        """The user's leverage and margin type on the coin (activeAssetData, 20 of the IP weight), which a flat
        snapshot tells the core (``_margin_of``) so that a position opened from flat has its liquidation price from
        its first fill. clearinghouseState lists the setting only in a position row: unasked, a run started flat
        had no price for such a position until a snapshot listed its row (up to risk.audit_interval_s). Refused or
        unreadable: counted (``leverage_setting_unread``) and logged, and the run goes on with the rule as before
        (a position opened from flat priced once a snapshot shows its row, whose setting is kept from then)."""
        try:
            body = await self._info_once({"type": "activeAssetData", "user": self.user, "coin": self.coin})
        except GatewayError as e:
            setting, why = None, str(e)
        else:
            setting, why = self.parser.leverage_setting(body), "an answer of another shape"
        if setting is None:
            self.counters["leverage_setting_unread"] += 1
            log.warning("the user's leverage setting on %s is not known (activeAssetData: %s): a position opened "
                        "from flat has no liquidation price until a snapshot lists it", self.coin, why)
            return
        self._setting = setting

    async def query_info(self, body: dict) -> Any:
        """One /info request's JSON (raises GatewayError when there is no 200 answer): for set-up, not the hot path."""
        return await self._info_once(body)

    async def signer_refused(self) -> str | None:
        """The venue's refusal of this key for the account, or None when it signs for it: one ``noop`` (it only
        burns its nonce; one request). A key that is neither the account's nor an agent it approved (a key pasted
        one digit short signs as another address) passed every other check, and then every order and cancel was
        refused, the orders an earlier run left among them. Raises GatewayError with no answer."""
        self._setup_spend(1, "noop", items=1)  # (an action: 1 + 0 // 40 of the IP weight, 1 of the address budget)
        reply = await self._action(wire.noop_action(), 1)
        if isinstance(reply, ActionReply):
            return None if reply.ok else reply.error
        raise GatewayError(f"{self.base_url}/exchange noop: no answer the venue gives ({reply})")

    async def user_role(self, address: str) -> tuple[str, str | None]:
        """The venue's role of ``address`` (``userRole``: 'user', 'agent', 'subAccount', 'vault' or 'missing') and
        the account it acts for (an agent wallet's, a sub-account's master; lower case) or None. It weighs 60 of the
        IP budget (20 for most queries): asked only before a run (``preflight``), of a key that signs for another
        account (and of that account, to word a refusal) or whose own address holds nothing. Raises GatewayError
        with no 200 answer or an answer of another shape."""
        body = await self._info_once({"type": "userRole", "user": address})
        try:
            return role_and_master(body)
        except MalformedMessage as e:
            raise GatewayError(f"{self.base_url}/info userRole: unexpected answer ({e})") from None

    async def maker_fee_rate(self) -> float:
        """The account's maker fee rate as the venue lists it (``userFees``: ``userAddRate``, a fraction of
        notional; negative a rebate). Raises GatewayError with no 200 answer or an answer without the rate."""
        body = await self._info_once({"type": "userFees", "user": self.user})
        try:
            return maker_fee_rate(body)
        except MalformedMessage as e:
            raise GatewayError(f"{self.base_url}/info userFees: unexpected answer ({e})") from None

    async def account_state(self, dex: str | None = None) -> AccountState:
        """The account's position in the coin (0 when none is listed) and its value (clearinghouseState of the
        coin's dex, or of ``dex``), for the checks before a run starts. Raises GatewayError with no 200 answer or an
        answer of another shape.

        Its time measures this host's clock against the venue's as an account snapshot's does (``_check_clock``, its
        warnings left to the start's check, which reads the same answer): until the first snapshot the measures were
        0, and a Kill before it (its snapshot requests refused or lost) armed the dead-man's switch on this host's
        clock, behind by 2 s set 2 s before the core's time, behind by 8 s with a 20 s ttl refused as too early."""
        asked = self._now()
        body = await self._info_once({"type": "clearinghouseState", "user": self.user,
                                      "dex": self.dex if dex is None else dex})
        state = self.parser.account_state(body)
        if state is None:
            raise GatewayError(f"{self.base_url}/info clearinghouseState: unexpected answer")
        self._check_clock(asked, self._now(), state.time_ms, warn=False)
        return state

    async def mid_px(self) -> float:
        """The coin's mid from an l2Book query (raises GatewayError when the book has no two sides)."""
        book = self.parser.book(await self._info_once({"type": "l2Book", "coin": self.coin}), self._now())
        if book is None or not book.bids or not book.asks:
            raise GatewayError(f"{self.base_url}: the {self.coin} book has no bid and ask to quote around")
        return 0.5 * (book.bids[0][0] + book.asks[0][0])

    async def _info_once(self, body: dict) -> Any:
        """A set-up query's answer (raises GatewayError when there is none). No answer or a 429 is tried again
        after each of ``setup_retry_s``: one request lost in a second's outage, with the venue back a moment
        later, ended a run at its start with exit 1 ("the venue could not be used"); nothing is sent meanwhile."""
        for wait_s in (*self.setup_retry_s, None):
            self._setup_spend(info_weight(body["type"]), body["type"])  # (each try: weighed whatever its answer)
            status, payload = await self._post("/info", body)
            if status not in (_TRANSPORT, _IP_LIMITED) or wait_s is None:
                break
            log.info("/info %s: %s, asking again in %g s", body["type"],
                     "no answer" if status == _TRANSPORT else "HTTP 429", wait_s)
            await asyncio.sleep(wait_s)
        if status != 200:
            detail = {_TRANSPORT: f"no answer ({payload})", _IP_LIMITED: "HTTP 429",
                      _BAD: "HTTP 200 with a body that is not JSON"}.get(status, f"HTTP {status}")
            raise GatewayError(f"{self.base_url}/info {body['type']}: {detail}")
        return payload

    def _setup_spend(self, weight: int, request: str, items: int = 0) -> None:
        """A set-up request's IP weight (and address items), at the time it is sent. The venue's limit is the IP's
        rolling minute, and a live run's set-up spends in it before the core runs (meta 20, activeAssetData 20, the
        mid's l2Book 2, clearinghouseState 2, userFees 20; a userRole 60 and a noop for an agent wallet's key):
        untold, the core began on a minute it believed empty, and could spend up to the whole limit in it, into 429s.
        Kept until ``start`` gives them to the core as its first events (``IpWeightSpent``: journalled, so a replay
        counts them too); told at once when asked after it."""
        ev = IpWeightSpent(self._now(), weight, request, items)
        if self.sink is None:
            self._setup_spent.append(ev)
        else:
            self._emit(ev)

    def _ensure_session(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.request_timeout_s))

    def start(self, sink: EventSink) -> None:
        """Begin delivering events; call on the running loop after ``prepare``."""
        if self.asset is None:
            raise GatewayError("call `await gateway.prepare()` before start(): the asset id is not known yet")
        self.sink = sink
        self._closing = False
        spent, self._setup_spent = self._setup_spent, []
        for ev in spent:  # before anything the venue says: the core's minute starts with the set-up's weight in it
            self._emit(ev)
        self._started_ms = self.fundings.start_ms = int(self._now() * 1000)
        # the first snapshot's fill query starts a minute before the session, not at 0: its reply is the 2000 oldest
        # rows from there, and an account's history would fill it, leaving out the session's fills in its position
        self._fills_since_ms = max(self._fills_since_ms, self._started_ms - 60_000)
        self._ensure_session()
        self._spawn_background(self._run_socket(), "hl-ws")
        if self.quota_poll_s > 0:
            self._spawn_background(self._poll_quota(), "hl-quota")

    async def drain(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s`` wall seconds) until no request is in flight; True if none is."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self._requests:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return False
            await asyncio.wait(set(self._requests), timeout=left)
        return True

    @property
    def in_flight(self) -> int:
        return len(self._requests)

    @property
    def placing_in_flight(self) -> int:
        """Requests in flight that may yet leave an order of ours resting (places, modifies): a cancel, an account
        snapshot or a dead-man's request cannot add one."""
        return sum(t.get_name() in _PLACING_TASKS for t in self._requests)

    async def close(self) -> None:
        """Stop the socket and the poll, abandon requests still in flight, close the HTTP session."""
        self._closing = True
        tasks = list(self._background) + list(self._requests)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._connected = False
        if self._own_nonces:
            self.nonces.close()

    def _spawn_background(self, coro: Awaitable, name: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _spawn(self, coro: Awaitable, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._requests.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._requests.discard(task)
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("gateway task %s failed", task.get_name(), exc_info=task.exception())

    def _emit(self, ev: Event) -> None:
        if self.sink is not None and not self._closing:
            self.sink(ev)

    def _emit_soon(self, ev: Event) -> None:
        """For events made inside ``send``: never call the sink re-entrantly from a command."""
        asyncio.get_running_loop().call_soon(self._emit, ev)

    # ------------------------------------------------------------------ HTTP

    async def _post(self, path: str, body: dict) -> tuple[int | str, Any]:
        """(200, parsed JSON); (the HTTP status, text) for any other status but 429; or (_IP_LIMITED | _TRANSPORT |
        _BAD, text)."""
        self._ensure_session()
        data = json.dumps(body, separators=(",", ":"))
        try:
            async with self._session.post(self.base_url + path, data=data,
                                          headers={"Content-Type": "application/json"}) as resp:
                status = resp.status
                try:
                    text = await resp.text()
                except (UnicodeDecodeError, LookupError):  # not in the charset it names, or a charset unknown here
                    text = None  # (escaped, it went uncounted and ended the task that asked: a fill recovery, an order)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            self.counters["transport_failures"] += 1  # outcome unknown: no event (the core's timeouts resolve it)
            log.info("%s %s: transport failure (%s)", path, body.get("type") or body["action"]["type"],
                     type(e).__name__)
            # what went wrong, for a set-up query's error (_info_once): "no answer" alone named no cause, a host
            # without a network (its name unresolved) said as a venue down
            why = f"none in {self.request_timeout_s:g} s" if isinstance(e, asyncio.TimeoutError) else str(e)
            return _TRANSPORT, why or type(e).__name__
        if status == 429:
            return _IP_LIMITED, text
        if text is None:
            if status == 200:
                self.counters["malformed"] += 1
                log.warning("%s answered 200 with a body that is not text in its charset", path)
                return _BAD, None
            text = "(a body that is not text in its charset)"
        if status != 200:
            self.counters["malformed"] += 1
            log.warning("%s answered HTTP %d: %.200s", path, status, text)
            return status, text
        try:
            return 200, json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the decoder recurses
            self.counters["malformed"] += 1
            log.warning("%s answered 200 with a body that is not JSON: %.200s", path, text)
            return _BAD, text

    async def _info(self, body: dict, what: str, for_command: str = "") -> Any | None:
        """An /info answer, or None after a 429 (RateLimited "ip", naming ``for_command``, the command the request
        was made for), a transport failure or a bad answer."""
        status, payload = await self._post("/info", body)
        if status == 200:
            return payload
        if status == _IP_LIMITED:
            self._ip_limited(what, (), for_command=for_command)
        return None

    def _ip_limited(self, what: str, cloids: tuple[str, ...], new_cloids: tuple[str, ...] = (),
                    for_command: str = "") -> None:
        self.counters["rate_limited_ip"] += 1
        self._emit(RateLimited(self._now(), "ip", what, "HTTP 429", cloids, new_cloids, for_command=for_command))

    async def _action(self, action: dict | Callable[[], dict], n_items: int) -> ActionReply | str | int:
        """Sign and post one L1 action; the parsed reply, or _IP_LIMITED / _TRANSPORT / _BAD / an HTTP status.
        ``action`` may be made once the stamp is (a function): one naming a venue time reads the clock's measures as
        this action's stamp left them (``_expires_ms``)."""
        self.counters["requests"] += 1
        self.counters["request_items"] += n_items
        nonce = self.nonces.next()
        expires = self._expires_ms()
        if callable(action):
            action = action()
        signature = sign_l1_action(self._wallet, action, None, nonce, expires, self.is_mainnet)
        body = {"action": action, "nonce": nonce, "signature": signature, "vaultAddress": None,
                "expiresAfter": expires}
        status, payload = await self._post("/exchange", body)
        if status != 200:
            return status
        reply = self.parser.action_reply(payload)
        return reply if reply is not None else _BAD

    @property
    def clock_behind_s(self) -> float:
        """How far this host's clock is known to be behind the venue's, s (the least it can be): added to each action's
        expiresAfter (``_expires_ms``)."""
        return max(0.0, self._behind_least_s)

    def _expires_ms(self) -> int:
        """An action's expiresAfter, sent now: the venue's time now plus the ttl, the venue's time being this host's
        clock plus how far it is known to be behind (``clock_behind_s``). On the host's clock alone, a step back of
        more than the ttl (NTP stepping a clock that ran fast, a VM resumed) had every action refused as expired,
        the stop's cancels too (its clock fault stops the run): orders left resting, 5 requests of the address
        budget each refusal. A step back is seen at once between two actions' stamps (the first action after it
        carries it, less the time between them: a little less life at the venue, never more), a step forward (the
        host's clock running on past the monotonic clock) taken off alike, and measured at each account snapshot,
        which replaces the estimate (a clock stepped forward again: none behind). All on the least the clock can be
        behind (``_behind_least_s``), signed: a clock ahead (measured so, or stepped forward past agreement) that
        steps back into step adds nothing; kept at zero, the step into step was added whole, and the lead's nearest
        end (``window_skew``) left the rest of the window added. Never past the venue's time plus the ttl as
        measured: an action lives no longer at the venue than the core counts it in flight."""
        now, wall = self._now(), time.monotonic()
        # the step back since the last stamp, whole (the time between them is the monotonic clock's): the switch's
        # bound takes it so (its time made from clock_behind_s's, which has it less that time, fired early by it)
        moved = (wall - self._stamped_wall) * self.clock_rate - (now - self._stamped) if self._stamped > -math.inf \
            else 0.0
        behind = self.clock_behind_s
        if now < self._stamped:  # the host's clock stepped back since the last action
            self._behind_least_s += self._stamped - now
        elif moved < 0.0:
            # stepped forward since (a step back undone, NTP's next correction): that much less behind. Kept until the
            # next snapshot, every action meanwhile lived at the venue the ttl plus the step undone
            self._behind_least_s += moved
        # a step forward, only as far as it took clock_behind_s down: a clock running faster than clock_rate says (a
        # test's venue not told) reads as steps forward, which set the switch early, refused as too early
        self._behind_most_s += max(0.0, moved) - max(0.0, behind - self.clock_behind_s)
        self._stamped, self._stamped_wall = now, wall
        return int(round((now + self.clock_behind_s + self.action_ttl_s) * 1000.0))

    # ------------------------------------------------------------------ commands

    # send() is CommandRouter's: these and _send_places, _send_cancels, _send_modifies are its handlers
    def _send_cancel_all(self, known: tuple[str, ...] = ()) -> None:
        self._spawn(self._cancel_all(known), "hl-cancel-all")

    def _send_schedule_cancel(self, at_ts: float | None, sent_ts: float | None = None) -> None:
        # (one at a time: CommandRouter._route_schedule_cancel; a timeout, request_timeout_s, comes after the ttl)
        self._spawn(self._schedule_cancels((at_ts, sent_ts)), "hl-schedule-cancel")

    def _schedule_cancel_superseded(self) -> None:
        self.counters["schedule_cancels_superseded"] += 1

    async def _schedule_cancels(self, job: tuple | None) -> None:
        """Send ``job``, then whatever command came meanwhile, until none waits (one task: ``in_flight`` counts it
        while any is on its way or waiting)."""
        try:
            while job is not None:
                at_ts, sent_ts = job
                try:
                    await self._schedule_cancel(at_ts, sent_ts)
                except Exception:  # (an unexpected error on one answer's path must not strand the next)
                    log.exception("scheduleCancel failed")
                job = self._schedule_cancel_done()
        finally:
            if job is not None:  # (cancelled on its way, as the gateway closes)
                self._schedule_cancel_abandoned()

    def _send_snapshot_request(self) -> None:
        self._spawn(self._snapshot(), "hl-snapshot")

    def _order_wire(self, c: PlaceOrder | ModifyOrder, side: Side, cloid: str) -> dict:
        return wire.order_wire(self.asset.asset, side is Side.BUY, c.px, c.sz, c.reduce_only, c.tif.value, cloid)

    def _not_sent(self, make: Callable[[str, Reason, str], Event], cloid: str, e: Exception) -> None:
        """A command the venue could not even parse (a price with more than 8 decimals, a bad cloid)."""
        self.counters["not_sent"] += 1
        self._emit_soon(make(cloid, Reason.OTHER, f"not sent: {e}"))

    def _send_places(self, places: list[PlaceOrder]) -> None:
        wires, cloids = [], []
        for p in places:
            try:
                wires.append(self._order_wire(p, p.side, p.cloid))
                cloids.append(p.cloid)
                self._sides.remember(p.cloid, p.side)
            except ValueError as e:
                self._not_sent(lambda cl, r, m: OrderRejected(self._now(), cl, r, m), p.cloid, e)
        if wires:
            self._spawn(self._run_place(wire.order_action(wires), tuple(cloids)), "hl-order")

    async def _run_place(self, action: dict, cloids: tuple[str, ...]) -> None:
        reply = await self._action(action, len(cloids))
        ts = self._now()
        if isinstance(reply, ActionReply) and reply.ok:
            for cloid, st in zip(cloids, self._statuses(reply, cloids, "order")):
                if self._is_order_status(st, "order", cloid):
                    self._emit(self._order_status_event(ts, cloid, st))
        else:
            self._refused(ts, reply, "order", cloids, lambda cl, reason, msg: OrderRejected(ts, cl, reason, msg))

    def _named(self, ev):
        """``ev`` (a fill, a venue's cancel) with our cloid where it came with the venue's oid alone (``oid:N``)."""
        if listed_oid(ev.cloid) is not None:
            cloid = self._cloid_of.get(ev.oid)
            if cloid is not None:
                return dataclasses.replace(ev, cloid=cloid)
        return ev

    def _is_order_status(self, st, what: str, cloid: str) -> bool:
        """Whether ``st`` is an order's status (resting, filled, error). The venue's bare strings are a cancel's
        ("success") and a TP/SL child's, never a limit order's: one in a place's or modify's reply is malformed,
        counted, and gives no event (the core's ack timeout asks the venue). Read as a rejection, an order that
        rested at the venue was one the agent had let go: quoted on without it, its fills unaccounted."""
        if isinstance(st, (Resting, Filled, ItemError)):
            return True
        self.counters["malformed"] += 1
        log.warning("%s answered %.80r for %s, which is no order's status: its outcome is unknown", what, st, cloid)
        return False

    def _order_status_event(self, ts: float, cloid: str, st) -> Event:
        if isinstance(st, Resting):
            self._cloid_of.remember(st.oid, cloid)
            return OrderAcknowledged(ts, cloid, st.oid, True)
        if isinstance(st, Filled):
            self._cloid_of.remember(st.oid, cloid)
            return OrderAcknowledged(ts, cloid, st.oid, False, st.total_sz, st.avg_px)
        text = st.text if isinstance(st, ItemError) else str(st)
        return OrderRejected(ts, cloid, classify(text), text)

    def _send_cancels(self, cancels: list[CancelOrder], by_oid: bool) -> None:
        run = self._cancel_action(cancels, by_oid)
        if run is not None:
            self._spawn(run, "hl-cancel")

    def _cancel_action(self, cancels: list[CancelOrder], by_oid: bool) -> Awaitable[None] | None:
        """One cancel action (the router's cut, ``cancel_actions``): by cloid, or (``by_oid``) by oid for orders
        listed without one (``oid:N``, placed by someone else). None when no cloid in it can be sent (each refused
        unsent)."""
        asset = self.asset.asset
        if by_oid:
            cloids = [c.cloid for c in cancels]
            action = wire.cancel_action((asset, listed_oid(c)) for c in cloids)
        else:
            cloids = []
            for c in cancels:
                if _HEX_CLOID.match(c.cloid):
                    cloids.append(c.cloid)
                else:
                    self._not_sent(lambda cl, r, m: CancelRejected(self._now(), cl, r, m), c.cloid,
                                   ValueError(f"cloid {c.cloid!r} is neither 0x+32 hex nor oid:N"))
            if not cloids:
                return None
            action = wire.cancel_by_cloid_action((asset, c) for c in cloids)
        return self._run_cancel(action, tuple(cloids))

    async def _run_cancel(self, action: dict, cloids: tuple[str, ...]) -> bool:
        """Whether the action was refused whole for the address budget (a cancel-all's listing then waits:
        ``KnownCancels``)."""
        reply = await self._action(action, len(cloids))
        ts = self._now()
        if isinstance(reply, ActionReply) and reply.ok:
            for cloid, st in zip(cloids, self._statuses(reply, cloids, "cancel")):
                if st == "success":
                    self._emit(CancelAcknowledged(ts, cloid))
                else:
                    text = st.text if isinstance(st, ItemError) else str(st)
                    self._emit(CancelRejected(ts, cloid, classify(text), text))
        else:
            self._refused(ts, reply, "cancel", cloids, lambda cl, reason, msg: CancelRejected(ts, cl, reason, msg))
            return isinstance(reply, ActionReply) and classify(reply.error) is Reason.RATE_LIMITED
        return False

    def _send_modifies(self, modifies: list[ModifyOrder]) -> None:
        items, pairs = [], []
        for m in modifies:
            oid = listed_oid(m.cloid)
            ref: int | str = m.cloid if oid is None else oid
            try:
                side = getattr(m, "side", None) or self._sides.get(m.cloid)
                if side is None:
                    raise ValueError(f"side of {m.cloid} unknown (not placed by this gateway)")
                items.append((ref, self._order_wire(m, side, m.new_cloid)))
                pairs.append((m.cloid, m.new_cloid))
                self._sides.remember(m.new_cloid, side)
            except ValueError as e:
                self._not_sent(lambda cl, r, msg, new=m.new_cloid: ModifyRejected(self._now(), cl, new, r, msg),
                               m.cloid, e)
        if items:
            self._spawn(self._run_modify(wire.batch_modify_action(items), tuple(pairs)), "hl-modify")

    async def _run_modify(self, action: dict, pairs: tuple[tuple[str, str], ...]) -> None:
        reply = await self._action(action, len(pairs))
        ts = self._now()
        if isinstance(reply, ActionReply) and reply.ok:
            for (old, new), st in zip(pairs, self._statuses(reply, pairs, "batchModify")):
                if not self._is_order_status(st, "batchModify", old):
                    continue
                if isinstance(st, (Resting, Filled)):
                    self._cloid_of.remember(st.oid, new)
                    self._emit(ModifyAcknowledged(ts, old, new, st.oid, isinstance(st, Resting)))
                else:
                    text = st.text if isinstance(st, ItemError) else str(st)
                    self._emit(ModifyRejected(ts, old, new, classify(text), text))
        else:
            by_old = dict(pairs)
            self._refused(ts, reply, "batchModify", tuple(by_old),
                          lambda cl, reason, msg: ModifyRejected(ts, cl, by_old[cl], reason, msg),
                          tuple(by_old.values()))

    async def _cancel_all(self, known: tuple[str, ...] = ()) -> None:
        """Cancel every order the venue lists as ours on this coin (orders we never heard of go too). ``known``, those
        the core counts live, are cancelled first, at once: listing first (openOrders, 20 of the IP weight) pulled
        every quote a round trip later. The listing goes once their cancels are answered, so it lists only what is
        left: orders the core did not know of, and known ones whose cancel was lost or refused; not when one was refused
        for the address budget (``KnownCancels``: past the cancels' limit the listing's cancels were refused too)."""
        if known:  # (in the router's actions: by cloid, by oid for oid:N, at most MAX_ITEMS_PER_ACTION each)
            runs = [self._cancel_action(part, by_oid)
                    for part, by_oid in cancel_actions([CancelOrder(c) for c in known])]
            runs = [run for run in runs if run is not None]
            leg = KnownCancels(len(runs))
            for rate_limited in await asyncio.gather(*runs):
                leg.answered(rate_limited)
            if leg.lane_shut:
                return
        body = await self._info({"type": "openOrders", "user": self.user, "dex": self.dex}, "openOrders",
                                FOR_CANCEL_ALL)
        mine = self.parser.open_orders(body) if body is not None else None  # (this coin's rows)
        if not mine:
            return
        rows = list({r.oid: order_name(r.cloid, r.oid) for r in mine}.items())
        # at most MAX_ITEMS_PER_ACTION an action (the venue refuses a bigger one whole), the actions side by side
        await asyncio.gather(*(self._cancel_listed(dict(part), told=bool(known)) for part in in_actions(rows)))

    async def _cancel_listed(self, by_oid: dict[int, str], told: bool = False) -> None:
        """One cancel action for listed orders (oid -> cloid, ``oid:N`` for one placed without: as a snapshot names
        it to the core, which counts it live until told it is gone). ``told``: the core is told its weight and items
        as it goes: a cancel-all naming its ``known`` orders is counted by the core as their cancels, and what the
        listing cancels after them is the gateway's own (orders the core did not know, known ones whose cancel was
        refused: all of them again when those came back expired, each charged at the venue). Without ``known`` the
        core counted the listing's cancels (n_live); the live shutdown's cancel-all tells its own (LiveDriver)."""
        if told:
            self._emit(IpWeightSpent(self._now(), items_weight(len(by_oid)), LISTED_CANCELS, len(by_oid),
                                     tuple(by_oid.values())))
        reply = await self._action(wire.cancel_action((self.asset.asset, oid) for oid in by_oid), len(by_oid))
        ts = self._now()
        if isinstance(reply, ActionReply) and reply.ok:
            for cloid, st in zip(by_oid.values(), self._statuses(reply, by_oid, "cancel")):
                if st == "success":
                    self._emit(CancelAcknowledged(ts, cloid))
        else:
            self._refused(ts, reply, "cancel", tuple(by_oid.values()),
                          lambda cl, reason, msg: CancelRejected(ts, cl, reason, msg))

    async def _schedule_cancel(self, at_ts: float | None, sent_ts: float | None = None) -> None:
        """``at_ts``: the command's time, which an arm's acknowledgement (or refusal) names; ``sent_ts``: a clear's send
        time, which its acknowledgement (or refusal) names (the core matches either to its last command).
        ``at_ts`` is on this host's clock (the core's), the switch's time on the venue's: sent plus the most the host's
        clock can be behind (``_behind_most_s``, made at the stamp). On the host's clock alone, a clock behind by d
        set the switch d early: past the 5 s the venue wants ahead, a Kill's arm (risk.dead_man_s, 10 s) refused as
        "too early"; a heartbeat's fired before its re-arm was due, cancelling a healthy run's orders. Ahead by d, it
        fired d after the core counted it fired. Not expiresAfter's measure, which errs the other way (an action
        never to live longer than counted): by it the switch fired early by the rest of a snapshot's window, and by
        the time between two stamps a step back came in. By this, it may fire after the core's time by the window's
        width, never before it."""
        def action() -> dict:
            at_ms = None if at_ts is None else int(round((at_ts + self._behind_most_s) * 1000.0))
            return wire.schedule_cancel_action(at_ms)
        reply = await self._action(action, 1)
        ts = self._now()
        at = math.nan if at_ts is None else at_ts
        sent = math.nan if sent_ts is None else sent_ts
        if isinstance(reply, ActionReply):
            if reply.ok:
                self._emit(ScheduleCancelAcknowledged(ts, at_ts) if at_ts is not None else
                           ScheduleCancelCleared(ts, sent))
            else:
                if classify(reply.error) is Reason.RATE_LIMITED:
                    self.counters["rate_limited_address"] += 1  # the summary's rate_limited.address, as for an order
                    log.info("scheduleCancel (%s) refused for the address budget", schedule_cancel_name(at, sent))
                    self._emit(RateLimited(ts, "address", "scheduleCancel", reply.error, at_ts=at, sent_ts=sent))
                else:
                    if classify(reply.error) is Reason.EXPIRED:
                        self._expired(ts, "scheduleCancel", 1)
                    self._emit(ScheduleCancelRefused(ts, at, sent, classify(reply.error), reply.error))
        elif reply == _IP_LIMITED:
            self.counters["rate_limited_ip"] += 1
            log.info("scheduleCancel (%s) refused for the IP's weight (HTTP 429)", schedule_cancel_name(at, sent))
            self._emit(RateLimited(ts, "ip", "scheduleCancel", "HTTP 429", at_ts=at, sent_ts=sent))
        elif reply == _TRANSPORT or (type(reply) is int and reply >= 500):
            # no answer: it may have reached the venue, and may yet, after the next one (sent now), until its
            # expiresAfter (sent before now, so before now + ttl), or that plus the clock skew the start allows, or
            # the skew the last snapshot measured when more (_check_clock)
            self._emit(ScheduleCancelUnanswered(ts, at, sent, schedule_cancel_late_ts(ts, self.action_ttl_s,
                                                                                      self.clock_ahead_s)))

    def _statuses(self, reply: ActionReply, items, what: str) -> tuple:
        """The reply's status of each item, in order. One error for a batch of several is the batch's own (a
        payload refused at pre-validation, whose envelope the venue's docs leave open): every item's. Any
        other count is malformed: the items it leaves out get no answer (their timeouts resolve them)."""
        statuses = reply.statuses
        if len(statuses) == len(items):
            return statuses
        if len(statuses) == 1 and isinstance(statuses[0], ItemError):
            log.info("%s answered one error for %d items: the whole batch's (%s)", what, len(items), statuses[0].text)
            return statuses * len(items)
        self.counters["malformed"] += 1
        log.warning("%s answered %d statuses for %d items", what, len(statuses), len(items))
        return statuses

    def _refused(self, ts: float, reply: ActionReply | str | int, what: str, cloids: tuple[str, ...], make,
                 new_cloids: tuple[str, ...] = ()) -> None:
        """A whole action refused: quota (address or IP) becomes RateLimited; anything else a rejection each.
        ``new_cloids``: a modify's new orders, which the RateLimited names beside the old. ``ts``: the reply's time,
        the one ``make`` stamps its rejections with: an expired action's charge stamped later here, and told first,
        put its rejections behind it, which the core counted as the host's clock stepped back."""
        if isinstance(reply, ActionReply):
            if reply.ok:  # "ok" without statuses where statuses were due
                self.counters["malformed"] += 1
                return
            reason = classify(reply.error)
            if reason is Reason.RATE_LIMITED:
                self.counters["rate_limited_address"] += 1
                self._emit(RateLimited(ts, "address", what, reply.error, cloids, new_cloids))
            else:
                if reason is Reason.EXPIRED:
                    self._expired(ts, what, len(cloids))
                for cl in cloids:
                    self._emit(make(cl, reason, reply.error))
        elif reply == _IP_LIMITED:
            self._ip_limited(what, cloids, new_cloids)
        # _TRANSPORT, _BAD and another HTTP status: counted where they happened; the outcome is unknown, so no event

    def _expired(self, ts: float, what: str, items: int) -> None:
        """An action refused as expired (it landed past its expiresAfter) costs the address budget ``EXPIRED_COST``
        times its ``items`` (hyperliquid.md §2.1); the core counted them once as it sent them: the rest is told (no
        IP weight: the request was weighed as sent). Untold, the core's count was short of the venue's until the
        next quota poll, and a run whose actions landed late spent past the headroom it believed it had."""
        self._emit(IpWeightSpent(ts, 0, f"{what} (expired)", (EXPIRED_COST - 1) * items))

    # ------------------------------------------------------------------ snapshot

    async def _snapshot(self) -> None:
        """clearinghouseState first, then openOrders and userFillsByTime; one AccountSnapshot when all are back.

        The fills are asked for after the state arrived, so they include every fill in the state's
        position; the newest of those (by the state's time) is the snapshot's fill watermark. They are read
        to the end, page after page (``_fill_pages``): from one page, a busy minute's fills past its
        2000th were left out, the watermark below fills in the position, which the agent then counted again.
        """
        requested = self._now()
        body = await self._info({"type": "clearinghouseState", "user": self.user, "dex": self.dex},
                                "clearinghouseState", FOR_SNAPSHOT)
        state = self.parser.account_state(body) if body is not None else None
        if state is None:
            return
        self._check_clock(requested, self._now(), state.time_ms)
        fills: dict[int, TimedFill] = {}  # by fill key: a page starts at the last one's newest ms, which it repeats
        rows: list[int] = []  # each page's rows: its IP weight

        def keep(page: tuple[TimedFill, ...]) -> None:
            for t, f in page:
                fills[f.tid] = (t, f)
        due = self._history_due if self._history_due is not None and requested >= self._history_due[0] else None
        # the newest fill known before the reconnect, older than this query reads from: one page from its time
        probe = due is not None and due[1] < self._fills_since_ms
        orders_body, complete, page = await asyncio.gather(
            self._info({"type": "openOrders", "user": self.user, "dex": self.dex}, "openOrders", FOR_SNAPSHOT),
            # only fills since the last snapshot's state (less a minute): few rows, each 20 of them 1 more IP weight
            self._fill_pages(self._fills_since_ms, 1, keep, "userFills", rows, FOR_SNAPSHOT, whole=True),
            self._fill_page_from(due[1], rows) if probe else asyncio.sleep(0))
        orders = self.parser.open_orders(orders_body) if orders_body is not None else None
        if orders is None or not complete or (probe and page is None):
            return  # (a fill missing, the watermark could be below a fill in the position: none; the core asks again)
        if due is not None:
            _, t_ms, key = due
            if not self._history_kept(key, page if probe else None, fills):
                # asked again a moment on, from the fill's time: the node answering /info may lag the socket that
                # pushed the fill (a reconnect in under a second), and a fill it has yet to list is no venue lost
                await asyncio.sleep(self.history_recheck_s)
                again = await self._fill_page_from(t_ms, rows)
                if again is None:
                    return  # (no answer: the check stays due, and the core asks for the snapshot again)
                if not self._history_kept(key, again, fills):
                    self._history_due = None
                    self._history_lost(t_ms, key, state)
                    return  # (not the resync the reconnect asked for: the core quotes on none; the driver stops)
            self._history_due = None
        weight = snapshot_weight(rows)
        self._emit_snapshot(state, orders, tuple(fills.values()), requested, weight)

    async def _fill_page_from(self, start_ms: int, rows: list[int]) -> tuple | None:
        """One userFillsByTime page from ``start_ms`` (its rows appended to ``rows``, for the snapshot's IP weight):
        (rows, newest ms, this coin's fills), or None without an answer of the venue's shape."""
        body = await self._info({"type": "userFillsByTime", "user": self.user, "startTime": start_ms},
                                "userFillsByTime", FOR_SNAPSHOT)
        page = self.parser.fill_page(body, self._now(), whole=True) if body is not None else None
        rows.append(page[0] if page is not None else 0)
        return page

    @staticmethod
    def _history_kept(key: int, page: tuple | None, fills: dict[int, TimedFill]) -> bool:
        """Whether the venue still lists the fill ``key`` it gave this run before a reconnect, as the real venue does
        (userFillsByTime serves an account's newest 10000 fills; a fill is never taken back): in ``fills``, the
        snapshot's fill query read to its end from before the fill's time; or else in ``page``, one page from the
        fill's time, a full one of which (the venue's cap) may have been cut before it or reach back past what
        the venue keeps: it cannot say, and the fill is taken as kept. False only when it must be listed and is not."""
        if page is None:
            return key in fills
        n_rows, _, items = page
        return n_rows >= _FILL_PAGE or any(f.tid == key for _, f in items)

    def _history_lost(self, t_ms: int, key: int, state: AccountState) -> None:
        """The venue lists none of the fills it gave this run before the reconnect: another venue answers at the base
        URL (a restarted ``twin serve`` is a new venue, its accounts funded anew; on the real one a node or proxy of
        another network). The ledger's position, PnL and fills are the old venue's, and resynced to the new account
        the agent quoted on against a position the new venue never held (a run at Red sent reduce-only exits
        against it to its end, each refused). Said once, loudly; the run stops (``venue_reset``: the LiveDriver's
        fault stop, exit 4) with nothing placed on the new venue, for the operator to start a run against it."""
        self.counters["venue_history_lost"] += 1
        self.venue_reset = ("the venue no longer lists the fills it gave this run (a new venue at the URL: twin serve "
                            "restarted?): restart the agent against it")
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t_ms / 1000.0))
        log.error("after the reconnect, the venue at %s no longer lists the newest fill this run knows (%s, %s UTC, "
                  "tid %d): it is not the venue the run began on (a restarted twin serve is a new venue: accounts "
                  "funded anew, no fills, positions or orders of the last; the real venue never drops a fill), and "
                  "its account (position %g) is not what the agent's ledger was built from. Stopping, with nothing "
                  "placed on it: the ledger's position and PnL are the old venue's. Start the agent again against "
                  "this venue, or check --base-url", self.base_url, self.coin, when, key & ((1 << 64) - 1),
                  state.position)

    def _check_clock(self, asked: float, answered: float, venue_ms: int, warn: bool = True) -> None:
        """This host's clock against the venue's at each account snapshot (the state's time, which the venue stamped
        between the request's send, ``asked``, and its answer, ``answered``, by our clock). The start checked it
        (preflight.clock_skew), and the margins that rest on it assume it holds all run: how late an unanswered
        scheduleCancel may land (base.LATE_TTLS), how long an order may still land after its send. A clock stepped
        since (NTP after a suspend, a VM moved, someone setting the date) broke them unseen. ``clock_ahead_s``, the
        most ours may be ahead of the venue's (the whole window: a slow answer widens it, never narrows it), widens
        the scheduleCancel's bound past the half ttl; past half the ttl either way over the whole window (its end
        nearest agreement: a slow answer is no clock moved), a warning, once each time it gets there. The lead is
        capped at ``base.CLOCK_AHEAD_CAP_TTLS`` ttls (one answer's old or wrong time read as a clock far ahead pushed
        the bound, and a stop's wind-down, as far), with a warning once each time it gets past. (Here, not in the
        core: the core reads no clock, and the twin's gateway has one clock with its venue.) ``warn`` False: measured
        only, nothing said (the start's own check, ``account_state``, says it)."""
        if venue_ms <= 0:
            return  # (an answer without its time cannot be checked)
        venue = venue_ms / 1000.0
        ahead, cap = max(0.0, answered - venue), CLOCK_AHEAD_CAP_TTLS * self.action_ttl_s
        capped = ahead > cap
        if warn and capped and not self._clock_capped:
            log.warning("the venue's time in an account snapshot is %.1f s behind this host's clock, more than "
                        "the %.1f s (%g ttl) an unanswered dead-man's switch request is waited out for past its ttl: "
                        "an old answer, or this host's clock stepped far ahead (then an order may land as long after "
                        "the agent counts it gone: stop the run and synchronise the clock)", ahead, cap,
                        CLOCK_AHEAD_CAP_TTLS)
        if warn:
            self._clock_capped = capped
        self.clock_ahead_s = min(ahead, cap)
        if not self._started_ms or self._venue_less_host_s is None:  # (the measure nearest the start: kept)
            self._venue_less_host_s = min(max(venue - answered, -cap), cap)
        # the warning judges the skew the whole window shows, as the start does (window_skew: at the midpoint, a slow
        # answer with the clocks in step read as a clock moved, again at each slow answer after a quick one)
        skew = window_skew(asked, answered, venue)
        self._behind_least_s = venue - answered  # (the actions' expiresAfter, _expires_ms: max(0, skew) of it)
        self._behind_most_s = venue - asked  # (the window's far end: the switch's time, never early by it)
        # the measure has every step back up to its answer in it: the next action's stamp compared with the last one's,
        # from before a step the answer saw, added that step again (the order lived the ttl plus it at the venue)
        self._stamped, self._stamped_wall = answered, time.monotonic()
        if not warn:
            return
        off, text = clock_skew(skew, self.action_ttl_s, answered - asked)
        if off and not self._clock_warned:
            log.warning("%s (measured at an account snapshot, after the start's check: the clock moved during the "
                        "run; an unanswered dead-man's switch request is waited out %.1f s past its ttl%s)",
                        text, max(0.5 * self.action_ttl_s, self.clock_ahead_s),
                        f"; meanwhile each action's expiresAfter adds the {skew:.1f} s measured, so that the venue "
                        f"does not refuse it as expired" if skew > 0 else "")
        self._clock_warned = off

    def _emit_snapshot(self, state: AccountState, orders, fills: tuple[TimedFill, ...], requested: float,
                       ip_weight: int = 0) -> None:
        """``fills``: this coin's fills in the userFillsByTime reply. Those the agent has not had go first:
        the snapshot's position holds them, and their pushes may come after it, or never if the agent
        stops on this snapshot (its shutdown does). Stamped now, as the snapshot is, not when their page came: the
        events given since (a book while openOrders was on its way) are later, and the core takes an event behind
        one it has handled for the host's clock stepping back (AgentCore._stepped_back), past a bound a fault."""
        now = self._now()
        for ev in self.fills.in_snapshot(fills):
            self._emit(self._named(dataclasses.replace(ev, ts=now)))
        opens = tuple(o.as_open_order() for o in orders)  # (the parser keeps this coin's rows only)
        for o in opens:
            self._sides.remember(o.cloid, o.side)
            if listed_oid(o.cloid) is None:
                self._cloid_of.remember(o.oid, o.cloid)
        t_state = state.time_ms
        # the newest fill in this state's position: from the fills returned, or else the newest known
        # from an earlier state that is not later than this one (the window starts before it)
        earlier = max((w for t, w in self._watermarks if t <= t_state), default=0)
        watermark = max((f.tid for t, f in fills if t <= t_state), default=earlier)
        self._watermarks.append((t_state, watermark))
        del self._watermarks[:-16]
        self._fills_since_ms = max(self._fills_since_ms, t_state - 60_000)  # a minute's overlap
        self._emit(AccountSnapshot(now, state.position, state.entry_px, state.account_value,
                                   state.margin_used, opens, watermark, requested, t_state, ip_weight,
                                   state.liquidation_px, *self._margin_of(state),
                                   margin_tiers=self.asset.margin_tiers if self.asset is not None else ()))

    def _margin_of(self, state: AccountState) -> tuple:
        """The snapshot's margin (AccountSnapshot.max_leverage to raw_usd): a position row's, its setting
        kept; with none, that setting (the venue keeps the user's leverage when a position closes; before any row,
        the set-up's activeAssetData), the coin's meta and the cross collateral, a position opened from flat's. Not
        told (0) before a row or the set-up has said the setting (its activeAssetData refused or unreadable) or
        without the cross figures."""
        if state.position:
            if state.leverage > 0.0:
                self._setting = state.leverage, state.isolated
            if state.isolated:  # (its own margin, rawUsd, its price where the venue gives none)
                return state.max_leverage, state.leverage, True, 0.0, 0.0, state.raw_usd
            if state.cross_available is None or not state.mark_px > 0.0:
                return state.max_leverage, state.leverage, state.isolated, 0.0, 0.0
            return state.max_leverage, state.leverage, state.isolated, state.cross_available, state.mark_px
        if self._setting is None or state.cross_available is None or self.asset is None:
            return 0.0, 0.0, False, 0.0, 0.0
        return float(self.asset.max_leverage), *self._setting, state.cross_available, 0.0

    # ------------------------------------------------------------------ quota

    async def _poll_quota(self) -> None:
        while not self._closing:
            try:
                sent = self._now()
                # its weight as it goes: the next poll leaves a period after this one's reply (or failure), so how
                # many a minute brings depends on the replies' times, which only this loop sees. One answered 429
                # stays counted (weights.py: whether the venue charges a refused request is not documented)
                self._emit(IpWeightSpent(sent, INFO_WEIGHT, "userRateLimit"))
                answered = False
                body = await self._info({"type": "userRateLimit", "user": self.user}, "userRateLimit")
                if body is not None:
                    ev = self.parser.quota(body, self._now(), sent)
                    if ev is not None:
                        self._emit(ev)
                        answered = True
            except Exception:
                # a bug on a reply's path, as the socket reader's catch-all: were it to end this task, the run
                # would go on with the address budget as last reported, spending against a stale headroom
                self.counters["quota_poll_failures"] += 1
                log.exception("quota poll failed: polling on")
            # (no report yet: sooner, see QuotaPollBackoff)
            await asyncio.sleep(self._quota_polls.wait_after(answered))

    # ------------------------------------------------------------------ websocket

    def _book_subscription(self) -> dict:
        """The l2Book subscription (an unsubscribe must match it exactly, hyperliquid.md §4)."""
        book = {"type": "l2Book", "coin": self.coin}
        if self.book_fast:
            book["fast"] = True
        return book

    def _subscriptions(self) -> list[dict]:
        book = self._book_subscription()
        subs = [book, {"type": "bbo", "coin": self.coin}] if self.bbo else [book]
        return [*subs, {"type": "trades", "coin": self.coin},
                {"type": "userFills", "user": self.user}, {"type": "orderUpdates", "user": self.user},
                {"type": "userEvents", "user": self.user}]

    def backoff_s(self, attempt: int) -> float:
        """Wait before reconnect ``attempt`` (0, 1, ...): exponential, capped, times a jitter in [0.5, 1)."""
        base = min(self.backoff_max_s, self.backoff_base_s * 2.0 ** min(attempt, 30))
        return base * (0.5 + 0.5 * float(self.rng.random()))

    async def _run_socket(self) -> None:
        """Connect, subscribe, read until the socket drops or goes silent; then back off and do it again.

        The backoff starts over only after a socket has stayed up ``backoff_max_s``: reset as soon as the
        subscriptions were sent, a venue (or proxy) that accepts and closes at once had us reconnect every
        0.25-0.5 s, each time a ConnectionLost and ConnectionRestored to the core, its snapshot and our fill and
        funding recovery (45 connections and 1,760 IP weight in 20 s; the venue allows 30 new connections and
        1200 weight a minute). ConnectionRestored still goes out as soon as the subscriptions are sent: the core
        resyncs and quotes again at once on a healthy reconnect."""
        loop = asyncio.get_running_loop()
        attempt = 0
        ever_connected = False
        while not self._closing:
            tried = self._now()
            try:
                ws = await asyncio.wait_for(
                    self._session.ws_connect(self.ws_url, autoping=True, heartbeat=None, max_msg_size=1 << 24,
                                             timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=1.0)),
                    self.request_timeout_s)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                log.info("websocket connect failed (%s)", type(e).__name__)
                self._lost()
                self._refused_ts = tried  # (the venue's outage, if that is why, ended after this attempt began)
                await asyncio.sleep(self.backoff_s(attempt))
                attempt += 1
                continue
            self._ws = ws
            opened = loop.time()
            try:
                for sub in self._subscriptions():
                    await ws.send_str(json.dumps({"method": "subscribe", "subscription": sub}))
                self._connected = True
                if ever_connected or self._lost_reported:
                    self.counters["reconnects"] += 1
                    self._lost_reported = False
                    log.warning("websocket back after %.1f s down: resubscribed; the agent resyncs the account "
                                "before it quotes again", time.monotonic() - self._lost_at)
                    if self.fills.last_key is not None:  # (before any frame of this socket: none of its fills)
                        self._history_due = (self._now(), self.fills.last_ms, self.fills.last_key)
                    self._emit(ConnectionRestored(self._now(), "ws", self._refused_ts))
                    self._start_recovery()
                ever_connected = True
                await self._read(ws)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError, RuntimeError) as e:
                log.info("websocket failed (%s)", type(e).__name__)
            except Exception:
                # anything else is a bug on a frame's path: were it to end this task, the run would go on without
                # a socket, its quotes and position unmanaged. Said, counted, and the socket opened afresh.
                self.counters["ws_failures"] += 1
                log.exception("websocket reader failed: reconnecting")
            finally:
                self._connected = False
                self._lost()  # first: closing a dead socket can take its close timeout
                if not ws.closed:
                    try:
                        await ws.close()
                    except (aiohttp.ClientError, OSError, RuntimeError):
                        pass
            if self._closing:
                return
            up_s = loop.time() - opened
            if up_s >= self.backoff_max_s:
                attempt = 0  # it proved it stays up: this drop is a new outage
            else:
                self.counters["short_lived_sockets"] += 1
            wait_s = self.backoff_s(attempt)
            log.info("websocket was up %.2f s: reconnecting in %.2f s (attempt %d)", up_s, wait_s, attempt + 1)
            await asyncio.sleep(wait_s)
            attempt += 1

    def _lost(self) -> None:
        """One ConnectionLost per outage, however many reconnects fail."""
        if not self._lost_reported and not self._closing:
            self._lost_reported = True
            self._lost_at = time.monotonic()
            # once per outage, however many reconnects fail (each is logged at info): an operator must see it
            log.warning("websocket to the venue lost: the agent pulls its quotes and reconnects with backoff")
            self.counters["disconnects"] += 1
            self._refused_ts = self._now()  # (no attempt refused yet: the venue's outage ended after the drop)
            self._emit(ConnectionLost(self._refused_ts, "ws", self._silent_since))
        self._silent_since = None

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Frames until the socket closes or nothing arrives for ``silence_s`` (then it is treated as lost).

        A ping goes out every ``ping_s``, and early, once, when the stream has been quiet for half of
        ``silence_s``: a live but quiet socket answers it with a pong before the silence deadline.
        Any frame keeps the socket alive, but only a new l2Book keeps the book stream so: none for
        ``book_stall_s`` and the book is resubscribed (its snapshot comes again); none for as long again and
        the socket is dropped, to be opened afresh (hyperliquid.md §7: a stream can stall with no disconnect).
        """
        loop = asyncio.get_running_loop()
        last_rx = last_ping = last_book = loop.time()
        resubscribed_at: float | None = None
        self._frame_ts = -math.inf  # no frame yet on this socket
        read_from = self._now()  # (the silence of a socket that never sent a frame: from here)
        self._book_ms = None
        while not self._closing:
            now = loop.time()
            quiet_ping = last_rx + 0.5 * self.silence_s
            next_ping = min(last_ping + self.ping_s, quiet_ping if quiet_ping > last_ping else math.inf)
            if now >= next_ping:
                await ws.send_str('{"method":"ping"}')
                self.counters["pings"] += 1
                last_ping = now
                continue
            deadline = last_rx + self.silence_s
            if now >= deadline:
                self.counters["silent_streams"] += 1
                log.warning("websocket silent for %.1f s: treating it as lost", now - last_rx)
                self._silent_since = max(self._frame_ts, read_from)  # (the outage began after it: ConnectionLost)
                return
            book_deadline = (last_book if resubscribed_at is None else resubscribed_at) + self.book_stall_s
            if now >= book_deadline:
                if resubscribed_at is not None:
                    self.counters["stale_book_drops"] += 1
                    # (a socket that dies silently is found here first at the defaults, 20 s in, not at silence_s:
                    # the outage, if it is one, began after its last frame of any kind, not its last book: trades,
                    # pongs and the resubscribe's answer on a socket still up say the venue was up until they came)
                    self._silent_since = max(self._frame_ts, read_from)
                    log.warning("no %s book for %.1f s, nor since its resubscribe %.1f s ago, with the socket up: "
                                "dropping the socket to reconnect", self.coin, now - last_book, now - resubscribed_at)
                    return
                self.counters["book_resubscribes"] += 1
                log.warning("no %s book for %.1f s with the socket up (a stalled stream): resubscribing l2Book",
                            self.coin, now - last_book)
                book = self._book_subscription()
                await ws.send_str(json.dumps({"method": "unsubscribe", "subscription": book}))
                await ws.send_str(json.dumps({"method": "subscribe", "subscription": book}))
                resubscribed_at = loop.time()
                self._book_ms = None  # its snapshot is progress whatever its time: the subscription answers
                continue
            try:
                msg = await ws.receive(timeout=min(next_ping, deadline, book_deadline) - now)
            except asyncio.TimeoutError:
                continue
            if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                last_rx = loop.time()
                if self._on_frame(msg.data):
                    last_book, resubscribed_at = last_rx, None
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                              aiohttp.WSMsgType.ERROR):
                log.info("websocket closed by the venue (%s)", msg.type.name)
                return

    def _on_frame(self, data: str | bytes) -> bool:
        """One frame's events to the sink; True when it held a new book (the stall watch's progress)."""
        ts = self._now()
        progress = False
        after, self._frame_ts = ts - self._frame_ts, ts
        parsed = self.parser.ws(data, ts)
        if parsed.kind == "error":
            self.counters["venue_ws_errors"] += 1
            log.warning("venue websocket error: %.200s", parsed.text)
        elif parsed.kind == "liquidation":
            self.counters["liquidations"] += 1
            log.warning("the venue reports a liquidation on this account: %.300s", parsed.text)
            self._emit(AccountChangedByVenue(self._now(), "liquidation", parsed.text))
        elif parsed.kind == "funding":
            self.counters["fundings"] += 1
            for ev in self.fundings.live(parsed.fundings):
                self._emit(ev)
        for ev in parsed.events:
            if type(ev) is BookUpdated:
                ev = dataclasses.replace(ev, after_frame_s=after)
                # progress: a book of another venue time than the last (a stream repeating one is stuck too)
                progress = progress or ev.venue_time_ms != self._book_ms
                self._book_ms = ev.venue_time_ms
            elif type(ev) is OrderClosedByVenue:
                ev = self._named(ev)
            elif type(ev) is TradeObserved and ev.tid:  # (0: no key to tell it by, given)
                if self._prints.get(ev.tid):
                    self.counters["trades_repeated"] += 1
                    continue
                self._prints.remember(ev.tid, True)
            self._emit(ev)
        if parsed.snapshot:
            for ev in self.fills.on_snapshot(parsed.fills, parsed.newest_ms):
                self._emit(self._named(ev))
        elif parsed.fills:
            for ev in self.fills.live(parsed.fills):
                self._emit(self._named(ev))
        return progress

    # ------------------------------------------------------------------ fills missed while the socket was down

    def _start_recovery(self) -> None:
        """After a reconnect: the fill and funding recovery, unless one is running; then that one runs once more
        when done (what it read may predate this outage). A flapping socket so starts no pile of them, each 40 IP
        weight and more."""
        if self._recovery is not None and not self._recovery.done():
            self._recover_again = True
            self.counters["recoveries_coalesced"] += 1
            return
        self._recovery = self._spawn_background(self._recover(), "hl-recovery")

    async def _recover(self) -> None:
        while True:
            self._recover_again = False
            self.counters["recoveries"] += 1
            results = await asyncio.gather(self._recover_fills(), self._recover_fundings(), return_exceptions=True)
            for what, r in zip(("fill", "funding"), results):
                if isinstance(r, asyncio.CancelledError):
                    raise r
                if isinstance(r, Exception):
                    log.error("%s recovery failed", what, exc_info=r)
            if not self._recover_again or self._closing:
                return

    async def _recover_fills(self) -> None:
        """After a reconnect: every fill since the newest one known, by userFillsByTime (oldest first, in
        pages of up to 2000), delivered unless already given. The snapshot frame on resubscribe usually has them
        first; this also covers a snapshot frame lost with the socket, or shorter than the outage."""
        def deliver(page: tuple[TimedFill, ...]) -> None:
            for ev in self.fills.recovered(page):
                self._emit(self._named(ev))
        rows: list[int] = []
        await self._fill_pages(self.fills.since_ms(self._venue_start_ms()), _RECOVERY_ATTEMPTS, deliver,
                               "userFillsByTime", rows)
        self._spent("userFillsByTime", rows)

    def _venue_start_ms(self) -> int:
        """The session's start on the venue's clock, at the earliest: this host's plus the venue's clock less this
        host's measured nearest the start (the start's check, or else the first account snapshot: the core quotes
        only after one), the near end of its window (``_venue_less_host_s``). Measured again at each snapshot, the
        start moved with every later one: early by a slow answer's way back (the clocks in step, an answer held 2 s
        set it 2 s early, and a payment of before the run recovered after an outage was booked), and by a step of
        this host's clock since (back: late, a payment or fill of the session's first seconds lost). It ends the
        session's history when the socket dropped before the first userFills snapshot frame came
        (``FillDelivery.since_ms``, whose fills are keyed by the venue's time), and the funding payments' at each
        recovery (``FundingDelivery``). On this host's clock, ahead by 2 s (warned of, not refused), a fill made in
        the session's first 2 s while that socket was down was taken for history, and lost: the ledger's fees,
        realised PnL and fills count were short of it for the run, though the position (the venue's) was right; so
        was a funding payment. Behind by 2 s, the 2 s before the session were the session's: a payment settled then
        was booked, the ledger's funding and net PnL off by one of before the run (the lead alone, ``clock_ahead_s``,
        is 0 for a clock behind). Early by at most the snapshot's round trip, a fill of another process's just before
        the start is the lesser error: it is booked (its fee), while a fill of the session's is never lost."""
        return self._started_ms + math.floor((self._venue_less_host_s or 0.0) * 1000)

    def _spent(self, request: str, rows: list[int]) -> None:
        """The core is told the IP weight of pages the gateway read on its own (``rows``: each page's rows)."""
        if rows:
            self._emit(IpWeightSpent(self._now(), pages_weight(rows), request))

    async def _fill_pages(self, start_ms: int, attempts: int, on_page: Callable[[tuple[TimedFill, ...]], None],
                          what: str, rows: list[int] | None = None, for_command: str = "", whole: bool = False) -> bool:
        """Every fill from ``start_ms`` (venue ms, inclusive) on, by userFillsByTime page by page (``_pages``):
        each page's fills of this coin (with their time in ms) to ``on_page`` as it comes. A page holds under 500
        rows only when nothing is after it (the smaller of the venue's documented caps); 20 full pages are the
        10000 fills the venue keeps. A 429 is RateLimited ``what`` (for ``for_command``). ``rows``: each page's rows
        (every coin's) are appended to it, for the query's IP weight. A malformed row is dropped alone (a page refused
        on each attempt ended a recovery, the fills after it lost); ``whole``: it refuses its page (a snapshot's query:
        the snapshot is asked for again, its watermark never below a fill in its position)."""
        parse = partial(self.parser.fill_page, whole=True) if whole else self.parser.fill_page
        return await self._pages("userFillsByTime", parse, start_ms, attempts, on_page, what,
                                 _FILL_PAGE, _FILL_PAGES, "fill query", rows, for_command)

    async def _pages(self, kind: str, parse: Callable, start_ms: int, attempts: int, on_page: Callable,
                     what: str, page_rows: int, max_pages: int, label: str, rows: list[int] | None = None,
                     for_command: str = "") -> bool:
        """A time-range /info query (``kind``, from ``start_ms``, venue ms, inclusive) read page by page, each page's
        parsed items (``parse(body, ts)``: rows, their newest ms, the items) to ``on_page`` as it comes. True once a
        page of under ``page_rows`` rows is read; False when a page failed ``attempts`` times (each failure counted
        where it happened, its IP weight too: 0 rows in ``rows``) or ``max_pages`` full pages did not reach a short
        one, which is logged. The docs' pagination: "use the last returned timestamp as the next startTime". A page
        starts at its predecessor's newest ms, not past it, as rows of that ms may be on both sides of the cut (fills
        of one ms; an hour's funding of several coins): those it repeats are told apart by the callers' deliveries
        (their keys); only a page all of one ms moves past it."""
        start = start_ms
        for _ in range(max_pages):
            page = None
            for attempt in range(attempts):
                body = await self._info({"type": kind, "user": self.user, "startTime": start}, what, for_command)
                page = parse(body, self._now()) if body is not None else None
                if page is None and rows is not None:
                    rows.append(0)  # a request sent is weighed, whatever its answer (weights.py: a 429's, not known)
                if page is not None or self._closing or attempt + 1 == attempts:
                    break
                await asyncio.sleep(self.backoff_s(attempt))
            if page is None:
                if attempts > 1 and not self._closing:
                    log.warning("%s from %d ms (%s) gave up after %d attempts", label, start, what, attempts)
                return False
            n_rows, newest_ms, items = page
            if rows is not None:
                rows.append(n_rows)
            on_page(items)
            if n_rows < page_rows:
                return True
            start = newest_ms if newest_ms > start else start + 1
        log.warning("%s from %d ms (%s): %d full pages of %d rows did not reach the newest row", label, start_ms,
                    what, max_pages, page_rows)
        return False

    async def _recover_fundings(self) -> None:
        """After a reconnect: the funding payments settled since the newest one known (or the session's start), by
        userFunding, each delivered unless already given: one settled while the socket was down is otherwise
        missing from the ledger for good (the user channel does not send it again). Page by page (``_pages``): a
        reply holds at most 500 rows of every coin the account pays on (a dozen coins fill one in two days), and an
        hour's settlement of several coins shares one ms, which a page's cut may fall inside: ``FundingDelivery``
        tells the repeats apart. The session began at ``_venue_start_ms`` on the venue's clock, as for the fills: on
        this host's, ahead by 2 s, a payment the venue settled in the session's first 2 s (on the hour) while the
        socket was down was taken for history, and lost (the ledger's funding, so its net PnL, off by it for the run).
        """
        def deliver(payments: tuple) -> None:
            for ev in self.fundings.recovered(payments):
                self._emit(ev)
        self.fundings.start_ms = self._venue_start_ms()
        rows: list[int] = []
        await self._pages("userFunding", self.parser.funding_page, self.fundings.since_ms(), _RECOVERY_ATTEMPTS,
                          deliver, "userFunding", _FUNDING_PAGE, _FUNDING_PAGES, "funding recovery", rows)
        self._spent("userFunding", rows)
