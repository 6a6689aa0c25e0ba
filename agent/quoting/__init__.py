"""Quoting math: GLFT spreads and skew, online estimators, alpha signals, ladders. Pure and cheap."""
