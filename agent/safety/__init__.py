"""Safety: the escalation ladder (Green/Yellow/Orange/Red/Kill), the position-at-risk budget, and the
overlay a level applies to the quotes. Pure and sans-IO: time comes in as ``ts``."""
from agent.safety.escalator import (
    ErrorBurstCounter,
    RuleHit,
    SafetyConfig,
    SafetyEscalator,
    SafetyInputs,
    SafetyLevel,
    SafetyTransition,
)
from agent.safety.overlay import (
    NORMAL, SafetyOverlay, apply_to_quotes, overlaid_quotes, overlay_for, reducing_side, to_venue_minimum,
)
from agent.safety.risk_budget import RiskBudget, RiskBudgetConfig, taper_increasing

__all__ = [
    "NORMAL", "ErrorBurstCounter", "RiskBudget", "RiskBudgetConfig", "RuleHit", "SafetyConfig", "SafetyEscalator",
    "SafetyInputs", "SafetyLevel", "SafetyOverlay", "SafetyTransition", "apply_to_quotes", "overlaid_quotes",
    "overlay_for", "reducing_side", "taper_increasing", "to_venue_minimum",
]
