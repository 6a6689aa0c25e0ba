"""The judge's bound on a fill after a pull lost in transport (``scenarios.invariants._lost_pull_s``), held to the
shipped core on the twin: with requests lost, 429 storms, and the IP weight squeezed so that the core's gate on it
holds its snapshot requests, a fill of an order made at any moment before the core resolved its lost pull (pulled it
again, or heard a snapshot asked after it) is excused. The bound as first written (47.5 s from the lost pull, no
minute for the IP weight, no restart at the core's later requests) blamed the core here."""
from __future__ import annotations

import math

import yaml

from agent.core import AgentCore
from agent.execution.weights import SNAPSHOT_SENT_WEIGHT
from agent.gateway.events import CancelOrder, ModifyOrder
from scenarios.invariants import _fills_not_excused, _pull_lost
from scenarios.runlog import RunLog, VenueFill
from scenarios.runner import run_scenario
from scenarios.schema import Scenario

# A fifth of the venue's REST requests lost in transport (a snapshot, three of them, lost half the time), two storms
# of 429s, and 770 of the minute's 1,200 IP weight spent by other programs on the IP (budget.background_weight: the
# most the config allows beside the quota polls), so the snapshots' share (1,080) leaves the core 268 of its own.
_STORM = """\
name: lost_pull_in_a_storm
incident: test
description: pulls lost in transport while the IP weight is spent
twin:
  connection: {hazard_per_hour: 0}
  rejections: {rest_failure_prob: 0.25}
start: {models: warm, warmup_s: 30}
agent:
  session: {cycle_s: 0.5}
  risk: {max_position: 0.006}
  budget: {background_weight_per_minute: 770}
  graduation: {start_level: FULL}
chaos:
- {kind: http_429_burst, at_s: 60, duration_s: 20}
- {kind: http_429_burst, at_s: 150, duration_s: 20}
duration_s: 300
invariants:
  - {name: decision_log_complete}
"""
_OLD_BOUND_S = 47.5  # ack_timeout_s + cycle_s + a snapshot's retry + audit_interval_s + race_s, as first written


class _GateWatched(AgentCore):
    """The shipped core, watched: when it asked for a snapshot and the IP weight's gate held the request (its
    decisions are the core's own: the watch only reads the budget, as the core is about to)."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.gate_held: list[float] = []

    def _request_snapshot(self, cmds: list, ts: float, force: bool = False) -> None:
        if not force and not self.budget.ip_allows_snapshot(ts, SNAPSHOT_SENT_WEIGHT):
            self.gate_held.append(ts)
        super()._request_snapshot(cmds, ts, force)


def _lost_pulls_resolved(log: RunLog) -> list[tuple[float, float, str]]:
    """(when it was sent, when the core resolved it, the order) of each pull the log shows lost in transport: resolved
    when the core pulled the order again or heard a snapshot it asked for after the pull (the run's end if neither)."""
    pulls: dict[str, list[float]] = {}
    for c in log.commands:
        if isinstance(c.cmd, (CancelOrder, ModifyOrder)):
            pulls.setdefault(c.cmd.cloid, []).append(c.t)
    heard = [(t, ev.requested_ts - log.t0) for t, ev in log.events if type(ev).__name__ == "AccountSnapshot"]
    out = []
    for name, ts in pulls.items():
        for i, t in enumerate(ts):
            if _pull_lost(log, name, t):
                again = ts[i + 1] if i + 1 < len(ts) else math.inf
                told = min((h for h, asked in heard if asked >= t and h >= t), default=math.inf)
                out.append((t, min(again, told, log.duration_s), name))
    return out


def test_a_fill_before_the_shipped_core_resolved_a_pull_lost_while_its_ip_weight_was_spent_is_excused():
    """On four seeds of the storm, every pull lost in transport has its fills excused up to when the core resolved
    it; and on one at least (the storm as meant) a pull was lost, the gate held the core's snapshot requests before
    it resolved it, and it resolved past the old bound: a fill then was blamed on a correct core. (Seed 4 alone was
    the test until bd7b428, which leaves a drifted exit resting under the IP weight's hold, where it was cancelled:
    seed 4's path since has no such pull, and seed 5 has three. Which seed shows the storm follows the core's path.)"""
    scenario = Scenario.model_validate(yaml.safe_load(_STORM))
    slow = []
    for seed in (4, 5, 3, 6):
        cores: list[_GateWatched] = []

        class Core(_GateWatched):
            def __init__(self, *a, **kw) -> None:
                super().__init__(*a, **kw)
                cores.append(self)

        result = run_scenario(scenario, seed, agent_cls=Core)
        assert result.error is None
        log = result.log
        held = [t - log.t0 for t in cores[0].gate_held]
        lost = _lost_pulls_resolved(log)
        slow += [(seed, t, r) for t, r, _ in lost if r - t > _OLD_BOUND_S and any(t < h < r for h in held)]
        for t, resolved, name in lost:
            # a fill of the order in the ms the core resolved it (a fill just before; in that ms it had not yet
            # acted): judged as one in reduce-only mode from the lost pull on would be
            fill = VenueFill(math.floor(resolved * 1000.0) / 1000.0, name, 1, True, 0.001, 0.0)
            assert _fills_not_excused(log, 0, t - 1e-6, [fill], 2.0) is None, (seed, t, resolved, name)
    assert slow  # the storm as meant, on one seed at least
