"""A decision log as one picture: the mid and our best quotes with the fills on them, the position against
its limit, and the safety and exposure levels, over the whole log or a window of it.

A week of a live 10 Hz log is six million cycles, more than a figure can show: cycles are thinned evenly
in one pass (``Thinner``), parsing only those kept, while every level change and Kill is drawn as it was
(they are few, and a short Red is what the picture is for). matplotlib (the ``report`` extra), Agg backend.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from agent.audit.inspect import SHAPE_ERRORS, Line, LogReader, record
from agent.audit.records import write_whole
from agent.graduation.exposure import ExposureLevel
from agent.safety.escalator import SafetyLevel


class Thinner:
    """Keeps at most ``cap`` items of a stream of unknown length, evenly spaced: every ``stride``-th is taken,
    and when ``cap`` are held every other one goes and the stride doubles. Ask ``wants()`` before making an
    item, so only the kept ones cost anything."""

    __slots__ = ("cap", "stride", "items", "_seen")

    def __init__(self, cap: int) -> None:
        if cap < 2:
            raise ValueError(f"Thinner cap must be at least 2, got {cap}")
        self.cap = cap
        self.stride = 1
        self.items: list = []
        self._seen = 0

    def wants(self) -> bool:
        """Whether the next item of the stream is kept (call once per item)."""
        keep = self._seen % self.stride == 0
        self._seen += 1
        return keep

    def add(self, item) -> None:
        items = self.items
        items.append(item)
        if len(items) >= self.cap:
            del items[1::2]
            self.stride *= 2


@dataclass
class Series:
    """What the picture shows, as plain lists (times are the log's)."""

    cycles: list = field(default_factory=list)  # (ts, mid, best bid quote, best ask quote, position)
    cycles_in_window: int = 0
    fills: list = field(default_factory=list)  # (ts, px, side, position)
    fills_in_window: int = 0
    safety: list = field(default_factory=list)  # (ts, level) changes
    exposure: list = field(default_factory=list)  # (ts, level) changes
    kills: list = field(default_factory=list)  # ts
    limit: float = math.nan  # risk.max_position of the first run in the log
    first_safety: int | None = None  # the levels at the window's first cycle
    first_exposure: int | None = None


def series(reader: LogReader, lo: float = -math.inf, hi: float = math.inf, cap: int = 20_000,
           lines: Iterable[Line] | None = None) -> Series:
    """One pass over the log (``reader``'s lines, or ``lines`` read from it): cycles and fills in [lo, hi] thinned to
    ``cap`` each, every level change. A line it reads that is damaged inside is counted in ``reader.skipped``, as
    the audit's listing counts it (it was left out of the picture unsaid)."""
    s = Series()
    cycles, fills = Thinner(cap), Thinner(cap)
    for line in reader if lines is None else lines:
        kind = line.kind
        if kind == "start" and s.limit != s.limit:
            s.limit = _limit(record(line) or {})
        if not lo <= line.ts <= hi:
            if line.ts > hi + 60.0:  # records come in time order (a minute's slack for a late one)
                break
            continue
        if kind == "cycle":
            s.cycles_in_window += 1
            want = cycles.wants()
            if not want and s.first_safety is not None:
                continue
            rec = record(line)
            if rec is None:
                reader.skipped += 1
                continue
            try:
                point = _cycle_point(line.ts, rec)
            except SHAPE_ERRORS:  # fields of other shapes than this version writes: not drawn (it was a traceback)
                continue
            if s.first_safety is None:  # the levels the window starts at (its changes come as records)
                s.first_safety, s.first_exposure = _level(rec.get("inputs", {}).get("safety_level")), \
                    _level(rec.get("inputs", {}).get("exposure_level"))
            if want:
                cycles.add(point)
        elif kind == "fill":
            s.fills_in_window += 1
            if fills.wants():
                rec = record(line)
                if rec is None:
                    reader.skipped += 1
                elif not math.isnan(_number(rec.get("px"))):  # (a string: a traceback)
                    fills.add((line.ts, rec.get("px"), rec.get("side"), rec.get("position")))
        elif kind in ("safety", "level", "postmortem"):
            rec = record(line)
            if rec is None:
                reader.skipped += 1
                continue
            if kind == "safety":
                s.safety.append((line.ts, _level(rec.get("to"))))
            elif kind == "level":
                s.exposure.append((line.ts, _exposure_value(rec.get("to"))))
            else:
                s.kills.append(line.ts)
    s.cycles, s.fills = cycles.items, fills.items
    return s


def _cycle_point(ts: float, rec: dict) -> tuple:
    """(ts, mid, best bid quote, best ask quote, position) of a cycle record; a field of another shape than this
    version writes (``inputs`` a number, a quote's price a string) raises one of SHAPE_ERRORS."""
    i = rec.get("inputs", {})
    quotes = rec.get("quotes", [])
    bids = [float(q[1]) for q in quotes if q and q[0] == "B"]
    asks = [float(q[1]) for q in quotes if q and q[0] == "A"]
    return (ts, _number(i.get("mid")), max(bids) if bids else math.nan, min(asks) if asks else math.nan,
            _number(i.get("position")))


def _limit(start: dict) -> float:
    """A start record's config.risk.max_position; nan (no limit drawn) for a config of another shape than this
    version writes (it was a traceback)."""
    config = start.get("config")
    risk = config.get("risk") if isinstance(config, dict) else None
    return _number(risk.get("max_position")) if isinstance(risk, dict) else math.nan


def _number(v) -> float:
    """A number of the log as a float; anything else (null, a string) nan, which draws nothing."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def _level(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _exposure_value(name) -> int | None:
    try:
        return int(ExposureLevel[name])
    except (KeyError, TypeError):
        return None


def level_steps(t0: float, t_end: float, first: int | None, changes: list) -> tuple[list, list]:
    """A level as a step line: from ``t0`` (the first cycle, whose inputs hold the level then) through each
    later change to ``t_end`` (the last thing drawn, at or after every change: a Kill may come after the
    last cycle)."""
    pts = [(ts, lv) for ts, lv in [(t0, first)] + [ch for ch in changes if ch[0] > t0] if lv is not None]
    if not pts:
        return [], []
    return [p[0] for p in pts] + [t_end], [p[1] for p in pts] + [pts[-1][1]]


def render(s: Series, path: str | Path, wall: bool, title: str) -> Path:
    """Write the PNG; x in the log's seconds, or in dates for a live log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    def x(ts):
        a = np.asarray(ts, dtype=float)
        return (a * 1e3).astype("datetime64[ms]") if wall else a

    fig, (ax_px, ax_pos, ax_safe, ax_exp) = plt.subplots(
        4, 1, figsize=(12, 9), sharex=True, gridspec_kw={"height_ratios": [3, 2, 1, 1]})
    c = np.array(s.cycles, dtype=float).reshape(-1, 5)
    t = x(c[:, 0])
    ax_px.plot(t, c[:, 1], color="#444", lw=0.8, label="mid")
    ax_px.plot(t, c[:, 2], color="#1565c0", lw=0.6, label="our best bid")
    ax_px.plot(t, c[:, 3], color="#c62828", lw=0.6, label="our best ask")
    if s.fills:
        f = s.fills
        for side, marker, colour, label in ((1, "^", "#2e7d32", "bought"), (-1, "v", "#b71c1c", "sold")):
            pts = [(ts, px) for ts, px, sd, _ in f if sd == side]
            if pts:
                ax_px.scatter(x([p[0] for p in pts]), [p[1] for p in pts], s=9, marker=marker, color=colour,
                              label=label, zorder=3)
    ax_px.set_ylabel("price")
    ax_px.legend(loc="upper right", fontsize=8)
    ax_pos.plot(t, c[:, 4], color="#1b5e20", lw=1.0, label="position")
    if s.limit == s.limit:
        for sign in (1, -1):
            ax_pos.axhline(sign * s.limit, color="#c62828", lw=0.8, ls=":")
    ax_pos.set_ylabel("coin")
    t_end = max([c[-1, 0]] + [ts for ts, _ in s.safety + s.exposure] + s.kills)
    for ax, first, changes, levels in ((ax_safe, s.first_safety, s.safety, SafetyLevel),
                                       (ax_exp, s.first_exposure, s.exposure, ExposureLevel)):
        ts, lv = level_steps(c[0, 0], t_end, first, changes)
        if ts:
            ax.step(x(ts), lv, where="post", color="#c62828" if levels is SafetyLevel else "#1565c0", lw=1.2)
        ax.set_yticks([int(v) for v in levels], [v.name.title().replace("_", "") for v in levels], fontsize=8)
        ax.set_ylim(-0.3, len(levels) - 0.7)
        ax.set_ylabel("safety" if levels is SafetyLevel else "exposure")
    for k in s.kills:
        for ax in (ax_px, ax_pos, ax_safe, ax_exp):
            ax.axvline(x([k])[0], color="#000", lw=1.0, ls="--")
    ax_exp.set_xlabel("UTC" if wall else "seconds")
    shown = f"{len(s.cycles):,} of {s.cycles_in_window:,} cycles" if len(s.cycles) < s.cycles_in_window else \
        f"{s.cycles_in_window:,} cycles"
    fig.suptitle(f"{title}: {shown}, {s.fills_in_window:,} fills", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    try:  # whole or not at all: a full disk or a Ctrl-C mid-write left a truncated picture under its name
        write_whole(path, lambda f: fig.savefig(f, dpi=110, format=path.suffix.lstrip(".").lower()))
    finally:
        plt.close(fig)
    return path
