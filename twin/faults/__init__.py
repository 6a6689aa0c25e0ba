"""Fault models of the twin, each a small class with its parameters in one pydantic section of TwinParams:
latency per path, stochastic rejections, the request quota, websocket disconnects, and the chaos schedule."""
from twin.faults.chaos import ChaosSchedule
from twin.faults.connection import ConnectionModel, ConnectionParams
from twin.faults.latency import LatencyModel, LatencyParams, PathLatency, PathLatencyParams
from twin.faults.quota import AddressQuota, IpWeightLimiter, QuotaParams, exchange_weight, info_weight
from twin.faults.rejections import RejectionModel, RejectionParams, RejectReason, classify_venue_text, order_error_text

__all__ = [
    "AddressQuota", "ChaosSchedule", "ConnectionModel", "ConnectionParams", "IpWeightLimiter", "LatencyModel",
    "LatencyParams", "PathLatency", "PathLatencyParams", "QuotaParams", "RejectReason", "RejectionModel",
    "RejectionParams", "classify_venue_text", "exchange_weight", "info_weight", "order_error_text",
]
