"""The one way the command-line programs write a line to stderr: ``error: ...`` lines, notes, warnings and the
"interrupted" lines alike, each with every private key's form hidden (``common.files.hide_keys``); and to stdout
(``print_out``), and the one way they set up ``logging`` (``log_to_stderr``), likewise.

Why one: those lines echo what the user gave (a path, an option's value, a config's field), and an operator's
slip puts a private key there. Each program printed its own lines, most through ``hide_keys`` and some not: a
key was shown by whichever path someone forgot. Here none can forget; ``tests/common/test_key_hiding.py`` fails on
a ``print`` to stderr anywhere else in the project's packages.

A stderr whose reader is gone (a terminal closed, ``2>&1 | head``) drops the line (``say``; the live run's
warnings went through it): the traceback a BrokenPipeError made took the program's exit status.
Stdout and the log are the same terminal, scrollback and CI log: "wrote {png}", "run folder: {out}" echo a path
the user gave, and the live run's log lines the venue's error text, the coin and the URL, none of it through
``hide_keys`` until each went through here.

(The twin never imports the agent, and every program imports the twin's file helpers: the printer lives here.)"""
from __future__ import annotations

import logging
import sys
import time

from common.console import unread
from common.files import hide_keys


def say(text: str, stream) -> None:
    """``text`` on ``stream``, every key's form hidden, or nowhere when no one reads it any more (``| head``, a
    closed pipe, a terminal gone with its ssh session): not an error. A traceback there took a live run's exit
    status (1 for 3: orders may still rest) and the lines after it. The run's summary goes through it to stdout
    (it names the coin the user gave, and its JSON form every value the summary keeps), every note to stderr."""
    try:
        print(hide_keys(text), file=stream, flush=True)
    except (BrokenPipeError, OSError):
        unread(stream)


def print_note(text: str) -> None:
    """``text`` on stderr as it is (a note, a warning, an "interrupted ..." line), every key's form hidden."""
    say(text, sys.stderr)  # (sys.stderr looked up at each call: a test's capture, a tool's redirection)


def print_error(message: str) -> None:
    """``error: message`` on stderr, every key's form hidden; for an error the program goes on after (it
    prints a summary, or a second error), else ``fail``."""
    print_note(f"error: {message}")


def fail(message: str, *, code: int = 2) -> int:
    """``error: message`` on stderr, every key's form hidden; ``code``, the exit status to return (2: the
    command line or a file it names, as argparse's own errors)."""
    print_error(message)
    return code


def print_out(text: str = "", *, end: str = "\n", flush: bool = False) -> None:
    """``text`` on stdout, every key's form hidden: a result, a summary, a line that names a file written. A reader
    gone raises BrokenPipeError as ``print`` does (unlike stderr's lines): the command stops its output there
    (``common.console.drop_output_unread``, or the command's own ``except BrokenPipeError``)."""
    print(hide_keys(str(text)), end=end, flush=flush)  # (sys.stdout looked up at each call, as print does)


class KeyHidingFormatter(logging.Formatter):
    """A log line as ``logging.Formatter`` makes it, its message, arguments and traceback alike, with every key's
    form hidden: applied to the whole formatted line, so that no part of the record (``exc_info``'s text, a
    ``%r`` of the venue's answer) is missed. Its time is UTC, said by a ``Z`` (``2026-12-06 19:50:44.360Z``), as
    every time in the run's records and ``agent.audit``'s are: in the host's local time, without a zone, a line's
    time pasted into ``agent.audit --from`` (a date without a zone is UTC there) was hours off the line's record."""

    converter = time.gmtime
    default_time_format = "%Y-%m-%d %H:%M:%S"
    default_msec_format = "%s.%03dZ"

    def format(self, record: logging.LogRecord) -> str:
        return hide_keys(super().format(record))


def log_to_stderr(level: int, fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s") -> logging.Handler | None:
    """A handler on the root logger writing to stderr through ``KeyHidingFormatter``: the ``logging.basicConfig``
    of the project's commands. Like ``basicConfig``, nothing when the root logger has a handler already (a caller's
    own set-up, or this one's from an earlier call: one line per record); the handler installed, else None."""
    root = logging.getLogger()
    if root.handlers:
        return None
    handler = logging.StreamHandler()  # (sys.stderr as it is now: a test's capture, a tool's redirection)
    handler.setFormatter(KeyHidingFormatter(fmt))
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def log_apart_from_stderr(logger: logging.Logger, level: int, text: str) -> None:
    """``text`` logged at ``level`` from ``logger``, to every handler it reaches but those writing to stderr as it is
    now (``sys.stderr``): for a line the caller prints to stderr itself, which a log there would repeat. A log kept
    apart from stderr (a file, a caller's own handler) still gets it: told only whether some handler wrote to
    stderr, the caller left the line out of every one, and a file logged beside the terminal never had it. None
    at all: nowhere (``logging.lastResort``'s stderr is the print's)."""
    if logger.disabled or not logger.isEnabledFor(level):
        return
    fn, lno, func, _ = logger.findCaller(stacklevel=2)  # (the caller's line, as log.warning would name it)
    record = logger.makeRecord(logger.name, level, fn, lno, "%s", (text,), None, func)
    if not logger.filter(record):
        return
    at: logging.Logger | None = logger
    while at is not None:
        for h in at.handlers:
            if level >= h.level and not (isinstance(h, logging.StreamHandler)
                                         and getattr(h, "stream", None) is sys.stderr):
                h.handle(record)
        at = at.parent if at.propagate else None
