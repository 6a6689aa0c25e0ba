"""GLFT quotes: a case computed by hand, the limits the closed form implies, and the input guards."""
from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings, strategies as st

from agent.quoting.glft import GlftConfig, glft_coefficients, glft_half_skew, glft_quote, glft_quote_with

positive = st.floats(1e-3, 1e3)


def test_hand_computed_case():
    # γ = ξ = 0.1, Δ = 1, k = 2, A = 1, σ = 0.5, mid = 100, q = 2
    # ξΔ = 0.1 ; ξΔ/k = 0.05
    # c1 = ln(1.05)/0.1 = 0.04879016417/0.1 = 0.4879016417
    # c2 = sqrt(0.1/(2·1·1·2) · 1.05^(2/0.1 + 1)) = sqrt(0.025 · 1.05^21)
    #    1.05^21 = 2.78596259 → c2 = sqrt(0.06964906) = 0.26391109
    # half = c1 + (1/2)·c2·0.5 = 0.48790164 + 0.06597777 = 0.55387941 ; skew = c2·0.5 = 0.13195555
    # bid = 100 − (0.55387941 + 2·0.13195555) = 99.18220949 ; ask = 100 + (0.55387941 − 0.26391109) = 100.28996832
    c1 = math.log(1.05) / 0.1
    c2 = math.sqrt(0.025 * 1.05 ** 21)
    assert c1 == pytest.approx(0.4879016417, abs=1e-9)
    assert c2 == pytest.approx(0.26391109, abs=1e-8)
    q = glft_quote(100.0, 2.0, 0.5, 1.0, 2.0, 0.1, 1.0)
    assert q.half_spread == pytest.approx(0.55387941, abs=1e-8)
    assert q.skew == pytest.approx(0.13195555, abs=1e-8)
    assert q.bid == pytest.approx(99.18220949, abs=1e-8)
    assert q.ask == pytest.approx(100.28996832, abs=1e-8)
    assert glft_coefficients(1.0, 2.0, 0.1, 1.0) == pytest.approx((c1, c2), rel=1e-12)


def test_hand_computed_case_with_q_and_delta_in_coin():
    """Guéant's bid distance is c1 + (2q + Δ)/2·c2σ, the ask's c1 + (Δ − 2q)/2·c2σ, with q and Δ in one unit:
    here coin, Δ = 0.002 and q = 0.004 (two orders' worth). The core passed q in orders (position/Δ) against
    this c2, computed with Δ in coin: a skew 1/Δ = 500 times the model's (tests/agent/test_core.py checks the
    core's side). The same market in orders (Δ = 1, q = 2, γ per order = γ per coin × Δ = 0.1) is
    test_hand_computed_case's, and the quotes are the same."""
    # γ = ξ = 50 per coin, Δ = 0.002, k = 2, A = 1, σ = 0.5, mid = 100, q = 0.004
    # ξΔ = 0.1 ; ξΔ/k = 0.05 (as in the case above: c1 the same)
    # c1 = ln(1.05)/0.1 = 0.4879016417
    # c2 = sqrt(50/(2·1·0.002·2) · 1.05^21) = sqrt(6250 · 2.78596259) = sqrt(17412.27) = 131.95554626
    #    (the case above's 0.26391109 × 500: γ/Δ is 250,000 times 0.1/1, its root 500)
    # skew = c2·σ = 65.97777313 per coin
    # bid distance = c1 + (2·0.004 + 0.002)/2 · 65.97777313 = 0.48790164 + 0.32988887 = 0.81779051
    # ask distance = c1 + (0.002 − 2·0.004)/2 · 65.97777313 = 0.48790164 − 0.19793332 = 0.28996832
    # half = c1 + (Δ/2)·c2σ = 0.48790164 + 0.06597777 = 0.55387941 ; skew·q = 0.004 · 65.97777313 = 0.26391109
    # bid = 100 − 0.81779051 = 99.18220949 ; ask = 100 + 0.28996832 = 100.28996832
    q = glft_quote(100.0, 0.004, 0.5, 1.0, 2.0, 50.0, 0.002)
    assert glft_coefficients(1.0, 2.0, 50.0, 0.002) == pytest.approx((0.4879016417, 131.95554626), abs=1e-8)
    assert q.skew == pytest.approx(65.97777313, abs=1e-7)
    assert q.half_spread == pytest.approx(0.55387941, abs=1e-8)
    assert q.bid == pytest.approx(99.18220949, abs=1e-8)
    assert q.ask == pytest.approx(100.28996832, abs=1e-8)
    # in orders (q/Δ = 2, Δ = 1, γΔ = 0.1): the same prices; q in orders against Δ in coin is 500 times the skew
    in_orders = glft_quote(100.0, 2.0, 0.5, 1.0, 2.0, 0.1, 1.0)
    assert (in_orders.bid, in_orders.ask) == pytest.approx((q.bid, q.ask), abs=1e-9)
    assert glft_quote(100.0, 2.0, 0.5, 1.0, 2.0, 50.0, 0.002).bid == pytest.approx(100 - 0.55387941 - 131.95554626,
                                                                                  abs=1e-7)


@given(positive, positive, st.floats(0.01, 10), st.floats(1e-4, 10), st.floats(0.01, 100), st.floats(-10, 10))
def test_the_quotes_do_not_depend_on_the_unit_sizes_are_counted_in(A, k, gamma, delta, sigma, orders):
    """Counting size in orders of Δ instead of coin (Δ → 1, q → q/Δ, γ → γΔ) leaves every price as it was:
    c1 depends on ξΔ alone, and c2 scales by 1/Δ as q scales by Δ."""
    coin = glft_quote(1000.0, orders * delta, sigma, A, k, gamma, delta)
    in_orders = glft_quote(1000.0, orders, sigma, A, k, gamma * delta, 1.0)
    assert (coin.bid, coin.ask, coin.half_spread) == pytest.approx((in_orders.bid, in_orders.ask,
                                                                    in_orders.half_spread), rel=1e-9, abs=1e-9)
    assert coin.skew * delta == pytest.approx(in_orders.skew, rel=1e-9)


def test_factors_scale_half_spread_and_skew():
    base = glft_quote(100.0, 1.0, 0.5, 1.0, 2.0, 0.1, 1.0)
    cfg = GlftConfig(gamma=0.1, spread_factor=1.5, skew_factor=0.0)
    q = glft_quote_with(cfg, 100.0, 1.0, 0.5, 1.0, 2.0, 1.0)
    assert q.half_spread == pytest.approx(1.5 * base.half_spread)
    assert q.skew == 0.0 and q.bid == pytest.approx(100.0 - q.half_spread)


@given(positive, positive, st.floats(0.01, 10), st.floats(0.01, 10), st.floats(0.01, 100),
       st.floats(0.1, 10))
def test_skew_leans_against_inventory(A, k, gamma, delta, sigma, q):
    flat = glft_quote(1000.0, 0.0, sigma, A, k, gamma, delta)
    long_ = glft_quote(1000.0, q, sigma, A, k, gamma, delta)
    short = glft_quote(1000.0, -q, sigma, A, k, gamma, delta)
    assert long_.bid < flat.bid and long_.ask < flat.ask  # long: sell more eagerly, buy less
    assert short.bid > flat.bid and short.ask > flat.ask
    assert long_.ask - long_.bid == pytest.approx(2 * flat.half_spread)  # skew shifts, never widens


@given(positive, positive, st.floats(0.01, 10), st.floats(0.01, 10))
def test_gamma_lowers_c1_and_raises_c2(A, k, gamma, delta):
    # c1 = ln(1+x)/(ξΔ) falls with γ; c2² ∝ γ·(1+x)^(1/x+1), x = γΔ/k, rises with γ. So the half
    # spread is NOT monotone in γ: it falls where c1 dominates (small σ) and rises where c2σ does.
    c1a, c2a = glft_coefficients(A, k, gamma, delta)
    c1b, c2b = glft_coefficients(A, k, gamma * 1.5, delta)
    assert c1b < c1a and c2b > c2a


def test_limits():
    A, k, delta = 1.0, 2.0, 1.0
    # γ → 0: c1 → 1/k (the risk-neutral spread) and the skew vanishes
    tiny = glft_quote(100.0, 1.0, 0.5, A, k, 1e-9, delta)
    assert tiny.half_spread == pytest.approx(1 / k, rel=1e-4) and tiny.skew < 1e-4
    # σ → 0: half spread → c1, skew → 0
    c1, _ = glft_coefficients(A, k, 0.1, delta)
    assert glft_quote(100.0, 3.0, 1e-12, A, k, 0.1, delta).half_spread == pytest.approx(c1, rel=1e-9)
    assert glft_quote(100.0, 3.0, 0.0, A, k, 0.1, delta).bid == pytest.approx(100.0 - c1)
    # small σ: more risk aversion narrows; large σ: more risk aversion widens
    assert glft_quote(100.0, 0, 1e-3, A, k, 1.0, delta).half_spread < glft_quote(100.0, 0, 1e-3, A, k, 0.1, delta).half_spread
    assert glft_quote(100.0, 0, 10.0, A, k, 1.0, delta).half_spread > glft_quote(100.0, 0, 10.0, A, k, 0.1, delta).half_spread
    # more arrivals (A up) → tighter model spread through c2
    assert glft_quote(100.0, 0, 1.0, 10.0, k, 0.1, delta).half_spread < glft_quote(100.0, 0, 1.0, A, k, 0.1, delta).half_spread


@pytest.mark.parametrize("field,args", [
    ("k", dict(k=0.0)), ("k", dict(k=-1.0)), ("k", dict(k=math.nan)), ("A", dict(A=0.0)),
    ("A", dict(A=math.inf)), ("sigma", dict(sigma=-0.1)), ("sigma", dict(sigma=math.nan)),
    ("gamma", dict(gamma=0.0)), ("delta", dict(delta=-1.0)), ("mid", dict(mid=math.nan)),
])
def test_guards_name_the_bad_input(field, args):
    kw = dict(mid=100.0, q=0.0, sigma=0.5, A=1.0, k=2.0, gamma=0.1, delta=1.0) | args
    with pytest.raises(ValueError, match=rf"{field}={args[field]!r}"):
        glft_quote(**kw)


@given(positive, positive, st.floats(0.01, 10), st.floats(1e-4, 10), st.floats(0.0, 100), st.floats(1.0, 1e5),
       st.floats(-10, 10), st.floats(0.1, 3), st.floats(0.0, 3))
def test_half_skew_from_the_coefficients_is_the_quotes_to_the_bit(A, k, gamma, delta, sigma, mid, q, sf, kf):
    """The quote cycle keeps c1, c2 while A and k hold and takes the half spread and skew from them: the very doubles
    glft_quote gives (the decision log compares them bit for bit across versions)."""
    c1, c2 = glft_coefficients(A, k, gamma, delta)
    whole = glft_quote(mid, q, sigma, A, k, gamma, delta, sf, kf)
    assert glft_half_skew(mid, q, sigma, c1, c2, delta, sf, kf) == (whole.half_spread, whole.skew)


@pytest.mark.parametrize("field,args", [("mid", dict(mid=math.nan)), ("mid", dict(mid=-1.0)), ("q", dict(q=math.inf)),
                                        ("sigma", dict(sigma=-0.1)), ("sigma", dict(sigma=math.nan))])
def test_half_skew_refuses_what_glft_quote_refuses(field, args):
    kw = dict(mid=100.0, q=0.0, sigma=0.5, c1=0.5, c2=0.3, delta=1.0) | args
    with pytest.raises(ValueError, match=rf"{field}={args[field]!r}"):
        glft_half_skew(**kw)
    full = dict(mid=100.0, q=0.0, sigma=0.5, A=1.0, k=2.0, gamma=0.1, delta=1.0) | args
    with pytest.raises(ValueError, match=rf"{field}={args[field]!r}"):
        glft_quote(**full)


_any_float = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1.0, -1.0]))


@given(_any_float, _any_float, _any_float)
def test_half_skew_refuses_exactly_what_glft_quote_refuses_with_the_same_words(mid, q, sigma):
    """glft_half_skew checks its state inline and asks _check_state only to name what failed: for any mid, position
    and sigma it refuses when glft_quote does, naming the same input, and otherwise gives glft_quote's doubles."""
    try:
        whole = glft_quote(mid, q, sigma, 1.0, 2.0, 0.1, 1.0)
    except ValueError as e:
        with pytest.raises(ValueError) as got:
            glft_half_skew(mid, q, sigma, *glft_coefficients(1.0, 2.0, 0.1, 1.0), 1.0)
        assert str(got.value) == str(e)
    else:
        assert glft_half_skew(mid, q, sigma, *glft_coefficients(1.0, 2.0, 0.1, 1.0), 1.0) == (whole.half_spread,
                                                                                             whole.skew)


def _coefficients_as_at_0bfcb79(A: float, k: float, gamma: float, delta: float) -> tuple[float, float]:
    """glft_coefficients before its cut (0bfcb79), verbatim: the cut must give the same doubles and refusals."""
    from agent.quoting.glft import _bad
    # `not (v > 0)` also catches NaN; `v < inf` catches +inf
    if not (0.0 < A < math.inf):
        raise _bad("A", A, "a positive finite")
    if not (0.0 < k < math.inf):
        raise _bad("k", k, "a positive finite")
    if not (0.0 < gamma < math.inf):
        raise _bad("gamma", gamma, "a positive finite")
    if not (0.0 < delta < math.inf):
        raise _bad("delta", delta, "a positive finite")
    xd = gamma * delta  # ξΔ with ξ = γ
    x = xd / k
    c1 = math.log1p(x) / xd
    # (1 + x)^(1/x + 1) in log form: no overflow for small x, and log1p keeps precision
    c2 = math.sqrt(gamma / (2.0 * A * delta * k) * math.exp((1.0 / x + 1.0) * math.log1p(x)))
    return c1, c2


_param = st.one_of(st.floats(1e-9, 1e9), st.floats(0.0, 1e12), _any_float)


@settings(max_examples=500)
@given(_param, _param, _param, _param)
@example(math.inf, 2.0, 0.1, 1.0)  # each one bad, the rest as shipped: the one named
@example(1.0, math.inf, 0.1, 1.0)
@example(1.0, 2.0, math.nan, 1.0)
@example(1.0, 2.0, 0.1, -0.0)
@example(1.0, 2.0, math.inf, 1.0)
@example(1.0, 2.0, 0.1, math.inf)
@example(1e308, 1e308, 0.1, 1.0)  # each finite, their sum not
def test_the_coefficients_are_their_doubles_before_the_cut_and_refuse_alike(A, k, gamma, delta):
    """glft_coefficients as cut (one condition for the checks, ln(1 + x) once, the math functions bound at import)
    gives the same doubles as before (repr: a float's shortest round trip, so the same double, -0.0 and nan apart),
    or refuses the same inputs in the same words (the first bad one named); an overflow or a zero divisor (an exp
    beyond a double's range, ξΔ/k below one) raises alike."""
    try:
        before = _coefficients_as_at_0bfcb79(A, k, gamma, delta)
    except (ValueError, OverflowError, ZeroDivisionError) as e:
        with pytest.raises(type(e)) as got:
            glft_coefficients(A, k, gamma, delta)
        assert str(got.value) == str(e)
    else:
        assert repr(glft_coefficients(A, k, gamma, delta)) == repr(before)
