"""A signing key or account address of the wrong shape is refused saying what is wrong with it, never its value:
"it has 68 characters" alone left the operator counting, where the usual causes are quotes kept around it (a
docker --env-file or systemd EnvironmentFile line ``HL_SECRET_KEY="0x..."``: neither strips them), ``0X`` for
``0x``, or a space inside from a wrapped paste."""
from __future__ import annotations

import pytest

from agent.live_cli import UsageError, load_key

HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
ADDRESS = "0x2c7536e3605d9c16a7a3d7b1898e529396a65c23"


@pytest.mark.parametrize("given, said", [
    (f'"0x{HEX}"', "in quotes"),
    (f"'{HEX}'", "in quotes"),
    (f"0X{HEX}", "0X"),
    (f"0x{HEX[:30]} {HEX[30:]}", "a space"),
    (f"0x{HEX[:-1]}", "63 hex digits"),
])
def test_a_key_of_the_wrong_shape_is_refused_saying_why_not_showing_it(given, said):
    with pytest.raises(UsageError) as e:
        load_key(None, {"HL_SECRET_KEY": given})
    text = str(e.value)
    assert text.startswith("HL_SECRET_KEY is not a valid private key") and said in text, text
    assert HEX[:16] not in text and HEX[-16:] not in text


@pytest.mark.parametrize("given, said", [(f'"{ADDRESS}"', "in quotes"), (ADDRESS.replace("0x", "0X"), "0X")])
def test_an_address_of_the_wrong_shape_is_refused_saying_why(given, said):
    with pytest.raises(UsageError) as e:
        load_key(None, {"HL_SECRET_KEY": "0x" + HEX, "HL_ACCOUNT_ADDRESS": given})
    text = str(e.value)
    assert text.startswith("HL_ACCOUNT_ADDRESS must be 0x + 40 hex digits") and said in text, text
    assert ADDRESS[2:] not in text
