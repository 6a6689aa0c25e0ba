"""A negative duration (``--duration -5m``) is refused as one, naming the option and the value: argparse took
``-5m`` for an option and said only ``argument --duration: expected one argument``."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from common.units import parse_duration

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
