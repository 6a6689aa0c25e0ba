"""A private key where another value goes is never echoed by the error that refuses it: a config's
``private_key:`` field (pydantic echoes the input it refuses), a key pasted as an option's value (argparse echoes
it). The errors went to the terminal, and from there to scrollback and CI logs."""
from __future__ import annotations

import hashlib
import re
import subprocess
import sys

import pytest
from hypothesis import given, strategies as st

from twin.files import KEY_HIDDEN, hide_keys, short_repr

KEY = hashlib.sha256(b"a throwaway key for tests, never funded").hexdigest()  # 64 hex digits, a key's form
_HEX = "0123456789abcdefABCDEF"
_hex_runs = re.compile(r"[0-9a-fA-F]+")


def _leaked(text: str) -> bool:
    """Whether ``text`` shows 16 or more of the key's digits in a row."""
    return any(KEY[i:i + 16] in text.lower() for i in range(0, 64 - 15))


@given(st.text(max_size=40), st.text(max_size=40), st.booleans(), st.booleans())
def test_hide_keys_leaves_no_run_of_64_hex_digits_and_keeps_the_rest(before, after, prefixed, upper):
    key = ("0x" if prefixed else "") + (KEY.upper() if upper else KEY)
    shown = hide_keys(before + key + after)
    assert all(len(run) < 64 or len(run) > 64 for run in _hex_runs.findall(shown)) or KEY_HIDDEN in shown
    if not (before[-1:] and before[-1] in _HEX) and not (after[:1] and after[0] in _HEX):
        assert shown == hide_keys(before) + KEY_HIDDEN + hide_keys(after)
        assert not _leaked(shown)


@given(st.text(alphabet=_HEX + "xg :'\"", max_size=200))
def test_text_without_64_hex_digits_in_a_row_is_left_as_it_is(text):
    if not any(len(run) == 64 for run in _hex_runs.findall(text)):
        assert hide_keys(text) == text


@pytest.mark.parametrize("limit", [20, 40, 60, 80, 100])
@pytest.mark.parametrize("value", [KEY, "0x" + KEY, ["a" * 30, "0x" + KEY], {"k": {"private_key": KEY}}])
def test_short_repr_never_shows_a_key_even_one_its_cut_would_shorten(value, limit):
    assert not _leaked(short_repr(value, limit))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=60)


def test_a_config_holding_a_key_is_refused_naming_file_and_field_not_showing_the_key(tmp_path):
    config = tmp_path / "live.yaml"
    config.write_text(f"session:\n  coin: BTC\n  private_key: \"0x{KEY}\"\n")
    r = _cli("agent", "--config", str(config), "--quiet", "--duration", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{config}: invalid agent config" in r.stderr and "session.private_key" in r.stderr
    assert KEY_HIDDEN in r.stderr and not _leaked(r.stderr + r.stdout)


@pytest.mark.parametrize("argv", [["--execution-level", KEY], ["--base-url", KEY], ["--seed", "0x" + KEY],
                                  ["--duration", KEY], ["--shutdown-grace", KEY]])
def test_a_key_given_as_a_live_option_is_refused_without_showing_it(argv, capsys):
    from agent.live_cli import live_main
    try:
        status = live_main(argv, env={})
    except SystemExit as e:
        status = e.code
    err = capsys.readouterr().err
    assert status == 2 and argv[0] in err and KEY_HIDDEN in err and not _leaked(err)


@pytest.mark.parametrize("argv", [["agent", "--seed", KEY], ["twin", "serve", "--fund", f"{KEY}=100"],
                                  ["twin", "run", "--duration", "0x" + KEY]])
def test_a_key_given_as_a_twin_option_is_refused_without_showing_it(argv):
    r = _cli(*argv)
    assert r.returncode == 2 and KEY_HIDDEN in r.stderr and not _leaked(r.stderr + r.stdout)


@pytest.mark.parametrize("argv", [["agent", "--config", KEY], ["twin", "run", "--params", "0x" + KEY],
                                  ["agent.audit", KEY]])
def test_a_key_given_for_a_file_is_refused_without_showing_it(argv):
    r = _cli(*argv)
    assert r.returncode == 2 and KEY_HIDDEN in r.stderr and not _leaked(r.stderr + r.stdout)
