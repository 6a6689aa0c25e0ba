"""TwinParams: every parameter of the twin in one versioned pydantic object, JSON round-trip.

This is the object calibration fits from live logs and writes back; scenarios override parts
of it. Each fault model owns its section (its class lives beside its parameters).
"""
from __future__ import annotations

import math
from pathlib import Path

from pydantic import Field, ValidationError, model_validator

from twin.book import QueueParams
from twin.faults.connection import ConnectionParams
from twin.faults.latency import LatencyParams
from common.files import FileModel, describe_invalid, json_key_given_twice, read_text, short_repr
from twin.faults.quota import QuotaParams
from twin.faults.rejections import RejectionParams
from twin.instruments import MAX_DECIMALS_PERP, MAX_SIG_FIGS, InstrumentSpec, default_instruments, price_is_valid
from twin.market.synthetic import SyntheticMarketParams

PARAMS_VERSION = 1


class FeedParams(FileModel):
    book_interval_s: float = Field(
        0.5, ge=0.001, le=3600.0,
        description="Cadence of l2Book pushes. The venue documents at least 0.5 s between "
                    "book messages (reports since 2026-07 say up to 2-5 s for the non-fast feed).")
    book_levels: int = Field(20, ge=1, le=20, description="Levels per side in l2Book pushes (venue: 20).")
    block_s: float = Field(
        0.07, ge=0, le=10.0,
        description="The venue's block time, s (HyperCore makes a block roughly every 70 ms): a book "
                    "push goes out on the first block at least book_interval_s after the last, so each "
                    "interval is book_interval_s and a uniform part of a block, and the pushes drift "
                    "against a client's own timer. 0: pushes exactly book_interval_s apart.")


SIM_EPOCH_MS = 1_767_225_600_000  # 2026-01-01 UTC: a simulation's venue time at t=0 unless venue.epoch_ms pins it


class VenueParams(FileModel):
    epoch_ms: int | None = Field(None, ge=0, le=10**14, description=(
        "Venue time (Unix ms, 0 or more: no venue time is before 1970) at simulated t=0. Null: 2026-01-01 UTC in a "
        "simulation, the wall clock when served (twin serve), so that clients taking nonces and expiresAfter from "
        "the wall clock are inside the venue's window. A number pins it, served too. (Null survives a dump of "
        "these parameters: a fitted twin_params.json leaves it unpinned.)"))
    default_leverage: int = Field(
        20, ge=1, le=1000,
        description="Cross leverage of a new position (capped at the coin's maximum leverage).")
    margin_check_interval_s: float = Field(1.0, ge=0.001, le=3600.0,
                                           description="How often margin cancels and liquidations are checked.")
    schedule_cancel_min_volume_usd: float = Field(
        1_000_000.0, ge=0, le=1e15,
        description="Traded volume the venue requires before scheduleCancel is accepted "
                    "(the venue's text names $1000000).")
    schedule_cancel_max_per_day: int = Field(10, ge=0, le=1_000_000,
                                             description="Dead-man's switch triggers allowed per UTC day.")
    schedule_cancel_clears_refused: bool = Field(
        False, description="Whether the venue's dead-man's switch policy (the volume rule, the day's triggers) refuses "
                           "a clear (scheduleCancel without a time) as it refuses an arm. The venue's documents and "
                           "recorded texts speak only of setting a time; off (the default), a clear is always taken.")
    trades_snapshot_size: int = Field(
        0, ge=0, le=10_000,
        description="A trades subscription is first sent this many of the coin's last prints the twin published (as "
                    "the venue's subscription ack sends a snapshot of previous data for time series; hyperliquid.md "
                    "§4): a client reconnecting sees again prints it had, and those made while it was away. 0 (the "
                    "default): none, the simulations' sessions as they were.")
    action_block_s: float = Field(
        0.0, ge=0, le=10.0,
        description="Block time for actions, s: 0 (the default) executes each action as it arrives; "
                    "above 0, the actions that arrive within one block (a grid from t=0) execute together "
                    "at its end, cancels and post-only order batches first (the venue's in-block order). "
                    "Off by default: the latency defaults and fits are round trips that hold the block "
                    "wait already, and a grid on top adds half a block to each action on average.")


class TwinParams(FileModel):
    """All of the twin's parameters. ``version`` guards files written by older code."""

    version: int = Field(PARAMS_VERSION, ge=0, le=1_000_000, description="Schema version of this file.")
    instruments: list[InstrumentSpec] = Field(default_factory=default_instruments,
                                              description="Markets the venue lists (meta).")
    markets: dict[str, SyntheticMarketParams] = Field(
        default_factory=lambda: {"BTC": SyntheticMarketParams()},
        description="Synthetic market process per coin; coins without one have an empty book.")
    queue: QueueParams = Field(default_factory=QueueParams, description="Queue-position model.")
    latency: LatencyParams = Field(default_factory=LatencyParams, description="Latency per path.")
    rejections: RejectionParams = Field(default_factory=RejectionParams, description="Stochastic rejections.")
    quota: QuotaParams = Field(default_factory=QuotaParams, description="Address budget and IP weight.")
    connection: ConnectionParams = Field(default_factory=ConnectionParams, description="Websocket disconnects.")
    feed: FeedParams = Field(default_factory=FeedParams, description="Websocket feed cadence.")
    venue: VenueParams = Field(default_factory=VenueParams, description="Account and venue rules.")

    @model_validator(mode="after")
    def _markets_are_listed(self) -> "TwinParams":
        """A market runs the book of a listed coin: its tick and lot come from the instrument (without one the
        twin died building its markets, on a bare KeyError)."""
        coins = [i.coin for i in self.instruments]
        twice = sorted({c for c in coins if coins.count(c) > 1})
        if twice:
            # (one was used for the tick and lot, the other for the asset id: whichever a lookup met first)
            raise ValueError(f"instruments list {twice} more than once: one coin is one instrument")
        tables: dict[int, tuple] = {}
        for inst in self.instruments:
            # (one id is one table on the venue: meta lists it once, and every coin naming it reads those tiers)
            if tables.setdefault(inst.table_id, inst.tier_pairs) != inst.tier_pairs:
                raise ValueError(f"instruments name margin_table_id {inst.table_id} with different margin_tiers "
                                 f"({inst.coin}'s and another's): one id is one table")
        listed = set(coins)
        unlisted = [c for c in self.markets if c not in listed]
        if unlisted:
            raise ValueError(f"markets {unlisted} name no coin of instruments (they list {sorted(listed)})")
        for coin, mp in self.markets.items():
            off = book_tick_problem(self.instrument(coin), mp)
            if off is not None:
                raise ValueError(off[0])
        return self

    def instrument(self, coin: str) -> InstrumentSpec:
        for inst in self.instruments:
            if inst.coin == coin:
                return inst
        raise KeyError(f"no instrument named {coin!r} (have {[i.coin for i in self.instruments]})")

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> "TwinParams":
        return cls.model_validate_json(text)

    @classmethod
    def load(cls, path: str | Path) -> "TwinParams":
        """Read a params file; errors name the file and the field."""
        p = Path(path)
        text = read_text(p)
        twice = json_key_given_twice(text)
        if twice is not None:
            raise ValueError(f"{p}: the key {short_repr(twice)} is given twice in one object: only the last would "
                             f"count; give it once")
        try:
            params = cls.model_validate_json(text)
        except ValidationError as e:
            heading = None
            if any(err["type"] == "json_invalid" for err in e.errors()):
                # (a YAML file, an agent config's format, given to --params: "Invalid JSON" alone did not say that
                # JSON is all this reads)
                heading = "not JSON: a twin parameters file (--params, calibration's --base) is JSON only, not YAML"
            raise ValueError(describe_invalid(p, "twin parameters", e, heading)) from None
        if params.version != PARAMS_VERSION:
            raise ValueError(f"{p}: field 'version' is {params.version}, this code reads {PARAMS_VERSION}")
        return params


def book_tick_problem(inst: InstrumentSpec, mp: SyntheticMarketParams) -> tuple[str, float] | None:
    """Why the synthetic book of ``inst`` would list prices the venue refuses, and the coarsest tick the rule needs
    there (None: it would not; calibration takes that tick for a run whose price the base's tick does not fit). The
    book's levels are multiples of ``tick`` around the mid; a tick finer than the venue's price rule allows there (5
    significant figures, at most 6 − szDecimals decimals: hyperliquid.md §3.4) listed prices that the twin's own
    order check then refused as off the tick, so an order joining the book was a Tick error (BTC with tick 0.1 at
    100000)."""
    tick, mid = inst.tick, mp.initial_mid
    k = math.floor(mid / tick + 1e-9)
    # the book's reach at the start, in either regime (SyntheticMarket's touch: the mid less or plus the half spread)
    wide = max(mp.half_spread_ticks_calm, mp.half_spread_ticks_stressed) * tick
    lo = math.floor((mid - wide) / tick + 1e-9) - mp.levels + 1  # the deepest bid
    hi = max(math.ceil((mid + wide) / tick - 1e-9), lo + mp.levels) + mp.levels - 1  # the deepest ask
    # Which prices to try: a tick of one significant figure that fails the rule anywhere in a decade fails it at one
    # of any two grid prices next to each other there (both passing makes the tick a multiple of the decade's
    # step), and the rule is strictest at the top of the listed prices: the prices at the ends and the mid, and the
    # two past each power of ten the book spans (an ask at 1000.01 on 0.01 beside a mid of 999.9, whose deepest
    # ask, 1000.1, passes).
    tried = [lo, lo + 1, k, k + 1, hi - 1, hi]
    p = 10.0 ** math.ceil(math.log10(max(lo, 1) * tick))
    while p <= hi * tick:
        j = math.floor(p / tick + 1e-9) + 1
        tried += [j, j + 1]
        p *= 10.0
    decimals = max(0, -math.floor(math.log10(tick) + 1e-9))
    bad = [px for px in (round(i * tick, decimals) for i in sorted(set(tried)) if lo <= i <= hi and i >= 1)
           if not price_is_valid(px, inst.sz_decimals)]
    if not bad:
        return None
    sig_tick = 10.0 ** (math.floor(math.log10(hi * tick)) + 1 - MAX_SIG_FIGS)  # (above 1: integers do)
    fit = max(min(sig_tick, 1.0), 10.0 ** (inst.sz_decimals - MAX_DECIMALS_PERP))
    return (f"instrument {inst.coin}: tick {tick} with sz_decimals {inst.sz_decimals} makes its market's book "
            f"(initial_mid {mid}) list {bad[0]}, which the venue's price rule refuses (at most {MAX_SIG_FIGS} "
            f"significant figures and {MAX_DECIMALS_PERP} - sz_decimals decimals, integers always valid); "
            f"use a tick of at least {fit:g}"), fit


def market_problem(params: TwinParams, coin: str, source: str,
                   field: str = "session.coin") -> tuple[str, str] | None:
    """Why a twin on ``params`` cannot trade ``coin`` (None: it can), as ``(kind, text)``: ``"unlisted"``, a coin it
    does not list (a KeyError at the session's start), or ``"no market"``, one listed without a market process (the
    defaults' ``hyna:LIT``: an empty book the whole session, the agent never quoting). ``text`` names ``field``, the
    coin and ``source`` (where the parameters came from: ``--params FILE``, ``the twin's defaults``), and the coins
    the twin has; the caller adds what to do in its own terms (a ``--params`` file, the env's ``twin_params``).
    One check for ``python -m agent``, ``python -m search`` and ``search.env.MarketMakingEnv``."""
    listed = [i.coin for i in params.instruments]
    if coin not in listed:
        return "unlisted", (f"{field} {coin!r} is not an instrument of the twin ({source} list "
                            f"{', '.join(listed)})")
    if coin not in params.markets:
        return "no market", (f"the twin has no market for {field} {coin!r} ({source} have markets for "
                             f"{', '.join(params.markets) or 'no coin'}): its book would stay empty")
    return None
