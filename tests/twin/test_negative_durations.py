"""A negative duration (``--duration -5m``) is refused as one, naming the option and the value: argparse took
``-5m`` for an option and said only ``argument --duration: expected one argument``."""
from __future__ import annotations

import argparse
import re

import pytest
from hypothesis import example, given, settings, strategies as st

from twin.files import ArgumentParser
from twin.units import parse_duration

_durations = st.one_of(st.integers(1, 10_000).map(str),
                       st.lists(st.tuples(st.integers(1, 99), st.sampled_from("smhd")), min_size=1, max_size=3)
                       .map(lambda parts: "".join(f"{n}{u}" for n, u in parts)))


@given(_durations)
def test_a_duration_with_a_minus_is_refused_as_not_positive(text):
    assert parse_duration(text) > 0
    with pytest.raises(ValueError, match=f"--duration '-{text}': must be positive"):
        parse_duration("-" + text, "--duration")


def _status_and_err(main, argv, capsys) -> tuple[int, str]:
    """A command's exit status (argparse's own errors exit) and what it wrote to stderr."""
    try:
        status = main(argv)
    except SystemExit as e:
        status = e.code
    return status, capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--duration", "-5m"], ["--venue", "live", "--duration", "-1h30m"]])
def test_the_agent_refuses_a_negative_duration_naming_it(argv, capsys):
    from agent.__main__ import main
    status, err = _status_and_err(main, argv, capsys)
    assert status == 2 and f"--duration '{argv[-1]}': must be positive" in err


@pytest.mark.parametrize("argv", [["run", "--duration", "-5m"], ["run", "--seed", "-1"]])
def test_twin_run_refuses_a_negative_value_naming_it(argv, capsys):
    from twin.__main__ import main
    status, err = _status_and_err(main, argv, capsys)
    assert status == 2 and f"'{argv[-1]}'" in err and "expected one argument" not in err


# The project's parser does it with argparse's public interface (it writes ``--duration -5m`` as ``--duration=-5m``
# before argparse reads the line), no longer by setting argparse's private negative-number matcher. These hold it
# to what that matcher, widened to ``^-\.?\d``, decided on every command line of a few options (abbreviated,
# grouped, a flag, an optional value, a subcommand, the double dash).


class _Refused(Exception):
    pass


class _Parser(ArgumentParser):
    def error(self, message):
        raise _Refused(message)


class _Matcher(argparse.ArgumentParser):
    """The oracle: argparse with its private negative-number matcher widened, as this project's parser was."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message):
        raise _Refused(message)


def _build(cls, grouped: bool):
    p = cls(prog="p")
    p.add_argument("--duration")
    p.add_argument("--dur-cap", type=float)  # (with --duration: --dur is ambiguous, --dura is --duration)
    p.add_argument("--seed", action="append", default=[])
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--level", nargs="?", const="top")
    group = p.add_mutually_exclusive_group() if grouped else p
    group.add_argument("--at")
    group.add_argument("--json", action="store_true")
    return p


def _build_commands(cls):
    p = cls(prog="p")
    p.add_argument("--seed")
    sub = p.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--duration")
    run.add_argument("--seed", action="store_true")  # (a flag here, a value on the parser above)
    sub.add_parser("check").add_argument("--at")
    return p


def _outcome(build, argv):
    try:
        return vars(build().parse_args(argv))
    except _Refused as e:
        return f"refused: {e}"


_TOKENS = ["--duration", "--dur-cap", "--dur", "--dura", "--seed", "--quiet", "--level", "--at", "--json", "--",
           "--duration=-5m", "-5m", "-5", "-.5", "-1h30m", "5m", "x", "-x", "--nope", "run", "check"]


@settings(max_examples=400)
@given(st.lists(st.sampled_from(_TOKENS), max_size=7), st.booleans())
def test_the_parser_reads_a_command_line_as_argparse_with_the_wider_matcher_did(argv, grouped):
    assert _outcome(lambda: _build(_Parser, grouped), argv) == _outcome(lambda: _build(_Matcher, grouped), argv)


@settings(max_examples=400)
@given(st.lists(st.sampled_from(_TOKENS), max_size=7))
@example(["--seed", "run", "--seed", "-5m"])  # (a command's name as a value: not the command)
@example(["run", "--duration", "-5m", "--seed"])
def test_a_subcommand_reads_its_own_options_as_argparse_with_the_wider_matcher_did(argv):
    """The same reading of every line the matcher accepted; a refusal of every line it refused, in its words but
    where a negative-looking token stands in a positional's place (the subcommand's): the matcher took ``-5m``
    there for the positional (``invalid choice: '-5m'``), argparse for an unknown option."""
    ours, matcher = _outcome(lambda: _build_commands(_Parser), argv), _outcome(lambda: _build_commands(_Matcher), argv)
    assert ours == matcher or (isinstance(ours, str) and isinstance(matcher, str) and "invalid choice: '-" in matcher)


@pytest.mark.parametrize("argv, expected", [
    (["--duration", "-5m"], "-5m"), (["--dura", "-1h"], "-1h"), (["--duration", "-.5"], "-.5"),
    (["--duration=-5m"], "-5m"), (["--duration", "5m"], "5m"),
])
def test_a_negative_looking_value_is_the_option_s_value(argv, expected):
    assert _build(_Parser, False).parse_args(argv).duration == expected


def test_a_negative_looking_token_is_no_option_s_value_after_a_flag_or_past_the_double_dash():
    for argv in (["--quiet", "-5m"], ["--", "--duration", "-5m"]):
        with pytest.raises(_Refused):
            _build(_Parser, False).parse_args(argv)
