"""--keystore with HL_SECRET_KEY set too (exported for testnet in a profile, the keystore for this run): the
keystore's key signed and the other was ignored without a word, so an operator could not tell which wallet traded.
A note now says the keystore's key signs, giving its address (public), and that HL_SECRET_KEY is not used."""
from __future__ import annotations

import json

from eth_account import Account

from agent.live_cli import load_key

KS_KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
ENV_KEY = "0x" + "11f33ef0ff2c10729f6af1436af3fc6fbeb70b1e61ba4a406f4bae874f9b6013"


def _keystore(tmp_path):
    path = tmp_path / "ks.json"
    path.write_text(json.dumps(Account.encrypt(KS_KEY, "pw", kdf="pbkdf2", iterations=2)))
    return path


def test_a_keystore_beside_hl_secret_key_says_which_signs(tmp_path, capsys):
    path = _keystore(tmp_path)
    wallet, _ = load_key(str(path), {"HL_SECRET_KEY": ENV_KEY, "HL_KEYSTORE_PASSWORD": "pw"})
    address = Account.from_key(KS_KEY).address.lower()
    assert wallet.address.lower() == address
    err = capsys.readouterr().err
    assert "HL_SECRET_KEY is set too and not used" in err and str(path) in err and address in err.lower(), err
    assert KS_KEY[2:] not in err and ENV_KEY[2:] not in err


def test_a_keystore_alone_says_nothing(tmp_path, capsys):
    load_key(str(_keystore(tmp_path)), {"HL_KEYSTORE_PASSWORD": "pw"})
    assert capsys.readouterr().err == ""
