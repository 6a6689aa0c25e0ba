"""A warm scenario's agent watched the market before its start and sent nothing then: at its start its budget has
charged nothing, no snapshot request is counted out, and its first request for the account's state goes at once."""
from __future__ import annotations

import math
from pathlib import Path

from agent.core import AgentCore
from agent.gateway.events import RequestAccountSnapshot
from scenarios.runner import run_scenario
from scenarios.schema import load_scenario

# 2 x ack_timeout_s (40 s) past the warm-up's 30 s: a request dropped at the warm-up's first book, were it counted
# out, is not overdue until 10 s into the session, and the first real one waited for that
WARM = """\
name: warm
incident: test
description: warm models, a long ack timeout
duration_s: 15
start: {models: warm, warmup_s: 30}
agent: {graduation: {start_level: FULL}, risk: {ack_timeout_s: 20}}
invariants:
  - {name: worst_case_position_within_limit}
"""


def test_a_warm_start_counts_nothing_sent_and_asks_for_the_account_at_once(tmp_path: Path):
    (tmp_path / "warm.yaml").write_text(WARM)
    scenario = load_scenario(tmp_path / "warm.yaml")
    at_start: list[tuple] = []

    started_at: list[float] = []

    class Core(AgentCore):
        def handle(self, event):
            if not at_start and event.ts >= scenario.preroll_s():  # the session's first event: as the warm-up left it
                at_start.append((self.budget.ip_used(event.ts), self.budget.used, self.snapshot_pending, self.mid,
                                 self.vol.n))
            was = self.started
            cmds = super().handle(event)
            if self.started and not was:
                started_at.append(event.ts - scenario.preroll_s())
            return cmds

    result = run_scenario(scenario, 1, agent_cls=Core)
    assert result.ok, result.report()
    ip, items, pending, mid, vol_samples = at_start[0]
    # the warm-up charged nothing, and left no request counted out: nothing was sent
    assert (ip, items, pending) == (0, 0, False)
    # ... and it did watch: the book is known and the volatility estimate has samples at the start
    assert math.isfinite(mid) and vol_samples > 0
    # the session started at its first word from the venue (not in the warm-up), and the first request for the
    # account's state went with it (t from the agent's start; with the warm-up's counted out, at 10.5 s)
    snaps = [c.t for c in result.log.commands if isinstance(c.cmd, RequestAccountSnapshot)]
    assert len(started_at) == 1 and 0.0 <= started_at[0] < scenario.agent.session.cycle_s
    assert snaps and snaps[0] == started_at[0]
