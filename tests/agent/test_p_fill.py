"""Per-order P(fill) validation (agent.shadow.p_fill): GLFT's own fill model λ(δ) = A·e^(−kδ), the mid moving at σ,
scored on the real orders, censored orders weighed out, and the score in the run's summary."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.config import AgentConfig
from agent.execution.orders import TERMINAL, OrderTracker
from agent.gateway.events import (
    AccountSnapshot, Batch, CancelAcknowledged, CancelOrder, FillReceived, ModifyAcknowledged, ModifyOrder,
    OpenOrder, OrderAcknowledged, OrderRejected, PlaceOrder, Reason, Side, Tif,
)
from agent.report import trading_summary
from agent.session import build_session
from agent.shadow.p_fill import _DROP, _LATE_S, PFillScore, fill_probability, score
from twin.params import TwinParams
from test_shadow import BUY, SELL, rest

T = 1.0
_tid = iter(range(1, 10**9))


def placed(tr: OrderTracker, pf: PFillScore, cloid: str, side, px: float, mid: float = 100.0, A: float = 1.0,
           k: float = 1.0, ts: float = 0.0) -> None:
    """A quote cycle's place of ``cloid`` at ``px``, acknowledged 0.1 s on (the tracker's own events)."""
    rest(tr, cloid, side, px, 1.0, ts)
    pf.on_cycle([Batch((PlaceOrder(cloid, side, px, 1.0),))], mid, A, k, tr.orders)


def filled(tr: OrderTracker, pf: PFillScore, cloid: str, ts: float) -> None:
    o = tr.orders[cloid]
    tr.on_event(FillReceived(ts, cloid, 1, o.px, o.remaining, o.side, 0.0, True, next(_tid)))
    pf.on_fill(cloid, ts)


def cancelled(tr: OrderTracker, cloid: str, ts: float) -> None:
    tr.on_command(CancelOrder(cloid), ts - 0.05)
    tr.on_event(CancelAcknowledged(ts, cloid))


def test_each_quote_is_scored_by_how_it_ended_and_a_censored_one_is_weighed_out():
    """Acknowledged at 0.1 s: a fill at 0.3 s is a fill; resting past T, or cancelled after T, or filled after T
    is rested T unfilled; cancelled at 0.6 s (before T) is censored; a rejected place is not scored. Censoring by
    Kaplan-Meier: at 0.6 s 4 orders were at risk (the censored one, three that reached T), one left, so the
    survivors of T weigh 4/3 each and the fill 1: observed 1 / (1 + 4) = 0.2, where leaving the censored order
    out would say 0.25 and scoring it 0 over its time 0.2."""
    tr, pf = OrderTracker(), PFillScore(T, grace_s=0.5)
    placed(tr, pf, "f", BUY, 99.5)  # δ 0.5
    placed(tr, pf, "rest", SELL, 101.0)
    placed(tr, pf, "late_cancel", BUY, 99.0)
    placed(tr, pf, "late_fill", SELL, 102.0)
    placed(tr, pf, "censored", BUY, 98.0)
    tr.on_command(PlaceOrder("rej", BUY, 99.9, 1.0), 0.0)
    pf.on_cycle([PlaceOrder("rej", BUY, 99.9, 1.0)], 100.0, 1.0, 1.0, tr.orders)
    tr.on_event(OrderRejected(0.1, "rej", Reason.BAD_ALO_PX, ""))
    filled(tr, pf, "f", 0.4)
    cancelled(tr, "censored", 0.7)
    pf.settle(1.0, tr.orders)  # the fill known; the censored one within its grace
    assert len(pf.time) == 1 and pf.filled[0] == 1 and pf.time[0] == pytest.approx(0.3)
    cancelled(tr, "late_cancel", 1.5)
    filled(tr, pf, "late_fill", 1.6)
    pf.settle(2.0, tr.orders)  # (once a second)
    pf.settle(3.0, tr.orders)
    assert not pf._pending
    got = sorted(zip(pf.delta, (round(t, 9) for t in pf.time), pf.filled))
    assert got == [(0.5, 0.3, 1), (1.0, T, 0), (1.0, T, 0), (2.0, 0.6, 0), (2.0, T, 0)]
    s = pf.summary()
    assert (s["orders"], s["filled"], s["censored"]) == (5, 1, 1)
    assert s["outcome_known_share"] == pytest.approx(0.75)
    assert s["observed"] == pytest.approx(0.2)
    # the censored order's P weighs nothing: its λ changed, the score is the same
    i = next(i for i, (t, y) in enumerate(zip(pf.time, pf.filled)) if t < T and not y)
    pf.A[i] = 50.0
    assert pf.summary()["brier"] == s["brier"]
    # the Brier by hand: the fill's P at δ 0.5, the rest's at theirs, weights 1 and 4/3
    p = 1.0 - np.exp(-np.exp(-np.array([0.5, 1.0, 1.0, 2.0])) * T)
    w = np.array([1.0, 4 / 3, 4 / 3, 4 / 3])
    assert s["brier"] == pytest.approx(float(w @ (p - [1, 0, 0, 0]) ** 2 / w.sum()), abs=1e-6)
    assert s["brier_base"] == pytest.approx(0.2 * 0.8)


def test_a_fill_racing_a_cancel_is_a_fill_and_an_order_still_pending_at_the_end_is_scored_as_far_as_known():
    """The cancel's ack first, its fill within the grace after: a fill. At the summary, an order still live past T
    is rested T unfilled and one within T censored at its age (the summary changes nothing)."""
    tr, pf = OrderTracker(), PFillScore(T, grace_s=0.5)
    placed(tr, pf, "race", BUY, 99.0)
    placed(tr, pf, "old", SELL, 101.0)
    cancelled(tr, "race", 0.5)
    tr.on_event(FillReceived(0.7, "race", 1, 99.0, 1.0, BUY, 0.0, True, next(_tid)))
    pf.on_fill("race", 0.45)  # (made before the cancel landed)
    placed(tr, pf, "young", BUY, 99.0, ts=1.0)
    pf.settle(1.0, tr.orders)
    assert list(zip(pf.time, pf.filled)) == [pytest.approx((0.35, 1))]
    s = pf.summary(1.2, tr.orders)
    assert (s["orders"], s["filled"], s["censored"]) == (3, 1, 1)
    assert set(pf._pending) == {"old", "young"}  # (only read)


def test_at_the_end_a_live_quote_younger_than_T_is_censored_at_its_age_beside_the_fills_of_the_last_T():
    """The run ends 0.3 s after two quotes were acknowledged: one filled at 0.1 s (counted), the other still resting.
    Left out, the fills of the run's last T count and their unfilled peers not (observed 2/3); censored at its age
    it weighs the quote that rested T by 2 (at 0.3 s it and that one were at risk, one censored): observed 2/4, what
    Kaplan-Meier says (a fill at 0.1, at 0.2, then one of two left rests T)."""
    tr, pf = OrderTracker(), PFillScore(T, grace_s=0.5)
    placed(tr, pf, "early", BUY, 99.0)
    placed(tr, pf, "old", SELL, 101.0)
    filled(tr, pf, "early", 0.3)  # 0.2 s after its ack
    placed(tr, pf, "young_fill", BUY, 99.0, ts=5.0)
    placed(tr, pf, "young", SELL, 101.0, ts=5.0)
    filled(tr, pf, "young_fill", 5.2)
    pf.settle(5.0, tr.orders)
    s = pf.summary(5.4, tr.orders)
    assert (s["orders"], s["filled"], s["censored"]) == (4, 2, 1)
    assert s["outcome_known_share"] == pytest.approx(0.5)
    assert s["observed"] == pytest.approx(0.5)


def test_the_weights_undo_the_censoring_and_a_wrong_model_scores_worse():
    """Orders filled at the true λ(δ) (a Poisson clock), most cancelled before T at times that do not depend on
    the fills: the weighted observed rate is the true one, the true model's calibration slope about 1, and models
    wrong by A × 10 or k × 2 score a higher Brier and a Cox slope away from 1. Leaving the censored orders out (all
    weights 1) overstates the rate."""
    rng = np.random.default_rng(7)
    n, A, k = 20000, 2.0, 1.5
    delta = rng.uniform(0.0, 3.0, n)
    lam = A * np.exp(-k * delta)
    fill_t = rng.exponential(1.0 / lam)
    cancel_t = rng.exponential(0.8, n)
    end = np.minimum(np.minimum(fill_t, cancel_t), T)
    y = ((fill_t <= cancel_t) & (fill_t <= T)).astype(float)
    right = score(-np.expm1(-lam * T), end, y, T)
    assert right["censored"] > n / 2
    truth = float(np.mean(-np.expm1(-lam * T)))
    assert right["observed"] == pytest.approx(truth, abs=0.01)
    known = (y == 1) | (end >= T)
    assert y[known].mean() > truth + 0.05  # (the survivors' bias the weights undo)
    assert right["calibration_slope"] == pytest.approx(1.0, abs=0.08)
    assert right["logit_slope"] == pytest.approx(1.0, abs=0.08)
    assert right["skill"] > 0.1
    a10, k2 = score(-np.expm1(-10 * lam * T), end, y, T), score(-np.expm1(-A * np.exp(-2 * k * delta) * T), end, y, T)
    for wrong in (a10, k2):
        assert wrong["brier"] > right["brier"] + 0.01
        assert abs(wrong["logit_slope"] - 1.0) > 0.4  # (a k twice too large: log-odds spread about twice)
    assert abs(a10["calibration_slope"] - 1.0) > 0.25  # (the OLS slope, on P itself, hardly moves for k × 2)
    bins = right["reliability"]
    assert sum(b["orders"] for b in bins) == n - right["censored"]
    assert all(abs(b["p"] - b["observed"]) < 0.08 for b in bins if b["orders"] > 500)  # (0.06 at most: noise)


def _glft_world(rng: np.random.Generator, n: int, A: float, k: float, sigma: float, steps: int = 200):
    """Quotes in GLFT's own model: each at δ from the mid it was priced on, the mid a Brownian motion of ``sigma``
    that moves over the order's trip to the venue (a quote it passed refused post-only: not returned) and on over
    T while the quote rests at its price, filled at λ = A·e^(−kx) of its distance x from the mid then (a Poisson
    clock). Each cancelled at a time of its own (Exp, mean 0.8 s) that does not depend on the mid. (δ, trip, time
    to its fill, cancel or T, filled within T then)."""
    delta, trip = rng.uniform(0.0, 15.0, n), rng.uniform(0.05, 0.3, n)
    x = delta + sigma * np.sqrt(trip) * rng.standard_normal(n)
    kept = x > 0.0
    delta, trip, x = delta[kept], trip[kept], x[kept]
    m, dt = len(x), T / steps
    need, hazard = rng.exponential(1.0, m), np.zeros(m)
    fill_t = np.full(m, np.inf)
    for j in range(steps):
        hazard += A * np.exp(np.minimum(-k * x, 700.0)) * dt
        fill_t[(hazard >= need) & np.isinf(fill_t)] = (j + 1) * dt
        x = x + sigma * np.sqrt(dt) * rng.standard_normal(m)
    cancel_t = rng.exponential(0.8, m)
    end = np.minimum(np.minimum(fill_t, cancel_t), T)
    return delta, trip, end, ((fill_t <= cancel_t) & (fill_t <= T)).astype(float)


def test_p_fill_moves_the_quote_with_the_mid_and_is_calibrated_where_the_model_holds():
    """Quotes filled as GLFT's model says, the mid moving at σ = 8 per √s while λ falls e-fold in 1/k = 1.7 (the
    twin's market: σ ≈ 9 USD, k ≈ 0.6 per USD): the forecast is calibrated within 0.03 in every tenth of P that holds
    500 orders (0.01 at most), its Cox slope within 0.1 of 1 (0.93), with skill; the mid held still over T
    (P = 1 − e^(−λ(δ)·T), the form until 7 December) misses by up to 0.27 at the same orders (its P falls twentyfold
    over δ where the fills halve), its Cox slope 0.32, skill −0.08. At σ = 0 the forecast is that form exactly."""
    rng = np.random.default_rng(11)
    A, k, sigma = 2.0, 0.6, 8.0
    delta, trip, end, y = _glft_world(rng, 20000, A, k, sigma)
    n = len(y)
    args = (np.full(n, A), np.full(n, k), delta)
    moving = score(fill_probability(*args, np.full(n, sigma), trip, T), end, y, T)
    assert moving["censored"] > n / 3
    assert moving["logit_slope"] == pytest.approx(1.0, abs=0.1)
    assert moving["skill"] > 0.1  # (0.126: the most any forecast has here, the model's own)
    assert moving["predicted"] == pytest.approx(moving["observed"], abs=0.02)
    assert all(abs(b["p"] - b["observed"]) < 0.03 for b in moving["reliability"] if b["orders"] >= 500)
    still = score(fill_probability(*args, np.zeros(n), trip, T), end, y, T)
    assert np.allclose(fill_probability(*args, np.zeros(n), trip, T), -np.expm1(-A * np.exp(-k * delta) * T),
                       rtol=1e-9, atol=1e-15)
    assert still["logit_slope"] < 0.4 and still["skill"] < moving["skill"] - 0.15
    assert max(abs(b["p"] - b["observed"]) for b in still["reliability"] if b["orders"] >= 500) > 0.2
    # the refused ones left out: a quote scored is one the mid had not passed at its arrival (without that, Cox 0.69)
    assert score(fill_probability(*args, np.full(n, sigma), 0.0 * trip, T), end, y, T)["logit_slope"] < 0.8


def test_no_score_when_the_outcome_at_T_is_known_for_too_few():
    """Every order cancelled well before T but a few: the weights would rest on those few."""
    t = np.r_[np.full(95, 0.1), np.full(5, T)]
    s = score(np.full(100, 0.5), t, np.zeros(100), T)
    assert s["censored"] == 95 and s["outcome_known_share"] < 0.1
    assert s["brier"] is None and s["reliability"] == []
    assert score(np.array([]), np.array([]), np.array([]), T)["orders"] == 0


def test_on_the_twin_p_fill_is_scored_into_the_summary_with_skill_and_a_wrong_fill_model_scores_worse():
    """A twin session at MicroLive: every acknowledged quote scored, the score in the summary's shadow.p_fill, the
    forecast as calibrated in the mean as within 0.05, at the base rate's Brier or better (the mid held still over
    T, as until 7 December: skill −0.27, Cox slope 0.10, its P falling twentyfold from the touch to 8 ticks out
    where the fills fell by half); the same orders scored with A × 10 or A / 10 have a higher Brier and a Cox slope
    farther from 1 (k × 2 hardly moves it: most fills are of quotes the mid came to, at any k)."""
    cfg = AgentConfig.model_validate({"graduation": {"start_level": "MICRO_LIVE", "ceiling": "MICRO_LIVE"}})
    ex, _, core, driver = build_session(cfg, 1, TwinParams())
    driver.start()
    ex.env.run(until=600.0)
    s = trading_summary(core)["shadow"]["p_fill"]
    pf = core.graduation.p_fill
    assert s["horizon_s"] == cfg.shadow.p_fill_horizon_s
    assert s["orders"] >= 1000 and s["filled"] >= 300 and s["outcome_known_share"] > 0.5
    assert s["orders"] >= len(pf.time) and s["brier"] is not None and s["reliability"]
    A, k, d, sig, trip, t, y = (np.array(a, float) for a in (pf.A, pf.k, pf.delta, pf.sigma, pf.trip, pf.time,
                                                             pf.filled))
    own = score(fill_probability(A, k, d, sig, trip, T), t, y, T)
    still = score(fill_probability(A, k, d, 0.0 * sig, trip, T), t, y, T)  # (the mid held still: the old form)
    assert still["skill"] < -0.2 and still["logit_slope"] < 0.3  # (−0.27, 0.10)
    # (+0.004 and 0.56 on this seed, the least of bench_p_fill's 9 sessions: a twin change may move it a little)
    assert own["skill"] > -0.02 and own["skill"] > still["skill"] + 0.2 and 0.4 < own["logit_slope"] < 1.6
    assert abs(own["predicted"] - own["observed"]) < 0.05  # (0.51 against 0.49)
    for wrong in (score(fill_probability(10 * A, k, d, sig, trip, T), t, y, T),
                  score(fill_probability(0.1 * A, k, d, sig, trip, T), t, y, T)):
        assert wrong["brier"] > own["brier"] + 0.02
        assert abs(wrong["logit_slope"] - 1.0) > abs(own["logit_slope"] - 1.0)


def test_no_cox_slope_where_the_outcomes_cannot_give_one():
    """A few quotes, none filled (or all, or the fills all above the rest in P): the logistic fit has no maximum
    (its slope runs off while the likelihood creeps up), so no slope is given, where one would be a number the
    iteration stopped at. With both outcomes overlapping in P the slope is given."""
    lam = np.array([0.2, 0.5, 1.0, 2.0])
    for y in ([0, 0, 0, 0], [1, 1, 1, 1], [0, 0, 1, 1]):
        t = np.where(np.array(y) == 1, 0.5, T)
        assert score(-np.expm1(-lam * T), t, np.array(y, float), T)["logit_slope"] is None, y
    assert score(-np.expm1(-lam * T), np.array([T, 0.5, T, 0.5]), np.array([0.0, 1, 0, 1]), T)["logit_slope"] \
        is not None


def test_a_fill_and_a_cancel_at_the_same_time_weigh_as_the_kaplan_meier_fill_rate_says():
    """Times tie (a fill made before its ack and a cancel answered with it are both at 0; the twin's session above
    has a hundred fills at 0): the fill comes first, so it is not at risk of the cancel at its time. Of 4 orders, one
    filled and one censored at 0.5 and two rested T: 3 at risk of the censoring, G(T) = 2/3, the two weigh 3/2 each
    and the weights sum to the 4 orders; observed 1/4, the Kaplan-Meier rate (1 of 4 at risk at 0.5), not 1/(1 +
    8/3) as with the fill counted at risk of the cancel."""
    lam = np.array([1.0, 0.5, 0.2, 0.1])
    s = score(-np.expm1(-lam * T), np.array([0.5, 0.5, T, T]), np.array([1.0, 0.0, 0.0, 0.0]), T)
    assert s["outcome_known_share"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["observed"] == pytest.approx(0.25)
    p = -np.expm1(-lam[[0, 2, 3]] * T)
    assert s["brier"] == pytest.approx(((1 - p[0]) ** 2 + 1.5 * p[1] ** 2 + 1.5 * p[2] ** 2) / 4, abs=1e-6)


def test_a_modify_scores_its_new_leg_from_its_ack_and_an_ioc_flatten_is_no_quote():
    """A modify moves a quote: the old leg is censored at the replace, the new one scored at its own price from its
    own ack. An IOC is a flatten, not a quote at a distance the model priced: not scored."""
    tr, pf = OrderTracker(), PFillScore(T, grace_s=0.5)
    placed(tr, pf, "old", BUY, 99.0)
    mod, ioc = ModifyOrder("old", "new", 99.5, 1.0, side=BUY), PlaceOrder("ioc", SELL, 90.0, 1.0, Tif.IOC)
    tr.on_command(mod, 0.4)
    tr.on_command(ioc, 0.4)
    pf.on_cycle([Batch((mod,)), ioc], 100.2, 1.0, 1.0, tr.orders)
    tr.on_event(ModifyAcknowledged(0.5, "old", "new", 2, True))
    assert set(pf._pending) == {"old", "new"}
    pf.settle(5.0, tr.orders)
    assert sorted(zip(pf.delta, (round(t, 9) for t in pf.time), pf.filled)) == [
        (pytest.approx(0.7), T, 0), (1.0, 0.4, 0)]


def test_the_score_is_of_the_last_window_quotes_in_storage_that_does_not_grow():
    """A run lasts days: the resolved quotes are kept in a ring of the last ``window``, so its storage stays as it
    was made however many quotes resolve, and the score is of the newest (the oldest, filled, are gone)."""
    tr, pf = OrderTracker(), PFillScore(T, grace_s=0.5, window=4)
    rows = ("_A", "_k", "_delta", "_sigma", "_trip", "_time", "_filled", "_p")
    size = sum(getattr(pf, a).nbytes for a in rows)
    for i in range(10):
        placed(tr, pf, f"q{i}", BUY, 99.0, ts=10.0 * i)
        if i < 6:
            filled(tr, pf, f"q{i}", 10.0 * i + 0.5)
        pf.settle(10.0 * i + 5.0, tr.orders)
    assert pf.resolved == 10 and len(pf.time) == 4 and not pf._pending
    assert sum(getattr(pf, a).nbytes for a in rows) == size
    s = pf.summary()
    assert (s["orders"], s["filled"]) == (4, 0)  # q6-q9, rested T unfilled


def test_the_summary_works_out_the_forecasts_of_the_orders_resolved_since_the_last_and_scores_as_afresh():
    """A live run's checkpoint asks the summary every minute: it keeps each resolved order's P and works out those of
    the orders resolved since, the ring wrapping between two summaries, and scores as the forecasts of the ring's
    orders worked out afresh."""
    tr, pf = OrderTracker(), PFillScore(T, grace_s=0.5, window=6)
    for i in range(15):
        placed(tr, pf, f"q{i}", BUY if i % 2 else SELL, 99.0 - 0.5 * (i % 3) if i % 2 else 101.0, ts=10.0 * i)
        pf._pending[f"q{i}"] = (*pf._pending[f"q{i}"][:3], 0.5 + 0.1 * i)  # (a σ of its own)
        if i % 3 == 0:
            filled(tr, pf, f"q{i}", 10.0 * i + 0.5)
        pf.settle(10.0 * i + 5.0, tr.orders)
        if i in (2, 3, 11, 14):
            p = fill_probability(pf.A, pf.k, pf.delta, pf.sigma, pf.trip, T)
            assert pf.summary() == score(p, pf.time, pf.filled.astype(float), T)
    assert pf._p_upto == pf.resolved == 15


def test_the_core_passes_each_fill_on_so_a_quote_partly_filled_and_still_resting_is_scored_a_fill():
    """The core's fill handling tells the scorer when the fill was made: the tracker alone says an order filled
    only once it ends, so a quote half filled 0.2 s after its ack and resting on past T would read rested T
    unfilled."""
    from agent.gateway.events import AFTER_CYCLE, FillReceived, Timer
    from test_core import _full_ladder_resting, quoting
    core, placed = _full_ladder_resting(quoting())
    q = placed[0]
    core.handle(FillReceived(0.8, q.cloid, 100, q.px, q.sz / 2, q.side, 0.0, True, next(_tid)))
    core.handle(Timer(4.0, AFTER_CYCLE))  # (the settle, past T and its grace, no cycle between)
    pf = core.graduation.p_fill
    assert core.tracker.orders[q.cloid].live and q.cloid not in pf._pending
    assert pf.resolved == len(placed)
    assert list(pf.filled).count(1) == 1 and pf.time[list(pf.filled).index(1)] == pytest.approx(0.2)


def test_a_fill_delivered_after_its_quote_was_resolved_unfilled_corrects_its_outcome():
    """A fill made in an outage comes at the reconnect, past the grace: the quote it filled was resolved rested T
    unfilled (or censored at a cancel), and is a fill at when it was made, if within T. One made after T changes
    nothing, nor one whose quote the ring has dropped, nor one after _LATE_S."""
    tr, pf = OrderTracker(), PFillScore(T, grace_s=0.5, window=4)
    for c in ("rested", "cancelled", "after_T"):
        placed(tr, pf, c, BUY, 99.0)
    cancelled(tr, "cancelled", 0.7)
    pf.settle(5.0, tr.orders)
    assert pf.resolved == 3 and list(pf.filled) == [0, 0, 0]
    pf.on_fill("rested", 0.6)  # made 0.5 s after its ack, delivered at 5 s
    pf.on_fill("cancelled", 0.55)  # made before the cancel landed
    pf.on_fill("after_T", 1.5)
    assert sorted(zip((round(t, 9) for t in pf.time), pf.filled)) == [(0.45, 1), (0.5, 1), (T, 0)]
    assert pf.summary()["filled"] == 2
    # the ring moved on, or the fill came too late: nothing to correct
    placed(tr, pf, "dropped", BUY, 99.0, ts=10.0)
    placed(tr, pf, "old", BUY, 99.0, ts=10.0)
    pf.settle(15.0, tr.orders)
    for i in range(4):
        placed(tr, pf, f"q{i}", SELL, 101.0, ts=20.0)
    pf.settle(25.0, tr.orders)  # dropped and old out of the ring
    pf.on_fill("dropped", 10.5)
    placed(tr, pf, "stale", BUY, 99.0, ts=30.0)
    pf.settle(35.0, tr.orders)
    pf.settle(35.0 + 600.0, tr.orders)
    pf.on_fill("stale", 30.5)
    assert list(pf.filled).count(1) == 0 and not pf._late


def _rescan_settle(pf: PFillScore, ts: float, orders: dict) -> None:
    """The reference settle: each pending order's outcome from ``_outcome`` (the summary's), resolved in their order
    in ``_pending`` (settle as it was before it wrote that test out)."""
    if ts < pf._next_ts:
        return
    pf._next_ts = ts + 1.0
    late = pf._late
    while late:
        first = next(iter(late))
        if late[first][2] > ts - 600.0:
            break
        del late[first]
    done = []
    for cloid, entry in pf._pending.items():
        t, y = pf._outcome(cloid, orders, ts, pf.grace_s)
        if y is None:
            continue
        done.append(cloid)
        if y >= 0:
            i = pf.resolved % pf.window
            pf._A[i], pf._k[i], pf._delta[i], pf._sigma[i] = entry
            pf._trip[i] = orders[cloid].acked_ts - orders[cloid].sent_ts
            pf._time[i] = t
            pf._filled[i] = y
            if not y:
                late[cloid] = (pf.resolved, orders[cloid].acked_ts, ts)
            pf.resolved += 1
    for cloid in done:
        del pf._pending[cloid]
        pf._fills.pop(cloid, None)


# settle as it was before its live orders' branch was taken first and apart (kept verbatim: the new one must leave
# every state it did, bit for bit, in _against_rescan below)
def _settle_before(self: PFillScore, ts: float, orders: dict) -> None:
    """Resolve the pending orders whose outcome is known by ``ts`` (``orders``: the tracker's, by cloid), once a
    second at most. Before the tracker forgets them (ten minutes after they end)."""
    if ts < self._next_ts:
        return
    self._next_ts = ts + 1.0
    late = self._late
    while late:
        first = next(iter(late))
        if late[first][2] > ts - _LATE_S:
            break
        del late[first]
    done = []
    T, grace, fills, get = self.horizon_s, self.grace_s, self._fills, orders.get
    for cloid, entry in self._pending.items():
        # _outcome's test written out (the summary asks _outcome; tests/agent/test_p_fill.py holds them alike): its
        # call, tuple and the ``live`` property were 41 of the 909 bytecodes an AFTER_CYCLE at the stress bench
        o = get(cloid)
        if o is None or o.foreign:
            t, y = _DROP
        else:
            start = o.acked_ts
            live = o.state not in TERMINAL
            if start < 0.0:
                if live:
                    continue
                t, y = _DROP
            else:
                f = fills.get(cloid)
                if f is None and not live and o.filled_sz > 0.0:
                    f = o.last_update_ts
                if f is not None:
                    e = f - start
                    t, y = (e if e > 0.0 else 0.0, 1) if e <= T else (T, 0)
                else:
                    if not live:
                        lu = o.last_update_ts
                        e = lu - start
                        if e < T:
                            if ts - lu >= grace:
                                t, y = (e if e > 0.0 else 0.0), 0
                            else:
                                continue
                        elif ts - start >= T + grace:
                            t, y = T, 0
                        else:
                            continue
                    elif ts - start >= T + grace:
                        t, y = T, 0
                    else:
                        continue
        done.append(cloid)
        if y >= 0:
            i = self.resolved % self.window
            self._A[i], self._k[i], self._delta[i], self._sigma[i] = entry  # (σ and the trip: since 7 December)
            self._trip[i] = orders[cloid].acked_ts - orders[cloid].sent_ts
            self._time[i] = t
            self._filled[i] = y
            if not y:
                late[cloid] = (self.resolved, orders[cloid].acked_ts, ts)
            self.resolved += 1
    for cloid in done:
        del self._pending[cloid]
        self._fills.pop(cloid, None)


_OPS = ("place", "ack", "fill", "cancel", "reject", "listing", "settle")


def _against_rescan(T_: float, grace: float, ops) -> None:
    """A real tracker driven by ``ops`` (op, which order, time step, a flag), the scorer settling beside a
    reference that rescans: after every settle the two must be the same (the tests below)."""
    tr, pf, ref = OrderTracker(), PFillScore(T_, grace, window=64), PFillScore(T_, grace, window=64)
    before = PFillScore(T_, grace, window=64)
    now, cloids, tid = 0.0, [], 0
    for op, i, dt, flag in ops:
        now += dt
        o = tr.orders.get(cloids[i % len(cloids)]) if cloids else None
        if op == "place" or o is None:
            c = f"c{len(cloids)}"
            cloids.append(c)
            cmd = PlaceOrder(c, BUY if flag else SELL, 99.0 + 0.1 * i if flag else 101.0 - 0.1 * i, 1.0)
            tr.on_command(cmd, now)
            for p in (pf, ref, before):
                p.on_cycle([Batch((cmd,))], 100.0, 1.0, 1.0, tr.orders, 0.1 * i)
        elif op == "ack":
            tr.on_event(OrderAcknowledged(now, o.cloid, 1000 + i, True))
        elif op == "fill":
            tid += 1
            sz = o.remaining if flag else 0.4
            tr.on_event(FillReceived(now, o.cloid, 1000 + i, o.px, sz if sz > 0.0 else 0.4, o.side, 0.0, True, tid))
            made = now - 0.3 * dt  # (made a little before it is delivered)
            if i % 4:  # (one in four not passed on, as the core does not pass an overfill's that booked nothing)
                for p in (pf, ref, before):
                    p.on_fill(o.cloid, made)
        elif op == "cancel":
            tr.on_command(CancelOrder(o.cloid), now)
            if flag:
                tr.on_event(CancelAcknowledged(now, o.cloid))
        elif op == "reject":
            tr.on_event(OrderRejected(now, o.cloid, Reason.BAD_ALO_PX, ""))
        elif op == "listing":
            # the cloids listed: every third from i (live ones stay, ended ones ended before the query revive)
            listed = tuple(OpenOrder(tr.orders[c].cloid, 1000 + j, tr.orders[c].side, tr.orders[c].px, 0.5, False)
                           for j, c in enumerate(cloids) if (j + i) % 3 == 0 and c in tr.orders)
            tr.on_event(AccountSnapshot(now, tr.position, 100.0, 1e6, 0.0, listed, requested_ts=now - 0.5 * dt))
        else:
            pf.settle(now, tr.orders)
            _rescan_settle(ref, now, tr.orders)
            _settle_before(before, now, tr.orders)
            n = min(ref.resolved, ref.window)
            for r in (ref, before):
                assert pf.resolved == r.resolved and list(pf._pending) == list(r._pending)
                assert pf._late == r._late and pf._fills == r._fills and pf._next_ts == r._next_ts
                for a in ("_A", "_k", "_delta", "_sigma", "_trip", "_time", "_filled"):
                    assert getattr(pf, a)[:n].tobytes() == getattr(r, a)[:n].tobytes()  # (bit for bit)
        tr.prune(now - 600.0)


@settings(max_examples=300, deadline=None)
@given(st.floats(0.2, 3.0), st.floats(0.0, 3.0),
       st.lists(st.tuples(st.sampled_from(_OPS), st.integers(0, 40), st.floats(0.0, 0.8), st.booleans()),
                min_size=60, max_size=200))
def test_settle_resolves_each_order_when_and_as_the_summarys_outcome_test_says_in_the_order_pending(T_, grace, ops):
    """settle writes ``_outcome``'s test out (it reads every pending order once a second); the summary still asks
    ``_outcome``. On a real tracker driven by random interleavings of places, acks, fills (partial or whole),
    cancels, rejects and listings (which end the unlisted and revive ended orders they list), the ring, the late
    corrections' book and the pending orders are after every settle exactly those of settle through ``_outcome``:
    no order resolved early, late, twice or otherwise, none in another order (the scores' sums follow the ring's)."""
    _against_rescan(T_, grace, ops)


def test_settle_matches_the_outcome_test_on_long_seeded_interleavings():
    """The same on 300 longer interleavings from a seeded generator: hypothesis's draws are short and lean to small
    steps, and rarely land a settle within 0.3 s past when an order's outcome is due (an order ended after T
    unfilled resolved 0.3 s late passed its 300 examples; these catch it)."""
    rng = np.random.default_rng(7)
    for _ in range(300):
        n = 150
        ops = list(zip((_OPS[j] for j in rng.integers(0, len(_OPS), n)), rng.integers(0, 41, n).tolist(),
                       rng.uniform(0.0, 0.8, n).tolist(), (rng.random(n) < 0.5).tolist()))
        _against_rescan(float(rng.uniform(0.2, 3.0)), float(rng.uniform(0.0, 3.0)), ops)


# on_cycle as it was before it read Side.BUY and Tif.IOC as module constants (kept verbatim, its recursion into a
# batch called as a function: the new one must leave the pending orders it did)
def _on_cycle_before(self, commands, mid: float, A: float, k: float, orders: dict, sigma: float = 0.0) -> None:
    """A quote cycle's commands, booked (``orders``: the tracker's, by cloid): its quotes, placed or modified,
    go pending with the mid and the model's A and k the cycle quoted on (an IOC is a flatten, not a quote)."""
    for c in commands:
        t = type(c)
        if t is Batch:
            _on_cycle_before(self, c.commands, mid, A, k, orders, sigma)
            continue
        if t is PlaceOrder and c.tif is not Tif.IOC:
            o = orders.get(c.cloid)
        elif t is ModifyOrder:
            o = orders.get(c.new_cloid)
        else:
            continue
        if o is not None:
            d = mid - o.px if o.side is Side.BUY else o.px - mid
            self._pending[o.cloid] = (A, k, d if d > 0.0 else 0.0, sigma)  # (σ: since 7 December)


_CMD = st.tuples(st.sampled_from(["place", "ioc", "modify", "cancel", "unknown"]), st.integers(0, 5),
                 st.floats(95.0, 105.0), st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_CMD, st.lists(_CMD, max_size=6)), max_size=8), st.floats(95.0, 105.0),
       st.floats(0.1, 10.0), st.floats(0.1, 10.0))
def test_on_cycle_leaves_the_pending_quotes_it_did(cmds, mid, A, k):
    """A cycle's commands (places, IOC flattens, modifies, cancels, some of orders the tracker does not know, some in
    batches): the pending quotes, their order and their (A, k, δ, σ), bit for bit those of on_cycle as it was."""
    from types import SimpleNamespace
    orders = {}

    def one(kind, i, px, buy):
        side = Side.BUY if buy else Side.SELL
        cloid = f"n{i}" if kind != "unknown" else f"x{i}"
        if kind != "unknown":
            orders[cloid] = SimpleNamespace(cloid=cloid, px=px, side=side)
        if kind in ("place", "unknown"):
            return PlaceOrder(cloid, side, px, 1.0)
        if kind == "ioc":
            return PlaceOrder(cloid, side, px, 1.0, Tif.IOC)
        if kind == "modify":
            return ModifyOrder(f"o{i}", cloid, px, 1.0)
        return CancelOrder(cloid)

    commands = [Batch(tuple(one(*c) for c in x)) if isinstance(x, list) else one(*x) for x in cmds]
    new, old = PFillScore(), PFillScore()
    new.on_cycle(commands, mid, A, k, orders, 0.5 * A)
    _on_cycle_before(old, commands, mid, A, k, orders, 0.5 * A)
    assert list(new._pending) == list(old._pending)
    assert np.array(list(new._pending.values())).tobytes() == np.array(list(old._pending.values())).tobytes()


def test_at_the_stress_bench_the_forecast_is_near_what_the_quotes_would_have_done_had_they_rested(monkeypatch):
    """The stress bench's 100 ms cycle moves a third of the quotes before T, mostly as the mid comes to them: a quote
    is moved where it was about to fill, so its move is no independent censoring and, as the move is certain there,
    no weight can stand in for it (the agent's own score says 0.41 where 0.31 is weighted). The twin can say what
    each quote would have done had it rested T (its fill, or the book crossing its price: a quote the book moves
    through fills in full); against that, with no quote censored, the forecast is within 0.03 (0.395 for 0.369)
    and has skill. (bench_p_fill.py --crossed; the wrappers that read the scorer's quotes are put back after.)"""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "bench"))
    import bench_p_fill
    from agent.shadow.p_fill import PFillScore as P
    methods = (P.on_cycle, P.on_fill)
    core, s, cf = bench_p_fill.session("stress", 1, 10.0, crossed=True)
    assert (P.on_cycle, P.on_fill) == methods
    c = cf["score"]
    assert c["censored"] == 0 and c["orders"] > 3000 and c["outcome_known_share"] == 1.0
    assert c["observed"] >= cf["crossed"] and cf["y"].sum() > 1.2 * s["filled"]  # (cancelled quotes the book crossed)
    assert s["predicted"] - s["observed"] > 0.07  # (0.095: the weights' shortfall)
    assert abs(c["predicted"] - c["observed"]) < 0.04 and c["skill"] > 0.03  # (0.026, +0.075)
