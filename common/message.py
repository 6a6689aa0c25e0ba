"""The decorator of the twin's messages and the agent's gateway events: frozen slotted dataclasses, cheap to build.

Both are made per message on hot paths; it lives here, beside neither, because the agent's core and live gateway
load without the twin (tests/agent/test_layering.py) and the twin never imports the agent.
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import dataclass_transform

MESSAGE_CODE_PREFIX = "<common.message:"
"""How the file name of every message's made ``__new__`` starts (``<common.message:OrderAck>``)."""


@dataclass_transform(frozen_default=True)
def message(cls):
    """A message (the twin's; the gateway's events): ``@dataclass(frozen=True, slots=True)``, made by a ``__new__`` that
    fills a plain object of the same slots and then gives it the message's class (Python checks that the two layouts are
    the same). A frozen class's stores all go through its refusing ``__setattr__``: the dataclass's ``__init__`` gets
    past it with an ``object.__setattr__`` a field, and the ``__init__`` this made until 5 December through each slot's
    own setter, still a call a field (some 45 ns), where a store on the plain object is the interpreter's cheapest;
    filling and re-classing costs some 10 ns more a message than calling an ``__init__`` (timeit, 3.11: a message of one
    field 133 -> 145 ns, two 173 -> 163, four 255 -> 170, ten 500 -> 233). The twin builds several messages for every
    order it places, cancels or modifies and one for every push, the gateways an event for each.

    ``cls.make``, a plain function of the same signature, builds the same message without the class call, for the
    hot paths: ``cls(...)`` goes through ``type.__call__``, which looks ``__new__`` up, calls it from C with the class
    put before the arguments, and then checks them again for ``object.__init__``, some 850 of the 2,760 machine
    instructions a message of two fields costs (cachegrind, 3.11; 1,150 of 4,030 for ten), where ``make`` is a Python
    call the interpreter makes without leaving its loop. Bound to a module's name (``_new_bbo_push = BboPush.make``),
    read as one global.

    The same signature and defaults; the class is otherwise the dataclass it was: frozen (assigning a field still
    raises), compared, hashed, printed and replaced by its fields, pickled and copied (as ``cls(*fields)``: the
    default calls ``cls.__new__(cls)`` with no fields, which its ``__new__`` refuses). Not for subclassing (a
    subclass's layout differs: building one raises TypeError)."""
    cls = dataclass(frozen=True, slots=True)(cls)
    ns: dict[str, object] = {"_Plain": type(f"_{cls.__name__}Plain", (), {"__slots__": cls.__slots__})}
    params, lines = [], []
    for f in fields(cls):
        if f.default_factory is not MISSING or f.kw_only is True or not f.init:
            raise TypeError(f"@message {cls.__name__}.{f.name}: plain fields only (a value or a default)")
        if f.default is not MISSING:
            ns[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        else:
            params.append(f.name)
        lines.append(f"    self.{f.name} = {f.name}\n")
    # (compiled under a name of its own, not exec's "<string>": a tracer that picks frames by their file, as
    # bench_bytecodes --twin does, can tell a message's construction from other made code, and a traceback names it)
    ns["_cls"] = cls
    body = f"    self = _Plain()\n{''.join(lines)}    self.__class__ = {{}}\n    return self\n"
    src = f"def __new__(cls, {', '.join(params)}):\n{body.format('cls')}def make({', '.join(params)}):\n" \
          f"{body.format('_cls')}"
    exec(compile(src, f"{MESSAGE_CODE_PREFIX}{cls.__qualname__}>", "exec"), ns)
    for name in ("__new__", "make"):
        made = ns[name]
        made.__qualname__ = f"{cls.__qualname__}.{name}"
        made.__module__ = cls.__module__
        made.__annotations__ = cls.__init__.__annotations__  # (the signature, as inspect shows it, is the dataclass's)
        setattr(cls, name, staticmethod(made))
    del cls.__init__  # (object's then: it takes the arguments __new__ took, and does nothing)
    cls.__reduce__ = _reduce
    return cls


def _reduce(msg) -> tuple:
    """A message pickled and copied as its class called with its fields' values."""
    return type(msg), tuple([getattr(msg, f.name) for f in fields(msg)])
