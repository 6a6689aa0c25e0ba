"""The twin's own API vocabulary: the venue's action model, replies and pushes, as typed objects.

They mirror Hyperliquid's /exchange actions, /info replies and websocket channels one to one,
so that the in-process gateway and the loopback server are both thin adapters: the server only
turns these into the venue's JSON and back. Prices and sizes are floats here; the server parses
the wire's decimal strings and checks them with the venue's rules before they get this far.
"""
from __future__ import annotations

from typing import Union

from common.message import message


# ----------------------------------------------------------------------------- actions


@message
class OrderSpec:
    """One order of an order action (the venue's order wire: a, b, p, s, r, t, c)."""

    coin: str
    is_buy: bool
    px: float
    sz: float
    reduce_only: bool = False
    tif: str = "Alo"  # "Alo" | "Ioc" | "Gtc"
    cloid: str | None = None


@message
class OrderAction:
    orders: tuple[OrderSpec, ...]


@message
class CancelAction:
    cancels: tuple[tuple[str, int], ...]  # (coin, oid)


@message
class CancelByCloidAction:
    cancels: tuple[tuple[str, str], ...]  # (coin, cloid)


@message
class ModifyAction:
    """batchModify: each (oid or cloid, new order). Cancel-and-replace: the new order queues last.

    ``always_place`` is the venue's ``"a": true``: the new orders are placed as given, even if they take;
    without it each must be post-only (a Gtc that would rest is placed as Alo)."""

    modifies: tuple[tuple[Union[int, str], OrderSpec], ...]
    always_place: bool = False


@message
class ScheduleCancelAction:
    """Dead-man's switch: cancel every open order at ``time_s`` (simulated seconds); None clears it."""

    time_s: float | None


@message
class UpdateLeverageAction:
    coin: str
    leverage: int
    is_cross: bool = True


@message
class UpdateIsolatedMarginAction:
    """Margin into (``amount_usd`` > 0) or out of (< 0) the coin's isolated position: the venue's
    ``updateIsolatedMargin``, its ``ntli`` in millionths of a USDC. ``is_buy`` names the position's side (the SDK
    always sends true)."""

    coin: str
    amount_usd: float
    is_buy: bool = True


@message
class NoopAction:
    pass


Action = Union[OrderAction, CancelAction, CancelByCloidAction, ModifyAction, ScheduleCancelAction,
               UpdateLeverageAction, UpdateIsolatedMarginAction, NoopAction]


def action_size(action: Action) -> int:
    """How many requests the action costs against the address budget (a batch of n counts n)."""
    if isinstance(action, OrderAction):
        return len(action.orders)
    if isinstance(action, (CancelAction, CancelByCloidAction)):
        return len(action.cancels)
    if isinstance(action, ModifyAction):
        return len(action.modifies)
    return 1


# ----------------------------------------------------------------------------- replies


@message
class Resting:
    oid: int
    cloid: str | None = None


@message
class Filled:
    total_sz: float
    avg_px: float
    oid: int
    cloid: str | None = None


@message
class StatusError:
    """A per-item error, with the venue's exact text (including the live ``asset=N`` suffix)."""

    error: str


SUCCESS = "success"  # the venue's bare string status for a successful cancel
# The venue refuses a signed action of more than this many items, whole (measured for cancels; hyperliquid.md §2.4).
MAX_BATCH = 200
OVER_WEIGHT = f"Signed action over weight limit of {MAX_BATCH}."

Status = Union[Resting, Filled, StatusError, str]


@message
class ActionOk:
    """HTTP 200 ``{"status":"ok","response":{"type":kind,"data":{"statuses":[...]}}}`` (no data for "default")."""

    kind: str
    statuses: tuple[Status, ...] = ()


@message
class ActionErr:
    """HTTP 200 ``{"status":"err","response":message}``: the whole action was refused."""

    message: str


@message
class HttpError:
    """A non-200 reply: 429 with body ``null`` for the IP limit, 422 for a malformed body."""

    status: int
    body: str


@message
class TransportFailure:
    """The request never got an HTTP answer (connection reset during an outage)."""

    reason: str


Reply = Union[ActionOk, ActionErr, HttpError, TransportFailure]

# ----------------------------------------------------------------------------- pushes (websocket channels)


@message
class BookPush:
    """Channel l2Book: levels best first as (px, sz, n)."""

    coin: str
    time_ms: int
    bids: tuple[tuple[float, float, int], ...]
    asks: tuple[tuple[float, float, int], ...]


@message
class BboPush:
    """Channel bbo: the best bid and ask as (px, sz, n), None for a side with none. The venue sends it "only when
    the bbo changes in a block"."""

    coin: str
    time_ms: int
    bid: tuple[float, float, int] | None
    ask: tuple[float, float, int] | None


ANON_ADDRESS = "0x" + "00" * 20  # the other party of a client's trade: the twin's market has no addresses


@message
class TradePush:
    """Channel trades: one print; ``side`` "B" when the buyer was the aggressor. ``users`` is the venue's
    [buyer, seller] pair when a client was one of them (None: the market's own flow, anonymous)."""

    coin: str
    side: str
    px: float
    sz: float
    time_ms: int
    tid: int  # the venue's: a 50-bit hash of the buyer's and seller's oids, in no order (exchange.trade_tid)
    taker_oid: int  # the aggressor's order, whose transaction the print is of: its ``hash`` (fill_hash)
    users: tuple[str, str] | None = None


def fill_hash(taker_oid: int) -> str:
    """The venue's transaction hash on a print or fill (the trades channel's and userFills' ``hash``): the taker
    order's transaction, shared by every print of a sweep (one a maker it met, each its own tid) and every fill of
    the order, and of the other orders of its action (a batch is one transaction). The twin has no transactions: the
    first oid a client's action took stands for its own (a single order's: its oid), an anonymous market order's
    oid for its (a client's oids and the market's anonymous ones never meet; exchange._anon_oid). Which hash the
    maker's fill of a trade carries is not in hyperliquid.md: the twin gives it the trade's, its print's.
    Calibration groups a sweep's prints into one aggressor by it (calibration/observe.py ``_aggressors``)."""
    return f"0x{taker_oid:064x}"


@message
class TradesSnapshot:
    """Channel trades, on a subscription: the coin's last prints (oldest first) in one push, served as one frame
    whose data is their array, as the venue's subscription ack sends a time series' snapshot (hyperliquid.md §4).
    Sent one push a print, it went out one frame a print."""

    coin: str
    trades: tuple[TradePush, ...]


@message
class OrderInfo:
    """The ``order`` object the venue shows in openOrders and orderUpdates."""

    coin: str
    side: str
    limit_px: float
    sz: float
    oid: int
    timestamp_ms: int
    orig_sz: float
    cloid: str | None
    reduce_only: bool
    tif: str


@message
class OrderUpdate:
    """One element of an orderUpdates frame: status is the venue's word (open, filled, canceled,
    marginCanceled, ...)."""

    order: OrderInfo
    status: str
    status_time_ms: int


@message
class OrderUpdatePush:
    """Channel orderUpdates: one frame, whose data is an array (the venue's frame carries what one block did to
    the user's orders: a modify's cancel and new order, a batch's every order, arrive together)."""

    updates: tuple[OrderUpdate, ...]


@message
class FillInfo:
    """One userFills row."""

    coin: str
    px: float
    sz: float
    side: str
    time_ms: int
    start_position: float
    direction: str
    closed_pnl: float
    oid: int
    tid: int  # the trade's (its print's too): a 50-bit hash of the two oids, in no order (exchange.trade_tid)
    crossed: bool  # True when this side was the taker
    fee: float
    cloid: str | None
    taker_oid: int  # the trade's taker order (``oid`` when crossed) or its batch's first, the hash's (fill_hash)
    liquidation: tuple[str, float, str] | None = None  # (liquidatedUser, markPx, method) on a liquidation's fill


@message
class FillsPush:
    """Channel userFills (and the ``fills`` variant of the ``user`` channel)."""

    user: str
    fills: tuple[FillInfo, ...]
    is_snapshot: bool = False


@message
class FundingInfo:
    """One funding payment of one position (the venue's WsUserFunding: time, coin, usdc, szi, fundingRate)."""

    coin: str
    usdc: float  # signed as the venue's: negative when the position paid
    szi: float  # the position it was charged on
    rate: float  # the hourly rate applied (positive: longs pay)
    time_ms: int  # the settlement's venue time (a whole hour)


@message
class FundingPush:
    """A funding payment, on channel ``user`` (the venue sends each as ``{"funding": {...}}``) and channel
    ``userFundings`` (``fundings``: a list; the first frame of a subscription is the history, ``is_snapshot``)."""

    user: str
    fundings: tuple[FundingInfo, ...]
    is_snapshot: bool = False


@message
class UserEventPush:
    """Channel ``user``: liquidation or nonUserCancel events (fills go through FillsPush, funding FundingPush)."""

    user: str
    kind: str  # "nonUserCancel" | "liquidation"
    data: tuple


@message
class ConnectionEvent:
    """Not a venue frame: the socket closed (``up`` False) or opened again (``up`` True)."""

    up: bool
    time_ms: int


@message
class ActiveAssetData:
    """A user's trading room on one coin: the ``activeAssetData`` info answer, and the frame of the channel of that
    name. Each pair is (buy, sell). ``available_usd``: the margin the account has left for a new order on the coin's
    dex; ``max_trade_sz``: the largest order the twin's margin check would take at the mark (an order against the
    position closes it first, which takes no margin). ``raw_usd`` only for an isolated position."""

    user: str
    coin: str
    isolated: bool
    leverage: int
    raw_usd: float | None
    max_trade_sz: tuple[float, float]
    available_usd: tuple[float, float]
    mark: float | None


Push = Union[BookPush, BboPush, TradePush, TradesSnapshot, OrderUpdatePush, FillsPush, FundingPush, UserEventPush,
             ConnectionEvent, ActiveAssetData]
