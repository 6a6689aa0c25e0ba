"""Quoting math: GLFT spreads and skew, online estimators, alpha signals, ladders. Pure and cheap.

No clock and no I/O: every update takes the event's ``ts``. Configs are pydantic; the per-event
objects are plain slotted classes.
"""
from agent.quoting.estimators import ArrivalEstimator, EstimatorConfig, VolatilityEstimator
from agent.quoting.glft import GlftConfig, GlftQuote, glft_coefficients, glft_quote, glft_quote_with
from agent.quoting.ladder import (
    Ladder, LadderConfig, Quote, build_ladder, flat, geometric, round_px_to_venue, venue_price_decimals,
)
from agent.quoting.signals import (
    SIGNAL_NAMES, BookImbalanceSignal, MomentumSignal, SignalBlend, SignalConfig, SignalContribution,
    TradeFlowSignal,
)

__all__ = [
    "ArrivalEstimator", "BookImbalanceSignal", "EstimatorConfig", "GlftConfig", "GlftQuote", "Ladder",
    "LadderConfig", "MomentumSignal", "Quote", "SIGNAL_NAMES", "SignalBlend", "SignalConfig",
    "SignalContribution", "TradeFlowSignal", "VolatilityEstimator", "build_ladder", "flat", "geometric",
    "glft_coefficients", "glft_quote", "glft_quote_with", "round_px_to_venue", "venue_price_decimals",
]
