"""The graduation stack inside the running agent: every throttle it computes changes what is sent.

Shadow quotes on paper only; promotions need every criterion for the whole dwell and are recorded
with their evidence; the exposure level scales size and the position limit; safety Orange+ and
drawdown demote at once.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from agent.audit.records import read_jsonl
from agent.config import AgentConfig
from agent.gateway.events import Batch, PlaceOrder
from agent.graduation import ExposureLevel as L
from agent.session import USER, build_session, run_session
from twin.faults.chaos import ChaosSchedule
from twin.instruments import default_instruments
from twin.params import TwinParams
from twin.seeding import set_position

CRITERIA = {"fills_at_level", "brier", "information_ratio", "sim_to_real_gap", "drawdown", "positive_edge_share",
            "net_edge_bps", "safety_level", "market_data", "execution_confidence", "dwell_s", "confidence"}
# the mean net edge criterion opened (net_edge_bps: the mean itself, against -100 bp): the agent's fills lose in the
# twin's default market, fee or none, and the sessions below that test promotion's workings would never be promoted
OPEN_NET_EDGE = {"min_net_edge_bps": -100.0, "net_edge_z": 0.0}
OPEN = AgentConfig.model_validate({"graduation": {"promotion": OPEN_NET_EDGE}})


def _places(commands) -> list[PlaceOrder]:
    flat = [x for c in commands for x in (c.commands if isinstance(c, Batch) else (c,))]
    return [x for x in flat if isinstance(x, PlaceOrder)]


# The seed of the default sessions below. The positive-edge share is the last dwell's (since 3 December: it was
# every fill's since the level was entered), so a session promotes later or not at all where its recent fills lose:
# `python -m agent`'s seed 0 spends its hour in Shadow; 21 of seeds 0-39 promote in the hour. On seed 23 the default
# config promotes once, as the Quickstart describes, and without the fee twice (on 2 of seeds 0-39 both hold: 23, 38).
SEED = 23


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """A `python -m agent` session (the default config, 1 h, seed SEED), with its run folder."""
    out = tmp_path_factory.mktemp("default")
    return run_session(AgentConfig(), SEED, 3600.0, out), out


@pytest.fixture(scope="module")
def open_run(tmp_path_factory):
    """The same session with the mean net edge criterion opened: the positive-edge share alone judges the edge,
    as until 6 December."""
    out = tmp_path_factory.mktemp("open")
    return run_session(OPEN, SEED, 3600.0, out), out


@pytest.fixture(scope="module")
def fee_free_run(tmp_path_factory):
    """The open session on a zero maker fee (the venue's top volume tiers): the twin's informed flow
    leaves the agent's fills favourable often enough gross of fees that the share earns it more than one
    promotion."""
    out = tmp_path_factory.mktemp("fee_free")
    inst = default_instruments()
    inst[0] = inst[0].model_copy(update={"maker_fee": 0.0})
    return run_session(OPEN, SEED, 3600.0, out, params=TwinParams(instruments=inst)), out


def test_the_default_run_is_held_at_shadow_by_its_paper_fills_net_of_the_venues_fee(default_run, open_run,
                                                                                     fee_free_run):
    """In the twin's default market the agent's fills lose on average, before the base tier's 1.5 bp fee and more
    after it. Shadow's paper fills pay the twin's fee in the evidence, as the real fills of the levels above pay it:
    the mean net edge's lower bound holds the agent at Shadow, placing nothing, and so does the share of paper fills
    that beat the fee (27% against 35%); the summary says so. Judged by the share alone (the mean opened) it stays at
    Shadow too: until 6 December the paper fills paid quoting.maker_fee_bps (0 by default), 42% of them beat that, and
    the agent was promoted to MicroLive, where its real fills, paying 1.5 bp, held it on the same share. Without the
    fee it is promoted further."""
    summary, _ = default_run
    ex = summary["exposure"]
    assert ex["promotions"] == 0 and ex["final_level"] == "SHADOW" and summary["fills"] == 0
    held = {c["name"]: c for c in ex["promotion_held_by"]}
    edge = held["net_edge_bps_lower_bound"]
    assert edge["value"] < edge["threshold"] == AgentConfig().graduation.promotion.min_net_edge_bps == 0.0
    share = held["positive_edge_share"]  # the paper fills that beat the venue's fee
    assert share["value"] < share["threshold"] == AgentConfig().graduation.promotion.min_positive_edge_share
    ex = open_run[0]["exposure"]
    assert ex["promotions"] == 0 and ex["final_level"] == "SHADOW" and open_run[0]["fills"] == 0
    assert [c["name"] for c in ex["promotion_held_by"]] == ["positive_edge_share"]
    assert fee_free_run[0]["exposure"]["promotions"] >= 2


def test_the_quickstart_stays_in_shadow_as_its_help_says(capsys):
    """`python -m agent` (seed 0, its default 2 h) is not promoted out of Shadow: its paper fills lose on average,
    and so do the real ones of the same session started at MicroLive (README's Quickstart has the figures). Its
    --help said the default duration was "long enough to see a promotion out of Shadow", which no session of the
    twin's markets showed; it now says the agent stays in Shadow, and this holds it to the session."""
    from agent.__main__ import main
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "promotion out of Shadow" not in help_text and "stays in Shadow" in help_text
    ex = run_session(AgentConfig(), 0, 7200.0)["exposure"]
    assert ex["promotions"] == 0 and ex["max_level"] == "SHADOW"
    assert "net_edge_bps_lower_bound" in {c["name"] for c in ex["promotion_held_by"]}


def test_a_run_starts_in_shadow_and_promotes_with_every_criterion_recorded(fee_free_run):
    summary, out = fee_free_run
    ex = summary["exposure"]
    assert ex["start_level"] == "SHADOW" and ex["promotions"] >= 2
    hist = json.loads((out / "level_history.json").read_text())
    promos = [t for t in hist["exposure"] if t["kind"] == "promote"]
    assert [(t["from"], t["to"]) for t in promos[:2]] == [("SHADOW", "MICRO_LIVE"), ("MICRO_LIVE", "RAMPING")]
    for t in promos:
        assert {c["name"] for c in t["criteria"]} == CRITERIA and all(c["passed"] for c in t["criteria"])
    # the dwell between promotions is served in full
    assert promos[1]["ts"] - promos[0]["ts"] >= AgentConfig().graduation.promotion.min_dwell_s
    # the summary's compact timeline shows it: Shadow first, higher levels later
    tl = summary["timeline"]["exposure"]
    assert tl[0] == "0" and max(tl) >= "2" and len(tl) == summary["timeline"]["buckets"]
    # the decision log carries each change and, per cycle, the throttles beside what they moved
    records, _ = read_jsonl(out / "decisions.jsonl")
    levels = [r for r in records if r["type"] == "level"]
    assert [r["to"] for r in levels] == [t["to"] for t in hist["exposure"]]
    cycle = next(r for r in records if r["type"] == "cycle" and r["ts"] > promos[0]["ts"] + 10)
    names = {a[0]: a[2] for a in cycle["adjustments"]}
    assert names["exposure_size_mult"] == "size" and names["exposure_limit_scale"] == "limit"
    assert cycle["inputs"]["exposure_level"] >= 1 and len(cycle["inputs"]["confidence"]) == 4


def test_a_live_first_run_at_micro_live_that_loses_its_fee_is_demoted_to_shadow_within_a_minute():
    """The live first run's shape (README: --start-level MicroLive) on the Quickstart's market and seed: at MicroLive
    the agent's fills lose 1.6 bp each after the 1.5 bp fee, and without a demotion on net edge it traded on for 48
    minutes (5,765 fills, -33.05 USDC over the two hours) until a degraded signal demoted it. Its mean net edge, past
    two standard errors, demotes it to Shadow once it has the fills promotion asks for, and there the mean holds it.
    (graduation.demote_net_edge_z: 2, as examples/live-first-run.yaml sets it; null, the default, trades on.)"""
    cfg = AgentConfig.model_validate({"graduation": {"start_level": "MICRO_LIVE", "demote_net_edge_z": 2}})
    summary = run_session(cfg, 0, 600.0)
    (demotion,) = summary["exposure"]["transitions"]
    assert demotion["to"] == "SHADOW" and demotion["trigger"] == "NET_EDGE" and demotion["ts"] < 60.0
    assert summary["fills"] < 100 and summary["exposure"]["final_level"] == "SHADOW"
    assert "net_edge_bps_lower_bound" in {c["name"] for c in summary["exposure"]["promotion_held_by"]}
    assert not run_session(AgentConfig.model_validate({"graduation": {"start_level": "MICRO_LIVE"}}), 0, 600.0)[
        "exposure"]["demotions"]


def test_shadow_places_nothing_and_fills_on_paper(fee_free_run):
    summary, out = fee_free_run
    records, _ = read_jsonl(out / "decisions.jsonl")
    first_promo = next(r["ts"] for r in records if r["type"] == "level")
    shadow_cycles = [r for r in records if r["type"] == "cycle" and r["ts"] < first_promo]
    assert shadow_cycles and all(r["note"] == "shadow" for r in shadow_cycles)
    # quotes computed (none when the safety overlay allows no side, e.g. flat at Orange), none sent
    assert sum(1 for r in shadow_cycles if r["quotes"]) > 0.8 * len(shadow_cycles)
    assert not any(c.startswith("place") for r in shadow_cycles for c in r["commands"])
    assert not [r for r in records if r["type"] == "fill" and r["ts"] < first_promo]
    assert summary["exposure"]["paper_fills"] >= AgentConfig().graduation.promotion.min_fills_at_level
    assert summary["fills"] > 0  # after promotion, real ones


def _session_commands(level: str, seconds: float = 240.0, seed: int = 4):
    cfg = AgentConfig.model_validate({"graduation": {"start_level": level, "demote_on_low_confidence": False}})
    sent: list = []
    ex, gw, core, driver = build_session(cfg, seed, command_log=sent)
    driver.start()
    ex.env.run(until=seconds)
    return cfg, core, sent


def test_micro_live_quotes_the_venue_minimum_within_a_tenth_of_the_limit():
    cfg, core, sent = _session_commands("MICRO_LIVE")
    places = _places(sent)
    assert places and core.exposure.level == L.MICRO_LIVE
    lot = 10.0 ** -5
    ratio = cfg.quoting.ladder.size_ratio ** (cfg.quoting.ladder.n_levels - 1)
    for p in places:  # a ladder on 5-10% of the base size, floored at the size worth the venue's $10 minimum
        min_sz = math.ceil(10.0 / p.px / lot - 1e-9) * lot
        assert min_sz - 1e-12 <= p.sz <= max(min_sz, 0.10 * cfg.quoting.order_size) * ratio + lot
    assert core.max_worst_case <= 0.10 * cfg.risk.max_position + 1e-12
    cfg_full, core_full, sent_full = _session_commands("FULL")
    assert max(p.sz for p in _places(sent_full)) > 5 * max(p.sz for p in places)
    assert core_full.max_worst_case > 0.10 * cfg.risk.max_position


def test_safety_orange_demotes_exposure_at_once_and_blocks_promotion():
    """A crash against the inventory of a small account: the safety ladder jumps to Orange or above
    and the exposure level falls to MicroLive in the same tick."""
    cfg = AgentConfig.model_validate({"session": {"collateral_usd": 1500.0},
                                      "safety": {"degraded_yellow": 99, "degraded_orange": 99},
                                      "graduation": {"start_level": "FULL", "demote_on_low_confidence": False,
                                                     "demote_drawdown": 1.0}})
    sched = ChaosSchedule(events=[{"kind": "price_jump", "at_s": 300.0, "fraction": -0.03}])
    ex, gw, core, driver = build_session(cfg, 1, schedule=sched)
    driver.start()
    ex.env.run(until=900.0)
    orange = next(t for t in core.safety.history if int(t.to_level) >= 2)
    demote = next(t for t in core.exposure.history if t.trigger is not None and t.trigger.name == "SAFETY_ORANGE_PLUS")
    assert demote.ts == orange.ts and demote.to_level == L.MICRO_LIVE
    assert not [t for t in core.exposure.history if t.kind == "promote"]  # never promoted while the ladder is up


def test_a_drawdown_at_a_level_demotes_two_levels_once():
    # a 0.4% drawdown trigger (0.75% as shipped), and quotes resting 200 ticks from the centre: nothing fills
    # before the jump, so the agent is flat and at Full when it comes, and the 2.5% drop runs through its bids
    # alone (0.0076 BTC bought some 2,300 above where the price lands): 0.63% of the account, past the trigger and short of
    # safety's Orange (1%), which would demote first. (Quoting at the touch, the position the quotes happen to
    # hold reaches 70% of the limit in the first minute on this seed: Orange demotes to MicroLive, from which a
    # two-level demotion has no level to go to, and the jump's loss is anywhere from nothing to several %.)
    cfg = AgentConfig.model_validate({"session": {"collateral_usd": 3000.0},
                                      "quoting": {"min_half_spread_ticks": 200.0},
                                      "graduation": {"start_level": "FULL", "demote_on_low_confidence": False,
                                                     "demote_drawdown": 0.004}})
    sched = ChaosSchedule(events=[{"kind": "price_jump", "at_s": 300.0, "fraction": -0.025},
                                  {"kind": "price_jump", "at_s": 302.0, "fraction": 0.025}])
    ex, gw, core, driver = build_session(cfg, 2, schedule=sched)
    driver.start()
    ex.env.run(until=299.9)
    assert core.tracker.position == 0.0 and core.exposure.level == L.FULL
    ex.env.run(until=400.0)
    dd = [t for t in core.exposure.history if t.trigger is not None and t.trigger.name == "DRAWDOWN"]
    assert dd and dd[0].to_level == dd[0].from_level - 2
    # the drawdown that demoted is measured afresh at the new level: the same loss does not demote again
    assert len({round(t.ts, 1) for t in dd}) == len(dd) and all(b.ts - a.ts > 1.0 for a, b in zip(dd, dd[1:]))


def test_manual_override_goes_straight_to_the_level_and_is_recorded():
    # quotes resting 200 ticks from the centre: nothing fills, so the agent is still at Cautious, flat, with its
    # ladder resting when the operator acts (quoting at the touch it held 0.035 BTC short by 30 s on this seed,
    # and safety's Orange had demoted it to MicroLive; Shadow then works such a position off with exits that rest)
    cfg = AgentConfig.model_validate({"quoting": {"min_half_spread_ticks": 200.0},
                                      "graduation": {"start_level": "CAUTIOUS"}})
    ex, gw, core, driver = build_session(cfg, 2)
    driver.start()
    ex.env.run(until=30.0)
    assert core.exposure.level == L.CAUTIOUS and core.tracker.position == 0.0 and ex.open_orders(gw.user)
    core.graduation.manual(30.0, L.SHADOW, core.equity, "operator: pause")
    ex.env.run(until=60.0)
    t = core.exposure.history.transitions[-1]
    assert (t.from_level, t.to_level, t.trigger.name, t.reason) == (L.CAUTIOUS, L.SHADOW, "MANUAL", "operator: pause")
    assert not ex.open_orders(gw.user)  # Shadow pulls what rests


def test_start_level_by_name_and_bad_names_are_refused(tmp_path):
    assert AgentConfig.model_validate({"graduation": {"start_level": "ramping"}}).graduation.start_level == L.RAMPING
    bad = tmp_path / "a.yaml"
    bad.write_text("graduation:\n  start_level: SIDEWAYS\n")
    with pytest.raises(ValueError) as e:
        AgentConfig.load(bad)
    assert "graduation.start_level" in str(e.value) and "SIDEWAYS" in str(e.value)


def test_a_level_spelt_as_the_live_cli_spells_it_loads_and_a_bad_one_is_refused_with_the_names(tmp_path):
    """`start_level: MicroLive`, as --start-level and the README write it, was refused with "Input should be 0, 1,
    2, 3, 4 or 5": no name offered, though names are what the shipped config shows."""
    for name in ("MicroLive", "micro-live", "MICRO_LIVE", 1):
        cfg = AgentConfig.model_validate({"graduation": {"start_level": name, "ceiling": "Full"}})
        assert cfg.graduation.start_level == L.MICRO_LIVE and cfg.graduation.ceiling == L.FULL
    bad = tmp_path / "a.yaml"
    bad.write_text("graduation:\n  ceiling: Micro\n")
    with pytest.raises(ValueError) as e:
        AgentConfig.load(bad)
    assert "graduation.ceiling" in str(e.value) and "'Micro'" in str(e.value) and "MICRO_LIVE" in str(e.value)


def test_a_scripted_drawdown_walks_the_safety_ladder_up_then_down_one_level_at_a_time():
    """A 7% gap down that recovers a second later, against the inventory of a small account: the
    drawdown jumps the ladder straight to Red (escalation may skip levels), exposure falls to
    MicroLive in the same tick; once equity is back, the ladder comes down one level at a time, each
    after its dwell and a clean recovery window."""
    cfg = AgentConfig.model_validate({"session": {"collateral_usd": 3000.0},
                                      "safety": {"degraded_yellow": 99, "degraded_orange": 99,  # drawdown only
                                                 "stressed_regime_yellow": None},
                                      "quoting": {"min_half_spread_ticks": 200.0},
                                      "graduation": {"start_level": "FULL", "demote_on_low_confidence": False}})
    # the inventory the gap goes against is set: 0.006 BTC long from the start, and quotes resting 200 ticks from
    # the centre, which neither fill nor work it off before the gap. The drop costs the long 7% of the price, and
    # the bids it runs through (0.0076 BTC at Full, 200 ticks under the mark) some 6,800 a coin: 3.2% of the
    # account, past Red's 2% and short of Kill's 5% with room either side; the rise a second later marks it all
    # back up. (Quoting at the touch, the inventory held at 120 s is the market's path, 0.036 short to 0.048 long
    # over nine seeds, and a 7% gap then cost anything from 1.5% to 12%, or safety's position rule had demoted
    # the agent before it came.)
    sched = ChaosSchedule(events=[{"kind": "price_jump", "at_s": 120.0, "fraction": -0.07},
                                  {"kind": "price_jump", "at_s": 121.0, "fraction": 0.0753}])
    # (seed 2: on 16 of seeds 0-19, quoting on the bbo feed's touch in the second the price is down, Red's
    # reduce-only exits rest at the bottom and fill there, and the loss they realise, 23-64 USDC, holds Yellow,
    # Orange or Red after it; on half of seeds 0-9 it did with a book push alone)
    ex, gw, core, driver = build_session(cfg, 2, schedule=sched)
    ex.env.run(until=1.0)  # a mark to enter at
    set_position(ex, USER, cfg.session.coin, 0.006)
    driver.start()
    ex.env.run(until=119.9)
    assert core.tracker.position == 0.006 and not core.safety.history
    ex.env.run(until=1000.0)
    hist = list(core.safety.history)
    levels = [int(t.to_level) for t in hist]
    assert levels == [3, 2, 1, 0]  # Green → Red at once, then Orange, Yellow, Green
    assert hist[0].reason.startswith("drawdown")
    dwell = {3: cfg.safety.dwell_red_s, 2: cfg.safety.dwell_orange_s, 1: cfg.safety.dwell_yellow_s}
    for prev, t in zip(hist, hist[1:]):
        assert int(t.from_level) - int(t.to_level) == 1 and t.ts - prev.ts >= dwell[int(t.from_level)]
    demote = next(t for t in core.exposure.history if t.trigger is not None)
    assert demote.ts == hist[0].ts and demote.to_level <= L.MICRO_LIVE


def test_a_signal_made_useless_mid_run_is_degraded_then_retired_and_weighs_nothing(tmp_path):
    """The twin's informed flow, the trade-flow signal's information, is switched off at 30 min: its
    scorecard goes from healthy to degraded to retired, its weight in the blend to zero, and the
    decision records show it moving the quotes by nothing."""
    sched = ChaosSchedule(events=[{"kind": "market_param", "at_s": 1800.0, "name": "informed_share", "value": 0.0}])
    records: list = []
    # (seed 10, 110 min. Until 6 December seed 7 and 80 min: the MI criterion then judged a period against a baseline
    # biased up, and also retired trade_flow within 80 min on 2 of seeds 0-9 where the informed flow stayed on, 22% of
    # their periods bad; now 2% bad there, none retired. With the flow off the signal is useless, but its information
    # ratio over 500 outcomes is 0.01 ± 0.045, over retire_ir (0.02) in about half its periods, and its MI against the
    # ~360 outcomes before the switch is a ~2-SE sign at best: 7 of seeds 0-9 see a bad period in the 50 min after,
    # one is retired; of seeds 0-19 only seed 10 shows the whole story by 110 min: the wiring is what this checks,
    # at the retirement rule until 6 December, 20 bad periods in a row: the shipped one, bad over 70% of 1,500
    # outcomes, takes more than the 80 min a signal useless from 30 min has, at one outcome per 5 s)
    cfg = AgentConfig.model_validate({"validation": {"scorecard": {"retire_within_outcomes": 0}}})
    ex, gw, core, driver = build_session(cfg, 10, schedule=sched, record_sink=records.append)
    driver.start()
    seen = []
    for t in range(300, 6601, 300):
        ex.env.run(until=float(t))
        card = core.validation.cards["trade_flow"]
        seen.append((t, card.verdict.value, core.signals.weights["trade_flow"]))
    before = [v for t, v, w in seen if t <= 1800]
    after = [v for t, v, w in seen if t > 1800]
    assert "healthy" in before  # it carried information while the informed flow was there
    assert after[-1] == "retired" and "degraded" in after[:after.index("retired")]
    assert seen[-1][2] == 0.0
    last = [r for r in records if r["type"] == "cycle"][-1]
    assert {s["name"]: s["weight"] for s in last["signals"]}["trade_flow"] == 0.0
    assert dict((a[0], a[1]) for a in last["adjustments"])["trade_flow"] == 0.0


_kinds = st.sampled_from(["book", "trade", "timer", "fill", "ack", "lost", "restored", "snapshot"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_kinds, st.floats(0.5, 1.5), st.floats(-0.02, 0.02), st.integers(0, 30)),
                min_size=1, max_size=60))
def test_after_kill_no_risk_increasing_command_is_ever_emitted(steps):
    """Whatever follows a Kill — books, trades, fills, acks, reconnections, snapshots holding a
    position, timers — the core sends cancels and at most a reduce-only exit, never a new risk."""
    from agent.core import AgentCore
    from agent.gateway.events import (
        AccountSnapshot, BookUpdated, ConnectionLost, ConnectionRestored, FillReceived, ModifyOrder,
        OrderAcknowledged, Side, Timer, TradeObserved,
    )
    cfg = AgentConfig.model_validate({"session": {"collateral_usd": 1000.0},
                                      "graduation": {"start_level": "FULL"}})
    core = AgentCore(cfg, np.random.default_rng(0), tick=1.0, sz_decimals=5)
    book = lambda ts, mid: BookUpdated(ts, "BTC", ((mid - 0.5, 1.0),), ((mid + 0.5, 1.0),))  # noqa: E731
    core.handle(book(0.0, 100_000.5))
    core.handle(AccountSnapshot(0.1, 0.0, 0.0, 1000.0, 0.0, ()))
    core.handle(FillReceived(0.2, "x", 1, 100_000.0, 0.01, Side.BUY, 0.0, True, 1))
    core.handle(book(0.3, 90_000.5))  # 10% down on a $1000 account: Kill at the next tick
    core.handle(Timer(0.5))
    assert int(core.safety.level) == 4
    ts, mid, tid = 0.5, 90_000.5, 1
    out = []
    for kind, dt, move, n in steps:
        ts += dt
        mid *= 1.0 + move
        if kind == "book":
            ev = book(ts, round(mid) + 0.5)
        elif kind == "trade":
            ev = TradeObserved(ts, "BTC", mid, 0.01, Side.BUY if n % 2 else Side.SELL)
        elif kind == "fill":
            tid += 1
            ev = FillReceived(ts, f"c{n}", n, mid, 0.001, Side.BUY if n % 2 else Side.SELL, 0.0, True, tid)
        elif kind == "ack":
            ev = OrderAcknowledged(ts, f"c{n}", n, True)
        elif kind == "lost":
            ev = ConnectionLost(ts, "ws")
        elif kind == "restored":
            ev = ConnectionRestored(ts, "ws")
        elif kind == "snapshot":
            ev = AccountSnapshot(ts, (n - 15) / 1000.0, mid, 900.0, 0.0, ())
        else:
            ev = Timer(ts)
        out += core.handle(ev)
    flat = [x for c in out for x in (c.commands if isinstance(c, Batch) else (c,))]
    assert not [x for x in flat if isinstance(x, PlaceOrder) and not x.reduce_only]
    assert not [x for x in flat if isinstance(x, ModifyOrder) and not x.reduce_only]


def test_calibration_slope_and_edge_bias_correct_the_quoted_edge():
    """A proven signal with no skill (slope 0) moves nothing; one that promised 2 bps more than it
    delivered widens the half spread by its weight × 2 bps. Both show in the decision record."""
    import dataclasses

    from agent.core import AgentCore
    from agent.gateway.events import AccountSnapshot, BookUpdated, Timer

    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}})
    core = AgentCore(cfg, np.random.default_rng(0), tick=1.0, sz_decimals=5)
    core.handle(BookUpdated(0.0, "BTC", ((100_000.0, 5.0),), ((100_001.0, 0.1),)))  # imbalance: p_up > 0.5
    core.handle(AccountSnapshot(0.1, 0.0, 0.0, 1e5, 0.0, ()))
    card = core.validation.cards["book_imbalance"]
    card._metrics = dataclasses.replace(card._metrics, evaluations=1, proven=True, calibration_slope=0.0,
                                        edge_bias_bps=2.0)
    core.handle(Timer(0.5))
    rec = core.drain_records()[-1]
    adj = {a[0]: a[1] for a in rec["adjustments"]}
    w = {s["name"]: s["weight"] for s in rec["signals"]}["book_imbalance"]
    assert w > 0 and adj["book_imbalance"] == 0.0
    assert adj["edge_bias_widen"] == pytest.approx(w * 2.0 * 1e-4 * 100_000.5)
    # and without the correction the same book moves the center
    core2 = AgentCore(cfg, np.random.default_rng(0), tick=1.0, sz_decimals=5)
    core2.handle(BookUpdated(0.0, "BTC", ((100_000.0, 5.0),), ((100_001.0, 0.1),)))
    core2.handle(AccountSnapshot(0.1, 0.0, 0.0, 1e5, 0.0, ()))
    core2.handle(Timer(0.5))
    adj2 = {a[0]: a[1] for a in core2.drain_records()[-1]["adjustments"]}
    assert adj2["book_imbalance"] != 0.0 and "edge_bias_widen" not in adj2


def test_an_unproven_signal_is_not_corrected_by_the_metrics_of_its_first_outcomes():
    """Before ``min_outcomes`` (100) the card's evaluations are not counted: its calibration slope and edge bias from
    20 outcomes are noise, and the signal is unproven (warm-up weight). Its shift stands and the spread is not
    widened: only a proven signal is corrected (README). Those 20, anti-calibrated and overconfident, had read slope
    < 0 and took its shift to 0, and widened the spread by its edge bias."""
    from agent.core import AgentCore
    from agent.gateway.events import AccountSnapshot, BookUpdated, Timer

    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}})
    cores = [AgentCore(cfg, np.random.default_rng(0), tick=1.0, sz_decimals=5) for _ in range(2)]
    for core in cores:
        core.handle(BookUpdated(0.0, "BTC", ((100_000.0, 5.0),), ((100_001.0, 0.1),)))  # imbalance: p_up > 0.5
        core.handle(AccountSnapshot(0.1, 0.0, 0.0, 1e5, 0.0, ()))
    card = cores[0].validation.cards["book_imbalance"]
    for i in range(cfg.validation.scorecard.evaluate_every_n_outcomes):  # confident calls, each one wrong
        p = 0.9 if i % 2 else 0.6
        card.add_outcome(p, False, -3.0)
        card.add_outcome(1.0 - p, True, 3.0)
    card.evaluate(0.2)
    m = card.metrics()
    assert m.evaluations == 1 and not card.proven and m.calibration_slope < 0.0 and m.edge_bias_bps > 0.0
    assert card.weight() == cfg.validation.scorecard.warmup_weight
    adj = []
    for core in cores:
        core.handle(Timer(0.5))
        adj.append({a[0]: a[1] for a in core.drain_records()[-1]["adjustments"]})
    assert adj[0]["book_imbalance"] != 0.0 and adj[0]["book_imbalance"] == adj[1]["book_imbalance"]
    assert "edge_bias_widen" not in adj[0]


def test_max_level_counts_the_level_the_run_started_at():
    """A run started at FULL and demoted to CAUTIOUS held FULL: its summary's max_level says FULL (the
    transitions alone say CAUTIOUS, the highest level any of them went to)."""
    from agent.core import AgentCore
    from agent.graduation.exposure import LevelTransition
    from agent.report import exposure_summary

    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}})
    core = AgentCore(cfg, np.random.default_rng(0), tick=1.0, sz_decimals=5)
    core.graduation.controller.history.append(LevelTransition(10.0, L.FULL, L.CAUTIOUS, "demote", math.nan))
    ex = exposure_summary(core)
    assert [t["to"] for t in ex["transitions"]] == ["CAUTIOUS"]
    assert ex["start_level"] == "FULL" and ex["max_level"] == "FULL"


def test_the_summarys_paper_position_carries_no_floating_point_residue():
    """Shadow's paper position is a sum of paper fills in floating point: 0.1 then 0.2 bought read
    0.30000000000000004 in summary.json's exposure.paper_position (0.010799999999999893 seen on ``python -m agent``),
    where the position block rounds its coin amounts (coin_amounts). Rounded as they are, it says 0.3; a share of
    a lot an at-price fill model filled is kept (rounded to the lot, it would read a position the paper fills do not
    hold). Failed before the rounding."""
    from agent.core import AgentCore
    from agent.quoting.ladder import Quote
    from agent.report import exposure_summary

    core = AgentCore(AgentConfig(), np.random.default_rng(0), tick=1.0, sz_decimals=5)
    paper = core.graduation.paper
    for i, sz in enumerate((0.1, 0.2)):
        paper.set_quotes([Quote(1, 100_000.0, sz)], ts=float(i))
        assert paper.on_trade(i + 0.5, 99_999.0, 1.0, -1, made_ts=i + 0.5) == 1
    assert paper.position != 0.3  # the residue, in the paper book itself
    assert exposure_summary(core)["paper_position"] == 0.3
    paper.position = 0.000015  # half of a 0.00003 lot at the price (shadow.at_price_share 0.5)
    assert exposure_summary(core)["paper_position"] == 0.000015


def test_positive_edge_z_holds_back_a_promotion_the_point_share_lets_through_by_chance():
    """``fees_exceed_spread`` on seed 34, the one of seeds 0-69 it does not hold: the agent's fills lose their fee
    more often than not, yet enough beat it over the dwell (the share over 0.35) that it is promoted to Ramping at
    825.5 s. With ``graduation.promotion.positive_edge_z`` 1 the governor holds the share's lower bound over the fills
    it was seen on, and the promotion waits until that is over 0.35 too: 30 s later (855.5 s; 820.5 and 850.5 s
    while the arrival fit's k was 11-23% high). (Seed 39 was this
    one, held at MicroLive for the whole run by the bound, until an unproven signal's shift stopped being scaled by
    the calibration slope of its first outcomes; seed 67 before the share was taken over the last dwell's fills.)
    The mean net edge criterion (since 6 December) holds seed 34 at MicroLive as well: it is opened here, so that
    the share alone judges the edge."""
    from pathlib import Path

    from scenarios.runner import run_scenario
    from scenarios.schema import load_scenario
    sc = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "fees_exceed_spread.yaml")
    assert run_scenario(sc, 34).ok  # the mean net edge holds it

    def with_promotion(**update):
        promotion = sc.agent.graduation.promotion.model_copy(update={**OPEN_NET_EDGE, **update})
        graduation = sc.agent.graduation.model_copy(update={"promotion": promotion})
        return sc.model_copy(update={"agent": sc.agent.model_copy(update={"graduation": graduation})})
    point = run_scenario(with_promotion(), 34)
    assert point.broke("exposure_level_at_most") is not None
    bound = run_scenario(with_promotion(positive_edge_z=1.0), 34)
    (p,), (b,) = point.summary["exposure"]["transitions"], bound.summary["exposure"]["transitions"]
    assert p["to"] == b["to"] == "RAMPING" and p["ts"] == 825.5 and b["ts"] >= p["ts"] + 25.0
    # what holds it at the end, at Ramping: the bound (a number, taken over the dwell's resolved fills, under 0.35)
    held = {c["name"]: c for c in bound.summary["exposure"]["promotion_held_by"]}
    assert 0.0 < held["positive_edge_share_lower_bound"]["value"] < 0.35


def test_no_promotion_is_earned_while_the_agent_is_blind_to_the_market():
    """A dwell runs on evidence the agent sees: with the socket down (or the book stale, or the account not yet
    reconciled) nothing is observed, and a sample taken then is no evidence that every criterion held. On this seed
    and lenient criteria the dwell at Ramping ran out 25 s into a 40 s outage and the agent was promoted to
    Cautious blind (the reconnect's own penalty demoted it again at once)."""
    cfg = AgentConfig.model_validate({"graduation": {"start_level": "MICRO_LIVE", "min_outcomes": 1, "promotion": {
        "min_fills_at_level": 0, "min_dwell_s": 120, "max_brier": 1.0, "min_information_ratio": -1e9,
        "require_sim_to_real_gap": False, "min_positive_edge_share": 0.0, "max_drawdown": 1.0, **OPEN_NET_EDGE}}})
    sched = ChaosSchedule(events=[{"kind": "disconnect", "at_s": 290.0, "duration_s": 40.0}])
    ex, gw, core, driver = build_session(cfg, 3, schedule=sched)
    driver.start()
    ex.env.run(until=289.0)
    assert core.exposure.level == L.RAMPING  # promoted once on what it saw (135.5 s), its next dwell running
    ex.env.run(until=310.0)
    assert not core.connected
    assert {c.name: c.passed for c in core.exposure.last_checks}.get("market_data") is False  # what holds it, said
    ex.env.run(until=400.0)
    blind = [t for t in core.exposure.history if t.kind == "promote" and 290.0 <= t.ts <= 335.0]
    assert not blind, [(t.ts, t.to_level.name) for t in blind]
    promoted = [t for t in core.exposure.history if t.kind == "promote"]
    assert promoted and all({c.name: c.passed for c in t.criteria}["market_data"] for t in promoted)


def test_a_fill_made_in_an_outage_is_no_positive_edge_evidence_measured_from_its_delivery():
    """A fill made while the socket was down comes at the reconnect: measured from then, its markout is of a longer
    horizon, and after a jump in the outage mostly the jump. The ledger times it from when it was made and drops it
    (agent.markouts: a mid more than MAX_LATE_S past its due time); graduation timed it from its delivery and counted
    it in the positive-edge share that promotes (seed 1: two such fills)."""
    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL", "demote_on_low_confidence": False}})
    sched = ChaosSchedule(events=[{"kind": "disconnect", "at_s": 100.0, "duration_s": 30.0},
                                  {"kind": "price_jump", "at_s": 101.0, "fraction": -0.004}])
    ex, gw, core, driver = build_session(cfg, 1, schedule=sched)
    fills = []
    handle = core.handle

    def watched(ev):
        if type(ev).__name__ == "FillReceived":
            fills.append((ev.ts, core._made_at(ev.ts, ev.tid)))
        return handle(ev)
    core.handle = watched
    driver.start()
    ex.env.run(until=200.0)
    assert any(100.0 < made < 130.0 and ts >= 130.0 for ts, made in fills)  # made in the outage, delivered after it
    ledger_10s = next(q for q in core.ledger.markouts if q.horizon_s == cfg.graduation.markout_horizon_s)
    assert core.graduation.markouts.resolved == ledger_10s.resolved  # the same fills, on the same horizon


def test_each_scorecard_evaluation_writes_its_evidence_to_the_decision_log():
    """A signal's weight in the blend and the degraded models the safety ladder counts come from its scorecard's
    evaluations: each writes a scorecard record (name, verdict, weight, the metrics), so the log says why (README:
    the run folder's record types). Before, no metric or verdict reached the log or the summary at all."""
    from agent.audit.inspect import describe

    cfg = AgentConfig.model_validate({"graduation": {"start_level": "FULL"}})
    records = []
    ex, _, core, driver = build_session(cfg, 1, record_sink=records.append)
    driver.start()
    ex.env.run(until=700.0)
    cards = [r for r in records if r["type"] == "scorecard"]
    evaluations = sum(c.metrics().evaluations for c in core.validation.cards.values())
    assert evaluations >= 9 and len(cards) == evaluations  # one record per evaluation, each card's
    assert {r["name"] for r in cards} == set(core.validation.cards)
    last = {r["name"]: r for r in cards}
    for name, card in core.validation.cards.items():
        now = card.record()  # (no evaluation since its last record: the same, but for its pending forecasts)
        assert repr({k: v for k, v in last[name].items() if k not in ("type", "pending")}) == \
            repr({k: v for k, v in now.items() if k != "pending"})
        assert last[name]["proven"] and last[name]["weight"] == core.signals.weights[name] / \
            (cfg.quoting.signals.weights or {}).get(name, 1.0)
    assert any(not r["proven"] for r in cards)  # (the unproven evaluations too, marked so)
    assert "Brier" in describe(cards[-1], False) and cards[-1]["name"] in describe(cards[-1], False)
