"""The twin's messages (@message): frozen slots dataclasses whose __init__ stores through the slots, and otherwise
the dataclass each was."""
from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle

import pytest
from hypothesis import given, settings, strategies as st

from agent.gateway import events
from twin import messages
from twin.messages import NoopAction, OrderSpec, TradePush


def test_a_message_takes_its_fields_and_defaults_as_the_dataclass_did():
    spec = OrderSpec("BTC", True, 100.0, 0.01, cloid="0x1")
    assert (spec.coin, spec.is_buy, spec.px, spec.sz, spec.reduce_only, spec.tif, spec.cloid) == \
        ("BTC", True, 100.0, 0.01, False, "Alo", "0x1")
    assert str(inspect.signature(OrderSpec)) == \
        "(coin: 'str', is_buy: 'bool', px: 'float', sz: 'float', reduce_only: 'bool' = False, tif: 'str' = 'Alo', " \
        "cloid: 'str | None' = None) -> None"
    assert TradePush("BTC", "B", 1.0, 2.0, 3, 4, 5).users is None
    assert repr(NoopAction()) == "NoopAction()"
    with pytest.raises(TypeError):
        OrderSpec("BTC", True, 100.0)  # a field with no default is still required


def test_a_message_stays_frozen_compared_hashed_replaced_and_pickled_by_its_fields():
    spec = OrderSpec("BTC", True, 100.0, 0.01)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.px = 101.0
    assert spec == OrderSpec("BTC", True, 100.0, 0.01) and hash(spec) == hash(OrderSpec("BTC", True, 100.0, 0.01))
    assert spec != OrderSpec("BTC", True, 100.0, 0.02)
    assert dataclasses.replace(spec, tif="Gtc") == OrderSpec("BTC", True, 100.0, 0.01, tif="Gtc")
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert not hasattr(spec, "__dict__")  # slots


def _message_classes() -> list[type]:
    """Every @message class: the twin's messages and the gateway's events (built by the same decorator)."""
    return [c for mod in (messages, events) for c in vars(mod).values()
            if isinstance(c, type) and c.__module__ == mod.__name__ and dataclasses.is_dataclass(c)
            and "__new__" in vars(c)]


def test_every_message_and_event_class_is_built_so():
    made = _message_classes()
    assert {c.__module__ for c in made} == {"twin.messages", "agent.gateway.events"}
    assert len(made) >= 50 and all(c.__new__.__qualname__ == f"{c.__qualname__}.__new__" and
                                   c.__init__ is object.__init__ for c in made)


@pytest.mark.parametrize("cls", _message_classes(), ids=lambda c: c.__name__)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_a_message_is_the_dataclass_its_fields_make(cls, data):
    """Each message, built from any values, against the frozen slots dataclass of the same fields made afresh (its
    own __init__, object.__setattr__ a field): the same values in the same fields, compared, hashed, printed,
    replaced, copied and pickled alike, and still frozen; a ``__new__`` that stored a field in another's slot, lost
    a default, or left the plain class on the object would differ."""
    specs = dataclasses.fields(cls)
    plain = dataclasses.make_dataclass(cls.__name__, [
        (f.name, f.type, dataclasses.field(default=f.default, repr=f.repr, hash=f.hash, compare=f.compare))
        for f in specs], frozen=True, slots=True)
    values = [data.draw(_VALUES) for _ in specs]
    given_n = data.draw(st.integers(min_value=sum(f.default is dataclasses.MISSING for f in specs),
                                    max_value=len(specs)))
    made, ref = cls(*values[:given_n]), plain(*values[:given_n])
    assert type(made) is cls and not hasattr(made, "__dict__")
    assert [getattr(made, f.name) for f in specs] == [getattr(ref, f.name) for f in specs]
    assert repr(made) == repr(ref)
    assert made == cls(*values[:given_n]) and hash(made) == hash(cls(*values[:given_n]))
    assert hash(made) == hash(ref)  # (a dataclass hashes the tuple of its fields)
    assert made == copy.copy(made) == copy.deepcopy(made) == pickle.loads(pickle.dumps(made))
    assert type(pickle.loads(pickle.dumps(made))) is cls
    if specs:
        assert made != dataclasses.replace(made, **{specs[0].name: ("other", values[0])})
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(made, specs[-1].name, 1)
        by_name = cls(**{f.name: v for f, v in zip(specs, values)})
        assert [getattr(by_name, f.name) for f in specs] == values
        assert cls.make(**{f.name: v for f, v in zip(specs, values)}) == by_name
    assert str(inspect.signature(cls)) == str(inspect.signature(plain))
    # its ``make``, the hot paths' way to build one without the class call: the very message the class makes
    by_make = cls.make(*values[:given_n])
    assert type(by_make) is cls and not hasattr(by_make, "__dict__")
    assert by_make == made and repr(by_make) == repr(made) and hash(by_make) == hash(made)
    assert [getattr(by_make, f.name) for f in specs] == [getattr(made, f.name) for f in specs]
    assert str(inspect.signature(cls.make)) == str(inspect.signature(plain))
    if specs:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(by_make, specs[-1].name, 1)


# hashable values of several kinds (a message is hashed by its fields)
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5),
                    st.tuples(st.integers(), st.text(max_size=3)))
