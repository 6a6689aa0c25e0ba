"""``python -m agent``: the Quickstart command's options, its run folder, and the dispatch to the live CLI."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from agent.__main__ import main


def _strict_json(text: str):
    """JSON as every other reader takes it: the words NaN and Infinity, which Python's json writes and reads
    by default, are not JSON (jq and JSON.parse refuse the whole file)."""
    def refuse(word):
        raise ValueError(f"{word} in JSON text")
    return json.loads(text, parse_constant=refuse)


def test_twin_run_writes_the_documented_run_folder_and_is_reproducible(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["--duration", "2m", "--seed", "3", "--out", str(a), "--quiet", "--json"]) == 0
    printed = _strict_json(capsys.readouterr().out)
    assert main(["--duration", "2m", "--seed", "3", "--out", str(b), "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "agent vs twin, BTC, seed 3" in table and "quote cycles" in table
    sa, sb = (_strict_json((d / "summary.json").read_text()) for d in (a, b))
    # two minutes in Shadow: no real fill, so no markout yet: null in the file, n/a on the console
    assert sa["fills"] == 0 and sa["markouts_bps"] == {"1s": None, "10s": None} == printed["markouts_bps"]
    assert "markouts           1s n/a, 10s n/a bps" in table
    # the console's request figures in summary.json's words: actions sent, and the items the venue counts
    req = sb["requests"]
    assert f"requests           {req['sent']} actions, {req['items']} items; venue used {req['venue_used']}" in table
    _strict_json((a / "level_history.json").read_text())
    for s in (sa, sb):
        s.pop("wall_s"), s.pop("sim_s_per_wall_s")
    assert sa == sb and printed["cycles"] == sa["cycles"] > 0 and sa["interrupted"] is False
    assert sa["simulated_s"] == 120.0
    assert (a / "decisions.jsonl").stat().st_size > 0 and (a / "config.json").exists()
    # summary.json is a public interface: its keys are the README's, no more and no fewer
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("`summary.json` keys:", 1)[1].split("\n## ", 1)[0]
    documented = {re.split(r"[.{]", k)[0] for row in table.splitlines() if row.startswith("| `")
                  for k in re.findall(r"`([^`]+)`", row.split("|")[1])}
    assert documented == set(sa) | {"wall_s", "sim_s_per_wall_s"}
    # ... and so are the nested keys the table names (`pnl.fees_usd`, `exposure.confidence.{model,...}`): the
    # dicts keyed by data (rejection reasons, signal names, markout horizons) aside
    dotted = set()
    for row in table.splitlines():
        for k in re.findall(r"`([^`]+)`", row.split("|")[1]) if row.startswith("| `") else ():
            head, _, braces = k.partition(".{")
            dotted |= {f"{head}.{b}" for b in braces.rstrip("}").split(",")} if braces else {k}

    def leaves(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict) and k not in ("rejections_by_reason", "signal_weights", "markouts_bps"):
                yield from leaves(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}"
    assert dotted == set(leaves(sa)) | {"wall_s", "sim_s_per_wall_s"}


def test_a_run_folder_holding_a_run_is_refused_and_left_as_it_was(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--duration", "1m", "--out", str(out), "--quiet", "--json"]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["--duration", "1m", "--seed", "5", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "decisions.jsonl" in err and "--out" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_run_folder_whose_log_is_empty_is_run_into_and_one_with_any_line_or_segment_is_not(tmp_path, capsys):
    """A run killed between creating its decision log and writing the start line leaves 0 bytes: nothing to
    lose, and refusing it made the operator delete a folder by hand. A byte (a torn line), or a segment beside
    the empty live file (as a rotation leaves it), is an earlier run's and is still refused."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "decisions.jsonl").touch()
    assert main(["--duration", "1m", "--out", str(out), "--quiet"]) == 0
    first = (out / "decisions.jsonl").read_text().splitlines()[0]
    assert json.loads(first)["type"] == "start" and (out / "summary.json").exists()
    capsys.readouterr()
    for files in ({"decisions.jsonl": b"{"}, {"decisions-000001.jsonl": b'{"type":"start"}\n', "decisions.jsonl": b""}):
        other = tmp_path / f"other{len(files)}"
        other.mkdir()
        for name, data in files.items():
            (other / name).write_bytes(data)
        assert main(["--duration", "1m", "--out", str(other), "--quiet"]) == 2, files
        err = capsys.readouterr().err
        assert f"{other} already holds a run" in err and "choose another --out, or remove the folder" in err
        assert sorted(p.name for p in other.iterdir()) == sorted(files)  # not a byte written: not even config.json


def test_ctrl_c_ends_the_run_not_the_program_with_a_summary_of_the_time_so_far(tmp_path, capsys, monkeypatch):
    import agent.session
    from agent.audit.records import read_log

    def half_then_ctrl_c(env, until, progress, desc=""):
        env.run(until=until / 2)
        raise KeyboardInterrupt  # as SIGINT does, between two events
    monkeypatch.setattr(agent.session, "run_until", half_then_ctrl_c)
    out = tmp_path / "run"
    assert main(["--duration", "2m", "--out", str(out), "--quiet", "--json"]) == 130
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert "interrupted" in captured.err and "60 of 120" in captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary == printed and summary["interrupted"] is True and summary["simulated_s"] == 60.0
    records, bad = read_log(out / "decisions.jsonl")
    assert bad == 0 and sum(r["type"] == "cycle" for r in records) == summary["cycles"] > 0
    assert (out / "level_history.json").exists()


def test_ctrl_c_before_the_first_event_still_prints_the_summary_and_exits_130(tmp_path, capsys, monkeypatch):
    """A SIGINT sent 0.5 s after the start (seen in a kill test) lands before the first simulated event: the
    summary's timeline had no bucket_s (a documented key) and printing it raised KeyError, exit 1, no summary."""
    import agent.session

    def ctrl_c_at_once(env, until, progress, desc=""):
        raise KeyboardInterrupt  # as SIGINT does, before the first event
    monkeypatch.setattr(agent.session, "run_until", ctrl_c_at_once)
    out = tmp_path / "run"
    assert main(["--duration", "2m", "--out", str(out), "--quiet"]) == 130
    captured = capsys.readouterr()
    assert "agent vs twin, BTC, seed 0" in captured.out and "no simulated time" in captured.out
    assert "0 of 120" in captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["simulated_s"] == 0.0
    assert summary["timeline"] == {"buckets": 0, "bucket_s": 0.0, "exposure": "", "safety": ""}


@pytest.mark.parametrize("name", [n for n in ("SIGTERM", "SIGHUP") if hasattr(__import__("signal"), n)])
def test_sigterm_or_sighup_ends_a_twin_run_as_ctrl_c_does_naming_the_signal(name, tmp_path,
                                                                             signalled_once_started):
    """``kill PID`` (a service manager's stop, ``docker stop``) and a closed terminal ended ``python -m agent``
    as kill -9 does: no summary, no end line, and the log's buffered lines lost. Now the run ends as Ctrl-C ends
    it, its end line naming the signal, exit 128 + its number, as a shell reports a process the signal ended."""
    import signal
    from agent.audit.records import read_log

    sig = getattr(signal, name)
    out = tmp_path / "run"
    log = out / "decisions.jsonl"
    code, stdout, err = signalled_once_started(  # once the log's first batch is on disk: the session is running
        ["agent", "--duration", "1d", "--out", str(out), "--quiet", "--json"],
        lambda proc, err: log.exists() and log.stat().st_size > 0, sig)
    assert code == 128 + sig, err
    assert f"interrupted by {name}: the summary covers" in err and "Traceback" not in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary == json.loads(stdout) and summary["interrupted"] is True and 0 < summary["simulated_s"] < 86400
    records, bad = read_log(log)
    assert bad == 0 and records[-1]["type"] == "end" and records[-1]["reason"] == name
    # every cycle's line (64 lines a batch: not a batch lost), the one the signal came in too: it is handled after it
    assert summary["cycles"] == sum(r["type"] == "cycle" for r in records)


def test_a_twin_run_in_process_leaves_the_signal_handlers_as_they_were(tmp_path, capsys):
    import signal
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    assert main(["--duration", "1m", "--quiet"]) == 0
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_negative_seed_or_a_file_for_the_run_folder_exit_2_naming_them(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--seed", "-1"])
    assert e.value.code == 2 and "--seed: expected a non-negative integer, got '-1'" in capsys.readouterr().err
    f = tmp_path / "notes.txt"
    f.write_text("mine")
    assert main(["--duration", "1m", "--out", str(f), "--quiet"]) == 2
    assert f"--out {f}: exists and is not a folder" in capsys.readouterr().err and f.read_text() == "mine"


@pytest.mark.parametrize("module, commands", [("twin", "{run,serve}"), ("scenarios", "{run,check,draw}")])
def test_no_command_exits_2_naming_the_commands_to_choose(module, commands, capsys):
    """``python -m twin`` with no command said "the following arguments are required: cmd", naming an internal
    variable, not what to type."""
    import importlib
    with pytest.raises(SystemExit) as e:
        importlib.import_module(f"{module}.__main__").main([])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"the following arguments are required: {commands}" in err and "cmd" not in err


def test_bad_duration_and_config_exit_2_naming_the_problem(tmp_path, capsys):
    assert main(["--duration", "ten minutes"]) == 2
    assert "ten minutes" in capsys.readouterr().err
    for option in ("--config", "--params"):  # a file that is not there: the option and the file named
        assert main([option, str(tmp_path / "nope"), "--quiet"]) == 2
        assert capsys.readouterr().err == f"error: {option} {tmp_path / 'nope'}: No such file or directory\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text("risk:\n  max_position: -1\n")
    assert main(["--config", str(bad), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "max_position" in err


def test_a_coin_the_twin_cannot_trade_exits_2_saying_why_and_the_suggested_params_run_it(tmp_path, capsys):
    """hyna:LIT is listed but has no market in the defaults (an empty book: the session would wait out its
    whole duration and report nothing); ETH is not listed at all. The error's own command makes a file that
    runs."""
    import shlex
    import subprocess
    import sys
    lit, eth = tmp_path / "lit.yaml", tmp_path / "eth.yaml"
    lit.write_text('session:\n  coin: "hyna:LIT"\n')
    eth.write_text('session:\n  coin: "ETH"\n')
    assert main(["--config", str(eth), "--quiet"]) == 2
    assert "session.coin 'ETH' is not an instrument of the twin" in capsys.readouterr().err
    assert main(["--config", str(lit), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no market for session.coin 'hyna:LIT'" in err and "markets for BTC" in err
    cmd = shlex.split(err[err.index("python -c"):err.index(" > params.json")])
    params = tmp_path / "params.json"
    params.write_text(subprocess.run([sys.executable] + cmd[1:], capture_output=True, text=True, check=True).stdout)
    assert main(["--config", str(lit), "--params", str(params), "--duration", "2m", "--quiet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cycles"] > 0
    # a params file without BTC's market: the suggestion is BTC's default market (it was the thin HIP-3 preset, in
    # a dict naming BTC twice)
    from twin.params import TwinParams
    bare = tmp_path / "bare.json"
    bare.write_text(TwinParams(markets={}).model_dump_json())
    assert main(["--params", str(bare), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "for the default market" in err and "markets={'BTC': M()}" in err and "thin_hip3" not in err


def test_a_coin_the_twin_cannot_trade_names_the_config_file_that_set_it(tmp_path, capsys):
    """The coin comes from the --config file (session.coin): the error named the field and the value but not the
    file, where search's names it; a typo there ('btc', 'BTC ') read as a coin missing from the twin's parameters."""
    for coin in ("btc", "hyna:LIT"):
        cfg = tmp_path / "mine.yaml"
        cfg.write_text(f'session:\n  coin: "{coin}"\n')
        assert main(["--config", str(cfg), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: --config {cfg}: ") and f"session.coin {coin!r}" in err, err


def test_venue_live_goes_to_the_live_cli_which_refuses_to_run_without_a_key(monkeypatch, capsys):
    monkeypatch.delenv("HL_SECRET_KEY", raising=False)
    monkeypatch.delenv("HL_ACCOUNT_ADDRESS", raising=False)
    assert main(["--venue", "live", "--base-url", "http://127.0.0.1:9"]) == 2
    assert "HL_SECRET_KEY" in capsys.readouterr().err
    assert main(["--venue=live", "--base-url", "http://127.0.0.1:9"]) == 2


def test_show_config_prints_every_setting_described_and_loads_back(tmp_path, capsys):
    from agent.config import AgentConfig

    mine = tmp_path / "mine.yaml"
    mine.write_text("graduation:\n  start_level: MICRO_LIVE\nreconcile:\n  behind_tolerance_bps: 2.5\n")
    assert main(["--config", str(mine), "--show-config"]) == 0
    out = capsys.readouterr().out
    shown = tmp_path / "shown.yaml"
    shown.write_text(out)
    assert AgentConfig.load(shown) == AgentConfig.load(mine)  # the effective config, whole
    assert "start_level: MICRO_LIVE  # " in out and "behind_tolerance_bps: 2.5  # " in out
    leaves = [line for line in out.splitlines() if line.strip() and not line.strip().startswith("#")
              and not line.rstrip().endswith(":")]
    assert leaves and all("  # " in line for line in leaves)  # every setting says what it does


def test_show_config_refuses_the_runs_options_naming_them(tmp_path, capsys):
    """--show-config with --out, --duration, --seed or --json printed the config and exited 0, those ignored unsaid:
    no folder written, the seed nowhere in what was printed. Each is named now (abbreviated, or at its default,
    too), exit 2, nothing printed on stdout; --quiet and --config still go with it."""
    out = tmp_path / "run"
    assert main(["--show-config", "--seed", "0", "--dur", "5", "--out", str(out), "--json"]) == 2
    said = capsys.readouterr()
    assert said.out == "" and not out.exists()
    assert said.err.startswith("error: --duration, --seed, --out and --json do nothing with --show-config, "), said.err
    assert main(["--show-config", "--seed", "7"]) == 2
    assert capsys.readouterr().err.startswith("error: --seed does nothing with --show-config"), said.err
    assert main(["--show-config", "--quiet"]) == 0 and "session:" in capsys.readouterr().out


def test_real_quotes_without_the_maker_fee_in_them_are_warned_of():
    """Levels 3 and 4 place real quotes: with quoting.maker_fee_bps 0 the operator is told, naming the
    setting; the dry run (2) and a configured fee (or rebate) are not warned of."""
    from agent.live_cli import fee_warning
    assert "quoting.maker_fee_bps is 0" in fee_warning(0.0, 3) and fee_warning(0.0, 4) is not None
    assert fee_warning(0.0, 2) is None and fee_warning(1.5, 3) is None and fee_warning(-0.2, 4) is None


def test_promotion_on_the_point_share_of_positive_edge_fills_is_warned_of_where_it_places_real_orders():
    """positive_edge_z 0 (the default) promotes on the share itself, chance as often as skill on a few dozen
    fills: levels 3 and 4 are told, naming the setting, when a promotion is possible (started below the
    ceiling); the dry run, a start at the ceiling, and a Wilson bound set are not warned of."""
    from agent.config import AgentConfig
    from agent.live_cli import promotion_gate_warning

    def grad(**g):
        return AgentConfig.model_validate({"graduation": g}).graduation
    text = promotion_gate_warning(grad(start_level="SHADOW", ceiling="MICRO_LIVE"), 3)
    assert "graduation.promotion.positive_edge_z is 0" in text and "SHADOW" in text and "MICRO_LIVE" in text
    assert promotion_gate_warning(grad(start_level="MICRO_LIVE"), 4) is not None  # (the ceiling: Optimized)
    assert promotion_gate_warning(grad(), 2) is None  # the dry run places nothing a promotion could size up
    assert promotion_gate_warning(grad(start_level="MICRO_LIVE", ceiling="MICRO_LIVE"), 3) is None
    assert promotion_gate_warning(grad(promotion={"positive_edge_z": 1.0}), 4) is None
    assert promotion_gate_warning(grad(promotion={"min_positive_edge_share": 0.0}), 4) is None


def test_paper_fills_priced_by_the_quote_models_fee_for_want_of_the_venues_are_warned_of_where_they_promote():
    """graduation.paper_maker_fee_bps left null where the venue's rate is not known (userFees unread, a HIP-3 dex):
    Shadow's paper fills pay quoting.maker_fee_bps. Said, naming the field and the fee in use: a warning at the
    levels whose promotion out of Shadow places real orders, information in a dry run; nothing when the field is
    set or the ceiling keeps the run in Shadow."""
    import logging

    from agent.config import AgentConfig
    from agent.live_cli import paper_fee_fallback

    def cfg(g=None, fee=0.0):
        return AgentConfig.model_validate({"graduation": g or {}, "quoting": {"maker_fee_bps": fee}})
    level, text = paper_fee_fallback(cfg(), 3, None)
    assert level == logging.WARNING and "the venue's userFees could not be read" in text
    assert "paper fills pay quoting.maker_fee_bps, 0 bp" in text and "set graduation.paper_maker_fee_bps" in text
    level, text = paper_fee_fallback(cfg(fee=1.2), 4, "hyna")
    assert level == logging.WARNING and "dex 'hyna' is a HIP-3 dex" in text and "1.2 bp" in text
    assert paper_fee_fallback(cfg(), 2, None)[0] == logging.INFO
    assert paper_fee_fallback(cfg({"paper_maker_fee_bps": 1.5}), 3, None) is None
    assert paper_fee_fallback(cfg({"ceiling": "SHADOW"}), 4, "hyna") is None


def test_trading_real_orders_with_no_demotion_on_net_edge_is_warned_of():
    """demote_net_edge_z null (the twin's default) leaves a level whose real fills lose their fee to the drawdown
    trigger, far off at MicroLive: levels 3 and 4 are told, naming the setting; the dry run and a set z are not."""
    from agent.config import AgentConfig
    from agent.live_cli import net_edge_demotion_warning

    def grad(**g):
        return AgentConfig.model_validate({"graduation": g}).graduation
    assert "graduation.demote_net_edge_z is null" in net_edge_demotion_warning(grad(), 3)
    assert net_edge_demotion_warning(grad(start_level="MICRO_LIVE", ceiling="MICRO_LIVE"), 4) is not None
    assert net_edge_demotion_warning(grad(), 2) is None
    assert net_edge_demotion_warning(grad(demote_net_edge_z=2.0), 3) is None
    example = Path(__file__).resolve().parents[2] / "examples" / "live-first-run.yaml"
    assert net_edge_demotion_warning(AgentConfig.load(example).graduation, 3) is None


def test_the_summary_says_what_holds_promotion():
    """An operator whose session stays at a level reads why in the summary: the criteria that failed at the
    last evaluation, each with its value and what it needs."""
    from agent.report import held_by_text, promotion_held_by
    from agent.graduation.exposure import CriterionCheck
    checks = (CriterionCheck.at_least("fills_at_level", 40, 30), CriterionCheck.at_least("positive_edge_share", 0.31, 0.35),
              CriterionCheck.at_most("brier", float("nan"), 0.25))
    held = promotion_held_by(checks)
    assert held == [{"name": "positive_edge_share", "value": 0.31, "threshold": 0.35, "op": ">="},
                    {"name": "brier", "value": None, "threshold": 0.25, "op": "<="}]
    assert held_by_text(held) == "positive_edge_share 0.31 (needs ≥ 0.35), brier not measured (needs ≤ 0.25)"
    assert held_by_text([]).startswith("nothing")
    at_ceiling = promotion_held_by(checks, ceiling=1)  # held by graduation.ceiling, whatever the criteria say
    # said by the level's name, as the config gives it (ceiling: MICRO_LIVE), not its number: "graduation.ceiling 1"
    # was read in a walk of README's workflow as a count, one of something
    assert [c["name"] for c in at_ceiling] == ["ceiling"] and at_ceiling[0]["value"] == 1
    assert held_by_text(at_ceiling) == "its ceiling (graduation.ceiling MICRO_LIVE)"


def test_the_summary_says_what_holds_the_safety_level():
    """A run that sits at Red for its last minutes (the venue's health low after an outage and a rejection burst)
    said only "RED": the summary names the rule holding it, and while the level steps down, that none does."""
    import math

    import numpy as np

    from agent.config import AgentConfig
    from agent.core import AgentCore
    from agent.report import safety_row, trading_summary
    from agent.safety.escalator import SafetyInputs

    core = AgentCore(AgentConfig(), np.random.default_rng(0), tick=1.0, sz_decimals=5)

    def tick(ts, health, reconnect_ts=-math.inf):
        core.safety.update(SafetyInputs(ts, 100_000.0, 100_000.0, 0.0, 0.05, 0, reconnect_ts, 0, health, 0.1, 0.0))
    tick(1.0, 0.2, reconnect_ts=0.5)  # a reconnection's Yellow too: it holds nothing at Red, and is not named
    assert [h.rule for h in core.safety.hits] == ["reconnect_age_s", "exchange_health"]
    s = trading_summary(core)
    assert s["safety"]["final_level"] == "RED" and s["safety"]["held_by"] == ["exchange_health 0.2 ≤ 0.3 → RED"]
    assert safety_row(s)[1].startswith("final RED, max RED, 1 transitions; held by exchange_health 0.2 ≤ 0.3 → RED (the "
                                       "address request budget left: it grows only with the account's traded volume")
    tick(2.0, 1.0)  # healthy again: Red's dwell (300 s) and recovery window still to run
    s = trading_summary(core)
    assert s["safety"]["final_level"] == "RED" and s["safety"]["held_by"] == []
    assert "no rule holds it now: it steps down once its dwell" in safety_row(s)[1]
    for t in range(3, 400):
        tick(float(t), 1.0)
    s = trading_summary(core)
    assert s["safety"]["final_level"] == "GREEN" and safety_row(s)[1] == "final GREEN, max RED, 4 transitions"


def test_the_summary_at_kill_says_it_stays_there_not_that_it_steps_down():
    """At Kill with its rule no longer holding (the position that killed it flattened), the safety row said "no rule
    holds it now: it steps down once its dwell and safety.recovery_window_s have passed": the escalator leaves Kill only
    through a manual reset, so an operator read that the level would clear by itself."""
    import math

    import numpy as np

    from agent.config import AgentConfig
    from agent.core import AgentCore
    from agent.report import safety_row, trading_summary
    from agent.safety.escalator import SafetyInputs

    core = AgentCore(AgentConfig(), np.random.default_rng(0), tick=1.0, sz_decimals=5)

    def tick(ts, pos):
        core.safety.update(SafetyInputs(ts, 100_000.0, 100_000.0, pos, 0.05, 0, -math.inf, 0, 1.0, 0.1, 0.0))
    tick(1.0, 0.1)  # twice the limit: position_kill_frac 1.5 exceeded
    s = trading_summary(core)
    assert s["safety"]["final_level"] == "KILL" and s["safety"]["held_by"]
    stays = "Kill does not step down, only a manual reset leaves it"
    assert "held by position_frac" in safety_row(s)[1] and stays in safety_row(s)[1]
    for t in range(2, 400):  # flat again, well past every dwell and recovery window: still Kill
        tick(float(t), 0.0)
    s = trading_summary(core)
    assert s["safety"]["final_level"] == "KILL" and s["safety"]["held_by"] == []
    row = safety_row(s)[1]
    assert "steps down" not in row and "no rule holds it now" in row and stays in row


def test_a_position_without_a_mid_yet_has_its_unrealised_pnl_not_measured_not_marked_at_zero():
    """A live run restarted on an account holding 0.01 BTC is reconciled (its first checkpoint writes the
    summary) before the first book: the position marked at a mid of 0 read as a 1,000 USDC loss."""
    import numpy as np

    from agent.config import AgentConfig
    from agent.core import AgentCore
    from agent.gateway.events import AccountSnapshot, BookUpdated, ConnectionRestored
    from agent.report import signed_usd, trading_summary
    from common.json_text import dumps

    core = AgentCore(AgentConfig(), np.random.default_rng(0), tick=1.0, sz_decimals=5)
    core.handle(ConnectionRestored(0.0, "ws"))
    core.handle(AccountSnapshot(0.5, 0.01, 100_000.0, 1_000.0, 50.0, (), 7, 0.0, 500))
    pnl = _strict_json(dumps(trading_summary(core)))["pnl"]
    assert pnl == {"realized_usd": 0.0, "unrealized_usd": None, "fees_usd": 0.0, "funding_usd": 0.0,
                   "carried_usd": None, "net_usd": None}
    assert signed_usd(trading_summary(core)["pnl"]["net_usd"]) == "n/a (no mid yet)"  # the consoles' PnL row
    core.handle(BookUpdated(1.0, "BTC", ((100_010.0, 1.0),), ((100_012.0, 1.0),), 1000))
    pnl = trading_summary(core)["pnl"]
    assert pnl["unrealized_usd"] == pytest.approx(0.11) and pnl["carried_usd"] == pytest.approx(0.11)
    assert pnl["net_usd"] == pytest.approx(0.0)  # what the position had made before the session is not the session's
    assert signed_usd(pnl["net_usd"]) == "+0.00"


def test_the_summarys_position_has_no_float_residue():
    """A position summed from fills in floating point (0.1 + 0.2 = 0.30000000000000004) was written as it was."""
    from agent.config import AgentConfig
    from agent.session import build_session, summarise

    ex, gw, core, driver = build_session(AgentConfig(), 0)
    core.ledger.position = core.ledger.max_abs_position = 0.1 + 0.2
    core.max_worst_case = 0.1 + 0.2
    pos = summarise(ex, gw, core, driver, 0.0, 1.0, 0)["position"]
    assert pos == {"final": 0.3, "max_abs": 0.3, "max_worst_case": 0.3, "limit": 0.05}


def test_the_summary_flags_a_maker_fee_unlike_the_configured_one():
    from agent.report import fee_rate_text
    assert "differs" in fee_rate_text({"maker_paid": 1.5, "configured": 0.0})
    assert "differs" in fee_rate_text({"maker_paid": -0.2, "configured": 0.0})
    assert "differs" not in fee_rate_text({"maker_paid": 1.5000001, "configured": 1.5})
    assert fee_rate_text({"maker_paid": None, "configured": 1.5}) == "no maker fill; quoting.maker_fee_bps 1.5"


def test_a_dry_runs_p_fill_row_says_why_it_is_not_scored_not_to_shorten_the_horizon():
    """A live dry run (execution level 2, against twin serve) printed "P(fill)  166 quotes (0 filled, 166 moved
    before 1 s); not scored: the outcome at T known for 0% (shorten shadow.p_fill_horizon_s)": its orders are
    cancelled as soon as they rest, so no horizon would do; at levels 3 and 4 the advice stands."""
    from agent.report import graduation_rows
    p = {"horizon_s": 1.0, "orders": 166, "filled": 0, "censored": 166, "outcome_known_share": 0.0, "brier": None}
    e = {"start_level": "MICRO_LIVE", "final_level": "MICRO_LIVE", "max_level": "MICRO_LIVE", "promotions": 0,
         "demotions": 0, "confidence": {"overall": 0.6}, "promotion_held_by": []}
    s = {"exposure": e, "shadow": {"paper_fills": 0, "real_fills": 0, "p_fill": p}}
    row = {level: dict(graduation_rows({**s, "execution_level": level}))["P(fill)"] for level in (2, 3)}
    assert row[2].endswith("(a dry run (execution level 2) cancels each order as soon as it rests)"), row
    assert row[3].endswith("(shorten shadow.p_fill_horizon_s)"), row


def test_the_twin_summarys_head_names_the_coin_traded(tmp_path, capsys):
    """A twin run on session.coin hyna:LIT printed "agent vs twin, seed 0", its position and limit in units it did not
    name, where the live run's head names its coin ("agent vs custom venue, BTC, execution level 2")."""
    from twin.market.synthetic import SyntheticMarketParams as M
    from twin.params import TwinParams
    params, cfg = tmp_path / "params.json", tmp_path / "lit.yaml"
    params.write_text(TwinParams(markets={"BTC": M(), "hyna:LIT": M.thin_hip3()}).model_dump_json())
    cfg.write_text('session:\n  coin: "hyna:LIT"\n')
    assert main(["--duration", "10", "--config", str(cfg), "--params", str(params), "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("agent vs twin, hyna:LIT, seed 0\n")


def test_the_summarys_stale_book_row_counts_one_time_and_several_times():
    """The Quickstart's run (python -m agent, seed 0) printed "stale book  1 times no book ..."."""
    from agent.report import health_rows
    base = {"rejections_by_reason": {}, "rate_limited": {"ip_429": 0, "address": 0}, "disconnects": 1}
    said = {n: dict(health_rows({**base, "stale_book_episodes": n}))["stale book"] for n in (0, 1, 2)}
    assert [said[n].split(" no book")[0] for n in (0, 1, 2)] == ["0 times", "1 time", "2 times"], said


@pytest.mark.parametrize("text, field, shown", [
    ("risk: {max_position: .inf}", "risk.max_position", "inf"),  # ran with "vs limit inf", saved as null
    ("risk: {stale_book_s: .inf}", "risk.stale_book_s", "inf"),  # would never pull quotes on a stale book
    ("risk: {max_position: .nan}", "risk.max_position", "nan"),
    ("risk: {max_position: true}", "risk.max_position", "true"),  # was read as 1.0
    ("graduation: {start_level: true}", "graduation.start_level", "true"),  # was MICRO_LIVE: real orders
    ("safety: {level_confidence: [1, true, 0.4, 0.1, 0]}", "safety.level_confidence.1", "true"),
    ("quoting: {signals: {weights: {momentum: .inf}}}", "quoting.signals.weights.momentum", "inf"),
])
def test_a_config_with_infinity_or_a_boolean_for_a_number_exits_2_naming_file_field_and_value(
        tmp_path, capsys, text, field, shown):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text + "\n")
    assert main(["--config", str(bad), "--show-config"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and f"{field}: " in err and f"(got {shown})" in err and "Traceback" not in err


@pytest.mark.parametrize("text, field, shown", [
    ("session: {cycle_s: 1.0e-9}", "session.cycle_s", "1e-09"),
    ("session: {quota_poll_s: 1.0e-9}", "session.quota_poll_s", "1e-09"),
    ("session: {checkpoint_s: 0.001}", "session.checkpoint_s", "0.001"),
])
def test_an_interval_too_short_to_mean_anything_exits_2_naming_it(tmp_path, capsys, text, field, shown):
    """A cycle or a quota poll every nanosecond was accepted, and the run only ticked: a twin hour took hours (a
    review). The intervals have floors that say why (10 ms a cycle, a second a poll or a checkpoint)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(text + "\n")
    assert main(["--config", str(bad), "--show-config"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and f"{field}: " in err and f"(got {shown})" in err and "Traceback" not in err
    ok = tmp_path / "ok.yaml"
    ok.write_text("session: {cycle_s: 0.01, quota_poll_s: 0, checkpoint_s: 1}\n")  # the floors, and polling off
    assert main(["--config", str(ok), "--show-config"]) == 0


def test_quota_polls_that_alone_leave_requoting_no_ip_weight_are_refused_naming_the_shortest_period(tmp_path, capsys):
    """Polls every second weigh 1200 a minute, the IP's whole limit (20 each): counted as they are now, the agent
    would never quote, nor cancel. Such a period is refused with the shortest that leaves requoting some of its
    75% (budget.ip_quote_frac); a larger share lets a shorter period through."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("session: {quota_poll_s: 1}\n")
    assert main(["--config", str(bad), "--show-config"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "session.quota_poll_s 1: quota polls every 1 s weigh 1200 of the IP's 1200" in err
    assert "Poll every 1.34 s or more, or 0 for never" in err and "Traceback" not in err
    ok = tmp_path / "ok.yaml"
    ok.write_text("session: {quota_poll_s: 1.34}\n")
    assert main(["--config", str(ok), "--show-config"]) == 0
    ok.write_text("session: {quota_poll_s: 1.01}\nbudget: {ip_quote_frac: 1.0}\n")
    assert main(["--config", str(ok), "--show-config"]) == 0
    bad.write_text("session: {quota_poll_s: 2}\nbudget: {background_weight_per_minute: 400}\n")
    assert main(["--config", str(bad), "--show-config"]) == 2
    assert "(and 400 more in background)" in capsys.readouterr().err


def test_level_names_numbers_in_exponent_form_and_real_booleans_still_load(tmp_path, capsys):
    from agent.config import AgentConfig
    from agent.graduation import ExposureLevel

    ok = tmp_path / "ok.yaml"
    ok.write_text("graduation: {start_level: micro_live, ceiling: 3}\nquoting: {order_size: 1e-3}\n"
                  "reconcile: {modify_moves: false}\nrisk: {dead_man_heartbeat_s: null}\n")
    cfg = AgentConfig.load(ok)
    assert cfg.graduation.start_level == ExposureLevel.MICRO_LIVE and cfg.graduation.ceiling == ExposureLevel(3)
    assert cfg.quoting.order_size == 0.001 and cfg.reconcile.modify_moves is False
    assert cfg.risk.dead_man_heartbeat_s is None


def test_an_out_folder_that_cannot_be_made_exits_2_before_the_run_naming_it(tmp_path, capsys):
    """A folder under a file (or where the system refuses one) was a NotADirectoryError traceback,
    exit 1; an empty --out ran without a folder. Each is now refused before any work."""
    from agent.live_cli import live_main

    f = tmp_path / "afile"
    f.write_text("mine")
    assert main(["--duration", "1m", "--out", str(f / "sub"), "--quiet"]) == 2
    assert capsys.readouterr().err == f"error: --out {f / 'sub'}: Not a directory\n"
    assert main(["--duration", "1m", "--out", "", "--quiet"]) == 2
    assert capsys.readouterr().err == "error: --out: an empty path\n"
    key = "0x" + "11" * 32  # refused before the key is even used, let alone the venue reached
    assert live_main(["--base-url", "http://127.0.0.1:9", "--out", str(f / "sub")], env={"HL_SECRET_KEY": key}) == 2
    assert f"--out {f / 'sub'}: Not a directory" in capsys.readouterr().err
    assert f.read_text() == "mine"


def test_a_duration_too_long_to_run_exits_2_before_making_the_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--duration", "9" * 400, "--out", str(out), "--quiet"]) == 2  # was inf: an OverflowError
    assert "at most 365 days" in capsys.readouterr().err and not out.exists()


def test_a_config_file_that_is_not_utf8_text_exits_2_naming_the_file(tmp_path, capsys):
    bad = tmp_path / "binary.yaml"
    bad.write_bytes(b"\xff\xfe")
    assert main(["--config", str(bad), "--show-config"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {bad}: not UTF-8 text (invalid start byte at byte 0)\n"


def test_an_empty_config_file_exits_2_naming_it_as_an_empty_params_file_does(tmp_path, capsys):
    for text in ("", "# every line commented out\n"):
        empty = tmp_path / "empty.yaml"
        empty.write_text(text)
        assert main(["--config", str(empty), "--show-config"]) == 2
        assert capsys.readouterr().err == f"error: {empty}: empty: no config in it\n"
    explicit = tmp_path / "defaults.yaml"
    explicit.write_text("{}\n")  # the defaults, said on purpose
    assert main(["--config", str(explicit), "--show-config"]) == 0


@pytest.mark.parametrize("argv, extra", [(["--venue", "live", "--help"], "live"), (["--venue=live"], "live")])
def test_without_the_live_extra_the_live_cli_names_it(monkeypatch, capsys, argv, extra):
    """`python -m agent --venue live` on an install without aiohttp (the live extra) was a traceback."""
    import sys
    monkeypatch.setitem(sys.modules, "aiohttp", None)
    for name in ("agent.live_cli", "agent.gateway.hyperliquid.gateway"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert main(argv) == 2
    assert f'".[{extra}]"' in capsys.readouterr().err


def test_ctrl_c_while_the_live_cli_imports_exits_130_saying_so_not_a_traceback(monkeypatch, capsys):
    """The live CLI's imports (aiohttp, eth-account, the gateway) take a second or so: a Ctrl-C in it ended on a
    KeyboardInterrupt traceback through the import machinery."""
    import builtins
    import sys
    real_import = builtins.__import__

    def ctrl_c_on_the_live_cli(name, *a, **kw):
        if name == "agent.live_cli":
            raise KeyboardInterrupt  # as SIGINT does, mid-import
        return real_import(name, *a, **kw)
    monkeypatch.delitem(sys.modules, "agent.live_cli", raising=False)
    monkeypatch.setattr(builtins, "__import__", ctrl_c_on_the_live_cli)
    try:
        code = main(["--venue", "live", "--duration", "1"])
    except KeyboardInterrupt:  # (caught: raised out of a test, it would stop the whole test session)
        pytest.fail("the KeyboardInterrupt left main(): a traceback on the command line")
    assert code == 130 and capsys.readouterr().err == "interrupted before trading started: no order was sent\n"


def _handles(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler of its own for ``signum`` in (its SigCgt mask, in /proc)."""
    with open(f"/proc/{pid}/status") as f:
        mask = next(line.split()[1] for line in f if line.startswith("SigCgt:"))
    return bool(int(mask, 16) >> (signum - 1) & 1)


# A child's sitecustomize (``_held_in_its_imports``): at its first import once SIGTERM has a handler of the process's
# own (the first a command installs is exit_at_once's, before its imports), it makes the file $HELD_AT names and waits
# there, inside that import, for the signal
_HOLD_IN_IMPORTS = """
import os, signal, sys, time


class _HoldInImports:
    def find_spec(self, name, path=None, target=None):
        if callable(signal.getsignal(signal.SIGTERM)):
            sys.meta_path.remove(self)
            open(os.environ["HELD_AT"], "w").close()
            time.sleep(60)  # a signal's handler runs here
        return None


sys.meta_path.insert(0, _HoldInImports())
"""


def _held_in_its_imports(folder: Path) -> tuple[dict, Path]:
    """The environment for a ``python -m`` child that stops in its imports once a handler of its own is in (where
    a signal is due to end it at once), and the file that appears when it has: (environment, file)."""
    import os
    (folder / "sitecustomize.py").write_text(_HOLD_IN_IMPORTS)
    held = folder / "held"
    path = os.pathsep.join([str(folder), *filter(None, [os.environ.get("PYTHONPATH")])])
    return dict(os.environ, PYTHONPATH=path, HELD_AT=str(held)), held


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="no /proc")
@pytest.mark.parametrize("args, sig, when", [
    (["agent", "--duration", "1m", "--quiet"], "SIGINT", "the run"),
    (["agent", "--duration", "1m", "--quiet"], "SIGTERM", "the run"),
    (["agent", "--venue", "live", "--duration", "1"], "SIGTERM", "the run"),
    (["search", "--trials", "1", "--seeds", "1", "--workers", "1", "--quiet"], "SIGINT", "the search"),
    (["calibration", "no-such-run", "--quiet"], "SIGTERM", "the calibration"),
    (["scenarios", "run", "scenarios/feb16_cold_start.yaml", "--no-progress"], "SIGINT", "the run"),
    (["twin", "run", "--duration", "1m", "--quiet"], "SIGINT", "the run"),
    (["twin", "serve", "--port", "0"], "SIGHUP", "the run"),
    (["agent.audit", "no-such-run"], "SIGINT", "the reading")])
def test_a_signal_as_a_command_starts_ends_it_in_one_line(args, sig, when, signalled_once_started, tmp_path):
    """Before a command's own handlers were in (its imports: a tenth of a second, the live CLI's a second), a Ctrl-C
    ended on a traceback through them and a SIGTERM killed the process unsaid. Sent as soon as the process handles
    SIGTERM itself (which, before, was only once its work had begun), each now ends it there: one line, 128 + its
    number. The child is held in its first import after that (``_held_in_its_imports``) until the signal comes: on a
    loaded machine this test, polling, once saw the handler only after the imports (the run's own, `agent` a quarter
    second on), and its signal ended the run instead, the summary printed."""
    import signal
    env, held = _held_in_its_imports(tmp_path)
    code, stdout, err = signalled_once_started(
        args, lambda proc, err: held.exists() and _handles(proc.pid, signal.SIGTERM), getattr(signal, sig), env)
    name = "Ctrl-C" if sig == "SIGINT" else sig
    assert (code, err, stdout) == (128 + getattr(signal, sig), f"interrupted ({name}) before {when} started\n", b"")


def test_a_signal_while_the_summary_is_printed_waits_for_its_last_line_then_is_said(tmp_path, signalled_inside):
    """Once the session had ended, its handlers were put back: a SIGTERM while the summary was printed killed the run
    unsaid (exit -15), the summary cut. Now the signal waits for its last line, then is said, exit 143. The run sends
    itself the signal as the summary is made, so that it lands there."""
    r = signalled_inside("agent.__main__:format_summary",
                         ["agent", "--duration", "1m", "--quiet", "--out", str(tmp_path / "run")])
    assert (r.returncode, r.stderr) == (143, "interrupted (SIGTERM) once the run had ended: the summary above is "
                                             "whole\n")
    assert r.stdout.splitlines()[-1].startswith("  requests  ") and (tmp_path / "run" / "summary.json").exists()


def test_a_signal_while_twin_runs_statistics_are_printed_waits_for_their_last_line_then_is_said(signalled_inside):
    """``python -m twin run``: once the run had ended, a SIGTERM while its statistics were printed killed it unsaid
    (exit -15). Now it waits for their last line, then is said, exit 143 (sent as the statistics are printed)."""
    r = signalled_inside("twin.__main__:_print_stats", ["twin", "run", "--duration", "1m", "--quiet"])
    assert (r.returncode, r.stderr) == (143, "interrupted (SIGTERM) once the run had ended: the statistics above are "
                                             "whole\n")
    assert r.stdout.startswith("twin session: 60 simulated s") and r.stdout.splitlines()[-1].startswith("  quota")


def test_every_option_of_each_command_is_in_its_row_of_the_readmes_table(capsys):
    """README's "Running things" table is where an operator looks a command's options up: each one the command
    takes is in its row (the live CLI's are its --help's, which the table points to). Options were missing
    (search's --step, --level, --config; serve's --scenario; calibration's --replay-hours; ...)."""
    import calibration.__main__
    import scenarios.__main__
    import search.__main__
    import twin.__main__
    from agent.audit.__main__ import main as audit_main
    from twin.server.cli import build_parser as serve_parser
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("## Running things", 1)[1].strip().split("\n\n", 1)[0]

    def row(command: str) -> str:
        cells = [re.split(r"(?<!\\)\|", line)[1] for line in table.splitlines() if line.startswith(f"| `{command} ")]
        assert cells, command
        return " ".join(cells)

    def options(run, argv) -> set[str]:
        with pytest.raises(SystemExit):
            run(argv)
        usage = capsys.readouterr().out.split("\n\n", 1)[0]
        return set(re.findall(r"--[a-z][a-z-]*", usage)) - {"--help"}

    helps = {"python -m agent": options(main, ["--help"]),
             "python -m agent.audit": options(audit_main, ["--help"]),
             "python -m scenarios run": options(scenarios.__main__.main, ["run", "--help"]),
             "python -m calibration": options(calibration.__main__.main, ["--help"]),
             "python -m search": options(search.__main__.main, ["--help"]),
             "python -m twin run": options(twin.__main__.main, ["run", "--help"]),
             "python -m twin serve": set(re.findall(r"--[a-z][a-z-]*", serve_parser().format_usage())) - {"--help"}}
    missing = {cmd: sorted(o for o in opts if o not in row(cmd)) for cmd, opts in helps.items()}
    assert missing == {cmd: [] for cmd in helps}


class _Parsed(Exception):
    """Raised in place of parsing: carries the parser a command built, to read its defaults."""


def test_each_value_in_the_readmes_table_is_the_commands_default_or_in_capitals(monkeypatch):
    """The table's brackets mixed defaults with examples (``twin run [--duration 1h]``, whose default is 10m;
    ``[--seed 7]``, ``[--workers 2]``): an operator could not tell which value a left-out option takes. Each value
    shown is the option's default as its parser takes it, or capitals (``FILE``, ``DIR``) where it has none; a
    choice shows its default first."""
    import argparse
    import importlib

    import calibration.__main__
    import scenarios.__main__
    import search.__main__
    import twin.__main__
    from agent.audit.__main__ import main as audit_main
    from agent.live_cli import build_parser as live_parser
    from twin.server.cli import build_parser as serve_parser

    def stop(self, args=None, namespace=None):
        raise _Parsed(self)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", stop)

    def parser(run, sub: str | None = None) -> argparse.ArgumentParser:
        with pytest.raises(_Parsed) as got:
            run()
        p = got.value.args[0]
        if sub is not None:
            p = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices[sub]
        return p

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "bench"))
    bench = {name: importlib.import_module(name).main for name in ("bench_twin", "bench_agent", "bench_day",
                                                                   "bench_live", "soak_live", "bench_scenarios",
                                                                   "bench_bytecodes", "decisions_hash",
                                                                   "decisions_diff", "live_diff",
                                                                   "scorecard_demotion", "bench_arrival_fit",
                                                                   "bench_arrival_session", "bench_feed_blocks")}
    parsers = {"python -m agent --venue live": live_parser(),
               "python -m agent": parser(lambda: main([])),
               "python -m agent.audit": parser(lambda: audit_main(["x"])),
               "python -m scenarios run": parser(lambda: scenarios.__main__.main(["run", "x"]), "run"),
               "python -m calibration": parser(lambda: calibration.__main__.main(["x"])),
               "python -m search": parser(lambda: search.__main__.main([])),
               "python -m twin run": parser(lambda: twin.__main__.main(["run"]), "run"),
               "python -m twin serve": serve_parser(),
               **{f"python bench/{name}.py": parser(run) for name, run in bench.items()}}
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("## Running things", 1)[1].strip().split("\n\n", 1)[0]
    checked = 0
    for line in table.splitlines()[2:]:
        command = re.match(r"\| `([^`]*)`", line).group(1)
        name = max((k for k in parsers if command.startswith(k + " ") or command == k), key=len, default=None)
        if name is None:  # (pytest's row)
            continue
        actions = {o: a for a in parsers[name]._actions for o in a.option_strings}
        if name.startswith("python bench/"):  # (the python -m rows' options: the test above, from their --help)
            # (in the command's own cell, each whole: the row's description names some, and "--seeds" is in
            # "--agent-seeds")
            shown = set(re.findall(r"--[a-z][a-z-]*", command))
            assert sorted(o for o in actions if o.startswith("--") and o != "--help" and o not in shown) == [], name
        for option, value in re.findall(r"\[(--[a-z-]+) ([^\]\s]+)", command):
            action = actions[option]
            if isinstance(action, argparse._AppendAction):  # (repeatable: its form, 0xADDR=USDC[@DEX], no default)
                continue
            shown = value.split("\\|")
            machines = {("python -m search", "--workers"), ("python bench/decisions_diff.py", "--head"),
                        ("python bench/decisions_diff.py", "--python"), ("python bench/live_diff.py", "--head"),
                        ("python bench/live_diff.py", "--python")}  # (the cores', the tree's, the interpreter's)
            if action.default is None or (name, option) in machines:
                assert re.fullmatch(r"[A-Z][A-Z.:_a-z]*", value) and value[:2].isupper(), (name, option, value)
                continue
            if action.choices is not None:
                assert set(shown) <= set(map(str, action.choices)), (name, option, value)
            convert = action.type or str
            default = convert(action.default) if isinstance(action.default, str) else action.default
            assert convert(shown[0]) == default, (name, option, value, action.default)
            checked += 1
    assert checked >= 25  # (the table's rows were read)
    # every bench script is a command of the table (bench_scenarios.py had no row, only its section)
    listed = set(re.findall(r"^\| `python (bench/\w+\.py)", table, re.M))
    assert listed == {f"bench/{p.name}" for p in (Path(__file__).resolve().parents[2] / "bench").glob("*.py")}


def test_the_example_live_config_loads_and_sets_only_what_its_comments_say():
    """examples/live-first-run.yaml, the README's testnet steps in one file: it loads (unknown keys are errors, so a
    renamed setting breaks it here, not on an operator's first live run), and it differs from the defaults in the
    four settings it explains, no more."""
    from pathlib import Path

    from agent.config import AgentConfig
    from agent.graduation import ExposureLevel
    example = AgentConfig.load(Path(__file__).resolve().parents[2] / "examples" / "live-first-run.yaml")
    assert example.quoting.maker_fee_bps == 1.5
    assert example.graduation.ceiling == ExposureLevel.MICRO_LIVE
    assert example.graduation.promotion.positive_edge_z == 1.0
    assert example.graduation.demote_net_edge_z == 2.0
    mine, default = example.model_dump(), AgentConfig().model_dump()
    default["quoting"]["maker_fee_bps"] = 1.5
    default["graduation"]["ceiling"] = ExposureLevel.MICRO_LIVE
    default["graduation"]["demote_net_edge_z"] = 2.0
    default["graduation"]["promotion"]["positive_edge_z"] = 1.0
    assert mine == default


def test_a_full_disk_during_a_twin_run_prints_the_summary_then_exits_2_naming_the_folder(tmp_path, capsys,
                                                                                           disk_with):
    """It was a bare OSError traceback (from the log's writer, or its close), exit 1, and the summary the run had
    computed was lost. The session runs to its end; the folder's writes stop at the first failure (no summary.json
    for a log that is not whole)."""
    disk_with(20_000)  # the log fills it some seconds in
    out = tmp_path / "run"
    assert main(["--duration", "1m", "--out", str(out), "--quiet", "--json"]) == 2
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["simulated_s"] == 60.0 and summary["cycles"] > 0 and summary["interrupted"] is False
    assert captured.err == (f"error: --out {out}: No space left on device (the session ran: the summary above; "
                            f"the run folder is incomplete)\n")
    assert (out / "config.json").exists() and not (out / "summary.json").exists()
    assert 0 < (out / "decisions.jsonl").stat().st_size <= 20_000


def test_a_full_disk_before_a_twin_run_exits_2_naming_the_folder_without_running(tmp_path, capsys, disk_with):
    """config.json, the first file of the folder, cannot be written: nothing runs, nothing is printed but the
    error, and no part of config.json is left under its name."""
    disk_with(1000)  # (config.json is some 5.8 KB)
    out = tmp_path / "run"
    assert main(["--duration", "1m", "--out", str(out), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == f"error: --out {out}: No space left on device\n"
    assert not (out / "config.json").exists() and not list(out.glob(".*.tmp"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE's EFBIG as Linux gives it")
@pytest.mark.parametrize("command", [["agent", "--duration", "1m"],
                                     ["scenarios", "run", "scenarios/feb16_cold_start.yaml"]],
                         ids=["agent", "scenarios"])
def test_a_file_size_limit_at_the_folders_first_file_leaves_no_half_of_it(command, tmp_path):
    """The folder's first file (config.json, a scenario's scenario.json) was written in place: a disk that took its
    first KB (here the kernel's file-size limit, EFBIG, as a full disk's ENOSPC) left that KB under its name, no JSON
    (on the commit before this one: config.json 1024 bytes, "Expecting ',' delimiter"). Now written whole or not at
    all: refused, exit 2, nothing of it left."""
    import resource
    import subprocess

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))  # (Python ignores SIGXFSZ: a write gets EFBIG)
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", *command, "--out", str(out)], capture_output=True, text=True,
                          timeout=120, preexec_fn=limit, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 2 and "File too large" in done.stderr, done.stderr
    for f in out.glob("*.json") if out.exists() else ():
        json.loads(f.read_text())  # whole, or not there
    assert not (out.exists() and list(out.glob(".*.tmp")))


def test_a_reader_that_stops_listening_is_no_error():
    """``python -m agent | head -3``: when the reader has gone before the summary is written, the print raised
    BrokenPipeError, a traceback after a run that went well (a review saw one). As ``agent.audit`` does: exit 0,
    nothing on stderr."""
    import subprocess
    import sys
    p = subprocess.Popen([sys.executable, "-m", "agent", "--duration", "1m", "--quiet"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.close()  # the reader gone before anything was written
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0 and "Traceback" not in err and "BrokenPipeError" not in err, err


def test_a_yaml_alias_bomb_config_is_refused_at_once_naming_each_key(tmp_path, billion_laughs):
    """Its extra keys' values were repr'd whole for the error (9**9 elements): the command hung, eating memory."""
    import subprocess
    import sys

    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs)

    # (a subprocess: the old repr, one C call, ran on past any alarm; timeout fails the test instead)
    done = subprocess.run([sys.executable, "-m", "agent", "--show-config", "--config", str(bomb)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    err = done.stderr
    assert err.startswith(f"error: {bomb}: invalid agent config:\n")
    assert "  i: Extra inputs are not permitted (got [[[[[[[[['lol', 'lol'" in err
    assert max(len(line) for line in err.splitlines()) < 200


def test_an_integer_too_long_for_python_exits_2_naming_the_file_and_line(tmp_path, capsys):
    big = tmp_path / "big.yaml"
    big.write_text("risk:\n  max_position: 1" + "0" * 5000 + "\n")
    assert main(["--show-config", "--config", str(big)]) == 2  # was Python's digit-limit error, naming no file
    err = capsys.readouterr().err
    assert err.startswith(f"error: {big}: not valid YAML: an integer of 5,001 characters, too long to read\n")
    assert "line 2, column 17" in err


def test_a_yaml_syntax_error_in_a_config_names_the_file_at_its_line(tmp_path, capsys):
    """PyYAML names the text it parsed ``"<unicode string>"``, a file the user does not have: the error's marks
    carry the config's own path (found by an audit: scenario files had it, agent configs did not)."""
    bad = tmp_path / "torn.yaml"
    bad.write_text("risk:\n  max_position: [1\n")
    assert main(["--show-config", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad}: not valid YAML: ")
    assert f'in "{bad}", line 2, column 17' in err and "<unicode string>" not in err, err


@pytest.mark.parametrize("field", ["momentum_halflife_s", "momentum_vol_halflife_s", "book_halflife_s",
                                   "flow_halflife_s"])
def test_a_subnormal_signal_halflife_exits_2_naming_it_not_a_zero_division_in_the_run(tmp_path, capsys, field):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(f"quoting:\n  signals:\n    {field}: 1e-320\n")  # > 0, as the fields asked
    assert main(["--config", str(cfg), "--duration", "2m", "--quiet"]) == 2  # momentum's: ZeroDivisionError, exit 1
    err = capsys.readouterr().err
    assert err == (f"error: {cfg}: invalid agent config:\n  quoting.signals.{field}: Input should be greater than "
                   f"or equal to 0.000001 (got 1e-320)\n")


@pytest.mark.parametrize("argv", [
    ["agent", "--config", "/dev/zero", "--quiet"], ["agent", "--params", "/dev/zero", "--quiet"],
    ["twin", "run", "--params", "/dev/zero"], ["scenarios", "check", "/dev/zero"],
    ["twin", "serve", "--port", "0", "--scenario", "/dev/zero"],
    ["agent", "--venue", "live", "--keystore", "/dev/zero"],
])
def test_a_file_option_given_an_endless_device_exits_2_naming_it_not_out_of_memory(argv, run_capped):
    """A config, params, scenario or keystore file was read whole: ``--config /dev/zero`` (or any file that never
    ends, a run's whole log given by mistake) took every byte of memory, then died on a MemoryError traceback (or
    took the machine down with it). With its memory capped, so the old code fails the test rather than the
    machine."""
    r = run_capped(argv, env={"PATH": "/usr/bin:/bin", "HL_KEYSTORE_PASSWORD": "x"})
    assert r.returncode == 2 and "Traceback" not in r.stderr and "MemoryError" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert "/dev/zero" in last and ("larger than 16 MB" in last or "cannot read a keystore" in last)


def _entry(name):
    import importlib
    return {"agent": main, "twin": importlib.import_module("twin.__main__").main,
            "serve": lambda argv: importlib.import_module("twin.server.cli").build_parser().parse_args(argv),
            "search": importlib.import_module("search.__main__").main,
            "calibration": importlib.import_module("calibration.__main__").main,
            "audit": importlib.import_module("agent.audit.__main__").main,
            "scenarios": importlib.import_module("scenarios.__main__").main}[name]


@pytest.mark.parametrize("command, argv, option", [
    ("agent", ["--config", ""], "--config"), ("agent", ["--params=", "--quiet"], "--params"),
    ("agent", ["--venue", "live", "--duration", ""], "--duration"),
    ("agent", ["--venue", "live", "--config", ""], "--config"),
    ("agent", ["--venue", "live", "--base-url", ""], "--base-url"),
    ("agent", ["--venue", "live", "--keystore", ""], "--keystore"),
    ("agent", ["--venue", "live", "--coin", ""], "--coin"),
    ("twin", ["run", "--params", "", "--duration", "1m", "--quiet"], "--params"),
    ("serve", ["--host", ""], "--host"), ("serve", ["--params", ""], "--params"),
    ("serve", ["--scenario", ""], "--scenario"),
    ("search", ["--config", "", "--trials", "1", "--seeds", "1", "--episode", "60", "--step", "60", "--workers", "1",
                "--quiet"], "--config"),
    ("calibration", ["no-such-run", "--base", ""], "--base"),
    ("audit", ["no-such-run", "--from", ""], "--from"), ("audit", ["no-such-run", "--type", ""], "--type"),
    ("scenarios", ["run", "no-such.yaml", "--agent", ""], "--agent"),
])
def test_an_empty_value_exits_2_naming_the_option_not_taken_for_its_default(command, argv, option, capsys,
                                                                            monkeypatch):
    """``--config "$CFG"`` with the variable unset reads ``--config ""``, which was taken for no option: the run went
    on with the defaults (a live run with the default risk limits in place of the file's), ``--venue live --duration
    ""`` ran until stopped, ``twin serve --host ""`` listened on every interface, ``scenarios run --agent ""`` ran
    the real agent. Refused, as an empty --out is, with the option named."""
    monkeypatch.delenv("HL_SECRET_KEY", raising=False)
    with pytest.raises(SystemExit) as e:
        _entry(command)(argv)
    assert e.value.code == 2
    assert f"argument {option}: an empty value" in capsys.readouterr().err


def _serve(argv):
    import importlib
    return importlib.import_module("twin.server.cli").serve_main(argv)


@pytest.mark.parametrize("command, argv, named", [
    ("agent", ["--duration", "1m", "--quiet", "--out", "{long}"], "--out {long}"),
    ("agent", ["--venue", "live", "--out", "{long}"], "--out {long}"),
    ("audit", ["{long}"], "{long}"), ("audit", ["{long}", "--replay"], "{long}"),
    ("audit", ["{run}", "--plot", "{long}.png"], "--plot {long}.png"),
    ("search", ["--out", "{long}"], "--out {long}"),
    ("calibration", ["{long}"], "{long}"),
    ("scenarios", ["run", "scenarios/feb16_cold_start.yaml", "--out", "{long}"], "--out {long}"),
])
def test_a_path_the_system_refuses_to_look_at_exits_2_naming_it_not_a_traceback(command, argv, named, tmp_path,
                                                                                 capsys, monkeypatch):
    """A path whose name is too long (or, for an operator not root, under a folder they cannot search) raised from
    the checks made before the work (``Path.exists``/``is_dir`` re-raise all but "not there"): an OSError
    traceback in place of the error naming the option."""
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    monkeypatch.setenv("HL_SECRET_KEY", "ab" * 32)  # (a live run's folder is made once its key is read)
    run = tmp_path / "run"
    assert main(["--duration", "1m", "--quiet", "--out", str(run)]) == 0
    capsys.readouterr()
    long = str(tmp_path / ("a" * 300))
    argv = [a.format(long=long, run=run) for a in argv]
    assert _entry(command)(argv) == 2
    err = capsys.readouterr().err
    assert err.endswith(f"error: {named.format(long=long)}: File name too long\n"), err[-300:]


@pytest.mark.parametrize("command, argv, named", [
    ("search", ["--config", "{nope}"], "--config {nope}"), ("serve", ["--params", "{nope}"], "--params {nope}"),
    ("calibration", ["{live}", "--base", "{nope}"], "--base {nope}"),
])
def test_a_file_that_is_not_there_is_named_with_its_option_not_as_pythons_errno(command, argv, named, tmp_path,
                                                                                capsys):
    """``error: [Errno 2] No such file or directory: 'x'`` named neither the option nor said it in the house's
    words (``python -m agent`` says ``--config x: No such file or directory``)."""
    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "events.jsonl").write_text("{}\n")
    fill = {"nope": str(tmp_path / "nope"), "live": str(tmp_path / "live")}
    entry = _serve if command == "serve" else _entry(command)
    assert entry([a.format(**fill) for a in argv]) == 2
    assert capsys.readouterr().err == f"error: {named.format(**fill)}: No such file or directory\n"


def test_scenarios_check_names_a_file_that_is_not_there_once_in_the_systems_words(tmp_path, capsys):
    """It read ``x: cannot read: [Errno 2] No such file or directory: 'x'``: the file twice, in Python's repr."""
    nope = tmp_path / "nope.yaml"
    assert _entry("scenarios")(["check", str(nope)]) == 2
    assert capsys.readouterr().err == f"{nope}: cannot read: No such file or directory\n"


@pytest.mark.parametrize("env", [{}, {"HL_SECRET_KEY": "12ab"},
                                 {"HL_SECRET_KEY": "ab" * 32, "HL_ACCOUNT_ADDRESS": "0x12"}])
def test_a_live_run_refused_for_its_key_leaves_no_run_folder_behind(env, tmp_path, capsys):
    """The --out folder was made before the key was read: a run refused for no key, or a key or account that is
    not one, exited 2 and left an empty run folder where none was."""
    from agent.live_cli import live_main
    out = tmp_path / "runs" / "t1"
    assert live_main(["--base-url", "http://127.0.0.1:9", "--out", str(out)], env=env) == 2
    assert "HL_" in capsys.readouterr().err and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("command, argv, line", [
    ("search", ["--step", "0"], "error: --step '0': must be positive"),
    ("search", ["--episode", "ten"], "error: --episode 'ten': expected a number"),
    ("agent", ["--duration", "0"], "error: --duration '0': must be positive"),
    ("twin", ["run", "--duration", "400d"], "error: --duration '400d': at most 365 days"),
    ("agent", ["--venue", "live", "--duration=-5m"], "error: --duration '-5m': must be positive"),
])
def test_a_refused_duration_names_its_option(command, argv, line, capsys, monkeypatch):
    """"duration '0': must be positive" named no option, and search takes two durations (--episode, --step):
    which of them was refused went unsaid. A value a page long is cut, as the other errors cut theirs."""
    monkeypatch.setenv("HL_SECRET_KEY", "ab" * 32)
    assert _entry(command)(argv) == 2
    assert capsys.readouterr().err.startswith(line)
    assert _entry("agent")(["--duration", "x" * 5000]) == 2
    assert len(capsys.readouterr().err) < 300


def test_a_private_key_given_for_the_keystore_is_not_echoed(tmp_path, capsys):
    """``--keystore KEY`` (the key pasted where the file goes) was echoed whole in "--keystore KEY: cannot read a
    keystore JSON (FileNotFoundError)", into the console and whatever logs it."""
    from agent.live_cli import live_main
    key = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
    for given in (key, "0x" + key):
        assert live_main(["--base-url", "http://127.0.0.1:9", "--keystore", given], env={}) == 2
        out, err = capsys.readouterr()
        assert key not in out + err and "--keystore takes a keystore file" in err


@pytest.mark.parametrize("argv", [["--ven", "live"], ["--venue", "twin", "--venue=live"]])
def test_live_asked_for_as_argparse_reads_it_is_never_a_twin_session(argv, capsys, monkeypatch):
    """The dispatch to the live CLI looked for ``--venue live`` spelt out, while the twin's parser takes an
    abbreviation (``--ven live``) and the last of two: the venue read was live, and a twin session ran, exit 0,
    its summary printed as if it were the run asked for."""
    monkeypatch.delenv("HL_SECRET_KEY", raising=False)
    try:
        code = main([*argv, "--duration", "1m", "--quiet"])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    # the live CLI's refusal: no key (the abbreviation), or --venue given twice (any option is refused so)
    assert code == 2 and "agent vs twin" not in out
    assert "no signing key" in err or "python -m agent: error: --venue given twice" in err


@pytest.mark.parametrize("command, argv, name", [
    ("scenarios", ["check", ""], "files"), ("scenarios", ["run", ""], "file"), ("audit", [""], "run"),
    ("calibration", [""], "RUN"),  # (named as its usage and --help name it)
])
def test_an_empty_path_argument_is_refused_naming_the_argument_not_the_current_folder(command, argv, name, capsys):
    """An empty RUN or scenario FILE was taken for the current folder: ``scenarios check ""`` said ".: cannot read:
    Is a directory", ``agent.audit ""`` ": no decision log there"."""
    with pytest.raises(SystemExit) as e:
        _entry(command)(argv)
    assert e.value.code == 2 and f"error: argument {name}: an empty value" in capsys.readouterr().err


@pytest.mark.parametrize("grace", ["3601", "1e300"])
def test_a_shutdown_grace_past_an_hour_exits_2_naming_it(grace, capsys):
    """``--shutdown-grace 1e300`` was taken (and logged as a 300-digit wait): a venue that never confirmed the
    cancels kept the run waiting for ever, and the exit status that says orders may rest (3) never came."""
    from agent.live_cli import build_parser
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["--shutdown-grace", grace])
    assert e.value.code == 2
    assert f"argument --shutdown-grace: expected at most 3600 s, got '{grace}'" in capsys.readouterr().err
    assert build_parser().parse_args(["--shutdown-grace", "3600"]).shutdown_grace == 3600.0


def test_ctrl_c_in_twin_run_exits_130_saying_so_not_a_traceback(capsys, monkeypatch):
    """``python -m twin run`` cut by Ctrl-C ended on a KeyboardInterrupt traceback raised through SimPy's step."""
    import twin.session

    def half_then_ctrl_c(env, until, progress, desc=""):
        env.run(until=until / 2)
        raise KeyboardInterrupt  # as SIGINT does, between two events
    monkeypatch.setattr(twin.session, "run_until", half_then_ctrl_c)
    assert _entry("twin")(["run", "--duration", "1m", "--quiet"]) == 130
    assert capsys.readouterr().err == "interrupted (Ctrl-C): no statistics\n"


def test_sigterm_in_twin_run_exits_143_saying_so(signalled_once_started):
    """``kill PID`` killed ``python -m twin run`` as kill -9 does (exit -15, nothing said); it now ends as Ctrl-C
    does, naming the signal."""
    code, stdout, err = signalled_once_started(["twin", "run", "--duration", "1d"],
                                               lambda proc, err: bool(err))  # the progress bar: the run is under way
    assert code == 143, err
    assert "interrupted (SIGTERM): no statistics" in err and "Traceback" not in err and stdout == b""


def test_ctrl_c_in_a_long_audit_read_exits_130_saying_so_not_a_traceback(tmp_path, capsys, monkeypatch):
    """Reading a week's log takes minutes; Ctrl-C in it ended on a KeyboardInterrupt traceback."""
    import agent.audit.__main__ as audit
    run = tmp_path / "run"
    assert main(["--duration", "1m", "--quiet", "--out", str(run)]) == 0
    capsys.readouterr()

    def ctrl_c(*a, **k):
        raise KeyboardInterrupt  # as SIGINT does, mid-read
    monkeypatch.setattr(audit, "overview", ctrl_c)
    monkeypatch.setattr(audit, "describe", ctrl_c)
    for argv in ([str(run)], [str(run), "--from", "0"]):
        assert audit.main(argv) == 130
        assert capsys.readouterr().err == "interrupted (Ctrl-C)\n"


@pytest.mark.parametrize("name, why", [("incident.txt", "no image kind is written as .txt"),
                                       ("incident", "no extension")])
def test_a_plot_name_matplotlib_cannot_write_exits_2_before_reading_the_log(name, why, tmp_path, capsys,
                                                                             monkeypatch):
    """``--plot x.txt`` read the whole log, then ended on matplotlib's ValueError traceback; ``--plot x`` wrote
    ``x.png`` and said it wrote ``x``."""
    import agent.audit.__main__ as audit
    run = tmp_path / "run"
    assert main(["--duration", "1m", "--quiet", "--out", str(run)]) == 0
    capsys.readouterr()

    def never(*a, **k):
        raise AssertionError("the log was read")
    monkeypatch.setattr(audit, "_plot", never)
    png = tmp_path / name
    assert audit.main([str(run), "--plot", str(png)]) == 2
    assert capsys.readouterr().err.startswith(f"error: --plot {png}: {why}; give a .png file's path")
    assert not list(tmp_path.glob("incident*"))


@pytest.mark.parametrize("option, value", [("--from", "1e400"), ("--to", "yesterday"), ("--at", "nan")])
def test_a_refused_audit_time_names_its_option(option, value, tmp_path, capsys):
    """"time '1e400': expected ..." named none of --from, --to and --at (given two, which was refused?)."""
    from agent.audit.__main__ import main as audit
    run = tmp_path / "run"
    assert main(["--duration", "1m", "--quiet", "--out", str(run)]) == 0
    capsys.readouterr()
    assert audit([str(run), f"{option}={value}"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {option} '{value}': expected the log's seconds")


@pytest.mark.parametrize("given", ["new", "there"])
def test_a_signal_before_the_work_began_removes_the_folder_made_for_it_and_keeps_one_that_was_there(
        tmp_path, signalled_inside, given):
    """A stop while the command still ends at once (``exit_at_once``), once ``--out`` is made and before ``begun``:
    it said ``interrupted (SIGTERM) before the run started`` and left the folder it had made, empty. Now that folder
    and the ones above it it made are removed; a folder that was there is kept. (The signal is sent as ``begun`` is
    called, the command line's exit-at-once handlers in.)"""
    out = tmp_path / "made" / "run" if given == "new" else tmp_path
    r = signalled_inside("common.stop_signals:begun", ["agent", "--duration", "1m", "--quiet", "--out", str(out)],
                         main="agent.__main__:main", at_once="before the run started")
    assert (r.returncode, r.stderr, r.stdout) == (143, "interrupted (SIGTERM) before the run started\n", "")
    if given == "new":
        assert not (tmp_path / "made").exists()
    else:
        assert tmp_path.is_dir() and not any(tmp_path.iterdir())


def test_a_signal_while_the_run_folder_is_begun_ends_the_run_at_its_first_event(tmp_path, signalled_inside):
    """A SIGTERM in the instant between the command's start and the session's first event (its run folder begun, the
    twin and the agent made) escaped the session: ``interrupted (SIGTERM) once the run had ended: no summary printed;
    the run folder is whole``, the folder made for it left empty. Now it is held to the first event and ends the run
    there, as one during the run does: the summary of 0 simulated s, the folder written."""
    out = tmp_path / "run"
    r = signalled_inside("agent.session:open_run_folder", ["agent", "--duration", "1m", "--quiet", "--out", str(out)],
                         main="agent.__main__:main")
    assert r.returncode == 143, r.stderr
    assert r.stderr == "interrupted by SIGTERM: the summary covers 0 of 60 simulated s\n"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["simulated_s"] == 0 and summary["cycles"] == 0
    assert (out / "decisions.jsonl").read_text().count("\n") == 2  # its start and end records


def test_a_keystore_that_cannot_be_read_is_refused_saying_why_not_an_exception_class(tmp_path, capsys):
    """"--keystore F: cannot read a keystore JSON (FileNotFoundError)" named a Python class, and the same one for a
    folder, a file that is not JSON and one that is not UTF-8 text: now what the system or the parser said."""
    from agent.live_cli import live_main
    (tmp_path / "torn.json").write_text('{"crypto": {"cipher": "aes-128-ctr"')
    (tmp_path / "latin1.json").write_bytes(b'{"a": "\xe9"}')
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)  # (json's RecursionError: a traceback)
    (tmp_path / "long.json").write_text('{"n": %s}' % ("1" * 5000))  # (int's digit limit: the file not named)
    for name, said in (("nope.json", "No such file or directory"), (".", "Is a directory"),
                       ("torn.json", "not a keystore JSON: Expecting ',' delimiter: line 1"),
                       ("latin1.json", "not UTF-8 text"), ("deep.json", "not a keystore JSON: maximum recursion"),
                       ("long.json", "not a keystore JSON: a number too long to read")):
        path = tmp_path / name
        assert live_main(["--base-url", "http://127.0.0.1:9", "--keystore", str(path)], env={}) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: --keystore {path}: {said}") and "Error)" not in err, err


@pytest.mark.parametrize("url, said", [("http://127.0.0.1:99999", "port out of range"),
                                       ("http://127.0.0.1:abc", "port could not be cast"),
                                       ("http://:3001", "no host"), ("http://127.0.0.1:0", "port 0"),
                                       ("http://[::1", "invalid ipv6 url")])
def test_a_base_url_no_venue_could_answer_at_is_refused_before_any_request(url, said, capsys):
    """A port past 65535 (a typo's extra digit) or not a number, or no host, was tried as a venue: a minute of
    retries, then "URL/info meta: no answer", as if the venue were down."""
    import time
    from agent.live_cli import live_main
    t0 = time.monotonic()
    assert live_main(["--base-url", url, "--duration", "1"], env={"HL_SECRET_KEY": "ab" * 32}) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --base-url {url!r}: ") and said in err and time.monotonic() - t0 < 3


def test_a_run_started_with_its_stdout_closed_ends_as_usual_not_in_a_traceback(tmp_path, monkeypatch):
    """``python -m agent >&-`` (a supervisor that closes stdout): Python's sys.stdout is then None, where print
    prints nothing, and the flush after the summary raised AttributeError: a traceback and exit 1 after a whole
    run. (The audit's replay alike: test_event_log.)"""
    monkeypatch.setattr(sys, "stdout", None)
    assert main(["--duration", "5", "--quiet", "--out", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "summary.json").is_file()


def test_every_config_key_the_readme_names_is_one():
    """The README names settings by their path (`risk.pull_retry_s`, `graduation.promotion.positive_edge_z`): each
    such path is a field of AgentConfig, or a key of summary.json's table (`safety.final_level`, `shadow.gap`: the
    summary's sections share the config's names), so a setting renamed or moved is not left behind in the manual.
    (`graduation.paper.print_reach`, a function of agent.graduation.paper, read as a setting.)"""
    from agent.config import AgentConfig
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("`summary.json` keys:", 1)[1].strip().split("\n\n", 1)[0]
    summary = {k for row in table.splitlines() if row.startswith("| `")
               for k in re.findall(r"`([^`]+)`", re.split(r"(?<!\\)\|", row)[1])}
    sections = "session|risk|quoting|reconcile|budget|validation|safety|graduation|shadow"
    named = set(re.findall(rf"`((?:{sections})\.[a-z_.]*[a-z_])`", readme))
    fields = set()

    def walk(model, prefix=""):
        for name, f in type(model).model_fields.items():
            fields.add(prefix + name)
            value = getattr(model, name)
            if hasattr(type(value), "model_fields"):
                walk(value, f"{prefix}{name}.")
    walk(AgentConfig())
    assert len(named) > 40 and sorted(named - fields - summary) == []


@pytest.mark.parametrize("duration, width", [("0.001", "0.0000333"), ("10", "0.333"), ("100", "3.33"), ("2h", "240")])
def test_the_summarys_timeline_says_the_width_of_a_digit_as_it_is(duration, width, capsys):
    """Rounded to whole seconds, a 10 s run's 30 digits read "one digit per 0 s" and a 100 s run's "per 3 s"."""
    assert main(["--duration", duration, "--quiet"]) == 0
    assert f"(0 Green … 4 Kill; one digit per {width} s)" in capsys.readouterr().out


@pytest.mark.parametrize("duration, shown", [("0.5", "0.5"), ("90.5", "90.5"), ("2m", "120")])
def test_the_summary_says_the_simulated_time_it_ran_not_rounded_whole(duration, shown, capsys):
    """``--duration 0.5`` printed "simulated 0 s" and ``--duration 90.5`` "simulated 90 s" (summary.json's
    simulated_s 0.5 and 90.5): the row rounded to whole seconds."""
    assert main(["--duration", duration, "--quiet"]) == 0
    assert re.search(rf"\n  simulated +{re.escape(shown)} s in ", capsys.readouterr().out)


def test_an_interrupted_runs_table_says_so_on_stdout_with_the_summary(tmp_path, capsys, monkeypatch):
    """A run a signal cut printed its table as a whole run's ("simulated 0 s in ..."), the word that it was cut
    short on stderr alone: ``python -m agent > run.txt`` kept a summary that reads as finished (summary.json says
    ``interrupted``)."""
    import agent.session

    def ctrl_c_at_once(env, until, progress, desc=""):
        raise KeyboardInterrupt
    monkeypatch.setattr(agent.session, "run_until", ctrl_c_at_once)
    assert main(["--duration", "2m", "--quiet"]) == 130
    out = capsys.readouterr().out
    assert re.search(r"\n  simulated +0 s of 120 asked \(interrupted: Ctrl-C\) in ", out), out
    monkeypatch.undo()
    assert main(["--duration", "2m", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "interrupted" not in out and re.search(r"\n  simulated +120 s in ", out), out


@pytest.mark.parametrize("argv, named", [
    (["--coin", "ETH"], "--coin: an option"), (["--network=testnet"], "--network: an option"),
    (["--execution-level", "3", "--keystore", "k.json"], "--execution-level, --keystore: options")])
def test_a_live_runs_option_given_to_the_twin_run_is_named_as_the_live_runs(argv, named, capsys):
    """``python -m agent --coin ETH`` (the README's live examples quote ETH) was argparse's "unrecognized
    arguments: --coin ETH", no word that the option is the live run's, nor how the twin run takes a coin."""
    with pytest.raises(SystemExit) as done:
        main(["--duration", "1m", *argv])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "unrecognized arguments: " + " ".join(argv) in err, err
    assert f"({named} of the live run (python -m agent --venue live; see its --help)" in err, err
    if named.startswith("--coin"):
        assert "against the twin, the coin is the config's session.coin" in err, err
    with pytest.raises(SystemExit) as done:  # (an option neither run takes: argparse's words alone)
        main(["--duration", "1m", "--bogus"])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.rstrip().endswith("error: unrecognized arguments: --bogus"), err
