"""``python -m agent.audit``: a decision log read by a person, checked against the whole-file reader
(``read_log``, which parses every line) on a real twin session's log in segments, one of them gzipped."""
from __future__ import annotations

import gzip
import json
import math
import shutil
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from agent.audit.__main__ import KINDS, main
from agent.audit.inspect import LogReader, format_ts, overview, parse_time
from agent.audit.plot import Thinner, level_steps, series
from agent.audit.records import ZERO_BYTES, ZERO_BYTES_CLOSED, JsonlWriter, log_files, read_log
from agent.config import AgentConfig, SessionConfig
from agent.session import run_session


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Ten minutes at Full (fills, safety moves, demotions), the log cut in ~40 KB segments, the first gzipped
    as an operator would. (A config's segments are 1 MB at least: the test's smaller ones are set under it.)"""
    out = tmp_path_factory.mktemp("audit") / "run"
    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SessionConfig, "log_segment_bytes", property(lambda self: 40_000))
        run_session(cfg, 5, 600.0, out)
    first = log_files(out / "decisions.jsonl")[0]
    with open(first, "rb") as src, gzip.open(str(first) + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    first.unlink()
    return out


def _records(run):
    recs, bad = read_log(run / "decisions.jsonl")
    return recs, bad


def test_the_log_under_test_spans_segments_a_gzipped_one_and_every_kind_that_matters(run):
    files = log_files(run / "decisions.jsonl")
    assert len(files) >= 3 and files[0].suffix == ".gz"
    kinds = Counter(r["type"] for r in _records(run)[0])
    assert {"start", "cycle", "fill", "snapshot", "safety", "level"} <= set(kinds) <= set(KINDS)


def test_overview_counts_what_the_whole_file_reader_finds(run, capsys):
    recs, bad = _records(run)
    ov = overview(LogReader(run / "decisions.jsonl"))
    assert ov.records == Counter(r["type"] for r in recs) and ov.skipped == bad == 0
    fills = [r for r in recs if r["type"] == "fill"]
    assert ov.fills_maker == sum(r["maker"] for r in fills)
    assert ov.volume_usd == pytest.approx(sum(r["px"] * r["sz"] for r in fills))
    cycles = [r for r in recs if r["type"] == "cycle"]
    assert ov.cycles_sending == sum(1 for r in cycles if r["commands"])
    assert ov.shadow_cycles == sum(1 for r in cycles if r["note"] == "shadow")
    # a cycle that sent an account snapshot's request alone placed nothing: said apart from those with an order
    # (a Shadow run's overview read "19 sent commands" where it had sent no order)
    snapshots = sum(1 for r in cycles if r["commands"] == ["RequestAccountSnapshot"])
    assert ov.cycles_snapshot_only == snapshots
    assert (ov.first_ts, ov.last_ts) == (recs[0]["ts"], max(r["ts"] for r in recs))
    assert [r["ts"] for r in ov.safety] == [r["ts"] for r in recs if r["type"] == "safety"]
    assert [r["to"] for r in ov.levels] == [r["to"] for r in recs if r["type"] == "level"]
    assert main([str(run)]) == 0
    text = capsys.readouterr().out
    assert f"cycle {len(cycles):,}" in text and f"fill {len(fills):,}" in text and "venue twin, seed 5" in text
    assert recs[-1] == {"type": "end", "ts": 600.0, "reason": "duration reached"}
    assert "    ended     600.000  duration reached" in text
    assert (f"{ov.cycles_sending:,} sent commands ({ov.cycles_sending - snapshots:,} with an order, {snapshots:,} an "
            f"account snapshot's request alone)") in text
    for r in (r for r in recs if r["type"] == "level"):
        assert f"{r['from']} → {r['to']}" in text


def test_a_window_lists_exactly_the_records_in_it_in_writing_order(run, capsys):
    recs, _ = _records(run)
    lo, hi = 200.0, 230.5
    for kinds in (None, {"fill", "safety"}):
        argv = [str(run), "--from", str(lo), "--to", str(hi), "--json", "--limit", "0"]
        if kinds:
            argv += ["--type", ",".join(sorted(kinds))]
        assert main(argv) == 0
        shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        want = [r for r in recs if lo <= r["ts"] <= hi and (kinds is None or r["type"] in kinds)]
        assert shown == want and want
    # the same window as text: a line per record, each starting with its time; a limit says what it left out
    assert main([str(run), "--from", "200", "--to", "230.5", "--limit", "5"]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    window = [r for r in recs if lo <= r["ts"] <= hi]
    assert [line.split()[:2] for line in lines] == [[f"{r['ts']:.3f}", r["type"]] for r in window[:5]]
    assert f"and {len(window) - 5:,} more" in out.err


def test_json_alone_lists_the_logs_records_as_json_lines_not_the_overview_as_text(run, capsys):
    """``--json`` with no window nor kind printed the overview as text: a pipe into jq failed on its first line."""
    recs, _ = _records(run)
    assert main([str(run), "--json", "--limit", "0"]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == recs
    assert main([str(run), "--json", "--limit", "7"]) == 0
    out = capsys.readouterr()
    assert [json.loads(line) for line in out.out.splitlines()] == recs[:7]
    assert f"and {len(recs) - 7:,} more" in out.err


def test_durations_count_from_the_log_start_and_numbers_are_its_own_seconds(run, capsys):
    recs, _ = _records(run)
    assert main([str(run), "--from", "3m", "--to", "3m", "--json"]) in (0, 1)  # a window of one instant
    shown = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert shown == [r for r in recs if r["ts"] == recs[0]["ts"] + 180.0]
    assert parse_time("2m", 100.0) == 220.0 and parse_time("1834.5", 100.0) == 1834.5
    assert parse_time("0m", 100.0) == parse_time("0h0m", 100.0) == 100.0 and parse_time("1h30m", 0.0) == 5400.0
    assert parse_time("2026-11-30T14:03:22", 0.0) == datetime(2026, 11, 30, 14, 3, 22, tzinfo=timezone.utc).timestamp()
    assert parse_time("2026-11-30 15:03:22+01:00", 0.0) == parse_time("2026-11-30T14:03:22", 0.0)
    for bad in ("yesterday", "nan", "-inf", "5 minutes"):
        with pytest.raises(ValueError, match=repr(bad)):
            parse_time(bad, 0.0)
    assert format_ts(1e20, True) == "100000000000000000000.000"  # past the calendar: shown as seconds


def test_at_shows_the_cycle_in_force_then_what_followed_until_the_next(run, capsys):
    recs, _ = _records(run)
    cycles = [r for r in recs if r["type"] == "cycle"]
    fill = next(r for r in recs if r["type"] == "fill" and r["ts"] > 60.0)
    assert main([str(run), "--at", str(fill["ts"]), "--json"]) == 0
    shown = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    in_force = max((c for c in cycles if c["ts"] <= fill["ts"]), key=lambda c: c["ts"])
    i = recs.index(in_force)
    following = []
    for r in recs[i + 1:]:
        if r["type"] == "cycle":
            break
        following.append(r)
    assert shown == [in_force] + following and fill in following
    assert main([str(run), "--at", str(fill["ts"])]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"cycle {in_force['cycle']} at ")
    for name, _, _ in in_force["adjustments"]:  # every step the core took, in its order
        assert name in text
    names = [a[0] for a in in_force["adjustments"]]
    assert [n for n in (line.split()[0] for line in text.splitlines() if line.startswith("    ")) if n in names] == names
    assert "fill" in text.split("then, until the next cycle:", 1)[1]


def test_torn_and_foreign_lines_are_skipped_and_counted_as_the_whole_file_reader_does(tmp_path):
    log = tmp_path / "decisions.jsonl"
    with JsonlWriter(log) as w:
        for i in range(5):
            w.write({"type": "cycle", "cycle": i, "ts": i * 0.5, "commands": [], "note": ""})
    with open(log, "a") as fh:
        fh.write('not json at all\n{"ts": 9.0, "type": "fill", "maker": true, "px": 10.0, "sz": 1.0}\n')
        fh.write('{"type":"cycle","cycle":5,"ts":2.5,"inputs":{"mid":1')  # a crash mid-write
    recs, bad = read_log(log)
    reader = LogReader(log)
    ov = overview(reader)
    assert ov.records == Counter(r["type"] for r in recs) == Counter(cycle=5, fill=1)
    assert ov.skipped == bad == 2 and ov.volume_usd == 10.0


def test_a_line_of_bytes_that_are_not_utf8_is_skipped_and_counted_as_a_torn_line_is(tmp_path, capsys):
    log = tmp_path / "decisions.jsonl"
    with JsonlWriter(log) as w:
        w.write({"type": "cycle", "cycle": 0, "ts": 0.5, "commands": [], "note": ""})
    with open(log, "ab") as fh:
        fh.write(b"\xff\xfe garbage \x80\n")  # a disk's garbage between two records
        fh.write(b'{"ts": 9.0, "type": "fill", "maker": true, "px": 10.0, "sz": 1.0, "note": "caf\xc3\xa9"}\n')
        fh.write(b'{"type":"cycle","cycle":1,"ts":2.5,"inputs":{"mid":1')  # and a crash mid-write
    recs, bad = read_log(log)
    reader = LogReader(log)
    ov = overview(reader)
    assert ov.records == Counter(r["type"] for r in recs) == Counter(cycle=1, fill=1)
    assert ov.skipped == bad == 2 and reader.undecodable == 1 and recs[1]["note"] == "café"
    assert main([str(tmp_path)]) == 0
    assert ("; 1 torn line skipped (cut by a crash mid-write: a run's last); 1 unreadable line skipped (damaged inside "
            "the log)") in capsys.readouterr().out


def test_a_binary_file_for_the_log_exits_2_naming_it(tmp_path, capsys):
    log = tmp_path / "decisions.jsonl"
    log.write_bytes(bytes(range(128, 256)) * 8 + b"\n\x00\xff\xfe\n")
    assert main([str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"error: {log}: not a decision log: no record in it, and 2 lines of it "
                                       f"not UTF-8 text\n")
    log.write_bytes(b"")  # an empty log is no bad RUN: nothing to show
    assert main([str(tmp_path)]) == 1


def test_a_live_log_is_shown_in_utc_dates_and_takes_them(tmp_path, capsys):
    t0 = datetime(2026, 11, 30, 14, 0, 0, tzinfo=timezone.utc).timestamp()
    with JsonlWriter(tmp_path / "decisions.jsonl") as w:
        w.write({"type": "start", "ts": t0, "venue": "live", "network": "testnet"})
        w.write({"type": "safety", "ts": t0 + 62.25, "from": 0, "to": 2, "reason": "position_frac 0.8 > 0.7"})
        w.write({"type": "dead_man", "ts": t0 + 70.0, "state": "armed", "why": "if 30 s pass without a re-arm"})
    assert main([str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "2026-11-30 14:00:00.000" in text and "2026-11-30 14:01:02.250  GREEN → ORANGE" in text
    assert "dead-man    1 transition\n    2026-11-30 14:01:10.000  armed  if 30 s pass" in text
    assert main([str(tmp_path), "--from", "2026-11-30T14:01:00", "--type", "safety"]) == 0
    assert capsys.readouterr().out.startswith("2026-11-30 14:01:02.250  safety  GREEN → ORANGE")


def test_sizes_and_positions_are_shown_to_10_digits_not_with_float_noise(tmp_path, capsys):
    """A fill's position summed of fills was shown -0.00034999999999999994, a scaled size 0.0022500000000000003
    (prices, on the tick grid, as written)."""
    with JsonlWriter(tmp_path / "decisions.jsonl") as w:
        w.write({"type": "start", "ts": 0.0, "venue": "twin", "seed": 0})
        w.write({"type": "cycle", "ts": 1.0, "cycle": 1, "inputs": {"mid": 99607.5, "position": 0.1 + 0.2},
                 "quotes": [["B", 99607.0, 0.0015 * 1.5], ["A", 99609.0, 0.002]], "commands": [], "note": ""})
        w.write({"type": "fill", "ts": 1.2, "side": -1, "px": 100010.0, "sz": 0.0003, "maker": True,
                 "position": -0.0005 + 0.00015, "cycle": 1, "cloid": "0x" + "0" * 30 + "14"})
        w.write({"type": "snapshot", "ts": 1.3, "position": -0.0005 + 0.00015, "open_orders": 2})
    assert main([str(tmp_path), "--from", "0"]) == 0
    out = capsys.readouterr().out
    assert "mid 99607.5  pos 0.3  " in out and "B 0.00225@99607.0 | A 0.002@99609.0" in out
    assert "fill    A 0.0003@100010.0 maker  position -0.00035  (cycle 1, order 000014)" in out
    assert "venue position -0.00035, 2 open orders" in out and "0000000" not in out and "9999999" not in out
    assert main([str(tmp_path), "--at", "1"]) == 0
    assert "bids        0.00225@99607.0\n  asks        0.002@99609.0\n" in capsys.readouterr().out


def test_a_scorecards_mi_shortfall_is_said_below_or_above_its_baseline_and_left_out_where_not_measured():
    """The scorecard line said "None SE below its baseline" for a log written before mi_shortfall_se (or before a
    signal's baseline was measured: null), and "-0.68 SE below" for an MI above its baseline."""
    from agent.audit.inspect import describe
    rec = {"type": "scorecard", "ts": 1.0, "name": "trade_flow", "verdict": "degraded", "proven": True,
           "weight": 0.25, "n_outcomes": 500, "mi_bits": 1e-4, "mi_ratio": 0.0016}
    said = [describe({**rec, **extra}, False) for extra in ({"mi_shortfall_se": 2.487}, {"mi_shortfall_se": -0.68},
                                                             {"mi_shortfall_se": None}, {})]
    assert "(ratio 0.0016, 2.49 SE below its baseline)" in said[0]
    assert "(ratio 0.0016, 0.68 SE above its baseline)" in said[1]
    assert all("(ratio 0.0016)" in s and "SE" not in s for s in said[2:]), said
    # the bad periods degraded on evidence counts (6 of the last 9), where the record has them
    rec.update(consecutive_bad=2, consecutive_good=0)
    assert "bad periods 2 in a row, good 0" in describe(rec, False)
    assert "bad periods 2 in a row, 6 of the last demote_within_periods, good 0" in describe({**rec, "recent_bad": 6},
                                                                                            False)
    # and retirement's evidence (bad over retire_bad_share of the last retire_within_outcomes), where it has it: a
    # signal retired with "bad periods 2 in a row" was otherwise unexplained
    said = describe({**rec, "recent_bad": 6, "bad_share": 0.7061, "judged_outcomes": 1500}, False)
    assert "6 of the last demote_within_periods, bad over 70.6% of its last 1500 outcomes, good 0" in said, said
    assert "bad over" not in describe({**rec, "bad_share": float("nan"), "judged_outcomes": 0}, False)


def test_bad_input_exits_2_naming_it_and_an_empty_window_exits_1(run, tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert main([str(run), "--type", "fills"]) == 2
    assert "unknown kind fills" in capsys.readouterr().err
    assert main([str(run), "--from", "10", "--to", "5"]) == 2
    assert main([str(run), "--from", "soon"]) == 2
    assert "'soon'" in capsys.readouterr().err
    assert main([str(run), "--at", "5", "--from", "1"]) == 2
    capsys.readouterr()
    assert main([str(run), "--at", "300", "--type", "fill"]) == 2  # (was ignored: the cycle shown, not a fill)
    assert "--at shows one moment" in capsys.readouterr().err
    assert main([str(run), "--from", "1e9"]) == 1
    assert "no records" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--from", "2026-11-30T14:00"], ["--to", "2026-11-30 14:05:00+01:00"],
                                  ["--at", "2026-11-30T14:03:22"], ["--from", "1m", "--to", "2026-11-30T14:05"]])
def test_a_date_on_a_twin_runs_log_exits_2_saying_its_times_are_simulated_seconds(run, argv, capsys):
    """A date was read as Unix seconds on a log whose times run from 0: 'no records in 1796482410.000 … the end'
    (exit 1, a number the operator never gave), or --at showing the run's last cycle as the one in force then."""
    assert main([str(run), *argv]) == 2
    err = capsys.readouterr().err
    assert f"{argv[-2]} {argv[-1]}: a date, but {run} is a twin run's log" in err and "simulated seconds" in err
    assert main([str(run), "--from", "1m", "--to", "90s", "--type", "start"]) == 1  # (durations and seconds: as before)


_kinds = st.sampled_from(["cycle", "fill", "snapshot", "safety", "level", "start", "postmortem", "x_y"])
_ts = st.floats(min_value=-1e6, max_value=1e12, allow_nan=False) | st.integers(0, 10**12)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(_kinds, _ts, st.integers(0, 10**9), st.text(max_size=6)), min_size=1, max_size=12))
def test_reading_a_line_by_its_head_gives_what_parsing_it_gives(tmp_path_factory, rows):
    """The reader takes a line's kind and time from its first characters and parses only what it shows: that
    must be what the JSON says, for every time json writes (exponents, integers, negatives)."""
    log = tmp_path_factory.mktemp("heads") / "decisions.jsonl"
    with JsonlWriter(log) as w:
        for kind, ts, n, text in rows:
            rec = {"type": kind, "cycle": n, "ts": ts} if kind == "cycle" else {"type": kind, "ts": ts, "t": text}
            w.write(rec)
    recs, _ = read_log(log)
    assert [(line.kind, line.ts) for line in LogReader(log)] == [(r["type"], float(r["ts"])) for r in recs]


def test_at_a_cycle_s_own_time_is_that_cycle(run, capsys):
    cycles = [r for r in _records(run)[0] if r["type"] == "cycle"]
    c = cycles[len(cycles) // 2]
    assert main([str(run), "--at", repr(c["ts"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0]) == c


def test_a_record_written_a_little_late_still_shows_in_its_window(tmp_path, capsys):
    """A live clock stepped back (NTP) writes a time a little before the line above it: a window's reading
    stops only a minute past its end."""
    with JsonlWriter(tmp_path / "decisions.jsonl") as w:
        for ts in (1.0, 2.0, 40.0, 3.0, 200.0, 4.0):
            w.write({"type": "snapshot", "ts": ts, "position": 0.0, "open_orders": 0})
    assert main([str(tmp_path), "--from", "0", "--to", "5", "--json"]) == 0
    assert [json.loads(x)["ts"] for x in capsys.readouterr().out.splitlines()] == [1.0, 2.0, 3.0]


# ---------------------------------------------------------------------------------------------- --plot

@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 3000), cap=st.integers(2, 200))
def test_thinning_keeps_at_most_cap_items_evenly_spaced_and_never_too_few(n, cap):
    t = Thinner(cap)
    for i in range(n):
        if t.wants():
            t.add(i)
    kept = t.items
    assert len(kept) < cap
    assert kept == list(range(0, n, t.stride))[:len(kept)] and kept == list(range(0, n, t.stride))
    assert len(kept) >= min(n, cap // 2)  # halved at most to half of the cap


def test_plot_series_are_the_log_s_own_values(run):
    recs, _ = _records(run)
    moves = [r for r in recs if r["type"] == "safety"]
    # the window starts at one level and ends at another (before the next move, or at the log's end)
    lo, hi = moves[0]["ts"] - 150.0, moves[1]["ts"] - 0.1 if len(moves) > 1 else recs[-1]["ts"]
    s = series(LogReader(run / "decisions.jsonl"), lo, hi)
    window = [r for r in recs if lo <= r["ts"] <= hi]
    cycles = [r for r in window if r["type"] == "cycle"]
    assert s.cycles_in_window == len(cycles) == len(s.cycles)  # under the cap: nothing thinned
    for got, r in zip(s.cycles, cycles):
        bids = [q[1] for q in r["quotes"] if q[0] == "B"]
        asks = [q[1] for q in r["quotes"] if q[0] == "A"]
        want = (r["ts"], r["inputs"]["mid"], max(bids, default=math.nan), min(asks, default=math.nan),
                r["inputs"]["position"])
        assert got == pytest.approx(want, nan_ok=True)
    assert s.fills == [(r["ts"], r["px"], r["side"], r["position"]) for r in window if r["type"] == "fill"]
    assert s.safety == [(r["ts"], r["to"]) for r in window if r["type"] == "safety"]
    assert (s.first_safety, s.first_exposure) == (cycles[0]["inputs"]["safety_level"],
                                                  cycles[0]["inputs"]["exposure_level"])
    assert s.first_safety == moves[0]["from"] != cycles[-1]["inputs"]["safety_level"] == moves[0]["to"]
    start = next(r for r in recs if r["type"] == "start")
    assert s.limit == start["config"]["risk"]["max_position"]
    thin = series(LogReader(run / "decisions.jsonl"), lo, hi, cap=50)
    assert 25 <= len(thin.cycles) < 50 and set(thin.cycles) <= set(s.cycles) and thin.fills[0] == s.fills[0]


def test_a_kill_after_the_last_cycle_ends_the_level_lines_there():
    ts, lv = level_steps(61.0, 81.0, 3, [(60.5, 3), (81.0, 4)])
    assert (ts, lv) == ([61.0, 81.0, 81.0], [3, 4, 4])
    assert level_steps(1.0, 5.0, None, []) == ([], [])
    ts, lv = level_steps(1.0, 9.0, 0, [(2.0, 1), (3.0, 0)])
    assert ts == sorted(ts) and ts[-1] == 9.0 and lv == [0, 1, 0, 0]


def test_plot_writes_a_png_for_a_twin_log_and_a_live_one(run, tmp_path, capsys):
    png = tmp_path / "run.png"
    assert main([str(run), "--from", "1m", "--to", "5m", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "cycles" in capsys.readouterr().out
    t0 = datetime(2026, 11, 30, 14, 0, 0, tzinfo=timezone.utc).timestamp()
    live = tmp_path / "live"
    with JsonlWriter(live / "decisions.jsonl") as w:
        w.write({"type": "start", "ts": t0, "config": {"risk": {"max_position": 0.05}}})
        for i in range(20):
            w.write({"type": "cycle", "cycle": i, "ts": t0 + i, "inputs": {"mid": 100.0 + i, "position": 0.01,
                                                                           "safety_level": 0, "exposure_level": 1},
                     "quotes": [["B", 99.0 + i, 1.0], ["A", 101.0 + i, 1.0]], "commands": [], "note": ""})
        w.write({"type": "postmortem", "ts": t0 + 25.0, "reasons": ["drawdown"]})
    assert main([str(live), "--plot", str(tmp_path / "live.png")]) == 0
    assert "1 kills" in capsys.readouterr().out and (tmp_path / "live.png").stat().st_size > 10_000
    assert main([str(live), "--from", "1h", "--plot", str(tmp_path / "none.png")]) == 1
    assert main([str(live), "--at", "5", "--plot", str(tmp_path / "x.png")]) == 2
    assert not (tmp_path / "none.png").exists() and not (tmp_path / "x.png").exists()


def test_a_plot_that_read_a_torn_or_damaged_line_in_its_window_says_so(tmp_path, capsys):
    """A picture of a run killed outright, or of a log a disk damaged, lacks the points of the lines it could not
    read: ``--plot`` drew it and said nothing of them (``--from``/``--to`` listing the same window says them), the
    picture looking whole. Now it says them after the "wrote" line, as the listing does; a window ending before
    them says nothing of them. (On the commit before this one: no note.)"""
    log = tmp_path / "decisions.jsonl"

    def cycle(i: int) -> dict:
        return {"type": "cycle", "cycle": i, "ts": i * 0.5, "inputs": {"mid": 100.0 + i, "position": 0.0,
                                                                        "safety_level": 0, "exposure_level": 1},
                "quotes": [["B", 99.0, 1.0], ["A", 101.0, 1.0]], "commands": [], "note": ""}
    with JsonlWriter(log) as w:
        w.write({"type": "start", "ts": 0.0, "venue": "twin", "seed": 0})
        for i in range(6):
            w.write(cycle(i))
    with open(log, "a") as fh:
        fh.write(json.dumps(cycle(6)).replace('"mid": 106.0', '"mid": 1\x00\x00') + "\n")  # a disk's damage,
        fh.write(json.dumps(cycle(7)).replace('"mid": 107.0', '"mid": 1,,') + "\n")  # one the reader reads as whole
        fh.write(json.dumps(cycle(8)) + "\n")
        fh.write(json.dumps(cycle(9))[:40])  # the crash's cut
    torn = "note: 1 torn line skipped (cut by a crash mid-write: a run's last)"
    damaged = "2 unreadable lines skipped (damaged inside the log)"
    assert main([str(tmp_path), "--plot", str(tmp_path / "all.png")]) == 0
    out, err = capsys.readouterr()
    assert "7 cycles (7 drawn)" in out and torn in err and damaged in err, err
    assert main([str(tmp_path), "--to", "2.2", "--plot", str(tmp_path / "head.png")]) == 0  # ends before them
    assert "skipped" not in capsys.readouterr().err


def test_a_plot_file_whose_folder_cannot_be_made_exits_2_before_reading(run, tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("")
    assert main([str(run), "--plot", str(f / "x.png")]) == 2
    assert capsys.readouterr().err == f"error: --plot {f / 'x.png'}: {f} exists and is not a folder\n"
    assert main([str(run), "--plot", ""]) == 2
    assert capsys.readouterr().err == "error: --plot: an empty path\n"
    assert main([str(run), "--plot", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_a_plot_that_cannot_be_written_exits_2_naming_it_and_leaves_no_half_picture(run, tmp_path, capsys,
                                                                                      monkeypatch):
    """1 means nothing matched: a full disk under the picture was matplotlib's OSError traceback with that code, and
    a truncated PNG left under the name given."""
    import errno
    import os

    from matplotlib.figure import Figure

    def half_then_full(self, fname, *a, **k):  # the picture's first bytes, then a full disk
        head = b"\x89PNG\r\n\x1a\n"
        fname.write(head) if hasattr(fname, "write") else Path(fname).write_bytes(head)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(Figure, "savefig", half_then_full)
    png = tmp_path / "run.png"
    assert main([str(run), "--plot", str(png)]) == 2
    assert capsys.readouterr().err == f"error: --plot {png}: No space left on device\n"
    assert list(tmp_path.iterdir()) == []


def test_replay_of_a_twin_run_gives_the_command_that_runs_it_again_and_it_does(run, tmp_path, capsys):
    """A twin run has no journal: its seed and config reproduce it. The message gives the exact command,
    and that command's log is the run's own, line for line."""
    import shlex

    from agent.__main__ import main as agent_main
    assert main([str(run), "--replay"]) == 2
    err = capsys.readouterr().err
    cmd = shlex.split(err.split("run it again with\n", 1)[1].splitlines()[0])
    again = tmp_path / "again"
    assert cmd[:3] == ["python", "-m", "agent"] and agent_main(
        [a if a != "NEW_FOLDER" else str(again) for a in cmd[3:]] + ["--quiet"]) == 0
    capsys.readouterr()
    first, _ = read_log(run / "decisions.jsonl")
    second, _ = read_log(again / "decisions.jsonl")
    assert [r for r in second if r["type"] != "start"] == [r for r in first if r["type"] != "start"]


def test_a_record_with_a_number_not_measured_is_written_as_json_with_null(tmp_path):
    """The log is read by jq and other languages too: NaN (a postmortem's equity with no mid, a numpy NaN) is
    null in the line, never the bare word NaN, which they refuse."""
    import numpy as np
    path = tmp_path / "d.jsonl"
    w = JsonlWriter(path, flush_every=1)
    w.write({"type": "postmortem", "ts": 1.0, "equity": float("nan"), "marks": [np.float64("inf"), 2.0]})
    w.write({"type": "cycle", "ts": 2.0, "mid": 100.5})
    w.close()
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    recs, bad = read_log(path)
    assert bad == 0 and recs[0]["equity"] is None and recs[0]["marks"] == [None, 2.0] and recs[1]["mid"] == 100.5


def test_replay_of_a_journal_whose_start_record_is_incomplete_exits_2_naming_the_file(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "events.jsonl").write_text('{"type":"start","ts":0}\n')
    assert main([str(run), "--replay"]) == 2  # was a KeyError traceback, exit 1
    assert capsys.readouterr().err.startswith(f"error: {run / 'events.jsonl'}: line 1: start record without "
                                              f"config, seed")


def test_a_line_whose_time_is_no_json_number_is_skipped_and_counted_not_a_traceback(tmp_path, capsys):
    """A line's head is read without parsing it: a time there that is no finite JSON number (a disk's garbage,
    another tool's line) is a line that is no record, skipped and counted, and the records around it read."""
    log = tmp_path / "decisions.jsonl"
    with JsonlWriter(log) as w:
        w.write({"type": "cycle", "cycle": 0, "ts": 0.5, "commands": [], "note": ""})
    with open(log, "a") as fh:
        fh.write('{"type":"cycle","cycle":1,"ts":1.2.3,"note":""}\n')  # was a ValueError traceback
        fh.write('{"type":"fill","ts":1e999,"maker":true}\n')  # inf: the overview's span was NaN, a traceback
        fh.write('{"type":"fill","ts":2.0,"maker":true,"px":10.0,"sz":1.0}\n')
    reader = LogReader(log)
    assert [(line.kind, line.ts) for line in reader] == [("cycle", 0.5), ("fill", 2.0)] and reader.skipped == 2
    assert main([str(tmp_path)]) == 0
    assert "; 2 unreadable lines skipped (damaged inside the log)" in capsys.readouterr().out


def test_a_gzipped_segment_cut_short_reads_up_to_its_cut_and_the_files_after_it(tmp_path, capsys):
    """A segment gzipped by hand and cut short (a copy interrupted, a disk full, a power loss) is a torn
    file: its lines up to the cut and every file after it are read, the cut counted; never a traceback."""
    log = tmp_path / "decisions.jsonl"
    lines = [json.dumps({"type": "cycle", "cycle": i, "ts": float(i), "note": ""}) for i in range(2000)]
    whole = gzip.compress(("\n".join(lines) + "\n").encode())
    (tmp_path / "decisions-000001.jsonl.gz").write_bytes(whole[:len(whole) // 2])
    (tmp_path / "decisions-000002.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00 not gzip data at all")
    with JsonlWriter(log) as w:
        w.write({"type": "fill", "ts": 3000.0, "maker": True, "px": 10.0, "sz": 1.0})
    reader = LogReader(log)
    got = [(line.kind, line.ts) for line in reader]
    assert len(got) > 100 and got[-1] == ("fill", 3000.0) and reader.skipped == 2
    assert [ts for _, ts in got[:-1]] == [float(i) for i in range(len(got) - 1)]
    read = len(got) - 1  # the cut segment's lines read before its cut
    (first, n1, why1), (second, n2, why2) = reader.lost_segments
    assert (first.name, n1, why1) == ("decisions-000001.jsonl.gz", read, "cut short")
    assert (second.name, n2) == ("decisions-000002.jsonl.gz", 0) and why2.startswith("damaged gzip data: ")  # (zlib's)
    assert reader.undecodable == 0  # (no line that is not UTF-8 text: two files that could not be read on)
    recs, bad = read_log(log)
    assert [(r["type"], r["ts"]) for r in recs] == got and bad == 2  # (each counted once, as it always was)
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"; decisions-000001.jsonl.gz unreadable after its line {read:,} (cut short): the rest of it lost" in out
    assert "; decisions-000002.jsonl.gz unreadable (damaged gzip data: " in out and "): every line of it lost" in out
    assert "unreadable line" not in out and "torn" not in out


def test_a_segment_that_is_not_gzip_is_said_lost_whole_not_one_unreadable_line(tmp_path, capsys):
    """A .jsonl.gz segment that is no gzip at all (a plain copy named .gz, another file) lost every line of it, and
    the audit said "1 unreadable line skipped (damaged inside the log)", as for one torn line."""
    log = tmp_path / "decisions.jsonl"
    lost = tmp_path / "decisions-000001.jsonl.gz"
    lost.write_text("".join(json.dumps({"type": "cycle", "cycle": i, "ts": float(i)}) + "\n" for i in range(50)))
    says = "decisions-000001.jsonl.gz unreadable (not gzip data): every line of it lost"
    # alone in the folder: no record read, and why (it was "no record in it, and 1 line of it not UTF-8 text")
    assert main([str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: {log}: no record read; {says}\n"
    with JsonlWriter(log) as w:
        w.write({"type": "fill", "ts": 100.0, "maker": True, "px": 10.0, "sz": 1.0})
    reader = LogReader(log)
    assert [line.ts for line in reader] == [100.0] and reader.lost_segments == [(lost, 0, "not gzip data")]
    assert reader.skipped == 1 and reader.undecodable == 0 and reader.cut == 0
    assert main([str(tmp_path)]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert head.endswith(f"1 records in 2 files (1 closed segment); {says}") and "unreadable line" not in head
    assert main([str(tmp_path), "--from", "0", "--to", "200"]) == 0  # a window read past it says so too
    assert capsys.readouterr().err == f"note: {says}\n"


def test_a_gzipped_segment_of_0_bytes_is_said_lost_not_read_as_empty(tmp_path, capsys):
    """gzip writes a header whatever it compresses (an empty file gives 20 bytes), and the writer never gzips nor
    closes an empty segment: a .gz of 0 bytes is a segment whose data was lost (a copy onto a full disk), yet it
    read as a segment with no lines, nothing said. A gzipped empty file is still read as empty (nothing lost)."""
    log = tmp_path / "decisions.jsonl"
    lost = tmp_path / "decisions-000001.jsonl.gz"
    lost.write_bytes(b"")
    (tmp_path / "decisions-000002.jsonl.gz").write_bytes(gzip.compress(b""))  # an empty file, gzipped: 20 bytes
    with JsonlWriter(log) as w:
        w.write({"type": "fill", "ts": 100.0, "maker": True, "px": 10.0, "sz": 1.0})
    reader = LogReader(log)
    assert [line.ts for line in reader] == [100.0] and reader.lost_segments == [(lost, 0, ZERO_BYTES)]
    assert reader.skipped == 1 and reader.cut == 0
    assert read_log(log)[1] == 1
    assert main([str(tmp_path)]) == 0
    head = capsys.readouterr().out.splitlines()[0]
    assert head.endswith("; decisions-000001.jsonl.gz unreadable (0 bytes, not even gzip's header): every line of it "
                         "lost")


def test_a_closed_plain_segment_of_0_bytes_is_said_lost_and_the_file_being_written_of_0_bytes_read_as_empty(
        tmp_path, capsys):
    """The writer closes a segment only after a line took it past its size, synced before it is renamed to its
    number: a decisions-000001.jsonl of 0 bytes is a segment whose data was lost (a copy onto a full disk, a file
    truncated), yet it read as a segment with no lines, nothing said, as a .gz of 0 bytes once did. The file still
    being written (decisions.jsonl) of 0 bytes is a run that has written nothing yet, or one just rotated: empty."""
    log = tmp_path / "decisions.jsonl"
    with JsonlWriter(log, segment_bytes=200) as w:  # the writer's own segments: each closed with lines in it
        for i in range(12):
            w.write({"type": "fill", "ts": float(i), "maker": True, "px": 10.0, "sz": 1.0})
    segments = log_files(log)[:-1]
    assert len(segments) >= 3 and all(f.stat().st_size >= 200 for f in segments) and log.stat().st_size == 0
    reader = LogReader(log)
    assert [line.ts for line in reader] == [float(i) for i in range(12)] and not reader.lost_segments
    assert reader.skipped == 0 and main([str(tmp_path)]) == 0  # the empty file being written: read as empty
    assert "skipped" not in capsys.readouterr().out.splitlines()[0]
    lost = segments[1]
    n_lost = sum(1 for _ in lost.open())
    lost.write_bytes(b"")  # its data lost
    reader = LogReader(log)
    assert len(list(reader)) == 12 - n_lost and reader.lost_segments == [(lost, 0, ZERO_BYTES_CLOSED)]
    assert reader.skipped == 1 and reader.cut == 0 and read_log(log)[1] == 1
    assert main([str(tmp_path)]) == 0
    says = (f"{lost.name} unreadable (0 bytes, and the writer closes a segment only with lines in it): every line "
            f"of it lost")
    assert capsys.readouterr().out.splitlines()[0].endswith(f"in {len(segments) + 1} files ({len(segments)} closed "
                                                           f"segments); {says}")
    for f in segments[:1] + segments[2:]:
        f.write_bytes(b"")
    assert main([str(tmp_path)]) == 2  # every line lost: no record read, and why (it was "no records", exit 1)
    err = capsys.readouterr().err
    assert err.startswith(f"error: {log}: no record read; {segments[0].name} unreadable (0 bytes") and says in err


def test_a_file_of_another_tool_for_the_log_exits_2_naming_it_and_what_it_is_not(tmp_path, capsys):
    """A run folder's summary.json (or any JSON that is no decision log) given as RUN read as an empty log:
    "no records", exit 1, as if nothing had happened in the run. It is a bad RUN: exit 2, saying why."""
    other = tmp_path / "summary.json"
    other.write_text(json.dumps({"seed": 5, "cycles": 1200, "fills": 3}, indent=2))
    assert main([str(other)]) == 2
    assert capsys.readouterr().err == (f"error: {other}: not a decision log: none of its 5 lines is a record "
                                       f"(a JSON object with a type and a time)\n")


@pytest.mark.parametrize("cut", [1, 9, 40, -1])
def test_a_log_that_is_one_line_cut_by_a_crash_reads_as_no_records_and_says_the_cut(tmp_path, capsys, cut):
    """A run killed (a disk full, a host down) as it wrote its first line leaves a log of one line cut short. The
    audit said it was "not a decision log: none of its 1 line is a record", exit 2, a bad RUN: the crash's cut taken
    for another tool's file. It is the run's log, with no record in it: "no records", exit 1, and the cut said as a
    crash's, as a cut last line is in any log. A one-line JSON object of another tool is still refused."""
    start = json.dumps({"type": "start", "ts": 0.0, "venue": "twin", "seed": 0}, separators=(",", ":"))
    (tmp_path / "decisions.jsonl").write_text(start[:cut])
    assert main([str(tmp_path)]) == 1
    assert capsys.readouterr().err == (f"{tmp_path / 'decisions.jsonl'}: no records; 1 torn line skipped (cut by a "
                                       f"crash mid-write: a run's last)\n")
    (tmp_path / "decisions.jsonl").write_text('{"seed":5,"cycles":1200}')
    assert main([str(tmp_path)]) == 2
    assert "not a decision log" in capsys.readouterr().err


def test_a_crashs_cut_lines_are_told_apart_from_damage_inside_the_log(tmp_path, capsys):
    """After a kill an operator asks whether the log is damaged. A crash cuts a run's last line (the file's last, or
    the last before the restarted run's start line); both, and a line damaged inside a run, were "3 torn or
    unreadable lines skipped". Now the cut lines are said as a crash's and only the damage as damage."""
    log = tmp_path / "decisions.jsonl"
    with JsonlWriter(log) as w:
        w.write({"type": "start", "ts": 0.0, "venue": "live"})
        w.write({"type": "cycle", "cycle": 0, "ts": 0.5, "commands": [], "note": ""})
    with open(log, "a") as fh:
        fh.write('{"type":"cyc')  # killed within a line's head
    with JsonlWriter(log) as w:  # the restart: its writer ends the torn line
        w.write({"type": "start", "ts": 10.0, "venue": "live"})
        w.write({"type": "cycle", "cycle": 0, "ts": 10.5, "commands": [], "note": ""})
    with open(log, "a") as fh:
        fh.write('{"ty\x00\x00\x00":"fill","ts":11.0,"px":1e5,"sz":0.1}\n')  # a disk's damage inside the run
        fh.write('{"type":"cycle","cycle":1,"ts":11.5,"commands":[],"note":""}\n')
        fh.write('{"type":"cycle","cycle":2,"ts":12.0,"inputs":{"mid":1')  # killed again
    assert main([str(tmp_path)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith("5 records in 1 file; 2 torn lines skipped (cut by crashes mid-write, each a run's last); "
                          "1 unreadable line skipped (damaged inside the log)"), first
    reader = LogReader(log)
    assert [line.ts for line in reader] == [0.0, 0.5, 10.0, 10.5, 11.5]
    assert (reader.skipped, reader.cut) == (3, 2)


def test_a_window_or_a_cycle_read_up_to_a_crashs_cut_says_the_line_it_skipped(tmp_path, capsys):
    """After a kill the question is what the run did last: ``--from`` the minute before, ``--at`` its last cycle. A
    window read to the log's end skipped the line the crash cut, its last record, unsaid (only the overview counted
    it): the window looked whole. Now a window, or a cycle's span, that reads a cut line or a damaged one says so
    after it, as the overview does (on the commit before this one: no note). A window that ends before them says
    nothing of them."""
    log = tmp_path / "decisions.jsonl"
    with JsonlWriter(log) as w:
        w.write({"type": "start", "ts": 0.0, "venue": "twin", "seed": 0})
        for i in range(4):
            w.write({"type": "cycle", "cycle": i, "ts": i * 0.5, "commands": [], "note": ""})
    with open(log, "a") as fh:
        fh.write('{"type":"cyc\x00\x00":"fill","ts":1.6,"px":1e5,"sz":0.1}\n')  # a disk's damage inside the run
        fh.write('{"type":"cycle","cycle":4,"ts":2.0,"inputs":{"mid":1')  # the crash's cut
    torn = "note: 1 torn line skipped (cut by a crash mid-write: a run's last)"
    for argv in (["--from", "1"], ["--from", "1", "--json"], ["--type", "cycle"], ["--at", "1.9"]):
        assert main([str(tmp_path), *argv]) == 0, argv
        err = capsys.readouterr().err
        assert torn in err and "1 unreadable line skipped (damaged inside the log)" in err, (argv, err)
    assert main([str(tmp_path), "--at", "0.7"]) == 0  # its span ends at the next cycle: neither read in it
    assert "skipped" not in capsys.readouterr().err
    assert main([str(tmp_path), "--from", "0", "--to", "0.6"]) == 0  # the window ends before them
    assert "skipped" not in capsys.readouterr().err
    assert main([str(tmp_path), "--from", "1.7"]) == 1  # past the last whole record: none in it, and the cut
    err = capsys.readouterr().err
    assert torn in err and "no records in 1.700" in err, err


def test_the_readmes_record_types_are_the_kinds_the_reader_takes():
    """The README's run-folder section lists every record type of the decision log (``{"type":"cycle", ...}``, ...):
    the kinds ``--type`` takes are those, no more and no fewer, so a record type added to the log is documented and
    readable by kind."""
    import re
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("`decisions.jsonl` is append-only JSON lines", 1)[1].split("\n\nA cycle's line is", 1)[0]
    assert set(re.findall(r'\{"type":"(\w+)"', section)) == set(KINDS)
    # ... and those are the kinds the agent writes: every record is a dict literal {"type": "kind", ...} in its code
    # (the gateway's {"type": ...} are the venue's request bodies, not records)
    agent = Path(__file__).resolve().parents[2] / "agent"
    written = {kind for path in agent.rglob("*.py") if "gateway" not in path.relative_to(agent).parts
               for kind in re.findall(r'\{"type": ?"(\w+)"', path.read_text())}
    assert written == set(KINDS)


def test_an_overfills_settling_says_a_copys_booked_part_taken_back_and_a_guess_of_a_buy_and_a_sell():
    """A copy whose order was larger than the fill it copies had the part that fitted booked; told a copy, that part
    is taken back (Ledger._take_back), where the line said the copy "dropped" alone. A buy's and a sell's excess of
    one size, parts of their fills booked, are "guessed" (a real round trip or two copies), where the line named two
    of one side and size alone."""
    from agent.audit.inspect import describe
    rec = {"type": "overfill_settled", "ts": 1.0, "unbooked": 0.001, "venue_position": 0.002,
           "ledger_position": 0.003, "left": 0.0, "pending": False}
    for verdict in ("copy", "mixed"):
        said = describe({**rec, "excess": verdict}, False)
        assert "fitted" in said and "taken back" in said, said
    assert "a buy's and a sell's of one size" in describe({**rec, "excess": "guessed"}, False)
