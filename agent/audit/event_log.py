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
import math
import typing
from functools import lru_cache
from typing import Any, Callable

from agent.audit.records import JsonlWriter
from agent.gateway import events as ev

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
    """The event a dict from ``encode`` describes; ValueError naming what is wrong with it."""
    name = d.get("e")
    cls = EVENT_TYPES.get(name)
    if cls is None:
        raise ValueError(f"unknown event {name!r}")
    return _builder(cls)(d)


@lru_cache(maxsize=None)
def _builder(cls: type) -> Callable[[Any], Any]:
    """A function from the JSON form to ``cls``, made once per class from its type hints."""
    hints = typing.get_type_hints(cls)
    convs = [(f.name, _converter(hints[f.name])) for f in dataclasses.fields(cls)]

    def build(d):
        kw = {}
        for name, conv in convs:
            if name in d:
                kw[name] = conv(d[name]) if conv is not None else d[name]
        return cls(**kw)
    return build


def _converter(tp) -> Callable[[Any], Any] | None:
    """None for what JSON gives back as it was (str, int, float, bool). (No event has an optional or union field
    yet: one added would fail the round-trip test until it is handled here.)"""
    origin = typing.get_origin(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _converter(args[0])
            return (lambda v: tuple(v)) if item is None else (lambda v: tuple(item(x) for x in v))
        items = [_converter(a) for a in args]
        return lambda v: tuple(x if c is None else c(x) for c, x in zip(items, v))
    if tp is tuple:
        return tuple
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp
    if dataclasses.is_dataclass(tp):
        return _builder(tp)
    if tp is float:
        return _float
    return None


def _float(v):
    """A float field's value: a number as JSON gave it back, or the name a non-finite one was written as."""
    return float(v) if type(v) is str else v


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
