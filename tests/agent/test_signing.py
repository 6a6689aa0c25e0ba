"""The agent's Hyperliquid wire builders, signer and nonces against the SDK's published vectors.

Vectors: tests/data/hl_signing_vectors.json (upstream SDK tests, plus SDK-computed derived ones).
The official SDK is imported here only, as an independent oracle on random actions.
"""
from __future__ import annotations

import json
import pickle
import threading
from decimal import Decimal
from pathlib import Path

import msgpack
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hyperliquid.utils import signing as sdk_signing
from hyperliquid.utils.types import Cloid
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.gateway.hyperliquid import signing, wire
from agent.gateway.hyperliquid.nonces import NonceManager

VECTORS = json.loads((Path(__file__).parents[1] / "data" / "hl_signing_vectors.json").read_text())
KEY = VECTORS["private_key"]
ADDRESS = VECTORS["address"]
L1 = VECTORS["l1_action_vectors"]
L1_SIGNED = [v for v in L1 if "mainnet" in v]
DERIVED = VECTORS["derived_vectors_not_upstream"]
NETS = [("mainnet", True), ("testnet", False)]


def _ids(vectors):
    return [v["name"] for v in vectors]


# --- numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    list(VECTORS["float_vectors"]["float_to_wire_examples_computed_with_sdk_0_24_0"].items())
    + list(DERIVED["float_to_wire_examples"].items()),
)
def test_float_to_wire_matches_sdk_examples(text, expected):
    assert wire.float_to_wire(eval(text)) == expected  # keys are Python reprs of numbers


@pytest.mark.parametrize("x", DERIVED["float_to_wire_raises_ValueError"])
def test_float_to_wire_refuses_rounding(x):
    with pytest.raises(ValueError, match="rounding"):
        wire.float_to_wire(x)


def test_float_to_wire_keeps_the_minus_zero_quirk_and_refuses_non_numbers():
    assert wire.float_to_wire(-0.0) == "-0"
    assert wire.float_to_wire(Decimal("1670.10000000")) == "1670.1"
    for bad in (float("nan"), float("inf"), "1.0", True):
        with pytest.raises(ValueError):
            wire.float_to_wire(bad)


@pytest.mark.parametrize("x,expected", VECTORS["float_vectors"]["float_to_int_for_hashing"])
def test_float_to_int_for_hashing_vectors(x, expected):
    assert wire.float_to_int_for_hashing(x) == expected


@pytest.mark.parametrize("x", VECTORS["float_vectors"]["float_to_int_for_hashing_raises_ValueError"])
def test_float_to_int_for_hashing_refuses_rounding(x):
    with pytest.raises(ValueError):
        wire.float_to_int_for_hashing(x)


@given(st.floats(min_value=1e-8, max_value=1e9, allow_nan=False, allow_infinity=False))
@settings(max_examples=300, deadline=None)
def test_float_to_wire_agrees_with_sdk(x):
    try:
        expected = sdk_signing.float_to_wire(x)
    except ValueError:
        with pytest.raises(ValueError):
            wire.float_to_wire(x)
        return
    assert wire.float_to_wire(x) == expected


# --- wire shapes ---------------------------------------------------------------------------------


def test_cloid_validation():
    assert wire.cloid_to_wire(1) == "0x00000000000000000000000000000001"
    assert wire.cloid_to_wire("0x" + "AB" * 16) == "0x" + "ab" * 16
    for bad in ("0x" + "0" * 31, "0x" + "g" * 32, "00" * 17, 1 << 128, -1):
        with pytest.raises(ValueError, match="cloid"):
            wire.cloid_to_wire(bad)


def test_order_wire_key_order_is_the_msgpack_order():
    order = wire.order_wire(1, True, 100, 100, False, "Gtc", cloid=1)
    assert list(order) == ["a", "b", "p", "s", "r", "t", "c"]
    assert list(wire.order_wire(1, True, 100, 100, False, "Gtc")) == ["a", "b", "p", "s", "r", "t"]
    with pytest.raises(ValueError, match="tif"):
        wire.order_wire(1, True, 100, 100, False, "GTC")


def test_upstream_order_vectors_are_rebuilt_byte_for_byte():
    by_name = {v["name"]: v for v in L1}
    built = {
        "test_phantom_agent_creation_matches_production": wire.order_action(
            [wire.order_wire(4, True, 1670.1, 0.0147, False, "Ioc")]
        ),
        "test_l1_action_signing_order_matches": wire.order_action([wire.order_wire(1, True, 100, 100, False, "Gtc")]),
        "test_l1_action_signing_order_with_cloid_matches": wire.order_action(
            [wire.order_wire(1, True, 100, 100, False, "Gtc", cloid="0x00000000000000000000000000000001")]
        ),
        "test_l1_action_signing_tpsl_order_matches": wire.order_action(
            [wire.order_wire(1, True, 100, 100, False, None, trigger=wire.Trigger(103, True, "sl"))]
        ),
        "test_schedule_cancel_action[no time]": wire.schedule_cancel_action(None),
        "test_schedule_cancel_action[time=123456789]": wire.schedule_cancel_action(123456789),
    }
    for name, action in built.items():
        vector = by_name[name]
        assert action == vector["action_wire_json"], name
        expected_hex = vector.get("msgpack_action_hex") or vector["mainnet"]["msgpack_action_hex"]
        assert msgpack.packb(action).hex() == expected_hex, name


def _build_derived(vector: dict) -> dict:
    inputs, name = vector["inputs"], vector["name"]

    def order(o):
        return wire.order_wire(o["asset"], o["is_buy"], o["px"], o["sz"], o["reduce_only"], o["tif"], o["cloid"])

    if name == "cancel":
        return wire.cancel_action(inputs["cancels"])
    if name == "cancelByCloid":
        return wire.cancel_by_cloid_action(inputs["cancels"])
    if name == "batchModify":
        return wire.batch_modify_action([(inputs["oid"], order(inputs["order"]))])
    if name == "modify_by_cloid":
        return wire.modify_action(inputs["oid"], order(inputs["order"]))
    if name == "updateLeverage":
        return wire.update_leverage_action(inputs["asset"], inputs["is_cross"], inputs["leverage"])
    if name == "noop":
        return wire.noop_action()
    if name == "scheduleCancel_with_time":
        return wire.schedule_cancel_action(inputs["time_ms"])
    return wire.order_action([order(inputs)], builder=inputs.get("builder"))


@pytest.mark.parametrize("vector", DERIVED["l1_action_vectors"], ids=_ids(DERIVED["l1_action_vectors"]))
def test_derived_vectors_rebuilt_hashed_and_signed(vector):
    action = _build_derived(vector)
    assert action == vector["action_wire_json"]
    digest = signing.action_hash(action, vector["vault_address"], vector["nonce"], vector["expires_after"])
    assert "0x" + digest.hex() == vector["action_hash_connectionId"]
    for net, is_mainnet in NETS:
        sig = signing.sign_l1_action(KEY, action, vector["vault_address"], vector["nonce"], vector["expires_after"], is_mainnet)
        assert sig == vector[net]["signature"], net


# --- L1 signing ----------------------------------------------------------------------------------


def test_phantom_agent_connection_id():
    vector = L1[0]
    digest = signing.action_hash(vector["action_wire_json"], None, vector["nonce"], None)
    assert "0x" + digest.hex() == vector["expected_connectionId_verbatim"]


@pytest.mark.parametrize("vector", L1_SIGNED, ids=_ids(L1_SIGNED))
@pytest.mark.parametrize("net,is_mainnet", NETS)
def test_upstream_l1_vectors(vector, net, is_mainnet):
    expected = vector[net]
    action = vector["action_wire_json"]
    digest = signing.action_hash(action, vector["vault_address"], vector["nonce"], vector["expires_after"])
    assert "0x" + digest.hex() == expected["action_hash_connectionId"]
    sig = signing.sign_l1_action(KEY, action, vector["vault_address"], vector["nonce"], vector["expires_after"], is_mainnet)
    # Exact strings: r and s carry no zero padding (some vectors have 63 hex digits).
    assert sig == expected["expected_signature_verbatim"]


def test_action_hash_layout_of_vault_and_expires_after():
    action = wire.noop_action()
    plain = signing.action_hash(action, None, 7, None)
    assert signing.action_hash(action, None, 7, 0) != plain  # expiresAfter=0 still appends its 9 bytes
    vault = "0x1719884eb866cb12b2287399b15f7db5e7d775ea"
    assert signing.action_hash(action, vault, 7, None) == signing.action_hash(action, vault.upper().replace("0X", "0x"), 7, None)
    with pytest.raises(ValueError, match="float"):
        signing.action_hash({"type": "order", "orders": [{"p": 100.0}]}, None, 7, None)


# --- user-signed ---------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["user_signed_vectors"], ids=_ids(VECTORS["user_signed_vectors"]))
def test_upstream_user_signed_vectors(vector):
    original = dict(vector["message_input"])
    posted, sig = signing.sign_user_signed_action(
        KEY, vector["message_input"], vector["types"], vector["primaryType"], vector["is_mainnet"]
    )
    assert posted == vector["message_after_sdk_mutation"]
    assert sig == vector["expected_signature_verbatim"]
    assert vector["message_input"] == original  # the caller's dict is left alone


@pytest.mark.parametrize("vector", DERIVED["user_signed_vectors"], ids=_ids(DERIVED["user_signed_vectors"]))
def test_derived_approve_agent_vectors(vector):
    inputs = vector["inputs"]
    posted, sig = signing.approve_agent_action(
        KEY, inputs["agent_address"], inputs["agent_name"], inputs["nonce"], vector["is_mainnet"]
    )
    assert posted == vector["posted_action"]
    assert list(posted) == list(vector["posted_action"])
    assert sig == vector["signature"]


# --- the key stays hidden ------------------------------------------------------------------------


def test_wallet_never_shows_its_key():
    wallet = signing.Wallet(KEY)
    secret = KEY[2:].lower()
    assert wallet.address == ADDRESS
    for text in (repr(wallet), str(wallet), f"{wallet}", repr([wallet])):
        assert secret not in text.lower() and ADDRESS in text
    with pytest.raises(TypeError):
        pickle.dumps(wallet)
    with pytest.raises(ValueError) as excinfo:
        signing.Wallet("0x1234" + secret[4:40])
    assert secret[4:40] not in str(excinfo.value) and excinfo.value.__cause__ is None


def test_signing_accepts_a_local_account_or_a_wallet():
    action = wire.noop_action()
    by_key = signing.sign_l1_action(KEY, action, None, 5, None, True)
    assert signing.sign_l1_action(Account.from_key(KEY), action, None, 5, None, True) == by_key
    assert signing.sign_l1_action(signing.Wallet(KEY), action, None, 5, None, True) == by_key


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@given(key=st.integers(min_value=1, max_value=SECP256K1_N - 1),
       connection_ids=st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=3),
       is_mainnet=st.booleans())
@settings(max_examples=20, deadline=None)
def test_a_wallet_signs_as_eth_account_does_afresh(key, connection_ids, is_mainnet):
    """The Wallet holds its key as eth-keys' object, made once: each of its signatures (one wallet, several
    messages) is the one eth-account's LocalAccount makes from the key's bytes afresh, and its address too."""
    hex_key = f"0x{key:064x}"
    wallet = signing.Wallet(hex_key)
    fresh = Account.from_key(hex_key)
    assert wallet.address == fresh.address
    for cid in connection_ids:
        typed = signing.l1_typed_data(cid, is_mainnet)
        theirs = fresh.sign_message(encode_typed_data(full_message=typed))
        assert wallet.sign_typed_data(typed) == {"r": hex(theirs.r), "s": hex(theirs.s), "v": theirs.v}


# --- cross-check against the official SDK on random actions ---------------------------------------

prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("99999"), places=4).map(float)
sizes = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("10000"), places=3).map(float)
cloids = st.none() | st.integers(min_value=0, max_value=(1 << 128) - 1).map(lambda c: f"0x{c:032x}")
order_inputs = st.fixed_dictionaries(
    {
        "asset": st.integers(min_value=0, max_value=200_000),
        "is_buy": st.booleans(),
        "px": prices,
        "sz": sizes,
        "reduce_only": st.booleans(),
        "tif": st.sampled_from(wire.TIFS),
        "cloid": cloids,
    }
)


@given(
    orders=st.lists(order_inputs, min_size=1, max_size=3),
    nonce=st.integers(min_value=0, max_value=(1 << 63) - 1),
    vault=st.none() | st.just("0x1719884eb866cb12b2287399b15f7db5e7d775ea"),
    expires_after=st.none() | st.integers(min_value=0, max_value=(1 << 63) - 1),
    is_mainnet=st.booleans(),
)
@settings(max_examples=15, deadline=None)
def test_random_orders_match_the_official_sdk(orders, nonce, vault, expires_after, is_mainnet):
    ours = wire.order_action(
        [wire.order_wire(o["asset"], o["is_buy"], o["px"], o["sz"], o["reduce_only"], o["tif"], o["cloid"]) for o in orders]
    )
    sdk_wires = [
        sdk_signing.order_request_to_order_wire(
            {
                "coin": "X",
                "is_buy": o["is_buy"],
                "sz": o["sz"],
                "limit_px": o["px"],
                "reduce_only": o["reduce_only"],
                "order_type": {"limit": {"tif": o["tif"]}},
                "cloid": Cloid.from_str(o["cloid"]) if o["cloid"] else None,
            },
            o["asset"],
        )
        for o in orders
    ]
    theirs = sdk_signing.order_wires_to_order_action(sdk_wires)
    assert msgpack.packb(ours) == msgpack.packb(theirs)
    sdk_sig = sdk_signing.sign_l1_action(Account.from_key(KEY), theirs, vault, nonce, expires_after, is_mainnet)
    assert signing.sign_l1_action(KEY, ours, vault, nonce, expires_after, is_mainnet) == sdk_sig


# --- nonces ----------------------------------------------------------------------------------------


def test_nonces_unique_and_increasing_across_threads_with_a_frozen_clock():
    manager = NonceManager(lambda: 1_700_000_000_000)
    per_thread: list[list[int]] = [[] for _ in range(8)]

    def work(out: list[int]) -> None:
        for _ in range(1250):
            out.append(manager.next())

    threads = [threading.Thread(target=work, args=(out,)) for out in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [n for out in per_thread for n in out]
    assert len(every) == 10_000 and len(set(every)) == 10_000
    assert all(a < b for out in per_thread for a, b in zip(out, out[1:]))  # increasing within each caller
    assert min(every) == 1_700_000_000_000 and max(every) == 1_700_000_009_999


def test_nonces_are_unique_across_the_hosts_processes_signing_with_one_key(tmp_path):
    """The venue keeps one nonce set per signer: two agents on a host signing with one key (two coins of one
    account) refused each other's actions as duplicate nonces in any millisecond both signed. Through the
    shared file, two processes on a frozen clock never hand out one nonce twice."""
    import subprocess
    import sys
    shared = tmp_path / "nonce"
    code = ("import sys; from pathlib import Path; from agent.gateway.hyperliquid.nonces import NonceManager; "
            "m = NonceManager(lambda: 1_700_000_000_000, shared=Path(sys.argv[1])); "
            "print(' '.join(str(m.next()) for _ in range(3000)))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(shared)], stdout=subprocess.PIPE) for _ in range(2)]
    outs = [[int(n) for n in p.communicate(timeout=60)[0].split()] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    every = outs[0] + outs[1]
    assert len(every) == 6000 and len(set(every)) == 6000  # alone, each would have used ...000 to ...2999
    assert all(a < b for out in outs for a, b in zip(out, out[1:]))
    assert max(every) == 1_700_000_005_999


def test_a_shared_nonce_on_another_time_base_is_not_followed(tmp_path):
    """A process whose clock is far from ours (a twin at another epoch) wrote the file: its nonce is no
    collision risk, and following it would put ours out of the venue's window."""
    shared = tmp_path / "nonce"
    far = NonceManager(lambda: 1_800_000_000_000, shared=shared)
    assert far.next() == 1_800_000_000_000
    near = NonceManager(lambda: 1_700_000_000_000, shared=shared)
    assert near.next() == 1_700_000_000_000  # not 1_800_000_000_001
    assert far.next() == 1_800_000_000_001  # (and the far one ignores ours, behind its clock)
    close = NonceManager(lambda: 1_800_000_000_000 - 5_000, shared=shared)  # five seconds behind: followed
    assert close.next() == 1_800_000_000_002
    for m in (far, near, close):
        m.close()
    assert far.next() == 1_800_000_000_002  # closed: counts alone


def _open_on(path: Path) -> int:
    """How many of this process's descriptors are open on ``path`` (Linux's /proc)."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if Path(_readlink(fd)) == path)


def _readlink(fd: Path) -> str:
    try:
        return str(fd.readlink())
    except OSError:  # (the listing's own descriptor, gone by now)
        return ""


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors through Linux's /proc")
def test_a_nonce_manager_dropped_unclosed_lets_go_of_the_shared_file(tmp_path):
    """Each manager held the shared file open until ``close``: a gateway built and never closed (a hypothesis test
    building one per example) left its descriptor for the life of the process, 804 on one file in a whole test run.
    Dropped, a manager lets go of it; closed, too, and a second close is no error."""
    import gc
    shared = tmp_path / "nonce"
    kept = NonceManager(lambda: 1_000, shared=shared)
    for i in range(50):
        dropped = NonceManager(lambda: 1_000, shared=shared)
        assert dropped.next() > 1_000 + i - 1
    del dropped
    gc.collect()
    assert _open_on(shared.resolve()) == 1  # (the one kept)
    kept.close()
    kept.close()
    assert _open_on(shared.resolve()) == 0 and kept.next() == 1_000  # (counts alone: the file says 1_050)


def test_nonces_fast_forward_to_the_clock():
    now = [1_000]
    manager = NonceManager(lambda: now[0], start_after=1_002)
    assert [manager.next(), manager.next()] == [1_003, 1_004]  # clock behind the last nonce
    now[0] = 5_000
    assert manager.next() == 5_000 and manager.last == 5_000
