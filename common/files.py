"""Errors for the project's validated files (agent configs, twin parameters, scenarios), in one format:
the file, then a line per problem with the field's path, what is wrong and the value given, so every
file's errors read alike and name what to fix; and a file that cannot be read at all, named with the
command-line option that gave it."""
from __future__ import annotations

import argparse
import functools
import json
import os
import re
import stat
import tempfile
from pathlib import Path
from collections.abc import Callable, Mapping
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from common.stop_signals import removed_if_stopped_at_once


def describe_invalid(path: str | Path, what: str, error: ValidationError, heading: str | None = None) -> str:
    """``FILE: invalid WHAT:`` and, per problem, ``  field.path: message (got value)`` (a missing field has
    no value of its own: pydantic's input there is the whole enclosing mapping, which says nothing). A check
    across fields (a model validator of the file's top level) names its fields and values itself: its line is
    its message alone, without pydantic's "Value error, " and the whole file's mapping shown as the value.
    ``heading``: the first line's words in place of ``invalid WHAT``, for a file that is not of the format at all."""
    lines = [f"{path}: {heading or f'invalid {what}'}:"]
    for err in error.errors():
        loc = field_path(err["loc"])
        if not loc and err["type"] == "value_error" and isinstance(err.get("input"), dict):
            lines.append(f"  (top level): {error_message(err.get('ctx', {}).get('error', err['msg']))}")
            continue
        got = "" if err["type"] == "missing" else f" ({given(err.get('input'))})"
        lines.append(f"  {loc or '(top level)'}: {error_message(err['msg'])}{got}")
    return "\n".join(lines)


def given(value: Any) -> str:
    """``got VALUE`` as a file error shows a field's value, and why where it is a text where only a number goes (a
    number given quoted: pydantic's message alone, "Input should be a valid number", read as a typo's)."""
    if isinstance(value, _Text):
        return f"got {short_repr(value)}: text, not a number: write a number, unquoted"
    return f"got {short_repr(value)}"


def field_path(loc: tuple) -> str:
    """pydantic's ``loc`` as ``a.b.0.c``. A part may be a mapping's key as YAML read it: an unquoted ``0x`` and 64
    hex digits is an integer (pydantic gives it as its decimal text), shown as ``short_repr`` shows such a value,
    without its digits; the path showed the private key in decimal (``session.3559...: Keys should be strings``)."""
    return ".".join(_path_part(x) for x in loc)


def _path_part(part) -> str:
    if isinstance(part, str) and len(part) <= 80 and _DECIMAL.fullmatch(part) and \
            _KEY_SIZED_INT[0] <= abs(int(part)) < _KEY_SIZED_INT[1]:  # (a key-sized integer's decimal text; any
        return INT_KEY_HIDDEN  # other name as written: '007' was shown as 7)
    return short_repr(part) if type(part) is int else str(part)


_DECIMAL = re.compile(r"-?[0-9]+")


def error_message(msg) -> str:
    """pydantic's message with every integer of a key's size in it not shown (as ``short_repr`` shows one): a
    discriminator's message quotes the tag it could not match (``Input tag '9953...' found using 'kind'``), and an
    unquoted ``0x`` key given as a chaos event's ``kind`` or an invariant's ``name`` is a tag YAML read as a number."""
    return _KEY_SIZED_DECIMAL.sub(lambda m: short_repr(int(m.group())), str(msg))


# a run of decimal digits as long as a key-sized integer's (39 to 78 digits), not inside a longer one
_KEY_SIZED_DECIMAL = re.compile(r"(?<![0-9])[0-9]{39,78}(?![0-9])")


MAX_TEXT_BYTES = 16 * 1024 * 1024  # a config, params or scenario file is kilobytes; past this it is another file


def read_text(path: str | Path) -> str:
    """A user's text file, as UTF-8; one that is not raises ValueError naming it (Python's own error names no
    file, and a config, params or scenario file given in another encoding is a user's slip). Read up to
    ``MAX_TEXT_BYTES`` and refused past it: a device that never ends (``--config /dev/zero``) or a run's log given
    by mistake was read whole, and ended in a MemoryError traceback after taking every byte of the machine's memory."""
    p = Path(path)
    with p.open("rb") as f:
        data = f.read(MAX_TEXT_BYTES + 1)
    if len(data) > MAX_TEXT_BYTES:
        raise ValueError(f"{p}: larger than {MAX_TEXT_BYTES // (1024 * 1024)} MB: not a config, parameters or "
                         f"scenario file")
    # a byte order mark skipped: Notepad's "UTF-8 with BOM" and PowerShell 5's utf8 write one, which YAML skips and
    # JSON refused ("Invalid JSON: expected value at line 1 column 1", for a --params file)
    bom = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{p}: not UTF-8 text ({e.reason} at byte {bom + e.start})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")  # the newlines as text mode reads them


_FILE_KINDS = ((stat.S_ISFIFO, "a FIFO (a named pipe)"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def not_a_regular_file(path: str | Path) -> str | None:
    """What ``path`` is when it is not a regular file (a FIFO, a device, a socket, a folder; through a symlink too),
    or None: a regular file, or nothing there (the caller's open names that). Told from ``stat``, without opening
    it: opening a FIFO waits for a writer, and reading one, or ``/dev/zero``, never ends, so a reader that streams
    a file to its end (a run's journal) was stuck for good with nothing said."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _FILE_KINDS if test(mode)), "not a regular file")


def irregular_file_error(files: list[Path], what: str) -> str | None:
    """The error for the first of ``files`` (a log's, read to their end) that is not a regular file, naming it, what
    it is and ``what`` it should be (``"a decision log"``); None when each is one. A reader streaming a FIFO or
    ``/dev/zero`` to its end never got there, stuck with nothing said."""
    for f in files:
        kind = not_a_regular_file(f)
        if kind is not None:
            return f"{f}: {kind}, not a regular file: {what} is one"
    return None


def missing_extra(error: ImportError | str, extra: str) -> str:
    """A command whose optional dependencies are not installed: what is missing and the pip extra that installs
    it (``pyproject.toml``'s optional-dependencies), not an import traceback."""
    return f"{error}: install the {extra} extra (python -m pip install -e \".[{extra}]\")"


def lacks_matplotlib(what: str) -> str | None:
    """None when matplotlib can be imported; else the error for a command whose output ``what`` needs it, to
    print before any work (found at the end, it cost the whole run the command had made)."""
    import importlib.util
    if importlib.util.find_spec("matplotlib") is not None:
        return None
    return missing_extra(f"{what} needs matplotlib", "report")


def unreadable(option: str, error: OSError) -> str:
    """A file given on the command line that cannot be read: ``--config FILE: No such file or directory``
    (the option, the file, what the system said), not Python's ``[Errno 2] ...`` repr."""
    return f"{option} {error.filename}: {error.strerror or error}" if error.filename else f"{option}: {error}"


def make_output_folder(folder: str | Path, option: str = "--out", given: str | None = None,
                       made: list[Path] | None = None) -> Path:
    """Create the output folder a command-line option names, now, before any work, and check that a file
    can be written in it: a run must not compute for an hour and then fail to save. ValueError
    ``--out X: what the system said`` (X as given; ``given`` when the option named a file in the folder).
    An empty value is refused: it would otherwise mean "no folder" or the current one, silently.

    The folders it creates (the folder and those above it that were not there), the deepest first, are added to
    ``made``: a tool stopped before its work wrote anything removes them (``stop_signals.remove_made_folders``). A stop while
    the command line still ends at once (``stop_signals.exit_at_once``, before ``begun``) removes them itself."""
    shown = given if given is not None else str(folder)
    if str(folder) == "" or shown == "":
        raise ValueError(f"{option}: an empty path")
    p = Path(folder)
    made = [] if made is None else made
    try:  # (the checks too: a name too long, or a folder on the way not searchable, raise from them)
        if p.exists() and not p.is_dir():
            raise ValueError(f"{option} {shown}: " + ("" if given is None else f"{p} ") + "exists and is not a folder")
        # (os.path.exists: False where the system refuses to look, which mkdir then names)
        made.extend(f for f in (p, *p.parents) if not f.exists())
        removed_if_stopped_at_once(made)
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=p):
            pass
    except OSError as e:
        raise ValueError(f"{option} {shown}: {e.strerror or e}") from None
    return p


# 64 hex digits, 0x or not, not inside a longer run of them: a private key's form (an address has 40, a cloid 32)
_KEY_SHAPED = re.compile(r"(?<![0-9a-fA-F])(?:0[xX])?[0-9a-fA-F]{64}(?![0-9a-fA-F])")
KEY_HIDDEN = "<64 hex digits, a private key's form: not shown>"
# An integer of 129 to 256 bits: what YAML reads an unquoted ``0x`` and 64 hex digits as (a key pasted into a config
# without quotes), which an error's ``(got ...)`` then showed in decimal, the key all the same
_KEY_SIZED_INT = (1 << 128, 1 << 256)
INT_KEY_HIDDEN = "<a number of a private key's size: not shown>"


def hide_keys(text: str) -> str:
    """``text`` with every run of 64 hex digits (a private key's form) replaced by ``KEY_HIDDEN``. An error echoes
    the value it refuses, and an operator's slip puts a key where another value goes (a config's
    ``private_key:`` field, pydantic's ``Extra inputs are not permitted (got '0x...')``; a key pasted as
    ``--base-url``): the error printed it to the terminal, from there to scrollback and CI logs."""
    return _KEY_SHAPED.sub(KEY_HIDDEN, text)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors hide a private key's form (``hide_keys``): argparse echoes the value
    it refuses (``invalid int value: '0x...'``, an option's own ``ArgumentTypeError``). Subparsers made from it are
    of this class too (argparse makes them of the parent's). A value that starts with a minus and a digit is a
    value, never an option (none is named so): argparse takes only ``-5`` and ``-5.0`` so, and ``--duration -5m``
    was refused as ``expected one argument``, naming neither the value nor what is wrong with it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-\.?\d")  # (argparse's own: ^-\d+$|^-\d*\.\d+$)
        self.register("action", None, _StoreOnce)
        self.register("action", "store", _StoreOnce)
        self._given: dict[str, bool] = {}

    def parse_known_args(self, args=None, namespace=None):
        self._given = {}  # (each parse afresh: a test's, a subcommand's)
        return super().parse_known_args(args, namespace)

    def error(self, message: str):
        super().error(hide_keys(message))


class _StoreOnce(argparse._StoreAction):
    """argparse's store, but an option given twice is an error: argparse kept the last, the first dropped without a
    word, so ``--config live-first-run.yaml --config fees.yaml`` (read as layers) ran on the second file alone, its
    first's ceiling and demotion rules gone; a key given twice in one YAML mapping is refused alike. Flags and
    ``append`` options (``--fund``) are other actions, repeatable as before. The values are not echoed: the
    user has them on the command line, and one may be a secret (a password in a URL, refused later as one)."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = getattr(parser, "_given", None)
        if option_string is not None and given is not None:
            if self.dest in given:  # (the values not shown: a URL's password, a key pasted in, would be)
                parser.error(f"{option_string} given twice: only the last would count; give it once")
            given[self.dest] = True
        super().__call__(parser, namespace, values, option_string)


def short_repr(value, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters: a whole file's text given as the value stays one line. Built piece
    by piece and stopped past the limit: a YAML file's aliases can make a value of billions of elements out of a
    few lines (a "billion laughs"), whose whole ``repr`` would hang the error that shows it. A private key's form
    in it is not shown (``hide_keys``), nor an integer of a key's size (an unquoted ``0x`` key YAML read as a number):
    every file error and option error shows its value through here."""
    pieces: list[str] = []
    size = 0
    for piece in _repr_pieces(value):
        pieces.append(piece)
        size += len(piece)
        if size > limit:
            break
    r = hide_keys("".join(pieces))  # (before the cut: a key cut short by it is no longer a key's form, yet most of one)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _repr_pieces(value):
    """``repr(value)`` in pieces, lists, tuples and mappings (of any depth) opened lazily."""
    kind = type(value)
    if kind is not list and kind is not tuple and kind is not dict:
        yield INT_KEY_HIDDEN if kind is int and _KEY_SIZED_INT[0] <= abs(value) < _KEY_SIZED_INT[1] else _repr(value)
        return
    yield {list: "[", tuple: "(", dict: "{"}[kind]
    for i, item in enumerate(value.items() if kind is dict else value):
        if i:
            yield ", "
        if kind is dict:
            yield from _repr_pieces(item[0])
            yield ": "
            item = item[1]
        yield from _repr_pieces(item)
    if kind is tuple and len(value) == 1:
        yield ","
    yield {list: "]", tuple: ")", dict: "}"}[kind]


def _repr(value) -> str:
    """``repr(value)``, or what an integer is when it has too many digits for Python to write (past 4,300: YAML reads
    ``0x`` and 3,600 hex digits as one, which it reads at any length): its ValueError took the place of the error
    that showed it, a traceback out of ``scenarios check``, a bare line naming no file out of ``python -m agent``."""
    try:
        return repr(value)
    except ValueError:
        if type(value) is not int:
            raise
        return f"<an integer of {value.bit_length():,} bits: too long to show>"


class _YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but an integer too long for Python to read (past 4,300 digits) is a YAML error at
    its line, not a bare ValueError naming no file."""

    def construct_yaml_int(self, node):
        try:
            return super().construct_yaml_int(node)
        except ValueError:
            raise yaml.constructor.ConstructorError(None, None, f"an integer of {len(node.value):,} characters, "
                                                    f"too long to read", node.start_mark) from None

    def construct_mapping(self, node, deep=False):
        """A key given twice in one mapping is a YAML error at the second, naming the first's line: PyYAML kept
        the last silently, so a second ``risk:`` block pasted below the first replaced it whole (its
        ``max_position`` back to the default) with nothing said. Keys a merge (``<<: *base``) brings in may be
        given again: that is what a merge is for."""
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # (unhashable: the mapping's own construction says so)
                    continue
                if first is not key_node:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"found the key {short_repr(key)} a second time (first at line {first.start_mark.line + 1}): "
                        f"only one would count", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


_YamlLoader.add_constructor("tag:yaml.org,2002:int", _YamlLoader.construct_yaml_int)
# a number with an exponent and no point, or no sign in its exponent (1e-3, 2.5e3): YAML 1.2's float, which PyYAML
# (YAML 1.1) reads as text. It is read as the number it is written as: a number given as text (quoted) is refused
# where a number goes (FileModel), and an unquoted 1e-3 is no such text
_YamlLoader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(
    r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"), list("-+0123456789."))


def load_yaml(text: str, name: str | Path | None = None) -> Any:
    """``yaml.safe_load(text)``; every problem with the text is a ``yaml.YAMLError`` (which names its line, and
    the file as ``name``: without it PyYAML says ``in "<unicode string>"``, a name of no file the user has)."""
    try:
        data = yaml.load(text, Loader=_YamlLoader)
    except yaml.MarkedYAMLError as e:  # (parsed from the text, not a stream: the marks keep their snippet)
        for mark in (e.context_mark, e.problem_mark):
            if mark is not None and isinstance(getattr(mark, "buffer", None), str):
                # its snippet quotes the line cut some 36 characters either side of the mark: a key's form on it,
                # cut short, is no longer one for hide_keys, yet half a key; masked, each character kept in place
                mark.buffer = _KEY_SHAPED.sub(lambda m: "*" * len(m.group()), mark.buffer)
            if name is not None and mark is not None:
                mark.name = str(name)
        raise
    except RecursionError:  # (PyYAML's composer and constructor recurse per level: it was a traceback, exit 1)
        raise yaml.YAMLError("nested too deeply to be read (hundreds of levels, past Python's recursion limit): "
                             "no config, scenario or chaos list nests more than a few") from None
    _check_depth(data)
    return data


MAX_YAML_DEPTH = 100  # levels of mappings and lists, the top one counted: no config or scenario nests more than a few


def _check_depth(data: Any) -> None:
    """YAMLError for data nested more than MAX_YAML_DEPTH levels, or holding itself. A text nested hundreds deep is
    PyYAML's RecursionError, but aliases nest without the text doing so (``x2: &x2 [*x1]``, a line a level): read,
    it was walked by the checks after (a config's) into a RecursionError traceback. Each distinct mapping or list is
    looked at once, so a "billion laughs" (ten lists shared ten times a level) costs what its text does."""
    below: dict[int, int] = {}  # id of a container done → the levels from it down
    on_path: set[int] = set()  # the containers being walked, from the top
    stack: list[tuple[Any, bool]] = [(data, False)] if isinstance(data, (dict, list)) else []
    while stack:
        node, done = stack.pop()
        kids = [v for v in (node.values() if isinstance(node, dict) else node) if isinstance(v, (dict, list))]
        if done:
            on_path.discard(id(node))
            below[id(node)] = 1 + max((below[id(k)] for k in kids), default=0)
            if below[id(node)] > MAX_YAML_DEPTH:
                raise yaml.YAMLError(f"nested more than {MAX_YAML_DEPTH} levels (aliases count the levels they "
                                     f"bring): no config, scenario or chaos list nests more than a few")
            continue
        if id(node) in below:
            continue
        if id(node) in on_path:
            raise yaml.YAMLError("a mapping or list that holds itself (an alias inside the node it names): no "
                                 "config, scenario or chaos list does")
        on_path.add(id(node))
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in below)


def json_key_given_twice(text: str) -> str | None:
    """The first key given twice in one JSON object of ``text`` (``json`` and pydantic keep the last silently: a
    second ``"feed": {...}`` replaced the first whole, its settings back to the defaults, nothing said), or None;
    None too for text that is not JSON (its parser's own error says where)."""
    twice: list[str] = []

    def pairs(items: list) -> dict:
        seen: set = set()
        for key, _ in items:
            if key in seen and not twice:
                twice.append(key)
            seen.add(key)
        return dict(items)

    try:
        json.loads(text, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return None
    return twice[0] if twice else None


class _Boolean:
    """A YAML/JSON ``true`` or ``false`` where a number or a name is expected: no validator takes it, so the
    error lands on the field itself and shows the value as it was written."""
    __slots__ = ("value",)

    def __init__(self, value: bool):
        self.value = value

    def __repr__(self) -> str:
        return "true" if self.value else "false"


def _may_be_bool(t: Any) -> bool:
    """Whether a boolean is a legitimate value somewhere in the type ``t`` (a nested model decides for its
    own fields, so it counts as yes here; so does an untyped container)."""
    if t is bool or t is Any or t in (dict, list, tuple, set, object):
        return True
    if isinstance(t, type) and issubclass(t, BaseModel):
        return True
    origin = get_origin(t)
    if origin is Literal:
        return any(isinstance(a, bool) for a in get_args(t))
    if origin is Annotated:
        return _may_be_bool(get_args(t)[0])
    return any(_may_be_bool(a) for a in get_args(t))


def _refuses_bool(t: Any) -> bool:
    return not _may_be_bool(t)


def _marked(v: Any, kind: type, mark: Callable[[Any], Any]) -> Any:
    """``v`` with each ``kind`` value in it (itself, or in its lists, tuples and mappings' values) made ``mark``'s
    stand-in, which no validator takes."""
    if isinstance(v, kind):
        return mark(v)
    if isinstance(v, list | tuple):
        return [_marked(x, kind, mark) for x in v]
    if isinstance(v, dict):
        return {k: _marked(x, kind, mark) for k, x in v.items()}
    return v


@functools.cache
def _fields_where(model: type[BaseModel], test: Callable[[Any], bool]) -> frozenset[str]:
    """The names and aliases of ``model``'s fields whose type passes ``test``."""
    fields = model.model_fields
    return frozenset(n for n, f in fields.items() if test(f.annotation)) | frozenset(
        f.alias for f in fields.values() if f.alias and test(f.annotation))


def over_shipped(shipped: Mapping[str, Any], given: Any) -> Any:
    """A section whose shipped default sets keys its class leaves otherwise (``Field(default_factory=lambda:
    Model(key=...))``), as a file gives it: the file's keys laid over the shipped ones. Without this (in a
    ``field_validator(mode="before")`` of the section) a file naming one key of the section got the class's
    defaults for all the others, silently: ``validation: {scorecard: {min_outcomes: 50}}`` dropped the shipped
    5 s prediction spacing and 0.1/0.02 IR thresholds for the class's 0 and 0.5/0.3. A model given as one (from
    code) is taken as it is."""
    return {**shipped, **given} if isinstance(given, Mapping) else given


class _Text:
    """A text (a YAML value quoted, a JSON string) where only a number goes: pydantic's lax mode read ``"1"`` as 1
    and ``"1e-3"`` as 0.001, so a value the file gives as text passed for a number, and ``"0,5"`` was an error
    that did not say why. No validator takes it: the error lands on the field, showing the text as given."""
    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return repr(self.value)


def _number_only(t: Any) -> bool:
    """Whether ``t`` holds numbers and nothing else a text could be (int, float, either bounded, optional, or a
    list, tuple or mapping's values of them); a level (an IntEnum, which YAML may name) is not ``int`` here."""
    if t is int or t is float:
        return True
    origin = get_origin(t)
    args = [a for a in get_args(t) if a is not type(None) and a is not Ellipsis]
    if origin is Annotated:
        return _number_only(args[0])
    if origin is dict:
        return len(args) == 2 and _number_only(args[1])
    if origin in (list, tuple, set, frozenset) or isinstance(t, UnionType) or origin is Union:
        return bool(args) and all(_number_only(a) for a in args)
    return False


class FileModel(BaseModel):
    """The base of every model read from a user's file (agent configs, twin parameters, scenarios). Numbers
    must be finite (a YAML ``.inf`` or ``.nan`` is refused: ``max_position: .inf`` would disable the limit,
    and JSON has no such number, so the run's saved config would not load back), and ``true``/``false``
    are refused where a number or a level goes (Python takes ``true`` for 1: ``start_level: true`` would be
    MICRO_LIVE), and a text where only a number goes (``cycle_s: "1"``: in YAML and JSON a quoted value is text,
    which pydantic's lax mode read as the number; ``"0,5"`` was refused without saying why). Strict mode would
    refuse these too, but also a level given by name and an int for a float, so they are singled out instead
    (``load_yaml`` reads an unquoted ``1e-3`` as the number, where PyYAML read text)."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_number(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        refuse = _fields_where(cls, _refuses_bool)
        text = _fields_where(cls, _number_only)
        return {k: _marked(_marked(v, bool, _Boolean), str, _Text) if k in text
                else _marked(v, bool, _Boolean) if k in refuse else v for k, v in data.items()}
