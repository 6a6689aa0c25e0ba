"""Signals: monotone in their input, bounded, decaying to 0.5 without news; the blend's weights."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from pydantic import ValidationError

from agent.quoting.signals import (
    MAX_WEIGHT, BookImbalanceSignal, MomentumSignal, SignalBlend, SignalConfig, TradeFlowSignal,
)

CFG = SignalConfig()
sizes = st.floats(0.001, 1e4)


def _book(bid_sz: float, ask_sz: float, n: int = 3):
    bids = tuple((100.0 - i, bid_sz) for i in range(n))
    asks = tuple((101.0 + i, ask_sz) for i in range(n))
    return bids, asks


@given(sizes, sizes, st.floats(1.01, 10))
def test_more_bid_depth_raises_p_up(b, a, more):
    s = BookImbalanceSignal(CFG)
    s.update(0.0, *_book(b, a))
    p0 = s.p_up(0.0)
    s.update(0.0, *_book(b * more, a))
    assert s.p_up(0.0) > p0
    assert 0.0 < p0 < 1.0


def test_book_levels_beyond_n_and_level_decay():
    s = BookImbalanceSignal(SignalConfig(book_levels=1))
    s.update(0.0, ((100.0, 1.0), (99.0, 50.0)), ((101.0, 1.0),))
    assert s.p_up(0.0) == 0.5  # the deep bid is outside the top level
    near = BookImbalanceSignal(SignalConfig(book_levels=2, book_level_decay=0.1))
    plain = BookImbalanceSignal(SignalConfig(book_levels=2))
    book = (((100.0, 1.0), (99.0, 9.0)), ((101.0, 5.0), (102.0, 5.0)))
    near.update(0.0, *book)
    plain.update(0.0, *book)
    assert near.p_up(0.0) < 0.5 == plain.p_up(0.0)  # weighting the touch shows the thin bid


def test_trade_flow_follows_aggressors_and_decays():
    s = TradeFlowSignal(CFG)
    for i in range(20):
        s.update(i * 0.1, +1, 1.0)
    p_buy = s.p_up(2.0)
    assert p_buy > 0.8
    for i in range(20):
        s.update(2.0 + i * 0.1, -1, 3.0)
    assert s.p_up(4.0) < 0.5  # sellers took over
    # no trades: back to 0.5 (ten half-lives: logit × 2^−10)
    assert abs(s.p_up(4.0 + 10 * CFG.flow_halflife_s) - 0.5) < 2e-3
    assert s.p_up(4.0 + 10 * CFG.flow_halflife_s) < 0.5  # from below, not past it


def test_trade_flow_prior_damps_a_lone_trade():
    bare, damped = TradeFlowSignal(CFG), TradeFlowSignal(SignalConfig(flow_prior_volume=1.0))
    for s in (bare, damped):
        s.update(0.0, +1, 0.01)
    assert bare.p_up(0.0) > damped.p_up(0.0) > 0.5


def test_momentum_sign_and_scale_free():
    rng = np.random.default_rng(4)
    noise = 1e-4 * rng.standard_normal(600)
    for scale in (1.0, 1e4):  # the z-score does not depend on the price level
        up, down = MomentumSignal(CFG), MomentumSignal(CFG)
        drift = np.cumsum(noise + 5e-5)
        for i in range(600):
            up.update(i * 0.5, scale * 100.0 * math.exp(drift[i]))
            down.update(i * 0.5, scale * 100.0 * math.exp(-drift[i]))
        assert up.p_up(299.5) > 0.6 and down.p_up(299.5) < 0.4
        assert up.p_up(299.5) == pytest.approx(1.0 - down.p_up(299.5), abs=1e-9)


def test_momentum_is_calibrated_to_noise_without_drift():
    # a driftless walk: the logit/slope is a z-score, so about 95% of them lie within ±2
    rng = np.random.default_rng(5)
    s = MomentumSignal(CFG)
    mid, zs = 100.0, []
    for i in range(20_000):
        mid *= math.exp(1e-4 * rng.standard_normal())
        s.update(i * 0.25, mid)
        if i > 2000 and i % 40 == 0:
            zs.append(s.logit / CFG.momentum_slope)
    zs = np.array(zs)
    assert 0.7 < zs.std() < 1.3 and abs(zs.mean()) < 0.3


@given(st.lists(st.tuples(st.floats(0, 5), st.sampled_from([-1, 1]), st.floats(0.001, 100)), max_size=30),
       st.floats(1.0, 2e5), st.floats(0, 100))
def test_probabilities_and_adjustments_are_bounded(trades, mid, later):
    cfg = SignalConfig(adj_coef_bps=50.0, max_adj_bps=0.5)  # a coefficient large enough to hit the clip
    s = TradeFlowSignal(cfg)
    t = 0.0
    for dt, side, sz in trades:
        t += dt
        s.update(t, side, sz)
    for ts in (t, t + later):
        p = s.p_up(ts)
        assert 0.0 < p < 1.0
        assert abs(s.adjustment(ts, mid)) <= 0.5e-4 * mid * (1 + 1e-12)
        assert (s.adjustment(ts, mid) > 0) == (p > 0.5)


def test_adjustment_is_linear_below_the_clip():
    cfg = SignalConfig(adj_coef_bps=1.0, max_adj_bps=0.5)
    s = BookImbalanceSignal(cfg)
    s.update(0.0, *_book(3.0, 1.0))
    p = s.p_up(0.0)
    assert s.adjustment(0.0, 50_000.0) == pytest.approx(1e-4 * (p - 0.5) * 50_000.0)


def _fed_blend():
    blend = SignalBlend.from_config(CFG)
    blend.get("book_imbalance").update(1.0, *_book(5.0, 1.0))
    blend.get("trade_flow").update(1.0, -1, 2.0)
    for i in range(10):
        blend.get("momentum").update(i * 0.1, 100.0 + i * 0.01)
    return blend


def test_blend_sums_weighted_adjustments_and_reports_contributions():
    blend = _fed_blend()
    blend.set_weights({"book_imbalance": 0.5, "trade_flow": 2.0})
    contrib = blend.contributions(1.0, 100.0)
    assert [c.name for c in contrib] == ["book_imbalance", "trade_flow", "momentum"]
    assert blend.adjustment(1.0, 100.0) == pytest.approx(sum(c.weight * c.adjustment for c in contrib))
    assert contrib[0].adjustment > 0 > contrib[1].adjustment and contrib[0].weight == 0.5
    name, p_up, weight, adj = contrib[2]  # a plain tuple for the decision record
    assert name == "momentum" and p_up > 0.5 and weight == 1.0


def test_zero_weight_silences_a_signal():
    blend = _fed_blend()
    both = blend.adjustment(1.0, 100.0)
    blend.set_weight("trade_flow", 0.0)
    alone = blend.adjustment(1.0, 100.0)
    expected = blend.get("book_imbalance").adjustment(1.0, 100.0) + blend.get("momentum").adjustment(1.0, 100.0)
    assert alone == pytest.approx(expected) and alone != both
    assert blend.weights["trade_flow"] == 0.0


def test_bad_weights_are_refused():
    blend = _fed_blend()
    with pytest.raises(KeyError, match="nope"):
        blend.set_weight("nope", 1.0)
    with pytest.raises(ValueError, match="-1.0"):
        blend.set_weight("momentum", -1.0)
    with pytest.raises(ValueError, match="nope"):
        SignalConfig(weights={"nope": 1.0})


def test_a_weight_past_the_configs_bound_is_refused_at_runtime_too_naming_the_signal_and_value():
    """set_weight took any finite weight >= 0 (1e300 scaled the signal's pull out of all measure) where the config
    refused past MAX_WEIGHT; the bound is one, and the weight left as it was."""
    blend = _fed_blend()
    blend.set_weight("momentum", MAX_WEIGHT)
    for w in (1e300, math.nextafter(MAX_WEIGHT, math.inf), math.inf, math.nan):
        with pytest.raises(ValueError, match=f"weight of signal 'momentum' must be from 0 to {MAX_WEIGHT:g}, "
                                             f"got {re.escape(repr(w))}"):
            blend.set_weight("momentum", w)
    assert blend.weights["momentum"] == MAX_WEIGHT


@settings(max_examples=200, deadline=None)
@given(w=st.floats(allow_nan=True, allow_infinity=True) | st.floats(-1.0, 2 * MAX_WEIGHT)
       | st.sampled_from([0.0, -0.0, MAX_WEIGHT, math.nextafter(MAX_WEIGHT, math.inf)]))
def test_a_weight_the_config_takes_is_one_set_weight_takes_and_no_other(w):
    def taken(set_it) -> bool:
        try:
            set_it()
        except (ValueError, ValidationError):
            return False
        return True
    blend = SignalBlend.from_config(SignalConfig())
    assert taken(lambda: SignalConfig(weights={"trade_flow": w})) == taken(lambda: blend.set_weight("trade_flow", w))


def _pushed_up(name: str):
    """A signal of each kind, fed one event (or a short run) that reads as 'up'; its last update is at 1.0."""
    if name == "book_imbalance":
        s = BookImbalanceSignal(CFG)
        s.update(1.0, *_book(4.0, 1.0))
    elif name == "trade_flow":
        s = TradeFlowSignal(CFG)
        s.update(1.0, +1, 2.0)
    else:
        s = MomentumSignal(CFG)
        for i in range(11):
            s.update(i * 0.1, 100.0 * math.exp(1e-4 * i + 1e-5 * (-1) ** i))
    return s


@pytest.mark.parametrize("name", ["book_imbalance", "trade_flow", "momentum"])
def test_every_signal_decays_toward_one_half_without_updates(name):
    s = _pushed_up(name)
    assert s.name == name and s.horizon_s == CFG.horizon_s
    ps = [s.p_up(1.0 + age) for age in (0.0, 1.0, 5.0, 20.0, 100.0)]
    assert ps[0] > 0.55
    assert all(a > b > 0.5 for a, b in zip(ps, ps[1:]))  # monotone, from above, never past 0.5
    assert ps[-1] - 0.5 < 1e-4
    adj = [s.adjustment(1.0 + age, 100.0) for age in (0.0, 100.0)]
    assert adj[0] > adj[1] > 0.0


@given(st.floats(0.01, 100), st.floats(0.01, 100), st.floats(0.01, 100))
def test_more_aggressive_buying_raises_flow_p_up(sold, bought, extra):
    a, b = TradeFlowSignal(CFG), TradeFlowSignal(CFG)
    for s, buy in ((a, bought), (b, bought + extra)):
        s.update(0.0, -1, sold)
        s.update(0.5, +1, buy)
    assert b.p_up(0.5) > a.p_up(0.5)


@given(st.floats(1e-6, 1e-1), st.floats(1.05, 10.0))
def test_a_larger_up_move_raises_momentum_p_up(move, more):
    rng = np.random.default_rng(1)
    path = 100.0 * np.exp(np.cumsum(1e-4 * rng.standard_normal(40)))
    small, large = MomentumSignal(CFG), MomentumSignal(CFG)
    for i, m in enumerate(path.tolist()):
        small.update(i * 0.5, m)
        large.update(i * 0.5, m)
    small.update(20.0, path[-1] * math.exp(move))
    large.update(20.0, path[-1] * math.exp(move * more))
    # the normaliser is the volatility before the move, so even a jump that dwarfs it ranks right
    cap = 1.0 / (1.0 + math.exp(-11.5))  # the logit is capped: p stays off 0 and 1
    assert large.p_up(20.0) > small.p_up(20.0) or large.p_up(20.0) == small.p_up(20.0) == pytest.approx(cap)
    assert 0.0 < small.p_up(20.0) <= large.p_up(20.0) < 1.0


class _Shifted(TradeFlowSignal):
    """A signal with its own p_up: the blend must call it, not its inline copy of the logit signal's."""

    __slots__ = ()

    def p_up(self, ts: float) -> float:
        return 0.25 + 0.5 * super().p_up(ts)


_logits = st.one_of(st.just(0.0), st.floats(-11.5, 11.5), st.floats(-1e-300, 1e-300))


@given(st.lists(st.tuples(_logits, st.floats(-5.0, 5.0), st.floats(1e-6, 100.0), st.floats(0.0, 3.0)),
                min_size=3, max_size=3),
       st.floats(0.0, 10.0), st.floats(1e-3, 1e6), st.floats(0.0, 5.0), st.floats(0.0, 3.0), st.booleans())
def test_parts_are_each_signals_p_up_and_adjustment_to_the_bit(states, ts, mid, coef_bps, max_bps, own_p_up):
    """The blend's parts do p_up and adjustment inline for the logit signals (the quote cycle's hot path): the very
    doubles the methods give, at any age (none, past, a last update ahead of ts), and a signal with its own p_up
    is asked for it."""
    cfg = SignalConfig(adj_coef_bps=coef_bps, max_adj_bps=max_bps)
    sigs = [BookImbalanceSignal(cfg), _Shifted(cfg) if own_p_up else TradeFlowSignal(cfg), MomentumSignal(cfg)]
    for s, (logit, age, halflife, _) in zip(sigs, states):
        s.logit, s.ts, s.halflife = logit, ts - age, halflife
    blend = SignalBlend(sigs, {s.name: w for s, (_, _, _, w) in zip(sigs, states)})
    got = blend.parts(ts, mid)
    want = [(s.name, s.p_up(ts), w, s.adjustment(ts, mid)) for s, (_, _, _, w) in zip(sigs, states)]
    assert got == want
    assert all(math.copysign(1.0, g[3]) == math.copysign(1.0, w[3]) for g, w in zip(got, want))  # -0.0 too


def _book_update_as_at_236138b(sig: BookImbalanceSignal, ts: float, bids, asks) -> None:
    """BookImbalanceSignal.update at 236138b (before its sums iterated the levels), verbatim."""
    g = sig.level_decay
    b = a = 0.0
    w = 1.0
    for i in range(min(sig.levels, len(bids))):
        b += w * bids[i][1]
        w *= g
    w = 1.0
    for i in range(min(sig.levels, len(asks))):
        a += w * asks[i][1]
        w *= g
    tot = b + a
    sig.logit = sig.slope * (b - a) / tot if tot > 0.0 else 0.0
    sig.ts = ts


_level_sizes = st.one_of(st.floats(0.0, 1e6), st.floats(allow_nan=True, allow_infinity=True), st.just(-0.0),
                         st.floats(0.0, 1e-300))
_levels_of = st.lists(st.tuples(st.floats(1.0, 1e5), _level_sizes), max_size=9)


@settings(max_examples=400)
@given(_levels_of, _levels_of, st.integers(1, 8), st.one_of(st.just(1.0), st.floats(0.01, 1.0)),
       st.floats(0.0, 1000.0), st.floats(0.0, 1e4), st.booleans())
def test_book_imbalance_update_is_as_it_was_at_236138b_to_the_bit(bids, asks, levels, decay, slope, ts, as_lists):
    """The book signal's sums iterate the levels (a decay of 1, as shipped, without the weight): the logit is the
    double the indexed, weighted sums gave at 236138b (repr: nan and -0.0 too), for books shorter and longer than
    ``book_levels``, as tuples (the twin's gateway) or lists (the venue's parser). Broken on purpose (the weightless
    sums taken at any decay: ``if True:`` for ``if g == 1.0:``), this fails."""
    cfg = SignalConfig(book_levels=levels, book_level_decay=decay, book_slope=slope)
    if as_lists:
        bids, asks = [list(lv) for lv in bids], [list(lv) for lv in asks]
    else:
        bids, asks = tuple(bids), tuple(asks)
    got, want = BookImbalanceSignal(cfg), BookImbalanceSignal(cfg)
    got.update(ts, bids, asks)
    _book_update_as_at_236138b(want, ts, bids, asks)
    assert repr(got.logit) == repr(want.logit) and type(got.logit) is type(want.logit)
    assert got.ts == want.ts
