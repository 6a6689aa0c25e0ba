"""The audit tools on the folders a real run leaves: a journal ending at its shutdown, a journal line damaged or of
the wrong type, a decision log torn by a crash where the cut looks like a whole line, a segment gzipped while the
log is read. Each was a wrong answer (a difference blamed on the code, a line without its place, a torn record
counted or given to jq as JSON) or a traceback."""
from __future__ import annotations

import gzip
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from recorded_session import journalled_session
from test_event_log import _journalled_run

from agent.audit.__main__ import main
from agent.audit.inspect import LogReader, overview
from agent.audit.records import JsonlWriter, log_files, read_log, to_line
from agent.audit.replay import replay_folder


def _run_shut_down(folder, seed: int, seconds: float) -> None:
    """A journalled run that ends as the live driver ends it: the shutdown journalled, then the core's shutdown,
    its records written at once, and nothing handled after (the venue unreachable at the end, say)."""
    from agent.config import AgentConfig

    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}})
    ex, driver, log, j = journalled_session(folder, cfg, seed)
    driver.start()
    ex.env.run(until=seconds)
    j.shutdown(ex.env.now)
    driver.stop()  # the core's shutdown, its records to the log at once
    driver.die()
    log.write({"type": "end", "ts": ex.env.now, "reason": "SIGINT"})
    log.close()
    j.close()


# ---------------------------------------------------------------------------------------------- the replay

def test_a_run_whose_journal_ends_at_its_shutdown_replays_identically(tmp_path, capsys):
    """The shutdown's records (its pull) are in the log at once; the replay compared them only when a later event
    drained them, so a journal ending at its shutdown was reported to differ at the log's last record."""
    _run_shut_down(tmp_path, 2, 30.0)
    records, _ = read_log(tmp_path / "decisions.jsonl")
    assert records[-2]["type"] == "commands" and records[-2]["on"] == "shutdown"
    (run,) = replay_folder(tmp_path)
    assert run.identical and run.shut_down and run.records == len(records) - 2  # all but the start and end lines
    assert main([str(tmp_path), "--replay"]) == 0 and "all identical to the log" in capsys.readouterr().out
    # and a log holding a record past the shutdown's still differs: the replay gives no more
    log = tmp_path / "decisions.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    extra = to_line({"type": "commands", "ts": 30.0, "on": "Timer", "commands": ["CancelAll"]}) + "\n"
    log.write_text("".join(lines[:-1]) + extra + lines[-1])  # before the end line
    (run,) = replay_folder(tmp_path)
    assert run.difference[2] == "(the replay gives no more records)" and run.difference[0] == run.records + 1


def test_a_run_whose_cycles_the_liquidation_rule_sized_replays_identically_and_the_audit_says_the_rule(
        tmp_path, capsys):
    """Cycles whose reducing side the liquidation rule sized down (AgentCore._liquidation_exposure) carry its steps
    (liquidation_px, liquidation_distance, liquidation_counted_out) in their records, which the replay gives as the
    run logged them, and the audit's view of such a cycle says the rule in words. A twin session at Full whose
    snapshots, as the core gets them (and the journal holds them), put the position's liquidation price 0.2% from its
    entry, within the rule's 1% of the mid while the mid stays near it (the twin's BTC account, well margined, has
    none: the venue's null)."""
    import dataclasses
    import math

    from agent.config import AgentConfig
    from agent.gateway.events import AccountSnapshot

    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}})
    ex, driver, log, j = journalled_session(tmp_path, cfg, 2)
    handle = driver.on_event

    def on_event(event):  # (between the gateway and the driver: what the core gets is what the journal holds)
        if type(event) is AccountSnapshot and event.position:
            event = dataclasses.replace(event, liquidation_px=event.entry_px * (1.0 - math.copysign(0.002,
                                                                                                 event.position)))
        handle(event)
    driver.on_event = on_event
    driver.start()
    ex.env.run(until=150.0)
    log.close()
    j.close()
    records, _ = read_log(tmp_path / "decisions.jsonl")
    near = [r for r in records if r["type"] == "cycle" and any(a[0] == "liquidation_px" for a in r["adjustments"])]
    assert len(near) > 10, len(near)
    (run,) = replay_folder(tmp_path)
    assert run.identical and run.records == len(records) - 1  # every record but the start line
    rec = near[0]
    steps = {a[0]: a[1] for a in rec["adjustments"]}
    pos = rec["inputs"]["position"]
    assert steps["liquidation_counted_out"] == pos != 0.0
    lq, mid = steps["liquidation_px"], rec["inputs"]["mid"]
    assert steps["liquidation_distance"] == pytest.approx(math.copysign(1.0, pos) * (mid - lq) / mid, rel=1e-12)
    assert steps["liquidation_distance"] < 0.01
    assert main([str(tmp_path), "--at", str(rec["ts"])]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"cycle {rec['cycle']} at ") and "the liquidation price" in text
    assert f"sized as if the venue had taken the position ({pos:.10g} counted out)" in text, text


def test_sigterm_during_a_replay_exits_143_saying_it_is_incomplete(tmp_path, signalled_once_started):
    """``kill PID`` killed a replay (minutes, for a week's journal) as kill -9 does (exit -15, nothing said); it now
    ends as Ctrl-C does, naming the signal."""
    import os
    import time

    one = tmp_path / "one"
    _run_shut_down(one, 3, 900.0)
    folder = tmp_path / "run"
    folder.mkdir()
    for name in ("events.jsonl", "decisions.jsonl"):  # the same run 15 times over: seconds of replay
        (folder / name).write_text((one / name).read_text() * 15)
    events = str((folder / "events.jsonl").resolve())
    seen: list[float] = []

    def reading(proc, err) -> bool:  # the journal open in the process for 0.2 s: the replay is under way
        try:
            if not seen and any(os.readlink(fd) == events for fd in Path(f"/proc/{proc.pid}/fd").iterdir()):
                seen.append(time.monotonic())
        except OSError:  # (a descriptor closed meanwhile)
            pass
        return bool(seen) and time.monotonic() - seen[0] > 0.2
    code, stdout, err = signalled_once_started(["agent.audit", str(folder), "--replay"], reading)
    assert code == 143, err
    assert err == "interrupted (SIGTERM): the replay is incomplete\n" and stdout == b""


def _damage_journal(folder, make_bad) -> int:
    """The journal's first book update past line 100 replaced by ``make_bad(its record, its text)``: the line's
    number."""
    events = folder / "events.jsonl"
    lines = events.read_text().splitlines(keepends=True)
    i = next(i for i, line in enumerate(lines) if i > 100 and json.loads(line).get("e") == "BookUpdated")
    lines[i] = make_bad(json.loads(lines[i]), lines[i])
    events.write_text("".join(lines))
    return i + 1


def test_a_journal_field_of_the_wrong_type_is_refused_naming_the_file_and_line(tmp_path, capsys):
    """"error: BookUpdated.bids[0][0] None: not a number" said what but not where, in a journal of millions of
    lines. The file and line come first, as calibration says them."""
    _journalled_run(tmp_path, 2, 1.0)

    def no_price(d, _):
        d["bids"][0][0] = None
        return json.dumps(d) + "\n"
    n = _damage_journal(tmp_path, no_price)
    assert main([str(tmp_path), "--replay"]) == 2
    assert capsys.readouterr().err == (f"error: {tmp_path / 'events.jsonl'}: line {n}: BookUpdated.bids[0][0] None: "
                                       f"not a number\n")
    # a shutdown line's time, which no event class checks
    other = tmp_path / "other"
    _journalled_run(other, 2, 0.5)
    with open(other / "events.jsonl", "a") as fh:
        fh.write('{"e":"shutdown","ts":"soon"}\n')
    n = len((other / "events.jsonl").read_text().splitlines())
    assert main([str(other), "--replay"]) == 2
    assert capsys.readouterr().err == (f"error: {other / 'events.jsonl'}: line {n}: shutdown.ts 'soon': not a "
                                       f"finite time\n")


def test_an_event_the_core_fails_on_is_said_with_its_line_by_the_replay_and_the_fit(tmp_path, capsys):
    """A live run whose core raised on an event stops there (exit 4, "core error"), its journal holding the event:
    the replay an operator then runs to reproduce it, and calibration's fit, ended on the core's traceback. Here the
    core is made to fail by an ask of 1e308 (finite, so the journal's decoder takes it) in the bbo pushes."""
    from calibration.__main__ import main as calibrate
    _journalled_run(tmp_path, 2, 1.0)
    events = tmp_path / "events.jsonl"
    lines = events.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        d = json.loads(line)
        if i > 100 and d.get("e") == "BboUpdated":
            d["ask"] = 1e308
            lines[i] = json.dumps(d) + "\n"
    events.write_text("".join(lines))
    for run in (lambda: main([str(tmp_path), "--replay"]),
                lambda: calibrate([str(tmp_path), "--replay-hours", "0", "--quiet"])):
        assert run() == 2
        err = capsys.readouterr().err
        assert re.fullmatch(rf"error: {re.escape(str(events))}: line \d+: the core failed on this \w+ "
                            rf"\(OverflowError: [^\n]*, raised at agent/[\w/]+\.py:\d+ in \w+\): the run stopped there "
                            rf"if it was live [^\n]*\n", err), err  # (where: the traceback's last frame, its evidence)
    assert not (tmp_path / "calibration").exists()


def test_a_journal_line_damaged_mid_run_is_refused_as_damage_not_reported_as_a_difference(tmp_path, capsys):
    """A line cut or garbled in the middle of a run (a disk's or a copy's error; a crash cuts only a run's last)
    was skipped, and the replay, an event short, then said the decisions differ: the code blamed for the disk."""
    _journalled_run(tmp_path, 2, 1.0)
    n = _damage_journal(tmp_path, lambda _, text: text[:20] + "\n")
    assert main([str(tmp_path), "--replay"]) == 2
    out, err = capsys.readouterr()
    assert "differs" not in out and err.startswith(f"error: {tmp_path / 'events.jsonl'}: line {n}: not a whole JSON "
                                                   f"line, and not the last of its run")
    assert "the journal is damaged" in err
    # bytes that are not text, alike
    other = tmp_path / "other"
    _journalled_run(other, 2, 1.0)
    n = _damage_journal(other, lambda _, text: "GARBAGE\n")
    raw = (other / "events.jsonl").read_bytes().replace(b"GARBAGE", b"\xff\xfe\x80 {")
    (other / "events.jsonl").write_bytes(raw)
    assert main([str(other), "--replay"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {other / 'events.jsonl'}: line {n}: not a whole JSON line")


_TOO_DEEP = "[" * 100_000 + "]" * 100_000  # JSON nested past the json module's recursion limit


def test_a_line_nested_past_jsons_limit_is_damage_not_a_recursion_error_traceback(tmp_path, capsys):
    """json.loads raises RecursionError, not ValueError, on such a line: agent.audit --json and read_log ended on
    its traceback, and the replay too for a journal line."""
    log = tmp_path / "decisions.jsonl"
    with JsonlWriter(log) as w:
        w.write(_cycle(0))
    with open(log, "a") as fh:
        fh.write('{"type":"cycle","ts":0.5,"inputs":%s}\n' % _TOO_DEEP)
    with JsonlWriter(log) as w:
        w.write(_cycle(2))
    assert main([str(tmp_path), "--json"]) == 0
    assert [json.loads(line)["cycle"] for line in capsys.readouterr().out.splitlines()] == [0, 2]
    recs, bad = read_log(log)
    assert [r["cycle"] for r in recs] == [0, 2] and bad == 1
    journal = tmp_path / "journal"
    _journalled_run(journal, 2, 1.0)
    n = _damage_journal(journal, lambda d, _: '{"e":"%s","ts":%r,"bids":%s}\n' % (d["e"], d["ts"], _TOO_DEEP))
    assert main([str(journal), "--replay"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {journal / 'events.jsonl'}: line {n}: nested past json's depth "
                                              f"limit")  # (it was "not a whole JSON line": it is whole)


@pytest.mark.parametrize("end", ["\n", ""])
def test_a_journal_line_nested_past_jsons_limit_at_a_runs_end_is_damage_not_a_crashs_cut(tmp_path, capsys, end):
    """At the journal's end, or before a restart's start line, such a line was "left out: ..., the run's last
    journal line, cut by a crash mid-write": no writer's line nests so deep, whole or cut, so it is damage."""
    _journalled_run(tmp_path, 2, 1.0)
    events = tmp_path / "events.jsonl"
    n = len(events.read_text().splitlines()) + 1
    with open(events, "a") as fh:
        fh.write('{"e":"BookUpdated","ts":1.0,"bids":%s}%s' % (_TOO_DEEP, end))
    for restarted in (False, True):
        if restarted:
            _journalled_run(tmp_path, 5, 1.0)
        assert main([str(tmp_path), "--replay"]) == 2
        out, err = capsys.readouterr()
        assert "left out" not in out and "cut by a crash" not in err, out + err
        assert err.startswith(f"error: {events}: line {n}: nested past json's depth limit"), err
        assert "the journal is damaged" in err and err.count("\n") == 1


@pytest.mark.parametrize("end", ["\n", ""])
def test_a_log_line_nested_past_jsons_limit_at_a_runs_end_is_damage_named_not_a_crashs_cut(tmp_path, capsys, end):
    """The file's last line (whole, no newline: it parses to its end but for its depth), or one before a restart's
    start line, was counted "1 torn line skipped (cut by a crash mid-write: a run's last)"."""
    log = tmp_path / "decisions.jsonl"
    with JsonlWriter(log) as w:
        w.write(_cycle(0))
    with open(log, "a") as fh:
        fh.write('{"type":"cycle","ts":0.5,"inputs":%s}%s' % (_TOO_DEEP, end))
    if end:  # a restart's start line after it
        with JsonlWriter(log) as w:
            w.write({"type": "start", "ts": 1.0, "venue": "twin"})
    ov = overview(LogReader(log))
    assert ov.skipped == 1 and ov.cut == 0
    assert main([str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "torn" not in printed and (f"1 unreadable line skipped (damaged inside the log: {log}: line 2 nested past "
                                      f"json's depth limit)") in printed, printed


def test_many_log_lines_nested_past_jsons_limit_are_named_a_few_and_counted_not_each_on_the_overview_line(
        tmp_path, capsys):
    """Each such line was named on the overview's first line: 2,000 of them (a file of garbage given as a log, a disk's
    damage) made it 141,000 characters. The first few are named, the rest counted, as many as were skipped."""
    log = tmp_path / "decisions.jsonl"
    with JsonlWriter(log) as w:
        w.write(_cycle(0))
    with open(log, "a") as fh:
        fh.write(("[" * 1_200 + "]" * 1_200 + "\n") * 50)  # (past json's limit at the default 1,000)
    with JsonlWriter(log) as w:
        w.write(_cycle(1))
    assert main([str(tmp_path)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "50 unreadable lines skipped (damaged inside the log: " in first, first
    assert f"{log}: line 2 nested past json's depth limit; {log}: line 3" in first and f"{log}: line 51" not in first
    assert first.endswith("; and 47 more nested past json's depth limit)") and len(first) < 1_000, first


def test_a_journal_line_cut_by_a_crash_before_a_restart_is_left_out_and_said(tmp_path, capsys):
    """The one place a crash cuts a line, the run's last (the restarted writer ends it before the next start
    record): left out, the replay going on, and said with its place."""
    _journalled_run(tmp_path, 2, 1.0)
    events = tmp_path / "events.jsonl"
    lines = events.read_text().splitlines(keepends=True)
    events.write_text("".join(lines[:-1]) + lines[-1][:15])  # the first run killed mid-write
    _journalled_run(tmp_path, 5, 1.0)  # restarted into the folder
    assert events.read_text().splitlines()[len(lines) - 1] == lines[-1][:15]
    runs = replay_folder(tmp_path)
    assert [r.start["seed"] for r in runs] == [2, 5] and runs[1].identical and runs[1].left_out is None
    assert runs[0].left_out == f"{events}: line {len(lines)}"
    main([str(tmp_path), "--replay"])
    assert f"left out: {events}: line {len(lines)}, the run's last journal line" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------- the log's reader

def _cycle(i: int) -> dict:
    return {"type": "cycle", "cycle": i, "ts": i * 0.5, "inputs": {"mid": 100.0 + i}, "commands": [], "note": ""}


def _cut_after_a_brace(i: int) -> str:
    """Cycle ``i``'s line cut by a crash just after its inputs' closing brace: its head and last character are
    those of a whole line."""
    line = to_line(_cycle(i))
    return line[:line.index('},"commands"') + 1]


def test_a_torn_line_that_ends_in_a_brace_is_skipped_and_counted_not_counted_or_printed_as_json(tmp_path, capsys):
    log = tmp_path / "decisions.jsonl"
    with JsonlWriter(log) as w:
        for i in range(5):
            w.write(_cycle(i))
    with open(log, "a") as fh:
        fh.write(_cut_after_a_brace(5))  # the crash's cut: the file's last line, no newline
    recs, bad = read_log(log)
    ov = overview(LogReader(log))
    assert ov.records == Counter(r["type"] for r in recs) == Counter(cycle=5) and ov.skipped == bad == 1
    assert main([str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "5 records in 1 file; 1 torn line skipped (cut by a crash mid-write: a run's last)\n" in printed
    assert main([str(tmp_path), "--from", "0", "--json"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["cycle"] for line in printed] == list(range(5))  # (jq: "Unfinished JSON term")

    # a restart into the folder ends the torn line, and its start record follows it
    with JsonlWriter(log) as w:
        w.write({"type": "start", "ts": 10.0, "venue": "live"})
        w.write(_cycle(20))
    reader = LogReader(log)
    assert [(line.kind, line.ts) for line in reader] == [("cycle", i * 0.5) for i in range(5)] + [
        ("start", 10.0), ("cycle", 10.0)] and reader.skipped == 1
    assert main([str(tmp_path), "--from", "0", "--type", "cycle", "--json"]) == 0
    assert [json.loads(line)["cycle"] for line in capsys.readouterr().out.splitlines()] == list(range(5)) + [20]


def test_a_line_damaged_inside_mid_file_is_never_printed_as_json(tmp_path, capsys):
    """Not a crash's cut (those the reader finds), a disk's error: a line read by its head and closing brace alone
    looks whole. What is printed for jq is parsed first; the line is skipped."""
    log = tmp_path / "decisions.jsonl"
    with JsonlWriter(log) as w:
        w.write(_cycle(0))
    with open(log, "a") as fh:
        fh.write(_cut_after_a_brace(1) + "\n")
    with JsonlWriter(log) as w:
        w.write(_cycle(2))
    assert main([str(tmp_path), "--from", "0", "--json"]) == 0
    assert [json.loads(line)["cycle"] for line in capsys.readouterr().out.splitlines()] == [0, 2]
    assert main([str(tmp_path), "--at", "1.2", "--json"]) == 0  # the cycle in force, then what followed
    assert [json.loads(line)["cycle"] for line in capsys.readouterr().out.splitlines()] == [2]
    assert main([str(tmp_path), "--from", "0"]) == 0
    assert "cycle 1" not in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------- segments

def _segmented_log(folder) -> list[dict]:
    """A log of three closed segments and the live file; its records."""
    with JsonlWriter(folder / "decisions.jsonl", segment_bytes=2_000) as w:
        for i in range(80):
            w.write(_cycle(i))
    assert len(log_files(folder / "decisions.jsonl")) >= 4
    return read_log(folder / "decisions.jsonl")[0]


def _gzip(path) -> None:
    """As gzip does it: the .gz written whole, then the original removed."""
    with open(path, "rb") as src, gzip.open(str(path) + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    path.unlink()


def test_a_segment_gzipped_while_the_log_is_read_is_read_from_its_gz(tmp_path):
    """The README lets an operator gzip a closed segment while the agent runs; a reader listed the files once,
    and the plain segment it listed was gone when its turn came: a FileNotFoundError traceback."""
    records = _segmented_log(tmp_path)
    files = log_files(tmp_path / "decisions.jsonl")
    reader = LogReader(tmp_path / "decisions.jsonl")
    got = []
    for line in reader:
        got.append(line.ts)
        if len(got) == 3:  # the reader is in the first segment; the operator's gzip of the second completes
            _gzip(files[1])
    assert got == [r["ts"] for r in records] and reader.skipped == 0
    # the replay's reader names the file it read
    from agent.audit.records import numbered_log_lines
    where = [(f.name, n) for f, n, _ in numbered_log_lines(files)]
    assert (files[1].name + ".gz", 1) in where and len(where) == len(records)


def test_a_segment_moved_away_while_the_log_is_read_is_an_error_naming_it(tmp_path):
    """Moved away (archived) with no .gz left beside it, a segment's lines cannot be read: said, naming it, not read
    as if the log never had them."""
    _segmented_log(tmp_path)
    files = log_files(tmp_path / "decisions.jsonl")
    reader = iter(LogReader(tmp_path / "decisions.jsonl"))
    next(reader)
    files[1].rename(tmp_path / "archived.jsonl")
    with pytest.raises(FileNotFoundError, match=re.escape(f"{files[1]}: a file of the log, gone when its turn came")):
        list(reader)


@pytest.mark.parametrize("name, kind, argv", [
    ("decisions.jsonl", "fifo", []),
    ("decisions.jsonl", "zero", []),
    ("events.jsonl", "fifo", ["--replay"]),
    ("decisions.jsonl", "fifo", ["--replay"]),
])
def test_a_log_file_that_is_a_fifo_or_a_device_exits_2_naming_it_not_read_forever(tmp_path, name, kind, argv):
    """agent.audit streams a log to its end: a FIFO in its place waited for a writer for good, and a symlink to
    /dev/zero never ended (the calibration's journal had the same, fixed there first). Refused as what it is, by the
    file's name, before a byte is read; in a subprocess with a time limit and a memory cap, so that the old code
    fails the test rather than hanging it or taking the machine's memory."""
    import os
    import resource
    import subprocess
    import sys
    run = tmp_path / "run"
    run.mkdir()
    odd = run / name
    if kind == "fifo":
        os.mkfifo(odd)
    else:
        odd.symlink_to("/dev/zero")
    if name == "events.jsonl" or argv:  # (--replay reads the journal and the decision log both)
        other = run / ("decisions.jsonl" if name == "events.jsonl" else "events.jsonl")
        other.write_text("")

    def capped():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    try:
        done = subprocess.run([sys.executable, "-m", "agent.audit", str(run), *argv], capture_output=True, text=True,
                              timeout=60, preexec_fn=capped)
    except subprocess.TimeoutExpired:
        pytest.fail(f"agent.audit {' '.join(argv)} read its {kind} {name} for a minute")
    what = "a FIFO (a named pipe)" if kind == "fifo" else "a character device"
    log = "a live run's journal" if name == "events.jsonl" else "a decision log"
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: {odd}: {what}, not a regular file: {log} is one"), done.stderr


def test_a_record_whose_fields_have_other_shapes_is_shown_as_written_not_a_traceback(tmp_path, capsys):
    """A record that parses, with its type and time, but whose fields are not of the shapes this version writes (a
    hand edit, another version's log): the window's listing, ``--at`` and ``--plot`` ended on a TypeError or
    AttributeError traceback (``inputs`` a number, a fill's ``side`` a string). Each is shown as written."""
    log = tmp_path / "decisions.jsonl"
    odd_cycle = {"type": "cycle", "cycle": "a", "ts": 1.0, "inputs": 5, "quotes": "x", "commands": 7,
                 "adjustments": 3}
    odd_fill = {"type": "fill", "ts": 1.2, "px": "x", "sz": None, "side": "B"}
    odd_kill = {"type": "postmortem", "ts": 1.3, "reasons": 7, "live_orders": None}
    odd_venue = {"type": "venue_account_change", "ts": 1.4, "kind": "liquidation", "text": 5}
    with JsonlWriter(log) as w:
        for rec in (_cycle(0), odd_cycle, odd_fill, odd_kill, odd_venue, _cycle(4)):
            w.write(rec)
    assert main([str(tmp_path)]) == 0  # the overview
    printed = capsys.readouterr().out
    # (live_orders null is no list of one order: it said "1 live orders")
    assert "KILL        1.300  7 (postmortem: position None, live orders None)" in printed
    assert "venue       1.400  liquidation: 5" in printed
    assert main([str(tmp_path), "--from", "0"]) == 0
    printed = capsys.readouterr().out
    assert '"inputs": 5' in printed and '"side": "B"' in printed and "cycle 4" in printed
    assert main([str(tmp_path), "--at", "1.1"]) == 0
    printed = capsys.readouterr().out
    assert '"inputs": 5' in printed and '"side": "B"' in printed
    png = tmp_path / "log.png"
    assert main([str(tmp_path), "--plot", str(png)]) == 0
    assert png.stat().st_size > 0 and "3 cycles" in capsys.readouterr().out


@pytest.mark.parametrize("config", [5, None, {"risk": "x"}, {"risk": {"max_position": "lots"}}],
                         ids=["number", "null", "risk-string", "limit-string"])
def test_a_start_record_whose_config_has_another_shape_is_drawn_without_a_limit_not_a_traceback(tmp_path, capsys,
                                                                                                config):
    """--plot reads the position limit from the first start record's config.risk.max_position: a config of
    another shape (a hand edit, another version's log) ended on an AttributeError or ValueError traceback, where
    the overview and the listing of the same log showed it."""
    with JsonlWriter(tmp_path / "decisions.jsonl") as w:
        for rec in ({"type": "start", "ts": 0.0, "config": config}, _cycle(1), _cycle(2)):
            w.write(rec)
    png = tmp_path / "log.png"
    assert main([str(tmp_path), "--plot", str(png)]) == 0
    assert png.stat().st_size > 0 and "2 cycles" in capsys.readouterr().out
