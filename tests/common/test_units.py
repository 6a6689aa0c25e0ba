"""Command-line quantities: durations, seeds and positive numbers, refused with what was expected."""
from __future__ import annotations

import argparse

import pytest
from hypothesis import given, strategies as st

from common.units import parse_duration, parse_seed, parse_seeds, positive_float, positive_int


@pytest.mark.parametrize("text, seconds", [("90", 90.0), ("90s", 90.0), ("30m", 1800.0), ("2h", 7200.0),
                                           ("1d", 86400.0), ("1.5h", 5400.0), (" 2h ", 7200.0), (45, 45.0),
                                           ("1h30m", 5400.0), ("2h 15m", 8100.0), ("1d2h3m4s", 93784.0)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "5x", "-5", "1e3", "2 hours", "0", "0m", "1h30", "1h-30m", "0h0m"])
def test_bad_durations_name_the_text(text):
    with pytest.raises(ValueError, match=repr(text).replace("(", r"\(")):
        parse_duration(text)


@pytest.mark.parametrize("text", ["9" * 400, "99999999d", "366d", "8761h", 1e400, float("nan")])
def test_durations_past_a_year_or_not_finite_are_refused_saying_the_limit(text):
    """400 nines was infinity, a run that crashed with an OverflowError after making a half-written run
    folder; 99999999d (274,000 years) was taken."""
    with pytest.raises(ValueError, match="at most 365 days|must be positive"):
        parse_duration(text)
    assert parse_duration("365d") == 365 * 86400.0


@given(st.integers(0, 2**63))
def test_seeds_are_non_negative_integers(n):
    assert parse_seed(str(n)) == n


@pytest.mark.parametrize("parse, text", [(parse_seed, "-1"), (parse_seed, "1.5"), (parse_seed, "x"),
                                         (positive_float, "0"), (positive_float, "-2"), (positive_float, "nan"),
                                         (positive_float, "inf"), (positive_float, "x"), (positive_int, "0"),
                                         (positive_int, "2.5"), (positive_int, "-3")])
def test_bad_numbers_are_argparse_errors_naming_the_text(parse, text):
    with pytest.raises(argparse.ArgumentTypeError, match=f"got {text!r}"):
        parse(text)


def test_positive_numbers():
    assert positive_float("0.25") == 0.25 and positive_float("30") == 30.0 and positive_int("24") == 24


def test_seed_lists_are_refused_past_ten_thousand_seeds_in_all_not_only_in_one_range():
    """parse_seeds (soak_live's and decisions_diff's --seeds) capped each range at 10,000 seeds, each a run of
    wall-clock time, but not the list: ``0-9999,10000-19999,...`` passed, and its parsing alone took seconds per
    range (each seed looked up in the list so far), then runs without end."""
    assert parse_seeds("0-9,5,3-4,10") == list(range(11))
    assert len(parse_seeds("0-9999,0-9999")) == 10_000  # a seed given twice runs once
    with pytest.raises(argparse.ArgumentTypeError, match="expected at most 10000 seeds in all"):
        parse_seeds("0-9999,10000")
