"""The safety escalation ladder: Green → Yellow → Orange → Red → Kill (DESIGN §6).

Each update evaluates the rules of ``SafetyConfig`` on one ``SafetyInputs`` and gets the *raw*
level: the highest level whose entry condition holds now. The escalator then moves its level:

- up, at once, to the raw level (levels may be skipped);
- down, one level per update, only when the current level's minimum dwell has elapsed AND the
  current level's entry conditions have been clear (raw level below it) for ``recovery_window_s``
  without a break: evidence, not a single calm tick;
- out of KILL only through ``manual_reset``.

Sans-IO: time arrives as ``ts`` (float seconds); nothing here reads a clock.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal, NamedTuple

from pydantic import Field, field_validator, model_validator

from common.files import FileModel
from agent.safety.risk_budget import RiskBudgetConfig


class SafetyLevel(IntEnum):
    GREEN = 0
    YELLOW = 1
    ORANGE = 2
    RED = 3
    KILL = 4


class SafetyConfig(FileModel):
    """The DESIGN §6 safety table as configuration: entry rules, dwell, and the action per level."""

    # --- entry rules
    drawdown_yellow: float = Field(0.005, ge=1e-6, le=1.0,
                                   description="Drawdown ≥ this fraction of starting equity → Yellow.")
    drawdown_orange: float = Field(0.01, ge=1e-6, le=1.0,
                                   description="Drawdown ≥ this fraction of starting equity → Orange.")
    drawdown_red: float = Field(0.02, ge=1e-6, le=1.0, description="Drawdown ≥ this fraction of starting equity → Red.")
    drawdown_kill: float = Field(0.05, ge=1e-6, le=1.0,
                                 description="Drawdown ≥ this fraction of starting equity → Kill.")
    drawdown_from: Literal["peak", "start"] = Field(
        "peak", description="Drawdown measured from the highest equity seen ('peak') or from the starting equity "
                            "('start'); either way as a fraction of the starting equity.")
    degraded_yellow: int = Field(1, ge=1, le=100, description="This many degraded models or more → Yellow.")
    degraded_orange: int = Field(2, ge=1, le=100, description="This many degraded models or more → Orange.")
    reconnect_window_s: float = Field(60.0, ge=0, le=86_400.0,
                                      description="A reconnection within the last this-many s → Yellow.")
    position_orange_frac: float = Field(0.7, ge=0.01, le=10.0,
                                        description="|position| > this × position limit → Orange.")
    position_kill_frac: float = Field(1.5, ge=0.01, le=10.0,
                                      description="|position| > this × position limit (runaway) → Kill.")
    cascade_errors: int = Field(10, ge=1, le=1_000_000, description="Error burst (rejections, 429s) ≥ this many within "
                                                                    "cascade_window_s → Red (a cascade).")
    cascade_window_s: float = Field(10.0, ge=0.01, le=3600.0, description="Window of ErrorBurstCounter, s.")
    health_critical: float = Field(0.3, ge=0, le=1, description="Exchange health (0..1) ≤ this → Red. The agent "
                                   "measures it as the share of the address request quota left (headroom / cap): "
                                   "the rule exchange_health in the logs.")
    stressed_regime_yellow: float | None = Field(0.95, ge=0.001, le=1, description="The regime model's P(stressed) "
                                                 "≥ this → Yellow (spreads wider, size halved while the market is "
                                                 "stressed); null disables the rule.")
    stale_kill_s: float = Field(60.0, ge=0.1, le=3600.0,
                                description="Market data older than this, s → Kill. Keep it well above "
                                            "the core's stale_book_s (which only pulls quotes).")
    # --- de-escalation
    dwell_yellow_s: float = Field(30.0, ge=0, le=86_400.0,
                                  description="Minimum time at Yellow before stepping down, s.")
    dwell_orange_s: float = Field(60.0, ge=0, le=86_400.0,
                                  description="Minimum time at Orange before stepping down, s.")
    dwell_red_s: float = Field(300.0, ge=0, le=86_400.0, description="Minimum time at Red before stepping down, s.")
    recovery_window_s: float = Field(30.0, ge=0, le=86_400.0,
                                     description="A level's entry conditions must have been clear this "
                                                 "long without a break before stepping down from it, s.")
    # --- confidence
    level_confidence: tuple[float, float, float, float, float] = Field(
        (1.0, 0.7, 0.4, 0.1, 0.0), description="safety_confidence at Green, Yellow, Orange, Red, Kill.")
    escalation_penalty: float = Field(0.5, ge=0, le=1, description="Just after an escalation, safety_confidence is "
                                                                   "× (1 − this); the cut fades out linearly.")
    escalation_penalty_decay_s: float = Field(300.0, ge=0.01, le=86_400.0,
                                              description="Time over which the escalation cut fades, s.")
    # --- actions (DESIGN §6 'action' column; used by overlay_for)
    yellow_spread_mult: float = Field(1.5, ge=1, le=100.0, description="Yellow: half spread × this.")
    yellow_size_factor: float = Field(0.5, ge=0, le=1, description="Yellow: new size × this (not the reducing "
                                       "side's while the position is over the position limit: those are exits).")
    orange_spread_mult: float = Field(1.5, ge=1, le=100.0,
                                      description="Orange: half spread × this (keeps Yellow's widening).")
    orange_size_factor: float = Field(0.25, ge=0, le=1, description="Orange: reducing-side size × this.")
    red_exit_size_factor: float = Field(1.0, ge=0, le=1, description="Red: reduce-only exit size × this (the total "
                                                                     "is capped at |position| anyway).")
    kill_action: Literal["flatten", "hold"] = Field("flatten", description="Kill: after cancelling everything, "
                                                                          "flatten the position or hold it.")
    risk_budget: RiskBudgetConfig = Field(default_factory=RiskBudgetConfig, description="Position-at-risk budget.")

    @field_validator("level_confidence")
    @classmethod
    def _confidence_ordered(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.0 <= c <= 1.0 for c in v) or any(a < b for a, b in zip(v, v[1:])):
            raise ValueError(f"level_confidence={v}: each in [0, 1], non-increasing from Green to Kill")
        return v

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> "SafetyConfig":
        dd = (self.drawdown_yellow, self.drawdown_orange, self.drawdown_red, self.drawdown_kill)
        if any(a > b for a, b in zip(dd, dd[1:])):
            raise ValueError(f"drawdown thresholds {dd}: yellow ≤ orange ≤ red ≤ kill")
        if self.degraded_yellow > self.degraded_orange:
            raise ValueError(f"degraded_yellow={self.degraded_yellow} > degraded_orange={self.degraded_orange}")
        if self.position_orange_frac > self.position_kill_frac:
            raise ValueError(f"position_orange_frac={self.position_orange_frac} > "
                             f"position_kill_frac={self.position_kill_frac}")
        return self


class SafetyInputs(NamedTuple):
    """What the escalator looks at, once per update (a NamedTuple: built every tick, and a frozen
    dataclass of ten fields costs four times as much to construct).

    ``data_age_s``: seconds since the last market data; non-finite (no data yet) is ignored.
    ``reconnect_ts``: time of the last reconnection, -inf if none.
    ``error_burst_count``: errors within the cascade window (see ``ErrorBurstCounter``).
    ``exchange_health``: 1 healthy … 0 dead. ``position_limit`` ≤ 0 disables the position rules.
    """

    ts: float
    equity: float
    start_equity: float
    position: float = 0.0
    position_limit: float = 0.0
    degraded_models: int = 0
    reconnect_ts: float = -math.inf
    error_burst_count: int = 0
    exchange_health: float = 1.0
    data_age_s: float = 0.0
    p_stressed: float = 0.0  # the online regime model's probability that the market is stressed


class RuleHit(NamedTuple):
    """One rule whose entry condition holds: ``value`` compared with ``threshold`` by ``op``."""

    level: SafetyLevel
    rule: str
    value: float
    op: str
    threshold: float

    def describe(self) -> str:
        return f"{self.rule} {self.value:.6g} {self.op} {self.threshold:.6g} → {self.level.name}"


@dataclass(frozen=True, slots=True)
class SafetyTransition:
    ts: float
    from_level: SafetyLevel
    to_level: SafetyLevel
    reason: str


class ErrorBurstCounter:
    """Counts errors (rejections, 429s) in a sliding window: feed ``note(ts)``, read ``count(ts)``."""

    __slots__ = ("window_s", "_ts")

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._ts: deque[float] = deque()

    def note(self, ts: float, n: int = 1) -> None:
        for _ in range(n):
            self._ts.append(ts)

    def count(self, ts: float) -> int:
        q = self._ts
        if not q:  # (every tick asks; most have no error in the window, nor anything to forget)
            return 0
        lo = ts - self.window_s
        while q and q[0] <= lo:
            q.popleft()
        return len(q)


_G, _Y, _O, _R, _K = SafetyLevel.GREEN, SafetyLevel.YELLOW, SafetyLevel.ORANGE, SafetyLevel.RED, SafetyLevel.KILL
_LEVELS = (_G, _Y, _O, _R, _K)


class SafetyEscalator:
    """Holds the safety level; ``update(inputs)`` once per quote cycle (or on any event worth it).

    After each update: ``level``, ``raw_level`` (what the rules say right now), ``hits`` (the rules
    that hold), ``safety_confidence`` in [0, 1], ``history`` (every transition with its reason). Graduation reads
    the level every tick and demotes on each escalation to Orange or above itself
    (``Graduation.check_triggers``): the escalator does not say it twice.
    """

    __slots__ = ("cfg", "level", "raw_level", "hits", "history",
                 "peak_equity", "base_equity", "_rebase", "_entered_ts", "_last_escalation_ts", "_clear_since",
                 "_dwell", "_rules", "_level_confidence", "_penalty_s", "_penalty", "_confidence_ts")

    def __init__(self, config: SafetyConfig) -> None:
        self.cfg = config
        self.level = _G
        self.raw_level = _G
        self.hits: list[RuleHit] = []
        self.history: list[SafetyTransition] = []
        self.peak_equity = math.nan
        # after a manual reset that rebased: the first equity seen since, which 'start' measures from (nan: the start)
        self.base_equity = math.nan
        self._rebase = False  # the next equity seen is the new peak and base
        self._entered_ts = -math.inf
        self._last_escalation_ts = -math.inf
        # the time safety_confidence is of: the last update's or manual reset's (before any, -inf: less the last
        # escalation's, -inf too, a fade of nan, which is not under 1: Green's confidence)
        self._confidence_ts = -math.inf
        # per level: since when the raw level has been below it without a break (nan: it holds now)
        self._clear_since = [math.nan, -math.inf, -math.inf, -math.inf, -math.inf]
        self._dwell = (0.0, config.dwell_yellow_s, config.dwell_orange_s, config.dwell_red_s, math.inf)
        # the thresholds every update compares with, read once (the config is fixed for the escalator's life); the
        # stressed-regime rule disabled (None) compares with nan, which no p_stressed is ≥
        stressed = config.stressed_regime_yellow
        self._rules = (config.drawdown_from == "peak", config.drawdown_yellow, config.degraded_yellow,
                       config.degraded_orange, config.reconnect_window_s, config.position_orange_frac,
                       config.position_kill_frac, config.cascade_errors, config.health_critical,
                       math.nan if stressed is None else stressed, config.stale_kill_s)
        # what safety_confidence reads, read once as the thresholds are: read off the config it read three attributes
        # of a pydantic model, some 200 machine instructions each
        self._level_confidence = config.level_confidence
        self._penalty_s = config.escalation_penalty_decay_s
        self._penalty = config.escalation_penalty

    # ------------------------------------------------------------------ rules

    def rule_hits(self, inp: SafetyInputs) -> list[RuleHit]:
        """Every rule whose entry condition holds for ``inp`` (the highest level of each rule only)."""
        # (runs every tick, and most ticks nothing holds: the inputs unpacked and the thresholds read from a
        # plain tuple, a hit built only when its rule holds)
        ts, equity, start, position, position_limit, n, reconnect_ts, errors, health, age, p_stressed = inp
        (from_peak, dd_yellow, degraded_yellow, degraded_orange, reconnect_window_s, position_orange_frac,
         position_kill_frac, cascade_errors, health_critical, stressed_yellow, stale_kill_s) = self._rules
        hits: list[RuleHit] = []
        if start > 0.0 and equity == equity:
            ref = self.peak_equity
            if not from_peak or ref != ref:
                base = self.base_equity
                ref = base if base == base else start
            dd = (ref - equity) / start
            if dd >= dd_yellow:  # the lowest threshold (the config keeps them ordered): most ticks stop here
                c = self.cfg
                for lvl, thr in ((_K, c.drawdown_kill), (_R, c.drawdown_red), (_O, c.drawdown_orange),
                                 (_Y, c.drawdown_yellow)):
                    if dd >= thr:
                        hits.append(RuleHit(lvl, "drawdown", dd, "≥", thr))
                        break
        if n >= degraded_yellow:  # (the lower threshold first, as the config keeps them ordered: most ticks stop here)
            if n >= degraded_orange:
                hits.append(RuleHit(_O, "degraded_models", n, "≥", degraded_orange))
            else:
                hits.append(RuleHit(_Y, "degraded_models", n, "≥", degraded_yellow))
        since = ts - reconnect_ts
        if since <= reconnect_window_s:
            hits.append(RuleHit(_Y, "reconnect_age_s", since, "≤", reconnect_window_s))
        if position_limit > 0.0:
            frac = abs(position) / position_limit
            if frac > position_orange_frac:  # (the lower threshold first, as above)
                if frac > position_kill_frac:
                    hits.append(RuleHit(_K, "position_frac", frac, ">", position_kill_frac))
                else:
                    hits.append(RuleHit(_O, "position_frac", frac, ">", position_orange_frac))
        if errors >= cascade_errors:
            hits.append(RuleHit(_R, "error_burst", errors, "≥", cascade_errors))
        if health <= health_critical:
            hits.append(RuleHit(_R, "exchange_health", health, "≤", health_critical))
        if p_stressed >= stressed_yellow:  # (nan when the rule is disabled)
            hits.append(RuleHit(_Y, "p_stressed", p_stressed, "≥", stressed_yellow))
        if age > stale_kill_s and age != math.inf:  # (math.isfinite: nan fails the comparison already)
            hits.append(RuleHit(_K, "data_age_s", age, ">", stale_kill_s))
        return hits

    # ------------------------------------------------------------------ the ladder

    def update(self, inp: SafetyInputs) -> SafetyLevel:
        ts = inp.ts
        eq = inp.equity
        if eq == eq:
            if self.peak_equity != self.peak_equity:
                if self._rebase:
                    self._rebase = False
                    self.peak_equity = self.base_equity = eq
                else:
                    self.peak_equity = max(eq, inp.start_equity) if inp.start_equity > 0.0 else eq
            elif eq > self.peak_equity:
                self.peak_equity = eq
        hits = self.hits = self.rule_hits(inp)
        # at Green with no rule holding, after an update that found Green too, the ladder has nothing to move (most
        # ticks), and no clear-since time moves either. (The last raw level is asked, not assumed Green: a higher one
        # escalates at once, but a manual reset from Kill to Green leaves Kill's, which this update must clear)
        if hits or self.level is not _G or self.raw_level is not _G:
            raw = _G
            for h in hits:
                if h.level > raw:
                    raw = h.level
            clear = self._clear_since
            if raw is not self.raw_level:  # (the same raw level as the last update leaves every entry as it is)
                for lv in range(1, 5):
                    if raw >= lv:
                        clear[lv] = math.nan
                    elif clear[lv] != clear[lv]:
                        clear[lv] = ts
            self.raw_level = raw
            cur = self.level
            if cur is not _K:
                if raw > cur:
                    reason = "; ".join(h.describe() for h in hits if h.level == raw)
                    self._move(ts, raw, reason)
                    self._last_escalation_ts = ts
                elif raw < cur:
                    in_level = ts - self._entered_ts
                    clear_for = ts - clear[cur]
                    if in_level >= self._dwell[cur] and clear_for >= self.cfg.recovery_window_s:
                        self._move(ts, _LEVELS[cur - 1],
                                   f"recovered: {cur.name} clear for {clear_for:.6g} s (window "
                                   f"{self.cfg.recovery_window_s:.6g} s), dwell {in_level:.6g} s "
                                   f"≥ {self._dwell[cur]:.6g} s")
        self._confidence_ts = ts
        return self.level

    def manual_reset(self, ts: float, to: SafetyLevel = SafetyLevel.RED, *, rebase_peak: bool = False) -> SafetyLevel:
        """Leave KILL (the only way out): to ``to`` (default Red, which then steps down on evidence).
        ``rebase_peak``: drawdown restarts from the next equity seen, as its peak (and, with ``drawdown_from``
        'start', as its start; still a share of the starting equity). The peak was forgotten and then seeded
        again at the starting equity, so a Kill for a loss fired again at the next update. No-op unless at
        KILL. If the kill conditions still hold, the next update kills again."""
        if to >= _K:
            raise ValueError(f"manual_reset to={to!r}: must be below KILL")
        if self.level is not _K:
            return self.level
        if rebase_peak:
            self.peak_equity = math.nan
            self._rebase = True
        self._move(ts, SafetyLevel(to), "manual reset")
        self._confidence_ts = ts
        return self.level

    def _move(self, ts: float, to: SafetyLevel, reason: str) -> None:
        self.history.append(SafetyTransition(ts, self.level, to, reason))
        self.level = to
        self._entered_ts = ts

    @property
    def safety_confidence(self) -> float:
        """The level's confidence (``level_confidence``), cut by ``escalation_penalty`` at an escalation and the cut
        fading out over ``escalation_penalty_decay_s``: as of the last update or manual reset. Worked out here, when
        it is read (the governor's evaluations, one every few seconds), not by each of them: update, every tick,
        worked it out in the penalty's window (94% of the shipped profile's ticks in bench_bytecodes' session), and
        manual_reset in a copy of its own."""
        base = self._level_confidence[self.level]
        fade = (self._confidence_ts - self._last_escalation_ts) / self._penalty_s
        if fade < 1.0:
            base *= 1.0 - self._penalty * (1.0 - max(fade, 0.0))
        return base
