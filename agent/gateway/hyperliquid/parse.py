"""The venue's JSON (websocket frames and REST replies) as gateway events and small typed rows.

Shapes are hyperliquid.md §1, §2.3 and §4. Nothing here raises on bad input: a message that does
not have the venue's shape is counted in ``VenueParser.malformed``, logged (truncated) and dropped: a fill row
alone, not the frame or page it came in, and a fill's optional number (closedPnl, startPosition) alone, not the fill.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from agent.gateway.events import (
    BboUpdated, BookUpdated, FillReceived, FundingPaid, OpenOrder, OrderClosedByVenue, QuotaStatus, Side, TradeObserved,
)
from agent.gateway.base import order_name
from agent.gateway.fills import TID_BITS, fill_key  # (fill_key raises ValueError: a malformed row, as any)
from agent.gateway.hyperliquid.wire import is_address

log = logging.getLogger(__name__)

GREETING = "Websocket connection established."

# orderUpdates statuses meaning the venue ended a resting order on its own (the same set as the
# in-process gateway: these become OrderClosedByVenue; "canceled" and "filled" answer our own actions)
VENUE_CLOSE_STATUSES = frozenset({
    "marginCanceled", "reduceOnlyCanceled", "scheduledCancel", "liquidatedCanceled", "selfTradeCanceled",
    "openInterestCapCanceled", "vaultWithdrawalCanceled", "siblingFilledCanceled", "delistedCanceled",
})

# every other status the venue documents (hyperliquid.md §1): our own actions' answers (their replies say so),
# and rejections of orders that never rested. Any status not listed here or above is counted and logged.
OTHER_ORDER_STATUSES = frozenset({
    "open", "filled", "canceled", "triggered", "rejected", "tickRejected", "minTradeNtlRejected",
    "perpMarginRejected", "reduceOnlyRejected", "badAloPxRejected", "iocCancelRejected", "badTriggerPxRejected",
    "marketOrderNoLiquidityRejected", "positionIncreaseAtOpenInterestCapRejected",
    "positionFlipAtOpenInterestCapRejected", "tooAggressiveAtOpenInterestCapRejected", "openInterestIncreaseRejected",
    "insufficientSpotBalanceRejected", "oracleRejected", "perpMaxPositionRejected",
})

T = TypeVar("T")


class MalformedMessage(ValueError):
    """A venue message without the venue's shape (internal: the parser counts it, callers never see it)."""


# ----------------------------------------------------------------------------- typed REST rows


@dataclass(frozen=True, slots=True)
class Resting:
    oid: int


@dataclass(frozen=True, slots=True)
class Filled:
    oid: int
    total_sz: float
    avg_px: float


@dataclass(frozen=True, slots=True)
class ItemError:
    text: str


@dataclass(frozen=True, slots=True)
class ActionReply:
    """An /exchange answer (HTTP 200): ``ok`` with per-item statuses, or the whole action refused with ``error``.

    Statuses are ``Resting``, ``Filled``, ``ItemError`` or the venue's bare strings ("success", ...).
    """

    ok: bool
    statuses: tuple = ()
    error: str = ""
    kind: str = ""


@dataclass(frozen=True, slots=True)
class AccountState:
    """The parts of clearinghouseState a snapshot needs (position of one coin, margin summary, time)."""

    position: float
    entry_px: float
    account_value: float
    margin_used: float
    time_ms: int
    liquidation_px: float = 0.0  # the position's liquidationPx (0: no position, or the venue's null)
    max_leverage: float = 0.0  # its maxLeverage, leverage.value and whether leverage.type is isolated (0: not told)
    leverage: float = 0.0
    isolated: bool = False
    # crossMarginSummary.accountValue less crossMaintenanceMarginUsed: the collateral a cross position opened from
    # flat is margined by (AccountSnapshot.cross_available); None where either is missing or not a number
    cross_available: float | None = None
    # the position's mark, its positionValue / |szi| (AccountSnapshot.mark_px); 0: no position, or not told
    mark_px: float = 0.0
    # an isolated position's leverage.rawUsd (AccountSnapshot.raw_usd); None: cross, no position, or not told
    raw_usd: float | None = None


@dataclass(frozen=True, slots=True)
class OrderRow:
    """One openOrders row."""

    coin: str
    oid: int
    cloid: str | None
    side: Side
    px: float
    sz: float
    reduce_only: bool

    def as_open_order(self) -> OpenOrder:
        return OpenOrder(order_name(self.cloid, self.oid), self.oid, self.side, self.px, self.sz, self.reduce_only)


@dataclass(frozen=True, slots=True)
class AssetInfo:
    """A coin as the venue lists it: its asset id for actions and its size decimals; ``margin_tiers``, its margin
    table's tiers (lower bound, max leverage) where it has several (meta's marginTables by the coin's marginTableId),
    empty for one tier at ``max_leverage``."""

    coin: str
    asset: int
    sz_decimals: int
    max_leverage: int
    dex: str
    margin_tiers: tuple[tuple[float, int], ...] = ()


@dataclass(frozen=True, slots=True)
class WsMessage:
    """One parsed websocket frame: ``kind`` is the channel (or "greeting", "malformed"); ``events`` for the core.

    A userFills frame carries its fills of this coin in ``fills``, each with the venue's fill time in ms,
    the newest time of its fills of any coin in ``newest_ms``, and ``snapshot`` for the frame sent on
    subscribe: the gateway decides which to deliver (``FillDelivery``). A user frame's funding payment of this
    coin is in ``fundings`` (the gateway delivers each once: ``FundingDelivery``).
    """

    kind: str
    events: tuple = ()
    text: str = ""  # the venue's text for "error" frames
    fills: tuple[tuple[int, FillReceived], ...] = ()
    newest_ms: int = 0
    snapshot: bool = False
    fundings: tuple[FundingPaid, ...] = ()


# ----------------------------------------------------------------------------- field helpers


def _num(obj: Any, key: str) -> float:
    """A venue decimal string (or a JSON number) as a float."""
    value = _get(obj, key)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise MalformedMessage(f"{key} = {value!r}")
    try:
        out = float(value)
    except (ValueError, OverflowError):  # OverflowError: a JSON integer past a float's range (~1.8e308)
        raise MalformedMessage(f"{key} = {_short(value)}") from None
    if out != out or out in (float("inf"), float("-inf")):
        raise MalformedMessage(f"{key} = {value!r}")
    return out


def _positive(obj: Any, key: str) -> float:
    """A price or size that is above zero: a fill's, a filled order's (a fill of a negative or no size is no fill)."""
    out = _num(obj, key)
    if not out > 0.0:
        raise MalformedMessage(f"{key} = {obj[key]!r} is not above zero")
    return out


# the largest int a float holds exactly: the core reads venue times and counts as floats. As a time in ms (the year
# 287,000) it is no clock's: 10**400 made a fill id of its own (its good copy was booked too), and as a book's time it
# stopped the core; as userRateLimit's request counts, a cap of 10**400 raised OverflowError in the core
_MAX_EXACT = 1 << 53


def _time_ms(obj: Any, key: str = "time") -> int:
    """A venue time in epoch ms: an int from 0 up to ``_MAX_EXACT``."""
    value = _int(obj, key)
    if not 0 <= value < _MAX_EXACT:
        raise MalformedMessage(f"{key} = {_short(value)}")
    return value


def _int(obj: Any, key: str) -> int:
    value = _get(obj, key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedMessage(f"{key} = {value!r}")
    return value


def _bounded_int(obj: Any, key: str, lo: int, hi: int) -> int:
    """An int from ``lo`` to ``hi``: meta's szDecimals and maxLeverage, which the run is built on. Unbounded, a
    maxLeverage of 10**400 raised OverflowError at every account snapshot (its float), as a szDecimals of 10**400 did
    in the checks before the first order (its lot, 10.0 ** -szDecimals): tracebacks for a venue's odd answer."""
    value = _int(obj, key)
    if not lo <= value <= hi:
        raise MalformedMessage(f"{key} = {_short(value)}: not from {lo} to {hi}")
    return value


def _str(obj: Any, key: str) -> str:
    value = _get(obj, key)
    if not isinstance(value, str):
        raise MalformedMessage(f"{key} = {value!r}")
    return value


def _margin_of(p: dict) -> tuple[float, float, bool]:
    """A clearinghouseState position's (maxLeverage, leverage.value, leverage.type is isolated), each read where it is
    a number (a type) and (0.0, 0.0, False) as a whole otherwise: extras the core moves the liquidation price by
    (AccountSnapshot), which a reply without them, or with another shape, must not fail."""
    lev, top = p.get("leverage"), p.get("maxLeverage")
    value = lev.get("value") if isinstance(lev, dict) else None
    kind = lev.get("type") if isinstance(lev, dict) else None
    for x in (top, value):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0.0 < x < 1e6:
            return 0.0, 0.0, False
    if kind not in ("cross", "isolated"):
        return 0.0, 0.0, False
    return float(top), float(value), kind == "isolated"


def _raw_usd_of(p: dict) -> float | None:
    """An isolated clearinghouseState position's leverage.rawUsd (AccountState.raw_usd), or None: an extra a row
    without it (a cross one's), or with another shape, must not fail."""
    lev = p.get("leverage")
    if not isinstance(lev, dict) or lev.get("type") != "isolated":
        return None
    try:
        raw = _num(lev, "rawUsd")
    except MalformedMessage:
        return None
    return raw if -math.inf < raw < math.inf else None


def _cross_available(body: dict) -> float | None:
    """clearinghouseState's cross collateral beyond its maintenance (AccountState.cross_available), or None: an extra
    a reply without it, or with another shape, must not fail."""
    try:
        return _num(_get(body, "crossMarginSummary"), "accountValue") - _num(body, "crossMaintenanceMarginUsed")
    except MalformedMessage:
        return None


def _mark_of(p: dict, pos: float) -> float:
    """A clearinghouseState position's mark, its positionValue / |szi| (AccountState.mark_px), or 0.0: an extra a
    row without it, or with another shape, must not fail."""
    try:
        mark = _num(p, "positionValue") / abs(pos) if pos else 0.0
    except MalformedMessage:
        return 0.0
    return mark if 0.0 < mark < math.inf else 0.0


def _get(obj: Any, key: str) -> Any:
    if not isinstance(obj, dict):
        raise MalformedMessage(f"expected an object with {key!r}, got {type(obj).__name__}")
    if key not in obj:
        raise MalformedMessage(f"missing {key!r}")
    return obj[key]


def _list(value: Any, what: str) -> list:
    if not isinstance(value, list):
        raise MalformedMessage(f"{what} is not a list: {type(value).__name__}")
    return value


def _side(obj: Any, key: str = "side") -> Side:
    s = _get(obj, key)
    if s == "B":
        return Side.BUY
    if s == "A":
        return Side.SELL
    raise MalformedMessage(f"{key} = {s!r}")


def _trade_key(t: dict) -> int:
    """A print's ``fill_key``; 0 (not known) without a readable time and tid: a print is not worth a frame."""
    time_ms, tid = t.get("time"), t.get("tid")
    if type(time_ms) is not int or type(tid) is not int or not 0 <= time_ms < _MAX_EXACT \
            or not 0 <= tid < 1 << TID_BITS:
        return 0
    return fill_key(time_ms, tid)


def _cloid(obj: dict) -> str | None:
    c = obj.get("cloid")
    if c is None:
        return None
    if not isinstance(c, str):
        raise MalformedMessage(f"cloid = {c!r}")
    return c.lower()


def _two_sides(data: Any, key: str) -> tuple[str, list, int]:
    """An l2Book or bbo frame's coin, its two sides (bids, asks) under ``key``, and its time."""
    coin = _str(data, "coin")
    sides = _list(_get(data, key), key)
    if len(sides) != 2:
        raise MalformedMessage(f"{key} has {len(sides)} sides")
    return coin, sides, _time_ms(data)


def _levels(side: Any) -> tuple[tuple[float, float], ...]:
    """A book side's levels: each price and size above zero (a level of no size is no level; taken, a negative size
    skewed the book-imbalance signal and the spread the quotes are clamped to)."""
    return tuple((_positive(lv, "px"), _positive(lv, "sz")) for lv in _list(side, "levels side"))


# ----------------------------------------------------------------------------- the parser


class VenueParser:
    """Venue JSON → events and rows for one coin and one account; counts what it cannot read."""

    def __init__(self, coin: str, user: str) -> None:
        self.coin = coin
        self.user = user.lower()
        self.malformed = 0

    def _safe(self, what: str, raw: Any, fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        # ArithmeticError: a number past a float's range; RecursionError: JSON nested deeper than Python recurses
        except (MalformedMessage, KeyError, TypeError, ValueError, IndexError, AttributeError, ArithmeticError,
                RecursionError) as e:
            self.malformed += 1
            log.warning("malformed %s from the venue (%s): %.200s", what, e, _short(raw))
            return None

    # ------------------------------------------------------------------ websocket

    def ws(self, text: str | bytes, ts: float) -> WsMessage:
        """One websocket text frame. Unknown channels are "ignored" (not malformed): the venue adds some."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                self._safe("websocket frame", text, _raise_not_utf8)
                return WsMessage("malformed")
        if text == GREETING:
            return WsMessage("greeting")
        msg = self._safe("websocket frame", text, lambda: json.loads(text))
        if msg is None:
            return WsMessage("malformed")
        if not isinstance(msg, dict) or not isinstance(msg.get("channel"), str):
            self._safe("websocket frame", text, lambda: _raise("no channel"))
            return WsMessage("malformed")
        channel = msg["channel"]
        if channel == "userFills":
            parsed = self._safe("userFills frame", text, lambda: self._user_fills(msg.get("data"), ts))
            return parsed if parsed is not None else WsMessage("malformed")
        if channel == "user":
            parsed = self._safe("user frame", text, lambda: self._user_events(msg.get("data"), ts))
            return parsed if parsed is not None else WsMessage("malformed")
        handler = self._WS.get(channel)
        if handler is None:
            if channel == "error":
                data = msg.get("data")
                return WsMessage("error", text=data if isinstance(data, str) else _short(data))
            if channel in ("pong", "subscriptionResponse", "post", "notification"):
                return WsMessage(channel)
            return WsMessage("ignored")
        events = self._safe(f"{channel} frame", text, lambda: handler(self, msg.get("data"), ts))
        if events is None:
            return WsMessage("malformed")
        return WsMessage(channel, tuple(events))

    def _book(self, data: Any, ts: float) -> list:
        coin, levels, time_ms = _two_sides(data, "levels")
        if coin != self.coin:
            return []
        return [BookUpdated(ts, coin, _levels(levels[0]), _levels(levels[1]), time_ms)]

    def _bbo(self, data: Any, ts: float) -> list:
        """{"coin", "time", "bbo": [bidLevel | null, askLevel | null]}: the best prices (a side the venue has no
        order on is null: NaN here)."""
        coin, levels, time_ms = _two_sides(data, "bbo")
        if coin != self.coin:
            return []
        bid, ask = (math.nan if lv is None else _positive(lv, "px") for lv in levels)
        return [BboUpdated(ts, coin, bid, ask, time_ms)]

    def _trades(self, data: Any, ts: float) -> list:
        out = []
        for t in _list(data, "trades data"):
            coin = _str(t, "coin")
            px, sz, side = _positive(t, "px"), _positive(t, "sz"), _side(t)  # (a print of nothing fed the estimators)
            if coin == self.coin:
                h = t.get("hash")  # (the taker's transaction: a sweep's prints share it; "" not known)
                out.append(TradeObserved(ts, coin, px, sz, side, _trade_key(t), h if type(h) is str else ""))
        return out

    def _user_fills(self, data: Any, ts: float) -> WsMessage:
        fills = _list(_get(data, "fills"), "fills")
        user = data.get("user")
        if user is not None and (not isinstance(user, str) or user.lower() != self.user):
            return WsMessage("userFills")
        snapshot = data.get("isSnapshot", False)
        if not isinstance(snapshot, bool):  # read as live, the history it holds was given as new fills
            raise MalformedMessage(f"isSnapshot = {_short(snapshot)}")
        rows, newest = self._timed_fills(fills, ts, "userFills row")
        return WsMessage("userFills", fills=rows, newest_ms=newest, snapshot=snapshot)

    def _user_events(self, data: Any, ts: float) -> WsMessage:
        """userEvents (channel ``user``): fills (the gateway delivers each tid once, whichever channel it
        came on first), orders the venue cancelled on its own, liquidations (for the operator) and the hourly
        funding payments (for the ledger)."""
        if not isinstance(data, dict):
            raise MalformedMessage(f"user data = {_short(data)}")
        if "fills" in data:
            rows, newest = self._timed_fills(_list(data["fills"], "fills"), ts, "user fill row")
            return WsMessage("user", fills=rows, newest_ms=newest)
        if "nonUserCancel" in data:
            out = []
            for c in _list(data["nonUserCancel"], "nonUserCancel"):
                coin, oid = _str(c, "coin"), _int(c, "oid")
                if coin == self.coin:
                    out.append(OrderClosedByVenue(ts, order_name("", oid), oid, "nonUserCancel"))
            return WsMessage("user", tuple(out))
        if "liquidation" in data:
            return WsMessage("liquidation", text=_short(data["liquidation"]))
        if "funding" in data:
            payment = self._funding(data["funding"], ts)
            return WsMessage("funding", text=_short(data["funding"]), fundings=(payment,) if payment else ())
        return WsMessage("ignored")

    def _funding(self, f: Any, ts: float) -> FundingPaid | None:
        """One funding payment, the venue's WsUserFunding ``{time, coin, usdc, szi, fundingRate}``; None for another
        coin's (its other fields not read). ``usdc`` keeps the venue's sign: negative when the position paid."""
        coin = _str(f, "coin")
        if coin != self.coin:
            return None
        time_ms = _time_ms(f)
        return FundingPaid(ts, coin, _num(f, "usdc"), _num(f, "szi"), _num(f, "fundingRate"), time_ms)

    def _timed_fills(self, fills: list, ts: float, what: str,
                     whole: bool = False) -> tuple[tuple[tuple[int, FillReceived], ...], int]:
        """(this coin's fills with their time in ms, the newest time of a row read, every coin). A malformed row is
        counted and logged, and the rest kept: one bad row refused the whole frame or page, and a fill query's page
        refused on every attempt ended the recovery there, its other fills and those of the pages after it lost.
        ``whole``: a malformed row refuses them all (raises), for an account snapshot's fill query, whose watermark
        is its newest fill: without the row's, a fill in the snapshot's position given since was booked again."""
        if whole:
            rows = [(_time_ms(f), self._fill(f, ts)) for f in fills]
        else:
            rows = []
            for f in fills:
                row = self._safe(what, f, lambda: (_time_ms(f), self._fill(f, ts)))
                if row is not None:
                    rows.append(row)
        newest = max((t for t, _ in rows), default=0)
        return tuple((t, f) for t, f in rows if f is not None), newest

    def _fill(self, f: Any, ts: float) -> FillReceived | None:
        """This coin's fill; None for another coin's, whose other fields are not read (an odd row of a
        coin we do not trade must not cost us a snapshot's fills)."""
        if _str(f, "coin") != self.coin:
            return None
        oid, tid = _int(f, "oid"), fill_key(_time_ms(f), _int(f, "tid"))
        px, sz, fee = _positive(f, "px"), _positive(f, "sz"), _num(f, "fee")
        side = _side(f)
        crossed = _get(f, "crossed")
        if not isinstance(crossed, bool):
            raise MalformedMessage(f"crossed = {crossed!r}")
        # (the venue always sends it; without it, not known: 0 would be the venue's word that a close realised 0)
        closed = self._optional_num(f, "closedPnl")
        start = self._optional_num(f, "startPosition")  # (likewise: not known, not 0)
        return FillReceived(ts, order_name(_cloid(f), oid), oid, px, sz, side, fee, not crossed, tid, closed, start)

    def _optional_num(self, f: dict, key: str) -> float | None:
        """A fill's number the ledger can do without (closedPnl, startPosition: it works them out itself): None when
        absent, and when malformed (counted and logged): that refused the fill, a whole frame or page with it."""
        if key not in f:
            return None
        return self._safe(f"fill's {key}", f, lambda: _num(f, key))

    def _order_updates(self, data: Any, ts: float) -> list:
        out = []
        for u in _list(data, "orderUpdates data"):
            order = _get(u, "order")
            status = _str(u, "status")
            coin, oid = _str(order, "coin"), _int(order, "oid")
            cloid = _cloid(order)
            if coin != self.coin:
                continue
            if status in VENUE_CLOSE_STATUSES or (status not in OTHER_ORDER_STATUSES and self._unknown(status)):
                out.append(OrderClosedByVenue(ts, order_name(cloid, oid), oid, status))
        return out

    def _unknown(self, status: str) -> bool:
        """A status the venue does not document: counted (as malformed) and logged; True when it reads as a cancel
        ("...Canceled", "...Cancel"), which ends the order as the documented venue cancels do, under its own word:
        an order the venue ended and the agent counts as resting would be quoted against until the next audit."""
        self.malformed += 1
        cancel = "cancel" in status.lower()
        log.warning("order status %.60r is not one the venue documents: %s", status,
                    "the order is taken as cancelled by the venue" if cancel else "ignored")
        return cancel

    _WS = {"l2Book": _book, "bbo": _bbo, "trades": _trades, "orderUpdates": _order_updates}

    # ------------------------------------------------------------------ REST replies

    def action_reply(self, body: Any) -> ActionReply | None:
        """An /exchange JSON body (HTTP 200)."""
        return self._safe("exchange reply", body, lambda: _action_reply(body))

    def book(self, body: Any, ts: float) -> BookUpdated | None:
        """An l2Book /info answer (the websocket frame's data shape) for this coin."""
        def parse() -> BookUpdated:
            events = self._book(body, ts)
            if not events:
                raise MalformedMessage(f"book of {body.get('coin')!r}, not {self.coin!r}")
            return events[0]
        return self._safe("l2Book", body, parse)

    def account_state(self, body: Any) -> AccountState | None:
        """clearinghouseState: this coin's position (0 when not listed), the margin summary and the answer's time,
        the snapshot's venue time (malformed below 0 or past any clock: 10**400 raised OverflowError in the clock
        checks that divide it)."""
        def parse() -> AccountState:
            summary = _get(body, "marginSummary")
            pos, entry, liq, margin, mark, raw = 0.0, 0.0, 0.0, (0.0, 0.0, False), 0.0, None
            for ap in _list(_get(body, "assetPositions"), "assetPositions"):
                p = _get(ap, "position")
                if _str(p, "coin") == self.coin:
                    pos, entry = _num(p, "szi"), _num(p, "entryPx") if p.get("entryPx") is not None else 0.0
                    liq = _num(p, "liquidationPx") if p.get("liquidationPx") is not None else 0.0
                    margin = _margin_of(p)
                    mark = _mark_of(p, pos)
                    raw = _raw_usd_of(p)
            return AccountState(pos, entry, _num(summary, "accountValue"), _num(summary, "totalMarginUsed"),
                                _time_ms(body), liq, *margin, _cross_available(body), mark, raw)
        return self._safe("clearinghouseState", body, parse)

    def leverage_setting(self, body: Any) -> tuple[float, bool] | None:
        """activeAssetData: the user's leverage on this coin and whether it is isolated (``leverage.value`` and
        ``.type``), which the venue keeps with no position open; None (counted malformed, logged) for an answer of
        another shape, or of another coin or user."""
        def parse() -> tuple[float, bool]:
            if _str(body, "coin") != self.coin or _str(body, "user").lower() != self.user:
                raise MalformedMessage(f"the setting of {body.get('user')!r:.50} on {body.get('coin')!r:.50}")
            lev = _get(body, "leverage")
            value, kind = _get(lev, "value"), _get(lev, "type")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1e6:
                raise MalformedMessage(f"leverage.value = {value!r:.50}")
            if kind not in ("cross", "isolated"):
                raise MalformedMessage(f"leverage.type = {kind!r:.50}")
            return float(value), kind == "isolated"
        return self._safe("activeAssetData", body, parse)

    def open_orders(self, body: Any) -> tuple[OrderRow, ...] | None:
        """openOrders rows of this coin. Another coin's row (a shared account's other runs, a spot order) is read
        for its coin alone, as the fills are: an odd field there cost every snapshot and the cancel-all, which
        sent nothing. A row of ours that is malformed fails the reply (a listing missing it would end the order)."""
        def parse() -> tuple[OrderRow, ...]:
            rows = []
            for o in _list(body, "openOrders"):
                if _str(o, "coin") != self.coin:
                    continue
                ro = o.get("reduceOnly", False) if isinstance(o, dict) else False
                rows.append(OrderRow(_str(o, "coin"), _int(o, "oid"), _cloid(o), _side(o), _num(o, "limitPx"),
                                     _num(o, "sz"), ro is True))
            return tuple(rows)
        return self._safe("openOrders", body, parse)

    def fill_page(self, body: Any, ts: float,
                  whole: bool = False) -> tuple[int, int, tuple[tuple[int, FillReceived], ...]] | None:
        """A userFillsByTime page: (rows in it and their newest time in ms, every coin; this coin's fills
        with their time in ms). A malformed row is dropped alone; ``whole``: it refuses the page (``_timed_fills``)."""
        def parse():
            rows = _list(body, "fills")
            fills, newest = self._timed_fills(rows, ts, "userFillsByTime row", whole)
            return len(rows), newest, fills
        return self._safe("userFillsByTime", body, parse)

    def funding_page(self, body: Any, ts: float) -> tuple[int, int, tuple[FundingPaid, ...]] | None:
        """A ``userFunding`` answer (rows ``{"time", "hash", "delta": {"type": "funding", "coin", "usdc", "szi",
        "fundingRate", ...}}``, oldest first): (rows in it and their newest time in ms, every coin; this coin's
        payments). A row of another ledger type is skipped."""
        def parse():
            rows = _list(body, "userFunding")
            out = []
            for r in rows:
                delta = _get(r, "delta")
                if _str(delta, "type") != "funding":
                    continue
                payment = self._funding({**delta, "time": _get(r, "time")}, ts)
                if payment is not None:
                    out.append(payment)
            # every row's time read as a fill page's are (``_time_ms``), another coin's too: it is the next page's
            # start, and 10**400 or -5 there (unchecked, as it was) asked for nothing after it, every later
            # payment unrecovered, or for the account's whole history again
            return len(rows), max((_time_ms(r) for r in rows), default=0), tuple(out)
        return self._safe("userFunding", body, parse)

    def quota(self, body: Any, ts: float, requested_ts: float = -1.0) -> QuotaStatus | None:
        """userRateLimit → QuotaStatus (``nRequestsSurplus`` is optional on the venue); ``requested_ts``: when the
        poll was sent."""
        def parse() -> QuotaStatus:
            # counts from 0 to 2**53 (a float's exact ints: the core takes floats of them; a cap of 10**400 raised
            # OverflowError in the core, which stopped the run) and a volume not below 0
            used = _bounded_int(body, "nRequestsUsed", 0, _MAX_EXACT)
            cap = _bounded_int(body, "nRequestsCap", 0, _MAX_EXACT)
            volume = _num(body, "cumVlm")
            if volume < 0.0:
                raise MalformedMessage(f"cumVlm = {_short(body['cumVlm'])}: below 0")
            return QuotaStatus(ts, used, cap, volume, requested_ts)
        return self._safe("userRateLimit", body, parse)

    def asset(self, meta: Any, perp_dexs: Any, coin: str) -> AssetInfo | None:
        """The asset id of ``coin`` (``dex:COIN`` on a HIP-3 dex) from meta and, for HIP-3, perpDexs (§6)."""
        return self._safe("meta", meta, lambda: asset_info(meta, perp_dexs, coin))


def asset_info(meta: Any, perp_dexs: Any, coin: str) -> AssetInfo:
    """Asset id = index in meta.universe on the first dex, else 100000 + dex_index*10000 + index.

    Raises ``MalformedMessage`` for a shape it cannot read and ``KeyError`` when the coin is not listed.
    """
    dex = coin.split(":", 1)[0] if ":" in coin else ""
    dex_index = 0
    if dex:
        names = [d.get("name") if isinstance(d, dict) else None for d in _list(perp_dexs, "perpDexs")]
        if dex not in names:
            raise KeyError(f"dex {dex!r} is not in perpDexs (have {[n for n in names if n]})")
        dex_index = names.index(dex)
    universe = _list(_get(meta, "universe"), "universe")
    for i, row in enumerate(universe):
        if _str(row, "name") == coin:
            base = 0 if dex_index == 0 else 100000 + dex_index * 10000
            return AssetInfo(coin, base + i, _bounded_int(row, "szDecimals", 0, _MAX_SZ_DECIMALS),
                             _bounded_int(row, "maxLeverage", 1, _MAX_LEVERAGE), dex, _coin_tiers(meta, row, coin))
    # what is listed, so a typo or a HIP-3 coin given without its dex is seen at once (the venue lists hundreds:
    # the first few, and how to read them all)
    names = [_str(row, "name") for row in universe]
    listed = ", ".join(names[:_LISTED_SHOWN]) or "no coin"
    if len(names) > _LISTED_SHOWN:
        query = json.dumps({"type": "meta", "dex": dex} if dex else {"type": "meta"})
        listed += f", ... ({len(names)} in all: POST {query} to /info lists them)"
    raise KeyError(f"coin {coin!r} is not in the {'first dex' if not dex else repr(dex)} meta universe, which lists "
                   f"{listed}")


def _coin_tiers(meta: dict, row: dict, coin: str) -> tuple[tuple[float, int], ...]:
    """The coin's margin tiers where its table has several (docs trading/margin-tiers), else (). A row without
    ``marginTableId`` (an older answer) is one tier at its maxLeverage; an id listed in ``marginTables`` is that
    table; one under 50 not listed is the single tier the docs define for it ("For IDs less than 50, there is a
    single tier with max leverage equal to the ID"). Every table is read (``margin_tables``), so a malformed one is
    a malformed meta whichever coin the run trades, as any other field of it."""
    tables = margin_tables(meta.get("marginTables", []))
    if "marginTableId" not in row:
        return ()
    table_id = _bounded_int(row, "marginTableId", 0, _MAX_EXACT)
    tiers = tables.get(table_id)
    if tiers is None:
        if table_id < _FLAT_TABLE_IDS_BELOW:
            return ()
        raise MalformedMessage(f"{coin}'s marginTableId {table_id} is not in marginTables (which lists "
                               f"{sorted(tables)[:_LISTED_SHOWN]})")
    return tiers if len(tiers) > 1 else ()


def margin_tables(value: Any) -> dict[int, tuple[tuple[float, int], ...]]:
    """meta's ``marginTables``, ``[[id, {"description", "marginTiers": [{"lowerBound", "maxLeverage"}...]}]...]``,
    each table's tiers as (lower bound, max leverage). Bounded as the rest of meta: at most ``_MAX_TABLES`` tables of
    ``_MAX_TIERS`` tiers, ids from 0 to 2**53 and each listed once, lower bounds decimals from 0 (the first) to
    ``_MAX_BOUND`` rising, leverages from 1 to ``_MAX_LEVERAGE``; anything else raises MalformedMessage naming
    the table."""
    rows = _list(value, "marginTables")
    if len(rows) > _MAX_TABLES:
        raise MalformedMessage(f"marginTables lists {len(rows)} tables, more than {_MAX_TABLES}")
    out: dict[int, tuple[tuple[float, int], ...]] = {}
    for n, pair in enumerate(rows):
        if not isinstance(pair, list) or len(pair) != 2:
            raise MalformedMessage(f"marginTables[{n}] is not an [id, table] pair: {_short(pair)}")
        table_id = pair[0]
        if isinstance(table_id, bool) or not isinstance(table_id, int) or not 0 <= table_id < _MAX_EXACT:
            raise MalformedMessage(f"marginTables[{n}]'s id = {_short(table_id)}: not an int from 0 to 2**53")
        if table_id in out:
            raise MalformedMessage(f"marginTables lists id {table_id} twice")
        try:
            out[table_id] = _tiers(_list(_get(pair[1], "marginTiers"), "marginTiers"))
        except MalformedMessage as e:
            raise MalformedMessage(f"marginTables id {table_id}: {e}") from None
    return out


def _tiers(rows: list) -> tuple[tuple[float, int], ...]:
    if not 1 <= len(rows) <= _MAX_TIERS:
        raise MalformedMessage(f"{len(rows)} marginTiers, not from 1 to {_MAX_TIERS}")
    tiers: list[tuple[float, int]] = []
    for k, tier in enumerate(rows):
        try:
            bound = _num(tier, "lowerBound")
            if not (bound == 0.0 if k == 0 else tiers[-1][0] < bound <= _MAX_BOUND):
                raise MalformedMessage(f"lowerBound = {_short(tier['lowerBound'])}: the first must be 0, each next "
                                       f"above the last, at most {_MAX_BOUND:g}")
            tiers.append((bound, _bounded_int(tier, "maxLeverage", 1, _MAX_LEVERAGE)))
        except MalformedMessage as e:
            raise MalformedMessage(f"marginTiers[{k}].{e}") from None
    return tuple(tiers)


_FLAT_TABLE_IDS_BELOW = 50  # a marginTableId under this is one tier at that leverage (docs trading/margin-tiers)
_MAX_TABLES = 10_000  # meta's marginTables at most (the venue lists a few dozen)
_MAX_TIERS = 64  # a table's tiers at most (the venue's have 1 to 5)
_MAX_BOUND = 1e15  # a tier's lowerBound at most, USDC (the venue's highest: 150M)
_LISTED_SHOWN = 20  # the coins an unlisted coin's error names
_MAX_SZ_DECIMALS = 6  # a perp's szDecimals at most: its prices have 6 - szDecimals decimals (venue_price_decimals)
_MAX_LEVERAGE = 999_999  # a coin's maxLeverage at most (the venue's are 3 to 50; a position's setting: under 1e6)


def maker_fee_rate(body: Any) -> float:
    """``userFees``' ``userAddRate``: the account's maker ("add liquidity") rate on perps, a fraction of
    notional (negative: a rebate). It is the validator-run dex's rate; a HIP-3 dex's deployer sets its own."""
    return _num(body, "userAddRate")


# userRole's roles that name the account they act for, and the key it is under (the docs' info endpoint, "Query a
# user's role"; the answer's schema as docs.chainstack.com's hyperliquid-info-user-role page and the
# @nktkas/hyperliquid SDK give it: {"role": "missing" | "user" | "vault"}, {"role": "agent", "data": {"user": ..}},
# {"role": "subAccount", "data": {"master": ..}})
_ROLE_MASTER_KEY = {"agent": "user", "subAccount": "master"}


def role_and_master(body: Any) -> tuple[str, str | None]:
    """``userRole``'s answer: (the role, the address it acts for in lower case: an agent wallet's account, a
    sub-account's master; None for the other roles). A role the docs do not list is passed on as it came: the
    caller accepts one role and refuses the rest, naming it."""
    role = _str(body, "role")
    key = _ROLE_MASTER_KEY.get(role)
    if key is None:
        return _short(role), None
    master = _str(_get(body, "data"), key)
    if not is_address(master):
        raise MalformedMessage(f"data.{key} = {_short(master)!r}")
    return role, master.lower()


def _action_reply(body: Any) -> ActionReply:
    status = _str(body, "status")
    response = _get(body, "response")
    if status == "err":
        if not isinstance(response, str):
            raise MalformedMessage(f"err response = {response!r}")
        return ActionReply(False, error=response)
    if status != "ok":
        raise MalformedMessage(f"status = {status!r}")
    kind = _str(response, "type")
    data = response.get("data")
    if data is None:
        return ActionReply(True, kind=kind)
    return ActionReply(True, tuple(_status(s) for s in _list(_get(data, "statuses"), "statuses")), kind=kind)


def _status(s: Any):
    if isinstance(s, str):
        return s
    if isinstance(s, dict):
        if "resting" in s:
            return Resting(_int(s["resting"], "oid"))
        if "filled" in s:
            f = s["filled"]
            return Filled(_int(f, "oid"), _positive(f, "totalSz"), _positive(f, "avgPx"))
        if "error" in s:
            return ItemError(_str(s, "error"))
    raise MalformedMessage(f"status item = {s!r}")


def _raise(text: str):
    raise MalformedMessage(text)


def _raise_not_utf8():
    raise MalformedMessage("frame is not UTF-8")


def _short(x: Any) -> str:
    text = x if isinstance(x, str) else repr(x)
    return text[:200]
