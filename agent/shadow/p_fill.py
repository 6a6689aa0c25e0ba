"""Per-order P(fill) validation: the fill model GLFT quotes on, scored on the agent's real orders.

GLFT prices a quote δ from the mid on λ(δ) = A·e^(−kδ), the rate at which it fills, with the mid a Brownian motion
of σ (A, k and σ as the quote cycle had them: ``agent.quoting.estimators``, or the priors). A quote rests at its
price while the mid moves, so over a horizon T that model says it fills with probability
P = 1 − E[exp(−∫₀ᵀ λ(δ + σW_t) dt)], its distance from the mid moving with the mid (``fill_probability``: a lattice
walk of the mid, no draws). Each quote the agent places at a level that places orders (a place, or a modify's new
leg) and the venue acknowledges is scored against what happened to it: filled within T of its acknowledgement (1),
or rested T unfilled (0).

The mid's move. Until 7 December P was 1 − e^(−λ(δ)·T), δ held for all of T: at the twin's σ ≈ 9 USD per √s the mid
moves some 9 USD in a second while λ falls e-fold in 1/k ≈ 1.7 USD, so most fills are of quotes the mid came to,
which λ(δ) at the quote's first distance does not carry. That P fell twentyfold from the touch to 8 ticks out where
the fills within 1 s fell from 0.6 to 0.3: on 10-minute twin sessions (bench/bench_p_fill.py: the stress and
default bench profiles at Full and the default at MicroLive, seeds 1-3) its skill was −0.19 on average, worse than
the base rate on 8 of 9, Cox slope 0.10-0.25. Moving with the mid its skill is above 0 on all 9 (+0.004 to +0.12, a
mean of +0.042; Cox slope 0.56-1.17). The quote's distance is from the mid the cycle priced it on; by the time the
venue has it the mid has moved on for about the order's round trip (its sent to its ack): a quote the mid passed
meanwhile is refused post-only, not scored, so the forecast is of a quote still on its side of the mid at its
arrival (the mid moved over the round trip, the outcomes where it crossed the quote left out; without that, a mean
skill of +0.013, below 0 on 3 of 9, Cox slope 0.39-0.83). What it misses: at the stress bench's 100 ms cycle it
says 0.38-0.41 where 0.30-0.31 is scored. That is the score's fault, not the forecast's: the twin can say what each
quote would have done had it rested T (bench_p_fill.py --crossed: its fill, or the book crossing its price within T
of its ack, cancelled or not; on the twin fills are crossings, 0.40 and 0.40 of the quotes left resting), and against
that, every quote scored and none censored, the forecast says 0.36-0.40 where 0.33-0.38 filled, skill +0.06 to +0.15
(Cox 0.76-0.93), and within 0.02 at the other two setups. The weights fail because a quote's move is no independent
censoring: the agent moves a quote when its desired price leaves a band about it (agent.execution.reconcile: 1.5
ticks on the side nearer the touch), which is when the mid comes to it, where it was about to fill (two moves in
three on the stress bench's seed 1 are of quotes the mid came to, by a median 5 USD), and since there the move is
certain, no weight, whatever it is conditioned on, can stand in for the quotes moved: the weighted rate falls
0.04-0.07 short of the rate had they rested. That rate is not in the agent's record: it would take the book after
the cancel, or a forecast of the fill before the move that models the requote rule (its bands, by level, and the
cycle), which this scorer is not given. Counting a moved quote filled where a later cycle's mid passed its price
within T overshoots (0.40 for 0.37, seed 1: those still censored are the quotes the mid left), and scoring P over
the time each quote rested is no proper score (a fill's time to its would-be move is not seen: skill −0.34 to
−0.73, seed 1 of each setup). And quotes
at the touch (δ = 0.5, the twin's spread a tick) fill less than it says (0.45-0.61 had they rested, for 0.66-0.68),
where those a tick behind fill as forecast (0.54-0.62 for 0.59-0.62). Not the lattice (a walk four times finer moves
it 0.68 → 0.66), nor the post-only refusal (on the twin's tick grid a quote the mid has not passed is one the book
has not crossed): on the twin a quote fills when the book crosses it (0.40 of the quotes left resting filled, 0.40
crossed; its prints at the touch go to the displayed size queued ahead), a touch quote when the mid falls a tick,
and the twin's mid moves in jumps (8.5 a second, a median 2 ticks), not as a diffusion: within a second it fell a
tick 0.81 of the time, 2 ticks 0.74, 5 ticks 0.52, where a Brownian motion of its σ (8.7 USD per √s) falls 0.91,
0.82 and 0.56 (the stress bench, seed 1). Over a tick or two the walk reaches a quote more surely than the twin's
mid does, and λ(δ) = A·e^(−kδ), fitted over the depths, gives a touch quote A·e^(−k/2) ≈ 2.2 fills a second with the
mid standing still where the twin gives none. Both are GLFT's model (the mid a Brownian motion, fills at λ of the
distance), which this scores as the quotes use it: not changed here.

Censoring. Most quotes are moved within seconds (at a 100 ms cycle a third within 1 s): whether they would have
filled within T is never seen. Left out, the orders scored are the quick fills and the quotes that stood still
(on the stress bench at T = 2 s: 61% filled against 44% once weighted); scored with P over the time they rested
(P smaller, outcome 0), the fills that came before a cancel are scored with the whole T while the orders they
race are not, and the observed rate fell to 32%. So the score is the time-dependent Brier score for censored
outcomes (Graf et al., Stat. Med. 1999): an order cancelled or replaced before T unfilled (or, at the summary, still
live unfilled and younger than T: the run ended first) is left out, and every
other is weighted by the inverse of the probability of still being uncensored when its outcome was settled
(a fill at t: 1/G(t−), rested T: 1/G(T)), G the Kaplan-Meier survival of the time to cancel or replace. That is
unbiased when when a quote is moved does not depend on whether it was about to fill; the agent moves its quotes
as the mid moves, which also brings fills, so on the venue it is the least biased of the three, not exact (with
moves independent of fills it recovers the true rate: tests/agent/test_p_fill.py; where the moves follow the mid
as at the stress bench's 100 ms cycle, it is 0.04-0.07 short: What it misses, above). ``outcome_known_share`` is
G(T); below ``_MIN_KNOWN`` the weights rest on a few orders and no score is given (T too long for how long the
quotes rest).

Late fills. A fill may be delivered after its order's end (the channels race): the outcome waits ``grace_s`` for it.
One delivered later still (made in an outage, recovered at the reconnect) corrects the outcome of the quote it
filled, resolved unfilled, for ``_LATE_S``: cheaper than holding every resolution until the fills are known
complete, which a live feed never says.

Sans-IO and cheap: per order a pending entry until its outcome is known (seconds), then 57 bytes in a ring of
the last ``window`` resolved orders (``shadow.p_fill_window``: the score is of those; a live run lasts days, and a
day of the stress bench's 100 ms cycle resolves some 600k), resolved from the order tracker's state once a second
at most (in the after-cycle work); the forecasts (of the orders resolved since the summary before: a full window's
take 0.56 s of CPU), the Kaplan-Meier curve and the scores only in ``summary``, on the ring itself.
"""
from __future__ import annotations

import math

import numpy as np

from agent.execution.orders import TERMINAL
from agent.gateway.events import Batch, ModifyOrder, PlaceOrder, Side, Tif

_BINS = 10  # the reliability table's equal-width bins of P
_MIN_KNOWN = 0.1  # G(T) below this: the outcomes at T are known for too few orders to weigh the rest on them
_DROP = (-1.0, -1)  # an order not scored (unacknowledged, foreign, forgotten)
# how long a quote resolved unfilled can still be corrected by a fill delivered late (one made in an outage comes at
# the reconnect, past the grace): the order tracker's memory of an ended order (the core's prune)
_LATE_S = 600.0
# the lattice of fill_probability: steps over T (the mid's walk), and the reach of the round trip's spread of the
# mid, nodes (4 standard deviations, up to this many: a round trip long beside T/_STEPS is cut to ±_REACH nodes)
_STEPS = 20
_REACH = 48
_CHUNK = 8192  # orders a lattice at a time (its arrays: _CHUNK × (2·(_STEPS + _REACH) + 1) floats at most)
_BUY, _IOC = Side.BUY, Tif.IOC  # (one global read each, not a global and an attribute: on every quote placed)


class PFillScore:
    """Each real quote's P(fill) within ``horizon_s`` from the fill model GLFT quoted on, against its outcome."""

    __slots__ = ("horizon_s", "grace_s", "window", "_pending", "_fills", "_A", "_k", "_delta", "_sigma",
                 "_trip", "_time", "_filled", "_p", "_p_upto",
                 "resolved", "_late", "_next_ts")

    def __init__(self, horizon_s: float = 1.0, grace_s: float = 2.0, window: int = 100_000) -> None:
        self.horizon_s = horizon_s
        self.grace_s = grace_s  # a fill may come after the order's end (the channels race): waited for this long
        self.window = window
        self._pending: dict[str, tuple[float, float, float]] = {}  # cloid → (A, k, δ) until its outcome is known
        self._fills: dict[str, float] = {}  # cloid → when its first fill was made (pending orders only)
        # the last ``window`` resolved orders, a ring (order ``resolved % window`` goes to that slot): the model's A
        # and k, δ and σ (price units; σ per √s), the order's round trip (sent to ack, s), the time from the ack to
        # the order's fill, cancel or replace, at most T (s), and the outcome: 1 filled by then, 0 not (at T: rested
        # T unfilled; before T: censored)
        self._A, self._k, self._delta, self._sigma, self._trip, self._time = (np.empty(window) for _ in range(6))
        self._filled = np.empty(window, np.int8)
        # each one's P, worked out at a summary for those resolved since the one before (up to ``_p_upto``): a
        # full window's lattices take 0.56 s of CPU
        self._p = np.empty(window)
        self._p_upto = 0
        self.resolved = 0  # orders resolved in the run, scored or dropped from the ring
        # the orders resolved unfilled in the last _LATE_S, in the order resolved: cloid → (its number among the
        # resolved, its ack, when resolved), so that a fill delivered late corrects its outcome
        self._late: dict[str, tuple[int, float, float]] = {}
        self._next_ts = -math.inf

    # the ring's orders (views, in no particular order: the score does not depend on it)
    A = property(lambda self: self._A[:min(self.resolved, self.window)])
    k = property(lambda self: self._k[:min(self.resolved, self.window)])
    delta = property(lambda self: self._delta[:min(self.resolved, self.window)])
    sigma = property(lambda self: self._sigma[:min(self.resolved, self.window)])
    trip = property(lambda self: self._trip[:min(self.resolved, self.window)])
    time = property(lambda self: self._time[:min(self.resolved, self.window)])
    filled = property(lambda self: self._filled[:min(self.resolved, self.window)])

    def on_cycle(self, commands, mid: float, A: float, k: float, orders: dict, sigma: float = 0.0) -> None:
        """A quote cycle's commands, booked (``orders``: the tracker's, by cloid): its quotes, placed or modified,
        go pending with the mid and the model's A, k and σ (price units per √s) the cycle quoted on (an IOC is a
        flatten, not a quote)."""
        for c in commands:
            t = type(c)
            if t is Batch:
                self.on_cycle(c.commands, mid, A, k, orders, sigma)
                continue
            if t is PlaceOrder and c.tif is not _IOC:
                o = orders.get(c.cloid)
            elif t is ModifyOrder:
                o = orders.get(c.new_cloid)
            else:
                continue
            if o is not None:
                d = mid - o.px if o.side is _BUY else o.px - mid
                self._pending[o.cloid] = (A, k, d if d > 0.0 else 0.0, sigma)

    def on_fill(self, cloid: str, made_ts: float) -> None:
        """A real fill, made at ``made_ts``: a pending order's first is the one that counts. One delivered after its
        order was resolved unfilled (past the grace: recovered at a reconnect) corrects that outcome, if made
        within T of the ack and the order is still in the ring."""
        if cloid in self._pending:
            if cloid not in self._fills:
                self._fills[cloid] = made_ts
            return
        late = self._late.pop(cloid, None) if self._late else None
        if late is not None and self.resolved - late[0] <= self.window:
            e = made_ts - late[1]
            if e <= self.horizon_s:
                i = late[0] % self.window
                self._time[i] = e if e > 0.0 else 0.0
                self._filled[i] = 1

    def settle(self, ts: float, orders: dict) -> None:
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
        T, grace, fills, get, pending = self.horizon_s, self.grace_s, self._fills, orders.get, self._pending
        T_grace = T + grace
        # (over a copy: an order resolved leaves the pending ones at once, no second loop over a list of them)
        for cloid, entry in list(pending.items()):
            # _outcome's test written out (the summary asks _outcome; tests/agent/test_p_fill.py holds them alike),
            # a live order's branch first and apart: most pending orders are live, acknowledged, unfilled and younger
            # than T + grace, and pass here on a get, three tests and a subtraction
            o = get(cloid)
            if o is None or o.foreign:
                t, y = _DROP
            elif o.state not in TERMINAL:  # live
                start = o.acked_ts
                if start < 0.0:
                    continue  # its ack is to come
                f = fills.get(cloid)
                if f is None:
                    if ts - start >= T_grace:
                        t, y = T, 0
                    else:
                        continue
                else:
                    e = f - start
                    t, y = (e if e > 0.0 else 0.0, 1) if e <= T else (T, 0)
            else:
                start = o.acked_ts
                if start < 0.0:
                    t, y = _DROP
                else:
                    f = fills.get(cloid)
                    if f is None and o.filled_sz > 0.0:
                        f = o.last_update_ts
                    if f is not None:
                        e = f - start
                        t, y = (e if e > 0.0 else 0.0, 1) if e <= T else (T, 0)
                    else:
                        lu = o.last_update_ts
                        e = lu - start
                        if e < T:
                            if ts - lu >= grace:
                                t, y = (e if e > 0.0 else 0.0), 0
                            else:
                                continue
                        elif ts - start >= T_grace:
                            t, y = T, 0
                        else:
                            continue
            del pending[cloid]
            if cloid in fills:
                del fills[cloid]
            if y >= 0:
                n = self.resolved
                i = n % self.window
                self._A[i], self._k[i], self._delta[i], self._sigma[i] = entry
                self._trip[i] = start - o.sent_ts  # (o and start: read above, for every order scored; ≥ 0)
                self._time[i] = t
                self._filled[i] = y
                if not y:
                    late[cloid] = (n, start, ts)  # (start: the order's acked_ts, read above)
                self.resolved = n + 1

    def _outcome(self, cloid: str, orders: dict, ts: float, grace: float,
                 end: bool = False) -> tuple[float, int | None]:
        """(time from the ack, outcome) of a pending order as known at ``ts``; outcome None: not known yet, −1: not
        scored. ``end``: the observation ends at ``ts``, so a quote still live, unfilled and younger than T is
        censored at its age. (settle writes this test out: a change here is one there.)"""
        o = orders.get(cloid)
        if o is None or o.foreign:
            return _DROP
        start = o.acked_ts
        if start < 0.0:
            # ended unacknowledged (rejected, or never reached the venue): not scored; else its ack is to come
            return (-1.0, None) if o.live else _DROP
        T = self.horizon_s
        f = self._fills.get(cloid)
        if f is None and o.filled_sz > 0.0 and not o.live:
            f = o.last_update_ts  # (a fill not passed on, an overfill's booked nothing: when it was known)
        if f is not None:  # filled: at the fill if within T (a fill made before its ack was delivered: at 0)
            e = f - start
            return (e if e > 0.0 else 0.0, 1) if e <= T else (T, 0)
        if not o.live:
            e = o.last_update_ts - start
            if e < T:  # cancelled or replaced before T: censored at its end (once a fill racing it had its grace)
                return ((e if e > 0.0 else 0.0, 0) if ts - o.last_update_ts >= grace else (-1.0, None))
        if ts - start >= T + grace:
            return T, 0  # rested T unfilled (the fill that could say otherwise had its grace)
        if end and o.live:
            # left out, the quotes filled in the run's last T would count and their unfilled peers not: censored
            # at its age (the run's end, as a cancel, says nothing of whether it was about to fill)
            e = ts - start
            return e if e > 0.0 else 0.0, 0
        return -1.0, None

    def summary(self, ts: float = math.inf, orders: dict | None = None) -> dict:
        """The summary's ``shadow.p_fill``: the resolved orders, and those pending as known at ``ts`` without
        waiting out the grace (the run's end): a quote still live and younger than T censored at its age. Changes
        nothing but the forecasts kept (a live run's checkpoint asks every minute, on its event loop: the orders
        resolved since the last, not a full window's 0.56 s of CPU each time)."""
        n, W = self.resolved, self.window
        lo = max(self._p_upto, n - W)
        if lo < n:
            i = np.arange(lo, n) % W
            self._p[i] = fill_probability(self._A[i], self._k[i], self._delta[i], self._sigma[i], self._trip[i],
                                          self.horizon_s)
            self._p_upto = n
        p, t, y = self._p[:min(n, W)], self.time, self.filled.astype(float)
        if orders is not None:
            more = []
            for cloid, entry in self._pending.items():
                e, out = self._outcome(cloid, orders, ts, 0.0, True)
                if out is not None and out >= 0:
                    o = orders[cloid]
                    more.append((*entry, o.acked_ts - o.sent_ts, e, out))
            if more:
                m = np.array(more, float).T
                p = np.concatenate((p, fill_probability(*m[:5], self.horizon_s)))
                t, y = np.concatenate((t, m[5])), np.concatenate((y, m[6]))
        return score(p, t, y, self.horizon_s)


def fill_probability(A: np.ndarray, k: np.ndarray, delta: np.ndarray, sigma: np.ndarray, trip: np.ndarray,
                     horizon_s: float) -> np.ndarray:
    """P(fill within T) of quotes resting at their price, under GLFT's model: fills at λ(x) = A·e^(−kx) of the
    quote's distance x from the mid, the mid a Brownian motion of ``sigma`` (price units per √s), x = ``delta`` at the
    price (the module's doc), moved over the ``trip`` (s) before the quote is at the venue and kept only where it is
    still on its side then (x > 0: a quote the mid passed is refused post-only, never scored).

    No draws: the mid walks a lattice of spacing h = σ·√(T/_STEPS), a step up or down each T/_STEPS, and the
    probability of no fill from every node is worked back from T (survive a step at e^(−λ(x)·T/_STEPS), then half
    each way); the trip's move is a normal of std σ·√trip over the nodes. At σ = 0 it is 1 − e^(−λ(δ)·T), the form
    used until 7 December. On 18,000 quotes filled as the model says (a walk ten times finer, a Poisson clock) it is
    within 0.01 of the rate filled in every tenth of P that holds 500 of them (tests/agent/test_p_fill.py)."""
    A, k, delta, sigma, trip = (np.asarray(a, float) for a in (A, k, delta, sigma, trip))
    n = len(A)
    out = np.empty(n)
    if n == 0:
        return out
    dt = horizon_s / _STEPS
    spread = np.sqrt(np.maximum(trip, 0.0) / dt)  # the trip's std in nodes (h each)
    R = int(min(_REACH, math.ceil(4.0 * float(spread.max()))))
    M = _STEPS + R  # (a node's value is wrong from the lattice's edge inwards by a node a step: those read are not)
    node = np.arange(-M, M + 1, dtype=float)
    z = node[_STEPS:_STEPS + 2 * R + 1]  # the nodes the trip reaches, the quote's own at 0
    for lo in range(0, n, _CHUNK):
        sl = slice(lo, lo + _CHUNK)
        x = delta[sl, None] + (sigma[sl] * math.sqrt(dt))[:, None] * node
        stay = np.exp(-A[sl, None] * np.exp(np.minimum(-k[sl, None] * x, 700.0)) * dt)
        V = np.ones_like(x)
        for _ in range(_STEPS):
            V[:, 1:-1] = stay[:, 1:-1] * 0.5 * (V[:, :-2] + V[:, 2:])
        s = spread[sl, None]
        w = np.where(s > 0.0, np.exp(-0.5 * (z / np.where(s > 0.0, s, 1.0)) ** 2), z == 0.0)
        w = w * (x[:, _STEPS:_STEPS + 2 * R + 1] > 0.0)
        w[w.sum(1) == 0.0, R] = 1.0  # (δ = 0 with no move: at the mid)
        out[sl] = 1.0 - (w * V[:, _STEPS:_STEPS + 2 * R + 1]).sum(1) / w.sum(1)
    return out


def _censoring_survival(t: np.ndarray, censored: np.ndarray):
    """Kaplan-Meier G(s−) = P(not censored before s), of the orders' times ``t`` (at most T) and which of them
    were censored: a function of an array of times. At a time a fill and a censoring share, the fill comes first
    and is not at risk of it: so the weights sum to the orders and the weighted fill rate is the Kaplan-Meier one
    (with the fill at risk, a fill and a cancel at one time among 4 orders gave 0.27 for 0.25)."""
    times, at = np.unique(t, return_counts=True)
    events = np.bincount(np.searchsorted(times, t[censored]), minlength=len(times))
    # at risk of each time's censorings: the orders after it and those censored at it (at T, no censoring: 1)
    at_risk = np.maximum(len(t) - np.cumsum(at) + events, 1)
    after = np.cumprod(1.0 - events / at_risk)  # G just after each time

    def before(s: np.ndarray) -> np.ndarray:
        i = np.searchsorted(times, s, side="left") - 1  # the last time strictly before s
        return np.where(i >= 0, after[np.maximum(i, 0)], 1.0)
    return before


def _logit_slope(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> float | None:
    """Cox's calibration slope: b of the weighted logistic regression logit P(y) = a + b·logit(p) (Newton's method,
    each step halved until the likelihood rises). 1 when the log-odds spread as the outcomes do; a k wrong by a
    factor spreads them by about that factor, where the OLS slope (on p itself) hardly moves. None without spread
    in p, when it does not converge, or where the likelihood has no maximum: every outcome alike (a few quotes, none
    filled), or the fills all above the rest in P (separated: the fitted probabilities reach the outcomes as the slope
    runs off, and the number Newton's method stops at is no estimate)."""
    q = np.clip(p, 1e-9, 1.0 - 1e-9)
    X = np.column_stack((np.ones_like(q), np.log(q / (1.0 - q))))

    def loglik(beta: np.ndarray) -> float:
        z = X @ beta
        return float(w @ (y * z - np.logaddexp(0.0, z)))

    beta = np.array([0.0, 1.0])
    ll = loglik(beta)
    for _ in range(100):
        mu = 0.5 * (1.0 + np.tanh(0.5 * (X @ beta)))  # (the logistic function, without overflow)
        H = X.T @ (X * (w * mu * (1.0 - mu))[:, None])
        try:
            step = np.linalg.solve(H, X.T @ (w * (y - mu)))
        except np.linalg.LinAlgError:
            return None
        for _ in range(30):
            new = loglik(beta + step)
            if new >= ll:
                break
            step = 0.5 * step
        beta = beta + step
        converged = abs(new - ll) <= 1e-12 * max(1.0, abs(ll))
        ll = new
        if converged:
            if np.abs(y - 0.5 * (1.0 + np.tanh(0.5 * (X @ beta)))).max() < 1e-6:  # (every outcome alike too)
                return None
            return round(float(beta[1]), 4) if np.isfinite(beta[1]) else None
    return None


def score(p: np.ndarray, t: np.ndarray, y: np.ndarray, horizon_s: float) -> dict:
    """P(fill) of each order (``p``: ``fill_probability``'s) scored against ``y`` (1 filled at ``t``
    ≤ T; 0 at t = T rested T unfilled, at t < T censored), weighted for the censoring (the module's doc). Brier
    against the base rate's (the observed rate predicted for every order), the calibration slope (the weighted
    OLS slope of the outcome on P, as the signal scorecards') and Cox's (on logit P), and the reliability table
    (equal-width bins of P)."""
    n = len(t)
    censored = (y == 0) & (t < horizon_s)
    out = {"horizon_s": horizon_s, "orders": n, "filled": int(y.sum()), "censored": int(censored.sum()),
           "outcome_known_share": None, "predicted": None, "observed": None, "brier": None, "brier_base": None,
           "skill": None, "calibration_slope": None, "logit_slope": None, "reliability": []}
    if n == 0:
        return out
    G = _censoring_survival(t, censored)
    g_T = float(G(np.array([horizon_s]))[0])
    out["outcome_known_share"] = round(g_T, 4)
    if g_T < _MIN_KNOWN:
        return out
    known = ~censored
    w = 1.0 / G(np.where(y == 1, t, horizon_s))[known]  # 1/G(t−) a fill, 1/G(T) rested T
    p = np.asarray(p, float)[known]
    yk = y[known]
    W = w.sum()
    pm, ym = float(w @ p / W), float(w @ yk / W)
    brier, base = float(w @ (p - yk) ** 2 / W), ym * (1.0 - ym)
    var = float(w @ (p - pm) ** 2 / W)
    out.update(predicted=round(pm, 6), observed=round(ym, 6), brier=round(brier, 6), brier_base=round(base, 6),
               skill=round(1.0 - brier / base, 4) if base > 0.0 else None,
               calibration_slope=round(float(w @ ((p - pm) * (yk - ym)) / W) / var, 4) if var > 1e-12 else None,
               logit_slope=_logit_slope(p, yk, w))
    b = np.minimum((p * _BINS).astype(int), _BINS - 1)
    for i in np.unique(b):
        m = b == i
        wi = w[m].sum()
        out["reliability"].append({"p": round(float(w[m] @ p[m] / wi), 4),
                                   "observed": round(float(w[m] @ yk[m] / wi), 4), "orders": int(m.sum())})
    return out
