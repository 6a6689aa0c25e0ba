"""Map the venue's error texts to reason codes (the agent's own table, independent of the twin's).

Live per-order errors carry a trailing `` asset=N``; matching is by prefix so the suffix and
formatted parts (a bbo, a volume) do not matter. Unknown texts map to ``Reason.OTHER`` and keep
their text beside the code.
"""
from __future__ import annotations

import re

from agent.gateway.events import Reason

_PREFIXES: tuple[tuple[str, Reason], ...] = (
    ("Price must be divisible by tick size", Reason.TICK),
    ("Order has invalid price", Reason.TICK),
    ("Order must have minimum value", Reason.MIN_TRADE_NTL),
    ("Insufficient margin to place order", Reason.PERP_MARGIN),
    ("Reduce only order would increase position", Reason.REDUCE_ONLY),
    ("Post only order would have immediately matched", Reason.BAD_ALO_PX),
    ("Order could not immediately match", Reason.IOC_CANCEL),
    ("Order would increase open interest", Reason.OPEN_INTEREST),
    ("Order rejected due to price more aggressive than oracle", Reason.OPEN_INTEREST),
    ("Order price too far from oracle", Reason.ORACLE),
    ("Price too far from oracle", Reason.ORACLE),
    ("Order price cannot be more than", Reason.ORACLE),
    ("Order would cause position to exceed margin tier limit", Reason.PERP_MAX_POSITION),
    ("Order was never placed, already canceled, or filled", Reason.MISSING_ORDER),
    ("Cannot modify canceled or filled order", Reason.MODIFY_CANCELED_OR_FILLED),
    ("Order has invalid size", Reason.INVALID_SIZE),
    ("Order has zero size", Reason.INVALID_SIZE),
    ("Too many open orders", Reason.TOO_MANY_OPEN_ORDERS),
    ("Too many cumulative requests sent", Reason.RATE_LIMITED),
    ("Invalid nonce", Reason.NONCE),
    ("Action already expired", Reason.EXPIRED),
    ("Cannot set scheduled cancel time until enough volume traded", Reason.SCHEDULE_CANCEL_REFUSED),
    ("Too many scheduled cancels triggered today", Reason.SCHEDULE_CANCEL_REFUSED),
    ("Must deposit before performing actions", Reason.SIGNATURE),
    ("L1 error: User or API Wallet", Reason.SIGNATURE),
    ("User or API Wallet", Reason.SIGNATURE),
    ("Unable to recover signer", Reason.SIGNATURE),
    ("Mainnet and testnet require different signature", Reason.SIGNATURE),
)


# a modify's per-order error when its cancel leg happened and only the new order failed (the rest of the text is
# the new order's own error); any other refusal of a modify left the old order as it was, or found it gone
MODIFY_NEW_ORDER_FAILED = "Error placing new order during modify: "


def classify(text: str) -> Reason:
    """The reason code of a venue error text (``Reason.OTHER`` when unknown)."""
    inner = text
    if inner.startswith(MODIFY_NEW_ORDER_FAILED):
        inner = inner[len(MODIFY_NEW_ORDER_FAILED):]
    m = _PREFIX_RE.match(inner)
    return _REASON_OF_GROUP[m.lastindex] if m is not None else Reason.OTHER


# the first of _PREFIXES a text starts with, in one match in C (a refusal's reason was a walk of up to 29
# startswith calls, per refused order): an alternation tries its branches in order at the text's start, and the
# first that matches is the one group that takes part (lastindex)
_PREFIX_RE = re.compile("|".join(f"({re.escape(prefix)})" for prefix, _ in _PREFIXES))
_REASON_OF_GROUP = (None,) + tuple(reason for _, reason in _PREFIXES)
