"""The decorator of the twin's messages and the agent's gateway events: frozen slotted dataclasses, cheap to build.

Both are made per message on hot paths; it lives here, beside neither, because the agent's core and live gateway
load without the twin (tests/agent/test_layering.py) and the twin never imports the agent.
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import dataclass_transform


@dataclass_transform(frozen_default=True)
def message(cls):
    """A message (the twin's; the gateway's events): ``@dataclass(frozen=True, slots=True)``, with an ``__init__``
    that stores each field through its slot's own setter. The one dataclasses writes for a frozen class calls
    ``object.__setattr__`` per field (to get past the class's refusing ``__setattr__``), some three times as slow,
    and the twin builds several messages for every order it places, cancels or modifies (and a driver an event for
    every push). The same signature and defaults; the class is otherwise the dataclass it was: frozen (assigning a
    field still raises), compared, hashed and printed by its fields."""
    cls = dataclass(frozen=True, slots=True)(cls)
    ns: dict[str, object] = {}
    params, lines = [], []
    for f in fields(cls):
        if f.default_factory is not MISSING or f.kw_only is True or not f.init:
            raise TypeError(f"@message {cls.__name__}.{f.name}: plain fields only (a value or a default)")
        ns[f"_set_{f.name}"] = cls.__dict__[f.name].__set__  # (the slot's member descriptor)
        if f.default is not MISSING:
            ns[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        else:
            params.append(f.name)
        lines.append(f"    _set_{f.name}(self, {f.name})\n")
    body = "".join(lines) or "    pass\n"
    exec(f"def __init__(self, {', '.join(params)}):\n{body}", ns)
    init = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = cls.__init__.__annotations__  # (the signature, as inspect shows it, is the dataclass's)
    cls.__init__ = init
    return cls
