"""``MarketMakingEnv``: one twin session with the agent as a gymnasium environment (DESIGN §9).

An action sets the agent's quoting parameters for the next ``step_s`` simulated seconds (GLFT risk
aversion, spread and skew factors, ladder depth, level spacing and size, the requote threshold), given
as a point of [-1, 1]^7 and mapped onto each parameter's range (``PARAMETERS``). The observation
summarises the state: inventory as a share of the position limit, volatility, the quoted spread,
TradingConfidence, the safety level and the address quota's headroom. The reward is the step's net PnL
(fees included) less a penalty on inventory risk (the variance of the position's value accrued through the
step, Σ (position × mid × σ)² dt sampled every second, times ``inventory_penalty``) and one for each safety level escalated (``escalation_penalty``, USDC per
level). An episode ends after ``episode_s`` (truncated) or at a Kill (terminated: the agent has stopped).

The session runs the agent as it trades, fault models and safety ladder included, at exposure ``level``.
With ``pin_level`` (the default) the level holds for the whole episode: a search compares quoting
parameters at one exposure level, and a demotion (say, to Shadow, where nothing is placed) would leave the
rest of the episode measuring nothing; the safety ladder still acts on the quotes (Red pulls them, Kill
ends the episode), and each level it escalates costs ``escalation_penalty``. Without it the agent's
graduation runs as it does in a session, its ceiling at ``level``. Everything is seeded: the same
``reset(seed=...)`` and actions give the same episode.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from agent.config import AgentConfig
from agent.graduation.exposure import level_named, places_orders
from agent.graduation.governor import Graduation
from agent.session import build_session
from common.files import short_repr
from twin.params import TwinParams, market_problem
from common.units import MAX_DURATION_S


@dataclass(frozen=True, slots=True)
class Parameter:
    """One action dimension: where it goes in the agent config and the range [-1, 1] maps onto."""

    path: str  # "glft.gamma", "ladder.n_levels", "order_size", "reconcile.price_tolerance_ticks"
    lo: float
    hi: float
    scale: str = "linear"  # "linear", "log" (for multiplicative parameters) or "int" (lo … hi, an equal share each)

    def value(self, x: float) -> float | int:
        """The parameter's value at coordinate ``x`` (clipped to [-1, 1]), to 4 significant figures: a config
        a person reads, and finer than any of these parameters matters. An "int" parameter's integers each take an
        equal share of [-1, 1] (rounding a linear map gave the two ends half a share: a uniform search drew 1 and 5
        ladder levels half as often as 2, 3 or 4)."""
        u = (min(1.0, max(-1.0, float(x))) + 1.0) / 2.0
        if self.scale == "int":
            return min(int(self.hi), int(self.lo) + int(u * (self.hi - self.lo + 1)))
        if self.scale == "log":
            v = math.exp(math.log(self.lo) + u * (math.log(self.hi) - math.log(self.lo)))
        else:
            v = self.lo + u * (self.hi - self.lo)
        return float(f"{v:.4g}")

    def point(self, v: float) -> float:
        """The action coordinate that maps to ``v`` (clipped to the range): ``value``'s inverse (an integer's at the
        middle of its share)."""
        v = min(self.hi, max(self.lo, float(v)))
        if self.scale == "int":
            u = (round(v) - self.lo + 0.5) / (self.hi - self.lo + 1)
        elif self.scale == "log":
            u = (math.log(v) - math.log(self.lo)) / (math.log(self.hi) - math.log(self.lo))
        else:
            u = (v - self.lo) / (self.hi - self.lo)
        return 2.0 * u - 1.0


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("glft.gamma", 0.01, 50.0, "log"),  # per coin (Δ in coin): the skew grows as √γ, so 70x across
    Parameter("glft.spread_factor", 0.5, 4.0, "log"),
    Parameter("glft.skew_factor", 0.0, 3.0),
    Parameter("ladder.n_levels", 1, 5, "int"),
    Parameter("ladder.level_spacing_ticks", 1.0, 10.0, "log"),
    Parameter("order_size", 0.001, 0.005, "log"),
    Parameter("reconcile.price_tolerance_ticks", 0.5, 5.0),
)
# inventory: position / risk.max_position (worst case aside); sigma_bps: volatility, bps per √s; spread_bps: the
# quoted spread, best ask − best bid, bps of the mid (0 unless both sides are quoted: after a Kill, none);
# confidence: TradingConfidence.overall; safety: level / 4 (Green 0 … Kill 1); quota_headroom: the address
# budget's share left. Clipped to these bounds.
RISK_SAMPLE_S = 1.0  # how often the inventory risk is sampled within a step
OBSERVATION = ("inventory", "sigma_bps", "spread_bps", "confidence", "safety", "quota_headroom")
_OBS_LOW = (-2.0, 0.0, 0.0, 0.0, 0.0, 0.0)
_OBS_HIGH = (2.0, 100.0, 1000.0, 1.0, 1.0, 1.0)


ACTION_SLACK = 1e-6  # how far past [-1, 1] a coordinate is still taken (clipped): a float's rounding at the edge


def decode(action) -> dict[str, float | int]:
    """The parameter values an action sets, by path. An action outside the action space is refused: clipped, a
    policy drifting out of the box set the range's end without a word, its value past it no different to the env."""
    try:
        # (numbers only: a string's digits, "0.5", were read as the number, and a word, a dict or a complex number
        # raised float()'s words with no action named)
        a = np.asarray(action, dtype=float) if np.asarray(action).dtype.kind not in "USVc" else None
    except (TypeError, ValueError):
        a = None
    if a is None:
        raise ValueError(f"an action is {len(PARAMETERS)} real numbers in [-1, 1], got {short_repr(action)}")
    if a.shape != (len(PARAMETERS),):  # (a batch of one, (1, 7), too: an action is one point)
        raise ValueError(f"an action has {len(PARAMETERS)} coordinates ({', '.join(p.path for p in PARAMETERS)}), "
                         f"shape ({len(PARAMETERS)},), got shape {np.shape(action)}")
    bad = [f"{p.path} {x!r}" for p, x in zip(PARAMETERS, a.tolist()) if not math.isfinite(x)]
    if bad:
        # a learner whose policy diverged: clipped, NaN read as the range's bottom, and the episode went on as if
        # that were a choice
        raise ValueError(f"an action's coordinates must be finite numbers: {', '.join(bad)}")
    out = [f"{p.path} {x!r}" for p, x in zip(PARAMETERS, a.tolist()) if abs(x) > 1.0 + ACTION_SLACK]
    if out:
        raise ValueError(f"an action's coordinates must be inside [-1, 1]: {', '.join(out)} (clip the policy's "
                         f"output to the action space)")
    return {p.path: p.value(x) for p, x in zip(PARAMETERS, a)}


def _slot(data: dict, path: str) -> tuple[dict, str]:
    """Where ``path`` ("glft.gamma", "order_size", "reconcile.price_tolerance_ticks") lives in a dumped agent
    config: (the dict holding it, its key). Quoting's parameters are named from inside ``quoting``."""
    section, _, name = path.rpartition(".")
    if section == "reconcile":
        return data["reconcile"], name
    return (data["quoting"][section] if section else data["quoting"]), name


def values_of(config: AgentConfig) -> dict[str, float | int]:
    """The parameters' values in ``config``, by path."""
    data = config.model_dump()
    out = {}
    for p in PARAMETERS:
        holder, name = _slot(data, p.path)
        out[p.path] = holder[name]
    return out


def encode(config: AgentConfig) -> np.ndarray:
    """The action that sets ``config``'s values (clipped to each range): the shipped defaults as a point."""
    values = values_of(config)
    return np.asarray([p.point(values[p.path]) for p in PARAMETERS], dtype=np.float32)


def config_for(values: dict[str, float | int], base: AgentConfig | None = None) -> AgentConfig:
    """``base`` (the defaults) with the parameter values set: a config a session or the CLI can run."""
    data = (base or AgentConfig()).model_dump()
    for path, v in values.items():
        holder, name = _slot(data, path)
        holder[name] = v
    return AgentConfig.model_validate(data)


def _check_market(coin: str, twin_params: TwinParams | None) -> None:
    """ValueError when the episode's twin cannot trade ``coin`` (``twin.params.market_problem``, the check ``python
    -m search`` and ``python -m agent`` make): a coin it does not list was a KeyError traceback at ``reset``; one
    listed without a market (the defaults' ``hyna:LIT``) ran every episode on an empty book, every reward 0,
    nothing said."""
    problem = market_problem(twin_params or TwinParams(), coin,
                             "twin_params" if twin_params is not None else "the twin's defaults",
                             "agent_config's session.coin")
    if problem is not None:
        kind, text = problem
        raise ValueError(f"MarketMakingEnv: {text}" + (" and every reward be 0; give twin_params a market for it"
                                                       if kind == "no market" else
                                                       "; give twin_params one that lists it, with a market"))


class _PinnedGraduation(Graduation):
    """Graduation with the level held: its demotion triggers do nothing (promotion is capped by the ceiling)."""

    __slots__ = ()

    def _demote(self, ts, trigger, reason, equity, to=None) -> None:
        return


class MarketMakingEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, *, agent_config: AgentConfig | None = None, twin_params: TwinParams | None = None,
                 step_s: float = 300.0, episode_s: float = 3600.0, level: str = "FULL",
                 inventory_penalty: float = 1e-3, escalation_penalty: float = 1.0, pin_level: bool = True) -> None:
        # Numbers, finite (an infinite episode never ends: step() ran forever; a nan penalty made every reward nan,
        # a negative one paid the agent to escalate), within a duration's bound (common.units) as the CLI's are.
        for name, value in (("step_s", step_s), ("episode_s", episode_s), ("inventory_penalty", inventory_penalty),
                            ("escalation_penalty", escalation_penalty)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(value):
                raise ValueError(f"MarketMakingEnv: {name} must be a finite number, got {short_repr(value)}")
        if not (step_s > 0 and episode_s >= step_s and episode_s <= MAX_DURATION_S):
            raise ValueError(f"MarketMakingEnv: need 0 < step_s <= episode_s <= {MAX_DURATION_S:g} (a year), got "
                             f"step_s={step_s!r}, episode_s={episode_s!r}")
        if inventory_penalty < 0 or escalation_penalty < 0:
            raise ValueError(f"MarketMakingEnv: penalties are costs, 0 or more: got inventory_penalty="
                             f"{inventory_penalty!r}, escalation_penalty={escalation_penalty!r}")
        for name, value, kind in (("agent_config", agent_config, AgentConfig),
                                  ("twin_params", twin_params, TwinParams)):
            if value is not None and not isinstance(value, kind):  # (a dict or a path: an AttributeError, or at reset)
                raise TypeError(f"MarketMakingEnv: {name} must be a {kind.__name__} or None, got "
                                f"{type(value).__name__} (load a file with {kind.__name__}.load)")
        if not isinstance(level, str) or not isinstance(pin_level, bool):  # ('no' was taken for True)
            raise TypeError(f"MarketMakingEnv: level must be a name and pin_level a bool, got "
                            f"level={short_repr(level)}, pin_level={short_repr(pin_level)}")
        _check_market((agent_config or AgentConfig()).session.coin, twin_params)
        named = level_named(level)  # MICRO_LIVE, or MicroLive as the live CLI and the README spell it
        if named is None or not places_orders(named):
            raise ValueError(f"MarketMakingEnv: level must be one that places orders (MICRO_LIVE … OPTIMIZED), "
                             f"got {level!r}")
        data = (agent_config or AgentConfig()).model_dump()
        data["graduation"].update(start_level=named.name, ceiling=named.name)
        if pin_level:
            data["graduation"]["demote_on_low_confidence"] = False
        self.agent_config = AgentConfig.model_validate(data)
        self.pin_level = pin_level
        self.twin_params = twin_params
        self.step_s = float(step_s)
        self.episode_s = float(episode_s)
        self.inventory_penalty = float(inventory_penalty)
        self.escalation_penalty = float(escalation_penalty)
        self.action_space = spaces.Box(-1.0, 1.0, (len(PARAMETERS),), np.float32)
        self.observation_space = spaces.Box(np.array(_OBS_LOW, np.float32),
                                            np.array(_OBS_HIGH, np.float32), dtype=np.float32)
        self._session = None  # (exchange, core) of the episode under way
        self._escalations = 0  # safety levels escalated in the episode so far
        self._net = 0.0  # the episode's net PnL at the last step's end
        self._ended = None  # "terminated" or "truncated" once a step has said so: a step after it needs a reset

    # ------------------------------------------------------------------ gymnasium

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """A new episode, on ``seed`` (gymnasium's rules). It takes no options: None or {} (a key given was dropped
        without a word, an episode run as if it had been taken)."""
        if options is not None and (not isinstance(options, dict) or options):
            raise ValueError(f"MarketMakingEnv.reset takes no options (None or {{}}), got {short_repr(options)}")
        super().reset(seed=seed)
        session_seed = int(self.np_random.integers(2 ** 31 - 1))
        ex, _, core, driver = build_session(self.agent_config, session_seed, self.twin_params)
        if self.pin_level:  # before the first event: the core reads its graduation's throttles every cycle
            core.graduation = _PinnedGraduation.for_agent(self.agent_config)
            core.exposure = core.graduation.controller
        driver.start()
        self._session = (ex, core)
        self._ended = None
        self._escalations = 0
        self._net = 0.0
        return self._observe(), {"session_seed": session_seed}

    def step(self, action):
        """``action`` in [-1, 1]^7 (``PARAMETERS``); None keeps the parameters as they are (the config's own
        values at the start: a baseline without the action grid's rounding)."""
        if self._session is None:
            raise RuntimeError("MarketMakingEnv: step() before reset() (the first, or the first after close())")
        if self._ended is not None:
            # (it ran the twin on, after a Kill up to episode_s, and answered reward 0 with the same flag each time:
            # a loop that forgot to reset trained on an episode of zeros)
            raise RuntimeError(f"MarketMakingEnv: step() after the episode ended ({self._ended}): call reset()")
        ex, core = self._session
        if action is None:
            values = values_of(core.cfg)
        else:
            values = decode(action)
            cfg = config_for(values, self.agent_config)
            core.retune(glft=cfg.quoting.glft, ladder=cfg.quoting.ladder, order_size=cfg.quoting.order_size,
                        reconcile=cfg.reconcile)
        n_hist = len(core.safety.history)
        start = ex.env.now
        end = min(self.episode_s, start + self.step_s)
        # the position's value's variance accrues through the step, not at its end: a step can hold inventory
        # for most of its length and end flat (sampled every RISK_SAMPLE_S, at each interval's end)
        risk = 0.0  # USDC²
        t = start
        while t < end:
            t_next = min(end, t + RISK_SAMPLE_S)
            ex.env.run(until=t_next)
            mid = core.mid if core.mid == core.mid else 0.0
            risk += (core.tracker.position * mid * self._sigma(core)) ** 2 * (t_next - t)
            t = t_next
        net = self._net_pnl(core)
        pnl = net - self._net
        self._net = net
        escalated = sum(max(0, int(t.to_level) - int(t.from_level)) for t in core.safety.history[n_hist:])
        self._escalations += escalated
        reward = pnl - self.inventory_penalty * risk - self.escalation_penalty * escalated
        terminated = bool(core.stopped)
        truncated = not terminated and ex.env.now >= self.episode_s - 1e-9
        if terminated or truncated:
            self._ended = "terminated" if terminated else "truncated"
        info = {"pnl_usd": pnl, "net_pnl_usd": net, "fees_usd": core.ledger.fees, "fills": core.ledger.fills,
                "escalations": self._escalations, "safety": core.safety.level.name,
                "exposure": core.graduation.level.name, "params": values}
        return self._observe(), float(reward), terminated, truncated, info

    def render(self) -> None:
        """No render modes (``metadata``): nothing is drawn, as gymnasium's own envs answer with no render mode.
        Gymnasium's base raised NotImplementedError, so a tool that calls ``render()`` each step (a training loop,
        a recorder's wrapper) stopped on its first call."""
        return None

    def close(self) -> None:
        """Drops the episode's twin session (its market, book and queues): an env closed by a trainer held them
        until it was collected. A step after it needs a reset, as before the first."""
        self._session = None
        super().close()

    # ------------------------------------------------------------------ state

    @staticmethod
    def _net_pnl(core) -> float:
        return core.ledger.net(core.mid if core.mid == core.mid else 0.0)

    def _sigma(self, core) -> float:
        vol = core.vol
        return vol.sigma_per_sqrt_s if vol.ready else self.agent_config.quoting.sigma_prior

    def _observe(self) -> np.ndarray:
        ex, core = self._session
        inv = core.tracker.position / core.cfg.risk.max_position
        spread = 0.0
        # a stopped core (a Kill) runs no more cycles and has pulled its quotes: its last cycle's quotes, which
        # last_quotes still holds, are not quoted (the Kill's observation gave them as the spread quoted)
        quotes = () if core.stopped else core.last_quotes
        bids = [q.px for q in quotes if q.side > 0]
        asks = [q.px for q in quotes if q.side < 0]
        if bids and asks and core.mid == core.mid:
            spread = (min(asks) - max(bids)) / core.mid * 1e4
        obs = np.array([inv, self._sigma(core) * 1e4, spread, core.graduation.confidence.overall,
                        int(core.safety.level) / 4.0, core.budget.headroom_frac], dtype=np.float64)
        return np.clip(np.nan_to_num(obs), _OBS_LOW, _OBS_HIGH).astype(np.float32)
