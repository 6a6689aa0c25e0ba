"""A decision log read by a person: what ran, how the levels moved, and what one stretch of time looked like.

After a bad hour with real money the question is "what did the agent see, and why did it quote that?",
and the answer is in the decision log. A day at a 100 ms cycle is some 860,000 lines (1 GB), and a live
folder carries weeks of them, so the log is streamed here, never loaded whole, and a line is parsed only
when it is shown or summarised beyond its kind and time. Every line states those first, as the writers
make them (``{"type":"cycle","cycle":N,"ts":T,...`` and ``{"type":"fill","ts":T,...``): reading the head
of a line costs a twentieth of parsing it.

Times are the log's own: simulated seconds from 0 for a twin run, Unix seconds (UTC) for a live one,
which are shown as dates.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from agent.audit.records import log_files, numbered_log_lines
from agent.graduation.exposure import ExposureLevel
from agent.safety.escalator import SafetyLevel
from common.files import short_repr
from common.json_text import TOO_DEEP, loads_object as _parse, too_deep
from common.units import parse_duration

# lines too deep for json named on the overview's line (the rest counted)
TOO_DEEP_NAMED = 3
# the head every writer gives a line: its kind, (a cycle's number,) its time, a JSON number (anything else there is
# no record: float() would refuse it)
_HEAD = re.compile(r'\{"type":"([a-z_]+)"(?:,"cycle":-?\d+)?,"ts":(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)[,}]')
# a log whose times are past this is a live one (Unix seconds: 2001 on); a twin's start at 0
_WALL_FROM = 1e9


class Line(NamedTuple):
    """One complete line of the log: its kind, its time, and the text as written."""

    kind: str
    ts: float
    text: str


class LogReader:
    """The lines of a log in writing order, across its segments (gzipped or not), with what was skipped:
    torn lines (a crash cuts at most the last line of a file) and lines that are not a record at all (of them,
    ``undecodable``: those that are not even UTF-8 text); and ``lost_segments``, the segments that could not be
    read on (gzipped: not gzip data, cut short, damaged; gzipped or a closed plain one: 0 bytes, which the writer
    never leaves), each (file, lines read before it stopped, why): a whole segment lost is not one torn line. Each
    is also counted once in ``skipped``, as it always was.

    A line is known by its head and its closing brace, unparsed. A crash's cut can fall just after a brace
    inside the line (``..."inputs":{...}``), and such a line looks whole; but a cut can only be where a writer
    stopped: the last line of a file with no newline after it, or the line before the start record of the run
    restarted into the folder (whose writer ended the torn line). Those lines alone are parsed as well, and one
    that is no JSON is skipped and counted: a whole log costs a parse per run, not per line."""

    def __init__(self, path: str | Path, progress: Callable[[int], None] | None = None) -> None:
        self.path = Path(path)
        self.files = log_files(self.path)
        self.skipped = 0
        self.undecodable = 0
        # of the skipped, the lines cut where a crash stopped a writer (a file's last, or the last before a restart's
        # start line): a run's end, said as such; the others are damage inside the log (or another tool's lines)
        self.cut = 0
        # of the others, lines too deep for json: how many, and "FILE: line N" of the first TOO_DEEP_NAMED (one each
        # made the overview's line unbounded: 2,000 of them, 141,000 characters)
        self.too_deep_count = 0
        self.too_deep: list[str] = []
        self.lost_segments: list[tuple[Path, int, str]] = []
        self._progress = progress  # a progress bar's feed (see records.log_lines)

    def _undecodable(self) -> None:
        self.skipped += 1
        self.undecodable += 1

    def _lost(self, path: Path, lines_read: int, why: str) -> None:
        self.skipped += 1
        self.lost_segments.append((path, lines_read, why))

    def _cut_or_deep(self, text: str, where: str) -> None:
        """A line skipped where a crash may have cut one: a crash's cut, unless json finds it too deep (no line a
        writer made, whole or cut: damage, named)."""
        if too_deep(text):
            self._deep(where)
        else:
            self.cut += 1

    def _deep(self, where: str) -> None:
        self.too_deep_count += 1
        if len(self.too_deep) < TOO_DEEP_NAMED:
            self.too_deep.append(where)

    def __iter__(self) -> Iterator[Line]:
        head = _HEAD.match
        held = None  # a line read by its head, given out once the next shows that no crash cut it (not a start)
        held_at = None  # its place (file, line number)
        unread = False  # the last line no JSON but whole (a newline after it): damage, unless a restart follows it
        for f, n, text in numbered_log_lines(self.files, self._progress, self._lost):
            if text is None:  # bytes that are not UTF-8 text
                self._undecodable()
                continue
            if unread:
                if text.startswith('{"type":"start"'):  # cut by a crash within its head, ended by the restart
                    self.cut += 1
                unread = False
            if held is not None:
                if text.startswith('{"type":"start"') and _parse(held.text) is None:
                    self.skipped += 1  # cut by a crash, ended by the restarted writer
                    self._cut_or_deep(held.text, "%s: line %d" % held_at)
                else:
                    yield held
                held = None
            m = head(text)
            if m is not None:
                ts = float(m.group(2))
                if -math.inf < ts < math.inf:  # (1e999 reads as inf: no time, as _is_number says below)
                    if text.endswith("}\n"):  # whole, unless the next line is a restart's start
                        held, held_at = Line(m.group(1), ts, text[:-1]), (f, n)
                        continue
                    if text.endswith("}"):  # no newline: a file's last line, cut where a crash stopped the writer?
                        if _parse(text) is not None:
                            yield Line(m.group(1), ts, text)
                        else:
                            self.skipped += 1
                            self._cut_or_deep(text, f"{f}: line {n}")
                        continue
            whole = text.endswith("\n")  # (without: the file's last line, where a crash stopped the writer)
            text = text.rstrip("\n")
            rec = _parse(text)  # a line some other writer made, with its keys in another order
            if rec is None or not isinstance(rec.get("type"), str) or not _is_number(rec.get("ts")):
                self.skipped += 1
                if not whole:
                    self._cut_or_deep(text, f"{f}: line {n}")
                elif rec is None and too_deep(text):  # damage, a restart after it or not
                    self._deep(f"{f}: line {n}")
                elif rec is None:
                    unread = True
                continue
            yield Line(rec["type"], float(rec["ts"]), text)
        if held is not None:
            yield held


def first_ts(path: str | Path) -> float | None:
    """The time of the log's first record (offsets such as ``30m`` count from it); None for an empty log."""
    for line in LogReader(path):
        return line.ts
    return None


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def record(line: Line) -> dict | None:
    """The record a line holds; None for a line damaged inside (a disk's error, not a crash's cut, which the
    reader finds: it parses only the lines a crash can cut, and what is shown)."""
    return _parse(line.text)


# ---------------------------------------------------------------------------------------------- times


def parse_time(text: str, first_ts: float, what: str = "time") -> float:
    """A time given on the command line, in the log's terms:
    - a plain number is the log's own time (as this tool prints it for a twin run);
    - a duration with a unit (``90s``, ``30m``, ``2h``, ``1h30m``) is that long after the log's first record;
    - a date (``2026-11-30T14:03:22``, UTC unless it names its zone) is wall time, for a live log.
    Raises ValueError naming the text and ``what`` it is (the option: --from, --to or --at)."""
    t = text.strip()
    bad = ValueError(f"{what} {short_repr(text)}: expected the log's seconds (1234.5), a duration after its start "
                     f"(90s, 30m, 1h30m) or a UTC date (2026-11-30T14:03:22)")
    try:
        value = float(t)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise bad
        return value
    if re.search(r"[0-9][smhd]\s*$", t):  # a duration: 30m, 1h30m (0m: the start itself)
        if re.fullmatch(r"(?:0*\.?0*\s*[smhd]\s*)+", t):
            return first_ts
        try:
            return first_ts + parse_duration(t)
        except ValueError:
            raise bad from None
    try:
        when = datetime.fromisoformat(t)  # 3.11: a space for the T, and any zone
    except ValueError:
        raise bad from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def is_date(text: str) -> bool:
    """Whether a time given on the command line is a date (``parse_time``'s third form), not the log's seconds nor
    a duration: a date means nothing on a twin run's log, whose times are simulated seconds from 0."""
    t = text.strip()
    try:
        float(t)
        return False
    except ValueError:
        return not re.search(r"[0-9][smhd]\s*$", t)


def format_ts(ts: float, wall: bool) -> str:
    """A twin's seconds as seconds, a live log's as a UTC date to the millisecond."""
    if wall:
        try:
            return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        except (ValueError, OverflowError, OSError):  # a time past the calendar: shown as it is
            pass
    return f"{ts:.3f}"


def is_wall(first_ts: float | None) -> bool:
    return first_ts is not None and first_ts > _WALL_FROM


# ---------------------------------------------------------------------------------------------- overview


@dataclass
class Overview:
    """What a whole log says, in the terms an operator asks first."""

    files: list[Path]
    records: Counter = field(default_factory=Counter)  # by kind
    skipped: int = 0
    cut: int = 0  # of the skipped, lines a crash cut mid-write (each a run's last)
    too_deep: list[str] = field(default_factory=list)  # as LogReader's: damage where a crash's cut could have been
    too_deep_count: int = 0  # (LogReader's: too_deep names the first few)
    lost_segments: list[tuple[Path, int, str]] = field(default_factory=list)  # as LogReader's (each once in skipped)
    first_ts: float | None = None
    last_ts: float | None = None
    starts: list[dict] = field(default_factory=list)  # each run's start line, without its config
    ends: list[dict | None] = field(default_factory=list)  # each run's end line (None: killed, or running)
    safety: list[dict] = field(default_factory=list)
    levels: list[dict] = field(default_factory=list)
    postmortems: list[dict] = field(default_factory=list)
    venue_changes: list[dict] = field(default_factory=list)
    dead_man: list[dict] = field(default_factory=list)  # the venue's dead-man's switch: armed, cleared, refused, ...
    fills_maker: int = 0
    volume_usd: float = 0.0
    funding_usd: float = 0.0  # the funding payments' sum: received less paid
    shadow_cycles: int = 0
    cycles_sending: int = 0  # cycles whose commands were not empty
    cycles_snapshot_only: int = 0  # of those, the cycles that sent an account snapshot's request alone: no order


def overview(reader: LogReader) -> Overview:
    """One pass over the log. Cycle lines are counted from their head and two markers in their text; every
    other kind (a few per minute at most) is parsed."""
    ov = Overview(reader.files)
    rare = {"start", "end", "safety", "level", "postmortem", "venue_account_change", "fill", "dead_man", "funding"}
    for line in reader:
        kind = line.kind
        ov.records[kind] += 1
        if ov.first_ts is None:
            ov.first_ts = line.ts
        if ov.last_ts is None or line.ts > ov.last_ts:
            ov.last_ts = line.ts
        if kind == "cycle":
            text = line.text
            if text.endswith('"note":"shadow"}'):
                ov.shadow_cycles += 1
            if '"commands":[]' not in text:
                ov.cycles_sending += 1
                ov.cycles_snapshot_only += '"commands":["RequestAccountSnapshot"]' in text
            continue
        if kind not in rare:
            continue
        rec = _parse(line.text)
        if rec is None:
            continue
        if kind == "fill":
            ov.fills_maker += bool(rec.get("maker"))
            if _is_number(rec.get("px")) and _is_number(rec.get("sz")):
                ov.volume_usd += rec["px"] * rec["sz"]
        elif kind == "funding":
            if _is_number(rec.get("usdc")):
                ov.funding_usd += rec["usdc"]
        elif kind == "start":
            rec.pop("config", None)
            ov.starts.append(rec)
            ov.ends.append(None)
        elif kind == "end":
            if ov.ends and ov.ends[-1] is None:
                ov.ends[-1] = rec
        elif kind == "safety":
            ov.safety.append(rec)
        elif kind == "level":
            ov.levels.append(rec)
        elif kind == "postmortem":
            ov.postmortems.append(rec)
        elif kind == "dead_man":
            ov.dead_man.append(rec)
        else:
            ov.venue_changes.append(rec)
    ov.skipped = reader.skipped
    ov.cut = reader.cut
    ov.too_deep = list(reader.too_deep)
    ov.too_deep_count = reader.too_deep_count
    ov.lost_segments = list(reader.lost_segments)
    return ov


def lost_segment_text(path: Path, lines_read: int, why: str) -> str:
    """A segment that could not be read on (``LogReader.lost_segments``), named, with what of it is lost."""
    if lines_read == 0:
        return f"{path.name} unreadable ({why}): every line of it lost"
    return f"{path.name} unreadable after its line {lines_read:,} ({why}): the rest of it lost"


def skipped_text(skipped: int, cut: int, lost_segments: list[tuple[Path, int, str]] = (), too_deep: list[str] = (),
                 too_deep_count: int = 0) -> str:
    """What was skipped, said apart: a line a crash cut (a run's last: the kill is the run's end, nothing of it
    damaged), lines unreadable inside the log (a disk's damage, another tool's lines), and gzipped segments that
    could not be read on (``lost_segments``, each also one of ``skipped``), named. All were "torn or unreadable
    lines": an operator reading a log after a kill could not tell its cut end from damage, and a whole segment
    that is not gzip was "1 unreadable line". ``too_deep``: where the first lines too deep for json are, of
    ``too_deep_count`` (LogReader's), the rest counted."""
    damaged = skipped - cut - len(lost_segments)
    out = ""
    if cut:
        out += ("; 1 torn line skipped (cut by a crash mid-write: a run's last)" if cut == 1 else
                f"; {cut} torn lines skipped (cut by crashes mid-write, each a run's last)")
    if damaged:
        deep = "".join(f"{'; ' if i else ': '}{at} {TOO_DEEP}" for i, at in enumerate(too_deep))  # (where, why)
        if too_deep_count > len(too_deep):
            deep += f"; and {too_deep_count - len(too_deep):,} more {TOO_DEEP}"
        out += f"; {damaged} unreadable line{'s' if damaged != 1 else ''} skipped (damaged inside the log{deep})"
    for seg in lost_segments:
        out += "; " + lost_segment_text(*seg)
    return out


def render_overview(ov: Overview, path: Path, max_transitions: int = 20) -> list[str]:
    wall = is_wall(ov.first_ts)
    n = sum(ov.records.values())
    segs = len(ov.files) - (1 if ov.files and ov.files[-1] == path else 0)
    out = [f"{path}: {n:,} records in {len(ov.files)} file{'s' if len(ov.files) != 1 else ''}"
           + (f" ({segs} closed segment{'s' if segs != 1 else ''})" if segs else "")
           + skipped_text(ov.skipped, ov.cut, ov.lost_segments, ov.too_deep, ov.too_deep_count)]
    if not n:
        return out
    span = ov.last_ts - ov.first_ts
    out.append(f"  span        {format_ts(ov.first_ts, wall)} … {format_ts(ov.last_ts, wall)} ({_span(span)})")
    for s, e in zip(ov.starts, ov.ends):
        what = ", ".join(f"{k} {v}" for k, v in s.items() if k not in ("type", "ts"))
        out.append(f"  run start   {format_ts(s['ts'], wall)}  {what}")
        out.append(f"    ended     {format_ts(e['ts'], wall)}  {e.get('reason')}" if e is not None else
                   "    ended     no end line: killed outright (or still running)")
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(ov.records.items(), key=lambda kv: -kv[1]))
    out.append(f"  records     {kinds}")
    cycles = ov.records.get("cycle", 0)
    if cycles:
        # (a Shadow run's cycles send the reconciliation's snapshot requests: "19 sent commands" alone read as
        # orders placed at a level that places none)
        ordered = ov.cycles_sending - ov.cycles_snapshot_only
        out.append(f"  cycles      {cycles:,}: {ov.cycles_sending:,} sent commands ({ordered:,} with an order, "
                   f"{ov.cycles_snapshot_only:,} an account snapshot's request alone), {ov.shadow_cycles:,} in Shadow "
                   f"(quoted on paper)")
    fills = ov.records.get("fill", 0)
    if fills:
        out.append(f"  fills       {fills:,} (maker {ov.fills_maker / fills:.0%}), volume {ov.volume_usd:,.0f} USD")
    fundings = ov.records.get("funding", 0)
    if fundings:
        out.append(f"  funding     {fundings:,} hourly payments, {ov.funding_usd:+.2f} USD (received less paid)")
    out += _transitions("safety", [(r.get("ts"), _level_name(SafetyLevel, r.get("from")),
                                    _level_name(SafetyLevel, r.get("to")), r.get("reason", ""))
                                   for r in ov.safety], wall, max_transitions)
    out += _transitions("exposure", [(r.get("ts"), r.get("from"), r.get("to"), level_why(r))
                                     for r in ov.levels], wall, max_transitions)
    if ov.dead_man:
        out += _transitions("dead-man", [(r.get("ts"), "", r.get("state"), r.get("why", "")) for r in ov.dead_man],
                            wall, max_transitions)
    for r in ov.postmortems:  # (a field of another shape than this version writes, as it is: it was a traceback)
        reasons, orders = _listed(r.get("reasons", [])), r.get("live_orders", [])
        orders = f"{len(orders)} live orders" if isinstance(orders, list) else f"live orders {orders}"
        out.append(f"  KILL        {format_ts(r.get('ts', math.nan), wall)}  "
                   f"{'; '.join(str(x) for x in reasons) or 'no rule named'} "
                   f"(postmortem: position {r.get('position')}, {orders})")
    for r in ov.venue_changes[:max_transitions]:
        out.append(f"  venue       {format_ts(r.get('ts', math.nan), wall)}  {r.get('kind')}: "
                   f"{str(r.get('text', ''))[:100]}")
    return out


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _transitions(what: str, rows: list[tuple], wall: bool, limit: int) -> list[str]:
    if not rows:
        return [f"  {what:<11} no transitions"]
    out = [f"  {what:<11} {len(rows)} transition{'s' if len(rows) != 1 else ''}"
           + (f" (the last {limit} shown)" if len(rows) > limit else "")]
    for ts, a, b, why in rows[-limit:]:
        moved = f"{a} → {b}" if a != "" else b
        out.append(f"    {format_ts(ts, wall) if _is_number(ts) else '?'}  {moved}  {str(why)[:120]}")
    return out


def _level_name(levels, value) -> str:
    try:
        return levels(value).name
    except (ValueError, TypeError):
        return str(value)


def _span(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    h, rem = divmod(round(seconds), 3600)
    return f"{h} h {rem // 60:02d} min" if h else f"{rem // 60} min {rem % 60:02d} s"


# ---------------------------------------------------------------------------------------------- records


# a field of another shape than this version writes (a hand edit, another version's log) fails the formatting
SHAPE_ERRORS = (TypeError, AttributeError, ValueError, IndexError, KeyError)


def describe(rec: dict, wall: bool) -> str:
    """One record on one line, its time first; a record whose fields are not of the shapes this version writes
    (``inputs`` a number), as written: it was a traceback."""
    try:
        return _describe(rec, wall)
    except SHAPE_ERRORS:
        return _as_written(rec, wall)


def _as_written(rec: dict, wall: bool) -> str:
    ts = format_ts(rec["ts"], wall) if _is_number(rec.get("ts")) else "?"
    rest = {k: v for k, v in rec.items() if k not in ("type", "ts")}
    return f"{ts}  {rec.get('type')}  {json.dumps(rest)[:160]}"


def _describe(rec: dict, wall: bool) -> str:
    kind = rec.get("type")
    ts = format_ts(rec["ts"], wall) if _is_number(rec.get("ts")) else "?"
    if kind == "cycle":
        i = rec.get("inputs", {})
        quotes = rec.get("quotes", [])
        sides = [" ".join(_quote(q) for q in quotes if q and q[0] == side) or "-" for side in "BA"]
        cmds = rec.get("commands", [])
        note = f" [{rec['note']}]" if rec.get("note") else ""
        return (f"{ts}  cycle {rec.get('cycle')}{note}  mid {i.get('mid')}  pos {_num(i.get('position'))}  "
                f"{_levels(i)}  headroom {i.get('headroom')}  B {sides[0]} | A {sides[1]}  "
                f"sent {'; '.join(cmds) if cmds else 'nothing'}")
    if kind == "commands":
        cmds = rec.get("commands", [])
        return f"{ts}  sent    {'; '.join(str(c) for c in cmds) if cmds else 'nothing'}  (on {rec.get('on')}, outside a cycle)"
    if kind == "fill":
        return (f"{ts}  fill    {'B' if rec.get('side', 0) > 0 else 'A'} {_num(rec.get('sz'))}@{rec.get('px')} "
                f"{'maker' if rec.get('maker') else 'taker'}  position {_num(rec.get('position'))}  "
                f"(cycle {rec.get('cycle')}, order {str(rec.get('cloid'))[-6:]})")
    if kind == "safety":
        return (f"{ts}  safety  {_level_name(SafetyLevel, rec.get('from'))} → "
                f"{_level_name(SafetyLevel, rec.get('to'))}  {rec.get('reason', '')}")
    if kind == "level":
        return f"{ts}  level   {rec.get('from')} → {rec.get('to')}  {level_why(rec, criteria=True)}"
    if kind == "snapshot":
        late = "  (asked before the last reconnect: not the resync)" if rec.get("asked_before_reconnect") else ""
        return f"{ts}  snapshot  venue position {_num(rec.get('position'))}, {rec.get('open_orders')} open orders{late}"
    if kind == "postmortem":
        return f"{ts}  KILL    {'; '.join(str(x) for x in rec.get('reasons', []))}"
    if kind == "start":
        what = ", ".join(f"{k} {v}" for k, v in rec.items() if k not in ("type", "ts", "config"))
        return f"{ts}  start   {what}"
    if kind == "end":
        what = ", ".join(f"{k} {v}" for k, v in rec.items() if k not in ("type", "ts", "reason"))
        return f"{ts}  end     {rec.get('reason')}" + (f"  ({what})" if what else "")
    if kind == "venue_account_change":
        return f"{ts}  venue   {rec.get('kind')}: {rec.get('text', '')[:120]}"
    if kind == "funding":
        return (f"{ts}  funding {rec.get('usdc')} USD on {rec.get('szi')} {rec.get('coin')} at {rec.get('rate')}/h "
                f"(negative: paid); {rec.get('funding_usd')} in all")
    if kind == "dead_man":
        return f"{ts}  dead-man's switch {rec.get('state')}: {rec.get('why', '')}"
    if kind == "flatten_held":
        return (f"{ts}  flatten held: the address budget is down to its cancel reserve ({rec.get('headroom')} left, "
                f"{rec.get('reserve')} reserved); position {rec.get('position')} waits for it to grow, or for no "
                f"order to be left to cancel (then one IOC per 10 s from the reserve)")
    if kind == "flatten_again":
        return (f"{ts}  flatten again: a fill that raced the pull left position {rec.get('position')} after the "
                f"flatten had found it flat; closing it too")
    if kind == "sub_lot_position":
        return sub_lot_text(f"{ts}  below lot ", rec)
    if kind == "overfill":
        return (f"{ts}  overfill: fill {rec.get('tid')} of {rec.get('sz')} on {rec.get('cloid')} took its fills "
                f"past the order's size {rec.get('order_sz')}: {rec.get('excess')} of it not booked, the venue's "
                f"position asked for")
    if kind == "overfill_settled":
        what = {"real": "the venue made it: booked at its fill's price and fee",
                "copy": "a fill given twice, which the venue never made: dropped, any part of it that fitted its "
                        "order taken back",
                "mixed": "the venue made some (booked at their fills' prices and fees), the rest were copies: dropped, "
                         "any part of theirs that fitted taken back",
                "guessed": "more than one set of them explains the venue's position (two of one side and size, one "
                           "real; or a buy's and a sell's of one size, parts of their fills booked: a round trip or "
                           "two copies), which no snapshot tells: the set with the earliest given real booked, the "
                           "rest dropped; the ledger's position the venue's, its PnL off by their price difference "
                           "if the guess was wrong"}
        if rec.get("excess") == "unresolved" and rec.get("pending") is False:  # (those left were let go)
            what["unresolved"] = ("the rest add nothing to the venue's position whichever they were (a real round trip "
                                  "or two copies), which no snapshot tells: let go, the ledger's position the venue's, "
                                  "its net PnL short what the round trip made if it was real")
        return (f"{ts}  overfill settled: {rec.get('unbooked')} unbooked, the venue's position "
                f"{rec.get('venue_position')}, the ledger's {rec.get('ledger_position')}: "
                + what.get(rec.get("excess"), f"not all told; {rec.get('left', rec.get('unbooked'))} left "
                           f"unbooked, the ledger off the account by the real part of it"))
    if kind == "foreign_orders":
        return (f"{ts}  foreign {rec.get('n')} order(s) this run did not place appeared at the venue: another client "
                f"trading the coin on this account (each cancels the other's)? placed by hand? "
                f"({'; '.join(rec.get('orders', []))}); counted in the limits, cancelled where they do not fit")
    if kind == "clock_step_back":
        return f"{ts}  clock   {rec.get('text', '')}"
    if kind == "scorecard":
        return (f"{ts}  model   {rec.get('name')} {rec.get('verdict')}{'' if rec.get('proven') else ' (unproven)'}, "
                f"weight {_num(rec.get('weight'), 3)}: {rec.get('n_outcomes')} outcomes, "
                f"Brier {_num(rec.get('brier'), 4)}, "
                f"IR {_num(rec.get('information_ratio'), 3)}, MI {_num(rec.get('mi_bits'), 4)} bits "
                f"(ratio {_num(rec.get('mi_ratio'), 3)}{_mi_shortfall(rec.get('mi_shortfall_se'))}), "
                f"calibration slope {_num(rec.get('calibration_slope'), 3)}, "
                f"edge bias {_num(rec.get('edge_bias_bps'), 3)} bps; bad periods {rec.get('consecutive_bad')} in a row"
                f"{_recent_bad(rec.get('recent_bad'))}{_bad_share(rec.get('bad_share'), rec.get('judged_outcomes'))}, "
                f"good {rec.get('consecutive_good')}")
    if kind == "quota_hold":
        if rec.get("state") == "released":
            return (f"{ts}  quota   the venue's first quota report came: {_resumes(rec)} "
                    f"({_num(rec.get('held_s'), 3)} s held)")
        return (f"{ts}  quota   only cancels sent until the venue's first quota report comes (its first poll refused "
                f"or unanswered: polled again within seconds)")
    if kind == "ip_weight_hold":
        if rec.get("state") == "released":
            return (f"{ts}  quota   the last minute's IP weight fell to {_num(rec.get('ip_used'), 6)}, under the "
                    f"requoting share {_num(rec.get('ip_quote_limit'), 6)}: {_resumes(rec)} "
                    f"({_num(rec.get('held_s'), 3)} s held)")
        return (f"{ts}  quota   only cancels sent: the last minute's IP weight {_num(rec.get('ip_used'), 6)} is at the "
                f"requoting share {_num(rec.get('ip_quote_limit'), 6)} (budget.ip_quote_frac of ip_weight_per_minute; "
                f"the rest kept for cancels and snapshots) until it falls")
    return _as_written(rec, wall)


def _recent_bad(n) -> str:
    """A scorecard's bad periods of the last demote_within_periods (what counts it degraded on evidence); nothing for
    a log written before the record carried them."""
    return f", {n} of the last demote_within_periods" if isinstance(n, int) and not isinstance(n, bool) else ""


def _bad_share(share, n) -> str:
    """Retirement's evidence: the share of its last outcomes judged (the fewest periods holding retire_within_outcomes,
    fewer before that many are judged) in bad periods;
    nothing for a log written before the record carried it, or a rule counting bad periods in a row (null)."""
    if isinstance(share, bool) or not isinstance(share, (int, float)) or share != share or not isinstance(n, int):
        return ""
    return f", bad over {_num(100.0 * share, 3)}% of its last {n} outcomes"


def _mi_shortfall(se) -> str:
    """A scorecard's MI against its baseline, in standard errors, said the way it points; nothing where the record
    has none (a log written before mi_shortfall_se, or null: the baseline not yet measured), not "None SE below"."""
    if isinstance(se, bool) or not isinstance(se, (int, float)) or se != se:
        return ""
    return f", {_num(abs(se), 3)} SE {'below' if se >= 0 else 'above'} its baseline"


def _resumes(rec: dict) -> str:
    """What a quota_hold's or ip_weight_hold's release means for quoting: it resumes, unless the other hold still
    stands (``still_held``, its why)."""
    still = rec.get("still_held")
    if still is None:
        return "quoting resumes"
    shown = still if isinstance(still, str) and len(still) <= 80 else short_repr(still)  # (a damaged log's value)
    return f"quoting still held to cancels: {shown}"


def level_why(rec: dict, criteria: bool = False) -> str:
    """Why the exposure level moved: a promotion's confidence (and with ``criteria`` every criterion with its
    value and threshold), a demotion's trigger and reason."""
    conf = rec.get("confidence")
    why = f"{rec.get('kind', '')}" + (f", confidence {conf:.2f}" if _is_number(conf) else "")
    if rec.get("trigger"):
        why += f": {rec['trigger']}"
    if rec.get("reason"):
        why += f" ({rec['reason']})"
    if criteria and rec.get("criteria"):
        why += "; " + ", ".join(f"{c.get('name')} {_num(c.get('value'), 4)} {c.get('op')} {_num(c.get('threshold'), 4)}"
                                + ("" if c.get("passed") else " FAILED") for c in rec["criteria"])
    return why


def _levels(inputs: dict) -> str:
    s, e = inputs.get("safety_level"), inputs.get("exposure_level")
    return f"{_level_name(SafetyLevel, s)}/{_level_name(ExposureLevel, e)}"


def describe_cycle(rec: dict, wall: bool) -> list[str]:
    """A cycle in full: what it saw, each step from the model's half-spread to the limit in the order the
    core applied them, each signal's forecast, the quotes and what was sent (as ``describe``, a cycle whose fields
    are not of the shapes this version writes, as written)."""
    try:
        return _describe_cycle(rec, wall)
    except SHAPE_ERRORS:
        return [_as_written(rec, wall)]


def _describe_cycle(rec: dict, wall: bool) -> list[str]:
    i = dict(rec.get("inputs", {}))
    out = [f"cycle {rec.get('cycle')} at {format_ts(rec['ts'], wall)}" + (f"  [{rec['note']}]" if rec.get("note") else "")]
    conf = i.pop("confidence", None)
    levels = f"safety {_level_name(SafetyLevel, i.pop('safety_level', None))}, " \
             f"exposure {_level_name(ExposureLevel, i.pop('exposure_level', None))}"
    if isinstance(conf, list) and len(conf) == 4:
        levels += (f", confidence {conf[3]:.2f} (model {conf[0]:.2f}, execution {conf[1]:.2f}, "
                   f"safety {conf[2]:.2f})")
    out.append(f"  levels      {levels}")
    out.append("  saw         " + "  ".join(f"{k} {_num(v)}" for k, v in i.items()))
    steps = rec.get("adjustments", [])
    if steps:
        out.append("  steps       (in the order applied: value, and what it moved)")
        out += [f"    {name:<22} {_num(value):>14}  {moved}" for name, value, moved in steps]
        liq = {name: value for name, value, _ in steps if name.startswith("liquidation_")}
        if liq:
            out.append("  " + _liquidation_text(liq, i.get("mid")))
    sigs = rec.get("signals", [])
    if sigs:
        out.append("  signals     " + ";  ".join(f"{s.get('name')} p_up {_num(s.get('p_up'), 3)} weight "
                                                 f"{_num(s.get('weight'), 2)}" for s in sigs))
    quotes = rec.get("quotes", [])
    for side, label in (("B", "bids"), ("A", "asks")):
        qs = [q for q in quotes if q and q[0] == side]
        out.append(f"  {label:<11} " + ("  ".join(_quote(q) for q in qs) if qs else "none"))
    cmds = rec.get("commands", [])
    out.append("  sent        " + ("; ".join(cmds) if cmds else "nothing"))
    return out


def _liquidation_text(steps: dict, mid) -> str:
    """The liquidation rule's steps in a cycle (AgentCore._liquidation_exposure) as the sentence that says why its
    reducing side was sized down."""
    px, distance, out = (steps.get(k) for k in ("liquidation_px", "liquidation_distance", "liquidation_counted_out"))
    side = "asks" if isinstance(out, (int, float)) and out > 0 else "bids"
    if isinstance(distance, (int, float)):
        where = (f"is {_num(100.0 * distance, 3)}% (of the mid) from" if distance >= 0.0 else
                 f"is {_num(-100.0 * distance, 3)}% (of the mid) past")
    else:
        where = "is near"
    snap = steps.get("liquidation_px_snapshot")
    whose = ("the last snapshot's" if snap is None else f"the last snapshot's {_num(snap)} moved by our fills since"
             if snap else "the last snapshot gave no price (flat, or the venue's null): its margin and our fills "
             "since")
    return (f"liquidation mid {_num(mid)} {where} the liquidation price {_num(px)} ({whose}): the {side} "
            f"sized as if the venue had taken the position ({_num(out)} counted out), to the limit alone")


def _quote(q: list) -> str:
    """A quote as ``size@price``, the size to 10 significant digits: one the ladder scaled (0.0015 x 1.5) is
    written 0.0022500000000000003 (the price, on the venue's tick grid, as written)."""
    return f"{_num(q[2])}@{q[1]}" if len(q) > 2 else str(q)


def _num(v, digits: int = 10) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:.{digits}g}"


def plain_size(x: float, sign: bool = False) -> str:
    """A coin amount in plain decimals to 12 places (``0.00003``, not ``3e-05`` as ``g`` writes one below a lot)."""
    text = f"{x:{'+' if sign else ''}.12f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def sub_lot_text(head: str, rec: dict) -> str:
    """A ``sub_lot_position`` record's words (the audit's line, the live log's warning): what is held, and that the
    operator must close it, as no order of the agent's can."""
    pos, lot, lots = rec.get("position"), rec.get("lot"), rec.get("lots")
    why = (f"below one lot ({plain_size(lot)}) of the coin's size decimals now (the venue lowered them under it)"
           if not lots else f"its {plain_size(lots)} in whole lots of {plain_size(lot)} worth less than the venue's "
                            f"minimum order, and the rest below one lot (the venue lowered the coin's size decimals "
                            f"under it)")
    by = rec.get("by", "the flatten")
    then = "the flatten ends there" if by == "the flatten" else f"{by} send nothing for it"
    return (f"{head}position {plain_size(pos, True)} {rec.get('coin')} held, {why}: no order can close it (the venue "
            f"takes sizes on its lot only), {then}; close it another way (the venue's app)")
