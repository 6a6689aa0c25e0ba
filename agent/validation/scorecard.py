"""Per-model scorecards: score each signal's p_up against what the mid did, continuously, and turn the
scores into a verdict (healthy / degraded / retired), a blend weight and a model_confidence.

Sans-IO: predictions and mids come in with their ``ts``; nothing here reads a clock. Each outcome is
O(1) amortised: pending predictions sit in a deque ordered by due time, the rolling window keeps
running sums (re-summed once per window length so float drift cannot accumulate).
"""
from __future__ import annotations

import math
from bisect import insort
from collections import deque
from dataclasses import dataclass, fields
from enum import Enum
from operator import attrgetter, itemgetter
from typing import Iterable, Mapping

from pydantic import Field, model_validator

from agent.markouts import MAX_LATE_S
from common.files import FileModel

_LN2 = math.log(2.0)
_SQRT2 = math.sqrt(2.0)
_SQRT_2_PI = math.sqrt(2.0 / math.pi)
_INF = math.inf
_due = itemgetter(0)  # a pending prediction's due time


class Verdict(str, Enum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    RETIRED = "retired"


class ScorecardConfig(FileModel):
    window_outcomes: int = Field(500, ge=10, le=10_000_000, description=(
        "Rolling window of resolved outcomes every metric is computed over (edge bias excepted: an EWMA)."))
    min_outcomes: int = Field(100, ge=2, le=10_000_000, description=(
        "Outcomes in the window before an evaluation counts; until then the model is unproven "
        "(verdict stays as it is, score 0, weight warmup_weight)."))
    evaluate_every_n_outcomes: int = Field(20, ge=1, le=10_000_000,
                                           description="New outcomes between evaluations (one period).")
    evaluate_timer_s: float = Field(300.0, ge=0.01, le=86_400.0, description=(
        "Evaluate after this long since the last evaluation, s, if at least one new outcome arrived "
        "(outcomes are rare); periods without new outcomes are not counted."))
    max_resolution_delay_s: float = Field(MAX_LATE_S, ge=0, le=3600.0, description=(
        "A prediction resolved by a mid later than due + this, s (a feed gap), is dropped as expired: "
        "that mid does not measure the horizon the prediction was about."))
    min_prediction_spacing_s: float = Field(0.0, ge=0, le=3600.0, description=(
        "Predictions closer than this to the last accepted one are ignored, s; set near the horizon to "
        "score non-overlapping (less autocorrelated) outcomes."))
    max_pending: int = Field(100_000, ge=1, le=10_000_000,
                             description="Cap on unresolved predictions; the oldest are dropped beyond it.")
    # thresholds
    healthy_max_brier: float = Field(0.25, ge=0.001, le=1,
                                     description="Healthy needs Brier score below this (0.25 = always 0.5).")
    healthy_min_ir: float = Field(0.5, ge=-1e9, le=1e9, description=(
        "Healthy needs the per-prediction information ratio (mean/std of direction-signed return) above this."))
    healthy_min_mi_ratio: float = Field(0.5, ge=0, le=1000.0, description=(
        "Healthy needs MI above this fraction of the MI baseline, or not below the baseline by more than "
        "mi_noise_z standard errors."))
    retire_brier: float = Field(0.35, ge=0.001, le=1, description="A period is bad if the Brier score exceeds this.")
    retire_ir: float = Field(0.3, ge=-1e9, le=1e9,
                             description="A period is bad if the information ratio is below this.")
    retire_mi_ratio: float = Field(0.3, ge=0, le=1000.0, description=(
        "A period is bad if MI is below this fraction of the baseline and below the baseline by more than "
        "mi_noise_z standard errors."))
    retire_after_periods: int = Field(20, ge=1, le=1_000_000, description=(
        "Bad periods, at least, that retire a model: of those judged over the last retire_within_outcomes outcomes "
        "(that 0: in a row, the rule until 6 December)."))
    retire_within_outcomes: int = Field(1500, ge=0, le=1_000_000, description=(
        "Outcomes a model's periods are judged over for retirement: retired at a bad period once its periods of the "
        "last this many outcomes (the fewest periods holding them, none before the last reinstatement: never before "
        "this many are judged) were bad for retire_bad_share of them. A period's verdict is of the window (500 "
        "outcomes), which moves only 20 outcomes a period (one at rare outcomes), so 20 bad periods in a row were 400 "
        "new outcomes' evidence (20 at rare outcomes), and a stationary 55% signal was retired in 10% of two-hour "
        "sessions (70% at one outcome a period), then held at weight 0 a median 1,380 outcomes; now 0.2% (0.2%). Its "
        "skill lost (55% to 50%), it is retired within 2,000 outcomes on 60% of seeds, a median 1,740 after the loss "
        "(90%, 840), weighing ~0.1 meanwhile (README, Validation; bench/scorecard_demotion.py). A config written "
        "before it came that sets retire_after_periods now has this rule too, as one setting demote_after_periods "
        "alone (a key set to its shipped value changes nothing); 0 keeps bad periods in a row."))
    retire_bad_share: float = Field(0.7, ge=0.05, le=1, description=(
        "Share of the outcomes of the last retire_within_outcomes that must have been judged in bad periods to "
        "retire (outcome-weighted: a period's evidence is its new outcomes; those before the last heal count as "
        "not bad, as for demotion). A stationary 55% signal has ~10% of its "
        "periods bad, one that lost its skill ~70%."))
    demote_after_periods: int = Field(6, ge=1, le=1_000_000, description=(
        "Bad periods, of the last demote_within_periods, before a model counts as degraded on evidence "
        "(ScorecardSet.degraded: the count that demotes an exposure level and escalates the safety ladder); its weight "
        "is cut at the first. The window (500 outcomes) moves 20 outcomes a period, so one period's verdict is nearly "
        "its neighbour's: a stationary 55% signal had a bad period in ~10% of them, and a demotion in 66% of two-hour "
        "sessions at 1 bad period, 38% at 5 in a row, 38% at 6 of 9, its skill lost caught a median 300, 460, 460 "
        "outcomes later, 90% within 760, 1,180, 1,080, all at 20 bad periods in a row retiring; at 6 of 9 with "
        "retirement as now (retire_within_outcomes), a retired signal not being degraded on evidence, 40%, 440 and "
        "900 (README, Validation; bench/scorecard_demotion.py). With retire_within_outcomes 0 (bad periods in a row "
        "retire), below retire_after_periods; not given there, at most retire_after_periods - 1."))
    demote_within_periods: int = Field(9, ge=1, le=1_000_000, description=(
        "The last periods demote_after_periods bad ones are counted in (equal to it: in a row). A degraded signal's "
        "run of bad periods is broken by an ok one in ~10% of its periods, and 5 in a row (the rule until 6 "
        "December) waited out each break. Not given and under demote_after_periods (a config written when that meant "
        "bad periods in a row): demote_after_periods, in a row; not given and over it (such a config's 1-9, as "
        "--show-config wrote 5), 9: set it equal to demote_after_periods to keep them in a row."))
    reinstate_after_periods: int = Field(10, ge=1, le=1_000_000,
                                         description="Consecutive healthy periods that reinstate a retired model.")
    heal_after_periods: int = Field(3, ge=1, le=1_000_000, description=(
        "Consecutive healthy periods before a degraded (or unproven) model is healthy again; "
        "healthy to degraded is immediate."))
    # MI baseline
    mi_baseline_bits: float | None = Field(None, ge=1e-9, le=1.0, description=(
        "MI baseline in bits; None measures it, at every counted evaluation, as the MI of every outcome the "
        "scorecard resolved before its window (so it keeps sharpening, carries little small-sample bias, and does "
        "not follow a skill lost within the window down); the MI criteria are neutral until it holds min_outcomes "
        "and for the first mi_baseline_evaluations counted evaluations."))
    mi_baseline_evaluations: int = Field(5, ge=1, le=1_000_000, description=(
        "Counted evaluations before the MI criteria apply (a measured baseline of fewer outcomes is mostly noise)."))
    mi_noise_z: float = Field(2.0, ge=0, le=100.0, description=(
        "A period's MI counts against the model (bad below retire_mi_ratio, not healthy below healthy_min_mi_ratio) "
        "only when it is also below the baseline by more than this many standard errors, on the sqrt(2 ln2 MI) "
        "scale (≈ |phi|, standard error ≈ 1/sqrt(n)): the window's MI of a 55% signal over 500 outcomes is "
        "about as noisy as it is large, and the fraction alone judges such a signal bad in ~15% of its periods "
        "(~30% against the mean MI of its first evaluations, the baseline until 6 December). 0 judges on the "
        "fraction alone."))
    mi_baseline_floor_bits: float = Field(1e-4, ge=1e-9, le=1.0, description=(
        "Floor on a measured baseline, bits, so a model with no skill at the start has a finite ratio."))
    # weights and extras
    degraded_weight: float = Field(0.5, ge=0, le=1, description=(
        "Blend weight of a degraded model at IR >= healthy_min_ir; scaled by clip(IR/healthy_min_ir, 0, 1)."))
    warmup_weight: float = Field(0.5, ge=0, le=1, description="Blend weight before the first counted evaluation.")
    edge_bias_halflife_outcomes: float = Field(100.0, ge=1e-3, le=1e7, description=(
        "Half-life of the edge-bias EWMA and of the expected |move| it uses, in outcomes."))

    @model_validator(mode="after")
    def _consistent(self) -> "ScorecardConfig":
        if self.min_outcomes > self.window_outcomes:
            raise ValueError(f"ScorecardConfig.min_outcomes ({self.min_outcomes}) must be <= "
                             f"window_outcomes ({self.window_outcomes})")
        if self.retire_brier < self.healthy_max_brier or self.retire_ir > self.healthy_min_ir \
                or self.retire_mi_ratio > self.healthy_min_mi_ratio:
            raise ValueError("ScorecardConfig: retire thresholds must be looser than the healthy ones "
                             f"(brier {self.retire_brier} >= {self.healthy_max_brier}, ir {self.retire_ir} <= "
                             f"{self.healthy_min_ir}, mi ratio {self.retire_mi_ratio} <= {self.healthy_min_mi_ratio})")
        # retired at its retire_after_periods-th bad period in a row (retire_within_outcomes 0), a model must be
        # degraded on evidence before; judged over retire_within_outcomes outcomes (70% of them bad), retirement
        # comes after dozens of periods whatever retire_after_periods is, and 6 of 9 long before it: no bound
        # between the two (a config setting retire_after_periods 5 and demote_after_periods 6 was refused, and one
        # setting retire_after_periods 3 alone was demoted at 2 bad periods of 9, a stationary signal's noise)
        top = max(1, self.retire_after_periods - 1) if self.retire_within_outcomes == 0 else self.demote_after_periods
        if self.demote_after_periods > top:
            if "demote_after_periods" in self.model_fields_set:
                raise ValueError(f"ScorecardConfig.demote_after_periods ({self.demote_after_periods}) must be below "
                                 f"retire_after_periods ({self.retire_after_periods}) with retire_within_outcomes 0 "
                                 f"(retired at that many bad periods in a row): a model retired at once is never "
                                 f"degraded on evidence")
            # not given: a config setting retire_after_periods to 6 or less (written before demote_after_periods) is
            # taken, not refused over a key it never wrote, degraded on evidence before retirement
            self.demote_after_periods = top
        if self.demote_within_periods < self.demote_after_periods:
            if "demote_within_periods" not in self.model_fields_set:
                # not given, a demote_after_periods over it (written when it meant bad periods in a row) counts them
                # in a row: the config loads, and its rule is not loosened
                self.demote_within_periods = self.demote_after_periods
                return self
            raise ValueError(f"ScorecardConfig.demote_within_periods ({self.demote_within_periods}) must be at least "
                             f"demote_after_periods ({self.demote_after_periods}): the bad periods are counted in them")
        return self


# ---------------------------------------------------------------- metrics from sums (pure functions)

def brier(ps: Iterable[float], ups: Iterable[int]) -> float:
    """Mean squared error of p against the 0/1 outcome."""
    n = s = 0
    for p, y in zip(ps, ups):
        s += (p - y) ** 2
        n += 1
    return s / n if n else math.nan


def mutual_information_bits(n_uu: int, n_ud: int, n_du: int, n_dd: int) -> float:
    """MI between predicted and realised direction from a 2x2 table, bits (plug-in estimate).

    ``n_xy``: x the predicted direction (u up / d down), y the realised one.
    """
    n = n_uu + n_ud + n_du + n_dd
    if n == 0:
        return math.nan
    rows = (n_uu + n_ud, n_du + n_dd)
    cols = (n_uu + n_du, n_ud + n_dd)
    mi = 0.0
    for c, r, k in ((n_uu, 0, 0), (n_ud, 0, 1), (n_du, 1, 0), (n_dd, 1, 1)):
        if c:
            mi += c / n * math.log(c * n / (rows[r] * cols[k]))
    return max(mi / _LN2, 0.0)


def mi_scale_variance(n_uu: int, n_ud: int, n_du: int, n_dd: int) -> float:
    """n × the variance of sqrt(2 MI) (MI in nats; ≈ |phi|) over n calls drawn like this 2x2 table, by the delta
    method, and at least 1, its value with no dependence and with balanced calls and outcomes. Calls heavily one-sided
    on a skewed up-rate make it larger (1.24 at calls 90% up on an up-rate of 90%): taken as 1, the MI shortfall's
    standard error was understated ~13% there, and a stationary signal's window judged below its baseline past 2
    standard errors in 4.2% of windows of 500 against 1.7% of a balanced one's. The delta method's: right when phi is
    many standard errors from 0, an overstatement near its noise, where ``folded_variance`` takes it."""
    n = n_uu + n_ud + n_du + n_dd
    if n == 0:
        return 1.0
    rows = (n_uu + n_ud, n_du + n_dd)
    cols = (n_uu + n_du, n_ud + n_dd)
    mi = s2 = 0.0
    for c, r, k in ((n_uu, 0, 0), (n_ud, 0, 1), (n_du, 1, 0), (n_dd, 1, 1)):
        if c:
            g = math.log(c * n / (rows[r] * cols[k]))  # d MI / d p of the cell (less a constant)
            mi += c / n * g
            s2 += c / n * g * g
    return max(1.0, (s2 - mi * mi) / (2.0 * mi)) if mi > 1e-12 else 1.0


def folded_variance(mu: float, s2: float) -> float:
    """Variance of |X|, X ~ N(mu, s2), mu >= 0: of sqrt(2 MI) (≈ |phi|) estimated where phi is mu and its estimate's
    variance s2. It is s2 when mu is many standard errors from 0 and (1 - 2/pi) s2 at mu = 0: at a weak signal's
    phi, 1.3 standard errors from 0 at 97% of calls up on a 90% up-rate over 200 outcomes, the delta method's s2
    (``mi_scale_variance``) overstated it 1.7 times (measured 0.75 / n against 1.29 / n; this gives 0.88 / n)."""
    s = math.sqrt(s2)
    mean = s * _SQRT_2_PI * math.exp(-0.5 * mu * mu / s2) + mu * math.erf(mu / (s * _SQRT2))
    return max(mu * mu + s2 - mean * mean, (1.0 - 2.0 / math.pi) * s2)


def _ratio_std(s: float, s2: float, n: int) -> float:
    """mean/std (population std) from Σx, Σx², n; nan when undefined."""
    if n < 2:
        return math.nan
    m = s / n
    var = s2 / n - m * m
    if var <= 1e-300:
        return math.nan if m == 0.0 else math.copysign(math.inf, m)
    return m / math.sqrt(var)


def _first_past(last: float, span: float) -> float:
    """The least float ``ts`` with ``ts - last >= span`` (a float difference, rounded: ``last + span`` may be a float
    over or under it). That difference never falls as ``ts`` rises, so a step at a time from ``last + span`` finds it.
    -inf (any ts may be) where ``last + span`` is not finite."""
    ts = last + span
    if not -_INF < ts < _INF:
        return -_INF
    if ts - last >= span:
        while (lower := math.nextafter(ts, -_INF)) - last >= span:
            ts = lower
    else:
        while ts - last < span:
            ts = math.nextafter(ts, _INF)
    return ts


# ---------------------------------------------------------------- the scorecard

@dataclass(frozen=True, slots=True)
class ScorecardMetrics:
    """One evaluation's numbers, for the decision record (nan where not yet defined)."""

    name: str
    ts: float
    verdict: Verdict
    weight: float
    score: float
    n_outcomes: int
    brier: float
    information_ratio: float
    hit_rate: float
    mi_bits: float
    mi_baseline_bits: float
    mi_ratio: float
    edge_bias_bps: float
    calibration_slope: float
    consecutive_good: int
    consecutive_bad: int
    evaluations: int
    pending: int
    ties_dropped: int
    expired: int
    # an evaluation has counted (min_outcomes in the window): before, the metrics are of too few outcomes to act on
    proven: bool = False
    # standard errors the window's MI is below the baseline (sqrt(2 ln2 MI) scale; < 0 above it): the MI criteria
    # act only past ScorecardConfig.mi_noise_z
    mi_shortfall_se: float = math.nan
    # bad periods of the last ScorecardConfig.demote_within_periods, since the verdict was last healthy:
    # demote_after_periods of them, the verdict degraded, and the model is degraded on evidence
    recent_bad: int = 0
    # retirement's evidence: the outcomes of the periods judged over the last ScorecardConfig.retire_within_outcomes
    # (fewer after a start or a reinstatement), and the share of them judged in bad periods (none before the verdict
    # was last healthy: a heal clears them, as demotion's); retired at a bad period
    # once they are retire_within_outcomes and the share retire_bad_share (nan: retirement counts bad periods in a row)
    judged_outcomes: int = 0
    bad_share: float = math.nan


_METRIC_NAMES = tuple(f.name for f in fields(ScorecardMetrics))  # (in their order, as asdict gives them)
_METRIC_VALUES = attrgetter(*_METRIC_NAMES)


class ModelScorecard:
    """Scores one model's p_up at its horizon. Feed ``predict`` and ``on_mid``; call ``evaluate`` when
    ``evaluation_due`` (or use ``on_mid(..., auto_evaluate=True)``)."""

    __slots__ = (
        "name", "cfg", "_pending", "_last_pred_ts", "_window",
        "_n", "_sp", "_sy", "_spp", "_spy", "_sbr", "_sx", "_sxx", "_t_uu", "_t_ud", "_t_du", "_t_dd",
        "_evictions", "_alpha", "_abs_move_bps", "_edge_bias_bps",
        "verdict", "_good", "_bad", "_bad_bits", "_bad_mask", "_evaluations", "_counted", "_since_eval",
        "_last_eval_ts",
        "_mi_baseline", "_l_uu", "_l_ud", "_l_du", "_l_dd", "_mi_shortfall", "_metrics", "_proven",
        "ties_dropped", "expired", "_spacing_s", "_max_pending", "_judged", "_judged_n", "_judged_bad_n",
        "_judged_bad", "_max_delay_s", "_eval_every_n", "_eval_timer_s", "_window_outcomes", "_wake", "wake",
        "_timer_from", "_timer_due",
    )

    def __init__(self, name: str, config: ScorecardConfig | None = None) -> None:
        self.name = name
        self.cfg = cfg = config or ScorecardConfig()
        self._pending: deque[tuple[float, float, float]] = deque()  # (due_ts, p_up, mid_then)
        # read at every prediction (every quote cycle): kept here, not read through the config each time. It and
        # _last_pred_ts are read by the quote cycle's after-cycle work too (AgentCore._after_cycle), which offers no
        # forecast that _queue's first test would refuse
        self._spacing_s = cfg.min_prediction_spacing_s
        self._max_pending = cfg.max_pending
        # read at every mid (on_mid, evaluation_due) and every outcome: likewise (the config is the card's for its life)
        self._max_delay_s = cfg.max_resolution_delay_s
        self._eval_every_n, self._eval_timer_s = cfg.evaluate_every_n_outcomes, cfg.evaluate_timer_s
        self._window_outcomes = cfg.window_outcomes
        self._last_pred_ts = -math.inf
        self._window: deque[tuple[float, int, float]] = deque()  # (p_up, up 0/1, move_bps)
        self._n = 0
        self._sp = self._sy = self._spp = self._spy = self._sbr = self._sx = self._sxx = 0.0
        self._t_uu = self._t_ud = self._t_du = self._t_dd = 0
        self._evictions = 0
        self._alpha = 1.0 - 0.5 ** (1.0 / cfg.edge_bias_halflife_outcomes)
        self._abs_move_bps = math.nan
        self._edge_bias_bps = math.nan
        self.verdict = Verdict.DEGRADED  # unproven until heal_after_periods good periods
        self._good = self._bad = 0
        # the last demote_within_periods counted periods, bad ones set, the newest the lowest bit
        self._bad_bits = 0
        self._bad_mask = (1 << cfg.demote_within_periods) - 1
        # retirement's evidence: (new outcomes, bad) of each counted period over the last retire_within_outcomes
        # outcomes, and their sums: outcomes, those of the bad periods, bad periods
        self._judged: deque[tuple[int, bool]] = deque()
        self._judged_n = self._judged_bad_n = self._judged_bad = 0
        self._evaluations = 0  # all evaluate() calls that saw new outcomes
        self._counted = 0  # evaluations with >= min_outcomes in the window
        self._since_eval = 0
        self._last_eval_ts = math.nan
        self._mi_baseline = cfg.mi_baseline_bits if cfg.mi_baseline_bits is not None else math.nan
        # the 2x2 table of every outcome resolved: less the window's, the measured MI baseline's
        self._l_uu = self._l_ud = self._l_du = self._l_dd = 0
        self._mi_shortfall = math.nan
        self._proven = False
        self.ties_dropped = 0
        self.expired = 0
        self._metrics = self._snapshot(math.nan)
        # the last evaluation's time _gate last found the timer's first due ts for, and that ts (_first_past: a loop
        # of float steps, asked at every prediction and resolving mid, its answer the same till the next evaluation)
        self._timer_from = self._timer_due = math.nan
        self._gate()

    # ---- input

    def predict(self, ts: float, p_up: float, horizon_s: float, mid: float) -> bool:
        """Record P(mid higher ``horizon_s`` after ``ts``); returns False if ignored (spacing, bad input)."""
        if not (0.0 <= p_up <= 1.0) or not (0.0 < mid < _INF) or not (horizon_s > 0.0):
            return False
        return self._queue(ts, (ts + horizon_s, float(p_up), float(mid)))

    def _queue(self, ts: float, item: tuple[float, float, float]) -> bool:
        """The prediction ``item`` (due, p_up, mid), its inputs checked (``predict``, ``ScorecardSet.predict_parts``):
        kept unless within the spacing of the last, in due order, the oldest dropped past the limit."""
        if ts - self._last_pred_ts < self._spacing_s:
            return False
        self._last_pred_ts = ts
        pend = self._pending
        if not pend or item[0] >= pend[-1][0]:
            pend.append(item)
        else:  # a shorter horizon than the last one: keep the deque ordered by due time (rare)
            insort(pend, item, key=_due)
        if len(pend) > self._max_pending:
            pend.popleft()
            self.expired += 1
        self._gate()
        return True

    def on_mid(self, ts: float, mid: float, auto_evaluate: bool = False) -> int:
        """Resolve predictions due by ``ts`` against ``mid``; returns the outcomes added.

        With ``auto_evaluate`` an evaluation runs when one is due (``self.verdict`` then is current). A mid before
        the card's next due prediction (and, with it, before an evaluation can be due) does nothing, and returns at once
        (most mids: a forecast every few seconds, an evaluation every 20 outcomes or minutes).
        """
        if ts < (self.wake if auto_evaluate else self._wake):
            return 0
        pend = self._pending
        added = 0
        last = self._last_eval_ts
        if last != last:
            self._last_eval_ts = last = ts  # the evaluation timer runs from the first mid
        if 0.0 < mid < _INF:
            late = self._max_delay_s
            while pend and pend[0][0] <= ts:
                due, p, mid0 = pend.popleft()
                if ts - due > late:
                    self.expired += 1
                elif mid == mid0:
                    self.ties_dropped += 1
                else:
                    self._add_outcome(p, 1 if mid > mid0 else 0, 1e4 * math.log(mid / mid0))
                    added += 1
        if auto_evaluate:
            # evaluation_due(ts), written out (every mid, each card: its call was a fifth of a card's mid). Its
            # ``last == last`` test is left out: a nan ``last`` (a nan ts) makes ``ts - last`` nan, which is ≥ nothing
            n = self._since_eval
            if n >= self._eval_every_n or (n != 0 and ts - last >= self._eval_timer_s):
                self._evaluate(ts)
        self._gate()
        return added

    def _gate(self) -> None:
        """Derive the times before which on_mid does nothing from the state they follow (the last evaluation's time,
        the outcomes since, the pending predictions), in this one place: every method that changes that state ends
        here (``_add_outcome``'s callers for it), and a time is never left higher than the state allows (a lower one
        would only be slower). ``_wake``, the first pending prediction's due time (on_mid without auto_evaluate);
        ``wake``, the least of it and the first ``ts`` at which an evaluation is due (by count: now; by the timer: the
        least ts with ``ts - last >= evaluate_timer_s``, as on_mid tests it, to the bit): on_mid with auto_evaluate,
        and ``ScorecardSet.on_mid`` for it, read it alone. Both -inf while no mid has started the timer (a nan last
        time: the next mid starts it)."""
        last = self._last_eval_ts
        if last != last:
            self._wake = self.wake = -_INF
            return
        pend = self._pending
        self._wake = w = pend[0][0] if pend else _INF
        n = self._since_eval
        if n == 0:
            self.wake = w
        elif n >= self._eval_every_n:
            self.wake = -_INF
        else:
            if last != self._timer_from:  # (the timer's due time moves only with the last evaluation's time)
                self._timer_from = last
                self._timer_due = _first_past(last, self._eval_timer_s)
            due = self._timer_due
            self.wake = due if due < w else w

    def add_outcome(self, p_up: float, up: bool, move_bps: float) -> None:
        """An already-resolved outcome (replay, tests): ``move_bps`` is the signed realised move."""
        self._add_outcome(float(p_up), 1 if up else 0, float(move_bps))
        self._gate()  # (an evaluation may be due: by count now, by the timer sooner than the gate said)

    def _add_outcome(self, p: float, y: int, move_bps: float) -> None:
        self._since_eval += 1
        # edge bias, in the direction of the call (else an overconfident model's ups and downs
        # cancel): predicted |2p−1|·E|move| (E|move| from outcomes before this one) minus the move
        # signed by the call; p = 0.5 makes no call and is skipped
        a = self._alpha
        absm = abs(move_bps)
        if self._abs_move_bps == self._abs_move_bps:
            if p != 0.5:
                err = (2.0 * p - 1.0) * self._abs_move_bps - move_bps
                err = err if p > 0.5 else -err
                eb = self._edge_bias_bps
                self._edge_bias_bps = err if eb != eb else eb + a * (err - eb)
            self._abs_move_bps += a * (absm - self._abs_move_bps)
        else:
            self._abs_move_bps = absm
        if p > 0.5:
            if y:
                self._l_uu += 1
            else:
                self._l_ud += 1
        elif p < 0.5:
            if y:
                self._l_du += 1
            else:
                self._l_dd += 1
        w = self._window
        w.append((p, y, move_bps))
        self._accumulate(p, y, move_bps, +1)
        if len(w) > self._window_outcomes:
            op, oy, om = w.popleft()
            self._accumulate(op, oy, om, -1)
            self._evictions += 1
            if self._evictions >= self._window_outcomes:
                self._resum()

    def _accumulate(self, p: float, y: int, move_bps: float, sgn: int) -> None:
        self._n += sgn
        self._sp += sgn * p
        self._sy += sgn * y
        self._spp += sgn * p * p
        self._spy += sgn * p * y
        self._sbr += sgn * (p - y) ** 2
        x = move_bps if p > 0.5 else -move_bps if p < 0.5 else 0.0
        self._sx += sgn * x
        self._sxx += sgn * x * x
        if p > 0.5:
            if y:
                self._t_uu += sgn
            else:
                self._t_ud += sgn
        elif p < 0.5:
            if y:
                self._t_du += sgn
            else:
                self._t_dd += sgn

    def _resum(self) -> None:
        self._evictions = 0
        self._n = 0
        self._sp = self._sy = self._spp = self._spy = self._sbr = self._sx = self._sxx = 0.0
        self._t_uu = self._t_ud = self._t_du = self._t_dd = 0
        for p, y, m in self._window:
            self._accumulate(p, y, m, +1)

    # ---- metrics (O(1) from the running sums)

    @property
    def n_outcomes(self) -> int:
        return self._n

    def brier(self) -> float:
        return self._sbr / self._n if self._n else math.nan

    def information_ratio(self) -> float:
        """Mean over std of the realised move signed by the predicted direction (p = 0.5 counts 0)."""
        return _ratio_std(self._sx, self._sxx, self._n)

    def mutual_information_bits(self) -> float:
        """MI between predicted direction (p > 0.5 up, p < 0.5 down, p = 0.5 left out) and the outcome."""
        return mutual_information_bits(self._t_uu, self._t_ud, self._t_du, self._t_dd)

    def hit_rate(self) -> float:
        k = self._t_uu + self._t_ud + self._t_du + self._t_dd
        return (self._t_uu + self._t_dd) / k if k else math.nan

    def calibration_slope(self) -> float:
        """OLS slope of the 0/1 outcome on p: ≈ 1 when calibrated, < 1 overconfident, ≈ 0 no skill."""
        n = self._n
        if n < 2:
            return math.nan
        var_p = self._spp / n - (self._sp / n) ** 2
        if var_p <= 1e-12:
            return math.nan
        return (self._spy / n - self._sp / n * self._sy / n) / var_p

    @property
    def edge_bias_bps(self) -> float:
        """EWMA of predicted − realised edge in the called direction, bps: > 0 the model promises more
        than it delivers (overconfident), < 0 less (underconfident); nan before two outcomes."""
        return self._edge_bias_bps

    @property
    def mi_baseline_bits(self) -> float:
        return self._mi_baseline

    # ---- verdict

    def evaluation_due(self, ts: float) -> bool:
        if self._since_eval >= self._eval_every_n:
            return True
        if self._since_eval == 0:
            return False
        last = self._last_eval_ts
        return ts - last >= self._eval_timer_s if last == last else False

    def evaluate(self, ts: float) -> Verdict:
        """Close one evaluation period: classify it and move the verdict with hysteresis.

        A period is good if all healthy criteria hold, bad if any retire criterion holds. Bad periods over most of
        the last retire_within_outcomes outcomes retire (``_retire_due``); good ones in a row heal a degraded model
        or reinstate a retired one, and the bad periods before count no more toward demotion or retirement.
        """
        verdict = self._evaluate(ts)
        self._gate()
        return verdict

    def _evaluate(self, ts: float) -> Verdict:
        """``evaluate`` but for on_mid's gate (on_mid, which calls it, sets the gate after)."""
        if self._last_eval_ts != self._last_eval_ts:
            self._last_eval_ts = ts  # the timer starts at the first call
        new = self._since_eval
        if new == 0:
            return self.verdict  # no new evidence: nothing to count
        self._since_eval = 0
        self._last_eval_ts = ts
        self._evaluations += 1
        cfg = self.cfg
        if self._n < cfg.min_outcomes:
            self._metrics = self._snapshot(ts)
            return self.verdict
        self._counted += 1
        mi = self.mutual_information_bits()
        # neutral for the first mi_baseline_evaluations counted evaluations (>= measured and judged at the last)
        if cfg.mi_baseline_bits is None and self._counted > cfg.mi_baseline_evaluations:
            h = self._history()
            base = mutual_information_bits(*h) if sum(h) >= cfg.min_outcomes else math.nan
            self._mi_baseline = max(base, cfg.mi_baseline_floor_bits) if base == base else math.nan
        ratio = self._mi_ratio(mi)
        self._mi_shortfall = short = self._mi_shortfall_se(mi)
        b, ir = self.brier(), self.information_ratio()
        ir_ok = ir == ir  # nan (no directional calls) fails both IR tests below by comparison
        # MI counts against the model only when it is below the baseline beyond its sampling noise (nan, the
        # baseline still being measured: neutral)
        z = cfg.mi_noise_z
        mi_low = ratio == ratio and (z <= 0.0 or short > z)
        good = (b < cfg.healthy_max_brier and ir_ok and ir > cfg.healthy_min_ir
                and (not mi_low or ratio > cfg.healthy_min_mi_ratio))
        bad = (b > cfg.retire_brier or not ir_ok or ir < cfg.retire_ir
               or (mi_low and ratio < cfg.retire_mi_ratio))
        self._good = self._good + 1 if good else 0
        self._bad = self._bad + 1 if bad else 0
        self._bad_bits = ((self._bad_bits << 1) | bad) & self._bad_mask
        if cfg.retire_within_outcomes:
            self._judge(new, bad)
        if self.verdict is Verdict.RETIRED:
            if self._good >= cfg.reinstate_after_periods:
                self.verdict = Verdict.HEALTHY
                # the evidence that retired it is not held against it again: judged afresh from here
                self._judged.clear()
                self._judged_n = self._judged_bad_n = self._judged_bad = 0
        elif bad and self._retire_due():
            self.verdict = Verdict.RETIRED
        elif not good:
            self.verdict = Verdict.DEGRADED
        elif self.verdict is Verdict.HEALTHY or self._good >= cfg.heal_after_periods:
            self.verdict = Verdict.HEALTHY
        if self.verdict is Verdict.HEALTHY:
            # healed or reinstated, the bad periods before count no more: a model bad 6 of 9, healed by 3 good ones,
            # was degraded on evidence again at its next bad period on the 5 before the heal (a second demotion for
            # the one episode, on one marginal period), as was a reinstated one on those before its retirement
            self._bad_bits = 0
            if self._judged_bad:
                self._clear_judged_bad()
        self._proven = True
        self._metrics = self._snapshot(ts)
        return self.verdict

    def _judge(self, new: int, bad: bool) -> None:
        """Add a counted period of ``new`` outcomes to retirement's evidence; drop the oldest periods not needed to
        cover retire_within_outcomes outcomes."""
        q = self._judged
        q.append((new, bad))
        self._judged_n += new
        if bad:
            self._judged_bad_n += new
            self._judged_bad += 1
        keep = self.cfg.retire_within_outcomes
        while self._judged_n - q[0][0] >= keep:
            n, b = q.popleft()
            self._judged_n -= n
            if b:
                self._judged_bad_n -= n
                self._judged_bad -= 1

    def _clear_judged_bad(self) -> None:
        """At a heal: retirement's evidence keeps its periods' outcomes (toward retire_within_outcomes) but none of
        them bad. Held against it, a model bad for 60% of the last 1,500 outcomes and healed was retired, straight
        from healthy, at its next bad period, on the bad ones before the heal: one marginal period."""
        self._judged = deque((n, False) for n, _ in self._judged)
        self._judged_bad_n = self._judged_bad = 0

    def _retire_due(self) -> bool:
        """At a bad period: retire_after_periods bad in a row, or (retire_within_outcomes) the periods of the last
        retire_within_outcomes outcomes bad for retire_bad_share of them and at least retire_after_periods of them.
        Each period's verdict is of the whole window, most of it the last period's: the run of bad ones a stationary
        signal's unlucky window makes is as long in outcomes as the window, at any outcome rate, so the evidence is
        counted in outcomes, and a run broken now and then (a lost skill's, ~1 period in 10) still counts."""
        cfg = self.cfg
        if not cfg.retire_within_outcomes:
            return self._bad >= cfg.retire_after_periods
        n = self._judged_n
        return (n >= cfg.retire_within_outcomes and self._judged_bad >= cfg.retire_after_periods
                and self._judged_bad_n >= cfg.retire_bad_share * n)

    def _mi_ratio(self, mi: float) -> float:
        base = self._mi_baseline
        return mi / base if base == base and mi == mi else math.nan

    def _history(self) -> tuple[int, int, int, int]:
        """The 2x2 table of the outcomes that have left the window: a measured baseline's, disjoint from the window
        judged against it (a baseline holding the window would follow a lost skill down as soon as it is lost)."""
        return (self._l_uu - self._t_uu, self._l_ud - self._t_ud, self._l_du - self._t_du, self._l_dd - self._t_dd)

    def _mi_shortfall_se(self, mi: float) -> float:
        """Standard errors the window's MI is below the baseline, on the scale sqrt(2 ln2 MI): for a 2x2 table that
        is ≈ |phi|, the correlation of call and outcome, whose estimate over n calls has standard error ≈ 1/sqrt(n)
        (MI itself is a squared quantity, its noise as large as its value at a weak signal's n). A measured
        baseline of H calls adds its own noise: the difference's variance is 1/n + 1/H. Both times
        ``mi_scale_variance`` of the baseline's table (of the window's, for a given baseline): calls heavily one-sided
        on a skewed up-rate are noisier than 1/n. Each folded (``folded_variance``) at the baseline: an estimate of
        |phi| near its noise is pushed off 0 and varies less. nan when undefined."""
        base = self._mi_baseline
        n = self._t_uu + self._t_ud + self._t_du + self._t_dd
        if base != base or mi != mi or n == 0:
            return math.nan
        mu = math.sqrt(2.0 * _LN2 * base)
        if self.cfg.mi_baseline_bits is None:
            h = self._history()
            f = mi_scale_variance(*h)
            var = folded_variance(mu, f / n) + folded_variance(mu, f / max(sum(h), 1))
        else:
            var = folded_variance(mu, mi_scale_variance(self._t_uu, self._t_ud, self._t_du, self._t_dd) / n)
        return (mu - math.sqrt(2.0 * _LN2 * mi)) / math.sqrt(var)

    @property
    def degraded_on_evidence(self) -> bool:
        """Proven, degraded, and bad in demote_after_periods of the last demote_within_periods periods (since it was
        last healthy: a heal or a reinstatement clears them): a model merely not yet healed (it starts degraded until
        it has shown good periods) is no sign of trouble, nor is one marginal period (the window of the next is 96% the
        same outcomes: a stationary signal's noise, not a lost skill); a signal bad in most recent periods is, though
        an ok one breaks their run now and then."""
        return (self._proven and self.verdict is Verdict.DEGRADED
                and self._bad_bits.bit_count() >= self.cfg.demote_after_periods)

    @property
    def proven(self) -> bool:
        """True once an evaluation counted (min_outcomes in the window); before, the verdict is nominal."""
        return self._proven

    def weight(self) -> float:
        """Blend weight: 1 healthy, degraded_weight·clip(IR/healthy_min_ir, 0, 1) degraded, 0 retired;
        warmup_weight while unproven. Changes only at evaluations."""
        return self._metrics.weight

    def score(self) -> float:
        """This model's part of model_confidence, in [0, 1]: its weight once proven, 0 before."""
        return self._metrics.score

    def _weight_now(self, ir: float) -> float:
        v = self.verdict
        if v is Verdict.RETIRED:
            return 0.0
        if not self._proven:
            return self.cfg.warmup_weight
        if v is Verdict.HEALTHY:
            return 1.0
        thr = self.cfg.healthy_min_ir
        if ir != ir:
            return 0.0
        q = 1.0 if thr <= 0.0 else min(max(ir / thr, 0.0), 1.0)
        return self.cfg.degraded_weight * q

    def metrics(self) -> ScorecardMetrics:
        """The numbers as of the last evaluation."""
        return self._metrics

    def _snapshot(self, ts: float) -> ScorecardMetrics:
        mi = self.mutual_information_bits()
        ir = self.information_ratio()
        w = self._weight_now(ir)
        return ScorecardMetrics(
            name=self.name, ts=ts, verdict=self.verdict, weight=w, score=w if self._proven else 0.0,
            n_outcomes=self._n, brier=self.brier(), information_ratio=ir,
            hit_rate=self.hit_rate(), mi_bits=mi, mi_baseline_bits=self._mi_baseline,
            mi_ratio=self._mi_ratio(mi), edge_bias_bps=self._edge_bias_bps,
            calibration_slope=self.calibration_slope(), consecutive_good=self._good,
            consecutive_bad=self._bad, evaluations=self._evaluations, pending=len(self._pending),
            ties_dropped=self.ties_dropped, expired=self.expired, proven=self._proven,
            mi_shortfall_se=self._mi_shortfall, recent_bad=self._bad_bits.bit_count(), judged_outcomes=self._judged_n,
            bad_share=self._judged_bad_n / self._judged_n if self._judged_n else math.nan)

    def record(self) -> dict:
        """All metrics of the last evaluation, the verdict, weight and score, as a plain dict."""
        # (its fields are numbers, a str and an enum, which asdict's deep copy returned as they are: its recursion and
        # deepcopy calls per field were most of an evaluating mid's cost beyond the evaluation)
        d = dict(zip(_METRIC_NAMES, _METRIC_VALUES(self._metrics)))
        d["verdict"] = self.verdict.value
        d["proven"] = self._proven
        d["pending"] = len(self._pending)
        return d


def model_confidence(scorecards: Iterable[ModelScorecard] | Mapping[str, ModelScorecard],
                     importance: Mapping[str, float] | None = None) -> float:
    """Importance-weighted mean of per-model scores in [0, 1]; 0 with no models (no evidence).

    An unproven model scores 0 and a retired one 0, so both pull confidence down.
    """
    cards = scorecards.values() if isinstance(scorecards, Mapping) else scorecards
    num = den = 0.0
    for c in cards:
        w = 1.0 if importance is None else importance.get(c.name, 1.0)
        if w > 0.0:
            num += w * c.score()
            den += w
    return num / den if den > 0.0 else 0.0


class ScorecardSet:
    """One scorecard per named model (e.g. each signal in a SignalBlend) sharing a config."""

    __slots__ = ("cards", "degraded_count", "_evaluations", "evaluated")

    def __init__(self, names: Iterable[str], config: ScorecardConfig | None = None) -> None:
        cfg = config or ScorecardConfig()
        self.cards = {n: ModelScorecard(n, cfg) for n in names}
        # len(degraded()) as of the last on_mid, where the cards evaluate: read every tick, it changes
        # only there (a card evaluated by hand is counted at the next on_mid)
        self.degraded_count = 0
        # the cards' evaluations, summed, when it was last counted: degraded() reads each card's verdict, bad
        # periods and proven, which only an evaluation changes (and each counts itself)
        self._evaluations = 0
        # the names of the cards an on_mid evaluated, in order, until the caller clears it: each evaluation's
        # evidence (metrics, verdict, weight) goes to the decision log as a scorecard record (AgentCore._on_book)
        self.evaluated: list[str] = []

    def predict(self, ts: float, p_ups: Mapping[str, float], horizon_s: float, mid: float) -> None:
        cards = self.cards
        for name, p in p_ups.items():
            cards[name].predict(ts, p, horizon_s, mid)

    def predict_parts(self, ts: float, parts: Iterable[tuple], horizon_s: float, mid: float) -> None:
        """``predict`` from the quote cycle's ``SignalBlend.parts`` ((name, p_up, weight, shift) each, names unique),
        with what is the same for every card (the mid and the horizon: their checks, the due time) done once: every
        quote cycle's after-cycle work makes one for each signal, and the repeated checks were half its cost."""
        if not (0.0 < mid < _INF) or not (horizon_s > 0.0):
            return  # (every card would ignore it)
        due = ts + horizon_s
        mid = float(mid)
        cards = self.cards
        # (each card's spacing refuses most forecasts, in _queue: AgentCore._after_cycle calls here only on the
        # cycles where some card's spacing lets one be kept, so the call a card costs is rare)
        for name, p_up, _, _ in parts:
            if 0.0 <= p_up <= 1.0:
                cards[name]._queue(ts, (due, float(p_up), mid))

    def on_mid(self, ts: float, mid: float) -> list[str]:
        """Resolve and evaluate where due; returns the names whose verdict or weight changed (a degraded
        model's weight follows its information ratio at every evaluation, not only on a new verdict)."""
        changed = []
        evaluations = 0
        for name, c in self.cards.items():
            # (the card's auto-evaluating on_mid returns at once before its wake: asked here, most mids, no card has
            # a prediction due nor an evaluation)
            if not ts < c.wake:
                # a card's verdict and weight change only in an evaluation, which counts itself: compared after one only
                before = c.verdict
                m = c._metrics  # (its weight, as it was: the metrics are frozen, an evaluation makes new ones)
                n = c._evaluations
                c.on_mid(ts, mid, True)  # (auto_evaluate)
                if c._evaluations != n:
                    if c.verdict is not before or c._metrics.weight != m.weight:
                        changed.append(name)
                    self.evaluated.append(name)
            evaluations += c._evaluations
        if evaluations != self._evaluations:  # (most mids evaluate nothing: the count stands)
            self._evaluations = evaluations
            self.degraded_count = len(self.degraded())
        return changed

    def weights(self) -> dict[str, float]:
        return {n: c.weight() for n, c in self.cards.items()}

    def retired(self) -> list[str]:
        return [n for n, c in self.cards.items() if c.verdict is Verdict.RETIRED]

    def degraded(self) -> list[str]:
        """Models degraded on evidence (``ModelScorecard.degraded_on_evidence``): counting one not yet healed would
        escalate safety at every start, and one period bad demoted a level on a stationary signal's noise."""
        return [n for n, c in self.cards.items() if c.degraded_on_evidence]

    def model_confidence(self, importance: Mapping[str, float] | None = None) -> float:
        return model_confidence(self.cards, importance)

    def record(self) -> dict[str, dict]:
        return {n: c.record() for n, c in self.cards.items()}
