"""The chaos schedule: scripted faults at given simulated times, as data (scenarios, property tests).

Each event has a ``kind`` and ``at_s``; the exchange hands interval faults to the fault models
and instant ones to SimPy or to the market process. JSON round-trip via ``to_json``/``from_json``.
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, ValidationInfo, field_validator

from common.files import FileModel
from twin.faults.rejections import ORDER_REASONS
from twin.market.synthetic import SHOCKABLE_PARAMS, SyntheticMarketParams, param_shocks_misfit


class _Event(FileModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at_s: float = Field(..., ge=0, le=1e9, allow_inf_nan=False,
                        description="Simulated time the fault starts, s (a run is days at most).")


class LatencySpike(_Event):
    kind: Literal["latency_spike"] = Field("latency_spike", description="Event type.")
    duration_s: float = Field(..., ge=1e-6, le=1e9, description="Length of the slow period, s.")
    path: Literal["order_entry", "response", "feed", "all"] = Field("all", description="Which network path slows.")
    multiplier: float = Field(1.0, ge=0, le=1e6, description="Each latency in the period is multiplied by this ...")
    extra_ms: float = Field(0.0, ge=0, le=1e9, description="... and then this many ms are added.")


class Http429Burst(_Event):
    kind: Literal["http_429_burst"] = Field("http_429_burst", description="Event type.")
    duration_s: float = Field(..., ge=1e-6, le=1e9,
                              description="Every REST request in [at_s, at_s + duration_s) gets HTTP 429.")


class RejectionBurst(_Event):
    kind: Literal["rejection_burst"] = Field("rejection_burst", description="Event type.")
    duration_s: float = Field(..., ge=1e-6, le=1e9, description="Length of the burst, s.")
    rate: float = Field(..., ge=0, le=1, description="Chance each otherwise valid order is rejected in the burst.")
    reason: str = Field("PerpMargin", description="Reason code: a per-order twin.faults.rejections.RejectReason "
                                                  "name (e.g. PerpMargin, BadAloPx, Oracle).")

    @field_validator("reason")
    @classmethod
    def _known_reason(cls, v: str) -> str:
        known = sorted(r.value for r in ORDER_REASONS)
        if v not in known:
            raise ValueError(f"reason {v!r} is not a per-order RejectReason; known: {known}")
        return v


class Disconnect(_Event):
    kind: Literal["disconnect"] = Field("disconnect", description="Event type.")
    duration_s: float = Field(..., ge=1e-6, le=1e9, description="Every websocket is down for this long, s.")


class QuotaSet(_Event):
    kind: Literal["quota_set"] = Field("quota_set", description="Event type.")
    remaining_requests: int = Field(..., ge=0, le=10**12,
                                    description="Every address's budget headroom is set to this at at_s.")


class PriceJump(_Event):
    kind: Literal["price_jump"] = Field("price_jump", description="Event type.")
    fraction: float = Field(..., gt=-1, le=1000.0,
                            description="The mid moves by this fraction at at_s (e.g. -0.03 for -3%).")


class Regime(_Event):
    kind: Literal["regime"] = Field("regime", description="Event type.")
    regime: Literal[0, 1] = Field(..., description="Forced market regime: 0 calm, 1 stressed.")
    duration_s: float = Field(..., ge=1e-6, le=1e9, description="How long the regime is forced, s.")


class MarketParam(_Event):
    """A synthetic market parameter set from ``at_s`` on. Its name and value are checked here, when the file is
    read, as the market checks them when it is built: a name it cannot shock, or a value out of the parameter's
    own range, passed ``scenarios check`` and then stopped ``scenarios run`` and ``twin serve --scenario`` with a
    traceback naming neither the file nor the field."""

    kind: Literal["market_param"] = Field("market_param", description="Event type.")
    name: str = Field(..., min_length=1, description="A synthetic market parameter the market can shock: one of "
                                                     "twin.market.synthetic.SHOCKABLE_PARAMS (e.g. informed_share).")
    value: float = Field(..., description="Its value from at_s on, within that parameter's range in "
                                          "SyntheticMarketParams.")

    @field_validator("name")
    @classmethod
    def _shockable(cls, v: str) -> str:
        if v not in SHOCKABLE_PARAMS:
            raise ValueError(f"market parameter {v!r} cannot be shocked; known: {', '.join(SHOCKABLE_PARAMS)}")
        return v

    @field_validator("value")
    @classmethod
    def _value_in_range(cls, v: float, info: ValidationInfo) -> float:
        """The value against the parameter's own constraints (its ``SyntheticMarketParams`` field), on the default
        market: the market the event will move is not known here. Some constraints relate fields (a jump rate with
        the book's interval, the mid's moves together), so the file that names the market checks the event against
        it too (``market_param_misfit``: the scenario, ``twin serve``'s --params)."""
        name = info.data.get("name")
        if name is None:  # the name was refused: that is the error to read
            return v
        try:
            SyntheticMarketParams.model_validate({name: v})
        except ValidationError as e:
            raise ValueError(f"{name} {v!r} is out of its range: {e.errors()[0]['msg']}") from None
        return v


ChaosEvent = Annotated[Union[LatencySpike, Http429Burst, RejectionBurst, Disconnect, QuotaSet, PriceJump, Regime,
                             MarketParam], Field(discriminator="kind")]

chaos_event_adapter: TypeAdapter = TypeAdapter(ChaosEvent)
"""Validates one event from a dict or JSON (``chaos_event_adapter.validate_python({...})``)."""


class Slide(_Event):
    """A fast move made of equal price jumps: ``fraction`` in total over ``duration_s``, in ``steps``. A shorthand of
    a chaos file (a scenario's, ``twin serve --scenario``'s), expanded into price_jump events before the twin sees
    it."""

    kind: Literal["slide"] = Field("slide", description="Event type (expanded into price_jump events).")
    duration_s: float = Field(..., ge=1e-6, le=1e9, description="Time from the first step to the last, s.")
    fraction: float = Field(..., gt=-1, le=1000.0, description="Total move as a fraction (-0.05: down 5%), "
                                                                "compounded (at most ×1001, as a price_jump).")
    steps: int = Field(10, ge=1, le=1000, description="How many equal jumps.")

    def expand(self) -> list[PriceJump]:
        per = (1.0 + self.fraction) ** (1.0 / self.steps) - 1.0
        dt = self.duration_s / max(1, self.steps - 1)
        return [PriceJump(at_s=self.at_s + i * dt, fraction=per) for i in range(self.steps)]


class QuotaPinned(_Event):
    """The address headroom held at ``remaining_requests`` for a while (something else keeps spending what
    volume refills): a quota_set every ``every_s``. A shorthand, as ``Slide``."""

    kind: Literal["quota_pinned"] = Field("quota_pinned", description="Event type (expanded into quota_set).")
    duration_s: float = Field(..., ge=1e-6, le=3600, description="How long, s.")
    remaining_requests: int = Field(0, ge=0, le=10**12, description="Headroom it is held at.")
    # expanded into duration_s / every_s + 1 events when the run is built: 1e-300 was taken, and the run then
    # never began (up to 10^303 events to make). 10 ms is the agent's fastest cycle (session.cycle_s); at it the longest
    # pin is 360,001 events, a second or two to make.
    every_s: float = Field(0.5, ge=0.01, le=3600, description="Period of the quota_set events, s (0.01 to 3600).")

    def expand(self) -> list[QuotaSet]:
        n = int(self.duration_s / self.every_s) + 1
        return [QuotaSet(at_s=self.at_s + i * self.every_s, remaining_requests=self.remaining_requests)
                for i in range(n)]


ChaosFileEvent = Annotated[Union[LatencySpike, Http429Burst, RejectionBurst, Disconnect, QuotaSet, PriceJump, Regime,
                                 MarketParam, Slide, QuotaPinned], Field(discriminator="kind")]
"""An event as a chaos file may write it: one the twin takes, or a shorthand that ``expand_shorthands`` spreads."""


class ChaosFile(FileModel):
    """A chaos file as written (``twin serve --scenario``): its events, shorthands included."""

    events: list[ChaosFileEvent] = Field(default_factory=list, description="The faults, slides and pins as written.")


def expand_shorthands(events) -> list:
    """The events the twin takes: each slide and quota_pinned expanded in place, the others as they are."""
    return [e for ev in events for e in (ev.expand() if isinstance(ev, (Slide, QuotaPinned)) else [ev])]


def market_param_misfit(events, params: SyntheticMarketParams) -> tuple[int, "MarketParam", str] | None:
    """The first market_param event of ``events`` the market ``params`` cannot take, with its index and why (None:
    it takes them all), as the market checks its shocks when built: an event in its field's range on the default
    market can still break a constraint between fields on another (a volatility of 0.0199 with jumps of 0.1), and
    the run then stopped with a traceback after the file's check had said ok. Each event meets the market the
    events before it (by at_s, as the market applies them) made: two each in bounds can together break it, and
    the why then names those before it."""
    moves = sorted((ev.at_s, i) for i, ev in enumerate(events) if ev.kind == "market_param")
    shocks = [events[i] for _, i in moves]
    misfit = param_shocks_misfit(params, shocks, [ev.at_s for ev in shocks])
    if misfit is None:
        return None
    k, problem = misfit
    before = ", ".join(f"{ev.name} {ev.value:g} at_s {ev.at_s:g}" for ev in shocks[:k])
    return moves[k][1], shocks[k], (f"after the market_param events before it ({before}), {problem}" if before
                                    else problem)


class ChaosSchedule(FileModel):
    """Scripted faults, kept sorted by ``at_s`` (stable: equal times keep their given order)."""

    events: list[ChaosEvent] = Field(default_factory=list, description="The faults; sorted by at_s on validation.")

    @field_validator("events")
    @classmethod
    def _sorted(cls, v: list) -> list:
        return sorted(v, key=lambda e: e.at_s)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> "ChaosSchedule":
        return cls.model_validate_json(text)
