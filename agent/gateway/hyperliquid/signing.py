"""Signing Hyperliquid actions (hyperliquid.md §3): L1 actions through the phantom agent, and user-signed actions.

The ECDSA and EIP-712 work is eth-account's; this module only lays out what gets hashed. The private
key lives inside ``Wallet`` and never appears in a repr, a str, an exception or a pickle.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import msgpack
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_keys.datatypes import PrivateKey
from eth_utils import keccak

from agent.gateway.hyperliquid.wire import is_address

_ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
_EIP712_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
# L1 actions are signed as an "Agent" message on this fixed domain (chainId 1337 is the venue's choice).
_L1_DOMAIN = {"name": "Exchange", "version": "1", "chainId": 1337, "verifyingContract": _ZERO_ADDRESS}
_AGENT_FIELDS = [{"name": "source", "type": "string"}, {"name": "connectionId", "type": "bytes32"}]

# User-signed actions: any EVM chain id may be named; the SDK uses Arbitrum Sepolia's, 421614.
SIGNATURE_CHAIN_ID = "0x66eee"

# Field lists of the user-signed actions an MM may need, in the order the venue hashes them (§3.2).
USD_SEND_TYPES = [
    {"name": "hyperliquidChain", "type": "string"},
    {"name": "destination", "type": "string"},
    {"name": "amount", "type": "string"},
    {"name": "time", "type": "uint64"},
]
WITHDRAW_TYPES = list(USD_SEND_TYPES)
SPOT_SEND_TYPES = [
    {"name": "hyperliquidChain", "type": "string"},
    {"name": "destination", "type": "string"},
    {"name": "token", "type": "string"},
    {"name": "amount", "type": "string"},
    {"name": "time", "type": "uint64"},
]
USD_CLASS_TRANSFER_TYPES = [
    {"name": "hyperliquidChain", "type": "string"},
    {"name": "amount", "type": "string"},
    {"name": "toPerp", "type": "bool"},
    {"name": "nonce", "type": "uint64"},
]
APPROVE_AGENT_TYPES = [
    {"name": "hyperliquidChain", "type": "string"},
    {"name": "agentAddress", "type": "address"},
    {"name": "agentName", "type": "string"},
    {"name": "nonce", "type": "uint64"},
]
APPROVE_BUILDER_FEE_TYPES = [
    {"name": "hyperliquidChain", "type": "string"},
    {"name": "maxFeeRate", "type": "string"},
    {"name": "builder", "type": "address"},
    {"name": "nonce", "type": "uint64"},
]


class Wallet:
    """A signing key that shows only its address: repr, str and errors never carry the secret.

    It signs with the key as eth-keys' ``PrivateKey`` object, made once: ``LocalAccount.sign_message`` hands
    ``Account.sign_message`` the key's bytes, from which eth-account builds that object afresh for every signature,
    deriving the public key again (a second elliptic-curve multiplication, as long as the signature's own: 1.7 ms
    of pure Python with eth-keys' native backend) and probing again for the optional ``coincurve`` backend (a
    failed import, 0.2 ms). ``Account.sign_message`` takes the object as it is (its documented ``private_key``
    types): the same signature, as RFC 6979 makes it from the key and the hash alone, at half the cost. The object
    holds the backend eth-keys picks (coincurve when installed, else its native one; ``ECC_BACKEND_CLASS``), picked
    once: without one it picks again, probing for coincurve, on every signature."""

    __slots__ = ("_account", "_key")

    def __init__(self, key: str | bytes | LocalAccount) -> None:
        if not isinstance(key, LocalAccount):
            try:
                key = Account.from_key(key)
            except Exception:
                # eth-account's message may quote the input; drop it and its traceback chain.
                raise ValueError("private key is malformed (value not shown)") from None
        self._account = key
        self._key = PrivateKey(key.key, backend=PrivateKey.get_backend())

    @property
    def address(self) -> str:
        """The checksummed address this key signs as."""
        return self._account.address

    def sign_typed_data(self, full_message: Mapping[str, Any]) -> dict:
        """EIP-712 sign ``full_message``; returns the venue's ``{"r","s","v"}`` (r, s hex without zero padding)."""
        signed = Account.sign_message(encode_typed_data(full_message=full_message), self._key)
        return {"r": hex(signed.r), "s": hex(signed.s), "v": signed.v}

    def __repr__(self) -> str:
        return f"Wallet(address={self.address})"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("Wallet holds a private key and cannot be pickled or copied")


def as_wallet(key_or_account: Wallet | LocalAccount | str | bytes) -> Wallet:
    """Accept a Wallet, an eth-account LocalAccount or a raw private key."""
    return key_or_account if isinstance(key_or_account, Wallet) else Wallet(key_or_account)


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_float(v) for v in value)
    return False


def action_hash(action: Mapping, vault_address: str | None, nonce: int, expires_after: int | None) -> bytes:
    """The phantom agent's connectionId: keccak256 over msgpack(action) ‖ nonce ‖ vault ‖ expiresAfter (§3.1).

    Layout: msgpack in insertion order; nonce as 8 bytes big-endian; ``00`` for no vault or ``01`` and
    the 20 address bytes; then, only if ``expires_after`` is set, ``00`` and it as 8 bytes big-endian.
    """
    if _has_float(action):
        # The venue re-serialises numbers from its own types; a float here can never hash the same.
        raise ValueError(f"action {action.get('type')!r} contains a float; numbers must be strings or ints")
    data = bytearray(msgpack.packb(action))
    data += int(nonce).to_bytes(8, "big")
    if vault_address is None:
        data += b"\x00"
    else:
        if not is_address(vault_address):
            raise ValueError(f"vault_address must be 0x + 40 hex digits, got {vault_address!r}")
        data += b"\x01" + bytes.fromhex(vault_address[2:])
    if expires_after is not None:
        data += b"\x00" + int(expires_after).to_bytes(8, "big")
    return keccak(bytes(data))


def l1_typed_data(connection_id: bytes, is_mainnet: bool) -> dict:
    """The EIP-712 message an L1 action is signed as: Agent{source "a" mainnet | "b" testnet, connectionId}."""
    return {
        "domain": _L1_DOMAIN,
        "types": {"Agent": _AGENT_FIELDS, "EIP712Domain": _EIP712_DOMAIN_FIELDS},
        "primaryType": "Agent",
        "message": {"source": "a" if is_mainnet else "b", "connectionId": connection_id},
    }


def sign_l1_action(
    wallet: Wallet | LocalAccount | str | bytes,
    action: Mapping,
    vault_address: str | None,
    nonce: int,
    expires_after: int | None,
    is_mainnet: bool,
) -> dict:
    """Sign an L1 action (order, cancel, modify, scheduleCancel, updateLeverage, noop, ...) -> ``{"r","s","v"}``."""
    connection_id = action_hash(action, vault_address, nonce, expires_after)
    return as_wallet(wallet).sign_typed_data(l1_typed_data(connection_id, is_mainnet))


def sign_user_signed_action(
    wallet: Wallet | LocalAccount | str | bytes,
    action: Mapping,
    payload_types: Sequence[Mapping[str, str]],
    primary_type: str,
    is_mainnet: bool,
) -> tuple[dict, dict]:
    """Sign a user-signed action (usdSend, withdraw3, approveAgent, ...) -> ``(action_to_post, signature)``.

    ``action_to_post`` is a new dict: ``action`` plus ``signatureChainId`` and ``hyperliquidChain``,
    which the venue requires in the posted action. ``action`` itself is not modified.
    """
    posted = dict(action)
    posted["signatureChainId"] = SIGNATURE_CHAIN_ID
    posted["hyperliquidChain"] = "Mainnet" if is_mainnet else "Testnet"
    typed = {
        "domain": {
            "name": "HyperliquidSignTransaction",
            "version": "1",
            "chainId": int(SIGNATURE_CHAIN_ID, 16),
            "verifyingContract": _ZERO_ADDRESS,
        },
        "types": {primary_type: [dict(f) for f in payload_types], "EIP712Domain": _EIP712_DOMAIN_FIELDS},
        "primaryType": primary_type,
        "message": {f["name"]: posted[f["name"]] for f in payload_types},
    }
    return posted, as_wallet(wallet).sign_typed_data(typed)


def approve_agent_action(
    wallet: Wallet | LocalAccount | str | bytes,
    agent_address: str,
    agent_name: str | None,
    nonce: int,
    is_mainnet: bool,
) -> tuple[dict, dict]:
    """Approve an API (agent) wallet -> ``(action_to_post, signature)``; ``nonce`` is also the outer nonce.

    As the reference SDK does on the wire: an unnamed agent is signed with ``agentName: ""`` and the
    ``agentName`` key is then left out of the posted action.
    """
    if not is_address(agent_address):
        raise ValueError(f"agent_address must be 0x + 40 hex digits, got {agent_address!r}")
    action = {
        "type": "approveAgent",
        "agentAddress": agent_address,
        "agentName": agent_name if agent_name is not None else "",
        "nonce": int(nonce),
    }
    posted, signature = sign_user_signed_action(
        wallet, action, APPROVE_AGENT_TYPES, "HyperliquidTransaction:ApproveAgent", is_mainnet
    )
    if agent_name is None:
        del posted["agentName"]
    return posted, signature
