"""Errors for the project's validated files (agent configs, twin parameters, scenarios), in one format:
the file, then a line per problem with the field's path, what is wrong and the value given, so every
file's errors read alike and name what to fix; and a file that cannot be read at all, named with the
command-line option that gave it."""
from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError


def describe_invalid(path: str | Path, what: str, error: ValidationError) -> str:
    """``FILE: invalid WHAT:`` and, per problem, ``  field.path: message (got value)`` (a missing field has
    no value of its own: pydantic's input there is the whole enclosing mapping, which says nothing)."""
    lines = [f"{path}: invalid {what}:"]
    for err in error.errors():
        loc = ".".join(str(x) for x in err["loc"])
        got = "" if err["type"] == "missing" else f" (got {short_repr(err.get('input'))})"
        lines.append(f"  {loc or '(top level)'}: {err['msg']}{got}")
    return "\n".join(lines)


def unreadable(option: str, error: OSError) -> str:
    """A file given on the command line that cannot be read: ``--config FILE: No such file or directory``
    (the option, the file, what the system said), not Python's ``[Errno 2] ...`` repr."""
    return f"{option} {error.filename}: {error.strerror or error}" if error.filename else f"{option}: {error}"


def short_repr(value, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters: a whole file's text given as the value stays one line."""
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 3] + "..."
