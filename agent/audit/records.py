"""Decision records: one per quote cycle, saying why the agent quoted what it quoted.

The core builds a ``CycleDecisionRecord`` each cycle (inputs, each adjustment in order, the
final quotes, the commands). Fills arrive later and are appended as their own lines naming their
order's cloid (the record that sent it lists it among its commands) and the cycle current when the
fill arrived, so the log stays append-only. ``JsonlWriter`` writes whole lines
with one ``write`` call and flushes at least every ``flush_every`` lines and on close, so a crash
leaves at most a torn last line, which ``read_jsonl`` skips and counts.

A session of days writes gigabytes (a line per cycle, ten cycles a second at the fastest), so the
writer can close its file at a size and carry on in a fresh one: the closed file becomes a numbered
segment (``decisions-000001.jsonl``, ...) that is never written again, which an operator may compress
or move while the agent runs. Nothing is ever deleted; ``read_log`` reads the segments, gzipped or
not, and then the live file, in the order they were written.
"""
from __future__ import annotations

import functools
import gzip
import json
import os
import re
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, BinaryIO, Callable, Iterator

from agent.gateway.events import Batch, CancelOrder, ModifyOrder, PlaceOrder, Side
from common import json_text


# What a cycle saw, in the order the core stores it (``CycleDecisionRecord.seen``): the levels are enums and the
# confidence a TradingConfidence there, an int and a 4-tuple in the record read
INPUT_KEYS = ("mid", "best_bid", "best_ask", "sigma", "A", "k", "position", "headroom", "p_stressed",
              "safety_level", "exposure_level", "confidence", "par_usd")


class CycleDecisionRecord:
    """What one quote cycle saw, changed and sent. Plain slots: built on the hot path, where the cycle's
    inputs are stored as the tuple of their values (``seen``, in ``INPUT_KEYS`` order) and its steps as the
    tuple of theirs (``steps``, in the order ``adjustments`` unpacks them), both named only when the record
    is read: most cycles' records are dropped unread when no run folder is written, and a list of a dozen
    named steps was the cycle's largest allocation. The quote cycle makes its record without ``__init__``
    (``AgentCore._on_timer``, ``_quote``) and sets every field itself: a field added here is set there too
    (tests/agent/test_cycle_record.py finds one left unset)."""

    __slots__ = ("cycle", "ts", "seen", "steps", "signals", "quotes", "commands", "note")

    def __init__(self, cycle: int, ts: float) -> None:
        self.cycle = cycle
        self.ts = ts
        self.seen: tuple = ()
        self.steps: tuple = ()  # the adjustments' values, see ``adjustments`` (empty before the core has filled it)
        # (name, p_up, weight, weight x adjustment) per signal: why each signal moved it (weight = configured x
        # the validation's verdict); its weighted adjustment is one of the steps
        self.signals: tuple | list = ()
        self.quotes: tuple | list = ()  # desired quotes: (side, px, sz, level, reduce_only)
        self.commands: tuple | list = ()  # the commands sent (objects; described when written)
        self.note = ""

    @property
    def adjustments(self) -> list[tuple[str, float, str]]:
        """Each step the cycle took, in order, as (name, value, what it moved): made from ``steps`` and the
        signals when read. A step the cycle did not take (no fee, the floor not reached, not clamped to the
        book, ...) is None in ``steps`` and not listed."""
        if not self.steps:
            return []
        (half, regime, safety, exposure, skew, fee, floor, widen, bid, ask, size_mult, exit_mult, safety_size,
         safety_exit, par, shadow, paper, limit, liq) = self.steps
        out = [("glft_half_spread", half, "spread"), ("regime_spread_mult", regime, "spread"),
               ("safety_spread_mult", safety, "spread"), ("exposure_spread_mult", exposure, "spread"),
               ("inventory_skew", skew, "center")]
        if fee is not None:
            out.append(("maker_fee", fee, "spread"))
        if floor is not None:  # the half spread so far (fee in) was raised to the floor: the step's value is the floor
            out.append(("min_half_spread", floor, "spread"))
        out += [(name, wa, "center") for name, _, _, wa in self.signals]
        for name, v, kind in (("edge_bias_widen", widen, "spread"), ("bid_behind_best_ask", bid, "price"),
                              ("ask_behind_best_bid", ask, "price"), ("exposure_size_mult", size_mult, "size"),
                              ("exposure_size_mult_reducing", exit_mult, "size"),
                              ("safety_size_factor", safety_size, "size"),
                              ("safety_size_factor_reducing", safety_exit, "size"), ("par_size_factor", par, "size"),
                              ("shadow_exits", shadow, "size"), ("paper_position", paper, "center"),
                              ("exposure_limit_scale", limit, "limit")):
            if v is not None:
                out.append((name, v, kind))
        if liq is not None:
            # the mid near the position's liquidation price (AgentCore._liquidation_exposure): reconcile counted the
            # position out of the reducing side's room, as if the venue had taken it, which held that side to the
            # limit alone. Last: it is applied where reconcile sizes the quotes against the limit
            lq, distance, counted_out, snapshot_px = liq
            if snapshot_px is not None:  # the fills since the snapshot moved its price (AgentCore._liq_follow)
                out.append(("liquidation_px_snapshot", snapshot_px, "limit"))
            out += [("liquidation_px", lq, "limit"), ("liquidation_distance", distance, "limit"),
                    ("liquidation_counted_out", counted_out, "limit")]
        return out

    @property
    def inputs(self) -> dict:
        """What the cycle saw, by name, made from ``seen`` when read (empty before the core has filled it)."""
        if not self.seen:
            return {}
        d = dict(zip(INPUT_KEYS, self.seen))
        d["safety_level"] = int(d["safety_level"])
        d["exposure_level"] = int(d["exposure_level"])
        c = d["confidence"]
        d["confidence"] = (c.model_confidence, c.execution_confidence, c.safety_confidence, c.overall)
        return d

    def to_dict(self, describe=str) -> dict:
        return {"type": "cycle", "cycle": self.cycle, "ts": self.ts, "inputs": self.inputs,
                "adjustments": [list(a) for a in self.adjustments],
                "signals": [{"name": n, "p_up": p, "weight": w} for n, p, w, _ in self.signals],
                "quotes": [["B" if q[0] > 0 else "A", q[1], q[2]] for q in self.quotes],
                "commands": [describe(c) for c in self.commands], "note": self.note}


def start_record(ts: float, config, **run) -> dict:
    """A run's first line in the log: what ran (``run``: venue, seed, coin, ...) and the whole config. A live
    log is carried on over restarts (one audit trail per account) and ``config.json`` holds only the last
    run's config, so the log itself says under which config each of its decisions was made."""
    return {"type": "start", "ts": ts, **run, "config": config.model_dump(mode="json")}


def end_record(ts: float, reason: str, **about) -> dict:
    """A run's last line in the log, written as it ends whatever the reason: a log whose run has none was
    killed outright (or is still running)."""
    return {"type": "end", "ts": ts, "reason": reason, **about}


def describe_command(c) -> str:
    """A command as the decision log shows it: ``place 00000d B 0.0002@100004.0 RO``, ``cancel 00000c``,
    ``modify 00000c to B 0.0002@100005.0 as 00000e``. Each order is named by its cloid's tail, as the fill records
    name theirs: a fill leads back to the command, and so to the cycle and its inputs, that made its order."""
    if isinstance(c, Batch):
        return "; ".join(describe_command(x) for x in c.commands)
    if isinstance(c, PlaceOrder):
        side = "B" if c.side is Side.BUY else "A"
        return f"place {c.cloid[-6:]} {side} {c.sz}@{c.px}{' RO' if c.reduce_only else ''}"
    if isinstance(c, CancelOrder):
        return f"cancel {c.cloid[-6:]}"
    if isinstance(c, ModifyOrder):
        side = "" if c.side is None else "B " if c.side is Side.BUY else "A "
        return (f"modify {c.cloid[-6:]} to {side}{c.sz}@{c.px}{' RO' if c.reduce_only else ''} "
                f"as {c.new_cloid[-6:]}")
    return type(c).__name__


class JsonlWriter:
    """Append-only JSON lines; each line is written whole, then flushed every ``flush_every`` lines.

    With ``segment_bytes``, a file that reaches that size is flushed, synced to disk, closed and renamed
    to the next numbered segment beside it, and writing goes on in a fresh file at ``path``: a rename is
    atomic, so a crash at any point leaves every line in exactly one file. Numbering goes on from the
    segments already there (a restarted session keeps its folder's history in order).

    ``off_loop(close)``, when given, runs the closing of a full segment (its sync, which a busy disk makes
    hundreds of ms, and its rename) elsewhere: a live run's executor thread, so that the event loop's cycles do
    not wait for the disk. The full file is renamed at once to its closing name (``closing_path``: hidden, the
    segment's number in it), writing goes on in a fresh file at ``path``, and ``close()`` syncs the closing file
    and only then gives it its final name: a segment is whole on disk before it is named one. Readers read a
    closing file as its segment (``log_files``); a crash before it is named leaves it, which the next writer in
    the folder syncs and names as it opens."""

    def __init__(self, path: str | Path, flush_every: int = 64, fsync: bool = False,
                 segment_bytes: int | None = None,
                 off_loop: Callable[[Callable[[], None]], object] | None = None) -> None:
        if segment_bytes is not None and segment_bytes <= 0:
            raise ValueError(f"{path}: segment_bytes must be > 0, got {segment_bytes!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.flush_every = flush_every
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.off_loop = off_loop
        self._pending = 0
        self.lines = 0
        self.segments = 0  # segments this writer closed
        _finish_closings(self.path)
        self._next_segment = max(_segment_files(self.path), default=0) + 1
        self._fh: IO[str] | None = None
        self._open()

    def _open(self) -> None:
        size = self.path.stat().st_size if self.path.exists() else 0
        torn = False
        if size > 0:
            with open(self.path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                torn = fh.read(1) != b"\n"
        self._fh = open(self.path, "a", encoding="utf-8")
        if torn:  # a crash left half a line: end it, so the next record starts clean
            self._fh.write("\n")
            size += 1
        self._bytes = size

    def write(self, obj: dict) -> None:
        if self._fh is None:
            raise ValueError(f"{self.path}: writer is closed")
        line = to_line(obj) + "\n"
        self._fh.write(line)
        self.lines += 1
        self._pending += 1
        self._bytes += len(line)
        if self.segment_bytes is not None and self._bytes >= self.segment_bytes:
            self._rotate()
        elif self._pending >= self.flush_every:
            self.flush()

    def _rotate(self) -> None:
        """Close the full file as the next segment and start a fresh one."""
        fh = self._fh
        fh.flush()
        self._pending = 0
        target = segment_path(self.path, self._next_segment)
        # made meanwhile by another writer, or by hand: never overwrite
        while target.exists() or closing_path(target).exists():
            self._next_segment += 1
            target = segment_path(self.path, self._next_segment)
        self._next_segment += 1
        self.segments += 1
        if self.off_loop is None:
            close_segment(fh, self.path, target)
        else:
            os.rename(self.path, closing_path(target))  # (the lines go on in a fresh file while it is synced)
            self.off_loop(functools.partial(close_segment, fh, closing_path(target), target))
        self._open()

    def flush(self) -> None:
        if self._fh is not None and self._pending:
            self._fh.flush()
            if self.fsync:
                os.fsync(self._fh.fileno())
            self._pending = 0

    def close(self) -> None:
        if self._fh is not None:
            self.flush()
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "JsonlWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def segment_path(path: Path, n: int) -> Path:
    """Segment ``n`` of the log at ``path``: ``decisions.jsonl`` → ``decisions-000001.jsonl`` (zero-padded,
    so a listing sorted by name is in writing order)."""
    return path.with_name(f"{path.stem}-{n:06d}{path.suffix}")


def closing_path(segment: Path) -> Path:
    """Where a full segment is synced before it is named ``segment`` (``JsonlWriter``'s ``off_loop``): hidden beside
    it, ``.decisions-000001.jsonl.closing``, its number in it (read as that segment meanwhile)."""
    return segment.with_name(f".{segment.name}{_CLOSING}")


_CLOSING = ".closing"


def close_segment(fh: IO[str], path: Path, target: Path) -> None:
    """A full segment (``fh``, flushed, its file at ``path``) synced to disk, closed and renamed ``target``: whole
    on disk before it takes its final name. OSError (the disk refusing the sync) leaves it at ``path``, closed, where
    readers read it as its segment and the next writer in the folder syncs and names it."""
    try:
        os.fsync(fh.fileno())
    finally:
        fh.close()
    os.rename(path, target)


def _finish_closings(path: Path) -> None:
    """The segments of the log at ``path`` a crash left at their closing name (``closing_path``), synced and named:
    before a writer numbers on from them. One whose final name is taken (by hand) is left where it is (readers read the
    final name's file)."""
    for n, ps in _segment_files(path).items():
        for p in ps:
            if p.name.endswith(_CLOSING) and not segment_path(path, n).exists():
                close_segment(open(p, "a", encoding="utf-8"), p, segment_path(path, n))


def _segment_files(path: Path) -> dict[int, list[Path]]:
    """The files of each closed segment of the log at ``path``, by number: its plain copy, its .gz, or both; or the
    one being synced (``closing_path``)."""
    name = re.escape(path.stem) + r"-(\d{6,})" + re.escape(path.suffix)
    pat = re.compile(f"{name}(?:\\.gz)?|\\.{name}{re.escape(_CLOSING)}")
    found: dict[int, list[Path]] = {}
    if path.parent.is_dir():
        for p in path.parent.iterdir():
            m = pat.fullmatch(p.name)
            if m:
                found.setdefault(int(m.group(1) or m.group(2)), []).append(p)
    for n, ps in found.items():  # (a closing copy beside a final one: the final name was taken by hand; read that)
        if len(ps) > 1:
            found[n] = [p for p in ps if not p.name.endswith(_CLOSING)]
    return found


def _segments(path: Path) -> list[tuple[int, Path]]:
    """The closed segments of the log at ``path``, oldest first, gzipped ones included. A segment found both plain
    and gzipped is being compressed or uncompressed, and either copy may be the one being written: which is read,
    ``_whole_copy`` decides."""
    return [(n, ps[0] if len(ps) == 1 else _whole_copy(*sorted(ps, key=lambda p: p.suffix == ".gz")))
            for n, ps in sorted(_segment_files(path).items())]


def _whole_copy(plain: Path, gz: Path) -> Path:
    """Which of a segment's two copies, ``plain`` (NAME) and ``gz`` (NAME.gz), holds the whole segment: the one to
    read. Both are there while gzip compresses NAME (it writes NAME.gz, then removes NAME) and while gunzip
    uncompresses NAME.gz (it writes NAME, then removes NAME.gz); either way the copy being written looks like a
    segment, cut at a line's end as often as not, and the plain one cannot tell it is cut. A gzip stream can: it ends
    with a marker, a CRC and the length, so a .gz cut short, or damaged, does not read to its end.

    - The .gz reads whole (to its end, CRC and length right, and not 0 bytes: gzip's first write is its header): the
      .gz, whichever way the copy goes.
    - Else, what it reads is a proper beginning of the plain copy: gzip is under way on the plain one, which is the
      segment as the writer closed it (whole: ``JsonlWriter._rotate``): the plain one.
    - Else neither is known whole (the plain one as long as what the .gz gives, or shorter, or other bytes: gunzip
      of a .gz cut short or damaged, or a copy onto a full disk): the .gz, which the readers then read as far as it
      goes and tell as lost (``read_lines``), as they do a damaged .gz with no plain copy beside it. (When gzip has
      written all of the data but not yet its last bytes, both give the same lines and this tells the .gz lost,
      every line of it read: a moment's false alarm, never a segment read short unsaid.)

    The journal's reader (``event_log.journal_lines``) and the decision log's take their files from here alike
    (``log_files``). One copy gone meanwhile (gzip or gunzip done) is the other."""
    try:
        with open(plain, "rb") as pf, open(gz, "rb") as raw:
            if os.fstat(raw.fileno()).st_size == 0:
                return plain if pf.read(1) else gz
            with gzip.GzipFile(fileobj=raw) as z:
                try:
                    while chunk := z.read1(1 << 16):  # (read would drop what it had when the stream ends short)
                        if pf.read(len(chunk)) != chunk:
                            return gz  # not a beginning of the plain copy: the .gz, whole or told lost
                except (EOFError, gzip.BadGzipFile, zlib.error):  # cut short or damaged
                    return plain if pf.read(1) else gz
            return gz
    except FileNotFoundError:
        return gz if gz.exists() else plain


def log_files(path: str | Path) -> list[Path]:
    """Every file of the log at ``path`` in writing order: its segments, then the live file (if any)."""
    path = Path(path)
    files = [p for _, p in _segments(path)]
    if path.exists():
        files.append(path)
    return files


def to_line(obj) -> str:
    """A record as its log line (without the newline): compact JSON, ASCII only (json.dumps escapes the rest,
    so a line's length is its size in bytes), enums and numpy scalars by value, a number not measured (NaN)
    as null (checked by the encoder for free; walked only when there is one)."""
    try:
        return json.dumps(obj, separators=(",", ":"), default=_jsonable, allow_nan=False)
    except ValueError:
        return json_text.dumps(obj, separators=(",", ":"), default=_jsonable)


def _jsonable(x):
    if hasattr(x, "value"):
        return x.value
    if hasattr(x, "item"):
        return x.item()
    return str(x)


def write_json(path: Path, obj, default=float) -> None:
    """A run folder's JSON file (summary, state, level history, a postmortem, ...), indented, written whole
    (``write_whole``): a live run rewrites its summary and state as it goes."""
    text = json_file_text(obj, default)  # (before any file is made)
    write_whole(path, lambda f: f.write(text.encode()))


def json_file_text(obj, default=float) -> str:
    """A run folder's JSON file's text, as ``write_json`` writes it: indented, NaN (not measured) as null."""
    return json_text.dumps(obj, indent=2, default=default)


def stage_json(path: Path, obj, default=float) -> bytes:
    """``write_json``'s file in place at once, without waiting for the disk: written to the same temporary file and
    renamed over its name, not fsynced (some 100 µs, where the fsyncs take ms, on a busy disk hundreds). A process
    killed outright a moment later keeps it (the kernel still writes what it was given); only the host going down
    before the file is written whole again (``write_bytes_whole`` of what this returns, off the event loop) can lose
    it. OSError when it cannot be written. Returns the file's bytes: the durable write writes them, not ``obj``
    again, which the loop may change meanwhile."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json_file_text(obj, default).encode()
    tmp = temporary_path(path)
    tmp.write_bytes(data)
    tmp.replace(path)
    return data


def write_bytes_whole(path: Path, data: bytes) -> None:
    """``data`` as the file at ``path``, written whole (``write_whole``)."""
    write_whole(path, lambda f: f.write(data))


def temporary_path(path: Path) -> Path:
    """Where ``write_whole`` writes ``path`` before renaming it: hidden beside it, left only by a kill mid-write."""
    return path.with_name(f".{path.name}.tmp")


def write_whole(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """``write(f)`` into a temporary file beside ``path`` (``temporary_path``), then renamed over it: a crash or a
    Ctrl-C mid-write leaves the previous file whole (or none), never half of the new one under its name (a kill
    while a timeline was drawn left a truncated PNG; a full disk, a 0-byte state.json.tmp). The new file reaches the
    disk before the rename, and the rename before this returns: after a power loss the rename alone could survive,
    over an empty file (a state.json without its last_nonce stops the next start until it is removed)."""
    write_all_whole({path: write})


def write_all_whole(files: dict[Path, Callable[[BinaryIO], object]]) -> None:
    """``write_whole`` for files that describe each other (a calibration's parameters and its report): every one is
    written to its temporary file, and on disk, before the first is renamed over its name, so a failure while they
    are written (a full disk, a Ctrl-C) leaves each earlier file as it was and no temporary file behind."""
    staged = []
    try:
        for path, write in files.items():
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = temporary_path(path)
            staged.append((tmp, path))
            with open(tmp, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
        for tmp, path in staged:
            tmp.replace(path)
    except BaseException:  # a disk full, a Ctrl-C: no half-written temporary file left beside the old one
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for folder in dict.fromkeys(path.parent for _, path in staged):  # the renames themselves: the directories'
        _fsync_folder(folder)                                         # entries


def _fsync_folder(folder: Path) -> None:
    """The folder's entries on disk (not possible on every platform: best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def run_folder_sink(writer: JsonlWriter, folder: Path, live: bool = False,
                    wrote: Callable[[Path], object] | None = None,
                    durable: Callable[[Callable[[], object], Path], object] | None = None) -> Callable[[dict], None]:
    """A run folder's record sink: every record to the decision log, and a Kill's postmortem also to a file of
    its own, the first thing an operator opens after one: ``postmortem.json`` for a simulated run (one run a
    folder), ``postmortem-<UTC time>.json`` for a live one (its folder carries on over restarts and may see
    several Kills; none is ever overwritten). ``wrote(path)``: told each postmortem file once written (the live
    Kill's latch names it). ``durable(write, path)``: the file is put in place at once (``stage_json``, no fsync)
    and ``write()`` (its ``write_json``) handed to it to run off the event loop: the sink runs in the Kill's cycle,
    before its cancels leave, and two fsyncs there held them back (0.4 s at 200 ms an fsync)."""
    folder = Path(folder)

    def sink(rec: dict) -> None:
        writer.write(rec)
        if rec.get("type") == "postmortem":
            name = "postmortem.json"
            if live:
                ts = rec.get("ts")
                stamp = datetime.fromtimestamp(ts, timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ") \
                    if isinstance(ts, (int, float)) and 0 <= ts < 1e11 else "undated"
                name = f"postmortem-{stamp}.json"
            path = folder / name
            n = 1
            while live and path.exists():
                n += 1
                path = folder / f"{name[:-5]}-{n}.json"
            if durable is None:
                write_json(path, rec, default=str)
            else:
                data = stage_json(path, rec, default=str)
                durable(functools.partial(write_bytes_whole, path, data), path)
            if wrote is not None:
                wrote(path)
    return sink


def _only_an_empty_log(files: list[Path], folder: Path) -> bool:
    """Whether the log is a live file of 0 bytes alone: a run killed before its first line. A segment beside it
    (the live file is empty right after a rotation), or a single byte (a torn line), is a run's."""
    try:
        return files == [folder / "decisions.jsonl"] and files[0].stat().st_size == 0
    except OSError:  # gone meanwhile, or unreadable: not known to be empty
        return False


def refuse_earlier_run(folder: Path, advice: str) -> None:
    """A simulated run's folder must not hold an earlier run's decision log: the new run's lines would
    be appended to it (the writer never truncates) while its summary replaced the earlier one's, one
    folder then describing two runs. FileExistsError naming the folder and the file, with ``advice``.
    (A live run carries its folder's log on instead: one audit trail per account.) A path that is a
    file, not a folder, is refused alike. A log of 0 bytes and no segments is no run's: a run killed between
    creating it and writing its start line leaves one, and refusing it would lose nothing but the folder."""
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} exists and is not a folder")
    files = log_files(folder / "decisions.jsonl")
    if files and not _only_an_empty_log(files, folder):
        raise FileExistsError(f"{folder} already holds a run ({files[0].name}{' and more' if len(files) > 1 else ''}); "
                              f"a new run would be mixed into its decision log: {advice}")


def refuse_another_live_run(folder: Path, *, base_url: str, account: str, coin: str) -> None:
    """A live run carries its folder's log on (one audit trail per account), but only a log of the same venue,
    account and coin: a twin run's log (simulated seconds from 0) read as a date of 1970 in the audit and mixed
    its run's summary away, another coin's was fitted as one market by calibration, another account's mixed two
    accounts' fills in one trail. FileExistsError naming the folder and what differs; a folder whose log has
    no start line (a scenario's) is refused too. The log's first start line says what it is; an empty log (a run
    killed before its first line) says nothing, and is carried on; so is a log that is one line cut short and
    nothing more (a disk full, or a host down, as a run wrote its start line): it was refused as no live run's, and
    every start after it, the folder's trail stuck. The writer ends the cut line; the readers say it as a cut."""
    from agent.run_lock import venue_key
    files = log_files(folder / "decisions.jsonl")
    if not files or _only_an_empty_log(files, folder):
        return
    first = next(iter(log_lines(files[:1])), "")
    rec = json_text.loads_object(first)
    if rec is None and not first.endswith("\n") and files == [folder / "decisions.jsonl"]:
        return  # (one line and no newline after it: cut where the first write stopped; no record of any run)
    if rec is None or rec.get("type") != "start":
        raise FileExistsError(f"{folder} holds a log that is not a live run's ({files[0].name} opens with no start "
                              f"line): give the live run a folder of its own")
    if rec.get("venue") != "live":
        raise FileExistsError(f"{folder} holds a {rec.get('venue')} run's log: a live run's records would be mixed "
                              f"into it; give the live run a folder of its own")
    # compared as keys (a venue however spelt, an account in any case), said as written: the operator typed
    # http://127.0.0.1:3001, and "another venue http://loopback:3001" named a host that is in neither command
    was_said = {"venue": str(rec.get("base_url", "")), "account": str(rec.get("account", "")), "coin": rec.get("coin")}
    now_said = {"venue": base_url, "account": account, "coin": coin}
    was = {"venue": venue_key(was_said["venue"]), "account": was_said["account"].lower(), "coin": was_said["coin"]}
    now = {"venue": venue_key(base_url), "account": account.lower(), "coin": coin}
    differ = [f"{k} {was_said[k]} (now {now_said[k]})" for k in was if was[k] != now[k]]
    if differ:
        raise FileExistsError(f"{folder} holds the log of a live run on another {', '.join(differ)}: one folder is "
                              f"one account's trail on one coin; give this run a folder of its own")


# why a gzipped file of 0 bytes is lost, and a closed plain segment of 0 bytes (see ``_lost_whole``)
ZERO_BYTES = "0 bytes, not even gzip's header"
ZERO_BYTES_CLOSED = "0 bytes, and the writer closes a segment only with lines in it"

# told of a file of a log that cannot be read on (see ``read_lines``): the file, how many of its lines were read
# before it stopped, and why (``not gzip data``, ``cut short``, ``damaged gzip data: ...``, or one of the two above)
LostFile = Callable[[Path, int, str], None]

# a closed segment's name, plain (``segment_path``: decisions-000001.jsonl); the file being written has none such
_CLOSED_SEGMENT = re.compile(r".+-\d{6,}\.[^.]+")


def read_jsonl(path: str | Path) -> tuple[list[dict], int]:
    """All complete records of one file (gzipped if its name ends in .gz), and how many torn or
    malformed lines (undecodable ones too) were skipped; a gzipped file that cannot be read on counts
    once there, whatever it lost (``inspect.LogReader`` names it, and how far it was read)."""
    out: list[dict] = []
    bad = 0

    def undecodable() -> None:
        nonlocal bad
        bad += 1

    for line in read_lines(Path(path), undecodable):
        try:
            out.append(json.loads(line))
        except (ValueError, RecursionError):  # (RecursionError: nested past json's limit, no line a writer made)
            bad += 1
    return out, bad


def read_log(path: str | Path) -> tuple[list[dict], int]:
    """All complete records of the log at ``path``, across its segments, in writing order, and how many
    torn or malformed lines were skipped (as ``read_jsonl`` counts them)."""
    out: list[dict] = []
    bad = 0
    for p in log_files(path):
        recs, b = read_jsonl(p)
        out += recs
        bad += b
    return out, bad


def log_lines(files: list[Path], progress: Callable[[int], None] | None = None,
              undecodable: Callable[[], None] | None = None, lost: LostFile | None = None) -> Iterator[str]:
    """The lines of a log's files (``log_files``), in writing order, streamed. ``progress``, for a progress
    bar, is called with each line's size, and with a gzipped file's size on disk once it is read, so that
    the files' sizes on disk are the total (lines are ASCII: their characters are bytes). A line that is
    not UTF-8 text is skipped, and a gzipped file that cannot be read on is left (see ``read_lines``)."""
    for f in files:
        gz = f.suffix == ".gz"
        for line in read_lines(f, undecodable, lost):
            if progress is not None and not gz:
                progress(len(line))
            yield line
        if progress is not None and gz:
            progress(size_on_disk(f))


def numbered_log_lines(files: list[Path], progress: Callable[[int], None] | None = None, lost: LostFile | None = None
                       ) -> Iterator[tuple[Path, int, str | None]]:
    """(file, line number, text) of each non-blank line of a log's files, in writing order, for a reader that must
    say where a line is (the replay): ``log_lines`` with each line's place. The file is the one read (a segment
    gzipped while the log was read is its ``.gz``). ``text`` is None for a line that could not be read, which
    ``log_lines`` skips: bytes that are not UTF-8 text, or the end of a gzipped file cut short (numbered as the
    line after the last one read). With ``lost``, a gzipped file that cannot be read on is told to it instead (as
    in ``read_lines``), before the next line is given: the rest of a file lost, not one line. ``progress`` as in
    ``log_lines``."""
    for f in files:
        gz = f.suffix == ".gz"
        for item in _lines(f, None, True, lost):
            if progress is not None and not gz and item[2] is not None:
                progress(len(item[2]))
            yield item
        if progress is not None and gz:
            progress(size_on_disk(f))


def read_lines(path: Path, undecodable: Callable[[], None] | None = None, lost: LostFile | None = None
               ) -> Iterator[str]:
    """The non-blank lines of one file of a log, as written (newline kept), gzipped if its name ends in
    .gz: streamed, for logs too large to hold. A line that is not UTF-8 text (a disk's garbage, or a file
    that is no log) is skipped as a torn line is, and ``undecodable``, for a count, called for it: the
    lines before and after it still read. A gzipped file cut short, damaged or not gzip at all (a copy
    interrupted, a disk full, a plain file named .gz) ends where it stops reading: its lines before, and
    the files after it, still read. ``lost`` is then told the file, how many of its lines were read and why
    it stopped (a whole segment not gzip is every line of it lost, not one torn line); without ``lost``,
    ``undecodable`` is called once for it. A file of 0 bytes where the writer never leaves one (a .gz, or a closed
    plain segment: ``_lost_whole``) is lost whole, told alike. A plain segment gzipped after the log's files were
    listed is read from its ``.gz``, and a ``.gz`` gunzipped from its plain copy (see ``_open``)."""
    return _lines(path, undecodable, False, lost)


def _lines(path: Path, undecodable: Callable[[], None] | None, numbered: bool, lost: LostFile | None = None
           ) -> Iterator:
    """``read_lines``'s lines, or with ``numbered`` (file read, line number, text or None: see
    ``numbered_log_lines``); one loop for both, the log's reader being the hot one."""
    fh, path = _open(path)
    with fh:
        n = 0
        why = _lost_whole(fh, path)
        if why is not None:
            if lost is not None:
                lost(path, 0, why)
                return
            if undecodable is not None:
                undecodable()
            if numbered:
                yield path, 1, None
            return
        try:
            for n, line in enumerate(fh, 1):
                if not line.isascii():  # the writer's lines are ASCII: only another writer's or garbage are not
                    try:
                        line.encode("utf-8")
                    except UnicodeEncodeError:  # a surrogate: bytes that are not UTF-8
                        if undecodable is not None:
                            undecodable()
                        if numbered:
                            yield path, n, None
                        continue
                if line.strip():
                    yield (path, n, line) if numbered else line
        except (EOFError, gzip.BadGzipFile, zlib.error) as e:  # (only gzip raises these)
            if lost is not None:
                lost(path, n, _why_unreadable(e))
                return
            if undecodable is not None:
                undecodable()
            if numbered:
                yield path, n + 1, None


def _lost_whole(fh: IO[str], path: Path) -> str | None:
    """Why ``path`` (``fh``, just opened) is a segment whose data was lost though it opens, or None: a file of 0 bytes
    where the writer never leaves one. gzip's smallest file (no line in it) is its 18-byte header and trailer, so no
    .gz of a log is 0 bytes; nor is a closed plain segment: the writer closes one only after a line has taken it past
    its size, and syncs it to disk before it takes its numbered name (``JsonlWriter._rotate``); and a copy being made
    is not read in place of a whole one beside it (gzip's NAME.gz, 0 bytes as it starts, and gunzip's NAME alike:
    ``_whole_copy``). Either is a copy onto a full disk, a file truncated, a power loss on a disk that lied about the
    sync. The file being written (no number in its name: ``decisions.jsonl``) is 0 bytes legitimately: a run that has
    written nothing yet, or just after a rotation."""
    if path.suffix == ".gz":
        return ZERO_BYTES if os.fstat(fh.buffer.fileobj.fileno()).st_size == 0 else None  # (the file opened)
    if _CLOSED_SEGMENT.fullmatch(path.name) and os.fstat(fh.fileno()).st_size == 0:
        return ZERO_BYTES_CLOSED
    return None


def _why_unreadable(e: Exception) -> str:
    """Why a gzipped file of a log stopped reading, for a person."""
    if isinstance(e, EOFError):
        return "cut short"
    if str(e).startswith("Not a gzipped file"):
        return "not gzip data"
    return f"damaged gzip data: {e}"


def _open(path: Path) -> tuple[IO[str], Path]:
    """One of a log's files opened for reading as text (bad bytes as lone surrogates), and the file opened.

    A closed segment may be gzipped (or gunzipped) while the agent runs, and so while a reader goes through the list
    of files it took at its start: gzip writes ``NAME.gz`` whole, then removes ``NAME``; gunzip writes ``NAME`` whole,
    then removes ``NAME.gz``. A segment gone when its turn comes is read from its other copy then, from its start
    (nothing of the one listed was read: an open file stays readable when removed). One gone with no other copy
    beside it (moved away meanwhile) is a FileNotFoundError naming it."""
    def opened(p: Path) -> IO[str]:
        opener = gzip.open if p.suffix == ".gz" else open
        return opener(p, "rt", encoding="utf-8", errors="surrogateescape")  # bad bytes: lone surrogates

    try:
        return opened(path), path
    except FileNotFoundError:
        pass
    if path.name.endswith(_CLOSING):  # synced and named meanwhile (``close_segment``)
        other = path.with_name(path.name[1:-len(_CLOSING)])
    else:
        other = path.with_suffix("") if path.suffix == ".gz" else path.with_name(path.name + ".gz")
    try:
        return opened(other), other
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: a file of the log, gone when its turn came to be read, and no {other.name} "
                                f"beside it (moved away while the log was read?)") from None


def size_on_disk(path: Path) -> int:
    """A file's size on disk for a progress bar; 0 for one gone meanwhile (moved away, or gzipped)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0
