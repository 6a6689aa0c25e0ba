"""The twin's venue-side signer recovery and nonce rules, against the SDK vectors and the agent's signer.

auth.py shares no code with the agent's signing.py; these tests tie the two together only through
published vectors and through signatures made by one and checked by the other.
"""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from eth_account import Account
from hyperliquid.utils import signing as sdk_signing
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.gateway.hyperliquid import signing, wire
from twin.server import auth

VECTORS = json.loads((Path(__file__).parents[1] / "data" / "hl_signing_vectors.json").read_text())
KEY = VECTORS["private_key"]
ADDRESS = VECTORS["address"].lower()
L1_SIGNED = [v for v in VECTORS["l1_action_vectors"] if "mainnet" in v]
DERIVED = VECTORS["derived_vectors_not_upstream"]
NETS = [("mainnet", True), ("testnet", False)]
DAY = 86_400_000
T = 1_791_399_877_207  # a block time in ms


def _ids(vectors):
    return [v["name"] for v in vectors]


def _l1_cases():
    for v in L1_SIGNED:
        for net, is_mainnet in NETS:
            yield pytest.param(v, is_mainnet, v[net]["expected_signature_verbatim"], id=f"{v['name']}-{net}")
    for v in DERIVED["l1_action_vectors"]:
        for net, is_mainnet in NETS:
            yield pytest.param(v, is_mainnet, v[net]["signature"], id=f"derived-{v['name']}-{net}")


@pytest.mark.parametrize("vector,is_mainnet,sig", list(_l1_cases()))
def test_l1_vectors_recover_the_vector_address(vector, is_mainnet, sig):
    args = (vector["action_wire_json"], vector["nonce"], sig, vector["vault_address"], vector["expires_after"])
    assert auth.recover_l1_signer(*args, is_mainnet=is_mainnet) == ADDRESS
    # The other network's source recovers someone else: a mainnet signature is no testnet signature.
    assert auth.recover_l1_signer(*args, is_mainnet=not is_mainnet) != ADDRESS


@pytest.mark.parametrize("vector", L1_SIGNED, ids=_ids(L1_SIGNED))
def test_connection_id_is_the_vectors(vector):
    digest = auth.l1_connection_id(vector["action_wire_json"], vector["nonce"], vector["vault_address"], vector["expires_after"])
    assert "0x" + digest.hex() == vector["mainnet"]["action_hash_connectionId"]


def test_phantom_agent_connection_id():
    vector = VECTORS["l1_action_vectors"][0]
    digest = auth.l1_connection_id(vector["action_wire_json"], vector["nonce"], None, None)
    assert "0x" + digest.hex() == vector["expected_connectionId_verbatim"]


@pytest.mark.parametrize("vector", VECTORS["user_signed_vectors"], ids=_ids(VECTORS["user_signed_vectors"]))
def test_user_signed_vectors_recover_the_vector_address(vector):
    action = dict(vector["message_after_sdk_mutation"])
    sig = vector["expected_signature_verbatim"]
    pairs = [(f["name"], f["type"]) for f in vector["types"]]
    assert auth.recover_user_signed_signer(action, sig, vector["primaryType"], pairs) == ADDRESS
    action["amount"] = "2"
    assert auth.recover_user_signed_signer(action, sig, vector["primaryType"], pairs) != ADDRESS


@pytest.mark.parametrize("vector", DERIVED["user_signed_vectors"], ids=_ids(DERIVED["user_signed_vectors"]))
def test_approve_agent_vectors_recover_even_without_agent_name(vector):
    # The unnamed form posts no agentName at all; the venue hashes it as "".
    assert auth.recover_user_signed_action_signer(vector["posted_action"], vector["signature"]) == ADDRESS


def test_tampered_actions_recover_a_different_address():
    vector = next(v for v in L1_SIGNED if v["name"] == "test_l1_action_signing_order_with_cloid_matches")
    sig = vector["testnet"]["expected_signature_verbatim"]
    action = json.loads(json.dumps(vector["action_wire_json"]))
    assert auth.recover_l1_signer(action, 0, sig, None, None, is_mainnet=False) == ADDRESS
    action["orders"][0]["p"] = "101"
    assert auth.recover_l1_signer(action, 0, sig, None, None, is_mainnet=False) != ADDRESS
    action["orders"][0]["p"] = "100"
    assert auth.recover_l1_signer(action, 1, sig, None, None, is_mainnet=False) != ADDRESS  # another nonce
    vault = "0x1719884eb866cb12b2287399b15f7db5e7d775ea"
    assert auth.recover_l1_signer(action, 0, sig, vault, None, is_mainnet=False) != ADDRESS
    assert auth.recover_l1_signer(action, 0, sig, None, 0, is_mainnet=False) != ADDRESS


def test_venue_canonical_form_catches_what_a_sloppy_signer_hashes():
    """Trailing zeros, key order and upper-case builder addresses are re-serialised by the venue."""
    sloppy_key_order = {"type": "order", "grouping": "na", "orders": [
        {"b": True, "a": 1, "p": "100", "s": "100", "r": False, "t": {"limit": {"tif": "Gtc"}}}]}
    trailing_zero = {"type": "order", "orders": [
        {"a": 1, "b": True, "p": "100.0", "s": "100", "r": False, "t": {"limit": {"tif": "Gtc"}}}], "grouping": "na"}
    upper_builder = wire.order_action([wire.order_wire(1, True, 100, 100, False)])
    upper_builder["builder"] = {"b": "0x1719884EB866CB12B2287399B15F7DB5E7D775EA", "f": 10}
    false_fast_cancel = {"type": "cancel", "cancels": [{"a": 1, "o": 2}], "f": False}
    for sloppy in (sloppy_key_order, trailing_zero, upper_builder, false_fast_cancel):
        # The official SDK hashes whatever dict it is handed, as posted: the venue does not.
        sig = sdk_signing.sign_l1_action(Account.from_key(KEY), sloppy, None, T, None, False)
        assert auth.recover_l1_signer(sloppy, T, sig, None, None, is_mainnet=False) != ADDRESS
    canonical = auth.canonical_l1_action(trailing_zero)
    assert canonical["orders"][0]["p"] == "100"
    sig = sdk_signing.sign_l1_action(Account.from_key(KEY), canonical, None, T, None, False)
    assert auth.recover_l1_signer(trailing_zero, T, sig, None, None, is_mainnet=False) == ADDRESS


def test_malformed_actions_and_signatures():
    with pytest.raises(auth.MalformedAction, match="Failed to deserialize"):
        auth.canonical_l1_action({"type": "order", "orders": [{"a": 1}], "grouping": "na"})
    with pytest.raises(auth.MalformedAction):
        auth.canonical_l1_action({"type": "order", "orders": [
            {"a": 1, "b": True, "p": 100.0, "s": "1", "r": False, "t": {"limit": {"tif": "Gtc"}}}], "grouping": "na"})
    noop = {"type": "noop"}
    for bad in ({"r": "0x0", "s": "0x1", "v": 27}, {"r": "0x1", "s": "0x1", "v": 29}, {"r": "zz", "s": "0x1", "v": 27}, {}):
        with pytest.raises(auth.UnrecoverableSignature, match="Unable to recover signer."):
            auth.recover_l1_signer(noop, T, bad, None, None, is_mainnet=False)


def test_unknown_network_tries_testnet_then_mainnet():
    action = wire.noop_action()
    mainnet_sig = signing.sign_l1_action(KEY, action, None, T, None, True)
    testnet_sig = signing.sign_l1_action(KEY, action, None, T, None, False)
    known = {ADDRESS}.__contains__
    assert auth.recover_l1_signer(action, T, testnet_sig, None, None, is_known=known) == ADDRESS
    assert auth.recover_l1_signer(action, T, mainnet_sig, None, None, is_known=known) == ADDRESS
    # Without a directory of known signers only the testnet source can be tried: it names a stranger.
    assert auth.recover_l1_signer(action, T, mainnet_sig, None, None) != ADDRESS
    candidates = dict(auth.recover_l1_candidates(action, T, mainnet_sig, None, None))
    assert candidates["a"] == ADDRESS and candidates["b"] != ADDRESS


# --- the agent's signer and the twin's verifier agree on random orders ---------------------------

prices = st.decimals(min_value=Decimal("0.00001"), max_value=Decimal("999999"), places=5)
order_args = st.tuples(
    st.integers(min_value=0, max_value=200_000),
    st.booleans(),
    prices,
    st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("100000"), places=4),
    st.booleans(),
    st.sampled_from(wire.TIFS),
    st.none() | st.integers(min_value=0, max_value=(1 << 128) - 1),
)


@given(
    key=st.binary(min_size=32, max_size=32).filter(lambda b: 0 < int.from_bytes(b, "big") < (1 << 256) - (1 << 130)),
    orders=st.lists(order_args, min_size=1, max_size=4),
    nonce=st.integers(min_value=0, max_value=(1 << 64) - 1),
    vault=st.none() | st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
    expires_after=st.none() | st.integers(min_value=0, max_value=(1 << 64) - 1),
    is_mainnet=st.booleans(),
)
@settings(max_examples=40, deadline=None)
def test_agent_signature_recovers_to_the_signer(key, orders, nonce, vault, expires_after, is_mainnet):
    wallet = signing.Wallet(key)
    action = wire.order_action([wire.order_wire(*args) for args in orders])
    sig = signing.sign_l1_action(wallet, action, vault, nonce, expires_after, is_mainnet)
    posted = json.loads(json.dumps(action))  # what the twin's server sees after the HTTP hop
    recovered = auth.recover_l1_signer(posted, nonce, sig, vault, expires_after, is_mainnet=is_mainnet)
    assert recovered == wallet.address.lower()


# --- nonce window ----------------------------------------------------------------------------------

SIGNER = "0x14791697260e4c9a71f18484c9f997b308e59325"


def test_nonce_accepted_once_then_duplicate():
    window = auth.NonceWindow()
    assert window.use(SIGNER, T, T) is None
    assert window.use(SIGNER, T, T + 5) == f"Invalid nonce: duplicate nonce {T}"
    assert window.use(SIGNER.upper().replace("0X", "0x"), T, T) == f"Invalid nonce: duplicate nonce {T}"
    assert window.use("0x" + "11" * 20, T, T) is None  # nonce sets are per signer


def test_nonce_time_window_bounds_match_the_venue_texts():
    window = auth.NonceWindow()
    assert window.check(SIGNER, T - 2 * DAY + 1, T) is None
    assert window.check(SIGNER, T + DAY - 1, T) is None
    low = T - 3 * DAY
    assert window.use(SIGNER, low, T) == f"Invalid nonce: nonce too low {low} < {T - 2 * DAY}"
    high = T + 2 * DAY
    assert window.use(SIGNER, high, T) == f"Invalid nonce: nonce too high {high} > {T + DAY}"
    assert window.held(SIGNER) == []  # refused nonces are not recorded


def test_nonce_must_beat_the_lowest_of_the_hundred_held():
    window = auth.NonceWindow()
    for n in range(T, T + 200, 2):  # 100 nonces, the lowest is T
        assert window.use(SIGNER, n, T) is None
    assert window.use(SIGNER, T - 1, T) == f"Invalid nonce: nonce too low {T - 1} < {T}"
    assert window.use(SIGNER, T + 1, T) is None  # a gap above the minimum is still usable
    assert len(window.held(SIGNER)) == 100 and window.held(SIGNER)[0] == T + 1  # T was evicted
    assert window.use(SIGNER, T, T) == f"Invalid nonce: nonce too low {T} < {T + 1}"


def test_fewer_than_a_hundred_held_allows_any_unused_nonce_in_the_time_window():
    window = auth.NonceWindow()
    for n in (T, T + 10, T + 20):
        assert window.use(SIGNER, n, T) is None
    assert window.use(SIGNER, T - 1000, T) is None


def test_always_place_modifies_are_hashed_with_a_last():
    """``"a": true`` (always place) is part of the signed action: a client adds it to the dict the SDK builds, so
    it is hashed last; the venue recovers the signer only if it hashes it too (dropping it recovered a random
    address). ``"a": false`` is not the venue's form: hashed as sent, it recovers someone else, as ``"f": false``."""
    order = wire.order_wire(1, True, 100, 100, False)
    modify = {"type": "modify", "oid": 7, "order": order, "a": True}
    batch = {"type": "batchModify", "modifies": [{"oid": 7, "order": order}], "a": True}
    for action in (modify, batch):
        sig = sdk_signing.sign_l1_action(Account.from_key(KEY), action, None, T, None, False)
        assert auth.recover_l1_signer(action, T, sig, None, None, is_mainnet=False) == ADDRESS
        assert list(auth.canonical_l1_action(action))[-1] == "a"
    false_place = dict(modify, a=False)
    sig = sdk_signing.sign_l1_action(Account.from_key(KEY), false_place, None, T, None, False)
    assert auth.recover_l1_signer(false_place, T, sig, None, None, is_mainnet=False) != ADDRESS
