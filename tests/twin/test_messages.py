"""The twin's messages (@message): frozen slots dataclasses whose __init__ stores through the slots, and otherwise
the dataclass each was."""
from __future__ import annotations

import dataclasses
import inspect
import pickle

import pytest

from twin import messages
from twin.messages import NoopAction, OrderSpec, TradePush


def test_a_message_takes_its_fields_and_defaults_as_the_dataclass_did():
    spec = OrderSpec("BTC", True, 100.0, 0.01, cloid="0x1")
    assert (spec.coin, spec.is_buy, spec.px, spec.sz, spec.reduce_only, spec.tif, spec.cloid) == \
        ("BTC", True, 100.0, 0.01, False, "Alo", "0x1")
    assert str(inspect.signature(OrderSpec)) == \
        "(coin: 'str', is_buy: 'bool', px: 'float', sz: 'float', reduce_only: 'bool' = False, tif: 'str' = 'Alo', " \
        "cloid: 'str | None' = None) -> None"
    assert TradePush("BTC", "B", 1.0, 2.0, 3, 4).users is None
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


def test_every_message_class_is_built_so():
    made = [c for c in vars(messages).values() if isinstance(c, type) and dataclasses.is_dataclass(c)]
    assert made and all(c.__init__.__qualname__ == f"{c.__qualname__}.__init__" and "_set_" in
                        " ".join(c.__init__.__code__.co_names) for c in made if dataclasses.fields(c))
