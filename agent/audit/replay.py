"""A live run replayed from its event journal through a fresh core, its decisions checked against the log.

Each run in the folder (a live folder carries on over restarts) starts with its ``start`` record in both
files; its core is rebuilt as the live CLI built it (``agent.live.live_core``: config, seed, tick, size
decimals and cloid prefix from that record), fed the journal's events in order (and shut down where the driver shut it
down), and every decision record it gives is compared, as the line the writer would write, with the next
line of the log. The first difference is the answer to "does this code decide what the running code
decided?", and an identical replay is a session to step through in a debugger.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from agent.audit.event_log import SHUTDOWN, CoreFailed, decode_at, handled, journal_lines, shutdown_at
from agent.audit.inspect import LogReader, lost_segment_text
from agent.audit.records import log_files, to_line


@dataclass
class RunReplay:
    """One run's replay: how much was fed and compared, and the first record that differs (if any)."""

    start: dict
    events: int = 0
    records: int = 0  # replayed records compared with the log
    difference: tuple[int, str, str] | None = None  # (record number in the run, logged line, replayed line)
    shut_down: bool = False  # the journal says where the driver shut the run down (else it was killed)
    # a run killed outright may have journalled its last event and died before logging that event's records:
    # the replay's records past the log's end, all from that one last event, are no difference
    crash_tail: int = 0
    # the journal ends before the log does: the records the log holds past it (a journal cut short: a full disk)
    journal_cut: int = 0
    left_out: str | None = None  # "FILE: line N" of the run's last journal line, cut by a crash mid-write
    # segments of the journal that could not be read on at the run's end, (file, lines read, why) as
    # ``LogReader.lost_segments``: the events in them are not replayed, and the run is not known identical
    lost_segments: list = field(default_factory=list)
    _past_end: tuple | None = None  # the log ran out here: the difference, unless the run was killed right after

    @property
    def identical(self) -> bool:
        return self.difference is None and not self.lost_segments


def replay_folder(folder: str | Path, progress: Callable[[int], None] | None = None) -> list[RunReplay]:
    """Replay every run journalled in ``folder``; ``progress`` is called with each journal line's size (a
    gzipped segment's size on disk once read). Raises FileNotFoundError when it has no events.jsonl, and
    ValueError naming the file and line of a journal line that makes the replay another run: damaged (not JSON
    and not a crash's cut, see ``event_log.journal_lines``), or not an event (a field of the wrong type, named with its value)."""
    from agent.live import live_core_of

    folder = Path(folder)
    journal = folder / "events.jsonl"
    if not log_files(journal):
        raise FileNotFoundError(f"{folder}: no events.jsonl (a live run writes it unless --no-events; a twin run "
                                f"is replayed by its seed and config instead)")
    log = _LogCursor(folder / "decisions.jsonl")
    out: list[RunReplay] = []
    core = run = None

    def lost(path: Path, lines_read: int, why: str) -> None:  # (told at the run's end: before its next start)
        if run is None:
            raise ValueError(f"{path.parent}: {lost_segment_text(path, lines_read, why)}, before the journal's first "
                             f"start line: the runs it held cannot be told")
        run.lost_segments.append((path, lines_read, why))

    for at, d in journal_lines(log_files(journal), progress, lost):
        if d is None:  # the line ``at``, cut by a crash mid-write, was the run's last
            if run is not None:
                run.left_out = at
            continue
        if d.get("type") == "start":
            _finish(run, log)
            run = RunReplay(d)
            out.append(run)
            try:
                core = live_core_of(d)
            except (ValueError, TypeError) as e:
                raise ValueError(f"{at}: {e}") from None
            if not log.seek_run(to_line(d)):
                run.difference = (0, "(no run with this start line in decisions.jsonl)", to_line(d))
            continue
        if run is None or run.difference is not None:
            continue  # before any start (a journal's head pruned), or this run already differs: nothing more to learn
        if d.get("e") == SHUTDOWN:
            ts, flatten = shutdown_at(d, at)
            run.shut_down = True
            core.shutdown(ts, flatten)
            # the live driver writes the shutdown's records at once (no event may follow to carry them): so here
            _compare(run, log, core.drain_records())
            continue
        if run._past_end is not None:  # the log ran out, and the journal goes on: not a crash's tail
            run.difference = run._past_end
            continue
        event = decode_at(d, at)
        run.events += 1
        try:
            handled(core, event)
        except CoreFailed as e:  # (the core's traceback, when the replay was run to reproduce a live run's core error)
            raise ValueError(f"{at}: {e}") from None
        _compare(run, log, core.drain_records())
    _finish(run, log)
    return out


def _compare(run: RunReplay, log: "_LogCursor", records: list) -> None:
    """The records the core gave for what it was just fed, each compared with the log's next line."""
    for rec in records:
        replayed = to_line(rec)
        run.records += 1
        if run._past_end is not None:
            run.crash_tail += 1
            continue
        want = log.next_record()
        if want is None:
            run._past_end = (run.records, "(the log's run ends here)", replayed)
            run.crash_tail = 1
        elif want != replayed:
            run.difference = (run.records, want, replayed)
            return


def _finish(run: RunReplay | None, log: "_LogCursor") -> None:
    """A run replayed in full: the log must hold nothing more for it than the replay gave, and nothing less
    unless the run was killed right after journalling its last event."""
    if run is None or run.difference is not None:
        return
    if run._past_end is not None:
        if run.shut_down:  # a run that was shut down wrote everything: the log is short
            run.difference = run._past_end
        return
    extra = log.next_record()
    if extra is not None:
        run.difference = (run.records + 1, extra, "(the replay gives no more records)")
        if not run.shut_down:
            # no shutdown in the journal, yet the log goes on: the driver journals each event before the core
            # handles it, so a whole journal holds an event for every record; this one stopped being written
            run.journal_cut = 1 + sum(1 for _ in iter(log.next_record, None))


class _LogCursor:
    """The decision log read along with the journal, streamed: its runs come in the journal's order, though
    it may hold runs the journal does not (run with --no-events), which are passed over."""

    def __init__(self, path: Path) -> None:
        self._lines = iter(LogReader(path))
        self._pending = None  # a start line read while looking for a run's next record

    def _next(self):
        if self._pending is not None:
            line, self._pending = self._pending, None
            return line
        return next(self._lines, None)

    def seek_run(self, start_line: str) -> bool:
        """Move to just after the run that opens with ``start_line``."""
        while (line := self._next()) is not None:
            if line.kind == "start" and line.text == start_line:
                return True
        return False

    def next_record(self) -> str | None:
        """The current run's next record line, or None at its end (its end line, the next run's start, or
        the end of the log)."""
        line = self._next()
        if line is not None and line.kind == "end":  # written by the CLI as the run ended, not by the core
            return None
        if line is not None and line.kind == "start":
            self._pending = line
            return None
        return None if line is None else line.text


def first_difference(logged: str, replayed: str) -> str:
    """Where two record lines first differ, as a field path with both values (or why they cannot be read)."""
    try:
        a, b = json.loads(logged), json.loads(replayed)
    except (ValueError, RecursionError):
        return "one side is not a record"
    return _diff(a, b, "") or "the same fields, written differently"


def _diff(a, b, path: str) -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                return f"{path}{k}: {'only logged' if k in a else 'only replayed'}"
            d = _diff(a[k], b[k], f"{path}{k}.")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            d = _diff(x, y, f"{path}{i}.")
            if d:
                return d
        return None if len(a) == len(b) else f"{path.rstrip('.')}: {len(a)} items logged, {len(b)} replayed"
    if a == b or (a != a and b != b):  # NaN is NaN
        return None
    return f"{path.rstrip('.')}: logged {a!r}, replayed {b!r}"
