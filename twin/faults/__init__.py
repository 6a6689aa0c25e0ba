"""Fault models of the twin, each a small class with its parameters in one pydantic section of TwinParams:
latency per path, stochastic rejections, the request quota, websocket disconnects, and the chaos schedule."""
from twin.faults.chaos import (
    ChaosEvent, ChaosSchedule, Disconnect, Http429Burst, LatencySpike, MarketParam, PriceJump, QuotaSet, Regime,
    RejectionBurst, chaos_event_adapter,
)
from twin.faults.connection import ConnectionModel, ConnectionParams
from twin.faults.latency import LatencyModel, LatencyParams, PathLatency, PathLatencyParams
from twin.faults.quota import AddressQuota, IpWeightLimiter, QuotaParams, exchange_weight, info_weight
from twin.faults.rejections import (
    ACTION_REASONS, ORDER_REASONS, VENUE_TEXT, RejectionModel, RejectionParams, RejectReason, classify_venue_text,
    order_error_text,
)

__all__ = [
    "ACTION_REASONS", "AddressQuota", "ChaosEvent", "ChaosSchedule", "ConnectionModel", "ConnectionParams",
    "Disconnect", "Http429Burst", "IpWeightLimiter", "LatencyModel", "LatencyParams", "LatencySpike", "MarketParam",
    "ORDER_REASONS", "PathLatency", "PathLatencyParams", "PriceJump", "QuotaParams", "QuotaSet", "Regime",
    "RejectReason", "RejectionBurst", "RejectionModel", "RejectionParams", "VENUE_TEXT", "chaos_event_adapter",
    "classify_venue_text", "exchange_weight", "info_weight", "order_error_text",
]
