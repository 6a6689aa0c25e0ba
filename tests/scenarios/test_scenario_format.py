"""The scenario format: strict validation with errors naming file and field, the CLI, the run folder."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from scenarios.__main__ import main
from scenarios.invariants import NAMES
from scenarios.runlog import RunLog
from scenarios.runner import run_scenario
from scenarios.schema import Scenario, ScenarioError, load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
MINIMAL = """\
name: tiny
incident: test
description: a short calm run
duration_s: 20
invariants:
  - {name: worst_case_position_within_limit}
"""


def test_errors_name_the_file_and_the_field_path(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("duration_s: 20", "duration_s: 20\nagent: {risk: {max_position: -1}}\nfoo: 1")
                   + "  - {name: all_orders_cancelled_within, trigger: kil, within_s: 3}\n"
                   + "chaos:\n  - {kind: price_jump, at_s: 5, fraction: -2}\n")
    with pytest.raises(ScenarioError) as e:
        load_scenario(bad)
    msg = str(e.value)
    assert str(bad) in msg
    for field in ("agent.risk.max_position", "foo", "invariants.1.all_orders_cancelled_within.trigger",
                  "chaos.0.price_jump.fraction"):
        assert field in msg, msg


@pytest.mark.parametrize("name", ["../../escape", "a/b", "..", " spaced"])
def test_a_name_that_would_put_the_run_folder_elsewhere_is_refused(tmp_path, name):
    """The name makes the default run folder, runs/<name>-seed<S>: ``../`` in it put the run outside runs/ (a
    review), and ``/`` in a subfolder."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("name: tiny", f"name: {name!r}"))
    with pytest.raises(ScenarioError) as e:
        load_scenario(bad)
    assert "name: String should match pattern" in str(e.value)


def test_infinity_and_booleans_for_numbers_are_refused_in_every_section(tmp_path):
    """The agent section, the twin's, the synthetic market's, chaos and seeds: ``.inf`` and ``true`` are not
    numbers (Python would take them for infinity and 1, and ``check`` would pass the file)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("duration_s: 20", "duration_s: 20\nseeds: [true]\n"
                                   "agent: {risk: {max_position: .inf}, graduation: {start_level: true}}\n"
                                   "twin: {connection: {hazard_per_hour: .inf}}\n"
                                   "market: {synthetic: {initial_mid: .inf}}\n"
                                   "chaos:\n  - {kind: disconnect, at_s: true, duration_s: 5}"))
    with pytest.raises(ScenarioError) as e:
        load_scenario(bad)
    msg = str(e.value)
    for field in ("seeds.0", "agent.risk.max_position", "agent.graduation.start_level",
                  "twin.connection.hazard_per_hour", "market.synthetic.initial_mid", "chaos.0.disconnect.at_s"):
        assert f"  {field}: " in msg, msg


def test_every_shipped_scenario_validates_with_three_seeds():
    files = sorted(SCENARIOS.glob("*.yaml"))
    assert len(files) >= 7
    for f in files:
        sc = load_scenario(f)
        assert len(sc.seeds) >= 3 and sc.name == f.stem
        assert all(inv.name in NAMES for inv in sc.invariants)


def test_run_folder_has_the_log_levels_result_and_timeline(tmp_path):
    f = tmp_path / "tiny.yaml"
    f.write_text(MINIMAL)
    out = tmp_path / "run"
    assert main(["run", str(f), "--seed", "4", "--out", str(out), "--no-progress"]) == 0
    for name in ("decisions.jsonl", "level_history.json", "result.json", "summary.json", "timeline.png",
                 "samples.npz"):
        assert (out / name).exists(), name
    res = json.loads((out / "result.json").read_text())
    assert res["ok"] and res["seed"] == 4
    assert (out / "timeline.png").read_bytes()[:4] == b"\x89PNG"
    # run again into it: refused (the log would mix two runs), and the first run's folder stays as it was
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["run", str(f), "--seed", "5", "--out", str(out), "--no-progress"]) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_same_seed_same_run():
    sc = load_scenario(SCENARIOS / "feb09_kill_switch.yaml")
    a, b = run_scenario(sc, 2), run_scenario(sc, 2)
    assert [c.cmd for c in a.log.commands] == [c.cmd for c in b.log.commands] and len(a.log.commands) > 0
    assert (a.log.samples["pos"] == b.log.samples["pos"]).all()


def test_check_command_rejects_a_bad_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    assert main(["check", str(bad)]) == 2
    assert "incident" in capsys.readouterr().err


def test_check_help_says_what_is_checked_and_the_exit_status(capsys):
    """`python -m scenarios check --help` gave its usage and "scenario YAML files" alone, where `run --help` gives
    what the file holds and every exit status: a script running check had no word of what 2 means."""
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "without running them" in text and "FILE: ok" in text
    assert "Exit status: 0 when every file is valid, 2 when one is not" in text


def test_a_scenario_file_that_is_not_utf8_text_fails_check_naming_the_file(tmp_path, capsys):
    bad = tmp_path / "binary.yaml"
    bad.write_bytes(b"name: \xff\xfe\n")
    assert main(["check", str(bad)]) == 2  # was Python's UnicodeDecodeError traceback
    assert f"{bad}: not UTF-8 text (invalid start byte at byte 6)" in capsys.readouterr().err


def test_run_with_an_out_folder_that_cannot_be_made_exits_2_not_1(tmp_path, capsys):
    """1 means an invariant broke: an --out under a file was a traceback with that code. Now 2, naming it."""
    good = tmp_path / "tiny.yaml"
    good.write_text(MINIMAL)
    f = tmp_path / "afile"
    f.write_text("")
    assert main(["run", str(good), "--out", str(f / "sub"), "--no-progress"]) == 2
    assert capsys.readouterr().err == f"error: --out {f / 'sub'}: Not a directory\n"
    assert main(["run", str(good), "--out", "", "--no-progress"]) == 2
    assert capsys.readouterr().err == "error: --out: an empty path\n"


def test_a_negative_seed_fails_check_naming_it_not_run_with_numpys_error(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL + "seeds: [3, -1]\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "  seeds.1: Input should be greater than or equal to 0 (got -1)" in err


def test_a_seed_given_twice_fails_check_naming_it(tmp_path, capsys):
    """``seeds: [1, 1]`` was accepted: the same run twice (and two pytest items named seed1)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL + "seeds: [1, 4, 1]\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}: invalid scenario:\n  seeds: ")
    assert "seed 1 is given twice (seeds.0 and seeds.2)" in err
    assert "(got [1, 4, 1])" in err
    ok = tmp_path / "ok.yaml"
    ok.write_text(MINIMAL + "seeds: [1, 4, 0]\n")
    assert load_scenario(ok).seeds == [1, 4, 0]

def test_run_of_a_bad_file_says_error_as_every_other_command_and_no_command_shows_a_key(tmp_path, capsys):
    """``run`` printed the file's problems bare, where agent, twin, audit and calibration say ``error: ...``; and
    neither ``run`` nor ``check`` hid a key-shaped value a validator's message echoed (``market.coin '0x...'``)."""
    from common.files import KEY_HIDDEN
    key = "0x" + "5e" * 32  # a private key's form: 64 hex digits
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL + f"market: {{coin: '{key}'}}\n")
    out = tmp_path / "run"
    assert main(["run", str(bad), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: invalid scenario:\n") and "market.coin" in err and not out.exists()
    assert KEY_HIDDEN in err and key[2:] not in err
    assert main(["check", str(bad)]) == 2  # a report per file beside its "FILE: ok" lines, as it was
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}: invalid scenario:\n") and KEY_HIDDEN in err and key[2:] not in err

@pytest.mark.parametrize("spec, says", [
    ("nope:X", "cannot import nope: No module named 'nope'"),  # was a ModuleNotFoundError traceback
    ("agent.config:AgentConfig", "AgentConfig is not a subclass of agent.core.AgentCore"),  # was a TypeError
    ("agent.core:Nope", "agent.core has no Nope"),
    # was said twice: "importing no_such_agent.py raised ValueError: --agent 'no_such_agent.py:X': no file ..."
    ("no_such_agent.py:X", "no file no_such_agent.py"),
])
def test_an_agent_class_that_cannot_be_used_exits_2_before_the_run_folder(tmp_path, capsys, spec, says):
    good = tmp_path / "tiny.yaml"
    good.write_text(MINIMAL)
    out = tmp_path / "run"
    assert main(["run", str(good), "--agent", spec, "--out", str(out), "--no-progress"]) == 2
    assert capsys.readouterr().err == f"error: --agent {spec!r}: {says}\n" and not out.exists()


def test_ctrl_c_during_a_scenario_run_exits_130_pointing_at_the_log(tmp_path, capsys, monkeypatch):
    import scenarios.runner

    def half_then_ctrl_c(env, t0, duration_s, progress, desc):
        env.run(until=t0 + duration_s / 2)
        raise KeyboardInterrupt  # as SIGINT does, between two events
    monkeypatch.setattr(scenarios.runner, "_run", half_then_ctrl_c)
    f = tmp_path / "tiny.yaml"
    f.write_text(MINIMAL)
    out = tmp_path / "run"
    assert main(["run", str(f), "--out", str(out), "--no-progress"]) == 130
    assert f"interrupted: no result; the decision log so far is in {out / 'decisions.jsonl'}" in capsys.readouterr().err
    assert (out / "decisions.jsonl").stat().st_size > 0 and not (out / "result.json").exists()


def test_sigterm_during_a_scenario_run_exits_143_as_ctrl_c_does(tmp_path, signalled_once_started):
    """``kill PID`` (a CI job's timeout, a service manager) killed a scenario run as kill -9 does: no message, and
    the decision log's buffered lines lost. Now it ends as Ctrl-C does: no result, the log so far whole."""
    from agent.audit.records import read_log

    f = tmp_path / "tiny.yaml"
    f.write_text(MINIMAL.replace("duration_s: 20", "duration_s: 86400"))
    out = tmp_path / "run"
    log = out / "decisions.jsonl"
    code, _, err = signalled_once_started(  # once the log's first batch is on disk: the scenario is running
        ["scenarios", "run", str(f), "--out", str(out), "--no-progress"],
        lambda proc, err: log.exists() and log.stat().st_size > 0)
    assert code == 143, err
    assert f"interrupted by SIGTERM: no result; the decision log so far is in {log}" in err and "Traceback" not in err
    records, bad = read_log(log)
    assert bad == 0 and any(r["type"] == "cycle" for r in records)
    assert not (out / "result.json").exists()


def test_ctrl_c_while_the_timeline_is_drawn_keeps_the_result_and_leaves_no_half_picture(tmp_path, capsys,
                                                                                         monkeypatch):
    """Drawing the timeline takes seconds of matplotlib after a run that can take less, silently: it looked like a
    hang, and a Ctrl-C then exited 130 with no result.json, "no result; the decision log so far" said of a run that
    had ended and been checked. The result is now written and printed before the picture is drawn, the drawing is
    said, and a Ctrl-C in it keeps the result; the picture is whole or not there (a kill mid-write left a truncated
    PNG)."""
    import scenarios.timeline

    def half_a_picture_then_ctrl_c(result, out):
        out.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)  # savefig's first bytes ...
        raise KeyboardInterrupt  # ... and SIGINT before its last
    monkeypatch.setattr(scenarios.timeline, "plot_timeline", half_a_picture_then_ctrl_c)
    f = tmp_path / "tiny.yaml"
    f.write_text(MINIMAL)
    out = tmp_path / "run"
    assert main(["run", str(f), "--out", str(out), "--no-progress"]) == 130
    captured = capsys.readouterr()
    assert captured.out == "scenario tiny (seed 0, agent AgentCore): all 1 invariants hold\n"
    assert captured.err == (f"drawing the timeline (a few seconds): {out / 'timeline.png'}\n"
                            f"interrupted once the run had ended: the result above is whole, in {out / 'result.json'};"
                            f" the timeline was not drawn\n")
    res = json.loads((out / "result.json").read_text())
    assert res["ok"] and res["seed"] == 0 and res["scenario"] == "tiny" and res["violations"] == []
    left = {p.name for p in out.iterdir()}
    assert "timeline.png" not in left, left
    assert not [n for n in left if n.endswith(".tmp")], left  # nor half of one under another name
    assert {"decisions.jsonl", "summary.json", "samples.npz", "level_history.json"} <= left
    assert set(np.load(out / "samples.npz").files) >= {"t", "mid", "pos"}


def test_sigterm_as_the_timeline_is_drawn_keeps_the_broken_invariant_it_found(tmp_path, signalled_inside):
    """The same stop in a real process, by a real signal, on a run whose invariant breaks: its exit status stays the
    signal's (143), not 1, and the violation found is in result.json and on stdout."""
    f = tmp_path / "tight.yaml"
    # (a limit of 1e-6 BTC: the first quotes of an agent trading from its start rest more than that)
    f.write_text(MINIMAL.replace("duration_s: 20", "duration_s: 20\nagent: {graduation: {start_level: FULL}}")
                 .replace("{name: worst_case_position_within_limit}",
                          "{name: worst_case_position_within_limit, limit: 0.000001}"))
    out = tmp_path / "run"
    r = signalled_inside("scenarios.timeline:plot_timeline", ["scenarios", "run", str(f), "--out", str(out),
                                                              "--no-progress"], main="scenarios.__main__:main")
    assert r.returncode == 143, r.stderr
    assert r.stdout.startswith("scenario tiny (seed 0, agent AgentCore): FAILED\n- worst_case_position_within_limit")
    assert r.stderr.endswith(f"interrupted by SIGTERM once the run had ended: the result above is whole, in "
                             f"{out / 'result.json'}; the timeline was not drawn\n"), r.stderr
    res = json.loads((out / "result.json").read_text())
    assert not res["ok"] and res["violations"][0]["invariant"] == "worst_case_position_within_limit"
    assert not [p.name for p in out.iterdir() if "timeline" in p.name]


def test_a_full_disk_as_the_timeline_is_drawn_keeps_the_result_and_exits_2(tmp_path, capsys, monkeypatch):
    """The picture is the last file: a disk that fills as it is drawn leaves the result written and printed."""
    import errno
    import os

    import scenarios.timeline

    def no_space(result, out):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(scenarios.timeline, "plot_timeline", no_space)
    f = tmp_path / "tiny.yaml"
    f.write_text(MINIMAL)
    out = tmp_path / "run"
    assert main(["run", str(f), "--out", str(out), "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "scenario tiny (seed 0, agent AgentCore): all 1 invariants hold\n"
    assert captured.err.endswith(f"error: --out {out}: No space left on device: the timeline was not drawn (the result "
                                 f"above is in {out / 'result.json'})\n")
    assert json.loads((out / "result.json").read_text())["ok"]
    assert not [p.name for p in out.iterdir() if "timeline" in p.name]


@pytest.mark.parametrize("full", ["during the run", "after it"])
def test_a_full_disk_under_a_scenario_run_prints_the_result_then_exits_2_naming_the_folder(tmp_path, capsys, disk_with,
                                                                                         monkeypatch, full):
    """1 means an invariant broke: a full disk was an OSError traceback with that code (raised by the log's close
    after the run, or by a file written after it), and the result the run had reached was lost. The scenario runs to
    its end and its result is printed; the folder's writes stop at the first failure, so it holds no result.json
    (the file that says a folder is a whole run's)."""
    import errno
    import os

    import scenarios.runner
    f = tmp_path / "tiny.yaml"
    f.write_text(MINIMAL)
    out = tmp_path / "run"
    if full == "during the run":
        disk_with(20_000)  # the log fills it some seconds in
    else:
        def no_space(path, obj, default=float):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr(scenarios.runner, "write_json", no_space)  # summary.json, the first file after the run
    assert main(["run", str(f), "--out", str(out), "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert "scenario tiny (seed 0, agent AgentCore): all 1 invariants hold" in captured.out
    assert captured.err == (f"error: --out {out}: No space left on device (the scenario ran: the result above; the "
                            f"run folder is incomplete)\n")
    assert (out / "decisions.jsonl").stat().st_size > 0 and not (out / "result.json").exists()


def test_without_matplotlib_run_names_the_extra_before_the_run(tmp_path, capsys, monkeypatch):
    """timeline.png needs matplotlib (the report extra): without it the run went to its end, wrote everything but
    the picture and died in an import traceback (exit 1, the code of a broken invariant)."""
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    good = tmp_path / "tiny.yaml"
    good.write_text(MINIMAL)
    assert main(["run", str(good), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    assert '".[report]"' in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_a_fault_timed_past_the_run_fails_check_naming_it(tmp_path, capsys):
    """It ran, and failed after the whole run with "the trigger never happened": a typo (seconds for minutes)
    is named by `check` before anything runs."""
    bad = tmp_path / "late.yaml"
    bad.write_text(MINIMAL + "chaos:\n  - {kind: disconnect, at_s: 5, duration_s: 2}\n"
                             "  - {kind: price_jump, at_s: 20, fraction: -0.01}\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "chaos.1 (price_jump) at_s 20 is not within the run (duration_s 20)" in err
    ok = tmp_path / "ok.yaml"
    ok.write_text(MINIMAL + "chaos:\n  - {kind: price_jump, at_s: 19.9, fraction: -0.01}\n")
    assert load_scenario(ok).chaos[0].at_s == 19.9


@pytest.mark.parametrize("bbo", [True, False])
def test_a_scenario_runs_the_agent_on_the_feeds_its_config_names(tmp_path, bbo):
    """The scenario's agent config says which feeds the agent reads (session.bbo_feed, on by default): the runner
    built its gateway without it, so every scenario ran an agent on the l2Book alone, not the agent as configured."""
    from agent.core import AgentCore
    from agent.gateway.events import BboUpdated

    class Counting(AgentCore):
        bbos = 0

        def handle(self, event):
            if type(event) is BboUpdated:
                Counting.bbos += 1
            return super().handle(event)
    f = tmp_path / "tiny.yaml"
    f.write_text(MINIMAL + f"agent: {{session: {{bbo_feed: {str(bbo).lower()}}}}}\n")
    r = run_scenario(load_scenario(f), 0, agent_cls=Counting)
    assert r.ok
    assert (Counting.bbos > 5 * 20) if bbo else Counting.bbos == 0  # 8-9 pushes a second over the 20 s


@pytest.mark.parametrize("event, field, says", [
    ("{kind: market_param, at_s: 5, name: bogus, value: 1}", "chaos.0.market_param.name",
     "market parameter 'bogus' cannot be shocked"),
    ("{kind: market_param, at_s: 5, name: informed_share, value: 7}", "chaos.0.market_param.value",
     "informed_share 7.0 is out of its range: Input should be less than or equal to 1 (got 7)"),
])
def test_a_market_param_the_market_cannot_take_fails_check_and_run_exits_2_before_the_run_folder(
        tmp_path, capsys, event, field, says):
    """`check` said ok; `run` then stopped in the market's own check with a traceback (exit 1, the code of a broken
    invariant), naming neither the file nor the field."""
    bad = tmp_path / "shock.yaml"
    bad.write_text(MINIMAL + f"chaos:\n  - {event}\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and f"  {field}: " in err and says in err
    out = tmp_path / "run"
    assert main(["run", str(bad), "--out", str(out), "--no-progress"]) == 2
    assert says in capsys.readouterr().err and not out.exists()
    ok = tmp_path / "ok.yaml"
    ok.write_text(MINIMAL + "chaos:\n  - {kind: market_param, at_s: 5, name: informed_share, value: 1}\n")
    assert load_scenario(ok).chaos[0].value == 1.0


@pytest.mark.parametrize("synthetic, event, says", [
    ("{jump_size_std: 0.1}", "{kind: market_param, at_s: 5, name: vol_stressed_per_sqrt_s, value: 0.0199}",
     "chaos.0 (market_param) vol_stressed_per_sqrt_s 0.0199 does not fit market (coin 'BTC', preset 'btc'"),
    ("{book_interval_s: 1.0}", "{kind: market_param, at_s: 5, name: jump_rate_stressed_per_s, value: 5}",
     "chaos.0 (market_param) jump_rate_stressed_per_s 5 does not fit market"),
])
def test_a_market_param_that_fits_the_default_market_but_not_the_scenario_s_fails_check(tmp_path, capsys, synthetic,
                                                                                         event, says):
    """The event's own check is on the default market, and the market's constraints between fields (a jump rate
    with book_interval_s, the mid's moves together) then refused it when the run built the scenario's own: `check`
    said ok and `run` stopped with a traceback. Each event alone on the default market is taken."""
    bad = tmp_path / "shock.yaml"
    bad.write_text(MINIMAL + f"market: {{coin: BTC, synthetic: {synthetic}}}\nchaos:\n  - {event}\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and says in err and "Traceback" not in err
    out = tmp_path / "run"
    assert main(["run", str(bad), "--out", str(out), "--no-progress"]) == 2
    assert says in capsys.readouterr().err and not out.exists()
    alone = tmp_path / "alone.yaml"
    alone.write_text(MINIMAL + f"chaos:\n  - {event}\n")
    assert load_scenario(alone).chaos[0].kind == "market_param"


def test_a_recorded_market_file_that_is_missing_or_not_a_recording_fails_check_naming_field_and_path(tmp_path,
                                                                                                      capsys):
    """A missing file passed `check`; `run` then died in a FileNotFoundError traceback and left an empty run
    folder. Relative paths are taken from the scenario file's folder, as the runner takes them."""
    sample = Path(__file__).resolve().parents[2] / "twin" / "data" / "sample_replay.jsonl"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "rec.jsonl").write_bytes(sample.read_bytes())
    (tmp_path / "data" / "bad.jsonl").write_text("not json\n")
    (tmp_path / "data" / "deep.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n")  # (a RecursionError)
    (tmp_path / "data" / "long.jsonl").write_text('{"channel": %s}\n' % ("1" * 5000))  # (int's limit: no file named)
    f = tmp_path / "rec.yaml"
    for recorded, says in (("nothere.jsonl", f"{tmp_path / 'nothere.jsonl'}: No such file or directory"),
                           ("data", f"{tmp_path / 'data'}: Is a directory"),
                           ("data/bad.jsonl", f"{tmp_path / 'data' / 'bad.jsonl'}:1: not JSON"),
                           ("data/deep.jsonl", f"{tmp_path / 'data' / 'deep.jsonl'}:1: not JSON"),
                           ("data/long.jsonl", f"{tmp_path / 'data' / 'long.jsonl'}:1: not JSON")):
        f.write_text(MINIMAL + f"market: {{recorded: {recorded}}}\n")
        assert main(["check", str(f)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"{f}: invalid scenario:\n  market.recorded: {says}") and f"(got '{recorded}')" in err
        out = tmp_path / "run"
        assert main(["run", str(f), "--out", str(out), "--no-progress"]) == 2
        assert "market.recorded" in capsys.readouterr().err and not out.exists()
    f.write_text(MINIMAL + "market: {recorded: data/rec.jsonl}\n")
    assert load_scenario(f).market.recorded_path(f.parent) == tmp_path / "data" / "rec.jsonl"  # whatever the cwd


def test_a_recorded_market_must_cover_the_run_hold_the_coin_and_take_no_market_chaos(tmp_path, capsys):
    """Each passed ``check`` and ran to "all invariants hold" on no market: a recording shorter than the run stood
    still past its end (its last book pushed with fresh times), a file without the coin's book crashed ``run``
    with a KeyError after making the run folder, and a price jump on recorded data was dropped without a word."""
    sample = Path(__file__).resolve().parents[2] / "twin" / "data" / "sample_replay.jsonl"  # 39.6 s of BTC
    (tmp_path / "rec.jsonl").write_bytes(sample.read_bytes())
    f = tmp_path / "rec.yaml"
    for extra, says in (
            ("duration_s: 39\n", "the recording is 39.584 s long, and the run needs 40 s of market (the pre-roll 1 s "
                                 "and duration_s 39)"),
            ("start: {models: warm, warmup_s: 30}\n", "the run needs 50 s of market (the pre-roll 30 s"),
            ("market: {coin: 'hyna:LIT', recorded: rec.jsonl}\n", "no l2Book line for coin 'hyna:LIT' (the file's coins: BTC)"),
            ("chaos: [{kind: price_jump, at_s: 5, fraction: -0.1}]\n",
             "chaos.0 (price_jump) moves the synthetic market, and market.recorded 'rec.jsonl' plays as recorded"),
            ("chaos: [{kind: market_param, at_s: 5, name: vol_calm_per_sqrt_s, value: 0.001}]\n", "chaos.0 (market_param) moves")):
        text = MINIMAL + ("" if "market:" in extra else "market: {recorded: rec.jsonl}\n") + extra
        if extra.startswith("duration_s"):
            text = text.replace("duration_s: 20\n", "")
        f.write_text(text)
        assert main(["check", str(f)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"{f}: invalid scenario") and says in err, err
    f.write_text(MINIMAL.replace("duration_s: 20", "duration_s: 38") + "market: {recorded: rec.jsonl}\n"
                 "chaos: [{kind: disconnect, at_s: 5, duration_s: 2}]\n")
    assert main(["check", str(f)]) == 0


@pytest.mark.parametrize("invariant, says", [
    ("{name: no_liquidation, after: 't=5000'}", "invariants.1 (no_liquidation) after 't=5000' is not within the run"),
    ("{name: no_liquidation, after: 't=20'}", "after 't=20' is not within the run (0 to duration_s 20)"),
    ("{name: no_liquidation, after: 't=-1'}", "after 't=-1' is not within the run"),
    ("{name: no_liquidation, after: 't=nan'}", "after 't=nan' is not within the run"),
    ("{name: position_never_grows_after, trigger: 'fault:bogus'}",
     "invariants.1 (position_never_grows_after) trigger 'fault:bogus': the chaos list has no 'bogus' event"),
    ("{name: quoting_resumes_within, after: 'fault_end:disconnect', within_s: 5}",
     "after 'fault_end:disconnect': the chaos list has no 'disconnect' event, so it would never happen (its kinds: "
     "price_jump)"),
    ("{name: all_orders_cancelled_within, within_s: 3, until: 'fault:regime'}",
     "until 'fault:regime': the chaos list has no 'regime' event"),
    ("{name: all_orders_cancelled_within, within_s: 3, until: 't=99'}", "until 't=99' is not within the run"),
])
def test_a_trigger_that_cannot_happen_in_the_scenario_fails_check_naming_the_invariant(tmp_path, capsys, invariant,
                                                                                       says):
    """A time past the end checked nothing, and the run said every invariant held; a fault the chaos list lacks
    failed only after the whole run."""
    bad = tmp_path / "trig.yaml"
    bad.write_text(MINIMAL + f"  - {invariant}\nchaos:\n  - {{kind: price_jump, at_s: 5, fraction: -0.01}}\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and says in err


def test_triggers_that_can_happen_still_load():
    """Fault triggers name the kinds as the chaos list writes them (a slide is 'slide', as the run resolves it, not
    the price jumps it expands into); times from 0 to just before the end."""
    sc = Scenario.model_validate(yaml.safe_load(MINIMAL + (
        "  - {name: no_liquidation, after: 't=0'}\n"
        "  - {name: no_liquidation, after: 't=19.9'}\n"
        "  - {name: position_never_grows_after, trigger: 'fault:slide'}\n"
        "  - {name: quoting_resumes_within, after: 'fault_end:disconnect', within_s: 5}\n"
        "  - {name: all_orders_cancelled_within, trigger: 'fault:disconnect', within_s: 1, until: 'fault_end:slide'}\n"
        "chaos:\n  - {kind: slide, at_s: 2, duration_s: 2, fraction: -0.01}\n"
        "  - {kind: disconnect, at_s: 5, duration_s: 2}\n")))
    log = RunLog(0, 0.0, sc.duration_s, 0.05, 1e-5, 0.0, 1e5, faults=sc.faults())
    assert [log.trigger_time(s) for s in ("t=19.9", "fault:slide", "fault_end:disconnect", "fault_end:slide")] == [
        19.9, 2.0, 7.0, 4.0]


def test_a_warm_run_on_a_starting_position_reports_the_net_the_account_made():
    """The warm-up's books reach the core before the session starts: the first of them set the mid the starting
    position's carried PnL is taken at, a minute early, and net_usd was off the account's change by that much
    (−6.62 against −5.89 on seed 1; a gain against a loss on seed 2)."""
    sc = load_scenario(SCENARIOS / "feb12_emergency_paralysis.yaml")
    assert sc.start.models == "warm" and sc.start.position
    r = run_scenario(sc, 1)
    equity = r.log.samples["equity"]
    assert abs(r.summary["pnl"]["net_usd"] - (equity[-1] - equity[0])) < 0.2


def test_a_yaml_alias_bomb_fails_check_at_once_and_an_overlong_integer_names_the_file(tmp_path, capsys,
                                                                                     billion_laughs):
    """A billion-laughs file hung ``check`` (its values repr'd whole for the error); a 5,000-digit integer was
    Python's digit-limit error, naming no file."""
    import subprocess
    import sys

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs)

    # (a subprocess: the old repr, one C call, ran on past any alarm; timeout fails the test instead)
    done = subprocess.run([sys.executable, "-m", "scenarios", "check", str(bomb)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert f"{bomb}: invalid scenario:" in done.stderr
    big = tmp_path / "big.yaml"
    big.write_text("name: x\nduration_s: 1" + "0" * 5000 + "\n")
    assert main(["check", str(big)]) == 2
    assert f"{big}: not valid YAML: an integer of 5,001 characters, too long to read" in capsys.readouterr().err


def test_an_agent_file_that_raises_as_it_loads_exits_2_naming_it_not_1(tmp_path, capsys):
    """``--agent FILE.py:Class`` whose code raises as it loads (or a folder named so) ended on a traceback with exit
    status 1, which says an invariant broke."""
    from scenarios.__main__ import main
    bad = tmp_path / "agent_that_raises.py"
    bad.write_text("raise RuntimeError('boom')\n")
    folder = tmp_path / "folder.py"
    folder.mkdir()
    scenario = Path(__file__).resolve().parents[2] / "scenarios" / "chaos_flatten_into_a_crash.yaml"
    for given, said in ((f"{bad}:X", "raised RuntimeError: boom"), (f"{folder}:X", "raised IsADirectoryError")):
        assert main(["run", str(scenario), "--out", str(tmp_path / "out"), "--agent", given, "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: --agent {given!r}: importing ") and said in err
        assert not (tmp_path / "out").exists()


def test_sigterm_in_the_warm_pre_roll_ends_the_run_as_one_in_its_main_part(tmp_path, signalled_once_started):
    """The pre-roll (up to an hour of market before the agent starts) ran outside the run's signal holder: a signal
    landed inside an event. It is now handled between two, as in the run, the log closed: the same message and exit
    status, no traceback. Sent as soon as the folder is made, it lands in the pre-roll: the log is still empty."""
    f = tmp_path / "warm.yaml"
    f.write_text(MINIMAL.replace("duration_s: 20", "duration_s: 20\nstart: {models: warm, warmup_s: 3600}"))
    out = tmp_path / "run"
    log = out / "decisions.jsonl"
    code, _, err = signalled_once_started(["scenarios", "run", str(f), "--out", str(out), "--no-progress"],
                                          lambda proc, err: log.exists())
    assert code == 143, err
    assert f"interrupted by SIGTERM: no result; the decision log so far is in {log}" in err and "Traceback" not in err
    assert log.stat().st_size == 0 and not (out / "result.json").exists()


def test_a_signal_while_the_result_is_printed_waits_for_its_last_line_then_is_said(tmp_path, signalled_inside):
    """Once the run and its folder were done, the handlers were put back: a SIGTERM while the result was printed
    killed the run unsaid (exit -15), the report cut. Now it waits for the report's last line, then is said, exit
    143. The run sends itself the signal as the report is made, so that it lands there. (The result is written
    before it is printed, the timeline drawn after: the stop is said before the drawing, which it spares.)"""
    f = tmp_path / "tiny.yaml"
    f.write_text(MINIMAL)
    out = tmp_path / "run"
    r = signalled_inside("scenarios.runner:ScenarioResult.report",
                         ["scenarios", "run", str(f), "--out", str(out), "--no-progress"], main="scenarios.__main__:main")
    assert (r.returncode, r.stderr) == (143, f"interrupted by SIGTERM once the run had ended: the result above is "
                                             f"whole, in {out / 'result.json'}; the timeline was not drawn\n")
    assert r.stdout == "scenario tiny (seed 0, agent AgentCore): all 1 invariants hold\n"
    assert json.loads((out / "result.json").read_text()) and not (out / "timeline.png").exists()


def test_a_signal_before_the_run_folder_is_begun_removes_the_folder_made_for_it(tmp_path, signalled_inside):
    """A SIGTERM while the twin was made, before the run folder was begun, said ``no result; the decision log so far
    is in RUN/decisions.jsonl``, a log that was never written, and left the folder made for it (and the one above it)
    empty. Now both are removed and the message says nothing was written. (Sent as the run folder is begun.)"""
    f = tmp_path / "tiny.yaml"
    f.write_text(MINIMAL)
    r = signalled_inside("scenarios.runner:open_run_folder",
                         ["scenarios", "run", str(f), "--out", str(tmp_path / "made" / "run"), "--no-progress"],
                         main="scenarios.__main__:main")
    assert (r.returncode, r.stderr) == (143, "interrupted by SIGTERM before the run started: nothing written\n")
    assert not (tmp_path / "made").exists()


def test_an_empty_scenario_file_is_refused_as_empty_as_an_empty_config_is(tmp_path):
    """"expected a mapping at the top level, got NoneType" named Python's type, not what is wrong with the file."""
    from scenarios.schema import ScenarioError, load_scenario
    f = tmp_path / "empty.yaml"
    for text in ("", "# nothing yet\n", "---\n"):
        f.write_text(text)
        with pytest.raises(ScenarioError, match=f"^{re.escape(str(f))}: empty: no scenario in it$"):
            load_scenario(f)


def test_a_quota_pin_or_a_sample_interval_of_1e_300_s_fails_check_naming_the_field_not_hangs_the_run(tmp_path, capsys):
    """``every_s: 1.0e-300`` passed ``check``, and ``run`` then never began: the pin expands into duration_s / every_s
    events when the run is built (10^301 here). A sample interval of 1e-300 s passed too, and the sampler's clock
    never moved on (t + 1e-300 is t). Both are refused naming the file, the field and the value; the least each
    takes, 10 ms, still loads."""
    bad = tmp_path / "pinned.yaml"
    bad.write_text(MINIMAL.replace("duration_s: 20", "duration_s: 20\nsample_interval_s: 1.0e-300")
                   + "chaos:\n  - {kind: quota_pinned, at_s: 2, duration_s: 10, every_s: 1.0e-300}\n")
    assert main(["check", str(bad)]) == 2
    assert capsys.readouterr().err == (
        f"{bad}: invalid scenario:\n"
        "  chaos.0.quota_pinned.every_s: Input should be greater than or equal to 0.01 (got 1e-300)\n"
        "  sample_interval_s: Input should be greater than or equal to 0.01 (got 1e-300)\n")
    least = tmp_path / "least.yaml"
    least.write_text(MINIMAL.replace("duration_s: 20", "duration_s: 20\nsample_interval_s: 0.01")
                     + "chaos:\n  - {kind: quota_pinned, at_s: 2, duration_s: 10, every_s: 0.01}\n")
    sc = load_scenario(least)
    assert len(sc.schedule().events) == 1001 and sc.sample_interval_s == 0.01


@pytest.mark.parametrize("line, field, says", [
    ("chaos: [{kind: slide, at_s: 2, duration_s: 1.0e+300, fraction: -0.01}]", "chaos.0.slide.duration_s",
     "less than or equal to 86400 (got 1e+300)"),
    ("start: {resting_orders: [{side: buy, sz: 0.001, offset_bps: -10000}]}", "start.resting_orders.0.offset_bps",
     "greater than -10000 (got -10000)"),
    ("seeds: [18446744073709551616]", "seeds.0", "less than or equal to 18446744073709551615 "
                                                "(got 18446744073709551616)"),
])
def test_a_number_of_a_scenario_past_its_bound_is_refused_naming_the_file_the_field_and_the_value(
        tmp_path, line, field, says):
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL + line + "\n")
    with pytest.raises(ScenarioError) as e:
        load_scenario(bad)
    assert str(e.value) == f"{bad}: invalid scenario:\n  {field}: Input should be {says}"


def test_the_run_log_carries_the_agent_timings_a_lost_pull_is_judged_by(tmp_path):
    """How long a fill after a pull lost in transport is excused (invariants._lost_pull_s) is the agent's config's:
    its ack timeout, tick, audit interval, and the longest it waits to ask again for a snapshot (a lost one: 2 x
    ack_timeout_s; a refused one: the shipped core's backoff cap, never the agent's under test, whose own cap would
    set the bound it is judged by)."""
    from agent.core import AgentCore

    class QuickRetry(AgentCore):
        def _snapshot_backoff_cap(self) -> float:
            return 0.5

    f = tmp_path / "timings.yaml"
    f.write_text(MINIMAL.replace("duration_s: 20", "duration_s: 5")
                 + "agent: {risk: {ack_timeout_s: 2, audit_interval_s: 12, pull_retry_s: 6}, "
                   "session: {cycle_s: 0.25}, budget: {ip_quote_frac: 0.9}}\n")
    log = run_scenario(load_scenario(f), 0, agent_cls=QuickRetry).log
    assert (log.ack_timeout_s, log.audit_interval_s, log.cycle_s) == (2.0, 12.0, 0.25)
    assert log.snapshot_retry_s == 12.0  # 2 x pull_retry_s, past 2 x ack_timeout_s (4 s) and the IP pace (4.7 s)
    # and whether its quoting leaves a snapshot room in the IP weight: 1079 + 42 past the snapshots' 1080 here
    assert log.quoting_leaves_snapshot_room is False


def test_a_check_across_fields_names_them_without_the_whole_file_as_its_value(tmp_path, capsys):
    """A check across fields (the scenario's own validators) failed as ``(top level): Value error, market.coin
    'DOGE' is not ... (got {'name': 'tiny', 'incident': ...})``: pydantic's prefix, and the whole file shown as
    the value, where the message already names the field and its value."""
    bad = tmp_path / "doge.yaml"
    bad.write_text(MINIMAL.replace("duration_s: 20", "duration_s: 20\nmarket: {coin: DOGE}"))
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "market.coin 'DOGE' is not an instrument of the twin" in err, err
    assert "Value error" not in err and "got {" not in err and "'incident'" not in err, err


def test_a_tick_is_checked_against_the_scenarios_own_market_not_the_twins_default_one(tmp_path, capsys):
    """The twin's tick check ran on the scenario's twin section, whose markets were TwinParams' default (BTC at
    100000), and not on the market the run has (set by ``twin_params`` on a copy): hyna:LIT at 12 on 0.0001 (its
    book lists 12.0001, which the twin's order check refuses) was taken, and BTC on tick 0.1 with 4 size decimals at
    3000 (every price it lists valid) was refused naming 99998.1, a price of a market the run never has."""
    bad = tmp_path / "lit.yaml"
    bad.write_text(MINIMAL.replace("duration_s: 20", "duration_s: 20\nmarket: {coin: 'hyna:LIT', preset: thin_hip3, "
                                                     "synthetic: {initial_mid: 12.0}}"))
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "instrument hyna:LIT: tick 0.0001" in err, err
    assert "(initial_mid 12.0) list 11.9971," in err, err
    ok = tmp_path / "eth.yaml"
    ok.write_text(MINIMAL.replace("duration_s: 20", "duration_s: 20\nmarket: {synthetic: {initial_mid: 3000.0}}\n"
                                                    "twin: {instruments: [{tick: 0.1, sz_decimals: 4}]}"))
    assert load_scenario(ok).twin_params().instrument("BTC").tick == 0.1


def test_a_yaml_error_names_the_file_at_its_line_not_a_unicode_string(tmp_path, capsys):
    """PyYAML's marks said ``in "<unicode string>", line 12`` (the text was parsed from a string): no file a user
    has. Each mark names the scenario file; a key given twice too."""
    for text in ("name: x\n  bad: [\n", MINIMAL + "duration_s: 30\n"):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        assert main(["check", str(bad)]) == 2
        err = capsys.readouterr().err
        assert "<unicode string>" not in err and f'in "{bad}", line' in err, err


README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readmes_invariant_table_is_the_invariants_parameters_and_defaults():
    """The README's invariant table is where a scenario's author looks an invariant's parameters up: each row names
    every field its model takes, no more, with the default in brackets as the model has it (a config key or a word,
    ``risk.max_position``, ``end``, where the model's default is null and the run fills it in; none where the field
    is required). ``request_rate_adapts_to_headroom``'s ``reached_within_frac`` was in the model and not the table."""
    from scenarios.invariants import INVARIANTS
    table = README.read_text().split("| invariant | parameters (default) | what must hold |", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        name, params = re.split(r"(?<!\\)\|", line)[1:3]
        rows[re.fullmatch(r"\s*`(\w+)`\s*", name).group(1)] = dict(re.findall(r"`(\w+)`(?: \(([^)]*)\))?", params))
    models = {m.model_fields["name"].annotation.__args__[0]: m for m in INVARIANTS}
    assert list(rows) == list(models)
    for name, model in models.items():
        fields = {k: f for k, f in model.model_fields.items() if k != "name"}
        assert set(rows[name]) == set(fields), name
        for k, f in fields.items():
            shown = rows[name][k]
            if f.is_required():
                assert shown == "", (name, k, shown)
            elif f.default is None:
                assert shown and not re.fullmatch(r"[-+.\deE]+|true|false", shown), (name, k, shown)
            elif isinstance(f.default, bool):
                assert shown == str(f.default).lower(), (name, k, shown)
            elif isinstance(f.default, (int, float)):
                assert float(shown) == f.default, (name, k, shown)
            else:
                assert shown == str(f.default), (name, k, shown)


def test_the_readmes_chaos_kinds_are_the_schemas_with_their_fields():
    """"Chaos kinds: `latency_spike` (`duration_s`, `path`, ...)": each kind a scenario takes, with every field its
    model has past ``kind`` and ``at_s``, and no kind or field the schema does not take."""
    import typing

    from scenarios.schema import ScenarioChaos
    text = " ".join(README.read_text().split("Chaos kinds: ", 1)[1].split(". A `rejection_burst`", 1)[0].split())
    shown = {k: set(re.findall(r"`(\w+)`", fields)) for k, fields in re.findall(r"`(\w+)` \(([^()]*(?:\([^()]*\)"
                                                                                   r"[^()]*)*)\)", text)}
    models = typing.get_args(typing.get_args(ScenarioChaos)[0])
    expected = {m.model_fields["kind"].default: set(m.model_fields) - {"kind", "at_s"} for m in models}
    assert shown == expected


def test_a_start_off_the_coins_lot_or_tick_fails_check_naming_the_field_not_run_with_a_traceback(tmp_path, capsys):
    """A starting position or resting order the venue could not hold (seeding refuses it) passed ``check``, and
    ``run`` stopped with set_position's traceback after it had made the run folder."""
    bad = tmp_path / "lot.yaml"
    bad.write_text(MINIMAL + "start:\n  position: 0.0312345678\n  resting_orders:\n"
                             "    - {side: buy, px: 99999.5, sz: 0.001}\n"
                             "    - {side: sell, px: 100001, sz: 0.0000001}\n")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    for says in ("start.position 0.0312345678: more than BTC's 5 size decimals",
                 "start.resting_orders.0.px 99999.5: not a BTC price",
                 "start.resting_orders.1.sz 1e-07: not a BTC size"):
        assert str(bad) in err and says in err, err
    ok = tmp_path / "ok.yaml"
    ok.write_text(MINIMAL + "start:\n  position: 0.03125\n  resting_orders:\n    - {side: buy, px: 99999, sz: 0.001}\n")
    assert load_scenario(ok).start.position == 0.03125


def test_a_resting_order_that_crosses_the_book_at_the_start_exits_2_naming_it_and_leaves_no_run_folder(tmp_path,
                                                                                                         capsys):
    """Whether a resting order's px crosses the book is known only at the start (the market moves in the pre-roll):
    rest_order refused it with a SeedingError traceback, after the run folder held the scenario and an empty log,
    which a second run into it was then refused for as an earlier run's."""
    bad = tmp_path / "cross.yaml"
    bad.write_text(MINIMAL + "start:\n  resting_orders:\n    - {side: buy, px: 150000, sz: 0.001}\n")
    assert main(["check", str(bad)]) == 0  # (a price on the grid: check cannot know the book)
    out = tmp_path / "runs" / "cross"
    assert main(["run", str(bad), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "start.resting_orders.0: resting bid at 150000.0 on BTC would cross the book" in err
    assert "Traceback" not in err and not out.exists()


# ------------------------------------------------------------------------------------------ draw: the timeline again

TIGHT = (MINIMAL.replace("duration_s: 20", "duration_s: 20\nagent: {graduation: {start_level: FULL}}\n"
                                           "chaos:\n  - {kind: disconnect, at_s: 5, duration_s: 3}")
         .replace("{name: worst_case_position_within_limit}",
                  "{name: worst_case_position_within_limit, limit: 0.000001}"))


def test_draw_redraws_the_timeline_the_run_drew_from_the_run_folder(tmp_path, capsys):
    """A Ctrl-C while `run` drew left result.json and no picture, and nothing drew it again but the run itself. `draw`
    draws it from the folder, the same picture byte for byte: a broken invariant, a fault shaded, our quotes (kept
    in samples.npz since). A folder written before the quotes were kept is drawn without them, said."""
    f = tmp_path / "tight.yaml"
    f.write_text(TIGHT)
    out = tmp_path / "run"
    assert main(["run", str(f), "--out", str(out), "--no-progress"]) == 1  # (the invariant breaks: a mark to draw)
    drawn = (out / "timeline.png").read_bytes()
    (out / "timeline.png").unlink()
    capsys.readouterr()
    assert main(["draw", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"timeline: {out / 'timeline.png'}\n"
    assert captured.err == f"drawing the timeline (a few seconds): {out / 'timeline.png'}\n"
    assert (out / "timeline.png").read_bytes() == drawn
    # elsewhere, and from a folder whose samples keep no orders (as written before they were kept)
    with np.load(out / "samples.npz") as z:
        columns = {k: z[k] for k in z.files}
    assert len(columns["orders_px"]) > 0 and set(columns["orders_kind"].tolist()) <= {0, 1, 2}
    np.savez_compressed(out / "samples.npz", **{k: v for k, v in columns.items() if not k.startswith("orders_")})
    png = tmp_path / "again.png"
    assert main(["draw", str(out), "--out", str(png)]) == 0
    assert capsys.readouterr().err.startswith(f"note: {out / 'samples.npz'} keeps no resting orders (a run written "
                                              f"before they were kept): the timeline is drawn without our quotes\n")
    assert png.read_bytes()[:4] == b"\x89PNG" and png.read_bytes() != drawn  # (the quotes are what is missing)


def test_draw_refuses_a_folder_that_is_not_a_finished_runs_naming_it(tmp_path, capsys):
    f = tmp_path / "tiny.yaml"
    f.write_text(MINIMAL)
    run = tmp_path / "run"
    assert main(["run", str(f), "--out", str(run), "--no-progress"]) == 0
    capsys.readouterr()

    def refused(folder) -> str:
        assert main(["draw", str(folder)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err, err
        return err

    nowhere = tmp_path / "nowhere"
    assert refused(nowhere) == (f"error: {nowhere}: no such folder (give the run folder 'python -m scenarios run' "
                                f"wrote, its --out)\n")
    assert refused(f).startswith(f"error: {f}: not a folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert refused(empty).startswith(f"error: {empty}: not a scenario run folder: no result.json or scenario.json")
    cut = tmp_path / "cut"  # a run stopped before its end: its scenario and log, no result
    cut.mkdir()
    (cut / "scenario.json").write_text((run / "scenario.json").read_text())
    assert refused(cut).startswith(f"error: {cut}: no result.json: the run did not end")
    (cut / "result.json").write_text((run / "result.json").read_text())
    assert refused(cut) == f"error: {cut / 'samples.npz'}: missing beside result.json: the run folder is not whole\n"
    (cut / "samples.npz").write_bytes((run / "samples.npz").read_bytes()[:100])  # cut short
    assert refused(cut).startswith(f"error: {cut / 'samples.npz'}: not the run's samples (a NumPy .npz): ")
    (cut / "samples.npz").write_bytes((run / "samples.npz").read_bytes())
    (cut / "result.json").write_text('{"scenario": "tiny"')
    assert refused(cut).startswith(f"error: {cut / 'result.json'}: not valid JSON: ")
    (cut / "result.json").write_text('{"scenario": "tiny"}')
    assert refused(cut).startswith(f"error: {cut / 'result.json'}: not a scenario run's result")
    (cut / "result.json").write_text((run / "result.json").read_text())
    (cut / "scenario.json").write_text('{"name": "tiny"}')
    assert refused(cut).startswith(f"error: {cut / 'scenario.json'}: invalid scenario as a run writes it:")
    (cut / "scenario.json").write_text((run / "scenario.json").read_text())
    assert main(["draw", str(cut)]) == 0 and (cut / "timeline.png").read_bytes() == (run / "timeline.png").read_bytes()


@pytest.mark.parametrize("file, agent, seed", [
    ("fees_exceed_spread.yaml", "NaiveGrossEdge", 1),  # cold: the core's clock 1 s ahead of the scenario's
    ("feb10_reduce_only_bypass.yaml", None, 13),  # warm: 60 s ahead
])
def test_the_run_folders_files_give_one_event_one_time_on_the_scenarios_clock(tmp_path, file, agent, seed):
    """summary.json's transitions were on the core's clock, which counts the pre-roll (1 s cold, start.warmup_s
    warm), where result.json, the console, samples.npz, decisions.jsonl's ``t`` and level_history.json's ``t``
    are seconds after the agent's start: the naive agent's promotion to Ramping that broke fees_exceed_spread at
    t=460.50 s on seed 1 read 461.5 in summary.json and ``ts`` 461.5 beside ``t`` 460.5 in level_history.json, and
    the summary's timeline, its buckets from the core's 0, covered the pre-roll and left out as much of the run's
    end (feb10 seed 13: Red at 64.8 s showed in the 21st of 30 buckets, the 11th's time)."""
    out = tmp_path / "run"
    argv = ["run", str(SCENARIOS / file), "--seed", str(seed), "--out", str(out), "--no-progress"]
    if agent:
        argv += ["--agent", f"{Path(__file__).parent / 'naive_agents.py'}:{agent}"]
    main(argv)
    summary = json.loads((out / "summary.json").read_text())
    levels = json.loads((out / "level_history.json").read_text())
    result = json.loads((out / "result.json").read_text())
    for ladder in ("safety", "exposure"):
        assert [t["ts"] for t in summary[ladder]["transitions"]] == [round(t["t"], 3) for t in levels[ladder]]
        assert all("ts" not in t for t in levels[ladder])  # one clock in the file
    timeline = summary["timeline"]
    if agent:  # the promotion is the violation
        promoted = summary["exposure"]["transitions"][0]
        assert promoted["to"] == "RAMPING" and [v["t"] for v in result["violations"]] == [pytest.approx(promoted["ts"])]
        assert promoted["ts"] == 460.5
    else:  # each ladder's change in the bucket of its time after the start
        red = [t for t in summary["safety"]["transitions"] if t["to"] == "RED"]
        assert red[0]["ts"] == pytest.approx(64.8)
        assert timeline["safety"].index("3") == int(64.8 // timeline["bucket_s"])
        shadow = [t for t in summary["exposure"]["transitions"] if t["to"] == "SHADOW"][0]["ts"]
        assert timeline["exposure"].index("0") == int(shadow // timeline["bucket_s"])
