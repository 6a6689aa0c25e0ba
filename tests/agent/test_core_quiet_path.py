"""The quote cycle's quiet path and the market and order events' handlers, cut for bytecodes: each cut held to the
code it replaced, kept here verbatim, over a twin session's events replayed into two cores, one with the old code
and one with the new, compared after every event (the commands, the records, the state the cut touches), to the
bit (repr: nan and -0.0 too)."""
from __future__ import annotations

import dataclasses
import math
import pickle

import numpy as np

import pytest

from agent.config import AgentConfig
from agent.core import (
    _BUY, _RESTS, _DESIRED, _GREEN, _SNAPSHOT_PARTS, FOR_CANCEL_ALL, AgentCore, ArrivalEstimator, CancelAll, KeptLadder,
    SafetyInputs, SafetyOverlay, _new_object, _SignalsOfRecord, _tuple_new, _validation_factors, glft_coefficients,
    glft_half_skew, lot_sizes, overlaid_quotes, overlay_for, reconcile, reducing_side, taper_increasing, touch_ticks,
    venue_min_size, within_limit,
)
from agent.execution.orders import OrderState
from agent.gateway.events import (AFTER_CYCLE, CancelOrder, CancelRejected, IpWeightSpent, ModifyAcknowledged,
                                  OrderAcknowledged, RateLimited, Reason, Timer)

from recorded_session import recorded_session
from twin.faults.rejections import RejectionParams
from twin.params import TwinParams

# bench_agent's stress profile (its config and the twin's extra rejections): a 100 ms cycle, 5 levels a side
STRESS = {"session": {"cycle_s": 0.1}, "quoting": {"ladder": {"n_levels": 5, "size_ratio": 1.2}},
          "risk": {"max_position": 0.1},
          "graduation": {"start_level": "FULL", "ceiling": "FULL", "paper_maker_fee_bps": 0.0,
                         "promotion": {"min_net_edge_bps": -100.0, "net_edge_z": 0.0}}}


@pytest.fixture(scope="module")
def session():
    cfg = AgentConfig.model_validate(STRESS)
    params = TwinParams(rejections=RejectionParams(rates={"Oracle": 0.002, "PerpMargin": 0.001}))
    events, inst = recorded_session(cfg, 3, 90.0, params)
    return cfg, events, inst


def _handle_as_at_236138b(self, event):
    """AgentCore.handle at 236138b (the acks taken by its fall-through), verbatim."""
    if self._unbooked is not None:  # the last quote cycle's commands, sent since: booked before anything else
        self._book_cycle()
    # the tracker's clock is the events' clock, the latest time handled (a comparison and a store per event: the
    # store unconditional, at the same time too, costs fewer bytecodes than a second comparison)
    if event.ts < self.tracker.now:
        event = self._stepped_back(event)  # the clock stepped back (the rare path)
    else:
        self.tracker.now = event.ts
    cmds = []
    if not self.started and type(event) is not IpWeightSpent:
        # the session starts at the venue's first word: a gateway's note of weight it spent is none (a quota
        # poll's at 0 s would have moved every twin session's first snapshot, and what followed it)
        self.started = True
        self._request_snapshot(cmds, event.ts)
    fn = self._dispatch.get(type(event))
    if fn is None:
        t = type(event)
        if t is OrderAcknowledged or t is ModifyAcknowledged:
            o = self.tracker.orders.get(event.cloid if t is OrderAcknowledged else event.new_cloid)
            if o is not None and o.acked_ts < 0:
                self.graduation.note_ack(event.ts - o.sent_ts, event.ts)
        self.tracker.on_event(event)
        if t is RateLimited:
            self.errors.note(event.ts)
            self.graduation.note_rate_limited(event.ts)
            if event.request in _SNAPSHOT_PARTS and event.for_command != FOR_CANCEL_ALL and self.snapshot_pending \
                    and self.snapshot_retry_ts == math.inf:
                self.snapshot_retry_ts = event.ts + self._snapshot_backoff_s
                self._snapshot_backoff_s = min(2.0 * self._snapshot_backoff_s, self._snapshot_backoff_cap())
        if self.stopped and t is CancelRejected:
            # (since the one-cancel rule, tests/agent/test_one_cancel_out.py, as _on_other has it: a stop's cancel
            # that overtook the place, the order put back resting by its answer, pulled then)
            o = self.tracker.live_set.get(event.cloid)
            if event.reason is Reason.MISSING_ORDER and o is not None and o.state in _RESTS:
                cmds.append(CancelOrder(event.cloid))
        elif self.stopped and getattr(event, "resting", False):
            # a place that was in flight when everything was pulled has landed: pull it too
            cloid = getattr(event, "new_cloid", None) or event.cloid
            o = self.tracker.orders.get(cloid)  # (since that rule: not one whose cancel is out)
            if o is None or o.state is not OrderState.PENDING_CANCEL:
                cmds.append(CancelOrder(cloid))
    else:
        fn(event, cmds)
    if cmds:
        if cmds is self._cycle_cmds:
            self._unbooked = (cmds, event.ts)
        else:  # sent outside a quote cycle: no cycle record names them
            self._book(cmds, event.ts)
            self._sent(event.ts, type(event).__name__, cmds)
    return cmds


class _CoreAt236138b(AgentCore):
    """The core with the old handle, and the acks not in its dispatch (as at 236138b)."""

    def __init__(self, *a, **k) -> None:
        super().__init__(*a, **k)
        self._dispatch = {t: h for t, h in self._dispatch.items()  # (a dict, its get)
                          if t is not OrderAcknowledged and t is not ModifyAcknowledged}

    handle = _handle_as_at_236138b

    def _quote(self, ts: float, rec, cancel_only: bool = False) -> list:
        """At 236138b, verbatim (but for its signature's annotations), with the later changes this file does not test
        written in: the no-quote memo key without cancel_only (54c745a) and the liquidation rule's record step
        (3f47943, 7c55b2a)."""
        cfg = self.cfg
        if cfg is not self._derived_of:  # (a retune replaces the config)
            self._derive(cfg)
        q = self._quoting
        tick = self.tick
        mid = self.mid
        vol = self.vol
        if vol.n != self._sigma_n:  # the estimate moves only when a grid sample is added, which counts n up
            self._sigma_n = vol.n
            self._sigma_log = vol.sigma_per_sqrt_s if vol.ready else self._sigma_prior
        sigma_log = self._sigma_log
        sigma = sigma_log * mid
        if ts - self._fit_ts >= self._refit_s:  # A and k move slowly: refit every few seconds
            self._fit_ts = ts
            self._fit = self.arrivals.fit(ts) if self.arrivals is not None else None
        A, k = self._fit if self._fit is not None else \
            (self._a_prior, self._k_prior if self._k_prior is not None else self._k_prior_bp / mid)
        real_pos = pos = paper_pos = self.tracker.position
        shadow = not self.graduation.places_orders
        if shadow:
            # the paper agent's position: its paper fills (since Shadow was entered) on the real one. Its quotes are
            # limited on it, as a live level's by the real position, and skewed by it; left out, its paper fills
            # added up to several times the limit on quotes never skewed for it (paper.py). Not while a real
            # position is worked off (shadow_exits): the exits, real orders, are that ladder's reducing side, priced
            # on the real position (skewed by the paper one, a paper short moved a real long's asks out)
            paper_pos = real_pos + self.graduation.paper.position
            if not (real_pos and cfg.graduation.shadow_exits):
                pos = paper_pos
        if A != self._coef_A or k != self._coef_k:  # A and k move every few seconds: GLFT's c1, c2 with them
            self._coef_A = A
            self._coef_k = k
            self._coef = glft_coefficients(A, k, self._gamma, self._order_size)
            self._state_key = None  # (the half spread and skew are of the coefficients too)
        # the mid, σ and position move on events: most cycles at 10 Hz see the same as the last. (Equal doubles are
        # the same but for a zero's sign: the position's is read only through abs and as a finite number, and σ per
        # √s is a square root, 0.0 or the prior (> 0), never -0.0.)
        key = (mid, pos, sigma_log)
        if key == self._state_key:
            half_spread, glft_skew, par, par_f, cap = self._state
        else:
            c1, c2 = self._coef
            half_spread, glft_skew = glft_half_skew(mid, pos, sigma, c1, c2, self._order_size, self._spread_factor,
                                                    self._skew_factor)
            rb = self.risk_budget
            par, _, par_f = rb.check(pos, mid, sigma_log)  # position-at-risk: size factor and the cap below
            cap = rb.position_cap(mid, sigma_log)
            self._state = (half_spread, glft_skew, par, par_f, cap)
            self._state_key = key
        p_stressed = self.regime._p_stressed  # (the regime's p_stressed, the attribute behind its property)
        stress_mult = 1.0 + self._stress_less_1 * p_stressed
        ov = self.overlay
        g = self.graduation
        half = half_spread * stress_mult * ov.spread_mult * g.spread_mult
        fee_px = self._fee_frac * mid
        if fee_px:  # GLFT has no fees: each quote moves out by the fee, so a fill earns the model's half spread net
            half += fee_px
        floor = self._floor
        floored = half < floor
        if floored:
            half = floor
        skew = glft_skew * pos
        # the record stores values only (what it saw, records.INPUT_KEYS; the steps it took, in the order
        # CycleDecisionRecord.adjustments names them), in one tuple each at the end: this runs every cycle,
        # and the record is mostly dropped unread. A step not taken is None.
        center = mid - skew
        parts = self.signals.parts(ts, mid)
        # validation corrects the edge each signal claims: its shift scaled by its calibration slope (overconfident
        # → less, no skill → none), and the spread widened by the edge it promised and did not deliver (edge bias
        # > 0), weighted like its shift (_validation_factors). Those are of each card's metrics (replaced at an
        # evaluation, never changed: compared by identity) and each signal's weight: kept while they hold
        (_, _, w0, a0), (_, _, w1, a1), (_, _, w2, a2) = parts  # (the core's three signals, in the cards' order)
        c0, c1, c2 = self._cards
        m0 = c0._metrics  # (each card's metrics(), the attribute behind it: three frames a cycle less)
        m1 = c1._metrics
        m2 = c2._metrics
        k0, k1, k2, kw0, kw1, kw2 = self._validation_key
        if not (m0 is k0 and m1 is k1 and m2 is k2 and w0 == kw0 and w1 == kw1 and w2 == kw2):
            self._validation_key = (m0, m1, m2, w0, w1, w2)
            self._validation = _validation_factors((m0, m1, m2), (w0, w1, w2))
        f0, f1, f2, widen_bps = self._validation
        # each signal's weighted shift of the centre (a factor of 1.0 where validation has none: a·1.0 is a), the
        # record's (_SignalsOfRecord)
        wa0 = w0 * (a0 * f0)
        wa1 = w1 * (a1 * f1)
        wa2 = w2 * (a2 * f2)
        adj = 0.0 + wa0 + wa1 + wa2
        shifts = [wa0, wa1, wa2]
        # the forecasts (each signal's p_up, and the blend's, weight = configured × validation verdict) are made
        # and scored after the commands are out (_after_cycle); the record's signals are made when it is read
        self._forecast = (ts, parts, self.book_mid)
        rec.signals = sig = _new_object(_SignalsOfRecord)
        sig.parts = parts
        sig.shifts = shifts
        center += adj
        widen = bid_clamp = ask_clamp = None
        if widen_bps:
            widen_bps = min(widen_bps, q.signals.max_adj_bps * len(self._cards))
            widen = widen_bps * 1e-4 * mid
            half += widen
        bid = center - half
        ask = center + half
        if bid > self.best_ask - tick:  # never crossing the book: a post-only the venue would refuse
            bid = bid_clamp = self.best_ask - tick
        if ask < self.best_bid + tick:
            ask = ask_clamp = self.best_bid + tick
        # the ladder only changes when its tick-rounded edges do: reuse it otherwise (when sizes come to
        # depend on state, e.g. exposure levels, their multiplier belongs in this key)
        # exposure: the level's size multiplier scales the ladder (never below the venue's minimum order,
        # so MicroLive's 5-10% still quotes); Shadow computes full-size quotes for its paper fills only
        base = base_ask = self._order_size
        # at Orange and Red only the reducing side is quoted, capped at |position|: exits, which the exposure
        # level's multiplier (there to limit new risk) does not shrink; scaled by it, MicroLive worked a position
        # off at the venue's $10 minimum an order (feb12_emergency_paralysis: a third of it in two minutes of Red)
        size_mult = g.size_mult if ov.single_side is None else 1.0
        exit_mult = None  # the reducing side's multiplier where it is not size_mult (over the limit, below): recorded
        limit = self._risk_max_position * g.limit_scale  # the limit reconcile enforces (as the level scales it)
        if cap < limit:  # (cap: the risk budget's, of the state)
            # the risk budget's limit on what could fill: the taper reads the filled position only, and at half
            # the budget let out a ladder that, filled, took PaR to 126% of it
            limit = cap
        lot = self.lot
        over_limit = (pos if pos > 0.0 else -pos) - limit > 0.5 * lot  # (over by a fills' sum's residue is at it)
        if g.places_orders:
            base = math.floor(self._order_size * size_mult / lot + 1e-9) * lot
            base_ask = base
            if size_mult < 1.0 and over_limit:
                # over the limit (a demotion scaled it down under the position: Live's to MicroLive's 0.1) the side
                # that grows the position is held back by reconcile until the position is under it, and the reducing
                # side's orders are exits, as at Orange and Red: not shrunk by the multiplier (there to limit new
                # risk). Shrunk, MicroLive's asks took a long of 0.0113 against a limit of 0.005 only to 0.0101 in
                # 200 s (feb12_emergency_paralysis seed 25 as it ran when this was found), quoting one side all the
                # while. (Reconcile still caps them at the room to the limit on the other side: a full ladder filled
                # flips at most to it. A position at the limit, 2e-18 over it as fills summed, is not over: found on
                # fees_exceed_spread seed 39 as it ran then.)
                exit_base = math.floor(self._order_size / lot + 1e-9) * lot
                exit_mult = 1.0
                if pos > 0.0:
                    base_ask = exit_base
                else:
                    base = exit_base
            # the venue's minimum is on each order's own price: a bid needs the size worth it at the deepest bid
            # (each level's rounding down costs at most a tick or a venue step, ≤ 1e-4 of the price), an ask at
            # the lower of the ask and the mid. (Worth it at the mid alone, the size was under $10 at every bid,
            # and at an ask skewed below the mid: the ladder dropped them, and MicroLive quoted asks alone.)
            # venue_min_size(mn, px, lot) only falls as px > 0 rises: where it was at most a base at some price, it is
            # at any price at least as high, for a base at least as large, and the base stands without the call
            # (_min_ok: per side, a price above zero and a base it held at, the lower of this price and the one where
            # the minimum is the base, mn / base, if it holds there too: made again by _derive, as mn is; at twice that
            # price, as it was, a base of twice the minimum, MicroLive's at $100k, kept this price and asked again at
            # each new low). The bid's price is the higher of the deepest bid's and half the mid: where half the mid is
            # at least the price kept, so is the bid's, and the deepest bid's is not worked out at all
            ok = self._min_ok
            px = ask if ask < mid else mid
            if not (px >= ok[0] and base_ask >= ok[1]):
                mn = self._ladder_terms[1]
                v = venue_min_size(mn, px, lot)
                if v > base_ask:
                    base_ask = v
                elif px > 0.0:
                    far = mn / base_ask if base_ask > 0.0 else px
                    ok[0] = far if 0.0 < far < px and venue_min_size(mn, far, lot) <= base_ask else px
                    ok[1] = base_ask
            half_mid = 0.5 * mid
            if not (half_mid >= ok[2] and base >= ok[3]):
                n, mn, deep = self._ladder_terms  # (max(a, b) below written out: b if b > a else a, as max gives it)
                step = 1e-4 * bid
                low = bid - deep - n * (step if step > tick else tick)
                px = low if low > half_mid else half_mid
                if not (px >= ok[2] and base >= ok[3]):
                    v = venue_min_size(mn, px, lot)
                    if v > base:
                        base = v
                    elif px > 0.0:
                        far = mn / base if base > 0.0 else px
                        ok[2] = far if 0.0 < far < px and venue_min_size(mn, far, lot) <= base else px
                        ok[3] = base
        nb, na = touch_ticks(bid, ask, tick)  # (the ladder's own rounding to ticks)
        key = (nb, na, base, base_ask)
        if key != self._ladder_key:
            sizes_key = (base, base_ask)
            if sizes_key != self._sizes_key:  # the sizes move with the base sizes only (rarely): made once for them
                lad = q.ladder
                n = lad.n_levels
                self._sizes_key = sizes_key
                sizes = lot_sizes(lad.sizes(base), n, 1.0, self.sz_decimals, 0.0)
                ask_sizes = None if base_ask == base else lot_sizes(lad.sizes(base_ask), n, 1.0, self.sz_decimals, 0.0)
                # desired_ladder(bid, ask, ...) with these arguments, its sides kept
                self._ladder = KeptLadder(n, lad.level_spacing_ticks * tick, sizes, self.sz_decimals,
                                          lad.min_notional_usd, tick=tick, ask_sizes=ask_sizes, desired=_DESIRED)
            # DesiredQuote(side, px, sz, level, False) per ladder level, bids then asks
            self._desired = self._ladder.quotes(bid, ask, nb, na)
            self._ladder_key = key
        desired = self._desired
        safety_size = safety_exit = par_size = shadow_exits = None
        if self.safety.level is not _GREEN:  # Green's overlay changes nothing (it only carries the position)
            qov = ov
            if over_limit and ov.size_factor < 1.0 and ov.single_side is None and g.places_orders:
                # Yellow over the limit: its size factor ("new size × this") is caution about new risk, and the
                # reducing side's orders are exits (the other side is held back by reconcile until the position
                # is under the limit), as for the exposure multiplier above: halved, they took twice as long to
                # bring a demoted position back under its limit. (Orange's and Red's factors are the exits' own.
                # Where orders are placed only, as the multiplier's exemption: Shadow's paper ladder is as it was.)
                qov = ov._replace(reducing_size_factor=1.0)
                safety_exit = 1.0
            # a pure function of the ladder and the overlay (which carries the position): kept while they hold
            # (the ladder moves on a few cycles in ten; the overlay with the position)
            memo_key = (key, qov)
            if memo_key != self._overlaid_key:
                self._overlaid_key = memo_key
                self._overlaid = overlaid_quotes(qov, desired, self.lot, self._min_notional)  # size factor,
            desired = self._overlaid  # ... reducing side only, venue minimum
            if ov.single_side is not None and ov.position and g.places_orders and not self.lots_of(ov.position):
                self._below_lot(ts, ov.position, "the safety level's exits")  # (Orange's, Red's: none can close it)
            safety_size = ov.size_factor
        # the risk budget: position-at-risk tapers risk-increasing size to zero at its limit (par_f, of the state)
        rec.seen = (mid, self.best_bid, self.best_ask, sigma, A, k, real_pos, self.budget.headroom, p_stressed,
                    self.safety.level, g.controller.level, g.confidence, par)  # (g.level without its property)
        if par_f < 1.0 and pos:
            desired = taper_increasing(desired, par_f, pos, self._min_notional, self.lot)
            par_size = par_f
        rec.quotes = desired
        if shadow:
            # Shadow: quoted on paper, nothing placed (live orders get pulled), within the limit on the paper
            # position, worst case, as reconcile holds a live level's orders: the full limit, as the ladder is of full
            # size (the level's scale, 0, is for real orders) ...
            plim = self._risk_max_position if self._risk_max_position < cap else cap
            pk = self._paper_key
            if pk[0] is not desired or pk[1] != paper_pos or pk[2] != plim:
                self._paper_key = (desired, paper_pos, plim)
                self._paper_quotes = within_limit(desired, paper_pos, plim, self.lot, self._min_notional)
            rec.quotes = self._paper_quotes
            g.shadow_quotes(self._paper_quotes, ts)
            rec.note = "shadow"
            pos = real_pos
            if pos and cfg.graduation.shadow_exits:
                # ... but a position it was left with is worked off: the paper ladder's reducing side,
                # reduce-only and capped at the position (an unmanaged position held for hours is risk no level
                # asked for). Orange's overlay above has already kept only that side.
                exits = SafetyOverlay(1.0, 1.0, reducing_side(pos), reduce_only=True, position=pos)
                src = desired
                if safety_size is not None and ov.single_side is None and ov.size_factor < 1.0:
                    # Yellow: its size factor is caution about new risk, and these are exits, as over the limit
                    # where orders are placed (above): taken from the ladder before the overlay, they are not
                    # halved. (Orange's and Red's factors are the exits' own: their overlay keeps that side.)
                    src = self._desired
                    safety_exit = 1.0
                desired = overlaid_quotes(exits, src, self.lot, self._min_notional)  # (capped: one side)
                shadow_exits = pos
                if not self.lots_of(pos):
                    self._below_lot(ts, pos, "Shadow's exits")
            else:
                desired = []
        tr = self.tracker
        # everything reconcile reads: the desired quotes (the ladder's key, the overlay, the level, the taper), the
        # orders (any change bumps the tracker's version), the exposure of orders ended but still settling (which
        # lapses with time, not with an event: a quote held back by it is placed once it has), and the address
        # budget (a reconcile held back by it sends more once the venue's quota report has grown it)
        budget = self.budget
        out = 0.0  # the position counted out of exposures' reducing side (_liquidation_exposure)
        # the record's step when it is (the price, the mid's distance from it, the position counted out, and the last
        # snapshot's price where our fills since moved it)
        liq = None
        if desired:
            exposures = tr.exposures()
            if self._liq_px:  # a position the venue may liquidate
                near = self._liquidation_exposure(exposures, tr.position, mid)
                if near is not exposures:  # (counted out of reduce-only quotes' room: reconcile gives it back)
                    exposures = near
                    out = abs(tr.position)
                    lq = self._liq_px
                    snap = self._liq_snapshot_px
                    liq = (lq, (mid - lq if tr.position > 0.0 else lq - mid) / mid, tr.position,
                           snap if snap != lq else None)
            state = (key, tr.version, exposures, ov, g.controller.level, par_f, limit, budget.cap, budget.used,
                     cancel_only)
        else:
            # no quote wanted (Shadow's cycles, flat: most of a day's): reconcile can only cancel, and reads the orders
            # and what cancels may spend alone, the budget's cancel_headroom (the ladder, the limit and the exposures
            # are read for quotes to place, and cancel_only holds back places and modifies only; a state of its own
            # length, never equal to one with quotes)
            exposures = None
            if tr.settling:  # (asked all the same: it lets lapsed entries go from the settling sums, in their order)
                tr.exposures()
            state = (tr.version, budget.cap, budget.used)
        rec.steps = (half_spread, stress_mult, ov.spread_mult, g.spread_mult, -skew, fee_px if fee_px else None,
                     floor if floored else None, widen, bid_clamp, ask_clamp, size_mult if g.places_orders else 0.0,
                     exit_mult, safety_size, safety_exit, par_size, shadow_exits, paper_pos if shadow else None,
                     g.limit_scale, liq)
        if state == self._reconciled_state:  # nothing changed since the last reconcile (same quotes, no order news)
            return []
        cmds = reconcile(desired, tr, tick=tick, lot=self.lot, max_position=limit,
                         budget=budget, cloids=self.cloids, cfg=self._reconcile_cfg,
                         min_notional=self._min_notional, cancel_only=cancel_only, exposures=exposures,
                         reducing_out=out)
        self._reconciled_state = None if cmds else state
        return cmds

    def _on_book(self, ev, cmds: list) -> None:
        """At 236138b, verbatim."""
        if not ev.bids or not ev.asks:
            return
        self.best_bid = ev.bids[0][0]
        self.best_ask = ev.asks[0][0]
        self.mid = self.book_mid = 0.5 * (self.best_bid + self.best_ask)
        self.last_book_ts = ev.ts
        vt = ev.venue_time_ms
        if vt > 0:
            self._book_ms = vt
            if ev.ts - vt * 1e-3 < self._venue_offset:
                self._venue_offset = ev.ts - vt * 1e-3
            self.tracker.feed_ts = vt * 1e-3 + self._venue_offset  # when it was made, on this clock
        if self._flatten_on_book:
            self._flatten_on_book = False
            self._flatten(cmds, ev.ts)  # nothing of the last IOC filled: the position is as it was
        self.vol.update(ev.ts, self.mid)
        sig = self.signals.signals
        sig[0].update(ev.ts, ev.bids, ev.asks)
        sig[2].update(ev.ts, self.mid)
        self.ledger.on_mid(ev.ts, self.mid)
        self.graduation.on_mid(ev.ts, self.mid)
        self.regime.on_mid(ev.ts, self.mid)
        v = self.validation
        if v.on_mid(ev.ts, self.mid):
            self._apply_validation_weights()
        if v.evaluated:  # each evaluation's evidence: why a signal's weight and the degraded count are what they are
            cards = v.cards
            self._records.extend({"type": "scorecard", **cards[name].record()} for name in v.evaluated)
            v.evaluated.clear()

    def _update_safety(self, ts: float, cmds: list, degraded: int) -> None:
        """At 236138b, verbatim, with the Kill's pull_sent landed beside it (3b2859b)."""
        led = self.ledger
        mid = self.mid
        collateral = self._collateral
        # the session's net leaves out what the position the session started on had gained or lost before it: a
        # live run's collateral_usd (the account's value at the start) has that already, and counted again it read
        # as a drawdown (a Kill selling the position at its loss) or hid one
        equity = collateral + led.net(mid) if mid == mid else math.nan
        self.equity = equity
        # before the first snapshot the tracker's position is fills only, not the account's: no position rule
        pos = self.tracker.position if led.anchored else 0.0
        # SafetyInputs(...) without the NamedTuple's Python-level __new__ (every field given, in order)
        inputs = _tuple_new(SafetyInputs, (ts, equity, collateral, pos, self._max_position,
                                           degraded, self.reconnect_ts, self.errors.count(ts),
                                           self.budget.headroom_frac, ts - self.last_book_ts, self.regime._p_stressed))
        safety = self.safety
        before = safety.level
        level = safety.update(inputs)
        # the overlay is a pure function of the level and the position: most ticks see both unchanged
        if level is not self._overlay_level or pos != self._overlay_pos or self.overlay is not self._overlay_made:
            self.overlay = self._overlay_made = overlay_for(level, pos, self.cfg.safety)
            self._overlay_level = level
            self._overlay_pos = pos
        if level != before:
            t = safety.history[-1] if safety.history else None
            self._records.append({"type": "safety", "ts": ts, "from": int(before), "to": int(level),
                                  "reason": t.reason if t else ""})
        if self.overlay.cancel_all and not self.stopped:
            # Kill: pull everything now (cancels may spend the reserved quota) and stop quoting;
            # flatten through the book with a reduce-only IOC when configured
            self.stopped = True
            cmds.append(CancelAll(tuple(self.tracker.live_set)))  # (those known cancelled at once, as at shutdown)
            self.budget.pull_sent(ts, len(self.tracker.live_set))  # (past the cancels' limit, in the slow lane)
            self._last_pull_ts = ts
            # arm the venue's dead-man's switch too: if our cancels are lost, the venue pulls the rest
            # (the venue refuses it for accounts with little volume; the refusal is logged, not fatal)
            if ts >= self._dead_man_retry_ts:
                self._arm_dead_man(cmds, ts, self.cfg.risk.dead_man_s)
            self._records.append(self._postmortem(ts))
            self._flatten_due = self.cfg.safety.kill_action == "flatten"  # the overlay's flag needs a known position
            self._flatten_goal = self._flatten_goal or self._flatten_due
            if self._flatten_due and self.reconciled:
                self._flatten(cmds, ts)  # otherwise when a snapshot has reconciled the position (_on_snapshot)

    def _on_bbo(self, ev, cmds: list) -> None:
        """At 236138b, verbatim."""
        if self.best_bid == self.best_bid:  # (a book already)
            self._take_touch(ev.bid, ev.ask)

    def _on_trade(self, ev, cmds: list) -> None:
        """At 236138b, verbatim (but for its comment on stale prints)."""
        side = 1 if ev.side is _BUY else -1  # ev.side.value, read once (an enum's value is a Python-level property)
        made, made_ms = self._made_at(ev.ts, ev.tid), ev.tid >> 64
        if made_ms and self._book_ms - made_ms > self._stale_book_ms:
            self.stale_prints += 1
            self._paper_trade(ev, side, made)
            return
        if self.mid == self.mid:
            arrivals = self.arrivals
            if arrivals is None:
                est = self.cfg.quoting.estimators
                arrivals = self.arrivals = ArrivalEstimator(
                    est, None if est.arrival_max_depth_bps is None else est.arrival_max_depth_bps * 1e-4 * self.mid)
            arrivals.on_trade(ev.ts, ev.px, self.mid, side)
        self.signals.signals[1].update(ev.ts, side, ev.sz)
        self._paper_trade(ev, side, made)


_PARTS = ("signals", "ledger", "validation", "safety", "regime", "vol", "arrivals", "budget", "overlay", "errors")


def _state(core: AgentCore) -> tuple:
    """What the cuts touch: the touch and mid, the book's times, graduation's ack EWMA, its gap model's and paper
    fills' sums, the tracker's version, position and live set; and the models' state pickled (their doubles to the
    bit). (Not graduation and the tracker whole: some of their arrays are made with numpy.empty, whose unused cells
    differ from core to core.) The gap model's arrays as their bytes: their repr, 8 digits, was not to the bit, and
    was 60% of a replay's time."""
    g, tr = core.graduation, core.tracker
    sh, pa = g.shadow, g.paper
    return (repr((core.best_bid, core.best_ask, core.mid, g._ack_ewma, g._ack_ts, tr.version, tr.position,
                  sorted(tr.live_set), core.stopped, sh.paper_volume, sh.real_volume, sh.paper_fills, sh.real_fills,
                  pa.fills, pa.position, pa.markouts.resolved, pa.markouts.net_bps,
                  tr.feed_ts, core._venue_offset, core._book_ms, core.last_book_ts, core.book_mid)),
            sh.grid_volume.tobytes(), pickle.dumps(sh._run),
            *(pickle.dumps(getattr(core, name)) for name in _PARTS))


_SLOPES = (math.nan, -0.5, 0.3, 1.0, 1.7)
_BIASES = (math.nan, -1.0, 0.0, 0.8, 3.0)
_WEIGHTS = (0.0, 0.5, 1.0, 1.3)


def _perturb(rng: np.random.Generator, cores: tuple[AgentCore, AgentCore]) -> None:
    """The same change of the validation the quote cycle reads to both cores: a card's metrics replaced by a copy
    equal to them (another object), or by new ones (proven or not, a calibration slope and an edge bias of any kind,
    nan among them), or a signal's weight set (to its value again, too)."""
    i = int(rng.integers(3))
    kind = int(rng.integers(3))
    proven, slope = bool(rng.integers(2)), _SLOPES[rng.integers(len(_SLOPES))]
    bias = _BIASES[rng.integers(len(_BIASES))]
    w = _WEIGHTS[rng.integers(len(_WEIGHTS))]
    for core in cores:
        card = core._cards[i]
        if kind == 0:
            card._metrics = dataclasses.replace(card._metrics)
        elif kind == 1:
            card._metrics = dataclasses.replace(card._metrics, proven=proven, calibration_slope=slope,
                                                edge_bias_bps=bias)
        else:
            core.signals.set_weight(core.signals.signals[i].name, float(str(w)))  # (a float object of its own)


def _replay(session, old: AgentCore, new: AgentCore, stop_at: int | None = None,
            perturb: np.random.Generator | None = None) -> tuple[int, int, int]:
    """Both cores fed the session's events, compared after each; ``stop_at``: both stopped (as a kill leaves
    them) from that event on, so that acks landing after it are pulled. Returns the acks handled, and how many of
    them sent a command (a pull), and the timer ticks that found errors in the error counter's window."""
    _, events, _ = session
    acks = pulled = busy = 0
    for i, ev in enumerate(events):
        busy += type(ev) is Timer and bool(new.errors._ts)
        if i == stop_at:
            old.stopped = new.stopped = True
        if perturb is not None and type(ev) is Timer and ev.name != AFTER_CYCLE and perturb.random() < 0.1:
            _perturb(perturb, (old, new))
        got, want = new.handle(ev), old.handle(ev)
        assert repr(got) == repr(want), (i, ev)
        assert _state(new) == _state(old), (i, ev)
        assert repr(new.drain_records()) == repr(old.drain_records()), (i, ev)
        if type(ev) is OrderAcknowledged or type(ev) is ModifyAcknowledged:
            acks += 1
            pulled += bool(got)
    return acks, pulled, busy


def _cores(session) -> tuple[AgentCore, AgentCore]:
    cfg, _, inst = session
    return (_CoreAt236138b(cfg, np.random.default_rng(0), tick=inst.tick, sz_decimals=inst.sz_decimals),
            AgentCore(cfg, np.random.default_rng(0), tick=inst.tick, sz_decimals=inst.sz_decimals))


class _Replayed:
    """The session replayed once into the old core and the new (not stopped, nothing perturbed), compared after every
    event (_replay): the cores as it left them, its counts, or the mismatch it stopped at. Shared by the tests that
    ask that one replay about different handlers (acks, prints and bbos, the dispatch, the book, the safety inputs):
    each replayed it alone before, five replays of the same events for the same comparisons."""

    def __init__(self, session) -> None:
        self.old, self.new = _cores(session)
        self.failed: AssertionError | None = None
        try:
            self.counts = _replay(session, self.old, self.new)
        except AssertionError as e:
            self.failed = e

    def checked(self) -> tuple[AgentCore, AgentCore, tuple[int, int, int]]:
        """(old, new, (acks, pulled, busy)), once the replay matched at every event; its mismatch raised otherwise."""
        if self.failed is not None:
            raise self.failed
        return self.old, self.new, self.counts


@pytest.fixture(scope="module")
def replayed(session) -> _Replayed:
    return _Replayed(session)


@pytest.mark.parametrize("stop_frac", [None, 0.5])
def test_acks_have_their_handlers_and_do_as_handles_fall_through_did(session, stop_frac, request):
    """Acks (two events in five of a stress session) have handlers of their own, off handle's fall-through: the
    same round trips to graduation (an order's first ack only, a modify's under its new cloid), the same tracker,
    and an ack of an order resting after a stop pulled, under the same cloid, as at 236138b. Broken on purpose
    (_on_modify_ack looking up ``ev.cloid`` for ``ev.new_cloid``), this fails: the ack latency's EWMA parts."""
    _, events, _ = session
    stop_at = None if stop_frac is None else int(stop_frac * len(events))
    if stop_at is None:
        _, new, (acks, pulled, _) = request.getfixturevalue("replayed").checked()
    else:
        old, new = _cores(session)
        acks, pulled, _ = _replay(session, old, new, stop_at)
    assert acks > 100
    assert (pulled > 0) == (stop_at is not None)
    assert new.graduation._ack_ts > 0.0


def test_prints_and_bbos_are_handled_as_at_236138b(session, replayed):
    """A print's handler has its made time (_made_at) and the paper fill models' call (_paper_trade) written out, a
    bbo's its touch (_take_touch): the same made times to the gap model, the same touch and mid, every event of
    the session compared, as at 236138b. Broken on purpose (a print's made time without the clocks' offset,
    ``made_ms * 1e-3``), this fails: the gap model's sums part."""
    _, events, _ = session
    _, new, _ = replayed.checked()
    kinds = {type(ev).__name__ for ev in events}
    assert {"TradeObserved", "BboUpdated", "BookUpdated"} <= kinds
    assert any(type(ev).__name__ == "TradeObserved" and ev.tid >> 64 > 0 for ev in events)  # venue times given
    assert new.graduation.shadow.paper_volume > 0.0


def test_every_event_is_dispatched_by_a_subscript_as_handle_did_at_236138b(session, replayed):
    """handle looks every event's handler up with a subscript of _Dispatch, whose missing types (cancels' answers,
    429s, the venue's own cancels) get _on_other, handle's fall-through at 236138b: the session replayed into a
    core with that handle, compared after every event, and the dispatch keeps each type met under its handler.
    Broken on purpose (the acks' entries left out of the dispatch, so that they fall to _on_other), this fails."""
    _, events, _ = session
    _, new, _ = replayed.checked()
    met = {type(ev) for ev in events}
    assert {"CancelAcknowledged", "CancelRejected"} <= {t.__name__ for t in met}
    assert all(t in new._dispatch for t in met)
    assert new._dispatch[type(next(ev for ev in events if type(ev).__name__ == "CancelRejected"))] == new._on_other


def test_the_quote_cycles_validation_memo_holds_as_at_236138b_under_changing_metrics_and_weights(session):
    """The quote cycle keeps its validation factors while the cards' metrics and the signals' weights hold: one tuple
    compared (a tuple's == takes an object as equal to itself at once, then asks equal metrics field by field), not
    six names tested by identity and equality. The session replayed into the old core (_quote at 236138b, verbatim)
    and the new, the metrics and weights changed alike in both at one cycle in ten (copies equal to the last,
    new ones proven or not with slopes and edge biases nan, negative, within and past 1, weights set to the same
    value again), compared after every event: the records (their steps: the widening, the shifts) and commands are
    the same. Broken on purpose (the weights left out of the memo's key, ``vkey = (m0, m1, m2)``), this fails."""
    old, new = _cores(session)
    _replay(session, old, new, perturb=np.random.default_rng(7))
    assert any(c._metrics.proven for c in new._cards) or new._validation_key[0] is not None


def test_the_quote_cycles_record_sees_the_budgets_headroom_as_at_236138b(session):
    """The cycle's record takes the address budget's headroom as the property's body, cap - used, written out: the
    session replayed into the old core (_quote at 236138b, reading the property) and the new, the records compared
    after every event (the headroom moving, as the budget is spent and reported). Broken on purpose (``budget.used -
    budget.cap``), this fails."""
    old, new = _cores(session)
    _, events, _ = session
    seen = []
    for i, ev in enumerate(events):
        got, want = new.handle(ev), old.handle(ev)
        assert repr(got) == repr(want), (i, ev)
        recs, old_recs = new.drain_records(), old.drain_records()
        assert repr(recs) == repr(old_recs), (i, ev)
        seen += [r["inputs"]["headroom"] for r in recs if r.get("type") == "cycle"]
    assert len(set(seen)) > 10 and all(type(h) is int for h in seen)  # (it moves: the budget is spent and reported)


def test_a_book_update_is_handled_as_at_236138b(session, replayed):
    """A book update's handler reads the event's fields, the touch and the mid once, into locals: the session replayed
    into the old core (_on_book at 236138b, verbatim) and the new, compared after every event (the touch, the mid,
    every model the book feeds, pickled, and the tracker's feed time, the clocks' offset, the book's venue and local
    times and its mid: _state). Broken on purpose (the clocks' offset taken from the venue time without its scale,
    ``ts - vt``), this fails."""
    _, events, _ = session
    _, new, _ = replayed.checked()
    books = sum(type(ev).__name__ == "BookUpdated" for ev in events)
    assert books > 100 and new._venue_offset < math.inf


def test_the_safety_inputs_error_count_is_asked_only_of_a_window_with_errors_as_at_236138b(replayed):
    """The quote cycle's safety inputs ask the error counter only when its window holds any (count's own first test):
    the session replayed into the old core (_update_safety at 236138b, verbatim, asking every tick) and the new,
    compared after every event (the escalator and the error counter pickled among the state), the session's errors
    (rejections) seen. Broken on purpose (the count asked only of an empty window, ``if not errors._ts``: the window
    is never pruned), this fails."""
    _, _, (_, _, busy) = replayed.checked()
    assert busy > 100  # (ticks with errors in the window: the count asked)
