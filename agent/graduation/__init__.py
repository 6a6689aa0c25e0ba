"""Graduation: TradingConfidence and exposure levels. Confidence scales size continuously; promotion
is slow and evidence-based, demotion immediate; every level change is recorded."""
from agent.graduation.confidence import ConfidenceConfig, TradingConfidence, execution_confidence_from
from agent.graduation.exposure import (
    CONFIDENCE_BANDS,
    SIZE_BANDS,
    CriterionCheck,
    DemotionTrigger,
    ExposureController,
    ExposureLevel,
    GraduationConfig,
    LevelHistory,
    LevelTransition,
    PromotionCriteria,
    PromotionEvidence,
    allows_tighter_spreads,
    demotion_target,
    level_for_confidence,
    places_orders,
    position_limit_scale,
    size_multiplier,
)

__all__ = [
    "CONFIDENCE_BANDS", "SIZE_BANDS", "ConfidenceConfig", "CriterionCheck", "DemotionTrigger",
    "ExposureController", "ExposureLevel", "GraduationConfig", "LevelHistory", "LevelTransition",
    "PromotionCriteria", "PromotionEvidence", "TradingConfidence", "allows_tighter_spreads",
    "demotion_target", "execution_confidence_from", "level_for_confidence", "places_orders",
    "position_limit_scale", "size_multiplier",
]
