"""A private key where another value goes is never echoed by the error that refuses it: a config's
``private_key:`` field (pydantic echoes the input it refuses), a key pasted as an option's value (argparse echoes
it). The errors went to the terminal, and from there to scrollback and CI logs."""
from __future__ import annotations

import ast
import hashlib
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from common.files import INT_KEY_HIDDEN, KEY_HIDDEN, hide_keys, short_repr

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


@pytest.mark.parametrize("field", ["session:\n  private_key", "session:\n  coin", "risk:\n  max_position",
                                   "quoting:\n  ladder:\n    n_levels"])
def test_a_key_written_unquoted_in_a_config_is_not_shown_as_the_number_yaml_reads(tmp_path, field):
    """YAML reads an unquoted ``0x`` and 64 hex digits as an integer: the error's ``(got ...)`` showed the key in
    decimal, which no hex-digit pattern catches."""
    config = tmp_path / "live.yaml"
    config.write_text(f"{field}: 0x{KEY}\n")
    r = _cli("agent", "--config", str(config), "--quiet", "--duration", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{config}: invalid agent config" in r.stderr and field.split()[-1] in r.stderr
    decimal = str(int(KEY, 16))
    assert not any(decimal[i:i + 16] in r.stderr + r.stdout for i in range(len(decimal) - 15))
    assert not _leaked(r.stderr + r.stdout)


@pytest.mark.parametrize("value", [int(KEY, 16), -int(KEY, 16), 1 << 128, (1 << 256) - 1, int("0" * 8 + KEY[8:], 16)])
def test_short_repr_hides_an_integer_of_a_keys_size_and_shows_others(value):
    assert str(abs(value))[:16] not in short_repr(value) and str(abs(value))[:16] not in short_repr([1, {"k": value}])
    for shown in (0, 5, -7, (1 << 128) - 1, 1 << 256, 10 ** 100, True, 1.5e300):
        assert short_repr(shown, 200) == repr(shown)


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


# Every command's stderr lines go through one printer (common.cli_errors), which hides a key's form: a line printed
# another way is one a key can leak through: 37 of the 62 "error:" lines did not hide keys, and a key given as
# ``--out KEY/``, ``--type KEY``, a RUN path or ``--fund ...@KEY`` was shown. The scan below keeps it so; the runs
# after it show each command's refusals.

_REPO = Path(__file__).resolve().parents[2]
_SCANNED = ("common", "agent", "twin", "scenarios", "calibration", "search", "bench")
_PRINTER = Path("common") / "cli_errors.py"


def _is_stderr(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "stderr"


def _starts_an_error(node: ast.AST) -> bool:
    """Whether a string in ``node`` (a literal, an f-string's text, either side of a ``+`` or an ``if``) begins
    with "error": a line that says it is one."""
    return any(isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.lower().startswith("error")
               for n in ast.walk(node))


def _calls(source: str):
    """Each call in ``source``, with what it calls: (the Call node, its func), for the scans below."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            yield node, node.func


def stderr_lines_not_through_the_printer(source: str) -> list[int]:
    """The lines of ``source`` that write to stderr, or print an "error..." line, other than through
    ``common.cli_errors``: ``print(..., file=sys.stderr)``, ``print("error: ...")``, ``say(text, sys.stderr)``,
    ``sys.stderr.write(...)``."""
    found = []
    for node, f in _calls(source):
        if isinstance(f, ast.Name) and f.id == "print":
            if any(k.arg == "file" and _is_stderr(k.value) for k in node.keywords) or \
                    (node.args and _starts_an_error(node.args[0])):
                found.append(node.lineno)
        elif isinstance(f, ast.Name) and f.id == "say" and any(_is_stderr(a) for a in node.args[1:]):
            found.append(node.lineno)
        elif isinstance(f, ast.Attribute) and f.attr in ("write", "writelines") and _is_stderr(f.value):
            found.append(node.lineno)
    return found


@pytest.mark.parametrize("source, lines", [
    ('import sys\nprint(f"error: {x}", file=sys.stderr)\n', [2]),
    ('print("error: --x given twice")\n', [1]),
    ('print("interrupted" if a else f"error: {e}")\n', [1]),
    ('import sys\nprint(f"{path}: no records", file=sys.stderr)\n', [2]),
    ('import sys\nsay(text, sys.stderr)\nsys.stderr.write(text)\n', [2, 3]),
    ('import sys\nprint(f"{n} errors", file=sys.stdout)\nprint("wrote", path)\nsay(text, sys.stdout)\n', []),
    ('from common.cli_errors import fail\nreturn_value = fail(f"--out {out}: {e}")\n', []),
])
def test_the_scan_finds_stderr_lines_written_past_the_printer(source, lines):
    assert stderr_lines_not_through_the_printer(source) == lines


def _scanned_places(lines_of, allowed) -> list[str]:
    """file:line of every place ``lines_of`` (a scan of one file's source) finds in the scanned packages, but for
    the files in ``allowed``."""
    return [f"{path.relative_to(_REPO)}:{line}" for package in _SCANNED
            for path in sorted((_REPO / package).rglob("*.py")) if path.relative_to(_REPO) not in allowed
            for line in lines_of(path.read_text(encoding="utf-8"))]


def test_no_command_writes_a_line_to_stderr_but_through_the_printer():
    found = _scanned_places(stderr_lines_not_through_the_printer, {_PRINTER})
    assert not found, f"stderr written past common.cli_errors (print_error, fail, print_note): {found}"


def _in_process(main, argv: list[str], capsys) -> tuple[int, str]:
    """A command's exit status (argparse's own errors exit) and its stderr."""
    try:
        status = main(argv)
    except SystemExit as e:
        status = e.code
    return status, capsys.readouterr().err


def _command(module: str, name: str = "main"):
    """A command's main, imported when called (as each test runs it: its module's imports then, not at collection)."""
    def main(argv):
        return getattr(importlib.import_module(module), name)(argv)
    return main


_audit, _search, _scenarios = (_command("agent.audit.__main__"), _command("search.__main__"),
                               _command("scenarios.__main__"))
_calibration, _serve, _agent = (_command("calibration.__main__"), _command("twin.server.cli", "serve_main"),
                                _command("agent.__main__"))


def _lines(folder: Path, text: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "log.jsonl").write_text(text)
    return str(folder / "log.jsonl")


def _search_out(tmp: Path) -> list[str]:
    out = tmp / KEY
    out.mkdir()
    (out / "results.json").write_text("{}")
    return ["--trials", "1", "--out", str(out)]


def _agent_out(tmp: Path) -> list[str]:
    (tmp / KEY).mkdir()
    (tmp / KEY / "f").write_text("")  # a file where a folder on the way goes
    return ["--out", str(tmp / KEY / "f" / "run")]


def _scenario_file(tmp: Path) -> list[str]:
    (tmp / KEY).mkdir()
    (tmp / KEY / "s.yaml").write_text("name: [unclosed\n")
    return ["run", str(tmp / KEY / "s.yaml")]


# (command, its argv in a temporary folder, what the line names besides the key): each refusal echoes the value
# given, a key in it
_REFUSALS = [
    ("audit --type", _audit, lambda tmp: [_lines(tmp, "{}\n"), "--type", KEY], "--type"),
    ("audit RUN", _audit, lambda tmp: [_lines(tmp / KEY, "not a record\n")], "not a decision log"),
    ("search --out", _search, _search_out, "exists: choose another --out"),
    ("scenarios run", _scenarios, _scenario_file, "s.yaml"),
    ("calibration RUN", _calibration, lambda tmp: [str(tmp / KEY)], "no such folder"),
    ("twin serve --fund @DEX", _serve, lambda tmp: ["--fund", f"0x{'ab' * 20}=100@{KEY}"], "the twin lists no dex"),
    ("agent --out", _agent, _agent_out, "--out"),
    ("agent --venue live --config", _agent, lambda tmp: ["--venue", "live", "--config", str(tmp / KEY)], "--config"),
]


@pytest.mark.parametrize("main, make_argv, said", [r[1:] for r in _REFUSALS], ids=[r[0] for r in _REFUSALS])
def test_each_command_refuses_a_value_holding_a_key_without_showing_it(main, make_argv, said, tmp_path, capsys,
                                                                       monkeypatch):
    monkeypatch.setenv("HL_SECRET_KEY", "")  # (the live command is refused for its --config before its key)
    status, err = _in_process(main, make_argv(tmp_path), capsys)
    assert status == 2 and said in err and KEY_HIDDEN in err and not _leaked(err), err


def test_the_soak_refuses_an_out_file_without_showing_its_key(tmp_path):
    (tmp_path / KEY).write_text("")
    r = subprocess.run([sys.executable, str(_REPO / "bench" / "soak_live.py"), "--out", str(tmp_path / KEY)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "a file, not a folder" in r.stderr and KEY_HIDDEN in r.stderr
    assert not _leaked(r.stderr + r.stdout)


def test_the_printer_says_error_and_the_message_with_the_key_hidden(capsys):
    from common.cli_errors import fail, print_note
    assert fail(f"--out /runs/{KEY}/x: exists", code=3) == 3
    print_note(f"note: 0x{KEY} kept")
    assert capsys.readouterr().err == f"error: --out /runs/{KEY_HIDDEN}/x: exists\nnote: {KEY_HIDDEN} kept\n"


def test_the_printer_drops_a_line_whose_reader_is_gone(monkeypatch):
    """A closed terminal or pipe: the line goes nowhere, and the command's exit status is still its own (the
    BrokenPipeError's traceback took it)."""
    import io

    from common.cli_errors import fail

    class Gone(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stderr", Gone())
    assert fail("--out x: no space left", code=2) == 2


# The log is the same terminal and CI log as stderr's lines: the live run's log lines carry the venue's text, the
# coin and the URL; they go through the handler ``log_to_stderr`` installs.

def test_the_live_runs_log_hides_a_key_in_its_message_its_arguments_and_a_traceback(capsys):
    """Through the handler the live command installs (as ``logging.basicConfig`` did: only on a root logger with
    none, so pytest's own are set aside for it here): a gateway's error text, the URL and the coin reach the log
    as the venue and the user gave them."""
    import logging

    from agent.live_cli import live_main
    root = logging.getLogger()
    kept, level = root.handlers[:], root.level
    root.handlers.clear()
    try:
        assert live_main([], env={}) == 2  # refused (no HL_SECRET_KEY) after its logging is set up
        installed = root.handlers[:]
        log = logging.getLogger("agent.gateway.hyperliquid.gateway")
        log.warning("%s answered HTTP %d: %.200s", "/exchange", 422, f"Failed to deserialize: 0x{KEY}")
        log.info(f"trading {KEY} at http://127.0.0.1:1/{KEY}")
        try:
            raise ValueError(f"bad answer {{'k': '{KEY}'}}")
        except ValueError:
            log.exception("gateway task %s failed", "poll")
        logging.getLogger("agent.live").debug(f"a debug line: {KEY}")
    finally:
        root.handlers[:] = kept
        root.setLevel(level)
    err = capsys.readouterr().err
    assert len(installed) == 1 and not _leaked(err), err
    assert err.count(KEY_HIDDEN) == 4 and "HTTP 422: Failed to deserialize: " + KEY_HIDDEN in err
    assert "Traceback" in err and f"ValueError: bad answer {{'k': '{KEY_HIDDEN}'}}" in err
    assert "WARNING agent.gateway.hyperliquid.gateway: /exchange answered" in err and "a debug line" not in err


def test_the_twin_servers_log_hides_a_key_a_client_sent_it():
    """``twin serve`` logs through the handler ``log_to_stderr`` installs (without it, logging's last resort wrote
    the record as it was): a request the server cannot parse is logged, with its traceback quoting the bad header,
    so a key a client sent there reached the server's stderr. Run as an operator runs it, on loopback."""
    import socket

    proc = subprocess.Popen([sys.executable, "-u", "-m", "twin", "serve", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+) ", proc.stdout.readline()).group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(f"POST /info HTTP/1.1\r\nHost: twin\r\nContent-Length: 0x{KEY}\r\n\r\n".encode())
            answer = s.recv(4096)  # (the record is logged before the answer is sent)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert answer.startswith(b"HTTP/1.0 400")
    assert "Error handling request" in err and "Content-Length: " + KEY_HIDDEN in err, err
    assert not _leaked(err)


def test_log_to_stderr_adds_no_second_handler_nor_one_beside_a_callers():
    import logging

    from common.cli_errors import log_to_stderr
    root = logging.getLogger()
    kept, level = root.handlers[:], root.level
    root.handlers.clear()
    try:
        first = log_to_stderr(logging.INFO)
        assert first is not None and log_to_stderr(logging.DEBUG) is None and root.handlers == [first]
        assert root.level == logging.INFO
        callers = logging.NullHandler()  # a caller's own set-up (an embedding program's): kept as it is
        root.handlers[:] = [callers]
        assert log_to_stderr(logging.DEBUG) is None and root.handlers == [callers] and root.level == logging.INFO
    finally:
        root.handlers[:] = kept
        root.setLevel(level)


# The bench scripts' parsers are common.files.ArgumentParser, as every command's: argparse's own echoes the value it
# refuses (``unrecognized arguments: 0x...``).

_BENCH_SCRIPTS = sorted(p.name for p in (_REPO / "bench").glob("*.py"))
# each script's required options, given so that its parser reaches the key (missing, it says so first)
_REQUIRED = {"decisions_diff.py": ["--base", "HEAD"]}


@pytest.mark.parametrize("script", _BENCH_SCRIPTS)
def test_each_bench_script_refuses_a_key_given_to_it_without_showing_it(script):
    r = subprocess.run([sys.executable, str(_REPO / "bench" / script), *_REQUIRED.get(script, []), "0x" + KEY],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "unrecognized arguments: " + KEY_HIDDEN in r.stderr, r.stderr
    assert KEY_HIDDEN in r.stderr and not _leaked(r.stderr + r.stdout)


# Stdout is the same terminal and CI log as stderr: "wrote {png}", "run folder: {out}", "results: ..." echo a path
# the user gave. Every stdout line goes through ``print_out`` (or ``say``, the summary's), and every parser is
# ``common.files.ArgumentParser``: the scan below keeps it so.

# (path, why it prints past the printer): the printers themselves, and a line whose values are 64 hex digits
_PRINTS_ALLOWED = {Path("common") / "cli_errors.py": "the printers",
                   Path("bench") / "decisions_hash.py": "its line is two sha256 digests, each 64 hex digits: hidden, "
                                                        "it would show nothing"}


def prints_past_the_printer(source: str) -> list[int]:
    """The lines of ``source`` that write to stdout other than through ``print_out`` (or ``say``): a ``print(...)``
    without ``file=`` or to stdout, ``sys.stdout.write(...)``; and that make a parser ``argparse.ArgumentParser(...)``
    (whose usage errors echo the value refused, a key in it)."""
    found = []
    for node, f in _calls(source):
        if isinstance(f, ast.Name) and f.id == "print":
            to = next((k.value for k in node.keywords if k.arg == "file"), None)
            if to is None or (isinstance(to, ast.Attribute) and to.attr == "stdout"):
                found.append(node.lineno)
        elif isinstance(f, ast.Attribute) and f.attr in ("write", "writelines") and \
                isinstance(f.value, ast.Attribute) and f.value.attr == "stdout":
            found.append(node.lineno)
        elif isinstance(f, ast.Attribute) and f.attr == "ArgumentParser" and \
                isinstance(f.value, ast.Name) and f.value.id == "argparse":
            found.append(node.lineno)
    return found


@pytest.mark.parametrize("source, lines", [
    ('print(f"wrote {png}")\nprint()\nprint(x, end="", flush=True)\n', [1, 2, 3]),
    ('import sys\nprint(f"run folder: {out}", file=sys.stdout)\nsys.stdout.write(line)\n', [2, 3]),
    ('import argparse\nap = argparse.ArgumentParser(description=__doc__)\n', [2]),
    ('from common.cli_errors import print_out\nprint_out(f"wrote {png}", flush=True)\nsay(text, sys.stdout)\n'
     'ap = ArgumentParser(description=__doc__)\nprint(line, file=handle)\nsys.stdout.flush()\n', []),
])
def test_the_scan_finds_stdout_lines_and_parsers_past_the_printer(source, lines):
    assert prints_past_the_printer(source) == lines


def test_no_command_writes_stdout_or_parses_its_options_but_through_the_key_hiding_ones():
    found = _scanned_places(prints_past_the_printer, _PRINTS_ALLOWED)
    assert not found, f"stdout or a parser past common.cli_errors.print_out / common.files.ArgumentParser: {found}"


def test_the_stdout_printer_and_say_hide_a_key_and_keep_the_rest(capsys):
    from common.cli_errors import print_out, say
    print_out(f"wrote /runs/{KEY}/t.png: 3 cycles")
    print_out()
    print_out(f"run folder: 0x{KEY}", end="|", flush=True)
    say(f'{{"coin": "{KEY}"}}', sys.stdout)
    assert capsys.readouterr().out == (f"wrote /runs/{KEY_HIDDEN}/t.png: 3 cycles\n\nrun folder: {KEY_HIDDEN}|"
                                       f'{{"coin": "{KEY_HIDDEN}"}}\n')


def test_the_stdout_printer_leaves_a_gone_reader_to_the_command(monkeypatch):
    """Unlike stderr's lines, a BrokenPipeError is the command's to see: the audit stops reading a week's log
    there (``| head``), where a printer that dropped it would read on to the end, printing nowhere."""
    import io

    from common.cli_errors import print_out

    class Gone(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Gone())
    with pytest.raises(BrokenPipeError):
        print_out("a record")


def test_a_scenario_run_names_its_run_folder_without_showing_a_key_in_it(tmp_path, capsys):
    status = _scenarios(["run", str(_REPO / "scenarios" / "chaos_fill_before_first_snapshot.yaml"), "--no-progress",
                         "--out", str(tmp_path / KEY)])
    out = capsys.readouterr().out
    assert status == 0 and (tmp_path / KEY / "summary.json").exists()
    assert f"run folder: {tmp_path / KEY_HIDDEN}  (timeline: " in out and not _leaked(out), out


@pytest.mark.parametrize("argv, text", [
    (["agent", "--duration", "1", "--config"], f"session:\n  0x{KEY}: 1\n"),
    (["twin", "serve", "--port", "0", "--scenario"],
     f"events:\n  - {{kind: disconnect, at_s: 1, duration_s: 2, 0x{KEY}: 1}}\n")],
    ids=["agent-config", "serve-scenario"])
def test_a_key_written_unquoted_as_a_field_name_is_not_shown_in_the_field_path(tmp_path, argv, text):
    """YAML reads an unquoted ``0x`` and 64 hex digits used as a mapping's key as an integer too: the error's field
    path (``session.3559...: Keys should be strings``) showed it in decimal, though its ``(got ...)`` did not."""
    path = tmp_path / "with-a-key.yaml"
    path.write_text(text)
    r = _cli(*argv, str(path))
    decimal = str(int(KEY, 16))
    assert r.returncode == 2 and "Traceback" not in r.stderr and str(path) in r.stderr
    assert "Keys should be strings" in r.stderr and INT_KEY_HIDDEN in r.stderr
    assert not any(decimal[i:i + 16] in r.stderr + r.stdout for i in range(len(decimal) - 15))



_OUTAGE = Path(__file__).resolve().parents[2] / "scenarios" / "ws_outage_during_move.yaml"


@pytest.mark.parametrize("argv, text, tag", [
    (["scenarios", "check"], _OUTAGE.read_text(), "{kind: disconnect,"),
    (["scenarios", "check"], _OUTAGE.read_text(), "{name: decision_log_complete}"),
    (["twin", "serve", "--port", "0", "--scenario"], "events:\n  - {kind: disconnect, at_s: 1, duration_s: 2}\n",
     "{kind: disconnect,")],
    ids=["scenario-chaos-kind", "scenario-invariant-name", "serve-scenario-kind"])
def test_a_key_written_unquoted_as_a_tag_is_not_shown_in_the_message(tmp_path, argv, text, tag):
    """A chaos event's ``kind`` or an invariant's ``name`` given an unquoted ``0x`` key: pydantic's own message
    quotes the tag it could not match (``Input tag '9953...' found using 'kind' does not match``), the key in
    decimal, though the ``(got ...)`` beside it hid it."""
    path = tmp_path / "with-a-key.yaml"
    name = tag[1:].split(":")[0]
    path.write_text(text.replace(tag, "{%s: 0x%s%s" % (name, KEY, tag[-1])))
    r = _cli(*argv, str(path))
    said, decimal = r.stdout + r.stderr, str(int(KEY, 16))
    assert r.returncode == 2 and "Traceback" not in said and str(path) in said, said
    assert "does not match any of the expected tags" in said and INT_KEY_HIDDEN in said
    assert not any(decimal[i:i + 16] in said for i in range(len(decimal) - 15)), said


@pytest.mark.parametrize("text", [f"session:\n  0x{KEY}: 1\n  0x{KEY}: 2\n", f"risk: {{max_position: 0x{KEY}\n",
                                  f"risk:\n  max_position: 1\n   private_key: {KEY}\n"],
                         ids=["key-twice", "unclosed", "indent"])
def test_a_yaml_error_on_a_line_holding_a_key_does_not_show_part_of_it_in_its_snippet(tmp_path, text):
    """PyYAML's error quotes the line it points at, cut to some 36 characters each side of the mark
    (``0xdc0e0ba37727f6a37d86ecbdb1e223 ...``): half a key, which hide_keys (whole runs of 64 digits) let through."""
    path = tmp_path / "with-a-key.yaml"
    path.write_text(text)
    r = _cli("agent", "--duration", "1", "--config", str(path))
    assert r.returncode == 2 and "Traceback" not in r.stderr and f"{path}: not valid YAML" in r.stderr, r.stderr
    assert not any(KEY[i:i + 12] in r.stderr.lower() for i in range(0, 64 - 11)), r.stderr


def test_a_field_name_of_digits_is_shown_as_written_when_it_is_no_key():
    """field_path reads a path part of digits as the integer it may be (a key YAML read as one), to hide it when it
    has a key's size; every other such name was shown as that integer: a quoted '007' as 7."""
    from common.files import field_path
    assert field_path(("risk", "007", 0, "x")) == "risk.007.0.x"
    assert field_path(("risk", str(int(KEY, 16)))) == f"risk.{INT_KEY_HIDDEN}"
