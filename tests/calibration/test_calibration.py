"""Calibration (DESIGN §8): parameter recovery on twin-made logs with known truth, a goodness-of-fit check
that can fail, and the CLI on a journal written as the live CLI writes it."""
from __future__ import annotations

import dataclasses
import functools
import html
import json
import re
import math

import numpy as np
import pytest

from agent.audit.event_log import EventJournal
from agent.audit.records import JsonlWriter, start_record
from agent.config import AgentConfig
from agent.drivers import SimDriver
from agent.gateway.events import AccountSnapshot
from agent.gateway.twin import TwinGateway
from agent.live import live_core
from agent.session import USER, build_session, session_core
from calibration.__main__ import main
from calibration.fit import fill_fit, fit, fit_feed, fit_mixture, goodness, poisson_rate, wilson
from calibration.observe import STEP_CUT_S, VENUE_TIME_ASSUMED, Observations, observe, observe_journal
from twin.exchange import Exchange
from twin.faults.latency import PathLatencyParams
from twin.params import TwinParams

LEG = {"median_ms": 80.0, "sigma": 0.3, "spike_prob": 0.03, "spike_median_ms": 500.0, "spike_sigma": 0.4,
       "burst_rate_per_hour": 0.0}
FEED = {"median_ms": 150.0, "sigma": 0.4, "spike_prob": 0.05, "spike_median_ms": 900.0, "spike_sigma": 0.3,
        "burst_rate_per_hour": 0.0}
TRUTH = TwinParams.model_validate({
    "latency": {"order_entry": LEG, "response": LEG, "feed": FEED},
    "rejections": {"rates": {"PerpMargin": 0.02, "Oracle": 0.01}, "rest_failure_prob": 0.005},
    "connection": {"hazard_per_hour": 10.0, "outage_median_s": 4.0, "outage_sigma": 0.5}})
# the agent held at Full, so that a run and its replay on other seeds place orders alike: no demotion on
# confidence, execution health or a model's scorecard (none is judged), and a position limit its inventory stays
# well inside (its position rule's Orange demotes). At 0.05 BTC the inventory the model's skew lets the quotes
# hold reached 70% of it within a minute on some seeds and not others, and a run demoted to Shadow places only
# exits: its orders rested 5+ ticks behind filled 0.10-0.15 of the time against 0.46-0.48 for one at Full.
CFG = AgentConfig.model_validate({"risk": {"max_position": 0.5},
                                  "validation": {"scorecard": {"window_outcomes": 10**6, "min_outcomes": 10**6,
                                                               "min_prediction_spacing_s": 0.0}},
                                  "graduation": {"start_level": "FULL", "ceiling": "FULL",
                                                 "demote_on_low_confidence": False, "min_execution_confidence": 0.0}})
SEED = 11
SHADOW = AgentConfig.model_validate({"graduation": {"start_level": "SHADOW", "ceiling": "SHADOW"}})


def observed_run(cfg: AgentConfig, seed: int, truth: TwinParams, seconds: float, tick: float = 1.0,
                 sz_decimals: int = 5):
    """A twin session of ``cfg`` on ``truth``, and what observe makes of its events (replayed through a core
    built as the session's was, on the venue's clock)."""
    ex, events = session_events(cfg, seed, truth, seconds)
    return ex, observe(events, session_core(cfg, seed, tick, sz_decimals), venue_epoch_s=ex.epoch_ms / 1000.0)


def session_events(cfg: AgentConfig, seed: int, truth: TwinParams, seconds: float):
    """A twin session of ``cfg`` on ``truth``: the exchange and the gateway's events."""
    events: list = []
    ex, _, _, driver = build_session(cfg, seed, truth, event_log=events)
    driver.start()
    ex.env.run(until=seconds)
    return ex, events


@pytest.fixture(scope="module")
def fitted():
    """Two hours of the agent at Full on a twin with known latency, rejection and disconnect parameters,
    observed by replaying its events through a core built as the session's was."""
    return fit(observed_run(CFG, SEED, TRUTH, 2 * 3600.0)[1])


def test_latency_is_recovered_and_the_fitted_twin_draws_the_round_trips_seen(fitted):
    leg = fitted.latency.leg
    assert fitted.latency.n > 1000
    assert leg.median_ms == pytest.approx(80.0, rel=0.08) and leg.sigma == pytest.approx(0.3, abs=0.06)
    assert leg.spike_prob == pytest.approx(0.03, abs=0.015) and leg.spike_median_ms == pytest.approx(500.0, rel=0.25)
    # (0.410; the round trips' spike part's, 0.360, until 7 December: a leg's spike and the other leg's body)
    assert leg.spike_sigma == pytest.approx(0.4, abs=0.03)
    rng = np.random.default_rng(1)
    ks, p = goodness(fitted.latency, fitted.observations.round_trip_s, rng)
    assert ks < 0.05 and p > 0.001
    # the check can fail: the twin's default legs (60 ms, no 500 ms spikes) do not draw these round trips
    wrong = type(fitted.latency)(**{**vars(fitted.latency), "leg": PathLatencyParams()})
    assert goodness(wrong, fitted.observations.round_trip_s, rng)[0] > 0.15


def test_the_feeds_latency_is_recovered_under_the_sockets_in_order_delivery(fitted):
    """Seen directly: each book update's arrival less the venue's time on it. The twin delivers a socket's
    messages in order, so a spiked message holds back the updates behind it; those arrive right behind
    another frame (of any channel: an order update makes no event, but the update says how long after the frame
    before it it came), and count for the fit as "at most this" (censored). With the bbo channel on the socket
    too (some ten frames a second with the book's), most updates are held: the fitted leg is still the one the
    twin drew, not the holds, which make the lags as they were look 45% spiked and 36% slower than the 5% drawn
    (7 December: ``python tests/calibration/mixture_errors.py --two-hours``).
    It is set as the twin's feed, and the fitted twin replayed shows the lags that were seen."""
    from calibration.fit import fit_mixture, replay_check
    obs = fitted.observations
    feed = fitted.feed
    assert feed.n > 10_000 and 0.5 < obs.feed_held.mean() < 0.8
    assert feed.leg.median_ms == pytest.approx(150.0, rel=0.05) and feed.leg.sigma == pytest.approx(0.4, abs=0.03)
    assert feed.leg.spike_prob == pytest.approx(0.05, abs=0.015)
    assert feed.leg.spike_median_ms == pytest.approx(900.0, rel=0.1)
    naive = fit_mixture(np.log(obs.feed_lag_s * 1000.0))  # the holds taken as latency
    assert naive[2] > 0.3 and math.exp(naive[0]) > 180.0
    assert fitted.params.latency.feed == feed.leg
    # replayed as long as the run: the holds depend on how much else is on the socket (the agent's own order
    # updates and fills), and an agent's first 20 minutes at Full are busier than its two hours, in which it
    # is demoted (a 20-minute replay read the p50 1.14-1.24x the run's, moving with the agent's behaviour)
    check = replay_check(fitted, CFG, max_s=2 * 3600.0)
    rows = {w: (a, b) for w, a, b in check.rows}
    seen, again = rows["book update lag p50, ms"]
    assert again == pytest.approx(seen, rel=0.1)
    seen, again = rows["book update lag p95, ms"]
    assert again == pytest.approx(seen, rel=0.1)


def test_rejection_transport_and_disconnect_intervals_cover_the_truth(fitted):
    """The estimates' intervals cover the truth (checked at 99.9%, so that a change elsewhere that moves the
    sample does not fail this by the 5% chance a 95% interval has of missing; the reported ones are 95%)."""
    r = fitted.rejections
    assert set(r) == {"PerpMargin", "Oracle"}  # BadAloPx (the book's doing) is the twin's own rule: not fitted
    for reason, truth in (("PerpMargin", 0.02), ("Oracle", 0.01)):
        lo, hi = wilson(r[reason].count, r[reason].n, level=0.999)
        assert lo <= truth <= hi and r[reason].count > 10 and r[reason].lo > 0.0
    # each over the places the venue could refuse with it: a margin refusal only those adding to the position
    assert r["PerpMargin"].n < r["Oracle"].n == fitted.observations.eligible
    t = fitted.transport
    lo, hi = wilson(t.count, t.n, level=0.999)
    assert lo <= 0.005 <= hi and t.count > 0
    h = fitted.hazard_per_hour
    lo, hi = poisson_rate(h.count, fitted.observations.connected_s / 3600.0, level=0.999)
    assert lo <= 10.0 <= hi and h.count >= 10 and h.lo <= h.rate <= h.hi
    assert fitted.outage_median_s == pytest.approx(4.0, rel=0.3) and fitted.outage_sigma == pytest.approx(0.5, abs=0.2)
    o = fitted.outages
    assert o.n >= 10 and o.median_lo <= 4.0 <= o.median_hi and o.sigma_lo <= 0.5 <= o.sigma_hi
    # the fitted parameters are a TwinParams the agent can run against
    p = fitted.params
    assert p.latency.order_entry == p.latency.response == fitted.latency.leg
    assert p.rejections.rates == {"PerpMargin": r["PerpMargin"].rate, "Oracle": r["Oracle"].rate}
    assert p.connection.hazard_per_hour == h.rate


def test_a_feed_fit_on_a_short_run_does_not_collapse_a_component_onto_one_lag():
    """A 70 s live run against twin serve gave 123 book updates (42 held behind a frame), one lag 575 ms among
    exact ones of median 41 ms. The censored fit's search, its sigmas unfloored, narrowed the spike onto that one
    lag (sigma 5.5e-322: a mixture's likelihood grows without bound so) and left the body anywhere: median 2.1 ms,
    sigma 6.5, and the fitted twin's agent reached Kill in its third minute. Floored as the EM's are (1e-3), the body
    is the lags'. Here: 80 exact lags of 40 ms (sigma 0.35) and the one 575 ms, and 42 upper bounds, on 10 seeds."""
    for seed in range(10):
        rng = np.random.default_rng(seed)
        exact = np.append(np.exp(rng.normal(math.log(40.0), 0.35, 80)), 575.0)
        bound = np.exp(rng.normal(math.log(150.0), 0.8, 42))
        leg = fit_feed(np.concatenate([exact, bound]) / 1000.0,
                       np.r_[np.zeros(len(exact), dtype=bool), np.ones(len(bound), dtype=bool)]).leg
        assert leg.spike_sigma >= 1e-3 and leg.sigma >= 1e-3, (seed, leg)
        assert 30.0 < leg.median_ms < 50.0 and leg.sigma < 0.6, (seed, leg)  # (seed 6 was 20.1 ms, sigma 1.16)


def _bulk_beside_a_wide_part(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Book-update lags (s) and which are held, in the shape a served run's lags had: a bulk (40 ms, sigma 0.4), a
    wide part around it (15 ms, sigma 1.2: clocks and the host's reading), a few slow exact ones, and held ones."""
    rng = np.random.default_rng(seed)
    exact = np.concatenate([np.exp(rng.normal(math.log(45.0), 0.4, 200)), np.exp(rng.normal(math.log(15.0), 1.2, 30)),
                            np.exp(rng.normal(math.log(300.0), 0.5, 10))])
    bound = np.exp(rng.normal(math.log(300.0), 0.9, 140))
    return np.r_[exact, bound] / 1000.0, np.r_[np.zeros(len(exact), dtype=bool), np.ones(len(bound), dtype=bool)]


def test_a_feed_fit_whose_spike_part_took_the_majority_is_refitted_with_the_spike_the_slow_minority_and_said(
        tmp_path, capsys):
    """A 180 s live run against twin serve with chaos fitted "body median 21.0 ms, sigma 1.341; spikes 86.57%": the
    censored fit's two parts, ordered by their means, made a wide fast part the body and the bulk of the lags the
    spikes, and the fitted twin's replay showed a p95 book-update lag of 107 ms against 298 ms seen. The twin's
    model is a body and a slow minority of spikes. Lags in that shape fitted spikes of 67-83% on these seeds (body
    medians 27-32 ms for a bulk at 45 ms); now the spike part is held the slower minority, the body is the bulk, and
    the printout, calibration.json and report.html say what was done. A fit already in the twin's shape is kept.
    (Seed 1's free fit was a body and 1.4% spikes, kept as it was, while its search stopped in a local optimum:
    ``test_the_censored_feed_fit_reaches_the_better_optimum_where_one_start_stopped_short``.)"""
    from calibration.__main__ import _say
    from calibration.fit import fit_censored_mixture, fit_latency
    from calibration.report import write_report
    for seed in (0, 1, 2, 3, 4):
        lag, held = _bulk_beside_a_wide_part(seed)
        f = fit_feed(lag, held)
        leg = f.leg
        assert 0.0 < leg.spike_prob <= 0.5 and leg.spike_median_ms >= leg.median_ms, (seed, leg)
        assert leg.median_ms == pytest.approx(45.0, rel=0.1), (seed, leg)
        assert "refitted with the spike part held the slower minority" in f.roles, (seed, f.roles)
    lag, held = _twin_feed(0)  # (a body and 4.7% spikes at 900 ms: kept as it was)
    x = np.log(lag * 1000.0)
    f = fit_feed(lag, held)
    assert f.roles == "" and (f.body_mu, f.body_sigma, f.spike_prob, f.spike_mu, f.spike_sigma) == \
        fit_censored_mixture(x[~held], x[held], spike_prior=True) and f.spike_prob < 0.1
    # round trips alike (their spike share was 82%, each leg's 57%)
    rng = np.random.default_rng(2)
    rt = np.concatenate([np.exp(rng.normal(math.log(130.0), 0.3, 400)), np.exp(rng.normal(math.log(60.0), 1.2, 80))])
    lat = fit_latency(rt / 1000.0)
    assert lat.spike_prob <= 0.5 and lat.spike_mu >= lat.body_mu and lat.leg.spike_prob <= 0.3 and lat.roles
    # said
    lag, held = _bulk_beside_a_wide_part(0)
    obs = Observations(np.zeros(0), 0, 0, {}, 0, 0, lag, 0, np.zeros(0), 3600.0, 3600.0, feed_held=held)
    f = fit(obs)
    s = write_report(f, tmp_path / "out", "hand-made", np.random.default_rng(0))
    saved = json.loads((tmp_path / "out" / "calibration.json").read_text())
    assert saved["feed"]["roles_held"] == f.feed.roles and "75% of the lags in its slower part" in f.feed.roles
    assert "75% of the lags in its slower part" in (tmp_path / "out" / "report.html").read_text()
    _say(s, obs, f, None, tmp_path / "out", False)
    assert f"feed latency: {f.feed.roles}" in capsys.readouterr().out


def _twin_feed(seed: int, n: int = 3000, leg: dict = FEED) -> tuple[np.ndarray, np.ndarray]:
    """Book-update lags (s) and which are held, as the twin makes them: pushes about 10 a second, each with a
    latency the twin's own sampler draws on FEED, delivered in order (one arrives no sooner than the one before it),
    held where it arrived within ``HELD_WITHIN_S`` of the one before it (about half of them)."""
    from calibration.fit import sample_leg
    from calibration.observe import HELD_WITHIN_S
    rng = np.random.default_rng(seed)
    sent = np.cumsum(rng.exponential(0.1, n))
    arrived = np.maximum.accumulate(sent + sample_leg(PathLatencyParams(**leg), n, rng))
    return arrived - sent, np.r_[False, np.diff(arrived) <= HELD_WITHIN_S]


def _mixture_nll(p: tuple, exact: np.ndarray, at_most: np.ndarray) -> float:
    """The censored fit's negative log-likelihood, written as it reads (scipy's densities, not the fit's own)."""
    from scipy import stats
    m1, s1, w, m2, s2 = p
    pdf = (1.0 - w) * stats.norm.pdf(exact, m1, s1) + w * stats.norm.pdf(exact, m2, s2)
    cdf = (1.0 - w) * stats.norm.cdf(at_most, m1, s1) + w * stats.norm.cdf(at_most, m2, s2)
    return -float(np.log(pdf).sum() + np.log(cdf).sum())


@pytest.mark.parametrize("seed", range(6))
def test_the_censored_fits_likelihood_and_gradient_are_the_mixtures(seed):
    """calibration.fit._mixture_nll, which the BFGS searches follow, at random points and samples (exact and held
    values, parts near and far apart, sigmas near the floor and wide): its value is the mixture's negative
    log-likelihood as scipy's densities give it, and its gradient the value's central differences. A wrong term in
    the hand-written gradient would leave BFGS searching on a slope that is not there; only the fit's optima showed
    it before."""
    from scipy import optimize
    from calibration.fit import _SIGMA_FLOOR, _mixture_nll as fit_nll
    rng = np.random.default_rng(seed)
    x = np.r_[rng.normal(3.7, 0.4, 300), rng.normal(6.5, 0.3, 20)]
    held = rng.random(len(x)) < (0.0 if seed == 0 else 0.4)
    for _ in range(5):
        th = np.array([rng.normal(3.8, 0.5), rng.uniform(-3.0, 0.5), rng.normal(0.0, 2.0), rng.normal(5.5, 1.0),
                       rng.uniform(-3.0, 0.5)])
        val, grad = fit_nll(th, x[~held], x[held])
        m1, u1, t, m2, u2 = th
        point = (m1, _SIGMA_FLOOR + math.exp(u1), 1.0 / (1.0 + math.exp(-t)), m2, _SIGMA_FLOOR + math.exp(u2))
        assert val == pytest.approx(_mixture_nll(point, x[~held], x[held]), rel=1e-9), (seed, th)
        numeric = optimize.approx_fprime(th, lambda v: fit_nll(v, x[~held], x[held])[0], 1e-6)
        assert grad == pytest.approx(numeric, rel=1e-4, abs=1e-3 * max(1.0, float(np.abs(numeric).max()))), (seed, th)


def test_the_censored_feed_fit_reaches_the_better_optimum_where_one_start_stopped_short():
    """Started from EM on the exact lags alone, the censored fit's search stopped in a local optimum on two of the
    seeded samples above: a body and 1.4% (1.1%) spikes at 374 (432) ms, a negative log-likelihood of 273.8 (285.3),
    where a narrow bulk with a wide part around it has 232.1 (238.2); the free fit then looked already in the twin's
    shape, and the wide part was taken for the body (sigma 0.69 and 0.72 for a bulk of 0.4). It starts from that
    core and wide part too now: the better optimum, within 0.01 of the best of 40 random starts' (8 of 30 seeds were
    so; checked once, not here: 40 searches a sample). On a twin-like feed (the twin's own draws, held in order) the
    leg drawn is recovered, and the fit is the one before (the EM's start was the better there)."""
    from calibration.fit import fit_censored_mixture
    better = {1: ((3.4284, 1.1829, 0.66688, 3.7796, 0.29221), 232.114),
              5: ((3.5113, 1.4377, 0.77964, 3.7581, 0.36828), 238.161)}
    stopped = {1: (3.623, 0.689, 0.014, 5.923, 0.085), 5: (3.676, 0.72, 0.011, 6.069, 0.106)}
    for seed, (point, at) in better.items():
        lag, held = _bulk_beside_a_wide_part(seed)
        x = np.log(lag * 1000.0)
        got = fit_censored_mixture(x[~held], x[held])
        nll = _mixture_nll(got, x[~held], x[held])
        assert nll == pytest.approx(at, abs=0.01) and nll <= _mixture_nll(point, x[~held], x[held]) + 1e-6, (seed, got)
        assert got == pytest.approx(point, abs=2e-3), seed
        assert _mixture_nll(stopped[seed], x[~held], x[held]) > nll + 30.0  # (the old stop: 273.8, 285.3)
    for seed in range(4):
        lag, held = _twin_feed(seed)
        assert 0.4 < held.mean() < 0.6
        f = fit_feed(lag, held)
        leg = f.leg
        assert leg.median_ms == pytest.approx(150.0, rel=0.03) and leg.sigma == pytest.approx(0.4, abs=0.015), seed
        assert leg.spike_prob == pytest.approx(0.05, abs=0.01) and leg.spike_median_ms == pytest.approx(900, rel=0.03)
        assert leg.spike_sigma == pytest.approx(0.3, abs=0.03) and f.roles == "", seed


def _twin_round_trips(leg: dict, n: int, seed: int) -> np.ndarray:
    """Round trips (s) as the twin makes them: two legs (order entry, response) each drawn by its own sampler."""
    from calibration.fit import sample_round_trips
    return sample_round_trips(PathLatencyParams(**leg), n, np.random.default_rng(seed))


def _parts_in_use(f) -> list[float]:
    return [f.body_sigma] + ([f.spike_sigma] if f.spike_prob > 0 else [])


def test_a_short_or_spikeless_sample_fits_no_part_collapsed_onto_a_few_lags_and_one_part_where_two_do_not_pay(
        tmp_path, capsys):
    """A two-part normal mixture's likelihood grows without bound as a part narrows onto a few values, and the 1e-3
    floor on its sigma still let such a part win with no meaning. On the twin's own draws (seeds 0-29): feeds of 300
    book updates with no spikes (150 ms, sigma 0.4, held in order) fitted a second part on every seed, 7 of them at
    sigma 0.001-0.005 on a few lags, spike shares up to 50% and the body's median up to 27% off; round trips of 150
    with no spikes likewise (4 under sigma 0.01, shares up to 15%); 60 round trips of the usual legs (3% spikes) one
    spike part at sigma 0.002 on two round trips. Now each part's sigma has a prior that vanishes as it narrows
    (MAP: ``_SIGMA_PRIOR``) and one normal is fitted where the second part betters its log-likelihood by less than
    BIC asks of its three parameters, and said."""
    from calibration.__main__ import _say
    from calibration.fit import _SIGMA_PRIOR, fit_latency
    from calibration.report import write_report
    nospike_feed, nospike_leg = {**FEED, "spike_prob": 0.0}, {**LEG, "spike_prob": 0.0}
    said = 0
    for seed in range(30):
        lag, held = _twin_feed(seed, 300, nospike_feed)
        f = fit_feed(lag, held)
        assert f.spike_prob == 0.0 and f.leg.spike_prob == 0.0, (seed, f)
        assert abs(math.log(f.leg.median_ms / 150.0)) < 0.08 and f.leg.sigma == pytest.approx(0.4, abs=0.04), seed
        said += "one part chosen over two" in f.parts
        lat = fit_latency(_twin_round_trips(nospike_leg, 150, seed))
        assert lat.spike_prob == 0.0 and lat.leg.spike_prob == 0.0, (seed, lat)
        assert abs(math.log(lat.leg.median_ms / 80.0)) < 0.05 and lat.leg.sigma == pytest.approx(0.3, abs=0.05), seed
        short = fit_latency(_twin_round_trips(LEG, 60, seed))
        assert min(_parts_in_use(short)) > _SIGMA_PRIOR / 2.0, (seed, short)  # (seed 19's spike part was 0.0021)
        assert abs(math.log(short.leg.median_ms / 80.0)) < 0.08 and abs(short.leg.spike_prob - 0.03) < 0.06, seed
    assert said == 30  # (every seed's two-part fit had a second part: refused, and said)
    # said: the printout, calibration.json and report.html
    lag, held = _twin_feed(8, 300, nospike_feed)
    rt = _twin_round_trips(nospike_leg, 150, 8)
    obs = Observations(rt, 150, 150, {}, 150, 0, lag, 0, np.zeros(0), 3600.0, 3600.0, feed_held=held)
    f = fit(obs)
    s = write_report(f, tmp_path / "out", "hand-made", np.random.default_rng(0))
    saved = json.loads((tmp_path / "out" / "calibration.json").read_text())
    assert saved["feed"]["one_part"] == f.feed.parts and "of the lags" in f.feed.parts
    assert saved["latency"]["one_part"] == f.latency.parts and "of the round trips" in f.latency.parts
    page = (tmp_path / "out" / "report.html").read_text()
    assert "One part chosen over two" in page and page.count("no spikes") == 2
    _say(s, obs, f, None, tmp_path / "out", False)
    out = capsys.readouterr().out
    assert f"feed latency: {f.feed.parts}" in out and f"latency: {f.latency.parts}" in out


def test_bic_weighs_the_two_part_fit_that_is_kept_not_the_free_one_whose_roles_were_then_held():
    """One part or two was chosen on the free two-part fit, and ``hold_roles`` then replaced a free fit whose slower
    part took the majority by one held in the twin's roles, which fits worse: what was kept had not paid what BIC
    asks. On the twin's spikeless feeds of 150 book updates (seeds 0-29), seed 17's free fit (70% in a slower part)
    bettered one log-normal by 7.97 for the 7.52 asked, and was kept, held: 50% "spikes" at the body's median, the
    body's sigma 0.13 for 0.4. Its held fit betters one log-normal by 5.58: one part now, and both said (each saying
    reaches the printout, calibration.json and report.html as the tests above show). And the held search itself
    overflowed (math.exp) on such free fits of 50-150 spikeless lags (74-97% in the slower part)."""
    from calibration.fit import fit_censored_mixture, hold_roles
    nospike_feed = {**FEED, "spike_prob": 0.0}
    for seed in range(30):
        f = fit_feed(*_twin_feed(seed, 150, nospike_feed))
        assert f.spike_prob == 0.0 and f.leg.spike_prob == 0.0, (seed, f)
        assert f.leg.sigma == pytest.approx(0.4, abs=0.07) and abs(math.log(f.leg.median_ms / 150.0)) < 0.1, (seed, f)
        if seed == 17:
            assert "70% of the lags in its slower part" in f.roles and "a second part (50.0% of the lags" in f.parts
    for n, seed in ((50, 13), (60, 9), (150, 16)):
        lag, held = _twin_feed(seed, n, nospike_feed)
        x = np.log(lag * 1000.0)
        free = fit_censored_mixture(x[~held], x[held])
        assert free[2] > 0.7, (n, seed)
        kept, said = hold_roles(x[~held], x[held], free, "lags")
        assert 0.0 < kept[2] <= 0.5 and kept[3] >= kept[0] and said, (n, seed, kept)


def test_a_spike_part_of_two_or_three_round_trips_has_its_sigma_drawn_to_the_legs_body_not_left_to_them():
    """60 round trips of legs with 2-3% spikes hold two to four spiked ones, whose scatter barely tells the spike
    part's sigma: on the twin's draws (seeds 0-29) it came out 0.035-0.77 for legs of 0.4 (the test's) and 0.05-0.92
    for 0.5 (the twin's defaults), a mean error of 0.175 and 0.268 (over the 29 and 24 seeds fitted two parts). The
    EM now adds one value at the leg's body sigma to the spike part's scatter (as much as one spiked round trip more):
    0.16-0.67 and 0.17-0.68, mean errors 0.140 and 0.192; 2,000 round trips' spike parts move by 0.0006 on average."""
    from calibration.fit import fit_latency
    default = {**PathLatencyParams().model_dump(), "burst_rate_per_hour": 0.0}  # (60 ms, 0.35; 2% at 400 ms, 0.5)
    for leg, mean_error in ((LEG, 0.155), (default, 0.22)):
        errors = []
        for seed in range(30):
            f = fit_latency(_twin_round_trips(leg, 60, seed))
            if f.spike_prob > 0.0:
                # (seed 19: 0.035 of 0.4; 0.768 at seed 0; the leg's less the other leg's body since 7 December:
                # 0.178-0.745 and 0.192-0.769, mean errors 0.131 and 0.171)
                assert 0.15 < f.leg.spike_sigma < 0.8, (seed, leg, f)
                errors.append(abs(f.leg.spike_sigma - leg["spike_sigma"]))
        assert len(errors) >= 24 and np.mean(errors) < mean_error, (leg, np.mean(errors))
    for seed in range(3):  # a spike part of 120 round trips is its own
        f = fit_latency(_twin_round_trips(LEG, 2000, seed))
        assert f.leg.spike_sigma == pytest.approx(0.4, abs=0.05) and f.leg.spike_prob == pytest.approx(0.03, abs=0.007)


def test_a_legs_spike_sigma_is_the_spiked_round_trips_less_the_other_legs_body_and_is_reported_so(tmp_path):
    """A spiked round trip is one leg's spike and the other leg's body, so the round trips' spike part has a sum's
    sigma, not the leg's: LEG's spikes of 0.4 over its body of 80 ms, sigma 0.3, make a part of 0.35. That part's
    sigma was set as the leg's, in twin_params.json and in report.html's "spikes ... of legs, ..., sigma": 2,000
    round trips of LEG (seeds 0-29) read a median 0.356 for 0.4, the twin's default legs 0.446 for 0.5, and the
    calibration test's two-hour run 0.360 for 0.4 (fails on 9804079: 0.356 and 0.446 here, 0.346 in the report).
    Now the part's mean and variance less the other leg's body's (Fenton-Wilkinson, inverted): 0.404 and 0.495."""
    from calibration.fit import _leg_less, fit_latency
    from calibration.report import write_report

    def moments(median: float, sigma: float) -> tuple[float, float]:
        mean = median * math.exp(sigma * sigma / 2)
        return mean, (math.exp(sigma * sigma) - 1) * mean * mean
    (a, va), (b, vb) = moments(500.0, 0.4), moments(80.0, 0.3)  # a spike leg and a body leg, summed
    s2 = math.log1p((va + vb) / (a + b) ** 2)
    mu, sigma = math.log(a + b) - s2 / 2, math.sqrt(s2)
    assert sigma == pytest.approx(0.352, abs=0.001)  # (the part's: not the leg's 0.4)
    assert _leg_less(mu, sigma, math.log(80.0), 0.3) == pytest.approx((math.log(500.0), 0.4))
    default = {**PathLatencyParams().model_dump(), "burst_rate_per_hour": 0.0}  # (60 ms, 0.35; 2% at 400 ms, 0.5)
    for leg in (LEG, default):
        got = [fit_latency(_twin_round_trips(leg, 2000, seed)).leg.spike_sigma for seed in range(30)]
        assert np.median(got) == pytest.approx(leg["spike_sigma"], abs=0.02), (leg, np.median(got))
    f = fit(Observations(_twin_round_trips(LEG, 2000, 0), 2000, 2000, {}, 2000, 0, np.zeros(0), 0, np.zeros(0),
                         3600.0, 3600.0))
    assert f.latency.spike_sigma == pytest.approx(0.346, abs=0.001)  # (the round trips' part, as the seed draws it)
    assert f.latency.leg.spike_sigma == pytest.approx(0.392, abs=0.001)
    assert f.params.latency.order_entry == f.latency.leg
    write_report(f, tmp_path / "out", "hand-made", np.random.default_rng(0))
    page = (tmp_path / "out" / "report.html").read_text()
    assert re.search(r"spikes 3\.03% of legs, median [0-9]+ ms, sigma 0\.392\b", page), page[:2000]
    assert "0.346" not in page


def _round_trips_beside_a_wide_part(seed: int, n: int = 150) -> np.ndarray:
    """Round trips (s) of the twin's LEG, a fifth of them replaced by a wide faster part (80 ms, sigma 1: a host's
    clock and reading, as the served run's feed lags had it): the free fit orders its parts by their means, the wide
    one first, and its "spikes" are the bulk; the roles are held (``hold_roles``) on about half the seeds."""
    rt = _twin_round_trips(LEG, n, seed)
    k = n // 5
    return np.r_[rt[k:], np.exp(np.random.default_rng(10_000 + seed).normal(math.log(80.0), 1.0, k)) / 1000.0]


def test_the_held_round_trip_fit_has_the_spike_parts_prior_the_free_one_has():
    """ae1f268 put the round trips' spike part under one value more at the leg's body sigma in the EM (the free
    fit), and left the fit with the roles held (``_held_mixture``) without it: what was kept where the roles were held
    was not the posterior the free fit was, and on one of 15 held seeds of 150 round trips beside a wide part
    (``_round_trips_beside_a_wide_part``, seeds 0-29) the held search ended on the flipped roles still, a "spike" of
    50% at sigma 0.18 (the bulk) under a body of sigma 1.21 (the wide part): the leg's sigma 1.21 for 0.3, the KS
    distance of the round trips drawn from it 0.167. Under the prior (log b + s²/(2 b²), s the leg's body sigma from
    the body's, b the spike's) a narrow spike under a wide body pays for it: that seed's body is the bulk (sigma 0.27,
    KS 0.071), and every held seed's leg sigma is within 0.04 of 0.3 (before: 0.91 off at most, 0.083 on average;
    now 0.024)."""
    from calibration.fit import fit_latency
    held = 0
    for seed in range(30):
        f = fit_latency(_round_trips_beside_a_wide_part(seed))
        if f.roles:
            held += 1
            assert f.leg.sigma == pytest.approx(0.3, abs=0.06) and f.spike_sigma > f.body_sigma, (seed, f)
    assert held >= 12, held


def test_a_feeds_spike_part_of_a_few_updates_has_its_sigma_drawn_to_the_body_not_left_to_them():
    """150 book updates of a feed with 2-5% spikes hold three to eight spiked ones (fewer seen exactly: about half
    are held), and the censored fit took the spike part's sigma from them alone: on the twin's draws (in order,
    held; seeds 0-29) 0.13-0.60 for a leg of 0.3 (the tests' FEED) and 0.05-1.08 for 0.5 (the twin's shipped feed:
    40 ms, 0.35; 2% at 400 ms, 0.5), mean errors 0.092 and 0.297 over the 28 and 26 seeds fitted two parts. The
    round trips' EM has had one value more at the leg's body sigma in the spike part's scatter (ae1f268); the feed's
    fit now ends its search with that term too, where its spike part is the slower minority (the body's sigma:
    the feed is one leg): 0.20-0.53 and 0.18-0.89, mean errors 0.070 and 0.203 (400 updates: 0.062 -> 0.049 and 0.220
    -> 0.155); 3,000 updates move by 0.0003 and 0.001 (closer), spikeless feeds not at all."""
    shipped = {**PathLatencyParams().model_dump(), "median_ms": 40.0, "burst_rate_per_hour": 0.0}
    for leg, mean_error in ((FEED, 0.08), (shipped, 0.24)):
        errors = []
        for seed in range(30):
            f = fit_feed(*_twin_feed(seed, 150, leg))
            if f.spike_prob > 0.0:
                assert 0.15 < f.leg.spike_sigma < 0.95, (seed, leg, f)  # (0.132 and 0.050; 1.083)
                errors.append(abs(f.leg.spike_sigma - leg["spike_sigma"]))
        assert len(errors) >= 26 and np.mean(errors) < mean_error, (leg, np.mean(errors))


def test_the_markets_first_order_statistics_are_recovered_from_the_feed():
    """A one-regime market of known volatility, trade flow, depth and spread (no jumps, alpha or impact,
    which the fit leaves to the base), seen through the agent's feed for an hour."""
    mk = {"vol_calm_per_sqrt_s": 1.2e-4, "calm_to_stressed_per_s": 0.0, "jump_rate_calm_per_s": 0.0,
          "trade_rate_calm_per_s": 6.0, "trade_size_median": 0.05, "trade_size_log_std": 1.0, "depth_at_touch": 0.8,
          "depth_growth_per_level": 0.3, "depth_noise_log_std": 0.35, "half_spread_ticks_calm": 1.0,
          "alpha_std_per_s": 0.0, "impact_bps": 0.0}
    truth = TwinParams.model_validate({"markets": {"BTC": mk}})
    f = fit(observed_run(CFG, 3, truth, 3600.0)[1])
    m = f.market
    assert m.coin == "BTC" and m.updates > 6600  # a push every 0.5 s and a part of a 70 ms block: ~6,730 an hour
    assert m.vol_per_sqrt_s == pytest.approx(1.2e-4, rel=0.08)
    assert m.trade_rate_per_s.lo <= 6.0 <= m.trade_rate_per_s.hi
    assert m.trade_size_median == pytest.approx(0.05, rel=0.05) and m.trade_size_log_std == pytest.approx(1.0, abs=0.05)
    assert m.depth_at_touch == pytest.approx(0.8, rel=0.05) and m.depth_growth_per_level == pytest.approx(0.3, abs=0.03)
    assert m.depth_noise_log_std == pytest.approx(0.35, abs=0.05) and m.half_spread_ticks == pytest.approx(1.0, abs=0.25)
    btc = f.params.markets["BTC"]
    assert (btc.vol_calm_per_sqrt_s, btc.trade_rate_calm_per_s, btc.depth_at_touch) == \
        (m.vol_per_sqrt_s, m.trade_rate_per_s.rate, m.depth_at_touch)
    assert m.regimes is not None and not m.regimes.separated  # one regime: its switching is left to the base
    assert f.informed is not None and f.informed.lo <= 0.15 <= f.informed.hi  # the base's share, fitted
    assert btc.informed_share == f.informed.share


def test_a_quiet_market_whose_mid_mostly_repeats_has_its_volatility_recovered_not_zero():
    """Volatility 8e-6 per √s on a $1 tick at $100k: more than half the book updates repeat the mid (as a coarse
    tick, or the venue's size-only pushes, do). A median of per-update returns read that as a volatility of 0,
    written into the fitted twin without a word; the grid's bipower variation recovers it."""
    mk = {"vol_calm_per_sqrt_s": 8e-6, "calm_to_stressed_per_s": 0.0, "jump_rate_calm_per_s": 0.0,
          "alpha_std_per_s": 0.0, "impact_bps": 0.0, "book_interval_s": 0.1}
    truth = TwinParams.model_validate({"markets": {"BTC": mk}, "connection": {"hazard_per_hour": 0}})
    obs = observed_run(SHADOW, 1, truth, 1800.0)[1]
    assert (np.diff(np.log(obs.mid)) == 0.0).mean() > 0.5
    m = fit(obs).market
    assert m.vol_per_sqrt_s == pytest.approx(8e-6, rel=0.15)


def test_a_market_that_switches_regimes_has_its_two_volatilities_and_switching_rates_recovered():
    """Calm and stressed spells (some 14 switches in four hours, a stressed fifth of the time), seen through
    the feed at Shadow: the two-state fit of the mid's returns finds each regime's volatility (the calm one
    with the informed flow's impact on top, the stressed one with its jumps), how often the market switches,
    and the stressed share of the time; the fitted market carries them."""
    mk = {"calm_to_stressed_per_s": 1 / 1200, "stressed_to_calm_per_s": 1 / 400}
    truth = TwinParams.model_validate({"markets": {"BTC": mk}, "connection": {"hazard_per_hour": 0}})
    end = 4 * 3600.0
    ex, obs = observed_run(SHADOW, 1, truth, end)
    switches = [t for t in ex.markets["BTC"]._switch_times if t < end]
    stressed = sum(b - a for a, b in zip(switches[0::2], switches[1::2] + [end])) / end
    f = fit(obs)
    r = f.market.regimes
    assert len(switches) >= 10 and r.separated
    assert r.vol_calm_per_sqrt_s == pytest.approx(8.5e-5, rel=0.1)
    assert r.vol_stressed_per_sqrt_s == pytest.approx(2.5e-4, rel=0.2)
    assert r.stressed_share == pytest.approx(stressed, abs=0.02)
    assert 0.5 < r.calm_to_stressed_per_s * 1200 < 2.0 and 0.5 < r.stressed_to_calm_per_s * 400 < 2.0
    btc = f.params.markets["BTC"]
    assert (btc.vol_calm_per_sqrt_s, btc.vol_stressed_per_sqrt_s, btc.calm_to_stressed_per_s,
            btc.stressed_to_calm_per_s) == (r.vol_calm_per_sqrt_s, r.vol_stressed_per_sqrt_s,
                                            r.calm_to_stressed_per_s, r.stressed_to_calm_per_s)
    # the trades a second, split so that the calm and stressed rates keep the base's ratio and average to the seen
    base = TwinParams().markets["BTC"]
    ratio = base.trade_rate_stressed_per_s / base.trade_rate_calm_per_s
    assert btc.trade_rate_stressed_per_s == pytest.approx(btc.trade_rate_calm_per_s * ratio)
    assert btc.trade_rate_calm_per_s * (1 - r.stressed_share + r.stressed_share * ratio) == \
        pytest.approx(f.market.trade_rate_per_s.rate)


def _reach_truth(k: float) -> TwinParams:
    return TwinParams.model_validate({"markets": {"BTC": {"depth_decay_per_usd": k}},
                                      "connection": {"hazard_per_hour": 0}})


@functools.cache
def reach_run(seed: int, k: float, seconds: float):
    """A Shadow session on a market of reach ``k`` (``_reach_truth``): the exchange, its events, and what observe
    makes of them (as ``observed_run``). Cached: tests that read the same run share it (none changes it)."""
    ex, events = session_events(SHADOW, seed, _reach_truth(k), seconds)
    return ex, events, observe(events, session_core(SHADOW, seed, 1.0, 5), venue_epoch_s=ex.epoch_ms / 1000.0)


def _offsets(obs: Observations) -> np.ndarray:
    """Each market print's distance past the touch seen on its side, in ticks ($1 for BTC)."""
    d = obs.trade_side * (obs.trade_px - obs.trade_touch)
    return np.rint(d[np.isfinite(d)])


def test_a_long_reach_is_recovered_from_the_prints_and_the_fitted_twin_prints_as_far():
    """depth_decay_per_usd 0.2 ($5 reach): each market print's price against the touch on its side as the feed last
    showed it (bbo or book). A third of the prints are seen against a touch the mid has since moved (the bbo comes
    at blocks, the mid steps on its own 0.1 s grid): the fit takes that staleness out, and its interval covers the
    truth. The twin set to the fitted k and run again prints as far past the touch seen as the run did."""
    from calibration.fit import fit_market

    obs = reach_run(1, 0.2, 600.0)[2]
    assert np.isfinite(obs.trade_touch).mean() > 0.99
    m = fit_market(obs, TwinParams().markets["BTC"], 1.0)
    r = m.reach
    assert r.n > 2000 and r.lo <= 0.2 <= r.hi and r.hi / r.lo < 1.3 and not r.why
    assert 0.2 < r.stale_share < 0.4
    assert m.market.depth_decay_per_usd == r.k
    # the fitted k replayed (another seed): the prints past the touch seen, and how far, as the run's
    seen = _offsets(obs)
    again = _offsets(observed_run(SHADOW, 2, _reach_truth(r.k), 600.0)[1])
    assert (again >= 1).mean() == pytest.approx((seen >= 1).mean(), abs=0.03)
    assert again[again >= 1].mean() == pytest.approx(seen[seen >= 1].mean(), rel=0.08)
    # the check can fail: the base's reach ($0.5) prints past the touch seen far less often, and less far
    base = _offsets(reach_run(2, 2.0, 600.0)[2])
    assert (base >= 1).mean() < (seen >= 1).mean() - 0.3 and base[base >= 1].mean() < seen[seen >= 1].mean() - 2


def _swept(events: list, obs: Observations) -> list:
    """The run's events as the venue prints them: the twin's aggressor prints once, at the deepest price it reached;
    the venue's prints once a maker it met, each at its own level, under its order's hash. Each market print
    ``past`` steps past the touch seen (obs, observed from ``events``) becomes a sweep of the levels from that touch
    to it, its size split among them, its own print the last."""
    from agent.gateway.events import TradeObserved
    from agent.gateway.fills import TID_BITS, fill_key

    out, i = [], 0
    for e in events:
        if type(e) is not TradeObserved:
            out.append(e)
            continue
        past = obs.trade_side[i] * (obs.trade_px[i] - obs.trade_touch[i])
        steps = int(round(past)) if math.isfinite(past) and past >= 1 else 0
        ms, tid = e.tid >> TID_BITS, e.tid & ((1 << TID_BITS) - 1)
        h = f"0x{i + 1:064x}"  # (not the hash of zeros, which names no transaction)
        for j in range(steps):
            out.append(dataclasses.replace(e, px=obs.trade_touch[i] + e.side.value * j, sz=e.sz / (steps + 1),
                                           tid=fill_key(ms, (tid + j + 1) % (1 << 50)), hash=h))
        out.append(dataclasses.replace(e, sz=e.sz / (steps + 1), hash=h))
        i += 1
    return out


def test_a_sweeps_prints_are_one_aggressor_whose_reach_is_its_deepest_print():
    """The venue prints one trade per maker–taker pair (hyperliquid.md: the trades channel's ``hash``, ``users``):
    an aggressor sweeping three levels prints three times, each at its level, where the twin's prints once at the
    deepest. The run of the long reach (0.2 per USD, 4 aggressors a second) printed as the venue would: the prints
    under one hash are one aggressor, of their summed size, reaching its deepest print: the market observed is the
    twin's own, and the fits cover the truth. Read one aggressor a print (the hash not known: a journal written
    before it was carried), a sweep's in-between prints were short reaches and small trades: k itself barely moved
    (a geometric's prefixes count geometrically, at the same ratio) but its interval, from 5 times the prints, was
    2.6 times narrower and missed the truth, the touch seen read 7% stale for 31%, and the trades 20.5 a second of
    median size 0.0038 for 3.9 of 0.029."""
    from agent.gateway.events import TradeObserved
    from calibration.fit import fit_market, fit_reach

    cfg, seed = SHADOW, 1
    ex, events, obs = reach_run(seed, 0.2, 600.0)  # (the long reach's run)

    def seen(evs: list) -> Observations:
        return observe(evs, session_core(cfg, seed, 1.0, 5), venue_epoch_s=ex.epoch_ms / 1000.0)

    assert len(obs.trade_sz) == sum(type(e) is TradeObserved for e in events) > 2000  # (no print of ours)
    swept = _swept(events, obs)
    assert len(swept) - len(events) > 3 * len(obs.trade_sz)  # the prints are mostly a sweep's
    grouped = seen(swept)
    for f in ("trade_sz", "trade_ts", "trade_side", "trade_px", "trade_touch"):
        assert getattr(grouped, f) == pytest.approx(getattr(obs, f), nan_ok=True), f
    base = TwinParams().markets["BTC"]
    r, m = fit_reach(grouped, 1.0), fit_market(grouped, base, 1.0)
    assert r.lo <= 0.2 <= r.hi and r.k == fit_reach(obs, 1.0).k and 0.2 < r.stale_share < 0.4
    assert m.trade_rate_per_s.lo <= 4.0 <= m.trade_rate_per_s.hi and m.trade_size_median == pytest.approx(0.03, rel=0.1)
    # the check can fail: the same prints without their hash, one aggressor each
    blind = seen([dataclasses.replace(e, hash="") if type(e) is TradeObserved else e for e in swept])
    wrong, w = fit_reach(blind, 1.0), fit_market(blind, base, 1.0)
    assert not wrong.lo <= 0.2 <= wrong.hi and wrong.hi - wrong.lo < 0.5 * (r.hi - r.lo) and wrong.stale_share < 0.1
    assert w.trade_rate_per_s.lo > 4 * 4.0 and w.trade_size_median < 0.03 / 4


def test_our_orders_sweep_prints_under_one_hash_and_is_left_out_whole_the_markets_each_one_aggressor():
    """The twin printed a client's order sweeping the book once a level, each print under its own hash, where the
    venue's are all its transaction's: the twin's prints of our sweep, as the agent's gateway gives them, now carry
    one hash, and calibration's grouping by hash (``observe._aggressors``) leaves them out whole (our fills' tids)
    while each of the market's aggressors, under its own, is one trade."""
    from agent.gateway.events import FillReceived, Side, TradeObserved
    from twin.messages import OrderAction, OrderSpec

    ex, _, _, driver = build_session(SHADOW, 3, TwinParams(), event_log=(events := []))
    driver.start()
    ex.env.run(until=60.0)
    replies: list = []
    spec = OrderSpec("BTC", True, ex.best_ask["BTC"] + 5.0, 1.5, tif="Ioc")  # the book's 0.5, 0.6, 0.7...
    ex.submit(USER, OrderAction((spec,)), replies.append)
    ex.env.run(until=120.0)
    assert replies[0].statuses[0].total_sz == 1.5  # (the agent then closes it: its own prints, sells)
    ours = {e.tid for e in events if type(e) is FillReceived}
    prints = [e for e in events if type(e) is TradeObserved]
    sweep = [e for e in prints if e.tid in ours and e.side is Side.BUY]
    assert len(sweep) >= 3 and len({e.hash for e in sweep}) == 1 and sum(e.sz for e in sweep) == pytest.approx(1.5)
    market = [e for e in prints if e.tid not in ours]
    assert len(market) > 50 and len({e.hash for e in market}) == len(market) and sweep[0].hash not in \
        {e.hash for e in market}
    obs = observe(events, session_core(SHADOW, 3, 1.0, 5), venue_epoch_s=ex.epoch_ms / 1000.0)
    assert sorted(obs.trade_sz) == pytest.approx(sorted(e.sz for e in market))


def test_the_reach_is_measured_against_the_markets_touch_not_the_agents_own_quotes():
    """The agent quoting at Full (its orders inside the spread a tenth of the time): a bbo side at its own price is
    no touch of the market's, and is left out. Taken from the last book instead (the market's own, but half a
    second old just when the market had moved off the quote), the default reach of $0.5 fitted 0.31 – 0.48 per USD."""
    from calibration.fit import fit_reach

    obs = observed_run(CFG, 3, _reach_truth(2.0), 900.0)[1]
    assert len(obs.order_distance) > 1000 and (obs.order_distance < 0).any()  # it quoted, inside the spread too
    r = fit_reach(obs, 1.0)
    assert r.n > 3000 and r.lo <= 2.0 <= r.hi


def test_a_short_reach_is_recovered_from_an_hour_of_prints_and_not_from_ten_minutes():
    """depth_decay_per_usd 2 (the default, $0.5 reach on a $1 tick): some 6% of the prints pass the touch, nearly all
    by one tick, under the stale touches' own ±1-tick offsets. An hour's 14,000 prints bound k, and the interval
    covers it, where the offsets past the touch taken as reach (no staleness) read it at 0.58; ten
    minutes' do not bound it from above: the fit keeps the base's and says why. (An hour bounds it on some seeds
    only, 2 of seeds 1-5, seed 4 one of them: on seed 2 the upper end, at 6.2 with each print against the touch that
    arrived last, went unbounded with the prints stamped in a bbo's millisecond measured against the touch before it,
    some 6 in 2,400.)"""
    from calibration.fit import fit_market, fit_reach

    obs = observed_run(SHADOW, 4, _reach_truth(2.0), 3600.0)[1]
    r = fit_reach(obs, 1.0)
    assert r.n > 14_000 and r.lo <= 2.0 <= r.hi and math.isfinite(r.hi) and not r.why
    assert r.beyond_share == pytest.approx(math.exp(-2.0) * (1 - math.exp(-2.0)) / 2.0, abs=0.015)  # the twin's
    past = _offsets(obs)
    past = past[past >= 1]
    naive = -math.log((past - 1).sum() / past.sum())  # the geometric's maximum likelihood, staleness not taken out
    assert naive < r.lo / 2
    short = reach_run(2, 2.0, 600.0)[2]
    m = fit_market(short, TwinParams().markets["BTC"], 1.0)
    assert m.reach.hi == math.inf and "too few reach past the touch" in m.reach.why
    assert m.market.depth_decay_per_usd == TwinParams().markets["BTC"].depth_decay_per_usd
    f = fit(short)
    assert dict(f.kept)["markets.BTC.depth_decay_per_usd"] == m.reach.why
    # the report says it, and that the mid's path under a second (the trade-through loss's) is not calibrated
    from calibration.report import report_files

    summary, texts = report_files(f, "run", np.random.default_rng(0))
    page = texts["report.html"]
    assert f"prints' reach not fitted ({m.reach.why}" in page and summary["market"]["reach"]["hi"] is None
    assert "Not calibrated: the mid's path under a second (book_interval_s 0.1 s" in page
    assert summary["market"]["book_interval_s"] == 0.1


def test_the_markets_spread_and_sizes_are_said_with_their_units_and_the_reachs_counts_once(tmp_path, capsys):
    """Read on a half-hour twin run's report, the market's figures said "half spread 0.00 ticks" of a book one tick
    wide (the twin's half_spread_ticks_calm, half the spread past one tick, as the spread's half), sizes with no unit
    ("median 0.02992", "0.5001 shown at the touch"), and a reach not fitted "(1256 of 6730 prints past the touch
    seen: they do not bound it ...; 1256 of 6730 prints past the touch seen; ...)". Now the median spread with the
    parameter beside it, the sizes in the coin, and the counts once; report.html and the printout alike. Fails at
    06169538."""
    from calibration.__main__ import _say
    from calibration.numbers_text import figure_text
    from calibration.report import report_files
    obs = reach_run(2, 2.0, 600.0)[2]
    f = fit(obs)
    m = f.market
    assert m is not None and m.half_spread_ticks == 0.0 and np.median(obs.spread) == 1.0  # (BTC's one-tick book)
    assert m.reach.why.startswith(f"{m.reach.beyond:,} of {m.reach.n:,} prints past the touch seen: ")
    s, texts = report_files(f, "run", np.random.default_rng(0))
    page = texts["report.html"]
    _say(s, obs, f, None, tmp_path, False)
    out = capsys.readouterr().out
    spread = "median spread 1.00 ticks (the twin's half_spread_ticks_calm 0.00: half the spread past one tick)"
    sizes = f"median {figure_text(m.trade_size_median, 4)} BTC"
    for said in (page, out):
        assert spread in said and "half spread 0.00 ticks" not in said and sizes in said, said
    assert f"and log std {m.trade_size_log_std:.3f}; {figure_text(m.depth_at_touch, 4)} BTC shown at the touch" in page
    assert f"{figure_text(m.depth_at_touch, 4)} BTC at the touch, {spread}" in out, out
    assert page.count("prints past the touch seen") == 2, page  # (the kept list's and the market's, once each)
    assert (f"prints' reach not fitted ({m.reach.why}; {m.reach.beyond_share:.1%} of the prints past the touch in "
            f"force") in page


def test_the_replays_seeds_spread_is_this_replays_own_not_another_configs(five_minutes, tmp_path):
    """report.html said the agent's own path varies from seed to seed "(in the twin, two-hour runs of one
    configuration on different seeds used 3,300 to 7,100 requests an hour)": a figure of another, unnamed
    configuration, beside this run's own replay using 19,420 to 19,920 (fails on BASE). It now gives this replay's
    range over its seeds, or says one seed gives none."""
    _, page, s = five_minutes
    row = next(r for r in s["replay"]["rows"] if r["what"] == "requests used per hour")
    lo, hi = f"{row['replayed_min']:,.0f}", f"{row['replayed_max']:,.0f}"
    assert f"(here, the 2 seeds used {lo} to {hi} requests an hour)" in page, page
    assert "3,300" not in page and "7,100" not in page
    run = run_folder(tmp_path, live_journal_lines(seconds=12.0))
    assert main([str(run), "--quiet", "--replay-hours", "0.01"]) == 0
    page = (run / "calibration" / "report.html").read_text()
    assert "(one seed here: a row's range over seeds needs two or more)" in page and "3,300" not in page


def test_the_replays_rows_say_what_each_share_is_of_and_per_what_hour(five_minutes):
    """The replay's rows said "rejections PerpMargin 0.03607 / 0.03333" (a share of the places adding to the
    position, which the report's table says and the row did not), "requests lost in transport 0.006608 / 0.02439"
    (a share of the requests of places, read as a count of requests) and "disconnects per hour" (per connected hour,
    as the fit's own line in the report says). Each now says it, in the printout, report.html and calibration.json
    alike (fails on BASE)."""
    out, page, s = five_minutes
    whats = [r["what"] for r in s["replay"]["rows"]]
    said = ["rejections Oracle, of places that passed the rules",
            "rejections PerpMargin, of places that passed the rules, adding to the position",
            "lost in transport, of requests of places", "disconnects per connected hour"]
    for what in said:
        assert what in whats, whats
        assert f"; {what} " in out and f"<td>{what}</td>" in page, what
    # every row a share of something said, a rate per something, or in a unit
    units = (", ms", ", bps", " ticks", " a second")
    assert all(", of " in w or "per " in w or w.endswith(units) for w in whats), whats


def test_the_printouts_intervals_standard_errors_and_rates_say_what_they_are(five_minutes):
    """The printout gave "rejections Oracle: 0.01235 (0.005993 – 0.02526)", "disconnects: 0 per hour (0 – 44.3)"
    and "informed flow: 0.154 of the trades (0.125 – 0.183; ...": intervals of no stated level, where the report says
    95% (Wilson, exact Poisson); the disconnects per hour the socket was connected; the markouts "1 s -0.148 bps
    (± 0.037, 478 fills)", a ± read as an interval where it is the standard error, which report.html's table gave
    with no unit. And where the informed flow was not fitted it said nothing, the report "Too few trades to fit the
    informed flow: the base's share kept", which gave no count nor threshold: now the kept line's reason says them
    (fails on 554962d)."""
    out, page, s = five_minutes
    assert re.search(r"^rejections Oracle: [0-9.]+ \(95%: [0-9.]+ – [0-9.]+\), ", out, re.M), out
    assert re.search(r"^disconnects: 0 drops over [0-9]+ s, 0 per connected hour \(95%: 0 – [0-9.]+\)$", out, re.M), out
    assert "±" not in out and re.search(r"^maker fills' markouts: 1 s [-+][0-9.]+ bps \(standard error [0-9.]+, "
                                        r"[0-9,]+ fills\)", out, re.M), out
    assert "<th>standard error, bps</th>" in page
    why = s["kept_from_base"]["markets.BTC.informed_share"]
    assert s["informed"] is None and re.fullmatch(r"1,[0-9]{3} market trades with a mid move over the 5 s after them "
                                                  r"where a fit needs 2,000", why), why
    assert f"\nmarkets.BTC.informed_share: the base's kept ({why})\n" in out and "informed flow" not in out, out
    assert f" The informed flow is not fitted ({why}): the base's share kept. " in page


def test_the_sub_second_paragraph_gives_this_runs_touch_moves_before_the_twins_for_scale(five_minutes, lines,
                                                                                          tmp_path):
    """report.html's "not calibrated" paragraph gave the touch's moves of twin runs measured for the README alone
    ("... the default read 4.4 times by 2.8"), figures that read as this run's. It now gives this run's, seen and
    replayed, first, and says whose the others are; without a replay it says so (fails on BASE)."""
    from calibration.numbers_text import figure_text

    _, page, s = five_minutes
    rows = {r["what"]: r for r in s["replay"]["rows"]}
    moves, ticks = rows["bbo touch moves a second"], rows["bbo touch move, mean ticks"]
    said = (f"(this run: {figure_text(moves['observed'], 4)} moves a second of {figure_text(ticks['observed'], 4)} "
            f"ticks seen, {figure_text(moves['replayed'], 4)} of {figure_text(ticks['replayed'], 4)} replayed, in the "
            f"rows below; for scale, the README's twin runs on the twin's BTC market: watched at Shadow,")
    assert said in page, page
    run = run_folder(tmp_path, lines)
    assert main([str(run), "--quiet", "--replay-hours", "0"]) == 0
    page = (run / "calibration" / "report.html").read_text()
    assert "(this run: no replay, or too few bbo pushes, to set them beside; for scale, the README's" in page


def test_the_printout_gives_each_fill_share_as_the_report_and_the_replays_row_do(five_minutes):
    """The printout read "inside the spread 0.56 (421/747)" where report.html's table and the replay's row gave
    0.5636 for the same share: one figure two ways (fails on BASE)."""
    from calibration.numbers_text import figure_text
    from calibration.report import cell_text
    out, page, s = five_minutes
    rows = {r["what"]: r for r in s["replay"]["rows"]}
    assert s["fills"]["by_distance"]
    for b in s["fills"]["by_distance"]:
        share = figure_text(b["rate"], 4)
        assert f" {b['bucket']} {share} ({b['count']:,} of {b['n']:,})" in out, out
        assert f"<td>{b['bucket']}</td><td>{b['count']:,}</td><td>{b['n']:,}</td><td>{share}</td>" in page, page
        assert cell_text(rows[f"filled, of orders rested {b['bucket']}"]["observed"]) == share


def test_the_markets_trade_rate_is_said_with_its_interval_in_one_wording_by_the_printout_and_the_report(
        five_minutes):
    """The printout read "3.89 trades/s (sizes median ...)", no interval, where report.html said "3.89 trades a
    second (95%: 3.8 – 3.98)" (fails on BASE)."""
    from calibration.numbers_text import figure_text, interval_text
    out, page, s = five_minutes
    r = s["market"]["trade_rate_per_s"]
    said = f"{figure_text(r['rate'], 3)} trades a second (95%: {interval_text(r['lo'], r['hi'], 3)})"
    assert f", {said}, their sizes median " in out and "trades/s" not in out, out
    assert f"; {said}, sizes log-normal with median " in page, page


def test_the_printout_gives_the_transport_failures_report_html_gives(five_minutes):
    """report.html's table gave the requests lost in transport (count, of how many, share, interval); the printout
    gave them only in the replay's row, its share alone, and nothing without a replay (fails on BASE)."""
    from calibration.numbers_text import figure_text
    out, page, s = five_minutes
    t = s["transport"]
    share, lo, hi = (figure_text(t[k], 4) for k in ("rate", "lo", "hi"))
    assert f"\nlost in transport: {share} (95%: {lo} – {hi}), {t['count']:,} of {t['n']:,} requests of places (none " \
           f"of their places answered)\n" in out, out
    row = f"<td>{t['count']:,}</td><td>{t['n']:,}</td><td>requests of places</td><td>{share}</td><td>{lo} – {hi}</td>"
    assert row in page, page


def test_the_markouts_mean_is_said_as_the_replays_row_gives_it(five_minutes):
    """The printout's and report.html's markouts read "10 s -0.379 bps" above the replay's row "maker fills' markout
    at 10 s, bps -0.3787": one figure two ways (fails on BASE)."""
    from calibration.report import cell_text
    out, page, s = five_minutes
    rows = {r["what"]: r for r in s["replay"]["rows"]}
    for m in s["fills"]["markouts"]:
        mean = cell_text(m["mean_bps"])
        assert cell_text(rows[f"maker fills' markout at {m['horizon_s']:g} s, bps"]["observed"]) == mean
        assert f" {m['horizon_s']:g} s {'+' * (m['mean_bps'] > 0)}{mean} bps (standard error " in out, out
        assert f"<tr><td>{m['horizon_s']:g} s on</td><td>{m['n']:,}</td><td>{mean}</td>" in page, page


def test_the_run_is_said_alike_by_the_printout_and_the_report(five_minutes):
    """The printout's first line read "829 places (825 answered) in 454 requests, 451 round trips", report.html's
    "829 places, 451 requests of places answered (their round trips)": the one without what its round trips were, the
    other without the places answered and the requests sent (fails on BASE)."""
    out, page, s = five_minutes
    said = (f"1 run, 300 s, {s['places']:,} places ({s['answered']:,} answered) in {s['place_requests']:,} requests, "
            f"{s['round_trips']:,} of them answered (their round trips)")
    assert s["answered"] < s["places"] and s["round_trips"] < s["place_requests"] == s["transport"]["n"]
    assert out.startswith(said + "\n"), out
    assert f"<p>From RUN: {said}.</p>" in page, page


def test_the_markets_volatility_says_of_what_and_the_depth_at_the_touch_that_it_is_a_median(five_minutes):
    """The printout said "volatility 0.0000903 per √s, ..., 0.4914 BTC at the touch" and report.html "Volatility
    0.0000903 per √s": a volatility of no stated quantity (it is the log mid's: a share of the price, not USDC) and
    a depth of no stated statistic (the report's "(median)"). Now "per √s of the log mid" and "median 0.4914 BTC at
    the touch" (fails on BASE)."""
    from calibration.numbers_text import figure_text

    out, page, s = five_minutes
    m = s["market"]
    vol, depth = figure_text(m["vol_per_sqrt_s"], 3), figure_text(m["depth_at_touch"], 4)
    assert f": volatility {vol} per √s of the log mid, " in out and f"median {depth} BTC at the touch, " in out, out
    assert f"Volatility {vol} per √s of the log mid (" in page


def test_the_kept_list_does_not_say_the_run_gave_no_sample_of_what_it_had_too_few_of(five_minutes):
    """report.html headed its kept list "Kept from the base (the run gave no sample of them)" over "0 outages where
    a fit of their length needs 5" and "221 of 1,168 prints past the touch seen: they do not bound it": samples too
    small, not none (fails on BASE)."""
    _, page, s = five_minutes
    assert "markets.BTC.depth_decay_per_usd" in s["kept_from_base"]  # (the case: a sample, too small to fit)
    assert "<p>Kept from the base (the run gave no sample of them, or too small a one to fit):</p>" in page


def test_a_replay_rows_whole_part_is_not_rounded_away(five_minutes):
    """The printout's quota line said "used 15,519 an hour" and the replay's row, at four significant figures,
    "requests used per hour 15,520 / 19,920": one figure two ways, the rounded one looking exact. A row's value now
    keeps its whole part, in the printout and report.html alike (fails on BASE); fractions keep four figures."""
    out, page, s = five_minutes
    used = s["quota"]["used_per_hour"]
    assert used >= 10_000 and round(used) % 10, used  # (the case: four figures round the count)
    assert f"used {used:,.0f} requests an hour" in out and f"; requests used per hour {used:,.0f} / " in out, out
    assert f"<td>requests used per hour</td><td>{used:,.0f}</td>" in page
    from calibration.report import cell_text
    assert [cell_text(v) for v in (15525.3, 0.59381, -0.16981, 166.44, None, math.nan)] == \
        ["15,525", "0.5938", "-0.1698", "166.4", "–", "–"]


def test_the_prints_mean_reach_is_said_with_its_unit_and_their_shares_of_what():
    """A two-hour twin run's printout and report said "depth_decay_per_usd 1.961 per price unit (95%: 1.512 – 2.833;
    mean reach past the mid 0.51), from 5083 of 26536 prints past the touch seen; 6.4% past the touch in force, 29%
    seen against a stale touch": a reach of no unit, and two shares of nothing said. 1/k is in price units, and the
    shares are of the prints (fails on BASE)."""
    from calibration.report import reach_text

    r = {"k": 1.961, "lo": 1.512, "hi": 2.833, "beyond": 5083, "n": 26536, "beyond_share": 0.064,
         "stale_share": 0.29, "why": ""}
    said = reach_text(r, 2.0)
    assert "mean reach past the mid 0.5099 price units)" in said, said
    assert "; 6.4% of the prints past the touch in force, 29% seen against a stale touch" in said, said
    said = reach_text({**r, "why": "5,083 of 26,536 prints past the touch seen: they do not bound it"}, 2.0)
    assert "; 6.4% of the prints past the touch in force" in said, said


def test_the_touchs_moves_under_a_second_are_set_beside_the_fitted_twins_which_keeps_the_bases_path():
    """The mid's path under a second (book_interval_s, the size of its steps) is not fitted: the feed shows the touch
    at blocks and in ticks, not the mid inside the spread. What it shows, how often the bbo's touch moves and by how
    many ticks, tells a 0.4 s path from the default 0.1 s one, and the replay sets the fitted twin's (the base's
    0.1 s kept) beside the run's: the mismatch is seen, not fitted away."""
    from calibration.fit import replay_check, touch_moves

    truth = TwinParams.model_validate({"markets": {"BTC": {"book_interval_s": 0.4}},
                                       "connection": {"hazard_per_hour": 0}})
    obs = observed_run(SHADOW, 1, truth, 300.0)[1]
    default = observed_run(SHADOW, 1, _reach_truth(2.0), 300.0)[1]
    slow, fast = touch_moves(obs, 1.0), touch_moves(default, 1.0)
    assert slow[0] < 3.0 < 6.0 < fast[0] and slow[1] > 4.0 > 3.0 > fast[1]
    f = fit(obs)
    assert f.params.markets["BTC"].book_interval_s == 0.1
    rows = {w: (a, b) for w, a, b in replay_check(f, SHADOW, max_s=300.0).rows}
    seen, again = rows["bbo touch moves a second"]
    assert seen == pytest.approx(slow[0]) and again > 2 * seen
    seen, again = rows["bbo touch move, mean ticks"]
    assert seen == pytest.approx(slow[1]) and again < seen - 1.0


def test_the_informed_share_is_recovered_with_the_feeds_factor_measured_on_the_fitted_twin():
    """Twice the base's informed flow: the trades' agreement with the next five seconds' move, seen through
    the feed, reads low by the feed's factor, which the fitted twin's market under a probe measures; the
    share it gives covers the truth, where the agreement alone would not."""
    truth = TwinParams.model_validate({"markets": {"BTC": {"informed_share": 0.3}}, "connection": {"hazard_per_hour": 0}})
    f = fit(observed_run(SHADOW, 2, truth, 3600.0)[1])
    inf = f.informed
    assert inf.trades > 10_000 and 0.6 < inf.factor < 0.95
    assert inf.lo <= 0.3 <= inf.hi and inf.share == pytest.approx(0.3, abs=0.03)
    assert 2 * inf.agree - 1 < 0.27  # uncorrected, the share reads low
    assert f.params.markets["BTC"].informed_share == inf.share
    assert inf.probe_trades > 10_000


def test_the_informed_share_not_fitted_says_why_with_its_numbers():
    """Too few trades and a probe that showed no factor (its trades' agreement at most a half: 2h − 1 at or under 0,
    nothing to divide the run's by) both read "Too few trades to fit the informed flow", with no count nor
    threshold (2,000 trades with a mid move after them). Each reason is now said with its numbers, in the fit's kept
    list (the printout's kept line, report.html's) (fails on 554962d: fit_informed gave None, no reason)."""
    from calibration.fit import MIN_INFORMED_TRADES, agreement, fit_informed

    z, rng = np.zeros(0), np.random.default_rng(1)
    bt = np.arange(0.0, 3000.0, 0.5)  # a mid stepping every push, trades on random sides between: h about 0.5
    mid = 100.0 + np.cumsum(rng.choice([-0.5, 0.5], len(bt)))
    tt = bt[:-20] + 0.25
    side = rng.choice([-1.0, 1.0], len(tt))

    def observed(trades: int) -> Observations:
        return Observations(z, 0, 0, {}, 0, 0, z, 0, z, 0.0, 3000.0, coin="BTC", book_ts=bt, mid=mid,
                            trade_ts=tt[:trades], trade_side=side[:trades], trade_sz=np.ones(trades))

    def rate(r: float) -> TwinParams:
        return TwinParams.model_validate({"markets": {"BTC": {"trade_rate_calm_per_s": r,
                                                              "trade_rate_stressed_per_s": r}}})
    few = observed(2100)
    n, _ = agreement(bt, mid, few.trade_ts, few.trade_side, 5.0)
    assert 0 < n < MIN_INFORMED_TRADES
    assert fit_informed(few, rate(4.0), "BTC") == \
        (None, f"{n:,} market trades with a mid move over the 5 s after them where a fit needs 2,000")
    obs = observed(len(tt))
    n, h = agreement(bt, mid, obs.trade_ts, obs.trade_side, 5.0)
    assert n >= MIN_INFORMED_TRADES and abs(h - 0.5) < 0.02, (n, h)  # (probed at the least share, 0.05)
    probe = "the fitted twin's market probed at an informed share of 0.05 for 2 h showed "
    assert fit_informed(obs, rate(0.0), "BTC") == \
        (None, probe + "no trade with a mid move after it: no factor to measure the share by")
    # a probe of a few dozen trades: at a share of 0.05 its 2h − 1 is at or under 0 about half the time
    said = 0
    for r in (0.001, 0.002, 0.003, 0.004, 0.005, 0.006):
        got, why = fit_informed(obs, rate(r), "BTC")
        assert (got is None) == bool(why), (got, why)
        if got is None:
            m = re.fullmatch(re.escape(probe) + r"([0-9.]+)% of ([0-9]+) trades? on the side the mid then moved: "
                             r"2h − 1 at (-?[0-9.]+), no factor \(above 0\) to divide the run's 2h − 1 by "
                             r"\((-?[0-9.]+): ([0-9.]+)% of ([0-9,]+) trades\)", why)
            assert m and float(m[3]) <= 0 and abs(float(m[3]) - (2 * float(m[1]) / 100 - 1)) <= 0.0011, why
            assert m.groups()[3:] == (f"{2 * h - 1:.3f}", f"{h:.1%}"[:-1], f"{n:,}"), why
            said += 1
        else:
            assert got.factor > 0 and 0 < got.probe_trades < 100, got
    assert 0 < said < 6, said  # (both cases seen)


def test_the_informed_shares_interval_covers_the_truth_95_times_in_100_with_the_probes_sampling_in_it():
    """The share is the run's 2h − 1 over the probe's (at the share guessed): two binomial samples of about the
    same size. An interval from the run's alone covered the truth some 80 times in 100 (an audit saw a share
    from another probe seed fall outside it); carrying both, 95."""
    from calibration.fit import informed_interval

    rng = np.random.default_rng(0)
    truth, factor, guess, n, n_probe = 0.3, 0.8, 0.25, 20_000, 20_000
    h_true, hp_true = 0.5 + 0.5 * truth * factor, 0.5 + 0.5 * guess * factor
    both = run_only = 0
    draws = 4000
    for _ in range(draws):
        h, hp = rng.binomial(n, h_true) / n, rng.binomial(n_probe, hp_true) / n_probe
        share, lo, hi = informed_interval(n, h, n_probe, hp, guess)
        both += lo <= truth <= hi
        f = (2.0 * hp - 1.0) / guess
        w_lo, w_hi = wilson(round(h * n), n)
        run_only += (2.0 * w_lo - 1.0) / f <= truth <= (2.0 * w_hi - 1.0) / f
    assert 0.93 <= both / draws <= 0.97
    assert run_only / draws < 0.9


def test_a_coin_the_base_does_not_list_is_added_with_its_grid_and_market():
    """A live run on ETH (say): the fit lists the coin on the first dex with the run's tick and size decimals,
    fits its market, and the fitted twin runs the run's config on it (the replay check)."""
    import dataclasses

    from calibration.fit import replay_check
    from twin.instruments import InstrumentSpec, default_instruments
    eth = InstrumentSpec(name="ETH", index=1, sz_decimals=4, tick=0.1)
    market = {"initial_mid": 3000.0, "vol_calm_per_sqrt_s": 1.5e-4, "calm_to_stressed_per_s": 0.0,
              "trade_rate_calm_per_s": 3.0, "trade_size_median": 0.5, "depth_at_touch": 8.0, "depth_decay_per_usd": 60.0}
    truth = TwinParams(instruments=default_instruments() + [eth], markets={"ETH": market})
    cfg = AgentConfig.model_validate({**CFG.model_dump(), "session": {**CFG.session.model_dump(), "coin": "ETH"},
                                      "quoting": {**CFG.quoting.model_dump(), "order_size": 0.02}})
    _, obs = observed_run(cfg, 4, truth, 1200.0, tick=0.1, sz_decimals=4)
    f = fit(dataclasses.replace(obs, tick=0.1, sz_decimals=4))  # (a journal's start record gives these)
    added = [i for i in f.params.instruments if i.coin == "ETH"]
    assert len(added) == 1 and (added[0].tick, added[0].sz_decimals, added[0].dex) == (0.1, 4, "")
    assert len({i.asset_id for i in f.params.instruments}) == len(f.params.instruments)  # no asset id taken twice
    m = f.params.markets["ETH"]
    assert m.initial_mid == pytest.approx(3000.0, rel=0.01) and m.vol_calm_per_sqrt_s == pytest.approx(1.5e-4, rel=0.1)
    assert m.trade_size_median == pytest.approx(0.5, rel=0.1) and m.depth_at_touch == pytest.approx(8.0, rel=0.1)
    check = replay_check(f, cfg, max_s=120.0)  # (two minutes place some 260 orders: it runs, as ten did)
    assert check.replayed.coin == "ETH" and check.replayed.places > 0
    hip3 = AgentConfig.model_validate({**cfg.model_dump(), "session": {**cfg.session.model_dump(), "coin": "xyz:FOO"}})
    assert replay_check(f, hip3) is None  # a coin the fitted twin does not list: no replay, no crash


def test_a_hip3_coin_the_base_lists_without_a_market_has_its_market_fitted_from_the_thin_preset():
    """The twin's defaults list hyna:LIT with no market: a live run on it was fitted for everything but its market
    and the fitted twin could not replay it ("give --base one that lists it"). Now its market is fitted, starting
    from the thin HIP-3 preset, and the replay check runs the run's config on it."""
    from calibration.fit import replay_check
    from twin.market import SyntheticMarketParams

    lit = {**SyntheticMarketParams.thin_hip3().model_dump(), "initial_mid": 1.6, "vol_calm_per_sqrt_s": 3.0e-4,
           "calm_to_stressed_per_s": 0.0, "trade_rate_calm_per_s": 0.8, "depth_decay_per_usd": 1250.0}
    truth = TwinParams(markets={"BTC": SyntheticMarketParams(), "hyna:LIT": lit})
    cfg = AgentConfig.model_validate({**CFG.model_dump(), "session": {**CFG.session.model_dump(), "coin": "hyna:LIT",
                                                                       "collateral_usd": 5000.0},
                                      "quoting": {**CFG.quoting.model_dump(), "order_size": 20.0},
                                      "risk": {**CFG.risk.model_dump(), "max_position": 200.0}})
    _, obs = observed_run(cfg, 5, truth, 1800.0, tick=1e-4, sz_decimals=1)
    f = fit(obs)  # the defaults: hyna:LIT listed, no market
    assert "hyna:LIT" not in TwinParams().markets and f.market is not None
    m = f.params.markets["hyna:LIT"]
    assert m.initial_mid == pytest.approx(1.6, rel=0.05) and m.vol_calm_per_sqrt_s == pytest.approx(3.0e-4, rel=0.2)
    assert f.market.trade_rate_per_s.lo <= 0.8 <= f.market.trade_rate_per_s.hi
    check = replay_check(f, cfg, max_s=120.0)  # (two minutes place some 120 orders: it runs, as ten did)
    assert check is not None and check.replayed.coin == "hyna:LIT" and check.replayed.places > 0


def test_a_run_priced_where_the_bases_tick_breaks_the_venues_price_rule_is_fitted_on_a_tick_that_holds():
    """The venue's grid depends on the price (5 significant figures), the base's is one tick: the defaults list
    hyna:LIT at 0.0001, whose book at 12 lists 12.0001, which the venue refuses. The twin refused the fitted
    parameters, and with them the whole calibration of a live run on LIT at 12 (its latency, rejections, quota).
    Now the run's own tick (the live CLI's at 12: 0.001) is taken, and said; a run whose own tick breaks the rule
    at its first mid (just under 1000 on 0.01: asks at 1000.01) takes the coarsest the rule allows there."""
    import dataclasses

    from calibration.fit import listable_tick
    from twin.instruments import InstrumentSpec, default_instruments
    from twin.market import SyntheticMarketParams

    lit = {**SyntheticMarketParams.thin_hip3().model_dump(), "initial_mid": 12.0, "vol_calm_per_sqrt_s": 3.0e-4,
           "calm_to_stressed_per_s": 0.0, "trade_rate_calm_per_s": 0.8, "depth_decay_per_usd": 170.0}
    instruments = [i.model_copy(update={"tick": 0.001}) if i.dex else i for i in default_instruments()]
    truth = TwinParams(instruments=instruments, markets={"BTC": SyntheticMarketParams(), "hyna:LIT": lit})
    cfg = AgentConfig.model_validate({**CFG.model_dump(), "session": {**CFG.session.model_dump(), "coin": "hyna:LIT",
                                                                       "collateral_usd": 20000.0},
                                      "quoting": {**CFG.quoting.model_dump(), "order_size": 2.0},
                                      "risk": {**CFG.risk.model_dump(), "max_position": 20.0}})
    _, obs = observed_run(cfg, 5, truth, 900.0, tick=1e-3, sz_decimals=1)
    obs = dataclasses.replace(obs, tick=1e-3, sz_decimals=1)  # (a journal's start record gives these)
    f = fit(obs)  # the defaults: hyna:LIT listed at tick 0.0001
    assert f.market is not None and f.params.instrument("hyna:LIT").tick == 0.001
    assert f.params.markets["hyna:LIT"].initial_mid == pytest.approx(12.0, rel=0.05)
    assert "hyna:LIT's tick 0.0001" in f.tick_why and "the run's, 0.001, taken" in f.tick_why, f.tick_why
    eth = InstrumentSpec(name="ETH", index=1, sz_decimals=4, tick=0.01)
    near = dataclasses.replace(obs, mid=np.array([999.95]), tick=0.01)
    tick, why = listable_tick(eth, SyntheticMarketParams(), near)
    assert tick == 0.1 and "the coarsest the venue's rule allows there, 0.1, taken" in why, why


def test_the_quota_rule_and_the_starting_headroom_are_recovered_from_the_venues_reports():
    """An address with a smaller buffer whose cap grows one request per 2.5 USDC traded: the fit finds the
    rate from the reports' caps against their volumes, and starts the fitted twin with the headroom the run
    had at its first report. A run that traded too little keeps the base's rate."""
    truth = TwinParams.model_validate({"quota": {"initial_buffer": 4000, "usd_per_request": 2.5}})
    f = fit(observed_run(CFG, 3, truth, 1800.0)[1])
    q = f.observations.quota
    assert f.quota.reports == len(q) > 10 and q[-1, 3] - q[0, 3] > 10_000  # volume enough to see the rate
    assert f.quota.usd_per_request == pytest.approx(2.5, rel=1e-3)
    assert f.params.quota.usd_per_request == f.quota.usd_per_request
    assert f.params.quota.initial_buffer == int(q[0, 2] - q[0, 1]) and 3000 < f.params.quota.initial_buffer <= 4000 + \
        q[0, 3] / 2.5
    assert f.quota.used_per_hour == pytest.approx((q[-1, 1] - q[0, 1]) / ((q[-1, 0] - q[0, 0]) / 3600.0))
    z = np.zeros(0)
    idle = Observations(z, 0, 0, {}, 0, 0, z, 0, z, 0.0, 600.0,
                        quota=np.array([[0.0, 10, 10_100, 100.0], [600.0, 40, 10_150, 150.0]]))
    g = fit(idle, truth)
    assert g.quota.usd_per_request is None and g.params.quota.usd_per_request == 2.5  # 50 USDC: not fitted
    assert g.params.quota.initial_buffer == 10_090


def test_fills_by_distance_and_markouts_are_counted_as_defined():
    """Hand-made observations: orders at known distances, some filled; fills whose mid a second and ten
    seconds on is known."""
    z = np.zeros(0)
    obs = Observations(z, 0, 0, {}, 0, 0, z, 0, z, 0.0, 30.0,
                       book_ts=np.array([0.0, 1.0, 2.0, 11.5, 20.0]),
                       mid=np.array([100.0, 100.0, 100.02, 99.99, 100.0]),
                       order_distance=np.array([-1.0, 0.0, 0.0, 0.0, 1.0, 7.0, 7.0]),
                       order_filled=np.array([True, True, False, False, True, False, False]),
                       fill_ts=np.array([1.5, 1.5, 15.0]), fill_px=np.array([100.0, 100.01, 99.99]),
                       fill_side=np.array([1.0, -1.0, 1.0]))
    f = fill_fit(obs)
    rows = {label: (r.count, r.n) for label, r in f.by_distance}
    assert rows == {"inside the spread": (1, 1), "at the touch": (1, 3), "1 tick behind": (1, 1),
                    "5+ ticks behind": (0, 2)}  # buckets without orders are left out
    one, ten = f.markouts
    # a second on: the mid at 2.5 s is the update at 2 s's, 100.02: +2 bps bought at 100, −1 bps sold at 100.01;
    # the fill at 15 s is marked by the mid at 16 s, the update at 11.5 s's (99.99): 0 bought at 99.99
    assert one.n == 3
    expected = [(100.02 - 100.0) / 100.0 * 1e4, -(100.02 - 100.01) / 100.01 * 1e4, (99.99 - 99.99) / 99.99 * 1e4]
    assert one.mean_bps == pytest.approx(np.mean(expected), rel=1e-9)
    assert one.se_bps == pytest.approx(np.std(expected, ddof=1) / math.sqrt(3), rel=1e-9)
    # ten seconds on: the fill at 15 s would need the mid at 25 s, after the run's last update: left out
    assert ten.n == 2
    assert ten.mean_bps == pytest.approx(np.mean([(99.99 - 100.0) / 100.0 * 1e4, -(99.99 - 100.01) / 100.01 * 1e4]))


def test_the_report_says_what_it_takes_the_venues_time_on_an_account_snapshot_to_be(tmp_path):
    """The feed's lags are on the venue's clock by the host's skew the live preflight measured, and a move of the
    host's clock is found, by the account snapshots' windows: each takes clearinghouseState's `time` to be the
    venue's clock as it answered, which the venue does not document (third-party SDKs: "when data was retrieved").
    The report said nothing of it; it says the assumption, in report.html and calibration.json."""
    from calibration.report import write_report
    z = np.zeros(0)
    s = write_report(fit(Observations(z, 0, 0, {}, 0, 0, z, 0, z, 60.0, 60.0)), tmp_path, "hand-made",
                     np.random.default_rng(0))
    assert s["venue_time_assumed"] == VENUE_TIME_ASSUMED and "the venue does not document the field" in \
        VENUE_TIME_ASSUMED
    assert VENUE_TIME_ASSUMED.replace("`", "") in (tmp_path / "report.html").read_text().replace("`", "")
    assert json.loads((tmp_path / "calibration.json").read_text())["venue_time_assumed"] == VENUE_TIME_ASSUMED


def test_the_report_writes_json_without_nan():
    from calibration.report import json_ready
    out = json_ready({"a": float("nan"), "b": [np.float64(1.5), np.int64(2), math.inf], "c": ("x", None)})
    assert out == {"a": None, "b": [1.5, 2, None], "c": ["x", None]}
    assert type(out["b"][1]) is int
    json.dumps(out, allow_nan=False)


def test_the_interval_helpers():
    lo, hi = wilson(10, 1000)
    assert lo < 0.01 < hi and hi - lo < 0.015
    assert wilson(0, 0) == (0.0, 1.0)
    from scipy import stats  # (wilson is scipy's Wilson interval written out without binomtest's p-value: the same)
    for k, n, level in ((10, 1000, 0.95), (0, 7, 0.95), (7, 7, 0.999), (3, 20_000, 0.999), (12_345, 20_000, 0.5)):
        ci = stats.binomtest(k, n).proportion_ci(level, method="wilson")
        assert wilson(k, n, level) == (float(ci.low), float(ci.high)), (k, n, level)
    with pytest.raises(ValueError):
        wilson(8, 7)
    lo, hi = poisson_rate(0, 2.0)
    assert lo == 0.0 and hi == pytest.approx(-math.log(0.025) / 2.0, rel=1e-6)  # exact: 3.689 / 2
    x = np.concatenate([np.random.default_rng(0).normal(4.0, 0.2, 9000), np.random.default_rng(1).normal(6.0, 0.3, 1000)])
    mu1, s1, w, mu2, s2 = fit_mixture(x)
    assert (mu1, s1, w, mu2, s2) == pytest.approx((4.0, 0.2, 0.1, 6.0, 0.3), abs=0.03)


def test_the_help_names_what_the_fit_sets_as_the_readme_does(capsys):
    """``--help`` said the fit sets the latency, rejection, disconnect, quota and market parameters; it sets the
    transport-failure rate too (``rejections.rest_failure_prob``), as the README's command table and Layout say."""
    with pytest.raises(SystemExit):
        main(["--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert "latency (orders and feed), rejection, transport-failure, disconnect, quota and market parameters" in said


def test_the_help_names_the_run_one_way_says_what_out_takes_and_fits_the_terminal(capsys, monkeypatch):
    """--help's usage read "run", its --out "default RUN/calibration" and its epilog "RUN_DIR": three names of one
    folder; --out said nothing of the folder it takes (one holding other files is refused); its description and
    a line of its epilog were 180 and 137 columns, unwrapped (fails on BASE)."""
    monkeypatch.setenv("COLUMNS", "100")  # (argparse wraps the options to it; the epilog is as written)
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    said = " ".join(text.split())
    assert "[--out DIR] [--base FILE] [--replay-hours HOURS] [--replay-seeds N] [--quiet] RUN " in said, said
    assert "RUN_DIR" not in text and "RUN is a live run folder" in said
    assert "--out DIR the folder to write twin_params.json, calibration.json and report.html in (default " \
           "RUN/calibration): made if not there; one holding other files is refused, an earlier calibration there " \
           "replaced" in said, said
    assert max(len(line) for line in text.splitlines()) <= 120, text


def test_the_cli_fits_a_live_journal_and_writes_params_the_agent_loads(tmp_path, capsys):
    """A journal written as the live CLI writes it (its core built by live_core from the start record's
    seed and cloid prefix) over a twin session; the CLI replays it and writes the fit."""
    run = tmp_path / "run"
    run.mkdir()
    ex = Exchange.build(TRUTH, 5)
    ex.fund(USER, CFG.session.collateral_usd)
    gateway = TwinGateway(ex, USER, "BTC", quota_poll_s=CFG.session.quota_poll_s, action_ttl_s=CFG.risk.ack_timeout_s,
                          bbo=CFG.session.bbo_feed)
    core = live_core(CFG, 7, 1.0, 5, 0xA1B2C3D4)  # a run's own cloid prefix: the replay must build it so
    events: list = []
    SimDriver(ex.env, gateway, core, CFG.session.cycle_s, None, events).start()
    ex.env.run(until=1800.0)
    journal = EventJournal(JsonlWriter(run / "events.jsonl"))
    journal.start(start_record(0.0, CFG, venue="live", seed=7, tick=1.0, sz_decimals=5, cloid_prefix="0xa1b2c3d4"))
    for e in events:
        journal.event(e)
    journal.shutdown(1800.0)
    journal.close()
    assert main([str(run), "--out", str(tmp_path / "fit"), "--quiet", "--replay-seeds", "2"]) == 0
    text = capsys.readouterr().out
    assert "latency per leg: body median" in text and "rejections PerpMargin" in text and "market BTC, " in text
    # the journal's clock (the session's seconds) is not the venue's epoch: no lag is measurable, none is made up
    assert "feed latency: too few book updates" in text
    # its last line names every file it wrote (calibration.json was left out of it)
    assert text.rstrip().splitlines()[-1] == "wrote " + ", ".join(
        str(tmp_path / "fit" / name) for name in ("twin_params.json", "calibration.json", "report.html"))
    params = TwinParams.load(tmp_path / "fit" / "twin_params.json")
    assert params.latency.order_entry.median_ms == pytest.approx(80.0, rel=0.15)
    report = (tmp_path / "fit" / "report.html").read_text()
    assert "data:image/png;base64," in report and "Kolmogorov-Smirnov" in report
    summary = json.loads((tmp_path / "fit" / "calibration.json").read_text())
    assert summary["places"] > 500 and summary["latency"]["ks_distance"] < 0.1
    # DESIGN §8's check: the fitted twin, run with the run's agent config as long, shows what was seen
    replay = summary["replay"]
    assert replay["duration_s"] == pytest.approx(1800.0, abs=1.0) and replay["round_trip_ks"] < 0.1
    rows = {r["what"]: (r["observed"], r["replayed"]) for r in replay["rows"]}
    seen, again = rows["round trip p50, ms"]
    assert again == pytest.approx(seen, rel=0.1)
    # fills and markouts, measured in the run and in the replay (the fitted twin is the truth's market): alike.
    # Orders 5+ ticks behind: 0.44 filled in this run, 0.34 in the replay. One run's share is not a binomial draw
    # (n ~ 3500 orders, sd 0.008): a sweep fills a side's ladder at once, and over seeds 0-9 (30 minutes each, as
    # build_session runs them) it spreads with sd 0.037 on the truth and 0.026 on the fitted twin, so one run
    # against one replay differs by sd 0.045. The fitted twin sits 0.045 below the truth, paired over those seeds
    # (se 0.009), and that is the feed leg this journal cannot measure (the base's 40 ms median kept, the truth's
    # is 150 ms): given the truth's feed leg the gap is -0.020 (se 0.010; -0.012, se 0.012, with its disconnect
    # rate too), no bias of the fill or market fit's own that this can see.
    # 0.13 is that offset and 2 sd: a tighter bound would hold for this draw only (0.10 of it).
    seen, again = rows["filled, of orders rested 5+ ticks behind"]
    assert 0.0 < seen < 1.0 and again == pytest.approx(seen, abs=0.13)
    seen, again = rows["maker fills' markout at 1 s, bps"]
    assert again == pytest.approx(seen, abs=0.3)
    assert summary["fills"]["own_prints"] > 0 and "maker fills' markouts: 1 s" in text
    assert "<h2>Fills" in report and "5+ ticks behind" in report
    assert "quota: one request per 1 USDC traded" in text and "requests used per hour" in rows
    # two seeds: each row's range holds the first seed's value, and what the agent's path decides does vary
    assert replay["seeds"] == 2 and "range over the seeds" in report
    spans = {r["what"]: (r["replayed_min"], r["replayed"], r["replayed_max"]) for r in replay["rows"]}
    assert all(lo <= v <= hi for lo, v, hi in spans.values() if v is not None)
    lo, _, hi = spans["requests used per hour"]
    assert lo < hi
    assert "The fitted twin replayed" in report
    # the replay's KS distance to three decimals as every other in the report and the printout (it read "0.02615")
    ks = f"{replay['round_trip_ks']:.3f}"
    assert f"(the first seed): Kolmogorov-Smirnov distance {ks}.</p>" in report and f"round trips KS {ks} " in text
    assert main([str(tmp_path / "nothing")]) == 2  # (a folder not there is said so, not "no events.jsonl")
    assert capsys.readouterr().err == f"error: {tmp_path / 'nothing'}: no such folder\n"
    (tmp_path / "afile").write_text("")
    assert main([str(tmp_path / "afile")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'afile'}: not a folder: give the live run's folder\n"
    # a folder carried on over a restart: the journal holds two runs, each replayed by its own core, streamed
    one = observe_journal(run)
    journal = EventJournal(JsonlWriter(run / "events.jsonl"))  # appends, as a restarted live CLI does
    journal.start(start_record(0.0, CFG, venue="live", seed=7, tick=1.0, sz_decimals=5, cloid_prefix="0xa1b2c3d4"))
    for e in events:
        journal.event(e)
    journal.close()
    two = observe_journal(run)
    assert (one.runs, two.runs) == (1, 2) and two.places == 2 * one.places
    assert len(two.round_trip_s) == 2 * len(one.round_trip_s) and two.duration_s == pytest.approx(2 * one.duration_s)
    # each quota report knows its run: request use is taken over each run's span, not across the restart
    assert list(two.quota_runs()) == [0] * len(one.quota) + [1] * len(one.quota)


def test_the_feeds_lags_are_taken_on_the_venues_clock_with_the_hosts_measured_skew(tmp_path):
    """A live run's feed lags are its host's arrival time less the venue's time on each update: a host clock 150 ms
    behind the venue's takes 150 ms off every lag (and drops the shortest as negative). The live CLI records the
    skew its preflight measured in the start record; the journal's reader adds it back."""
    import dataclasses

    events, epoch, truth = _shadow_session(600.0)
    assert len(truth.feed_lag_s) > 500 and truth.feed_lags_dropped == 0

    def journal(folder, skew):
        """The run as a live host 150 ms behind the venue would have journalled it (wall-clock timestamps)."""
        folder.mkdir()
        j = EventJournal(JsonlWriter(folder / "events.jsonl"))
        j.start(start_record(epoch - 0.15, SHADOW, venue="live", seed=2, tick=1.0, sz_decimals=5,
                             cloid_prefix="0x00000001", clock_skew_s=skew))
        for e in events:
            j.event(dataclasses.replace(e, ts=e.ts + epoch - 0.15))
        j.close()
        return observe_journal(folder)

    told = journal(tmp_path / "told", 0.15)
    assert told.feed_lags_dropped == 0
    assert np.allclose(np.sort(told.feed_lag_s), np.sort(truth.feed_lag_s), atol=1e-6)
    untold = journal(tmp_path / "untold", None)  # (no skew measured: a run from before it was recorded)
    kept = truth.feed_lag_s[truth.feed_lag_s > 0.15]  # each lag 150 ms short, and those under it dropped
    assert untold.feed_lags_dropped == len(truth.feed_lag_s) - len(kept) > 0
    assert np.allclose(np.sort(untold.feed_lag_s), np.sort(kept) - 0.15, atol=1e-6)


def test_the_cli_checks_its_out_folder_before_the_work_and_keeps_what_is_not_its_own(tmp_path, capsys):
    """The check comes before the journal is read (an unusable journal here would otherwise be the error);
    a folder holding other files is refused, an earlier calibration's is not (it is replaced, and said)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "events.jsonl").write_text("not a journal\n")
    afile = tmp_path / "afile"
    afile.write_text("")
    assert main([str(run), "--out", str(afile / "sub"), "--quiet"]) == 2
    assert capsys.readouterr().err == f"error: --out {afile / 'sub'}: Not a directory\n"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert main([str(run), "--out", str(mine), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {mine}: holds files that are not a calibration's (notes.txt)")
    assert (mine / "notes.txt").read_text() == "keep" and sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "twin_params.json").write_text("{}")
    assert main([str(run), "--out", str(earlier), "--quiet"]) == 2  # past the check: the journal is refused
    assert "--out" not in capsys.readouterr().err
    assert main([str(run), "--out", "", "--quiet"]) == 2
    assert capsys.readouterr().err == "error: --out: an empty path\n"


def test_a_journal_whose_start_record_is_incomplete_exits_2_naming_the_file_line_and_field(tmp_path, capsys):
    """A start line without the config or the tick was a KeyError traceback out of agent.live."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "events.jsonl").write_text('{"type":"start","ts":0}\n')
    assert main([str(run), "--out", str(tmp_path / "fit"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run / 'events.jsonl'}: line 1: start record without config, seed, tick")
    (run / "events.jsonl").write_text('{"type":"start","ts":0,"config":{},"seed":0,"sz_decimals":5}\n')
    assert main([str(run), "--out", str(tmp_path / "fit"), "--quiet"]) == 2
    assert "line 1: start record without tick: " in capsys.readouterr().err


@pytest.mark.parametrize("option, value, expected", [
    ("--replay-seeds", "-3", "expected a positive integer, got '-3'"),
    ("--replay-seeds", "0", "expected a positive integer, got '0'"),
    ("--replay-hours", "-1", "expected a number, zero or more, got '-1'"),
    ("--replay-hours", "nan", "expected a number, zero or more, got 'nan'"),
])
def test_a_negative_replay_count_or_length_exits_2_naming_option_and_value(tmp_path, capsys, option, value, expected):
    with pytest.raises(SystemExit) as e:  # refused by the parser, before the journal is looked for
        main([str(tmp_path), option, value])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"argument {option}: {expected}" in err and "events.jsonl" not in err


def test_a_run_folder_of_the_twin_is_said_to_be_one_not_a_live_run_missing_its_journal(tmp_path, capsys):
    """``python -m agent --out RUN`` (the Quickstart's run, in the twin) then ``python -m calibration RUN`` said only
    "no events.jsonl (a live run writes it unless --no-events)", as if a live run had lost its journal."""
    from agent.__main__ import main as agent_main
    run = tmp_path / "sim"
    assert agent_main(["--duration", "60", "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    assert main([str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run}: no events.jsonl, only a decision log: a run in the twin") and \
        "python -m agent --venue live" in err, err
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "decisions.jsonl", "level_history.json",
                                                     "summary.json"]  # nothing written for it


def test_no_replay_is_still_asked_for_with_zero_hours(tmp_path, capsys):
    assert main([str(tmp_path), "--replay-hours", "0"]) == 2  # parsed: it is the missing journal that is refused
    assert "no events.jsonl" in capsys.readouterr().err


def test_without_matplotlib_the_cli_names_the_extra_before_the_work(tmp_path, capsys, monkeypatch):
    """report.html's figure needs matplotlib (the report extra): without it the CLI fitted (and replayed, for up to
    six hours of twin), wrote twin_params.json, then died in an import traceback before calibration.json."""
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    run = tmp_path / "run"
    run.mkdir()
    (run / "events.jsonl").write_text("not a journal\n")  # never read: the check comes first
    assert main([str(run), "--out", str(tmp_path / "fit"), "--quiet"]) == 2
    assert '".[report]"' in capsys.readouterr().err and not (tmp_path / "fit").exists()


# ---- a journal as the run left it, or damaged: what the fit may and may not take from it ----

def live_journal_lines(seconds: float = 300.0, seed: int = 5, flatten: bool = False,
                       cfg: AgentConfig = CFG, funds_usd: float | None = None) -> list[str]:
    """The lines of a journal written as the live CLI writes one (start record, events, shutdown) over a twin
    session of ``seconds``, as the CLI test above writes it: the cases below damage one line of it. ``flatten``:
    the run stops as ``--flatten-on-stop`` stops it, its shutdown line then the events of the stop (5 s more).
    ``cfg``: the live run's config (CFG's unless said); ``funds_usd``: what the account holds (its
    session.collateral_usd unless said)."""
    import tempfile
    from pathlib import Path

    ex = Exchange.build(TRUTH, seed)
    ex.fund(USER, cfg.session.collateral_usd if funds_usd is None else funds_usd)
    gateway = TwinGateway(ex, USER, "BTC", quota_poll_s=cfg.session.quota_poll_s, action_ttl_s=cfg.risk.ack_timeout_s,
                          bbo=cfg.session.bbo_feed)
    events: list = []
    driver = SimDriver(ex.env, gateway, live_core(cfg, 7, 1.0, 5, 0xA1B2C3D4), cfg.session.cycle_s, None, events)
    driver.start()
    ex.env.run(until=seconds)
    before_stop = len(events)
    if flatten:
        driver.stop(flatten=True)
        ex.env.run(until=seconds + 5.0)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "events.jsonl"
        journal = EventJournal(JsonlWriter(path))
        journal.start(start_record(0.0, cfg, venue="live", seed=7, tick=1.0, sz_decimals=5, cloid_prefix="0xa1b2c3d4"))
        for e in events[:before_stop]:
            journal.event(e)
        journal.shutdown(seconds, flatten=flatten)
        for e in events[before_stop:]:
            journal.event(e)
        journal.close()
        return path.read_text().splitlines(True)


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return live_journal_lines()


def run_folder(tmp_path, lines: list[str], name: str = "run"):
    run = tmp_path / name
    run.mkdir()
    (run / "events.jsonl").write_text("".join(lines))
    return run


def nth(lines: list[str], kind: str, k: int) -> int:
    """The index of the ``k``-th line of event ``kind``."""
    return [i for i, x in enumerate(lines) if x.startswith(f'{{"e":"{kind}"')][k]


def test_a_run_too_short_for_the_market_says_what_it_had_against_what_a_fit_needs(tmp_path, capsys):
    """A 90-second live run's calibration said "market: not fitted (too few updates or trades, or a HIP-3 coin the
    base does not list)": which of three, and how far short, left to guess. It says the counts now, in the
    printout, the report and calibration.json."""
    run = run_folder(tmp_path, live_journal_lines(seconds=60.0))
    assert main([str(run), "--quiet", "--replay-hours", "0"]) == 0
    out = capsys.readouterr().out
    said = re.search(r"market: not fitted, the base's kept \((\d+) book updates where a fit needs 200\)", out)
    assert said and 0 < int(said.group(1)) < 200, out
    why = json.loads((run / "calibration" / "calibration.json").read_text())["market_not_fitted"]
    assert why == f"{said.group(1)} book updates where a fit needs 200"
    assert f"Not fitted (the base's kept): {why}." in (run / "calibration" / "report.html").read_text()


def test_a_run_that_saw_no_book_names_its_coin_the_base_lists_and_says_its_market_kept(tmp_path, capsys):
    """A run too short for a book with both sides (its journal 50 ms long) said "market: not fitted, the base has no
    market either: the twin has none" with a doubled space where the coin goes (the coin was the books' only), of
    BTC, which the base lists, and then replayed the fitted twin on it. The run's coin is its config's: the base's
    market is said kept (fails on BASE)."""
    run = run_folder(tmp_path, live_journal_lines(seconds=0.05))
    assert main([str(run), "--quiet", "--replay-hours", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "market: not fitted, the base's kept (the run saw no book of its coin)" in out, out
    assert "  " not in out and "the fitted twin replayed for " in out, out
    s = json.loads((run / "calibration" / "calibration.json").read_text())
    assert s["market_kept"] == "the base's kept", s["market_kept"]
    assert "  " not in (run / "calibration" / "report.html").read_text()


def test_a_base_without_the_runs_coin_and_a_run_too_short_to_fit_it_says_so_not_a_hip3_coin(tmp_path, capsys):
    """A BTC run on a base that lists no BTC, too short to fit its market, said "the fitted twin is not replayed: it
    has no market for the run's coin (a HIP-3 coin the base lacks ...)" and "the base's kept": BTC is no HIP-3
    coin, and the base had nothing to keep."""
    base = TwinParams()
    base = base.model_copy(update={"instruments": [i for i in base.instruments if i.coin != "BTC"], "markets": {}})
    (tmp_path / "base.json").write_text(base.to_json())
    run = run_folder(tmp_path, live_journal_lines(seconds=60.0))
    assert main([str(run), "--quiet", "--replay-hours", "0.01", "--base", str(tmp_path / "base.json")]) == 0
    out = capsys.readouterr().out
    assert "HIP-3" not in out and "market: not fitted, the base's kept" not in out, out
    assert re.search(r"the fitted twin is not replayed: it has no market for BTC \(the base has none, and the run's "
                     r"was not fitted: \d+ book updates where a fit needs 200\)", out), out
    # said where the replay's line goes, not before the calibration's first line, and in report.html, which said
    # nothing of it (fails on BASE)
    assert out.index("the fitted twin is not replayed") > out.index("\ndisconnects: "), out
    page = (run / "calibration" / "report.html").read_text()
    assert re.search(r"<h2>The fitted twin replayed</h2><p>Not replayed: it has no market for BTC \(the base has none, "
                     r"and the run's was not fitted: \d+ book updates where a fit needs 200\)\.</p>", page), page
    assert "market: not fitted, the base has no BTC market either: the twin has none (" in out, out


def test_a_replay_too_short_for_the_round_trips_ks_or_a_row_says_so_not_nan(tmp_path, capsys):
    """A short live run's calibration, replayed, printed "round trips KS nan against the observed" and rows such as
    "filled, of orders rested at the touch 0.5806 / nan": nan read as a number gone wrong, where the report says
    "–". The console now says the KS distance was not measured and why, and gives a row's missing side as "–"."""
    run = run_folder(tmp_path, live_journal_lines(seconds=12.0))
    assert main([str(run), "--quiet", "--replay-hours", "0.01"]) == 0
    said = [x for x in capsys.readouterr().out.splitlines() if x.startswith("the fitted twin replayed")]
    assert len(said) == 1 and "nan" not in said[0], said
    assert "round trips KS not measured (fewer than 20 round trips seen) against the observed" in said[0], said
    # and report.html says it too: it read "Kolmogorov-Smirnov distance –." (fails on BASE)
    page = (run / "calibration" / "report.html").read_text()
    assert "(the first seed): Kolmogorov-Smirnov distance not measured (fewer than 20 round trips seen).</p>" in page


def test_a_short_run_is_replayed_for_its_own_length_not_a_minute(tmp_path, capsys):
    """A 12-second live run was replayed for 60 s ("0.02 h"), unsaid (--help: "for the run's length"): now for its
    own length, as the summary's observed and replayed lengths show."""
    run = run_folder(tmp_path, live_journal_lines(seconds=12.0))
    assert main([str(run), "--quiet", "--replay-hours", "0.1"]) == 0
    s = json.loads((run / "calibration" / "calibration.json").read_text())
    assert 5.0 < s["duration_s"] < 15.0 and s["replay"]["duration_s"] == pytest.approx(s["duration_s"]), s["replay"]


def test_a_short_runs_lengths_and_figures_are_printed_without_an_exponent_or_a_zero_hour(tmp_path, capsys):
    """A 12-second run's calibration printed "1 run(s), 0.00 h", "disconnects: 0 per hour (0 – 1.14e+03)" and the
    replay's "requests used per hour 1.262e+04 / ...": a length of no hours, and numbers of one line in two
    notations. Now its length in seconds, and figures grouped, without an exponent."""
    run = run_folder(tmp_path, live_journal_lines(seconds=12.0))
    assert main([str(run), "--quiet", "--replay-hours", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "e+" not in out and "0.00 h" not in out, out
    assert re.search(r"^1 run, 1[12] s, ", out, re.M), out
    assert re.search(r"^disconnects: 0 drops over 1[12] s, 0 per connected hour \(95%: 0 – 1,[0-9]{3}\)$", out,
                     re.M), out
    assert re.search(r"^the fitted twin replayed for 1[12] s on 1 seed: ", out, re.M), out
    assert "(s)" not in out, out
    assert re.search(r"requests used per hour [0-9]{2},[0-9]{3} / [0-9]{2},[0-9]{3};", out), out


def test_a_short_runs_report_gives_its_lengths_and_figures_as_the_console_does(tmp_path):
    """report.html kept what the console lost in 9d200d2: a 12-second run "over 0.00 h", replayed "for 0.00 h",
    disconnects "0 per connected hour (95%: 0 – 1.14e+03)" and replay cells "1.262e+04". Now the console's
    lengths and figures (calibration.report.length_text, figure_text): "12 s", "0 – 1,140", "12,620"."""
    run = run_folder(tmp_path, live_journal_lines(seconds=12.0))
    assert main([str(run), "--quiet", "--replay-hours", "0.1"]) == 0
    page = re.sub(r"base64,[^']*", "", (run / "calibration" / "report.html").read_text())  # (the figures' bytes)
    assert "e+" not in page and "0.00 h" not in page, page
    assert re.search(r"1 run, 1[12] s, ", page) and ", on 1 seed. What" in page, page
    assert re.search(r"0 drops over 1[12] s, 0 per connected hour \(95%: 0 – 1,[0-9]{3}\)", page), page
    assert re.search(r"with the run's agent config for 1[12] s, observed", page), page
    assert re.search(r"<td>requests used per hour</td><td>[0-9]{2},[0-9]{3}</td><td>[0-9]{2},[0-9]{3}</td>", page), page


def test_a_run_never_connected_says_its_drops_and_the_base_rate_kept_not_a_rate_with_no_upper_end(tmp_path, capsys,
                                                                                                 lines):
    """A run whose socket dropped as it began (no time connected): report.html read "1 drop over 0 s: 0 per connected
    hour (95%: 0 – –)", a rate of none with an interval of no upper end, while the printout said only that the base's
    rate was kept. Now both give the drop and why the base's rate is kept, in one wording (fails on BASE)."""
    drop = '{"e":"ConnectionLost","ts":0.0,"stream":"ws","silent_since":null}\n'
    run = run_folder(tmp_path, [lines[0], drop] + lines[1:4] + ['{"e":"shutdown","ts":0.5}\n'])
    assert main([str(run), "--quiet", "--replay-hours", "0"]) == 0
    out = capsys.readouterr().out
    page = (run / "calibration" / "report.html").read_text()
    said = "1 drop over 0 s, not fitted (no time connected): the base's rate kept"
    assert f"\ndisconnects: {said}\n" in out, out
    assert f"<h2>Disconnects</h2><p>{said}; " in page and "– –" not in page, page


def test_a_drop_in_a_runs_first_instant_keeps_the_bases_rate_past_the_twins_bound_and_says_so(tmp_path, capsys,
                                                                                              lines):
    """One drop a quarter second into a run is 15,000 an hour, past the twin's bound (10,000): the calibration stopped
    with "error: 1 validation error for TwinParams", naming no file nor why (fails on BASE). Now the base's rate is
    kept, and said with the drop and the time connected."""
    ts = json.loads(lines[3])["ts"]
    drop = f'{{"e":"ConnectionLost","ts":{ts + 0.05},"stream":"ws","silent_since":null}}\n'
    run = run_folder(tmp_path, lines[:4] + [drop, f'{{"e":"shutdown","ts":{ts + 0.1}}}\n'])
    assert main([str(run), "--quiet", "--replay-hours", "0"]) == 0, capsys.readouterr().err
    s = json.loads((run / "calibration" / "calibration.json").read_text())
    why = s["kept_from_base"]["connection.hazard_per_hour"]
    assert re.fullmatch(r"1 drop in 0\.[0-9]+ s connected, [0-9,]+ an hour: past the twin's bound of 10,000, "
                        r"too little time connected to fit", why), why
    assert f"\ndisconnects: 1 drop over 0 s, not fitted ({why}): the base's rate kept\n" in capsys.readouterr().out


def test_the_disconnect_rate_is_said_as_the_replays_row_gives_it(tmp_path, capsys):
    """The disconnects line read "2.01 per connected hour" above the replay's row "disconnects per connected hour
    2.006 / 2.004": one figure two ways (fails on BASE). Now the row's figures (cell_text) in the printout and the
    page alike."""
    from calibration.__main__ import _say
    from calibration.report import cell_text, write_report
    z = np.zeros(0)
    obs = Observations(z, 0, 0, {}, 0, 0, z, 3, np.asarray([5.0, 6.0, 7.0]), 5300.0, 5400.0)
    f = fit(obs)
    s = write_report(f, tmp_path / "out", "hand-made", np.random.default_rng(0))
    _say(s, obs, f, None, tmp_path / "out", False)
    rate = cell_text(f.hazard_per_hour.rate)
    assert rate == "2.038"
    said = f"3 drops over 90 min, {rate} per connected hour (95%: 0.42 – 5.96)"
    assert f"\ndisconnects: {said}\n" in capsys.readouterr().out
    assert f"<h2>Disconnects</h2><p>{said}; " in (tmp_path / "out" / "report.html").read_text()


def test_the_quota_line_groups_its_thousands_and_says_what_it_used(tmp_path, capsys):
    """The console's quota line read "started with 10000 requests of headroom, used 12625 an hour" (and report.html
    the same) beside figures grouped since 9d200d2 ("requests used per hour 12,620 / ..."): now 10,000 and 12,625,
    to the request as before, and the rate as the other figures (figure_text, no exponent). And "used 12,625 an
    hour" said not of what: now "used 12,625 requests an hour", as the replay's row and the seeds' spread say them
    (fails on 554962d)."""
    run = run_folder(tmp_path, live_journal_lines(seconds=12.0))
    assert main([str(run), "--quiet", "--replay-hours", "0.1"]) == 0
    out = capsys.readouterr().out
    s = json.loads((run / "calibration" / "calibration.json").read_text())
    q = s["quota"]
    assert q["start_headroom"] >= 1000 and q["used_per_hour"] >= 1000, q  # (else nothing here to group)
    said = (f"one request per 1 USDC traded; started with {q['start_headroom']:,} requests of headroom, used "
            f"{q['used_per_hour']:,.0f} requests an hour")
    assert f"\nquota: {said}\n" in out, out
    page = (run / "calibration" / "report.html").read_text()
    assert (f"the cap grew one request per 1 USDC traded (the venue's rule: 1); the run started with "
            f"{q['start_headroom']:,} requests of headroom (the fitted twin's initial buffer) and used "
            f"{q['used_per_hour']:,.0f} requests an hour.") in page


def test_a_count_of_one_is_said_in_the_singular():
    """The printout and report.html said "1 run(s)", "1 seed(s)", and a run too short for the market's fit "1 book
    updates where a fit needs 200, 1 market trades where ...": one helper (count_text) now says every count with its
    noun, singular for one, and grouped (fails on 554962d)."""
    from calibration.fit import market_unfitted_why, rejections_of
    from calibration.numbers_text import count_text

    z = np.zeros(0)
    assert [count_text(n, "book update") for n in (0, 1, 2, 12625)] == \
        ["0 book updates", "1 book update", "2 book updates", "12,625 book updates"]
    assert count_text(1, "such reply", "such replies") == "1 such reply" and \
        count_text(3, "such reply", "such replies") == "3 such replies"
    one = np.ones(1)
    obs = Observations(z, 0, 0, {}, 0, 0, z, 0, z, 0.0, 1.0, coin="BTC", book_ts=z + 1.0, mid=one * 100.0,
                       spread=one, level_sz=np.ones((1, 2, 1)), trade_sz=one, trade_ts=one, trade_side=one)
    assert market_unfitted_why(obs, True) == "1 book update where a fit needs 200, 1 market trade where a fit needs 50"
    assert rejections_of(obs, "Oracle", one=True) == "place that passed the rules"
    assert rejections_of(obs, "Oracle") == "places that passed the rules"


def test_an_intervals_end_the_data_do_not_bound_is_said_in_words():
    """The prints' reach not fitted read "(95% interval 1.45 – inf per price unit)" (a twin run of 20 minutes): an
    end the prints do not bound is now said so, "at least 1.45 per price unit", and a bounded interval as before
    (fails on 554962d: no interval_text)."""
    from calibration.numbers_text import interval_text

    assert interval_text(1.4512, math.inf, 3, " per price unit") == "at least 1.45 per price unit"
    assert interval_text(-math.inf, 2.5, 3) == "at most 2.5"
    assert interval_text(-math.inf, math.inf, 3) == "unbounded either way"
    assert interval_text(0.0, 1370.4, 3, " per hour") == "0 – 1,370 per hour"


def test_figures_keep_their_significant_digits_without_an_exponent():
    from calibration.report import figure_text as _figure
    assert [_figure(v, 3) for v in (6.2234, 1370.4, 0.0, 1e-5, 999.6, 123456.0)] == \
        ["6.22", "1,370", "0", "0.00001", "1,000", "123,000"]
    assert [_figure(v, 4) for v in (12625.3, 0.5938, -0.1698, 1.0)] == ["12,630", "0.5938", "-0.1698", "1"]


@pytest.fixture(scope="module")
def five_minutes(lines, tmp_path_factory) -> tuple[str, str, dict]:
    """The 300-second journal calibrated, its replay 72 s on two seeds: (the printout, report.html's text without
    its figures' bytes, calibration.json), the run's folder said as RUN in both."""
    import contextlib
    import io

    run = run_folder(tmp_path_factory.mktemp("five"), lines)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([str(run), "--quiet", "--replay-hours", "0.02", "--replay-seeds", "2"]) == 0
    page = re.sub(r"base64,[^']*", "", (run / "calibration" / "report.html").read_text())
    return (out.getvalue().replace(str(run), "RUN"), page.replace(str(run), "RUN"),
            json.loads((run / "calibration" / "calibration.json").read_text()))


def test_counts_are_grouped_by_thousands_as_the_rest_of_the_project_writes_them(five_minutes):
    """The printout and report.html said counts ungrouped, "1,168 prints" as "221 of 1168 prints past the touch
    seen", "1262 trades", beside figures grouped (figure_text's "15,520" requests an hour, a quota headroom's
    "10,000"): every count is now grouped as the rest of the project writes it (fails on BASE)."""
    out, page, s = five_minutes
    trades = s["market"]["trades"]
    assert trades >= 1000, trades  # (else nothing here to group)
    assert f"market BTC, {s['market']['updates']:,} book updates and {trades:,} trades:" in out, out
    assert f"{s['market']['updates']:,} book updates, {trades:,} trades." in page
    reach = s["market"]["reach"]
    assert reach["n"] >= 1000 and f"{reach['beyond']:,} of {reach['n']:,} prints past the touch seen" in out
    # no integer of four digits or more anywhere ungrouped (a date in the report's prose aside)
    text = out + re.sub(r"<[^>]+>", " ", page).replace("2026-07", "")
    assert not re.findall(r"(?<![\d.,])\d{4,}", text), re.findall(r".{40}(?<![\d.,])\d{4,}.{20}", text)



def test_the_fits_reasons_and_the_reports_p_values_are_said_without_an_exponent(tmp_path):
    """The figures the report and the printout give were freed of exponents (figure_text), but the fit's own texts
    kept ``.3g`` and ``g``: a cheap coin's prints' reach not fitted read "95% interval 3.06e+06 – inf per price unit",
    its tick taken "kPEPE's tick 1e-07 ... price 0.0123456: the run's, 1e-06, taken", and report.html's KS line a
    poor fit's "p = 2.24e-17" (fails on 9804079, all three). Now figure_text's, the one helper
    (calibration/numbers_text.py, which report.py takes too), and a p-value under 0.001 is said so."""
    from calibration.fit import fit_reach, listable_tick
    from calibration.numbers_text import figure_text
    from calibration.report import figure_text as reports, p_text, write_report
    from twin.instruments import InstrumentSpec
    from twin.market import SyntheticMarketParams

    assert reports is figure_text  # (one helper, not two)
    z, n, tick = np.zeros(0), 600, 1e-6
    touch = np.full(n, 0.012345)  # 40 of 600 buys one step past the touch: k bounded below only
    px = touch + np.where(np.arange(n) < 40, tick, 0.0)
    obs = Observations(z, 0, 0, {}, 0, 0, z, 0, z, 0.0, 600.0, trade_sz=np.ones(n), trade_px=px, trade_touch=touch,
                       trade_side=np.ones(n), mid=np.array([0.0123456]), tick=tick)
    r = fit_reach(obs, tick)
    assert r.hi == math.inf and r.lo > 1e6 and f"(95% interval: at least {figure_text(r.lo, 3)} per" in r.why, r
    assert "(95% interval: at least 3,060,000 per price unit)" in r.why, r.why
    pepe = InstrumentSpec(name="kPEPE", index=2, sz_decimals=0, tick=1e-7)
    got, why = listable_tick(pepe, SyntheticMarketParams(), obs)
    assert got == tick and why == ("kPEPE's tick 0.0000001 would list prices the venue refuses at the run's price "
                                   "0.0123456: the run's, 0.000001, taken"), why
    for text in (r.why, why):
        assert not re.search(r"[0-9]e[-+]?[0-9]", text), text
    assert [p_text(p) for p in (2.24e-17, 0.000999, 0.001, 0.01234, 0.5, None)] == \
        ["p < 0.001", "p < 0.001", "p = 0.001", "p = 0.0123", "p = 0.5", "p = –"]
    rng = np.random.default_rng(3)  # round trips with a long fast tail: no two log-normal legs draw them
    rt = np.exp(math.log(0.12) - 0.1 * np.exp(rng.normal(0.0, 0.5, 2000)))
    f = fit(Observations(rt, 2000, 2000, {}, 2000, 0, z, 0, z, 3600.0, 3600.0))
    s = write_report(f, tmp_path / "out", "hand-made", np.random.default_rng(0))
    page = re.sub(r"base64,[^']*", "", (tmp_path / "out" / "report.html").read_text())
    assert s["latency"]["ks_pvalue"] < 1e-10 and "Kolmogorov-Smirnov distance 0.103 (p &lt; 0.001)." in page
    assert not re.search(r"[0-9]e[-+][0-9]", page), page

def test_the_market_and_rejection_figures_read_alike_in_report_html_and_on_the_console_without_an_exponent(
        fitted, tmp_path, capsys):
    """report.html's market paragraph gave its figures as ``.3g`` and ``.4g`` and its rejection rows as ``.4g``, as
    the console did too: a coin priced in thousandths moves some 3e-06 per √s, and both read "volatility 3.21e-06
    per √s"; a reason seen once in 40,000 places "2.5e-05 (4.414e-06 – 0.0001416)"; a deep book "1.235e+04 at the
    touch". Now both give them by ``figure_text`` (the same significant digits, no exponent, thousands grouped), one
    text in the page and on the console."""
    from dataclasses import replace
    from calibration.__main__ import _say
    from calibration.fit import RateFit, RegimeFit, wilson
    from calibration.report import figure_text, write_report
    m = fitted.market
    assert m is not None
    regimes = RegimeFit(3600, 3.2094e-6, 9.8765e-6, 1e-3, 1e-2, 0.1, True)
    market = replace(m, vol_per_sqrt_s=3.2094e-6, trade_size_median=12345.6, depth_at_touch=12345.6, regimes=regimes)
    f = replace(fitted, market=market, rejections={**fitted.rejections, "Tiny": RateFit(1, 40_000, 2.5e-5,
                                                                                         *wilson(1, 40_000))})
    s = write_report(f, tmp_path / "out", "hand-made", np.random.default_rng(0))
    page = re.sub(r"base64,[^']*", "", (tmp_path / "out" / "report.html").read_text())
    _say(s, f.observations, f, None, tmp_path / "out", False)
    out = capsys.readouterr().out
    market_html = page[page.index("<h2>The market"):page.index("Jumps and the latent alpha")]
    rows_html = page[page.index("<h2>Rejections"):page.index("<h2>Disconnects")]
    market_out = "\n".join(line for line in out.splitlines() if line.startswith(("market ", "regimes", "rejections")))
    for text in (market_html, rows_html, market_out):
        assert not re.search(r"[0-9]e[-+][0-9]", text), text  # (was "3.21e-06", "2.5e-05", "1.235e+04")
    lo, hi = wilson(1, 40_000)
    for v, digits in ((3.2094e-6, 3), (9.8765e-6, 3), (12345.6, 4), (2.5e-5, 4), (lo, 4), (hi, 4)):
        assert figure_text(v, digits) in market_html + rows_html and figure_text(v, digits) in market_out, (v, out)
    assert "Volatility 0.00000321 per √s" in page and "volatility 0.00000321 per √s" in out
    assert "<td>Tiny</td><td>1</td><td>40,000</td><td>places that passed the rules</td><td>0.000025</td>" in page
    assert "rejections Tiny: 0.000025 (" in out
    assert "12,350 BTC shown at the touch" in page and "12,350 BTC at the touch" in out


def test_each_rejection_row_says_what_its_share_is_of_as_its_count_is(tmp_path, capsys):
    """report.html's rejections table was headed "share of the places that passed the rules" over every row: the
    transport row under it is a share of requests of places (none of whose places was answered), and PerpMargin's of
    the places adding to the position (fit.venue_rates: a margin refusal only to those), 1,867 of 3,455 in a half-hour
    twin run. Each row now says what it counts, the heading that the rows differ, and the printout's line alike.
    Fails at 06169538."""
    from calibration.__main__ import _say
    from calibration.report import write_report
    z = np.zeros(0)
    kinds = {"Alo|0|1": 300, "Alo|0|0": 600, "Ioc|1|0": 100}  # 1,000 passed the rules, 300 adding to the position
    obs = Observations(np.full(1000, 0.1), 1050, 1050, {"PerpMargin": 6, "Oracle": 10, "BadAloPx": 50}, 1010, 4, z, 0,
                       z, 3600.0, 3600.0, eligible_kinds=kinds)
    f = fit(obs)
    assert (f.rejections["PerpMargin"].n, f.rejections["Oracle"].n, f.transport.n) == (300, 1000, 1010)
    write_report(f, tmp_path / "out", "hand-made", np.random.default_rng(0))
    page = (tmp_path / "out" / "report.html").read_text()
    table = page[page.index("<h2>Rejections"):page.index("<h2>Disconnects")]
    assert "share of the places that passed the rules" not in table, table
    assert "<th>of</th><th>of what</th><th>share</th>" in table, table
    assert "<td>Oracle</td><td>10</td><td>1,000</td><td>places that passed the rules</td><td>0.01</td>" in table
    assert ("<td>PerpMargin</td><td>6</td><td>300</td><td>places that passed the rules, adding to the position</td>"
            "<td>0.02</td>") in table, table
    assert "<td>4</td><td>1,010</td><td>requests of places</td><td>0.00396</td>" in table, table
    _say(json.loads((tmp_path / "out" / "calibration.json").read_text()), obs, f, None, tmp_path / "out", False)
    out = capsys.readouterr().out
    assert ", 6 of 300 places that passed the rules, adding to the position\n" in out, out
    assert ", 10 of 1,000 places that passed the rules\n" in out, out


def test_the_reports_touch_moves_of_the_default_path_are_said_for_shadow_and_for_full(fitted):
    """report.html's "not calibrated" paragraph gave the default 0.1 s path's touch as moving "8 times by 2.5" a
    second, measured at Shadow (test_the_touchs_moves_under_a_second_...): a run quoting at Full on that very path
    read 4.4 by 2.8 (a push with one of our quotes at a side is no touch of the market's, left out), which against
    the 8 looked like a slower path than the default. The report now says both, and to set a run against its replay.
    Fails at 06169538 (the text)."""
    from calibration.fit import touch_moves
    from calibration.report import report_files
    moves, ticks = touch_moves(fitted.observations, 1.0)  # (two hours at Full of the default path: seed 11)
    assert 4.0 < moves < 4.8 and 2.6 < ticks < 3.0, (moves, ticks)
    page = report_files(fitted, "run", np.random.default_rng(0))[1]["report.html"]
    assert ("watched at Shadow, none of our quotes at the touch, a 0.4 s path moves the touch some 2 times a second by "
            "4-5 ticks, the default 0.1 s one 8 times by 2.5; quoting at Full, the pushes with one of our quotes at a "
            "side left out, the default read 4.4 times by 2.8") in page


def test_a_dry_runs_orders_are_not_measured_as_fills_by_distance_from_the_touch(tmp_path, capsys, lines):
    """A dry run (execution level 2, the README's first live step) sends its orders 5% beyond the touch and
    cancels them as they rest, but the replayed core knows them at its quoted prices: calibration printed "filled,
    of the orders rested: inside the spread 0.00 (0/44), at the touch 0.00 (0/21) ...", and the replay check set
    the fitted twin's 0.74 beside those zeros."""
    start = json.loads(lines[0])
    for level in (4, 2):
        run = run_folder(tmp_path, [json.dumps({**start, "execution_level": level}) + "\n"] + lines[1:], f"l{level}")
        assert main([str(run), "--quiet", "--replay-hours", "0"]) == 0
        out = capsys.readouterr().out
        by_distance = json.loads((run / "calibration" / "calibration.json").read_text())["fills"]["by_distance"]
        if level == 4:
            assert "filled, of the orders rested: inside the spread" in out and by_distance, out
        else:
            assert "filled, of the orders rested" not in out and not by_distance, out
            assert f"left out: {run / 'events.jsonl'}: the run started at line 1: a dry run (execution level 2): " \
                   f"its fills by distance from the touch" in out, out


def test_a_run_stopped_with_flatten_on_stop_is_calibrated_its_stops_orders_replayed(tmp_path, capsys):
    """A live run folder holding a --flatten-on-stop run (README: "the event journal records it, so the replay does
    the same", and agent.audit --replay found it identical) was refused by calibration: "OrderAcknowledged of 0x…60,
    an order the replayed core never sent". Its reader skipped the journal's shutdown line, so the replayed core never
    stopped, and the stop's flatten IOC, acknowledged after it, was a reply to nothing. The core is stopped there now,
    as the audit's replay stops it."""
    lines = live_journal_lines(seconds=60.2, flatten=True)  # (between two cycles: the stop's IOC answered first)
    stop = next(i for i, x in enumerate(lines) if x.startswith('{"e":"shutdown"'))
    assert '"flatten":true' in lines[stop]
    assert any(x.startswith('{"e":"OrderAcknowledged"') and '"resting":false' in x for x in lines[stop:])  # the IOC
    run = run_folder(tmp_path, lines)
    assert main([str(run), "--quiet", "--replay-hours", "0"]) == 0, capsys.readouterr().err
    assert "an order the replayed core never sent" not in capsys.readouterr().err


def test_an_order_a_killed_run_left_resting_is_not_counted_as_one_that_did_not_fill(tmp_path, capsys, lines):
    """A live run killed outright (SIGKILL, an OOM) leaves its orders on the book, where they may fill after: in a
    walk of README's workflow the three a kill -9 left all filled before the restart read the account (its snapshot
    showed only the position). The killed run's journal ends with them resting and no fill, and calibration counted
    each as an order that rested and did not fill, lowering the fill shares by distance. Their fate is unknown: a
    journal cut just after an order rested must count the same orders as one cut just before (it never saw it rest).
    Those left out were not said: ``left_out`` named nothing, and the report read as if every rested order were
    counted. Now it names the run and how many; a run stopped as usual (its orders cancelled) has none to name.
    """
    acks = [i for i, x in enumerate(lines) if x.startswith('{"e":"OrderAcknowledged"') and '"resting":true' in x]
    cut = acks[len(acks) // 2]
    counted, said = [], []
    for name, keep in (("before", cut), ("after", cut + 1)):  # (no shutdown line: a run killed there)
        run = run_folder(tmp_path, [x for x in lines[:keep] if '"e":"shutdown"' not in x], name)
        assert main([str(run), "--quiet", "--replay-hours", "0"]) == 0
        s = json.loads((run / "calibration" / "calibration.json").read_text())
        counted.append(sum(r["n"] for r in s["fills"]["by_distance"]))
        said.append([x for x in s["left_out"] if "still resting unfilled" in x])
    capsys.readouterr()
    assert counted[0] == counted[1] > 0, counted
    assert len(said[1]) == 1, said
    obs = observe_journal(tmp_path / "after")
    assert obs.resting_at_end > 0
    assert said[1][0].startswith(f"{tmp_path / 'after' / 'events.jsonl'}: the run started at line 1: "
                                 f"{obs.resting_at_end:,} orders ")
    stopped = observe_journal(run_folder(tmp_path, live_journal_lines(flatten=True), "stopped"))  # (its stop answered)
    assert stopped.resting_at_end == 0 and not [x for x in stopped.left_out if "still resting" in x]


def test_a_runs_left_out_lines_name_where_the_run_started_not_a_damaged_line(tmp_path, capsys, lines):
    """What ``left_out`` says of a run (its orders still resting at its end, its missing end line) named it by its
    start record's place, "events.jsonl: line 1: 5 orders still resting unfilled ...", in the printout and
    report.html alike: read as if line 1 were damaged, as a crash's cut line is named ("FILE: line 7: a line cut by a
    crash"). It says "events.jsonl: the run started at line 1: ..." now, and the second run's its own start line.
    Fails at 7d0ee888."""
    acks = [i for i, x in enumerate(lines) if x.startswith('{"e":"OrderAcknowledged"') and '"resting":true' in x]
    cut = acks[len(acks) // 2] + 1  # (killed just after an order rested: no end line, orders left resting)
    run = run_folder(tmp_path, lines + lines[:cut])  # (a whole run, then one killed)
    assert main([str(run), "--replay-hours", "0"]) == 0
    out = capsys.readouterr().out
    journal = run / "events.jsonl"
    said = [x for x in out.splitlines() if x.startswith("left out: ")]
    page = (run / "calibration" / "report.html").read_text()
    second = f"left out: {journal}: the run started at line {len(lines) + 1}: "
    assert all(x.startswith((f"left out: {journal}: the run started at line 1: ", second)) for x in said), said
    theirs = [re.sub(r"^[0-9,]+ orders? ", "N orders ", x[len(second):]).split(" (")[0]
              for x in said if x.startswith(second)]
    assert theirs == ["N orders still resting unfilled when this run's events end", "no end line"], said
    for x in said:
        assert f"<li>{html.escape(x[len('left out: '):])}</li>" in page
    assert f"{journal}: line " not in out and f"{html.escape(str(journal))}: line " not in page


def test_the_replay_funds_its_account_as_the_live_account_was_not_with_the_drawdown_basis(tmp_path):
    """session.collateral_usd is the drawdown rules' basis, which a live config may set to a part of the account; the
    replay funded its twin account with it. A run on a 100,000 USDC account with the basis at 50: none of its 85
    places was refused for margin, and the fitted twin's replay refused 11 of 46 (PerpMargin, a rule of the twin's,
    no row of the report's). It is funded now with what the run's first snapshot had free to margin orders with."""
    from calibration.fit import replay_check
    cfg = CFG.model_copy(update={"session": CFG.session.model_copy(update={"collateral_usd": 50.0})})
    obs = observe_journal(run_folder(tmp_path, live_journal_lines(seconds=300.0, cfg=cfg, funds_usd=100_000.0)))
    assert obs.start_free_usd == pytest.approx(100_000.0) and "PerpMargin" not in obs.rejections and obs.places > 50
    rep = replay_check(fit(obs), obs.config, max_s=300.0).replayed
    assert rep.places > 20 and "PerpMargin" not in rep.rejections, rep.rejections
    assert rep.start_free_usd == pytest.approx(100_000.0)


def test_a_unified_accounts_run_whose_perp_clearinghouse_shows_nothing_is_replayed_funded_from_its_config(tmp_path,
                                                                                                        capsys):
    """A unified account keeps its USDC in spot and margins perps from it: its perp clearinghouseState, which the
    account snapshots read, shows some cents, and the live CLI starts only with session.collateral_usd set. The
    replay was funded with the first snapshot's 0.37 USDC, and the fitted twin refused every place adding to the
    position for margin (24 of 24 PerpMargin; 30 places in the 600 s), where the venue had taken
    them. Where the snapshot had under 1 USDC free yet
    the venue took orders adding to the position, the replay is funded from session.collateral_usd, and it is said
    with the file and fields it comes from."""
    cfg = CFG.model_copy(update={"session": CFG.session.model_copy(update={"collateral_usd": 20_000.0})})
    lines = live_journal_lines(seconds=300.0, cfg=cfg, funds_usd=100_000.0)
    unified = []
    for x in lines:  # (the core reads no account value: the run's decisions are as they were)
        if x.startswith('{"e":"AccountSnapshot"'):
            d = json.loads(x)
            d.update(account_value=0.37, margin_used=0.0)
            x = json.dumps(d, separators=(",", ":")) + "\n"
        unified.append(x)
    from calibration.__main__ import _say
    from calibration.fit import replay_check
    from calibration.report import write_report
    obs = observe_journal(run_folder(tmp_path, unified))
    assert obs.start_free_usd == pytest.approx(0.37) and obs.places > 50
    f = fit(obs)
    check = replay_check(f, obs.config, max_s=300.0)
    rep = check.replayed  # (the twin draws PerpMargin at random too: the run's 2%, not all)
    assert rep.places > 20 and rep.rejections.get("PerpMargin", 0) <= 0.1 * rep.eligible_for("PerpMargin"), \
        (rep.rejections, rep.eligible_for("PerpMargin"))
    s = write_report(f, tmp_path / "out", "hand-made", np.random.default_rng(0), check)
    _say(s, obs, f, check, tmp_path / "out", False)
    said = ("had 0.37 USDC to margin orders with, yet the venue took", "session.collateral_usd, 20,000.00 USDC",
            "AccountSnapshot.account_value less margin_used")
    out = capsys.readouterr().out
    assert all(x in s["replay"]["funded"] and x in out for x in said), (s["replay"]["funded"], out)
    assert "The replay's account: the run's first account snapshot" in (tmp_path / "out" / "report.html").read_text()


def test_an_account_with_little_free_margin_whose_orders_the_venue_refused_for_it_is_replayed_as_it_was():
    """A run whose first snapshot had 0.50 USDC free (its margin used by other coins' positions, say) and whose
    adding places the venue refused for margin, 20 of 24, but took 4 (small ones, or after those positions' profit):
    the account truly had little free, and the replay funded from session.collateral_usd (20,000 USDC) took every
    place the venue had refused. Only where the venue took more of them than it refused for margin was the margin
    elsewhere (a unified account: the venue's random PerpMargin refusals, 17 of 656, in the test above)."""
    import dataclasses

    from calibration.fit import replay_funds
    cfg = CFG.model_copy(update={"session": CFG.session.model_copy(update={"collateral_usd": 20_000.0})})
    z = np.zeros(0)
    tight = dataclasses.replace(Observations(z, 0, 0, {}, 0, 0, z, 0, z, 60.0, 60.0), start_free_usd=0.5,
                                eligible_kinds={"Alo|0|1": 24}, rejections={"PerpMargin": 20})
    assert replay_funds(tight, cfg) == (0.5, "")
    unified = dataclasses.replace(tight, rejections={"PerpMargin": 1})
    funds, said = replay_funds(unified, cfg)
    assert funds == 20_000.0 and "yet the venue took 23 orders adding" in said


def test_a_unified_account_is_told_by_the_run_whose_snapshot_funds_the_replay_not_by_the_runs_before_it():
    """A folder carrying on over a restart: the replay is funded from the last run's first snapshot, but whether the
    venue took its adding places was counted over every run. A first run on a funded account (24 adding places, all
    taken), then one whose account had 0.50 USDC free and every adding place refused for margin (20): the merged
    counts said 24 taken against 20 refused, and the replay was funded from session.collateral_usd (20,000 USDC). The
    last run's own counts are the evidence."""
    import dataclasses

    from calibration.fit import replay_funds
    cfg = CFG.model_copy(update={"session": CFG.session.model_copy(update={"collateral_usd": 20_000.0})})
    z = np.zeros(0)
    run = Observations(z, 0, 0, {}, 0, 0, z, 0, z, 60.0, 60.0)
    funded = dataclasses.replace(run, start_free_usd=100_000.0, eligible_kinds={"Alo|0|1": 24})
    emptied = dataclasses.replace(run, start_free_usd=0.5, eligible_kinds={"Alo|0|1": 20},
                                  rejections={"PerpMargin": 20})
    assert replay_funds(funded.merged(emptied), cfg) == (0.5, "")
    assert replay_funds(emptied.merged(funded), cfg) == (100_000.0, "")
    # (a unified account's last run after a funded one: its own counts tell it)
    unified = dataclasses.replace(emptied, rejections={"PerpMargin": 1})
    assert replay_funds(funded.merged(unified), cfg)[0] == 20_000.0


def test_a_line_cut_short_is_left_out_only_as_a_runs_last_and_refused_anywhere_else(tmp_path, capsys, lines):
    """A crash mid-write cuts the last line before the restart's start record (or the journal's end): that line is
    left out, and said. The same line garbled in the middle of a run (a disk's or a copy's error) lost a quote
    cycle: the replay went on without it and the transport failures read 28% instead of 0.8%, without a word."""
    i = nth(lines, "Timer", 100)
    garbled = lines[:i] + ["\x00" * (len(lines[i]) - 1) + "\n"] + lines[i + 1:]
    run = run_folder(tmp_path, garbled)
    assert main([str(run), "--quiet", "--replay-hours", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run / 'events.jsonl'}: line {i + 1}: not a whole JSON line, and not the last of "
                          "its run") and "Traceback" not in err
    assert not (run / "calibration").exists()
    # cut as a crash cuts: the journal's last line, and the last before a restart's start record
    cut = lines[:-1] + [lines[-1][:10] + "\n"] + lines[:1] + lines[1:nth(lines, "Timer", 50)]
    obs = observe_journal(run_folder(tmp_path, cut, "crashed"))
    assert obs.runs == 2 and [x for x in obs.left_out if "still resting unfilled" not in x and "no end line" not in x] \
        == [f"{tmp_path / 'crashed' / 'events.jsonl'}: line {len(lines)}: a line cut by a crash mid-write (the run's "
            f"last)"]
    # (the cut line was the first run's shutdown, and the second has none: each is said to have no end line)
    assert len([x for x in obs.left_out if "no end line" in x]) == 2


def test_a_compressed_segment_cut_short_is_refused_naming_it(tmp_path, capsys, lines):
    """An operator gzipped the journal's first segment and the copy was cut: the log's reader ends the segment at
    its cut without a word, and the fit went on with a run missing its middle."""
    import gzip
    run = tmp_path / "run"
    run.mkdir()
    half = len(lines) // 2
    blob = gzip.compress("".join(lines[:half]).encode())
    (run / "events-000001.jsonl.gz").write_bytes(blob[: len(blob) // 2])
    (run / "events.jsonl").write_text("".join(lines[half:]))
    assert main([str(run), "--quiet", "--replay-hours", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run / 'events-000001.jsonl.gz'} unreadable after its line ")
    assert "(cut short): the rest of it lost: the journal is damaged" in err


TURNED_CYCLE = 250  # the first tenth cycle from the 50th whose repeat turns this journal's replay another way


def test_a_quote_cycle_written_twice_is_refused_naming_the_first_reply_the_replay_never_asked_for(tmp_path, capsys):
    """A Timer line written twice: the replayed core quotes a cycle the run did not, and every order after it is
    another order. The venue's replies then name orders the replay never sent: counted, and refused naming the
    first (before, the places read 1,804 for 1,088 and the transport failures 27% for 0.8%). A cycle repeated at
    its own time sends nothing itself, its orders just sent being in flight: what it leaves behind is a second
    forecast in each signal's scorecard (their spacing is 0 under CFG's scorecard section), an outcome the run's
    cards never had, and that reaches the quotes once a card is judged (proven: its weight, calibration slope and
    edge bias then act). Under CFG no card is ever judged, and a doubled cycle left the replay on the run's path
    (until 6 December the slope of an unproven card's first outcomes scaled the quotes, and that took it off); this
    journal's run judges its cards from their 20th outcome (at 16 s). The first of every tenth cycle from the 50th
    whose repeat the replay turns another way is taken (it was the 50th, at 13 s: its extra forecast among those the
    cards are first judged on, and their weights differing from then; at the end of 6 December's stop, the 250th:
    the doubled forecasts of the 50th to the 240th turn no order of the replay another way). The search starts there,
    at TURNED_CYCLE: from the 50th, it replayed the journal 21 times before one was refused (3-4 s of the test's 5);
    a later change that moves the first such cycle on is still found by the search, one that moves it back finds
    the 250th or a later one, and a replay that no longer refuses (the check on stray replies gone) still fails
    the test. The cycles are tried through the replay alone (observe_journal, the CLI's first step, whose refusal
    is its exit 2), the CLI itself on the first and on the one the replay refuses: its fit and report on each
    journal it accepts took four fifths of this test's time."""
    scorecard = CFG.validation.scorecard.model_copy(update={"min_outcomes": 20})
    judged = CFG.model_copy(update={"validation": CFG.validation.model_copy(update={"scorecard": scorecard})})
    lines = live_journal_lines(cfg=judged)
    for k in range(TURNED_CYCLE, 600, 10):
        i = nth(lines, "Timer", k)
        run = run_folder(tmp_path, lines[:i + 1] + [lines[i]] + lines[i + 1:], f"run{k}")
        if k > TURNED_CYCLE:  # (the replay alone first: the CLI's fit and report are for the journal it refuses)
            try:
                observe_journal(run)
                continue
            except ValueError:
                pass
        code = main([str(run), "--quiet", "--replay-hours", "0"])
        if code != 0:
            break
        capsys.readouterr()
    assert code == 2, "no repeated cycle turned the replay another way"
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run / 'events.jsonl'}: line ") and "an order the replayed core never sent" in err
    assert f"in the run started at {run / 'events.jsonl'}: line 1)" in err
    # the journal as written replays to the last order
    assert observe_journal(run_folder(tmp_path, lines, "intact")).stray_replies == 0


def test_observe_counts_each_reply_to_an_order_it_never_sent():
    from agent.gateway.events import OrderAcknowledged, OrderRejected, Reason
    core = session_core(SHADOW, 1, 1.0, 5)
    seen: list = []
    obs = observe([OrderAcknowledged(1.0, "0xfeed", 5, True), OrderRejected(2.0, "0xbeef", Reason.TRANSPORT, "")],
                  core, on_stray=seen.append)
    assert obs.stray_replies == 2 and [e.cloid for e in seen] == ["0xfeed", "0xbeef"]


def test_observe_keeps_none_of_the_replayed_cores_decision_records(tmp_path, lines):
    """The replayed core writes its decision records as the live one did (a cycle's, a fill's, a snapshot's), and
    nobody reads them in a fit: kept, they grew some 19 MB an hour of journal (a day's folder held some 450 MB of
    them, on top of what the fit keeps, and the twin's replay as much per replayed hour)."""
    from calibration.observe import _JournalReader, _run_of, journal_files
    reader = _JournalReader(journal_files(run_folder(tmp_path, lines)))
    for _ in reader.run_events():  # (up to the start record)
        pass
    core = _run_of(reader.start, "line 1")[0]
    obs = observe(reader.run_events(), core, journal=True)
    assert len(obs.order_distance) > 100 and core.drain_records() == []


def test_a_core_error_on_a_twin_sessions_events_is_raised_as_itself_not_said_as_a_journals_line():
    """The fit's replay of the fitted twin (replay_check) observes a twin session's events through a fresh core: an
    exception there is the core's bug, and was turned into the journal's CoreFailed, a ValueError the CLI printed as
    a bad input ("the core failed on this ...: the run stopped there if it was live"), exit 2, the traceback lost."""
    from agent.gateway.events import OrderAcknowledged
    core = session_core(SHADOW, 1, 1.0, 5)

    def broken(event):
        raise ZeroDivisionError("a bug in the core")
    core.handle = broken
    with pytest.raises(ZeroDivisionError, match="a bug in the core"):
        observe([OrderAcknowledged(1.0, "0xfeed", 5, True)], core)


@pytest.mark.parametrize("case, expected", [
    ("list", "line {i}: [1, 2]: not a record (a journal's line is a JSON object)"),
    ("number", "line {i}: 5: not a record"),
    ("ts_null", "line {i}: BookUpdated.ts None: not a number"),
    ("ts_nan", "line {i}: BookUpdated.ts nan: not a finite time"),
    ("venue_time_str", "line {i}: BookUpdated.venue_time_ms 'x': not an integer"),
    ("level_null", "line {i}: BookUpdated.bids[0][0] None: not a number"),
    ("coin_number", "line {i}: BookUpdated.coin 5: not a string"),
    ("skew_str", "line 1: clock_skew_s 'abc': not the host clock's skew"),
    ("tick_str", "line 1: tick '1.0': not a price step"),
    ("config_bad", "line 1: config.risk.max_position 'lots': Input should be a valid number"),
    # was "not an event (BookUpdated.__new__() missing 1 required positional argument: 'bids')": Python's words
    ("bids_missing", "line {i}: not an event (BookUpdated without its field bids, which every BookUpdated has)"),
    ("shutdown_ts", "line {i}: shutdown.ts 'soon': not a finite time"),  # (read as the audit's replay reads it)
    # an object naming no event was skipped without a word, the fit an event short (the audit's replay refused it)
    ("kind_missing", "line {i}: not an event (unknown event None)"),
    ("empty_object", "line {i}: not an event (unknown event None)"),
], ids=["list", "number", "ts_null", "ts_nan", "venue_time_str", "level_null", "coin_number", "skew_str", "tick_str",
        "config_bad", "bids_missing", "shutdown_ts", "kind_missing", "empty_object"])
def test_a_malformed_line_exits_2_naming_the_file_the_line_the_field_and_its_value(tmp_path, capsys, lines, case,
                                                                                  expected):
    """Before, a line that is JSON but no object, a time of null or a venue time that is a string were
    AttributeError and TypeError tracebacks out of the replay, and a clock skew that is a string an error without
    the file or the line."""
    i = nth(lines, "BookUpdated", 5)
    book, start = json.loads(lines[i]), json.loads(lines[0])
    replaced = {"list": "[1, 2]", "number": "5", "ts_null": json.dumps({**book, "ts": None}),
                "ts_nan": json.dumps({**book, "ts": "nan"}), "venue_time_str": json.dumps({**book, "venue_time_ms": "x"}),
                "level_null": json.dumps({**book, "bids": [[None, 1.0]] + book["bids"][1:]}),
                "coin_number": json.dumps({**book, "coin": 5}),
                "bids_missing": json.dumps({k: v for k, v in book.items() if k != "bids"}),
                "kind_missing": json.dumps({k: v for k, v in book.items() if k != "e"}), "empty_object": "{}"}
    damaged = list(lines)
    if case == "shutdown_ts":
        i = nth(lines, "shutdown", 0)
        damaged[i] = json.dumps({**json.loads(lines[i]), "ts": "soon"}) + "\n"
    elif case in replaced:
        damaged[i] = replaced[case] + "\n"
    else:
        field = {"skew_str": {"clock_skew_s": "abc"}, "tick_str": {"tick": "1.0"},
                 "config_bad": {"config": {**start["config"], "risk": {"max_position": "lots"}}}}[case]
        damaged[0] = json.dumps({**start, **field}) + "\n"
    run = run_folder(tmp_path, damaged)
    assert main([str(run), "--quiet", "--replay-hours", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run / 'events.jsonl'}: " + expected.format(i=i + 1)) and err.count("\n") == 1


def test_a_run_with_no_events_is_refused_and_one_among_others_left_out_and_said(tmp_path, capsys, lines):
    """A start record and nothing after it: before, the fit wrote twin_params.json and calibration.json, then
    crashed formatting the report's empty interval. Among runs with events, such a run (the live CLI stopped before
    its first event) is left out, and the CLI says so."""
    run = run_folder(tmp_path, lines[:1])
    assert main([str(run), "--quiet", "--replay-hours", "0"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {run / 'events.jsonl'}: line 1: a run with no events (its start record, then nothing the " \
                  "core was fed): nothing to fit\n"
    assert not (run / "calibration").exists()
    two = run_folder(tmp_path, lines[:1] + lines, "two")
    assert main([str(two), "--quiet", "--replay-hours", "0"]) == 0
    assert f"left out: {two / 'events.jsonl'}: the run started at line 1: no events" in capsys.readouterr().out
    summary = json.loads((two / "calibration" / "calibration.json").read_text())
    assert summary["runs"] == 1 and summary["left_out"][0].endswith("the run started at line 1: no events (the live "
                                                                    "CLI stopped before its first)")


def test_the_report_shows_a_dash_for_an_interval_bound_it_has_no_number_for(tmp_path):
    """No time connected: the disconnect rate's upper bound is infinite, null in calibration.json, and was a
    TypeError formatting it into report.html; then "(95%: 0 – –)", a rate of none: now no rate, and why."""
    from calibration.report import write_report
    z = np.zeros(0)
    f = fit(Observations(z, 0, 0, {}, 0, 0, z, 0, z, 0.0, 0.0))
    assert f.hazard_per_hour.hi == math.inf
    s = write_report(f, tmp_path / "out", "hand-made", np.random.default_rng(0))
    assert s["disconnects"]["hi"] is None
    page = (tmp_path / "out" / "report.html").read_text()
    assert "0 drops over 0 s, not fitted (no time connected): the base's rate kept; " in page and "– –" not in page


def test_rates_the_run_saw_nothing_of_keep_the_bases_and_it_is_said(tmp_path, capsys, lines):
    """A run that only watched the feed (no place sent): the rejection rates and the transport failures are
    shares of nothing, not 0; before, the fit wrote them as 0 over the base's. And no time connected says nothing
    of the disconnects."""
    base = TwinParams.model_validate({"rejections": {"rates": {"PerpMargin": 0.02, "Oracle": 0.01},
                                                     "rest_failure_prob": 0.005},
                                      "connection": {"hazard_per_hour": 3.0}})
    z = np.zeros(0)
    f = fit(Observations(z, 0, 0, {}, 0, 0, z, 0, z, 0.0, 0.0), base)
    assert f.params.rejections == base.rejections and f.params.connection.hazard_per_hour == 3.0
    assert dict(f.kept) == {"rejections.rates": "no place passed the twin's rules to be answered",
                            "rejections.rest_failure_prob": "no request carried places",
                            "connection.hazard_per_hour": "no time connected",
                            **dict.fromkeys(("connection.outage_median_s", "connection.outage_sigma"),
                                            "0 outages of known length, where a fit of the outages' length needs "
                                            "5 outages or more")}
    # a run seen by the CLI: the feed only, ten minutes connected (the disconnects' 0 is seen: fitted)
    feed = [x for x in lines[1:] if x.startswith(('{"e":"BookUpdated"', '{"e":"TradeObserved"'))]
    run = run_folder(tmp_path, lines[:1] + feed)
    (tmp_path / "base.json").write_text(base.model_dump_json())
    assert main([str(run), "--base", str(tmp_path / "base.json"), "--quiet", "--replay-hours", "0"]) == 0
    out = capsys.readouterr().out
    assert "rejections.rates: the base's kept (no place passed the twin's rules to be answered)" in out
    assert "rejections.rest_failure_prob: the base's kept (no request carried places)" in out
    # report.html's row read "0 | 0 | requests of places | 0 | 0 – 1", a share of 0 of what was kept (fails on BASE)
    page = (run / "calibration" / "report.html").read_text()
    assert ("<td>0</td><td>0</td><td>requests of places</td><td>–</td><td>none: nothing to count it of (the base's "
            "kept)</td></tr>") in page, page
    fitted = TwinParams.load(run / "calibration" / "twin_params.json")
    assert fitted.rejections == base.rejections and fitted.connection.hazard_per_hour == 0.0
    summary = json.loads((run / "calibration" / "calibration.json").read_text())
    assert set(summary["kept_from_base"]) == {"rejections.rates", "rejections.rest_failure_prob",
                                              "connection.outage_median_s", "connection.outage_sigma",
                                              "markets.BTC.informed_share"}  # (1,2xx trades: too few to fit it)


def test_request_use_an_hour_is_taken_over_each_runs_own_span():
    """A folder carried on over a restart a day later: each run used 1,000 requests in its ten minutes (6,000 an
    hour); taken over the first report to the last, the day between them made it 83 an hour."""
    from calibration.fit import quota_fit
    z = np.zeros(0)

    def run(t0: float, used0: int) -> Observations:
        return Observations(z, 0, 0, {}, 0, 0, z, 0, z, 600.0, 600.0, quota=np.array(
            [[t0, used0, 20_000, 0.0], [t0 + 300.0, used0 + 500, 20_000, 0.0], [t0 + 600.0, used0 + 1000, 20_000, 0.0]]))
    both = run(0.0, 0).merged(run(86_400.0, 1000))
    assert quota_fit(run(0.0, 0)).used_per_hour == pytest.approx(6000.0)
    assert quota_fit(both).used_per_hour == pytest.approx(6000.0)
    assert both.runs == 2 and list(both.quota_runs()) == [0, 0, 0, 1, 1, 1]
    three = both.merged(run(200_000.0, 2000))  # (numbered on from the runs before)
    assert list(three.quota_runs()) == [0, 0, 0, 1, 1, 1, 2, 2, 2] and quota_fit(three).used_per_hour == \
        pytest.approx(6000.0)


def test_a_folder_whose_runs_traded_two_coins_is_refused_naming_each_runs_start_line(tmp_path, capsys, lines):
    """A folder reused for a run on another coin: the two coins' books and trades were fitted as one market (ETH's
    fitted from BTC's mids, $100,000 for $3,000)."""
    start = json.loads(lines[0])
    eth = json.dumps({**start, "config": {**start["config"], "session": {**start["config"]["session"], "coin": "ETH"}},
                      "tick": 0.1, "sz_decimals": 4}) + "\n"
    run = run_folder(tmp_path, lines + [eth] + lines[1:10])
    assert main([str(run), "--quiet", "--replay-hours", "0"]) == 2
    journal = run / "events.jsonl"
    assert capsys.readouterr().err == (f"error: runs on different coins in one folder: {journal}: line 1: BTC; "
                                       f"{journal}: line {len(lines) + 1}: ETH: calibrate each coin from a folder of "
                                       "its own runs\n")


def test_the_cli_makes_no_output_folder_for_a_run_it_cannot_read(tmp_path, capsys):
    """A run folder without a journal (or a base file that is no TwinParams): refused before RUN/calibration or
    the --out folder is made (it was made, then left empty)."""
    run = tmp_path / "run"
    run.mkdir()
    assert main([str(run), "--quiet"]) == 2
    assert "no events.jsonl" in capsys.readouterr().err and not (run / "calibration").exists()
    assert main([str(run), "--out", str(tmp_path / "fit"), "--quiet"]) == 2
    assert not (tmp_path / "fit").exists()
    (run / "events.jsonl").write_text("")
    (tmp_path / "base.json").write_text("{}}")
    assert main([str(run), "--base", str(tmp_path / "base.json"), "--quiet"]) == 2
    assert "base.json" in capsys.readouterr().err and not (run / "calibration").exists()


def test_a_journal_segment_gzipped_while_it_is_read_is_read_from_its_gz(tmp_path, lines):
    """An operator may gzip closed segments while the agent runs; the reader listed the files once, and the plain
    segment it listed was gone when its turn came: a FileNotFoundError. It is read from its .gz now; one moved away
    is an error naming it."""
    import gzip
    import shutil

    intact = observe_journal(run_folder(tmp_path, lines, "intact"))
    run = tmp_path / "segmented"
    run.mkdir()
    thirds = [lines[:len(lines) // 3], lines[len(lines) // 3:2 * len(lines) // 3], lines[2 * len(lines) // 3:]]
    names = ["events-000001.jsonl", "events-000002.jsonl", "events.jsonl"]
    for name, part in zip(names, thirds):
        (run / name).write_text("".join(part))

    def gzip_the_second(_size, done=[]):
        if not done:  # the reader is in the first segment: the operator's gzip of the second completes
            done.append(1)
            with open(run / names[1], "rb") as src, gzip.open(run / (names[1] + ".gz"), "wb") as dst:
                shutil.copyfileobj(src, dst)
            (run / names[1]).unlink()
    seen = observe_journal(run, progress=gzip_the_second)
    assert (seen.places, seen.answered, seen.rejections) == (intact.places, intact.answered, intact.rejections)

    def move_the_third(_size, done=[]):
        if not done:
            done.append(1)
            (run / names[2]).rename(tmp_path / "archived.jsonl")
    with pytest.raises(FileNotFoundError, match="events.jsonl: a file of the log, gone when its turn came"):
        observe_journal(run, progress=move_the_third)


@pytest.fixture(scope="module")
def earlier_calibration(lines, tmp_path_factory) -> dict[str, bytes]:
    """The files of a calibration of ``lines`` (name: bytes), made once for the tests that calibrate over one."""
    tmp = tmp_path_factory.mktemp("earlier")
    out = tmp / "cal"
    assert main([str(run_folder(tmp, lines)), "--out", str(out), "--replay-hours", "0", "--quiet"]) == 0
    return {p.name: p.read_bytes() for p in out.iterdir()}


def _an_earlier_calibration(tmp_path, lines, earlier: dict[str, bytes]):
    """A run folder, a calibration of it in ``cal`` (its files' bytes, ``earlier_calibration``'s), and a base whose
    fit differs from it: what a second calibration into the same folder replaces, and with what."""
    run = run_folder(tmp_path, lines)
    out = tmp_path / "cal"
    out.mkdir()
    for name, data in earlier.items():
        (out / name).write_bytes(data)
    base = tmp_path / "base.json"
    base.write_text(TwinParams.model_validate({"queue": {"cancel_ahead_power": 3.5}}).model_dump_json())
    return run, out, earlier, base


def test_a_calibration_killed_while_it_writes_leaves_the_earlier_one_whole(tmp_path, capsys, lines, monkeypatch,
                                                                          earlier_calibration):
    """twin_params.json was written first and the report drawn after it: a kill then (7 of 14 seeded kills of a
    calibration replacing an earlier one) left the new parameters beside the earlier report, which did not describe
    them. Now every file is made before any is written; a kill mid-way leaves the earlier calibration as it was."""
    import calibration.report

    run, out, earlier, base = _an_earlier_calibration(tmp_path, lines, earlier_calibration)

    def killed(*a, **k):
        raise KeyboardInterrupt  # as a signal while the report is made
    real = calibration.report._html
    monkeypatch.setattr(calibration.report, "_html", killed)
    assert main([str(run), "--out", str(out), "--base", str(base), "--replay-hours", "0", "--quiet"]) == 130
    assert capsys.readouterr().err.endswith(f"interrupted (Ctrl-C): nothing written; {out} holds the earlier "
                                            f"calibration\n")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == earlier
    # a kill between writing and renaming leaves a hidden temporary file: the folder is still a calibration's
    (out / ".twin_params.json.tmp").write_text("{")
    monkeypatch.setattr(calibration.report, "_html", real)
    assert main([str(run), "--out", str(out), "--base", str(base), "--replay-hours", "0", "--quiet"]) == 0
    now = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(now) == set(earlier) and now["twin_params.json"] != earlier["twin_params.json"]
    assert TwinParams.model_validate_json(now["twin_params.json"]).queue.cancel_ahead_power == 3.5


def test_a_full_disk_as_a_calibration_is_written_exits_2_leaving_the_earlier_one_whole(tmp_path, capsys, lines,
                                                                                      disk_with, earlier_calibration):
    """It ended on an OSError traceback, exit 1, with the new twin_params.json beside the earlier calibration's
    report and calibration.json, which did not describe it. Every file is now written to its temporary before any
    replaces the earlier one: a write that fails leaves the earlier set, and says so."""
    run, out, earlier, base = _an_earlier_calibration(tmp_path, lines, earlier_calibration)
    disk_with(len(earlier["twin_params.json"]) + 100)  # the new parameters fit, calibration.json does not
    assert main([str(run), "--out", str(out), "--base", str(base), "--replay-hours", "0", "--quiet"]) == 2
    assert capsys.readouterr().err.endswith(f"error: --out {out}: No space left on device: nothing written; {out} "
                                            f"holds the earlier calibration\n")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == earlier  # (no temporary file left either)


def test_ctrl_c_during_the_replay_exits_130_writing_nothing_and_leaving_no_folder(tmp_path, capsys, lines,
                                                                                monkeypatch):
    """Ctrl-C in the fit or the replay (minutes of work) ended on a KeyboardInterrupt traceback, and left the output
    folder made for the run behind, empty."""
    import twin.session
    from calibration.__main__ import main

    def half_then_ctrl_c(env, until, progress, desc=""):
        env.run(until=until / 2)
        raise KeyboardInterrupt  # as SIGINT does, between two events
    monkeypatch.setattr(twin.session, "run_until", half_then_ctrl_c)
    run = run_folder(tmp_path, lines)
    assert main([str(run), "--quiet", "--out", str(tmp_path / "fit")]) == 130
    assert capsys.readouterr().err == "interrupted (Ctrl-C): nothing written\n"
    assert not (tmp_path / "fit").exists()


def test_sigterm_during_the_replay_exits_143_writing_nothing_and_leaving_no_folder(tmp_path, lines,
                                                                                  signalled_once_started):
    """``kill PID`` killed a calibration as kill -9 does (exit -15, nothing said); it now ends as Ctrl-C does:
    nothing written, the folder made for it removed, the message naming the signal."""
    run = run_folder(tmp_path, lines)
    out = tmp_path / "fit"
    code, stdout, err = signalled_once_started(  # the replay's progress bar: the fit is done, the replay under way
        ["calibration", str(run), "--out", str(out), "--replay-seeds", "1000"],
        lambda proc, err: b"the fitted twin, seed" in err)
    assert code == 143, err
    assert "interrupted (SIGTERM): nothing written" in err and "Traceback" not in err
    assert not out.exists() and b"wrote" not in stdout


def test_a_signal_before_anything_is_written_removes_every_folder_made_for_it(tmp_path, lines, signalled_inside):
    """Stopped before it wrote anything, a calibration removed the --out folder it had made, but not the folders it
    had made above it (``--out made/fit``: ``made`` was left behind, empty). Now every folder it made goes, while
    empty. (Sent as the fit starts.)"""
    run = run_folder(tmp_path, lines)
    r = signalled_inside("calibration.fit:fit", ["calibration", str(run), "--out", str(tmp_path / "made" / "fit"),
                                                 "--replay-hours", "0", "--quiet"], main="calibration.__main__:main")
    assert (r.returncode, r.stderr) == (143, "interrupted (SIGTERM): nothing written\n")
    assert not (tmp_path / "made").exists() and run.is_dir()


def test_a_signal_while_the_calibration_is_written_is_held_till_it_is_whole_then_said(tmp_path, lines, signalled_inside,
                                                                                     earlier_calibration):
    """Once the figures were drawn, a SIGTERM while the files were renamed over an earlier calibration's left the new
    ones beside the earlier (and said "nothing written"), and one while the findings were printed killed it unsaid
    (exit -15). Now the signal waits for the files and the lines (an instant), then ends the calibration saying so,
    exit 143. The signal is sent by the calibration itself, as its files are written, to land there alone."""
    run, out, earlier, base = _an_earlier_calibration(tmp_path, lines, earlier_calibration)
    r = signalled_inside("calibration.report:write_files", ["calibration", str(run), "--out", str(out), "--base",
                                                            str(base), "--replay-hours", "0", "--quiet"],
                         main="calibration.__main__:main")
    assert r.returncode == 143, r.stderr
    assert r.stderr.endswith(f"interrupted (SIGTERM) once the calibration was written: {out} holds it whole\n"), \
        r.stderr
    assert "(replacing an earlier calibration's)" in r.stdout
    now = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(now) == set(earlier) and now["twin_params.json"] != earlier["twin_params.json"]
    assert TwinParams.model_validate_json(now["twin_params.json"]).queue.cancel_ahead_power == 3.5


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_journal_that_is_not_a_regular_file_is_refused_naming_it_not_read_forever(tmp_path, kind):
    """events.jsonl as a FIFO (opening it waited for a writer for good) or a symlink to /dev/zero (read to an end it
    never has): run as a process, with a time limit and a memory cap, so a reader stuck in it fails the test."""
    import os
    import resource
    import subprocess
    import sys
    run = tmp_path / "run"
    run.mkdir()
    journal = run / "events.jsonl"
    if kind == "fifo":
        os.mkfifo(journal)
    else:
        journal.symlink_to("/dev/zero")

    def capped():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    try:
        done = subprocess.run([sys.executable, "-m", "calibration", str(run), "--quiet"], capture_output=True,
                              text=True, timeout=60, preexec_fn=capped)
    except subprocess.TimeoutExpired:
        pytest.fail(f"python -m calibration read its {kind} journal for a minute")
    what = "a FIFO (a named pipe)" if kind == "fifo" else "a character device"
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: {journal}: {what}, not a regular file"), done.stderr
    assert not (run / "calibration").exists()  # refused before the output folder is made


@pytest.mark.parametrize("argv, expected", [
    (["--replay-seeds", "1461"], "--replay-seeds 1461: at most 1,460 with --replay-hours 6 "),
    (["--replay-seeds", "9", "--replay-hours", "1000"], "--replay-seeds 9: at most 8 with --replay-hours 1000 "),
    (["--replay-seeds", "2", "--replay-hours", "1e9"], "--replay-seeds 2: at most 1 with --replay-hours 1e+09 "),
])
def test_replay_seeds_past_a_year_of_twin_in_all_exit_2_naming_the_option_the_value_and_the_bound(tmp_path, capsys,
                                                                                               argv, expected):
    """Each seed replays up to --replay-hours of the fitted twin, one after another: --replay-seeds 100000 (a typo)
    was taken, and ran for weeks after the journal's replay. Refused before the journal is looked for."""
    assert main([str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {expected}") and "events.jsonl" not in err, err


@pytest.mark.parametrize("argv", [["--replay-seeds", "1460"], ["--replay-seeds", "1", "--replay-hours", "1e9"],
                                  ["--replay-seeds", "100000", "--replay-hours", "0"]])
def test_replay_seeds_up_to_the_bound_one_seed_or_no_replay_are_taken(tmp_path, capsys, argv):
    assert main([str(tmp_path), *argv]) == 2  # parsed: it is the missing journal that is refused
    assert "no events.jsonl" in capsys.readouterr().err


def test_a_leg_fitted_without_spikes_is_said_to_have_none_not_a_spike_median(tmp_path, capsys):
    """Round trips and book-update lags whose logs have a long fast tail and none slow: the spike share is fitted at
    0 (one normal), and the fit's spike median is then the largest value seen (sigma 0.5), which the printout and
    report.html showed as a spike median ("spikes 0.00%, median 1922 ms"). calibration.json keeps its keys and
    values (a public file)."""
    from calibration.__main__ import _say
    from calibration.report import write_report
    rng = np.random.default_rng(3)
    rt = np.exp(math.log(0.12) - 0.1 * np.exp(rng.normal(0.0, 0.5, 2000)))
    lag = np.exp(math.log(0.15) - 0.2 * np.exp(rng.normal(0.0, 0.5, 2000)))
    z = np.zeros(0)
    obs = Observations(rt, 2000, 2000, {}, 2000, 0, lag, 0, z, 3600.0, 3600.0)
    f = fit(obs)
    assert f.latency.leg.spike_prob == 0 and f.feed.leg.spike_prob == 0  # (the case: a fit without spikes)
    largest = f"{f.latency.leg.spike_median_ms:.0f} ms"
    s = write_report(f, tmp_path / "out", "hand-made", np.random.default_rng(0))
    html = (tmp_path / "out" / "report.html").read_text()
    assert html.count("no spikes") == 2 and largest not in html and "spikes 0.00%" not in html
    saved = json.loads((tmp_path / "out" / "calibration.json").read_text())
    assert saved["latency"]["leg"]["spike_median_ms"] == pytest.approx(f.latency.leg.spike_median_ms)
    assert saved["feed"]["leg"]["spike_prob"] == 0 and "spike_median_ms" in saved["feed"]["leg"]
    _say(s, obs, f, None, tmp_path / "out", False)
    out = capsys.readouterr().out
    lines = [x for x in out.splitlines() if x.startswith(("latency per leg:", "feed latency,"))]
    assert len(lines) == 2 and all("; no spikes" in x for x in lines), out
    assert largest not in out and "spikes 0.00%" not in out


def test_a_legs_spike_share_says_of_what(tmp_path, capsys):
    """The printout said "latency per leg: ...; spikes 2.82%, median 498 ms" and "feed latency, ...; spikes 4.75%",
    and report.html's feed paragraph "spikes 4.75%, median 912 ms": shares of nothing said, where the report's order
    latency says "of legs". Each now says of what: of legs, of updates (fails on BASE)."""
    from calibration.__main__ import _say
    from calibration.report import write_report
    rt = _twin_round_trips(LEG, 2000, 0)
    lag, held = _twin_feed(0, 3000)
    obs = Observations(rt, 2000, 2000, {}, 2000, 0, lag, 0, np.zeros(0), 3600.0, 3600.0, feed_held=held)
    f = fit(obs)
    assert f.latency.leg.spike_prob > 0 and f.feed.leg.spike_prob > 0  # (the case: both fitted with spikes)
    s = write_report(f, tmp_path / "out", "hand-made", np.random.default_rng(0))
    _say(s, obs, f, None, tmp_path / "out", False)
    out = capsys.readouterr().out
    assert f"; spikes {f.latency.leg.spike_prob:.2%} of legs, median " in out, out
    assert f"; spikes {f.feed.leg.spike_prob:.2%} of updates (" in out, out
    page = (tmp_path / "out" / "report.html").read_text()
    assert f"; spikes {f.feed.leg.spike_prob:.2%} of updates, median " in page


def test_a_leg_fitted_with_spikes_is_said_as_before():
    from calibration.report import spikes_text
    leg = {"spike_prob": 0.03, "spike_median_ms": 500.4, "spike_sigma": 0.4}
    assert spikes_text(leg, "of legs") == "spikes 3.00% of legs, median 500 ms, sigma 0.400"
    assert spikes_text(leg, sigma=False) == "spikes 3.00%, median 500 ms"
    assert spikes_text(leg, median=False, sigma=False) == "spikes 3.00%"
    assert spikes_text({**leg, "spike_prob": 0.0}) == "no spikes"


def test_the_outages_length_is_fitted_with_its_intervals_and_the_bases_kept_from_too_few(tmp_path, capsys):
    """Half an hour on a twin whose outages have median 15 s and sigma 0.8 had two: the fit set sigma 0.128 in
    twin_params.json, and the report said "outages log-normal, median 11.83 s, sigma 0.128", a bare number with no
    count (the printout said nothing of it). From too few the base's are kept and said; fitted, each parameter has its
    95% interval and the count, in calibration.json, report.html and the printout."""
    from calibration.__main__ import _say
    from calibration.fit import MIN_OUTAGES
    from calibration.numbers_text import figure_text
    from calibration.report import write_report
    z = np.zeros(0)
    base = TwinParams.model_validate({"connection": {"outage_median_s": 7.0, "outage_sigma": 0.6}})

    def fitted(outages):
        obs = Observations(z, 0, 0, {}, 0, 0, z, len(outages), np.asarray(outages), 3600.0, 3600.0)
        f = fit(obs, base)
        return obs, f, write_report(f, tmp_path / f"out{len(outages)}", "hand-made", np.random.default_rng(0))

    obs, f, s = fitted([11.8 * math.exp(0.09), 11.8 * math.exp(-0.09)])
    c = f.params.connection
    assert (c.outage_median_s, c.outage_sigma) == (7.0, 0.6) and s["outages"] is None
    # (it read "2 outages where a fit of their length needs 5", and the report "too few outages to fit their length":
    # fails on BASE)
    why = f"2 outages of known length, where a fit of the outages' length needs {MIN_OUTAGES} outages or more"
    assert s["kept_from_base"]["connection.outage_median_s"] == s["kept_from_base"]["connection.outage_sigma"] == why
    _say(s, obs, f, None, tmp_path / "out2", False)
    assert f"connection.outage_sigma: the base's kept ({why})" in capsys.readouterr().out
    page = (tmp_path / "out2" / "report.html").read_text()
    assert f"; the outages' length not fitted ({why}): the base's kept.</p>" in page, page
    rng = np.random.default_rng(4)
    obs, f, s = fitted(np.exp(rng.normal(math.log(15.0), 0.8, 40)))
    o = s["outages"]
    assert o["n"] == 40 and o["median_lo"] < 15.0 < o["median_hi"] and o["sigma_lo"] < 0.8 < o["sigma_hi"]
    assert o["median_hi"] / o["median_lo"] < 2.0 and o["sigma_hi"] / o["sigma_lo"] < 2.0
    assert f.params.connection.outage_median_s == o["median_s"] and f.params.connection.outage_sigma == o["sigma"]
    assert "connection.outage_sigma" not in s["kept_from_base"]
    # (sigma's interval had no "95%" as every other has, "sigma 0.792 (0.623 – 1.012)": fails at 7d0ee888)
    lo, hi = (figure_text(o[k], 3) for k in ("sigma_lo", "sigma_hi"))
    text = (f"outages log-normal, median {o['median_s']:.2f} s (95%: {o['median_lo']:.2f} – {o['median_hi']:.2f}), "
            f"sigma {figure_text(o['sigma'], 3)} (95%: {lo} – {hi}), from 40 outages")
    assert text in (tmp_path / "out40" / "report.html").read_text()
    _say(s, obs, f, None, tmp_path / "out40", False)
    assert text in capsys.readouterr().out


def test_outages_of_a_few_ms_are_said_in_ms_not_as_a_zero_second_median(tmp_path, capsys):
    """Outages of median 3 ms (a loopback venue's) read "median 0.00 s (95%: 0.00 – 0.00)" in report.html and the
    printout: two decimals of a second, nothing a reader could use. Under a second the median and its interval are
    given in ms to three significant figures (calibration.numbers_text.durations_text), from a second on as before.
    Fails at 06169538."""
    from calibration.__main__ import _say
    from calibration.numbers_text import figure_text
    from calibration.report import write_report
    z = np.zeros(0)
    lengths = np.exp(np.random.default_rng(4).normal(math.log(0.003), 0.8, 40))
    obs = Observations(z, 0, 0, {}, 0, 0, z, len(lengths), lengths, 3600.0, 3600.0)
    f = fit(obs)
    s = write_report(f, tmp_path / "out", "hand-made", np.random.default_rng(0))
    o = s["outages"]
    assert 0.002 < o["median_lo"] < o["median_s"] < o["median_hi"] < 0.005, o
    text = (f"outages log-normal, median {o['median_s'] * 1000:.2f} ms (95%: {o['median_lo'] * 1000:.2f} – "
            f"{o['median_hi'] * 1000:.2f}), sigma {figure_text(o['sigma'], 3)} (95%: ")
    _say(s, obs, f, None, tmp_path / "out", False)
    out = capsys.readouterr().out
    for said in ((tmp_path / "out" / "report.html").read_text(), out):
        assert text in said and "0.00 s" not in said, said
    from calibration.numbers_text import durations_text
    assert durations_text(0.0123, 0.00098, 1.5, None) == (["12.3", "0.98", "1,500", "–"], "ms")
    assert durations_text(0.9996, 0.5) == (["1,000", "500"], "ms")  # (under a second: in ms, however it rounds)
    assert durations_text(4.0, 0.75, 12.345) == (["4.00", "0.75", "12.35"], "s")  # (a second on: as before)


def test_the_outages_fitted_from_a_live_run_are_the_venues_without_the_agents_reconnect_backoff():
    """A live run measures an outage from the drop to the reconnect, which has the agent's own backoff in it (0.5 s
    doubling to 30 s, jittered); twin serve adds the agent's backoff again to the outages it draws, so the fitted
    twin's were too long twice over. The agent over loopback against ``twin serve`` (10x, the agent's backoff as at
    1x, capped at 10 s) whose outages have median 4 s and sigma 0.5: the venue's 17 fitted a median of 3.0 s, the
    calibration 5.5 s (95%: 4.6 - 6.8); with the cap at 30 s, 3.2 s against 12.5. Each reconnect now says when the
    venue last refused one (``refused_ts``): the venue's outage ended between it and the reconnect, and the fit is
    of that part (3.5 s, 2.8 - 4.3). Served at 20x for the same 450 s of the venue's time (25 s, not 50): as many
    outages, 17, and drop to reconnect fitted 5.2 - 5.6 s against the venue's 2.6 - 3.0 as at 10x. (Those drawn
    included sockets opened inside an outage played from time 0 and dropped at once; each socket's outages now come
    from its opening: the venue's 17 fitted 4.5 s, the calibration 4.5 s (3.1 - 6.1), drop to reconnect a median of
    6.3 s for the drawn ones' 4.9.)"""
    import asyncio
    import sys
    from pathlib import Path

    from agent.core import AgentCore
    from agent.gateway.events import ConnectionRestored
    from calibration.fit import fit_outages
    from twin.faults.connection import ConnectionParams

    sys.path.insert(0, str(Path(__file__).parents[1] / "agent"))
    try:
        from test_live_gateway import live_agent, served
    finally:
        del sys.path[0]
    speed, wall_s = 20.0, 22.5  # (the venue's 450 s: some 17 outages)
    truth = TwinParams(connection=ConnectionParams(hazard_per_hour=150.0, outage_median_s=4.0, outage_sigma=0.5))
    cfg = SHADOW.model_copy(update={"session": SHADOW.session.model_copy(update={"quota_poll_s": 0.0})})
    with served(speed=speed, params=truth) as (bg, ex, clock):
        async def run() -> list:
            events: list = []
            gw, _, driver = await live_agent(bg.base_url, clock, speed, cfg, 0.0,
                                             {"backoff_base_s": 0.5 / speed, "backoff_max_s": 10.0 / speed},
                                             event_log=events)
            await asyncio.wait_for(driver.run(duration_s=wall_s * speed, shutdown_grace_s=2.0), wall_s + 30.0)
            return events
        events = asyncio.run(run())
        drawn = bg.call(lambda: [e - s for m in bg.server._links.values() for s, e in m.outages_until(ex.env.now)])
    obs = observe(events, AgentCore(cfg, np.random.default_rng(6), tick=1.0, sz_decimals=5))
    assert len(obs.outages_s) >= 10 and len(drawn) >= 10, (obs.outages_s, drawn)
    venue = fit_outages(np.asarray(drawn))  # (the venue's own sample: the fit's error without its sampling's)
    got = fit(obs).outages
    # (the backoff in what was seen: against the drawn ones' fitted median, steadier than their sample's on 17. Seen
    # over drawn ran 1.39 - 1.68 in eight runs four at a time on a loaded 2-core host, and 1.27 once in the whole
    # suite under pytest-xdist there (its bound was 1.3): the wall clock's stalls, 20 times the venue's, land on the
    # seen lengths both ways. Without the backoff in them they are the drawn ones as the agent saw them, near 1.)
    assert np.median(obs.outages_s) > 1.15 * venue.median_s
    assert venue.median_s / 1.5 < got.median_s < venue.median_s * 1.5, (got, venue)
    assert got.median_lo < venue.median_s < got.median_hi, (got, venue)
    assert all(math.isfinite(e.refused_ts) and e.refused_ts < e.ts for e in events if type(e) is ConnectionRestored)


def test_outages_whose_venue_part_determines_no_log_normal_are_fitted_as_seen_and_said():
    """The interval-censored fit of the venue's part has no maximum inside the twin's ranges where the intervals all
    overlap (5 outages of a venue's median 4 s behind the agent's backoff: sigma went to its floor, 0.01, and the
    interval's end overflowed: a traceback) or where each reconnect was taken at its first try (nothing refused:
    each the venue's part only known under 0.5 s: a median of 0.08 s, sigma 0.14, no interval). Then the lengths as
    seen are fitted, as a journal without ``refused_ts`` is (the backoff in them: the pessimistic side), and said."""
    import dataclasses

    from calibration.fit import fit_outages
    from calibration.report import outages_text
    seen = np.asarray([13.271, 10.049, 12.221, 6.884, 6.86])
    overlapping = fit_outages(seen, from_s=np.asarray([6.002, 5.664, 5.743, 2.893, 2.977]))
    first_try = fit_outages(np.asarray([0.498, 0.477, 0.465, 0.446, 0.44, 0.362]), from_s=np.zeros(6))
    for got, lengths in ((overlapping, seen), (first_try, [0.498, 0.477, 0.465, 0.446, 0.44, 0.362])):
        assert got.backoff_in and got == dataclasses.replace(fit_outages(np.asarray(lengths)), backoff_in=True)
        assert "the agent's backoff in them" in outages_text(vars(got))
    determined = fit_outages(seen, from_s=seen - 2.0)
    assert not determined.backoff_in and determined.median_lo < determined.median_s < determined.median_hi < 14.0
    assert "backoff" not in outages_text(vars(determined))


def backoff_outages(rng: np.random.Generator, lengths: np.ndarray, silence_s: float = 0.0, gap_s: float = 600.0,
                    frame_s: float = 0.5) -> np.ndarray:
    """Outages of ``lengths`` as the live gateway sees them, one row each: (its socket's last frame, the drop declared,
    ConnectionRestored.refused_ts, the reconnect). ``silence_s`` 0: a close, told as the outage starts; else the socket
    goes mute, its last frame up to ``frame_s`` before the outage, the drop declared ``silence_s`` after that frame.
    Then reconnect attempts on the gateway's backoff (0.5 s doubling to 30 s, jittered: ``backoff_s``), refused until
    the outage ends; ``gap_s`` connected between outages."""
    rows = []
    t = 0.0
    for length in lengths:
        start = t + gap_s
        last_rx = start - frame_s * float(rng.random()) if silence_s > 0.0 else start
        lost = last_rx + silence_s
        refused, tried = _reconnected(rng, lost, lambda at, end=start + length: at < end)
        rows.append((last_rx, lost, refused, tried))
        t = tried
    return np.asarray(rows).reshape(-1, 4)


def _reconnected(rng: np.random.Generator, lost: float, down) -> tuple[float, float]:
    """(ConnectionRestored.refused_ts, the reconnect) after a drop declared at ``lost``: attempts on the gateway's
    backoff (0.5 s doubling to 30 s, jittered), each refused while ``down(its time)``."""
    refused, attempt = lost, 0  # (refused_ts: the drop's time until an attempt is refused)
    tried = lost + min(30.0, 0.5 * 2.0 ** attempt) * (0.5 + 0.5 * float(rng.random()))
    while down(tried):
        refused, attempt = tried, attempt + 1
        tried += min(30.0, 0.5 * 2.0 ** attempt) * (0.5 + 0.5 * float(rng.random()))
    return refused, tried


def silent_outage_events(rng: np.random.Generator, lengths: np.ndarray, silence_s: float) -> list:
    """ConnectionLost / ConnectionRestored as the live gateway gives them for outages of ``lengths`` that each mute
    the socket (``backoff_outages``)."""
    from agent.gateway.events import ConnectionLost, ConnectionRestored

    return [e for last_rx, lost, refused, back in backoff_outages(rng, lengths, silence_s)
            for e in (ConnectionLost(lost, "ws", last_rx), ConnectionRestored(back, "ws", refused))]


def test_outages_a_silent_socket_hid_are_fitted_from_its_last_frame_not_from_when_the_silence_was_noticed():
    """A socket that dies silently is declared lost only at the gateway's silence_s (60 s) after its last frame, and
    the outage was measured from there: 40 outages of median 120 s, sigma 0.5 (the sample's own fit: 128 s, 0.50)
    fitted a median of 42 s (95%: 24 - 74), sigma 1.75. ConnectionLost now says when a silent socket's last frame
    came (``silent_since``): the outage began then, and the censored fit takes it in: 128 s (109 - 150), sigma 0.50.
    The silence is no connected time either."""
    import dataclasses

    from agent.core import AgentCore
    from calibration.fit import fit_outages
    rng = np.random.default_rng(21)
    lengths = np.exp(rng.normal(math.log(120.0), 0.5, 40))
    events = silent_outage_events(rng, lengths, silence_s=60.0)
    obs = observe(events, AgentCore(SHADOW, np.random.default_rng(6), tick=1.0, sz_decimals=5))
    venue = fit_outages(lengths)
    assert len(obs.outages_s) == 40 and np.allclose(obs.outages_quiet_s, [e.ts - e.silent_since for e in events[::2]])
    down = sum(r.ts - lost.silent_since for lost, r in zip(events[::2], events[1::2]))
    assert obs.connected_s == pytest.approx(events[-1].ts - events[0].ts - down)  # (the silences are down time)
    got = fit(obs).outages
    before = fit(dataclasses.replace(obs, outages_quiet_s=np.zeros(0))).outages  # (as it was: from the detection)
    assert before.median_hi < 0.75 * venue.median_s and not before.median_lo < 120.0 < before.median_hi, before
    assert got.median_lo < 120.0 < got.median_hi and got.sigma_lo < 0.5 < got.sigma_hi, got
    assert venue.median_s / 1.1 < got.median_s < venue.median_s * 1.1 and got.silence_out_s == 0.0, (got, venue)


def twin_outage_events(rng: np.random.Generator, hazard_per_hour: float, median_s: float, sigma: float,
                       silence_s: float, until_s: float) -> tuple:
    """(ConnectionLost / ConnectionRestored as the live gateway gives them, the twin's ConnectionModel they came from,
    the last reconnect) for the twin's own outages (the next one's clock starts when one ends) on a socket that goes
    mute: its last frame up to 0.5 s before each outage, the drop declared ``silence_s`` after it, then reconnect
    attempts on the gateway's backoff, refused while the path is down. The run's first socket up at 0."""
    from agent.gateway.events import ConnectionLost, ConnectionRestored
    from twin.faults.connection import ConnectionModel, ConnectionParams
    path = ConnectionModel(ConnectionParams(hazard_per_hour=hazard_per_hour, outage_median_s=median_s,
                                            outage_sigma=sigma), rng)
    events: list = [ConnectionRestored(0.0, "ws")]
    back = 0.0
    while (start := path.next_change(back)) < until_s:  # (the path's next outage after the reconnect)
        last_rx = start - 0.5 * float(rng.random())
        refused, back = _reconnected(rng, last_rx + silence_s, path.is_down)
        events += [ConnectionLost(last_rx + silence_s, "ws", last_rx), ConnectionRestored(back, "ws", refused)]
    return events, path, back


def test_the_disconnect_hazard_is_per_hour_the_socket_was_live_not_the_venues_up_time_the_agent_could_not_see():
    """The twin's outages (its ConnectionModel: the next one's clock starts when one ends) behind a silent socket
    found after 60 s and the agent's backoff: an outage that starts while the agent has no live socket (the venue back
    inside the silence, or before the backoff tried again, and down again) is never seen on its own, its length joins
    the one seen. The fit counted that time connected all the same (each outage down only for its expected length
    under the fitted law): at 60 an hour of median 30 s, sigma 0.8, eight hours, 199 drops (83 more outages unseen)
    read 46.4 an hour (40.2 - 53.3; 44.7 - 49.5 on four other seeds: 21% low). The hours are now those the socket was
    live, where every outage is seen: 59.1 (51.2 - 67.9). (Served, each reconnect's socket draws its outages from
    its opening: the same hours.)"""
    from agent.core import AgentCore
    events, path, back = twin_outage_events(np.random.default_rng(1), 60.0, 30.0, 0.8, 60.0, 8 * 3600.0)
    obs = observe(events, AgentCore(SHADOW, np.random.default_rng(6), tick=1.0, sz_decimals=5))
    seen = len(events) // 2
    merged = len(path.outages_until(back)) - seen  # (outages no socket was live for)
    h = fit(obs).hazard_per_hour
    assert h.count == seen and merged > 0.2 * seen, (seen, merged)
    assert h.lo < 60.0 < h.hi and 0.9 < h.rate / 60.0 < 1.1, h


@pytest.mark.parametrize("hazard_per_hour, hours, silence_s, median_s, low, high", [
    (60.0, 8, 15.0, 30.0, 1.0, 1.1), (60.0, 8, 60.0, 30.0, 1.7, 1.9), (60.0, 8, 15.0, 5.0, 1.2, 1.4),
    (60.0, 8, 30.0, 5.0, 3.9, 4.2), (60.0, 8, 60.0, 5.0, 8.5, 9.5),
    (0.5, 400, 15.0, 30.0, 0.85, 0.95), (0.5, 400, 60.0, 30.0, 0.9, 1.0)])
def test_outages_that_start_inside_one_seen_join_it_and_read_its_median_long_a_documented_limitation(
        hazard_per_hour, hours, silence_s, median_s, low, high):
    """A limitation, measured (README, Calibration: the disconnects): the twin's outages (sigma 0.8) behind a silent
    socket found after ``silence_s`` and the agent's backoff. An outage that starts while one seen is not yet over (the
    venue back inside the silence, or before the backoff tried again, and down again) joins it: the one seen ends with
    the last, and the fit takes it for one outage from the first's start. At 60 an hour (the venue down about a
    minute in two) the fitted median reads long: 1.05 times a true 30 s behind 15 s of silence, 1.10 behind 30 s, 1.80
    behind 60 s (the README's setting: 54 s, 95%: 47 - 60, which misses 30; 48 - 57 s on seeds 0-4); a true 5 s 1.33,
    4.1 and 9.0 times (seed 1, 8 hours, 199 - 371 seen of 282 - 417). At the twin's default 0.5 an hour, under 1% of
    the outages join another, and a true 30 s reads 0.91 and 0.95 times, the interval covering it. A likelihood of
    what the agent saw, P(down at the last refused attempt, up at the one taken), the venue's up and down times
    alternating, was tried: it read a true 30 s as 2 s behind 60 s of silence, the earlier refused attempts (each
    down too) not journalled, and the chance of a short outage's venue down again at the last refused one taken for
    the evidence (the fit needs every attempt's time, or their count)."""
    from agent.core import AgentCore
    events, path, back = twin_outage_events(np.random.default_rng(1), hazard_per_hour, median_s, 0.8, silence_s,
                                            hours * 3600.0)
    obs = observe(events, AgentCore(SHADOW, np.random.default_rng(6), tick=1.0, sz_decimals=5))
    got = fit(obs).outages
    joined = len(path.outages_until(back)) - len(events) // 2
    assert not got.backoff_in and low < got.median_s / median_s < high, (got, joined)
    if hazard_per_hour < 1.0:
        assert joined < 0.01 * got.n and got.median_lo < median_s < got.median_hi, (got, joined)
    elif silence_s >= 60.0:
        assert joined > 0.3 * got.n and not got.median_lo < median_s < got.median_hi, (got, joined)


def test_a_silence_is_counted_only_inside_the_connection_it_ended():
    """ConnectionLost.silent_since is the silent socket's last frame, after it was opened: a journal's "-inf" there
    (the name a float not finite is written by) made the silence infinite, the connected time -inf and every outage
    fit from it infinite; a time before the socket's ConnectionRestored counted the outage before it twice, as down
    time and as this one's silence. A silence not finite is not known (0), and one is counted back only to the
    socket's ConnectionRestored."""
    import dataclasses

    from agent.core import AgentCore
    rng = np.random.default_rng(23)
    events = silent_outage_events(rng, np.exp(rng.normal(math.log(120.0), 0.5, 6)), silence_s=60.0)
    def core():
        return AgentCore(SHADOW, np.random.default_rng(6), tick=1.0, sz_decimals=5)

    good = observe(events, core())
    bad = list(events)
    bad[2] = dataclasses.replace(bad[2], silent_since=-math.inf)  # (the second outage's)
    bad[4] = dataclasses.replace(bad[4], silent_since=bad[3].ts - 500.0)  # (before its socket was back)
    obs = observe(bad, core())
    assert list(obs.outages_quiet_s) == [good.outages_quiet_s[0], 0.0, bad[4].ts - bad[3].ts, *good.outages_quiet_s[3:]]
    assert obs.connected_s == pytest.approx(good.connected_s + good.outages_quiet_s[1] + good.outages_quiet_s[2]
                                            - (bad[4].ts - bad[3].ts))
    assert fit(obs).outages is None or math.isfinite(fit(obs).outages.median_hi)


def test_outages_shorter_than_the_silence_determine_no_fit_and_are_said_to_be_short_of_it():
    """Outages of median 4 s behind a 60 s silence had all ended before the drop was declared (a mute socket stays
    mute when the path is back): each reconnect was taken at its first try, and each outage is only known to be
    under the silence and the backoff. No fit there: the lengths as seen (from the drop) are fitted, and the report
    says the silence is out of them."""
    from agent.core import AgentCore
    from calibration.report import outages_text
    rng = np.random.default_rng(22)
    events = silent_outage_events(rng, np.exp(rng.normal(math.log(4.0), 0.5, 12)), silence_s=60.0)
    obs = observe(events, AgentCore(SHADOW, np.random.default_rng(6), tick=1.0, sz_decimals=5))
    got = fit(obs).outages
    assert 59.5 < got.silence_out_s <= 60.0 and got.median_s < 1.0, got
    assert "a silent socket's outage began up to 60.0 s before, not in them" in outages_text(vars(got))


def test_the_censored_outages_intervals_cover_the_truth_95_times_in_100_from_five_outages():
    """The venue's part of an outage is interval-censored (between the last refused reconnect and the one taken): its
    intervals were Wald ones from the observed information, on Student's t quantile, and covered the median 89-91% of
    the time at 5 outages, 93-95% at 10, 94-95% at 30 (300 runs each; the README said 86% at 5). Now each is the
    profile likelihood's, to the cut that makes it the exact t interval where nothing is censored: 97-98%, 95-97%,
    94-95%. Here 150 runs of 5 outages of median 4 s, sigma 0.5 behind the agent's backoff (before: the median's
    covered 0.89 of 142 determined; now 0.97 of 132, those whose intervals all overlap fitted as seen)."""
    from calibration.fit import fit_outages
    rng = np.random.default_rng(5)
    median = sigma = runs = 0
    sigmas, samples = [], []
    for _ in range(150):
        lengths = np.exp(rng.normal(math.log(4.0), 0.5, 5))
        rows = backoff_outages(rng, lengths)
        got = fit_outages(rows[:, 3] - rows[:, 1], from_s=rows[:, 2] - rows[:, 1])
        if got.backoff_in:  # (not determined: the intervals all overlap, 18 of 150)
            continue
        runs += 1
        median += got.median_lo < 4.0 < got.median_hi
        sigma += got.sigma_lo < 0.5 < got.sigma_hi
        sigmas.append(got.sigma)
        samples.append(np.log(lengths).std(ddof=1))
    assert runs >= 120 and median / runs >= 0.93 and sigma / runs >= 0.93, (runs, median / runs, sigma / runs)
    assert median / runs <= 0.995  # (not an interval so wide it says nothing)
    # sigma's small-sample correction (the maximum's was 16% low on average here)
    assert 0.9 < np.mean(sigmas) / 0.5 < 1.05, np.mean(sigmas)
    # ... which the censoring takes nothing more from: the censored fit's sigma is, on average, the deviation of the
    # same lengths seen whole (scaled by √(n / (n − 1)), it was 6% under it here: 0.942; 0.470 of the truth)
    assert 0.98 < np.mean(sigmas) / np.mean(samples) < 1.03, (np.mean(sigmas), np.mean(samples))


def test_the_censored_outages_sigma_is_the_samples_standard_deviation_where_hardly_any_is_censored():
    """The censored fit's sigma was the maximum likelihood's, the logs' deviation about their mean over n: 11% low
    at 5 outages (16% on average behind the agent's backoff), where the same lengths fitted as seen (nothing
    censored) gave the sample's, over n - 1. Now it is scaled by √(n / (n − 1)): one outage's end known to within a
    millionth gives the sigma of the lengths as seen, and inside its interval."""
    from calibration.fit import fit_outages
    lengths = np.exp(np.random.default_rng(3).normal(math.log(4.0), 0.5, 5))
    seen = fit_outages(lengths)
    from_s = lengths.copy()
    from_s[0] *= 1.0 - 1e-6
    got = fit_outages(lengths, from_s=from_s)
    assert not got.backoff_in and seen.sigma == pytest.approx(np.log(lengths).std(ddof=1))
    assert got.sigma == pytest.approx(seen.sigma, rel=1e-3) and got.sigma_lo < got.sigma < got.sigma_hi
    assert got.median_s == pytest.approx(seen.median_s, rel=1e-3)


def test_open_interest_refusals_fit_the_twins_own_reason_and_a_reason_it_cannot_draw_is_said(tmp_path, capsys):
    """The agent's code "OpenInterest" is three refusals of the twin's, each drawn at its own rate and only for a
    place adding to the position. Half an hour on a twin refusing 3% with OpenInterestIncrease: the fit said
    "rejections OpenInterest: 0.0168", over every place, and twin_params.json had no open-interest rate at all. Now
    it is counted under the twin's reason, from the venue's text, over the places it could refuse; and a reason
    the twin does not draw at random (Other: a text the agent does not know) is said not set."""
    from calibration.__main__ import _say
    from calibration.report import report_files
    truth = TwinParams.model_validate({"latency": {"order_entry": LEG, "response": LEG},
                                       "rejections": {"rates": {"OpenInterestIncrease": 0.03, "PerpMargin": 0.02}}})
    f = fit(observed_run(CFG, SEED, truth, 900.0)[1])
    r = f.rejections["OpenInterestIncrease"]
    assert "OpenInterest" not in f.rejections and r.count > 20
    assert r.n == f.rejections["PerpMargin"].n < f.observations.eligible  # (only places adding to the position)
    lo, hi = wilson(r.count, r.n, level=0.999)
    assert lo <= 0.03 <= hi and f.params.rejections.rates["OpenInterestIncrease"] == r.rate
    z = np.zeros(0)
    obs = Observations(z, 100, 100, {"Other": 4, "Oracle": 1}, 100, 0, z, 0, z, 600.0, 600.0)
    f = fit(obs)
    assert f.params.rejections.rates == {"Oracle": 0.01}
    assert dict(f.kept)["rejections.rates.Other"] == "4 seen, a refusal the twin does not draw at random: not set"
    _say(report_files(f, "hand-made", np.random.default_rng(0))[0], obs, f, None, tmp_path, False)
    assert "rejections.rates.Other: the base's kept (4 seen, a refusal the twin does not draw at random: not set)" \
        in capsys.readouterr().out


@pytest.mark.parametrize("steps_s", [(0.1,), (20e-6,), (20e-6, 0.1)])
def test_feed_lags_after_the_hosts_clock_stepped_back_are_left_out_and_said(tmp_path, steps_s):
    """The start record's skew puts the host's arrivals on the venue's clock; a step back of the host's clock
    mid-run (NTP steps an offset over 128 ms) takes that much off every lag after it. Half an hour on a twin whose
    feed leg is 150 ms, stepped back 0.1 s halfway: the feed was fitted at 79 ms (sigma 0.95), and only "28 more had a
    lag outside (0, 60] s" said anything. The replayed core sees the step (clock_step_back): the lags from it on
    are left out, and it is said. A step of microseconds (under the venue's ms stamps: two events handed on out of
    order, as a refusal the gateway stamps when it queues it can be) cuts nothing: it cut the rest of the run. One
    of microseconds at 300 s, then 0.1 s at 600 s: the cut is from the second, and the text said "from the first
    step on"."""
    events, epoch, truth = _shadow_session(1200.0)
    # (each stepped between two events less than the step apart: a step back shows only where the next event comes
    # sooner than it; the last at 600 s, one before it at 300 s)
    ats = [next(i for i, (a, b) in enumerate(zip(events, events[1:])) if a.ts > after and b.ts - a.ts < min(0.05, s))
           for after, s in zip((300.0, 600.0)[-len(steps_s):], steps_s)]
    at, step_s = ats[-1], steps_s[-1]
    run = _live_journal_of(tmp_path, events, epoch, lambda i: -sum(s for s, a in zip(steps_s, ats) if i > a))
    obs = observe_journal(run)
    assert fit_feed(obs.feed_lag_s, obs.feed_held).leg.median_ms == pytest.approx(150.0, rel=0.1)
    if step_s < STEP_CUT_S:
        assert obs.feed_lags_after_step == 0 and len(obs.feed_lag_s) == len(truth.feed_lag_s)
        assert not [x for x in obs.left_out if "stepped back" in x], obs.left_out
        return
    # (the session to the step replayed as it came: only where a step cuts, the one case that reads it)
    before = observe(events[:at + 1], session_core(SHADOW, 2, 1.0, 5), venue_epoch_s=epoch)
    assert len(before.feed_lag_s) > 500  # (the lags before the cut as they were, less the earlier small steps)
    assert np.allclose(obs.feed_lag_s, before.feed_lag_s, atol=1e-6 + sum(steps_s[:-1]))
    assert obs.feed_lags_after_step == len(truth.feed_lag_s) - len(before.feed_lag_s)
    said = [x for x in obs.left_out if "the host's clock stepped back" in x]
    assert len(said) == 1 and said[0].startswith(f"{run / 'events.jsonl'}: the run started at line 1: ") and \
        f"{obs.feed_lags_after_step:,} book updates from the first step of more than 1 ms on" in said[0], obs.left_out


def _live_journal_of(tmp_path, events: list, epoch: float, step_s=lambda i: 0.0, requested: bool = False):
    """A live run's folder whose journal has the twin session's ``events`` on the host's clock: the venue's epoch on,
    and from each event ``step_s(i)`` more (a step of the host's clock; ``requested``: on the snapshots' request
    times too, as a live gateway's own clock stamps them)."""
    import dataclasses

    run = tmp_path / "run"
    run.mkdir()
    j = EventJournal(JsonlWriter(run / "events.jsonl"))
    j.start(start_record(epoch, SHADOW, venue="live", seed=2, tick=1.0, sz_decimals=5, cloid_prefix="0x00000001",
                         clock_skew_s=0.0))
    for i, e in enumerate(events):
        d = epoch + step_s(i)
        if requested and type(e) is AccountSnapshot and e.requested_ts >= 0.0:
            e = dataclasses.replace(e, requested_ts=e.requested_ts + d)
        j.event(dataclasses.replace(e, ts=e.ts + d))
    j.close()
    return run


@pytest.mark.parametrize("step_s", [0.0, 1.0])
def test_feed_lags_after_the_hosts_clock_moved_ahead_are_left_out_and_said(tmp_path, step_s):
    """No event's time shows the host's clock stepped forward (it reads as time passing), and every lag after it is
    that much longer: half an hour on a twin whose feed leg is 150 ms, stepped 1 s ahead halfway, fitted the leg at
    168 ms with sigma 0.94 and 24% spikes (0.1 s ahead: 190 ms), and nothing was said. An account snapshot (every 30 s,
    the core's audit) bounds the clocks' offset by its window, its request to its answer less the venue's time on it:
    one outside every earlier one's shows the clock moved, and the lags from the snapshot before it are left out and
    said. (A step under a snapshot's round trip, 0.3 s here, is not seen.) Without a step, nothing is cut."""
    events, epoch, truth = _shadow_session(1200.0)
    at = next(i for i, e in enumerate(events) if e.ts > 600.0)
    obs = observe_journal(_live_journal_of(tmp_path, events, epoch, lambda i: step_s if i >= at else 0.0, True))
    assert fit_feed(obs.feed_lag_s, obs.feed_held).leg.median_ms == pytest.approx(150.0, rel=0.1)
    said = [x for x in obs.left_out if "the host's clock moved ahead" in x]
    if not step_s:
        assert obs.feed_lags_after_move == 0 and len(obs.feed_lag_s) == len(truth.feed_lag_s) and not said
        return
    assert 0.5 < obs.clock_moved_s <= step_s and len(said) == 1 and f"least {obs.clock_moved_s:.3f} s" in said[0]
    assert VENUE_TIME_ASSUMED in said[0]  # (what the windows rest on: the venue does not document its time)
    # (the lags cut are those from the last snapshot before the step on: their count, and the rest as they were)
    snap = max(i for i, e in enumerate(events[:at]) if type(e) is AccountSnapshot)
    kept = len(observe(events[:snap], session_core(SHADOW, 2, 1.0, 5), venue_epoch_s=epoch).feed_lag_s)
    assert len(obs.feed_lag_s) == kept and obs.feed_lags_after_move == len(truth.feed_lag_s) - kept > 500
    assert np.allclose(obs.feed_lag_s, truth.feed_lag_s[:kept], atol=1e-6)


@functools.cache
def _shadow_session(until: float):
    """The events of a Shadow session of the twin at TRUTH (seed 2) to ``until``, its epoch in s, and what observe
    makes of them as they came. Cached: the host's clock tests each read the same session (none changes it)."""
    events: list = []
    ex, _, _, driver = build_session(SHADOW, 2, TRUTH, event_log=events)
    driver.start()
    ex.env.run(until=until)
    epoch = ex.epoch_ms / 1000.0
    return events, epoch, observe(events, session_core(SHADOW, 2, 1.0, 5), venue_epoch_s=epoch)


def runs_folder(tmp_path, lines: list[str], name: str, *runs: dict):
    """A folder of runs, each a start record (the journal's, with ``runs``' fields over it) and the first events."""
    start = json.loads(lines[0])
    return run_folder(tmp_path, [x for r in runs for x in [json.dumps({**start, **r}) + "\n"] + lines[1:20]], name)


def test_a_folder_whose_runs_name_two_accounts_or_networks_is_refused_naming_each_runs_start_line(tmp_path, capsys,
                                                                                                  lines):
    """Runs of two accounts (or testnet's and mainnet's) put in one folder: they were fitted as one, the quota's
    headroom and growth from two addresses' reports, testnet's latency and market as mainnet's. A run whose start
    record names neither (written before they were) is taken as any."""
    journal = "events.jsonl"

    def folder(name, *runs):
        return runs_folder(tmp_path, lines, name, *runs)
    a = {"network": "testnet", "account": "0x" + "a" * 40}
    for name, second, shown in (("accounts", {**a, "account": "0x" + "b" * 40}, "testnet 0x" + "b" * 40),
                                ("networks", {**a, "network": "mainnet"}, "mainnet 0x" + "a" * 40)):
        run = folder(name, a, second)
        assert main([str(run), "--quiet", "--replay-hours", "0"]) == 2
        assert capsys.readouterr().err == (
            f"error: runs of different accounts or networks in one folder: {run / journal}: line 1: testnet "
            f"0x{'a' * 40}; "
            f"{run / journal}: line 21: {shown}: calibrate from a folder of one account's runs on one network\n")
    # one account, its address cased as the venue or the key gives it, and a run from before the fields: one folder
    run = folder("one", a, {**a, "account": "0x" + "A" * 40}, {})
    assert main([str(run), "--quiet", "--replay-hours", "0"]) == 0


def test_a_folder_the_live_cli_carried_on_over_one_venue_spelt_two_ways_is_one_venue(tmp_path, capsys, lines):
    """The live CLI carries a folder on for the same venue (run_lock.venue_key of the base URL), account and coin, and
    labels the network from the options: the testnet by --network is "testnet", the same URL by --base-url is
    "custom", and so is twin serve's by --network mainnet "mainnet". Calibration compared the labels, and refused such
    a folder (exit 2) as two networks. The venues are compared as the live CLI compares them: a base URL by its key,
    a record with a network and no URL by its network's URL; two custom venues (two URLs) are two."""
    from agent.audit.records import refuse_another_live_run
    from agent.gateway.hyperliquid.gateway import TESTNET_URL
    from agent.live_cli import _plan, build_parser
    env = {"HL_SECRET_KEY": "0x" + "11" * 32}

    def start_of(*argv):  # (the start record's venue fields, as the live CLI writes them)
        plan = _plan(build_parser().parse_args(list(argv)), env)
        return {"network": plan.network, "base_url": plan.base_url, "account": "0x" + "a" * 40}
    by_network, by_url = start_of("--network", "testnet"), start_of("--base-url", TESTNET_URL + "/")
    assert (by_network["network"], by_url["network"]) == ("testnet", "custom")  # (one venue, two labels)
    carried = tmp_path / "carried"
    carried.mkdir()
    (carried / "decisions.jsonl").write_text(json.dumps({"type": "start", "venue": "live", **by_network, "coin": "BTC"})
                                             + "\n")
    refuse_another_live_run(carried, base_url=by_url["base_url"], account=by_url["account"], coin="BTC")  # (carried on)
    twin = start_of("--base-url", "http://127.0.0.1:3001")
    twin_too = start_of("--base-url", "http://localhost:3001", "--network", "mainnet", "--i-understand-mainnet")
    assert twin_too["network"] == "mainnet"
    for name, runs in (("testnet", (by_network, by_url, {"network": "testnet"})), ("twin", (twin, twin_too))):
        assert main([str(runs_folder(tmp_path, lines, name, *runs)), "--quiet", "--replay-hours", "0"]) == 0, \
            capsys.readouterr().err
    run = runs_folder(tmp_path, lines, "two", twin, {**twin, "base_url": "http://127.0.0.1:3002"})
    assert main([str(run), "--quiet", "--replay-hours", "0"]) == 2
    err = capsys.readouterr().err
    assert "runs of different accounts or networks in one folder" in err and \
        "line 1: custom (http://127.0.0.1:3001) 0x" in err and "line 21: custom (http://127.0.0.1:3002) 0x" in err


def test_a_print_is_measured_against_a_touch_stamped_before_it_not_one_that_came_first_from_a_later_block():
    """The bbo and trades channels are separate subscriptions: a block's bbo (the touch after its prints, a buy
    having taken the ask) may arrive before that block's trades, and a reconnect's trades snapshot brings prints
    seconds old behind a fresh touch. The touch a print is measured against is the last one stamped before the
    print's own time (the venue's, in its key), not the last to arrive."""
    from agent.core import AgentCore
    from agent.gateway.events import BboUpdated, Side, TradeObserved
    from agent.gateway.fills import fill_key

    events = [BboUpdated(1.0, "BTC", 100.0, 101.0, 1000),
              BboUpdated(1.07, "BTC", 100.0, 103.0, 1070),  # block 1070's touch: the buy below took 101 and 102
              TradeObserved(1.071, "BTC", 102.0, 0.1, Side.BUY, fill_key(1070, 7)),
              BboUpdated(1.14, "BTC", 99.0, 103.0, 1140),
              TradeObserved(1.15, "BTC", 101.0, 0.1, Side.BUY, fill_key(1000, 8))]  # (a snapshot's: before both)
    obs = observe(events, AgentCore(SHADOW, np.random.default_rng(6), tick=1.0, sz_decimals=5))
    assert list(obs.trade_px) == [102.0, 101.0]
    assert obs.trade_touch[0] == 101.0 and math.isnan(obs.trade_touch[1])


def test_prints_under_the_hash_of_zeros_are_each_their_own_aggressor():
    """A hash of zeros names no transaction (a TWAP slice's print is said to carry it; the twin's recorded-market
    export writes it): grouped by it, a run's buys under it were one aggressor, of their summed size."""
    from calibration.observe import ZERO_HASH, _aggressors

    def prints(h: str) -> list:  # (key, size, arrival, side, price, touch seen, hash): three buys a second apart
        return [(i + 1, 0.01, float(i), 1, 100.0 + i, 100.0, h) for i in range(3)]

    assert [a[1] for a in _aggressors(prints(ZERO_HASH), set())] == [0.01, 0.01, 0.01]
    assert [a[1] for a in _aggressors(prints(""), set())] == [0.01, 0.01, 0.01]
    # the check can fail: one real hash's prints are one aggressor, reaching its deepest print
    swept = _aggressors(prints("0x" + "ab" * 32), set())
    assert len(swept) == 1 and swept[0][1] == pytest.approx(0.03) and swept[0][4] == 102.0


def test_a_run_without_its_end_line_is_said_to_be_read_as_far_as_it_was_written(tmp_path, capsys, lines):
    """A journal whose run has no shutdown line was killed outright, or is still running: calibrated while the live
    agent still ran (a natural mistake: the folder is there from its first second), it was fitted on the minutes
    written so far and said nothing of it, as if the run had ended there. It is said, naming the run's start line;
    a run that ended (its shutdown read) is not."""
    (end,) = [i for i, x in enumerate(lines) if x.startswith('{"e":"shutdown"')]
    whole = run_folder(tmp_path, lines, "whole")
    assert main([str(whole), "--quiet", "--replay-hours", "0"]) == 0
    assert "no end line" not in capsys.readouterr().out
    running = run_folder(tmp_path, lines[:end] + lines, "running")  # (carried on: the first cut off, one whole)
    assert main([str(running), "--quiet", "--replay-hours", "0"]) == 0
    out = capsys.readouterr().out
    said = [x for x in out.splitlines() if "no end line" in x]
    assert said == [f"left out: {running / 'events.jsonl'}: the run started at line 1: no end line (the run's "
                    f"shutdown): it was killed outright, or is still running, and its events are taken as far as they "
                    f"were written, 5.0 min"]
    summary = json.loads((running / "calibration" / "calibration.json").read_text())
    assert [x for x in summary["left_out"] if "no end line" in x] == [said[0][len("left out: "):]]


def test_the_printout_says_how_many_book_updates_and_trades_the_feed_and_market_fits_stand_on(tmp_path, capsys):
    """The printout named the round trips the latency stood on, the drops and the refusals' counts, but the feed's
    leg and the market were printed without theirs: a fit from 170 book updates (a 90-second dry run against twin
    serve: 51% "spikes") read as one from 17,000. Each line now says what it stands on, as the report does."""
    events, epoch, truth = _shadow_session(600.0)
    run = _live_journal_of(tmp_path, events, epoch)
    assert main([str(run), "--quiet", "--replay-hours", "0"]) == 0
    out = capsys.readouterr().out
    s = json.loads((run / "calibration" / "calibration.json").read_text())
    feed = [x for x in out.splitlines() if x.startswith("feed latency")]
    assert feed and feed[0].startswith(f"feed latency, {s['feed']['n']:,} book updates: body median"), feed
    market = [x for x in out.splitlines() if x.startswith("market BTC")]
    m = s["market"]
    assert market and market[0].startswith(f"market BTC, {m['updates']:,} book updates and {m['trades']:,} trades: "
                                           f"volatility"), market
