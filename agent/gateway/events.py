"""The gateway vocabulary: events a venue sends the agent, commands the agent sends a venue.

This is the only contract between the agent core and any venue (the twin in-process, the twin
on loopback, or Hyperliquid). Every event carries ``ts``: float seconds on the driver's clock
(SimPy's ``env.now`` in the twin, wall time live). Frozen slotted dataclasses: these are created
per message on the hot path, so no validation and no formatting happens here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple, Union

# each event is @dataclass(frozen=True, slots=True) made by a __new__ that fills a plain object of its slots and then
# gives it the event's class, as the twin's messages are (common.message.message has why): a frozen dataclass's own
# __init__ calls object.__setattr__ a field, and the drivers and gateways make one event for every push and two for
# every quote cycle (a stress hour's 143,647: BboUpdated's cost 0.74 µs, 0.33 µs through its slots' setters, 0.23 µs
# so)
from common.message import message as event


class Side(int, Enum):
    """Order side; the integer is the sign of the position change a fill causes."""

    BUY = 1
    SELL = -1


class Tif(str, Enum):
    """Time in force as the venue names it."""

    ALO = "Alo"  # post-only: rejected instead of taking liquidity
    IOC = "Ioc"  # fill what crosses now, cancel the rest
    GTC = "Gtc"


class Reason(str, Enum):
    """Why the venue refused something: one code per venue error text (the text is kept beside)."""

    TICK = "Tick"
    MIN_TRADE_NTL = "MinTradeNtl"
    PERP_MARGIN = "PerpMargin"
    REDUCE_ONLY = "ReduceOnly"
    BAD_ALO_PX = "BadAloPx"
    IOC_CANCEL = "IocCancel"
    OPEN_INTEREST = "OpenInterest"
    ORACLE = "Oracle"
    PERP_MAX_POSITION = "PerpMaxPosition"
    MISSING_ORDER = "MissingOrder"  # cancel of an order that was never placed, already cancelled, or filled
    MODIFY_CANCELED_OR_FILLED = "ModifyCanceledOrFilled"
    INVALID_SIZE = "InvalidSize"
    TOO_MANY_OPEN_ORDERS = "TooManyOpenOrders"
    RATE_LIMITED = "RateLimited"  # address quota refusal or IP 429
    NONCE = "Nonce"
    SIGNATURE = "Signature"
    TRANSPORT = "Transport"  # request failed or timed out before the venue answered
    EXPIRED = "Expired"  # arrived after its expiresAfter: the venue did nothing
    SCHEDULE_CANCEL_REFUSED = "ScheduleCancelRefused"  # no dead-man's switch for this account today (volume, triggers)
    OTHER = "Other"


# ----------------------------------------------------------------------------- events


@event
class BookUpdated:
    """An L2 snapshot: levels best first, each (px, sz). ``after_frame_s``: how long after the frame before it on
    the same socket it arrived (inf: the first since connecting, or not known). A socket delivers in order, so an
    update right behind another frame, of any channel (order updates the agent acts on not at all among them), may
    have waited for it: calibration then takes its lag as an upper bound of the feed's latency."""

    ts: float
    coin: str
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    venue_time_ms: int = 0
    after_frame_s: float = float("inf")


@event
class BboUpdated:
    """The venue's best bid and ask (its bbo channel, pushed at a block where they changed; session.bbo_feed): the
    touch between l2Book pushes, which are half a second apart or more. NaN for a side the venue had no order on."""

    ts: float
    coin: str
    bid: float
    ask: float
    venue_time_ms: int = 0


@event
class TradeObserved:
    """A public trade print; ``side`` is the aggressor. ``tid`` is the venue's trade id under the print's time
    (``agent.gateway.fills.fill_key``), which the fills the trade made carry too: a print of one of our own fills
    is told by it (0: not known). ``hash`` is the venue's transaction hash on the print: one aggressor sweeping
    several levels makes one print per maker it met, each at its own price, all under its order's hash ("": not
    known, as in a journal written before it was carried; each print is then taken as its own aggressor)."""

    ts: float
    coin: str
    px: float
    sz: float
    side: Side
    tid: int = 0
    hash: str = ""


@event
class OrderAcknowledged:
    """The venue accepted a place (or the new leg of a modify): it rests, or filled at once."""

    ts: float
    cloid: str
    oid: int
    resting: bool
    filled_sz: float = 0.0
    avg_px: float = 0.0


@event
class ScheduleCancelAcknowledged:
    """The venue took a scheduleCancel arming its dead-man's switch to fire at ``at_ts`` (the command's, on the
    driver's clock). Until it comes the arm may have been lost on its way (a transport failure, a 5xx answer, which
    give no event): the core reads the switch as unconfirmed. (A clear's answer is ``ScheduleCancelCleared``.)"""

    ts: float
    at_ts: float


@event
class ScheduleCancelCleared:
    """The venue took a scheduleCancel clearing its dead-man's switch: the clear the core sent at ``sent_ts`` (the
    command's, on the driver's clock; nan for a clear that did not say). Until it comes the clear may have been lost
    or refused (a 429), and the switch still fires at the last arm's time: the core reads it as clearing, and sends
    the clear again. ``sent_ts`` tells a clear sent after the core's last arm from one sent before it, whose late
    answer says nothing of the switch now (the arm may have reached the venue after it)."""

    ts: float
    sent_ts: float


@event
class ScheduleCancelRefused:
    """The venue refused a scheduleCancel (for its quota it is ``RateLimited``, naming it likewise): under its volume
    rule or past its ten triggers a day (``Reason.SCHEDULE_CANCEL_REFUSED``), a time too early, or as any action (a
    nonce, expired).
    It names the request as its acknowledgement would: an arm by ``at_ts``, a clear by ``sent_ts`` (nan for the
    other, and for a clear that did not say), so the core tells the answer to its last command from a late one to a
    command it has since superseded, which says nothing of the switch now. A refused one changed nothing: the venue's
    switch is as the requests before it left it."""

    ts: float
    at_ts: float
    sent_ts: float
    reason: Reason
    message: str


@event
class ScheduleCancelUnanswered:
    """A scheduleCancel that got no answer (a transport failure: a timeout, a reset connection; or a 5xx): the venue
    may never have had it, or may take it yet, after the next one sent (it is sent once this one failed), and each
    replaces the switch whole. ``late_ts``: the latest it can still land (its expiresAfter, and the clock skew the
    live start allows; inf: it carried no expiresAfter). It names the request as its acknowledgement would: an arm by
    ``at_ts``, a clear by ``sent_ts`` (nan the other)."""

    ts: float
    at_ts: float
    sent_ts: float
    late_ts: float


@event
class OrderRejected:
    ts: float
    cloid: str
    reason: Reason
    message: str


@event
class CancelAcknowledged:
    ts: float
    cloid: str


@event
class CancelRejected:
    """Usually the cancel/fill race: the order had already filled (or was never placed)."""

    ts: float
    cloid: str
    reason: Reason
    message: str


@event
class ModifyAcknowledged:
    """The old order is gone and ``new_cloid`` rests (or filled) in its place, at the back of the queue."""

    ts: float
    cloid: str
    new_cloid: str
    oid: int
    resting: bool


@event
class ModifyRejected:
    ts: float
    cloid: str
    new_cloid: str
    reason: Reason
    message: str


@event
class FillReceived:
    """One fill of one of our orders. ``fee`` is in USDC, negative for a rebate. ``closed_pnl``: what the venue
    realised on it (userFills' closedPnl), USDC, None when not known: the ledger books it for a fill already in its
    first snapshot's position, whose entry price does not hold it, and for one whose PnL it works out otherwise (a
    block's fills out of the venue's order: Ledger._move). ``tid``: the venue's trade id under the fill's time
    (``agent.gateway.fills.fill_key``), so that ids are in time order, which the venue's tids alone are not.
    ``start_position``: the venue's position in the coin just before it (userFills' startPosition), None when not
    known (a journal written before it was carried): which of the fill's size closed, where the ledger's own
    position is not the venue's then (Ledger.closed_of_booked)."""

    ts: float
    cloid: str
    oid: int
    px: float
    sz: float
    side: Side
    fee: float
    is_maker: bool
    tid: int
    closed_pnl: float | None = None
    start_position: float | None = None


@event
class FundingPaid:
    """One hourly funding payment on our position (the venue's user-channel ``funding``). ``usdc`` is signed as
    the venue's: negative when we paid, positive when we received. ``szi``: the position it was charged on;
    ``rate``: the hourly rate applied (positive: longs pay); ``time_ms``: the settlement's venue time."""

    ts: float
    coin: str
    usdc: float
    szi: float
    rate: float
    time_ms: int


@event
class OrderClosedByVenue:
    """The venue ended a resting order on its own: margin cancel, reduce-only cancel, schedule-cancel."""

    ts: float
    cloid: str
    oid: int
    status: str  # the venue's status word, e.g. "marginCanceled", "reduceOnlyCanceled", "scheduledCancel"


@event
class AccountChangedByVenue:
    """The venue says the account changed outside our orders (a liquidation): no fill of ours explains
    it, so only an account snapshot says what the position is now."""

    ts: float
    kind: str  # e.g. "liquidation"
    text: str = field(default="", compare=False)  # the venue's words, for the log (renderings differ)


@event
class RateLimited:
    """A request refused for quota: ``kind`` is "ip" (HTTP 429) or "address" (cumulative request budget).
    ``request`` is the venue's name for it: an action ("order", "cancel", "batchModify", "scheduleCancel") or an
    info request ("clearinghouseState", ...); ``cloids`` are those the action placed ("order"), cancelled or
    modified (the old order's). The tracker tells a refused place from a refused cancel by it. A scheduleCancel has no
    cloids: ``at_ts`` or ``sent_ts`` name it (which arm or clear was refused, as a late refusal must be told from the
    answer to the core's last command). An info request made for a command names it by ``for_command``: an account
    snapshot's parts ``FOR_SNAPSHOT``, a cancel-all's listing (openOrders, as a snapshot's) ``FOR_CANCEL_ALL``."""

    ts: float
    kind: str
    request: str
    message: str
    cloids: tuple[str, ...] = ()
    new_cloids: tuple[str, ...] = ()  # a refused modify's: each old order's new one, in the order of ``cloids``
    # a refused scheduleCancel's request, as ScheduleCancelRefused names one: an arm by its time, a clear by its send
    # (nan the other, and for any other request; not compared: nan is no value's equal, its copy read back included)
    at_ts: float = field(default=math.nan, compare=False)
    sent_ts: float = field(default=math.nan, compare=False)
    # the command an info request was made for, by its class's name: the same request serves two (a snapshot's
    # openOrders and a cancel-all's), whose refusals mean different things (the snapshot asked again; nothing pulled
    # of the orders the core did not know of). "" for the rest (an action, which its cloids name; the gateway's own
    # quota poll and fill recovery), and in a journal written before it was said
    for_command: str = ""


# RateLimited.request of a refused modify, as the gateways name it (the SDK's modify goes as batchModify)
MODIFY_REQUESTS = frozenset({"batchModify", "modify"})


@event
class QuotaStatus:
    """The address budget as the venue reports it (userRateLimit). ``requested_ts``: when the poll was sent, on
    the same clock as ``ts`` (-1: not known); the count misses the requests still on their way then."""

    ts: float
    used: int
    cap: int
    cum_volume_usd: float
    requested_ts: float = -1.0


@event
class ConnectionLost:
    """The socket is lost. ``silent_since`` (on ``ts``'s clock): for a socket found dead by its silence (no close:
    hyperliquid.md §7), when its last frame arrived: the venue's outage began between it and ``ts``, up to the
    gateway's ``silence_s`` before it was declared (calibration fits the outage from there, not from ``ts``); for one
    dropped by the stalled-book watch (no new book for twice ``book_stall_s``, a resubscribe between: at the
    defaults, how a mute socket is found first), when its last frame of any kind arrived, as for a silence (a book
    stalled on a socket still up goes on bringing trades, pongs and the resubscribe's answer: the venue was up until
    they came). None: a close or a failed connect, told as it happened (and the twin in process)."""

    ts: float
    stream: str
    silent_since: float | None = None


@event
class ConnectionRestored:
    """The socket is back. ``refused_ts`` (on ``ts``'s clock): the start of this outage's last reconnect attempt
    the venue did not take, or the drop's time when its first one was taken: the venue's own outage ended after it,
    and what came after is the agent's reconnect backoff (calibration fits the venue's part). None: not known (the
    twin in process, which reconnects as its outage ends, and journals written before it was recorded). (Not a NaN
    default: an event holding NaN is not equal to its own copy once pickled, nor to itself read back from a
    journal.)"""

    ts: float
    stream: str
    refused_ts: float | None = None


@event
class OpenOrder:
    cloid: str
    oid: int
    side: Side
    px: float
    sz: float
    reduce_only: bool


@event
class AccountSnapshot:
    """The venue's view of the account, used to reconcile (after a restart, a reconnect, a timeout)."""

    ts: float
    position: float
    entry_px: float
    account_value: float
    margin_used: float
    open_orders: tuple[OpenOrder, ...] = ()
    last_fill_tid: int = 0  # the id (fill_key) of the newest fill already in ``position`` (later fills are not)
    requested_ts: float = -1.0  # when the request that produced it was sent (replies can overtake)
    venue_time_ms: int = 0  # the venue's time of the position it reports
    # the IP weight its requests spent, the fill query's pages weighed by the rows they returned (0: not told);
    # the core counted SNAPSHOT_SENT_WEIGHT when it asked, and adds the rest when this comes
    ip_weight: int = 0
    # the venue's liquidationPx of the position, the mark at which it takes the position away whatever orders we have
    # on their way (AgentCore._liquidation_exposure sizes near it); 0: none (no position, or the venue's null: no
    # positive price liquidates it). (Not nan: an event with a nan field is not equal to itself read back)
    liquidation_px: float = 0.0
    # how the venue margins the position, for moving that price with our fills until the next snapshot
    # (AgentCore._liq_follow): the coin's maximum leverage (its maintenance margin is 1 / (2 x it) of the notional),
    # the user's leverage, and whether the position is isolated. 0: not told (the snapshot's price is used as it is)
    max_leverage: float = 0.0
    leverage: float = 0.0
    isolated: bool = False
    # with no position: the same three for the one a fill would open (the coin's meta, the user's leverage setting;
    # 0: not known, and it has no price until the next snapshot), and the cross collateral it would be margined by,
    # the cross account's value less its maintenance margin (crossMarginSummary.accountValue -
    # crossMaintenanceMarginUsed: the other coins' positions'). Read only where the three are told
    cross_available: float = 0.0
    # a cross position's mark as the snapshot's state valued it (positionValue / |position|), told with
    # cross_available (then this position's own maintenance in it too): where the venue gives the position no price
    # (null: a well-collateralised long), Z = mark x (s - m|s|) - cross_available all the same (the venue's formula,
    # docs trading/liquidations: price = mark - cross_available / (s - m|s|)). 0: not told
    mark_px: float = 0.0
    # an isolated position's rawUsd (its row's leverage.rawUsd: its own margin less s x entry, so that its equity is
    # rawUsd + s x mark): where the venue gives it no price (null: its margin at least s x entry, rawUsd >= 0; one
    # short of it by less than its maintenance still has a price), Z = -rawUsd all the same (equity(L) = m|s|L
    # solved for L). None: not told (a cross position, or a reply without)
    raw_usd: float | None = None
    # the coin's margin tiers (lower bound, max leverage), lowest first, where its margin table has several (meta's
    # marginTables: the maintenance margin is then the rate of the tier the notional is in less that tier's deduction,
    # common/margin_tiers.py); empty: one tier, at max_leverage
    margin_tiers: tuple[tuple[float, int], ...] = ()


@event
class IpWeightSpent:
    """IP weight a gateway or a driver spent on requests of its own that the core did not send, so could not count
    as it sent them: each quota poll as it is sent (``request``: userRateLimit); the fill and funding recovery after
    a reconnect (userFillsByTime, userFunding), its pages weighed by the rows they returned; the live shutdown's own
    snapshots and cancel-alls (accountSnapshot, cancelAll), as they are sent; the cancels of what a cancel-all naming
    its known orders finds listed after theirs (``weights.LISTED_CANCELS``), as they are sent. The core adds it to
    the minute's weight, and ``items`` to the address budget: a cancel-all's cancels are address actions, one each
    (hyperliquid.md §5), which the core's count missed while only its weight was told. Also an action refused as
    expired: the venue charges its items ``weights.EXPIRED_COST`` times, the core counted them once (weight 0, "...
    (expired)")."""

    ts: float
    weight: int
    request: str
    items: int = 0  # address-budget items (the orders a cancel-all cancels; 0 for an info request)
    # the orders a cancel action of the gateway's own names (LISTED_CANCELS's, as its RateLimited would name them):
    # a refusal of it for the address budget names them too, and the core then counts it as taking no slow lane
    # (RequestBudget.note_refused); () for the rest, and in a journal written before it was said
    cloids: tuple[str, ...] = ()


AFTER_CYCLE = "after_cycle"


@event
class Timer:
    """A quote cycle (``name`` "cycle"), or, fed by the drivers right after each one's commands are sent and
    at the same ``ts``, ``AFTER_CYCLE``: the core's work that need not delay those commands."""

    ts: float
    name: str = "cycle"


Event = Union[
    BookUpdated, BboUpdated, TradeObserved, OrderAcknowledged, OrderRejected, CancelAcknowledged, CancelRejected,
    ModifyAcknowledged, ModifyRejected, FillReceived, FundingPaid, OrderClosedByVenue, AccountChangedByVenue,
    RateLimited, QuotaStatus, ConnectionLost, ConnectionRestored, AccountSnapshot, IpWeightSpent, Timer,
    ScheduleCancelAcknowledged, ScheduleCancelCleared, ScheduleCancelRefused, ScheduleCancelUnanswered,
]

# ----------------------------------------------------------------------------- commands


# the three order commands are NamedTuples, not frozen dataclasses: reconcile makes one per request item on the
# quote cycle's path to the wire, and a frozen dataclass's __init__ costs some 1.5 µs (one object.__setattr__ a
# field), a tuple's a fifth of that. Immutable and compared by value alike; never empty, so never falsy.


class PlaceOrder(NamedTuple):
    cloid: str
    side: Side
    px: float
    sz: float
    tif: Tif = Tif.ALO
    reduce_only: bool = False


class CancelOrder(NamedTuple):
    cloid: str


class ModifyOrder(NamedTuple):
    """Cancel-and-replace at the venue: the replacement loses queue priority. Only for an acknowledged
    order with nothing else pending (a refusal names the order, not the request it refused)."""

    cloid: str
    new_cloid: str
    px: float
    sz: float
    tif: Tif = Tif.ALO
    reduce_only: bool = False
    side: Side | None = None  # the order's side; the venue's modify needs it (None: the gateway remembers it)


@dataclass(frozen=True, slots=True)
class CancelAll:
    """Cancel every order of ours the venue lists. ``known``: the cloids the core counts live, which a gateway may
    cancel at once, beside the listing (openOrders) whose cancels catch the rest a round trip later."""

    known: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScheduleCancel:
    """Arm (``at_ts`` seconds on the driver's clock) or clear (None) the venue's dead-man's switch. ``sent_ts``: a
    clear's send time on the same clock, which its acknowledgement names (``ScheduleCancelCleared``), as an arm's
    names its ``at_ts``: the core matches it to its last command, so a clear's answer coming after a newer arm does
    not read as the switch cleared. (None: an arm, or a clear whose answer nobody matches.)"""

    at_ts: float | None
    sent_ts: float | None = None


@dataclass(frozen=True, slots=True)
class RequestAccountSnapshot:
    pass


@dataclass(frozen=True, slots=True)
class Batch:
    """Several place/cancel/modify commands sent as one venue action (counts n against the address quota)."""

    commands: tuple = field(default_factory=tuple)


Command = Union[PlaceOrder, CancelOrder, ModifyOrder, CancelAll, ScheduleCancel, RequestAccountSnapshot, Batch]

# RateLimited.for_command of the info requests made for a command: a snapshot's parts, and a cancel-all's listing
# (openOrders, as a snapshot's; refused, it pulled none of the orders the core did not name)
FOR_SNAPSHOT = RequestAccountSnapshot.__name__
FOR_CANCEL_ALL = CancelAll.__name__
