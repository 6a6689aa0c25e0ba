"""Parsing of human-friendly quantities given on command lines: durations like ``30m``, seeds, TCP ports,
positive numbers (all but durations as argparse types, refused with what was expected)."""
from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

from common.files import short_repr

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_DURATION_S = 365 * 86400.0  # the longest duration taken: a year (a longer one is a typo; inf overflows the clock)


_PART = r"([0-9]*\.?[0-9]+)\s*([smhd])"


def parse_duration(text: str | float | int, what: str = "duration") -> float:
    """Seconds from ``90``, ``90s``, ``30m``, ``2h``, ``1d``, ``1.5h``, or parts added up (``1h30m``,
    ``2h 15m``); raises ValueError naming the text and ``what`` it is (a command line's option: search takes two
    durations, and "duration '0'" did not say which was refused)."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        t = str(text).strip()
        sign = -1.0 if t.startswith("-") else 1.0  # (-5m is a duration, refused below as not positive)
        t = t[1:].lstrip() if sign < 0 else t
        if re.fullmatch(r"[0-9]*\.?[0-9]+", t):
            value = sign * float(t)
        elif re.fullmatch(rf"(?:{_PART}\s*)+", t):
            value = sign * sum(float(n) * _UNITS[u] for n, u in re.findall(_PART, t))
        else:
            raise ValueError(f"{what} {short_repr(text)}: expected a number with an optional unit s, m, h or d, "
                             f"or such parts added up (e.g. 90, 30m, 2h, 1d, 1h30m)")
    if not value > 0:
        raise ValueError(f"{what} {short_repr(text)}: must be positive")
    if not value <= MAX_DURATION_S:  # inf and nan too: a run that could never end, or a clock that overflows
        raise ValueError(f"{what} {short_repr(text)}: at most {MAX_DURATION_S / 86400:g} days "
                         f"({MAX_DURATION_S:,.0f} s)")
    return value


def non_empty(text: str) -> str:
    """A value that must not be empty (a file, a URL, a time, a coin): ``--config ""`` (a variable unset in a
    script: ``--config "$CFG"``) was taken for no option at all, so the run went on with the defaults in place of
    the file meant, and ``--venue live --duration ""`` ran until stopped. Refused, as an empty ``--out`` is."""
    if text == "":
        raise argparse.ArgumentTypeError("an empty value (give one, or leave an option out for its default)")
    return text


def non_negative_int(text: str) -> int:
    """A non-negative integer from a command line (a count, a seed)."""
    return _int_at_least(text, 0, "a non-negative integer")


# a seed: a non-negative integer (numpy's SeedSequence, from which every generator here is spawned, refuses
# negatives)
parse_seed = non_negative_int


def parse_port(text: str) -> int:
    """A TCP port from a command line: 0 (the system picks a free one) to 65535."""
    value = _int_at_least(text, 0, "a TCP port, 0 to 65535")
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port, 0 to 65535, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A positive integer from a command line."""
    return _int_at_least(text, 1, "a positive integer")


def positive_float(text: str) -> float:
    """A positive finite number from a command line."""
    value = _float_or_nan(text)
    if not 0.0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number, zero or more, from a command line (0 often meaning "none of it")."""
    value = _float_or_nan(text)
    if not 0.0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a number, zero or more, got {text!r}")
    return value


def _float_or_nan(text: str) -> float:
    """The float types' number: nan for a text that is none, which their bounds refuse as they refuse nan given."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def bounded(parse: Callable[[str], float], highest: float, why: str,
            lowest: float | None = None) -> Callable[[str], float]:
    """``parse`` (positive_int, positive_float, ...) with bounds, as an argparse type: a count or a length
    mistyped by a few digits (``--workers 1000``, ``--minutes 1e9``) started that many processes, or a run that
    would not end, before anything said so. ``why``: what the bounds are, in the refusal."""
    def checked(text: str) -> float:
        value = parse(text)
        if value > highest or (lowest is not None and value < lowest):
            span = f"at most {highest:g}" if lowest is None else f"{lowest:g} to {highest:g}"
            raise argparse.ArgumentTypeError(f"expected {span} ({why}), got {text!r}")
        return value
    checked.__name__ = parse.__name__  # (argparse's "invalid <name> value" for an error of another kind)
    return checked


def _int_at_least(text: str, lowest: int, what: str) -> int:
    """The argparse types' integer: refused with what was expected (argparse prints it and exits 2)."""
    try:
        value = int(text)
    except ValueError:
        value = lowest - 1
    if value < lowest:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def parse_seeds(text: str) -> list[int]:
    """``0-9``, ``3``, ``1,4,7`` or ``0-2,10``: the seeds in the order given, each once (an argparse type: the soak's
    and decisions_diff's ``--seeds``)."""
    seeds: dict[int, None] = {}  # (ordered, and each looked up at once: a list made the parsing quadratic)
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if m is None or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise argparse.ArgumentTypeError(f"expected seeds as 0-9, 3 or 1,4,7 (non-negative, ranges low-high), "
                                             f"got {text!r}")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi - lo >= MAX_SEEDS:
            raise argparse.ArgumentTypeError(f"expected at most {MAX_SEEDS} seeds in a range (each is a run of "
                                             f"wall-clock time), got {text!r}")
        seeds.update(dict.fromkeys(range(lo, hi + 1)))
        if len(seeds) > MAX_SEEDS:  # (ranges of 10,000 each, one after another, ran without end)
            raise argparse.ArgumentTypeError(f"expected at most {MAX_SEEDS} seeds in all (each is a run of wall-clock "
                                             f"time), got {text!r}")
    return list(seeds)


MAX_SEEDS = 10_000  # in a range, and in all
