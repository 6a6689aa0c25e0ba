"""JSON text every reader accepts: NaN and the infinities as null.

Python's ``json`` writes a float NaN as the bare word ``NaN`` (and ``Infinity``), which is not JSON: jq,
JavaScript's ``JSON.parse`` and most other languages' parsers refuse the whole file. The project's numbers
are NaN where nothing was measured yet (a markout before any fill), which the files document as null."""
from __future__ import annotations

import json
import math
from typing import Any, Callable


def finite(obj: Any) -> Any:
    """``obj`` with every non-finite float (numpy's included) in it replaced by None, dicts and lists and
    tuples walked (tuples become lists, as JSON writes them anyway)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def dumps(obj: Any, default: Callable[[Any], Any] | None = None, **kw) -> str:
    """``json.dumps`` of ``finite(obj)``; what ``default`` makes of an object json cannot write (a numpy
    scalar, say) is made finite too. Anything non-finite left is an error, never the word NaN."""
    conv = None if default is None else (lambda o: finite(default(o)))
    return json.dumps(finite(obj), default=conv, allow_nan=False, **kw)


def loads_object(text: str) -> dict | None:
    """The JSON object ``text`` holds; None for text that is not JSON (json's ValueError, or its RecursionError for
    text nested past its depth limit, which is no ValueError) or JSON of another kind: a log's line, or its first,
    read for its record."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


# why a line is ``too_deep``, as the readers that name it say it
TOO_DEEP = "nested past json's depth limit"


def too_deep(text: str) -> bool:
    """Whether ``json.loads(text)`` fails on its depth (RecursionError, which is no ValueError): a log's or journal's
    line no writer here makes, whole or cut, its records nesting a few levels (a crash's cut is the start of one of
    them): damage, never a crash's cut. For a line that did not parse; it parses it again."""
    try:
        json.loads(text)
    except RecursionError:
        return True
    except ValueError:
        return False
    return False
