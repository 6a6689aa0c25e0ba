"""The live event journal: every event the core handles, written so that it comes back as it was (the replay
of a live run depends on it). The end-to-end replay is in test_live_gateway (a dry run against twin serve)."""
from __future__ import annotations

import dataclasses
import gzip
import json
import re
import sys

import pytest
from hypothesis import given, settings, strategies as st

from agent.audit.__main__ import main
from agent.audit.event_log import EVENT_TYPES, EventJournal, decode, encode, journal_lines
from agent.audit.records import ZERO_BYTES, ZERO_BYTES_CLOSED, JsonlWriter, log_files, read_log, to_line
from agent.audit.replay import first_difference, replay_folder
from agent.gateway import events as ev

from recorded_session import journalled_session

_events = st.one_of(*[st.builds(cls) for cls in EVENT_TYPES.values()])


def test_the_journal_knows_every_event_of_the_vocabulary():
    assert set(EVENT_TYPES.values()) == {getattr(ev, n) for n in dir(ev) if isinstance(getattr(ev, n), type)
                                         and dataclasses.is_dataclass(getattr(ev, n))} - {
        ev.PlaceOrder, ev.CancelOrder, ev.ModifyOrder, ev.CancelAll, ev.ScheduleCancel, ev.RequestAccountSnapshot,
        ev.Batch, ev.OpenOrder}


@settings(max_examples=600, deadline=None)
@given(_events)
def test_an_event_comes_back_from_its_line_as_it_was(event):
    """Through the line the journal writes and back: the same class, every field of the same type (a tuple
    stays a tuple, an enum an enum, an int an int) and the same value (NaN included, compared as written). The
    line is JSON any reader takes: no bare NaN or Infinity (a float that is not finite is written by name)."""
    def refuse(word):
        raise ValueError(f"{word} in a journal line")
    back = decode(json.loads(to_line(encode(event)), parse_constant=refuse))
    assert type(back) is type(event)
    for f in dataclasses.fields(event):
        a, b = getattr(event, f.name), getattr(back, f.name)
        assert type(a) is type(b), f.name
        if isinstance(a, tuple):
            assert [type(x) for x in a] == [type(x) for x in b], f.name
    assert to_line(encode(back)) == to_line(encode(event))


def test_a_nested_snapshot_and_a_book_come_back_equal():
    snap = ev.AccountSnapshot(1.5, -0.002, 100_000.5, 1e5, 12.0,
                              (ev.OpenOrder("0xab", 7, ev.Side.SELL, 100_010.0, 0.001, True),), 99, 1.25, 17)
    book = ev.BookUpdated(2.0, "BTC", ((100.0, 1.5), (99.0, 2.0)), ((101.0, 0.5),), 12)
    limited = ev.RateLimited(3.0, "address", "order", "Too many", ("0x1", "0x2"))
    for e in (snap, book, limited, ev.Timer(4.0, ev.AFTER_CYCLE), ev.TradeObserved(5.0, "BTC", 1.0, 2.0, ev.Side.BUY),
              ev.TradeObserved(5.0, "BTC", 1.0, 2.0, ev.Side.BUY, 7, "0xab")):
        assert decode(json.loads(to_line(encode(e)))) == e
    # a print journalled before its transaction hash was carried reads back with none (each its own aggressor)
    old = {"e": "TradeObserved", "ts": 5.0, "coin": "BTC", "px": 1.0, "sz": 2.0, "side": 1, "tid": 7}
    assert decode(old) == ev.TradeObserved(5.0, "BTC", 1.0, 2.0, ev.Side.BUY, 7) and decode(old).hash == ""


def test_a_refused_listing_names_its_command_through_the_journal_and_an_older_line_names_none():
    """RateLimited.for_command tells a cancel-all's refused listing from a snapshot's (both openOrders): written and
    read back it is the same, and unequal to the other's; a line written before the field was (none in it) reads
    back naming none, which the core reads as it did then (a snapshot's part), so a replay of it decides as the
    session did."""
    old = {"e": "RateLimited", "ts": 3.0, "kind": "ip", "request": "openOrders", "message": "HTTP 429", "cloids": [],
           "new_cloids": [], "at_ts": "nan", "sent_ts": "nan"}
    assert decode(old) == ev.RateLimited(3.0, "ip", "openOrders", "HTTP 429") and decode(old).for_command == ""
    mine, snapshot = (ev.RateLimited(3.0, "ip", "openOrders", "HTTP 429", for_command=c)
                      for c in (ev.FOR_CANCEL_ALL, ev.FOR_SNAPSHOT))
    assert decode(json.loads(to_line(encode(mine)))) == mine != snapshot
    assert decode(json.loads(to_line(encode(snapshot)))).for_command == "RequestAccountSnapshot"


def test_a_fills_start_position_reads_back_and_an_older_line_without_it_reads_not_known():
    """FillReceived.start_position (the venue's position before the fill, which Ledger.closed_of_booked splits an
    overfill's closedPnl by) is journalled and read back; a line written before it was carried reads None, and the
    ledger then splits as the session did (its own position), so a replay of it decides as the session did."""
    fill = ev.FillReceived(3.0, "0x1", 7, 100.0, 0.002, ev.Side.SELL, 0.01, True, 5, 0.4, 0.0016)
    assert decode(json.loads(to_line(encode(fill)))) == fill
    old = {k: v for k, v in encode(fill).items() if k != "start_position"}
    assert decode(old) == ev.FillReceived(3.0, "0x1", 7, 100.0, 0.002, ev.Side.SELL, 0.01, True, 5, 0.4)
    assert decode(old).start_position is None


def test_an_optional_time_reads_back_as_a_number_or_none_and_anything_else_is_refused_naming_it():
    """ConnectionLost.silent_since and ConnectionRestored.refused_ts (a float or None) were taken from a line as they
    were: "nan", as the journal writes a float that is not finite, came back a string, and calibration's observe
    raised a TypeError on it (``ts - "nan"``) where it meant to read it as not known; a string or a list there was
    taken on too, and failed far from its line. Each is now a number (by name too), or None, or refused."""
    from agent.audit.event_log import FieldError
    lost = ev.ConnectionLost(7.0, "ws", 5.5)
    assert decode(json.loads(to_line(encode(lost)))) == lost
    assert decode({**encode(lost), "silent_since": None}).silent_since is None
    back = decode({**encode(lost), "silent_since": "nan"}).silent_since
    assert type(back) is float and back != back
    assert type(decode({**encode(lost), "silent_since": 5}).silent_since) is int  # (JSON's form of a number)
    restored = encode(ev.ConnectionRestored(9.0, "ws", 8.0))
    assert decode({**restored, "refused_ts": "-inf"}).refused_ts == float("-inf")
    for d, says in (({**encode(lost), "silent_since": "soon"}, "ConnectionLost.silent_since 'soon': not a number"),
                    ({**restored, "refused_ts": [8.0]}, "ConnectionRestored.refused_ts [8.0]: not a number")):
        with pytest.raises(FieldError) as e:
            decode(d)
        assert str(e.value) == says


def test_unknown_events_are_refused_by_name():
    with pytest.raises(ValueError, match="'Nope'"):
        decode({"e": "Nope", "ts": 1.0})


@pytest.mark.parametrize("field, value, says", [
    ("ts", None, "BookUpdated.ts None: not a number"),
    ("coin", 5, "BookUpdated.coin 5: not a string"),
    ("bids", [[None, 1.0]], "BookUpdated.bids[0][0] None: not a number"),
    ("bids", [[100.0]], "BookUpdated.bids[0] [100.0]: not 2 items"),
    ("asks", 7, "BookUpdated.asks 7: not a list"),
])
def test_a_field_not_of_its_type_is_refused_naming_its_path_value_and_why(field, value, says):
    """The decoder took a JSON value on as it was: a time of null, a price of null, became an event that failed
    far from its line (a TypeError out of the replay, or a fit skewed by it). It checks each against its type."""
    from agent.audit.event_log import FieldError
    d = encode(ev.BookUpdated(1.0, "BTC", ((100.0, 1.0),), ((101.0, 1.0),)))
    with pytest.raises(FieldError) as e:
        decode({**d, field: value})
    assert str(e.value) == says
    assert decode({**d, "ts": 1, "venue_time_ms": 5.0}).venue_time_ms == 5  # JSON's forms of a number still read


def test_the_journal_writes_the_start_the_events_and_the_shutdown_in_order(tmp_path):
    j = EventJournal(JsonlWriter(tmp_path / "events.jsonl"))
    j.start({"type": "start", "ts": 0.0, "seed": 3})
    j.event(ev.Timer(0.5))
    j.event(ev.ConnectionLost(0.7, "ws"))
    j.shutdown(0.9)
    j.close()
    lines = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert lines == [{"type": "start", "ts": 0.0, "seed": 3}, {"e": "Timer", "ts": 0.5, "name": "cycle"},
                     {"e": "ConnectionLost", "ts": 0.7, "stream": "ws", "silent_since": None},
                     {"e": "shutdown", "ts": 0.9}]


# ---------------------------------------------------------------------------------------------- replay

def _journalled_run(folder, seed: int, minutes: float, journal: bool = True) -> None:
    """A twin session at Full written as a live run folder is (``journalled_session``), run ``minutes``."""
    from agent.config import AgentConfig

    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}})
    ex, driver, log, j = journalled_session(folder, cfg, seed, journal=journal)
    driver.start()
    ex.env.run(until=minutes * 60.0)
    log.close()
    if j is not None:
        j.close()


def test_journalled_runs_replay_identically_past_an_earlier_run_without_a_journal(tmp_path, capsys):
    _journalled_run(tmp_path, 1, 1.0, journal=False)  # a first run with --no-events
    _journalled_run(tmp_path, 2, 2.0)
    _journalled_run(tmp_path, 5, 1.0)  # restarted into the same folder
    seen = []  # the progress bar's feed: every byte of the journal, once
    runs = replay_folder(tmp_path, seen.append)
    assert [(r.start["seed"], r.identical) for r in runs] == [(2, True), (5, True)]
    assert sum(seen) == sum(f.stat().st_size for f in log_files(tmp_path / "events.jsonl"))
    records, _ = read_log(tmp_path / "decisions.jsonl")
    starts = [i for i, r in enumerate(records) if r["type"] == "start"]
    assert runs[0].records == starts[2] - starts[1] - 1 > 100 and runs[1].records == len(records) - starts[2] - 1
    assert main([str(tmp_path), "--replay"]) == 0 and capsys.readouterr().out.count("all identical to the log") == 2


@pytest.mark.parametrize("doubled", [True, False], ids=["copy-and-doubled", "copy"])
def test_a_run_with_overfills_replays_identically_from_the_journal(tmp_path, doubled):
    """Overfills (a fill past its order's size: the excess not booked, the ledger's figures its own while ``apart``)
    come from events alone, so the replay decides as the run did: a twin session at Full whose first fill reaches the
    core twice (a copy under another tid) and whose fourth comes at twice its size (as the venue's error would), the
    snapshots they ask for after them. The journal holds the copies and the doubled fill, and the replay gives the
    log's records, the overfills' among them. "copy": no doubled fill to cancel the copy's excess, which a later
    snapshot shows a copy (``overfill_settled``: dropped), in the replay as in the run."""
    from agent.config import AgentConfig

    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}})
    ex, driver, log, j = journalled_session(tmp_path, cfg, 2)
    handle, fills, apart = driver.on_event, [], []

    def on_event(event):  # (between the gateway and the driver: what the core gets is what the journal holds)
        if type(event) is ev.FillReceived:
            fills.append(event)
            if len(fills) == 4 and doubled:
                event = dataclasses.replace(event, sz=2 * event.sz, fee=2 * event.fee)
            handle(event)
            if len(fills) == 1:
                handle(dataclasses.replace(event, tid=event.tid ^ 1))
            apart.append(driver.core.ledger.apart)
        else:
            handle(event)
    driver.on_event = on_event
    driver.start()
    ex.env.run(until=120.0)
    log.close()
    j.close()
    over = [r for r in read_log(tmp_path / "decisions.jsonl")[0] if r.get("type") == "overfill"]
    assert len(over) == 1 + doubled and len(fills) > 6 and sum(apart) > 2
    if not doubled:
        settled = [r for r in read_log(tmp_path / "decisions.jsonl")[0] if r.get("type") == "overfill_settled"]
        assert [r["excess"] for r in settled] == ["copy"] and not driver.core.ledger.apart
        from agent.audit.inspect import describe
        assert "overfill settled" in describe(settled[0], False) and "dropped" in describe(settled[0], False)
    (run,) = replay_folder(tmp_path)
    assert run.identical and run.records > 100


def test_a_run_whose_venue_overfills_replays_identically_with_the_excesses_settled_real(tmp_path):
    """The venue's own overfill: each bid the core places goes to the twin at twice its size (between the driver
    and the gateway), so the venue fills past the size the core knows, and the snapshots each overfill asks for show
    the excess real (``overfill_settled``: booked). The ledger ends on the venue's position, fees and net PnL (its
    realised less the position at its entry price: an excess booked after later fills leaves the ledger ``apart``,
    its split of realised and unrealised its own, the net the account's, Ledger.settle_excess), nothing unbooked,
    its realised PnL the venue's where not apart, and the replay from the journal gives the log's records, the
    settlements among them. (This seed's excess is booked after later fills since the arrival fit was corrected:
    realised 4.5e-4 off the venue's, the net exact; at c21af26 seeds 1, 3 and 5 ended so.)"""
    from agent.config import AgentConfig
    from agent.session import USER

    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}})
    ex, driver, log, j = journalled_session(tmp_path, cfg, 2)
    send = driver.gateway.send

    def bigger(c):
        return c._replace(sz=round(2 * c.sz, 5)) if type(c) is ev.PlaceOrder and c.side is ev.Side.BUY else c

    def doubled_bids(cmd):  # (the core's commands as it sent them, in the log; the venue's orders larger)
        send(ev.Batch(tuple(bigger(c) for c in cmd.commands)) if type(cmd) is ev.Batch else bigger(cmd))
    driver.gateway.send = doubled_bids
    driver.start()
    ex.env.run(until=600.0)
    log.close()
    j.close()
    records = read_log(tmp_path / "decisions.jsonl")[0]
    settled = [r["excess"] for r in records if r.get("type") == "overfill_settled"]
    assert settled and set(settled) == {"real"} and any(r.get("type") == "overfill" for r in records)
    led, venue = driver.core.ledger, ex.accounts[USER].positions["BTC"]
    assert led.unbooked == 0.0 and led.position == pytest.approx(venue.szi, abs=1e-12)
    assert led.fees == pytest.approx(venue.fees, abs=1e-9)
    assert led.realized - led.position * led.entry_px == pytest.approx(
        venue.realized_pnl - venue.szi * venue.entry_px, abs=1e-6)
    assert led.apart or led.realized == pytest.approx(venue.realized_pnl, abs=1e-6)
    (run,) = replay_folder(tmp_path)
    assert run.identical and run.records > 100


def test_a_replay_started_with_its_stdout_closed_ends_as_usual_not_in_a_traceback(tmp_path, monkeypatch):
    """``python -m agent.audit DIR --replay >&-``: sys.stdout is None, and the flush after the results raised
    AttributeError (a traceback, exit 1) after the whole replay."""
    _journalled_run(tmp_path, 2, 0.5)
    monkeypatch.setattr(sys, "stdout", None)
    assert main([str(tmp_path), "--replay"]) == 0


def test_a_stops_dead_man_clear_and_its_acknowledgement_replay_from_the_journal(tmp_path):
    """The venue's answer to a clear of the dead-man's switch is an event now (ScheduleCancelCleared, naming when
    the clear was sent), which the core's state hangs on: journalled and replayed like any. A run that arms the
    switch (the $1M rule waived), stops, and clears it once a snapshot shows nothing resting, the first clear lost
    on its way: the journal holds the answer to the second, and the replay gives the log's records, the clearing
    and the cleared among them."""
    from agent.config import AgentConfig
    from agent.gateway.events import RequestAccountSnapshot
    from twin.messages import ScheduleCancelAction
    from twin.params import TwinParams, VenueParams

    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"},
                                      "risk": {"dead_man_heartbeat_s": 30.0, "dead_man_min_volume_usd": 0.0}})
    ex, driver, log, j = journalled_session(tmp_path, cfg, 2,
                                            TwinParams(venue=VenueParams(schedule_cancel_min_volume_usd=0.0)))
    real_submit, lost = ex.submit, []

    def submit(user, action, on_reply, *a, **kw):  # the twin's transport loses the first clear
        if isinstance(action, ScheduleCancelAction) and action.time_s is None and not lost:
            lost.append(ex.env.now)
            return ex._lose(on_reply)
        return real_submit(user, action, on_reply, *a, **kw)
    ex.submit = submit
    driver.start()
    ex.env.run(until=60.0)
    j.shutdown(ex.env.now)
    driver.stop()
    ex.env.run(until=62.0)
    driver._send(RequestAccountSnapshot())  # (as the live shutdown asks for one)
    ex.env.run(until=90.0)
    log.close()
    j.close()
    states = [r["state"] for r in read_log(tmp_path / "decisions.jsonl")[0] if r.get("type") == "dead_man"]
    assert lost and states[-2:] == ["clearing", "cleared"]
    assert '"e":"ScheduleCancelCleared"' in (tmp_path / "events.jsonl").read_text().replace(" ", "")
    (run,) = replay_folder(tmp_path)
    assert run.identical and run.records > 100


def test_a_replay_that_gives_fewer_or_other_records_than_the_log_names_the_first(tmp_path, capsys):
    """The journal goes to a shutdown halfway through the run, the log on to its end: the shutdown's record (it
    pulls the orders) is replayed where the log goes on with the run, a difference."""
    _journalled_run(tmp_path, 3, 2.0)
    events = tmp_path / "events.jsonl"
    lines = events.read_text().splitlines(keepends=True)
    events.write_text("".join(lines[:len(lines) // 2]) + json.dumps({"e": "shutdown", "ts": 60.0}) + "\n")
    (run,) = replay_folder(tmp_path)
    n, logged, replayed = run.difference
    assert json.loads(replayed)["on"] == "shutdown" and n == run.records and logged != replayed
    assert run.journal_cut == 0
    assert main([str(tmp_path), "--replay"]) == 1 and "differs at its decision record" in capsys.readouterr().out


def test_a_journal_cut_short_is_said_to_end_before_the_log_not_to_differ(tmp_path, capsys):
    """A journal that stopped being written (a full disk) mid-run, the decision log going on: the replay was
    reported to differ at a record, which reads as a core that decides differently. It says the journal ends
    before the log, how many records lie past it, and that all before it are identical."""
    _journalled_run(tmp_path, 3, 2.0)
    events = tmp_path / "events.jsonl"
    lines = events.read_text().splitlines(keepends=True)
    events.write_text("".join(lines[:len(lines) // 2]) + lines[len(lines) // 2][:25])  # cut, mid-line
    (run,) = replay_folder(tmp_path)
    records, _ = read_log(tmp_path / "decisions.jsonl")
    assert run.journal_cut == len(records) - 1 - run.records > 0  # every record past the journal's end (less start)
    assert main([str(tmp_path), "--replay"]) == 1
    out = capsys.readouterr().out
    assert "the event journal ends before the decision log" in out and "differs" not in out
    assert f"give {run.records:,} decision records, all identical to the log, and the log holds " \
           f"{run.journal_cut:,} more of this run" in out


def _journal_with_a_segment(folder, lines: list[str], lost: bytes, name: str = "events-000002.jsonl.gz") -> tuple:
    """``lines`` as a journal of three files: the first third a plain segment, the second third a segment (gzipped,
    unless ``name`` says otherwise) whose bytes are ``lost``, the rest the live file; the three paths."""
    a, b = len(lines) // 3, 2 * len(lines) // 3
    seg1, seg2, live = folder / "events-000001.jsonl", folder / name, folder / "events.jsonl"
    seg1.write_text("".join(lines[:a]))
    seg2.write_bytes(lost)
    live.write_text("".join(lines[b:]))
    return seg1, seg2, live


@pytest.mark.parametrize("lost, why, name", [
    (b"\x1f\x8b\x08\x00 not gzip data at all", "damaged gzip data: ", "events-000002.jsonl.gz"),
    (b"", ZERO_BYTES, "events-000002.jsonl.gz"),
    (b"", ZERO_BYTES_CLOSED, "events-000002.jsonl"),
])
def test_a_journal_segment_lost_is_told_as_lost_not_taken_for_a_crashs_cut(tmp_path, lost, why, name):
    """A gzipped segment of the journal that cannot be read (damaged, or 0 bytes: a lost write) was given as one
    line cut by a crash when a start line followed it, and one of 0 bytes read as no lines at all, as a closed plain
    one of 0 bytes still did (the writer closes a segment only with lines in it). A crash cuts a line of the file
    being written, never a closed segment: the segment is lost, every line of it, and said so."""
    start = {"type": "start", "ts": 0.0}
    lines = [json.dumps(start) + "\n"] + [json.dumps(encode(ev.Timer(ts=float(i)))) + "\n" for i in range(1, 9)]
    _, seg2, live = _journal_with_a_segment(tmp_path, lines[:6], lost, name)
    live.write_text(json.dumps({**start, "ts": 100.0}) + "\n" + "".join(lines[6:]))  # a restart after the segment
    told = []
    got = list(journal_lines(log_files(live), lost=lambda *seg: told.append(seg)))
    assert [d for _, d in got] == [json.loads(x) for x in lines[:2]] + [{**start, "ts": 100.0}] + \
        [json.loads(x) for x in lines[6:]]  # no (place, None) for a cut: nothing was cut
    assert [(p, n) for p, n, _ in told] == [(seg2, 0)] and told[0][2].startswith(why)
    says = re.escape(name) + " unreadable .*: every line of it lost: the journal"
    with pytest.raises(ValueError, match=says):
        list(journal_lines(log_files(live)))  # (no one to tell: refused, never a cut)
    live.write_text("".join(lines[6:]))  # no restart after it: the run's middle lost
    with pytest.raises(ValueError, match=says):
        list(journal_lines(log_files(live), lost=lambda *seg: told.append(seg)))


def test_a_journal_segment_being_gunzipped_is_read_from_its_whole_gz(tmp_path):
    """The journal's reader takes its files where the decision log's does (``records.log_files``): gunzip's plain
    copy, a line in, beside its whole .gz, gave the replay a run two events short, nothing said."""
    start = {"type": "start", "ts": 0.0}
    lines = [json.dumps(start) + "\n"] + [json.dumps(encode(ev.Timer(ts=float(i)))) + "\n" for i in range(1, 9)]
    middle = "".join(lines[3:6]).encode()
    _, seg2, live = _journal_with_a_segment(tmp_path, lines, gzip.compress(middle))
    seg2.with_suffix("").write_bytes(middle[:len(lines[3])])  # gunzip a line in
    told = []
    got = list(journal_lines(log_files(live), lost=lambda *seg: told.append(seg)))
    assert [d for _, d in got] == [json.loads(x) for x in lines] and not told
    assert got[3][0] == f"{seg2}: line 1"


def test_a_replay_past_a_lost_journal_segment_names_it_and_is_not_identical(tmp_path, capsys):
    """The first run's tail in a gzipped segment that is not gzip, the second run after it whole: the replay said
    the first run's "last journal line, cut by a crash mid-write" was left out. It names the segment, lost."""
    _journalled_run(tmp_path, 2, 1.0)
    _journalled_run(tmp_path, 5, 1.0)
    events = tmp_path / "events.jsonl"
    lines = events.read_text().splitlines(keepends=True)
    second = next(i for i, x in enumerate(lines) if i and '"type":"start"' in x)
    (tmp_path / "events-000001.jsonl").write_text("".join(lines[:second // 2]))
    (tmp_path / "events-000002.jsonl.gz").write_bytes(b"garbage")  # lines[second // 2:second], lost
    events.write_text("".join(lines[second:]))
    first, again = replay_folder(tmp_path)
    assert first.lost_segments == [(tmp_path / "events-000002.jsonl.gz", 0, "not gzip data")]
    assert not first.identical and first.left_out is None and first.journal_cut > 0
    assert again.identical and again.records > 100
    assert main([str(tmp_path), "--replay"]) == 1
    out = capsys.readouterr().out
    assert "  lost:     events-000002.jsonl.gz unreadable (not gzip data): every line of it lost: the run's events " \
           "in it are not replayed" in out and "A segment of the journal is lost (below)" in out
    assert "cut by a crash" not in out and out.count("all identical to the log") == 2


def test_first_difference_names_the_field_and_both_values():
    a = '{"type":"cycle","inputs":{"mid":100.5,"k":[1,2]},"commands":["cancel 1"]}'
    assert first_difference(a, a.replace("100.5", "100.0")) == "inputs.mid: logged 100.5, replayed 100.0"
    assert first_difference(a, a.replace("[1,2]", "[1,2,3]")) == "inputs.k: 2 items logged, 3 replayed"
    assert first_difference(a, a.replace(',"commands":["cancel 1"]', "")) == "commands: only logged"


def test_replay_needs_a_journal_and_says_so(tmp_path, capsys):
    _journalled_run(tmp_path, 4, 0.5, journal=False)
    assert main([str(tmp_path), "--replay"]) == 2
    assert "no events.jsonl" in capsys.readouterr().err


def test_a_signal_while_the_replays_results_are_printed_waits_for_their_last_line_then_is_said(tmp_path, signalled_inside):
    """Once the replay had ended, its handlers were put back: a SIGTERM while its results were printed killed it
    unsaid (exit -15), the results cut. Now the signal waits for their last line, then is said, exit 143. The
    process sends itself the signal as the first run's result is made, so that it lands there."""
    _journalled_run(tmp_path, 2, 1.0)
    _journalled_run(tmp_path, 5, 1.0)  # two runs: two results, the signal in the first (and the second: held too)
    r = signalled_inside("agent.audit.__main__:_replayed", ["audit", str(tmp_path), "--replay"])
    assert (r.returncode, r.stderr) == (143, "interrupted (SIGTERM) once the replay had ended: its results above are "
                                             "whole\n")
    assert r.stdout.count("all identical to the log") == 2 and r.stdout.startswith("run 1 ")


def test_a_plot_stopped_before_it_is_drawn_leaves_no_folder_made_for_it(tmp_path, signalled_inside):
    """``--plot`` makes the image's folder before the log is read (a long read, for a week's log): a SIGTERM in the
    read left that folder, and the one above it, behind empty. Now the folders made for it are removed; the run
    folder is as it was. (Sent as the plot's work starts.)"""
    run = tmp_path / "run"
    _journalled_run(run, 2, 0.5, journal=False)
    r = signalled_inside("agent.audit.__main__:_plot",
                         ["audit", str(run), "--plot", str(tmp_path / "f" / "g" / "x.png")])
    assert (r.returncode, r.stderr) == (143, "interrupted (SIGTERM)\n")
    assert not (tmp_path / "f").exists() and (run / "decisions.jsonl").exists()


def test_a_replay_whose_reader_stops_listening_ends_quietly_with_its_verdict(tmp_path):
    """``agent.audit RUN --replay | head -1``: the reader gone, the replay's first line raised BrokenPipeError, a
    traceback where the other views of the log end quietly. Now it ends as they do, its exit status still the
    replay's verdict (0: every run identical). The reader here closes the pipe before the replay has written."""
    import subprocess
    import sys

    _journalled_run(tmp_path, 2, 1.0)
    proc = subprocess.Popen([sys.executable, "-m", "agent.audit", str(tmp_path), "--replay"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert (proc.wait(timeout=120), err) == (0, "")
