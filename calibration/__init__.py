"""Calibration: fit the twin's parameters from what the agent saw trading (DESIGN §8), and report the fit.

``observe`` turns a run's events (a live run's ``events.jsonl``, or a twin session's events) into the
quantities the twin's fault models are parameters of; ``fit`` estimates those parameters with their
uncertainty; ``report`` writes the fitted ``TwinParams`` and an HTML report with figures. This first
part fits order round-trip latency, the feed's latency (censored by the socket's in-order delivery),
per-order rejection rates, transport
failures, websocket disconnects, the quota's rule and starting headroom, and the market's first-order statistics (volatility, trade rate and
sizes, depth, spread), regimes and informed flow, and measures the fills (by distance from the touch) and their markouts, which the
fitted twin's replay is compared with; the queue model's parameter, the market's jumps, latent alpha and
informed impact, and the quota's slow lane are not fitted yet (their parameters stay the base's).
"""
