"""Exposure levels: how much of the configured size and position limit the agent may use.

Confidence is a throttle, not a gate: within a level size follows confidence continuously;
promotion is one level at a time after a dwell of unbroken evidence; demotion is immediate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any, NamedTuple

from pydantic import Field, field_validator, model_validator

from common.files import FileModel
from agent.graduation.confidence import ConfidenceConfig, TradingConfidence
from common.json_text import finite  # JSON has no NaN: null


class ExposureLevel(IntEnum):
    SHADOW = 0  # compute quotes, place nothing
    MICRO_LIVE = 1  # minimal size, learning fills
    RAMPING = 2  # size proportional to confidence
    CAUTIOUS = 3  # normal but conservative
    FULL = 4  # standard
    OPTIMIZED = 5  # may tighten spreads


L = ExposureLevel
# DESIGN §6. Confidence bands are [lo, hi); size bands are fractions of the configured size.
CONFIDENCE_BANDS: dict[ExposureLevel, tuple[float, float]] = {
    L.SHADOW: (0.0, 0.1), L.MICRO_LIVE: (0.1, 0.3), L.RAMPING: (0.3, 0.5),
    L.CAUTIOUS: (0.5, 0.7), L.FULL: (0.7, 0.9), L.OPTIMIZED: (0.9, 1.0),
}
SIZE_BANDS: dict[ExposureLevel, tuple[float, float]] = {
    L.SHADOW: (0.0, 0.0), L.MICRO_LIVE: (0.05, 0.10), L.RAMPING: (0.10, 0.50),
    L.CAUTIOUS: (0.50, 0.80), L.FULL: (0.80, 1.00), L.OPTIMIZED: (1.00, 1.10),
}


def size_multiplier(level: ExposureLevel, confidence: float) -> float:
    """Fraction of the configured quote size: the level's size band, interpolated linearly by where
    `confidence` sits in the level's confidence band, clamped to the band (NaN → the band's floor)."""
    c_lo, c_hi = CONFIDENCE_BANDS[level]
    s_lo, s_hi = SIZE_BANDS[level]
    frac = (confidence - c_lo) / (c_hi - c_lo)
    frac = 0.0 if not frac > 0.0 else min(frac, 1.0)  # `not >` sends NaN to the floor
    return min(s_hi, max(s_lo, s_lo + frac * (s_hi - s_lo)))


def position_limit_scale(level: ExposureLevel) -> float:
    """Fraction of the configured position limit: the size band's upper bound, never above 1 (the
    configured limit is a risk limit; OPTIMIZED may quote larger, not hold more)."""
    return min(1.0, SIZE_BANDS[level][1])


def allows_tighter_spreads(level: ExposureLevel) -> bool:
    return level == L.OPTIMIZED


def places_orders(level: ExposureLevel) -> bool:
    """SHADOW computes quotes and records them but sends nothing to the venue."""
    return level > L.SHADOW


def level_for_confidence(confidence: float) -> ExposureLevel:
    """The level whose confidence band holds `confidence` (1.0 → OPTIMIZED, NaN → SHADOW)."""
    for level in reversed(L):
        if confidence >= CONFIDENCE_BANDS[level][0]:
            return level
    return L.SHADOW


class PromotionCriteria(FileModel):
    """Every criterion must hold on every sample for the whole dwell at the current level."""

    min_fills_at_level: int = Field(30, ge=0, le=1_000_000,
                                    description="Fills since the current level was entered (paper fills "
                                                "at SHADOW) before promotion.")
    min_dwell_s: float = Field(600.0, ge=0, le=2_592_000.0,
                               description="Seconds every criterion must hold without a break, s.")
    max_brier: float = Field(0.25, ge=0, le=1, description="Highest Brier score of the signal blend's direction "
                             "forecasts (0.25 is a coin flip; the design's healthy bound).")
    min_information_ratio: float = Field(0.1, ge=-1e9, le=1e9,
                                         description="Lowest information ratio of the signal blend, per "
                                         "prediction (see validation.scorecard's note on per-prediction IR).")
    max_sim_to_real_gap: float = Field(0.3, ge=0, le=1000.0,
                                       description="Highest sim-to-real gap (agent.shadow): how far the "
                                       "real fill volume of the orders at this level is from what the paper fill "
                                       "model made of the same orders, as a fraction of the paper volume.")
    max_safety_level: int = Field(0, ge=0, le=4, description="Highest safety level (0 Green … 4 Kill) allowed on "
                                  "every sample of the dwell: no promotion while the escalation ladder is up.")
    require_sim_to_real_gap: bool = Field(True, description="Whether a sim-to-real gap not yet measured (fewer than "
                                          "shadow.min_paper_fills paper fills on this level's orders) fails promotion "
                                          "out of a level that places orders. False: the check is recorded as 'n/a' "
                                          "and passes. At SHADOW, which places nothing, it is always 'n/a'.")
    max_drawdown: float = Field(0.005, ge=0, le=1.0, description="Highest drawdown at this level, fraction of equity "
                                                                 "(0.5% is Yellow's entry).")
    min_positive_edge_share: float = Field(0.35, ge=0, le=1, description=(
        "Lowest share of fills (paper fills at SHADOW) whose markout at graduation.markout_horizon_s beats the fee the "
        "fill paid (a real fill's as the venue charged it, a paper fill's at graduation.paper_maker_fee_bps, the "
        "venue's rate): a fill that "
        "is favourable only before its fee lost money. A maker's fills are adversely selected: in the twin's "
        "default market (15% informed flow) about 40-45% of the agent's fills are favourable at 10 s gross of "
        "fees, and trade-through paper fills 35-43%, but at the venue's base-tier maker fee (1.5 bp) about a third "
        "of its fee-unaware fills are net, or fewer (25-31% of the paper fills on the Quickstart's seeds 0-3: it "
        "holds them at Shadow); 0.35 stops a quote "
        "model that is picked off systematically, or pays more in fees than it captures, without demanding "
        "alpha the market does not give. Raise it for live."))
    positive_edge_z: float = Field(0.0, ge=0, le=5, description=(
        "0: min_positive_edge_share is held against the share itself. Above 0: against its Wilson lower bound at "
        "this many standard errors, over the fills whose markout has resolved at this level: a share just over "
        "the threshold on a few dozen fills is chance as often as skill (in fees_exceed_spread, 36-38% on "
        "fills that lose their fee promoted some seeds past 0.35). 1 asks, for 0.35, a share of 0.44 on 30 fills, "
        "0.40 on 100 and 0.365 on 1,000; for live, with real money on the next level, 1 or more."))
    min_net_edge_bps: float = Field(0.0, ge=-100.0, le=100.0, description=(
        "Lowest mean net edge per fill, bps: each fill's markout at graduation.markout_horizon_s minus the fee it "
        "paid (as for min_positive_edge_share), over the same fills (paper ones at SHADOW, real ones at a level "
        "that places orders), held against its lower confidence bound (net_edge_z). The positive-edge share "
        "counts fills, not what they earn: on the Quickstart's seed 0 Shadow's paper fills were 47% favourable "
        "(the share asks 35%) and lost 0.32 bp each before any fee; promoted, the real fills lost 1.7 bp each "
        "after the venue's 1.5 bp fee. 0: a level is left upwards only on fills that earn their fee on average."))
    net_edge_z: float = Field(1.0, ge=0, le=5, description=(
        "Standard errors below the mean net edge that min_net_edge_bps is held against (mean − z·SE over the "
        "fills resolved at this level in the last dwell, at least min_fills_at_level of them; the error counts the "
        "fills one mid resolved, a print's through the ladder, as one draw, as they move together): a mean just "
        "over it on a few noisy fills is no evidence of earning. 0: the mean itself (then a single fill can pass)."))

    def check(self, evidence: "PromotionEvidence") -> tuple["CriterionCheck", ...]:
        """Each criterion's value against its threshold. NaN evidence (not measured yet) fails."""
        e = evidence
        return (
            CriterionCheck.at_least("fills_at_level", e.fills_at_level, self.min_fills_at_level),
            CriterionCheck.at_most("brier", e.brier, self.max_brier),
            CriterionCheck.at_least("information_ratio", e.information_ratio, self.min_information_ratio),
            CriterionCheck.at_most("sim_to_real_gap", e.sim_to_real_gap, self.max_sim_to_real_gap)
            if e.gap_measurable and (self.require_sim_to_real_gap or e.sim_to_real_gap == e.sim_to_real_gap)
            else CriterionCheck("sim_to_real_gap", math.nan, self.max_sim_to_real_gap, "n/a", True),
            CriterionCheck.at_most("drawdown", e.drawdown, self.max_drawdown),
            # (named for what it holds: the bound, labelled the share, read "a third of fills favourable" for 40%)
            CriterionCheck.at_least("positive_edge_share", e.positive_edge_share, self.min_positive_edge_share)
            if not self.positive_edge_z else
            CriterionCheck.at_least("positive_edge_share_lower_bound", wilson_lower(
                e.positive_edge_share, e.positive_edge_n, self.positive_edge_z), self.min_positive_edge_share),
            CriterionCheck.at_least("net_edge_bps_lower_bound" if self.net_edge_z else "net_edge_bps",
                                    e.net_edge_bps - self.net_edge_z * e.net_edge_se_bps if self.net_edge_z
                                    else e.net_edge_bps, self.min_net_edge_bps),
            CriterionCheck.at_most("safety_level", e.safety_level, self.max_safety_level),
            # a sample taken blind (socket down, book stale, account not reconciled) is no evidence that the others
            # held: a dwell ran on through a 40 s outage and promoted the agent 25 s into it, seeing nothing
            _SEEING if e.seeing else _BLIND,
        )


class GraduationConfig(FileModel):
    confidence: ConfidenceConfig = Field(default_factory=ConfidenceConfig, description="Confidence weights and "
                                                                                       "hysteresis.")
    promotion: PromotionCriteria = Field(default_factory=PromotionCriteria, description="What promotion needs.")
    ceiling: ExposureLevel = Field(L.OPTIMIZED, description="Highest level promotion may reach (e.g. 1 to stay at "
                                                            "MICRO_LIVE for a first live run); start_level must be at "
                                                            "or below it.")
    demote_on_low_confidence: bool = Field(True, description="Demote at once, to the level whose band holds the "
                                           "confidence, when it falls below the current band by the hysteresis.")
    start_level: ExposureLevel = Field(L.SHADOW, description="Level a session starts at (SHADOW: quotes computed and "
                                       "paper-filled, nothing placed). Live sessions override it with --start-level.")
    paper_maker_fee_bps: float | None = Field(None, ge=-10.0, le=100.0, description=(
        "The maker fee Shadow's paper fills pay in the promotion evidence, bps of notional: the venue's rate, as the "
        "real fills of the levels above pay it (the evidence is each level's fills net of what they pay). Null (the "
        "default): the venue's rate as the session knows it (a live run: userFees' at its start; a twin session: the "
        "twin's maker fee), else quoting.maker_fee_bps (userFees unread, a HIP-3 dex whose deployer sets its own)."))
    shadow_exits: bool = Field(True, description="Shadow works off a position it holds (left by a level above it, "
                               "or by an earlier run): the paper ladder's reducing side, reduce-only, capped at the "
                               "position, is placed; nothing that adds risk is. False: Shadow places nothing and "
                               "holds any position until promoted.")
    eval_interval_s: float = Field(5.0, ge=0.01, le=3600.0,
                                   description="How often confidence is recomputed and promotion "
                                   "considered, s. Demotion triggers are checked every timer tick.")
    expected_ack_latency_s: float = Field(0.35, ge=0.001, le=60.0,
                                          description="Order acknowledgement latency taken as normal, "
                                          "s; slower acks lower execution_confidence in proportion.")
    health_window_s: float = Field(300.0, ge=1.0, le=604_800.0,
                                   description="Time constant of the rejection and rate-limit rates, "
                                   "of the fading of slow acks' latency when no ack has come since, and the window "
                                   "of recent reconnections, s.")
    health_min_requests: float = Field(20.0, ge=1, le=1e6, description=(
        "Fewest recent requests (decayed like them) the rejection and rate-limit rates are shares of: with fewer, "
        "the missing ones count as answered. A quiet spell (Shadow, Red's exits) sends few requests, and a "
        "burst's rejections as a share of the few sent since stood unchanged as both decayed alike: execution "
        "confidence stayed where the burst left it, at Shadow for some 20 minutes after a 5 s burst. Now a burst's "
        "rejections fade with health_window_s once activity is this low."))
    demote_drawdown: float = Field(0.0075, ge=1e-6, le=1.0,
                                   description="Drawdown since the level was entered, fraction of "
                                   "collateral, that demotes two levels at once.")
    demote_net_edge_z: float | None = Field(None, ge=0, le=10, description=(
        "At a level that places orders, demote one level when the mean net edge of its real fills (markout at "
        "markout_horizon_s minus the fee paid, bps; the promotion criterion's fills: the last dwell's, at least "
        "promotion.min_fills_at_level of them) plus this many standard errors is below promotion.min_net_edge_bps: "
        "the level loses money on its fills beyond doubt. Promotion asks the lower bound at net_edge_z to clear it, "
        "so a level whose edge is unclear is held, not demoted. Paper evidence can promote a maker that loses for "
        "real (a fee the config did not know, fills the paper model misjudged), and a drawdown demotes only at "
        "demote_drawdown of the collateral: on the Quickstart's seed 0 MicroLive lost 1.6-2.0 bp a fill for up to "
        "36 minutes until a degraded signal demoted it. null (the default the twin's sessions, tests and benches "
        "were chosen on: its default market leaves the agent's fills losing, and they exercise an agent trading at "
        "a level): no demotion on net edge. For live, 2 (examples/live-first-run.yaml)."))
    min_execution_confidence: float = Field(0.3, ge=0, le=1, description="execution_confidence below this is an "
                                            "exchange-health demotion (one level), once per fall below it, and "
                                            "holds promotion on every sample it lasts.")
    optimized_spread_mult: float = Field(0.9, ge=0.01, le=1, description="Half spread × this at OPTIMIZED (the only "
                                         "level that may tighten spreads).")
    markout_horizon_s: float = Field(10.0, ge=0.01, le=3600.0,
                                     description="Horizon of the markouts that count as positive or "
                                     "negative edge, s.")
    min_outcomes: int = Field(30, ge=1, le=1_000_000, description="Resolved blend forecasts before its Brier score and "
                              "information ratio count as evidence (NaN, failing promotion, before).")

    @model_validator(mode="after")
    def _start_at_or_below_the_ceiling(self) -> "GraduationConfig":
        """A start above the ceiling would trade there from the first cycle: the ceiling bounds promotion only, so
        nothing would ever bring it down to what the operator capped it at (an audit: a MICRO_LIVE ceiling, a FULL
        start, 80% of the position limit used)."""
        if self.start_level > self.ceiling:
            raise ValueError(f"start_level {self.start_level.name} is above ceiling {self.ceiling.name}: start at or "
                             f"below the ceiling (promotion never passes it; a start above it would trade above it)")
        return self

    @field_validator("ceiling", "start_level", mode="before")
    @classmethod
    def _level_by_name(cls, v: Any) -> Any:
        """YAML may name the level ('MICRO_LIVE', or 'MicroLive' as --start-level and the README spell it) instead
        of giving its number; a name that is none of them is refused with the names (pydantic's own message
        offered only the numbers 0-5)."""
        if isinstance(v, str) and not v.strip().isdigit():
            level = level_named(v)
            if level is None:
                raise ValueError(f"expected a level's name ({', '.join(L.__members__)}) or number (0-5)")
            return level
        return v


def level_named(name: str) -> L | None:
    """The exposure level ``name`` names, blind to case, '_' and '-' ('MicroLive', 'micro_live', 'MICRO-LIVE'), or
    None: the one reading of a level's name for the config, the live CLI's --start-level and the search's --level."""
    key = name.strip().replace("_", "").replace("-", "").upper()
    for level in L:
        if level.name.replace("_", "") == key:
            return level
    return None


@dataclass(frozen=True, slots=True)
class PromotionEvidence:
    fills_at_level: int  # fills since the current level was entered (paper fills at SHADOW)
    brier: float  # Brier score of the forecasts, [0, 1]; NaN if not measured
    information_ratio: float  # of the signal blend; NaN if not measured
    sim_to_real_gap: float  # shadow subsystem's gap, ≥ 0; NaN if not measured
    drawdown: float  # fraction of equity, ≥ 0, since the level was entered
    positive_edge_share: float  # share of fills with favourable markout, [0, 1]; NaN before a fill
    safety_level: int = 0  # the safety escalator's level now (0 Green … 4 Kill)
    gap_measurable: bool = True  # False at SHADOW: no real orders, so no sim-to-real gap to measure
    positive_edge_n: int = 0  # the fills positive_edge_share is taken over (their markouts resolved)
    seeing: bool = True  # the agent saw the market and its account at this sample: connected, book fresh, reconciled
    # the mean net edge per fill (markout minus fee, bps) over the positive_edge_n fills, and its standard error;
    # NaN: not measured (no fill resolved; the error with fewer than two)
    net_edge_bps: float = math.nan
    net_edge_se_bps: float = math.nan


class CriterionCheck(NamedTuple):
    """One promotion criterion on one sample (a NamedTuple: seven are built on every evaluation, and a
    frozen dataclass costs several times as much to construct; immutable all the same)."""

    name: str
    value: float
    threshold: float
    op: str  # ">=", "<=", or "n/a" (not measured and not required: passes)
    passed: bool

    @classmethod
    def at_least(cls, name: str, value: float, threshold: float) -> "CriterionCheck":
        return _tuple_new(cls, (name, float(value), float(threshold), ">=", bool(value >= threshold)))  # NaN → False

    @classmethod
    def at_most(cls, name: str, value: float, threshold: float) -> "CriterionCheck":
        return _tuple_new(cls, (name, float(value), float(threshold), "<=", bool(value <= threshold)))

    def to_record(self) -> dict[str, Any]:
        return {"name": self.name, "value": finite(self.value), "threshold": self.threshold,
                "op": self.op, "passed": self.passed}


_tuple_new = tuple.__new__
# the market_data criterion's two outcomes (1: the agent saw the market and its account at the sample; 0: blind)
_SEEING = CriterionCheck("market_data", 1.0, 1.0, ">=", True)
_BLIND = CriterionCheck("market_data", 0.0, 1.0, ">=", False)


def wilson_lower(share: float, n: int, z: float) -> float:
    """The Wilson score interval's lower end of a share seen on ``n`` trials, ``z`` standard errors out; NaN with
    no trial (as the share is then: not measured, so a criterion on it fails). The closed form, not scipy's
    (``calibration.fit.wilson`` calls ``binomtest(...).proportion_ci``): that takes some 1 ms a call against under
    1 µs, and this runs in an AFTER_CYCLE's evaluation, every ``eval_interval_s`` of a live run; the agent does
    not import calibration (which imports the agent). A test holds it to scipy's."""
    if n <= 0 or share != share:
        return math.nan
    z2n = z * z / n
    return (share + z2n / 2.0 - z * math.sqrt(share * (1.0 - share) / n + z2n / (4.0 * n))) / (1.0 + z2n)


class DemotionTrigger(Enum):
    DRAWDOWN = "drawdown"  # two levels down
    SAFETY_ORANGE_PLUS = "safety_orange_plus"  # to MICRO_LIVE, or stay if already below
    MODEL_DEGRADED = "model_degraded"  # one down
    NET_EDGE = "net_edge"  # one down: the level's real fills lose their fee on average, beyond their noise
    EXCHANGE_HEALTH = "exchange_health"  # one down
    CONFIDENCE_DROP = "confidence_drop"  # to the level whose band holds the confidence (update() fires it)
    MANUAL = "manual"  # to the level given


def demotion_target(level: ExposureLevel, trigger: DemotionTrigger) -> ExposureLevel:
    """Where a trigger sends `level` (never up). MANUAL and CONFIDENCE_DROP need an explicit target."""
    if trigger is DemotionTrigger.DRAWDOWN:
        return L(max(0, level - 2))
    if trigger is DemotionTrigger.SAFETY_ORANGE_PLUS:
        return L(min(level, L.MICRO_LIVE))
    if trigger in (DemotionTrigger.MANUAL, DemotionTrigger.CONFIDENCE_DROP):
        raise ValueError(f"demotion trigger {trigger.name} needs an explicit target level (to=...)")
    return L(max(0, level - 1))


@dataclass(frozen=True, slots=True)
class LevelTransition:
    ts: float
    from_level: ExposureLevel
    to_level: ExposureLevel
    kind: str  # "promote" or "demote"
    confidence: float  # overall confidence at the time; NaN for a demotion outside update()
    trigger: DemotionTrigger | None = None  # demotions
    reason: str = ""
    criteria: tuple[CriterionCheck, ...] = ()  # promotions: every criterion's value and threshold

    def to_record(self) -> dict[str, Any]:
        return {"ts": self.ts, "from": self.from_level.name, "to": self.to_level.name, "kind": self.kind,
                "confidence": finite(self.confidence),
                "trigger": self.trigger.name if self.trigger else None, "reason": self.reason,
                "criteria": [c.to_record() for c in self.criteria]}


class LevelHistory:
    """Every level change, in order; the run folder gets `to_records()`, the summary `timeline`."""

    __slots__ = ("start_level", "transitions")

    def __init__(self, start_level: ExposureLevel = L.SHADOW) -> None:
        self.start_level = L(start_level)
        self.transitions: list[LevelTransition] = []

    def append(self, t: LevelTransition) -> None:
        self.transitions.append(t)

    def __len__(self) -> int:
        return len(self.transitions)

    def __iter__(self):
        return iter(self.transitions)

    def to_records(self) -> list[dict[str, Any]]:
        return [t.to_record() for t in self.transitions]

    def level_at(self, ts: float) -> ExposureLevel:
        level = self.start_level
        for t in self.transitions:
            if t.ts > ts:
                break
            level = t.to_level
        return level

    def timeline(self, n_buckets: int, t_end: float, t_start: float = 0.0) -> list[ExposureLevel]:
        """The lowest level held in each of n equal buckets of [t_start, t_end], so that a brief
        demotion stays visible."""
        if n_buckets < 1 or not t_end > t_start:
            raise ValueError(f"timeline: need n_buckets ≥ 1 and t_end > t_start, got {n_buckets}, "
                             f"{t_start}..{t_end}")
        width = (t_end - t_start) / n_buckets
        out = []
        for i in range(n_buckets):
            lo, hi = t_start + i * width, t_start + (i + 1) * width
            lowest = self.level_at(lo)
            for t in self.transitions:
                if lo < t.ts < hi or (i == n_buckets - 1 and t.ts == hi):
                    lowest = min(lowest, t.to_level)
            out.append(L(lowest))
        return out

    def timeline_str(self, n_buckets: int, t_end: float, t_start: float = 0.0) -> str:
        """The timeline as digits, one a bucket: '0000111222211' (0 = SHADOW … 5 = OPTIMIZED)."""
        return "".join(str(int(x)) for x in self.timeline(n_buckets, t_end, t_start))


class ExposureController:
    """Holds the exposure level; `update` each cycle (may promote or demote), `demote` on triggers."""

    __slots__ = ("config", "level", "entered_ts", "good_since", "last_ts", "last_checks", "history")

    def __init__(self, config: GraduationConfig | None = None, start_level: ExposureLevel = L.SHADOW) -> None:
        self.config = config or GraduationConfig()
        self.level = L(start_level)
        self.entered_ts: float | None = None  # ts the current level was entered (None: from the start)
        self.good_since: float | None = None  # first sample of the current unbroken run of passing criteria
        self.last_ts: float = -math.inf
        # the last sample's checks (with the dwell and the next level's confidence once every criterion passed):
        # what holds promotion, for the summary
        self.last_checks: tuple[CriterionCheck, ...] = ()
        self.history = LevelHistory(self.level)

    def _advance(self, ts: float) -> None:
        if not ts >= self.last_ts:
            raise ValueError(f"ExposureController: ts went backwards ({ts!r} after {self.last_ts!r})")
        self.last_ts = ts

    def update(self, ts: float, confidence: TradingConfidence, evidence: PromotionEvidence) -> ExposureLevel:
        """Feed one sample; returns the level now. Promotes at most one level, and only when every
        criterion has held on every sample for min_dwell_s at this level and the overall confidence
        is at least the next level's lower edge plus the hysteresis."""
        self._advance(ts)
        cfg = self.config
        h = cfg.confidence.hysteresis_band
        c = confidence.overall

        if cfg.demote_on_low_confidence and self.level > L.SHADOW \
                and c < CONFIDENCE_BANDS[self.level][0] - h:
            return self._move(ts, level_for_confidence(c), "demote", c, trigger=DemotionTrigger.CONFIDENCE_DROP,
                              reason=f"overall confidence {c:.3f} below {self.level.name} band")

        # the venue's health on every sample of the dwell too: the exchange-health demotion fires once per fall
        # below the minimum, and the overall confidence (execution weighted 0.3 of it) climbed back to Full over a
        # venue that stayed as slow
        checks = cfg.promotion.check(evidence) + (CriterionCheck.at_least(
            "execution_confidence", confidence.execution_confidence, cfg.min_execution_confidence),)
        self.last_checks = checks
        if not all(x.passed for x in checks):
            self.good_since = None  # a single failing sample restarts the dwell
            return self.level
        if self.good_since is None:
            self.good_since = ts
        if self.level >= cfg.ceiling or self.level == L.OPTIMIZED:
            return self.level
        nxt = L(self.level + 1)
        dwell = CriterionCheck.at_least("dwell_s", ts - self.good_since, cfg.promotion.min_dwell_s)
        conf = CriterionCheck.at_least("confidence", c, CONFIDENCE_BANDS[nxt][0] + h)
        if dwell.passed and conf.passed:
            return self._move(ts, nxt, "promote", c, criteria=checks + (dwell, conf))
        self.last_checks = checks + (dwell, conf)  # what holds it: the dwell still running, or the confidence
        return self.level

    def demote(self, ts: float, trigger: DemotionTrigger, reason: str = "",
               to: ExposureLevel | None = None) -> ExposureLevel:
        """Immediate. `to` (required for MANUAL) overrides the trigger's default target; a target at or
        above the current level leaves it unchanged (demotion never promotes) and records nothing."""
        self._advance(ts)
        target = demotion_target(self.level, trigger) if to is None else L(to)
        if target >= self.level:
            return self.level
        return self._move(ts, target, "demote", math.nan, trigger=trigger, reason=reason)

    def _move(self, ts: float, to: ExposureLevel, kind: str, confidence: float, *,
              trigger: DemotionTrigger | None = None, reason: str = "",
              criteria: tuple[CriterionCheck, ...] = ()) -> ExposureLevel:
        self.history.append(LevelTransition(ts, self.level, to, kind, confidence, trigger, reason, criteria))
        self.level = to
        self.entered_ts = ts
        self.good_since = None  # the dwell starts over at every level
        return to

    # Consumers' view of the current level.
    def size_multiplier(self, confidence: TradingConfidence) -> float:
        return size_multiplier(self.level, confidence.overall)

    def position_limit_scale(self) -> float:
        return position_limit_scale(self.level)

    def allows_tighter_spreads(self) -> bool:
        return allows_tighter_spreads(self.level)

    def places_orders(self) -> bool:
        return places_orders(self.level)

    def dwell_remaining_s(self, ts: float) -> float:
        """Seconds until the dwell is served if every criterion keeps holding; inf while one fails."""
        if self.good_since is None:
            return math.inf
        return max(0.0, self.config.promotion.min_dwell_s - (ts - self.good_since))
