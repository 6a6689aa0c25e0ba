import math
from typing import NamedTuple

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from agent.gateway.events import Side
from agent.execution.reconcile import DesiredQuote
from agent.safety import (
    ErrorBurstCounter, RiskBudget, RiskBudgetConfig, SafetyConfig, SafetyEscalator, SafetyInputs, SafetyLevel,
    SafetyOverlay, apply_to_quotes, overlaid_quotes, overlay_for, to_venue_minimum,
)

G, Y, O, R, K = SafetyLevel
CFG = SafetyConfig()
DWELL = {Y: CFG.dwell_yellow_s, O: CFG.dwell_orange_s, R: CFG.dwell_red_s}


def inputs(ts: float, level: SafetyLevel = G, **kw) -> SafetyInputs:
    """Inputs whose raw level is ``level`` (via one representative rule)."""
    base = dict(ts=ts, equity=100_000.0, start_equity=100_000.0, position=0.0, position_limit=1.0)
    if level == Y:
        base["degraded_models"] = 1
    elif level == O:
        base["position"] = 0.8
    elif level == R:
        base["exchange_health"] = 0.1
    elif level == K:
        base["data_age_s"] = 1e4
    base.update(kw)
    return SafetyInputs(**base)


# ----------------------------------------------------------------------------- escalator


def test_rules_map_to_levels():
    esc = SafetyEscalator(CFG)
    cases = [
        (dict(equity=99_400.0), Y), (dict(equity=98_900.0), O), (dict(equity=97_900.0), R),
        (dict(equity=94_000.0), K), (dict(degraded_models=2), O), (dict(reconnect_ts=-10.0), Y),
        (dict(reconnect_ts=-100.0), G), (dict(position=-0.75), O), (dict(position=1.6), K),
        (dict(error_burst_count=10), R), (dict(exchange_health=0.3), R), (dict(data_age_s=61.0), K),
        (dict(data_age_s=math.inf), G), ({}, G),
    ]
    for kw, want in cases:
        hits = esc.rule_hits(inputs(0.0, **kw))
        assert max((h.level for h in hits), default=G) == want, kw


def test_drawdown_from_peak():
    esc = SafetyEscalator(CFG)
    esc.update(inputs(0.0, equity=102_000.0))
    # 102k → 101.4k is a 0.6% (of start) drawdown from the peak though still above the start
    assert esc.update(inputs(1.0, equity=101_400.0)) == Y
    assert "drawdown" in esc.history[-1].reason and "YELLOW" in esc.history[-1].reason
    start_cfg = SafetyConfig(drawdown_from="start")
    esc2 = SafetyEscalator(start_cfg)
    esc2.update(inputs(0.0, equity=102_000.0))
    assert esc2.update(inputs(1.0, equity=101_400.0)) == G


def test_escalation_is_immediate_and_skips_levels():
    esc = SafetyEscalator(CFG)
    assert esc.update(inputs(0.0)) == G
    assert esc.update(inputs(1.0, R)) == R
    assert [(t.from_level, t.to_level) for t in esc.history] == [(G, R)]
    assert "exchange_health" in esc.history[0].reason
    assert esc.update(inputs(2.0, R)) == R and len(esc.history) == 1  # no second escalation while it holds


def test_deescalation_one_step_after_dwell_and_recovery_window():
    esc = SafetyEscalator(CFG)
    esc.update(inputs(0.0, O))
    # conditions clear at once, but Orange's dwell (60 s) holds it
    for t in range(1, 60):
        assert esc.update(inputs(float(t))) == O
    assert esc.update(inputs(60.0)) == Y  # dwell 60 met, clear since t=1 (59 s ≥ 30 s window)
    # Yellow now needs its own 30 s dwell; the evidence window is already satisfied
    assert esc.update(inputs(89.0)) == Y
    assert esc.update(inputs(90.0)) == G


def test_recovery_requires_an_unbroken_window():
    cfg = SafetyConfig(dwell_yellow_s=0.0, recovery_window_s=30.0)
    esc = SafetyEscalator(cfg)
    esc.update(inputs(0.0, Y))
    esc.update(inputs(10.0))         # clear from 10
    assert esc.update(inputs(35.0)) == Y
    esc.update(inputs(36.0, Y))      # a relapse: the window restarts
    esc.update(inputs(37.0))         # clear from 37
    assert esc.update(inputs(66.0)) == Y
    assert esc.update(inputs(67.0)) == G
    assert "recovered" in esc.history[-1].reason


def test_kill_latches_until_manual_reset():
    esc = SafetyEscalator(CFG)
    assert esc.update(inputs(0.0, K)) == K
    assert esc.safety_confidence == 0.0
    for t in range(1, 2000, 50):
        assert esc.update(inputs(float(t))) == K
    assert esc.manual_reset(2000.0) == R
    assert esc.history[-1].reason == "manual reset"
    assert esc.update(inputs(2001.0)) == R  # Red's dwell still applies after a reset
    assert esc.update(inputs(2400.0)) == O
    with pytest.raises(ValueError):
        esc.manual_reset(2500.0, to=K)
    assert esc.manual_reset(2500.0) == O  # no-op when not killed


@pytest.mark.parametrize("drawdown_from", ["peak", "start"])
def test_a_reset_that_rebases_restarts_the_drawdown_from_the_next_equity(drawdown_from):
    """An operator resuming after a loss's Kill: the peak was forgotten, then seeded again at the starting
    equity, and the next update killed again at the same equity."""
    esc = SafetyEscalator(SafetyConfig(drawdown_from=drawdown_from))
    assert esc.update(inputs(0.0, equity=94_000.0)) == K  # 6% down
    esc.manual_reset(10.0, rebase_peak=True)
    assert esc.update(inputs(11.0, equity=94_000.0)) == R  # from 94,000 now: no drawdown
    assert esc.update(inputs(12.0, equity=93_600.0)).value < K.value  # 0.4% of the start below it: not a Kill
    assert esc.update(inputs(13.0, equity=88_500.0)) == K  # 5.5% of the start below the new base
    esc.manual_reset(20.0)  # without rebasing: the old reference stands, and the loss kills again
    assert esc.update(inputs(21.0, equity=88_500.0)) == K


def test_confidence_drops_with_level_and_recent_escalation():
    esc = SafetyEscalator(CFG)
    esc.update(inputs(0.0))
    assert esc.safety_confidence == 1.0
    esc.update(inputs(1.0, Y))
    just = esc.safety_confidence
    assert just == pytest.approx(0.7 * 0.5)
    esc.update(inputs(151.0, Y))
    assert just < esc.safety_confidence < 0.7
    esc.update(inputs(400.0, Y))
    assert esc.safety_confidence == pytest.approx(0.7)


def test_config_errors_name_the_field():
    with pytest.raises(ValidationError, match="drawdown"):
        SafetyConfig(drawdown_orange=0.1)
    with pytest.raises(ValidationError):
        SafetyConfig(unknown=1)


def test_error_burst_counter_window():
    c = ErrorBurstCounter(10.0)
    c.note(0.0, 3)
    c.note(5.0)
    assert c.count(5.0) == 4
    assert c.count(10.0) == 1
    assert c.count(15.1) == 0


@given(st.sampled_from([1.0, 10.0]), st.lists(st.tuples(st.integers(0, 6), st.integers(0, 3)), max_size=40))
def test_the_error_burst_count_is_the_errors_noted_in_the_window(window_s, steps):
    """``count`` answers an empty window without working out its start (most ticks): it is the number of errors
    noted in (ts - window, ts], whatever the ticks between."""
    c = ErrorBurstCounter(window_s)
    ts, noted = 0.0, []
    for dt, n in steps:
        ts += float(dt)  # (whole seconds: an error exactly a window old comes up)
        c.note(ts, n)
        noted += [ts] * n
        assert c.count(ts) == sum(1 for t in noted if t > ts - window_s)


steps = st.lists(st.tuples(st.floats(0.01, 120.0), st.sampled_from(list(SafetyLevel))), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_ladder_properties(seq):
    cfg = SafetyConfig()
    esc = SafetyEscalator(cfg)
    ts, entered, prev = 0.0, -math.inf, G
    clear_since: dict[int, float] = {}
    for dt, raw in seq:
        ts += dt
        for lv in range(1, 5):
            if raw >= lv:
                clear_since.pop(lv, None)
            else:
                clear_since.setdefault(lv, ts)
        lvl = esc.update(inputs(ts, raw))
        assert esc.raw_level == raw
        if prev == K:
            assert lvl == K  # latched
        elif raw > prev:
            assert lvl == raw  # immediate, may skip
        elif lvl < prev:
            assert lvl == prev - 1  # one level at a time
            assert ts - entered >= DWELL[prev]  # after its dwell
            assert ts - clear_since[prev] >= cfg.recovery_window_s  # and an unbroken recovery window
        else:
            assert lvl == prev
        assert 0.0 <= esc.safety_confidence <= cfg.level_confidence[lvl]
        if lvl != prev:
            entered = ts
        prev = lvl
    assert all(t.from_level != t.to_level for t in esc.history)


def _rule_hits_plain(esc: SafetyEscalator, inp: SafetyInputs) -> list:
    """``SafetyEscalator.rule_hits`` as first written (each rule's higher threshold first, the config read as it
    is): what the one that runs every tick must give."""
    from agent.safety.escalator import RuleHit
    c = esc.cfg
    hits = []
    if inp.start_equity > 0.0 and inp.equity == inp.equity:
        if c.drawdown_from == "peak" and esc.peak_equity == esc.peak_equity:
            ref = esc.peak_equity
        else:
            ref = esc.base_equity if esc.base_equity == esc.base_equity else inp.start_equity
        dd = (ref - inp.equity) / inp.start_equity
        for lvl, thr in ((K, c.drawdown_kill), (R, c.drawdown_red), (O, c.drawdown_orange), (Y, c.drawdown_yellow)):
            if dd >= thr:
                hits.append(RuleHit(lvl, "drawdown", dd, "≥", thr))
                break
    n = inp.degraded_models
    if n >= c.degraded_orange:
        hits.append(RuleHit(O, "degraded_models", n, "≥", c.degraded_orange))
    elif n >= c.degraded_yellow:
        hits.append(RuleHit(Y, "degraded_models", n, "≥", c.degraded_yellow))
    since = inp.ts - inp.reconnect_ts
    if since <= c.reconnect_window_s:
        hits.append(RuleHit(Y, "reconnect_age_s", since, "≤", c.reconnect_window_s))
    if inp.position_limit > 0.0:
        frac = abs(inp.position) / inp.position_limit
        if frac > c.position_kill_frac:
            hits.append(RuleHit(K, "position_frac", frac, ">", c.position_kill_frac))
        elif frac > c.position_orange_frac:
            hits.append(RuleHit(O, "position_frac", frac, ">", c.position_orange_frac))
    if inp.error_burst_count >= c.cascade_errors:
        hits.append(RuleHit(R, "error_burst", inp.error_burst_count, "≥", c.cascade_errors))
    if inp.exchange_health <= c.health_critical:
        hits.append(RuleHit(R, "exchange_health", inp.exchange_health, "≤", c.health_critical))
    if c.stressed_regime_yellow is not None and inp.p_stressed >= c.stressed_regime_yellow:
        hits.append(RuleHit(Y, "p_stressed", inp.p_stressed, "≥", c.stressed_regime_yellow))
    if inp.data_age_s > c.stale_kill_s and math.isfinite(inp.data_age_s):
        hits.append(RuleHit(K, "data_age_s", inp.data_age_s, ">", c.stale_kill_s))
    return hits


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3), st.integers(0, 2), st.sampled_from([0.25, 0.5, 0.7]), st.sampled_from([0.0, 0.25, 0.8]),
       st.sampled_from([None, 0.5, 0.95, 1.0]), st.sampled_from(["peak", "start"]),
       st.lists(st.tuples(st.floats(97_000.0, 101_000.0), st.integers(0, 6),
                          st.sampled_from([0.0, 0.25, 0.5, 0.7, 0.95, 1.05, 1.5]) | st.floats(-2.0, 2.0),
                          st.sampled_from([0.0, 1.0, -1.0]), st.sampled_from([0.0, 0.5, 0.95, 1.0]) | st.floats(0, 1),
                          st.sampled_from([-math.inf, -30.0, -60.0, -90.0])), min_size=1, max_size=20))
def test_the_rules_as_the_tick_checks_them_are_the_plain_rules(dy, d_extra, orange, kill_extra, stressed, dd_from,
                                                               ticks):
    """Every tick checks each two-threshold rule on its lower threshold first (the config keeps them ordered) and
    a disabled stressed-regime rule as a threshold of nan: the hits, in order, are those of the rules as first
    written, at the thresholds themselves too."""
    cfg = SafetyConfig(degraded_yellow=dy, degraded_orange=dy + d_extra, position_orange_frac=orange,
                       position_kill_frac=orange + kill_extra, stressed_regime_yellow=stressed, drawdown_from=dd_from)
    esc = SafetyEscalator(cfg)
    for i, (equity, n, pos, limit, p, reconnect) in enumerate(ticks):
        inp = SafetyInputs(float(i), equity, 100_000.0, pos, limit, n, reconnect, 0, 1.0, 0.0, p)
        assert esc.rule_hits(inp) == _rule_hits_plain(esc, inp)
        esc.update(inp)  # (the peak, and Kill's latch, move on)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([1.0, 30.0, 300.0]), st.floats(0.0, 1.0),
       st.lists(st.tuples(st.integers(1, 400), st.sampled_from([G, G, Y, O, R])), min_size=1, max_size=40))
def test_the_confidence_after_each_update_is_the_plain_computation(decay_s, penalty, seq):
    """``safety_confidence`` reads the confidence straight from the level once the last escalation's cut has faded,
    and works the fade out itself before that, from the config's values read once: after every update it is the
    confidence computed plainly from the config (``_confidence_plain``), at the fade's end to the second too (whole
    seconds)."""
    esc = SafetyEscalator(SafetyConfig(escalation_penalty_decay_s=decay_s, escalation_penalty=penalty))
    ts = 0.0
    for dt, raw in seq:
        ts += dt
        esc.update(inputs(ts, raw))
        assert esc.safety_confidence == _confidence_plain(esc, ts)


def _confidence_plain(esc: SafetyEscalator, ts: float) -> float:
    """The safety confidence as first written, every value read off the escalator's config."""
    c = esc.cfg
    base = c.level_confidence[esc.level]
    fade = (ts - esc._last_escalation_ts) / c.escalation_penalty_decay_s
    if fade < 1.0:
        base *= 1.0 - c.escalation_penalty * (1.0 - max(fade, 0.0))
    return base


def _update_plain(esc: SafetyEscalator, inp: SafetyInputs) -> SafetyLevel:
    """``SafetyEscalator.update`` as first written (every step taken every tick, the rules as first written too):
    what the one that skips must do. Its confidence is ``_confidence_plain`` at ``inp.ts``."""
    from agent.safety.escalator import _LEVELS
    ts = inp.ts
    eq = inp.equity
    if eq == eq:
        if esc.peak_equity != esc.peak_equity:
            if esc._rebase:
                esc._rebase = False
                esc.peak_equity = esc.base_equity = eq
            else:
                esc.peak_equity = max(eq, inp.start_equity) if inp.start_equity > 0.0 else eq
        elif eq > esc.peak_equity:
            esc.peak_equity = eq
    hits = esc.hits = _rule_hits_plain(esc, inp)
    raw = max((h.level for h in hits), default=G)
    clear = esc._clear_since
    for lv in range(1, 5):
        if raw >= lv:
            clear[lv] = math.nan
        elif clear[lv] != clear[lv]:
            clear[lv] = ts
    esc.raw_level = raw
    cur = esc.level
    if cur != K:
        if raw > cur:
            esc._move(ts, raw, "; ".join(h.describe() for h in hits if h.level == raw))
            esc._last_escalation_ts = ts
        elif raw < cur:
            in_level = ts - esc._entered_ts
            clear_for = ts - clear[cur]
            if in_level >= esc._dwell[cur] and clear_for >= esc.cfg.recovery_window_s:
                esc._move(ts, _LEVELS[cur - 1],
                          f"recovered: {cur.name} clear for {clear_for:.6g} s (window "
                          f"{esc.cfg.recovery_window_s:.6g} s), dwell {in_level:.6g} s "
                          f"≥ {esc._dwell[cur]:.6g} s")
    return esc.level


def _same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["peak", "start"]), st.lists(st.one_of(
    st.tuples(st.just("tick"), st.integers(1, 90), st.floats(-800.0, 600.0) | st.just(math.nan),
              st.sampled_from([0] * 6 + [1, 2]), st.sampled_from([0.0] * 6 + [0.5, 0.8, 1.6]),
              st.sampled_from([0] * 8 + [12]), st.sampled_from([1.0] * 8 + [0.2]), st.sampled_from([0.0] * 12 + [70.0])),
    st.tuples(st.just("reset"), st.sampled_from([G, Y, R]), st.booleans())), max_size=60))
def test_the_ladder_that_stays_at_green_without_a_rule_is_the_ladder_stepped_every_tick(dd_from, steps):
    """``update`` leaves the ladder alone at Green when no rule holds now nor did at the last update (and reads
    the confidence from the level once the cut has faded): beside an escalator stepped in full every tick, the
    same level, raw level, hits, history, clear-since times, confidence and peak after each
    update, through escalations, recoveries, Kills and manual resets (the rebasing ones too)."""
    cfg = SafetyConfig(drawdown_from=dd_from)
    fast, plain = SafetyEscalator(cfg), SafetyEscalator(cfg)
    ts, equity = 0.0, 100_000.0
    for step in steps:
        if step[0] == "reset":
            _, to, rebase = step
            killed = fast.level is K
            ts += 1.0  # (a second after the tick: a reset out of Kill has the confidence of its own time)
            assert fast.manual_reset(ts, to, rebase_peak=rebase) == plain.manual_reset(ts, to, rebase_peak=rebase)
            if killed:
                assert fast.safety_confidence == _confidence_plain(plain, ts)
            continue
        _, dt, move, degraded, pos, errors, health, age = step
        ts += float(dt)
        equity += move if move == move else 0.0
        inp = SafetyInputs(ts, equity if move == move else math.nan, 100_000.0, pos, 1.0, degraded, -math.inf,
                           errors, health, age, 0.0)
        assert fast.update(inp) == _update_plain(plain, inp)
        assert (fast.raw_level, fast.hits, fast.history) == (plain.raw_level, plain.hits, plain.history)
        assert fast.safety_confidence == _confidence_plain(plain, ts)
        assert all(_same(a, b) for a, b in zip(fast._clear_since, plain._clear_since))
        assert _same(fast.peak_equity, plain.peak_equity) and _same(fast.base_equity, plain.base_equity)


# ----------------------------------------------------------------------------- risk budget


def test_par_hand_computed():
    rb = RiskBudget(RiskBudgetConfig(horizon_s=100.0, confidence=0.99, max_par_usd=1000.0, soft_start=0.5))
    # 5 BTC × 60 000 USD × 1e-4 /√s × √100 s × z(99%)=2.3263479 = 300 000 × 1e-3 × 2.3263479 = 697.904
    par, within, f = rb.check(5.0, 60_000.0, 1e-4)
    assert par == pytest.approx(5.0 * 60_000 * 1e-4 * 10 * 2.3263479, rel=1e-6)
    assert par == pytest.approx(697.904, abs=1e-3)
    assert within and f == pytest.approx((1 - 0.697904) / 0.5, rel=1e-5)
    assert rb.check(-2.0, 60_000.0, 1e-4)[2] == 1.0   # 279 USD: below the soft start
    assert rb.check(10.0, 60_000.0, 1e-4)[1:] == (False, 0.0)
    assert rb.check(1.0, math.nan, 1e-4)[1:] == (False, 0.0)
    assert rb.position_cap(60_000.0, 1e-4) * 60_000 * 1e-4 * 10 * rb.z == pytest.approx(1000.0)


@given(st.floats(-10, 10), st.floats(1, 1e5), st.floats(1e-6, 1e-2))
def test_size_factor_monotone_in_par(pos, mid, sigma):
    rb = RiskBudget(RiskBudgetConfig())
    par, within, f = rb.check(pos, mid, sigma)
    par2, _, f2 = rb.check(pos * 1.1, mid, sigma)
    assert 0.0 <= f2 <= f <= 1.0 and par2 >= par >= 0.0


@given(st.floats(-10, 10), st.sampled_from([math.nan, 1.0, 60_000.0]) | st.floats(1, 1e5),
       st.sampled_from([math.nan, 0.0]) | st.floats(1e-6, 1e-2), st.floats(10.0, 2000.0), st.floats(0.0, 0.99))
def test_the_risk_budgets_check_is_its_definition(pos, mid, sigma, max_par, soft):
    """``check`` writes ``par_usd`` out and reads its thresholds from copies (it runs every quote cycle): it gives
    the module's rule, bit for bit, on ``par_usd`` and the config as they are."""
    rb = RiskBudget(RiskBudgetConfig(max_par_usd=max_par, soft_start=soft))
    par = rb.par_usd(pos, mid, sigma)
    u = par / max_par
    want = (par, False, 0.0) if par != par else (par, u <= 1.0, 0.0) if u >= 1.0 else \
        (par, True, 1.0 if u <= soft else (1.0 - u) / (1.0 - soft))
    got = rb.check(pos, mid, sigma)
    assert got[1:] == want[1:] and (got[0] == want[0] or got[0] != got[0] and want[0] != want[0])
    per_unit = mid * sigma * rb._scale
    cap = rb.position_cap(mid, sigma)
    assert cap == (0.0 if per_unit != per_unit else max_par / per_unit if per_unit > 0.0 else math.inf)


# ----------------------------------------------------------------------------- overlay


def test_overlay_table():
    assert overlay_for(G, 0.3, CFG) == SafetyOverlay(position=0.3)
    y = overlay_for(Y, 0.3, CFG)
    assert (y.spread_mult, y.size_factor, y.single_side) == (1.5, 0.5, None)
    o = overlay_for(O, 0.3, CFG)
    assert (o.size_factor, o.single_side, o.reduce_only) == (0.25, -1, True)  # reduce-only: in-doubt exits never flip it
    r = overlay_for(R, -0.3, CFG)
    assert (r.single_side, r.reduce_only, r.cancel_all) == (1, True, False)
    k = overlay_for(K, 0.3, CFG)
    assert k.cancel_all and k.flatten
    assert not overlay_for(K, 0.3, SafetyConfig(kill_action="hold")).flatten
    assert overlay_for(O, 0.0, CFG).single_side == 0  # flat: nothing reduces, nothing quoted


def test_apply_scales_and_keeps_namedtuples():
    qs = [DesiredQuote(Side.BUY, 99.0, 0.004, 0), DesiredQuote(Side.SELL, 101.0, 0.004, 0)]
    out = apply_to_quotes(overlay_for(Y, 0.0, CFG), qs, lot=0.001)
    assert [(q.side, q.sz, q.reduce_only) for q in out] == [(Side.BUY, 0.002, False), (Side.SELL, 0.002, False)]
    out = apply_to_quotes(overlay_for(R, 0.003, CFG), qs + [DesiredQuote(Side.SELL, 102.0, 0.004, 1)])
    assert [(q.side, q.sz, q.reduce_only) for q in out] == [(Side.SELL, 0.003, True)]
    assert apply_to_quotes(overlay_for(K, 0.003, CFG), qs) == []
    # the reducing side's own factor (the quote cycle's, at Yellow over the position limit): long, the asks keep
    # their size and the bids are halved; short, the other way round; flat, nothing reduces and both are halved
    for pos, kept in ((0.3, Side.SELL), (-0.3, Side.BUY), (0.0, None)):
        ov = overlay_for(Y, pos, CFG)._replace(reducing_size_factor=1.0)
        for shape in (qs, [(int(q.side), q.px, q.sz, False) for q in qs]):  # its own path and the plain tuples'
            out = apply_to_quotes(ov, shape, lot=0.001)
            assert [(int(q[0]), q[2]) for q in out] == [(int(q.side), 0.004 if q.side is kept else 0.002) for q in qs]


quote = st.tuples(st.sampled_from([1, -1]), st.floats(90, 110), st.floats(0.0, 5.0), st.booleans())


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(SafetyLevel)), st.floats(-5, 5), st.lists(quote, max_size=12))
def test_overlay_never_adds_risk_at_red_or_kill(level, position, quotes):
    ov = overlay_for(level, position, CFG)
    out = apply_to_quotes(ov, quotes)
    ro_total = sum(q[2] for q in out if q[3])
    assert ro_total <= abs(position) + 1e-12
    assert all(q[2] > 0 for q in out)
    if level >= O:
        # every surviving quote reduces the position, and together they cannot flip it
        assert all(position != 0 and q[0] == -math.copysign(1, position) for q in out)
        assert sum(q[2] for q in out) <= abs(position) + 1e-12
    if level >= R:
        assert all(q[3] for q in out)
    if level == K:
        assert out == []


class _OtherQuote(NamedTuple):
    """DesiredQuote's fields in another NamedTuple: apply_to_quotes' generic path (with_size), not its own."""

    side: Side
    px: float
    sz: float
    level: int
    reduce_only: bool = False


def _nudged(x: float) -> st.SearchStrategy:
    """``x``, or the double next to it either way (a position summed from fills is a lot multiple give or take)."""
    return st.sampled_from([x, math.nextafter(x, math.inf), math.nextafter(x, -math.inf)])


# a quote cycle's: (quotes, position, lot, the venue's minimum), at a price of 100 (lots of 0.001 and sizes about
# the minimum's, or any) and of 100,000 (BTC's: the $10 minimum is 10 lots of 0.00001), positions in whole lots or
# next to them, or any
_small = st.tuples(
    st.lists(st.builds(DesiredQuote, st.sampled_from([Side.BUY, Side.SELL]), st.floats(90, 110),
                       st.floats(0.0, 5.0) | st.floats(0.0, 0.3) | st.integers(0, 300).map(lambda n: n * 0.001),
                       st.integers(0, 4), st.booleans()), max_size=12),
    st.floats(-5, 5) | st.integers(-300, 300).map(lambda n: n * 0.001).flatmap(_nudged) | st.just(0.0),
    st.sampled_from([0.0, 0.001, 0.00001]), st.sampled_from([0.0, 10.0, 11.0]))
_btc = st.tuples(
    st.lists(st.builds(DesiredQuote, st.sampled_from([Side.BUY, Side.SELL]), st.floats(99_000, 101_000),
                       st.integers(0, 40).map(lambda n: n * 0.00001), st.integers(0, 4), st.booleans()), max_size=12),
    (st.integers(-60, 60) | st.integers(-12, 12)).map(lambda n: n * 0.00001).flatmap(_nudged), st.just(0.00001),
    st.just(10.0))


def _old_overlay(ov, quotes, lot, min_notional):
    """The quote cycle's overlay as two passes: the size factor, the side and the cap, then the venue's minimum."""
    return to_venue_minimum(apply_to_quotes(ov, quotes, lot=lot), ov.position, min_notional, lot,
                            capped=ov.single_side is not None)


def _outcome(f, *args):
    """``f(*args)``, or the class of what it raised (without a lot, a quote raised to the minimum divides by it)."""
    try:
        return f(*args)
    except ArithmeticError as e:
        return type(e)


def _same_quotes(got: list, want: list, quotes: list, want_from: list) -> None:
    """The same quotes (each field's type and repr: the same doubles, the same bools), and a quote left as it was
    the very object it was given as (``want``'s taken from ``want_from``, ``got``'s from ``quotes``); or the same
    error raised."""
    if isinstance(got, type) or isinstance(want, type):
        assert got is want
        return
    assert [[(type(x), repr(x)) for x in q] for q in got] == [[(type(x), repr(x)) for x in q] for q in want]
    assert [any(g is q for q in quotes) for g in got] == [any(w is q for q in want_from) for w in want]


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(list(SafetyLevel)), _small | _btc, st.sampled_from([None, 1, -1, 0]), st.integers(0, 12))
# Yellow, long 10 lots at $100k: the ask halved to 5 lots ($5) is raised to the minimum, 10 lots, the whole position
@example(Y, ([DesiredQuote(Side.BUY, 99_990.0, 10 * 0.00001, 0), DesiredQuote(Side.SELL, 100_000.0, 10 * 0.00001, 0)],
             10 * 0.00001, 0.00001, 10.0), None, 0)
def test_the_overlay_in_one_walk_is_its_two_passes(level, cycle, single, other_at):
    """overlaid_quotes walks the quote cycle's own quotes (DesiredQuote) once, for the overlays the levels make, the
    venue's minimum applied as each quote is sized: the same quotes, of the same class, as the two passes
    (apply_to_quotes' general loop, then to_venue_minimum) make of them, and as they make of the same fields in another
    NamedTuple (with_size's path); a quote left as it was is the same object. A list with another kind of quote in it
    anywhere is made by the two passes, as before."""
    quotes, pos, lot, min_notional = cycle
    ovs = [overlay_for(level, pos, CFG)]
    ovs.append(ovs[0]._replace(reducing_size_factor=1.0))  # (the quote cycle's at Yellow over the position limit)
    if single is not None:  # one-sided overlays the levels do not make (Shadow's exits are one), one side that
        ovs.append(SafetyOverlay(1.0, 0.5, single, reduce_only=False, position=pos))  # may grow the position
        ovs.append(SafetyOverlay(1.0, 0.5, single, reduce_only=True, position=pos))
    ovs.append(SafetyOverlay(1.0, 0.5, None, reduce_only=True, position=pos))
    others = [_OtherQuote(*q) for q in quotes]
    mixed = quotes[:]  # one quote of another kind among the cycle's own
    if quotes:
        at = other_at % len(quotes)
        mixed[at] = others[at]
    for ov in ovs:
        fast = _outcome(overlaid_quotes, ov, quotes, lot, min_notional)
        assert isinstance(fast, type) or all(type(q) is DesiredQuote for q in fast)
        _same_quotes(fast, _outcome(_old_overlay, ov, quotes, lot, min_notional), quotes, quotes)
        _same_quotes(fast, _outcome(_old_overlay, ov, others, lot, min_notional), quotes, others)
        _same_quotes(_outcome(overlaid_quotes, ov, mixed, lot, min_notional),
                     _outcome(_old_overlay, ov, mixed, lot, min_notional), mixed, mixed)


def test_a_stressed_regime_is_yellow_unless_the_rule_is_off():
    esc = SafetyEscalator(CFG)
    assert esc.update(inputs(0.0, p_stressed=0.5)) == G
    assert esc.update(inputs(1.0, p_stressed=0.97)) == Y
    assert [h.rule for h in esc.hits] == ["p_stressed"]
    off = SafetyEscalator(SafetyConfig(stressed_regime_yellow=None))
    assert off.update(inputs(1.0, p_stressed=1.0)) == G


def test_quotes_below_the_venue_minimum_after_an_overlay():
    from agent.execution.reconcile import DesiredQuote
    from agent.gateway.events import Side
    from agent.safety import to_venue_minimum

    # long 0.0003 at $100k ($30): asks reduce, bids increase; the venue minimum is $10
    quotes = [DesiredQuote(Side.BUY, 100_000.0, 0.00005, 0), DesiredQuote(Side.SELL, 100_010.0, 0.00005, 0),
              DesiredQuote(Side.SELL, 100_020.0, 0.0002, 1)]
    out = to_venue_minimum(quotes, 0.0003, 10.0, 0.00001)
    assert [(d.side, d.sz) for d in out] == [(Side.SELL, 0.0001), (Side.SELL, 0.0002)]  # bid dropped, exit raised
    tiny = to_venue_minimum([DesiredQuote(Side.SELL, 100_010.0, 0.00002, 0, True)], 0.00004, 10.0, 0.00001)
    assert [d.sz for d in tiny] == [0.00004]  # reduce-only: the whole position, though under $10 (exempt)
    not_ro = to_venue_minimum([DesiredQuote(Side.SELL, 100_010.0, 0.00002, 0)], 0.00004, 10.0, 0.00001)
    assert not_ro == []  # not reduce-only: below the minimum and not exempt


def test_the_risk_budget_taper_shrinks_only_the_increasing_side():
    from agent.execution.reconcile import DesiredQuote
    from agent.gateway.events import Side
    from agent.safety import taper_increasing

    quotes = [DesiredQuote(Side.BUY, 100_000.0, 0.001, 0), DesiredQuote(Side.BUY, 99_990.0, 0.00015, 1),
              DesiredQuote(Side.SELL, 100_010.0, 0.001, 0)]
    out = taper_increasing(quotes, 0.5, 0.002, 10.0, 0.00001)  # long: bids increase
    assert [(d.side, round(d.sz, 8)) for d in out] == [(Side.BUY, 0.0005), (Side.SELL, 0.001)]  # 2nd bid < $10
    assert taper_increasing(quotes, 0.5, -0.002, 10.0, 0.00001)[-1].sz == 0.0005  # short: the ask shrinks


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([O, R]), st.integers(-60, 60),
       st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 40)), min_size=1, max_size=10))
def test_exits_raised_to_the_venue_minimum_still_never_flip_the_position(level, pos_lots, ladder):
    """At Orange and Red only the reducing side is quoted, capped at |position|; then each quote under the
    venue's minimum is raised to it (an exit never shrinks out of existence). Raised, they must still total
    no more than |position| (an audit: long 0.00025 at Orange quoted three 0.0001 asks)."""
    from agent.safety import to_venue_minimum

    lot, px = 0.00001, 100_000.0  # BTC: the $10 minimum is 10 lots
    position = pos_lots * lot
    ov = overlay_for(level, position, CFG)
    quotes = [DesiredQuote(side, px + side.value * -(i + 1), n * lot, i, False) for i, (side, n) in enumerate(ladder)]
    out = to_venue_minimum(apply_to_quotes(ov, quotes, lot=lot), position, 10.0, lot,
                           capped=ov.single_side is not None)
    assert all(d.side.value == -math.copysign(1, position) for d in out)
    assert sum(d.sz for d in out) <= abs(position) + 1e-12
    for d in out:  # what the venue would refuse is not sent
        assert d.sz * d.px >= 10.0 - 1e-9 or (d.reduce_only and d.sz >= abs(position) - 1e-12)


def test_orange_small_exits_are_not_each_raised_past_the_position():
    from agent.safety import to_venue_minimum

    lot = 0.00001
    ov = overlay_for(O, 0.00025, CFG)  # long $25 at $100k
    asks = [DesiredQuote(Side.SELL, 100_001.0 + 2 * i, 0.0001, i, False) for i in range(3)]
    out = to_venue_minimum(apply_to_quotes(ov, asks, lot=lot), 0.00025, 10.0, lot, capped=True)
    assert [d.sz for d in out] == [0.0001, 0.0001]  # the third, raised from 0.00005, would flip it


@given(side=st.sampled_from([Side.BUY, Side.SELL]), px=st.floats(1.0, 1e6), sz=st.floats(0.0, 10.0),
       level=st.integers(0, 19), ro=st.booleans(), new_sz=st.floats(0.0, 10.0),
       new_ro=st.sampled_from([None, False, True]))
def test_with_size_is_replace_without_its_machinery(side, px, sz, level, ro, new_sz, new_ro):
    """The overlays' and the taper's fast ``_replace``: the same quote, of the same class, as ``_replace`` makes."""
    from agent.execution.reconcile import with_size

    q = DesiredQuote(side, px, sz, level, ro)
    want = q._replace(sz=new_sz) if new_ro is None else q._replace(sz=new_sz, reduce_only=new_ro)
    got = with_size(q, new_sz, new_ro)
    assert type(got) is DesiredQuote and got == want and got.side is side


@settings(max_examples=300, deadline=None)
@given(st.floats(0.0, 1.0), st.floats(1.0, 200_000.0), st.booleans(), st.floats(0.0, 1.0),
       st.sampled_from([0.0, 10.0, 11.0]))
def test_a_quote_worth_the_minimum_is_never_refused(sz, px, reduce_only, position_abs, min_notional):
    """to_venue_minimum asks the venue's rule only of quotes worth less than the minimum: the rule must refuse no
    other (were it to gain a tolerance, that shortcut would keep quotes the venue refuses)."""
    from agent.execution.reconcile import refused_under_minimum
    if refused_under_minimum(sz, px, reduce_only, position_abs, min_notional):
        assert sz * px < min_notional
