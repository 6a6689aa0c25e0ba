"""The parameter search's environment (DESIGN §9): a valid gymnasium env, seeded, whose actions reach the
agent and whose rewards add up to the session's PnL; and the search CLI's results and best config."""
from __future__ import annotations

import json
import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from agent.config import AgentConfig
from search.__main__ import _attempt, main
from search.env import OBSERVATION, PARAMETERS, MarketMakingEnv, config_for, decode, encode, values_of


def _episode(env, seed, action):
    obs, _ = env.reset(seed=seed)
    out = [(obs.tolist(), None)]
    infos = []
    while True:
        obs, r, terminated, truncated, info = env.step(action)
        out.append((obs.tolist(), r))
        infos.append(info)
        if terminated or truncated:
            return out, infos


def test_it_passes_gymnasiums_checker():
    env = MarketMakingEnv(step_s=30.0, episode_s=90.0)
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (len(OBSERVATION),)  # every coordinate named


def test_gymnasium_makes_it_by_id_and_it_runs_the_same_episodes():
    """Tools that take an environment id (gymnasium.make, vector envs, trainers) get the same environment,
    wrapped by gymnasium's checks, with its keyword arguments passed through."""
    import gymnasium

    made = gymnasium.make("search:HLTwin/MarketMaking-v0", step_s=60.0, episode_s=120.0)
    assert isinstance(made.unwrapped, MarketMakingEnv) and made.unwrapped.step_s == 60.0
    a = np.linspace(-0.5, 0.5, len(PARAMETERS)).astype(np.float32)
    assert _episode(made, 3, a)[0] == _episode(MarketMakingEnv(step_s=60.0, episode_s=120.0), 3, a)[0]


def test_render_draws_nothing_without_raising_and_close_frees_the_session():
    """``render()`` raised gymnasium's NotImplementedError (made by id, its wrapper calls it through): a tool that
    renders each step stopped at once. ``close()`` kept the twin session alive, and a step after it ran on."""
    import gymnasium

    made = gymnasium.make("search:HLTwin/MarketMaking-v0", step_s=30.0, episode_s=60.0)
    check_env(made.unwrapped)  # (its render check too)
    made.reset(seed=1)
    assert made.render() is None
    made.close()
    made.close()  # (twice: gymnasium's closing wrappers may)
    assert made.unwrapped._session is None
    with pytest.raises(RuntimeError, match="before reset"):
        made.unwrapped.step(np.zeros(len(PARAMETERS), np.float32))
    obs, _ = made.reset(seed=1)  # and it opens again
    assert made.observation_space.contains(obs)


@pytest.mark.parametrize("coin, says", [
    ("ETH", "session.coin 'ETH' is not an instrument of the twin (the twin's defaults list BTC, hyna:LIT)"),
    ("hyna:LIT", "the twin has no market for agent_config's session.coin 'hyna:LIT' (the twin's defaults have "
                 "markets for BTC)"),
])
def test_a_coin_the_twin_cannot_trade_is_refused_when_the_env_is_made(coin, says):
    """A coin the twin does not list was a KeyError traceback at reset; one it lists without a market ran every
    episode on an empty book, each reward 0 and nothing said (python -m search refuses both)."""
    cfg = AgentConfig.model_validate({"session": {"coin": coin}})
    with pytest.raises(ValueError) as e:
        MarketMakingEnv(agent_config=cfg, step_s=60.0, episode_s=120.0)
    assert says in str(e.value)
    from twin.market.synthetic import SyntheticMarketParams
    from twin.params import TwinParams
    if coin == "hyna:LIT":  # given a market, it trades
        params = TwinParams(markets={"BTC": SyntheticMarketParams(), coin: SyntheticMarketParams.thin_hip3()})
        env = MarketMakingEnv(agent_config=cfg, twin_params=params, step_s=60.0, episode_s=120.0)
        obs, _ = env.reset(seed=0)
        assert env.observation_space.contains(env.step(None)[0])


def test_the_same_seed_and_actions_give_the_same_episode():
    env = MarketMakingEnv(step_s=60.0, episode_s=240.0)
    a = np.linspace(-0.5, 0.5, len(PARAMETERS)).astype(np.float32)
    first, _ = _episode(env, 3, a)
    again, _ = _episode(MarketMakingEnv(step_s=60.0, episode_s=240.0), 3, a)
    other, _ = _episode(env, 4, a)
    assert first == again and len(first) == 5  # reset + 4 steps of 60 s
    assert other != first


def test_a_kill_terminates_the_episode_and_its_observation_quotes_nothing():
    """A Kill stops the agent and pulls its quotes: the episode is terminated (not truncated), the safety coordinate
    is 1 and the quoted spread 0. The observation gave the last cycle before the Kill as the spread quoted (1.5 bps,
    moving with the mid), with no order left on the book. (A position limit of 1% trips the runaway Kill in the first
    minute.)"""
    cfg = AgentConfig.model_validate({"safety": {"position_orange_frac": 0.01, "position_kill_frac": 0.01}})
    env = MarketMakingEnv(agent_config=cfg, step_s=60.0, episode_s=600.0)
    steps, infos = _episode(env, 0, np.ones(len(PARAMETERS), np.float32))
    obs = dict(zip(OBSERVATION, steps[-1][0]))
    assert len(infos) < 10 and infos[-1]["safety"] == "KILL" and env._session[1].stopped
    assert env.observation_space.contains(np.asarray(steps[-1][0], np.float32))
    assert obs["safety"] == 1.0 and obs["spread_bps"] == 0.0
    assert env._session[1].last_quotes  # (what the observation read as quoted)


def test_rewards_add_up_to_the_net_pnl_and_the_level_holds():
    """With the penalties off, the rewards are the steps' PnL and sum to the session's net PnL (fees
    included); pinned, the exposure level is the one asked for throughout."""
    env = MarketMakingEnv(step_s=120.0, episode_s=600.0, level="RAMPING", inventory_penalty=0.0,
                          escalation_penalty=0.0)
    # (seed 0: on 7 of seeds 0-11 the ladder moves in the ten minutes; seed 1 no longer does since the bbo feed)
    steps, infos = _episode(env, 0, None)
    rewards = [r for _, r in steps[1:]]
    assert sum(rewards) == pytest.approx(infos[-1]["net_pnl_usd"]) and infos[-1]["fees_usd"] > 0
    assert infos[-1]["fills"] > 0 and {i["exposure"] for i in infos} == {"RAMPING"}
    penalised = MarketMakingEnv(step_s=120.0, episode_s=600.0, level="RAMPING", inventory_penalty=0.0,
                                escalation_penalty=5.0)
    p_steps, p_infos = _episode(penalised, 0, None)
    assert p_infos[-1]["escalations"] > 0  # the twin's faults move the safety ladder in ten minutes
    assert sum(r for _, r in p_steps[1:]) == pytest.approx(sum(rewards) - 5.0 * p_infos[-1]["escalations"])


def test_an_action_sets_the_agents_parameters():
    """The action reaches the quotes: one level a side, far apart and wide, quotes a wider spread and fills
    less than the defaults on the same market. The spread is GLFT's own half spread at each step's last
    cycle (the decision record's first adjustment): the quoted spread is mostly the inventory skew's doing
    where the agent holds a position (the side that would add to it moves far off, the other is held at
    the touch), and a session need not end a step flat."""
    wide = {"glft.spread_factor": 4.0, "ladder.n_levels": 1, "ladder.level_spacing_ticks": 10.0}
    action = encode(config_for(wide))
    assert decode(action)["ladder.n_levels"] == 1 and decode(action)["glft.spread_factor"] == pytest.approx(4.0)
    env = MarketMakingEnv(step_s=30.0, episode_s=300.0)
    halves = {}
    infos = {}
    for name, a in (("base", None), ("wide", action)):
        env.reset(seed=2)
        halves[name] = []
        while True:
            _, _, terminated, truncated, infos[name] = env.step(a)
            name_, half, _ = env._session[1]._recent[-1].adjustments[0]
            assert name_ == "glft_half_spread"
            halves[name].append(half)
            if terminated or truncated:
                break
    assert infos["wide"]["fills"] < infos["base"]["fills"]
    # the first step's quotes may stand on the priors (no fit yet): the same 4x there as after
    assert np.median(halves["wide"]) > 3.0 * np.median(halves["base"])
    assert infos["wide"]["params"]["ladder.n_levels"] == 1


def test_the_search_table_has_a_column_for_every_parameter():
    from search.__main__ import _COLUMNS
    assert list(_COLUMNS) == [p.path for p in PARAMETERS]


def test_the_search_tables_legend_says_its_counts_are_the_trials_episodes_sums_and_names_esc():
    """The head says "(USDC, mean per episode)", the reward's and net PnL's; fills, esc and kills are summed over
    the trial's episodes, which nothing said (a 2-seed search's 522 fills read as one episode's), and "esc" was
    not explained."""
    from search.__main__ import _table
    row = {"trial": 0, "params": {p.path: 1 for p in PARAMETERS}, "mean_reward": -1.0, "mean_net_pnl_usd": -1.0,
           "fills": 522, "escalations": 4, "kills": 0}
    text = _table([row], 300.0, 2)
    assert "fills, esc (safety levels escalated), kills (episodes a Kill ended): summed over the trial's 2 episodes" \
        in text, text
    assert "over the trial's 1 episode\n" in _table([row], 300.0, 1) + "\n"


def test_the_defaults_round_trip_through_the_action_space():
    cfg = AgentConfig()
    back = decode(encode(cfg))
    for path, v in values_of(cfg).items():
        assert back[path] == pytest.approx(v, rel=1e-3)
    with pytest.raises(ValueError, match="7 coordinates"):
        decode([0.0, 0.0])
    with pytest.raises(ValueError, match=r"finite numbers: glft.gamma nan, order_size inf"):
        decode([np.nan, 0.0, 0.0, 0.0, 0.0, np.inf, 0.0])  # a diverged policy: read as the range's ends before
    with pytest.raises(ValueError, match="places orders"):
        MarketMakingEnv(level="SHADOW")


def test_uniform_actions_draw_each_level_count_alike():
    """The search's trials are uniform draws from [-1, 1]^7: each of ladder.n_levels' values 1 to 5 is drawn as
    often as another. Rounding the linear map gave the range's two ends half a share each (1 and 5 levels a side
    drawn 12.5% of the time, 2 to 4 25%): the one-level ladder README's search ranks best was the least tried."""
    (k,) = [i for i, p in enumerate(PARAMETERS) if p.path == "ladder.n_levels"]
    action = np.zeros(len(PARAMETERS), np.float32)
    counts = {}
    for x in np.linspace(-1.0, 1.0, 10_001):
        action[k] = x
        n = decode(action)["ladder.n_levels"]
        counts[n] = counts.get(n, 0) + 1
    assert sorted(counts) == [1, 2, 3, 4, 5]
    assert all(c == pytest.approx(10_001 / 5, abs=2) for c in counts.values()), counts
    for n in range(1, 6):  # and each value's point maps back to it, inside its share
        point = PARAMETERS[k].point(n)
        assert PARAMETERS[k].value(point) == n and -1.0 < point < 1.0


def test_the_cli_writes_results_and_a_best_config_the_agent_runs(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["--trials", "3", "--seeds", "2", "--episode", "4m", "--step", "2m", "--workers", "1", "--quiet",
                 "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "3 trials x 2 seeds" in table and "(0)" in table
    res = json.loads((out / "results.json").read_text())
    trials = res["trials"]
    assert len(trials) == 3 and all(len(t["episodes"]) == 2 for t in trials)
    assert [t["mean_reward"] for t in trials if not t["kills"]] == \
        sorted((t["mean_reward"] for t in trials if not t["kills"]), reverse=True)
    assert {e["seed"] for t in trials for e in t["episodes"]} == {0, 1}  # every trial on the same markets
    baseline = next(t for t in trials if t["trial"] == 0)
    assert baseline["params"] == values_of(AgentConfig())
    best = AgentConfig.load(str(out / "best.yaml"))
    assert values_of(best) == pytest.approx(trials[0]["params"])
    # the whole config: a search from a base keeps the base's other settings in best.yaml
    base = tmp_path / "base.yaml"
    base.write_text("risk:\n  max_position: 0.03\n")
    assert main(["--trials", "2", "--seeds", "1", "--episode", "2m", "--step", "1m", "--workers", "1", "--quiet",
                 "--config", str(base), "--out", str(tmp_path / "b")]) == 0
    assert AgentConfig.load(str(tmp_path / "b" / "best.yaml")).risk.max_position == 0.03
    # the same arguments again: refused, nothing overwritten
    assert main(["--trials", "2", "--episode", "2m", "--step", "1m", "--quiet", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["--level", "SHADOW", "--quiet"]) == 2
    assert "places orders" in capsys.readouterr().err
    # an --out that is a file: refused before the trials (it was a traceback after all of them)
    afile = tmp_path / "afile"
    afile.write_text("mine")
    assert main(["--trials", "2", "--episode", "2m", "--step", "1m", "--quiet", "--out", str(afile)]) == 2
    assert capsys.readouterr().err == f"error: --out {afile}: exists and is not a folder\n"
    assert afile.read_text() == "mine"


def test_a_pool_of_workers_gives_the_results_of_one_process(tmp_path, capsys):
    """Episodes are seeded, not scheduled: two worker processes find what one does."""
    args = ["--trials", "2", "--seeds", "1", "--episode", "2m", "--step", "1m", "--quiet"]
    assert main(args + ["--workers", "1", "--out", str(tmp_path / "one")]) == 0
    assert main(args + ["--workers", "2", "--out", str(tmp_path / "two")]) == 0
    one, two = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("one", "two"))
    assert one == two


def test_the_inventory_penalty_is_the_risk_held_through_each_step_not_at_its_end():
    """The penalty is the variance of the position's value accrued through the step, Σ (position × mid × σ)² dt:
    a step that held inventory for most of its length and ended flat is penalised for it. (It used to be the
    end's position times the step's length: an audit saw a step reach 0.0076 BTC and end at -0.001.) Checked
    against the same session stepped by hand, its position sampled every second."""
    penalised = MarketMakingEnv(step_s=120.0, episode_s=600.0, level="RAMPING", inventory_penalty=1.0,
                                escalation_penalty=0.0)
    free = MarketMakingEnv(step_s=120.0, episode_s=600.0, level="RAMPING", inventory_penalty=0.0,
                           escalation_penalty=0.0)
    (p_steps, _), (f_steps, _) = _episode(penalised, 1, None), _episode(free, 1, None)
    charged = [f[1] - p[1] for p, f in zip(p_steps[1:], f_steps[1:])]
    by_hand = MarketMakingEnv(step_s=120.0, episode_s=600.0, level="RAMPING")
    by_hand.reset(seed=1)
    ex, core = by_hand._session
    held, at_end = [], []
    for k in range(5):
        risk = 0.0
        for t in range(120 * k + 1, 120 * (k + 1) + 1):
            ex.env.run(until=float(t))
            sigma = core.vol.sigma_per_sqrt_s if core.vol.ready else core.cfg.quoting.sigma_prior
            risk += (core.tracker.position * core.mid * sigma) ** 2
        held.append(risk)
        at_end.append((core.tracker.position * core.mid * sigma) ** 2 * 120.0)
    assert charged == pytest.approx(held, rel=1e-9, abs=1e-12) and sum(held) > 0.0
    assert held != pytest.approx(at_end, rel=0.05)  # the end's position alone is another figure


def test_without_gymnasium_the_search_names_the_extra_to_install(monkeypatch, capsys):
    """`python -m search` without the search extra printed a traceback from the package's own import of
    gymnasium: the message __main__ has for it was never reached."""
    import importlib
    import sys
    monkeypatch.setitem(sys.modules, "gymnasium", None)  # (None in sys.modules: the import raises ImportError)
    for name in ("search", "search.env", "search.__main__"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    fresh = importlib.import_module("search.__main__")
    assert fresh.main(["--trials", "1"]) == 2
    assert '".[search]"' in capsys.readouterr().err


def test_a_level_is_read_as_the_config_and_the_live_cli_read_it():
    """`--level MicroLive` (as the live CLI and the README spell it) was refused, only MICRO_LIVE read; a level that
    places nothing, or no level at all, is refused naming it."""
    for name in ("MicroLive", "micro_live", "MICRO-LIVE"):
        env = MarketMakingEnv(step_s=60.0, episode_s=60.0, level=name)
        assert env.agent_config.graduation.start_level.name == env.agent_config.graduation.ceiling.name == "MICRO_LIVE"
    for bad in ("Shadow", "Mikro"):
        with pytest.raises(ValueError, match=f"got '{bad}'"):
            MarketMakingEnv(step_s=60.0, episode_s=60.0, level=bad)


def test_results_json_names_the_level_as_the_agent_does_not_as_it_was_typed(tmp_path):
    """`--level micro-live` ran at MicroLive, but results.json recorded "micro-live" as typed: a script reading it
    (or the next search, comparing runs) saw another name for the same level; best.yaml's head said MICRO_LIVE."""
    out = tmp_path / "s"
    assert main(["--trials", "1", "--seeds", "1", "--episode", "60", "--step", "60", "--workers", "1", "--quiet",
                 "--level", " micro-live", "--out", str(out)]) == 0
    assert json.loads((out / "results.json").read_text())["level"] == "MICRO_LIVE"
    assert "pinned at exposure level MICRO_LIVE" in (out / "best.yaml").read_text()


@pytest.mark.parametrize("coin, says", [
    ("ETH", "session.coin 'ETH'"),  # not listed: a KeyError traceback from every episode, exit 1
    ("hyna:LIT", "session.coin 'hyna:LIT'"),  # listed without a market: every trial ran on an empty book, exit 0
])
def test_a_coin_the_searchs_twin_cannot_trade_exits_2_naming_the_config_as_the_agent_does(tmp_path, capsys, coin,
                                                                                          says):
    from agent.__main__ import main as agent_main

    cfg = tmp_path / "coin.yaml"
    cfg.write_text(f'session:\n  coin: "{coin}"\n')
    out = tmp_path / "s"
    assert main(["--config", str(cfg), "--trials", "1", "--seeds", "1", "--episode", "60", "--step", "60",
                 "--workers", "1", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --config {cfg}: {says}: ") and "market for BTC only" in err
    assert "Traceback" not in err and not out.exists()
    assert agent_main(["--config", str(cfg), "--quiet"]) == 2  # the agent's own refusal of the same config


def test_trials_a_kill_ended_rank_after_those_it_did_not_and_best_yaml_says_how_the_search_ran(tmp_path):
    """A Kill ends an episode early and the time it cut off is never charged: by reward alone the trials that
    tripped it in minutes (-5 USDC, a handful of fills) ranked above those trading whole episodes (-34), and
    best.yaml held one Killed on every seed. And best.yaml ran at Shadow, the base's start, where every episode
    was pinned at Full, without a word."""
    from search.__main__ import _best_yaml, ranked

    rows = [{"trial": 4, "mean_reward": -5.0, "kills": 2}, {"trial": 1, "mean_reward": -34.3, "kills": 0},
            {"trial": 3, "mean_reward": -42.0, "kills": 1}, {"trial": 0, "mean_reward": -20.0, "kills": 0}]
    assert [r["trial"] for r in ranked(rows)] == [0, 1, 4, 3]
    text = _best_yaml(AgentConfig(), {"trial": 1, "mean_reward": -34.3, "mean_net_pnl_usd": -30.0}, "FULL")
    assert "its episodes pinned at exposure level FULL" in text and "starts at SHADOW" in text
    assert "set graduation.start_level and graduation.ceiling to FULL" in text
    assert AgentConfig.model_validate(__import__("yaml").safe_load(text)) == AgentConfig()


def test_ctrl_c_keeps_the_episodes_finished_and_writes_their_results(tmp_path, monkeypatch, capsys):
    """The results were written only once every trial was done: a Ctrl-C an hour into a search left its folder
    empty and a traceback. The episodes finished are ranked and written, marked interrupted, exit status 130."""
    import search.__main__ as cli

    real = cli._episode
    done = []

    def episode(task):
        if len(done) == 3:
            raise KeyboardInterrupt
        done.append(task)
        return real(task)
    monkeypatch.setattr(cli, "_episode", episode)
    out = tmp_path / "s"
    assert cli.main(["--trials", "3", "--seeds", "2", "--episode", "2m", "--step", "1m", "--workers", "1", "--quiet",
                     "--out", str(out)]) == 130
    assert "interrupted (Ctrl-C): 3 of 6 episodes finished" in capsys.readouterr().err
    res = json.loads((out / "results.json").read_text())
    assert res["interrupted"] is True
    assert sorted((t["trial"], len(t["episodes"])) for t in res["trials"]) == [(0, 2), (1, 1)]
    assert AgentConfig.load(str(out / "best.yaml"))


@contextmanager
def _interrupt_at(name: str, nth: int):
    """A Ctrl-C at the ``nth`` entry (a call, or a generator's resumption) of search/__main__.py's function ``name``:
    its KeyboardInterrupt raised there, as a signal landing at its first instruction raises it (once: the tracer is
    then unset, as any tracer that raises)."""
    import sys
    seen = []

    def tracer(frame, event, arg):
        code = frame.f_code
        if event == "call" and code.co_name == name and code.co_filename.endswith("search/__main__.py"):
            seen.append(name)
            if len(seen) == nth:
                raise KeyboardInterrupt
        return None
    before = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield seen
    finally:
        sys.settrace(before)


@pytest.mark.parametrize("where, nth", [("emit", 2), ("_deadline", 4)],
                         ids=["as-it-is-handed-over", "as-its-timer-is-put-away"])
def test_a_ctrl_c_between_an_episodes_return_and_its_journal_line_keeps_it(tmp_path, capsys, where, nth):
    """--workers 1: a Ctrl-C that landed after an episode returned and before it was kept (as it was handed over, or
    as its wall-clock timer was put away, _deadline's exit) lost it: not journalled, not in results.json, and the
    search said "1 of 6 episodes finished" where 2 had. Each episode that finished is kept, journalled and written."""
    import search.__main__ as cli

    out = tmp_path / "s"
    with _interrupt_at(where, nth) as seen:
        status = cli.main(["--trials", "3", "--seeds", "2", "--episode", "2m", "--step", "1m", "--workers", "1",
                           "--quiet", "--out", str(out)])
    assert len(seen) == nth and status == 130
    assert "interrupted (Ctrl-C): 2 of 6 episodes finished" in capsys.readouterr().err
    lines = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert [(r["trial"], r["seed"]) for r in lines] == [(0, 0), (0, 1)]
    res = json.loads((out / "results.json").read_text())
    assert [(t["trial"], len(t["episodes"])) for t in res["trials"]] == [(0, 2)]


@pytest.mark.parametrize("full", ["during the search", "after it"])
def test_a_full_disk_under_a_search_prints_its_table_then_exits_2_naming_the_folder(tmp_path, monkeypatch, capsys,
                                                                                   disk_with, full):
    """Exit status 1 means an episode failed: a full disk was an OSError traceback with that code (from the journal's
    write, or results.json's), and the ranking the search had made was lost. The search runs to its end and prints
    its table; the folder's writes stop at the first failure, and results.json, written last, is not there: the
    folder is not a whole search's."""
    import errno
    import os

    import search.__main__ as cli
    if full == "during the search":
        disk_with(0)  # the journal's first line does not fit
    else:
        def no_space(*a, **k):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        monkeypatch.setattr(cli, "_write_results", no_space)
    out = tmp_path / "s"
    assert cli.main(["--trials", "2", "--seeds", "1", "--episode", "2m", "--step", "1m", "--workers", "1", "--quiet",
                     "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "(0) is the config's own values" in captured.out
    assert captured.err.endswith(f"error: --out {out}: No space left on device (the search ran: the table above; the "
                                 f"folder is incomplete)\n")
    assert not (out / "results.json").exists() and (out / "best.yaml").exists() == (full == "after it")


def _failing(cli, monkeypatch, fails, exc):
    """``cli._episode``, raising ``exc`` on the tasks ``fails`` picks (trial, seed): a bug one episode's parameters
    reach, without editing the agent."""
    real = cli._episode

    def episode(task):
        if fails(task[0], task[2]):
            raise exc
        return real(task)
    monkeypatch.setattr(cli, "_episode", episode)


@pytest.mark.parametrize("workers", [1, 2])
def test_an_episode_that_raises_is_recorded_with_its_parameters_and_the_search_goes_on(tmp_path, monkeypatch, capsys,
                                                                                        workers):
    """An exception in one episode ended the whole search (a traceback, exit 1) and took every episode done before
    it: --out was left empty. It is now a failed episode in results.json, with its error and parameters; the rest
    are ranked, the trial it failed in after those complete, and every episode is in episodes.jsonl; exit 1."""
    import search.__main__ as cli
    from agent.audit.records import read_jsonl

    _failing(cli, monkeypatch, lambda trial, seed: (trial, seed) == (1, 0), RuntimeError("boom"))
    out = tmp_path / "s"
    assert cli.main(["--trials", "3", "--seeds", "2", "--episode", "2m", "--step", "1m", "--workers", str(workers),
                     "--quiet", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "1 of 6 episodes failed (trials [1]); the first, trial 1 seed 0: RuntimeError: boom" in err
    res = json.loads((out / "results.json").read_text())
    [failed] = res["failed"]
    assert failed["error"] == "RuntimeError: boom" and "Traceback" in failed["traceback"]
    assert (failed["trial"], failed["seed"]) == (1, 0) and failed["params"] == next(
        t["params"] for t in res["trials"] if t["trial"] == 1)
    assert [(t["trial"], len(t["episodes"]), t["errors"]) for t in res["trials"]][-1] == (1, 1, 1)
    assert sorted(len(t["episodes"]) for t in res["trials"]) == [1, 2, 2]
    lines, torn = read_jsonl(out / "episodes.jsonl")
    assert torn == 0 and sorted((r["trial"], r["seed"]) for r in lines) == [(t, s) for t in range(3) for s in (0, 1)]
    assert all("params" in r for r in lines) and AgentConfig.load(str(out / "best.yaml"))


def _hangs_on_trial_1_seed_0(cli, monkeypatch):
    """``cli._episode`` that never ends for trial 1 seed 0 (a loop its parameters reach, say)."""
    import time
    real = cli._episode

    def episode(task):
        while (task[0], task[2]) == (1, 0):
            time.sleep(0.01)
        return real(task)
    monkeypatch.setattr(cli, "_episode", episode)


@pytest.mark.parametrize("workers", [1, 2])
def test_an_episode_that_hangs_is_stopped_at_its_timeout_and_recorded_as_timed_out(tmp_path, monkeypatch, capsys,
                                                                                    workers):
    """An episode that never ended stalled the search for ever (with --workers 1 and with a pool: the search waited
    on its worker, nothing written). Past --episode-timeout it is stopped, journalled and listed as failed, timed
    out, and the search goes on to rank the others; exit 1."""
    import time

    import search.__main__ as cli
    from agent.audit.records import read_jsonl

    _hangs_on_trial_1_seed_0(cli, monkeypatch)
    out = tmp_path / "s"
    start = time.monotonic()
    assert cli.main(["--trials", "2", "--seeds", "2", "--episode", "60", "--step", "60", "--workers", str(workers),
                     "--quiet", "--episode-timeout", "1.5", "--out", str(out)]) == 1
    assert time.monotonic() - start < 60.0
    assert "trial 1 seed 0: timed out: still running after 1.5 s of wall-clock time" in capsys.readouterr().err
    res = json.loads((out / "results.json").read_text())
    [failed] = res["failed"]
    assert (failed["trial"], failed["seed"], failed["timed_out"]) == (1, 0, True)
    assert sorted((t["trial"], len(t["episodes"])) for t in res["trials"]) == [(0, 2), (1, 1)]
    lines, _ = read_jsonl(out / "episodes.jsonl")
    assert [r.get("timed_out", False) for r in lines if (r["trial"], r["seed"]) == (1, 0)] == [True]
    assert len(lines) == 4
    # the default: ten minutes, or a tenth of the episode if longer; a bad value is refused naming the option
    assert cli.main(["--episode-timeout", "0", "--quiet"]) == 2
    assert "--episode-timeout '0': must be positive" in capsys.readouterr().err


def test_the_episode_timer_works_outside_the_main_thread_and_leaves_the_callers_alarm_alone(tmp_path, monkeypatch,
                                                                                            capsys):
    """The timer was the process's SIGALRM: with --workers 1 a search run from a thread (a GUI's, a notebook
    kernel's executor, a job runner's) ended on "ValueError: signal only works in main thread" before its first
    episode, where it ran before the timeout came; and in the main thread it cancelled the caller's own alarm (a
    script's ``signal.alarm`` guard, pytest-timeout's), which never fired. A hang is still stopped from a thread."""
    import signal
    import threading

    import search.__main__ as cli

    _hangs_on_trial_1_seed_0(cli, monkeypatch)
    said: dict = {}

    def search(out):
        try:
            said["status"] = cli.main(["--trials", "2", "--seeds", "1", "--episode", "60", "--step", "60", "--workers",
                                       "1", "--quiet", "--episode-timeout", "1.5", "--out", str(out)])
        except BaseException as e:  # (a thread's exception is only printed)
            said["error"] = repr(e)
    t = threading.Thread(target=search, args=(tmp_path / "thread",))
    t.start()
    t.join(60.0)
    assert not t.is_alive() and said == {"status": 1}, said
    [failed] = json.loads((tmp_path / "thread" / "results.json").read_text())["failed"]
    assert (failed["trial"], failed["seed"], failed["timed_out"]) == (1, 0, True)
    # the caller's alarm, armed before the search, is still armed after it (and was not the search's to fire)
    signal.setitimer(signal.ITIMER_REAL, 300.0)
    try:
        search(tmp_path / "main")
        left, _ = signal.getitimer(signal.ITIMER_REAL)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
    assert said == {"status": 1} and 200.0 < left <= 300.0, (said, left)
    capsys.readouterr()


def test_a_search_that_dies_leaves_the_episodes_it_finished_on_disk(tmp_path, monkeypatch):
    """What cannot be caught (the process killed, say: here an exception that is not an Exception) ends the search:
    the episodes finished before it are already lines of episodes.jsonl, whole; results.json is not there half
    written; and the folder is refused to a second search, which would append to the first one's lines."""
    import search.__main__ as cli
    from agent.audit.records import read_jsonl

    class Killed(BaseException):
        pass

    _failing(cli, monkeypatch, lambda trial, seed: trial == 2, Killed())
    out = tmp_path / "s"
    with pytest.raises(Killed):
        cli.main(["--trials", "3", "--seeds", "2", "--episode", "2m", "--step", "1m", "--workers", "1", "--quiet",
                  "--out", str(out)])
    lines, torn = read_jsonl(out / "episodes.jsonl")
    assert torn == 0 and [(r["trial"], r["seed"]) for r in lines] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert lines[0]["params"] == values_of(AgentConfig()) and not (out / "results.json").exists()
    assert cli.main(["--trials", "2", "--episode", "2m", "--step", "1m", "--quiet", "--out", str(out)]) == 2


def test_a_folder_whose_search_stopped_before_its_first_episode_is_free_again(tmp_path, monkeypatch):
    """A search stopped before any episode ended leaves an empty episodes.jsonl behind: it holds no result, and the
    folder was refused to the next search all the same ("exists: choose another --out")."""
    import search.__main__ as cli

    out = tmp_path / "s"
    out.mkdir()
    (out / "episodes.jsonl").write_text("")
    assert cli.main(["--trials", "1", "--seeds", "1", "--episode", "2m", "--step", "1m", "--workers", "1", "--quiet",
                     "--out", str(out)]) == 0
    assert json.loads((out / "results.json").read_text())["trials"][0]["trial"] == 0


def _dies_on_trial_1(task):
    """A search task whose worker process is killed outright (as the kernel kills one out of memory)."""
    import os
    import signal
    if task[0] == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return _attempt(task)


def test_a_worker_killed_outright_fails_its_episode_alone_and_the_search_goes_on():
    """A dead worker broke the whole pool: the search ended on a BrokenProcessPool traceback, nothing ranked, the
    episodes running beside it lost. Now it is the one episode's failure, and every other episode is run."""
    from search.__main__ import _run

    kw = {"agent_config": AgentConfig(), "step_s": 60.0, "episode_s": 60.0, "level": "FULL"}
    tasks = [(t, None, 7 + t, kw) for t in range(5)]
    results, interrupted = _run(tasks, 2, False, work=_dies_on_trial_1)
    assert not interrupted and sorted(r["trial"] for r in results) == [0, 1, 2, 3, 4]
    dead = [r for r in results if "error" in r]
    assert [(r["trial"], r["seed"]) for r in dead] == [(1, 8)] and "worker process died" in dead[0]["error"]
    alone, _ = _run([t for t in tasks if t[0] != 1], 1, False)  # the others' episodes are what they are alone
    assert sorted((r["trial"], r["reward"]) for r in results if "error" not in r) == \
        sorted((r["trial"], r["reward"]) for r in alone)


def _dies_once_on_trial_1(task):
    """Trial 1's first worker is killed (by the kernel's OOM killer, say); run again, it finishes."""
    import os
    import signal
    marker = os.environ["SEARCH_TEST_MARKER"]
    if task[0] == 1 and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return _attempt(task)


def _first_waits_for_another(task):
    """Trial 0 runs until the search has taken another episode's result (SEARCH_TEST_MARKER, made by the test's
    ``on_result``), at most 10 s; the others end at once."""
    import os
    import time
    marker = os.environ["SEARCH_TEST_MARKER"]
    waited = 0.0
    while task[0] == 0 and not os.path.exists(marker) and waited < 10.0:
        time.sleep(0.05)
        waited += 0.05
    return {"trial": task[0], "seed": task[2], "reward": float(task[0]), "saw_another": os.path.exists(marker)}


def test_each_episode_is_taken_as_it_finishes_not_behind_a_slower_one(tmp_path, monkeypatch):
    """The pool's results were taken in the tasks' order: an episode that finished (journalled, on the progress bar)
    waited behind every earlier one still running, so a search that died lost episodes finished long before, where
    README says episodes.jsonl has a line per episode as it finishes. The results returned stay in the tasks'
    order (results.json is the same whatever order they finished in)."""
    from search.__main__ import _run

    marker = tmp_path / "another"
    monkeypatch.setenv("SEARCH_TEST_MARKER", str(marker))
    taken = []

    def on_result(r):
        taken.append(r["trial"])
        if r["trial"] != 0:
            marker.touch()
    tasks = [(t, None, 7 + t, {}) for t in range(4)]
    results, interrupted = _run(tasks, 2, False, on_result, work=_first_waits_for_another)
    assert not interrupted and taken[0] != 0 and sorted(taken) == [0, 1, 2, 3]
    assert [r["trial"] for r in results] == [0, 1, 2, 3] and results[0]["saw_another"]


def _second_ends_soon_third_late(task):
    """Trial 0 ends at once, trial 1 after 0.2 s, the others after 30 s (under way when the search is cut)."""
    import time
    time.sleep({0: 0.0, 1: 0.2}.get(task[0], 30.0))
    return {"trial": task[0], "seed": task[2], "reward": float(task[0])}


def test_ctrl_c_while_an_episode_is_journalled_keeps_those_that_finished_meanwhile():
    """A Ctrl-C (or SIGTERM) lands wherever the search is: here while trial 0's line is written (a slow fsync), trial
    1 finishing meanwhile. Trial 1 was dropped, though it had finished a second before the Ctrl-C (README: Ctrl-C
    keeps the episodes finished); those under way are dropped, and none is taken twice."""
    import time

    from search.__main__ import _run

    taken = []

    def on_result(r):
        taken.append(r["trial"])
        if r["trial"] == 0:
            time.sleep(1.5)
            raise KeyboardInterrupt
    tasks = [(t, None, 7 + t, {}) for t in range(4)]
    start = time.monotonic()
    results, interrupted = _run(tasks, 2, False, on_result, work=_second_ends_soon_third_late)
    assert interrupted and taken == [0, 1] and [r["trial"] for r in results] == [0, 1]
    assert time.monotonic() - start < 20.0  # (the episodes under way were ended, not waited for)


def test_a_ctrl_c_the_instant_a_result_is_taken_does_not_lose_it():
    """The pool's loop took a finished episode off its pending list, then handed it on: a Ctrl-C landing between the
    two (here: at the first instruction of the hand-over, before it recorded anything) lost that episode, which
    _take_finished then skipped as taken, though README says Ctrl-C keeps the episodes finished. A Ctrl-C landing
    after it was recorded (a slow journal line) must not take it twice: the test above."""
    from search.__main__ import _pooled, _run

    got = {}
    cut = []

    def emit(r):
        if not cut:  # the signal arrives as the first result is handed over
            cut.append(r["trial"])
            raise KeyboardInterrupt
        got.setdefault(r["trial"], r)
    tasks = [(t, None, 7 + t, {}) for t in range(4)]
    with pytest.raises(KeyboardInterrupt):
        _pooled(tasks, 2, _second_ends_soon_third_late, emit)
    assert cut == [0] and 0 in got and set(got) <= {0, 1}
    # through _run: the result is taken once, however often the pool hands it over
    taken = []
    results, interrupted = _run(tasks[:2], 2, False, taken.append, work=_second_ends_soon_third_late)
    assert not interrupted and [r["trial"] for r in taken] == [0, 1] and [r["trial"] for r in results] == [0, 1]


def test_an_episode_whose_worker_was_killed_once_is_run_again_and_counts(tmp_path, monkeypatch):
    from search.__main__ import _run

    monkeypatch.setenv("SEARCH_TEST_MARKER", str(tmp_path / "died"))
    kw = {"agent_config": AgentConfig(), "step_s": 60.0, "episode_s": 60.0, "level": "FULL"}
    tasks = [(t, None, 7 + t, kw) for t in range(4)]
    results, interrupted = _run(tasks, 2, False, work=_dies_once_on_trial_1)
    assert (tmp_path / "died").exists() and not interrupted  # it did die once
    alone, _ = _run(tasks, 1, False)
    assert not any("error" in r for r in results)
    assert sorted((r["trial"], r["reward"]) for r in results) == sorted((r["trial"], r["reward"]) for r in alone)


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (each one's parent from /proc: pgrep is not on every host)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue  # (ended meanwhile)
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


@contextmanager
def _search_process(*args: str):
    """``python -m search *args`` in a process group of its own, its output piped; the group (the search and its
    workers) killed on leaving, whatever the test found, so no worker outlives a failed test."""
    import os
    import signal
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-m", "search", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        yield p
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_sigterm_ends_a_search_as_ctrl_c_does_its_workers_with_it(tmp_path):
    """``kill PID`` (a service manager's stop, a CI job's timeout) killed a search as kill -9 does: no table, no
    results.json, exit -15. Now it ends as Ctrl-C does: the episodes finished ranked and written, marked
    interrupted, the message naming the signal, exit 143; and at once: the workers, which the signal does not
    reach, are ended with their episodes, not waited for."""
    import signal
    import time

    from agent.audit.records import read_log

    out = tmp_path / "s"
    journal = out / "episodes.jsonl"
    with _search_process("--trials", "3", "--seeds", "2", "--episode", "1h", "--step", "30m", "--workers", "2",
                         "--quiet", "--out", str(out)) as p:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and p.poll() is None and not (journal.exists() and journal.stat().st_size):
            time.sleep(0.02)  # (an episode finished: the next ones are under way, ~2 s each)
        assert p.poll() is None, p.stderr.read().decode()
        workers = _children(p.pid)
        p.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        stdout, stderr = p.communicate(timeout=30)
        took = time.monotonic() - t0
    err = stderr.decode()
    assert p.returncode == 143, err
    assert "interrupted (SIGTERM): " in err and " of 6 episodes finished" in err and "Traceback" not in err
    lines, bad = read_log(journal)
    res = json.loads((out / "results.json").read_text())
    assert bad == 0 and 1 <= len(lines) < 6 and res["interrupted"] is True
    assert sorted((e["trial"], e["seed"]) for t in res["trials"] for e in t["episodes"]) == \
        sorted((r["trial"], r["seed"]) for r in lines)
    assert AgentConfig.load(str(out / "best.yaml")) and "trials x 2 seeds" in stdout.decode()
    assert took < 1.5, f"the search waited {took:.1f} s for its workers' episodes"
    assert workers and not any(_alive(w) for w in workers), "a worker outlived the search"


def test_sigterm_to_one_worker_ends_that_worker_not_the_search(tmp_path):
    """The workers are forked with the search's SIGTERM handler: a SIGTERM to one of them came back as its episode's
    StopSignal, which ended the whole search as a Ctrl-C (exit 130). A worker gets the default action back: it dies,
    as a worker killed outright does, and its episodes run again."""
    import os
    import signal
    import time

    out = tmp_path / "s"
    with _search_process("--trials", "2", "--seeds", "1", "--episode", "30m", "--step", "30m", "--workers", "2",
                         "--quiet", "--out", str(out)) as p:
        deadline = time.monotonic() + 20
        while len(workers := _children(p.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers) == 2, "the search's pool never started"
        time.sleep(0.5)  # the workers' initializers run, their episodes begin
        os.kill(min(workers), signal.SIGTERM)
        _, stderr = p.communicate(timeout=60)
    assert p.returncode == 0, stderr.decode()
    res = json.loads((out / "results.json").read_text())
    assert res["interrupted"] is False and res["failed"] == [] and len(res["trials"]) == 2


def test_the_workers_of_a_search_killed_outright_end_with_it(tmp_path):
    """kill -9 of a search (the OOM killer, say) left its pool's workers alive for good (seen: still there 20 s on,
    idle, holding the caller's pipes, so a script capturing the search's output hung). Now they exit with it."""
    import time

    with _search_process("--trials", "2", "--seeds", "1", "--episode", "2h", "--workers", "2", "--quiet", "--out",
                         str(tmp_path / "s")) as p:
        deadline = time.monotonic() + 20
        while len(workers := _children(p.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers) == 2, "the search's pool never started"
        time.sleep(0.3)  # the workers' initializers run
        p.kill()
        p.wait()
        deadline = time.monotonic() + 5
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers), "a worker outlived the search killed outright"


def test_the_cli_refuses_more_episodes_than_it_could_run_naming_both_counts(run_capped):
    """``--trials 100000000`` drew every trial's action and made every task up front: a MemoryError traceback
    (or the machine's memory) before the first episode. With its memory capped, so the old code fails the test
    rather than the machine."""
    r = run_capped(["search", "--trials", "100000000", "--seeds", "1", "--workers", "1", "--quiet"])
    assert r.returncode == 2 and r.stderr == ("error: --trials 100000000 x --seeds 1: 100,000,000 episodes, at most "
                                              "1,000,000 (months of work on one machine; more is a typo)\n")


def test_the_cli_names_a_level_it_refuses_by_its_option(capsys):
    """``--level shadow`` said "MarketMakingEnv: level must be ...": a class the operator never named, not --level."""
    from search.__main__ import main
    assert main(["--level", "shadow", "--quiet"]) == 2
    assert capsys.readouterr().err == ("error: --level 'shadow': expected one that places orders: MicroLive, Ramping, "
                                       "Cautious, Full or Optimized\n")


def test_more_workers_than_the_cores_could_use_exits_2_naming_the_option_and_the_bound(capsys):
    """``--workers 1000`` was taken, and started a process for each episode up to it (``min(workers, tasks)``),
    each with its own memory, on a machine of a few cores."""
    import os
    from search.__main__ import main
    bound = 4 * (os.cpu_count() or 1)
    small = ["--trials", "1", "--seeds", "1", "--episode", "1m", "--step", "1m", "--quiet"]  # (the old code ran it)
    with pytest.raises(SystemExit) as e:
        main(small + ["--workers", str(bound + 1)])
    assert e.value.code == 2
    assert (f"error: argument --workers: expected at most {bound} (4 for each of this machine's {os.cpu_count() or 1} cores"
            in capsys.readouterr().err)


def test_a_search_stopped_before_its_first_episode_finished_leaves_no_folder_behind(tmp_path, signalled_inside):
    """A SIGTERM before any episode had finished left the folder made for --out (and the one above it) behind, an
    empty episodes.jsonl in it, and said ``0 of 2 episodes finished; the trials with one are ranked on those``. Now
    the empty journal and the folders made for it are removed, and the message says nothing was written. (Sent as
    the first episode starts.)"""
    r = signalled_inside("search.__main__:_attempt", ["search", "--trials", "2", "--seeds", "1", "--episode", "2m",
                                                      "--step", "1m", "--workers", "1", "--quiet", "--out",
                                                      str(tmp_path / "made" / "s")])
    assert (r.returncode, r.stderr, r.stdout) == (
        143, "interrupted (SIGTERM): none of the 2 episodes finished: nothing written\n", "")
    assert not (tmp_path / "made").exists()


def test_a_signal_while_the_results_are_written_is_held_till_they_are_whole_then_said(tmp_path, signalled_inside):
    """Once the episodes had ended, the handlers were put back: a SIGTERM while the table was printed or the files
    written killed the search unsaid (exit -15), its results.json perhaps never written. Now the signal waits for
    them (a second at most), then ends the search saying so, exit 143. The signal is sent by the search itself, just
    before results.json is written, so that it lands there and nowhere else."""
    out = tmp_path / "s"
    r = signalled_inside("search.__main__:_write_results", ["search", "--trials", "2", "--seeds", "1", "--episode", "2m",
                                                          "--step", "1m", "--workers", "1", "--quiet", "--out", str(out)])
    assert r.returncode == 143, r.stderr
    assert r.stderr.endswith("interrupted (SIGTERM) as the search ended: its results are given above, whole\n"), r.stderr
    assert "trials x 1 seeds" in r.stdout and f"results: {out / 'results.json'}" in r.stdout
    assert len(json.loads((out / "results.json").read_text())["trials"]) == 2


def test_python_m_search_says_a_signal_in_its_packages_import():
    """``python -m search`` imports the package, and with it gymnasium (a tenth of a second), before its
    ``__main__``'s first lines set the at-once handlers: a SIGTERM there killed it unsaid, a Ctrl-C was a
    traceback through gymnasium's import, exit 1. The package sets them itself when it is what ``-m`` runs, and
    only then: imported by a program (``-c`` here, or another ``-m``), it leaves that program's handlers alone."""
    import subprocess
    import sys

    probe = ("import signal, sys; sys.argv[:] = ['-m']; sys.orig_argv = [sys.executable, '-m', {name!r}]; "
             "import search; print(type(signal.getsignal(signal.SIGTERM)).__name__)")
    said = {name: subprocess.run([sys.executable, "-c", probe.format(name=name)], capture_output=True, text=True,
                                 timeout=60).stdout.strip() for name in ("search", "other")}
    assert said == {"search": "_ExitAtOnce", "other": "Handlers"}


@pytest.mark.parametrize("kw, named", [
    ({"episode_s": math.inf}, "episode_s"), ({"step_s": math.inf, "episode_s": math.inf}, "step_s"),
    ({"step_s": "300"}, "step_s"), ({"step_s": True}, "step_s"), ({"episode_s": math.nan}, "episode_s"),
    ({"inventory_penalty": math.nan}, "inventory_penalty"), ({"escalation_penalty": math.inf}, "escalation_penalty"),
    ({"escalation_penalty": -1.0}, "escalation_penalty"), ({"inventory_penalty": -1e-3}, "inventory_penalty"),
    ({"episode_s": 400 * 86400.0}, "episode_s")])
def test_the_constructor_refuses_an_episode_without_end_or_a_penalty_that_is_no_cost_naming_it(kw, named):
    # (an infinite episode_s was taken: step() never ended it; a nan penalty made every reward nan, a negative one
    # paid the agent to escalate)
    with pytest.raises(ValueError, match=f"MarketMakingEnv: .*{named}"):
        MarketMakingEnv(**kw)
    MarketMakingEnv(step_s=60, episode_s=600, inventory_penalty=0, escalation_penalty=0)  # ints and zeros are fine


@pytest.mark.parametrize("kw, named", [({"level": 5}, "level"), ({"level": None}, "level"),
                                       ({"pin_level": "no"}, "pin_level"),
                                       ({"agent_config": "my.yaml"}, "agent_config"),
                                       ({"twin_params": {}}, "twin_params")])
def test_the_constructor_refuses_an_argument_of_the_wrong_kind_naming_it(kw, named):
    # (level=5 and a config's path were AttributeErrors naming no argument; a dict for twin_params was taken, to fail
    # at reset; pin_level='no' was taken for True)
    with pytest.raises(TypeError, match=f"MarketMakingEnv: .*{named}"):
        MarketMakingEnv(**kw)


@pytest.mark.parametrize("coin", ["BTC", "ETH", "hyna:LIT", "xyz:GOLD"])
@pytest.mark.parametrize("markets", [None, {}, {"hyna:LIT": "thin"}, {"BTC": "default", "hyna:LIT": "thin"}])
def test_the_env_and_the_cli_refuse_a_coin_by_one_check_each_naming_it_in_its_own_terms(coin, markets):
    """The env's check was a copy of ``python -m agent``'s (``agent.__main__.market_problem``): both now ask
    ``twin.params.market_problem``, and each says its answer in its own terms (the env: MarketMakingEnv,
    agent_config's session.coin, twin_params; the CLI: session.coin, --params and the command that writes one)."""
    from agent.__main__ import market_problem as cli_problem
    from twin.market.synthetic import SyntheticMarketParams
    from twin.params import TwinParams, market_problem
    made = {"default": SyntheticMarketParams(), "thin": SyntheticMarketParams.thin_hip3()}
    params = None if markets is None else TwinParams(markets={c: made[m] for c, m in markets.items()})
    shared = market_problem(params or TwinParams(), coin, "twin_params" if params is not None else "the twin's "
                            "defaults", "agent_config's session.coin")
    cli = cli_problem(coin, params or TwinParams(), "p.json" if params is not None else None)
    assert (cli is None) == (shared is None)
    cfg = AgentConfig.model_validate({"session": {"coin": coin}})
    if shared is None:
        MarketMakingEnv(agent_config=cfg, twin_params=params, step_s=60.0, episode_s=120.0)
        return
    with pytest.raises(ValueError) as e:
        MarketMakingEnv(agent_config=cfg, twin_params=params, step_s=60.0, episode_s=120.0)
    said = str(e.value)
    assert said.startswith(f"MarketMakingEnv: {shared[1]}") and "twin_params" in said and "--params" not in said
    source = "--params p.json" if params is not None else "the twin's defaults"
    assert cli.startswith(shared[1].replace("agent_config's session.coin", "session.coin")
                          .replace("twin_params", source)), cli


@pytest.mark.parametrize("action, says", [
    ([5.0, 0, 0, 0, 0, 0, 0], r"inside \[-1, 1\]: glft.gamma 5.0"),
    ([0, 0, 0, 0, 0, 0, -1.5], r"inside \[-1, 1\]: reconcile.price_tolerance_ticks -1.5"),
    (np.zeros((1, 7)), r"shape \(7,\), got shape \(1, 7\)"),
])
def test_an_action_outside_the_action_space_is_refused_naming_the_coordinate_and_its_value(action, says):
    """An action outside [-1, 1]^7 is no point of the action space: it was clipped without a word (5.0 set the
    range's top as 1.0 does, so a learner whose policy drifts out of the box saw no difference and learnt nothing of
    it), and a batch of one, shape (1, 7), was taken as an action. A float's rounding at the edge is taken."""
    env = MarketMakingEnv(step_s=30.0, episode_s=60.0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=says):
        env.step(np.asarray(action, np.float64))
    assert not env.action_space.contains(np.asarray(action, np.float32))
    edge = np.ones(len(PARAMETERS)) * (1.0 + 1e-9)  # (a float64 policy's 1.0)
    assert env.step(edge)[4]["params"] == decode(np.ones(len(PARAMETERS)))



@pytest.mark.parametrize("kill", [False, True])
def test_a_step_after_the_episode_ended_is_refused_until_reset(kill):
    """Once a step returned terminated or truncated the episode is over: another step ran the twin on (after a Kill,
    up to episode_s) and returned reward 0 and the same flags, as many times as asked, so a loop that forgot to
    reset trained on an episode of zeros. It is refused, naming reset(); a reset starts the next episode."""
    cfg = AgentConfig.model_validate({"safety": {"position_orange_frac": 0.01, "position_kill_frac": 0.01}}) \
        if kill else None
    env = MarketMakingEnv(agent_config=cfg, step_s=60.0, episode_s=120.0 if not kill else 600.0)
    steps, _ = _episode(env, 0, np.ones(len(PARAMETERS), np.float32))
    now = env._session[0].env.now
    with pytest.raises(RuntimeError, match=r"after the episode ended \((terminated|truncated)\).*reset\(\)"):
        env.step(np.ones(len(PARAMETERS), np.float32))
    assert env._session[0].env.now == now  # the twin did not run on
    env.reset(seed=0)
    assert env.step(np.ones(len(PARAMETERS), np.float32))[1] == pytest.approx(steps[1][1])


@pytest.mark.parametrize("action", ["abc", "0.5" * 7, np.array(["0.5"] * 7), {"a": 1}, [1j] * 7, [[0.0] * 3, [0.0]]])
def test_an_action_that_is_not_numbers_is_refused_naming_it(action):
    """A word or a dict raised float()'s words ("could not convert string to float") naming no action, and an array
    of numbers' strings was read as the numbers: now each is refused as what it is."""
    with pytest.raises(ValueError, match=r"^an action is 7 real numbers in \[-1, 1\], got "):
        decode(action)


@pytest.mark.parametrize("options", [{"level": "MICRO_LIVE"}, "seed=1", [1]])
def test_reset_takes_no_options_and_refuses_them_naming_them(options):
    """The env takes no reset options: {"level": "MICRO_LIVE"} was dropped without a word and the episode run at
    the env's own level. None and {} (gymnasium's env checker passes {}) still reset."""
    env = MarketMakingEnv(step_s=5.0, episode_s=10.0)
    with pytest.raises(ValueError, match=r"^MarketMakingEnv.reset takes no options \(None or \{\}\), got "):
        env.reset(seed=1, options=options)
    assert env.reset(seed=1, options={})[1] == env.reset(seed=1, options=None)[1]
