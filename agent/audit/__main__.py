"""``python -m agent.audit RUN``: read a run's decision log as a person (see ``agent.audit.inspect``)."""
from __future__ import annotations

import argparse
import importlib.util
import math
import sys
from pathlib import Path

if __name__ == "__main__":  # first: the imports below take a tenth of a second or more
    from common.stop_signals import exit_at_once
    exit_at_once("before the reading started")

from agent.audit.inspect import (
    LogReader, describe, describe_cycle, first_ts, format_ts, is_date, is_wall, lost_segment_text, overview,
    parse_time, record, render_overview, skipped_text,
)
from agent.audit.records import log_files, size_on_disk
from common.console import unread
from common.cli_errors import fail, print_error, print_note, print_out
from common.files import ArgumentParser, irregular_file_error, make_output_folder
from common.stop_signals import begun, exit_status, interrupted_by, remove_made_folders, stop_signals_interrupt
from common.units import non_empty, non_negative_int

KINDS = ("cycle", "commands", "fill", "snapshot", "safety", "level", "postmortem", "start", "end",
         "venue_account_change", "dead_man", "foreign_orders", "flatten_held", "flatten_again", "sub_lot_position",
         "funding", "overfill", "overfill_settled", "clock_step_back", "quota_hold", "ip_weight_hold", "scorecard")
SLACK_S = 60.0  # records come in time order; a window's reading stops a minute past its end, for any late one

EPILOG = f"""times (--from, --to, --at):
  1834.5                 the log's own seconds (a twin run's simulated time, as this tool prints it)
  30m, 90s, 2h, 1h30m    that long after the log's first record
  2026-11-30T14:03:22    a date, UTC unless it names its zone (a live run's log)

examples:
  python -m agent.audit runs/demo                          # what ran, the levels' transitions, kills
  python -m agent.audit runs/demo --from 30m --to 31m      # every record in that minute, one line each
  python -m agent.audit runs/demo --at 1834.5              # the cycle in force then, in full
  python -m agent.audit runs/live --type safety,level,postmortem
  python -m agent.audit runs/demo --from 30m --to 31m --type cycle --json | jq .inputs.mid
  python -m agent.audit runs/live --from 2026-11-30T14:00 --to 2026-11-30T15:00 --plot incident.png
  python -m agent.audit runs/live --replay                 # the live run again from its events: same decisions?

RUN is a run folder (its decisions.jsonl and the closed segments beside it, decisions-000001.jsonl, ...,
gzipped or not, are read in writing order) or one log file. Record kinds: {", ".join(KINDS)}.
Exit status: 0 when something was shown, 1 when nothing matched, 2 for a bad RUN, time or kind or a --plot file
that cannot be written, 130 when Ctrl-C cut the reading or the replay; SIGTERM and SIGHUP alike (exit 143 and 129:
128 + the signal's number). Once a replay has ended, one while its results are printed waits for their last line,
then is said, with the same status.
"""


def main(argv: list[str] | None = None) -> int:
    own_command_line = argv is None  # (the process's: SIGTERM and SIGHUP then end a reading as Ctrl-C does)
    ap = ArgumentParser(prog="python -m agent.audit", description=(
        "Read a decision log: without options, what ran and how the safety and exposure levels moved;\n"
        "with a window or --at, what the agent saw, changed and sent. The log is streamed, never loaded\n"
        "whole (a live folder may hold weeks of it)."), epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=non_empty, help="run folder, or one decisions log file")
    ap.add_argument("--from", dest="t_from", type=non_empty, metavar="TIME", help="list the records from this time on")
    ap.add_argument("--to", dest="t_to", type=non_empty, metavar="TIME", help="... up to this time (default: the end)")
    ap.add_argument("--at", type=non_empty, metavar="TIME",
                    help="the quote cycle in force at this time in full: what it saw, each adjustment in order, its "
                         "quotes and commands; then what followed until the next cycle")
    ap.add_argument("--type", type=non_empty, metavar="KINDS",
                    help="only these record kinds, comma-separated (e.g. fill,safety)")
    ap.add_argument("--limit", type=non_negative_int, default=200, metavar="N",
                    help="records listed at most (default 200; 0: all)")
    ap.add_argument("--json", action="store_true",
                    help="the matching records as written (JSON lines), for jq; alone, the log's records from its "
                         "start (up to --limit)")
    ap.add_argument("--replay", action="store_true",
                    help="replay a live run folder's events.jsonl through a fresh core built from each run's start "
                         "line (config, seed), and check every decision record against the log: exit 0 when "
                         "identical, 1 at the first difference, which it names")
    ap.add_argument("--plot", metavar="PNG", help="draw the log (or the --from/--to window) to this PNG: mid, our "
                                                 "best quotes and the fills, position against its limit, safety "
                                                 "and exposure levels (needs matplotlib: the report extra)")
    args = ap.parse_args(argv)

    if args.replay:
        if args.t_from or args.t_to or args.at or args.type or args.json or args.plot:
            return fail("--replay replays whole runs: give it alone")
        return _replay(Path(args.run), own_command_line)
    try:
        path = _log_path(Path(args.run))
    except OSError as e:  # a name too long, a folder not searchable: what the system said, not a traceback
        return fail(f"{args.run}: {e.strerror or e}")
    if path is None:
        return fail(f"{args.run}: no decision log there (expected a run folder holding decisions.jsonl or its "
                    f"segments, or a log file)")
    odd = irregular_file_error(log_files(path), "a decision log")
    if odd is not None:
        return fail(odd)
    kinds = None
    if args.type:
        kinds = {k.strip() for k in args.type.split(",") if k.strip()}
        unknown = sorted(kinds - set(KINDS))
        if unknown:
            return fail(f"--type {args.type}: unknown kind {', '.join(unknown)}; kinds: {', '.join(KINDS)}")
    start = first_ts(path)
    if start is None:
        reader = LogReader(path)
        for _ in reader:  # no record: what was skipped, if anything
            pass
        if reader.lost_segments:  # a segment not gzip, cut before its first line, or 0 bytes: lines lost, not empty
            return fail(f"{path}: no record read" + skipped_text(reader.skipped, reader.cut, reader.lost_segments,
                                                                        reader.too_deep, reader.too_deep_count))
        if reader.undecodable:  # a binary file, not an empty log: a bad RUN
            n = reader.undecodable
            return fail(f"{path}: not a decision log: no record in it, and {n} line{'s' if n != 1 else ''} of it not "
                        f"UTF-8 text")
        if reader.skipped and reader.skipped == reader.cut and _opens_as_a_record(reader.files):
            # one line a crash cut as the run wrote it (its start line: a disk full, a host down) and nothing more:
            # the run's log, with no record in it (it was "not a decision log", exit 2, a bad RUN)
            print_note(f"{path}: no records" + skipped_text(reader.skipped, reader.cut))
            return 1
        if reader.skipped:  # lines, none of them a record: another tool's file (a summary.json), not an empty log
            n = reader.skipped
            return fail(f"{path}: not a decision log: none of its {n} line{'s' if n != 1 else ''} is a record (a "
                        f"JSON object with a type and a time)")
        print_note(f"{path}: no records")
        return 1
    try:
        t_from = parse_time(args.t_from, start, "--from") if args.t_from else None
        t_to = parse_time(args.t_to, start, "--to") if args.t_to else None
        t_at = parse_time(args.at, start, "--at") if args.at else None
    except ValueError as e:
        return fail(str(e))
    if not is_wall(start):  # a date was read as Unix seconds: "no records in 1796482410.000 … the end", or --at's
        for option, text in (("--from", args.t_from), ("--to", args.t_to), ("--at", args.at)):  # last cycle
            if text and is_date(text):
                return fail(f"{option} {text}: a date, but {args.run} is a twin run's log, its times simulated seconds "
                            f"from {format_ts(start, False)}: give its seconds (1834.5) or a duration after its "
                            f"start (30m, 1h30m)")
    if t_from is not None and t_to is not None and t_from > t_to:
        return fail(f"--from {args.t_from} is after --to {args.t_to}")
    if args.plot and (t_at is not None or args.json or kinds is not None):
        return fail("--plot draws a stretch of the log: give it alone, or with --from/--to")
    if t_at is not None and (t_from is not None or t_to is not None or kinds is not None):
        return fail("--at shows one moment, the cycle in force and what followed it, whatever their kinds; give it "
                    "alone, or --from/--to (with --type) for a stretch")
    made: list[Path] = []  # the folders made for --plot's file: removed, while empty, if it is stopped before it
    if args.plot is not None:  # before reading the log: its folder must take the file
        try:
            make_output_folder(Path(args.plot).parent, "--plot", given=args.plot, made=made)
            if Path(args.plot).is_dir():
                raise ValueError(f"--plot {args.plot}: is a folder; give a PNG file's path")
            _check_image_name(args.plot)
        except ValueError as e:
            return fail(str(e))
        except OSError as e:  # (is_dir: a name too long)
            return fail(f"--plot {args.plot}: {e.strerror or e}")
    wall = is_wall(start)
    progress = _Progress(log_files(path))
    reader = LogReader(path, progress.feed())
    begun()
    try:
        with stop_signals_interrupt(install=own_command_line):
            if t_at is not None:
                status = _at(reader, t_at, wall, args.json, progress)
            elif args.plot:
                status = _plot(reader, t_from, t_to, Path(args.plot), wall, progress)
            elif t_from is None and t_to is None and kinds is None and not args.json:  # (--json: every record)
                lines = render_overview(overview(reader), path)  # (it names the lost segments itself)
                progress.close()
                print_out("\n".join(lines))
                return 0
            else:
                status = _window(reader, t_from, t_to, kinds, args.limit, wall, args.json, progress)
            for seg in reader.lost_segments:  # read on the way: what is shown lacks their lines
                print_note(f"note: {lost_segment_text(*seg)}")
            return status
    except BrokenPipeError:  # the reader stopped listening (| head): not an error
        unread(sys.stdout)
        return 0
    except KeyboardInterrupt as e:  # Ctrl-C in a long read (a week's log), SIGTERM, SIGHUP: said, not a traceback
        progress.close()
        remove_made_folders(made)  # (the plot is written whole or not at all: a folder made for it is then empty)
        print_note(f"interrupted ({interrupted_by(e)})")
        return exit_status(e)
    except FileNotFoundError as e:  # a segment moved away while it was read (one gzipped is read from its .gz)
        progress.close()
        return fail(str(e))
    finally:
        progress.close()


def _check_image_name(png: str) -> None:
    """ValueError unless ``png`` names a file matplotlib can write by its extension: after the whole log was read,
    ``x.txt`` ended on matplotlib's ValueError traceback, and ``x`` (no extension) was written as ``x.png`` while
    the line said it wrote ``x``. (Without matplotlib, ``_plot`` names the extra to install.)"""
    if importlib.util.find_spec("matplotlib") is None:
        return
    from matplotlib.backend_bases import FigureCanvasBase
    kinds = FigureCanvasBase.get_supported_filetypes()
    suffix = Path(png).suffix.lower().lstrip(".")
    if suffix not in kinds:
        raise ValueError(f"--plot {png}: " + (f"no image kind is written as .{suffix}" if suffix else "no extension")
                         + f"; give a .png file's path (or {', '.join('.' + k for k in ('svg', 'pdf', 'jpg'))})")


def _replay(folder: Path, own_command_line: bool) -> int:
    """``own_command_line``: the process's, where SIGTERM and SIGHUP end the replay as Ctrl-C does."""
    from agent.audit.replay import replay_folder
    from common.stop_signals import SignalsBetweenEvents
    try:
        journal = log_files(folder / "events.jsonl")
        odd = irregular_file_error(journal, "a live run's journal") \
            or irregular_file_error(log_files(folder / "decisions.jsonl"), "a decision log")
        if odd is not None:
            return fail(odd)
        progress = _Progress(journal, "replaying the journal", large=5 * 1024 * 1024)
    except OSError as e:  # a name too long, a folder not searchable
        return fail(f"{folder}: {e.strerror or e}")
    begun()
    replayed = printed = False
    try:
        with stop_signals_interrupt(install=own_command_line):
            runs = replay_folder(folder, progress.feed())
            replayed = True
            progress.close()
            # the replay is done: a signal while its results are printed waits for their last line (the default
            # action there killed it unsaid, a Ctrl-C was a traceback), then is said
            with SignalsBetweenEvents():
                status = _say_replayed(folder, runs)
                if sys.stdout is not None:  # (None: started with its stdout closed, `>&-`, where print prints nothing)
                    sys.stdout.flush()  # (a pipe's buffer: lost if a signal then ends the process)
                printed = True
            return status
    except FileNotFoundError as e:
        print_error(str(e))
        twin = _twin_start(folder)
        if twin is not None:  # the exact command that runs it again
            print_note(f"this is a twin run: run it again with\n  python -m agent --config {folder / 'config.json'} "
                       f"--seed {twin.get('seed')} --duration {twin.get('duration_s')} --out NEW_FOLDER"
                       + ("  (and its --params file)" if twin.get("custom_twin_params") else ""))
        return 2
    except ValueError as e:  # a journal line that would make the replay another run: its file and line, and why
        return fail(str(e))
    except BrokenPipeError:  # the reader stopped listening (| head): not an error, and the verdict is still the status
        unread(sys.stdout)
        return 0 if all(r.identical for r in runs) else 1
    except KeyboardInterrupt as e:
        progress.close()
        said = (": the replay is incomplete" if not replayed else " once the replay had ended: "
                + ("its results above are whole" if printed else "its results were not printed"))
        print_note(f"interrupted ({interrupted_by(e)}){said}")
        return exit_status(e)
    finally:
        progress.close()


def _say_replayed(folder: Path, runs: list) -> int:
    """What the replay of each run in ``folder`` found, said; the exit status."""
    if not runs:
        return fail(f"{folder}/events.jsonl holds no run (no start line)")
    for i, run in enumerate(runs, 1):
        _replayed(i, run)
    return 0 if all(r.identical for r in runs) else 1


def _replayed(i: int, run) -> None:
    """What the replay of the folder's ``i``-th run found, said."""
    from agent.audit.replay import first_difference
    st = run.start
    what = f"run {i} ({format_ts(st.get('ts', math.nan), is_wall(st.get('ts'))) if isinstance(st.get('ts'), (int, float)) else '?'}, " \
           f"{st.get('network', st.get('venue', '?'))} {st.get('coin', '')}, seed {st.get('seed')})"
    # a segment of the journal lost at the run's end: its events are not replayed (said below), so no "all identical"
    short = "; the journal's end of the run is lost (below): the run is not replayed whole" if run.lost_segments else ""
    if run.difference is None:
        print_out(f"{what}: {run.events:,} events replayed, {run.records - run.crash_tail:,} decision records, all "
                  f"identical to the log" + ("" if run.shut_down else "; the run was killed (no shutdown in the "
                                             "journal)") + (f", its last event's {run.crash_tail} record(s) never "
                                                            f"logged" if run.crash_tail else "") + short)
    elif run.journal_cut:
        why = ("A segment of the journal is lost (below)" if run.lost_segments else
               "The journal was cut short (a full disk, a lost mount: the log's end line says why the run stopped)")
        print_out(f"{what}: the event journal ends before the decision log: its {run.events:,} events replayed give "
                  f"{run.records:,} decision records, all identical to the log, and the log holds "
                  f"{run.journal_cut:,} more of this run that no journalled event gives. {why}; past its end the run "
                  f"cannot be replayed")
        print_out(f"  first record past the journal: {run.difference[1][:300]}")
    else:
        n, logged, replayed = run.difference
        print_out(f"{what}: the replay differs at its decision record {n:,} (after {run.events:,} events)")
        print_out(f"  where:    {first_difference(logged, replayed)}")
        print_out(f"  logged:   {logged[:300]}")
        print_out(f"  replayed: {replayed[:300]}")
    if run.left_out:
        print_out(f"  left out: {run.left_out}, the run's last journal line, cut by a crash mid-write (the core never "
                  f"finished that event either)")
    for seg in run.lost_segments:  # (a closed segment's events, not a crash's cut: the run's end is not replayed)
        print_out(f"  lost:     {lost_segment_text(*seg)}: the run's events in it are not replayed")


def _twin_start(folder: Path) -> dict | None:
    """The start line of a twin run's log in ``folder``, if that is what it holds."""
    from agent.audit.inspect import record
    for line in LogReader(folder / "decisions.jsonl"):
        rec = record(line) if line.kind == "start" else None
        return rec if rec is not None and rec.get("venue") == "twin" else None
    return None


def _log_path(run: Path) -> Path | None:
    """The log a RUN names: a folder's decisions.jsonl (closed segments count), or a file itself."""
    if run.is_dir():
        path = run / "decisions.jsonl"
        return path if log_files(path) else None
    return run if run.is_file() else None


def _window(reader: LogReader, t_from, t_to, kinds, limit: int, wall: bool, as_json: bool,
            progress: _Progress) -> int:
    lo = -float("inf") if t_from is None else t_from
    hi = float("inf") if t_to is None else t_to
    shown = more = 0
    window = _Window(reader, lo, hi)
    for line in window:
        if not lo <= line.ts <= hi or (kinds is not None and line.kind not in kinds):
            continue
        if limit and shown >= limit:
            more += 1
            continue
        rec = record(line)  # parsed even to be printed as written: a line given to jq must be JSON
        if rec is None:  # damaged inside (a disk's error): the reader's cheap checks took it for whole
            reader.skipped += 1
            continue
        out = line.text if as_json else describe(rec, wall)
        progress.clear()
        print_out(out)
        shown += 1
    progress.close()
    if more:
        print_note(f"... and {more:,} more in the window (--limit 0 lists them all)")
    window.say_skipped()
    if not shown:
        span = f"{format_ts(lo, wall) if t_from is not None else 'the start'} … " \
               f"{format_ts(hi, wall) if t_to is not None else 'the end'}"
        print_note(f"no {'/'.join(sorted(kinds)) if kinds else ''}{' ' if kinds else ''}records in {span}")
        return 1
    return 0


class _Window:
    """The reader's lines up to a minute past the window [lo, hi] (the reading goes on a little, for records written
    late), and its counts (``_counts``) as the window began (its first line in it, or after it) and ended (its first
    line past it): ``say_skipped`` says what it skipped in the window, as the overview says it of the whole log."""

    def __init__(self, reader: LogReader, lo: float, hi: float) -> None:
        self.reader, self.lo, self.hi = reader, lo, hi
        self.before = _counts(reader)  # as the last line before the window was read
        self.since: tuple[int, int, int] | None = None
        self.until: tuple[int, int, int] | None = None

    def __iter__(self):
        reader, lo, hi = self.reader, self.lo, self.hi
        skipped = reader.skipped  # (the counts before the window kept as they change, one compare a line)
        for line in reader:
            if self.since is None:
                if line.ts >= lo:
                    self.since = _counts(reader)
                elif reader.skipped != skipped:
                    self.before, skipped = _counts(reader), reader.skipped
            if self.until is None and line.ts > hi:
                self.until = _counts(reader)
            if line.ts > hi + SLACK_S:
                break
            yield line

    def say_skipped(self) -> None:
        """The lines skipped in the window (None as its start: every line read is before it), a note on stderr."""
        _skipped_since(self.reader, self.before if self.since is None else self.since, self.until)


def _at(reader: LogReader, t: float, wall: bool, as_json: bool, progress: _Progress) -> int:
    """The last cycle at or before ``t``, and the records after it until the next cycle."""
    cycle = None
    after: list = []
    since = None  # the reader's counts at the cycle: what it skips from there is in the cycle's span
    for line in reader:
        if line.kind == "cycle":
            if line.ts > t:
                break
            cycle, after, since = line, [], _counts(reader)
        elif cycle is not None:
            after.append(line)
    progress.close()
    if cycle is None:
        print_note(f"no quote cycle at or before {format_ts(t, wall)}")
        return 1
    rec = record(cycle)
    if rec is None:
        print_note(f"the cycle in force at {format_ts(t, wall)} is a torn line")
        return 1
    records = [(a, r) for a in after if (r := record(a)) is not None]  # (a line damaged inside is no record)
    reader.skipped += len(after) - len(records)
    if as_json:
        print_out("\n".join([cycle.text] + [a.text for a, _ in records]))
    else:
        print_out("\n".join(describe_cycle(rec, wall)))
        if records:
            print_out("then, until the next cycle:")
            for _, r in records:
                print_out("  " + describe(r, wall))
    _skipped_since(reader, since)
    return 0


def _opens_as_a_record(files: list[Path]) -> bool:
    """Whether the log's first file opens as every writer opens a line (``{"type":``), or with a part of that: a
    crash's cut of the run's first line, not another tool's file."""
    head = '{"type":'
    try:
        with open(files[0], "rb") as f:
            opening = f.read(len(head)).decode("ascii", "replace")
    except (OSError, IndexError):
        return False
    return bool(opening) and (opening == head or head.startswith(opening))


def _counts(reader: LogReader) -> tuple[int, int, int]:
    return reader.skipped, reader.cut, len(reader.lost_segments)


def _skipped_since(reader: LogReader, since: tuple[int, int, int] | None,
                   until: tuple[int, int, int] | None = None) -> None:
    """The lines the reader skipped from ``since`` to ``until`` (``_counts`` where a window or a cycle's span began
    and ended; None: the log's end), said after it as the overview says them: a window read up to a crash's cut
    ended at the run's last whole record unsaid, and looked whole. Lost segments are said apart (their own note)."""
    if since is None:
        return
    skipped, cut, lost = (now - then for now, then in zip(until or _counts(reader), since))
    said = skipped_text(skipped - lost, cut)
    if said:
        print_note("note: " + said[2:])


def _plot(reader: LogReader, t_from, t_to, png: Path, wall: bool, progress: "_Progress") -> int:
    if importlib.util.find_spec("matplotlib") is None:  # before reading: a missing extra costs no pass over the log
        return fail("--plot needs matplotlib: python -m pip install -e \".[report]\"")
    from agent.audit.plot import render, series
    lo = -math.inf if t_from is None else t_from
    hi = math.inf if t_to is None else t_to
    window = _Window(reader, lo, hi)
    s = series(reader, lo, hi, lines=window)
    progress.close()
    if not s.cycles:
        print_note("no quote cycles to draw" + ("" if t_from is None and t_to is None else " in that window"))
        return 1
    try:
        render(s, png, wall, str(reader.path))
    except OSError as e:  # a full disk: it was matplotlib's traceback, exit 1 (which means nothing matched)
        return fail(f"--plot {png}: {e.strerror or e}")
    print_out(f"wrote {png}: {s.cycles_in_window:,} cycles ({len(s.cycles):,} drawn), {s.fills_in_window:,} fills, "
              f"{len(s.safety)} safety and {len(s.exposure)} exposure changes, {len(s.kills)} kills")
    window.say_skipped()  # (a torn or damaged line in the window: a point missing from the picture, said as --from's)
    return 0


class _Progress:
    """A progress bar over the log's bytes on stderr, when stderr is a terminal and the log large enough to
    take seconds to read; cleared before each line printed, gone when done. Without one it does nothing."""

    LARGE = 50 * 1024 * 1024

    def __init__(self, files: list[Path], desc: str = "reading the log", large: int = LARGE) -> None:
        total = sum(size_on_disk(f) for f in files)  # (a segment gzipped since the listing: 0)
        self.bar = None
        if total >= large and sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="B", unit_scale=True, desc=desc, leave=False)

    def feed(self):
        """The reader's progress callback (None without a bar: no call per line)."""
        return self.bar.update if self.bar is not None else None

    def clear(self) -> None:
        if self.bar is not None:
            self.bar.clear()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


if __name__ == "__main__":
    sys.exit(main())
