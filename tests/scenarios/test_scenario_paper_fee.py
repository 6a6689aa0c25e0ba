"""A scenario's agent is a twin session's: Shadow's paper fills pay the twin's maker fee in the promotion evidence
(``graduation.paper_maker_fee_bps`` left null), as ``python -m agent`` builds its core (``agent.session``)."""
from __future__ import annotations

import pytest
import yaml

from agent.core import AgentCore
from scenarios.runner import run_scenario
from scenarios.schema import Scenario

_SHADOW = """\
name: paper_fee
incident: test
description: a short Shadow session
agent:
  graduation: {{ceiling: SHADOW{fee}}}
duration_s: 120
invariants:
  - {{name: decision_log_complete}}
"""


@pytest.mark.parametrize("fee, want", [("", 1.5), (", paper_maker_fee_bps: 0.4", 0.4)])
def test_a_scenarios_paper_fills_pay_the_twins_maker_fee_unless_the_config_names_one(fee, want):
    """run_scenario built its core from the scenario's config as it was: the paper fills paid quoting.maker_fee_bps
    (0) on a twin charging 1.5 bp, so a scenario judged Shadow's promotion on another standard than the agent's own
    sessions (python -m agent, the parameter search, calibration's replay)."""
    cores: list[AgentCore] = []

    class Core(AgentCore):
        def __init__(self, *a, **kw) -> None:
            super().__init__(*a, **kw)
            cores.append(self)

    result = run_scenario(Scenario.model_validate(yaml.safe_load(_SHADOW.format(fee=fee))), 0,
                          agent_cls=Core)
    assert result.error is None and result.ok
    paper = cores[0].graduation.paper
    assert paper.fills > 0
    assert paper.markouts.fee_rate * 1e4 == pytest.approx(want)
