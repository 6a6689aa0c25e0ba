"""The decision log in segments: every line in exactly one file, in order, whatever the sizes and crashes."""
from __future__ import annotations

import gzip
import io
import json
import shutil

import pytest
from hypothesis import given, settings, strategies as st

from agent.audit.records import (
    JsonlWriter, log_files, log_lines, numbered_log_lines, read_jsonl, read_log, segment_path, write_json,
)
from agent.config import AgentConfig, SessionConfig
from agent.session import run_session


def _rec(i: int, pad: int = 0) -> dict:
    return {"type": "cycle", "cycle": i, "pad": "x" * pad}


@settings(max_examples=60, deadline=None)
@given(pads=st.lists(st.integers(0, 300), min_size=1, max_size=80), segment=st.integers(1, 2_000))
def test_segments_hold_every_line_once_in_order(tmp_path_factory, pads, segment):
    path = tmp_path_factory.mktemp("log") / "decisions.jsonl"
    with JsonlWriter(path, segment_bytes=segment) as w:
        for i, pad in enumerate(pads):
            w.write(_rec(i, pad))
    records, bad = read_log(path)
    assert bad == 0 and [r["cycle"] for r in records] == list(range(len(pads)))
    files = log_files(path)
    assert files[:-1] == [segment_path(path, n) for n in range(1, len(files))] or not path.exists()
    for f in files[:-1]:  # a segment is closed at the first line that takes it to the size, not before
        lines = f.read_bytes().splitlines(keepends=True)
        assert sum(map(len, lines)) >= segment > sum(map(len, lines[:-1]))
    assert w.segments == len([f for f in files if f != path])


def test_a_closed_segment_is_never_written_again(tmp_path):
    path = tmp_path / "decisions.jsonl"
    w = JsonlWriter(path, segment_bytes=500)
    i = 0
    while not segment_path(path, 1).exists():
        w.write(_rec(i, 40))
        i += 1
        assert i < 100, "no segment after 100 lines of 60 bytes at a 500-byte segment size"
    first = segment_path(path, 1).read_bytes()
    for j in range(i, i + 200):
        w.write(_rec(j, 40))
    w.close()
    assert segment_path(path, 1).read_bytes() == first
    assert w.segments > 5


def test_a_restarted_writer_appends_and_numbers_on(tmp_path):
    path = tmp_path / "decisions.jsonl"
    with JsonlWriter(path, segment_bytes=300) as w:
        for i in range(20):
            w.write(_rec(i, 30))
    n_before = len(log_files(path))
    with open(path, "a") as fh:
        fh.write('{"type":"cycle","cyc')  # the process died mid-write
    # an operator gzipped the oldest segment meanwhile
    seg1 = segment_path(path, 1)
    with open(seg1, "rb") as src, gzip.open(seg1.with_name(seg1.name + ".gz"), "wb") as dst:
        shutil.copyfileobj(src, dst)
    seg1.unlink()
    with JsonlWriter(path, segment_bytes=300) as w:
        for i in range(20, 40):
            w.write(_rec(i, 30))
    records, bad = read_log(path)
    assert [r["cycle"] for r in records] == list(range(40)) and bad == 1  # the torn line, ended and skipped
    names = [p.name for p in log_files(path)]
    assert names[0] == "decisions-000001.jsonl.gz" and len(names) > n_before
    assert names == sorted(names[:-1]) + ["decisions.jsonl"]  # zero-padded: by name is by time


def test_a_segment_being_gzipped_is_read_once_from_its_whole_copy(tmp_path):
    path, seg1, data = _segment_and_its_gz(tmp_path)
    whole = gzip.compress(data)
    seg1.with_name(seg1.name + ".gz").write_bytes(whole[: len(whole) // 2])  # gzip halfway through
    records, bad = read_log(path)
    assert [r["cycle"] for r in records] == list(range(12)) and bad == 0
    assert seg1 in log_files(path)


def _segment_and_its_gz(tmp_path):
    """A log whose first segment is cut at every line's end, the segment's bytes and its whole gzip."""
    path = tmp_path / "decisions.jsonl"
    with JsonlWriter(path, segment_bytes=300) as w:
        for i in range(12):
            w.write(_rec(i, 30))
    seg1 = segment_path(path, 1)
    return path, seg1, seg1.read_bytes()


def test_a_segment_being_gunzipped_is_read_from_its_whole_gz_not_the_plain_copy_being_written(tmp_path):
    """gunzip writes NAME while NAME.gz is still there: the plain copy was read, as if gzip were at work on it, and a
    segment cut at a line's end gave its first lines only, nothing said. The .gz reads to its CRC: it is whole."""
    path, seg1, data = _segment_and_its_gz(tmp_path)
    seg1.with_name(seg1.name + ".gz").write_bytes(gzip.compress(data))
    first_line = data.index(b"\n") + 1
    for plain in (data[:first_line], b""):  # gunzip a line in, and as it starts
        seg1.write_bytes(plain)
        records, bad = read_log(path)
        assert [r["cycle"] for r in records] == list(range(12)) and bad == 0
        assert log_files(path)[0].name == "decisions-000001.jsonl.gz"


def test_a_gz_listed_and_gone_when_its_turn_comes_is_read_from_the_plain_copy_gunzip_left(tmp_path):
    """gunzip removes NAME.gz once NAME is whole: a reader that listed the .gz reads NAME (it raised)."""
    path, seg1, data = _segment_and_its_gz(tmp_path)
    gz = seg1.with_name(seg1.name + ".gz")
    gz.write_bytes(gzip.compress(data))
    files = log_files(path)
    assert files[0] == gz
    gz.unlink()  # gunzip done: NAME whole
    assert [(f, n) for f, n, _ in numbered_log_lines(files)][:2] == [(seg1, 1), (seg1, 2)]


def _readable(gz: bytes) -> bytes:
    """What a .gz gives before it stops (all of it when whole), read as the log's readers read it."""
    got = b""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(gz)) as z:
            while chunk := z.read1(64):
                got += chunk
    except (EOFError, OSError):
        pass
    return got


@settings(max_examples=150, deadline=None)
@given(way=st.sampled_from(["gzip", "gunzip", "gunzip of a cut .gz"]), cut=st.floats(0, 1), cut2=st.floats(0, 1))
def test_a_segment_found_plain_and_gzipped_is_read_whole_or_told_lost_never_short_unsaid(tmp_path_factory, way, cut,
                                                                                          cut2):
    """Whichever way a copy is under way and wherever it is, the segment's lines are all read, or it is told lost;
    when a whole copy is there (gzip's plain one, gunzip's .gz), all are read, told lost only when gzip has written
    all of the data but not its end (the plain copy then no longer than what the .gz gives)."""
    path, seg1, data = _segment_and_its_gz(tmp_path_factory.mktemp("log"))
    whole_gz = gzip.compress(data)
    gz = seg1.with_name(seg1.name + ".gz")
    cut_gz = whole_gz[:int(cut * len(whole_gz))]
    if way == "gzip":  # the plain one whole, the .gz being written
        gz.write_bytes(cut_gz)
    elif way == "gunzip":  # the .gz whole, the plain one being written
        seg1.write_bytes(data[:int(cut * len(data))])
        gz.write_bytes(whole_gz)
    else:  # gunzip of a .gz cut short: the plain one at most what the .gz gives
        gz.write_bytes(cut_gz)
        got = _readable(cut_gz)
        seg1.write_bytes(got[:int(cut2 * len(got))] if cut2 < 0.5 else got)
    told = []
    lines = [t for f, _, t in numbered_log_lines(log_files(path)[:1], lost=lambda *seg: told.append(seg))]
    expected = data.decode().splitlines(keepends=True)
    if told:
        assert way != "gunzip" and told[0][0] == gz and lines == expected[:told[0][1]]
    else:
        assert lines == expected
    if way == "gunzip" or (way == "gzip" and len(_readable(cut_gz)) < len(data)):
        assert not told


def test_a_segment_name_taken_by_hand_is_skipped_not_overwritten(tmp_path):
    path = tmp_path / "decisions.jsonl"
    w = JsonlWriter(path, segment_bytes=10_000)
    segment_path(path, 1).write_text('{"type":"mine"}\n')  # appeared after the writer started
    w.segment_bytes = 100
    w.write(_rec(0, 200))
    w.close()
    assert json.loads(segment_path(path, 1).read_text()) == {"type": "mine"}
    assert read_jsonl(segment_path(path, 2))[0] == [_rec(0, 200)]


def test_segments_closed_off_the_loop_are_read_meanwhile_and_named_by_the_next_writer_after_a_crash(tmp_path):
    """A live run closes its full segments in a thread (``off_loop``: the sync held the event loop): until then each
    is at its hidden closing name, read as its segment in order (``log_files``); one synced and named while the log
    is read is read from its final name; a crash before any is named leaves them, never under a final name unsynced,
    and the next writer in the folder syncs and names them, numbering on after them."""
    from agent.audit.records import closing_path
    path = tmp_path / "decisions.jsonl"
    closes: list = []
    w = JsonlWriter(path, segment_bytes=300, off_loop=closes.append)
    for i in range(20):
        w.write(_rec(i, 30))
    assert len(closes) >= 3 and not segment_path(path, 1).exists() and closing_path(segment_path(path, 1)).exists()
    assert [r["cycle"] for r in read_log(path)[0]] == list(range(20))  # (the closing files, in order)
    files = log_files(path)
    closes.pop(0)()  # the first synced and named after the reader listed the files
    assert segment_path(path, 1).exists() and not closing_path(segment_path(path, 1)).exists()
    assert [json.loads(line)["cycle"] for line in log_lines(files)] == list(range(20))
    w._fh.flush()  # (a crash: the other closings never ran)
    w2 = JsonlWriter(path, segment_bytes=300)
    w2.write(_rec(20, 30))
    w2.close()
    assert not list(tmp_path.glob(".*.closing")) and [r["cycle"] for r in read_log(path)[0]] == list(range(21))
    assert log_files(path)[:-1] == [segment_path(path, n) for n in range(1, len(log_files(path)))]


def test_segment_size_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="segment_bytes"):
        JsonlWriter(tmp_path / "d.jsonl", segment_bytes=0)
    with pytest.raises(ValueError, match="log_segment_mb"):
        AgentConfig.model_validate({"session": {"log_segment_mb": 0}})


@pytest.mark.parametrize("mb", [0.0001, 0.5, 0.999])
def test_a_config_segment_under_the_floor_is_refused_naming_the_field_and_the_floor(tmp_path, mb):
    """0.0001 MB was taken: 124 log files in 60 simulated seconds, one a line."""
    f = tmp_path / "agent.yaml"
    f.write_text(f"session:\n  log_segment_mb: {mb}\n")
    with pytest.raises(ValueError) as e:
        AgentConfig.load(f)
    assert "  session.log_segment_mb: Value error, must be at least 1 MB " in str(e.value)
    assert f"(got {mb})" in str(e.value) and str(f) in str(e.value)
    assert AgentConfig.model_validate({"session": {"log_segment_mb": 1}}).session.log_segment_bytes == 1_000_000


def test_a_session_log_in_segments_has_a_record_for_every_cycle(tmp_path, monkeypatch):
    monkeypatch.setattr(SessionConfig, "log_segment_bytes", property(lambda self: 20_000))  # (under the 1 MB floor)
    cfg = AgentConfig.model_validate({"quoting": {"order_size": 0.003}})
    s = run_session(cfg, 1, 120.0, tmp_path)
    records, bad = read_log(tmp_path / "decisions.jsonl")
    start = records[0]  # the run says what ran, with its whole config: the log stands on its own
    assert start["type"] == "start" and start["venue"] == "twin" and start["seed"] == 1
    assert start["duration_s"] == 120.0 and AgentConfig.model_validate(start["config"]) == cfg
    assert bad == 0 and len(log_files(tmp_path / "decisions.jsonl")) > 3
    assert sum(1 for r in records if r["type"] == "cycle") == s["cycles"]
    cycles = [r["cycle"] for r in records if r["type"] == "cycle"]
    assert cycles == sorted(cycles)


_WRITER = """
import sys
from agent.audit.records import JsonlWriter
w = JsonlWriter(sys.argv[1], flush_every=1, segment_bytes=int(sys.argv[2]))
i = 0
while True:
    w.write({"type": "cycle", "cycle": i, "pad": "x" * (i % 97)})
    i += 1
    if i == 200:
        print("going", flush=True)
"""


@pytest.mark.parametrize("segment", [700, 5_000])
def test_a_writer_killed_mid_stream_loses_no_flushed_line(tmp_path, segment):
    """SIGKILL at an arbitrary point of a stream that changes segment every few lines (a kill may land
    between a segment's rename and its fresh file): what was flushed is all there, in order, once, and
    a restarted writer carries on. (A torn line, which a line-at-a-time flush rarely leaves, is the
    restart test's.)"""
    import signal
    import subprocess
    import sys
    import time
    path = tmp_path / "decisions.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(segment)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"going\n"
        time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    records, bad = read_log(path)
    cycles = [r["cycle"] for r in records]
    assert len(cycles) > 200 and cycles == list(range(len(cycles))) and bad <= 1
    assert len(log_files(path)) > 2
    with JsonlWriter(path, segment_bytes=segment) as w:  # a restart carries on after it
        w.write({"type": "cycle", "cycle": len(cycles)})
    again, bad2 = read_log(path)
    assert [r["cycle"] for r in again] == list(range(len(cycles) + 1)) and bad2 == bad


def test_a_kill_s_postmortem_gets_a_file_of_its_own_never_overwritten_in_a_live_folder(tmp_path):
    from datetime import datetime, timezone

    from agent.audit.records import run_folder_sink
    t = datetime(2026, 11, 30, 14, 3, 22, 500000, tzinfo=timezone.utc).timestamp()
    pm = {"type": "postmortem", "ts": t, "reasons": ["drawdown 0.06 ≥ 0.05 → KILL"]}
    twin, live = tmp_path / "twin", tmp_path / "live"
    twin.mkdir(), live.mkdir()
    with JsonlWriter(twin / "decisions.jsonl") as w:
        sink = run_folder_sink(w, twin)
        sink({"type": "cycle", "cycle": 1, "ts": 1.0})
        sink(pm)
    assert json.loads((twin / "postmortem.json").read_text()) == pm
    with JsonlWriter(live / "decisions.jsonl") as w:
        sink = run_folder_sink(w, live, live=True)
        for reason in ("first", "second, same millisecond", "third"):  # a restarted agent killed again at once
            sink({**pm, "reasons": [reason]})
    files = sorted(p.name for p in live.glob("postmortem*.json"))
    assert files == ["postmortem-20261130T140322.500000Z-2.json", "postmortem-20261130T140322.500000Z-3.json",
                     "postmortem-20261130T140322.500000Z.json"]
    assert {json.loads((live / f).read_text())["reasons"][0] for f in files} == {"first", "second, same millisecond",
                                                                                  "third"}
    assert [r["reasons"][0] for r in read_jsonl(live / "decisions.jsonl")[0]] == ["first", "second, same millisecond",
                                                                                  "third"]


def test_a_run_folder_json_file_is_replaced_whole_or_not_at_all(tmp_path):
    """Summaries and state are rewritten while a live run goes on: a write that fails leaves the previous file
    as it was (never half of the new one, never a stray temporary file), and one that succeeds replaces it."""
    path = tmp_path / "summary.json"
    write_json(path, {"cycles": 1, "pnl": 0.5})
    assert json.loads(path.read_text()) == {"cycles": 1, "pnl": 0.5}

    def refuse(x):
        raise TypeError(f"cannot encode {x!r}")
    with pytest.raises(TypeError):
        write_json(path, {"cycles": 2, "bad": object()}, default=refuse)
    assert json.loads(path.read_text()) == {"cycles": 1, "pnl": 0.5} and sorted(tmp_path.iterdir()) == [path]
    write_json(path, {"cycles": 3})
    assert json.loads(path.read_text()) == {"cycles": 3} and sorted(tmp_path.iterdir()) == [path]
    import os

    def disk_full(fd):
        raise OSError(28, "No space left on device")
    real = os.fsync
    os.fsync = disk_full  # the data would not fit: the write fails at its flush to disk
    try:
        with pytest.raises(OSError):
            write_json(path, {"cycles": 4})
    finally:
        os.fsync = real
    # (a 0-byte state.json.tmp was left beside it: a review's full disk)
    assert json.loads(path.read_text()) == {"cycles": 3} and sorted(tmp_path.iterdir()) == [path]


def test_a_run_folder_json_file_reaches_the_disk_before_it_replaces_the_last(tmp_path, monkeypatch):
    """After a power loss the rename alone could survive, over a file whose data never reached the disk (an
    empty state.json, without the last nonce, stops the next live start): the new file is synced before the
    rename, and the folder after it."""
    import os
    synced = []
    real = os.fsync

    def fsync(fd):
        synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")) if os.path.exists("/proc/self/fd")
                      else fd)
        real(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    path = tmp_path / "state.json"
    write_json(path, {"last_nonce": 1})
    if os.path.exists("/proc/self/fd"):
        assert synced == [".state.json.tmp", tmp_path.name]
    else:
        assert len(synced) == 2


def test_every_command_sent_is_in_the_decision_log_those_outside_a_cycle_too():
    """Only a quote cycle's record named commands: a lost connection's CancelAll, a stale book's cancels, a
    snapshot asked for between cycles and a shutdown's pull were sent and never logged (a 120 s run with a 10 s
    outage sent 3 CancelAll, 4 cancels and 3 snapshot requests the log did not hold), so the log could not say
    whether the agent pulled its orders when the socket dropped, nor a replay check it."""
    from agent.audit.inspect import describe
    from agent.audit.records import describe_command
    from agent.session import build_session
    from twin.faults.chaos import ChaosSchedule, Disconnect, PriceJump
    from twin.faults.connection import ConnectionParams
    from twin.params import TwinParams
    schedule = ChaosSchedule(events=[Disconnect(at_s=60.0, duration_s=10.0), PriceJump(at_s=60.01, fraction=-0.004)])
    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}})
    records, sent = [], []
    # (a seed whose orders rest when the socket drops: seed 4, since the book feed keeps a phase of its own, is at
    # Orange and quotes nothing by then)
    ex, _, core, driver = build_session(cfg, 0, TwinParams(connection=ConnectionParams(hazard_per_hour=0.0)),
                                        schedule, record_sink=records.append, command_log=sent)
    driver.start()
    ex.env.run(until=75.0)
    driver.stop()
    ex.env.run(until=80.0)  # the replies to the pull, and the records of the shutdown drained with the next event
    logged = [c for r in records if r["type"] in ("cycle", "commands") for c in r["commands"]]
    assert "CancelAll" in logged and logged == [describe_command(c) for c in sent]
    lost = next(r for r in records if r["type"] == "commands" and r["on"] == "ConnectionLost")
    assert lost == {"type": "commands", "ts": 60.0, "on": "ConnectionLost", "commands": ["CancelAll"]}
    assert describe(lost, False) == "60.000  sent    CancelAll  (on ConnectionLost, outside a cycle)"
    assert any(r["type"] == "commands" and r["on"] == "shutdown" and r["ts"] == 75.0 for r in records)


def test_a_shutdown_s_commands_are_logged_at_once_with_no_event_after_it():
    """The shutdown's commands record waited in the core for the next event to carry it out: a session ending
    with nothing after its shutdown (the process exiting, the socket already gone) never logged its pull."""
    import asyncio

    import numpy as np

    from agent.core import AgentCore
    from agent.gateway.hyperliquid.gateway import HyperliquidGateway
    from agent.live import LiveDriver
    from agent.session import build_session
    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}})
    records: list = []
    ex, _, core, driver = build_session(cfg, 4, record_sink=records.append)
    driver.start()
    ex.env.run(until=30.0)
    driver.stop()  # nothing run after it
    assert records[-1]["type"] == "commands" and records[-1]["on"] == "shutdown" and records[-1]["ts"] == 30.0

    async def live() -> list:
        got: list = []
        gw = HyperliquidGateway("http://127.0.0.1:9", "0x" + "11" * 32, "BTC")  # never connected: nothing comes
        d = LiveDriver(gw, AgentCore(cfg, np.random.default_rng(0), tick=1.0, sz_decimals=5), cfg.session.cycle_s,
                       clock=lambda: 12.0, record_sink=got.append)
        await d.shutdown(grace_s=0.0)
        return got
    got = asyncio.run(live())
    assert [(r["type"], r["on"], r["ts"]) for r in got] == [("commands", "shutdown", 12.0)]


def test_each_fill_in_the_decision_log_leads_back_to_the_command_that_placed_its_order(tmp_path):
    """DESIGN §6: every cycle's record holds its commands and 'later its fills', and the record shows the chain. A
    fill names its order (cloid) and the cycle in force when it filled, but the commands were logged without the
    orders they made ('place B 0.0016@99999.0'; a modify named only the order it replaced), so no fill led back to
    the cycle, and the inputs and adjustments, that sent it. Each place, and each modify's new order, is logged with
    its cloid as a cancel is: every fill's order is found among the commands logged at or before it."""
    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}})
    s = run_session(cfg, 1, 300.0, tmp_path)
    records, bad = read_log(tmp_path / "decisions.jsonl")
    assert bad == 0 and s["fills"] > 0
    made: dict[str, float] = {}  # an order's cloid tail, as the log names it → when the command that made it left
    for r in records:
        if r["type"] in ("cycle", "commands"):
            for text in r["commands"]:
                for part in text.split("; "):
                    words = part.split()
                    if words[0] == "place":
                        made.setdefault(words[1], r["ts"])
                    elif words[0] == "modify" and "as" in words:
                        made.setdefault(words[words.index("as") + 1], r["ts"])
    fills = [r for r in records if r["type"] == "fill"]
    assert len(fills) == s["fills"]
    for f in fills:
        tail = f["cloid"][-6:]
        assert tail in made and made[tail] <= f["ts"], f
