"""Online regime model: a 2-state Gaussian hidden Markov model on fixed-cadence log returns.

Forward filtering gives P(stressed) per observation in O(1); emission means and variances are
re-estimated online from exponentially forgotten, posterior-weighted sufficient statistics (a
stochastic online EM). State 1 is always the high-variance ("stressed") one. No clock reads.

A two-state model fitted to a market in one regime splits it into two states barely apart (in a
calm twin market its stressed state is some 10% more volatile than its calm one) and its posterior
then swings on noise: above 0.5 a fifth of the time and above 0.95 a few times an hour, each time
widening the quotes and, through the safety rule on it, halving them. Two states closer than
``min_vol_ratio`` are taken as one regime, and P(stressed) reads 0 until they separate (the filter
runs on, so it is ready when they do: in twin runs with real stressed spells, detection at 0.95
fell from 0.80 to 0.77-0.79 and came within a minute of the first switch). The states start apart by
less than that, so the start's own split is not read as two regimes.
"""
from __future__ import annotations

import math

from pydantic import Field

from common.files import FileModel

_LOG_2PI = math.log(2.0 * math.pi)


class RegimeConfig(FileModel):
    step_s: float = Field(1.0, ge=0.01, le=3600.0, description=(
        "Cadence of the returns the model sees, s; on_mid samples the mid on this grid."))
    stay_calm: float = Field(0.995, ge=0.001, lt=1, description=(
        "P(calm at the next step | calm now); mean calm dwell = step_s/(1 − this)."))
    stay_stressed: float = Field(0.99, ge=0.001, lt=1, description="P(stressed at the next step | stressed now).")
    stats_halflife_obs: float = Field(2000.0, gt=1, le=1e8, description=(
        "Half-life of the sufficient statistics, observations: how fast emission parameters adapt."))
    warmup_obs: int = Field(50, ge=2, le=1_000_000, description=(
        "Returns collected before the model starts; p_stressed is 0 until then."))
    init_var_ratio: float = Field(2.0, gt=1, le=1e4, description=(
        "Stressed/calm variance ratio the states start from, around the warm-up sample variance. Keep it below "
        "min_vol_ratio squared: a split the model starts from is not evidence of two regimes (at 4 a one-regime "
        "series read stressed for its first hundred returns, while the start's split faded)."))
    prior_obs: float = Field(20.0, ge=1e-3, le=1e7, description=(
        "Pseudo-observations each state's initial parameters carry (resists early collapse)."))
    learn_means: bool = Field(False, description=(
        "Estimate per-state means; off keeps them 0 (returns over seconds have no usable drift)."))
    min_var: float = Field(1e-16, ge=1e-30, le=1.0, description="Variance floor per state, (log return)² per step.")
    stressed_threshold: float = Field(0.5, ge=0.001, lt=1, description="regime is 1 when p_stressed exceeds this.")
    min_vol_ratio: float = Field(1.5, ge=1.0, le=100.0, description=(
        "Stressed over calm volatility below which the two states are one regime and p_stressed reads 0 "
        "(1 turns the rule off; the twin's stressed regime is some 3x the calm one's)."))
    max_flat_steps: int = Field(60, ge=1, le=1_000_000, description=(
        "Steps a mid that does not move at all is folded into the next move's return, at most; past that they "
        "close as one return of 0 (a market that went still after a stressed spell reads calm, not stressed for "
        "as long as it stays still)."))


class RegimeModel:
    """``update(ts, ret) -> p_stressed`` for a return over one ``step_s``; or ``on_mid(ts, mid)``."""

    __slots__ = ("cfg", "_lam", "_p1", "_n", "_w0", "_w1", "_s0", "_s1", "_q0", "_q1",
                 "mu", "var", "_warm", "_warm_s", "_warm_q", "ts", "_grid_ts", "_grid_mid", "_min_var_ratio",
                 "_p_stressed", "_moved", "_step_s", "_max_flat_steps", "_warmup_obs", "_stay_calm",
                 "_stay_stressed", "_learn_means", "_min_var")

    def __init__(self, config: RegimeConfig | None = None) -> None:
        self.cfg = config or RegimeConfig()
        self._lam = 0.5 ** (1.0 / self.cfg.stats_halflife_obs)
        self._min_var_ratio = self.cfg.min_vol_ratio ** 2
        # read at every book (on_mid) and every step's update: kept here, not read through the config each time (a
        # pydantic model's attribute, behind a class with __getattr__, the interpreter cannot specialize); the config
        # is the model's for its life
        cfg = self.cfg
        self._step_s, self._max_flat_steps, self._warmup_obs = cfg.step_s, cfg.max_flat_steps, cfg.warmup_obs
        self._stay_calm, self._stay_stressed = cfg.stay_calm, cfg.stay_stressed
        self._learn_means, self._min_var = cfg.learn_means, cfg.min_var
        self._p1 = 0.0  # filtered P(stressed | returns so far)
        self._p_stressed = 0.0  # p_stressed as of the last update (read every quote cycle, changed only by updates)
        self._n = 0
        # per state: Σγ, Σγr, Σγr² (forgotten at rate λ per observation)
        self._w0 = self._w1 = self._s0 = self._s1 = self._q0 = self._q1 = 0.0
        self.mu = [0.0, 0.0]
        self.var = [math.nan, math.nan]
        self._warm = 0
        self._warm_s = self._warm_q = 0.0
        self.ts = math.nan
        self._grid_ts = math.nan
        self._grid_mid = math.nan
        self._moved = False  # a mid other than the grid's has come since the last step closed

    # ---- input

    def on_mid(self, ts: float, mid: float) -> float | None:
        """Sample the mid on the ``step_s`` grid; when a step closes, update on its log return.

        A gap of k steps becomes one observation of the return scaled by 1/√k (variance per step); so do steps in
        which no mid other than the last step's came, with the first step in which one does, up to
        ``max_flat_steps`` of them (then they close as a return of 0).
        Returns p_stressed when an update ran, else None.
        """
        if not (0.0 < mid < math.inf):
            return None
        if self._grid_ts != self._grid_ts:
            self._grid_ts, self._grid_mid = ts, mid
            return None
        if mid != self._grid_mid:
            self._moved = True
        k = math.floor((ts - self._grid_ts) / self._step_s)
        if k < 1 or (not self._moved and k < self._max_flat_steps):
            # a mid that has not moved at all closes no step: the steps it spans go into the next move's, as a gap's
            # do. Taken one by one, ten minutes of a flat mid fed the calm state zeros until its variance was nearly
            # none; the market moving again at its old volatility then read stressed (P > 0.5 for 93% of the next
            # hour), and the calm state, given no weight, never learnt otherwise. (A mid that moved and came back
            # is a return of 0, observed.) Past max_flat_steps the stillness is an observation, a return of 0 over
            # them all: folded without end, a stressed spell followed by a still mid held P(stressed) where the
            # spell left it (spreads x1.5, Yellow) for as long as the mid stayed still.
            return None
        ret = math.log(mid / self._grid_mid) / math.sqrt(k)
        self._grid_ts += k * self._step_s
        self._grid_mid = mid
        self._moved = False
        return self.update(ts, ret)

    def update(self, ts: float, ret: float) -> float:
        """One return over ``step_s`` (log units); returns P(stressed) (``p_stressed``)."""
        ret = float(ret)
        if ret != ret or abs(ret) == math.inf:
            return self._p_stressed
        self.ts = ts
        self._n += 1
        if self._warm < self._warmup_obs:
            self._warm += 1
            self._warm_s += ret
            self._warm_q += ret * ret
            if self._warm == self._warmup_obs:
                self._start()
            return self._read_p_stressed()
        # predict: P(stressed) after one transition
        p1 = self._p1
        prior1 = (1.0 - p1) * (1.0 - self._stay_calm) + p1 * self._stay_stressed
        # emission log-likelihoods
        mu0, mu1 = self.mu
        v0, v1 = self.var
        d0 = ret - mu0
        d1 = ret - mu1
        l0 = -0.5 * (_LOG_2PI + math.log(v0) + d0 * d0 / v0)
        l1 = -0.5 * (_LOG_2PI + math.log(v1) + d1 * d1 / v1)
        # posterior in log space: γ1 = 1/(1 + exp(a0 − a1))
        a0 = math.log1p(-prior1) + l0 if prior1 < 1.0 else -math.inf
        a1 = math.log(prior1) + l1 if prior1 > 0.0 else -math.inf
        z = a0 - a1
        g1 = 1.0 / (1.0 + math.exp(z)) if z < 700.0 else 0.0
        g1 = min(max(g1, 1e-12), 1.0 - 1e-12)  # a state never becomes impossible
        g0 = 1.0 - g1
        self._p1 = g1
        # M-step on forgotten, posterior-weighted sufficient statistics
        lam = self._lam
        self._w0 = lam * self._w0 + g0
        self._w1 = lam * self._w1 + g1
        self._s0 = lam * self._s0 + g0 * ret
        self._s1 = lam * self._s1 + g1 * ret
        self._q0 = lam * self._q0 + g0 * ret * ret
        self._q1 = lam * self._q1 + g1 * ret * ret
        self._refit()
        return self._read_p_stressed()

    def _start(self) -> None:
        cfg = self.cfg
        n = self._warm
        mean = self._warm_s / n if cfg.learn_means else 0.0
        v = max(self._warm_q / n - (mean * mean if cfg.learn_means else 0.0), cfg.min_var)
        # calm and stressed variances around v in the configured ratio (geometric mean = v)
        r = math.sqrt(cfg.init_var_ratio)
        w = cfg.prior_obs
        self._w0 = self._w1 = w
        self._s0 = self._s1 = w * mean
        self._q0 = w * (v / r + mean * mean)
        self._q1 = w * (v * r + mean * mean)
        self._p1 = (1.0 - cfg.stay_calm) / (2.0 - cfg.stay_calm - cfg.stay_stressed)  # stationary
        self._refit()

    def _refit(self) -> None:
        learn, min_var = self._learn_means, self._min_var
        mu0 = self._s0 / self._w0 if learn else 0.0
        mu1 = self._s1 / self._w1 if learn else 0.0
        v0 = max(self._q0 / self._w0 - mu0 * mu0, min_var)
        v1 = max(self._q1 / self._w1 - mu1 * mu1, min_var)
        if v0 > v1:  # keep state 1 the high-variance one: relabel statistics and posterior
            self._w0, self._w1 = self._w1, self._w0
            self._s0, self._s1 = self._s1, self._s0
            self._q0, self._q1 = self._q1, self._q0
            self._p1 = 1.0 - self._p1
            mu0, mu1, v0, v1 = mu1, mu0, v1, v0
        self.mu[0], self.mu[1] = mu0, mu1
        self.var[0], self.var[1] = v0, v1

    # ---- output

    @property
    def ready(self) -> bool:
        return self._warm >= self.cfg.warmup_obs

    @property
    def separated(self) -> bool:
        """The two states are two regimes: the stressed one at least ``min_vol_ratio`` as volatile."""
        return self._warm >= self._warmup_obs and self.var[1] >= self._min_var_ratio * self.var[0]

    @property
    def p_stressed(self) -> float:
        """P(stressed) as of the last return (0 until warmed up, and while the two states are one regime)."""
        return self._p_stressed

    def _read_p_stressed(self) -> float:
        """An update changed the state: p_stressed from it, kept for the reads until the next."""
        p = self._p_stressed = self._p1 if self.separated else 0.0
        return p

    @property
    def regime(self) -> int:
        """1 stressed, 0 calm (calm until warmed up)."""
        return 1 if self.p_stressed > self.cfg.stressed_threshold else 0

    @property
    def vol_ratio(self) -> float:
        """Stressed over calm standard deviation (nan until warmed up)."""
        return math.sqrt(self.var[1] / self.var[0]) if self.ready else math.nan

    def record(self) -> dict:
        sd = 1e4 / math.sqrt(self.cfg.step_s)
        return {
            "ts": self.ts, "ready": self.ready, "n_obs": self._n,
            "p_stressed": self.p_stressed, "regime": self.regime, "separated": self.separated,
            "calm_mean_bps": self.mu[0] * 1e4, "stressed_mean_bps": self.mu[1] * 1e4,
            # per-second volatility in bps (√var per step scaled to one second)
            "calm_vol_bps_per_s": math.sqrt(self.var[0]) * sd if self.ready else math.nan,
            "stressed_vol_bps_per_s": math.sqrt(self.var[1]) * sd if self.ready else math.nan,
            "stressed_weight_obs": self._w1,
        }
