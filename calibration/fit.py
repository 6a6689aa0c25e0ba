"""The twin's fault-model parameters estimated from ``Observations``, each with its uncertainty.

- **Latency.** A place's round trip is the twin's order-entry latency plus its response latency, each a
  log-normal body with a log-normal spike component. The round trips' logs are fitted, by EM to the posterior's
  mode (the likelihood, each part's sigma under a prior that keeps it off a few values: ``_SIGMA_PRIOR``), with a
  two-component normal mixture: the body and the spikes; or with one normal where the second part betters its
  log-likelihood by less than BIC asks of its three parameters (``one_or_two``: then no spikes, and said); the
  spike part's few values barely tell its width, so its scatter has one value more at the leg's body sigma. The two
  legs cannot be told apart from round trips alone, so they are taken to be alike: each leg's body has half the round
  trip body's mean and variance (Fenton-Wilkinson, inverted), a round trip is spiked when either leg is
  (p = 1 − √(1 − P)), and a leg's spike is the round trip's spike less the other leg's body. The twin's
  slow periods are absorbed into the spikes (the fit sets none). ``goodness`` checks the result the way
  that matters: round trips drawn from the fitted legs against the observed ones. The feed's latency is
  seen directly (a book update's arrival less the venue's time on it), one leg with a body and a spike
  component, but a socket delivers in order: a slow message holds back those behind it, and an update so
  held arrives right behind the frame it waited for, its own latency known only to be at most its lag. So
  the fit is a censored one (its posterior's mode, one part or two chosen, as the round trips'): an update that
  arrived within ``HELD_WITHIN_S`` of the frame before it on its socket, of any channel
  (``BookUpdated.after_frame_s``), contributes the mixture's CDF at its lag, the others its density (fitted to the
  lags as they were, a twin run drawing 5% spikes looked 27% spiked and 20% slower). The fitted leg is set as the
  twin's feed, which adds the holds itself; the replay check sets the lags it shows beside the ones seen. Either
  fit's spike part is held the slower minority (``hold_roles``): the twin's model is a body and a few spikes.
- **Rejections.** Per reason, the share of the places that passed the twin's rules rejected for it, with
  a Wilson 95% interval. Only the reasons the twin draws at random are fitted; those its rules produce
  from the orders themselves (crossing a post-only order, a size or price off the grid, reduce-only, the
  quota) are its own, and the places they rejected never reached the draw.
- **Transport failures.** Requests carrying places none of which the venue ever answered: their share
  of such requests (a batch is one request), the twin's ``rest_failure_prob``. A rate the run has no sample
  for (no place answered, no request of places, no time connected) keeps the base's value, and says so
  (``Fit.kept``): a share of nothing is not a rate of 0.
- **The market** (the coin quoted, from the feed; a first-dex coin the base does not list is added, with
  the run's price grid and size decimals, the base's first instrument's fees and limits, and its
  market's other parameters with the reach scaled to the coin's price; a coin the base lists without a
  market, as the defaults list hyna:LIT, starts from the thin HIP-3 preset, or from the base's first
  market on the first dex): volatility per √s from the mid's
  log returns on a 1 s grid, robustly (bipower variation: a calm regime's diffusion, not its jumps; and not 0
  when most returns are, on a coarse tick or a feed repeating the mid); public trades per second (the market's: prints of our fills and our
  resting orders in the book are left out by ``observe``); the trades' size, log-normal; the displayed
  size at the touch (median) and its growth per level (median size at level i over the touch's, less 1,
  per level: least squares); the log-normal noise around those medians; the calm half spread (a spread
  of s ticks is what a half spread of (s − 1)/2 ticks gives). The regimes (``fit_regimes``): a two-state
  HMM on the mid's returns a second; when it finds a stressed state at least 1.5 times as volatile that
  switches often enough to fit, each regime's volatility and the switching rates are set and the trade
  rate is split between the regimes in the base's ratio. Otherwise the stressed regime's volatility, trade
  rate and spread keep the base's ratios to the calm ones, and the switching stays the base's. The prints'
  reach (``depth_decay_per_usd``, ``fit_reach``): each market aggressor's deepest print (a sweep's prints, under
  one hash, are one: ``observe._aggressors``) against the touch on its side as last seen (bbo or book), by
  maximum likelihood of the twin's model of a print (exponential reach from the mid,
  the deepest price within it, never better than the touch), the touch seen's staleness fitted beside; set when
  its 95% interval is bounded, else the base's (scaled to the price) kept and said. Jumps, the latent alpha, the
  informed flow, how long the noise on the size at a price holds (``depth_refresh_s``: the feed's sizes are kept
  by level, not by price) and the mid's path under a second (``book_interval_s``, the size of its steps: the
  feed shows the book at blocks, its touch in ticks, and the steps' overshoot past a quote, the maker's
  trade-through loss, is finer than both) stay the base's. What the feed does show of that path, how often the
  bbo's touch moves and by how many ticks (``touch_moves``), the replay check sets beside the fitted twin's.
- **Disconnects.** The hazard is drops per connected hour (a Poisson rate, exact 95% interval); outage
  lengths are log-normal (their logs' mean and standard deviation), with 95% intervals (Student's t on the
  logs' mean, chi-square on their variance; where the venue's part is interval-censored, profile-likelihood ones,
  ``_censored_outages``), fitted from ``MIN_OUTAGES`` outages or more: from two, a run
  with outages of sigma 0.8 fitted 0.13, said as a bare number and set in the twin (the base's kept, and said).
- **Informed flow.** The share of the market's trades whose side is the sign of the mid's move over the
  next ``informed_horizon_s`` (the base's): informed trades always agree, the others half the time, so the
  agreeing share h gives 2h − 1. The mid seen through the feed is a stale, stepped copy of the venue's, so
  2h − 1 reads low by a factor the market's cadence sets (about 0.8 in the twin's BTC). The factor is
  measured, not assumed: the fitted twin's market, with a probe client on its feed, at the share first
  guessed, shows its own 2h − 1; the share is the seen one over the factor (the relation is linear:
  0.77, 0.80, 0.75 at shares 0.15, 0.3, 0.5). Set when the run had ``MIN_INFORMED_TRADES`` trades with a mid
  move after them and the probe shows a factor above 0; else the base's is kept, and ``Fit.kept`` says which
  reason with its numbers. Its 95%
  interval carries both samples' binomial error (the run's agreement and the probe's), by the delta method.
- **The quota.** The venue reports the address budget (used, cap, cumulative volume): the cap grows one
  request per ``usd_per_request`` USDC traded, fitted as the cap's growth over the volume's across the run
  (least squares; only when the run traded at least ``MIN_QUOTA_VOLUME_USD`` and the cap moved), and the
  twin's ``initial_buffer`` is set to the headroom the run started with (its first report's cap less
  used): the twin starts every address at zero used and zero volume, so a fitted twin starts as tight as
  the run did. The requests used per hour go to the replay check.
- **Fills** (measured, not set: no single twin parameter is a fill probability). The share of the orders
  the venue acknowledged resting that filled at all, by their distance behind their side's touch then,
  with Wilson intervals; the maker fills' markouts (the market's mid some seconds on, against the fill's
  price, in bps, positive when the fill was good), with their standard error. The replay check sets the
  fitted twin's against them: the twin's fill model (queue, book moving through a quote, informed flow)
  is judged by whether it fills and marks out as the venue did.
"""
from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from calibration.numbers_text import count_text, figure_text, interval_text
from calibration.observe import RULE_REASONS, Observations
from twin.faults.connection import ConnectionParams
from twin.faults.latency import PathLatency, PathLatencyParams
from twin.faults.rejections import ORDER_REASONS, RejectReason, can_refuse
from twin.instruments import InstrumentSpec
from twin.market.synthetic import SyntheticMarketParams
from twin.params import TwinParams, book_tick_problem

MIN_ROUND_TRIPS = 50  # fewer and the latency fit is not attempted (the base's latency is kept)
MIN_KS_ROUND_TRIPS = 20  # fewer observed or replayed and the replay's round-trip KS distance is not taken (NaN)
MIN_BOOK_UPDATES = 200  # fewer and the market is not fitted (the base's kept)
# the twin's bound on its disconnects an hour (ConnectionParams): a rate past it is no rate the twin can be set to
HAZARD_MAX_PER_HOUR = next(m.le for m in ConnectionParams.model_fields["hazard_per_hour"].metadata if hasattr(m, "le"))
MIN_OUTAGES = 5  # fewer outages and their length is not fitted (the base's kept): from 5, sigma's 95% interval is
# 0.6 to 2.9 times the estimate (from 2, 0.45 to 32)


@dataclass(frozen=True)
class LatencyFit:
    """The round trips' mixture (log-ms space) and the legs made of it."""

    n: int
    body_mu: float  # mean of log round trip (ms) in the body
    body_sigma: float
    spike_prob: float  # share of round trips in the spike component
    spike_mu: float
    spike_sigma: float  # the round trips' spike part's, a leg's spike and the other leg's body (leg's: the leg's)
    leg: PathLatencyParams  # each leg (order entry, response) as the twin takes it
    roles: str = ""  # said when the free fit's spike part took the majority and the parts were refitted (hold_roles)
    parts: str = ""  # said when one part was chosen over two (one_or_two: the second did not pay for itself)


@dataclass(frozen=True)
class RateFit:
    count: int
    n: int
    rate: float
    lo: float
    hi: float


@dataclass(frozen=True)
class OutageFit:
    """The outages' log-normal length, each parameter with its 95% interval."""

    n: int  # outages (a drop the run ended inside has no length: not one)
    median_s: float
    median_lo: float
    median_hi: float
    sigma: float
    sigma_lo: float
    sigma_hi: float
    # the lengths drop to reconnect, the agent's backoff in them, though the run said when the venue last refused:
    # the venue's part alone did not determine a log-normal (``_censored_outages``); longer than the venue's
    backoff_in: bool = False
    # those lengths are from when a silent socket's drop was declared: its outage began up to this long before (the
    # greatest ``Observations.outages_quiet_s``); 0: none silent, or the fit took the silence in
    silence_out_s: float = 0.0


def fit_outages(outages_s: np.ndarray, level: float = 0.95, from_s: np.ndarray | None = None,
                quiet_s: np.ndarray | None = None) -> OutageFit | None:
    """The venue's outages' log-normal length (None: fewer than ``MIN_OUTAGES``): the logs' mean (Student's t
    interval) and standard deviation (chi-square interval). ``from_s`` (per outage): the least the venue's own part
    can have been, from the drop (``Observations.outages_from_s``: the agent's backoff after it); ``quiet_s`` (per
    outage): how long before the drop was declared the outage began (``Observations.outages_quiet_s``: a silent
    socket's, from its last frame), added to both ends. Not the interval [drop - silence, drop] for its start: its ends
    are set by the silence, not at random, and 40 outages of median 120 s behind a 60 s silence fitted 97 s
    (79 - 120) so, where from the last frame 128 s (109 - 150), the sample's own 128 s. Where the least is under the
    most, the fit is an interval-censored maximum likelihood, each interval a profile-likelihood one (where
    that does not determine the fit, the lengths as seen, from the drop, and ``backoff_in`` and ``silence_out_s`` say
    what is in and out of them)."""
    n = len(outages_s)
    if n < MIN_OUTAGES:
        return None
    seen, quiet, lo, hi = _outage_bounds(outages_s, from_s, quiet_s)
    censored = bool(np.any(lo < hi * (1.0 - 1e-9)))
    got = _censored_outages(lo, hi, level) if censored else None
    if got is not None:
        return got
    # (not determined: the lengths as seen, as a journal without refused_ts is fitted: the pessimistic side for the
    # backoff; a silence before the drop was declared is left out of them, and said)
    logs = np.log(seen)
    mu, sd = float(logs.mean()), float(logs.std(ddof=1))
    a = (1.0 - level) / 2.0
    half = float(stats.t.ppf(1.0 - a, n - 1)) * sd / math.sqrt(n)
    lo2, hi2 = (float(stats.chi2.ppf(q, n - 1)) for q in (1.0 - a, a))
    return OutageFit(n, math.exp(mu), math.exp(mu - half), math.exp(mu + half), sd,
                     sd * math.sqrt((n - 1) / lo2), sd * math.sqrt((n - 1) / hi2),
                     bool(np.any(lo - quiet < seen * (1 - 1e-9))), float(quiet.max()))


def _outage_bounds(outages_s: np.ndarray, from_s: np.ndarray | None, quiet_s: np.ndarray | None) -> tuple:
    """(each outage as seen, from the drop; its silence before the drop; the least and the most the venue's own
    outage can have been, from the silence's start: ``fit_outages``'s arguments)."""
    seen = np.maximum(np.asarray(outages_s, dtype=float), 1e-3)
    quiet = np.zeros(len(seen)) if quiet_s is None else np.maximum(np.asarray(quiet_s, dtype=float), 0.0)
    hi = seen + quiet
    lo = hi if from_s is None else np.clip(np.asarray(from_s, dtype=float) + quiet, 0.0, hi)
    return seen, quiet, lo, hi


def _censored_outages(lo: np.ndarray, hi: np.ndarray, level: float) -> OutageFit | None:
    """The log-normal fitted to outages known to have lasted more than ``lo`` and at most ``hi`` (exact where they
    are one): maximum likelihood on (log median, log sigma), sigma that of the likelihood adjusted for the median
    fitted out (``_adjusted_sigma``: the sample's standard deviation where none is censored), each 95% interval
    the parameter's values whose profile likelihood ratio is within n log(1 + t²/(n - 1)), t Student's quantile on
    n - 1 degrees of freedom: the exact t
    interval where no outage is censored. Wald intervals from the observed information, even on t's quantile, covered
    the median 89-91% of the time at 5 outages, 93-95% at 10 (300 runs each, simulated against the agent's backoff,
    median 4 s, sigma 0.5); these 97-98% and 95-97%, and at 30 both 94-95%; sigma's 99%, 95%, 97%
    (``test_the_censored_outages_intervals_cover_the_truth_95_times_in_100_from_five_outages``). An end the profile
    does not reach inside the twin's range is the range's. None where the data do not determine the fit: the maximum
    on the parameters' bound or the likelihood at a bound as high to within 0.01 (intervals that all overlap put
    sigma at its floor, 46 of 300 runs of 5 outages, where the optimizer stopped short of it on the ridge in 24 and
    the Wald intervals were taken; each reconnect taken at its first try puts the median at its), or the information
    there not positive."""
    exact = lo >= hi * (1.0 - 1e-9)
    x = np.log(hi[exact])
    a = np.log(np.maximum(lo[~exact], 1e-300))
    b = np.log(hi[~exact])
    half_log_2pi = 0.5 * math.log(2.0 * math.pi)

    def nll(mu: float, ls: float) -> float:
        s = math.exp(ls)
        za, zb = (a - mu) / s, (b - mu) / s
        # (the upper tail by its survival function: a difference of CDFs near 1 loses it)
        mass = np.where(za > 0.0, special.ndtr(-za) - special.ndtr(-zb), special.ndtr(zb) - special.ndtr(za))
        z = (x - mu) / s
        return float(0.5 * (z @ z) + len(x) * (ls + half_log_2pi) - np.log(np.maximum(mass, 1e-300)).sum())

    def median_information(mu: float, ls: float) -> float:
        """nll's second derivative in mu: n / sigma² where nothing is censored, less where intervals are."""
        s = math.exp(ls)
        za, zb = (a - mu) / s, (b - mu) / s
        mass = np.where(za > 0.0, special.ndtr(-za) - special.ndtr(-zb), special.ndtr(zb) - special.ndtr(za))
        mass = np.maximum(mass, 1e-300)
        pa, pb = np.exp(-0.5 * za * za), np.exp(-0.5 * zb * zb)  # (over √(2π): taken out of both terms below)
        pa_za = np.where(np.isfinite(za), za * pa, 0.0)  # (an open lower end: no density there)
        w = 1.0 / (math.sqrt(2.0 * math.pi) * mass)
        return float(len(x) + ((zb * pb - pa_za) * w).sum() + (((pb - pa) * w) ** 2).sum()) / (s * s)

    mids = np.concatenate([x, np.where(np.isfinite(a) & (a > -690.0), 0.5 * (a + b), b - math.log(2.0))])
    th0 = [float(mids.mean()), math.log(max(float(mids.std()), 0.1))]
    bounds = [(math.log(1e-3), math.log(86_400.0)), (math.log(0.01), math.log(10.0))]  # (the twin's ranges)
    res = optimize.minimize(lambda th: nll(th[0], th[1]), th0, method="L-BFGS-B", bounds=bounds)
    if not res.success or any(min(v - b0, b1 - v) < 1e-3 for v, (b0, b1) in zip(res.x, bounds)):
        return None
    # the observed information by central differences: not positive, the maximum is no peak (intervals that all
    # overlap: a ridge towards sigma's floor)
    h = 1e-4
    hess = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            ei, ej = np.eye(2)[i] * h, np.eye(2)[j] * h
            hess[i, j] = (nll(*(res.x + ei + ej)) - nll(*(res.x + ei - ej)) - nll(*(res.x - ei + ej))
                          + nll(*(res.x - ei - ej))) / (4.0 * h * h)
    if not np.all(np.isfinite(hess)) or not np.all(np.linalg.eigvalsh(hess) > 0.0):
        return None
    n = len(hi)
    t = float(stats.t.ppf(0.5 + level / 2.0, n - 1))
    cut = n * math.log1p(t * t / (n - 1))
    best = (float(res.x[0]), float(res.x[1]))

    def ratio(i: int, v: float) -> float:
        """Twice the log likelihood ratio of parameter ``i`` at ``v``, the other maximised out near its estimate."""
        j = 1 - i
        reach = 3.0 if j == 1 else 6.0 * math.exp(best[1])
        inner = (max(bounds[j][0], best[j] - reach), min(bounds[j][1], best[j] + reach))

        def at(w: float) -> float:
            return nll(v, w) if i == 0 else nll(w, v)
        got = optimize.minimize_scalar(at, bounds=inner, method="bounded", options={"xatol": 1e-6})
        return 2.0 * (min(float(got.fun), at(best[j])) - float(res.fun))

    # (a bound the likelihood cannot tell from the maximum: a ridge, as intervals that all overlap make towards
    # sigma's floor, where the optimizer may stop anywhere along it)
    if any(ratio(i, v) < 0.01 for i in (0, 1) for v in bounds[i]):
        return None
    (m_lo, m_hi), (s_lo, s_hi) = (np.exp(_profile_ends(functools.partial(ratio, i), best[i], bounds[i], cut))
                                  for i in (0, 1))
    # sigma's maximum is the lengths' standard deviation about their own mean (n, not n - 1, under it): 16% low at 5
    # outages, 11% at 10, 7% at 20 (median 4 s, sigma 0.5, behind the agent's backoff; 300 runs each), and the
    # fitted twin's outages too alike. Where nothing is censored, the sample's standard deviation (n - 1) is the
    # maximum of the profile likelihood adjusted for the median fitted out of it (Cox and Reid: less half the log of
    # the median's information at its profile maximum, n / sigma²): that is √(n / (n − 1)) times the maximum's, as
    # the lengths fitted as seen (and the t interval it is cut to). Interval-censored, the median's information is less
    # than n / sigma² and the adjustment holds what the scaling did not: scaled so, sigma read 6% under the same
    # lengths' own sample deviation at 5 and 10 outages (0.940 and 0.947 of the truth for 0.991 and 0.998, ~200
    # samples each behind the agent's backoff); adjusted, as the sample's. (Scaled to mean-unbiased, by c4 as well,
    # the fitted twin's mean length went further off and its divergence from the truth grew, when it was tried.)
    # The intervals are the profile likelihood's, as before.
    sigma = min(max(_adjusted_sigma(nll, median_information, best, bounds), float(s_lo)), float(s_hi))
    return OutageFit(n, math.exp(best[0]), float(m_lo), float(m_hi), sigma, float(s_lo), float(s_hi))


def _adjusted_sigma(nll, information, best: tuple[float, float], bounds: list) -> float:
    """Sigma at the maximum of the Cox-Reid adjusted profile likelihood: ``nll`` (of log median, log sigma) at the
    median's profile maximum, plus half the log of ``information`` (nll's second derivative in the median) there
    (``_censored_outages``). Where no outage is censored it is the logs' sample standard deviation; ``best`` is the
    plain maximum."""
    def median_fitted_out(ls: float) -> float:
        reach = 6.0 * math.exp(ls)
        inner = (max(bounds[0][0], best[0] - reach), min(bounds[0][1], best[0] + reach))
        got = optimize.minimize_scalar(lambda m: nll(m, ls), bounds=inner, method="bounded", options={"xatol": 1e-9})
        return float(got.fun) + 0.5 * math.log(max(information(float(got.x), ls), 1e-300))
    inner = (max(bounds[1][0], best[1] - 1.0), min(bounds[1][1], best[1] + 3.0))
    got = optimize.minimize_scalar(median_fitted_out, bounds=inner, method="bounded", options={"xatol": 1e-8})
    return math.exp(float(got.x))


def _profile_ends(ratio, best: float, bounds: tuple[float, float], cut: float) -> tuple[float, float]:
    """The ends of a parameter's profile likelihood interval (``ratio`` of its value up to ``cut``), from its
    estimate ``best`` out; an end not reached inside ``bounds`` is the bound."""
    ends = []
    for sign in (-1.0, 1.0):
        inside, step = best, 0.1
        while True:
            v = best + sign * step
            if not bounds[0] < v < bounds[1]:
                v = bounds[0] if sign < 0 else bounds[1]
                if ratio(v) <= cut:
                    ends.append(v)
                    break
            if ratio(v) > cut:
                ends.append(optimize.brentq(lambda w: ratio(w) - cut, min(inside, v), max(inside, v), xtol=1e-6))
                break
            inside, step = v, 2.0 * step
    return ends[0], ends[1]


@dataclass(frozen=True)
class MarketFit:
    coin: str
    updates: int
    trades: int
    vol_per_sqrt_s: float
    trade_rate_per_s: RateFit  # count = trades, n = seconds (rounded)
    trade_size_median: float
    trade_size_log_std: float
    depth_at_touch: float
    depth_growth_per_level: float
    depth_noise_log_std: float
    half_spread_ticks: float
    initial_mid: float
    market: SyntheticMarketParams  # the coin's market with the fitted parts set
    regimes: "RegimeFit | None" = None  # the two-regime fit of the mid's returns (set only when separated)
    reach: "ReachFit | None" = None  # how far the prints reach (depth_decay_per_usd; set only when identified)


MIN_INFORMED_TRADES = 2000  # fewer market trades with a mid move after them and informed_share is not fitted
INFORMED_PROBE_S = 7200.0  # how long the fitted market runs under the probe that measures the feed's factor


@dataclass(frozen=True)
class InformedFit:
    trades: int  # market trades with a mid move over the horizon after them
    agree: float  # their share whose side was the move's sign
    factor: float  # 2h − 1 over the share, as the fitted market behind its feed shows it (the probe)
    share: float  # the informed share: (2h − 1) / factor, clipped to [0, 1]
    lo: float  # its 95% interval: the run's agreement and the probe's, both binomial (the delta method)
    hi: float
    probe_trades: int = 0  # the probe's trades with a mid move (its factor's sample)


def agreement(book_ts: np.ndarray, mid: np.ndarray, trade_ts: np.ndarray, trade_side: np.ndarray,
              horizon_s: float) -> tuple[int, float]:
    """(trades, share of them whose side is the sign of the mid's move over the next ``horizon_s``): the mid
    as last seen at the trade and ``horizon_s`` later; trades with no move are left out."""
    if not len(book_ts) or not len(trade_ts):
        return 0, math.nan
    i0 = np.searchsorted(book_ts, trade_ts, side="right") - 1
    i1 = np.searchsorted(book_ts, trade_ts + horizon_s, side="right") - 1
    ok = (i0 >= 0) & (trade_ts + horizon_s <= book_ts[-1])
    move = mid[i1[ok]] - mid[i0[ok]]
    nz = move != 0.0
    n = int(nz.sum())
    return n, float((np.sign(move[nz]) == trade_side[ok][nz]).mean()) if n else math.nan


def _probe_agreement(params: TwinParams, coin: str, seconds: float, seed: int = 0) -> tuple[int, float]:
    """The agreement the twin's market shows a client on its feed (l2Book and trades, nothing placed)."""
    from twin.exchange import Exchange
    from twin.messages import BookPush, TradePush

    probe = TwinParams.model_validate({**params.model_dump(), "connection": {"hazard_per_hour": 0.0}})
    ex = Exchange.build(probe, seed)
    bt: list[float] = []
    bm: list[float] = []
    tt: list[float] = []
    ts: list[int] = []

    def on_push(p) -> None:
        if isinstance(p, BookPush) and p.bids and p.asks:
            bt.append(ex.env.now)
            bm.append(0.5 * (p.bids[0][0] + p.asks[0][0]))
        elif isinstance(p, TradePush):
            tt.append(ex.env.now)
            ts.append(1 if p.side == "B" else -1)
    conn = ex.connect(on_push)
    conn.subscribe("l2Book", coin)
    conn.subscribe("trades", coin)
    ex.env.run(until=seconds)
    return agreement(np.asarray(bt), np.asarray(bm), np.asarray(tt, dtype=float), np.asarray(ts, dtype=float),
                     probe.markets[coin].informed_horizon_s)


def fit_informed(obs: Observations, params: TwinParams, coin: str) -> tuple[InformedFit | None, str]:
    """The informed share of ``coin``'s market (see the module's note); ``params`` is the fitted twin. (fit, why):
    why the share is not fitted ('' when it is), with the numbers it is from. Too few trades and a probe that shows
    no factor (its trades' agreement at most a half: nothing to divide the run's 2h − 1 by) were one reason, "too
    few trades", given with no count or threshold."""
    market = params.markets.get(coin)
    if market is None:
        return None, f"the fitted twin has no {coin} market"
    horizon = market.informed_horizon_s
    n, h = agreement(obs.book_ts, obs.mid, obs.trade_ts, obs.trade_side, horizon)
    if n < MIN_INFORMED_TRADES:
        return None, (f"{count_text(n, 'market trade')} with a mid move over the {figure_text(horizon, 3)} s after "
                      f"them where a fit needs {MIN_INFORMED_TRADES:,}")
    guess = min(max((2.0 * h - 1.0) / 0.8, 0.05), 0.95)  # a share to probe at (the factor is linear in it)
    data = params.model_dump()
    data["markets"][coin]["informed_share"] = guess
    probed = TwinParams.model_validate(data)
    n_probe, h_probe = _probe_agreement(probed, coin, INFORMED_PROBE_S)
    factor = (2.0 * h_probe - 1.0) / guess
    if not factor > 0.0 or not n_probe:
        probe = (f"the fitted twin's market probed at an informed share of {guess:.2f} for "
                 f"{figure_text(INFORMED_PROBE_S / 3600.0, 3)} h")
        if not n_probe:
            return None, f"{probe} showed no trade with a mid move after it: no factor to measure the share by"
        return None, (f"{probe} showed {h_probe:.1%} of {count_text(n_probe, 'trade')} on the side the mid then "
                      f"moved: 2h − 1 at {2.0 * h_probe - 1.0:.3f}, no factor (above 0) to divide the run's 2h − 1 by "
                      f"({2.0 * h - 1.0:.3f}: {h:.1%} of {count_text(n, 'trade')})")
    return InformedFit(n, h, factor, *informed_interval(n, h, n_probe, h_probe, guess), probe_trades=n_probe), ""


def informed_interval(n: int, h: float, n_probe: int, h_probe: float, guess: float,
                      z: float = 1.96) -> tuple[float, float, float]:
    """(share, lo, hi): share = guess × (2h − 1) / (2h_probe − 1), with a 95% interval carrying both binomial
    errors by the delta method, the run's agreement h over n trades and the probe's over n_probe. The probe's
    is as large as the run's (it sees as many trades in its two hours as a run of two hours): an interval from
    the run's alone was about half as wide as the spread of the shares five probe seeds gave (an audit)."""
    x, xp = 2.0 * h - 1.0, 2.0 * h_probe - 1.0
    share = guess * x / xp
    var_x = 4.0 * h * (1.0 - h) / n
    var_xp = 4.0 * h_probe * (1.0 - h_probe) / n_probe
    sd = abs(guess) * math.sqrt(var_x / (xp * xp) + x * x * var_xp / xp ** 4)

    def clip(v: float) -> float:
        return min(max(v, 0.0), 1.0)
    return clip(share), clip(share - z * sd), clip(share + z * sd)


MIN_QUOTA_VOLUME_USD = 1000.0  # less traded over a run and the cap's growth per USDC is not fitted (the base's kept)


@dataclass(frozen=True)
class QuotaFit:
    reports: int  # userRateLimit reports seen
    start_headroom: int  # the first report's cap less used: the fitted twin's initial_buffer
    usd_per_request: float | None  # fitted (None: too little volume traded, or the cap did not move)
    used_per_hour: float  # requests the runs used an hour (each run's reports' used, first to last)


def quota_fit(obs: Observations) -> QuotaFit | None:
    q = obs.quota
    if len(q) < 2:
        return None
    ts, used, cap, vol = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    rate = None
    dv, dc = vol - vol[0], cap - cap[0]
    if dv[-1] >= MIN_QUOTA_VOLUME_USD and dc[-1] > 0:
        slope = float((dv * dc).sum() / (dv * dv).sum())  # requests per USDC, through the first report
        rate = 1.0 / slope if slope > 0 else None
    used_s, spent = run_spans(ts, used, obs.quota_runs())
    return QuotaFit(len(q), int(max(0.0, cap[0] - used[0])), rate,
                    float(spent / (used_s / 3600.0)) if used_s > 0 else math.nan)


def run_spans(ts: np.ndarray, used: np.ndarray, runs: np.ndarray) -> tuple[float, float]:
    """(seconds, requests used) over the quota reports, summed run by run (first report to last in each): the
    time between two runs of a folder (a restart a day later) is not time the agent used requests in."""
    seconds = spent = 0.0
    for r in np.unique(runs):
        sel = runs == r
        seconds += float(ts[sel][-1] - ts[sel][0])
        spent += float(used[sel][-1] - used[sel][0])
    return seconds, spent


DISTANCE_BUCKETS = (("inside the spread", -math.inf, -0.5), ("at the touch", -0.5, 0.5), ("1 tick behind", 0.5, 1.5),
                    ("2 ticks behind", 1.5, 2.5), ("3-4 ticks behind", 2.5, 4.5), ("5+ ticks behind", 4.5, math.inf))
MARKOUT_HORIZONS_S = (1.0, 10.0)


@dataclass(frozen=True)
class Markout:
    horizon_s: float
    n: int  # maker fills with a mid that far on in the run
    mean_bps: float  # signed: positive when the mid moved our way after the fill
    se_bps: float  # standard error of the mean


@dataclass(frozen=True)
class FillFit:
    by_distance: tuple[tuple[str, RateFit], ...]  # per bucket with orders: filled of the orders rested there
    markouts: tuple[Markout, ...]


def fill_fit(obs: Observations) -> FillFit:
    """How often our resting orders filled, by distance behind the touch, and how the fills marked out."""
    rows = []
    d, filled = obs.order_distance, obs.order_filled
    for label, lo, hi in DISTANCE_BUCKETS:
        sel = (d >= lo) & (d < hi)
        n = int(sel.sum())
        if n:
            k = int(filled[sel].sum())
            rows.append((label, RateFit(k, n, k / n, *wilson(k, n))))
    marks = []
    ts, mid = obs.book_ts, obs.mid
    for h in MARKOUT_HORIZONS_S:
        if not len(ts) or not len(obs.fill_ts):
            marks.append(Markout(h, 0, math.nan, math.nan))
            continue
        at = obs.fill_ts + h
        ok = at <= ts[-1]  # the run went on that long after the fill
        i = np.searchsorted(ts, at[ok], side="right") - 1
        good = i >= 0
        px = obs.fill_px[ok][good]
        bps = obs.fill_side[ok][good] * (mid[i[good]] - px) / px * 1e4
        n = len(bps)
        marks.append(Markout(h, n, float(bps.mean()) if n else math.nan,
                             float(bps.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan))
    return FillFit(tuple(rows), tuple(marks))


@dataclass(frozen=True)
class Fit:
    observations: Observations
    latency: LatencyFit | None
    feed: LatencyFit | None  # censored by the in-order delivery's holds (see the module's note); set as the feed
    rejections: dict[str, RateFit]
    transport: RateFit  # requests with places, none answered (lost in transport), of all such requests
    hazard_per_hour: RateFit  # count = drops, n = connected hours (rounded), rate per hour
    outage_median_s: float | None
    outage_sigma: float | None
    params: TwinParams  # the base with every fitted part set
    market: MarketFit | None = None
    fills: FillFit | None = None  # measured (not set in params): the replay check compares the fitted twin's
    quota: QuotaFit | None = None
    informed: InformedFit | None = None
    kept: tuple[tuple[str, str], ...] = ()  # (parameter, why) of each rate the run saw nothing of: the base's kept
    market_why: str = ""  # why the market is not fitted (market None): what the run had, against what a fit needs
    outages: OutageFit | None = None  # the outages' length with its intervals (outage_median_s, outage_sigma: its)
    tick_why: str = ""  # why the run's coin is listed on a tick other than the base's ('' when it is not)


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial share k/n; (0, 1) with no trials. scipy's (``binomtest(k, n)
    .proportion_ci(level, method="wilson")``, Newcombe 1998) written out as scipy computes it, to the bit: binomtest
    first computes a test's p-value, which this does not use, at some 0.5 ms a call over 10,000 trials."""
    if n <= 0:
        return 0.0, 1.0
    k, n = operator.index(k), operator.index(n)
    if not 0 <= k <= n or not 0.0 <= level <= 1.0:
        raise ValueError(f"wilson: k {k} of n {n} at level {level}: needs 0 <= k <= n and a level in [0, 1]")
    p, z = k / n, special.ndtri(0.5 + 0.5 * level)
    denom = 2 * (n + z**2)
    center = (2 * n * p + z**2) / denom
    delta = z / denom * math.sqrt(4 * n * p * (1 - p) + z**2)
    return (0.0 if k == 0 else float(center - delta)), (1.0 if k == n else float(center + delta))


def poisson_rate(k: int, exposure: float, level: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval of a Poisson rate: k events over ``exposure``."""
    if exposure <= 0:
        return 0.0, math.inf
    a = (1.0 - level) / 2.0
    lo = 0.0 if k == 0 else stats.chi2.ppf(a, 2 * k) / 2.0
    hi = stats.chi2.ppf(1.0 - a, 2 * k + 2) / 2.0
    return float(lo / exposure), float(hi / exposure)


_SIGMA_FLOOR = 1e-3  # a mixture component's narrowest sigma (log units), in the EM and the censored fit alike
# Each part's sigma has the prior exp(-_SIGMA_PRIOR² / (2 sigma²)) (an inverse-gamma's tail on sigma², without its
# power term): a fit is its posterior's mode, not the likelihood's maximum. A mixture's likelihood grows without bound
# as a part narrows onto a few values, and the floor alone let such a part win with no meaning (on the twin's own draws,
# 4-7 of 30 seeds of samples without spikes, and a short one's spike part on two round trips at sigma 0.002); the prior
# vanishes as a part narrows past it and hardly moves a wider part (the EM: it adds _SIGMA_PRIOR² to each part's
# scatter). 0.05: a twentieth of a latency, the ms the lags are recorded to at 20 ms; the twin's parts are 0.3-0.4
# wide. 0.02 and 0.1 recovered the twin's draws alike. The prior alone (or a floor of 0.05, or of the ms resolution at
# 150 ms, 0.0067) left the spikeless samples' second parts as they were, off the floor: ``one_or_two`` refuses those.
_SIGMA_PRIOR = 0.05


def fit_mixture(x: np.ndarray, iters: int = 200, spike_like=None) -> tuple[float, float, float, float, float]:
    """(body mu, body sigma, spike share, spike mu, spike sigma) of a two-normal mixture on ``x`` by EM (to the
    posterior's mode: each sigma under ``_SIGMA_PRIOR``), the spike being the component with the larger mean. Starts
    from the body as the lower 90%. ``spike_like`` (body mu, body sigma -> a sigma), where given, adds to the spike
    part's scatter one value more at that sigma (``fit_latency``: the spikes' few values barely tell their width)."""
    x = np.sort(np.asarray(x, dtype=float))
    cut = x[int(0.9 * (len(x) - 1))]
    lo, hi = x[x <= cut], x[x > cut]
    mu1, s1 = lo.mean(), max(lo.std(), _SIGMA_FLOOR)
    mu2, s2 = (hi.mean(), max(hi.std(), _SIGMA_FLOOR)) if len(hi) > 1 else (x.max() + 1.0, 0.5)
    w = 0.1
    for _ in range(iters):
        p1 = (1 - w) * stats.norm.pdf(x, mu1, s1)
        p2 = w * stats.norm.pdf(x, mu2, s2)
        tot = p1 + p2
        tot[tot == 0] = 1e-300
        r = p2 / tot
        w_new = float(r.mean())
        if w_new < 1e-4 or w_new > 0.5:  # no spike component worth the name: one normal
            return float(x.mean()), float(max(x.std(), _SIGMA_FLOOR)), 0.0, float(x.max()), 0.5
        r1 = 1 - r
        z2 = _SIGMA_PRIOR * _SIGMA_PRIOR  # (the prior's pull: as that much more scatter in each part)
        mu1 = float((r1 * x).sum() / r1.sum())
        s1 = float(max(math.sqrt(((r1 * (x - mu1) ** 2).sum() + z2) / r1.sum()), _SIGMA_FLOOR))
        mu2 = float((r * x).sum() / r.sum())
        like, one = (spike_like(mu1, s1) ** 2, 1.0) if spike_like is not None else (0.0, 0.0)
        s2 = float(max(math.sqrt(((r * (x - mu2) ** 2).sum() + z2 + like) / (r.sum() + one)), _SIGMA_FLOOR))
        if abs(w_new - w) < 1e-8:
            w = w_new
            break
        w = w_new
    if mu2 < mu1:
        mu1, s1, mu2, s2, w = mu2, s2, mu1, s1, 1 - w
    return mu1, s1, w, mu2, s2


def _leg_of_sum(mu: float, sigma: float) -> tuple[float, float]:
    """The log-normal (mu, sigma) of each of two iid legs whose sum is log-normal (mu, sigma): half the sum's
    mean and variance (Fenton-Wilkinson's moment match, inverted)."""
    mean = math.exp(mu + sigma * sigma / 2)
    var = (math.exp(sigma * sigma) - 1) * math.exp(2 * mu + sigma * sigma)
    m, v = mean / 2, var / 2
    s2 = math.log(1 + v / (m * m))
    return math.log(m) - s2 / 2, math.sqrt(s2)


def _leg_less(mu: float, sigma: float, other_mu: float, other_sigma: float) -> tuple[float, float]:
    """The log-normal (mu, sigma) of a leg X where X + Y is log-normal (mu, sigma) and Y log-normal (other_mu,
    other_sigma): the sum's mean and variance less Y's (Fenton-Wilkinson's moment match, inverted). A spiked round
    trip is a leg's spike and the other leg's body, so its part's sigma is the sum's, not the spike's: LEG's 0.4
    over a body of 80 ms, sigma 0.3, is a part of sigma 0.35 (tests/calibration). X's mean is at least Y's (a part
    no slower than a body leg is none of a spike's; as the spike's median is at least the body's), its sigma at
    least ``_SIGMA_FLOOR``."""
    def moments(m: float, s: float) -> tuple[float, float]:
        mean = math.exp(m + s * s / 2)
        return mean, (math.exp(s * s) - 1) * mean * mean
    (mean, var), (o_mean, o_var) = moments(mu, sigma), moments(other_mu, other_sigma)
    m = max(mean - o_mean, o_mean)
    s2 = max(math.log1p(max(var - o_var, 0.0) / (m * m)), _SIGMA_FLOOR * _SIGMA_FLOOR)
    return math.log(m) - s2 / 2, math.sqrt(s2)


def fit_feed(lag_s: np.ndarray, held: np.ndarray | None = None) -> LatencyFit | None:
    """The feed's latency: one leg, seen directly; ``held`` marks the lags that are only upper bounds (updates
    that may have waited behind the push before them: see the module's note)."""
    lag = np.asarray(lag_s, dtype=float)
    held = np.zeros(len(lag), dtype=bool) if held is None else np.asarray(held, dtype=bool)
    ok = lag > 0
    lag, held = lag[ok], held[ok]
    if len(lag) < MIN_ROUND_TRIPS or (~held).sum() < MIN_ROUND_TRIPS // 2:
        return None
    x = np.log(lag * 1000.0)
    free = fit_censored_mixture(x[~held], x[held], spike_prior=True)
    (mu1, s1, w, mu2, s2), roles, parts = body_and_spikes(x[~held], x[held], free, "lags",
                                                          lambda mu, sigma: sigma)
    leg = PathLatencyParams(median_ms=math.exp(mu1), sigma=s1, spike_prob=w, spike_median_ms=math.exp(mu2),
                            spike_sigma=s2, burst_rate_per_hour=0.0)
    return LatencyFit(len(lag), mu1, s1, w, mu2, s2, leg, roles, parts)


MAX_SPIKE_SHARE = 0.5  # a spike part past this is the body: the twin's model is a body and a slow minority


def hold_roles(exact: np.ndarray, at_most: np.ndarray, free: tuple, what: str,
               spike_like=None) -> tuple[tuple, str]:
    """``free`` (a two-part fit, its parts ordered by their means) where its spike part is the slower minority, as
    the twin's model has it (``PathLatencyParams``: a body, and spikes drawn instead of it now and then); else the
    best fit with the spike part held so (a share in (0, ½], its mean at or above the body's) and what was done, in
    words. A narrow bulk beside a wide part around it (a served run's lags: 13% of them at median 21 ms, sigma 1.34,
    the rest 87% at 46 ms, sigma 0.36) ordered by means made the wide part the body and the bulk 87% spikes; the
    twin draws that mixture alike, but it is no body and spikes, and it gave the slow tail no part of its own."""
    m1, s1, w, m2, s2 = free
    if not w > MAX_SPIKE_SHARE:  # (ordered by means: the spike part is the slower one)
        return free, ""
    held = _held_mixture(exact, at_most, free, spike_like)
    said = (f"the two-part fit put {w:.0%} of the {what} in its slower part (median {math.exp(m2):.1f} ms, sigma "
            f"{s2:.2f}) and {1.0 - w:.0%} in a faster one (median {math.exp(m1):.1f} ms, sigma {s1:.2f}): no body and "
            f"spikes; refitted with the spike part held the slower minority (at most {MAX_SPIKE_SHARE:.0%})")
    if held[2] <= 0.0:
        said += ": no spike part holds, one log-normal"
    elif held[3] - held[0] < 1e-3:
        said += (f": the spike part at the body's median, wider (sigma {held[4]:.2f} against {held[1]:.2f}), a slow "
                 f"tail of the lags rather than a cluster of slow ones")
    return held, said


def _held_mixture(exact: np.ndarray, at_most: np.ndarray, free: tuple,
                  spike_like=None) -> tuple[float, float, float, float, float]:
    """(body mu, body sigma, spike share, spike mu, spike sigma) by maximum posterior (``at_most`` as in
    ``fit_censored_mixture``) with the spike share in (0, ``MAX_SPIKE_SHARE``] and the spike's mean at or above the
    body's; the better of two starts: the body as the lower 90% (``fit_mixture``'s), and the free fit's majority as
    the body, its minority about its mean (alone, the first ended on a slow 2% beside a body twice as wide: 69 more
    in the negative log-likelihood of 380 lags). (mean, sigma, 0, max, 0.5) as one normal when the share goes under 1e-4
    (``fit_mixture``'s own). ``spike_like`` (body mu, body sigma -> a sigma), where given, puts the spike's sigma b
    under one value more at that sigma s, as the free fits have it (``fit_mixture``'s, ``_spiked_nll``): the term
    log b + s² / (2 b²)."""
    norm = stats.norm
    floor = math.log(_SIGMA_FLOOR)
    x = np.sort(np.asarray(exact, dtype=float))
    cut = x[int(0.9 * (len(x) - 1))]
    lo, hi = x[x <= cut], x[x > cut]
    hi_mu = hi.mean() if len(hi) else x.max() + 1.0

    def params(th) -> tuple[float, float, float, float, float]:
        # (each exponent capped: Nelder-Mead's steps reached a share's coordinate past -709, math.exp's overflow, on
        # spikeless feeds of 50-150 lags whose free fit put 74-97% in the slower part)
        m1, ls1, lw, ld, ls2 = th
        return (m1, math.exp(min(max(ls1, floor), 20.0)), MAX_SPIKE_SHARE / (1.0 + math.exp(min(-lw, 700.0))),
                m1 + math.exp(min(ld, 20.0)), math.exp(min(max(ls2, floor), 20.0)))

    def nll(th) -> float:
        m1, a, p, m2, b = params(th)
        pdf = (1.0 - p) * norm.pdf(exact, m1, a) + p * norm.pdf(exact, m2, b)
        out = -float(np.log(np.maximum(pdf, 1e-300)).sum())
        if len(at_most):
            cdf = (1.0 - p) * norm.cdf(at_most, m1, a) + p * norm.cdf(at_most, m2, b)
            out -= float(np.log(np.maximum(cdf, 1e-300)).sum())
        out += 0.5 * _SIGMA_PRIOR * _SIGMA_PRIOR * (1.0 / (a * a) + 1.0 / (b * b))  # (the sigmas' prior)
        if spike_like is not None:
            like = spike_like(m1, a)
            out += math.log(b) + 0.5 * like * like / (b * b)
        return out

    def share(p: float) -> float:  # the unbounded coordinate of a spike share p in (0, MAX_SPIKE_SHARE)
        q = min(max(p, 1e-3), 0.9 * MAX_SPIKE_SHARE) / MAX_SPIKE_SHARE
        return math.log(q / (1.0 - q))

    f1, g1, fw, f2, g2 = free  # (fw over ½: the second part is the majority)
    starts = ([lo.mean(), math.log(max(lo.std(), _SIGMA_FLOOR)), share(0.1), math.log(max(hi_mu - lo.mean(), 1e-3)),
               math.log(max(hi.std() if len(hi) > 1 else 0.5, _SIGMA_FLOOR))],
              [f2, math.log(g2), share(1.0 - fw), math.log(1e-2), math.log(max(g1, g2))])
    res = min((optimize.minimize(nll, th0, method="Nelder-Mead", options={"maxiter": 4000, "xatol": 1e-6,
                                                                           "fatol": 1e-6}) for th0 in starts),
              key=lambda r: r.fun)
    m1, s1, w, m2, s2 = (float(v) for v in params(res.x))
    if w < 1e-4:
        e = np.asarray(exact, dtype=float)
        return float(e.mean()), float(max(e.std(), _SIGMA_FLOOR)), 0.0, float(e.max()), 0.5
    return m1, s1, w, m2, s2


_LOG_ROOT_2PI = 0.5 * math.log(2.0 * math.pi)


def _mixture_nll(th: np.ndarray, exact: np.ndarray, at_most: np.ndarray) -> tuple[float, np.ndarray]:
    """The negative log-likelihood of ``fit_censored_mixture``'s mixture and its gradient, at th = (mu1, u1, t, mu2,
    u2): each sigma ``_SIGMA_FLOOR`` + exp(u), the second part's share 1 / (1 + exp(-t)). Smooth and unbounded, so
    a quasi-Newton search with the exact gradient takes some 20 steps where Nelder-Mead took hundreds of values;
    summed in logs, so that a value far in both parts' tails still pulls on them (a density cut at 1e-300 did not)."""
    m1, u1, t, m2, u2 = (float(v) for v in th)
    e1, e2 = math.exp(min(u1, 20.0)), math.exp(min(u2, 20.0))
    a, b = _SIGMA_FLOOR + e1, _SIGMA_FLOOR + e2
    la, lb = math.log(a), math.log(b)
    lp, lq = -float(np.logaddexp(0.0, -t)), -float(np.logaddexp(0.0, t))  # log p, log(1 - p)
    p = math.exp(lp)
    z1, z2 = (exact - m1) / a, (exact - m2) / b
    f2 = lp - 0.5 * z2 * z2 - lb
    tot = np.logaddexp(lq - 0.5 * z1 * z1 - la, f2)
    r2 = np.exp(f2 - tot)  # each value's chance of being of the second part, given it
    r1 = 1.0 - r2
    val = len(exact) * _LOG_ROOT_2PI - float(tot.sum())
    g = np.array([(r1 * z1).sum() / a, (r1 * (z1 * z1 - 1.0)).sum(), (r2 - p).sum(), (r2 * z2).sum() / b,
                  (r2 * (z2 * z2 - 1.0)).sum()])
    if len(at_most):
        y1, y2 = (at_most - m1) / a, (at_most - m2) / b
        c1, c2 = special.log_ndtr(y1), special.log_ndtr(y2)
        h2 = lp + c2
        tc = np.logaddexp(lq + c1, h2)
        q2 = np.exp(h2 - tc)
        k1 = (1.0 - q2) * np.exp(-0.5 * y1 * y1 - _LOG_ROOT_2PI - c1)  # that chance times the part's pdf / CDF
        k2 = q2 * np.exp(-0.5 * y2 * y2 - _LOG_ROOT_2PI - c2)
        val -= float(tc.sum())
        g += [-k1.sum() / a, -(k1 * y1).sum(), (q2 - p).sum(), -k2.sum() / b, -(k2 * y2).sum()]
    g[1] *= e1 / a  # (d/d log sigma to d/du)
    g[4] *= e2 / b
    return val, -g


def _penalised_nll(th: np.ndarray, exact: np.ndarray, at_most: np.ndarray) -> tuple[float, np.ndarray]:
    """``_mixture_nll`` with each sigma's prior (``_SIGMA_PRIOR``) added: the posterior's negative log, which
    ``fit_censored_mixture`` minimises."""
    val, grad = _mixture_nll(th, exact, at_most)
    z2 = _SIGMA_PRIOR * _SIGMA_PRIOR
    for i in (1, 4):
        e = math.exp(min(float(th[i]), 20.0))
        s = _SIGMA_FLOOR + e
        val += 0.5 * z2 / (s * s)
        grad[i] -= z2 * e / (s * s * s)
    return val, grad


def _spiked_nll(th: np.ndarray, exact: np.ndarray, at_most: np.ndarray) -> tuple[float, np.ndarray]:
    """``_penalised_nll`` with the second part (the spike) under one value more at the first's sigma: the term
    log b + a² / (2 b²), whose minimum over b alone is the EM's (scatter + a²) / (weight + 1) (``fit_mixture``'s
    ``spike_like``), a the body's sigma and b the spike's."""
    val, grad = _penalised_nll(th, exact, at_most)
    e1, e2 = math.exp(min(float(th[1]), 20.0)), math.exp(min(float(th[4]), 20.0))
    a, b = _SIGMA_FLOOR + e1, _SIGMA_FLOOR + e2
    val += math.log(b) + 0.5 * a * a / (b * b)
    grad[1] += e1 * a / (b * b)
    grad[4] += e2 * (1.0 / b - a * a / (b * b * b))
    return val, grad


def _mixture_point(m1: float, s1: float, w: float, m2: float, s2: float) -> list[float]:
    """``_mixture_nll``'s coordinates of a mixture (body mu, body sigma, spike share, spike mu, spike sigma)."""
    w = min(max(w, 1e-12), 1.0 - 1e-12)
    return [m1, math.log(max(s1 - _SIGMA_FLOOR, 1e-9)), math.log(w / (1.0 - w)), m2,
            math.log(max(s2 - _SIGMA_FLOOR, 1e-9))]


def fit_censored_mixture(exact: np.ndarray, at_most: np.ndarray,
                         spike_prior: bool = False) -> tuple[float, float, float, float, float]:
    """(body mu, body sigma, spike share, spike mu, spike sigma) of a two-normal mixture by maximum posterior (the
    likelihood, each sigma under ``_SIGMA_PRIOR``), from values seen ``exact`` and values known only to be at most
    ``at_most`` (each contributes the mixture's CDF there); without censored values it is EM's answer on the exact
    ones (``fit_mixture``). Else the better of two searches (BFGS on ``_penalised_nll``): from that EM, and from a
    narrow core with a wide part around it (the exact ones' median, half their interquartile sigma; all the values'
    mean and standard deviation; half each). From the EM alone, lags of a narrow bulk (sigma 0.4) beside a wide
    faster part (``hold_roles``) stopped on 1.1-1.4% slow spikes beside a body of sigma 0.69-0.72: a negative
    log-likelihood of 274 and 285 on two seeds of 380 lags, where the core and the wide part have 232 and 238 (8 seeds
    in 30 so). ``spike_prior`` (``fit_feed``): where the better one's spike part is the slower minority, a last search
    from it with that part's sigma under one value more at the body's (``_spiked_nll``; ``fit_mixture``'s
    ``spike_like``): 150 book updates hold three to eight spiked ones, whose scatter alone gave a spike sigma of
    0.05-1.08 for a leg of 0.5 (the twin's shipped feed, seeds 0-29)."""
    if not len(at_most):
        return fit_mixture(exact, spike_like=(lambda mu, sigma: sigma) if spike_prior else None)
    start = fit_mixture(exact)
    exact, at_most = np.asarray(exact, dtype=float), np.asarray(at_most, dtype=float)
    mu1, s1, w, mu2, s2 = start
    if w <= 0.0:  # one normal: start a small spike component above it
        w, mu2, s2 = 0.01, mu1 + 2.0 * s1, s1
    q25, q50, q75 = np.quantile(exact, [0.25, 0.5, 0.75])
    both = np.concatenate([exact, at_most])
    core = max(float(q75 - q25) / 1.349, _SIGMA_FLOOR)
    starts = (_mixture_point(mu1, s1, w, mu2, s2),
              _mixture_point(float(q50), 0.5 * core, 0.5, float(both.mean()), max(float(both.std()), core)))
    # each sigma floored as fit_mixture's EM floors it, and under its prior (``_SIGMA_PRIOR``): a mixture's likelihood
    # grows without bound as a component narrows onto one value, and unfloored the search went there (a 70 s run's one
    # 575 ms lag: spike sigma 5e-322), leaving the body anywhere (median 2.1 ms, sigma 6.5, for lags of median 41 ms:
    # the fitted twin Killed).
    # (Not L-BFGS-B's bounds: its steps call LAPACK, whose threads spun for 8 ms a call on a busy host.)
    res = min((optimize.minimize(_penalised_nll, th0, args=(exact, at_most), jac=True, method="BFGS",
                                 options={"maxiter": 1000, "gtol": 1e-6}) for th0 in starts), key=lambda r: r.fun)
    m1, u1, t, m2, u2 = (float(v) for v in res.x)
    out = [m1, _SIGMA_FLOOR + math.exp(min(u1, 20.0)), math.exp(-float(np.logaddexp(0.0, -t))), m2,
           _SIGMA_FLOOR + math.exp(min(u2, 20.0))]
    if out[3] < out[0]:  # the spike is the slower component
        out = [out[3], out[4], 1.0 - out[2], out[0], out[1]]
    if spike_prior and 0.0 < out[2] <= MAX_SPIKE_SHARE:  # (the roles as the twin's: the spike the slower minority)
        res = optimize.minimize(_spiked_nll, _mixture_point(*out), args=(exact, at_most), jac=True, method="BFGS",
                                options={"maxiter": 1000, "gtol": 1e-6})
        m1, u1, t, m2, u2 = (float(v) for v in res.x)
        spiked = [m1, _SIGMA_FLOOR + math.exp(min(u1, 20.0)), math.exp(-float(np.logaddexp(0.0, -t))), m2,
                  _SIGMA_FLOOR + math.exp(min(u2, 20.0))]
        if spiked[3] >= spiked[0] and spiked[2] <= MAX_SPIKE_SHARE:
            out = spiked
    return tuple(float(v) for v in out)


def one_normal(exact: np.ndarray, at_most: np.ndarray) -> tuple[tuple[float, float, float, float, float], float]:
    """(one normal as ``fit_mixture`` gives it: mean, sigma, 0, the largest value, 0.5; its negative
    log-likelihood): by maximum likelihood on the values seen ``exact`` and those known only to be ``at_most``."""
    exact, at_most = np.asarray(exact, dtype=float), np.asarray(at_most, dtype=float)
    top = float(max(exact.max(initial=-math.inf), at_most.max(initial=-math.inf)))

    def nll(th) -> tuple[float, np.ndarray]:
        m, ls = float(th[0]), float(th[1])
        s = math.exp(ls)
        z, y = (exact - m) / s, (at_most - m) / s
        c = special.log_ndtr(y)
        k = np.exp(-0.5 * y * y - _LOG_ROOT_2PI - c)  # each bound's pdf over its CDF
        val = 0.5 * float(z @ z) + len(exact) * (ls + _LOG_ROOT_2PI) - float(c.sum())
        return val, -np.array([(z.sum() - k.sum()) / s, float(z @ z) - len(exact) - float((k * y).sum())])
    th = [float(exact.mean()), math.log(max(float(exact.std()), _SIGMA_FLOOR))]
    if len(at_most):
        both = np.concatenate([exact, at_most])
        th = optimize.minimize(nll, [float(both.mean()), math.log(max(float(both.std()), 0.01))], jac=True,
                               method="BFGS", options={"maxiter": 1000, "gtol": 1e-6}).x
        th = [float(th[0]), max(float(th[1]), math.log(_SIGMA_FLOOR))]
    return (th[0], math.exp(th[1]), 0.0, top, 0.5), nll(th)[0]


def one_or_two(exact: np.ndarray, at_most: np.ndarray, two: tuple, what: str) -> tuple[tuple, str]:
    """``two`` (a two-part fit) where it betters one normal's log-likelihood by more than BIC asks of its three more
    parameters (half their count times the log of the values'); else one normal (``one_normal``) and what was
    chosen, in words. Two parts always fit better than one, and on a sample without spikes the second took any few
    values the body's normal fitted worst: on the twin's draws with no spikes (seeds 0-29), 300 book updates fitted
    spike shares up to 50% (median 4%), the body's median up to 27% off, and 150 round trips shares up to 15%; now
    none (the medians within 7% and 4%), and the usual shapes (2,000 round trips, 3,000 updates) keep their two
    parts to the figures."""
    if not two[2] > 0.0:
        return two, ""
    one, nll1 = one_normal(exact, at_most)
    nll2 = _mixture_nll(np.array(_mixture_point(*two)), np.asarray(exact, dtype=float),
                        np.asarray(at_most, dtype=float))[0]
    need = 1.5 * math.log(len(exact) + len(at_most))
    if nll1 - nll2 > need:
        return two, ""
    m1, s1, w, m2, s2 = two
    return one, (f"one part chosen over two: a second part ({w:.1%} of the {what}, median {math.exp(m2):.1f} ms, "
                 f"sigma {s2:.3f}) bettered one log-normal's log-likelihood by {nll1 - nll2:.1f}, under the "
                 f"{need:.1f} BIC asks of its three parameters")


def body_and_spikes(exact: np.ndarray, at_most: np.ndarray, free: tuple, what: str,
                    spike_like=None) -> tuple[tuple, str, str]:
    """(the fit kept, ``hold_roles``' saying, ``one_or_two``'s) from ``free``, a two-part fit: one part where the
    two do not pay (``one_or_two``), else the two in the twin's roles (``hold_roles``), and one part where those
    do not pay. The held fit is a narrower search of the same posterior, so it pays no more than the free one; the
    free one was the one BIC weighed, and a spikeless feed of 150 updates (seed 17 of 30) kept 50% "spikes" at the
    body's median: its free fit (70% in a slower part) paid 7.97 for the 7.52 asked, the held one only 5.58."""
    one, parts = one_or_two(exact, at_most, free, what)
    if parts:
        return one, "", parts
    kept, roles = hold_roles(exact, at_most, free, what, spike_like)
    if roles:
        kept, parts = one_or_two(exact, at_most, kept, what)
    return kept, roles, parts


def fit_latency(round_trip_s: np.ndarray) -> LatencyFit | None:
    rt = np.asarray(round_trip_s, dtype=float)
    rt = rt[rt > 0]
    if len(rt) < MIN_ROUND_TRIPS:
        return None
    x = np.log(rt * 1000.0)

    def body_leg_sigma(mu: float, sigma: float) -> float:  # (the round trips' body's -> each leg's)
        return _leg_of_sum(mu, sigma)[1]
    # One value at any size (a conjugate prior's pseudo-count: its weight falls as 1 / (n + 1)) costs 2,000 round
    # trips of LEG (tests/calibration) 0.0462 -> 0.0468 in the spike sigma's error (the part's, then set as the
    # leg's): the part's sigma is a sum's (a leg's spike and the other leg's body, 0.35), drawn to the leg body's
    # 0.3. Tried, seeds 0-29: min(1, c / n) values for a part of n. c = 20 takes LEG 2,000 to 0.0463 (29 seeds
    # better) and leaves 60 and 150 as they are, but the default legs' 2,000 go 0.0797 -> 0.0799 and their spike
    # median 0.1133 -> 0.1150 (ae1f268's gain there given back); c = 3-10, exp(-n / c) and 1 / (1 + (n / c)²) lose
    # the small samples' gain too (LEG 150 0.1081 -> 0.109-0.116). The cost is the size of the noise at 2,000: kept.
    free = fit_mixture(x, spike_like=body_leg_sigma)
    (mu1, s1, w, mu2, s2), roles, parts = body_and_spikes(x, np.zeros(0), free, "round trips", body_leg_sigma)
    leg_mu, leg_sigma = _leg_of_sum(mu1, s1)
    leg_median = math.exp(leg_mu)
    p = 1.0 - math.sqrt(max(0.0, 1.0 - w))
    spike_median = max(math.exp(mu2) - leg_median, leg_median)
    # the leg's spike sigma is the part's less the other leg's body (``_leg_less``): the part's own was set until 7
    # December, 0.36 for LEG's 0.4 (2,000 round trips, seeds 0-29: median 0.356 -> 0.404, mean error 0.0468 ->
    # 0.0261; the default legs' 0.5, 0.446 -> 0.495). Its median stays the part's less the leg body's (the moments'
    # median, tried: 0.0388 -> 0.0354 in log error at 2,000, worse at 150, 0.1906 -> 0.1959)
    spike_sigma = _leg_less(mu2, s2, leg_mu, leg_sigma)[1] if w > 0.0 else s2
    leg = PathLatencyParams(median_ms=leg_median, sigma=leg_sigma, spike_prob=min(1.0, p),
                            spike_median_ms=spike_median, spike_sigma=spike_sigma, burst_rate_per_hour=0.0)
    return LatencyFit(len(rt), mu1, s1, w, mu2, s2, leg, roles, parts)


def sample_leg(leg: PathLatencyParams, n: int, rng: np.random.Generator) -> np.ndarray:
    """Latencies (s) the twin draws on a path with ``leg``: its own sampler (``PathLatency``), at one instant
    (slow periods aside: the fitted legs have none)."""
    return PathLatency(leg, rng).quiet_draws(n)


def sample_round_trips(leg: PathLatencyParams, n: int, rng: np.random.Generator) -> np.ndarray:
    """Round trips (s) the twin would draw with both legs ``leg`` (slow periods aside)."""
    return sample_leg(leg, n, rng) + sample_leg(leg, n, rng)


def goodness(fit: LatencyFit, observed_s: np.ndarray, rng: np.random.Generator, legs: int = 2) -> tuple[float, float]:
    """(Kolmogorov-Smirnov distance, its p-value) between the observed latencies and ones drawn from the
    fitted leg (``legs`` of them added: 2 for round trips, 1 for the feed): the fitted twin replayed, in
    the one respect that matters here."""
    n = max(20_000, 10 * len(observed_s))
    sim = sample_round_trips(fit.leg, n, rng) if legs == 2 else sample_leg(fit.leg, n, rng)
    res = stats.ks_2samp(observed_s, sim)
    return float(res.statistic), float(res.pvalue)


REGIME_STEP_S = 1.0
MIN_REGIME_VOL_RATIO = 1.5  # as the agent's regime model: two states closer than this are one regime
MIN_REGIME_SWITCHES = 2.0  # expected calm → stressed switches over the run below which the rates are not set
MIN_REGIME_SPELL_S = 30.0  # a "stressed state" whose spells last less on average is outliers (a jump), not a regime


@dataclass(frozen=True)
class RegimeFit:
    steps: int  # returns on the grid
    vol_calm_per_sqrt_s: float
    vol_stressed_per_sqrt_s: float
    calm_to_stressed_per_s: float
    stressed_to_calm_per_s: float
    stressed_share: float  # of the steps, by the smoothed posterior
    separated: bool  # stressed at least MIN_REGIME_VOL_RATIO as volatile, in spells of MIN_REGIME_SPELL_S or more on
    # average, and switches enough to fit: set


def grid_returns(obs: Observations) -> np.ndarray | None:
    """The mid's log returns on a ``REGIME_STEP_S`` grid: the last mid at or before each point, on the venue's
    clock where the updates carry it (see fit_regimes); a gap over 60 s (a restart, an outage) cuts the series
    and its return is left out. None with fewer than ``MIN_BOOK_UPDATES`` of either."""
    ts, mid = obs.book_ts, obs.mid
    venue = obs.book_venue_s
    if len(venue) == len(ts) and len(venue) and np.isfinite(venue).all() and (np.diff(venue) >= 0).all():
        ts = venue
    if len(ts) < MIN_BOOK_UPDATES:
        return None
    grid = np.arange(ts[0], ts[-1], REGIME_STEP_S)
    i = np.searchsorted(ts, grid, side="right") - 1
    fresh = (grid - ts[i]) < 60.0
    r = np.diff(np.log(mid[i]))[fresh[1:] & fresh[:-1]]
    return r if len(r) >= MIN_BOOK_UPDATES else None


def bipower_vol(r: np.ndarray, step_s: float) -> float:
    """Volatility per √s from returns on a grid of ``step_s``: bipower variation, (π/2)·mean(|rₜ|·|rₜ₋₁|), which
    a jump (one large return, next to small ones) hardly moves. Unlike a median of per-update returns it does not
    read 0 when most returns are 0: on a coarse tick, or a feed whose pushes repeat the mid (size-only changes),
    more than half of them are, and the median was 0 with the market moving."""
    a = np.abs(r)
    return float(math.sqrt(0.5 * math.pi * float(np.mean(a[1:] * a[:-1])) / step_s)) if len(a) > 1 else 0.0


def fit_regimes(obs: Observations, iters: int = 200) -> RegimeFit | None:
    """A two-state Gaussian hidden Markov model (zero means) fitted by Baum-Welch to the mid's log returns on a
    ``REGIME_STEP_S`` grid (the last mid at or before each point; a gap over 60 s, a restart or an outage, cuts
    the series and its return is left out). On the venue's clock where the updates carry it: on the arrival
    clock, an update held on the socket lands its move in the next step, and those bunched steps alone made a
    one-regime twin market look 2% "stressed" at 1.6 times the calm volatility. None with too few returns."""
    r = grid_returns(obs)
    if r is None:
        return None
    a = np.abs(r)
    s0, s1 = max(float(np.median(a)) * 1.4826, 1e-12), max(float(np.quantile(a, 0.95)), 1e-12)
    if s1 <= s0:
        s1 = 2.0 * s0
    p01, p10 = 0.01, 0.05
    rr = r * r
    g1, ll_old, xs = None, -math.inf, r.tolist()
    n = len(xs)
    for _ in range(iters):
        # forward (scaled), one state's probability carried: two states, plain floats
        c0, c1 = 1.0 / (s0 * math.sqrt(2 * math.pi)), 1.0 / (s1 * math.sqrt(2 * math.pi))
        k0, k1 = -0.5 / (s0 * s0), -0.5 / (s1 * s1)
        e0 = [c0 * math.exp(k0 * x * x) for x in xs]
        e1 = [c1 * math.exp(k1 * x * x) for x in xs]
        f1 = [0.0] * n
        scale = [0.0] * n
        q1 = p01 / (p01 + p10)
        ll = 0.0
        for t in range(n):
            u0, u1 = (1.0 - q1) * e0[t], q1 * e1[t]
            z = u0 + u1
            if z <= 0.0:
                z = 1e-300
            scale[t] = z
            ll += math.log(z)
            f = u1 / z
            f1[t] = f
            q1 = (1.0 - f) * p01 + f * (1.0 - p10)  # predicted P(stressed) at t + 1
        # backward: smoothed P(stressed) and the expected switches
        b0 = b1 = 1.0
        g1 = [0.0] * n
        g1[n - 1] = f1[n - 1]
        n01 = n10 = 0.0
        for t in range(n - 2, -1, -1):
            w0, w1 = e0[t + 1] * b0, e1[t + 1] * b1
            z = scale[t + 1]
            nb0 = ((1.0 - p01) * w0 + p01 * w1) / z
            nb1 = (p10 * w0 + (1.0 - p10) * w1) / z
            f = f1[t]
            n01 += (1.0 - f) * p01 * w1 / z
            n10 += f * p10 * w0 / z
            b0, b1 = nb0, nb1
            g1[t] = f * b1
        g = np.asarray(g1)
        w1s = float(g.sum())
        w0s = n - w1s
        occ0, occ1 = w0s - (1.0 - g[-1]), w1s - g[-1]  # time spent in each state before the last step
        p01 = min(max(n01 / occ0, 1e-9), 0.5) if occ0 > 0 else p01
        p10 = min(max(n10 / occ1, 1e-9), 0.5) if occ1 > 0 else p10
        s0 = math.sqrt(max(float(((1.0 - g) * rr).sum()) / max(w0s, 1e-9), 1e-24))
        s1 = math.sqrt(max(float((g * rr).sum()) / max(w1s, 1e-9), 1e-24))
        if s1 < s0:  # keep state 1 the volatile one
            s0, s1, p01, p10, g1 = s1, s0, p10, p01, [1.0 - x for x in g1]
        if ll - ll_old < 1e-6 * abs(ll):
            break
        ll_old = ll
    share = float(np.mean(g1))
    root = math.sqrt(REGIME_STEP_S)
    separated = (s1 >= MIN_REGIME_VOL_RATIO * s0 and p01 * n * (1.0 - share) >= MIN_REGIME_SWITCHES
                 and REGIME_STEP_S / p10 >= MIN_REGIME_SPELL_S)
    return RegimeFit(n, float(s0 / root), float(s1 / root), float(p01 / REGIME_STEP_S), float(p10 / REGIME_STEP_S),
                     share, bool(separated))


MIN_REACH_PRINTS = 500  # fewer market prints with a touch seen before them and the prints' reach is not fitted
REACH_SPAN = 80  # grid steps: a print further from the touch seen (a touch long stale) is censored past it


@dataclass(frozen=True)
class ReachFit:
    """How far the market's prints reach: the twin's ``depth_decay_per_usd`` (see ``fit_reach``)."""

    n: int  # prints with a touch seen before them (of their side), within REACH_SPAN steps behind it
    beyond: int  # of them, prints past the touch seen
    k: float  # the maximum likelihood's depth_decay_per_usd, per price unit
    lo: float  # its 95% profile-likelihood interval (0 / inf: the prints do not bound that side)
    hi: float
    beyond_share: float  # of the prints, the share past the touch in force (the touch seen's staleness taken out)
    stale_share: float  # of the prints, the share whose touch seen was not the one in force
    why: str = ""  # why k is not set ('' when it is)


def fit_reach(obs: Observations, tick: float) -> ReachFit | None:
    """The prints' reach k (``depth_decay_per_usd``) by maximum likelihood of the twin's own model, from each market
    aggressor's deepest print against the touch on its side as last seen (``Observations.trade_touch``). None: the
    run has no print with a touch seen (observations made without them).

    The twin's aggressor reaches δ ~ Exp(k) past the mid and prints on the deepest price of the grid within δ, never
    better than the touch (twin/market/synthetic.py). A print past the touch is one whose δ passed the touch's next
    price, and by the exponential's lack of memory how far past it went is Exp(k) whatever the mid's place in the
    spread, the spread or the regime: on a grid of G the print lands j ≥ 1 steps past the touch with probability
    p·(1 − q)·q^(j − 1), q = e^(−kG), and at the touch with 1 − p (p, which the mid's place sets, is left free). The
    touch seen is not always the one in force: the book and bbo pushes come at blocks, the mid moves between them
    (in the twin on its own grid), and a print seen against a stale touch lands s steps off, either way alike (the
    mid's steps are symmetric; s is independent of the reach). So the offset seen is j + s, s drawn from a symmetric
    law fitted beside (EM on the offsets' histogram, per grid): the prints before the touch seen (a buy under the ask)
    measure the staleness that would otherwise read as reach. k's interval is the profile likelihood's (chi-square,
    one degree); where it is unbounded, the prints do not identify k (too few reach past the touch), and it is not
    set."""
    from twin.market.synthetic import grid_ticks

    px, touch, side = obs.trade_px, obs.trade_touch, obs.trade_side
    if len(px) != len(obs.trade_sz) or not len(px) or not tick > 0:
        return None
    ok = np.isfinite(touch) & (touch > 0) & (px > 0)
    if not ok.any():
        return None
    px, touch, side = px[ok], touch[ok], side[ok]
    exponent = np.floor(np.log10(np.maximum(px, tick))).astype(np.int64)
    values, where = np.unique(exponent, return_inverse=True)  # (a day's prints, some 350,000, lie in one or two)
    grid = np.array([grid_ticks(tick, int(e)) for e in values])[where] * tick
    offset = np.rint(side * (px - touch) / grid).astype(np.int64)
    keep = offset >= -REACH_SPAN  # (a touch seen further off is another market's: a gap, a reconnect)
    offset, grid = offset[keep], grid[keep]
    strata = [(float(g), np.bincount(np.minimum(offset[grid == g], REACH_SPAN + 1) + REACH_SPAN,
                                     minlength=2 * REACH_SPAN + 2).astype(float)) for g in np.unique(grid)]
    n, beyond = int(len(offset)), int((offset >= 1).sum())
    if n < MIN_REACH_PRINTS:
        return ReachFit(n, beyond, math.nan, 0.0, math.inf, math.nan, math.nan,
                        f"{count_text(n, 'market print')} with a touch seen before them where a fit needs "
                        f"{MIN_REACH_PRINTS:,}")
    states = {g: None for g, _ in strata}

    def loglik(x: float) -> float:
        total = 0.0
        for g, counts in strata:
            ll, states[g] = _reach_em(counts, math.exp(-math.exp(x) * g))
            total += ll
        return total

    g_min, g_max = min(g for g, _ in strata), max(g for g, _ in strata)
    bounds = (math.log(1e-3 / g_max), math.log(20.0 / g_min))  # (q from 0.999 to e^-20 a step)
    # (the likelihood has a plateau where no print is taken past the touch, p → 0: a coarse grid first, then the
    # maximum between the best point's neighbours)
    xs = np.linspace(*bounds, 41)
    best = int(np.argmax([loglik(x) for x in xs]))
    res = optimize.minimize_scalar(lambda x: -loglik(x), bounds=(xs[max(best - 1, 0)], xs[min(best + 1, 40)]),
                                   method="bounded", options={"xatol": 1e-5})
    x_hat, ll_hat = float(res.x), -float(res.fun)
    cut = ll_hat - 0.5 * float(stats.chi2.ppf(0.95, 1))
    ends = []
    for bound in bounds:
        if loglik(bound) >= cut:
            ends.append(None)  # not bounded on this side
        else:
            ends.append(math.exp(optimize.brentq(lambda x: loglik(x) - cut, *sorted((x_hat, bound)), xtol=1e-6)))
    loglik(x_hat)  # (the states at the maximum, for the shares)
    weights = [counts.sum() for _, counts in strata]
    p = float(np.average([states[g][0] for g, _ in strata], weights=weights))
    stale = float(np.average([1.0 - states[g][1][REACH_SPAN] for g, _ in strata], weights=weights))
    k = math.exp(x_hat)
    lo, hi = (ends[0] if ends[0] is not None else 0.0), (ends[1] if ends[1] is not None else math.inf)
    why = ""
    if ends[0] is None or ends[1] is None:
        why = (f"{beyond:,} of {count_text(n, 'print')} past the touch seen: they do not bound it (95% interval: "
               f"{interval_text(lo, hi, 3, ' per price unit')})"
               + (": too few reach past the touch" if ends[1] is None else
                  f": they reach further than the {REACH_SPAN} steps measured"))
    return ReachFit(n, beyond, k, lo, hi, p, stale, why)


def _reach_em(counts: np.ndarray, q: float, iters: int = 5000) -> tuple[float, tuple]:
    """(log likelihood, (p, shift law)) of ``fit_reach``'s model on one grid's histogram of offsets (index i is an
    offset of i − REACH_SPAN; the last bin, past REACH_SPAN, censored) at a given q, p and the symmetric shift law
    on −REACH_SPAN..REACH_SPAN fitted by EM from p = 1/2 and the law uniform (from a state fitted at another q, p
    can be 0 there, where EM's multiplicative steps keep it)."""
    m = 2 * REACH_SPAN + 1
    i = np.arange(m + 1)[:, None]  # offset bins (the last: past the span)
    s = np.arange(m)[None, :]  # shifts
    d = i - s  # steps past the touch in force
    beyond = np.where(d >= 1, (1.0 - q) * q ** np.maximum(d - 1, 0), 0.0)
    beyond[m] = q ** np.maximum(m - 1 - s[0], 0)  # past the span: j > REACH_SPAN − s (s ≤ REACH_SPAN)
    # the prints at the touch in force: offset i from shift i, the last bin none. Copied, not a product with the
    # identity matrix (the same numbers, exactly): those two products a step were a quarter of the EM's CPU
    at_law = np.zeros(m + 1)
    p, law = 0.5, np.full(m, 1.0 / m)
    total = counts.sum()
    ll_old = -math.inf
    for _ in range(iters):
        at_law[:m] = law
        prob = (1.0 - p) * at_law + p * (beyond @ law)
        seen = prob > 0
        ratio = np.divide(counts, prob, out=np.zeros_like(counts), where=seen)
        ll = float((counts[seen] * np.log(prob[seen])).sum())
        from_at = (1.0 - p) * law * ratio[:m]
        from_beyond = p * law * (beyond.T @ ratio)
        p = float(from_beyond.sum() / total)
        shifted = from_at + from_beyond
        law = 0.5 * (shifted + shifted[::-1]) / total
        if ll - ll_old <= 1e-10 * abs(ll):
            break
        ll_old = ll
    return ll, (p, law)


TOUCH_GAP_S = 1.0  # bbo pushes further apart (a quiet touch, an outage, our quote at the touch) are not one move


def touch_moves(obs: Observations, tick: float) -> tuple[float, float]:
    """(moves of the touch's mid a second, their mean size in ticks) from the bbo pushes (nan: fewer than two). The
    venue pushes bbo at a block (~70 ms) where the touch changed, so this is the mid's path under a second as far as
    the feed shows it: how often the touch moves and by how many ticks, which the twin's ``book_interval_s`` and the
    volatility set (at 0.1 s, 2.7-tick steps for BTC). The mid inside the spread, and so the overshoot past a quote
    the touch steps through (the maker's trade-through loss), is finer than it shows: not fitted, set beside the
    fitted twin's in the replay."""
    ts, mid = obs.bbo_ts, obs.bbo_mid
    if len(ts) < 2 or not tick > 0:
        return math.nan, math.nan
    dt, dm = np.diff(ts), np.abs(np.diff(mid)) / tick
    near = (dt > 0) & (dt <= TOUCH_GAP_S)
    moved = near & (dm > 1e-9)
    seconds = float(dt[near].sum())
    return (float(moved.sum() / seconds) if seconds > 0 else math.nan,
            float(dm[moved].mean()) if moved.any() else math.nan)


def fit_market(obs: Observations, base: SyntheticMarketParams, tick: float) -> MarketFit | None:
    """The market's first-order statistics from the feed (see the module's note); ``base`` is the coin's
    SyntheticMarketParams the rest is kept from. None with too few book updates or trades."""
    n = len(obs.mid)
    if n < MIN_BOOK_UPDATES or len(obs.trade_sz) < MIN_ROUND_TRIPS or obs.level_sz.size == 0:
        return None
    dt = np.diff(obs.book_ts)
    ok = (dt > 0) & (dt < 60.0)  # (a gap: the run's restart, an outage)
    grid = grid_returns(obs)
    if grid is None:
        return None
    vol = bipower_vol(grid, REGIME_STEP_S)
    if not vol > 0.0:
        return None  # the mid never moved: nothing to fit a volatility from (the base's kept, not a 0)
    seconds = float(dt[ok].sum())
    k = len(obs.trade_sz)
    lo, hi = poisson_rate(k, seconds)
    logs = np.log(obs.trade_sz[obs.trade_sz > 0])
    med = np.median(obs.level_sz, axis=0)  # (2, depth): each side's median size per level
    per_level = med.mean(axis=0)
    touch = float(per_level[0])
    i = np.arange(len(per_level))
    g = float(max(0.0, ((per_level / touch - 1.0) * i).sum() / (i * i).sum())) if len(i) > 1 and touch > 0 else 0.0
    ratio = obs.level_sz / np.maximum(med, 1e-12)[None, :, :]
    noise = float(np.std(np.log(ratio[ratio > 0]))) if (ratio > 0).any() else base.depth_noise_log_std
    spread_ticks = float(np.median(obs.spread)) / tick
    hs = max(0.0, (spread_ticks - 1.0) / 2.0)
    b = base

    def calm_ratio(stressed: float, calm: float) -> float:
        return stressed / calm if calm > 0 else 1.0

    market = type(b).model_validate({
        **b.model_dump(), "initial_mid": float(obs.mid[0]),
        "vol_calm_per_sqrt_s": vol, "vol_stressed_per_sqrt_s": vol * calm_ratio(b.vol_stressed_per_sqrt_s, b.vol_calm_per_sqrt_s),
        "trade_rate_calm_per_s": k / seconds,
        "trade_rate_stressed_per_s": k / seconds * calm_ratio(b.trade_rate_stressed_per_s, b.trade_rate_calm_per_s),
        "trade_size_median": float(np.exp(logs.mean())), "trade_size_log_std": float(logs.std(ddof=1)),
        "depth_at_touch": touch, "depth_growth_per_level": g, "depth_noise_log_std": noise,
        "half_spread_ticks_calm": hs,
        "half_spread_ticks_stressed": max(hs, b.half_spread_ticks_stressed - b.half_spread_ticks_calm + hs)})
    reach = fit_reach(obs, tick)
    if reach is not None and not reach.why:
        market = type(b).model_validate({**market.model_dump(), "depth_decay_per_usd": reach.k})
    regimes = fit_regimes(obs)
    if regimes is not None and regimes.separated:  # two regimes seen: their volatilities and switching rates
        stressed_ratio = calm_ratio(b.trade_rate_stressed_per_s, b.trade_rate_calm_per_s)
        calm_trades = k / seconds / (1.0 - regimes.stressed_share + regimes.stressed_share * stressed_ratio)
        vol = regimes.vol_calm_per_sqrt_s
        market = type(b).model_validate({
            **market.model_dump(), "vol_calm_per_sqrt_s": vol, "vol_stressed_per_sqrt_s": regimes.vol_stressed_per_sqrt_s,
            "calm_to_stressed_per_s": regimes.calm_to_stressed_per_s,
            "stressed_to_calm_per_s": regimes.stressed_to_calm_per_s,
            "trade_rate_calm_per_s": calm_trades, "trade_rate_stressed_per_s": calm_trades * stressed_ratio})
    return MarketFit(obs.coin, n, k, vol, RateFit(k, round(seconds), k / seconds, lo, hi), market.trade_size_median,
                     market.trade_size_log_std, touch, g, noise, hs, float(obs.mid[0]), market, regimes, reach)


def venue_rates(obs: Observations) -> tuple[dict[str, RateFit], RateFit, RateFit]:
    """(random rejections by reason, transport failures, disconnects per connected hour), each with its interval.
    The connected hours are those the socket was live (``Observations.connected_s``: each outage down from its
    silence's start to the reconnect), where every outage that starts is seen: the twin's hazard (its connection's
    next outage drawn from the end of one, or from a served socket's opening) is so recovered. Not the venue's up
    time inside an outage as seen, after its end (inside the silence, before the backoff's next try): an outage that
    starts then is not seen on its own, it joins the one seen, and that time counted connected read the twin's 60 an
    hour (median 30 s, sigma 0.8, behind a 60 s silence) as 45 - 50.
    The twin draws its random rejections for the places that pass its rules: the answered, less those its rules
    rejected; and applies one only to a place the venue could refuse with its reason (a margin refusal only to one
    adding to the position): each reason's rate is over those (over all, a run quoting both sides while holding a
    position read its PerpMargin rate at some two thirds of the truth)."""
    rejections: dict[str, RateFit] = {}
    for reason, k in sorted(obs.rejections.items()):
        if reason in RULE_REASONS:
            continue
        eligible = obs.eligible_for(reason)
        lo, hi = wilson(k, eligible)
        rejections[reason] = RateFit(k, eligible, k / eligible if eligible else 0.0, lo, hi)
    k, n = obs.lost_requests, obs.place_requests
    transport = RateFit(k, n, k / n if n else 0.0, *wilson(k, n))
    hours = obs.connected_s / 3600.0
    lo, hi = poisson_rate(obs.disconnects, hours)
    hazard = RateFit(obs.disconnects, round(hours), obs.disconnects / hours if hours > 0 else 0.0, lo, hi)
    return rejections, transport, hazard


def fit(obs: Observations, base: TwinParams | None = None) -> Fit:
    base = base or TwinParams()
    lat = fit_latency(obs.round_trip_s)
    feed = fit_feed(obs.feed_lag_s, obs.feed_held if len(obs.feed_held) == len(obs.feed_lag_s) else None)
    outages = fit_outages(obs.outages_s, from_s=obs.outage_lower_s(), quiet_s=obs.outage_quiet_s())
    rejections, transport, hazard = venue_rates(obs)
    out_median, out_sigma = (outages.median_s, outages.sigma) if outages is not None else (None, None)
    data = base.model_dump()
    if lat is not None:
        leg = lat.leg.model_dump()
        data["latency"]["order_entry"] = dict(leg)
        data["latency"]["response"] = dict(leg)
    if feed is not None:
        data["latency"]["feed"] = feed.leg.model_dump()
    kept = unobserved(obs)
    unseen = dict(kept)
    known = {r.value for r in ORDER_REASONS}
    if "rejections.rates" not in unseen:
        data["rejections"]["rates"] = {r: f.rate for r, f in rejections.items() if r in known}
        # (a reason the twin does not draw at random, as "Other", a venue text the agent does not know: said, not
        # left to read as a rate the fitted twin has)
        kept += tuple((f"rejections.rates.{r}",
                       f"{f.count:,} seen, a refusal the twin does not draw at random: not set")
                      for r, f in rejections.items() if r not in known)
    if "rejections.rest_failure_prob" not in unseen:
        data["rejections"]["rest_failure_prob"] = transport.rate
    if "connection.hazard_per_hour" not in unseen:
        data["connection"]["hazard_per_hour"] = hazard.rate
    if out_median is not None:
        data["connection"]["outage_median_s"] = out_median
        data["connection"]["outage_sigma"] = out_sigma
    qf = quota_fit(obs)
    if qf is not None:
        data["quota"]["initial_buffer"] = qf.start_headroom
        if qf.usd_per_request is not None:
            data["quota"]["usd_per_request"] = qf.usd_per_request
    mkt = None
    tick_why = ""
    inst = next((i for i in base.instruments if i.coin == obs.coin), None)
    template = None
    added = None  # the instrument listed for a first-dex coin the base does not list
    if obs.coin in base.markets and inst is not None:  # a coin the base has a market and an instrument for
        template = base.markets[obs.coin]
    elif inst is not None and len(obs.mid):
        # a coin the base lists with no market (the defaults' hyna:LIT): its market fitted from the thin HIP-3
        # preset for a HIP-3 coin (from the base's first market otherwise), its reach scaled to the coin's price
        template = SyntheticMarketParams.thin_hip3() if inst.dex else \
            next(iter(base.markets.values()), None) or SyntheticMarketParams()
        template = _reach_scaled(template, float(obs.mid[0]))
    elif inst is None and obs.coin and ":" not in obs.coin and obs.tick > 0 and obs.sz_decimals >= 0 and len(obs.mid):
        # a first-dex coin the base does not list (a live run on ETH, say): listed, with the run's grid, and its
        # market fitted from the base's first one, its reach (a price distance) scaled to the coin's price
        template = _reach_scaled(next(iter(base.markets.values()), None) or SyntheticMarketParams(), float(obs.mid[0]))
        used = {i["index"] for i in data["instruments"] if not i["dex"]}
        first = next((i for i in base.instruments if not i.dex), None)
        added = {**(first.model_dump() if first is not None else {}), "name": obs.coin, "dex": "", "dex_index": 0,
                 "index": max(used, default=-1) + 1, "sz_decimals": obs.sz_decimals, "tick": obs.tick}
        inst = InstrumentSpec.model_validate(added)
    if template is not None:
        tick, tick_why = listable_tick(inst, template, obs)
        mkt = fit_market(obs, template, tick)
        if mkt is not None:
            if added is not None:
                data["instruments"].append(added)
            for spec in data["instruments"]:
                if spec["name"] == inst.name and spec["dex"] == inst.dex:
                    spec["tick"] = tick
            data["markets"][obs.coin] = mkt.market.model_dump()
        else:
            tick_why = ""
    params = TwinParams.model_validate(data)
    informed, informed_why = fit_informed(obs, params, obs.coin) if mkt is not None else (None, "")
    if informed is not None:
        data["markets"][obs.coin]["informed_share"] = informed.share
        params = TwinParams.model_validate(data)
    elif informed_why:  # (the market fitted, its informed share the base's)
        kept += ((f"markets.{obs.coin}.informed_share", informed_why),)
    market_why = "" if mkt is not None else market_unfitted_why(obs, inst is not None or ":" not in obs.coin)
    if mkt is not None and (mkt.reach is None or mkt.reach.why):  # (the base's reach kept, scaled to the price)
        kept += ((f"markets.{obs.coin}.depth_decay_per_usd", mkt.reach.why if mkt.reach is not None else
                  "the run's market prints came with no touch seen before them"),)
    return Fit(obs, lat, feed, rejections, transport, hazard, out_median, out_sigma, params, mkt, fill_fit(obs), qf,
               informed, kept, market_why, outages, tick_why)


def listable_tick(inst: InstrumentSpec, template: SyntheticMarketParams, obs: Observations) -> tuple[float, str]:
    """The tick the fitted twin lists the run's coin on, and why it is not ``inst``'s ('' when it is). The venue's
    grid depends on the price (hyperliquid.md §3.4: 5 significant figures), a twin's is one tick: where ``inst``'s
    would make the fitted book (at the run's first mid) list prices the venue refuses, the twin refused the fitted
    parameters and the whole calibration was lost (the defaults' hyna:LIT, tick 0.0001, traded at 12). Then the
    run's own tick (the live CLI's, by the venue's rule at the run's start) is taken if it holds there, else the
    coarsest the rule needs."""
    if not len(obs.mid):
        return inst.tick, ""
    at = template.model_copy(update={"initial_mid": float(obs.mid[0])})
    problem = book_tick_problem(inst, at)
    if problem is None:
        return inst.tick, ""
    for tick, whose in ((obs.tick, "the run's"), (problem[1], "the coarsest the venue's rule allows there")):
        if tick > 0 and book_tick_problem(inst.model_copy(update={"tick": tick}), at) is None:
            return tick, (f"{inst.coin}'s tick {figure_text(inst.tick, 6)} would list prices the venue refuses at "
                          f"the run's price {figure_text(at.initial_mid, 6)}: {whose}, {figure_text(tick, 6)}, taken")
    return inst.tick, ""


def market_kept(f: Fit) -> str:
    """What the fitted twin runs for the run's coin when its market is not fitted: the base's, or none at all (a
    base that does not list the coin: then the fitted twin cannot be replayed on it)."""
    coin = f.observations.coin
    return "the base's kept" if coin in f.params.markets else f"the base has no {coin} market either: the twin has none"


def market_unfitted_why(obs: Observations, listable: bool) -> str:
    """Why ``fit_market`` fitted no market from ``obs`` (``listable``: the base lists the coin, or it is a first-dex
    coin the fit can list), as what the run had against what a fit needs: "too few updates or trades" left the
    user to guess which, and how far short (a 90-second run has some 170 book updates: no run that short fits)."""
    if not obs.coin or not len(obs.mid):
        return "the run saw no book of its coin"
    if not listable:
        return f"{obs.coin} is a HIP-3 coin the base does not list: give --base parameters that list it"
    short = []
    if len(obs.mid) < MIN_BOOK_UPDATES:
        short.append(f"{count_text(len(obs.mid), 'book update')} where a fit needs {MIN_BOOK_UPDATES:,}")
    if len(obs.trade_sz) < MIN_ROUND_TRIPS:
        short.append(f"{count_text(len(obs.trade_sz), 'market trade')} where a fit needs {MIN_ROUND_TRIPS:,}")
    if obs.level_sz.size == 0:
        short.append("no book levels")
    if not short and grid_returns(obs) is None:
        short.append(f"fewer than {MIN_BOOK_UPDATES} seconds of the mid's returns where a fit needs "
                     f"{MIN_BOOK_UPDATES} (a gap over 60 s cuts them)")
    return ", ".join(short) if short else "the mid never moved: no volatility to fit"


def unobserved(obs: Observations) -> tuple[tuple[str, str], ...]:
    """(parameter, why) of each rate the run gives no sample for: its share of nothing is not a rate of 0, and
    the base's value is kept (a run that only watched the feed set the rejections and transport failures to 0)."""
    out = []
    if obs.eligible <= 0:
        out.append(("rejections.rates", "no place passed the twin's rules to be answered"))
    if obs.place_requests <= 0:
        out.append(("rejections.rest_failure_prob", "no request carried places"))
    if obs.connected_s <= 0:
        out.append(("connection.hazard_per_hour", "no time connected"))
    elif obs.disconnects * 3600.0 / obs.connected_s > HAZARD_MAX_PER_HOUR:
        # (a drop in a run's first instant: the twin refused the rate, and the calibration stopped on "1 validation
        # error for TwinParams ... Input should be less than or equal to 10000", naming no file nor why)
        out.append(("connection.hazard_per_hour",
                    f"{count_text(obs.disconnects, 'drop')} in {figure_text(obs.connected_s, 3)} s connected, "
                    f"{figure_text(obs.disconnects * 3600.0 / obs.connected_s, 3)} an hour: past the twin's bound of "
                    f"{HAZARD_MAX_PER_HOUR:,.0f}, too little time connected to fit"))
    if len(obs.outages_s) < MIN_OUTAGES:
        # (it read "1 outage where a fit of their length needs 5": their of one, and 5 of what)
        why = (f"{count_text(len(obs.outages_s), 'outage')} of known length, where a fit of the outages' length "
               f"needs {count_text(MIN_OUTAGES, 'outage')} or more")
        out += [("connection.outage_median_s", why), ("connection.outage_sigma", why)]
    return tuple(out)


def _reach_scaled(template: SyntheticMarketParams, mid: float) -> SyntheticMarketParams:
    """``template`` for a coin at ``mid``: its book's reach (depth decay per USD, a price distance) scaled by the
    prices' ratio; the fit sets the rest it can from the feed."""
    scale = template.initial_mid / mid
    return type(template).model_validate({**template.model_dump(),
                                          "depth_decay_per_usd": template.depth_decay_per_usd * scale})


@dataclass(frozen=True)
class ReplayCheck:
    """The fitted twin run with the run's agent for as long, observed the same way, against what was seen."""

    duration_s: float
    observed: Observations
    replayed: Observations
    round_trip_ks: float  # two-sample KS distance, observed vs replayed round trips (nan: too few)
    rows: tuple[tuple[str, float, float], ...]  # (what, observed, replayed): the first seed's replay
    seeds: int = 1  # replays run, on seeds seed, seed + 1, ...
    ranges: tuple[tuple[float, float], ...] = ()  # per row, the replayed value's least and greatest over the seeds
    funded: str = ""  # where the replayed account's funds came from when not the run's first snapshot ('': from it)


TRANSPORT_OF = "requests of places"  # what the transport failures' share is of (venue_rates)


def rejections_of(o: Observations, reason: str, one: bool = False) -> str:
    """What a random rejection's share is of (``venue_rates``), as its row in report.html and its printed line
    say it: the places that passed the twin's rules, or of those the ones the venue could refuse with ``reason``
    (``Observations.eligible_for``): a margin or open-interest refusal's are the places adding to the position. The
    table's heading said "share of the places that passed the rules" over every row, the transport failures' (a
    share of requests) and PerpMargin's (of the places adding to the position: 1,867 of 3,455 in a half-hour twin
    run) too. ``one``: of one place (the printout's "1 of 1 place that passed the rules")."""
    passed = "place that passed the rules" if one else "places that passed the rules"
    if o.eligible_for(reason) == o.eligible:
        return passed
    r = RejectReason(reason)  # (eligible_for narrows only a reason the twin knows)
    if can_refuse(r, "Gtc", False, True) and not can_refuse(r, "Gtc", False, False):
        return f"{passed}, adding to the position"
    return f"{passed}, of a kind the venue refuses so"


REQUESTS_ROW = "requests used per hour"  # the replay's row of the requests (the report says its range over seeds)


def replay_check(f: Fit, config, seed: int = 0, max_s: float = 6 * 3600.0,
                 progress: bool = False, seeds: int = 1) -> ReplayCheck | None:
    """DESIGN §8's check: the fitted twin, with the run's agent config, for the run's duration (at most
    ``max_s``): does it reproduce what was seen? Each fitted quantity, observed and replayed, side by side.
    With ``seeds`` > 1 the replay is run on as many seeds, and each row carries the replayed value's range
    over them: what the agent's own path decides (requests, fills, markouts) varies from seed to seed, and a
    seen value inside that range is as near as a twin can come. None when the fitted twin has no market for
    the run's coin."""
    from agent.config import AgentConfig

    cfg = config if isinstance(config, AgentConfig) else AgentConfig.model_validate(config)
    if cfg.session.coin not in f.params.markets or all(i.coin != cfg.session.coin for i in f.params.instruments):
        return None  # a coin the fitted twin cannot list (a HIP-3 coin the base lacks): nothing to replay
    # the run's length (a floor of a second only for a journal spanning none): a floor of 60 s replayed a 12 s run
    # for five times as long, unsaid, where nothing in the replay needs a minute
    duration = min(max(f.observations.duration_s, 1.0), max_s)
    funds, funded = replay_funds(f.observations, cfg)
    runs = [_replay(f, cfg, s, duration, progress, funds) for s in range(seed, seed + max(1, seeds))]
    rep, ks, rows = runs[0]
    ranges = []
    for i in range(len(rows)):
        vals = [r[2][i][2] for r in runs if r[2][i][2] == r[2][i][2]]
        ranges.append((min(vals), max(vals)) if vals else (math.nan, math.nan))
    return ReplayCheck(duration, f.observations, rep, ks, rows, len(runs), tuple(ranges), funded)


def replay_funds(obs: Observations, cfg) -> tuple[float | None, str]:
    """(what the replay's account is funded with, USDC, None: the config's session.collateral_usd; and why, when not
    the run's first snapshot). The live account's free margin at the start (``start_free_usd``), not the drawdown
    basis session.collateral_usd, which a config may set to a part of the account. But a unified account (or portfolio
    margin: userAbstraction's "unifiedAccount", "portfolioMargin") keeps its USDC in the spot clearinghouse and
    margins perps from it, so its perp clearinghouseState, which the snapshot reads (hyperliquid.md §1), shows about 0
    (as reported; not probed), and a replay funded so had every order adding to the position refused for margin.
    Where the snapshot had under ``MIN_COLLATERAL_USD`` free yet the venue took orders adding to the position, more
    than it refused for margin, the margin was elsewhere, which the journal does not record: the replay is funded
    from the run's session.collateral_usd (the live CLI started such a run only with it set), and it is said."""
    from agent.config import MIN_COLLATERAL_USD

    free = obs.start_free_usd
    if free != free:
        return None, ""
    # (a lower bound on the places adding to the position the venue took, every refusal counted as one of them: the
    # run's whose snapshot it is, not a folder's runs before it, on another account's state)
    taken, margin_refused = obs.margin_counts()
    # (and more of them than it refused for margin: an account whose free margin was truly small, used by other
    # coins' positions, had most refused and a few taken, small ones or after those positions gained; a unified
    # account only the venue's random share, 17 of 656 in a twin run)
    if free >= MIN_COLLATERAL_USD or taken <= margin_refused:
        return free, ""
    basis = cfg.session.collateral_usd
    return basis, (f"the run's first account snapshot (events.jsonl, AccountSnapshot.account_value less margin_used) "
                   f"had {free:,.2f} USDC to margin orders with, yet the venue took {count_text(taken, 'order')} "
                   "adding to the position: the account's margin was elsewhere (a unified account's or portfolio "
                   "margin's spot balance, which the perp clearinghouseState does not show nor the journal record); "
                   f"the replay's account is funded with the run's session.collateral_usd, {basis:,.2f} USDC (its "
                   "start record's config)")


def _replay(f: Fit, cfg, seed: int, duration: float, progress: bool, funds: float | None):
    """One replay of the fitted twin, its account funded with ``funds`` (``replay_funds``): (its observations, the
    round trips' KS distance, the rows)."""
    from agent.session import build_session, session_core
    from calibration.observe import observe
    from twin.session import run_until

    events: list = []
    ex, _, _, driver = build_session(cfg, seed, f.params, event_log=events, funds_usd=funds)
    driver.start()
    run_until(ex.env, duration, progress, desc=f"the fitted twin, seed {seed}")
    inst = ex.instruments[cfg.session.coin]
    rep = observe(events, session_core(cfg, seed, inst.tick, inst.sz_decimals, inst.maker_fee * 1e4),
                  venue_epoch_s=ex.epoch_ms / 1000.0)
    obs = f.observations
    ks = float(stats.ks_2samp(obs.round_trip_s, rep.round_trip_s).statistic) \
        if min(len(obs.round_trip_s), len(rep.round_trip_s)) >= MIN_KS_ROUND_TRIPS else math.nan

    def q(x, p):
        return float(np.quantile(x, p) * 1000.0) if len(x) else math.nan

    # the replay measured as the run was, by what the rows show (not refitted: no probe, no HMM, no market)
    rejections, transport, hazard = venue_rates(rep)
    quota, fills = quota_fit(rep), fill_fit(rep)

    def rate(got: dict[str, RateFit], reason: str) -> float:
        r = got.get(reason)
        return r.rate if r is not None else 0.0

    rows = [("round trip p50, ms", q(obs.round_trip_s, 0.5), q(rep.round_trip_s, 0.5)),
            ("round trip p95, ms", q(obs.round_trip_s, 0.95), q(rep.round_trip_s, 0.95))]
    if len(obs.feed_lag_s):  # as seen, holds and all: the fitted leg under the twin's in-order delivery
        rows += [("book update lag p50, ms", q(obs.feed_lag_s, 0.5), q(rep.feed_lag_s, 0.5)),
                 ("book update lag p95, ms", q(obs.feed_lag_s, 0.95), q(rep.feed_lag_s, 0.95))]
    if len(obs.bbo_ts) > 1:  # the touch's moves under a second: the part of the mid's sub-second path the feed shows
        tick = next((i.tick for i in f.params.instruments if i.coin == obs.coin), math.nan)  # (the fitted twin's)
        seen, again = touch_moves(obs, tick), touch_moves(rep, tick)
        rows += [("bbo touch moves a second", seen[0], again[0]),
                 ("bbo touch move, mean ticks", seen[1], again[1])]
    # (each share says of what, as the report's table does: "rejections PerpMargin 0.0225 / 0.02317" read as a share of
    # every place, and "requests lost in transport" as a count)
    rows += [(f"rejections {r}, of {rejections_of(obs, r)}", rate(f.rejections, r), rate(rejections, r))
             for r in f.rejections]
    kept = dict(f.kept)  # (a rate the run saw nothing of has no observed value: the twin runs the base's)
    rows.append((f"lost in transport, of {TRANSPORT_OF}",
                 math.nan if "rejections.rest_failure_prob" in kept else f.transport.rate, transport.rate))
    rows.append(("disconnects per connected hour",
                 math.nan if "connection.hazard_per_hour" in kept else f.hazard_per_hour.rate, hazard.rate))
    if f.quota is not None:
        rows.append((REQUESTS_ROW, f.quota.used_per_hour,
                     quota.used_per_hour if quota is not None else math.nan))
    by_distance = dict(fills.by_distance)
    for label, r in f.fills.by_distance:
        r2 = by_distance.get(label)
        rows.append((f"filled, of orders rested {label}", r.rate, r2.rate if r2 is not None else math.nan))
    for m, r in zip(f.fills.markouts, fills.markouts):
        rows.append((f"maker fills' markout at {m.horizon_s:g} s, bps", m.mean_bps, r.mean_bps))
    return rep, ks, tuple(rows)

