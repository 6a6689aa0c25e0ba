"""The venue's JSON on the twin's side: requests parsed into twin messages, replies and pushes rendered.

Parsing raises ``MalformedAction`` for what the venue would not deserialize (HTTP 422) and ``Refused``
for what it deserializes but refuses as a whole (HTTP 200 ``{"status":"err"}``); everything else becomes
a ``twin.messages`` object. Rendering writes the venue's shapes with decimal strings (hyperliquid.md §1, §2, §4).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Mapping

from twin.instruments import InstrumentSpec, held_decimals
from twin.messages import (
    ANON_ADDRESS, MAX_BATCH, OVER_WEIGHT, Action, ActionErr, ActionOk, ActiveAssetData, BboPush, BookPush, CancelAction, CancelByCloidAction, FillInfo, Filled,
    FillsPush, FundingInfo, FundingPush, ModifyAction, NoopAction, OrderAction, OrderInfo, OrderSpec, OrderUpdate,
    Resting, ScheduleCancelAction, StatusError, TradePush, UpdateIsolatedMarginAction, UpdateLeverageAction,
    UserEventPush, fill_hash,
)
from twin.server.auth import DESERIALIZE_FAILED, U64, MalformedAction, canonical_l1_action

# L1 actions the twin executes, and the venue's action types it knows but does not model.
L1_TYPES = frozenset({"order", "cancel", "cancelByCloid", "modify", "batchModify", "scheduleCancel",
                      "updateLeverage", "updateIsolatedMargin", "noop"})
UNSUPPORTED_TYPES = frozenset({"usdSend", "withdraw3", "spotSend", "usdClassTransfer", "approveBuilderFee",
                               "sendAsset", "tokenDelegate", "reserveRequestWeight",
                               "twapOrder", "twapCancel", "setReferrer", "createSubAccount", "subAccountTransfer",
                               "vaultTransfer", "userDexAbstraction", "userSetAbstraction", "convertToMultiSigUser",
                               "multiSig", "evmUserModify", "spotUser"})
TRIGGER_UNSUPPORTED = "Trigger orders (TP/SL) are not supported by the twin; send limit orders (Alo, Ioc, Gtc)."
GROUPING_UNSUPPORTED = "Order grouping {grouping!r} needs TP/SL orders, which the twin does not support; use \"na\"."


class Refused(Exception):
    """The venue deserializes the action but refuses it whole: HTTP 200 ``{"status":"err","response":text}``."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def malformed(what: str, value: Any = None) -> MalformedAction:
    return MalformedAction(f"{DESERIALIZE_FAILED}: {what} = {value!r}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(body: bytes) -> Any:
    """Strict JSON (no NaN/Infinity, UTF-8 only), as the venue's deserializer; raises MalformedAction."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise malformed("body", str(e)[:80]) from None


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


# ----------------------------------------------------------------------------- small type checks


def is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def need_int(obj: Mapping, key: str, *, optional: bool = False, lo: int = 0) -> int | None:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not is_int(value) or value < lo or value >= U64:
        raise malformed(key, value)
    return value


def need_address(obj: Mapping, key: str = "user") -> str:
    value = obj.get(key)
    if not (isinstance(value, str) and len(value) == 42 and value[:2] in ("0x", "0X")):
        raise malformed(key, value)
    try:
        int(value[2:], 16)
    except ValueError:
        raise malformed(key, value) from None
    return value.lower()


def need_str(obj: Mapping, key: str, *, default: str | None = None) -> str:
    value = obj.get(key, default)
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise malformed(key, value)
    return value


def is_cloid(x: Any) -> bool:
    if not (isinstance(x, str) and len(x) == 34 and x[:2] == "0x"):
        return False
    try:
        int(x[2:], 16)
    except ValueError:
        return False
    return True


# ----------------------------------------------------------------------------- the /exchange envelope


@dataclass(frozen=True, slots=True)
class Envelope:
    """The /exchange body (hyperliquid.md §2.1)."""

    action: dict
    nonce: int
    signature: dict
    vault_address: str | None
    expires_after_ms: int | None


def parse_envelope(body: Any) -> Envelope:
    if not isinstance(body, dict):
        raise malformed("body", type(body).__name__)
    action = body.get("action")
    if not isinstance(action, dict) or not isinstance(action.get("type"), str):
        raise malformed("action", action)
    nonce = need_int(body, "nonce")
    sig = body.get("signature")
    if not (isinstance(sig, dict) and isinstance(sig.get("r"), str) and isinstance(sig.get("s"), str)
            and is_int(sig.get("v"))):
        raise malformed("signature", sig)
    vault = body.get("vaultAddress")
    if vault is not None:
        vault = need_address(body, "vaultAddress")
    expires = need_int(body, "expiresAfter", optional=True)
    return Envelope(action, nonce, sig, vault, expires)


# ----------------------------------------------------------------------------- assets


class AssetMap:
    """Asset ids (first dex: index; HIP-3: 100000 + dex_index*10000 + index) to the venue's coin names."""

    def __init__(self, instruments: Iterable[InstrumentSpec]) -> None:
        self.instruments = list(instruments)
        self.by_asset = {i.asset_id: i for i in self.instruments}
        self.by_coin = {i.coin: i for i in self.instruments}

    def coin(self, asset: int) -> str:
        inst = self.by_asset.get(asset)
        # an unknown id reaches the twin as a coin it does not list, which it refuses per order
        return inst.coin if inst is not None else f"@unknown-asset-{asset}"

    def dexes(self) -> list[str]:
        """perpDexs order: index 0 is the first dex; HIP-3 dexes sit at their dex_index."""
        names: dict[int, str] = {0: ""}
        for i in self.instruments:
            if i.dex_index:
                names[i.dex_index] = i.dex
        return [names.get(k, f"dex{k}") for k in range(max(names) + 1)]

    def universe(self, dex: str) -> list[InstrumentSpec | None]:
        """The dex's meta.universe in index order; gaps are None (rendered as delisted placeholders)."""
        mine = [i for i in self.instruments if i.dex == dex]
        if not mine:
            return []
        out: list[InstrumentSpec | None] = [None] * (max(i.index for i in mine) + 1)
        for i in mine:
            out[i.index] = i
        return out


def exact_float(text: str) -> float:
    """The float of a venue decimal string, or NaN when the float would not be exactly that number.

    The twin checks price and size rules on floats; a string such as ``100.00000000000000001``
    (refused by the venue's decimal rules) would become the valid 100.0. NaN fails the same rule
    check in the twin, so the order gets the venue's reason for that field.
    """
    value = float(text)
    if math.isfinite(value) and Decimal(repr(value)) != Decimal(text):
        return math.nan
    return value


def _order_spec(o: Mapping, assets: AssetMap) -> OrderSpec:
    if "trigger" in o["t"]:
        raise Refused(TRIGGER_UNSUPPORTED)
    cloid = o.get("c")
    return OrderSpec(assets.coin(o["a"]), o["b"], exact_float(o["p"]), exact_float(o["s"]), o["r"],
                     o["t"]["limit"]["tif"], cloid.lower() if cloid else None)


def check_book_view(n_sig_figs: Any, mantissa: Any) -> None:
    """An l2Book request's or subscription's aggregation, as the venue takes it (hyperliquid.md §1): nSigFigs null or
    2..5, mantissa null or 1, 2 or 5 and only with nSigFigs 5; raises MalformedAction otherwise."""
    if n_sig_figs is not None and (not is_int(n_sig_figs) or not 2 <= n_sig_figs <= 5):
        raise malformed("nSigFigs", n_sig_figs)
    if mantissa is not None and (n_sig_figs != 5 or not is_int(mantissa) or mantissa not in (1, 2, 5)):
        raise malformed("mantissa", mantissa)


def batch_length(action: Mapping) -> int:
    """How many orders, cancels or modifies a posted action carries (0 for one that is no batch, or is malformed):
    what its IP weight counts (hyperliquid.md §5)."""
    for key in ("orders", "cancels", "modifies"):
        items = action.get(key)
        if isinstance(items, list):
            return len(items)
    return 0


def _check_batch(items: list) -> None:
    if len(items) > MAX_BATCH:
        raise Refused(OVER_WEIGHT)


def parse_l1_action(action: Mapping, assets: AssetMap, epoch_ms: int) -> Action:
    """A posted L1 action as the twin's typed action (times in simulated seconds from ``epoch_ms``)."""
    kind = action.get("type")
    if kind not in L1_TYPES:
        raise malformed("action.type", kind)
    a = canonical_l1_action(action)  # validates every field the venue hashes
    if kind == "order":
        if a["grouping"] != "na":
            raise Refused(GROUPING_UNSUPPORTED.format(grouping=a["grouping"]))
        _check_batch(a["orders"])
        return OrderAction(tuple(_order_spec(o, assets) for o in a["orders"]))
    if kind == "cancel":
        _check_batch(a["cancels"])
        return CancelAction(tuple((assets.coin(c["a"]), c["o"]) for c in a["cancels"]))
    if kind == "cancelByCloid":
        _check_batch(a["cancels"])
        return CancelByCloidAction(tuple((assets.coin(c["asset"]), c["cloid"].lower()) for c in a["cancels"]))
    if kind == "modify":
        return ModifyAction(((_oid_ref(a["oid"]), _order_spec(a["order"], assets)),), a.get("a") is True)
    if kind == "batchModify":
        _check_batch(a["modifies"])
        return ModifyAction(tuple((_oid_ref(m["oid"]), _order_spec(m["order"], assets)) for m in a["modifies"]),
                            a.get("a") is True)
    if kind == "scheduleCancel":
        t = a.get("time")
        return ScheduleCancelAction(None if t is None else (t - epoch_ms) / 1000.0)
    if kind == "updateLeverage":
        return UpdateLeverageAction(assets.coin(a["asset"]), a["leverage"], a["isCross"])
    if kind == "updateIsolatedMargin":
        return UpdateIsolatedMarginAction(assets.coin(a["asset"]), a["ntli"] / 1e6, a["isBuy"])
    return NoopAction()


def _oid_ref(ref: int | str) -> int | str:
    return ref.lower() if isinstance(ref, str) else ref


# ----------------------------------------------------------------------------- numbers


def num(x: float, decimals: int = 8) -> str:
    """A venue decimal string: rounded to ``decimals``, no exponent, at least one decimal (``"30135.0"``)."""
    if not math.isfinite(x):
        return "0.0"
    text = format(Decimal(repr(round(float(x), decimals))), "f")
    if "." not in text:
        text += ".0"
    if text == "-0.0":
        text = "0.0"
    return text


def sz_num(x: float, inst: InstrumentSpec | None) -> str:
    return num(x, inst.sz_decimals if inst is not None else 8)


def held_num(x: float, inst: InstrumentSpec | None) -> str:
    """A size of a position or of a trade in it (szi, startPosition, a fill's or a print's size, a reduce-only
    order's size cut to the position's): on the lot it is held on, which is finer than the coin's now for a position
    opened before the venue lowered the coin's szDecimals (instruments.held_decimals). At the coin's decimals, such a
    position of 0.00123 under 4 read 0.0012, a client anchored on that, and its close of 0.0012 left it flat where
    the account held 0.00003."""
    return num(x, held_decimals(x, inst.sz_decimals) if inst is not None else 8)


def px_num(x: float) -> str:
    return num(x, 8)


def usd_num(x: float) -> str:
    return num(x, 6)


def rate_num(x: float) -> str:
    """A funding rate (``"0.0000125"``): ten decimals."""
    return num(x, 10)


# ----------------------------------------------------------------------------- /exchange replies


def status_json(status: Any) -> Any:
    if isinstance(status, Resting):
        out: dict = {"oid": status.oid}
        if status.cloid:
            out["cloid"] = status.cloid
        return {"resting": out}
    if isinstance(status, Filled):
        out = {"totalSz": num(status.total_sz), "avgPx": px_num(status.avg_px), "oid": status.oid}
        if status.cloid:
            out["cloid"] = status.cloid
        return {"filled": out}
    if isinstance(status, StatusError):
        return {"error": status.error}
    return status  # the bare strings "success", "waitingForFill", ...


def action_reply_json(reply: ActionOk | ActionErr, action_type: str) -> dict:
    """The /exchange JSON of a twin reply to an action of the posted ``action_type``."""
    if isinstance(reply, ActionErr):
        return {"status": "err", "response": reply.message}
    if reply.kind == "default":
        return {"status": "ok", "response": {"type": "default"}}
    if action_type == "modify":
        # single modify answers "default" on success (UNCONFIRMED) and the order's error text otherwise
        first = reply.statuses[0] if reply.statuses else None
        if isinstance(first, StatusError):
            return {"status": "err", "response": first.error}
        return {"status": "ok", "response": {"type": "default"}}
    kind = "order" if reply.kind == "batchModify" else reply.kind
    return {"status": "ok", "response": {"type": kind, "data": {"statuses": [status_json(s) for s in reply.statuses]}}}


def ok_default() -> dict:
    return {"status": "ok", "response": {"type": "default"}}


def err(text: str) -> dict:
    return {"status": "err", "response": text}


# ----------------------------------------------------------------------------- /info replies and pushes


def levels_json(levels: Iterable[tuple[float, float, int]], inst: InstrumentSpec | None) -> list[dict]:
    return [{"px": px_num(px), "sz": sz_num(sz, inst), "n": n} for px, sz, n in levels]


def bbo_json(bbo: BboPush, inst: InstrumentSpec | None) -> dict:
    """A bbo frame's data: ``{"coin", "time", "bbo": [bidLevel | null, askLevel | null]}`` (hyperliquid.md §4)."""
    return {"coin": bbo.coin, "time": bbo.time_ms,
            "bbo": [None if lv is None else levels_json((lv,), inst)[0] for lv in (bbo.bid, bbo.ask)]}


def book_json(book: BookPush, inst: InstrumentSpec | None, n_sig_figs: int | None = None,
              mantissa: int | None = None, depth: int | None = None) -> dict:
    """An l2Book frame's data; ``depth``: levels a side at most (a ``fast`` subscription's 5)."""
    bids, asks = book.bids, book.asks
    if n_sig_figs is not None:
        bids = aggregate_levels(bids, n_sig_figs, mantissa, is_bid=True)
        asks = aggregate_levels(asks, n_sig_figs, mantissa, is_bid=False)
    if depth is not None:
        bids, asks = bids[:depth], asks[:depth]
    return {"coin": book.coin, "time": book.time_ms, "levels": [levels_json(bids, inst), levels_json(asks, inst)]}


def aggregate_levels(levels: Iterable[tuple[float, float, int]], n_sig_figs: int, mantissa: int | None,
                     is_bid: bool) -> tuple[tuple[float, float, int], ...]:
    """Levels grouped into buckets of ``mantissa × 10^k`` (k from ``n_sig_figs``): bids round down, asks up."""
    out: dict[Decimal, list] = {}
    for px, sz, n in levels:
        d = Decimal(repr(px))
        step = Decimal(mantissa or 1) * Decimal(10) ** (d.adjusted() - n_sig_figs + 1)
        q = (d / step).to_integral_value(rounding="ROUND_FLOOR" if is_bid else "ROUND_CEILING") * step
        lv = out.setdefault(q, [0.0, 0])
        lv[0] += sz
        lv[1] += n
    keys = sorted(out, reverse=is_bid)
    return tuple((float(k), out[k][0], out[k][1]) for k in keys)


def meta_json(assets: AssetMap, dex: str) -> dict:
    """meta: the universe, and each coin's margin table by its ``marginTableId`` (docs trading/margin-tiers): a
    single-tier coin's id is its max leverage, a tiered one's its configured id, each table listed once."""
    universe = []
    tables: dict[int, dict] = {}
    for k, inst in enumerate(assets.universe(dex)):
        if inst is None:
            universe.append({"name": f"{dex + ':' if dex else ''}UNLISTED{k}", "szDecimals": 0, "maxLeverage": 1,
                             "marginTableId": 1, "isDelisted": True})
            tables.setdefault(1, _margin_table(((0.0, 1),)))
            continue
        row: dict = {"name": inst.coin, "szDecimals": inst.sz_decimals, "maxLeverage": inst.max_leverage,
                     "marginTableId": inst.table_id}
        if inst.only_isolated:
            row["onlyIsolated"] = True
            row["marginMode"] = "strictIsolated"
        universe.append(row)
        tables.setdefault(inst.table_id, _margin_table(inst.tier_pairs))
    return {"universe": universe, "marginTables": [[k, v] for k, v in sorted(tables.items())], "collateralToken": 0}


def _margin_table(tiers: tuple[tuple[float, int], ...]) -> dict:
    """A table as meta lists it: ``lowerBound`` a decimal string ("150000000.0"), the venue's "tiered 40x"
    description for a tiered one."""
    description = f"tiered {tiers[0][1]}x" if len(tiers) > 1 else ""
    return {"description": description,
            "marginTiers": [{"lowerBound": num(b, 6), "maxLeverage": lev} for b, lev in tiers]}


def asset_ctx_json(mark: float | None, bid: float, ask: float, funding_rate: float = 0.0,
                   premium: float = 0.0) -> dict:
    """A metaAndAssetCtxs ctx: ``funding`` is the hourly rate the next settlement charges (twin/funding.py),
    ``premium`` the market's premium index (the twin's parameter, per 8 h: the venue's unit for it is UNCONFIRMED)."""
    has_bbo = bid == bid and ask == ask
    mark_s = px_num(mark) if mark is not None else "0.0"
    return {"dayNtlVlm": "0.0", "funding": rate_num(funding_rate),
            "impactPxs": [px_num(bid), px_num(ask)] if has_bbo else None,
            "markPx": mark_s, "midPx": px_num(0.5 * (bid + ask)) if has_bbo else None, "openInterest": "0.0",
            "oraclePx": mark_s, "premium": rate_num(premium), "prevDayPx": mark_s, "dayBaseVlm": "0.0"}


def perp_dexs_json(assets: AssetMap) -> list:
    out: list = [None]
    for name in assets.dexes()[1:]:
        coins = [i.coin for i in assets.instruments if i.dex == name]
        out.append({"name": name, "fullName": f"{name} dex", "deployer": "0x" + "00" * 20, "oracleUpdater": None,
                    "feeRecipient": None, "assetToStreamingOiCap": [[c, "1000000000.0"] for c in coins],
                    "assetToFundingMultiplier": [[c, "1.0"] for c in coins]})
    return out


def order_json(o: OrderInfo, inst: InstrumentSpec | None) -> dict:
    """An openOrders row (the documented 6 keys plus origSz, reduceOnly and cloid seen live)."""
    row = {"coin": o.coin, "side": o.side, "limitPx": px_num(o.limit_px), "sz": held_num(o.sz, inst), "oid": o.oid,
           "timestamp": o.timestamp_ms, "origSz": sz_num(o.orig_sz, inst), "reduceOnly": o.reduce_only}
    if o.cloid:
        row["cloid"] = o.cloid
    return row


def frontend_order_json(o: OrderInfo, inst: InstrumentSpec | None) -> dict:
    row = order_json(o, inst)
    row.update({"isPositionTpsl": False, "isTrigger": False, "orderType": "Limit", "tif": o.tif,
                "triggerCondition": "N/A", "triggerPx": "0.0", "children": [], "cloid": o.cloid})
    return row


def fill_json(f: FillInfo, inst: InstrumentSpec | None) -> dict:
    row = {"closedPnl": usd_num(f.closed_pnl), "coin": f.coin, "crossed": f.crossed, "dir": f.direction,
           "hash": fill_hash(f.taker_oid), "oid": f.oid, "px": px_num(f.px), "side": f.side,
           "startPosition": held_num(f.start_position, inst), "sz": held_num(f.sz, inst), "time": f.time_ms,
           "fee": usd_num(f.fee), "feeToken": "USDC", "tid": f.tid, "cloid": f.cloid, "twapId": None}
    if f.liquidation is not None:  # the venue's WsFill/Fill optional field, on the liquidated user's fill
        user, mark, method = f.liquidation
        row["liquidation"] = {"liquidatedUser": user, "markPx": px_num(mark), "method": method}  # a price: a string
    return row


def order_update_json(p: OrderUpdate, inst: InstrumentSpec | None) -> dict:
    return {"order": order_json(p.order, inst), "status": p.status, "statusTimestamp": p.status_time_ms}


def order_status_json(found: dict, inst: InstrumentSpec | None) -> dict:
    if found.get("status") != "order":
        return {"status": "unknownOid"}
    return {"status": "order", "order": {"order": frontend_order_json(found["order"], inst),
                                         "status": found["orderStatus"],
                                         "statusTimestamp": found["statusTimestamp"]}}


def clearinghouse_json(state: dict, marks: Mapping[str, float], now_ms: int,
                       instruments: Mapping[str, InstrumentSpec]) -> dict:
    """``clearinghouseState`` as the venue renders it, from the exchange's view of the account on one dex."""
    positions = []
    ntl = cross_ntl = 0.0
    signed_ntl = cross_signed_ntl = 0.0
    for p in state.get("assetPositions", []):
        inst = instruments.get(p["coin"])
        mark = marks.get(p["coin"], p["entryPx"])
        ntl += p["positionValue"]
        signed_ntl += p["szi"] * mark
        margin = p["marginUsed"]
        if p.get("isolated"):
            leverage = {"type": "isolated", "value": p["leverage"], "rawUsd": usd_num(p["rawUsd"])}
        else:
            leverage = {"type": "cross", "value": p["leverage"]}
            cross_ntl += p["positionValue"]
            cross_signed_ntl += p["szi"] * mark
        positions.append({"type": "oneWay", "position": {
            "coin": p["coin"], "szi": held_num(p["szi"], inst), "entryPx": px_num(p["entryPx"]),
            "leverage": leverage,
            "liquidationPx": None if p.get("liquidationPx") is None else px_num(p["liquidationPx"]),
            "marginUsed": usd_num(margin), "maxLeverage": inst.max_leverage if inst else p["leverage"],
            "positionValue": usd_num(p["positionValue"]),
            "returnOnEquity": num(p["unrealizedPnl"] / margin if margin else 0.0, 6),
            "unrealizedPnl": usd_num(p["unrealizedPnl"]),
            "cumFunding": _cum_funding_json(p.get("cumFunding"))}})
    # marginSummary is the whole dex (isolated positions' equity in it); crossMarginSummary its cross account only
    value = state.get("accountValue", 0.0)
    summary = {"accountValue": usd_num(value), "totalMarginUsed": usd_num(state.get("marginUsed", 0.0)),
               "totalNtlPos": usd_num(ntl), "totalRawUsd": usd_num(value - signed_ntl)}
    cross_value = state.get("crossAccountValue", value)
    cross = {"accountValue": usd_num(cross_value), "totalMarginUsed": usd_num(state.get("crossMarginUsed", 0.0)),
             "totalNtlPos": usd_num(cross_ntl), "totalRawUsd": usd_num(cross_value - cross_signed_ntl)}
    return {"assetPositions": positions, "crossMaintenanceMarginUsed": usd_num(state.get("maintenanceMargin", 0.0)),
            "crossMarginSummary": cross, "marginSummary": summary, "time": state.get("time", now_ms),
            "withdrawable": usd_num(state.get("withdrawable", 0.0))}


def _cum_funding_json(cum: tuple[float, float, float] | None) -> dict:
    """A position's cumFunding: what it paid (positive) or received (negative), all time, since it opened and
    since its size last changed. The sign is as recorded mainnet replies show it: a short in a market with
    positive funding (which it receives) shows negative figures."""
    all_time, since_open, since_change = cum if cum is not None else (0.0, 0.0, 0.0)
    return {"allTime": usd_num(all_time), "sinceChange": usd_num(since_change), "sinceOpen": usd_num(since_open)}


def funding_json(f: FundingInfo, inst: InstrumentSpec | None) -> dict:
    """One funding payment as the venue's WsUserFunding (its websocket docs): time, coin, usdc, szi,
    fundingRate; ``usdc`` negative when the position paid."""
    return {"time": f.time_ms, "coin": f.coin, "usdc": usd_num(f.usdc), "szi": held_num(f.szi, inst),
            "fundingRate": rate_num(f.rate)}


def user_fundings_json(p: FundingPush, instruments: Mapping[str, InstrumentSpec]) -> dict:
    """The ``data`` of a ``userFundings`` frame: {user, isSnapshot?, fundings: [...]} (hyperliquid.md §4; the rows
    also carry ``nSamples``, which the twin does not count: null)."""
    data: dict = {"isSnapshot": True} if p.is_snapshot else {}
    data.update({"user": p.user, "fundings": [{**funding_json(f, instruments.get(f.coin)), "nSamples": None}
                                              for f in p.fundings]})
    return data


def user_funding_rows_json(rows: Iterable[FundingInfo], instruments: Mapping[str, InstrumentSpec]) -> list[dict]:
    """The /info ``userFunding`` answer: oldest first, each ``{"time", "hash", "delta": {"type": "funding", "coin",
    "usdc", "szi", "fundingRate", "nSamples"}}`` (the info endpoint's perpetuals docs)."""
    out = []
    for f in rows:
        delta = {"type": "funding", **funding_json(f, instruments.get(f.coin)), "nSamples": None}
        del delta["time"]
        out.append({"time": f.time_ms, "hash": "0x" + "00" * 32, "delta": delta})
    return out


def rate_limit_json(r: Mapping) -> dict:
    return {"cumVlm": usd_num(r["cumVlm"]), "nRequestsUsed": int(r["nRequestsUsed"]),
            "nRequestsCap": int(r["nRequestsCap"]), "nRequestsSurplus": 0}


def user_fees_json(maker: float, taker: float) -> dict:
    """``userFees`` as the venue answers it (the info endpoint's "Query a user's fees"; field names and a
    mainnet example as public API references show them, 2026): the account's own rates are ``userAddRate``
    (maker) and ``userCrossRate`` (taker), fractions of notional. The twin has no volume tiers, discounts or
    daily volume history: the schedule is the account's rate, the lists are empty and the discounts 0."""
    add, cross = num(maker, 8), num(taker, 8)
    return {"dailyUserVlm": [],
            "feeSchedule": {"cross": cross, "add": add, "spotCross": "0.0007", "spotAdd": "0.0004",
                            "tiers": {"vip": [], "mm": []}, "referralDiscount": "0.0", "stakingDiscountTiers": []},
            "userCrossRate": cross, "userAddRate": add, "userSpotCrossRate": "0.0007", "userSpotAddRate": "0.0004",
            "activeReferralDiscount": "0.0", "trial": None, "feeTrialEscrow": "0.0",
            "nextTrialAvailableTimestamp": None, "stakingLink": None,
            "activeStakingDiscount": {"bpsOfMaxSupply": "0.0", "discount": "0.0"}}


def active_asset_data_json(d: ActiveAssetData, inst: InstrumentSpec | None) -> dict:
    """``activeAssetData`` as the venue renders it, the info answer and the channel's data alike (hyperliquid.md §1
    and §4, docs info-endpoint/perpetuals): ``{"user","coin","leverage":{"type":"cross","value":3},
    "maxTradeSzs":[s,s],"availableToTrade":[s,s],"markPx"}``, every number a string. An isolated position's
    leverage carries its rawUsd, as clearinghouseState's does."""
    if d.isolated:
        leverage: dict = {"type": "isolated", "value": d.leverage}
        if d.raw_usd is not None:
            leverage["rawUsd"] = usd_num(d.raw_usd)
    else:
        leverage = {"type": "cross", "value": d.leverage}
    return {"user": d.user, "coin": d.coin, "leverage": leverage,
            "maxTradeSzs": [sz_num(x, inst) for x in d.max_trade_sz],
            "availableToTrade": [usd_num(x) for x in d.available_usd],
            "markPx": px_num(d.mark) if d.mark is not None else "0.0"}


def trade_json(t: TradePush, inst: InstrumentSpec | None) -> dict:
    # the venue's users pair is [buyer, seller]; the twin's market flow has no addresses
    users = list(t.users) if t.users is not None else [ANON_ADDRESS, ANON_ADDRESS]
    return {"coin": t.coin, "side": t.side, "px": px_num(t.px), "sz": held_num(t.sz, inst),
            "hash": fill_hash(t.taker_oid), "time": t.time_ms, "tid": t.tid, "users": users}


def user_event_json(p: UserEventPush | FillsPush | FundingPush, instruments: Mapping[str, InstrumentSpec]) -> dict:
    """The ``data`` of a frame on channel ``user`` (the userEvents subscription): a funding payment is one object,
    ``{"funding": {...}}`` (the venue's WsUserEvent), one frame each."""
    if isinstance(p, FillsPush):
        return {"fills": [fill_json(f, instruments.get(f.coin)) for f in p.fills]}
    if isinstance(p, FundingPush):
        f = p.fundings[0]
        return {"funding": funding_json(f, instruments.get(f.coin))}
    if p.kind == "nonUserCancel":
        return {"nonUserCancel": [{"coin": c, "oid": o} for c, o in p.data]}
    if p.kind == "liquidation":
        user, value = (p.data + (None, None))[:2]
        return {"liquidation": {"lid": 0, "liquidator": "0x" + "00" * 20, "liquidated_user": user,
                                "liquidated_ntl_pos": "0.0",
                                "liquidated_account_value": usd_num(value if isinstance(value, float) else 0.0)}}
    return {p.kind: list(p.data)}
