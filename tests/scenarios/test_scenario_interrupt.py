"""A signal that cuts a scenario run anywhere in a quote cycle, or in the agent's stop, leaves a decision log so far
that holds every cycle the agent counted and every command the twin was sent."""
from __future__ import annotations

import signal
from collections import Counter

import pytest
from hypothesis import example, given, settings, strategies as st

import scenarios.runner
from agent.audit.records import describe_command, read_log
from agent.core import AgentCore
from agent.drivers import SimDriver
from scenarios.runner import run_scenario
from scenarios.schema import load_scenario

pytestmark = pytest.mark.usefixtures("ctrl_c_raises")  # (Ctrl-C raised here is caught as a KeyboardInterrupt)

# trading from the first cycle (FULL): in its 30 s, ~60 quote cycles and over 40 sendings, then the stop's pull
SCENARIO = """\
name: cut
incident: test
description: a short run that trades from its start
duration_s: 30
agent: {graduation: {start_level: FULL}}
invariants:
  - {name: worst_case_position_within_limit}
"""
POINTS = {"in a quote cycle's decision": 50, "after a command sent": 40, "after the stop's pull is sent": 1}


@settings(max_examples=20, deadline=None)
@given(point=st.sampled_from(sorted(POINTS)), frac=st.floats(0.0, 1.0))
@example(point="after a command sent", frac=0.5)
@example(point="after the stop's pull is sent", frac=0.0)
def test_a_signal_in_a_scenario_run_leaves_every_cycle_and_command_in_the_log(tmp_path_factory, signal_at_call, point,
                                                                               frac):
    folder = tmp_path_factory.mktemp("scenario")
    (folder / "cut.yaml").write_text(SCENARIO)
    scenario = load_scenario(folder / "cut.yaml")
    cut = signal_at_call(signal.SIGINT, 1 + round(frac * (POINTS[point] - 1)))
    sent: list[str] = []
    cores: list[AgentCore] = []
    stopping = [False]

    class Core(AgentCore):
        def __init__(self, *a, **k) -> None:
            super().__init__(*a, **k)
            cores.append(self)

        def _quote(self, *a, **k):
            if point == "in a quote cycle's decision":
                cut.at()
            return super()._quote(*a, **k)

    with pytest.MonkeyPatch.context() as mp:
        send = scenarios.runner._RecordingGateway.send

        def watched_send(self, cmd) -> None:
            sent.append(describe_command(cmd))
            send(self, cmd)
            if point == "after a command sent" or (point == "after the stop's pull is sent" and stopping[0]):
                cut.at()
        mp.setattr(scenarios.runner._RecordingGateway, "send", watched_send)
        stop = SimDriver.stop

        def watched_stop(self, flatten: bool = False) -> None:
            stopping[0] = True
            stop(self, flatten)
        mp.setattr(SimDriver, "stop", watched_stop)
        out = folder / "run"
        with pytest.raises(KeyboardInterrupt):  # (a cut scenario has no result)
            run_scenario(scenario, 0, agent_cls=Core, out=out)
    assert cut.calls >= cut.n
    records, bad = read_log(out / "decisions.jsonl")
    assert bad == 0 and sum(r["type"] == "cycle" for r in records) == cores[0].cycle
    logged = [c for r in records if r["type"] in ("cycle", "commands") for c in r["commands"]]
    assert Counter(logged) == Counter(sent)  # what reached the twin, each in the log, and no more
