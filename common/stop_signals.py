"""SIGTERM and SIGHUP ended as Ctrl-C: a supervisor's stop (a service manager, ``docker stop``, a closed terminal)
ends a long-running tool as Ctrl-C does, said, instead of killing it with its files half written.

Each tool's ``main`` installs it only as the process's own command line (``argv is None``): a caller in-process (a
test) keeps its handlers, and a test run is not stopped by a signal to pytest. The twin's tools and the agent's use it,
so it is neither's (the twin never imports the agent, and the agent's core and live gateway load without the twin).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class StopSignal(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the work is as Ctrl-C's KeyboardInterrupt is, so that each ``except
    KeyboardInterrupt`` ends the work as Ctrl-C does: by default they killed it as kill -9 does, no message, files
    half written or missing. Its one argument is the signal's number (no ``__init__`` of its own: SimPy raises an
    exception again as ``type(e)(*e.args)``)."""

    @property
    def name(self) -> str:
        """The signal's name, as an end line or a message gives it (``SIGTERM``)."""
        return signal.Signals(self.args[0]).name


# the signals, besides SIGINT, that end a run as Ctrl-C does (Windows has no SIGHUP)
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


@contextmanager
def stop_signals_interrupt(install: bool = True) -> Iterator[list[int]]:
    """SIGTERM and SIGHUP raise StopSignal inside the block; yields the signals caught. Only the first raises: a
    second one, while the work writes its end, would cut that short as the first would have. The handlers in place
    before are put back on leaving, so a caller in-process is left as it was. ``install`` False (a caller
    in-process): nothing is touched, and the list stays empty. A signal ignored when the process started (``nohup``
    ignores SIGHUP) stays ignored: the one who started it asked for that."""
    caught: list[int] = []
    held = _raise_stop_signals(caught) if install else {}
    hook_before = sys.unraisablehook
    if held:
        sys.unraisablehook = _SwallowedStop(caught, hook_before)
    try:
        yield caught
    finally:
        for s, handler in held.items():
            if handler is not None:  # (None: set outside Python, cannot be put back)
                signal.signal(s, handler)
        if held:
            sys.unraisablehook = hook_before


def raise_stop_signals() -> list[int]:
    """SIGTERM and SIGHUP raise StopSignal from now on, as in ``stop_signals_interrupt`` (only the first; a signal
    ignored stays ignored); the signals caught. Nothing is put back: for a command whose work later sets handlers of
    its own and keeps them to the process's exit (the live CLI's run: the event loop's, then the signals ignored
    while its end is written), which putting the ones before back on leaving would undo."""
    caught: list[int] = []
    if _raise_stop_signals(caught):
        sys.unraisablehook = _SwallowedStop(caught, sys.unraisablehook)
    return caught


def _raise_stop_signals(caught: list[int]) -> dict:
    """The handler that raises StopSignal for the first signal (noted in ``caught``), set for each stop signal not
    ignored; {signal: its handler before}."""
    def interrupt(signum, frame) -> None:
        caught.append(signum)
        if len(caught) == 1:
            raise StopSignal(signum)

    held = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    return {s: signal.signal(s, interrupt) for s, h in held.items() if h is not signal.SIG_IGN}


class _SwallowedStop:
    """``sys.unraisablehook`` while StopSignal is raised: a StopSignal that landed in a finalizer (an object's
    ``__del__``, a collected generator's ``finally``) is not raised on but printed as "Exception ignored" and dropped
    there, and every later signal was then ignored too, since only the first raises: ``twin serve`` went on serving
    through any number of SIGTERMs (a loaded CI host's test waited 30 s for it). Now such a stop is sent again, to be
    raised where the work is then, as the first; any other exception goes to the hook before. Sent from a thread a
    moment later: a signal sent from the hook itself is handled at the hook's next line, inside it, and dropped
    there again (a stop sent again landing in a finalizer again is sent again)."""

    def __init__(self, caught: list[int], before) -> None:
        self.caught, self.before = caught, before

    def __call__(self, unraisable) -> None:
        if not isinstance(unraisable.exc_value, StopSignal) or not self.caught:
            self.before(unraisable)
            return
        self.caught.clear()  # (the stop never reached the work: the one sent again raises, as the first)
        again = threading.Timer(0.01, self._again, (unraisable.exc_value.args[0],))
        again.daemon = True
        again.start()

    def _again(self, signum: int) -> None:
        if sys.unraisablehook is self:  # (not once the block is left: its signals are at their defaults again)
            os.kill(os.getpid(), signum)


def default_stop_signals() -> None:
    """In a process forked inside ``stop_signals_interrupt`` (a pool's worker): SIGTERM and SIGHUP back to their
    default action. The parent's handler, inherited, made a signal to one worker the StopSignal of its task's
    result, which the parent took for its own stop; the parent ends its workers itself when it is stopped."""
    for s in STOP_SIGNALS:
        if callable(signal.getsignal(s)):
            signal.signal(s, signal.SIG_DFL)


def _number(cause: KeyboardInterrupt | int) -> int:
    """The signal behind ``cause``: a caught signal's number as given, StopSignal's own, SIGINT for Ctrl-C's."""
    if isinstance(cause, int):
        return cause
    return cause.args[0] if isinstance(cause, StopSignal) else signal.SIGINT


def interrupted_by(cause: KeyboardInterrupt | int) -> str:
    """What cut the work short (the interrupt, or the number of the signal caught), as a message names it:
    ``Ctrl-C``, or the signal's name (``SIGTERM``)."""
    n = _number(cause)
    return "Ctrl-C" if n == signal.SIGINT else signal.Signals(n).name


def exit_status(cause: KeyboardInterrupt | int) -> int:
    """128 + the signal's number, as a shell reports a process the signal ended: 130 for Ctrl-C (SIGINT), 143 for
    SIGTERM, 129 for SIGHUP."""
    return 128 + _number(cause)


class _ExitAtOnce:
    """``exit_at_once``'s handler: the line written straight to stderr's descriptor, then the process's end, with
    no exception raised where the signal landed (an import's, which ended on a traceback). The output folders made
    meanwhile (``folders``, each deepest first: ``removed_if_stopped_at_once``) are removed first, while empty."""

    def __init__(self, when: str) -> None:
        self.when = when
        self.folders: list[list] = []

    def __call__(self, signum, frame) -> None:
        for made in self.folders:
            remove_made_folders(made)
        os.write(2, f"interrupted ({interrupted_by(signum)}) {self.when}\n".encode())
        os._exit(exit_status(signum))


def exit_at_once(when: str) -> None:
    """For a command line's first lines, before its imports (a second, for some): Ctrl-C, SIGTERM and SIGHUP end the
    process there and then, saying so in one line (``interrupted (SIGTERM) {when}``), exit 128 + the signal's
    number. Before, a Ctrl-C was a traceback through the imports and a SIGTERM the default action, killed unsaid.
    Only for what holds nothing to finish: ``begun`` puts the defaults back before any work. A signal ignored when
    the process started stays ignored."""
    handler = _ExitAtOnce(when)
    for s in (signal.SIGINT, *STOP_SIGNALS):
        if signal.getsignal(s) is not signal.SIG_IGN:
            signal.signal(s, handler)


def removed_if_stopped_at_once(made: list) -> None:
    """``made`` (output folders a tool has made, the deepest first; the list itself, which may grow) removed, while
    empty, by a stop that ends the process at once (``exit_at_once``'s handler, where it is in): a stop before the
    work began left the folder made for it behind, empty. Nothing where those handlers are not in."""
    for s in (signal.SIGINT, *STOP_SIGNALS):
        handler = signal.getsignal(s)
        if isinstance(handler, _ExitAtOnce) and not any(m is made for m in handler.folders):
            handler.folders.append(made)


def remove_made_folders(made: list) -> bool:
    """The folders ``common.files.make_output_folder`` made (``made``, the deepest first) removed while they are empty:
    never one that was there before, nor one with anything in it (the first of those ends it, with those above it
    kept). Whether the first, the output folder itself, is gone (False too when none was made)."""
    gone = 0
    for folder in made:
        try:
            os.rmdir(folder)
        except OSError:  # (not empty, or already gone: kept, and the ones above it too)
            break
        gone += 1
    return gone > 0


def begun() -> None:
    """``exit_at_once``'s handlers, where they are in, back to Python's defaults (Ctrl-C a KeyboardInterrupt,
    SIGTERM and SIGHUP their default action): the work begins, and ends itself on a signal."""
    for s in (signal.SIGINT, *STOP_SIGNALS):
        if isinstance(signal.getsignal(s), _ExitAtOnce):
            signal.signal(s, signal.default_int_handler if s == signal.SIGINT else signal.SIG_DFL)


# the signals whose handlers set in Python (Ctrl-C's KeyboardInterrupt, agent.session's StopSignal) are held
_HELD = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


class SignalsBetweenEvents:
    """Inside the block, SIGINT, SIGTERM and SIGHUP are noted as they come, and their handlers run at ``deliver``,
    which ``twin.session.advance`` calls between two events: a KeyboardInterrupt raised where the signal landed cut
    an event's handling anywhere (an agent's quote cycle counted and its record never made, a command sent and its
    record never written: a decision log that disagreed with the summary, and did not name what the venue was sent).
    A run still ends promptly: an event's handling takes microseconds.

    Only handlers set in Python are held (a signal left to its default still ends the process, an ignored one is
    still ignored); the ones before are put back on leaving, and a signal that came after the last event is
    delivered then. A block inside another shares the outer one's; outside the main thread (where no handler can
    be set) nothing is held."""

    def __init__(self) -> None:
        self.pending: list[tuple[int, object]] = []  # (signal number, frame), as they came
        self._held: dict[int, object] = {}  # each signal held: the handler it had
        self._owner = True  # False: an outer block holds them (its pending and handlers shared)

    def _note(self, signum: int, frame) -> None:
        self.pending.append((signum, frame))

    def __enter__(self) -> "SignalsBetweenEvents":
        for s in _HELD:
            outer = getattr(signal.getsignal(s), "__self__", None)
            if isinstance(outer, SignalsBetweenEvents):
                self.pending, self._held, self._owner = outer.pending, outer._held, False
                return self
        try:
            for s in _HELD:
                handler = signal.getsignal(s)
                if callable(handler):
                    signal.signal(s, self._note)
                    self._held[s] = handler
        except ValueError:  # not the main thread: a signal's handler runs where it lands, as without the block
            pass
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._owner:
            return
        for s, handler in self._held.items():
            signal.signal(s, handler)
        # a signal that came after the last event, or beside a crash (raised from here, its context the crash); not
        # one after a delivered signal's KeyboardInterrupt: that one is already ending the run
        if exc_type is None or not issubclass(exc_type, KeyboardInterrupt):
            self.deliver()

    def deliver(self) -> None:
        """Run the held signals' handlers, in the order the signals came (where they raise: Ctrl-C's
        KeyboardInterrupt); once one raises, the rest are dropped, as a second Ctrl-C is while the first ends a run."""
        pending = self.pending
        while pending:
            signum, frame = pending.pop(0)
            self._held[signum](signum, frame)
