"""Hyperliquid L1 action dicts, built in the exact key order the venue hashes (hyperliquid.md §2.2, §3.4).

The signature covers ``msgpack(action)`` in insertion order, so every builder here fixes the key
order, writes numbers as canonical strings and ints as plain ``int`` (never numpy, never float).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable, Mapping

TIFS = ("Alo", "Ioc", "Gtc")
GROUPINGS = ("na", "normalTpsl", "positionTpsl")
TPSL_KINDS = ("tp", "sl")

_CLOID_RE = re.compile(r"^0x[0-9a-fA-F]{32}$")
_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
_EIGHT_DECIMALS = Decimal("1e-8")
_ROUNDING_TOLERANCE = 1e-12  # the venue's SDK refuses anything that 8 decimals would move this much


@dataclass(frozen=True, slots=True)
class Trigger:
    """A trigger (TP/SL) order type; ``trigger_px`` is encoded like any price."""

    trigger_px: float
    is_market: bool
    tpsl: str  # "tp" | "sl"


def float_to_wire(x: float | int | Decimal) -> str:
    """A price or size as the venue's canonical decimal string: at most 8 decimals, no trailing zeros.

    Raises ValueError when 8 decimals would change the value by 1e-12 or more. Quirk kept from the
    reference SDK so hashes agree: ``-0.0`` (and any tiny negative) becomes ``"-0"``.
    """
    if isinstance(x, bool) or not isinstance(x, (int, float, Decimal)):
        raise ValueError(f"float_to_wire needs a number, got {type(x).__name__} {x!r}")
    if isinstance(x, Decimal):
        if not x.is_finite():
            raise ValueError(f"float_to_wire needs a finite number, got {x!r}")
        rounded_dec = x.quantize(_EIGHT_DECIMALS)
        if abs(rounded_dec - x) >= Decimal(_ROUNDING_TOLERANCE):
            raise ValueError(f"float_to_wire causes rounding: {x!r} has more than 8 decimals")
        return f"{rounded_dec.normalize():f}"
    if isinstance(x, int):
        return str(x)
    if not math.isfinite(x):
        raise ValueError(f"float_to_wire needs a finite number, got {x!r}")
    text = f"{x:.8f}"
    if abs(float(text) - x) >= _ROUNDING_TOLERANCE:
        raise ValueError(f"float_to_wire causes rounding: {x!r} has more than 8 decimals")
    return f"{Decimal(text).normalize():f}"


def _float_to_scaled_int(x: float | int, decimals: int) -> int:
    scaled = x * 10**decimals
    rounded = round(scaled)
    if abs(rounded - scaled) >= 1e-3:
        raise ValueError(f"float_to_int causes rounding: {x!r} has more than {decimals} decimals")
    return int(rounded)


def float_to_int_for_hashing(x: float | int) -> int:
    """``x`` in units of 1e-8 as an int (raises ValueError if that rounds)."""
    return _float_to_scaled_int(x, 8)


def float_to_usd_int(x: float | int) -> int:
    """``x`` in units of 1e-6 (micro-USDC) as an int, e.g. for ``ntli`` (raises ValueError if that rounds)."""
    return _float_to_scaled_int(x, 6)


def cloid_to_wire(cloid: str | int) -> str:
    """A client order id as the venue's 128-bit hex form ``0x`` + 32 lowercase hex digits."""
    if isinstance(cloid, bool):
        raise ValueError(f"cloid must be 0x + 32 hex digits or a 128-bit int, got {cloid!r}")
    if isinstance(cloid, int):
        if not 0 <= cloid < 1 << 128:
            raise ValueError(f"cloid int out of the 128-bit range: {cloid!r}")
        return f"0x{cloid:032x}"
    if not isinstance(cloid, str) or not _CLOID_RE.match(cloid):
        raise ValueError(f"cloid must be 0x + 32 hex digits, got {cloid!r}")
    return cloid.lower()


def is_address(value) -> bool:
    """Whether ``value`` is an address as the venue writes one: 0x and 40 hex digits (either case)."""
    return isinstance(value, str) and _ADDRESS_RE.match(value) is not None


def _address(value: str, field: str) -> str:
    if not is_address(value):
        raise ValueError(f"{field} must be 0x + 40 hex digits, got {value!r}")
    return value.lower()


def _asset(asset: int) -> int:
    if isinstance(asset, bool) or int(asset) != asset or asset < 0:
        raise ValueError(f"asset must be a non-negative int, got {asset!r}")
    return int(asset)


def _oid(oid: int | str) -> int | str:
    """An order id for modify: a venue oid (int) or a cloid string."""
    if isinstance(oid, str):
        return cloid_to_wire(oid)
    if isinstance(oid, bool) or int(oid) != oid or oid < 0:
        raise ValueError(f"oid must be a non-negative int or a cloid, got {oid!r}")
    return int(oid)


def order_type_wire(tif: str | None = "Gtc", trigger: Trigger | None = None) -> dict:
    """The ``t`` field: ``{"limit": {"tif": ...}}`` or ``{"trigger": {isMarket, triggerPx, tpsl}}``."""
    if trigger is not None:
        if tif is not None:
            raise ValueError(f"an order is either limit (tif) or trigger, got tif={tif!r} and a trigger")
        if trigger.tpsl not in TPSL_KINDS:
            raise ValueError(f"trigger tpsl must be one of {TPSL_KINDS}, got {trigger.tpsl!r}")
        return {
            "trigger": {
                "isMarket": bool(trigger.is_market),
                "triggerPx": float_to_wire(trigger.trigger_px),
                "tpsl": trigger.tpsl,
            }
        }
    if tif not in TIFS:
        raise ValueError(f"tif must be one of {TIFS}, got {tif!r}")
    return {"limit": {"tif": tif}}


def order_wire(
    asset: int,
    is_buy: bool,
    px: float | int | Decimal,
    sz: float | int | Decimal,
    reduce_only: bool,
    tif: str | None = "Gtc",
    cloid: str | int | None = None,
    *,
    trigger: Trigger | None = None,
) -> dict:
    """One order in the venue's msgpack key order a, b, p, s, r, t, (c). Pass ``tif=None`` with a trigger."""
    wire = {
        "a": _asset(asset),
        "b": bool(is_buy),
        "p": float_to_wire(px),
        "s": float_to_wire(sz),
        "r": bool(reduce_only),
        "t": order_type_wire(tif, trigger),
    }
    if cloid is not None:
        wire["c"] = cloid_to_wire(cloid)
    return wire


def order_action(orders: Iterable[dict], grouping: str = "na", builder: Mapping | None = None) -> dict:
    """An ``order`` action; ``builder`` is ``{"b": address, "f": fee in tenths of a basis point}``."""
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping must be one of {GROUPINGS}, got {grouping!r}")
    action = {"type": "order", "orders": list(orders), "grouping": grouping}
    if builder is not None:
        fee = builder["f"]
        if isinstance(fee, bool) or int(fee) != fee or fee < 0:
            raise ValueError(f"builder f must be a non-negative int (tenths of a bp), got {fee!r}")
        action["builder"] = {"b": _address(builder["b"], "builder b"), "f": int(fee)}
    return action


def cancel_action(cancels: Iterable[tuple[int, int]]) -> dict:
    """A ``cancel`` action from ``(asset, oid)`` pairs."""
    out = []
    for a, o in cancels:
        if isinstance(o, (bool, str)) or int(o) != o or o < 0:
            raise ValueError(f"cancel needs a venue oid (non-negative int), got {o!r}; use cancel_by_cloid_action for cloids")
        out.append({"a": _asset(a), "o": int(o)})
    return {"type": "cancel", "cancels": out}


def cancel_by_cloid_action(cancels: Iterable[tuple[int, str | int]]) -> dict:
    """A ``cancelByCloid`` action from ``(asset, cloid)`` pairs (note the long key names)."""
    return {
        "type": "cancelByCloid",
        "cancels": [{"asset": _asset(a), "cloid": cloid_to_wire(c)} for a, c in cancels],
    }


def modify_action(oid: int | str, order: dict) -> dict:
    """A single ``modify``; ``oid`` is a venue oid or a cloid; ``order`` comes from ``order_wire``."""
    return {"type": "modify", "oid": _oid(oid), "order": order}


def batch_modify_action(modifies: Iterable[tuple[int | str, dict]]) -> dict:
    """A ``batchModify`` from ``(oid or cloid, order_wire)`` pairs (the SDK's modify_order sends this)."""
    return {"type": "batchModify", "modifies": [{"oid": _oid(o), "order": w} for o, w in modifies]}


def schedule_cancel_action(time_ms: int | None) -> dict:
    """The dead man's switch: cancel everything at ``time_ms``; ``None`` clears it (``time`` left out)."""
    action: dict = {"type": "scheduleCancel"}
    if time_ms is not None:
        if isinstance(time_ms, bool) or int(time_ms) != time_ms or time_ms < 0:
            raise ValueError(f"scheduleCancel time_ms must be a non-negative int, got {time_ms!r}")
        action["time"] = int(time_ms)
    return action


def update_leverage_action(asset: int, is_cross: bool, leverage: int) -> dict:
    """An ``updateLeverage`` action; ``leverage`` is a whole multiple."""
    if isinstance(leverage, bool) or int(leverage) != leverage or leverage < 1:
        raise ValueError(f"leverage must be an int >= 1, got {leverage!r}")
    return {"type": "updateLeverage", "asset": _asset(asset), "isCross": bool(is_cross), "leverage": int(leverage)}


def noop_action() -> dict:
    """A ``noop``: burns its nonce, which invalidates any in-flight action carrying a lower one."""
    return {"type": "noop"}
