"""The graduation stack as the core uses it: evidence in, exposure throttles out.

``Graduation`` gathers what the agent already sees (acks and their latency, rejections, rate limits,
reconnections, stale orders, fills and their markouts, the blend's forecasts, equity) into a
``TradingConfidence`` and ``PromotionEvidence`` every ``eval_interval_s``, lets the
``ExposureController`` promote, and fires demotion triggers on every timer tick. Its outputs are
the throttles the core applies: ``places_orders`` (Shadow quotes on paper only), ``size_mult``
(ladder size), ``limit_scale`` (the position limit reconcile enforces) and ``spread_mult``
(Optimized tightens).

execution_confidence is ``execution_confidence_from`` over: EWMA ack latency /
``expected_ack_latency_s`` (its excess fading with ``health_window_s`` since the last ack); rejections
(post-only crosses excluded: routine) and rate-limit refusals as exponentially decayed shares of the
requests sent (time constant ``health_window_s``; of at least ``health_min_requests``, so that old
evidence fades when little is sent);
reconnections within ``health_window_s``; orders stale now. The sim-to-real gap (``agent.shadow``,
measured on the real orders at the levels that place them) is promotion evidence, not one of its
factors: it says the paper model misjudged our fills, which is a reason not to scale up, not the
venue's ill health (below ``min_execution_confidence`` execution confidence demotes as exchange
health). Nor does the gap demote (README's Shadow section has the figures): in twin sessions, where paper and
real run on one fill model, it settles at 0.05-0.25 but strays to 0.75 over a level's first few dozen paper
fills, while a twin whose queue the configured ``at_price_share`` misjudges stays in that range (there the model
at share 0 and at share 1 differ by some 20% of volume) and a feed 2 s late reaches 0.45-1.2: no threshold tells
a model that misjudges the fills from the gap's own noise, and a demotion on it would demote healthy sessions.
Nor is the per-order P(fill) score (``agent.shadow.p_fill``) read here: GLFT's own fill model beats the base rate
by little on healthy twin sessions (skill +0.004 to +0.12, a mean of +0.04: README's Shadow section), so no threshold
on it would tell a healthy session from one whose model is off.

Sans-IO: every input carries its ``ts``; no clock reads.
"""
from __future__ import annotations

import math
from collections import deque

from agent.graduation.confidence import TradingConfidence, execution_confidence_from
from agent.graduation.exposure import (
    DemotionTrigger, ExposureController, ExposureLevel, GraduationConfig, PromotionEvidence, size_multiplier,
)
from agent.graduation.paper import PaperFills
from agent.markouts import MarkoutQueue
from agent.shadow.gap import ShadowConfig, SimToRealGap
from agent.shadow.p_fill import PFillScore
from agent.validation.scorecard import ModelScorecard, ScorecardConfig

_ORANGE = 2  # SafetyLevel.ORANGE (kept numeric: graduation does not depend on safety's module)
_SHADOW = ExposureLevel.SHADOW  # read every tick (an enum member read from its class is a Python-level lookup)


class Graduation:
    __slots__ = ("cfg", "controller", "paper", "blend", "collateral", "confidence", "size_mult", "limit_scale",
                 "spread_mult", "places_orders", "evidence", "_req", "_rej", "_lim", "_decay_ts", "_ack_ewma",
                 "_ack_ts", "_reconnects", "markouts", "fills", "_edge_recent", "_edge_n", "_edge_positive", "_net_sum",
                 "_net_sq", "_net_cross", "_n_sq", "_level_ts", "_fills_at_entry", "_paper_at_entry", "_level_peak",
                 "_prev_safety", "_prev_degraded", "_exec_ok", "_exec_smooth", "_next_eval_ts", "records", "shadow",
                 "p_fill", "_demote_drawdown", "_health_window_s")

    def __init__(self, config: GraduationConfig, scorecard: ScorecardConfig, collateral_usd: float,
                 start_level: ExposureLevel | None = None, maker_fee_bps: float = 0.0,
                 shadow: ShadowConfig | None = None) -> None:
        self.cfg = config
        self._demote_drawdown = config.demote_drawdown  # (read every tick: a pydantic model's attribute costs more)
        self._health_window_s = config.health_window_s  # (read at every fill, ack and after-cycle decay: likewise)
        sh = shadow if shadow is not None else ShadowConfig()
        self.controller = ExposureController(config, config.start_level if start_level is None else start_level)
        # a fill's edge counts net of its fee: a real fill's as charged, a paper fill's at the venue's (for_agent)
        self.paper = PaperFills(config.markout_horizon_s, maker_fee_bps * 1e-4, sh.at_price_share)
        # the same fill model on the real orders once they rest at the venue: the sim-to-real gap
        self.shadow = SimToRealGap(sh.at_price_share, sh.min_paper_fills, sh.grace_s)
        # GLFT's own fill model, λ(δ) = A·e^(−kδ), scored on each real quote: P(fill) within a horizon against what
        # happened
        self.p_fill = PFillScore(sh.p_fill_horizon_s, sh.grace_s, sh.p_fill_window)
        # the blend's own forecast, scored like each signal: promotion's Brier and information ratio
        self.blend = ModelScorecard("blend", scorecard)
        self.collateral = collateral_usd
        self.confidence = TradingConfidence.combine(config.confidence, 0.0, 1.0, 1.0)
        self.evidence: PromotionEvidence | None = None
        self._req = self._rej = self._lim = 0.0  # decayed counts
        self._decay_ts = 0.0
        self._ack_ewma = math.nan
        self._ack_ts = math.nan  # when the last ack came
        self._reconnects: deque[float] = deque()
        self.markouts = MarkoutQueue(config.markout_horizon_s)  # real fills awaiting their markout
        self.fills = 0
        # the edge evidence's window: (ts, resolved, positive, Σ net bps) of each mid that resolved markouts at this
        # level, and their sums (the positive-edge share and the mean net edge per fill); the mean's standard error
        # takes each mid's fills as one draw (_net_edge), so it keeps Σ over mids of net², n·net and n²
        self._edge_recent: deque[tuple[float, int, int, float]] = deque()
        self._edge_n = 0
        self._edge_positive = 0
        self._net_sum = self._net_sq = self._net_cross = self._n_sq = 0.0
        self._level_ts = -math.inf  # when the level was entered: a fill made by then is another level's
        self._fills_at_entry = 0
        self._paper_at_entry = 0
        self._level_peak = math.nan
        self._prev_safety = 0
        self._prev_degraded = 0
        self._exec_ok = True
        self._exec_smooth = 1.0
        self._next_eval_ts = -math.inf
        self.records: list[dict] = []  # level transitions for the decision log, drained by the core
        self._refresh_throttles()

    @classmethod
    def for_agent(cls, config) -> "Graduation":
        """As an agent core uses it, from its ``AgentConfig``: the graduation config, the scorecards', the
        collateral, the maker fee its paper fills pay (the venue's, ``graduation.paper_maker_fee_bps``, which the
        session sets from what the venue lists: the quote model's ``quoting.maker_fee_bps`` where it is not known)
        and the shadow's fill model."""
        fee = config.graduation.paper_maker_fee_bps
        return cls(config.graduation, config.validation.scorecard, config.session.collateral_usd,
                   maker_fee_bps=config.quoting.maker_fee_bps if fee is None else fee, shadow=config.shadow)

    # ------------------------------------------------------------------ evidence in

    def _decay(self, ts: float) -> None:
        dt = ts - self._decay_ts
        if dt > 0.0:
            f = math.exp(-dt / self._health_window_s)
            self._req *= f
            self._rej *= f
            self._lim *= f
            self._decay_ts = ts

    def note_request(self, ts: float, n: int) -> None:
        self._decay(ts)
        self._req += n

    def note_rejection(self, ts: float) -> None:
        self._decay(ts)
        self._rej += 1.0

    def note_rate_limited(self, ts: float) -> None:
        self._decay(ts)
        self._lim += 1.0

    def note_ack(self, latency_s: float, ts: float) -> None:
        if latency_s >= 0.0:
            a = self._ack_ewma
            self._ack_ewma = latency_s if a != a else a + 0.05 * (latency_s - a)
            self._ack_ts = ts

    def note_reconnect(self, ts: float) -> None:
        self._reconnects.append(ts)

    def note_fill(self, ts: float, side: int, px: float, sz: float, fee: float) -> None:
        """A real fill made at ``ts`` (when the venue made it, not its delivery: see agent.markouts on fills made in
        an outage); ``fee`` (USDC, negative for a rebate) is what the venue charged for it, and its markout counts as
        positive edge only above that. One made by the time the level was entered (delivered after the change, at
        a reconnect) is the level left's: not one of this level's fills."""
        self.fills += 1
        if ts <= self._level_ts:
            self._fills_at_entry += 1
        elif not self.places_orders:
            # Shadow's exit: the core quotes the paper agent on the real position plus the paper one, and this fill's
            # print paper-fills the exit's paper twin too; the paper agent moves by that paper fill alone (counted
            # in both, a sale of 0.002 off a long of 0.004 left it flat)
            self.paper.position -= side * sz
        self.markouts.add(ts, side, px, sz, fee)

    def on_mid(self, ts: float, mid: float) -> None:
        # the level's edge is its own kind of fill: the real ones at a level that places orders, the paper ones at
        # Shadow. Both queues resolve, but a paper fill made at Shadow and resolving after a promotion is no
        # evidence of the live level (nor a real one, an exit's or the level left's, of Shadow's paper quotes).
        # Nor is a fill of the kind the level counts made by the time the level was entered (on the level left's
        # orders): one still awaiting its markout at a change resolved as the new level's evidence, so a net-edge
        # demotion from Ramping was followed within a horizon by one from MicroLive on Ramping's fills, and a
        # promotion's first evidence was the level below's. Those resolve apart (the session's totals count them).
        # (each queue's on_mid's first test, asked here: most mids, no fill is due in either, and no tuple of the two
        # is built to loop over)
        q = self.markouts
        if not ts < q.next_due:
            self._resolve(q, ts, mid, self.places_orders)
        q = self.paper.markouts
        if not ts < q.next_due:
            self._resolve(q, ts, mid, not self.places_orders)
        self.blend.on_mid(ts, mid)

    def _resolve(self, q: MarkoutQueue, ts: float, mid: float, counts: bool) -> None:
        """``q``'s fills due by ``ts``: those made by the level's start apart, the rest counted as the level's
        evidence if ``counts`` (on_mid)."""
        since = self._level_ts
        if q.next_due <= since + q.horizon_s:
            q.on_mid(ts, mid, since)
        p0, s0 = q.positive, q.net_bps
        n = q.on_mid(ts, mid)
        if counts and n:
            pos, net = q.positive - p0, q.net_bps - s0
            self._edge_recent.append((ts, n, pos, net))
            self._edge_n += n
            self._edge_positive += pos
            self._net_sum += net
            self._net_sq += net * net
            self._net_cross += n * net
            self._n_sq += n * n

    def predict(self, ts: float, p_up: float, horizon_s: float, mid: float) -> None:
        self.blend.predict(ts, p_up, horizon_s, mid)

    def shadow_quotes(self, quotes, ts: float = -math.inf) -> None:
        """At Shadow, the quotes the agent would have placed at ``ts``: the paper fill model watches them."""
        self.paper.set_quotes(quotes, ts)

    # ------------------------------------------------------------------ decisions

    def check_triggers(self, ts: float, equity: float, safety_level: int, degraded: int) -> None:
        """Every timer tick: any one trigger demotes at once (rising edges only, so a condition that
        persists demotes once, not every tick). ``safety_level``: an int, or the escalator's level as it is (an
        IntEnum: no int() every tick)."""
        if equity == equity:
            if self._level_peak != self._level_peak or equity > self._level_peak:
                self._level_peak = equity
        # every escalation to Orange or above (DESIGN §6), not only the first crossing into Orange: Orange on to Red
        # demotes too, which matters when max_safety_level let the agent promote while at Orange
        if safety_level >= _ORANGE and safety_level > self._prev_safety:
            self._demote(ts, DemotionTrigger.SAFETY_ORANGE_PLUS, f"safety escalated to level {int(safety_level)}",
                         equity)
        self._prev_safety = safety_level
        if degraded > self._prev_degraded:
            self._demote(ts, DemotionTrigger.MODEL_DEGRADED, f"{degraded} model(s) degraded on evidence", equity)
        self._prev_degraded = degraded
        if self.controller.level > _SHADOW:  # (Shadow has nothing to demote to: no drawdown to work out)
            # _drawdown written out (every tick): its floor at 0 left out, as demote_drawdown > 0 (the config's
            # bound) demotes on no drawdown at or under it; the peak read after the demotions above, which reset it
            # (to this equity), and known with the equity (set from it above when it was not). No test of the equity
            # here: a nan equity gives a nan drawdown, which demotes on no bound (collateral is at least
            # MIN_COLLATERAL_USD: no division by 0), as the test the tick skipped did
            dd = (self._level_peak - equity) / self.collateral
            if dd >= self._demote_drawdown:
                self._demote(ts, DemotionTrigger.DRAWDOWN, f"drawdown {dd:.4f} at level ≥ {self.cfg.demote_drawdown}",
                             equity)

    def manual(self, ts: float, to: ExposureLevel, equity: float = math.nan, reason: str = "operator") -> None:
        """An operator's override: straight to ``to`` (never up)."""
        self._demote(ts, DemotionTrigger.MANUAL, reason, equity, to)

    def evaluate_due(self, ts: float) -> bool:
        return ts >= self._next_eval_ts

    def evaluate(self, ts: float, equity: float, model_confidence: float, safety_confidence: float,
                 stale_orders: int, cycles: int, safety_level: int = 0, seeing: bool = True) -> None:
        """Recompute confidence and evidence; the controller may promote (or demote on a confidence drop).
        ``seeing``: the agent sees the market and its account now (False fails the sample: no promotion blind)."""
        self._next_eval_ts = ts + self.cfg.eval_interval_s
        self._decay(ts)
        rec = self._reconnects
        while rec and rec[0] < ts - self.cfg.health_window_s:
            rec.popleft()
        req = max(self._req, self.cfg.health_min_requests)  # (fewer: the rest count as answered, see its doc)
        a = self._ack_ewma
        lat = 1.0 if a != a else a / self.cfg.expected_ack_latency_s
        if lat > 1.0:
            # the EWMA moves on acks only: with none coming (Shadow places nothing) slow acks of long ago stood as
            # the venue's latency for good; their excess fades with health_window_s since the last ack instead
            lat = 1.0 + (lat - 1.0) * math.exp(-max(0.0, ts - self._ack_ts) / self.cfg.health_window_s)
        raw = execution_confidence_from(lat,
                                              min(1.0, self._rej / req), min(1.0, self._lim / req),
                                              len(rec), stale_orders)
        # smoothed over evaluations (time constant ~5 of them): one latency spike or a few orders stale
        # for a moment is noise, a venue that stays slow is not
        self._exec_smooth += 0.2 * (raw - self._exec_smooth)
        execution = self._exec_smooth
        # an exchange-health demotion first: the evidence below is then the new level's (built before it, the
        # level left's fills and share were the new level's first sample, and what last_checks reported)
        if execution < self.cfg.min_execution_confidence:
            if self._exec_ok:
                self._demote(ts, DemotionTrigger.EXCHANGE_HEALTH, f"execution confidence {execution:.3f}", equity)
            self._exec_ok = False
        else:
            self._exec_ok = True
        if self.places_orders and self.cfg.demote_net_edge_z is not None:
            self._net_edge_demotion(ts, equity)  # (first too: the evidence below is then the new level's)
        c = self.controller
        at_level = self.paper.fills - self._paper_at_entry if c.level == ExposureLevel.SHADOW \
            else self.fills - self._fills_at_entry
        self.confidence = TradingConfidence.combine(
            self.cfg.confidence, min(1.0, max(0.0, model_confidence)), execution,
            min(1.0, max(0.0, safety_confidence)), fills=self.fills, fills_at_level=at_level,
            positive_edge_fills=self.markouts.positive, cycles=cycles)
        b = self.blend
        enough = b.n_outcomes >= self.cfg.min_outcomes
        resolved = self._edge_window(ts)
        net_mean, net_se = self._net_edge(resolved)
        self.evidence = PromotionEvidence(
            fills_at_level=at_level,
            brier=b.brier() if enough else math.nan,
            information_ratio=b.information_ratio() if enough else math.nan,
            sim_to_real_gap=self.shadow.gap if self.places_orders else math.nan,  # (Shadow: no real orders)
            drawdown=self._drawdown(equity) if equity == equity else math.nan,
            positive_edge_share=self._edge_positive / resolved if resolved else math.nan,
            safety_level=safety_level, gap_measurable=self.places_orders, positive_edge_n=resolved, seeing=seeing,
            net_edge_bps=net_mean, net_edge_se_bps=net_se)
        before = c.level
        c.update(ts, self.confidence, self.evidence)
        if c.level != before:
            self._entered(equity)
        else:
            self._refresh_throttles()

    # ------------------------------------------------------------------ internals

    def _edge_window(self, ts: float) -> int:
        """The fills the positive-edge share is taken over: those resolved in the last dwell (at least the last
        ``min_fills_at_level`` of them, so the share rests on as many as promotion asks, not on a quiet minute's
        few). Counted since the level was entered, an hour of decent fills carried a promotion through a dwell in
        which nine fills in ten lost: the dwell asks that the criterion hold throughout, and a share over
        thousands of fills barely moves."""
        p = self.cfg.promotion
        since, keep = ts - p.min_dwell_s, max(1, p.min_fills_at_level)
        recent = self._edge_recent
        while recent and recent[0][0] < since and self._edge_n - recent[0][1] >= keep:
            _, n, pos, net = recent.popleft()
            self._edge_n -= n
            self._edge_positive -= pos
            self._net_sum -= net
            self._net_sq -= net * net
            self._net_cross -= n * net
            self._n_sq -= n * n
        return self._edge_n

    def _net_edge(self, n: int) -> tuple[float, float]:
        """The mean net edge per fill over the window's ``n`` fills (bps: markout minus fee), and its standard error
        (NaN with fewer than two mids). The share of fills that beat their fee is no measure of what they earn: on
        the Quickstart's seed 0 Shadow's paper fills were 47% favourable and lost 0.32 bp each on average.

        The error is clustered by the mid that resolved the fills: the fills one print makes through a ladder (or a
        sweep) are marked out against one mid and move together, so they are not independent draws. Taken as
        independent, the error was 1.4-1.6 times too small on the Quickstart's seeds 0 and 1 (paper at Shadow and
        real at MicroLive: 0.037 against 0.056 bp for seed 0's 9,240 paper fills over 4,529 mids), and the first
        30 fills of a level came on 12-18 mids: a bound at z 1 was one at 0.65, a demotion at z 2 one at 1.3.
        Σ_c (net_c − n_c·mean)² / n² · k/(k−1) over the k mids; with one fill a mid, the usual s²/n."""
        if n <= 0:
            return math.nan, math.nan
        mean = self._net_sum / n
        k = len(self._edge_recent)
        if k < 2:
            return mean, math.nan
        ss = self._net_sq - 2.0 * mean * self._net_cross + mean * mean * self._n_sq
        return mean, math.sqrt(max(0.0, ss) * k / (k - 1)) / n  # (floored: the sums' rounding)

    def _net_edge_demotion(self, ts: float, equity: float) -> None:
        """One level down when the level's real fills lose on average beyond their noise: the mean net edge plus
        ``demote_net_edge_z`` standard errors under ``min_net_edge_bps``, on at least ``min_fills_at_level`` fills
        (the window starts over at the new level, so a level is left once per such stay, not every evaluation)."""
        p = self.cfg.promotion
        n = self._edge_window(ts)
        if n < max(2, p.min_fills_at_level):
            return
        mean, se = self._net_edge(n)
        if mean + self.cfg.demote_net_edge_z * se < p.min_net_edge_bps:
            self._demote(ts, DemotionTrigger.NET_EDGE, f"mean net edge {mean:+.2f} bp ± {se:.2f} over {n} real "
                         f"fills, below {p.min_net_edge_bps:g}", equity)

    def _drawdown(self, equity: float) -> float:
        peak = self._level_peak
        if peak != peak or equity != equity:
            return 0.0
        return max(0.0, (peak - equity) / self.collateral)

    def _demote(self, ts: float, trigger: DemotionTrigger, reason: str, equity: float,
                to: ExposureLevel | None = None) -> None:
        c = self.controller
        before = c.level
        c.demote(ts, trigger, reason, to)
        if c.level != before:
            self._entered(equity)

    def _entered(self, equity: float) -> None:
        """A new level: its evidence starts over (fills, markouts, drawdown); the fills made before it, their
        markouts pending, are the level left's (on_mid)."""
        self._level_ts = self.controller.entered_ts
        self.records.append({"type": "level", **self.controller.history.transitions[-1].to_record()})
        self._fills_at_entry = self.fills
        self._paper_at_entry = self.paper.fills
        self._edge_recent.clear()
        self._edge_n = self._edge_positive = 0
        self._net_sum = self._net_sq = self._net_cross = self._n_sq = 0.0
        self._level_peak = equity
        self.shadow.restart()
        self.paper.position = 0.0  # (Shadow's paper agent starts where the real one is: its paper fills on that)
        if self.controller.level != ExposureLevel.SHADOW:
            self.paper.clear()
        self._refresh_throttles()

    def _refresh_throttles(self) -> None:
        level = self.controller.level
        self.places_orders = level > ExposureLevel.SHADOW
        self.size_mult = size_multiplier(level, self.confidence.overall)
        self.limit_scale = self.controller.position_limit_scale()
        self.spread_mult = self.cfg.optimized_spread_mult if level == ExposureLevel.OPTIMIZED else 1.0

    @property
    def level(self) -> ExposureLevel:
        return self.controller.level
