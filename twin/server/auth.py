"""The twin's venue-side signature and nonce checks (hyperliquid.md §3), written apart from the agent's signer.

It rebuilds each known action in the venue's own field order with canonical numbers before hashing,
lays out the EIP-712 digest by hand and recovers the signer with eth-keys; nothing is imported from
``agent``, so a bug in the agent's signer shows up here as the wrong recovered address, as it would live.
"""
from __future__ import annotations

import heapq
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping, Sequence

import msgpack
from eth_hash.auto import keccak
from eth_keys import keys
from eth_keys.exceptions import BadSignature, ValidationError

# Venue texts (hyperliquid.md §2.4); the ones for malformed input are the venue's 422 body.
UNABLE_TO_RECOVER = "Unable to recover signer."
DESERIALIZE_FAILED = "Failed to deserialize the JSON body into the target type"

DAY_MS = 86_400_000
HELD_NONCES = 100


class MalformedAction(ValueError):
    """The action would not deserialize at the venue (it answers HTTP 422 with DESERIALIZE_FAILED)."""


class UnrecoverableSignature(ValueError):
    """The signature does not recover to any address (the venue answers UNABLE_TO_RECOVER)."""


# ---------------------------------------------------------------------------------------------
# Canonical L1 actions: the venue parses JSON into its own types and re-serialises them, so key
# order, unknown keys and number spelling in the posted JSON do not reach the hash. An agent that
# hashed "100.0" or put "b" before "a" recovers a wrong address here, as on the live venue.
# Actions of other types are hashed as posted.


def _bad(what: str, value: Any) -> MalformedAction:
    return MalformedAction(f"{DESERIALIZE_FAILED}: {what} = {value!r}")


U64 = 1 << 64  # the venue's integers are 64-bit (and msgpack, which the action hash packs, takes no wider)
_I64 = 1 << 63


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < U64:
        raise _bad(what, value)
    return value


def _signed_int(value: Any, what: str) -> int:
    """An integer that may be negative (updateIsolatedMargin's ntli: negative takes margin out)."""
    if isinstance(value, bool) or not isinstance(value, int) or not -_I64 <= value < _I64:
        raise _bad(what, value)
    return value


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise _bad(what, value)
    return value


# Powers of ten a number string may reach either way (the venue's numbers are 64-bit fixed point: none comes near).
# Unbounded, "1e999999999" overflowed the decimal context (an HTTP 500), and "1e999999", nine bytes, was printed
# out in a million digits: a 10 kB order batch of them held the server's loop 2 s and took 570 MB, before the
# signature or the batch cap was looked at.
MAX_MAGNITUDE = 40


def _decimal_text(value: Any, what: str) -> str:
    """A number string as the venue re-prints it: no trailing zeros and no trailing point."""
    if not isinstance(value, str):
        raise _bad(what, value)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise _bad(what, value) from None
    if not number.is_finite() or (number and not -MAX_MAGNITUDE <= number.adjusted() <= MAX_MAGNITUDE):
        raise _bad(what, value)
    return format(number.normalize(), "f")


def _hex_text(value: Any, what: str, n_hex: int) -> str:
    if not (isinstance(value, str) and len(value) == 2 + n_hex and value[:2] == "0x"):
        raise _bad(what, value)
    try:
        int(value[2:], 16)
    except ValueError:
        raise _bad(what, value) from None
    return value


def _field(obj: Any, key: str, what: str) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise _bad(f"{what}.{key} (missing)", obj)
    return obj[key]


def _canonical_order(o: Any, what: str) -> dict:
    t = _field(o, "t", what)
    if isinstance(t, Mapping) and "limit" in t:
        tif = _field(t["limit"], "tif", what + ".t.limit")
        if tif not in ("Alo", "Ioc", "Gtc"):
            raise _bad(what + ".t.limit.tif", tif)
        order_type: dict = {"limit": {"tif": tif}}
    elif isinstance(t, Mapping) and "trigger" in t:
        trig = t["trigger"]
        tpsl = _field(trig, "tpsl", what + ".t.trigger")
        if tpsl not in ("tp", "sl"):
            raise _bad(what + ".t.trigger.tpsl", tpsl)
        order_type = {
            "trigger": {
                "isMarket": _bool(_field(trig, "isMarket", what), what + ".t.trigger.isMarket"),
                "triggerPx": _decimal_text(_field(trig, "triggerPx", what), what + ".t.trigger.triggerPx"),
                "tpsl": tpsl,
            }
        }
    else:
        raise _bad(what + ".t", t)
    out = {
        "a": _int(_field(o, "a", what), what + ".a"),
        "b": _bool(_field(o, "b", what), what + ".b"),
        "p": _decimal_text(_field(o, "p", what), what + ".p"),
        "s": _decimal_text(_field(o, "s", what), what + ".s"),
        "r": _bool(_field(o, "r", what), what + ".r"),
        "t": order_type,
    }
    if o.get("c") is not None:
        out["c"] = _hex_text(o["c"], what + ".c", 32)
    return out


def _canonical_oid(value: Any, what: str) -> int | str:
    return _hex_text(value, what, 32) if isinstance(value, str) else _int(value, what)


def _list(value: Any, what: str) -> list:
    if not isinstance(value, list):
        raise _bad(what, value)
    return value


def canonical_l1_action(action: Mapping) -> dict:
    """The action as the venue hashes it: its own key order and number spelling for the types it knows."""
    if not isinstance(action, Mapping) or not isinstance(action.get("type"), str):
        raise _bad("action.type", action)
    kind = action["type"]
    if kind == "order":
        out: dict = {
            "type": "order",
            "orders": [_canonical_order(o, f"orders[{i}]") for i, o in enumerate(_list(action.get("orders"), "orders"))],
            "grouping": _field(action, "grouping", "action"),
        }
        if out["grouping"] not in ("na", "normalTpsl", "positionTpsl"):
            raise _bad("grouping", out["grouping"])
        if action.get("builder") is not None:
            builder = action["builder"]
            out["builder"] = {
                # The venue hashes the builder address lower-cased (hyperliquid.md §3.1 common mistakes).
                "b": _hex_text(_field(builder, "b", "builder"), "builder.b", 40).lower(),
                "f": _int(_field(builder, "f", "builder"), "builder.f"),
            }
        return out
    if kind in ("cancel", "cancelByCloid"):
        if kind == "cancel":
            cancels = [
                {"a": _int(_field(c, "a", "cancel"), "cancels.a"), "o": _int(_field(c, "o", "cancel"), "cancels.o")}
                for c in _list(action.get("cancels"), "cancels")
            ]
        else:
            cancels = [
                {
                    "asset": _int(_field(c, "asset", "cancel"), "cancels.asset"),
                    "cloid": _hex_text(_field(c, "cloid", "cancel"), "cancels.cloid", 32),
                }
                for c in _list(action.get("cancels"), "cancels")
            ]
        out = {"type": kind, "cancels": cancels}
        # "f" (fast cancel) is hashed only when true (placement after "cancels" is UNCONFIRMED).
        if action.get("f") is True:
            out["f"] = True
        return out
    if kind == "modify":
        out = {
            "type": "modify",
            "oid": _canonical_oid(_field(action, "oid", "modify"), "modify.oid"),
            "order": _canonical_order(_field(action, "order", "modify"), "modify.order"),
        }
    elif kind == "batchModify":
        out = {
            "type": "batchModify",
            "modifies": [
                {
                    "oid": _canonical_oid(_field(m, "oid", f"modifies[{i}]"), f"modifies[{i}].oid"),
                    "order": _canonical_order(_field(m, "order", f"modifies[{i}]"), f"modifies[{i}].order"),
                }
                for i, m in enumerate(_list(action.get("modifies"), "modifies"))
            ],
        }
    if kind in ("modify", "batchModify"):
        # "a" (always place) is hashed only when true, as "f" is, and last: a client adds it to the action dict
        # the SDK builds ({type, oid, order} / {type, modifies}; SDK 0.24 never sends it), and msgpack keeps the
        # dict's insertion order. Dropping it made a signed always-place modify recover a random signer.
        if action.get("a") is True:
            out["a"] = True
        return out
    if kind == "scheduleCancel":
        out = {"type": "scheduleCancel"}
        if action.get("time") is not None:
            out["time"] = _int(action["time"], "scheduleCancel.time")
        return out
    if kind == "updateLeverage":
        return {
            "type": "updateLeverage",
            "asset": _int(_field(action, "asset", "updateLeverage"), "updateLeverage.asset"),
            "isCross": _bool(_field(action, "isCross", "updateLeverage"), "updateLeverage.isCross"),
            "leverage": _int(_field(action, "leverage", "updateLeverage"), "updateLeverage.leverage"),
        }
    if kind == "updateIsolatedMargin":  # the SDK's key order
        return {
            "type": "updateIsolatedMargin",
            "asset": _int(_field(action, "asset", "updateIsolatedMargin"), "updateIsolatedMargin.asset"),
            "isBuy": _bool(_field(action, "isBuy", "updateIsolatedMargin"), "updateIsolatedMargin.isBuy"),
            "ntli": _signed_int(_field(action, "ntli", "updateIsolatedMargin"), "updateIsolatedMargin.ntli"),
        }
    if kind == "noop":
        return {"type": "noop"}
    return dict(action)


# ---------------------------------------------------------------------------------------------
# EIP-712, laid out by hand (encodeType / hashStruct / "\x19\x01" digest) so that it does not share
# eth-account's encode_typed_data with the agent.


def _word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def _encode_value(kind: str, value: Any, what: str) -> bytes:
    if kind == "string":
        if not isinstance(value, str):
            raise _bad(what, value)
        return keccak(value.encode("utf-8"))
    if kind == "address":
        return _word(int(_hex_text(value, what, 40)[2:], 16))
    if kind == "bool":
        return _word(int(_bool(value, what)))
    if kind.startswith("uint"):
        number = _int(value, what)
        if number >= 1 << int(kind[4:] or 256):
            raise _bad(what, value)
        return _word(number)
    if kind == "bytes32":
        if not (isinstance(value, bytes) and len(value) == 32):
            raise _bad(what, value)
        return value
    raise ValueError(f"EIP-712 type {kind!r} of {what} is not supported by the twin")


def _struct_hash(primary_type: str, fields: Sequence[Mapping[str, str]], message: Mapping[str, Any]) -> bytes:
    signature = f"{primary_type}({','.join(f['type'] + ' ' + f['name'] for f in fields)})"
    encoded = [keccak(signature.encode())]
    for f in fields:
        if f["name"] not in message:
            raise _bad(f"{primary_type}.{f['name']} (missing)", dict(message))
        encoded.append(_encode_value(f["type"], message[f["name"]], f"{primary_type}.{f['name']}"))
    return keccak(b"".join(encoded))


_DOMAIN_FIELDS = (
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
)
_ZERO = "0x" + "00" * 20


def _domain_separator(name: str, chain_id: int) -> bytes:
    domain = {"name": name, "version": "1", "chainId": chain_id, "verifyingContract": _ZERO}
    return _struct_hash("EIP712Domain", _DOMAIN_FIELDS, domain)


_L1_DOMAIN_SEPARATOR = _domain_separator("Exchange", 1337)
_AGENT_FIELDS = ({"name": "source", "type": "string"}, {"name": "connectionId", "type": "bytes32"})


def _digest(domain_separator: bytes, struct_hash: bytes) -> bytes:
    return keccak(b"\x19\x01" + domain_separator + struct_hash)


def _recover(digest: bytes, signature: Mapping[str, Any]) -> str:
    try:
        r = int(signature["r"], 16)
        s = int(signature["s"], 16)
        v = signature["v"]
        if isinstance(v, bool) or v not in (27, 28):
            raise UnrecoverableSignature(UNABLE_TO_RECOVER)
        public_key = keys.Signature(vrs=(v - 27, r, s)).recover_public_key_from_msg_hash(digest)
    except (KeyError, TypeError, ValueError, BadSignature, ValidationError) as exc:
        if isinstance(exc, UnrecoverableSignature):
            raise
        raise UnrecoverableSignature(UNABLE_TO_RECOVER) from None
    return public_key.to_address()  # lower-case hex


def l1_connection_id(action: Mapping, nonce: int, vault_address: str | None, expires_after: int | None) -> bytes:
    """keccak256(msgpack(canonical action) ‖ nonce u64be ‖ vault tag ‖ [00 ‖ expiresAfter u64be])."""
    tail = _int(nonce, "nonce").to_bytes(8, "big")
    if vault_address is None:
        tail += b"\x00"
    else:
        tail += b"\x01" + bytes.fromhex(_hex_text(vault_address, "vaultAddress", 40)[2:])
    if expires_after is not None:
        tail += b"\x00" + _int(expires_after, "expiresAfter").to_bytes(8, "big")
    return keccak(msgpack.packb(canonical_l1_action(action)) + tail)


def recover_l1_candidates(
    action: Mapping,
    nonce: int,
    signature: Mapping[str, Any],
    vault_address: str | None,
    expires_after: int | None,
    sources: Sequence[str] = ("b", "a"),
) -> list[tuple[str, str]]:
    """``(source, address)`` for each phantom-agent source ("a" mainnet, "b" testnet), in the order given."""
    connection_id = l1_connection_id(action, nonce, vault_address, expires_after)
    out = []
    for source in sources:
        struct = _struct_hash("Agent", _AGENT_FIELDS, {"source": source, "connectionId": connection_id})
        out.append((source, _recover(_digest(_L1_DOMAIN_SEPARATOR, struct), signature)))
    return out


def recover_l1_signer(
    action: Mapping,
    nonce: int,
    signature: Mapping[str, Any],
    vault_address: str | None,
    expires_after: int | None,
    *,
    is_mainnet: bool | None = None,
    is_known: Callable[[str], bool] | None = None,
) -> str:
    """The lower-case address that signed an L1 action.

    With ``is_mainnet`` set, only that network's source is tried (one recovery). With ``None`` the
    testnet source "b" is tried first: the official SDK signs as mainnet only when its base URL is
    exactly https://api.hyperliquid.xyz, so any SDK pointed at the loopback twin signs as testnet.
    If ``is_known`` rejects that address, the mainnet source "a" is tried (a second recovery) and
    returned when known; otherwise the testnet address is returned, so an error names it.
    """
    if is_mainnet is not None:
        sources: tuple[str, ...] = ("a",) if is_mainnet else ("b",)
        return recover_l1_candidates(action, nonce, signature, vault_address, expires_after, sources)[0][1]
    testnet = recover_l1_candidates(action, nonce, signature, vault_address, expires_after, ("b",))[0][1]
    if is_known is None or is_known(testnet):
        return testnet
    mainnet = recover_l1_candidates(action, nonce, signature, vault_address, expires_after, ("a",))[0][1]
    return mainnet if is_known(mainnet) else testnet


# User-signed actions: primaryType and field list per action type (hyperliquid.md §3.2), and fields
# the posted action may leave out (the SDK signs an unnamed agent with "" and drops agentName).
USER_SIGNED_SCHEMAS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "usdSend": ("HyperliquidTransaction:UsdSend",
                (("hyperliquidChain", "string"), ("destination", "string"), ("amount", "string"), ("time", "uint64"))),
    "withdraw3": ("HyperliquidTransaction:Withdraw",
                  (("hyperliquidChain", "string"), ("destination", "string"), ("amount", "string"), ("time", "uint64"))),
    "spotSend": ("HyperliquidTransaction:SpotSend",
                 (("hyperliquidChain", "string"), ("destination", "string"), ("token", "string"),
                  ("amount", "string"), ("time", "uint64"))),
    "usdClassTransfer": ("HyperliquidTransaction:UsdClassTransfer",
                         (("hyperliquidChain", "string"), ("amount", "string"), ("toPerp", "bool"), ("nonce", "uint64"))),
    "approveAgent": ("HyperliquidTransaction:ApproveAgent",
                     (("hyperliquidChain", "string"), ("agentAddress", "address"), ("agentName", "string"),
                      ("nonce", "uint64"))),
    "approveBuilderFee": ("HyperliquidTransaction:ApproveBuilderFee",
                          (("hyperliquidChain", "string"), ("maxFeeRate", "string"), ("builder", "address"),
                           ("nonce", "uint64"))),
}
_OPTIONAL_USER_FIELDS = {("approveAgent", "agentName"): ""}


def recover_user_signed_signer(
    action: Mapping,
    signature: Mapping[str, Any],
    primary_type: str,
    field_types: Sequence[tuple[str, str]] | Sequence[Mapping[str, str]],
) -> str:
    """The lower-case address that signed a user-signed action (domain chainId from its signatureChainId).

    ``field_types`` lists ``(name, type)`` pairs (or ``{"name","type"}`` dicts) in hash order.
    """
    fields = [f if isinstance(f, Mapping) else {"name": f[0], "type": f[1]} for f in field_types]
    chain_hex = _field(action, "signatureChainId", "action")
    try:
        chain_id = int(chain_hex, 16)
    except (TypeError, ValueError):
        raise _bad("signatureChainId", chain_hex) from None
    message = dict(action)
    for (kind, name), default in _OPTIONAL_USER_FIELDS.items():
        if action.get("type") == kind and name not in message:
            message[name] = default
    struct = _struct_hash(primary_type, fields, message)
    return _recover(_digest(_domain_separator("HyperliquidSignTransaction", chain_id), struct), signature)


def recover_user_signed_action_signer(action: Mapping, signature: Mapping[str, Any]) -> str:
    """``recover_user_signed_signer`` with the schema looked up from ``action["type"]``."""
    schema = USER_SIGNED_SCHEMAS.get(action.get("type"))
    if schema is None:
        raise _bad("user-signed action type", action.get("type"))
    return recover_user_signed_signer(action, signature, schema[0], schema[1])


# ---------------------------------------------------------------------------------------------


class NonceWindow:
    """The venue's nonce rules per signer (hyperliquid.md §3.3), with its exact error texts.

    Keeps the ``held`` (100) highest nonces per signer. A new nonce must not be one of them, must be
    above their minimum once ``held`` are kept, and must lie in (T - 2 days, T + 1 day) of block time T.
    In "too low N < M", M is T - 2 days when N is outside the time window, else the held minimum;
    in "too high N > M", M is T + 1 day. Bounds are exclusive, so N == M is refused with that text.
    """

    __slots__ = ("_held", "_heaps", "_sets")

    def __init__(self, held: int = HELD_NONCES) -> None:
        self._held = held
        self._heaps: dict[str, list[int]] = {}
        self._sets: dict[str, set[int]] = {}

    def check(self, signer: str, nonce: int, block_time_ms: int) -> str | None:
        """None if ``nonce`` is acceptable for ``signer`` now, else the venue's error text. Records nothing."""
        key = signer.lower()
        held = self._sets.get(key)
        if held is not None and nonce in held:
            return f"Invalid nonce: duplicate nonce {nonce}"
        upper = block_time_ms + DAY_MS
        if nonce >= upper:
            return f"Invalid nonce: nonce too high {nonce} > {upper}"
        lower = block_time_ms - 2 * DAY_MS
        if nonce <= lower:
            return f"Invalid nonce: nonce too low {nonce} < {lower}"
        heap = self._heaps.get(key)
        if heap is not None and len(heap) >= self._held and nonce < heap[0]:
            return f"Invalid nonce: nonce too low {nonce} < {heap[0]}"
        return None

    def use(self, signer: str, nonce: int, block_time_ms: int) -> str | None:
        """``check``, and record the nonce when it passes (evicting the lowest beyond ``held``)."""
        error = self.check(signer, nonce, block_time_ms)
        if error is not None:
            return error
        key = signer.lower()
        heap = self._heaps.setdefault(key, [])
        held = self._sets.setdefault(key, set())
        heapq.heappush(heap, nonce)
        held.add(nonce)
        if len(heap) > self._held:
            held.discard(heapq.heappop(heap))
        return None

    def held(self, signer: str) -> list[int]:
        """The nonces kept for ``signer``, ascending."""
        return sorted(self._heaps.get(signer.lower(), []))
