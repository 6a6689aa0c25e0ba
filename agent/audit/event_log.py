"""Every event a live core handled, written down so that the session can be replayed exactly.

A twin run is reproduced by its seed and config. A live one is not: the venue will never send the same
messages twice. But the core is sans-IO and deterministic (all its randomness from a generator seeded
from the run's seed), so the events it was fed, in order, with its seed and config, are the session:
fed to a fresh core they give back every decision, record for record. That is how a live incident is
reproduced on a desk, stepped through in a debugger, or used to check that a code change leaves the
decisions alone.

Lines: the run's ``start`` record (as in the decision log: config, seed, tick, size decimals), then one
``{"e": "<event class>", <field>: <value>, ...}`` per event, and ``{"e": "shutdown", "ts": T}`` where the
driver ended the run (``"flatten": true`` in it when the run closed its position at the end). Values are JSON's own, so floats come back bit for bit (JSON writes the shortest
repr) and ints stay ints; tuples, enums and nested records are rebuilt from the event classes' types. A
float that is not finite (a NaN price in a malformed message the core was fed) is written as its name,
``"nan"``, ``"inf"`` or ``"-inf"``: JSON has no such number (the bare word NaN Python would write makes
every other reader refuse the file), and a float field reads it back as the float it was.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import math
import types
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

from agent.audit.inspect import lost_segment_text
from agent.audit.records import JsonlWriter, LostFile, numbered_log_lines
from agent.gateway import events as ev
from common.json_text import TOO_DEEP

EVENT_TYPES: dict[str, type] = {t.__name__: t for t in typing.get_args(ev.Event)}
SHUTDOWN = "shutdown"


def encode(event) -> dict:
    """An event as a JSON-ready dict (its class under ``e``, its fields by name)."""
    out: dict[str, Any] = {"e": type(event).__name__}
    for f in dataclasses.fields(event):
        out[f.name] = _plain(getattr(event, f.name))
    return out


def _plain(v):
    if type(v) is float:
        return v if -math.inf < v < math.inf else repr(v)  # "nan", "inf", "-inf": float() reads them back
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if dataclasses.is_dataclass(v):
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    return v


def decode(d: dict):
    """The event a dict from ``encode`` describes; ValueError naming what is wrong with it, and FieldError (a
    ValueError) naming the field, its value and why when one is not of its type (``BookUpdated.bids[0][0] None:
    not a number``): a journal's reader (the replay, calibration) then says which, where it took the value on as
    it was and failed far from the line, or fitted from it."""
    name = d.get("e")
    cls = EVENT_TYPES.get(name)
    if cls is None:
        raise ValueError(f"unknown event {name!r}")
    try:
        return _builder(cls)(d)
    except FieldError as e:
        raise e.at(cls.__name__) from None


class FieldError(ValueError):
    """A field whose value is not of its type: ``path`` to it (``bids[0][0]``, ``ts``), the value, and why."""

    def __init__(self, value, why: str, path: str = "") -> None:
        self.value, self.why, self.path = value, why, path
        shown = repr(value)
        super().__init__(f"{path} {shown if len(shown) <= 60 else shown[:60] + '...'}: {why}")

    def at(self, outer: str) -> "FieldError":
        """The same error seen from the record (or field) holding this one."""
        sep = "" if not self.path or self.path.startswith("[") else "."
        return FieldError(self.value, self.why, outer + sep + self.path)


@lru_cache(maxsize=None)
def _builder(cls: type) -> Callable[[Any], Any]:
    """A function from the JSON form to ``cls``, made once per class from its type hints."""
    hints = typing.get_type_hints(cls)
    # per field: its name, the types JSON gives back that are taken as they are (no call: most values), and the
    # converter for the rest (which converts, or refuses with a FieldError)
    convs = [(f.name, _TAKEN.get(hints[f.name], ()), _converter(hints[f.name])) for f in dataclasses.fields(cls)]

    def build(d):
        if type(d) is not dict:
            raise FieldError(d, "not a record")
        kw = {}
        for name, taken, conv in convs:
            if name in d:
                v = d[name]
                if type(v) in taken:
                    kw[name] = v
                    continue
                try:
                    kw[name] = conv(v)
                except FieldError as e:
                    raise e.at(name) from None
        try:
            return cls(**kw)
        except TypeError:  # a field missing: Python's "__new__() missing 1 required positional argument" said it
            missing = [name for name, _, _ in convs if name not in kw and name in required]
            if not missing:
                raise
            raise ValueError(f"{cls.__name__} without its field{'s' if len(missing) > 1 else ''} "
                             f"{', '.join(missing)}, which every {cls.__name__} has") from None
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    return build


def _converter(tp) -> Callable[[Any], Any]:
    """A check and conversion from what JSON gives back to a value of ``tp``. An optional field (``float | None``:
    ConnectionRestored.refused_ts, ConnectionLost.silent_since) is None or its type's (taken as it was, a "nan"
    came back a string and calibration failed on it far from its line); other unions are taken as they are."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return _optional(_converter(args[0]))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return _tuple_of(_converter(args[0]))
        return _fixed_tuple([_converter(a) for a in args])
    if tp is tuple:
        return lambda v: tuple(_items(v))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum(tp)
    if dataclasses.is_dataclass(tp):
        return _builder(tp)
    return _SCALARS.get(tp, _as_is)


def _optional(conv: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def optional(v):
        return None if v is None else conv(v)
    return optional


def _items(v) -> list:
    if type(v) is not list and type(v) is not tuple:
        raise FieldError(v, "not a list")
    return v


def _tuple_of(item: Callable[[Any], Any]) -> Callable[[Any], tuple]:
    def conv(v):
        try:
            return tuple([item(x) for x in _items(v)])
        except FieldError:
            if type(v) is not list and type(v) is not tuple:
                raise
            _located(item, v)  # (the slow path, once: which item)
            raise
    return conv


def _fixed_tuple(items: list[Callable[[Any], Any]]) -> Callable[[Any], tuple]:
    n = len(items)
    if all(c is _float for c in items):  # a book level's (px, sz): numbers, taken without a call each
        def numbers(v):
            if (type(v) is list or type(v) is tuple) and len(v) == n and all(type(x) in _NUMBER for x in v):
                return tuple(v)
            return conv(v)  # (converts the named non-finite ones, or says what is wrong)
    else:
        numbers = None

    def conv(v):
        if len(_items(v)) != n:
            raise FieldError(v, f"not {n} items")
        try:
            return tuple([c(x) for c, x in zip(items, v)])
        except FieldError:
            _located(items, v)
            raise
    return numbers or conv


def _located(convs, v) -> None:
    """Raise the FieldError of the first item of ``v`` its converter (one for all, or one each) refuses, with
    the item's index in its path."""
    for i, x in enumerate(v):
        try:
            (convs[i] if type(convs) is list else convs)(x)
        except FieldError as e:
            raise e.at(f"[{i}]") from None


def _enum(tp: type) -> Callable[[Any], Any]:
    def conv(v):
        try:
            return tp(v)
        except ValueError:
            raise FieldError(v, f"not a {tp.__name__}") from None
    return conv


def _float(v):
    """A float field's value: a number as JSON gave it back, or the name a non-finite one was written as."""
    t = type(v)
    if t is float or t is int:
        return v
    if t is str:
        try:
            return float(v)
        except ValueError:
            pass
    raise FieldError(v, "not a number")


def _int(v):
    if type(v) is int:
        return v
    if type(v) is float and v.is_integer():
        return int(v)
    raise FieldError(v, "not an integer")


def _bool(v):
    if type(v) is bool:
        return v
    raise FieldError(v, "not true or false")


def _str(v):
    if type(v) is str:
        return v
    raise FieldError(v, "not a string")


def _as_is(v):
    return v


_SCALARS = {float: _float, int: _int, bool: _bool, str: _str}
_NUMBER = frozenset((float, int))
_TAKEN = {float: _NUMBER, int: frozenset((int,)), bool: frozenset((bool,)), str: frozenset((str,))}


class EventJournal:
    """Writes a live run's events as its core gets them (before it handles each one, so an event the core
    fails on is in the journal too). Segmented and crash-safe like the decision log it sits beside."""

    def __init__(self, writer: JsonlWriter) -> None:
        self.writer = writer

    def start(self, start_record: dict) -> None:
        self.writer.write(start_record)

    def event(self, event) -> None:
        self.writer.write(encode(event))

    def shutdown(self, ts: float, flatten: bool = False) -> None:
        """The run's end, as the core was told it (with ``flatten``, the position closed through the book)."""
        self.writer.write({"e": SHUTDOWN, "ts": ts, "flatten": True} if flatten else {"e": SHUTDOWN, "ts": ts})

    def close(self) -> None:
        self.writer.close()


def journal_lines(files: list[Path], progress: Callable[[int], None] | None = None,
                  lost: LostFile | None = None) -> Iterator[tuple[str, dict | None]]:
    """("FILE: line N", record) of each line of a journal's files (``records.log_files``), in order: what the audit's
    replay and calibration read, stricter than the log's reader, which skips what it cannot read. A line that
    cannot be read (not JSON, not text) is a crash's cut only as the last line of a run: just before the next run's
    start record, or the journal's last. It is given there as (its place, None): left out, the core never having
    finished that event either. Anywhere else the journal is damaged, and ValueError says where: a replay or a fit
    an event short is another run (one quote cycle's Timer lost moved the fitted transport failures from 0.8% to
    28%, and the replay blamed the code for the difference that followed).

    A gzipped segment that cannot be read on (not gzip, cut short, damaged, 0 bytes), or a closed plain one of 0
    bytes (the writer closes a segment only with lines in it), is no crash's cut: a crash cuts a line of the file
    being written, never a closed segment, and such a segment loses every line past where it stopped, not one. At a
    run's end (before the next start record, or the journal's last) it is told to ``lost`` (file, lines read, why:
    as ``inspect.LogReader.lost_segments``), the run's replay then ending short; without ``lost``, or inside a run,
    ValueError names it."""
    cut = None  # where the unreadable line just read is
    gone: list[tuple[Path, int, str]] = []  # segments lost since the last line given (told by the reader)
    held: list[tuple[Path, int, str]] = []  # those lost at what may be a run's end, until the next line says

    def damaged() -> ValueError:
        return _damaged(cut) if cut is not None else _lost_inside(held)

    for f, n, text in numbered_log_lines(files, progress, lambda *seg: gone.append(seg)):
        if gone:
            if cut is not None:
                raise damaged()
            held += gone
            gone.clear()
        where = f"{f}: line {n}"
        try:
            d = json.loads(text) if text is not None else None
        except ValueError:
            d = None
        except RecursionError:  # no line the writer made, whole or cut (a crash's cut is the start of one): damage
            raise ValueError(f"{where}: {TOO_DEEP} (the writer's lines nest a few levels: damage, not a crash's "
                             f"cut): the journal is damaged, and without the events lost a replay or a fit is another "
                             f"run") from None
        if d is None:
            if cut is not None or held:
                raise damaged()
            cut = where
            continue
        if type(d) is not dict:
            shown = text.strip()
            raise ValueError(f"{where}: {shown if len(shown) <= 60 else shown[:60] + '...'}: not a record (a "
                             f"journal's line is a JSON object)")
        if cut is not None or held:
            if d.get("type") != "start":
                raise damaged()
            if cut is not None:
                yield cut, None
                cut = None
            _told(lost, held)
        yield where, d
    if gone:
        if cut is not None:
            raise damaged()
        held += gone
    if cut is not None:
        yield cut, None
    _told(lost, held)


def _told(lost: LostFile | None, segments: list[tuple[Path, int, str]]) -> None:
    """Segments lost at a run's end, told to ``lost`` (and forgotten here); without it, a ValueError as inside a
    run."""
    if segments and lost is None:
        raise _lost_inside(segments)
    for seg in segments:
        lost(*seg)
    segments.clear()


def _lost_inside(segments: list[tuple[Path, int, str]]) -> ValueError:
    named = "; ".join(f"{seg[0].parent / lost_segment_text(*seg)}" for seg in segments)  # the path, and what is lost
    return ValueError(f"{named}: the journal is "
                      f"damaged (a copy's, a disk's or a compression's error, not a crash's cut: a crash cuts one "
                      f"line of the file being written, never a closed segment), and without the events lost a "
                      f"replay or a fit is another run")


def decode_at(d: dict, where: str):
    """The event a journal's line (at ``where``) holds, for the replay and the fit; ValueError naming the line, and
    the field and its value when one is not of its type (FieldError), if it holds none. Its time must be finite: a
    run's span, every duration and the replay's timers are differences of times."""
    try:
        event = decode(d)
    except FieldError as e:  # "BookUpdated.bids[0][0] None: not a number"
        raise ValueError(f"{where}: {e}") from None
    except (ValueError, TypeError, KeyError, IndexError) as e:
        raise ValueError(f"{where}: not an event ({e})") from None
    if not math.isfinite(event.ts):
        raise ValueError(f"{where}: {type(event).__name__}.ts {event.ts!r}: not a finite time")
    return event


def shutdown_at(d: dict, where: str) -> tuple[float, bool]:
    """A journal's shutdown line (at ``where``): the time the driver stopped the core, and whether it closed the
    position (``--flatten-on-stop``); ValueError naming the line if its time is none. A replay stops its core there,
    ``core.shutdown(ts, flatten)``, as the live driver did (the audit's and calibration's alike: what the stop sent
    is the run's, and the replies after it answer orders the replayed core sent)."""
    ts = d.get("ts")
    if type(ts) not in (int, float) or not math.isfinite(ts):
        raise ValueError(f"{where}: shutdown.ts {ts!r}: not a finite time")
    return float(ts), bool(d.get("flatten"))


class CoreFailed(ValueError):
    """The core raised handling a journal's event in a replay (``agent.audit --replay``, calibration's fit): the
    run's own core failed on it (a live run stops there, pulling its orders: its log ends "core error"), or a value
    the venue never sent was written into the journal. Said, naming the event and the error, where it was the
    core's traceback; the replay cannot go on past it (the core's state is half-way through the event)."""

    def __init__(self, event, error: Exception) -> None:
        super().__init__(f"the core failed on this {type(event).__name__} ({type(error).__name__}: {error}"
                         f"{_raised_at(error)}): the run stopped there if it was live (its log's end: core error); a "
                         f"replay cannot go past it")


def _raised_at(error: BaseException) -> str:
    """``, raised at agent/x.py:N in f``: the traceback's last frame in the project's code (a library's, numpy's, says
    less), the evidence its one line keeps of where the core failed."""
    import traceback

    root = Path(__file__).resolve().parents[2]
    frames = [(Path(f.filename), f) for f in traceback.extract_tb(error.__traceback__)]
    ours = [(p, f) for p, f in frames if p.is_relative_to(root) and "site-packages" not in p.parts]  # (a venv in it)
    if not frames:
        return ""
    path, frame = (ours or frames)[-1]
    return f", raised at {path.relative_to(root) if ours else path}:{frame.lineno} in {frame.name}"


def handled(core, event) -> list:
    """``core.handle(event)`` in a replay of a journal: CoreFailed for an exception the core raises."""
    try:
        return core.handle(event)
    except Exception as e:
        raise CoreFailed(event, e) from e


def _damaged(where: str) -> ValueError:
    return ValueError(f"{where}: not a whole JSON line, and not the last of its run (a crash mid-write cuts only a "
                      f"run's last line: the journal's last, or the one before a restart's start record; this is a "
                      f"disk's or a copy's error): the journal is damaged, and "
                      f"without the events lost a replay or a fit is another run")
