"""Shadow: the paper fill model run beside the real orders, and the sim-to-real gap it measures."""
from agent.shadow.gap import ShadowConfig, SimToRealGap
from agent.shadow.p_fill import PFillScore

__all__ = ["PFillScore", "ShadowConfig", "SimToRealGap"]
