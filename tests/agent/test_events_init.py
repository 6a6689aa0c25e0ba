"""The gateway's events are made as the twin's messages are (``common.message``: a __new__ that fills a plain object
of the same slots, then gives it the event's class): every event class must take its fields and defaults as the
dataclass's own __init__ does, and stay the frozen dataclass it was."""
from __future__ import annotations

import dataclasses
import pickle
import typing

import pytest

from agent.gateway import events
from agent.gateway.events import AccountChangedByVenue, BookUpdated, Event, OpenOrder, Timer

EVENT_CLASSES = typing.get_args(Event) + (OpenOrder,)  # (a snapshot's orders: made per order listed)


def _dataclass_twin(cls):
    """The class as plain @dataclass(frozen=True, slots=True) makes it, with its fields: the reference __init__."""
    fields = [(f.name, f.type, dataclasses.field(default=f.default, compare=f.compare))
              if f.default is not dataclasses.MISSING else (f.name, f.type) for f in dataclasses.fields(cls)]
    return dataclasses.make_dataclass(f"Plain{cls.__name__}", fields, frozen=True, slots=True)


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=lambda c: c.__name__)
def test_each_event_stores_its_fields_and_defaults_as_the_dataclass_would(cls):
    fields = dataclasses.fields(cls)
    plain = _dataclass_twin(cls)
    values = [object() for _ in fields]  # (a distinct value a field, so that one stored in another's slot shows)
    assert [getattr(cls(*values), f.name) for f in fields] == [getattr(plain(*values), f.name) for f in fields]
    by_name = {f.name: v for f, v in zip(fields, values)}
    assert [getattr(cls(**by_name), f.name) for f in fields] == values
    required = [v for f, v in zip(fields, values) if f.default is dataclasses.MISSING]
    made, ref = cls(*required), plain(*required)
    assert [getattr(made, f.name) for f in fields] == [getattr(ref, f.name) for f in fields]
    assert cls.__new__.__qualname__ == f"{cls.__qualname__}.__new__" and "_Plain" in cls.__new__.__code__.co_names \
        and cls.__init__ is object.__init__  # (built so: the test would pass for the dataclass's own __init__ too)
    if fields:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(made, fields[0].name, 1)
        with pytest.raises(TypeError):
            cls(*required[:-1]) if required else cls(*values, object())


def test_events_compare_hash_replace_and_pickle_by_their_fields():
    book = BookUpdated(1.0, "BTC", ((99.0, 1.0),), ((101.0, 2.0),), 5)
    assert book == BookUpdated(1.0, "BTC", ((99.0, 1.0),), ((101.0, 2.0),), 5) != dataclasses.replace(book, ts=2.0)
    assert dataclasses.replace(book, after_frame_s=0.5).after_frame_s == 0.5 and book.after_frame_s == float("inf")
    assert pickle.loads(pickle.dumps(book)) == book and hash(Timer(3.0)) == hash(Timer(3.0, "cycle"))
    # a field left out of the comparison stays out of it
    assert AccountChangedByVenue(1.0, "liquidation", "a") == AccountChangedByVenue(1.0, "liquidation", "b")
    assert not hasattr(book, "__dict__") and events.Timer(1.0).name == "cycle"
