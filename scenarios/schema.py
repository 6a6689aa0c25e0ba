"""The scenario file: a pydantic model of the YAML, strict (unknown keys rejected), with errors
that name the file and the field path. ``load_scenario(path)`` is the only way files come in.

Times in a scenario (``chaos[].at_s``, invariant windows) are seconds after the agent starts; the
runner shifts them past the twin's pre-roll (see ``start.warmup_s``).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from agent.config import AgentConfig
from twin.faults import chaos as twin_chaos
from twin.faults.chaos import (
    ChaosSchedule, Disconnect, Http429Burst, LatencySpike, MarketParam, PriceJump, QuotaSet, Regime, RejectionBurst,
    market_param_misfit,
)
from twin.market.synthetic import SyntheticMarketParams

MAX_SEED = 2**64 - 1  # numpy's SeedSequence takes any size; a seed past 64 bits is a paste gone wrong
COLD_PREROLL_S = 1.0  # the market's pre-roll before the agent starts when its models are cold (warm: start.warmup_s)
_MOVES_THE_MARKET = ("price_jump", "slide", "regime", "market_param")  # chaos a recorded market cannot play
from twin.instruments import MAX_DECIMALS_PERP, price_is_valid, size_is_valid
from twin.params import TwinParams, book_tick_problem
from scenarios.invariants import MAX_RUN_S, InvariantSpec
from common.files import FileModel, describe_invalid, load_yaml, read_text, short_repr


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file, the field path and the value."""


class Slide(twin_chaos.Slide):
    """The twin's slide, within a scenario's run: it starts and ends within a day."""

    at_s: float = Field(..., ge=0, le=MAX_RUN_S, allow_inf_nan=False, description="First step, s after the agent "
                                                                                "starts.")
    duration_s: float = Field(..., ge=1e-6, le=MAX_RUN_S, description="Time from the first step to the last, s.")


class QuotaPinned(twin_chaos.QuotaPinned):
    """The twin's quota_pinned, within a scenario's run."""

    at_s: float = Field(..., ge=0, le=MAX_RUN_S, allow_inf_nan=False, description="Start, s after the agent "
                                                                                "starts.")


ScenarioChaos = Annotated[Union[LatencySpike, Http429Burst, RejectionBurst, Disconnect, QuotaSet, PriceJump, Regime,
                                MarketParam, Slide, QuotaPinned], Field(discriminator="kind")]


class MarketSpec(FileModel):
    coin: str = Field("BTC", description="The coin the agent quotes; an instrument the twin lists (HIP-3 as "
                                         "'dex:COIN').")
    preset: Literal["btc", "thin_hip3"] = Field("btc", description="Synthetic defaults to start from: 'btc' "
                                                                   "(SyntheticMarketParams()) or 'thin_hip3'.")
    synthetic: dict = Field(default_factory=dict, description="Overrides of SyntheticMarketParams fields.")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="Fix the market path whatever the run's seed "
                                                                  "(None: the run's seed drives it).")
    recorded: str | None = Field(None, description="A replay file (venue l2Book/trades lines), relative to the "
                                                   "scenario file; replaces the synthetic market.")

    def recorded_path(self, base_dir: Path | None) -> Path | None:
        """The replay file, a relative one taken from ``base_dir`` (the scenario file's folder): one resolution for
        the loader, which checks the file, and the runner, which reads it."""
        if not self.recorded:
            return None
        path = Path(self.recorded)
        return path if path.is_absolute() or base_dir is None else base_dir / path

    def synthetic_params(self) -> SyntheticMarketParams:
        base = SyntheticMarketParams.thin_hip3() if self.preset == "thin_hip3" else SyntheticMarketParams()
        return SyntheticMarketParams.model_validate({**base.model_dump(), **self.synthetic})

    @field_validator("synthetic")
    @classmethod
    def _valid_synthetic(cls, v: dict) -> dict:
        SyntheticMarketParams.model_validate(v)  # field names and ranges, reported under market.synthetic
        return v


class RestingOrderSpec(FileModel):
    """An order an earlier run left at the venue. Price: ``px``, or ``offset_bps`` from the mid at start."""

    side: Literal["buy", "sell"] = Field(..., description="Bid or ask.")
    sz: float = Field(..., ge=1e-8, le=1e12, description="Size, coin units (venue size decimals: at most 8).")
    px: float | None = Field(None, ge=1e-12, le=1e12, description="Limit price (within a market's initial_mid "
                                                                  "range).")
    offset_bps: float | None = Field(None, gt=-10_000, le=100_000, description=(
        "Price as mid × (1 + offset_bps/1e4), rounded away from the touch onto the tick grid: above -10000 (a price "
        "above zero), at most 100000 (ten times the mid past it)."))
    reduce_only: bool = Field(False, description="Reduce-only flag.")

    @model_validator(mode="after")
    def _one_price(self) -> "RestingOrderSpec":
        if (self.px is None) == (self.offset_bps is None):
            raise ValueError("give exactly one of px and offset_bps")
        return self


class StartState(FileModel):
    """Where the story starts: what the venue already holds for the account, and the agent's models."""

    position: float = Field(0.0, ge=-1e12, le=1e12, description="Signed position at the venue at start, coin units "
                                                                "(within risk.max_position's range).")
    entry_px: float | None = Field(None, ge=1e-12, le=1e12, description="Its entry price (default: the mid at "
                                                                        "start).")
    resting_orders: list[RestingOrderSpec] = Field(default_factory=list,
                                                   description="Orders resting at the venue at start, "
                                                               "unknown to the agent until it reconciles.")
    quota_remaining: int | None = Field(None, ge=-10**12, le=10**12, description=(
        "Address requests left below the cap at start (None: untouched; negative: past the cap)."))
    traded_volume_usd: float = Field(0.0, ge=0, le=1e15, description="Cumulative volume the address has traded "
                                                                     "(raises the quota cap; $1M arms the dead-man's "
                                                                     "switch).")
    models: Literal["cold", "warm"] = Field("cold", description="cold: the agent's estimators start from their "
                                                                "priors; warm: they watched the market for "
                                                                "warmup_s before the agent starts.")
    warmup_s: float = Field(60.0, ge=10, le=3600, description="Pre-roll of the market before the agent starts "
                                                              "when models are warm, s.")


class Scenario(FileModel):
    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description=(
        "Short identifier (the file's stem by convention): letters, digits, '_', '.' and '-', as it names the "
        "default run folder (runs/<name>-seed<S>; a '/' or '..' in it put that outside runs/)."))
    incident: str = Field(..., min_length=1, description="The live incident this reproduces.")
    description: str = Field(..., min_length=1, description="What happens, and why it would break a naive agent.")
    market: MarketSpec = Field(default_factory=MarketSpec, description="The market process.")
    twin: TwinParams = Field(default_factory=TwinParams, description="TwinParams overrides (markets come from "
                                                                     "'market').")
    chaos: list[ScenarioChaos] = Field(default_factory=list, description="Timed faults, s after the agent starts.")
    start: StartState = Field(default_factory=StartState, description="The starting state.")
    agent: AgentConfig = Field(default_factory=AgentConfig, description="AgentConfig overrides.")
    duration_s: float = Field(..., ge=1, le=MAX_RUN_S, description="Simulated time the agent runs, s (1 to 86400).")
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(default_factory=lambda: [0], min_length=1,
                                                                  description=(
        "Seeds, each from 0 (numpy refuses a negative one) to 2^64 - 1, and none twice; one run (and one test) each."))
    # 10 ms, the agent's fastest cycle: 1e-300 was taken, and the run sampled the venue forever
    sample_interval_s: float = Field(0.05, ge=0.01, le=5, description="How often the venue's state is sampled for "
                                                                      "the invariants and the timeline, s (0.01 to 5).")
    invariants: list[InvariantSpec] = Field(..., min_length=1, description="What must hold (scenarios.invariants).")

    @field_validator("seeds")
    @classmethod
    def _seeds_differ(cls, v: list[int]) -> list[int]:
        """A seed given twice ran the same run twice (the same path, the same decisions, a test id ``seed1`` taken
        twice): at best time lost, at worst the count of seeds read as the evidence of that many paths."""
        first: dict[int, int] = {}
        for i, seed in enumerate(v):
            if seed in first:
                raise ValueError(f"seed {seed} is given twice (seeds.{first[seed]} and seeds.{i}): each seed runs "
                                 f"the same run, so a repeat adds nothing")
            first[seed] = i
        return v

    @model_validator(mode="after")
    def _coin_consistent(self) -> "Scenario":
        coin = self.market.coin
        if coin not in {i.coin for i in self.twin.instruments}:
            raise ValueError(f"market.coin {coin!r} is not an instrument of the twin "
                             f"({[i.coin for i in self.twin.instruments]})")
        if self.agent.session.coin != coin:
            if "coin" in self.agent.session.model_fields_set:
                raise ValueError(f"agent.session.coin {self.agent.session.coin!r} differs from market.coin {coin!r}")
            self.agent.session.coin = coin
        return self

    @field_validator("twin", mode="before")
    @classmethod
    def _twin_markets_are_the_markets(cls, v):
        """The twin section's markets are the scenario's ``market`` (``twin_params``): its instruments' ticks are
        checked against that market (``_tick_fits_the_market``), not against TwinParams' default BTC market at
        100000, against which a scenario's own BTC on tick 0.1 at a mid of 3000 was refused naming a price it never
        lists."""
        if isinstance(v, dict) and "markets" not in v:
            return {**v, "markets": {}}
        return v

    @model_validator(mode="after")
    def _tick_fits_the_market(self) -> "Scenario":
        """The coin's tick lists prices the venue's rule takes in the market the run has (twin.params'
        check, which ``twin_params`` passes by: its markets are set on a copy): a thin_hip3 hyna:LIT at 12 on the
        defaults' 0.0001 was taken, and its book listed 12.0001, which the twin's own order check refuses."""
        coin = self.market.coin
        if self.market.recorded or coin not in {i.coin for i in self.twin.instruments}:
            return self
        problem = book_tick_problem(self.twin.instrument(coin), self.market.synthetic_params())
        if problem is not None:
            raise ValueError(f"market (coin {coin!r}, preset {self.market.preset!r}, synthetic) and twin.instruments: "
                             f"{problem[0]}")
        return self

    @model_validator(mode="after")
    def _start_on_the_coins_grid(self) -> "Scenario":
        """The starting position and resting orders are on the coin's lot and tick grid (the rules seeding applies,
        twin.seeding): a position of 0.0312345678 BTC passed ``check`` and stopped ``run`` with a traceback from
        set_position, after it had made the run folder."""
        coin = self.market.coin
        if coin not in {i.coin for i in self.twin.instruments}:
            return self
        d = self.twin.instrument(coin).sz_decimals
        problems = []
        if self.start.position and not size_is_valid(abs(self.start.position), d):
            problems.append(f"start.position {self.start.position!r}: more than {coin}'s {d} size decimals")
        for i, o in enumerate(self.start.resting_orders):
            if not size_is_valid(o.sz, d):
                problems.append(f"start.resting_orders.{i}.sz {o.sz!r}: not a {coin} size (at most {d} decimals)")
            if o.px is not None and not price_is_valid(o.px, d):
                problems.append(f"start.resting_orders.{i}.px {o.px!r}: not a {coin} price (at most 5 significant "
                                f"figures and {MAX_DECIMALS_PERP - d} decimals, or a whole number)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _chaos_within_the_run(self) -> "Scenario":
        """A fault timed at or after the run's end never happens: the run then failed its invariants with "the
        trigger never happened", after the whole run, for what is a typo in the file (seconds for minutes)."""
        for i, ev in enumerate(self.chaos):
            if ev.at_s >= self.duration_s:
                raise ValueError(f"chaos.{i} ({ev.kind}) at_s {ev.at_s:g} is not within the run (duration_s "
                                 f"{self.duration_s:g}): it would never happen")
        return self

    @model_validator(mode="after")
    def _market_takes_its_params(self) -> "Scenario":
        """Each market_param event fits this scenario's market, not only the default one its own check knows: a
        constraint between fields (a jump rate with book_interval_s, the mid's moves together) passed ``check`` and
        stopped ``run`` with a traceback from the market's build."""
        if self.market.recorded:  # (refused by _recorded_market_plays_as_recorded)
            return self
        misfit = market_param_misfit(self.chaos, self.market.synthetic_params())
        if misfit is not None:
            i, ev, problem = misfit
            raise ValueError(f"chaos.{i} (market_param) {ev.name} {ev.value:g} does not fit market (coin "
                             f"{self.market.coin!r}, preset {self.market.preset!r}, synthetic): {problem}")
        return self

    @model_validator(mode="after")
    def _recorded_market_plays_as_recorded(self) -> "Scenario":
        """A price jump, slide, regime or market parameter moves the synthetic market; a recorded one plays as
        recorded, and the event was dropped without a word: a "crash" scenario on recorded data tested nothing
        and its invariants held."""
        if self.market.recorded:
            for i, ev in enumerate(self.chaos):
                if ev.kind in _MOVES_THE_MARKET:
                    raise ValueError(f"chaos.{i} ({ev.kind}) moves the synthetic market, and market.recorded "
                                     f"{self.market.recorded!r} plays as recorded: it would never happen")
        return self

    def preroll_s(self) -> float:
        """The market's time before the agent starts (the runner's ``t0``)."""
        return self.start.warmup_s if self.start.models == "warm" else COLD_PREROLL_S

    @model_validator(mode="after")
    def _triggers_can_happen(self) -> "Scenario":
        """An invariant's trigger that cannot happen in this scenario is refused when the file is read. A time at
        or past the end (or before the start, or not finite) checked nothing, and the run said every invariant
        held (a 't=' trigger always "happens"); a fault kind the chaos list does not hold failed the run with
        "the trigger never happened", after the whole run, for what is a typo. Fault triggers are resolved
        against the chaos list as written (``Scenario.faults``), so a slide or quota_pinned counts by that kind,
        not as the price_jump or quota_set events it expands into."""
        kinds = sorted({ev.kind for ev in self.chaos})
        problems = []
        for i, inv in enumerate(self.invariants):
            for field in ("trigger", "after", "until"):
                spec = getattr(inv, field, None)
                if not isinstance(spec, str):
                    continue
                where = f"invariants.{i} ({inv.name}) {field} {spec!r}"
                if spec.startswith("t="):
                    t = float(spec[2:])
                    if not (math.isfinite(t) and 0 <= t < self.duration_s):
                        problems.append(f"{where} is not within the run (0 to duration_s {self.duration_s:g}): it "
                                        f"would never happen")
                elif spec.startswith(("fault:", "fault_end:")):
                    kind = spec.split(":", 1)[1]
                    if kind not in kinds:
                        problems.append(f"{where}: the chaos list has no {kind!r} event, so it would never happen "
                                        f"(its kinds: {', '.join(kinds) or 'none'})")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def schedule(self, offset_s: float = 0.0) -> ChaosSchedule:
        """The chaos as the twin takes it: slides expanded, times shifted by ``offset_s``."""
        return ChaosSchedule(events=[e.model_copy(update={"at_s": e.at_s + offset_s})
                                     for e in twin_chaos.expand_shorthands(self.chaos)])

    def twin_params(self) -> TwinParams:
        markets = {} if self.market.recorded else {self.market.coin: self.market.synthetic_params()}
        return self.twin.model_copy(update={"markets": markets})

    def faults(self) -> list[tuple[str, float, float]]:
        """(kind, start, end) of every fault, s after the agent starts (instant ones have end == start)."""
        out = []
        for ev in self.chaos:
            dur = getattr(ev, "duration_s", 0.0)
            out.append((ev.kind, ev.at_s, ev.at_s + dur))
        return out


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; a bad one raises ScenarioError naming file, field and value."""
    p = Path(path)
    try:
        data = load_yaml(read_text(p), p)
    except OSError as e:
        raise ScenarioError(f"{p}: cannot read: {e.strerror or e}") from None
    except ValueError as e:  # not UTF-8
        raise ScenarioError(str(e)) from None
    except yaml.YAMLError as e:
        raise ScenarioError(f"{p}: not valid YAML: {e}") from None
    if data is None:  # (said as an empty config is: "got NoneType" named Python's type, not the file's problem)
        raise ScenarioError(f"{p}: empty: no scenario in it")
    if not isinstance(data, dict):
        raise ScenarioError(f"{p}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as e:
        raise ScenarioError(describe_invalid(p, "scenario", e)) from None
    _check_recorded(p, scenario)
    return scenario


def _check_recorded(p: Path, scenario: Scenario) -> None:
    """The replay file read as the runner will read it (relative to the scenario file): one that is missing or
    not a venue recording passed ``check``, then stopped ``run`` with a traceback after it had made the run
    folder, left empty."""
    path = scenario.market.recorded_path(p.parent)
    if path is None:
        return
    from twin.market.replay import ReplayMarket

    try:
        market = ReplayMarket(path, coin=scenario.market.coin)
    except OSError as e:
        why = f"{path}: {e.strerror or e}"
    except ValueError as e:  # ReplayFormatError (naming the file, the line and the field), or not UTF-8
        why = str(e)
    else:
        # Past its end the recording's last book stands still, still pushed with fresh times (no staleness check
        # can see it), and the run said its invariants held over minutes of no market.
        need = scenario.preroll_s() + scenario.duration_s
        if market.span_s >= need:
            return
        why = (f"{path}: the recording is {market.span_s:g} s long, and the run needs {need:g} s of market (the "
               f"pre-roll {scenario.preroll_s():g} s and duration_s {scenario.duration_s:g}): past its end the market "
               f"would stand still")
    raise ScenarioError(f"{p}: invalid scenario:\n  market.recorded: {why} "
                        f"(got {short_repr(scenario.market.recorded)})")
