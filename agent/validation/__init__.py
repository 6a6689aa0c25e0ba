"""Validation: continuous scoring of every model (scorecards with a verdict and a blend weight) and an
online regime model. The gate never closes: a model is re-judged every period for as long as it runs."""
from agent.validation.regime import RegimeConfig, RegimeModel
from agent.validation.scorecard import (
    ModelScorecard,
    ScorecardConfig,
    ScorecardMetrics,
    ScorecardSet,
    Verdict,
    brier,
    model_confidence,
    mutual_information_bits,
)

__all__ = [
    "ModelScorecard", "RegimeConfig", "RegimeModel", "ScorecardConfig", "ScorecardMetrics", "ScorecardSet",
    "Verdict", "brier", "model_confidence", "mutual_information_bits",
]
