"""Numbers as the calibration's texts give them (the printout, report.html and the fit's reasons alike): one
helper, below the fit and the report both, so that a figure reads the same wherever it is said."""
from __future__ import annotations

import math


def figure_text(v: float, digits: int) -> str:
    """``v`` to ``digits`` significant figures as ``g`` rounds it, but never with an exponent, and thousands
    grouped: the disconnects' interval of a short run read "6.22 – 1.37e+03" and a replay row "1.262e+04 /
    1.828e+04" requests an hour, one number in two notations; now "6.22 – 1,370" and "12,620 / 18,280". The
    console's and report.html's alike."""
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    places = digits - 1 - math.floor(math.log10(abs(v)))
    if places <= 0:
        return f"{round(v, places):,.0f}"
    text = f"{v:.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def durations_text(*seconds: float | None) -> tuple[list[str], str]:
    """Lengths in seconds as one unit reads them all, the first's, and that unit: under a second in ms to three
    significant figures (``figure_text``), else in s to the hundredth as before. Two decimals of a second read a
    median outage of 3 ms "0.00 s (95%: 0.00 – 0.01)": nothing a reader could use. None (a bound JSON has no number
    for) is "–". ``([figures], unit)``: the unit said once, after the first."""
    first = seconds[0]
    if first is not None and math.isfinite(first) and abs(first) < 1.0:
        return ["–" if v is None else figure_text(v * 1000.0, 3) for v in seconds], "ms"
    return ["–" if v is None else f"{v:.2f}" for v in seconds], "s"


def count_text(n: int, noun: str, plural: str | None = None) -> str:
    """A count with its noun, grouped (``1,262 trades``) and singular for one: the texts said "1 run(s)", "1
    seed(s)", "1 book updates" and "1 market trades". ``plural``: the noun's plural where it is not ``noun`` + s
    (``replies``, or a phrase whose noun is not its last word)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def interval_text(lo: float, hi: float, digits: int, unit: str = "") -> str:
    """An interval's ends as ``figure_text`` gives them, ``unit`` after: an end the data do not bound (infinite) is
    said in words, "at least 1.45 per price unit", where it read "1.45 – inf per price unit" (a prints' reach the
    prints bound only from below)."""
    if hi == math.inf and lo == -math.inf:
        return "unbounded either way"
    if hi == math.inf:
        return f"at least {figure_text(lo, digits)}{unit}"
    if lo == -math.inf:
        return f"at most {figure_text(hi, digits)}{unit}"
    return f"{figure_text(lo, digits)} – {figure_text(hi, digits)}{unit}"
