"""The chaos schedule: scripted faults at given simulated times, as data (scenarios, property tests).

Each entry is one fault with ``at_s`` (simulated seconds) and a ``kind``; the exchange hands
interval faults to the fault models and instant ones to SimPy or to the market process.
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator


class _Fault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at_s: float = Field(..., ge=0, description="Simulated time the fault starts, s.")


class LatencySpike(_Fault):
    kind: Literal["latency_spike"] = "latency_spike"
    duration_s: float = Field(..., gt=0, description="How long the slow period lasts, s.")
    path: Literal["order_entry", "response", "feed", "all"] = Field("all", description="Which path slows down.")
    multiplier: float = Field(1.0, ge=0, description="Latency is multiplied by this ...")
    extra_ms: float = Field(0.0, ge=0, description="... and this many ms are added.")


class Http429Burst(_Fault):
    kind: Literal["http_429_burst"] = "http_429_burst"
    duration_s: float = Field(..., gt=0, description="Every REST request in the window gets HTTP 429.")


class Disconnect(_Fault):
    kind: Literal["disconnect"] = "disconnect"
    duration_s: float = Field(..., gt=0, description="Every websocket is down for this long, s.")


class RejectionBurst(_Fault):
    kind: Literal["rejection_burst"] = "rejection_burst"
    duration_s: float = Field(..., gt=0, description="Length of the burst, s.")
    rate: float = Field(..., ge=0, le=1, description="Chance each valid order is rejected in the burst.")
    reason: str = Field("PerpMargin", description="Reason code name (twin.faults.rejections.RejectReason).")

    @field_validator("reason")
    @classmethod
    def _known(cls, v: str) -> str:
        from twin.faults.rejections import RejectReason

        if v not in RejectReason.__members__:
            raise ValueError(f"unknown reason {v!r}; known: {sorted(RejectReason.__members__)}")
        return v


class QuotaSet(_Fault):
    kind: Literal["quota_set"] = "quota_set"
    remaining_requests: int = Field(..., ge=0, description="Address budget headroom left at at_s.")


class PriceJump(_Fault):
    kind: Literal["price_jump"] = "price_jump"
    fraction: float = Field(..., gt=-1, description="Mid moves by this fraction at at_s (e.g. -0.03).")


class RegimeForced(_Fault):
    kind: Literal["regime"] = "regime"
    regime: Literal[0, 1] = Field(..., description="0 calm, 1 stressed.")
    duration_s: float = Field(..., gt=0, description="How long the regime is forced, s.")


class MarketParamSet(_Fault):
    kind: Literal["market_param"] = "market_param"
    name: str = Field(..., description="A synthetic market parameter (e.g. informed_share, book_coupling).")
    value: float = Field(..., description="Its new value from at_s on.")


ChaosEvent = Annotated[Union[LatencySpike, Http429Burst, Disconnect, RejectionBurst, QuotaSet, PriceJump,
                             RegimeForced, MarketParamSet], Field(discriminator="kind")]


class ChaosSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[ChaosEvent] = Field(default_factory=list, description="Faults, sorted by at_s on load.")

    @field_validator("events")
    @classmethod
    def _sorted(cls, v: list) -> list:
        return sorted(v, key=lambda e: e.at_s)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> "ChaosSchedule":
        return cls.model_validate_json(text)


chaos_event_adapter: TypeAdapter = TypeAdapter(ChaosEvent)
